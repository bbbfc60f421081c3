//! Aggregated discovery: `GET /api` and `/apis` with `Accept:
//! application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList` (kubectl 1.30+; v2beta1
//! for 1.27-1.29) answers every group, version and resource in one document, so kubectl needs
//! no per-group requests. The answer's Content-Type names the format: clients that get plain
//! JSON fall back to the per-group documents.

use axum::http::{header, HeaderMap};
use serde_json::{json, Value};

use super::{all_resources, groups, subresources, verbs};

/// The aggregated-discovery version an `Accept` header asks for (`v2`, `v2beta1`), first wins.
pub fn requested(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    for part in accept.split(',') {
        let mut fields = part.split(';');
        let media = fields.next().unwrap_or("").trim();
        if media != "application/json" {
            continue;
        }
        let params: Vec<(&str, &str)> = fields
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let has = |k: &str, v: &str| params.iter().any(|(pk, pv)| *pk == k && *pv == v);
        if has("g", "apidiscovery.k8s.io") && has("as", "APIGroupDiscoveryList") {
            if has("v", "v2") {
                return Some("v2");
            }
            if has("v", "v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

/// The Content-Type of an aggregated answer of `version`.
pub fn content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

fn group_doc(group: &str) -> Value {
    let mut rs: Vec<&crate::kube::client::Resource> =
        all_resources().filter(|r| r.group == group).collect();
    rs.sort_by_key(|r| r.plural);
    let resources: Vec<Value> = rs
        .iter()
        .map(|r| {
            let mut e = json!({
                "resource": r.plural,
                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": r.singular,
                "verbs": verbs(r),
            });
            if !r.short_names.is_empty() {
                e["shortNames"] = json!(r.short_names);
            }
            if !r.categories().is_empty() {
                e["categories"] = json!(r.categories());
            }
            let subs: Vec<Value> = subresources(r)
                .iter()
                .map(|s| {
                    let (g, v) = s.gv.unwrap_or((r.group, r.version));
                    json!({
                        "subresource": s.name,
                        "responseKind": {"group": g, "version": v, "kind": s.kind},
                        "verbs": s.verbs,
                    })
                })
                .collect();
            if !subs.is_empty() {
                e["subresources"] = json!(subs);
            }
            e
        })
        .collect();
    json!({
        "metadata": {"name": group, "creationTimestamp": null},
        "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}],
    })
}

/// The `APIGroupDiscoveryList` of `/api` (`core`: the legacy group) or `/apis` (the others).
pub fn document(core: bool, version: &str) -> Value {
    let items: Vec<Value> = if core {
        vec![group_doc("")]
    } else {
        groups().into_iter().map(group_doc).collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// Answers `GET /api` and `GET /apis` when the client asks for aggregated discovery.
pub fn respond(
    method: &axum::http::Method,
    path: &str,
    headers: &HeaderMap,
) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    if method != axum::http::Method::GET {
        return None;
    }
    let core = match path.trim_end_matches('/') {
        "/api" => true,
        "/apis" => false,
        _ => return None,
    };
    let version = requested(headers)?;
    Some(
        (
            axum::http::StatusCode::OK,
            [(header::CONTENT_TYPE, content_type(version))],
            document(core, version).to_string(),
        )
            .into_response(),
    )
}
