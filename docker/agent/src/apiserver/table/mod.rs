//! Metadata-only and table answers, as kube-apiserver gives them: content negotiation on the
//! `Accept` header (`application/json;as=Table;v=v1;g=meta.k8s.io`, `as=PartialObjectMetadata`,
//! `as=PartialObjectMetadataList`, v1 or v1beta1), `includeObject=None|Metadata|Object`, and the
//! conversion of objects, lists and watch events into `Table` or `PartialObjectMetadata`. The
//! columns and cells come from [`crate::kube::printers`].

mod convert;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use axum::http::header;
use axum::http::HeaderMap;

pub use convert::{list_as, object_as, WatchShaper};

use crate::apiserver::handlers::errors::{bad_request, ApiError, ApiResult};
use crate::kube::client::Status;

/// What a table row carries in `object` (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (the default, what kubectl asks).
    Metadata,
    /// The whole object.
    Object,
}

/// The form an answer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The object or list itself.
    Json,
    /// A `meta.k8s.io` Table of this version (`v1`, `v1beta1`).
    Table {
        /// `v1` or `v1beta1`.
        version: &'static str,
        /// What rows carry.
        include: Include,
    },
    /// `PartialObjectMetadata` (one object, or each watch event's object).
    Partial {
        /// `v1` or `v1beta1`.
        version: &'static str,
    },
    /// `PartialObjectMetadataList` (a list).
    PartialList {
        /// `v1` or `v1beta1`.
        version: &'static str,
    },
}

fn meta_version(params: &HashMap<String, String>) -> Option<&'static str> {
    if params.get("g").map(String::as_str) != Some("meta.k8s.io") {
        return None;
    }
    match params.get("v").map(String::as_str) {
        Some("v1") => Some("v1"),
        Some("v1beta1") => Some("v1beta1"),
        _ => None,
    }
}

/// Chooses the answer's shape from `Accept` and `includeObject`, the first acceptable media type
/// winning as in kube-apiserver. `list` says whether the request reads a collection (or watches
/// one). A media type with an `as=` the server cannot give is skipped; when nothing is left,
/// the answer is 406 NotAcceptable.
pub fn negotiate(headers: &HeaderMap, q: &HashMap<String, String>, list: bool) -> ApiResult<Shape> {
    let include = match q.get("includeObject").map(String::as_str) {
        None | Some("") | Some("Metadata") => Include::Metadata,
        Some("None") => Include::None,
        Some("Object") => Include::Object,
        Some(other) => {
            return Err(bad_request(format!(
                "unrecognized includeObject value: {other:?}"
            )))
        }
    };
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    if accept.trim().is_empty() {
        return Ok(Shape::Json);
    }
    let mut refused = false;
    for part in accept.split(',') {
        let mut fields = part.split(';');
        let media = fields.next().unwrap_or("").trim().to_ascii_lowercase();
        let params: HashMap<String, String> = fields
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .collect();
        let json_like = matches!(
            media.as_str(),
            "application/json" | "application/*" | "*/*" | "application/yaml"
        );
        if !json_like {
            continue;
        }
        let Some(as_kind) = params.get("as") else {
            return Ok(Shape::Json);
        };
        let version = meta_version(&params);
        match (as_kind.as_str(), version) {
            ("Table", Some(version)) => return Ok(Shape::Table { version, include }),
            ("PartialObjectMetadata", Some(version)) if !list => {
                return Ok(Shape::Partial { version })
            }
            ("PartialObjectMetadataList", Some(version)) if list => {
                return Ok(Shape::PartialList { version })
            }
            _ => refused = true,
        }
    }
    if refused {
        return Err(not_acceptable());
    }
    // Only media types this module does not handle (protobuf, CBOR…): the JSON answer.
    Ok(Shape::Json)
}

fn not_acceptable() -> ApiError {
    ApiError(Status::new(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf, application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch",
    ))
}
