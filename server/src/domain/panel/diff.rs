//! The diff between two rule snapshots: grouped by Service and endpoint ("+1 endpoint
//! 10.244.2.7:80; probabilities 0.3333333333/0.5000000000 -> 0.2500000000/…"), with the raw
//! line diff beside it. Pure.

use std::collections::{BTreeMap, BTreeSet};

use netrules::save::Dump;
use serde::Serialize;

use super::graph::service_in_comment;

/// What one Service looks like in a snapshot: its endpoints and the cascade's probabilities.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceRules {
    /// Endpoints (`ip:port`) in the order of the KUBE-SVC chain.
    pub endpoints: Vec<String>,
    /// The `--probability` of each statistic rule, in order (the last endpoint has none).
    pub probabilities: Vec<String>,
    /// Rules (nat and filter) that mention the Service.
    pub rules: BTreeSet<String>,
}

/// Per Service.
pub fn services(dump: &Dump) -> BTreeMap<String, ServiceRules> {
    let mut out: BTreeMap<String, ServiceRules> = BTreeMap::new();
    for t in ["nat", "filter"] {
        let Some(table) = dump.table(t) else { continue };
        for c in &table.chains {
            for r in &c.rules {
                let Some(s) = r.matches.comment().and_then(service_in_comment) else {
                    continue;
                };
                let e = out.entry(s).or_default();
                e.rules.insert(format!("{t}: {}", r.text));
                if t == "nat" && c.name.starts_with("KUBE-SVC-") {
                    if let Some(ep) = r
                        .matches
                        .comment()
                        .and_then(|cm| cm.split_once(" -> "))
                        .map(|(_, ep)| ep.to_string())
                    {
                        e.endpoints.push(ep);
                        if let Some(p) = r.matches.statistic.as_ref().and_then(|s| s.probability) {
                            e.probabilities.push(format!("{p:.10}"));
                        }
                    }
                }
            }
        }
    }
    out
}

/// One Service's change.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceChange {
    /// `ns/name[:port]`.
    pub service: String,
    /// Endpoints added (with pod names where known).
    pub added: Vec<String>,
    /// Endpoints removed.
    pub removed: Vec<String>,
    /// Probabilities before and after, when they changed.
    pub probabilities: Option<(String, String)>,
    /// Rules added / removed that mention the Service.
    pub rules_added: usize,
    /// Rules removed.
    pub rules_removed: usize,
    /// One line for humans.
    pub summary: String,
}

/// A line of the raw diff: `+`, `-` or ` ` and the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    /// `+`, `-`, ` `.
    pub op: char,
    /// The line.
    pub line: String,
}

/// Grouped changes, Services first.
pub fn grouped(before: &Dump, after: &Dump, pods: &BTreeMap<String, String>) -> Vec<ServiceChange> {
    let (a, b) = (services(before), services(after));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let empty = ServiceRules::default();
    let mut out = Vec::new();
    let name_of = |ep: &str| {
        let ip = ep.rsplit_once(':').map(|(ip, _)| ip).unwrap_or(ep);
        match pods.get(ip) {
            Some(p) => format!("{ep} ({})", p.rsplit('/').next().unwrap_or(p)),
            None => ep.to_string(),
        }
    };
    for n in names {
        let (x, y) = (a.get(n).unwrap_or(&empty), b.get(n).unwrap_or(&empty));
        if x == y {
            continue;
        }
        // The endpoints of `from` that `to` lacks, named.
        let lacking = |from: &ServiceRules, to: &ServiceRules| -> Vec<String> {
            from.endpoints
                .iter()
                .filter(|e| !to.endpoints.contains(e))
                .map(|e| name_of(e))
                .collect()
        };
        let added = lacking(y, x);
        let removed = lacking(x, y);
        let probabilities = (x.probabilities != y.probabilities)
            .then(|| (x.probabilities.join("/"), y.probabilities.join("/")));
        let rules_added = y.rules.difference(&x.rules).count();
        let rules_removed = x.rules.difference(&y.rules).count();
        let mut parts = Vec::new();
        if x.rules.is_empty() {
            parts.push("new Service".to_string());
        } else if y.rules.is_empty() {
            parts.push("Service removed".to_string());
        }
        for (sign, eps) in [('+', &added), ('-', &removed)] {
            if !eps.is_empty() {
                parts.push(format!(
                    "{sign}{} endpoint{} {}",
                    eps.len(),
                    if eps.len() == 1 { "" } else { "s" },
                    eps.join(", ")
                ));
            }
        }
        if let Some((p, q)) = &probabilities {
            let show = |s: &str| {
                if s.is_empty() {
                    "(none)".to_string()
                } else {
                    s.to_string()
                }
            };
            parts.push(format!("probabilities {} -> {}", show(p), show(q)));
        }
        if parts.is_empty() {
            parts.push(format!(
                "{rules_added} rule(s) added, {rules_removed} removed"
            ));
        }
        out.push(ServiceChange {
            service: n.clone(),
            summary: format!("{n}: {}", parts.join("; ")),
            added,
            removed,
            probabilities,
            rules_added,
            rules_removed,
        });
    }
    out
}

