//! The scheduler: binds every pod without `spec.nodeName` to a Ready node that satisfies its
//! `nodeSelector` and tolerates the node's NoSchedule/NoExecute taints, spreading the pods of
//! one owner evenly: fewest pods of that owner, then fewest pods overall, then node name.
//! Pods that fit nowhere get `PodScheduled=False` (reason Unschedulable) with the real
//! scheduler's message, and are retried whenever nodes or pods change.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::deployment::pod_active;
use super::informer::Informer;
use crate::kube::client::{ApiClient, KubeObject, PODS};

/// The scheduler's name in `spec.schedulerName`.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// Whether a node has condition Ready=True and is not cordoned.
pub fn node_schedulable(n: &Value) -> bool {
    let ready = n
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        });
    ready && n.pointer("/spec/unschedulable").and_then(Value::as_bool) != Some(true)
}

/// Whether `pod` tolerates `taint` (PreferNoSchedule taints are always tolerated).
pub fn tolerates(pod: &Value, taint: &Value) -> bool {
    let effect = taint.get("effect").and_then(Value::as_str).unwrap_or("");
    if effect == "PreferNoSchedule" {
        return true;
    }
    let key = taint.get("key").and_then(Value::as_str).unwrap_or("");
    let value = taint.get("value").and_then(Value::as_str).unwrap_or("");
    pod.pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .is_some_and(|ts| {
            ts.iter().any(|t| {
                let tkey = t.get("key").and_then(Value::as_str).unwrap_or("");
                let op = t.get("operator").and_then(Value::as_str).unwrap_or("Equal");
                let teffect = t.get("effect").and_then(Value::as_str).unwrap_or("");
                let key_ok = tkey.is_empty() && op == "Exists" || tkey == key;
                let value_ok =
                    op == "Exists" || t.get("value").and_then(Value::as_str).unwrap_or("") == value;
                let effect_ok = teffect.is_empty() || teffect == effect;
                key_ok && value_ok && effect_ok
            })
        })
}

/// One `NodeSelectorRequirement` against a value (a label, or `metadata.name` for
/// `matchFields`): In, NotIn, Exists, DoesNotExist, Gt, Lt.
fn requirement_matches(req: &Value, actual: Option<&str>) -> bool {
    let values: Vec<&str> = req
        .get("values")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let num = |s: &str| s.parse::<i64>().ok();
    match req.get("operator").and_then(Value::as_str).unwrap_or("") {
        "In" => actual.is_some_and(|a| values.contains(&a)),
        "NotIn" => actual.is_none_or(|a| !values.contains(&a)),
        "Exists" => actual.is_some(),
        "DoesNotExist" => actual.is_none(),
        "Gt" => match (actual.and_then(num), values.first().and_then(|v| num(v))) {
            (Some(a), Some(v)) => a > v,
            _ => false,
        },
        "Lt" => match (actual.and_then(num), values.first().and_then(|v| num(v))) {
            (Some(a), Some(v)) => a < v,
            _ => false,
        },
        _ => false,
    }
}

/// Whether `node` satisfies the pod's `requiredDuringSchedulingIgnoredDuringExecution` node
/// affinity: any one term, whose `matchExpressions` (labels) and `matchFields`
/// (`metadata.name`) all hold. A pod without it matches every node.
pub fn matches_required_affinity(pod: &Value, node: &Value) -> bool {
    let Some(terms) = pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
    else {
        return true;
    };
    let labels = node.labels();
    terms.iter().any(|t| {
        let exprs = t
            .get("matchExpressions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let fields = t
            .get("matchFields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if exprs.is_empty() && fields.is_empty() {
            // An empty term matches nothing, as upstream.
            return false;
        }
        exprs.iter().all(|r| {
            let key = r.get("key").and_then(Value::as_str).unwrap_or("");
            requirement_matches(r, labels.get(key).map(String::as_str))
        }) && fields.iter().all(|r| {
            let key = r.get("key").and_then(Value::as_str).unwrap_or("");
            let actual = (key == "metadata.name").then(|| node.name());
            requirement_matches(r, actual)
        })
    })
}

/// Why `node` cannot take `pod`, or `None` when it can.
pub fn unfit_reason(pod: &Value, node: &Value) -> Option<&'static str> {
    if !node_schedulable(node) {
        return Some(
            if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                "node(s) were unschedulable"
            } else {
                "node(s) were not ready"
            },
        );
    }
    let labels = node.labels();
    if let Some(sel) = pod.pointer("/spec/nodeSelector").and_then(Value::as_object) {
        let ok = sel
            .iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == Some(v.as_str().unwrap_or("")));
        if !ok {
            return Some("node(s) didn't match Pod's node affinity/selector");
        }
    }
    if !matches_required_affinity(pod, node) {
        return Some("node(s) didn't match Pod's node affinity/selector");
    }
    if let Some(taints) = node.pointer("/spec/taints").and_then(Value::as_array) {
        if taints.iter().any(|t| !tolerates(pod, t)) {
            return Some("node(s) had untolerated taint");
        }
    }
    None
}

