//! What the API server does around some kinds beyond storing them: a `default` ServiceAccount
//! in every new namespace (kube-controller-manager's serviceaccounts controller does it in a
//! real cluster), the Event store's bounds (events expire after one hour, as
//! kube-apiserver's `--event-ttl`, and at most [`EVENTS_PER_NAMESPACE`] per namespace), and
//! deletion with `propagationPolicy: Orphan` (`kubectl delete --cascade=orphan`), and the
//! garbage collector's sweep ([`collect_garbage`]: objects whose owners are all gone).

use serde_json::json;
use serde_json::Value;

use super::create::create;
use super::delete::success_status;
use super::errors::not_found;
use super::errors::ApiResult;
use crate::apiserver::state::AppState;
use crate::apiserver::store::key_of;
use crate::apiserver::store::Store;
use crate::kube::client::Resource;
use crate::kube::client::EVENTS;
use crate::kube::client::RESOURCES;
use crate::kube::client::SERVICE_ACCOUNTS;
use crate::kube::time::rfc3339;

/// How long an Event lives (kube-apiserver's default `--event-ttl`).
pub const EVENT_TTL: std::time::Duration = std::time::Duration::from_secs(3600);
/// The most Events kept per namespace; the oldest go first.
pub const EVENTS_PER_NAMESPACE: usize = 200;

/// Runs after an object was created.
pub(crate) fn after_create(app: &AppState, st: &mut Store, res: &Resource, obj: &Value) {
    match res.kind {
        "Namespace" => {
            let ns = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            ensure_default_service_account(app, st, ns);
        }
        "Event" => {
            let ns = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            prune_events(st, Some(&ns));
        }
        _ => {}
    }
}

/// Admission checks of a create, after validation: a pod's ServiceAccount must exist (the
/// ServiceAccount admission plugin's `pods "web" is forbidden: error looking up service
/// account default/foo: serviceaccount "foo" not found`).
pub(crate) fn admit(st: &Store, res: &Resource, obj: &Value) -> ApiResult<()> {
    if res.kind != "Pod" {
        return Ok(());
    }
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let sa = obj
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    if st.get(&SERVICE_ACCOUNTS, ns, sa).is_some() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut s = crate::kube::client::Status::new(
        403,
        "Forbidden",
        format!(
            "pods \"{name}\" is forbidden: error looking up service account {ns}/{sa}: serviceaccount \"{sa}\" not found"
        ),
    );
    s.details = Some(Box::new(super::errors::details(res, name)));
    Err(super::errors::ApiError(s))
}

/// Creates ServiceAccount `default` in `ns` when it is missing.
pub(crate) fn ensure_default_service_account(app: &AppState, st: &mut Store, ns: &str) {
    if ns.is_empty() || st.get(&SERVICE_ACCOUNTS, ns, "default").is_some() {
        return;
    }
    let sa = json!({"metadata": {"name": "default", "namespace": ns}});
    if let Err(e) = create(app, st, &SERVICE_ACCOUNTS, Some(ns), sa) {
        tracing::warn!(namespace = ns, error = %e.0.message, "cannot create the default ServiceAccount");
    }
}

fn event_time(e: &Value) -> String {
    for p in [
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ] {
        if let Some(t) = e
            .pointer(p)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            // Compare at second precision (`2026-01-02T03:04:05`).
            return t.chars().take(19).collect();
        }
    }
    String::new()
}

/// Removes expired Events (all namespaces, or one) and the oldest beyond the cap.
pub(crate) fn prune_events(st: &mut Store, namespace: Option<&str>) -> bool {
    let cutoff: String = rfc3339(time::OffsetDateTime::now_utc() - EVENT_TTL)
        .chars()
        .take(19)
        .collect();
    let mut by_ns: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for e in st.list(&EVENTS, namespace) {
        let (ns, name) = key_of(e);
        by_ns.entry(ns).or_default().push((event_time(e), name));
    }
    let mut removed = false;
    for (ns, mut events) in by_ns {
        events.sort();
        let excess = events.len().saturating_sub(EVENTS_PER_NAMESPACE);
        for (i, (t, name)) in events.iter().enumerate() {
            if i < excess || t.as_str() < cutoff.as_str() {
                st.remove(&EVENTS, &ns, name);
                removed = true;
            }
        }
    }
    removed
}

