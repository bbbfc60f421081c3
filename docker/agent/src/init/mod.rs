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

mod commands;
mod docker_dns;
mod env;
mod files;
mod ready;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::ExitCode;
use std::process::Stdio;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use nix::sys::signal::kill;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::kube::net;

use env::var;
use files::write_in_place;
use ready::wait_ready_main;

pub use commands::{component_commands, ComponentCommand};
pub use docker_dns::remove_docker_dns_rules;
pub use env::{NodeEnv, Role, CLUSTER_DNS, LINKS, LOG_DIR, SERVICE_CIDR};
pub use files::{hosts_cover, hosts_file, kubeconfig, resolv_conf, resolv_conf_uses_cluster_dns};
pub use ready::not_ready;

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

/// Writes root's `~/.kube/config` for the real kubectl, unless one is there already (a
/// learner's own edits survive a node restart).
fn write_kubeconfig(apiserver: &str) {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    let dir = home.join(".kube");
    let path = dir.join("config");
    if path.exists() {
        return;
    }
    let written =
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, kubeconfig(apiserver)));
    if let Err(e) = written {
        say(&format!("cannot write {}: {e}", path.display()));
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
    write_kubeconfig(&env.apiserver);
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
