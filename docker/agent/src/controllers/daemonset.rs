//! The DaemonSet controller: one pod per eligible node (`nodeSelector`, node affinity, taints),
//! bound to its node at creation (upstream adds node affinity and lets the scheduler bind; the
//! affinity is added here too, for `kubectl get pod -o yaml` to look the same). Pods carry the
//! `controller-revision-hash` and `pod-template-generation` labels; a template change replaces
//! outdated pods one node at a time (RollingUpdate, maxUnavailable 1) or leaves them
//! (OnDelete). Writes the DaemonSet's status and `SuccessfulCreate` / `SuccessfulDelete`
//! events.

use std::sync::Arc;

use serde_json::{json, Value};

use super::deployment::{controlled_by, pod_active, pod_ready, pod_template_hash};
use super::informer::Informer;
use super::replicaset::pod_from_template;
use super::scheduler::{matches_required_affinity, tolerates};
use crate::kube::client::{ApiClient, KubeObject, DAEMON_SETS, PODS};
use crate::kube::events::EventRecorder;

/// The controller: reads DaemonSets, Nodes and Pods from the informers.
pub struct DaemonSetController {
    client: ApiClient,
    daemonsets: Arc<Informer>,
    nodes: Arc<Informer>,
    pods: Arc<Informer>,
    events: EventRecorder,
}

fn node_of(p: &Value) -> &str {
    p.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Whether the DaemonSet should run on `node`, as upstream decides it: the template's
/// `nodeSelector` and required node affinity, and every NoSchedule/NoExecute taint tolerated.
/// Readiness and cordons do not matter (DaemonSet pods run on NotReady and unschedulable
/// nodes).
pub fn node_fits(ds: &Value, node: &Value) -> bool {
    let selected = match ds
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object)
    {
        None => true,
        Some(sel) => sel.iter().all(|(k, v)| {
            node.pointer(&format!(
                "/metadata/labels/{}",
                k.replace('~', "~0").replace('/', "~1")
            )) == Some(v)
        }),
    };
    let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let tolerated = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .is_none_or(|ts| ts.iter().all(|t| tolerates(&template, t)));
    selected && tolerated && matches_required_affinity(&template, node)
}

impl DaemonSetController {
    /// A controller over these caches.
    pub fn new(
        client: ApiClient,
        daemonsets: Arc<Informer>,
        nodes: Arc<Informer>,
        pods: Arc<Informer>,
    ) -> Self {
        let events = EventRecorder::new(client.clone(), "daemonset-controller", "");
        DaemonSetController {
            client,
            daemonsets,
            nodes,
            pods,
            events,
        }
    }

    /// Reconciles every DaemonSet once.
    pub fn reconcile_all(&self) {
        for ds in self.daemonsets.list() {
            if ds.is_terminating() {
                continue;
            }
            if let Err(e) = self.reconcile(&ds) {
                if !crate::kube::client::lost_race(&e) {
                    tracing::warn!(daemonset = %ds.name(), error = %e, "reconcile failed");
                }
            }
        }
    }

    fn generation(ds: &Value) -> String {
        ds.pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .to_string()
    }

