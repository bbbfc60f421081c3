//! `kplab labs list [DIR] [--json]`: the labs with their steps and task counts.

use serde::Serialize;

/// One lab in the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabEntry {
    /// Folder name (the id in URLs).
    pub id: String,
    /// Title.
    pub title: String,
    /// Catalog summary.
    pub summary: String,
    /// Nodes besides `client`.
    pub nodes: u8,
    /// Estimated learner time.
    pub minutes: u8,
    /// Tasks in all steps.
    pub tasks: usize,
    /// Steps in order.
    pub steps: Vec<StepEntry>,
}

/// One step of a lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepEntry {
    /// File stem.
    pub id: String,
    /// Title.
    pub title: String,
    /// Number of tasks.
    pub tasks: usize,
    /// Task ids in order.
    pub task_ids: Vec<String>,
    /// Runnable code blocks in the text.
    pub runnable_blocks: usize,
}

/// The listing of a catalog.
pub fn entries(catalog: &labkit::Catalog) -> Vec<LabEntry> {
    catalog
        .labs
        .iter()
        .map(|l| {
            let steps: Vec<StepEntry> = l
                .steps
                .iter()
                .map(|p| StepEntry {
                    id: p.id.clone(),
                    title: p.title.clone(),
                    tasks: p.tasks.len(),
                    task_ids: p.tasks.iter().map(|t| t.id.clone()).collect(),
                    runnable_blocks: p.runnable_blocks().len(),
                })
                .collect();
            LabEntry {
                id: l.id.clone(),
                title: l.title.clone(),
                summary: l.summary.clone(),
                nodes: l.nodes,
                minutes: l.minutes,
                tasks: steps.iter().map(|s| s.tasks).sum(),
                steps,
            }
        })
        .collect()
}

/// The human table: one line per lab, then its steps indented.
pub fn table(entries: &[LabEntry]) -> String {
    let mut out = format!(
        "{:<30} {:>5} {:>5} {:>5} {:>7}  TITLE\n",
        "LAB", "NODES", "STEPS", "TASKS", "MINUTES"
    );
    for l in entries {
        out.push_str(&format!(
            "{:<30} {:>5} {:>5} {:>5} {:>7}  {}\n",
            l.id,
            l.nodes,
            l.steps.len(),
            l.tasks,
            l.minutes,
            l.title
        ));
        for s in &l.steps {
            out.push_str(&format!(
                "  {:<28} {:>5} {:>5} {:>5} {:>7}  {}\n",
                s.id, "", "", s.tasks, "", s.title
            ));
        }
    }
    let tasks: usize = entries.iter().map(|l| l.tasks).sum();
    out.push_str(&format!("{} lab(s), {tasks} task(s)\n", entries.len()));
    out
}
