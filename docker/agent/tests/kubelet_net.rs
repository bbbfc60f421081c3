//! Pod networking for real, without Docker: two fake "nodes" (network namespaces held by
//! `unshare --net sleep`) joined by a veth as their `eth0`, the `vxlan.calico` overlay in each,
//! and one pod per node started exactly as the kubelet starts pods (`kplab-pod` unsharing its
//! own namespace, veth + routes through `ip -batch` / `nsenter`). Real packets then show:
//! a pod reaches the pod on the other node by its real IP and that pod reports the caller's
//! real pod IP (no NAT), a pod reaches its node and the node reaches the pod, the exec path
//! (`nsenter --net=/proc/PID/ns/net`) works, and teardown removes the veth and route.
//!
//! Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN) and `ip`, `bridge`, `nsenter`, `unshare`:
//! `cargo test -p kplab-agent --test kubelet_net -- --ignored`. Nothing is created outside
//! the namespaces the test makes; they vanish with their holder processes.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kplab_agent::kube::net;
use kplab_agent::kubelet::pods;
use serde_json::{json, Value};

/// A process holding a network namespace; killed (and the namespace gone) on drop.
struct Holder(Child);

impl Holder {
    fn new() -> Holder {
        let child = Command::new("unshare")
            .args(["--net", "sleep", "600"])
            .spawn()
            .expect("unshare --net (needs root)");
        let me = std::fs::read_link("/proc/self/ns/net").unwrap();
        let link = format!("/proc/{}/ns/net", child.id());
        let began = Instant::now();
        while std::fs::read_link(&link).ok().as_ref() == Some(&me)
            || std::fs::read_link(&link).is_err()
        {
            assert!(
                began.elapsed() < Duration::from_secs(5),
                "unshare did not create a namespace"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        Holder(child)
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `f` on a thread that has entered the network namespace of `pid`.
fn in_netns<T: Send + 'static>(pid: u32, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let fd = File::open(format!("/proc/{pid}/ns/net")).expect("open netns");
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread panicked")
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have_root_tools() -> bool {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0
        && ["ip", "bridge", "nsenter", "unshare"].iter().all(|t| {
            Command::new(t)
                .arg("-V")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
}

struct RunningPod {
    child: Child,
    ip: Ipv4Addr,
    veth: String,
}

fn start_pod(
    node: &str,
    name: &str,
    ip: Ipv4Addr,
    base: &std::path::Path,
) -> (RunningPod, Duration) {
    let spec = pods::PodSpecInfo::from_pod(&json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx",
            "ports": [{"containerPort": 80}, {"containerPort": 5353, "protocol": "UDP"}]}]}
    }));
    let paths = pods::Paths {
        run_dir: base.join("run"),
        log_dir: base.join("log"),
        exe: PathBuf::from(env!("CARGO_BIN_EXE_kplab-agent")),
    };
    let began = Instant::now();
    let child = pods::start_process(&paths, &spec, node, ip).expect("start pod process");
    let veth = net::veth_name("default", name);
    net::setup_pod(&veth, child.id(), ip).expect("pod network");
    let took = began.elapsed();
    (RunningPod { child, ip, veth }, took)
}

fn get(addr: SocketAddr) -> Result<Value, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let body = text.split("\r\n\r\n").nth(1).ok_or("no body")?;
    serde_json::from_str(body.trim()).map_err(|e| format!("{e}: {text}"))
}

