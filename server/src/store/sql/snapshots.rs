//! [`SnapshotStore`] over SQL (table `rule_snapshots`, migrations `0003_snapshots.sql`): the
//! same runtime queries on SQLite and Postgres.

use async_trait::async_trait;
use sqlx::{AnyPool, Row};

use crate::store::error::StoreError;
use crate::store::snapshots::{SnapshotMeta, SnapshotStore, SNAPSHOTS_PER_NODE};

/// [`SnapshotStore`] on the pool of a [`super::SqlStore`].
#[derive(Clone)]
pub struct SqlSnapshots {
    pool: AnyPool,
}

fn meta(r: &sqlx::any::AnyRow) -> Result<SnapshotMeta, sqlx::Error> {
    Ok(SnapshotMeta {
        id: r.try_get("id")?,
        node: r.try_get("node")?,
        seq: r.try_get("seq")?,
        step: r.try_get("step")?,
        label: r.try_get("label")?,
        hash: r.try_get("hash")?,
        created_ms: r.try_get("created_ms")?,
    })
}

impl SqlSnapshots {
    /// Over a migrated pool.
    pub fn new(pool: AnyPool) -> SqlSnapshots {
        SqlSnapshots { pool }
    }
}

#[async_trait]
impl SnapshotStore for SqlSnapshots {
    /// The newest snapshot of a session's node.
    async fn latest(&self, session: &str, node: &str) -> Result<Option<SnapshotMeta>, StoreError> {
        let r = sqlx::query(
            "SELECT id, node, seq, step, label, hash, created_ms FROM rule_snapshots WHERE session = $1 AND node = $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(session)
        .bind(node)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(meta).transpose()?)
    }

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
    ) -> Result<Option<SnapshotMeta>, StoreError> {
        let latest = self.latest(session, node).await?;
        if latest
            .as_ref()
            .is_some_and(|l| l.hash == hash && l.step == step)
        {
            return Ok(None);
        }
        let seq = latest.map(|l| l.seq + 1).unwrap_or(1);
        let id = format!("{session}-{node}-{seq}");
        let res = sqlx::query(
            "INSERT INTO rule_snapshots (id, session, node, seq, step, label, hash, rules, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(session)
        .bind(node)
        .bind(seq)
        .bind(step)
        .bind(label)
        .bind(hash)
        .bind(rules)
        .bind(now)
        .execute(&self.pool)
        .await;
        if res.is_ok() {
            // Keep the newest SNAPSHOTS_PER_NODE of this node in this session.
            sqlx::query(
                "DELETE FROM rule_snapshots WHERE session = $1 AND node = $2 AND seq <= $3",
            )
            .bind(session)
            .bind(node)
            .bind(seq - SNAPSHOTS_PER_NODE)
            .execute(&self.pool)
            .await?;
        }
        match res {
            Ok(_) => Ok(Some(SnapshotMeta {
                id,
                node: node.into(),
                seq,
                step,
                label: label.into(),
                hash: hash.into(),
                created_ms: now,
            })),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every snapshot of a session, oldest first.
    async fn list(&self, session: &str) -> Result<Vec<SnapshotMeta>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, node, seq, step, label, hash, created_ms FROM rule_snapshots WHERE session = $1 ORDER BY created_ms, node, seq",
        )
        .bind(session)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(meta).collect::<Result<_, _>>()?)
    }

    /// One snapshot of a session with its rules text.
    async fn get(
        &self,
        session: &str,
        id: &str,
    ) -> Result<Option<(SnapshotMeta, String)>, StoreError> {
        let r = sqlx::query(
            "SELECT id, node, seq, step, label, hash, created_ms, rules FROM rule_snapshots WHERE session = $1 AND id = $2",
        )
        .bind(session)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match r {
            Some(r) => Ok(Some((meta(&r)?, r.try_get("rules")?))),
            None => Ok(None),
        }
    }
}
