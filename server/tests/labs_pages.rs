//! A lab's `minutes` (the estimated learner time) on the catalog card and on the lab's page,
//! served by the web platform from the repository's labs.
//! Needs Docker (the server's runtime): run with `--include-ignored`.

use kplab_testkit::web as web_support;

use web_support::{Client, Server};

/// The text of the first element `<TAG class="CLASS">…</TAG>` after `from` in `html`.
fn element<'a>(html: &'a str, from: &str, tag: &str, class: &str) -> Option<&'a str> {
    let start = html.find(from)?;
    let open = format!("<{tag} class=\"{class}\">");
    let at = start + html[start..].find(&open)? + open.len();
    let end = at + html[at..].find(&format!("</{tag}>"))?;
    Some(html[at..end].trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and root"]
async fn minutes_show_on_the_catalog_and_the_lab_page() {
    let catalog = labkit::Catalog::load(&web_support::repo().join("labs")).unwrap();
    let server = Server::start("lm-", 1).await;
    let mut c = Client::new(server.addr);
    let home = c.get("/").await;
    assert_eq!(home.status, 200);
    for lab in &catalog.labs {
        let card = format!("data-lab=\"{}\"", lab.id);
        assert_eq!(
            element(&home.body, &card, "p", "minutes"),
            Some(format!("About {} minutes", lab.minutes).as_str()),
            "catalog card of {}",
            lab.id
        );
    }
    let page = c.get("/labs/00-hello").await;
    assert_eq!(page.status, 200);
    let hello = catalog.lab("00-hello").unwrap().minutes;
    assert_eq!(
        element(&page.body, "<h1>", "p", "minutes"),
        Some(format!("About {hello} minutes").as_str())
    );
    server.shutdown().await;
}
