//! Discovery as kube-apiserver serves it: `/api`, `/apis`, `/apis/<group>`, the
//! `APIResourceList`s of `/api/v1` and `/apis/<group>/<version>` (verbs, short names,
//! categories, singular names, subresources), the aggregated documents kubectl 1.27+ asks for
//! first (`apidiscovery.k8s.io` v2 and v2beta1, see [`aggregated`]), and `/version`. Built from
//! [`crate::kube::client::RESOURCES`] plus the review kinds, which are not stored.

use serde_json::{json, Value};

use crate::kube::client::{Resource, RESOURCES};

/// The kinds served without storage: POST-only reviews (`kubectl auth can-i`, `auth whoami`).
pub const REVIEWS: &[Resource] = &[
    Resource {
        kind: "SelfSubjectReview",
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
        short_names: &[],
        group: "authentication.k8s.io",
        version: "v1",
        namespaced: false,
    },
    Resource {
        kind: "SelfSubjectAccessReview",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        short_names: &[],
        group: "authorization.k8s.io",
        version: "v1",
        namespaced: false,
    },
    Resource {
        kind: "SelfSubjectRulesReview",
        plural: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
        short_names: &[],
        group: "authorization.k8s.io",
        version: "v1",
        namespaced: false,
    },
];

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

/// Every served kind, stored or not.
pub(crate) fn all_resources() -> impl Iterator<Item = &'static Resource> {
    RESOURCES.iter().chain(REVIEWS.iter())
}

/// The order kube-apiserver lists its groups in.
const GROUP_ORDER: &[&str] = &[
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
];

pub(crate) fn groups() -> Vec<&'static str> {
    let mut g: Vec<&str> = all_resources()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    g.sort_by_key(|g| {
        (
            GROUP_ORDER
                .iter()
                .position(|x| x == g)
                .unwrap_or(usize::MAX),
            *g,
        )
    });
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

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// The verbs of a kind, as upstream's discovery lists them.
pub(crate) fn verbs(r: &Resource) -> &'static [&'static str] {
    match r.kind {
        "Namespace" => &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        _ if REVIEWS.iter().any(|x| x.kind == r.kind) => &["create"],
        _ => ALL_VERBS,
    }
}

/// A subresource: `pods/log`.
pub(crate) struct Sub {
    /// `log`.
    pub name: &'static str,
    /// The kind it answers with (`Pod`, `Scale`, `PodExecOptions`).
    pub kind: &'static str,
    /// Group and version of that kind when they differ from the resource's.
    pub gv: Option<(&'static str, &'static str)>,
    pub verbs: &'static [&'static str],
}

const fn sub(name: &'static str, kind: &'static str, verbs: &'static [&'static str]) -> Sub {
    Sub {
        name,
        kind,
        gv: None,
        verbs,
    }
}

/// The subresources upstream serves for a kind.
pub(crate) fn subresources(r: &Resource) -> Vec<Sub> {
    let scale = Sub {
        name: "scale",
        kind: "Scale",
        gv: Some(("autoscaling", "v1")),
        verbs: STATUS_VERBS,
    };
    match (r.group, r.kind) {
        ("", "Namespace") => vec![
            sub("finalize", "Namespace", &["update"]),
            sub("status", "Namespace", STATUS_VERBS),
        ],
        ("", "Node") => vec![
            sub(
                "proxy",
                "NodeProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
            sub("status", "Node", STATUS_VERBS),
        ],
        ("", "Pod") => vec![
            sub("attach", "PodAttachOptions", &["create", "get"]),
            sub("binding", "Binding", &["create"]),
            sub("ephemeralcontainers", "Pod", STATUS_VERBS),
            Sub {
                name: "eviction",
                kind: "Eviction",
                gv: Some(("policy", "v1")),
                verbs: &["create"],
            },
            sub("exec", "PodExecOptions", &["create", "get"]),
            sub("log", "Pod", &["get"]),
            sub("portforward", "PodPortForwardOptions", &["create", "get"]),
            sub(
                "proxy",
                "PodProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
            sub("status", "Pod", STATUS_VERBS),
        ],
        ("", "Service") => vec![
            sub(
                "proxy",
                "ServiceProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
            sub("status", "Service", STATUS_VERBS),
        ],
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet") => {
            vec![scale, sub("status", r.kind, STATUS_VERBS)]
        }
        ("apps", "DaemonSet") => vec![sub("status", "DaemonSet", STATUS_VERBS)],
        ("networking.k8s.io", "NetworkPolicy") => vec![],
        _ => vec![],
    }
}

/// `GET /api/v1` or `/apis/<group>/<version>`: the `APIResourceList`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut matched: Vec<&Resource> = all_resources()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if matched.is_empty() {
        return None;
    }
    matched.sort_by_key(|r| r.plural);
    let mut rs = Vec::new();
    for r in matched {
        let mut top = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            top["shortNames"] = json!(r.short_names);
        }
        if !r.categories().is_empty() {
            top["categories"] = json!(r.categories());
        }
        rs.push(top);
        for s in subresources(r) {
            let mut e = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if let Some((g, v)) = s.gv {
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            rs.push(e);
        }
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

pub mod aggregated;
