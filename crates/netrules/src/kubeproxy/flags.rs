//! kube-proxy's command-line flags that shape the rules, defined once in [`FLAG_SPECS`], and how
//! they and the Node object become a [`ProxierConfig`]. The agent builds its clap commands from
//! the specs and fills a [`Flags`] through [`Flags::set`]; tests use [`Flags::parse_args`].

use super::config::{parse_flag_ip, DetectLocalMode, ProxierConfig};
use crate::ip::{parse_cidr_sloppy, IpFamily};
use crate::k8s::Node;
use std::net::IpAddr;

/// The flag values, with kplab-node defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flags {
    /// `--hostname-override`
    pub hostname_override: Option<String>,
    /// `--cluster-cidr` (comma-separated)
    pub cluster_cidr: String,
    /// `--detect-local-mode`
    pub detect_local_mode: String,
    /// `--pod-bridge-interface`
    pub pod_bridge_interface: String,
    /// `--pod-interface-name-prefix`
    pub pod_interface_name_prefix: String,
    /// `--masquerade-all`
    pub masquerade_all: bool,
    /// `--iptables-masquerade-bit` (default 14)
    pub iptables_masquerade_bit: i64,
    /// `--iptables-localhost-nodeports` (default true)
    pub iptables_localhost_nodeports: bool,
    /// `--nodeport-addresses` (comma-separated CIDRs, or `primary`)
    pub nodeport_addresses: String,
    /// `--node-ip`: the node IP (default: the Node object's InternalIP of the family)
    pub node_ip: Option<String>,
    /// `--node-addresses`: all interface addresses (default: node IP + loopback)
    pub node_addresses: String,
    /// `--ip-family` (`IPv4`/`IPv6`; default: the node IP's family, else IPv4)
    pub ip_family: Option<String>,
    /// `--nfacct` (default false: nfacct objects not available in kplab nodes)
    pub nfacct: bool,
    /// `--random-fully` (default true: iptables ≥ 1.6.2)
    pub random_fully: bool,
    /// `--conntrack-tcp-be-liberal` (default false)
    pub conntrack_tcp_be_liberal: bool,
    /// `--proxy-mode` (`iptables`, the default, or `nftables`)
    pub proxy_mode: String,
    /// `--service-cidrs` (comma-separated; nftables mode drops traffic to their unallocated IPs)
    pub service_cidrs: String,
}

/// What a flag's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagKind {
    /// `true`/`false`; the bare flag means `true`.
    Bool,
    /// A signed integer.
    Int,
    /// A text, empty when not given.
    Text,
    /// A text that may be absent.
    OptionalText,
    /// Comma-separated values; a front end may accept the flag more than once and join them.
    List,
}

/// One kube-proxy flag: its name (without `--`), kind, default and help. [`FLAG_SPECS`] is the
/// one definition every front end builds its parser from (the agent's clap commands, and
/// [`Flags::parse_args`]); [`Flags::set`] the one mapping from a flag to a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagSpec {
    /// `cluster-cidr`.
    pub name: &'static str,
    /// What the value is.
    pub kind: FlagKind,
    /// The value when the flag is not given (a kplab node's; `None`: absent).
    pub default: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

const fn spec(
    name: &'static str,
    kind: FlagKind,
    default: Option<&'static str>,
    help: &'static str,
) -> FlagSpec {
    FlagSpec {
        name,
        kind,
        default,
        help,
    }
}

