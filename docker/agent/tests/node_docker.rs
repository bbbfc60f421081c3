//! End to end in real containers: a lab of node-1 (control plane), node-2 (worker) and client
//! on an internal Docker network, each running the static agent bind-mounted into the base
//! image, exactly as the sandbox driver runs them (caps NET_ADMIN, SYS_ADMIN, NET_RAW, `--init`,
//! `ip_forward=1`, no `--privileged`). It proves with real packets what a node must do:
//! boot to Ready, pods get IPs and Running status, pod-to-pod across nodes keeps the real pod
//! IPs over `vxlan.calico`, node <-> pod, the kubelet's exec/logs server, readiness, restart of
//! a killed pod process, graceful deletion; and it reports boot time, pod start latency and
//! the lab's memory.
//!
//! Needs Docker and the musl build of the agent:
//! ```text
//! cargo build --release --target x86_64-unknown-linux-musl -p kplab-agent
//! cargo test -p kplab-agent --test node_docker -- --ignored --nocapture
//! ```
//! `KPLAB_AGENT_BIN` overrides the binary, `KPLAB_NODE_IMAGE` the image (default
//! `kplab-node:latest`, built with `kplab image build` when missing; the freshly built agent is
//! bind-mounted over the image's own). Everything created is named `na-e2e-<pid>-…` and removed at the end.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kplab_agent::kubelet::http::parse_frames;
use serde_json::Value;

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run docker")
}

fn ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lab; removed on drop.
struct Lab {
    prefix: String,
    subnet: String,
}

