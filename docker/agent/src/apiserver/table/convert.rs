//! Objects, lists and watch events into `Table` and `PartialObjectMetadata(List)`.

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{Include, Shape};
use crate::kube::client::{EventType, Resource};
use crate::kube::printers;

/// `PartialObjectMetadata` of `obj` in `meta.k8s.io/<version>`.
pub fn partial(obj: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn column_definitions(kind: &str) -> Value {
    Value::Array(
        printers::columns(kind)
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.type_,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect(),
    )
}

fn row(res: &Resource, obj: &Value, version: &str, include: Include, now: OffsetDateTime) -> Value {
    let mut r = Map::new();
    r.insert(
        "cells".into(),
        Value::Array(printers::cells(res.kind, obj, now)),
    );
    if let Some(c) = printers::row_conditions(res.kind, obj) {
        r.insert("conditions".into(), c);
    }
    match include {
        Include::None => {}
        Include::Metadata => {
            r.insert("object".into(), partial(obj, version));
        }
        Include::Object => {
            let mut o = obj.clone();
            if let Some(m) = o.as_object_mut() {
                m.entry("kind").or_insert_with(|| json!(res.kind));
                m.entry("apiVersion")
                    .or_insert_with(|| json!(res.api_version()));
            }
            r.insert("object".into(), o);
        }
    }
    Value::Object(r)
}

/// A Table of `objs`, with `metadata` (resourceVersion, continue…) and, unless `headers` is
/// false, the column definitions.
fn table(
    res: &Resource,
    objs: &[&Value],
    metadata: Value,
    version: &str,
    include: Include,
    headers: bool,
) -> Value {
    let now = OffsetDateTime::now_utc();
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": metadata,
        "columnDefinitions": if headers { column_definitions(res.kind) } else { Value::Null },
        "rows": objs.iter().map(|o| row(res, o, version, include, now)).collect::<Vec<_>>(),
    })
}

/// A list answer in `shape`: `list` is the `<Kind>List` the server would send as JSON.
pub fn list_as(shape: Shape, res: &Resource, list: Value) -> Value {
    let metadata = list.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let items: Vec<&Value> = list
        .get("items")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    match shape {
        Shape::Json => list,
        Shape::Table { version, include } => table(res, &items, metadata, version, include, true),
        Shape::Partial { version } | Shape::PartialList { version } => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": format!("meta.k8s.io/{version}"),
            "metadata": metadata,
            "items": items.iter().map(|o| partial(o, version)).collect::<Vec<_>>(),
        }),
    }
}

/// A one-object answer in `shape`.
pub fn object_as(shape: Shape, res: &Resource, obj: Value) -> Value {
    match shape {
        Shape::Json => obj,
        Shape::Table { version, include } => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            table(
                res,
                &[&obj],
                json!({"resourceVersion": rv}),
                version,
                include,
                true,
            )
        }
        Shape::Partial { version } | Shape::PartialList { version } => partial(&obj, version),
    }
}

/// Turns a watch's event objects into the negotiated shape: one-row Tables (column definitions
/// on the first event only, as kube-apiserver does) or `PartialObjectMetadata`.
pub struct WatchShaper {
    shape: Shape,
    res: &'static Resource,
    headers_sent: bool,
}

impl WatchShaper {
    /// A shaper for a watch of `res` answered in `shape`.
    pub fn new(shape: Shape, res: &'static Resource) -> Self {
        WatchShaper {
            shape,
            res,
            headers_sent: false,
        }
    }

    /// The object of an event of type `t` in the negotiated shape (ERROR events keep their
    /// Status; BOOKMARKs become an empty Table carrying the resourceVersion).
    pub fn shape(&mut self, t: EventType, obj: &Value) -> Value {
        if t == EventType::Error {
            return obj.clone();
        }
        match self.shape {
            Shape::Json => obj.clone(),
            Shape::Partial { version } | Shape::PartialList { version } => partial(obj, version),
            Shape::Table { version, include } => {
                let headers = !std::mem::replace(&mut self.headers_sent, true);
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                let rows: Vec<&Value> = if t == EventType::Bookmark {
                    Vec::new()
                } else {
                    vec![obj]
                };
                let mut meta = json!({"resourceVersion": rv});
                if t == EventType::Bookmark {
                    if let Some(a) = obj.pointer("/metadata/annotations") {
                        meta["annotations"] = a.clone();
                    }
                }
                table(self.res, &rows, meta, version, include, headers)
            }
        }
    }
}
