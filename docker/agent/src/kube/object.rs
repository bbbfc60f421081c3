//! The shapes every component shares: objects are plain [`serde_json::Value`]s and
//! [`KubeObject`] gives the few accessors every caller needs; a list ([`ObjectList`]), a watch
//! event ([`WatchEvent`], [`EventType`]) and the API's `v1 Status` ([`Status`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A `v1 Status` failure returned by the API server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// HTTP status code (404, 409, 422, …).
    #[serde(default)]
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Invalid`, …).
    #[serde(default)]
    pub reason: String,
    /// The human-readable message, as the real API server words it.
    #[serde(default)]
    pub message: String,
    /// `details` (name, kind, causes), when the server sent them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<Value>>,
}

impl Status {
    /// Builds a failure Status (used by the server too).
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Status {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    /// The full `v1 Status` JSON object.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = (**d).clone();
        }
        v
    }
}

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    /// The object was created (or is listed at the start of a watch without resourceVersion).
    Added,
    /// The object changed.
    Modified,
    /// The object was removed; `object` is its last state.
    Deleted,
    /// A progress marker carrying only a resourceVersion.
    Bookmark,
    /// The watch failed; `object` is a Status.
    Error,
}

/// One event of a watch stream: `{"type":"ADDED","object":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The object after the change (before, for DELETED).
    pub object: Value,
}

/// Accessors for Kubernetes-shaped JSON objects.
pub trait KubeObject {
    /// `metadata.name`, or `""`.
    fn name(&self) -> &str;
    /// `metadata.namespace`.
    fn namespace(&self) -> Option<&str>;
    /// `metadata.labels` as a map (empty when absent).
    fn labels(&self) -> BTreeMap<String, String>;
    /// `metadata.annotations` as a map (empty when absent).
    fn annotations(&self) -> BTreeMap<String, String>;
    /// `metadata.resourceVersion`.
    fn resource_version(&self) -> Option<&str>;
    /// `metadata.uid`.
    fn uid(&self) -> Option<&str>;
    /// Whether `metadata.deletionTimestamp` is set.
    fn is_terminating(&self) -> bool;
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

impl KubeObject for Value {
    fn name(&self) -> &str {
        self.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    fn namespace(&self) -> Option<&str> {
        self.pointer("/metadata/namespace").and_then(Value::as_str)
    }
    fn labels(&self) -> BTreeMap<String, String> {
        string_map(self.pointer("/metadata/labels"))
    }
    fn annotations(&self) -> BTreeMap<String, String> {
        string_map(self.pointer("/metadata/annotations"))
    }
    fn resource_version(&self) -> Option<&str> {
        self.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
    }
    fn uid(&self) -> Option<&str> {
        self.pointer("/metadata/uid").and_then(Value::as_str)
    }
    fn is_terminating(&self) -> bool {
        self.pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
    }
}

/// A list response: the items and the list's resourceVersion (start a watch from it).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectList {
    /// The objects, each with `kind` and `apiVersion` filled in.
    pub items: Vec<Value>,
    /// `metadata.resourceVersion` of the list.
    pub resource_version: String,
}