impl Lab {
    fn name(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }
    fn ip(&self, last: u8) -> String {
        format!("{}.{last}", self.subnet)
    }
    fn sh(&self, host: &str, script: &str) -> String {
        ok(&["exec", &self.name(host), "sh", "-c", script])
    }
    fn try_sh(&self, host: &str, script: &str) -> Output {
        docker(&["exec", &self.name(host), "sh", "-c", script])
    }
    fn api(&self, args: &str) -> Value {
        let out = self.sh("node-1", &format!("curl -s {args}"));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("API answer is not JSON ({e}): {out}"))
    }
    fn pod(&self, name: &str) -> Value {
        self.api(&format!(
            "http://127.0.0.1:6443/api/v1/namespaces/default/pods/{name}"
        ))
    }
    fn create_pod(&self, name: &str, node: &str, extra: &str) {
        let body = format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","labels":{{"app":"web"}}}},"spec":{{"nodeName":"{node}","containers":[{{"name":"web","image":"nginx:1.27","ports":[{{"containerPort":80}},{{"containerPort":5353,"protocol":"UDP"}}]{extra}}}]}}}}"#
        );
        let v = self.api(&format!(
            "-XPOST -H 'Content-Type: application/json' http://127.0.0.1:6443/api/v1/namespaces/default/pods -d '{body}'"
        ));
        assert_eq!(v["kind"], "Pod", "{v}");
    }
    fn wait_pod<F: Fn(&Value) -> bool>(&self, name: &str, what: &str, f: F) -> Value {
        let began = Instant::now();
        loop {
            let p = self.pod(name);
            if f(&p) {
                return p;
            }
            assert!(
                began.elapsed() < Duration::from_secs(15),
                "pod {name} never became {what}: {p}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    fn pid(&self, node: &str, pod: &str) -> String {
        self.sh(node, &format!("cat /run/kplab/pods/default/{pod}/pid"))
            .trim()
            .to_string()
    }
    /// Runs `cmd` in a pod's network namespace on its node (the local `kubectl exec` path).
    fn in_pod(&self, node: &str, pod: &str, cmd: &str) -> String {
        let pid = self.pid(node, pod);
        self.sh(node, &format!("nsenter --net=/proc/{pid}/ns/net {cmd}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for h in ["node-1", "node-2", "client"] {
            let _ = docker(&["rm", "-f", &self.name(h)]);
        }
        let _ = docker(&["network", "rm", &self.prefix]);
    }
}

fn agent_bin() -> PathBuf {
    if let Ok(p) = std::env::var("KPLAB_AGENT_BIN") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join("target/x86_64-unknown-linux-musl/release/kplab-agent")
}

/// The node image, built by `kplab image build` (which also compiles the musl agent) when it
/// or the agent binary is missing, so that this test needs no step of its own on a fresh machine.
fn ensure_image_and_agent(image: &str, bin: &std::path::Path) {
    let have_image = docker(&["image", "inspect", image]).status.success();
    if have_image && bin.exists() {
        return;
    }
    assert!(
        std::env::var("KPLAB_NODE_IMAGE").is_err(),
        "KPLAB_NODE_IMAGE={image} does not exist"
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["run", "-q", "-p", "kplab", "--", "image", "build"])
        .current_dir(&root)
        .status()
        .expect("run `kplab image build`");
    assert!(status.success(), "`kplab image build` failed");
}

fn start_lab() -> (Lab, Duration) {
    let bin = agent_bin();
    let image = std::env::var("KPLAB_NODE_IMAGE").unwrap_or_else(|_| "kplab-node:latest".into());
    ensure_image_and_agent(&image, &bin);
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release --target x86_64-unknown-linux-musl -p kplab-agent` or set KPLAB_AGENT_BIN",
        bin.display()
    );
    let bin = std::fs::canonicalize(&bin).unwrap();
    let prefix = format!("na-e2e-{}", std::process::id());
    // An internal network on a free /24.
    let mut subnet = None;
    for third in 200..=249u32 {
        let s = format!("172.31.{third}");
        let out = docker(&[
            "network",
            "create",
            "--internal",
            "--subnet",
            &format!("{s}.0/24"),
            &prefix,
        ]);
        if out.status.success() {
            subnet = Some(s);
            break;
        }
    }
    let lab = Lab {
        prefix: prefix.clone(),
        subnet: subnet.expect("no free 172.31.x.0/24 for the test network"),
    };
    let nodes = format!("node-1={},node-2={}", lab.ip(10), lab.ip(11));
    let apiserver = format!("http://{}:6443", lab.ip(10));
    let began = Instant::now();
    for (host, last, role, index) in [
        ("node-1", 10, "control-plane", "1"),
        ("node-2", 11, "worker", "2"),
        ("client", 100, "client", "0"),
    ] {
        let name = lab.name(host);
        let ip = lab.ip(last);
        let mount = format!("{}:/usr/local/bin/kplab-agent:ro", bin.display());
        let envs = [
            "KPLAB_LAB=e2e".to_string(),
            format!("KPLAB_ROLE={role}"),
            format!("KPLAB_NODE_NAME={host}"),
            format!("KPLAB_NODE_INDEX={index}"),
            format!("KPLAB_NODE_IP={ip}"),
            format!("KPLAB_APISERVER={apiserver}"),
            format!("KPLAB_NODES={nodes}"),
        ];
        let mut args: Vec<&str> = vec![
            "run",
            "-d",
            "--name",
            &name,
            "--hostname",
            host,
            "--network",
            &prefix,
            "--ip",
            &ip,
            "--cap-add",
            "NET_ADMIN",
            "--cap-add",
            "SYS_ADMIN",
            "--cap-add",
            "NET_RAW",
            "--init",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--sysctl",
            "net.ipv4.conf.all.route_localnet=1",
            "-v",
            &mount,
        ];
        for e in &envs {
            args.push("-e");
            args.push(e);
        }
        args.extend([image.as_str(), "/usr/local/bin/kplab-agent", "kplab-node"]);
        ok(&args);
    }
    let started = began.elapsed();
    let out = docker(&[
        "exec",
        &lab.name("node-1"),
        "kplab-agent",
        "kplab-node",
        "--wait-ready",
        "--timeout",
        "20",
    ]);
    assert!(
        out.status.success(),
        "nodes not Ready: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ready = began.elapsed();
    eprintln!(
        "3 containers started in {started:?}; all nodes Ready {:?} after the last docker run returned",
        ready - started
    );
    (lab, ready - started)
}

#[test]
#[ignore = "needs Docker and root"]
fn a_lab_of_containers_runs_pods_with_real_networking() {
    let (lab, _) = start_lab();

    // Node preparation.
    let save = lab.sh("node-1", "iptables-save 2>&1");
    assert!(!save.contains("DOCKER_"), "Docker's DNS rules left: {save}");
    assert!(!save.contains("legacy tables present"), "{save}");
    assert!(lab
        .sh("node-2", "cat /etc/resolv.conf")
        .contains("nameserver 10.96.0.10"));
    assert!(lab
        .sh("client", "getent hosts node-2")
        .contains(&lab.ip(11)));
    let ps = lab.sh("node-2", "ps -eo comm,args");
    assert!(
        ps.lines()
            .any(|l| l.starts_with("kubelet ") && l.contains("kubelet --hostname-override=node-2")),
        "{ps}\n{}",
        lab.sh(
            "node-2",
            "cat /var/log/kplab/kplab-node.log /var/log/kplab/kubelet.log"
        )
    );
    let node = lab.api("http://127.0.0.1:6443/api/v1/nodes/node-2");
    assert_eq!(node["spec"]["podCIDR"], "10.244.2.0/24");
    assert_eq!(
        node["metadata"]["annotations"]["kplab.dev/vxlan-mac"],
        "66:6b:70:6c:00:02"
    );

    // Pods.
    lab.create_pod("web-a", "node-1", "");
    lab.create_pod("web-b", "node-2", "");
    let running = |p: &Value| p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string();
    let a = lab.wait_pod("web-a", "Running", running);
    let b = lab.wait_pod("web-b", "Running", running);
    let (ip_a, ip_b) = (
        a["status"]["podIP"].as_str().unwrap().to_string(),
        b["status"]["podIP"].as_str().unwrap().to_string(),
    );
    assert!(ip_a.starts_with("10.244.1."), "{ip_a}");
    assert!(ip_b.starts_with("10.244.2."), "{ip_b}");
    assert_eq!(b["status"]["hostIP"], lab.ip(11));
    let log = lab.sh("node-2", "grep 'web-b started' /var/log/kplab/kubelet.log");
    eprintln!("kubelet: {}", log.trim());

    // Pod -> pod across nodes: the server sees the caller's real pod IP.
    let seen: Value = serde_json::from_str(&lab.in_pod(
        "node-1",
        "web-a",
        &format!("curl -s -m 3 http://{ip_b}/x"),
    ))
    .unwrap();
    assert_eq!(seen["pod"], "web-b");
    assert_eq!(seen["node"], "node-2");
    assert!(
        seen["client"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ip_a}:")),
        "{seen}"
    );
    let seen: Value = serde_json::from_str(&lab.in_pod(
        "node-2",
        "web-b",
        &format!("sh -c 'echo x | nc -u -w1 {ip_a} 5353'"),
    ))
    .unwrap();
    assert!(
        seen["client"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ip_b}:")),
        "{seen}"
    );
    let tcpdump = lab.try_sh(
        "node-2",
        "timeout 3 tcpdump -c 2 -ni eth0 udp port 4789 2>/dev/null",
    );
    let _ = tcpdump; // (informative only: packets are VXLAN on the lab network)

    // Node <-> pod.
    let seen: Value =
        serde_json::from_str(&lab.sh("node-1", &format!("curl -s -m 3 http://{ip_a}/"))).unwrap();
    assert_eq!(seen["pod"], "web-a");
    let seen: Value =
        serde_json::from_str(&lab.sh("node-2", &format!("curl -s -m 3 http://{ip_a}/"))).unwrap();
    assert_eq!(
        seen["client"].as_str().unwrap().split(':').next(),
        Some("10.244.2.0"),
        "remote node uses its tunnel address"
    );
    let ping = lab.in_pod("node-1", "web-a", &format!("ping -c1 -W2 {}", lab.ip(10)));
    assert!(ping.contains("1 received"), "{ping}");

    // The kubelet's exec endpoint (remote kubectl exec) and logs.
    let frames = ok(&[
        "exec", &lab.name("node-1"), "sh", "-c",
        &format!("curl -s -XPOST http://{}:10250/exec/default/web-b -d '{{\"command\":[\"sh\",\"-c\",\"ip -4 -o addr show eth0; echo oops >&2; exit 3\"]}}' | base64 -w0", lab.ip(11)),
    ]);
    let raw = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(frames.trim().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap()
        .stdout;
    let frames = parse_frames(&raw).unwrap();
    let stdout: Vec<u8> = frames
        .iter()
        .filter(|f| f.0 == 1)
        .flat_map(|f| f.1.clone())
        .collect();
    assert!(
        String::from_utf8_lossy(&stdout).contains(&format!("{ip_b}/32")),
        "{frames:?}"
    );
    assert!(
        frames.iter().any(|f| f.0 == 2 && f.1 == b"oops\n"),
        "{frames:?}"
    );
    assert_eq!(frames.last().unwrap(), &(3u8, b"3".to_vec()));
    let logs = lab.sh(
        "node-1",
        &format!("curl -s http://{}:10250/logs/default/web-b", lab.ip(11)),
    );
    assert!(logs.contains(&format!("GET /x from {ip_a}:")), "{logs}");

    // Readiness: the unready file fails an httpGet probe, removing it recovers.
    lab.create_pod("web-r", "node-2", r#","readinessProbe":{"httpGet":{"path":"/healthz","port":80},"periodSeconds":1,"failureThreshold":1}"#);
    let ready = |want: &'static str| {
        move |p: &Value| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == want)
            })
        }
    };
    lab.wait_pod("web-r", "Ready", ready("True"));
    lab.sh("node-2", "touch /run/kplab/pods/default/web-r/unready");
    lab.wait_pod("web-r", "not Ready", ready("False"));
    lab.sh("node-2", "rm /run/kplab/pods/default/web-r/unready");
    lab.wait_pod("web-r", "Ready again", ready("True"));

    // A killed pod process is restarted with the same IP.
    let old = lab.pid("node-2", "web-b");
    lab.sh("node-2", &format!("kill {old}"));
    let b = lab.wait_pod("web-b", "restarted", |p| {
        p["status"]["containerStatuses"][0]["restartCount"] == 1
    });
    assert_eq!(b["status"]["podIP"], ip_b.as_str());
    let seen = lab.in_pod("node-1", "web-a", &format!("curl -s -m 3 http://{ip_b}/"));
    assert!(seen.contains("\"pod\":\"web-b\""), "{seen}");

    // Graceful deletion: the kubelet stops the pod, removes its network and finishes the delete.
    let veth = kplab_agent::kube::net::veth_name("default", "web-b");
    assert!(lab.sh("node-2", "ip -o link").contains(&veth));
    lab.api("-XDELETE http://127.0.0.1:6443/api/v1/namespaces/default/pods/web-b");
    let began = Instant::now();
    loop {
        let p = lab.pod("web-b");
        if p["code"] == 404 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "web-b not removed: {p}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !lab.sh("node-2", "ip -o link").contains(&veth),
        "veth left behind"
    );
    assert!(
        !lab.sh("node-2", "ip route").contains(&format!("{ip_b} ")),
        "route left behind"
    );

    // Memory of the whole lab (3 containers' cgroups), with a few pods.
    let stats = ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}}",
        &lab.name("node-1"),
        &lab.name("node-2"),
        &lab.name("client"),
    ]);
    eprintln!("memory with 2 pods:\n{stats}");
}
