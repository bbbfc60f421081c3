//! The real kubectl's exec, attach and logs against the lab API server, which proxies to the
//! kubelet's stream server: both in-process, the "node" on a loopback address of its own
//! (127.78.x.1:10250), the pod a `sleep` in a network namespace of its own (`unshare --net`).
//! nsenter needs root: ignored in plain `cargo test`, run by the README's test command (as
//! root). The versioned kubectl binaries are in /usr/lib/google-cloud-sdk/bin.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::Resource;
use kplab_agent::kubelet::http::Server;
use serde_json::json;

const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";
/// The kubectl releases that speak WebSocket to pods/exec by default.
const WEBSOCKET_KUBECTLS: &[&str] = &["1.30", "1.31", "1.32", "1.33"];
/// The kubectl releases that speak SPDY/3.1 to pods/exec (no WebSocket unless told to).
const SPDY_KUBECTLS: &[&str] = &["1.27", "1.28", "1.29"];

fn kubectl_path(version: &str) -> String {
    format!("{KUBECTL_DIR}/kubectl.{version}")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A pod's network namespace: a `sleep` that unshared it.
struct NetnsHolder(Child);

impl NetnsHolder {
    fn start() -> NetnsHolder {
        let mut c = Command::new("unshare");
        c.args(["--net", "--", "sleep", "600"]);
        NetnsHolder::start_cmd(c)
    }

    /// The pod's own server (`kplab-pod`, which unshares its network namespace itself).
    fn podserver(run_dir: &Path, port: u16) -> NetnsHolder {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kplab-agent"));
        c.args([
            "kplab-pod",
            "web",
            "--namespace",
            "default",
            "--node",
            "node-9",
        ])
        .args(["--pod-ip", "10.244.9.5", "--port", &port.to_string()])
        .arg("--run-dir")
        .arg(run_dir)
        .stdout(Stdio::null());
        NetnsHolder::start_cmd(c)
    }

    fn start_cmd(mut c: Command) -> NetnsHolder {
        let child = c.spawn().unwrap();
        let pid = child.id();
        let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
        let began = Instant::now();
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == Some(mine.clone()) {
            assert!(began.elapsed() < Duration::from_secs(5), "unshare did not");
            std::thread::sleep(Duration::from_millis(10));
        }
        // A pod's loopback is up (the kubelet's pod-side setup does it).
        let up = Command::new("nsenter")
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .args(["ip", "link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
        NetnsHolder(child)
    }
}

impl Drop for NetnsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Lab {
    server: EmbeddedServer,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    pod: NetnsHolder,
    /// Whether the pods still run on the kubelet.
    alive: Arc<AtomicBool>,
}

fn node_ip() -> String {
    static NEXT: AtomicU8 = AtomicU8::new(1);
    let octet = 2 + (std::process::id() % 250) as u8;
    format!("127.78.{octet}.{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

impl Lab {
    fn start() -> Lab {
        Lab::start_with(|_| NetnsHolder::start())
    }

    fn start_with(pod: impl FnOnce(&Path) -> NetnsHolder) -> Lab {
        assert!(is_root(), "nsenter into a network namespace needs root");
        let dir = tempfile::tempdir().unwrap();
        let server = EmbeddedServer::start(&dir.path().join("api"), Config::default()).unwrap();
        let pod = pod(dir.path());
        let ip = node_ip();
        let listener = std::net::TcpListener::bind((ip.as_str(), 10250)).unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(logs.join("pods")).unwrap();
        let web_log: String = (1..=8).map(|i| format!("line {i}\n")).collect();
        std::fs::write(logs.join("pods/default_web.log"), web_log).unwrap();
        std::fs::write(logs.join("pods/shop_api.log"), "api says hi\n").unwrap();
        let alive = Arc::new(AtomicBool::new(true));
        let (pid, up) = (pod.0.id(), Arc::clone(&alive));
        let kubelet = Server {
            lookup: Arc::new(move |ns: &str, name: &str| {
                let known = matches!((ns, name), ("default", "web" | "two") | ("shop", "api"));
                (known && up.load(Ordering::SeqCst)).then_some(pid)
            }),
            components: Arc::new(|_: &str, _: &str| None),
            consoles: kplab_agent::kubelet::http::no_consoles(),
            pod_log_dir: logs.join("pods"),
            log_dir: logs.clone(),
        };
        std::thread::spawn(move || kubelet.serve(listener));

        let c = server.client();
        let r = |n: &str| Resource::resolve(n).unwrap();
        c.create(
            r("nodes"),
            None,
            &json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"node-9"},
                "status":{"addresses":[{"type":"InternalIP","address":ip}]}}),
        )
        .unwrap();
        c.create(
            r("namespaces"),
            None,
            &json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}),
        )
        .unwrap();
        c.create(
            r("deployments"),
            Some("default"),
            &json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
                "spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},
                "template":{"metadata":{"labels":{"app":"web"}},
                "spec":{"containers":[{"name":"web","image":"nginx"}]}}}}),
        )
        .unwrap();
        for (ns, name, node) in [
            ("default", "web", "node-9"),
            ("shop", "api", "node-9"),
            ("default", "two", "node-9"),
            ("default", "unscheduled", ""),
        ] {
            let containers = if name == "two" {
                json!([{"name":"a","image":"nginx"},{"name":"b","image":"nginx"}])
            } else {
                json!([{"name":name,"image":"nginx"}])
            };
            let mut spec = json!({"containers": containers});
            if !node.is_empty() {
                spec["nodeName"] = json!(node);
            }
            let mut p = c
                .create(
                    r("pods"),
                    Some(ns),
                    &json!({"apiVersion":"v1","kind":"Pod",
                        "metadata":{"name":name,"labels":{"app":name}},"spec":spec}),
                )
                .unwrap();
            if !node.is_empty() {
                p["status"] = json!({"phase":"Running","hostIP":ip,"podIP":"10.244.9.5",
                    "containerStatuses":[{"name":name,"ready":true,"state":{"running":{}}}]});
                c.update_status(r("pods"), Some(ns), name, &p).unwrap();
            }
        }
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
        Lab {
            server,
            dir,
            kubeconfig,
            pod,
            alive,
        }
    }

    fn log_path(&self, ns: &str, pod: &str) -> PathBuf {
        self.dir.path().join(format!("logs/pods/{ns}_{pod}.log"))
    }

    fn command(&self, version: &str, args: &[&str]) -> Command {
        let mut c = Command::new(kubectl_path(version));
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

    /// Runs kubectl with `stdin` piped in; (exit code, stdout, stderr).
    fn kubectl(&self, version: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
        self.kubectl_env(version, args, stdin, &[])
    }

    fn kubectl_env(
        &self,
        version: &str,
        args: &[&str],
        stdin: &str,
        env: &[(&str, &str)],
    ) -> (i32, String, String) {
        let mut c = self.command(version, args);
        c.envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        let text = stdin.to_string();
        std::thread::spawn(move || {
            let _ = input.write_all(text.as_bytes());
        });
        let out = wait_with_timeout(child, Duration::from_secs(30));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn wait_with_timeout(child: Child, limit: Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("kubectl (pid {pid}) did not finish within {limit:?}");
        }
    }
}

