//! Field errors as `k8s.io/apimachinery`'s `field.Error` prints them, and the `422 Invalid`
//! Status they become.

use std::collections::BTreeMap;

use serde_json::json;
use serde_json::Value;

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
