//! Attacks on a real `kplab serve` from outside (issue 13), one test each; a test fails if its
//! attack works. The server runs in-process on port 0 with the real router, store (SQLite in
//! a temporary directory), cookie key and connection handling, over a fake container runtime
//! whose labs start at once and whose commands print a megabyte: no Docker is needed, so
//! these run in plain `cargo test -p kplab --test attack_server`.

use kplab_testkit::browser as browser_support;
use kplab_testkit::web as web_support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kplab::domain::config::guard::{GuardArgs, MetricsAccess};
use kplab::domain::config::{Config, ServeArgs};
use kplab::engine::runtime::Output;
use kplab_testkit::fake::FakeRuntime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use web_support::{json_body, repo, request, Resp, Server};

/// What every command in a fake lab prints: a megabyte, as a hostile lab would.
const LAB_OUTPUT: usize = 1 << 20;

/// The shared fake runtime (labs start at once), every command printing [`LAB_OUTPUT`] bytes.
fn fake_runtime() -> Arc<FakeRuntime> {
    let rt = FakeRuntime::new();
    rt.default_output(Output {
        code: 0,
        stdout: "A".repeat(LAB_OUTPUT),
        stderr: String::new(),
    });
    rt
}

/// Starts a server on `ip` (port 0) with the defences `guard` asks for.
async fn server_on(ip: IpAddr, guard: GuardArgs) -> Server {
    server_timed(ip, guard, 60).await
}

/// [`server_on`] with a request timeout of `request_timeout_secs`.
async fn server_timed(ip: IpAddr, guard: GuardArgs, request_timeout_secs: u64) -> Server {
    let data = tempfile::tempdir().unwrap();
    let args = ServeArgs {
        listen: SocketAddr::new(ip, 0),
        data_dir: data.path().to_path_buf(),
        labs: repo().join("labs"),
        static_dir: repo().join("static"),
        max_labs: 50,
        idle_secs: 600,
        sweep_secs: 3600,
        request_timeout_secs,
        lab_prefix: "atk-".into(),
        image: kplab::sandbox::plan::DEFAULT_IMAGE.into(),
    };
    let mut config = Config::from_args(args, None).unwrap();
    kplab::domain::config::WorkshopArgs {
        instructor_token: Some(TOKEN.into()),
    }
    .apply(&mut config)
    .unwrap();
    guard.apply(&mut config).unwrap();
    Server::on(config, data, fake_runtime()).await
}

async fn server(guard: GuardArgs) -> Server {
    server_on(IpAddr::from([127, 0, 0, 1]), guard).await
}

const TOKEN: &str = "attack-instructor-token-0123";
const EVIL: &str = "http://evil.example";

/// The `kplab_learner=…` pair a response sets, if any.
fn set_cookie(r: &Resp) -> Option<String> {
    r.headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("kplab_learner="))
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
}

/// A learner who has viewed the catalog: their cookie.
async fn learner(addr: SocketAddr) -> String {
    let r = request(addr, "GET", "/", &[], None).await;
    assert_eq!(r.status, 200, "{r:?}");
    set_cookie(&r).expect("a page view sets the learner cookie")
}

/// The learner id inside a signed cookie pair (the value ends with the 32-hex id).
fn learner_id(cookie: &str) -> String {
    let v = cookie.split_once('=').unwrap().1;
    v[v.len() - 32..].to_string()
}

