//! The objects NetworkPolicy enforcement reads (Namespaces, Pods, `networking.k8s.io/v1`
//! NetworkPolicies), reduced to what the semantics need, with the API server's defaulting
//! (`policyTypes`, port protocol TCP) applied when reading, and a loader for YAML/JSON files.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use serde_json::Value;

use crate::k8s::string_list;
pub use crate::labels::LabelSelector;

/// A problem in one object; the object (or the part of it) is left out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {object}: {message}")]
pub struct ObjectError {
    /// `NetworkPolicy`, `Pod`, `Namespace`.
    pub kind: String,
    /// `namespace/name`.
    pub object: String,
    /// What is wrong, naming the field.
    pub message: String,
}

/// L4 protocols NetworkPolicy speaks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `TCP` (the default).
    Tcp,
    /// `UDP`.
    Udp,
    /// `SCTP`.
    Sctp,
}

impl Protocol {
    /// Parses the API spelling (`TCP`, `UDP`, `SCTP`).
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }
    /// Parses either spelling (`tcp` or `TCP`).
    pub fn parse_any_case(s: &str) -> Option<Protocol> {
        Protocol::parse(&s.to_ascii_uppercase())
    }
    /// iptables' spelling: `tcp`, `udp`, `sctp`.
    pub fn iptables(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
    /// The API spelling.
    pub fn api(&self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api())
    }
}

/// An IPv4 network (address masked to its prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// Network address (host bits cleared).
    pub addr: u32,
    /// Prefix length, 0..=32.
    pub len: u8,
}

impl Cidr {
    /// The netmask of a prefix length.
    pub fn mask(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        }
    }
    /// Parses `a.b.c.d/n` (host bits are cleared, as the kernel does) or a bare address (/32).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, len.parse::<u8>().ok()?),
            None => (s, 32),
        };
        if len > 32 {
            return None;
        }
        let ip: Ipv4Addr = ip.parse().ok()?;
        Some(Cidr {
            addr: u32::from(ip) & Cidr::mask(len),
            len,
        })
    }
    /// A /32.
    pub fn host(ip: Ipv4Addr) -> Cidr {
        Cidr {
            addr: u32::from(ip),
            len: 32,
        }
    }
    /// Whether `ip` is inside.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Cidr::mask(self.len) == self.addr
    }
    /// Whether `other` lies entirely inside `self`.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.len >= self.len && other.addr & Cidr::mask(self.len) == self.addr
    }
    /// `self` minus every network of `holes`: the smallest exact list of CIDRs covering the
    /// addresses of `self` that lie in none of `holes` (this is how `except` is compiled).
    pub fn subtract(&self, holes: &[Cidr]) -> Vec<Cidr> {
        let inside: Vec<Cidr> = holes
            .iter()
            .filter(|h| self.covers(h) || h.covers(self))
            .copied()
            .collect();
        if inside.iter().any(|h| h.covers(self)) {
            return Vec::new();
        }
        if inside.is_empty() {
            return vec![*self];
        }
        // Split in two halves and recurse: depth is bounded by 32.
        let len = self.len + 1;
        let lo = Cidr {
            addr: self.addr,
            len,
        };
        let hi = Cidr {
            addr: self.addr | (1u32 << (32 - u32::from(len))),
            len,
        };
        let mut out = lo.subtract(&inside);
        out.extend(hi.subtract(&inside));
        out
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}

/// A Namespace: its name and labels (`kubernetes.io/metadata.name` is added when missing, as
/// the API server does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// `metadata.name`
    pub name: String,
    /// `metadata.labels`
    pub labels: BTreeMap<String, String>,
}

/// The label the API server puts on every namespace.
pub const LABEL_NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";

impl Namespace {
    /// A namespace with its name label.
    pub fn new(name: &str, labels: &[(&str, &str)]) -> Namespace {
        let mut l: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.insert(LABEL_NAMESPACE_NAME.into(), name.into());
        Namespace {
            name: name.into(),
            labels: l,
        }
    }
    /// Reads a Namespace object.
    pub fn from_value(v: &Value) -> Result<Namespace, ObjectError> {
        let name = str_at(v, "/metadata/name");
        if name.is_empty() {
            return Err(err("Namespace", "", "metadata.name is missing"));
        }
        let mut labels = string_map(v.pointer("/metadata/labels"));
        labels
            .entry(LABEL_NAMESPACE_NAME.into())
            .or_insert_with(|| name.clone());
        Ok(Namespace { name, labels })
    }
}

