//! The lab objects the panel names things with: pods (name, IP, node), Services (ClusterIP,
//! ports, NodePorts) and nodes (address), read from one `kubectl get pods,services,nodes -A -o
//! json` in the lab, and how a learner's `from`/`to` words resolve to addresses.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;

/// A pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Pod IP (None while pending).
    pub ip: Option<Ipv4Addr>,
    /// Node it runs on.
    pub node: String,
}

/// A Service port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePort {
    /// Port name (may be empty).
    pub name: String,
    /// `tcp` / `udp`.
    pub protocol: String,
    /// Service port.
    pub port: u16,
    /// NodePort, if any.
    pub node_port: Option<u16>,
}

/// A Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// ClusterIP (None for headless).
    pub cluster_ip: Option<Ipv4Addr>,
    /// Ports.
    pub ports: Vec<ServicePort>,
}

/// Everything the panel needs to name addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Pods.
    pub pods: Vec<Pod>,
    /// Services.
    pub services: Vec<Service>,
    /// Node name -> InternalIP.
    pub nodes: BTreeMap<String, Ipv4Addr>,
    /// The client host's address (the lab subnet's `.100`).
    pub client: Option<Ipv4Addr>,
}

/// The command that lists the objects (run on node-1).
pub const KUBECTL_ARGV: &[&str] = &["kubectl", "get", "pods,services,nodes", "-A", "-o", "json"];

fn s(v: &serde_json::Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("").to_string()
}

impl Inventory {
    /// Parses the kubectl list.
    pub fn parse(json: &str) -> Result<Inventory, String> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("kubectl output: {e}"))?;
        let mut inv = Inventory::default();
        for item in v["items"].as_array().into_iter().flatten() {
            match item["kind"].as_str() {
                Some("Pod") => inv.pods.push(Pod {
                    namespace: s(item, &["metadata", "namespace"]),
                    name: s(item, &["metadata", "name"]),
                    ip: s(item, &["status", "podIP"]).parse().ok(),
                    node: s(item, &["spec", "nodeName"]),
                }),
                Some("Service") => inv.services.push(Service {
                    namespace: s(item, &["metadata", "namespace"]),
                    name: s(item, &["metadata", "name"]),
                    cluster_ip: s(item, &["spec", "clusterIP"]).parse().ok(),
                    ports: item["spec"]["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| ServicePort {
                            name: p["name"].as_str().unwrap_or("").into(),
                            protocol: p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase(),
                            port: p["port"].as_u64().unwrap_or(0) as u16,
                            node_port: p["nodePort"].as_u64().map(|n| n as u16),
                        })
                        .collect(),
                }),
                Some("Node") => {
                    let name = s(item, &["metadata", "name"]);
                    let ip = item["status"]["addresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|a| a["type"] == "InternalIP")
                        .and_then(|a| a["address"].as_str())
                        .and_then(|a| a.parse().ok());
                    if let Some(ip) = ip {
                        inv.nodes.insert(name, ip);
                    }
                }
                _ => {}
            }
        }
        if let Some(ip) = inv.nodes.values().next() {
            let o = ip.octets();
            inv.client = Some(Ipv4Addr::new(o[0], o[1], o[2], 100));
        }
        Ok(inv)
    }

    /// The pod named `word` (`NAME` in `default`, or `NS/NAME`).
    pub fn pod(&self, word: &str) -> Option<&Pod> {
        let (ns, name) = word.split_once('/').unwrap_or(("default", word));
        self.pods
            .iter()
            .find(|p| p.namespace == ns && p.name == name)
    }

    /// The Service named `word` (`NAME` in `default`, or `NS/NAME`).
    pub fn service(&self, word: &str) -> Option<&Service> {
        let (ns, name) = word.split_once('/').unwrap_or(("default", word));
        self.services
            .iter()
            .find(|s| s.namespace == ns && s.name == name)
    }

    /// The pod whose IP is `ip`.
    pub fn pod_by_ip(&self, ip: &str) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|p| p.ip.is_some_and(|i| i.to_string() == ip))
    }

    /// Pod IP -> `ns/name`, for labelling endpoints.
    pub fn pod_names(&self) -> BTreeMap<String, String> {
        self.pods
            .iter()
            .filter_map(|p| Some((p.ip?.to_string(), format!("{}/{}", p.namespace, p.name))))
            .collect()
    }
}

/// Where a traced or probed connection starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A pod (namespace/name), on `node`, with its IP.
    Pod {
        /// `ns/name`.
        pod: String,
        /// Its node.
        node: String,
        /// Its IP.
        ip: Ipv4Addr,
    },
    /// A node itself.
    Node {
        /// `node-N`.
        node: String,
        /// Its address.
        ip: Ipv4Addr,
    },
    /// The outside host.
    Client {
        /// Its address.
        ip: Ipv4Addr,
    },
}

impl Source {
    /// Its address.
    pub fn ip(&self) -> Ipv4Addr {
        match self {
            Source::Pod { ip, .. } | Source::Node { ip, .. } | Source::Client { ip } => *ip,
        }
    }
    /// A label for reports.
    pub fn label(&self) -> String {
        match self {
            Source::Pod { pod, .. } => format!("pod {pod}"),
            Source::Node { node, .. } => node.clone(),
            Source::Client { .. } => "client".into(),
        }
    }
}

