//! The dashboard in headless Chromium (Debian's `chromium` + `chromedriver`): the instructor
//! logs in with the token, creates a workshop from the form, opens its dashboard; a learner
//! joins and passes a task, and the dashboard row updates live (no reload), as does the
//! raised hand. The instructor's read-only terminal draws on the learner's grid (an 80-column
//! line stays on one row). Over the fake runtime: the dashboard's joining toggle, pinning
//! (confirmed) and unpinning, live raised-hand timers, confirmations of destructive actions,
//! the learner's "ended" notice, and the dashboard, join and instructor pages at 390, 1024 and
//! 1440 pixels wide without horizontal page overflow. Saves screenshots under
//! `$CARGO_TARGET_TMPDIR/workshop-browser/`.

use kplab_testkit::browser as browser_support;
use kplab_testkit::web as web_support;
use kplab_testkit::workshop as workshop_support;

use std::time::{Duration, Instant};

use browser_support::{browser, cdp, text_of, wait_js, wait_text};
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
        let session = session_of(&mut learner).await;
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
            "Hand up",
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

type CmdResult = Result<(), fantoccini::error::CmdError>;

fn out_dir() -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("workshop-browser");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The session of a learner who joined a workshop, once the start queue has given it a lab.
async fn session_of(learner: &mut Client) -> String {
    let t0 = Instant::now();
    loop {
        let me = learner.get("/api/workshops/me").await.json();
        if let Some(s) = me["session"]["id"].as_str() {
            return s.to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{me}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Logs the browser in as the instructor through the login form.
async fn log_in(b: &fantoccini::Client, base: &str) -> CmdResult {
    b.goto(&format!("{base}/instructor")).await?;
    b.find(Locator::Css("#login-form input[name='token']"))
        .await?
        .send_keys(TOKEN)
        .await?;
    b.find(Locator::Css("button#login")).await?.click().await?;
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#create-form"))
        .await?;
    Ok(())
}

/// The learner types in a terminal sized 80x24 and prints an 80-character line; the
/// instructor's read-only view, in a window narrower than 80 columns, draws an 80x24 grid
/// (scrolling sideways inside its box, not the page) with the whole line on one row, and
/// follows the learner's next resize.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker, root and Chromium"]
async fn the_read_only_terminal_draws_the_learners_grid() {
    let server = Server::start_with("wi-t-", 1, Some(TOKEN)).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b, port) = browser(profile.path(), (1024, 768)).await;
    let base = format!("http://{}", server.addr);
    let out = out_dir();
    let result = async {
        let (id, code) = workshop_support::Instructor::new(server.addr)
            .create("Terminal grid", 5, 0)
            .await;
        let mut learner = Client::new(server.addr);
        let j = learner
            .post_json(
                "/api/workshops/join",
                &serde_json::json!({"code": code, "name": "Ada"}).to_string(),
            )
            .await
            .json();
        let lid = j["learner"].as_str().unwrap().to_string();
        let session = session_of(&mut learner).await;
        learner
            .wait_status(&session, "running", Duration::from_secs(180))
            .await;
        let mut term = kplab_testkit::web::open_term(&learner, &session, "node-1")
            .await
            .expect("the learner's terminal");
        term.control(r#"{"type":"resize","cols":80,"rows":24}"#).await;
        // 79 zeros and an X: exactly 80 columns.
        term.type_text("printf '%079dX\\n' 0\r").await;
        let line = format!("{}X", "0".repeat(79));
        term.wait_for(&line, Duration::from_secs(20)).await;

        // 560 CSS pixels: about 60 columns of xterm's 14px font, fewer than the learner's 80.
        cdp(
            &b,
            port,
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({"width": 560, "height": 800, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        log_in(&b, &base).await?;
        b.goto(&format!("{base}/instructor/workshops/{id}/learners/{lid}"))
            .await?;
        wait_js(
            &b,
            "document.getElementById('view-terminal').dataset.cols === '80'",
            Duration::from_secs(20),
        )
        .await;
        let read = r#"
            var t = window.kplabViewer, buf = t.buffer.active, lines = [];
            for (var i = 0; i < buf.length; i++) {
              var l = buf.getLine(i);
              lines.push({ text: l.translateToString(true), wrapped: l.isWrapped });
            }
            var box = document.getElementById('terms');
            return { cols: t.cols, rows: t.rows, lines: lines,
                     boxScrolls: box.scrollWidth > box.clientWidth,
                     pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
                     size: document.getElementById('term-size').textContent };"#;
        let t0 = Instant::now();
        let v = loop {
            let v = b.execute(read, vec![]).await?;
            let has = v["lines"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["text"] == line.as_str());
            if has {
                break v;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "the line never arrived whole: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!((v["cols"].as_u64(), v["rows"].as_u64()), (Some(80), Some(24)), "{v}");
        assert_eq!(v["size"], "80 × 24");
        let lines = v["lines"].as_array().unwrap();
        let at = lines.iter().position(|l| l["text"] == line.as_str()).unwrap();
        assert_eq!(lines[at]["wrapped"], false, "{v}");
        assert!(
            lines.get(at + 1).is_none_or(|l| l["wrapped"] == false),
            "the line continues on a wrapped row: {v}"
        );
        assert_eq!(v["boxScrolls"], true, "the grid scrolls inside its box: {v}");
        assert_eq!(v["pageOverflow"], 0, "the page itself does not overflow: {v}");
        let png = b.screenshot().await?;
        std::fs::write(out.join("wi-terminal-560.png"), &png).unwrap();

        // The learner's terminal grows: the view follows.
        term.control(r#"{"type":"resize","cols":100,"rows":30}"#).await;
        wait_js(
            &b,
            "window.kplabViewer && window.kplabViewer.cols === 100 && window.kplabViewer.rows === 30",
            Duration::from_secs(10),
        )
        .await;
        term.close().await;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let result = kplab_testkit::browser::close(b, &out, result).await;
    server.shutdown().await;
    result.unwrap();
}

/// The dashboard and the pages around it, over the fake runtime (learners' labs exist in
/// memory): joining is one toggle, pinning asks first and can be undone, raised hands come
/// first with a timer that ticks, destructive actions ask first (cancelling does nothing),
/// the learner's page says when the workshop ended; and at 390, 1024 and 1440 pixels the
/// dashboard, join and instructor pages do not overflow sideways (screenshots saved).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Chromium"]
async fn the_dashboard_works_and_fits_at_three_widths() {
    use kplab_testkit::fake::{FakeRuntime, Op};
    let rt = FakeRuntime::new();
    let server = Server::start_fake("wi-b-", 4, Some(TOKEN), rt.clone()).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b, port) = browser(profile.path(), (1440, 900)).await;
    let base = format!("http://{}", server.addr);
    let out = out_dir();
    let result = async {
        let teacher = workshop_support::Instructor::new(server.addr);
        let (id, code) = teacher.create("Thursday: Services and kube-proxy", 10, 0).await;
        let mut names = Vec::new();
        for name in ["Grace Hopper", "Alan Turing", "Katherine Johnson"] {
            let mut c = Client::new(server.addr);
            let j = c
                .post_json(
                    "/api/workshops/join",
                    &serde_json::json!({"code": code, "name": name}).to_string(),
                )
                .await
                .json();
            names.push((j["learner"].as_str().unwrap().to_string(), c));
        }
        // Katherine raises her hand, then Alan: both come first, Katherine on top.
        names[2].1.post_json("/api/workshops/me/hand", r#"{"raised":true}"#).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        names[1].1.post_json("/api/workshops/me/hand", r#"{"raised":true}"#).await;

        // The learner in the browser joins from the link, which names the workshop.
        b.goto(&format!("{base}/j/{code}")).await?;
        assert_eq!(text_of(&b, "h1#workshop-name").await, "Thursday: Services and kube-proxy");
        for w in [390u32, 1024, 1440] {
            fit_check(&b, port, w, &out.join(format!("wi-join-{w}.png"))).await?;
        }
        b.find(Locator::Css("#join-name")).await?.send_keys("Browser learner").await?;
        b.find(Locator::Css("button#join")).await?.click().await?;
        b.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#workshop-bar #workshop-name"))
            .await?;

        log_in(&b, &base).await?;
        b.goto(&format!("{base}/instructor/workshops/{id}")).await?;
        wait_text(&b, "#live", "live", Duration::from_secs(10)).await;
        wait_text(&b, "#hands", "2 hands up", Duration::from_secs(5)).await;
        let first_two: serde_json::Value = b
            .execute(
                "return Array.prototype.slice.call(document.querySelectorAll('#rows tr'), 0, 2).map(function (r) { return r.dataset.learner; })",
                vec![],
            )
            .await?;
        assert_eq!(first_two, serde_json::json!([names[2].0, names[1].0]), "raised hands first, longest waiting on top");
        let age = |l: &str| format!("#row-{l} .hand-age");
        let a1 = text_of(&b, &age(&names[2].0)).await;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let a2 = text_of(&b, &age(&names[2].0)).await;
        assert!(a1.ends_with(" s") && a2.ends_with(" s") && a1 != a2, "the hand's age ticks: {a1} then {a2}");
        assert!(text_of(&b, &format!("#row-{} td.hand-cell", names[2].0)).await.contains("Hand up"));
        assert_eq!(text_of(&b, &format!("#row-{} td.hand-cell", names[0].0)).await, "");

        // One joining toggle.
        let visible_toggles = "return Array.prototype.filter.call(document.querySelectorAll('[data-ws-action=close], [data-ws-action=open]'), function (e) { return !e.hidden; }).length";
        assert_eq!(b.execute(visible_toggles, vec![]).await?, serde_json::json!(1));
        b.find(Locator::Css("#joining-toggle")).await?.click().await?;
        wait_text(&b, "#ws-state", "closed", Duration::from_secs(5)).await;
        assert_eq!(text_of(&b, "#joining-toggle").await, "Reopen joining");
        assert_eq!(teacher.get(&format!("/api/workshops/{id}")).await.json()["open"], false);
        b.find(Locator::Css("#joining-toggle")).await?.click().await?;
        wait_text(&b, "#ws-state", "open", Duration::from_secs(5)).await;
        assert_eq!(text_of(&b, "#joining-toggle").await, "Close joining");
        assert_eq!(b.execute(visible_toggles, vec![]).await?, serde_json::json!(1));

        // Pinning asks first: cancelled, nothing is pinned; confirmed, it shows, and Unpin.
        b.find(Locator::Css("#broadcast")).await?.send_keys("Break until 11:00").await?;
        b.find(Locator::Css("button#pin")).await?.click().await?;
        b.dismiss_alert().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(teacher.get(&format!("/api/workshops/{id}")).await.json()["message"], "");
        b.find(Locator::Css("button#pin")).await?.click().await?;
        b.accept_alert().await?;
        wait_text(&b, "#pinned-text", "Break until 11:00", Duration::from_secs(5)).await;
        assert_eq!(teacher.get(&format!("/api/workshops/{id}")).await.json()["message"], "Break until 11:00");
        for w in [390u32, 1024, 1440] {
            fit_check(&b, port, w, &out.join(format!("wi-dashboard-{w}.png"))).await?;
        }
        b.find(Locator::Css("button#unpin")).await?.click().await?;
        wait_js(&b, "document.getElementById('pinned-now').hidden && !document.getElementById('pinned-none').hidden", Duration::from_secs(5)).await;
        assert_eq!(teacher.get(&format!("/api/workshops/{id}")).await.json()["message"], "");

        // The Copy button says what it did.
        b.find(Locator::Css("button#copy-link")).await?.click().await?;
        wait_js(&b, "document.getElementById('copy-status').textContent.length > 0", Duration::from_secs(5)).await;

        // Restarting a learner's lab asks first; cancelled, nothing happens.
        let ups = rt.calls_of(Op::Up).len();
        b.find(Locator::Css(&format!("#row-{} button[data-action=restart]", names[0].0)))
            .await?
            .click()
            .await?;
        b.dismiss_alert().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rt.calls_of(Op::Up).len(), ups, "a cancelled restart restarts nothing");

        // Ending asks first; cancelled, the workshop goes on.
        b.find(Locator::Css("button#end")).await?.click().await?;
        b.dismiss_alert().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(teacher.get(&format!("/api/workshops/{id}")).await.json()["ended"], false);

        // The learner's lab page (in a second window) says when the workshop ends.
        let dashboard = b.window().await?;
        let learner_window = b.new_window(true).await?;
        b.switch_to_window(learner_window.handle).await?;
        b.goto(&format!("{base}/w")).await?;
        b.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#workshop-bar"))
            .await?;
        b.switch_to_window(dashboard.clone()).await?;
        b.find(Locator::Css("button#end")).await?.click().await?;
        b.accept_alert().await?;
        wait_text(&b, "#ws-state", "ended", Duration::from_secs(5)).await;
        wait_js(&b, "document.getElementById('end').hidden && document.getElementById('joining-toggle').hidden && !document.getElementById('ended-note').hidden && document.getElementById('broadcast-form').hidden && !document.querySelector('td.actions button').offsetParent", Duration::from_secs(5)).await;
        fit_check(&b, port, 1024, &out.join("wi-dashboard-ended-1024.png")).await?;
        let windows = b.windows().await?;
        let other = windows.into_iter().find(|w| *w != dashboard).unwrap();
        b.switch_to_window(other).await?;
        wait_text(&b, "#workshop-ended", "This workshop has ended", Duration::from_secs(10)).await;
        wait_js(&b, "document.getElementById('raise-hand').hidden", Duration::from_secs(5)).await;
        // The lab page's own layout is another page's business: a screenshot, no fit check.
        std::fs::write(out.join("wi-learner-ended.png"), b.screenshot().await?).unwrap();
        b.close_window().await?;
        b.switch_to_window(dashboard).await?;

        // The instructor's page, with the form's errors shown, fits too.
        b.goto(&format!("{base}/instructor")).await?;
        b.find(Locator::Css("#create-form button#create")).await?.click().await?;
        b.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#form-errors"))
            .await?;
        for w in [390u32, 1024, 1440] {
            fit_check(&b, port, w, &out.join(format!("wi-instructor-{w}.png"))).await?;
        }
        println!("screenshots in {}", out.display());
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let result = kplab_testkit::browser::close(b, &out, result).await;
    server.shutdown().await;
    result.unwrap();
}

/// Sets the viewport to `width` (CSS pixels, height 900), asserts the page does not scroll
/// sideways, and saves a full-page screenshot to `png`.
async fn fit_check(
    b: &fantoccini::Client,
    port: u16,
    width: u32,
    png: &std::path::Path,
) -> CmdResult {
    cdp(
        b,
        port,
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let v = b
        .execute(
            "var d = document.documentElement; return { scroll: d.scrollWidth, client: d.clientWidth, inner: window.innerWidth };",
            vec![],
        )
        .await?;
    let shot = b.screenshot().await?;
    std::fs::write(png, &shot).unwrap();
    assert!(
        v["scroll"].as_u64() <= v["client"].as_u64(),
        "horizontal page overflow at {width}px: {v} ({})",
        png.display()
    );
    Ok(())
}
