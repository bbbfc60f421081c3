//! Removing Docker's embedded-DNS NAT rules, so that `iptables-save` shows only what
//! Kubernetes components wrote.

use crate::kube::iptables::Iptables;

/// Removes Docker's embedded-DNS NAT rules (chains `DOCKER_OUTPUT`, `DOCKER_POSTROUTING` and
/// the jumps to them) with each iptables backend found; returns what was removed.
pub fn remove_docker_dns_rules() -> Vec<String> {
    let mut removed = Vec::new();
    // Listing a legacy table instantiates it in this namespace (and iptables-nft then warns
    // "iptables-legacy tables present" forever): only touch legacy when its nat table exists.
    let legacy_nat = std::fs::read_to_string("/proc/net/ip_tables_names")
        .is_ok_and(|t| t.lines().any(|l| l.trim() == "nat"));
    for bin in ["iptables-legacy", "iptables-nft"] {
        if bin == "iptables-legacy" && !legacy_nat {
            continue;
        }
        let ipt = Iptables {
            iptables: bin.into(),
            ..Iptables::default()
        };
        let Ok(text) = ipt.run_iptables(&["-w", "-t", "nat", "-S"]) else {
            continue;
        };
        let docker_chain = |w: &str| w == "DOCKER_OUTPUT" || w == "DOCKER_POSTROUTING";
        let mut chains = Vec::new();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["-N", c] if docker_chain(c) => chains.push(c.to_string()),
                ["-A", chain, rest @ ..]
                    if !docker_chain(chain) && rest.iter().any(|w| docker_chain(w)) =>
                {
                    let mut args = vec!["-w", "-t", "nat", "-D", chain];
                    args.extend_from_slice(rest);
                    if ipt.run_iptables(&args).is_ok() {
                        removed.push(format!("{bin}: {line}"));
                    }
                }
                _ => {}
            }
        }
        for c in chains {
            let ok = ipt.run_iptables(&["-w", "-t", "nat", "-F", &c]).is_ok()
                && ipt.run_iptables(&["-w", "-t", "nat", "-X", &c]).is_ok();
            if ok {
                removed.push(format!("{bin}: chain {c}"));
            }
        }
    }
    removed
}
