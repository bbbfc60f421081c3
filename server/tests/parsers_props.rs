//! Property tests of the server's pure functions over what it reads back from a lab (issue 13):
//! `iptables-save`, `ip route`, `kubectl` JSON and `kplab-agent` probe and trace JSON all come
//! from containers where the learner is root and can replace those programs. Each property runs
//! a fixed, small number of cases so plain `cargo test` stays fast; inputs that ever failed are
//! kept below as named regression tests. No Docker: only the functions that parse and judge.
//!
//! What every property asserts: no panic; output bounded by the input; a refusal that says
//! what was wrong.

use std::collections::BTreeMap;

use kplab::domain::panel::{diff, graph, inventory::Inventory, nft, trace};
use kplab::engine::grade;
use labkit::check::{ProbeCheck, RuleAssert, StateCheck};
use labkit::wire::ProbeReport;
use netrules::save;
use propgen::any_text;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Cases per property: small and fixed, so plain `cargo test` stays fast.
const CASES: u32 = propgen::CASES;

/// Failures are kept in the crate's proptest-regressions/ (committed) and replayed first.
fn config() -> ProptestConfig {
    propgen::config(CASES, "proptest-regressions/parsers_props.txt")
}

fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\"".to_string()),
        Just("\0".to_string()),
        Just("é∞😀".to_string()),
        Just("NaN".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("1e309".to_string()),
        (1usize..3000).prop_map(|n| "a".repeat(n)),
        "[ -~]{0,16}",
    ]
}

/// A near-valid `iptables-save` dump with kube-proxy's and Calico's shapes.
fn save_text() -> impl Strategy<Value = String> {
    let chain = prop::sample::select(vec![
        "PREROUTING",
        "OUTPUT",
        "POSTROUTING",
        "FORWARD",
        "INPUT",
        "KUBE-SERVICES",
        "KUBE-SVC-AAAA",
        "KUBE-SEP-ONE",
        "KUBE-NODEPORTS",
        "KUBE-MARK-MASQ",
        "cali-FORWARD",
        "cali-pi-_x",
    ]);
    let piece = prop_oneof![
        Just("-d 10.96.0.50/32 -p tcp -m tcp --dport 80".to_string()),
        Just("-m comment --comment \"default/web cluster IP\"".to_string()),
        Just("-m comment --comment \"default/web -> 10.244.1.2:80\"".to_string()),
        Just("-m comment --comment \"cali:abcd\" -m comment --comment \"Policy default/knp.default.deny\"".to_string()),
        Just("-m statistic --mode random --probability 0.5".to_string()),
        Just("-m statistic --mode random --probability NaN".to_string()),
        Just("-m mark --mark 0x4000/0x4000".to_string()),
        Just("-j DNAT --to-destination 10.244.1.2:80".to_string()),
        Just("-j MARK --set-xmark 0x4000/0x4000".to_string()),
        Just("-j MASQUERADE".to_string()),
        Just("-j DROP".to_string()),
        Just("-j RETURN".to_string()),
        chain.clone().prop_map(|c| format!("-j {c}")),
        nasty().prop_map(|n| format!("-m comment --comment \"{n}\"")),
        nasty(),
    ];
    let line = prop_oneof![
        (chain.clone(), prop::collection::vec(piece, 0..5))
            .prop_map(|(c, p)| format!("-A {c} {}", p.join(" "))),
        (chain, prop::sample::select(vec!["ACCEPT", "DROP", "-"]))
            .prop_map(|(c, p)| format!(":{c} {p} [0:0]")),
        nasty(),
    ];
    (
        prop::sample::select(vec!["nat", "filter"]),
        prop::collection::vec(line, 0..30),
    )
        .prop_map(|(t, lines)| format!("*{t}\n{}\nCOMMIT\n", lines.join("\n")))
}

fn dump_of(text: &str) -> save::Dump {
    save::parse(text).unwrap_or_default()
}

