//! kplab-pod: a pod's process; answers on every containerPort with who it is and who called.
//!
//! The kubelet starts it as `kplab-pod <pod> --namespace NS --node NODE --pod-ip IP --port
//! 80/TCP …`. Its first act is `unshare(CLONE_NEWNET)`, so the pod's network namespace is
//! `/proc/<its pid>/ns/net` (no mount, works under AppArmor); the kubelet then moves the pod
//! side of a veth into it. Every answer is one JSON line:
//!
//! ```text
//! {"pod":"web-7d4b9c8f5-x2x9z","namespace":"default","node":"node-2","podIP":"10.244.2.3",
//!  "port":80,"protocol":"TCP","client":"10.244.1.7:51234"}
//! ```
//!
//! TCP ports speak minimal HTTP/1.1 (any path; `Connection: close`); a TCP client that sends
//! a line that is not an HTTP request line gets the JSON line too (and so does one that sends
//! nothing for a second). UDP ports answer each datagram with the JSON line. If the file
//! `<run-dir>/<ns>/<pod>/unready` exists, `/healthz` and the readiness path answer 503, so a
//! lab can plant "a pod that fails its readiness probe". Each answer is logged on stdout
//! (`GET / from 10.244.2.3:51234`), which the kubelet sends to the pod's log file.
//!
//! Lean by design: std threads with 64 KiB stacks, no async runtime; SIGTERM keeps its
//! default action (immediate exit).
//!
//! `kplab-pod --netns-exec COMPONENT -- ARGS…` only unshares the network namespace and then
//! executes this binary as `COMPONENT ARGS…` (the kubelet runs CoreDNS pods that way).
//!
//! `kplab-pod --netns-run PIDFILE [--tty] [--host-network] -- CMD ARGS…` is an interactive
//! pod's process (`kubelet/console.rs`): a session of its own (its terminal, with `--tty`, the
//! controlling one), a network namespace of its own unless `--host-network`, in which it waits
//! until PIDFILE holds its PID (the kubelet writes it once the pod's network is set up), then
//! it executes `CMD ARGS…`.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::kube::ports::served_ports;
pub use crate::kube::ports::{PortSpec, Protocol};

/// Where the kubelet keeps per-pod runtime files (`pid`, `unready`).
pub const DEFAULT_RUN_DIR: &str = crate::kube::contract::POD_RUN_DIR;

/// Stack size of every thread of a pod process: small, the handlers need little.
const THREAD_STACK: usize = 64 * 1024;
/// How long a TCP connection may stay silent before it gets the JSON line anyway.
const FIRST_LINE_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest HTTP header block accepted.
const MAX_HEADER_LINES: usize = 100;

/// Who this pod is: what every answer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIdentity {
    /// Pod name.
    pub pod: String,
    /// Namespace.
    pub namespace: String,
    /// Node name.
    pub node: String,
    /// The pod's IP (`None`: the address the connection arrived on).
    pub pod_ip: Option<IpAddr>,
}

impl PodIdentity {
    /// The JSON answer line (without the trailing newline).
    pub fn answer(&self, port: PortSpec, local: Option<IpAddr>, client: SocketAddr) -> String {
        let ip = self
            .pod_ip
            .or(local)
            .map(|i| i.to_string())
            .unwrap_or_default();
        json!({
            "pod": self.pod,
            "namespace": self.namespace,
            "node": self.node,
            "podIP": ip,
            "port": port.port,
            "protocol": port.protocol.as_str(),
            "client": client.to_string(),
        })
        .to_string()
    }
}

/// The parsed command line of `kplab-pod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Identity reported in answers.
    pub identity: PodIdentity,
    /// Ports to answer on (80/TCP when none was given).
    pub ports: Vec<PortSpec>,
    /// The HTTP path of the readiness probe (answers 503 while the unready file exists).
    pub readiness_path: Option<String>,
    /// Base of `<ns>/<pod>/unready`.
    pub run_dir: PathBuf,
    /// Stay in the caller's network namespace (tests, or a pod without its own namespace).
    pub no_netns: bool,
    /// Address to bind (default `0.0.0.0`).
    pub bind: IpAddr,
}

