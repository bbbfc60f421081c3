//! Shared helpers for the golden and upstream-fixture tests: config from a `flags` file and a
//! readable line diff. Both test binaries use every item (no `allow(dead_code)`).

use netrules::ip::IpFamily;
use netrules::kubeproxy::{Flags, ProxierConfig};
use std::path::Path;

/// Reads a `flags` file: whitespace-separated kube-proxy flags; `#` starts a comment. A first
/// token `@upstream-fake` / `@upstream-fake-ipv6` starts from the iptables proxier's
/// `NewFakeProxier` settings, `@upstream-fake-nft` / `@upstream-fake-nft-ipv6` from the
/// nftables proxier's, and the flags present then override only what they name.
pub fn config_from_flags_file(path: &Path, nodes: &[netrules::k8s::Node]) -> ProxierConfig {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let toks: Vec<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let (base, nft, rest) = match toks.first().map(String::as_str) {
        Some("@upstream-fake") => (Some(IpFamily::V4), false, &toks[1..]),
        Some("@upstream-fake-ipv6") => (Some(IpFamily::V6), false, &toks[1..]),
        Some("@upstream-fake-nft") => (Some(IpFamily::V4), true, &toks[1..]),
        Some("@upstream-fake-nft-ipv6") => (Some(IpFamily::V6), true, &toks[1..]),
        _ => (None, false, &toks[..]),
    };
    let flags = Flags::parse_args(rest).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match base {
        None => flags
            .to_config(nodes, "")
            .unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        Some(fam) => {
            let mut cfg = if nft {
                ProxierConfig::upstream_nft_test_fake(fam)
            } else {
                ProxierConfig::upstream_test_fake(fam)
            };
            for t in rest {
                let (name, _) = t
                    .trim_start_matches('-')
                    .split_once('=')
                    .unwrap_or((t.trim_start_matches('-'), ""));
                match name {
                    "iptables-localhost-nodeports" => {
                        cfg.localhost_nodeports = flags.iptables_localhost_nodeports
                    }
                    "nodeport-addresses" => {
                        cfg.nodeport_addresses = flags
                            .nodeport_addresses
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    }
                    "masquerade-all" => cfg.masquerade_all = flags.masquerade_all,
                    "service-cidrs" => {
                        cfg.service_cidrs = flags
                            .service_cidrs
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    }
                    "nfacct" => cfg.nfacct = flags.nfacct,
                    "random-fully" => cfg.random_fully = flags.random_fully,
                    "conntrack-tcp-be-liberal" => {
                        cfg.conntrack_tcp_be_liberal = flags.conntrack_tcp_be_liberal
                    }
                    "cluster-cidr" => {
                        cfg.cluster_cidrs = flags
                            .cluster_cidr
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    }
                    "hostname-override" => {
                        cfg.node_name = flags.hostname_override.clone().unwrap_or_default()
                    }
                    "node-ip" => {
                        cfg.node_ip = flags
                            .node_ip
                            .as_deref()
                            .and_then(netrules::kubeproxy::parse_flag_ip)
                    }
                    other => panic!(
                        "{}: flag --{other} not supported with @upstream-fake",
                        path.display()
                    ),
                }
            }
            cfg
        }
    }
}

/// A line diff (longest common subsequence), `-` expected, `+` got, with 2 lines of context.
pub fn diff(expected: &str, got: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let mut out = String::new();
    let near = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    let mut skipped = false;
    for (k, (c, l)) in ops.iter().enumerate() {
        if *c != ' ' || near(k) {
            if skipped {
                out.push_str("   ...\n");
                skipped = false;
            }
            out.push_str(&format!("{c}  {l}\n"));
        } else {
            skipped = true;
        }
    }
    out
}
