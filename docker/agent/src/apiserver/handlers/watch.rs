//! Watch as kube-apiserver serves it: the start (`resourceVersion` unset, "0" or exact, 410
//! Gone when too old; `sendInitialEvents=true` with its closing bookmark), then the store's
//! events filtered by namespace and selectors (an object that stops matching is sent as
//! DELETED, one that starts matching as ADDED), BOOKMARKs when `allowWatchBookmarks=true`,
//! `timeoutSeconds`, and objects in the negotiated shape (Table, PartialObjectMetadata).

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
use crate::apiserver::table::{Shape, WatchShaper};
use crate::kube::client::EventType;
use crate::kube::client::Resource;
use crate::kube::client::Status;
use crate::kube::selectors::FieldSelector;
use crate::kube::selectors::LabelSelector;

/// How long a watch stream stays silent before the server sends an empty line (clients
/// treat a longer silence as a dead connection, see `client::WATCH_IDLE_TIMEOUT`); with
/// bookmarks allowed, a BOOKMARK is sent instead.
pub(crate) const WATCH_HEARTBEAT: Duration = Duration::from_secs(20);

/// The annotation of the bookmark that ends the initial events of `sendInitialEvents=true`.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

pub(crate) struct WatchFilter {
    plural: &'static str,
    namespace: Option<String>,
    label: LabelSelector,
    field: FieldSelector,
}

impl WatchFilter {
    fn selects(&self, o: &Value) -> bool {
        self.label.matches_object(o) && self.field.matches(o)
    }

    /// What a watcher with this filter sees of `ev`: the event, its type changed when the
    /// object enters or leaves the selection (the object's new state in both cases), or nothing.
    fn view(&self, ev: &Event) -> Option<EventType> {
        if ev.plural != self.plural || self.namespace.as_ref().is_some_and(|n| *n != ev.namespace) {
            return None;
        }
        let now = self.selects(&ev.object);
        match ev.event_type {
            EventType::Modified => {
                let before = ev.prev.as_ref().is_some_and(|p| self.selects(p));
                match (before, now) {
                    (true, true) => Some(EventType::Modified),
                    (true, false) => Some(EventType::Deleted),
                    (false, true) => Some(EventType::Added),
                    (false, false) => None,
                }
            }
            t => now.then_some(t),
        }
    }
}

/// The watch parameters of the query string.
pub struct WatchParams {
    /// `resourceVersion`.
    pub rv: Option<String>,
    /// `resourceVersionMatch`.
    pub rv_match: Option<String>,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial: Option<bool>,
    /// `timeoutSeconds`.
    pub timeout_secs: u64,
}

/// The state a watch response starts from.
pub struct WatchStart {
    initial: VecDeque<(EventType, Value)>,
    rx: tokio::sync::broadcast::Receiver<Arc<Event>>,
    /// The last resourceVersion the watcher has seen (every change up to it is delivered).
    last_rv: u64,
    filter: WatchFilter,
    res: &'static Resource,
    bookmarks: bool,
    shaper: WatchShaper,
    deadline: tokio::time::Instant,
    done: bool,
    closing: tokio::sync::watch::Receiver<bool>,
}

