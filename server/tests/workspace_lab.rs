//! The learner's workspace in a real browser (headless Chromium): the terminal takes most of
//! the width and the split moves and is remembered; the idle countdown reads mm:ss and moves
//! back up after terminal input; an answer passes with Enter; hints come a level at a time as
//! rendered markdown; a passed step gets its ✓ and "Next step" lights up; a reset asks first
//! and says what it did; a lab broken from outside shows as lost within seconds. Screenshots
//! under `$CARGO_TARGET_TMPDIR/workspace/`. Needs Docker, the node image and Chromium.

use kplab_testkit::browser as browser_support;
use kplab_testkit::web as web_support;

use std::time::{Duration, Instant};

use browser_support::{browser, text_of, wait_text};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client as Browser, Locator};
use web_support::Server;

const ENTER: &str = "\u{E007}";
const ROWS: &str = ".term[data-host='node-1'] .xterm-rows";
const INPUT: &str = ".term[data-host='node-1'] textarea.xterm-helper-textarea";

type Step = Result<(), fantoccini::error::CmdError>;

async fn js(b: &Browser, script: &str) -> serde_json::Value {
    b.execute(script, vec![]).await.expect(script)
}

/// The countdown's seconds ("9:58" -> 598).
async fn countdown(b: &Browser) -> u64 {
    let t = text_of(b, "#countdown").await;
    let (m, s) = t
        .split_once(':')
        .unwrap_or_else(|| panic!("countdown {t:?} is not m:ss"));
    assert_eq!(s.len(), 2, "countdown {t:?} is not m:ss");
    m.parse::<u64>().unwrap() * 60 + s.parse::<u64>().unwrap()
}

