//! The real enforcer (`calico-node -felix`) on two fake nodes, without Docker: network
//! namespaces `np-n1` / `np-n2` joined by a veth named `vxlan.calico` in both (the interface
//! name cross-node traffic arrives on in a lab), five pods as namespaces with Calico-style
//! `cali…` veths, /32 routes and the gateway MAC pinned as the kubelet does, the real lab API server (`kube-apiserver`) in
//! `np-n1`, and a TCP server on ports 80 and 81 in every pod. Policies and label changes go
//! through the API; real connections then must match the matrices the NetworkPolicy semantics
//! give, within a second. Also checked: what `iptables-save` shows is exactly what was
//! rendered (so the diff-based sync is idempotent), kube-proxy's chains are left alone, a
//! failed restore keeps the previous rules, and `policy explain` names the deciding rule.
//!
//! Needs root and `ip`, `iptables` (nft): `cargo test -p kplab-agent --test policy_netns --
//! --ignored`. Everything created is named `np-…` and removed at the end.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kplab_agent::kube::client::{ApiClient, NAMESPACES, NETWORK_POLICIES, PODS};
use kplab_agent::kube::iptables::Iptables;
use kplab_agent::kube::net::{self, veth_name};
use netrules::netpol::e2e_model::{ipblock_scenario, scenarios};
use netrules::netpol::objects::{Cluster, Protocol};
use netrules::netpol::parse_filter;
use netrules::netpol::render::{render, NodeFacts};
use netrules::netpol::semantics::{allowed, Endpoint};
use serde_json::{json, Value};

/// The agent binary (`KPLAB_AGENT_BIN` overrides the one cargo built for this test).
fn bin() -> String {
    std::env::var("KPLAB_AGENT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_kplab-agent").to_string())
}
const API: &str = "http://192.168.77.1:6443";

/// The pods: (namespace, name, node, ip).
const PODS_AT: [(&str, &str, &str, [u8; 4]); 5] = [
    ("x", "a", "n1", [10, 244, 1, 10]),
    ("x", "b", "n1", [10, 244, 1, 11]),
    ("y", "a", "n1", [10, 244, 1, 12]),
    ("y", "b", "n2", [10, 244, 2, 13]),
    ("x", "c", "n2", [10, 244, 2, 14]),
];

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = File::open(&path).expect("open netns");
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread panicked")
}

/// The lab API, called from inside `np-n1`.
fn api<T: Send + 'static>(f: impl FnOnce(&ApiClient) -> T + Send + 'static) -> T {
    in_netns("np-n1", move || f(&ApiClient::new(API)))
}

