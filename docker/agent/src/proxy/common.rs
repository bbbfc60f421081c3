//! What both kube-proxy engines (iptables: [`super::sync`], nftables: [`super::nft_sync`])
//! share with the sync loop: its signals, the engine interface it drives, the settings, the
//! warning log and the UDP conntrack cleanup.

use std::collections::BTreeSet;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::planner::ObjectSet;
use crate::kube::iptables::Iptables;

/// How often a sync is full at the latest (upstream's `proxyutil.FullSyncPeriod`): between
/// full syncs, a sync rewrites only the chains of Services that changed, so a rule deleted by
/// hand from a `KUBE-SVC-`/`KUBE-SEP-` chain stays deleted until then, and the counters of
/// unchanged chains keep counting. `--iptables-sync-period` does not force full syncs: it is
/// the stale-chain cleanup interval (the canary check has its own lab flag).
pub const FULL_SYNC_PERIOD: Duration = Duration::from_secs(3600);

/// The settings of the sync engine that do not concern the planner.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// `--iptables-sync-period`: in large clusters, the least time between stale-chain
    /// cleanups.
    pub sync_period: Duration,
    /// Print payloads to stdout instead of applying them (no iptables access at all).
    pub dry_run: bool,
}

/// Signals into the sync loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Objects changed.
    Changed,
    /// A full sync is needed (the reason is logged).
    ForceFull(String),
}

/// What the sync loop (`super::sync::run_loop`) drives: the iptables `SyncEngine` or the
/// nftables `NftEngine`.
pub trait Syncer {
    /// When the last full sync finished.
    fn last_full(&self) -> Option<Instant>;
    /// Makes the next sync full (`reason` is logged).
    fn request_full_sync(&mut self, reason: &str);
    /// Hands the planner a new object set.
    fn set_objects(&mut self, objects: &ObjectSet);
    /// One sync; errors are logged inside. `false`: it failed (the next one is full).
    fn sync_once(&mut self) -> bool;
}

/// Logs each warning the first time it appears (config warnings and object warnings are
/// tracked separately, so that one set does not hide the other).
#[derive(Debug, Default)]
pub(super) struct WarningLog {
    objects: BTreeSet<String>,
    config: BTreeSet<String>,
}

impl WarningLog {
    pub(super) fn log(&mut self, warnings: Vec<String>, config: bool) {
        let set = if config {
            &mut self.config
        } else {
            &mut self.objects
        };
        for w in &warnings {
            if !set.contains(w) {
                if config {
                    tracing::warn!(src = "server.go:642", reason = %w, "Configuration warning");
                } else {
                    tracing::warn!(src = "endpointslicecache.go:102", reason = %w, "Skipping malformed object");
                }
            }
        }
        *set = warnings.into_iter().collect();
    }
}

/// Upstream's `conntrack.CleanStaleEntries`: deletes the UDP conntrack entries to a Service
/// frontend that are not answered by one of its serving endpoints (a client sending from a
/// fixed source port would otherwise keep talking to a pod that is gone). Failures are
/// logged, never fatal, as upstream. Returns how many entries were deleted.
pub(super) fn clean_stale_conntrack(
    ipt: &Iptables,
    ports: &[netrules::kubeproxy::conntrack::UdpServicePort],
    ipv6: bool,
) -> usize {
    use netrules::kubeproxy::conntrack::{parse_conntrack_list, stale_filters};
    let start = Instant::now();
    let list = match ipt.conntrack_list_udp(ipv6) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(src = "cleanup.go:52", err = %e, "Failed to list conntrack entries");
            return 0;
        }
    };
    let filters = stale_filters(ports, &parse_conntrack_list(&list));
    let mut deleted = 0;
    for f in &filters {
        match ipt.conntrack_delete(&f.delete_args()) {
            Ok(n) => deleted += n,
            Err(e) => {
                tracing::error!(src = "cleanup.go:132", err = %e, entriesDeleted = deleted, "Failed to clear all conntrack entries")
            }
        }
    }
    if deleted > 0 {
        tracing::info!(src = "cleanup.go:134", entriesDeleted = deleted, took = ?start.elapsed(), "Finished reconciling conntrack entries");
    } else {
        tracing::debug!(src = "cleanup.go:134", entriesDeleted = deleted, took = ?start.elapsed(), "Finished reconciling conntrack entries");
    }
    deleted
}

/// Polls every `period` whether what the engine wrote is `missing` (the iptables canary chains,
/// the nftables table); when it is, logs `message` and asks for a full sync. Returns when the
/// loop is gone.
pub fn run_resync_monitor(
    period: Duration,
    tx: Sender<Signal>,
    missing: impl Fn() -> bool,
    src: &'static str,
    message: &str,
    reason: &str,
) {
    loop {
        std::thread::sleep(period);
        if missing() {
            tracing::info!(src, "{message}");
            if tx.send(Signal::ForceFull(reason.into())).is_err() {
                return;
            }
        }
    }
}
