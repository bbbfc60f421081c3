//! Classroom workshops (issue 8): an instructor, authenticated by the token given to
//! `kplab serve --instructor-token`, creates a workshop (labs, join code, capacity, warm
//! pool); learners join with the code and a display name; the instructor watches a live
//! dashboard and helps from it.
//!
//! - [`store`]: workshops and members in the database (migrations `0002_workshops.sql`).
//! - [`pool`]: the warm pool (pre-started labs handed to joining learners) and the fair FIFO
//!   start queue used when the pool is empty; one background task runs both.
//! - [`view`]: dashboard rows and the CSV/JSON export.
//! - [`auth`]: the instructor token (bearer header or signed cookie) and the join-code rate
//!   limit.
//!
//! Live updates: handlers and the lab lifecycle call [`Workshops::changed`] with a learner
//! (or [`on_session`] with a session); a broadcast channel carries the learner id to every
//! open dashboard stream, which re-reads only that learner's row and pushes it (no polling).

pub mod auth;
pub mod pool;
pub mod view;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::{broadcast, Notify};

use super::state::AppState;

/// `kplab serve` flags of workshops.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WorkshopArgs {
    /// Token that authenticates the instructor (pages and `Authorization: Bearer` API). Without
    /// it the instructor pages and API are off (404).
    #[arg(long, env = "KPLAB_INSTRUCTOR_TOKEN", hide_env_values = true)]
    pub instructor_token: Option<String>,
}

impl WorkshopArgs {
    /// Validates the token into the config (at least 12 printable ASCII characters).
    pub fn apply(
        self,
        config: &mut super::config::Config,
    ) -> Result<(), super::config::ConfigError> {
        match self.instructor_token.filter(|t| !t.is_empty()) {
            None => config.instructor_token = None,
            Some(t) if t.len() >= 12 && t.bytes().all(|b| b.is_ascii_graphic()) => {
                config.instructor_token = Some(t)
            }
            Some(_) => {
                return Err(super::config::ConfigError {
                    name: "--instructor-token / KPLAB_INSTRUCTOR_TOKEN",
                    reason: "must be at least 12 printable characters without spaces".into(),
                })
            }
        }
        Ok(())
    }
}

/// A learner whose dashboard row changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Workshop id.
    pub workshop: String,
    /// Learner id.
    pub learner: String,
}

/// A learner waiting for a lab in the start queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Workshop id.
    pub workshop: String,
    /// Learner id.
    pub learner: String,
    /// Lab id.
    pub lab: String,
}

/// In-memory workshop state: the change bus, the member index, the start queue, the rate
/// limiter.
pub struct Workshops {
    changes: broadcast::Sender<Change>,
    notices: broadcast::Sender<String>,
    index: Mutex<HashMap<String, String>>,
    /// FIFO start queue.
    pub queue: Mutex<VecDeque<Queued>>,
    /// Wakes the pool/queue task.
    pub wake: Notify,
    /// Serialises pool hand-overs.
    pub claim: tokio::sync::Mutex<()>,
    /// Held while the pool is topped up, and while a workshop closes or ends (so a refill
    /// that read the workshop as open cannot start labs after its pool was drained).
    pub pool_lock: tokio::sync::Mutex<()>,
    /// Failed join attempts per client address.
    pub limiter: auth::Limiter,
}

impl Default for Workshops {
    fn default() -> Self {
        Workshops {
            changes: broadcast::channel(4096).0,
            notices: broadcast::channel(256).0,
            index: Mutex::new(HashMap::new()),
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            claim: tokio::sync::Mutex::new(()),
            pool_lock: tokio::sync::Mutex::new(()),
            limiter: auth::Limiter::default(),
        }
    }
}

impl Workshops {
    /// Publishes that a learner's row changed (no-op for learners in no workshop).
    pub fn changed(&self, learner: &str) {
        let ws = self
            .index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(learner)
            .cloned();
        if let Some(workshop) = ws {
            let _ = self.changes.send(Change {
                workshop,
                learner: learner.to_string(),
            });
        }
    }

    /// Records a membership in the index and publishes the new row.
    pub fn joined(&self, workshop: &str, learner: &str) {
        self.index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(learner.to_string(), workshop.to_string());
        self.changed(learner);
    }

    /// Subscribes to row changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Publishes that a workshop's pinned message or state changed.
    pub fn notice(&self, workshop: &str) {
        let _ = self.notices.send(workshop.to_string());
    }

    /// Subscribes to workshop notices.
    pub fn subscribe_notices(&self) -> broadcast::Receiver<String> {
        self.notices.subscribe()
    }

    /// 1-based position of a learner in the start queue.
    pub fn queue_position(&self, learner: &str) -> Option<usize> {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .position(|q| q.learner == learner)
            .map(|i| i + 1)
    }

    /// Rebuilds the member index from the store (start-up).
    pub async fn load(&self, state: &AppState) -> anyhow::Result<()> {
        let members = state.store.workshops().all_members().await?;
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        for m in members {
            index.insert(m.learner, m.workshop);
        }
        Ok(())
    }
}

/// Lifecycle hook: a session changed state (running, failed, stopped); publishes its
/// current owner's row (a pool lab may have been handed over while starting) and wakes the
/// pool/queue task (a slot may have freed up).
pub fn on_session(state: &AppState, session: &str) {
    state.workshop.wake.notify_one();
    let st = state.clone();
    let id = session.to_string();
    tokio::spawn(async move {
        if let Ok(Some(s)) = st.store.session(&id).await {
            st.workshop.changed(&s.learner);
        }
    });
}

/// Middleware on the learner routes: after a non-GET request by a workshop member that
/// succeeded (a check, a reset, a phase change, a start or stop), publish their row. The
/// handlers write before they answer, so the row read afterwards is current. Requests that
/// changed nothing (refused, failed, or the panel's read-only trace and spread) recompute no
/// dashboard row.
pub async fn notify_after(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    let read_only = path.ends_with("/trace") || path.ends_with("/spread");
    let learner = (req.method() != axum::http::Method::GET && !read_only)
        .then(|| req.extensions().get::<super::auth::Learner>().cloned())
        .flatten();
    let resp = next.run(req).await;
    let changed = resp.status().is_success() || resp.status().is_redirection();
    if let (Some(l), true) = (learner, changed) {
        state.workshop.changed(&l.0);
    }
    resp
}

/// A random id of `bytes` random bytes, hex.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    data_encoding::HEXLOWER.encode(&b)
}

/// Join-code alphabet: no 0/O, 1/I/L.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A random 6-character join code (31^6, about 890 million codes).
pub fn new_join_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Normalises a join code typed by a person: trimmed, upper case; `None` if it cannot be one.
pub fn normalise_code(code: &str) -> Option<String> {
    let c = code.trim().to_ascii_uppercase();
    (c.len() >= 4 && c.len() <= 16 && c.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_unambiguous_characters() {
        for _ in 0..100 {
            let c = new_join_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{c}");
        }
        assert_eq!(normalise_code(" ab12cd ").as_deref(), Some("AB12CD"));
        assert_eq!(normalise_code("abc"), None);
        assert_eq!(normalise_code("ab-12cd"), None);
    }
}
