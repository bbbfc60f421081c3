//! The EndpointSlice controller and the legacy Endpoints controller: for every Service with a
//! selector, the slices (`<svc>-<5 chars>`) and the `v1 Endpoints` object listing the pods
//! that match, with Kubernetes' endpoint conditions:
//!
//! * ready = pod Ready and not terminating (or `publishNotReadyAddresses`),
//! * serving = pod Ready, terminating = pod has a deletionTimestamp.
//!
//! Pods without an IP or in a terminal phase are left out; terminating pods appear in slices
//! (terminating=true) but not in Endpoints. Pods whose ports resolve differently (named
//! targetPorts) go to separate slices, as upstream. Services without a selector are left alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::deployment::pod_ready;
use super::informer::Informer;
use crate::kube::client::{ApiClient, KubeObject, ENDPOINTS, ENDPOINT_SLICES};
use crate::kube::selectors::LabelSelector;

/// `endpointslice.kubernetes.io/managed-by` value of this controller.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// Label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Label marking Endpoints written by this controller (as Kubernetes 1.33+ does).
pub const ENDPOINTS_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";

/// The controller.
pub struct EndpointController {
    client: ApiClient,
    services: Arc<Informer>,
    pods: Arc<Informer>,
    slices: Arc<Informer>,
    endpoints: Arc<Informer>,
}

