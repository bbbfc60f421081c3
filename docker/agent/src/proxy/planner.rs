//! The boundary between the kube-proxy sync loop (I/O) and the pure rule planner in `netrules`.
//!
//! The loop hands the planner the current Services, EndpointSlices and Nodes as the API server
//! returned them (JSON), asks for the next restore payload, and reports whether applying it
//! worked. Everything about *what* to write (chain names, partial vs full, stale chains) is the
//! planner's; everything about *how and when* to write it is the loop's.

use std::collections::BTreeSet;

use serde_json::Value;

pub use crate::kube::iptables::JumpRule;

/// The objects kube-proxy watches, as the API returned them.
#[derive(Debug, Clone, Default)]
pub struct ObjectSet {
    /// `v1` Services, all namespaces.
    pub services: Vec<Value>,
    /// `discovery.k8s.io/v1` EndpointSlices, all namespaces.
    pub slices: Vec<Value>,
    /// `v1` Nodes.
    pub nodes: Vec<Value>,
}

/// What one planning round produced.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The `iptables-restore --noflush` input: `*filter … COMMIT\n*nat … COMMIT\n`.
    pub restore_text: String,
    /// Whether this is a full sync (every chain written) rather than a partial one.
    pub full: bool,
    /// Service ports known to the planner (kube-proxy's `numServices`).
    pub num_services: usize,
    /// Endpoints with KUBE-SEP chains (kube-proxy's `numEndpoints`).
    pub num_endpoints: usize,
    /// Stale chains this payload deletes with `-X`.
    pub deleted_chains: usize,
    /// Configuration warnings (logged once by the loop).
    pub warnings: Vec<String>,
}

/// How the planner should find stale per-service chains this round: kube-proxy deletes the
/// chains of services and endpoints that are gone, and in large-cluster mode only once per
/// sync period.
#[derive(Debug, Clone)]
pub enum StaleChains {
    /// Skip stale-chain deletion (large-cluster mode between cleanups, or dry runs).
    Skip,
    /// The chains of the live nat table, from `iptables-save -t nat`.
    Live(BTreeSet<String>),
    /// The planner's own record of what it created (when `iptables-save` failed).
    Recorded,
}

/// The rule planner as the sync loop sees it (implemented over `netrules` in
/// [`super::netrules_planner`]).
pub trait RulePlanner: Send {
    /// Replaces the object set. Returns one message per object that was skipped because it is
    /// malformed (the loop logs each once).
    fn set_objects(&mut self, objects: &ObjectSet) -> Vec<String>;

    /// Makes the next [`RulePlanner::plan`] a full sync (startup, after a failed restore, a
    /// missing canary, the periodic resync).
    fn request_full_sync(&mut self);

    /// Computes the next payload, deleting stale chains as `stale` says.
    fn plan(&mut self, stale: &StaleChains) -> Plan;

    /// Tells the planner whether the last [`Plan`] was applied. After a failure the planner
    /// must treat the kernel state as unknown (the next plan is a full sync).
    fn applied(&mut self, ok: bool);

    /// The health-check node ports to serve and their local endpoint counts, for the objects
    /// of the last [`RulePlanner::set_objects`].
    fn health_checks(&self) -> Vec<netrules::kubeproxy::HealthCheck> {
        Vec::new()
    }

    /// Whether the endpoints of a UDP Service changed since the last call (which resets it), so
    /// that kube-proxy must reconcile the UDP conntrack table. Called after an applied sync.
    fn take_conntrack_cleanup(&mut self) -> bool {
        false
    }

    /// The UDP service ports with their frontends and serving endpoints, for the conntrack
    /// reconciliation.
    fn udp_service_ports(&self) -> Vec<netrules::kubeproxy::conntrack::UdpServicePort> {
        Vec::new()
    }

    /// Whether this planner writes IPv6 rules (the conntrack family to reconcile).
    fn ipv6(&self) -> bool {
        false
    }

    /// The jump rules from built-in chains that kube-proxy installs outside the restore on every
    /// full sync (`iptables -C … || iptables -I …`), in installation order.
    fn jump_rules(&self) -> Vec<JumpRule>;
}
