//! The packets panel in headless Chromium against a real lab: the graph of a 3-endpoint
//! Service, counters that change after traffic (the spread form), a trace from `client` to a
//! NodePort with the DNAT and MASQUERADE hops highlighted (table and graph), and a diff after
//! scaling. Screenshot under `$CARGO_TARGET_TMPDIR/panel-browser/`. Needs Docker, the node
//! image, Chromium and chromedriver.

use kplab_testkit::browser as browser_support;
use kplab_testkit::lab as common;
use kplab_testkit::web as web_support;

use std::time::{Duration, Instant};

use browser_support::{browser, js, wait_js};
use fantoccini::Locator;
use web_support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker, root and Chromium"]
async fn the_panel_in_the_browser() {
    tokio::task::spawn_blocking(common::ensure_image)
        .await
        .unwrap();
    let _gone = common::LabsGone("pn-b-");
    let server = Server::start("pn-b-", 2).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b, _) = browser(profile.path(), (1600, 1000)).await;
    let base = format!("http://{}", server.addr);
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("panel-browser");
    std::fs::create_dir_all(&out_dir).unwrap();

    let result = async {
        b.goto(&format!("{base}/labs/00-hello")).await?;
        b.find(Locator::Css("button#start")).await?.click().await?;
        wait_js(&b, "document.getElementById('panel')", Duration::from_secs(120)).await;
        let s = server.state.store.live_sessions().await.unwrap();
        let sandbox = s[0].sandbox.clone();
        let exec = |script: &'static str| {
            let rt = server.state.runtime.clone();
            let sandbox = sandbox.clone();
            async move {
                let o = rt.exec(&sandbox, "node-1", &["sh", "-c", script]).await.unwrap();
                assert_eq!(o.code, 0, "{script}: {}", o.stderr);
                o.stdout
            }
        };
        exec("kubectl create deployment web --image=nginx --replicas=3 --port=80 >/dev/null && kubectl expose deployment web --port=80 --type=NodePort >/dev/null").await;
        let np = exec("kubectl get svc web -o jsonpath='{.spec.ports[0].nodePort}'").await;

        // The graph of the 3-endpoint Service, with pod names (which follow the endpoints by a
        // poll or two: the pod list and the rules are read separately).
        b.find(Locator::Css("#panel summary")).await?.click().await?;
        wait_js(
            &b,
            "[...document.querySelectorAll('#graph-svg g.chain.kind-sep text')].filter(t => t.textContent.startsWith('web-')).length >= 3 && [...document.querySelectorAll('#graph-svg g.chain text')].some(t => t.textContent === 'SVC default/web')",
            Duration::from_secs(60),
        )
        .await;
        let seps = js(&b, "return [...document.querySelectorAll('#graph-svg g.chain.kind-sep text')].map(t => t.textContent).filter(t => t.startsWith('web-')).length;").await;
        assert_eq!(seps, 3, "three endpoints labelled with their pods");
        let before = js(&b, "return [...document.querySelectorAll('#graph-svg g.chain.kind-svc')].map(g => g.querySelector('.count').textContent).join('|');").await;

        // Traffic: fire 30 connections from node-1; the SVC chain's counter changes and lights up.
        b.find(Locator::Css("button[data-view='spread']")).await?.click().await?;
        js(&b, "const f = document.getElementById('spread-form'); f.count.value = 30; f.from.value = 'node-1'; return 1;").await;
        b.find(Locator::Css("#spread-run")).await?.click().await?;
        wait_js(&b, "(document.getElementById('spread-p') || {}).textContent", Duration::from_secs(30)).await;
        let p = js(&b, "return document.getElementById('spread-p').textContent;").await;
        assert!(p.as_str().unwrap().contains("30/30 answered"), "{p}");
        // Polling went on during the spread: the panel saw rules count packets (they light up).
        let counted = wait_js(
            &b,
            "Number(document.getElementById('panel').dataset.counted || 0)",
            Duration::from_secs(20),
        )
        .await;
        assert!(counted.as_u64().unwrap_or(0) > 0, "{counted} (counts before: {before})");
        b.find(Locator::Css("button[data-view='graph']")).await?.click().await?;

        // A trace from client to the NodePort: DNAT and MASQUERADE hops highlighted.
        b.find(Locator::Css("button[data-view='trace']")).await?.click().await?;
        js(&b, &format!("const f = document.getElementById('trace-form'); f.from.value = 'client'; f.to.value = 'node-1'; f.port.value = {np}; return 1;")).await;
        b.find(Locator::Css("#trace-run")).await?.click().await?;
        wait_js(&b, "document.getElementById('trace-compare')", Duration::from_secs(30)).await;
        let cmp = js(&b, "return document.getElementById('trace-compare').textContent;").await;
        assert!(cmp.as_str().unwrap().contains("agree"), "{cmp}");
        assert!(js(&b, "return document.querySelectorAll('#trace-kernel tr.hop.dnat').length;").await.as_u64().unwrap() >= 1);
        assert!(js(&b, "return document.querySelectorAll('#trace-kernel tr.hop.masq').length;").await.as_u64().unwrap() >= 1);
        b.find(Locator::Css("button[data-view='graph']")).await?.click().await?;
        wait_js(&b, "document.querySelectorAll('#graph-svg g.chain.dnat').length >= 1 && document.querySelectorAll('#graph-svg g.chain.masq').length >= 1", Duration::from_secs(10)).await;
        std::fs::write(out_dir.join("trace.png"), b.screenshot().await?).unwrap();

        // Scale, then the diff from the last snapshot before scaling to the newest one shows one
        // more endpoint. (The default pair, the newest two, can be a Calico-only change: the new
        // pod's interface reaches the policy dispatch chains after kube-proxy's rules.)
        b.find(Locator::Css("button[data-view='diff']")).await?.click().await?;
        b.find(Locator::Css("#diff-refresh")).await?.click().await?;
        wait_js(&b, "[...document.getElementById('diff-to').options].some((o) => o.textContent.startsWith('node-1 '))", Duration::from_secs(30)).await;
        let before = js(&b, "const o = [...document.getElementById('diff-to').options].filter((o) => o.textContent.startsWith('node-1 ')); return o[o.length - 1].value;").await;
        let before = before.as_str().unwrap().to_string();
        exec("kubectl scale deployment web --replicas=4 >/dev/null").await;
        let t0 = Instant::now();
        loop {
            b.find(Locator::Css("#diff-refresh")).await?.click().await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            js(&b, &format!("const f = document.getElementById('diff-from'), t = document.getElementById('diff-to'); f.value = '{before}'; const o = [...t.options].filter((o) => o.textContent.startsWith('node-1 ')); t.value = o[o.length - 1].value; t.dataset.touched = '1'; return 1;")).await;
            b.find(Locator::Css("#diff-run")).await?.click().await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let t = js(&b, "return (document.getElementById('diff-services') || {}).textContent || '';").await;
            if t.as_str().unwrap_or("").contains("default/web: +1 endpoint") {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "no diff after scaling: {t}");
        }
        b.find(Locator::Css("#diff-raw-box summary")).await?.click().await?;
        std::fs::write(out_dir.join("diff.png"), b.screenshot().await?).unwrap();
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    let result = kplab_testkit::browser::close(b, &out_dir, result).await;
    server.shutdown().await;
    result.unwrap();
}
