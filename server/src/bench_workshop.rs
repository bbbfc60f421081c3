//! `kplab bench workshop --learners N [--warm-pool P]`: a classroom on this machine.
//!
//! An in-process `kplab serve` (real Docker labs, SQLite in a temporary directory) with an
//! instructor token. Two runs of N learners joining at once through the HTTP API:
//!
//! 1. no warm pool: every join waits in the start queue for a cold lab start;
//! 2. a warm pool of P (default N), filled before the first join (its fill time is reported
//!    but not counted).
//!
//! For each: the time from the first join request to the last learner's first shell prompt
//! (a command echoed back by a shell on `node-1`, the learner's lab as their terminal gets it),
//! and the per-learner p50/max. While the pooled labs run: host memory per running lab
//! (`MemAvailable` before any lab minus with them, divided by the count). Then every learner
//! passes a task at once and the instructor's dashboard stream (SSE) is timed from each
//! check's answer to the row that shows it: p50 and p99. The ratio pooled/unpooled is the
//! speed-up; the labs are removed at the end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::domain::config::Config;
use crate::domain::platform::Platform;
use crate::engine::runtime::LabRuntime;

/// Starts an in-process `kplab serve` on 127.0.0.1 (any port) with this config and runtime,
/// lab recovery done: the platform's state and the address. The CLI passes the web layer's
/// starter in, so that this tool itself stays below the web layer.
pub type StartServer = fn(
    Config,
    Arc<dyn LabRuntime>,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = anyhow::Result<(Platform, SocketAddr)>> + Send>,
>;

/// Flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Learners joining at once.
    #[arg(long, default_value_t = 50)]
    pub learners: usize,
    /// Warm pool size for the pooled run (default: one lab per learner).
    #[arg(long)]
    pub warm_pool: Option<usize>,
    /// Lab to use.
    #[arg(long, default_value = "00-hello")]
    pub lab: String,
}

/// One run of N joins.
#[derive(Debug, Clone, Serialize)]
pub struct JoinRun {
    /// Warm pool size (0: start queue only).
    pub warm_pool: usize,
    /// Seconds to fill the pool before the first join (not counted).
    pub pool_fill_secs: f64,
    /// First join request to the last learner's first prompt, seconds.
    pub first_join_to_last_prompt_secs: f64,
    /// Per learner, join to prompt: p50, seconds.
    pub per_learner_p50_secs: f64,
    /// Per learner, join to prompt: max, seconds.
    pub per_learner_max_secs: f64,
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Learners.
    pub learners: usize,
    /// Without a pool.
    pub cold: JoinRun,
    /// With the pool.
    pub pooled: JoinRun,
    /// `cold / pooled` of first join to last prompt.
    pub speedup: f64,
    /// Host memory per running lab, MiB.
    pub mib_per_lab: f64,
    /// Check answered -> dashboard row, p50 ms.
    pub dashboard_p50_ms: f64,
    /// Check answered -> dashboard row, p99 ms.
    pub dashboard_p99_ms: f64,
}

impl Report {
    /// Human-readable lines.
    pub fn render(&self) -> String {
        format!(
            "{n} learners joining at once ({cores} cores):\n\
             no warm pool:       first join -> last prompt {c:.1} s (per learner p50 {cp:.1} s, max {cm:.1} s)\n\
             warm pool of {p:<4}   first join -> last prompt {w:.2} s (per learner p50 {wp:.3} s, max {wm:.3} s); pool filled in {f:.1} s beforehand\n\
             speed-up with the pool: {s:.1}x\n\
             host memory per running lab: {m:.1} MiB\n\
             dashboard update (check answered -> row on the SSE stream): p50 {d50:.1} ms, p99 {d99:.1} ms\n",
            n = self.learners,
            cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            c = self.cold.first_join_to_last_prompt_secs,
            cp = self.cold.per_learner_p50_secs,
            cm = self.cold.per_learner_max_secs,
            p = self.pooled.warm_pool,
            w = self.pooled.first_join_to_last_prompt_secs,
            wp = self.pooled.per_learner_p50_secs,
            wm = self.pooled.per_learner_max_secs,
            f = self.pooled.pool_fill_secs,
            s = self.speedup,
            m = self.mib_per_lab,
            d50 = self.dashboard_p50_ms,
            d99 = self.dashboard_p99_ms,
        )
    }
}

