//! The workshops' in-memory state: the change bus that carries a learner id to every open
//! dashboard, the member index, the start queue.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::{broadcast, Notify};

use crate::store::Store;

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

/// In-memory workshop state: the change bus, the member index, the start queue.
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
    pub async fn load(&self, store: &dyn Store) -> anyhow::Result<()> {
        let members = store.workshops().all_members().await?;
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        for m in members {
            index.insert(m.learner, m.workshop);
        }
        Ok(())
    }
}
