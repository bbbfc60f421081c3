//! Defaulting and validation of objects, with the real API server's field paths and messages.
//!
//! Each kind has a `default_*` function (fills what the real API server fills before storing)
//! and a `validate_*` function returning [`FieldError`]s; [`invalid_status`] turns them into the
//! `422 Invalid` Status (`Service "web" is invalid: spec.ports[0].port: Invalid value: 70000:
//! must be between 1 and 65535, inclusive`). Checks that need the store (allocated ClusterIPs
//! and NodePorts, namespaces) live in the handlers.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::kube::client::Status;

/// One field error, formatted as `field.Error` is in Kubernetes.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// `spec.ports[0].port`.
    pub field: String,
    /// The error type.
    pub kind: ErrorKind,
}

/// The error types of `k8s.io/apimachinery/pkg/util/validation/field`.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// `Invalid value: <value>: <detail>`.
    Invalid(Value, String),
    /// `Required value[: detail]`.
    Required(String),
    /// `Unsupported value: <value>: supported values: "a", "b"`.
    Unsupported(Value, Vec<&'static str>),
    /// `Duplicate value: <value>`.
    Duplicate(Value),
    /// `Forbidden: <detail>`.
    Forbidden(String),
    /// `Too long: may not be more than N bytes` (used for long annotation values).
    TooLong(usize),
}

