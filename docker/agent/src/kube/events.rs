//! Recording core/v1 Events as Kubernetes components do (client-go's `record.EventRecorder`):
//! an Event in the object's namespace named `<object>.<hex nanoseconds>`, with
//! `involvedObject`, `reason`, `message`, `type`, `source` and the `reporting*` fields; a
//! repeat of the same event (same object, type, reason, message and source) within the event
//! TTL raises `count` and `lastTimestamp` of the stored Event instead of adding one, as
//! client-go's event correlator does. Failures are logged and never reach the caller.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::client::{ApiClient, KubeObject, EVENTS};
use super::time::now_rfc3339;

/// `Normal`.
pub const NORMAL: &str = "Normal";
/// `Warning`.
pub const WARNING: &str = "Warning";

/// How many distinct recent events a recorder remembers for aggregation.
const REMEMBERED: usize = 256;
/// After this, a repeat starts a new Event (the API server has expired the old one).
const AGGREGATE_FOR: Duration = Duration::from_secs(3600);

struct Seen {
    key: String,
    namespace: String,
    name: String,
    count: u64,
    at: Instant,
}

/// Writes Events for one component (`deployment-controller`, `kubelet`, …).
pub struct EventRecorder {
    client: ApiClient,
    component: String,
    host: String,
    seen: Mutex<VecDeque<Seen>>,
}

/// The `involvedObject` reference to `obj`.
pub fn object_reference(obj: &Value, field_path: Option<&str>) -> Value {
    let mut r = json!({
        "kind": obj.get("kind").and_then(Value::as_str).unwrap_or(""),
        "name": obj.name(),
        "apiVersion": obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
    });
    if let Some(ns) = obj.namespace() {
        r["namespace"] = json!(ns);
    }
    if let Some(uid) = obj.uid() {
        r["uid"] = json!(uid);
    }
    if let Some(rv) = obj.resource_version() {
        r["resourceVersion"] = json!(rv);
    }
    if let Some(f) = field_path {
        r["fieldPath"] = json!(f);
    }
    r
}

impl EventRecorder {
    /// A recorder whose events say `source.component: component` (and `source.host: host`
    /// when not empty, as the kubelet's do).
    pub fn new(client: ApiClient, component: &str, host: &str) -> Self {
        EventRecorder {
            client,
            component: component.to_string(),
            host: host.to_string(),
            seen: Mutex::new(VecDeque::new()),
        }
    }

    /// A `Normal` event about `obj`.
    pub fn normal(&self, obj: &Value, reason: &str, message: &str) {
        self.record(obj, None, NORMAL, reason, message);
    }

    /// A `Warning` event about `obj`.
    pub fn warning(&self, obj: &Value, reason: &str, message: &str) {
        self.record(obj, None, WARNING, reason, message);
    }

    /// An event about `obj` (`field_path` such as `spec.containers{web}` for a container).
    pub fn record(
        &self,
        obj: &Value,
        field_path: Option<&str>,
        event_type: &str,
        reason: &str,
        message: &str,
    ) {
        let involved = object_reference(obj, field_path);
        let namespace = obj.namespace().unwrap_or("default").to_string();
        let key = format!(
            "{}|{}|{}|{}|{}|{event_type}|{reason}|{message}",
            involved["kind"],
            namespace,
            obj.name(),
            obj.uid().unwrap_or(""),
            field_path.unwrap_or("")
        );
        let now = now_rfc3339();
        let repeat = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.retain(|s| s.at.elapsed() < AGGREGATE_FOR);
            seen.iter_mut().find(|s| s.key == key).map(|s| {
                s.count += 1;
                s.at = Instant::now();
                (s.name.clone(), s.count)
            })
        };
        if let Some((name, count)) = repeat {
            let patch = json!({"count": count, "lastTimestamp": now});
            match self
                .client
                .merge_patch(&EVENTS, Some(&namespace), &name, &patch)
            {
                Ok(_) => return,
                Err(e) if e.is_not_found() => {
                    self.forget(&key);
                }
                Err(e) => {
                    tracing::debug!(error = %e, reason, "cannot update event");
                    return;
                }
            }
        }
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let name = format!("{}.{:x}", obj.name(), nanos);
        let mut source = json!({"component": self.component});
        if !self.host.is_empty() {
            source["host"] = json!(self.host);
        }
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": event_type,
            "eventTime": null,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        });
        match self.client.create(&EVENTS, Some(&namespace), &event) {
            Ok(_) => {
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                if seen.len() >= REMEMBERED {
                    seen.pop_front();
                }
                seen.push_back(Seen {
                    key,
                    namespace,
                    name,
                    count: 1,
                    at: Instant::now(),
                });
            }
            Err(e) => tracing::debug!(error = %e, reason, "cannot record event"),
        }
    }

    fn forget(&self, key: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.key != key);
    }

    /// The namespaces and names of the Events this recorder remembers (for tests).
    pub fn remembered(&self) -> Vec<(String, String)> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|s| (s.namespace.clone(), s.name.clone()))
            .collect()
    }
}
