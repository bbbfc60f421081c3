//! Field ownership (`metadata.managedFields`) and server-side apply, as kube-apiserver's field
//! manager keeps them: every write records, per manager and operation, the set of fields it
//! set, in the FieldsV1 format (`f:spec`, `k:{"port":80,"protocol":"TCP"}`, `v:"x"`, `.`).
//! An Update takes the fields it changed away from every other manager; an Apply owns the
//! fields of its configuration, conflicts with other managers over values it would change,
//! and removes the fields it applied before and no longer applies (when nobody else owns
//! them). List types and keys come from [`crate::kube::patchmeta`].

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::kube::patchmeta::{self, Field, ListType};
use crate::kube::time::now_rfc3339;

/// One field path, as FieldsV1 tokens from the root (`["f:spec", "f:ports", "k:{...}"]`).
pub type Path = Vec<String>;
/// A set of field paths.
pub type Set = BTreeSet<Path>;

fn root_field(kind: &str) -> Field {
    let mut fl = patchmeta::field("", "");
    fl.ty = patchmeta::root_type(kind);
    fl
}

/// Metadata fields that belong to no manager.
const UNOWNED_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The parts of an object that are tracked: no apiVersion, kind, system metadata, and no
/// status unless `with_status`.
fn tracked(obj: &Value, with_status: bool) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        if !with_status {
            m.remove("status");
        }
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in UNOWNED_META {
                meta.remove(*k);
            }
        }
        if m.get("metadata")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            m.remove("metadata");
        }
    }
    o
}

/// `k:{...}` of a keyed list item: its key fields, sorted (a missing `protocol` is TCP, its
/// default).
fn key_token(item: &Value, keys: &[&str]) -> String {
    let mut ks: Vec<&str> = keys.to_vec();
    ks.sort_unstable();
    let mut m = Map::new();
    for k in ks {
        match item.get(k) {
            Some(v) => {
                m.insert(k.into(), v.clone());
            }
            None if k == "protocol" => {
                m.insert(k.into(), json!("TCP"));
            }
            None => {}
        }
    }
    format!("k:{}", Value::Object(m))
}

fn value_token(v: &Value) -> String {
    format!("v:{v}")
}

fn child(path: &Path, tok: String) -> Path {
    let mut p = path.clone();
    p.push(tok);
    p
}

fn item_field(fl: &Field) -> Field {
    let mut f = patchmeta::field("", "");
    f.ty = fl.ty;
    f
}

