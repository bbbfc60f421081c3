//! Content negotiation, as kube-apiserver does it: the request body's `Content-Type` (JSON,
//! YAML or Kubernetes protobuf, decoded here to the JSON object the handlers work on) and the
//! response's media type chosen from `Accept` (protobuf when the client prefers it, JSON
//! otherwise, 406 when nothing offered can be served).
//!
//! `Accept` entries with `as=Table` or `as=PartialObjectMetadata[List]` ask for a conversion
//! that another layer answers: here they count as JSON.

use axum::body::Bytes;
use axum::http::header;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use serde_json::Value;

use crate::kube::client::Status;

pub const JSON: &str = "application/json";
pub const YAML: &str = "application/yaml";
pub const PROTOBUF: &str = kubeschema::codec::PROTOBUF;

/// The media type of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Json,
    Yaml,
    Protobuf,
}

impl Media {
    pub fn content_type(self) -> &'static str {
        match self {
            Media::Json => JSON,
            Media::Yaml => YAML,
            Media::Protobuf => PROTOBUF,
        }
    }
}

/// One entry of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
struct Range {
    kind: String,
    q: f32,
    /// `as=Table` and friends: a conversion asked for.
    as_: Option<String>,
}

fn parse_accept(accept: &str) -> Vec<Range> {
    let mut out: Vec<Range> = accept
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let kind = it.next()?.trim().to_ascii_lowercase();
            if kind.is_empty() {
                return None;
            }
            let mut q = 1.0;
            let mut as_ = None;
            for p in it {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                match k.trim() {
                    "q" => q = v.trim().parse().unwrap_or(0.0),
                    "as" => as_ = Some(v.trim().to_string()),
                    _ => {}
                }
            }
            Some(Range { kind, q, as_ })
        })
        .collect();
    // Stable: equal q keeps the client's order.
    out.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    out
}

/// The media type the client prefers among those we serve; None when nothing matches (406).
pub fn response_media(headers: &HeaderMap) -> Option<Media> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if accept.trim().is_empty() {
        return Some(Media::Json);
    }
    for r in parse_accept(accept) {
        if r.q <= 0.0 {
            continue;
        }
        match r.kind.as_str() {
            PROTOBUF if r.as_.is_none() => return Some(Media::Protobuf),
            // A conversion (Table, PartialObjectMetadata) is answered in JSON.
            PROTOBUF | JSON | "application/*" | "*/*" => return Some(Media::Json),
            YAML | "application/yml" => return Some(Media::Yaml),
            _ => {}
        }
    }
    None
}

/// The 406 Status kube-apiserver answers when no offered media type can be served.
pub fn not_acceptable() -> Status {
    Status::new(
        406,
        "NotAcceptable",
        format!("only the following media types are accepted: {JSON}, {YAML}, {PROTOBUF}"),
    )
}

/// The request body as JSON bytes, decoded from YAML or protobuf by its `Content-Type`. An
/// empty body stays empty (the handlers word that error).
pub fn request_body(headers: &HeaderMap, body: Bytes) -> Result<Bytes, Status> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if body.is_empty() {
        return Ok(body);
    }
    match media.as_str() {
        PROTOBUF => {
            let v = kubeschema::decode(&body).map_err(|e| {
                Status::new(400, "BadRequest", format!("couldn't get version/kind; {e}"))
            })?;
            Ok(Bytes::from(v.to_string()))
        }
        YAML | "application/yml" | "text/yaml" => {
            let v: Value = serde_yaml_ng::from_slice(&body).map_err(|e| {
                Status::new(
                    400,
                    "BadRequest",
                    format!("couldn't get version/kind; yaml parse error: {e}"),
                )
            })?;
            Ok(Bytes::from(v.to_string()))
        }
        _ => Ok(body),
    }
}