impl FieldError {
    /// `Invalid value`.
    pub fn invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Invalid(value, detail.into()),
        }
    }
    /// `Required value`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Required(detail.into()),
        }
    }
    /// `Unsupported value`.
    pub fn unsupported(field: impl Into<String>, value: Value, supported: &[&'static str]) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Unsupported(value, supported.to_vec()),
        }
    }
    /// `Duplicate value`.
    pub fn duplicate(field: impl Into<String>, value: Value) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Duplicate(value),
        }
    }
    /// `Forbidden`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            kind: ErrorKind::Forbidden(detail.into()),
        }
    }

    /// The `reason` of this error in a Status' `details.causes`.
    pub fn reason(&self) -> &'static str {
        match self.kind {
            ErrorKind::Invalid(..) => "FieldValueInvalid",
            ErrorKind::Required(_) => "FieldValueRequired",
            ErrorKind::Unsupported(..) => "FieldValueNotSupported",
            ErrorKind::Duplicate(_) => "FieldValueDuplicate",
            ErrorKind::Forbidden(_) => "FieldValueForbidden",
            ErrorKind::TooLong(_) => "FieldValueTooLong",
        }
    }

    /// The message without the field path (`Invalid value: 70000: must be …`).
    pub fn body(&self) -> String {
        match &self.kind {
            ErrorKind::Invalid(v, d) => format!("Invalid value: {}: {d}", go_value(v)),
            ErrorKind::Required(d) if d.is_empty() => "Required value".to_string(),
            ErrorKind::Required(d) => format!("Required value: {d}"),
            ErrorKind::Unsupported(v, s) => format!(
                "Unsupported value: {}: supported values: {}",
                go_value(v),
                s.iter()
                    .map(|x| format!("\"{x}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ErrorKind::Duplicate(v) => format!("Duplicate value: {}", go_value(v)),
            ErrorKind::Forbidden(d) => format!("Forbidden: {d}"),
            ErrorKind::TooLong(n) => format!("Too long: may not be more than {n} bytes"),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Renders a value the way Go's `%#v` shows it in field errors: strings quoted, numbers bare,
/// string maps as `map[string]string{"a":"b"}`.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(m) if m.values().all(Value::is_string) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            format!(
                "map[string]string{{{}}}",
                sorted
                    .iter()
                    .map(|(k, v)| format!("{:?}:{:?}", k, v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// The 422 Status for `errors` on the object `name` of `kind` (`Deployment.apps` for grouped
/// kinds), with `details.causes` as the real server sends them.
pub fn invalid_status(qualified_kind: &str, name: &str, errors: &[FieldError]) -> Status {
    let joined = if errors.len() == 1 {
        errors[0].to_string()
    } else {
        format!(
            "[{}]",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let (kind, group) = match qualified_kind.split_once('.') {
        Some((k, g)) => (k, g),
        None => (qualified_kind, ""),
    };
    let mut s = Status::new(
        422,
        "Invalid",
        format!("{qualified_kind} \"{name}\" is invalid: {joined}"),
    );
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.reason(), "message": e.body(), "field": e.field}))
        .collect();
    let mut details = json!({"name": name, "kind": kind, "causes": causes});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    s.details = Some(Box::new(details));
    s
}

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label_chars(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Problems of `s` as an RFC 1123 label (Namespace names, container names, port names).
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !is_label_chars(s) {
        errs.push(DNS1123_LABEL_MSG.to_string());
    }
    errs
}

/// Problems of `s` as an RFC 1123 subdomain (Pod, Deployment, Node names).
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if s.is_empty() || !s.split('.').all(is_label_chars) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// Problems of `s` as an RFC 1035 label (Service names).
pub fn dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !is_label_chars(s) || !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        errs.push(DNS1035_LABEL_MSG.to_string());
    }
    errs
}

/// Problems of `s` as a named port (`IsValidPortName`).
pub fn port_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 15 {
        errs.push("must be no more than 15 characters".to_string());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if s.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if !s.chars().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// Which name rule a kind's `metadata.name` follows.
#[derive(Debug, Clone, Copy)]
pub enum NameRule {
    /// RFC 1123 label, max 63 (Namespace).
    Label,
    /// RFC 1123 subdomain, max 253 (Pod, Deployment, Node, …).
    Subdomain,
    /// RFC 1035 label, max 63 (Service).
    Dns1035,
}

/// The name rule for `kind`.
pub fn name_rule(kind: &str) -> NameRule {
    match kind {
        "Namespace" => NameRule::Label,
        "Service" => NameRule::Dns1035,
        _ => NameRule::Subdomain,
    }
}

fn check_name_rule(rule: NameRule, field: &str, name: &str, errs: &mut Vec<FieldError>) {
    let problems = match rule {
        NameRule::Label => dns1123_label(name),
        NameRule::Subdomain => dns1123_subdomain(name),
        NameRule::Dns1035 => dns1035_label(name),
    };
    for p in problems {
        errs.push(FieldError::invalid(field, json!(name), p));
    }
}

const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn is_qualified_chars(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Problems of a label or annotation key (`prefix/name`).
pub fn qualified_name(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            errs.push("prefix part must be non-empty".to_string());
        } else {
            for e in dns1123_subdomain(p) {
                errs.push(format!("prefix part {e}"));
            }
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".into());
    } else {
        if name.len() > 63 {
            errs.push("name part must be no more than 63 characters".into());
        }
        if !is_qualified_chars(name) {
            errs.push(QUALIFIED_NAME_MSG.into());
        }
    }
    errs
}

/// Problems of a label value.
pub fn label_value(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push("must be no more than 63 characters".into());
    }
    if !v.is_empty() && !is_qualified_chars(v) {
        errs.push(LABEL_VALUE_MSG.into());
    }
    errs
}

/// Validates a label map at `field` (`metadata.labels`, `spec.selector`).
pub fn validate_labels(map: Option<&Value>, field: &str, errs: &mut Vec<FieldError>) {
    let Some(m) = map.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in m {
        for e in qualified_name(k) {
            errs.push(FieldError::invalid(field, json!(k), e));
        }
        match v.as_str() {
            Some(s) => {
                for e in label_value(s) {
                    errs.push(FieldError::invalid(field, json!(s), e));
                }
            }
            None => errs.push(FieldError::invalid(
                field,
                v.clone(),
                "label values must be strings",
            )),
        }
    }
}

/// Checks `metadata`: name (per kind), labels, annotation keys.
pub fn validate_metadata(kind: &str, obj: &Value, errs: &mut Vec<FieldError>) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        check_name_rule(name_rule(kind), "metadata.name", name, errs);
    }
    validate_labels(obj.pointer("/metadata/labels"), "metadata.labels", errs);
    if let Some(a) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        let mut total = 0;
        for (k, v) in a {
            total += k.len() + v.as_str().map_or(0, str::len);
            for e in qualified_name(k) {
                errs.push(FieldError::invalid("metadata.annotations", json!(k), e));
            }
        }
        if total > 256 * 1024 {
            errs.push(FieldError {
                field: "metadata.annotations".into(),
                kind: ErrorKind::TooLong(256 * 1024),
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// helpers on JSON maps

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    v[key].as_object_mut().expect("just made an object")
}

fn set_default(m: &mut Map<String, Value>, key: &str, val: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), val);
    }
}

fn port_number(v: &Value) -> Option<i64> {
    v.as_i64()
}

fn check_port_range(field: &str, v: &Value, errs: &mut Vec<FieldError>) {
    match v.as_i64() {
        Some(p) if (1..=65535).contains(&p) => {}
        _ => errs.push(FieldError::invalid(
            field,
            v.clone(),
            "must be between 1 and 65535, inclusive",
        )),
    }
}

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

fn check_protocol(field: &str, v: Option<&Value>, errs: &mut Vec<FieldError>) {
    match v {
        None => errs.push(FieldError::required(field, "")),
        Some(Value::String(s)) if PROTOCOLS.contains(&s.as_str()) => {}
        Some(other) => errs.push(FieldError::unsupported(field, other.clone(), PROTOCOLS)),
    }
}

// ---------------------------------------------------------------------------------------------
// Pods

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

// ---------------------------------------------------------------------------------------------
// Services

/// Service types.
pub const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

/// Fills Service defaults that need no allocation: type, sessionAffinity, port protocol and
/// targetPort, traffic policies, ipFamilies. ClusterIPs and NodePorts are allocated by the
/// handler afterwards.
pub fn default_service(obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    set_default(spec, "type", json!("ClusterIP"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if ty != "ExternalName" {
        set_default(spec, "sessionAffinity", json!("None"));
        if spec.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP") {
            let cfg = spec
                .entry("sessionAffinityConfig")
                .or_insert_with(|| json!({}));
            if !cfg.get("clientIP").is_some_and(Value::is_object) {
                cfg["clientIP"] = json!({});
            }
            if let Some(c) = cfg["clientIP"].as_object_mut() {
                set_default(c, "timeoutSeconds", json!(10800));
            }
        }
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
            if p.get("targetPort")
                .is_none_or(|t| t.is_null() || t.as_i64() == Some(0) || t.as_str() == Some(""))
            {
                if let Some(port) = p.get("port").cloned() {
                    p.insert("targetPort".into(), port);
                }
            }
        }
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if ty != "ExternalName" {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
        if let Some(ip) = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            let ip = ip.to_string();
            set_default(spec, "clusterIPs", json!([ip]));
        }
    }
    let status = obj_mut(obj, "status");
    set_default(status, "loadBalancer", json!({}));
}

/// Static Service validation (everything but allocation).
pub fn validate_service(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("Service", obj, &mut errs);
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !SERVICE_TYPES.contains(&ty) {
        errs.push(FieldError::unsupported(
            "spec.type",
            json!(ty),
            SERVICE_TYPES,
        ));
    }
    let cluster_ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
    let headless = cluster_ip == "None";
    let ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ty == "ExternalName" {
        match spec.get("externalName").and_then(Value::as_str) {
            None | Some("") => errs.push(FieldError::required("spec.externalName", "")),
            Some(n) => {
                for e in dns1123_subdomain(n.trim_end_matches('.')) {
                    errs.push(FieldError::invalid("spec.externalName", json!(n), e));
                }
            }
        }
    } else if ports.is_empty() && !headless {
        errs.push(FieldError::required("spec.ports", ""));
    }
    if headless && (ty == "NodePort" || ty == "LoadBalancer") {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            json!("None"),
            format!("may not be set to 'None' for {ty} services"),
        ));
    }
    let mut names = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            if ports.len() > 1 {
                errs.push(FieldError::required(format!("{pp}.name"), ""));
            }
        } else {
            for e in dns1123_label(name) {
                errs.push(FieldError::invalid(format!("{pp}.name"), json!(name), e));
            }
            if !names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), json!(name)));
            }
        }
        match p.get("port") {
            None => errs.push(FieldError::required(format!("{pp}.port"), "")),
            Some(v) => check_port_range(&format!("{pp}.port"), v, &mut errs),
        }
        check_protocol(&format!("{pp}.protocol"), p.get("protocol"), &mut errs);
        match p.get("targetPort") {
            Some(Value::Number(_)) => {
                check_port_range(&format!("{pp}.targetPort"), &p["targetPort"], &mut errs)
            }
            Some(Value::String(s)) => {
                for e in port_name(s) {
                    errs.push(FieldError::invalid(format!("{pp}.targetPort"), json!(s), e));
                }
            }
            _ => {}
        }
        if let Some(np) = p.get("nodePort").filter(|n| n.as_i64() != Some(0)) {
            if ty == "ClusterIP" || ty == "ExternalName" {
                errs.push(FieldError::forbidden(
                    format!("{pp}.nodePort"),
                    format!("may not be used when `type` is '{ty}'"),
                ));
            } else if np.as_i64().is_none() {
                errs.push(FieldError::invalid(
                    format!("{pp}.nodePort"),
                    np.clone(),
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        let key = (
            p.get("port").and_then(port_number),
            p.get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_string(),
        );
        if key.0.is_some() && !seen.insert(key.clone()) {
            errs.push(FieldError::duplicate(
                pp.clone(),
                json!(format!(
                    "core.ServicePort{{Name:{:?}, Protocol:{:?}, Port:{}}}",
                    name,
                    key.1,
                    key.0.unwrap_or(0)
                )),
            ));
        }
    }
    if let Some(sel) = spec.get("selector") {
        validate_labels(Some(sel), "spec.selector", &mut errs);
    }
    if let Some(sa) = spec.get("sessionAffinity") {
        let ok = ["ClientIP", "None"];
        if !sa.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                "spec.sessionAffinity",
                sa.clone(),
                &ok,
            ));
        }
    }
    if let Some(t) = spec.pointer("/sessionAffinityConfig/clientIP/timeoutSeconds") {
        if t.as_i64().is_none_or(|t| t <= 0 || t > 86400) {
            errs.push(FieldError::invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                t.clone(),
                "must be greater than 0 and less than 86400",
            ));
        }
    }
    let external = ty == "NodePort" || ty == "LoadBalancer";
    if let Some(etp) = spec.get("externalTrafficPolicy") {
        let ok = ["Cluster", "Local"];
        if !external {
            if !etp.is_null() && etp.as_str() != Some("") {
                errs.push(FieldError::invalid(
                    "spec.externalTrafficPolicy",
                    etp.clone(),
                    "may only be set for externally-accessible services",
                ));
            }
        } else if !etp.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                "spec.externalTrafficPolicy",
                etp.clone(),
                &ok,
            ));
        }
    }
    if let Some(itp) = spec.get("internalTrafficPolicy") {
        let ok = ["Cluster", "Local"];
        if !itp.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                "spec.internalTrafficPolicy",
                itp.clone(),
                &ok,
            ));
        }
    }
    if let Some(h) = spec
        .get("healthCheckNodePort")
        .filter(|h| h.as_i64() != Some(0))
    {
        let local = ty == "LoadBalancer"
            && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
        if !local {
            errs.push(FieldError::invalid(
                "spec.healthCheckNodePort",
                h.clone(),
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    }
    if let Some(fams) = spec.get("ipFamilies").and_then(Value::as_array) {
        for (i, f) in fams.iter().enumerate() {
            if f.as_str() != Some("IPv4") {
                errs.push(FieldError::unsupported(
                    format!("spec.ipFamilies[{i}]"),
                    f.clone(),
                    &["IPv4"],
                ));
            }
        }
    }
    if let Some(p) = spec.get("ipFamilyPolicy") {
        let ok = ["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !p.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                "spec.ipFamilyPolicy",
                p.clone(),
                &ok,
            ));
        } else if p.as_str() == Some("RequireDualStack") {
            errs.push(FieldError::invalid(
                "spec.ipFamilyPolicy",
                p.clone(),
                "this cluster is not configured for dual-stack services",
            ));
        }
    }
    if let Some(ips) = spec.get("externalIPs").and_then(Value::as_array) {
        for (i, ip) in ips.iter().enumerate() {
            if ip
                .as_str()
                .and_then(|s| s.parse::<std::net::Ipv4Addr>().ok())
                .is_none()
            {
                errs.push(FieldError::invalid(
                    format!("spec.externalIPs[{i}]"),
                    ip.clone(),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                ));
            }
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// Deployments

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
    if let Some(t) = spec.get_mut("template") {
        if let Some(tm) = t.as_object_mut() {
            set_default(tm, "metadata", json!({}));
        }
        if let Some(ps) = t.get_mut("spec") {
            default_pod_spec(ps);
        }
    }
}

/// Validates a Deployment.
pub fn validate_deployment(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("Deployment", obj, &mut errs);
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
                    "empty selector is invalid for deployment",
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

// ---------------------------------------------------------------------------------------------
// Namespaces, Nodes, Endpoints, EndpointSlices, NetworkPolicies

/// Namespace defaults: the `kubernetes.io/metadata.name` label, finalizer, phase Active.
pub fn default_namespace(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let meta = obj_mut(obj, "metadata");
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if labels.is_object() {
        labels["kubernetes.io/metadata.name"] = json!(name);
    }
    let spec = obj_mut(obj, "spec");
    set_default(spec, "finalizers", json!(["kubernetes"]));
    let status = obj_mut(obj, "status");
    set_default(status, "phase", json!("Active"));
}

/// Validates a Namespace, Node, Endpoints (metadata only).
pub fn validate_simple(kind: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata(kind, obj, &mut errs);
    errs
}

/// Validates an EndpointSlice.
pub fn validate_endpoint_slice(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("EndpointSlice", obj, &mut errs);
    let ok = ["FQDN", "IPv4", "IPv6"];
    match obj.get("addressType") {
        None => errs.push(FieldError::required("addressType", "")),
        Some(t) if !t.as_str().is_some_and(|s| ok.contains(&s)) => {
            errs.push(FieldError::unsupported("addressType", t.clone(), &ok))
        }
        _ => {}
    }
    if let Some(eps) = obj.get("endpoints").and_then(Value::as_array) {
        for (i, e) in eps.iter().enumerate() {
            match e.get("addresses").and_then(Value::as_array) {
                Some(a) if !a.is_empty() => {}
                _ => errs.push(FieldError::required(
                    format!("endpoints[{i}].addresses"),
                    "must contain at least 1 address",
                )),
            }
        }
    }
    errs
}

/// NetworkPolicy defaults: `policyTypes` (Ingress, plus Egress when egress rules exist) and
/// port protocol TCP.
pub fn default_network_policy(obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    set_default(spec, "podSelector", json!({}));
    for dir in ["ingress", "egress"] {
        if let Some(rules) = spec.get_mut(dir).and_then(Value::as_array_mut) {
            for r in rules.iter_mut() {
                if let Some(ports) = r.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
    if spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        let mut types = vec![json!("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

fn parse_cidr(s: &str) -> Option<(u32, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((u32::from(ip), len))
}

fn validate_selector_at(v: Option<&Value>, field: &str, errs: &mut Vec<FieldError>) {
    let Some(v) = v else { return };
    validate_labels(v.get("matchLabels"), &format!("{field}.matchLabels"), errs);
    if let Some(exprs) = v.get("matchExpressions").and_then(Value::as_array) {
        for (i, e) in exprs.iter().enumerate() {
            let op = e.get("operator").cloned().unwrap_or(Value::Null);
            let values = e
                .get("values")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let f = format!("{field}.matchExpressions[{i}]");
            match op.as_str() {
                Some("In") | Some("NotIn") if values == 0 => errs.push(FieldError::required(
                    format!("{f}.values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                )),
                Some("Exists") | Some("DoesNotExist") if values > 0 => {
                    errs.push(FieldError::forbidden(
                        format!("{f}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ))
                }
                Some("In") | Some("NotIn") | Some("Exists") | Some("DoesNotExist") => {}
                _ => errs.push(FieldError::invalid(
                    format!("{f}.operator"),
                    op.clone(),
                    "not a valid selector operator",
                )),
            }
        }
    }
}

/// Validates a NetworkPolicy's shape: selectors, ports, ipBlocks, policyTypes.
pub fn validate_network_policy(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("NetworkPolicy", obj, &mut errs);
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    validate_selector_at(spec.get("podSelector"), "spec.podSelector", &mut errs);
    for (dir, peers_key) in [("ingress", "from"), ("egress", "to")] {
        let Some(rules) = spec.get(dir).and_then(Value::as_array) else {
            continue;
        };
        for (i, r) in rules.iter().enumerate() {
            let rp = format!("spec.{dir}[{i}]");
            if let Some(ports) = r.get("ports").and_then(Value::as_array) {
                for (j, p) in ports.iter().enumerate() {
                    let pp = format!("{rp}.ports[{j}]");
                    check_protocol(&format!("{pp}.protocol"), p.get("protocol"), &mut errs);
                    match p.get("port") {
                        Some(Value::Number(_)) => {
                            check_port_range(&format!("{pp}.port"), &p["port"], &mut errs)
                        }
                        Some(Value::String(s)) => {
                            for e in port_name(s) {
                                errs.push(FieldError::invalid(format!("{pp}.port"), json!(s), e));
                            }
                        }
                        _ => {}
                    }
                    if let Some(end) = p.get("endPort") {
                        match (p.get("port").and_then(Value::as_i64), end.as_i64()) {
                            (None, _) => errs.push(FieldError::required(
                                format!("{pp}.port"),
                                "must be specified when endPort is specified",
                            )),
                            (Some(s), Some(e)) if e < s => errs.push(FieldError::invalid(
                                format!("{pp}.endPort"),
                                end.clone(),
                                "must be greater than or equal to `port`",
                            )),
                            _ => check_port_range(&format!("{pp}.endPort"), end, &mut errs),
                        }
                    }
                }
            }
            if let Some(peers) = r.get(peers_key).and_then(Value::as_array) {
                for (j, peer) in peers.iter().enumerate() {
                    let pp = format!("{rp}.{peers_key}[{j}]");
                    let has_ip = peer.get("ipBlock").is_some();
                    let has_sel = peer.get("podSelector").is_some()
                        || peer.get("namespaceSelector").is_some();
                    if !has_ip && !has_sel {
                        errs.push(FieldError::required(pp.clone(), "must specify a peer"));
                    }
                    if has_ip && has_sel {
                        errs.push(FieldError::forbidden(
                            pp.clone(),
                            "may not specify more than 1 peer type",
                        ));
                    }
                    validate_selector_at(
                        peer.get("podSelector"),
                        &format!("{pp}.podSelector"),
                        &mut errs,
                    );
                    validate_selector_at(
                        peer.get("namespaceSelector"),
                        &format!("{pp}.namespaceSelector"),
                        &mut errs,
                    );
                    if let Some(b) = peer.get("ipBlock") {
                        let cidr = b.get("cidr").and_then(Value::as_str).unwrap_or("");
                        let bf = format!("{pp}.ipBlock");
                        match parse_cidr(cidr) {
                            None if cidr.is_empty() => {
                                errs.push(FieldError::required(format!("{bf}.cidr"), ""))
                            }
                            None => errs.push(FieldError::invalid(
                                format!("{bf}.cidr"),
                                json!(cidr),
                                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                            )),
                            Some((net, len)) => {
                                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                                for (k, ex) in b
                                    .get("except")
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .unwrap_or_default()
                                    .iter()
                                    .enumerate()
                                {
                                    let s = ex.as_str().unwrap_or("");
                                    match parse_cidr(s) {
                                        None => errs.push(FieldError::invalid(
                                            format!("{bf}.except[{k}]"),
                                            ex.clone(),
                                            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                                        )),
                                        Some((en, el)) => {
                                            if el <= len || (en & mask) != (net & mask) {
                                                errs.push(FieldError::invalid(
                                                    format!("{bf}.except[{k}]"),
                                                    ex.clone(),
                                                    "must be a strict subset of `cidr`",
                                                ));
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(types) = spec.get("policyTypes").and_then(Value::as_array) {
        let ok = ["Egress", "Ingress"];
        for (i, t) in types.iter().enumerate() {
            if !t.as_str().is_some_and(|s| ok.contains(&s)) {
                errs.push(FieldError::unsupported(
                    format!("spec.policyTypes[{i}]"),
                    t.clone(),
                    &ok,
                ));
            }
        }
        if types.len() > 2 {
            errs.push(FieldError::invalid(
                "spec.policyTypes",
                Value::Array(types.clone()),
                "may not specify more than two policyTypes",
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1123_label("web").is_empty());
        assert_eq!(
            dns1123_label(&"a".repeat(64)),
            vec!["must be no more than 63 characters"]
        );
        assert!(dns1123_subdomain(&"a".repeat(64)).is_empty());
        assert_eq!(dns1035_label("1web").len(), 1);
        assert!(dns1123_label("1web").is_empty());
        assert_eq!(dns1123_subdomain("Web").len(), 1);
    }

    #[test]
    fn service_port_message_matches_the_real_one() {
        let mut svc = json!({"metadata":{"name":"web"},"spec":{"selector":{"app":"web"},"ports":[{"port":70000}]}});
        default_service(&mut svc);
        let errs = validate_service(&svc);
        let s = invalid_status("Service", "web", &errs);
        assert_eq!(
            s.message,
            "Service \"web\" is invalid: [spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive]"
        );
    }

    #[test]
    fn deployment_selector_must_match() {
        let mut d = json!({"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}});
        default_deployment(&mut d);
        let errs = validate_deployment(&d);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"
        );
        d["spec"]["selector"] = json!({"matchExpressions":[{"key":"app","operator":"Near"}]});
        let errs = validate_deployment(&d);
        assert_eq!(
            errs[0].to_string(),
            "spec.selector.matchExpressions[0].operator: Invalid value: \"Near\": not a valid selector operator"
        );
    }
}
