//! Instructor authentication.
//!
//! The instructor proves the token given to `kplab serve --instructor-token` either with
//! `Authorization: Bearer TOKEN` (API) or with the signed `kplab_instructor` cookie set by the
//! login page (it holds a SHA-256 of the token, so changing the token logs everyone out).
//! Without a configured token every instructor route answers 404 with the reason.

use axum::http::{header, HeaderMap, StatusCode};
use axum_extra::extract::cookie::{Cookie, SameSite, SignedCookieJar};
use sha2::{Digest, Sha256};

use crate::web::error::ApiError;
use crate::web::state::AppState;

/// The instructor cookie.
pub const COOKIE: &str = "kplab_instructor";

/// Why a request is not the instructor's: status and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// 404 (workshops off), 401 (no credentials) or 403 (wrong token).
    pub status: StatusCode,
    /// Shown to the client.
    pub reason: &'static str,
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> ApiError {
        ApiError::new(d.status, d.reason)
    }
}

fn digest(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"kplab-instructor:");
    h.update(token.as_bytes());
    data_encoding::HEXLOWER.encode(&h.finalize())
}

/// Compares in time independent of where the strings differ.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (digest(a), digest(b));
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Checks the instructor's credentials in `headers`.
pub fn instructor(state: &AppState, headers: &HeaderMap) -> Result<(), Denied> {
    let Some(token) = state.config.instructor_token.as_deref() else {
        return Err(Denied {
            status: StatusCode::NOT_FOUND,
            reason: "workshops are off: this server was started without --instructor-token",
        });
    };
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let given = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        return if same(given.trim(), token) {
            Ok(())
        } else {
            Err(Denied {
                status: StatusCode::FORBIDDEN,
                reason: "wrong instructor token",
            })
        };
    }
    let jar = SignedCookieJar::from_headers(headers, state.key.clone());
    match jar.get(COOKIE) {
        Some(c) if c.value() == digest(token) => Ok(()),
        Some(_) => Err(Denied {
            status: StatusCode::FORBIDDEN,
            reason: "the instructor login is no longer valid; log in again",
        }),
        None => Err(Denied {
            status: StatusCode::UNAUTHORIZED,
            reason: "instructor only: send Authorization: Bearer TOKEN or log in at /instructor",
        }),
    }
}

/// Checks a token typed into the login form; the cookie to set when right (`Secure` when
/// `https`).
pub fn login(state: &AppState, given: &str, https: bool) -> Result<SignedCookieJar, Denied> {
    let Some(token) = state.config.instructor_token.as_deref() else {
        return Err(Denied {
            status: StatusCode::NOT_FOUND,
            reason: "workshops are off: this server was started without --instructor-token",
        });
    };
    if !same(given.trim(), token) {
        return Err(Denied {
            status: StatusCode::FORBIDDEN,
            reason: "wrong instructor token",
        });
    }
    let mut c = Cookie::new(COOKIE, digest(token));
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_secure(https);
    c.set_path("/");
    c.set_max_age(time::Duration::hours(12));
    Ok(SignedCookieJar::new(state.key.clone()).add(c))
}
