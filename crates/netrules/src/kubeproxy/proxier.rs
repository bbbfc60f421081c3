//! [`Proxier`]: the stateful, pure planner for kube-proxy's full and partial (KEP-3453) syncs.

use super::config::{Effective, ProxierConfig};
use super::conntrack::UdpServicePort;
use super::tracker::{HealthCheck, Tracker};
use super::writer::{write, WriteInput};
use crate::k8s::{EndpointSlice, Service};
use crate::model::Ruleset;
use crate::Warning;
use std::collections::{BTreeMap, BTreeSet};

/// What one [`Proxier::sync`] produced.
#[derive(Clone, Debug)]
pub struct SyncResult {
    /// The `iptables-restore --noflush --counters` input.
    pub restore_text: String,
    /// The structured ruleset behind `restore_text`.
    pub ruleset: Ruleset,
    /// True for a full sync: every per-service chain is written, and the caller must (re)install
    /// [`super::jump_rules`] and the canary chains before/after restoring, as kube-proxy does.
    pub full: bool,
    /// Services (`namespace`, `name`) whose SVC/SVL/EXT/FW/SEP chains were written this time.
    pub services_changed: Vec<(String, String)>,
    /// Stale chains deleted with `-X`.
    pub deleted_chains: Vec<String>,
    /// More than 1000 endpoints: comments on SEP rules are dropped, and kube-proxy only cleans
    /// stale chains once per `syncPeriod` (see [`SyncOptions::cleanup_stale_chains`]).
    pub large_cluster_mode: bool,
    /// Number of service ports and of endpoints (all conditions) considered.
    pub num_service_ports: usize,
    /// Sum of endpoint-list lengths over service ports.
    pub num_endpoints: usize,
    /// Configuration warnings (e.g. no cluster CIDR for the local-traffic detector).
    pub warnings: Vec<Warning>,
}

/// Per-sync knobs for the I/O layer.
#[derive(Clone, Debug)]
pub struct SyncOptions<'a> {
    /// The nat chains that really exist (from `iptables-save -t nat`), as kube-proxy uses to
    /// find stale chains. `None`: use the planner's own record of what it created.
    pub existing_nat_chains: Option<&'a [String]>,
    /// Whether to delete stale chains this time (kube-proxy skips this in large-cluster mode
    /// unless `syncPeriod` has passed since the last cleanup).
    pub cleanup_stale_chains: bool,
}

impl Default for SyncOptions<'_> {
    fn default() -> Self {
        SyncOptions {
            existing_nat_chains: None,
            cleanup_stale_chains: true,
        }
    }
}

/// A pure model of kube-proxy's iptables `Proxier`: feed it the complete current objects with
/// [`Proxier::set_objects`] whenever they change, call [`Proxier::sync`] to get the restore
/// input. The first sync is full; later ones are partial (only the chains of Services whose
/// Service or EndpointSlices changed are rewritten; `KUBE-SERVICES`, `KUBE-NODEPORTS`, the
/// fixed chains and the filter table are always written in full) until
/// [`Proxier::request_full_sync`] is called, e.g. after a failed `iptables-restore`, when the
/// canary chain vanished, or hourly.
///
/// ```
/// use netrules::kubeproxy::{Proxier, ProxierConfig};
/// let objs = netrules::k8s::load("kind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n").objects;
/// let mut p = Proxier::new(ProxierConfig { node_name: "node-1".into(), ..Default::default() });
/// p.set_objects(&objs.services, &objs.endpoint_slices);
/// let first = p.sync();
/// assert!(first.full && first.restore_text.contains("default/web has no endpoints"));
/// // ... run `iptables-restore --noflush --counters` with first.restore_text; on failure:
/// // p.request_full_sync();
/// let second = p.sync();
/// assert!(!second.full);
/// ```
#[derive(Debug)]
pub struct Proxier {
    cfg: ProxierConfig,
    eff: Effective,
    config_warnings: Vec<Warning>,
    tracker: Tracker,
    need_full_sync: bool,
    known_chains: BTreeSet<String>,
    prev_known_chains: BTreeSet<String>,
}

