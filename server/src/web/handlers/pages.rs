//! Server-rendered pages: the catalog, a lab's page (step text, tasks, terminal), and the
//! form actions behind its buttons (start, stop, reset, extend, change step).

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;

use super::{find_lab, SessionView, TaskView};
use crate::domain::lifecycle;
use crate::domain::platform::now_ms;
use crate::store::Status;
use crate::web::auth::{require_returning, LearnerId, NewLearner};
use crate::web::error::AppError;
use crate::web::guard::Client;
use crate::web::state::AppState;

/// A catalog row.
pub struct LabCard {
    /// Lab id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Summary, as sanitised inline HTML (the lab's markdown summary).
    pub summary_html: String,
    /// Estimated learner time in minutes.
    pub minutes: u8,
    /// Tasks passed.
    pub passed: usize,
    /// Tasks.
    pub total: usize,
    /// Live session status, if any.
    pub status: Option<String>,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    labs: Vec<LabCard>,
    name: String,
}

fn render(t: &impl Template) -> Result<Html<String>, AppError> {
    t.render()
        .map(Html)
        .map_err(|e| AppError::Internal(e.into()))
}

/// `GET /`: one store query for the learner's name, progress and live labs; the cards'
/// static parts come from [`PageCache`].
pub async fn show_catalog(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
) -> Result<Html<String>, AppError> {
    let cache = &state.pages;
    let ids: Vec<&str> = cache.lab_ids.iter().map(String::as_str).collect();
    let st = state.store.catalog_state(&learner.0, &ids).await?;
    let labs = state
        .catalog
        .labs
        .iter()
        .zip(cache.totals.iter().zip(&cache.summaries))
        .map(|(l, (total, summary))| LabCard {
            id: l.id.clone(),
            title: l.title.clone(),
            summary_html: summary.clone(),
            minutes: l.minutes,
            // Of the tasks that complete the lab: an optional step's do not count.
            passed: st.passed.get(&l.id).map_or(0, |ids| {
                l.required_tasks().filter(|t| ids.contains(&t.id)).count()
            }),
            total: *total,
            status: st.live.get(&l.id).map(|s| s.as_str().to_string()),
        })
        .collect();
    render(&CatalogPage {
        labs,
        name: st.name,
    })
}

/// Display name form.
#[derive(Debug, Deserialize)]
pub struct NameForm {
    /// The optional display name (up to 64 characters).
    pub name: String,
}

/// `POST /name`: sets the learner's display name (a learner who has a cookie already: a
/// cookieless script gets no learner row).
pub async fn set_name(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    new: Option<Extension<NewLearner>>,
    Form(f): Form<NameForm>,
) -> Result<Response, AppError> {
    require_returning(new.map(|Extension(n)| n))?;
    let name = f.name.trim();
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "a name is at most 64 printable characters".into(),
        ));
    }
    state.store.upsert_learner(&learner.0, "", now_ms()).await?;
    state
        .store
        .upsert_learner(&learner.0, name, now_ms())
        .await?;
    Ok(Redirect::to("/").into_response())
}

/// A step link.
pub struct StepLink<'a> {
    /// Index.
    pub index: usize,
    /// Title.
    pub title: &'a str,
    /// Is it the one shown?
    pub current: bool,
    /// Has every task of it passed?
    pub done: bool,
    /// An unguided challenge step.
    pub challenge: bool,
    /// The lab is complete without it.
    pub optional: bool,
}

#[derive(Template)]
#[template(path = "lab.html")]
struct LabPage<'a> {
    lab: &'a labkit::Lab,
    steps: Vec<StepLink<'a>>,
    step: usize,
    step_title: &'a str,
    /// The step shown is a challenge, or optional.
    challenge: bool,
    optional: bool,
    step_html: &'a str,
    intro_html: &'a str,
    tasks: Vec<TaskView>,
    session: Option<SessionView>,
    hosts: &'a [String],
    idle_secs: u64,
    /// Tasks of the lab passed, and all its tasks.
    passed: usize,
    total: usize,
    /// Every task of the step shown passed.
    step_done: bool,
    /// Every task of the lab passed.
    complete: bool,
    /// The catalog's next lab (id, title) after a complete one.
    next_lab: Option<(&'a str, &'a str)>,
    /// What the last action did (after a redirect).
    notice: Option<String>,
}

