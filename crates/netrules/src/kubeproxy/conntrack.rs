//! kube-proxy's UDP conntrack reconciliation (`pkg/proxy/conntrack/cleanup.go`,
//! `CleanStaleEntries`, ≈v1.32+), as pure functions.
//!
//! UDP has no connection teardown: a client that keeps sending from the same source port keeps
//! its conntrack entry alive, and with it the DNAT to whatever endpoint the first packet chose,
//! even after that pod is gone. So after every sync in which the endpoints of a UDP Service
//! changed, kube-proxy lists the UDP conntrack entries and deletes each one whose original
//! destination is a frontend of a UDP Service (ClusterIP, LoadBalancer IP or external IP with
//! the service port, or any address with the NodePort) but whose reply source is not one of
//! that Service's *serving* endpoints. Services without serving endpoints are left alone.
//!
//! The entries come from `conntrack -L -p udp` ([`parse_conntrack_list`]); each stale entry
//! becomes one [`ConntrackFilter`], which the sync loop hands to `conntrack -D`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The parts of one UDP conntrack entry kube-proxy looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConntrackEntry {
    /// Original direction, source (the client).
    pub orig_src: IpAddr,
    /// Original direction, destination (the Service IP or a node address).
    pub orig_dst: IpAddr,
    /// Original direction, source port.
    pub orig_sport: u16,
    /// Original direction, destination port (service port or NodePort).
    pub orig_dport: u16,
    /// Reply direction, source: the endpoint the flow was DNATed to.
    pub reply_src: IpAddr,
}

/// One `conntrack -D` kube-proxy runs for a stale entry (upstream's `filterForIPPortNAT` and
/// `filterForPortNAT`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConntrackFilter {
    /// Entries to `orig_dst:orig_dport` answered by `reply_src` (ClusterIP, LB IP, external IP).
    IpPortNat {
        /// The Service IP.
        orig_dst: IpAddr,
        /// The service port.
        orig_dport: u16,
        /// The endpoint that no longer serves.
        reply_src: IpAddr,
    },
    /// Entries to any address on `orig_dport` answered by `reply_src` (NodePort).
    PortNat {
        /// The NodePort.
        orig_dport: u16,
        /// The endpoint that no longer serves.
        reply_src: IpAddr,
    },
}

impl ConntrackFilter {
    /// The arguments of `conntrack -D` that delete the entries this filter matches.
    pub fn delete_args(&self) -> Vec<String> {
        let (orig_dst, orig_dport, reply_src) = match self {
            ConntrackFilter::IpPortNat {
                orig_dst,
                orig_dport,
                reply_src,
            } => (Some(orig_dst), orig_dport, reply_src),
            ConntrackFilter::PortNat {
                orig_dport,
                reply_src,
            } => (None, orig_dport, reply_src),
        };
        let family = if reply_src.is_ipv6() { "ipv6" } else { "ipv4" };
        let mut args: Vec<String> = ["-D", "-f", family, "-p", "udp"].map(String::from).into();
        if let Some(dst) = orig_dst {
            args.extend(["--orig-dst".into(), dst.to_string()]);
        }
        args.extend([
            "--orig-port-dst".into(),
            orig_dport.to_string(),
            "--reply-src".into(),
            reply_src.to_string(),
        ]);
        args
    }
}

/// One UDP service port as the reconciler sees it: its frontends and its serving endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UdpServicePort {
    /// ClusterIP, LoadBalancer ingress IPs and external IPs.
    pub ips: Vec<IpAddr>,
    /// The service port.
    pub port: u16,
    /// The NodePort, 0 when none.
    pub node_port: u16,
    /// IPs of the endpoints that are serving (ready or terminating-but-serving).
    pub serving: BTreeSet<IpAddr>,
}

/// The filters that delete every stale entry among `entries` (`CleanStaleEntries`): entries to a
/// UDP frontend whose reply source is not a serving endpoint of that service port. Service ports
/// without serving endpoints are skipped, as upstream does. One filter per stale entry,
/// deduplicated.
pub fn stale_filters(ports: &[UdpServicePort], entries: &[ConntrackEntry]) -> Vec<ConntrackFilter> {
    let mut by_ip_port: BTreeMap<(IpAddr, u16), &BTreeSet<IpAddr>> = BTreeMap::new();
    let mut by_node_port: BTreeMap<u16, &BTreeSet<IpAddr>> = BTreeMap::new();
    for p in ports.iter().filter(|p| !p.serving.is_empty()) {
        for ip in &p.ips {
            by_ip_port.insert((*ip, p.port), &p.serving);
        }
        if p.node_port != 0 {
            by_node_port.insert(p.node_port, &p.serving);
        }
    }
    let mut out = BTreeSet::new();
    for e in entries {
        if let Some(serving) = by_ip_port.get(&(e.orig_dst, e.orig_dport)) {
            if !serving.contains(&e.reply_src) {
                out.insert(ConntrackFilter::IpPortNat {
                    orig_dst: e.orig_dst,
                    orig_dport: e.orig_dport,
                    reply_src: e.reply_src,
                });
            }
        }
        if let Some(serving) = by_node_port.get(&e.orig_dport) {
            if !serving.contains(&e.reply_src) {
                out.insert(ConntrackFilter::PortNat {
                    orig_dport: e.orig_dport,
                    reply_src: e.reply_src,
                });
            }
        }
    }
    out.into_iter().collect()
}

