//! Lab lifecycle: start (with capacity admission), step setup, reset, stop, idle expiry, and
//! the sweep that finds labs lost from outside, removes orphans and re-attaches after a
//! restart.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::Context;
use labkit::Lab;

use super::error::AppError;
use super::platform::{now_ms, Platform};
use crate::engine::runtime::Health;
use crate::store::{Session, Status};

fn random_id(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    data_encoding::HEXLOWER.encode(&b)
}

/// A new learner id.
pub fn new_learner_id() -> String {
    random_id(16)
}

/// Seconds a learner should wait for a slot: until the soonest live lab idles out.
async fn retry_after(state: &Platform, live: &[Session]) -> u64 {
    let now = now_ms();
    let soonest = live.iter().map(|s| s.expires_ms).min().unwrap_or(now);
    (((soonest - now).max(0) / 1000) as u64).clamp(5, state.config.idle.as_secs().max(5))
}

/// Starts `lab` for `learner`: returns the live session (an existing one if there is), or
/// `Full`. The containers start in the background; the session says `starting` until ready.
pub async fn start(state: &Platform, learner: &str, lab: &Lab) -> Result<Session, AppError> {
    let _admit = state.admission.lock().await;
    if let Some(s) = state.store.live_session(learner, &lab.id).await? {
        return Ok(s);
    }
    let live = state.store.live_sessions().await?;
    if live.len() >= state.config.max_labs {
        return Err(AppError::Full {
            retry_after: retry_after(state, &live).await,
            capacity: state.config.max_labs,
        });
    }
    let now = now_ms();
    state.store.upsert_learner(learner, "", now).await?;
    let id = random_id(6);
    let session = Session {
        id: id.clone(),
        learner: learner.to_string(),
        lab: lab.id.clone(),
        sandbox: format!("{}{id}", state.config.lab_prefix),
        status: Status::Starting,
        detail: String::new(),
        created_ms: now,
        updated_ms: now,
        expires_ms: now + state.config.idle.as_millis() as i64,
    };
    state.store.create_session(&session).await?;
    state
        .store
        .record_event(&id, "start", "requested", now)
        .await?;
    drop(_admit);
    let server = state.server_id().await?;
    let st = state.clone();
    let s = session.clone();
    let nodes = lab.nodes;
    tokio::spawn(async move {
        let t0 = Instant::now();
        let result = async {
            st.runtime
                .up(&s.sandbox, &server, &s.learner, nodes)
                .await
                .context("starting the lab")?;
            let step = st.store.step(&s.learner, &s.lab).await?;
            run_setup(&st, &s, step).await
        }
        .await;
        let now = now_ms();
        match result {
            Ok(()) => {
                st.metrics.lab_started("ok");
                st.metrics.start_seconds.observe(t0.elapsed().as_secs_f64());
                // A stop while starting wins.
                let current = st
                    .store
                    .session(&s.id)
                    .await
                    .ok()
                    .flatten()
                    .map(|x| x.status);
                if current == Some(Status::Starting) {
                    let _ = st.store.set_status(&s.id, Status::Running, "", now).await;
                    let _ = st
                        .store
                        .set_expiry(&s.id, now + st.config.idle.as_millis() as i64, now)
                        .await;
                    let _ = st
                        .store
                        .record_event(
                            &s.id,
                            "running",
                            &format!("{} ms", t0.elapsed().as_millis()),
                            now,
                        )
                        .await;
                    tracing::info!(session = %s.id, lab = %s.lab, ms = t0.elapsed().as_millis() as u64, "lab running");
                    st.session_changed(&s.id);
                } else {
                    let _ = st.runtime.down(&s.sandbox).await;
                }
            }
            Err(e) => {
                st.metrics.lab_started("failed");
                let detail = format!("{e:#}");
                tracing::warn!(session = %s.id, error = %detail, "lab start failed");
                let _ = st
                    .store
                    .set_status(&s.id, Status::Failed, &detail, now)
                    .await;
                let _ = st.store.record_event(&s.id, "failed", &detail, now).await;
                let _ = st.runtime.down(&s.sandbox).await;
                st.session_changed(&s.id);
            }
        }
    });
    Ok(session)
}

/// Runs the setup commands of step `step` in the session's lab.
pub async fn run_setup(state: &Platform, s: &Session, step: usize) -> anyhow::Result<()> {
    let lab = state.catalog.lab(&s.lab).context("lab content gone")?;
    crate::engine::setup::run_setup(state.runtime.as_ref(), lab, &s.sandbox, step).await
}

/// Stops a session's lab and records why (`stopped`, `expired`, `lost`).
pub async fn stop(
    state: &Platform,
    s: &Session,
    status: Status,
    detail: &str,
) -> Result<(), AppError> {
    let now = now_ms();
    state.store.set_status(&s.id, status, detail, now).await?;
    state
        .store
        .record_event(&s.id, status.as_str(), detail, now)
        .await?;
    state.shells.remove_session(&s.id);
    let down = state.runtime.down(&s.sandbox).await;
    state.session_changed(&s.id);
    down.map_err(|e| AppError::Internal(e.into()))?;
    Ok(())
}

