//! The store: learners, lab sessions, progress (current phase), task results and events.
//!
//! One trait, [`Store`], so the server and tests can use any backend; one implementation,
//! [`SqlStore`], over sqlx's `Any` driver: a SQLite file by default, Postgres when the URL is
//! `postgres://…`. Queries are written once (runtime `query` + `bind`, `$N` placeholders,
//! which both databases accept); each backend has its own migrations (`migrations/sqlite`,
//! `migrations/postgres`), embedded with `sqlx::migrate!`. Times are unix milliseconds.

use async_trait::async_trait;
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

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

/// A learner, identified by the id in their signed cookie.
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

/// What a lab page shows of one learner: current phase, latest session, task results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabPageState {
    /// Current phase (0-based; 0 when never set).
    pub phase: usize,
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
    /// Per lab: tasks ever passed.
    pub passed: std::collections::HashMap<String, usize>,
    /// Per lab: the status of the live session.
    pub live: std::collections::HashMap<String, Status>,
}

/// Persistence for the web platform.
#[async_trait]
pub trait Store: Send + Sync {
    /// Creates the learner if new; sets the name when `name` is not empty.
    async fn upsert_learner(&self, id: &str, name: &str, now: i64) -> Result<Learner, StoreError>;
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
    /// The learner's current phase in a lab (0 when never set).
    async fn phase(&self, learner: &str, lab: &str) -> Result<usize, StoreError>;
    /// Sets the learner's current phase in a lab.
    async fn set_phase(
        &self,
        learner: &str,
        lab: &str,
        phase: usize,
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
    /// A lab page's state (phase, latest session, results); one query in [`SqlStore`].
    async fn lab_page_state(&self, learner: &str, lab: &str) -> Result<LabPageState, StoreError> {
        Ok(LabPageState {
            phase: self.phase(learner, lab).await?,
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
            let passed = self
                .results(learner, lab)
                .await?
                .iter()
                .filter(|r| r.passed)
                .count();
            if passed > 0 {
                st.passed.insert(lab.to_string(), passed);
            }
            if let Some(s) = self.live_session(learner, lab).await? {
                st.live.insert(lab.to_string(), s.status);
            }
        }
        Ok(st)
    }
    /// Rule snapshots of the packets panel (issue 7), on the same database.
    fn snapshots(&self) -> crate::web::panel::store::Snapshots;
    /// Workshop persistence (issue 8), on the same database.
    fn workshops(&self) -> &dyn crate::web::workshop::store::WorkshopStore;
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:…`
    Sqlite,
    /// `postgres://…` / `postgresql://…`
    Postgres,
}

/// [`Store`] over sqlx's `Any` driver.
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

const SESSION_COLUMNS: &str =
    "id, learner, lab, sandbox, status, detail, created_ms, updated_ms, expires_ms";

fn session_row(r: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: r.try_get("id")?,
        learner: r.try_get("learner")?,
        lab: r.try_get("lab")?,
        sandbox: r.try_get("sandbox")?,
        status: Status::parse(&r.try_get::<String, _>("status")?),
        detail: r.try_get("detail")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
        expires_ms: r.try_get("expires_ms")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
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

#[async_trait]
impl Store for SqlStore {
    fn workshops(&self) -> &dyn crate::web::workshop::store::WorkshopStore {
        self
    }

    async fn upsert_learner(&self, id: &str, name: &str, now: i64) -> Result<Learner, StoreError> {
        sqlx::query("INSERT INTO learners (id, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await?;
        if !name.is_empty() {
            sqlx::query("UPDATE learners SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(self.learner(id).await?.unwrap_or(Learner {
            id: id.into(),
            name: name.into(),
        }))
    }

    async fn learner(&self, id: &str) -> Result<Option<Learner>, StoreError> {
        let row = sqlx::query("SELECT id, name FROM learners WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(Learner {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
            }),
            None => None,
        })
    }

