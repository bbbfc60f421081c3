//! Which mode kube-proxy runs in, and what changes with it.
//!
//! * The mode is the `mode` of `config.conf` in the `kube-system/kube-proxy` ConfigMap, as on a
//!   kubeadm cluster (an explicit `--proxy-mode` wins); empty means iptables.
//! * At start, kube-proxy removes what the other mode left (upstream's `CleanupLeftovers`):
//!   starting in nftables mode deletes the iptables mode's jumps and `KUBE-*` chains, starting
//!   in iptables mode deletes the `kube-proxy` nftables tables.
//! * A learner switches a node by editing the ConfigMap and deleting that node's `kube-proxy`
//!   pod: kube-proxy notices its pod is gone and exits, and `kplab-node` starts it again.

use std::sync::mpsc::Sender;
use std::time::Duration;

use netrules::kubeproxy::nft::TABLE;
use netrules::kubeproxy::{cleanup_jump_rules, cleanup_restore, ProxyMode};
use serde_json::Value;

use super::common::Signal;
use crate::kube::client::ApiClient;
use crate::kube::iptables::Iptables;
use crate::kube::resource::{CONFIG_MAPS, PODS};

/// The `mode` in a `KubeProxyConfiguration` (the ConfigMap's `config.conf`).
pub fn mode_of_config(config_conf: &str) -> Result<ProxyMode, String> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(config_conf)
        .map_err(|e| format!("config.conf is not YAML: {e}"))?;
    let mode = match v.get("mode") {
        None | Some(serde_yaml_ng::Value::Null) => "",
        Some(serde_yaml_ng::Value::String(s)) => s.as_str(),
        Some(other) => return Err(format!("mode: Invalid value: {other:?}: must be a string")),
    };
    ProxyMode::parse(mode).ok_or_else(|| {
        format!("mode: Unsupported value: {mode:?}: supported values: \"iptables\", \"nftables\"")
    })
}

