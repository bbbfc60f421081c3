//! Host isolation: the filter rules that stop a lab from opening connections to the host.
//!
//! Docker's `--internal` networks already keep a lab from the internet and from other labs
//! (its `DOCKER-ISOLATION-STAGE-1` drops anything forwarded into or out of the bridge to other
//! subnets), but packets addressed to the host itself never cross FORWARD: a lab reaches a host
//! service on 0.0.0.0 through its bridge's gateway address, docker0's, or any other host
//! address. So the host's INPUT chain jumps, for every `kplab+` bridge, to `KPLAB-ISOLATION`,
//! which lets replies to the host's own connections through and drops everything else.
//!
//! Docker's isolation goes too far inside a lab on a host that passes bridged frames to
//! iptables (`br_netfilter`, `bridge-nf-call-iptables=1`, which Docker turns on): its rule
//! `! -d <lab subnet> -i <bridge> -j DROP` also drops frames that never leave the lab's bridge
//! when their IP destination is outside the subnet, such as the client's packet to a ClusterIP,
//! a load balancer IP or an external IP routed through a node. So `DOCKER-USER` accepts
//! what is being bridged within a `kplab+` bridge ([`bridged_rule`]): a bridged frame stays on
//! its bridge, while anything routed between bridges, to the host or out still meets Docker's
//! rules and [`CHAIN`].
//!
//! Installed idempotently by `kplab cluster up`, with the iptables backend Docker uses.

use std::process::Command;

/// The host chain that drops new connections from labs.
pub const CHAIN: &str = "KPLAB-ISOLATION";
/// Interface match of every lab bridge.
pub const BRIDGE_MATCH: &str = "kplab+";

/// Why the host rules could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    /// No iptables binary on the host.
    #[error("host isolation needs iptables on the host (apt-get install iptables)")]
    NoIptables,
    /// iptables refused: most often not root.
    #[error("installing host isolation rules with `{command}` failed: {stderr}{hint}")]
    Command {
        /// The command line.
        command: String,
        /// Its stderr.
        stderr: String,
        /// A hint, when the cause is known.
        hint: &'static str,
    },
    /// The binary could not be run.
    #[error("running {0}: {1}")]
    Spawn(String, #[source] std::io::Error),
}

/// The iptables binaries of one backend (IPv4 and IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// IPv4 binary, e.g. `iptables-nft`.
    pub v4: String,
    /// IPv6 binary, if present.
    pub v6: Option<String>,
}

fn run(bin: &str, args: &[&str]) -> Result<std::process::Output, IsolationError> {
    Command::new(bin)
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| IsolationError::Spawn(bin.to_string(), e))
}

fn exists(bin: &str) -> bool {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .any(|d| std::path::Path::new(d).join(bin).exists())
}

/// Picks the backend Docker wrote its rules with: the one whose filter table has a `DOCKER`
/// chain; else `iptables` as installed.
pub fn detect_backend() -> Result<Backend, IsolationError> {
    for (v4, v6) in [
        ("iptables-nft", "ip6tables-nft"),
        ("iptables-legacy", "ip6tables-legacy"),
    ] {
        if exists(v4) {
            if let Ok(out) = run(v4, &["-t", "filter", "-S", "DOCKER"]) {
                if out.status.success() {
                    return Ok(Backend {
                        v4: v4.to_string(),
                        v6: exists(v6).then(|| v6.to_string()),
                    });
                }
            }
        }
    }
    if exists("iptables") {
        return Ok(Backend {
            v4: "iptables".into(),
            v6: exists("ip6tables").then(|| "ip6tables".to_string()),
        });
    }
    Err(IsolationError::NoIptables)
}

/// The rules of [`CHAIN`], as `iptables -S` prints them.
pub fn chain_rules() -> Vec<String> {
    vec![
        format!("-N {CHAIN}"),
        format!("-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"),
        format!("-A {CHAIN} -m comment --comment \"kplab: labs open no connection to the host\" -j DROP"),
    ]
}

