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
use crate::web::error::{ApiError, AppError};
use crate::web::guard::Client;
use crate::web::instructor as auth;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "workshop_join.html")]
struct JoinPage {
    code: String,
    name: String,
    /// The workshop the code in the link names, if one does.
    workshop: Option<String>,
    /// It has ended.
    ended: bool,
}

/// `GET /j` and `GET /j/{code}`: the join form; with a code that is a workshop's, it names
/// the workshop. Looking a code up counts like joining with it: a wrong one counts against
/// the address's join-code limit, and past the limit no code is looked up.
pub async fn show_join(
    State(state): State<AppState>,
    Extension(learner): Extension<LearnerId>,
    client: Client,
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
    let mut found = None;
    if !code.is_empty() && state.limits.joins.check(&client.ip).is_ok() {
        found = state
            .store
            .workshops()
            .workshop_by_code(&code)
            .await
            .map_err(|e| ApiError::from(e).html())?;
        if found.is_none() {
            state.limits.joins.record(client.ip);
        }
    }
    render(&JoinPage {
        code,
        name,
        ended: found.as_ref().is_some_and(|w| w.ended),
        workshop: found.map(|w| w.name),
    })
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

/// A workshop in the instructor's list.
struct WorkshopLine {
    w: Workshop,
    /// `open`, `closed` or `ended`.
    state: &'static str,
}

/// A catalog lab on the new-workshop form.
struct LabChoice {
    id: String,
    title: String,
    checked: bool,
}

/// What the new-workshop form holds, as typed (kept when the form comes back with errors).
#[derive(Debug, Clone)]
struct CreateValues {
    name: String,
    labs: Vec<String>,
    capacity: String,
    warm_pool: String,
    join_code: String,
    minutes: String,
}

impl Default for CreateValues {
    fn default() -> Self {
        CreateValues {
            name: String::new(),
            labs: Vec::new(),
            capacity: "30".into(),
            warm_pool: "0".into(),
            join_code: String::new(),
            minutes: "240".into(),
        }
    }
}

/// What is wrong with the new-workshop form, beside each field.
#[derive(Debug, Default)]
struct FieldErrors {
    name: Option<String>,
    labs: Option<String>,
    capacity: Option<String>,
    warm_pool: Option<String>,
    join_code: Option<String>,
    minutes: Option<String>,
    /// Not about one field (the store failed, say).
    general: Option<String>,
}

impl FieldErrors {
    fn any(&self) -> bool {
        [
            &self.name,
            &self.labs,
            &self.capacity,
            &self.warm_pool,
            &self.join_code,
            &self.minutes,
            &self.general,
        ]
        .iter()
        .any(|e| e.is_some())
    }

    /// Records `message` for the form field `field` (the first message per field wins).
    fn add(&mut self, field: &str, message: String) {
        let slot = match field {
            "name" => &mut self.name,
            "labs" => &mut self.labs,
            "capacity" => &mut self.capacity,
            "warm_pool" => &mut self.warm_pool,
            "join_code" => &mut self.join_code,
            "minutes" => &mut self.minutes,
            _ => &mut self.general,
        };
        slot.get_or_insert(message);
    }
}

#[derive(Template)]
#[template(path = "workshop_instructor.html")]
struct InstructorPage {
    logged_in: bool,
    /// Why the last login failed.
    login_error: Option<&'static str>,
    workshops: Vec<WorkshopLine>,
    labs: Vec<LabChoice>,
    max_labs: usize,
    form: CreateValues,
    errors: FieldErrors,
}

impl InstructorPage {
    /// The logged-in page: the workshops and the form holding `form`, marked with `errors`.
    async fn logged_in(
        state: &AppState,
        form: CreateValues,
        errors: FieldErrors,
    ) -> Result<InstructorPage, ApiError> {
        let workshops = state
            .store
            .workshops()
            .workshops()
            .await
            .map_err(|e| ApiError::from(e).html())?
            .into_iter()
            .map(|w| WorkshopLine {
                state: joining_state(&w),
                w,
            })
            .collect();
        // A fresh form starts with the first lab checked.
        let first = state.catalog.labs.first().map(|l| l.id.clone());
        let chosen = |id: &String| {
            if form.labs.is_empty() && !errors.any() {
                first.as_ref() == Some(id)
            } else {
                form.labs.contains(id)
            }
        };
        let labs = state
            .catalog
            .labs
            .iter()
            .map(|l| LabChoice {
                checked: chosen(&l.id),
                id: l.id.clone(),
                title: l.title.clone(),
            })
            .collect();
        Ok(InstructorPage {
            logged_in: true,
            login_error: None,
            workshops,
            labs,
            max_labs: state.config.max_labs,
            form,
            errors,
        })
    }

    /// The login form, with why the last try failed.
    fn login(state: &AppState, login_error: Option<&'static str>) -> InstructorPage {
        InstructorPage {
            logged_in: false,
            login_error,
            workshops: Vec::new(),
            labs: Vec::new(),
            max_labs: state.config.max_labs,
            form: CreateValues::default(),
            errors: FieldErrors::default(),
        }
    }
}

/// `GET /instructor`: the login form, or the workshops and the "new workshop" form.
pub async fn show_instructor(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Html<String>, ApiError> {
    match auth::instructor(&state, &headers) {
        Ok(()) => render(
            &InstructorPage::logged_in(&state, CreateValues::default(), FieldErrors::default())
                .await?,
        ),
        Err(d) if d.status == StatusCode::NOT_FOUND => Err(ApiError::from(d).html()),
        Err(_) => render(&InstructorPage::login(&state, None)),
    }
}

/// Login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The instructor token.
    pub token: String,
}

/// `POST /instructor/login`: a wrong token shows the login form again, saying so (403, which
/// [`crate::web::guard::token_guesses`] counts against the client's address).
pub async fn log_in(
    State(state): State<AppState>,
    client: Client,
    Form(f): Form<LoginForm>,
) -> Result<Response, ApiError> {
    match auth::login(&state, &f.token, client.https) {
        Ok(jar) => Ok((jar, Redirect::to("/instructor")).into_response()),
        Err(d) if d.status == StatusCode::FORBIDDEN => Ok((
            StatusCode::FORBIDDEN,
            render(&InstructorPage::login(
                &state,
                Some("That token is not right. Check it and try again."),
            ))?,
        )
            .into_response()),
        Err(d) => Err(ApiError::from(d).html()),
    }
}

/// Reads the new-workshop form's fields (`labs` once per checked lab); what cannot be read
/// is recorded in `errors`.
fn read_create_form(
    pairs: Vec<(String, String)>,
    errors: &mut FieldErrors,
) -> (CreateValues, NewWorkshop) {
    let mut v = CreateValues {
        capacity: String::new(),
        warm_pool: String::new(),
        minutes: String::new(),
        ..CreateValues::default()
    };
    for (k, val) in pairs {
        match k.as_str() {
            "name" => v.name = val,
            "labs" => v.labs.extend(
                val.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
            ),
            "capacity" => v.capacity = val,
            "warm_pool" => v.warm_pool = val,
            "join_code" => v.join_code = val,
            "minutes" => v.minutes = val,
            _ => {}
        }
    }
    let mut number = |field: &'static str, text: &str, default: i64, what: &str| -> i64 {
        let t = text.trim();
        if t.is_empty() {
            return default;
        }
        t.parse::<i64>().unwrap_or_else(|_| {
            errors.add(field, format!("{field} must be a whole number of {what}"));
            default
        })
    };
    let capacity = number("capacity", &v.capacity, 30, "learners");
    let warm_pool = number("warm_pool", &v.warm_pool, 0, "labs");
    let minutes = number("minutes", &v.minutes, 240, "minutes");
    let b = NewWorkshop {
        name: v.name.clone(),
        labs: v.labs.clone(),
        // Out-of-range numbers become values the domain refuses with its own message.
        capacity: usize::try_from(capacity).unwrap_or(0),
        warm_pool: usize::try_from(warm_pool).unwrap_or(usize::MAX),
        join_code: Some(v.join_code.clone()).filter(|c| !c.trim().is_empty()),
        starts_ms: None,
        minutes: Some(minutes),
    };
    (v, b)
}

