//! What the instructor and the learners do with a workshop: create it, open or close joining,
//! join it (a lab from the warm pool, or a place in the start queue). The HTTP handlers in
//! handlers of the web layer (`handlers/workshop/`) call these.

use serde::Deserialize;

use super::bus::Queued;
use super::{new_join_code, normalise_code, pool, random_hex};
use crate::domain::error::AppError;
use crate::domain::platform::{now_ms, Platform};
use crate::store::{Member, Session, Workshop};

/// A new workshop, as the instructor asks for it (`POST /api/workshops`, the create form).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWorkshop {
    /// Name.
    pub name: String,
    /// Lab ids.
    pub labs: Vec<String>,
    /// Most learners.
    pub capacity: usize,
    /// Pre-started labs.
    #[serde(default)]
    pub warm_pool: usize,
    /// A join code of your own (4-16 letters and digits), else a random one.
    #[serde(default)]
    pub join_code: Option<String>,
    /// Start (unix ms; default now).
    #[serde(default)]
    pub starts_ms: Option<i64>,
    /// Length in minutes (default 240).
    #[serde(default)]
    pub minutes: Option<i64>,
}

/// What is wrong with a new workshop, field by field: `(field, message)` with the field named
/// as in the JSON body and the form (`name`, `labs`, `capacity`, `warm_pool`, `join_code`,
/// `minutes`), in that order. Empty when it can be created (its join code may still be taken).
pub fn problems(state: &Platform, b: &NewWorkshop) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        out.push((
            "name",
            "name must be 1-100 printable characters".to_string(),
        ));
    }
    if b.labs.is_empty() || b.labs.len() > 20 {
        out.push(("labs", "labs must list 1-20 lab ids".to_string()));
    } else if let Some(l) = b.labs.iter().find(|l| state.catalog.lab(l).is_none()) {
        out.push(("labs", format!("no lab {l:?} in the catalog")));
    }
    if b.capacity == 0 || b.capacity > 1000 {
        out.push(("capacity", "capacity must be 1-1000 learners".to_string()));
    }
    if b.warm_pool > b.capacity || b.warm_pool > state.config.max_labs {
        out.push((
            "warm_pool",
            format!(
                "warm_pool must be at most the capacity ({}) and the server's lab limit ({})",
                b.capacity, state.config.max_labs
            ),
        ));
    }
    if b.join_code
        .as_deref()
        .is_some_and(|c| normalise_code(c).is_none())
    {
        out.push((
            "join_code",
            "join_code must be 4-16 letters and digits".to_string(),
        ));
    }
    if !(1..=7 * 24 * 60).contains(&b.minutes.unwrap_or(240)) {
        out.push(("minutes", "minutes must be 1-10080".to_string()));
    }
    out
}

/// Creates a workshop with a fresh join code (or the one asked for, when free). Refused
/// with the first of its [`problems`]; a join code of its own already taken is a conflict.
pub async fn create(state: &Platform, b: NewWorkshop) -> Result<Workshop, AppError> {
    if let Some((_, message)) = problems(state, &b).into_iter().next() {
        return Err(AppError::BadRequest(message));
    }
    let name = b.name.trim().to_string();
    let minutes = b.minutes.unwrap_or(240);
    let now = now_ms();
    let starts_ms = b.starts_ms.unwrap_or(now);
    let mut w = Workshop {
        id: random_hex(6),
        name,
        labs: b.labs,
        join_code: String::new(),
        capacity: b.capacity,
        warm_pool: b.warm_pool,
        starts_ms,
        ends_ms: starts_ms + minutes * 60_000,
        open: true,
        ended: false,
        message: String::new(),
        created_ms: now,
    };
    for attempt in 0..20 {
        w.join_code = match &b.join_code {
            Some(c) => normalise_code(c).unwrap_or_default(),
            None => new_join_code(),
        };
        if state.store.workshops().create_workshop(&w).await? {
            state.workshop.wake.notify_one();
            return Ok(w);
        }
        if b.join_code.is_some() || attempt == 19 {
            break;
        }
    }
    Err(AppError::Conflict(format!(
        "join code {} is taken",
        w.join_code
    )))
}

