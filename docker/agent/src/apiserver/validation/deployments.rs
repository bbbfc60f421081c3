//! Deployments: defaults and validation (the selector must match the template).

use serde_json::json;
use serde_json::Value;

use super::errors::ErrorKind;
use super::errors::FieldError;
use super::fields::obj_mut;
use super::fields::set_default;
use super::names::validate_labels;
use super::names::validate_metadata;
use super::pods::default_pod_spec;
use super::pods::validate_pod_spec;

/// Fills Deployment defaults (replicas, strategy, revisionHistoryLimit, template spec).
pub fn default_deployment(obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
    if strategy.is_object() {
        let s = strategy.as_object_mut().expect("object");
        set_default(s, "type", json!("RollingUpdate"));
        if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(ru) = ru.as_object_mut() {
                set_default(ru, "maxSurge", json!("25%"));
                set_default(ru, "maxUnavailable", json!("25%"));
            }
        }
    }
    default_template(spec);
}

/// Fills ReplicaSet defaults (replicas, template spec).
pub fn default_replica_set(obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    set_default(spec, "replicas", json!(1));
    default_template(spec);
}

/// Fills DaemonSet defaults (updateStrategy, revisionHistoryLimit, template spec).
pub fn default_daemon_set(obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    set_default(spec, "revisionHistoryLimit", json!(10));
    let strategy = spec.entry("updateStrategy").or_insert_with(|| json!({}));
    if let Some(s) = strategy.as_object_mut() {
        set_default(s, "type", json!("RollingUpdate"));
        if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(ru) = ru.as_object_mut() {
                set_default(ru, "maxUnavailable", json!(1));
                set_default(ru, "maxSurge", json!(0));
            }
        }
    }
    default_template(spec);
}

fn default_template(spec: &mut serde_json::Map<String, Value>) {
    if let Some(t) = spec.get_mut("template") {
        if let Some(tm) = t.as_object_mut() {
            set_default(tm, "metadata", json!({}));
        }
        if let Some(ps) = t.get_mut("spec") {
            default_pod_spec(ps);
        }
    }
}

/// Validates a ReplicaSet (selector, template, replicas).
pub fn validate_replica_set(obj: &Value) -> Vec<FieldError> {
    validate_workload("ReplicaSet", obj)
}

/// Validates a DaemonSet (selector, template, updateStrategy).
pub fn validate_daemon_set(obj: &Value) -> Vec<FieldError> {
    let mut errs = validate_workload("DaemonSet", obj);
    if let Some(t) = obj.pointer("/spec/updateStrategy/type") {
        let ok = ["OnDelete", "RollingUpdate"];
        if !t.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                "spec.updateStrategy.type",
                t.clone(),
                &ok,
            ));
        }
    }
    errs
}

/// Validates a Deployment.
pub fn validate_deployment(obj: &Value) -> Vec<FieldError> {
    validate_workload("Deployment", obj)
}

/// What Deployments, ReplicaSets and DaemonSets share: selector matching the template, the
/// template's pod spec, replicas, restartPolicy Always.
fn validate_workload(kind: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata(kind, obj, &mut errs);
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    if let Some(r) = spec.get("replicas") {
        if r.as_i64().is_none_or(|r| r < 0) {
            errs.push(FieldError::invalid(
                "spec.replicas",
                r.clone(),
                "must be greater than or equal to 0",
            ));
        }
    }
    let template_labels = spec.pointer("/template/metadata/labels").cloned();
    match spec.get("selector").filter(|s| !s.is_null()) {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) => {
            match crate::kube::selectors::LabelSelector::from_json(Some(sel)) {
                Err(e) => errs.push(FieldError {
                    field: match e.field.as_str() {
                        "" => "spec.selector".to_string(),
                        f => format!("spec.selector.{f}"),
                    },
                    kind: ErrorKind::Invalid(e.value, e.detail),
                }),
                Ok(s) if s.is_empty() => errs.push(FieldError::invalid(
                    "spec.selector",
                    json!("v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"),
                    if kind == "DaemonSet" {
                        "empty selector is invalid for daemonset"
                    } else {
                        "empty selector is invalid for deployment"
                    },
                )),
                Ok(s) => {
                    validate_labels(sel.get("matchLabels"), "spec.selector.matchLabels", &mut errs);
                    let labels = crate::kube::selectors::object_labels(
                        &json!({"metadata": {"labels": template_labels.clone().unwrap_or(json!({}))}}),
                    );
                    if !s.matches(&labels) {
                        errs.push(FieldError::invalid(
                            "spec.template.metadata.labels",
                            template_labels.clone().unwrap_or(json!({})),
                            "`selector` does not match template `labels`",
                        ));
                    }
                }
            }
        }
    }
    validate_labels(
        template_labels.as_ref(),
        "spec.template.metadata.labels",
        &mut errs,
    );
    validate_pod_spec(
        spec.pointer("/template/spec"),
        "spec.template.spec",
        &mut errs,
    );
    if let Some(r) = spec.pointer("/template/spec/restartPolicy") {
        if r.as_str() != Some("Always") {
            errs.push(FieldError::unsupported(
                "spec.template.spec.restartPolicy",
                r.clone(),
                &["Always"],
            ));
        }
    }
    if kind != "Deployment" {
        return errs;
    }
    if let Some(t) = spec.pointer("/strategy/type") {
        let ok = ["Recreate", "RollingUpdate"];
        if !t.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                "spec.strategy.type",
                t.clone(),
                &ok,
            ));
        }
    }
    errs
}
