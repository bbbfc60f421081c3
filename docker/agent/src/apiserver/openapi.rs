//! `GET /openapi/v2` and `/openapi/v3[/<group-version>]`: the OpenAPI documents of the kinds we
//! serve (built by `kubeschema::openapi`), built on first request and kept for the process.

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

fn v2_text() -> &'static Bytes {
    static V2: OnceLock<Bytes> = OnceLock::new();
    V2.get_or_init(|| Bytes::from(kubeschema::openapi::v2().to_string()))
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

/// `GET /openapi/v2`, in JSON. The protobuf (gnostic) form is not served: a client that
/// accepts only it gets 406 (kubectl then goes on without the v2 document; it reads the v3
/// documents for explain, apply's patch merge keys and validation).
pub async fn v2(headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let json_ok = accept.is_empty()
        || accept.contains("application/json")
        || accept.contains("*/*")
        || accept.contains("application/*");
    if !json_ok {
        return ApiError(Status::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json",
        ))
        .into_response();
    }
    json_doc(v2_text().clone())
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
