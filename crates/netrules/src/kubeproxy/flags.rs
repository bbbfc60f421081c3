//! kube-proxy's command-line flags (the subset `kube-proxy render` takes) and how they and the
//! Node object become a [`ProxierConfig`]. The agent's clap front end fills a [`Flags`]; tests
//! use [`Flags::parse_args`].

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
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            hostname_override: None,
            cluster_cidr: String::new(),
            detect_local_mode: "ClusterCIDR".into(),
            pod_bridge_interface: String::new(),
            pod_interface_name_prefix: String::new(),
            masquerade_all: false,
            iptables_masquerade_bit: 14,
            iptables_localhost_nodeports: true,
            nodeport_addresses: String::new(),
            node_ip: None,
            node_addresses: String::new(),
            ip_family: None,
            nfacct: false,
            random_fully: true,
            conntrack_tcp_be_liberal: false,
        }
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
            let is_bool = matches!(
                name,
                "masquerade-all"
                    | "iptables-localhost-nodeports"
                    | "nfacct"
                    | "random-fully"
                    | "conntrack-tcp-be-liberal"
            );
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
            match name {
                "hostname-override" => f.hostname_override = Some(value),
                "cluster-cidr" => f.cluster_cidr = value,
                "detect-local-mode" => f.detect_local_mode = value,
                "pod-bridge-interface" => f.pod_bridge_interface = value,
                "pod-interface-name-prefix" => f.pod_interface_name_prefix = value,
                "masquerade-all" => f.masquerade_all = parse_bool(name, &value)?,
                "iptables-masquerade-bit" => {
                    f.iptables_masquerade_bit = value.parse().map_err(|_| {
                        format!("invalid argument {value:?} for \"--{name}\" flag: parse error")
                    })?
                }
                "iptables-localhost-nodeports" => {
                    f.iptables_localhost_nodeports = parse_bool(name, &value)?
                }
                "nodeport-addresses" => f.nodeport_addresses = value,
                "node-ip" => f.node_ip = Some(value),
                "node-addresses" => f.node_addresses = value,
                "ip-family" => f.ip_family = Some(value),
                "nfacct" => f.nfacct = parse_bool(name, &value)?,
                "random-fully" => f.random_fully = parse_bool(name, &value)?,
                "conntrack-tcp-be-liberal" => {
                    f.conntrack_tcp_be_liberal = parse_bool(name, &value)?
                }
                other => return Err(format!("unknown flag: --{other}")),
            }
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
