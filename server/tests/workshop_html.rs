//! The instructor's pages and the join page, asserted with CSS selectors (`scraper`), over
//! the fake lab runtime (no Docker): the new-workshop form picks labs from the catalog with
//! checkboxes and comes back with each problem beside its field and the values kept; a wrong
//! instructor token shows the login form again; the dashboard has one joining toggle, the
//! join code and link with a Copy button, the pinned message with Unpin, and hides its actions
//! once the workshop ended; the join page names the workshop of the code in its link; no page
//! or script of the workshops draws an emoji.

use kplab_testkit::fake::FakeRuntime;
use kplab_testkit::html::{all, none, one, text};
use kplab_testkit::web::{request, Client, Resp, Server};
use kplab_testkit::workshop::{Instructor, TOKEN};
use scraper::{ElementRef, Html};

fn attr<'a>(e: ElementRef<'a>, name: &str) -> Option<&'a str> {
    e.value().attr(name)
}

async fn server(prefix: &str) -> Server {
    Server::start_fake(prefix, 4, Some(TOKEN), FakeRuntime::new()).await
}

/// An instructor request with the Bearer token (a form body when `form` is given).
async fn as_instructor(s: &Server, method: &str, path: &str, form: Option<&str>) -> Resp {
    let bearer = format!("Bearer {TOKEN}");
    request(
        s.addr,
        method,
        path,
        &[("Authorization", &bearer)],
        form.map(|f| ("application/x-www-form-urlencoded", f.as_bytes())),
    )
    .await
}

/// Every `<input>`, `<select>` and `<textarea>` has a `<label for>` naming it, or is
/// inside a `<label>`.
fn every_field_is_labelled(doc: &Html) {
    for f in all(doc, "input:not([type=hidden]), select, textarea") {
        let id = attr(f, "id").unwrap_or("");
        let labelled = (!id.is_empty() && !all(doc, &format!("label[for='{id}']")).is_empty())
            || f.ancestors()
                .any(|a| a.value().as_element().is_some_and(|e| e.name() == "label"));
        assert!(labelled, "no label for {}", f.html());
    }
}

#[tokio::test]
async fn the_new_workshop_form_picks_labs_from_the_catalog_and_shows_errors_inline() {
    let s = server("wi-h-").await;
    let r = as_instructor(&s, "GET", "/instructor", None).await;
    assert_eq!(r.status, 200);
    let doc = Html::parse_document(&r.body);
    every_field_is_labelled(&doc);
    // A checkbox per catalog lab, its label naming title and id; the first is checked.
    let boxes = all(&doc, "#create-form input[type=checkbox][name=labs]");
    assert_eq!(boxes.len(), s.state.catalog.labs.len());
    for (b, lab) in boxes.iter().zip(&s.state.catalog.labs) {
        assert_eq!(attr(*b, "value"), Some(lab.id.as_str()));
        let label = one(&doc, &format!("label[for='lab-{}']", lab.id));
        assert!(text(label).contains(&lab.title), "{}", label.html());
        assert_eq!(
            text(one(&doc, &format!("label[for='lab-{}'] code", lab.id))),
            lab.id
        );
    }
    assert_eq!(
        all(&doc, "#create-form input[name=labs][checked]").len(),
        1,
        "the first lab is checked on a fresh form"
    );
    none(&doc, "#form-errors");
    none(&doc, "input[name=labs][type=text]");

    // Everything wrong at once: each problem beside its field, values kept, 422.
    let lab2 = &s.state.catalog.labs[1].id;
    let form = format!(
        "name=&labs={lab2}&labs=no-such-lab&capacity=lots&warm_pool=99&join_code=ab&minutes=0"
    );
    let r = as_instructor(&s, "POST", "/instructor/workshops", Some(&form)).await;
    assert_eq!(r.status, 422, "{r:?}");
    let doc = Html::parse_document(&r.body);
    every_field_is_labelled(&doc);
    one(&doc, "#form-errors[role=alert]");
    for (field, input, needle) in [
        ("name", "#ws-name", "name must be"),
        ("capacity", "#ws-capacity", "whole number"),
        ("join-code", "#ws-join-code", "4-16 letters"),
        ("minutes", "#ws-minutes", "1-10080"),
    ] {
        let e = one(&doc, &format!("#{field}-error"));
        assert!(text(e).contains(needle), "{field}: {}", e.html());
        let i = one(&doc, input);
        assert_eq!(attr(i, "aria-invalid"), Some("true"), "{}", i.html());
        assert_eq!(
            attr(i, "aria-describedby"),
            Some(format!("{field}-error").as_str())
        );
    }
    assert!(text(one(&doc, "#labs-error")).contains("no-such-lab"));
    // What was typed comes back.
    assert_eq!(attr(one(&doc, "#ws-capacity"), "value"), Some("lots"));
    assert_eq!(attr(one(&doc, "#ws-join-code"), "value"), Some("ab"));
    assert_eq!(attr(one(&doc, "#ws-minutes"), "value"), Some("0"));
    let checked: Vec<&str> = all(&doc, "input[name=labs][checked]")
        .into_iter()
        .filter_map(|b| attr(b, "value"))
        .collect();
    assert_eq!(checked, [lab2.as_str()], "the labs picked stay picked");
    // No lab picked is an error of its own; nothing was created.
    let r = as_instructor(
        &s,
        "POST",
        "/instructor/workshops",
        Some("name=Friday&capacity=10&warm_pool=0&join_code=&minutes=60"),
    )
    .await;
    assert_eq!(r.status, 422, "{r:?}");
    let doc = Html::parse_document(&r.body);
    assert!(text(one(&doc, "#labs-error")).contains("1-20"));
    assert_eq!(attr(one(&doc, "#ws-name"), "value"), Some("Friday"));
    none(&doc, "#name-error");
    let list = Instructor::new(s.addr).get("/api/workshops").await.json();
    assert_eq!(
        list["workshops"].as_array().map(Vec::len),
        Some(0),
        "{list}"
    );

    // A join code already taken is said beside the join code.
    Instructor::new(s.addr)
        .post(
            "/api/workshops",
            r#"{"name":"A","labs":["00-hello"],"capacity":5,"join_code":"TAKEN1"}"#,
        )
        .await;
    let r = as_instructor(
        &s,
        "POST",
        "/instructor/workshops",
        Some("name=B&labs=00-hello&capacity=5&warm_pool=0&join_code=taken1&minutes=60"),
    )
    .await;
    assert_eq!(r.status, 422, "{r:?}");
    let doc = Html::parse_document(&r.body);
    assert!(text(one(&doc, "#join-code-error")).contains("taken"));

    // Two labs picked: created, the first one checked first.
    let form = format!(
        "name=Two+labs&labs=00-hello&labs={lab2}&capacity=5&warm_pool=0&join_code=&minutes=60"
    );
    let r = as_instructor(&s, "POST", "/instructor/workshops", Some(&form)).await;
    assert_eq!(r.status, 303, "{r:?}");
    let id = r.header("location").unwrap().rsplit('/').next().unwrap();
    let w = Instructor::new(s.addr)
        .get(&format!("/api/workshops/{id}"))
        .await
        .json();
    assert_eq!(w["labs"], serde_json::json!(["00-hello", lab2]));
    // The list shows its joining state.
    let doc = Html::parse_document(&as_instructor(&s, "GET", "/instructor", None).await.body);
    assert_eq!(all(&doc, "table.workshops .ws-state.open").len(), 2);
}

