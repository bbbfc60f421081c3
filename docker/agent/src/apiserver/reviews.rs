//! The review kinds a client POSTs and gets back answered, never stored: access reviews
//! (`kubectl auth can-i`, `auth can-i --list`) and the self-subject review (`kubectl auth
//! whoami`). The lab has no authorization: a learner is the cluster's administrator and may do
//! everything, so every access review is allowed, with a reason saying so.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::handlers::body::parse_body;
use super::handlers::entry::method_not_allowed;
use super::handlers::errors::{unknown_path, ApiError, ApiResult};
use crate::kube::client::Status;

/// The user every request is: kubeadm's `admin.conf` user.
pub const USER: &str = "kubernetes-admin";
/// Its groups.
pub const GROUPS: &[&str] = &["system:masters", "system:authenticated"];
/// Why everything is allowed.
pub const REASON: &str = "kplab: a lab learner is the cluster's administrator and may do everything (group system:masters)";

/// The route of the review kinds' paths (any method: only POST is allowed).
pub async fn route(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    match handle(&method, uri.path(), content_type, &body) {
        Some(Ok((code, v))) => super::handlers::errors::json_response(code, &v),
        Some(Err(e)) => e.into_response(),
        None => unknown_path().into_response(),
    }
}

/// Answers `path` if it names a review kind: `Some((code, body))`, or `None` for any other path.
/// `content_type` is the request's: the answer does not depend on what is asked (everything is
/// allowed), so a protobuf body (kubectl 1.32+) is answered without being decoded, and the
/// JSON answer is one client-go reads whatever it accepts first.
pub fn handle(
    method: &Method,
    path: &str,
    content_type: &str,
    body: &Bytes,
) -> Option<ApiResult<(StatusCode, Value)>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, kind) = match segs.as_slice() {
        ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] => {
            ("authorization.k8s.io", "SelfSubjectAccessReview")
        }
        ["apis", "authorization.k8s.io", "v1", "selfsubjectrulesreviews"] => {
            ("authorization.k8s.io", "SelfSubjectRulesReview")
        }
        ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"] => {
            ("authentication.k8s.io", "SelfSubjectReview")
        }
        ["apis", "authorization.k8s.io" | "authentication.k8s.io", "v1", _, ..] => {
            return Some(Err(unknown_path()))
        }
        _ => return None,
    };
    if method != Method::POST {
        return Some(Err(method_not_allowed()));
    }
    let protobuf = content_type.starts_with("application/vnd.kubernetes.protobuf");
    Some(review(group, kind, body, protobuf).map(|v| (StatusCode::CREATED, v)))
}

fn invalid(kind: &str, group: &str, detail: &str) -> ApiError {
    ApiError(Status::new(
        422,
        "Invalid",
        format!("{kind}.{group} \"\" is invalid: {detail}"),
    ))
}

fn review(group: &str, kind: &str, body: &Bytes, protobuf: bool) -> ApiResult<Value> {
    if protobuf && body.is_empty() {
        return Err(parse_body(body).unwrap_err());
    }
    let req = if protobuf {
        json!({})
    } else {
        parse_body(body)?
    };
    let mut out = json!({
        "kind": kind,
        "apiVersion": format!("{group}/v1"),
        "metadata": {"creationTimestamp": null},
        "spec": req.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
    match kind {
        "SelfSubjectAccessReview" => {
            let spec = &out["spec"];
            let res = spec.get("resourceAttributes").filter(|v| !v.is_null());
            let non = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
            if res.is_some() == non.is_some() && !protobuf {
                let which = if res.is_some() {
                    "spec.nonResourceAttributes: Invalid value: \"null\": cannot be specified in combination with resourceAttributes"
                } else {
                    "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
                };
                return Err(invalid(kind, group, which));
            }
            out["status"] = json!({"allowed": true, "reason": REASON});
        }
        "SelfSubjectRulesReview" => {
            if out["spec"]
                .get("namespace")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                out["spec"]["namespace"] = json!("default");
            }
            // cluster-admin's rules, then those every authenticated user has (the
            // system:basic-user, system:discovery and system:public-info-viewer roles), as a
            // kubeadm cluster lists them for its admin.
            out["status"] = json!({
                "resourceRules": [
                    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                    {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
                    {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
                ],
                "nonResourceRules": [
                    {"verbs": ["*"], "nonResourceURLs": ["*"]},
                    {"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]},
                    {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]},
                ],
                "incomplete": false,
            });
        }
        _ => {
            out.as_object_mut().map(|m| m.remove("spec"));
            out["status"] = json!({"userInfo": {"username": USER, "groups": GROUPS}});
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(path: &str, body: Value) -> ApiResult<(StatusCode, Value)> {
        handle(
            &Method::POST,
            path,
            "application/json",
            &Bytes::from(body.to_string()),
        )
        .expect("a review path")
    }

    #[test]
    fn access_reviews_allow_everything() {
        let (code, v) = post(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            json!({"kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "default"}}}),
        )
        .unwrap();
        assert_eq!(code, StatusCode::CREATED);
        assert_eq!(v["status"]["allowed"], true);
        assert_eq!(v["spec"]["resourceAttributes"]["verb"], "create");
        let err = post(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            json!({"spec": {}}),
        )
        .unwrap_err();
        assert_eq!(err.0.code, 422);
        assert!(
            err.0
                .message
                .contains("exactly one of nonResourceAttributes or resourceAttributes"),
            "{}",
            err.0.message
        );
        let (_, rules) = post(
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            json!({"spec": {"namespace": "kube-system"}}),
        )
        .unwrap();
        assert_eq!(rules["status"]["resourceRules"][0]["verbs"][0], "*");
        assert_eq!(rules["spec"]["namespace"], "kube-system");
    }

    #[test]
    fn whoami_is_the_kubeadm_admin() {
        let (_, v) = post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        )
        .unwrap();
        assert_eq!(v["status"]["userInfo"]["username"], "kubernetes-admin");
        assert_eq!(v["status"]["userInfo"]["groups"][0], "system:masters");
        assert!(handle(
            &Method::GET,
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "",
            &Bytes::new()
        )
        .unwrap()
        .is_err());
        assert!(handle(&Method::POST, "/api/v1/pods", "", &Bytes::new()).is_none());
        // kubectl 1.32+ posts protobuf: answered without decoding it.
        let (_, v) = handle(
            &Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            "application/vnd.kubernetes.protobuf",
            &Bytes::from_static(b"k8s\0\n\x1e"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(v["status"]["allowed"], true);
    }
}
