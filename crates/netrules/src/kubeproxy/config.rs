//! [`ProxierConfig`]: kube-proxy's flags and the node facts it detects, with its defaults.

use crate::ip::{parse_cidr_sloppy, parse_ip_sloppy, Cidr, IpFamily};
use crate::Warning;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// `--detect-local-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DetectLocalMode {
    /// `ClusterCIDR` (default): `-s <--cluster-cidr of this family>`; a no-op without one.
    #[default]
    ClusterCidr,
    /// `NodeCIDR`: `-s <this node's podCIDR of this family>`.
    NodeCidr,
    /// `BridgeInterface`: `-i <--pod-bridge-interface>`.
    BridgeInterface,
    /// `InterfaceNamePrefix`: `-i <--pod-interface-name-prefix>+`.
    InterfaceNamePrefix,
}

impl DetectLocalMode {
    /// Parses the flag value (case-sensitive like kube-proxy; empty means the default).
    pub fn parse(s: &str) -> Option<DetectLocalMode> {
        match s {
            "" | "ClusterCIDR" => Some(DetectLocalMode::ClusterCidr),
            "NodeCIDR" => Some(DetectLocalMode::NodeCidr),
            "BridgeInterface" => Some(DetectLocalMode::BridgeInterface),
            "InterfaceNamePrefix" => Some(DetectLocalMode::InterfaceNamePrefix),
            _ => None,
        }
    }
}

/// How the masquerade mark is printed in the restore text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MarkFormat {
    /// The real binary: Go `%#08x`, e.g. `0x00004000`.
    #[default]
    Binary,
    /// kube-proxy's unit-test fake: `0x4000`.
    TestFake,
}

/// Everything the iptables proxier takes besides the objects.
///
/// `ProxierConfig::default()` is what a kplab node runs with: kube-proxy's flag defaults
/// (`--detect-local-mode=ClusterCIDR`, `--iptables-masquerade-bit=14`,
/// `--iptables-localhost-nodeports=true`, `--nodeport-addresses` empty = all), plus the host
/// facts of a modern node: `--random-fully` supported, nfacct counters **not** available
/// (kplab nodes are containers), `nf_conntrack_tcp_be_liberal` off.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxierConfig {
    /// `--hostname-override` / the node name: endpoints with this `nodeName` are local.
    pub node_name: String,
    /// The family this proxier handles (one restore per family on a dual-stack node).
    pub ip_family: IpFamily,
    /// `--cluster-cidr` (comma-separated in the flag; one CIDR per family is used).
    pub cluster_cidrs: Vec<String>,
    /// `--detect-local-mode`.
    pub detect_local_mode: DetectLocalMode,
    /// This node's `spec.podCIDRs` (for `NodeCIDR` mode).
    pub node_pod_cidrs: Vec<String>,
    /// `--pod-bridge-interface` (for `BridgeInterface` mode).
    pub pod_bridge_interface: String,
    /// `--pod-interface-name-prefix` (for `InterfaceNamePrefix` mode).
    pub pod_interface_name_prefix: String,
    /// `--masquerade-all`.
    pub masquerade_all: bool,
    /// `--iptables-masquerade-bit` (0..=31; mark = 1 << bit).
    pub masquerade_bit: u32,
    /// `--iptables-localhost-nodeports` (IPv4 only; forced off when `--nodeport-addresses`
    /// does not cover 127.0.0.1).
    pub localhost_nodeports: bool,
    /// `--nodeport-addresses` CIDRs (empty = all local addresses). `primary` must be resolved
    /// by the caller to the node IP's /32 or /128.
    pub nodeport_addresses: Vec<String>,
    /// The node IP of this family (`--node-ip` / the Node's InternalIP); used by the
    /// load-balancer source-range "allow from node" rule.
    pub node_ip: Option<IpAddr>,
    /// All addresses on the node's interfaces; only used when `nodeport_addresses` is not "all".
    pub node_addresses: Vec<IpAddr>,
    /// Whether the nfacct counters `ct_state_invalid_dropped_pkts` and
    /// `localhost_nps_accepted_pkts` exist (adds `-m nfacct` matches).
    pub nfacct: bool,
    /// Whether iptables supports `--random-fully` (≥ 1.6.2).
    pub random_fully: bool,
    /// Whether `net.netfilter.nf_conntrack_tcp_be_liberal` is non-zero (drops the INVALID rule).
    pub conntrack_tcp_be_liberal: bool,
    /// The node's topology labels (`topology.kubernetes.io/zone` is the one used).
    pub topology_labels: BTreeMap<String, String>,
    /// The `PreferSameTrafficDistribution` feature gate (on by default since 1.34): read
    /// `hints.forNodes`.
    pub prefer_same_traffic_distribution: bool,
    /// How the mark is printed (`0x00004000` by the binary, `0x4000` in upstream's tests).
    pub mark_format: MarkFormat,
    /// The Service CIDRs (`--service-cidrs`, else the ServiceCIDR objects' `spec.cidrs`); the
    /// nftables mode drops traffic to their unallocated IPs. Empty: no such rule.
    pub service_cidrs: Vec<String>,
}

