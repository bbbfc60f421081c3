//! The dashboard in headless Chromium (Debian's `chromium` + `chromedriver`): the instructor
//! logs in with the token, creates a workshop from the form, opens its dashboard; a learner
//! joins and passes a task, and the dashboard row updates live (no reload), as does the
//! raised hand. Saves a screenshot under `$CARGO_TARGET_TMPDIR/workshop-browser/`.

use kplab_testkit::browser as browser_support;
use kplab_testkit::web as web_support;
use kplab_testkit::workshop as workshop_support;

use std::time::{Duration, Instant};

use browser_support::{browser, text_of, wait_text};
use fantoccini::Locator;
use web_support::Client;
use workshop_support::{Server, TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker, root and Chromium"]
async fn the_dashboard_updates_live_when_a_learner_passes_a_task() {
    let server = Server::start_with("wsb-", 2, Some(TOKEN)).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b, _) = browser(profile.path(), (1400, 900)).await;
    let base = format!("http://{}", server.addr);
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("workshop-browser");
    std::fs::create_dir_all(&out_dir).unwrap();

    let result = async {
        b.goto(&format!("{base}/instructor")).await?;
        b.find(Locator::Css("#login-form input[name='token']"))
            .await?
            .send_keys(TOKEN)
            .await?;
        // Each click submits a form; chromedriver may return before the next page is there,
        // so the next step waits for that page's element instead of expecting it at once.
        b.find(Locator::Css("button#login")).await?.click().await?;
        b.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#create-form input[name='name']"))
            .await?
            .send_keys("Browser workshop")
            .await?;
        b.find(Locator::Css("button#create")).await?.click().await?;
        b.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#join-code"))
            .await?;
        let url = b.current_url().await?;
        let id = url
            .path()
            .strip_prefix("/instructor/workshops/")
            .expect("the dashboard")
            .to_string();
        wait_text(&b, "#live", "live", Duration::from_secs(10)).await;
        let code = text_of(&b, "#join-code").await;
        assert_eq!(code.len(), 6, "{code}");

        // A learner joins (API client) and gets a lab from the start queue.
        let mut learner = Client::new(server.addr);
        let j = learner
            .post_json(
                "/api/workshops/join",
                &serde_json::json!({"code": code, "name": "Grace"}).to_string(),
            )
            .await
            .json();
        let lid = j["learner"].as_str().unwrap().to_string();
        let row = format!("#row-{lid}");
        wait_text(
            &b,
            &format!("{row} td.name"),
            "Grace",
            Duration::from_secs(5),
        )
        .await;
        let t0 = Instant::now();
        let session = loop {
            let me = learner.get("/api/workshops/me").await.json();
            if let Some(s) = me["session"]["id"].as_str() {
                break s.to_string();
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "{me}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        learner
            .wait_status(&session, "running", Duration::from_secs(180))
            .await;
        wait_text(
            &b,
            &format!("{row} td.status"),
            "running",
            Duration::from_secs(5),
        )
        .await;
        assert!(text_of(&b, &format!("{row} td.tasks"))
            .await
            .starts_with("0/"));

        // A wrong answer shows as the last failing check; the right one as a passed task.
        learner
            .post_json(
                &format!("/api/sessions/{session}/tasks/count-nodes/check"),
                r#"{"answer":"5"}"#,
            )
            .await;
        wait_text(
            &b,
            &format!("{row} td.failing"),
            "count-nodes",
            Duration::from_secs(5),
        )
        .await;
        let r = learner
            .post_json(
                &format!("/api/sessions/{session}/tasks/count-nodes/check"),
                r#"{"answer":"2"}"#,
            )
            .await
            .json();
        assert_eq!(r["passed"], true, "{r}");
        let lag = wait_text(&b, &format!("{row} td.tasks"), "1/", Duration::from_secs(5)).await;
        println!(
            "dashboard in the browser showed the passed task {} ms after the check answered",
            lag.as_millis()
        );
        let passed = b
            .find(Locator::Css(&row))
            .await?
            .attr("data-passed")
            .await?
            .unwrap_or_default();
        assert!(passed.contains("count-nodes"), "{passed}");

        // "I'm stuck" shows on the row.
        learner
            .post_json("/api/workshops/me/hand", r#"{"raised":true}"#)
            .await;
        wait_text(
            &b,
            &format!("{row} td.hand-cell"),
            "✋",
            Duration::from_secs(5),
        )
        .await;
        let png = b.screenshot().await?;
        std::fs::write(out_dir.join("dashboard.png"), &png).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        println!("workshop {id}: screenshot in {}", out_dir.display());
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let result = kplab_testkit::browser::close(b, &out_dir, result).await;
    server.shutdown().await;
    result.unwrap();
}
