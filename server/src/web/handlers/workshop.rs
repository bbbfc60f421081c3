//! Workshop pages and API (issue 8).
//!
//! Instructor side (token as `Authorization: Bearer` or the login cookie; 404 with a reason
//! when the server has no token): `/instructor…` pages, `POST /api/workshops`,
//! `GET /api/workshops/{id}/dashboard`, the live `…/events` stream (SSE), close/open/end/
//! extend/broadcast, export, per-learner reset/restart/extend and a read-only terminal.
//! Learner side (the learner cookie): `/j/{code}` and `POST /api/workshops/join`, `/w` and
//! `GET /api/workshops/me` (queue position, pinned message), `…/me/events`, raise a hand.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use futures_util::{SinkExt, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::domain::lifecycle;
use crate::domain::platform::now_ms;
use crate::domain::workshop::bus::Queued;
use crate::domain::workshop::{normalise_code, pool, view};
use crate::engine::terminal::{pump, Frame, Shell};
use crate::store::{Member, Workshop};
use crate::store::{Session, Status};
use crate::web::auth::Learner;
use crate::web::error::AppError;
use crate::web::guard::Client;
use crate::web::instructor as auth;
use crate::web::state::AppState;

/// A refused request: status, reason, and for 429 the seconds to wait.
#[derive(Debug)]
pub struct Fail {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
    html: bool,
}

impl Fail {
    fn new(status: StatusCode, message: impl Into<String>) -> Fail {
        Fail {
            status,
            message: message.into(),
            retry_after: None,
            html: false,
        }
    }
    fn html(mut self) -> Fail {
        self.html = true;
        self
    }
}

impl From<AppError> for Fail {
    fn from(e: AppError) -> Fail {
        if let AppError::Internal(cause) = &e {
            tracing::error!(error = format!("{cause:#}"), "workshop request failed");
        }
        let mut f = Fail::new(e.status(), e.to_string());
        f.retry_after = e.wait();
        f
    }
}

impl From<crate::store::StoreError> for Fail {
    fn from(e: crate::store::StoreError) -> Fail {
        AppError::from(e).into()
    }
}

impl From<auth::Denied> for Fail {
    fn from(d: auth::Denied) -> Fail {
        Fail::new(d.status, d.reason)
    }
}

#[derive(Template)]
#[template(path = "workshop_message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    retry_after: Option<u64>,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let mut r = if self.html {
            let title = self.status.canonical_reason().unwrap_or("Error");
            let body = MessagePage {
                title,
                message: &self.message,
                retry_after: self.retry_after,
            }
            .render()
            .unwrap_or_else(|_| self.message.clone());
            (self.status, Html(body)).into_response()
        } else {
            let mut body = json!({ "error": self.message });
            if let Some(s) = self.retry_after {
                body["retry_after"] = s.into();
            }
            (self.status, Json(body)).into_response()
        };
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Fail> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| Fail::new(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

fn render(t: &impl Template) -> Result<Html<String>, Fail> {
    t.render()
        .map(Html)
        .map_err(|e| Fail::from(AppError::Internal(e.into())).html())
}

async fn instructor_workshop(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<Workshop, Fail> {
    auth::instructor(state, headers)?;
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Fail::new(StatusCode::BAD_REQUEST, "bad workshop id"));
    }
    state
        .store
        .workshops()
        .workshop(id)
        .await?
        .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, format!("workshop {id} not found")))
}

async fn member(state: &AppState, w: &Workshop, learner: &str) -> Result<Member, Fail> {
    state
        .store
        .workshops()
        .members(&w.id)
        .await?
        .into_iter()
        .find(|m| m.learner == learner)
        .ok_or_else(|| {
            Fail::new(
                StatusCode::NOT_FOUND,
                format!("learner {learner} is not in this workshop"),
            )
        })
}

