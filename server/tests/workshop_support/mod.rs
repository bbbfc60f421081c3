//! Helpers for the workshop tests: a real server (Docker labs) with an instructor token,
//! instructor requests with `Authorization: Bearer`, and a reader of the dashboard's
//! server-sent events. Learners are `web_support::Client`s.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kplab::web::config::{Config, ServeArgs};
use kplab::web::runtime::DockerRuntime;
use kplab::web::state::AppState;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

pub const TOKEN: &str = "test-instructor-token-0123";

/// A running in-process server with workshops on.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    pub data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Server {
    /// Starts a server on Docker with labs named `<prefix>…`; `token` None: workshops off.
    pub async fn start(prefix: &str, max_labs: usize, token: Option<&str>) -> Server {
        let data = tempfile::tempdir().unwrap();
        let args = ServeArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_path_buf(),
            labs: repo().join("labs"),
            static_dir: repo().join("static"),
            max_labs,
            idle_secs: 600,
            sweep_secs: 3600,
            request_timeout_secs: 60,
            lab_prefix: prefix.into(),
            image: kplab::sandbox::plan::DEFAULT_IMAGE.into(),
        };
        let mut config = Config::from_args(args, None).unwrap();
        kplab::web::workshop::WorkshopArgs {
            instructor_token: token.map(str::to_string),
        }
        .apply(&mut config)
        .unwrap();
        let docker = DockerRuntime::connect(&config.image)
            .await
            .expect("Docker must be running (this test needs Docker)");
        docker.prepare().await.expect("host isolation + node image");
        let state = kplab::web::build_state(config, Arc::new(docker))
            .await
            .unwrap();
        kplab::web::lifecycle::recover(&state).await.unwrap();
        let listener = kplab::web::bind(([127, 0, 0, 1], 0).into()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let task = tokio::spawn(async move {
            kplab::web::serve(listener, st, async move {
                let _ = rx.await;
            })
            .await
        });
        Server {
            addr,
            state,
            data,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server and removes every lab with the prefix.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        let prefix = self.state.config.lab_prefix.clone();
        let downs = self
            .state
            .runtime
            .list(&prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|sb| {
                let rt = self.state.runtime.clone();
                async move {
                    let _ = rt.down(&sb.name).await;
                }
            });
        futures_util::future::join_all(downs).await;
    }

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
                        && s.status == kplab::web::store::Status::Running
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

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// One request with extra headers (HTTP/1.0: the body ends with the connection).
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Resp {
        status,
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
        body: body.to_string(),
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
            Some(json),
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
