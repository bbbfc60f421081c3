//! What the kubelet reads from a pod object (ports, image, readiness probe), how it starts and
//! stops the pod's process, how it probes readiness, and the pod status it reports.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::kube::client::KubeObject;
use crate::kube::ports::{served_ports, PortSpec, Protocol};

/// Images whose pods run the `coredns` component instead of `kplab-pod`.
pub const COREDNS_IMAGE_PREFIX: &str = "registry.k8s.io/coredns/coredns:";

/// How a readiness probe checks the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    /// `httpGet`: GET `path` on podIP:`port`; 200–399 is success.
    HttpGet {
        /// Request path.
        path: String,
        /// Port number (a named port is resolved against the containerPorts).
        port: u16,
    },
    /// `tcpSocket`: a TCP connect to podIP:`port` succeeds.
    TcpSocket {
        /// Port number.
        port: u16,
    },
    /// `exec`: the command, run in the pod's network namespace, exits 0.
    Exec {
        /// argv.
        command: Vec<String>,
    },
}

/// A readiness probe with Kubernetes' timing fields and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The check.
    pub action: ProbeAction,
    /// `initialDelaySeconds` (0).
    pub initial_delay: Duration,
    /// `periodSeconds` (10).
    pub period: Duration,
    /// `timeoutSeconds` (1).
    pub timeout: Duration,
    /// `successThreshold` (1).
    pub success_threshold: u32,
    /// `failureThreshold` (3).
    pub failure_threshold: u32,
}

/// One container of the pod spec (reported in `containerStatuses`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Container name.
    pub name: String,
    /// Image (recorded, not run).
    pub image: String,
}

/// What the kubelet needs from a pod object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpecInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// Containers, in spec order.
    pub containers: Vec<ContainerInfo>,
    /// All declared ports of all containers (80/TCP when none).
    pub ports: Vec<PortSpec>,
    /// Run the `coredns` component instead of the echo server.
    pub coredns: bool,
    /// The first container's readiness probe.
    pub readiness: Option<Probe>,
    /// `terminationGracePeriodSeconds` (30).
    pub grace: Duration,
    /// The first container has `stdin: true`: the pod's process is its command (see
    /// [`super::console`]), not the pod server.
    pub interactive: Option<Interactive>,
}

/// How an interactive pod's process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interactive {
    /// `command` + `args` of the first container (`sh` when neither is given).
    pub command: Vec<String>,
    /// `tty: true`: on a pseudo-terminal.
    pub tty: bool,
    /// `stdinOnce: true`: stdin closes when the first attach ends.
    pub stdin_once: bool,
    /// `hostNetwork: true`: in the node's network namespace.
    pub host_network: bool,
    /// `restartPolicy` (`Always` when absent).
    pub restart_policy: String,
}

impl Interactive {
    /// Reads the first container of a pod; `None` unless it has `stdin: true`.
    pub fn from_pod(pod: &Value) -> Option<Interactive> {
        let c = pod.pointer("/spec/containers/0")?;
        let flag = |k: &str| c.get(k).and_then(Value::as_bool) == Some(true);
        if !flag("stdin") {
            return None;
        }
        let list = |k: &str| -> Vec<String> {
            c.get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        };
        // The images used this way (busybox, alpine, netshoot) have no entrypoint and `sh` as
        // their command: `args` alone replace it.
        let mut command = list("command");
        command.extend(list("args"));
        if command.is_empty() {
            command.push("sh".into());
        }
        Some(Interactive {
            command,
            tty: flag("tty"),
            stdin_once: flag("stdinOnce"),
            host_network: pod.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true),
            restart_policy: str_at(pod, "/spec/restartPolicy")
                .unwrap_or("Always")
                .to_string(),
        })
    }

    /// Whether an exit with `code` completes the pod (no restart).
    pub fn completes_on(&self, code: i32) -> bool {
        match self.restart_policy.as_str() {
            "Never" => true,
            "OnFailure" => code == 0,
            _ => false,
        }
    }
}

