//! Property tests of the netrules parsers that read hostile text: `iptables-save`
//! output (the learner is root in the node and controls what it prints), `conntrack -L` output,
//! label selectors, Kubernetes manifests, IPs and CIDRs, and the packet tracer that walks a
//! parsed dump. Each property runs a fixed, small number of cases so plain `cargo test` stays
//! fast; every input that ever failed is kept below as a named regression test.
//!
//! What every property asserts: no panic; output bounded by the input (no blow-up from a small
//! input); a rejected input gives an error that says what was wrong, and where.

use netrules::k8s;
use netrules::kubeproxy::conntrack::parse_conntrack_list;
use netrules::labels::LabelSelector;
use netrules::save::{self, Dump};
use netrules::trace::{trace, Hook, Packet, TraceOptions};
use proptest::prelude::*;
use serde_json::Value;

/// Cases per property: enough to reach the odd corners of the generators below in a few hundred
/// milliseconds per property in a debug build.
const CASES: u32 = propgen::CASES;

/// Failures are kept in the crate's proptest-regressions/ (committed) and replayed first.
fn config() -> ProptestConfig {
    propgen::config(CASES, "proptest-regressions/parsers_props.txt")
}

/// Any text: raw bytes read lossily (as the server reads a lab's output) or arbitrary unicode,
/// NULs and control characters included.
fn any_text() -> impl Strategy<Value = String> {
    propgen::any_text_sized(600, 400, 80, 12)
}

/// A token that may break a naive parser.
fn nasty_token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\"".to_string()),
        Just("\"unterminated".to_string()),
        Just("\"ends in a backslash\\".to_string()),
        Just("\0".to_string()),
        Just("\u{feff}".to_string()),
        Just("é∞😀".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("[:]".to_string()),
        Just("[18446744073709551616:0]".to_string()),
        Just("!".to_string()),
        Just("-".to_string()),
        Just("--".to_string()),
        (1usize..5000).prop_map(|n| "a".repeat(n)),
        "[ -~]{0,20}",
        "(?s).{0,8}",
    ]
}

fn chain_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("PREROUTING".to_string()),
        Just("INPUT".to_string()),
        Just("FORWARD".to_string()),
        Just("OUTPUT".to_string()),
        Just("POSTROUTING".to_string()),
        Just("KUBE-SERVICES".to_string()),
        Just("KUBE-SVC-A".to_string()),
        Just("KUBE-SEP-B".to_string()),
        Just("cali-fw-x".to_string()),
        nasty_token(),
    ]
}

fn ip_like() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("10.96.0.10".to_string()),
        Just("10.244.1.5/32".to_string()),
        Just("0.0.0.0/0".to_string()),
        Just("10.0.0.0/255.255.0.0".to_string()),
        Just("10.0.0.0/255.0.255.0".to_string()),
        Just("::ffff:10.0.0.1".to_string()),
        Just("fd00::/129".to_string()),
        Just("fd00::1/255.255.255.255".to_string()),
        Just("010.001.000.001/033".to_string()),
        Just("1.2.3.4/".to_string()),
        Just("/".to_string()),
        (any::<[u8; 4]>(), 0u8..40)
            .prop_map(|(a, p)| format!("{}.{}.{}.{}/{p}", a[0], a[1], a[2], a[3])),
        nasty_token(),
    ]
}

