//! The pod process (`kplab-agent kplab-pod …`) as a learner's client sees it: HTTP, plain TCP
//! lines, UDP datagrams, the unready file, SIGTERM, and its memory footprint.
//!
//! Runs without root: `--no-netns` keeps the server in the test's namespace, bound to
//! 127.0.0.1 on free ports.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Held while a test picks ports and starts a pod. Picking a port briefly binds a listener to
/// it; a fork by another test thread in that moment copies the listener into the child until it
/// execs, and a connection made to the port meanwhile lands in that copy and is reset when it
/// closes (CI saw "Connection reset by peer" on a pod's first request). No test here forks
/// outside this lock.
static SPAWN: Mutex<()> = Mutex::new(());

/// A port no other test of this run uses (tests run in parallel; ports from the kernel's
/// ephemeral range could be handed out twice once released). Call with `SPAWN` held.
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20000 + (std::process::id() % 1200) as u16 * 10;
    loop {
        let p = base + NEXT.fetch_add(1, Ordering::SeqCst);
        if TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        {
            return p;
        }
    }
}

struct Pod {
    child: Child,
    /// The pod's stdout, past its "listening on" line.
    out: BufReader<ChildStdout>,
    tcp: u16,
    udp: u16,
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_pod(run_dir: &Path) -> Pod {
    let spawning = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
    let tcp = free_port();
    let udp = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kplab-agent"))
        .args([
            "kplab-pod",
            "web-7d4b9c8f5-x2x9z",
            "--namespace",
            "shop",
            "--node",
            "node-2",
            "--pod-ip",
            "10.244.2.3",
            "--port",
            &format!("{tcp}/TCP"),
            "--port",
            &format!("{udp}/UDP"),
            "--readiness-path",
            "/ready",
            "--run-dir",
            run_dir.to_str().unwrap(),
            "--bind",
            "127.0.0.1",
            "--no-netns",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kplab-pod");
    drop(spawning);
    // The pod prints its "listening on" line once every port is bound: no probe connection.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    if !line.contains("listening on") {
        panic!(
            "kplab-pod did not start ({:?}): {line:?}",
            child.try_wait().unwrap()
        );
    }
    Pod {
        child,
        out,
        tcp,
        udp,
    }
}

fn http_get(port: u16, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let me = s.local_addr().unwrap().to_string();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (code, body, me)
}

#[test]
fn http_answer_names_the_pod_and_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let pod = start_pod(dir.path());
    let (code, body, me) = http_get(pod.tcp, "/anything?x=1");
    assert_eq!(code, 200);
    assert!(
        body.ends_with('\n') && body.trim().lines().count() == 1,
        "{body:?}"
    );
    let v: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(v["pod"], "web-7d4b9c8f5-x2x9z");
    assert_eq!(v["namespace"], "shop");
    assert_eq!(v["node"], "node-2");
    assert_eq!(v["podIP"], "10.244.2.3");
    assert_eq!(v["port"], pod.tcp);
    assert_eq!(v["protocol"], "TCP");
    assert_eq!(
        v["client"], me,
        "the server must report the client address it saw"
    );
}

#[test]
fn plain_tcp_lines_and_udp_datagrams_get_the_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let pod = start_pod(dir.path());

    let mut s = TcpStream::connect(("127.0.0.1", pod.tcp)).unwrap();
    let me = s.local_addr().unwrap().to_string();
    s.write_all(b"hello\n").unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["client"], me);
    s.write_all(b"again\n").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap()["protocol"],
        "TCP"
    );

    // A client that sends nothing still gets the line (after a second).
    let silent = TcpStream::connect(("127.0.0.1", pod.tcp)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(silent).read_line(&mut line).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap()["pod"],
        "web-7d4b9c8f5-x2x9z"
    );

    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    u.send_to(b"ping\n", ("127.0.0.1", pod.udp)).unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = u.recv_from(&mut buf).unwrap();
    assert_eq!(from.port(), pod.udp);
    let v: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(v["protocol"], "UDP");
    assert_eq!(v["port"], pod.udp);
    assert_eq!(v["client"], u.local_addr().unwrap().to_string());
}

#[test]
fn unready_file_fails_the_readiness_paths_only() {
    let dir = tempfile::tempdir().unwrap();
    let pod = start_pod(dir.path());
    assert_eq!(http_get(pod.tcp, "/healthz").0, 200);
    assert_eq!(http_get(pod.tcp, "/ready").0, 200);
    let flag_dir = dir.path().join("shop").join("web-7d4b9c8f5-x2x9z");
    std::fs::create_dir_all(&flag_dir).unwrap();
    std::fs::write(flag_dir.join("unready"), "").unwrap();
    let (code, body, _) = http_get(pod.tcp, "/healthz");
    assert_eq!(code, 503, "{body}");
    assert_eq!(http_get(pod.tcp, "/ready").0, 503);
    assert_eq!(http_get(pod.tcp, "/").0, 200, "traffic is still served");
    std::fs::remove_file(flag_dir.join("unready")).unwrap();
    assert_eq!(http_get(pod.tcp, "/ready").0, 200);
}

#[test]
fn logs_each_request_and_exits_promptly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut pod = start_pod(dir.path());
    let (_, _, me) = http_get(pod.tcp, "/x");
    let pid = pod.child.id();

    // Memory: what one idle pod process costs (the figure reported for the lab budget).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .to_string();
    eprintln!("kplab-pod idle: VmRSS {rss_kib} KiB, {threads} threads");
    assert!(rss_kib < 16 * 1024, "pod process uses {rss_kib} KiB");

    let began = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    loop {
        if let Some(st) = pod.child.try_wait().unwrap() {
            assert!(!st.success() || st.code().is_some());
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(1),
            "kplab-pod ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut out = String::new();
    pod.out.read_to_string(&mut out).unwrap();
    assert!(out.contains(&format!("GET /x from {me}")), "{out}");
}