fn owner_uid(p: &Value) -> Option<String> {
    p.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|r| r.get("uid").and_then(Value::as_str))
        .map(str::to_string)
}

/// Picks the node for `pod` among `nodes`, given the pods already placed; `Err` carries the
/// scheduler's "0/N nodes are available: …" message.
pub fn pick_node(pod: &Value, nodes: &[Value], pods: &[Value]) -> Result<String, String> {
    let owner = owner_uid(pod);
    let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut best: Option<((usize, usize, String), String)> = None;
    for n in nodes {
        if let Some(r) = unfit_reason(pod, n) {
            *reasons.entry(r).or_default() += 1;
            continue;
        }
        let name = n.name().to_string();
        let on_node: Vec<&Value> = pods
            .iter()
            .filter(|p| pod_active(p) || p.is_terminating())
            .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(name.as_str()))
            .collect();
        let same_owner = match &owner {
            Some(o) => on_node
                .iter()
                .filter(|p| owner_uid(p).as_deref() == Some(o.as_str()))
                .count(),
            None => 0,
        };
        let score = (same_owner, on_node.len(), name.clone());
        if best.as_ref().is_none_or(|(b, _)| score < *b) {
            best = Some((score, name));
        }
    }
    match best {
        Some((_, n)) => Ok(n),
        None => {
            let detail: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
            let n = nodes.len();
            Err(if n == 0 {
                "0/0 nodes are available: no nodes available to schedule pods.".to_string()
            } else {
                format!(
                    "0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.",
                    detail.join(", ")
                )
            })
        }
    }
}

/// The scheduler loop body.
pub struct Scheduler {
    client: ApiClient,
    pods: Arc<Informer>,
    nodes: Arc<Informer>,
    events: crate::kube::events::EventRecorder,
}

impl Scheduler {
    /// A scheduler over these caches.
    pub fn new(client: ApiClient, pods: Arc<Informer>, nodes: Arc<Informer>) -> Self {
        let events =
            crate::kube::events::EventRecorder::new(client.clone(), "default-scheduler", "");
        Scheduler {
            client,
            pods,
            nodes,
            events,
        }
    }

    /// Schedules every pending pod once, oldest first.
    pub fn schedule_all(&self) {
        let mut pending: Vec<Value> = self
            .pods
            .list()
            .into_iter()
            .filter(|p| {
                p.pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            })
            .filter(|p| !p.is_terminating())
            .filter(|p| {
                p.pointer("/spec/schedulerName")
                    .and_then(Value::as_str)
                    .unwrap_or(SCHEDULER_NAME)
                    == SCHEDULER_NAME
            })
            .collect();
        pending.sort_by_key(|p| {
            (
                p.pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                p.name().to_string(),
            )
        });
        let nodes = self.nodes.list();
        for pod in pending {
            let all = self.pods.list();
            match pick_node(&pod, &nodes, &all) {
                Ok(node) => self.bind(&pod, &node),
                Err(msg) => self.mark_unschedulable(&pod, &msg),
            }
        }
    }

