//! The printers against rows upstream prints for the same objects.

use serde_json::json;
use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-12-07 12:00:00 UTC);

fn texts(kind: &str, o: &Value) -> Vec<String> {
    cells(kind, o, NOW).iter().map(cell_text).collect()
}

#[test]
fn every_kind_has_one_cell_per_column() {
    let o = json!({"metadata": {"name": "x", "creationTimestamp": "2026-12-07T11:00:00Z"}});
    for kind in [
        "Pod",
        "Node",
        "Namespace",
        "Service",
        "Endpoints",
        "EndpointSlice",
        "NetworkPolicy",
        "Deployment",
        "ReplicaSet",
        "DaemonSet",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Event",
        "Lease",
        "Whatever",
    ] {
        assert_eq!(cells(kind, &o, NOW).len(), columns(kind).len(), "{kind}");
        assert_eq!(
            columns(kind).iter().filter(|c| c.format == "name").count(),
            1,
            "{kind}"
        );
    }
    assert_eq!(texts("Whatever", &o), vec!["x", "60m"]);
}

#[test]
fn pod_running_restarted_and_terminating() {
    let mut p = json!({
        "metadata": {"name": "web-1", "creationTimestamp": "2026-12-07T11:57:00Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-2"},
        "status": {"phase": "Running", "podIP": "10.244.2.5",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                 "lastState": {"terminated": {"finishedAt": "2026-12-07T11:55:00Z"}}},
                {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
    });
    assert_eq!(
        texts("Pod", &p),
        vec![
            "web-1",
            "1/2",
            "CrashLoopBackOff",
            "2 (5m ago)",
            "3m",
            "10.244.2.5",
            "node-2",
            "<none>",
            "<none>"
        ]
    );
    p["metadata"]["deletionTimestamp"] = json!("2026-12-07T11:59:00Z");
    assert_eq!(texts("Pod", &p)[2], "Terminating");
    let pending = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}],
        "initContainers": [{"name": "i"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"waiting": {"reason": "PodInitializing"}}}]}});
    assert_eq!(texts("Pod", &pending)[..4], ["p", "0/1", "Init:0/1", "0"]);
    let done = json!({"metadata": {"name": "d"}, "status": {"phase": "Succeeded"}});
    assert_eq!(
        row_conditions("Pod", &done).unwrap()[0]["type"],
        "Completed"
    );
}

#[test]
fn services_as_upstream_prints_them() {
    let svc = json!({"metadata": {"name": "web", "creationTimestamp": "2026-12-06T12:00:00Z"},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "selector": {"app": "web", "tier": "a"}}});
    assert_eq!(
        texts("Service", &svc),
        vec![
            "web",
            "NodePort",
            "10.96.0.20",
            "<none>",
            "80:30080/TCP,53/UDP",
            "24h",
            "app=web,tier=a"
        ]
    );
    let lb =
        json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIP": "None"}});
    assert_eq!(texts("Service", &lb)[2..5], ["None", "<pending>", "<none>"]);
    let ep = json!({"metadata": {"name": "web"}, "subsets": [{"addresses": [
        {"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}],
        "ports": [{"port": 8080}]}]});
    assert_eq!(
        texts("Endpoints", &ep)[1],
        "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 1 more..."
    );
    assert_eq!(
        texts("Endpoints", &json!({"metadata": {"name": "e"}}))[1],
        "<none>"
    );
    let slice = json!({"metadata": {"name": "s"}, "addressType": "IPv4", "ports": [{"port": 80}], "endpoints": []});
    assert_eq!(
        texts("EndpointSlice", &slice)[1..4],
        ["IPv4", "80", "<unset>"]
    );
}

#[test]
fn workloads_and_config() {
    let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}, {"name": "s", "image": "busybox"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    let c = cells("Deployment", &d, NOW);
    assert_eq!(c[1], json!("2/3"));
    assert_eq!(c[2], json!(3));
    assert_eq!(
        texts("Deployment", &d)[5..],
        ["c,s", "nginx,busybox", "app=web"]
    );
    let ds = json!({"metadata": {"name": "kube-proxy"}, "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
        "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": []}}},
        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}});
    assert_eq!(
        texts("DaemonSet", &ds)[1..7],
        ["2", "2", "2", "2", "2", "kubernetes.io/os=linux"]
    );
    let cm = json!({"metadata": {"name": "kube-proxy"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
    assert_eq!(cells("ConfigMap", &cm, NOW)[1], json!(3));
    let sec = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "dg=="}});
    assert_eq!(texts("Secret", &sec)[1..3], ["Opaque", "1"]);
    let np = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}});
    assert_eq!(texts("NetworkPolicy", &np)[1], "<none>");
    let lease = json!({"metadata": {"name": "node-1"}, "spec": {"holderIdentity": "node-1"}});
    assert_eq!(texts("Lease", &lease)[1], "node-1");
}

#[test]
fn events_and_nodes() {
    let e = json!({"metadata": {"name": "web.1"}, "type": "Normal", "reason": "Scheduled",
        "involvedObject": {"kind": "Pod", "name": "web"}, "message": " Successfully assigned \n",
        "source": {"component": "default-scheduler"},
        "firstTimestamp": "2026-12-07T11:50:00Z", "lastTimestamp": "2026-12-07T11:58:00Z", "count": 2});
    assert_eq!(
        texts("Event", &e),
        vec![
            "2m",
            "Normal",
            "Scheduled",
            "pod/web",
            "",
            "default-scheduler",
            "Successfully assigned",
            "10m",
            "2",
            "web.1"
        ]
    );
    let new_style = json!({"metadata": {"name": "x"}, "eventTime": "2026-12-07T11:59:30.000000Z",
        "reportingComponent": "kubelet", "reportingInstance": "node-1", "involvedObject": {"kind": "Node"}});
    assert_eq!(texts("Event", &new_style)[0], "30s");
    assert_eq!(texts("Event", &new_style)[3], "node");
    assert_eq!(texts("Event", &new_style)[5], "kubelet, node-1");
    assert_eq!(texts("Event", &new_style)[8], "1");
    let n = json!({"metadata": {"name": "node-1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.31.0"},
            "addresses": [{"type": "InternalIP", "address": "172.28.5.10"}]}});
    assert_eq!(
        texts("Node", &n),
        vec![
            "node-1",
            "Ready,SchedulingDisabled",
            "control-plane",
            "<unknown>",
            "v1.31.0",
            "172.28.5.10",
            "<none>",
            "<unknown>",
            "<unknown>",
            "<unknown>"
        ]
    );
}
