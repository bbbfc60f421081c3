//! Terminals: one shell per (session, host) that outlives WebSocket connections, and the pump
//! between a WebSocket and that shell.
//!
//! A [`Shell`] owns the exec: a feeder task copies its output into a replay buffer (the last
//! [`REPLAY_BYTES`]) and a broadcast channel; a writer task copies queued input into it. A
//! WebSocket attaches with [`pump`]: it first receives the replay buffer (so a reconnect after
//! a network blip shows what was on the screen), then live output. Binary frames carry the
//! terminal's bytes both ways; text frames carry JSON control messages
//! (`{"type":"resize","cols":…,"rows":…}`). The shell keeps the size its learner's last resize
//! set; [`watch`] is the read-only attachment (the instructor's view): it sends that size
//! (`{"type":"size","cols":…,"rows":…}`) first and on every change, so the viewer draws the
//! output on a grid as wide as the learner's, then the output, and drops everything the viewer
//! sends. [`pump`] and [`watch`] are generic over `Sink`/`Stream` of [`Frame`], so tests drive
//! them with channels and no Docker.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::{broadcast, mpsc, watch as size_watch};

use super::runtime::{Resize, Terminal};

/// Bytes of recent output replayed to a reconnecting client.
pub const REPLAY_BYTES: usize = 64 * 1024;

/// The size (columns, rows) a shell is opened with, until its learner's terminal resizes it.
pub const OPEN_SIZE: (u16, u16) = (100, 30);

/// A WebSocket frame as the pump sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Terminal bytes.
    Binary(Vec<u8>),
    /// A JSON control message.
    Text(String),
    /// The peer closes.
    Close,
}

/// Control messages from the browser.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Control {
    /// The terminal's size changed.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// Keep-alive.
    Ping,
}

struct Replay {
    buf: VecDeque<u8>,
    closed: bool,
}

/// A live shell shared by the WebSockets attached to it over time.
pub struct Shell {
    input: mpsc::Sender<Vec<u8>>,
    output: broadcast::Sender<Vec<u8>>,
    replay: Mutex<Replay>,
    resizer: Arc<dyn Resize>,
    size: size_watch::Sender<(u16, u16)>,
}

impl Shell {
    /// Takes over a terminal opened at [`OPEN_SIZE`] and starts its feeder and writer tasks.
    pub fn spawn(t: Terminal) -> Arc<Shell> {
        let (in_tx, mut in_rx) = mpsc::channel::<Vec<u8>>(256);
        let (out_tx, _) = broadcast::channel(1024);
        let shell = Arc::new(Shell {
            input: in_tx,
            output: out_tx,
            replay: Mutex::new(Replay {
                buf: VecDeque::new(),
                closed: false,
            }),
            resizer: t.resizer,
            size: size_watch::Sender::new(OPEN_SIZE),
        });
        let mut input = t.input;
        tokio::spawn(async move {
            while let Some(bytes) = in_rx.recv().await {
                if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                    break;
                }
            }
        });
        let feeder = Arc::clone(&shell);
        let mut output = t.output;
        tokio::spawn(async move {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(bytes) if !bytes.is_empty() => feeder.feed(bytes),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "terminal output ended");
                        break;
                    }
                }
            }
            feeder.close();
        });
        shell
    }

    fn feed(&self, bytes: Vec<u8>) {
        let mut r = self.replay.lock().unwrap_or_else(|p| p.into_inner());
        r.buf.extend(bytes.iter().copied());
        let excess = r.buf.len().saturating_sub(REPLAY_BYTES);
        r.buf.drain(..excess);
        // Sent under the lock, so an attaching client sees each byte exactly once.
        let _ = self.output.send(bytes);
    }

    fn close(&self) {
        let mut r = self.replay.lock().unwrap_or_else(|p| p.into_inner());
        r.closed = true;
        let _ = self.output.send(Vec::new());
    }

    /// The shell's size (columns, rows): the last one its learner's terminal set.
    pub fn size(&self) -> (u16, u16) {
        *self.size.borrow()
    }

    /// Whether the shell has exited.
    pub fn is_closed(&self) -> bool {
        self.replay.lock().unwrap_or_else(|p| p.into_inner()).closed
    }

    fn attach(&self) -> (Vec<u8>, broadcast::Receiver<Vec<u8>>, bool) {
        let r = self.replay.lock().unwrap_or_else(|p| p.into_inner());
        (
            r.buf.iter().copied().collect(),
            self.output.subscribe(),
            r.closed,
        )
    }
}

/// Shells by (session, host).
#[derive(Default)]
pub struct Shells {
    map: Mutex<HashMap<(String, String), Arc<Shell>>>,
}

impl Shells {
    /// The live shell of (session, host), if any.
    pub fn get(&self, session: &str, host: &str) -> Option<Arc<Shell>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(session.to_string(), host.to_string()))
            .filter(|s| !s.is_closed())
            .cloned()
    }
    /// Registers a shell.
    pub fn insert(&self, session: &str, host: &str, shell: Arc<Shell>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.insert((session.to_string(), host.to_string()), shell);
    }
    /// Forgets every shell of a session (its lab stopped or was reset).
    pub fn remove_session(&self, session: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|(s, _), _| s != session);
    }
}

