//! "See the packets": the panel beside the terminal and the JSON behind it, so that a learner
//! sees what the rules do to a packet.
//!
//! The pure parts are modules of their own: [`graph`] (chain graph with counters, grouped by
//! Service), [`diff`] (snapshot diffs grouped by Service and endpoint), [`trace`] (kernel trace
//! vs the model's, "why was this dropped?"), [`stats`] (chi-square), [`inventory`] (lab objects
//! and what the learner's words name), [`nft`] (kube-proxy's nftables table from `nft -j`, for
//! nodes in nftables mode). This module is the thin I/O edge: it runs `iptables-save -c`,
//! `nft -j list table`, `kubectl`, `kplab-agent nftrace` and `kplab-probe` in the lab through the
//! runtime's `docker exec`, and keeps rule snapshots in the store.

pub mod diff;
pub mod graph;
pub mod inventory;
pub mod nft;
pub mod stats;
pub mod trace;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::domain::error::AppError;
use crate::engine::runtime::LabRuntime;
use inventory::{Inventory, Source, TargetKind};

/// Most connections one spread may send.
pub const MAX_SPREAD: u32 = 1000;

fn internal(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("{what}: {e}"))
}

/// Runs `argv` on `host`; non-zero exits become an error carrying stderr.
pub async fn exec_ok(
    rt: &dyn LabRuntime,
    sandbox: &str,
    host: &str,
    argv: &[&str],
) -> Result<String, AppError> {
    let out = rt
        .exec(sandbox, host, argv)
        .await
        .map_err(|e| internal(&format!("exec {} on {host}", argv[0]), e))?;
    if out.code != 0 {
        return Err(internal(
            &format!("{} on {host} exited {}", argv.join(" "), out.code),
            out.stderr.trim(),
        ));
    }
    Ok(out.stdout)
}

/// The lab's pods, Services and nodes.
pub async fn inventory(rt: &dyn LabRuntime, sandbox: &str) -> Result<Inventory, AppError> {
    let json = exec_ok(rt, sandbox, "node-1", inventory::KUBECTL_ARGV).await?;
    Inventory::parse(&json).map_err(|e| internal("reading lab objects", e))
}

/// `iptables-save -c` of a node, raw and parsed.
pub async fn ruleset(
    rt: &dyn LabRuntime,
    sandbox: &str,
    node: &str,
) -> Result<(String, netrules::save::Dump), AppError> {
    let text = exec_ok(rt, sandbox, node, &["iptables-save", "-c"]).await?;
    let dump = netrules::save::parse(&text).map_err(|e| internal("parsing iptables-save", e))?;
    Ok((text, dump))
}

/// The raw output of `nft -j list table {ip,ip6} kube-proxy` on a node (empty documents when
/// the node's kube-proxy runs in iptables mode).
pub async fn nft_raw(rt: &dyn LabRuntime, sandbox: &str, node: &str) -> Result<String, AppError> {
    exec_ok(rt, sandbox, node, nft::LIST_ARGV).await
}

/// kube-proxy's nftables tables of a node, parsed: `Ok(empty)` in iptables mode, `Err` with a
/// sentence when what `nft -j` printed cannot be read.
pub async fn nft_tables(
    rt: &dyn LabRuntime,
    sandbox: &str,
    node: &str,
    pods: &BTreeMap<String, String>,
) -> Result<Result<Vec<nft::NftTable>, nft::NftError>, AppError> {
    let raw = nft_raw(rt, sandbox, node).await?;
    Ok(nft::parse_list(&raw, pods))
}

/// Whether a node holds kube-proxy's nftables table (so its Services are not in iptables).
pub async fn is_nft_node(rt: &dyn LabRuntime, sandbox: &str, node: &str) -> bool {
    nft_raw(rt, sandbox, node).await.is_ok_and(|raw| {
        let (v4, v6) = nft::split_families(&raw);
        !v4.is_empty() || !v6.is_empty()
    })
}

/// A node's chain graph, iptables and nftables side by side.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// The iptables graph (`iptables-save -c`).
    pub graph: graph::Graph,
    /// `iptables-save -c` as printed.
    pub save: String,
    /// kube-proxy's nftables tables (none in iptables mode).
    pub nft: Vec<nft::NftTable>,
    /// Why the nftables table could not be drawn.
    pub nft_error: Option<String>,
}

