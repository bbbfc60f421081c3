//! Watch: replay from a resourceVersion, then the store's events, with heartbeats.

use axum::response::IntoResponse;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::body::Bytes;
use axum::http::header;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use serde_json::Value;

use super::errors::bad_request;
use super::errors::ApiResult;
use crate::apiserver::negotiate;
use crate::apiserver::negotiate::Media;
use crate::apiserver::state::AppState;
use crate::apiserver::store::Event;
use crate::apiserver::store::Replay;
use crate::kube::client::EventType;
use crate::kube::client::Resource;
use crate::kube::client::Status;
use crate::kube::selectors::FieldSelector;
use crate::kube::selectors::LabelSelector;

/// How long a watch stream stays silent before the server sends an empty line (clients
/// treat a longer silence as a dead connection, see `client::WATCH_IDLE_TIMEOUT`).
pub(crate) const WATCH_HEARTBEAT: Duration = Duration::from_secs(20);

pub(crate) struct WatchFilter {
    plural: &'static str,
    namespace: Option<String>,
    label: LabelSelector,
    field: FieldSelector,
}

impl WatchFilter {
    fn matches(&self, ev: &Event) -> bool {
        ev.plural == self.plural
            && self.namespace.as_ref().is_none_or(|n| *n == ev.namespace)
            && self.label.matches_object(&ev.object)
            && self.field.matches(&ev.object)
    }
}

/// The state a watch response starts from.
pub struct WatchStart {
    initial: VecDeque<(EventType, Value)>,
    rx: tokio::sync::broadcast::Receiver<Arc<Event>>,
    start: u64,
    filter: WatchFilter,
    deadline: tokio::time::Instant,
    done: bool,
    closing: tokio::sync::watch::Receiver<bool>,
}

pub(crate) fn event_line(t: EventType, object: &Value) -> Bytes {
    let mut s = json!({"type": t, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

pub(crate) fn start_watch(
    app: &AppState,
    res: &'static Resource,
    namespace: Option<String>,
    label: LabelSelector,
    field: FieldSelector,
    rv: Option<String>,
    timeout_secs: u64,
) -> ApiResult<WatchStart> {
    let filter = WatchFilter {
        plural: res.plural,
        namespace,
        label,
        field,
    };
    let st = app.store();
    let rx = st.subscribe();
    let start = st.resource_version();
    let mut initial = VecDeque::new();
    let mut done = false;
    match rv.as_deref().filter(|r| !r.is_empty() && *r != "0") {
        None => {
            for o in st.list(res, filter.namespace.as_deref()) {
                if filter.label.matches_object(o) && filter.field.matches(o) {
                    initial.push_back((EventType::Added, o.clone()));
                }
            }
        }
        Some(r) => {
            let n: u64 = r
                .parse()
                .map_err(|_| bad_request(format!("invalid resource version: {r:?}")))?;
            match st.replay_since(n) {
                Replay::Events(evs) => {
                    for e in evs.iter().filter(|e| filter.matches(e)) {
                        initial.push_back((e.event_type, e.object.clone()));
                    }
                }
                Replay::TooOld { oldest } => {
                    let s = Status::new(
                        410,
                        "Expired",
                        format!("too old resource version: {n} ({})", oldest + 1),
                    );
                    initial.push_back((EventType::Error, s.to_json()));
                    done = true;
                }
            }
        }
    }
    Ok(WatchStart {
        initial,
        rx,
        start,
        filter,
        deadline: tokio::time::Instant::now() + Duration::from_secs(timeout_secs.max(1)),
        done,
        closing: app.closing(),
    })
}

/// One event in the negotiated framing (JSON lines, or protobuf frames).
fn event_bytes(media: Media, t: EventType, object: &Value) -> Bytes {
    match media {
        Media::Protobuf => {
            let name = serde_json::to_value(t)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            negotiate::watch_event_bytes(media, &name, object)
        }
        _ => event_line(t, object),
    }
}

pub(crate) fn watch_response(w: WatchStart, media: Media) -> Response {
    let stream = futures_util::stream::unfold(w, move |mut s| async move {
        if let Some((t, o)) = s.initial.pop_front() {
            return Some((Ok::<Bytes, Infallible>(event_bytes(media, t, &o)), s));
        }
        if s.done {
            return None;
        }
        loop {
            let heartbeat = tokio::time::sleep(WATCH_HEARTBEAT);
            let received = tokio::select! {
                _ = tokio::time::sleep_until(s.deadline) => None,
                // The server is shutting down: end the stream so shutdown can complete.
                _ = s.closing.wait_for(|c| *c) => None,
                // An empty line now and then lets clients detect a dead connection (a
                // protobuf stream has no empty frame: it stays silent).
                _ = heartbeat => Some(None),
                r = s.rx.recv() => Some(Some(r)),
            };
            match received {
                Some(None) if media == Media::Protobuf => {}
                Some(None) => return Some((Ok(Bytes::from_static(b"\n")), s)),
                Some(Some(Ok(ev))) => {
                    if ev.rv > s.start && s.filter.matches(&ev) {
                        let line = event_bytes(media, ev.event_type, &ev.object);
                        return Some((Ok(line), s));
                    }
                }
                // Timeout, shutdown, lagged or closed: end the stream; the client re-lists.
                _ => return None,
            }
        }
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, media.content_type()),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