/// One piece of a rule after `-A CHAIN`.
fn rule_piece() -> impl Strategy<Value = String> {
    let comment = prop_oneof![
        Just("\"a \\\"quoted\\\" comment\"".to_string()),
        Just("\"ns/svc:port cluster IP\"".to_string()),
        Just("\"\\\\\"".to_string()),
        Just("\"unbalanced".to_string()),
        Just("\"ends\\".to_string()),
        "\"[ -~]{0,30}\"",
        nasty_token(),
    ];
    prop_oneof![
        ip_like().prop_map(|a| format!("-s {a}")),
        ip_like().prop_map(|a| format!("! -d {a}")),
        ip_like().prop_map(|a| format!("--dst {a}")),
        nasty_token().prop_map(|p| format!("-p {p}")),
        Just("-p tcp -m tcp".to_string()),
        prop_oneof![
            Just("80"),
            Just("1000:2000"),
            Just(":"),
            Just("65536"),
            Just("80,443,8000:8080"),
            Just(",,"),
        ]
        .prop_map(|p| format!("--dport {p}")),
        (0u32..70000).prop_map(|p| format!("-m multiport --sports {p}")),
        comment.prop_map(|c| format!("-m comment --comment {c}")),
        prop_oneof![
            Just("0.5"),
            Just("NaN"),
            Just("inf"),
            Just("-1"),
            Just("0.00000000001"),
            Just("x")
        ]
        .prop_map(|p| format!("-m statistic --mode random --probability {p}")),
        (0u32..5).prop_map(|n| format!("-m statistic --mode nth --every {n} --packet 0")),
        Just("-m recent --name X --rcheck --seconds 10800 --reap --rsource".to_string()),
        Just("-m recent ! --set".to_string()),
        prop_oneof![
            Just("0x4000/0x4000"),
            Just("0xffffffff"),
            Just("0x100000000"),
            Just("1/"),
            Just("/")
        ]
        .prop_map(|m| format!("-m mark --mark {m}")),
        Just("-m addrtype --dst-type LOCAL".to_string()),
        Just("-m conntrack --ctstate INVALID,new".to_string()),
        Just("-m nfacct --nfacct-name x".to_string()),
        (any::<u64>(), any::<u64>()).prop_map(|(p, b)| format!("-c {p} {b}")),
        Just("-c 1".to_string()),
        Just("-i eth0 -o cali+".to_string()),
        Just("!".to_string()),
        chain_name().prop_map(|c| format!("-j {c}")),
        chain_name().prop_map(|c| format!("-g {c}")),
        Just("-j DNAT --to-destination 10.244.1.5:8080".to_string()),
        Just("-j DNAT --to-destination [fd00::1]:80-90".to_string()),
        Just("-j DNAT --to-destination".to_string()),
        Just("-j MARK --set-xmark 0x4000/0x4000".to_string()),
        Just("-j MARK --or-mark zz".to_string()),
        Just("-j MASQUERADE --random-fully".to_string()),
        Just("-j RETURN".to_string()),
        Just("-j".to_string()),
        nasty_token(),
    ]
}

/// One line of a near-valid `iptables-save` dump.
fn save_line() -> impl Strategy<Value = String> {
    let table = prop_oneof![
        Just("filter".to_string()),
        Just("nat".to_string()),
        Just("mangle".to_string()),
        nasty_token(),
    ];
    let policy = prop_oneof![
        Just("ACCEPT".to_string()),
        Just("DROP".to_string()),
        Just("-".to_string()),
        nasty_token(),
    ];
    let counters = prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(p, b)| format!("[{p}:{b}]")),
        nasty_token(),
    ];
    prop_oneof![
        table.prop_map(|t| format!("*{t}")),
        (chain_name(), policy, counters.clone()).prop_map(|(c, p, n)| format!(":{c} {p} {n}")),
        Just(":".to_string()),
        (
            prop::option::of(counters),
            chain_name(),
            prop::collection::vec(rule_piece(), 0..8)
        )
            .prop_map(|(n, c, pieces)| format!(
                "{}-A {c} {}",
                n.map(|n| n + " ").unwrap_or_default(),
                pieces.join(" ")
            )),
        chain_name().prop_map(|c| format!("-X {c}")),
        chain_name().prop_map(|c| format!("-N {c}")),
        Just("-F".to_string()),
        Just("COMMIT".to_string()),
        Just("# Generated by iptables-save v1.8.9".to_string()),
        Just(String::new()),
        nasty_token(),
    ]
}

/// A near-valid dump: mostly well-formed tables with random lines inside.
fn save_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(save_line(), 0..40).prop_map(|l| l.join("\n")),
        (
            prop_oneof![Just("filter"), Just("nat")],
            prop::collection::vec(save_line(), 0..30),
            any::<bool>()
        )
            .prop_map(|(t, l, commit)| {
                let mut s = format!("*{t}\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n");
                s.push_str(&l.join("\n"));
                if commit {
                    s.push_str("\nCOMMIT\n");
                }
                s
            }),
    ]
}