    fn bind(&self, pod: &Value, node: &str) {
        let ns = pod.namespace().unwrap_or("default");
        let path = format!("{}/binding", PODS.item_path(Some(ns), pod.name()));
        let body = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod.name(), "namespace": ns},
                          "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
        match self
            .client
            .request("POST", &path, &[], Some(("application/json", &body)))
        {
            Ok(_) => {
                tracing::info!(pod = %format!("{ns}/{}", pod.name()), node, "Successfully assigned pod");
                self.events.normal(
                    pod,
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{} to {node}", pod.name()),
                );
                match self.client.get(&PODS, Some(ns), pod.name()) {
                    Ok(p) => self.pods.apply(&p),
                    Err(_) => {
                        let mut p = pod.clone();
                        p["spec"]["nodeName"] = json!(node);
                        self.pods.apply(&p);
                    }
                }
            }
            Err(e) if e.is_not_found() => self.pods.remove(pod),
            Err(e) => tracing::warn!(pod = %pod.name(), error = %e, "binding failed"),
        }
    }

    fn mark_unschedulable(&self, pod: &Value, msg: &str) {
        let conds = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let already = conds.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some("PodScheduled")
                && c.get("status").and_then(Value::as_str) == Some("False")
                && c.get("message").and_then(Value::as_str) == Some(msg)
        });
        if already {
            return;
        }
        let mut p = pod.clone();
        crate::kube::conditions::set_condition(
            &mut p,
            "PodScheduled",
            "False",
            Some("Unschedulable"),
            Some(msg),
        );
        match self
            .client
            .update_status(&PODS, pod.namespace(), pod.name(), &p)
        {
            Ok(out) => {
                tracing::info!(pod = %pod.name(), message = msg, "unschedulable");
                self.events.warning(pod, "FailedScheduling", msg);
                self.pods.apply(&out);
            }
            Err(e) => {
                tracing::warn!(pod = %pod.name(), error = %e, "cannot set PodScheduled=False")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: Value) -> Value {
        json!({"metadata":{"name":name,"labels":labels},"status":{"conditions":[{"type":"Ready","status":"True"}]}})
    }

    fn placed(name: &str, node: &str, owner: &str) -> Value {
        json!({"metadata":{"name":name,"ownerReferences":[{"uid":owner,"controller":true}]},"spec":{"nodeName":node},"status":{"phase":"Running"}})
    }

    #[test]
    fn spreads_by_owner_then_total_then_name() {
        let nodes = vec![node("node-1", json!({})), node("node-2", json!({}))];
        let pod = json!({"metadata":{"name":"x","ownerReferences":[{"uid":"d1","controller":true}]},"spec":{}});
        assert_eq!(pick_node(&pod, &nodes, &[]).unwrap(), "node-1");
        let pods = vec![placed("a", "node-1", "d1")];
        assert_eq!(pick_node(&pod, &nodes, &pods).unwrap(), "node-2");
        let pods = vec![
            placed("a", "node-2", "other"),
            placed("b", "node-2", "other"),
        ];
        assert_eq!(pick_node(&pod, &nodes, &pods).unwrap(), "node-1");
    }

    #[test]
    fn honours_required_node_affinity() {
        let nodes = vec![
            node("node-1", json!({"disk": "ssd", "cores": "8"})),
            node("node-2", json!({"disk": "hdd", "cores": "2"})),
        ];
        let with = |terms: Value| {
            json!({"metadata":{"name":"x"},"spec":{"affinity":{"nodeAffinity":{
                "requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms": terms}}}}})
        };
        let ssd =
            with(json!([{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}]));
        assert_eq!(pick_node(&ssd, &nodes, &[]).unwrap(), "node-1");
        let not_ssd = with(
            json!([{"matchExpressions":[{"key":"disk","operator":"NotIn","values":["ssd"]}]}]),
        );
        assert_eq!(pick_node(&not_ssd, &nodes, &[]).unwrap(), "node-2");
        let big =
            with(json!([{"matchExpressions":[{"key":"cores","operator":"Gt","values":["4"]}]}]));
        assert_eq!(pick_node(&big, &nodes, &[]).unwrap(), "node-1");
        let by_name = with(
            json!([{"matchFields":[{"key":"metadata.name","operator":"In","values":["node-2"]}]}]),
        );
        assert_eq!(pick_node(&by_name, &nodes, &[]).unwrap(), "node-2");
        // Terms are ORed; requirements within a term are ANDed.
        let either = with(json!([
            {"matchExpressions":[{"key":"gpu","operator":"Exists"}]},
            {"matchExpressions":[{"key":"disk","operator":"In","values":["hdd"]},{"key":"cores","operator":"Lt","values":["4"]}]}
        ]));
        assert_eq!(pick_node(&either, &nodes, &[]).unwrap(), "node-2");
        let none = with(json!([{"matchExpressions":[{"key":"gpu","operator":"Exists"}]}]));
        assert_eq!(
            pick_node(&none, &nodes, &[]).unwrap_err(),
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn honours_node_selector_and_readiness() {
        let nodes = vec![
            node(
                "node-1",
                json!({"node-role.kubernetes.io/control-plane":""}),
            ),
            json!({"metadata":{"name":"node-2"},"status":{"conditions":[{"type":"Ready","status":"False"}]}}),
        ];
        let pod = json!({"metadata":{"name":"x"},"spec":{"nodeSelector":{"node-role.kubernetes.io/control-plane":""}}});
        assert_eq!(pick_node(&pod, &nodes, &[]).unwrap(), "node-1");
        let pod = json!({"metadata":{"name":"x"},"spec":{"nodeSelector":{"disk":"ssd"}}});
        let e = pick_node(&pod, &nodes, &[]).unwrap_err();
        assert_eq!(e, "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were not ready. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.");
    }
}
