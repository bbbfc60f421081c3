//! The Calico-layout renderer against the specification: for every scenario of the e2e model
//! and for hundreds of random policy sets, the rendered chains of both nodes, parsed back and
//! walked by the tracer, must give exactly the verdict [`semantics`] gives, for every pair of
//! pods (and external addresses), on several ports and all three protocols. A few matrices are
//! also written out by hand, so that the reference itself is checked.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use netrules::netpol::e2e_model::{
    self, apply_labels, expected_matrix, format_matrix, model_cluster, parse_policies, scenarios,
};
use netrules::netpol::objects::{Cluster, NamedPort, Namespace, NetworkPolicy, Pod, Protocol};
use netrules::netpol::parse_filter;
use netrules::netpol::render::{render, NodeFacts, MAX_CHAIN_NAME, VXLAN_IFACE};
use netrules::netpol::semantics::{allowed, Endpoint};
use netrules::netpol::tracer::{trace, Packet};
use netrules::save::{SaveRule, SaveTable};
use serde_json::{json, Value};

fn iface(p: &Pod) -> String {
    // Any stable, distinct, 15-character name does for the pure tests.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in p.key().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!("cali{:011x}", h & 0xfff_ffff_ffff)
}

fn facts(c: &Cluster, node: &str) -> NodeFacts {
    NodeFacts {
        node_name: node.into(),
        ifaces: c
            .pods
            .iter()
            .filter(|p| p.node == node)
            .map(|p| (p.key(), iface(p)))
            .collect(),
    }
}

/// Rendered and parsed tables of every node.
fn tables(c: &Cluster) -> BTreeMap<String, SaveTable> {
    let mut nodes: Vec<String> = c.pods.iter().map(|p| p.node.clone()).collect();
    nodes.sort();
    nodes.dedup();
    nodes
        .into_iter()
        .map(|n| {
            let r = render(c, &facts(c, &n));
            let text = r.save_text();
            check_consistent(&text);
            (n, parse_filter(&text).expect("rendered text parses"))
        })
        .collect()
}

/// The chain a rule jumps or goes to (its target, unless that is a verdict or `MARK`).
fn chain_target(r: &SaveRule) -> Option<&str> {
    let t = r.target.as_ref()?;
    let builtin = ["ACCEPT", "DROP", "REJECT", "RETURN", "MARK"].contains(&t.name.as_str());
    (!builtin).then_some(t.name.as_str())
}

/// Every jump target exists, names fit felix's limit, every declared chain is used.
fn check_consistent(text: &str) {
    let t = parse_filter(text).unwrap();
    for c in &t.chains {
        assert!(
            c.name.len() <= MAX_CHAIN_NAME,
            "chain name too long: {}",
            c.name
        );
        for r in &c.rules {
            if let Some(x) = chain_target(r) {
                assert!(t.chain(x).is_some(), "{} jumps to undeclared {x}", r.text);
            }
        }
        if c.policy.is_none() {
            let mut rules = t.chains.iter().flat_map(|o| &o.rules);
            let used = rules.any(|r| chain_target(r) == Some(c.name.as_str()));
            assert!(used, "chain {} is declared but never used", c.name);
        }
    }
}

enum End<'a> {
    Pod(&'a Pod),
    Ext(Ipv4Addr),
}

/// What the rendered rules do with a new connection (both nodes' FORWARD chains).
fn rules_allow(
    t: &BTreeMap<String, SaveTable>,
    src: &End,
    dst: &End,
    port: u16,
    proto: Protocol,
) -> bool {
    let (sip, snode, sif) = match src {
        End::Pod(p) => (p.ip.unwrap(), Some(p.node.clone()), iface(p)),
        End::Ext(ip) => (*ip, None, "eth0".to_string()),
    };
    let (dip, dnode, dif) = match dst {
        End::Pod(p) => (p.ip.unwrap(), Some(p.node.clone()), iface(p)),
        End::Ext(ip) => (*ip, None, "eth0".to_string()),
    };
    if let (End::Pod(a), End::Pod(b)) = (src, dst) {
        if a.key() == b.key() {
            return true;
        }
    }
    let mut hops = Vec::new();
    if snode.is_some() && snode == dnode {
        hops.push((snode.clone().unwrap(), sif.clone(), dif.clone()));
    } else {
        if let Some(n) = &snode {
            hops.push((
                n.clone(),
                sif.clone(),
                if dnode.is_some() {
                    VXLAN_IFACE.into()
                } else {
                    "eth0".into()
                },
            ));
        }
        if let Some(n) = &dnode {
            hops.push((
                n.clone(),
                if snode.is_some() {
                    VXLAN_IFACE.into()
                } else {
                    "eth0".into()
                },
                dif.clone(),
            ));
        }
    }
    hops.iter().all(|(node, i, o)| {
        let Some(table) = t.get(node) else {
            return true;
        };
        let tr = trace(table, "FORWARD", &Packet::new(sip, dip, i, o, proto, port)).expect("trace");
        tr.verdict.passes()
    })
}

