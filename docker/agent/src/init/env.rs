//! What a node is: its role and the `KPLAB_*` environment, and the fixed names and paths
//! `kplab-node` uses.

use std::net::Ipv4Addr;

use crate::kube::net;

/// Component logs.
pub const LOG_DIR: &str = crate::kube::contract::LOG_DIR;
/// The cluster DNS Service address.
pub const CLUSTER_DNS: &str = crate::kube::contract::DNS_SERVICE_IP;
/// The Service CIDR.
pub const SERVICE_CIDR: &str = crate::kube::contract::SERVICE_CIDR;
/// Names the image links to the multi-call binary.
pub const LINKS: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "calico-node",
    "coredns",
    "kplab-node",
    "kplab-pod",
];

/// What this container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// node-1: API server, controllers, scheduler, kubelet, kube-proxy.
    ControlPlane,
    /// kubelet and kube-proxy.
    Worker,
    /// An outside host: no components.
    Client,
}

/// The node's environment (see CONTRACTS.md).
#[derive(Debug, Clone)]
pub struct NodeEnv {
    /// `KPLAB_ROLE`.
    pub role: Role,
    /// `KPLAB_NODE_NAME` (or the hostname).
    pub name: String,
    /// `KPLAB_NODE_INDEX` (nodes only).
    pub index: u32,
    /// `KPLAB_NODE_IP` (nodes only).
    pub ip: Option<Ipv4Addr>,
    /// `KPLAB_APISERVER`.
    pub apiserver: String,
    /// `KPLAB_NODES`.
    pub nodes: Vec<net::Peer>,
}

pub(crate) fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl NodeEnv {
    /// Reads and validates the environment, naming the variable that is wrong.
    pub fn from_env() -> Result<NodeEnv, String> {
        let role = match var("KPLAB_ROLE").as_deref() {
            Some("control-plane") => Role::ControlPlane,
            Some("worker") => Role::Worker,
            Some("client") => Role::Client,
            Some(other) => {
                return Err(format!(
                    "KPLAB_ROLE={other:?}: expected control-plane, worker or client"
                ))
            }
            None => return Err("KPLAB_ROLE is not set (control-plane, worker or client)".into()),
        };
        let nodes = match var("KPLAB_NODES") {
            Some(v) => net::parse_nodes(&v)?,
            None => Vec::new(),
        };
        let name = var("KPLAB_NODE_NAME")
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_default();
        let (index, ip) = if role == Role::Client {
            (0, var("KPLAB_NODE_IP").and_then(|v| v.parse().ok()))
        } else {
            let index = match var("KPLAB_NODE_INDEX") {
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("KPLAB_NODE_INDEX={v:?} is not a number"))?,
                None => net::index_from_name(&name)
                    .ok_or("KPLAB_NODE_INDEX is not set and the node name does not end in -N")?,
            };
            let ip_text = var("KPLAB_NODE_IP").ok_or("KPLAB_NODE_IP is not set")?;
            let ip = ip_text
                .parse()
                .map_err(|_| format!("KPLAB_NODE_IP={ip_text:?} is not an IPv4 address"))?;
            if name.is_empty() {
                return Err("KPLAB_NODE_NAME is not set".into());
            }
            (index, Some(ip))
        };
        Ok(NodeEnv {
            role,
            name,
            index,
            ip,
            apiserver: var("KPLAB_APISERVER")
                .unwrap_or_else(|| crate::kube::contract::DEFAULT_APISERVER.to_string()),
            nodes,
        })
    }
}

/// A node environment for tests.
#[cfg(test)]
pub(crate) fn test_env(role: Role) -> NodeEnv {
    NodeEnv {
        role,
        name: "node-2".into(),
        index: 2,
        ip: Some("172.28.5.11".parse().unwrap()),
        apiserver: "http://172.28.5.10:6443".into(),
        nodes: net::parse_nodes("node-1=172.28.5.10,node-2=172.28.5.11").unwrap(),
    }
}
