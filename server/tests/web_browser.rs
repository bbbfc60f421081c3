//! The browser test: headless Chromium (Debian's `chromium` + `chromedriver`) opens the
//! catalog, starts a lab, types into the terminal and sees the output, completes a task,
//! clicks Check, sees it pass, reloads and still sees it passed. Saves a screenshot under
//! `$CARGO_TARGET_TMPDIR/web-browser/`. Needs Docker, the node image and Chromium.

use kplab_testkit::browser as browser_support;
use kplab_testkit::web as web_support;

use std::time::{Duration, Instant};

use browser_support::{browser, text_of, wait_text};
use fantoccini::Locator;
use web_support::Server;

const ENTER: &str = "\u{E007}";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker, root and Chromium"]
async fn a_learner_completes_a_task_in_the_browser() {
    let server = Server::start("wb-b-", 4).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b, _) = browser(profile.path(), (1400, 900)).await;
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
                "kubectl create deployment web --image=kplab/echo --replicas=2 && kubectl rollout status deployment/web --timeout=90s{ENTER}"
            ))
            .await?;
        wait_text(
            &b,
            rows,
            "successfully rolled out",
            Duration::from_secs(90),
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
        assert!(detail.contains("deployment web: replicas is 2"), "{detail}");
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
    let result = kplab_testkit::browser::close(b, &out_dir, result).await;
    server.shutdown().await;
    result.unwrap();
}
