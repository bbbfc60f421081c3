//! The kube-proxy sync loop: watch the lab API, plan with netrules, apply with iptables-restore.
//!
//! Gather → compute → apply, as upstream's iptables proxier does:
//! * three informers (Services, EndpointSlices, Nodes) list and watch through
//!   [`crate::kube::client::ApiClient`], re-listing whenever a watch ends;
//! * every change wakes the sync runner, which is rate-limited by `--iptables-min-sync-period`
//!   (a token bucket with a burst of 2, like upstream's BoundedFrequencyRunner); a sync
//!   rewrites the fixed chains, `KUBE-SERVICES` and `KUBE-NODEPORTS`, and the per-Service
//!   chains of the Services that changed; it is **full** (every chain) at start, after a
//!   failure, when the canary is gone, and at least once an hour (upstream's
//!   `FullSyncPeriod`: [`super::common::FULL_SYNC_PERIOD`]), so a rule a learner deleted by
//!   hand from a `KUBE-SEP-` chain stays deleted until then (or until its Service changes);
//! * a canary monitor looks for `KUBE-PROXY-CANARY` in mangle, nat and filter every few seconds
//!   and forces a full sync when any is gone (someone flushed the tables);
//! * a full sync first installs the jump rules from the built-in chains and the canary chains
//!   (`iptables -C … || iptables -I …`), then restores; partial syncs only restore.
//!
//! All commands go through [`crate::kube::iptables::Iptables`]; this module never runs a process.
//!
//! Lab default: `--iptables-min-sync-period=250ms` (upstream: 1s). With a burst of 2, the
//! first two changes of a scale-up apply at once and later ones at most 250 ms apart, so
//! "scale to 5 → the KUBE-SEP chains change" is visible within a second of the last pod
//! turning ready (a sync at lab scale takes ~10–30 ms).

use std::collections::BTreeSet;

use serde_json::Value;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::common::{clean_stale_conntrack, WarningLog};
pub use super::common::{Signal, SyncSettings, Syncer, FULL_SYNC_PERIOD};
use super::flags::Flags;
use super::netrules_planner::NetrulesPlanner;
use super::nft_sync::NftEngine;
use super::planner::{ObjectSet, Plan, RulePlanner, StaleChains};
use crate::kube::cli::flags_or_exit;
use crate::kube::client::{ApiClient, ENDPOINT_SLICES, NODES, SERVICES};
use crate::kube::informer::{run_informer, Store};
use crate::kube::iptables::{Iptables, IptablesError};
use crate::kube::klog;
use netrules::kubeproxy::nft::NftProxier;
use netrules::kubeproxy::ProxyMode;

/// The canary chain kube-proxy creates in mangle, nat and filter.
pub const CANARY_CHAIN: &str = "KUBE-PROXY-CANARY";
/// Tables that carry the canary, in the order upstream creates them.
pub const CANARY_TABLES: [&str; 3] = ["mangle", "nat", "filter"];
/// The kinds kube-proxy watches.
const KINDS: [&str; 3] = ["Service", "EndpointSlice", "Node"];
/// Above this many endpoints kube-proxy runs in "large cluster mode" (stale-chain cleanup at
/// most once per sync period).
pub const LARGE_CLUSTER_ENDPOINTS: usize = 1000;

/// What one sync did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// Full or partial.
    pub full: bool,
    /// The payload (as applied, including any injected test fault).
    pub restore_text: String,
    /// Line counts of the payload.
    pub counts: TextCounts,
    /// Service ports and endpoints (from the planner).
    pub num_services: usize,
    /// Endpoints (from the planner).
    pub num_endpoints: usize,
    /// Stale chains deleted.
    pub deleted_chains: usize,
    /// Jump rules that were missing and got inserted (full syncs only).
    pub inserted_jumps: usize,
    /// Stale UDP conntrack entries deleted after the restore (only when the endpoints of a UDP
    /// Service changed).
    pub conntrack_deleted: usize,
    /// Time spent planning.
    pub plan_time: Duration,
    /// Time spent in `iptables-restore`.
    pub restore_time: Duration,
    /// Whole sync.
    pub elapsed: Duration,
}