/// What the target word named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// A Service's ClusterIP (`ns/name`).
    Service(String),
    /// A node's address (a NodePort when the port is one).
    Node(String),
    /// A pod's IP (`ns/name`).
    Pod(String),
    /// An address given as such.
    Address,
}

/// Resolves `from`: `client`, `node-N`, or a pod (`NAME` / `NS/NAME`). Errors name the word.
pub fn resolve_source(inv: &Inventory, from: &str) -> Result<Source, String> {
    if from == "client" {
        return inv
            .client
            .map(|ip| Source::Client { ip })
            .ok_or_else(|| "the lab has no nodes yet".to_string());
    }
    if let Some(ip) = inv.nodes.get(from) {
        return Ok(Source::Node {
            node: from.to_string(),
            ip: *ip,
        });
    }
    match inv.pod(from) {
        Some(p) => match p.ip {
            Some(ip) if !p.node.is_empty() => Ok(Source::Pod {
                pod: format!("{}/{}", p.namespace, p.name),
                node: p.node.clone(),
                ip,
            }),
            _ => Err(format!("pod {from:?} has no IP yet")),
        },
        None => Err(format!(
            "unknown source {from:?}: use client, a node (node-1) or a pod name (NAME or NS/NAME)"
        )),
    }
}

/// Resolves `to`: a Service, a node, a pod, or an IPv4 address.
pub fn resolve_target(inv: &Inventory, to: &str) -> Result<(Ipv4Addr, TargetKind), String> {
    if let Ok(ip) = to.parse::<Ipv4Addr>() {
        return Ok((ip, TargetKind::Address));
    }
    if let Some(ip) = inv.nodes.get(to) {
        return Ok((*ip, TargetKind::Node(to.to_string())));
    }
    if let Some(s) = inv.service(to) {
        let ip = s
            .cluster_ip
            .ok_or_else(|| format!("service {to:?} is headless (no ClusterIP)"))?;
        return Ok((
            ip,
            TargetKind::Service(format!("{}/{}", s.namespace, s.name)),
        ));
    }
    if let Some(p) = inv.pod(to) {
        let ip = p.ip.ok_or_else(|| format!("pod {to:?} has no IP yet"))?;
        return Ok((ip, TargetKind::Pod(format!("{}/{}", p.namespace, p.name))));
    }
    Err(format!(
        "unknown target {to:?}: use a Service name, a node (node-1), a pod name or an IPv4 address"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const LIST: &str = r#"{"items":[
 {"kind":"Pod","metadata":{"namespace":"default","name":"web-1"},"spec":{"nodeName":"node-1"},"status":{"podIP":"10.244.1.2"}},
 {"kind":"Pod","metadata":{"namespace":"default","name":"web-2"},"spec":{"nodeName":"node-2"},"status":{"podIP":"10.244.2.1"}},
 {"kind":"Pod","metadata":{"namespace":"default","name":"pending"},"spec":{},"status":{}},
 {"kind":"Service","metadata":{"namespace":"default","name":"web"},"spec":{"clusterIP":"10.96.5.5","ports":[{"port":80,"protocol":"TCP","nodePort":31000}]}},
 {"kind":"Service","metadata":{"namespace":"default","name":"hl"},"spec":{"clusterIP":"None","ports":[{"port":80}]}},
 {"kind":"Node","metadata":{"name":"node-1"},"status":{"addresses":[{"type":"InternalIP","address":"172.28.9.10"}]}},
 {"kind":"Node","metadata":{"name":"node-2"},"status":{"addresses":[{"type":"InternalIP","address":"172.28.9.11"}]}}
]}"#;

    #[test]
    fn words_resolve_to_addresses_or_say_what_is_wrong() {
        let inv = Inventory::parse(LIST).unwrap();
        assert_eq!(inv.client, Some("172.28.9.100".parse().unwrap()));
        assert_eq!(inv.services[0].ports[0].node_port, Some(31000));
        match resolve_source(&inv, "web-2").unwrap() {
            Source::Pod { node, ip, .. } => {
                assert_eq!(node, "node-2");
                assert_eq!(ip.to_string(), "10.244.2.1");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve_source(&inv, "client").unwrap().ip().to_string(),
            "172.28.9.100"
        );
        assert!(resolve_source(&inv, "nosuch")
            .unwrap_err()
            .contains("unknown source \"nosuch\""));
        assert!(resolve_source(&inv, "pending")
            .unwrap_err()
            .contains("no IP"));
        let (ip, k) = resolve_target(&inv, "default/web").unwrap();
        assert_eq!(
            (ip.to_string(), k),
            (
                "10.96.5.5".into(),
                TargetKind::Service("default/web".into())
            )
        );
        assert_eq!(
            resolve_target(&inv, "node-2").unwrap().0.to_string(),
            "172.28.9.11"
        );
        assert!(resolve_target(&inv, "hl").unwrap_err().contains("headless"));
        assert!(resolve_target(&inv, "zzz")
            .unwrap_err()
            .contains("unknown target"));
        assert_eq!(inv.pod_names()["10.244.1.2"], "default/web-1");
    }
}
