//! `kubectl patch` (merge, strategic as merge, and JSON patch).

use serde_json::Value;

use super::common::dry_run_mode;
use super::common::dry_suffix;
use super::common::obj_label;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::manifest;
use crate::kubectl::target::ns_for;
use crate::kubectl::target::one_target;

/// Applies an RFC 6902 JSON patch to `doc`.
pub(crate) fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("json patch must be a list of operations")?;
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation has no \"op\"")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("operation has no \"path\"")?;
        let (parent, last) = path
            .rsplit_once('/')
            .ok_or_else(|| format!("invalid path {path}"))?;
        let last = last.replace("~1", "/").replace("~0", "~");
        let value = op.get("value").cloned();
        match kind {
            "add" | "replace" => {
                let target = doc
                    .pointer_mut(parent)
                    .ok_or_else(|| format!("doc is missing path: \"{path}\""))?;
                let value = value.ok_or("operation has no \"value\"")?;
                match target {
                    Value::Object(m) => {
                        if kind == "replace" && !m.contains_key(&last) {
                            return Err(format!(
                                "replace operation does not apply: doc is missing key: {path}"
                            ));
                        }
                        m.insert(last, value);
                    }
                    Value::Array(arr) => {
                        if last == "-" {
                            arr.push(value);
                        } else {
                            let i: usize = last
                                .parse()
                                .map_err(|_| format!("invalid index in {path}"))?;
                            if kind == "add" && i <= arr.len() {
                                arr.insert(i, value);
                            } else if i < arr.len() {
                                arr[i] = value;
                            } else {
                                return Err(format!("Unable to access invalid index: {i}"));
                            }
                        }
                    }
                    _ => return Err(format!("doc is missing path: \"{path}\"")),
                }
            }
            "remove" => {
                let target = doc
                    .pointer_mut(parent)
                    .ok_or_else(|| format!("doc is missing path: \"{path}\""))?;
                match target {
                    Value::Object(m) => {
                        m.remove(&last).ok_or_else(|| {
                            format!(
                                "remove operation does not apply: doc is missing path: \"{path}\""
                            )
                        })?;
                    }
                    Value::Array(arr) => {
                        let i: usize = last
                            .parse()
                            .map_err(|_| format!("invalid index in {path}"))?;
                        if i >= arr.len() {
                            return Err(format!(
                                "Unable to remove nonexistent key: {last}: missing value"
                            ));
                        }
                        arr.remove(i);
                    }
                    _ => return Err(format!("doc is missing path: \"{path}\"")),
                }
            }
            "test" => {
                if doc.pointer(path) != value.as_ref() {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(())
}

pub(crate) fn strip_volatile(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        md.remove("resourceVersion");
        md.remove("generation");
        md.remove("managedFields");
    }
    v
}

pub(crate) fn patch(ctx: &mut Ctx, a: &Args) -> R {
    let (r, name, _) = one_target("patch", &a.pos[1..])?;
    let Some(text) = a.get("patch") else {
        return Err(Fail::Msg("must specify -p to patch".into()));
    };
    let patch: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            let docs = manifest::parse("patch", text).ok();
            match serde_yaml_ng::from_str::<Value>(text) {
                Ok(v) if docs.is_some() || v.is_object() || v.is_array() => v,
                _ => {
                    return Err(Fail::Msg(format!(
                        "unable to parse \"{text}\": yaml: did not find expected node content"
                    )))
                }
            }
        }
    };
    let ns = ns_for(ctx, r, false).map(String::from);
    let before = ctx.client.get(r, ns.as_deref(), &name)?;
    let dry = dry_run_mode(a)?;
    let after = match a.get("type").unwrap_or("strategic") {
        "strategic" | "merge" if dry.is_some() => {
            let mut doc = before.clone();
            crate::kube::patch::merge_patch(&mut doc, &patch);
            doc
        }
        "strategic" | "merge" => ctx.client.merge_patch(r, ns.as_deref(), &name, &patch)?,
        "json" => {
            let mut doc = before.clone();
            json_patch(&mut doc, &patch).map_err(Fail::Msg)?;
            if dry.is_some() {
                doc
            } else {
                ctx.client.replace(r, ns.as_deref(), &name, &doc)?
            }
        }
        other => {
            return Err(Fail::Msg(format!(
                "--type must be one of [json merge strategic], not \"{other}\""
            )))
        }
    };
    let label = obj_label(r, &name);
    if strip_volatile(&before) == strip_volatile(&after) {
        let _ = writeln!(ctx.out, "{label} patched (no change){}", dry_suffix(dry));
    } else {
        let _ = writeln!(ctx.out, "{label} patched{}", dry_suffix(dry));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_ops() {
        let mut d = json!({"spec": {"ports": [{"port": 80}], "type": "ClusterIP"}});
        json_patch(
            &mut d,
            &json!([
                {"op": "replace", "path": "/spec/type", "value": "NodePort"},
                {"op": "add", "path": "/spec/ports/-", "value": {"port": 81}},
                {"op": "remove", "path": "/spec/ports/0"}
            ]),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"spec": {"ports": [{"port": 81}], "type": "NodePort"}})
        );
        assert!(json_patch(&mut d, &json!([{"op": "remove", "path": "/spec/nope"}])).is_err());
    }
}
