//! The deployment controller, as kube-controller-manager's: a Deployment owns ReplicaSets
//! `<deploy>-<pod-template-hash>` (the ReplicaSet controller, `replicaset.rs`, owns the pods),
//! one per template it has run, each with the `deployment.kubernetes.io/revision`,
//! `desired-replicas` and `max-replicas` annotations. A template change creates (or, after a
//! `rollout undo`, reuses) the new ReplicaSet and moves replicas to it: RollingUpdate within
//! `maxSurge`/`maxUnavailable`, Recreate by scaling the old ones to 0 first and waiting for
//! their pods to go. Old ReplicaSets at 0 beyond `revisionHistoryLimit` are deleted. The
//! Deployment's status is computed from its ReplicaSets' with upstream's conditions, and each
//! scaling is a `ScalingReplicaSet` event.
//!
//! One difference from Kubernetes: the hash is FNV-32a over the template's canonical JSON
//! (Kubernetes hashes its Go struct dump, so values differ from a real cluster's, but they are
//! stable and have the same form), encoded with `SafeEncodeString`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::informer::Informer;
use crate::kube::client::{ApiClient, KubeObject, DEPLOYMENTS, REPLICA_SETS};
use crate::kube::events::EventRecorder;

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

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// `v` with object keys sorted and zero-valued fields (null, `{}`, `[]`) left out.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            // Null, `{}` and `[]` are the zero value, as upstream's semantic equality sees Go
            // types: a template that `rollout undo` sends back as Go prints it
            // (`creationTimestamp: null`, `resources: {}`) is the same template.
            let sorted: BTreeMap<&String, Value> = m
                .iter()
                .map(|(k, v)| (k, canonical(v)))
                .filter(|(_, v)| !is_zero(v))
                .collect();
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

/// Whether `obj` has a controller reference (to anything).
pub fn has_controller(obj: &Value) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        })
}

/// Adopts `orphan` for `owner` (of `kind`) when it has no controller and its labels match the
/// owner's selector, as upstream controllers adopt what `--cascade=orphan` left behind: adds
/// the controller reference and returns the updated object.
pub fn adopt(
    client: &ApiClient,
    res: &crate::kube::client::Resource,
    owner: &Value,
    kind: &str,
    orphan: &Value,
) -> Option<Value> {
    if has_controller(orphan) || orphan.is_terminating() {
        return None;
    }
    let selector =
        crate::kube::selectors::LabelSelector::from_json(owner.pointer("/spec/selector")).ok()?;
    if selector.is_empty() || !selector.matches_object(orphan) {
        return None;
    }
    // The owner in a cache may be gone already (or replaced by a namesake): adopt only for
    // the owner the API server has now, as upstream's adoption re-checks it.
    let owner_res = crate::kube::client::Resource::by_kind(kind)?;
    let fresh = client
        .get(owner_res, owner.namespace(), owner.name())
        .ok()?;
    if fresh.uid() != owner.uid() || fresh.is_terminating() {
        return None;
    }
    let mut refs = orphan
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    refs.push(json!({
        "apiVersion": "apps/v1", "kind": kind, "name": owner.name(),
        "uid": owner.uid().unwrap_or(""), "controller": true, "blockOwnerDeletion": true,
    }));
    let patch = json!({"metadata": {"ownerReferences": refs}});
    match client.merge_patch(res, orphan.namespace(), orphan.name(), &patch) {
        Ok(o) => {
            tracing::info!(object = %orphan.name(), owner = %owner.name(), "adopted");
            Some(o)
        }
        Err(e) => {
            tracing::debug!(object = %orphan.name(), error = %e, "cannot adopt");
            None
        }
    }
}

