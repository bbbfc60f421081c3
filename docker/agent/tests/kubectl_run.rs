//! `kubectl run -i --rm … -- CMD` and attach with the real kubectl against the lab API server
//! and the real kubelet (both in-process): the pod of a container with `stdin: true` runs the
//! container's command, attach talks to it, and the pod completes with its exit code.
//!
//! Each test first moves its own thread into a new network namespace (`unshare`), so the API
//! server, the kubelet (port 10250) and the pods' veths and routes it creates, and the kubectl
//! it runs, are all in there and vanish with it. Needs root: ignored in plain `cargo test`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::{ApiClient, KubeObject, PODS};
use serde_json::{json, Value};

const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

struct Lab {
    _server: EmbeddedServer,
    dir: tempfile::TempDir,
    client: ApiClient,
    kubeconfig: PathBuf,
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Lab {
    /// A new network namespace for this thread, an API server, a binder standing in for the
    /// scheduler, and node-9's kubelet.
    fn start() -> Lab {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET) needs root");
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
        let dir = tempfile::tempdir().unwrap();
        let server = EmbeddedServer::start(&dir.path().join("api"), Config::default()).unwrap();
        let client = server.client();
        let root = dir.path().join("node");
        for d in ["logs/pods", "run", "state"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let cfg = kplab_agent::kubelet::Config {
            node_name: "node-9".into(),
            node_index: 9,
            node_ip: "127.0.0.1".parse().unwrap(),
            apiserver: server.url().to_string(),
            nodes: vec![],
            control_plane: false,
            state_dir: root.join("state"),
            run_dir: root.join("run"),
            pod_log_dir: root.join("logs/pods"),
            log_dir: root.join("logs"),
            port: 10250,
            overlay: false,
            exe: PathBuf::from(env!("CARGO_BIN_EXE_kplab-agent")),
        };
        let kubelet = kplab_agent::kubelet::Kubelet::new(cfg);
        std::thread::spawn(move || kubelet.run());
        let c = client.clone();
        std::thread::spawn(move || loop {
            if let Ok(list) = c.list(&PODS, None, None, None) {
                for p in list.items {
                    if p.pointer("/spec/nodeName")
                        .and_then(Value::as_str)
                        .is_none()
                    {
                        let ns = p.namespace().unwrap_or("default").to_string();
                        let path = format!("{}/binding", PODS.item_path(Some(&ns), p.name()));
                        let body = json!({"apiVersion":"v1","kind":"Binding",
                            "metadata":{"name":p.name(),"namespace":ns},
                            "target":{"apiVersion":"v1","kind":"Node","name":"node-9"}});
                        let _ = c.request("POST", &path, &[], Some(("application/json", &body)));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        });
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {}\n\
                 contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: learner\n\
                 current-context: lab\nusers:\n- name: learner\n  user: {{}}\n",
                server.url()
            ),
        )
        .unwrap();
        let lab = Lab {
            _server: server,
            dir,
            client,
            kubeconfig,
        };
        wait_for("node-9 registered", || {
            lab.client
                .get(&kplab_agent::kube::client::NODES, None, "node-9")
                .ok()
        });
        lab
    }

    fn command(&self, version: &str, args: &[&str]) -> Command {
        let mut c = Command::new(format!("{KUBECTL_DIR}/kubectl.{version}"));
        c.arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join(format!("cache-{version}")).display()
            ))
            .args(args)
            .env_remove("KUBECONFIG")
            .env_remove("KUBECTL_REMOTE_COMMAND_WEBSOCKETS");
        c
    }

    /// Runs kubectl with `stdin` piped in (then closed); (exit code, stdout, stderr).
    fn kubectl(&self, version: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut child = self
            .command(version, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let text = stdin.to_string();
        std::thread::spawn(move || {
            let _ = input.write_all(text.as_bytes());
        });
        let out = wait_output(child, Duration::from_secs(30));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn pod(&self, name: &str) -> Option<Value> {
        self.client.get(&PODS, Some("default"), name).ok()
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join(format!("node/logs/pods/default_{name}.log"))
    }
}

/// Waits for `child` up to `limit` (killing it then, so a hang fails the test).
fn wait_output(child: std::process::Child, limit: Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("kubectl did not finish within {limit:?}");
        }
    }
}

fn gone(lab: &Lab, name: &str) {
    wait_for(&format!("pod {name} deleted"), || {
        lab.pod(name).is_none().then_some(())
    });
}

