//! A lab reaches neither the host's services, nor another lab, nor an address outside, while
//! the host can still talk to its labs and a lab's client can route through its own nodes. Two one-node labs (`hs-iso-a`, `hs-iso-b`), a listener
//! on the host's 0.0.0.0, and an "outside" host in a network namespace made for the test.

use kplab_testkit::lab as common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{host, TestLab};
use kplab::sandbox::LabOptions;

/// A TCP service on the host's 0.0.0.0 that records who connected.
struct HostService {
    port: u16,
    peers: Arc<Mutex<Vec<String>>>,
}

impl HostService {
    fn start() -> HostService {
        let listener = TcpListener::bind("0.0.0.0:0").expect("bind 0.0.0.0:0");
        let port = listener.local_addr().expect("local addr").port();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let seen = peers.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                if let Ok(peer) = stream.peer_addr() {
                    seen.lock().expect("peers").push(peer.ip().to_string());
                }
                let _ = stream.write_all(b"host service\n");
            }
        });
        HostService { port, peers }
    }

    fn peers(&self) -> Vec<String> {
        self.peers.lock().expect("peers").clone()
    }
}

/// The host's IPv4 addresses on `dev` (or on every device when `None`), loopback excluded.
fn host_addresses(dev: Option<&str>) -> Vec<String> {
    let mut args = vec!["-4", "-o", "addr", "show"];
    if let Some(d) = dev {
        args.extend(["dev", d]);
    }
    let (code, out, err) = host("ip", &args);
    assert_eq!(code, 0, "ip addr show: {err}");
    out.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            let cidr = words.next()?;
            Some(cidr.split('/').next()?.to_string())
        })
        .filter(|a| !a.starts_with("127."))
        .collect()
}

/// `nc -z` from a lab container: true if the TCP connection was established.
fn connects(lab: &TestLab, container: &str, addr: &str, port: u16) -> bool {
    lab.sh(container, &format!("nc -z -w 2 {addr} {port}"))
        .success()
}

fn a_lab_reaches_no_host_service_via_its_gateway_docker0_or_any_host_address(a: &TestLab) {
    let service = HostService::start();
    let docker0 = host_addresses(Some("docker0"));
    assert!(!docker0.is_empty(), "docker0 has an address");
    // The listener is live: the host reaches it on docker0's address.
    TcpStream::connect_timeout(
        &format!("{}:{}", docker0[0], service.port)
            .parse()
            .expect("addr"),
        Duration::from_secs(2),
    )
    .expect("the host reaches its own service on docker0's address");

    let mut targets = vec![a.info.gateway.clone()];
    targets.extend(docker0);
    targets.extend(host_addresses(None));
    targets.dedup();
    for container in [a.node(1), a.client()] {
        for addr in &targets {
            assert!(
                !connects(a, container, addr, service.port),
                "{container} must not reach the host service at {addr}:{}",
                service.port
            );
        }
    }
    let subnet_prefix = a
        .info
        .subnet
        .rsplit_once('.')
        .map(|(p, _)| p)
        .unwrap_or_default()
        .to_string();
    let from_lab: Vec<_> = service
        .peers()
        .into_iter()
        .filter(|p| p.starts_with(&subnet_prefix))
        .collect();
    assert!(
        from_lab.is_empty(),
        "the host service saw lab connections: {from_lab:?}"
    );
}

fn the_host_still_talks_to_its_labs(a: &TestLab) {
    let addr = format!("{}:6443", a.node_ip(1));
    let mut stream =
        TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("the host connects to the lab API at {addr}: {e}"));
    stream
        .write_all(b"GET /api/v1/nodes HTTP/1.0\r\n\r\n")
        .expect("send a request");
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).expect("read the reply");
    assert!(
        reply.starts_with("HTTP/1."),
        "the lab API answers the host: {reply:?}"
    );
}

fn a_lab_does_not_reach_another_lab(a: &TestLab, b: &TestLab) {
    assert!(
        connects(b, b.client(), b.node_ip(1), 6443),
        "control: inside lab b, the client reaches node-1:6443"
    );
    assert!(
        connects(a, a.client(), a.node_ip(1), 6443),
        "control: inside lab a, the client reaches node-1:6443"
    );
    for (from, to) in [(a, b), (b, a)] {
        for container in [from.node(1), from.client()] {
            assert!(
                !connects(from, container, to.node_ip(1), 6443),
                "{container} must not reach the other lab's {}:6443",
                to.node_ip(1)
            );
        }
    }
}

/// Inside its own bridge a lab is not isolated from itself: the client, routing the service
/// range through node-1 (as a learner does to play the cloud load balancer), reaches a
/// ClusterIP, although the packet's destination is outside the lab's subnet (Docker's
/// isolation drops such frames unless `DOCKER-USER` lets bridged ones through); the same
/// client, routing the other lab's subnet through node-1, still does not reach it.
fn a_lab_routes_through_its_own_nodes_but_not_into_another_lab(a: &TestLab, b: &TestLab) {
    let api = "curl -s -m 3 -o /dev/null -w '%{http_code}' http://10.96.0.1:443/version";
    let route = format!(
        "ip route replace 10.96.0.0/12 via {}; ip route replace {} via {}",
        a.node_ip(1),
        b.info.subnet,
        a.node_ip(1)
    );
    assert!(a.sh(a.client(), &route).success(), "{route}");
    let out = a.sh(a.client(), api);
    assert_eq!(
        out.stdout, "200",
        "client -> node-1 -> ClusterIP 10.96.0.1: {out:?}"
    );
    assert!(
        !connects(a, a.client(), b.node_ip(1), 6443),
        "routed through its node-1, the client must not reach the other lab's {}:6443",
        b.node_ip(1)
    );
}

