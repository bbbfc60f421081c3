//! The deployment controller: Deployment -> Pods `<deploy>-<pod-template-hash>-<suffix>`,
//! scaling, rolling replacement on template change, and the Deployment's status.
//!
//! Differences from Kubernetes, on purpose: there is no ReplicaSet object (kubectl would show
//! `web-7d4b9c8f5` under `get rs`; here that name is only the pods' prefix and their
//! `pod-template-hash` label), so pods are owned directly by the Deployment (their
//! `ownerReferences` name it, and deleting it deletes them). A template change creates all new
//! pods at once and removes old pods as new ones become Ready (maxSurge 100%, maxUnavailable
//! 0); `strategy.type: Recreate` removes old pods first. The hash is FNV-32a over the
//! template's canonical JSON (Kubernetes hashes its Go struct dump, so values differ from a
//! real cluster's, but they are stable and look the same), encoded with `SafeEncodeString`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::informer::Informer;
use crate::kube::client::{ApiClient, KubeObject, DEPLOYMENTS, PODS};

/// Kubernetes' alphabet for generated names (`k8s.io/apimachinery/pkg/util/rand`): no vowels,
/// no confusable characters.
pub const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-32a.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// `rand.SafeEncodeString`: maps each character to the safe alphabet.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> =
                m.iter().map(|(k, v)| (k, canonical(v))).collect();
            let mut out = serde_json::Map::new();
            for (k, v) in sorted {
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The `pod-template-hash` of a pod template (as `ComputeHash` does: the decimal FNV-32a sum,
/// safe-encoded), 1 to 10 characters, typically 9 or 10.
pub fn pod_template_hash(template: &Value) -> String {
    let text = canonical(template).to_string();
    safe_encode(&fnv32a(text.as_bytes()).to_string())
}

/// 5 random characters of [`ALPHANUMS`].
pub fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| ALPHANUMS[rng.gen_range(0..ALPHANUMS.len())] as char)
        .collect()
}

/// Whether a pod has condition Ready=True.
pub fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn phase(p: &Value) -> &str {
    p.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A pod that counts: not terminating, not finished.
pub fn pod_active(p: &Value) -> bool {
    !p.is_terminating() && !matches!(phase(p), "Succeeded" | "Failed")
}

/// Whether `pod` is controlled by the object with `uid`.
pub fn controlled_by(pod: &Value, uid: &str) -> bool {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("uid").and_then(Value::as_str) == Some(uid)
                    && r.get("controller").and_then(Value::as_bool) == Some(true)
            })
        })
}

