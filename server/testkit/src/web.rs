//! Helpers for the web tests: an in-process server on port 0 over Docker or the fake runtime,
//! a tiny HTTP/1.1 client that keeps a learner's cookie, and a terminal WebSocket client.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use kplab::domain::config::{Config, ServeArgs};
use kplab::engine::runtime::{DockerRuntime, LabRuntime};
use kplab::web::state::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running in-process server.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    pub data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    /// Starts a server on Docker with labs named `<prefix>…`, workshops off.
    pub async fn start(prefix: &str, max_labs: usize) -> Server {
        Server::start_with(prefix, max_labs, None).await
    }

    /// Starts a server; `instructor_token` turns workshops on.
    pub async fn start_with(
        prefix: &str,
        max_labs: usize,
        instructor_token: Option<&str>,
    ) -> Server {
        Server::start_guarded(
            prefix,
            max_labs,
            instructor_token,
            kplab::domain::config::guard::GuardArgs::default(),
        )
        .await
    }

    /// Starts a server with the defences `guard` configures (trusted proxies, limits).
    pub async fn start_guarded(
        prefix: &str,
        max_labs: usize,
        instructor_token: Option<&str>,
        guard: kplab::domain::config::guard::GuardArgs,
    ) -> Server {
        let data = tempfile::tempdir().unwrap();
        let config = config(&data, prefix, max_labs, instructor_token, guard);
        let docker = DockerRuntime::connect(&config.image)
            .await
            .expect("Docker must be running (this test needs Docker)");
        docker.prepare().await.expect("host isolation + node image");
        Server::on(config, data, Arc::new(docker)).await
    }

    /// Starts a server over `runtime` (the fake one: no Docker); `instructor_token` turns
    /// workshops on.
    pub async fn start_fake(
        prefix: &str,
        max_labs: usize,
        instructor_token: Option<&str>,
        runtime: Arc<crate::fake::FakeRuntime>,
    ) -> Server {
        let data = tempfile::tempdir().unwrap();
        let config = config(
            &data,
            prefix,
            max_labs,
            instructor_token,
            Default::default(),
        );
        Server::on(config, data, runtime).await
    }

    /// [`Server::start_fake`] with the labs of `labs` instead of the repository's.
    pub async fn start_fake_with_labs(
        prefix: &str,
        labs: &std::path::Path,
        runtime: Arc<crate::fake::FakeRuntime>,
    ) -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut config = config(&data, prefix, 4, None, Default::default());
        config.labs = labs.to_path_buf();
        Server::on(config, data, runtime).await
    }

    /// Builds the state over `runtime`, recovers the labs of an earlier run, then serves on
    /// `config.listen`'s address (port 0: any free port).
    pub async fn on(
        config: Config,
        data: tempfile::TempDir,
        runtime: Arc<dyn LabRuntime>,
    ) -> Server {
        let state = kplab::web::build_state(config, runtime).await.unwrap();
        kplab::domain::lifecycle::recover(&state).await.unwrap();
        let ip = state.config.listen.ip();
        let listener = kplab::web::bind(std::net::SocketAddr::new(ip, 0)).unwrap();
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

    /// Stops the server (so that nothing starts new labs), then removes every lab it ran.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        let mut labs: std::collections::BTreeSet<String> = self
            .state
            .store
            .live_sessions()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.sandbox)
            .collect();
        let prefix = self.state.config.lab_prefix.clone();
        // Its own labs only: another server on this Docker host may use the same prefix.
        let me = self.state.server_id().await.unwrap();
        labs.extend(
            self.state
                .runtime
                .list(&prefix)
                .await
                .unwrap()
                .into_iter()
                .filter(|sb| sb.server.as_deref().is_none_or(|s| s == me))
                .map(|sb| sb.name),
        );
        let downs = labs.into_iter().map(|name| {
            let rt = self.state.runtime.clone();
            async move {
                let _ = rt.down(&name).await;
            }
        });
        futures_util::future::join_all(downs).await;
    }
}

/// A server dropped without [`Server::shutdown`] (a failed test) stops serving at once.
impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The configuration of a test server: data in `data`, the repository's labs and static
/// files, idle timeout 10 min, sweeps hourly.
pub fn config(
    data: &tempfile::TempDir,
    prefix: &str,
    max_labs: usize,
    instructor_token: Option<&str>,
    guard: kplab::domain::config::guard::GuardArgs,
) -> Config {
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
    kplab::domain::config::WorkshopArgs {
        instructor_token: instructor_token.map(str::to_string),
    }
    .apply(&mut config)
    .unwrap();
    guard.apply(&mut config).unwrap();
    config
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

/// One request on a fresh connection (`Connection: close`) with extra headers and an optional
/// (content type, body).
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or(("", b""));
    if !body.0.is_empty() {
        head.push_str(&format!("Content-Type: {}\r\n", body.0));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.1.len()));
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.1).await.unwrap();
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
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}

