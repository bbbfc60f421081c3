//! The Kubernetes object shapes kube-proxy reads (`v1` Service, `discovery.k8s.io/v1`
//! EndpointSlice, `v1` Node), reduced to the fields it uses and tolerant of every other field,
//! plus a loader for multi-document YAML, JSON and `kind: List` files.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Go serialises nil slices and maps as `null`; read that (and a `null` object) as empty.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `metadata` (the parts that matter here).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    /// `metadata.name`
    pub name: String,
    /// `metadata.namespace` (empty means `default` for namespaced objects read from a file)
    pub namespace: String,
    /// `metadata.labels`
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`
    #[serde(deserialize_with = "null_default")]
    pub annotations: BTreeMap<String, String>,
    /// `metadata.resourceVersion`: any change marks the object as updated, as in the informer.
    pub resource_version: String,
}

/// A `v1` Service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Service {
    /// `apiVersion`
    pub api_version: String,
    /// `kind`
    pub kind: String,
    /// `metadata`
    #[serde(deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// `spec`
    #[serde(deserialize_with = "null_default")]
    pub spec: ServiceSpec,
    /// `status`
    #[serde(deserialize_with = "null_default")]
    pub status: ServiceStatus,
}

/// `Service.spec`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceSpec {
    /// `type`; the API server defaults it to `ClusterIP` (so does the loader when absent).
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// `clusterIP`
    #[serde(rename = "clusterIP")]
    pub cluster_ip: String,
    /// `clusterIPs`
    #[serde(rename = "clusterIPs")]
    #[serde(deserialize_with = "null_default")]
    pub cluster_ips: Vec<String>,
    /// `ipFamilies`
    #[serde(deserialize_with = "null_default")]
    pub ip_families: Vec<String>,
    /// `ports`
    #[serde(deserialize_with = "null_default")]
    pub ports: Vec<ServicePort>,
    /// `externalIPs`
    #[serde(rename = "externalIPs")]
    #[serde(deserialize_with = "null_default")]
    pub external_ips: Vec<String>,
    /// `loadBalancerSourceRanges`
    #[serde(deserialize_with = "null_default")]
    pub load_balancer_source_ranges: Vec<String>,
    /// `sessionAffinity` (`None` / `ClientIP`)
    pub session_affinity: Option<String>,
    /// `sessionAffinityConfig`
    pub session_affinity_config: Option<SessionAffinityConfig>,
    /// `externalTrafficPolicy` (`Cluster` / `Local`)
    pub external_traffic_policy: Option<String>,
    /// `internalTrafficPolicy` (`Cluster` / `Local`)
    pub internal_traffic_policy: Option<String>,
    /// `healthCheckNodePort`
    pub health_check_node_port: i64,
    /// `selector` (not used by kube-proxy; kept for completeness)
    #[serde(deserialize_with = "null_default")]
    pub selector: BTreeMap<String, String>,
    /// `externalName`
    pub external_name: Option<String>,
}

/// `spec.sessionAffinityConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionAffinityConfig {
    /// `clientIP`
    #[serde(rename = "clientIP")]
    pub client_ip: Option<ClientIpConfig>,
}

/// `sessionAffinityConfig.clientIP`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientIpConfig {
    /// `timeoutSeconds` (API default 10800)
    pub timeout_seconds: Option<i64>,
}

/// One entry of `spec.ports`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServicePort {
    /// `name`
    pub name: String,
    /// `protocol` (API default `TCP`)
    pub protocol: Option<String>,
    /// `port`
    pub port: i64,
    /// `targetPort` (number or name; unused by the proxier, which reads EndpointSlices)
    pub target_port: Option<serde_json::Value>,
    /// `nodePort`
    pub node_port: i64,
}

/// `Service.status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceStatus {
    /// `loadBalancer`
    #[serde(deserialize_with = "null_default")]
    pub load_balancer: LoadBalancerStatus,
}

/// `status.loadBalancer`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancerStatus {
    /// `ingress`
    #[serde(deserialize_with = "null_default")]
    pub ingress: Vec<LoadBalancerIngress>,
}

/// `status.loadBalancer.ingress[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancerIngress {
    /// `ip`
    pub ip: String,
    /// `hostname`
    pub hostname: String,
    /// `ipMode` (`VIP` / `Proxy`)
    pub ip_mode: Option<String>,
}