impl PodSpecInfo {
    /// `<ns>/<name>`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Reads a pod object.
    pub fn from_pod(pod: &Value) -> PodSpecInfo {
        let containers_json: Vec<Value> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let containers: Vec<ContainerInfo> = containers_json
            .iter()
            .map(|c| ContainerInfo {
                name: str_at(c, "/name").unwrap_or("app").to_string(),
                image: str_at(c, "/image").unwrap_or("").to_string(),
            })
            .collect();
        let mut ports = Vec::new();
        let mut named = Vec::new();
        for c in &containers_json {
            for p in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(port) = p
                    .get("containerPort")
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n > 0)
                else {
                    continue;
                };
                let protocol = match str_at(p, "/protocol").unwrap_or("TCP") {
                    "UDP" => Protocol::Udp,
                    "TCP" => Protocol::Tcp,
                    // SCTP and anything else: not served.
                    _ => continue,
                };
                if let Some(n) = str_at(p, "/name") {
                    named.push((n.to_string(), port));
                }
                ports.push(PortSpec { port, protocol });
            }
        }
        let ports = served_ports(ports);
        let readiness = containers_json
            .iter()
            .find_map(|c| c.get("readinessProbe"))
            .and_then(|p| parse_probe(p, &named));
        let coredns = containers
            .iter()
            .any(|c| c.image.starts_with(COREDNS_IMAGE_PREFIX));
        let grace = pod
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(30);
        PodSpecInfo {
            namespace: pod.namespace().unwrap_or("default").to_string(),
            name: pod.name().to_string(),
            uid: pod.uid().unwrap_or("").to_string(),
            containers,
            ports,
            coredns,
            readiness,
            grace: Duration::from_secs(grace),
            interactive: Interactive::from_pod(pod),
        }
    }

    /// The HTTP path of the readiness probe, if it is an httpGet.
    pub fn readiness_path(&self) -> Option<&str> {
        match &self.readiness {
            Some(Probe {
                action: ProbeAction::HttpGet { path, .. },
                ..
            }) => Some(path),
            _ => None,
        }
    }
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn port_of(v: Option<&Value>, named: &[(String, u16)]) -> Option<u16> {
    match v? {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s
            .parse()
            .ok()
            .or_else(|| named.iter().find(|(n, _)| n == s).map(|(_, p)| *p)),
        _ => None,
    }
}

/// Parses a `readinessProbe` object; `None` when it has no supported action.
pub fn parse_probe(p: &Value, named: &[(String, u16)]) -> Option<Probe> {
    let secs = |k: &str, d: u64| Duration::from_secs(p.get(k).and_then(Value::as_u64).unwrap_or(d));
    let count = |k: &str, d: u64| p.get(k).and_then(Value::as_u64).unwrap_or(d).max(1) as u32;
    let action = if let Some(h) = p.get("httpGet") {
        ProbeAction::HttpGet {
            path: str_at(h, "/path").unwrap_or("/").to_string(),
            port: port_of(h.get("port"), named)?,
        }
    } else if let Some(t) = p.get("tcpSocket") {
        ProbeAction::TcpSocket {
            port: port_of(t.get("port"), named)?,
        }
    } else if let Some(e) = p.get("exec") {
        ProbeAction::Exec {
            command: e
                .get("command")
                .and_then(Value::as_array)?
                .iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
        }
    } else {
        return None;
    };
    Some(Probe {
        action,
        initial_delay: secs("initialDelaySeconds", 0),
        period: secs("periodSeconds", 10).max(Duration::from_secs(1)),
        timeout: secs("timeoutSeconds", 1).max(Duration::from_secs(1)),
        success_threshold: count("successThreshold", 1),
        failure_threshold: count("failureThreshold", 3),
    })
}

/// Where the kubelet puts things for pods.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `/run/kplab/pods`: `<ns>/<pod>/pid`, `<ns>/<pod>/unready`.
    pub run_dir: PathBuf,
    /// `/var/log/kplab/pods`: `<ns>_<pod>.log`.
    pub log_dir: PathBuf,
    /// The multi-call binary to start pods with.
    pub exe: PathBuf,
}

