//! kube-proxy's nftables mode (`pkg/proxy/nftables`, the v1.36 line) as a pure planner:
//! [`render_nft`] for the table a full sync leaves on a clean node, [`NftProxier`] for the
//! transactions of the sync loop (a full sync, then partial ones that touch only the changed
//! Services' chains and the map elements), stale-chain cleanup included.
//!
//! Everything lives in one table, `ip kube-proxy` (or `ip6 kube-proxy`). Traffic is dispatched
//! by verdict maps keyed on `daddr . l4proto . dport` instead of a chain of rules per Service,
//! which is why a sync costs the same at 10 Services and at 10,000.

mod sync;
mod tx;

pub use tx::TABLE;

use super::config::{Effective, ProxierConfig};
use super::conntrack::UdpServicePort;
use super::tracker::{HealthCheck, Tracker};
use crate::ip::{parse_cidr_sloppy, IpFamily};
use crate::k8s::{EndpointSlice, Objects, Service};
use crate::Warning;
use std::collections::BTreeMap;
use sync::BuildInput;
use tx::{Kernel, TableState, Tx};

/// What [`render_nft`] produced.
#[derive(Clone, Debug)]
pub struct NftRendered {
    /// The table after the first full sync on a clean node, in knftables' `Fake.Dump()` format
    /// (one object per line; `nft -f` accepts it).
    pub dump: String,
    /// The transaction kube-proxy sends for that sync (with its flushes and deletes).
    pub transaction: String,
    /// Warnings about the configuration and about skipped objects.
    pub warnings: Vec<Warning>,
}

/// The nftables table kube-proxy holds after its first full sync on a clean node. The Service
/// CIDRs are `cfg.service_cidrs`, else the ServiceCIDR objects in `objects`.
pub fn render_nft(cfg: &ProxierConfig, objects: &Objects) -> NftRendered {
    let mut cfg = cfg.clone();
    if cfg.service_cidrs.is_empty() {
        cfg.service_cidrs = objects.service_cidrs.clone();
    }
    let mut p = NftProxier::new(cfg);
    let mut warnings = p.set_objects(&objects.services, &objects.endpoint_slices);
    let r = p.sync(0);
    let applied = p.applied(true);
    let mut all = r.warnings;
    all.append(&mut warnings);
    if let Err(e) = applied {
        all.push(Warning::config(
            "the transaction does not apply to a clean table".into(),
            &e,
        ));
    }
    NftRendered {
        dump: p.dump(),
        transaction: r.transaction,
        warnings: all,
    }
}

/// What one [`NftProxier::sync`] produced.
#[derive(Clone, Debug)]
pub struct NftSyncResult {
    /// The `nft -f -` input.
    pub transaction: String,
    /// Whether this was a full sync (every object re-asserted, every Service's chains rewritten).
    pub full: bool,
    /// Services (`namespace`, `name`) whose chains were written.
    pub services_changed: Vec<(String, String)>,
    /// Service chains flushed this time; they are deleted by a later
    /// [`NftProxier::stale_cleanup`], once no map element can still point to them.
    pub stale_chains: Vec<String>,
    /// Number of service ports and of endpoints considered.
    pub num_service_ports: usize,
    /// Sum of endpoint-list lengths over service ports.
    pub num_endpoints: usize,
    /// Configuration warnings.
    pub warnings: Vec<Warning>,
}