const EXTERNAL: [Ipv4Addr; 2] = [
    Ipv4Addr::new(192, 168, 7, 7),
    Ipv4Addr::new(10, 244, 1, 200),
];

/// Compares rules and semantics on every pair; returns the disagreements.
fn disagreements(c: &Cluster, ports: &[u16]) -> Vec<String> {
    let t = tables(c);
    let mut bad = Vec::new();
    let pods: Vec<&Pod> = c.pods.iter().filter(|p| p.ip.is_some()).collect();
    for proto in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        for &port in ports {
            for s in &pods {
                for d in &pods {
                    let want = allowed(c, &Endpoint::Pod(s), &Endpoint::Pod(d), port, proto);
                    let got = rules_allow(&t, &End::Pod(s), &End::Pod(d), port, proto);
                    if want != got {
                        bad.push(format!(
                            "{} -> {} {port}/{proto}: semantics {want}, rules {got}",
                            s.key(),
                            d.key()
                        ));
                    }
                }
                for e in EXTERNAL {
                    let want = allowed(c, &Endpoint::Pod(s), &Endpoint::External(e), port, proto);
                    let got = rules_allow(&t, &End::Pod(s), &End::Ext(e), port, proto);
                    if want != got {
                        bad.push(format!(
                            "{} -> {e} {port}/{proto}: semantics {want}, rules {got}",
                            s.key()
                        ));
                    }
                    let want = allowed(c, &Endpoint::External(e), &Endpoint::Pod(s), port, proto);
                    let got = rules_allow(&t, &End::Ext(e), &End::Pod(s), port, proto);
                    if want != got {
                        bad.push(format!(
                            "{e} -> {} {port}/{proto}: semantics {want}, rules {got}",
                            s.key()
                        ));
                    }
                }
            }
        }
    }
    bad
}

fn scenario_cluster(policies: &str, labels: &[e2e_model::LabelChange]) -> Cluster {
    let mut c = model_cluster(&BTreeMap::new());
    c.policies = parse_policies(policies);
    apply_labels(&mut c, labels);
    c
}