/// The Docker name of this test's lab's node-1.
fn node_1_container() -> String {
    let names = std::process::Command::new("docker")
        .args(["ps", "--format", "{{.Names}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&names.stdout)
        .lines()
        .find(|n| n.contains("ws-l-") && n.ends_with("-node-1"))
        .expect("the lab's node-1 container")
        .to_string()
}

async fn shown(b: &Browser, css: &str) -> bool {
    match b.find(Locator::Css(css)).await {
        Ok(e) => e.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    }
}

async fn wait_until<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    while !f().await {
        assert!(t0.elapsed() < within, "{what} not within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn steps(b: &Browser, base: &str, out: &std::path::Path) -> Step {
    b.goto(&format!("{base}/labs/00-hello")).await?;
    b.find(Locator::Css("button#start")).await?.click().await?;
    wait_text(b, ROWS, "node-1", Duration::from_secs(90)).await;

    println!("step: layout and split");
    let widths = js(
        b,
        "return [document.getElementById('terminal-box').getBoundingClientRect().width, window.innerWidth]",
    )
    .await;
    let (term_w, win_w) = (widths[0].as_f64().unwrap(), widths[1].as_f64().unwrap());
    assert!(
        term_w >= 0.55 * win_w,
        "the terminal is {term_w} px of {win_w}: it should be the main workspace"
    );
    // The splitter moves with the keyboard and the split is remembered over a reload.
    let splitter = b.find(Locator::Css("#splitter")).await?;
    splitter.send_keys("\u{E012}\u{E012}\u{E012}").await?; // ArrowLeft x3
    assert_eq!(splitter.attr("aria-valuenow").await?.as_deref(), Some("30"));
    b.refresh().await?;
    wait_text(b, ROWS, "node-1", Duration::from_secs(30)).await;
    assert_eq!(
        b.find(Locator::Css("#splitter"))
            .await?
            .attr("aria-valuenow")
            .await?
            .as_deref(),
        Some("30")
    );

    println!("step: full screen and leaving the terminal");
    b.find(Locator::Css("#fullscreen")).await?.click().await?;
    assert!(
        !shown(b, "#text").await,
        "the text pane hides in full screen"
    );
    let wide = js(
        b,
        "return document.getElementById('terminal-box').getBoundingClientRect().width",
    )
    .await;
    assert!(
        wide.as_f64().unwrap() > term_w + 100.0,
        "{wide} vs {term_w}"
    );
    b.find(Locator::Css("#fullscreen")).await?.click().await?;
    assert!(shown(b, "#text").await);
    // Ctrl+Shift+L leaves the terminal (which keeps Tab and Esc for the shell).
    b.find(Locator::Css(INPUT)).await?.click().await?;
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: '\u{E009}' })
        .then(KeyAction::Down { value: '\u{E008}' })
        .then(KeyAction::Down { value: 'L' })
        .then(KeyAction::Up { value: 'L' })
        .then(KeyAction::Up { value: '\u{E008}' })
        .then(KeyAction::Up { value: '\u{E009}' });
    b.perform_actions(keys).await?;
    b.release_actions().await?;
    let focused = js(b, "return document.activeElement.closest('#keys') ? 'keys' : document.activeElement.className").await;
    assert_eq!(focused, "keys", "focus left the terminal");

    println!("step: countdown");
    let first = countdown(b).await;
    assert!(
        (590..=600).contains(&first),
        "countdown starts at {first} s"
    );
    wait_until("the countdown to run", Duration::from_secs(15), || async {
        countdown(b).await + 4 <= first
    })
    .await;
    let before = countdown(b).await;
    b.find(Locator::Css(INPUT))
        .await?
        .send_keys(&format!("echo active-$((3*3)){ENTER}"))
        .await?;
    wait_text(b, ROWS, "active-9", Duration::from_secs(20)).await;
    wait_until(
        "the countdown to move back up after terminal input",
        Duration::from_secs(15),
        || async { countdown(b).await > before + 2 },
    )
    .await;

    println!("step: an answer with Enter");
    b.find(Locator::Css("#task-count-nodes input[name=answer]"))
        .await?
        .send_keys(&format!("2{ENTER}"))
        .await?;
    wait_text(
        b,
        "#task-count-nodes .task-state",
        "passed",
        Duration::from_secs(20),
    )
    .await;
    // One task of two: the step is not done yet.
    assert!(!shown(b, ".step-link.current.done").await);

    println!("step: hints");
    assert!(!shown(b, "#task-create-web .hint.level").await);
    b.find(Locator::Css("#task-create-web .hint-button"))
        .await?
        .click()
        .await?;
    // Where to look first, then the command.
    assert!(shown(b, "#task-create-web .hint.level[data-level='1']").await);
    assert!(!shown(b, "#task-create-web .hint.level[data-level='2']").await);
    b.find(Locator::Css("#task-create-web .hint-button"))
        .await?
        .click()
        .await?;
    assert!(shown(b, "#task-create-web .hint.level[data-level='2']").await);
    let hint = b
        .find(Locator::Css(
            "#task-create-web .hint.level[data-level='2'] code",
        ))
        .await?
        .text()
        .await?;
    assert!(hint.contains("kubectl create deployment web"), "{hint}");

    println!("step: the step's last tasks");
    b.find(Locator::Css(INPUT))
        .await?
        .send_keys(&format!(
            "kubectl create deployment web --image=kplab/echo --replicas=2 && kubectl rollout status deployment/web --timeout=90s{ENTER}"
        ))
        .await?;
    wait_text(b, ROWS, "successfully rolled out", Duration::from_secs(90)).await;
    b.find(Locator::Css("#task-create-web button.check"))
        .await?
        .click()
        .await?;
    wait_text(
        b,
        "#task-create-web .task-state",
        "passed",
        Duration::from_secs(20),
    )
    .await;
    // The step's third task: the IP of web's pod on node-2, read here as the learner would.
    let node1 = node_1_container();
    let ip = std::process::Command::new("docker")
        .args([
            "exec",
            &node1,
            "sh",
            "-c",
            "kubectl get pods -l app=web -o wide --no-headers | awk '$7==\"node-2\" {print $6; exit}'",
        ])
        .output()
        .unwrap();
    let ip = String::from_utf8_lossy(&ip.stdout).trim().to_string();
    assert!(!ip.is_empty(), "web has a pod on node-2");
    b.find(Locator::Css("#task-pod-node-2 input[name=answer]"))
        .await?
        .send_keys(&format!("{ip}{ENTER}"))
        .await?;
    wait_text(
        b,
        "#task-pod-node-2 .task-state",
        "passed",
        Duration::from_secs(20),
    )
    .await;
    assert!(shown(b, ".step-link.current.done").await, "the step's ✓");
    let next = b.find(Locator::Css("#next-step")).await?;
    assert!(next
        .attr("class")
        .await?
        .unwrap_or_default()
        .contains("primary"));
    std::fs::write(out.join("lab-step-done.png"), b.screenshot().await?).unwrap();

    println!("step: a reset asks first");
    b.find(Locator::Css("#reset-step")).await?.click().await?;
    assert!(shown(b, "dialog#confirm").await, "a confirmation");
    let question = text_of(b, "#confirm-text").await;
    assert!(question.contains("Reset step 1"), "{question}");
    std::fs::write(out.join("lab-confirm.png"), b.screenshot().await?).unwrap();
    b.find(Locator::Css("#confirm-cancel"))
        .await?
        .click()
        .await?;
    assert!(!shown(b, "dialog#confirm").await);
    assert!(!b.current_url().await?.as_str().contains("done="));
    b.find(Locator::Css("#reset-step")).await?.click().await?;
    b.find(Locator::Css("#confirm-ok")).await?.click().await?;
    wait_text(b, "#notice", "Step 1 was reset", Duration::from_secs(60)).await;

    println!("step: a lab lost from outside");
    wait_text(b, ROWS, "node-1", Duration::from_secs(30)).await;
    let node1 = node_1_container();
    let t0 = Instant::now();
    assert!(std::process::Command::new("docker")
        .args(["rm", "-f", &node1])
        .status()
        .unwrap()
        .success());
    wait_text(b, "#lost", "stopped working", Duration::from_secs(20)).await;
    println!("lab lost -> page says so: {} ms", t0.elapsed().as_millis());
    std::fs::write(out.join("lab-lost.png"), b.screenshot().await?).unwrap();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker, root and Chromium"]
async fn the_workspace_guides_a_learner() {
    let server = Server::start("ws-l-", 2).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b, _) = browser(profile.path(), (1440, 900)).await;
    let base = format!("http://{}", server.addr);
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("workspace");
    std::fs::create_dir_all(&out).unwrap();
    let result = match tokio::time::timeout(Duration::from_secs(300), steps(&b, &base, &out)).await
    {
        Ok(r) => r,
        Err(_) => panic!("the browser steps took over 300 s"),
    };
    let result = browser_support::close(b, &out, result).await;
    server.shutdown().await;
    result.unwrap();
}
