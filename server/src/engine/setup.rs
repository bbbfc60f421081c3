//! A step's setup commands: run in order on their hosts before the learner sees the step.

use labkit::Lab;

use super::runtime::LabRuntime;

/// Runs the setup commands of step `step` of `lab` in the lab `sandbox`; the first one that
/// exits non-zero ends the run with its stderr.
pub async fn run_setup(
    runtime: &dyn LabRuntime,
    lab: &Lab,
    sandbox: &str,
    step: usize,
) -> anyhow::Result<()> {
    let Some(p) = lab.step(step) else {
        return Ok(());
    };
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
