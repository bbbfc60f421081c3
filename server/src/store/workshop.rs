//! Workshop persistence: workshops, their members (learners who joined with the code) and a
//! few reads over the learners' tables (progress times, session hand-over for the warm pool).

use async_trait::async_trait;
use serde::Serialize;

use super::error::StoreError;

/// A workshop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workshop {
    /// Random id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lab ids, in order (learners start in the first).
    pub labs: Vec<String>,
    /// The code learners join with (upper case).
    pub join_code: String,
    /// Most learners.
    pub capacity: usize,
    /// Labs kept pre-started for joining learners.
    pub warm_pool: usize,
    /// Scheduled start (unix ms).
    pub starts_ms: i64,
    /// Scheduled end (unix ms).
    pub ends_ms: i64,
    /// Joining is open.
    pub open: bool,
    /// Ended: labs stopped, results kept.
    pub ended: bool,
    /// The instructor's pinned message ("" for none).
    pub message: String,
    /// Created.
    pub created_ms: i64,
}

/// A learner in a workshop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Workshop id.
    pub workshop: String,
    /// Learner id.
    pub learner: String,
    /// Display name given when joining.
    pub name: String,
    /// Joined.
    pub joined_ms: i64,
    /// When the hand was raised (0: not raised).
    pub hand_ms: i64,
}

/// Workshop persistence.
#[async_trait]
pub trait WorkshopStore: Send + Sync {
    /// Inserts a workshop; `Ok(false)` when the join code is taken.
    async fn create_workshop(&self, w: &Workshop) -> Result<bool, StoreError>;
    /// A workshop by id.
    async fn workshop(&self, id: &str) -> Result<Option<Workshop>, StoreError>;
    /// A workshop by join code (upper case).
    async fn workshop_by_code(&self, code: &str) -> Result<Option<Workshop>, StoreError>;
    /// Every workshop, newest first.
    async fn workshops(&self) -> Result<Vec<Workshop>, StoreError>;
    /// Saves the mutable fields: open, ended, ends_ms, message.
    async fn update_workshop(&self, w: &Workshop) -> Result<(), StoreError>;
    /// Adds a member (or renames an existing one when `name` is not empty).
    async fn add_member(
        &self,
        workshop: &str,
        learner: &str,
        name: &str,
        now: i64,
    ) -> Result<Member, StoreError>;
    /// Members, in join order.
    async fn members(&self, workshop: &str) -> Result<Vec<Member>, StoreError>;
    /// Every (learner, workshop) membership (to rebuild the in-memory index after a restart).
    async fn all_members(&self) -> Result<Vec<Member>, StoreError>;
    /// The learner's most recent membership.
    async fn membership(&self, learner: &str) -> Result<Option<Member>, StoreError>;
    /// Raises (`hand_ms > 0`) or lowers (0) a member's hand.
    async fn set_hand(&self, workshop: &str, learner: &str, hand_ms: i64)
        -> Result<(), StoreError>;
    /// When the learner's current step in a lab was set (None: never).
    async fn progress_since(&self, learner: &str, lab: &str) -> Result<Option<i64>, StoreError>;
    /// Hands a live session over to another learner (the warm pool): `Ok(false)` when it is
    /// no longer live or the learner already has a live session of that lab.
    async fn hand_over(
        &self,
        session: &str,
        from: &str,
        to: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
}