/// Deletion preference, lowest first (as the ReplicaSet controller ranks pods): unscheduled,
/// then pending, then not ready, then the newest.
fn deletion_rank(
    p: &Value,
) -> (
    u8,
    u8,
    u8,
    std::cmp::Reverse<String>,
    std::cmp::Reverse<String>,
) {
    let scheduled = p
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let phase_rank = match phase(p) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    (
        u8::from(scheduled),
        phase_rank,
        u8::from(pod_ready(p)),
        std::cmp::Reverse(
            p.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        std::cmp::Reverse(p.name().to_string()),
    )
}

/// The controller: reads Deployments and Pods from the informers, writes through `client`.
pub struct DeploymentController {
    client: ApiClient,
    deployments: Arc<Informer>,
    pods: Arc<Informer>,
}

impl DeploymentController {
    /// A controller over these caches.
    pub fn new(client: ApiClient, deployments: Arc<Informer>, pods: Arc<Informer>) -> Self {
        DeploymentController {
            client,
            deployments,
            pods,
        }
    }

    /// Reconciles every Deployment once; errors are logged and retried at the next wake-up.
    pub fn reconcile_all(&self) {
        for d in self.deployments.list() {
            if d.is_terminating() {
                continue;
            }
            if let Err(e) = self.reconcile(&d) {
                // A stale cache loses a write race: the watch event wakes us up again.
                let conflict = e
                    .downcast_ref::<crate::kube::client::ClientError>()
                    .is_some_and(|c| c.is_conflict());
                if conflict {
                    tracing::debug!(deployment = %d.name(), "conflict; retrying on the next event");
                    continue;
                }
                tracing::warn!(deployment = %format!("{}/{}", d.namespace().unwrap_or(""), d.name()), error = %e, "reconcile failed");
            }
        }
    }

    fn create_pod(&self, d: &Value, hash: &str) -> anyhow::Result<()> {
        let ns = d.namespace().unwrap_or("default");
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let mut labels = template
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        labels["pod-template-hash"] = json!(hash);
        let mut meta = json!({
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": d.name(),
                "uid": d.uid().unwrap_or(""), "controller": true, "blockOwnerDeletion": true,
            }],
        });
        if let Some(a) = template.pointer("/metadata/annotations") {
            meta["annotations"] = a.clone();
        }
        for _ in 0..5 {
            meta["name"] = json!(format!("{}-{hash}-{}", d.name(), random_suffix()));
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec").cloned().unwrap_or(json!({}))});
            match self.client.create(&PODS, Some(ns), &pod) {
                Ok(created) => {
                    tracing::info!(pod = %created.name(), deployment = %d.name(), "created pod");
                    self.pods.apply(&created);
                    return Ok(());
                }
                Err(e) if e.is_already_exists() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("could not find a free pod name for {}", d.name())
    }

    fn delete_pod(&self, p: &Value) -> anyhow::Result<()> {
        match self.client.delete(&PODS, p.namespace(), p.name(), None) {
            Ok(v) => {
                if v.get("kind").and_then(Value::as_str) == Some("Pod") && v.is_terminating() {
                    self.pods.apply(&v);
                } else {
                    self.pods.remove(p);
                }
                tracing::info!(pod = %p.name(), "deleted pod");
                Ok(())
            }
            Err(e) if e.is_not_found() => {
                self.pods.remove(p);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Brings one Deployment's pods and status to the desired state.
    pub fn reconcile(&self, d: &Value) -> anyhow::Result<()> {
        let ns = d.namespace().unwrap_or("default");
        let uid = d.uid().unwrap_or("").to_string();
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = pod_template_hash(&template);
        let desired = d
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize;
        let recreate = d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
        let owned: Vec<Value> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| controlled_by(p, &uid))
            .collect();
        let is_new = |p: &Value| {
            p.labels().get("pod-template-hash").map(String::as_str) == Some(hash.as_str())
        };
        let mut new: Vec<Value> = owned
            .iter()
            .filter(|p| pod_active(p) && is_new(p))
            .cloned()
            .collect();
        let mut old: Vec<Value> = owned
            .iter()
            .filter(|p| pod_active(p) && !is_new(p))
            .cloned()
            .collect();
        let old_terminating = owned.iter().any(|p| !is_new(p) && p.is_terminating());
        let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);

        if !paused {
            // Old pods: Recreate removes them all first; RollingUpdate keeps enough of them to
            // cover the new pods that are not Ready yet.
            let ready_new = new.iter().filter(|p| pod_ready(p)).count();
            let keep_old = if recreate {
                0
            } else {
                desired.saturating_sub(ready_new)
            };
            if old.len() > keep_old {
                old.sort_by_key(deletion_rank);
                let excess = old.len() - keep_old;
                for p in old.drain(..excess) {
                    self.delete_pod(&p)?;
                }
            }
            let may_create = !recreate || (old.is_empty() && !old_terminating);
            if new.len() < desired && may_create {
                for _ in new.len()..desired {
                    self.create_pod(d, &hash)?;
                }
            } else if new.len() > desired {
                new.sort_by_key(deletion_rank);
                let excess = new.len() - desired;
                for p in new.drain(..excess) {
                    self.delete_pod(&p)?;
                }
            }
        }
        self.update_status(d, &hash, desired)
    }

    fn update_status(&self, d: &Value, hash: &str, desired: usize) -> anyhow::Result<()> {
        let ns = d.namespace().unwrap_or("default");
        let uid = d.uid().unwrap_or("").to_string();
        let owned: Vec<Value> = self
            .pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| controlled_by(p, &uid) && pod_active(p))
            .collect();
        let replicas = owned.len();
        let updated = owned
            .iter()
            .filter(|p| p.labels().get("pod-template-hash").map(String::as_str) == Some(hash))
            .count();
        let ready = owned.iter().filter(|p| pod_ready(p)).count();
        let available = ready;
        let rs_name = format!("{}-{hash}", d.name());
        let old_status = d.get("status").cloned().unwrap_or(json!({}));
        let old_conds: Vec<Value> = old_status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let now = crate::kube::time::now_rfc3339();
        let cond = |ty: &str, status: &str, reason: &str, message: String| -> Value {
            if let Some(c) = old_conds
                .iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
            {
                let same = c.get("status").and_then(Value::as_str) == Some(status)
                    && c.get("reason").and_then(Value::as_str) == Some(reason)
                    && c.get("message").and_then(Value::as_str) == Some(message.as_str());
                if same {
                    return c.clone();
                }
                let transition = if c.get("status").and_then(Value::as_str) == Some(status) {
                    c.get("lastTransitionTime").cloned().unwrap_or(json!(now))
                } else {
                    json!(now)
                };
                return json!({"type": ty, "status": status, "lastUpdateTime": now, "lastTransitionTime": transition, "reason": reason, "message": message});
            }
            json!({"type": ty, "status": status, "lastUpdateTime": now, "lastTransitionTime": now, "reason": reason, "message": message})
        };
        let available_cond = if available >= desired {
            cond(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            )
        } else {
            cond(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        };
        let complete = updated == desired && replicas == desired && available >= desired;
        let progressing = if complete {
            cond(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            )
        } else {
            cond(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{rs_name}\" is progressing."),
            )
        };
        let mut status = json!({
            "observedGeneration": d.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
        });
        if desired > available {
            status["unavailableReplicas"] = json!(desired - available);
        }
        status["conditions"] = json!([available_cond, progressing]);
        // Kubernetes omits zero counts.
        if let Some(m) = status.as_object_mut() {
            m.retain(|k, v| {
                k == "observedGeneration" || k == "conditions" || v.as_u64() != Some(0)
            });
        }
        if status != old_status {
            let mut nd = d.clone();
            nd["status"] = status;
            let out = self
                .client
                .update_status(&DEPLOYMENTS, d.namespace(), d.name(), &nd)?;
            self.deployments.apply(&out);
        }
        // The revision annotation, bumped when the template hash changes.
        let annotations = d.annotations();
        let cur_hash = annotations.get("kplab.dev/pod-template-hash");
        if cur_hash.map(String::as_str) != Some(hash) {
            let rev: u64 = annotations
                .get("deployment.kubernetes.io/revision")
                .and_then(|r| r.parse().ok())
                .map_or(1, |r: u64| if cur_hash.is_some() { r + 1 } else { r });
            let patch = json!({"metadata": {"annotations": {
                "deployment.kubernetes.io/revision": rev.to_string(),
                "kplab.dev/pod-template-hash": hash,
            }}});
            let out = self
                .client
                .merge_patch(&DEPLOYMENTS, d.namespace(), d.name(), &patch)?;
            self.deployments.apply(&out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_encoding_matches_kubernetes() {
        // Digits map to 4 5 6 7 8 9 b c d f, as in real pod-template-hash values.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        let h = pod_template_hash(&json!({"metadata":{"labels":{"app":"web"}},"spec":{}}));
        assert!((1..=10).contains(&h.len()));
        assert_eq!(
            h,
            pod_template_hash(&json!({"spec":{},"metadata":{"labels":{"app":"web"}}}))
        );
    }
}
