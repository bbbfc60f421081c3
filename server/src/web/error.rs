//! The error policy of the web server.
//!
//! One error type for the web layer: [`ApiError`] (JSON under `/api`, or the workshop message
//! page), built from the domain's [`AppError`] or from a status and reason; page handlers
//! return the [`AppError`] itself, rendered as the error page. Each [`AppError`] variant
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
            AppError::Unreadable(_) => StatusCode::UNPROCESSABLE_ENTITY,
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

/// The web layer's error for the JSON API and the workshop routes: an [`AppError`] or a
/// refusal with any status, rendered as JSON `{"error": …}` (with `retry_after` and the
/// `Retry-After` header when there is a wait) or, after [`ApiError::html`], as the workshop
/// message page. Page handlers return [`AppError`] itself (the error page).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
    html: bool,
}

impl ApiError {
    /// A refusal with this status and reason.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            html: false,
        }
    }
    /// Rendered as a page instead of JSON.
    pub fn html(mut self) -> ApiError {
        self.html = true;
        self
    }
}

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        let e = e.into();
        e.log();
        ApiError {
            status: e.status(),
            message: e.to_string(),
            retry_after: e.wait(),
            html: false,
        }
    }
}

#[derive(Template)]
#[template(path = "workshop_message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    retry_after: Option<u64>,
}

impl IntoResponse for ApiError {
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
