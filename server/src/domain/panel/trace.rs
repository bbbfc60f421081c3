//! Kernel trace (what `kplab-agent nftrace` reports) beside the model's trace
//! (`netrules::trace` over the same node's rules): hops, the comparison (same chains, same
//! verdict), and "why was this dropped?". Pure.

use std::net::{IpAddr, Ipv4Addr};

use netrules::save::Dump;
use netrules::trace::{self as model, Hook, Packet, TraceOptions, Verdict};
use serde::{Deserialize, Serialize};

/// A packet's addresses at one hook (as the agent reports them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketView {
    /// Input interface.
    #[serde(rename = "in", default)]
    pub in_iface: String,
    /// Output interface.
    #[serde(default)]
    pub out: String,
    /// Source.
    #[serde(default)]
    pub src: String,
    /// Destination.
    #[serde(default)]
    pub dst: String,
    /// Source port.
    #[serde(default)]
    pub sport: u16,
    /// Destination port.
    #[serde(default)]
    pub dport: u16,
    /// Mark.
    #[serde(default)]
    pub mark: u32,
}

/// One hop of the kernel trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelHop {
    /// Table.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// `rule` / `policy`.
    pub kind: String,
    /// `JUMP`, `ACCEPT`, `DROP`, …
    pub verdict: String,
    /// Jump target.
    #[serde(default)]
    pub target: Option<String>,
    /// Rule text (`-A …`, or nft's words in nftables mode).
    #[serde(default)]
    pub rule: Option<String>,
    /// The named map a rule looked the packet up in (`service-ips`), nftables mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
    /// Addresses at this hook.
    #[serde(default)]
    pub packet: PacketView,
}

/// The conntrack entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conntrack {
    /// Line as printed.
    pub raw: String,
    /// State.
    #[serde(default)]
    pub state: String,
    /// Original tuple.
    pub original: String,
    /// Reply tuple.
    pub reply: String,
}

/// What `kplab-agent nftrace` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KernelTrace {
    /// Protocol.
    pub protocol: String,
    /// Source as first seen.
    pub src: String,
    /// Source port.
    pub sport: u16,
    /// Destination.
    pub dst: String,
    /// Destination port.
    pub dport: u16,
    /// Hops of the first packet.
    pub hops: Vec<KernelHop>,
    /// `accept` / `drop` / `reject` / `unknown`.
    pub verdict: String,
    /// After DNAT.
    pub dnat: Option<String>,
    /// MASQUERADE/SNAT matched.
    pub masqueraded: bool,
    /// Conntrack entry.
    pub conntrack: Option<Conntrack>,
    /// Packets seen.
    pub packets_seen: usize,
    /// How the sender ended.
    pub sender: String,
    /// The answer (pod JSON line).
    pub answer: String,
    /// Agent-side milliseconds.
    pub ms: f64,
    /// `iptables` (TRACE + xtables-monitor) or `nftables` (`meta nftrace` + `nft monitor trace`).
    #[serde(default = "iptables_mode")]
    pub mode: String,
}

fn iptables_mode() -> String {
    "iptables".into()
}

/// A hop in the model's chosen branch.
#[derive(Debug, Clone, Serialize)]
pub struct ModelHop {
    /// Table.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// 1-based rule index.
    pub index: usize,
    /// Rule text.
    pub rule: String,
    /// Probability of a statistic rule.
    pub probability: Option<f64>,
}

/// The model's trace: the branch matching the kernel's DNAT (or the most likely one), plus all
/// branches' endpoints.
#[derive(Debug, Clone, Serialize)]
pub struct ModelTrace {
    /// The branch's hops.
    pub hops: Vec<ModelHop>,
    /// `accept` / `drop` / `reject`.
    pub verdict: String,
    /// DNAT destination.
    pub dnat: Option<String>,
    /// Masqueraded.
    pub masqueraded: bool,
    /// The branch's probability.
    pub probability: f64,
    /// All endpoints with probabilities.
    pub endpoints: Vec<(String, f64)>,
    /// What the model could not model.
    pub notes: Vec<String>,
    /// Set when the model did not trace at all, and why (a node in nftables mode).
    pub unsupported: Option<String>,
}

