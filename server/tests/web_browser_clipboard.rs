//! The terminal in a real browser (headless Chromium from Debian's `chromium` and
//! `chromium-driver`): switching tabs node-1 -> node-2 -> client reaches each host's shell;
//! text selected with the mouse is copied with Ctrl+Shift+C and with the context menu (it is
//! then in the clipboard), and pasted with Ctrl+Shift+V, Ctrl+V and the context menu, where the pasted
//! command runs. The clipboard permissions are granted to the page through chromedriver's CDP
//! bridge, as a learner's "allow" would. Saves a screenshot under
//! `$CARGO_TARGET_TMPDIR/web-browser/`. Needs Docker, the node image and Chromium.

use kplab_testkit::browser as browser_support;
use kplab_testkit::web as web_support;

use std::time::{Duration, Instant};

use browser_support::{browser, cdp, text_of, wait_text};
use fantoccini::actions::{
    InputSource, KeyAction, KeyActions, MouseActions, PointerAction, MOUSE_BUTTON_LEFT,
    MOUSE_BUTTON_RIGHT,
};
use fantoccini::{Client as Browser, Locator};
use web_support::Server;

const ENTER: &str = "\u{E007}";
const CONTROL: char = '\u{E009}';
const SHIFT: char = '\u{E008}';

fn rows(host: &str) -> String {
    format!(".term[data-host='{host}'] .xterm-rows")
}

async fn type_in(b: &Browser, host: &str, keys: &str) -> Result<(), fantoccini::error::CmdError> {
    b.find(Locator::Css(&format!(
        ".term[data-host='{host}'] textarea.xterm-helper-textarea"
    )))
    .await?
    .send_keys(keys)
    .await
}

/// Ctrl+Shift+`key` as a learner presses it.
async fn ctrl_shift(b: &Browser, key: char) -> Result<(), fantoccini::error::CmdError> {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: CONTROL })
        .then(KeyAction::Down { value: SHIFT })
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key })
        .then(KeyAction::Up { value: SHIFT })
        .then(KeyAction::Up { value: CONTROL });
    b.perform_actions(keys).await?;
    b.release_actions().await
}

/// Ctrl+`key` as a learner presses it.
async fn ctrl(b: &Browser, key: char) -> Result<(), fantoccini::error::CmdError> {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: CONTROL })
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key })
        .then(KeyAction::Up { value: CONTROL });
    b.perform_actions(keys).await?;
    b.release_actions().await
}

/// Selects, by dragging the mouse over it, the terminal row whose text is exactly `line`
/// (the last such row).
async fn select_row(
    b: &Browser,
    host: &str,
    line: &str,
) -> Result<(), fantoccini::error::CmdError> {
    let t0 = Instant::now();
    let row = loop {
        let mut found = None;
        for r in b
            .find_all(Locator::Css(&format!("{} > div", rows(host))))
            .await?
        {
            let t = r.text().await?.replace('\u{a0}', " ");
            if t.trim() == line {
                found = Some(r);
            }
        }
        if let Some(r) = found {
            break r;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no row {line:?} in {host}'s terminal:\n{}",
            text_of(b, &rows(host)).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (_, _, w, _) = row.rectangle().await?;
    // From the row's first cell to well past the text's end (trailing blanks are trimmed).
    let width = line.chars().count() as f64;
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: row.clone(),
            duration: None,
            x: -w / 2.0 + 2.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: row.clone(),
            duration: Some(Duration::from_millis(100)),
            x: -w / 2.0 + (w / 4.0).max(width * 12.0),
            y: 0.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    b.perform_actions(mouse).await?;
    b.release_actions().await
}

async fn right_click(b: &Browser, host: &str) -> Result<(), fantoccini::error::CmdError> {
    let screen = b
        .find(Locator::Css(&format!(
            ".term[data-host='{host}'] .xterm-screen"
        )))
        .await?;
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: screen,
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_RIGHT,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_RIGHT,
        });
    b.perform_actions(mouse).await?;
    b.release_actions().await
}

async fn clipboard(b: &Browser) -> String {
    let v = b
        .execute_async(
            "var done = arguments[arguments.length - 1];\
             navigator.clipboard.readText().then(done, function (e) { done('ERROR ' + e); });",
            vec![],
        )
        .await
        .unwrap();
    v.as_str().unwrap_or_default().to_string()
}