#[test]
fn catalogue_rules_agree_with_semantics() {
    let mut failures = Vec::new();
    let mut all = scenarios()
        .into_iter()
        .map(|s| (s.name.to_string(), s.policies.to_string(), s.labels))
        .collect::<Vec<_>>();
    let yb = model_cluster(&BTreeMap::new())
        .pod("y", "b")
        .unwrap()
        .ip
        .unwrap();
    for (name, by_sel) in [
        ("26-ipblock-except", false),
        ("27-except-is-not-a-deny", true),
    ] {
        let (n, y) = e2e_model::ipblock_scenario(name, yb, by_sel);
        all.push((n, y, Vec::new()));
    }
    assert!(all.len() >= 20);
    for (name, yaml, labels) in &all {
        let c = scenario_cluster(yaml, labels);
        let bad = disagreements(&c, &[79, 80, 81, 82, 85, 86]);
        if !bad.is_empty() {
            failures.push(format!(
                "{name}: {} disagreements, e.g. {:?}\n{}",
                bad.len(),
                &bad[..bad.len().min(5)],
                format_matrix(&expected_matrix(&c, 80))
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Matrices written by hand from the specification (rows = client x/a … z/c).
#[test]
fn reference_matrices_by_hand() {
    let m = |rows: [&str; 9]| -> Vec<Vec<bool>> {
        rows.iter()
            .map(|r| r.chars().map(|c| c == '.').collect())
            .collect()
    };
    let by_name = |n: &str| scenarios().into_iter().find(|s| s.name == n).unwrap();
    let check = |n: &str, port: u16, want: Vec<Vec<bool>>| {
        let s = by_name(n);
        let c = scenario_cluster(s.policies, &s.labels);
        let got = expected_matrix(&c, port);
        assert_eq!(got, want, "{n} port {port}:\n{}", format_matrix(&got));
    };
    // 01: nobody reaches x except x itself (diagonal).
    check(
        "01-default-deny-ingress",
        80,
        m([
            ".XX......",
            "X.X......",
            "XX.......",
            "XXX......",
            "XXX......",
            "XXX......",
            "XXX......",
            "XXX......",
            "XXX......",
        ]),
    );
    // 05: only y/b reaches x/a.
    check(
        "05-and-one-peer",
        80,
        m([
            ".........",
            "X........",
            "X........",
            "X........",
            ".........",
            "X........",
            "X........",
            "X........",
            "X........",
        ]),
    );
    // 06: y/* and x/b reach x/a.
    check(
        "06-or-two-peers",
        80,
        m([
            ".........",
            ".........",
            "X........",
            ".........",
            ".........",
            ".........",
            "X........",
            "X........",
            "X........",
        ]),
    );
    // 02: x talks to nobody and nobody to x.
    check(
        "02-default-deny-all",
        80,
        m([
            ".XXXXXXXX",
            "X.XXXXXXX",
            "XX.XXXXXX",
            "XXX......",
            "XXX......",
            "XXX......",
            "XXX......",
            "XXX......",
            "XXX......",
        ]),
    );
    // 14: x/a ingress deny-all (implied Ingress), egress only to y.
    check(
        "14-policy-types-defaulting",
        80,
        m([
            ".XX...XXX",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
        ]),
    );
    // 10: port 80 closed on x/a, 81 open.
    check(
        "10-end-port",
        80,
        m([
            ".........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
        ]),
    );
    check("10-end-port", 81, m(["........."; 9]));
    // 11: UDP rules do not open TCP.
    check(
        "11-udp-only-does-not-open-tcp",
        81,
        m([
            ".........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
            "X........",
        ]),
    );
}

// ---------------------------------------------------------------------------------------------
// Random policy sets

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
}

fn random_cluster(rng: &mut Rng) -> Cluster {
    let mut c = Cluster::default();
    let mut n = 0u8;
    for ns in ["x", "y", "z"] {
        let mut labels = vec![];
        if rng.chance(40) {
            labels.push(("team", *rng.pick(&["blue", "red"])));
        }
        c.namespaces.push(Namespace::new(ns, &labels));
        for pod in ["a", "b", "c"] {
            n += 1;
            let mut l: BTreeMap<String, String> =
                [("pod".to_string(), pod.to_string())].into_iter().collect();
            if rng.chance(35) {
                l.insert("role".into(), rng.pick(&["client", "server"]).to_string());
            }
            let web = *rng.pick(&[80u16, 81, 82]);
            c.pods.push(Pod {
                namespace: ns.into(),
                name: pod.into(),
                labels: l,
                ip: Some(Ipv4Addr::new(10, 244, 1 + n % 2, 10 + n)),
                node: format!("node-{}", 1 + rng.below(2)),
                host_network: false,
                ports: vec![
                    NamedPort {
                        name: "serve-80-tcp".into(),
                        port: 80,
                        protocol: Protocol::Tcp,
                    },
                    NamedPort {
                        name: "serve-81-tcp".into(),
                        port: 81,
                        protocol: Protocol::Tcp,
                    },
                    NamedPort {
                        name: "web".into(),
                        port: web,
                        protocol: Protocol::Tcp,
                    },
                    NamedPort {
                        name: "serve-80-udp".into(),
                        port: 80,
                        protocol: Protocol::Udp,
                    },
                ],
            });
        }
    }
    c
}

fn random_selector(rng: &mut Rng, ns: bool) -> Value {
    if ns {
        match rng.below(5) {
            0 => json!({}),
            1 => {
                json!({"matchLabels": {"kubernetes.io/metadata.name": rng.pick(&["x", "y", "z"])}})
            }
            2 => json!({"matchLabels": {"team": rng.pick(&["blue", "red"])}}),
            3 => {
                json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [rng.pick(&["x", "y", "z"])]}]})
            }
            _ => {
                json!({"matchExpressions": [{"key": "team", "operator": rng.pick(&["Exists", "DoesNotExist"])}]})
            }
        }
    } else {
        match rng.below(6) {
            0 => json!({}),
            1 | 2 => json!({"matchLabels": {"pod": rng.pick(&["a", "b", "c"])}}),
            3 => {
                json!({"matchExpressions": [{"key": "pod", "operator": rng.pick(&["In", "NotIn"]), "values": [rng.pick(&["a", "b", "c"]), rng.pick(&["a", "b", "c"])]}]})
            }
            4 => {
                json!({"matchExpressions": [{"key": "role", "operator": rng.pick(&["Exists", "DoesNotExist"])}]})
            }
            _ => json!({"matchLabels": {"role": rng.pick(&["client", "server"])}}),
        }
    }
}

fn random_peer(rng: &mut Rng, c: &Cluster) -> Value {
    match rng.below(6) {
        0 => json!({"podSelector": random_selector(rng, false)}),
        1 => json!({"namespaceSelector": random_selector(rng, true)}),
        2 | 3 => {
            json!({"podSelector": random_selector(rng, false), "namespaceSelector": random_selector(rng, true)})
        }
        _ => {
            let pod_ip = rng.pick(&c.pods).ip.unwrap();
            let (cidr, except): (String, Vec<String>) = match rng.below(4) {
                0 => ("10.244.0.0/16".into(), vec![format!("{pod_ip}/32")]),
                1 => ("10.244.1.0/24".into(), vec!["10.244.1.16/28".into()]),
                2 => (format!("{pod_ip}/32"), vec![]),
                _ => (
                    "0.0.0.0/0".into(),
                    vec!["10.244.2.0/24".into(), "192.168.0.0/16".into()],
                ),
            };
            json!({"ipBlock": {"cidr": cidr, "except": except}})
        }
    }
}