/// Resets the step (its setup runs again) or the whole lab (stopped, back to step 1, started
/// again); `learner` owns `s`.
pub async fn reset(
    state: &Platform,
    learner: &str,
    s: Session,
    scope: &str,
) -> Result<Session, AppError> {
    let lab = state
        .catalog
        .lab(&s.lab)
        .ok_or_else(|| AppError::NotFound(format!("lab {}", s.lab)))?;
    match scope {
        "step" => {
            if s.status != Status::Running {
                return Err(AppError::Conflict(format!(
                    "the lab is {}, not running",
                    s.status.as_str()
                )));
            }
            let step = state.store.step(learner, &s.lab).await?;
            run_setup(state, &s, step)
                .await
                .map_err(AppError::Internal)?;
            state
                .store
                .record_event(&s.id, "reset-step", &step.to_string(), now_ms())
                .await?;
            Ok(s)
        }
        "lab" => {
            if s.status.is_live() {
                stop(state, &s, Status::Stopped, "reset").await?;
            }
            state.store.set_step(learner, &s.lab, 0, now_ms()).await?;
            start(state, learner, lab).await
        }
        other => Err(AppError::BadRequest(format!(
            "scope must be \"step\" or \"lab\", not {other:?}"
        ))),
    }
}

/// Pushes the idle deadline of a live session.
pub async fn extend(state: &Platform, s: &Session) -> Result<i64, AppError> {
    let now = now_ms();
    let expires = now + state.config.idle.as_millis() as i64;
    state.store.set_expiry(&s.id, expires, now).await?;
    Ok(expires)
}

/// Terminal activity: pushes the idle deadline, at most every 10 s per session.
pub fn touch(state: &Platform, session: &str) {
    let now = now_ms();
    {
        let mut t = state.touched.lock().unwrap_or_else(|p| p.into_inner());
        let last = t.entry(session.to_string()).or_insert(0);
        if now - *last < 10_000 {
            return;
        }
        *last = now;
    }
    let st = state.clone();
    let id = session.to_string();
    tokio::spawn(async move {
        let _ = st
            .store
            .set_expiry(&id, now + st.config.idle.as_millis() as i64, now)
            .await;
    });
}

/// At start-up: re-attach running labs whose containers are healthy, mark the others lost,
/// fail sessions interrupted while starting, then remove orphans.
pub async fn recover(state: &Platform) -> anyhow::Result<()> {
    for s in state.store.live_sessions().await? {
        match (s.status, state.runtime.health(&s.sandbox).await?) {
            (Status::Running, Health::Running) => {
                state
                    .store
                    .record_event(&s.id, "reattached", "", now_ms())
                    .await?;
                tracing::info!(session = %s.id, sandbox = %s.sandbox, "re-attached a running lab");
            }
            (Status::Starting, _) => {
                stop(
                    state,
                    &s,
                    Status::Failed,
                    "the server restarted while the lab was starting",
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            (_, h) => {
                let detail = lost_detail(&h);
                stop(state, &s, Status::Lost, &detail)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
    }
    remove_orphans(state).await
}

fn lost_detail(h: &Health) -> String {
    match h {
        Health::Missing => "the lab's containers are gone".to_string(),
        Health::Broken(d) => format!("the lab broke: {d}"),
        Health::Running => String::new(),
    }
}

/// Removes this server's labs that no live session owns. A lab is this server's when its
/// name has the server's prefix and its `kplab.server` label is the server's id; a lab with
/// the prefix and no id label was made before servers had ids (one server per Docker host
/// then), so it counts as this server's and is removed as before. A lab labelled with another
/// server's id is that server's business, whatever its name.
async fn remove_orphans(state: &Platform) -> anyhow::Result<()> {
    let me = state.server_id().await?;
    let owned: HashSet<String> = state
        .store
        .live_sessions()
        .await?
        .into_iter()
        .map(|s| s.sandbox)
        .collect();
    for sb in state.runtime.list(&state.config.lab_prefix).await? {
        if !is_mine(&sb, &me) {
            continue;
        }
        if !owned.contains(&sb.name) {
            tracing::info!(sandbox = %sb.name, "removing an orphaned lab");
            state.runtime.down(&sb.name).await?;
        }
    }
    Ok(())
}

/// Whether a listed lab (already matched on the prefix) was made by the server `me`.
fn is_mine(sb: &crate::engine::runtime::Sandbox, me: &str) -> bool {
    sb.server.as_deref().is_none_or(|s| s == me)
}

/// One sweep: expire idle labs, mark labs broken from outside as lost, remove orphans.
pub async fn sweep(state: &Platform) -> anyhow::Result<()> {
    let now = now_ms();
    for s in state.store.live_sessions().await? {
        if s.status == Status::Running && now > s.expires_ms {
            tracing::info!(session = %s.id, "stopping an idle lab");
            stop(state, &s, Status::Expired, "stopped after the idle timeout")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            continue;
        }
        if s.status == Status::Running {
            verify(state, &s).await?;
        }
    }
    remove_orphans(state).await
}

/// Checks a running lab's containers now, as the sweep does every `config.sweep`: a lab broken
/// from outside (its containers gone or stopped) is marked lost at once. Returns why it was
/// lost, or `None` while it runs.
pub async fn verify(state: &Platform, s: &Session) -> anyhow::Result<Option<String>> {
    // Read again: the learner may have stopped or reset the lab since `s` was read.
    let Some(s) = state.store.session(&s.id).await? else {
        return Ok(None);
    };
    if s.status != Status::Running {
        return Ok(None);
    }
    let h = state.runtime.health(&s.sandbox).await?;
    if h == Health::Running {
        return Ok(None);
    }
    let detail = lost_detail(&h);
    tracing::warn!(session = %s.id, detail = %detail, "lab lost");
    stop(state, &s, Status::Lost, &detail)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(detail))
}

/// Runs [`sweep`] every `config.sweep` until `shutdown` resolves.
pub async fn sweeper(state: Platform, shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut shutdown = shutdown;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(state.config.sweep) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = format!("{e:#}"), "lifecycle sweep failed");
        }
    }
}