pub(crate) fn event_line(t: EventType, object: &Value) -> Bytes {
    let mut s = json!({"type": t, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

/// A BOOKMARK object: the kind with only a resourceVersion (and annotations).
fn bookmark(res: &Resource, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({ INITIAL_EVENTS_END: "true" });
    }
    json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": meta})
}

fn invalid_list_options(field: &str, detail: &str) -> super::errors::ApiError {
    super::errors::ApiError(Status::new(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: {field}: Forbidden: {detail}"),
    ))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn start_watch(
    app: &AppState,
    res: &'static Resource,
    namespace: Option<String>,
    label: LabelSelector,
    field: FieldSelector,
    p: WatchParams,
    shape: Shape,
) -> ApiResult<WatchStart> {
    if let Some(send) = p.send_initial {
        if p.rv_match.as_deref() != Some("NotOlderThan") {
            return Err(invalid_list_options(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if send && !p.bookmarks {
            return Err(invalid_list_options(
                "allowWatchBookmarks",
                "sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
    } else if p.rv_match.as_deref().is_some_and(|m| !m.is_empty()) {
        return Err(invalid_list_options(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ));
    }
    let filter = WatchFilter {
        plural: res.plural,
        namespace,
        label,
        field,
    };
    let st = app.store();
    let rx = st.subscribe();
    let current = st.resource_version();
    let mut initial = VecDeque::new();
    let mut done = false;
    let rv = p.rv.as_deref().filter(|r| !r.is_empty());
    let from_state = match p.send_initial {
        Some(send) => send,
        None => rv.is_none_or(|r| r == "0"),
    };
    let mut last_rv = current;
    if from_state {
        for o in st.list(res, filter.namespace.as_deref()) {
            if filter.selects(o) {
                initial.push_back((EventType::Added, o.clone()));
            }
        }
        if p.send_initial == Some(true) {
            initial.push_back((EventType::Bookmark, bookmark(res, current, true)));
        }
    } else if let Some(r) = rv.filter(|r| *r != "0") {
        let n: u64 = r
            .parse()
            .map_err(|_| bad_request(format!("invalid resource version: {r:?}")))?;
        match st.replay_since(n) {
            Replay::Events(evs) => {
                for e in &evs {
                    if let Some(t) = filter.view(e) {
                        initial.push_back((t, e.object.clone()));
                    }
                }
                last_rv = current.max(n);
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
    Ok(WatchStart {
        initial,
        rx,
        last_rv,
        filter,
        res,
        bookmarks: p.bookmarks,
        shaper: WatchShaper::new(shape, res),
        deadline: tokio::time::Instant::now() + Duration::from_secs(p.timeout_secs.max(1)),
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

impl WatchStart {
    fn line(&mut self, media: Media, t: EventType, o: &Value) -> Bytes {
        let shaped = self.shaper.shape(t, o);
        event_bytes(media, t, &shaped)
    }
}

pub(crate) fn watch_response(w: WatchStart, media: Media) -> Response {
    let stream = futures_util::stream::unfold(w, move |mut s| async move {
        if let Some((t, o)) = s.initial.pop_front() {
            let line = s.line(media, t, &o);
            return Some((Ok::<Bytes, Infallible>(line), s));
        }
        if s.done {
            return None;
        }
        // One heartbeat per line sent: events filtered out of this watch (other kinds'
        // updates arrive all the time) must not postpone it, or a watch on quiet objects
        // would stay silent until the client gives up on it.
        let heartbeat = tokio::time::sleep(WATCH_HEARTBEAT);
        tokio::pin!(heartbeat);
        loop {
            let received = tokio::select! {
                _ = tokio::time::sleep_until(s.deadline) => None,
                // The server is shutting down: end the stream so shutdown can complete.
                _ = s.closing.wait_for(|c| *c) => None,
                // An empty line (or a bookmark) now and then lets clients detect a dead
                // connection (a protobuf stream has no empty frame: without bookmarks it
                // stays silent).
                _ = &mut heartbeat => Some(None),
                r = s.rx.recv() => Some(Some(r)),
            };
            match received {
                Some(None) if s.bookmarks => {
                    let b = bookmark(s.res, s.last_rv, false);
                    let line = s.line(media, EventType::Bookmark, &b);
                    return Some((Ok(line), s));
                }
                Some(None) if media == Media::Protobuf => {}
                Some(None) => return Some((Ok(Bytes::from_static(b"\n")), s)),
                Some(Some(Ok(ev))) => {
                    if ev.rv <= s.last_rv {
                        continue;
                    }
                    s.last_rv = ev.rv;
                    if let Some(t) = s.filter.view(&ev) {
                        let line = s.line(media, t, &ev.object);
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
