//! `GET /api/sessions/{id}/terminals/{host}`: the terminal WebSocket.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;

use super::find_lab;
use crate::domain::lifecycle;
use crate::engine::terminal::{pump, Frame, Shell, OPEN_SIZE};
use crate::store::{Session, Status};
use crate::web::auth::{owned_session, LearnerId};
use crate::web::error::AppError;
use crate::web::state::AppState;

/// The session's shell on `host`, started on first use.
pub(crate) async fn shell_on(
    state: &AppState,
    s: &Session,
    host: &str,
) -> Result<Arc<Shell>, AppError> {
    if let Some(sh) = state.shells.get(&s.id, host) {
        return Ok(sh);
    }
    let t = state
        .runtime
        .terminal(&s.sandbox, host, OPEN_SIZE.0, OPEN_SIZE.1)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let sh = Shell::spawn(t);
    state.shells.insert(&s.id, host, sh.clone());
    Ok(sh)
}

/// A frame from the shell as a WebSocket message.
pub(crate) fn message(f: Frame) -> Message {
    match f {
        Frame::Binary(b) => Message::Binary(b.into()),
        Frame::Text(t) => Message::Text(t.into()),
        Frame::Close => Message::Close(None),
    }
}

/// Upgrades to a WebSocket attached to the session's shell on `host` (started on first use).
pub async fn open_terminal(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path((id, host)): Path<(String, String)>,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let s = owned_session(&state, &learner, &id).await?;
    let lab = find_lab(&state, &s.lab)?;
    if !lab.hosts().contains(&host) {
        return Err(AppError::NotFound(format!("host {host}")));
    }
    if s.status != Status::Running {
        return Err(AppError::Conflict(format!(
            "the lab is {}, not running",
            s.status.as_str()
        )));
    }
    let shell = super::or_lost(&state, &s, shell_on(&state, &s, &host).await).await?;
    Ok(ws
        .max_message_size(1 << 20)
        .on_upgrade(move |socket: WebSocket| async move {
            let (tx, rx) = socket.split();
            let tx = tx.with(|f: Frame| async move { Ok::<_, axum::Error>(message(f)) });
            let rx = rx.filter_map(|m| async move {
                match m {
                    Ok(Message::Binary(b)) => Some(Ok(Frame::Binary(b.to_vec()))),
                    Ok(Message::Text(t)) => Some(Ok(Frame::Text(t.to_string()))),
                    Ok(Message::Close(_)) => Some(Ok(Frame::Close)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            });
            let st = state.clone();
            let sid = s.id.clone();
            let touched = st.clone();
            pump(Box::pin(tx), Box::pin(rx), shell.clone(), move || {
                lifecycle::touch(&touched, &sid)
            })
            .await;
            if !shell.is_closed() {
                return; // the learner left; the shell lives on
            }
            // The shell ended: a lab that broke under it is marked lost now, so the page says
            // so at its next poll instead of at the next sweep. Docker may still list a
            // container being removed as running for a moment.
            for _ in 0..3 {
                match lifecycle::verify(&st, &s).await {
                    Ok(None) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
                    Ok(Some(_)) => break,
                    Err(e) => {
                        tracing::warn!(session = %s.id, error = %e, "checking a lab after its shell ended");
                        break;
                    }
                }
            }
        }))
}