/// A response of `v` in the media type the request prefers. An object the protobuf schema
/// cannot carry (discovery documents, Tables) is answered in JSON.
pub fn respond(headers: &HeaderMap, code: StatusCode, v: &Value) -> Response {
    let Some(media) = response_media(headers) else {
        let s = not_acceptable();
        return body_response(StatusCode::NOT_ACCEPTABLE, Media::Json, &s.to_json());
    };
    body_response(code, media, v)
}

fn body_response(code: StatusCode, media: Media, v: &Value) -> Response {
    match media {
        Media::Protobuf => match kubeschema::encode(v) {
            Ok(bytes) => (code, [(header::CONTENT_TYPE, PROTOBUF)], bytes).into_response(),
            Err(_) => body_response(code, Media::Json, v),
        },
        Media::Yaml => match serde_yaml_ng::to_string(v) {
            Ok(s) => (code, [(header::CONTENT_TYPE, YAML)], s).into_response(),
            Err(_) => body_response(code, Media::Json, v),
        },
        Media::Json => (code, [(header::CONTENT_TYPE, JSON)], v.to_string()).into_response(),
    }
}

/// One watch event in the negotiated framing: a JSON line, or a length-prefixed protobuf
/// `WatchEvent` frame (falling back to a JSON line for an object the schema cannot carry).
pub fn watch_event_bytes(media: Media, event_type: &str, object: &Value) -> Bytes {
    if media == Media::Protobuf {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("v1");
        return match kubeschema::codec::encode_watch_frame(api_version, event_type, object) {
            Ok(frame) => Bytes::from(frame),
            // Never a JSON line inside a protobuf stream: the client would lose the framing.
            Err(e) => {
                let status = crate::kube::client::Status::new(
                    500,
                    "InternalError",
                    format!("unable to encode watch object: {}", e.0),
                )
                .to_json();
                kubeschema::codec::encode_watch_frame("v1", "ERROR", &status)
                    .map(Bytes::from)
                    .unwrap_or_default()
            }
        };
    }
    let mut s = serde_json::json!({"type": event_type, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

/// A `Warning` header value (RFC 7234 form, as kube-apiserver writes them).
pub fn warning_header(text: &str) -> Option<axum::http::HeaderValue> {
    let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
    axum::http::HeaderValue::from_str(&format!("299 - \"{quoted}\"")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: header::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accept_picks_protobuf_json_yaml_or_nothing() {
        let m = |a: &str| response_media(&with(header::ACCEPT, a));
        assert_eq!(
            m("application/vnd.kubernetes.protobuf, */*"),
            Some(Media::Protobuf)
        );
        assert_eq!(
            m("application/vnd.kubernetes.protobuf;q=0.5, application/json"),
            Some(Media::Json)
        );
        assert_eq!(
            m("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
            Some(Media::Json)
        );
        assert_eq!(
            m("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            Some(Media::Json)
        );
        assert_eq!(m("application/yaml"), Some(Media::Yaml));
        assert_eq!(m("*/*"), Some(Media::Json));
        assert_eq!(response_media(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(m("text/html"), None);
        assert_eq!(not_acceptable().code, 406);
    }

    #[test]
    fn warnings_are_quoted_for_the_header() {
        assert_eq!(
            warning_header("unknown field \"spec.bogus\"").unwrap(),
            "299 - \"unknown field \\\"spec.bogus\\\"\""
        );
    }

    #[test]
    fn protobuf_and_yaml_bodies_become_json() {
        let obj =
            serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}});
        let pb = kubeschema::encode(&obj).unwrap();
        let out = request_body(&with(header::CONTENT_TYPE, PROTOBUF), Bytes::from(pb)).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), obj);
        let y = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n";
        let out = request_body(&with(header::CONTENT_TYPE, YAML), Bytes::from(y)).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), obj);
        let bad = request_body(
            &with(header::CONTENT_TYPE, PROTOBUF),
            Bytes::from_static(b"{\"kind\":1}"),
        )
        .unwrap_err();
        assert_eq!(bad.code, 400);
        assert!(
            bad.message.contains("expected prefix [107 56 115 0]"),
            "{}",
            bad.message
        );
    }
}
