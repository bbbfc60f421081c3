//! The lab API server (node-1): Kubernetes-shaped objects over REST, with watch and persistence.
//!
//! `kube-apiserver [--bind-address 0.0.0.0] [--secure-port 6443] [--data-dir /var/lib/kplab]
//! [--advertise-address IP]` serves plain HTTP (the lab has no TLS) with the Kubernetes REST
//! paths listed in `CONTRACTS.md`. The store is in memory behind one mutex, snapshotted to
//! `<data-dir>/state.json` (atomic rename) shortly after every write and on shutdown; it is
//! reloaded at start. Tests run it in-process with [`serve_with_shutdown`] on `127.0.0.1:0`
//! (or [`embedded::EmbeddedServer`], which does it on a background thread).
//!
//! Known limits, compared with a real API server: no authentication, authorization or TLS;
//! only the resources of [`crate::kube::client::RESOURCES`] (no ReplicaSets, Events, ConfigMaps…);
//! `application/strategic-merge-patch+json` is applied as a JSON merge patch (lists are
//! replaced, not merged by key) and JSON patch / server-side apply answer 415; a watch with a
//! selector filters on the object's new state (no synthetic DELETED when an object stops
//! matching); `dryRun`, `fieldManager` and `managedFields` are ignored.

pub mod discovery;
pub mod embedded;
pub mod handlers;
pub mod store;
pub mod validation;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};

use crate::kube::client::{Status, ENDPOINTS, ENDPOINT_SLICES, NAMESPACES, SERVICES};
use crate::kube::contract;
use store::Store;

/// Settings that are not part of the stored state.
#[derive(Debug, Clone)]
pub struct Config {
    /// node-1's address, the endpoint of the `default/kubernetes` Service (`KPLAB_NODE_IP`);
    /// without it the Service has no endpoints.
    pub advertise_address: Option<String>,
    /// The port behind the `kubernetes` Service (the server's own port, 6443).
    pub advertise_port: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            advertise_address: None,
            advertise_port: contract::APISERVER_PORT,
        }
    }
}

/// The shared state of the server; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: Mutex<Store>,
    persist: tokio::sync::Notify,
    write_lock: Mutex<()>,
    data_dir: PathBuf,
    config: Config,
    closing: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    /// Locks the store (a poisoned lock is taken over: the store stays consistent because
    /// every mutation is a single map operation).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.0.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the persister that something was written.
    pub fn changed(&self) {
        self.0.persist.notify_one();
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// A receiver that turns `true` when the server shuts down (watches end then).
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.closing.clone()
    }

    /// Writes the snapshot if anything changed since the last write.
    fn flush(&self) -> std::io::Result<()> {
        let _guard = self.0.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let snapshot = {
            let mut st = self.store();
            if !st.take_dirty() {
                return Ok(());
            }
            st.snapshot()
        };
        store::write_snapshot(&self.0.data_dir, &snapshot)
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "kube-apiserver",
    about = "The kplab lab API server (plain HTTP, Kubernetes REST paths)"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: std::net::IpAddr,
    /// Port to listen on (plain HTTP despite the name, as in the lab contracts).
    #[arg(long, default_value_t = contract::APISERVER_PORT)]
    secure_port: u16,
    /// Where `state.json` lives.
    #[arg(long, default_value = "/var/lib/kplab")]
    data_dir: PathBuf,
    /// node-1's address, the endpoint of the `kubernetes` Service.
    #[arg(long, env = "KPLAB_NODE_IP")]
    advertise_address: Option<String>,
}

/// Entry point of `kube-apiserver`.
pub fn main(args: Vec<String>) -> ExitCode {
    let args = match Args::try_parse_from(&args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kube-apiserver: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let config = Config {
        advertise_address: args.advertise_address.filter(|a| !a.is_empty()),
        advertise_port: args.secure_port,
    };
    let result = rt.block_on(async move {
        let addr = SocketAddr::new(args.bind_address, args.secure_port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        tracing::info!(%addr, data_dir = %args.data_dir.display(), "serving the lab API");
        serve(listener, args.data_dir, config).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kube-apiserver: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Serves until SIGTERM or Ctrl-C, then writes the final snapshot.
pub async fn serve(
    listener: tokio::net::TcpListener,
    data_dir: PathBuf,
    config: Config,
) -> anyhow::Result<()> {
    serve_with_shutdown(listener, data_dir, config, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// Loads `<data_dir>/state.json` (if any), creates the bootstrap objects, and serves on
/// `listener` until `shutdown` completes; then ends every watch, waits for in-flight requests
/// and writes the final snapshot, so no acknowledged write is lost.
pub async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    data_dir: PathBuf,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = Store::load(&data_dir)?;
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let app = AppState(Arc::new(Inner {
        store: Mutex::new(store),
        persist: tokio::sync::Notify::new(),
        write_lock: Mutex::new(()),
        data_dir: data_dir.clone(),
        config,
        closing: closing_rx,
    }));
    bootstrap(&app);
    app.flush().map_err(|e| {
        anyhow::anyhow!(
            "cannot write {}: {e}",
            store::state_path(&data_dir).display()
        )
    })?;
    let persister = {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                app.0.persist.notified().await;
                // Coalesce bursts of writes into one snapshot.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let a = app.clone();
                match tokio::task::spawn_blocking(move || a.flush()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "cannot persist the state"),
                    Err(e) => tracing::error!(error = %e, "persister task failed"),
                }
            }
        })
    };
    let router = routes(app.clone());
    let shutdown = async move {
        shutdown.await;
        let _ = closing_tx.send(true);
    };
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    persister.abort();
    let a = app.clone();
    tokio::task::spawn_blocking(move || a.flush())
        .await
        .map_err(|e| anyhow::anyhow!("final snapshot task failed: {e}"))?
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot write {}: {e}",
                store::state_path(&data_dir).display()
            )
        })?;
    result.map_err(|e| anyhow::anyhow!("server error: {e}"))
}

