//! RFC 7386 JSON merge patch, as the API server applies `application/merge-patch+json` and as
//! kubectl applies it locally for `--dry-run=client`.

use serde_json::{json, Value};

/// Applies `patch` to `target`: objects merge key by key, `null` removes a key, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("object");
            for (k, pv) in p {
                if pv.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), pv);
                }
            }
        }
        other => *target = other.clone(),
    }
}