/// Every field of `v` (apply's `ToFieldSet`): leaves, empty maps, atomic lists, list items.
fn collect(v: &Value, fl: &Field, path: &Path, out: &mut Set, dot_maps: bool) {
    if patchmeta::is_atomic(fl.ty) {
        out.insert(path.clone());
        return;
    }
    match v {
        Value::Object(m) if !m.is_empty() => {
            if dot_maps && !path.is_empty() && !patchmeta::is_value_struct(fl.ty) {
                out.insert(path.clone());
            }
            for (k, cv) in m {
                collect(
                    cv,
                    &patchmeta::field(fl.ty, k),
                    &child(path, format!("f:{k}")),
                    out,
                    dot_maps,
                );
            }
        }
        Value::Array(items) if !items.is_empty() => match fl.list {
            ListType::Atomic => {
                out.insert(path.clone());
            }
            ListType::Set => {
                for it in items {
                    out.insert(child(path, value_token(it)));
                }
            }
            ListType::Map(keys) => {
                for it in items {
                    let p = child(path, key_token(it, keys));
                    out.insert(p.clone());
                    collect(it, &item_field(fl), &p, out, dot_maps);
                }
            }
        },
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

/// The fields an applied configuration sets.
pub fn apply_set(cfg: &Value, kind: &str, with_status: bool) -> Set {
    let mut out = Set::new();
    collect(
        &tracked(cfg, with_status),
        &root_field(kind),
        &Vec::new(),
        &mut out,
        false,
    );
    out
}

/// The fields an update (or create, `old` = None) added or changed.
pub fn update_set(old: Option<&Value>, new: &Value, kind: &str, with_status: bool) -> Set {
    let mut out = Set::new();
    let new = tracked(new, with_status);
    let old = old.map(|o| tracked(o, with_status));
    diff(old.as_ref(), &new, &root_field(kind), &Vec::new(), &mut out);
    out
}

fn diff(old: Option<&Value>, new: &Value, fl: &Field, path: &Path, out: &mut Set) {
    let Some(old) = old else {
        collect(new, fl, path, out, true);
        return;
    };
    if same(old, new) {
        return;
    }
    if patchmeta::is_atomic(fl.ty) {
        out.insert(path.clone());
        return;
    }
    match (old, new) {
        (Value::Object(om), Value::Object(nm)) => {
            for (k, nv) in nm {
                diff(
                    om.get(k),
                    nv,
                    &patchmeta::field(fl.ty, k),
                    &child(path, format!("f:{k}")),
                    out,
                );
            }
        }
        (Value::Array(oa), Value::Array(na)) if fl.list != ListType::Atomic => match fl.list {
            ListType::Set => {
                for it in na {
                    if !oa.iter().any(|o| same(o, it)) {
                        out.insert(child(path, value_token(it)));
                    }
                }
            }
            ListType::Map(keys) => {
                for it in na {
                    let tok = key_token(it, keys);
                    let p = child(path, tok.clone());
                    match oa.iter().find(|o| key_token(o, keys) == tok) {
                        Some(o) => diff(Some(o), it, &item_field(fl), &p, out),
                        None => {
                            out.insert(p.clone());
                            collect(it, &item_field(fl), &p, out, true);
                        }
                    }
                }
            }
            ListType::Atomic => unreachable!(),
        },
        _ => collect(new, fl, path, out, true),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The set as FieldsV1 JSON.
pub fn to_fields_v1(set: &Set) -> Value {
    let mut root = Map::new();
    for p in set {
        let mut node = &mut root;
        for tok in p {
            let e = node
                .entry(tok.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            node = e.as_object_mut().expect("nodes are objects");
        }
    }
    // A node that is a member and has children carries ".".
    fn dots(node: &mut Map<String, Value>, set: &Set, path: &mut Path) {
        for (k, v) in node.iter_mut() {
            path.push(k.clone());
            let m = v.as_object_mut().expect("nodes are objects");
            if !m.is_empty() {
                dots(m, set, path);
                if set.contains(path) {
                    m.insert(".".into(), json!({}));
                }
            }
            path.pop();
        }
        node.sort_keys();
    }
    dots(&mut root, set, &mut Vec::new());
    Value::Object(root)
}

/// A FieldsV1 JSON as a set (malformed parts are skipped).
pub fn from_fields_v1(v: &Value) -> Set {
    fn walk(v: &Value, path: &mut Path, out: &mut Set) {
        let Some(m) = v.as_object() else { return };
        if m.is_empty() && !path.is_empty() {
            out.insert(path.clone());
            return;
        }
        for (k, cv) in m {
            if k == "." {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
                continue;
            }
            path.push(k.clone());
            walk(cv, path, out);
            path.pop();
        }
    }
    let mut out = Set::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn step<'a>(v: &'a Value, tok: &str) -> Option<&'a Value> {
    if let Some(f) = tok.strip_prefix("f:") {
        return v.get(f);
    }
    let items = v.as_array()?;
    if let Some(k) = tok.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(k).ok()?;
        let keys: Vec<&str> = key.keys().map(String::as_str).collect();
        return items.iter().find(|it| key_token(it, &keys) == tok);
    }
    if let Some(val) = tok.strip_prefix("v:") {
        let val: Value = serde_json::from_str(val).ok()?;
        return items.iter().find(|it| same(it, &val));
    }
    None
}

/// The value at `path` in `obj`.
pub fn get_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, tok| step(v, tok))
}

/// Removes the value at `path` from `obj` (nothing when it is not there).
pub fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut v = obj;
    for tok in parent {
        let next = if let Some(f) = tok.strip_prefix("f:") {
            v.get_mut(f)
        } else {
            let found = step(v, tok).cloned();
            match (found, v.as_array_mut()) {
                (Some(f), Some(items)) => items.iter_mut().find(|it| **it == f),
                _ => None,
            }
        };
        match next {
            Some(n) => v = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = v.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(found) = step(v, last).cloned() {
        if let Some(items) = v.as_array_mut() {
            items.retain(|it| *it != found);
        }
    }
}

/// `.spec.template.spec.containers[name="nginx"].image`, as conflicts print a path.
pub fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for tok in path {
        if let Some(f) = tok.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = tok.strip_prefix("k:") {
            let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = tok.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else if let Some(i) = tok.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

/// The fields of an applied configuration that `kind`'s schema does not declare, as paths
/// (list items by key, or `i:N` by index in atomic lists).
pub fn undeclared(cfg: &Value, kind: &str) -> Vec<Path> {
    fn walk(v: &Value, fl: &Field, path: &Path, out: &mut Vec<Path>) {
        match v {
            Value::Object(m) => {
                for (k, cv) in m {
                    let p = child(path, format!("f:{k}"));
                    if patchmeta::has_field(fl.ty, k) == Some(false) {
                        out.push(p);
                        continue;
                    }
                    walk(cv, &patchmeta::field(fl.ty, k), &p, out);
                }
            }
            Value::Array(items) => {
                for (i, it) in items.iter().enumerate() {
                    let tok = match fl.list {
                        ListType::Map(keys) => key_token(it, keys),
                        ListType::Set => continue,
                        ListType::Atomic => format!("i:{i}"),
                    };
                    walk(it, &item_field(fl), &child(path, tok), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(
        &tracked(cfg, true),
        &root_field(kind),
        &Vec::new(),
        &mut out,
    );
    out
}

/// Merges an applied configuration into the live object: maps key by key, keyed lists by key,
/// sets as sets, anything else replaced.
pub fn merge_applied(live: Option<&Value>, cfg: &Value, fl: &Field) -> Value {
    match (live, cfg) {
        (Some(Value::Object(_)), Value::Object(_)) if patchmeta::is_atomic(fl.ty) => cfg.clone(),
        (Some(Value::Object(lm)), Value::Object(cm)) => {
            let mut out = lm.clone();
            for (k, cv) in cm {
                if cv.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = merge_applied(lm.get(k), cv, &patchmeta::field(fl.ty, k));
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(la)), Value::Array(ca)) => match fl.list {
            ListType::Atomic => cfg.clone(),
            ListType::Set => {
                let mut out = la.clone();
                for c in ca {
                    if !out.iter().any(|o| same(o, c)) {
                        out.push(c.clone());
                    }
                }
                Value::Array(out)
            }
            ListType::Map(keys) => {
                let mut out = la.clone();
                for c in ca {
                    let tok = key_token(c, keys);
                    match out.iter().position(|o| key_token(o, keys) == tok) {
                        Some(i) => out[i] = merge_applied(Some(&la[i]), c, &item_field(fl)),
                        None => out.push(merge_applied(None, c, &item_field(fl))),
                    }
                }
                Value::Array(out)
            }
        },
        (_, Value::Object(cm)) => Value::Object(
            cm.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    (
                        k.clone(),
                        merge_applied(None, v, &patchmeta::field(fl.ty, k)),
                    )
                })
                .collect(),
        ),
        _ => cfg.clone(),
    }
}

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `kubectl-client-side-apply`.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The API version the manager wrote with.
    pub api_version: String,
    /// When it last changed its fields.
    pub time: String,
    /// `status`, `scale`, or empty for the main resource.
    pub subresource: String,
    /// The fields it owns.
    pub fields: Set,
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        m.insert("time".into(), json!(self.time));
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), to_fields_v1(&self.fields));
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }

    /// How a conflict names this manager.
    fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// The managedFields of an object.
pub fn read_entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    manager: e["manager"].as_str().unwrap_or("").to_string(),
                    operation: e["operation"].as_str().unwrap_or("").to_string(),
                    api_version: e["apiVersion"].as_str().unwrap_or("").to_string(),
                    time: e["time"].as_str().unwrap_or("").to_string(),
                    subresource: e["subresource"].as_str().unwrap_or("").to_string(),
                    fields: from_fields_v1(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `entries` (those owning something) as the object's managedFields.
pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    // kube-apiserver's order: Apply before Update, then by time, manager, version, subresource.
    let mut sorted: Vec<&Entry> = entries.iter().filter(|e| !e.fields.is_empty()).collect();
    sorted.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let list: Vec<Value> = sorted.into_iter().map(Entry::to_json).collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Who writes and how.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// The manager's name.
    pub manager: &'a str,
    /// The API version of the request.
    pub api_version: &'a str,
    /// `status`, `scale` or empty.
    pub subresource: &'a str,
    /// The object's kind.
    pub kind: &'a str,
    /// Whether `status` is part of what the main resource tracks (kinds without a status
    /// subresource).
    pub with_status: bool,
}

fn entry_mut<'e>(entries: &'e mut Vec<Entry>, w: &Writer, op: &str) -> &'e mut Entry {
    let i = match entries
        .iter()
        .position(|e| e.manager == w.manager && e.operation == op && e.subresource == w.subresource)
    {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: w.manager.to_string(),
                operation: op.to_string(),
                api_version: w.api_version.to_string(),
                time: String::new(),
                subresource: w.subresource.to_string(),
                fields: Set::new(),
            });
            entries.len() - 1
        }
    };
    let e = &mut entries[i];
    e.api_version = w.api_version.to_string();
    e.time = now_rfc3339();
    e
}

