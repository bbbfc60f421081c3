//! [`Store`] for [`SqlStore`]: learners, sessions, progress, results, events.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::snapshots::SqlSnapshots;
use super::{cap_text, is_unique_violation, SqlStore, MAX_STORED_TEXT, RESULTS_PER_TASK};
use crate::store::error::StoreError;
use crate::store::learners::{
    CatalogState, LabPageState, Learner, Session, Status, Store, TaskResult,
};
use crate::store::snapshots::SnapshotStore;
use crate::store::workshop::WorkshopStore;

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

impl SqlStore {
    /// The first of a learner's sessions of a lab, by `rest` (the clause after the learner and
    /// lab filter).
    async fn learner_session(
        &self,
        learner: &str,
        lab: &str,
        rest: &str,
    ) -> Result<Option<Session>, StoreError> {
        let q = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE learner = $1 AND lab = $2 {rest}"
        );
        let row = sqlx::query(&q)
            .bind(learner)
            .bind(lab)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(session_row).transpose()?)
    }
}

#[async_trait]
impl Store for SqlStore {
    fn workshops(&self) -> &dyn WorkshopStore {
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

    async fn server_id(&self, fresh: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO server_identity (slot, server_id) VALUES (1, $1) ON CONFLICT (slot) DO NOTHING",
        )
        .bind(fresh)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT server_id FROM server_identity WHERE slot = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("server_id")?)
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
        self.learner_session(learner, lab, "AND status IN ('starting', 'running')")
            .await
    }

    async fn latest_session(
        &self,
        learner: &str,
        lab: &str,
    ) -> Result<Option<Session>, StoreError> {
        self.learner_session(learner, lab, "ORDER BY created_ms DESC, id DESC LIMIT 1")
            .await
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

    async fn step(&self, learner: &str, lab: &str) -> Result<usize, StoreError> {
        let row = sqlx::query("SELECT step FROM progress WHERE learner = $1 AND lab = $2")
            .bind(learner)
            .bind(lab)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => usize::try_from(r.try_get::<i64, _>("step")?).unwrap_or(0),
            None => 0,
        })
    }

    async fn set_step(
        &self,
        learner: &str,
        lab: &str,
        step: usize,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO progress (learner, lab, step, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (learner, lab) DO UPDATE SET step = excluded.step, updated_ms = excluded.updated_ms",
        )
        .bind(learner)
        .bind(lab)
        .bind(step as i64)
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

    fn snapshots(&self) -> Arc<dyn SnapshotStore> {
        Arc::new(SqlSnapshots::new(self.pool.clone()))
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
                    step AS n1, CAST(0 AS BIGINT) AS n2, CAST(0 AS BIGINT) AS n3 \
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
                "p" => st.step = usize::try_from(n1).unwrap_or(0),
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
                    st.passed.entry(s1).or_default().push(r.try_get("s2")?);
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