fn pods() -> BTreeMap<String, String> {
    [
        ("10.244.1.2", "default/web-1"),
        ("10.244.2.3", "default/web-2"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// A JSON value a few levels deep, shaped like the agent's and kubectl's output.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "Pod",
            "Service",
            "Node",
            "InternalIP",
            "10.244.1.2",
            "10.96.0.50",
            "172.18.0.2",
            "web",
            "default",
            "node-1",
            "tcp",
            "udp",
            "timeout",
            "refused",
            "accept",
            "drop",
            "nat",
            "KUBE-SVC-AAAA",
            "rule",
            "policy",
            "JUMP",
            "DROP",
        ])
        .prop_map(|s| Value::String(s.to_string())),
        nasty().prop_map(Value::String),
    ];
    let key = prop::sample::select(vec![
        "items",
        "kind",
        "metadata",
        "name",
        "namespace",
        "status",
        "podIP",
        "spec",
        "nodeName",
        "clusterIP",
        "ports",
        "port",
        "nodePort",
        "protocol",
        "addresses",
        "type",
        "address",
        "from",
        "target",
        "attempts",
        "local",
        "answer",
        "pod",
        "node",
        "client",
        "failure",
        "error",
        "ms",
        "hops",
        "table",
        "chain",
        "verdict",
        "rule",
        "packet",
        "src",
        "dst",
        "sport",
        "dport",
        "dnat",
        "masqueraded",
        "conntrack",
        "raw",
        "state",
        "original",
        "reply",
        "packets_seen",
        "sender",
        "x",
    ])
    .prop_map(str::to_string);
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..7)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A probe report as the agent prints it, with odd values.
fn probe_report() -> impl Strategy<Value = Value> {
    let attempt = (
        prop::option::of(prop::sample::select(vec!["web-1", "web-2", ""])),
        prop::option::of(prop_oneof![
            Just("10.244.1.9:40000".to_string()),
            Just("[fd00::1]:1".to_string()),
            nasty()
        ]),
        prop::option::of(prop::sample::select(vec![
            "timeout",
            "refused",
            "unreachable",
            "error",
        ])),
        prop::option::of(prop_oneof![Just("10.244.1.9:40000".to_string()), nasty()]),
        prop_oneof![Just(f64::NAN), Just(-1.0), any::<f64>(), Just(1.5)],
    )
        .prop_map(|(pod, client, failure, local, ms)| {
            let mut a = json!({ "ms": if ms.is_finite() { json!(ms) } else { json!(0) } });
            if let Some(p) = pod {
                a["answer"] = json!({"pod": p, "client": client.unwrap_or_default()});
            }
            if let Some(f) = failure {
                a["failure"] = json!(f);
            }
            if let Some(l) = local {
                a["local"] = json!(l);
            }
            a
        });
    prop::collection::vec(attempt, 0..20).prop_map(|attempts| {
        json!({"from": "client", "target": "10.96.0.50:80", "protocol": "tcp", "attempts": attempts})
    })
}

fn probe_check() -> impl Strategy<Value = ProbeCheck> {
    (
        prop::sample::select(vec!["reachable", "dropped", "rejected"]),
        prop::option::of((
            0usize..5,
            prop::option::of(prop_oneof![Just(-1.0), Just(0.0), Just(0.5), Just(1e300)]),
        )),
        prop::option::of(prop::sample::select(vec!["preserved", "masqueraded"])),
    )
        .prop_map(|(expect, spread, source_ip)| {
            let mut c = json!({"from": "client", "target": "web:80", "expect": expect});
            if let Some((min, tol)) = spread {
                c["spread"] = json!({"min_endpoints": min, "tolerance": tol});
            }
            if let Some(s) = source_ip {
                c["source_ip"] = json!(s);
            }
            serde_json::from_value(c).expect("a valid probe check")
        })
}

