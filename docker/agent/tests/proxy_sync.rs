//! kube-proxy sync loop against the real `iptables-restore` (nft backend), each test in its own
//! throwaway network namespace: the test binary re-runs itself under `unshare --net`. They need
//! root, so they are ignored in plain `cargo test`; the README's test command runs them as root
//! (`--include-ignored`), and there they fail, never skip, without it.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kplab_agent::kube::informer::Store;
use kplab_agent::kube::iptables::{strip_save_comments, Iptables};
use kplab_agent::proxy::netrules_planner::NetrulesPlanner;
use kplab_agent::proxy::planner::ObjectSet;
use kplab_agent::proxy::sync::{run_canary_monitor, run_loop, Signal, SyncEngine, SyncSettings};
use serde_json::{json, Value};

/// Runs `body` in a fresh network namespace: re-executes this test binary for test `name` under
/// `unshare --net`, and fails with the child's output if it fails.
fn in_netns(name: &str, body: impl FnOnce()) {
    if std::env::var("KP_IN_NETNS").as_deref() == Ok(name) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(exe)
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KP_IN_NETNS", name)
        .output()
        .expect("run unshare (util-linux) to get a network namespace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "test {name} in a new network namespace failed (needs root: unshare --net + iptables)\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

fn service(ns: &str, name: &str, ip: &str, port: u16) -> Value {
    json!({"apiVersion":"v1","kind":"Service",
        "metadata":{"name":name,"namespace":ns,"resourceVersion":"1"},
        "spec":{"type":"ClusterIP","clusterIP":ip,"clusterIPs":[ip],
                "ports":[{"name":"http","port":port,"protocol":"TCP","targetPort":8080}]}})
}

fn slice(ns: &str, svc: &str, rv: &str, ips: &[&str]) -> Value {
    let eps: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"addresses":[ip],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node-2"}))
        .collect();
    json!({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
        "metadata":{"name":format!("{svc}-abcde"),"namespace":ns,"resourceVersion":rv,
                    "labels":{"kubernetes.io/service-name":svc}},
        "addressType":"IPv4","endpoints":eps,
        "ports":[{"name":"http","port":8080,"protocol":"TCP"}]})
}

fn node() -> Value {
    json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1","labels":{"kubernetes.io/hostname":"node-1"}},
        "spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]},
        "status":{"addresses":[{"type":"InternalIP","address":"172.28.5.10"},{"type":"Hostname","address":"node-1"}]}})
}

fn engine() -> SyncEngine<NetrulesPlanner> {
    let flags = netrules::kubeproxy::Flags {
        cluster_cidr: "10.244.0.0/16".into(),
        ..Default::default()
    };
    let planner = NetrulesPlanner::new(flags, "node-1").expect("valid flags");
    SyncEngine::new(
        planner,
        Iptables::default(),
        SyncSettings {
            sync_period: Duration::from_secs(30),
            dry_run: false,
        },
    )
}

fn save() -> String {
    strip_save_comments(&Iptables::default().save(None).expect("iptables-save"))
}

fn nat_chains() -> BTreeSet<String> {
    Iptables::default()
        .chains("nat")
        .expect("iptables-save -t nat")
}

fn declared_chains(restore: &str) -> BTreeSet<String> {
    restore
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect()
}

const WEB: &str = "KUBE-SVC-CDGGSHYLG3RE2FKL";

