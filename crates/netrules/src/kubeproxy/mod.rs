//! kube-proxy's iptables mode (≈v1.34) as a pure function of the objects and the flags:
//! [`render`] for a one-shot full ruleset, [`Proxier`] for the incremental sync planner, and
//! [`jump_rules`]/[`CANARY_CHAINS`] for what kube-proxy installs outside the restore.

mod config;
pub mod conntrack;
mod flags;
pub mod nft;
mod objects;
mod proxier;
mod tracker;
mod writer;

pub use config::{parse_flag_ip, DetectLocalMode, MarkFormat, ProxierConfig};
pub use flags::{FlagKind, FlagSpec, Flags, ProxyMode, FLAG_SPECS};
pub use objects::Nsn;
pub use proxier::{Proxier, SyncOptions, SyncResult};
pub use tracker::HealthCheck;
pub use writer::{is_service_chain, probability, LARGE_CLUSTER_ENDPOINTS_THRESHOLD};

use crate::k8s::Objects;
use crate::model::Ruleset;
use crate::Warning;

/// The result of [`render`].
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The restore input of a full sync on a clean node.
    pub restore_text: String,
    /// The structured ruleset.
    pub ruleset: Ruleset,
    /// Warnings about the configuration and about skipped objects.
    pub warnings: Vec<Warning>,
}

/// What kube-proxy writes on its first (full) sync on a clean node for `objects`.
pub fn render(cfg: &ProxierConfig, objects: &Objects) -> Rendered {
    let mut p = Proxier::new(cfg.clone());
    let mut warnings = p.set_objects(&objects.services, &objects.endpoint_slices);
    let r = p.sync();
    let mut all = r.warnings;
    all.append(&mut warnings);
    Rendered {
        restore_text: r.restore_text,
        ruleset: r.ruleset,
        warnings: all,
    }
}

/// A rule kube-proxy keeps in a built-in chain with `iptables -C` / `iptables -I`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JumpRule {
    /// `filter` or `nat`.
    pub table: &'static str,
    /// The built-in chain (`INPUT`, `PREROUTING`, …).
    pub chain: &'static str,
    /// The rule arguments after the chain, ending in `-j TARGET` (tokens, unquoted).
    pub args: Vec<String>,
    /// The chain jumped to; it is created first with `iptables -N` if missing.
    pub target: &'static str,
    /// Position to insert at when missing: always 1 (kube-proxy uses `-I CHAIN` = prepend).
    pub position: u32,
}

/// `iptablesJumpChains` followed by `iptablesKubeletJumpChains`, in the order kube-proxy
/// ensures them on every full sync. Each is "`-N target` if missing; `-C`, and `-I chain 1`
/// if absent", so on a fresh node they end up in reverse order.
pub fn jump_rules() -> Vec<JumpRule> {
    const NEW: &[&str] = &["-m", "conntrack", "--ctstate", "NEW"];
    let list: [(&str, &str, &str, &str, &[&str]); 14] = [
        (
            "filter",
            "KUBE-EXTERNAL-SERVICES",
            "INPUT",
            "kubernetes externally-visible service portals",
            NEW,
        ),
        (
            "filter",
            "KUBE-EXTERNAL-SERVICES",
            "FORWARD",
            "kubernetes externally-visible service portals",
            NEW,
        ),
        (
            "filter",
            "KUBE-NODEPORTS",
            "INPUT",
            "kubernetes health check service ports",
            &[],
        ),
        (
            "filter",
            "KUBE-SERVICES",
            "FORWARD",
            "kubernetes service portals",
            NEW,
        ),
        (
            "filter",
            "KUBE-SERVICES",
            "OUTPUT",
            "kubernetes service portals",
            NEW,
        ),
        (
            "filter",
            "KUBE-FORWARD",
            "FORWARD",
            "kubernetes forwarding rules",
            &[],
        ),
        (
            "filter",
            "KUBE-PROXY-FIREWALL",
            "INPUT",
            "kubernetes load balancer firewall",
            NEW,
        ),
        (
            "filter",
            "KUBE-PROXY-FIREWALL",
            "OUTPUT",
            "kubernetes load balancer firewall",
            NEW,
        ),
        (
            "filter",
            "KUBE-PROXY-FIREWALL",
            "FORWARD",
            "kubernetes load balancer firewall",
            NEW,
        ),
        (
            "nat",
            "KUBE-SERVICES",
            "OUTPUT",
            "kubernetes service portals",
            &[],
        ),
        (
            "nat",
            "KUBE-SERVICES",
            "PREROUTING",
            "kubernetes service portals",
            &[],
        ),
        (
            "nat",
            "KUBE-POSTROUTING",
            "POSTROUTING",
            "kubernetes postrouting rules",
            &[],
        ),
        ("filter", "KUBE-FIREWALL", "INPUT", "", &[]),
        ("filter", "KUBE-FIREWALL", "OUTPUT", "", &[]),
    ];
    list.iter()
        .map(|(table, target, chain, comment, extra)| {
            let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            if !comment.is_empty() {
                args.extend(
                    ["-m", "comment", "--comment", comment]
                        .iter()
                        .map(|s| s.to_string()),
                );
            }
            args.push("-j".into());
            args.push(target.to_string());
            JumpRule {
                table,
                chain,
                args,
                target,
                position: 1,
            }
        })
        .collect()
}

