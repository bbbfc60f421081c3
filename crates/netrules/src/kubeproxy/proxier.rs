//! [`Proxier`]: the stateful, pure planner for kube-proxy's full and partial (KEP-3453) syncs.

use super::config::{Effective, ProxierConfig};
use super::conntrack::UdpServicePort;
use super::objects::{
    endpoints_for_service, service_ports, slice_relevant, Nsn, ServiceEndpoints, SvcPort,
};
use super::writer::{write, WriteInput};
use crate::k8s::{EndpointSlice, Service};
use crate::model::Ruleset;
use crate::Warning;
use std::collections::{BTreeMap, BTreeSet};

/// A Service's health-check node port and what kube-proxy's service health server reports on it
/// (upstream `HealthCheckNodePorts` and `LocalReadyEndpoints`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// `spec.healthCheckNodePort`.
    pub port: u16,
    /// Ready endpoints on this node, counted by IP over all the Service's ports (a pod serving
    /// two ports counts once).
    pub local_endpoints: usize,
}

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
    ports: BTreeMap<Nsn, Vec<SvcPort>>,
    slices: BTreeMap<Nsn, BTreeMap<String, EndpointSlice>>,
    /// Endpoint lists per Service, and the warnings found building them (recomputed only when
    /// the Service's slices change).
    endpoints: BTreeMap<Nsn, ServiceEndpoints>,
    changed: BTreeSet<Nsn>,
    need_full_sync: bool,
    known_chains: BTreeSet<String>,
    prev_known_chains: BTreeSet<String>,
    /// The endpoints of a UDP Service changed since the last
    /// [`Proxier::take_conntrack_cleanup`] (upstream's `ConntrackCleanupRequired`).
    conntrack_cleanup: bool,
}

