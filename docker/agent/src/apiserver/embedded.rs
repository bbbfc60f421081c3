//! Runs the API server on a background thread with its own runtime, on `127.0.0.1:<random>`:
//! for tests of every component that talks to the lab API (no Docker, no root needed).

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use super::Config;

/// A running in-process API server. Dropping it stops it (and writes the final snapshot).
pub struct EmbeddedServer {
    url: String,
    data_dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl EmbeddedServer {
    /// Starts a server storing its state in `data_dir`; returns once it accepts connections.
    pub fn start(data_dir: &Path, config: Config) -> anyhow::Result<Self> {
        Self::start_at(data_dir, config, "127.0.0.1:0")
    }

    /// Like [`EmbeddedServer::start`] on a given address (`127.0.0.1:PORT`), e.g. to restart a
    /// server where its clients expect it.
    pub fn start_at(data_dir: &Path, config: Config, addr: &str) -> anyhow::Result<Self> {
        let addr = addr.to_string();
        let (url_tx, url_rx) = std::sync::mpsc::channel::<anyhow::Result<String>>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let dir = data_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("embedded-apiserver".into())
            .spawn(move || -> anyhow::Result<()> {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind(&addr).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = url_tx.send(Err(anyhow::anyhow!("bind {addr}: {e}")));
                            return Ok(());
                        }
                    };
                    let addr = listener.local_addr()?;
                    let _ = url_tx.send(Ok(format!("http://{addr}")));
                    super::serve_with_shutdown(listener, dir, config, async move {
                        let _ = shutdown_rx.await;
                    })
                    .await
                })
            })?;
        let url = url_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the embedded API server thread died at start"))??;
        // Wait until the bootstrap is done and requests are answered.
        let client = crate::kube::client::ApiClient::new(&url);
        for _ in 0..200 {
            if client.request("GET", "/version", &[], None).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(EmbeddedServer {
            url,
            data_dir: data_dir.to_path_buf(),
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A client for this server.
    pub fn client(&self) -> crate::kube::client::ApiClient {
        crate::kube::client::ApiClient::new(&self.url)
    }

    /// Stops the server gracefully and waits for the final snapshot to be written.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("the embedded API server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
