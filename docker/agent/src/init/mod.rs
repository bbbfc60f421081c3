//! kplab-node: the node's supervisor, started as the container command; starts and restarts the components.
//!
//! `kplab-node` (under Docker's `--init`) reads `KPLAB_ROLE` and:
//! 1. prepares the node: `/etc/resolv.conf` (cluster DNS) and `/etc/hosts` (the lab's hosts),
//!    rewritten in place where they do not say so already (the host's sandbox driver gives them
//!    read-only and filled in; other setups get them written); removes Docker's embedded-DNS NAT
//!    rules through every iptables backend present, so `iptables-save` shows only Kubernetes'
//!    rules; makes the component links in `/usr/local/bin`; creates `vxlan.calico`;
//! 2. starts the components for its role, each as this binary with arg0 = the component's name
//!    and real-looking flags ([`component_commands`]), output appended to
//!    `/var/log/kplab/<component>.log`, restarted with backoff when it exits;
//! 3. on SIGTERM/SIGINT stops them (SIGTERM, then SIGKILL after 2 s) and exits.
//!
//! `kplab-node --wait-ready [--timeout SECS]` waits until every node of `KPLAB_NODES` is Ready.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::kube::client::{ApiClient, KubeObject, NODES};
use crate::kube::iptables::Iptables;
use crate::kube::net;

/// Component logs.
pub const LOG_DIR: &str = crate::kube::contract::LOG_DIR;
/// The cluster DNS Service address.
pub const CLUSTER_DNS: &str = crate::kube::contract::DNS_SERVICE_IP;
/// The Service CIDR.
pub const SERVICE_CIDR: &str = crate::kube::contract::SERVICE_CIDR;
/// Names the image links to the multi-call binary.
pub const LINKS: &[&str] = &[
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "calico-node",
    "coredns",
    "kplab-node",
    "kplab-pod",
];

/// What this container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// node-1: API server, controllers, scheduler, kubelet, kube-proxy.
    ControlPlane,
    /// kubelet and kube-proxy.
    Worker,
    /// An outside host: no components.
    Client,
}

/// The node's environment (see CONTRACTS.md).
#[derive(Debug, Clone)]
pub struct NodeEnv {
    /// `KPLAB_ROLE`.
    pub role: Role,
    /// `KPLAB_NODE_NAME` (or the hostname).
    pub name: String,
    /// `KPLAB_NODE_INDEX` (nodes only).
    pub index: u32,
    /// `KPLAB_NODE_IP` (nodes only).
    pub ip: Option<Ipv4Addr>,
    /// `KPLAB_APISERVER`.
    pub apiserver: String,
    /// `KPLAB_NODES`.
    pub nodes: Vec<net::Peer>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl NodeEnv {
    /// Reads and validates the environment, naming the variable that is wrong.
    pub fn from_env() -> Result<NodeEnv, String> {
        let role = match var("KPLAB_ROLE").as_deref() {
            Some("control-plane") => Role::ControlPlane,
            Some("worker") => Role::Worker,
            Some("client") => Role::Client,
            Some(other) => {
                return Err(format!(
                    "KPLAB_ROLE={other:?}: expected control-plane, worker or client"
                ))
            }
            None => return Err("KPLAB_ROLE is not set (control-plane, worker or client)".into()),
        };
        let nodes = match var("KPLAB_NODES") {
            Some(v) => net::parse_nodes(&v)?,
            None => Vec::new(),
        };
        let name = var("KPLAB_NODE_NAME")
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_default();
        let (index, ip) = if role == Role::Client {
            (0, var("KPLAB_NODE_IP").and_then(|v| v.parse().ok()))
        } else {
            let index = match var("KPLAB_NODE_INDEX") {
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("KPLAB_NODE_INDEX={v:?} is not a number"))?,
                None => net::index_from_name(&name)
                    .ok_or("KPLAB_NODE_INDEX is not set and the node name does not end in -N")?,
            };
            let ip_text = var("KPLAB_NODE_IP").ok_or("KPLAB_NODE_IP is not set")?;
            let ip = ip_text
                .parse()
                .map_err(|_| format!("KPLAB_NODE_IP={ip_text:?} is not an IPv4 address"))?;
            if name.is_empty() {
                return Err("KPLAB_NODE_NAME is not set".into());
            }
            (index, Some(ip))
        };
        Ok(NodeEnv {
            role,
            name,
            index,
            ip,
            apiserver: var("KPLAB_APISERVER")
                .unwrap_or_else(|| crate::kube::contract::DEFAULT_APISERVER.to_string()),
            nodes,
        })
    }
}

