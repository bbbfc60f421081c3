//! Publishing a workshop member's dashboard row after their requests.

use super::auth::LearnerId;
use super::state::AppState;

/// Middleware on the learner routes: after a non-GET request by a workshop member that
/// succeeded (a check, a reset, a step change, a start or stop), publish their row. The
/// handlers write before they answer, so the row read afterwards is current. Requests that
/// changed nothing (refused, failed, or the panel's read-only trace and spread) recompute no
/// dashboard row.
pub async fn notify_after(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    let read_only = path.ends_with("/trace") || path.ends_with("/spread");
    let learner = (req.method() != axum::http::Method::GET && !read_only)
        .then(|| req.extensions().get::<LearnerId>().cloned())
        .flatten();
    let resp = next.run(req).await;
    let changed = resp.status().is_success() || resp.status().is_redirection();
    if let (Some(l), true) = (learner, changed) {
        state.workshop.changed(&l.0);
    }
    resp
}
