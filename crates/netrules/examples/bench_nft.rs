//! kube-proxy's nftables mode against its iptables mode, on this machine's kernel, with every
//! figure a ratio to a bare apply of the same text measured in the same run:
//! `sudo cargo run --release -p netrules --example bench_nft [-- SIZES…] [nft|iptables]`
//! (root, `ip`, `nsenter`, `nft`, `iptables-restore`; default sizes 1000 10000, both modes).
//! All kernel work happens in network namespaces it creates (`kpb-<pid>-<n>`) and deletes; the
//! host's ruleset is never touched.
//!
//! For N services × 5 endpoints (`netrules::synth`: ClusterIP, every tenth a NodePort), per mode:
//! * render: the planner's full sync (`NftProxier` / `Proxier`: new, set_objects, sync), against
//!   the bare full apply below;
//! * full apply: our sync path (plan + `nft -f -` / `iptables-restore --noflush`) and a bare
//!   apply of the same text, each in a fresh namespace, alternately (ours, bare, bare, ours, …);
//!   medians compared;
//! * one-endpoint change: one EndpointSlice's last endpoint changes (then back, alternately);
//!   our partial sync (plan + apply) in the namespace of our last full apply, and a bare apply of
//!   the same partial text in the namespace of the last bare full apply (the same table, kept in
//!   lockstep); medians of the rounds compared.
//!
//! Each figure is wall time and CPU time (user + system of the benchmark's thread and of the
//! commands it waited for); on a shared machine the CPU ratios are the steadier ones. The
//! samples go to stderr, the table to stdout.
//!
//! Every nft transaction (full, partial, stale-chain cleanup) goes through the real `nft`: a
//! rejection prints nft's error with the offending line and stops the benchmark; after the
//! full sync and after the partial ones, the kernel's table (`nft -j list`) is compared with
//! the planner's model (`NftProxier::dump`); then (untimed) one Service is deleted, its stale
//! chains cleaned up, and it is re-created, each transaction through `nft` as well.
//!
//! A full `nft -f` is quadratic in the number of Services on this kernel (each Service chain's
//! rule holds an anonymous map), tens of seconds at 10,000, so that size is applied twice each.
//! `iptables-restore` on the nft backend takes minutes to tens of minutes at 10,000 services,
//! so its first (bare) restore runs under a time limit
//! (`KP_BENCH_IPT_LIMIT`, seconds, default 180): past it the figure is reported as "> limit"
//! and that size's iptables incremental sync, which needs the full table loaded, is skipped.

use netrules::kubeproxy::nft::NftProxier;
use netrules::kubeproxy::{Proxier, ProxierConfig};
use nix::sys::resource::{getrusage, UsageWho};
use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const ENDPOINTS: usize = 5;
/// Incremental rounds (the change is made, then undone, alternately).
const ROUNDS: usize = 9;

static NS_SEQ: AtomicUsize = AtomicUsize::new(0);

/// Wall time, and CPU time (user + system) of this thread and of the commands it waited for:
/// on a busy machine the CPU time is the steadier figure.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

fn cpu(who: UsageWho) -> Duration {
    let u = getrusage(who).expect("getrusage");
    let d = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    d(u.user_time()) + d(u.system_time())
}

/// Measures a [`Cost`] from its start.
struct Meter {
    t: Instant,
    own: Duration,
    children: Duration,
}

impl Meter {
    fn start() -> Meter {
        Meter {
            t: Instant::now(),
            own: cpu(UsageWho::RUSAGE_THREAD),
            children: cpu(UsageWho::RUSAGE_CHILDREN),
        }
    }
    fn stop(&self) -> Cost {
        Cost {
            wall: self.t.elapsed(),
            cpu: cpu(UsageWho::RUSAGE_THREAD) - self.own + cpu(UsageWho::RUSAGE_CHILDREN)
                - self.children,
        }
    }
}

/// A network namespace of ours, deleted on drop.
struct Netns(String);

enum Outcome {
    Done(Cost),
    Failed(String),
    TimedOut,
}

