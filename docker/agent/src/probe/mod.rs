//! kplab-probe: N connections from this node, the client, or a pod (entering its network
//! namespace) to a target, reporting per connection as JSON which pod answered, the client
//! address it saw, and how failures failed (timeout = dropped, refused = rejected).
//!
//! ```text
//! kplab-probe --target 10.96.0.50:80 [--count 20] [--timeout-ms 1000] [--protocol tcp|udp]
//!             [--pod NS/NAME] [--from LABEL] [--parallel 20] [--run-dir /run/kplab/pods]
//!             [--source-port PORT]
//! ```
//! `--source-port` (UDP only) sends every datagram from that port, one at a time, as a client
//! that keeps its socket does: the flow keeps a single conntrack entry alive.
//! The pod servers answer with one JSON line (pod, namespace, node, podIP, client): over HTTP
//! on TCP, as a datagram on UDP. Output: one [`labkit::wire::ProbeReport`] on stdout.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod forget;

use crate::kube::cli::report_json;
use labkit::wire::{Failure, PodAnswer, ProbeAttempt, ProbeReport};

/// Parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// `HOST:PORT`.
    pub target: String,
    /// Connections.
    pub count: u32,
    /// Per-connection timeout.
    pub timeout: Duration,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// `NS/NAME` of a pod on this node whose network namespace to enter.
    pub pod: Option<String>,
    /// Label echoed in the report.
    pub from: String,
    /// Connections in flight at once.
    pub parallel: usize,
    /// Where the kubelet keeps `<ns>/<pod>/pid`.
    pub run_dir: PathBuf,
    /// UDP: the fixed source port (0 = a new ephemeral port per datagram).
    pub source_port: u16,
}

const USAGE: &str = "usage: kplab-probe --target HOST:PORT [--count N] [--timeout-ms MS] [--protocol tcp|udp] [--pod NS/NAME] [--from LABEL] [--parallel N] [--run-dir DIR] [--source-port PORT]";

/// Parses `kplab-probe` arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        target: String::new(),
        count: 10,
        timeout: Duration::from_millis(1000),
        protocol: "tcp".into(),
        pod: None,
        from: String::new(),
        parallel: 20,
        run_dir: PathBuf::from(crate::kube::contract::POD_RUN_DIR),
        source_port: 0,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--target" => a.target = value()?,
            "--count" => {
                a.count = value()?
                    .parse()
                    .map_err(|_| "--count must be a number".to_string())?
            }
            "--timeout-ms" => {
                a.timeout = Duration::from_millis(
                    value()?
                        .parse()
                        .map_err(|_| "--timeout-ms must be a number".to_string())?,
                )
            }
            "--protocol" => a.protocol = value()?.to_ascii_lowercase(),
            "--pod" => a.pod = Some(value()?),
            "--from" => a.from = value()?,
            "--parallel" => {
                a.parallel = value()?
                    .parse()
                    .map_err(|_| "--parallel must be a number".to_string())?
            }
            "--run-dir" => a.run_dir = PathBuf::from(value()?),
            "--source-port" => {
                a.source_port = value()?
                    .parse()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| "--source-port must be 1..65535".to_string())?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
        }
    }
    if a.target.is_empty() {
        return Err(format!("--target is required\n{USAGE}"));
    }
    if !(1..=1000).contains(&a.count) {
        return Err("--count must be 1..1000".into());
    }
    if a.protocol != "tcp" && a.protocol != "udp" {
        return Err("--protocol must be tcp or udp".into());
    }
    a.parallel = a.parallel.clamp(1, 100);
    if a.source_port != 0 && a.protocol != "udp" {
        return Err("--source-port needs --protocol udp".into());
    }
    if a.from.is_empty() {
        a.from = a
            .pod
            .as_ref()
            .map(|p| format!("pod:{p}"))
            .unwrap_or_else(|| std::env::var("KPLAB_NODE_NAME").unwrap_or_else(|_| "local".into()));
    }
    Ok(a)
}