/// What a parsed dump may hold at most, given the text it came from.
fn assert_dump_bounded(text: &str, dump: &Dump) {
    let lines = text.lines().count();
    let rules: usize = dump.tables.iter().map(|t| t.rule_count()).sum();
    let chains: usize = dump.tables.iter().map(|t| t.chains.len()).sum();
    assert!(rules <= lines, "{rules} rules from {lines} lines");
    assert!(chains <= lines, "{chains} chains from {lines} lines");
    assert!(dump.tables.len() <= lines);
    for t in &dump.tables {
        for c in &t.chains {
            for r in &c.rules {
                assert!(r.text.len() <= text.len());
                assert!(r.line >= 1 && r.line <= lines);
                let m = &r.matches;
                let held: usize = m.comments.iter().map(String::len).sum::<usize>()
                    + m.unknown.iter().map(String::len).sum::<usize>()
                    + r.target
                        .as_ref()
                        .map_or(0, |t| t.args.iter().map(String::len).sum());
                assert!(held <= 2 * r.text.len(), "{held} bytes kept from {r:?}");
            }
        }
    }
}

fn assert_parse_error(text: &str, e: &save::ParseError) {
    assert!(!e.message.trim().is_empty(), "empty message for {text:?}");
    assert!(
        e.line <= text.lines().count().max(1),
        "line {} of a {}-line text",
        e.line,
        text.lines().count()
    );
    assert!(e.to_string().starts_with(&format!("line {}: ", e.line)));
}

fn check_save(text: &str) {
    match save::parse(text) {
        Ok(dump) => assert_dump_bounded(text, &dump),
        Err(e) => assert_parse_error(text, &e),
    }
}

fn check_rule(line: &str) {
    match save::parse_rule(line, 7) {
        Ok(r) => {
            assert_eq!(r.line, 7);
            assert!(r.text.len() <= line.len());
            // args() must be callable on whatever was accepted.
            assert!(r.args().len() <= r.text.len());
            if let Some(t) = &r.target {
                let _ = t.mark_op();
                let _ = t.to_destination();
            }
        }
        Err(e) => {
            assert_eq!(e.line, 7);
            assert!(!e.message.is_empty());
        }
    }
}

fn trace_packets() -> Vec<Packet> {
    vec![
        Packet {
            hook: Hook::Prerouting,
            src: "10.244.1.2".parse().unwrap(),
            dst: "10.96.0.10".parse().unwrap(),
            protocol: "tcp".into(),
            sport: Some(40000),
            dport: 80,
            in_iface: Some("cali123".into()),
        },
        Packet {
            hook: Hook::Output,
            src: "127.0.0.1".parse().unwrap(),
            dst: "fd00::1".parse().unwrap(),
            protocol: "udp".into(),
            sport: None,
            dport: 53,
            in_iface: None,
        },
    ]
}

