//! Defaulting and validation of objects, with the real API server's field paths and messages.
//!
//! Each kind has a `default_*` function (fills what the real API server fills before storing)
//! and a `validate_*` function returning [`FieldError`]s; [`invalid_status`] turns them into the
//! `422 Invalid` Status (`Service "web" is invalid: spec.ports[0].port: Invalid value: 70000:
//! must be between 1 and 65535, inclusive`). Checks that need the store (allocated ClusterIPs
//! and NodePorts, namespaces) live in the handlers.

pub mod config_kinds;
pub mod deployments;
pub mod errors;
pub mod fields;
pub mod names;
pub mod other_kinds;
pub mod pods;
pub mod services;
#[cfg(test)]
mod tests;

pub use config_kinds::{
    decode_check, default_secret, validate_config_map, validate_config_update, validate_event,
    validate_lease, validate_secret,
};
pub use deployments::{
    default_daemon_set, default_deployment, default_replica_set, validate_daemon_set,
    validate_deployment, validate_replica_set,
};
pub use errors::{invalid_status, ErrorKind, FieldError};
pub use other_kinds::{
    default_namespace, default_network_policy, validate_endpoint_slice, validate_network_policy,
    validate_simple,
};
pub use pods::{default_pod, initial_pod_status, validate_pod, validate_pod_update};
pub use services::{default_service, validate_service};