/// One `containers[].ports[]` entry that has a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPort {
    /// `name`
    pub name: String,
    /// `containerPort`
    pub port: u16,
    /// `protocol` (default TCP)
    pub protocol: Protocol,
}

/// A pod as policy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// `metadata.namespace`
    pub namespace: String,
    /// `metadata.name`
    pub name: String,
    /// `metadata.labels`
    pub labels: BTreeMap<String, String>,
    /// `status.podIP` (pods without one are neither peers nor workloads).
    pub ip: Option<Ipv4Addr>,
    /// `spec.nodeName`
    pub node: String,
    /// `spec.hostNetwork`: such pods are node traffic, never selected as peers.
    pub host_network: bool,
    /// Named container ports.
    pub ports: Vec<NamedPort>,
}

impl Pod {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The number a named port resolves to on this pod for `protocol`.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.name == name && p.protocol == protocol)
            .map(|p| p.port)
    }

    /// Whether policy treats this pod as a workload with its own address.
    pub fn has_workload_ip(&self) -> bool {
        self.ip.is_some() && !self.host_network
    }

    /// Reads a Pod object. Finished pods (`Succeeded`/`Failed`) come back with no IP.
    pub fn from_value(v: &Value) -> Result<Pod, ObjectError> {
        let namespace = non_empty(str_at(v, "/metadata/namespace"), "default");
        let name = str_at(v, "/metadata/name");
        if name.is_empty() {
            return Err(err("Pod", &namespace, "metadata.name is missing"));
        }
        let phase = str_at(v, "/status/phase");
        let ip = if phase == "Succeeded" || phase == "Failed" {
            None
        } else {
            v.pointer("/status/podIP")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
        };
        let mut ports = Vec::new();
        for c in v
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for p in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(pname) = p
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                else {
                    continue;
                };
                let Some(num) = p
                    .get("containerPort")
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok())
                else {
                    continue;
                };
                let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                let Some(protocol) = Protocol::parse(proto) else {
                    continue;
                };
                ports.push(NamedPort {
                    name: pname.into(),
                    port: num,
                    protocol,
                });
            }
        }
        Ok(Pod {
            labels: string_map(v.pointer("/metadata/labels")),
            ip,
            node: str_at(v, "/spec/nodeName"),
            host_network: v
                .pointer("/spec/hostNetwork")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            ports,
            namespace,
            name,
        })
    }
}

/// `ports[].port`: a number or a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    /// A number.
    Number(u16),
    /// A named container port (resolved on the destination pod).
    Name(String),
}

/// One `ports[]` entry (protocol defaulted to TCP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyPort {
    /// `protocol`
    pub protocol: Protocol,
    /// `port` (absent: every port of the protocol)
    pub port: Option<PortRef>,
    /// `endPort` (only with a numeric port; inclusive)
    pub end_port: Option<u16>,
}

impl fmt::Display for PolicyPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.port, self.end_port) {
            (None, _) => write!(f, "any/{}", self.protocol),
            (Some(PortRef::Number(p)), Some(e)) => write!(f, "{p}-{e}/{}", self.protocol),
            (Some(PortRef::Number(p)), None) => write!(f, "{p}/{}", self.protocol),
            (Some(PortRef::Name(n)), _) => write!(f, "{n}/{}", self.protocol),
        }
    }
}

/// A `NetworkPolicyPeer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// `podSelector` and/or `namespaceSelector` (a missing one is `None`, which differs from
    /// `{}`: a missing namespaceSelector means the policy's own namespace).
    Selectors {
        /// `podSelector`
        pods: Option<LabelSelector>,
        /// `namespaceSelector`
        namespaces: Option<LabelSelector>,
    },
    /// `ipBlock` (IPv4; an IPv6 block is kept as `None` and matches nothing in the IPv4 table).
    IpBlock {
        /// `cidr`
        cidr: Option<Cidr>,
        /// `except`
        except: Vec<Cidr>,
        /// The block as written, for comments.
        text: String,
    },
}

/// One ingress or egress rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyRule {
    /// `from` / `to` (empty: every address).
    pub peers: Vec<Peer>,
    /// `ports` (empty: every port of every protocol).
    pub ports: Vec<PolicyPort>,
}

