//! The kube-proxy mode of a lab's nodes, as lab content asks for it (`proxyMode` in `lab.md`
//! or a step: [`labkit::Lab::proxy_mode_at`]).
//!
//! A node's kube-proxy reads its mode from the `kube-system/kube-proxy` ConfigMap
//! (`config.conf`, a KubeProxyConfiguration with a line `mode: iptables`) when it starts, and
//! restarts when its DaemonSet pod is deleted; at start it removes the other mode's rules. So
//! switching is what a learner would do on a kubeadm cluster: on node-1, set the ConfigMap's
//! `mode:` line (the rest of `config.conf` stays as it was), delete the `k8s-app=kube-proxy`
//! pods, then wait until every node shows the new mode: in nftables mode the table
//! `ip kube-proxy` and no `KUBE-SERVICES` chain in iptables' nat table, in iptables mode the
//! reverse. [`ensure_proxy_mode`] does nothing when the ConfigMap and every node already agree.

use std::time::Duration;

use anyhow::{bail, Context};
use labkit::ProxyMode;
use tokio::time::Instant;

use super::runtime::LabRuntime;

/// How long the nodes get to show the new mode after kube-proxy was restarted.
pub const SWITCH_TIMEOUT: Duration = Duration::from_secs(20);

/// How often the nodes are looked at while waiting.
const POLL: Duration = Duration::from_millis(250);

/// Prints what a node's rules show, as `nft=0|1 iptables=0|1`: whether nftables has the table
/// `ip kube-proxy`, and whether iptables' nat table has the chain `KUBE-SERVICES`.
pub const PROBE: &str = "n=0; i=0; \
nft list table ip kube-proxy >/dev/null 2>&1 && n=1; \
iptables -w 5 -t nat -S KUBE-SERVICES >/dev/null 2>&1 && i=1; \
echo nft=$n iptables=$i";

/// The command (argv, on node-1) that reads the ConfigMap.
pub const GET_CONFIG_MAP: [&str; 8] = [
    "kubectl",
    "-n",
    "kube-system",
    "get",
    "configmap",
    "kube-proxy",
    "-o",
    "json",
];

/// The command (argv, on node-1) that restarts kube-proxy on every node.
pub const DELETE_PODS: [&str; 8] = [
    "kubectl",
    "-n",
    "kube-system",
    "delete",
    "pod",
    "-l",
    "k8s-app=kube-proxy",
    "--wait=false",
];

/// What [`ensure_proxy_mode`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// The ConfigMap and every node were in the mode already.
    Unchanged,
    /// The ConfigMap was, and no node had the other mode's rules, but some node had no rules
    /// yet (its kube-proxy was starting): waited for them.
    Synced,
    /// Set the ConfigMap's mode and/or restarted kube-proxy, then waited for every node.
    Switched,
}

/// What a node's rules show (the output of [`PROBE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRules {
    /// nftables has the table `ip kube-proxy`.
    pub nft_table: bool,
    /// iptables' nat table has the chain `KUBE-SERVICES`.
    pub iptables_chain: bool,
}

impl NodeRules {
    /// Parses [`PROBE`]'s output.
    pub fn parse(out: &str) -> Option<NodeRules> {
        let mut nft = None;
        let mut ipt = None;
        for w in out.split_whitespace() {
            match w.split_once('=') {
                Some(("nft", v)) => nft = Some(v == "1"),
                Some(("iptables", v)) => ipt = Some(v == "1"),
                _ => {}
            }
        }
        Some(NodeRules {
            nft_table: nft?,
            iptables_chain: ipt?,
        })
    }

    /// The node shows `mode`'s rules and none of the other mode's.
    pub fn runs(self, mode: ProxyMode) -> bool {
        match mode {
            ProxyMode::Nftables => self.nft_table && !self.iptables_chain,
            ProxyMode::Iptables => self.iptables_chain && !self.nft_table,
        }
    }

    /// The node has rules of the mode other than `mode` (its kube-proxy must restart).
    pub fn has_other_than(self, mode: ProxyMode) -> bool {
        match mode {
            ProxyMode::Nftables => self.iptables_chain,
            ProxyMode::Iptables => self.nft_table,
        }
    }

    fn describe(self) -> String {
        let has = |b: bool| if b { "present" } else { "absent" };
        format!(
            "nftables table ip kube-proxy {}, iptables nat chain KUBE-SERVICES {}",
            has(self.nft_table),
            has(self.iptables_chain)
        )
    }
}

/// The `mode` a KubeProxyConfiguration (`config.conf`) sets: its top-level `mode:` line, empty
/// or missing meaning iptables (kube-proxy's default). `None` for a mode the lab does not run
/// (`ipvs`, a typo).
pub fn config_mode(config_conf: &str) -> Option<ProxyMode> {
    match mode_line(config_conf) {
        None => Some(ProxyMode::Iptables),
        Some((_, value)) if value.is_empty() => Some(ProxyMode::Iptables),
        Some((_, value)) => ProxyMode::parse(&value),
    }
}

