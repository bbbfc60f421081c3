//! `/healthz` and `/metrics`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::web::guard::{metrics_allowed, Client};
use crate::web::state::AppState;

/// `GET /healthz`: 200 `ok` when the store answers.
pub async fn get_health(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.live_sessions().await {
        Ok(_) => (StatusCode::OK, "ok\n".to_string()),
        Err(e) => {
            tracing::error!(error = %e, "health check: store");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable\n".to_string(),
            )
        }
    }
}

/// `GET /metrics`: Prometheus text format, to whom `--metrics` / `--metrics-token` allow
/// ([`crate::web::guard::metrics_allowed`]).
pub async fn get_metrics(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = metrics_allowed(&state.config.guard, &client, &headers) {
        return refused.into_response();
    }
    let running = state
        .store
        .live_sessions()
        .await
        .map(|v| v.len())
        .unwrap_or(0);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(running),
    )
        .into_response()
}
