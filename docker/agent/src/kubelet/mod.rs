//! kubelet: runs this node's pods as network namespaces with a veth, /32 routes and a VXLAN overlay.
//!
//! Threads, all blocking (no async runtime, to keep the node small):
//! * the pod loop (main thread): list + watch pods with `fieldSelector=spec.nodeName=<me>`;
//!   a new pod gets an IP, a `kplab-pod` process in its own network namespace, a veth and
//!   routes ([`crate::kube::net`]), a `pid` file, and a Running status; a terminating pod is stopped, its
//!   network removed, its IP released and its object deleted with `gracePeriodSeconds=0`;
//! * the monitor: restarts pod processes that died (restartCount++), runs readiness probes
//!   and reports readiness changes;
//! * the node loop: registers the Node (labels, podCIDR, addresses, Ready, VXLAN annotations),
//!   heartbeats every 10 s, and keeps the overlay's peer entries in line with the Node list
//!   (from `KPLAB_NODES` until the API answers);
//! * the `:10250` server ([`http`]): exec and logs.
//!
//! State that must survive a kubelet restart (pod IPs and PIDs) is in [`store`].

pub mod components;
pub mod config;
pub mod console;
pub mod http;
pub mod logs;
pub mod node;
pub mod pods;
pub mod server;
pub mod store;
pub(crate) mod stream;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::{Child, ExitCode};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::kube::client::{ApiClient, ClientError, EventType, KubeObject, LEASES, NODES, PODS};
use crate::kube::informer::{list_watch_selected, Change, Failure, Retry, Watcher};
use crate::kube::net;
use pods::{PodSpecInfo, Probe};
use store::{PodRecord, Store};

pub use config::{Config, BOOT_RETRY, HEARTBEAT, KUBELET_PORT, KUBELET_VERSION};
pub use node::{node_object, peer_from_node};

/// Entry point of the `kubelet` component.
pub fn main(args: Vec<String>) -> ExitCode {
    let cfg = match Config::from_env_and_args(&args[1.min(args.len())..]) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kubelet: {e}");
            return ExitCode::from(2);
        }
    };
    log(&format!(
        "starting kubelet {KUBELET_VERSION} node={} ip={} podCIDR={} apiserver={}",
        cfg.node_name,
        cfg.node_ip,
        net::pod_cidr(cfg.node_index),
        cfg.apiserver
    ));
    let kubelet = Kubelet::new(cfg);
    if let Err(e) = kubelet.run() {
        eprintln!("kubelet: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// A line on stderr with a timestamp, klog style (`I1123 04:50:01.123456 kubelet] …`).
pub fn log(msg: &str) {
    eprintln!("{} kubelet] {msg}", crate::kube::klog::stamp('I'));
}

/// Readiness probe bookkeeping.
#[derive(Debug, Clone)]
struct ProbeState {
    next: Instant,
    successes: u32,
    failures: u32,
}

/// One pod this kubelet runs.
#[derive(Debug)]
struct Entry {
    spec: PodSpecInfo,
    record: PodRecord,
    child: Option<Child>,
    pod: Value,
    ready: bool,
    ready_since: String,
    probe: ProbeState,
    terminating: bool,
    /// When a dead process may be restarted (crash-loop backoff).
    restart_at: Option<Instant>,
    /// What the last reported status was built from (running, ready, pid, restarts,
    /// completed): the status is rebuilt and sent only when this changes, so an idle kubelet
    /// sends nothing.
    last_pushed: Option<(bool, bool, u32, u32, bool)>,
    /// An interactive pod's console (see [`console`]).
    console: Option<Arc<console::Console>>,
    /// An interactive pod whose process exited for good (its restart policy): its exit.
    completed: Option<store::LastExit>,
}

impl Entry {
    fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => pods::pid_alive(self.record.pid),
        }
    }
}

struct Inner {
    cfg: Config,
    client: ApiClient,
    store: Store,
    paths: pods::Paths,
    pods: Mutex<BTreeMap<String, Entry>>,
    /// Records found at start whose pods the API has not confirmed yet.
    pending: Mutex<BTreeMap<String, PodRecord>>,
    /// Held for a whole status push (build + PUT): the pod loop (right after a start) and the
    /// monitor (after a probe) both push, and without it a "not ready" PUT built first could
    /// reach the API server after a "ready" one, leaving the pod not ready for good while the
    /// kubelet believes it reported Ready.
    push: Mutex<()>,
    /// Node component pods reported Running (key -> component), see `components.rs`.
    components: Mutex<BTreeMap<String, &'static str>>,
    /// The kubelet's events (`Pulled`, `Created`, `Started`, `Killing`, `Unhealthy`).
    events: crate::kube::events::EventRecorder,
}

