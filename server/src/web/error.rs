//! The error policy of the web server.
//!
//! Handlers return [`AppError`] (HTML pages) or [`ApiError`] (JSON under `/api`). Each variant
//! is a failure the client can act on and maps to one status code: 400 bad request (with the
//! reason), 401/403 (not yours, or refused with the reason), 404, 409 conflict, 429 too many
//! (with `Retry-After`), 503 full (with `Retry-After`). Anything
//! else is `Internal`: logged with its cause, shown only as "internal error".

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub use crate::domain::error::AppError;

// The HTTP side of the domain's error: its status code, log line and `Retry-After`.
impl AppError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound(_) | AppError::Absent(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Full { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Refused(_) => StatusCode::FORBIDDEN,
            AppError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn log(&self) {
        if let AppError::Internal(e) = self {
            tracing::error!(error = format!("{e:#}"), "request failed");
        }
    }

    fn retry_after(&self, r: &mut Response) {
        if let Some(retry_after) = self.wait() {
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    status: u16,
    message: String,
    retry_after: Option<u64>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let retry_after = self.wait();
        let title = if matches!(self, AppError::Full { .. }) {
            "Full"
        } else {
            status.canonical_reason().unwrap_or("Error")
        };
        let page = ErrorPage {
            title,
            status: status.as_u16(),
            message: self.to_string(),
            retry_after,
        };
        let body = askama::Template::render(&page).unwrap_or_else(|_| self.to_string());
        let mut r = (status, Html(body)).into_response();
        self.retry_after(&mut r);
        r
    }
}

/// [`AppError`] rendered as JSON `{"error": …}` (the `/api` routes).
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.log();
        let mut body = serde_json::json!({ "error": self.0.to_string() });
        if let Some(retry_after) = self.0.wait() {
            body["retry_after"] = retry_after.into();
        }
        let mut r = (self.0.status(), Json(body)).into_response();
        self.0.retry_after(&mut r);
        r
    }
}

/// The workshop routes' error: [`AppError`] or a refusal with any status, rendered as JSON
/// or (after [`Fail::html`]) as the workshop message page.
#[derive(Debug)]
pub struct Fail {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
    html: bool,
}

impl Fail {
    /// A refusal with this status and reason.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Fail {
        Fail {
            status,
            message: message.into(),
            retry_after: None,
            html: false,
        }
    }
    /// Rendered as a page instead of JSON.
    pub fn html(mut self) -> Fail {
        self.html = true;
        self
    }
}

impl From<AppError> for Fail {
    fn from(e: AppError) -> Fail {
        if let AppError::Internal(cause) = &e {
            tracing::error!(error = format!("{cause:#}"), "workshop request failed");
        }
        let mut f = Fail::new(e.status(), e.to_string());
        f.retry_after = e.wait();
        f
    }
}

impl From<crate::store::StoreError> for Fail {
    fn from(e: crate::store::StoreError) -> Fail {
        AppError::from(e).into()
    }
}

#[derive(Template)]
#[template(path = "workshop_message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    retry_after: Option<u64>,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let mut r = if self.html {
            let title = self.status.canonical_reason().unwrap_or("Error");
            let body = MessagePage {
                title,
                message: &self.message,
                retry_after: self.retry_after,
            }
            .render()
            .unwrap_or_else(|_| self.message.clone());
            (self.status, Html(body)).into_response()
        } else {
            let mut body = json!({ "error": self.message });
            if let Some(s) = self.retry_after {
                body["retry_after"] = s.into();
            }
            (self.status, Json(body)).into_response()
        };
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}
