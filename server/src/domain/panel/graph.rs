//! The chain graph of a node: the nat and filter chains of its `iptables-save -c` as nodes
//! with their rules and counters, jumps as edges, and each chain labelled and grouped by the
//! Service (and endpoint, with the pod's name) or NetworkPolicy it belongs to. Pure.

use std::collections::{BTreeMap, BTreeSet};

use netrules::save::{Dump, SaveChain};
use serde::Serialize;

/// One rule of a chain.
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    /// 1-based position (`iptables -L --line-numbers`).
    pub index: usize,
    /// The rule as `iptables -S` prints it.
    pub text: String,
    /// Target (`DNAT`, a chain, …), if any.
    pub target: Option<String>,
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted.
    pub bytes: u64,
    /// `-m comment`.
    pub comment: Option<String>,
    /// `-m statistic --probability`.
    pub probability: Option<f64>,
    /// The rule's handle (nftables view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    /// Whether the rule counts packets (nftables rules count only with a `counter`; absent in
    /// the iptables view, where every rule counts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counter: Option<bool>,
}

/// One chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainView {
    /// `table:chain`.
    pub id: String,
    /// Table.
    pub table: String,
    /// Chain name.
    pub name: String,
    /// `hook` (built-in), `services`, `nodeports`, `svc`, `svl`, `ext`, `fw`, `sep`,
    /// `postrouting`, `mark`, `policy` (cali-*), `kube` (other KUBE-*), `other`.
    pub kind: String,
    /// The Service (`ns/name[:port]`) it belongs to.
    pub service: Option<String>,
    /// The endpoint (`ip:port`) of a KUBE-SEP chain.
    pub endpoint: Option<String>,
    /// The pod behind the endpoint (`ns/name`).
    pub pod: Option<String>,
    /// The NetworkPolicy named in a cali-pi/po chain.
    pub policy: Option<String>,
    /// A short label for the graph.
    pub label: String,
    /// Policy of a built-in chain.
    pub chain_policy: Option<String>,
    /// Sum of the rules' packets.
    pub packets: u64,
    /// Rules.
    pub rules: Vec<RuleView>,
    /// The hook and priority of an nftables base chain (`nat hook prerouting priority -100`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
}

/// A jump or goto.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// `table:chain`.
    pub from: String,
    /// `table:chain`.
    pub to: String,
    /// Rule index in `from`.
    pub rule: usize,
    /// `-g` rather than `-j`.
    pub goto: bool,
}

/// A Service and its chains.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceGroup {
    /// `ns/name[:port]`.
    pub name: String,
    /// Chain ids.
    pub chains: Vec<String>,
    /// Endpoints `(ip:port, pod)`.
    pub endpoints: Vec<(String, Option<String>)>,
}

/// The whole graph.
#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    /// Node.
    pub node: String,
    /// Chains (nat first, then filter), in declaration order.
    pub chains: Vec<ChainView>,
    /// Jumps.
    pub edges: Vec<Edge>,
    /// Services.
    pub services: Vec<ServiceGroup>,
    /// A hash of the rules without counters: changes exactly when the rules do.
    pub hash: String,
}

const TABLES: [&str; 2] = ["nat", "filter"];

fn kind_of(table: &str, name: &str, builtin: bool) -> &'static str {
    if builtin {
        return "hook";
    }
    match name {
        "KUBE-SERVICES" => "services",
        "KUBE-NODEPORTS" => "nodeports",
        "KUBE-POSTROUTING" => "postrouting",
        "KUBE-MARK-MASQ" | "KUBE-MARK-DROP" => "mark",
        _ if name.starts_with("KUBE-SVC-") => "svc",
        _ if name.starts_with("KUBE-SVL-") => "svl",
        _ if name.starts_with("KUBE-EXT-") => "ext",
        _ if name.starts_with("KUBE-FW-") => "fw",
        _ if name.starts_with("KUBE-SEP-") => "sep",
        _ if name.starts_with("cali-") && table == "filter" => "policy",
        _ if name.starts_with("cali-") => "cali-nat",
        _ if name.starts_with("KUBE-") => "kube",
        _ => "other",
    }
}

/// The Service named by a kube-proxy comment (`default/web cluster IP`, `default/web:http ->
/// 10.244.1.2:80`, `masquerade traffic for default/web external destinations`).
pub fn service_in_comment(c: &str) -> Option<String> {
    let c = c
        .strip_prefix("masquerade traffic for ")
        .or_else(|| c.strip_prefix("pod traffic for "))
        .or_else(|| c.strip_prefix("route LOCAL traffic for "))
        .unwrap_or(c);
    let first = c.split_whitespace().next()?;
    (first.contains('/') && !first.contains("//") && first.split('/').count() == 2)
        .then(|| first.to_string())
}