/// The learner's live session in one of the workshop's labs.
async fn live_in(state: &AppState, w: &Workshop, learner: &str) -> Result<Option<Session>, Fail> {
    for lab in &w.labs {
        if let Some(s) = state.store.live_session(learner, lab).await? {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------- creating and managing

/// `POST /api/workshops` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
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

async fn create(state: &AppState, b: CreateBody) -> Result<Workshop, Fail> {
    let bad = |m: String| Fail::new(StatusCode::BAD_REQUEST, m);
    let name = b.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(bad("name must be 1-100 printable characters".into()));
    }
    if b.labs.is_empty() || b.labs.len() > 20 {
        return Err(bad("labs must list 1-20 lab ids".into()));
    }
    for l in &b.labs {
        if state.catalog.lab(l).is_none() {
            return Err(bad(format!("no lab {l:?} in the catalog")));
        }
    }
    if b.capacity == 0 || b.capacity > 1000 {
        return Err(bad("capacity must be 1-1000 learners".into()));
    }
    if b.warm_pool > b.capacity || b.warm_pool > state.config.max_labs {
        return Err(bad(format!(
            "warm_pool must be at most the capacity ({}) and the server's lab limit ({})",
            b.capacity, state.config.max_labs
        )));
    }
    let minutes = b.minutes.unwrap_or(240);
    if !(1..=7 * 24 * 60).contains(&minutes) {
        return Err(bad("minutes must be 1-10080".into()));
    }
    let now = now_ms();
    let starts_ms = b.starts_ms.unwrap_or(now);
    let mut w = Workshop {
        id: crate::domain::workshop::random_hex(6),
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
            Some(c) => normalise_code(c)
                .ok_or_else(|| bad("join_code must be 4-16 letters and digits".into()))?,
            None => crate::domain::workshop::new_join_code(),
        };
        if state.store.workshops().create_workshop(&w).await? {
            state.workshop.wake.notify_one();
            return Ok(w);
        }
        if b.join_code.is_some() || attempt == 19 {
            break;
        }
    }
    Err(Fail::new(
        StatusCode::CONFLICT,
        format!("join code {} is taken", w.join_code),
    ))
}

/// `POST /api/workshops` -> `{id, join_code}`
pub async fn api_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Fail> {
    auth::instructor(&state, &headers)?;
    let w = create(&state, parse(&body)?).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": w.id, "join_code": w.join_code, "join_url": format!("/j/{}", w.join_code) })),
    )
        .into_response())
}

/// `GET /api/workshops`
pub async fn api_list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Fail> {
    auth::instructor(&state, &headers)?;
    let ws = state.store.workshops().workshops().await?;
    Ok(Json(json!({ "workshops": ws })))
}

/// `GET /api/workshops/{id}`
pub async fn api_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Fail> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    Ok(Json(json!(w)))
}

/// `GET /api/workshops/{id}/dashboard`: a row per learner.
pub async fn api_dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Fail> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    let rows = view::rows(&state, &w).await?;
    Ok(Json(json!({ "workshop": w, "rows": rows })))
}

async fn set_open(state: &AppState, mut w: Workshop, open: bool) -> Result<Workshop, Fail> {
    if w.ended && open {
        return Err(Fail::new(
            StatusCode::CONFLICT,
            "the workshop has ended; it cannot be opened again",
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

/// `POST /api/workshops/{id}/close`: no more joins (the warm pool is stopped).
pub async fn api_close(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Fail> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    let w = set_open(&state, w, false).await?;
    Ok(Json(json!({ "id": w.id, "open": w.open })))
}

/// `POST /api/workshops/{id}/open`: joining again.
pub async fn api_open(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Fail> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    let w = set_open(&state, w, true).await?;
    Ok(Json(json!({ "id": w.id, "open": w.open })))
}

/// `POST /api/workshops/{id}/end`: closes joining and stops every lab; results are kept.
pub async fn api_end(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Fail> {
    let mut w = instructor_workshop(&state, &headers, &id).await?;
    let stopped = pool::end(&state, &mut w).await?;
    Ok(Json(
        json!({ "id": w.id, "ended": true, "labs_stopped": stopped }),
    ))
}

/// `POST /api/workshops/{id}/extend` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// Minutes to add to the end time.
    pub minutes: i64,
}

/// `POST /api/workshops/{id}/extend`: pushes the end time.
pub async fn api_extend(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, Fail> {
    let mut w = instructor_workshop(&state, &headers, &id).await?;
    let b: ExtendBody = parse(&body)?;
    if !(1..=24 * 60).contains(&b.minutes) {
        return Err(Fail::new(StatusCode::BAD_REQUEST, "minutes must be 1-1440"));
    }
    if w.ended {
        return Err(Fail::new(StatusCode::CONFLICT, "the workshop has ended"));
    }
    w.ends_ms = w.ends_ms.max(now_ms()) + b.minutes * 60_000;
    state.store.workshops().update_workshop(&w).await?;
    state.workshop.notice(&w.id);
    Ok(Json(json!({ "id": w.id, "ends_ms": w.ends_ms })))
}

/// `POST /api/workshops/{id}/broadcast` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastBody {
    /// The message pinned on every learner's page ("" removes it).
    pub message: String,
}

/// `POST /api/workshops/{id}/broadcast`: pins a message on every learner's page.
pub async fn api_broadcast(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, Fail> {
    let mut w = instructor_workshop(&state, &headers, &id).await?;
    let b: BroadcastBody = parse(&body)?;
    let message = b.message.trim().to_string();
    if message.chars().count() > 500 {
        return Err(Fail::new(
            StatusCode::BAD_REQUEST,
            "message is longer than 500 characters",
        ));
    }
    w.message = message;
    state.store.workshops().update_workshop(&w).await?;
    state.workshop.notice(&w.id);
    Ok(Json(json!({ "id": w.id, "message": w.message })))
}

/// `?format=csv|json`
#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// `GET /api/workshops/{id}/export?format=csv|json`: every learner x task.
pub async fn api_export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, Fail> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    let rows = view::export(&state, &w).await?;
    let file = format!("workshop-{}", w.id);
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok((
            [(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}.json\""),
            )],
            Json(json!({ "workshop": w, "results": rows })),
        )
            .into_response()),
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}.csv\""),
                ),
            ],
            view::to_csv(&rows),
        )
            .into_response()),
        other => Err(Fail::new(
            StatusCode::BAD_REQUEST,
            format!("format must be csv or json, not {other:?}"),
        )),
    }
}