/// Records an update (or a create, `old` = None) of `new` by `w`: the fields it changed become
/// its own and no one else's.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer) {
    let with_status = w.with_status || w.subresource == "status";
    let changed = update_set(old, new, w.kind, with_status);
    let mut entries = old.map(read_entries).unwrap_or_default();
    if changed.is_empty() {
        write_entries(new, &entries);
        return;
    }
    for e in entries.iter_mut() {
        e.fields.retain(|p| !changed.contains(p));
    }
    entry_mut(&mut entries, w, "Update").fields.extend(changed);
    entries.retain(|e| !e.fields.is_empty());
    cap_update_managers(&mut entries);
    write_entries(new, &entries);
}

/// At most this many Update entries; the oldest go into one `ancient-changes` entry.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// Merges the oldest Update entries into `ancient-changes` until at most
/// [`MAX_UPDATE_MANAGERS`] are left, as kube-apiserver caps them.
fn cap_update_managers(entries: &mut Vec<Entry>) {
    let mut updates: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == "Update" && entries[i].manager != ANCIENT)
        .collect();
    let has_bucket = entries
        .iter()
        .any(|e| e.operation == "Update" && e.manager == ANCIENT);
    let total = updates.len() + usize::from(has_bucket);
    if total <= MAX_UPDATE_MANAGERS {
        return;
    }
    updates.sort_by(|&a, &b| {
        (&entries[a].time, &entries[a].manager).cmp(&(&entries[b].time, &entries[b].manager))
    });
    // Into the bucket: enough of the oldest to leave the cap (the bucket counts as one).
    let take = total - MAX_UPDATE_MANAGERS + usize::from(!has_bucket);
    let merged: Vec<usize> = updates.into_iter().take(take).collect();
    let mut bucket = entries
        .iter()
        .position(|e| e.operation == "Update" && e.manager == ANCIENT)
        .map(|i| entries[i].clone())
        .unwrap_or(Entry {
            manager: ANCIENT.to_string(),
            operation: "Update".to_string(),
            api_version: String::new(),
            time: String::new(),
            subresource: String::new(),
            fields: Set::new(),
        });
    for &i in &merged {
        bucket.fields.extend(entries[i].fields.iter().cloned());
        bucket.api_version = entries[i].api_version.clone();
        bucket.time = entries[i].time.clone();
    }
    let mut i = 0;
    entries.retain(|e| {
        let is_bucket = e.operation == "Update" && e.manager == ANCIENT;
        let keep = !(merged.contains(&i) || is_bucket);
        i += 1;
        keep
    });
    entries.push(bucket);
}

