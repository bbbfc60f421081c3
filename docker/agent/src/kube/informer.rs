//! A minimal informer (list + watch + re-list) over the blocking lab API client, shared by
//! kube-proxy and the cluster DNS: it keeps a cache of objects by `namespace/name` and calls a
//! notifier after every change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::kube::client::{ApiClient, EventType, KubeObject, Resource};

/// The informers' shared cache: objects by kind, then by `namespace/name`, plus the kinds whose
/// initial list has completed.
#[derive(Debug, Default)]
pub struct Store {
    objects: BTreeMap<&'static str, BTreeMap<String, Value>>,
    synced: BTreeSet<&'static str>,
}

impl Store {
    /// The objects of `kind` (`Service`, `EndpointSlice`, …), ordered by `namespace/name`.
    pub fn list(&self, kind: &str) -> Vec<Value> {
        self.objects
            .get(kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Iterates the objects of `kind` without cloning.
    pub fn iter(&self, kind: &str) -> impl Iterator<Item = &Value> {
        self.objects.get(kind).into_iter().flat_map(|m| m.values())
    }

    /// Whether each of `kinds` has been listed at least once.
    pub fn synced(&self, kinds: &[&str]) -> bool {
        kinds.iter().all(|k| self.synced.contains(k))
    }

    /// Replaces every object of `kind` (the result of a list).
    pub fn replace(&mut self, kind: &'static str, items: Vec<Value>) {
        let m = self.objects.entry(kind).or_default();
        m.clear();
        for item in items {
            m.insert(key(&item), item);
        }
        self.synced.insert(kind);
    }

    /// Adds or replaces one object.
    pub fn upsert(&mut self, kind: &'static str, object: Value) {
        self.objects
            .entry(kind)
            .or_default()
            .insert(key(&object), object);
    }

    /// Removes one object.
    pub fn remove(&mut self, kind: &'static str, object: &Value) {
        if let Some(m) = self.objects.get_mut(kind) {
            m.remove(&key(object));
        }
    }
}

fn key(v: &Value) -> String {
    format!("{}/{}", v.namespace().unwrap_or(""), v.name())
}

/// Lists and watches `resource` (all namespaces) forever, keeping `store` current and calling
/// `notify` after the list and after every event. Returns when `notify` returns `false`.
/// A watch that ends (server restart, timeout, 410 Gone) leads to a fresh list; an unreachable
/// server is retried with a capped backoff. `log` formats a warning line (each component logs
/// in its own style).
pub fn run_informer(
    client: ApiClient,
    resource: &'static Resource,
    store: Arc<Mutex<Store>>,
    mut notify: impl FnMut() -> bool,
    log: impl Fn(&str),
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let list = match client.list(resource, None, None, None) {
            Ok(l) => l,
            Err(e) => {
                log(&format!("failed to list {}: {e}", resource.plural));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        store
            .lock()
            .expect("store lock")
            .replace(resource.kind, list.items);
        if !notify() {
            return;
        }
        let stream = match client.watch(resource, None, Some(&list.resource_version)) {
            Ok(s) => s,
            Err(e) => {
                if !e.is_gone() {
                    log(&format!("failed to watch {}: {e}", resource.plural));
                }
                std::thread::sleep(backoff);
                continue;
            }
        };
        for ev in stream {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    if !e.is_gone() {
                        log(&format!("watch of {} failed: {e}", resource.plural));
                    }
                    break;
                }
            };
            {
                let mut s = store.lock().expect("store lock");
                match ev.event_type {
                    EventType::Added | EventType::Modified => s.upsert(resource.kind, ev.object),
                    EventType::Deleted => s.remove(resource.kind, &ev.object),
                    EventType::Bookmark | EventType::Error => continue,
                }
            }
            if !notify() {
                return;
            }
        }
        // The watch ended: re-list (after a short pause, so a server that closes at once does
        // not make us spin).
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn store_replaces_upserts_and_removes() {
        let mut s = Store::default();
        assert!(!s.synced(&["Service"]));
        s.replace(
            "Service",
            vec![json!({"metadata":{"namespace":"a","name":"x"}})],
        );
        assert!(s.synced(&["Service"]));
        s.upsert(
            "Service",
            json!({"metadata":{"namespace":"a","name":"y"},"spec":{}}),
        );
        assert_eq!(s.list("Service").len(), 2);
        s.remove("Service", &json!({"metadata":{"namespace":"a","name":"x"}}));
        let names: Vec<_> = s.iter("Service").map(|v| v.name().to_string()).collect();
        assert_eq!(names, vec!["y"]);
    }
}