/// Per-learner action body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// For `reset`: `phase` (default) or `lab`.
    #[serde(default)]
    pub scope: Option<String>,
}

/// `POST /api/workshops/{id}/learners/{learner}/{action}`: `reset` (`{"scope":"phase"|"lab"}`),
/// `restart` (a fresh lab, progress kept) or `extend` (the idle timeout).
pub async fn api_learner_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, learner, action)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, Fail> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    member(&state, &w, &learner).await?;
    let b: ActionBody = parse(&body)?;
    let live = live_in(&state, &w, &learner).await?;
    let who = Learner(learner.clone());
    let out = match action.as_str() {
        "reset" => {
            let s = live
                .ok_or_else(|| Fail::new(StatusCode::CONFLICT, "the learner has no lab running"))?;
            let scope = b.scope.unwrap_or_else(|| "phase".into());
            let s = crate::domain::lifecycle::reset(&state, &who.0, s, &scope).await?;
            json!({ "session": s.id, "status": s.status, "scope": scope })
        }
        "restart" => {
            let lab_id = match &live {
                Some(s) => s.lab.clone(),
                None => {
                    view::row(&state, &w, &member(&state, &w, &learner).await?)
                        .await?
                        .lab
                }
            };
            if let Some(s) = &live {
                lifecycle::stop(&state, s, Status::Stopped, "restarted by the instructor").await?;
            }
            let lab = state
                .catalog
                .lab(&lab_id)
                .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, format!("lab {lab_id}")))?;
            let s = lifecycle::start(&state, &learner, lab).await?;
            json!({ "session": s.id, "status": s.status })
        }
        "extend" => {
            let s = live
                .ok_or_else(|| Fail::new(StatusCode::CONFLICT, "the learner has no lab running"))?;
            let expires = lifecycle::extend(&state, &s).await?;
            json!({ "session": s.id, "expires_in": (expires - now_ms()) / 1000 })
        }
        other => {
            return Err(Fail::new(
                StatusCode::NOT_FOUND,
                format!("no action {other:?}: reset, restart or extend"),
            ))
        }
    };
    state.workshop.changed(&learner);
    Ok(Json(out))
}

// ---------------------------------------------------------------- live dashboard

enum Next {
    Row(String),
    Notice,
    Snapshot,
    Done,
}

