//! ConfigMaps, Secrets, ServiceAccounts, Events and Leases: decoding checks (the 400s the real
//! server gives while decoding, e.g. bad base64), defaults (`stringData` merged into `data`,
//! Secret type `Opaque`) and validation with kube-apiserver's messages.

use serde_json::json;
use serde_json::Value;

use super::errors::FieldError;
use super::names::validate_metadata;
use crate::kube::base64;

/// The largest total size of a ConfigMap's or Secret's data (`MaxSecretSize`).
pub const MAX_DATA_BYTES: usize = 1024 * 1024;

const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/// Problems of a ConfigMap or Secret key (`IsConfigMapKey`).
pub fn config_key(k: &str) -> Vec<String> {
    let mut out = Vec::new();
    if k.len() > 253 {
        out.push("must be no more than 253 characters".to_string());
    }
    if k.is_empty()
        || !k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        out.push(CONFIG_KEY_MSG.to_string());
    }
    if k == "." {
        out.push("must not be '.'".to_string());
    } else if k == ".." {
        out.push("must not be '..'".to_string());
    } else if k.starts_with("..") {
        out.push("must not start with '..'".to_string());
    }
    out
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The decoding step of the real server for kinds whose fields are typed bytes or strings:
/// `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4`.
/// Returns the message of the 400, if any.
pub fn decode_check(kind: &str, obj: &Value) -> Option<String> {
    let fail = |detail: String| {
        Some(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: {detail}"
        ))
    };
    let (strings, bytes): (&[&str], &[&str]) = match kind {
        "Secret" => (&["stringData"], &["data"]),
        "ConfigMap" => (&["data"], &["binaryData"]),
        _ => return None,
    };
    for field in strings.iter().chain(bytes.iter()) {
        match obj.get(*field) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(other) => {
                return fail(format!(
                    "json: cannot unmarshal {} into Go struct field {kind}.{field} of type map[string]{}",
                    go_type(other),
                    if bytes.contains(field) { "[]uint8" } else { "string" }
                ))
            }
        }
        let Some(m) = obj.get(*field).and_then(Value::as_object) else {
            continue;
        };
        for v in m.values() {
            match v {
                Value::String(s) if bytes.contains(field) => {
                    if let Err(e) = base64::decode(s) {
                        return fail(e);
                    }
                }
                Value::String(_) | Value::Null => {}
                other => {
                    return fail(format!(
                        "json: cannot unmarshal {} into Go struct field {kind}.{field} of type {}",
                        go_type(other),
                        if bytes.contains(field) {
                            "[]uint8"
                        } else {
                            "string"
                        }
                    ))
                }
            }
        }
    }
    None
}

/// Secret defaults: type `Opaque`, and `stringData` merged into `data` (base64), as the real
/// server's conversion does: `stringData` wins over `data` for the same key and is not stored.
pub fn default_secret(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    if m.get("type")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        m.insert("type".into(), json!("Opaque"));
    }
    if let Some(Value::Object(sd)) = m.remove("stringData") {
        let data = m.entry("data").or_insert_with(|| json!({}));
        if !data.is_object() {
            *data = json!({});
        }
        for (k, v) in sd {
            let text = v.as_str().unwrap_or("");
            data[k.as_str()] = json!(base64::encode(text.as_bytes()));
        }
    }
}

fn check_keys(map: Option<&Value>, field: &str, errs: &mut Vec<FieldError>) -> usize {
    let mut size = 0;
    if let Some(m) = map.and_then(Value::as_object) {
        for (k, v) in m {
            for p in config_key(k) {
                errs.push(FieldError::invalid(format!("{field}[{k}]"), json!(k), p));
            }
            size += k.len() + v.as_str().map_or(0, str::len);
        }
    }
    size
}