impl Netns {
    fn new() -> Netns {
        let name = format!(
            "kpb-{}-{}",
            std::process::id(),
            NS_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add");
        assert!(st.success(), "ip netns add {name} (needs root)");
        Netns(name)
    }

    /// Runs `cmd args` in the namespace with `stdin`, timing spawn to exit; killed after
    /// `limit`.
    fn run(&self, cmd: &str, args: &[&str], stdin: &str, limit: Option<Duration>) -> Outcome {
        let meter = Meter::start();
        let t = Instant::now();
        let mut child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.0))
            .arg("--")
            .arg(cmd)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nsenter");
        let mut input = child.stdin.take().expect("stdin");
        let text = stdin.to_string();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(text.as_bytes());
        });
        let status = loop {
            match child.try_wait().expect("wait") {
                Some(s) => break s,
                None if limit.is_some_and(|l| t.elapsed() > l) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = writer.join();
                    return Outcome::TimedOut;
                }
                None => std::thread::sleep(Duration::from_micros(200)),
            }
        };
        let took = meter.stop();
        let _ = writer.join();
        if status.success() {
            Outcome::Done(took)
        } else {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            Outcome::Failed(format!("{status}: {err}"))
        }
    }

    /// `nft -f -` of `text`; a rejection is fatal, with nft's error and the offending line.
    fn nft(&self, text: &str, what: &str) -> Cost {
        match self.run("nft", &["-f", "-"], text, None) {
            Outcome::Done(d) => d,
            Outcome::Failed(e) => reject("nft -f", what, text, &e),
            Outcome::TimedOut => unreachable!(),
        }
    }

    fn restore(&self, text: &str, what: &str, limit: Option<Duration>) -> Option<Cost> {
        match self.run("iptables-restore", &["-w", "--noflush"], text, limit) {
            Outcome::Done(d) => Some(d),
            Outcome::Failed(e) => reject("iptables-restore --noflush", what, text, &e),
            Outcome::TimedOut => None,
        }
    }

    fn capture(&self, cmd: &str, args: &[&str]) -> String {
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.0))
            .arg("--")
            .arg(cmd)
            .args(args)
            .output()
            .expect("spawn nsenter");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Prints a rejected input's error and the lines it names (`…:LINE:COL…` in nft's message,
/// `line N` in iptables-restore's), saves the text, and stops.
fn reject(tool: &str, what: &str, text: &str, err: &str) -> ! {
    eprintln!("REJECTED by {tool} ({what}): {err}");
    let lines: Vec<&str> = text.lines().collect();
    let mut named = Vec::new();
    for w in err.split(|c: char| c == ':' || c.is_whitespace()) {
        if let Ok(n) = w.parse::<usize>() {
            if n >= 1 && n <= lines.len() && !named.contains(&n) {
                named.push(n);
            }
        }
    }
    for n in named.iter().take(4) {
        eprintln!("  line {n}: {}", lines[n - 1]);
    }
    let path = std::env::temp_dir().join(format!("bench_nft-rejected-{}.txt", std::process::id()));
    if std::fs::write(&path, text).is_ok() {
        eprintln!("  input saved to {}", path.display());
    }
    std::process::exit(2);
}

