//! The shared state: one cheap-to-clone [`AppState`] with the store and the container runtime
//! as trait objects, the loaded content (markdown pre-rendered), the cookie key, metrics and
//! the live terminals.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use axum::extract::FromRef;
use axum_extra::extract::cookie::Key;
use labkit::Catalog;

use super::config::Config;
use super::metrics::Metrics;
use crate::engine::runtime::LabRuntime;
use crate::engine::terminal::Shells;
use crate::store::Store;

/// Everything a handler needs.
pub struct Inner {
    /// Configuration.
    pub config: Config,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Container engine.
    pub runtime: Arc<dyn LabRuntime>,
    /// Lab content.
    pub catalog: Catalog,
    /// Rendered HTML per (lab, phase index), and per lab intro under phase `usize::MAX`.
    pub html: HashMap<(String, usize), String>,
    /// Signs the learner cookie.
    pub key: Key,
    /// Metrics.
    pub metrics: Metrics,
    /// Live terminals.
    pub shells: Shells,
    /// Serialises capacity check + session creation.
    pub admission: tokio::sync::Mutex<()>,
    /// Last idle-timer push per session (ms), to write at most every few seconds.
    pub touched: Mutex<HashMap<String, i64>>,
    /// The pages' unchanging parts, prepared once.
    pub pages: super::handlers::pages::PageCache,
    /// Static files, read and gzipped once (re-read when a file changes).
    pub assets: super::handlers::pages::Assets,
    /// Workshops: change bus, start queue, join rate limit.
    pub workshop: super::workshop::Workshops,
    /// Rate limits of lab starts and instructor logins.
    pub limits: super::guard::Limits,
}

/// The state handed to every handler.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AppState> for Key {
    fn from_ref(s: &AppState) -> Key {
        s.key.clone()
    }
}

impl AppState {
    /// Builds the state; renders every phase's markdown once.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        runtime: Arc<dyn LabRuntime>,
        catalog: Catalog,
        key: Key,
    ) -> AppState {
        let mut html = HashMap::new();
        for lab in &catalog.labs {
            html.insert(
                (lab.id.clone(), usize::MAX),
                super::markdown::render(&lab.intro),
            );
            for (i, p) in lab.phases.iter().enumerate() {
                html.insert((lab.id.clone(), i), super::markdown::render(&p.body));
            }
        }
        let pages = super::handlers::pages::PageCache::new(&catalog);
        let assets = super::handlers::pages::Assets::new(&config.static_dir);
        let limits = super::guard::Limits::new(&config.guard);
        AppState(Arc::new(Inner {
            pages,
            assets,
            config,
            store,
            runtime,
            catalog,
            html,
            key,
            metrics: Metrics::default(),
            shells: Shells::default(),
            admission: tokio::sync::Mutex::new(()),
            touched: Mutex::new(HashMap::new()),
            workshop: super::workshop::Workshops::default(),
            limits,
        }))
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