impl Paths {
    /// `<run>/<ns>/<pod>`.
    pub fn pod_run_dir(&self, namespace: &str, name: &str) -> PathBuf {
        self.run_dir.join(namespace).join(name)
    }
    /// `<log>/<ns>_<pod>.log`.
    pub fn pod_log(&self, namespace: &str, name: &str) -> PathBuf {
        self.log_dir.join(format!("{namespace}_{name}.log"))
    }
}

/// Errors starting a pod's process.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The log file or run directory could not be prepared.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The process exited before its network namespace existed.
    #[error("the pod process exited at start ({status}); its log {log} ends with: {tail}")]
    Exited {
        /// Exit status.
        status: String,
        /// Log file.
        log: PathBuf,
        /// Last lines of the log.
        tail: String,
    },
    /// The process did not create its network namespace in time.
    #[error("the pod process (pid {pid}) did not create its network namespace within {waited:?}")]
    NoNetns {
        /// PID.
        pid: u32,
        /// How long we waited.
        waited: Duration,
    },
}

/// The argv (after arg0 `kplab-pod`) that starts a pod's process.
pub fn pod_args(spec: &PodSpecInfo, node: &str, ip: Ipv4Addr, run_dir: &Path) -> Vec<String> {
    if spec.coredns {
        return vec![
            "--netns-exec".into(),
            "coredns".into(),
            "--".into(),
            "--pod-ip".into(),
            ip.to_string(),
        ];
    }
    let mut a = vec![
        spec.name.clone(),
        "--namespace".into(),
        spec.namespace.clone(),
        "--node".into(),
        node.to_string(),
        "--pod-ip".into(),
        ip.to_string(),
    ];
    for p in &spec.ports {
        a.push("--port".into());
        a.push(p.to_string());
    }
    if let Some(path) = spec.readiness_path() {
        a.push("--readiness-path".into());
        a.push(path.to_string());
    }
    if run_dir != Path::new(crate::kube::contract::POD_RUN_DIR) {
        a.push("--run-dir".into());
        a.push(run_dir.display().to_string());
    }
    a
}