/// What `iptables-save` shows on a node after kube-proxy's first full sync of one ClusterIP
/// service `default/web` (10.96.0.20:80 → 10.244.2.6:8080, 10.244.2.7:8080) and one with no
/// endpoints (`default/db`), written out by hand from what upstream kube-proxy writes (the jump
/// rules from the built-in chains in reverse insertion order, the fixed KUBE-* chains, the
/// per-service rules, and iptables-save's formatting). Chain
/// hashes: h16("default/web:httptcp") = CDGGSHYLG3RE2FKL, h16(…"10.244.2.6:8080") =
/// 3OLK2YUW6LHBC4UX, h16(…"10.244.2.7:8080") = 2RIJ5GIYXEFH6G4D (base32 of SHA-256).
const EXPECTED_SAVE: &str = r#"*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-PROXY-CANARY - [0:0]
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-SERVICES -d 10.96.0.30/32 -p tcp -m comment --comment "default/db:http has no endpoints" -m tcp --dport 5432 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-SEP-2RIJ5GIYXEFH6G4D - [0:0]
:KUBE-SEP-3OLK2YUW6LHBC4UX - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-2RIJ5GIYXEFH6G4D -s 10.244.2.7/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-2RIJ5GIYXEFH6G4D -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.7:8080
-A KUBE-SEP-3OLK2YUW6LHBC4UX -s 10.244.2.6/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-3OLK2YUW6LHBC4UX -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.6:8080
-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-CDGGSHYLG3RE2FKL ! -s 10.244.0.0/16 -d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.6:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-3OLK2YUW6LHBC4UX
-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.7:8080" -j KUBE-SEP-2RIJ5GIYXEFH6G4D
COMMIT
"#;

fn two_services(web_ips: &[&str], rv: &str) -> ObjectSet {
    ObjectSet {
        services: vec![
            service("default", "db", "10.96.0.30", 5432),
            service("default", "web", "10.96.0.20", 80),
        ],
        slices: vec![slice("default", "web", rv, web_ips)],
        nodes: vec![node()],
    }
}

#[test]
#[ignore = "needs root"]
fn full_sync_shows_what_kube_proxy_shows() {
    in_netns("full_sync_shows_what_kube_proxy_shows", || {
        let mut e = engine();
        e.set_objects(&two_services(&["10.244.2.7", "10.244.2.6"], "1"));
        let r = e.sync().expect("first sync");
        assert!(r.full);
        assert_eq!(r.num_services, 2);
        assert_eq!(r.num_endpoints, 2);
        assert_eq!(
            r.inserted_jumps, 14,
            "all jump rules from the built-in chains inserted on a clean node"
        );
        let got = save();
        assert_eq!(
            got, EXPECTED_SAVE,
            "iptables-save after the first sync:\n{got}"
        );
        // A second full sync changes nothing (idempotent: jump rules are checked, not re-added).
        e.request_full_sync("test");
        let r2 = e.sync().expect("second full sync");
        assert!(r2.full);
        assert_eq!(r2.inserted_jumps, 0);
        assert_eq!(save(), EXPECTED_SAVE);
    });
}

