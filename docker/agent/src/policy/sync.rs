//! The enforcer's loop: informers (list + watch per resource, on threads) feed one channel;
//! the loop batches what arrives within a few milliseconds, renders, and applies when the
//! node's rules differ from the rendering. A resync every few seconds re-reads the table so
//! that a flushed chain or a moved `FORWARD` hook is repaired.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use netrules::netpol::objects::Cluster;
use netrules::netpol::parse_filter;
use netrules::netpol::render::{render, NodeFacts};
use netrules::save::SaveTable;
use serde_json::Value;

use crate::kube::cli::args_or_usage;
use crate::kube::client::{
    ApiClient, EventType, KubeObject, Resource, NAMESPACES, NETWORK_POLICIES, PODS,
};
use crate::kube::informer::{list_watch, Change, Failure, Retry, Watcher};
use crate::kube::iptables::{Iptables, IptablesError};
use crate::kube::net::{this_node_name, veth_name};

const USAGE: &str = "\
usage: calico-node -felix [--node-name NAME] [--once] [--dry-run] [--resync-seconds N]

The NetworkPolicy enforcer of this node (felix's role): watches Pods, Namespaces and
NetworkPolicies in the lab API (KPLAB_APISERVER) and programs this node's cali-* chains in the
filter table. NAME defaults to KPLAB_NODE_NAME, then the hostname.
  --once       sync once and exit (exit code 1 if the sync failed)
  --dry-run    print the iptables-restore input instead of applying it (implies --once)";

/// Options of the enforcer.
#[derive(Debug, Clone)]
pub struct Options {
    /// This node's name.
    pub node_name: String,
    /// Sync once and exit.
    pub once: bool,
    /// Print instead of applying.
    pub dry_run: bool,
    /// Re-read and repair the table this often even without changes.
    pub resync: Duration,
}

fn default_node_name() -> String {
    this_node_name().unwrap_or_default()
}

/// Parses `calico-node` arguments (`args[0]` is the program name).
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        node_name: default_node_name(),
        once: false,
        dry_run: false,
        resync: Duration::from_secs(10),
    };
    let mut felix = false;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag {
            "-felix" | "--felix" => felix = true,
            "--node-name" | "--hostname-override" => o.node_name = value(flag)?,
            "--once" => o.once = true,
            "--dry-run" => {
                o.dry_run = true;
                o.once = true
            }
            "--resync-seconds" => {
                let v = value(flag)?;
                o.resync = Duration::from_secs(
                    v.parse()
                        .map_err(|_| format!("--resync-seconds: {v:?} is not a number"))?,
                )
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if !felix {
        return Err("only the -felix role is implemented: run `calico-node -felix`".into());
    }
    if o.node_name.is_empty() {
        return Err("no node name: set --node-name or KPLAB_NODE_NAME".into());
    }
    Ok(o)
}

/// Entry point of `calico-node`.
pub fn main(args: Vec<String>) -> ExitCode {
    let opts = match args_or_usage(parse_args(&args), "calico-node", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    // Colour only on a terminal: the node writes this to /var/log/kplab/calico-node.log.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let client = ApiClient::from_env();
    let mut enforcer = Enforcer::new(opts.node_name.clone(), Iptables::default());
    if opts.once {
        let cluster = match list_all(&client) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("calico-node: {e}");
                return ExitCode::from(1);
            }
        };
        if opts.dry_run {
            let r = render(&cluster, &enforcer.facts(&cluster));
            let current = enforcer
                .ipt
                .save(Some("filter"))
                .ok()
                .and_then(|t| parse_filter(&t).ok())
                .unwrap_or_default();
            print!(
                "{}",
                r.restore_noflush(&current)
                    .unwrap_or_else(|| "# the node already has these rules\n".into())
            );
            return ExitCode::SUCCESS;
        }
        return match enforcer.sync(&cluster) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("calico-node: {e}");
                ExitCode::from(1)
            }
        };
    }
    tracing::info!(node = %opts.node_name, apiserver = %client.base_url(), "felix starting");
    run(client, enforcer, opts.resync)
}

/// The namespaces, pods and network policies of the whole cluster.
pub(crate) fn list_all(client: &ApiClient) -> Result<Cluster, String> {
    let mut values = Vec::new();
    for r in [&NAMESPACES, &PODS, &NETWORK_POLICIES] {
        values.extend(
            client
                .list(r, None, None, None)
                .map_err(|e| format!("listing {}: {e}", r.plural))?
                .items,
        );
    }
    Ok(Cluster::from_values(&values).0)
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    /// Whether a restore ran.
    pub applied: bool,
    /// Rules in the rendered `cali-*` chains.
    pub rules: usize,
    /// Local workloads.
    pub workloads: usize,
    /// Policy chains.
    pub policy_chains: usize,
    /// Render time.
    pub render: Duration,
    /// `iptables-save` + `iptables-restore` time.
    pub apply: Duration,
    /// Bytes of restore input.
    pub restore_bytes: usize,
}