/// Validates a ConfigMap: keys, no key in both `data` and `binaryData`, total size.
pub fn validate_config_map(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("ConfigMap", obj, &mut errs);
    let mut size = check_keys(obj.get("data"), "data", &mut errs);
    size += check_keys(obj.get("binaryData"), "binaryData", &mut errs);
    if let (Some(d), Some(b)) = (
        obj.get("data").and_then(Value::as_object),
        obj.get("binaryData").and_then(Value::as_object),
    ) {
        for k in d.keys().filter(|k| b.contains_key(*k)) {
            errs.push(FieldError::invalid(
                format!("data[{k}]"),
                json!(k),
                "duplicate of key present in binaryData",
            ));
        }
    }
    if size > MAX_DATA_BYTES {
        errs.push(FieldError {
            field: "data".into(),
            kind: super::errors::ErrorKind::TooLong(MAX_DATA_BYTES),
        });
    }
    errs
}

/// Validates a Secret: keys, size, and the keys or annotations its type requires.
pub fn validate_secret(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("Secret", obj, &mut errs);
    let size = check_keys(obj.get("data"), "data", &mut errs);
    if size > MAX_DATA_BYTES {
        errs.push(FieldError {
            field: "data".into(),
            kind: super::errors::ErrorKind::TooLong(MAX_DATA_BYTES),
        });
    }
    let has = |k: &str| {
        obj.pointer(&format!("/data/{}", k.replace('/', "~1")))
            .is_some()
    };
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or("Opaque");
    let required = |errs: &mut Vec<FieldError>, key: &str| {
        if !has(key) {
            errs.push(FieldError::required(format!("data[{key}]"), ""));
        }
    };
    match ty {
        "kubernetes.io/service-account-token" => {
            let named = obj
                .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if !named {
                errs.push(FieldError::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => required(&mut errs, ".dockercfg"),
        "kubernetes.io/dockerconfigjson" => required(&mut errs, ".dockerconfigjson"),
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            required(&mut errs, "username");
            required(&mut errs, "password");
        }
        "kubernetes.io/ssh-auth" => required(&mut errs, "ssh-privatekey"),
        "kubernetes.io/tls" => {
            required(&mut errs, "tls.key");
            required(&mut errs, "tls.crt");
        }
        _ => {}
    }
    errs
}

/// What may not change on an update of a Secret or ConfigMap: the Secret's type, and the data
/// of an object marked `immutable: true`.
pub fn validate_config_update(kind: &str, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if kind == "Secret" && old.get("type") != new.get("type") {
        errs.push(FieldError::invalid(
            "type",
            new.get("type").cloned().unwrap_or(json!("")),
            "field is immutable",
        ));
    }
    if old.get("immutable").and_then(Value::as_bool) == Some(true) {
        if new.get("immutable").and_then(Value::as_bool) != Some(true) {
            errs.push(FieldError::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
        let fields: &[&str] = if kind == "Secret" {
            &["data"]
        } else {
            &["data", "binaryData"]
        };
        for f in fields {
            if old.get(*f) != new.get(*f) {
                errs.push(FieldError::forbidden(
                    *f,
                    "field is immutable when `immutable` is set",
                ));
            }
        }
    }
    errs
}

/// Validates an Event: its namespace must be its involved object's.
pub fn validate_event(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("Event", obj, &mut errs);
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ons = obj
        .pointer("/involvedObject/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mismatch = if ons.is_empty() {
        ns != "default" && !ns.is_empty()
    } else {
        ons != ns
    };
    if mismatch {
        errs.push(FieldError::invalid(
            "involvedObject.namespace",
            json!(ons),
            "does not match event.namespace",
        ));
    }
    if let Some(t) = obj.get("type").filter(|t| !t.is_null()) {
        let ok = ["Normal", "Warning"];
        if !t.as_str().is_some_and(|s| s.is_empty() || ok.contains(&s)) {
            errs.push(FieldError::unsupported("type", t.clone(), &ok));
        }
    }
    errs
}

/// Validates a Lease: durations must be positive.
pub fn validate_lease(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("Lease", obj, &mut errs);
    if let Some(d) = obj.pointer("/spec/leaseDurationSeconds") {
        if d.as_i64().is_none_or(|d| d <= 0) {
            errs.push(FieldError::invalid(
                "spec.leaseDurationSeconds",
                d.clone(),
                "must be greater than 0",
            ));
        }
    }
    errs
}