/// The graph of a node, with the lab's objects naming endpoints.
pub async fn node_graph(
    rt: &dyn LabRuntime,
    sandbox: &str,
    node: &str,
) -> Result<NodeView, AppError> {
    let (rules, inv, nft_out) = tokio::join!(
        ruleset(rt, sandbox, node),
        inventory(rt, sandbox),
        nft_raw(rt, sandbox, node)
    );
    let (text, dump) = rules?;
    let pods = inv.map(|i| i.pod_names()).unwrap_or_default();
    let (nft, nft_error) = match nft_out.map(|raw| nft::parse_list(&raw, &pods)) {
        Ok(Ok(t)) => (t, None),
        Ok(Err(e)) => (Vec::new(), Some(e.0)),
        // A node without nft, or one whose nft fails: the iptables view still stands.
        Err(e) => (
            Vec::new(),
            Some(format!("could not list the nftables table: {e}")),
        ),
    };
    Ok(NodeView {
        graph: graph::build(node, &dump, &pods),
        save: text,
        nft,
        nft_error,
    })
}

/// A trace request.
#[derive(Debug, Clone)]
pub struct TraceRequest {
    /// Source word.
    pub from: String,
    /// Target word.
    pub to: String,
    /// Port.
    pub port: u16,
    /// `tcp`/`udp`.
    pub protocol: String,
    /// Send the real connection (kernel trace) besides the model's.
    pub kernel: bool,
}

/// The answer of `POST /trace`.
#[derive(Debug, Clone, Serialize)]
pub struct TraceResult {
    /// Where it was traced.
    pub node: String,
    /// Source label and address.
    pub from: String,
    /// Source address.
    pub src: String,
    /// Target address and port.
    pub to: String,
    /// What the target named.
    pub target_kind: String,
    /// Kernel trace (None in model-only mode).
    pub kernel: Option<trace::KernelTrace>,
    /// The model's trace.
    pub model: trace::ModelTrace,
    /// Comparison (with a kernel trace).
    pub comparison: Option<trace::Comparison>,
    /// Why it was dropped or rejected.
    pub why: Option<trace::Why>,
    /// `iptables` or `nftables`: the mode of the node's kube-proxy.
    pub proxy_mode: String,
    /// Milliseconds end to end.
    pub ms: f64,
}

fn local_ips(inv: &Inventory, node: &str) -> Vec<IpAddr> {
    let mut v = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    if let Some(ip) = inv.nodes.get(node) {
        v.push(IpAddr::V4(*ip));
    }
    if let Some(n) = node
        .strip_prefix("node-")
        .and_then(|n| n.parse::<u8>().ok())
    {
        v.push(IpAddr::V4(Ipv4Addr::new(10, 244, n, 0)));
    }
    v
}

/// Checks the words of a request against the lab: 400 with the reason when wrong.
pub fn resolve(
    inv: &Inventory,
    from: &str,
    to: &str,
) -> Result<(Source, Ipv4Addr, TargetKind, String), AppError> {
    let src = inventory::resolve_source(inv, from).map_err(AppError::BadRequest)?;
    let (dst, kind) = inventory::resolve_target(inv, to).map_err(AppError::BadRequest)?;
    let node = match (&src, &kind) {
        (Source::Pod { node, .. }, _) | (Source::Node { node, .. }, _) => node.clone(),
        (Source::Client { .. }, TargetKind::Node(n)) => n.clone(),
        (Source::Client { .. }, _) => match inv.nodes.iter().find(|(_, ip)| **ip == dst) {
            Some((n, _)) => n.clone(),
            None => {
                return Err(AppError::BadRequest(format!(
                    "from client, trace to a node's address (a NodePort): {to:?} is not reachable from outside the cluster"
                )))
            }
        },
    };
    Ok((src, dst, kind, node))
}

/// How many times a kernel trace is taken when the rules change under it.
const TRACE_ATTEMPTS: usize = 3;

