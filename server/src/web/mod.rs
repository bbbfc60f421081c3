//! The web platform (`kplab serve`), HTTP only: routes, handlers, pages, the learner cookie
//! and the instructor token, the guard middleware, the state handlers share. What the
//! platform does is `crate::domain`; labs, grading and terminals are `crate::engine`;
//! persistence is `crate::store`.
//!
//! [`serve`] takes a bound listener, the state and a shutdown future, so tests bind port 0
//! and stop the server cleanly; [`run`] is what `kplab serve` calls.
//!
//! What holds the server against abuse from outside is in [`guard`] and [`limits`]: the
//! same-origin check, the security headers, the client address behind trusted proxies, the
//! start, login and join-code rate limits, `/metrics` access; [`serve`] adds the header-read
//! timeout and the connection limit; [`load_key`] keeps `cookie.key` 0600;
//! [`crate::store::cap_text`] bounds what a lab's output can make us store.
//! `tests/attack_server.rs` attacks all of it.

pub mod assets;
pub mod auth;
pub mod error;
pub mod guard;
pub mod handlers;
pub mod instructor;
pub mod limits;
pub mod markdown;
pub mod notify;
pub mod page_cache;
pub mod routes;
pub mod state;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum_extra::extract::cookie::Key;

use crate::domain::config::Config;
use crate::domain::{lifecycle, workshop};
use crate::engine::runtime::{DockerRuntime, LabRuntime};
use crate::store::{SqlStore, Store};
use state::AppState;

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
///
/// Each connection is HTTP/1.1 with upgrades (the WebSockets), and must send each request's
/// head within `--header-timeout-secs` (a slow client is cut off, not waited for). At most
/// `--max-connections` connections are served at once, WebSockets included: beyond that the
/// server stops accepting and new connections wait in the listen queue until one closes. On
/// shutdown, open connections finish their current request (up to the request timeout).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(lifecycle::sweeper(state.platform.clone(), stop_rx.clone()));
    let workshops = tokio::spawn(workshop::pool::run(state.platform.clone(), stop_rx.clone()));
    let guard = state.config.guard.clone();
    let drain = state.config.request_timeout;
    let app = routes::router(state);
    let permits = Arc::new(tokio::sync::Semaphore::new(guard.max_connections));
    // Every connection task holds a clone; `closed()` resolves when the last one ends.
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.context("connection limit")?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            Limited {
                io: stream,
                _permit: permit,
            },
            peer,
            app.clone(),
            guard.header_timeout,
            stop_rx.clone(),
            open_rx.clone(),
        ));
    }
    drop(listener);
    drop(open_rx);
    let _ = stop_tx.send(true);
    if tokio::time::timeout(drain, open_tx.closed()).await.is_err() {
        tracing::warn!("connections still open after {drain:?}; shutting down anyway");
    }
    sweeper.abort();
    workshops.abort();
    Ok(())
}

/// Serves one connection: the peer address goes into each request as `ConnectInfo`.
async fn connection(
    io: Limited,
    peer: std::net::SocketAddr,
    app: axum::Router,
    header_timeout: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    _open: tokio::sync::watch::Receiver<()>,
) {
    use tower::ServiceExt;
    let service =
        hyper::service::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, peer = %peer, "connection ended");
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
    }
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, peer = %peer, "connection ended");
    }
}

/// A connection's socket with its slot of the connection limit: the slot is given back when
/// the socket closes, also after an upgrade to a WebSocket (which takes the socket along).
struct Limited {
    io: tokio::net::TcpStream,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl tokio::io::AsyncRead for Limited {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Limited {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Loads (or creates) the cookie key under the data directory. The file is written 0600; an
/// existing key readable by others is tightened to 0600 (with a warning).
pub fn load_key(data_dir: &std::path::Path) -> anyhow::Result<Key> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = data_dir.join("cookie.key");
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() >= 64 {
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode())
                .unwrap_or(0o600);
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "the cookie key was readable by others; setting it to 0600"
                );
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("restricting {}", path.display()))?;
            }
            return Key::try_from(&bytes[..]).context("cookie key");
        }
    }
    let key = Key::generate();
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        // `mode` applies only to a file this call creates.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        std::io::Write::write_all(&mut f, key.master())?;
        f.sync_all()
    };
    write().with_context(|| format!("writing {}", path.display()))?;
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

/// An in-process server on 127.0.0.1 (any port) that serves until the process ends, its
/// labs re-attached first: the platform's state and the address (`kplab bench workshop`).
pub async fn start_in_process(
    config: Config,
    runtime: Arc<dyn LabRuntime>,
) -> anyhow::Result<(crate::domain::platform::Platform, std::net::SocketAddr)> {
    let state = build_state(config, runtime).await?;
    lifecycle::recover(&state).await?;
    let listener = bind(([127, 0, 0, 1], 0).into())?;
    let addr = listener.local_addr()?;
    let platform = state.platform.clone();
    tokio::spawn(async move {
        let _ = serve(listener, state, std::future::pending()).await;
    });
    Ok((platform, addr))
}

/// `kplab serve`: content, store, Docker (node image built if missing), recovery, then serve
/// until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    tracing::info!(config = ?config, "starting kplab serve");
    // Validate the content before touching Docker, so a typo fails fast.
    labkit::Catalog::load(&config.labs)
        .map_err(|d| anyhow::anyhow!("invalid lab content in {}:\n{d}", config.labs.display()))?;
    let docker = DockerRuntime::connect(&config.image).await?;
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
        // Kernels since 5.4 allow 4096; an older default (128) fails here rather than skip.
        assert!(
            cap > BURST,
            "net.core.somaxconn is {cap}, not above {BURST}: raise it \
             (sysctl -w net.core.somaxconn=4096; the README's ./test does)"
        );
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
