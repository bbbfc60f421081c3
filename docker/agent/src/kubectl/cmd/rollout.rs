//! `kubectl rollout status|restart`.

use serde_json::Value;

use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::target::ns_for;
use crate::kubectl::target::one_target;
use crate::kubectl::timeout::timeout_or_none;

/// `kubectl rollout status deployment/NAME [--watch=false] [--timeout=D]`: waits until the
/// Deployment's controller has observed its spec and every replica is updated and available,
/// printing kubectl's progress lines (its DeploymentStatusViewer wording).
pub(crate) fn rollout(ctx: &mut Ctx, a: &Args) -> R {
    let sub = a.pos.get(1).map(String::as_str).unwrap_or("");
    if sub != "status" {
        let what = if sub.is_empty() {
            "error: kplab's kubectl supports only \"kubectl rollout status\"".to_string()
        } else {
            format!("error: unknown command \"{sub}\" for \"kubectl rollout\"\nRun 'kubectl rollout --help' for usage.")
        };
        return Err(Fail::Raw(what));
    }
    let (r, name, _) = one_target("rollout status", &a.pos[2..])?;
    if r.kind != "Deployment" {
        return Err(Fail::Msg(format!(
            "no status viewer has been implemented for {}",
            r.kind
        )));
    }
    let ns = ns_for(ctx, r, false).map(String::from);
    let watch = a.get("watch").map(|w| w != "false").unwrap_or(true);
    let timeout = timeout_or_none(a, std::time::Duration::from_secs(86400))?;
    let start = std::time::Instant::now();
    let mut last = String::new();
    loop {
        let d = ctx.client.get(r, ns.as_deref(), &name)?;
        let (line, done) = deployment_rollout_line(&d, &name);
        if line != last {
            let _ = write!(ctx.out, "{line}");
            last = line;
        }
        if done || !watch {
            return Ok(());
        }
        if start.elapsed() > timeout {
            return Err(Fail::Msg("timed out waiting for the condition".into()));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// kubectl's status line for a Deployment and whether the rollout is complete.
pub(crate) fn deployment_rollout_line(d: &Value, name: &str) -> (String, bool) {
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let generation = int(&d["metadata"]["generation"]);
    let st = &d["status"];
    if generation > int(&st["observedGeneration"]) {
        return (
            "Waiting for deployment spec update to be observed...\n".into(),
            false,
        );
    }
    let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let (updated, total, available) = (
        int(&st["updatedReplicas"]),
        int(&st["replicas"]),
        int(&st["availableReplicas"]),
    );
    if updated < want {
        return (format!("Waiting for deployment \"{name}\" rollout to finish: {updated} out of {want} new replicas have been updated...\n"), false);
    }
    if total > updated {
        return (format!("Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...\n", total - updated), false);
    }
    if available < updated {
        return (format!("Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available...\n"), false);
    }
    (
        format!("deployment \"{name}\" successfully rolled out\n"),
        true,
    )
}
