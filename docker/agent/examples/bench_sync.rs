//! Benchmark of the kube-proxy sync path against the bare `iptables-restore` it drives.
//!
//! `cargo run --release -p kplab-agent --example bench_sync [-- SIZES…]` (root; it re-runs
//! itself under `unshare --net`, so the host's rules are never touched). For 1,000 and 10,000
//! ClusterIP services × 5 endpoints (or the sizes given) it measures:
//! (a) rendering (planner, full sync, objects → restore text);
//! (b) a bare `iptables-restore --noflush` of that full text on clean tables (the baseline);
//! (c) our full sync through the engine (canary + jump rules, `iptables-save -t nat` for stale
//!     chains, planning, restore) on clean tables; (b) and (c) run twice each, in the order
//!     c b b c, and their sums are compared;
//! (d) one endpoint of one service changes, then changes back, over several rounds: our
//!     incremental sync (kube-proxy's partial payload: KUBE-SERVICES and the fixed chains in
//!     full, plus the changed service's chains);
//! (e) after each round, a bare `iptables-restore --noflush` of that same payload on the kernel
//!     state the sync left (and, for reference, of the changed service's chains alone);
//! and prints the ratios render/bare (target < 0.05), full/bare (≤ 1.2) and
//! incr/bare-noflush (≤ 1.5).

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use kplab_agent::kube::iptables::Iptables;
use kplab_agent::proxy::netrules_planner::NetrulesPlanner;
use kplab_agent::proxy::planner::{ObjectSet, RulePlanner, StaleChains};
use kplab_agent::proxy::sync::{SyncEngine, SyncSettings};
use serde_json::{json, Value};

const ENDPOINTS: usize = 5;
/// Incremental-sync rounds (the change is made, then undone, alternately).
const ROUNDS: usize = 7;

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ip(base: [u8; 4], n: usize) -> String {
    let v = u32::from_be_bytes(base) + n as u32;
    std::net::Ipv4Addr::from(v).to_string()
}