#[test]
#[ignore = "needs root"]
fn pods_on_two_nodes_talk_over_the_overlay_with_their_real_ips() {
    assert!(
        have_root_tools(),
        "needs root and ip/bridge/nsenter/unshare"
    );
    let dirs = tempfile::tempdir().unwrap();
    let node1 = Holder::new();
    let node2 = Holder::new();
    let (n1, n2) = (node1.pid(), node2.pid());
    let ip1: Ipv4Addr = "172.31.251.10".parse().unwrap();
    let ip2: Ipv4Addr = "172.31.251.11".parse().unwrap();
    let peers = net::parse_nodes(&format!("node-1={ip1},node-2={ip2}")).unwrap();

    // The "lab network": a veth whose ends are eth0 in each node.
    in_netns(n1, move || {
        sh(&[
            "ip",
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &n2.to_string(),
        ]);
        sh(&["ip", "addr", "add", &format!("{ip1}/24"), "dev", "eth0"]);
        sh(&["ip", "link", "set", "eth0", "up"]);
        sh(&["ip", "link", "set", "lo", "up"]);
    });
    in_netns(n2, move || {
        sh(&["ip", "addr", "add", &format!("{ip2}/24"), "dev", "eth0"]);
        sh(&["ip", "link", "set", "eth0", "up"]);
        sh(&["ip", "link", "set", "lo", "up"]);
    });
    for (pid, index, ip) in [(n1, 1, ip1), (n2, 2, ip2)] {
        let p = peers.clone();
        in_netns(pid, move || {
            assert_eq!(net::underlay_device(ip), "eth0");
            net::ensure_overlay(index, ip, "eth0", &p).expect("overlay");
            // Idempotent: a second run changes nothing and does not fail.
            net::ensure_overlay(index, ip, "eth0", &p).expect("overlay again");
            let link = sh(&["ip", "-d", "link", "show", "vxlan.calico"]);
            assert!(link.contains("vxlan id 4096"), "{link}");
            assert!(link.contains("dstport 4789"), "{link}");
            assert!(link.contains(&net::vtep_mac(index)), "{link}");
        });
    }
    in_netns(n1, || {
        let routes = sh(&["ip", "route", "show", "dev", "vxlan.calico"]);
        assert!(
            routes.contains("10.244.2.0/24 via 10.244.2.0 onlink"),
            "{routes}"
        );
        let fdb = sh(&["bridge", "fdb", "show", "dev", "vxlan.calico"]);
        assert!(fdb.contains("66:6b:70:6c:00:02 dst 172.31.251.11"), "{fdb}");
    });

    let pod_a_ip: Ipv4Addr = "10.244.1.5".parse().unwrap();
    let pod_b_ip: Ipv4Addr = "10.244.2.7".parse().unwrap();
    let d = dirs.path().to_path_buf();
    let (dirs_a, dirs_b) = (d.join("a"), d.join("b"));
    let (mut pod_a, took_a) = in_netns(n1, move || start_pod("node-1", "web-a", pod_a_ip, &dirs_a));
    let (mut pod_b, took_b) = in_netns(n2, move || start_pod("node-2", "web-b", pod_b_ip, &dirs_b));
    eprintln!("pod start (process + netns + veth + addresses + routes): {took_a:?}, {took_b:?}");
    let (pa, pb) = (pod_a.child.id(), pod_b.child.id());

    // Pod side: as the contract says.
    let addr = sh(&[
        "nsenter",
        &format!("--net=/proc/{pa}/ns/net"),
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "dev",
        "eth0",
    ]);
    assert!(addr.contains("10.244.1.5/32"), "{addr}");
    let routes = sh(&[
        "nsenter",
        &format!("--net=/proc/{pa}/ns/net"),
        "ip",
        "route",
    ]);
    assert!(
        routes.contains("default via 169.254.1.1 dev eth0"),
        "{routes}"
    );

    // Node -> pod and pod -> node.
    let seen = in_netns(n1, move || get(SocketAddr::from((pod_a_ip, 80))))
        .expect("node-1 reaches its pod");
    assert_eq!(seen["pod"], "web-a");
    assert_eq!(seen["podIP"], "10.244.1.5");
    let node_listener = in_netns(n1, move || TcpListener::bind((ip1, 0)).unwrap());
    let node_port = node_listener.local_addr().unwrap().port();
    let accept = std::thread::spawn(move || node_listener.accept().map(|(_, peer)| peer.ip()));
    in_netns(pa, move || {
        TcpStream::connect_timeout(&SocketAddr::from((ip1, node_port)), Duration::from_secs(3))
    })
    .expect("pod reaches its node");
    assert_eq!(
        accept.join().unwrap().unwrap().to_string(),
        "10.244.1.5",
        "the node sees the pod's IP"
    );

    // Pod A (node-1) -> pod B (node-2), across vxlan.calico: B sees A's real IP.
    let seen = in_netns(pa, move || get(SocketAddr::from((pod_b_ip, 80))))
        .expect("pod-to-pod across nodes");
    assert_eq!(seen["pod"], "web-b");
    assert_eq!(seen["node"], "node-2");
    let client = seen["client"].as_str().unwrap();
    assert!(
        client.starts_with("10.244.1.5:"),
        "pod B saw {client}, not pod A's IP"
    );
    // And back, UDP this time.
    let seen = in_netns(pb, move || {
        let u = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        u.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        u.send_to(b"x\n", (pod_a_ip, 5353)).unwrap();
        let mut buf = [0u8; 1024];
        let (n, _) = u.recv_from(&mut buf).expect("UDP answer from pod A");
        serde_json::from_slice::<Value>(&buf[..n]).unwrap()
    });
    assert!(
        seen["client"].as_str().unwrap().starts_with("10.244.2.7:"),
        "{seen}"
    );
    // The node reaches a remote pod too (source: its tunnel address).
    let seen =
        in_netns(n1, move || get(SocketAddr::from((pod_b_ip, 80)))).expect("node-1 reaches pod B");
    assert!(
        seen["client"].as_str().unwrap().starts_with("10.244.1.0:"),
        "{seen}"
    );

    // The exec path kubectl uses on the pod's node.
    let out = sh(&[
        "nsenter",
        &format!("--net=/proc/{pb}/ns/net"),
        "--",
        "cat",
        "/proc/net/dev",
    ]);
    assert!(out.contains("eth0"), "{out}");

    // The pod's log has the requests it answered.
    let log = std::fs::read_to_string(d.join("b/log/default_web-b.log")).unwrap();
    assert!(log.contains("GET / from 10.244.1.5:"), "{log}");

    // Teardown.
    let (veth_a, ip_a) = (pod_a.veth.clone(), pod_a.ip);
    pods::stop_process(pa, Some(&mut pod_a.child), Duration::from_secs(2));
    in_netns(n1, move || {
        net::teardown_pod(&veth_a, ip_a).unwrap();
        assert!(!net::link_exists(&veth_a));
        let r = sh(&["ip", "route", "show", "10.244.1.5/32"]);
        assert!(r.trim().is_empty(), "route left behind: {r}");
    });
    pods::stop_process(pb, Some(&mut pod_b.child), Duration::from_secs(2));
}

