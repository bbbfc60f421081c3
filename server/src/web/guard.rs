//! What holds the server against abuse from outside (issue 13): the same-origin check on
//! state-changing requests, WebSockets and event streams; the security headers on every
//! response; the client address (`X-Forwarded-For` only from a configured proxy); the
//! sliding-window rate limits (lab starts, wrong instructor and metrics tokens; the join-code
//! limit is in [`super::workshop::auth`]); who may read `/metrics`.
//!
//! Configured by [`GuardArgs`] (flags of `kplab serve`, each with an environment fallback):
//!
//! | flag / env | default | what |
//! |---|---|---|
//! | `--trusted-proxy` / `KPLAB_TRUSTED_PROXY` | none | comma-separated addresses or CIDRs whose `X-Forwarded-For` / `X-Forwarded-Proto` count |
//! | `--secure-cookies` / `KPLAB_SECURE_COOKIES` | off | cookies always `Secure` (otherwise only when a trusted proxy says `https`) |
//! | `--header-timeout-secs` / `KPLAB_HEADER_TIMEOUT_SECS` | 10 | a request head must arrive within this |
//! | `--max-connections` / `KPLAB_MAX_CONNECTIONS` | 1024 | open connections at once; more wait in the listen queue |
//! | `--metrics` / `KPLAB_METRICS` | `loopback` | `off`, `loopback` (unproxied requests from this host) or `open` |
//! | `--metrics-token` / `KPLAB_METRICS_TOKEN` | none | `Authorization: Bearer TOKEN` also opens `/metrics` (unless `off`) |
//! | `--start-limit-learner` / `KPLAB_START_LIMIT_LEARNER` | 10 | lab starts per learner per window |
//! | `--start-limit-address` / `KPLAB_START_LIMIT_ADDRESS` | 60 | lab starts per client address per window |
//! | `--start-window-secs` / `KPLAB_START_WINDOW_SECS` | 600 | the window of both start limits |

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::config::ConfigError;
use super::error::{ApiError, AppError};
use super::state::AppState;

/// `kplab serve` flags of the server's defences.
#[derive(Debug, Clone, clap::Args)]
pub struct GuardArgs {
    /// Reverse proxies (addresses or CIDRs, comma separated) whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed. Nobody by default: the client is the TCP peer.
    #[arg(
        long = "trusted-proxy",
        env = "KPLAB_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    pub trusted_proxy: Vec<String>,
    /// Mark cookies `Secure` always (the server is only reached over HTTPS).
    #[arg(long, env = "KPLAB_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Seconds a client has to send a request's head.
    #[arg(long, env = "KPLAB_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Most connections served at once (more wait in the listen queue).
    #[arg(long, env = "KPLAB_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Who may read `/metrics`: off, loopback (unproxied requests from this host) or open.
    #[arg(long, env = "KPLAB_METRICS", value_enum, default_value = "loopback")]
    pub metrics: MetricsAccess,
    /// A bearer token that also opens `/metrics` from anywhere (unless `--metrics off`).
    #[arg(long, env = "KPLAB_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Lab starts per learner within the start window.
    #[arg(long, env = "KPLAB_START_LIMIT_LEARNER", default_value_t = 10)]
    pub start_limit_learner: usize,
    /// Lab starts per client address within the start window.
    #[arg(long, env = "KPLAB_START_LIMIT_ADDRESS", default_value_t = 60)]
    pub start_limit_address: usize,
    /// The start window in seconds.
    #[arg(long, env = "KPLAB_START_WINDOW_SECS", default_value_t = 600)]
    pub start_window_secs: u64,
}

impl Default for GuardArgs {
    fn default() -> Self {
        GuardArgs {
            trusted_proxy: Vec::new(),
            secure_cookies: false,
            header_timeout_secs: 10,
            max_connections: 1024,
            metrics: MetricsAccess::Loopback,
            metrics_token: None,
            start_limit_learner: 10,
            start_limit_address: 60,
            start_window_secs: 600,
        }
    }
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsAccess {
    /// Nobody (404).
    Off,
    /// Requests from this host that came through no proxy (and holders of the token).
    Loopback,
    /// Everybody.
    Open,
}

/// An address or a CIDR block of trusted proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Net {
    /// Parses `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse(s: &str) -> Option<Net> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max)?,
            None => max,
        };
        Some(Net { addr, prefix })
    }

    /// Is `ip` inside?
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