/// Chain and rule line counts per table of a restore payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextCounts {
    /// `:CHAIN` lines under `*filter`.
    pub filter_chains: usize,
    /// `-A`/`-X` lines under `*filter`.
    pub filter_rules: usize,
    /// `:CHAIN` lines under `*nat`.
    pub nat_chains: usize,
    /// `-A`/`-X` lines under `*nat`.
    pub nat_rules: usize,
}

impl TextCounts {
    /// Counts the lines of a restore payload.
    pub fn of(text: &str) -> TextCounts {
        let mut c = TextCounts::default();
        let mut table = "";
        for line in text.lines() {
            if let Some(t) = line.strip_prefix('*') {
                table = if t == "filter" {
                    "filter"
                } else if t == "nat" {
                    "nat"
                } else {
                    ""
                };
                continue;
            }
            let is_chain = line.starts_with(':');
            let is_rule = line.starts_with('-');
            match (table, is_chain, is_rule) {
                ("filter", true, _) => c.filter_chains += 1,
                ("filter", _, true) => c.filter_rules += 1,
                ("nat", true, _) => c.nat_chains += 1,
                ("nat", _, true) => c.nat_rules += 1,
                _ => {}
            }
        }
        c
    }
}

/// A failed sync: the restore (or a jump-rule command) failed; the previous rules stay.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SyncError(#[from] pub IptablesError);

/// The apply side: owns the planner and the iptables runner, and knows when a sync must be
/// full. One [`SyncEngine::sync`] is one upstream `syncProxyRules`.
pub struct SyncEngine<P: RulePlanner> {
    planner: P,
    ipt: Iptables,
    settings: SyncSettings,
    need_full: bool,
    last_full: Option<Instant>,
    last_cleanup: Option<Instant>,
    last_endpoints: usize,
    fault: Option<String>,
    warnings: WarningLog,
    health: Option<super::health::HealthServer>,
}

impl<P: RulePlanner> SyncEngine<P> {
    /// A new engine; its first sync is full.
    pub fn new(planner: P, ipt: Iptables, settings: SyncSettings) -> Self {
        SyncEngine {
            planner,
            ipt,
            settings,
            need_full: true,
            last_full: None,
            last_cleanup: None,
            last_endpoints: 0,
            fault: None,
            warnings: WarningLog::default(),
            health: None,
        }
    }

    /// Serves the health-check node ports of `LoadBalancer` Services with
    /// `externalTrafficPolicy: Local`, updated after every applied sync (as kube-proxy does).
    pub fn serve_health_checks(&mut self, server: super::health::HealthServer) {
        self.health = Some(server);
    }

    /// The health server, when serving (tests inspect its ports).
    pub fn health_server(&self) -> Option<&super::health::HealthServer> {
        self.health.as_ref()
    }

    /// The planner (tests inspect it).
    pub fn planner(&self) -> &P {
        &self.planner
    }

    /// Test hook: a line inserted before the last `COMMIT` of the next payloads (for example a
    /// rule jumping to a chain that does not exist, so that `iptables-restore` fails).
    /// `None` removes it.
    pub fn inject_fault(&mut self, line: Option<String>) {
        self.fault = line;
    }

    /// Hands the planner a new object set, logging each malformed-object warning once.
    pub fn set_objects(&mut self, objects: &ObjectSet) {
        let warnings = self.planner.set_objects(objects);
        self.warnings.log(warnings, false);
    }

    /// Makes the next sync full (`reason` is logged).
    pub fn request_full_sync(&mut self, reason: &str) {
        if !self.need_full {
            tracing::info!(
                src = "proxier.go:712",
                reason,
                "Forcing full sync of iptables rules"
            );
        }
        self.need_full = true;
    }

    /// When the last full sync finished.
    pub fn last_full(&self) -> Option<Instant> {
        self.last_full
    }