/// The mode the `kube-system/kube-proxy` ConfigMap asks for; iptables when there is no such
/// ConfigMap or it has no `config.conf`. Waits for the API server while it does not answer.
pub fn from_config_map(client: &ApiClient) -> Result<ProxyMode, String> {
    let mut delay = Duration::from_millis(200);
    loop {
        match client.get(&CONFIG_MAPS, Some("kube-system"), "kube-proxy") {
            Ok(cm) => {
                return match cm.pointer("/data/config.conf").and_then(Value::as_str) {
                    Some(conf) => mode_of_config(conf),
                    None => Ok(ProxyMode::Iptables),
                }
            }
            Err(e) if e.is_not_found() => return Ok(ProxyMode::Iptables),
            Err(e) => {
                tracing::warn!(src = "server.go:470", err = %e, "Failed to read the kube-proxy ConfigMap; retrying");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Removes what the mode not in use left on this node. Errors are logged, never fatal.
pub fn cleanup_other_mode(ipt: &Iptables, mode: ProxyMode) {
    match mode {
        ProxyMode::Nftables => cleanup_iptables(ipt),
        ProxyMode::Iptables => {
            for family in ["ip", "ip6"] {
                match ipt.nft_delete_table(family, TABLE) {
                    Ok(true) => {
                        tracing::info!(
                            src = "proxier.go:330",
                            family,
                            table = TABLE,
                            "Deleted the nftables table of the nftables mode"
                        )
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(src = "proxier.go:330", err = %e, "Error cleaning up nftables rules")
                    }
                }
            }
        }
    }
}

/// Upstream's iptables `CleanupLeftovers`: the jumps from the built-in chains, then the nat and
/// filter chains, then the mangle canary.
fn cleanup_iptables(ipt: &Iptables) {
    let mut removed = 0;
    for r in cleanup_jump_rules() {
        let mut args = vec!["-w", "-t", r.table, "-D", r.chain];
        args.extend(r.args.iter().map(String::as_str));
        // A rule inserted twice is deleted twice (bounded: `-D` removes one copy per call).
        for _ in 0..8 {
            if ipt.run_iptables(&args).is_err() {
                break;
            }
            removed += 1;
        }
    }
    let chains = |t: &str| -> Vec<String> {
        ipt.chains(t)
            .map(|c| c.into_iter().collect())
            .unwrap_or_default()
    };
    let text = cleanup_restore(&chains("nat"), &chains("filter"));
    if !text.is_empty() {
        removed += text.lines().filter(|l| l.starts_with("-X")).count();
        if let Err(e) = ipt.restore_noflush(&text) {
            tracing::error!(src = "proxier.go:390", err = %e.stderr, "Failed to execute iptables-restore");
        }
    }
    if ipt
        .run_iptables(&["-w", "-t", "mangle", "-X", "KUBE-PROXY-CANARY"])
        .is_ok()
    {
        removed += 1;
    }
    if removed > 0 {
        tracing::info!(
            src = "proxier.go:340",
            removed,
            "Cleaned up the iptables mode's rules and chains"
        );
    }
}

/// Polls for the `kube-proxy` table every `period`; when it is gone, asks for a full sync.
pub fn run_table_monitor(
    ipt: Iptables,
    family: &'static str,
    period: Duration,
    tx: Sender<Signal>,
) {
    super::common::run_resync_monitor(
        period,
        tx,
        || !ipt.nft_table_exists(family, TABLE),
        "proxier.go:1200",
        "nftables table deleted: resyncing",
        "kube-proxy table missing",
    )
}

/// The uid of this node's `kube-proxy` DaemonSet pod, if there is one.
fn own_pod_uid(client: &ApiClient, node: &str) -> Result<Option<String>, String> {
    let field = format!("spec.nodeName={node}");
    let list = client
        .list(
            &PODS,
            Some("kube-system"),
            Some("k8s-app=kube-proxy"),
            Some(&field),
        )
        .map_err(|e| e.to_string())?;
    Ok(list.items.iter().find_map(|p| {
        p.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_string)
    }))
}

/// Watches (by polling) this node's `kube-proxy` pod and exits the process when the pod it
/// started with is deleted or replaced: on a kubeadm cluster that is how a learner restarts
/// kube-proxy (`kubectl -n kube-system delete pod kube-proxy-…`), and `kplab-node` starts it
/// again within a second. Without a pod at start (no DaemonSet yet), it waits for one.
pub fn exit_when_pod_replaced(client: &ApiClient, node: &str) {
    let period = Duration::from_secs(1);
    let mut started_with: Option<String> = None;
    loop {
        match own_pod_uid(client, node) {
            Ok(uid) => match (&started_with, uid) {
                (None, Some(u)) => started_with = Some(u),
                (Some(old), now) if now.as_deref() != Some(old) => {
                    tracing::info!(
                        src = "server.go:590",
                        node,
                        "This node's kube-proxy pod was deleted: restarting kube-proxy"
                    );
                    std::process::exit(0);
                }
                _ => {}
            },
            Err(e) => {
                tracing::debug!(src = "server.go:590", err = %e, "Failed to look up this node's kube-proxy pod")
            }
        }
        std::thread::sleep(period);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_comes_from_config_conf() {
        assert_eq!(
            mode_of_config("kind: KubeProxyConfiguration\nmode: nftables\n"),
            Ok(ProxyMode::Nftables)
        );
        assert_eq!(mode_of_config("mode: \"\"\n"), Ok(ProxyMode::Iptables));
        assert_eq!(mode_of_config("mode: iptables\n"), Ok(ProxyMode::Iptables));
        assert_eq!(
            mode_of_config("kind: KubeProxyConfiguration\n"),
            Ok(ProxyMode::Iptables)
        );
        assert_eq!(
            mode_of_config("mode: ipvs\n").unwrap_err(),
            "mode: Unsupported value: \"ipvs\": supported values: \"iptables\", \"nftables\""
        );
        assert!(mode_of_config("mode: [a]\n")
            .unwrap_err()
            .starts_with("mode: Invalid value"));
        assert!(mode_of_config("mode: [\n")
            .unwrap_err()
            .starts_with("config.conf is not YAML"));
    }
}