/// The kubelet: cheap to clone, shared by its threads.
#[derive(Clone)]
pub struct Kubelet(Arc<Inner>);

impl Kubelet {
    /// A kubelet for `cfg`; nothing runs until [`Kubelet::run`].
    pub fn new(cfg: Config) -> Kubelet {
        let client = ApiClient::new(&cfg.apiserver);
        let store = Store::new(&cfg.state_dir);
        // Pods are started through the `kplab-pod` link when the image has one, so their
        // process name is `kplab-pod`.
        let link = cfg.exe.with_file_name("kplab-pod");
        let paths = pods::Paths {
            run_dir: cfg.run_dir.clone(),
            log_dir: cfg.pod_log_dir.clone(),
            exe: if link.exists() { link } else { cfg.exe.clone() },
        };
        let pending = store.load_all().into_iter().map(|r| (r.key(), r)).collect();
        let events =
            crate::kube::events::EventRecorder::new(client.clone(), "kubelet", &cfg.node_name);
        Kubelet(Arc::new(Inner {
            components: Mutex::new(BTreeMap::new()),
            events,
            cfg,
            client,
            store,
            paths,
            pods: Mutex::new(BTreeMap::new()),
            pending: Mutex::new(pending),
            push: Mutex::new(()),
        }))
    }

    fn pods(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.0.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the threads and runs the pod loop forever.
    pub fn run(&self) -> Result<(), String> {
        let cfg = &self.0.cfg;
        if cfg.overlay {
            let dev = net::underlay_device(cfg.node_ip);
            if let Err(e) = net::ensure_overlay(cfg.node_index, cfg.node_ip, &dev, &cfg.nodes) {
                log(&format!("overlay setup from KPLAB_NODES failed: {e}"));
            }
            if let Err(e) = net::ensure_nat_outgoing(net::CLUSTER_CIDR) {
                log(&format!("outgoing NAT rules: {e}"));
            }
        }
        let listener = std::net::TcpListener::bind(("0.0.0.0", cfg.port))
            .map_err(|e| format!("cannot listen on 0.0.0.0:{}: {e}", cfg.port))?;
        let k = self.clone();
        let lookup: http::PodLookup = Arc::new(move |ns: &str, name: &str| k.pod_pid(ns, name));
        let k = self.clone();
        let components: http::ComponentLookup = Arc::new(move |ns: &str, name: &str| {
            k.0.components
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&format!("{ns}/{name}"))
                .copied()
        });
        let k = self.clone();
        let consoles: http::ConsoleLookup = Arc::new(move |ns: &str, name: &str| {
            k.pods()
                .get(&format!("{ns}/{name}"))
                .and_then(|e| e.console.clone())
        });
        let srv = http::Server {
            lookup,
            components,
            consoles,
            pod_log_dir: cfg.pod_log_dir.clone(),
            log_dir: cfg.log_dir.clone(),
        };
        spawn("kubelet-http", move || srv.serve(listener));
        let k = self.clone();
        spawn("kubelet-node", move || k.node_loop());
        let k = self.clone();
        spawn("kubelet-monitor", move || k.monitor_loop());
        self.pod_loop();
        Ok(())
    }

    /// PID of a running local pod.
    pub fn pod_pid(&self, namespace: &str, name: &str) -> Option<u32> {
        let pods = self.pods();
        pods.get(&format!("{namespace}/{name}"))
            .filter(|e| e.record.pid != 0)
            .map(|e| e.record.pid)
    }

    // ---------------------------------------------------------------- pods

    fn pod_loop(&self) {
        let field = format!("spec.nodeName={}", self.0.cfg.node_name);
        let mut w = PodWatcher {
            kubelet: self,
            failures: 0,
        };
        list_watch_selected(&self.0.client, &PODS, Some(&field), &POD_RETRY, &mut w);
    }