#[test]
#[ignore = "needs root"]
fn partial_sync_rewrites_only_the_changed_service_and_removes_stale_chains() {
    in_netns(
        "partial_sync_rewrites_only_the_changed_service_and_removes_stale_chains",
        || {
            let mut e = engine();
            let mut objs = two_services(&["10.244.2.6", "10.244.2.7"], "1");
            objs.services
                .push(service("default", "api", "10.96.0.40", 8080));
            objs.slices
                .push(slice("default", "api", "1", &["10.244.1.9"]));
            e.set_objects(&objs);
            e.sync().expect("first sync");
            let before = nat_chains();
            let text = save();
            // The chains holding rules commented for default/api (its SVC and SEP chains).
            let api_chains: BTreeSet<String> = text
                .lines()
                .filter(|l| l.contains("--comment \"default/api:http"))
                .filter_map(|l| l.strip_prefix("-A "))
                .filter_map(|l| l.split(' ').next())
                .filter(|c| *c != "KUBE-SERVICES")
                .map(str::to_string)
                .collect();
            assert_eq!(
                api_chains.len(),
                2,
                "api has an SVC and a SEP chain: {before:?}"
            );

            // One endpoint of web changes (scale: .2.7 goes, .2.8 comes).
            objs.slices[0] = slice("default", "web", "2", &["10.244.2.6", "10.244.2.8"]);
            e.set_objects(&objs);
            let r = e.sync().expect("partial sync");
            assert!(!r.full, "second sync is partial");
            let declared = declared_chains(&r.restore_text);
            assert!(
                declared.contains(WEB),
                "web's SVC chain rewritten: {declared:?}"
            );
            for c in &api_chains {
                assert!(
                    !declared.contains(c),
                    "unchanged api chain {c} not in the partial payload"
                );
            }
            assert_eq!(
                r.deleted_chains, 1,
                "the .2.7 endpoint's chain is stale:\n{}",
                r.restore_text
            );
            let after = nat_chains();
            for c in &api_chains {
                assert!(after.contains(c), "api chain {c} kept by --noflush");
            }
            let text = save();
            assert!(text.contains("--to-destination 10.244.2.8:8080"));
            assert!(
                !text.contains("10.244.2.7"),
                "stale endpoint chain removed:\n{text}"
            );

            // Deleting the api service removes all of its chains.
            objs.services.retain(|s| s["metadata"]["name"] != "api");
            objs.slices.retain(|s| s["metadata"]["name"] != "api-abcde");
            e.set_objects(&objs);
            let r = e.sync().expect("sync after delete");
            assert_eq!(r.deleted_chains, api_chains.len());
            let after = nat_chains();
            for c in &api_chains {
                assert!(!after.contains(c), "deleted service's chain {c} removed");
            }
        },
    );
}

#[test]
#[ignore = "needs root"]
fn flushed_tables_come_back_through_the_canary() {
    in_netns("flushed_tables_come_back_through_the_canary", || {
        let ipt = Iptables::default();
        let mut e = engine();
        e.set_objects(&two_services(&["10.244.2.6", "10.244.2.7"], "1"));
        e.sync().expect("first sync");
        let good = save();
        assert!(e.canaries_present());

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            run_canary_monitor(Iptables::default(), Duration::from_millis(200), tx)
        });
        // A learner flushes the nat table (rules and user chains).
        let out = Command::new("sh")
            .arg("-c")
            .arg("iptables -w -t nat -F && iptables -w -t nat -X")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(!ipt.chains("nat").unwrap().contains("KUBE-SERVICES"));
        let sig = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("monitor notices");
        assert!(matches!(sig, Signal::ForceFull(_)), "{sig:?}");
        e.request_full_sync("canary chain missing");
        let r = e.sync().expect("resync");
        assert!(r.full);
        assert_eq!(save(), good, "the full resync restores everything");
    });
}

#[test]
#[ignore = "needs root"]
fn failed_restore_keeps_previous_rules_and_reports_stderr() {
    in_netns(
        "failed_restore_keeps_previous_rules_and_reports_stderr",
        || {
            let mut e = engine();
            e.set_objects(&two_services(&["10.244.2.6", "10.244.2.7"], "1"));
            e.sync().expect("first sync");
            let good = save();

            e.set_objects(&two_services(&["10.244.2.6", "10.244.2.9"], "2"));
            e.inject_fault(Some("-A KUBE-SERVICES -j KUBE-NO-SUCH-CHAIN".into()));
            let err = e
                .sync()
                .expect_err("restore with a jump to a missing chain fails");
            let msg = err.to_string();
            assert!(msg.contains("iptables-restore"), "{msg}");
            assert!(
                !err.0.stderr.is_empty() && msg.contains(&err.0.stderr),
                "stderr is carried: {err:?}"
            );
            assert!(
                err.0.stderr.contains("line"),
                "iptables-restore names the failing line: {}",
                err.0.stderr
            );
            assert_eq!(save(), good, "nat unchanged (atomic)");

            e.inject_fault(None);
            let r = e.sync().expect("next sync works");
            assert!(r.full, "a failed restore forces a full sync");
            let text = save();
            assert!(text.contains("10.244.2.9:8080") && !text.contains("10.244.2.7"));
        },
    );
}

