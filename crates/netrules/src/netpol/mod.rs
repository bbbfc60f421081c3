//! NetworkPolicy (`networking.k8s.io/v1`) for kplab's nodes, pure (no I/O): namespaces, pods
//! and policies plus the node's facts become Calico-layout filter chains and
//! `iptables-restore --noflush` text; the loaded rules can be parsed back and a packet traced
//! through them to say which chain and rule decided ("explain").
//!
//! * [`objects`]: the objects, with the API server's defaulting, and a file loader;
//! * [`semantics`]: the decision written from the specification (the reference the rules are
//!   tested against);
//! * [`render`]: the Calico layout (chain names, order, comments, simplifications);
//! * [`iptsave`]: an `iptables-save` parser;
//! * [`tracer`]: walks a packet through a parsed table;
//! * [`explain`]: verdict + deciding rule for a pod-to-pod connection;
//! * [`e2e_model`]: the upstream e2e model (x,y,z × a,b,c) and the scenario catalogue.

pub mod e2e_model;
pub mod explain;
pub mod iptsave;
pub mod objects;
pub mod render;
pub mod semantics;
pub mod tracer;

pub use objects::{Cluster, NetworkPolicy, Pod, Protocol};
pub use render::{render, NodeFacts, Rendered};