    async fn create_session(&self, s: &Session) -> Result<(), StoreError> {
        let q = format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let r = sqlx::query(&q)
            .bind(&s.id)
            .bind(&s.learner)
            .bind(&s.lab)
            .bind(&s.sandbox)
            .bind(s.status.as_str())
            .bind(&s.detail)
            .bind(s.created_ms)
            .bind(s.updated_ms)
            .bind(s.expires_ms)
            .execute(&self.pool)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::LiveSessionExists {
                learner: s.learner.clone(),
                lab: s.lab.clone(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let q = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        let row = sqlx::query(&q).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(session_row).transpose()?)
    }

    async fn live_session(&self, learner: &str, lab: &str) -> Result<Option<Session>, StoreError> {
        let q = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE learner = $1 AND lab = $2 AND status IN ('starting', 'running')"
        );
        let row = sqlx::query(&q)
            .bind(learner)
            .bind(lab)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(session_row).transpose()?)
    }

    async fn latest_session(
        &self,
        learner: &str,
        lab: &str,
    ) -> Result<Option<Session>, StoreError> {
        let q = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE learner = $1 AND lab = $2 ORDER BY created_ms DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(&q)
            .bind(learner)
            .bind(lab)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(session_row).transpose()?)
    }

    async fn live_sessions(&self) -> Result<Vec<Session>, StoreError> {
        let q = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE status IN ('starting', 'running') ORDER BY created_ms");
        let rows = sqlx::query(&q).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(session_row).collect::<Result<_, _>>()?)
    }

    async fn set_status(
        &self,
        id: &str,
        status: Status,
        detail: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET status = $1, detail = $2, updated_ms = $3 WHERE id = $4")
            .bind(status.as_str())
            .bind(cap_text(detail, MAX_STORED_TEXT).into_owned())
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_expiry(&self, id: &str, expires_ms: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET expires_ms = $1, updated_ms = $2 WHERE id = $3")
            .bind(expires_ms)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn phase(&self, learner: &str, lab: &str) -> Result<usize, StoreError> {
        let row = sqlx::query("SELECT phase FROM progress WHERE learner = $1 AND lab = $2")
            .bind(learner)
            .bind(lab)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => usize::try_from(r.try_get::<i64, _>("phase")?).unwrap_or(0),
            None => 0,
        })
    }

    async fn set_phase(
        &self,
        learner: &str,
        lab: &str,
        phase: usize,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO progress (learner, lab, phase, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (learner, lab) DO UPDATE SET phase = excluded.phase, updated_ms = excluded.updated_ms",
        )
        .bind(learner)
        .bind(lab)
        .bind(phase as i64)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_result(
        &self,
        learner: &str,
        lab: &str,
        session: &str,
        r: &TaskResult,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO results (learner, lab, session, task, passed, outcome, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(learner)
        .bind(lab)
        .bind(session)
        .bind(&r.task)
        .bind(i64::from(r.passed))
        .bind(&r.outcome)
        .bind(r.created_ms)
        .execute(&self.pool)
        .await?;
        // Keep the newest results of this task in this session, and its newest pass.
        sqlx::query(
            "DELETE FROM results WHERE session = $1 AND task = $2 \
             AND id NOT IN (SELECT id FROM results WHERE session = $1 AND task = $2 ORDER BY id DESC LIMIT $3) \
             AND id NOT IN (SELECT id FROM results WHERE session = $1 AND task = $2 AND passed = 1 ORDER BY id DESC LIMIT 1)",
        )
        .bind(session)
        .bind(&r.task)
        .bind(RESULTS_PER_TASK)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn results(&self, learner: &str, lab: &str) -> Result<Vec<TaskResult>, StoreError> {
        let rows = sqlx::query(
            "SELECT task, passed, outcome, created_ms FROM results WHERE learner = $1 AND lab = $2 ORDER BY task, created_ms, id",
        )
        .bind(learner)
        .bind(lab)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<TaskResult> = Vec::new();
        for r in rows {
            let task: String = r.try_get("task")?;
            let passed = r.try_get::<i64, _>("passed")? != 0;
            let outcome: String = r.try_get("outcome")?;
            let created_ms: i64 = r.try_get("created_ms")?;
            match out.last_mut() {
                Some(last) if last.task == task => {
                    last.passed |= passed;
                    last.outcome = outcome;
                    last.created_ms = created_ms;
                }
                _ => out.push(TaskResult {
                    task,
                    passed,
                    outcome,
                    created_ms,
                }),
            }
        }
        Ok(out)
    }

    async fn record_event(
        &self,
        session: &str,
        kind: &str,
        detail: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO events (session, kind, detail, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(session)
        .bind(kind)
        .bind(cap_text(detail, MAX_STORED_TEXT).into_owned())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    fn snapshots(&self) -> crate::web::panel::store::Snapshots {
        crate::web::panel::store::Snapshots::new(self.pool.clone())
    }

    async fn events(&self, session: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT kind, detail FROM events WHERE session = $1 ORDER BY id")
            .bind(session)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("kind")?, r.try_get("detail")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn lab_page_state(&self, learner: &str, lab: &str) -> Result<LabPageState, StoreError> {
        // One round trip: progress, the latest session and the results as rows of one shape,
        // told apart by `k` ('p', 'r', 's'); results in task, time, id order.
        let rows = sqlx::query(
            "SELECT 'p' AS k, '' AS s1, '' AS s2, '' AS s3, '' AS s4, '' AS s5, '' AS s6, \
                    phase AS n1, CAST(0 AS BIGINT) AS n2, CAST(0 AS BIGINT) AS n3 \
               FROM progress WHERE learner = $1 AND lab = $2 \
             UNION ALL \
             SELECT 'r', task, outcome, '', '', '', '', passed, created_ms, id \
               FROM results WHERE learner = $1 AND lab = $2 \
             UNION ALL \
             SELECT 's', id, learner, lab, sandbox, status, detail, created_ms, updated_ms, expires_ms \
               FROM (SELECT * FROM sessions WHERE learner = $1 AND lab = $2 \
                     ORDER BY created_ms DESC, id DESC LIMIT 1) latest \
             ORDER BY 1, 2, 9, 10",
        )
        .bind(learner)
        .bind(lab)
        .fetch_all(&self.pool)
        .await?;
        let mut st = LabPageState::default();
        for r in rows {
            let k: String = r.try_get("k")?;
            let n1: i64 = r.try_get("n1")?;
            match k.as_str() {
                "p" => st.phase = usize::try_from(n1).unwrap_or(0),
                "s" => {
                    st.latest = Some(Session {
                        id: r.try_get("s1")?,
                        learner: r.try_get("s2")?,
                        lab: r.try_get("s3")?,
                        sandbox: r.try_get("s4")?,
                        status: Status::parse(&r.try_get::<String, _>("s5")?),
                        detail: r.try_get("s6")?,
                        created_ms: n1,
                        updated_ms: r.try_get("n2")?,
                        expires_ms: r.try_get("n3")?,
                    })
                }
                _ => {
                    let task: String = r.try_get("s1")?;
                    let outcome: String = r.try_get("s2")?;
                    let created_ms: i64 = r.try_get("n2")?;
                    match st.results.last_mut() {
                        Some(last) if last.task == task => {
                            last.passed |= n1 != 0;
                            last.outcome = outcome;
                            last.created_ms = created_ms;
                        }
                        _ => st.results.push(TaskResult {
                            task,
                            passed: n1 != 0,
                            outcome,
                            created_ms,
                        }),
                    }
                }
            }
        }
        Ok(st)
    }

    async fn catalog_state(
        &self,
        learner: &str,
        labs: &[&str],
    ) -> Result<CatalogState, StoreError> {
        // One round trip: the name, tasks ever passed per lab, live sessions per lab.
        let rows = sqlx::query(
            "SELECT 'n' AS k, name AS s1, '' AS s2, CAST(0 AS BIGINT) AS n1 FROM learners WHERE id = $1 \
             UNION ALL \
             SELECT 'r', lab, task, MAX(passed) FROM results WHERE learner = $1 GROUP BY lab, task \
             UNION ALL \
             SELECT 's', lab, status, CAST(0 AS BIGINT) FROM sessions \
               WHERE learner = $1 AND status IN ('starting', 'running')",
        )
        .bind(learner)
        .fetch_all(&self.pool)
        .await?;
        let mut st = CatalogState::default();
        for r in rows {
            let k: String = r.try_get("k")?;
            let s1: String = r.try_get("s1")?;
            match k.as_str() {
                "n" => st.name = s1,
                "r" if labs.contains(&s1.as_str()) && r.try_get::<i64, _>("n1")? != 0 => {
                    *st.passed.entry(s1).or_default() += 1;
                }
                "s" if labs.contains(&s1.as_str()) => {
                    st.live
                        .insert(s1, Status::parse(&r.try_get::<String, _>("s2")?));
                }
                _ => {}
            }
        }
        Ok(st)
    }
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