/// A pure model of kube-proxy's nftables `Proxier`. Feed it the complete objects with
/// [`NftProxier::set_objects`], call [`NftProxier::stale_cleanup`] then [`NftProxier::sync`] to
/// get transactions, and report each one's fate with `applied`.
///
/// ```
/// use netrules::kubeproxy::{nft::NftProxier, ProxierConfig};
/// let objs = netrules::k8s::load("kind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n").objects;
/// let mut p = NftProxier::new(ProxierConfig { node_name: "node-1".into(), ..Default::default() });
/// p.set_objects(&objs.services, &objs.endpoint_slices);
/// let first = p.sync(0);
/// assert!(first.full && first.transaction.contains("goto reject-chain"));
/// // ... pipe first.transaction into `nft -f -`, then:
/// p.applied(true).unwrap();
/// assert!(p.dump().contains("add element ip kube-proxy cluster-ips { 10.96.0.10 }"));
/// assert!(!p.sync(1000).full);
/// ```
#[derive(Debug)]
pub struct NftProxier {
    cfg: ProxierConfig,
    eff: Effective,
    config_warnings: Vec<Warning>,
    tracker: Tracker,
    /// `--service-cidrs` of this family, joined with `,` as kube-proxy keeps them.
    service_cidrs: String,
    need_full_sync: bool,
    /// The "add+delete the base chains once" step is done.
    flushed: bool,
    kernel: Kernel,
    /// Service chains flushed at this time (ms), to delete a second later.
    stale_chains: BTreeMap<String, u64>,
    /// The transaction handed out and not yet reported, with the stale chains it records.
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    tx: Tx,
    full: bool,
    stale: BTreeMap<String, u64>,
    revived: Vec<String>,
    /// A stale-cleanup transaction (no sync state changes with it).
    cleanup: bool,
}