#[test]
#[ignore = "needs root"]
fn exec_output_stderr_and_exit_codes_with_every_websocket_kubectl() {
    let lab = Lab::start();
    for v in WEBSOCKET_KUBECTLS {
        let (code, out, err) = lab.kubectl(
            v,
            &[
                "exec",
                "web",
                "--",
                "sh",
                "-c",
                "echo hi; echo oops >&2; exit 3",
            ],
            "",
        );
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (3, "hi\n", "oops\ncommand terminated with exit code 3\n"),
            "kubectl {v}"
        );
        let (code, out, err) = lab.kubectl(v, &["exec", "web", "--", "echo", "ok"], "");
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (0, "ok\n", ""),
            "kubectl {v}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn exec_attach_and_stdin_over_spdy_with_kubectl_1_27_to_1_29() {
    let lab = Lab::start();
    for v in SPDY_KUBECTLS {
        let (code, out, err) = lab.kubectl(
            v,
            &[
                "exec",
                "web",
                "--",
                "sh",
                "-c",
                "echo hi; echo oops >&2; exit 3",
            ],
            "",
        );
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (3, "hi\n", "oops\ncommand terminated with exit code 3\n"),
            "kubectl {v}"
        );
        let (code, out, err) = lab.kubectl(v, &["exec", "deploy/web", "--", "echo", "ok"], "");
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (0, "ok\n", ""),
            "kubectl {v}"
        );
        let (code, out, err) = lab.kubectl(
            v,
            &["exec", "-i", "web", "--", "sh", "-c", "cat; echo done"],
            "from stdin\nline two\n",
        );
        assert_eq!(
            (code, out.as_str()),
            (0, "from stdin\nline two\ndone\n"),
            "kubectl {v}: {err}"
        );
        // Errors found before the upgrade reach kubectl as the Status they are.
        let (code, _, err) = lab.kubectl(v, &["exec", "web", "-c", "nope", "--", "ls"], "");
        assert_eq!(
            (code, err.trim_end()),
            (
                1,
                "Error from server (BadRequest): container nope is not valid for pod web"
            ),
            "kubectl {v}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn exec_runs_in_the_pods_network_namespace_with_its_resolver_settings() {
    let lab = Lab::start();
    let want = std::fs::read_link(format!("/proc/{}/ns/net", lab.pod.0.id())).unwrap();
    let (code, out, err) = lab.kubectl(
        "1.33",
        &["exec", "web", "--", "readlink", "/proc/self/ns/net"],
        "",
    );
    assert_eq!((code, out.trim()), (0, want.to_str().unwrap()), "{err}");
    // Namespace default: the node's resolv.conf already says it; elsewhere glibc's variables do.
    let (code, out, _) = lab.kubectl(
        "1.33",
        &[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo \"[$LOCALDOMAIN][$RES_OPTIONS]\"",
        ],
        "",
    );
    assert_eq!((code, out.as_str()), (0, "[][]\n"));
    let (code, out, _) = lab.kubectl(
        "1.33",
        &[
            "exec",
            "-n",
            "shop",
            "api",
            "--",
            "sh",
            "-c",
            "echo \"[$LOCALDOMAIN][$RES_OPTIONS]\"",
        ],
        "",
    );
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "[shop.svc.cluster.local svc.cluster.local cluster.local][ndots:5]\n"
        )
    );
}