/// `?step=N&done=ACTION`
#[derive(Debug, Deserialize)]
pub struct StepQuery {
    /// Step index to show (1-based in URLs).
    pub step: Option<usize>,
    /// The action a form just did, for the notice the page shows once.
    pub done: Option<String>,
}

/// The sentence the page shows after an action redirected to it; unknown actions show none.
fn notice(done: &str, step: usize) -> Option<String> {
    Some(match done {
        "reset-step" => format!("Step {step} was reset: its setup ran again in your lab."),
        "reset-lab" => {
            "The lab was reset: a fresh lab replaced the old one. Your passed tasks are kept."
                .into()
        }
        "extend" => "Your lab runs longer: the idle stop moved back.".into(),
        "stop" => "The lab was stopped. Your passed tasks are kept.".into(),
        _ => return None,
    })
}

/// `GET /labs/{lab}`: one store query ([`crate::store::Store::lab_page_state`]); the
/// markdown, step links and hosts were prepared at start-up.
pub async fn show_lab(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path(lab_id): Path<String>,
    Query(q): Query<StepQuery>,
) -> Result<Html<String>, AppError> {
    let (index, lab) = state
        .catalog
        .labs
        .iter()
        .enumerate()
        .find(|(_, l)| l.id == lab_id)
        .ok_or_else(|| AppError::NotFound(format!("lab {lab_id}")))?;
    let st = state.store.lab_page_state(&learner.0, &lab.id).await?;
    let step = match q.step {
        Some(p) if p >= 1 && p <= lab.steps.len() => p - 1,
        Some(p) => {
            return Err(AppError::BadRequest(format!(
                "step must be 1..{}, not {p}",
                lab.steps.len()
            )))
        }
        None => st.step.min(lab.steps.len().saturating_sub(1)),
    };
    let session = st.latest.as_ref().map(|s| SessionView::of(s, st.step));
    let tasks = TaskView::of_step(lab, step, &st.results);
    let prepared = &state.pages.labs[index];
    let passed_ids: std::collections::HashSet<&str> = st
        .results
        .iter()
        .filter(|r| r.passed)
        .map(|r| r.task.as_str())
        .collect();
    let step_done: Vec<bool> = lab
        .steps
        .iter()
        .map(|p| p.tasks.iter().all(|t| passed_ids.contains(t.id.as_str())))
        .collect();
    let total = state.pages.totals[index];
    let passed = lab
        .required_tasks()
        .filter(|t| passed_ids.contains(t.id.as_str()))
        .count();
    let page = LabPage {
        lab,
        steps: prepared
            .step_titles
            .iter()
            .enumerate()
            .map(|(i, title)| StepLink {
                index: i + 1,
                title,
                current: i == step,
                done: step_done[i] && !lab.steps[i].tasks.is_empty(),
                challenge: lab.steps[i].challenge,
                optional: lab.steps[i].optional,
            })
            .collect(),
        step: step + 1,
        step_title: &prepared.step_titles[step],
        challenge: lab.steps[step].challenge,
        optional: lab.steps[step].optional,
        step_html: state
            .html
            .get(&(lab.id.clone(), step))
            .map(String::as_str)
            .unwrap_or(""),
        intro_html: state
            .html
            .get(&(lab.id.clone(), usize::MAX))
            .map(String::as_str)
            .unwrap_or(""),
        tasks,
        session,
        hosts: &prepared.hosts,
        idle_secs: state.config.idle.as_secs(),
        passed,
        total,
        step_done: step_done[step],
        complete: total > 0 && passed == total,
        next_lab: state
            .catalog
            .labs
            .get(index + 1)
            .map(|l| (l.id.as_str(), l.title.as_str())),
        notice: q.done.as_deref().and_then(|d| notice(d, step + 1)),
    };
    render(&page)
}

/// `POST /labs/{lab}/start`: starts (or restarts) the lab, or shows the "full" page (503).
/// Refused (403, a page asking to reload) without a learner cookie from an earlier page view;
/// limited per learner and per address (429, a page that says when to try again).
pub async fn start_lab(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    new: Option<Extension<NewLearner>>,
    client: Client,
    Path(lab_id): Path<String>,
) -> Result<Response, AppError> {
    let lab = find_lab(&state, &lab_id)?;
    require_returning(new.map(|Extension(n)| n))?;
    state.limits.admit_start(&learner.0, client.ip)?;
    lifecycle::start(&state, &learner.0, lab).await?;
    Ok(Redirect::to(&format!("/labs/{lab_id}")).into_response())
}