impl NftProxier {
    /// A proxier that has synced nothing yet, on a node without a `kube-proxy` table.
    pub fn new(cfg: ProxierConfig) -> NftProxier {
        let (eff, config_warnings) = Effective::new(&cfg);
        let service_cidrs = family_cidrs(&cfg.service_cidrs, eff.family);
        NftProxier {
            cfg,
            eff,
            config_warnings,
            tracker: Tracker::default(),
            service_cidrs,
            need_full_sync: true,
            flushed: false,
            kernel: Kernel::Known(TableState::default()),
            stale_chains: BTreeMap::new(),
            pending: None,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProxierConfig {
        &self.cfg
    }

    /// A proxier with another configuration over the same kernel table (what it holds, its
    /// stale chains): kube-proxy re-created when the Node's facts change. Its next sync is full.
    pub fn reconfigured(&self, cfg: ProxierConfig) -> NftProxier {
        let mut p = NftProxier::new(cfg);
        p.kernel = self.kernel.clone();
        p.flushed = self.flushed;
        p.stale_chains = self.stale_chains.clone();
        p
    }

    /// `nft` family keyword of this proxier (`ip` or `ip6`).
    pub fn family(&self) -> &'static str {
        match self.eff.family {
            IpFamily::V4 => "ip",
            IpFamily::V6 => "ip6",
        }
    }

    /// Tells the planner what a `kube-proxy` table it did not write holds (after a restart):
    /// the names of its chains and sets. `None`: there is no such table.
    pub fn kernel_listed(&mut self, listed: Option<(Vec<String>, Vec<String>)>) {
        self.kernel = match listed {
            None => Kernel::Known(TableState::default()),
            Some((chains, sets)) => Kernel::Listed { chains, sets },
        };
        self.need_full_sync = true;
    }

    /// Replaces the node's topology labels; a change forces a full sync.
    pub fn set_topology_labels(&mut self, labels: BTreeMap<String, String>) {
        if labels != self.cfg.topology_labels {
            self.cfg.topology_labels = labels;
            let (eff, w) = Effective::new(&self.cfg);
            self.eff = eff;
            self.config_warnings = w;
            self.need_full_sync = true;
        }
    }

    /// `OnServiceCIDRsChanged`: the complete list of Service CIDRs (both families). As in
    /// kube-proxy, the "Drop traffic to unallocated ClusterIPs" rule follows at the next full
    /// sync.
    pub fn set_service_cidrs(&mut self, cidrs: &[String]) {
        self.cfg.service_cidrs = cidrs.to_vec();
        self.service_cidrs = family_cidrs(cidrs, self.eff.family);
    }

    /// Makes the next sync a full one.
    pub fn request_full_sync(&mut self) {
        self.need_full_sync = true;
    }

    /// Whether the next sync will be full.
    pub fn needs_full_sync(&self) -> bool {
        self.need_full_sync
    }

    /// Replaces the whole set of Services and EndpointSlices (see
    /// [`super::Proxier::set_objects`]).
    pub fn set_objects<'a>(
        &mut self,
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> Vec<Warning> {
        self.tracker.set_objects(&self.eff, services, slices)
    }

    /// The health-check node ports kube-proxy serves.
    pub fn health_checks(&self) -> Vec<HealthCheck> {
        self.tracker.health_checks()
    }

    /// Whether a UDP Service's endpoints changed since the last call (which resets it).
    pub fn take_conntrack_cleanup(&mut self) -> bool {
        self.tracker.take_conntrack_cleanup()
    }

    /// The UDP service ports with their frontends and serving endpoints.
    pub fn udp_service_ports(&self) -> Vec<UdpServicePort> {
        self.tracker.udp_service_ports()
    }

    /// The transaction deleting the service chains that went stale at least a second before
    /// `now_ms` (kube-proxy waits because a kernel before 6.2 notices only late that a deleted
    /// map element no longer points to a chain). `None`: nothing to delete. Report it with
    /// [`NftProxier::applied`]; a failure makes the next sync full.
    pub fn stale_cleanup(&mut self, now_ms: u64) -> Option<String> {
        let due: Vec<String> = self
            .stale_chains
            .iter()
            .filter(|(_, &t)| t + 1000 <= now_ms)
            .map(|(c, _)| c.clone())
            .collect();
        if due.is_empty() {
            return None;
        }
        let mut tx = Tx::default();
        for c in &due {
            self.stale_chains.remove(c);
            tx.delete(tx::Obj::Chain {
                name: c.clone(),
                base: None,
                comment: None,
            });
        }
        let text = tx.text(self.family());
        self.pending = Some(Pending {
            tx,
            full: false,
            stale: BTreeMap::new(),
            revived: Vec::new(),
            cleanup: true,
        });
        Some(text)
    }

    /// Computes the next transaction at time `now_ms` (any monotonic clock in milliseconds).
    /// Report whether it applied with [`NftProxier::applied`] before the next call.
    pub fn sync(&mut self, now_ms: u64) -> NftSyncResult {
        let full = self.need_full_sync;
        let out = sync::build(&BuildInput {
            eff: &self.eff,
            tracker: &self.tracker,
            kernel: &self.kernel,
            flushed: self.flushed,
            service_cidrs: &self.service_cidrs,
            full,
            now_ms,
        });
        let ports = self.tracker.sorted_ports().len();
        self.tracker.changed.clear();
        self.need_full_sync = false;
        let stale_chains = out
            .stale
            .keys()
            .filter(|c| !self.stale_chains.contains_key(*c))
            .cloned()
            .collect();
        let transaction = out.tx.text(self.family());
        self.pending = Some(Pending {
            tx: out.tx,
            full,
            stale: out.stale,
            revived: out.revived,
            cleanup: false,
        });
        NftSyncResult {
            transaction,
            full,
            services_changed: out.services_written,
            stale_chains,
            num_service_ports: ports,
            num_endpoints: out.total_endpoints,
            warnings: self.config_warnings.clone(),
        }
    }

    /// Reports whether the last transaction applied. After a failure nothing of it is in the
    /// kernel: the stale-chain record is dropped and the next sync is full, as in kube-proxy.
    /// `Err`: the planner's own model of the table rejects the transaction (a planner bug or a
    /// table changed behind its back); the next sync is full.
    pub fn applied(&mut self, ok: bool) -> Result<(), String> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        if !ok {
            self.stale_chains.clear();
            self.need_full_sync = true;
            return Ok(());
        }
        if !p.cleanup {
            self.flushed |= p.full;
            for c in &p.revived {
                self.stale_chains.remove(c);
            }
            self.stale_chains.extend(p.stale);
        }
        match &mut self.kernel {
            Kernel::Known(state) => {
                let r = state.apply(&p.tx);
                if r.is_err() {
                    // The model is part-applied: keep only the names, and let a full sync
                    // reset every set and map.
                    let chains = state.chains.keys().cloned().collect();
                    let sets = state.containers.keys().cloned().collect();
                    self.kernel = Kernel::Listed { chains, sets };
                    self.need_full_sync = true;
                }
                r
            }
            Kernel::Listed { chains, sets } if p.full && !p.cleanup => {
                // A full sync re-asserts every object and flushes every container; what else
                // the old table holds is its service chains and affinity sets, which the sync
                // flushed or deleted: chains are deleted in due course.
                let mut state = TableState::with_leftovers(chains, sets);
                let r = state.apply(&p.tx);
                self.kernel = Kernel::Known(state);
                r
            }
            Kernel::Listed { .. } => Ok(()),
        }
    }