/// The empty canary chain kube-proxy creates in each of these tables and polls for; when it is
/// gone, a full resync is due.
pub const CANARY_CHAINS: [(&str, &str); 3] = [
    ("mangle", "KUBE-PROXY-CANARY"),
    ("nat", "KUBE-PROXY-CANARY"),
    ("filter", "KUBE-PROXY-CANARY"),
];

/// What kube-proxy removes of the iptables mode when it starts in another mode (upstream
/// `CleanupLeftovers`): its jump rules from the built-in chains (delete each with `iptables -D`,
/// ignoring "does not exist"), then, with [`cleanup_restore`], its chains.
pub fn cleanup_jump_rules() -> Vec<JumpRule> {
    // The kubelet's KUBE-FIREWALL jumps are the kubelet's to keep.
    jump_rules()
        .into_iter()
        .filter(|r| r.target != "KUBE-FIREWALL")
        .collect()
}

/// The `iptables-restore --noflush` input that flushes and deletes kube-proxy's iptables chains
/// among the existing `nat` and `filter` chains (the mangle canary goes with `iptables -X`).
/// Empty when there is nothing to remove.
pub fn cleanup_restore(nat_chains: &[String], filter_chains: &[String]) -> String {
    const NAT: [&str; 5] = [
        "KUBE-SERVICES",
        "KUBE-NODEPORTS",
        "KUBE-POSTROUTING",
        "KUBE-MARK-MASQ",
        "KUBE-PROXY-CANARY",
    ];
    const FILTER: [&str; 6] = [
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-FIREWALL",
        "KUBE-PROXY-CANARY",
    ];
    let mut out = String::new();
    let mut table = |name: &str, chains: Vec<&String>| {
        if chains.is_empty() {
            return;
        }
        out.push_str(&format!("*{name}\n"));
        for c in &chains {
            out.push_str(&format!(":{c} - [0:0]\n"));
        }
        for c in &chains {
            out.push_str(&format!("-X {c}\n"));
        }
        out.push_str("COMMIT\n");
    };
    table(
        "nat",
        nat_chains
            .iter()
            .filter(|c| NAT.contains(&c.as_str()) || is_service_chain(c))
            .collect(),
    );
    table(
        "filter",
        filter_chains
            .iter()
            .filter(|c| FILTER.contains(&c.as_str()))
            .collect(),
    );
    out
}

#[cfg(test)]
mod cleanup_tests {
    use super::*;

    #[test]
    fn cleanup_removes_only_kube_proxys_chains() {
        let s = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let text = cleanup_restore(
            &s(&[
                "PREROUTING",
                "KUBE-SERVICES",
                "KUBE-SVC-ABC",
                "KUBE-SEP-DEF",
                "KUBE-MARK-MASQ",
                "cali-nat",
                "DOCKER_OUTPUT",
            ]),
            &s(&[
                "INPUT",
                "KUBE-FIREWALL",
                "KUBE-FORWARD",
                "KUBE-PROXY-CANARY",
                "cali-fw-x",
            ]),
        );
        assert_eq!(
            text,
            "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-ABC - [0:0]\n:KUBE-SEP-DEF - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n\
             -X KUBE-SERVICES\n-X KUBE-SVC-ABC\n-X KUBE-SEP-DEF\n-X KUBE-MARK-MASQ\nCOMMIT\n\
             *filter\n:KUBE-FORWARD - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n-X KUBE-FORWARD\n-X KUBE-PROXY-CANARY\nCOMMIT\n"
        );
        assert_eq!(cleanup_restore(&s(&["PREROUTING"]), &s(&["INPUT"])), "");
        assert!(cleanup_jump_rules()
            .iter()
            .all(|r| r.target != "KUBE-FIREWALL"));
        assert_eq!(cleanup_jump_rules().len(), 12);
    }
}
