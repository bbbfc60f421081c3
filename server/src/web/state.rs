//! The shared state of the web layer: one cheap-to-clone [`AppState`] holding the domain's
//! [`Platform`] (store, runtime, content, metrics, terminals, workshops) and what only HTTP
//! needs: the pre-rendered markdown, the cookie key, the pages' unchanging parts, the static
//! files and the rate limits. Field access reaches the platform's fields through `Deref`.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use axum_extra::extract::cookie::Key;
use labkit::Catalog;

use super::assets::Assets;
use super::limits::Limits;
use super::page_cache::PageCache;
use crate::domain::config::Config;
use crate::domain::platform::Platform;
use crate::engine::runtime::LabRuntime;
use crate::store::Store;

/// Everything a handler needs.
pub struct Inner {
    /// The domain's state.
    pub platform: Platform,
    /// Rendered HTML per (lab, step index), and per lab intro under step `usize::MAX`.
    pub html: HashMap<(String, usize), String>,
    /// Signs the learner cookie.
    pub key: Key,
    /// The pages' unchanging parts, prepared once.
    pub pages: PageCache,
    /// Static files, read and gzipped once (re-read when a file changes).
    pub assets: Assets,
    /// Rate limits of lab starts, instructor logins and join codes.
    pub limits: Limits,
}

impl Deref for Inner {
    type Target = Platform;
    fn deref(&self) -> &Platform {
        &self.platform
    }
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
    /// Builds the state; renders every step's markdown once.
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
            for (i, p) in lab.steps.iter().enumerate() {
                html.insert(
                    (lab.id.clone(), i),
                    super::markdown::render(super::markdown::without_title(&p.body, &p.title)),
                );
            }
        }
        let pages = PageCache::new(&catalog);
        let assets = Assets::new(&config.static_dir);
        let limits = Limits::new(&config.guard);
        AppState(Arc::new(Inner {
            platform: Platform::new(config, store, runtime, catalog),
            html,
            key,
            pages,
            assets,
            limits,
        }))
    }
}