/// The validated defences.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Proxies whose forwarding headers count.
    pub trusted_proxies: Vec<Net>,
    /// Cookies always `Secure`.
    pub secure_cookies: bool,
    /// Request-head timeout.
    pub header_timeout: Duration,
    /// Most connections at once.
    pub max_connections: usize,
    /// `/metrics` access.
    pub metrics: MetricsAccess,
    /// `/metrics` bearer token.
    pub metrics_token: Option<String>,
    /// Starts per learner per window.
    pub start_limit_learner: usize,
    /// Starts per address per window.
    pub start_limit_address: usize,
    /// Start window.
    pub start_window: Duration,
}

impl Default for Guard {
    fn default() -> Self {
        GuardArgs::default()
            .validate()
            .expect("the defaults are valid")
    }
}

impl GuardArgs {
    /// Validates the flags, naming the one that is wrong.
    pub fn validate(self) -> Result<Guard, ConfigError> {
        let err = |name, reason: &str| ConfigError {
            name,
            reason: reason.to_string(),
        };
        let mut trusted_proxies = Vec::new();
        for p in self.trusted_proxy.iter().filter(|p| !p.trim().is_empty()) {
            trusted_proxies.push(Net::parse(p).ok_or_else(|| ConfigError {
                name: "--trusted-proxy / KPLAB_TRUSTED_PROXY",
                reason: format!("{p:?} is not an address or CIDR"),
            })?);
        }
        if self.header_timeout_secs == 0 {
            return Err(err(
                "--header-timeout-secs / KPLAB_HEADER_TIMEOUT_SECS",
                "must be at least 1",
            ));
        }
        if self.max_connections == 0 {
            return Err(err(
                "--max-connections / KPLAB_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        if self.start_limit_learner == 0 || self.start_limit_address == 0 {
            return Err(err(
                "--start-limit-learner / --start-limit-address",
                "must be at least 1",
            ));
        }
        if self.start_window_secs == 0 {
            return Err(err(
                "--start-window-secs / KPLAB_START_WINDOW_SECS",
                "must be at least 1",
            ));
        }
        let metrics_token = self.metrics_token.filter(|t| !t.is_empty());
        if metrics_token
            .as_ref()
            .is_some_and(|t| t.len() < 12 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(err(
                "--metrics-token / KPLAB_METRICS_TOKEN",
                "must be at least 12 printable characters without spaces",
            ));
        }
        Ok(Guard {
            trusted_proxies,
            secure_cookies: self.secure_cookies,
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            max_connections: self.max_connections,
            metrics: self.metrics,
            metrics_token,
            start_limit_learner: self.start_limit_learner,
            start_limit_address: self.start_limit_address,
            start_window: Duration::from_secs(self.start_window_secs),
        })
    }

    /// Validates into `config.guard`.
    pub fn apply(self, config: &mut super::config::Config) -> Result<(), ConfigError> {
        config.guard = self.validate()?;
        Ok(())
    }
}

impl Guard {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(ip))
    }