    /// One sync: on a full sync install the canaries and jump rules, read the live nat chains
    /// for stale-chain cleanup when due, plan, and apply with `iptables-restore --noflush`.
    /// On failure the kernel keeps the previous rules (each table commits atomically), the error
    /// carries iptables-restore's stderr, and the next sync is full.
    pub fn sync(&mut self) -> Result<SyncReport, SyncError> {
        let start = Instant::now();
        let full = self.need_full;
        if full {
            self.planner.request_full_sync();
        }
        let mut report = SyncReport {
            full,
            ..SyncReport::default()
        };
        if full && !self.settings.dry_run {
            match self.install_fixed() {
                Ok(n) => report.inserted_jumps = n,
                Err(e) => {
                    tracing::error!(src = "proxier.go:826", err = %e, "Failed to ensure chain jumps");
                    return Err(e.into());
                }
            }
        }
        let large = self.last_endpoints > LARGE_CLUSTER_ENDPOINTS;
        let cleanup_due = !large
            || self
                .last_cleanup
                .is_none_or(|t| t.elapsed() >= self.settings.sync_period);
        let stale = if self.settings.dry_run {
            StaleChains::Recorded
        } else if !cleanup_due {
            StaleChains::Skip
        } else {
            match self.ipt.chains("nat") {
                Ok(c) => StaleChains::Live(c),
                Err(e) => {
                    tracing::error!(src = "proxier.go:1454", err = %e, "Failed to execute iptables-save: using the chains this kube-proxy created");
                    StaleChains::Recorded
                }
            }
        };
        let plan_start = Instant::now();
        let Plan {
            mut restore_text,
            full: planned_full,
            num_services,
            num_endpoints,
            deleted_chains,
            warnings,
        } = self.planner.plan(&stale);
        self.warnings.log(warnings, true);
        report.plan_time = plan_start.elapsed();
        report.full = planned_full || full;
        if let Some(line) = &self.fault {
            restore_text = insert_before_last_commit(&restore_text, line);
        }
        report.counts = TextCounts::of(&restore_text);
        report.num_services = num_services;
        report.num_endpoints = num_endpoints;
        report.deleted_chains = deleted_chains;
        tracing::debug!(
            src = "proxier.go:1520",
            numServices = num_services,
            numEndpoints = num_endpoints,
            numFilterChains = report.counts.filter_chains,
            numFilterRules = report.counts.filter_rules,
            numNATChains = report.counts.nat_chains,
            numNATRules = report.counts.nat_rules,
            "Reloading service iptables data"
        );
        if self.settings.dry_run {
            let _ = std::io::stdout().write_all(restore_text.as_bytes());
            report.restore_text = restore_text;
            report.elapsed = start.elapsed();
            tracing::debug!(src = "proxier.go:805", elapsed = ?report.elapsed, full = report.full, dryRun = true, "SyncProxyRules complete");
            return Ok(report);
        }
        match self.ipt.restore_noflush(&restore_text) {
            Ok(t) => report.restore_time = t,
            Err(e) => {
                tracing::error!(
                    src = "proxier.go:1534",
                    err = %e.stderr,
                    command = %e.command,
                    "Failed to execute iptables-restore"
                );
                self.planner.applied(false);
                self.need_full = true;
                if let Some(h) = &self.health {
                    h.set_proxy_healthy(false);
                }
                return Err(e.into());
            }
        }
        self.planner.applied(true);
        self.need_full = false;
        self.last_endpoints = num_endpoints;
        if let Some(h) = &mut self.health {
            h.set_proxy_healthy(true);
            h.sync(&self.planner.health_checks());
        }
        if self.planner.take_conntrack_cleanup() {
            report.conntrack_deleted = clean_stale_conntrack(
                &self.ipt,
                &self.planner.udp_service_ports(),
                self.planner.ipv6(),
            );
        }
        if !matches!(stale, StaleChains::Skip) {
            self.last_cleanup = Some(Instant::now());
        }
        if report.full {
            self.last_full = Some(Instant::now());
        }
        report.restore_text = restore_text;
        report.elapsed = start.elapsed();
        tracing::debug!(
            src = "proxier.go:805",
            elapsed = ?report.elapsed,
            full = report.full,
            deletedChains = deleted_chains,
            "SyncProxyRules complete"
        );
        Ok(report)
    }

