//! Pure parsing of `xtables-monitor --trace` output and of a `conntrack -L` line into the hops
//! of one packet (no I/O; the fixtures under `testdata/` are real captures from a lab node).
//!
//! The monitor prints, per packet and per netfilter hook, one `PACKET:` line with the packet's
//! addresses as that hook sees them (so DNAT shows up as a changed `DST=`), followed by one
//! ` TRACE:` line per rule that matched (`table:chain:rule:HANDLE:VERDICT[:TARGET]  RULE`) or
//! chain policy applied (`table:chain:policy:VERDICT`). Trace ids are reused by later packets,
//! so packets are told apart by their IP `ID=` field; the first packet of the flow (the SYN, or
//! the one UDP datagram) is the one that traverses the nat table.

use serde::{Deserialize, Serialize};

/// The addresses of a packet at one hook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketView {
    /// Input interface (`IN=`), empty when locally generated.
    #[serde(rename = "in")]
    pub in_iface: String,
    /// Output interface (`OUT=`), empty before routing.
    pub out: String,
    /// `SRC=`.
    pub src: String,
    /// `DST=`.
    pub dst: String,
    /// `SPORT=` (0 when absent).
    pub sport: u16,
    /// `DPORT=` (0 when absent).
    pub dport: u16,
    /// `PROTO=`-less lines are TCP or UDP; this is what the monitor printed (`tcp`, `udp`).
    pub protocol: String,
    /// `ID=`: the IP identification, which tells packets apart.
    pub ip_id: u32,
    /// `MARK=` (0 when absent).
    pub mark: u32,
    /// TCP flags as printed (`SYN`, `ACK PSH`, …).
    pub flags: String,
}

/// One line of the trace for a packet: a rule that matched or a policy applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// `raw`, `mangle`, `nat`, `filter`.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// `rule` or `policy`.
    pub kind: String,
    /// `CONTINUE`, `JUMP`, `GOTO`, `RETURN`, `ACCEPT`, `DROP`, `REJECT` (a DROP by a REJECT rule).
    pub verdict: String,
    /// The chain jumped or gone to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The rule as `iptables -S` prints it (`-A CHAIN …`), for `rule` hops; in nftables mode as
    /// `nft monitor trace` prints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// nftables mode: the named verdict map the rule looked the packet up in (`service-ips`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
    /// The packet's addresses at this hook.
    pub packet: PacketView,
}

/// The entry of `conntrack -L` for the flow: original and reply tuples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConntrackEntry {
    /// The line as printed.
    pub raw: String,
    /// `tcp`, `udp`.
    pub protocol: String,
    /// State (`TIME_WAIT`, `SYN_SENT`, …; empty for UDP).
    pub state: String,
    /// Original direction `src:sport -> dst:dport`.
    pub original: String,
    /// Reply direction `src:sport -> dst:dport` (the DNATed endpoint answers to the SNATed source).
    pub reply: String,
}

/// One packet parsed from monitor output, with its hops in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracedPacket {
    /// IP id.
    pub ip_id: u32,
    /// Hops in order.
    pub hops: Vec<Hop>,
}

fn field<'a>(tokens: &[&'a str], key: &str) -> Option<&'a str> {
    tokens.iter().find_map(|t| t.strip_prefix(key))
}

/// The most a text field of a [`PacketView`] keeps: an IPv6 address is 45 characters, an
/// interface name 15. Every hop carries a copy of its packet's view, so a monitor line with a
/// long field (the learner is root in the node) must not be copied hop after hop.
pub const PACKET_FIELD_MAX: usize = 64;

