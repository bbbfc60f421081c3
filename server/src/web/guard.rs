//! What holds the server against abuse from outside: the same-origin check on
//! state-changing requests, WebSockets and event streams; the security headers on every
//! response; the client address (`X-Forwarded-For` only from a configured proxy); the
//! refused tokens limited per address (the limits themselves are in `limits.rs`); who
//! may read `/metrics`.
//!
//! Configured by [`crate::domain::config::guard::GuardArgs`].

use std::net::{IpAddr, SocketAddr};

use crate::domain::config::guard::{Guard, MetricsAccess};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, AppError};
use super::state::AppState;

/// The client of a request as the guard sees it (an extractor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// Its address ([`Guard::client_ip`]).
    pub ip: IpAddr,
    /// The TCP peer (a proxy when there is one), if known.
    pub peer: Option<SocketAddr>,
    /// Reached over TLS ([`Guard::https`]).
    pub https: bool,
}

impl Client {
    /// The client of a request with these parts.
    pub fn of(
        state: &AppState,
        extensions: &axum::http::Extensions,
        headers: &HeaderMap,
    ) -> Client {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| *a);
        let g = &state.config.guard;
        Client {
            ip: g.client_ip(peer, headers),
            peer,
            https: g.https(peer, headers),
        }
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client::of(state, &parts.extensions, &parts.headers))
    }
}

// ---------------------------------------------------------------- same origin

fn is_state_changing(m: &Method) -> bool {
    !matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// GETs that open a long-lived channel a foreign page must not open in the user's name: the
/// terminal and dashboard WebSockets and the event streams.
fn is_channel(req: &Request) -> bool {
    let h = req.headers();
    let upgrade = h
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let stream = h
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    upgrade || stream || req.uri().path().ends_with("/events")
}

/// `host[:port]` lower-cased, without the scheme's default port.
fn authority(a: &str, scheme: &str) -> String {
    let a = a.trim().to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    a.strip_suffix(default).map(str::to_string).unwrap_or(a)
}

/// Why a request is cross-site, if it is. A request with an `Origin` must name this server
/// (the `Host` it was sent to, and `https` when we know it came over TLS); without one, a
/// `Sec-Fetch-Site` other than `same-origin` or `none` refuses it. Requests with neither
/// (curl, scripts, the instructor's API clients) pass: browsers send one of them on every
/// cross-site request that could change anything.
pub fn cross_site(headers: &HeaderMap, https: bool) -> Option<String> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let o = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let ok = o.split_once("://").is_some_and(|(scheme, rest)| {
            let scheme = scheme.to_ascii_lowercase();
            (scheme == "https" || (scheme == "http" && !https))
                && !rest.contains('/')
                && !host.is_empty()
                && authority(rest, &scheme) == authority(host, &scheme)
        });
        return (!ok).then(|| {
            format!(
                "cross-site request refused: it comes from a page of {:?}, not of this server",
                o.chars().take(100).collect::<String>()
            )
        });
    }
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())?;
    (!matches!(site, "same-origin" | "none")).then(|| {
        format!(
            "cross-site request refused: Sec-Fetch-Site is {:?}",
            site.chars().take(40).collect::<String>()
        )
    })
}

/// Middleware on every route, outside the learner cookie: refuses (403 with the reason)
/// cross-site state-changing requests, WebSockets and event streams before anything runs, so
/// a foreign page can neither act in a learner's name nor get a new learner cookie set over
/// the learner's own.
pub async fn same_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_state_changing(req.method()) || is_channel(&req) {
        let client = Client::of(&state, req.extensions(), req.headers());
        if let Some(reason) = cross_site(req.headers(), client.https) {
            tracing::info!(path = %req.uri().path(), ip = %client.ip, "cross-site request refused");
            let e = AppError::Refused(reason);
            return if req.uri().path().starts_with("/api/") {
                ApiError::from(e).into_response()
            } else {
                e.into_response()
            };
        }
    }
    next.run(req).await
}

// ---------------------------------------------------------------- token guesses