/// Parses the UDP entries of `conntrack -L` output, e.g.
/// `udp 17 27 src=10.244.1.2 dst=10.96.0.10 sport=40000 dport=53 [UNREPLIED] src=10.244.2.3
/// dst=10.244.1.2 sport=53 dport=40000 mark=0 use=1`. Lines of other protocols, and lines
/// that do not carry both directions, are skipped.
pub fn parse_conntrack_list(text: &str) -> Vec<ConntrackEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<ConntrackEntry> {
    let mut words = line.split_whitespace();
    // `ipv4 2 udp 17 …` with `-o extended`; `udp 17 …` without.
    let first = words.next()?;
    let proto = if first == "ipv4" || first == "ipv6" {
        words.next()?;
        words.next()?
    } else {
        first
    };
    if proto != "udp" {
        return None;
    }
    let (mut src, mut dst, mut sport, mut dport, mut reply_src) = (None, None, None, None, None);
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            continue;
        };
        match k {
            "src" if src.is_none() => src = v.parse().ok(),
            "src" if reply_src.is_none() => reply_src = v.parse().ok(),
            "dst" if dst.is_none() => dst = v.parse().ok(),
            "sport" if sport.is_none() => sport = v.parse().ok(),
            "dport" if dport.is_none() => dport = v.parse().ok(),
            _ => {}
        }
    }
    Some(ConntrackEntry {
        orig_src: src?,
        orig_dst: dst?,
        orig_sport: sport?,
        orig_dport: dport?,
        reply_src: reply_src?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const LIST: &str = "\
udp      17 27 src=10.244.1.2 dst=10.96.0.10 sport=40000 dport=53 src=10.244.2.3 dst=10.244.1.2 sport=53 dport=40000 [ASSURED] mark=0 use=1
udp      17 25 src=10.244.1.2 dst=10.96.0.10 sport=40001 dport=53 [UNREPLIED] src=10.244.2.9 dst=10.244.1.2 sport=53 dport=40001 mark=0 use=1
tcp      6 431999 ESTABLISHED src=10.244.1.2 dst=10.96.0.1 sport=5000 dport=443 src=172.18.0.2 dst=10.244.1.2 sport=6443 dport=5000 [ASSURED] mark=0 use=1
udp      17 29 src=172.18.0.9 dst=172.18.0.2 sport=5353 dport=30053 src=10.244.2.9 dst=10.244.1.1 sport=53 dport=5353 mark=0 use=1
udp      17 29 src=10.244.1.2 dst=10.96.0.99 sport=6000 dport=53 src=10.244.3.3 dst=10.244.1.2 sport=53 dport=6000 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 5 flow entries have been shown.
";

    #[test]
    fn parses_udp_entries_of_both_output_forms() {
        let e = parse_conntrack_list(LIST);
        assert_eq!(e.len(), 4, "{e:?}");
        assert_eq!(
            e[0],
            ConntrackEntry {
                orig_src: ip("10.244.1.2"),
                orig_dst: ip("10.96.0.10"),
                orig_sport: 40000,
                orig_dport: 53,
                reply_src: ip("10.244.2.3"),
            }
        );
        assert_eq!(e[1].reply_src, ip("10.244.2.9"), "[UNREPLIED] is skipped");
        let ext = parse_conntrack_list(
            "ipv6     10 udp      17 28 src=fd00::5 dst=fd00:96::a sport=1 dport=53 src=fd00:244::7 dst=fd00::5 sport=53 dport=1 mark=0 use=1\n",
        );
        assert_eq!(ext[0].reply_src, ip("fd00:244::7"));
    }

    #[test]
    fn deletes_entries_not_answered_by_a_serving_endpoint() {
        let dns = UdpServicePort {
            ips: vec![ip("10.96.0.10")],
            port: 53,
            node_port: 30053,
            serving: [ip("10.244.2.3")].into(),
        };
        // A UDP service without serving endpoints: its entries are left alone.
        let empty = UdpServicePort {
            ips: vec![ip("10.96.0.99")],
            port: 53,
            ..Default::default()
        };
        let f = stale_filters(&[dns, empty], &parse_conntrack_list(LIST));
        assert_eq!(
            f,
            vec![
                ConntrackFilter::IpPortNat {
                    orig_dst: ip("10.96.0.10"),
                    orig_dport: 53,
                    reply_src: ip("10.244.2.9"),
                },
                ConntrackFilter::PortNat {
                    orig_dport: 30053,
                    reply_src: ip("10.244.2.9"),
                },
            ]
        );
        assert_eq!(
            f[0].delete_args().join(" "),
            "-D -f ipv4 -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.2.9"
        );
        assert_eq!(
            f[1].delete_args().join(" "),
            "-D -f ipv4 -p udp --orig-port-dst 30053 --reply-src 10.244.2.9"
        );
    }
}