/// kube-proxy's flags that shape the rules, with kplab-node defaults.
pub const FLAG_SPECS: &[FlagSpec] = &[
    spec("hostname-override", FlagKind::OptionalText, None, "The node name; endpoints with this nodeName are local (default: the node's name)"),
    spec("cluster-cidr", FlagKind::Text, Some(""), "Pod CIDR(s), comma-separated; used by --detect-local-mode=ClusterCIDR"),
    spec("detect-local-mode", FlagKind::Text, Some("ClusterCIDR"), "ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix"),
    spec("pod-bridge-interface", FlagKind::Text, Some(""), "Bridge interface for --detect-local-mode=BridgeInterface"),
    spec("pod-interface-name-prefix", FlagKind::Text, Some(""), "Interface name prefix for --detect-local-mode=InterfaceNamePrefix"),
    spec("masquerade-all", FlagKind::Bool, Some("false"), "SNAT all traffic sent via Service cluster IPs"),
    spec("iptables-masquerade-bit", FlagKind::Int, Some("14"), "The bit of the fwmark space to mark packets requiring SNAT (0-31)"),
    spec("iptables-localhost-nodeports", FlagKind::Bool, Some("true"), "Accept NodePort connections on 127.0.0.1 (IPv4 only)"),
    spec("nodeport-addresses", FlagKind::List, Some(""), "CIDRs (comma-separated) or \"primary\" whose addresses accept NodePorts (default: all)"),
    spec("node-ip", FlagKind::OptionalText, None, "The node IP (default: the Node's InternalIP of the family)"),
    spec("node-addresses", FlagKind::Text, Some(""), "All interface addresses of the node, comma-separated (default: node IP + loopback); only used with --nodeport-addresses"),
    spec("ip-family", FlagKind::OptionalText, None, "IPv4 or IPv6 (default: the node IP's family, else IPv4)"),
    spec("nfacct", FlagKind::Bool, Some("false"), "The nfacct counters exist (adds -m nfacct matches). Default false on kplab nodes"),
    spec("random-fully", FlagKind::Bool, Some("true"), "iptables supports MASQUERADE --random-fully. Default true"),
    spec("proxy-mode", FlagKind::Text, Some("iptables"), "iptables or nftables: which kube-proxy backend writes the rules"),
    spec("service-cidrs", FlagKind::List, Some(""), "Service CIDRs, comma-separated (default: the ServiceCIDR objects'); nftables mode drops traffic to their unallocated IPs"),
    spec("conntrack-tcp-be-liberal", FlagKind::Bool, Some("false"), "net.netfilter.nf_conntrack_tcp_be_liberal is set (no INVALID drop rule). Default false"),
];

/// `--proxy-mode`: the two kube-proxy backends kplab renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProxyMode {
    /// `iptables` (kube-proxy's default on Linux, and kplab's).
    #[default]
    Iptables,
    /// `nftables` (GA since Kubernetes 1.33).
    Nftables,
}

impl ProxyMode {
    /// Parses the flag or ConfigMap value; empty means the default, as in kube-proxy.
    pub fn parse(s: &str) -> Option<ProxyMode> {
        match s {
            "" | "iptables" => Some(ProxyMode::Iptables),
            "nftables" => Some(ProxyMode::Nftables),
            _ => None,
        }
    }

    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::Iptables => "iptables",
            ProxyMode::Nftables => "nftables",
        }
    }
}

impl Flags {
    /// The `--proxy-mode` chosen (validated by [`Flags::set`]).
    pub fn mode(&self) -> ProxyMode {
        ProxyMode::parse(&self.proxy_mode).unwrap_or_default()
    }
}

impl Default for Flags {
    /// Every flag at its [`FLAG_SPECS`] default.
    fn default() -> Self {
        let mut f = Flags {
            hostname_override: None,
            cluster_cidr: String::new(),
            detect_local_mode: String::new(),
            pod_bridge_interface: String::new(),
            pod_interface_name_prefix: String::new(),
            masquerade_all: false,
            iptables_masquerade_bit: 0,
            iptables_localhost_nodeports: false,
            nodeport_addresses: String::new(),
            node_ip: None,
            node_addresses: String::new(),
            ip_family: None,
            nfacct: false,
            random_fully: false,
            conntrack_tcp_be_liberal: false,
            proxy_mode: String::new(),
            service_cidrs: String::new(),
        };
        for s in FLAG_SPECS {
            if let Some(d) = s.default {
                f.set(s.name, d).expect("FLAG_SPECS defaults parse");
            }
        }
        f
    }
}

fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
        "false" | "0" | "f" | "F" | "FALSE" | "False" => Ok(false),
        _ => Err(format!(
            "invalid argument {v:?} for \"--{name}\" flag: parse error"
        )),
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

