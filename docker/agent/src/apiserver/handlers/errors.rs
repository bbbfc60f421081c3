//! The API server's error answers (failure `Status` objects worded like the real server's)
//! and the generated names and UIDs.

use rand::Rng;

use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use serde_json::json;
use serde_json::Value;

use crate::apiserver::validation as v;
use crate::apiserver::validation::FieldError;
use crate::kube::client::Resource;
use crate::kube::client::Status;

/// An error answer: a failure Status.
#[derive(Debug)]
pub struct ApiError(pub Status);

impl From<Status> for ApiError {
    fn from(s: Status) -> Self {
        ApiError(s)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.0.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(code, &self.0.to_json())
    }
}

impl ApiError {
    /// The failure Status in the media type the request negotiates (protobuf for a client that
    /// prefers it).
    pub fn into_response_for(self, headers: &axum::http::HeaderMap) -> Response {
        let code = StatusCode::from_u16(self.0.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        crate::apiserver::negotiate::respond(headers, code, &self.0.to_json())
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn json_response(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

pub(crate) fn not_found(res: &Resource, name: &str) -> ApiError {
    let mut s = Status::new(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", res.qualified_plural()),
    );
    s.details = Some(Box::new(details(res, name)));
    ApiError(s)
}

pub(crate) fn details(res: &Resource, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": res.plural});
    if !res.group.is_empty() {
        d["group"] = json!(res.group);
    }
    d
}

pub(crate) fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(Status::new(400, "BadRequest", msg))
}

pub(crate) fn unknown_path() -> ApiError {
    ApiError(Status::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    ))
}

pub(crate) fn qualified_kind(res: &Resource) -> String {
    if res.group.is_empty() {
        res.kind.to_string()
    } else {
        format!("{}.{}", res.kind, res.group)
    }
}

pub(crate) fn invalid(res: &Resource, name: &str, errs: &[FieldError]) -> ApiError {
    ApiError(v::invalid_status(&qualified_kind(res), name, errs))
}

pub(crate) fn conflict_modified(res: &Resource, name: &str) -> ApiError {
    let mut s = Status::new(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            res.qualified_plural()
        ),
    );
    s.details = Some(Box::new(details(res, name)));
    ApiError(s)
}

/// A random RFC 4122 version-4 UID.
pub fn new_uid() -> String {
    let mut b: [u8; 16] = rand::thread_rng().gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// 5 random characters from Kubernetes' safe alphabet (generateName suffixes).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
