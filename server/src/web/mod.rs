//! The web platform (`kplab serve`): catalog and lab pages, the terminal WebSocket, the
//! grader, sessions and lab lifecycle, the JSON API, health and metrics.
//!
//! [`serve`] takes a bound listener, the state and a shutdown future, so tests bind port 0
//! and stop the server cleanly; [`run`] is what `kplab serve` calls.

pub mod auth;
pub mod config;
pub mod error;
pub mod grade;
pub mod handlers;
pub mod lifecycle;
pub mod markdown;
pub mod metrics;
pub mod panel;
pub mod routes;
pub mod runtime;
pub mod state;
pub mod store;
pub mod terminal;
pub mod workshop;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum_extra::extract::cookie::Key;

use config::Config;
use runtime::LabRuntime;
use state::AppState;
use store::{SqlStore, Store};

/// Serves `state` on `listener` until `shutdown` resolves; runs the lifecycle sweeper.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(lifecycle::sweeper(state.clone(), stop_rx.clone()));
    let workshops = tokio::spawn(workshop::pool::run(state.clone(), stop_rx));
    let app = routes::router(state);
    // The peer address feeds the join-code rate limit.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await;
    sweeper.abort();
    workshops.abort();
    result.context("serving HTTP")
}

/// Loads (or creates) the cookie key under the data directory.
pub fn load_key(data_dir: &std::path::Path) -> anyhow::Result<Key> {
    let path = data_dir.join("cookie.key");
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() >= 64 {
            return Key::try_from(&bytes[..]).context("cookie key");
        }
    }
    let key = Key::generate();
    std::fs::write(&path, key.master()).with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

/// Builds the state from a config: content (refused if invalid), store, key.
pub async fn build_state(config: Config, runtime: Arc<dyn LabRuntime>) -> anyhow::Result<AppState> {
    let catalog = labkit::Catalog::load(&config.labs)
        .map_err(|d| anyhow::anyhow!("invalid lab content in {}:\n{d}", config.labs.display()))?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&config.database_url).await?);
    let key = load_key(&config.data_dir)?;
    Ok(AppState::new(config, store, runtime, catalog, key))
}

/// `kplab serve`: content, store, Docker (node image built if missing), recovery, then serve
/// until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    tracing::info!(config = ?config, "starting kplab serve");
    // Validate the content before touching Docker, so a typo fails fast.
    labkit::Catalog::load(&config.labs)
        .map_err(|d| anyhow::anyhow!("invalid lab content in {}:\n{d}", config.labs.display()))?;
    let docker = runtime::DockerRuntime::connect(&config.image).await?;
    docker
        .prepare()
        .await
        .context("preparing the host (isolation rules, node image)")?;
    let listen = config.listen;
    let state = build_state(config, Arc::new(docker)).await?;
    lifecycle::recover(&state)
        .await
        .context("re-attaching labs")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    serve(listener, state, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
