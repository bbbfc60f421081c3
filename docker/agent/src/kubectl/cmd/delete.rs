//! `kubectl delete`, waiting for the objects to go unless `--wait=false`.

use crate::kube::client::KubeObject;

use super::common::dry_run_mode;
use super::common::dry_suffix;
use super::common::finish_errors;
use super::common::SingularLabel;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::target::load_docs;
use crate::kubectl::target::named_objects;
use crate::kubectl::target::targets;
use crate::kubectl::target::Named;
use crate::kubectl::timeout::timeout_or_none;
use crate::kubectl::wait::WaitFor;

pub(crate) fn delete(ctx: &mut Ctx, a: &Args) -> R {
    let force = a.bool("force");
    let grace: Option<i64> = match a.get("grace-period") {
        Some(g) => Some(g.parse().map_err(|_| {
            Fail::Msg(format!(
                "invalid argument \"{g}\" for \"--grace-period\" flag"
            ))
        })?),
        None if a.bool("now") => Some(1),
        None => None,
    };
    let grace = if force && grace.is_none() {
        Some(0)
    } else {
        grace
    };
    let wait = a.get("wait").map(|w| w != "false").unwrap_or(true);
    let timeout = timeout_or_none(a, std::time::Duration::from_secs(120))?;
    let mut victims: Vec<Named> = Vec::new();
    let mut errors = Vec::new();
    if a.has("filename") {
        for (doc, r, ns) in load_docs(ctx, a, "delete")? {
            victims.push((r, ns, doc.object.name().to_string()));
        }
    } else {
        let t = targets("delete", &a.pos[1..]).map_err(|_| {
            Fail::Raw("error: You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'".into())
        })?;
        victims = named_objects(ctx, a, &t.groups)?;
        if victims.is_empty() {
            let _ = writeln!(ctx.err, "No resources found");
            return Ok(());
        }
    }
    if force && grace == Some(0) {
        let _ = writeln!(ctx.err, "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.");
    }
    let dry = dry_run_mode(a)?;
    let mut waits = Vec::new();
    for (r, ns, name) in victims {
        let res = if dry.is_some() {
            ctx.client.get(r, ns.as_deref(), &name)
        } else {
            ctx.client.delete(r, ns.as_deref(), &name, grace)
        };
        match res {
            Ok(_) => {
                let verb = if force && grace == Some(0) {
                    "force deleted"
                } else {
                    "deleted"
                };
                let _ = writeln!(
                    ctx.out,
                    "{} \"{name}\" {verb}{}",
                    r.singular_label(),
                    dry_suffix(dry)
                );
                if wait && dry.is_none() && r.kind == "Pod" && grace != Some(0) {
                    waits.push((r, ns, name));
                }
            }
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => errors.push(Fail::Client(e)),
        }
    }
    let _ = ctx.out.flush();
    for (r, ns, name) in waits {
        crate::kubectl::wait::wait_one(ctx, &WaitFor::Delete, r, ns.as_deref(), &name, timeout)?;
    }
    finish_errors(ctx, errors)
}