/// The `propagationPolicy` of a DELETE: the query parameter, else the DeleteOptions body.
pub(crate) fn propagation_policy(
    q: &std::collections::HashMap<String, String>,
    body: &[u8],
) -> Option<String> {
    if let Some(p) = q.get("propagationPolicy") {
        return Some(p.clone());
    }
    if let Ok(opts) = serde_json::from_slice::<Value>(body) {
        if let Some(p) = opts.get("propagationPolicy").and_then(Value::as_str) {
            return Some(p.to_string());
        }
        // The old DeleteOptions field kubectl still understands.
        if opts.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            return Some("Orphan".to_string());
        }
    }
    None
}

/// Deletes an object and leaves its dependents, with the owner's reference removed from them
/// (what the garbage collector's orphan finalizer does).
pub(crate) fn delete_orphaning(
    st: &mut Store,
    res: &'static Resource,
    ns: &str,
    name: &str,
) -> ApiResult<Value> {
    let obj = st
        .get(res, ns, name)
        .cloned()
        .ok_or_else(|| not_found(res, name))?;
    if matches!(res.kind, "Pod" | "Namespace") {
        return super::delete::delete(st, res, ns, name, None);
    }
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let owner_ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    for r in RESOURCES {
        let deps: Vec<Value> = st
            .list(r, if r.namespaced { owner_ns } else { None })
            .into_iter()
            .filter(|o| {
                o.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|x| x.get("uid").and_then(Value::as_str) == Some(uid.as_str()))
                    })
            })
            .cloned()
            .collect();
        for mut d in deps {
            if let Some(refs) = d
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|x| x.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                if refs.is_empty() {
                    if let Some(m) = d.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("ownerReferences");
                    }
                }
            }
            st.put(r, d);
        }
    }
    let removed = st.remove(res, ns, name).unwrap_or(obj);
    Ok(success_status(res, &removed))
}

/// Whether the owner an ownerReference names exists (same uid). Owners of kinds this server
/// does not serve count as present: nothing here could prove them gone.
fn owner_exists(st: &Store, ns: &str, r: &Value) -> bool {
    let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(res) = Resource::by_kind(kind) else {
        return true;
    };
    let name = r.get("name").and_then(Value::as_str).unwrap_or("");
    let owner_ns = if res.namespaced { ns } else { "" };
    match st.get(res, owner_ns, name) {
        None => false,
        Some(o) => match r.get("uid").and_then(Value::as_str) {
            Some(uid) => o.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid),
            None => true,
        },
    }
}

/// One pass of the garbage collector (kube-controller-manager's, done here where the objects
/// are): deletes every object that has ownerReferences and none of whose owners exists any
/// more (pods gracefully), as background propagation eventually does. Returns how many.
pub(crate) fn collect_garbage(st: &mut Store) -> usize {
    let mut doomed: Vec<(&'static Resource, String, String)> = Vec::new();
    for r in RESOURCES {
        for o in st.list(r, None) {
            let Some(refs) = o
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .filter(|refs| !refs.is_empty())
            else {
                continue;
            };
            if o.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let (ns, name) = key_of(o);
            if refs.iter().all(|x| !owner_exists(st, &ns, x)) {
                doomed.push((r, ns, name));
            }
        }
    }
    let n = doomed.len();
    for (r, ns, name) in doomed {
        tracing::info!(resource = r.plural, namespace = %ns, name = %name, "garbage collected: its owners are gone");
        let _ = super::delete::delete(st, r, &ns, &name, None);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::bootstrap::test_state;
    use crate::kube::client::CONFIG_MAPS;

    #[test]
    fn the_collector_deletes_what_has_lost_every_owner() {
        let app = test_state();
        let mut st = app.store();
        let owner = create(
            &app,
            &mut st,
            &CONFIG_MAPS,
            Some("default"),
            json!({"metadata": {"name": "owner"}}),
        )
        .unwrap();
        let uid = owner["metadata"]["uid"].clone();
        let dep = |name: &str, refs: Value| json!({"metadata": {"name": name, "ownerReferences": refs}, "data": {}});
        let owned = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]);
        let dangling =
            json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "gone"}]);
        let foreign =
            json!([{"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "x"}]);
        for (n, r) in [("a", owned), ("b", dangling), ("c", foreign)] {
            create(&app, &mut st, &CONFIG_MAPS, Some("default"), dep(n, r)).unwrap();
        }
        assert_eq!(collect_garbage(&mut st), 1);
        assert!(st.get(&CONFIG_MAPS, "default", "a").is_some());
        assert!(
            st.get(&CONFIG_MAPS, "default", "b").is_none(),
            "its owner's uid is gone"
        );
        assert!(
            st.get(&CONFIG_MAPS, "default", "c").is_some(),
            "an owner kind we do not serve"
        );
        assert_eq!(collect_garbage(&mut st), 0);
    }
}