#[test]
#[ignore = "needs root"]
fn loop_resyncs_periodically_and_rate_limits() {
    in_netns("loop_resyncs_periodically_and_rate_limits", || {
        let store = Arc::new(Mutex::new(Store::default()));
        {
            let objs = two_services(&["10.244.2.6", "10.244.2.7"], "1");
            let mut s = store.lock().unwrap();
            s.replace("Service", objs.services);
            s.replace("EndpointSlice", objs.slices);
            s.replace("Node", objs.nodes);
        }
        let (tx, rx) = mpsc::channel();
        let st = store.clone();
        let flags = netrules::kubeproxy::Flags {
            cluster_cidr: "10.244.0.0/16".into(),
            ..Default::default()
        };
        std::thread::spawn(move || {
            let planner = NetrulesPlanner::new(flags, "node-1").unwrap();
            let mut e = SyncEngine::new(
                planner,
                Iptables::default(),
                SyncSettings {
                    sync_period: Duration::from_millis(1500),
                    dry_run: false,
                },
            );
            run_loop(
                &mut e,
                st,
                rx,
                Duration::from_millis(250),
                Duration::from_millis(1500),
            );
        });
        tx.send(Signal::Changed).unwrap();
        let wait_for = |what: &str, f: &dyn Fn(&str) -> bool, limit: Duration| {
            let start = Instant::now();
            loop {
                let s = save();
                if f(&s) {
                    return start.elapsed();
                }
                assert!(
                    start.elapsed() < limit,
                    "timed out waiting for {what}:\n{s}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        wait_for(
            "first sync",
            &|s| s.contains("10.244.2.7:8080"),
            Duration::from_secs(5),
        );

        // Scale: a burst of endpoint changes; the last state must show within a second.
        for (i, ips) in [
            vec!["10.244.2.6", "10.244.2.7", "10.244.1.3"],
            vec!["10.244.2.6", "10.244.2.7", "10.244.1.3", "10.244.1.4"],
            vec![
                "10.244.2.6",
                "10.244.2.7",
                "10.244.1.3",
                "10.244.1.4",
                "10.244.2.8",
            ],
        ]
        .iter()
        .enumerate()
        {
            let objs = two_services(ips, &format!("{}", i + 2));
            store.lock().unwrap().replace("EndpointSlice", objs.slices);
            tx.send(Signal::Changed).unwrap();
            std::thread::sleep(Duration::from_millis(30));
        }
        let took = wait_for(
            "5 endpoints",
            &|s| s.contains("10.244.2.8:8080"),
            Duration::from_secs(1),
        );
        assert!(took < Duration::from_secs(1), "{took:?}");

        // A learner deletes a KUBE-SEP DNAT rule by hand: the periodic full sync restores it.
        let text = save();
        let rule = text
            .lines()
            .find(|l| l.contains("--to-destination 10.244.1.3:8080"))
            .unwrap()
            .to_string();
        let del = rule.replacen("-A ", "-D ", 1);
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("iptables -w -t nat {del}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(!save().contains("--to-destination 10.244.1.3:8080"));
        wait_for(
            "the periodic full sync",
            &|s| s.contains("--to-destination 10.244.1.3:8080"),
            Duration::from_secs(4),
        );
        drop(tx);
    });
}

/// The lab API server in-process on 127.0.0.1:0 of the current network namespace (runs until
/// the test process exits).
fn api_server() -> String {
    let dir = tempfile::tempdir().unwrap().keep();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            kplab_agent::apiserver::serve_with_shutdown(
                l,
                dir,
                kplab_agent::apiserver::Config::default(),
                std::future::pending(),
            )
            .await
            .unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

/// Kills the kube-proxy child this test started, even when an assertion fails.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs root"]
fn end_to_end_over_the_lab_api() {
    in_netns("end_to_end_over_the_lab_api", || {
        use kplab_agent::kube::client::{ApiClient, ENDPOINT_SLICES, SERVICES};
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
        let api = api_server();
        let client = ApiClient::new(&api);
        client
            .create(
                &SERVICES,
                Some("default"),
                &service("default", "web", "10.96.0.50", 80),
            )
            .unwrap();
        client
            .create(
                &ENDPOINT_SLICES,
                Some("default"),
                &slice("default", "web", "1", &["10.244.2.6", "10.244.2.7"]),
            )
            .unwrap();
        let bin = env!("CARGO_BIN_EXE_kplab-agent");

        // One-shot dry run: prints the payload, touches nothing.
        let out = Command::new(bin)
            .args(["kube-proxy", "--once", "--dry-run", "--master", &api])
            .args([
                "--hostname-override",
                "node-1",
                "--cluster-cidr",
                "10.244.0.0/16",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(
            stdout.starts_with("*filter\n") && stdout.contains("\n*nat\n"),
            "{stdout}"
        );
        assert!(
            stdout.contains("--to-destination 10.244.2.7:8080"),
            "{stdout}"
        );
        assert!(
            !save().contains("KUBE-SERVICES"),
            "--dry-run applied nothing"
        );

        let log_path = std::env::temp_dir().join(format!("kp-e2e-{}.log", std::process::id()));
        let log = std::fs::File::create(&log_path).unwrap();
        let _child = Child(
            Command::new(bin)
                .args([
                    "kube-proxy",
                    "--master",
                    &api,
                    "--hostname-override",
                    "node-1",
                ])
                .args([
                    "--cluster-cidr",
                    "10.244.0.0/16",
                    "--canary-check-period",
                    "300ms",
                ])
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let wait_for = |what: &str, f: &dyn Fn(&str) -> bool, limit: Duration| {
            let start = Instant::now();
            loop {
                let s = save();
                if f(&s) {
                    return start.elapsed();
                }
                assert!(
                    start.elapsed() < limit,
                    "timed out waiting for {what}:\n{s}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        wait_for(
            "first sync",
            &|s| s.contains("10.244.2.7:8080"),
            Duration::from_secs(10),
        );

        // Scale to 5: the KUBE-SEP chains follow within a second.
        let mut sl = client
            .get(&ENDPOINT_SLICES, Some("default"), "web-abcde")
            .unwrap();
        sl["endpoints"] = slice(
            "default",
            "web",
            "x",
            &[
                "10.244.2.6",
                "10.244.2.7",
                "10.244.1.3",
                "10.244.1.4",
                "10.244.2.8",
            ],
        )["endpoints"]
            .clone();
        client
            .replace(&ENDPOINT_SLICES, Some("default"), "web-abcde", &sl)
            .unwrap();
        let took = wait_for(
            "5 endpoints",
            &|s| s.matches("-j DNAT --to-destination").count() == 5,
            Duration::from_secs(1),
        );
        eprintln!("scale 2 -> 5 visible in iptables after {took:?}");

        // Someone flushes nat: the canary brings it back.
        let out = Command::new("sh")
            .arg("-c")
            .arg("iptables -w -t nat -F && iptables -w -t nat -X")
            .output()
            .unwrap();
        assert!(out.status.success());
        wait_for(
            "canary resync",
            &|s| s.matches("-j DNAT --to-destination").count() == 5,
            Duration::from_secs(3),
        );

        let log = std::fs::read_to_string(&log_path).unwrap();
        assert!(
            log.contains("\"SyncProxyRules complete\" elapsed="),
            "{log}"
        );
        assert!(
            log.contains("\"Reloading service iptables data\" numServices=2 numEndpoints="),
            "{log}"
        );
        assert!(log.contains("canary"), "the resync is logged: {log}");
        let first = log.lines().next().unwrap_or("");
        assert!(
            first.starts_with('I') && first.as_bytes().get(5) == Some(&b' '),
            "klog header: {first}"
        );
        let _ = std::fs::remove_file(&log_path);
    });
}
