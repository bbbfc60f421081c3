//! Recording core/v1 Events as Kubernetes components do (client-go's `record.EventRecorder`):
//! an Event in the object's namespace named `<object>.<hex nanoseconds>`, with
//! `involvedObject`, `reason`, `message`, `type`, `source` and the `reporting*` fields; a
//! repeat of the same event (same object, type, reason, message and source) within the event
//! TTL raises `count` and `lastTimestamp` of the stored Event instead of adding one, as
//! client-go's event correlator does.
//!
//! As in client-go, recording never blocks the caller: events go through a bounded queue to
//! one writer thread per process (shared by every recorder; events beyond the queue are
//! dropped), and failures are logged, never returned.

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::client::{ApiClient, KubeObject, EVENTS};
use super::time::now_rfc3339;

/// `Normal`.
pub const NORMAL: &str = "Normal";
/// `Warning`.
pub const WARNING: &str = "Warning";

/// How many distinct recent events the writer remembers for aggregation.
const REMEMBERED: usize = 256;
/// After this, a repeat starts a new Event (the API server has expired the old one).
const AGGREGATE_FOR: Duration = Duration::from_secs(3600);
/// Events waiting for the writer; more are dropped, as client-go's broadcaster does.
const QUEUE: usize = 1000;

struct Seen {
    key: String,
    name: String,
    count: u64,
    at: Instant,
}

enum Job {
    Event {
        client: ApiClient,
        key: String,
        namespace: String,
        body: Value,
    },
    Flush(SyncSender<()>),
}

/// Writes Events for one component (`deployment-controller`, `kubelet`, …).
pub struct EventRecorder {
    client: ApiClient,
    component: String,
    host: String,
}

fn queue() -> &'static SyncSender<Job> {
    static QUEUE_TX: OnceLock<SyncSender<Job>> = OnceLock::new();
    QUEUE_TX.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("event-writer".into())
            .spawn(move || write_events(rx))
            .expect("spawn the event writer");
        tx
    })
}

fn write_events(rx: Receiver<Job>) {
    let mut seen: VecDeque<Seen> = VecDeque::new();
    for job in rx {
        match job {
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Event {
                client,
                key,
                namespace,
                body,
            } => write_one(&client, &mut seen, key, namespace, body),
        }
    }
}

fn write_one(
    client: &ApiClient,
    seen: &mut VecDeque<Seen>,
    key: String,
    namespace: String,
    mut body: Value,
) {
    let key = format!("{}|{key}", client.base_url());
    seen.retain(|s| s.at.elapsed() < AGGREGATE_FOR);
    let now = body["lastTimestamp"].clone();
    let repeat = seen.iter_mut().find(|s| s.key == key).map(|s| {
        s.count += 1;
        s.at = Instant::now();
        (s.name.clone(), s.count)
    });
    if let Some((name, count)) = repeat {
        let patch = json!({"count": count, "lastTimestamp": now});
        match client.merge_patch(&EVENTS, Some(&namespace), &name, &patch) {
            Ok(_) => return,
            Err(e) if e.is_not_found() => seen.retain(|s| s.key != key),
            Err(e) => {
                tracing::debug!(error = %e, "cannot update event");
                return;
            }
        }
    }
    let involved = body["involvedObject"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let name = format!("{involved}.{nanos:x}");
    body["metadata"]["name"] = json!(name);
    match client.create(&EVENTS, Some(&namespace), &body) {
        Ok(_) => {
            if seen.len() >= REMEMBERED {
                seen.pop_front();
            }
            seen.push_back(Seen {
                key,
                name,
                count: 1,
                at: Instant::now(),
            });
        }
        Err(e) => tracing::debug!(error = %e, "cannot record event"),
    }
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

    /// Queues an event about `obj` (`field_path` such as `spec.containers{web}` for a
    /// container).
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
            "{}|{}|{}|{}|{}|{}|{event_type}|{reason}|{message}",
            self.component,
            involved["kind"],
            namespace,
            obj.name(),
            obj.uid().unwrap_or(""),
            field_path.unwrap_or("")
        );
        let now = now_rfc3339();
        let mut source = json!({"component": self.component});
        if !self.host.is_empty() {
            source["host"] = json!(self.host);
        }
        let body = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"namespace": namespace},
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
        let job = Job::Event {
            client: self.client.clone(),
            key,
            namespace,
            body,
        };
        if queue().try_send(job).is_err() {
            tracing::debug!(reason, "event queue full; event dropped");
        }
    }

    /// Waits until every event queued so far is written (for tests and orderly exits).
    pub fn flush(&self) {
        let (tx, rx) = sync_channel(1);
        if queue().send(Job::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
    }
}
