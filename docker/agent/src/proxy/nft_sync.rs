//! kube-proxy's nftables mode: plan with `netrules::kubeproxy::nft::NftProxier`, apply with
//! `nft -f -`.
//!
//! As upstream's nftables proxier: every sync first deletes the service chains that went stale
//! at least a second ago (a transaction of its own), then sends one transaction, full (every
//! object of the `kube-proxy` table re-asserted) or partial (only the changed Services' chains
//! and the map elements). A failed transaction changes nothing in the kernel and makes the
//! next sync full. There are no canary chains: kube-proxy owns its table; the lab's periodic
//! full sync (`--iptables-sync-period`, as in iptables mode) and a check that the table still
//! exists bring back what a learner deleted by hand: every full sync starts from the table's
//! chain and set names as `nft` lists them, and resets the sets and maps it fills.

use std::time::{Duration, Instant};

use netrules::kubeproxy::nft::{NftProxier, TABLE};

use super::common::{clean_stale_conntrack, SyncSettings, Syncer, WarningLog};
use super::netrules_planner::{warning_text, NetrulesPlanner};
use super::planner::ObjectSet;
use crate::kube::iptables::{Iptables, IptablesError};

/// What one nftables sync did.
#[derive(Debug, Clone, Default)]
pub struct NftSyncReport {
    /// Full or partial.
    pub full: bool,
    /// The transaction sent to `nft -f -`.
    pub transaction: String,
    /// The stale-chain deletion sent before it, if any.
    pub cleanup: Option<String>,
    /// Service ports and endpoints considered.
    pub num_services: usize,
    /// Endpoints considered.
    pub num_endpoints: usize,
    /// Stale UDP conntrack entries deleted.
    pub conntrack_deleted: usize,
    /// Time in `nft`.
    pub apply_time: Duration,
    /// Whole sync.
    pub elapsed: Duration,
}

/// The nftables apply side. One [`NftEngine::sync`] is one upstream `syncProxyRules`.
pub struct NftEngine {
    planner: NetrulesPlanner<NftProxier>,
    ipt: Iptables,
    settings: SyncSettings,
    epoch: Instant,
    last_full: Option<Instant>,
    warnings: WarningLog,
    health: Option<super::health::HealthServer>,
}

impl NftEngine {
    /// A new engine; its first sync is full.
    pub fn new(
        planner: NetrulesPlanner<NftProxier>,
        ipt: Iptables,
        settings: SyncSettings,
    ) -> Self {
        NftEngine {
            planner,
            ipt,
            settings,
            epoch: Instant::now(),
            last_full: None,
            warnings: WarningLog::default(),
            health: None,
        }
    }

    /// Serves the health-check node ports (as in iptables mode).
    pub fn serve_health_checks(&mut self, server: super::health::HealthServer) {
        self.health = Some(server);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn apply(&self, text: &str) -> Result<Duration, IptablesError> {
        if self.settings.dry_run {
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(text.as_bytes());
            return Ok(Duration::ZERO);
        }
        self.ipt.nft_apply(text)
    }

    /// One sync: the stale-chain deletion when due, then the sync transaction.
    pub fn sync(&mut self) -> Result<NftSyncReport, IptablesError> {
        let start = Instant::now();
        let now = self.now_ms();
        let mut report = NftSyncReport::default();
        if let Some(cleanup) = self.planner.proxier_mut().stale_cleanup(now) {
            let ok = match self.apply(&cleanup) {
                Ok(_) => true,
                Err(e) => {
                    // The chains still exist; the full sync below records them again.
                    tracing::error!(src = "proxier.go:1265", err = %e.stderr, "Unable to delete stale chains; will retry later");
                    false
                }
            };
            let p = self.planner.proxier_mut();
            if let Err(e) = p.applied(ok) {
                tracing::warn!(src = "proxier.go:1265", err = %e, "The stale-chain deletion does not match the table kube-proxy wrote");
            }
            if !ok {
                p.request_full_sync();
            }
            report.cleanup = Some(cleanup);
        }
        if self.planner.proxier().needs_full_sync() && !self.settings.dry_run {
            // As upstream re-reads its sets and maps on every full sync: what a learner (or
            // anything else) changed in the table since is not what the model says. The full
            // sync then resets every set and map it fills, and flushes unknown service chains.
            let family = self.planner.proxier().family();
            let listed = self.ipt.nft_table_objects(family, TABLE).unwrap_or_else(|e| {
                tracing::error!(src = "proxier.go:1290", err = %e, "Failed to list existing nftables objects");
                Some((Vec::new(), Vec::new()))
            });
            self.planner.proxier_mut().kernel_listed(listed);
        }
        let r = self.planner.proxier_mut().sync(now);
        self.warnings
            .log(r.warnings.iter().map(warning_text).collect(), true);
        report.full = r.full;
        report.num_services = r.num_service_ports;
        report.num_endpoints = r.num_endpoints;
        tracing::debug!(
            src = "proxier.go:1576",
            numServices = r.num_service_ports,
            numEndpoints = r.num_endpoints,
            "Reloading service nftables data"
        );
        match self.apply(&r.transaction) {
            Ok(t) => report.apply_time = t,
            Err(e) => {
                tracing::error!(src = "proxier.go:1586", err = %e.stderr, command = %e.command, "nftables sync failed");
                let _ = self.planner.proxier_mut().applied(false);
                if let Some(h) = &self.health {
                    h.set_proxy_healthy(false);
                }
                return Err(e);
            }
        }
        if let Err(e) = self.planner.proxier_mut().applied(true) {
            tracing::warn!(src = "proxier.go:1586", err = %e, "The transaction does not match the table kube-proxy wrote; next sync is full");
        }
        if let Some(h) = &mut self.health {
            h.set_proxy_healthy(true);
            h.sync(&self.planner.proxier().health_checks());
        }
        if !self.settings.dry_run && self.planner.proxier_mut().take_conntrack_cleanup() {
            let p = self.planner.proxier();
            let ipv6 = p.family() == "ip6";
            report.conntrack_deleted =
                clean_stale_conntrack(&self.ipt, &p.udp_service_ports(), ipv6);
        }
        if report.full {
            self.last_full = Some(Instant::now());
        }
        report.transaction = r.transaction;
        report.elapsed = start.elapsed();
        tracing::debug!(src = "proxier.go:1137", elapsed = ?report.elapsed, full = report.full, "SyncProxyRules complete");
        Ok(report)
    }
}

impl Syncer for NftEngine {
    fn last_full(&self) -> Option<Instant> {
        self.last_full
    }
    fn request_full_sync(&mut self, reason: &str) {
        let p = self.planner.proxier_mut();
        if !p.needs_full_sync() {
            tracing::info!(
                src = "proxier.go:1200",
                reason,
                "Forcing full sync of nftables rules"
            );
        }
        p.request_full_sync();
    }
    fn set_objects(&mut self, objects: &ObjectSet) {
        let warnings = self.planner.update(objects);
        self.warnings.log(warnings, false);
    }
    fn sync_once(&mut self) -> bool {
        self.sync().is_ok()
    }
}
