//! The workshop pages: join form, the learner's workshop page, the instructor's login,
//! workshop list, dashboard and terminal viewer.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;

use super::learner::{join, me_json};
use super::{instructor_workshop, render};
use crate::domain::workshop::ops::{self, NewWorkshop};
use crate::domain::workshop::{normalise_code, view};
use crate::store::Workshop;
use crate::web::auth::LearnerId;
use crate::web::error::ApiError;
use crate::web::guard::Client;
use crate::web::instructor as auth;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "workshop_join.html")]
struct JoinPage {
    code: String,
    name: String,
}

/// `GET /j` and `GET /j/{code}`: the join form.
pub async fn show_join(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    code: Option<Path<String>>,
) -> Result<Html<String>, ApiError> {
    let name = state
        .store
        .learner(&learner.0)
        .await
        .map_err(|e| ApiError::from(e).html())?
        .map(|l| l.name)
        .unwrap_or_default();
    let code = code
        .and_then(|Path(c)| normalise_code(&c))
        .unwrap_or_default();
    render(&JoinPage { code, name })
}

/// Join form.
#[derive(Debug, Deserialize)]
pub struct JoinForm {
    /// Code.
    pub code: String,
    /// Display name.
    pub name: String,
}

/// `POST /j`: joins, then shows the learner's workshop page.
pub async fn join_from_form(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    client: Client,
    Form(f): Form<JoinForm>,
) -> Result<Response, ApiError> {
    join(&state, &learner, client.ip, &f.code, &f.name)
        .await
        .map_err(ApiError::html)?;
    Ok(Redirect::to("/w").into_response())
}

#[derive(Template)]
#[template(path = "workshop_learner.html")]
struct LearnerPage {
    workshop: String,
    name: String,
    lab: String,
    status: String,
    position: Option<usize>,
}

/// `GET /w`: the learner's workshop: their queue position, or straight into their lab.
pub async fn show_my_workshop(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
) -> Result<Response, ApiError> {
    let me = me_json(&state, &learner).await.map_err(ApiError::html)?;
    if me["workshop"].is_null() {
        return Ok(Redirect::to("/j").into_response());
    }
    let lab = me["lab"].as_str().unwrap_or_default().to_string();
    if me["session"].is_object() {
        return Ok(Redirect::to(&format!("/labs/{lab}")).into_response());
    }
    let position = me["position"].as_u64().map(|p| p as usize);
    Ok(render(&LearnerPage {
        workshop: me["workshop"]["name"].as_str().unwrap_or_default().into(),
        name: me["name"].as_str().unwrap_or_default().into(),
        lab,
        status: if me["workshop"]["ended"] == true {
            "ended".into()
        } else if position.is_some() {
            "queued".into()
        } else {
            "waiting".into()
        },
        position,
    })?
    .into_response())
}

#[derive(Template)]
#[template(path = "workshop_instructor.html")]
struct InstructorPage {
    logged_in: bool,
    workshops: Vec<Workshop>,
    labs: Vec<String>,
    max_labs: usize,
}

/// `GET /instructor`: the login form, or the workshops and the "new workshop" form.
pub async fn show_instructor(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Html<String>, ApiError> {
    let logged_in = match auth::instructor(&state, &headers) {
        Ok(()) => true,
        Err(d) if d.status == StatusCode::NOT_FOUND => return Err(ApiError::from(d).html()),
        Err(_) => false,
    };
    let workshops = if logged_in {
        state
            .store
            .workshops()
            .workshops()
            .await
            .map_err(|e| ApiError::from(e).html())?
    } else {
        Vec::new()
    };
    render(&InstructorPage {
        logged_in,
        workshops,
        labs: state.catalog.labs.iter().map(|l| l.id.clone()).collect(),
        max_labs: state.config.max_labs,
    })
}

/// Login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The instructor token.
    pub token: String,
}

/// `POST /instructor/login`: wrong tokens are limited per client address by
/// [`crate::web::guard::token_guesses`].
pub async fn log_in(
    State(state): State<AppState>,
    client: Client,
    Form(f): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let jar = auth::login(&state, &f.token, client.https).map_err(|d| ApiError::from(d).html())?;
    Ok((jar, Redirect::to("/instructor")).into_response())
}

/// New-workshop form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    /// Name.
    pub name: String,
    /// Lab ids, comma separated.
    pub labs: String,
    /// Most learners.
    pub capacity: usize,
    /// Pre-started labs.
    pub warm_pool: usize,
    /// Own join code ("" for a random one).
    #[serde(default)]
    pub join_code: String,
    /// Length in minutes.
    pub minutes: i64,
}

/// `POST /instructor/workshops`
pub async fn create_from_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CreateForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    // Who asks is checked before what they sent.
    auth::instructor(&state, &headers).map_err(|d| ApiError::from(d).html())?;
    let Form(f) = form.map_err(|e| ApiError::new(e.status(), e.body_text()).html())?;
    let b = NewWorkshop {
        name: f.name,
        labs: f
            .labs
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        capacity: f.capacity,
        warm_pool: f.warm_pool,
        join_code: Some(f.join_code).filter(|c| !c.trim().is_empty()),
        starts_ms: None,
        minutes: Some(f.minutes),
    };
    let w = ops::create(&state, b)
        .await
        .map_err(|e| ApiError::from(e).html())?;
    Ok(Redirect::to(&format!("/instructor/workshops/{}", w.id)).into_response())
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    w: Workshop,
    join_url: String,
}

/// `GET /instructor/workshops/{id}`: the live dashboard.
pub async fn show_dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Html<String>, ApiError> {
    let w = instructor_workshop(&state, &headers, &id)
        .await
        .map_err(ApiError::html)?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let join_url = format!("http://{host}/j/{}", w.join_code);
    render(&DashboardPage { w, join_url })
}

#[derive(Template)]
#[template(path = "dashboard_terminal.html")]
struct TerminalPage {
    w: Workshop,
    learner: String,
    name: String,
    hosts: Vec<String>,
}

/// `GET /instructor/workshops/{id}/learners/{learner}`: the learner's terminal, read-only.
pub async fn show_terminal_viewer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, learner)): Path<(String, String)>,
) -> Result<Html<String>, ApiError> {
    let w = instructor_workshop(&state, &headers, &id)
        .await
        .map_err(ApiError::html)?;
    let m = ops::member(&state, &w, &learner)
        .await
        .map_err(|e| ApiError::from(e).html())?;
    let lab = view::row(&state, &w, &m)
        .await
        .map_err(|e| ApiError::from(e).html())?
        .lab;
    let hosts = state
        .catalog
        .lab(&lab)
        .map(|l| l.hosts())
        .unwrap_or_default();
    render(&TerminalPage {
        w,
        learner: m.learner,
        name: m.name,
        hosts,
    })
}
