//! NetworkPolicy (`networking.k8s.io/v1`) for kplab's nodes, pure (no I/O): namespaces, pods
//! and policies plus the node's facts become Calico-layout filter chains and
//! `iptables-restore --noflush` text; the loaded rules can be parsed back and a packet traced
//! through them to say which chain and rule decided ("explain").
//!
//! * [`objects`]: the objects, with the API server's defaulting, and a file loader;
//! * [`semantics`]: the decision written from the specification (the reference the rules are
//!   tested against);
//! * [`render`]: the Calico layout (chain names, order, comments, simplifications);
//! * [`tracer`]: walks a packet through a filter table parsed by [`crate::save`];
//! * [`explain`]: verdict + deciding rule for a pod-to-pod connection;
//! * [`e2e_model`]: the upstream e2e model (x,y,z × a,b,c) and the scenario catalogue.

pub mod e2e_model;
pub mod explain;
pub mod objects;
pub mod render;
pub mod semantics;
pub mod tracer;

pub use objects::{Cluster, NetworkPolicy, Pod, Protocol};
pub use render::{render, NodeFacts, Rendered};

/// Reads the `filter` table out of `iptables-save` output (an empty table when there is none).
pub fn parse_filter(text: &str) -> Result<crate::save::SaveTable, crate::save::ParseError> {
    crate::save::parse_table(text, "filter")
}