/// Starts 00-hello for `cookie` through the API and waits until it runs.
async fn running_lab(s: &Server, cookie: &str) -> String {
    let r = request(
        s.addr,
        "POST",
        "/api/labs/00-hello/sessions",
        &[("Cookie", cookie)],
        None,
    )
    .await;
    assert!(r.status == 200 || r.status == 202, "{r:?}");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    loop {
        let r = request(
            s.addr,
            "GET",
            &format!("/api/sessions/{id}"),
            &[("Cookie", cookie)],
            None,
        )
        .await;
        if r.json()["status"] == "running" {
            return id;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn limits(learner: usize, address: usize) -> GuardArgs {
    GuardArgs {
        start_limit_learner: learner,
        start_limit_address: address,
        ..GuardArgs::default()
    }
}

// ---------------------------------------------------------------- lab starts

/// A script without cookies starts nothing: neither through the API nor the page's form.
#[tokio::test]
async fn a_start_without_a_cookie_starts_nothing() {
    let s = server(GuardArgs::default()).await;
    for _ in 0..5 {
        let api = request(s.addr, "POST", "/api/labs/00-hello/sessions", &[], None).await;
        assert_eq!(api.status, 403, "{api:?}");
        assert!(
            api.json()["error"].as_str().unwrap().contains("cookie"),
            "{api:?}"
        );
        let form = request(
            s.addr,
            "POST",
            "/labs/00-hello/start",
            &[],
            Some(("application/x-www-form-urlencoded", b"")),
        )
        .await;
        assert_eq!(form.status, 403, "{form:?}");
        assert!(form.body.contains("reload"), "{}", form.body);
    }
    let live = s.state.store.live_sessions().await.unwrap();
    assert!(
        live.is_empty(),
        "cookieless requests started {} labs",
        live.len()
    );
}

/// One learner hammering Start gets 429 with `Retry-After` (and the page says when).
#[tokio::test]
async fn a_start_flood_from_one_learner_gets_429() {
    let s = server(limits(3, 100)).await;
    let cookie = learner(s.addr).await;
    for i in 0..3 {
        let r = request(
            s.addr,
            "POST",
            "/api/labs/00-hello/sessions",
            &[("Cookie", &cookie)],
            None,
        )
        .await;
        assert!(r.status == 200 || r.status == 202, "start {i}: {r:?}");
    }
    let api = request(
        s.addr,
        "POST",
        "/api/labs/00-hello/sessions",
        &[("Cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(api.status, 429, "{api:?}");
    let wait: u64 = api
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    let page = request(
        s.addr,
        "POST",
        "/labs/00-hello/start",
        &[("Cookie", &cookie)],
        Some(("application/x-www-form-urlencoded", b"")),
    )
    .await;
    assert_eq!(page.status, 429, "{page:?}");
    assert!(page.header("retry-after").is_some());
    assert!(page.body.contains("try again in"), "{}", page.body);
}

/// Many fresh learners from one address (a script that keeps its cookies) get 429 too.
#[tokio::test]
async fn a_start_flood_from_one_address_gets_429() {
    let s = server(limits(100, 4)).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let cookie = learner(s.addr).await;
        let r = request(
            s.addr,
            "POST",
            "/api/labs/00-hello/sessions",
            &[("Cookie", &cookie)],
            None,
        )
        .await;
        codes.push(r.status);
    }
    assert_eq!(&codes[4..], [429, 429], "{codes:?}");
    assert!(s.state.store.live_sessions().await.unwrap().len() <= 4);
}

/// Page views and cookieless form posts by bots leave no learner rows behind.
#[tokio::test]
async fn cookieless_page_views_leave_no_learner_rows() {
    let s = server(GuardArgs::default()).await;
    for (path, form) in [("/name", "name=bot"), ("/labs/00-hello/step", "step=2")] {
        let r = request(
            s.addr,
            "POST",
            path,
            &[],
            Some(("application/x-www-form-urlencoded", form.as_bytes())),
        )
        .await;
        assert_eq!(r.status, 403, "{path}: {r:?}");
        let id = learner_id(&set_cookie(&r).expect("a cookie for the reload"));
        assert!(
            s.state.store.learner(&id).await.unwrap().is_none(),
            "POST {path} stored learner {id}"
        );
    }
    for path in ["/", "/labs/00-hello", "/j", "/api/labs"] {
        let r = request(s.addr, "GET", path, &[], None).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        if let Some(c) = set_cookie(&r) {
            let id = learner_id(&c);
            assert!(
                s.state.store.learner(&id).await.unwrap().is_none(),
                "GET {path} stored learner {id}"
            );
        }
    }
}

// ---------------------------------------------------------------- cross-site requests

/// A foreign page's POST with the learner's cookie (fetch with credentials): refused.
#[tokio::test]
async fn a_cross_site_post_with_a_foreign_origin_is_refused() {
    let s = server(GuardArgs::default()).await;
    let cookie = learner(s.addr).await;
    let evil = request(
        s.addr,
        "POST",
        "/name",
        &[("Cookie", &cookie), ("Origin", EVIL)],
        Some(("application/x-www-form-urlencoded", b"name=pwned")),
    )
    .await;
    assert_eq!(evil.status, 403, "{evil:?}");
    assert!(evil.body.contains("cross-site"), "{}", evil.body);
    let api = request(
        s.addr,
        "POST",
        "/api/labs/00-hello/sessions",
        &[("Cookie", &cookie), ("Origin", EVIL)],
        None,
    )
    .await;
    assert_eq!(api.status, 403, "{api:?}");
    assert!(s.state.store.live_sessions().await.unwrap().is_empty());
    let name = s.state.store.learner(&learner_id(&cookie)).await.unwrap();
    assert!(
        name.is_none_or(|l| l.name != "pwned"),
        "the name was changed"
    );
    // The page's own form (same origin) still works.
    let origin = format!("http://{}", s.addr);
    let own = request(
        s.addr,
        "POST",
        "/name",
        &[("Cookie", &cookie), ("Origin", &origin)],
        Some(("application/x-www-form-urlencoded", b"name=Alice")),
    )
    .await;
    assert_eq!(own.status, 303, "{own:?}");
}

/// A cross-site form POST whose browser sends no Origin but `Sec-Fetch-Site: cross-site`.
#[tokio::test]
async fn a_cross_site_form_post_is_refused() {
    let s = server(GuardArgs::default()).await;
    let cookie = learner(s.addr).await;
    for site in ["cross-site", "same-site"] {
        let r = request(
            s.addr,
            "POST",
            "/labs/00-hello/start",
            &[("Cookie", &cookie), ("Sec-Fetch-Site", site)],
            Some(("application/x-www-form-urlencoded", b"")),
        )
        .await;
        assert_eq!(r.status, 403, "{site}: {r:?}");
    }
    assert!(s.state.store.live_sessions().await.unwrap().is_empty());
}

/// A cross-site POST from a browser without the cookie (or with `SameSite` holding it back)
/// must not get a fresh identity set over the learner's own cookie.
#[tokio::test]
async fn a_cross_site_post_does_not_replace_the_cookie() {
    let s = server(GuardArgs::default()).await;
    for path in ["/name", "/labs/00-hello/start", "/api/workshops/join", "/j"] {
        let r = request(
            s.addr,
            "POST",
            path,
            &[("Origin", EVIL)],
            Some(("application/x-www-form-urlencoded", b"name=x&code=ABCDEF")),
        )
        .await;
        assert_eq!(r.status, 403, "{path}: {r:?}");
        assert_eq!(set_cookie(&r), None, "{path} set a cookie: {r:?}");
    }
}

async fn ws_status(addr: SocketAddr, path: &str, cookie: &str, origin: &str) -> u16 {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    req.headers_mut().insert("Origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((mut ws, resp)) => {
            let _ = ws.close(None).await;
            resp.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("websocket: {e}"),
    }
}

/// A foreign page opening the learner's terminal WebSocket (the cookie rides along).
#[tokio::test]
async fn a_terminal_websocket_from_a_foreign_origin_is_refused() {
    let s = server(GuardArgs::default()).await;
    let cookie = learner(s.addr).await;
    let id = running_lab(&s, &cookie).await;
    let path = format!("/api/sessions/{id}/terminals/node-1");
    assert_eq!(ws_status(s.addr, &path, &cookie, EVIL).await, 403);
    let own = format!("http://{}", s.addr);
    assert_eq!(ws_status(s.addr, &path, &cookie, &own).await, 101);
}

/// A foreign page reading a workshop member's event stream (the cookie rides along), or the
/// instructor's.
#[tokio::test]
async fn event_streams_from_a_foreign_origin_are_refused() {
    let s = server(GuardArgs::default()).await;
    let bearer = format!("Bearer {TOKEN}");
    let w = request(
        s.addr,
        "POST",
        "/api/workshops",
        &[("Authorization", &bearer)],
        json_body(r#"{"name":"W","labs":["00-hello"],"capacity":5,"warm_pool":0}"#),
    )
    .await;
    assert_eq!(w.status, 201, "{w:?}");
    let (wid, code) = (
        w.json()["id"].as_str().unwrap().to_string(),
        w.json()["join_code"].as_str().unwrap().to_string(),
    );
    let cookie = learner(s.addr).await;
    let j = request(
        s.addr,
        "POST",
        "/api/workshops/join",
        &[("Cookie", &cookie)],
        json_body(&format!(r#"{{"code":"{code}","name":"Alice"}}"#)),
    )
    .await;
    assert_eq!(j.status, 200, "{j:?}");
    for path in [
        "/api/workshops/me/events".to_string(),
        format!("/api/workshops/{wid}/events"),
    ] {
        let r = tokio::time::timeout(
            Duration::from_secs(3),
            request(
                s.addr,
                "GET",
                &path,
                &[
                    ("Cookie", &cookie),
                    ("Authorization", &bearer),
                    ("Origin", EVIL),
                    ("Accept", "text/event-stream"),
                ],
                None,
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: the stream was opened for a foreign origin"));
        assert_eq!(r.status, 403, "{path}: {r:?}");
    }
}

// ---------------------------------------------------------------- identity

/// A cookie whose signature does not match (forged id, tampered value) is a new learner:
/// the victim's session stays closed to it.
#[tokio::test]
async fn a_forged_or_tampered_cookie_is_not_the_learner() {
    let s = server(GuardArgs::default()).await;
    let alice = learner(s.addr).await;
    let id = running_lab(&s, &alice).await;
    let alice_id = learner_id(&alice);
    let mut tampered = alice.clone();
    let flip = tampered.len() - 40; // inside the signature
    let c = tampered.as_bytes()[flip];
    tampered.replace_range(flip..flip + 1, if c == b'A' { "B" } else { "A" });
    for cookie in [
        format!("kplab_learner={alice_id}"),
        tampered,
        format!("kplab_learner=AAAA{alice_id}"),
    ] {
        for (method, path) in [
            ("GET", format!("/api/sessions/{id}")),
            ("DELETE", format!("/api/sessions/{id}")),
        ] {
            let r = request(s.addr, method, &path, &[("Cookie", &cookie)], None).await;
            assert_eq!(r.status, 403, "{method} {path} with {cookie}: {r:?}");
        }
    }
    assert_eq!(s.state.store.live_sessions().await.unwrap().len(), 1);
}

/// Another learner with a valid cookie of their own reaches nothing of Alice's.
#[tokio::test]
async fn another_learners_session_is_forbidden() {
    let s = server(GuardArgs::default()).await;
    let alice = learner(s.addr).await;
    let bob = learner(s.addr).await;
    let id = running_lab(&s, &alice).await;
    for (method, path) in [
        ("GET", format!("/api/sessions/{id}")),
        ("POST", format!("/api/sessions/{id}/tasks/create-web/check")),
        ("POST", format!("/api/sessions/{id}/extend")),
        ("POST", format!("/api/sessions/{id}/reset")),
        ("DELETE", format!("/api/sessions/{id}")),
    ] {
        let r = request(s.addr, method, &path, &[("Cookie", &bob)], None).await;
        assert_eq!(r.status, 403, "{method} {path}: {r:?}");
    }
    let path = format!("/api/sessions/{id}/terminals/node-1");
    let own = format!("http://{}", s.addr);
    assert_eq!(ws_status(s.addr, &path, &bob, &own).await, 403);
    assert_eq!(s.state.store.live_sessions().await.unwrap().len(), 1);
}

// ---------------------------------------------------------------- bodies

/// A body past the limit is refused with 413 before it is parsed.
#[tokio::test]
async fn an_oversized_body_gets_413() {
    let s = server(GuardArgs::default()).await;
    let cookie = learner(s.addr).await;
    let big = format!(
        r#"{{"code":"ABCDEF","name":"{}"}}"#,
        "x".repeat(kplab::web::routes::MAX_BODY + 1)
    );
    let r = request(
        s.addr,
        "POST",
        "/api/workshops/join",
        &[("Cookie", &cookie)],
        json_body(&big),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.status);
}

/// Malformed JSON gets a 4xx with the reason, never a 5xx.
#[tokio::test]
async fn malformed_json_gets_a_4xx_with_the_reason() {
    let s = server(GuardArgs::default()).await;
    let cookie = learner(s.addr).await;
    let id = running_lab(&s, &cookie).await;
    for (path, body) in [
        ("/api/workshops/join".to_string(), "{not json"),
        ("/api/workshops/join".to_string(), r#"{"code":1}"#),
        (
            format!("/api/sessions/{id}/tasks/create-web/check"),
            "{not json",
        ),
        (format!("/api/sessions/{id}/reset"), r#"{"scope":["lab"]}"#),
        ("/api/workshops".to_string(), "\u{0}\u{1}"),
    ] {
        let r = request(
            s.addr,
            "POST",
            &path,
            &[
                ("Cookie", &cookie),
                ("Authorization", &format!("Bearer {TOKEN}")),
            ],
            json_body(body),
        )
        .await;
        assert!((400..500).contains(&r.status), "{path} {body:?}: {r:?}");
        assert!(!r.body.trim().is_empty(), "{path}: no reason");
    }
}

// ---------------------------------------------------------------- headers, key

/// Every response carries the security headers; the pages have no inline script for the
/// policy to forbid.
#[tokio::test]
async fn every_response_has_the_security_headers() {
    let s = server(GuardArgs::default()).await;
    let cookie = learner(s.addr).await;
    for path in [
        "/",
        "/labs/00-hello",
        "/j",
        "/w",
        "/instructor",
        "/static/app.js",
        "/static/vendor/xterm.js",
        "/nope",
        "/labs/nope",
        "/healthz",
    ] {
        let r = request(s.addr, "GET", path, &[("Cookie", &cookie)], None).await;
        let csp = r
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP ({})", r.status));
        let script = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap_or_else(|| panic!("{path}: no script-src in {csp}"));
        assert!(!script.contains("unsafe"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert!(r.header("referrer-policy").is_some(), "{path}");
        if r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
        {
            let doc = scraper::Html::parse_document(&r.body);
            let inline = scraper::Selector::parse("script:not([src])").unwrap();
            assert_eq!(doc.select(&inline).count(), 0, "{path}: inline script");
            for el in doc.select(&scraper::Selector::parse("*").unwrap()) {
                for (name, _) in el.value().attrs() {
                    assert!(!name.starts_with("on"), "{path}: handler attribute {name}");
                }
            }
        }
    }
    // The error page of a refused start (with its countdown) too.
    let r = request(s.addr, "POST", "/labs/00-hello/start", &[], None).await;
    assert!(r.header("content-security-policy").is_some(), "{r:?}");
}

/// The cookie key is readable by its owner only; a loose one left by an older version is
/// tightened at start-up.
#[tokio::test]
async fn the_cookie_key_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let s = server(GuardArgs::default()).await;
    let path = s.data.path().join("cookie.key");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    kplab::web::load_key(s.data.path()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

/// Cookies are `Secure` when a trusted proxy says the request came over HTTPS (and never
/// because a client says so itself).
#[tokio::test]
async fn cookies_are_secure_behind_a_trusted_tls_proxy() {
    let plain = server(GuardArgs::default()).await;
    let spoofed = request(
        plain.addr,
        "GET",
        "/",
        &[("X-Forwarded-Proto", "https")],
        None,
    )
    .await;
    let c = spoofed.header("set-cookie").unwrap().to_ascii_lowercase();
    assert!(!c.contains("secure"), "{c}");
    let proxied = server(GuardArgs {
        trusted_proxy: vec!["127.0.0.1".into()],
        ..GuardArgs::default()
    })
    .await;
    let r = request(
        proxied.addr,
        "GET",
        "/",
        &[("X-Forwarded-Proto", "https")],
        None,
    )
    .await;
    let c = r.header("set-cookie").unwrap().to_ascii_lowercase();
    assert!(c.contains("secure"), "{c}");
}

// ---------------------------------------------------------------- slow clients

/// Slowloris: half a request head, then nothing. The server closes the connection after the
/// header timeout instead of waiting forever.
#[tokio::test]
async fn a_slow_header_is_cut_off() {
    let s = server(GuardArgs {
        header_timeout_secs: 1,
        ..GuardArgs::default()
    })
    .await;
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was still open after 10 s");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

/// A slow body (the head at once, then a trickle) is cut off by the request timeout rather
/// than holding a handler.
#[tokio::test]
async fn a_slow_body_is_cut_off() {
    let s = server_timed(IpAddr::from([127, 0, 0, 1]), GuardArgs::default(), 2).await;
    let cookie = learner(s.addr).await;
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /name HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=",
        s.addr
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let t0 = Instant::now();
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if c.write_all(b"a").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(4), trickle).await;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(6), c.read(&mut buf))
        .await
        .expect("the server still waited for the body after 10 s")
        .unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(
        n == 0 || answer.starts_with("HTTP/1.1 504") || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}

/// Many idle connections past the limit do not each get a task: the excess waits in the
/// listen queue, and once they go, a fresh client is served.
#[tokio::test]
async fn the_connection_limit_holds() {
    let s = server(GuardArgs {
        max_connections: 4,
        header_timeout_secs: 30,
        ..GuardArgs::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(tokio::net::TcpStream::connect(s.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let blocked = tokio::time::timeout(
        Duration::from_millis(800),
        request(s.addr, "GET", "/healthz", &[], None),
    )
    .await;
    assert!(
        blocked.is_err(),
        "a request was served while 8 idle connections held a limit of 4"
    );
    drop(idle);
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        request(s.addr, "GET", "/healthz", &[], None),
    )
    .await
    .expect("served once the idle connections closed");
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------------- forwarded addresses

/// A client that writes a new `X-Forwarded-For` for each wrong join code still hits the
/// limit (the server trusts no proxy unless told).
#[tokio::test]
async fn rotating_forwarded_for_does_not_escape_the_join_limit() {
    let s = server(GuardArgs::default()).await;
    let cookie = learner(s.addr).await;
    let mut last = None;
    for i in 0..15 {
        let xff = format!("198.51.100.{i}");
        let r = request(
            s.addr,
            "POST",
            "/api/workshops/join",
            &[("Cookie", &cookie), ("X-Forwarded-For", &xff)],
            json_body(r#"{"code":"ZZZZZZ","name":"Mallory"}"#),
        )
        .await;
        last = Some(r);
    }
    let r = last.unwrap();
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.header("retry-after").is_some());
}

/// The same for guessing the instructor token on the login form.
#[tokio::test]
async fn rotating_forwarded_for_does_not_escape_the_login_limit() {
    let s = server(GuardArgs::default()).await;
    let mut codes = Vec::new();
    for i in 0..15 {
        let xff = format!("198.51.100.{i}");
        let r = request(
            s.addr,
            "POST",
            "/instructor/login",
            &[("X-Forwarded-For", &xff)],
            Some((
                "application/x-www-form-urlencoded",
                format!("token=guess-{i}-aaaaaaaaaaaa").as_bytes(),
            )),
        )
        .await;
        codes.push(r.status);
    }
    assert_eq!(codes.last(), Some(&429), "{codes:?}");
    // Even the right token waits out the limit from that address.
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
    assert_eq!(r.status, 429, "{r:?}");
}

/// Guessing the instructor token on the Bearer API from rotating forwarded addresses.
#[tokio::test]
async fn guessing_the_instructor_token_on_the_api_is_limited() {
    let s = server(GuardArgs::default()).await;
    let mut codes = Vec::new();
    for i in 0..15 {
        let xff = format!("198.51.100.{i}");
        let bearer = format!("Bearer guess-{i}-aaaaaaaaaaaa");
        let r = request(
            s.addr,
            "GET",
            "/api/workshops",
            &[("Authorization", &bearer), ("X-Forwarded-For", &xff)],
            None,
        )
        .await;
        codes.push(r.status);
    }
    assert_eq!(&codes[..10], [403; 10], "{codes:?}");
    assert_eq!(&codes[10..], [429; 5], "{codes:?}");
    let r = request(
        s.addr,
        "GET",
        "/api/workshops",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        None,
    )
    .await;
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.header("retry-after").is_some());
}

// ---------------------------------------------------------------- metrics

/// A non-loopback address of this machine, if it has one.
fn outside_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    Some(s.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

/// `/metrics` is refused to other hosts, to requests a local proxy forwarded, and without
/// the token; the token opens it.
#[tokio::test]
async fn metrics_are_refused_from_outside_and_without_the_token() {
    let token = "metrics-token-0123456789";
    let s = server(GuardArgs {
        metrics_token: Some(token.into()),
        ..GuardArgs::default()
    })
    .await;
    assert_eq!(
        request(s.addr, "GET", "/metrics", &[], None).await.status,
        200
    );
    let forwarded = request(
        s.addr,
        "GET",
        "/metrics",
        &[("X-Forwarded-For", "203.0.113.9")],
        None,
    )
    .await;
    assert_eq!(forwarded.status, 403, "{forwarded:?}");
    let wrong = request(
        s.addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer nope-nope-nope")],
        None,
    )
    .await;
    assert_eq!(wrong.status, 403);
    let off = server(GuardArgs {
        metrics: MetricsAccess::Off,
        ..GuardArgs::default()
    })
    .await;
    assert_eq!(
        request(off.addr, "GET", "/metrics", &[], None).await.status,
        404
    );
    if let Some(ip) = outside_ip() {
        let s = server_on(
            ip,
            GuardArgs {
                metrics_token: Some(token.into()),
                ..GuardArgs::default()
            },
        )
        .await;
        let r = request(s.addr, "GET", "/metrics", &[], None).await;
        assert_eq!(r.status, 403, "from {ip}: {r:?}");
        let bearer = format!("Bearer {token}");
        let r = request(
            s.addr,
            "GET",
            "/metrics",
            &[("Authorization", &bearer)],
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
    } else {
        eprintln!("no non-loopback address: the outside half of this test was not run");
    }
}

// ---------------------------------------------------------------- storage

/// A lab that prints a megabyte for a check costs the store a few KiB, and repeated checks
/// keep a bounded history.
#[tokio::test]
async fn what_a_check_stores_is_capped() {
    let s = server(GuardArgs::default()).await;
    let cookie = learner(s.addr).await;
    let id = running_lab(&s, &cookie).await;
    for _ in 0..30 {
        let r = request(
            s.addr,
            "POST",
            &format!("/api/sessions/{id}/tasks/create-web/check"),
            &[("Cookie", &cookie)],
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.status);
        assert!(
            r.body.len() < 16 * 1024,
            "the answer is {} bytes",
            r.body.len()
        );
    }
    let results = s
        .state
        .store
        .results(&learner_id(&cookie), "00-hello")
        .await
        .unwrap();
    let stored: usize = results.iter().map(|r| r.outcome.len()).sum();
    assert!(stored < 16 * 1024, "{stored} bytes stored for one check");
    let url = s.state.config.database_url.clone();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM results WHERE session = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        rows <= kplab::store::RESULTS_PER_TASK + 1,
        "{rows} results kept"
    );
}

/// A workshop member firing requests that fail (unknown session, lab not running) makes the
/// server recompute no dashboard row: each push is a row read for every open dashboard.
#[tokio::test]
async fn requests_that_change_nothing_push_no_dashboard_rows() {
    let s = server(GuardArgs::default()).await;
    let bearer = format!("Bearer {TOKEN}");
    let w = request(
        s.addr,
        "POST",
        "/api/workshops",
        &[("Authorization", &bearer)],
        json_body(r#"{"name":"W","labs":["00-hello"],"capacity":5,"warm_pool":0}"#),
    )
    .await;
    assert_eq!(w.status, 201, "{w:?}");
    let code = w.json()["join_code"].as_str().unwrap().to_string();
    let cookie = learner(s.addr).await;
    let j = request(
        s.addr,
        "POST",
        "/api/workshops/join",
        &[("Cookie", &cookie)],
        json_body(&format!(r#"{{"code":"{code}","name":"Alice"}}"#)),
    )
    .await;
    assert_eq!(j.status, 200, "{j:?}");
    // Let the queued start settle, then listen.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut changes = s.state.workshop.subscribe();
    for (method, path) in [
        ("POST", "/api/sessions/nope00/extend"),
        ("POST", "/api/sessions/nope00/tasks/x/check"),
        ("DELETE", "/api/sessions/nope00"),
        ("POST", "/labs/nope/stop"),
        ("POST", "/labs/00-hello/step"),
    ] {
        for _ in 0..5 {
            let r = request(s.addr, method, path, &[("Cookie", &cookie)], None).await;
            assert!(r.status >= 400, "{method} {path}: {r:?}");
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut pushed = 0;
    while changes.try_recv().is_ok() {
        pushed += 1;
    }
    assert_eq!(
        pushed, 0,
        "25 failed requests pushed {pushed} dashboard rows"
    );
    // A request that changes something still pushes the row.
    let r = request(
        s.addr,
        "POST",
        "/api/workshops/me/hand",
        &[("Cookie", &cookie)],
        json_body(r#"{"raised":true}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(changes.try_recv().is_ok(), "raising a hand pushed no row");
}

// ---------------------------------------------------------------- in a browser

/// The CSP violations the current page reported (recorded by a script CDP adds to every
/// document before the page's own).
async fn violations(b: &fantoccini::Client) -> Vec<String> {
    let v = b
        .execute("return window.__cspViolations || null;", vec![])
        .await
        .unwrap();
    assert!(!v.is_null(), "the violation recorder did not run");
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect()
}

/// The pages still work under the security headers in a real browser, and report no CSP
/// violation: the Start form (a same-origin POST with the browser's own Origin) starts the
/// lab, xterm.js draws the terminal and its WebSocket passes the origin check, the instructor
/// login form and the join page load their scripts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium"]
async fn the_pages_work_in_a_browser_under_the_policy() {
    use fantoccini::Locator;
    let s = server(GuardArgs::default()).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b, port) = browser_support::browser(profile.path(), (1280, 900)).await;
    browser_support::cdp(&b, port, "Page.enable", serde_json::json!({})).await;
    browser_support::cdp(
        &b,
        port,
        "Page.addScriptToEvaluateOnNewDocument",
        serde_json::json!({ "source": "window.__cspViolations = []; \
            document.addEventListener('securitypolicyviolation', function (e) { \
              window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber); });" }),
    )
    .await;
    let base = format!("http://{}", s.addr);
    let mut seen = Vec::new();

    b.goto(&format!("{base}/")).await.unwrap();
    seen.extend(violations(&b).await);
    b.goto(&format!("{base}/labs/00-hello")).await.unwrap();
    b.find(Locator::Css("#start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let t0 = Instant::now();
    let session = loop {
        let live = s.state.store.live_sessions().await.unwrap();
        if let Some(l) = live.first() {
            if s.state.shells.get(&l.id, "node-1").is_some()
                && b.find(Locator::Css(".term .xterm-screen")).await.is_ok()
            {
                break l.id.clone();
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no terminal within 20 s (live: {live:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    seen.extend(violations(&b).await);
    assert!(!session.is_empty());

    for page in ["/j", "/instructor"] {
        b.goto(&format!("{base}{page}")).await.unwrap();
        seen.extend(violations(&b).await);
    }
    b.find(Locator::Css("#login-form input[name=token]"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    b.find(Locator::Css("#login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        b.find(Locator::Css("#create-form")).await.is_ok(),
        "the login form (a same-origin POST) did not log in: {}",
        b.source().await.unwrap_or_default()
    );
    seen.extend(violations(&b).await);
    b.close().await.unwrap();
    assert!(seen.is_empty(), "CSP violations: {seen:#?}");
}

/// Trimming keeps what matters: a task passed long ago stays passed after many failing
/// checks, and a session keeps only the newest rule snapshots of a node however often its
/// rules change.
#[tokio::test]
async fn trimmed_history_keeps_passes_and_bounds_snapshots() {
    use kplab::store::TaskResult;
    let s = server(GuardArgs::default()).await;
    let cookie = learner(s.addr).await;
    let id = running_lab(&s, &cookie).await;
    let who = learner_id(&cookie);
    for i in 0..40 {
        let r = TaskResult {
            task: "create-web".into(),
            passed: i == 0,
            outcome: "{}".into(),
            created_ms: i,
        };
        s.state
            .store
            .record_result(&who, "00-hello", &id, &r)
            .await
            .unwrap();
    }
    let results = s.state.store.results(&who, "00-hello").await.unwrap();
    let r = results.iter().find(|r| r.task == "create-web").unwrap();
    assert!(r.passed, "the early pass was trimmed away");
    let snaps = s.state.store.snapshots();
    for i in 0..80 {
        snaps
            .add_if_changed(
                &id,
                "node-1",
                0,
                &format!("h{i}"),
                "x",
                "*filter\nCOMMIT\n",
                i,
            )
            .await
            .unwrap();
    }
    let kept = snaps.list(&id).await.unwrap();
    let max = kplab::store::SNAPSHOTS_PER_NODE as usize;
    assert!(kept.len() <= max, "{} snapshots kept", kept.len());
    assert_eq!(
        kept.iter().map(|m| m.seq).max(),
        Some(80),
        "the newest is kept"
    );
}
