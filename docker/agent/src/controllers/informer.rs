//! A list+watch cache of one resource (an "informer"), fed by a background thread, with
//! write-through for the controller's own writes and a wake-up channel for reconcilers.
//!
//! The thread lists, then watches from the list's resourceVersion, re-watching from the last
//! event seen when a stream ends and re-listing when the server says the version is too old
//! (410) or cannot be reached. Entries only move forward: an event or write-through older than
//! the cached resourceVersion of the same object is ignored.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;

use crate::kube::client::{ApiClient, EventType, KubeObject, Resource};

type Key = (String, String);

/// The cache of one resource.
pub struct Informer {
    res: &'static Resource,
    objects: RwLock<BTreeMap<Key, Value>>,
    synced: AtomicBool,
    wake: Mutex<Vec<Sender<()>>>,
}

fn rv_of(v: &Value) -> u64 {
    v.resource_version()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn key_of(v: &Value) -> Key {
    (
        v.namespace().unwrap_or("").to_string(),
        v.name().to_string(),
    )
}

impl Informer {
    /// An empty, not yet synced cache of `res`.
    pub fn new(res: &'static Resource) -> Arc<Self> {
        Arc::new(Informer {
            res,
            objects: RwLock::new(BTreeMap::new()),
            synced: AtomicBool::new(false),
            wake: Mutex::new(Vec::new()),
        })
    }

    /// Wakes `tx` (a reconciler) on every change.
    pub fn notify(&self, tx: Sender<()>) {
        self.wake.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
    }

    fn wake_all(&self) {
        for tx in self.wake.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = tx.send(());
        }
    }

    /// Whether the first list has completed.
    pub fn has_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Every cached object, ordered by namespace and name.
    pub fn list(&self) -> Vec<Value> {
        self.objects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The cached objects of one namespace.
    pub fn list_namespace(&self, ns: &str) -> Vec<Value> {
        self.objects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|((n, _), _)| n == ns)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// One cached object.
    pub fn get(&self, ns: &str, name: &str) -> Option<Value> {
        self.objects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Records an object the controller just wrote (or an ADDED/MODIFIED event), unless the
    /// cache already holds a newer version.
    pub fn apply(&self, obj: &Value) {
        let mut m = self.objects.write().unwrap_or_else(|e| e.into_inner());
        let key = key_of(obj);
        if m.get(&key).is_some_and(|old| rv_of(old) > rv_of(obj)) {
            return;
        }
        m.insert(key, obj.clone());
    }

    /// Records a deletion (a DELETED event, or the controller's own delete).
    pub fn remove(&self, obj: &Value) {
        let mut m = self.objects.write().unwrap_or_else(|e| e.into_inner());
        let key = key_of(obj);
        if m.get(&key).is_some_and(|old| rv_of(old) > rv_of(obj)) {
            return;
        }
        m.remove(&key);
    }

    fn replace_all(&self, items: Vec<Value>, list_rv: u64) {
        let mut m = self.objects.write().unwrap_or_else(|e| e.into_inner());
        let mut fresh: BTreeMap<Key, Value> = items.into_iter().map(|o| (key_of(&o), o)).collect();
        // Keep our own writes that are newer than the list.
        for (k, v) in m.iter() {
            if rv_of(v) > list_rv {
                fresh.insert(k.clone(), v.clone());
            }
        }
        *m = fresh;
    }

    /// Starts the list+watch thread.
    pub fn start(self: &Arc<Self>, client: ApiClient) -> std::thread::JoinHandle<()> {
        let me = self.clone();
        std::thread::Builder::new()
            .name(format!("informer-{}", self.res.plural))
            .spawn(move || me.run(client))
            .expect("spawn informer thread")
    }

    fn run(&self, client: ApiClient) {
        let mut failures = 0u32;
        loop {
            let list = match client.list(self.res, None, None, None) {
                Ok(l) => l,
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(30) {
                        tracing::warn!(resource = self.res.plural, error = %e, "list failed; retrying");
                    }
                    std::thread::sleep(Duration::from_millis(300));
                    continue;
                }
            };
            failures = 0;
            let mut rv = list.resource_version.clone();
            self.replace_all(list.items, rv.parse().unwrap_or(0));
            self.synced.store(true, Ordering::Release);
            self.wake_all();
            // Watch until the server says our version is too old or cannot be reached.
            loop {
                let stream = match client.watch(self.res, None, Some(&rv)) {
                    Ok(s) => s,
                    Err(e) => {
                        if !e.is_gone() {
                            tracing::warn!(resource = self.res.plural, error = %e, "watch failed; re-listing");
                            std::thread::sleep(Duration::from_millis(300));
                        }
                        break;
                    }
                };
                let mut relist = false;
                for ev in stream {
                    match ev {
                        Ok(ev) => {
                            if let Some(r) = ev.object.resource_version() {
                                rv = r.to_string();
                            }
                            match ev.event_type {
                                EventType::Added | EventType::Modified => self.apply(&ev.object),
                                EventType::Deleted => self.remove(&ev.object),
                                EventType::Bookmark | EventType::Error => continue,
                            }
                            self.wake_all();
                        }
                        Err(e) => {
                            if !e.is_gone() {
                                tracing::warn!(resource = self.res.plural, error = %e, "watch error; re-listing");
                            }
                            relist = true;
                            break;
                        }
                    }
                }
                if relist {
                    break;
                }
                // The stream ended (server timeout or restart): re-watch from the last version;
                // a restarted server answers 410 and we re-list.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Waits until every informer has synced (lists are in).
pub fn wait_for_sync(informers: &[&Arc<Informer>]) {
    while !informers.iter().all(|i| i.has_synced()) {
        std::thread::sleep(Duration::from_millis(20));
    }
}