/// `GET /api/workshops/{id}/events`: server-sent events. First `snapshot` (every row), then
/// a `row` event whenever a learner's row changes and `workshop` when the workshop does.
pub async fn api_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Fail> {
    let w = instructor_workshop(&state, &headers, &id).await?;
    let changes = state.workshop.subscribe();
    let notices = state.workshop.subscribe_notices();
    let stream = futures_util::stream::unfold(
        (state, w, changes, notices, true),
        |(state, mut w, mut changes, mut notices, first)| async move {
            let next = if first {
                Next::Snapshot
            } else {
                loop {
                    tokio::select! {
                        c = changes.recv() => match c {
                            Ok(c) if c.workshop == w.id => break Next::Row(c.learner),
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break Next::Snapshot,
                            Err(_) => break Next::Done,
                        },
                        n = notices.recv() => match n {
                            Ok(n) if n == w.id => break Next::Notice,
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break Next::Notice,
                            Err(_) => break Next::Done,
                        },
                    }
                }
            };
            let event = match next {
                Next::Done => return None,
                Next::Snapshot => match view::rows(&state, &w).await {
                    Ok(rows) => Event::default()
                        .event("snapshot")
                        .json_data(json!({ "workshop": w, "rows": rows })),
                    Err(_) => Ok(Event::default().comment("snapshot failed")),
                },
                Next::Notice => {
                    if let Ok(Some(fresh)) = state.store.workshops().workshop(&w.id).await {
                        w = fresh;
                    }
                    Event::default().event("workshop").json_data(&w)
                }
                Next::Row(learner) => {
                    let m = state
                        .store
                        .workshops()
                        .members(&w.id)
                        .await
                        .ok()
                        .and_then(|ms| ms.into_iter().find(|m| m.learner == learner));
                    match m {
                        Some(m) => match view::row(&state, &w, &m).await {
                            Ok(row) => Event::default().event("row").json_data(row),
                            Err(_) => Ok(Event::default().comment("row failed")),
                        },
                        None => Ok(Event::default().comment("not a member")),
                    }
                }
            };
            let event = event.unwrap_or_else(|_| Event::default().comment("encoding failed"));
            Some((Ok(event), (state, w, changes, notices, false)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// `GET /api/workshops/{id}/learners/{learner}/terminals/{host}`: a read-only WebSocket on
/// the learner's shell. Input and control frames from this socket are dropped here, on the
/// server: they never reach the shell.
pub async fn api_view_terminal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, learner, host)): Path<(String, String, String)>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, Fail> {
    // Who asks is checked before whether it is a WebSocket handshake.
    let w = instructor_workshop(&state, &headers, &id).await?;
    let ws = ws.map_err(|e| Fail::new(e.status(), e.body_text()))?;
    member(&state, &w, &learner).await?;
    let s = live_in(&state, &w, &learner)
        .await?
        .filter(|s| s.status == Status::Running)
        .ok_or_else(|| Fail::new(StatusCode::CONFLICT, "the learner has no lab running"))?;
    let lab = state
        .catalog
        .lab(&s.lab)
        .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, format!("lab {}", s.lab)))?;
    if !lab.hosts().contains(&host) {
        return Err(Fail::new(
            StatusCode::NOT_FOUND,
            format!("host {host} not found"),
        ));
    }
    let shell = match state.shells.get(&s.id, &host) {
        Some(sh) => sh,
        None => {
            let t = state
                .runtime
                .terminal(&s.sandbox, &host, 100, 30)
                .await
                .map_err(|e| Fail::from(AppError::Internal(e.into())))?;
            let sh = Shell::spawn(t);
            state.shells.insert(&s.id, &host, sh.clone());
            sh
        }
    };
    Ok(ws
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket: WebSocket| async move {
            let (tx, rx) = socket.split();
            let tx = tx.with(|f: Frame| async move {
                Ok::<_, axum::Error>(match f {
                    Frame::Binary(b) => Message::Binary(b.into()),
                    Frame::Text(t) => Message::Text(t.into()),
                    Frame::Close => Message::Close(None),
                })
            });
            // Read-only: only the close reaches the pump; keystrokes and resizes stop here.
            let rx = rx.filter_map(|m| async move {
                match m {
                    Ok(Message::Close(_)) => Some(Ok(Frame::Close)),
                    Ok(Message::Binary(_)) | Ok(Message::Text(_)) => {
                        tracing::debug!("read-only terminal: input dropped");
                        None
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            });
            pump(Box::pin(tx), Box::pin(rx), shell, || {}).await;
        }))
}

// ---------------------------------------------------------------- learners

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

async fn join(
    state: &AppState,
    learner: &Learner,
    ip: std::net::IpAddr,
    code: &str,
    name: &str,
) -> Result<Joined, Fail> {
    if let Err(wait) = state.limits.joins.check(&ip) {
        let mut f = Fail::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many wrong join codes from your address; try again in {wait} s"),
        );
        f.retry_after = Some(wait);
        return Err(f);
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Fail::new(
            StatusCode::BAD_REQUEST,
            "a display name of 1-64 printable characters is needed",
        ));
    }
    let found = match normalise_code(code) {
        Some(c) => state.store.workshops().workshop_by_code(&c).await?,
        None => None,
    };
    let Some(w) = found else {
        state.limits.joins.record(ip);
        return Err(Fail::new(
            StatusCode::NOT_FOUND,
            "no workshop has this join code",
        ));
    };
    if w.ended {
        return Err(Fail::new(StatusCode::CONFLICT, "this workshop has ended"));
    }
    {
        let _one_at_a_time = state.workshop.claim.lock().await;
        let members = state.store.workshops().members(&w.id).await?;
        let is_member = members.iter().any(|m| m.learner == learner.0);
        if !is_member {
            if !w.open {
                return Err(Fail::new(
                    StatusCode::FORBIDDEN,
                    "joining this workshop is closed",
                ));
            }
            if members.len() >= w.capacity {
                return Err(Fail::new(
                    StatusCode::CONFLICT,
                    format!("this workshop is full ({} learners)", w.capacity),
                ));
            }
        }
        let now = now_ms();
        state.store.upsert_learner(&learner.0, name, now).await?;
        state
            .store
            .workshops()
            .add_member(&w.id, &learner.0, name, now)
            .await?;
    }
    state.workshop.joined(&w.id, &learner.0);
    let lab = w.labs.first().cloned().unwrap_or_default();
    if let Some(s) = live_in(state, &w, &learner.0).await? {
        return Ok(Joined {
            workshop: w,
            session: Some(s),
            position: None,
        });
    }
    if let Some(s) = pool::claim(state, &w, &learner.0).await? {
        state.workshop.changed(&learner.0);
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
            learner: learner.0.clone(),
            lab,
        },
    );
    state.workshop.changed(&learner.0);
    Ok(Joined {
        workshop: w,
        session: None,
        position: Some(position),
    })
}

