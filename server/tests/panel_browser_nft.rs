//! The packets panel of a node whose kube-proxy runs in nftables mode, in headless Chromium over
//! the fake runtime: the node answers `iptables-save` with Calico's and kube-proxy's iptables
//! chains and `nft -j list table ip kube-proxy` with a real table (recorded from nft 1.0.6), so
//! the two graphs are drawn side by side; a model trace says the model does not follow
//! nftables verdict maps instead of guessing. Screenshots at phone, laptop and desktop widths
//! under `$CARGO_TARGET_TMPDIR/panel-browser-nft/`. Needs Chromium and chromedriver.

use std::time::Duration;

use fantoccini::Locator;
use kplab_testkit::browser::{browser, js, wait_js};
use kplab_testkit::fake::FakeRuntime;
use kplab_testkit::web::Server;

const NFT_TABLE: &str = include_str!("../src/domain/panel/testdata/nft_kube_proxy.json");
/// What `kplab-agent nftrace` printed in a container holding that table (node -> ClusterIP).
const NFTRACE: &str = include_str!("../src/domain/panel/testdata/nftrace_report_clusterip.json");

const SAVE: &str = r#"*nat
:PREROUTING ACCEPT [10:600]
:POSTROUTING ACCEPT [0:0]
:cali-PREROUTING - [0:0]
:cali-nat-outgoing - [0:0]
[12:720] -A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING
[0:0] -A POSTROUTING -j cali-nat-outgoing
COMMIT
*filter
:FORWARD ACCEPT [0:0]
:cali-FORWARD - [0:0]
:cali-tw-cali4ef16dcf0ac - [0:0]
:cali-pi-_BYE6JNvK9TX8vr2TfXd - [0:0]
[0:0] -A FORWARD -j cali-FORWARD
[0:0] -A cali-FORWARD -j cali-tw-cali4ef16dcf0ac
[0:0] -A cali-tw-cali4ef16dcf0ac -m comment --comment "cali:D6n-dw9bWtM3LY5a" -m comment --comment "Policy default/knp.default.deny-db" -j cali-pi-_BYE6JNvK9TX8vr2TfXd
[0:0] -A cali-pi-_BYE6JNvK9TX8vr2TfXd -m comment --comment "cali:bMGNduftk4MCVAVF" -m comment --comment "Policy default/knp.default.deny-db ingress: NetworkPolicy default/deny-db, 0 ingress rule(s), only sets the accept mark"
COMMIT
"#;

const OBJECTS: &str = r#"{"items":[
 {"kind":"Pod","metadata":{"namespace":"default","name":"web-a"},"spec":{"nodeName":"node-1"},"status":{"podIP":"10.244.1.2"}},
 {"kind":"Pod","metadata":{"namespace":"default","name":"web-b"},"spec":{"nodeName":"node-2"},"status":{"podIP":"10.244.2.1"}},
 {"kind":"Service","metadata":{"namespace":"default","name":"web"},"spec":{"clusterIP":"10.96.5.5","ports":[{"port":80,"protocol":"TCP","nodePort":31000}]}},
 {"kind":"Node","metadata":{"name":"node-1"},"status":{"addresses":[{"type":"InternalIP","address":"172.28.9.10"}]}}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Chromium"]