/// Removes every namespace and process the test made, also after a panic.
struct Lab {
    netns: Vec<String>,
    procs: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn node_name(short: &str) -> String {
    format!("node-{}", &short[1..])
}

fn setup() -> Lab {
    for ns in sh(&["ip", "netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        if ns.starts_with("np-") {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut lab = Lab {
        netns: Vec::new(),
        procs: Vec::new(),
        _dir: tempfile::tempdir().unwrap(),
    };
    for n in ["np-n1", "np-n2"] {
        sh(&["ip", "netns", "add", n]);
        lab.netns.push(n.into());
        sh(&[
            "ip",
            "netns",
            "exec",
            n,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        sh(&["ip", "-n", n, "link", "set", "lo", "up"]);
    }
    sh(&[
        "ip", "link", "add", "np-l1", "netns", "np-n1", "type", "veth", "peer", "name", "np-l2",
        "netns", "np-n2",
    ]);
    for (n, l, me, other, cidr) in [
        (
            "np-n1",
            "np-l1",
            "192.168.77.1/24",
            "192.168.77.2",
            "10.244.2.0/24",
        ),
        (
            "np-n2",
            "np-l2",
            "192.168.77.2/24",
            "192.168.77.1",
            "10.244.1.0/24",
        ),
    ] {
        sh(&["ip", "-n", n, "link", "set", l, "name", "vxlan.calico"]);
        sh(&["ip", "-n", n, "addr", "add", me, "dev", "vxlan.calico"]);
        sh(&["ip", "-n", n, "link", "set", "vxlan.calico", "up"]);
        sh(&["ip", "-n", n, "route", "add", cidr, "via", other]);
    }
    for (ns, pod, node, ip) in PODS_AT {
        let pn = format!("np-p-{ns}-{pod}");
        let nn = format!("np-{node}");
        let ip = Ipv4Addr::from(ip).to_string();
        let veth = veth_name(ns, pod);
        sh(&["ip", "netns", "add", &pn]);
        lab.netns.push(pn.clone());
        // As the kubelet does: veth with the pod end in the pod, gateway MAC pinned in the pod.
        for cmd in [
            format!(
                "ip link add {veth} netns {nn} address {} type veth peer name eth0 netns {pn}",
                net::CALI_MAC
            ),
            format!("ip -n {pn} link set lo up"),
            format!("ip -n {pn} link set eth0 up"),
            format!("ip -n {pn} addr add {ip}/32 dev eth0"),
            format!("ip -n {pn} route add 169.254.1.1 dev eth0 scope link"),
            format!("ip -n {pn} route add default via 169.254.1.1 dev eth0"),
            format!(
                "ip -n {pn} neigh replace 169.254.1.1 lladdr {} dev eth0 nud permanent",
                net::CALI_MAC
            ),
            format!("ip -n {nn} link set {veth} up"),
            format!("ip -n {nn} route add {ip}/32 dev {veth}"),
        ] {
            sh(&cmd.split_whitespace().collect::<Vec<_>>());
        }
        // The pod's servers: TCP 80 and 81.
        for port in [80u16, 81] {
            let pn = pn.clone();
            std::thread::spawn(move || {
                let fd = File::open(format!("/var/run/netns/{pn}")).unwrap();
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                let l = TcpListener::bind(("0.0.0.0", port)).unwrap();
                for c in l.incoming().flatten() {
                    drop(c);
                }
            });
        }
    }
    // kube-proxy's filter chains, which the enforcer must leave alone.
    let kp = "*filter\n:KUBE-FORWARD - [0:0]\n-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\nCOMMIT\n";
    restore_in("np-n1", kp);
    // The lab API server in np-n1, reachable from np-n2 over the link.
    let log = File::create(dir.path().join("apiserver.log")).unwrap();
    let data = dir.path().join("data");
    lab.procs.push(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                "np-n1",
                &bin(),
                "kube-apiserver",
                "--bind-address=0.0.0.0",
                "--secure-port=6443",
                "--advertise-address=192.168.77.1",
            ])
            .arg(format!("--data-dir={}", data.display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    lab._dir = dir;
    let began = Instant::now();
    while api(|c| c.request("GET", "/version", &[], None).is_err()) {
        assert!(
            began.elapsed() < Duration::from_secs(15),
            "the API server did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    lab
}

fn restore_in(ns: &str, text: &str) {
    let text = text.to_string();
    in_netns(ns, move || {
        Iptables::default().restore_noflush(&text).expect("restore")
    });
}

fn save_in(ns: &str) -> String {
    in_netns(ns, || {
        Iptables::default()
            .save(Some("filter"))
            .expect("iptables-save")
    })
}

fn start_felix(lab: &mut Lab, node: &str) {
    let log = File::create(lab._dir.path().join(format!("felix-{node}.log"))).unwrap();
    lab.procs.push(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("np-{node}"),
                &bin(),
                "calico-node",
                "-felix",
                "--resync-seconds=2",
            ])
            .arg(format!("--node-name={}", node_name(node)))
            .env("KPLAB_APISERVER", API)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
}

fn felix_log(lab: &Lab, node: &str) -> String {
    std::fs::read_to_string(lab._dir.path().join(format!("felix-{node}.log"))).unwrap_or_default()
}

fn create_objects() {
    api(|c| {
        for ns in ["x", "y"] {
            c.create(
                &NAMESPACES,
                None,
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .unwrap();
        }
        for (ns, pod, node, ip) in PODS_AT {
            let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": ns, "labels": {"pod": pod}},
                "spec": {"nodeName": node_name(node), "containers": [{"name": "c", "image": "registry.k8s.io/e2e-test-images/agnhost:2.43",
                    "ports": [{"name": "serve-80-tcp", "containerPort": 80}, {"name": "serve-81-tcp", "containerPort": 81}]}]}});
            let created = c.create(&PODS, Some(ns), &obj).unwrap();
            let mut st = created.clone();
            st["status"] = json!({"phase": "Running", "podIP": Ipv4Addr::from(ip).to_string(), "podIPs": [{"ip": Ipv4Addr::from(ip).to_string()}]});
            c.update_status(&PODS, Some(ns), pod, &st).unwrap();
        }
    });
}

fn cluster() -> Cluster {
    api(|c| {
        let mut v = Vec::new();
        for r in [&NAMESPACES, &PODS, &NETWORK_POLICIES] {
            v.extend(c.list(r, None, None, None).unwrap().items);
        }
        Cluster::from_values(&v).0
    })
}

/// Real connections between every pair of pods (row = client).
fn probe_matrix(port: u16) -> Vec<Vec<bool>> {
    let handles: Vec<_> = PODS_AT
        .iter()
        .map(|(sns, spod, _, _)| {
            let pn = format!("np-p-{sns}-{spod}");
            std::thread::spawn(move || {
                let fd = File::open(format!("/var/run/netns/{pn}")).unwrap();
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                PODS_AT
                    .iter()
                    .map(|(_, _, _, ip)| {
                        TcpStream::connect_timeout(
                            &SocketAddr::from((*ip, port)),
                            Duration::from_millis(300),
                        )
                        .is_ok()
                    })
                    .collect::<Vec<bool>>()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn expected(c: &Cluster, port: u16) -> Vec<Vec<bool>> {
    PODS_AT
        .iter()
        .map(|(sns, sp, _, _)| {
            let s = c.pod(sns, sp).unwrap();
            PODS_AT
                .iter()
                .map(|(dns, dp, _, _)| {
                    allowed(
                        c,
                        &Endpoint::Pod(s),
                        &Endpoint::Pod(c.pod(dns, dp).unwrap()),
                        port,
                        Protocol::Tcp,
                    )
                })
                .collect()
        })
        .collect()
}

fn show(m: &[Vec<bool>]) -> String {
    let mut s = String::from("       x/a x/b y/a y/b x/c\n");
    for (i, row) in m.iter().enumerate() {
        s.push_str(&format!(
            "{:>5} ",
            format!("{}/{}", PODS_AT[i].0, PODS_AT[i].1)
        ));
        for c in row {
            s.push_str(if *c { "   ." } else { "   X" });
        }
        s.push('\n');
    }
    s
}

/// Whether node `short`'s filter table holds exactly what the renderer gives for `c`.
fn programmed(c: &Cluster, short: &str) -> bool {
    let facts = NodeFacts {
        node_name: node_name(short),
        ifaces: c
            .pods
            .iter()
            .filter(|p| p.node == node_name(short))
            .map(|p| (p.key(), veth_name(&p.namespace, &p.name)))
            .collect(),
    };
    let current = parse_filter(&save_in(&format!("np-{short}"))).unwrap();
    render(c, &facts).restore_noflush(&current).is_none()
}

/// Waits until both nodes hold exactly the rules rendered for the API's current state (polling
/// `iptables-save` every 10 ms), then checks real connections against the semantic matrices.
/// Returns how long after `since` the rules were in force.
fn converge(ports: &[u16], since: Instant, what: &str) -> Duration {
    let c = cluster();
    let deadline = since + Duration::from_secs(5);
    while !(programmed(&c, "n1") && programmed(&c, "n2")) {
        assert!(
            Instant::now() < deadline,
            "{what}: the nodes do not hold the rendered rules after 5 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = since.elapsed();
    let mut report = String::new();
    for attempt in 0..3 {
        report.clear();
        for &p in ports {
            let (want, got) = (expected(&c, p), probe_matrix(p));
            if want != got {
                report.push_str(&format!(
                    "port {p}: expected\n{}got\n{}",
                    show(&want),
                    show(&got)
                ));
            }
        }
        if report.is_empty() {
            return took;
        }
        eprintln!("{what}: attempt {attempt} differs, retrying");
    }
    panic!("{what}: real connections differ from the semantics\n{report}");
}

fn delete_policies() {
    api(|c| {
        for ns in ["x", "y"] {
            for p in c
                .list(&NETWORK_POLICIES, Some(ns), None, None)
                .unwrap()
                .items
            {
                c.delete(
                    &NETWORK_POLICIES,
                    Some(ns),
                    p["metadata"]["name"].as_str().unwrap(),
                    None,
                )
                .unwrap();
            }
        }
    });
}

fn apply_yaml(yaml: &str) {
    let docs: Vec<Value> = yaml
        .split("\n---")
        .map(|d| d.trim_start_matches("---"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml_ng::from_str(d).unwrap())
        .collect();
    api(move |c| {
        for d in docs {
            let ns = d["metadata"]["namespace"].as_str().unwrap().to_string();
            c.create(&NETWORK_POLICIES, Some(&ns), &d)
                .unwrap_or_else(|e| panic!("creating {d}: {e}"));
        }
    });
}

#[test]
#[ignore = "needs root"]
fn felix_enforces_policies_on_real_packets() {
    let mut lab = setup();
    create_objects();
    start_felix(&mut lab, "n1");
    start_felix(&mut lab, "n2");
    // Programmed: every local pod has its chains.
    let began = Instant::now();
    loop {
        let (s1, s2) = (save_in("np-n1"), save_in("np-n2"));
        let ok1 = PODS_AT
            .iter()
            .filter(|p| p.2 == "n1")
            .all(|p| s1.contains(&format!(":cali-tw-{}", veth_name(p.0, p.1))));
        let ok2 = PODS_AT
            .iter()
            .filter(|p| p.2 == "n2")
            .all(|p| s2.contains(&format!(":cali-tw-{}", veth_name(p.0, p.1))));
        if ok1 && ok2 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "felix did not program the pods:\n{}\n{}",
            felix_log(&lab, "n1"),
            felix_log(&lab, "n2")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "both nodes programmed {:.0} ms after start",
        began.elapsed().as_secs_f64() * 1000.0
    );

    // Hooks: our jump is rule 1 of FORWARD, kube-proxy's jump and chain are intact.
    let s1 = save_in("np-n1");
    let fwd: Vec<&str> = s1
        .lines()
        .filter(|l| l.starts_with("-A FORWARD "))
        .collect();
    assert_eq!(
        fwd[0], "-A FORWARD -m comment --comment \"cali:wUHhoiAYhphO9Mso\" -j cali-FORWARD",
        "{s1}"
    );
    assert!(
        fwd.contains(
            &"-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD"
        ),
        "{s1}"
    );
    assert!(
        s1.contains("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"),
        "{s1}"
    );
    assert_eq!(
        fwd.iter().filter(|l| l.contains("cali:")).count(),
        2,
        "{s1}"
    );

    // Baseline: everyone reaches everyone.
    let d = converge(&[80, 81], Instant::now(), "baseline");
    eprintln!("baseline ok ({} ms)", d.as_millis());

    // Scenarios of the e2e catalogue that only use x and y, plus ipBlock except.
    let yb_ip = Ipv4Addr::from(PODS_AT[3].3);
    let mut list: Vec<(String, String, Vec<u16>)> = scenarios()
        .into_iter()
        .filter(|s| {
            s.labels.is_empty()
                && !s.policies.contains("namespace: z")
                && !s.policies.contains(": z}")
        })
        .map(|s| (s.name.to_string(), s.policies.to_string(), s.ports.clone()))
        .collect();
    for (n, by_sel) in [
        ("26-ipblock-except", false),
        ("27-except-is-not-a-deny", true),
    ] {
        let (n, y) = ipblock_scenario(n, yb_ip, by_sel);
        list.push((n, y, vec![80]));
    }
    assert!(list.len() >= 15, "{}", list.len());
    let mut worst = Duration::ZERO;
    for (name, yaml, ports) in &list {
        let t = Instant::now();
        apply_yaml(yaml);
        let took = converge(ports, t, name);
        worst = worst.max(took);
        eprintln!(
            "{name}: in force after {} ms\n{}",
            took.as_millis(),
            show(&probe_matrix(ports[0]))
        );
        // What is loaded is exactly what is rendered (the sync has nothing left to do).
        let c = cluster();
        for node in ["n1", "n2"] {
            let facts = NodeFacts {
                node_name: node_name(node),
                ifaces: c
                    .pods
                    .iter()
                    .filter(|p| p.node == node_name(node))
                    .map(|p| (p.key(), veth_name(&p.namespace, &p.name)))
                    .collect(),
            };
            let r = render(&c, &facts);
            let current = parse_filter(&save_in(&format!("np-{node}"))).unwrap();
            assert_eq!(
                r.restore_noflush(&current),
                None,
                "{name}: {node} does not have exactly the rendered rules"
            );
        }
        let t = Instant::now();
        delete_policies();
        let took = converge(ports, t, &format!("{name} deleted"));
        worst = worst.max(took);
    }
    eprintln!(
        "worst time to take effect / stop applying: {} ms",
        worst.as_millis()
    );
    assert!(
        worst < Duration::from_secs(1),
        "policies took {worst:?} to take effect"
    );

    // Label changes re-render: x/a isolated by a policy that selects pod=a; relabel it away.
    apply_yaml("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-a, namespace: x}\nspec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress]}\n");
    converge(&[80], Instant::now(), "deny-a");
    assert!(!probe_matrix(80)[1][0], "x/b must not reach x/a");
    let t = Instant::now();
    api(|c| {
        c.merge_patch(
            &PODS,
            Some("x"),
            "a",
            &json!({"metadata": {"labels": {"pod": "free"}}}),
        )
        .unwrap()
    });
    let took = converge(&[80], t, "relabel x/a");
    assert!(
        probe_matrix(80)[1][0],
        "x/b reaches x/a once it left the selection"
    );
    eprintln!("pod label change in force after {} ms", took.as_millis());

    // policy explain, from the rules loaded in np-n1.
    api(|c| {
        c.merge_patch(
            &PODS,
            Some("x"),
            "a",
            &json!({"metadata": {"labels": {"pod": "a"}}}),
        )
        .unwrap()
    });
    converge(&[80], Instant::now(), "relabel back");
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            "np-n1",
            &bin(),
            "policy",
            "explain",
            "--from",
            "x/b",
            "--to",
            "x/a:80",
        ])
        .env("KPLAB_APISERVER", API)
        .env("KPLAB_NODE_NAME", "node-1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("x/b -> x/a port 80/TCP: DROPPED"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "decided by:    chain cali-tw-{} rule",
            veth_name("x", "a")
        )),
        "{text}"
    );
    assert!(text.contains("Drop if no policies passed packet"), "{text}");
    eprintln!("{text}");

    // A failed restore changes nothing.
    let before = save_in("np-n1");
    let bad = in_netns("np-n1", || {
        Iptables::default().restore_noflush(
            "*filter\n:cali-FORWARD - [0:0]\n-A cali-FORWARD -j cali-NO-SUCH-CHAIN\nCOMMIT\n",
        )
    });
    let err = bad.expect_err("a restore with a jump to a missing chain fails");
    assert!(
        !err.stderr.is_empty(),
        "the error carries iptables-restore's stderr: {err}"
    );
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip(&before),
        strip(&save_in("np-n1")),
        "a failed restore must keep the previous rules"
    );

    // Someone flushes our chain and moves the hook: the resync repairs it.
    restore_in("np-n1", "*filter\n:cali-FORWARD - [0:0]\n-D FORWARD -m comment --comment \"cali:wUHhoiAYhphO9Mso\" -j cali-FORWARD\n-A FORWARD -m comment --comment \"cali:wUHhoiAYhphO9Mso\" -j cali-FORWARD\nCOMMIT\n");
    let began = Instant::now();
    loop {
        let s = save_in("np-n1");
        if s.lines()
            .find(|l| l.starts_with("-A FORWARD "))
            .is_some_and(|l| l.contains("cali-FORWARD"))
            && s.contains("-A cali-FORWARD -i cali+")
        {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "resync did not repair the table:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs = felix_log(&lab, "n1");
    assert!(logs.contains("programmed cali-* chains"), "{logs}");
    let _ = BTreeMap::<u8, u8>::new();
}
