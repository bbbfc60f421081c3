//! `kubectl apply`: client-side apply with the last-applied-configuration annotation.

use crate::kube::client::KubeObject;
use serde_json::json;
use serde_json::Value;

use super::common::dry_run_mode;
use super::common::dry_suffix;
use super::common::finish_errors;
use super::common::obj_label;
use super::common::wrap_when;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::format::explicit_format;
use crate::kubectl::format::print_generic;
use crate::kubectl::output;
use crate::kubectl::target::load_docs;

pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether `want` (from a manifest) is already satisfied by `have` (live): every field in
/// `want` is present and equal; lists compare element-wise the same way, so server-side
/// defaults in live objects do not count as differences.
pub(crate) fn subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, v)| {
            h.get(k).is_some_and(|hv| subset(v, hv)) || (v.is_null() && !h.contains_key(k))
        }),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(x, y)| subset(x, y))
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => want == have,
    }
}

/// The merge patch `kubectl apply` sends: fields of the new configuration that differ from the
/// live object, and `null` for fields the previous configuration had and the new one dropped.
pub(crate) fn apply_patch(last: Option<&Value>, new: &Value, live: &Value) -> Value {
    let mut patch = serde_json::Map::new();
    if let (Value::Object(n), Value::Object(l)) = (new, live) {
        for (k, v) in n {
            match l.get(k) {
                Some(lv) if subset(v, lv) => {}
                Some(lv) if v.is_object() && lv.is_object() => {
                    let sub = apply_patch(last.and_then(|x| x.get(k)), v, lv);
                    if sub.as_object().is_some_and(|m| !m.is_empty()) {
                        patch.insert(k.clone(), sub);
                    }
                }
                _ => {
                    patch.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(Value::Object(old)) = last {
            for k in old.keys() {
                if !n.contains_key(k) && l.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
        }
    }
    Value::Object(patch)
}

pub(crate) fn with_last_applied(obj: &Value) -> (Value, String) {
    let mut cfg = obj.clone();
    if let Some(m) = cfg
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        m.remove(LAST_APPLIED);
        if m.is_empty() {
            if let Some(md) = cfg.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                md.remove("annotations");
            }
        }
    }
    let text = format!("{}\n", output::go_json_compact(&cfg));
    let mut out = obj.clone();
    if let Some(md) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = md.entry("annotations").or_insert_with(|| json!({}));
        if let Some(m) = ann.as_object_mut() {
            m.insert(LAST_APPLIED.into(), json!(text));
        }
    }
    (out, text)
}

pub(crate) fn apply(ctx: &mut Ctx, a: &Args) -> R {
    let dry = dry_run_mode(a)?;
    let fmt = explicit_format(a)?;
    let docs = load_docs(ctx, a, "apply")?;
    let mut errors = Vec::new();
    for (doc, r, ns) in docs {
        let name = doc.object.name().to_string();
        let mut obj = doc.object.clone();
        if let (Some(ns), Some(md)) = (&ns, obj.get_mut("metadata").and_then(Value::as_object_mut))
        {
            md.insert("namespace".into(), json!(ns));
        }
        let (desired, _) = with_last_applied(&obj);
        let label = obj_label(r, &name);
        let live = match ctx.client.get(r, ns.as_deref(), &name) {
            Ok(v) => Some(v),
            Err(e) if e.is_not_found() => None,
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => {
                errors.push(Fail::Raw(format!(
                    "{} when retrieving \"{}\"",
                    crate::kubectl::ctx::client_error_text(&e),
                    doc.source
                )));
                continue;
            }
        };
        let result = match live {
            None => {
                if dry == Some("client") {
                    Ok((desired.clone(), "created"))
                } else {
                    ctx.client
                        .create(r, ns.as_deref(), &desired)
                        .map(|v| (v, "created"))
                }
            }
            Some(live) => {
                let last: Option<Value> = live
                    .annotations()
                    .get(LAST_APPLIED)
                    .and_then(|t| serde_json::from_str(t).ok());
                if last.is_none() {
                    let _ = writeln!(
                        ctx.err,
                        "Warning: resource {}/{name} is missing the {LAST_APPLIED} annotation which is required by kubectl apply. kubectl apply should only be used on resources created declaratively by either kubectl create --save-config or kubectl apply. The missing annotation will be patched automatically.",
                        r.plural
                    );
                }
                let mut patch = apply_patch(last.as_ref(), &obj, &live);
                if patch.as_object().is_some_and(|m| {
                    m.is_empty()
                        || (m.len() == 1
                            && m.get("metadata")
                                .is_some_and(|md| md.as_object().is_some_and(|x| x.is_empty())))
                }) && last.is_some()
                {
                    Ok((live.clone(), "unchanged"))
                } else {
                    let (_, text) = with_last_applied(&obj);
                    let md = patch
                        .as_object_mut()
                        .map(|p| p.entry("metadata").or_insert_with(|| json!({})));
                    if let Some(md) = md {
                        md["annotations"][LAST_APPLIED] = json!(text);
                    }
                    if dry == Some("client") {
                        Ok((live.clone(), "configured"))
                    } else {
                        ctx.client
                            .merge_patch(r, ns.as_deref(), &name, &patch)
                            .map(|v| (v, "configured"))
                    }
                }
            }
        };
        match result {
            Ok((v, verb)) => match &fmt {
                Some(f) => print_generic(ctx, f, vec![v], true)?,
                None => {
                    let _ = writeln!(ctx.out, "{label} {verb}{}", dry_suffix(dry));
                }
            },
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => errors.push(Fail::Raw(wrap_when(&e, "creating", &doc.source))),
        }
    }
    finish_errors(ctx, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_patch_ignores_server_defaults() {
        let new = json!({"spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}});
        let live = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "selector": {"app": "web"}, "clusterIP": "10.96.0.9"}});
        assert_eq!(apply_patch(Some(&new), &new, &live), json!({}));
        let newer = json!({"spec": {"ports": [{"port": 81}]}});
        assert_eq!(
            apply_patch(Some(&new), &newer, &live),
            json!({"spec": {"ports": [{"port": 81}], "selector": null}})
        );
    }
}
