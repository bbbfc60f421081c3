//! The object store: every object as JSON, a global resourceVersion counter, a bounded event
//! history for watches, a broadcast channel for live watchers, and persistence to
//! `<data-dir>/state.json` (whole snapshot, written to a temporary file then renamed).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::kube::client::{EventType, Resource, RESOURCES};

/// How many events are kept for watches that resume from an older resourceVersion.
pub const HISTORY_LIMIT: usize = 4096;

/// One change, as sent to watchers.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// The resource's plural (`pods`).
    pub plural: &'static str,
    /// The object's namespace (`""` for cluster-scoped objects).
    pub namespace: String,
    /// ADDED, MODIFIED or DELETED.
    pub event_type: EventType,
    /// The object after the change (its last state for DELETED).
    pub object: Value,
    /// What selectors can read of the object before a MODIFIED change (watches with selectors
    /// compare both states), see [`crate::kube::selectors::selectable_view`].
    pub prev: Option<Value>,
}

/// Key of an object within its resource: (namespace or `""`, name).
pub type Key = (String, String);

/// The in-memory state. Callers hold it behind a mutex; every mutation goes through
/// [`Store::put`] or [`Store::remove`], which bump the resourceVersion and emit an event.
pub struct Store {
    objects: BTreeMap<&'static str, BTreeMap<Key, Value>>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    /// Every event with rv > `history_floor` is in `history`.
    history_floor: u64,
    tx: broadcast::Sender<Arc<Event>>,
    dirty: bool,
    /// `dryRun=All`: writes are answered as if made, but nothing changes.
    dry_run: bool,
    /// Who writes during the current request (managedFields); None for the server's own writes.
    pub(crate) writer: Option<crate::apiserver::fieldmanager::WriteCtx>,
}