/// Deletion preference, lowest first (as the ReplicaSet controller ranks pods): unscheduled,
/// then pending, then not ready, then the newest.
pub fn deletion_rank(
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

/// The annotations of a Deployment's ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The earlier revisions of a reused ReplicaSet.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";

/// Deployment annotations not copied to its ReplicaSets (upstream's `annotationsToSkip`).
const SKIPPED_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

fn int(v: Option<&Value>) -> i64 {
    v.and_then(Value::as_i64).unwrap_or(0)
}

fn spec_replicas(o: &Value) -> i64 {
    int(o.pointer("/spec/replicas"))
}

fn revision_of(rs: &Value) -> u64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Resolves an IntOrString (`3`, `"25%"`) against `total`, rounding up or down.
pub fn scaled_value(v: Option<&Value>, total: i64, round_up: bool) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => {
                let x = p * total;
                if round_up {
                    (x + 99) / 100
                } else {
                    x / 100
                }
            }
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// `(maxSurge, maxUnavailable)` of a RollingUpdate Deployment (upstream's
/// `ResolveFenceposts`: surge rounds up, unavailable down, and both 0 means 1 unavailable).
pub fn fenceposts(d: &Value) -> (i64, i64) {
    if d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
        return (0, 0);
    }
    let replicas = spec_replicas(d);
    let ru = d.pointer("/spec/strategy/rollingUpdate");
    let surge = scaled_value(ru.and_then(|r| r.get("maxSurge")), replicas, true).max(0);
    let unavailable =
        scaled_value(ru.and_then(|r| r.get("maxUnavailable")), replicas, false).max(0);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// A pod template without the `pod-template-hash` label, canonical, for comparisons
/// (upstream's `EqualIgnoreHash`).
pub fn template_without_hash(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove("pod-template-hash");
        if l.is_empty() {
            if let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("labels");
            }
        }
    }
    if let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut) {
        if m.is_empty() {
            t.as_object_mut().map(|o| o.remove("metadata"));
        }
    }
    canonical(&t)
}

/// The controller: reads Deployments and ReplicaSets (and, for Recreate, pods) from the
/// informers, writes through `client`.
pub struct DeploymentController {
    client: ApiClient,
    deployments: Arc<Informer>,
    replicasets: Arc<Informer>,
    pods: Arc<Informer>,
    events: EventRecorder,
}

impl DeploymentController {
    /// A controller over these caches.
    pub fn new(
        client: ApiClient,
        deployments: Arc<Informer>,
        replicasets: Arc<Informer>,
        pods: Arc<Informer>,
    ) -> Self {
        let events = EventRecorder::new(client.clone(), "deployment-controller", "");
        DeploymentController {
            client,
            deployments,
            replicasets,
            pods,
            events,
        }
    }

    /// Reconciles every Deployment once; errors are logged and retried at the next wake-up.
    pub fn reconcile_all(&self) {
        for d in self.deployments.list() {
            if d.is_terminating() {
                continue;
            }
            if let Err(e) = self.reconcile(&d) {
                if crate::kube::client::lost_race(&e) {
                    tracing::debug!(deployment = %d.name(), "conflict; retrying on the next event");
                    continue;
                }
                tracing::warn!(deployment = %format!("{}/{}", d.namespace().unwrap_or(""), d.name()), error = %e, "reconcile failed");
            }
        }
    }

    fn owned_replica_sets(&self, d: &Value) -> Vec<Value> {
        let uid = d.uid().unwrap_or("");
        let all = self
            .replicasets
            .list_namespace(d.namespace().unwrap_or("default"));
        let mut v: Vec<Value> = Vec::new();
        for rs in all {
            if rs.is_terminating() {
                continue;
            }
            if controlled_by(&rs, uid) {
                v.push(rs);
            } else if let Some(adopted) = adopt(&self.client, &REPLICA_SETS, d, "Deployment", &rs) {
                self.replicasets.apply(&adopted);
                v.push(adopted);
            }
        }
        v.sort_by_key(|rs| {
            (
                rs.pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                rs.name().to_string(),
            )
        });
        v
    }

