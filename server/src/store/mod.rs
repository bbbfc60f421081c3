//! Persistence, one trait per area, each held as a trait object so that tests can use any
//! backend: [`Store`] (learners, sessions, progress, results, events), which also hands out
//! [`WorkshopStore`] and [`SnapshotStore`] on the same database. One implementation,
//! [`SqlStore`] (SQLite or Postgres). The store imports nothing else of the server.

pub mod error;
pub mod learners;
pub mod snapshots;
pub mod sql;
pub mod workshop;

pub use error::StoreError;
pub use learners::{CatalogState, LabPageState, Learner, Session, Status, Store, TaskResult};
pub use snapshots::{SnapshotMeta, SnapshotStore, SNAPSHOTS_PER_NODE};
pub use sql::{cap_text, redact, Backend, SqlStore, MAX_STORED_TEXT, RESULTS_PER_TASK};
pub use workshop::{Member, Workshop, WorkshopStore};