/// What a watch starting at some resourceVersion gets from the history.
pub enum Replay {
    /// The events after that version, in order.
    Events(Vec<Arc<Event>>),
    /// The version is older than the history: 410 Gone.
    TooOld {
        /// The oldest version a watch can start from.
        oldest: u64,
    },
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store at resourceVersion 0.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(8192);
        let mut objects = BTreeMap::new();
        for r in RESOURCES {
            objects.insert(r.plural, BTreeMap::new());
        }
        Store {
            objects,
            rv: 0,
            history: VecDeque::new(),
            history_floor: 0,
            tx,
            dirty: false,
            dry_run: false,
            writer: None,
        }
    }

    /// Loads `state.json` from `dir` if it exists.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut store = Store::new();
        let path = state_path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        };
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not valid JSON: {e}", path.display()))?;
        store.rv = v
            .get("resourceVersion")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if let Some(objs) = v.get("objects").and_then(Value::as_object) {
            for (plural, items) in objs {
                let Some(res) = RESOURCES.iter().find(|r| r.plural == plural) else {
                    anyhow::bail!("{}: unknown resource {plural:?}", path.display());
                };
                for item in items.as_array().cloned().unwrap_or_default() {
                    let key = key_of(&item);
                    let irv = item
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse::<u64>().ok())
                        .unwrap_or(0);
                    store.rv = store.rv.max(irv);
                    store.map_mut(res).insert(key, item);
                }
            }
        }
        store.history_floor = store.rv;
        Ok(store)
    }

    /// The whole state as the JSON written to `state.json`.
    pub fn snapshot(&self) -> Value {
        let mut objs = serde_json::Map::new();
        for (plural, m) in &self.objects {
            objs.insert(
                plural.to_string(),
                Value::Array(m.values().cloned().collect()),
            );
        }
        json!({"resourceVersion": self.rv, "objects": objs})
    }

    /// Whether something changed since the last [`Store::take_dirty`].
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Turns dry-run mode on or off: while on, [`Store::put`] and [`Store::remove`] answer
    /// what they would store or remove and change nothing (no version, no event).
    pub fn set_dry_run(&mut self, on: bool) {
        self.dry_run = on;
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion the history still reaches back to (older watches and
    /// continue tokens get 410 Gone).
    pub fn oldest_resource_version(&self) -> u64 {
        self.history_floor
    }

    /// A receiver of every future event.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// The events after `rv`, or TooOld when the history no longer reaches back that far.
    pub fn replay_since(&self, rv: u64) -> Replay {
        if rv < self.history_floor {
            return Replay::TooOld {
                oldest: self.history_floor,
            };
        }
        Replay::Events(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    fn map(&self, res: &Resource) -> &BTreeMap<Key, Value> {
        self.objects
            .get(res.plural)
            .expect("every resource has a map")
    }

    fn map_mut(&mut self, res: &Resource) -> &mut BTreeMap<Key, Value> {
        self.objects
            .get_mut(res.plural)
            .expect("every resource has a map")
    }

    /// One object.
    pub fn get(&self, res: &Resource, namespace: &str, name: &str) -> Option<&Value> {
        self.map(res)
            .get(&(namespace.to_string(), name.to_string()))
    }

    /// All objects of a resource, in one namespace or all (`None`), ordered by namespace, name.
    pub fn list(&self, res: &Resource, namespace: Option<&str>) -> Vec<&Value> {
        self.map(res)
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v)
            .collect()
    }

    /// Stores `obj` (created or replaced), giving it the next resourceVersion, and emits
    /// ADDED or MODIFIED. Returns the stored object.
    pub fn put(&mut self, res: &'static Resource, mut obj: Value) -> Value {
        if let Some(w) = self.writer.as_ref().filter(|w| w.kind == res.kind) {
            let old = self.map(res).get(&key_of(&obj));
            crate::apiserver::fieldmanager::on_put(old, &mut obj, w);
        }
        if self.dry_run {
            // What a dry run answers: an update keeps the stored version, a create has none.
            let key = key_of(&obj);
            match self.map(res).get(&key) {
                Some(old) => {
                    obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone()
                }
                None => {
                    if let Some(m) = obj["metadata"].as_object_mut() {
                        m.remove("resourceVersion");
                    }
                }
            }
            return obj;
        }
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let key = key_of(&obj);
        let prev = self.map_mut(res).insert(key.clone(), obj.clone());
        let t = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        // Watches only compare the previous state with their selectors: keep just that part.
        let prev = prev.map(|p| crate::kube::selectors::selectable_view(res.kind, &p));
        self.emit(res, key.0, t, obj.clone(), prev);
        obj
    }

    /// Removes an object and emits DELETED (with a fresh resourceVersion, as Kubernetes does).
    pub fn remove(&mut self, res: &'static Resource, namespace: &str, name: &str) -> Option<Value> {
        let key = (namespace.to_string(), name.to_string());
        if self.dry_run {
            return self.map(res).get(&key).cloned();
        }
        let mut obj = self.map_mut(res).remove(&key)?;
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.emit(res, key.0, EventType::Deleted, obj.clone(), None);
        Some(obj)
    }

    fn emit(
        &mut self,
        res: &'static Resource,
        namespace: String,
        t: EventType,
        object: Value,
        prev: Option<Value>,
    ) {
        let ev = Arc::new(Event {
            rv: self.rv,
            plural: res.plural,
            namespace,
            event_type: t,
            object,
            prev,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > HISTORY_LIMIT {
            if let Some(old) = self.history.pop_front() {
                self.history_floor = old.rv;
            }
        }
        self.dirty = true;
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(ev);
    }
}

/// `(namespace or "", name)` of an object.
pub fn key_of(obj: &Value) -> Key {
    (
        obj.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    )
}

/// `<dir>/state.json`.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// Writes `snapshot` to `<dir>/state.json` atomically (temporary file, fsync, rename).
pub fn write_snapshot(dir: &Path, snapshot: &Value) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join("state.json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(serde_json::to_string(snapshot)?.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, state_path(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::client::PODS;

    #[test]
    fn history_and_replay() {
        let mut s = Store::new();
        let mut rx = s.subscribe();
        s.put(
            &PODS,
            json!({"metadata":{"name":"a","namespace":"default"}}),
        );
        s.put(
            &PODS,
            json!({"metadata":{"name":"a","namespace":"default"}}),
        );
        s.remove(&PODS, "default", "a");
        assert_eq!(s.resource_version(), 3);
        let Replay::Events(evs) = s.replay_since(1) else {
            panic!("expected events")
        };
        let types: Vec<_> = evs.iter().map(|e| e.event_type).collect();
        assert_eq!(types, vec![EventType::Modified, EventType::Deleted]);
        assert_eq!(rx.try_recv().unwrap().event_type, EventType::Added);
    }

    #[test]
    fn a_dry_run_changes_nothing() {
        let mut s = Store::new();
        s.put(
            &PODS,
            json!({"metadata":{"name":"a","namespace":"default"}}),
        );
        let mut rx = s.subscribe();
        s.set_dry_run(true);
        let created = s.put(
            &PODS,
            json!({"metadata":{"name":"b","namespace":"default"}}),
        );
        assert!(created["metadata"].get("resourceVersion").is_none());
        let updated = s.put(
            &PODS,
            json!({"metadata":{"name":"a","namespace":"default"},"x":1}),
        );
        assert_eq!(updated["metadata"]["resourceVersion"], "1");
        assert!(s.remove(&PODS, "default", "a").is_some());
        s.set_dry_run(false);
        assert_eq!(s.resource_version(), 1);
        assert!(s.get(&PODS, "default", "b").is_none());
        assert!(s.get(&PODS, "default", "a").unwrap().get("x").is_none());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn snapshot_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::new();
        s.put(
            &PODS,
            json!({"metadata":{"name":"a","namespace":"default"}}),
        );
        write_snapshot(dir.path(), &s.snapshot()).unwrap();
        let l = Store::load(dir.path()).unwrap();
        assert_eq!(l.resource_version(), 1);
        assert!(l.get(&PODS, "default", "a").is_some());
        assert!(matches!(l.replay_since(0), Replay::TooOld { oldest: 1 }));
    }
}
