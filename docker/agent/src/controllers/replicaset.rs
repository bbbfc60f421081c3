//! The ReplicaSet controller, as kube-controller-manager's: keeps `spec.replicas` active pods
//! owned by each ReplicaSet (`<rs>-<5 chars>` names from `generateName`, ownerReferences with
//! `controller: true` and `blockOwnerDeletion: true`), deletes extra pods in upstream's order
//! (unscheduled, pending, not ready, newest first), records `SuccessfulCreate` /
//! `SuccessfulDelete` events, and writes the ReplicaSet's status.

use std::sync::Arc;

use serde_json::{json, Value};

use super::deployment::{adopt, controlled_by, deletion_rank, pod_active, pod_ready};
use super::informer::Informer;
use crate::kube::client::{ApiClient, KubeObject, PODS, REPLICA_SETS};
use crate::kube::events::EventRecorder;
use crate::kube::selectors::LabelSelector;

/// The controller: reads ReplicaSets and Pods from the informers, writes through `client`.
pub struct ReplicaSetController {
    client: ApiClient,
    replicasets: Arc<Informer>,
    pods: Arc<Informer>,
    events: EventRecorder,
}

/// A new pod of a controller: `generateName: <owner>-`, the template's labels, annotations
/// and spec, and the controller reference.
pub fn pod_from_template(owner: &Value, kind: &str, template: &Value) -> Value {
    let mut meta = json!({
        "generateName": format!("{}-", owner.name()),
        "namespace": owner.namespace().unwrap_or("default"),
        "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
        "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": kind, "name": owner.name(),
            "uid": owner.uid().unwrap_or(""), "controller": true, "blockOwnerDeletion": true,
        }],
    });
    if let Some(a) = template.pointer("/metadata/annotations") {
        meta["annotations"] = a.clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
           "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

/// Whether a pod is available: Ready for at least `min_ready_seconds` (upstream's
/// `IsPodAvailable`; the controllers' resync picks up pods that become available later).
pub fn pod_available(p: &Value, min_ready_seconds: i64) -> bool {
    if !pod_ready(p) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    let since = p
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .and_then(|c| c.get("lastTransitionTime").and_then(Value::as_str))
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        });
    since
        .is_some_and(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds() >= min_ready_seconds)
}

impl ReplicaSetController {
    /// A controller over these caches.
    pub fn new(client: ApiClient, replicasets: Arc<Informer>, pods: Arc<Informer>) -> Self {
        let events = EventRecorder::new(client.clone(), "replicaset-controller", "");
        ReplicaSetController {
            client,
            replicasets,
            pods,
            events,
        }
    }

    /// Reconciles every ReplicaSet once.
    pub fn reconcile_all(&self) {
        for rs in self.replicasets.list() {
            if rs.is_terminating() {
                continue;
            }
            if let Err(e) = self.reconcile(&rs) {
                if !crate::kube::client::lost_race(&e) {
                    tracing::warn!(replicaset = %rs.name(), error = %e, "reconcile failed");
                }
            }
        }
    }

    /// Creates or deletes pods of one ReplicaSet, then writes its status.
    pub fn reconcile(&self, rs: &Value) -> anyhow::Result<()> {
        let ns = rs.namespace().unwrap_or("default");
        let uid = rs.uid().unwrap_or("");
        let desired = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize;
        let mut active: Vec<Value> = Vec::new();
        for p in self.pods.list_namespace(ns) {
            if !pod_active(&p) {
                continue;
            }
            if controlled_by(&p, uid) {
                active.push(p);
            } else if let Some(adopted) = adopt(&self.client, &PODS, rs, "ReplicaSet", &p) {
                self.pods.apply(&adopted);
                active.push(adopted);
            }
        }
        if active.len() < desired {
            let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in active.len()..desired {
                let pod = pod_from_template(rs, "ReplicaSet", &template);
                match self.client.create(&PODS, Some(ns), &pod) {
                    Ok(created) => {
                        self.pods.apply(&created);
                        self.events.normal(
                            rs,
                            "SuccessfulCreate",
                            &format!("Created pod: {}", created.name()),
                        );
                    }
                    Err(e) => {
                        self.events
                            .warning(rs, "FailedCreate", &format!("Error creating: {}", e));
                        return Err(e.into());
                    }
                }
            }
        } else if active.len() > desired {
            active.sort_by_key(deletion_rank);
            let excess = active.len() - desired;
            for p in active.drain(..excess) {
                match self.client.delete(&PODS, p.namespace(), p.name(), None) {
                    Ok(v) => {
                        if v.get("kind").and_then(Value::as_str) == Some("Pod")
                            && v.is_terminating()
                        {
                            self.pods.apply(&v);
                        } else {
                            self.pods.remove(&p);
                        }
                        self.events.normal(
                            rs,
                            "SuccessfulDelete",
                            &format!("Deleted pod: {}", p.name()),
                        );
                    }
                    Err(e) if e.is_not_found() => self.pods.remove(&p),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.update_status(rs)
    }

    fn update_status(&self, rs: &Value) -> anyhow::Result<()> {
        let ns = rs.namespace().unwrap_or("default");
        let uid = rs.uid().unwrap_or("");
        let active: Vec<Value> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| controlled_by(p, uid) && pod_active(p))
            .collect();
        let template_labels = LabelSelector::from_json(Some(&json!({
            "matchLabels": rs.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({}))
        })))
        .ok();
        let fully_labeled = active
            .iter()
            .filter(|p| template_labels.as_ref().is_none_or(|s| s.matches_object(p)))
            .count();
        let ready = active.iter().filter(|p| pod_ready(p)).count();
        let min_ready = rs
            .pointer("/spec/minReadySeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let available = active
            .iter()
            .filter(|p| pod_available(p, min_ready))
            .count();
        let mut status = json!({
            "replicas": active.len(),
            "fullyLabeledReplicas": fully_labeled,
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        });
        // `replicas` is always there; the other counts are omitted at zero.
        if let Some(m) = status.as_object_mut() {
            m.retain(|k, v| k == "replicas" || k == "observedGeneration" || v.as_u64() != Some(0));
        }
        if rs.get("status") != Some(&status) {
            let mut n = rs.clone();
            n["status"] = status;
            let out = self
                .client
                .update_status(&REPLICA_SETS, rs.namespace(), rs.name(), &n)?;
            self.replicasets.apply(&out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let pod = |since: &str| json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": since}]}});
        let now = crate::kube::time::now_rfc3339();
        assert!(pod_available(&pod(&now), 0));
        assert!(!pod_available(&pod(&now), 30));
        assert!(pod_available(&pod("2020-01-01T00:00:00Z"), 30));
        assert!(!pod_available(&json!({"status": {}}), 0));
    }
}
