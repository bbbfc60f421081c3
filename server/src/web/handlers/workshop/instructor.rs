//! The instructor's workshop API (token as `Authorization: Bearer` or the login cookie; 404
//! with a reason when the server has no token): create, list, dashboard, close/open/end/
//! extend/broadcast, export, per-learner reset/restart/extend.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{instructor_workshop, parse};
use crate::domain::lifecycle;
use crate::domain::platform::now_ms;
use crate::domain::workshop::ops::{self};
use crate::domain::workshop::{pool, view};
use crate::store::Status;
use crate::web::auth::LearnerId;
use crate::web::error::ApiError;
use crate::web::handlers::api::ResetBody;
use crate::web::instructor as auth;
use crate::web::state::AppState;

/// `POST /api/workshops` -> `{id, join_code}`
pub async fn create_workshop(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::instructor(&state, &headers)?;
    let w = ops::create(&state, parse(&body)?).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": w.id, "join_code": w.join_code, "join_url": format!("/j/{}", w.join_code) })),
    )
        .into_response())
}

/// `GET /api/workshops`
pub async fn list_workshops(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth::instructor(&state, &headers)?;
    let ws = state.store.workshops().workshops().await?;
    Ok(Json(json!({ "workshops": ws })))
}

/// `GET /api/workshops/{id}`
pub async fn get_workshop(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    Ok(Json(json!(w)))
}

/// `GET /api/workshops/{id}/dashboard`: a row per learner.
pub async fn get_dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    let rows = view::rows(&state, &w).await?;
    Ok(Json(json!({ "workshop": w, "rows": rows })))
}

/// `POST /api/workshops/{id}/close`: no more joins (the warm pool is stopped).
pub async fn close_workshop(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set_open(&state, &headers, &id, false).await
}

/// `POST /api/workshops/{id}/open`: joining again.
pub async fn open_workshop(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set_open(&state, &headers, &id, true).await
}

/// Opens or closes the instructor's workshop `id` to joins.
async fn set_open(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    open: bool,
) -> Result<Json<serde_json::Value>, ApiError> {
    let w = instructor_workshop(state, headers, id).await?;
    let w = ops::set_open(state, w, open).await?;
    Ok(Json(json!({ "id": w.id, "open": w.open })))
}

/// `POST /api/workshops/{id}/end`: closes joining and stops every lab; results are kept.
pub async fn end_workshop(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut w = instructor_workshop(&state, &headers, &id).await?;
    let stopped = pool::end(&state, &mut w).await?;
    Ok(Json(
        json!({ "id": w.id, "ended": true, "labs_stopped": stopped }),
    ))
}

/// `POST /api/workshops/{id}/extend` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// Minutes to add to the end time.
    pub minutes: i64,
}

/// `POST /api/workshops/{id}/extend`: pushes the end time.
pub async fn extend_workshop(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut w = instructor_workshop(&state, &headers, &id).await?;
    let b: ExtendBody = parse(&body)?;
    if !(1..=24 * 60).contains(&b.minutes) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "minutes must be 1-1440",
        ));
    }
    if w.ended {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the workshop has ended",
        ));
    }
    w.ends_ms = w.ends_ms.max(now_ms()) + b.minutes * 60_000;
    state.store.workshops().update_workshop(&w).await?;
    state.workshop.notice(&w.id);
    Ok(Json(json!({ "id": w.id, "ends_ms": w.ends_ms })))
}

/// `POST /api/workshops/{id}/broadcast` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastBody {
    /// The message pinned on every learner's page ("" removes it).
    pub message: String,
}

/// `POST /api/workshops/{id}/broadcast`: pins a message on every learner's page.
pub async fn broadcast_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut w = instructor_workshop(&state, &headers, &id).await?;
    let b: BroadcastBody = parse(&body)?;
    let message = b.message.trim().to_string();
    if message.chars().count() > 500 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "message is longer than 500 characters",
        ));
    }
    w.message = message;
    state.store.workshops().update_workshop(&w).await?;
    state.workshop.notice(&w.id);
    Ok(Json(json!({ "id": w.id, "message": w.message })))
}

/// `?format=csv|json`
#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// `GET /api/workshops/{id}/export?format=csv|json`: every learner x task.
pub async fn export_results(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    let rows = view::export(&state, &w).await?;
    let file = format!("workshop-{}", w.id);
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok((
            [(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}.json\""),
            )],
            Json(json!({ "workshop": w, "results": rows })),
        )
            .into_response()),
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}.csv\""),
                ),
            ],
            view::to_csv(&rows),
        )
            .into_response()),
        other => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("format must be csv or json, not {other:?}"),
        )),
    }
}

/// `POST /api/workshops/{id}/learners/{learner}/{action}`: `reset` (`{"scope":"step"|"lab"}`),
/// `restart` (a fresh lab, progress kept) or `extend` (the idle timeout).
pub async fn act_on_learner(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, learner, action)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    ops::member(&state, &w, &learner).await?;
    let b: ResetBody = parse(&body)?;
    let live = ops::live_in(&state, &w, &learner).await?;
    let who = LearnerId(learner.clone());
    let out = match action.as_str() {
        "reset" => {
            let s = live.ok_or_else(|| {
                ApiError::new(StatusCode::CONFLICT, "the learner has no lab running")
            })?;
            let scope = b.scope.unwrap_or_else(|| "step".into());
            let s = crate::domain::lifecycle::reset(&state, &who.0, s, &scope).await?;
            json!({ "session": s.id, "status": s.status, "scope": scope })
        }
        "restart" => {
            let lab_id = match &live {
                Some(s) => s.lab.clone(),
                None => {
                    view::row(&state, &w, &ops::member(&state, &w, &learner).await?)
                        .await?
                        .lab
                }
            };
            if let Some(s) = &live {
                lifecycle::stop(&state, s, Status::Stopped, "restarted by the instructor").await?;
            }
            let lab = state
                .catalog
                .lab(&lab_id)
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("lab {lab_id}")))?;
            let s = lifecycle::start(&state, &learner, lab).await?;
            json!({ "session": s.id, "status": s.status })
        }
        "extend" => {
            let s = live.ok_or_else(|| {
                ApiError::new(StatusCode::CONFLICT, "the learner has no lab running")
            })?;
            let expires = lifecycle::extend(&state, &s).await?;
            json!({ "session": s.id, "expires_in": (expires - now_ms()) / 1000 })
        }
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no action {other:?}: reset, restart or extend"),
            ))
        }
    };
    state.workshop.changed(&learner);
    Ok(Json(out))
}