/// The top-level `mode:` line of `config.conf`: its byte range (without the line end) and its
/// value without quotes or a comment.
fn mode_line(config_conf: &str) -> Option<(std::ops::Range<usize>, String)> {
    let mut at = 0;
    for line in config_conf.split_inclusive('\n') {
        let text = line.trim_end_matches(['\n', '\r']);
        if let Some(rest) = text.strip_prefix("mode:") {
            let value = rest.split(" #").next().unwrap_or("").trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            return Some((at..at + text.len(), value.to_string()));
        }
        at += line.len();
    }
    None
}

/// `config.conf` with its `mode:` line set to `mode` (added at the end when there is none);
/// every other byte as it was.
pub fn with_config_mode(config_conf: &str, mode: ProxyMode) -> String {
    let line = format!("mode: {mode}");
    match mode_line(config_conf) {
        Some((range, _)) => {
            let mut out = config_conf.to_string();
            out.replace_range(range, &line);
            out
        }
        None if config_conf.is_empty() || config_conf.ends_with('\n') => {
            format!("{config_conf}{line}\n")
        }
        None => format!("{config_conf}\n{line}\n"),
    }
}

/// Runs `argv` on `host`; its stdout, or an error naming the command, the host and its stderr.
async fn run(
    rt: &dyn LabRuntime,
    sandbox: &str,
    host: &str,
    argv: &[&str],
    what: &str,
) -> anyhow::Result<String> {
    let out = rt
        .exec(sandbox, host, argv)
        .await
        .with_context(|| format!("{what} on {host}"))?;
    if out.code != 0 {
        bail!(
            "{what} on {host} (`{}`) exited {}: {}",
            argv.join(" "),
            out.code,
            out.stderr.trim()
        );
    }
    Ok(out.stdout)
}

/// Each node's rules, in node order.
async fn observe(
    rt: &dyn LabRuntime,
    sandbox: &str,
    hosts: &[String],
) -> anyhow::Result<Vec<NodeRules>> {
    let runs = hosts.iter().map(|h| async move {
        let out = run(
            rt,
            sandbox,
            h,
            &["sh", "-c", PROBE],
            "looking at kube-proxy's rules",
        )
        .await?;
        NodeRules::parse(&out).with_context(|| {
            format!(
                "looking at kube-proxy's rules on {h}: unexpected output {:?}",
                out.trim()
            )
        })
    });
    futures_util::future::try_join_all(runs).await
}

/// The ConfigMap's `resourceVersion` and `config.conf`.
async fn read_config_map(rt: &dyn LabRuntime, sandbox: &str) -> anyhow::Result<(String, String)> {
    let out = run(
        rt,
        sandbox,
        "node-1",
        &GET_CONFIG_MAP,
        "reading the kube-system/kube-proxy ConfigMap",
    )
    .await?;
    let cm: serde_json::Value = serde_json::from_str(&out)
        .context("reading the kube-system/kube-proxy ConfigMap on node-1: not JSON")?;
    let version = cm["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let conf = cm["data"]["config.conf"].as_str().with_context(|| {
        "the kube-system/kube-proxy ConfigMap on node-1 has no data.config.conf (kube-proxy's KubeProxyConfiguration)"
    })?;
    Ok((version, conf.to_string()))
}

