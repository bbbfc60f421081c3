//! Server-rendered pages: the catalog, a lab's page (phase text, tasks, terminal), and the
//! form actions behind its buttons (start, stop, reset, extend, change phase).

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;

use super::{session_view, task_views, SessionView, TaskView};
use crate::web::auth::Learner;
use crate::web::error::AppError;
use crate::web::lifecycle;
use crate::web::state::{now_ms, AppState};
use crate::web::store::Status;

/// A catalog row.
pub struct LabCard {
    /// Lab id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Summary.
    pub summary: String,
    /// Estimated learner time in minutes.
    pub minutes: u8,
    /// Tasks passed.
    pub passed: usize,
    /// Tasks.
    pub total: usize,
    /// Live session status, if any.
    pub status: Option<String>,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    labs: Vec<LabCard>,
    name: String,
}

fn render(t: &impl Template) -> Result<Html<String>, AppError> {
    t.render()
        .map(Html)
        .map_err(|e| AppError::Internal(e.into()))
}

/// `GET /`
pub async fn get_catalog(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
) -> Result<Html<String>, AppError> {
    let mut labs = Vec::new();
    for l in &state.catalog.labs {
        let results = state.store.results(&learner.0, &l.id).await?;
        let total: usize = l.phases.iter().map(|p| p.tasks.len()).sum();
        let live = state.store.live_session(&learner.0, &l.id).await?;
        labs.push(LabCard {
            id: l.id.clone(),
            title: l.title.clone(),
            summary: l.summary.clone(),
            minutes: l.minutes,
            passed: results.iter().filter(|r| r.passed).count(),
            total,
            status: live.map(|s| s.status.as_str().to_string()),
        });
    }
    let name = state
        .store
        .learner(&learner.0)
        .await?
        .map(|l| l.name)
        .unwrap_or_default();
    render(&CatalogPage { labs, name })
}

/// Display name form.
#[derive(Debug, Deserialize)]
pub struct NameForm {
    /// The optional display name (up to 64 characters).
    pub name: String,
}

/// `POST /name`: sets the learner's display name.
pub async fn post_name(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    Form(f): Form<NameForm>,
) -> Result<Response, AppError> {
    let name = f.name.trim();
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "a name is at most 64 printable characters".into(),
        ));
    }
    state.store.upsert_learner(&learner.0, "", now_ms()).await?;
    state
        .store
        .upsert_learner(&learner.0, name, now_ms())
        .await?;
    Ok(Redirect::to("/").into_response())
}

/// A phase link.
pub struct PhaseLink {
    /// Index.
    pub index: usize,
    /// Title.
    pub title: String,
    /// Is it the one shown?
    pub current: bool,
}

#[derive(Template)]
#[template(path = "lab.html")]
struct LabPage<'a> {
    lab: &'a labkit::Lab,
    phases: Vec<PhaseLink>,
    phase: usize,
    phase_title: String,
    phase_html: &'a str,
    intro_html: &'a str,
    tasks: Vec<TaskView>,
    session: Option<SessionView>,
    hosts: Vec<String>,
    idle_secs: u64,
}

/// `?phase=N`
#[derive(Debug, Deserialize)]
pub struct PhaseQuery {
    /// Phase index to show (1-based in URLs).
    pub phase: Option<usize>,
}

/// `GET /labs/{lab}`
pub async fn get_lab(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    Path(lab_id): Path<String>,
    Query(q): Query<PhaseQuery>,
) -> Result<Html<String>, AppError> {
    let lab = state
        .catalog
        .lab(&lab_id)
        .ok_or_else(|| AppError::NotFound(format!("lab {lab_id}")))?;
    let stored = state.store.phase(&learner.0, &lab.id).await?;
    let phase = match q.phase {
        Some(p) if p >= 1 && p <= lab.phases.len() => p - 1,
        Some(p) => {
            return Err(AppError::BadRequest(format!(
                "phase must be 1..{}, not {p}",
                lab.phases.len()
            )))
        }
        None => stored.min(lab.phases.len().saturating_sub(1)),
    };
    let session = match state.store.latest_session(&learner.0, &lab.id).await? {
        Some(s) => Some(session_view(&state, &s).await?),
        None => None,
    };
    let page = LabPage {
        lab,
        phases: lab
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| PhaseLink {
                index: i + 1,
                title: p.title.clone(),
                current: i == phase,
            })
            .collect(),
        phase: phase + 1,
        phase_title: lab.phases[phase].title.clone(),
        phase_html: state
            .html
            .get(&(lab.id.clone(), phase))
            .map(String::as_str)
            .unwrap_or(""),
        intro_html: state
            .html
            .get(&(lab.id.clone(), usize::MAX))
            .map(String::as_str)
            .unwrap_or(""),
        tasks: task_views(&state, &learner.0, lab, phase).await?,
        session,
        hosts: lab.hosts(),
        idle_secs: state.config.idle.as_secs(),
    };
    render(&page)
}