/// Starts the pod's process (its own process group, output appended to the pod's log) and
/// waits until it is in its own network namespace.
pub fn start_process(
    paths: &Paths,
    spec: &PodSpecInfo,
    node: &str,
    ip: Ipv4Addr,
) -> Result<Child, StartError> {
    let log = paths.pod_log(&spec.namespace, &spec.name);
    if let Some(d) = log.parent() {
        std::fs::create_dir_all(d).map_err(|source| StartError::Io {
            what: "cannot create",
            path: d.to_path_buf(),
            source,
        })?;
    }
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|source| StartError::Io {
            what: "cannot open",
            path: log.clone(),
            source,
        })?;
    let err = out.try_clone().map_err(|source| StartError::Io {
        what: "cannot duplicate",
        path: log.clone(),
        source,
    })?;
    let my_netns = std::fs::read_link("/proc/thread-self/ns/net").ok();
    let mut child = Command::new(&paths.exe)
        .arg0("kplab-pod")
        .args(pod_args(spec, node, ip, &paths.run_dir))
        .env("KPLAB_POD_NAME", &spec.name)
        .env("KPLAB_POD_NAMESPACE", &spec.namespace)
        .env("KPLAB_POD_IP", ip.to_string())
        // The pod's search path where the node's /etc/resolv.conf (namespace default) differs.
        .envs(crate::kube::stream::resolver_env(&spec.namespace))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|source| StartError::Io {
            what: "cannot start",
            path: paths.exe.clone(),
            source,
        })?;
    let pid = child.id();
    let ns_link = format!("/proc/{pid}/ns/net");
    let began = Instant::now();
    let limit = Duration::from_secs(3);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(StartError::Exited {
                status: status.to_string(),
                tail: tail_file(&log, 5),
                log,
            });
        }
        let now = std::fs::read_link(&ns_link).ok();
        if now.is_some() && now != my_netns {
            return Ok(child);
        }
        if began.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StartError::NoNetns { pid, waited: limit });
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Starts an interactive pod's process: `kplab-pod --netns-run` (a network namespace of its
/// own unless `hostNetwork`, entered before the command runs once the kubelet has written the
/// pod's `pid` file, i.e. after its network is set up), then the container's command, on a new
/// pseudo-terminal (`tty`) or pipes; its output goes to the pod's log through the console.
pub fn start_interactive(
    paths: &Paths,
    spec: &PodSpecInfo,
    how: &Interactive,
    ip: Ipv4Addr,
) -> Result<(Child, std::sync::Arc<super::console::Console>), StartError> {
    use super::console::Console;
    let log = paths.pod_log(&spec.namespace, &spec.name);
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StartError::Io { what, path, source }
    };
    if let Some(d) = log.parent() {
        std::fs::create_dir_all(d).map_err(io("cannot create", d))?;
    }
    let run = paths.pod_run_dir(&spec.namespace, &spec.name);
    std::fs::create_dir_all(&run).map_err(io("cannot create", &run))?;
    let pid_file = run.join("pid");
    // A pid file from an earlier process of this pod must not let the new one run early.
    let _ = std::fs::remove_file(&pid_file);
    let open_log = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io("cannot open", &log))
    };
    let mut cmd = Command::new(&paths.exe);
    cmd.arg0("kplab-pod").arg("--netns-run").arg(&pid_file);
    if how.tty {
        cmd.arg("--tty");
    }
    if how.host_network {
        cmd.arg("--host-network");
    }
    cmd.arg("--")
        .args(&how.command)
        .current_dir("/")
        .env("KPLAB_POD_NAME", &spec.name)
        .env("KPLAB_POD_NAMESPACE", &spec.namespace)
        .env("KPLAB_POD_IP", ip.to_string())
        .env("HOSTNAME", &spec.name)
        .envs(crate::kube::stream::resolver_env(&spec.namespace));
    let start_err = io("cannot start", &paths.exe);
    let (child, console) = if how.tty {
        cmd.env("TERM", "xterm");
        let pty = nix::pty::openpty(None, None)
            .map_err(|e| io("cannot open a terminal for", &log)(std::io::Error::from(e)))?;
        let path = nix::unistd::ttyname(&pty.slave)
            .map_err(|e| io("cannot name the terminal of", &log)(std::io::Error::from(e)))?;
        let dup = |f: &std::os::fd::OwnedFd| f.try_clone().map_err(io("cannot duplicate", &path));
        cmd.stdin(Stdio::from(dup(&pty.slave)?))
            .stdout(Stdio::from(dup(&pty.slave)?))
            .stderr(Stdio::from(pty.slave));
        let child = cmd.spawn().map_err(start_err)?;
        drop(cmd);
        let master = std::fs::File::from(pty.master);
        let input = master.try_clone().map_err(io("cannot duplicate", &path))?;
        let console = Console::new(Some(path), how.stdin_once, Some(Box::new(input)));
        console.pump(crate::kube::stream::STDOUT, Box::new(master), open_log()?);
        (child, console)
    } else {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(start_err)?;
        let input = child
            .stdin
            .take()
            .map(|i| Box::new(i) as Box<dyn Write + Send>);
        let console = Console::new(None, how.stdin_once, input);
        if let Some(o) = child.stdout.take() {
            console.pump(crate::kube::stream::STDOUT, Box::new(o), open_log()?);
        }
        if let Some(e) = child.stderr.take() {
            console.pump(crate::kube::stream::STDERR, Box::new(e), open_log()?);
        }
        (child, console)
    };
    if !how.host_network {
        wait_for_netns(child, &log).map(|c| (c, console))
    } else {
        Ok((child, console))
    }
}