#[tokio::test]
async fn a_wrong_instructor_token_shows_the_login_form_again() {
    let s = server("wi-l-").await;
    let r = request(
        s.addr,
        "POST",
        "/instructor/login",
        &[],
        Some(("application/x-www-form-urlencoded", b"token=not-the-token")),
    )
    .await;
    assert_eq!(r.status, 403, "{r:?}");
    let doc = Html::parse_document(&r.body);
    let e = one(&doc, "#login-form #login-error[role=alert]");
    assert_eq!(text(e), "That token is not right. Check it and try again.");
    let input = one(&doc, "#login-form input#token[name=token][type=password]");
    assert_eq!(attr(input, "aria-invalid"), Some("true"));
    one(&doc, "label[for=token]");
    one(&doc, "button#login");
    // The right token logs in.
    let r = request(
        s.addr,
        "POST",
        "/instructor/login",
        &[],
        Some((
            "application/x-www-form-urlencoded",
            format!("token={TOKEN}").as_bytes(),
        )),
    )
    .await;
    assert_eq!(r.status, 303, "{r:?}");
    let cookie = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("kplab_instructor="))
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .expect("the instructor cookie");
    let r = request(s.addr, "GET", "/instructor", &[("Cookie", &cookie)], None).await;
    one(&Html::parse_document(&r.body), "#create-form");
}