/// A JSON body for [`request`].
pub fn json_body(json: &str) -> Option<(&'static str, &[u8])> {
    Some(("application/json", json.as_bytes()))
}

/// A browser-less learner: keeps the cookie the server sets.
#[derive(Clone)]
pub struct Client {
    pub addr: std::net::SocketAddr,
    pub cookie: Option<String>,
}

impl Client {
    pub fn new(addr: std::net::SocketAddr) -> Client {
        Client { addr, cookie: None }
    }

    pub async fn req(&mut self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Resp {
        let cookie = self.cookie.clone();
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
        let resp = request(self.addr, method, path, &headers, body).await;
        for (k, v) in &resp.headers {
            if k.eq_ignore_ascii_case("set-cookie") && v.starts_with("kplab_learner=") {
                self.cookie = Some(v.split(';').next().unwrap().to_string());
            }
        }
        resp
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.req("GET", path, None).await
    }
    pub async fn post_json(&mut self, path: &str, json: &str) -> Resp {
        self.req("POST", path, Some(("application/json", json.as_bytes())))
            .await
    }
    pub async fn post_form(&mut self, path: &str, form: &str) -> Resp {
        self.req(
            "POST",
            path,
            Some(("application/x-www-form-urlencoded", form.as_bytes())),
        )
        .await
    }

    /// Starts a lab through the API and waits until it runs; returns the session id. A
    /// learner without a cookie views the catalog first (a start needs one).
    pub async fn start_lab(&mut self, lab: &str, within: Duration) -> String {
        if self.cookie.is_none() {
            self.get("/").await;
        }
        let r = self
            .post_json(&format!("/api/labs/{lab}/sessions"), "")
            .await;
        assert!(r.status == 202 || r.status == 200, "{r:?}");
        let id = r.json()["id"].as_str().unwrap().to_string();
        self.wait_status(&id, "running", within).await;
        id
    }

    /// Checks `task` of session `id` (no answer) until it passes or `within` has passed;
    /// returns the last result (for tasks that wait on the cluster, such as Ready pods).
    pub async fn check_until_passed(
        &mut self,
        id: &str,
        task: &str,
        within: Duration,
    ) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            let r = self
                .post_json(&format!("/api/sessions/{id}/tasks/{task}/check"), "{}")
                .await
                .json();
            if r["passed"] == true || t0.elapsed() > within {
                return r;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    pub async fn wait_status(
        &mut self,
        id: &str,
        want: &str,
        within: Duration,
    ) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            let s = self.get(&format!("/api/sessions/{id}")).await.json();
            if s["status"] == want {
                return s;
            }
            assert!(
                s["status"] == "starting" || s["status"] == "running",
                "session went {}: {}",
                s["status"],
                s["detail"]
            );
            assert!(t0.elapsed() < within, "not {want} within {within:?}: {s}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// A terminal WebSocket.
pub struct Term {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pub seen: String,
}

/// Opens a terminal; `Err(status)` when the handshake is refused.
pub async fn open_term(c: &Client, session: &str, host: &str) -> Result<Term, u16> {
    let url = format!("ws://{}/api/sessions/{session}/terminals/{host}", c.addr);
    let mut req = url.into_client_request().unwrap();
    if let Some(cookie) = &c.cookie {
        req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(Term {
            ws,
            seen: String::new(),
        }),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("websocket: {e}"),
    }
}

impl Term {
    pub async fn type_text(&mut self, text: &str) {
        self.ws
            .send(Message::Binary(text.as_bytes().to_vec().into()))
            .await
            .unwrap();
    }
    pub async fn control(&mut self, json: &str) {
        self.ws
            .send(Message::Text(json.to_string().into()))
            .await
            .unwrap();
    }
    /// Reads output until `needle` appears (returns the time it took).
    pub async fn wait_for(&mut self, needle: &str, within: Duration) -> Duration {
        let t0 = Instant::now();
        while !self.seen.contains(needle) {
            let left = within.checked_sub(t0.elapsed()).unwrap_or_else(|| {
                panic!(
                    "{needle:?} not seen within {within:?}; terminal showed:\n{}",
                    self.seen
                )
            });
            match tokio::time::timeout(left, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => {
                    self.seen.push_str(&String::from_utf8_lossy(&b))
                }
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("terminal closed: {other:?}; showed:\n{}", self.seen),
                Err(_) => panic!(
                    "{needle:?} not seen within {within:?}; terminal showed:\n{}",
                    self.seen
                ),
            }
        }
        t0.elapsed()
    }
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
