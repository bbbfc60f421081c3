//! The lab API server (node-1): Kubernetes-shaped objects over REST, with watch and persistence.
//!
//! `kube-apiserver [--bind-address 0.0.0.0] [--secure-port 6443] [--data-dir /var/lib/kplab]
//! [--advertise-address IP]` serves plain HTTP (the lab has no TLS) with the Kubernetes REST
//! paths listed in `CONTRACTS.md`. The store is in memory behind one mutex, snapshotted to
//! `<data-dir>/state.json` (atomic rename) shortly after every write and on shutdown; it is
//! reloaded at start. Tests run it in-process with [`serve_with_shutdown`] on `127.0.0.1:0`
//! (or [`embedded::EmbeddedServer`], which does it on a background thread).
//!
//! GETs answer in the shape the client negotiates (`table`: server-side Tables with upstream's
//! columns, PartialObjectMetadata); lists page with `limit`/`continue`; watches honour
//! `resourceVersion`, `allowWatchBookmarks`, `sendInitialEvents` and send DELETED/ADDED when an
//! object leaves or enters a selector's selection; discovery carries verbs, categories and
//! subresources, also aggregated (`apidiscovery.k8s.io` v2/v2beta1); access and self-subject
//! reviews are answered (`reviews`: the learner may do everything); `/livez`, `/readyz`,
//! `/healthz` as upstream (`health`).
//!
//! Known limits, compared with a real API server: no authentication, authorization or TLS;
//! only the resources of [`crate::kube::client::RESOURCES`] (no PersistentVolumes, Jobs, RBAC…);
//! lists are served from the current state (a `continue` token or `resourceVersion=N` does not
//! give an older snapshot: an exact older version is 410, a continued list may see later
//! changes). Writes (`handlers::write`) take the four patch types, `dryRun`,
//! `fieldValidation` and field managers (`fieldmanager`); the patch merge keys behind strategic
//! merge patch and apply come from `kube::patchmeta`, which reads them from `kubeschema`. A
//! write without `fieldValidation` keeps unknown fields (upstream's default, Warn, drops them
//! with a warning); kubectl always sends the parameter.

pub mod addons;
pub mod bootstrap;
pub mod discovery;
pub mod embedded;
pub mod fieldmanager;
pub mod handlers;
pub mod health;
pub mod negotiate;
pub mod openapi;
pub mod reviews;
pub mod state;
pub mod store;
pub mod streams;
pub mod table;
pub mod validation;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{any, get};
use axum::{Json, Router};
use clap::Parser;

use crate::kube::cli::{flags_or_exit, init_tracing};
use crate::kube::client::Status;
use crate::kube::contract;
use store::Store;

pub use state::{AppState, Config};

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
    let args = match flags_or_exit(Args::try_parse_from(&args)) {
        Ok(a) => a,
        Err(code) => return code,
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
    let app = AppState::new(store, data_dir.clone(), config, closing_rx);
    bootstrap::bootstrap(&app);
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
                app.changes().await;
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
    let collector = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(GC_PERIOD);
            loop {
                tick.tick().await;
                if handlers::kinds::collect_garbage(&mut app.store()) > 0 {
                    app.changed();
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
    collector.abort();
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

/// How often the garbage collector looks for objects whose owners are gone.
const GC_PERIOD: Duration = Duration::from_secs(20);

/// Every route of the server.
pub fn routes(app: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/healthz/{*check}", get(health::healthz_check))
        .route("/livez/{*check}", get(health::livez_check))
        .route("/readyz/{*check}", get(health::readyz_check))
        .route("/version", get(|| async { Json(discovery::version()) }))
        // Upstream serves both; the Python client asks for `/version/`.
        .route("/version/", get(|| async { Json(discovery::version()) }))
        .route("/openapi/v2", get(openapi::v2))
        .route("/openapi/v3", get(openapi::v3_index))
        .route("/openapi/v3/{*rest}", get(openapi::v3))
        .merge(streams::routes())
        .route(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            any(reviews::route),
        )
        .route(
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            any(reviews::route),
        )
        .route(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            any(reviews::route),
        )
        .route("/api", any(handlers::entry::handle_api))
        .route("/api/{*rest}", any(handlers::entry::handle_api))
        .route("/apis", any(handlers::entry::handle_api))
        .route("/apis/{*rest}", any(handlers::entry::handle_api))
        .fallback(|| async {
            handlers::errors::ApiError(Status::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ))
        })
        .layer(axum::middleware::from_fn(log_request))
        .with_state(app)
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
