//! `kplab bench workshop` (placeholder until the benchmark lands).

use serde::Serialize;

/// Flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Learners joining at once.
    #[arg(long, default_value_t = 50)]
    pub learners: usize,
    /// Warm pool size for the pooled run (default: one lab per learner).
    #[arg(long)]
    pub warm_pool: Option<usize>,
}

/// Figures.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Learners.
    pub learners: usize,
}

impl Report {
    /// Human-readable lines.
    pub fn render(&self) -> String {
        format!("{} learners", self.learners)
    }
}

/// Runs the benchmark.
pub async fn run(args: Args) -> anyhow::Result<Report> {
    Ok(Report {
        learners: args.learners,
    })
}
