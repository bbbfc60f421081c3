//! Every page of the learner's workspace in headless Chromium at a phone's, a laptop's and a
//! desktop's viewport (`kplab_testkit::page_check::SIZES`): no sideways overflow, no serious or
//! critical axe-core violation, and a screenshot of each (`catalog-phone.png`, …) under
//! `$CARGO_TARGET_TMPDIR/screens/`. One server and one browser for all pages; every problem of
//! every page is listed before the test fails.
//!
//! To check another page, write an `async fn` that brings the browser to it (in the state worth
//! checking) and calls [`Pages::check`], and call it from the test below.

use kplab_testkit::browser::{browser, close, js, wait_js};
use kplab_testkit::page_check::{check_page, check_page_showing, screens_dir};
use kplab_testkit::web::Server;

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::error::CmdError;
use fantoccini::{Client as Browser, Locator};

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// The instructor token of the test server (workshops on).
const TOKEN: &str = "wa-instructor-token-0123456789";

/// The browser, the server's address, and the problems found so far.
struct Pages {
    b: Browser,
    driver_port: u16,
    base: String,
    dir: PathBuf,
    problems: Vec<String>,
}

impl Pages {
    /// Opens `path` and checks it as `name` at every size.
    async fn open_and_check(&mut self, path: &str, name: &str) -> Result<(), CmdError> {
        self.b.goto(&format!("{}{path}", self.base)).await?;
        self.check(name).await
    }

    /// Checks the page as it is now as `name` at every size.
    async fn check(&mut self, name: &str) -> Result<(), CmdError> {
        self.check_showing(name, None).await
    }

    /// [`Pages::check`], with the element `show` scrolled into view for the screenshots.
    async fn check_showing(&mut self, name: &str, show: Option<&str>) -> Result<(), CmdError> {
        let found = check_page_showing(&self.b, self.driver_port, &self.dir, name, show).await?;
        self.problems.extend(found);
        Ok(())
    }
}

/// The catalog: the header, the name form, a card per lab. The header marks where the learner
/// is, and the first Tab reaches the skip link, which moves focus to the main content.
async fn catalog(p: &mut Pages) -> Result<(), CmdError> {
    p.open_and_check("/", "catalog").await?;
    let current = js(
        &p.b,
        "return [...document.querySelectorAll('nav.site-nav a[aria-current=page]')].map(a => a.textContent);",
    )
    .await;
    assert_eq!(current, serde_json::json!(["Labs"]));
    p.b.find(Locator::Css("body")).await?.send_keys(TAB).await?;
    let focused = js(&p.b, "return document.activeElement.className;").await;
    assert_eq!(focused, "skip-link", "the first Tab stop");
    p.b.active_element().await?.send_keys(ENTER).await?;
    wait_js(
        &p.b,
        "document.activeElement === document.getElementById('main')",
        Duration::from_secs(5),
    )
    .await;
    Ok(())
}

/// The catalog with a lab of the learner's starting or running: its card's badge.
async fn catalog_with_a_lab(p: &mut Pages) -> Result<(), CmdError> {
    p.b.goto(&format!("{}/labs/00-hello", p.base)).await?;
    p.b.find(Locator::Css("button#start"))
        .await?
        .click()
        .await?;
    p.b.goto(&format!("{}/", p.base)).await?;
    wait_js(
        &p.b,
        "document.querySelector(\".lab-card[data-lab='00-hello'] .badge\")",
        Duration::from_secs(30),
    )
    .await;
    p.check("catalog-lab").await
}

/// A page that is not there: the error page.
async fn not_found(p: &mut Pages) -> Result<(), CmdError> {
    p.open_and_check("/labs/no-such-lab", "error").await
}

/// The instructor's sign-in page.
async fn instructor_login(p: &mut Pages) -> Result<(), CmdError> {
    p.open_and_check("/instructor", "instructor").await
}

/// The join form of a workshop.
async fn join(p: &mut Pages) -> Result<(), CmdError> {
    p.open_and_check("/j", "join").await
}

/// Types `keys` into node-1's terminal.
async fn type_on_node_1(p: &Pages, keys: &str) -> Result<(), CmdError> {
    p.b.find(Locator::Css(
        ".term[data-host='node-1'] textarea.xterm-helper-textarea",
    ))
    .await?
    .send_keys(keys)
    .await
}