async fn live(
    state: &AppState,
    learner: &LearnerId,
    lab_id: &str,
) -> Result<crate::store::Session, AppError> {
    state
        .store
        .live_session(&learner.0, lab_id)
        .await?
        .ok_or_else(|| AppError::Conflict(format!("lab {lab_id} is not running")))
}

/// `POST /labs/{lab}/stop`
pub async fn stop_lab(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path(lab_id): Path<String>,
) -> Result<Response, AppError> {
    let s = live(&state, &learner, &lab_id).await?;
    lifecycle::stop(&state, &s, Status::Stopped, "stopped by the learner").await?;
    Ok(Redirect::to(&format!("/labs/{lab_id}?done=stop")).into_response())
}

/// Reset form.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    /// `step` or `lab`.
    pub scope: String,
}

/// `POST /labs/{lab}/reset`
pub async fn reset_lab(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    client: Client,
    Path(lab_id): Path<String>,
    Form(f): Form<ResetForm>,
) -> Result<Response, AppError> {
    let s = live(&state, &learner, &lab_id).await?;
    if f.scope == "lab" {
        // A fresh lab is a start: it counts against the start limits.
        state.limits.admit_start(&learner.0, client.ip)?;
    }
    lifecycle::reset(&state, &learner.0, s, &f.scope).await?;
    Ok(Redirect::to(&format!("/labs/{lab_id}?done=reset-{}", f.scope)).into_response())
}

/// `POST /labs/{lab}/extend`
pub async fn extend_lab(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    Path(lab_id): Path<String>,
) -> Result<Response, AppError> {
    let s = live(&state, &learner, &lab_id).await?;
    lifecycle::extend(&state, &s).await?;
    Ok(Redirect::to(&format!("/labs/{lab_id}?done=extend")).into_response())
}

/// Step form.
#[derive(Debug, Deserialize)]
pub struct StepForm {
    /// 1-based step.
    pub step: usize,
}

/// `POST /labs/{lab}/step`: moves to a step and runs its setup in the running lab.
pub async fn set_step(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    new: Option<Extension<NewLearner>>,
    Path(lab_id): Path<String>,
    Form(f): Form<StepForm>,
) -> Result<Response, AppError> {
    require_returning(new.map(|Extension(n)| n))?;
    let lab = find_lab(&state, &lab_id)?;
    if f.step == 0 || f.step > lab.steps.len() {
        return Err(AppError::BadRequest(format!(
            "step must be 1..{}, not {}",
            lab.steps.len(),
            f.step
        )));
    }
    state.store.upsert_learner(&learner.0, "", now_ms()).await?;
    state
        .store
        .set_step(&learner.0, &lab.id, f.step - 1, now_ms())
        .await?;
    if let Some(s) = state.store.live_session(&learner.0, &lab.id).await? {
        if s.status == Status::Running {
            lifecycle::run_setup(&state, &s, f.step - 1)
                .await
                .map_err(AppError::Internal)?;
        }
    }
    Ok(Redirect::to(&format!("/labs/{lab_id}")).into_response())
}

/// `GET /static/{*path}`: a file under the static directory, gzipped when the client takes it,
/// 304 when its ETag matches.
pub async fn serve_static(
    State(state): State<AppState>,
    Path(rel): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ok_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    if rel.len() > 200 || !rel.split('/').all(ok_segment) {
        return Err(AppError::BadRequest(format!(
            "bad static path {:?}",
            rel.chars().take(200).collect::<String>()
        )));
    }
    let asset = state.assets.load(&rel)?;
    let mut h = HeaderMap::new();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&asset.etag).expect("ascii etag"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == asset.etag || t.trim() == "*")
        });
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    let takes_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|e| {
                let mut parts = e.split(';');
                parts.next().is_some_and(|n| n.trim() == "gzip")
                    && !parts.any(|q| q.trim().replace(' ', "") == "q=0")
            })
        });
    let body = match (&asset.gzip, takes_gzip) {
        (Some(gz), true) => {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            gz.clone()
        }
        _ => asset.body.clone(),
    };
    Ok((StatusCode::OK, h, body).into_response())
}