/// A line diff (longest common subsequence) of two snapshot texts; unchanged lines are kept
/// only within `context` lines of a change.
pub fn raw_diff(before: &str, after: &str, context: usize) -> Vec<DiffLine> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    // Trim the common head and tail so the table stays small on big rulesets.
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let (n, m) = (am.len(), bm.len());
    // The learner decides what a snapshot holds, and the table is n x m: past MAX_DIFF_CELLS
    // there is none, and the middle shows as removed, then added.
    let mut lcs = Vec::new();
    if (n + 1).saturating_mul(m + 1) <= MAX_DIFF_CELLS {
        lcs = vec![vec![0u32; m + 1]; n + 1];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i][j] = if am[i] == bm[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
    }
    let mut all: Vec<DiffLine> = a[..head]
        .iter()
        .map(|l| DiffLine {
            op: ' ',
            line: l.to_string(),
        })
        .collect();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && am[i] == bm[j] {
            all.push(DiffLine {
                op: ' ',
                line: am[i].to_string(),
            });
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs.is_empty() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            all.push(DiffLine {
                op: '-',
                line: am[i].to_string(),
            });
            i += 1;
        } else {
            all.push(DiffLine {
                op: '+',
                line: bm[j].to_string(),
            });
            j += 1;
        }
    }
    all.extend(a[a.len() - tail..].iter().map(|l| DiffLine {
        op: ' ',
        line: l.to_string(),
    }));
    // Distance of each line to the nearest change, in two passes (not every line against every
    // change).
    let mut near = vec![usize::MAX; all.len()];
    let mut last = None;
    for (k, d) in all.iter().enumerate() {
        if d.op != ' ' {
            last = Some(k);
        }
        if let Some(l) = last {
            near[k] = k - l;
        }
    }
    let mut next = None;
    for k in (0..all.len()).rev() {
        if all[k].op != ' ' {
            next = Some(k);
        }
        if let Some(x) = next {
            near[k] = near[k].min(x - k);
        }
    }
    all.into_iter()
        .zip(near)
        .filter(|(d, near)| d.op != ' ' || *near <= context)
        .map(|(d, _)| d)
        .collect()
}

/// The most cells of the line diff's LCS table (4 bytes each): 2000 x 2000 lines.
const MAX_DIFF_CELLS: usize = 4_000_000;

#[cfg(test)]
mod tests {
    use super::super::graph::tests::{pods, SAVE};
    use super::*;

    fn scaled_to_four() -> String {
        SAVE.replace(
            "--probability 0.33333333349 -j KUBE-SEP-AAA",
            "--probability 0.25000000000 -j KUBE-SEP-AAA",
        )
        .replace(
            "--probability 0.50000000000 -j KUBE-SEP-BBB",
            "--probability 0.33333333349 -j KUBE-SEP-BBB",
        )
        .replace(
            "[1:60] -A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment \"default/web -> 10.244.2.2:80\" -j KUBE-SEP-CCC",
            "[1:60] -A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment \"default/web -> 10.244.2.2:80\" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-CCC\n[0:0] -A KUBE-SVC-LOLE4ISW44XBNF3G -m comment --comment \"default/web -> 10.244.2.7:80\" -j KUBE-SEP-DDD",
        )
        .replace(":KUBE-MARK-MASQ - [0:0]", ":KUBE-MARK-MASQ - [0:0]\n:KUBE-SEP-DDD - [0:0]")
        .replace("COMMIT\n*filter", "[0:0] -A KUBE-SEP-DDD -p tcp -m comment --comment \"default/web\" -m tcp -j DNAT --to-destination 10.244.2.7:80\nCOMMIT\n*filter")
    }

    #[test]
    fn scaling_up_reads_as_one_more_endpoint_and_new_probabilities() {
        let a = netrules::save::parse(SAVE).unwrap();
        let b = netrules::save::parse(&scaled_to_four()).unwrap();
        let mut p = pods();
        p.insert("10.244.2.7".into(), "default/web-d".into());
        let g = grouped(&a, &b, &p);
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(
            g[0].summary,
            "default/web: +1 endpoint 10.244.2.7:80 (web-d); probabilities 0.3333333335/0.5000000000 -> 0.2500000000/0.3333333335/0.5000000000"
        );
        assert!(g[0].removed.is_empty());
        // And back.
        let back = grouped(&b, &a, &p);
        assert!(
            back[0]
                .summary
                .contains("-1 endpoint 10.244.2.7:80 (web-d)"),
            "{}",
            back[0].summary
        );
        assert!(grouped(&a, &a, &p).is_empty());
    }

    #[test]
    fn raw_diff_shows_added_and_removed_lines_with_context() {
        let d = raw_diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nX\ne\nf\ng\nh\n", 1);
        let ops: Vec<String> = d.iter().map(|l| format!("{}{}", l.op, l.line)).collect();
        assert_eq!(ops, vec![" c", "-d", "+X", " e", " g", "+h"]);
        let big_a = super::super::graph::strip_counters(SAVE);
        let big_b = super::super::graph::strip_counters(&scaled_to_four());
        let d = raw_diff(&big_a, &big_b, 0);
        assert!(d
            .iter()
            .any(|l| l.op == '+' && l.line.contains("--to-destination 10.244.2.7:80")));
        assert!(d.iter().any(|l| l.op == '-'
            && l.line
                .contains("--probability 0.50000000000 -j KUBE-SEP-BBB")));
        assert!(d.iter().all(|l| l.op != ' '));
    }
}