#[derive(Parser)]
struct ServeFlags {
    #[command(flatten)]
    serve: crate::domain::config::ServeArgs,
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}

fn mem_available_mib() -> anyhow::Result<f64> {
    let s = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("MemAvailable in /proc/meminfo")?;
    Ok(kb / 1024.0)
}

struct Http {
    addr: SocketAddr,
    learner: String,
    cookie: Option<String>,
    bearer: Option<String>,
}

impl Http {
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let mut s = tokio::net::TcpStream::connect(self.addr).await?;
        let mut head = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(c) = &self.cookie {
            head += &format!("Cookie: {c}\r\n");
        }
        if let Some(t) = &self.bearer {
            head += &format!("Authorization: Bearer {t}\r\n");
        }
        head += "\r\n";
        s.write_all(head.as_bytes()).await?;
        s.write_all(body.as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        for l in head.lines() {
            if let Some(v) = l
                .strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
            {
                if v.starts_with("kplab_learner=") {
                    self.cookie = v.split(';').next().map(str::to_string);
                }
            }
        }
        Ok((status, serde_json::from_str(body).unwrap_or_default()))
    }
}

async fn server(
    learners: usize,
    token: &str,
    start: StartServer,
) -> anyhow::Result<(Platform, SocketAddr, tempfile::TempDir)> {
    let data = tempfile::tempdir()?;
    let flags = ServeFlags::try_parse_from([
        "kplab",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data.path().display().to_string(),
        "--max-labs",
        &(learners + 2).to_string(),
        "--idle-secs",
        "3600",
        "--sweep-secs",
        "3600",
        "--lab-prefix",
        "kbw-",
    ])?;
    let mut config = crate::domain::config::Config::from_args(flags.serve, None)?;
    crate::domain::config::WorkshopArgs {
        instructor_token: Some(token.to_string()),
    }
    .apply(&mut config)?;
    let docker = crate::engine::runtime::DockerRuntime::connect(&config.image).await?;
    docker
        .prepare()
        .await
        .context("host isolation, node image")?;
    let (platform, addr) = start(config, Arc::new(docker)).await?;
    Ok((platform, addr, data))
}

/// A shell on node-1 of the session's lab answers a command, through the same path as the
/// terminal WebSocket: the session's live shell (a pool lab's is opened ahead), else a new
/// exec, attached with [`pump`] over in-memory channels instead of a socket.
async fn first_prompt(state: &Platform, session: &str) -> anyhow::Result<()> {
    use crate::engine::terminal::{pump, Frame, Shell};
    let s = state
        .store
        .session(session)
        .await?
        .context("session gone")?;
    let shell = match state.shells.get(&s.id, "node-1") {
        Some(sh) => sh,
        None => {
            let t = state
                .runtime
                .terminal(&s.sandbox, "node-1", 100, 30)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let sh = Shell::spawn(t);
            state.shells.insert(&s.id, "node-1", sh.clone());
            sh
        }
    };
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Frame>();
    let (in_tx, in_rx) = tokio::sync::mpsc::unbounded_channel::<Frame>();
    let sink = Box::pin(futures_util::sink::unfold(
        out_tx,
        |tx, f: Frame| async move {
            tx.send(f).map_err(|_| anyhow::anyhow!("reader gone"))?;
            anyhow::Ok(tx)
        },
    ));
    let stream = Box::pin(futures_util::stream::unfold(in_rx, |mut rx| async move {
        rx.recv().await.map(|f| (Ok::<_, anyhow::Error>(f), rx))
    }));
    let pumping = tokio::spawn(pump(sink, stream, shell, || {}));
    in_tx
        .send(Frame::Binary(b"echo prompt-$((40+2))\r".to_vec()))
        .map_err(|_| anyhow::anyhow!("shell gone"))?;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let result = loop {
        if seen.contains("prompt-42") {
            break Ok(());
        }
        match tokio::time::timeout_at(deadline, out_rx.recv()).await {
            Ok(Some(Frame::Binary(b))) => seen.push_str(&String::from_utf8_lossy(&b)),
            Ok(Some(_)) => {}
            Ok(None) => break Err(anyhow::anyhow!("terminal closed: {seen}")),
            Err(_) => break Err(anyhow::anyhow!("no prompt within 600 s: {seen}")),
        }
    };
    let _ = in_tx.send(Frame::Close);
    let _ = tokio::time::timeout(Duration::from_secs(5), pumping).await;
    result
}

