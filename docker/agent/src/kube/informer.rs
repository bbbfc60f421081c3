//! The agent's one list+watch loop ([`list_watch`]) over the blocking lab API client, and the
//! cache kube-proxy and the cluster DNS keep with it ([`run_informer`]: objects by
//! `namespace/name`, a notifier after every change). The controllers' cache, the policy
//! enforcer's channel and the kubelet's pod loop are [`Watcher`]s of the same loop.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::client::{ApiClient, ClientError, EventType, KubeObject, Resource};

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

    /// Replaces every object of `kind` (the result of a list). Returns whether anything
    /// changed: the first list, or objects added, removed or modified since the last one (a
    /// re-list after a watch ended usually brings nothing new).
    pub fn replace(&mut self, kind: &'static str, items: Vec<Value>) -> bool {
        let listed: BTreeMap<String, Value> =
            items.into_iter().map(|item| (key(&item), item)).collect();
        let first = self.synced.insert(kind);
        let m = self.objects.entry(kind).or_default();
        let changed = first || *m != listed;
        *m = listed;
        changed
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

/// What a list+watch loop hands its [`Watcher`].
#[derive(Debug)]
pub enum Change {
    /// A fresh list: every object of the resource, and the list's resourceVersion.
    Listed {
        /// The objects.
        items: Vec<Value>,
        /// The list's resourceVersion (the watch starts there).
        resource_version: String,
    },
    /// One watch event (bookmarks and errors included: the watcher decides what they mean).
    Event(EventType, Value),
}

/// A failure the loop recovers from by itself (after the delays of its [`Retry`]).
#[derive(Debug)]
pub enum Failure<'a> {
    /// The list request failed.
    List(&'a ClientError),
    /// The watch request failed (a 410 Gone means: re-list).
    Watch(&'a ClientError),
    /// The watch stream broke.
    Stream(&'a ClientError),
}

/// The receiving end of [`list_watch`]: a cache, a channel, a notifier.
pub trait Watcher {
    /// A fresh list or one event. Returning `false` ends the loop.
    fn change(&mut self, change: Change) -> bool;
    /// A failure, for the watcher to log as its component does.
    fn failure(&mut self, failure: Failure<'_>);
}

/// How a [`list_watch`] loop waits and resumes. Each component keeps its own rhythm.
#[derive(Debug, Clone)]
pub struct Retry {
    /// The pause after a failed list, doubled after each further failure up to `list_max`.
    pub list_first: Duration,
    /// The longest pause between failed lists.
    pub list_max: Duration,
    /// The pause after a failed watch request, before re-listing.
    pub watch_failed: Duration,
    /// Whether that pause applies to a 410 Gone too (otherwise re-list at once).
    pub pause_when_gone: bool,
    /// The pause after a broken stream, before re-listing.
    pub stream_failed: Duration,
    /// The pause after a stream the server closed.
    pub stream_ended: Duration,
    /// After a closed stream, watch again from the last resourceVersion seen (a too-old
    /// version is answered 410 and leads to a re-list) instead of re-listing.
    pub resume: bool,
}

/// Lists and watches `resource` (all namespaces) until the watcher returns `false`: a list,
/// then a watch from the list's resourceVersion; a watch that ends or breaks (server restart,
/// timeout, 410 Gone) leads to a fresh list, or with [`Retry::resume`] to a new watch from the
/// last version seen. The one list+watch loop of the agent.
pub fn list_watch(
    client: &ApiClient,
    resource: &'static Resource,
    retry: &Retry,
    watcher: &mut impl Watcher,
) {
    list_watch_selected(client, resource, None, retry, watcher);
}

/// [`list_watch`] of the objects a field selector picks (`spec.nodeName=node-2`).
pub fn list_watch_selected(
    client: &ApiClient,
    resource: &'static Resource,
    field_selector: Option<&str>,
    retry: &Retry,
    watcher: &mut impl Watcher,
) {
    let mut backoff = retry.list_first;
    loop {
        let list = match client.list(resource, None, None, field_selector) {
            Ok(l) => l,
            Err(e) => {
                watcher.failure(Failure::List(&e));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(retry.list_max);
                continue;
            }
        };
        backoff = retry.list_first;
        let mut rv = list.resource_version.clone();
        let listed = Change::Listed {
            items: list.items,
            resource_version: list.resource_version,
        };
        if !watcher.change(listed) {
            return;
        }
        loop {
            let stream =
                match client.watch_selected(resource, None, Some(&rv), None, field_selector) {
                    Ok(s) => s,
                    Err(e) => {
                        watcher.failure(Failure::Watch(&e));
                        if retry.pause_when_gone || !e.is_gone() {
                            std::thread::sleep(retry.watch_failed);
                        }
                        break;
                    }
                };
            let mut broken = false;
            for ev in stream {
                match ev {
                    Ok(ev) => {
                        if let Some(r) = ev.object.resource_version() {
                            rv = r.to_string();
                        }
                        if !watcher.change(Change::Event(ev.event_type, ev.object)) {
                            return;
                        }
                    }
                    Err(e) => {
                        watcher.failure(Failure::Stream(&e));
                        broken = true;
                        break;
                    }
                }
            }
            if broken {
                std::thread::sleep(retry.stream_failed);
                break;
            }
            std::thread::sleep(retry.stream_ended);
            if !retry.resume {
                break;
            }
        }
    }
}

/// [`run_informer`]'s rhythm: a capped backoff while the server is unreachable, a short pause
/// before each re-list.
const STORE_RETRY: Retry = Retry {
    list_first: Duration::from_millis(200),
    list_max: Duration::from_secs(5),
    watch_failed: Duration::from_millis(200),
    pause_when_gone: true,
    stream_failed: Duration::from_millis(100),
    stream_ended: Duration::from_millis(100),
    resume: false,
};

struct StoreWatcher<N, L> {
    resource: &'static Resource,
    store: Arc<Mutex<Store>>,
    notify: N,
    log: L,
}

impl<N: FnMut() -> bool, L: Fn(&str)> Watcher for StoreWatcher<N, L> {
    fn change(&mut self, change: Change) -> bool {
        {
            let mut s = self.store.lock().expect("store lock");
            match change {
                // Upstream's informers, too, send no update for a re-list that changed
                // nothing: a sync for it would only rewrite the same rules.
                Change::Listed { items, .. } => {
                    if !s.replace(self.resource.kind, items) {
                        return true;
                    }
                }
                Change::Event(EventType::Added | EventType::Modified, o) => {
                    s.upsert(self.resource.kind, o)
                }
                Change::Event(EventType::Deleted, o) => s.remove(self.resource.kind, &o),
                Change::Event(EventType::Bookmark | EventType::Error, _) => return true,
            }
        }
        (self.notify)()
    }

    fn failure(&mut self, failure: Failure<'_>) {
        let plural = self.resource.plural;
        match failure {
            Failure::List(e) => (self.log)(&format!("failed to list {plural}: {e}")),
            Failure::Watch(e) if !e.is_gone() => {
                (self.log)(&format!("failed to watch {plural}: {e}"))
            }
            Failure::Stream(e) if !e.is_gone() => {
                (self.log)(&format!("watch of {plural} failed: {e}"))
            }
            Failure::Watch(_) | Failure::Stream(_) => {}
        }
    }
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
    notify: impl FnMut() -> bool,
    log: impl Fn(&str),
) {
    let mut w = StoreWatcher {
        resource,
        store,
        notify,
        log,
    };
    list_watch(&client, resource, &STORE_RETRY, &mut w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_relist_that_changed_nothing_says_so() {
        let mut s = Store::default();
        let svc = |rv: &str| json!({"metadata":{"namespace":"a","name":"x","resourceVersion":rv}});
        assert!(s.replace("Service", vec![]), "the first list is news");
        assert!(!s.replace("Service", vec![]));
        assert!(s.replace("Service", vec![svc("1")]));
        assert!(!s.replace("Service", vec![svc("1")]), "same objects again");
        assert!(s.replace("Service", vec![svc("2")]), "modified");
        assert!(s.replace("Service", vec![]), "removed");
    }

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
