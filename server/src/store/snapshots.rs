//! Rule snapshots of the packets panel: each node's rules, kept when they change, to diff
//! later.

use async_trait::async_trait;
use serde::Serialize;

use super::error::StoreError;

/// Snapshots kept per session and node: the newest (older ones are deleted as new ones come).
pub const SNAPSHOTS_PER_NODE: i64 = 50;

/// A snapshot without its text (for lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotMeta {
    /// Id (`<session>-<node>-<seq>`).
    pub id: String,
    /// Node.
    pub node: String,
    /// 1, 2, … per session and node.
    pub seq: i64,
    /// Step (0-based) current when it was taken.
    pub step: i64,
    /// What changed (`step 2 start`, `default/web: +1 endpoint …`).
    pub label: String,
    /// Hash of the rules.
    pub hash: String,
    /// When.
    pub created_ms: i64,
}

/// Snapshot persistence.
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    /// The newest snapshot of a session's node.
    async fn latest(&self, session: &str, node: &str) -> Result<Option<SnapshotMeta>, StoreError>;

    /// Adds a snapshot unless its hash equals the newest one of that node and the step is the
    /// same; returns it when added. Concurrent callers race on `(session, node, seq)`: the loser
    /// sees a unique violation and adds nothing.
    #[allow(clippy::too_many_arguments)]
    async fn add_if_changed(
        &self,
        session: &str,
        node: &str,
        step: i64,
        hash: &str,
        label: &str,
        rules: &str,
        now: i64,
    ) -> Result<Option<SnapshotMeta>, StoreError>;

    /// Every snapshot of a session, oldest first.
    async fn list(&self, session: &str) -> Result<Vec<SnapshotMeta>, StoreError>;

    /// One snapshot of a session with its rules text.
    async fn get(
        &self,
        session: &str,
        id: &str,
    ) -> Result<Option<(SnapshotMeta, String)>, StoreError>;
}