/// Chains, rules, sets and maps, and set/map elements of the `kube-proxy` table: in the kernel
/// (`nft -j list`) and in the planner's model (its `Fake.Dump()` text).
fn kernel_counts(ns: &Netns) -> [usize; 4] {
    let json = ns.capture("nft", &["-j", "list", "table", "ip", "kube-proxy"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("nft -j output");
    let mut c = [0; 4];
    for o in v["nftables"].as_array().into_iter().flatten() {
        if o.get("chain").is_some() {
            c[0] += 1;
        } else if o.get("rule").is_some() {
            c[1] += 1;
        } else if let Some(s) = o.get("set").or_else(|| o.get("map")) {
            c[2] += 1;
            c[3] += s["elem"].as_array().map_or(0, Vec::len);
        }
    }
    c
}

fn model_counts(dump: &str) -> [usize; 4] {
    let mut c = [0; 4];
    for l in dump.lines() {
        let i = match l.split(' ').nth(1) {
            Some("chain") => 0,
            Some("rule") => 1,
            Some("set" | "map") => 2,
            Some("element") => 3,
            _ => continue,
        };
        c[i] += 1;
    }
    c
}

/// `kernel = model` when they agree, else both counts.
fn check_model(ns: &Netns, p: &NftProxier, anomalies: &mut Vec<String>, when: &str) {
    let (k, m) = (kernel_counts(ns), model_counts(&p.dump()));
    if k != m {
        anomalies.push(format!(
            "{when}: kernel holds [chains, rules, sets+maps, elements] = {k:?}, the planner's model {m:?}"
        ));
    }
}

/// The median (the mean of the middle two for an even count).
fn median_of(mut v: Vec<Duration>) -> Duration {
    v.sort();
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2
    } else {
        v[m]
    }
}

/// Medians of the wall and of the CPU times, each on its own.
fn median(v: Vec<Cost>) -> Cost {
    Cost {
        wall: median_of(v.iter().map(|c| c.wall).collect()),
        cpu: median_of(v.iter().map(|c| c.cpu).collect()),
    }
}

/// Samples as `wall/cpu` in milliseconds, for stderr.
fn samples(v: &[Cost]) -> String {
    v.iter()
        .map(|c| {
            format!(
                "{:.0}/{:.0}",
                c.wall.as_secs_f64() * 1e3,
                c.cpu.as_secs_f64() * 1e3
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn cfg() -> ProxierConfig {
    ProxierConfig {
        node_name: "node-1".into(),
        cluster_cidrs: vec!["10.244.0.0/16".into()],
        node_ip: Some("172.28.5.10".parse().unwrap()),
        service_cidrs: vec!["10.96.0.0/16".into()],
        ..Default::default()
    }
}

type Objs = (
    Vec<netrules::k8s::Service>,
    Vec<netrules::k8s::EndpointSlice>,
);

/// Round `round`'s objects: service `n/2`'s last endpoint is a fresh address in odd rounds and
/// the original one in even rounds (round 0 is the full sync's state).
fn change(objs: &mut Objs, original: &str, round: usize) {
    let n = objs.1.len();
    let s = &mut objs.1[n / 2];
    let last = s.endpoints.len() - 1;
    s.endpoints[last].addresses[0] = if round % 2 == 1 {
        "10.250.0.1".into()
    } else {
        original.into()
    };
    s.metadata.resource_version = (round + 1).to_string();
}

struct Row {
    mode: &'static str,
    n: usize,
    op: &'static str,
    ours: Option<Cost>,
    bare: Option<Cost>,
    note: String,
}

/// Wall seconds; a missing figure is "> limit" (killed) unless the row was not measured.
fn secs(d: Option<Cost>, r: &Row, limit: Duration) -> String {
    match d {
        Some(d) => format!("{:.4}", d.wall.as_secs_f64()),
        None if r.note.starts_with("not measured") => "-".into(),
        None => format!("> {:.0}", limit.as_secs_f64()),
    }
}

fn print_rows(rows: &[Row], limit: Duration) {
    println!(
        "\n{:<9} {:>6}  {:<20} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6}  note",
        "mode", "N", "operation", "ours_s", "bare_s", "ratio", "ours_cpu", "bare_cpu", "ratio"
    );
    for r in rows {
        let ratio = |f: fn(&Cost) -> Duration| match (&r.ours, &r.bare) {
            (Some(o), Some(b)) => format!("{:.3}", f(o).as_secs_f64() / f(b).as_secs_f64()),
            _ => "-".into(),
        };
        let cpu =
            |c: &Option<Cost>| c.map_or("-".into(), |c| format!("{:.4}", c.cpu.as_secs_f64()));
        println!(
            "{:<9} {:>6}  {:<20} {:>9} {:>9} {:>6} {:>9} {:>9} {:>6}  {}",
            r.mode,
            r.n,
            r.op,
            secs(r.ours, r, limit),
            secs(r.bare, r, limit),
            ratio(|c| c.wall),
            cpu(&r.ours),
            cpu(&r.bare),
            ratio(|c| c.cpu),
            r.note
        );
    }
}

/// One sync of `objs` at `now`, applied with `nft -f` (a rejection stops the benchmark).
fn sync_apply(
    p: &mut NftProxier,
    ns: &Netns,
    objs: &Objs,
    now: u64,
    what: &str,
) -> netrules::kubeproxy::nft::NftSyncResult {
    p.set_objects(&objs.0, &objs.1);
    let r = p.sync(now);
    ns.nft(&r.transaction, what);
    p.applied(true)
        .expect("the planner's model accepts its own sync");
    r
}

/// The namespaces of one section, deleted together at its end; then a pause, because the
/// kernel frees a deleted namespace's tables in the background and that would load the next
/// measurement.
#[derive(Default)]
struct Pool(Vec<Netns>);

impl Pool {
    fn fresh(&mut self) -> &Netns {
        self.0.push(Netns::new());
        self.0.last().expect("just pushed")
    }
    fn settle(self) {
        drop(self);
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// Ours and bare, alternately (ours, bare, bare, ours, …), `reps` of each.
fn abba(
    reps: usize,
    pool: &mut Pool,
    mut ours: impl FnMut(&mut Pool),
    mut bare: impl FnMut(&mut Pool),
) {
    for i in 0..reps {
        if i.is_multiple_of(2) {
            ours(pool);
            bare(pool);
        } else {
            bare(pool);
            ours(pool);
        }
    }
}

fn bench_nft(n: usize, rows: &mut Vec<Row>, anomalies: &mut Vec<String>) {
    // A full `nft -f` at 10,000 services takes tens of seconds on this kernel.
    let reps = if n >= 5000 { 2 } else { 6 };
    let mut objs: Objs = netrules::synth::services(n, ENDPOINTS);
    let original = objs.1[n / 2].endpoints[ENDPOINTS - 1].addresses[0].clone();
    let plan_full = |objs: &Objs| {
        let mut p = NftProxier::new(cfg());
        p.set_objects(&objs.0, &objs.1);
        let r = p.sync(0);
        assert!(r.full);
        (p, r.transaction)
    };

    // Render: the planner's full sync, typed objects to transaction text; and `render_nft`
    // (the same, plus the model of the resulting table and its dump).
    let (mut render, mut render_nft) = (Vec::new(), Vec::new());
    let full_text = plan_full(&objs).1;
    let all = netrules::k8s::Objects {
        services: objs.0.clone(),
        endpoint_slices: objs.1.clone(),
        ..Default::default()
    };
    for _ in 0..reps {
        let t = Meter::start();
        let (_, text) = plan_full(&objs);
        render.push(t.stop());
        assert_eq!(text, full_text, "the full sync is deterministic");
        let t = Meter::start();
        let out = netrules::kubeproxy::nft::render_nft(&cfg(), &all);
        render_nft.push(t.stop());
        assert_eq!(out.transaction, full_text);
    }
    let render = median(render);

    // Full apply, each in a fresh namespace.
    let mut pool = Pool::default();
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    let (mut last, mut last_bare) = (None, 0);
    abba(
        reps,
        &mut pool,
        |pool| {
            let ns = pool.fresh();
            let t = Meter::start();
            let (mut p, text) = plan_full(&objs);
            ns.nft(&text, "full sync");
            p.applied(true)
                .expect("the planner's model accepts its own sync");
            ours.push(t.stop());
            last = Some((pool.0.len() - 1, p));
        },
        |pool| {
            let ns = pool.fresh();
            bare.push(ns.nft(&full_text, "full sync (bare)"));
            last_bare = pool.0.len() - 1;
        },
    );
    let (last_ours, mut p) = last.expect("ran");
    check_model(
        &pool.0[last_ours],
        &p,
        anomalies,
        &format!("nftables {n} after the full sync"),
    );
    eprintln!(
        "nftables {n} full, wall/cpu ms: ours {}; bare {}",
        samples(&ours),
        samples(&bare)
    );
    let full_bare = median(bare);
    rows.push(Row {
        mode: "nftables",
        n,
        op: "render (full sync)",
        ours: Some(render),
        bare: Some(full_bare),
        note: format!(
            "vs bare nft -f of it (target < 0.05); render_nft {:.1} ms; {} lines, {} KB",
            median(render_nft).cpu.as_secs_f64() * 1e3,
            full_text.lines().count(),
            full_text.len() / 1000
        ),
    });
    rows.push(Row {
        mode: "nftables",
        n,
        op: "full apply",
        ours: Some(median(ours)),
        bare: Some(full_bare),
        note: format!("plan + nft -f, {reps} each (target <= 1.2)"),
    });

    // One-endpoint change: `a` (where our last full sync went) is driven by our sync loop, `b`
    // (where the last bare one went) gets the same texts bare.
    let (a, b) = (&pool.0[last_ours], &pool.0[last_bare]);
    let (mut ours, mut bare, mut plan) = (Vec::new(), Vec::new(), Vec::new());
    let mut set_objects = Vec::new();
    let (mut partial_lines, mut cleanups) = (0, 0);
    for round in 1..=ROUNDS {
        // Two seconds of sync-loop time per round: chains gone stale a round before are due.
        let now = round as u64 * 2000;
        if let Some(tx) = p.stale_cleanup(now) {
            a.nft(&tx, "stale-chain cleanup");
            b.nft(&tx, "stale-chain cleanup (bare)");
            p.applied(true).expect("model");
            cleanups += 1;
        }
        change(&mut objs, &original, round);
        let t = Meter::start();
        p.set_objects(&objs.0, &objs.1);
        set_objects.push(t.stop());
        let r = p.sync(now);
        let planned = t.stop();
        a.nft(&r.transaction, "partial sync");
        p.applied(true).expect("model");
        ours.push(t.stop());
        plan.push(planned);
        assert!(!r.full && r.services_changed.len() == 1, "{r:?}");
        bare.push(b.nft(&r.transaction, "partial sync (bare)"));
        partial_lines = r.transaction.lines().count();
    }
    check_model(
        a,
        &p,
        anomalies,
        &format!("nftables {n} after {ROUNDS} partial syncs"),
    );
    if kernel_counts(a) != kernel_counts(b) {
        anomalies.push(format!("nftables {n}: the two lockstep namespaces differ"));
    }
    // Untimed, for nft's sake: a Service goes away (its chains go stale and are deleted by the
    // cleanup transaction a while later) and comes back.
    let (svc, slice) = (objs.0.remove(n / 2), objs.1.remove(n / 2));
    let mut now = (ROUNDS as u64 + 1) * 2000;
    let r = sync_apply(&mut p, a, &objs, now, "partial sync, a Service deleted");
    if r.stale_chains.is_empty() {
        anomalies.push(format!(
            "nftables {n}: deleting a Service left no stale chain"
        ));
    }
    now += 2000;
    match p.stale_cleanup(now) {
        Some(tx) => {
            a.nft(&tx, "stale-chain cleanup");
            p.applied(true).expect("model");
        }
        None => anomalies.push(format!(
            "nftables {n}: no stale-chain cleanup 2 s after a Service was deleted"
        )),
    }
    objs.0.insert(n / 2, svc);
    objs.1.insert(n / 2, slice);
    sync_apply(&mut p, a, &objs, now + 1, "partial sync, the Service back");
    check_model(
        a,
        &p,
        anomalies,
        &format!("nftables {n} after a Service was deleted, cleaned up and re-created"),
    );
    eprintln!(
        "nftables {n} partial, wall/cpu ms: ours {}; bare {}",
        samples(&ours),
        samples(&bare)
    );
    rows.push(Row {
        mode: "nftables",
        n,
        op: "one-endpoint change",
        ours: Some(median(ours)),
        bare: Some(median(bare)),
        note: format!(
            "plan {:.1} ms (set_objects {:.1}) + nft -f, {ROUNDS} rounds (target <= 1.5); {partial_lines} lines, {cleanups} stale-chain cleanups",
            median(plan).cpu.as_secs_f64() * 1e3,
            median(set_objects).cpu.as_secs_f64() * 1e3
        ),
    });
    pool.settle();
}

fn bench_ipt(n: usize, limit: Duration, rows: &mut Vec<Row>) {
    let reps = if n >= 5000 { 2 } else { 6 };
    let mut objs: Objs = netrules::synth::services(n, ENDPOINTS);
    let original = objs.1[n / 2].endpoints[ENDPOINTS - 1].addresses[0].clone();
    let plan_full = |objs: &Objs| {
        let mut p = Proxier::new(cfg());
        p.set_objects(&objs.0, &objs.1);
        let r = p.sync();
        assert!(r.full);
        (p, r.restore_text)
    };

    let mut render = Vec::new();
    let full_text = plan_full(&objs).1;
    for _ in 0..reps {
        let t = Meter::start();
        let (_, text) = plan_full(&objs);
        render.push(t.stop());
        assert_eq!(text, full_text);
    }
    let render = median(render);
    let size = format!(
        "{} lines, {} KB",
        full_text.lines().count(),
        full_text.len() / 1000
    );

    // A bare restore first, alone, to see whether this size fits in the time limit.
    let mut pool = Pool::default();
    let first = pool
        .fresh()
        .restore(&full_text, "full sync (bare)", Some(limit));
    let Some(first) = first else {
        rows.push(Row {
            mode: "iptables",
            n,
            op: "render (full sync)",
            ours: Some(render),
            bare: None,
            note: size,
        });
        rows.push(Row {
            mode: "iptables",
            n,
            op: "full apply",
            ours: None,
            bare: None,
            note: format!(
                "bare iptables-restore --noflush killed after {:.0} s",
                limit.as_secs_f64()
            ),
        });
        rows.push(Row {
            mode: "iptables",
            n,
            op: "one-endpoint change",
            ours: None,
            bare: None,
            note: "not measured: needs the full table loaded".into(),
        });
        pool.settle();
        return;
    };
    // Then ours, bare, bare, ours, …: on the nft backend big restores slow down one after the
    // other, so a long one is repeated twice only.
    let reps = if first.wall > Duration::from_secs(10) {
        2
    } else {
        reps
    };
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    let (mut last, mut last_bare) = (None, 0);
    abba(
        reps,
        &mut pool,
        |pool| {
            let ns = pool.fresh();
            let t = Meter::start();
            let (p, text) = plan_full(&objs);
            ns.restore(&text, "full sync", None);
            ours.push(t.stop());
            last = Some((pool.0.len() - 1, p));
        },
        |pool| {
            let ns = pool.fresh();
            bare.extend(ns.restore(&full_text, "full sync (bare)", None));
            last_bare = pool.0.len() - 1;
        },
    );
    eprintln!(
        "iptables {n} full, wall/cpu ms: first bare {}; ours {}; bare {}",
        samples(&[first]),
        samples(&ours),
        samples(&bare)
    );
    let full_bare = median(bare);
    rows.push(Row {
        mode: "iptables",
        n,
        op: "render (full sync)",
        ours: Some(render),
        bare: Some(full_bare),
        note: format!("vs bare iptables-restore --noflush of it; {size}"),
    });
    rows.push(Row {
        mode: "iptables",
        n,
        op: "full apply",
        ours: Some(median(ours)),
        bare: Some(full_bare),
        note: format!("plan + iptables-restore --noflush, {reps} each"),
    });

    let (last_ours, mut p) = last.expect("ran");
    let (a, b) = (&pool.0[last_ours], &pool.0[last_bare]);
    let (mut ours, mut bare, mut plan) = (Vec::new(), Vec::new(), Vec::new());
    let mut partial_lines = 0;
    for round in 1..=ROUNDS {
        change(&mut objs, &original, round);
        let t = Meter::start();
        p.set_objects(&objs.0, &objs.1);
        let r = p.sync();
        let planned = t.stop();
        a.restore(&r.restore_text, "partial sync", None);
        ours.push(t.stop());
        plan.push(planned);
        assert!(!r.full && r.services_changed.len() == 1);
        bare.extend(b.restore(&r.restore_text, "partial sync (bare)", None));
        partial_lines = r.restore_text.lines().count();
    }
    eprintln!(
        "iptables {n} partial, wall/cpu ms: ours {}; bare {}",
        samples(&ours),
        samples(&bare)
    );
    rows.push(Row {
        mode: "iptables",
        n,
        op: "one-endpoint change",
        ours: Some(median(ours)),
        bare: Some(median(bare)),
        note: format!(
            "plan {:.1} ms + restore, {ROUNDS} rounds; {partial_lines} lines",
            median(plan).cpu.as_secs_f64() * 1e3
        ),
    });
    pool.settle();
}

fn version(cmd: &str) -> String {
    Command::new(cmd)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("{cmd}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let only = |m: &str| args.iter().any(|a| a == m);
    let (run_nft, run_ipt) = match (only("nft"), only("iptables")) {
        (false, false) => (true, true),
        (n, i) => (n, i),
    };
    if sizes.is_empty() {
        sizes = vec![1000, 10000];
    }
    let limit = Duration::from_secs(
        std::env::var("KP_BENCH_IPT_LIMIT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(180),
    );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "{} | {} | kernel {} | {} cpus",
        version("nft"),
        version("iptables"),
        kernel.trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load().trim());
    let started = Instant::now();
    let (mut rows, mut anomalies) = (Vec::new(), Vec::new());
    for &n in sizes.iter().filter(|_| run_nft) {
        bench_nft(n, &mut rows, &mut anomalies);
        eprintln!(
            "nftables {n}: done at {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    for &n in sizes.iter().filter(|_| run_ipt) {
        bench_ipt(n, limit, &mut rows);
        eprintln!(
            "iptables {n}: done at {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    print_rows(&rows, limit);
    if anomalies.is_empty() {
        println!("every nft transaction applied; the kernel's table matched the planner's model");
    }
    for a in &anomalies {
        println!("ANOMALY: {a}");
    }
    println!(
        "total {:.0} s; load average at the end: {}",
        started.elapsed().as_secs_f64(),
        load().trim()
    );
    ExitCode::SUCCESS
}