    fn create_pod(&self, ds: &Value, node: &str) -> anyhow::Result<()> {
        let mut template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = pod_template_hash(&template);
        if !template
            .pointer("/metadata/labels")
            .is_some_and(Value::is_object)
        {
            template["metadata"] = json!({"labels": {}});
        }
        template["metadata"]["labels"]["controller-revision-hash"] = json!(hash);
        template["metadata"]["labels"]["pod-template-generation"] = json!(Self::generation(ds));
        let mut pod = pod_from_template(ds, "DaemonSet", &template);
        pod["spec"]["nodeName"] = json!(node);
        if !pod["spec"].get("affinity").is_some_and(Value::is_object) {
            pod["spec"]["affinity"] = json!({});
        }
        pod["spec"]["affinity"]["nodeAffinity"] = json!({"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}});
        let ns = ds.namespace().unwrap_or("default");
        let created = self.client.create(&PODS, Some(ns), &pod)?;
        self.pods.apply(&created);
        self.events.normal(
            ds,
            "SuccessfulCreate",
            &format!("Created pod: {}", created.name()),
        );
        Ok(())
    }

    fn delete_pod(&self, ds: &Value, p: &Value) -> anyhow::Result<()> {
        match self.client.delete(&PODS, p.namespace(), p.name(), None) {
            Ok(v) => {
                if v.get("kind").and_then(Value::as_str) == Some("Pod") && v.is_terminating() {
                    self.pods.apply(&v);
                } else {
                    self.pods.remove(p);
                }
                self.events.normal(
                    ds,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {}", p.name()),
                );
                Ok(())
            }
            Err(e) if e.is_not_found() => {
                self.pods.remove(p);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One pod per eligible node, outdated pods replaced, then the status.
    pub fn reconcile(&self, ds: &Value) -> anyhow::Result<()> {
        let ns = ds.namespace().unwrap_or("default");
        let uid = ds.uid().unwrap_or("");
        let generation = Self::generation(ds);
        let nodes: Vec<Value> = self
            .nodes
            .list()
            .into_iter()
            .filter(|n| node_fits(ds, n))
            .collect();
        let node_names: Vec<&str> = nodes.iter().map(|n| n.name()).collect();
        let owned: Vec<Value> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| controlled_by(p, uid))
            .collect();
        let active: Vec<&Value> = owned.iter().filter(|p| pod_active(p)).collect();
        let outdated = |p: &Value| {
            p.labels()
                .get("pod-template-generation")
                .map(String::as_str)
                != Some(generation.as_str())
        };
        // Failed pods are deleted (and replaced below once gone), as upstream does.
        for p in owned
            .iter()
            .filter(|p| p.pointer("/status/phase").and_then(Value::as_str) == Some("Failed"))
            .filter(|p| !p.is_terminating())
        {
            self.events.warning(
                ds,
                "FailedDaemonPod",
                &format!(
                    "Found failed daemon pod {ns}/{} on node {}, will try to kill it",
                    p.name(),
                    node_of(p)
                ),
            );
            self.delete_pod(ds, p)?;
        }
        // Pods on nodes that no longer run this DaemonSet, and duplicates.
        let mut seen = std::collections::BTreeSet::new();
        for p in &active {
            let n = node_of(p);
            if !node_names.contains(&n) || !seen.insert(n.to_string()) {
                self.delete_pod(ds, p)?;
            }
        }
        for n in &node_names {
            let has = owned.iter().any(|p| node_of(p) == *n);
            if !has {
                self.create_pod(ds, n)?;
            }
        }
        let rolling = ds
            .pointer("/spec/updateStrategy/type")
            .and_then(Value::as_str)
            .unwrap_or("RollingUpdate")
            == "RollingUpdate";
        if rolling {
            let unavailable = active.iter().filter(|p| !pod_ready(p)).count()
                + owned.iter().filter(|p| p.is_terminating()).count();
            if unavailable == 0 {
                if let Some(p) = active.iter().find(|p| outdated(p)) {
                    self.delete_pod(ds, p)?;
                }
            }
        }
        self.update_status(ds, &node_names, &generation)
    }

    fn update_status(&self, ds: &Value, nodes: &[&str], generation: &str) -> anyhow::Result<()> {
        let ns = ds.namespace().unwrap_or("default");
        let uid = ds.uid().unwrap_or("");
        let active: Vec<Value> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| controlled_by(p, uid) && pod_active(p))
            .collect();
        let scheduled = nodes
            .iter()
            .filter(|n| active.iter().any(|p| node_of(p) == **n))
            .count();
        let misscheduled = active
            .iter()
            .filter(|p| !nodes.contains(&node_of(p)))
            .count();
        let ready = active
            .iter()
            .filter(|p| pod_ready(p) && nodes.contains(&node_of(p)))
            .count();
        let updated = active
            .iter()
            .filter(|p| {
                nodes.contains(&node_of(p))
                    && p.labels()
                        .get("pod-template-generation")
                        .map(String::as_str)
                        == Some(generation)
            })
            .count();
        let mut status = json!({
            "currentNumberScheduled": scheduled,
            "desiredNumberScheduled": nodes.len(),
            "numberMisscheduled": misscheduled,
            "numberReady": ready,
            "numberAvailable": ready,
            "numberUnavailable": nodes.len().saturating_sub(ready),
            "updatedNumberScheduled": updated,
            "observedGeneration": ds.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        });
        // The four counts upstream always writes stay; the others are omitted at zero.
        if let Some(m) = status.as_object_mut() {
            m.retain(|k, v| {
                matches!(
                    k.as_str(),
                    "currentNumberScheduled"
                        | "desiredNumberScheduled"
                        | "numberMisscheduled"
                        | "numberReady"
                        | "observedGeneration"
                ) || v.as_u64() != Some(0)
            });
        }
        if ds.get("status") != Some(&status) {
            let mut n = ds.clone();
            n["status"] = status;
            let out = self
                .client
                .update_status(&DAEMON_SETS, ds.namespace(), ds.name(), &n)?;
            self.daemonsets.apply(&out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_sets_follow_node_selectors_and_taints() {
        let ds = |spec: Value| json!({"spec": {"template": {"spec": spec}}});
        let node = |labels: Value, taints: Value| json!({"metadata": {"labels": labels}, "spec": {"taints": taints}});
        let cp = node(
            json!({"kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}),
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
        );
        let worker = node(json!({"kubernetes.io/os": "linux"}), json!([]));
        let plain = ds(json!({}));
        assert!(node_fits(&plain, &worker));
        assert!(!node_fits(&plain, &cp), "an untolerated NoSchedule taint");
        let tolerant = ds(json!({"tolerations": [{"operator": "Exists"}]}));
        assert!(node_fits(&tolerant, &cp));
        let linux_only = ds(json!({"nodeSelector": {"kubernetes.io/os": "windows"}}));
        assert!(!node_fits(&linux_only, &worker));
        let prefer = node(
            json!({}),
            json!([{"key": "k", "effect": "PreferNoSchedule"}]),
        );
        assert!(node_fits(&plain, &prefer));
    }
}