#[test]
#[ignore = "needs root"]
fn exec_with_piped_stdin_and_through_a_deployment() {
    let lab = Lab::start();
    for v in WEBSOCKET_KUBECTLS {
        let (code, out, err) = lab.kubectl(
            v,
            &["exec", "-i", "web", "--", "sh", "-c", "cat; echo done"],
            "from stdin\nline two\n",
        );
        assert_eq!(
            (code, out.as_str()),
            (0, "from stdin\nline two\ndone\n"),
            "kubectl {v}: {err}"
        );
        let (code, out, err) =
            lab.kubectl(v, &["exec", "deploy/web", "--", "echo", "via deploy"], "");
        assert_eq!(
            (code, out.as_str()),
            (0, "via deploy\n"),
            "kubectl {v}: {err}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn exec_with_a_terminal() {
    let lab = Lab::start();
    // 1.29: SPDY (a resize stream); 1.33: WebSocket (the resize channel).
    for v in ["1.29", "1.33"] {
        exec_in_a_terminal(&lab, v);
    }
}

fn exec_in_a_terminal(lab: &Lab, v: &str) {
    // `script` gives kubectl a terminal, so `-t` really allocates one on the node side.
    let cmd = lab.command(
        v,
        &[
            "exec",
            "-it",
            "web",
            "--",
            "sh",
            "-c",
            "tty; stty size; read x; echo got:$x; exit 4",
        ],
    );
    let line = format!(
        "stty cols 100 rows 30; {}",
        std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let _ = input.write_all(b"typed\r");
        std::thread::sleep(Duration::from_secs(3));
    });
    let out = wait_with_timeout(child, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.contains("/dev/pts/"), "kubectl {v}: {text}");
    assert!(
        text.contains("30 100"),
        "kubectl {v}: the terminal size reaches the pod: {text}"
    );
    assert!(text.contains("got:typed"), "{text}");
    assert!(
        text.contains("command terminated with exit code 4"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(4), "kubectl {v}: {text}");
}

#[test]
#[ignore = "needs root"]
fn exec_errors_as_kubectl_prints_them() {
    let lab = Lab::start();
    let (code, _, err) = lab.kubectl("1.33", &["exec", "web", "-c", "nope", "--", "ls"], "");
    assert_eq!(
        (code, err.trim_end()),
        (
            1,
            "Error from server (BadRequest): container nope is not valid for pod web"
        )
    );
    let (code, _, err) = lab.kubectl("1.33", &["exec", "unscheduled", "--", "ls"], "");
    assert_eq!(
        (code, err.trim_end()),
        (
            1,
            "Error from server (BadRequest): pod unscheduled does not have a host assigned"
        )
    );
    // kubectl 1.29 told to use WebSocket does.
    let (code, out, err) = lab.kubectl_env(
        "1.29",
        &["exec", "web", "--", "echo", "ws"],
        "",
        &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "true")],
    );
    assert_eq!((code, out.as_str()), (0, "ws\n"), "{err}");
}