    /// Creates the canary chains and installs the jump rules (upstream's full-sync prelude).
    /// Returns how many jump rules were missing.
    fn install_fixed(&self) -> Result<usize, IptablesError> {
        for table in CANARY_TABLES {
            self.ipt.ensure_chain(table, CANARY_CHAIN)?;
        }
        let rules = self.planner.jump_rules();
        let mut created: BTreeSet<(&str, &str)> = BTreeSet::new();
        for rule in &rules {
            if created.insert((rule.table.as_str(), rule.target.as_str())) {
                self.ipt.ensure_chain(&rule.table, &rule.target)?;
            }
        }
        let mut inserted = 0;
        for rule in &rules {
            if self.ipt.ensure_jump(rule)? {
                inserted += 1;
            }
        }
        Ok(inserted)
    }

    /// Whether all canary chains are present (`false` means someone flushed a table).
    pub fn canaries_present(&self) -> bool {
        canaries_present(&self.ipt)
    }
}

/// Whether `KUBE-PROXY-CANARY` exists in each of mangle, nat and filter.
pub fn canaries_present(ipt: &Iptables) -> bool {
    CANARY_TABLES
        .iter()
        .all(|t| ipt.chain_exists(t, CANARY_CHAIN))
}

fn insert_before_last_commit(text: &str, line: &str) -> String {
    match text.rfind("COMMIT\n") {
        Some(i) => format!("{}{}\n{}", &text[..i], line, &text[i..]),
        None => format!("{text}{line}\n"),
    }
}

impl<P: RulePlanner> Syncer for SyncEngine<P> {
    fn last_full(&self) -> Option<Instant> {
        SyncEngine::last_full(self)
    }
    fn request_full_sync(&mut self, reason: &str) {
        SyncEngine::request_full_sync(self, reason)
    }
    fn set_objects(&mut self, objects: &ObjectSet) {
        SyncEngine::set_objects(self, objects)
    }
    fn sync_once(&mut self) -> bool {
        self.sync().is_ok()
    }
}

/// Polls the canary chains every `period`; when one is gone, asks for a full sync.
pub fn run_canary_monitor(ipt: Iptables, period: Duration, tx: Sender<Signal>) {
    super::common::run_resync_monitor(
        period,
        tx,
        || !canaries_present(&ipt),
        "iptables.go:727",
        "iptables canary chain deleted (tables flushed?): resyncing",
        "canary chain missing",
    )
}

