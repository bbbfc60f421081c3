//! Workshop pages and API. Instructor side (token as `Authorization: Bearer` or the login
//! cookie; 404 with a reason when the server has no token): [`instructor`] (JSON API),
//! [`events`] (the live dashboard stream), [`viewer`] (a learner's terminal, read-only),
//! [`pages`]. Learner side (the learner cookie): [`learner`] (join, `me`, raise a hand), the
//! `me/events` stream in [`events`], the join and workshop pages in [`pages`]. What a workshop
//! does is in `crate::domain::workshop`.

pub mod events;
pub mod instructor;
pub mod learner;
pub mod pages;
pub mod viewer;

use askama::Template;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use serde::de::DeserializeOwned;

use crate::store::{Member, Workshop};
use crate::web::error::{ApiError, AppError};
use crate::web::instructor as auth;
use crate::web::state::AppState;

/// A JSON body (empty means `{}`).
pub fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

/// Renders a workshop page.
pub fn render(t: &impl Template) -> Result<Html<String>, ApiError> {
    t.render()
        .map(Html)
        .map_err(|e| ApiError::from(AppError::Internal(e.into())).html())
}

/// The workshop `id`, for the instructor only.
pub async fn instructor_workshop(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Workshop, ApiError> {
    auth::instructor(state, headers)?;
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad workshop id"));
    }
    state
        .store
        .workshops()
        .workshop(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("workshop {id} not found")))
}

/// The learner's workshop membership (404 when they are in no workshop).
pub async fn my_membership(state: &AppState, learner: &str) -> Result<Member, ApiError> {
    state
        .store
        .workshops()
        .membership(learner)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "you are not in a workshop"))
}