/// What the panel says instead of a model trace on a node whose kube-proxy runs in nftables
/// mode: the model follows iptables chains only.
pub const MODEL_NFT: &str =
    "the model tracer does not follow nftables verdict maps yet; this trace is the kernel's";

impl ModelTrace {
    /// No model trace, saying why.
    pub fn unsupported(why: &str) -> ModelTrace {
        ModelTrace {
            hops: Vec::new(),
            verdict: "unknown".into(),
            dnat: None,
            masqueraded: false,
            probability: 1.0,
            endpoints: Vec::new(),
            notes: Vec::new(),
            unsupported: Some(why.to_string()),
        }
    }
}

/// The model's packet for a connection.
pub fn model_packet(
    from_node_itself: bool,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: &str,
    sport: Option<u16>,
    dport: u16,
    in_iface: Option<String>,
) -> Packet {
    Packet {
        hook: if from_node_itself {
            Hook::Output
        } else {
            Hook::Prerouting
        },
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        protocol: protocol.to_string(),
        sport,
        dport,
        in_iface: if from_node_itself { None } else { in_iface },
    }
}

fn verdict_str(v: &Verdict) -> &'static str {
    match v {
        Verdict::Accept => "accept",
        Verdict::Drop => "drop",
        Verdict::Reject => "reject",
    }
}

/// The routes of `ip -o route` (IPv4) for the model's `-o` matches.
pub fn parse_routes(text: &str) -> Vec<model::Route> {
    let mut out = Vec::new();
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        let Some(dst) = w.first() else { continue };
        let Some(iface) = w
            .iter()
            .position(|x| *x == "dev")
            .and_then(|i| w.get(i + 1))
        else {
            continue;
        };
        let (ip, prefix) = match *dst {
            "default" => ("0.0.0.0", 0),
            d => match d.split_once('/') {
                Some((ip, p)) => (ip, p.parse().unwrap_or(32)),
                None => (d, 32),
            },
        };
        if let Ok(ip) = ip.parse::<Ipv4Addr>() {
            out.push(model::Route {
                dst: IpAddr::V4(ip),
                prefix,
                iface: iface.to_string(),
            });
        }
    }
    out
}

/// Runs the model; picks the branch whose DNAT is `prefer_dnat` when given.
pub fn model_trace(
    dump: &Dump,
    pkt: &Packet,
    local_ips: Vec<IpAddr>,
    routes: Vec<model::Route>,
    prefer_dnat: Option<&str>,
) -> ModelTrace {
    let opts = TraceOptions {
        local_ips,
        kube_jumps: false,
        routes,
        ..TraceOptions::default()
    };
    let t = model::trace(dump, pkt, &opts);
    let endpoints = t.endpoints();
    let branch = t
        .branches
        .iter()
        .find(|b| prefer_dnat.is_some() && b.dnat.as_deref() == prefer_dnat)
        .or_else(|| {
            t.branches
                .iter()
                .max_by(|a, b| a.probability.total_cmp(&b.probability))
        });
    match branch {
        Some(b) => ModelTrace {
            hops: b
                .path
                .iter()
                .map(|s| ModelHop {
                    table: s.table.clone(),
                    chain: s.chain.clone(),
                    index: s.index,
                    rule: s.rule.clone(),
                    probability: s.probability,
                })
                .collect(),
            verdict: verdict_str(&b.verdict).into(),
            dnat: b.dnat.clone(),
            masqueraded: b.masqueraded,
            probability: b.probability,
            endpoints,
            notes: t.notes.clone(),
            unsupported: None,
        },
        None => ModelTrace {
            hops: Vec::new(),
            verdict: "accept".into(),
            dnat: None,
            masqueraded: false,
            probability: 1.0,
            endpoints,
            notes: t.notes.clone(),
            unsupported: None,
        },
    }
}

/// The chains (`table:chain`) of matched rules in nat and filter, in order.
pub fn kernel_chains(k: &KernelTrace) -> Vec<String> {
    k.hops
        .iter()
        .filter(|h| h.kind == "rule" && (h.table == "nat" || h.table == "filter"))
        .map(|h| format!("{}:{}", h.table, h.chain))
        .collect()
}

