//! Pods: defaults, the initial status, and validation of create and update.

use std::collections::BTreeSet;

use serde_json::json;
use serde_json::Value;

use super::errors::FieldError;
use super::fields::check_port_range;
use super::fields::check_protocol;
use super::fields::set_default;
use super::names::dns1123_label;
use super::names::dns1123_subdomain;
use super::names::port_name;
use super::names::validate_labels;
use super::names::validate_metadata;

/// Fills pod spec defaults (as the real API server's defaulting does), for a Pod's `spec` and
/// a Deployment's `spec.template.spec`.
pub fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    for key in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(key).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter(|c| c.is_object()) {
                let image = c
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let m = c.as_object_mut().expect("object");
                let last = image.rsplit('/').next().unwrap_or("");
                let tag_latest =
                    !last.contains(':') && !image.contains('@') || image.ends_with(":latest");
                set_default(
                    m,
                    "imagePullPolicy",
                    json!(if tag_latest { "Always" } else { "IfNotPresent" }),
                );
                set_default(m, "resources", json!({}));
                set_default(m, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(m, "terminationMessagePolicy", json!("File"));
                if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
    let m = spec.as_object_mut().expect("object");
    set_default(m, "restartPolicy", json!("Always"));
    set_default(m, "terminationGracePeriodSeconds", json!(30));
    set_default(m, "dnsPolicy", json!("ClusterFirst"));
    set_default(m, "securityContext", json!({}));
    set_default(m, "schedulerName", json!("default-scheduler"));
    if m.get("serviceAccountName").is_none() {
        m.insert("serviceAccountName".into(), json!("default"));
        m.insert("serviceAccount".into(), json!("default"));
    }
    set_default(m, "enableServiceLinks", json!(true));
    set_default(m, "preemptionPolicy", json!("PreemptLowerPriority"));
    set_default(m, "priority", json!(0));
}

/// Pod defaults: spec defaults and the default tolerations (the status is set on create, see
/// [`initial_pod_status`]).
pub fn default_pod(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec") {
        default_pod_spec(spec);
        if let Some(m) = spec.as_object_mut() {
            if m.get("tolerations").is_none() {
                m.insert(
                    "tolerations".into(),
                    json!([
                        {"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},
                        {"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}
                    ]),
                );
            }
        }
    }
}

/// The status of a Pod as created: `Pending` (whatever the client sent).
pub fn initial_pod_status() -> Value {
    json!({"phase": "Pending", "qosClass": "BestEffort"})
}

/// Validates a pod spec found at `path` (`spec` or `spec.template.spec`).
pub fn validate_pod_spec(spec: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
        return;
    };
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => errs.push(FieldError::required(format!("{path}.containers"), "")),
        Some(cs) if cs.is_empty() => {
            errs.push(FieldError::required(format!("{path}.containers"), ""))
        }
        Some(cs) => {
            let mut names = BTreeSet::new();
            for (i, c) in cs.iter().enumerate() {
                let cp = format!("{path}.containers[{i}]");
                match c.get("name").and_then(Value::as_str) {
                    None | Some("") => errs.push(FieldError::required(format!("{cp}.name"), "")),
                    Some(n) => {
                        for e in dns1123_label(n) {
                            errs.push(FieldError::invalid(format!("{cp}.name"), json!(n), e));
                        }
                        if !names.insert(n.to_string()) {
                            errs.push(FieldError::duplicate(format!("{cp}.name"), json!(n)));
                        }
                    }
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    errs.push(FieldError::required(format!("{cp}.image"), ""));
                }
                let mut port_names = BTreeSet::new();
                if let Some(ports) = c.get("ports").and_then(Value::as_array) {
                    for (j, p) in ports.iter().enumerate() {
                        let pp = format!("{cp}.ports[{j}]");
                        if let Some(n) = p.get("name").and_then(Value::as_str) {
                            for e in port_name(n) {
                                errs.push(FieldError::invalid(format!("{pp}.name"), json!(n), e));
                            }
                            if !port_names.insert(n.to_string()) {
                                errs.push(FieldError::duplicate(format!("{pp}.name"), json!(n)));
                            }
                        }
                        match p.get("containerPort") {
                            None => {
                                errs.push(FieldError::required(format!("{pp}.containerPort"), ""))
                            }
                            Some(v) => check_port_range(&format!("{pp}.containerPort"), v, errs),
                        }
                        if let Some(h) = p.get("hostPort").filter(|h| h.as_i64() != Some(0)) {
                            check_port_range(&format!("{pp}.hostPort"), h, errs);
                        }
                        check_protocol(&format!("{pp}.protocol"), p.get("protocol"), errs);
                    }
                }
            }
        }
    }
    if let Some(r) = spec.get("restartPolicy") {
        let ok = ["Always", "Never", "OnFailure"];
        if !r.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                format!("{path}.restartPolicy"),
                r.clone(),
                &ok,
            ));
        }
    }
    if let Some(d) = spec.get("dnsPolicy") {
        let ok = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
        if !d.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                format!("{path}.dnsPolicy"),
                d.clone(),
                &ok,
            ));
        }
    }
    if let Some(g) = spec.get("terminationGracePeriodSeconds") {
        if g.as_i64().is_none_or(|g| g < 0) {
            errs.push(FieldError::invalid(
                format!("{path}.terminationGracePeriodSeconds"),
                g.clone(),
                "must be greater than or equal to 0",
            ));
        }
    }
    validate_labels(
        spec.get("nodeSelector"),
        &format!("{path}.nodeSelector"),
        errs,
    );
    if let Some(n) = spec
        .get("nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        for e in dns1123_subdomain(n) {
            errs.push(FieldError::invalid(format!("{path}.nodeName"), json!(n), e));
        }
    }
}

/// Validates a Pod.
pub fn validate_pod(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("Pod", obj, &mut errs);
    validate_pod_spec(obj.get("spec"), "spec", &mut errs);
    errs
}

/// Validates a Pod update: the spec is immutable except container images (and the node,
/// which may be set once).
pub fn validate_pod_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = validate_pod(new);
    let strip = |v: &Value| {
        let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
        for key in ["containers", "initContainers"] {
            if let Some(cs) = s.get_mut(key).and_then(Value::as_array_mut) {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    c.remove("image");
                }
            }
        }
        if let Some(m) = s.as_object_mut() {
            m.remove("activeDeadlineSeconds");
            m.remove("tolerations");
            if old
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                m.remove("nodeName");
            }
        }
        s
    };
    if strip(old) != strip(new) {
        errs.push(FieldError::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
    errs
}
