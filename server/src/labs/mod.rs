//! `kplab labs list` and `kplab labs test`: tooling for lab authors (list the labs; run each
//! lab's reference solution against its own checks on a fresh lab cluster).
//!
//! * [`list`]: the labs of a content directory with their steps and task counts (table or
//!   JSON).
//! * [`test`]: every lab on a fresh lab cluster: per step, setup, the checks before the
//!   solution, the step's runnable code blocks, the reference solution and answers, then every
//!   check again. The checks run through the web platform's grader
//!   ([`crate::engine::grade::run_task`]) and the lab through its runtime
//!   ([`crate::engine::runtime::DockerRuntime`]): one implementation of both.

pub mod list;
pub mod test;

use std::path::Path;

/// Loads and validates the content directory; the error lists every problem with file and line.
pub fn load(dir: &Path) -> anyhow::Result<labkit::Catalog> {
    labkit::Catalog::load(dir).map_err(|d| {
        anyhow::anyhow!(
            "{d}\n{} error(s) in {} (run `kplab labs validate`)",
            d.len(),
            dir.display()
        )
    })
}
