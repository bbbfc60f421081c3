//! [`SqlStore`]: every store trait over sqlx's `Any` driver: a SQLite file by default,
//! Postgres when the URL is `postgres://…`. Queries are written once (runtime `query` + `bind`,
//! `$N` placeholders, which both databases accept); each backend has its own migrations
//! (`migrations/sqlite`, `migrations/postgres`), embedded with `sqlx::migrate!`.

mod learners;
pub mod snapshots;
mod workshop;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

use crate::store::error::StoreError;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:…`
    Sqlite,
    /// `postgres://…` / `postgresql://…`
    Postgres,
}

/// Every store trait over sqlx's `Any` driver.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

/// Removes the password from a database URL for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl SqlStore {
    /// Connects and runs the migrations of the URL's backend.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Open {
                url: redact(url),
                cause: "the URL must start with sqlite: or postgres://".into(),
            });
        };
        let open = |e: String| StoreError::Open {
            url: redact(url),
            cause: e,
        };
        let mut options = AnyPoolOptions::new().max_connections(16);
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(url)
            .await
            .map_err(|e| open(e.to_string()))?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(|e| open(e.to_string()))?;
        }
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|e| open(format!("migrations: {e}")))?;
        Ok(SqlStore { pool, backend })
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool (tests that reopen the same file).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The connection pool (the workshop store's queries).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation()
                || d.code()
                    .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
        }
        _ => false,
    }
}

/// Longest text stored from a lab's output (a check's detail, an event's or a session's
/// detail): the learner is root in the lab and controls what its programs print.
pub const MAX_STORED_TEXT: usize = 4096;

/// Results kept per session and task (the newest, plus the newest that passed, so "ever
/// passed" survives the trimming).
pub const RESULTS_PER_TASK: i64 = 20;

/// `s` cut to at most `max` bytes on a character boundary, with a marker saying how much was
/// cut.
pub fn cap_text(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let marker = format!("… [{} bytes cut]", s.len());
    let mut end = max.saturating_sub(marker.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}{marker}", &s[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact("postgres://kplab:secret@localhost/kplab"),
            "postgres://kplab:***@localhost/kplab"
        );
        assert_eq!(redact("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }
}
