//! The instructor's read-only view of a learner's terminal.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};

use super::instructor_workshop;
use crate::domain::workshop::ops::{self};
use crate::engine::terminal::{watch, Frame};
use crate::store::Status;
use crate::web::error::ApiError;
use crate::web::handlers::terminal::{message, shell_on};
use crate::web::state::AppState;

/// `GET /api/workshops/{id}/learners/{learner}/terminals/{host}`: a read-only WebSocket on
/// the learner's shell. It first tells the learner's terminal size (`{"type":"size",…}`, again
/// on every resize) so the viewer draws on the same grid. Input and control frames from this
/// socket are dropped here, on the server: they never reach the shell.
pub async fn view_terminal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, learner, host)): Path<(String, String, String)>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Who asks is checked before whether it is a WebSocket handshake.
    let w = instructor_workshop(&state, &headers, &id).await?;
    let ws = ws.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    ops::member(&state, &w, &learner).await?;
    let s = ops::live_in(&state, &w, &learner)
        .await?
        .filter(|s| s.status == Status::Running)
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "the learner has no lab running"))?;
    let lab = state
        .catalog
        .lab(&s.lab)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("lab {}", s.lab)))?;
    if !lab.hosts().contains(&host) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("host {host} not found"),
        ));
    }
    let shell = shell_on(&state, &s, &host).await?;
    Ok(ws
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket: WebSocket| async move {
            let (tx, rx) = socket.split();
            let tx = tx.with(|f: Frame| async move { Ok::<_, axum::Error>(message(f)) });
            // Read-only: only the close reaches the watcher; keystrokes and resizes stop here.
            let rx = rx.filter_map(|m| async move {
                match m {
                    Ok(Message::Close(_)) => Some(Ok(Frame::Close)),
                    Ok(Message::Binary(_)) | Ok(Message::Text(_)) => {
                        tracing::debug!("read-only terminal: input dropped");
                        None
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            });
            watch(Box::pin(tx), Box::pin(rx), shell).await;
        }))
}