/// A `discovery.k8s.io/v1` EndpointSlice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointSlice {
    /// `apiVersion`
    pub api_version: String,
    /// `kind`
    pub kind: String,
    /// `metadata`
    #[serde(deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// `addressType` (`IPv4`, `IPv6`, `FQDN`)
    pub address_type: String,
    /// `endpoints`
    #[serde(deserialize_with = "null_default")]
    pub endpoints: Vec<Endpoint>,
    /// `ports`
    #[serde(deserialize_with = "null_default")]
    pub ports: Vec<EndpointPort>,
}

impl EndpointSlice {
    /// The owning Service name (label `kubernetes.io/service-name`).
    pub fn service_name(&self) -> Option<&str> {
        self.metadata
            .labels
            .get(LABEL_SERVICE_NAME)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// The label that ties an EndpointSlice to its Service.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The node label that carries the zone.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";

/// `endpoints[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Endpoint {
    /// `addresses` (only the first is used)
    #[serde(deserialize_with = "null_default")]
    pub addresses: Vec<String>,
    /// `conditions`
    #[serde(deserialize_with = "null_default")]
    pub conditions: EndpointConditions,
    /// `nodeName`
    pub node_name: Option<String>,
    /// `zone`
    pub zone: Option<String>,
    /// `hints`
    pub hints: Option<EndpointHints>,
}

/// `endpoints[].conditions`; a missing `ready`/`serving` means true, a missing `terminating` false.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointConditions {
    /// `ready`
    pub ready: Option<bool>,
    /// `serving`
    pub serving: Option<bool>,
    /// `terminating`
    pub terminating: Option<bool>,
}

/// `endpoints[].hints`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointHints {
    /// `forZones`
    #[serde(deserialize_with = "null_default")]
    pub for_zones: Vec<NameRef>,
    /// `forNodes`
    #[serde(deserialize_with = "null_default")]
    pub for_nodes: Vec<NameRef>,
}

/// `{name: ...}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NameRef {
    /// `name`
    pub name: String,
}

/// `ports[]` of an EndpointSlice. A missing `name` makes kube-proxy ignore the port; an unnamed
/// Service port is matched by `name: ""`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointPort {
    /// `name`
    pub name: Option<String>,
    /// `protocol` (API default `TCP`)
    pub protocol: Option<String>,
    /// `port`
    pub port: Option<i64>,
}

/// A `v1` Node (what kube-proxy reads of it: labels, pod CIDRs, addresses).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Node {
    /// `apiVersion`
    pub api_version: String,
    /// `kind`
    pub kind: String,
    /// `metadata`
    #[serde(deserialize_with = "null_default")]
    pub metadata: ObjectMeta,
    /// `spec`
    #[serde(deserialize_with = "null_default")]
    pub spec: NodeSpec,
    /// `status`
    #[serde(deserialize_with = "null_default")]
    pub status: NodeStatus,
}

/// `Node.spec`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeSpec {
    /// `podCIDR`
    #[serde(rename = "podCIDR")]
    pub pod_cidr: String,
    /// `podCIDRs`
    #[serde(rename = "podCIDRs")]
    #[serde(deserialize_with = "null_default")]
    pub pod_cidrs: Vec<String>,
}

/// `Node.status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeStatus {
    /// `addresses`
    #[serde(deserialize_with = "null_default")]
    pub addresses: Vec<NodeAddress>,
}

/// `status.addresses[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeAddress {
    /// `type` (`InternalIP`, `ExternalIP`, `Hostname`, …)
    #[serde(rename = "type")]
    pub type_: String,
    /// `address`
    pub address: String,
}

impl Node {
    /// `spec.podCIDRs`, or `[spec.podCIDR]` for old objects.
    pub fn pod_cidrs(&self) -> Vec<String> {
        if !self.spec.pod_cidrs.is_empty() {
            self.spec.pod_cidrs.clone()
        } else if !self.spec.pod_cidr.is_empty() {
            vec![self.spec.pod_cidr.clone()]
        } else {
            Vec::new()
        }
    }
}