const ANCIENT: &str = "ancient-changes";

/// Who writes during one request, kept by the store so that every object it stores gets its
/// managedFields.
#[derive(Debug, Clone)]
pub struct WriteCtx {
    /// The manager's name.
    pub manager: String,
    /// The API version of the request.
    pub api_version: String,
    /// `status`, `scale` or empty.
    pub subresource: String,
    /// The kind written (objects of other kinds written on the side get nothing).
    pub kind: &'static str,
    /// Whether the main resource tracks `status` (kinds without a status subresource).
    pub with_status: bool,
    /// An apply's managedFields, computed before the object was defaulted.
    pub apply_fields: Option<Value>,
}

/// Sets the managedFields of `new` as it is stored over `old` by `ctx`: an apply's as computed,
/// managedFields the request changed itself as given (an empty list clears them), otherwise
/// the old ones plus this update.
pub fn on_put(old: Option<&Value>, new: &mut Value, ctx: &WriteCtx) {
    if let Some(f) = &ctx.apply_fields {
        if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("managedFields".into(), f.clone());
        }
        return;
    }
    let given = new.pointer("/metadata/managedFields").cloned();
    let before = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .cloned();
    if let Some(g) = given.filter(|g| !g.is_null() && Some(g) != before.as_ref()) {
        if g.as_array().is_some_and(Vec::is_empty) {
            if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
        }
        return;
    }
    let w = Writer {
        manager: &ctx.manager,
        api_version: &ctx.api_version,
        subresource: &ctx.subresource,
        kind: ctx.kind,
        with_status: ctx.with_status,
    };
    record_update(old, new, &w);
}