/// One learner: join, wait for a running lab, get a prompt. Returns (client, session, took).
async fn learner(
    state: Platform,
    addr: SocketAddr,
    code: String,
    i: usize,
) -> anyhow::Result<(Http, String, Duration)> {
    let t0 = Instant::now();
    let mut c = Http {
        addr,
        learner: String::new(),
        cookie: None,
        bearer: None,
    };
    let (status, j) = c
        .call(
            "POST",
            "/api/workshops/join",
            &serde_json::json!({"code": code, "name": format!("learner {i}")}).to_string(),
        )
        .await?;
    if status != 200 {
        bail!("join: {status} {j}");
    }
    c.learner = j["learner"].as_str().unwrap_or_default().to_string();
    let mut session = j["session"].as_str().map(str::to_string);
    let mut running = j["status"] == "running";
    while !running {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if t0.elapsed() > Duration::from_secs(900) {
            bail!("learner {i}: no running lab within 900 s");
        }
        if session.is_none() {
            let (_, me) = c.call("GET", "/api/workshops/me", "").await?;
            session = me["session"]["id"].as_str().map(str::to_string);
            continue;
        }
        let id = session.clone().unwrap_or_default();
        let (_, s) = c.call("GET", &format!("/api/sessions/{id}"), "").await?;
        match s["status"].as_str() {
            Some("running") => running = true,
            Some("starting") => {}
            other => bail!("learner {i}: lab went {other:?}: {s}"),
        }
    }
    let session = session.unwrap_or_default();
    first_prompt(&state, &session).await?;
    Ok((c, session, t0.elapsed()))
}

async fn join_run(
    state: &Platform,
    addr: SocketAddr,
    teacher: &mut Http,
    learners: usize,
    warm_pool: usize,
    lab: &str,
) -> anyhow::Result<(JoinRun, String, Vec<(Http, String)>)> {
    let (status, w) = teacher
        .call(
            "POST",
            "/api/workshops",
            &serde_json::json!({"name": format!("bench pool {warm_pool}"), "labs": [lab],
                "capacity": learners, "warm_pool": warm_pool})
            .to_string(),
        )
        .await?;
    if status != 201 {
        bail!("creating the workshop: {status} {w}");
    }
    let id = w["id"].as_str().unwrap_or_default().to_string();
    let code = w["join_code"].as_str().unwrap_or_default().to_string();
    let t_fill = Instant::now();
    if warm_pool > 0 {
        let prefix = format!("pool-{id}-");
        loop {
            let live = state.store.live_sessions().await?;
            let ready = live
                .iter()
                .filter(|s| {
                    s.learner.starts_with(&prefix) && s.status == crate::store::Status::Running
                })
                .count();
            if ready >= warm_pool {
                break;
            }
            if t_fill.elapsed() > Duration::from_secs(1200) {
                bail!("warm pool: {ready} of {warm_pool} after 1200 s");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let pool_fill_secs = if warm_pool > 0 {
        t_fill.elapsed().as_secs_f64()
    } else {
        0.0
    };
    eprintln!("warm pool {warm_pool}: joining {learners} learners");
    let t0 = Instant::now();
    let runs = (0..learners).map(|i| learner(state.clone(), addr, code.clone(), i));
    let done = futures_util::future::join_all(runs).await;
    let total = t0.elapsed().as_secs_f64();
    let mut per = Vec::new();
    let mut clients = Vec::new();
    for d in done {
        let (c, s, took) = d?;
        per.push(took.as_secs_f64());
        clients.push((c, s));
    }
    let run = JoinRun {
        warm_pool,
        pool_fill_secs,
        first_join_to_last_prompt_secs: total,
        per_learner_p50_secs: quantile(&mut per, 0.5),
        per_learner_max_secs: quantile(&mut per, 1.0),
    };
    eprintln!("{run:?}");
    Ok((run, id, clients))
}

/// Dashboard latency: every learner passes `count-nodes` at once; time from each answer to
/// the dashboard row that shows it.
async fn dashboard_latency(
    addr: SocketAddr,
    token: &str,
    workshop: &str,
    clients: Vec<(Http, String)>,
) -> anyhow::Result<Vec<f64>> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET /api/workshops/{workshop}/events HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    tokio::spawn(async move {
        let mut r = BufReader::new(s);
        let mut line = String::new();
        while r.read_line(&mut line).await.unwrap_or(0) > 0 {
            if let Some(data) = line.strip_prefix("data:") {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) {
                    let passed = v["passed"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|t| t == "count-nodes"));
                    if passed {
                        if let Some(l) = v["learner"].as_str() {
                            let _ = tx.send((l.to_string(), Instant::now()));
                        }
                    }
                }
            }
            line.clear();
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let checks = clients.into_iter().map(|(mut c, session)| async move {
        let (status, r) = c
            .call(
                "POST",
                &format!("/api/sessions/{session}/tasks/count-nodes/check"),
                r#"{"answer":"2"}"#,
            )
            .await?;
        let at = Instant::now();
        if status != 200 || r["passed"] != true {
            bail!("check: {status} {r}");
        }
        anyhow::Ok((c.learner, at))
    });
    let answered: std::collections::HashMap<String, Instant> =
        futures_util::future::join_all(checks)
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
    let n = answered.len();
    let mut seen: std::collections::HashMap<String, Instant> = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((l, at))) => {
                seen.entry(l).or_insert(at);
            }
            _ => bail!("only {} of {n} results reached the dashboard", seen.len()),
        }
    }
    Ok(answered
        .iter()
        .map(|(l, a)| {
            seen.get(l)
                .map(|r| r.saturating_duration_since(*a).as_secs_f64() * 1000.0)
                .unwrap_or(f64::NAN)
        })
        .collect())
}