/// A NetworkPolicy with `policyTypes` defaulted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// `metadata.namespace`
    pub namespace: String,
    /// `metadata.name`
    pub name: String,
    /// `spec.podSelector`
    pub pod_selector: LabelSelector,
    /// `spec.ingress`
    pub ingress: Vec<PolicyRule>,
    /// `spec.egress`
    pub egress: Vec<PolicyRule>,
    /// `Ingress` in the (defaulted) policyTypes.
    pub affects_ingress: bool,
    /// `Egress` in the (defaulted) policyTypes.
    pub affects_egress: bool,
}

impl NetworkPolicy {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Reads a NetworkPolicy, defaulting `policyTypes` (Ingress always; Egress only when
    /// `spec.egress` has an element) and protocols (TCP). Invalid content (the API server
    /// refuses it, but files may hold it) is an error naming the field.
    pub fn from_value(v: &Value) -> Result<NetworkPolicy, ObjectError> {
        let namespace = non_empty(str_at(v, "/metadata/namespace"), "default");
        let name = str_at(v, "/metadata/name");
        let key = format!("{namespace}/{name}");
        let e = |m: String| err("NetworkPolicy", &key, &m);
        if name.is_empty() {
            return Err(e("metadata.name is missing".into()));
        }
        let spec = v.get("spec").cloned().unwrap_or(Value::Null);
        let pod_selector = LabelSelector::from_json(spec.get("podSelector"))
            .map_err(|m| e(m.at("spec.podSelector")))?;
        let mut dirs = [Vec::new(), Vec::new()];
        for (di, (dir, peers_key)) in [("ingress", "from"), ("egress", "to")]
            .into_iter()
            .enumerate()
        {
            let Some(rules) = spec.get(dir).filter(|r| !r.is_null()) else {
                continue;
            };
            let rules = rules
                .as_array()
                .ok_or_else(|| e(format!("spec.{dir} is not a list")))?;
            for (i, r) in rules.iter().enumerate() {
                let at = format!("spec.{dir}[{i}]");
                dirs[di].push(read_rule(r, peers_key, &at).map_err(e)?);
            }
        }
        let [ingress, egress] = dirs;
        let types = string_list(spec.get("policyTypes"));
        let (affects_ingress, affects_egress) = if types.is_empty() {
            (true, !egress.is_empty())
        } else {
            for t in &types {
                if t != "Ingress" && t != "Egress" {
                    return Err(e(format!("spec.policyTypes: Unsupported value: {t:?}")));
                }
            }
            (
                types.iter().any(|t| t == "Ingress"),
                types.iter().any(|t| t == "Egress"),
            )
        };
        Ok(NetworkPolicy {
            namespace,
            name,
            pod_selector,
            ingress,
            egress,
            affects_ingress,
            affects_egress,
        })
    }
}

fn read_rule(r: &Value, peers_key: &str, at: &str) -> Result<PolicyRule, String> {
    let mut rule = PolicyRule::default();
    for (j, p) in r
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let pat = format!("{at}.ports[{j}]");
        let proto_s = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        let protocol = Protocol::parse(proto_s)
            .ok_or_else(|| format!("{pat}.protocol: Unsupported value: {proto_s:?}"))?;
        let port = match p.get("port") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
            {
                Some(n) => Some(PortRef::Number(n)),
                None => {
                    return Err(format!(
                        "{pat}.port: Invalid value: {n}: must be between 1 and 65535, inclusive"
                    ))
                }
            },
            Some(Value::String(s)) => match s.parse::<u16>() {
                Ok(n) if n > 0 => Some(PortRef::Number(n)),
                _ => Some(PortRef::Name(s.clone())),
            },
            Some(other) => return Err(format!("{pat}.port: Invalid value: {other}")),
        };
        let end_port = match p.get("endPort") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let end = v
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n > 0);
                match (&port, end) {
                    (Some(PortRef::Number(s)), Some(e)) if e >= *s => Some(e),
                    (Some(PortRef::Number(_)), Some(_)) => {
                        return Err(format!("{pat}.endPort: Invalid value: {v}: must be greater than or equal to `port`"))
                    }
                    (Some(PortRef::Number(_)), None) => {
                        return Err(format!("{pat}.endPort: Invalid value: {v}: must be between 1 and 65535, inclusive"))
                    }
                    _ => return Err(format!("{pat}.endPort: Invalid value: {v}: may not be specified when `port` is non-numeric or absent")),
                }
            }
        };
        rule.ports.push(PolicyPort {
            protocol,
            port,
            end_port,
        });
    }
    for (j, p) in r
        .get(peers_key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let pat = format!("{at}.{peers_key}[{j}]");
        let pods = match p.get("podSelector").filter(|s| !s.is_null()) {
            Some(s) => Some(
                LabelSelector::from_json(Some(s))
                    .map_err(|m| m.at(&format!("{pat}.podSelector")))?,
            ),
            None => None,
        };
        let namespaces = match p.get("namespaceSelector").filter(|s| !s.is_null()) {
            Some(s) => Some(
                LabelSelector::from_json(Some(s))
                    .map_err(|m| m.at(&format!("{pat}.namespaceSelector")))?,
            ),
            None => None,
        };
        match p.get("ipBlock").filter(|b| !b.is_null()) {
            Some(b) => {
                if pods.is_some() || namespaces.is_some() {
                    return Err(format!(
                        "{pat}: Forbidden: may not specify more than 1 peer type"
                    ));
                }
                let text = b
                    .get("cidr")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let excepts = string_list(b.get("except"));
                if text.contains(':') {
                    rule.peers.push(Peer::IpBlock {
                        cidr: None,
                        except: Vec::new(),
                        text,
                    });
                    continue;
                }
                let cidr = Cidr::parse(&text).filter(|_| text.contains('/')).ok_or_else(|| {
                    format!("{pat}.ipBlock.cidr: Invalid value: {text:?}: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")
                })?;
                let mut except = Vec::new();
                for (k, x) in excepts.iter().enumerate() {
                    let c = Cidr::parse(x).filter(|_| x.contains('/')).ok_or_else(|| {
                        format!("{pat}.ipBlock.except[{k}]: Invalid value: {x:?}: must be a valid CIDR value")
                    })?;
                    if !(cidr.covers(&c) && c.len > cidr.len) {
                        return Err(format!("{pat}.ipBlock.except[{k}]: Invalid value: {x:?}: must be a strict subset of `cidr`"));
                    }
                    except.push(c);
                }
                let mut shown = text.clone();
                if !excepts.is_empty() {
                    shown.push_str(" except ");
                    shown.push_str(&excepts.join(","));
                }
                rule.peers.push(Peer::IpBlock {
                    cidr: Some(cidr),
                    except,
                    text: shown,
                });
            }
            None => {
                if pods.is_none() && namespaces.is_none() {
                    return Err(format!("{pat}: Required value: must specify a peer"));
                }
                rule.peers.push(Peer::Selectors { pods, namespaces });
            }
        }
    }
    Ok(rule)
}

