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

/// Connections the kernel completes and queues for `accept` (capped by `net.core.somaxconn`).
/// The usual 128 (std's and tokio's) overflows when a classroom opens its pages at once: each
/// connection beyond it loses its SYN and waits a second for the retransmit (measured: 3 of 200
/// connections opened together, delayed 0.6-0.7 s).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` for [`serve`] with a [`LISTEN_BACKLOG`]-deep accept queue.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The kernel's cap on accept queues (`net.core.somaxconn`), when it can be read.
pub fn somaxconn() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

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
    let listener = bind(listen).with_context(|| format!("binding {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    if let Some(max) = somaxconn().filter(|&m| m < 1024) {
        tracing::warn!(
            "net.core.somaxconn is {max}: connections beyond {max} opened at once wait a second \
             each; for a classroom, raise it (sysctl -w net.core.somaxconn={LISTEN_BACKLOG})"
        );
    }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// Connections opened together are all queued while the server is busy: none is dropped
    /// to wait for a SYN retransmit (with the usual backlog of 128, those beyond 129 are).
    #[tokio::test]
    async fn a_burst_of_connections_queues_without_drops() {
        const BURST: u32 = 600;
        let cap = super::somaxconn().unwrap_or(super::LISTEN_BACKLOG);
        if cap <= BURST {
            eprintln!("skipped: net.core.somaxconn is {cap}, not above {BURST}");
            return;
        }
        let listener = super::bind(([127, 0, 0, 1], 0).into()).unwrap();
        let addr = listener.local_addr().unwrap();
        // Nothing accepts: every connection must complete into the kernel's queue.
        let connects = (0..BURST).map(|_| {
            tokio::time::timeout(
                Duration::from_millis(900),
                tokio::net::TcpStream::connect(addr),
            )
        });
        let results = futures_util::future::join_all(connects).await;
        let dropped = results.iter().filter(|r| !matches!(r, Ok(Ok(_)))).count();
        assert_eq!(
            dropped, 0,
            "{dropped} of {BURST} connections were not queued"
        );
        drop(listener);
    }
}
