//! Delete: graceful pods, owner-reference cascades and namespace finalization.

use std::time::Duration;

use serde_json::json;
use serde_json::Value;

use super::errors::details;
use super::errors::not_found;
use super::errors::ApiError;
use super::errors::ApiResult;
use crate::apiserver::store::Store;
use crate::kube::client::Resource;
use crate::kube::client::Status;
use crate::kube::client::NAMESPACES;
use crate::kube::client::PODS;
use crate::kube::client::RESOURCES;
use crate::kube::time::now_rfc3339;
use crate::kube::time::rfc3339;

/// Namespaces that may not be deleted.
pub(crate) const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

pub(crate) fn success_status(res: &Resource, obj: &Value) -> Value {
    let mut d = details(
        res,
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    d["uid"] = obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details": d})
}

/// Deletes an object with Kubernetes' semantics: pods gracefully, namespaces with their
/// content, and dependents (ownerReferences) by cascade.
pub fn delete(
    st: &mut Store,
    res: &'static Resource,
    ns: &str,
    name: &str,
    grace: Option<i64>,
) -> ApiResult<Value> {
    let obj = st
        .get(res, ns, name)
        .cloned()
        .ok_or_else(|| not_found(res, name))?;
    match res.kind {
        "Pod" => Ok(delete_pod(st, ns, name, grace).unwrap_or(obj)),
        "Namespace" => {
            if PROTECTED_NAMESPACES.contains(&name) {
                let mut s = Status::new(
                    403,
                    "Forbidden",
                    format!(
                        "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                    ),
                );
                s.details = Some(Box::new(details(res, name)));
                return Err(ApiError(s));
            }
            if obj.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(obj);
            }
            let mut n = obj.clone();
            n["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            n["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            n["status"]["phase"] = json!("Terminating");
            let out = st.put(res, n);
            for r in RESOURCES.iter().filter(|r| r.namespaced) {
                let names: Vec<String> = st
                    .list(r, Some(name))
                    .iter()
                    .map(|o| crate::apiserver::store::key_of(o).1)
                    .collect();
                for n in names {
                    let _ = delete(st, r, name, &n, grace);
                }
            }
            Ok(finish_namespace_if_empty(st, name).unwrap_or(out))
        }
        _ => {
            let removed = st.remove(res, ns, name).unwrap_or(obj);
            collect_dependents(st, &removed, grace);
            Ok(success_status(res, &removed))
        }
    }
}

/// Deletes a pod: graceful (deletionTimestamp) unless `grace` is 0 or the pod never ran on a
/// node. Returns the pod as it is afterwards (its last state when removed).
pub(crate) fn delete_pod(
    st: &mut Store,
    ns: &str,
    name: &str,
    grace: Option<i64>,
) -> Option<Value> {
    let pod = st.get(&PODS, ns, name)?.clone();
    let scheduled = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded") | Some("Failed")
    );
    let grace = grace
        .or_else(|| {
            pod.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30)
        .max(0);
    let out = if grace == 0 || !scheduled || finished {
        let removed = st.remove(&PODS, ns, name);
        finish_namespace_if_empty(st, ns);
        removed
    } else {
        let current = pod
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64);
        if current.is_some_and(|c| c <= grace) {
            return Some(pod);
        }
        let mut p = pod;
        let at = time::OffsetDateTime::now_utc() + Duration::from_secs(grace as u64);
        p["metadata"]["deletionTimestamp"] = json!(rfc3339(at));
        p["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        Some(st.put(&PODS, p))
    };
    out
}

pub(crate) fn collect_dependents(st: &mut Store, owner: &Value, grace: Option<i64>) {
    let Some(uid) = owner.pointer("/metadata/uid").and_then(Value::as_str) else {
        return;
    };
    let ns = owner.pointer("/metadata/namespace").and_then(Value::as_str);
    for r in RESOURCES {
        let deps: Vec<(String, String)> = st
            .list(r, if r.namespaced { ns } else { None })
            .into_iter()
            .filter(|o| {
                o.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|x| x.get("uid").and_then(Value::as_str) == Some(uid))
                    })
            })
            .map(crate::apiserver::store::key_of)
            .collect();
        for (dns, dname) in deps {
            let _ = delete(st, r, &dns, &dname, grace);
        }
    }
}

/// Removes a terminating namespace once nothing is left in it. Returns its last state.
pub(crate) fn finish_namespace_if_empty(st: &mut Store, ns: &str) -> Option<Value> {
    let n = st.get(&NAMESPACES, "", ns)?;
    n.pointer("/metadata/deletionTimestamp")?;
    let empty = RESOURCES
        .iter()
        .filter(|r| r.namespaced)
        .all(|r| st.list(r, Some(ns)).is_empty());
    if empty {
        st.remove(&NAMESPACES, "", ns)
    } else {
        None
    }
}