/// A fresh state with the bootstrap objects and no persistence, for tests that call the
/// handlers directly.
#[cfg(test)]
pub(crate) fn test_state() -> AppState {
    let (_closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let app = AppState(Arc::new(Inner {
        store: Mutex::new(Store::new()),
        persist: tokio::sync::Notify::new(),
        write_lock: Mutex::new(()),
        data_dir: PathBuf::from("/nonexistent/kplab-test"),
        config: Config::default(),
        closing: closing_rx,
    }));
    bootstrap(&app);
    app
}

/// Every route of the server.
pub fn routes(app: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(health))
        .route("/livez", get(health))
        .route("/version", get(|| async { Json(discovery::version()) }))
        .route("/api", any(handlers::handle_api))
        .route("/api/{*rest}", any(handlers::handle_api))
        .route("/apis", any(handlers::handle_api))
        .route("/apis/{*rest}", any(handlers::handle_api))
        .fallback(|| async {
            handlers::ApiError(Status::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ))
        })
        .layer(axum::middleware::from_fn(log_request))
        .with_state(app)
}

async fn health(State(_): State<AppState>) -> impl IntoResponse {
    (StatusCode::OK, "ok")
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let quiet = matches!(uri.path(), "/healthz" | "/readyz" | "/livez");
    if !quiet {
        tracing::info!(
            verb = %method,
            uri = %uri,
            status,
            latency_us = started.elapsed().as_micros() as u64,
            "HTTP"
        );
    }
    resp
}

/// Creates what a fresh cluster has: the four namespaces and the `default/kubernetes`
/// Service with its Endpoints and EndpointSlice (pointing at `advertise_address`), and keeps
/// those endpoints current when the address changed since the state was saved.
fn bootstrap(app: &AppState) {
    let mut st = app.store();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if st.get(&NAMESPACES, "", ns).is_none() {
            let _ = handlers::create(
                app,
                &mut st,
                &NAMESPACES,
                None,
                json!({"metadata": {"name": ns}}),
            );
        }
    }
    if st.get(&SERVICES, "default", "kubernetes").is_none() {
        let svc = json!({
            "metadata": {"name": "kubernetes", "namespace": "default",
                          "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP", "sessionAffinity": "None",
                      "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": app.config().advertise_port}]},
        });
        if let Err(e) = handlers::create(app, &mut st, &SERVICES, Some("default"), svc) {
            tracing::error!(error = %e.0.message, "cannot create the kubernetes Service");
        }
    }
    let Some(ip) = app.config().advertise_address.clone() else {
        return;
    };
    let port = app.config().advertise_port;
    let ep = json!({
        "metadata": {"name": "kubernetes", "namespace": "default",
                      "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    upsert(app, &mut st, &ENDPOINTS, ep, "subsets");
    let slice = json!({
        "metadata": {"name": "kubernetes", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    upsert(app, &mut st, &ENDPOINT_SLICES, slice, "endpoints");
}

fn upsert(
    app: &AppState,
    st: &mut Store,
    res: &'static crate::kube::client::Resource,
    obj: Value,
    field: &str,
) {
    match st.get(res, "default", "kubernetes").cloned() {
        None => {
            if let Err(e) = handlers::create(app, st, res, Some("default"), obj) {
                tracing::error!(error = %e.0.message, resource = res.plural, "cannot create bootstrap object");
            }
        }
        Some(mut old)
            if old.get(field) != obj.get(field)
                || (res.kind == "EndpointSlice" && old.get("ports") != obj.get("ports")) =>
        {
            old[field] = obj[field].clone();
            if let Some(p) = obj.get("ports") {
                old["ports"] = p.clone();
            }
            if let Err(e) = handlers::replace(
                app,
                st,
                res,
                Some("default"),
                "kubernetes",
                old,
                handlers::Mode::Main,
            ) {
                tracing::error!(error = %e.0.message, resource = res.plural, "cannot update bootstrap object");
            }
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_flags_kplab_node_passes() {
        let argv: Vec<String> = [
            "kube-apiserver",
            "--advertise-address=172.28.5.10",
            "--bind-address=0.0.0.0",
            "--secure-port=6443",
            "--data-dir=/var/lib/kplab",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let a = Args::try_parse_from(&argv).unwrap();
        assert_eq!(a.advertise_address.as_deref(), Some("172.28.5.10"));
        assert_eq!(a.secure_port, 6443);
        assert_eq!(a.data_dir, PathBuf::from("/var/lib/kplab"));
        assert!(Args::try_parse_from(["kube-apiserver", "--secure-port=x"]).is_err());
    }
}