/// One component to run: arg0 and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentCommand {
    /// The component's name (arg0, log file name).
    pub name: &'static str,
    /// Its flags.
    pub args: Vec<String>,
}

/// The components of a role with the flags `ps` shows (each accepted by its component).
pub fn component_commands(env: &NodeEnv) -> Vec<ComponentCommand> {
    let ip = env.ip.map(|i| i.to_string()).unwrap_or_default();
    let kubelet = ComponentCommand {
        name: "kubelet",
        args: vec![
            format!("--hostname-override={}", env.name),
            format!("--node-ip={ip}"),
            format!("--pod-cidr={}", net::pod_cidr(env.index)),
            format!("--cluster-dns={CLUSTER_DNS}"),
            format!("--cluster-domain={}", crate::kube::contract::CLUSTER_DOMAIN),
            "--root-dir=/var/lib/kplab/kubelet".into(),
            "--container-runtime-endpoint=unix:///run/kplab/kplab.sock".into(),
        ],
    };
    let proxy = ComponentCommand {
        name: "kube-proxy",
        args: vec![
            format!("--hostname-override={}", env.name),
            format!("--cluster-cidr={}", net::CLUSTER_CIDR),
            format!("--node-ip={ip}"),
            "--detect-local-mode=ClusterCIDR".into(),
        ],
    };
    // The NetworkPolicy enforcer, as on a Calico node (`calico-node -felix`).
    let felix = ComponentCommand {
        name: "calico-node",
        args: vec!["-felix".into(), format!("--node-name={}", env.name)],
    };
    match env.role {
        Role::Client => vec![],
        Role::Worker => vec![kubelet, felix, proxy],
        Role::ControlPlane => vec![
            ComponentCommand {
                name: "kube-apiserver",
                args: vec![
                    format!("--advertise-address={ip}"),
                    "--bind-address=0.0.0.0".into(),
                    format!("--secure-port={}", crate::kube::contract::APISERVER_PORT),
                    "--data-dir=/var/lib/kplab".into(),
                ],
            },
            ComponentCommand {
                name: "kube-controller-manager",
                args: vec![
                    format!("--cluster-cidr={}", net::CLUSTER_CIDR),
                    format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                ],
            },
            ComponentCommand {
                name: "kube-scheduler",
                args: vec!["--leader-elect=false".into()],
            },
            kubelet,
            felix,
            proxy,
        ],
    }
}

/// `/etc/resolv.conf` of a node: the cluster DNS.
pub fn resolv_conf() -> String {
    format!(
        "# written by kplab-node: the cluster DNS (Service kube-system/kube-dns)\n\
         search default.svc.cluster.local svc.cluster.local cluster.local\n\
         nameserver {CLUSTER_DNS}\n\
         options ndots:5\n"
    )
}

/// `/etc/hosts`: localhost, the nodes and the client (`.100` of the lab subnet, or
/// `KPLAB_CLIENT_IP`).
pub fn hosts_file(env: &NodeEnv, client_ip: Option<Ipv4Addr>) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for n in &env.nodes {
        s.push_str(&format!("{}\t{}\n", n.ip, n.name));
    }
    let client = client_ip.or_else(|| {
        env.nodes.first().map(|n| {
            let o = n.ip.octets();
            Ipv4Addr::new(o[0], o[1], o[2], 100)
        })
    });
    if let Some(c) = client {
        s.push_str(&format!("{c}\tclient\n"));
    }
    s
}