/// The chains of the model's hops.
pub fn model_chains(m: &ModelTrace) -> Vec<String> {
    m.hops
        .iter()
        .map(|h| format!("{}:{}", h.table, h.chain))
        .collect()
}

/// How the two compare.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Same chains in the same order and the same verdict.
    pub agree: bool,
    /// Same chains.
    pub same_chains: bool,
    /// Same verdict.
    pub same_verdict: bool,
    /// Same DNAT destination.
    pub same_dnat: bool,
    /// Kernel chains.
    pub kernel_chains: Vec<String>,
    /// Model chains.
    pub model_chains: Vec<String>,
    /// Human-readable differences.
    pub differences: Vec<String>,
}

/// Compares a kernel trace with the model's.
pub fn compare(k: &KernelTrace, m: &ModelTrace) -> Comparison {
    let kc = kernel_chains(k);
    let mc = model_chains(m);
    let same_chains = kc == mc;
    let same_verdict = k.verdict == m.verdict;
    let same_dnat = k.dnat == m.dnat || m.dnat.is_none() && k.dnat.is_none();
    let mut differences = Vec::new();
    if !same_verdict {
        differences.push(format!(
            "verdict: kernel {} / model {}",
            k.verdict, m.verdict
        ));
    }
    if !same_chains {
        let first = kc
            .iter()
            .zip(&mc)
            .position(|(a, b)| a != b)
            .unwrap_or(kc.len().min(mc.len()));
        differences.push(format!(
            "chains differ from step {}: kernel {:?} / model {:?}",
            first + 1,
            kc.get(first),
            mc.get(first)
        ));
    }
    if !same_dnat {
        differences.push(format!("DNAT: kernel {:?} / model {:?}", k.dnat, m.dnat));
    }
    Comparison {
        agree: same_chains && same_verdict,
        same_chains,
        same_verdict,
        same_dnat,
        kernel_chains: kc,
        model_chains: mc,
        differences,
    }
}

/// "Why was this dropped?": the chain and rule that dropped or rejected the packet, with the
/// NetworkPolicy or Service it belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct Why {
    /// `drop` / `reject`.
    pub verdict: String,
    /// `table:chain`.
    pub chain: String,
    /// The rule (or `policy DROP` of a built-in chain).
    pub rule: String,
    /// The NetworkPolicy whose chain was the last one entered before the drop, if any.
    pub policy: Option<String>,
    /// The Service a kube-proxy REJECT names (no endpoints).
    pub service: Option<String>,
    /// One sentence.
    pub explanation: String,
}

fn comment_words(rule: &str) -> Vec<String> {
    netrules::save::tokenize(rule)
        .unwrap_or_default()
        .windows(2)
        .filter(|w| w[0] == "--comment")
        .map(|w| w[1].clone())
        .collect()
}

fn policy_name(comment: &str) -> Option<String> {
    if let Some(i) = comment.find("NetworkPolicy ") {
        return comment[i + 14..]
            .split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .map(str::to_string);
    }
    let rest = comment.strip_prefix("Policy ")?;
    let word = rest.split_whitespace().next()?;
    let (ns, name) = word.split_once('/')?;
    Some(format!(
        "{ns}/{}",
        name.strip_prefix(&format!("knp.{ns}.")).unwrap_or(name)
    ))
}