/// `s` cut to [`PACKET_FIELD_MAX`] bytes (at a character boundary).
fn short(s: &str) -> String {
    let mut end = s.len().min(PACKET_FIELD_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Parses the body of a `PACKET:` line (the tokens after family and id).
pub fn parse_packet(tokens: &[&str]) -> PacketView {
    let num = |k: &str| -> u32 { field(tokens, k).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let port = |k: &str| -> u16 { field(tokens, k).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let mark = field(tokens, "MARK=")
        .and_then(|v| u32::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0);
    let flag_words = ["SYN", "ACK", "FIN", "RST", "PSH", "URG"];
    let mut flags: Vec<&str> = Vec::new();
    for t in tokens {
        if flag_words.contains(t) && !flags.contains(t) {
            flags.push(t);
        }
    }
    let protocol = match field(tokens, "PROTO=") {
        Some(p) => short(p).to_ascii_lowercase(),
        None if !flags.is_empty() => "tcp".into(),
        None => "udp".into(),
    };
    PacketView {
        in_iface: short(field(tokens, "IN=").unwrap_or("")),
        out: short(field(tokens, "OUT=").unwrap_or("")),
        src: short(field(tokens, "SRC=").unwrap_or("")),
        dst: short(field(tokens, "DST=").unwrap_or("")),
        sport: port("SPORT="),
        dport: port("DPORT="),
        protocol,
        ip_id: num("ID="),
        mark,
        flags: flags.join(" "),
    }
}

fn verdict_name(v: &str) -> String {
    match v {
        "0xffffffff" => "CONTINUE".into(),
        "0xfffffffe" => "BREAK".into(),
        "0xfffffffd" => "JUMP".into(),
        "0xfffffffc" => "GOTO".into(),
        "0xfffffffb" => "RETURN".into(),
        other => other.to_ascii_uppercase(),
    }
}

/// Parses a ` TRACE:` line's location and rule (`nat:KUBE-SVC-X:rule:0x5f:JUMP:KUBE-SEP-Y  -4 -t nat -A …`)
/// into a hop (its packet view left empty, for the caller to fill).
pub fn parse_trace_body(body: &str) -> Option<Hop> {
    let (loc, rest) = match body.find(' ') {
        Some(i) => (&body[..i], body[i..].trim()),
        None => (body, ""),
    };
    let parts: Vec<&str> = loc.split(':').collect();
    if parts.len() < 4 {
        return None;
    }
    let (table, chain, kind) = (parts[0], parts[1], parts[2]);
    let (verdict, target) = match kind {
        "policy" => (verdict_name(parts[3]), None),
        "rule" if parts.len() >= 5 => (verdict_name(parts[4]), parts.get(5).map(|t| t.to_string())),
        _ => return None,
    };
    // The rule as `iptables -S` prints it: drop `-4 -t TABLE ` before `-A`.
    let rule = rest
        .find("-A ")
        .map(|i| rest[i..].to_string())
        .filter(|r| !r.is_empty());
    let verdict = if verdict == "DROP" && rule.as_deref().is_some_and(|r| r.contains("-j REJECT")) {
        "REJECT".to_string()
    } else {
        verdict
    };
    Some(Hop {
        table: table.to_string(),
        chain: chain.to_string(),
        kind: kind.to_string(),
        verdict,
        target,
        rule,
        map: None,
        packet: PacketView::default(),
    })
}

/// Splits monitor output into packets of the flow whose original-direction source port is
/// `sport` (and source address `src`, when given), in order of first appearance. Lines of other
/// flows (a concurrent trace) are ignored.
pub fn packets_of_flow(text: &str, src: Option<&str>, sport: u16) -> Vec<TracedPacket> {
    use std::collections::HashMap;
    let mut packets: Vec<TracedPacket> = Vec::new();
    // trace id -> (belongs to the flow, index into packets, the packet view)
    let mut current: HashMap<String, (bool, usize, PacketView)> = HashMap::new();
    // ip id -> index into packets (a lookup per PACKET line, not a scan of every packet so far).
    let mut by_ip_id: HashMap<u32, usize> = HashMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("PACKET:") {
            let tokens: Vec<&str> = rest.split_whitespace().collect();
            if tokens.len() < 2 {
                continue;
            }
            let id = tokens[1].to_string();
            let p = parse_packet(&tokens[2..]);
            // Before SNAT (POSTROUTING is the last hook) the source port and address are the
            // original ones, so this identifies the flow at every hook.
            let ours = p.sport == sport && src.is_none_or(|s| s == p.src);
            let idx = match by_ip_id.get(&p.ip_id) {
                Some(&i) => i,
                None if ours => {
                    packets.push(TracedPacket {
                        ip_id: p.ip_id,
                        hops: Vec::new(),
                    });
                    by_ip_id.insert(p.ip_id, packets.len() - 1);
                    packets.len() - 1
                }
                None => usize::MAX,
            };
            current.insert(id, (ours, idx, p));
        } else if let Some(rest) = line.strip_prefix("TRACE:") {
            let rest = rest.trim_start();
            let mut it = rest.splitn(3, ' ');
            let (_family, id, body) = match (it.next(), it.next(), it.next()) {
                (Some(f), Some(i), Some(b)) => (f, i, b),
                _ => continue,
            };
            let Some((ours, idx, p)) = current.get(id) else {
                continue;
            };
            if !ours || *idx == usize::MAX {
                continue;
            }
            if let Some(mut hop) = parse_trace_body(body) {
                hop.packet = p.clone();
                packets[*idx].hops.push(hop);
            }
        }
    }
    packets
}

/// The overall verdict of one packet's hops: `drop` or `reject` if a hop said so, else `accept`
/// (the packet left the last hook), or `unknown` when there are no hops.
pub fn verdict_of(hops: &[Hop]) -> &'static str {
    if hops.is_empty() {
        return "unknown";
    }
    for h in hops {
        match h.verdict.as_str() {
            "DROP" => return "drop",
            "REJECT" => return "reject",
            _ => {}
        }
    }
    "accept"
}

/// Parses one `conntrack -L` line (`tcp 6 116 TIME_WAIT src=… dst=… sport=… dport=… src=… …`).
pub fn parse_conntrack(line: &str) -> Option<ConntrackEntry> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let protocol = tokens.first()?.to_string();
    if protocol != "tcp" && protocol != "udp" {
        return None;
    }
    let state = tokens
        .get(3)
        .filter(|t| !t.contains('='))
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut tuples: Vec<[String; 4]> = Vec::new();
    let mut cur: [String; 4] = Default::default();
    let mut seen = 0;
    for t in &tokens {
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        let i = match k {
            "src" => 0,
            "dst" => 1,
            "sport" => 2,
            "dport" => 3,
            _ => continue,
        };
        if i == 0 && seen > 0 {
            tuples.push(std::mem::take(&mut cur));
            seen = 0;
        }
        cur[i] = v.to_string();
        seen += 1;
    }
    if seen > 0 {
        tuples.push(cur);
    }
    let fmt = |t: &[String; 4]| format!("{}:{} -> {}:{}", t[0], t[2], t[1], t[3]);
    Some(ConntrackEntry {
        raw: line.trim().to_string(),
        protocol,
        state,
        original: tuples.first().map(fmt)?,
        reply: tuples.get(1).map(fmt).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_NODEPORT: &str = include_str!("testdata/client_nodeport_cross_node.txt");
    const POD_DROP_NODE_CLUSTERIP: &str =
        include_str!("testdata/pod_netpol_drop_and_node_clusterip.txt");

    fn chains(hops: &[Hop]) -> Vec<String> {
        hops.iter()
            .filter(|h| h.kind == "rule")
            .map(|h| format!("{}:{}", h.table, h.chain))
            .collect()
    }

    #[test]
    fn client_to_nodeport_first_packet_has_dnat_and_masquerade() {
        let packets = packets_of_flow(CLIENT_NODEPORT, Some("172.28.172.100"), 40123);
        // SYN, ACK, ACK PSH, ACK, ACK FIN: five packets, told apart by IP id although trace ids repeat.
        assert_eq!(packets.len(), 5);
        let syn = &packets[0];
        assert_eq!(syn.ip_id, 40612);
        let c = chains(&syn.hops);
        assert_eq!(
            c,
            vec![
                "raw:PREROUTING",
                "nat:PREROUTING",
                "nat:KUBE-SERVICES",
                "nat:KUBE-NODEPORTS",
                "nat:KUBE-EXT-LOLE4ISW44XBNF3G",
                "nat:KUBE-MARK-MASQ",
                "nat:KUBE-EXT-LOLE4ISW44XBNF3G",
                "nat:KUBE-SVC-LOLE4ISW44XBNF3G",
                "nat:KUBE-SEP-4VLVIBB4NTOSMXAM",
                "filter:FORWARD",
                "filter:FORWARD",
                "filter:KUBE-FORWARD",
                "nat:POSTROUTING",
                "nat:KUBE-POSTROUTING",
                "nat:KUBE-POSTROUTING",
            ]
        );
        let dnat = syn
            .hops
            .iter()
            .find(|h| h.rule.as_deref().is_some_and(|r| r.contains("-j DNAT")))
            .expect("a DNAT hop");
        assert_eq!(dnat.verdict, "ACCEPT");
        assert_eq!(
            dnat.packet.dst, "172.28.172.10",
            "the DNAT rule sees the address before DNAT"
        );
        let fwd = syn.hops.iter().find(|h| h.chain == "KUBE-FORWARD").unwrap();
        assert_eq!(fwd.packet.dst, "10.244.2.1", "after DNAT");
        assert_eq!(fwd.packet.dport, 80);
        assert_eq!(fwd.packet.out, "vxlan.calico");
        assert_eq!(fwd.packet.mark, 0x4000);
        let masq = syn.hops.last().unwrap();
        assert!(masq.rule.as_deref().unwrap().contains("-j MASQUERADE"));
        assert_eq!(masq.verdict, "ACCEPT");
        let jump = &syn.hops[2];
        assert_eq!(jump.verdict, "JUMP");
        assert_eq!(jump.target.as_deref(), Some("KUBE-SERVICES"));
        assert_eq!(
            jump.rule.as_deref(),
            Some("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES")
        );
        assert_eq!(verdict_of(&syn.hops), "accept");
        // Another flow's packets are not ours.
        assert!(packets_of_flow(CLIENT_NODEPORT, Some("172.28.172.100"), 40124).is_empty());
        assert!(packets_of_flow(CLIENT_NODEPORT, Some("10.0.0.1"), 40123).is_empty());
    }

    #[test]
    fn pod_to_isolated_pod_is_dropped_by_the_policy_chain() {
        let packets = packets_of_flow(POD_DROP_NODE_CLUSTERIP, None, 43032);
        // The SYN and its retransmission.
        assert_eq!(packets.len(), 2);
        let syn = &packets[0];
        assert_eq!(verdict_of(&syn.hops), "drop");
        let last = syn.hops.last().unwrap();
        assert_eq!(last.chain, "cali-tw-cali4ef16dcf0ac");
        assert_eq!(last.verdict, "DROP");
        assert!(last
            .rule
            .as_deref()
            .unwrap()
            .contains("Drop if no policies passed packet"));
        // RETURN is printed as the raw verdict number.
        assert!(syn
            .hops
            .iter()
            .any(|h| h.chain == "cali-pro-kns.default" && h.verdict == "RETURN"));
        assert!(
            syn.hops
                .iter()
                .any(|h| h.verdict == "GOTO"
                    && h.target.as_deref() == Some("cali-tw-cali4ef16dcf0ac"))
        );
        assert!(syn
            .hops
            .iter()
            .any(|h| h.chain == "cali-pi-_BYE6JNvK9TX8vr2TfXd"));
        assert_eq!(syn.hops[0].packet.in_iface, "calibfe7c404b9c");
    }

    #[test]
    fn node_to_clusterip_goes_through_output_hooks() {
        let packets = packets_of_flow(POD_DROP_NODE_CLUSTERIP, Some("172.28.172.10"), 35832);
        assert_eq!(packets.len(), 5);
        let syn = &packets[0];
        let c = chains(&syn.hops);
        assert_eq!(c[0], "raw:OUTPUT");
        assert_eq!(c[1], "nat:OUTPUT");
        assert!(c.contains(&"filter:OUTPUT".to_string()));
        assert_eq!(c.last().unwrap(), "nat:KUBE-POSTROUTING");
        let policy = syn
            .hops
            .iter()
            .find(|h| h.kind == "policy" && h.chain == "OUTPUT" && h.table == "filter")
            .unwrap();
        assert_eq!(policy.verdict, "ACCEPT");
        assert_eq!(policy.packet.dst, "10.244.2.1");
        assert_eq!(verdict_of(&syn.hops), "accept");
        assert_eq!(verdict_of(&[]), "unknown");
    }

    #[test]
    fn reject_rules_are_told_from_drops() {
        let body = "filter:KUBE-SERVICES:rule:0x12:DROP  -4 -t filter -A KUBE-SERVICES -d 10.96.0.9/32 -p tcp -m comment --comment \"default/empty has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable";
        let h = parse_trace_body(body).unwrap();
        assert_eq!(
            (h.table.as_str(), h.chain.as_str(), h.kind.as_str()),
            ("filter", "KUBE-SERVICES", "rule")
        );
        assert_eq!(h.verdict, "REJECT");
        assert_eq!(h.target, None);
        assert!(h
            .rule
            .unwrap()
            .starts_with("-A KUBE-SERVICES -d 10.96.0.9/32"));
        assert!(parse_trace_body("garbage").is_none());
    }

    #[test]
    fn conntrack_line_gives_both_tuples() {
        let e = parse_conntrack("tcp      6 116 TIME_WAIT src=172.28.172.100 dst=172.28.172.10 sport=40123 dport=31866 src=10.244.2.1 dst=10.244.1.0 sport=80 dport=46345 [ASSURED] mark=0 use=1").unwrap();
        assert_eq!(e.protocol, "tcp");
        assert_eq!(e.state, "TIME_WAIT");
        assert_eq!(e.original, "172.28.172.100:40123 -> 172.28.172.10:31866");
        assert_eq!(e.reply, "10.244.2.1:80 -> 10.244.1.0:46345");
        let u = parse_conntrack("udp      17 29 src=10.244.1.2 dst=10.96.0.10 sport=5353 dport=53 src=10.244.1.9 dst=10.244.1.2 sport=53 dport=5353 mark=0 use=1").unwrap();
        assert_eq!(u.state, "");
        assert_eq!(u.reply, "10.244.1.9:53 -> 10.244.1.2:5353");
        assert!(parse_conntrack(
            "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown."
        )
        .is_none());
    }
}

/// Property tests: `xtables-monitor --trace` and `conntrack -L` print what the
/// node's netfilter holds, and the learner is root in the node. Whatever they print, parsing
/// does not panic and keeps no more than a constant per line read.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{any_text, config, nasty, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/nftrace_parse.txt";

    /// Bytes a parsed packet list holds.
    fn held(packets: &[TracedPacket]) -> usize {
        packets
            .iter()
            .flat_map(|p| &p.hops)
            .map(|h| {
                let p = &h.packet;
                h.table.len()
                    + h.chain.len()
                    + h.kind.len()
                    + h.verdict.len()
                    + h.target.as_ref().map_or(0, String::len)
                    + h.rule.as_ref().map_or(0, String::len)
                    + p.in_iface.len()
                    + p.out.len()
                    + p.src.len()
                    + p.dst.len()
                    + p.protocol.len()
                    + p.flags.len()
            })
            .sum()
    }

    /// What a packet view may hold: interface names, addresses, protocol and flags are short.
    const MAX_VIEW: usize = 6 * PACKET_FIELD_MAX;

    fn check_flow(text: &str) {
        for src in [None, Some("10.244.1.2")] {
            let packets = packets_of_flow(text, src, 40123);
            let hops: usize = packets.iter().map(|p| p.hops.len()).sum();
            assert!(hops <= text.lines().count());
            // A hop's own strings come from its TRACE line; its packet view is bounded.
            assert!(
                held(&packets) <= text.len() + hops * MAX_VIEW,
                "{} bytes held for {} bytes read",
                held(&packets),
                text.len()
            );
            for p in &packets {
                let _ = verdict_of(&p.hops);
            }
        }
    }

    fn monitor_line() -> impl Strategy<Value = String> {
        let kv = prop_oneof![
            Just("SPORT=40123".to_string()),
            Just("SRC=10.244.1.2".to_string()),
            (0u32..5).prop_map(|i| format!("ID={i}")),
            Just("MARK=0x4000".to_string()),
            Just("MARK=0xzz".to_string()),
            Just("PROTO=UDP".to_string()),
            Just("SYN".to_string()),
            Just("DPORT=99999".to_string()),
            nasty().prop_map(|v| format!("SRC={v}")),
            nasty().prop_map(|v| format!("IN={v}")),
            nasty(),
        ];
        let loc = prop_oneof![
            Just("nat:KUBE-SERVICES:rule:0x6a:JUMP:KUBE-NODEPORTS".to_string()),
            Just("filter:FORWARD:policy:ACCEPT".to_string()),
            Just("raw:PREROUTING:rule:0xfffffffd".to_string()),
            Just("a:b:rule:0xffffffff:".to_string()),
            Just(":::".to_string()),
            nasty(),
        ];
        let id = prop::sample::select(vec!["4833ed62", "1", ""]);
        prop_oneof![
            (id.clone(), prop::collection::vec(kv, 0..10))
                .prop_map(|(id, kvs)| format!("PACKET: 2 {id} {}", kvs.join(" "))),
            (id, loc, prop::option::of("[ -~]{0,40}")).prop_map(|(id, loc, rule)| format!(
                " TRACE: 2 {id} {loc}  {}",
                rule.map(|r| format!("-4 -t nat -A {r} -j REJECT"))
                    .unwrap_or_default()
            )),
            nasty(),
        ]
    }

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn monitor_output_any_text(text in any_text()) {
            check_flow(&text);
        }

        #[test]
        fn monitor_output_near_valid(lines in prop::collection::vec(monitor_line(), 0..40)) {
            check_flow(&lines.join("\n"));
        }

        #[test]
        fn trace_body_any_text(body in prop_oneof![any_text(), monitor_line()]) {
            if let Some(h) = parse_trace_body(&body) {
                prop_assert!(h.table.len() + h.chain.len() + h.kind.len() <= body.len());
                prop_assert!(h.rule.as_ref().map_or(0, String::len) <= body.len());
            }
        }

        #[test]
        fn conntrack_line_any_text(line in prop_oneof![
            any_text(),
            prop::collection::vec(
                prop_oneof![
                    Just("tcp".to_string()),
                    Just("udp".to_string()),
                    Just("6".to_string()),
                    Just("TIME_WAIT".to_string()),
                    Just("src=10.0.0.1".to_string()),
                    Just("dst=".to_string()),
                    Just("sport=1".to_string()),
                    Just("dport=2".to_string()),
                    nasty(),
                ],
                0..14,
            )
            .prop_map(|w| w.join(" ")),
        ]) {
            if let Some(e) = parse_conntrack(&line) {
                prop_assert!(e.raw.len() <= line.len());
                prop_assert!(e.original.len() + e.reply.len() <= 2 * line.len() + 20);
            }
        }
    }

    // Regression tests: every input a property above ever failed on, by name.

    /// Every TRACE line copied its packet's view: one PACKET line with a 100 KB `SRC=` and
    /// 2000 short TRACE lines (140 KB of output) made 200 MB of hops.
    #[test]
    fn regression_long_packet_fields_are_not_copied_per_hop() {
        let mut text = format!(
            "PACKET: 2 1 SRC={} SPORT=40123 ID=1 SYN\n",
            "a".repeat(100_000)
        );
        for _ in 0..2000 {
            text.push_str(" TRACE: 2 1 nat:X:rule:0x1:CONTINUE  -4 -t nat -A X\n");
        }
        check_flow(&text);
    }
}
