//! The server's shared state: the store behind its lock, the persister's wake-up, the
//! configuration and the shutdown signal.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use super::store::Store;
use crate::kube::contract;

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
    /// A state over `store`, persisted to `data_dir`, whose watches end when `closing` turns
    /// `true`.
    pub fn new(
        store: Store,
        data_dir: PathBuf,
        config: Config,
        closing: tokio::sync::watch::Receiver<bool>,
    ) -> AppState {
        AppState(Arc::new(Inner {
            store: Mutex::new(store),
            persist: tokio::sync::Notify::new(),
            write_lock: Mutex::new(()),
            data_dir,
            config,
            closing,
        }))
    }

    /// Locks the store (a poisoned lock is taken over: the store stays consistent because
    /// every mutation is a single map operation).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.0.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until something was written (the persister's wake-up).
    pub async fn changes(&self) {
        self.0.persist.notified().await;
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
    pub(crate) fn flush(&self) -> std::io::Result<()> {
        let _guard = self.0.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let snapshot = {
            let mut st = self.store();
            if !st.take_dirty() {
                return Ok(());
            }
            st.snapshot()
        };
        super::store::write_snapshot(&self.0.data_dir, &snapshot)
    }
}
