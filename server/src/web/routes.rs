//! Every route of the web server, in one place, with the layers every response goes
//! through: the learner cookie and the workshop change push on the learner routes; then, on
//! all, the body limit, compression, the request timeout, the token-guess limit, the
//! same-origin check and the security headers ([`super::guard`]).

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{middleware, Router};
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::auth::learner_cookie;
use super::handlers::{api, health, pages, terminal, workshop};
use super::state::AppState;

/// Largest request body accepted (bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// Responses from this size up are gzipped when the client accepts it.
pub const COMPRESS_FROM: u16 = 12 * 1024;

/// The application router.
pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let app = Router::new()
        .route("/", get(pages::show_catalog))
        .route("/name", post(pages::set_name))
        .route("/labs/{lab}", get(pages::show_lab))
        .route("/labs/{lab}/start", post(pages::start_lab))
        .route("/labs/{lab}/stop", post(pages::stop_lab))
        .route("/labs/{lab}/reset", post(pages::reset_lab))
        .route("/labs/{lab}/extend", post(pages::extend_lab))
        .route("/labs/{lab}/step", post(pages::set_step))
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
        // The packets panel: what the rules do to a packet, per session.
        .route(
            "/api/sessions/{id}/nodes/{node}/ruleset",
            get(super::handlers::panel::get_ruleset),
        )
        .route(
            "/api/sessions/{id}/nodes/{node}/nftables",
            get(super::handlers::panel::get_nftables),
        )
        .route(
            "/api/sessions/{id}/trace",
            post(super::handlers::panel::run_trace),
        )
        .route(
            "/api/sessions/{id}/snapshots",
            get(super::handlers::panel::list_snapshots),
        )
        .route(
            "/api/sessions/{id}/diff",
            get(super::handlers::panel::get_diff),
        )
        .route(
            "/api/sessions/{id}/spread",
            post(super::handlers::panel::run_spread),
        )
        .route(
            "/api/sessions/{id}/terminals/{host}",
            get(terminal::open_terminal),
        )
        // Workshops: instructor API and pages, learners joining.
        .route(
            "/api/workshops",
            get(workshop::instructor::list_workshops).post(workshop::instructor::create_workshop),
        )
        .route(
            "/api/workshops/join",
            post(workshop::learner::join_workshop),
        )
        .route("/api/workshops/me", get(workshop::learner::get_my_workshop))
        .route(
            "/api/workshops/me/events",
            get(workshop::events::stream_my_workshop),
        )
        .route(
            "/api/workshops/me/hand",
            post(workshop::learner::raise_hand),
        )
        .route(
            "/api/workshops/{id}",
            get(workshop::instructor::get_workshop),
        )
        .route(
            "/api/workshops/{id}/dashboard",
            get(workshop::instructor::get_dashboard),
        )
        .route(
            "/api/workshops/{id}/close",
            post(workshop::instructor::close_workshop),
        )
        .route(
            "/api/workshops/{id}/open",
            post(workshop::instructor::open_workshop),
        )
        .route(
            "/api/workshops/{id}/end",
            post(workshop::instructor::end_workshop),
        )
        .route(
            "/api/workshops/{id}/extend",
            post(workshop::instructor::extend_workshop),
        )
        .route(
            "/api/workshops/{id}/broadcast",
            post(workshop::instructor::broadcast_message),
        )
        .route(
            "/api/workshops/{id}/export",
            get(workshop::instructor::export_results),
        )
        .route(
            "/api/workshops/{id}/events",
            get(workshop::events::stream_dashboard),
        )
        .route(
            "/api/workshops/{id}/learners/{learner}/terminals/{host}",
            get(workshop::viewer::view_terminal),
        )
        .route(
            "/api/workshops/{id}/learners/{learner}/{action}",
            post(workshop::instructor::act_on_learner),
        )
        .route(
            "/j",
            get(workshop::pages::show_join).post(workshop::pages::join_from_form),
        )
        .route("/j/{code}", get(workshop::pages::show_join))
        .route("/w", get(workshop::pages::show_my_workshop))
        .route("/instructor", get(workshop::pages::show_instructor))
        .route("/instructor/login", post(workshop::pages::log_in))
        .route(
            "/instructor/workshops",
            post(workshop::pages::create_from_form),
        )
        .route(
            "/instructor/workshops/{id}",
            get(workshop::pages::show_dashboard),
        )
        .route(
            "/instructor/workshops/{id}/learners/{learner}",
            get(workshop::pages::show_terminal_viewer),
        )
        // After a learner's action, push their row to open workshop dashboards.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            super::notify::notify_after,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            learner_cookie,
        ));
    Router::new()
        .merge(app)
        .route("/healthz", get(health::get_health))
        .route("/metrics", get(health::get_metrics))
        // Static files from memory, gzipped once (web::assets::Assets), not per request.
        .route("/static/{*path}", get(pages::serve_static))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Static files come gzipped from memory (web::assets::Assets). Other responses are gzipped
        // per response only from 12 KiB up: a page is 4-9 KB of HTML, and setting up a deflate
        // stream for it cost a quarter of the server's time per page (measured with wrk) to
        // save about 4 KB.
        .layer(
            CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest)
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(COMPRESS_FROM))),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            super::guard::token_guesses,
        ))
        // Outside the learner cookie: a cross-site request is refused before a cookie is set.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            super::guard::same_origin,
        ))
        .layer(middleware::from_fn(super::guard::security_headers))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