async fn wait_clipboard(b: &Browser, want: &str) {
    let t0 = Instant::now();
    loop {
        let got = clipboard(b).await;
        if got == want {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the clipboard has {got:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker, root and Chromium"]
async fn terminal_tabs_copy_and_paste_work_in_the_browser() {
    let server = Server::start("wb-c-", 2).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b, driver_port) = browser(profile.path(), (1400, 900)).await;
    let base = format!("http://{}", server.addr);
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-browser");
    std::fs::create_dir_all(&out_dir).unwrap();

    let steps = async {
        cdp(
            &b,
            driver_port,
            "Browser.grantPermissions",
            serde_json::json!({
                "origin": base,
                "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
            }),
        )
        .await;
        b.goto(&format!("{base}/labs/00-hello")).await?;
        b.find(Locator::Css("button#start")).await?.click().await?;
        wait_text(&b, &rows("node-1"), "node-1", Duration::from_secs(90)).await;

        println!("step: tabs");
        // Tabs: each reaches its own host's shell; only the chosen terminal is shown.
        for host in ["node-1", "node-2", "client"] {
            b.find(Locator::Css(&format!(
                ".tabs button.tab[data-host='{host}']"
            )))
            .await?
            .click()
            .await?;
            wait_text(&b, &rows(host), host, Duration::from_secs(30)).await;
            type_in(&b, host, &format!("echo H=$(hostname)-$((20+3)){ENTER}")).await?;
            wait_text(
                &b,
                &rows(host),
                &format!("H={host}-23"),
                Duration::from_secs(20),
            )
            .await;
            let active = b
                .find(Locator::Css(".tabs button.tab.active"))
                .await?
                .attr("data-host")
                .await?;
            assert_eq!(active.as_deref(), Some(host));
            for other in ["node-1", "node-2", "client"] {
                if let Ok(t) = b
                    .find(Locator::Css(&format!(".term[data-host='{other}']")))
                    .await
                {
                    assert_eq!(t.is_displayed().await?, other == host, "{other} shown?");
                }
            }
        }
        // Each shell kept its own output.
        assert!(!text_of(&b, &rows("node-1")).await.contains("H=client-23"));

        println!("step: Ctrl+Shift+C/V");
        // Ctrl+Shift+C copies the mouse selection; Ctrl+Shift+V pastes it and it runs.
        let host = "client";
        type_in(&b, host, &format!("echo 'echo COPIED-$((40+2))'{ENTER}")).await?;
        select_row(&b, host, "echo COPIED-$((40+2))").await?;
        ctrl_shift(&b, 'C').await?;
        wait_clipboard(&b, "echo COPIED-$((40+2))").await;
        ctrl_shift(&b, 'V').await?;
        type_in(&b, host, ENTER).await?;
        wait_text(&b, &rows(host), "COPIED-42", Duration::from_secs(20)).await;
        // Ctrl+Shift+V pastes what another program put in the clipboard, once.
        b.execute_async(
            "var done = arguments[arguments.length - 1];\
             navigator.clipboard.writeText('echo FROM-OUTSIDE-$((7*7))').then(done, done);",
            vec![],
        )
        .await?;
        ctrl_shift(&b, 'V').await?;
        type_in(&b, host, ENTER).await?;
        wait_text(&b, &rows(host), "FROM-OUTSIDE-49", Duration::from_secs(20)).await;
        let shown = text_of(&b, &rows(host)).await;
        assert!(!shown.contains("$((7*7))echo"), "pasted twice:\n{shown}");

        println!("step: Ctrl+V");
        // Plain Ctrl+V pastes too (readline's quoted-insert would turn it into ^V and garble
        // the next paste), once, with no bracketed-paste markers left on the line.
        b.execute_async(
            "var done = arguments[arguments.length - 1];\
             navigator.clipboard.writeText('echo CTRL-V-$((8*8))').then(done, done);",
            vec![],
        )
        .await?;
        ctrl(&b, 'v').await?;
        type_in(&b, host, ENTER).await?;
        wait_text(&b, &rows(host), "CTRL-V-64", Duration::from_secs(20)).await;
        let shown = text_of(&b, &rows(host)).await;
        assert!(
            !shown.contains("200~"),
            "bracketed-paste markers shown:\n{shown}"
        );
        assert!(!shown.contains("$((8*8))echo"), "pasted twice:\n{shown}");

        println!("step: context menu");
        // The context menu: with a selection it copies, without one it pastes.
        type_in(&b, host, &format!("echo 'echo MENU-$((50+5))'{ENTER}")).await?;
        select_row(&b, host, "echo MENU-$((50+5))").await?;
        right_click(&b, host).await?;
        wait_clipboard(&b, "echo MENU-$((50+5))").await;
        right_click(&b, host).await?;
        type_in(&b, host, ENTER).await?;
        wait_text(&b, &rows(host), "MENU-55", Duration::from_secs(20)).await;

        let png = b.screenshot().await?;
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(out_dir.join("clipboard.png"), &png).unwrap();
        Ok::<(), fantoccini::error::CmdError>(())
    };
    // Bounded: a hung browser fails the test instead of holding CI.
    let steps = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(steps));
    let result = match tokio::time::timeout(Duration::from_secs(240), steps).await {
        Ok(Ok(r)) => r.map_err(|e| e.to_string()),
        Ok(Err(panic)) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a step panicked".into())),
        Err(_) => Err("the browser steps took over 240 s".to_string()),
    };
    if result.is_err() {
        if let Ok(png) = b.screenshot().await {
            let _ = std::fs::write(out_dir.join("clipboard-failure.png"), png);
        }
    }
    let _ = b.close().await;
    server.shutdown().await;
    result.unwrap();
}