/// Renders and applies this node's rules.
#[derive(Debug)]
pub struct Enforcer {
    /// This node.
    pub node_name: String,
    /// The tools.
    pub ipt: Iptables,
    /// The `cali-*` state this enforcer last loaded (parsed from what it rendered), so that a
    /// change needs no `iptables-save`; `None` forces reading the table.
    loaded: Option<SaveTable>,
}

impl Enforcer {
    /// An enforcer for `node_name`.
    pub fn new(node_name: String, ipt: Iptables) -> Enforcer {
        Enforcer {
            node_name,
            ipt,
            loaded: None,
        }
    }

    /// The node facts: each local pod's interface, named as the kubelet names it.
    pub fn facts(&self, cluster: &Cluster) -> NodeFacts {
        NodeFacts {
            node_name: self.node_name.clone(),
            ifaces: cluster
                .pods
                .iter()
                .filter(|p| p.node == self.node_name)
                .map(|p| (p.key(), veth_name(&p.namespace, &p.name)))
                .collect(),
        }
    }

    /// Renders for `cluster` and applies the difference with what this enforcer last loaded
    /// (reading the table with `iptables-save` when it has not loaded anything yet).
    pub fn sync(&mut self, cluster: &Cluster) -> Result<SyncReport, IptablesError> {
        self.sync_with(cluster, false)
    }

    /// Like [`Enforcer::sync`], but always reads the node's filter table first, so that
    /// chains flushed or hooks moved by someone else are repaired.
    pub fn resync(&mut self, cluster: &Cluster) -> Result<SyncReport, IptablesError> {
        self.sync_with(cluster, true)
    }

    fn sync_with(&mut self, cluster: &Cluster, read: bool) -> Result<SyncReport, IptablesError> {
        let t0 = Instant::now();
        let r = render(cluster, &self.facts(cluster));
        let render_time = t0.elapsed();
        let t1 = Instant::now();
        let current = match self.loaded.take() {
            Some(t) if !read => t,
            _ => {
                let saved = self.ipt.save(Some("filter"))?;
                parse_filter(&saved).map_err(|e| IptablesError {
                    command: "parsing iptables-save -t filter".into(),
                    status: "unreadable".into(),
                    stderr: e.to_string(),
                })?
            }
        };
        let mut report = SyncReport {
            applied: false,
            rules: r.rule_count(),
            workloads: r.workloads.len(),
            policy_chains: r.policy_chains.len(),
            render: render_time,
            apply: Duration::ZERO,
            restore_bytes: 0,
        };
        for w in &r.warnings {
            tracing::warn!("{w}");
        }
        match r.restore_noflush(&current) {
            Some(text) => {
                report.restore_bytes = text.len();
                // On failure `loaded` stays None: the next sync reads the table.
                self.ipt.restore_noflush(&text)?;
                report.applied = true;
                self.loaded = parse_filter(&r.save_text()).ok();
            }
            None => self.loaded = Some(current),
        }
        report.apply = t1.elapsed();
        Ok(report)
    }
}