    fn rs_annotations(d: &Value, revision: u64, extra: &[(&str, String)]) -> Value {
        let mut a = serde_json::Map::new();
        for (k, v) in d.annotations() {
            if !SKIPPED_ANNOTATIONS.contains(&k.as_str()) {
                a.insert(k, json!(v));
            }
        }
        let (surge, _) = fenceposts(d);
        let replicas = spec_replicas(d);
        a.insert(DESIRED_REPLICAS.into(), json!(replicas.to_string()));
        a.insert(MAX_REPLICAS.into(), json!((replicas + surge).to_string()));
        a.insert(REVISION.into(), json!(revision.to_string()));
        for (k, v) in extra {
            a.insert((*k).to_string(), json!(v));
        }
        Value::Object(a)
    }

    fn create_replica_set(
        &self,
        d: &Value,
        hash: &str,
        revision: u64,
        replicas: i64,
    ) -> anyhow::Result<Value> {
        let ns = d.namespace().unwrap_or("default");
        let mut template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        if !template.get("metadata").is_some_and(Value::is_object) {
            template["metadata"] = json!({});
        }
        if !template["metadata"]
            .get("labels")
            .is_some_and(Value::is_object)
        {
            template["metadata"]["labels"] = json!({});
        }
        template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
        if !selector.get("matchLabels").is_some_and(Value::is_object) {
            selector["matchLabels"] = json!({});
        }
        selector["matchLabels"]["pod-template-hash"] = json!(hash);
        let name = format!("{}-{hash}", d.name());
        let rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": template["metadata"]["labels"].clone(),
                "annotations": Self::rs_annotations(d, revision, &[]),
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "Deployment", "name": d.name(),
                    "uid": d.uid().unwrap_or(""), "controller": true, "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0)),
                "selector": selector,
                "template": template,
            },
        });
        let created = self.client.create(&REPLICA_SETS, Some(ns), &rs)?;
        tracing::info!(replicaset = %created.name(), deployment = %d.name(), "created replica set");
        self.replicasets.apply(&created);
        if replicas > 0 {
            self.events.normal(
                d,
                "ScalingReplicaSet",
                &format!("Scaled up replica set {name} from 0 to {replicas}"),
            );
        }
        Ok(created)
    }

    /// Sets a ReplicaSet's replicas (and its replicas annotations); a size change is a
    /// `ScalingReplicaSet` event on the Deployment.
    fn scale(&self, d: &Value, rs: &Value, replicas: i64) -> anyhow::Result<Value> {
        let old = spec_replicas(rs);
        let (surge, _) = fenceposts(d);
        let desired = spec_replicas(d).to_string();
        let max = (spec_replicas(d) + surge).to_string();
        let a = rs.annotations();
        let annotations_ok =
            a.get(DESIRED_REPLICAS) == Some(&desired) && a.get(MAX_REPLICAS) == Some(&max);
        if old == replicas && annotations_ok {
            return Ok(rs.clone());
        }
        let patch = json!({
            "metadata": {"annotations": {DESIRED_REPLICAS: desired, MAX_REPLICAS: max}},
            "spec": {"replicas": replicas},
        });
        let out = self
            .client
            .merge_patch(&REPLICA_SETS, rs.namespace(), rs.name(), &patch)?;
        self.replicasets.apply(&out);
        if old != replicas {
            let op = if replicas > old { "up" } else { "down" };
            self.events.normal(
                d,
                "ScalingReplicaSet",
                &format!(
                    "Scaled {op} replica set {} from {old} to {replicas}",
                    rs.name()
                ),
            );
        }
        Ok(out)
    }

    /// Brings one Deployment's ReplicaSets and status to the desired state.
    pub fn reconcile(&self, d: &Value) -> anyhow::Result<()> {
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let wanted = template_without_hash(&template);
        let hash = pod_template_hash(&wanted);
        let replicas = spec_replicas(d).max(0);
        let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
        let all = self.owned_replica_sets(d);
        let (mut news, mut olds): (Vec<Value>, Vec<Value>) = all.into_iter().partition(|rs| {
            template_without_hash(rs.pointer("/spec/template").unwrap_or(&Value::Null)) == wanted
        });
        // Several with the same template: the oldest is the new one, the rest are old.
        let mut new_rs = if news.is_empty() {
            None
        } else {
            Some(news.remove(0))
        };
        olds.append(&mut news);
        let max_old_revision = olds.iter().map(revision_of).max().unwrap_or(0);
        let mut created = false;
        if new_rs.is_none() && !paused {
            // The first ReplicaSet starts at full size; a rollout's new one starts at 0 and is
            // scaled up below.
            let start = if olds.iter().all(|rs| spec_replicas(rs) == 0) && fenceposts(d) != (0, 0) {
                replicas
            } else {
                0
            };
            let rs = self.create_replica_set(d, &hash, max_old_revision + 1, start)?;
            new_rs = Some(rs);
            created = true;
        }
        // The new ReplicaSet's revision is the newest (a rollback reuses an old one).
        if let Some(rs) = new_rs.as_mut() {
            let rev = revision_of(rs);
            if rev <= max_old_revision || !rs.annotations().contains_key(DESIRED_REPLICAS) {
                let new_rev = if rev <= max_old_revision {
                    max_old_revision + 1
                } else {
                    rev
                };
                let mut extra = Vec::new();
                if rev != 0 && rev != new_rev {
                    let mut h: Vec<String> = rs
                        .annotations()
                        .get(REVISION_HISTORY)
                        .map(|s| s.split(',').map(str::to_string).collect())
                        .unwrap_or_default();
                    h.push(rev.to_string());
                    extra.push((REVISION_HISTORY, h.join(",")));
                }
                let patch =
                    json!({"metadata": {"annotations": Self::rs_annotations(d, new_rev, &extra)}});
                let out =
                    self.client
                        .merge_patch(&REPLICA_SETS, rs.namespace(), rs.name(), &patch)?;
                self.replicasets.apply(&out);
                *rs = out;
            }
        }
        if !paused {
            if let Some(new) = new_rs.clone() {
                let recreate =
                    d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
                let new = if recreate {
                    self.rollout_recreate(d, &new, &mut olds, replicas)?
                } else {
                    self.rollout_rolling(d, &new, &mut olds, replicas)?
                };
                new_rs = Some(new);
                self.cleanup(d, &olds)?;
            }
        }
        self.set_revision(d, new_rs.as_ref())?;
        let d = self
            .deployments
            .get(d.namespace().unwrap_or(""), d.name())
            .unwrap_or_else(|| d.clone());
        self.update_status(&d, new_rs.as_ref(), &olds, created, paused)
    }

    fn rollout_recreate(
        &self,
        d: &Value,
        new: &Value,
        olds: &mut [Value],
        replicas: i64,
    ) -> anyhow::Result<Value> {
        for rs in olds.iter_mut() {
            if spec_replicas(rs) > 0 {
                *rs = self.scale(d, rs, 0)?;
            }
        }
        // Wait until no pod of an old ReplicaSet is left (running or terminating).
        let ns = d.namespace().unwrap_or("default");
        let old_uids: Vec<&str> = olds.iter().filter_map(|rs| rs.uid()).collect();
        let old_pods = self.pods.list_namespace(ns).into_iter().any(|p| {
            old_uids.iter().any(|u| controlled_by(&p, u))
                && !matches!(phase(&p), "Succeeded" | "Failed")
        });
        if old_pods {
            return Ok(new.clone());
        }
        self.scale(d, new, replicas)
    }

    fn rollout_rolling(
        &self,
        d: &Value,
        new: &Value,
        olds: &mut [Value],
        replicas: i64,
    ) -> anyhow::Result<Value> {
        let (surge, max_unavailable) = fenceposts(d);
        let mut new = new.clone();
        // Scale the new ReplicaSet (upstream's NewRSNewReplicas).
        let new_size = spec_replicas(&new);
        if olds.iter().all(|rs| spec_replicas(rs) == 0) || new_size > replicas {
            new = self.scale(d, &new, replicas)?;
        } else if new_size < replicas {
            let total: i64 = olds.iter().map(spec_replicas).sum::<i64>() + new_size;
            let max_total = replicas + surge;
            if total < max_total {
                let up = (max_total - total).min(replicas - new_size);
                new = self.scale(d, &new, new_size + up)?;
            } else {
                new = self.scale(d, &new, new_size)?;
            }
        } else {
            new = self.scale(d, &new, new_size)?;
        }
        // Scale old ReplicaSets down within maxUnavailable (upstream's
        // reconcileOldReplicaSets: unhealthy pods first, then by age).
        let old_count: i64 = olds.iter().map(spec_replicas).sum();
        if old_count == 0 {
            return Ok(new);
        }
        let all_count = old_count + spec_replicas(&new);
        let min_available = replicas - max_unavailable;
        let new_unavailable = spec_replicas(&new) - int(new.pointer("/status/availableReplicas"));
        let mut max_scale_down = all_count - min_available - new_unavailable;
        if max_scale_down <= 0 {
            return Ok(new);
        }
        for rs in olds.iter_mut() {
            if max_scale_down <= 0 {
                break;
            }
            let size = spec_replicas(rs);
            let unhealthy = (size - int(rs.pointer("/status/availableReplicas"))).max(0);
            let down = unhealthy.min(max_scale_down);
            if down > 0 {
                *rs = self.scale(d, rs, size - down)?;
                max_scale_down -= down;
            }
        }
        let available: i64 = olds
            .iter()
            .chain(std::iter::once(&new))
            .map(|rs| int(rs.pointer("/status/availableReplicas")).min(spec_replicas(rs)))
            .sum();
        let mut budget = available - min_available;
        for rs in olds.iter_mut() {
            if budget <= 0 {
                break;
            }
            let size = spec_replicas(rs);
            let down = size.min(budget);
            if down > 0 {
                *rs = self.scale(d, rs, size - down)?;
                budget -= down;
            }
        }
        Ok(new)
    }

    /// Deletes old ReplicaSets at 0 (with no pods) beyond `revisionHistoryLimit`, oldest
    /// revision first.
    fn cleanup(&self, d: &Value, olds: &[Value]) -> anyhow::Result<()> {
        let limit = d
            .pointer("/spec/revisionHistoryLimit")
            .and_then(Value::as_i64)
            .unwrap_or(10)
            .max(0) as usize;
        let mut idle: Vec<&Value> = olds
            .iter()
            .filter(|rs| {
                spec_replicas(rs) == 0
                    && int(rs.pointer("/status/replicas")) == 0
                    && rs.pointer("/status/observedGeneration")
                        == rs.pointer("/metadata/generation")
            })
            .collect();
        if idle.len() <= limit {
            return Ok(());
        }
        idle.sort_by_key(|rs| revision_of(rs));
        for rs in idle.iter().take(idle.len() - limit) {
            match self
                .client
                .delete(&REPLICA_SETS, rs.namespace(), rs.name(), None)
            {
                Ok(_) => {
                    tracing::info!(replicaset = %rs.name(), "deleted old replica set");
                    self.replicasets.remove(rs);
                }
                Err(e) if e.is_not_found() => self.replicasets.remove(rs),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The Deployment's revision annotation follows its new ReplicaSet's.
    fn set_revision(&self, d: &Value, new: Option<&Value>) -> anyhow::Result<()> {
        let Some(new) = new else { return Ok(()) };
        let rev = revision_of(new).to_string();
        let a = d.annotations();
        if a.get(REVISION) == Some(&rev) && !a.contains_key("kplab.dev/pod-template-hash") {
            return Ok(());
        }
        // Conditional on the version read, so a stale copy never writes over a namesake.
        let patch = json!({"metadata": {
            "resourceVersion": d.resource_version(),
            "annotations": {REVISION: rev, "kplab.dev/pod-template-hash": null},
        }});
        let out = self
            .client
            .merge_patch(&DEPLOYMENTS, d.namespace(), d.name(), &patch)?;
        self.deployments.apply(&out);
        Ok(())
    }

    fn update_status(
        &self,
        d: &Value,
        new: Option<&Value>,
        olds: &[Value],
        created: bool,
        paused: bool,
    ) -> anyhow::Result<()> {
        let desired = spec_replicas(d).max(0);
        let all: Vec<&Value> = olds.iter().chain(new).collect();
        let sum = |p: &str| -> i64 { all.iter().map(|rs| int(rs.pointer(p))).sum() };
        let replicas = sum("/status/replicas");
        let updated = new.map_or(0, |rs| int(rs.pointer("/status/replicas")));
        let ready = sum("/status/readyReplicas");
        let available = sum("/status/availableReplicas");
        let total: i64 = all.iter().map(|rs| spec_replicas(rs)).sum();
        let unavailable = (total - available).max(0);
        let (_, max_unavailable) = fenceposts(d);
        let rs_name = new.map_or_else(String::new, |rs| rs.name().to_string());
        let old_status = d.get("status").cloned().unwrap_or(json!({}));
        let old_conds: Vec<Value> = old_status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut counts = json!({
            "observedGeneration": d.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": unavailable,
        });
        // Kubernetes omits zero counts.
        if let Some(m) = counts.as_object_mut() {
            m.retain(|k, v| k == "observedGeneration" || v.as_i64() != Some(0));
        }
        let mut old_counts = old_status.clone();
        if let Some(m) = old_counts.as_object_mut() {
            m.remove("conditions");
        }
        let moved = counts != old_counts;
        let now = crate::kube::time::now_rfc3339();
        let cond = |ty: &str, status: &str, reason: &str, message: String, touch: bool| -> Value {
            if let Some(c) = old_conds
                .iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
            {
                let same = c.get("status").and_then(Value::as_str) == Some(status)
                    && c.get("reason").and_then(Value::as_str) == Some(reason)
                    && c.get("message").and_then(Value::as_str) == Some(message.as_str());
                if same && !touch {
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
        let available_cond = if available >= desired - max_unavailable {
            cond(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
                false,
            )
        } else {
            cond(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
                false,
            )
        };
        let complete =
            updated == desired && replicas == desired && available == desired && new.is_some();
        let old_progressing = old_conds
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("Progressing"));
        let timed_out = || {
            let Some(c) = old_progressing else {
                return false;
            };
            if c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded") {
                return true;
            }
            let deadline = d
                .pointer("/spec/progressDeadlineSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(600);
            let since = c
                .get("lastUpdateTime")
                .and_then(Value::as_str)
                .and_then(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .ok()
                });
            since.is_some_and(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds() > deadline)
        };
        let progressing = if paused {
            cond(
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused".into(),
                false,
            )
        } else if complete {
            cond(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                false,
            )
        } else if created {
            cond(
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                format!("Created new replica set \"{rs_name}\""),
                true,
            )
        } else if !moved && timed_out() {
            cond(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                false,
            )
        } else {
            cond(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{rs_name}\" is progressing."),
                moved,
            )
        };
        let mut status = counts;
        status["conditions"] = json!([available_cond, progressing]);
        if status != old_status {
            let mut nd = d.clone();
            nd["status"] = status;
            let out = self
                .client
                .update_status(&DEPLOYMENTS, d.namespace(), d.name(), &nd)?;
            self.deployments.apply(&out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_sent_back_with_null_fields_is_the_same_template() {
        // `kubectl rollout undo` patches the old ReplicaSet's template back as Go prints it.
        let stored = json!({"metadata":{"labels":{"app":"web","pod-template-hash":"x"}},
            "spec":{"containers":[{"name":"nginx","image":"nginx"}]}});
        let undone = json!({"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},
            "spec":{"containers":[{"name":"nginx","image":"nginx","resources":{}}],"nodeName":null}});
        let undone_no_resources = json!({"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},
            "spec":{"containers":[{"name":"nginx","image":"nginx"}]}});
        assert_eq!(
            template_without_hash(&stored),
            template_without_hash(&undone_no_resources)
        );
        assert_eq!(
            template_without_hash(&stored),
            template_without_hash(&undone)
        );
        let other = json!({"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}});
        assert_ne!(
            template_without_hash(&stored),
            template_without_hash(&other)
        );
        assert_eq!(
            pod_template_hash(&template_without_hash(&stored)),
            pod_template_hash(&undone_no_resources)
        );
    }

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