fn state_check() -> impl Strategy<Value = StateCheck> {
    (
        prop::option::of(prop_oneof![Just("2".to_string()), nasty()]),
        prop::option::of(prop_oneof![Just("web".to_string()), nasty()]),
    )
        .prop_map(|(equals, contains)| {
            let mut c = json!({"resource": "deployments", "jsonpath": "{.spec.replicas}"});
            if let Some(e) = equals {
                c["equals"] = json!(e);
            }
            if let Some(s) = contains {
                c["contains"] = json!(s);
            }
            serde_json::from_value(c).expect("a valid state check")
        })
}

/// Every kind of rules assertion, over the chains the dumps above use.
fn rule_asserts() -> Vec<RuleAssert> {
    serde_json::from_value(json!([
        {"chain": {"table": "nat", "chain": "KUBE-SVC-*", "comment": "default/web"}},
        {"no_chain": {"table": "filter", "chain": "cali-pi-*"}},
        {"rule": {"chain": "KUBE-SERVICES", "has": ["-d 10.96.0.50/32"], "target": "KUBE-SVC-*"}},
        {"no_rule": {"chain": "*", "has": ["DROP"]}},
        {"count": {"chain": "KUBE-SVC-AAAA", "equals": 2}},
        {"probabilities": {"chain": "KUBE-SVC-*", "values": [0.5], "tolerance": -1.0}},
        {"order": {"chain": "KUBE-SVC-AAAA", "first": {"target": "KUBE-MARK-MASQ"}, "then": {"has": ["statistic"]}}},
    ]))
    .expect("valid assertions")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn grade_state_check_any_output(c in state_check(), out in prop_oneof![any_text(), nasty()]) {
        let (_, detail) = grade::eval_state(&c, &out);
        let given = c.equals.as_ref().map_or(0, String::len) + c.contains.as_ref().map_or(0, String::len);
        // {:?} escapes a character into at most 10 bytes.
        prop_assert!(detail.len() <= 10 * (out.len() + given) + 200, "{}", detail.len());
    }

    #[test]
    fn grade_probe_check_any_report(c in probe_check(), report in prop_oneof![probe_report(), json_value()]) {
        if let Ok(r) = serde_json::from_value::<ProbeReport>(report) {
            let (_, detail) = grade::eval_probe(&c, &r);
            let shown: usize = r.attempts.iter().map(|a| {
                a.answer.as_ref().map_or(0, |x| x.pod.len() + x.client.len())
                    + a.local.as_ref().map_or(0, String::len)
            }).sum();
            prop_assert!(detail.len() <= 2 * shown + r.target.len() + 400, "{}", detail.len());
        }
    }

    #[test]
    fn grade_rules_check_any_dump(text in prop_oneof![save_text(), any_text()]) {
        let dump = dump_of(&text);
        let asserts = rule_asserts();
        for a in &asserts {
            let (_, detail) = grade::eval_rules(&dump, std::slice::from_ref(a));
            prop_assert!(detail.len() <= 4 * text.len() + 400);
        }
    }

    #[test]
    fn panel_routes_any_text(text in prop_oneof![
        any_text(),
        prop::collection::vec(
            prop::sample::select(vec![
                "default via 172.18.0.1 dev eth0",
                "10.244.1.0/24 dev cali0 scope link",
                "10.244.2.0/999 via 10.244.2.0 dev vxlan.calico onlink",
                "10.0.0.1 dev",
                "dev dev dev",
                "::/0 dev eth0",
                "",
            ]),
            0..10,
        ).prop_map(|l| l.join("\n")),
    ]) {
        let routes = trace::parse_routes(&text);
        prop_assert!(routes.len() <= text.lines().count());
        let dump = dump_of("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -o cali+ -j DROP\nCOMMIT\n");
        let pkt = trace::model_packet(false, "10.244.1.2".parse().unwrap(), "10.244.2.3".parse().unwrap(), "tcp", None, 80, Some("eth0".into()));
        let _ = trace::model_trace(&dump, &pkt, Vec::new(), routes, None);
    }

    #[test]
    fn panel_inventory_any_json(v in json_value(), from in prop_oneof![Just("client".to_string()), Just("node-1".to_string()), Just("web".to_string()), nasty()]) {
        let text = json!({"items": [v.clone(), {"kind": "Node", "metadata": {"name": "node-1"}, "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}}]}).to_string();
        for t in [text, v.to_string()] {
            match Inventory::parse(&t) {
                Ok(inv) => {
                    if let Err(e) = kplab::domain::panel::inventory::resolve_source(&inv, &from) {
                        prop_assert!(!e.is_empty());
                    }
                    if let Err(e) = kplab::domain::panel::inventory::resolve_target(&inv, &from) {
                        prop_assert!(!e.is_empty());
                    }
                }
                Err(e) => prop_assert!(e.starts_with("kubectl output: "), "{}", e),
            }
        }
    }

    #[test]
    fn panel_ruleset_views_any_dump(a in prop_oneof![save_text(), any_text()], b in save_text()) {
        let (da, db) = (dump_of(&a), dump_of(&b));
        let ga = graph::build("node-1", &da, &pods());
        let gb = graph::build("node-1", &db, &pods());
        let _ = graph::counted(&ga, &gb);
        let _ = graph::rules_hash(&da);
        prop_assert!(graph::strip_counters(&a).len() <= a.len() + a.lines().count() + 1);
        let _ = diff::services(&da);
        let _ = diff::grouped(&da, &db, &pods());
        for context in [0, 2] {
            let d = diff::raw_diff(&a, &b, context);
            prop_assert!(d.len() <= a.lines().count() + b.lines().count());
        }
    }

    #[test]
    fn panel_kernel_trace_any_json(v in json_value(), hops in prop::collection::vec(json_value(), 0..6)) {
        let mut k = json!({
            "protocol": "tcp", "src": "10.244.1.2", "sport": 40000, "dst": "10.96.0.50",
            "dport": 80, "verdict": "accept", "masqueraded": false, "packets_seen": 1,
            "sender": "", "answer": "", "ms": 1.0,
            "hops": hops.into_iter().map(|h| {
                let mut base = json!({"table": "nat", "chain": "KUBE-SVC-AAAA", "kind": "rule", "verdict": "JUMP", "packet": {"in": "", "out": "", "src": "", "dst": "", "sport": 0, "dport": 0, "mark": 0}});
                if let (Value::Object(b), Value::Object(h)) = (&mut base, h) {
                    b.extend(h);
                }
                base
            }).collect::<Vec<_>>(),
        });
        if let (Value::Object(kk), Value::Object(vv)) = (&mut k, v) {
            kk.extend(vv);
        }
        if let Ok(kt) = serde_json::from_value::<trace::KernelTrace>(k) {
            let _ = trace::kernel_chains(&kt);
            let _ = trace::why(&kt);
            let dump = dump_of("*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j DNAT --to-destination 10.244.1.2:80\nCOMMIT\n");
            let pkt = trace::model_packet(true, "10.244.1.2".parse().unwrap(), "10.96.0.50".parse().unwrap(), "tcp", Some(40000), 80, None);
            let m = trace::model_trace(&dump, &pkt, Vec::new(), Vec::new(), kt.dnat.as_deref());
            let _ = trace::model_chains(&m);
            let _ = trace::compare(&kt, &m);
        }
    }

    /// kube-proxy's nftables table as `nft -j` prints it, wrapped around any JSON (the learner
    /// can load any table, or replace nft): a table or a sentence, never a panic; texts cut.
    #[test]
    fn panel_nft_any_json(items in prop::collection::vec(json_value(), 0..12), kinds in prop::collection::vec(prop::sample::select(vec!["chain", "rule", "set", "map", "table", "metainfo", "x"]), 0..12)) {
        let doc = json!({"nftables": items.into_iter().zip(kinds.into_iter().cycle()).map(|(v, k)| {
            let mut body = json!({"name": "c", "chain": "c", "family": "ip", "table": "kube-proxy"});
            if let (Value::Object(b), Value::Object(o)) = (&mut body, &v) {
                b.extend(o.clone());
            } else {
                body = v;
            }
            json!({ k: body })
        }).collect::<Vec<_>>()});
        let text = doc.to_string();
        match nft::parse(&text, &pods()) {
            Ok(t) => {
                for c in &t.chains {
                    for r in &c.rules {
                        prop_assert!(r.text.len() <= 4 * nft::MAX_TEXT + 8);
                    }
                }
                prop_assert!(t.edges.len() <= 64 * (text.len() + 1));
            }
            Err(e) => prop_assert!(e.0.contains("nft")),
        }
    }

    #[test]
    fn panel_nft_any_text(text in prop_oneof![any_text(), nasty()]) {
        if let Err(e) = nft::parse_list(&text, &pods()) {
            prop_assert!(e.0.contains("nft"));
        }
    }
}

// Regression tests: every input a property above ever failed on, by name.

/// Two snapshots of `lines` rules each, every line different: the worst case of a line diff.
fn unrelated_snapshots(lines: usize) -> (String, String) {
    let a: String = (0..lines)
        .map(|i| format!("-A KUBE-SVC-A -j KUBE-SEP-{i}\n"))
        .collect();
    let b: String = (0..lines)
        .map(|i| format!("-A KUBE-SVC-B -j KUBE-SEP-{i}\n"))
        .collect();
    (a, b)
}

/// The learner decides what the snapshots hold. The line diff's LCS table was n x m cells
/// (8000 lines each side: 256 MB and 64 million steps; a few MB of text made gigabytes), and
/// the context filter compared every line with every change.
#[test]
fn regression_raw_diff_of_big_unrelated_snapshots() {
    // What the diff shows is unchanged where the table fits.
    let d = diff::raw_diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nX\ne\nf\ng\nh\n", 1);
    let ops: Vec<String> = d.iter().map(|l| format!("{}{}", l.op, l.line)).collect();
    assert_eq!(ops, vec![" c", "-d", "+X", " e", " g", "+h"]);
    let (a, b) = unrelated_snapshots(8000);
    let t = std::time::Instant::now();
    let d = diff::raw_diff(&a, &b, 2);
    assert_eq!(d.len(), 16_000);
    assert!(d[..8000].iter().all(|l| l.op == '-'));
    assert!(d[8000..].iter().all(|l| l.op == '+'));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}

/// The panel's views of a dump of 20 000 chains (2.5 MB): graph::build looked up every jump
/// target by scanning every chain (5.3 s in a debug build); each view must stay near linear.
#[test]
fn regression_many_chains_through_the_panel_views() {
    let n = 20_000;
    let declared: String = (0..n).map(|i| format!(":KUBE-SVC-{i} - [0:0]\n")).collect();
    let rules: String = (0..n)
        .map(|i| {
            format!(
                "-A KUBE-SERVICES -d 10.96.{}.{}/32 -m comment --comment \"ns/s{i}:p cluster IP\" -j KUBE-SVC-{i}\n\
                 -A KUBE-SVC-{i} -m comment --comment \"ns/s{i}:p -> 10.244.1.2:80\" -j KUBE-SEP-{i}\n",
                i / 256,
                i % 256
            )
        })
        .collect();
    let text = format!(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n{declared}{rules}COMMIT\n"
    );
    let dump = dump_of(&text);
    let t = std::time::Instant::now();
    let g = graph::build("node-1", &dump, &pods());
    assert_eq!(g.edges.len(), n);
    let _ = graph::rules_hash(&dump);
    let _ = diff::services(&dump);
    let _ = diff::grouped(&dump, &dump, &pods());
    let _ = grade::eval_rules(&dump, &rule_asserts());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}
