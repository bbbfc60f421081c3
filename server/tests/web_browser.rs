//! The browser test: headless Chromium (Debian's `chromium` + `chromedriver`) opens the
//! catalog, starts a lab, types into the terminal and sees the output, completes a task,
//! clicks Check, sees it pass, reloads and still sees it passed. Saves a screenshot under
//! `$CARGO_TARGET_TMPDIR/web-browser/`. Needs Docker, the node image and Chromium.

mod web_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use web_support::Server;

const ENTER: &str = "\u{E007}";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser(profile: &std::path::Path) -> (Driver, Browser) {
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
                     "--window-size=1400,900", format!("--user-data-dir={}", profile.display())],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client)
}

async fn text_of(b: &Browser, css: &str) -> String {
    match b.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn wait_text(b: &Browser, css: &str, needle: &str, within: Duration) -> Duration {
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker, the node image and Chromium (apt-get install chromium chromium-driver)"]
async fn a_learner_completes_a_task_in_the_browser() {
    let server = Server::start("wb-b-", 4).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b) = browser(profile.path()).await;
    let base = format!("http://{}", server.addr);
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-browser");
    std::fs::create_dir_all(&out_dir).unwrap();

    let result = async {
        b.goto(&format!("{base}/")).await?;
        b.find(Locator::Css("li.lab-card[data-lab='00-hello'] a.lab-link"))
            .await?
            .click()
            .await?;
        assert!(b.current_url().await?.path().ends_with("/labs/00-hello"));
        let t0 = Instant::now();
        b.find(Locator::Css("button#start")).await?.click().await?;
        // The page waits for the lab, reloads, and opens a terminal on node-1.
        let rows = ".term[data-host='node-1'] .xterm-rows";
        wait_text(&b, rows, "node-1", Duration::from_secs(90)).await;
        let click_to_prompt = t0.elapsed();
        println!(
            "click to terminal prompt: {} ms",
            click_to_prompt.as_millis()
        );

        let input = ".term[data-host='node-1'] textarea.xterm-helper-textarea";
        b.find(Locator::Css(input))
            .await?
            .send_keys(&format!("echo hello-$((6*7)){ENTER}"))
            .await?;
        wait_text(&b, rows, "hello-42", Duration::from_secs(20)).await;

        b.find(Locator::Css(input))
            .await?
            .send_keys(&format!(
                "kubectl create deployment web --image=kplab/echo --replicas=2{ENTER}"
            ))
            .await?;
        wait_text(
            &b,
            rows,
            "deployment.apps/web created",
            Duration::from_secs(20),
        )
        .await;

        b.find(Locator::Css("#task-create-web button.check"))
            .await?
            .click()
            .await?;
        wait_text(
            &b,
            "#task-create-web .task-state",
            "passed",
            Duration::from_secs(20),
        )
        .await;
        let detail = text_of(&b, "#task-create-web .result").await;
        assert!(detail.contains("{.spec.replicas} = 2"), "{detail}");
        let png = b.screenshot().await?;
        std::fs::write(out_dir.join("lab.png"), &png).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");

        b.refresh().await?;
        wait_text(
            &b,
            "#task-create-web .task-state",
            "passed",
            Duration::from_secs(10),
        )
        .await;
        let class = b
            .find(Locator::Css("#task-create-web"))
            .await?
            .attr("class")
            .await?
            .unwrap_or_default();
        assert!(class.split_whitespace().any(|c| c == "passed"), "{class}");
        // The terminal is back after the reload, with the earlier output replayed.
        wait_text(&b, rows, "hello-42", Duration::from_secs(20)).await;
        let png = b.screenshot().await?;
        std::fs::write(out_dir.join("after-reload.png"), &png).unwrap();
        println!("screenshots in {}", out_dir.display());
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    if result.is_err() {
        if let Ok(png) = b.screenshot().await {
            let _ = std::fs::write(out_dir.join("failure.png"), png);
        }
    }
    let _ = b.close().await;
    server.shutdown().await;
    result.unwrap();
}
