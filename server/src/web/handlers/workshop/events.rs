//! The workshops' server-sent event streams: the instructor's live dashboard and the
//! learner's workshop notices.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures_util::Stream;
use serde_json::json;

use super::learner::me_json;
use super::{instructor_workshop, my_membership};
use crate::domain::workshop::view;
use crate::web::auth::LearnerId;
use crate::web::error::ApiError;
use crate::web::state::AppState;

enum Next {
    Row(String),
    Notice,
    Snapshot,
    Done,
}

/// `GET /api/workshops/{id}/events`: server-sent events. First `snapshot` (every row), then
/// a `row` event whenever a learner's row changes and `workshop` when the workshop does.
pub async fn stream_dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    let changes = state.workshop.subscribe();
    let notices = state.workshop.subscribe_notices();
    let stream = futures_util::stream::unfold(
        (state, w, changes, notices, true),
        |(state, mut w, mut changes, mut notices, first)| async move {
            let next = if first {
                Next::Snapshot
            } else {
                loop {
                    tokio::select! {
                        c = changes.recv() => match c {
                            Ok(c) if c.workshop == w.id => break Next::Row(c.learner),
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break Next::Snapshot,
                            Err(_) => break Next::Done,
                        },
                        n = notices.recv() => match n {
                            Ok(n) if n == w.id => break Next::Notice,
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break Next::Notice,
                            Err(_) => break Next::Done,
                        },
                    }
                }
            };
            let event = match next {
                Next::Done => return None,
                Next::Snapshot => match view::rows(&state, &w).await {
                    Ok(rows) => Event::default()
                        .event("snapshot")
                        .json_data(json!({ "workshop": w, "rows": rows })),
                    Err(_) => Ok(Event::default().comment("snapshot failed")),
                },
                Next::Notice => {
                    if let Ok(Some(fresh)) = state.store.workshops().workshop(&w.id).await {
                        w = fresh;
                    }
                    Event::default().event("workshop").json_data(&w)
                }
                Next::Row(learner) => {
                    let m = state
                        .store
                        .workshops()
                        .members(&w.id)
                        .await
                        .ok()
                        .and_then(|ms| ms.into_iter().find(|m| m.learner == learner));
                    match m {
                        Some(m) => match view::row(&state, &w, &m).await {
                            Ok(row) => Event::default().event("row").json_data(row),
                            Err(_) => Ok(Event::default().comment("row failed")),
                        },
                        None => Ok(Event::default().comment("not a member")),
                    }
                }
            };
            let event = event.unwrap_or_else(|_| Event::default().comment("encoding failed"));
            Some((Ok(event), (state, w, changes, notices, false)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// `GET /api/workshops/me/events`: SSE; a `workshop` event (the same JSON as `me`) whenever
/// the instructor pins a message, closes or ends the workshop.
pub async fn stream_my_workshop(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let m = my_membership(&state, &learner.0).await?;
    let notices = state.workshop.subscribe_notices();
    let stream = futures_util::stream::unfold(
        (state, learner, m.workshop, notices),
        |(state, learner, ws, mut notices)| async move {
            loop {
                match notices.recv().await {
                    Ok(n) if n != ws => continue,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(_) => return None,
                }
            }
            let event = match me_json(&state, &learner).await {
                Ok(j) => Event::default()
                    .event("workshop")
                    .json_data(j)
                    .unwrap_or_else(|_| Event::default().comment("encoding failed")),
                Err(_) => Event::default().comment("read failed"),
            };
            Some((Ok(event), (state, learner, ws, notices)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