    /// Reconciles against a full list: starts what is missing, forgets what is gone.
    fn sync_list(&self, items: &[Value]) {
        let keys: BTreeSet<String> = items
            .iter()
            .map(|p| format!("{}/{}", p.namespace().unwrap_or("default"), p.name()))
            .collect();
        for p in items {
            self.handle_pod(p);
        }
        let gone: Vec<String> = self
            .pods()
            .keys()
            .filter(|k| !keys.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.teardown(&key, false);
        }
        self.0
            .components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| keys.contains(k));
        // Records from before a restart whose pods no longer exist.
        let stale: Vec<PodRecord> = {
            let mut pending = self.0.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *pending).into_values().collect()
        };
        for r in stale {
            log(&format!(
                "removing leftover pod {} (not in the API)",
                r.key()
            ));
            if pods::pid_is_pod(r.pid, &r.namespace, &r.name) {
                pods::stop_process(r.pid, None, Duration::from_secs(2));
            }
            let _ = net::teardown_pod(&r.veth, r.ip);
            let _ = std::fs::remove_dir_all(self.0.paths.pod_run_dir(&r.namespace, &r.name));
            let _ = self.0.store.remove(&r.namespace, &r.name);
        }
    }

    fn handle_pod(&self, pod: &Value) {
        let node = pod.pointer("/spec/nodeName").and_then(Value::as_str);
        let key = format!("{}/{}", pod.namespace().unwrap_or("default"), pod.name());
        if node != Some(self.0.cfg.node_name.as_str()) {
            if self.pods().contains_key(&key) {
                self.teardown(&key, false);
            }
            return;
        }
        if let Some(component) = crate::kube::contract::node_component(pod) {
            self.handle_component_pod(pod, &key, component);
            return;
        }
        if pod.is_terminating() {
            let start_termination = {
                let mut pods = self.pods();
                match pods.get_mut(&key) {
                    Some(e) if e.terminating => false,
                    Some(e) => {
                        e.terminating = true;
                        true
                    }
                    None => true,
                }
            };
            if start_termination {
                for c in pod
                    .pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                    self.0.events.record(
                        pod,
                        Some(&format!("spec.containers{{{name}}}")),
                        crate::kube::events::NORMAL,
                        "Killing",
                        &format!("Stopping container {name}"),
                    );
                }
                let k = self.clone();
                spawn("kubelet-kill", move || k.teardown(&key, true));
            }
            return;
        }
        let uid = pod.uid().unwrap_or("").to_string();
        {
            let mut pods = self.pods();
            if let Some(e) = pods.get_mut(&key) {
                if e.spec.uid == uid || uid.is_empty() {
                    e.pod = pod.clone();
                    return;
                }
            }
        }
        if self.pods().contains_key(&key) {
            // Same name, new object: the old pod is gone.
            self.teardown(&key, false);
        }
        let began = Instant::now();
        match self.start_pod(pod) {
            Ok(how) => {
                let setup = began.elapsed();
                self.push_status(&key);
                if how != "re-adopted" {
                    self.container_events(pod);
                }
                log(&format!(
                    "pod {key} {how} (network ready in {:.1} ms, status reported after {:.1} ms)",
                    setup.as_secs_f64() * 1e3,
                    began.elapsed().as_secs_f64() * 1e3
                ));
            }
            Err(e) => log(&format!("pod {key} failed to start: {e}")),
        }
    }

    /// A pod standing for a node component: no sandbox; reported Running on the node's IP
    /// once, and deleted at once when it is deleted.
    fn handle_component_pod(&self, pod: &Value, key: &str, component: &'static str) {
        let ns = pod.namespace().unwrap_or("kube-system");
        if pod.is_terminating() {
            self.0
                .components
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(key);
            let _ = self.0.client.delete(&PODS, Some(ns), pod.name(), Some(0));
            return;
        }
        let running = pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
            && pod.pointer("/status/podIP").and_then(Value::as_str)
                == Some(self.0.cfg.node_ip.to_string().as_str());
        if !running {
            let started = pod
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(crate::kube::time::now_rfc3339);
            let mut obj = pod.clone();
            obj["status"] = components::component_status(pod, self.0.cfg.node_ip, &started);
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            match self
                .0
                .client
                .update_status(&PODS, Some(ns), pod.name(), &obj)
            {
                Ok(_) => {
                    log(&format!("pod {key} is this node's {component}"));
                    self.container_events(pod);
                }
                Err(e) => {
                    log(&format!("pod {key}: status update failed: {e}"));
                    return;
                }
            }
        }
        self.0
            .components
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), component);
    }

    /// The container events of a pod start, as the kubelet records them.
    fn container_events(&self, pod: &Value) {
        for c in pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let field = format!("spec.containers{{{name}}}");
            let ev = &self.0.events;
            ev.record(
                pod,
                Some(&field),
                crate::kube::events::NORMAL,
                "Pulled",
                &format!("Container image \"{image}\" already present on machine"),
            );
            ev.record(
                pod,
                Some(&field),
                crate::kube::events::NORMAL,
                "Created",
                &format!("Created container {name}"),
            );
            ev.record(
                pod,
                Some(&field),
                crate::kube::events::NORMAL,
                "Started",
                &format!("Started container {name}"),
            );
        }
    }

    /// Starts (or re-adopts) a pod; returns what was done.
    fn start_pod(&self, pod: &Value) -> Result<&'static str, String> {
        let spec = PodSpecInfo::from_pod(pod);
        let key = spec.key();
        let previous = {
            let mut pending = self.0.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.remove(&key)
        };
        let now = crate::kube::time::now_rfc3339();
        let mut how = "started";
        let mut pods = self.pods();
        let (record, child) = match previous {
            Some(r)
                if r.uid == spec.uid
                    && pods::pid_is_pod(r.pid, &r.namespace, &r.name)
                    && net::link_exists(&r.veth) =>
            {
                how = "re-adopted";
                (r, None)
            }
            prev => {
                let (ip, start_time, restarts) = match prev {
                    Some(r) if r.uid == spec.uid => {
                        if pods::pid_is_pod(r.pid, &r.namespace, &r.name) {
                            pods::stop_process(r.pid, None, Duration::from_secs(2));
                        }
                        how = "restarted after a kubelet restart";
                        (r.ip, r.start_time, r.restart_count + 1)
                    }
                    other => {
                        if let Some(r) = other {
                            // A record of an older pod with the same name.
                            if pods::pid_is_pod(r.pid, &r.namespace, &r.name) {
                                pods::stop_process(r.pid, None, Duration::from_secs(2));
                            }
                            let _ = net::teardown_pod(&r.veth, r.ip);
                        }
                        let mut used: BTreeSet<Ipv4Addr> =
                            pods.values().map(|e| e.record.ip).collect();
                        used.extend(
                            self.0
                                .pending
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .values()
                                .map(|r| r.ip),
                        );
                        let ip = self
                            .0
                            .store
                            .allocate(self.0.cfg.node_index, &used)
                            .map_err(|e| e.to_string())?;
                        (ip, now.clone(), 0)
                    }
                };
                let mut record = PodRecord {
                    namespace: spec.namespace.clone(),
                    name: spec.name.clone(),
                    uid: spec.uid.clone(),
                    ip,
                    pid: 0,
                    veth: net::veth_name(&spec.namespace, &spec.name),
                    start_time,
                    started_at: now.clone(),
                    restart_count: restarts,
                    last_exit: None,
                };
                // Record the IP before anything else, so a crash cannot hand it out twice.
                self.0.store.save(&record).map_err(|e| e.to_string())?;
                let (child, console) = self.launch(&spec, &mut record)?;
                (record, Some((child, console)))
            }
        };
        let (child, console) = match child {
            Some((c, console)) => (Some(c), console),
            None => (None, None),
        };
        let delay = spec
            .readiness
            .as_ref()
            .map(|p| p.initial_delay)
            .unwrap_or_default();
        pods.insert(
            key,
            Entry {
                ready: spec.readiness.is_none(),
                ready_since: now,
                probe: ProbeState {
                    next: Instant::now() + delay,
                    successes: 0,
                    failures: 0,
                },
                spec,
                record,
                child,
                pod: pod.clone(),
                terminating: false,
                restart_at: None,
                last_pushed: None,
                console,
                completed: None,
            },
        );
        Ok(how)
    }

    /// Starts the process and wires its network; updates and saves the record.
    fn launch(
        &self,
        spec: &PodSpecInfo,
        record: &mut PodRecord,
    ) -> Result<(Child, Option<Arc<console::Console>>), String> {
        let (mut child, console) = match &spec.interactive {
            Some(how) => {
                let ip = if how.host_network {
                    self.0.cfg.node_ip
                } else {
                    record.ip
                };
                let (c, console) = pods::start_interactive(&self.0.paths, spec, how, ip)
                    .map_err(|e| e.to_string())?;
                (c, Some(console))
            }
            None => (
                pods::start_process(&self.0.paths, spec, &self.0.cfg.node_name, record.ip)
                    .map_err(|e| e.to_string())?,
                None,
            ),
        };
        let pid = child.id();
        let host_network = spec.interactive.as_ref().is_some_and(|i| i.host_network);
        if host_network {
            // In the node's network namespace: no veth, no route.
        } else if let Err(e) = net::setup_pod(&record.veth, pid, record.ip) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("network setup failed: {e}"));
        }
        record.pid = pid;
        let dir = self.0.paths.pod_run_dir(&spec.namespace, &spec.name);
        store::write_atomic(&dir.join("pid"), format!("{pid}\n").as_bytes())
            .map_err(|e| e.to_string())?;
        self.0.store.save(record).map_err(|e| e.to_string())?;
        Ok((child, console))
    }

    /// Stops a pod and removes everything it had; with `delete_object`, finishes the API
    /// deletion (`gracePeriodSeconds=0`).
    fn teardown(&self, key: &str, delete_object: bool) {
        let taken = self.pods().remove(key);
        let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
        if let Some(mut e) = taken {
            // A completed pod's process is gone (and reaped: its PID may be another's now).
            if e.completed.is_none() {
                pods::stop_process(e.record.pid, e.child.as_mut(), e.spec.grace);
            }
            if let Err(err) = net::teardown_pod(&e.record.veth, e.record.ip) {
                log(&format!("pod {key}: network teardown: {err}"));
            }
            let _ = std::fs::remove_dir_all(self.0.paths.pod_run_dir(namespace, name));
            if let Err(err) = self.0.store.remove(namespace, name) {
                log(&format!("pod {key}: {err}"));
            }
            log(&format!("pod {key} stopped, {} released", e.record.ip));
        }
        if delete_object {
            match self.0.client.delete(&PODS, Some(namespace), name, Some(0)) {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => log(&format!("pod {key}: final delete failed: {e}")),
            }
        }
    }

    fn forget_pod(&self, pod: &Value) {
        let key = format!("{}/{}", pod.namespace().unwrap_or("default"), pod.name());
        let known = self.pods().contains_key(&key);
        if known {
            let k = self.clone();
            spawn("kubelet-kill", move || k.teardown(&key, false));
        }
    }

    /// Reports the pod's status (only when it changed). Pushes are serialised (see
    /// `Inner::push`), so the last PUT always carries the newest state.
    fn push_status(&self, key: &str) {
        let _ordered = self.0.push.lock().unwrap_or_else(|p| p.into_inner());
        let (obj, status) = {
            let mut pods = self.pods();
            let Some(e) = pods.get_mut(key) else {
                return;
            };
            let running = e.completed.is_none() && e.alive();
            let sig = (
                running,
                e.ready,
                e.record.pid,
                e.record.restart_count,
                e.completed.is_some(),
            );
            if e.last_pushed == Some(sig) {
                return;
            }
            let status = pods::build_status(&pods::StatusInput {
                spec: &e.spec,
                record: &e.record,
                host_ip: self.0.cfg.node_ip,
                ready: e.ready && running,
                ready_since: &e.ready_since,
                running,
                completed: e.completed.as_ref(),
            });
            e.last_pushed = Some(sig);
            (e.pod.clone(), status)
        };
        let mut obj = obj;
        obj["status"] = status;
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let (ns, name) = key.split_once('/').unwrap_or(("default", key));
        if let Err(e) = self.0.client.update_status(&PODS, Some(ns), name, &obj) {
            if !e.is_not_found() {
                log(&format!("pod {key}: status update failed: {e}"));
            }
            // Try again on the next monitor round.
            if let Some(en) = self.pods().get_mut(key) {
                en.last_pushed = None;
            }
        }
    }

    // ---------------------------------------------------------------- monitor

    fn monitor_loop(&self) {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let keys: Vec<String> = self.pods().keys().cloned().collect();
            for key in keys {
                self.check_process(&key);
            }
            self.run_due_probes();
            let keys: Vec<String> = self.pods().keys().cloned().collect();
            for key in keys {
                self.push_status(&key);
            }
        }
    }

    fn check_process(&self, key: &str) {
        let mut pods = self.pods();
        let Some(e) = pods.get_mut(key) else {
            return;
        };
        if e.terminating || e.completed.is_some() || e.alive() {
            return;
        }
        let now = Instant::now();
        match e.restart_at {
            None => {
                let code = e
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                    .map(|s| {
                        use std::os::unix::process::ExitStatusExt;
                        s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
                    })
                    .unwrap_or(137);
                let exit = store::LastExit {
                    exit_code: code,
                    started_at: e.record.started_at.clone(),
                    finished_at: crate::kube::time::now_rfc3339(),
                };
                if let Some(c) = e.console.as_ref() {
                    c.exited(code);
                }
                if e.spec
                    .interactive
                    .as_ref()
                    .is_some_and(|i| i.completes_on(code))
                {
                    // Done for good, as the kubelet leaves a pod of restartPolicy Never.
                    log(&format!(
                        "pod {key}: process {} exited with {code}; completed",
                        e.record.pid
                    ));
                    e.completed = Some(exit);
                    e.ready = false;
                    e.ready_since = crate::kube::time::now_rfc3339();
                    let host = e.spec.interactive.as_ref().is_some_and(|i| i.host_network);
                    if !host {
                        let _ = net::teardown_pod(&e.record.veth, e.record.ip);
                    }
                    return;
                }
                e.record.last_exit = Some(exit);
                e.child = None;
                // Crash-loop backoff: immediately the first time, then 1 s, 2 s, … 30 s.
                let backoff = if e.record.restart_count == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_secs(1u64 << e.record.restart_count.min(5))
                        .min(Duration::from_secs(30))
                };
                e.restart_at = Some(now + backoff);
                e.ready = false;
                if !backoff.is_zero() {
                    let c = e
                        .pod
                        .pointer("/spec/containers/0/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let (ns, name) = key.split_once('/').unwrap_or(("default", key));
                    self.0.events.record(
                        &e.pod,
                        Some(&format!("spec.containers{{{c}}}")),
                        crate::kube::events::WARNING,
                        "BackOff",
                        &format!(
                            "Back-off restarting failed container {c} in pod {name}_{ns}({})",
                            e.spec.uid
                        ),
                    );
                }
                log(&format!(
                    "pod {key}: process {} exited with {code}; restarting in {backoff:?}",
                    e.record.pid
                ));
                let _ = net::teardown_pod(&e.record.veth, e.record.ip);
            }
            Some(at) if at <= now => {
                e.restart_at = None;
                e.record.restart_count += 1;
                e.record.started_at = crate::kube::time::now_rfc3339();
                let spec = e.spec.clone();
                let mut record = e.record.clone();
                match self.launch(&spec, &mut record) {
                    Ok((child, console)) => {
                        e.record = record;
                        e.child = Some(child);
                        e.console = console;
                        e.ready = spec.readiness.is_none();
                        e.ready_since = crate::kube::time::now_rfc3339();
                        e.probe = ProbeState {
                            next: now
                                + spec
                                    .readiness
                                    .as_ref()
                                    .map(|p| p.initial_delay)
                                    .unwrap_or_default(),
                            successes: 0,
                            failures: 0,
                        };
                        log(&format!(
                            "pod {key}: restarted (restartCount {})",
                            e.record.restart_count
                        ));
                        self.container_events(&e.pod);
                    }
                    Err(err) => {
                        log(&format!("pod {key}: restart failed: {err}"));
                        e.restart_at = Some(now + Duration::from_secs(5));
                    }
                }
            }
            Some(_) => {}
        }
    }

    fn run_due_probes(&self) {
        let now = Instant::now();
        let due: Vec<(String, Probe, Ipv4Addr, u32)> = self
            .pods()
            .iter()
            .filter(|(_, e)| !e.terminating && e.restart_at.is_none() && e.probe.next <= now)
            .filter_map(|(k, e)| {
                e.spec
                    .readiness
                    .clone()
                    .map(|p| (k.clone(), p, e.record.ip, e.record.pid))
            })
            .collect();
        for (key, probe, ip, pid) in due {
            let result = pods::run_probe(&probe, ip, pid);
            if let Err(msg) = &result {
                let pod = self.pods().get(&key).map(|e| e.pod.clone());
                if let Some(pod) = pod {
                    let first = pod
                        .pointer("/spec/containers/0/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    self.0.events.record(
                        &pod,
                        Some(&format!("spec.containers{{{first}}}")),
                        crate::kube::events::WARNING,
                        "Unhealthy",
                        &format!("Readiness probe failed: {msg}"),
                    );
                }
            }
            let mut pods = self.pods();
            let Some(e) = pods.get_mut(&key) else {
                continue;
            };
            e.probe.next = Instant::now() + probe.period;
            let before = e.ready;
            match result {
                Ok(()) => {
                    e.probe.failures = 0;
                    e.probe.successes += 1;
                    if e.probe.successes >= probe.success_threshold {
                        e.ready = true;
                    }
                }
                Err(msg) => {
                    e.probe.successes = 0;
                    e.probe.failures += 1;
                    if e.probe.failures >= probe.failure_threshold && e.ready {
                        log(&format!("pod {key}: readiness probe failed: {msg}"));
                        e.ready = false;
                    }
                }
            }
            if before != e.ready {
                e.ready_since = crate::kube::time::now_rfc3339();
            }
        }
    }

    // ---------------------------------------------------------------- node

    fn node_loop(&self) {
        let mut delay = BOOT_RETRY;
        let mut registered = false;
        let mut applied: Option<Vec<net::Peer>> = None;
        let mut last_apply = Instant::now();
        loop {
            match self.report_node(registered) {
                Ok(()) => {
                    if !registered {
                        log(&format!("node {} registered, Ready", self.0.cfg.node_name));
                    }
                    registered = true;
                    delay = HEARTBEAT;
                    self.renew_lease();
                }
                Err(e) => {
                    if !e.is_connect() || delay >= Duration::from_secs(1) {
                        log(&format!("node status update failed: {e}"));
                    }
                    registered = false;
                    delay = if delay >= HEARTBEAT {
                        BOOT_RETRY
                    } else {
                        (delay * 2).min(Duration::from_secs(1))
                    };
                }
            }
            if self.0.cfg.overlay {
                match net::ensure_default_route(self.0.cfg.node_ip) {
                    Ok(true) => log(&format!(
                        "added a default route via {} (the lab network gave none)",
                        net::lab_gateway(self.0.cfg.node_ip)
                    )),
                    Ok(false) => {}
                    Err(e) => log(&format!("default route: {e}")),
                }
            }
            if self.0.cfg.overlay && registered {
                // Re-applied when the peers change, and once a minute to repair edits.
                let peers = self.overlay_peers();
                if Some(&peers) != applied.as_ref()
                    || last_apply.elapsed() > Duration::from_secs(60)
                {
                    let dev = net::underlay_device(self.0.cfg.node_ip);
                    match net::ensure_overlay(
                        self.0.cfg.node_index,
                        self.0.cfg.node_ip,
                        &dev,
                        &peers,
                    ) {
                        Ok(()) => applied = Some(peers),
                        Err(e) => log(&format!("overlay sync failed: {e}")),
                    }
                    if let Err(e) = net::ensure_nat_outgoing(net::CLUSTER_CIDR) {
                        log(&format!("outgoing NAT rules: {e}"));
                    }
                    last_apply = Instant::now();
                }
            }
            std::thread::sleep(delay);
        }
    }

    /// The Node object this kubelet registers.
    pub fn node_object(&self) -> Value {
        node_object(&self.0.cfg)
    }

    /// Renews the node's Lease in `kube-node-lease` (creates it when missing).
    fn renew_lease(&self) {
        let c = &self.0.client;
        let name = &self.0.cfg.node_name;
        let now = crate::kube::time::now_rfc3339_micro();
        let patch = json!({"spec": {"renewTime": now, "holderIdentity": name}});
        match c.merge_patch(&LEASES, Some("kube-node-lease"), name, &patch) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                let created = c.get(&NODES, None, name).and_then(|node| {
                    c.create(
                        &LEASES,
                        Some("kube-node-lease"),
                        &components::node_lease(&node, &now),
                    )
                });
                if let Err(e) = created {
                    log(&format!("node lease: {e}"));
                }
            }
            Err(e) => log(&format!("node lease renewal failed: {e}")),
        }
    }

    fn report_node(&self, registered: bool) -> Result<(), ClientError> {
        let c = &self.0.client;
        let name = &self.0.cfg.node_name;
        let desired = self.node_object();
        if !registered {
            match c.create(&NODES, None, &desired) {
                Ok(_) => {}
                Err(e) if e.is_already_exists() || e.is_conflict() => {
                    let mut cur = c.get(&NODES, None, name)?;
                    for field in ["labels", "annotations"] {
                        if let Some(m) = desired["metadata"][field].as_object() {
                            for (k, v) in m {
                                cur["metadata"][field][k] = v.clone();
                            }
                        }
                    }
                    cur["spec"]["podCIDR"] = desired["spec"]["podCIDR"].clone();
                    cur["spec"]["podCIDRs"] = desired["spec"]["podCIDRs"].clone();
                    if let Some(m) = cur.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("resourceVersion");
                    }
                    c.replace(&NODES, None, name, &cur)?;
                }
                Err(e) => return Err(e),
            }
        }
        let status_obj = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name}, "status": desired["status"]});
        match c.update_status(&NODES, None, name, &status_obj) {
            Ok(_) => Ok(()),
            // A server without nodes/status: PUT the whole object instead.
            Err(e) if matches!(e.code(), Some(404) | Some(405)) => {
                let mut cur = c.get(&NODES, None, name)?;
                cur["status"] = desired["status"].clone();
                if let Some(m) = cur.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
                c.replace(&NODES, None, name, &cur).map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Overlay peers from the Node list (annotations and InternalIPs), merged over KPLAB_NODES.
    fn overlay_peers(&self) -> Vec<net::Peer> {
        let cfg = &self.0.cfg;
        let mut peers: BTreeMap<u32, net::Peer> =
            cfg.nodes.iter().map(|p| (p.index, p.clone())).collect();
        if let Ok(list) = self.0.client.list(&NODES, None, None, None) {
            for n in &list.items {
                if let Some(p) = peer_from_node(n) {
                    peers.insert(p.index, p);
                }
            }
        }
        peers.into_values().collect()
    }
}

/// The pod loop's rhythm: while the API server boots, retry the list from 50 ms, doubling up
/// to 2 s; re-list after any watch ends.
const POD_RETRY: Retry = Retry {
    list_first: BOOT_RETRY,
    list_max: Duration::from_secs(2),
    watch_failed: BOOT_RETRY,
    pause_when_gone: true,
    stream_failed: Duration::ZERO,
    stream_ended: Duration::ZERO,
    resume: false,
};

/// Feeds this node's pods from the list+watch loop to the kubelet.
struct PodWatcher<'a> {
    kubelet: &'a Kubelet,
    failures: u32,
}

