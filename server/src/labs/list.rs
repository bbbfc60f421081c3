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
    /// Tasks graded by packets, rules or state (a probe, rules or state check), not only by
    /// a typed answer or a command.
    pub graded: usize,
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
    /// Tasks graded by packets, rules or state.
    pub graded: usize,
    /// Ids of the tasks marked `observe: true` (they only ask the learner to look).
    pub observe: Vec<String>,
    /// An unguided challenge step (`challenge: true`).
    pub challenge: bool,
    /// The lab is complete without it (`optional: true`).
    pub optional: bool,
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
                    graded: p.tasks.iter().filter(|t| t.graded_by_cluster()).count(),
                    observe: p
                        .tasks
                        .iter()
                        .filter(|t| t.observe)
                        .map(|t| t.id.clone())
                        .collect(),
                    challenge: p.challenge,
                    optional: p.optional,
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
                graded: steps.iter().map(|s| s.graded).sum(),
                steps,
            }
        })
        .collect()
}

/// The human table: one line per lab, then its steps indented.
pub fn table(entries: &[LabEntry]) -> String {
    let mut out = format!(
        "{:<30} {:>5} {:>5} {:>5} {:>6} {:>7}  TITLE\n",
        "LAB", "NODES", "STEPS", "TASKS", "GRADED", "MINUTES"
    );
    for l in entries {
        out.push_str(&format!(
            "{:<30} {:>5} {:>5} {:>5} {:>6} {:>7}  {}\n",
            l.id,
            l.nodes,
            l.steps.len(),
            l.tasks,
            l.graded,
            l.minutes,
            l.title
        ));
        for s in &l.steps {
            let kind = match (s.challenge, s.optional) {
                (true, true) => " (challenge, optional)",
                (true, false) => " (challenge)",
                (false, true) => " (optional)",
                (false, false) => "",
            };
            out.push_str(&format!(
                "  {:<28} {:>5} {:>5} {:>5} {:>6} {:>7}  {}{kind}\n",
                s.id, "", "", s.tasks, s.graded, "", s.title
            ));
        }
    }
    let tasks: usize = entries.iter().map(|l| l.tasks).sum();
    let graded: usize = entries.iter().map(|l| l.graded).sum();
    let minutes: usize = entries.iter().map(|l| usize::from(l.minutes)).sum();
    out.push_str(&format!(
        "{} lab(s), {tasks} task(s), {graded} graded by packets, rules or state, about {minutes} minutes\n",
        entries.len()
    ));
    out
}
