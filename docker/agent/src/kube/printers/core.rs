//! Pods, Nodes and Namespaces.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::common::{arr, col, i, or_none, s, text, wide, Column, AGE, NAME};

pub(crate) const POD: &[Column] = &[
    NAME,
    col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", "The aggregate status of the containers in this pod."),
    col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
    AGE,
    wide("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
    wide("Node", "string", "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"),
    wide("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled."),
    wide("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"),
];

pub(crate) const NODE: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", "Kubelet Version reported by the node."),
    wide("Internal-IP", "string", "List of addresses reachable to the node. Queried from cloud provider, if available."),
    wide("External-IP", "string", "List of addresses reachable to the node. Queried from cloud provider, if available."),
    wide("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    wide("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    wide("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
];

pub(crate) const NAMESPACE: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

fn is_true(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).and_then(Value::as_bool) == Some(true)
}

fn has_condition(o: &Value, t: &str) -> bool {
    arr(o, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == t && s(c, "/status") == "True")
}

/// The latest `lastState.terminated.finishedAt` of `c`, if later than `latest`.
fn later_restart(c: &Value, latest: &mut Option<OffsetDateTime>) {
    if let Some(t) = c
        .pointer("/lastState/terminated/finishedAt")
        .and_then(Value::as_str)
        .and_then(crate::kube::time::parse_time)
    {
        if latest.is_none_or(|l| t > l) {
            *latest = Some(t);
        }
    }
}

/// `printPod`: READY, STATUS (init containers, waiting/terminated reasons, Terminating),
/// RESTARTS with the last restart's age, and the wide cells.
pub(crate) fn pod(o: &Value, name: Value, age: Value, now: OffsetDateTime) -> Vec<Value> {
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut total = arr(o, "/spec/containers").len();
    let mut ready = 0usize;
    let mut last_restart: Option<OffsetDateTime> = None;
    let mut last_sidecar_restart: Option<OffsetDateTime> = None;
    let phase = s(o, "/status/phase");
    let mut reason = phase.to_string();
    if !s(o, "/status/reason").is_empty() {
        reason = s(o, "/status/reason").to_string();
    }
    for c in arr(o, "/status/conditions") {
        if s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated" {
            reason = "SchedulingGated".into();
        }
    }
    let init_specs = arr(o, "/spec/initContainers");
    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| s(c, "/name") == name && s(c, "/restartPolicy") == "Always")
    };
    total += init_specs
        .iter()
        .filter(|c| s(c, "/restartPolicy") == "Always")
        .count();
    let mut initializing = false;
    for (idx, c) in arr(o, "/status/initContainerStatuses").iter().enumerate() {
        restarts += i(c, "/restartCount");
        later_restart(c, &mut last_restart);
        let sidecar = restartable(s(c, "/name"));
        if sidecar {
            sidecar_restarts += i(c, "/restartCount");
            later_restart(c, &mut last_sidecar_restart);
        }
        let terminated = c.pointer("/state/terminated").filter(|t| !t.is_null());
        let waiting_reason = s(c, "/state/waiting/reason");
        if terminated.is_some() && i(c, "/state/terminated/exitCode") == 0 {
            continue;
        } else if sidecar && is_true(c, "/started") {
            if is_true(c, "/ready") {
                ready += 1;
            }
            continue;
        } else if terminated.is_some() {
            let r = s(c, "/state/terminated/reason");
            reason = if !r.is_empty() {
                format!("Init:{r}")
            } else if i(c, "/state/terminated/signal") != 0 {
                format!("Init:Signal:{}", i(c, "/state/terminated/signal"))
            } else {
                format!("Init:ExitCode:{}", i(c, "/state/terminated/exitCode"))
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{idx}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    if !initializing || has_condition(o, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in arr(o, "/status/containerStatuses").iter().rev() {
            restarts += i(c, "/restartCount");
            later_restart(c, &mut last_restart);
            let waiting = s(c, "/state/waiting/reason");
            let terminated = c.pointer("/state/terminated").filter(|t| !t.is_null());
            let term_reason = s(c, "/state/terminated/reason");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if terminated.is_some() && !term_reason.is_empty() {
                reason = term_reason.to_string();
            } else if terminated.is_some() {
                let sig = i(c, "/state/terminated/signal");
                reason = if sig != 0 {
                    format!("Signal:{sig}")
                } else {
                    format!("ExitCode:{}", i(c, "/state/terminated/exitCode"))
                };
            } else if is_true(c, "/ready")
                && c.pointer("/state/running").is_some_and(|r| !r.is_null())
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition(o, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .into();
        }
    }
    let deleting = o
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    if deleting && s(o, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }
    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            crate::kube::time::human_duration(now - t)
        ),
        _ => restarts.to_string(),
    };
    let pod_ip = arr(o, "/status/podIPs")
        .first()
        .map(|p| s(p, "/ip"))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| s(o, "/status/podIP"));
    let gates = arr(o, "/spec/readinessGates");
    let gates_text = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conds = arr(o, "/status/conditions");
        let ok = gates
            .iter()
            .filter(|g| {
                conds
                    .iter()
                    .find(|c| s(c, "/type") == s(g, "/conditionType"))
                    .is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{ok}/{}", gates.len())
    };
    vec![
        name,
        text(&format!("{ready}/{total}")),
        Value::String(reason),
        Value::String(restarts_text),
        age,
        Value::String(or_none(pod_ip)),
        Value::String(or_none(s(o, "/spec/nodeName"))),
        Value::String(or_none(s(o, "/status/nominatedNodeName"))),
        Value::String(gates_text),
    ]
}

/// Succeeded and Failed pods' rows carry a `Completed` condition.
pub(crate) fn pod_conditions(o: &Value) -> Option<Value> {
    let (reason, message) = match s(o, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

/// Node roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels.
pub fn node_roles(o: &Value) -> Vec<String> {
    let mut roles = std::collections::BTreeSet::new();
    if let Some(m) = o.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in m {
            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                if !r.is_empty() {
                    roles.insert(r.to_string());
                }
            } else if k == "kubernetes.io/role" {
                if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                    roles.insert(v.to_string());
                }
            }
        }
    }
    roles.into_iter().collect()
}

/// `printNode`.
pub(crate) fn node(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let mut status: Vec<String> = Vec::new();
    if let Some(c) = arr(o, "/status/conditions")
        .iter()
        .rev()
        .find(|c| s(c, "/type") == "Ready")
    {
        status.push(if s(c, "/status") == "True" {
            "Ready".into()
        } else {
            "NotReady".into()
        });
    }
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if is_true(o, "/spec/unschedulable") {
        status.push("SchedulingDisabled".into());
    }
    let roles = node_roles(o).join(",");
    let addr = |t: &str| {
        arr(o, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == t)
            .map(|a| s(a, "/address").to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    let unknown = |x: &str| {
        if x.is_empty() {
            "<unknown>".to_string()
        } else {
            x.to_string()
        }
    };
    vec![
        name,
        Value::String(status.join(",")),
        Value::String(or_none(&roles)),
        age,
        text(s(o, "/status/nodeInfo/kubeletVersion")),
        Value::String(addr("InternalIP")),
        Value::String(addr("ExternalIP")),
        Value::String(unknown(s(o, "/status/nodeInfo/osImage"))),
        Value::String(unknown(s(o, "/status/nodeInfo/kernelVersion"))),
        Value::String(unknown(s(o, "/status/nodeInfo/containerRuntimeVersion"))),
    ]
}
