//! What a fresh cluster has (the four namespaces, the `default/kubernetes` Service and its
//! endpoints), created through the same handlers as any request.

use serde_json::{json, Value};

use super::handlers::create::{create, replace, Mode};
use super::state::AppState;
#[cfg(test)]
use super::state::Config;
use super::store::Store;
use crate::kube::client::{Resource, ENDPOINTS, ENDPOINT_SLICES, NAMESPACES, SERVICES};
#[cfg(test)]
use std::path::PathBuf;

/// Creates what a fresh cluster has: the four namespaces and the `default/kubernetes`
/// Service with its Endpoints and EndpointSlice (pointing at `advertise_address`), and keeps
/// those endpoints current when the address changed since the state was saved.
pub fn bootstrap(app: &AppState) {
    let mut st = app.store();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if st.get(&NAMESPACES, "", ns).is_none() {
            let _ = create(
                app,
                &mut st,
                &NAMESPACES,
                None,
                json!({"metadata": {"name": ns}}),
            );
        }
    }
    super::addons::bootstrap_addons(app, &mut st);
    if st.get(&SERVICES, "default", "kubernetes").is_none() {
        let svc = json!({
            "metadata": {"name": "kubernetes", "namespace": "default",
                          "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP", "sessionAffinity": "None",
                      "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": app.config().advertise_port}]},
        });
        if let Err(e) = create(app, &mut st, &SERVICES, Some("default"), svc) {
            tracing::error!(error = %e.0.message, "cannot create the kubernetes Service");
        }
    }
    let Some(ip) = app.config().advertise_address.clone() else {
        return;
    };
    let port = app.config().advertise_port;
    let ep = json!({
        "metadata": {"name": "kubernetes", "namespace": "default",
                      "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    upsert(app, &mut st, &ENDPOINTS, ep, "subsets");
    let slice = json!({
        "metadata": {"name": "kubernetes", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    upsert(app, &mut st, &ENDPOINT_SLICES, slice, "endpoints");
}

fn upsert(app: &AppState, st: &mut Store, res: &'static Resource, obj: Value, field: &str) {
    match st.get(res, "default", "kubernetes").cloned() {
        None => {
            if let Err(e) = create(app, st, res, Some("default"), obj) {
                tracing::error!(error = %e.0.message, resource = res.plural, "cannot create bootstrap object");
            }
        }
        Some(mut old)
            if old.get(field) != obj.get(field)
                || (res.kind == "EndpointSlice" && old.get("ports") != obj.get("ports")) =>
        {
            old[field] = obj[field].clone();
            if let Some(p) = obj.get("ports") {
                old["ports"] = p.clone();
            }
            if let Err(e) = replace(app, st, res, Some("default"), "kubernetes", old, Mode::Main) {
                tracing::error!(error = %e.0.message, resource = res.plural, "cannot update bootstrap object");
            }
        }
        Some(_) => {}
    }
}

/// A fresh state with the bootstrap objects and no persistence, for tests that call the
/// handlers directly.
#[cfg(test)]
pub(crate) fn test_state() -> AppState {
    let (_closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let app = AppState::new(
        Store::new(),
        PathBuf::from("/nonexistent/kplab-test"),
        Config::default(),
        closing_rx,
    );
    bootstrap(&app);
    app
}
