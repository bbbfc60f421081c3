//! `kubectl label`.

use crate::kube::client::KubeObject;
use serde_json::json;
use serde_json::Value;

use super::common::dry_run_mode;
use super::common::dry_suffix;
use super::common::obj_label;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::target::ns_for;
use crate::kubectl::target::one_target;

pub(crate) fn label(ctx: &mut Ctx, a: &Args) -> R {
    let (r, name, used) = one_target("label", &a.pos[1..])?;
    let specs = &a.pos[1 + used..];
    if specs.is_empty() {
        return Err(Fail::Msg("at least one label update is required".into()));
    }
    let ns = ns_for(ctx, r, false).map(String::from);
    let live = ctx.client.get(r, ns.as_deref(), &name)?;
    let current = live.labels();
    let mut patch = serde_json::Map::new();
    let mut removed_only = true;
    for spec in specs {
        if let Some(k) = spec.strip_suffix('-') {
            patch.insert(k.to_string(), Value::Null);
            if !current.contains_key(k) {
                let _ = writeln!(ctx.err, "label \"{k}\" not found.");
            }
            continue;
        }
        let Some((k, v)) = spec.split_once('=') else {
            return Err(Fail::Msg(format!("invalid label spec: {spec}")));
        };
        removed_only = false;
        if let Some(old) = current.get(k) {
            if old != v && !a.bool("overwrite") {
                return Err(Fail::Msg(format!(
                    "'{k}' already has a value ({old}), and --overwrite is false"
                )));
            }
        }
        patch.insert(k.to_string(), json!(v));
    }
    let changed = patch.iter().any(|(k, v)| match v {
        Value::Null => current.contains_key(k),
        v => current.get(k).map(String::as_str) != v.as_str(),
    });
    let label = obj_label(r, &name);
    if !changed {
        let _ = writeln!(ctx.out, "{label} not labeled");
        return Ok(());
    }
    let dry = dry_run_mode(a)?;
    if dry.is_none() {
        ctx.client.merge_patch(
            r,
            ns.as_deref(),
            &name,
            &json!({"metadata": {"labels": patch}}),
        )?;
    }
    let _ = writeln!(
        ctx.out,
        "{label} {}{}",
        if removed_only { "unlabeled" } else { "labeled" },
        dry_suffix(dry)
    );
    Ok(())
}
