//! The server's defences as configured: the flags of `kplab serve` that set them, validated
//! into [`Guard`] (what the web layer's guard enforces).
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

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::http::HeaderMap;

use super::error::ConfigError;

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
        for (zero, name) in [
            (
                self.header_timeout_secs == 0,
                "--header-timeout-secs / KPLAB_HEADER_TIMEOUT_SECS",
            ),
            (
                self.max_connections == 0,
                "--max-connections / KPLAB_MAX_CONNECTIONS",
            ),
            (
                self.start_limit_learner == 0 || self.start_limit_address == 0,
                "--start-limit-learner / --start-limit-address",
            ),
            (
                self.start_window_secs == 0,
                "--start-window-secs / KPLAB_START_WINDOW_SECS",
            ),
        ] {
            if zero {
                return Err(err(name, "must be at least 1"));
            }
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
}

impl Guard {
    /// Is `ip` one of the trusted proxies?
    pub fn trusts(&self, ip: IpAddr) -> bool {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header map from `(name, value)` pairs (also used by the web layer's tests).
    pub(crate) fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
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
}