#[tokio::test]
async fn the_dashboard_has_one_joining_toggle_the_join_code_and_the_pinned_message() {
    let s = server("wi-d-").await;
    let t = Instructor::new(s.addr);
    let (id, code) = t.create("Friday class", 10, 0).await;
    let page = format!("/instructor/workshops/{id}");
    let doc = Html::parse_document(&as_instructor(&s, "GET", &page, None).await.body);
    every_field_is_labelled(&doc);
    assert_eq!(text(one(&doc, "#join-code")), code);
    let link = one(&doc, "a#join-url");
    assert!(attr(link, "href").unwrap().ends_with(&format!("/j/{code}")));
    let copy = one(&doc, "button#copy-link");
    assert_eq!(attr(copy, "data-copy"), attr(link, "href"));
    assert_eq!(text(copy), "Copy link");
    // One toggle, saying what a click does.
    let toggle = one(&doc, "[data-ws-action=close], [data-ws-action=open]");
    assert_eq!(attr(toggle, "id"), Some("joining-toggle"));
    assert_eq!(text(toggle), "Close joining");
    assert_eq!(text(one(&doc, "#ws-state.open")), "open");
    one(&doc, "#pinned-now[hidden]");
    assert_eq!(
        text(one(&doc, "#pinned-none:not([hidden])")),
        "Nothing is pinned."
    );
    one(&doc, "label[for=broadcast]");
    one(&doc, ".table-wrap > table.rows");
    one(&doc, "#end.danger:not([hidden])");
    one(&doc, "#ended-note[hidden]");

    // Closed, with a message pinned.
    t.post(&format!("/api/workshops/{id}/close"), "").await;
    t.post(
        &format!("/api/workshops/{id}/broadcast"),
        r#"{"message":"Break until 11:00"}"#,
    )
    .await;
    let doc = Html::parse_document(&as_instructor(&s, "GET", &page, None).await.body);
    let toggle = one(&doc, "[data-ws-action=close], [data-ws-action=open]");
    assert_eq!(attr(toggle, "data-ws-action"), Some("open"));
    assert_eq!(text(toggle), "Reopen joining");
    assert_eq!(text(one(&doc, "#ws-state.closed")), "closed");
    assert_eq!(
        text(one(&doc, "#pinned-now:not([hidden]) q#pinned-text")),
        "Break until 11:00"
    );
    one(&doc, "#pinned-now button#unpin");
    one(&doc, "#pinned-none[hidden]");

    // Ended: no joining or end actions, a note instead; the exports stay.
    t.post(&format!("/api/workshops/{id}/end"), "").await;
    let doc = Html::parse_document(&as_instructor(&s, "GET", &page, None).await.body);
    one(&doc, "#joining-toggle[hidden]");
    one(&doc, "#end[hidden]");
    one(&doc, "#extend[hidden]");
    one(&doc, "#ended-note:not([hidden])");
    one(&doc, "#broadcast-form[hidden]");
    one(&doc, "#dashboard[data-state=ended]");
    assert_eq!(text(one(&doc, "#ws-state.ended")), "ended");
    assert_eq!(all(&doc, "a.button-link[href*='/export?format=']").len(), 2);
}

#[tokio::test]
async fn the_join_page_names_the_workshop_of_its_code() {
    let s = server("wi-j-").await;
    let (id, code) = Instructor::new(s.addr)
        .create("Networking 101", 10, 0)
        .await;
    let mut c = Client::new(s.addr);
    let doc = Html::parse_document(&c.get(&format!("/j/{}", code.to_lowercase())).await.body);
    every_field_is_labelled(&doc);
    assert_eq!(text(one(&doc, "h1#workshop-name")), "Networking 101");
    assert_eq!(
        attr(one(&doc, "#join-form input[name=code]"), "value"),
        Some(code.as_str())
    );
    assert_eq!(text(one(&doc, "button#join")), "Join Networking 101");
    none(&doc, "#join-ended");
    // No code, or one no workshop has: the plain form.
    for path in ["/j", "/j/NOPE42"] {
        let doc = Html::parse_document(&c.get(path).await.body);
        none(&doc, "#workshop-name");
        assert_eq!(text(one(&doc, "h1")), "Join a workshop");
        one(&doc, "#join-form");
    }
    // An ended workshop says so.
    Instructor::new(s.addr)
        .post(&format!("/api/workshops/{id}/end"), "")
        .await;
    let doc = Html::parse_document(&c.get(&format!("/j/{code}")).await.body);
    assert!(text(one(&doc, "#join-ended")).contains("ended"));
}

/// Emoji show as empty boxes without an emoji font: none in the workshop pages and scripts.
#[tokio::test]
async fn no_workshop_page_or_script_draws_an_emoji() {
    let s = server("wi-e-").await;
    let (id, code) = Instructor::new(s.addr).create("Emoji check", 10, 0).await;
    let mut bodies = vec![
        as_instructor(&s, "GET", "/instructor", None).await.body,
        as_instructor(&s, "GET", &format!("/instructor/workshops/{id}"), None)
            .await
            .body,
        Client::new(s.addr).get(&format!("/j/{code}")).await.body,
    ];
    for js in [
        "workshop-dashboard.js",
        "workshop-learner.js",
        "workshop-terminal.js",
        "workshop-wait.js",
        "workshop.css",
    ] {
        bodies.push(Client::new(s.addr).get(&format!("/static/{js}")).await.body);
    }
    for b in &bodies {
        let emoji: Vec<char> = b
            .chars()
            .filter(|c| matches!(*c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF))
            .collect();
        assert!(emoji.is_empty(), "{emoji:?} in {}", &b[..b.len().min(200)]);
    }
}