impl Proxier {
    /// A proxier that has synced nothing yet (the first sync is full).
    pub fn new(cfg: ProxierConfig) -> Proxier {
        let (eff, config_warnings) = Effective::new(&cfg);
        Proxier {
            cfg,
            eff,
            config_warnings,
            tracker: Tracker::default(),
            need_full_sync: true,
            known_chains: BTreeSet::new(),
            prev_known_chains: BTreeSet::new(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProxierConfig {
        &self.cfg
    }

    /// Replaces the node's topology labels; like kube-proxy's `OnTopologyChange`, a change forces
    /// a full sync.
    pub fn set_topology_labels(&mut self, labels: BTreeMap<String, String>) {
        if labels != self.cfg.topology_labels {
            self.cfg.topology_labels = labels;
            let (eff, w) = Effective::new(&self.cfg);
            self.eff = eff;
            self.config_warnings = w;
            self.need_full_sync = true;
        }
    }

    /// Makes the next sync a full one (after a failed restore, a vanished canary chain, the
    /// hourly resync, …).
    pub fn request_full_sync(&mut self) {
        self.need_full_sync = true;
    }

    /// Tells the planner that the restore of the last sync failed: nothing of it is in the
    /// kernel, so the chains it meant to delete still exist and the next sync is full (as
    /// kube-proxy sets `needFullSync` after a failed restore).
    pub fn restore_failed(&mut self) {
        let prev = std::mem::take(&mut self.prev_known_chains);
        self.known_chains.extend(prev);
        self.need_full_sync = true;
    }

    /// Whether the next sync will be full.
    pub fn needs_full_sync(&self) -> bool {
        self.need_full_sync
    }

    /// Replaces the whole set of Services and EndpointSlices. Services and slices that differ
    /// from the previous call (for slices: any field, including `resourceVersion`, as the
    /// informer sees it) mark their Service as changed for the next partial sync. Returns
    /// warnings about malformed objects (they are skipped; other Services are unaffected).
    pub fn set_objects<'a>(
        &mut self,
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> Vec<Warning> {
        self.tracker.set_objects(&self.eff, services, slices)
    }

    /// The health-check node ports kube-proxy serves: one per `LoadBalancer` Service with
    /// `externalTrafficPolicy: Local` and a valid `healthCheckNodePort`, by namespace and name.
    pub fn health_checks(&self) -> Vec<HealthCheck> {
        self.tracker.health_checks()
    }

    /// Whether the endpoints of a UDP Service changed since the last call (which resets it):
    /// kube-proxy then reconciles the UDP conntrack table after its sync (see
    /// [`super::conntrack`]). Call it only after a sync was applied, so that a failed restore
    /// does not lose the cleanup.
    pub fn take_conntrack_cleanup(&mut self) -> bool {
        self.tracker.take_conntrack_cleanup()
    }

    /// The UDP service ports with their frontends and serving endpoint IPs, for
    /// [`super::conntrack::stale_filters`].
    pub fn udp_service_ports(&self) -> Vec<UdpServicePort> {
        self.tracker.udp_service_ports()
    }

    /// Computes the next restore input with default [`SyncOptions`] (stale chains found from the
    /// planner's own record). The planner assumes the restore will succeed; if it does not,
    /// call [`Proxier::request_full_sync`].
    pub fn sync(&mut self) -> SyncResult {
        self.sync_with(SyncOptions::default())
    }

    /// [`Proxier::sync`] with explicit options.
    pub fn sync_with(&mut self, opts: SyncOptions<'_>) -> SyncResult {
        let full = self.need_full_sync;
        let ports = self.tracker.sorted_ports();
        let existing: BTreeSet<String>;
        let existing_ref = if opts.cleanup_stale_chains {
            existing = match opts.existing_nat_chains {
                Some(list) => list.iter().cloned().collect(),
                None => self.known_chains.clone(),
            };
            Some(&existing)
        } else {
            None
        };
        let out = write(WriteInput {
            eff: &self.eff,
            ports: &ports,
            endpoints: &self.tracker.endpoints,
            full,
            changed: &self.tracker.changed,
            existing_nat_chains: existing_ref,
        });
        let deleted: Vec<String> = out
            .ruleset
            .table("nat")
            .map(|t| t.deleted_chains().map(str::to_string).collect())
            .unwrap_or_default();
        // What exists after this restore: the active chains, plus stale ones not cleaned.
        let mut known = out.active_nat_chains.clone();
        if !opts.cleanup_stale_chains {
            known.extend(
                self.known_chains
                    .iter()
                    .filter(|c| !out.active_nat_chains.contains(*c))
                    .cloned(),
            );
        }
        self.prev_known_chains = std::mem::replace(&mut self.known_chains, known);
        let num_service_ports = ports.len();
        self.tracker.changed.clear();
        self.need_full_sync = false;
        SyncResult {
            restore_text: out.ruleset.to_restore_text(),
            ruleset: out.ruleset,
            full,
            services_changed: out.services_written,
            deleted_chains: deleted,
            large_cluster_mode: out.large_cluster_mode,
            num_service_ports,
            num_endpoints: out.total_endpoints,
            warnings: self.config_warnings.clone(),
        }
    }
}