/// Explains a kernel drop/reject (None when the packet went through).
pub fn why(k: &KernelTrace) -> Option<Why> {
    if k.verdict != "drop" && k.verdict != "reject" {
        return None;
    }
    let i = k
        .hops
        .iter()
        .position(|h| h.verdict == "DROP" || h.verdict == "REJECT")?;
    let h = &k.hops[i];
    let rule = h
        .rule
        .clone()
        .unwrap_or_else(|| format!("policy {} of {}", h.verdict, h.chain));
    let policies: Vec<String> = k.hops[..=i]
        .iter()
        .filter_map(|x| x.rule.as_deref())
        .flat_map(comment_words)
        .filter_map(|c| policy_name(&c))
        .collect();
    let policy = policies.last().cloned();
    let service = comment_words(&rule)
        .iter()
        .find(|c| c.contains("has no endpoints"))
        .and_then(|c| super::graph::service_in_comment(c));
    let comment = comment_words(&rule)
        .into_iter()
        .rfind(|c| !c.starts_with("cali:"))
        .unwrap_or_default();
    let verb = if h.verdict == "REJECT" {
        "rejected"
    } else {
        "dropped"
    };
    // nftables mode: a Service without endpoints is an element of kube-proxy's
    // no-endpoint-services (or -nodeports) verdict map, whose verdict goes to reject-chain.
    let no_endpoints_map = k.hops[..i]
        .iter()
        .rev()
        .find_map(|x| x.map.as_deref())
        .filter(|m| m.starts_with("no-endpoint-"));
    let explanation = match (&service, &policy, no_endpoints_map) {
        (None, _, Some(m)) => format!(
            "kube-proxy {verb} it in {}:{}: {}:{} is in its {m} verdict map, so the Service has no ready endpoints",
            h.table, h.chain, k.dst, k.dport
        ),
        (s, p, _) => match (s, p) {
        (Some(s), _) => format!(
            "kube-proxy {verb} it in {}:{}: Service {s} has no ready endpoints",
            h.table, h.chain
        ),
        (None, Some(p)) if h.chain.starts_with("cali-") => format!(
            "{verb} in {}:{} after NetworkPolicy {p} did not allow it ({comment})",
            h.table, h.chain
        ),
        _ => format!("{verb} in {}:{} by {rule}", h.table, h.chain),
        },
    };
    Some(Why {
        verdict: k.verdict.clone(),
        chain: format!("{}:{}", h.table, h.chain),
        rule,
        policy: if h.chain.starts_with("cali-") {
            policy
        } else {
            None
        },
        service,
        explanation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(table: &str, chain: &str, verdict: &str, rule: &str) -> KernelHop {
        KernelHop {
            table: table.into(),
            chain: chain.into(),
            kind: "rule".into(),
            verdict: verdict.into(),
            target: None,
            rule: Some(rule.into()),
            map: None,
            packet: PacketView::default(),
        }
    }

    fn kernel(hops: Vec<KernelHop>, verdict: &str) -> KernelTrace {
        KernelTrace {
            protocol: "tcp".into(),
            src: "10.244.1.2".into(),
            sport: 61000,
            dst: "10.244.1.3".into(),
            dport: 80,
            hops,
            verdict: verdict.into(),
            dnat: None,
            masqueraded: false,
            conntrack: None,
            packets_seen: 1,
            sender: "timeout".into(),
            answer: String::new(),
            ms: 1.0,
            mode: "iptables".into(),
        }
    }

    #[test]
    fn a_policy_drop_names_the_policy_and_the_rule() {
        let k = kernel(
            vec![
                hop("raw", "PREROUTING", "CONTINUE", "-A PREROUTING -j TRACE"),
                hop("filter", "cali-tw-cali4ef16dcf0ac", "JUMP", "-A cali-tw-cali4ef16dcf0ac -m comment --comment \"cali:D6n\" -m comment --comment \"Policy default/knp.default.deny-db\" -j cali-pi-_BYE"),
                hop("filter", "cali-pi-_BYE", "CONTINUE", "-A cali-pi-_BYE -m comment --comment \"cali:bMG\" -m comment --comment \"Policy default/knp.default.deny-db ingress: NetworkPolicy default/deny-db, 0 ingress rule(s), only sets the accept mark\""),
                hop("filter", "cali-tw-cali4ef16dcf0ac", "DROP", "-A cali-tw-cali4ef16dcf0ac -m comment --comment \"cali:DDw\" -m comment --comment \"Drop if no policies passed packet\" -j DROP"),
            ],
            "drop",
        );
        let w = why(&k).unwrap();
        assert_eq!(w.chain, "filter:cali-tw-cali4ef16dcf0ac");
        assert_eq!(w.policy.as_deref(), Some("default/deny-db"));
        assert!(
            w.explanation.contains("NetworkPolicy default/deny-db"),
            "{}",
            w.explanation
        );
        assert!(w.explanation.contains("Drop if no policies passed packet"));
        assert_eq!(kernel_chains(&k).len(), 3, "raw is not compared");
    }

    #[test]
    fn a_reject_names_the_service_without_endpoints() {
        let k = kernel(
            vec![hop("filter", "KUBE-SERVICES", "REJECT", "-A KUBE-SERVICES -d 10.96.0.9/32 -p tcp -m comment --comment \"default/empty has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable")],
            "reject",
        );
        let w = why(&k).unwrap();
        assert_eq!(w.service.as_deref(), Some("default/empty"));
        assert!(w
            .explanation
            .contains("Service default/empty has no ready endpoints"));
        assert!(why(&kernel(vec![], "accept")).is_none());
    }

    /// What `kplab-agent nftrace` printed on a node in nftables mode (a container with the
    /// table of `testdata/nft_kube_proxy.nft` and a pod namespace at 10.244.1.2).
    #[test]
    fn an_nftables_kernel_trace_reads_and_explains_a_reject() {
        let ok: KernelTrace =
            serde_json::from_str(include_str!("testdata/nftrace_report_clusterip.json")).unwrap();
        assert_eq!(ok.mode, "nftables");
        assert_eq!(ok.dnat.as_deref(), Some("10.244.1.2:80"));
        assert!(ok
            .hops
            .iter()
            .any(|h| h.map.as_deref() == Some("service-ips") && h.table == "kube-proxy"));
        assert!(why(&ok).is_none());
        let rej: KernelTrace =
            serde_json::from_str(include_str!("testdata/nftrace_report_no_endpoints.json"))
                .unwrap();
        let w = why(&rej).unwrap();
        assert_eq!(w.chain, "kube-proxy:reject-chain");
        assert!(
            w.explanation
                .contains("10.96.5.9:80 is in its no-endpoint-services verdict map"),
            "{}",
            w.explanation
        );
        // An iptables report (no mode field) still reads.
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("testdata/nftrace_report_clusterip.json")).unwrap();
        v.as_object_mut().unwrap().remove("mode");
        let k: KernelTrace = serde_json::from_value(v).unwrap();
        assert_eq!(k.mode, "iptables");
    }

    #[test]
    fn model_and_kernel_agree_on_the_captured_clusterip_path() {
        let dump = netrules::save::parse(super::super::graph::tests::SAVE).unwrap();
        let pkt = model_packet(
            false,
            "172.28.9.10".parse().unwrap(),
            "10.96.5.5".parse().unwrap(),
            "tcp",
            Some(61000),
            80,
            None,
        );
        let routes = parse_routes("default via 172.28.9.1 dev eth0\n10.244.1.2 dev calibfe7c404b9c scope link\n10.244.2.0/24 via 10.244.2.0 dev vxlan.calico onlink\n172.28.9.0/24 dev eth0 proto kernel scope link src 172.28.9.10\n");
        assert_eq!(routes.len(), 4);
        assert_eq!(
            model::route_iface(&routes, &"10.244.2.1".parse().unwrap()),
            Some("vxlan.calico")
        );
        assert_eq!(
            model::route_iface(&routes, &"10.244.1.2".parse().unwrap()),
            Some("calibfe7c404b9c")
        );
        let m = model_trace(&dump, &pkt, vec![], routes, Some("10.244.2.1:80"));
        assert_eq!(m.dnat.as_deref(), Some("10.244.2.1:80"));
        assert_eq!(m.endpoints.len(), 3);
        let mut k = kernel(
            m.hops
                .iter()
                .map(|h| hop(&h.table, &h.chain, "JUMP", &h.rule))
                .collect(),
            "accept",
        );
        k.dnat = Some("10.244.2.1:80".into());
        let mut m2 = m.clone();
        m2.verdict = "accept".into();
        let c = compare(&k, &m2);
        assert!(c.agree, "{c:?}");
        k.hops.pop();
        k.verdict = "drop".into();
        let c = compare(&k, &m2);
        assert!(!c.agree);
        assert_eq!(c.differences.len(), 2, "{:?}", c.differences);
    }
}
