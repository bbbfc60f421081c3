//! `calico-node -felix`: the NetworkPolicy enforcer of a lab node, and
//! `kplab-agent policy explain`.
//!
//! The enforcer watches Pods, Namespaces and NetworkPolicies in the lab API (list + watch,
//! re-list when a watch ends), renders this node's `cali-*` filter chains with
//! [`netrules::netpol`] (Calico's layout: see that module for the names and for where kplab
//! simplifies felix), and applies them with one `iptables-restore --noflush` transaction:
//! only chains whose rules changed are rewritten, stale `cali-*` chains are deleted, and the
//! two `FORWARD` hooks (jump to `cali-FORWARD` at the top, "Policy explicitly accepted
//! packet." appended) are put back if something moved or removed them. kube-proxy's `KUBE-*`
//! chains and every other rule are never touched. A failed restore changes nothing; its
//! stderr is logged and the sync is retried.
//!
//! Existing connections are not cut when a policy changes (as with felix: conntrack keeps
//! established flows); new connections see the new rules.

pub mod explain;
pub mod sync;

pub use explain::explain_main;
pub use sync::main;