/// A running lab (the one `catalog_with_a_lab` started) with a Service, then each view of the
/// packets panel with a result in it: the chain graph, a packet trace's hop tables, the rule
/// diff's snapshot lists, a spread histogram.
async fn lab_running(p: &mut Pages) -> Result<(), CmdError> {
    p.b.goto(&format!("{}/labs/00-hello", p.base)).await?;
    let rows = ".term[data-host='node-1'] .xterm-rows";
    wait_js(
        &p.b,
        &format!("(document.querySelector(\"{rows}\") || {{}}).textContent.includes('node-1')"),
        Duration::from_secs(120),
    )
    .await;
    type_on_node_1(
        p,
        &format!("kubectl create deployment web --image=kplab/echo --replicas=2 && kubectl expose deployment web --port=80 && kubectl rollout status deployment web{ENTER}"),
    )
    .await?;
    wait_js(
        &p.b,
        &format!(
            "document.querySelector(\"{rows}\").textContent.includes('successfully rolled out')"
        ),
        Duration::from_secs(90),
    )
    .await;
    p.check("lab").await?;

    js(
        &p.b,
        "document.getElementById('panel').open = true; return 1;",
    )
    .await;
    wait_js(
        &p.b,
        "document.getElementById('graph-status').textContent.includes('chains')",
        Duration::from_secs(30),
    )
    .await;
    p.check_showing("lab-panel-graph", Some("#panel")).await?;

    let view = |v: &str| format!(".panel-tabs button[data-view='{v}']");
    p.b.find(Locator::Css(&view("trace")))
        .await?
        .click()
        .await?;
    for (field, value) in [("from", "node-2"), ("to", "web")] {
        let input =
            p.b.find(Locator::Css(&format!("#trace-form input[name={field}]")))
                .await?;
        input.clear().await?;
        input.send_keys(value).await?;
    }
    p.b.find(Locator::Css("#trace-run")).await?.click().await?;
    wait_js(
        &p.b,
        "document.querySelector('#trace-result table.hops')",
        Duration::from_secs(60),
    )
    .await;
    p.check_showing("lab-panel-trace", Some("#panel")).await?;

    p.b.find(Locator::Css(&view("diff"))).await?.click().await?;
    wait_js(
        &p.b,
        "document.getElementById('diff-status').textContent.length > 0",
        Duration::from_secs(30),
    )
    .await;
    p.check_showing("lab-panel-diff", Some("#panel")).await?;

    p.b.find(Locator::Css(&view("spread")))
        .await?
        .click()
        .await?;
    let count =
        p.b.find(Locator::Css("#spread-form input[name=count]"))
            .await?;
    count.clear().await?;
    count.send_keys("40").await?;
    p.b.find(Locator::Css("#spread-run")).await?.click().await?;
    wait_js(
        &p.b,
        "document.querySelector('#spread-result svg')",
        Duration::from_secs(60),
    )
    .await;
    p.check_showing("lab-panel-spread", Some("#panel")).await
}

/// The instructor's pages: signed in, a workshop created from the catalog's checkboxes, its
/// dashboard; then the join page that names the workshop from its link.
/// The first challenge step and the first optional step of the repository's labs, as a learner
/// opens them (no lab running): their tags and their note.
async fn challenge_and_optional_steps(p: &mut Pages) -> Result<(), CmdError> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../labs");
    let catalog = labkit::Catalog::load(&dir).unwrap_or_else(|d| panic!("{d}"));
    let first = |kind: fn(&labkit::Step) -> bool| {
        catalog
            .labs
            .iter()
            .find_map(|l| {
                let i = l.steps.iter().position(kind)?;
                Some(format!("/labs/{}?step={}", l.id, i + 1))
            })
            .expect("the labs have a challenge step and an optional step")
    };
    let challenge = first(|s| s.challenge);
    let optional = first(|s| s.optional);
    p.open_and_check(&challenge, "lab-challenge").await?;
    let kind = p.b.find(Locator::Css("#step-kind")).await?.text().await?;
    assert!(kind.starts_with("A challenge"), "{challenge}: {kind}");
    p.open_and_check(&optional, "lab-optional").await?;
    let kind = p.b.find(Locator::Css("#step-kind")).await?.text().await?;
    assert!(kind.starts_with("Optional"), "{optional}: {kind}");
    Ok(())
}