/// `POST /labs/{lab}/start`: starts (or restarts) the lab, or shows the "full" page (503).
pub async fn post_start(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    Path(lab_id): Path<String>,
) -> Result<Response, AppError> {
    let lab = state
        .catalog
        .lab(&lab_id)
        .ok_or_else(|| AppError::NotFound(format!("lab {lab_id}")))?;
    lifecycle::start(&state, &learner.0, lab).await?;
    Ok(Redirect::to(&format!("/labs/{lab_id}")).into_response())
}

async fn live(
    state: &AppState,
    learner: &Learner,
    lab_id: &str,
) -> Result<crate::web::store::Session, AppError> {
    state
        .store
        .live_session(&learner.0, lab_id)
        .await?
        .ok_or_else(|| AppError::Conflict(format!("lab {lab_id} is not running")))
}

/// `POST /labs/{lab}/stop`
pub async fn post_stop(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    Path(lab_id): Path<String>,
) -> Result<Response, AppError> {
    let s = live(&state, &learner, &lab_id).await?;
    lifecycle::stop(&state, &s, Status::Stopped, "stopped by the learner").await?;
    Ok(Redirect::to(&format!("/labs/{lab_id}")).into_response())
}

/// Reset form.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    /// `phase` or `lab`.
    pub scope: String,
}

/// `POST /labs/{lab}/reset`
pub async fn post_reset(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    Path(lab_id): Path<String>,
    Form(f): Form<ResetForm>,
) -> Result<Response, AppError> {
    let s = live(&state, &learner, &lab_id).await?;
    super::api::reset(&state, &learner, s, &f.scope).await?;
    Ok(Redirect::to(&format!("/labs/{lab_id}")).into_response())
}

/// `POST /labs/{lab}/extend`
pub async fn post_extend(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    Path(lab_id): Path<String>,
) -> Result<Response, AppError> {
    let s = live(&state, &learner, &lab_id).await?;
    lifecycle::extend(&state, &s).await?;
    Ok(Redirect::to(&format!("/labs/{lab_id}")).into_response())
}

/// Phase form.
#[derive(Debug, Deserialize)]
pub struct PhaseForm {
    /// 1-based phase.
    pub phase: usize,
}

/// `POST /labs/{lab}/phase`: moves to a phase and runs its setup in the running lab.
pub async fn post_phase(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    Path(lab_id): Path<String>,
    Form(f): Form<PhaseForm>,
) -> Result<Response, AppError> {
    let lab = state
        .catalog
        .lab(&lab_id)
        .ok_or_else(|| AppError::NotFound(format!("lab {lab_id}")))?;
    if f.phase == 0 || f.phase > lab.phases.len() {
        return Err(AppError::BadRequest(format!(
            "phase must be 1..{}, not {}",
            lab.phases.len(),
            f.phase
        )));
    }
    state.store.upsert_learner(&learner.0, "", now_ms()).await?;
    state
        .store
        .set_phase(&learner.0, &lab.id, f.phase - 1, now_ms())
        .await?;
    if let Some(s) = state.store.live_session(&learner.0, &lab.id).await? {
        if s.status == Status::Running {
            lifecycle::run_setup(&state, &s, f.phase - 1)
                .await
                .map_err(AppError::Internal)?;
        }
    }
    Ok(Redirect::to(&format!("/labs/{lab_id}")).into_response())
}
