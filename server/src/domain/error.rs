//! What can go wrong in the platform's operations, in terms a client can act on. The web
//! layer maps each variant to one status code (in `web/error.rs`).

use crate::store::StoreError;

/// A request failure.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is wrong; the reason is shown.
    #[error("{0}")]
    BadRequest(String),
    /// The resource belongs to another learner.
    #[error("this belongs to another learner")]
    Forbidden,
    /// Not found; says what.
    #[error("{0} not found")]
    NotFound(String),
    /// Not found; the reason is shown as it is (404).
    #[error("{0}")]
    Absent(String),
    /// Conflicts with the current state; says why.
    #[error("{0}")]
    Conflict(String),
    /// No capacity: try again after this many seconds.
    #[error("all {capacity} lab slots are in use; try again in {retry_after} s")]
    Full {
        /// Seconds.
        retry_after: u64,
        /// The limit.
        capacity: usize,
    },
    /// Refused for a reason the client is told (403): a cross-site request, a start without
    /// the learner cookie.
    #[error("{0}")]
    Refused(String),
    /// Rate-limited (429): try again after this many seconds.
    #[error("{reason}")]
    TooMany {
        /// Seconds.
        retry_after: u64,
        /// What was limited.
        reason: String,
    },
    /// What the lab printed cannot be read (422): the reason is shown (the learner is root in
    /// the lab and may have put anything there).
    #[error("{0}")]
    Unreadable(String),
    /// Anything else (logged, not shown).
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LiveSessionExists { lab, .. } => {
                AppError::Conflict(format!("you already have lab {lab} running"))
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl AppError {
    /// Seconds to wait before trying again (503 full, 429 rate-limited).
    pub fn wait(&self) -> Option<u64> {
        match self {
            AppError::Full { retry_after, .. } | AppError::TooMany { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}
