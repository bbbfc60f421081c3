//! [`WorkshopStore`] for [`SqlStore`]: the same `$N` queries on SQLite and Postgres
//! (migrations `0002_workshops.sql`).

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{is_unique_violation, SqlStore};
use crate::store::error::StoreError;
use crate::store::workshop::{Member, Workshop, WorkshopStore};

const COLUMNS: &str = "id, name, labs, join_code, capacity, warm_pool, starts_ms, ends_ms, is_open, is_ended, message, created_ms";

fn workshop_row(r: &AnyRow) -> Result<Workshop, sqlx::Error> {
    let labs: String = r.try_get("labs")?;
    Ok(Workshop {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        labs: serde_json::from_str(&labs).unwrap_or_default(),
        join_code: r.try_get("join_code")?,
        capacity: usize::try_from(r.try_get::<i64, _>("capacity")?).unwrap_or(0),
        warm_pool: usize::try_from(r.try_get::<i64, _>("warm_pool")?).unwrap_or(0),
        starts_ms: r.try_get("starts_ms")?,
        ends_ms: r.try_get("ends_ms")?,
        open: r.try_get::<i64, _>("is_open")? != 0,
        ended: r.try_get::<i64, _>("is_ended")? != 0,
        message: r.try_get("message")?,
        created_ms: r.try_get("created_ms")?,
    })
}

fn member_row(r: &AnyRow) -> Result<Member, sqlx::Error> {
    Ok(Member {
        workshop: r.try_get("workshop")?,
        learner: r.try_get("learner")?,
        name: r.try_get("name")?,
        joined_ms: r.try_get("joined_ms")?,
        hand_ms: r.try_get("hand_ms")?,
    })
}

#[async_trait]
impl WorkshopStore for SqlStore {
    async fn create_workshop(&self, w: &Workshop) -> Result<bool, StoreError> {
        let q = format!(
            "INSERT INTO workshops ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let r = sqlx::query(&q)
            .bind(&w.id)
            .bind(&w.name)
            .bind(serde_json::to_string(&w.labs).unwrap_or_else(|_| "[]".into()))
            .bind(&w.join_code)
            .bind(w.capacity as i64)
            .bind(w.warm_pool as i64)
            .bind(w.starts_ms)
            .bind(w.ends_ms)
            .bind(i64::from(w.open))
            .bind(i64::from(w.ended))
            .bind(&w.message)
            .bind(w.created_ms)
            .execute(self.pool())
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn workshop(&self, id: &str) -> Result<Option<Workshop>, StoreError> {
        let q = format!("SELECT {COLUMNS} FROM workshops WHERE id = $1");
        let row = sqlx::query(&q).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(workshop_row).transpose()?)
    }

    async fn workshop_by_code(&self, code: &str) -> Result<Option<Workshop>, StoreError> {
        let q = format!("SELECT {COLUMNS} FROM workshops WHERE join_code = $1");
        let row = sqlx::query(&q)
            .bind(code)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(workshop_row).transpose()?)
    }

    async fn workshops(&self) -> Result<Vec<Workshop>, StoreError> {
        let q = format!("SELECT {COLUMNS} FROM workshops ORDER BY created_ms DESC, id");
        let rows = sqlx::query(&q).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(workshop_row).collect::<Result<_, _>>()?)
    }

    async fn update_workshop(&self, w: &Workshop) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE workshops SET is_open = $1, is_ended = $2, ends_ms = $3, message = $4 WHERE id = $5",
        )
        .bind(i64::from(w.open))
        .bind(i64::from(w.ended))
        .bind(w.ends_ms)
        .bind(&w.message)
        .bind(&w.id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn add_member(
        &self,
        workshop: &str,
        learner: &str,
        name: &str,
        now: i64,
    ) -> Result<Member, StoreError> {
        sqlx::query(
            "INSERT INTO workshop_members (workshop, learner, name, joined_ms, hand_ms) VALUES ($1, $2, $3, $4, 0) \
             ON CONFLICT (workshop, learner) DO NOTHING",
        )
        .bind(workshop)
        .bind(learner)
        .bind(name)
        .bind(now)
        .execute(self.pool())
        .await?;
        if !name.is_empty() {
            sqlx::query(
                "UPDATE workshop_members SET name = $1 WHERE workshop = $2 AND learner = $3",
            )
            .bind(name)
            .bind(workshop)
            .bind(learner)
            .execute(self.pool())
            .await?;
        }
        let row = sqlx::query(
            "SELECT workshop, learner, name, joined_ms, hand_ms FROM workshop_members WHERE workshop = $1 AND learner = $2",
        )
        .bind(workshop)
        .bind(learner)
        .fetch_one(self.pool())
        .await?;
        Ok(member_row(&row)?)
    }

    async fn members(&self, workshop: &str) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT workshop, learner, name, joined_ms, hand_ms FROM workshop_members WHERE workshop = $1 ORDER BY joined_ms, learner",
        )
        .bind(workshop)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(member_row).collect::<Result<_, _>>()?)
    }

    async fn all_members(&self) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT workshop, learner, name, joined_ms, hand_ms FROM workshop_members ORDER BY joined_ms, learner",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(member_row).collect::<Result<_, _>>()?)
    }

    async fn membership(&self, learner: &str) -> Result<Option<Member>, StoreError> {
        let row = sqlx::query(
            "SELECT workshop, learner, name, joined_ms, hand_ms FROM workshop_members WHERE learner = $1 ORDER BY joined_ms DESC LIMIT 1",
        )
        .bind(learner)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(member_row).transpose()?)
    }

    async fn set_hand(
        &self,
        workshop: &str,
        learner: &str,
        hand_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE workshop_members SET hand_ms = $1 WHERE workshop = $2 AND learner = $3",
        )
        .bind(hand_ms)
        .bind(workshop)
        .bind(learner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn progress_since(&self, learner: &str, lab: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT updated_ms FROM progress WHERE learner = $1 AND lab = $2")
            .bind(learner)
            .bind(lab)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("updated_ms")?),
            None => None,
        })
    }

    async fn hand_over(
        &self,
        session: &str,
        from: &str,
        to: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE sessions SET learner = $1, updated_ms = $2 WHERE id = $3 AND learner = $4 AND status IN ('starting', 'running')",
        )
        .bind(to)
        .bind(now)
        .bind(session)
        .bind(from)
        .execute(self.pool())
        .await;
        match r {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
