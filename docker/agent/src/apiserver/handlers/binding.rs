//! Subresources: a pod's `binding` (the scheduler) and a deployment's `scale`.

use serde_json::json;
use serde_json::Value;

use super::create::replace;
use super::create::Mode;
use super::errors::invalid;
use super::errors::not_found;
use super::errors::ApiError;
use super::errors::ApiResult;
use crate::apiserver::state::AppState;
use crate::apiserver::store::Store;
use crate::apiserver::validation as v;
use crate::apiserver::validation::FieldError;
use crate::kube::client::Resource;
use crate::kube::client::Status;
use crate::kube::client::PODS;
use crate::kube::conditions::set_condition;
use crate::kube::patch::merge_patch;

pub(crate) fn bind(st: &mut Store, ns: &str, name: &str, binding: &Value) -> ApiResult<Value> {
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid(&PODS, name, &[FieldError::required("target.name", "")]))?;
    let mut pod = st
        .get(&PODS, ns, name)
        .cloned()
        .ok_or_else(|| not_found(&PODS, name))?;
    if let Some(cur) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(ApiError(Status::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{cur}\""),
        )));
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return Err(ApiError(Status::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is being deleted, cannot be assigned to a host"),
        )));
    }
    pod["spec"]["nodeName"] = json!(node);
    set_condition(&mut pod, "PodScheduled", "True", None, None);
    st.put(&PODS, pod);
    Ok(json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}))
}

pub(crate) fn selector_string(d: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = d
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
    {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    if let Some(exprs) = d
        .pointer("/spec/selector/matchExpressions")
        .and_then(Value::as_array)
    {
        for e in exprs {
            let k = e.get("key").and_then(Value::as_str).unwrap_or("");
            let vals: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => parts.push(format!("{k} in ({})", vals.join(","))),
                "NotIn" => parts.push(format!("{k} notin ({})", vals.join(","))),
                "Exists" => parts.push(k.to_string()),
                "DoesNotExist" => parts.push(format!("!{k}")),
                _ => {}
            }
        }
    }
    parts.join(",")
}

pub(crate) fn scale_of(d: &Value) -> Value {
    let meta = &d["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": d.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": d.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector_string(d),
        },
    })
}

pub(crate) fn scale_update(
    app: &AppState,
    st: &mut Store,
    res: &'static Resource,
    ns: Option<&str>,
    name: &str,
    body: &Value,
    is_patch: bool,
) -> ApiResult<Value> {
    let key_ns = ns.unwrap_or("default");
    let d = st
        .get(res, key_ns, name)
        .cloned()
        .ok_or_else(|| not_found(res, name))?;
    let mut scale = scale_of(&d);
    if is_patch {
        merge_patch(&mut scale, body);
    } else {
        scale = body.clone();
    }
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    if replicas.as_i64().is_none_or(|r| r < 0) {
        return Err(ApiError(v::invalid_status(
            "Scale.autoscaling",
            name,
            &[FieldError::invalid(
                "spec.replicas",
                replicas,
                "must be greater than or equal to 0",
            )],
        )));
    }
    let mut nd = d.clone();
    nd["spec"]["replicas"] = replicas;
    // A Scale that names a resourceVersion is a precondition on the object's.
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .filter(|rv| rv.as_str().is_some_and(|s| !s.is_empty()))
    {
        nd["metadata"]["resourceVersion"] = rv.clone();
    }
    let out = replace(app, st, res, Some(key_ns), name, nd, Mode::Main)?;
    Ok(scale_of(&out))
}
