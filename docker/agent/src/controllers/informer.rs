//! A list+watch cache of one resource (an "informer"), fed by a background thread running the
//! shared [`list_watch`] loop, with write-through for the controller's own writes and a wake-up
//! channel for reconcilers.
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
use crate::kube::informer::{list_watch, Change, Failure, Retry, Watcher};

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
        let mut w = CacheWatcher {
            informer: self,
            failures: 0,
        };
        list_watch(&client, self.res, &RETRY, &mut w);
    }
}

/// The controllers' rhythm: retry a list every 300 ms; after a closed stream, watch again from
/// the last event seen (a restarted server answers 410 and we re-list).
const RETRY: Retry = Retry {
    list_first: Duration::from_millis(300),
    list_max: Duration::from_millis(300),
    watch_failed: Duration::from_millis(300),
    pause_when_gone: false,
    stream_failed: Duration::ZERO,
    stream_ended: Duration::from_millis(50),
    resume: true,
};

/// Feeds one [`Informer`] from the list+watch loop.
struct CacheWatcher<'a> {
    informer: &'a Informer,
    failures: u32,
}

impl Watcher for CacheWatcher<'_> {
    fn change(&mut self, change: Change) -> bool {
        let inf = self.informer;
        match change {
            Change::Listed {
                items,
                resource_version,
            } => {
                self.failures = 0;
                inf.replace_all(items, resource_version.parse().unwrap_or(0));
                inf.synced.store(true, Ordering::Release);
            }
            Change::Event(EventType::Added | EventType::Modified, o) => inf.apply(&o),
            Change::Event(EventType::Deleted, o) => inf.remove(&o),
            Change::Event(EventType::Bookmark | EventType::Error, _) => return true,
        }
        inf.wake_all();
        true
    }

    fn failure(&mut self, failure: Failure<'_>) {
        let resource = self.informer.res.plural;
        match failure {
            Failure::List(e) => {
                self.failures += 1;
                if self.failures == 1 || self.failures.is_multiple_of(30) {
                    tracing::warn!(resource, error = %e, "list failed; retrying");
                }
            }
            Failure::Watch(e) if !e.is_gone() => {
                tracing::warn!(resource, error = %e, "watch failed; re-listing")
            }
            Failure::Stream(e) if !e.is_gone() => {
                tracing::warn!(resource, error = %e, "watch error; re-listing")
            }
            Failure::Watch(_) | Failure::Stream(_) => {}
        }
    }
}

/// Waits until every informer has synced (lists are in).
pub fn wait_for_sync(informers: &[&Arc<Informer>]) {
    while !informers.iter().all(|i| i.has_synced()) {
        std::thread::sleep(Duration::from_millis(20));
    }
}