/// An apply that other managers' fields stand in the way of.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflicts(pub Vec<(String, Path)>);

impl Conflicts {
    /// The message kube-apiserver answers with.
    pub fn message(&self) -> String {
        if self.0.len() == 1 {
            let (m, p) = &self.0[0];
            return format!(
                "Apply failed with 1 conflict: conflict with {m}: {}",
                path_string(p)
            );
        }
        let mut managers: Vec<&String> = self.0.iter().map(|(m, _)| m).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            for (_, p) in self.0.iter().filter(|(mm, _)| mm == m) {
                lines.push(format!("- {}", path_string(p)));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.0.len(),
            lines.join("\n")
        )
    }

    /// The Status causes (`FieldManagerConflict`).
    pub fn causes(&self) -> Vec<Value> {
        self.0
            .iter()
            .map(|(m, p)| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": path_string(p)})
            })
            .collect()
    }
}

/// Whether a path's value changes from `live` to `merged` (maps and items: only whether they
/// exist).
fn changes(live: &Value, merged: &Value, p: &[String]) -> bool {
    match (get_at(live, p), get_at(merged, p)) {
        (None, None) => false,
        (Some(Value::Object(_)), Some(Value::Object(_))) => false,
        (Some(a), Some(b)) => !same(a, b),
        _ => true,
    }
}