/// Traces a connection (kernel and model, or the model only).
pub async fn run_trace(
    rt: &dyn LabRuntime,
    sandbox: &str,
    req: &TraceRequest,
) -> Result<TraceResult, AppError> {
    let t0 = Instant::now();
    let inv = inventory(rt, sandbox).await?;
    let (src, dst, kind, node) = resolve(&inv, &req.from, &req.to)?;
    let target = format!("{dst}:{}", req.port);
    let nft_mode = is_nft_node(rt, sandbox, &node).await;
    if nft_mode {
        // The model reads iptables chains only: say so, and show the kernel's trace alone.
        let kernel = if req.kernel {
            Some(kernel_trace(rt, sandbox, &src, &node, &target, req).await?)
        } else {
            None
        };
        let why = kernel.as_ref().and_then(trace::why);
        return Ok(TraceResult {
            node,
            from: src.label(),
            src: src.ip().to_string(),
            to: target,
            target_kind: kind_label(kind),
            kernel,
            model: trace::ModelTrace::unsupported(trace::MODEL_NFT),
            comparison: None,
            why,
            proxy_mode: "nftables".into(),
            ms: t0.elapsed().as_secs_f64() * 1000.0,
        });
    }
    // The model reads the rules after the kernel trace. When they changed meanwhile (a
    // component re-placing its hooks, a sync landing), the two would be compared on different
    // rules: trace again, up to TRACE_ATTEMPTS times.
    let mut attempt = 0;
    let mut rules_moved = false;
    let mut before = None;
    let (kernel, dump) = loop {
        attempt += 1;
        if !req.kernel {
            break (None, ruleset(rt, sandbox, &node).await?.1);
        }
        let rules_then = match before.take() {
            Some(dump) => dump,
            None => ruleset(rt, sandbox, &node).await?.1,
        };
        let kernel = kernel_trace(rt, sandbox, &src, &node, &target, req).await?;
        let (_, after) = ruleset(rt, sandbox, &node).await?;
        rules_moved = !rules_then.same_rules(&after);
        if !rules_moved || attempt == TRACE_ATTEMPTS {
            break (Some(kernel), after);
        }
        before = Some(after);
    };
    let routes = exec_ok(rt, sandbox, &node, &["ip", "-o", "-4", "route"]).await;
    let routes = trace::parse_routes(&routes.unwrap_or_default());
    let in_iface = match (&kernel, &src) {
        (Some(k), _)
            if k.hops
                .first()
                .is_some_and(|h| !h.packet.in_iface.is_empty()) =>
        {
            k.hops.first().map(|h| h.packet.in_iface.clone())
        }
        (_, Source::Pod { ip, .. }) => {
            let route = exec_ok(
                rt,
                sandbox,
                &node,
                &["ip", "-o", "route", "get", &ip.to_string()],
            )
            .await
            .unwrap_or_default();
            route
                .split_whitespace()
                .skip_while(|w| *w != "dev")
                .nth(1)
                .map(str::to_string)
        }
        _ => Some("eth0".to_string()),
    };
    let from_node_itself = matches!(src, Source::Node { .. });
    let pkt = trace::model_packet(
        from_node_itself,
        src.ip(),
        dst,
        &req.protocol,
        kernel.as_ref().map(|k| k.sport),
        req.port,
        in_iface,
    );
    let model = trace::model_trace(
        &dump,
        &pkt,
        local_ips(&inv, &node),
        routes,
        kernel.as_ref().and_then(|k| k.dnat.as_deref()),
    );
    let mut comparison = kernel.as_ref().map(|k| trace::compare(k, &model));
    if let Some(c) = comparison.as_mut().filter(|_| rules_moved) {
        c.differences.push(format!(
            "the rules changed while the packet was traced, {TRACE_ATTEMPTS} times in a row"
        ));
    }
    let why = kernel.as_ref().and_then(trace::why);
    let kind = kind_label(kind);
    Ok(TraceResult {
        node,
        from: src.label(),
        src: src.ip().to_string(),
        to: target,
        target_kind: kind,
        kernel,
        model,
        comparison,
        why,
        proxy_mode: "iptables".into(),
        ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

fn kind_label(kind: TargetKind) -> String {
    match kind {
        TargetKind::Service(s) => format!("service {s}"),
        TargetKind::Node(n) => format!("node {n}"),
        TargetKind::Pod(p) => format!("pod {p}"),
        TargetKind::Address => "address".into(),
    }
}

async fn kernel_trace(
    rt: &dyn LabRuntime,
    sandbox: &str,
    src: &Source,
    node: &str,
    target: &str,
    req: &TraceRequest,
) -> Result<trace::KernelTrace, AppError> {
    let mut argv: Vec<String> = vec![
        "kplab-agent".into(),
        "nftrace".into(),
        "--to".into(),
        target.into(),
        "--protocol".into(),
        req.protocol.clone(),
        "--timeout-ms".into(),
        "2500".into(),
    ];
    let out = match src {
        Source::Pod { pod, .. } => {
            argv.extend(["--pod".into(), pod.clone()]);
            exec_argv(rt, sandbox, node, &argv).await?
        }
        Source::Node { .. } => exec_argv(rt, sandbox, node, &argv).await?,
        Source::Client { ip } => {
            let sport = 61000 + rand::random::<u16>() % 4000;
            let ready = format!("/tmp/kplab-nftrace-{sport}.ready");
            argv.extend([
                "--wait-from".into(),
                ip.to_string(),
                "--sport".into(),
                sport.to_string(),
                "--ready-file".into(),
                ready.clone(),
            ]);
            let tracer = exec_argv(rt, sandbox, node, &argv);
            let sender = async {
                // Send once the tracer has its rule and monitor in place.
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline {
                    let seen = rt.exec(sandbox, node, &["test", "-e", &ready]).await;
                    if seen.is_ok_and(|o| o.code == 0) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                let (dst, port) = target.rsplit_once(':').unwrap_or((target, "80"));
                let cmd = if req.protocol == "udp" {
                    format!("echo kplab-nftrace | nc -u -w1 -p {sport} {dst} {port}")
                } else {
                    format!("curl -sS -m 1.5 --local-port {sport} http://{dst}:{port}/")
                };
                let _ = rt.exec(sandbox, "client", &["sh", "-c", &cmd]).await;
            };
            let (out, ()) = tokio::join!(tracer, sender);
            let _ = rt.exec(sandbox, node, &["rm", "-f", &ready]).await;
            out?
        }
    };
    serde_json::from_str(&out).map_err(|e| internal("nftrace output", format!("{e}: {out}")))
}

async fn exec_argv(
    rt: &dyn LabRuntime,
    sandbox: &str,
    host: &str,
    argv: &[String],
) -> Result<String, AppError> {
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    exec_ok(rt, sandbox, host, &refs).await
}

/// One endpoint's row of the spread histogram.
#[derive(Debug, Clone, Serialize)]
pub struct SpreadRow {
    /// `ip:port`.
    pub endpoint: String,
    /// Pod name.
    pub pod: Option<String>,
    /// Connections it answered.
    pub count: u64,
    /// The cascade's share.
    pub expected_share: f64,
    /// Expected count (`share × answered`).
    pub expected: f64,
}

/// The answer of `POST /spread`.
#[derive(Debug, Clone, Serialize)]
pub struct SpreadResult {
    /// Source label.
    pub from: String,
    /// What was probed.
    pub target: String,
    /// Node whose rules give the expectation.
    pub node: String,
    /// Connections sent.
    pub count: u32,
    /// Answered.
    pub answered: u64,
    /// Failed (`timeout`/`refused` counts).
    pub failed: BTreeMap<String, u64>,
    /// Rows, by endpoint.
    pub endpoints: Vec<SpreadRow>,
    /// Chi-square statistic.
    pub chi_square: Option<f64>,
    /// Degrees of freedom.
    pub df: Option<usize>,
    /// p-value (small: the spread is unlikely under the cascade's probabilities).
    pub p_value: Option<f64>,
    /// Why there is no expectation (a node in nftables mode).
    pub note: Option<String>,
    /// Milliseconds end to end.
    pub ms: f64,
}

/// Fires `count` connections at a Service and compares the spread with the cascade.
pub async fn run_spread(
    rt: &dyn LabRuntime,
    sandbox: &str,
    from: &str,
    service: &str,
    port: u16,
    count: u32,
) -> Result<SpreadResult, AppError> {
    let t0 = Instant::now();
    let inv = inventory(rt, sandbox).await?;
    let src = inventory::resolve_source(&inv, from).map_err(AppError::BadRequest)?;
    let svc = inv
        .service(service)
        .ok_or_else(|| AppError::BadRequest(format!("unknown service {service:?}")))?;
    let sp = svc.ports.iter().find(|p| p.port == port).ok_or_else(|| {
        AppError::BadRequest(format!(
            "service {service:?} has no port {port} (ports: {})",
            svc.ports
                .iter()
                .map(|p| p.port.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let (host, node, dst, dport) = match &src {
        Source::Pod { node, .. } | Source::Node { node, .. } => {
            let ip = svc
                .cluster_ip
                .ok_or_else(|| AppError::BadRequest(format!("service {service:?} is headless")))?;
            (node.clone(), node.clone(), ip, port)
        }
        Source::Client { .. } => {
            let np = sp.node_port.ok_or_else(|| {
                AppError::BadRequest(format!(
                    "from client only a NodePort is reachable, and {service:?} port {port} has none"
                ))
            })?;
            let (n, ip) = inv
                .nodes
                .iter()
                .next()
                .ok_or_else(|| AppError::Conflict("the lab has no nodes".into()))?;
            ("client".to_string(), n.clone(), *ip, np)
        }
    };
    let target = format!("{dst}:{dport}");
    let count_s = count.to_string();
    let mut argv = vec![
        "kplab-agent",
        "kplab-probe",
        "--target",
        &target,
        "--count",
        &count_s,
        "--timeout-ms",
        "1000",
        "--protocol",
        &sp.protocol,
        "--parallel",
        "50",
    ];
    let pod_name;
    if let Source::Pod { pod, .. } = &src {
        pod_name = pod.clone();
        argv.extend(["--pod", &pod_name]);
    }
    let (probe, rules, nft_mode) = tokio::join!(
        exec_ok(rt, sandbox, &host, &argv),
        ruleset(rt, sandbox, &node),
        is_nft_node(rt, sandbox, &node)
    );
    let report: labkit::wire::ProbeReport =
        serde_json::from_str(&probe?).map_err(|e| internal("kplab-probe output", e))?;
    let (_, dump) = rules?;
    let in_iface = match &src {
        Source::Pod { ip, .. } => exec_ok(
            rt,
            sandbox,
            &node,
            &["ip", "-o", "route", "get", &ip.to_string()],
        )
        .await
        .ok()
        .and_then(|r| {
            r.split_whitespace()
                .skip_while(|w| *w != "dev")
                .nth(1)
                .map(str::to_string)
        }),
        _ => Some("eth0".into()),
    };
    let pkt = trace::model_packet(
        matches!(src, Source::Node { .. }),
        src.ip(),
        dst,
        &sp.protocol,
        None,
        dport,
        in_iface,
    );
    let routes = exec_ok(rt, sandbox, &node, &["ip", "-o", "-4", "route"])
        .await
        .unwrap_or_default();
    let model = if nft_mode {
        trace::ModelTrace::unsupported(trace::MODEL_NFT)
    } else {
        trace::model_trace(
            &dump,
            &pkt,
            local_ips(&inv, &node),
            trace::parse_routes(&routes),
            None,
        )
    };
    let mut rows: Vec<SpreadRow> = model
        .endpoints
        .iter()
        .map(|(e, share)| SpreadRow {
            endpoint: e.clone(),
            pod: None,
            count: 0,
            expected_share: *share,
            expected: 0.0,
        })
        .collect();
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    let mut answered = 0;
    for a in &report.attempts {
        match (&a.answer, a.failure) {
            (Some(ans), _) => {
                answered += 1;
                let ip = ans.pod_ip.as_str();
                match rows
                    .iter_mut()
                    .find(|r| r.endpoint.rsplit_once(':').map(|(i, _)| i) == Some(ip))
                {
                    Some(r) => r.count += 1,
                    None => rows.push(SpreadRow {
                        endpoint: ip.to_string(),
                        pod: None,
                        count: 1,
                        expected_share: 0.0,
                        expected: 0.0,
                    }),
                }
            }
            (None, f) => {
                *failed
                    .entry(f.map(|f| f.as_str()).unwrap_or("error").to_string())
                    .or_default() += 1
            }
        }
    }
    let names = inv.pod_names();
    for r in &mut rows {
        let ip = r
            .endpoint
            .rsplit_once(':')
            .map(|(i, _)| i)
            .unwrap_or(&r.endpoint);
        r.pod = names.get(ip).cloned();
        r.expected = r.expected_share * answered as f64;
    }
    let observed: Vec<u64> = rows.iter().map(|r| r.count).collect();
    let shares: Vec<f64> = rows.iter().map(|r| r.expected_share).collect();
    let chi = stats::chi_square(&observed, &shares);
    Ok(SpreadResult {
        from: src.label(),
        target,
        node,
        count,
        answered,
        failed,
        endpoints: rows,
        chi_square: chi.map(|c| c.0),
        df: chi.map(|c| c.1),
        p_value: chi.map(|c| c.2),
        note: model
            .unsupported
            .as_ref()
            .map(|_| "kube-proxy on this node runs in nftables mode: the counts are real, but the model tracer does not follow nftables verdict maps yet, so there is no expected share to compare them with".to_string()),
        ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}
