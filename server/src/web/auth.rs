//! Learner identity: a signed cookie (`kplab_learner`) holding a random id. The middleware
//! issues one to a new browser and exposes the id to handlers as [`LearnerId`]; a request that
//! came without a valid cookie also carries [`NewLearner`], so that what needs a learner who
//! has been here before (a lab start) can refuse it.
//!
//! No learner row is written here: a request that never becomes a learner (a bot, a page
//! view) leaves nothing in the store; the handlers that need the row (start, join, name,
//! step) create it. The cookie is `Secure` when the request came over TLS
//! ([`crate::web::guard::Guard::https`]).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, SameSite, SignedCookieJar};

use super::error::AppError;
use super::guard::Client;
use super::state::AppState;
use crate::domain::lifecycle::new_learner_id;
use crate::store::Session;

/// The cookie's name.
pub const COOKIE: &str = "kplab_learner";

/// The id of the learner making the request, from the signed cookie (the learner themself,
/// with their display name, is [`crate::store::Learner`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerId(pub String);

/// Marks a request whose learner id was minted by this very request (no valid cookie came).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLearner;

/// Refuses a request of a learner without a cookie from an earlier page view: lab starts
/// (and the forms that create a learner row: name, step) need one, so a script without
/// cookies starts and stores nothing.
pub fn require_returning(new: Option<NewLearner>) -> Result<(), AppError> {
    match new {
        None => Ok(()),
        Some(NewLearner) => Err(AppError::Refused(
            "your browser sent no kplab cookie: reload the page (cookies must be on), then \
             press the button again"
                .into(),
        )),
    }
}

/// Reads or issues the learner cookie.
pub async fn learner_cookie(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let jar = SignedCookieJar::from_headers(req.headers(), state.key.clone());
    let existing = jar
        .get(COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let (id, new) = match existing {
        Some(id) => (id, false),
        None => (new_learner_id(), true),
    };
    req.extensions_mut().insert(LearnerId(id.clone()));
    if new {
        req.extensions_mut().insert(NewLearner);
    }
    let https = Client::of(&state, req.extensions(), req.headers()).https;
    let mut resp = next.run(req).await;
    if new {
        let mut c = Cookie::new(COOKIE, id);
        c.set_http_only(true);
        c.set_secure(https);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        c.set_max_age(time::Duration::days(365));
        let jar = jar.add(c);
        let with_cookie = axum::response::IntoResponse::into_response((jar, ()));
        for value in with_cookie
            .headers()
            .get_all(axum::http::header::SET_COOKIE)
        {
            resp.headers_mut()
                .append(axum::http::header::SET_COOKIE, value.clone());
        }
    }
    resp
}

/// The session `id` if it belongs to `learner`: 404 when unknown, 403 when another's.
pub async fn owned_session(
    state: &AppState,
    learner: &LearnerId,
    id: &str,
) -> Result<Session, AppError> {
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AppError::BadRequest(format!(
            "bad session id {:?}",
            id.chars().take(64).collect::<String>()
        )));
    }
    let s = state
        .store
        .session(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("session {id}")))?;
    if s.learner != learner.0 {
        return Err(AppError::Forbidden);
    }
    Ok(s)
}