/// Entry point.
pub fn main(args: Vec<String>) -> ExitCode {
    let a = match parse_args(&args[1..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kplab-probe: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(pod) = &a.pod {
        if let Err(e) = enter_pod(&a.run_dir, pod) {
            eprintln!("kplab-probe: {e}");
            return ExitCode::from(1);
        }
    }
    report_json("kplab-probe", run(&a))
}

/// Enters the network namespace of pod `NS/NAME` (before any thread is started).
fn enter_pod(run_dir: &std::path::Path, pod: &str) -> Result<(), String> {
    let (ns, name) = pod
        .split_once('/')
        .ok_or_else(|| format!("--pod {pod:?} must be NS/NAME"))?;
    let pid_file = run_dir.join(ns).join(name).join("pid");
    let pid = std::fs::read_to_string(&pid_file).map_err(|e| {
        format!(
            "pod {pod} is not on this node ({}: {e})",
            pid_file.display()
        )
    })?;
    let path = format!("/proc/{}/ns/net", pid.trim());
    let f = std::fs::File::open(&path).map_err(|e| format!("opening {path}: {e}"))?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("entering the network namespace of {pod}: {e}"))
}

/// Runs the probe.
pub fn run(a: &Args) -> Result<ProbeReport, String> {
    let addr: SocketAddr = a
        .target
        .to_socket_addrs()
        .map_err(|e| format!("resolving {}: {e}", a.target))?
        .find(|s| s.is_ipv4())
        .ok_or_else(|| format!("{} has no IPv4 address", a.target))?;
    let results: Arc<Mutex<Vec<Option<ProbeAttempt>>>> =
        Arc::new(Mutex::new(vec![None; a.count as usize]));
    let next = Arc::new(Mutex::new(0usize));
    let mut threads = Vec::new();
    // One socket per source port: with a fixed one the datagrams go one after another.
    let parallel = if a.source_port != 0 { 1 } else { a.parallel };
    for _ in 0..parallel.min(a.count as usize) {
        let (results, next, a) = (results.clone(), next.clone(), a.clone());
        let t = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                    let i = *n;
                    *n += 1;
                    i
                };
                if i >= a.count as usize {
                    return;
                }
                let r = if a.protocol == "udp" {
                    udp_once(addr, a.timeout, a.source_port)
                } else {
                    tcp_once(addr, a.timeout)
                };
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            })
            .map_err(|e| format!("starting a thread: {e}"))?;
        threads.push(t);
    }
    for t in threads {
        let _ = t.join();
    }
    let attempts = Arc::try_unwrap(results)
        .map_err(|_| "threads still hold results".to_string())?
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    Ok(ProbeReport {
        from: a.from.clone(),
        target: addr.to_string(),
        protocol: a.protocol.clone(),
        attempts: attempts.into_iter().flatten().collect(),
    })
}

fn classify(e: &std::io::Error) -> Failure {
    match e.kind() {
        ErrorKind::ConnectionRefused => Failure::Refused,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => Failure::Timeout,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => Failure::Unreachable,
        _ => match e.raw_os_error() {
            Some(113) | Some(101) => Failure::Unreachable,
            Some(111) => Failure::Refused,
            _ => Failure::Error,
        },
    }
}

fn failed(t0: Instant, local: Option<String>, e: &std::io::Error) -> ProbeAttempt {
    ProbeAttempt {
        local,
        answer: None,
        failure: Some(classify(e)),
        error: Some(e.to_string()),
        ms: ms(t0),
    }
}

/// The attempt that got a reply: the pod's answer in it, or an error (`missing`) saying it had
/// none.
fn answered(
    t0: Instant,
    local: Option<String>,
    answer: Option<PodAnswer>,
    missing: impl FnOnce() -> String,
) -> ProbeAttempt {
    match answer {
        Some(answer) => ProbeAttempt {
            local,
            answer: Some(answer),
            failure: None,
            error: None,
            ms: ms(t0),
        },
        None => ProbeAttempt {
            local,
            answer: None,
            failure: Some(Failure::Error),
            error: Some(missing()),
            ms: ms(t0),
        },
    }
}