/// `n` ClusterIP services in 10 namespaces, each with one EndpointSlice of 5 ready endpoints
/// spread over two nodes.
fn objects(n: usize, changed: Option<usize>) -> ObjectSet {
    let mut services = Vec::with_capacity(n);
    let mut slices = Vec::with_capacity(n);
    for i in 0..n {
        let ns = format!("ns-{}", i % 10);
        let name = format!("svc-{i}");
        services.push(json!({"apiVersion":"v1","kind":"Service",
            "metadata":{"name":name,"namespace":ns,"resourceVersion":"1"},
            "spec":{"type":"ClusterIP","clusterIP":ip([10,96,0,10], i),
                    "ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080}]}}));
        let eps: Vec<Value> = (0..ENDPOINTS)
            .map(|j| {
                // The changed service swaps its last endpoint for a fresh address.
                let addr = if changed == Some(i) && j == ENDPOINTS - 1 {
                    ip([10, 250, 0, 1], i)
                } else {
                    ip([10, 244, 0, 2], i * ENDPOINTS + j)
                };
                json!({"addresses":[addr],"conditions":{"ready":true,"serving":true,"terminating":false},
                       "nodeName": if j % 2 == 0 { "node-1" } else { "node-2" }})
            })
            .collect();
        slices.push(
            json!({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
            "metadata":{"name":format!("{name}-abcde"),"namespace":ns,
                        "resourceVersion": if changed == Some(i) { "2" } else { "1" },
                        "labels":{"kubernetes.io/service-name":name}},
            "addressType":"IPv4","endpoints":eps,
            "ports":[{"name":"http","port":8080,"protocol":"TCP"}]}),
        );
    }
    ObjectSet {
        services,
        slices,
        nodes: vec![],
    }
}

fn planner() -> NetrulesPlanner {
    let flags = netrules::kubeproxy::Flags {
        cluster_cidr: "10.244.0.0/16".into(),
        node_ip: Some("172.28.5.10".into()),
        ..Default::default()
    };
    NetrulesPlanner::new(flags, "node-1").expect("valid flags")
}

fn clean(ipt: &Iptables) {
    ipt.restore_flush("*mangle\nCOMMIT\n*filter\nCOMMIT\n*nat\nCOMMIT\n")
        .expect("flush tables");
    // Built-in chains keep only their policies; user chains are gone.
    let left = ipt.chains("nat").expect("iptables-save");
    assert!(left.iter().all(|c| !c.starts_with("KUBE-")), "{left:?}");
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// The chains of service `ns/name` in a partial payload (its SVC and SEP chains and the `-X`
/// of the stale one), as a standalone nat-only restore: the smallest delta iptables could take.
fn minimal_delta(partial: &str, svc_chain: &str) -> String {
    let mut seps: Vec<String> = Vec::new();
    for l in partial.lines() {
        if l.starts_with(&format!("-A {svc_chain} ")) {
            if let Some(t) = l.split(" -j ").nth(1) {
                if t.starts_with("KUBE-SEP-") {
                    seps.push(t.to_string());
                }
            }
        }
    }
    let mut out = String::from("*nat\n");
    let mut keep = |l: &str| {
        out.push_str(l);
        out.push('\n');
    };
    for l in partial.lines() {
        let is_ours = |c: &str| c == svc_chain || seps.iter().any(|s| s == c);
        if let Some(c) = l.strip_prefix(':') {
            let name = c.split(' ').next().unwrap_or("");
            if is_ours(name) {
                keep(l);
            }
        } else if let Some(rest) = l.strip_prefix("-A ") {
            let name = rest.split(' ').next().unwrap_or("");
            if is_ours(name) {
                keep(l);
            }
        }
    }
    // Stale chains the partial payload deletes.
    let stale: Vec<&str> = partial
        .lines()
        .filter_map(|l| l.strip_prefix("-X "))
        .collect();
    let mut out2 = String::from("*nat\n");
    for s in &stale {
        out2.push_str(&format!(":{s} - [0:0]\n"));
    }
    out2.push_str(out.strip_prefix("*nat\n").unwrap_or(&out));
    for s in &stale {
        out2.push_str(&format!("-X {s}\n"));
    }
    out2.push_str("COMMIT\n");
    out2
}

fn bench(n: usize) {
    let ipt = Iptables::default();
    println!("== {n} services x {ENDPOINTS} endpoints");
    let objs = objects(n, None);

    // (a) rendering: objects (JSON, as the informers hold them) -> full restore text.
    let t = Instant::now();
    let mut p = planner();
    let w = p.set_objects(&objs);
    assert!(w.is_empty(), "{w:?}");
    let decode = t.elapsed();
    let t = Instant::now();
    let plan = p.plan(&StaleChains::Skip);
    let render = t.elapsed();
    let full_text = plan.restore_text;
    let nat_rules = full_text.lines().filter(|l| l.starts_with("-A ")).count();
    println!(
        "(a) render (planner full sync)      {:>10}   (+ {} JSON decode + change tracking), {} bytes, {} rules",
        ms(render),
        ms(decode),
        full_text.len(),
        nat_rules
    );

    if let Ok(dir) = std::env::var("KP_BENCH_DUMP") {
        let _ = std::fs::write(format!("{dir}/full-{n}.txt"), &full_text);
    }

    // (b)/(c) a bare iptables-restore of the same text on clean tables, as kube-proxy runs it
    // (--noflush), and our full sync on clean tables, in the order ours, bare, bare, ours: on
    // nft each big restore in a row takes longer than the one before (5,000 services, the same
    // text four times: 71, 89, 86, 97 s), so the two sums are compared, not one of each.
    clean(&ipt);
    let bare_flush = ipt.restore_flush(&full_text).expect("bare restore (flush)");
    let bare_once = |ipt: &Iptables| {
        clean(ipt);
        ipt.restore_noflush(&full_text).expect("bare restore")
    };
    let ours_once = |ipt: &Iptables| {
        clean(ipt);
        let mut engine = SyncEngine::new(
            planner(),
            ipt.clone(),
            SyncSettings {
                sync_period: Duration::from_secs(30),
                dry_run: false,
            },
        );
        let t = Instant::now();
        engine.set_objects(&objs);
        let r = engine.sync().expect("full sync");
        assert!(r.full);
        (t.elapsed(), r, engine)
    };
    // Ours last, so that the incremental rounds start from its tables.
    let (full1, rep1, _) = ours_once(&ipt);
    let bare1 = bare_once(&ipt);
    let bare2 = bare_once(&ipt);
    let (full2, rep2, mut engine) = ours_once(&ipt);
    let (bare, full) = (bare1 + bare2, full1 + full2);
    println!(
        "(b) bare iptables-restore --noflush (full) {:>10} + {:>10}   (flush mode: {})",
        ms(bare1),
        ms(bare2),
        ms(bare_flush)
    );
    println!(
        "(c) our full sync                   {:>10} + {:>10}   (plan {} / {}, restore {} / {}, rest = canary/jumps/iptables-save)",
        ms(full1),
        ms(full2),
        ms(rep1.plan_time),
        ms(rep2.plan_time),
        ms(rep1.restore_time),
        ms(rep2.restore_time)
    );

    // (d)/(e) one endpoint of one service changes (and, in the next round, changes back): our
    // incremental sync, then a bare `iptables-restore --noflush` of the very payload it sent,
    // re-applied on the kernel state it produced (re-applying a partial payload redoes the same
    // work: the same chains are flushed and refilled, the same stale chains declared and
    // deleted). Both therefore meet the same tables, built the way kube-proxy builds them; the
    // medians over the rounds are compared.
    let changed = n / 2;
    let states = [objects(n, Some(changed)), objs];
    let (mut incr, mut setobj, mut plan_t, mut restore_t, mut bare_p) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut partial = String::new();
    for round in 0..ROUNDS {
        let next = &states[round % 2];
        let t = Instant::now();
        engine.set_objects(next);
        let s = t.elapsed();
        let r = engine.sync().expect("partial sync");
        incr.push(t.elapsed());
        setobj.push(s);
        plan_t.push(r.plan_time);
        restore_t.push(r.restore_time);
        assert!(!r.full);
        bare_p.push(ipt.restore_noflush(&r.restore_text).expect("bare partial"));
        if round == 0 {
            partial = r.restore_text;
            println!(
                "    partial payload: {} bytes, {} nat chains declared, {} deleted",
                partial.len(),
                r.counts.nat_chains,
                r.deleted_chains
            );
        }
    }
    let (incr, bare_partial) = (median(&mut incr), median(&mut bare_p));
    println!(
        "(d) our incremental sync            {:>10}   median of {ROUNDS} (objects in {}, plan {}, restore {})",
        ms(incr),
        ms(median(&mut setobj)),
        ms(median(&mut plan_t)),
        ms(median(&mut restore_t)),
    );
    println!(
        "(e) bare --noflush, same payload    {:>10}   median of {ROUNDS}, same kernel state",
        ms(bare_partial)
    );
    // For reference: only the changed service's own chains, kube-proxy's fixed chains left out.
    let svc_chain = partial
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split(' ').next())
        .find(|c| c.starts_with("KUBE-SVC-"))
        .expect("the changed service's chain is declared")
        .to_string();
    let delta = minimal_delta(&partial, &svc_chain);
    let bare_delta = ipt.restore_noflush(&delta).expect("bare minimal delta");
    println!(
        "    bare --noflush, changed service's chains only ({} lines) {:>10}",
        delta.lines().count(),
        ms(bare_delta)
    );
    let r1 = render.as_secs_f64() / (bare.as_secs_f64() / 2.0);
    let r2 = full.as_secs_f64() / bare.as_secs_f64();
    let r3 = incr.as_secs_f64() / bare_partial.as_secs_f64();
    let r4 = incr.as_secs_f64() / bare_delta.as_secs_f64();
    println!(
        "ratios: render/bare = {r1:.3} (target < 0.05)   full/bare = {r2:.2} (target <= 1.2)   incr/bare-noflush = {r3:.2} (target <= 1.5; vs the changed service's chains alone: {r4:.2})"
    );
    clean(&ipt);
}

fn main() -> ExitCode {
    let sizes: Vec<usize> = {
        let args: Vec<usize> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if args.is_empty() {
            vec![1000, 10000]
        } else {
            args
        }
    };
    if std::env::var_os("KP_BENCH_IN_NETNS").is_none() {
        let exe = std::env::current_exe().expect("own path");
        let status = Command::new("unshare")
            .arg("--net")
            .arg("--")
            .arg(exe)
            .args(sizes.iter().map(|s| s.to_string()))
            .env("KP_BENCH_IN_NETNS", "1")
            .status();
        return match status {
            Ok(s) if s.success() => ExitCode::SUCCESS,
            Ok(s) => {
                eprintln!("bench_sync failed ({s}); it needs root (unshare --net, iptables)");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("cannot run unshare --net: {e}; bench_sync needs root");
                ExitCode::from(1)
            }
        };
    }
    let v = Command::new("iptables").arg("--version").output();
    if let Ok(v) = v {
        print!("{}", String::from_utf8_lossy(&v.stdout));
    }
    for n in sizes {
        bench(n);
    }
    ExitCode::SUCCESS
}