/// The port a service port resolves to on a pod: the number, or the containerPort whose name
/// equals the targetPort name (and protocol matches).
pub fn resolve_port(pod: &Value, target: &Value, protocol: &str) -> Option<i64> {
    match target {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => {
            if let Ok(n) = name.parse::<i64>() {
                return Some(n);
            }
            pod.pointer("/spec/containers")
                .and_then(Value::as_array)?
                .iter()
                .flat_map(|c| {
                    c.get("ports")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .find(|p| {
                    p.get("name").and_then(Value::as_str) == Some(name.as_str())
                        && p.get("protocol").and_then(Value::as_str).unwrap_or("TCP") == protocol
                })
                .and_then(|p| p.get("containerPort").and_then(Value::as_i64))
        }
        _ => None,
    }
}

fn pod_ip(p: &Value) -> Option<&str> {
    p.pointer("/status/podIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn ip_key(ip: &str) -> (u32, String) {
    (
        ip.parse::<std::net::Ipv4Addr>()
            .map(u32::from)
            .unwrap_or(u32::MAX),
        ip.to_string(),
    )
}

/// What one Service's endpoints should be.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// One entry per distinct port set: (`ports` of the slice, its `endpoints`).
    pub groups: Vec<(Vec<Value>, Vec<Value>)>,
    /// Legacy `subsets`.
    pub subsets: Vec<Value>,
}

/// Computes slices and subsets for `svc` from `pods` (already in its namespace).
pub fn desired_for(svc: &Value, pods: &[Value]) -> Desired {
    let selector: BTreeMap<String, String> = svc
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let sel = LabelSelector::from_map(&selector);
    let publish = svc
        .pointer("/spec/publishNotReadyAddresses")
        .and_then(Value::as_bool)
        == Some(true);
    let svc_ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut pods: Vec<&Value> = pods
        .iter()
        .filter(|p| sel.matches_object(p))
        .filter(|p| pod_ip(p).is_some())
        .filter(|p| {
            !matches!(
                p.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded") | Some("Failed")
            )
        })
        .collect();
    pods.sort_by_key(|p| p.name().to_string());
    let mut groups: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
    let mut subsets: Vec<(Vec<Value>, Vec<Value>, Vec<Value>)> = Vec::new();
    for p in pods {
        let mut ports = Vec::new();
        for sp in &svc_ports {
            let proto = sp.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            let target = sp
                .get("targetPort")
                .cloned()
                .or_else(|| sp.get("port").cloned())
                .unwrap_or(Value::Null);
            if let Some(port) = resolve_port(p, &target, proto) {
                let mut ep = json!({"name": sp.get("name").and_then(Value::as_str).unwrap_or(""), "port": port, "protocol": proto});
                if let Some(ap) = sp.get("appProtocol") {
                    ep["appProtocol"] = ap.clone();
                }
                ports.push(ep);
            }
        }
        if ports.is_empty() && !svc_ports.is_empty() {
            continue;
        }
        let ip = pod_ip(p).unwrap_or("").to_string();
        let serving = pod_ready(p);
        let terminating = p.is_terminating();
        let ready = publish || (serving && !terminating);
        let target_ref = json!({"kind": "Pod", "namespace": p.namespace().unwrap_or(""), "name": p.name(), "uid": p.uid().unwrap_or("")});
        let node = p
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let mut endpoint = json!({
            "addresses": [ip],
            "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        });
        if let Some(n) = node {
            endpoint["nodeName"] = json!(n);
        }
        endpoint["targetRef"] = target_ref.clone();
        match groups.iter_mut().find(|(gp, _)| *gp == ports) {
            Some((_, eps)) => eps.push(endpoint),
            None => groups.push((ports.clone(), vec![endpoint])),
        }
        // Legacy Endpoints: terminating pods are left out (unless publishNotReadyAddresses).
        if terminating && !publish {
            continue;
        }
        let legacy_ports: Vec<Value> = ports
            .iter()
            .map(|sp| {
                let mut lp = json!({});
                if let Some(n) = sp
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                {
                    lp["name"] = json!(n);
                }
                lp["port"] = sp["port"].clone();
                lp["protocol"] = sp["protocol"].clone();
                lp
            })
            .collect();
        let mut addr = json!({"ip": ip});
        if let Some(n) = node {
            addr["nodeName"] = json!(n);
        }
        addr["targetRef"] = target_ref;
        let idx = match subsets.iter().position(|(sp, _, _)| *sp == legacy_ports) {
            Some(i) => i,
            None => {
                subsets.push((legacy_ports, Vec::new(), Vec::new()));
                subsets.len() - 1
            }
        };
        if ready {
            subsets[idx].1.push(addr);
        } else {
            subsets[idx].2.push(addr);
        }
    }
    let subsets = subsets
        .into_iter()
        .map(|(ports, mut ready, mut not_ready)| {
            ready.sort_by_key(|a| ip_key(a["ip"].as_str().unwrap_or("")));
            not_ready.sort_by_key(|a| ip_key(a["ip"].as_str().unwrap_or("")));
            let mut s = json!({});
            if !ready.is_empty() {
                s["addresses"] = Value::Array(ready);
            }
            if !not_ready.is_empty() {
                s["notReadyAddresses"] = Value::Array(not_ready);
            }
            s["ports"] = Value::Array(ports);
            s
        })
        .collect();
    Desired { groups, subsets }
}

fn owner_ref(svc: &Value) -> Value {
    json!([{"apiVersion": "v1", "kind": "Service", "name": svc.name(), "uid": svc.uid().unwrap_or(""), "controller": true, "blockOwnerDeletion": true}])
}

fn has_selector(svc: &Value) -> bool {
    svc.pointer("/spec/selector")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
        && svc.pointer("/spec/type").and_then(Value::as_str) != Some("ExternalName")
}

/// A copy of the Service's labels (an empty object when it has none): the start of the labels
/// of its EndpointSlices and Endpoints.
fn service_labels(svc: &Value) -> Value {
    svc.pointer("/metadata/labels")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}))
}

impl EndpointController {
    /// A controller over these caches.
    pub fn new(
        client: ApiClient,
        services: Arc<Informer>,
        pods: Arc<Informer>,
        slices: Arc<Informer>,
        endpoints: Arc<Informer>,
    ) -> Self {
        EndpointController {
            client,
            services,
            pods,
            slices,
            endpoints,
        }
    }

    /// Reconciles every Service, and removes Endpoints this controller wrote for Services that
    /// are gone (slices go with their Service through ownerReferences).
    pub fn reconcile_all(&self) {
        let services = self.services.list();
        for svc in &services {
            if let Err(e) = self.reconcile(svc) {
                tracing::warn!(service = %format!("{}/{}", svc.namespace().unwrap_or(""), svc.name()), error = %e, "endpoints reconcile failed");
            }
        }
        for ep in self.endpoints.list() {
            let managed = ep.labels().get(ENDPOINTS_MANAGED_BY).map(String::as_str)
                == Some("endpoint-controller");
            let svc = self.services.get(ep.namespace().unwrap_or(""), ep.name());
            if managed && svc.as_ref().is_none_or(|s| !has_selector(s)) {
                match self
                    .client
                    .delete(&ENDPOINTS, ep.namespace(), ep.name(), None)
                {
                    Ok(_) => self.endpoints.remove(&ep),
                    Err(e) if e.is_not_found() => self.endpoints.remove(&ep),
                    Err(e) => {
                        tracing::warn!(endpoints = %ep.name(), error = %e, "cannot delete endpoints")
                    }
                }
            }
        }
    }

    fn reconcile(&self, svc: &Value) -> anyhow::Result<()> {
        if !has_selector(svc) {
            return Ok(());
        }
        let ns = svc.namespace().unwrap_or("default");
        let pods = self.pods.list_namespace(ns);
        let desired = desired_for(svc, &pods);
        self.sync_slices(svc, &desired)?;
        self.sync_endpoints(svc, &desired)
    }

    fn sync_slices(&self, svc: &Value, desired: &Desired) -> anyhow::Result<()> {
        let ns = svc.namespace().unwrap_or("default");
        let mut labels = service_labels(svc);
        labels["endpointslice.kubernetes.io/managed-by"] = json!(MANAGED_BY);
        labels[SERVICE_NAME_LABEL] = json!(svc.name());
        let mut existing: Vec<Value> = self
            .slices
            .list_namespace(ns)
            .into_iter()
            .filter(|s| {
                let l = s.labels();
                l.get(SERVICE_NAME_LABEL).map(String::as_str) == Some(svc.name())
                    && l.get("endpointslice.kubernetes.io/managed-by")
                        .map(String::as_str)
                        == Some(MANAGED_BY)
            })
            .collect();
        existing.sort_by_key(|s| s.name().to_string());
        // An empty service still gets one (placeholder) slice, as upstream.
        let groups: Vec<(Vec<Value>, Vec<Value>)> = if desired.groups.is_empty() {
            vec![(Vec::new(), Vec::new())]
        } else {
            desired.groups.clone()
        };
        let mut unused: Vec<Value> = Vec::new();
        let mut matched: Vec<Option<Value>> = vec![None; groups.len()];
        // Keep a slice with the same ports for each group when one exists.
        for s in existing {
            let ports = s
                .get("ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            match groups
                .iter()
                .enumerate()
                .position(|(i, (gp, _))| matched[i].is_none() && *gp == ports)
            {
                Some(i) => matched[i] = Some(s),
                None => unused.push(s),
            }
        }
        for (i, (ports, eps)) in groups.iter().enumerate() {
            let slot = matched[i].take().or_else(|| {
                if unused.is_empty() {
                    None
                } else {
                    Some(unused.remove(0))
                }
            });
            let mut body = json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"namespace": ns, "labels": labels, "ownerReferences": owner_ref(svc)},
                "addressType": "IPv4",
            });
            if !eps.is_empty() {
                body["endpoints"] = Value::Array(eps.clone());
            }
            if !ports.is_empty() {
                body["ports"] = Value::Array(ports.clone());
            }
            match slot {
                None => {
                    body["metadata"]["generateName"] = json!(format!("{}-", svc.name()));
                    let out = self.client.create(&ENDPOINT_SLICES, Some(ns), &body)?;
                    tracing::info!(slice = %out.name(), service = %svc.name(), "created EndpointSlice");
                    self.slices.apply(&out);
                }
                Some(cur) => {
                    let same = cur.pointer("/metadata/labels") == body.pointer("/metadata/labels")
                        && cur.pointer("/metadata/ownerReferences")
                            == body.pointer("/metadata/ownerReferences")
                        && cur.get("addressType") == body.get("addressType")
                        && cur.get("endpoints") == body.get("endpoints")
                        && cur.get("ports") == body.get("ports");
                    if same {
                        continue;
                    }
                    let mut upd = cur.clone();
                    upd["metadata"]["labels"] = body["metadata"]["labels"].clone();
                    upd["metadata"]["ownerReferences"] =
                        body["metadata"]["ownerReferences"].clone();
                    upd["addressType"] = json!("IPv4");
                    let m = upd.as_object_mut().expect("object");
                    m.remove("endpoints");
                    m.remove("ports");
                    if let Some(e) = body.get("endpoints") {
                        m.insert("endpoints".into(), e.clone());
                    }
                    if let Some(p) = body.get("ports") {
                        m.insert("ports".into(), p.clone());
                    }
                    match self
                        .client
                        .replace(&ENDPOINT_SLICES, Some(ns), cur.name(), &upd)
                    {
                        Ok(out) => self.slices.apply(&out),
                        // Someone else changed it: the watch event brings us back here.
                        Err(e) if e.is_conflict() => {}
                        Err(e) if e.is_not_found() => self.slices.remove(&cur),
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        for s in unused {
            match self
                .client
                .delete(&ENDPOINT_SLICES, Some(ns), s.name(), None)
            {
                Ok(_) => self.slices.remove(&s),
                Err(e) if e.is_not_found() => self.slices.remove(&s),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn sync_endpoints(&self, svc: &Value, desired: &Desired) -> anyhow::Result<()> {
        let ns = svc.namespace().unwrap_or("default");
        let mut labels = service_labels(svc);
        labels[ENDPOINTS_MANAGED_BY] = json!("endpoint-controller");
        let subsets = Value::Array(desired.subsets.clone());
        match self.endpoints.get(ns, svc.name()) {
            None => {
                let mut body = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": svc.name(), "namespace": ns, "labels": labels}});
                if !desired.subsets.is_empty() {
                    body["subsets"] = subsets;
                }
                match self.client.create(&ENDPOINTS, Some(ns), &body) {
                    Ok(out) => self.endpoints.apply(&out),
                    Err(e) if e.is_already_exists() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Some(cur) => {
                let cur_subsets = cur.get("subsets").cloned().unwrap_or(json!([]));
                if cur_subsets == subsets && cur.pointer("/metadata/labels") == Some(&labels) {
                    return Ok(());
                }
                let mut upd = cur.clone();
                upd["metadata"]["labels"] = labels;
                let m = upd.as_object_mut().expect("object");
                m.remove("subsets");
                if !desired.subsets.is_empty() {
                    m.insert("subsets".into(), subsets);
                }
                match self.client.replace(&ENDPOINTS, Some(ns), svc.name(), &upd) {
                    Ok(out) => self.endpoints.apply(&out),
                    Err(e) if e.is_conflict() => {}
                    Err(e) if e.is_not_found() => self.endpoints.remove(&cur),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: &str, ready: bool, terminating: bool) -> Value {
        let mut p = json!({"metadata":{"name":name,"namespace":"default","uid":name,"labels":{"app":"web"}},
            "spec":{"nodeName":"node-1","containers":[{"name":"c","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}]}]},
            "status":{"phase":"Running","podIP":ip,"conditions":[{"type":"Ready","status": if ready {"True"} else {"False"}}]}});
        if terminating {
            p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        p
    }

    #[test]
    fn conditions_and_named_ports() {
        let svc = json!({"metadata":{"name":"web","namespace":"default"},"spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":"http","protocol":"TCP"}]}});
        let pods = vec![
            pod("a", "10.244.1.2", true, false),
            pod("b", "10.244.1.3", false, false),
            pod("c", "10.244.1.4", true, true),
            pod("d", "", true, false),
        ];
        let d = desired_for(&svc, &pods);
        assert_eq!(d.groups.len(), 1);
        let (ports, eps) = &d.groups[0];
        assert_eq!(ports[0]["port"], 8080);
        let conds: Vec<&Value> = eps.iter().map(|e| &e["conditions"]).collect();
        assert_eq!(
            conds[0],
            &json!({"ready":true,"serving":true,"terminating":false})
        );
        assert_eq!(
            conds[1],
            &json!({"ready":false,"serving":false,"terminating":false})
        );
        assert_eq!(
            conds[2],
            &json!({"ready":false,"serving":true,"terminating":true})
        );
        assert_eq!(eps.len(), 3);
        assert_eq!(d.subsets.len(), 1);
        assert_eq!(d.subsets[0]["addresses"].as_array().unwrap().len(), 1);
        assert_eq!(d.subsets[0]["notReadyAddresses"][0]["ip"], "10.244.1.3");
        assert_eq!(
            d.subsets[0]["ports"][0],
            json!({"name":"http","port":8080,"protocol":"TCP"})
        );
    }
}
