//! A step's setup commands: run in order on their hosts before the learner sees the step.

use labkit::Lab;

use super::runtime::LabRuntime;

/// Runs the setup commands of phase `phase` of `lab` in the lab `sandbox`; the first one that
/// exits non-zero ends the run with its stderr.
pub async fn run_setup(
    runtime: &dyn LabRuntime,
    lab: &Lab,
    sandbox: &str,
    phase: usize,
) -> anyhow::Result<()> {
    let Some(p) = lab.phase(phase) else {
        return Ok(());
    };
    for step in &p.setup {
        let out = runtime
            .exec(sandbox, &step.host, &["sh", "-c", &step.run])
            .await?;
        if out.code != 0 {
            anyhow::bail!(
                "setup `{}` on {} exited {}: {}",
                step.run,
                step.host,
                out.code,
                out.stderr.trim()
            );
        }
    }
    Ok(())
}