fn err(kind: &str, object: &str, message: &str) -> ObjectError {
    ObjectError {
        kind: kind.into(),
        object: object.into(),
        message: message.into(),
    }
}

fn str_at(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn non_empty(s: String, default: &str) -> String {
    if s.is_empty() {
        default.to_string()
    } else {
        s
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Everything policy enforcement reads from the API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Namespaces.
    pub namespaces: Vec<Namespace>,
    /// Pods (all nodes).
    pub pods: Vec<Pod>,
    /// NetworkPolicies.
    pub policies: Vec<NetworkPolicy>,
}

impl Cluster {
    /// The namespace called `name` (a namespace that only pods mention gets its name label).
    pub fn namespace_labels(&self, name: &str) -> BTreeMap<String, String> {
        match self.namespaces.iter().find(|n| n.name == name) {
            Some(n) => n.labels.clone(),
            None => Namespace::new(name, &[]).labels,
        }
    }

    /// The pod `namespace/name`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }

    /// The workload pod that owns `ip`.
    pub fn pod_by_ip(&self, ip: Ipv4Addr) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|p| p.has_workload_ip() && p.ip == Some(ip))
    }

    /// Reads Namespaces, Pods and NetworkPolicies from JSON values (other kinds are ignored);
    /// objects that cannot be read are returned as errors and left out.
    pub fn from_values(values: &[Value]) -> (Cluster, Vec<ObjectError>) {
        let mut c = Cluster::default();
        let mut errors = Vec::new();
        for v in values {
            match v.get("kind").and_then(Value::as_str).unwrap_or("") {
                "Namespace" => match Namespace::from_value(v) {
                    Ok(n) => c.namespaces.push(n),
                    Err(e) => errors.push(e),
                },
                "Pod" => match Pod::from_value(v) {
                    Ok(p) => c.pods.push(p),
                    Err(e) => errors.push(e),
                },
                "NetworkPolicy" => match NetworkPolicy::from_value(v) {
                    Ok(p) => c.policies.push(p),
                    Err(e) => errors.push(e),
                },
                _ => {}
            }
        }
        (c, errors)
    }

    /// Loads a multi-document YAML (or a JSON object/array/List) file.
    pub fn load(text: &str) -> Result<(Cluster, Vec<ObjectError>), String> {
        let mut values = Vec::new();
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
                flatten(v.map_err(|e| e.to_string())?, &mut values);
            }
        } else {
            for (i, doc) in text.split("\n---").enumerate() {
                let doc = doc.trim_start_matches("---");
                if doc
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
                {
                    continue;
                }
                let v: Value =
                    serde_yaml_ng::from_str(doc).map_err(|e| format!("document {i}: {e}"))?;
                flatten(v, &mut values);
            }
        }
        Ok(Cluster::from_values(&values))
    }
}

