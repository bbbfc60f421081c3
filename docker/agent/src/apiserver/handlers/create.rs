//! Create and replace (also the target of patch): defaults, validation, generated names and
//! UIDs, resourceVersions, and the status subresource rules.

use serde_json::json;
use serde_json::Value;

use super::delete::delete;
use super::delete::finish_namespace_if_empty;
use super::errors::bad_request;
use super::errors::conflict_modified;
use super::errors::details;
use super::errors::invalid;
use super::errors::new_uid;
use super::errors::not_found;
use super::errors::random_suffix;
use super::errors::ApiError;
use super::errors::ApiResult;
use super::services::allocate_service;
use super::services::drop_type_dependent_fields;
use crate::apiserver::state::AppState;
use crate::apiserver::store::Store;
use crate::apiserver::validation as v;
use crate::apiserver::validation::FieldError;
use crate::kube::client::Resource;
use crate::kube::client::Status;
use crate::kube::client::NAMESPACES;
use crate::kube::time::now_rfc3339;

pub(crate) fn check_kind(res: &Resource, obj: &mut Value) -> ApiResult<()> {
    let expected = res.api_version();
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str) {
        if av != expected {
            return Err(bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({expected})"
            )));
        }
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str) {
        if k != res.kind {
            return Err(bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                res.kind
            )));
        }
    }
    // Put kind and apiVersion first, as the real server's JSON does.
    let mut m = serde_json::Map::new();
    m.insert("kind".into(), json!(res.kind));
    m.insert("apiVersion".into(), json!(expected));
    for (k, val) in obj.as_object().expect("object").iter() {
        if k != "kind" && k != "apiVersion" {
            m.insert(k.clone(), val.clone());
        }
    }
    *obj = Value::Object(m);
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    Ok(())
}

pub(crate) fn default_and_validate(res: &Resource, obj: &mut Value) -> Vec<FieldError> {
    match res.kind {
        "Pod" => {
            v::default_pod(obj);
            v::validate_pod(obj)
        }
        "Service" => {
            v::default_service(obj);
            v::validate_service(obj)
        }
        "Deployment" => {
            v::default_deployment(obj);
            v::validate_deployment(obj)
        }
        "Namespace" => {
            v::default_namespace(obj);
            v::validate_simple("Namespace", obj)
        }
        "NetworkPolicy" => {
            v::default_network_policy(obj);
            v::validate_network_policy(obj)
        }
        "EndpointSlice" => v::validate_endpoint_slice(obj),
        "ReplicaSet" => {
            v::default_replica_set(obj);
            v::validate_replica_set(obj)
        }
        "DaemonSet" => {
            v::default_daemon_set(obj);
            v::validate_daemon_set(obj)
        }
        "ConfigMap" => v::validate_config_map(obj),
        "Secret" => {
            v::default_secret(obj);
            v::validate_secret(obj)
        }
        "Event" => v::validate_event(obj),
        "Lease" => v::validate_lease(obj),
        kind => v::validate_simple(kind, obj),
    }
}

pub(crate) fn has_generation(res: &Resource) -> bool {
    matches!(
        res.kind,
        "Deployment" | "NetworkPolicy" | "ReplicaSet" | "DaemonSet"
    )
}

pub(crate) fn namespace_must_accept(
    st: &Store,
    res: &Resource,
    ns: &str,
    name: &str,
) -> ApiResult<()> {
    match st.get(&NAMESPACES, "", ns) {
        None => Err(not_found(&NAMESPACES, ns)),
        Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
            let mut s = Status::new(
                403,
                "Forbidden",
                format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    res.qualified_plural()
                ),
            );
            s.details = Some(Box::new(details(res, name)));
            Err(ApiError(s))
        }
        Some(_) => Ok(()),
    }
}