fn policy_in_comment(c: &str) -> Option<String> {
    // "Policy default/knp.default.deny-db" and "... NetworkPolicy default/deny-db, ..."
    if let Some(i) = c.find("NetworkPolicy ") {
        let rest = &c[i + "NetworkPolicy ".len()..];
        return rest
            .split(|ch: char| ch == ',' || ch.is_whitespace())
            .next()
            .map(str::to_string);
    }
    let rest = c.strip_prefix("Policy ")?;
    let word = rest.split_whitespace().next()?;
    let (ns, name) = word.split_once('/')?;
    let name = name
        .strip_prefix(&format!("knp.{ns}."))
        .unwrap_or(name)
        .to_string();
    Some(format!("{ns}/{name}"))
}

fn chain_service(c: &SaveChain) -> Option<String> {
    c.rules
        .iter()
        .filter_map(|r| r.matches.comment())
        .find_map(service_in_comment)
}

/// Builds the graph; `pods` maps pod IP -> `ns/name`.
pub fn build(node: &str, dump: &Dump, pods: &BTreeMap<String, String>) -> Graph {
    let mut chains = Vec::new();
    let mut edges = Vec::new();
    // Services referenced from KUBE-SERVICES / KUBE-NODEPORTS jump rules name their SVC chains.
    let mut svc_of_chain: BTreeMap<String, String> = BTreeMap::new();
    for t in TABLES {
        let Some(table) = dump.table(t) else { continue };
        for c in &table.chains {
            for r in &c.rules {
                if let (Some(tg), Some(cm)) = (&r.target, r.matches.comment()) {
                    if let Some(s) = service_in_comment(cm) {
                        if tg.name.starts_with("KUBE-") {
                            svc_of_chain.entry(tg.name.clone()).or_insert(s);
                        }
                    }
                }
            }
        }
    }
    for t in TABLES {
        let Some(table) = dump.table(t) else { continue };
        // Jump targets are looked up once per rule: a set, not a scan of every chain.
        let names: std::collections::HashSet<&str> =
            table.chains.iter().map(|c| c.name.as_str()).collect();
        for c in &table.chains {
            if c.deleted {
                continue;
            }
            let id = format!("{t}:{}", c.name);
            let kind = kind_of(t, &c.name, c.policy.is_some());
            let mut rules = Vec::new();
            let mut packets = 0;
            for (i, r) in c.rules.iter().enumerate() {
                let cnt = r.counters.unwrap_or_default();
                packets += cnt.packets;
                if let Some(tg) = &r.target {
                    if names.contains(tg.name.as_str()) {
                        edges.push(Edge {
                            from: id.clone(),
                            to: format!("{t}:{}", tg.name),
                            rule: i + 1,
                            goto: tg.goto,
                        });
                    }
                }
                rules.push(RuleView {
                    index: i + 1,
                    text: r.text.clone(),
                    target: r.target.as_ref().map(|t| t.name.clone()),
                    packets: cnt.packets,
                    bytes: cnt.bytes,
                    comment: r.matches.comment().map(String::from),
                    probability: r.matches.statistic.as_ref().and_then(|s| s.probability),
                    handle: None,
                    counter: None,
                });
            }
            let service = match kind {
                "svc" | "svl" | "ext" | "fw" | "sep" => svc_of_chain
                    .get(&c.name)
                    .cloned()
                    .or_else(|| chain_service(c)),
                _ => None,
            };
            let endpoint = (kind == "sep")
                .then(|| {
                    c.rules
                        .iter()
                        .find_map(|r| r.target.as_ref()?.to_destination().map(str::to_string))
                })
                .flatten();
            let pod = endpoint
                .as_deref()
                .and_then(|e| e.rsplit_once(':').map(|(ip, _)| ip))
                .and_then(|ip| pods.get(ip).cloned());
            let policy = (kind == "policy")
                .then(|| {
                    c.rules
                        .iter()
                        .filter_map(|r| r.matches.comment())
                        .find_map(policy_in_comment)
                })
                .flatten();
            let label = match (kind, &service, &endpoint, &pod, &policy) {
                ("sep", _, Some(e), Some(p), _) => {
                    format!("{} ({e})", p.rsplit('/').next().unwrap_or(p))
                }
                ("sep", _, Some(e), None, _) => e.clone(),
                ("svc" | "svl" | "ext" | "fw", Some(s), _, _, _) => {
                    format!("{} {s}", &c.name[5..8])
                }
                (_, _, _, _, Some(p)) => format!("policy {p}"),
                _ => c.name.clone(),
            };
            chains.push(ChainView {
                id,
                table: t.to_string(),
                name: c.name.clone(),
                kind: kind.to_string(),
                service,
                endpoint,
                pod,
                policy,
                label,
                chain_policy: c.policy.clone(),
                packets,
                rules,
                hook: None,
            });
        }
    }
    let mut groups: BTreeMap<String, ServiceGroup> = BTreeMap::new();
    for c in &chains {
        if let Some(s) = &c.service {
            let g = groups.entry(s.clone()).or_insert_with(|| ServiceGroup {
                name: s.clone(),
                chains: Vec::new(),
                endpoints: Vec::new(),
            });
            g.chains.push(c.id.clone());
            if let Some(e) = &c.endpoint {
                g.endpoints.push((e.clone(), c.pod.clone()));
            }
        }
    }
    Graph {
        node: node.to_string(),
        hash: rules_hash(dump),
        chains,
        edges,
        services: groups.into_values().collect(),
    }
}

