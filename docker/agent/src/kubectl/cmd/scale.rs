//! `kubectl scale`.

use serde_json::json;

use super::common::dry_run_mode;
use super::common::dry_suffix;
use super::common::obj_label;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::target::ns_for;
use crate::kubectl::target::one_target;

pub(crate) fn scale(ctx: &mut Ctx, a: &Args) -> R {
    let Some(rep) = a.get("replicas") else {
        return Err(Fail::Raw(
            "error: required flag(s) \"replicas\" not set".into(),
        ));
    };
    let n: i64 = rep.parse().map_err(|_| Fail::Msg(format!("invalid argument \"{rep}\" for \"--replicas\" flag: strconv.ParseInt: parsing \"{rep}\": invalid syntax")))?;
    if n < 0 {
        return Err(Fail::Msg(
            "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0"
                .into(),
        ));
    }
    let (r, name, _) = one_target("scale", &a.pos[1..])?;
    if r.kind != "Deployment" {
        return Err(Fail::Msg(format!(
            "cannot scale {}: kplab scales deployments only",
            r.plural
        )));
    }
    let ns = ns_for(ctx, r, false).map(String::from);
    let dry = dry_run_mode(a)?;
    if dry.is_some() {
        ctx.client.get(r, ns.as_deref(), &name)?;
    } else {
        ctx.client
            .merge_patch(r, ns.as_deref(), &name, &json!({"spec": {"replicas": n}}))?;
    }
    let _ = writeln!(ctx.out, "{} scaled{}", obj_label(r, &name), dry_suffix(dry));
    Ok(())
}