/// `POST /api/workshops/join` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    /// Join code.
    pub code: String,
    /// Display name.
    pub name: String,
}

/// `POST /api/workshops/join` -> `{workshop, lab, session, status, position}`; the learner
/// cookie is set by the learner middleware.
pub async fn api_join(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    client: Client,
    body: Bytes,
) -> Result<Json<serde_json::Value>, Fail> {
    let b: JoinBody = parse(&body)?;
    let j = join(&state, &learner, client.ip, &b.code, &b.name).await?;
    Ok(Json(joined_json(&j, &learner)))
}

fn joined_json(j: &Joined, learner: &Learner) -> serde_json::Value {
    json!({
        "workshop": j.workshop.id, "name": j.workshop.name, "learner": learner.0,
        "lab": j.session.as_ref().map(|s| s.lab.clone()).or_else(|| j.workshop.labs.first().cloned()),
        "session": j.session.as_ref().map(|s| s.id.clone()),
        "status": match (&j.session, j.position) {
            (Some(s), _) => s.status.as_str(),
            (None, Some(_)) => "queued",
            (None, None) => "waiting",
        },
        "position": j.position,
    })
}

async fn me_json(state: &AppState, learner: &Learner) -> Result<serde_json::Value, Fail> {
    let Some(m) = state.store.workshops().membership(&learner.0).await? else {
        return Ok(json!({ "workshop": null }));
    };
    let Some(w) = state.store.workshops().workshop(&m.workshop).await? else {
        return Ok(json!({ "workshop": null }));
    };
    let live = live_in(state, &w, &learner.0).await?;
    let position = state.workshop.queue_position(&learner.0);
    Ok(json!({
        "workshop": { "id": w.id, "name": w.name, "message": w.message, "open": w.open,
                      "ended": w.ended, "ends_ms": w.ends_ms },
        "name": m.name,
        "hand": m.hand_ms > 0,
        "lab": live.as_ref().map(|s| s.lab.clone()).or_else(|| w.labs.first().cloned()),
        "session": live.as_ref().map(|s| json!({ "id": s.id, "status": s.status })),
        "position": position,
    }))
}

/// `GET /api/workshops/me`: the learner's workshop, lab, queue position, pinned message.
pub async fn api_me(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
) -> Result<Json<serde_json::Value>, Fail> {
    Ok(Json(me_json(&state, &learner).await?))
}

