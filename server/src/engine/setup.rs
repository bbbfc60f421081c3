//! A step's setup: the kube-proxy mode the step runs in, then its commands in order on their
//! hosts, before the learner sees the step.

use anyhow::Context;
use labkit::Lab;

use super::proxy_mode::{ensure_proxy_mode, SWITCH_TIMEOUT};
use super::runtime::LabRuntime;

/// Sets up step `step` of `lab` in the lab `sandbox`: switches kube-proxy to the step's mode
/// when the lab names one ([`Lab::proxy_mode_at`], [`ensure_proxy_mode`]), then runs the
/// step's setup commands; the first one that exits non-zero ends the run with its stderr.
/// Lab start, a step change and a step reset all come here.
pub async fn run_setup(
    runtime: &dyn LabRuntime,
    lab: &Lab,
    sandbox: &str,
    step: usize,
) -> anyhow::Result<()> {
    let Some(p) = lab.step(step) else {
        return Ok(());
    };
    if let Some(mode) = lab.proxy_mode_at(step) {
        ensure_proxy_mode(runtime, sandbox, lab.nodes, mode, SWITCH_TIMEOUT)
            .await
            .with_context(|| format!("step {}: kube-proxy in {mode} mode", p.id))?;
    }
    for cmd in &p.setup {
        let out = runtime
            .exec(sandbox, &cmd.host, &["sh", "-c", &cmd.run])
            .await?;
        if out.code != 0 {
            anyhow::bail!(
                "setup `{}` on {} exited {}: {}",
                cmd.run,
                cmd.host,
                out.code,
                out.stderr.trim()
            );
        }
    }
    Ok(())
}