/// Whether a hosts file `text` maps every lab name of `wanted` (a hosts file: its IPv4 entries
/// other than loopback) to its address.
pub fn hosts_cover(text: &str, wanted: &str) -> bool {
    let entries = |t: &str| -> Vec<(String, String)> {
        t.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let ip = f.next()?.to_string();
                Some(f.map(|n| (ip.clone(), n.to_string())).collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    };
    let have = entries(text);
    entries(wanted)
        .iter()
        .filter(|(ip, _)| ip.parse::<Ipv4Addr>().is_ok_and(|a| !a.is_loopback()))
        .all(|e| have.contains(e))
}

/// Whether a resolv.conf `text` sends queries to the cluster DNS first, with its search path.
pub fn resolv_conf_uses_cluster_dns(text: &str) -> bool {
    let first_ns = text
        .lines()
        .find_map(|l| l.strip_prefix("nameserver"))
        .map(str::trim);
    first_ns == Some(CLUSTER_DNS)
        && text
            .lines()
            .any(|l| l.starts_with("search default.svc.cluster.local "))
}

/// Writes a file in place (truncate + write): Docker bind-mounts `/etc/hosts` and
/// `/etc/resolv.conf`, so a rename over them would fail.
fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .create(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// A line on stderr and in `/var/log/kplab/kplab-node.log`.
fn say(msg: &str) {
    let now = time::OffsetDateTime::now_utc();
    let line = format!(
        "{:02}:{:02}:{:02}.{:03} kplab-node: {msg}\n",
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    eprint!("{line}");
    if let Ok(mut f) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(LOG_DIR).join("kplab-node.log"))
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Removes Docker's embedded-DNS NAT rules (chains `DOCKER_OUTPUT`, `DOCKER_POSTROUTING` and
/// the jumps to them) with each iptables backend found; returns what was removed.
pub fn remove_docker_dns_rules() -> Vec<String> {
    let mut removed = Vec::new();
    // Listing a legacy table instantiates it in this namespace (and iptables-nft then warns
    // "iptables-legacy tables present" forever): only touch legacy when its nat table exists.
    let legacy_nat = std::fs::read_to_string("/proc/net/ip_tables_names")
        .is_ok_and(|t| t.lines().any(|l| l.trim() == "nat"));
    for bin in ["iptables-legacy", "iptables-nft"] {
        if bin == "iptables-legacy" && !legacy_nat {
            continue;
        }
        let ipt = Iptables {
            iptables: bin.into(),
            ..Iptables::default()
        };
        let Ok(text) = ipt.run_iptables(&["-w", "-t", "nat", "-S"]) else {
            continue;
        };
        let docker_chain = |w: &str| w == "DOCKER_OUTPUT" || w == "DOCKER_POSTROUTING";
        let mut chains = Vec::new();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["-N", c] if docker_chain(c) => chains.push(c.to_string()),
                ["-A", chain, rest @ ..]
                    if !docker_chain(chain) && rest.iter().any(|w| docker_chain(w)) =>
                {
                    let mut args = vec!["-w", "-t", "nat", "-D", chain];
                    args.extend_from_slice(rest);
                    if ipt.run_iptables(&args).is_ok() {
                        removed.push(format!("{bin}: {line}"));
                    }
                }
                _ => {}
            }
        }
        for c in chains {
            let ok = ipt.run_iptables(&["-w", "-t", "nat", "-F", &c]).is_ok()
                && ipt.run_iptables(&["-w", "-t", "nat", "-X", &c]).is_ok();
            if ok {
                removed.push(format!("{bin}: chain {c}"));
            }
        }
    }
    removed
}

/// Links `/usr/local/bin/<component>` to the agent binary where the image has no such file.
fn ensure_links(exe: &Path) {
    let dir = Path::new("/usr/local/bin");
    for name in LINKS {
        let link = dir.join(name);
        if link.symlink_metadata().is_err() {
            if let Err(e) = std::os::unix::fs::symlink(exe, &link) {
                say(&format!(
                    "cannot link {} -> {}: {e}",
                    link.display(),
                    exe.display()
                ));
            }
        }
    }
}

/// Entry point of `kplab-node`.
pub fn main(args: Vec<String>) -> ExitCode {
    let rest: Vec<String> = args.iter().skip(1).cloned().collect();
    if rest.iter().any(|a| a == "--wait-ready") {
        return wait_ready_main(&rest);
    }
    if let Some(a) = rest.first() {
        eprintln!("kplab-node: unexpected argument {a:?}\nusage: kplab-node | kplab-node --wait-ready [--timeout SECS]");
        return ExitCode::from(2);
    }
    let env = match NodeEnv::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("kplab-node: {e}");
            return ExitCode::from(2);
        }
    };
    run_node(env)
}

