//! Small helpers on JSON maps: defaults, port numbers and ranges, protocols.

use serde_json::json;
use serde_json::Map;
use serde_json::Value;

use super::errors::FieldError;

pub(crate) fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    v[key].as_object_mut().expect("just made an object")
}

pub(crate) fn set_default(m: &mut Map<String, Value>, key: &str, val: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), val);
    }
}

pub(crate) fn port_number(v: &Value) -> Option<i64> {
    v.as_i64()
}

pub(crate) fn check_port_range(field: &str, v: &Value, errs: &mut Vec<FieldError>) {
    match v.as_i64() {
        Some(p) if (1..=65535).contains(&p) => {}
        _ => errs.push(FieldError::invalid(
            field,
            v.clone(),
            "must be between 1 and 65535, inclusive",
        )),
    }
}

pub(crate) const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

pub(crate) fn check_protocol(field: &str, v: Option<&Value>, errs: &mut Vec<FieldError>) {
    match v {
        None => errs.push(FieldError::required(field, "")),
        Some(Value::String(s)) if PROTOCOLS.contains(&s.as_str()) => {}
        Some(other) => errs.push(FieldError::unsupported(field, other.clone(), PROTOCOLS)),
    }
}