/// The objects found in an input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Objects {
    /// Services, in input order.
    pub services: Vec<Service>,
    /// EndpointSlices, in input order.
    pub endpoint_slices: Vec<EndpointSlice>,
    /// Nodes, in input order.
    pub nodes: Vec<Node>,
    /// The CIDRs of `networking.k8s.io` ServiceCIDR objects, in input order (kube-proxy's
    /// nftables mode drops traffic to their unallocated IPs).
    pub service_cidrs: Vec<String>,
}

/// A document (or `List` item) that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocError {
    /// 0-based index of the document in the stream (for `List` items, the List's index).
    pub index: usize,
    /// 1-based line where the document (or the error inside it, when known) starts.
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "document {} (line {}): {}",
            self.index, self.line, self.message
        )
    }
}

/// The result of [`load`]: the objects read, per-document errors, and the kinds that were skipped
/// because kube-proxy does not read them (Pods, Deployments, …).
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// Objects kube-proxy reads.
    pub objects: Objects,
    /// Documents that could not be parsed or did not have the expected shape.
    pub errors: Vec<DocError>,
    /// `(document index, kind)` of well-formed objects of other kinds.
    pub ignored: Vec<(usize, String)>,
}

/// The strings of a JSON list (`values`, `except`, `command`, `policyTypes`): items that are
/// not strings are skipped; a missing or non-list value gives an empty list.
pub fn string_list(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Loads Services, EndpointSlices and Nodes from multi-document YAML or JSON (a single object,
/// a JSON array, concatenated JSON objects, or `kind: List` with `items`). Never fails as a
/// whole: broken documents are reported in [`Loaded::errors`] and the rest is kept.
pub fn load(text: &str) -> Loaded {
    let mut out = Loaded::default();
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        load_json(text, &mut out);
    } else {
        load_yaml(text, &mut out);
    }
    out
}

fn load_json(text: &str, out: &mut Loaded) {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    let mut index = 0;
    // The line of the last document's start, and its offset: each document's line is counted
    // on from there, not from the start of the text (a stream of 50 000 documents took minutes).
    let (mut line_at, mut counted_to) = (1, 0);
    loop {
        let offset = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(v)) => {
                let start = offset + leading_ws(&text[offset..]);
                line_at += line_of_offset(&text[counted_to..start], start - counted_to) - 1;
                counted_to = start;
                let line = line_at;
                add_value(v, index, line, out);
                index += 1;
            }
            Some(Err(e)) => {
                out.errors.push(DocError {
                    index,
                    line: e.line(),
                    message: e.to_string(),
                });
                break;
            }
        }
    }
}

