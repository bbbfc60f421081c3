//! What the API server does around some kinds beyond storing them: a `default` ServiceAccount
//! in every new namespace (kube-controller-manager's serviceaccounts controller does it in a
//! real cluster), and the Event store's bounds (events expire after one hour, as
//! kube-apiserver's `--event-ttl`, and at most [`EVENTS_PER_NAMESPACE`] per namespace).

use serde_json::json;
use serde_json::Value;

use super::create::create;
use crate::apiserver::state::AppState;
use crate::apiserver::store::key_of;
use crate::apiserver::store::Store;
use crate::kube::client::Resource;
use crate::kube::client::EVENTS;
use crate::kube::client::SERVICE_ACCOUNTS;
use crate::kube::time::rfc3339;

/// How long an Event lives (kube-apiserver's default `--event-ttl`).
pub const EVENT_TTL: std::time::Duration = std::time::Duration::from_secs(3600);
/// The most Events kept per namespace; the oldest go first.
pub const EVENTS_PER_NAMESPACE: usize = 200;

/// Runs after an object was created.
pub(crate) fn after_create(app: &AppState, st: &mut Store, res: &Resource, obj: &Value) {
    match res.kind {
        "Namespace" => {
            let ns = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            ensure_default_service_account(app, st, ns);
        }
        "Event" => {
            let ns = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            prune_events(st, Some(&ns));
        }
        _ => {}
    }
}

/// Creates ServiceAccount `default` in `ns` when it is missing.
pub(crate) fn ensure_default_service_account(app: &AppState, st: &mut Store, ns: &str) {
    if ns.is_empty() || st.get(&SERVICE_ACCOUNTS, ns, "default").is_some() {
        return;
    }
    let sa = json!({"metadata": {"name": "default", "namespace": ns}});
    if let Err(e) = create(app, st, &SERVICE_ACCOUNTS, Some(ns), sa) {
        tracing::warn!(namespace = ns, error = %e.0.message, "cannot create the default ServiceAccount");
    }
}

fn event_time(e: &Value) -> String {
    for p in [
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ] {
        if let Some(t) = e
            .pointer(p)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            // Compare at second precision (`2026-01-02T03:04:05`).
            return t.chars().take(19).collect();
        }
    }
    String::new()
}

/// Removes expired Events (all namespaces, or one) and the oldest beyond the cap.
pub(crate) fn prune_events(st: &mut Store, namespace: Option<&str>) -> bool {
    let cutoff: String = rfc3339(time::OffsetDateTime::now_utc() - EVENT_TTL)
        .chars()
        .take(19)
        .collect();
    let mut by_ns: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for e in st.list(&EVENTS, namespace) {
        let (ns, name) = key_of(e);
        by_ns.entry(ns).or_default().push((event_time(e), name));
    }
    let mut removed = false;
    for (ns, mut events) in by_ns {
        events.sort();
        let excess = events.len().saturating_sub(EVENTS_PER_NAMESPACE);
        for (i, (t, name)) in events.iter().enumerate() {
            if i < excess || t.as_str() < cutoff.as_str() {
                st.remove(&EVENTS, &ns, name);
                removed = true;
            }
        }
    }
    removed
}
