//! ConfigMaps, Secrets, ServiceAccounts, Events and Leases.

use serde_json::Value;
use time::OffsetDateTime;

use super::common::{col, i, s, text, wide, Column, AGE, NAME, NAME_DESC};

pub(crate) const CONFIG_MAP: &[Column] = &[
    NAME,
    col("Data", "string", "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process."),
    AGE,
];

pub(crate) const SECRET: &[Column] = &[
    NAME,
    col("Type", "string", "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
    col("Data", "string", "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4"),
    AGE,
];

pub(crate) const SERVICE_ACCOUNT: &[Column] = &[
    NAME,
    col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. More info: https://kubernetes.io/docs/concepts/configuration/secret"),
    AGE,
];

pub(crate) const EVENT: &[Column] = &[
    col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    col("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    col("Object", "string", "The object that this event is about."),
    wide("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."),
    wide("Source", "string", "The component reporting this event. Should be a short machine understandable string."),
    col("Message", "string", "A human-readable description of the status of this operation."),
    wide("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
    wide("Count", "string", "The number of times this event has occurred."),
    Column {
        name: "Name",
        type_: "string",
        format: "name",
        description: NAME_DESC,
        priority: 1,
    },
];

pub(crate) const LEASE: &[Column] = &[
    NAME,
    col("Holder", "string", "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field."),
    AGE,
];

fn len_of(o: &Value, ptr: &str) -> usize {
    o.pointer(ptr)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

/// `printConfigMap`: DATA counts `data` and `binaryData` keys.
pub(crate) fn config_map(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let n = len_of(o, "/data") + len_of(o, "/binaryData");
    vec![name, Value::from(n), age]
}

/// `printSecret`.
pub(crate) fn secret(o: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![
        name,
        text(s(o, "/type")),
        Value::from(len_of(o, "/data")),
        age,
    ]
}

fn since(ts: &str, now: OffsetDateTime) -> String {
    crate::kube::time::age(Some(ts).filter(|t| !t.is_empty()), now)
}

/// `printEvent` (the wide cells, as the server computes them).
pub(crate) fn event(o: &Value, now: OffsetDateTime) -> Vec<Value> {
    let first = if s(o, "/firstTimestamp").is_empty() {
        since(s(o, "/eventTime"), now)
    } else {
        since(s(o, "/firstTimestamp"), now)
    };
    let mut last = if s(o, "/lastTimestamp").is_empty() {
        first.clone()
    } else {
        since(s(o, "/lastTimestamp"), now)
    };
    let mut count = i(o, "/count");
    if o.get("series").is_some_and(|v| !v.is_null()) {
        last = since(s(o, "/series/lastObservedTime"), now);
        count = i(o, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = s(o, "/involvedObject/kind").to_ascii_lowercase();
    let target = match s(o, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let first_non_empty = |a: &str, b: &str| -> String {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(s(o, "/source/component"), s(o, "/reportingComponent"));
    let instance = first_non_empty(s(o, "/source/host"), s(o, "/reportingInstance"));
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        Value::String(last),
        text(s(o, "/type")),
        text(s(o, "/reason")),
        Value::String(target),
        text(s(o, "/involvedObject/fieldPath")),
        Value::String(source),
        text(s(o, "/message").trim()),
        Value::String(first),
        Value::from(count),
        text(s(o, "/metadata/name")),
    ]
}
