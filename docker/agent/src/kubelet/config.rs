//! The kubelet's configuration: the `KPLAB_*` environment, overridable by kubelet-style
//! flags, and its fixed timings.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::kube::net;

/// The kubelet's port (exec, logs).
pub const KUBELET_PORT: u16 = crate::kube::contract::KUBELET_PORT;
/// Interval of Node status heartbeats.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// First retry delay while the API server is not up yet (boot).
pub const BOOT_RETRY: Duration = Duration::from_millis(50);
/// Version reported in the Node's `nodeInfo`.
pub const KUBELET_VERSION: &str = crate::kube::contract::KUBERNETES_VERSION;

/// The kubelet's configuration: environment (`KPLAB_*`), overridable by kubelet-style flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// Node name (`--hostname-override`, `KPLAB_NODE_NAME`).
    pub node_name: String,
    /// N in `node-N` (`KPLAB_NODE_INDEX`, else from the name).
    pub node_index: u32,
    /// The node's address (`--node-ip`, `KPLAB_NODE_IP`).
    pub node_ip: Ipv4Addr,
    /// API server URL (`KPLAB_APISERVER`).
    pub apiserver: String,
    /// All nodes, for the overlay before the API answers (`KPLAB_NODES`).
    pub nodes: Vec<net::Peer>,
    /// Whether this node is the control plane (`KPLAB_ROLE=control-plane`).
    pub control_plane: bool,
    /// Pod records (`--root-dir`, `KPLAB_KUBELET_DIR`, default `/var/lib/kplab/kubelet`).
    pub state_dir: PathBuf,
    /// `/run/kplab/pods` (`KPLAB_POD_RUN_DIR`).
    pub run_dir: PathBuf,
    /// `/var/log/kplab/pods` (`KPLAB_POD_LOG_DIR`).
    pub pod_log_dir: PathBuf,
    /// `/var/log/kplab` (component logs served on `/logs/node/…`; `KPLAB_LOG_DIR`).
    pub log_dir: PathBuf,
    /// Port of the kubelet server (`--port`, default 10250).
    pub port: u16,
    /// Whether to manage `vxlan.calico` (off with `--no-overlay`).
    pub overlay: bool,
    /// The binary pods are started from (`/proc/self/exe` resolved).
    pub exe: PathBuf,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Reads the environment and the flags after `kubelet` (unknown kubelet flags are
    /// accepted and ignored, as they are only there to look like a real kubelet's).
    pub fn from_env_and_args(args: &[String]) -> Result<Config, String> {
        let mut flags: BTreeMap<String, String> = BTreeMap::new();
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            let Some(f) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a:?}"));
            };
            match f.split_once('=') {
                Some((k, v)) => {
                    flags.insert(k.to_string(), v.to_string());
                }
                None => {
                    let v = match it.peek() {
                        Some(n) if !n.starts_with("--") => it.next().cloned().unwrap_or_default(),
                        _ => "true".to_string(),
                    };
                    flags.insert(f.to_string(), v);
                }
            }
        }
        let node_name = flags
            .get("hostname-override")
            .cloned()
            .or_else(|| env("KPLAB_NODE_NAME"))
            .ok_or("the node name is unknown: set KPLAB_NODE_NAME or --hostname-override")?;
        let node_index = match env("KPLAB_NODE_INDEX") {
            Some(v) => v
                .parse()
                .map_err(|_| format!("KPLAB_NODE_INDEX={v:?} is not a number"))?,
            None => net::index_from_name(&node_name).ok_or_else(|| {
                format!("KPLAB_NODE_INDEX is unset and {node_name:?} does not end in -N")
            })?,
        };
        if !(1..=254).contains(&node_index) {
            return Err(format!("KPLAB_NODE_INDEX={node_index} is outside 1..=254"));
        }
        let ip_text = flags
            .get("node-ip")
            .cloned()
            .or_else(|| env("KPLAB_NODE_IP"))
            .ok_or("the node address is unknown: set KPLAB_NODE_IP or --node-ip")?;
        let node_ip = ip_text
            .parse()
            .map_err(|_| format!("node address {ip_text:?} is not an IPv4 address"))?;
        let nodes = match env("KPLAB_NODES") {
            Some(v) => net::parse_nodes(&v)?,
            None => vec![net::Peer::new(&node_name, node_index, node_ip)],
        };
        let port = match flags.get("port") {
            Some(p) => p
                .parse()
                .map_err(|_| format!("--port={p:?} is not a port"))?,
            None => KUBELET_PORT,
        };
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the kplab-agent binary (/proc/self/exe): {e}"))?;
        Ok(Config {
            node_name,
            node_index,
            node_ip,
            apiserver: env("KPLAB_APISERVER")
                .unwrap_or_else(|| crate::kube::contract::DEFAULT_APISERVER.to_string()),
            nodes,
            control_plane: env("KPLAB_ROLE").as_deref() == Some("control-plane"),
            state_dir: flags
                .get("root-dir")
                .cloned()
                .or_else(|| env("KPLAB_KUBELET_DIR"))
                .unwrap_or_else(|| "/var/lib/kplab/kubelet".into())
                .into(),
            run_dir: env("KPLAB_POD_RUN_DIR")
                .unwrap_or_else(|| crate::kube::contract::POD_RUN_DIR.into())
                .into(),
            pod_log_dir: env("KPLAB_POD_LOG_DIR")
                .unwrap_or_else(|| "/var/log/kplab/pods".into())
                .into(),
            log_dir: env("KPLAB_LOG_DIR")
                .unwrap_or_else(|| crate::kube::contract::LOG_DIR.into())
                .into(),
            port,
            overlay: !flags.contains_key("no-overlay"),
            exe,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_environment_and_unknown_flags_are_ignored() {
        let args: Vec<String> = [
            "--hostname-override=node-7",
            "--node-ip",
            "10.1.2.3",
            "--cluster-dns=10.96.0.10",
            "--no-overlay",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = Config::from_env_and_args(&args).unwrap();
        assert_eq!(c.node_name, "node-7");
        assert_eq!(c.node_ip.to_string(), "10.1.2.3");
        assert!(!c.overlay);
        if std::env::var("KPLAB_NODE_INDEX").is_err() {
            assert_eq!(c.node_index, 7);
        }
        assert!(Config::from_env_and_args(&["stray".to_string()]).is_err());
    }
}