impl Default for ProxierConfig {
    fn default() -> Self {
        ProxierConfig {
            node_name: String::new(),
            ip_family: IpFamily::V4,
            cluster_cidrs: Vec::new(),
            detect_local_mode: DetectLocalMode::ClusterCidr,
            node_pod_cidrs: Vec::new(),
            pod_bridge_interface: String::new(),
            pod_interface_name_prefix: String::new(),
            masquerade_all: false,
            masquerade_bit: 14,
            localhost_nodeports: true,
            nodeport_addresses: Vec::new(),
            node_ip: None,
            node_addresses: Vec::new(),
            nfacct: false,
            random_fully: true,
            conntrack_tcp_be_liberal: false,
            topology_labels: BTreeMap::new(),
            prefer_same_traffic_distribution: true,
            mark_format: MarkFormat::Binary,
            service_cidrs: Vec::new(),
        }
    }
}

impl ProxierConfig {
    /// The settings of kube-proxy's `NewFakeProxier` in `proxier_test.go` (node `test-node`,
    /// pod CIDR `10.0.0.0/8` or `fd00:10::/64`, node IP `192.168.0.2`, mark `0x4000`, nfacct
    /// counters present, no `--random-fully`, the fake's interface addresses).
    pub fn upstream_test_fake(family: IpFamily) -> ProxierConfig {
        let addrs = [
            "127.0.0.1",
            "::1",
            "192.168.0.2",
            "192.168.1.2",
            "192.168.99.11",
            "2001:db8::1",
            "2001:db8:1::2",
        ];
        ProxierConfig {
            node_name: "test-node".into(),
            ip_family: family,
            cluster_cidrs: vec![match family {
                IpFamily::V4 => "10.0.0.0/8".into(),
                IpFamily::V6 => "fd00:10::/64".into(),
            }],
            node_ip: Some("192.168.0.2".parse().expect("ip")),
            node_addresses: addrs.iter().map(|a| a.parse().expect("ip")).collect(),
            nfacct: true,
            random_fully: false,
            mark_format: MarkFormat::TestFake,
            ..ProxierConfig::default()
        }
    }

    /// The settings of the nftables proxier's `NewFakeProxier` (`pkg/proxy/nftables/
    /// proxier_test.go`): as [`ProxierConfig::upstream_test_fake`] (node `test-node`, pod CIDR
    /// `10.0.0.0/8` or `fd00:10::/64`, mark `0x4000`, the same interface addresses), but the
    /// node IP is the family's own (`192.168.0.2` or `2001:db8::1`), `--nodeport-addresses` is
    /// `192.168.0.2/32,2001:db8::1/128` (so NodePorts use `@nodeport-ips`, not
    /// `fib daddr type local`), and the Service CIDRs are `172.30.0.0/16` or
    /// `fd00:10:96::/112`.
    pub fn upstream_nft_test_fake(family: IpFamily) -> ProxierConfig {
        let (node_ip, service_cidr) = match family {
            IpFamily::V4 => ("192.168.0.2", "172.30.0.0/16"),
            IpFamily::V6 => ("2001:db8::1", "fd00:10:96::/112"),
        };
        ProxierConfig {
            node_ip: Some(node_ip.parse().expect("ip")),
            nodeport_addresses: vec!["192.168.0.2/32".into(), "2001:db8::1/128".into()],
            service_cidrs: vec![service_cidr.into()],
            ..ProxierConfig::upstream_test_fake(family)
        }
    }
}

