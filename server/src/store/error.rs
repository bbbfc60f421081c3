//! Why a store operation failed (every store trait returns it).

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The learner already has a live session for this lab.
    #[error("learner {learner} already has a live session for lab {lab}")]
    LiveSessionExists {
        /// Learner id.
        learner: String,
        /// Lab id.
        lab: String,
    },
    /// Could not connect or migrate.
    #[error("opening the database {url}: {cause}")]
    Open {
        /// The URL with any password removed.
        url: String,
        /// Why.
        cause: String,
    },
    /// A query failed.
    #[error("database: {0}")]
    Query(#[from] sqlx::Error),
}