/// Sends a socket the shell's recent output; the live output to follow, or `None` when the
/// socket is gone or the shell has ended (then said, and the socket closed).
async fn attach_socket<S>(ws_tx: &mut S, shell: &Shell) -> Option<broadcast::Receiver<Vec<u8>>>
where
    S: Sink<Frame> + Unpin + Send,
{
    let (replay, live, closed) = shell.attach();
    if !replay.is_empty() && ws_tx.send(Frame::Binary(replay)).await.is_err() {
        return None;
    }
    if closed {
        end(ws_tx).await;
        return None;
    }
    Some(live)
}

/// Forwards one chunk of the shell's output to a socket (`who`: client or viewer, for the
/// log); false when the pump should stop (the shell ended, or the socket is gone).
async fn forward<S>(
    ws_tx: &mut S,
    out: Result<Vec<u8>, broadcast::error::RecvError>,
    who: &str,
) -> bool
where
    S: Sink<Frame> + Unpin + Send,
{
    match out {
        Ok(bytes) if bytes.is_empty() => {
            end(ws_tx).await;
            false
        }
        Ok(bytes) => ws_tx.send(Frame::Binary(bytes)).await.is_ok(),
        Err(broadcast::error::RecvError::Lagged(n)) => {
            tracing::debug!(skipped = n, who, "terminal socket lagged");
            true
        }
        Err(broadcast::error::RecvError::Closed) => false,
    }
}

/// Tells a socket the shell ended, and closes it.
async fn end<S>(ws_tx: &mut S)
where
    S: Sink<Frame> + Unpin + Send,
{
    let _ = ws_tx.send(Frame::Text(r#"{"type":"exit"}"#.into())).await;
    let _ = ws_tx.send(Frame::Close).await;
}

/// Pumps between a WebSocket (as a `Sink`/`Stream` of [`Frame`]) and a shell until either
/// side ends. `on_input` is called for each chunk the user types (idle tracking).
pub async fn pump<S, R, E>(
    mut ws_tx: S,
    mut ws_rx: R,
    shell: Arc<Shell>,
    on_input: impl Fn() + Send,
) where
    S: Sink<Frame> + Unpin + Send,
    R: Stream<Item = Result<Frame, E>> + Unpin + Send,
{
    let Some(mut live) = attach_socket(&mut ws_tx, &shell).await else {
        return;
    };
    loop {
        tokio::select! {
            out = live.recv() => if !forward(&mut ws_tx, out, "client").await {
                return;
            },
            msg = ws_rx.next() => match msg {
                Some(Ok(Frame::Binary(bytes))) => {
                    on_input();
                    if shell.input.send(bytes).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Frame::Text(text))) => match serde_json::from_str::<Control>(&text) {
                    Ok(Control::Resize { cols, rows }) if cols > 0 && rows > 0 && cols <= 1000 && rows <= 1000 => {
                        match shell.resizer.resize(cols, rows).await {
                            Ok(()) => {
                                shell.size.send_if_modified(|s| {
                                    let changed = *s != (cols, rows);
                                    *s = (cols, rows);
                                    changed
                                });
                            }
                            Err(e) => tracing::debug!(error = %e, "resize failed"),
                        }
                    }
                    Ok(Control::Ping) => {}
                    Ok(Control::Resize { .. }) | Err(_) => {
                        let msg = format!(r#"{{"type":"error","message":"bad control message: {}"}}"#, text.chars().take(60).collect::<String>().replace(['"', '\\'], "'"));
                        if ws_tx.send(Frame::Text(msg)).await.is_err() {
                            return;
                        }
                    }
                },
                Some(Ok(Frame::Close)) | None | Some(Err(_)) => return,
            },
        }
    }
}

/// The control message that tells a viewer the shell's size.
fn size_frame((cols, rows): (u16, u16)) -> Frame {
    Frame::Text(format!(r#"{{"type":"size","cols":{cols},"rows":{rows}}}"#))
}

/// Attaches a read-only viewer to a shell until either side ends: first the shell's size
/// (`{"type":"size",…}`), then the replay buffer and live output, and the size again whenever
/// the learner's terminal resizes the shell. Every frame the viewer sends except its close is
/// dropped here: nothing it sends reaches the shell.
pub async fn watch<S, R, E>(mut ws_tx: S, mut ws_rx: R, shell: Arc<Shell>)
where
    S: Sink<Frame> + Unpin + Send,
    R: Stream<Item = Result<Frame, E>> + Unpin + Send,
{
    let mut sizes = shell.size.subscribe();
    let first = *sizes.borrow_and_update();
    if ws_tx.send(size_frame(first)).await.is_err() {
        return;
    }
    let Some(mut live) = attach_socket(&mut ws_tx, &shell).await else {
        return;
    };
    loop {
        tokio::select! {
            out = live.recv() => if !forward(&mut ws_tx, out, "viewer").await {
                return;
            },
            changed = sizes.changed() => {
                if changed.is_err() {
                    return;
                }
                let size = *sizes.borrow_and_update();
                if ws_tx.send(size_frame(size)).await.is_err() {
                    return;
                }
            },
            msg = ws_rx.next() => match msg {
                Some(Ok(Frame::Close)) | None | Some(Err(_)) => return,
                Some(Ok(_)) => tracing::debug!("read-only terminal: input dropped"),
            },
        }
    }
}
