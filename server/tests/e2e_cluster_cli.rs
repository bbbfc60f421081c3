//! `kplab cluster up/ls/down` as a user runs them: the JSON `up` prints, the confinement of the
//! containers it starts (checked with `docker inspect`), and that `down` leaves nothing behind.

use kplab_testkit::lab as common;

use std::process::Command;

use common::{ensure_image, host};
use serde_json::Value;

fn kplab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kplab"))
        .args(args)
        .output()
        .expect("run kplab");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `kplab cluster down NAME` on drop, so a failed test leaves no lab behind.
struct Down(&'static str);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = kplab(&["cluster", "down", self.0]);
    }
}

fn docker_json(args: &[&str]) -> Value {
    let (code, out, err) = host("docker", args);
    assert_eq!(code, 0, "docker {}: {err}", args.join(" "));
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("docker {args:?} printed no JSON ({e}): {out}"))
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    let (code, out, err) = host("docker", args);
    assert_eq!(code, 0, "docker {}: {err}", args.join(" "));
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn a_missing_docker_daemon_is_named_in_the_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_kplab"))
        .args(["cluster", "ls"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run kplab");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Docker is not running: cannot connect to unix:///nonexistent/docker.sock"),
        "{stderr}"
    );
}

#[test]
fn bad_lab_names_are_refused_before_touching_docker() {
    let (code, _, err) = kplab(&["cluster", "up", "Bad_Name"]);
    assert_ne!(code, 0);
    assert!(err.contains("lab name \"Bad_Name\" is invalid"), "{err}");
    let (code, _, err) = kplab(&["cluster", "down", &"x".repeat(41)]);
    assert_ne!(code, 0);
    assert!(err.contains("too long"), "{err}");
}

