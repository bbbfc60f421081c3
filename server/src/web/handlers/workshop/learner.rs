//! The learner's workshop API (the learner cookie): join, their workshop, raise a hand.

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::{my_membership, parse};
use crate::domain::platform::now_ms;
use crate::domain::workshop::ops::{self, Joined};
use crate::web::auth::LearnerId;
use crate::web::error::ApiError;
use crate::web::error::AppError;
use crate::web::guard::Client;
use crate::web::state::AppState;

/// Joins under the join-code limit: an address that guessed too many wrong codes waits
/// (429); each wrong code counts against it.
pub async fn join(
    state: &AppState,
    learner: &LearnerId,
    ip: std::net::IpAddr,
    code: &str,
    name: &str,
) -> Result<Joined, ApiError> {
    if let Err(wait) = state.limits.joins.check(&ip) {
        return Err(AppError::TooMany {
            retry_after: wait,
            reason: format!("too many wrong join codes from your address; try again in {wait} s"),
        }
        .into());
    }
    Ok(ops::join(state, &learner.0, code, name, || {
        state.limits.joins.record(ip)
    })
    .await?)
}

/// `POST /api/workshops/join` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    /// Join code.
    pub code: String,
    /// Display name.
    pub name: String,
}

/// `POST /api/workshops/join` -> `{workshop, lab, session, status, position}`; the learner
/// cookie is set by the learner middleware.
pub async fn join_workshop(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    client: Client,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b: JoinBody = parse(&body)?;
    let j = join(&state, &learner, client.ip, &b.code, &b.name).await?;
    Ok(Json(joined_json(&j, &learner)))
}

fn joined_json(j: &Joined, learner: &LearnerId) -> serde_json::Value {
    json!({
        "workshop": j.workshop.id, "name": j.workshop.name, "learner": learner.0,
        "lab": j.session.as_ref().map(|s| s.lab.clone()).or_else(|| j.workshop.labs.first().cloned()),
        "session": j.session.as_ref().map(|s| s.id.clone()),
        "status": match (&j.session, j.position) {
            (Some(s), _) => s.status.as_str(),
            (None, Some(_)) => "queued",
            (None, None) => "waiting",
        },
        "position": j.position,
    })
}

/// The learner's workshop as `GET /api/workshops/me` shows it.
pub async fn me_json(state: &AppState, learner: &LearnerId) -> Result<serde_json::Value, ApiError> {
    let Some(m) = state.store.workshops().membership(&learner.0).await? else {
        return Ok(json!({ "workshop": null }));
    };
    let Some(w) = state.store.workshops().workshop(&m.workshop).await? else {
        return Ok(json!({ "workshop": null }));
    };
    let live = ops::live_in(state, &w, &learner.0).await?;
    let position = state.workshop.queue_position(&learner.0);
    Ok(json!({
        "workshop": { "id": w.id, "name": w.name, "message": w.message, "open": w.open,
                      "ended": w.ended, "ends_ms": w.ends_ms },
        "name": m.name,
        "hand": m.hand_ms > 0,
        "lab": live.as_ref().map(|s| s.lab.clone()).or_else(|| w.labs.first().cloned()),
        "session": live.as_ref().map(|s| json!({ "id": s.id, "status": s.status })),
        "position": position,
    }))
}

/// `GET /api/workshops/me`: the learner's workshop, lab, queue position, pinned message.
pub async fn get_my_workshop(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(me_json(&state, &learner).await?))
}

/// `POST /api/workshops/me/hand` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandBody {
    /// Raise (true) or lower (false).
    pub raised: bool,
}

/// `POST /api/workshops/me/hand`: "I'm stuck".
pub async fn raise_hand(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let b: HandBody = parse(&body)?;
    let m = my_membership(&state, &learner.0).await?;
    state
        .store
        .workshops()
        .set_hand(&m.workshop, &learner.0, if b.raised { now_ms() } else { 0 })
        .await?;
    state.workshop.changed(&learner.0);
    Ok(Json(json!({ "hand": b.raised })))
}