/// Runs the benchmark.
pub async fn run(args: Args, start: StartServer) -> anyhow::Result<Report> {
    if args.learners == 0 {
        bail!("--learners must be at least 1");
    }
    let warm_pool = args.warm_pool.unwrap_or(args.learners).min(args.learners);
    if warm_pool == 0 {
        bail!("--warm-pool must be at least 1 (the cold run is always measured)");
    }
    let token = crate::domain::workshop::random_hex(16);
    let (state, addr, _data) = server(args.learners.max(warm_pool), &token, start).await?;
    let result = async {
        let mut teacher = Http {
            addr,
            learner: String::new(),
            cookie: None,
            bearer: Some(token.clone()),
        };
        let mem_before = mem_available_mib()?;
        let (cold, cold_id, cold_clients) =
            join_run(&state, addr, &mut teacher, args.learners, 0, &args.lab).await?;
        drop(cold_clients);
        let (st, _) = teacher
            .call("POST", &format!("/api/workshops/{cold_id}/end"), "")
            .await?;
        if st != 200 {
            bail!("ending the cold workshop: {st}");
        }
        let (pooled, pool_id, clients) = join_run(
            &state,
            addr,
            &mut teacher,
            args.learners,
            warm_pool,
            &args.lab,
        )
        .await?;
        let running = state.store.live_sessions().await?.len().max(1);
        let mem_after = mem_available_mib()?;
        let mib_per_lab = (mem_before - mem_after) / running as f64;
        let mut lat = dashboard_latency(addr, &token, &pool_id, clients).await?;
        let _ = teacher
            .call("POST", &format!("/api/workshops/{pool_id}/end"), "")
            .await?;
        Ok(Report {
            learners: args.learners,
            speedup: cold.first_join_to_last_prompt_secs
                / pooled.first_join_to_last_prompt_secs.max(1e-9),
            cold,
            pooled,
            mib_per_lab,
            dashboard_p50_ms: quantile(&mut lat, 0.5),
            dashboard_p99_ms: quantile(&mut lat, 0.99),
        })
    }
    .await;
    // Remove every lab of this run.
    if let Ok(labs) = state.runtime.list("kbw-").await {
        let downs = labs.into_iter().map(|sb| {
            let rt = state.runtime.clone();
            async move {
                let _ = rt.down(&sb.name).await;
            }
        });
        futures_util::future::join_all(downs).await;
    }
    result
}