fn ms(t0: Instant) -> f64 {
    (t0.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// The pod server's JSON line in an answer (the last line that parses).
fn answer_of(text: &str) -> Option<PodAnswer> {
    text.lines()
        .rev()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .find_map(|l| serde_json::from_str(l).ok())
}

/// The address this host sends from to `addr` (the route's source; no packet is sent).
fn source_for(addr: SocketAddr) -> std::io::Result<std::net::IpAddr> {
    let s = UdpSocket::bind(("0.0.0.0", 0))?;
    s.connect(addr)?;
    Ok(s.local_addr()?.ip())
}

/// A TCP socket bound to its source address and an ephemeral port before it connects, so that
/// the connection's tuple is known (and can be forgotten in conntrack) even when it fails.
fn bound_tcp(addr: SocketAddr) -> std::io::Result<(socket2::Socket, SocketAddr)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.bind(&SocketAddr::new(source_for(addr)?, 0).into())?;
    let local = s
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("not an IP socket"))?;
    Ok((s, local))
}

fn tcp_once(addr: SocketAddr, timeout: Duration) -> ProbeAttempt {
    let t0 = Instant::now();
    let (sock, bound) = match bound_tcp(addr) {
        Ok(s) => s,
        Err(e) => return failed(t0, None, &e),
    };
    let local = Some(bound.to_string());
    if let Err(e) = sock.connect_timeout(&addr.into(), timeout) {
        return failed(t0, local, &e);
    }
    let mut s: TcpStream = sock.into();
    let left = timeout
        .saturating_sub(t0.elapsed())
        .max(Duration::from_millis(10));
    let _ = s.set_read_timeout(Some(left));
    let _ = s.set_write_timeout(Some(left));
    if let Err(e) = s.write_all(b"GET / HTTP/1.1\r\nHost: kplab-probe\r\nConnection: close\r\n\r\n")
    {
        return failed(t0, local, &e);
    }
    let mut buf = Vec::new();
    if let Err(e) = s.read_to_end(&mut buf) {
        if buf.is_empty() {
            return failed(t0, local, &e);
        }
    }
    let text = String::from_utf8_lossy(&buf);
    answered(t0, local, answer_of(&text), || {
        format!(
            "no pod answer in {:?}",
            text.chars().take(80).collect::<String>()
        )
    })
}