/// Middleware on every route: requests that present a token (an `Authorization` header: the
/// instructor API, `/metrics`; or the instructor login form) are limited per client address
/// to [`LOGIN_FAILURES`] refused (403) tries per [`LOGIN_WINDOW`]; past that, 429 with
/// `Retry-After`, even for the right token, until the window has room again.
pub async fn token_guesses(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let guessing = req.headers().contains_key(header::AUTHORIZATION)
        || (req.method() == Method::POST && req.uri().path() == "/instructor/login");
    if !guessing {
        return next.run(req).await;
    }
    let client = Client::of(&state, req.extensions(), req.headers());
    if let Err(wait) = state.limits.logins.check(&client.ip) {
        tracing::info!(ip = %client.ip, "token guesses limited");
        let e = AppError::TooMany {
            retry_after: wait,
            reason: format!("too many wrong tokens from your address; try again in {wait} s"),
        };
        return if req.uri().path().starts_with("/api/") {
            ApiError::from(e).into_response()
        } else {
            e.into_response()
        };
    }
    let resp = next.run(req).await;
    if resp.status() == StatusCode::FORBIDDEN {
        state.limits.logins.record(client.ip);
    }
    resp
}

// ---------------------------------------------------------------- headers

/// The Content-Security-Policy of every response. Scripts only from our own files (no
/// inline script, no `eval`); inline styles stay allowed because xterm.js writes its theme
/// and cell styles into `<style>` elements and `style` attributes. `connect-src` names the
/// WebSocket schemes of this host too, for browsers whose `'self'` does not cover them.
pub fn content_security_policy(host: Option<&str>) -> String {
    let ws = host
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'{ws}; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Middleware on every response: CSP, `nosniff`, no framing, `Referrer-Policy`.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(host.as_deref())) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

// ---------------------------------------------------------------- metrics

/// May this request read `/metrics`? `Err` is the status and reason.
pub fn metrics_allowed(
    guard: &Guard,
    client: &Client,
    headers: &HeaderMap,
) -> Result<(), (StatusCode, &'static str)> {
    if guard.metrics == MetricsAccess::Off {
        return Err((StatusCode::NOT_FOUND, "metrics are off (--metrics off)\n"));
    }
    if guard.metrics == MetricsAccess::Open {
        return Ok(());
    }
    if let Some(token) = &guard.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if let Some(given) = given {
            return if super::instructor::same(given, token) {
                Ok(())
            } else {
                Err((StatusCode::FORBIDDEN, "wrong metrics token\n"))
            };
        }
    }
    // A proxy on this host forwards outsiders from a loopback peer: a forwarded request is
    // local only when a trusted proxy says so.
    let forwarded = headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded");
    let proxied_untrusted = forwarded && !client.peer.is_some_and(|p| guard.trusts(p.ip()));
    if client.ip.to_canonical().is_loopback() && !proxied_untrusted {
        return Ok(());
    }
    Err((
        StatusCode::FORBIDDEN,
        "metrics are served to this host only (--metrics loopback); send the metrics token \
         (Authorization: Bearer) from elsewhere\n",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::config::guard::tests::headers;

    #[test]
    fn origins_must_name_this_server() {
        let same = headers(&[
            ("host", "lab.example:8080"),
            ("origin", "http://lab.example:8080"),
        ]);
        assert_eq!(cross_site(&same, false), None);
        let default_port = headers(&[
            ("host", "lab.example:443"),
            ("origin", "https://lab.example"),
        ]);
        assert_eq!(cross_site(&default_port, true), None);
        let evil = headers(&[("host", "lab.example"), ("origin", "http://evil.example")]);
        assert!(cross_site(&evil, false).is_some());
        let null = headers(&[("host", "lab.example"), ("origin", "null")]);
        assert!(cross_site(&null, false).is_some());
        let downgraded = headers(&[("host", "lab.example"), ("origin", "http://lab.example")]);
        assert!(cross_site(&downgraded, true).is_some());
        let form = headers(&[("host", "lab.example"), ("sec-fetch-site", "cross-site")]);
        assert!(cross_site(&form, false).is_some());
        let sibling = headers(&[("host", "lab.example"), ("sec-fetch-site", "same-site")]);
        assert!(cross_site(&sibling, false).is_some());
        let typed = headers(&[("host", "lab.example"), ("sec-fetch-site", "none")]);
        assert_eq!(cross_site(&typed, false), None);
        assert_eq!(
            cross_site(&headers(&[("host", "lab.example")]), false),
            None
        );
    }

    #[test]
    fn the_policy_allows_no_inline_script() {
        let csp = content_security_policy(Some("127.0.0.1:8080"));
        let script = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(!script.contains("unsafe"), "{csp}");
        assert!(csp.contains("ws://127.0.0.1:8080"), "{csp}");
        assert!(!content_security_policy(Some("x;script-src *")).contains("x;"));
    }
}