/// Waits until the just started `child` is in a network namespace of its own.
fn wait_for_netns(mut child: Child, log: &Path) -> Result<Child, StartError> {
    let my_netns = std::fs::read_link("/proc/thread-self/ns/net").ok();
    let pid = child.id();
    let ns_link = format!("/proc/{pid}/ns/net");
    let began = Instant::now();
    let limit = Duration::from_secs(3);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(StartError::Exited {
                status: status.to_string(),
                tail: tail_file(log, 5),
                log: log.to_path_buf(),
            });
        }
        let now = std::fs::read_link(&ns_link).ok();
        if now.is_some() && now != my_netns {
            return Ok(child);
        }
        if began.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StartError::NoNetns { pid, waited: limit });
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The last `n` lines of a text file (for error messages).
pub fn tail_file(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Whether `pid` is a live (non-zombie) process.
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            // state is the field after the parenthesised comm
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// Whether `pid` is the process of this pod (so a re-adopted PID is not a reused one).
pub fn pid_is_pod(pid: u32, namespace: &str, name: &str) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let want_name = format!("KPLAB_POD_NAME={name}");
    let want_ns = format!("KPLAB_POD_NAMESPACE={namespace}");
    let mut seen = (false, false);
    for var in env.split(|b| *b == 0) {
        let v = String::from_utf8_lossy(var);
        seen.0 |= v == want_name;
        seen.1 |= v == want_ns;
    }
    seen.0 && seen.1
}