/// Creates `obj` in `namespace` (namespaced resources) — the full POST semantics: kind check,
/// generateName, defaulting, validation, namespace existence, AlreadyExists, allocation.
pub fn create(
    app: &AppState,
    st: &mut Store,
    res: &'static Resource,
    namespace: Option<&str>,
    mut obj: Value,
) -> ApiResult<Value> {
    check_kind(res, &mut obj)?;
    if let Some(m) = v::decode_check(res.kind, &obj) {
        return Err(bad_request(m));
    }
    let meta = obj["metadata"].as_object_mut().expect("object");
    if res.namespaced {
        let ns = namespace.unwrap_or("default");
        match meta.get("namespace").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {
                meta.insert("namespace".into(), json!(ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    let name_missing = meta
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if name_missing {
        if let Some(g) = meta
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|g| !g.is_empty())
        {
            let base: String = g.chars().take(58).collect();
            meta.insert("name".into(), json!(format!("{base}{}", random_suffix())));
        }
    }
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
        "selfLink",
    ] {
        meta.remove(k);
    }
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let errs = default_and_validate(res, &mut obj);
    if !errs.is_empty() {
        return Err(invalid(res, &name, &errs));
    }
    if res.kind == "Pod" {
        obj["status"] = v::initial_pod_status();
    }
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if res.namespaced {
        namespace_must_accept(st, res, &ns, &name)?;
    }
    super::kinds::admit(st, res, &obj)?;
    if st.get(res, &ns, &name).is_some() {
        let mut s = Status::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", res.qualified_plural()),
        );
        s.details = Some(Box::new(details(res, &name)));
        return Err(ApiError(s));
    }
    if res.kind == "Service" {
        allocate_service(st, &mut obj, None).map_err(|e| invalid(res, &name, &e))?;
    }
    let meta = obj["metadata"].as_object_mut().expect("object");
    meta.insert("uid".into(), json!(new_uid()));
    meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
    if has_generation(res) {
        meta.insert("generation".into(), json!(1));
    }
    let stored = st.put(res, obj);
    super::kinds::after_create(app, st, res, &stored);
    if owner_missing(st, &stored) {
        // What the garbage collector does shortly after such a create: an object whose
        // controller is already gone (a controller acting on a stale cache) is deleted.
        let (ons, oname) = crate::apiserver::store::key_of(&stored);
        let _ = delete(st, res, &ons, &oname, None);
    }
    Ok(stored)
}

/// Whether `obj` names a controller owner (in its namespace) that no longer exists.
pub(crate) fn owner_missing(st: &Store, obj: &Value) -> bool {
    let Some(refs) = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
    else {
        return false;
    };
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    refs.iter()
        .filter(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .any(|r| {
            let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
            let Some(owner_res) = Resource::by_kind(kind) else {
                return false;
            };
            let name = r.get("name").and_then(Value::as_str).unwrap_or("");
            let uid = r.get("uid").and_then(Value::as_str);
            let owner_ns = if owner_res.namespaced { ns } else { "" };
            match st.get(owner_res, owner_ns, name) {
                None => true,
                Some(o) => {
                    uid.is_some() && o.pointer("/metadata/uid").and_then(Value::as_str) != uid
                }
            }
        })
}

/// How a PUT treats `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The main resource: status changes are ignored (except for Nodes and kinds without a
    /// status subresource).
    Main,
    /// The status subresource: only status changes are taken.
    Status,
}

pub(crate) fn keeps_status_on_main_update(res: &Resource) -> bool {
    matches!(
        res.kind,
        "Pod" | "Deployment" | "Service" | "Namespace" | "ReplicaSet" | "DaemonSet"
    )
}

/// Replaces an object (PUT, or the result of a PATCH) with the update semantics of the real
/// server: resourceVersion precondition, immutable fields, generation, no-op detection.
pub fn replace(
    app: &AppState,
    st: &mut Store,
    res: &'static Resource,
    namespace: Option<&str>,
    name: &str,
    mut obj: Value,
    mode: Mode,
) -> ApiResult<Value> {
    check_kind(res, &mut obj)?;
    if mode == Mode::Main {
        if let Some(m) = v::decode_check(res.kind, &obj) {
            return Err(bad_request(m));
        }
    }
    let ns = if res.namespaced {
        namespace.unwrap_or("default")
    } else {
        ""
    };
    if let Some(n) = obj.pointer("/metadata/name").and_then(Value::as_str) {
        if n != name {
            return Err(bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    if res.namespaced {
        if let Some(n) = obj.pointer("/metadata/namespace").and_then(Value::as_str) {
            if !n.is_empty() && n != ns {
                return Err(bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    }
    let old = st
        .get(res, ns, name)
        .cloned()
        .ok_or_else(|| not_found(res, name))?;
    if let Some(rv) = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        if !rv.is_empty()
            && Some(rv)
                != old
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
        {
            return Err(conflict_modified(res, name));
        }
    }
    let mut new = if mode == Mode::Status {
        let mut n = old.clone();
        n["status"] = obj.get("status").cloned().unwrap_or(json!({}));
        n
    } else {
        let mut n = obj;
        if keeps_status_on_main_update(res) {
            match old.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        } else if n.get("status").is_none() {
            if let Some(s) = old.get("status") {
                n["status"] = s.clone();
            }
        }
        n
    };
    {
        let meta = new["metadata"].as_object_mut().expect("object");
        meta.insert("name".into(), json!(name));
        if res.namespaced {
            meta.insert("namespace".into(), json!(ns));
        }
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old["metadata"].get(k) {
                Some(v) => {
                    meta.insert(k.into(), v.clone());
                }
                None => {
                    meta.remove(k);
                }
            }
        }
        // An update that does not send managedFields keeps them (the field manager adds its
        // own entry when the object is stored).
        if !meta.contains_key("managedFields") {
            if let Some(mf) = old["metadata"].get("managedFields") {
                meta.insert("managedFields".into(), mf.clone());
            }
        }
    }
    if mode == Mode::Main && res.kind == "Service" {
        drop_type_dependent_fields(&old, &mut new);
    }
    let mut errs = if mode == Mode::Main {
        default_and_validate(res, &mut new)
    } else {
        Vec::new()
    };
    if mode == Mode::Main {
        match res.kind {
            "Pod" => errs.extend(
                v::validate_pod_update(&old, &new)
                    .into_iter()
                    .filter(|e| e.field == "spec" && matches!(e.kind, v::ErrorKind::Forbidden(_))),
            ),
            "Secret" | "ConfigMap" => errs.extend(v::validate_config_update(res.kind, &old, &new)),
            "Deployment" | "ReplicaSet" | "DaemonSet"
                if old.pointer("/spec/selector") != new.pointer("/spec/selector") =>
            {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    json!(format!(
                        "v1.LabelSelector{}",
                        new.pointer("/spec/selector")
                            .cloned()
                            .unwrap_or(Value::Null)
                    )),
                    "field is immutable",
                ));
            }
            _ => {}
        }
    }
    if !errs.is_empty() {
        return Err(invalid(res, name, &errs));
    }
    if mode == Mode::Main && res.kind == "Service" {
        allocate_service(st, &mut new, Some(&old)).map_err(|e| invalid(res, name, &e))?;
    }
    if has_generation(res) && old.get("spec") != new.get("spec") {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    if new == old {
        return Ok(old);
    }
    let _ = app;
    let out = st.put(res, new);
    if res.kind == "Namespace" {
        finish_namespace_if_empty(st, name);
    }
    Ok(out)
}
