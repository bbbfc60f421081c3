//! Benchmark of the enforcer's sync (render + `iptables-save` + `iptables-restore --noflush`)
//! on a real nft-backed filter table in a scratch network namespace (`np-bench`): 100 pods in
//! 10 namespaces over two nodes, 50 NetworkPolicies; after the initial sync, one pod label
//! changes and the node re-syncs. Prints render and apply times (median of 15) and the size of
//! the filter table, and reports the figures against the 100 ms target (only correctness is asserted).
//!
//! Needs root: `cargo test -p kplab-agent --test policy_bench -- --ignored --nocapture`.

use std::fs::File;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use kplab_agent::kube::iptables::Iptables;
use kplab_agent::policy::sync::Enforcer;
use netrules::netpol::objects::{Cluster, NamedPort, Namespace, NetworkPolicy, Pod, Protocol};
use serde_json::json;

fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        nix::sched::setns(
            File::open(&path).unwrap(),
            nix::sched::CloneFlags::CLONE_NEWNET,
        )
        .unwrap();
        f()
    })
    .join()
    .expect("netns thread")
}

fn synthetic() -> Cluster {
    let mut c = Cluster::default();
    for n in 0..10 {
        let ns = format!("team-{n}");
        c.namespaces.push(Namespace::new(
            &ns,
            &[("tier", if n % 2 == 0 { "front" } else { "back" })],
        ));
        for p in 0..10 {
            let i = n * 10 + p;
            c.pods.push(Pod {
                namespace: ns.clone(),
                name: format!("web-{p}"),
                labels: [
                    ("app".to_string(), format!("app-{}", p % 4)),
                    (
                        "role".to_string(),
                        if p % 3 == 0 { "db" } else { "web" }.to_string(),
                    ),
                ]
                .into_iter()
                .collect(),
                ip: Some(Ipv4Addr::new(10, 244, 1 + (i % 2) as u8, 10 + i as u8)),
                node: format!("node-{}", 1 + i % 2),
                host_network: false,
                ports: vec![NamedPort {
                    name: "http".into(),
                    port: 8080,
                    protocol: Protocol::Tcp,
                }],
            });
        }
    }
    for k in 0..50 {
        let ns = format!("team-{}", k % 10);
        let spec = match k % 5 {
            0 => {
                json!({"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "web"}}}], "ports": [{"port": 5432}]}]})
            }
            1 => {
                json!({"podSelector": {"matchLabels": {"app": format!("app-{}", k % 4)}}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"tier": "front"}}}], "ports": [{"port": "http"}]}]})
            }
            2 => {
                json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"role": "db"}}}]}, {"ports": [{"port": 53, "protocol": "UDP"}]}]})
            }
            3 => {
                json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["app-1", "app-2"]}]}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}}]}]})
            }
            _ => {
                json!({"podSelector": {"matchLabels": {"role": "web"}}, "ingress": [{"ports": [{"port": 80, "endPort": 90}]}]})
            }
        };
        c.policies.push(
            NetworkPolicy::from_value(
                &json!({"metadata": {"name": format!("pol-{k}"), "namespace": ns}, "spec": spec}),
            )
            .unwrap(),
        );
    }
    c
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark"]
fn label_change_resync_with_100_pods_and_50_policies() {
    let _ = Command::new("ip")
        .args(["netns", "del", "np-bench"])
        .status();
    assert!(Command::new("ip")
        .args(["netns", "add", "np-bench"])
        .status()
        .unwrap()
        .success());
    let result = std::panic::catch_unwind(|| {
        in_netns("np-bench", || {
            let mut c = synthetic();
            let mut e = Enforcer::new("node-1".into(), Iptables::default());
            let first = e.sync(&c).expect("initial sync");
            assert!(first.applied);
            let mut render = Vec::new();
            let mut apply = Vec::new();
            let mut total = Vec::new();
            let mut bytes = 0;
            for round in 0..15 {
                // One label change: web-3 of team-0 flips between role=db and role=web.
                let p = c
                    .pods
                    .iter_mut()
                    .find(|p| p.key() == "team-0/web-3")
                    .unwrap();
                p.labels.insert(
                    "role".into(),
                    if round % 2 == 0 { "web" } else { "db" }.into(),
                );
                let t = Instant::now();
                let r = e.sync(&c).expect("resync");
                total.push(t.elapsed());
                assert!(r.applied, "a label change must change the rules");
                render.push(r.render);
                apply.push(r.apply);
                bytes = r.restore_bytes;
            }
            let unchanged = e.resync(&c).unwrap();
            assert!(!unchanged.applied, "nothing changed: no restore");
            let save = Iptables::default().save(Some("filter")).unwrap();
            let rules = save.lines().filter(|l| l.starts_with("-A ")).count();
            let chains = save.lines().filter(|l| l.starts_with(':')).count();
            eprintln!(
                "100 pods (50 on this node), 50 policies: filter table {rules} rules in {chains} chains ({} bytes of iptables-save); \
                 one label change: render {:.1} ms, iptables-restore {:.1} ms, total {:.1} ms (median of 15), restore input {bytes} bytes; no-op resync (iptables-save + compare) {:.1} ms",
                save.len(),
                median(render).as_secs_f64() * 1e3,
                median(apply).as_secs_f64() * 1e3,
                median(total.clone()).as_secs_f64() * 1e3,
                unchanged.apply.as_secs_f64() * 1e3
            );
            // The 100 ms target is reported, not asserted: a timed assertion fails on a slow
            // day (CI machines are shared and noisy); the figures go in the closing note.
            let m = median(total);
            let target = Duration::from_millis(100);
            eprintln!(
                "re-render + apply: {:.1} ms = {:.2} x the 100 ms target ({})",
                m.as_secs_f64() * 1e3,
                m.as_secs_f64() / target.as_secs_f64(),
                if m < target { "met" } else { "MISSED" }
            );
        })
    });
    let _ = Command::new("ip")
        .args(["netns", "del", "np-bench"])
        .status();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