fn flatten(v: Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => a.into_iter().for_each(|x| flatten(x, out)),
        Value::Object(ref o) if o.get("items").is_some_and(Value::is_array) => {
            if let Some(Value::Array(items)) = o.get("items") {
                items.iter().cloned().for_each(|x| flatten(x, out));
            }
        }
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subtract_is_exact() {
        let c = Cidr::parse("10.0.0.0/24").unwrap();
        let out = c.subtract(&[Cidr::parse("10.0.0.5/32").unwrap()]);
        assert_eq!(out.len(), 8);
        for i in 0..=255u32 {
            let ip = Ipv4Addr::from(0x0a00_0000 + i);
            assert_eq!(out.iter().any(|c| c.contains(ip)), i != 5, "{ip}");
        }
        assert!(c
            .subtract(&[Cidr::parse("10.0.0.0/16").unwrap()])
            .is_empty());
        assert_eq!(c.subtract(&[Cidr::parse("10.1.0.0/24").unwrap()]), vec![c]);
    }

    #[test]
    fn selectors_follow_label_semantics() {
        let sel = LabelSelector::from_json(Some(&json!({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["x"]}]}))).unwrap();
        let l = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(
            sel.matches(&l(&[("a", "1")])),
            "NotIn matches a missing key"
        );
        assert!(!sel.matches(&l(&[("a", "1"), ("b", "x")])));
        assert!(sel.matches(&l(&[("a", "1"), ("b", "y")])));
        assert!(!sel.matches(&l(&[("a", "2")])));
        assert!(LabelSelector::default().matches(&l(&[])));
    }

    #[test]
    fn policy_types_default_like_the_api_server() {
        let p = |spec: Value| {
            NetworkPolicy::from_value(
                &json!({"metadata": {"name": "p", "namespace": "x"}, "spec": spec}),
            )
            .unwrap()
        };
        let a = p(json!({"egress": [{}]}));
        assert!(a.affects_ingress && a.affects_egress);
        let b = p(json!({"egress": []}));
        assert!(b.affects_ingress && !b.affects_egress);
        let c = p(json!({"policyTypes": ["Egress"]}));
        assert!(!c.affects_ingress && c.affects_egress);
    }

    #[test]
    fn invalid_content_is_named() {
        let p = |spec: Value| {
            NetworkPolicy::from_value(
                &json!({"metadata": {"name": "p", "namespace": "x"}, "spec": spec}),
            )
            .unwrap_err()
            .message
        };
        assert!(
            p(json!({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]}))
                .contains("spec.ingress[0].from[0].ipBlock.cidr")
        );
        assert!(p(json!({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.1.0.0/25"]}}]}]})).contains("strict subset"));
        assert!(p(json!({"ingress": [{"ports": [{"port": 0}]}]})).contains("between 1 and 65535"));
        assert!(
            p(json!({"ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}))
                .contains("greater than or equal")
        );
        assert!(p(json!({"ingress": [{"ports": [{"protocol": "ICMP"}]}]}))
            .contains("Unsupported value"));
        assert!(p(json!({"ingress": [{"from": [{}]}]})).contains("must specify a peer"));
    }
}
