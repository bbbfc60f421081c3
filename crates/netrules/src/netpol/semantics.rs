//! The NetworkPolicy decision written straight from the Kubernetes NetworkPolicy semantics
//! (a pod is isolated per direction by any policy selecting it; the union of the policies'
//! rules allows), independent of any rule layout: given the cluster
//! and a new connection, is it allowed, and which policies/rules allowed or isolated it? Tests
//! compare the rendered iptables rules, walked by the tracer, against this.

use std::net::Ipv4Addr;

use super::objects::{
    Cluster, NetworkPolicy, Peer, Pod, PolicyPort, PolicyRule, PortRef, Protocol,
};

/// One end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// A pod (with an IP).
    Pod(&'a Pod),
    /// A node's own address: node-to-pod and pod-to-node are always allowed.
    Node(Ipv4Addr),
    /// An address outside the cluster.
    External(Ipv4Addr),
}

impl Endpoint<'_> {
    /// The address.
    pub fn ip(&self) -> Option<Ipv4Addr> {
        match self {
            Endpoint::Pod(p) => p.ip,
            Endpoint::Node(ip) | Endpoint::External(ip) => Some(*ip),
        }
    }
}

/// Why one direction was allowed or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectionVerdict {
    /// The pod is not isolated in this direction (no policy with this type selects it), or
    /// this end is not a pod.
    NotIsolated,
    /// Isolated, and these rules (`ns/policy`, rule index) allow the connection.
    AllowedBy(Vec<(String, usize)>),
    /// Isolated by these policies, and none of their rules allows it.
    Denied(Vec<String>),
}

impl DirectionVerdict {
    /// Whether traffic passes this direction.
    pub fn allows(&self) -> bool {
        !matches!(self, DirectionVerdict::Denied(_))
    }
}

/// The full decision for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The source's egress.
    pub egress: DirectionVerdict,
    /// The destination's ingress.
    pub ingress: DirectionVerdict,
    /// Loopback or node traffic: allowed whatever the policies say.
    pub exempt: Option<&'static str>,
}

impl Decision {
    /// Whether a new connection is allowed.
    pub fn allowed(&self) -> bool {
        self.exempt.is_some() || (self.egress.allows() && self.ingress.allows())
    }
}

/// Whether `policy`'s peer list selects `who`, evaluated relative to the policy's namespace.
fn peer_matches(cluster: &Cluster, policy: &NetworkPolicy, peer: &Peer, who: &Endpoint) -> bool {
    match peer {
        Peer::IpBlock { cidr, except, .. } => {
            let (Some(cidr), Some(ip)) = (cidr, who.ip()) else {
                return false;
            };
            cidr.contains(ip) && !except.iter().any(|e| e.contains(ip))
        }
        Peer::Selectors { pods, namespaces } => {
            let Endpoint::Pod(pod) = who else {
                return false;
            };
            if pod.host_network {
                return false;
            }
            let ns_ok = match namespaces {
                None => pod.namespace == policy.namespace,
                Some(sel) => sel.matches(&cluster.namespace_labels(&pod.namespace)),
            };
            ns_ok && pods.as_ref().is_none_or(|s| s.matches(&pod.labels))
        }
    }
}

/// Whether a port list admits `port/proto` to `dst` (named ports resolve on `dst` when it is
/// a pod, per protocol).
fn ports_match(ports: &[PolicyPort], dst: &Endpoint, port: u16, proto: Protocol) -> bool {
    ports.is_empty()
        || ports.iter().any(|p| {
            p.protocol == proto
                && match &p.port {
                    None => true,
                    Some(PortRef::Number(n)) => match p.end_port {
                        None => port == *n,
                        Some(e) => (*n..=e).contains(&port),
                    },
                    Some(PortRef::Name(name)) => match dst {
                        Endpoint::Pod(d) => d.named_port(name, proto) == Some(port),
                        _ => false,
                    },
                }
        })
}

fn rule_matches(
    cluster: &Cluster,
    policy: &NetworkPolicy,
    rule: &PolicyRule,
    peer: &Endpoint,
    dst: &Endpoint,
    port: u16,
    proto: Protocol,
) -> bool {
    (rule.peers.is_empty()
        || rule
            .peers
            .iter()
            .any(|p| peer_matches(cluster, policy, p, peer)))
        && ports_match(&rule.ports, dst, port, proto)
}

/// Policies that select `pod` (in its namespace) for a direction.
pub fn selecting<'a>(cluster: &'a Cluster, pod: &Pod, ingress: bool) -> Vec<&'a NetworkPolicy> {
    cluster
        .policies
        .iter()
        .filter(|p| {
            p.namespace == pod.namespace
                && (if ingress {
                    p.affects_ingress
                } else {
                    p.affects_egress
                })
                && p.pod_selector.matches(&pod.labels)
        })
        .collect()
}

fn direction(
    cluster: &Cluster,
    target: &Pod,
    ingress: bool,
    peer: &Endpoint,
    dst: &Endpoint,
    port: u16,
    proto: Protocol,
) -> DirectionVerdict {
    let pols = selecting(cluster, target, ingress);
    if pols.is_empty() {
        return DirectionVerdict::NotIsolated;
    }
    let mut by = Vec::new();
    for p in &pols {
        let rules = if ingress { &p.ingress } else { &p.egress };
        for (i, r) in rules.iter().enumerate() {
            if rule_matches(cluster, p, r, peer, dst, port, proto) {
                by.push((p.key(), i));
            }
        }
    }
    if by.is_empty() {
        DirectionVerdict::Denied(pols.iter().map(|p| p.key()).collect())
    } else {
        DirectionVerdict::AllowedBy(by)
    }
}

/// Decides a new connection `src -> dst:port/proto`.
pub fn decide(
    cluster: &Cluster,
    src: &Endpoint,
    dst: &Endpoint,
    port: u16,
    proto: Protocol,
) -> Decision {
    let exempt = match (src, dst) {
        (Endpoint::Pod(a), Endpoint::Pod(b)) if a.namespace == b.namespace && a.name == b.name => {
            Some("a pod can always reach itself")
        }
        (Endpoint::Node(_), _) | (_, Endpoint::Node(_)) => {
            Some("traffic between a node and a pod is always allowed")
        }
        _ => None,
    };
    let egress = match src {
        Endpoint::Pod(s) => direction(cluster, s, false, dst, dst, port, proto),
        _ => DirectionVerdict::NotIsolated,
    };
    let ingress = match dst {
        Endpoint::Pod(d) => direction(cluster, d, true, src, dst, port, proto),
        _ => DirectionVerdict::NotIsolated,
    };
    Decision {
        egress,
        ingress,
        exempt,
    }
}

/// Shorthand: is a new connection allowed?
pub fn allowed(
    cluster: &Cluster,
    src: &Endpoint,
    dst: &Endpoint,
    port: u16,
    proto: Protocol,
) -> bool {
    decide(cluster, src, dst, port, proto).allowed()
}

/// The reachability matrix between `pods` (row = source, column = destination).
pub fn matrix(cluster: &Cluster, pods: &[&Pod], port: u16, proto: Protocol) -> Vec<Vec<bool>> {
    pods.iter()
        .map(|s| {
            pods.iter()
                .map(|d| allowed(cluster, &Endpoint::Pod(s), &Endpoint::Pod(d), port, proto))
                .collect()
        })
        .collect()
}