/// `GET /api/workshops/me/events`: SSE; a `workshop` event (the same JSON as `me`) whenever
/// the instructor pins a message, closes or ends the workshop.
pub async fn api_me_events(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Fail> {
    let m = state
        .store
        .workshops()
        .membership(&learner.0)
        .await?
        .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, "you are not in a workshop"))?;
    let notices = state.workshop.subscribe_notices();
    let stream = futures_util::stream::unfold(
        (state, learner, m.workshop, notices),
        |(state, learner, ws, mut notices)| async move {
            loop {
                match notices.recv().await {
                    Ok(n) if n != ws => continue,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(_) => return None,
                }
            }
            let event = match me_json(&state, &learner).await {
                Ok(j) => Event::default()
                    .event("workshop")
                    .json_data(j)
                    .unwrap_or_else(|_| Event::default().comment("encoding failed")),
                Err(_) => Event::default().comment("read failed"),
            };
            Some((Ok(event), (state, learner, ws, notices)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// `POST /api/workshops/me/hand` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandBody {
    /// Raise (true) or lower (false).
    pub raised: bool,
}

/// `POST /api/workshops/me/hand`: "I'm stuck".
pub async fn api_hand(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, Fail> {
    let b: HandBody = parse(&body)?;
    let m = state
        .store
        .workshops()
        .membership(&learner.0)
        .await?
        .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, "you are not in a workshop"))?;
    state
        .store
        .workshops()
        .set_hand(&m.workshop, &learner.0, if b.raised { now_ms() } else { 0 })
        .await?;
    state.workshop.changed(&learner.0);
    Ok(Json(json!({ "hand": b.raised })))
}

// ---------------------------------------------------------------- pages

#[derive(Template)]
#[template(path = "workshop_join.html")]
struct JoinPage {
    code: String,
    name: String,
}

/// `GET /j` and `GET /j/{code}`: the join form.
pub async fn get_join(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    code: Option<Path<String>>,
) -> Result<Html<String>, Fail> {
    let name = state
        .store
        .learner(&learner.0)
        .await
        .map_err(|e| Fail::from(e).html())?
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
pub async fn post_join(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
    client: Client,
    Form(f): Form<JoinForm>,
) -> Result<Response, Fail> {
    join(&state, &learner, client.ip, &f.code, &f.name)
        .await
        .map_err(Fail::html)?;
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
pub async fn get_learner(
    State(state): State<AppState>,
    Extension(learner): Extension<Learner>,
) -> Result<Response, Fail> {
    let me = me_json(&state, &learner).await.map_err(Fail::html)?;
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
pub async fn get_instructor(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Html<String>, Fail> {
    let logged_in = match auth::instructor(&state, &headers) {
        Ok(()) => true,
        Err(d) if d.status == StatusCode::NOT_FOUND => return Err(Fail::from(d).html()),
        Err(_) => false,
    };
    let workshops = if logged_in {
        state
            .store
            .workshops()
            .workshops()
            .await
            .map_err(|e| Fail::from(e).html())?
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
pub async fn post_login(
    State(state): State<AppState>,
    client: Client,
    Form(f): Form<LoginForm>,
) -> Result<Response, Fail> {
    let jar = auth::login(&state, &f.token, client.https).map_err(|d| Fail::from(d).html())?;
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
pub async fn post_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CreateForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Fail> {
    // Who asks is checked before what they sent.
    auth::instructor(&state, &headers).map_err(|d| Fail::from(d).html())?;
    let Form(f) = form.map_err(|e| Fail::new(e.status(), e.body_text()).html())?;
    let b = CreateBody {
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
    let w = create(&state, b).await.map_err(Fail::html)?;
    Ok(Redirect::to(&format!("/instructor/workshops/{}", w.id)).into_response())
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    w: Workshop,
    join_url: String,
}

/// `GET /instructor/workshops/{id}`: the live dashboard.
pub async fn get_dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Html<String>, Fail> {
    let w = instructor_workshop(&state, &headers, &id)
        .await
        .map_err(Fail::html)?;
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
pub async fn get_view_terminal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, learner)): Path<(String, String)>,
) -> Result<Html<String>, Fail> {
    let w = instructor_workshop(&state, &headers, &id)
        .await
        .map_err(Fail::html)?;
    let m = member(&state, &w, &learner).await.map_err(Fail::html)?;
    let lab = view::row(&state, &w, &m)
        .await
        .map_err(|e| Fail::from(e).html())?
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