fn leading_ws(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Splits YAML at `---` document markers, remembering each document's first line.
fn split_yaml_docs(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let is_sep =
            line.starts_with("---") && line[3..].trim().is_empty() || line.starts_with("--- ");
        if is_sep {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
            if let Some(rest) = line.strip_prefix("--- ") {
                // `--- {json}` or `--- key: v` style: keep the content on the same line.
                cur.push_str(rest);
                cur.push('\n');
                start = i + 1;
            }
            continue;
        }
        if line == "..." {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    docs
}

fn load_yaml(text: &str, out: &mut Loaded) {
    let mut index = 0;
    for (start, doc) in split_yaml_docs(text) {
        let content: Vec<&str> = doc
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .collect();
        if content.is_empty() {
            continue;
        }
        match serde_yaml_ng::from_str::<serde_json::Value>(&doc) {
            Ok(v) => {
                if !v.is_null() {
                    add_value(v, index, start, out);
                }
            }
            Err(e) => {
                let line = e.location().map(|l| start + l.line() - 1).unwrap_or(start);
                out.errors.push(DocError {
                    index,
                    line,
                    message: e.to_string(),
                });
            }
        }
        index += 1;
    }
}

fn add_value(v: serde_json::Value, index: usize, line: usize, out: &mut Loaded) {
    if let serde_json::Value::Array(items) = v {
        for item in items {
            add_value(item, index, line, out);
        }
        return;
    }
    let kind = v
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("")
        .to_string();
    let err = |msg: String| DocError {
        index,
        line,
        message: msg,
    };
    match kind.as_str() {
        "List" | "ServiceList" | "EndpointSliceList" | "NodeList" | "ServiceCIDRList" => {
            let item_kind = kind
                .strip_suffix("List")
                .filter(|k| !k.is_empty())
                .map(str::to_string);
            match v.get("items").cloned() {
                Some(serde_json::Value::Array(items)) => {
                    for mut item in items {
                        if let (Some(k), Some(obj)) = (&item_kind, item.as_object_mut()) {
                            obj.entry("kind")
                                .or_insert_with(|| serde_json::Value::String(k.clone()));
                        }
                        add_value(item, index, line, out);
                    }
                }
                Some(serde_json::Value::Null) | None => {}
                Some(_) => out.errors.push(err(format!("{kind}: items is not a list"))),
            }
        }
        "Service" => match serde_json::from_value::<Service>(v) {
            Ok(mut s) => {
                if s.metadata.namespace.is_empty() {
                    s.metadata.namespace = "default".into();
                }
                if s.spec.type_.is_none() {
                    s.spec.type_ = Some("ClusterIP".into());
                }
                out.objects.services.push(s)
            }
            Err(e) => out.errors.push(err(format!("Service: {e}"))),
        },
        "EndpointSlice" => match serde_json::from_value::<EndpointSlice>(v) {
            Ok(mut s) => {
                if s.metadata.namespace.is_empty() {
                    s.metadata.namespace = "default".into();
                }
                out.objects.endpoint_slices.push(s)
            }
            Err(e) => out.errors.push(err(format!("EndpointSlice: {e}"))),
        },
        "Node" => match serde_json::from_value::<Node>(v) {
            Ok(n) => out.objects.nodes.push(n),
            Err(e) => out.errors.push(err(format!("Node: {e}"))),
        },
        "ServiceCIDR" => match v.pointer("/spec/cidrs") {
            Some(serde_json::Value::Array(cidrs)) => {
                for c in cidrs {
                    match c.as_str() {
                        Some(c) => out.objects.service_cidrs.push(c.to_string()),
                        None => out
                            .errors
                            .push(err(format!("ServiceCIDR: spec.cidrs: {c} is not a string"))),
                    }
                }
            }
            Some(serde_json::Value::Null) | None => {}
            Some(_) => out
                .errors
                .push(err("ServiceCIDR: spec.cidrs is not a list".into())),
        },
        "" => out.errors.push(err("object has no kind".into())),
        other => out.ignored.push((index, other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_multi_doc_with_errors() {
        let text = "\
apiVersion: v1
kind: Service
metadata: {name: a, namespace: ns}
spec:
  clusterIP: 10.0.0.1
  ports: [{port: 80}]
---
kind: Service
spec: {ports: [{port: \"eighty\"}]}
---
# comment only
---
apiVersion: v1
kind: Pod
metadata: {name: p}
---
kind: EndpointSlice
metadata: {name: a-1, labels: {kubernetes.io/service-name: a}}
addressType: IPv4
endpoints: [{addresses: [10.1.1.1]}]
ports: [{name: '', port: 80}]
";
        let l = load(text);
        assert_eq!(l.objects.services.len(), 1);
        assert_eq!(
            l.objects.services[0].spec.type_.as_deref(),
            Some("ClusterIP")
        );
        assert_eq!(l.objects.endpoint_slices.len(), 1);
        assert_eq!(l.objects.endpoint_slices[0].metadata.namespace, "default");
        assert_eq!(l.errors.len(), 1);
        assert_eq!(l.errors[0].index, 1);
        assert_eq!(l.errors[0].line, 8);
        assert_eq!(l.ignored, vec![(2, "Pod".to_string())]);
    }

    #[test]
    fn json_list() {
        let text = r#"{"kind":"List","items":[{"kind":"Service","metadata":{"name":"a"},"spec":{"clusterIP":"1.2.3.4"}},{"kind":"Node","metadata":{"name":"n"}}]}"#;
        let l = load(text);
        assert_eq!(l.objects.services.len(), 1);
        assert_eq!(l.objects.nodes.len(), 1);
        assert!(l.errors.is_empty());
        let l = load(
            r#"{"kind":"EndpointSlice","metadata":{"name":"x","labels":null},"endpoints":null,"ports":null}"#,
        );
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        assert!(l.objects.endpoint_slices[0].endpoints.is_empty());
        let l = load("{\"kind\":\"Service\"}\n{\"kind\": ");
        assert_eq!(l.objects.services.len(), 1);
        assert_eq!(l.errors.len(), 1);
        assert_eq!(l.errors[0].line, 2);
    }
}
