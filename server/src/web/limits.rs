//! The server's sliding-window rate limits: lab starts (per learner and per address), refused
//! tokens, wrong join codes. Join codes are short, so guessing is limited per client address:
//! after [`JOIN_FAILURES`] wrong codes within [`JOIN_WINDOW`] the address gets 429 with
//! `Retry-After` until the oldest failure leaves the window. The address is the TCP peer, or
//! what a proxy named with `--trusted-proxy` forwarded
//! ([`crate::domain::config::guard::Guard::client_ip`]): a client that rotates `X-Forwarded-For`
//! itself gets no new address from it.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::config::guard::Guard;
use crate::domain::error::AppError;

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
    /// Refused tokens (instructor, metrics) per client address
    /// (counted by the guard's `token_guesses` middleware).
    pub logins: RateLimit<IpAddr>,
    /// Wrong workshop join codes per client address.
    pub joins: RateLimit<IpAddr>,
}

/// Wrong instructor tokens allowed per address per [`LOGIN_WINDOW`].
pub const LOGIN_FAILURES: usize = 10;

/// The instructor-login window.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// Wrong join codes allowed per address within [`JOIN_WINDOW`].
pub const JOIN_FAILURES: usize = 10;

/// The join-code window.
pub const JOIN_WINDOW: Duration = Duration::from_secs(60);

impl Limits {
    /// The limits of `guard`.
    pub fn new(guard: &Guard) -> Limits {
        Limits {
            starts_by_learner: RateLimit::new(guard.start_limit_learner, guard.start_window),
            starts_by_address: RateLimit::new(guard.start_limit_address, guard.start_window),
            logins: RateLimit::new(LOGIN_FAILURES, LOGIN_WINDOW),
            joins: RateLimit::new(JOIN_FAILURES, JOIN_WINDOW),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_blocks_after_max_failures_per_address() {
        let l: RateLimit<IpAddr> = RateLimit::new(JOIN_FAILURES, JOIN_WINDOW);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..JOIN_FAILURES {
            assert!(l.check(&a).is_ok());
            l.record(a);
        }
        let wait = l.check(&a).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.check(&b).is_ok(), "another address is not affected");
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
}