/// A token bucket with a burst of 2 refilled every `min_interval` (upstream's
/// BoundedFrequencyRunner): returns how long to wait before the next run may start.
#[derive(Debug)]
pub struct RateLimiter {
    min_interval: Duration,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// Burst of two, one token every `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        RateLimiter {
            min_interval,
            tokens: 2.0,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        if !self.min_interval.is_zero() {
            self.tokens = (self.tokens
                + now.duration_since(self.last).as_secs_f64() / self.min_interval.as_secs_f64())
            .min(2.0);
        } else {
            self.tokens = 2.0;
        }
        self.last = now;
    }

    /// Time until a token is available (zero: run now).
    pub fn wait_time(&mut self) -> Duration {
        self.refill();
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            self.min_interval.mul_f64(1.0 - self.tokens)
        }
    }

    /// Takes a token (call right before running).
    pub fn take(&mut self) {
        self.refill();
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

/// What the proxier's configuration can read from the Nodes (`Flags::to_config`): their
/// names, labels, addresses and pod CIDRs, without the status a heartbeat rewrites.
pub fn node_config_inputs(nodes: &[Value]) -> Value {
    Value::Array(
        nodes
            .iter()
            .map(|n| {
                serde_json::json!([
                    n["metadata"]["name"],
                    n["metadata"]["labels"],
                    n["spec"]["podCIDR"],
                    n["spec"]["podCIDRs"],
                    n["status"]["addresses"],
                ])
            })
            .collect(),
    )
}

/// The sync loop: waits for signals, rate-limits, syncs, and runs a full sync once
/// `full_sync_period` has passed since the last ([`FULL_SYNC_PERIOD`] in kube-proxy). Returns
/// only when every sender is gone.
pub fn run_loop(
    engine: &mut impl Syncer,
    store: Arc<Mutex<Store>>,
    rx: Receiver<Signal>,
    min_sync_period: Duration,
    full_sync_period: Duration,
) {
    let mut limiter = RateLimiter::new(min_sync_period);
    let mut pending = false;
    let mut started = false;
    loop {
        let next_full = engine
            .last_full()
            .map(|t| t + full_sync_period)
            .unwrap_or_else(|| Instant::now() + full_sync_period);
        let timeout = if pending {
            limiter.wait_time()
        } else {
            next_full.saturating_duration_since(Instant::now())
        };
        match rx.recv_timeout(timeout) {
            Ok(Signal::Changed) => pending = true,
            Ok(Signal::ForceFull(reason)) => {
                engine.request_full_sync(&reason);
                pending = true;
            }
            Err(RecvTimeoutError::Timeout) => {
                if !pending && started {
                    engine.request_full_sync("periodic full sync (FullSyncPeriod, 1h)");
                    pending = true;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Drain whatever else is queued: one sync covers all of it.
        while let Ok(sig) = rx.try_recv() {
            if let Signal::ForceFull(reason) = sig {
                engine.request_full_sync(&reason);
            }
            pending = true;
        }
        if !pending || !limiter.wait_time().is_zero() {
            continue;
        }
        let objects = {
            let s = store.lock().expect("store lock");
            if !s.synced(&KINDS) {
                // The last initial list sends another Changed when it completes.
                pending = false;
                continue;
            }
            ObjectSet {
                services: s.list("Service"),
                slices: s.list("EndpointSlice"),
                nodes: s.list("Node"),
            }
        };
        limiter.take();
        pending = false;
        started = true;
        engine.set_objects(&objects);
        // Errors are logged inside; the engine forces a full sync next time. Retry after a
        // pause (signals queue up meanwhile) so a persistent failure does not flood the log.
        if !engine.sync_once() {
            pending = true;
            std::thread::sleep(min_sync_period.max(Duration::from_secs(1)));
        }
    }
}

/// Builds the planner for these flags.
pub fn planner_for(flags: &Flags) -> Result<NetrulesPlanner, String> {
    NetrulesPlanner::new(flags.rule_flags(), &flags.node_name())
}

/// Entry point for `kube-proxy [flags]`; `args[0]` is the program name.
pub fn main(args: Vec<String>) -> ExitCode {
    let flags = match flags_or_exit(Flags::parse_from_args(&args)) {
        Ok(f) => f,
        Err(code) => return code,
    };
    klog::init(flags.v);
    let apiserver = flags
        .master
        .clone()
        .or_else(|| std::env::var("KPLAB_APISERVER").ok())
        .unwrap_or_else(|| crate::kube::contract::DEFAULT_APISERVER.to_string());
    let client = ApiClient::new(&apiserver);
    let node = flags.node_name();
    let mode = if flags.proxy_mode_explicit || flags.once || flags.dry_run {
        flags.rules.0.mode()
    } else {
        match super::mode::from_config_map(&client) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(src = "server.go:509", err = %e, configMap = "kube-system/kube-proxy", "Invalid kube-proxy configuration");
                return ExitCode::from(1);
            }
        }
    };
    let ipt = Iptables::default();
    if !flags.dry_run {
        super::mode::cleanup_other_mode(&ipt, mode);
    }
    let settings = SyncSettings {
        sync_period: flags.sync_period,
        dry_run: flags.dry_run,
    };
    match mode {
        ProxyMode::Iptables => {
            let planner = match planner_for(&flags) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(src = "server.go:509", err = %e, "Invalid kube-proxy configuration");
                    return ExitCode::from(1);
                }
            };
            tracing::info!(src = "server_linux.go:496", node = %node, apiserver = %apiserver, "Using iptables Proxier");
            let mark = 1u32 << flags.rules.0.iptables_masquerade_bit.clamp(0, 31);
            tracing::info!(src = "proxier.go:240", ipFamily = "IPv4", mark = %format!("{mark:#010x}"), "Using iptables mark for masquerade");
            let mut engine = SyncEngine::new(planner, ipt, settings);
            if !flags.dry_run {
                engine.serve_health_checks(super::health::HealthServer::default());
            }
            let monitor = |tx: Sender<Signal>, period: Duration| {
                run_canary_monitor(Iptables::default(), period, tx)
            };
            run(&flags, &client, &mut engine, monitor)
        }
        ProxyMode::Nftables => {
            let planner = match NetrulesPlanner::<NftProxier>::new(flags.rule_flags(), &node) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(src = "server.go:509", err = %e, "Invalid kube-proxy configuration");
                    return ExitCode::from(1);
                }
            };
            tracing::info!(src = "server_linux.go:496", node = %node, apiserver = %apiserver, "Using nftables Proxier");
            let mark = 1u32 << flags.rules.0.iptables_masquerade_bit.clamp(0, 31);
            tracing::info!(src = "proxier.go:238", ipFamily = "IPv4", mark = %format!("{mark:#010x}"), "Using nftables mark for masquerade");
            let family = planner.proxier().family();
            let mut engine = NftEngine::new(planner, ipt, settings);
            if !flags.dry_run {
                engine.serve_health_checks(super::health::HealthServer::default());
            }
            let monitor = move |tx: Sender<Signal>, period: Duration| {
                super::mode::run_table_monitor(Iptables::default(), family, period, tx)
            };
            run(&flags, &client, &mut engine, monitor)
        }
    }
}

