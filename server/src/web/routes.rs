//! Every route of the web server, in one place.

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{middleware, Router};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::auth::learner_cookie;
use super::handlers::{api, health, pages, terminal};
use super::state::AppState;

/// Largest request body accepted (bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// The application router.
pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let static_dir = state.config.static_dir.clone();
    let app = Router::new()
        .route("/", get(pages::get_catalog))
        .route("/name", post(pages::post_name))
        .route("/labs/{lab}", get(pages::get_lab))
        .route("/labs/{lab}/start", post(pages::post_start))
        .route("/labs/{lab}/stop", post(pages::post_stop))
        .route("/labs/{lab}/reset", post(pages::post_reset))
        .route("/labs/{lab}/extend", post(pages::post_extend))
        .route("/labs/{lab}/phase", post(pages::post_phase))
        .route("/api/labs", get(api::list_labs))
        .route("/api/labs/{lab}/sessions", post(api::create_session))
        .route(
            "/api/sessions/{id}",
            get(api::get_session).delete(api::delete_session),
        )
        .route(
            "/api/sessions/{id}/tasks/{task}/check",
            post(api::check_task),
        )
        .route("/api/sessions/{id}/reset", post(api::reset_session))
        .route("/api/sessions/{id}/extend", post(api::extend_session))
        .route(
            "/api/sessions/{id}/terminals/{host}",
            get(terminal::open_terminal),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            learner_cookie,
        ));
    Router::new()
        .merge(app)
        .route("/healthz", get(health::get_healthz))
        .route("/metrics", get(health::get_metrics))
        .nest_service("/static", ServeDir::new(static_dir))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