/// Server-side apply of `cfg` by `w` onto `live` (None: the object does not exist yet).
/// Returns the object to store, with its managedFields, or the conflicts.
pub fn apply(
    live: Option<&Value>,
    cfg: &Value,
    w: &Writer,
    force: bool,
) -> Result<Value, Conflicts> {
    let applied = apply_set(cfg, w.kind, w.with_status);
    let mut cfg_tracked = cfg.clone();
    if !w.with_status {
        if let Some(m) = cfg_tracked.as_object_mut() {
            m.remove("status");
        }
    }
    if let Some(meta) = cfg_tracked
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
    {
        meta.remove("managedFields");
    }
    let Some(live) = live else {
        let mut obj = merge_applied(None, &cfg_tracked, &root_field(w.kind));
        let mut entries = Vec::new();
        entry_mut(&mut entries, w, "Apply").fields = applied;
        write_entries(&mut obj, &entries);
        return Ok(obj);
    };
    let mut entries = read_entries(live);
    let mut merged = merge_applied(Some(live), &cfg_tracked, &root_field(w.kind));
    let mut conflicts = Vec::new();
    for e in entries.iter_mut() {
        if e.manager == w.manager && e.subresource == w.subresource {
            continue;
        }
        let lost: Vec<Path> = e
            .fields
            .iter()
            .filter(|p| applied.contains(*p) && changes(live, &merged, p))
            .cloned()
            .collect();
        for p in lost {
            if force {
                e.fields.remove(&p);
            } else {
                conflicts.push((e.display(), p));
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(Conflicts(conflicts));
    }
    let before = entries
        .iter()
        .find(|e| {
            e.manager == w.manager && e.operation == "Apply" && e.subresource == w.subresource
        })
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut dropped: Vec<&Path> = before.difference(&applied).collect();
    // Shallowest first: an item goes as a whole (its key fields still find it).
    dropped.sort_by_key(|p| p.len());
    for p in dropped {
        let kept = entries.iter().any(|e| {
            !(e.manager == w.manager && e.operation == "Apply" && e.subresource == w.subresource)
                && e.fields.iter().any(|q| q.starts_with(p))
        }) || applied.iter().any(|q| q.starts_with(p));
        if !kept {
            remove_at(&mut merged, p);
            // What Go's omitempty does to a list or map left empty.
            for i in (1..p.len()).rev() {
                let empty = match get_at(&merged, &p[..i]) {
                    Some(Value::Array(a)) => a.is_empty(),
                    Some(Value::Object(m)) => m.is_empty(),
                    _ => false,
                };
                if !empty {
                    break;
                }
                remove_at(&mut merged, &p[..i]);
            }
        }
    }
    entry_mut(&mut entries, w, "Apply").fields = applied;
    // An apply that changes nothing leaves everything as it was, its time included (and so
    // is no write at all).
    let before = read_entries(live);
    let same_sets = before.len() == entries.len()
        && before.iter().zip(&entries).all(|(a, b)| {
            a.manager == b.manager && a.operation == b.operation && a.fields == b.fields
        });
    let without = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        v
    };
    if same_sets && without(&merged) == without(live) {
        return Ok(live.clone());
    }
    write_entries(&mut merged, &entries);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w<'a>(manager: &'a str) -> Writer<'a> {
        Writer {
            manager,
            api_version: "apps/v1",
            subresource: "",
            kind: "Deployment",
            with_status: false,
        }
    }

    fn deploy(replicas: i64, image: &str) -> Value {
        json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
            "spec":{"replicas":replicas,"selector":{"matchLabels":{"app":"web"}},
            "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
                {"name":"nginx","image":image,"ports":[{"containerPort":80,"protocol":"TCP"}]}]}}}})
    }

    #[test]
    fn fields_v1_of_a_created_object() {
        let mut obj = deploy(2, "nginx");
        record_update(None, &mut obj, &w("kubectl-create"));
        let mf = &obj["metadata"]["managedFields"][0];
        assert_eq!(mf["manager"], "kubectl-create");
        assert_eq!(mf["operation"], "Update");
        assert_eq!(mf["fieldsType"], "FieldsV1");
        let f = &mf["fieldsV1"];
        assert_eq!(f["f:metadata"]["f:labels"], json!({".":{},"f:app":{}}));
        assert_eq!(f["f:spec"]["f:replicas"], json!({}));
        // A label selector is atomic.
        assert_eq!(f["f:spec"]["f:selector"], json!({}));
        // A struct behind a pointer is owned as a whole; one that is a value is not.
        let mut d = deploy(2, "nginx");
        d["spec"]["strategy"] = json!({"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}});
        record_update(None, &mut d, &w("kubectl-create"));
        let strategy = &d["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:strategy"];
        assert_eq!(
            *strategy,
            json!({"f:rollingUpdate":{".":{},"f:maxSurge":{}},"f:type":{}})
        );
        let c = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(c["f:image"], json!({}));
        assert_eq!(
            c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"]["f:containerPort"],
            json!({})
        );
        assert!(f["f:metadata"].get("f:name").is_none());
        // And back.
        let set = from_fields_v1(f);
        assert_eq!(to_fields_v1(&set), *f);
    }

    #[test]
    fn an_update_takes_the_fields_it_changes() {
        let mut a = deploy(2, "nginx");
        record_update(None, &mut a, &w("kubectl-client-side-apply"));
        let mut b = a.clone();
        b["spec"]["replicas"] = json!(5);
        record_update(Some(&a), &mut b, &w("kubectl-scale"));
        let es = read_entries(&b);
        let csa = es
            .iter()
            .find(|e| e.manager == "kubectl-client-side-apply")
            .unwrap();
        let scale = es.iter().find(|e| e.manager == "kubectl-scale").unwrap();
        let replicas: Path = vec!["f:spec".into(), "f:replicas".into()];
        assert!(!csa.fields.contains(&replicas));
        assert_eq!(scale.fields, Set::from([replicas]));
    }

    #[test]
    fn apply_conflicts_with_an_update_manager_then_forces() {
        let mut live = deploy(2, "nginx");
        record_update(None, &mut live, &w("kubectl-client-side-apply"));
        let cfg = deploy(3, "nginx");
        let err = apply(Some(&live), &cfg, &w("kubectl"), false).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        assert_eq!(err.causes()[0]["field"], ".spec.replicas");
        let out = apply(Some(&live), &cfg, &w("kubectl"), true).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        let es = read_entries(&out);
        let csa = es
            .iter()
            .find(|e| e.manager == "kubectl-client-side-apply")
            .unwrap();
        assert!(!csa
            .fields
            .contains(&vec!["f:spec".to_string(), "f:replicas".to_string()]));
        let ssa = es.iter().find(|e| e.manager == "kubectl").unwrap();
        assert_eq!(ssa.operation, "Apply");
        // Same values: shared, no conflict.
        assert!(apply(Some(&live), &deploy(2, "nginx"), &w("kubectl"), false).is_ok());
    }

    #[test]
    fn an_apply_that_changes_nothing_is_the_live_object() {
        let cfg = deploy(2, "nginx");
        let once = apply(None, &cfg, &w("kubectl"), false).unwrap();
        let mut stamped = once.clone();
        stamped["metadata"]["managedFields"][0]["time"] = json!("2000-01-01T00:00:00Z");
        let twice = apply(Some(&stamped), &cfg, &w("kubectl"), false).unwrap();
        assert_eq!(twice, stamped);
        // Apply entries come first.
        let mut o = twice.clone();
        o["metadata"]["labels"]["x"] = json!("y");
        record_update(Some(&twice), &mut o, &w("kubectl-label"));
        assert_eq!(managers_of(&o), ["kubectl", "kubectl-label"]);
    }

    fn managers_of(o: &Value) -> Vec<String> {
        read_entries(o).into_iter().map(|e| e.manager).collect()
    }

    #[test]
    fn update_managers_are_capped_into_ancient_changes() {
        let mut o = deploy(1, "nginx");
        record_update(None, &mut o, &w("creator"));
        for i in 0..12 {
            let mut n = o.clone();
            n["metadata"]["labels"][format!("l{i}")] = json!("x");
            record_update(Some(&o), &mut n, &w(&format!("m{i:02}")));
            o = n;
        }
        let es = read_entries(&o);
        assert_eq!(es.len(), MAX_UPDATE_MANAGERS);
        let ancient = es.iter().find(|e| e.manager == "ancient-changes").unwrap();
        let label = |m: &str| {
            vec![
                "f:metadata".to_string(),
                "f:labels".to_string(),
                format!("f:{m}"),
            ]
        };
        assert!(ancient.fields.contains(&label("l0")));
        assert!(ancient
            .fields
            .contains(&vec!["f:spec".to_string(), "f:replicas".to_string()]));
        assert!(es.iter().any(|e| e.manager == "m11"));
        assert!(!es.iter().any(|e| e.manager == "creator"));
    }

    #[test]
    fn two_conflicts_are_listed_by_manager() {
        let mut live = deploy(2, "nginx");
        record_update(None, &mut live, &w("kubectl-create"));
        let err = apply(Some(&live), &deploy(3, "nginx:2"), &w("kubectl"), false).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 2 conflicts: conflicts with \"kubectl-create\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"
        );
    }

    #[test]
    fn apply_creates_then_removes_what_it_no_longer_applies() {
        let mut cfg = deploy(2, "nginx");
        cfg["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name":"A","value":"1"}]);
        cfg["metadata"]["labels"]["tier"] = json!("front");
        let created = apply(None, &cfg, &w("kubectl"), false).unwrap();
        assert_eq!(
            created["metadata"]["managedFields"][0]["operation"],
            "Apply"
        );
        assert!(
            created["metadata"]["managedFields"][0]["fieldsV1"]["f:metadata"]["f:labels"]
                .get(".")
                .is_none()
        );
        // A second manager adds a label of its own.
        let mut other = created.clone();
        other["metadata"]["labels"]["team"] = json!("x");
        record_update(Some(&created), &mut other, &w("kubectl-label"));
        let out = apply(Some(&other), &deploy(2, "nginx"), &w("kubectl"), false).unwrap();
        assert!(out["metadata"]["labels"].get("tier").is_none());
        assert_eq!(out["metadata"]["labels"]["team"], "x");
        assert!(out["spec"]["template"]["spec"]["containers"][0]
            .get("env")
            .is_none());
        assert_eq!(out["spec"]["replicas"], 2);
    }

    #[test]
    fn sets_and_paths() {
        let obj = json!({"metadata":{"finalizers":["a","b"]}});
        let s = apply_set(&obj, "Pod", false);
        assert!(s.contains(&vec![
            "f:metadata".to_string(),
            "f:finalizers".to_string(),
            "v:\"a\"".to_string()
        ]));
        let p = vec![
            "f:metadata".to_string(),
            "f:finalizers".to_string(),
            "v:\"a\"".to_string(),
        ];
        assert_eq!(path_string(&p), ".metadata.finalizers[=\"a\"]");
        let mut o = obj.clone();
        remove_at(&mut o, &p);
        assert_eq!(o["metadata"]["finalizers"], json!(["b"]));
    }
}

