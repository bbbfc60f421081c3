//! The table printers of kube-apiserver (`pkg/printers/internalversion/printers.go`): for each
//! kind, the column definitions (name, type, format, description, priority 1 for `-o wide`)
//! and the cells of an object's row, computed as upstream computes them. The API server turns
//! them into `meta.k8s.io/v1 Table` responses (`apiserver::table`), which kubectl prints.
//! Printers are keyed by kind, so a kind gets its columns as soon as the server serves it; any
//! other kind gets the default NAME, AGE table.
//!
//! As upstream's server-side convertor, [`cells`] always computes every column (wide ones
//! included): clients drop the columns whose priority they do not show.

mod apps;
mod common;
mod config;
mod core;
mod network;

use serde_json::Value;
use time::OffsetDateTime;

use common::{arr, s, text, AGE, NAME};
pub use common::{cell_text, format_label_selector, format_labels, selector_string, Column};
pub use core::node_roles;
pub use network::format_endpoints;

/// The default table of kinds without a printer.
const DEFAULT: &[Column] = &[NAME, AGE];

/// The column definitions of `kind`.
pub fn columns(kind: &str) -> &'static [Column] {
    match kind {
        "Pod" => core::POD,
        "Node" => core::NODE,
        "Namespace" => core::NAMESPACE,
        "Service" => network::SERVICE,
        "Endpoints" => network::ENDPOINTS,
        "EndpointSlice" => network::ENDPOINT_SLICE,
        "NetworkPolicy" => network::NETWORK_POLICY,
        "Deployment" => apps::DEPLOYMENT,
        "ReplicaSet" => apps::REPLICA_SET,
        "DaemonSet" => apps::DAEMON_SET,
        "ConfigMap" => config::CONFIG_MAP,
        "Secret" => config::SECRET,
        "ServiceAccount" => config::SERVICE_ACCOUNT,
        "Event" => config::EVENT,
        "Lease" => config::LEASE,
        _ => DEFAULT,
    }
}

/// The cells of `o`'s row, one per column of [`columns`] (wide ones included), as JSON values
/// of the column's type; AGE-like cells are measured from `now`.
pub fn cells(kind: &str, o: &Value, now: OffsetDateTime) -> Vec<Value> {
    let age = Value::String(age(o, now));
    let name = Value::String(s(o, "/metadata/name").to_string());
    match kind {
        "Pod" => core::pod(o, name, age, now),
        "Node" => core::node(o, name, age),
        "Namespace" => vec![name, text(s(o, "/status/phase")), age],
        "Service" => network::service(o, name, age),
        "Endpoints" => vec![name, Value::String(format_endpoints(o)), age],
        "EndpointSlice" => network::endpoint_slice(o, name, age),
        "NetworkPolicy" => vec![
            name,
            Value::String(format_label_selector(o.pointer("/spec/podSelector"))),
            age,
        ],
        "Deployment" => apps::deployment(o, name, age),
        "ReplicaSet" => apps::replica_set(o, name, age),
        "DaemonSet" => apps::daemon_set(o, name, age),
        "ConfigMap" => config::config_map(o, name, age),
        "Secret" => config::secret(o, name, age),
        "ServiceAccount" => vec![name, Value::from(arr(o, "/secrets").len()), age],
        "Event" => config::event(o, now),
        "Lease" => vec![name, text(s(o, "/spec/holderIdentity")), age],
        _ => vec![name, age],
    }
}

/// The row's `conditions` (upstream marks finished pods `Completed`), if any.
pub fn row_conditions(kind: &str, o: &Value) -> Option<Value> {
    match kind {
        "Pod" => core::pod_conditions(o),
        _ => None,
    }
}

/// `translateTimestampSince(metadata.creationTimestamp)`.
fn age(o: &Value, now: OffsetDateTime) -> String {
    crate::kube::time::age(
        o.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str),
        now,
    )
}

#[cfg(test)]
mod tests;
