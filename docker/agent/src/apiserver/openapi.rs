//! `GET /openapi/v2` and `/openapi/v3[/<group-version>]`: the OpenAPI documents of the kinds we
//! serve (built by `kubeschema::openapi`; v2 also in gnostic's protobuf, by
//! `kubeschema::gnostic`), built on first request and kept for the process.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::header;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;

use crate::apiserver::handlers::errors::ApiError;
use crate::kube::client::Status;

struct V3 {
    index: Bytes,
    /// Group-version path (`apis/apps/v1`) -> its document's text.
    docs: BTreeMap<String, Bytes>,
}

/// The v2 document in both its forms, and the ETag they share (kube-apiserver gives the
/// protobuf the JSON's ETag: the response varies by `Accept`).
struct V2 {
    json: Bytes,
    /// gnostic's `openapi.v2.Document`; `None` if the encoder refused the document (a bug its
    /// tests catch): that form is then answered 503, as kube-apiserver does without a spec.
    protobuf: Option<Bytes>,
    etag: String,
}

fn v2_docs() -> &'static V2 {
    static V2: OnceLock<V2> = OnceLock::new();
    V2.get_or_init(|| {
        let doc = kubeschema::openapi::v2();
        let text = doc.to_string();
        let protobuf = match kubeschema::gnostic::encode_v2(&doc) {
            Ok(b) => Some(Bytes::from(b)),
            Err(e) => {
                tracing::error!("the OpenAPI v2 document has no protobuf form: {e}");
                None
            }
        };
        V2 {
            etag: format!("\"{}\"", kubeschema::openapi::hash(&text)),
            json: Bytes::from(text),
            protobuf,
        }
    })
}

fn v3_docs() -> &'static V3 {
    static DOCS: OnceLock<V3> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut docs = BTreeMap::new();
        let mut hashes = Vec::new();
        for p in kubeschema::openapi::v3_paths() {
            if let Some(doc) = kubeschema::openapi::v3(&p) {
                let text = doc.to_string();
                hashes.push((p.clone(), kubeschema::openapi::hash(&text)));
                docs.insert(p, Bytes::from(text));
            }
        }
        let index = Bytes::from(kubeschema::openapi::v3_index(&hashes).to_string());
        V3 { index, docs }
    })
}

fn json_doc(body: Bytes) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The forms of `/openapi/v2` as kube-apiserver offers them (kube-openapi's
/// `pkg/handler/handler.go`): (media subtype asked for, Content-Type answered, protobuf?). Both
/// protobuf spellings are answered as `…spec.v2.v1.0+protobuf`; kube-openapi names the `@` one
/// deprecated, yet it is the one client-go asks for.
const V2_FORMS: &[(&str, &str, bool)] = &[
    ("json", "application/json", false),
    (
        "com.github.proto-openapi.spec.v2@v1.0+protobuf",
        kubeschema::gnostic::PROTOBUF_V2_RESPONSE,
        true,
    ),
    (
        "com.github.proto-openapi.spec.v2.v1.0+protobuf",
        kubeschema::gnostic::PROTOBUF_V2_RESPONSE,
        true,
    ),
];

/// An `Accept` header's media ranges as (type, subtype), best first as goautoneg sorts them:
/// by `q`, then specific before wildcard, then in header order.
fn accept_clauses(accept: &str) -> Vec<(String, String)> {
    let mut out: Vec<(f32, u8, String, String)> = accept
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let range = it.next()?.trim();
            let (t, st) = match range.split_once('/') {
                Some((t, st)) => (t.trim(), st.trim()),
                None if range == "*" => ("*", "*"),
                None => return None,
            };
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let wild = u8::from(t == "*") + u8::from(st == "*");
            Some((q, wild, t.to_string(), st.to_string()))
        })
        .collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    out.into_iter().map(|(_, _, t, st)| (t, st)).collect()
}

/// Whether `If-None-Match` names this ETag (or `*`), as Go's `http.ServeContent` checks it.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// `GET /openapi/v2`: JSON, or gnostic's protobuf for a client that asks for it (client-go's
/// `OpenAPISchema()`, which every kubectl calls: its validator falls back to the v2 document for
/// a kind the v3 documents lack, and kubectl 1.29/1.30 read it for apply's patch metadata and
/// `explain --output=plaintext-openapiv2`). Served with an ETag (`If-None-Match` answers 304)
/// and `Vary: Accept`; 406 when nothing acceptable is offered.
pub async fn v2(headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or("*/*");
    let docs = v2_docs();
    let chosen = accept_clauses(accept).into_iter().find_map(|(t, st)| {
        V2_FORMS
            .iter()
            .find(|(sub, _, _)| (t == "application" || t == "*") && (st == *sub || st == "*"))
    });
    let Some(&(_, content_type, protobuf)) = chosen else {
        let mut r = ApiError(Status::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json, {}, {}",
                kubeschema::gnostic::PROTOBUF_V2,
                kubeschema::gnostic::PROTOBUF_V2_RESPONSE
            ),
        ))
        .into_response();
        r.headers_mut()
            .insert(header::VARY, header::HeaderValue::from_static("Accept"));
        return r;
    };
    let body = if protobuf {
        match &docs.protobuf {
            Some(b) => b.clone(),
            None => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    } else {
        docs.json.clone()
    };
    let etag = docs.etag.as_str();
    if not_modified(&headers, etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::VARY, "Accept")],
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::ETAG, etag),
            (header::VARY, "Accept"),
        ],
        body,
    )
        .into_response()
}

/// `GET /openapi/v3`: the index of the group versions' documents.
pub async fn v3_index() -> Response {
    json_doc(v3_docs().index.clone())
}

/// `GET /openapi/v3/<group-version>`.
pub async fn v3(Path(rest): Path<String>) -> Response {
    match v3_docs().docs.get(rest.trim_end_matches('/')) {
        Some(d) => json_doc(d.clone()),
        None => ApiError(Status::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ))
        .into_response(),
    }
}