    /// The client's address: the TCP peer, or, when the peer is a trusted proxy, the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further
    /// left were written by the client and prove nothing).
    pub fn client_ip(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        let Some(peer) = peer.map(|p| p.ip()) else {
            return IpAddr::from([0, 0, 0, 0]);
        };
        if !self.trusts(peer) {
            return peer;
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        for v in headers.get_all("x-forwarded-for") {
            let Ok(v) = v.to_str() else { return peer };
            for h in v.split(',') {
                match h.trim().parse::<IpAddr>() {
                    Ok(ip) => hops.push(ip),
                    // Something not an address: believe nothing left of it.
                    Err(_) => hops.clear(),
                }
            }
        }
        hops.into_iter()
            .rev()
            .find(|ip| !self.trusts(*ip))
            .unwrap_or(peer)
    }

    /// Did the request reach us over TLS (`--secure-cookies`, or a trusted proxy's
    /// `X-Forwarded-Proto: https`)?
    pub fn https(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
        self.secure_cookies
            || (peer.is_some_and(|p| self.trusts(p.ip()))
                && headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")))
    }
}

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
                ApiError(e).into_response()
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
            ApiError(e).into_response()
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

// ---------------------------------------------------------------- rate limits

/// A sliding-window limit: at most `max` hits per key within `window`.
pub struct RateLimit<K> {
    max: usize,
    window: Duration,
    hits: Mutex<HashMap<K, VecDeque<Instant>>>,
}

/// Keys tracked at most; beyond it the oldest state is dropped wholesale (a flood of fresh
/// keys cannot grow memory without bound).
const MAX_KEYS: usize = 100_000;

impl<K: Hash + Eq + Clone> RateLimit<K> {
    /// A limit of `max` per `window`.
    pub fn new(max: usize, window: Duration) -> RateLimit<K> {
        RateLimit {
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when `key` is at its limit.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        let mut map = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let Some(q) = map.get_mut(key) else {
            return Ok(());
        };
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.max {
            let oldest = *q.front().unwrap_or(&now);
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs().max(1));
        }
        if q.is_empty() {
            map.remove(key);
        }
        Ok(())
    }

    /// Records a hit.
    pub fn record(&self, key: K) {
        let mut map = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.clear();
        }
        map.entry(key).or_default().push_back(Instant::now());
    }
}

/// The rate limits of the server.
pub struct Limits {
    /// Lab starts per learner.
    pub starts_by_learner: RateLimit<String>,
    /// Lab starts per client address.
    pub starts_by_address: RateLimit<IpAddr>,
    /// Refused tokens (instructor, metrics) per client address ([`token_guesses`]).
    pub logins: RateLimit<IpAddr>,
}

/// Wrong instructor tokens allowed per address per [`LOGIN_WINDOW`].
pub const LOGIN_FAILURES: usize = 10;

/// The instructor-login window.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);

impl Limits {
    /// The limits of `guard`.
    pub fn new(guard: &Guard) -> Limits {
        Limits {
            starts_by_learner: RateLimit::new(guard.start_limit_learner, guard.start_window),
            starts_by_address: RateLimit::new(guard.start_limit_address, guard.start_window),
            logins: RateLimit::new(LOGIN_FAILURES, LOGIN_WINDOW),
        }
    }

    /// Admits a lab start by `learner` from `ip`, or says how long to wait (429).
    pub fn admit_start(&self, learner: &str, ip: IpAddr) -> Result<(), AppError> {
        let learner = learner.to_string();
        let wait = match (
            self.starts_by_learner.check(&learner),
            self.starts_by_address.check(&ip),
        ) {
            (Ok(()), Ok(())) => {
                self.starts_by_learner.record(learner);
                self.starts_by_address.record(ip);
                return Ok(());
            }
            (Err(a), Err(b)) => a.max(b),
            (Err(a), _) | (_, Err(a)) => a,
        };
        Err(AppError::TooMany {
            retry_after: wait,
            reason: format!("too many lab starts; try again in {wait} s"),
        })
    }
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
            return if super::workshop::auth::same(given, token) {
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

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cidrs_match_their_addresses() {
        let n = Net::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(Net::parse("127.0.0.1")
            .unwrap()
            .contains("127.0.0.1".parse().unwrap()));
        assert!(Net::parse("fd00::/8")
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
        assert!(Net::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert_eq!(Net::parse("10.0.0.0/33"), None);
        assert_eq!(Net::parse("nope"), None);
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7")]);
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let none = Guard::default();
        assert_eq!(none.client_ip(Some(local), &h), local.ip());
        let g = GuardArgs {
            trusted_proxy: vec!["127.0.0.1".into()],
            ..GuardArgs::default()
        }
        .validate()
        .unwrap();
        // The right-most untrusted hop: what the proxy saw, not what the client wrote.
        assert_eq!(
            g.client_ip(Some(local), &h),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        let remote: SocketAddr = "198.51.100.1:5000".parse().unwrap();
        assert_eq!(g.client_ip(Some(remote), &h), remote.ip());
        assert!(!g.https(Some(remote), &headers(&[("x-forwarded-proto", "https")])));
        assert!(g.https(Some(local), &headers(&[("x-forwarded-proto", "https")])));
    }

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
    fn the_limit_holds_per_key_and_says_how_long_to_wait() {
        let l: RateLimit<u8> = RateLimit::new(2, Duration::from_secs(60));
        for _ in 0..2 {
            assert!(l.check(&1).is_ok());
            l.record(1);
        }
        let wait = l.check(&1).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.check(&2).is_ok());
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