/// Runs one engine: `--once`, or the informers, the table monitor and the sync loop. Outside
/// dry runs, kube-proxy also exits (for `kplab-node` to start it again) when its DaemonSet pod
/// on this node is deleted, as a restarted pod would.
fn run(
    flags: &Flags,
    client: &ApiClient,
    engine: &mut impl Syncer,
    monitor: impl FnOnce(Sender<Signal>, Duration) + Send + 'static,
) -> ExitCode {
    if flags.once {
        let mut objects = ObjectSet::default();
        for (res, slot) in [
            (&SERVICES, &mut objects.services),
            (&ENDPOINT_SLICES, &mut objects.slices),
            (&NODES, &mut objects.nodes),
        ] {
            match client.list(res, None, None, None) {
                Ok(l) => *slot = l.items,
                Err(e) => {
                    tracing::error!(src = "server.go:560", resource = res.plural, err = %e, "Failed to list");
                    return ExitCode::from(1);
                }
            }
        }
        engine.set_objects(&objects);
        // Errors are logged by the engine (with the tool's stderr).
        return if engine.sync_once() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }

    let store = Arc::new(Mutex::new(Store::default()));
    let (tx, rx) = mpsc::channel();
    for res in [&SERVICES, &ENDPOINT_SLICES, &NODES] {
        let (c, s, t) = (client.clone(), store.clone(), tx.clone());
        // A Node's heartbeat (its status conditions, every 10 s) is no reason to sync: only
        // what the proxier's configuration reads from Nodes is, as upstream reacts only to
        // its own Node's labels.
        let mut seen_nodes: Option<Value> = None;
        let watched = s.clone();
        std::thread::Builder::new()
            .name(format!("informer-{}", res.plural))
            .spawn(move || {
                run_informer(
                    c,
                    res,
                    s,
                    || {
                        if res.kind == NODES.kind {
                            let now = node_config_inputs(
                                &watched.lock().expect("store lock").list("Node"),
                            );
                            if seen_nodes.as_ref() == Some(&now) {
                                return true;
                            }
                            seen_nodes = Some(now);
                        }
                        t.send(Signal::Changed).is_ok()
                    },
                    |msg| tracing::warn!(src = "reflector.go:561", "{msg}"),
                )
            })
            .expect("spawn informer thread");
    }
    if !flags.dry_run {
        let (t, period) = (tx.clone(), flags.canary_period);
        std::thread::Builder::new()
            .name("canary".into())
            .spawn(move || monitor(t, period))
            .expect("spawn canary thread");
        let (c, node) = (client.clone(), flags.node_name());
        std::thread::Builder::new()
            .name("own-pod".into())
            .spawn(move || super::mode::exit_when_pod_replaced(&c, &node))
            .expect("spawn own-pod thread");
    }
    drop(tx);
    run_loop(engine, store, rx, flags.min_sync_period, FULL_SYNC_PERIOD);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_restore_lines_per_table() {
        let text = "*filter\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j RETURN\nCOMMIT\n*nat\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-X C\nCOMMIT\n";
        assert_eq!(
            TextCounts::of(text),
            TextCounts {
                filter_chains: 1,
                filter_rules: 1,
                nat_chains: 2,
                nat_rules: 2
            }
        );
    }

    #[test]
    fn fault_goes_into_the_last_table() {
        let t = insert_before_last_commit("*filter\nCOMMIT\n*nat\nCOMMIT\n", "-A X -j Y");
        assert_eq!(t, "*filter\nCOMMIT\n*nat\n-A X -j Y\nCOMMIT\n");
    }

    #[test]
    fn rate_limiter_allows_a_burst_of_two_then_waits() {
        let mut l = RateLimiter::new(Duration::from_millis(200));
        assert!(l.wait_time().is_zero());
        l.take();
        assert!(l.wait_time().is_zero());
        l.take();
        let w = l.wait_time();
        assert!(
            w > Duration::from_millis(150) && w <= Duration::from_millis(200),
            "{w:?}"
        );
        std::thread::sleep(w);
        assert!(l.wait_time() < Duration::from_millis(5));
    }

    /// Records each sync and whether it was full; a sync is full when one was requested.
    #[derive(Default)]
    struct Recorder {
        need_full: bool,
        last_full: Option<Instant>,
        syncs: Arc<Mutex<Vec<(bool, String)>>>,
        reason: String,
    }

    impl Syncer for Recorder {
        fn last_full(&self) -> Option<Instant> {
            self.last_full
        }
        fn request_full_sync(&mut self, reason: &str) {
            self.need_full = true;
            self.reason = reason.to_string();
        }
        fn set_objects(&mut self, _: &ObjectSet) {}
        fn sync_once(&mut self) -> bool {
            let full = std::mem::take(&mut self.need_full);
            if full {
                self.last_full = Some(Instant::now());
            }
            let reason = std::mem::take(&mut self.reason);
            self.syncs.lock().unwrap().push((full, reason));
            true
        }
    }

    #[test]
    fn the_loop_syncs_on_change_and_is_full_only_when_asked_or_once_a_period() {
        let mut store = Store::default();
        for k in KINDS {
            store.replace(k, Vec::new());
        }
        let store = Arc::new(Mutex::new(store));
        let syncs = Arc::new(Mutex::new(Vec::new()));
        let mut engine = Recorder {
            need_full: true,
            syncs: syncs.clone(),
            ..Recorder::default()
        };
        let (tx, rx) = mpsc::channel();
        let full_period = Duration::from_millis(600);
        let looped = std::thread::spawn(move || {
            run_loop(
                &mut engine,
                store,
                rx,
                Duration::from_millis(10),
                full_period,
            )
        });
        tx.send(Signal::Changed).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // Changes sync partially; nothing else happens while the cluster is quiet.
        tx.send(Signal::Changed).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let quiet: Vec<bool> = syncs.lock().unwrap().iter().map(|s| s.0).collect();
        assert_eq!(
            quiet,
            [true, false],
            "the first sync is full, a change is not"
        );
        // A missing canary forces a full sync at once.
        tx.send(Signal::ForceFull("canary chain missing".into()))
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // Then, with no change at all, the next full sync comes a full period later.
        std::thread::sleep(Duration::from_millis(800));
        drop(tx);
        looped.join().unwrap();
        let all = syncs.lock().unwrap().clone();
        assert_eq!(all.len(), 4, "{all:?}");
        assert_eq!(all[2], (true, "canary chain missing".to_string()));
        assert_eq!(
            all[3],
            (true, "periodic full sync (FullSyncPeriod, 1h)".to_string())
        );
        assert_eq!(FULL_SYNC_PERIOD, Duration::from_secs(3600));
    }

    #[test]
    fn a_heartbeat_changes_no_node_config_input_a_label_does() {
        let node = |label: &str, heartbeat: &str| {
            serde_json::json!({
                "metadata": {"name": "node-1", "resourceVersion": heartbeat, "labels": {"zone": label}},
                "spec": {"podCIDR": "10.244.1.0/24"},
                "status": {"addresses": [{"type": "InternalIP", "address": "172.28.0.10"}],
                           "conditions": [{"type": "Ready", "lastHeartbeatTime": heartbeat}]}
            })
        };
        let a = node_config_inputs(&[node("a", "1")]);
        assert_eq!(a, node_config_inputs(&[node("a", "2")]));
        assert_ne!(a, node_config_inputs(&[node("b", "2")]));
    }
}
