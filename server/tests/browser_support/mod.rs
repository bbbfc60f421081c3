//! Helpers for the browser tests: headless Chromium (Debian's `chromium` + `chromedriver`)
//! with the flags CI needs and a fresh profile, and text polling on the page.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client as Browser, ClientBuilder, Locator};

/// The chromedriver process, killed when dropped.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver and a headless Chromium session with the profile directory `profile`
/// and a `width`x`height` window. Returns chromedriver's port too (for CDP commands).
pub async fn browser(
    profile: &std::path::Path,
    (width, height): (u32, u32),
) -> (Driver, Browser, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver must be installed (Debian package chromium-driver)");
    let driver = Driver(child);
    let t0 = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run",
                     format!("--window-size={width},{height}"), format!("--user-data-dir={}", profile.display())],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client, port)
}

/// The text of the first element matching `css`, or "" when there is none.
pub async fn text_of(b: &Browser, css: &str) -> String {
    match b.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Polls until `css`'s text contains `needle`; returns how long that took.
pub async fn wait_text(b: &Browser, css: &str, needle: &str, within: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let t = text_of(b, css).await;
        if t.contains(needle) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "{needle:?} not in {css} within {within:?}; it shows:\n{t}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