async fn workshop(p: &mut Pages) -> Result<(), CmdError> {
    p.b.goto(&format!("{}/instructor", p.base)).await?;
    p.b.find(Locator::Css("#token"))
        .await?
        .send_keys(TOKEN)
        .await?;
    // Each click submits a form: wait for the next page's element, not for the click.
    p.b.find(Locator::Css("#login")).await?.click().await?;
    p.b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#create-form #ws-name"))
        .await?
        .send_keys("Tuesday class")
        .await?;
    // The first lab of the catalog is ticked already.
    let ticked = js(
        &p.b,
        "return document.getElementById('lab-00-hello').checked;",
    )
    .await;
    assert_eq!(ticked, serde_json::json!(true));
    p.b.find(Locator::Css("#create")).await?.click().await?;
    p.b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#dashboard #join-code"))
        .await?;
    p.check("dashboard").await?;
    let code = p.b.find(Locator::Css("#join-code")).await?.text().await?;
    p.open_and_check(&format!("/j/{}", code.trim()), "join-named")
        .await?;
    let named = js(
        &p.b,
        "return document.body.textContent.includes('Tuesday class');",
    )
    .await;
    assert_eq!(
        named,
        serde_json::json!(true),
        "the join page names the workshop"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker, root and Chromium"]
async fn the_workspace_pages_fit_every_size_and_pass_axe() {
    let _gone = kplab_testkit::lab::LabsGone("wa-");
    let server = Server::start_with("wa-", 2, Some(TOKEN)).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b, driver_port) = browser(profile.path(), (1440, 900)).await;
    let dir = screens_dir(env!("CARGO_TARGET_TMPDIR"));
    let mut p = Pages {
        b,
        driver_port,
        base: format!("http://{}", server.addr),
        dir: dir.clone(),
        problems: Vec::new(),
    };
    let result = async {
        catalog(&mut p).await?;
        catalog_with_a_lab(&mut p).await?;
        not_found(&mut p).await?;
        instructor_login(&mut p).await?;
        join(&mut p).await?;
        lab_running(&mut p).await?;
        challenge_and_optional_steps(&mut p).await?;
        workshop(&mut p).await?;
        Ok(())
    }
    .await;
    let Pages { b, problems, .. } = p;
    let result = close(b, &dir, result).await;
    server.shutdown().await;
    result.unwrap();
    println!("screenshots in {}", dir.display());
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checks catch what they are for: a box wider than a phone (named, with its width) and
/// text too faint to read and an image without a text alternative (axe-core's rules).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium"]
async fn the_page_checks_catch_overflow_and_axe_violations() {
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b, driver_port) = browser(profile.path(), (1440, 900)).await;
    let dir = tempfile::tempdir().unwrap();
    let page = "<!doctype html><html lang=en><title>t</title><main>\
                <div id=wide class='a b' style='width:600px'>wide</div>\
                <p style='color:#bbb;background:#fff'>faint</p>\
                <img src='data:image/gif;base64,R0lGODlhAQABAAAAACw=' width=10 height=10>\
                <div style='overflow-x:auto'><pre style='width:900px'>scrolls inside its box</pre></div>\
                </main>";
    let result = async {
        b.goto(&format!("data:text/html,{}", page.replace('#', "%23")))
            .await?;
        let problems = check_page(&b, driver_port, dir.path(), "bad").await?;
        let text = problems.join("\n");
        let phone: Vec<&String> = problems
            .iter()
            .filter(|p| p.starts_with("bad-phone:"))
            .collect();
        assert!(
            phone
                .iter()
                .any(|p| p.contains("div#wide.a.b (600 px wide, 8..608) sticks out of main")),
            "{text}"
        );
        assert!(
            !text.contains("    pre"),
            "a box that scrolls is not overflow: {text}"
        );
        assert!(
            !problems
                .iter()
                .any(|p| p.starts_with("bad-desktop:") && p.contains("wider")),
            "{text}"
        );
        for rule in ["color-contrast", "image-alt"] {
            assert_eq!(
                problems
                    .iter()
                    .filter(|p| p.contains(&format!("{rule}:")))
                    .count(),
                3,
                "{rule} at every size: {text}"
            );
        }
        assert!(dir.path().join("bad-phone.png").exists());
        Ok(())
    }
    .await;
    close(b, dir.path(), result).await.unwrap();
}
