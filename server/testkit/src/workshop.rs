//! Helpers for the workshop tests, on top of [`crate::web`] (the server, learners as its
//! `Client`s): instructor requests with `Authorization: Bearer`, waiting for a warm pool, and a
//! reader of the dashboard's server-sent events.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const TOKEN: &str = "test-instructor-token-0123";

pub use crate::web::{json_body, request, Resp, Server};

impl Server {
    /// Waits until `n` pool labs of the workshop run, node-1's shell open.
    pub async fn wait_pool(&self, workshop: &str, n: usize, within: Duration) -> Duration {
        let t0 = Instant::now();
        let prefix = format!("pool-{workshop}-");
        loop {
            let live = self.state.store.live_sessions().await.unwrap();
            let running = live
                .iter()
                .filter(|s| {
                    s.learner.starts_with(&prefix)
                        && s.status == kplab::store::Status::Running
                        && self.state.shells.get(&s.id, "node-1").is_some()
                })
                .count();
            if running >= n {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < within,
                "only {running} of {n} pool labs running after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The instructor's API client.
pub struct Instructor {
    pub addr: std::net::SocketAddr,
    pub token: String,
}

impl Instructor {
    pub fn new(addr: std::net::SocketAddr) -> Instructor {
        Instructor {
            addr,
            token: TOKEN.into(),
        }
    }
    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }
    pub async fn get(&self, path: &str) -> Resp {
        request(
            self.addr,
            "GET",
            path,
            &[("Authorization", &self.auth())],
            None,
        )
        .await
    }
    pub async fn post(&self, path: &str, json: &str) -> Resp {
        request(
            self.addr,
            "POST",
            path,
            &[("Authorization", &self.auth())],
            json_body(json),
        )
        .await
    }
    /// Creates a workshop of 00-hello: (id, join code).
    pub async fn create(&self, name: &str, capacity: usize, warm_pool: usize) -> (String, String) {
        let r = self
            .post(
                "/api/workshops",
                &serde_json::json!({"name": name, "labs": ["00-hello"], "capacity": capacity, "warm_pool": warm_pool}).to_string(),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        let j = r.json();
        (
            j["id"].as_str().unwrap().to_string(),
            j["join_code"].as_str().unwrap().to_string(),
        )
    }
}

/// A server-sent event with the time it arrived.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub data: serde_json::Value,
    pub at: Instant,
}

/// Opens the dashboard stream; events arrive on the returned channel.
pub async fn dashboard_stream(
    addr: std::net::SocketAddr,
    workshop: &str,
) -> tokio::sync::mpsc::UnboundedReceiver<Sse> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /api/workshops/{workshop}/events HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut r = BufReader::new(s);
        let mut line = String::new();
        // Skip the response head.
        loop {
            line.clear();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let (mut event, mut data) = (String::new(), String::new());
        loop {
            line.clear();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                if !data.is_empty() {
                    let ev = Sse {
                        event: std::mem::take(&mut event),
                        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                        at: Instant::now(),
                    };
                    data.clear();
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
                event.clear();
            } else if let Some(v) = l.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = l.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    });
    rx
}

/// Median and maximum of durations, in ms.
pub fn p50_max(mut v: Vec<Duration>) -> (u128, u128) {
    v.sort();
    (
        v.get(v.len() / 2).map(|d| d.as_millis()).unwrap_or(0),
        v.last().map(|d| d.as_millis()).unwrap_or(0),
    )
}
