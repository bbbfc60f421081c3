//! Discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`) and `/version`,
//! minimal but valid, built from the resource table in [`crate::kube::client::RESOURCES`].

use serde_json::{json, Value};

use crate::kube::client::RESOURCES;

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": crate::kube::contract::KUBERNETES_MINOR,
        "gitVersion": crate::kube::contract::KUBERNETES_VERSION,
        "gitCommit": "kplab",
        "gitTreeState": "clean",
        "buildDate": "2024-08-13T00:00:00Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `GET /api`.
pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "node-1:6443"}],
    })
}

fn groups() -> Vec<&'static str> {
    let mut g: Vec<&str> = RESOURCES
        .iter()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    g.dedup();
    g.sort();
    g.dedup();
    g
}

/// One `APIGroup` entry.
pub fn api_group(group: &str) -> Option<Value> {
    if !groups().contains(&group) {
        return None;
    }
    let gv = format!("{group}/v1");
    Some(json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [{"groupVersion": gv, "version": "v1"}],
        "preferredVersion": {"groupVersion": gv, "version": "v1"},
    }))
}

/// `GET /apis`.
pub fn api_groups() -> Value {
    let gs: Vec<Value> = groups().into_iter().filter_map(api_group).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs})
}

/// `GET /api/v1` or `/apis/<group>/<version>`: the `APIResourceList`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let rs: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .flat_map(|r| {
            let mut verbs = vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
            if r.kind == "Namespace" {
                verbs.retain(|v| *v != "deletecollection");
            }
            let mut out = vec![json!({
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": verbs,
                "shortNames": r.short_names,
            })];
            if matches!(
                r.kind,
                "Pod" | "Deployment" | "Service" | "Node" | "Namespace" | "ReplicaSet" | "DaemonSet"
            ) {
                out.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
            }
            if matches!(r.kind, "Deployment" | "ReplicaSet") {
                out.push(json!({"name": format!("{}/scale", r.plural), "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
            }
            if r.kind == "Pod" {
                out.push(json!({"name": "pods/binding", "singularName": "", "namespaced": true, "kind": "Binding", "verbs": ["create"]}));
            }
            out
        })
        .collect();
    if rs.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": rs}),
    )
}