/// A hash of the nat and filter rules without counters.
pub fn rules_hash(dump: &Dump) -> String {
    use std::hash::{Hash, Hasher};
    // FNV-1a over the rule texts: stable across runs and processes (unlike `DefaultHasher`'s
    // seed-free SipHash, which is stable too, but FNV needs no allocation-heavy state).
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 ^= u64::from(*b);
                self.0 = self.0.wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for t in TABLES {
        let Some(table) = dump.table(t) else { continue };
        for c in &table.chains {
            c.name.hash(&mut h);
            for r in &c.rules {
                r.text.hash(&mut h);
            }
        }
    }
    format!("{:016x}", h.finish())
}

/// `iptables-save -c` text without counters and `#` lines (what snapshots store and diff).
pub fn strip_counters(save: &str) -> String {
    let mut out = String::with_capacity(save.len());
    for l in save.lines() {
        if l.starts_with('#') {
            continue;
        }
        let l = if l.starts_with('[') {
            l.split_once("] ").map(|(_, r)| r).unwrap_or(l)
        } else if l.starts_with(':') {
            // `:CHAIN POLICY [p:b]` -> `:CHAIN POLICY [0:0]`
            match l.rfind(" [") {
                Some(i) => {
                    out.push_str(&l[..i]);
                    out.push_str(" [0:0]\n");
                    continue;
                }
                None => l,
            }
        } else {
            l
        };
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Chains whose counters grew between two graphs (`table:chain` -> rule indexes).
pub fn counted(before: &Graph, after: &Graph) -> BTreeMap<String, BTreeSet<usize>> {
    let mut out: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for c in &after.chains {
        let Some(b) = before.chains.iter().find(|x| x.id == c.id) else {
            continue;
        };
        for r in &c.rules {
            let old = b
                .rules
                .iter()
                .find(|x| x.index == r.index && x.text == r.text)
                .map(|x| x.packets)
                .unwrap_or(0);
            if r.packets > old {
                out.entry(c.id.clone()).or_default().insert(r.index);
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const SAVE: &str = r#"# Generated by iptables-save v1.8.9
*nat
:PREROUTING ACCEPT [10:600]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-SVC-LOLE4ISW44XBNF3G - [0:0]
:KUBE-SEP-AAA - [0:0]
:KUBE-SEP-BBB - [0:0]
:KUBE-SEP-CCC - [0:0]
:KUBE-MARK-MASQ - [0:0]
[12:720] -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
[3:180] -A KUBE-SERVICES -d 10.96.5.5/32 -p tcp -m comment --comment "default/web cluster IP" -m tcp --dport 80 -j KUBE-SVC-LOLE4ISW44XBNF3G
[0:0] -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
[0:0] -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
[0:0] -A KUBE-SVC-LOLE4ISW44XBNF3G ! -s 10.244.0.0/16 -d 10.96.5.5/32 -p tcp -m comment --comment "default/web cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
[1:60] -A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment "default/web -> 10.244.1.2:80" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-AAA
[1:60] -A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment "default/web -> 10.244.2.1:80" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-BBB
[1:60] -A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment "default/web -> 10.244.2.2:80" -j KUBE-SEP-CCC
[0:0] -A KUBE-SEP-AAA -s 10.244.1.2/32 -m comment --comment "default/web" -j KUBE-MARK-MASQ
[1:60] -A KUBE-SEP-AAA -p tcp -m comment --comment "default/web" -m tcp -j DNAT --to-destination 10.244.1.2:80
[1:60] -A KUBE-SEP-BBB -p tcp -m comment --comment "default/web" -m tcp -j DNAT --to-destination 10.244.2.1:80
[1:60] -A KUBE-SEP-CCC -p tcp -m comment --comment "default/web" -m tcp -j DNAT --to-destination 10.244.2.2:80
COMMIT
*filter
:FORWARD ACCEPT [0:0]
:cali-tw-cali4ef16dcf0ac - [0:0]
:cali-pi-_BYE6JNvK9TX8vr2TfXd - [0:0]
[0:0] -A FORWARD -j cali-tw-cali4ef16dcf0ac
[0:0] -A cali-tw-cali4ef16dcf0ac -m comment --comment "cali:D6n-dw9bWtM3LY5a" -m comment --comment "Policy default/knp.default.deny-db" -j cali-pi-_BYE6JNvK9TX8vr2TfXd
[0:0] -A cali-pi-_BYE6JNvK9TX8vr2TfXd -m comment --comment "cali:bMGNduftk4MCVAVF" -m comment --comment "Policy default/knp.default.deny-db ingress: NetworkPolicy default/deny-db, 0 ingress rule(s), only sets the accept mark"
COMMIT
"#;

    pub(crate) fn pods() -> BTreeMap<String, String> {
        [
            ("10.244.1.2", "default/web-a"),
            ("10.244.2.1", "default/web-b"),
            ("10.244.2.2", "default/web-c"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    #[test]
    fn a_three_endpoint_service_is_grouped_with_pod_names() {
        let dump = netrules::save::parse(SAVE).unwrap();
        let g = build("node-1", &dump, &pods());
        assert_eq!(g.services.len(), 1);
        let s = &g.services[0];
        assert_eq!(s.name, "default/web");
        assert_eq!(s.endpoints.len(), 3);
        assert_eq!(
            s.endpoints[0],
            ("10.244.1.2:80".into(), Some("default/web-a".into()))
        );
        let sep = g.chains.iter().find(|c| c.name == "KUBE-SEP-BBB").unwrap();
        assert_eq!(sep.label, "web-b (10.244.2.1:80)");
        assert_eq!(sep.kind, "sep");
        let svc = g.chains.iter().find(|c| c.kind == "svc").unwrap();
        assert_eq!(svc.label, "SVC default/web");
        assert_eq!(svc.packets, 3);
        assert_eq!(svc.rules[1].probability, Some(0.33333333349));
        assert_eq!(svc.rules[1].packets, 1);
        assert!(g
            .edges
            .iter()
            .any(|e| e.from == "nat:KUBE-SVC-LOLE4ISW44XBNF3G"
                && e.to == "nat:KUBE-SEP-CCC"
                && e.rule == 4));
        let pi = g
            .chains
            .iter()
            .find(|c| c.name.starts_with("cali-pi-"))
            .unwrap();
        assert_eq!(pi.policy.as_deref(), Some("default/deny-db"));
        assert_eq!(pi.label, "policy default/deny-db");
        assert_eq!(
            g.chains
                .iter()
                .find(|c| c.name == "PREROUTING")
                .unwrap()
                .kind,
            "hook"
        );
    }

    #[test]
    fn hash_ignores_counters_and_counted_finds_the_rules_that_counted() {
        let a = netrules::save::parse(SAVE).unwrap();
        let more = SAVE.replace("[1:60] -A KUBE-SEP-BBB", "[2:120] -A KUBE-SEP-BBB");
        let b = netrules::save::parse(&more).unwrap();
        assert_eq!(rules_hash(&a), rules_hash(&b));
        let ga = build("node-1", &a, &pods());
        let gb = build("node-1", &b, &pods());
        let c = counted(&ga, &gb);
        assert_eq!(c.len(), 1);
        assert!(c["nat:KUBE-SEP-BBB"].contains(&1));
        let changed = SAVE.replace("--probability 0.50000000000", "--probability 0.25000000000");
        assert_ne!(
            rules_hash(&a),
            rules_hash(&netrules::save::parse(&changed).unwrap())
        );
        let stripped = strip_counters(SAVE);
        assert!(stripped.starts_with("*nat\n:PREROUTING ACCEPT [0:0]\n"));
        assert!(stripped.contains("\n-A KUBE-SEP-BBB -p tcp"));
        assert!(!stripped.contains("[1:60]"));
    }

    #[test]
    fn comments_name_services() {
        assert_eq!(
            service_in_comment("default/web:http cluster IP").as_deref(),
            Some("default/web:http")
        );
        assert_eq!(
            service_in_comment("masquerade traffic for default/web external destinations")
                .as_deref(),
            Some("default/web")
        );
        assert_eq!(service_in_comment("kubernetes service portals"), None);
    }
}