fn run_node(env: NodeEnv) -> ExitCode {
    let began = Instant::now();
    // SIGTERM/SIGINT are caught by a handler (tokio's), not blocked: a blocked mask would be
    // inherited by every component and pod (exec keeps it), and they would ignore SIGTERM.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kplab-node: cannot start the signal runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let signals = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        Ok::<_, std::io::Error>((
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        ))
    });
    let (mut sigterm, mut sigint) = match signals {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kplab-node: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    for d in [
        LOG_DIR,
        "/var/log/kplab/pods",
        "/var/lib/kplab/kubelet",
        "/run/kplab/pods",
    ] {
        if let Err(e) = std::fs::create_dir_all(d) {
            eprintln!("kplab-node: cannot create {d}: {e}");
        }
    }
    let exe =
        std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/local/bin/kplab-agent"));
    ensure_links(&exe);
    let client_ip = var("KPLAB_CLIENT_IP").and_then(|v| v.parse().ok());
    let current = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    if !hosts_cover(&current, &hosts_file(&env, client_ip)) {
        if let Err(e) = write_in_place(Path::new("/etc/hosts"), &hosts_file(&env, client_ip)) {
            say(&format!("cannot rewrite /etc/hosts: {e}"));
        }
    }
    let commands = component_commands(&env);
    let stopping = Arc::new(AtomicBool::new(false));
    let pids: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(vec![0; commands.len()]));
    let mut threads = Vec::new();
    let start =
        |slot: usize, cmd: ComponentCommand, threads: &mut Vec<std::thread::JoinHandle<()>>| {
            let (stopping, pids, exe) = (Arc::clone(&stopping), Arc::clone(&pids), exe.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(cmd.name.to_string())
                    .stack_size(128 * 1024)
                    .spawn(move || supervise(&exe, &cmd, slot, &pids, &stopping))
                    .expect("spawn a supervisor thread"),
            );
        };
    let mut pending: Vec<(usize, ComponentCommand)> = commands.into_iter().enumerate().collect();
    if env.role != Role::Client {
        let current = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        if !resolv_conf_uses_cluster_dns(&current) {
            if let Err(e) = write_in_place(Path::new("/etc/resolv.conf"), &resolv_conf()) {
                say(&format!("cannot rewrite /etc/resolv.conf: {e}"));
            }
        }
        // Boot time: the API server starts before the slower network preparation, which
        // the other components (retrying every 50 ms) do not need to wait for it.
        if let Some(pos) = pending.iter().position(|(_, c)| c.name == "kube-apiserver") {
            let (slot, cmd) = pending.remove(pos);
            start(slot, cmd, &mut threads);
        }
        let cleanup = std::thread::spawn(remove_docker_dns_rules);
        if let Some(ip) = env.ip {
            let dev = net::underlay_device(ip);
            if let Err(e) = net::ensure_overlay(env.index, ip, &dev, &env.nodes) {
                say(&format!("cannot set up {}: {e}", net::VXLAN_DEV));
            }
        }
        for r in cleanup.join().unwrap_or_default() {
            say(&format!("removed Docker DNS rule ({r})"));
        }
    }
    say(&format!(
        "{} ({:?}) prepared in {:.1} ms; starting {}",
        env.name,
        env.role,
        began.elapsed().as_secs_f64() * 1e3,
        if pending.is_empty() {
            "nothing more".to_string()
        } else {
            pending
                .iter()
                .map(|(_, c)| c.name)
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    for (slot, cmd) in pending {
        start(slot, cmd, &mut threads);
    }
    // Wait for SIGTERM / SIGINT.
    let sig = rt.block_on(async {
        tokio::select! {
            _ = sigterm.recv() => "SIGTERM",
            _ = sigint.recv() => "SIGINT",
        }
    });
    say(&format!("{sig} received: stopping the components"));
    stopping.store(true, Ordering::SeqCst);
    let live: Vec<u32> = pids.lock().map(|p| p.clone()).unwrap_or_default();
    for pid in live.iter().filter(|p| **p != 0) {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !threads.iter().all(|t| t.is_finished()) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let live: Vec<u32> = pids.lock().map(|p| p.clone()).unwrap_or_default();
    for pid in live.iter().filter(|p| **p != 0) {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
    }
    ExitCode::SUCCESS
}

/// Runs one component forever: start, wait, restart with backoff (100 ms doubling to 10 s,
/// back to 100 ms after a run of 30 s).
fn supervise(
    exe: &Path,
    cmd: &ComponentCommand,
    slot: usize,
    pids: &Mutex<Vec<u32>>,
    stopping: &AtomicBool,
) {
    let log_path = Path::new(LOG_DIR).join(format!("{}.log", cmd.name));
    let mut backoff = Duration::from_millis(100);
    while !stopping.load(Ordering::SeqCst) {
        let log = OpenOptions::new().create(true).append(true).open(&log_path);
        let (out, err) = match log.and_then(|f| Ok((f.try_clone()?, f))) {
            Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
            Err(e) => {
                say(&format!("cannot open {}: {e}", log_path.display()));
                (Stdio::null(), Stdio::null())
            }
        };
        let started = Instant::now();
        // Through the image's link when there is one, so the process name (comm, what
        // `pgrep kube-proxy` and `top` show) is the component's, not `kplab-agent`.
        let link = Path::new("/usr/local/bin").join(cmd.name);
        let program = if link.exists() { link.as_path() } else { exe };
        let child = Command::new(program)
            .arg0(cmd.name)
            .args(&cmd.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                say(&format!("cannot start {}: {e}", cmd.name));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Ok(mut p) = pids.lock() {
            p[slot] = child.id();
        }
        let status = child.wait();
        if let Ok(mut p) = pids.lock() {
            p[slot] = 0;
        }
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_millis(100);
        }
        let status = status
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        say(&format!(
            "{} exited ({status}) after {:.1} s; restarting in {backoff:?} (see {})",
            cmd.name,
            started.elapsed().as_secs_f64(),
            log_path.display()
        ));
        let wake = Instant::now() + backoff;
        while Instant::now() < wake && !stopping.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Which of `wanted` are not yet Ready in `nodes` (a Node list), with the reason.
pub fn not_ready(wanted: &[String], nodes: &[Value]) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|w| {
            let Some(n) = nodes.iter().find(|n| n.name() == w) else {
                return Some(format!("{w}: not registered"));
            };
            let ready = n
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .and_then(|c| c["status"].as_str())
                .unwrap_or("Unknown");
            (ready != "True").then(|| format!("{w}: Ready={ready}"))
        })
        .collect()
}

fn wait_ready_main(args: &[String]) -> ExitCode {
    let mut timeout = Duration::from_secs(60);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match a.as_str() {
            "--wait-ready" => continue,
            "--timeout" => it.next().cloned(),
            s if s.starts_with("--timeout=") => Some(s["--timeout=".len()..].to_string()),
            other => {
                eprintln!("kplab-node: unexpected argument {other:?}");
                return ExitCode::from(2);
            }
        };
        match value
            .as_deref()
            .map(|v| v.trim_end_matches('s').parse::<f64>())
        {
            Some(Ok(s)) if s >= 0.0 => timeout = Duration::from_secs_f64(s),
            _ => {
                eprintln!("kplab-node: --timeout needs a number of seconds");
                return ExitCode::from(2);
            }
        }
    }
    let wanted: Vec<String> = match var("KPLAB_NODES").map(|v| net::parse_nodes(&v)) {
        Some(Ok(n)) => n.into_iter().map(|p| p.name).collect(),
        Some(Err(e)) => {
            eprintln!("kplab-node: {e}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("kplab-node: KPLAB_NODES is not set: which nodes should be Ready?");
            return ExitCode::from(2);
        }
    };
    let client = ApiClient::from_env();
    let began = Instant::now();
    loop {
        let last = match client.list(&NODES, None, None, None) {
            Ok(list) => {
                let missing = not_ready(&wanted, &list.items);
                if missing.is_empty() {
                    println!(
                        "all {} nodes Ready after {:.2} s",
                        wanted.len(),
                        began.elapsed().as_secs_f64()
                    );
                    return ExitCode::SUCCESS;
                }
                missing.join(", ")
            }
            Err(e) => e.to_string(),
        };
        if began.elapsed() >= timeout {
            eprintln!("kplab-node: nodes not Ready after {timeout:?}: {last}");
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(role: Role) -> NodeEnv {
        NodeEnv {
            role,
            name: "node-2".into(),
            index: 2,
            ip: Some("172.28.5.11".parse().unwrap()),
            apiserver: "http://172.28.5.10:6443".into(),
            nodes: net::parse_nodes("node-1=172.28.5.10,node-2=172.28.5.11").unwrap(),
        }
    }

    #[test]
    fn roles_start_the_right_components() {
        let names = |r| {
            component_commands(&env(r))
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Role::ControlPlane),
            [
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "kubelet",
                "calico-node",
                "kube-proxy"
            ]
        );
        assert_eq!(
            names(Role::Worker),
            ["kubelet", "calico-node", "kube-proxy"]
        );
        assert!(names(Role::Client).is_empty());
        let proxy = component_commands(&env(Role::Worker)).pop().unwrap();
        assert_eq!(
            proxy.args.join(" "),
            "--hostname-override=node-2 --cluster-cidr=10.244.0.0/16 --node-ip=172.28.5.11 --detect-local-mode=ClusterCIDR"
        );
    }

    #[test]
    fn hosts_and_resolv_conf() {
        let h = hosts_file(&env(Role::Worker), None);
        assert!(h.contains("172.28.5.10\tnode-1\n"));
        assert!(h.contains("172.28.5.11\tnode-2\n"));
        assert!(h.contains("172.28.5.100\tclient\n"));
        assert!(
            hosts_file(&env(Role::Worker), Some("10.0.0.9".parse().unwrap()))
                .contains("10.0.0.9\tclient")
        );
        assert!(hosts_cover(&h, &h));
        let docker = "127.0.0.1\tlocalhost\n172.28.5.11\tnode-2\n172.28.5.10 node-1\n172.28.5.11 node-2\n172.28.5.100 client\n";
        assert!(hosts_cover(docker, &h));
        assert!(!hosts_cover(
            "127.0.0.1 localhost\n172.28.5.11 node-2\n",
            &h
        ));
        let r = resolv_conf();
        assert!(resolv_conf_uses_cluster_dns(&r));
        assert!(!resolv_conf_uses_cluster_dns(
            "nameserver 127.0.0.11\noptions ndots:0\n"
        ));
        assert!(r.contains("nameserver 10.96.0.10\n"));
        assert!(r.contains("search default.svc.cluster.local svc.cluster.local cluster.local\n"));
    }

    #[test]
    fn readiness_names_what_is_missing() {
        let wanted = vec!["node-1".to_string(), "node-2".to_string()];
        let ready = json!({"metadata": {"name": "node-1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let unready = json!({"metadata": {"name": "node-2"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(
            not_ready(&wanted, std::slice::from_ref(&ready)),
            ["node-2: not registered"]
        );
        assert_eq!(
            not_ready(&wanted, &[ready.clone(), unready]),
            ["node-2: Ready=False"]
        );
        let ready2 = json!({"metadata": {"name": "node-2"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(not_ready(&wanted, &[ready, ready2]).is_empty());
    }
}