/// Property tests: an applied configuration is the learner's text. Any configuration over any
/// object gives an object or conflicts, never a panic; applying the same configuration twice
/// by the same manager changes nothing the second time; FieldsV1 round-trips.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{config, near_valid_object, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/apiserver_fieldmanager.txt";

    fn w(kind: &str) -> Writer<'_> {
        Writer {
            manager: "kubectl",
            api_version: "v1",
            subresource: "",
            kind,
            with_status: false,
        }
    }

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn apply_twice_is_apply_once(live in near_valid_object(), cfg in near_valid_object()) {
            let kind = live["kind"].as_str().unwrap_or("Pod").to_string();
            let mut live = live;
            record_update(None, &mut live, &w(&kind));
            let _ = apply(Some(&cfg), &live, &w(&kind), false);
            if let Ok(once) = apply(Some(&live), &cfg, &w(&kind), true) {
                let twice = apply(Some(&once), &cfg, &w(&kind), false).expect("no conflict with itself");
                let strip = |v: &Value| {
                    let mut v = v.clone();
                    let entries = v.pointer_mut("/metadata/managedFields").and_then(Value::as_array_mut);
                    for e in entries.into_iter().flatten() {
                        if let Some(m) = e.as_object_mut() {
                            m.insert("time".into(), json!(""));
                        }
                    }
                    v
                };
                prop_assert_eq!(strip(&once), strip(&twice));
            }
        }

        #[test]
        fn fields_v1_round_trips(obj in near_valid_object()) {
            let kind = obj["kind"].as_str().unwrap_or("Pod").to_string();
            let set = update_set(None, &obj, &kind, true);
            prop_assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
        }
    }
}