/// An "outside" host: a network namespace with a veth to the host, routed from the host, with
/// the agent's pod server answering on 198.51.100.2:8080. Removed on drop.
struct OutsideHost {
    child: Child,
}

const NETNS: &str = "hs-outside";
const VETH_HOST: &str = "hs-out0";
const VETH_NS: &str = "hs-out1";
const OUTSIDE_IP: &str = "198.51.100.2";

impl OutsideHost {
    fn start() -> OutsideHost {
        Self::cleanup();
        let run = |args: &[&str]| {
            let (code, _, err) = host("ip", args);
            assert_eq!(code, 0, "ip {}: {err}", args.join(" "));
        };
        run(&["netns", "add", NETNS]);
        run(&[
            "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS,
        ]);
        run(&["link", "set", VETH_NS, "netns", NETNS]);
        run(&["addr", "add", "198.51.100.1/24", "dev", VETH_HOST]);
        run(&["link", "set", VETH_HOST, "up"]);
        run(&[
            "-n",
            NETNS,
            "addr",
            "add",
            "198.51.100.2/24",
            "dev",
            VETH_NS,
        ]);
        run(&["-n", NETNS, "link", "set", VETH_NS, "up"]);
        run(&["-n", NETNS, "link", "set", "lo", "up"]);
        let repo = kplab::sandbox::image::find_repo().expect("repo");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| repo.join("target"));
        let agent = target.join("x86_64-unknown-linux-musl/release/kplab-agent");
        let child = Command::new("ip")
            .args(["netns", "exec", NETNS])
            .arg(&agent)
            .args([
                "kplab-pod",
                "outside",
                "--namespace",
                "outside",
                "--node",
                "host",
                "--no-netns",
                "--port",
                "8080",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} in {NETNS}: {e}", agent.display()));
        OutsideHost { child }
    }

    fn cleanup() {
        let _ = host("ip", &["netns", "del", NETNS]);
        let _ = host("ip", &["link", "del", VETH_HOST]);
    }
}

impl Drop for OutsideHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        Self::cleanup();
    }
}

fn a_lab_does_not_reach_an_address_outside(a: &TestLab) {
    let _outside = OutsideHost::start();
    let url = format!("http://{OUTSIDE_IP}:8080/");
    common::wait_for("the outside host's server", Duration::from_secs(10), || {
        let ok = TcpStream::connect_timeout(
            &format!("{OUTSIDE_IP}:8080").parse().ok()?,
            Duration::from_secs(1),
        )
        .is_ok();
        ok.then_some(())
    });
    let route = a.sh_ok(a.node(1), &format!("ip route get {OUTSIDE_IP}"));
    assert!(
        route.contains(&a.info.gateway),
        "the lab routes outside through its gateway: {route}"
    );
    for container in [a.node(1), a.client()] {
        let out = a.sh(container, &format!("curl -s -m 3 {url}"));
        assert_ne!(
            out.code, 0,
            "{container} must not reach the outside address {OUTSIDE_IP}: {}",
            out.stdout
        );
    }
}

#[test]
#[ignore = "needs Docker and root"]
fn labs_are_isolated_from_the_host_each_other_and_the_outside() {
    let one_node = LabOptions {
        nodes: 1,
        ..LabOptions::default()
    };
    let a = TestLab::up_with("hs-iso-a", one_node.clone());
    let b = TestLab::up_with("hs-iso-b", one_node);
    let mut failed = Vec::new();
    let mut check = |name: &str, f: &dyn Fn()| match std::panic::catch_unwind(
        std::panic::AssertUnwindSafe(f),
    ) {
        Ok(()) => eprintln!("scenario {name} ... ok"),
        Err(_) => {
            eprintln!("scenario {name} ... FAILED");
            failed.push(name.to_string());
        }
    };
    check(
        "a lab reaches no host service via its gateway, docker0 or any host address",
        &|| a_lab_reaches_no_host_service_via_its_gateway_docker0_or_any_host_address(&a),
    );
    check("the host still talks to its labs", &|| {
        the_host_still_talks_to_its_labs(&a)
    });
    check("a lab does not reach another lab", &|| {
        a_lab_does_not_reach_another_lab(&a, &b)
    });
    check(
        "a lab routes through its own nodes but not into another lab",
        &|| a_lab_routes_through_its_own_nodes_but_not_into_another_lab(&a, &b),
    );
    check("a lab does not reach an address outside", &|| {
        a_lab_does_not_reach_an_address_outside(&a)
    });
    assert!(failed.is_empty(), "failed scenarios: {failed:?}");
}
