//! Benchmark of the panel's graph JSON (prints figures, asserts no timing): a node with 100
//! Services x 3 endpoints, `iptables-save -c` text -> parsed rules -> grouped graph -> JSON,
//! p50 over 30 runs, as a ratio to parsing alone (the baseline, measured in the same run).
//! The kernel trace and the 300-connection spread are timed against a real lab in
//! `panel_lab` (their figures are printed there). Run with
//! `cargo test --release -p kplab --test panel_bench -- --nocapture`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn save_text(services: usize) -> (String, BTreeMap<String, String>) {
    let mut decl = String::from("*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n");
    let mut rules = String::from("[10:600] -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n[0:0] -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n[0:0] -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n");
    let mut pods = BTreeMap::new();
    for s in 0..services {
        let svc = format!("KUBE-SVC-{s:016X}");
        let vip = format!("10.96.{}.{}", s / 250, s % 250 + 1);
        decl.push_str(&format!(":{svc} - [0:0]\n"));
        rules.push_str(&format!("[{s}:{}] -A KUBE-SERVICES -d {vip}/32 -p tcp -m comment --comment \"default/svc{s} cluster IP\" -m tcp --dport 80 -j {svc}\n", s * 60));
        let probs = ["0.33333333349", "0.50000000000"];
        for e in 0..3 {
            let sep = format!("KUBE-SEP-{s:013X}{e:03}");
            let ip = format!("10.244.{}.{}", e + 1, s % 250 + 2);
            pods.insert(ip.clone(), format!("default/svc{s}-pod{e}"));
            decl.push_str(&format!(":{sep} - [0:0]\n"));
            let stat = probs
                .get(e)
                .map(|p| format!("-m statistic --mode random --probability {p} "))
                .unwrap_or_default();
            rules.push_str(&format!("[1:60] -A {svc} -m comment --comment \"default/svc{s} -> {ip}:80\" {stat}-j {sep}\n"));
            rules.push_str(&format!("[0:0] -A {sep} -s {ip}/32 -m comment --comment \"default/svc{s}\" -j KUBE-MARK-MASQ\n"));
            rules.push_str(&format!("[1:60] -A {sep} -p tcp -m comment --comment \"default/svc{s}\" -m tcp -j DNAT --to-destination {ip}:80\n"));
        }
    }
    (format!("{decl}{rules}COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"), pods)
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn graph_json_for_100_services() {
    let (text, pods) = save_text(100);
    let runs = 30;
    let mut parse = Vec::new();
    let mut full = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let dump = netrules::save::parse(&text).unwrap();
        parse.push(t0.elapsed());
        std::hint::black_box(&dump);
        let t0 = Instant::now();
        let dump = netrules::save::parse(&text).unwrap();
        let g = kplab::domain::panel::graph::build("node-1", &dump, &pods);
        let json = serde_json::to_string(&g).unwrap();
        full.push(t0.elapsed());
        size = json.len();
        assert_eq!(g.services.len(), 100);
        assert!(g.services.iter().all(|s| s.endpoints.len() == 3));
    }
    let (base, graph) = (p50(parse), p50(full));
    println!(
        "graph JSON, 100 services x 3 endpoints ({} rules, {} KiB of JSON): p50 {:.2} ms (target < 100 ms); parsing alone {:.2} ms; ratio {:.1}x",
        text.lines().filter(|l| l.contains("-A ")).count(),
        size / 1024,
        graph.as_secs_f64() * 1000.0,
        base.as_secs_f64() * 1000.0,
        graph.as_secs_f64() / base.as_secs_f64().max(1e-9)
    );
}
