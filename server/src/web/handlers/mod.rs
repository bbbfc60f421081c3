//! Request handlers, one module per resource, named verb_noun.

pub mod api;
pub mod health;
pub mod pages;
pub mod panel;
pub mod terminal;
pub mod workshop;

use labkit::wire::TaskOutcome;
use serde::Serialize;

use super::error::AppError;
use super::markdown;
use super::state::AppState;
use crate::domain::lifecycle;
use crate::domain::platform::now_ms;
use crate::store::{Session, Status, TaskResult};

/// A task's state for pages and the API.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    /// Task id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The title's markdown as sanitised inline HTML.
    pub title_html: String,
    /// Hints in the order the page reveals them (where to look, then the command), as
    /// sanitised inline HTML.
    pub hints: Vec<String>,
    /// Question of its answer check, if any.
    pub question: Option<String>,
    /// Ever passed.
    pub passed: bool,
    /// Checked at least once.
    pub checked: bool,
    /// Only asks the learner to look (`observe: true`).
    pub observe: bool,
    /// The latest outcome.
    pub outcome: Option<TaskOutcome>,
}

/// A session for pages and the API.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    /// Id.
    pub id: String,
    /// Lab id.
    pub lab: String,
    /// Status.
    pub status: Status,
    /// Why failed/lost.
    pub detail: String,
    /// Current step (0-based).
    pub step: usize,
    /// Seconds until the idle timeout stops the lab (live labs).
    pub expires_in: Option<i64>,
}

impl TaskView {
    /// The views of the tasks of a lab's step (none past the last step), as `results` left them.
    pub fn of_step(lab: &labkit::Lab, step: usize, results: &[TaskResult]) -> Vec<TaskView> {
        let Some(p) = lab.step(step) else {
            return Vec::new();
        };
        p.tasks
            .iter()
            .map(|t| {
                let r = results.iter().find(|r| r.task == t.id);
                TaskView {
                    id: t.id.clone(),
                    title: t.title.clone(),
                    title_html: markdown::inline(&t.title),
                    hints: t.hints().iter().map(|h| markdown::inline(h)).collect(),
                    question: t.question().map(str::to_string),
                    passed: r.is_some_and(|r| r.passed),
                    checked: r.is_some(),
                    observe: t.observe,
                    outcome: r.and_then(|r| serde_json::from_str(&r.outcome).ok()),
                }
            })
            .collect()
    }
}

impl SessionView {
    /// The view of a session whose learner is at `step` of its lab.
    pub fn of(s: &Session, step: usize) -> SessionView {
        SessionView {
            id: s.id.clone(),
            lab: s.lab.clone(),
            status: s.status,
            detail: s.detail.clone(),
            step,
            expires_in: s
                .status
                .is_live()
                .then(|| ((s.expires_ms - now_ms()) / 1000).max(0)),
        }
    }
}

/// The catalog's lab `id` (404 when there is none).
pub fn find_lab<'a>(state: &'a AppState, id: &str) -> Result<&'a labkit::Lab, AppError> {
    state
        .catalog
        .lab(id)
        .ok_or_else(|| AppError::NotFound(format!("lab {id}")))
}

/// Builds the task views of a learner's step in a lab.
pub async fn task_views(
    state: &AppState,
    learner: &str,
    lab: &labkit::Lab,
    step: usize,
) -> Result<Vec<TaskView>, super::error::AppError> {
    let results = state.store.results(learner, &lab.id).await?;
    Ok(TaskView::of_step(lab, step, &results))
}

/// A session view.
pub async fn session_view(
    state: &AppState,
    s: &Session,
) -> Result<SessionView, super::error::AppError> {
    let step = state.store.step(&s.learner, &s.lab).await?;
    Ok(SessionView::of(s, step))
}

/// A call's outcome (a panel view, a terminal) on a lab that may have broken from outside: when the call failed
/// inside the lab, the lab is checked, and a lab found broken is marked lost at once and the
/// answer says so (409) instead of an internal error.
pub async fn or_lost<T>(
    state: &AppState,
    s: &Session,
    r: Result<T, AppError>,
) -> Result<T, AppError> {
    match r {
        Err(AppError::Internal(e)) => match lifecycle::verify(state, s).await {
            Ok(Some(detail)) => Err(AppError::Conflict(format!(
                "your lab stopped working ({detail}); reload the page to restart it"
            ))),
            _ => Err(AppError::Internal(e)),
        },
        other => other,
    }
}