#[test]
#[ignore = "needs root"]
fn logs_with_options_selectors_and_errors() {
    let lab = Lab::start();
    let v = "1.33";
    let (code, out, err) = lab.kubectl(v, &["logs", "web"], "");
    assert_eq!((code, out.lines().count()), (0, 8), "{err}");
    let (code, out, _) = lab.kubectl(v, &["logs", "web", "--tail", "2"], "");
    assert_eq!((code, out.as_str()), (0, "line 7\nline 8\n"));
    let (code, out, _) = lab.kubectl(v, &["logs", "deploy/web", "--limit-bytes=9"], "");
    assert_eq!((code, out.as_str()), (0, "line 1\nli"));
    let (code, out, _) = lab.kubectl(v, &["logs", "-l", "app=web", "--tail=1"], "");
    assert_eq!((code, out.as_str()), (0, "line 8\n"));
    let (code, out, _) = lab.kubectl(v, &["logs", "web", "--tail=1", "--timestamps"], "");
    let (stamp, rest) = out.split_once(' ').unwrap();
    assert_eq!((code, rest), (0, "line 8\n"));
    assert!(stamp.ends_with('Z') && stamp.contains('T'), "{stamp}");
    let (code, out, _) = lab.kubectl(v, &["logs", "-n", "shop", "api", "--since=1h"], "");
    assert_eq!((code, out.as_str()), (0, "api says hi\n"));
    // kubectl checks the container itself (the same words as the server's).
    let (code, _, err) = lab.kubectl(v, &["logs", "web", "-c", "nope"], "");
    assert_eq!(
        (code, err.trim_end()),
        (1, "error: container nope is not valid for pod web")
    );
    let (code, _, err) = lab.kubectl(v, &["logs", "web", "--previous"], "");
    assert_eq!(
        (code, err.trim_end()),
        (
            1,
            "Error from server (BadRequest): previous terminated container \"web\" in pod \"web\" not found"
        )
    );
    let (code, _, err) = lab.kubectl(v, &["logs", "two"], "");
    assert_eq!(
        (code, err.as_str()),
        (0, "Defaulted container \"a\" out of: a, b\n"),
        "kubectl picks the first container itself"
    );
    // The server's own check, for clients that do not pick.
    let raw = ureq::get(&format!(
        "{}/api/v1/namespaces/default/pods/two/log",
        lab.server.url()
    ))
    .call()
    .unwrap_err();
    let ureq::Error::Status(400, r) = raw else {
        panic!("{raw:?}")
    };
    let body: serde_json::Value = r.into_json().unwrap();
    assert_eq!(
        body["message"],
        "a container name must be specified for pod two, choose one of: [a b]"
    );
    let raw = ureq::get(&format!(
        "{}/api/v1/namespaces/default/pods/web/log?tailLines=-1",
        lab.server.url()
    ))
    .call()
    .unwrap_err();
    let ureq::Error::Status(422, r) = raw else {
        panic!("{raw:?}")
    };
    let body: serde_json::Value = r.into_json().unwrap();
    assert_eq!(
        body["message"],
        "PodLogOptions \"web\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
    );
    let (code, _, err) = lab.kubectl(v, &["logs", "missing"], "");
    assert_eq!(
        (code, err.trim_end()),
        (
            1,
            "error: error from server (NotFound): pods \"missing\" not found in namespace \"default\""
        ),
        "kubectl's own wording, as against a real cluster"
    );
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Reads lines from `r` until one equals `want` (or panics after a while).
fn read_until(r: &mut impl BufRead, want: &str) {
    let began = Instant::now();
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "stream ended before {want:?}"
        );
        if line.trim_end() == want {
            return;
        }
        assert!(began.elapsed() < Duration::from_secs(20), "no {want:?}");
    }
}