/// The tracer walks whatever the learner's `iptables-save` printed: it must stop within a
/// bounded amount of work and report a bounded number of branches.
fn check_trace(dump: &Dump) {
    for pkt in trace_packets() {
        for kube_jumps in [false, true] {
            let opts = TraceOptions {
                kube_jumps,
                ..TraceOptions::default()
            };
            let t = trace(dump, &pkt, &opts);
            assert!(t.branches.len() <= 10_000, "{} branches", t.branches.len());
            let steps: usize = t.branches.iter().map(|b| b.path.len()).sum();
            assert!(steps <= 1_000_000, "{steps} steps");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn save_parse_any_text(text in any_text()) {
        check_save(&text);
    }

    #[test]
    fn save_parse_near_valid(text in save_text()) {
        check_save(&text);
    }

    #[test]
    fn save_parse_rule_any_line(line in any_text()) {
        check_rule(&line);
    }

    #[test]
    fn save_parse_rule_near_valid(
        counters in prop::option::of("\\[[0-9:]{0,25}\\]?"),
        chain in chain_name(),
        pieces in prop::collection::vec(rule_piece(), 0..10),
    ) {
        let line = format!("{}-A {chain} {}", counters.unwrap_or_default(), pieces.join(" "));
        check_rule(&line);
    }

    #[test]
    fn save_tokenize_keeps_no_more_than_it_reads(line in any_text()) {
        match save::tokenize(&line) {
            Ok(toks) => {
                let kept: usize = toks.iter().map(String::len).sum();
                prop_assert!(kept <= line.len());
                prop_assert!(toks.len() <= line.len());
            }
            Err(e) => prop_assert_eq!(e, "unterminated quote"),
        }
    }

    #[test]
    fn trace_any_parsed_dump_is_bounded(text in save_text()) {
        if let Ok(dump) = save::parse(&text) {
            check_trace(&dump);
        }
    }

    #[test]
    fn conntrack_list_any_text(text in any_text()) {
        let entries = parse_conntrack_list(&text);
        prop_assert!(entries.len() <= text.lines().count());
    }

    #[test]
    fn conntrack_list_near_valid(lines in prop::collection::vec(conntrack_line(), 0..20)) {
        let text = lines.join("\n");
        let entries = parse_conntrack_list(&text);
        prop_assert!(entries.len() <= lines.len());
    }

    #[test]
    fn label_selector_any_text(text in any_text()) {
        check_selector(&text);
    }

    #[test]
    fn label_selector_near_valid(parts in prop::collection::vec(selector_part(), 0..6)) {
        check_selector(&parts.join(","));
    }

    #[test]
    fn label_selector_from_any_json(v in json_value()) {
        match LabelSelector::from_json(Some(&v)) {
            Ok(s) => {
                let _ = s.to_string();
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn k8s_load_any_text(text in any_text()) {
        check_load(&text);
    }

    #[test]
    fn k8s_load_near_valid_yaml(docs in prop::collection::vec(yaml_doc(), 0..5)) {
        check_load(&docs.join("\n---\n"));
    }

    #[test]
    fn k8s_load_any_json(v in json_value()) {
        check_load(&v.to_string());
    }

    /// kube-proxy and calico-node read the objects the learner creates through the lab API.
    #[test]
    fn objects_render_as_rules(objs in prop::collection::vec(near_valid_object(), 0..6)) {
        let text = serde_json::to_string(&objs).expect("json");
        check_load(&text);
        let loaded = k8s::load(&text);
        let cfg = netrules::kubeproxy::ProxierConfig {
            node_name: "node-1".into(),
            cluster_cidrs: vec!["10.244.0.0/16".into()],
            ..Default::default()
        };
        let out = netrules::kubeproxy::render(&cfg, &loaded.objects);
        prop_assert!(save::parse(&out.restore_text).is_ok(), "{}", out.restore_text);
        let (cluster, errors) = netrules::netpol::Cluster::from_values(&objs);
        let facts = netrules::netpol::NodeFacts {
            node_name: "node-1".into(),
            ifaces: cluster.pods.iter().map(|p| (p.key(), "cali0123456789a".to_string())).collect(),
        };
        let r = netrules::netpol::render(&cluster, &facts);
        for e in &errors {
            prop_assert!(!e.message.is_empty());
        }
        // What calico-node would restore reads back as a dump.
        let text = r.save_text();
        prop_assert!(save::parse(&text).is_ok(), "{}", text);
    }

    /// calico-node and `policy explain` walk the node's filter table as iptables-save printed it.
    #[test]
    fn netpol_tracer_any_filter_table(text in prop_oneof![save_text(), any_text()]) {
        use netrules::netpol::tracer::{trace as walk, Packet as NpPacket};
        if let Ok(table) = netrules::netpol::parse_filter(&text) {
            let pkt = NpPacket::new(
                "10.244.1.2".parse().unwrap(),
                "10.244.2.3".parse().unwrap(),
                "cali0123456789a",
                "vxlan.calico",
                netrules::netpol::Protocol::Tcp,
                80,
            );
            for start in ["FORWARD", "INPUT", "OUTPUT", "cali-FORWARD"] {
                match walk(&table, start, &pkt) {
                    Ok(t) => prop_assert!(t.steps.len() <= 100_000),
                    Err(e) => prop_assert!(!e.to_string().is_empty()),
                }
            }
        }
    }

    #[test]
    fn ip_and_cidr_parsers_round_trip(s in prop_oneof![ip_like(), any_text()]) {
        if let Some(ip) = netrules::ip::parse_ip_sloppy(&s) {
            prop_assert_eq!(netrules::ip::parse_ip_sloppy(&ip.to_string()), Some(ip));
        }
        if let Some(c) = netrules::ip::parse_cidr_sloppy(&s) {
            let max = if c.addr.is_ipv4() { 32 } else { 128 };
            prop_assert!(c.prefix <= max);
        }
        let _ = netrules::kubeproxy::parse_flag_ip(&s);
    }
}

/// A near-valid object: one of kube-proxy's and Calico's inputs with a few fields replaced
/// by any JSON.
fn near_valid_object() -> impl Strategy<Value = Value> {
    let base = prop::sample::select(vec![
        r#"{"kind":"Service","metadata":{"name":"web","namespace":"default"},"spec":{"type":"NodePort","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ipFamilies":["IPv4"],"selector":{"app":"web"},"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}],"externalTrafficPolicy":"Local","sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":10800}},"loadBalancerSourceRanges":["10.0.0.0/8"],"externalIPs":["192.0.2.1"]},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.2"}]}}}"#,
        r#"{"kind":"EndpointSlice","metadata":{"name":"web-1","namespace":"default","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.5"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node-1"}],"ports":[{"name":"http","protocol":"TCP","port":8080}]}"#,
        r#"{"kind":"Node","metadata":{"name":"node-1"},"spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]},"status":{"addresses":[{"type":"InternalIP","address":"172.18.0.2"}]}}"#,
        r#"{"kind":"NetworkPolicy","metadata":{"name":"np","namespace":"default"},"spec":{"podSelector":{"matchLabels":{"app":"web"}},"ingress":[{"from":[{"podSelector":{"matchExpressions":[{"key":"app","operator":"In","values":["a"]}]},"namespaceSelector":{}},{"ipBlock":{"cidr":"10.0.0.0/8","except":["10.1.0.0/16"]}}],"ports":[{"protocol":"TCP","port":80,"endPort":90},{"port":"http"}]}],"egress":[{"to":[{"ipBlock":{"cidr":"0.0.0.0/0"}}]}],"policyTypes":["Ingress","Egress"]}}"#,
        r#"{"kind":"Pod","metadata":{"name":"web-1","namespace":"default","labels":{"app":"web"}},"spec":{"nodeName":"node-1","containers":[{"name":"c","ports":[{"name":"http","containerPort":8080}]}]},"status":{"podIP":"10.244.1.5","phase":"Running"}}"#,
        r#"{"kind":"Namespace","metadata":{"name":"default","labels":{"kubernetes.io/metadata.name":"default"}}}"#,
    ]);
    let path = prop::collection::vec(
        prop::sample::select(vec![
            "metadata",
            "name",
            "namespace",
            "labels",
            "spec",
            "status",
            "ports",
            "port",
            "targetPort",
            "nodePort",
            "endPort",
            "protocol",
            "clusterIP",
            "clusterIPs",
            "type",
            "selector",
            "endpoints",
            "addresses",
            "conditions",
            "ready",
            "addressType",
            "podSelector",
            "namespaceSelector",
            "matchLabels",
            "matchExpressions",
            "ingress",
            "egress",
            "from",
            "to",
            "ipBlock",
            "cidr",
            "except",
            "policyTypes",
            "podIP",
            "nodeName",
            "containers",
            "containerPort",
            "externalTrafficPolicy",
            "sessionAffinityConfig",
            "timeoutSeconds",
            "podCIDR",
            "items",
        ]),
        1..4,
    );
    (base, prop::collection::vec((path, json_value()), 0..4)).prop_map(|(base, edits)| {
        let mut v: Value = serde_json::from_str(base).expect("valid base");
        for (path, value) in edits {
            let mut cur = &mut v;
            for k in path {
                if !cur.is_object() {
                    *cur = Value::Object(Default::default());
                }
                cur = cur
                    .as_object_mut()
                    .expect("object")
                    .entry(k.to_string())
                    .or_insert(Value::Null);
            }
            *cur = value;
        }
        v
    })
}

fn conntrack_line() -> impl Strategy<Value = String> {
    let kv = prop_oneof![
        ip_like().prop_map(|a| format!("src={a}")),
        ip_like().prop_map(|a| format!("dst={a}")),
        (0u32..70000).prop_map(|p| format!("sport={p}")),
        (0u32..70000).prop_map(|p| format!("dport={p}")),
        Just("[UNREPLIED]".to_string()),
        Just("mark=0".to_string()),
        Just("=".to_string()),
        nasty_token(),
    ];
    (
        prop_oneof![
            Just("udp      17 27"),
            Just("ipv4 2 udp 17 29"),
            Just("ipv6"),
            Just("ipv4 2"),
            Just("tcp 6 431999 ESTABLISHED"),
            Just("")
        ],
        prop::collection::vec(kv, 0..12),
    )
        .prop_map(|(head, kvs)| format!("{head} {}", kvs.join(" ")))
}

fn selector_part() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("app".to_string()),
        Just("app.kubernetes.io/name".to_string()),
        Just("-".to_string()),
        nasty_token(),
    ];
    let val = prop_oneof![Just("web".to_string()), nasty_token()];
    prop_oneof![
        (key.clone(), val.clone()).prop_map(|(k, v)| format!("{k}={v}")),
        (key.clone(), val.clone()).prop_map(|(k, v)| format!("{k}=={v}")),
        (key.clone(), val.clone()).prop_map(|(k, v)| format!("{k}!={v}")),
        (key.clone(), prop::collection::vec(val.clone(), 0..4))
            .prop_map(|(k, v)| format!("{k} in ({})", v.join(","))),
        (key.clone(), prop::collection::vec(val, 0..4))
            .prop_map(|(k, v)| format!("{k} notin ({})", v.join(", "))),
        key.clone().prop_map(|k| format!("!{k}")),
        key.clone().prop_map(|k| format!("{k} in")),
        key.prop_map(|k| format!("{k} gt 3")),
        Just("((((".to_string()),
        Just("))))".to_string()),
    ]
}

fn check_selector(text: &str) {
    match LabelSelector::parse(text) {
        Ok(s) => {
            assert!(s.requirements.len() <= text.len());
            let shown = s.to_string();
            assert!(shown.len() <= 2 * text.len() + 1, "{shown:?} from {text:?}");
        }
        Err(e) => assert!(
            e.starts_with("unable to parse requirement: "),
            "unclear error {e:?} for {text:?}"
        ),
    }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("Service".to_string()),
            Just("EndpointSlice".to_string()),
            Just("Node".to_string()),
            Just("List".to_string()),
            Just("In".to_string()),
            Just("10.96.0.10".to_string()),
            nasty_token(),
        ]
        .prop_map(Value::String),
    ];
    let key = prop_oneof![
        Just("kind"),
        Just("metadata"),
        Just("name"),
        Just("namespace"),
        Just("labels"),
        Just("spec"),
        Just("ports"),
        Just("port"),
        Just("clusterIP"),
        Just("items"),
        Just("endpoints"),
        Just("addresses"),
        Just("matchLabels"),
        Just("matchExpressions"),
        Just("key"),
        Just("operator"),
        Just("values"),
        Just("x"),
    ]
    .prop_map(str::to_string);
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A near-valid YAML document: a Service, EndpointSlice or Node with random values, or YAML
/// features that may blow up (anchors and aliases, tags, deep nesting).
fn yaml_doc() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        Just("web".to_string()),
        Just("80".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("~".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("!!binary aGk=".to_string()),
        Just("*undefined".to_string()),
        Just("&a x".to_string()),
        Just("\"\\u0000\"".to_string()),
        Just("'".to_string()),
        nasty_token(),
    ];
    prop_oneof![
        (
            prop_oneof![
                Just("Service"),
                Just("EndpointSlice"),
                Just("Node"),
                Just("List"),
                Just("Pod"),
                Just("")
            ],
            prop::collection::vec(scalar, 6)
        )
            .prop_map(|(kind, s)| format!(
                "kind: {kind}\nmetadata: {{name: {}, namespace: {}, labels: {{kubernetes.io/service-name: {}}}}}\n\
                 spec: {{clusterIP: {}, ports: [{{name: http, port: {}}}]}}\n\
                 addressType: IPv4\nendpoints: [{{addresses: [{}]}}]\nitems: []\n",
                s[0], s[1], s[2], s[3], s[4], s[5]
            )),
        (1usize..200).prop_map(|n| format!("kind: Service\nspec: {}{}", "[".repeat(n), "]".repeat(n))),
        // Deeper nesting is `regression_yaml_aliases_are_bounded`'s: each level costs time here.
        (1usize..4).prop_map(laughs),
        any_text(),
    ]
}

/// A "billion laughs" document: `n` levels of anchors, each alias list doubling the last.
fn laughs(n: usize) -> String {
    let mut s = String::from("a0: &a0 [\"lol\"]\n");
    for i in 1..=n {
        let p = i - 1;
        s.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    s.push_str(&format!("kind: List\nitems: *a{n}\n"));
    s
}

fn check_load(text: &str) {
    let loaded = k8s::load(text);
    // YAML aliases may repeat a node: serde_yaml_ng stops a document at 100 times its own
    // events ("repetition limit exceeded"), so what comes out stays within a constant factor.
    let docs = 100 * (text.len() + 1);
    let objects = loaded.objects.services.len()
        + loaded.objects.endpoint_slices.len()
        + loaded.objects.nodes.len()
        + loaded.ignored.len();
    assert!(
        objects + loaded.errors.len() <= docs,
        "{objects} objects and {} errors from {} bytes",
        loaded.errors.len(),
        text.len()
    );
    for e in &loaded.errors {
        assert!(!e.message.is_empty());
        assert!(e.message.len() <= 4096 + text.len(), "{}", e.message.len());
        // YAML counts a lone CR as a line break too, and may point just past the end.
        let breaks = text.matches('\n').count() + text.matches('\r').count();
        assert!(e.line >= 1 && e.line <= breaks + 2, "{e}");
    }
}

// Regression tests: every input a property above ever failed on, by name.

/// Found by `k8s_load_near_valid_yaml`: two levels of aliases give 81 items from 146 bytes,
/// which is fine; more levels must stop at the YAML library's repetition limit, quickly.
#[test]
fn regression_yaml_aliases_are_bounded() {
    let two = k8s::load(&laughs(2));
    assert_eq!(two.errors.len(), 81);
    for n in [4, 9, 12] {
        let t = std::time::Instant::now();
        let loaded = k8s::load(&laughs(n));
        assert_eq!(loaded.errors.len(), 1, "{n}");
        assert_eq!(loaded.errors[0].message, "repetition limit exceeded");
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }
}

/// A dump the tracer must finish quickly on, whatever the learner's `iptables-save` printed.
fn assert_trace_finishes(text: &str) {
    let dump = save::parse(text).expect("parses");
    let t = std::time::Instant::now();
    check_trace(&dump);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}

/// A chain that jumps to itself twice: every call makes two more, 2^64 walks before the depth
/// limit stopped each one. (iptables refuses loops, but the learner can replace iptables-save.)
#[test]
fn regression_trace_self_jump_twice() {
    assert_trace_finishes(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:A - [0:0]\n\
         -A INPUT -j A\n-A FORWARD -j A\n-A OUTPUT -j A\n-A A -j A\n-A A -j A\nCOMMIT\n",
    );
}

/// Random rules that do not end the walk: each one doubles the branches (2^40 here).
#[test]
fn regression_trace_random_marks_double_the_branches() {
    let mut text = String::from("*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for chain in ["PREROUTING", "OUTPUT"] {
        for _ in 0..40 {
            text.push_str(&format!(
                "-A {chain} -m statistic --mode random --probability 0.5 -j MARK --set-xmark 0x1/0x1\n"
            ));
        }
    }
    text.push_str("COMMIT\n");
    assert_trace_finishes(&text);
}

/// Thousands of random rules in one chain: each branch not taken continues one call deeper, so
/// without a nesting limit the walk overflows the stack (an abort, not even a panic).
#[test]
fn regression_trace_long_random_chain_keeps_the_stack() {
    let mut text = String::from("*nat\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..5000 {
        text.push_str(&format!(
            "-A OUTPUT -m statistic --mode random --probability 0.0002 -j DNAT --to-destination 10.0.{}.{}:80\n",
            i / 256,
            i % 256
        ));
    }
    text.push_str("COMMIT\n");
    // The test harness's 2 MiB thread stack is what the server's worker threads have too.
    assert_trace_finishes(&text);
    let dump = save::parse(&text).unwrap();
    let t = trace(&dump, &trace_packets()[1], &TraceOptions::default());
    assert!(t
        .notes
        .iter()
        .any(|n| n.contains("not traced") || n.contains("trace stopped")));
}

/// Found by `k8s_load_any_text` (at 4000 cases): YAML counts a lone CR as a line break, so an
/// error in a text of one `lines()` line is on line 3; the line still points into the text.
#[test]
fn regression_yaml_error_line_counts_cr_breaks() {
    let loaded = k8s::load("'\r\t");
    assert_eq!(loaded.errors.len(), 1);
    check_load("'\r\t");
}

/// A self-jumping rule with a long comment: the netpol tracer walks it until its 100 000-rule
/// budget runs out, and each step kept a full copy of the rule.
#[test]
fn regression_netpol_tracer_loop_with_a_long_rule() {
    use netrules::netpol::tracer::{trace as walk, Packet as NpPacket};
    let text = format!(
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m comment --comment \"{}\" -j FORWARD\nCOMMIT\n",
        "x".repeat(2000)
    );
    let table = netrules::netpol::parse_filter(&text).unwrap();
    let pkt = NpPacket::new(
        "10.244.1.2".parse().unwrap(),
        "10.244.2.3".parse().unwrap(),
        "cali0123456789a",
        "vxlan.calico",
        netrules::netpol::Protocol::Tcp,
        80,
    );
    let t = std::time::Instant::now();
    let r = walk(&table, "FORWARD", &pkt);
    assert!(r.unwrap_err().to_string().contains("a loop?"));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
}

/// The walk's budget counted rules, but every step on a path keeps the rule's text: two 40 KB
/// rules that jump to their own chain filled the budget with copies of them (9 s, 300 MB).
#[test]
fn regression_trace_loop_of_long_rules() {
    let long = "x".repeat(40000);
    assert_trace_finishes(&format!(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:A - [0:0]\n\
         -A INPUT -j A\n-A FORWARD -j A\n-A OUTPUT -j A\n\
         -A A -m comment --comment \"{long}\" -j A\n-A A -m comment --comment \"{long}\" -j A\nCOMMIT\n"
    ));
}

/// Many chains (1.2 MB of dump): finding a chain by name was a scan of every chain, per line
/// in the parser (40 000 chains: 19 s) and per jump or unknown target in the tracer, which also
/// kept one note per unknown target, each checked against all the others (58 s).
#[test]
fn regression_many_chains_parse_and_trace_in_linear_time() {
    let n = 40_000;
    let declared: String = (0..n).map(|i| format!(":C{i} - [0:0]\n")).collect();
    let jumps: String = (0..n)
        .map(|i| format!("-A OUTPUT -j C{i}\n-A C{i} -p udp\n"))
        .collect();
    let unknown: String = (0..n).map(|i| format!("-A OUTPUT -j N{i}\n")).collect();
    let pkt = &trace_packets()[1];
    for rules in [jumps, unknown] {
        let text = format!("*filter\n:OUTPUT ACCEPT [0:0]\n{declared}{rules}COMMIT\n");
        let t = std::time::Instant::now();
        let dump = save::parse(&text).unwrap();
        assert_eq!(dump.tables[0].chains.len(), n + 1);
        let tr = trace(&dump, pkt, &TraceOptions::default());
        assert!(tr.notes.len() <= 65, "{}", tr.notes.len());
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }
}

/// A stream of 50 000 small JSON documents (800 KB): each document's line was counted from the
/// start of the text (350 s in a debug build).
#[test]
fn regression_json_stream_lines_in_linear_time() {
    let text = "{\"kind\": \"Pod\"}\n".repeat(50_000);
    let t = std::time::Instant::now();
    let loaded = k8s::load(&text);
    assert_eq!(loaded.ignored.len(), 50_000);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}
