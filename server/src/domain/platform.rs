//! The platform's shared state, as the domain sees it: configuration, the store and the
//! container runtime as trait objects, the loaded content, metrics, the live terminals and the
//! workshops' in-memory state. The web layer wraps it (its `AppState`) with
//! what only HTTP needs.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use labkit::Catalog;

use super::metrics::Metrics;
use super::workshop::bus::Workshops;
use crate::domain::config::Config;
use crate::engine::runtime::LabRuntime;
use crate::engine::terminal::Shells;
use crate::store::Store;

/// Everything the lifecycle, the workshops and the panel work on.
pub struct PlatformInner {
    /// Configuration.
    pub config: Config,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Container engine.
    pub runtime: Arc<dyn LabRuntime>,
    /// Lab content.
    pub catalog: Catalog,
    /// Metrics.
    pub metrics: Metrics,
    /// Live terminals.
    pub shells: Shells,
    /// Serialises capacity check + session creation.
    pub admission: tokio::sync::Mutex<()>,
    /// Last idle-timer push per session (ms), to write at most every few seconds.
    pub touched: Mutex<HashMap<String, i64>>,
    /// Workshops: change bus, start queue.
    pub workshop: Workshops,
    /// This server's id (see [`Platform::server_id`]), read from the store once.
    server_id: tokio::sync::OnceCell<String>,
}

/// The shared state, cheap to clone (background tasks hold a clone).
#[derive(Clone)]
pub struct Platform(pub Arc<PlatformInner>);

impl Deref for Platform {
    type Target = PlatformInner;
    fn deref(&self) -> &PlatformInner {
        &self.0
    }
}

impl Platform {
    /// The state over a store, a runtime and loaded content.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        runtime: Arc<dyn LabRuntime>,
        catalog: Catalog,
    ) -> Platform {
        Platform(Arc::new(PlatformInner {
            config,
            store,
            runtime,
            catalog,
            metrics: Metrics::default(),
            shells: Shells::default(),
            admission: tokio::sync::Mutex::new(()),
            touched: Mutex::new(HashMap::new()),
            workshop: Workshops::default(),
            server_id: tokio::sync::OnceCell::new(),
        }))
    }

    /// This server's persistent id, kept in its database (made on the first start): every
    /// lab it creates carries it in the `kplab.server` Docker label, and the orphan sweep
    /// removes only labs that carry it, so two servers on one Docker host (same lab prefix)
    /// leave each other's labs alone.
    pub async fn server_id(&self) -> Result<String, crate::store::StoreError> {
        self.server_id
            .get_or_try_init(|| async {
                let fresh = super::workshop::random_hex(8);
                self.store.server_id(&fresh).await
            })
            .await
            .cloned()
    }

    /// Called by the lifecycle when a session changed state (running, failed, stopped):
    /// publishes its current owner's workshop row (a pool lab may have been handed over while
    /// starting) and wakes the pool/queue task (a slot may have freed up). The lifecycle
    /// knows nothing else of workshops.
    pub fn session_changed(&self, session: &str) {
        self.workshop.wake.notify_one();
        let st = self.clone();
        let id = session.to_string();
        tokio::spawn(async move {
            if let Ok(Some(s)) = st.store.session(&id).await {
                st.workshop.changed(&s.learner);
            }
        });
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