#[test]
#[ignore = "needs root"]
fn pod_start_latency_is_a_few_milliseconds() {
    assert!(
        have_root_tools(),
        "needs root and ip/bridge/nsenter/unshare"
    );
    let node = Holder::new();
    let n = node.pid();
    let dirs = tempfile::tempdir().unwrap();
    let d = dirs.path().to_path_buf();
    let times = in_netns(n, move || {
        let mut times = Vec::new();
        let mut running = Vec::new();
        for i in 1..=10u8 {
            let dir = d.join(format!("p{i}"));
            let (p, took) = start_pod(
                "node-1",
                &format!("lat-{i}"),
                Ipv4Addr::new(10, 244, 1, i),
                &dir,
            );
            times.push(took);
            running.push((p, dir));
        }
        // 10 idle pods: what do they cost?
        let mut rss = 0u64;
        for (p, _) in &running {
            let st =
                std::fs::read_to_string(format!("/proc/{}/smaps_rollup", p.child.id())).unwrap();
            rss += st
                .lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap();
        }
        eprintln!("10 idle pods: total PSS {rss} KiB");
        for (mut p, _) in running {
            let pid = p.child.id();
            pods::stop_process(pid, Some(&mut p.child), Duration::from_secs(2));
            net::teardown_pod(&p.veth, p.ip).unwrap();
        }
        times
    });
    let mut sorted = times.clone();
    sorted.sort();
    eprintln!(
        "pod start latency over 10 pods: p50 {:?}, max {:?}",
        sorted[5], sorted[9]
    );
    assert!(
        sorted[5] < Duration::from_millis(100),
        "p50 {:?}",
        sorted[5]
    );
}