impl Proxier {
    /// A proxier that has synced nothing yet (the first sync is full).
    pub fn new(cfg: ProxierConfig) -> Proxier {
        let (eff, config_warnings) = Effective::new(&cfg);
        Proxier {
            cfg,
            eff,
            config_warnings,
            ports: BTreeMap::new(),
            slices: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            changed: BTreeSet::new(),
            need_full_sync: true,
            known_chains: BTreeSet::new(),
            prev_known_chains: BTreeSet::new(),
            conntrack_cleanup: false,
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
        let mut warnings = Vec::new();
        let family = self.eff.family;
        let mut ports: BTreeMap<Nsn, Vec<SvcPort>> = BTreeMap::new();
        for s in services {
            let nsn = (s.metadata.namespace.clone(), s.metadata.name.clone());
            let sp = service_ports(s, family, &mut warnings);
            if !sp.is_empty() {
                ports.entry(nsn).or_default().extend(sp);
            }
        }
        let mut by_svc: BTreeMap<Nsn, BTreeMap<&str, &EndpointSlice>> = BTreeMap::new();
        for sl in slices {
            if !slice_relevant(sl, family) {
                if sl.address_type == family.as_k8s() && sl.service_name().is_none() {
                    warnings.push(Warning::object(
                        "EndpointSlice",
                        &format!("{}/{}", sl.metadata.namespace, sl.metadata.name),
                        "Error getting endpoint slice cache keys",
                        "no kubernetes.io/service-name label set on endpoint slice",
                    ));
                }
                continue;
            }
            let nsn = (
                sl.metadata.namespace.clone(),
                sl.service_name().unwrap_or_default().to_string(),
            );
            by_svc
                .entry(nsn)
                .or_default()
                .insert(sl.metadata.name.as_str(), sl);
        }
        // Changes, as the two change trackers would record them.
        for (nsn, p) in &ports {
            if self.ports.get(nsn) != Some(p) {
                self.changed.insert(nsn.clone());
            }
        }
        for nsn in self.ports.keys() {
            if !ports.contains_key(nsn) {
                self.changed.insert(nsn.clone());
            }
        }
        let mut new_slices: BTreeMap<Nsn, BTreeMap<String, EndpointSlice>> = BTreeMap::new();
        let mut new_endpoints = BTreeMap::new();
        let mut old_slices = std::mem::take(&mut self.slices);
        let mut old_endpoints = std::mem::take(&mut self.endpoints);
        let has_udp = |nsn: &Nsn| {
            [self.ports.get(nsn), ports.get(nsn)]
                .into_iter()
                .flatten()
                .flatten()
                .any(|p| p.proto == "udp")
        };
        for (nsn, sl) in by_svc {
            let same = old_slices.get(&nsn).is_some_and(|old| {
                old.len() == sl.len()
                    && old
                        .iter()
                        .zip(sl.iter())
                        .all(|((on, os), (nn, ns))| on == nn && os == *ns)
            });
            if same {
                let eps = old_endpoints.remove(&nsn).unwrap_or_default();
                warnings.extend(eps.1.iter().cloned());
                new_endpoints.insert(nsn.clone(), eps);
                new_slices.insert(nsn.clone(), old_slices.remove(&nsn).unwrap_or_default());
            } else {
                self.changed.insert(nsn.clone());
                self.conntrack_cleanup |= has_udp(&nsn);
                let owned: BTreeMap<String, EndpointSlice> = sl
                    .into_iter()
                    .map(|(n, s)| (n.to_string(), s.clone()))
                    .collect();
                let mut w = Vec::new();
                let eps = endpoints_for_service(
                    &nsn,
                    &owned,
                    family,
                    &self.eff.node_name,
                    self.eff.node_hints,
                    &mut w,
                );
                warnings.extend(w.iter().cloned());
                new_endpoints.insert(nsn.clone(), (eps, w));
                new_slices.insert(nsn, owned);
            }
        }
        for nsn in old_slices.keys() {
            if !new_slices.contains_key(nsn) {
                self.changed.insert(nsn.clone());
                self.conntrack_cleanup |= has_udp(nsn);
            }
        }
        self.ports = ports;
        self.slices = new_slices;
        self.endpoints = new_endpoints;
        warnings
    }

    /// The health-check node ports kube-proxy serves: one per `LoadBalancer` Service with
    /// `externalTrafficPolicy: Local` and a valid `healthCheckNodePort`, by namespace and name.
    pub fn health_checks(&self) -> Vec<HealthCheck> {
        self.ports
            .iter()
            .filter_map(|(nsn, ports)| {
                let port = ports.iter().map(|p| p.hc_node_port).find(|&p| p != 0)?;
                let local: BTreeSet<&str> = self
                    .endpoints
                    .get(nsn)
                    .map(|(by_port, _)| {
                        by_port
                            .values()
                            .flatten()
                            .filter(|e| e.ready && e.local)
                            .map(|e| e.ip.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                Some(HealthCheck {
                    namespace: nsn.0.clone(),
                    name: nsn.1.clone(),
                    port,
                    local_endpoints: local.len(),
                })
            })
            .collect()
    }

    /// Whether the endpoints of a UDP Service changed since the last call (which resets it):
    /// kube-proxy then reconciles the UDP conntrack table after its sync (see
    /// [`super::conntrack`]). Call it only after a sync was applied, so that a failed restore
    /// does not lose the cleanup.
    pub fn take_conntrack_cleanup(&mut self) -> bool {
        std::mem::take(&mut self.conntrack_cleanup)
    }

    /// The UDP service ports with their frontends and serving endpoint IPs, for
    /// [`super::conntrack::stale_filters`].
    pub fn udp_service_ports(&self) -> Vec<UdpServicePort> {
        self.ports
            .iter()
            .flat_map(|(nsn, ports)| ports.iter().map(move |p| (nsn, p)))
            .filter(|(_, p)| p.proto == "udp")
            .map(|(nsn, p)| {
                let serving = self
                    .endpoints
                    .get(nsn)
                    .and_then(|(by_port, _)| by_port.get(&p.key))
                    .into_iter()
                    .flatten()
                    .filter(|e| e.serving)
                    .filter_map(|e| e.ip.parse().ok())
                    .collect();
                let mut ips = vec![p.cluster_ip];
                ips.extend(&p.lb_vips);
                ips.extend(&p.external_ips);
                UdpServicePort {
                    ips,
                    port: p.port,
                    node_port: p.node_port,
                    serving,
                }
            })
            .collect()
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
        let mut ports: Vec<&SvcPort> = self.ports.values().flatten().collect();
        // kube-proxy walks a Go map (random order); we use service port name order.
        ports.sort_by(|a, b| (&a.spn, a.proto).cmp(&(&b.spn, b.proto)));
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
            endpoints: &self.endpoints,
            full,
            changed: &self.changed,
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
        self.changed.clear();
        self.need_full_sync = false;
        SyncResult {
            restore_text: out.ruleset.to_restore_text(),
            ruleset: out.ruleset,
            full,
            services_changed: out.services_written,
            deleted_chains: deleted,
            large_cluster_mode: out.large_cluster_mode,
            num_service_ports: ports.len(),
            num_endpoints: out.total_endpoints,
            warnings: self.config_warnings.clone(),
        }
    }
}
