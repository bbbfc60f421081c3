//! Pods that stand for the node's own components (the `kube-proxy` and `calico-node`
//! DaemonSet pods, see [`crate::kube::contract::node_component`]): the kubelet starts no
//! sandbox for them; it reports them Running and Ready on the node's IP (they are
//! hostNetwork pods), and its `/logs` endpoint serves the component's log as theirs.

use std::net::Ipv4Addr;

use serde_json::{json, Value};

/// The status the kubelet reports for a node component pod.
pub fn component_status(pod: &Value, node_ip: Ipv4Addr, started: &str) -> Value {
    let ip = node_ip.to_string();
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "name": c.get("name").cloned().unwrap_or(json!("")),
                "image": c.get("image").cloned().unwrap_or(json!("")),
                "imageID": "",
                "containerID": "kplab://node",
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
            })
        })
        .collect();
    let cond = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": started});
    json!({
        "phase": "Running",
        "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
        "hostIP": ip,
        "hostIPs": [{"ip": ip}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": started,
        "qosClass": "BestEffort",
        "containerStatuses": containers,
    })
}

/// The node's Lease in `kube-node-lease`, as the kubelet keeps it (owned by the Node, renewed
/// every heartbeat, 40 s duration).
pub fn node_lease(node: &Value, now_micro: &str) -> Value {
    let name = node
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                  "uid": node.pointer("/metadata/uid").cloned().unwrap_or(json!(""))}],
        },
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now_micro},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_lease_is_owned_by_the_node() {
        let l = node_lease(
            &json!({"metadata": {"name": "node-2", "uid": "u2"}}),
            "2026-01-01T00:00:00.000001Z",
        );
        assert_eq!(l["metadata"]["namespace"], "kube-node-lease");
        assert_eq!(l["metadata"]["ownerReferences"][0]["uid"], "u2");
        assert_eq!(l["spec"]["holderIdentity"], "node-2");
        assert_eq!(l["spec"]["renewTime"], "2026-01-01T00:00:00.000001Z");
    }

    #[test]
    fn a_component_pod_runs_on_the_node_ip() {
        let pod = json!({"spec": {"containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.32.0"}]}});
        let s = component_status(&pod, Ipv4Addr::new(172, 28, 5, 11), "2026-01-01T00:00:00Z");
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["podIP"], "172.28.5.11");
        assert_eq!(s["hostIP"], "172.28.5.11");
        assert_eq!(s["containerStatuses"][0]["name"], "kube-proxy");
        assert_eq!(s["containerStatuses"][0]["ready"], true);
        assert!(s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True"));
    }
}