/// The local-traffic detector's two match fragments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocalDetector {
    pub if_local: String,
    pub if_not_local: String,
    /// The nftables mode's spelling (`ip saddr 10.0.0.0/8`, `iif != cbr0`, `iif != veth*`).
    pub if_local_nft: String,
    pub if_not_local_nft: String,
}

/// `--nodeport-addresses` resolved for one family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NodePortTargets {
    All,
    /// Node IPs inside the configured CIDRs, in first-seen order.
    Ips(Vec<IpAddr>),
}

/// The configuration with everything kube-proxy derives at start-up resolved.
#[derive(Clone, Debug)]
pub(crate) struct Effective {
    pub family: IpFamily,
    pub node_name: String,
    pub mark: String,
    pub detector: Option<LocalDetector>,
    pub masquerade_all: bool,
    pub localhost_nodeports: bool,
    pub nodeports: NodePortTargets,
    pub node_ip: Option<IpAddr>,
    pub nfacct: bool,
    pub random_fully: bool,
    pub tcp_be_liberal: bool,
    pub zone: String,
    pub node_hints: bool,
}

fn first_cidr_of_family(
    cidrs: &[String],
    family: IpFamily,
    what: &str,
    warnings: &mut Vec<Warning>,
) -> Option<Cidr> {
    let mut found = None;
    for s in cidrs {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        match parse_cidr_sloppy(s) {
            Some(c) if c.family() == family => {
                if found.is_none() {
                    found = Some(c);
                }
            }
            Some(_) => {}
            None => warnings.push(Warning::config(format!("Invalid CIDR in {what}"), s)),
        }
    }
    found
}