/// The INPUT rule that sends lab traffic to [`CHAIN`].
pub fn jump_rule() -> Vec<String> {
    ["-i", BRIDGE_MATCH, "-j", CHAIN]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The chain Docker leaves to its users, first in FORWARD.
pub const USER_CHAIN: &str = "DOCKER-USER";

/// The `DOCKER-USER` rule that lets frames bridged within one lab's bridge through.
pub fn bridged_rule() -> Vec<String> {
    [
        "-i",
        BRIDGE_MATCH,
        "-m",
        "physdev",
        "--physdev-is-bridged",
        "-m",
        "comment",
        "--comment",
        "kplab: frames bridged within one lab",
        "-j",
        "ACCEPT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Whether bridged frames go through iptables on this host (`br_netfilter` loaded and on).
fn bridged_frames_filtered() -> bool {
    std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
        .is_ok_and(|v| v.trim() == "1")
}

/// [`bridged_rule`] when it is wanted and not in `DOCKER-USER` (it is not wanted where bridged
/// frames skip iptables, or where Docker made no `DOCKER-USER`: then nothing drops them).
fn bridged_rule_missing(bin: &str) -> Result<Option<Vec<String>>, IsolationError> {
    if !bridged_frames_filtered()
        || !run(bin, &["-t", "filter", "-S", USER_CHAIN])?
            .status
            .success()
    {
        return Ok(None);
    }
    let rule = bridged_rule();
    let mut probe = vec!["-t", "filter", "-C", USER_CHAIN];
    probe.extend(rule.iter().map(String::as_str));
    Ok((!run(bin, &probe)?.status.success()).then_some(rule))
}

/// Inserts [`bridged_rule`] first in `DOCKER-USER` when it is missing.
fn install_bridged(bin: &str) -> Result<(), IsolationError> {
    if let Some(rule) = bridged_rule_missing(bin)? {
        let mut insert = vec!["-t", "filter", "-I", USER_CHAIN, "1"];
        insert.extend(rule.iter().map(String::as_str));
        check(bin, &insert)?;
    }
    Ok(())
}

/// Appends `rule` to [`CHAIN`].
fn append(bin: &str, rule: &[&str]) -> Result<(), IsolationError> {
    let mut args = vec!["-t", "filter", "-A", CHAIN];
    args.extend(rule);
    check(bin, &args)
}

fn check(bin: &str, args: &[&str]) -> Result<(), IsolationError> {
    let out = run(bin, args)?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let hint = if stderr.contains("Permission denied") || stderr.contains("must be root") {
        " (kplab needs root, or CAP_NET_ADMIN, on the host to isolate labs from it)"
    } else {
        ""
    };
    Err(IsolationError::Command {
        command: format!("{bin} -w {}", args.join(" ")),
        stderr,
        hint,
    })
}

fn install_with(bin: &str) -> Result<(), IsolationError> {
    let current = run(bin, &["-t", "filter", "-S", CHAIN])?;
    let listed = String::from_utf8_lossy(&current.stdout);
    let listed: Vec<&str> = listed.lines().collect();
    let wanted = chain_rules();
    if !current.status.success() {
        check(bin, &["-t", "filter", "-N", CHAIN])?;
    }
    if listed != wanted.iter().map(String::as_str).collect::<Vec<_>>() {
        check(bin, &["-t", "filter", "-F", CHAIN])?;
        append(
            bin,
            &[
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                "-j",
                "RETURN",
            ],
        )?;
        append(
            bin,
            &[
                "-m",
                "comment",
                "--comment",
                "kplab: labs open no connection to the host",
                "-j",
                "DROP",
            ],
        )?;
    }
    let jump = jump_rule();
    let jump: Vec<&str> = jump.iter().map(String::as_str).collect();
    let mut probe = vec!["-t", "filter", "-C", "INPUT"];
    probe.extend(&jump);
    if !run(bin, &probe)?.status.success() {
        let mut insert = vec!["-t", "filter", "-I", "INPUT", "1"];
        insert.extend(&jump);
        check(bin, &insert)?;
    }
    install_bridged(bin)
}

/// Installs (idempotently) the host rules for IPv4 and, when ip6tables exists, IPv6.
/// Whether the isolation rules are in place with `backend`'s IPv4 binary, without changing
/// anything: `Ok(None)` when they are, `Ok(Some(what is missing))` when not.
pub fn missing(backend: &Backend) -> Result<Option<String>, IsolationError> {
    let bin = backend.v4.as_str();
    let current = run(bin, &["-t", "filter", "-S", CHAIN])?;
    if !current.status.success() {
        return Ok(Some(format!("{bin}: no chain {CHAIN}")));
    }
    let listed = String::from_utf8_lossy(&current.stdout);
    if listed.lines().collect::<Vec<_>>()
        != chain_rules().iter().map(String::as_str).collect::<Vec<_>>()
    {
        return Ok(Some(format!(
            "{bin}: chain {CHAIN} differs: {}",
            listed.trim()
        )));
    }
    let jump = jump_rule();
    let mut probe = vec!["-t", "filter", "-C", "INPUT"];
    probe.extend(jump.iter().map(String::as_str));
    if !run(bin, &probe)?.status.success() {
        return Ok(Some(format!(
            "{bin}: INPUT has no -i {BRIDGE_MATCH} -j {CHAIN}"
        )));
    }
    if let Some(rule) = bridged_rule_missing(bin)? {
        return Ok(Some(format!(
            "{bin}: {USER_CHAIN} does not accept frames bridged within a lab ({})",
            rule.join(" ")
        )));
    }
    Ok(None)
}

pub fn install() -> Result<Backend, IsolationError> {
    let backend = detect_backend()?;
    install_with(&backend.v4)?;
    if let Some(v6) = &backend.v6 {
        if let Err(e) = install_with(v6) {
            tracing::warn!(error = %e, "IPv6 host isolation rules not installed");
        }
    }
    Ok(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_drops_new_and_lets_replies_through_in_that_order() {
        let rules = chain_rules();
        assert_eq!(rules[0], "-N KPLAB-ISOLATION");
        assert!(rules[1].contains("RELATED,ESTABLISHED -j RETURN"));
        assert!(rules[2].ends_with("-j DROP"));
    }

    #[test]
    fn only_bridged_frames_of_lab_bridges_are_accepted() {
        let r = bridged_rule().join(" ");
        assert!(
            r.starts_with("-i kplab+ -m physdev --physdev-is-bridged "),
            "{r}"
        );
        assert!(r.ends_with("-j ACCEPT"), "{r}");
    }

    #[test]
    fn jump_matches_every_lab_bridge() {
        assert_eq!(jump_rule().join(" "), "-i kplab+ -j KPLAB-ISOLATION");
        assert!(crate::sandbox::plan::BRIDGE_PREFIX.starts_with(BRIDGE_MATCH.trim_end_matches('+')));
    }
}
