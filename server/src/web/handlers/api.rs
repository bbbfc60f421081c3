//! The JSON API (`/api/…`), authenticated by the learner cookie: labs, sessions, checks.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::{find_lab, session_view, task_views};
use crate::domain::lifecycle;
use crate::domain::platform::now_ms;
use crate::store::{Status, TaskResult};
use crate::web::auth::{owned_session, require_returning, LearnerId, NewLearner};
use crate::web::error::{ApiError, AppError};
use crate::web::guard::Client;
use crate::web::state::AppState;

/// `GET /api/labs`
pub async fn list_labs(State(state): State<AppState>) -> Json<serde_json::Value> {
    let labs: Vec<_> = state
        .catalog
        .labs
        .iter()
        .map(|l| {
            json!({
                "id": l.id, "title": l.title, "summary": l.summary, "nodes": l.nodes,
                "steps": l.steps.iter().map(|p| json!({"id": p.id, "title": p.title,
                    "tasks": p.tasks.iter().map(|t| json!({"id": t.id, "title": t.title})).collect::<Vec<_>>()})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "labs": labs }))
}

/// `POST /api/labs/{lab}/sessions` -> `{id, status}` (202 while starting). 403 without a
/// learner cookie from an earlier request; 429 with `Retry-After` past the start limits.
pub async fn create_session(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    new: Option<Extension<NewLearner>>,
    client: Client,
    Path(lab): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let lab = find_lab(&state, &lab)?;
    require_returning(new.map(|Extension(n)| n))?;
    state.limits.admit_start(&learner.0, client.ip)?;
    let s = lifecycle::start(&state, &learner.0, lab).await?;
    let code = if s.status == Status::Running {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((code, Json(json!({ "id": s.id, "status": s.status }))))
}

/// Terminal WebSocket URLs of a session (`wss://` when the request came over TLS).
pub fn terminal_urls(
    headers: &HeaderMap,
    https: bool,
    lab: &labkit::Lab,
    session: &str,
) -> Vec<serde_json::Value> {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let scheme = if https { "wss" } else { "ws" };
    lab.hosts().into_iter().map(|h| json!({ "host": h, "url": format!("{scheme}://{host}/api/sessions/{session}/terminals/{h}") })).collect()
}

/// `GET /api/sessions/{id}`: status, current step, task results, terminals.
pub async fn get_session(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    client: Client,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = owned_session(&state, &learner, &id).await?;
    let lab = find_lab(&state, &s.lab)?;
    let view = session_view(&state, &s).await?;
    let mut tasks = Vec::new();
    for i in 0..lab.steps.len() {
        tasks.extend(task_views(&state, &learner.0, lab, i).await?);
    }
    let terminals = if s.status == Status::Running {
        terminal_urls(&headers, client.https, lab, &s.id)
    } else {
        Vec::new()
    };
    Ok(Json(json!({
        "id": view.id, "lab": view.lab, "status": view.status, "detail": view.detail,
        "step": view.step, "step_title": lab.step(view.step).map(|p| p.title.clone()),
        "expires_in": view.expires_in, "tasks": tasks, "terminals": terminals,
    })))
}

/// Body of a check request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// The learner's answer for `answer` checks.
    #[serde(default)]
    pub answer: Option<String>,
}

/// `POST /api/sessions/{id}/tasks/{task}/check`: runs the checks, stores the result, then answers.
pub async fn check_task(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path((id, task)): Path<(String, String)>,
    body: Option<Json<CheckBody>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = owned_session(&state, &learner, &id).await?;
    let body = body.map(|Json(b)| b).unwrap_or_default();
    if body.answer.as_ref().is_some_and(|a| a.len() > 1000) {
        return Err(AppError::BadRequest("answer is longer than 1000 characters".into()).into());
    }
    let lab = find_lab(&state, &s.lab)?;
    let (_, t) = lab
        .task(&task)
        .ok_or_else(|| AppError::NotFound(format!("task {task}")))?;
    if s.status != Status::Running {
        return Err(
            AppError::Conflict(format!("the lab is {}, not running", s.status.as_str())).into(),
        );
    }
    let t0 = std::time::Instant::now();
    let outcome = crate::engine::grade::run_task(
        state.runtime.as_ref(),
        &s.sandbox,
        t,
        body.answer.as_deref(),
    )
    .await;
    state
        .metrics
        .check_seconds
        .observe(t0.elapsed().as_secs_f64());
    for c in &outcome.checks {
        state
            .metrics
            .check_run(&c.kind, if c.passed { "passed" } else { "failed" });
    }
    let now = now_ms();
    let record = TaskResult {
        task: t.id.clone(),
        passed: outcome.passed,
        outcome: serde_json::to_string(&outcome).map_err(anyhow::Error::from)?,
        created_ms: now,
    };
    state
        .store
        .record_result(&learner.0, &s.lab, &s.id, &record)
        .await?;
    lifecycle::touch(&state, &s.id);
    Ok(Json(
        json!({ "task": outcome.task, "passed": outcome.passed, "checks": outcome.checks, "hint": outcome.hint,
                "hint_html": outcome.hint.as_deref().map(crate::web::markdown::inline), "recorded": true }),
    ))
}

/// Body of a reset request: the learner's, or the instructor's per-learner action (where
/// `scope` matters to `reset` only).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// `step` (default: back to the step's setup) or `lab` (a fresh lab, step 1).
    #[serde(default)]
    pub scope: Option<String>,
}

/// `POST /api/sessions/{id}/reset`
pub async fn reset_session(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    client: Client,
    Path(id): Path<String>,
    body: Option<Json<ResetBody>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = owned_session(&state, &learner, &id).await?;
    let scope = body
        .and_then(|Json(b)| b.scope)
        .unwrap_or_else(|| "step".into());
    if scope == "lab" {
        // A fresh lab is a start: it counts against the start limits.
        state.limits.admit_start(&learner.0, client.ip)?;
    }
    let s = lifecycle::reset(&state, &learner.0, s, &scope).await?;
    Ok(Json(
        json!({ "id": s.id, "status": s.status, "scope": scope }),
    ))
}

/// `POST /api/sessions/{id}/extend`: pushes the idle timeout.
pub async fn extend_session(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = owned_session(&state, &learner, &id).await?;
    if !s.status.is_live() {
        return Err(AppError::Conflict(format!("the lab is {}", s.status.as_str())).into());
    }
    let expires = lifecycle::extend(&state, &s).await?;
    Ok(Json(
        json!({ "id": s.id, "expires_in": (expires - now_ms()) / 1000 }),
    ))
}

/// `DELETE /api/sessions/{id}`: stops the lab (progress is kept).
pub async fn delete_session(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = owned_session(&state, &learner, &id).await?;
    if s.status.is_live() {
        lifecycle::stop(&state, &s, Status::Stopped, "stopped by the learner").await?;
    }
    Ok(Json(json!({ "id": s.id, "status": Status::Stopped })))
}
