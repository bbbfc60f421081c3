//! The warm pool and the fair start queue.
//!
//! A pool lab is an ordinary lab session started through [`lifecycle::start`] for a
//! placeholder learner `pool-<workshop>-<random>`; it counts against the server's lab limit
//! like any other. A joining learner [`claim`]s one (a running one first, else one still
//! starting): the session row changes owner in one conditional update, so the learner has a
//! lab as soon as the join answers. One background task ([`run`]) refills each open
//! workshop's pool up to `min(warm_pool, capacity - members)` and keeps pool labs from
//! idling out.
//!
//! Without a pool lab, a learner is appended to the FIFO queue; the same task starts queued
//! labs in order whenever the server has capacity (the head waits when the server is full,
//! so nobody is overtaken), and the learner's page shows their position.

use std::collections::HashMap;
use std::time::Duration;

use crate::domain::error::AppError;
use crate::domain::lifecycle;
use crate::domain::platform::{now_ms, Platform};
use crate::store::{Session, Status};

use super::bus::Queued;
use crate::store::Workshop;

/// Placeholder learner-id prefix of a workshop's pool labs.
pub fn pool_prefix(workshop: &str) -> String {
    format!("pool-{workshop}-")
}

/// Hands a pool lab of the workshop's first lab to `learner`, if one is there.
pub async fn claim(
    state: &Platform,
    w: &Workshop,
    learner: &str,
) -> Result<Option<Session>, AppError> {
    let Some(lab) = w.labs.first() else {
        return Ok(None);
    };
    let prefix = pool_prefix(&w.id);
    let _one_at_a_time = state.workshop.claim.lock().await;
    let mut candidates: Vec<Session> = state
        .store
        .live_sessions()
        .await?
        .into_iter()
        .filter(|s| s.learner.starts_with(&prefix) && &s.lab == lab)
        .collect();
    candidates.sort_by_key(|s| (s.status != Status::Running, s.created_ms));
    for mut s in candidates {
        let now = now_ms();
        if state
            .store
            .workshops()
            .hand_over(&s.id, &s.learner, learner, now)
            .await?
        {
            s.learner = learner.to_string();
            lifecycle::extend(state, &s).await?;
            state
                .store
                .record_event(&s.id, "handed-over", learner, now)
                .await?;
            state.workshop.wake.notify_one();
            // A returning learner continues at their step: run its setup in the fresh lab.
            let step = state.store.step(learner, &s.lab).await?;
            if step > 0 && s.status == Status::Running {
                let st = state.clone();
                let sess = s.clone();
                tokio::spawn(async move {
                    if let Err(e) = lifecycle::run_setup(&st, &sess, step).await {
                        tracing::warn!(session = %sess.id, error = format!("{e:#}"), "step setup after hand-over failed");
                    }
                });
            }
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// Appends a learner to the start queue (once); returns their 1-based position.
pub fn enqueue(state: &Platform, q: Queued) -> usize {
    let pos = {
        let mut queue = state
            .workshop
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match queue
            .iter()
            .position(|x| x.learner == q.learner && x.lab == q.lab)
        {
            Some(i) => i + 1,
            None => {
                queue.push_back(q);
                queue.len()
            }
        }
    };
    state.workshop.wake.notify_one();
    pos
}

/// Starts queued labs in order while the server has room. Returns true if the head had to
/// wait (server full).
async fn drain_queue(state: &Platform) -> bool {
    loop {
        let head = state
            .workshop
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .front()
            .cloned();
        let Some(q) = head else {
            return false;
        };
        let Some(lab) = state.catalog.lab(&q.lab) else {
            pop(state, &q);
            continue;
        };
        match lifecycle::start(state, &q.learner, lab).await {
            Ok(_) => {
                pop(state, &q);
                state.workshop.changed(&q.learner);
                // Everyone behind moved up one place.
                let rest: Vec<String> = state
                    .workshop
                    .queue
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .map(|x| x.learner.clone())
                    .collect();
                for l in rest {
                    state.workshop.changed(&l);
                }
            }
            Err(AppError::Full { .. }) => return true,
            Err(e) => {
                tracing::warn!(learner = %q.learner, error = %e, "queued lab start failed");
                pop(state, &q);
                state.workshop.changed(&q.learner);
            }
        }
    }
}

fn pop(state: &Platform, q: &Queued) {
    let mut queue = state
        .workshop
        .queue
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if queue.front() == Some(q) {
        queue.pop_front();
    }
}

/// Tops up every open workshop's pool, and keeps pool labs from idling out.
async fn refill(state: &Platform) -> anyhow::Result<()> {
    let _pool = state.workshop.pool_lock.lock().await;
    let workshops: Vec<Workshop> = state
        .store
        .workshops()
        .workshops()
        .await?
        .into_iter()
        .filter(|w| !w.ended)
        .collect();
    if workshops.is_empty() {
        return Ok(());
    }
    let live = state.store.live_sessions().await?;
    let mut pooled: HashMap<&str, Vec<&Session>> = HashMap::new();
    for w in &workshops {
        let prefix = pool_prefix(&w.id);
        pooled.insert(
            &w.id,
            live.iter()
                .filter(|s| s.learner.starts_with(&prefix))
                .collect(),
        );
    }
    // Open node-1's shell of every ready pool lab now, so a learner's terminal attaches to
    // a live shell (the session id survives the hand-over) instead of waiting for an exec.
    let cold: Vec<&Session> = pooled
        .values()
        .flatten()
        .filter(|s| s.status == Status::Running && state.shells.get(&s.id, "node-1").is_none())
        .copied()
        .collect();
    futures_util::future::join_all(cold.into_iter().map(|s| async move {
        match state
            .runtime
            .terminal(
                &s.sandbox,
                "node-1",
                crate::engine::terminal::OPEN_SIZE.0,
                crate::engine::terminal::OPEN_SIZE.1,
            )
            .await
        {
            Ok(t) => state
                .shells
                .insert(&s.id, "node-1", crate::engine::terminal::Shell::spawn(t)),
            Err(e) => tracing::warn!(session = %s.id, error = %e, "pre-opening a pool lab's shell"),
        }
    }))
    .await;
    let now = now_ms();
    let idle_ms = state.config.idle.as_millis() as i64;
    for w in &workshops {
        let have = &pooled[w.id.as_str()];
        for s in have {
            if s.status == Status::Running && s.expires_ms - now < idle_ms / 2 {
                lifecycle::extend(state, s).await?;
            }
        }
        if !w.open || w.warm_pool == 0 {
            continue;
        }
        let Some(lab) = w.labs.first().and_then(|l| state.catalog.lab(l)) else {
            continue;
        };
        let members = state.store.workshops().members(&w.id).await?.len();
        let target = w.warm_pool.min(w.capacity.saturating_sub(members));
        for _ in have.len()..target {
            let placeholder = format!("{}{}", pool_prefix(&w.id), super::random_hex(6));
            match lifecycle::start(state, &placeholder, lab).await {
                Ok(_) => {}
                Err(AppError::Full { .. }) => return Ok(()),
                Err(e) => return Err(anyhow::anyhow!("starting a pool lab: {e}")),
            }
        }
    }
    Ok(())
}

/// Stops a workshop's pool labs (closed or ended workshops).
pub async fn drain_pool(state: &Platform, workshop: &str) -> Result<(), AppError> {
    let prefix = pool_prefix(workshop);
    for s in state.store.live_sessions().await? {
        if s.learner.starts_with(&prefix) {
            lifecycle::stop(state, &s, Status::Stopped, "workshop pool drained").await?;
        }
    }
    Ok(())
}

/// Ends a workshop: no more joins, queued starts dropped, the pool and every member's lab
/// stopped; results stay. Returns how many members' labs were stopped.
pub async fn end(state: &Platform, w: &mut Workshop) -> Result<usize, AppError> {
    let _pool = state.workshop.pool_lock.lock().await;
    w.open = false;
    w.ended = true;
    w.ends_ms = w.ends_ms.min(now_ms());
    state.store.workshops().update_workshop(w).await?;
    state
        .workshop
        .queue
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|q| q.workshop != w.id);
    drain_pool(state, &w.id).await?;
    let mut stopped = 0;
    for m in state.store.workshops().members(&w.id).await? {
        for lab in &w.labs {
            if let Some(s) = state.store.live_session(&m.learner, lab).await? {
                lifecycle::stop(state, &s, Status::Stopped, "the workshop ended").await?;
                stopped += 1;
            }
        }
        state.workshop.changed(&m.learner);
    }
    state.workshop.notice(&w.id);
    Ok(stopped)
}

/// Ends the workshops whose end time has passed.
async fn end_overdue(state: &Platform) -> anyhow::Result<()> {
    let now = now_ms();
    for mut w in state.store.workshops().workshops().await? {
        if !w.ended && w.ends_ms <= now {
            tracing::info!(workshop = %w.id, "the workshop's end time passed; ending it");
            end(state, &mut w)
                .await
                .map_err(|e| anyhow::anyhow!("ending workshop {}: {e}", w.id))?;
        }
    }
    Ok(())
}

/// The pool/queue task: runs on every wake-up (joins, labs stopping) and every second.
pub async fn run(state: Platform, shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut shutdown = shutdown;
    if let Err(e) = state.workshop.load(state.store.as_ref()).await {
        tracing::warn!(error = format!("{e:#}"), "loading workshop members");
    }
    loop {
        if let Err(e) = end_overdue(&state).await {
            tracing::warn!(error = format!("{e:#}"), "ending overdue workshops");
        }
        let waited = drain_queue(&state).await;
        // Learners waiting in the queue go before pool labs.
        if !waited {
            if let Err(e) = refill(&state).await {
                tracing::warn!(error = format!("{e:#}"), "warm pool refill failed");
            }
        }
        tokio::select! {
            _ = state.workshop.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