/// `POST /instructor/workshops`: creates the workshop and opens its dashboard; with anything
/// wrong, the form again (422) with each problem beside its field and what was typed kept.
pub async fn create_from_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    // Who asks is checked before what they sent.
    auth::instructor(&state, &headers).map_err(|d| ApiError::from(d).html())?;
    let Form(pairs) = form.map_err(|e| ApiError::new(e.status(), e.body_text()).html())?;
    let mut errors = FieldErrors::default();
    let (values, b) = read_create_form(pairs, &mut errors);
    for (field, message) in ops::problems(&state, &b) {
        errors.add(field, message);
    }
    if !errors.any() {
        match ops::create(&state, b).await {
            Ok(w) => {
                return Ok(Redirect::to(&format!("/instructor/workshops/{}", w.id)).into_response())
            }
            Err(AppError::Conflict(m)) => errors.add("join_code", m),
            Err(AppError::BadRequest(m)) => errors.add("general", m),
            Err(e) => return Err(ApiError::from(e).html()),
        }
    }
    let page = InstructorPage::logged_in(&state, values, errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    /// `open`, `closed` or `ended`.
    state: &'static str,
    w: Workshop,
    join_url: String,
}

/// A workshop's joining state as the pages name it: `open`, `closed` or `ended`.
fn joining_state(w: &Workshop) -> &'static str {
    match (w.ended, w.open) {
        (true, _) => "ended",
        (false, true) => "open",
        (false, false) => "closed",
    }
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
    render(&DashboardPage {
        state: joining_state(&w),
        w,
        join_url,
    })
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