async fn an_nftables_node_is_drawn_beside_iptables_at_three_widths() {
    let rt = FakeRuntime::new();
    rt.on_exec("iptables-save", 0, SAVE);
    rt.on_exec("kube-proxy", 0, &format!("{NFT_TABLE}\n#kplab-ip6\n"));
    rt.on_exec("kubectl get", 0, OBJECTS);
    rt.on_exec("nftrace", 0, NFTRACE);
    let server = Server::start_fake("pn-n-", 4, None, rt.clone()).await;
    let base = format!("http://{}", server.addr);
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("panel-browser-nft");
    std::fs::create_dir_all(&out_dir).unwrap();
    for (name, w, h) in [
        ("phone", 390, 844),
        ("laptop", 1366, 768),
        ("desktop", 1920, 1080),
    ] {
        let profile = tempfile::tempdir().unwrap();
        let (_driver, b, _) = browser(profile.path(), (w, h)).await;
        b.goto(&format!("{base}/labs/00-hello")).await.unwrap();
        if b.find(Locator::Css("button#start")).await.is_ok() {
            b.find(Locator::Css("button#start"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
        wait_js(
            &b,
            "document.getElementById('panel')",
            Duration::from_secs(30),
        )
        .await;
        js(
            &b,
            "const p = document.getElementById('panel'); p.open = true; p.scrollIntoView(); return 1;",
        )
        .await;
        wait_js(
            &b,
            "document.querySelector('#graph-nft-svg g.chain[data-id=\"kube-proxy:@service-ips\"]')",
            Duration::from_secs(10),
        )
        .await;
        // Both graphs, with the map between the services chain and the Service's chain.
        assert!(js(&b, "return !!document.querySelector('#graph-svg g.chain[data-id=\"filter:cali-FORWARD\"]');").await == true);
        let edges = js(&b, "return [...document.querySelectorAll('#graph-nft-svg path.edge')].map(p => p.dataset.from + '>' + p.dataset.to);").await;
        let edges: Vec<String> = serde_json::from_value(edges).unwrap();
        assert!(
            edges.contains(&"kube-proxy:services>kube-proxy:@service-ips".to_string()),
            "{edges:?}"
        );
        assert!(
            edges.contains(
                &"kube-proxy:@service-ips>kube-proxy:service-SUSTUHLJ-default/web/tcp/http"
                    .to_string()
            ),
            "{edges:?}"
        );
        js(
            &b,
            "document.getElementById('panel').scrollIntoView(); return 1;",
        )
        .await;
        let status = wait_js(
            &b,
            "document.getElementById('graph-status').textContent",
            Duration::from_secs(5),
        )
        .await;
        assert!(
            status.as_str().unwrap().contains("nftables chains"),
            "{status}"
        );
        // Rules of a chain, sets and maps with elements.
        js(&b, "document.querySelector('#graph-nft-svg g.chain[data-id=\"kube-proxy:services\"]').dispatchEvent(new MouseEvent('click')); document.getElementById('nft-sets').open = true; return 1;").await;
        let rules = wait_js(
            &b,
            "document.getElementById('graph-rules').textContent",
            Duration::from_secs(5),
        )
        .await;
        assert!(
            rules.as_str().unwrap().contains("vmap @service-ips"),
            "{rules}"
        );
        let sets = wait_js(
            &b,
            "document.getElementById('nft-sets-body').textContent",
            Duration::from_secs(5),
        )
        .await;
        assert!(
            sets.as_str()
                .unwrap()
                .contains("10.96.5.5 . tcp . 80 : goto service-SUSTUHLJ-default/web/tcp/http"),
            "{sets}"
        );
        std::fs::write(
            out_dir.join(format!("{name}.png")),
            b.screenshot().await.unwrap(),
        )
        .unwrap();
        // Nothing in the panel sticks out of it (the graphs and rule lists scroll inside their
        // boxes), so the panel never widens the lab page.
        let wide = js(
            &b,
            "const p = document.getElementById('panel').getBoundingClientRect(); return [...document.querySelectorAll('#panel *')].filter(e => !e.closest('.graph, .rules') && e.getClientRects().length && e.getBoundingClientRect().right > p.right + 1).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className);",
        )
        .await;
        assert_eq!(wide, serde_json::json!([]), "{name}");

        if name == "laptop" {
            // The model tracer says it does not follow verdict maps; it does not guess.
            js(&b, "document.querySelector('.panel-tabs button[data-view=trace]').click(); const f = document.getElementById('trace-form'); f.from.value = 'node-1'; f.to.value = 'web'; f.mode.value = 'model'; return 1;").await;
            b.find(Locator::Css("#trace-run"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let msg = wait_js(&b, "document.getElementById('trace-model-unsupported') && document.getElementById('trace-model-unsupported').textContent", Duration::from_secs(10)).await;
            assert!(
                msg.as_str()
                    .unwrap()
                    .contains("does not follow nftables verdict maps yet"),
                "{msg}"
            );
            std::fs::write(
                out_dir.join("laptop-trace.png"),
                b.screenshot().await.unwrap(),
            )
            .unwrap();
            // The kernel's trace (nftrace): the map lookup lights rule -> map -> chain.
            js(
                &b,
                "document.getElementById('trace-form').mode.value = 'kernel'; return 1;",
            )
            .await;
            b.find(Locator::Css("#trace-run"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let head = wait_js(&b, "document.querySelector('#trace-kernel h3') && document.querySelector('#trace-kernel h3').textContent", Duration::from_secs(10)).await;
            assert!(head.as_str().unwrap().contains("nftrace"), "{head}");
            assert!(
                head.as_str().unwrap().contains("DNAT to 10.244.1.2:80"),
                "{head}"
            );
            let rows = js(
                &b,
                "return document.getElementById('trace-kernel').textContent;",
            )
            .await;
            assert!(
                rows.as_str().unwrap().contains("(map @service-ips)"),
                "{rows}"
            );
            std::fs::write(
                out_dir.join("laptop-kernel-trace.png"),
                b.screenshot().await.unwrap(),
            )
            .unwrap();
            js(
                &b,
                "document.querySelector('.panel-tabs button[data-view=graph]').click(); return 1;",
            )
            .await;
            wait_js(&b, "document.querySelector('#graph-nft-svg g.chain.traced[data-id=\"kube-proxy:@service-ips\"]')", Duration::from_secs(5)).await;
            wait_js(&b, "document.querySelector('#graph-nft-svg path.edge.traced[data-from=\"kube-proxy:@service-ips\"]')", Duration::from_secs(5)).await;
            js(&b, "document.getElementById('graph-nft').scrollLeft = 10000; document.getElementById('panel').scrollIntoView(); return 1;").await;
            std::fs::write(
                out_dir.join("laptop-traced-graph.png"),
                b.screenshot().await.unwrap(),
            )
            .unwrap();
        }
        b.close().await.unwrap();
    }
    eprintln!("screenshots in {}", out_dir.display());
}