fn random_ports(rng: &mut Rng) -> Value {
    let one = |rng: &mut Rng| match rng.below(9) {
        0 => json!({"port": 80}),
        1 => json!({"port": 81, "protocol": "TCP"}),
        2 => json!({"port": 80, "endPort": 81}),
        3 => json!({"port": "serve-81-tcp"}),
        4 => json!({"port": "web"}),
        5 => json!({"port": 80, "protocol": "UDP"}),
        6 => json!({"protocol": "UDP"}),
        7 => json!({"port": "serve-80-udp", "protocol": "UDP"}),
        _ => json!({"port": 80, "protocol": "SCTP"}),
    };
    match rng.below(4) {
        0 => json!([]),
        1 | 2 => json!([one(rng)]),
        _ => json!([one(rng), one(rng)]),
    }
}

fn random_policy(rng: &mut Rng, c: &Cluster, i: usize) -> NetworkPolicy {
    let ns = *rng.pick(&["x", "y", "z"]);
    let mut spec = json!({"podSelector": random_selector(rng, false)});
    for (dir, key) in [("ingress", "from"), ("egress", "to")] {
        if rng.chance(60) {
            let rules: Vec<Value> = (0..rng.below(3))
                .map(|_| {
                    let mut r = json!({});
                    if rng.chance(70) {
                        r[key] = Value::Array(
                            (0..1 + rng.below(2)).map(|_| random_peer(rng, c)).collect(),
                        );
                    }
                    if rng.chance(60) {
                        r["ports"] = random_ports(rng);
                    }
                    r
                })
                .collect();
            spec[dir] = Value::Array(rules);
        }
    }
    match rng.below(4) {
        0 => {}
        1 => spec["policyTypes"] = json!(["Ingress"]),
        2 => spec["policyTypes"] = json!(["Egress"]),
        _ => spec["policyTypes"] = json!(["Ingress", "Egress"]),
    }
    NetworkPolicy::from_value(
        &json!({"metadata": {"name": format!("p{i}"), "namespace": ns}, "spec": spec}),
    )
    .expect("random policy is valid")
}

#[test]
fn random_policy_sets_agree_with_semantics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut failures = Vec::new();
    let mut isolated_cells = 0usize;
    let rounds = 250;
    for round in 0..rounds {
        let mut c = random_cluster(&mut rng);
        let n = 1 + rng.below(4);
        c.policies = (0..n).map(|i| random_policy(&mut rng, &c, i)).collect();
        let bad = disagreements(&c, &[80, 81, 82]);
        isolated_cells += expected_matrix(&c, 80)
            .iter()
            .flatten()
            .filter(|x| !**x)
            .count();
        if !bad.is_empty() {
            failures.push(format!(
                "round {round}: {:?}\npolicies: {:#?}",
                &bad[..bad.len().min(4)],
                c.policies
            ));
            if failures.len() > 3 {
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The generator must produce real isolation, not only allow-all worlds.
    assert!(
        isolated_cells > rounds * 5,
        "only {isolated_cells} blocked cells in {rounds} rounds"
    );
}

// ---------------------------------------------------------------------------------------------
// Golden files

/// `tests/golden-netpol/<case>/{input.yaml, node, expected.rules}`: the rendered `cali-*`
/// chains of one node, byte for byte. `NETRULES_BLESS=1` rewrites the expectations.
#[test]
fn golden_netpol() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden-netpol");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 3,
        "golden cases missing under {}",
        root.display()
    );
    let mut failures = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read_to_string(dir.join("input.yaml")).unwrap();
        let (c, errors) = Cluster::load(&input).unwrap();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let node = std::fs::read_to_string(dir.join("node"))
            .unwrap()
            .trim()
            .to_string();
        let got = render(&c, &facts(&c, &node)).save_text();
        check_consistent(&got);
        let path = dir.join("expected.rules");
        if std::env::var_os("NETRULES_BLESS").is_some() {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if want != got {
            let diff: Vec<String> = want
                .lines()
                .zip(got.lines())
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .take(5)
                .map(|(i, (a, b))| format!("line {}:\n  - {a}\n  + {b}", i + 1))
                .collect();
            failures.push(format!(
                "{name}: rendered rules differ ({} vs {} lines)\n{}",
                want.lines().count(),
                got.lines().count(),
                diff.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