/// Makes kube-proxy run in `mode` on every node of the lab (`node-1..node-{nodes}`): when the
/// ConfigMap or a node's rules say otherwise, sets the ConfigMap's mode, restarts kube-proxy
/// (deletes its pods) and waits up to `timeout` until every node shows the new mode's rules;
/// when they already agree, only looks. Returns what it did. Used wherever a
/// step starts: [`super::setup::run_setup`] (lab start, step change, step reset) and
/// `kplab labs test`.
pub async fn ensure_proxy_mode(
    rt: &dyn LabRuntime,
    sandbox: &str,
    nodes: u8,
    mode: ProxyMode,
    timeout: Duration,
) -> anyhow::Result<Switch> {
    let hosts: Vec<String> = (1..=nodes.max(1)).map(|n| format!("node-{n}")).collect();
    let (mut version, mut conf) = read_config_map(rt, sandbox).await?;
    let seen = observe(rt, sandbox, &hosts).await?;
    let config_ok = config_mode(&conf) == Some(mode);
    if config_ok && seen.iter().all(|r| r.runs(mode)) {
        return Ok(Switch::Unchanged);
    }
    // A node without either mode's rules is a kube-proxy still starting (in the ConfigMap's
    // mode): waiting is enough. Rules of the other mode need a restart.
    let restart = !config_ok || seen.iter().any(|r| r.has_other_than(mode));
    if !config_ok {
        // resourceVersion in the patch: a concurrent edit is a conflict, not overwritten.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let patch = serde_json::json!({
                "metadata": {"resourceVersion": version},
                "data": {"config.conf": with_config_mode(&conf, mode)},
            })
            .to_string();
            let argv = [
                "kubectl",
                "-n",
                "kube-system",
                "patch",
                "configmap",
                "kube-proxy",
                "--type=merge",
                "-p",
                &patch,
            ];
            let out = rt
                .exec(sandbox, "node-1", &argv)
                .await
                .context("setting the kube-proxy ConfigMap's mode on node-1")?;
            if out.code == 0 {
                break;
            }
            if attempt < 3 && out.stderr.contains("modified") {
                (version, conf) = read_config_map(rt, sandbox).await?;
                continue;
            }
            bail!(
                "setting mode: {mode} in the kube-system/kube-proxy ConfigMap on node-1 exited {}: {}",
                out.code,
                out.stderr.trim()
            );
        }
    }
    if restart {
        run(
            rt,
            sandbox,
            "node-1",
            &DELETE_PODS,
            "restarting kube-proxy (deleting its pods)",
        )
        .await?;
    }
    let deadline = Instant::now() + timeout;
    loop {
        tokio::time::sleep(POLL.min(timeout)).await;
        let seen = observe(rt, sandbox, &hosts).await?;
        if seen.iter().all(|r| r.runs(mode)) {
            if !restart {
                return Ok(Switch::Synced);
            }
            tracing::info!(sandbox, mode = %mode, "kube-proxy switched");
            return Ok(Switch::Switched);
        }
        if Instant::now() >= deadline {
            let behind: Vec<String> = hosts
                .iter()
                .zip(&seen)
                .filter(|(_, r)| !r.runs(mode))
                .map(|(h, r)| format!("{h} ({})", r.describe()))
                .collect();
            bail!(
                "kube-proxy did not switch to {mode} mode within {} s on {}",
                timeout.as_secs_f64(),
                behind.join(", ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBEADM: &str = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nbindAddress: 0.0.0.0\nipvs:\n  scheduler: \"\"\nkind: KubeProxyConfiguration\nmetricsBindAddress: \"\"\nmode: iptables\nnftables:\n  masqueradeAll: false\n";

    #[test]
    fn the_mode_line_is_read_and_replaced_alone() {
        assert_eq!(config_mode(KUBEADM), Some(ProxyMode::Iptables));
        let nft = with_config_mode(KUBEADM, ProxyMode::Nftables);
        assert_eq!(nft, KUBEADM.replace("mode: iptables\n", "mode: nftables\n"));
        assert_eq!(config_mode(&nft), Some(ProxyMode::Nftables));
        assert_eq!(with_config_mode(&nft, ProxyMode::Iptables), KUBEADM);
        // Quotes, a comment, CRLF, empty (kube-proxy's default), unknown modes.
        assert_eq!(
            config_mode("mode: \"nftables\" # set by me\r\n"),
            Some(ProxyMode::Nftables)
        );
        assert_eq!(
            with_config_mode("a: 1\r\nmode: 'iptables'\r\nb: 2\r\n", ProxyMode::Nftables),
            "a: 1\r\nmode: nftables\r\nb: 2\r\n"
        );
        assert_eq!(config_mode("mode: \"\"\n"), Some(ProxyMode::Iptables));
        assert_eq!(
            config_mode("kind: KubeProxyConfiguration\n"),
            Some(ProxyMode::Iptables)
        );
        assert_eq!(config_mode("mode: ipvs\n"), None);
        // Only the top-level key: a nested `mode:` is not kube-proxy's.
        assert_eq!(
            config_mode("x:\n  mode: nftables\n"),
            Some(ProxyMode::Iptables)
        );
        // No mode line: added at the end.
        assert_eq!(
            with_config_mode("kind: KubeProxyConfiguration", ProxyMode::Nftables),
            "kind: KubeProxyConfiguration\nmode: nftables\n"
        );
    }

    #[test]
    fn node_rules() {
        let r = NodeRules::parse("nft=1 iptables=0\n").unwrap();
        assert!(r.runs(ProxyMode::Nftables) && !r.runs(ProxyMode::Iptables));
        assert!(r.has_other_than(ProxyMode::Iptables) && !r.has_other_than(ProxyMode::Nftables));
        let both = NodeRules::parse("nft=1 iptables=1").unwrap();
        assert!(!both.runs(ProxyMode::Nftables) && !both.runs(ProxyMode::Iptables));
        let none = NodeRules::parse("nft=0 iptables=0").unwrap();
        assert!(!none.has_other_than(ProxyMode::Nftables) && !none.runs(ProxyMode::Nftables));
        assert_eq!(NodeRules::parse("sh: nft: not found"), None);
    }
}