/// Sends SIGTERM to the pod's process, waits up to `grace`, then SIGKILLs it.
pub fn stop_process(pid: u32, child: Option<&mut Child>, grace: Duration) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    if pid == 0 {
        return;
    }
    let target = Pid::from_raw(pid as i32);
    let _ = kill(target, Signal::SIGTERM);
    let began = Instant::now();
    let mut child = child;
    loop {
        let gone = match child.as_mut() {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => !pid_alive(pid),
        };
        if gone {
            return;
        }
        if began.elapsed() >= grace {
            let _ = kill(target, Signal::SIGKILL);
            if let Some(c) = child {
                let _ = c.wait();
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs one readiness check against the pod; `Ok` = ready.
pub fn run_probe(probe: &Probe, ip: Ipv4Addr, pid: u32) -> Result<(), String> {
    match &probe.action {
        ProbeAction::HttpGet { path, port } => {
            let addr = SocketAddr::from((ip, *port));
            let mut s = TcpStream::connect_timeout(&addr, probe.timeout)
                .map_err(|e| format!("Get \"http://{addr}{path}\": {e}"))?;
            let _ = s.set_read_timeout(Some(probe.timeout));
            let _ = s.set_write_timeout(Some(probe.timeout));
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.31\r\nAccept: */*\r\nConnection: close\r\n\r\n"
            )
            .map_err(|e| format!("Get \"http://{addr}{path}\": {e}"))?;
            let mut head = [0u8; 64];
            let n = s
                .read(&mut head)
                .map_err(|e| format!("Get \"http://{addr}{path}\": {e}"))?;
            let line = String::from_utf8_lossy(&head[..n]);
            let code: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("Get \"http://{addr}{path}\": malformed HTTP response"))?;
            if (200..400).contains(&code) {
                Ok(())
            } else {
                Err(format!("HTTP probe failed with statuscode: {code}"))
            }
        }
        ProbeAction::TcpSocket { port } => {
            let addr = SocketAddr::from((ip, *port));
            TcpStream::connect_timeout(&addr, probe.timeout)
                .map(|_| ())
                .map_err(|e| format!("dial tcp {addr}: {e}"))
        }
        ProbeAction::Exec { command } => {
            if command.is_empty() {
                return Err("exec probe without a command".into());
            }
            let netns = format!("--net=/proc/{pid}/ns/net");
            let mut child = Command::new("nsenter")
                .arg(&netns)
                .arg("--")
                .args(command)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("exec probe {command:?}: {e}"))?;
            let began = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(st)) if st.success() => return Ok(()),
                    Ok(Some(st)) => return Err(format!("command {command:?} exited with {st}")),
                    Ok(None) if began.elapsed() > probe.timeout => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(format!("command {command:?} timed out"));
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
    }
}

/// Everything that goes into a pod's status.
#[derive(Debug, Clone)]
pub struct StatusInput<'a> {
    /// The pod.
    pub spec: &'a PodSpecInfo,
    /// The kubelet's record of it.
    pub record: &'a crate::kubelet::store::PodRecord,
    /// This node's address.
    pub host_ip: Ipv4Addr,
    /// Readiness (probe outcome, or running when there is no probe).
    pub ready: bool,
    /// When `ready` last changed (RFC 3339).
    pub ready_since: &'a str,
    /// Whether the process is running right now.
    pub running: bool,
    /// An interactive pod whose process exited for good: its exit.
    pub completed: Option<&'a crate::kubelet::store::LastExit>,
}

/// The `status` object for a pod, as a real kubelet reports it.
pub fn build_status(i: &StatusInput<'_>) -> Value {
    let ready_s = if i.ready { "True" } else { "False" };
    let start = &i.record.start_time;
    let mut ready_cond = json!({"type": "Ready", "status": ready_s, "lastProbeTime": null,
                                "lastTransitionTime": i.ready_since});
    let mut cr_cond = json!({"type": "ContainersReady", "status": ready_s, "lastProbeTime": null,
                             "lastTransitionTime": i.ready_since});
    if !i.ready {
        let names: Vec<&str> = i.spec.containers.iter().map(|c| c.name.as_str()).collect();
        let msg = format!("containers with unready status: [{}]", names.join(" "));
        for c in [&mut ready_cond, &mut cr_cond] {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(msg);
        }
    }
    let container_id = format!("kplab://{}", i.record.pid);
    let host_network = i.spec.interactive.as_ref().is_some_and(|x| x.host_network);
    let pod_ip = if host_network { i.host_ip } else { i.record.ip };
    let statuses: Vec<Value> = i
        .spec
        .containers
        .iter()
        .map(|c| {
            let state = if let Some(done) = i.completed {
                json!({"terminated": {"exitCode": done.exit_code,
                    "reason": if done.exit_code == 0 { "Completed" } else { "Error" },
                    "startedAt": done.started_at, "finishedAt": done.finished_at,
                    "containerID": container_id}})
            } else if i.running {
                json!({"running": {"startedAt": i.record.started_at}})
            } else {
                json!({"waiting": {"reason": "CrashLoopBackOff"}})
            };
            let last = match &i.record.last_exit {
                Some(l) => json!({"terminated": {"exitCode": l.exit_code, "reason": "Error",
                    "startedAt": l.started_at, "finishedAt": l.finished_at}}),
                None => json!({}),
            };
            json!({
                "name": c.name,
                "image": c.image,
                "imageID": "",
                "containerID": container_id,
                "ready": i.ready,
                "started": i.running,
                "restartCount": i.record.restart_count,
                "state": state,
                "lastState": last,
                "note": match &i.spec.interactive {
                    Some(x) => format!("image {} is not pulled: the node runs the container's command {:?} with the node's own tools",
                        c.image, x.command),
                    None => format!("image {} is not run: this pod is a kplab {} process answering on its containerPorts",
                        c.image, if i.spec.coredns { "coredns" } else { "kplab-pod" }),
                },
            })
        })
        .collect();
    let phase = match i.completed {
        Some(d) if d.exit_code == 0 => "Succeeded",
        Some(_) => "Failed",
        None => "Running",
    };
    if i.completed.is_some() {
        for c in [&mut ready_cond, &mut cr_cond] {
            c["reason"] = json!("PodCompleted");
            c.as_object_mut().map(|m| m.remove("message"));
        }
    }
    json!({
        "phase": phase,
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": start},
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": start},
            ready_cond,
            cr_cond,
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": start},
        ],
        "hostIP": i.host_ip.to_string(),
        "hostIPs": [{"ip": i.host_ip.to_string()}],
        "podIP": pod_ip.to_string(),
        "podIPs": [{"ip": pod_ip.to_string()}],
        "startTime": start,
        "containerStatuses": statuses,
        "qosClass": "BestEffort",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1"},
            "spec": {"nodeName": "node-2", "containers": [
                {"name": "web", "image": "nginx:1.27",
                 "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 53, "protocol": "UDP"}],
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 2}}
            ]}
        })
    }

    #[test]
    fn reads_ports_probe_and_image() {
        let s = PodSpecInfo::from_pod(&pod());
        assert_eq!(s.key(), "shop/web-1");
        let ports: Vec<String> = s.ports.iter().map(ToString::to_string).collect();
        assert_eq!(ports, ["53/UDP", "8080/TCP"]);
        let p = s.readiness.as_ref().unwrap();
        assert_eq!(
            p.action,
            ProbeAction::HttpGet {
                path: "/ready".into(),
                port: 8080
            }
        );
        assert_eq!(p.period, Duration::from_secs(2));
        assert_eq!(p.failure_threshold, 3);
        assert!(!s.coredns);
        assert_eq!(s.grace, Duration::from_secs(30));
        let args = pod_args(
            &s,
            "node-2",
            "10.244.2.4".parse().unwrap(),
            Path::new("/run/kplab/pods"),
        );
        assert_eq!(
            args.join(" "),
            "web-1 --namespace shop --node node-2 --pod-ip 10.244.2.4 --port 53/UDP --port 8080/TCP --readiness-path /ready"
        );
    }

    #[test]
    fn defaults_to_port_80_and_recognises_coredns() {
        let s = PodSpecInfo::from_pod(
            &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        );
        assert_eq!(s.ports, vec!["80/TCP".parse().unwrap()]);
        assert_eq!(s.namespace, "default");
        let d = PodSpecInfo::from_pod(
            &json!({"metadata": {"name": "coredns-1", "namespace": "kube-system"},
            "spec": {"containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.3"}]}}),
        );
        assert!(d.coredns);
        assert_eq!(
            pod_args(&d, "node-1", "10.244.1.2".parse().unwrap(), Path::new("/x")).join(" "),
            "--netns-exec coredns -- --pod-ip 10.244.1.2"
        );
    }

    #[test]
    fn status_reports_ip_readiness_and_restarts() {
        let s = PodSpecInfo::from_pod(&pod());
        let rec = crate::kubelet::store::PodRecord {
            namespace: "shop".into(),
            name: "web-1".into(),
            uid: "u1".into(),
            ip: "10.244.2.4".parse().unwrap(),
            pid: 77,
            veth: "calix".into(),
            start_time: "2026-01-01T00:00:00Z".into(),
            started_at: "2026-01-01T00:00:05Z".into(),
            restart_count: 1,
            last_exit: None,
        };
        let st = build_status(&StatusInput {
            spec: &s,
            record: &rec,
            host_ip: "172.28.5.11".parse().unwrap(),
            ready: false,
            ready_since: "2026-01-01T00:00:00Z",
            running: true,
            completed: None,
        });
        assert_eq!(st["phase"], "Running");
        assert_eq!(st["podIP"], "10.244.2.4");
        assert_eq!(st["podIPs"][0]["ip"], "10.244.2.4");
        assert_eq!(st["hostIP"], "172.28.5.11");
        let ready = st["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "ContainersNotReady");
        let cs = &st["containerStatuses"][0];
        assert_eq!(cs["image"], "nginx:1.27");
        assert_eq!(cs["restartCount"], 1);
        assert_eq!(cs["state"]["running"]["startedAt"], "2026-01-01T00:00:05Z");
        assert!(cs["note"].as_str().unwrap().contains("not run"));
    }
}

/// Property tests: a readiness probe comes from a pod object the learner wrote.
/// Any value gives a probe or none, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{config, json_value, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/kubelet_pods.txt";

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_probe_object(p in json_value(), http in json_value(), tcp in json_value()) {
            let named = vec![("http".to_string(), 8080u16)];
            let _ = parse_probe(&p, &named);
            let _ = parse_probe(&serde_json::json!({"httpGet": http, "periodSeconds": p}), &named);
            let _ = parse_probe(&serde_json::json!({"tcpSocket": tcp, "failureThreshold": u64::MAX}), &named);
        }
    }

    // Regression tests: every object a property above ever failed on, by name.
}