impl Watcher for PodWatcher<'_> {
    fn change(&mut self, change: Change) -> bool {
        match change {
            Change::Listed { items, .. } => {
                self.failures = 0;
                self.kubelet.sync_list(&items);
            }
            Change::Event(EventType::Added | EventType::Modified, o) => self.kubelet.handle_pod(&o),
            Change::Event(EventType::Deleted, o) => self.kubelet.forget_pod(&o),
            Change::Event(_, _) => {}
        }
        true
    }

    fn failure(&mut self, failure: Failure<'_>) {
        match failure {
            Failure::List(e) => {
                self.failures += 1;
                // Quiet while the API server boots: the sixth failure in a row is 1.6 s in.
                if !e.is_connect() || self.failures >= 6 {
                    log(&format!("listing pods failed: {e}"));
                }
            }
            Failure::Watch(e) => log(&format!("watching pods failed: {e}")),
            Failure::Stream(e) if !e.is_gone() => log(&format!("pod watch ended: {e}")),
            Failure::Stream(_) => {}
        }
    }
}

fn spawn<F: FnOnce() + Send + 'static>(name: &str, f: F) {
    if let Err(e) = std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(256 * 1024)
        .spawn(f)
    {
        log(&format!("cannot start thread {name}: {e}"));
    }
}