const USAGE: &str =
    "usage: kplab-pod POD --namespace NS --node NODE [--pod-ip IP] [--port PORT[/TCP|UDP]]... \
[--readiness-path PATH] [--run-dir DIR] [--bind IP] [--no-netns]
       kplab-pod --netns-exec COMPONENT -- ARGS...
       kplab-pod --netns-run PIDFILE [--tty] [--host-network] -- CMD ARGS...";

impl Options {
    /// Parses the arguments after `kplab-pod`.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut pod = None;
        let mut namespace = "default".to_string();
        let mut node = std::env::var("KPLAB_NODE_NAME").unwrap_or_default();
        let mut pod_ip = None;
        let mut ports = Vec::new();
        let mut readiness_path = None;
        let mut run_dir = PathBuf::from(DEFAULT_RUN_DIR);
        let mut no_netns = false;
        let mut bind = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match flag {
                "--namespace" | "-n" => namespace = value(flag)?,
                "--node" => node = value(flag)?,
                "--pod-ip" => {
                    let v = value(flag)?;
                    pod_ip = Some(
                        v.parse()
                            .map_err(|_| format!("--pod-ip: {v:?} is not an IP address"))?,
                    );
                }
                "--port" => ports.push(value(flag)?.parse::<PortSpec>()?),
                "--readiness-path" => readiness_path = Some(value(flag)?),
                "--run-dir" => run_dir = PathBuf::from(value(flag)?),
                "--bind" => {
                    let v = value(flag)?;
                    bind = v
                        .parse()
                        .map_err(|_| format!("--bind: {v:?} is not an IP address"))?;
                }
                "--no-netns" => no_netns = true,
                f if f.starts_with('-') => return Err(format!("unknown flag {f:?}")),
                name => {
                    if pod.is_some() {
                        return Err(format!("unexpected argument {name:?}"));
                    }
                    pod = Some(name.to_string());
                }
            }
        }
        let pod = pod.ok_or("missing the pod name")?;
        let ports = served_ports(ports);
        Ok(Options {
            identity: PodIdentity {
                pod,
                namespace,
                node,
                pod_ip,
            },
            ports,
            readiness_path,
            run_dir,
            no_netns,
            bind,
        })
    }

    /// `<run-dir>/<ns>/<pod>/unready`.
    pub fn unready_file(&self) -> PathBuf {
        self.run_dir
            .join(&self.identity.namespace)
            .join(&self.identity.pod)
            .join("unready")
    }
}

