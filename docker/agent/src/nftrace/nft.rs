//! nftables mode: on a node whose kube-proxy keeps its rules in `table ip kube-proxy`, the trace
//! is nftables' own. A table of our own, `ip kplab-trace-SPORT-DEADLINE`, has two filter chains
//! at priority raw (prerouting and output) with one rule each that matches only the flow and
//! sets `meta nftrace set 1`; `nft monitor trace` prints every chain the packet then crosses in
//! every table (kube-proxy's, and the iptables-nft tables Calico writes). This module is pure:
//! the table's text, the stale-table sweep and the parser of the monitor's lines (the fixtures
//! under `testdata/nft_*.txt` are real captures, nft 1.0.6).
//!
//! The monitor prints, per packet and per base chain it enters,
//! `trace id ID FAMILY TABLE CHAIN packet: iif "eth0" … ip saddr A ip daddr B … ip id N … tcp
//! sport S tcp dport P …`, then one line per rule that decided something
//! (`… CHAIN rule TEXT # handle H (verdict jump services)`) and the chain's end (`… CHAIN
//! policy accept`, `… CHAIN verdict continue`). A verdict map lookup is a rule whose text reads
//! `vmap @MAP` and whose verdict names the chain the element chose.

use super::parse::{Hop, PacketView, TracedPacket};

/// The prefix of our tables' names.
pub const TABLE_PREFIX: &str = "kplab-trace-";

/// Our table for a flow: `kplab-trace-SPORT-DEADLINE` (the deadline lets a later run sweep a
/// table a killed run left).
pub fn table_name(sport: u16, deadline: u64) -> String {
    format!("{TABLE_PREFIX}{sport}-{deadline}")
}

/// `nft -f` text creating our table: a prerouting and an output chain at priority raw, each
/// with the one rule that marks the flow for tracing.
pub fn table_text(
    table: &str,
    protocol: &str,
    src: Option<std::net::Ipv4Addr>,
    dst: std::net::Ipv4Addr,
    sport: u16,
    dport: u16,
) -> String {
    let src = src.map(|s| format!("ip saddr {s} ")).unwrap_or_default();
    let matches = format!(
        "{src}ip daddr {dst} {protocol} sport {sport} {protocol} dport {dport} meta nftrace set 1"
    );
    format!(
        "add table ip {table}\n\
         add chain ip {table} pre {{ type filter hook prerouting priority raw ; policy accept ; }}\n\
         add chain ip {table} out {{ type filter hook output priority raw ; policy accept ; }}\n\
         add rule ip {table} pre {matches}\n\
         add rule ip {table} out {matches}\n"
    )
}