/// Binds a UDP socket on `port` (0 = ephemeral). A fixed port that another sender holds for a
/// moment (a lab's background client using the same flow) is retried for up to two seconds.
fn bind_udp(port: u16) -> std::io::Result<UdpSocket> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match UdpSocket::bind(("0.0.0.0", port)) {
            Err(e)
                if port != 0 && e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

fn udp_once(addr: SocketAddr, timeout: Duration, source_port: u16) -> ProbeAttempt {
    let t0 = Instant::now();
    let s = match bind_udp(source_port).and_then(|s| s.connect(addr).map(|_| s)) {
        Ok(s) => s,
        Err(e) => return failed(t0, None, &e),
    };
    let local = s.local_addr().ok().map(|a| a.to_string());
    let _ = s.set_read_timeout(Some(timeout));
    if let Err(e) = s.send(b"kplab-probe\n") {
        return failed(t0, local, &e);
    }
    let mut buf = [0u8; 2048];
    match s.recv(&mut buf) {
        Ok(n) => answered(
            t0,
            local,
            answer_of(&String::from_utf8_lossy(&buf[..n])),
            || "no pod answer in the datagram".into(),
        ),
        Err(e) => failed(t0, local, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn args(target: String, count: u32) -> Args {
        parse_args(&[
            "--target".into(),
            target,
            "--count".into(),
            count.to_string(),
            "--timeout-ms".into(),
            "500".into(),
            "--from".into(),
            "test".into(),
        ])
        .unwrap()
    }

    /// A stand-in for the pod server: answers HTTP with the JSON line naming the client.
    fn pod_server(name: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let peer = s.peer_addr().unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let body = format!("{{\"pod\":\"{name}\",\"namespace\":\"default\",\"node\":\"node-1\",\"podIP\":\"127.0.0.1\",\"port\":80,\"protocol\":\"TCP\",\"client\":\"{peer}\"}}\n");
                let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });
        addr
    }

    #[test]
    fn tcp_probes_report_who_answered_and_the_source_seen() {
        let addr = pod_server("web-1");
        let r = run(&args(addr.to_string(), 25)).unwrap();
        assert_eq!(r.attempts.len(), 25);
        assert_eq!(r.from, "test");
        for a in &r.attempts {
            let ans = a.answer.as_ref().expect("answered");
            assert_eq!(ans.pod, "web-1");
            assert_eq!(
                Some(&ans.client),
                a.local.as_ref(),
                "no NAT on loopback: the server saw our own address"
            );
            assert!(a.failure.is_none());
        }
    }

    #[test]
    fn refused_connections_are_rejected() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let r = run(&args(addr.to_string(), 3)).unwrap();
        assert!(
            r.attempts
                .iter()
                .all(|a| a.failure == Some(Failure::Refused)),
            "{r:?}"
        );
    }

    #[test]
    fn udp_probes() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        std::thread::spawn(move || loop {
            let mut buf = [0u8; 256];
            let Ok((_, peer)) = s.recv_from(&mut buf) else {
                return;
            };
            let line = format!("{{\"pod\":\"dns-1\",\"client\":\"{peer}\"}}\n");
            let _ = s.send_to(line.as_bytes(), peer);
        });
        let mut a = args(addr.to_string(), 4);
        a.protocol = "udp".into();
        let r = run(&a).unwrap();
        assert!(
            r.attempts
                .iter()
                .all(|x| x.answer.as_ref().is_some_and(|p| p.pod == "dns-1")),
            "{r:?}"
        );
        // A fixed source port: every datagram leaves from it, one after another.
        let free = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let mut a = args(addr.to_string(), 3);
        a.protocol = "udp".into();
        a.source_port = port;
        let r = run(&a).unwrap();
        assert!(
            r.attempts.iter().all(|x| x
                .answer
                .as_ref()
                .is_some_and(|p| p.client.ends_with(&format!(":{port}")))),
            "{r:?}"
        );
        // Nobody listening: ICMP port unreachable shows as refused.
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let caddr = closed.local_addr().unwrap();
        drop(closed);
        let mut a = args(caddr.to_string(), 2);
        a.protocol = "udp".into();
        let r = run(&a).unwrap();
        assert!(
            r.attempts
                .iter()
                .all(|x| x.failure == Some(Failure::Refused)),
            "{r:?}"
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse_args(&[])
            .unwrap_err()
            .contains("--target is required"));
        assert!(parse_args(&[
            "--target".into(),
            "x:1".into(),
            "--count".into(),
            "0".into()
        ])
        .is_err());
        assert!(parse_args(&[
            "--target".into(),
            "x:1".into(),
            "--protocol".into(),
            "sctp".into()
        ])
        .is_err());
        assert!(parse_args(&["--bogus".into()])
            .unwrap_err()
            .contains("unknown flag"));
        let with = |extra: &[&str]| {
            let mut v: Vec<String> = vec!["--target".into(), "x:1".into()];
            v.extend(extra.iter().map(|s| s.to_string()));
            parse_args(&v)
        };
        assert!(with(&["--source-port", "5353"])
            .unwrap_err()
            .contains("needs --protocol udp"));
        assert!(with(&["--protocol", "udp", "--source-port", "0"]).is_err());
        let a = with(&[
            "--protocol",
            "udp",
            "--source-port",
            "5353",
            "--parallel",
            "9",
        ])
        .unwrap();
        assert_eq!(a.source_port, 5353);
    }
}