/// A change seen by an informer.
enum Update {
    /// A fresh list of one resource: replaces everything known of it.
    Snapshot(&'static str, Vec<Value>),
    /// One watch event.
    Event(&'static str, EventType, Value),
}

fn key(kind: &str, v: &Value) -> String {
    format!("{kind}/{}/{}", v.namespace().unwrap_or(""), v.name())
}

/// The enforcer's rhythm: retry a list every second, re-list after any watch ends.
const RETRY: Retry = Retry {
    list_first: Duration::from_secs(1),
    list_max: Duration::from_secs(1),
    watch_failed: Duration::from_millis(500),
    pause_when_gone: true,
    stream_failed: Duration::ZERO,
    stream_ended: Duration::ZERO,
    resume: false,
};

/// Sends what one resource's list+watch loop sees into the enforcer's channel.
struct ChannelWatcher {
    resource: &'static Resource,
    tx: Sender<Update>,
}

impl Watcher for ChannelWatcher {
    fn change(&mut self, change: Change) -> bool {
        let kind = self.resource.kind;
        let update = match change {
            Change::Listed { items, .. } => Update::Snapshot(kind, items),
            Change::Event(EventType::Bookmark, _) => return true,
            Change::Event(t, o) => Update::Event(kind, t, o),
        };
        self.tx.send(update).is_ok()
    }

    fn failure(&mut self, failure: Failure<'_>) {
        let resource = self.resource.plural;
        match failure {
            Failure::List(e) => tracing::warn!(resource, "list failed: {e}"),
            Failure::Watch(e) => tracing::warn!(resource, "watch failed: {e}"),
            Failure::Stream(e) => tracing::info!(resource, "watch ended: {e}"),
        }
    }
}

fn informer(client: ApiClient, resource: &'static Resource, tx: Sender<Update>) {
    list_watch(
        &client,
        resource,
        &RETRY,
        &mut ChannelWatcher { resource, tx },
    );
}

fn apply_update(objects: &mut BTreeMap<String, Value>, u: Update) {
    match u {
        Update::Snapshot(kind, items) => {
            let prefix = format!("{kind}/");
            objects.retain(|k, _| !k.starts_with(&prefix));
            for mut it in items {
                if let Some(o) = it.as_object_mut() {
                    o.entry("kind")
                        .or_insert_with(|| Value::String(kind.to_string()));
                }
                objects.insert(key(kind, &it), it);
            }
        }
        Update::Event(kind, t, mut obj) => {
            if let Some(o) = obj.as_object_mut() {
                o.entry("kind")
                    .or_insert_with(|| Value::String(kind.to_string()));
            }
            let k = key(kind, &obj);
            if t == EventType::Deleted {
                objects.remove(&k);
            } else {
                objects.insert(k, obj);
            }
        }
    }
}

fn run(client: ApiClient, mut enforcer: Enforcer, resync: Duration) -> ExitCode {
    let (tx, rx): (Sender<Update>, Receiver<Update>) = channel();
    for r in [&NAMESPACES, &PODS, &NETWORK_POLICIES] {
        let (c, t) = (client.clone(), tx.clone());
        std::thread::Builder::new()
            .name(format!("informer-{}", r.plural))
            .spawn(move || informer(c, r, t))
            .expect("spawn informer");
    }
    drop(tx);
    let mut objects: BTreeMap<String, Value> = BTreeMap::new();
    let mut seen = [false; 3];
    let mut dirty = false;
    let mut last_sync = Instant::now();
    let mut reported_errors: Vec<String> = Vec::new();
    loop {
        let wait = if dirty {
            Duration::from_millis(10)
        } else {
            resync
                .saturating_sub(last_sync.elapsed())
                .max(Duration::from_millis(10))
        };
        match rx.recv_timeout(wait) {
            Ok(u) => {
                let mut next = Some(u);
                while let Some(u) = next {
                    if let Update::Snapshot(kind, _) = &u {
                        if let Some(i) = ["Namespace", "Pod", "NetworkPolicy"]
                            .iter()
                            .position(|k| k == kind)
                        {
                            seen[i] = true;
                        }
                    }
                    apply_update(&mut objects, u);
                    // Batch what arrives together (a kubectl apply of several objects).
                    next = rx.recv_timeout(Duration::from_millis(5)).ok();
                }
                dirty = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return ExitCode::from(1),
        }
        // Wait for a first list of everything before programming anything.
        if !seen.iter().all(|s| *s) {
            continue;
        }
        if !dirty && last_sync.elapsed() < resync {
            continue;
        }
        let values: Vec<Value> = objects.values().cloned().collect();
        let (cluster, errors) = Cluster::from_values(&values);
        for e in errors {
            let s = e.to_string();
            if !reported_errors.contains(&s) {
                tracing::warn!("ignoring {s}");
                reported_errors.push(s);
            }
        }
        let synced = if dirty {
            enforcer.sync(&cluster)
        } else {
            enforcer.resync(&cluster)
        };
        match synced {
            Ok(rep) => {
                if rep.applied {
                    tracing::info!(
                        workloads = rep.workloads,
                        policy_chains = rep.policy_chains,
                        rules = rep.rules,
                        bytes = rep.restore_bytes,
                        render_ms = format!("{:.1}", rep.render.as_secs_f64() * 1000.0),
                        apply_ms = format!("{:.1}", rep.apply.as_secs_f64() * 1000.0),
                        "programmed cali-* chains"
                    );
                }
                dirty = false;
            }
            Err(e) => {
                // The restore is one transaction: the previous rules stay. Retry soon.
                tracing::error!("sync failed, previous rules kept: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        last_sync = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let a = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let o = parse_args(&a(
            "calico-node -felix --node-name node-2 --resync-seconds=3",
        ))
        .unwrap();
        assert_eq!(
            (o.node_name.as_str(), o.resync, o.once),
            ("node-2", Duration::from_secs(3), false)
        );
        assert!(parse_args(&a("calico-node --node-name n"))
            .unwrap_err()
            .contains("-felix"));
        assert!(parse_args(&a("calico-node -felix --bogus"))
            .unwrap_err()
            .contains("--bogus"));
        assert!(
            parse_args(&a("calico-node -felix --dry-run --node-name n"))
                .unwrap()
                .once
        );
    }

    #[test]
    fn updates_replace_and_delete() {
        let mut m = BTreeMap::new();
        let pod = |n: &str| serde_json::json!({"metadata": {"name": n, "namespace": "x"}});
        apply_update(&mut m, Update::Snapshot("Pod", vec![pod("a"), pod("b")]));
        apply_update(&mut m, Update::Event("Pod", EventType::Deleted, pod("a")));
        apply_update(
            &mut m,
            Update::Event(
                "Namespace",
                EventType::Added,
                serde_json::json!({"metadata": {"name": "x"}}),
            ),
        );
        assert_eq!(
            m.keys().cloned().collect::<Vec<_>>(),
            ["Namespace//x", "Pod/x/b"]
        );
        apply_update(&mut m, Update::Snapshot("Pod", vec![]));
        assert_eq!(m.len(), 1);
        assert_eq!(m["Namespace//x"]["kind"], "Namespace");
    }
}