#[test]
#[ignore = "needs root"]
fn logs_follow_and_attach_stream_until_the_pod_goes() {
    let lab = Lab::start();
    let mut follow = lab
        .command("1.33", &["logs", "-f", "web", "--tail=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut attach = lab
        .command("1.33", &["attach", "web"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // kubectl 1.29 attaches over plain SPDY/3.1.
    let mut attach_spdy = lab
        .command("1.29", &["attach", "web"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut fout = BufReader::new(follow.stdout.take().unwrap());
    let mut aout = BufReader::new(attach.stdout.take().unwrap());
    let mut sout = BufReader::new(attach_spdy.stdout.take().unwrap());
    read_until(&mut fout, "line 8");
    std::thread::sleep(Duration::from_secs(2));
    append(&lab.log_path("default", "web"), "appended\n");
    read_until(&mut fout, "appended");
    read_until(&mut aout, "appended");
    read_until(&mut sout, "appended");
    lab.alive.store(false, Ordering::SeqCst);
    let f = wait_with_timeout(follow, Duration::from_secs(10));
    assert_eq!(
        f.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&f.stderr)
    );
    for (v, a) in [("1.33", attach), ("1.29", attach_spdy)] {
        let a = wait_with_timeout(a, Duration::from_secs(10));
        assert_eq!(
            a.status.code(),
            Some(0),
            "kubectl {v}: {}",
            String::from_utf8_lossy(&a.stderr)
        );
    }
    drop(lab.server);
}

/// A local port of this test's own range (17500-17599).
fn local_port(offset: u16) -> u16 {
    17550 + offset + (std::process::id() % 20) as u16
}

#[test]
#[ignore = "needs root"]
fn port_forward_reaches_the_pods_port() {
    let lab = Lab::start_with(|dir| NetnsHolder::podserver(&dir.join("run"), 8080));
    // 1.29 and 1.30: plain SPDY/3.1; 1.31+: SPDY in a WebSocket.
    for (i, v) in ["1.29", "1.30", "1.31", "1.33"].iter().enumerate() {
        let local = local_port(i as u16);
        let mut pf = lab
            .command(v, &["port-forward", "pod/web", &format!("{local}:8080")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(pf.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(
            line,
            format!("Forwarding from 127.0.0.1:{local} -> 8080\n"),
            "kubectl {v}"
        );
        for round in 0..2 {
            let mut conn = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            if let Err(e) = std::io::Read::read_to_string(&mut conn, &mut answer) {
                let _ = pf.kill();
                let o = pf.wait_with_output().unwrap();
                panic!("kubectl {v}: {e}: {}", String::from_utf8_lossy(&o.stderr));
            }
            assert!(
                answer.starts_with("HTTP/1.1 200"),
                "kubectl {v} round {round}: {answer}"
            );
            assert!(answer.contains("\"pod\":\"web\""), "{answer}");
        }
        let _ = pf.kill();
        let _ = pf.wait();
    }
    for (i, v) in ["1.30", "1.33"].iter().enumerate() {
        port_forward_to_a_closed_port(&lab, v, local_port(5 + i as u16));
    }
}

/// A port nothing listens on: kubectl reports the pod side's error.
fn port_forward_to_a_closed_port(lab: &Lab, v: &str, local: u16) {
    let mut pf = lab
        .command(v, &["port-forward", "pod/web", &format!("{local}:9")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(pf.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut conn, &mut answer);
    let _ = pf.kill();
    let done = pf.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(
        err.contains("an error occurred forwarding") && err.contains("connection refused"),
        "kubectl {v}: {err}"
    );
}

#[test]
#[ignore = "needs root"]
fn cp_and_large_transfers_through_exec_and_port_forward() {
    let lab = Lab::start_with(|dir| NetnsHolder::podserver(&dir.join("run"), 8080));
    // kubectl cp is tar over exec -i (the pod shares this host's files here): WebSocket with
    // 1.33, plain SPDY/3.1 with 1.29.
    let src = lab.dir.path().join("big.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    for v in ["1.29", "1.33"] {
        let dst = lab.dir.path().join(format!("copied-{v}.bin"));
        let (code, _, err) = lab.kubectl(
            v,
            &[
                "cp",
                src.to_str().unwrap(),
                &format!("web:{}", dst.display()),
            ],
            "",
        );
        assert_eq!(code, 0, "kubectl {v}: {err}");
        assert!(std::fs::read(&dst).unwrap() == data, "kubectl {v}");
        let out = lab
            .command(v, &["exec", "web", "--", "cat", src.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "kubectl {v}");
        assert!(out.stdout == data, "binary output comes back unchanged");
    }

    // A big download through port-forward: a server thread in the pod's network namespace.
    // 1.29 and 1.30: plain SPDY/3.1; 1.33: SPDY in a WebSocket.
    let versions = ["1.29", "1.30", "1.33"];
    let ns = std::fs::File::open(format!("/proc/{}/ns/net", lab.pod.0.id())).unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let payload = data.clone();
    std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let l = std::net::TcpListener::bind(("127.0.0.1", 8081)).unwrap();
        ready_tx.send(()).unwrap();
        for _ in versions {
            if let Ok((mut c, _)) = l.accept() {
                let mut req = [0u8; 1024];
                let _ = std::io::Read::read(&mut c, &mut req);
                let _ = c.write_all(&payload);
            }
        }
    });
    ready_rx.recv().unwrap();
    for (i, v) in versions.iter().enumerate() {
        let local = local_port(10 + i as u16);
        let mut pf = lab
            .command(v, &["port-forward", "pod/web", &format!("{local}:8081")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        // Kept open: kubectl writes "Handling connection for …" there, and dies of a closed
        // stdout.
        let mut pf_out = BufReader::new(pf.stdout.take().unwrap());
        pf_out.read_line(&mut line).unwrap();
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        conn.write_all(b"send it\n").unwrap();
        let mut answer = Vec::new();
        let got = std::io::Read::read_to_end(&mut conn, &mut answer);
        let _ = pf.kill();
        drop(pf_out);
        let o = pf.wait_with_output().unwrap();
        got.unwrap_or_else(|e| panic!("kubectl {v}: {e}: {}", String::from_utf8_lossy(&o.stderr)));
        assert_eq!(answer.len(), data.len(), "kubectl {v}");
        assert!(answer == data, "kubectl {v}: the bytes arrive unchanged");
    }
}

/// Sends a plain SPDY/3.1 upgrade for `path` offering `protocols`; the answer's header and the
/// connection.
fn spdy_upgrade(lab: &Lab, path: &str, protocols: &str) -> (String, std::net::TcpStream) {
    let addr = lab.server.url().trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\
         X-Stream-Protocol-Version: {protocols}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        std::io::Read::read_exact(&mut conn, &mut b).unwrap();
        head.push(b[0]);
    }
    (String::from_utf8(head).unwrap().to_ascii_lowercase(), conn)
}

#[test]
#[ignore = "needs root"]
fn a_plain_spdy_client_negotiates_v3_exec_and_is_refused_unknown_protocols() {
    use kplab_agent::apiserver::streams::spdy;
    let lab = Lab::start();
    let exec = "/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c\
                &command=echo%20hi%3B%20exit%203&stdout=true&stderr=true";
    let (head, _) = spdy_upgrade(&lab, exec, "v9.channel.k8s.io");
    assert!(head.starts_with("http/1.1 403"), "{head}");
    assert!(
        head.contains("x-accepted-stream-protocol-versions: v4.channel.k8s.io"),
        "{head}"
    );
    let (head, mut conn) = spdy_upgrade(
        &lab,
        exec,
        "v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io",
    );
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: spdy/3.1"), "{head}");
    assert!(
        head.contains("x-stream-protocol-version: v3.channel.k8s.io"),
        "{head}"
    );
    let mut deflater = spdy::Deflater::default();
    for (id, kind) in [(1u32, "error"), (3, "stdout"), (5, "stderr")] {
        let mut syn = id.to_be_bytes().to_vec();
        syn.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        syn.extend(deflater.deflate(&spdy::encode_headers(&[("streamtype", kind)])));
        // The client half of each stream is done at once (FLAG_FIN): it sends nothing.
        conn.write_all(&spdy::control(spdy::SYN_STREAM, spdy::FLAG_FIN, &syn))
            .unwrap();
    }
    let (mut buf, mut streams) = (Vec::new(), std::collections::HashMap::<u32, Vec<u8>>::new());
    let mut b = [0u8; 4096];
    'read: loop {
        while let Some(frame) = spdy::next_frame(&mut buf).unwrap() {
            if let spdy::Frame::Data(id, flags, payload) = frame {
                streams.entry(id).or_default().extend(payload);
                if id == 1 && flags & spdy::FLAG_FIN != 0 {
                    break 'read;
                }
            }
        }
        let n = std::io::Read::read(&mut conn, &mut b).unwrap();
        assert!(n > 0, "the session ended early: {streams:?}");
        buf.extend_from_slice(&b[..n]);
    }
    assert_eq!(streams.get(&3).map(Vec::as_slice), Some(&b"hi\n"[..]));
    // v3's error stream: the failure's message as text, not a Status.
    assert_eq!(
        String::from_utf8_lossy(&streams[&1]),
        "command terminated with non-zero exit code: error executing command \
         [sh -c echo hi; exit 3], exit code 3"
    );
}