#[test]
#[ignore = "needs Docker and root"]
fn cluster_up_ls_down_as_a_user_runs_them() {
    ensure_image();
    let name = "hs-cli";
    let _ = kplab(&["cluster", "down", name]);
    let _guard = Down(name);

    // up prints one JSON object once every node is Ready.
    let (code, out, err) = kplab(&["cluster", "up", name, "--nodes", "3"]);
    assert_eq!(code, 0, "kplab cluster up: {err}");
    let lab: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("up printed no JSON ({e}): {out}"));
    assert_eq!(lab["name"], name);
    assert_eq!(lab["network"], "kplab-hs-cli");
    let nodes = lab["nodes"].as_array().expect("nodes");
    let subnet_prefix = lab["subnet"]
        .as_str()
        .unwrap()
        .rsplit_once('.')
        .unwrap()
        .0
        .to_string();
    let names: Vec<_> = nodes
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["node-1", "node-2", "node-3"]);
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n["ip"], format!("{subnet_prefix}.{}", 10 + i));
        assert_eq!(n["container"], format!("kplab-hs-cli-node-{}", i + 1));
    }
    assert_eq!(lab["client"]["ip"], format!("{subnet_prefix}.100"));
    assert_eq!(lab["client"]["container"], "kplab-hs-cli-client");
    let (code, ready, err) = host(
        "docker",
        &["exec", "kplab-hs-cli-node-1", "kubectl", "get", "nodes"],
    );
    assert_eq!(code, 0, "kubectl get nodes: {err}");
    assert_eq!(
        ready.lines().filter(|l| l.contains(" Ready")).count(),
        3,
        "{ready}"
    );

    // A second up of the same lab says it exists.
    let (code, _, err) = kplab(&["cluster", "up", name]);
    assert_ne!(code, 0);
    assert!(err.contains("lab hs-cli already exists"), "{err}");

    // ls lists it.
    let (code, out, err) = kplab(&["cluster", "ls", "--json"]);
    assert_eq!(code, 0, "{err}");
    let labs: Value = serde_json::from_str(&out).expect("ls --json");
    let row = labs
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("ls lists {name}: {out}"));
    assert_eq!(row["containers"].as_object().unwrap().len(), 4);
    assert!(row["containers"]
        .as_object()
        .unwrap()
        .values()
        .all(|s| s == "running"));

    // The containers are confined as planned.
    for c in [
        "kplab-hs-cli-node-1",
        "kplab-hs-cli-node-2",
        "kplab-hs-cli-node-3",
        "kplab-hs-cli-client",
    ] {
        let i = &docker_json(&["inspect", c])[0];
        let hc = &i["HostConfig"];
        assert_eq!(hc["Privileged"], false, "{c} is not privileged");
        assert_eq!(hc["Init"], true, "{c} runs with --init");
        let mut caps: Vec<_> = hc["CapAdd"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        caps.sort();
        assert_eq!(caps, ["NET_ADMIN", "NET_RAW", "SYS_ADMIN"], "{c}");
        assert_eq!(hc["Sysctls"]["net.ipv4.ip_forward"], "1", "{c}");
        assert!(
            hc["Memory"].as_i64().unwrap() > 0
                && hc["PidsLimit"].as_i64().unwrap() > 0
                && hc["NanoCpus"].as_i64().unwrap() > 0,
            "{c} has limits"
        );
        let mounts = i["Mounts"].as_array().unwrap();
        assert!(
            mounts
                .iter()
                .all(|m| !m["Source"].as_str().unwrap_or("").contains("docker.sock")),
            "{c} has no Docker socket"
        );
        assert_eq!(
            i["Config"]["Labels"]["kplab.lab"], name,
            "{c} is labelled with the lab"
        );
        let in_container = host(
            "docker",
            &[
                "exec",
                c,
                "sh",
                "-c",
                "test -e /var/run/docker.sock && echo present || echo absent",
            ],
        )
        .1;
        assert_eq!(
            in_container.trim(),
            "absent",
            "{c}: no Docker socket inside"
        );
    }
    let net = &docker_json(&["network", "inspect", "kplab-hs-cli"])[0];
    assert_eq!(net["Internal"], true, "the lab network is internal");

    // The lab does not depend on Docker giving its nodes a default route (Docker 25 and later
    // give none on an internal network): without one, a node's own connection to a ClusterIP
    // fails its route lookup before kube-proxy can DNAT it, and the kubelet puts the route
    // back through the lab network's gateway.
    let gateway = format!("{subnet_prefix}.1");
    // The lab API speaks plain HTTP behind the kubernetes Service (`10.96.0.1:443`).
    let to_api = "curl -s -m 3 -o /dev/null -w '%{http_code}' http://10.96.0.1:443/version";
    let (code, out, err) = host(
        "docker",
        &[
            "exec",
            "kplab-hs-cli-node-2",
            "sh",
            "-c",
            &format!("ip route del default; ip route show default; {to_api}"),
        ],
    );
    // curl's 7: it could not connect (the route lookup failed: network unreachable).
    assert_eq!(
        (code, out.trim()),
        (7, "000"),
        "without a default route the ClusterIP is unreachable: {err}"
    );
    let t0 = std::time::Instant::now();
    let route = loop {
        let (_, out, _) = host(
            "docker",
            &[
                "exec",
                "kplab-hs-cli-node-2",
                "ip",
                "route",
                "show",
                "default",
            ],
        );
        if !out.trim().is_empty() || t0.elapsed() > std::time::Duration::from_secs(40) {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert!(
        route.contains(&format!("default via {gateway} dev eth0")),
        "the kubelet restores the default route via {gateway}: {route:?}"
    );
    eprintln!(
        "default route restored in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let (code, out, err) = host(
        "docker",
        &["exec", "kplab-hs-cli-node-2", "sh", "-c", to_api],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "200"),
        "node-2 -> ClusterIP: {err}"
    );
    assert_eq!(net["Labels"]["kplab.lab"], name);
    assert!(net["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap()
        .starts_with("kplab-"));

    // down leaves no container, network or volume behind.
    let (code, _, err) = kplab(&["cluster", "down", name]);
    assert_eq!(code, 0, "kplab cluster down: {err}");
    let filter = format!("label=kplab.lab={name}");
    assert!(
        docker_lines(&["ps", "-aq", "--filter", &filter]).is_empty(),
        "no container left"
    );
    assert!(
        docker_lines(&["network", "ls", "-q", "--filter", &filter]).is_empty(),
        "no network left"
    );
    assert!(
        docker_lines(&["volume", "ls", "-q", "--filter", &filter]).is_empty(),
        "no volume left"
    );

    // and a second down says the lab does not exist.
    let (code, _, err) = kplab(&["cluster", "down", name]);
    assert_ne!(code, 0);
    assert!(err.contains("lab hs-cli does not exist"), "{err}");
}

#[test]
#[ignore = "needs Docker and root"]
fn an_agent_only_image_build_takes_seconds_and_a_current_image_is_not_rebuilt() {
    ensure_image();
    let tag = "kplab-node:hs-agent-only";
    let _ = host("docker", &["rmi", "-f", tag]);
    let build = || {
        let (code, out, err) = kplab(&["image", "build", "--tag", tag]);
        assert_eq!(code, 0, "kplab image build --tag {tag}: {err}");
        serde_json::from_str::<Value>(&out)
            .unwrap_or_else(|e| panic!("image build printed no JSON ({e}): {out}"))
    };
    // The base exists (ensure_image built it): only the agent layer is built.
    let first = build();
    assert_eq!(first["base_built_with"], Value::Null, "the base is reused");
    assert_eq!(first["image_built"], true);
    let secs = first["image_secs"].as_f64().unwrap();
    eprintln!("agent-only node image build: {secs:.2} s");
    assert!(
        secs < 15.0,
        "an agent-only image build takes seconds, took {secs:.1} s"
    );
    let second = build();
    assert_eq!(
        second["image_built"], false,
        "a current image is not rebuilt"
    );
    let (code, out, _) = host(
        "docker",
        &[
            "run",
            "--rm",
            tag,
            "sh",
            "-c",
            "readlink /usr/local/bin/kube-apiserver && kubectl version --client && iptables --version",
        ],
    );
    assert_eq!(code, 0, "{out}");
    // The agent's links, the real kubectl as `kubectl`, and iptables on the nft backend.
    assert!(
        out.contains("kplab-agent")
            && out.contains("Client Version: v1.")
            && out.contains("nf_tables"),
        "{out}"
    );
    let _ = host("docker", &["rmi", "-f", tag]);
}