impl Flags {
    /// The spec of the flag `--name`.
    pub fn spec(name: &str) -> Option<&'static FlagSpec> {
        FLAG_SPECS.iter().find(|s| s.name == name)
    }

    /// Sets the flag `--name` from its text (Go's `strconv.ParseBool` spellings for booleans).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let value = value.to_string();
        match name {
            "hostname-override" => self.hostname_override = Some(value),
            "cluster-cidr" => self.cluster_cidr = value,
            "detect-local-mode" => self.detect_local_mode = value,
            "pod-bridge-interface" => self.pod_bridge_interface = value,
            "pod-interface-name-prefix" => self.pod_interface_name_prefix = value,
            "masquerade-all" => self.masquerade_all = parse_bool(name, &value)?,
            "iptables-masquerade-bit" => {
                self.iptables_masquerade_bit = value.parse().map_err(|_| {
                    format!("invalid argument {value:?} for \"--{name}\" flag: parse error")
                })?
            }
            "iptables-localhost-nodeports" => {
                self.iptables_localhost_nodeports = parse_bool(name, &value)?
            }
            "nodeport-addresses" => self.nodeport_addresses = value,
            "node-ip" => self.node_ip = Some(value),
            "node-addresses" => self.node_addresses = value,
            "ip-family" => self.ip_family = Some(value),
            "nfacct" => self.nfacct = parse_bool(name, &value)?,
            "random-fully" => self.random_fully = parse_bool(name, &value)?,
            "conntrack-tcp-be-liberal" => self.conntrack_tcp_be_liberal = parse_bool(name, &value)?,
            "proxy-mode" => {
                ProxyMode::parse(&value).ok_or_else(|| {
                    format!("invalid argument {value:?} for \"--{name}\" flag: must be \"iptables\" or \"nftables\"")
                })?;
                self.proxy_mode = value
            }
            "service-cidrs" => self.service_cidrs = value,
            other => return Err(format!("unknown flag: --{other}")),
        }
        Ok(())
    }

    /// Parses `--name=value`, `--name value` and bare boolean `--name` (Go pflag style).
    pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Flags, String> {
        let mut f = Flags::default();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_ref();
            i += 1;
            let Some(body) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a:?}"));
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let is_bool = Flags::spec(name).is_some_and(|s| s.kind == FlagKind::Bool);
            let value = match inline {
                Some(v) => v,
                None if is_bool => "true".into(),
                None => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| format!("flag needs an argument: --{name}"))?;
                    i += 1;
                    v.as_ref().to_string()
                }
            };
            f.set(name, &value)?;
        }
        Ok(f)
    }

    /// Builds the proxier configuration. The node is the Node object named by
    /// `--hostname-override` (else `default_hostname`, else the only Node in `nodes`); from it
    /// come the topology labels, the pod CIDRs (`NodeCIDR` mode) and, without `--node-ip`, the
    /// node IP (first InternalIP, then ExternalIP, of the family). Errors are flag validation
    /// errors, worded like kube-proxy's.
    pub fn to_config(
        &self,
        nodes: &[Node],
        default_hostname: &str,
    ) -> Result<ProxierConfig, String> {
        let mut cfg = ProxierConfig::default();
        if !(0..=31).contains(&self.iptables_masquerade_bit) {
            return Err(format!(
                "iptables.masqueradeBit: Invalid value: {}: must be within the range [0, 31]",
                self.iptables_masquerade_bit
            ));
        }
        cfg.masquerade_bit = self.iptables_masquerade_bit as u32;
        cfg.detect_local_mode = DetectLocalMode::parse(&self.detect_local_mode)
            .ok_or_else(|| format!("detectLocalMode: Unsupported value: {:?}: supported values: \"ClusterCIDR\", \"NodeCIDR\", \"BridgeInterface\", \"InterfaceNamePrefix\"", self.detect_local_mode))?;
        if cfg.detect_local_mode == DetectLocalMode::BridgeInterface
            && self.pod_bridge_interface.is_empty()
        {
            return Err("detectLocal.bridgeInterface: Required value: must be specified with --detect-local-mode=BridgeInterface".into());
        }
        if cfg.detect_local_mode == DetectLocalMode::InterfaceNamePrefix
            && self.pod_interface_name_prefix.is_empty()
        {
            return Err("detectLocal.interfaceNamePrefix: Required value: must be specified with --detect-local-mode=InterfaceNamePrefix".into());
        }
        for c in split_list(&self.cluster_cidr) {
            if parse_cidr_sloppy(&c).is_none() {
                return Err(format!(
                    "clusterCIDRs: Invalid value: {c:?}: must be a valid CIDR"
                ));
            }
            cfg.cluster_cidrs.push(c);
        }
        cfg.pod_bridge_interface = self.pod_bridge_interface.clone();
        cfg.pod_interface_name_prefix = self.pod_interface_name_prefix.clone();
        cfg.masquerade_all = self.masquerade_all;
        cfg.localhost_nodeports = self.iptables_localhost_nodeports;
        cfg.nfacct = self.nfacct;
        cfg.random_fully = self.random_fully;
        cfg.conntrack_tcp_be_liberal = self.conntrack_tcp_be_liberal;
        for c in split_list(&self.service_cidrs) {
            if parse_cidr_sloppy(&c).is_none() {
                return Err(format!(
                    "serviceCIDRs: Invalid value: {c:?}: must be a valid CIDR"
                ));
            }
            cfg.service_cidrs.push(c);
        }

        let name = match &self.hostname_override {
            Some(h) if !h.trim().is_empty() => h.trim().to_string(),
            _ if !default_hostname.is_empty() => default_hostname.to_string(),
            _ if nodes.len() == 1 => nodes[0].metadata.name.clone(),
            _ => String::new(),
        };
        cfg.node_name = name.clone();
        let node = nodes.iter().find(|n| n.metadata.name == name);

        let explicit_ip = match &self.node_ip {
            Some(s) => Some(
                parse_flag_ip(s)
                    .ok_or_else(|| format!("nodeIP: Invalid value: {s:?}: must be a valid IP"))?,
            ),
            None => None,
        };
        let family = match &self.ip_family {
            Some(s) => IpFamily::parse(s).ok_or_else(|| {
                format!(
                    "--ip-family: Unsupported value: {s:?}: supported values: \"IPv4\", \"IPv6\""
                )
            })?,
            None => explicit_ip
                .map(|ip| IpFamily::of(&ip))
                .or_else(|| node.and_then(|n| node_ips(n).first().map(IpFamily::of)))
                .unwrap_or(IpFamily::V4),
        };
        cfg.ip_family = family;
        cfg.node_ip = explicit_ip
            .filter(|ip| IpFamily::of(ip) == family)
            .or_else(|| {
                node.and_then(|n| {
                    node_ips(n)
                        .into_iter()
                        .find(|ip| IpFamily::of(ip) == family)
                })
            });
        if let Some(n) = node {
            cfg.topology_labels = n.metadata.labels.clone();
            cfg.node_pod_cidrs = n.pod_cidrs();
        }

        let mut addrs: Vec<IpAddr> = Vec::new();
        for a in split_list(&self.node_addresses) {
            let ip = parse_flag_ip(&a).ok_or_else(|| {
                format!("--node-addresses: Invalid value: {a:?}: must be a valid IP")
            })?;
            addrs.push(ip);
        }
        if addrs.is_empty() {
            addrs.push("127.0.0.1".parse().expect("ip"));
            addrs.push("::1".parse().expect("ip"));
            if let Some(ip) = explicit_ip.or(cfg.node_ip) {
                addrs.push(ip);
            }
            if let Some(n) = node {
                for ip in node_ips(n) {
                    if !addrs.contains(&ip) {
                        addrs.push(ip);
                    }
                }
            }
        }
        cfg.node_addresses = addrs;
        for a in split_list(&self.nodeport_addresses) {
            if a == "primary" {
                match cfg.node_ip.or(explicit_ip) {
                    Some(ip) => cfg.nodeport_addresses.push(crate::ip::Cidr::host(ip).to_string()),
                    None => return Err("--nodeport-addresses=primary needs the node IP (--node-ip or a Node object)".into()),
                }
            } else if parse_cidr_sloppy(&a).is_none() {
                return Err(format!(
                    "nodePortAddresses[0]: Invalid value: {a:?}: must be a valid CIDR"
                ));
            } else {
                cfg.nodeport_addresses.push(a);
            }
        }
        Ok(cfg)
    }
}

/// `GetNodeHostIPs`: InternalIP addresses first, then ExternalIP, in order.
fn node_ips(n: &Node) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for t in ["InternalIP", "ExternalIP"] {
        for a in n.status.addresses.iter().filter(|a| a.type_ == t) {
            if let Some(ip) = parse_flag_ip(&a.address) {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_config() {
        let f = Flags::parse_args(&[
            "--hostname-override=node-1",
            "--cluster-cidr",
            "10.244.0.0/16",
            "--masquerade-all",
            "--random-fully=false",
            "--nodeport-addresses=primary",
            "--node-ip=172.28.5.10",
        ])
        .unwrap();
        assert!(f.masquerade_all && !f.random_fully);
        let c = f.to_config(&[], "").unwrap();
        assert_eq!(c.node_name, "node-1");
        assert_eq!(c.nodeport_addresses, vec!["172.28.5.10/32".to_string()]);
        assert!(Flags::parse_args(&["--bogus=1"]).is_err());
        assert!(Flags::parse_args(&["--iptables-masquerade-bit=40"])
            .unwrap()
            .to_config(&[], "")
            .is_err());
    }
}