#[test]
#[ignore = "needs root"]
fn kubectl_run_i_rm_prints_the_output_and_exits_with_the_code() {
    let lab = Lab::start();
    let (code, out, err) = lab.kubectl(
        "1.33",
        &[
            "run",
            "-i",
            "--rm",
            "t",
            "--image=busybox",
            "--restart=Never",
            "--",
            "sh",
            "-c",
            "echo hi; exit 3",
        ],
        "",
    );
    // `--rm` deletes the pod once it completed, and says so.
    assert_eq!(
        (code, out.as_str()),
        (3, "hi\npod \"t\" deleted\n"),
        "stderr: {err}"
    );
    assert!(err.contains("pod default/t terminated (Error)"), "{err}");
    gone(&lab, "t");
}

#[test]
#[ignore = "needs root"]
fn kubectl_run_i_feeds_stdin_to_the_command() {
    let lab = Lab::start();
    for (version, name) in [("1.33", "t2"), ("1.29", "t3")] {
        let (code, out, err) = lab.kubectl(
            version,
            &[
                "run",
                "-i",
                "--rm",
                name,
                "--image=busybox",
                "--restart=Never",
                "--",
                "sh",
            ],
            "echo from-stdin\n",
        );
        assert_eq!(
            (code, out.as_str()),
            (0, format!("from-stdin\npod \"{name}\" deleted\n").as_str()),
            "kubectl {version}, stderr: {err}"
        );
        gone(&lab, name);
    }
}

#[test]
#[ignore = "needs root"]
fn kubectl_run_it_gives_a_shell_on_a_terminal() {
    let lab = Lab::start();
    // `script` gives kubectl a terminal; the input is typed once the shell is up.
    let cmd = lab.command(
        "1.33",
        &[
            "run",
            "-it",
            "--rm",
            "tt",
            "--image=busybox",
            "--restart=Never",
            "--",
            "sh",
        ],
    );
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let log = lab.log_path("tt");
    std::thread::spawn(move || {
        // Typed once the pod's shell runs and kubectl is attached (its prompt is in the log).
        let began = Instant::now();
        while std::fs::read_to_string(&log).unwrap_or_default().is_empty()
            && began.elapsed() < Duration::from_secs(15)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(700));
        let _ = input.write_all(b"tty && echo on-a-$((6*7))-tty\r");
        std::thread::sleep(Duration::from_millis(300));
        let _ = input.write_all(b"exit 0\r");
        std::thread::sleep(Duration::from_secs(10));
    });
    let out = wait_output(child, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("on-a-42-tty"), "{text}");
    assert!(text.contains("/dev/pts/"), "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
    gone(&lab, "tt");
    assert!(lab.log("tt").contains("on-a-42-tty"));
}

#[test]
#[ignore = "needs root"]
fn a_pod_without_stdin_still_runs_the_pod_server_and_attach_streams_its_log() {
    let lab = Lab::start();
    lab.client
        .create(
            &PODS,
            Some("default"),
            &json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},
                "spec":{"containers":[{"name":"web","image":"nginx","command":["sh"]}]}}),
        )
        .unwrap();
    let pod = wait_for("web Running", || {
        lab.pod("web")
            .filter(|p| p["status"]["phase"] == "Running" && p["status"]["podIP"].is_string())
    });
    assert!(pod["status"]["containerStatuses"][0]["note"]
        .as_str()
        .unwrap()
        .contains("kplab-pod"));
    wait_for("the pod server's first log line", || {
        lab.log("web").contains("listening on").then_some(())
    });
    let mut child = lab
        .command("1.33", &["attach", "web"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // A line the pod writes now comes out of attach.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(lab.log_path("web"))
        .unwrap();
    f.write_all(b"GET / from 10.244.9.9:1234\n").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let _ = child.kill();
    let out = wait_output(child, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("GET / from 10.244.9.9:1234"), "{text}");
    assert!(!text.contains("listening on"), "{text}");
}

#[test]
#[ignore = "needs root"]
fn kubectl_debug_node_runs_a_shell_in_the_nodes_network_namespace() {
    let lab = Lab::start();
    let node_netns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let (code, out, err) = lab.kubectl(
        "1.33",
        &["debug", "node/node-9", "-i", "--image=busybox"],
        "readlink /proc/self/ns/net\n",
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains(&*node_netns.to_string_lossy()),
        "{node_netns:?} in {out}\nstderr: {err}"
    );
    let list = lab.client.list(&PODS, Some("default"), None, None).unwrap();
    let pod = list
        .items
        .iter()
        .find(|p| p.name().starts_with("node-debugger-node-9-"))
        .expect("the debug pod")
        .clone();
    assert_eq!(pod["spec"]["hostNetwork"], true);
    let name = pod.name().to_string();
    let done = wait_for("the debug pod Succeeded", || {
        lab.pod(&name)
            .filter(|p| p["status"]["phase"] == "Succeeded")
    });
    assert_eq!(done["status"]["podIP"], "127.0.0.1");
    assert_eq!(
        done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        0
    );
}
