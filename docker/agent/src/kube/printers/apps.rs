//! Deployments, ReplicaSets and DaemonSets.

use serde_json::Value;

use super::common::{
    col, container_cells, format_label_selector, format_labels, i, selector_string, text, wide,
    Column, AGE, CONTAINERS_DESC, IMAGES_DESC, NAME,
};

pub(crate) const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide("Selector", "string", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
];

pub(crate) const REPLICA_SET: &[Column] = &[
    NAME,
    col("Desired", "integer", "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller"),
    col("Current", "integer", "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller"),
    col("Ready", "integer", "The number of ready replicas for this replica set."),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide("Selector", "string", "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"),
];

pub(crate) const DAEMON_SET: &[Column] = &[
    NAME,
    col("Desired", "integer", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"),
    col("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"),
    col("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
    col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    col("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
    col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide("Selector", "string", "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"),
];

fn replicas(o: &Value) -> i64 {
    o.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// `printDeployment`.
pub(crate) fn deployment(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let (names, images) = container_cells(o, "/spec/template/spec/containers");
    vec![
        name,
        text(&format!(
            "{}/{}",
            i(o, "/status/readyReplicas"),
            replicas(o)
        )),
        Value::from(i(o, "/status/updatedReplicas")),
        Value::from(i(o, "/status/availableReplicas")),
        age,
        names,
        images,
        Value::String(selector_string(o.pointer("/spec/selector"))),
    ]
}

/// `printReplicaSet`.
pub(crate) fn replica_set(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let (names, images) = container_cells(o, "/spec/template/spec/containers");
    vec![
        name,
        Value::from(replicas(o)),
        Value::from(i(o, "/status/replicas")),
        Value::from(i(o, "/status/readyReplicas")),
        age,
        names,
        images,
        Value::String(format_label_selector(o.pointer("/spec/selector"))),
    ]
}

/// `printDaemonSet`.
pub(crate) fn daemon_set(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let (names, images) = container_cells(o, "/spec/template/spec/containers");
    vec![
        name,
        Value::from(i(o, "/status/desiredNumberScheduled")),
        Value::from(i(o, "/status/currentNumberScheduled")),
        Value::from(i(o, "/status/numberReady")),
        Value::from(i(o, "/status/updatedNumberScheduled")),
        Value::from(i(o, "/status/numberAvailable")),
        Value::String(format_labels(o.pointer("/spec/template/spec/nodeSelector"))),
        age,
        names,
        images,
        Value::String(format_label_selector(o.pointer("/spec/selector"))),
    ]
}
