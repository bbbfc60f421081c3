//! Learners, lab sessions, progress (current step), task results and events: the [`Store`]
//! trait the server holds as `Arc<dyn Store>`, and what it reads and writes. Times are unix
//! milliseconds.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::error::StoreError;
use super::snapshots::SnapshotStore;
use super::workshop::WorkshopStore;

/// A learner: the id in their signed cookie (the web layer's `LearnerId`)
/// and their display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Learner {
    /// Random id.
    pub id: String,
    /// Optional display name.
    pub name: String,
}

/// Lifecycle of a lab session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Containers are being created.
    Starting,
    /// Ready for the learner.
    Running,
    /// Stopped by the learner.
    Stopped,
    /// Stopped after the idle timeout.
    Expired,
    /// Could not start.
    Failed,
    /// Its containers disappeared or died (killed from outside).
    Lost,
}

impl Status {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Expired => "expired",
            Status::Failed => "failed",
            Status::Lost => "lost",
        }
    }
    /// Parses the database spelling.
    pub fn parse(s: &str) -> Status {
        match s {
            "starting" => Status::Starting,
            "running" => Status::Running,
            "stopped" => Status::Stopped,
            "expired" => Status::Expired,
            "lost" => Status::Lost,
            _ => Status::Failed,
        }
    }
    /// Starting or running: the lab's containers should exist.
    pub fn is_live(self) -> bool {
        matches!(self, Status::Starting | Status::Running)
    }
}

/// A lab session: one learner, one lab, one sandbox (Docker lab) at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Random id (in URLs).
    pub id: String,
    /// Owner.
    pub learner: String,
    /// Lab id (content folder).
    pub lab: String,
    /// Docker lab name.
    pub sandbox: String,
    /// Status.
    pub status: Status,
    /// Why it failed or was lost.
    pub detail: String,
    /// Created.
    pub created_ms: i64,
    /// Last change.
    pub updated_ms: i64,
    /// When the idle timeout stops it.
    pub expires_ms: i64,
}

/// A recorded check of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskResult {
    /// Task id.
    pub task: String,
    /// Passed (ever, in [`Store::results`]).
    pub passed: bool,
    /// The last outcome, JSON ([`labkit::wire::TaskOutcome`]).
    pub outcome: String,
    /// When.
    pub created_ms: i64,
}

/// What a lab page shows of one learner: current step, latest session, task results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabPageState {
    /// Current step (0-based; 0 when never set).
    pub step: usize,
    /// The latest session, live or not.
    pub latest: Option<Session>,
    /// As [`Store::results`].
    pub results: Vec<TaskResult>,
}

/// What the catalog shows of one learner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogState {
    /// Display name ('' when none or unknown learner).
    pub name: String,
    /// Per lab: the ids of the tasks ever passed.
    pub passed: std::collections::HashMap<String, Vec<String>>,
    /// Per lab: the status of the live session.
    pub live: std::collections::HashMap<String, Status>,
}

/// Persistence for the web platform.
#[async_trait]
pub trait Store: Send + Sync {
    /// Creates the learner if new; sets the name when `name` is not empty.
    async fn upsert_learner(&self, id: &str, name: &str, now: i64) -> Result<Learner, StoreError>;
    /// This server's id: the one stored, or `fresh` stored now if none is (the first start
    /// on this database). It labels every lab the server creates.
    async fn server_id(&self, fresh: &str) -> Result<String, StoreError>;
    /// A learner by id.
    async fn learner(&self, id: &str) -> Result<Option<Learner>, StoreError>;
    /// Inserts a session; fails with [`StoreError::LiveSessionExists`] if the learner has a
    /// live one for the lab.
    async fn create_session(&self, s: &Session) -> Result<(), StoreError>;
    /// A session by id.
    async fn session(&self, id: &str) -> Result<Option<Session>, StoreError>;
    /// The learner's live session for a lab.
    async fn live_session(&self, learner: &str, lab: &str) -> Result<Option<Session>, StoreError>;
    /// The learner's latest session for a lab, live or not.
    async fn latest_session(&self, learner: &str, lab: &str)
        -> Result<Option<Session>, StoreError>;
    /// Every live session.
    async fn live_sessions(&self) -> Result<Vec<Session>, StoreError>;
    /// Sets status and detail.
    async fn set_status(
        &self,
        id: &str,
        status: Status,
        detail: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Pushes the idle deadline.
    async fn set_expiry(&self, id: &str, expires_ms: i64, now: i64) -> Result<(), StoreError>;
    /// The learner's current step in a lab (0 when never set).
    async fn step(&self, learner: &str, lab: &str) -> Result<usize, StoreError>;
    /// Sets the learner's current step in a lab.
    async fn set_step(
        &self,
        learner: &str,
        lab: &str,
        step: usize,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Records a task check (durably, before the caller responds).
    async fn record_result(
        &self,
        learner: &str,
        lab: &str,
        session: &str,
        r: &TaskResult,
    ) -> Result<(), StoreError>;
    /// Per task of a learner's lab: passed if any check ever passed, with the latest outcome.
    async fn results(&self, learner: &str, lab: &str) -> Result<Vec<TaskResult>, StoreError>;
    /// Records a lifecycle event.
    async fn record_event(
        &self,
        session: &str,
        kind: &str,
        detail: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Events of a session, oldest first: (kind, detail).
    async fn events(&self, session: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// A lab page's state (step, latest session, results); one query in [`SqlStore`].
    async fn lab_page_state(&self, learner: &str, lab: &str) -> Result<LabPageState, StoreError> {
        Ok(LabPageState {
            step: self.step(learner, lab).await?,
            latest: self.latest_session(learner, lab).await?,
            results: self.results(learner, lab).await?,
        })
    }
    /// The catalog's state for a learner over `labs`; one query in [`SqlStore`].
    async fn catalog_state(
        &self,
        learner: &str,
        labs: &[&str],
    ) -> Result<CatalogState, StoreError> {
        let mut st = CatalogState {
            name: self
                .learner(learner)
                .await?
                .map(|l| l.name)
                .unwrap_or_default(),
            ..CatalogState::default()
        };
        for lab in labs {
            let passed: Vec<String> = self
                .results(learner, lab)
                .await?
                .into_iter()
                .filter(|r| r.passed)
                .map(|r| r.task)
                .collect();
            if !passed.is_empty() {
                st.passed.insert(lab.to_string(), passed);
            }
            if let Some(s) = self.live_session(learner, lab).await? {
                st.live.insert(lab.to_string(), s.status);
            }
        }
        Ok(st)
    }
    /// Rule snapshots of the packets panel, on the same database.
    fn snapshots(&self) -> Arc<dyn SnapshotStore>;
    /// Workshop persistence, on the same database.
    fn workshops(&self) -> &dyn WorkshopStore;
}