/// Our tables in `nft list tables` output whose deadline is before `now`.
pub fn stale_tables(list: &str, now: u64) -> Vec<String> {
    list.lines()
        .filter_map(|l| l.trim().strip_prefix("table ip "))
        .filter(|t| t.starts_with(TABLE_PREFIX))
        .filter(|t| {
            t.rsplit('-')
                .next()
                .and_then(|d| d.parse::<u64>().ok())
                .is_some_and(|d| d < now)
        })
        .filter(|t| {
            t.len() <= 64
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .collect()
}

fn short(s: &str) -> String {
    let mut end = s.len().min(super::parse::PACKET_FIELD_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The word after `key` (`ip saddr` -> the address) in a packet line's tokens.
fn after<'a>(tokens: &[&'a str], key: &[&str]) -> Option<&'a str> {
    tokens
        .windows(key.len() + 1)
        .find(|w| w[..key.len()] == *key)
        .map(|w| w[key.len()])
}

/// Parses the words after `packet:`.
pub fn parse_packet(tokens: &[&str]) -> PacketView {
    let unq = |s: &str| short(s.trim_matches('"'));
    let protocol = ["tcp", "udp", "sctp"]
        .into_iter()
        .find(|p| after(tokens, &[p, "sport"]).is_some())
        .unwrap_or("");
    let port = |k: &str| -> u16 {
        after(tokens, &[protocol, k])
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let flags = after(tokens, &["flags", "=="])
        .map(|f| {
            f.split('|')
                .map(str::to_ascii_uppercase)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    PacketView {
        in_iface: after(tokens, &["iif"]).map(unq).unwrap_or_default(),
        out: after(tokens, &["oif"]).map(unq).unwrap_or_default(),
        src: after(tokens, &["ip", "saddr"])
            .map(short)
            .unwrap_or_default(),
        dst: after(tokens, &["ip", "daddr"])
            .map(short)
            .unwrap_or_default(),
        sport: port("sport"),
        dport: port("dport"),
        protocol: protocol.to_string(),
        ip_id: after(tokens, &["ip", "id"])
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        mark: after(tokens, &["meta", "mark"])
            .and_then(|v| u32::from_str_radix(v.trim_start_matches("0x"), 16).ok())
            .unwrap_or(0),
        flags: short(&flags),
    }
}

/// The most characters of a rule's text kept in a hop.
pub const RULE_MAX: usize = 600;

/// Parses what follows `CHAIN` on a `rule` or `policy` line into a hop (packet left empty).
pub fn parse_event(table: &str, chain: &str, rest: &str) -> Option<Hop> {
    let (kind, body) = rest.split_once(' ').unwrap_or((rest, ""));
    let (verdict, target, rule) = match kind {
        "policy" => (
            body.split_whitespace().next()?.to_ascii_uppercase(),
            None,
            None,
        ),
        "rule" => {
            let i = body.rfind("(verdict ")?;
            let v = body[i + "(verdict ".len()..]
                .trim_end()
                .trim_end_matches(')');
            let mut words = v.split_whitespace();
            let verdict = words.next()?.to_ascii_uppercase();
            let target = words.next().map(short);
            let mut text = body[..i].trim_end();
            if let Some(h) = text.rfind(" # handle ") {
                text = text[..h].trim_end();
            }
            let mut end = text.len().min(RULE_MAX);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            (verdict, target, Some(text[..end].to_string()))
        }
        _ => return None,
    };
    // A `reject` statement shows up as a drop verdict.
    let verdict = if verdict == "DROP"
        && rule
            .as_deref()
            .is_some_and(|r| r.split_whitespace().any(|w| w == "reject"))
    {
        "REJECT".to_string()
    } else {
        verdict
    };
    let map = rule.as_deref().and_then(|r| {
        let i = r.find("vmap @")?;
        r[i + 6..].split_whitespace().next().map(short)
    });
    Some(Hop {
        table: table.to_string(),
        chain: chain.to_string(),
        kind: kind.to_string(),
        verdict,
        target,
        rule,
        map,
        packet: PacketView::default(),
    })
}

/// Splits `nft monitor trace` output into the packets of the flow whose original source port is
/// `sport` (and source address `src`, when given), told apart by IP id, in order. Hops in our
/// own `kplab-trace-*` tables are left out (they only mark the flow).
pub fn packets_of_flow(text: &str, src: Option<&str>, sport: u16) -> Vec<TracedPacket> {
    use std::collections::HashMap;
    let mut packets: Vec<TracedPacket> = Vec::new();
    let mut current: HashMap<String, (usize, PacketView)> = HashMap::new();
    let mut by_ip_id: HashMap<u32, usize> = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("trace id ") else {
            continue;
        };
        let mut it = rest.splitn(5, ' ');
        let (Some(id), Some(family), Some(table), Some(chain), Some(rest)) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            continue;
        };
        if let Some(p) = rest.strip_prefix("packet:") {
            let tokens: Vec<&str> = p.split_whitespace().collect();
            let p = parse_packet(&tokens);
            let ours = p.sport == sport && src.is_none_or(|s| s == p.src);
            let idx = match by_ip_id.get(&p.ip_id) {
                Some(&i) => Some(i),
                None if ours => {
                    packets.push(TracedPacket {
                        ip_id: p.ip_id,
                        hops: Vec::new(),
                    });
                    by_ip_id.insert(p.ip_id, packets.len() - 1);
                    Some(packets.len() - 1)
                }
                None => None,
            };
            match idx {
                Some(i) if ours => {
                    current.insert(id.to_string(), (i, p));
                }
                _ => {
                    current.remove(id);
                }
            }
            continue;
        }
        if table.starts_with(TABLE_PREFIX) {
            continue;
        }
        let Some((idx, p)) = current.get(id) else {
            continue;
        };
        let table = if family == "ip" {
            short(table)
        } else {
            short(&format!("{family} {table}"))
        };
        if let Some(mut hop) = parse_event(&table, &short(chain), rest) {
            hop.packet = p.clone();
            packets[*idx].hops.push(hop);
        }
    }
    packets
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = include_str!("testdata/nft_node_clusterip.txt");
    const POD: &str = include_str!("testdata/nft_pod_clusterip.txt");
    const REJECT: &str = include_str!("testdata/nft_pod_no_endpoints_reject.txt");

    fn path(hops: &[Hop]) -> Vec<String> {
        hops.iter()
            .map(|h| format!("{}:{} {}", h.table, h.chain, h.verdict))
            .collect()
    }

    #[test]
    fn from_the_node_the_syn_goes_through_the_service_map_and_dnat() {
        let packets = packets_of_flow(NODE, None, 61234);
        assert_eq!(packets.len(), 4, "SYN, ACK, ACK, PSH ACK");
        let syn = &packets[0];
        assert_eq!(syn.ip_id, 53912);
        assert_eq!(
            path(&syn.hops),
            [
                "kube-proxy:filter-output-pre-dnat JUMP",
                "kube-proxy:filter-output-pre-dnat ACCEPT",
                "kube-proxy:nat-output JUMP",
                "kube-proxy:services CONTINUE",
                "kube-proxy:services GOTO",
                "kube-proxy:service-SUSTUHLJ-default/web/tcp/http ACCEPT",
                "kube-proxy:filter-output JUMP",
                "kube-proxy:filter-output JUMP",
                "kube-proxy:filter-output ACCEPT",
                "kube-proxy:nat-postrouting JUMP",
                "kube-proxy:masquerading ACCEPT",
            ]
        );
        let lookup = &syn.hops[4];
        assert_eq!(lookup.map.as_deref(), Some("service-ips"));
        assert_eq!(
            lookup.target.as_deref(),
            Some("service-SUSTUHLJ-default/web/tcp/http")
        );
        assert_eq!(
            lookup.rule.as_deref(),
            Some("ip daddr . meta l4proto . th dport vmap @service-ips")
        );
        assert_eq!(syn.hops[0].packet.dst, "10.96.5.5");
        assert_eq!(syn.hops[0].packet.out, "eth0");
        assert_eq!(syn.hops[0].packet.flags, "SYN");
        // After DNAT the next hook sees the endpoint.
        assert_eq!(syn.hops[6].packet.dst, "10.244.1.2");
        assert_eq!(syn.hops[6].packet.dport, 80);
        assert_eq!(syn.hops[9].packet.out, "vpod");
        assert!(syn.hops[10].rule.as_deref().unwrap().contains("masquerade"));
        assert_eq!(super::super::parse::verdict_of(&syn.hops), "accept");
        // Our own table is left out.
        assert!(packets
            .iter()
            .flat_map(|p| &p.hops)
            .all(|h| !h.table.starts_with(TABLE_PREFIX)));
    }

    #[test]
    fn from_a_pod_prerouting_and_a_reject_for_a_service_without_endpoints() {
        let packets = packets_of_flow(POD, Some("10.244.1.2"), 61234);
        let syn = &packets[0];
        assert_eq!(syn.hops[0].packet.in_iface, "vpod");
        assert_eq!(syn.hops[0].table, "kube-proxy");
        assert_eq!(syn.hops[0].chain, "filter-prerouting-pre-dnat");
        assert!(syn
            .hops
            .iter()
            .any(|h| h.map.as_deref() == Some("service-ips") && h.verdict == "GOTO"));
        // Another source address: not our flow.
        assert!(packets_of_flow(POD, Some("10.9.9.9"), 61234).is_empty());

        let packets = packets_of_flow(REJECT, Some("10.244.1.2"), 61234);
        let hops = &packets[0].hops;
        let last = hops.last().unwrap();
        assert_eq!(
            (last.chain.as_str(), last.verdict.as_str()),
            ("reject-chain", "REJECT")
        );
        let lookup = &hops[hops.len() - 2];
        assert_eq!(lookup.map.as_deref(), Some("no-endpoint-services"));
        assert_eq!(lookup.target.as_deref(), Some("reject-chain"));
        assert_eq!(super::super::parse::verdict_of(hops), "reject");
    }

    #[test]
    fn the_table_matches_only_the_flow_and_stale_tables_are_swept() {
        let t = table_name(61234, 1000);
        assert_eq!(t, "kplab-trace-61234-1000");
        let text = table_text(
            &t,
            "tcp",
            Some("172.28.1.100".parse().unwrap()),
            "10.96.0.5".parse().unwrap(),
            61234,
            80,
        );
        assert!(text.contains("add chain ip kplab-trace-61234-1000 pre { type filter hook prerouting priority raw ; policy accept ; }"));
        assert!(text.contains("add rule ip kplab-trace-61234-1000 out ip saddr 172.28.1.100 ip daddr 10.96.0.5 tcp sport 61234 tcp dport 80 meta nftrace set 1\n"));
        let list = "table ip kube-proxy\ntable ip kplab-trace-61234-1000\ntable ip kplab-trace-61000-5000\ntable ip6 kplab-trace-1-1\ntable ip kplab-trace-x;y-1\n";
        assert_eq!(stale_tables(list, 2000), ["kplab-trace-61234-1000"]);
        assert!(stale_tables(list, 10).is_empty());
    }

    #[test]
    fn odd_lines_are_skipped() {
        let junk = "trace id\ntrace id a ip\ntrace id a ip t c packet: tcp sport\ntrace id a ip t c rule x (verdict\n\u{0}é trace id 1 2 3 4 5\ntrace id b ip t c packet: tcp sport 61234 ip id 7\ntrace id b ip t c rule drop (verdict drop)\ntrace id b ip t c weird\n";
        let p = packets_of_flow(junk, None, 61234);
        assert_eq!(p.len(), 1);
        assert_eq!(path(&p[0].hops), ["t:c DROP"]);
    }
}