    /// The table as the planner believes the kernel holds it, in `Fake.Dump()` format (empty
    /// when the table does not exist or was not written by this planner).
    pub fn dump(&self) -> String {
        match &self.kernel {
            Kernel::Known(s) => s.dump(self.family()),
            Kernel::Listed { .. } => String::new(),
        }
    }
}

/// The CIDRs of `family`, joined with `,` (kube-proxy's `serviceCIDRs` string).
fn family_cidrs(cidrs: &[String], family: IpFamily) -> String {
    cidrs
        .iter()
        .map(|c| c.trim())
        .filter(|c| parse_cidr_sloppy(c).is_some_and(|p| p.family() == family))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJECTS: &str = "kind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n---\nkind: EndpointSlice\napiVersion: discovery.k8s.io/v1\nmetadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints: [{addresses: [10.244.1.2], conditions: {ready: true}}]\nports: [{port: 8080, protocol: TCP, name: ''}]\n";

    fn synced() -> NftProxier {
        let objs = crate::k8s::load(OBJECTS).objects;
        let mut p = NftProxier::new(ProxierConfig {
            node_name: "node-1".into(),
            ..Default::default()
        });
        p.set_objects(&objs.services, &objs.endpoint_slices);
        p.sync(0);
        p.applied(true).unwrap();
        p
    }

    #[test]
    fn a_reconfigured_proxier_keeps_the_table_it_wrote() {
        let p = synced();
        let objs = crate::k8s::load(OBJECTS).objects;
        let mut q = p.reconfigured(ProxierConfig {
            node_name: "node-1".into(),
            node_ip: Some("172.28.5.10".parse().unwrap()),
            ..Default::default()
        });
        q.set_objects(&objs.services, &objs.endpoint_slices);
        let r = q.sync(10);
        assert!(r.full);
        // Everything already exists: no element is added again.
        assert!(!r.transaction.contains("add element"), "{}", r.transaction);
        q.applied(true).unwrap();
        assert_eq!(p.dump(), q.dump());
    }

    #[test]
    fn a_failed_transaction_changes_nothing_and_the_next_sync_is_full() {
        let mut p = synced();
        let before = p.dump();
        let objs = crate::k8s::load(&OBJECTS.replace("10.244.1.2", "10.244.1.3")).objects;
        p.set_objects(&objs.services, &objs.endpoint_slices);
        let r = p.sync(10);
        assert!(!r.full && r.transaction.contains("10.244.1.3"));
        p.applied(false).unwrap();
        assert_eq!(p.dump(), before);
        assert!(p.needs_full_sync());
        let r = p.sync(20);
        assert!(r.full && r.transaction.contains("10.244.1.3"));
        p.applied(true).unwrap();
        assert!(p.dump().contains("10.244.1.3 . 8080"));
    }

    #[test]
    fn a_deleted_service_leaves_a_stale_chain_deleted_a_second_later() {
        let mut p = synced();
        let none: [&Service; 0] = [];
        let no_slices: [&EndpointSlice; 0] = [];
        p.set_objects(none, no_slices);
        let r = p.sync(100);
        assert_eq!(r.stale_chains.len(), 1, "{}", r.transaction);
        p.applied(true).unwrap();
        assert!(
            p.stale_cleanup(600).is_none(),
            "not before a second has passed"
        );
        let cleanup = p.stale_cleanup(1100).expect("deleted after a second");
        assert!(
            cleanup.starts_with("delete chain ip kube-proxy service-"),
            "{cleanup}"
        );
        p.applied(true).unwrap();
        assert!(!p.dump().contains("default/web"), "{}", p.dump());
    }
}