impl Effective {
    pub fn new(cfg: &ProxierConfig) -> (Effective, Vec<Warning>) {
        let mut warnings = Vec::new();
        let family = cfg.ip_family;
        let value: u64 = 1u64 << cfg.masquerade_bit.min(31);
        let mark = match cfg.mark_format {
            MarkFormat::Binary => format!("0x{value:08x}"),
            MarkFormat::TestFake => format!("{value:#x}"),
        };
        let cidr_detector = |c: Cidr| {
            let ip = if c.family() == IpFamily::V6 {
                "ip6"
            } else {
                "ip"
            };
            LocalDetector {
                if_local: format!("-s {c}"),
                if_not_local: format!("! -s {c}"),
                if_local_nft: format!("{ip} saddr {c}"),
                if_not_local_nft: format!("{ip} saddr != {c}"),
            }
        };
        let detector = match cfg.detect_local_mode {
            DetectLocalMode::ClusterCidr => {
                let d = first_cidr_of_family(
                    &cfg.cluster_cidrs,
                    family,
                    "--cluster-cidr",
                    &mut warnings,
                )
                .map(cidr_detector);
                if d.is_none() {
                    warnings.push(Warning::config(
                        "Detect-local-mode set to ClusterCIDR, but no cluster CIDR specified for primary IP family".into(),
                        family.as_k8s(),
                    ));
                }
                d
            }
            DetectLocalMode::NodeCidr => {
                let d = first_cidr_of_family(
                    &cfg.node_pod_cidrs,
                    family,
                    "node podCIDRs",
                    &mut warnings,
                )
                .map(cidr_detector);
                if d.is_none() {
                    warnings.push(Warning::config(
                        "Detect-local-mode set to NodeCIDR, but no PodCIDR defined at node for primary IP family".into(),
                        family.as_k8s(),
                    ));
                }
                d
            }
            DetectLocalMode::BridgeInterface => {
                if cfg.pod_bridge_interface.is_empty() {
                    warnings.push(Warning::config("Detect-local-mode set to BridgeInterface, but no --pod-bridge-interface given".into(), ""));
                    None
                } else {
                    Some(LocalDetector {
                        if_local: format!("-i {}", cfg.pod_bridge_interface),
                        if_not_local: format!("! -i {}", cfg.pod_bridge_interface),
                        if_local_nft: format!("iif {}", cfg.pod_bridge_interface),
                        if_not_local_nft: format!("iif != {}", cfg.pod_bridge_interface),
                    })
                }
            }
            DetectLocalMode::InterfaceNamePrefix => {
                if cfg.pod_interface_name_prefix.is_empty() {
                    warnings.push(Warning::config("Detect-local-mode set to InterfaceNamePrefix, but no --pod-interface-name-prefix given".into(), ""));
                    None
                } else {
                    Some(LocalDetector {
                        if_local: format!("-i {}+", cfg.pod_interface_name_prefix),
                        if_not_local: format!("! -i {}+", cfg.pod_interface_name_prefix),
                        if_local_nft: format!("iif {}*", cfg.pod_interface_name_prefix),
                        if_not_local_nft: format!("iif != {}*", cfg.pod_interface_name_prefix),
                    })
                }
            }
        };

        // NewNodePortAddresses: this family's CIDRs, or 0.0.0.0/0 (::/0) when there are none.
        let mut cidrs = Vec::new();
        for s in &cfg.nodeport_addresses {
            let s = s.trim();
            if s.is_empty() {
                continue;
            }
            match parse_cidr_sloppy(s) {
                Some(c) if c.family() == family => cidrs.push(c),
                Some(_) => {}
                None => warnings.push(Warning::config(
                    "Invalid CIDR in --nodeport-addresses".into(),
                    s,
                )),
            }
        }
        let mut match_all = cidrs.is_empty();
        let mut contains_v4_loopback = family == IpFamily::V4 && cidrs.is_empty();
        let loopback_start: IpAddr = "127.0.0.0".parse().expect("ip");
        for c in &cidrs {
            if c.family() == IpFamily::V4 && (c.addr.is_loopback() || c.contains(&loopback_start)) {
                contains_v4_loopback = true;
            }
            if c.is_zero() {
                match_all = true;
                break;
            }
        }
        let localhost_nodeports =
            cfg.localhost_nodeports && family == IpFamily::V4 && contains_v4_loopback;
        let nodeports = if match_all {
            NodePortTargets::All
        } else {
            let mut ips: Vec<IpAddr> = Vec::new();
            for c in &cidrs {
                for a in &cfg.node_addresses {
                    if c.contains(a) && !ips.contains(a) {
                        ips.push(*a);
                    }
                }
            }
            NodePortTargets::Ips(ips)
        };
        let node_ip = cfg.node_ip.filter(|ip| IpFamily::of(ip) == family);
        let eff = Effective {
            family,
            node_name: cfg.node_name.clone(),
            mark,
            detector,
            masquerade_all: cfg.masquerade_all,
            localhost_nodeports,
            nodeports,
            node_ip,
            nfacct: cfg.nfacct,
            random_fully: cfg.random_fully,
            tcp_be_liberal: cfg.conntrack_tcp_be_liberal,
            zone: cfg
                .topology_labels
                .get(crate::k8s::LABEL_TOPOLOGY_ZONE)
                .cloned()
                .unwrap_or_default(),
            node_hints: cfg.prefer_same_traffic_distribution,
        };
        (eff, warnings)
    }
}

/// Parses an IP the way the proxier does for flags (sloppy), for callers building a config.
pub fn parse_flag_ip(s: &str) -> Option<IpAddr> {
    parse_ip_sloppy(s.trim())
}