/// Opens or closes joining (closing stops the warm pool).
pub async fn set_open(state: &Platform, mut w: Workshop, open: bool) -> Result<Workshop, AppError> {
    if w.ended && open {
        return Err(AppError::Conflict(
            "the workshop has ended; it cannot be opened again".into(),
        ));
    }
    let _pool = state.workshop.pool_lock.lock().await;
    w.open = open;
    state.store.workshops().update_workshop(&w).await?;
    if !open {
        pool::drain_pool(state, &w.id).await?;
    }
    state.workshop.notice(&w.id);
    state.workshop.wake.notify_one();
    Ok(w)
}

/// The member `learner` of `w`.
pub async fn member(state: &Platform, w: &Workshop, learner: &str) -> Result<Member, AppError> {
    state
        .store
        .workshops()
        .members(&w.id)
        .await?
        .into_iter()
        .find(|m| m.learner == learner)
        .ok_or_else(|| AppError::Absent(format!("learner {learner} is not in this workshop")))
}

/// The learner's live session in one of the workshop's labs.
pub async fn live_in(
    state: &Platform,
    w: &Workshop,
    learner: &str,
) -> Result<Option<Session>, AppError> {
    for lab in &w.labs {
        if let Some(s) = state.store.live_session(learner, lab).await? {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// How a join ended.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The workshop.
    pub workshop: Workshop,
    /// The learner's lab session, if they have one (from the pool or already running).
    pub session: Option<Session>,
    /// Position in the start queue, if queued.
    pub position: Option<usize>,
}

/// Joins `learner` to the workshop with `code` under a display name: hands them their
/// running lab, a pool lab, or a place in the start queue. `wrong_code` is called when no
/// workshop has the code (the caller limits guessing).
pub async fn join(
    state: &Platform,
    learner: &str,
    code: &str,
    name: &str,
    wrong_code: impl FnOnce(),
) -> Result<Joined, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "a display name of 1-64 printable characters is needed".into(),
        ));
    }
    let found = match normalise_code(code) {
        Some(c) => state.store.workshops().workshop_by_code(&c).await?,
        None => None,
    };
    let Some(w) = found else {
        wrong_code();
        return Err(AppError::Absent("no workshop has this join code".into()));
    };
    if w.ended {
        return Err(AppError::Conflict("this workshop has ended".into()));
    }
    {
        let _one_at_a_time = state.workshop.claim.lock().await;
        let members = state.store.workshops().members(&w.id).await?;
        let is_member = members.iter().any(|m| m.learner == learner);
        if !is_member {
            if !w.open {
                return Err(AppError::Refused("joining this workshop is closed".into()));
            }
            if members.len() >= w.capacity {
                return Err(AppError::Conflict(format!(
                    "this workshop is full ({} learners)",
                    w.capacity
                )));
            }
        }
        let now = now_ms();
        state.store.upsert_learner(learner, name, now).await?;
        state
            .store
            .workshops()
            .add_member(&w.id, learner, name, now)
            .await?;
    }
    state.workshop.joined(&w.id, learner);
    let lab = w.labs.first().cloned().unwrap_or_default();
    if let Some(s) = live_in(state, &w, learner).await? {
        return Ok(Joined {
            workshop: w,
            session: Some(s),
            position: None,
        });
    }
    if let Some(s) = pool::claim(state, &w, learner).await? {
        state.workshop.changed(learner);
        return Ok(Joined {
            workshop: w,
            session: Some(s),
            position: None,
        });
    }
    let position = pool::enqueue(
        state,
        Queued {
            workshop: w.id.clone(),
            learner: learner.to_string(),
            lab,
        },
    );
    state.workshop.changed(learner);
    Ok(Joined {
        workshop: w,
        session: None,
        position: Some(position),
    })
}