/// Entry point: `kplab-pod POD [flags]`.
pub fn main(args: Vec<String>) -> ExitCode {
    let rest = &args[1.min(args.len())..];
    if rest.first().map(String::as_str) == Some("--netns-exec") {
        return netns_exec(&rest[1..]);
    }
    if rest.first().map(String::as_str) == Some("--netns-run") {
        return netns_run(&rest[1..]);
    }
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match Options::parse(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kplab-pod: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !opts.no_netns {
        // Still single-threaded here: the whole process moves to the new namespace.
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            eprintln!("kplab-pod: unshare(CLONE_NEWNET) failed: {e} (needs CAP_SYS_ADMIN)");
            return ExitCode::from(1);
        }
    }
    match serve(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kplab-pod: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--netns-exec COMPONENT -- ARGS…`: new network namespace, then exec `COMPONENT ARGS…`.
fn netns_exec(rest: &[String]) -> ExitCode {
    let Some(component) = rest.first() else {
        eprintln!("kplab-pod: --netns-exec needs a component name\n{USAGE}");
        return ExitCode::from(2);
    };
    let mut args = &rest[1..];
    if args.first().map(String::as_str) == Some("--") {
        args = &args[1..];
    }
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
        eprintln!("kplab-pod: unshare(CLONE_NEWNET) failed: {e} (needs CAP_SYS_ADMIN)");
        return ExitCode::from(1);
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    // Through a link named after the component when there is one (the process name follows).
    let link = exe.with_file_name(component);
    let exe = if link.exists() { link } else { exe };
    let err = Command::new(&exe).arg0(component).args(args).exec();
    eprintln!(
        "kplab-pod: cannot execute {} as {component}: {err}",
        exe.display()
    );
    ExitCode::from(1)
}

/// `--netns-run PIDFILE [--tty] [--host-network] -- CMD ARGS…` (see the module's docs).
fn netns_run(rest: &[String]) -> ExitCode {
    let Some(pid_file) = rest.first().map(PathBuf::from) else {
        eprintln!("kplab-pod: --netns-run needs a pid file\n{USAGE}");
        return ExitCode::from(2);
    };
    let mut args = &rest[1..];
    let (mut tty, mut host) = (false, false);
    while let Some(a) = args.first() {
        match a.as_str() {
            "--tty" => tty = true,
            "--host-network" => host = true,
            "--" => {
                args = &args[1..];
                break;
            }
            _ => break,
        }
        args = &args[1..];
    }
    let Some(program) = args.first() else {
        eprintln!("kplab-pod: --netns-run needs a command\n{USAGE}");
        return ExitCode::from(2);
    };
    let _ = nix::unistd::setsid();
    if tty {
        // A session leader that opens a terminal makes it its controlling one (job control, ^C).
        if let Ok(path) = nix::unistd::ttyname(std::io::stdin()) {
            let _ = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path);
        }
    }
    if !host {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
            eprintln!("kplab-pod: unshare(CLONE_NEWNET) failed: {e} (needs CAP_SYS_ADMIN)");
            return ExitCode::from(1);
        }
        let me = std::process::id().to_string();
        let began = std::time::Instant::now();
        while std::fs::read_to_string(&pid_file)
            .ok()
            .as_deref()
            .map(str::trim)
            != Some(&me)
            && began.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let err = Command::new(program).args(&args[1..]).exec();
    eprintln!("kplab-pod: exec {program}: {err}");
    ExitCode::from(if err.kind() == ErrorKind::NotFound {
        127
    } else {
        126
    })
}

/// Binds every port, then answers until the process is killed.
pub fn serve(opts: Options) -> std::io::Result<()> {
    let opts = Arc::new(opts);
    let mut handles = Vec::new();
    for &port in &opts.ports {
        let addr = SocketAddr::new(opts.bind, port.port);
        match port.protocol {
            Protocol::Tcp => {
                let listener = TcpListener::bind(addr).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot listen on {addr}/TCP: {e}"))
                })?;
                let o = Arc::clone(&opts);
                handles.push(spawn_small(move || tcp_accept_loop(listener, port, o))?);
            }
            Protocol::Udp => {
                let socket = UdpSocket::bind(addr).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot bind {addr}/UDP: {e}"))
                })?;
                let o = Arc::clone(&opts);
                handles.push(spawn_small(move || udp_loop(socket, port, o))?);
            }
        }
    }
    let list: Vec<String> = opts.ports.iter().map(ToString::to_string).collect();
    println!(
        "kplab-pod {}/{} listening on {}",
        opts.identity.namespace,
        opts.identity.pod,
        list.join(", ")
    );
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

fn spawn_small<F: FnOnce() + Send + 'static>(f: F) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .stack_size(THREAD_STACK)
        .spawn(f)
}

fn tcp_accept_loop(listener: TcpListener, port: PortSpec, opts: Arc<Options>) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                let o = Arc::clone(&opts);
                if let Err(e) = spawn_small(move || {
                    if let Err(e) = handle_tcp(stream, peer, port, &o) {
                        if e.kind() != ErrorKind::BrokenPipe
                            && e.kind() != ErrorKind::ConnectionReset
                        {
                            eprintln!("kplab-pod: {port} connection from {peer}: {e}");
                        }
                    }
                }) {
                    eprintln!("kplab-pod: cannot start a handler thread: {e}");
                }
            }
            Err(e) => {
                eprintln!("kplab-pod: accept on {port}: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Whether `line` is an HTTP/1.x request line; returns (method, target).
fn parse_request_line(line: &str) -> Option<(&str, &str)> {
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if parts.next().is_some()
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !version.starts_with("HTTP/1.")
    {
        return None;
    }
    Some((method, target))
}

fn handle_tcp(
    stream: TcpStream,
    peer: SocketAddr,
    port: PortSpec,
    opts: &Options,
) -> std::io::Result<()> {
    let local = stream.local_addr().ok().map(|a| a.ip());
    let answer = opts.identity.answer(port, local, peer);
    stream.set_read_timeout(Some(FIRST_LINE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => return Ok(()),
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            println!("TCP connection from {peer} (no request)");
            writer.write_all(format!("{answer}\n").as_bytes())?;
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    let first = line.trim_end_matches(['\r', '\n']).to_string();
    let Some((method, target)) = parse_request_line(&first) else {
        // A plain TCP client: one JSON line per line it sends.
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)))?;
        loop {
            println!("TCP line from {peer}");
            writer.write_all(format!("{answer}\n").as_bytes())?;
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(())
                }
                Err(e) => return Err(e),
            }
        }
    };
    // Skip the headers.
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))?;
    for _ in 0..MAX_HEADER_LINES {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end_matches(['\r', '\n']).is_empty() {
            break;
        }
    }
    let path = target.split('?').next().unwrap_or(target);
    let is_health = path == "/healthz" || opts.readiness_path.as_deref() == Some(path);
    let unready = is_health && opts.unready_file().exists();
    let (status, body) = if unready {
        (
            "503 Service Unavailable",
            json!({"pod": opts.identity.pod, "ready": false,
                   "reason": format!("{} exists", opts.unready_file().display())})
            .to_string(),
        )
    } else {
        ("200 OK", answer)
    };
    println!("{method} {target} from {peer}");
    let body = format!("{body}\n");
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    writer.write_all(response.as_bytes())?;
    writer.flush()
}

fn udp_loop(socket: UdpSocket, port: PortSpec, opts: Arc<Options>) {
    let mut buf = [0u8; 2048];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((_, peer)) => {
                let answer = format!("{}\n", opts.identity.answer(port, None, peer));
                println!("UDP datagram from {peer}");
                if let Err(e) = socket.send_to(answer.as_bytes(), peer) {
                    eprintln!("kplab-pod: {port} reply to {peer}: {e}");
                }
            }
            Err(e) => {
                eprintln!("kplab-pod: recv on {port}: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_ports_and_defaults_to_80_tcp() {
        let o = Options::parse(&args("web-1 --namespace prod --node node-2")).unwrap();
        assert_eq!(o.ports, vec!["80/TCP".parse().unwrap()]);
        assert_eq!(o.identity.namespace, "prod");
        assert_eq!(o.identity.node, "node-2");
        let o = Options::parse(&args("dns --port 53/UDP --port=53/tcp --port 9153")).unwrap();
        let names: Vec<String> = o.ports.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["53/TCP", "53/UDP", "9153/TCP"]);
        assert_eq!(
            o.unready_file(),
            PathBuf::from("/run/kplab/pods/default/dns/unready")
        );
    }

    #[test]
    fn rejects_bad_arguments_with_a_reason() {
        let e = Options::parse(&args("p --port 70000")).unwrap_err();
        assert!(e.contains("70000"), "{e}");
        let e = Options::parse(&args("p --port 80/SCTP")).unwrap_err();
        assert!(e.contains("SCTP"), "{e}");
        assert!(Options::parse(&args("--node n"))
            .unwrap_err()
            .contains("pod name"));
        assert!(Options::parse(&args("p --pod-ip x"))
            .unwrap_err()
            .contains("--pod-ip"));
    }

    #[test]
    fn answer_is_one_json_line_with_the_client() {
        let id = PodIdentity {
            pod: "web-7d4b9c8f5-x2x9z".into(),
            namespace: "default".into(),
            node: "node-2".into(),
            pod_ip: Some("10.244.2.3".parse().unwrap()),
        };
        let a = id.answer(
            "80/TCP".parse().unwrap(),
            None,
            "10.244.1.7:51234".parse().unwrap(),
        );
        assert!(!a.contains('\n'));
        assert_eq!(
            a,
            r#"{"pod":"web-7d4b9c8f5-x2x9z","namespace":"default","node":"node-2","podIP":"10.244.2.3","port":80,"protocol":"TCP","client":"10.244.1.7:51234"}"#
        );
    }

    #[test]
    fn recognises_http_request_lines() {
        assert_eq!(parse_request_line("GET / HTTP/1.1"), Some(("GET", "/")));
        assert_eq!(
            parse_request_line("HEAD /healthz?x=1 HTTP/1.0"),
            Some(("HEAD", "/healthz?x=1"))
        );
        assert_eq!(parse_request_line("hello"), None);
        assert_eq!(parse_request_line("get / HTTP/1.1"), None);
        assert_eq!(parse_request_line("GET / SPDY/3"), None);
    }
}
