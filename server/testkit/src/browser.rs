//! Helpers for the browser tests: headless Chromium (Debian's `chromium` + `chromedriver`)
//! with the flags CI needs and a fresh profile, JavaScript and text polling on the page, CDP
//! commands. The page checks every page should pass (layout, accessibility, screenshots at
//! three sizes) are in [`crate::page_check`].

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Runs `script` (a function body: `return …;` gives the value) in the page; panics when it
/// throws.
pub async fn js(b: &Browser, script: &str) -> serde_json::Value {
    b.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Polls the JavaScript expression `expr` until it is truthy (not null, false, "" or 0);
/// returns its value.
pub async fn wait_js(b: &Browser, expr: &str, within: Duration) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let v = js(b, &format!("return ({expr});")).await;
        if !(v.is_null() || v == false || v == "" || v == 0) {
            return v;
        }
        assert!(t0.elapsed() < within, "{expr} not true within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
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

/// Runs a CDP command through chromedriver; returns its JSON answer.
pub async fn cdp(b: &Browser, driver_port: u16, cmd: &str, params: serde_json::Value) -> String {
    let session = b.session_id().await.unwrap().expect("a session id");
    let body = serde_json::json!({ "cmd": cmd, "params": params }).to_string();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", driver_port))
        .await
        .unwrap();
    let req = format!(
        "POST /session/{session}/goog/cdp/execute HTTP/1.1\r\nHost: 127.0.0.1:{driver_port}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    return text;
                }
            }
            if n == 0 {
                return text;
            }
        }
    };
    let out = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap_or_else(|_| panic!("chromedriver did not answer {cmd}"));
    assert!(out.starts_with("HTTP/1.1 200"), "{cmd}: {out}");
    out
}

/// Ends a browser test's session: on failure, a screenshot of the page as it was
/// (`failure.png` in `out_dir`) before the window closes. Returns the result for the test to
/// unwrap once its server is down.
pub async fn close(
    b: Browser,
    out_dir: &std::path::Path,
    result: Result<(), fantoccini::error::CmdError>,
) -> Result<(), fantoccini::error::CmdError> {
    if result.is_err() {
        if let Ok(png) = b.screenshot().await {
            let _ = std::fs::write(out_dir.join("failure.png"), png);
        }
    }
    let _ = b.close().await;
    result
}
