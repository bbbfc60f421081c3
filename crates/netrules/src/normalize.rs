//! Test helpers that mirror kube-proxy's own: `sortIPTablesRules` (the normal form its
//! full-dump expectations are written in) and `checkIPTablesRuleJumps` (every jump target
//! declared and filled, every declared chain used).

use std::collections::BTreeSet;

struct DumpChain {
    name: String,
    counters: String,
    rules: Vec<String>,
    deleted: bool,
}

struct DumpTable {
    name: String,
    chains: Vec<DumpChain>,
}

/// Splits a line into words as upstream's `wordRegex` does (a quoted string is one word, with
/// its quotes removed).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        if b[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j] != b'"' {
                j += 1;
            }
            out.push(line[start..j.min(b.len())].to_string());
            i = j + 1;
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push(line[start..i].trim_matches('"').to_string());
        }
    }
    out
}

fn comment_of(rule: &str) -> Option<String> {
    let w = words(rule);
    w.iter()
        .position(|x| x == "--comment")
        .and_then(|i| w.get(i + 1).cloned())
}

fn parse(text: &str) -> Result<Vec<DumpTable>, String> {
    let mut tables: Vec<DumpTable> = Vec::new();
    #[derive(PartialEq)]
    enum St {
        Table,
        Decl,
        Rules,
    }
    let mut st = St::Table;
    for raw in text.trim_matches('\n').split('\n') {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        loop {
            match st {
                St::Table => {
                    let name = line.strip_prefix('*').ok_or_else(|| format!("could not parse iptables data (table {} starts with {line:?} not a table name)", tables.len() + 1))?;
                    tables.push(DumpTable {
                        name: name.to_string(),
                        chains: Vec::new(),
                    });
                    st = St::Decl;
                }
                St::Decl => {
                    if let Some(rest) = line.strip_prefix(':') {
                        if let Some((name, counters)) = rest.split_once(' ') {
                            let counters =
                                counters.split_once(' ').map(|(_, c)| c).unwrap_or("[0:0]");
                            let t = tables.last_mut().ok_or("no table")?;
                            t.chains.push(DumpChain {
                                name: name.to_string(),
                                counters: counters.to_string(),
                                rules: Vec::new(),
                                deleted: false,
                            });
                            break;
                        }
                    }
                    st = St::Rules;
                    continue;
                }
                St::Rules => {
                    let t = tables.last_mut().ok_or("no table")?;
                    if let Some(rest) = line.strip_prefix("-A ") {
                        let chain = rest.split(' ').next().unwrap_or("");
                        let c = t
                            .chains
                            .iter_mut()
                            .find(|c| c.name == chain)
                            .ok_or_else(|| {
                                format!("error parsing rule {line:?}: no such chain {chain:?}")
                            })?;
                        if c.deleted {
                            return Err(format!("cannot add rules to deleted chain {chain:?}"));
                        }
                        c.rules.push(line.to_string());
                    } else if let Some(chain) = line.strip_prefix("-X ") {
                        let c = t
                            .chains
                            .iter_mut()
                            .find(|c| c.name == chain)
                            .ok_or_else(|| {
                                format!("error parsing rule {line:?}: no such chain {chain:?}")
                            })?;
                        if !c.rules.is_empty() {
                            return Err(format!(
                                "cannot delete chain {chain:?} after adding rules"
                            ));
                        }
                        c.deleted = true;
                    } else if line == "COMMIT" {
                        st = St::Table;
                    } else {
                        return Err(format!("error parsing rule {line:?}"));
                    }
                }
            }
            break;
        }
    }
    if st != St::Table {
        return Err("could not parse iptables data (no COMMIT line?)".into());
    }
    Ok(tables)
}

fn service_name(rule: &str) -> Option<String> {
    comment_of(rule).map(|c| match c.find([' ', ':']) {
        Some(i) => c[..i].to_string(),
        None => c,
    })
}

fn chain_rank(name: &str) -> (u8, &str) {
    match name {
        "KUBE-NODEPORTS" => (0, ""),
        "KUBE-SERVICES" => (1, ""),
        n if n.starts_with("KUBE-") => (2, n),
        n => (3, n),
    }
}

/// `sortIPTablesRules`: tables by name; chains KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-*
/// alphabetically, the rest alphabetically; rules grouped per chain; KUBE-NODEPORTS and
/// KUBE-SERVICES rules stable-sorted by the service name in their comment, the nat
/// "must be the last rule" rule kept last; `-X` lines last.
pub fn sort_like_upstream(text: &str) -> Result<String, String> {
    let mut tables = parse(text.trim_start_matches([' ', '\t', '\n']))?;
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    for t in &mut tables {
        t.chains
            .sort_by(|a, b| chain_rank(&a.name).cmp(&chain_rank(&b.name)));
        for c in &mut t.chains {
            if c.name == "KUBE-NODEPORTS" || c.name == "KUBE-SERVICES" {
                let nat_services = t.name == "nat" && c.name == "KUBE-SERVICES";
                c.rules.sort_by_key(|r| {
                    let last = nat_services
                        && comment_of(r).is_some_and(|x| x.contains("must be the last rule"));
                    (last, if last { None } else { service_name(r) })
                });
            }
        }
    }
    let mut s = String::new();
    for t in &tables {
        s.push_str(&format!("*{}\n", t.name));
        for c in &t.chains {
            s.push_str(&format!(":{} - {}\n", c.name, c.counters));
        }
        for c in &t.chains {
            for r in &c.rules {
                s.push_str(r);
                s.push('\n');
            }
        }
        for c in &t.chains {
            if c.deleted {
                s.push_str(&format!("-X {}\n", c.name));
            }
        }
        s.push_str("COMMIT\n");
    }
    Ok(s)
}

const BUILTIN_TARGETS: [&str; 8] = [
    "ACCEPT",
    "REJECT",
    "DROP",
    "MARK",
    "RETURN",
    "DNAT",
    "SNAT",
    "MASQUERADE",
];
const FIXED_CHAINS: [&str; 8] = [
    "KUBE-SERVICES",
    "KUBE-EXTERNAL-SERVICES",
    "KUBE-NODEPORTS",
    "KUBE-POSTROUTING",
    "KUBE-FORWARD",
    "KUBE-MARK-MASQ",
    "KUBE-PROXY-FIREWALL",
    "KUBE-FIREWALL",
];

/// `checkIPTablesRuleJumps`: in every table, each `-j` target and each `-A` chain is declared,
/// each jumped-to chain has rules (KUBE-NODEPORTS excepted), and each declared chain is jumped
/// to (the fixed chains excepted). Errors name the chains, sorted.
pub fn check_jumps(text: &str) -> Result<(), String> {
    let mut table = String::new();
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    let mut filled: BTreeSet<String> = BTreeSet::new();
    let mut jumped: BTreeSet<String> = BTreeSet::new();
    let check = |table: &str,
                 created: &BTreeSet<String>,
                 deleted: &BTreeSet<String>,
                 filled: &BTreeSet<String>,
                 jumped: &BTreeSet<String>|
     -> Result<(), String> {
        let created: BTreeSet<&String> = created.iter().filter(|c| !deleted.contains(*c)).collect();
        let jumped: BTreeSet<&String> = jumped
            .iter()
            .filter(|j| !BUILTIN_TARGETS.contains(&j.as_str()))
            .collect();
        let missing: Vec<&String> = jumped
            .iter()
            .chain(filled.iter().collect::<Vec<_>>().iter())
            .filter(|c| !created.contains(**c))
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "some chains in {table} are used but were not created: {missing:?}"
            ));
        }
        let empty: Vec<&&String> = jumped
            .iter()
            .filter(|c| !filled.contains(**c) && c.as_str() != "KUBE-NODEPORTS")
            .collect();
        if !empty.is_empty() {
            return Err(format!(
                "some chains in {table} are jumped to but have no rules: {empty:?}"
            ));
        }
        let extra: Vec<&&String> = created
            .iter()
            .filter(|c| !jumped.contains(*c) && !FIXED_CHAINS.contains(&c.as_str()))
            .collect();
        if !extra.is_empty() {
            return Err(format!(
                "some chains in {table} are created but not used: {extra:?}"
            ));
        }
        Ok(())
    };
    for line in text.lines() {
        let line = line.trim();
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
            created.clear();
            deleted.clear();
            filled.clear();
            jumped.clear();
        } else if let Some(rest) = line.strip_prefix(':') {
            created.insert(rest.split(' ').next().unwrap_or("").to_string());
        } else if let Some(c) = line.strip_prefix("-X ") {
            deleted.insert(c.split(' ').next().unwrap_or("").to_string());
        } else if let Some(rest) = line.strip_prefix("-A ") {
            filled.insert(rest.split(' ').next().unwrap_or("").to_string());
            let w: Vec<&str> = line.split(' ').collect();
            if let Some(i) = w.iter().position(|x| *x == "-j") {
                if let Some(t) = w.get(i + 1) {
                    jumped.insert(t.to_string());
                }
            }
        } else if line == "COMMIT" {
            check(&table, &created, &deleted, &filled, &jumped)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps() {
        let ok = "*filter\nCOMMIT\n*nat\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-X - [0:0]\n-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n-A KUBE-SERVICES -m comment --comment \"a cluster IP\" -j KUBE-SVC-X\n-A KUBE-SVC-X -j KUBE-MARK-MASQ\nCOMMIT\n";
        assert!(check_jumps(ok).is_ok());
        let missing = "*filter\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-SVC-X\nCOMMIT\n";
        assert_eq!(
            check_jumps(missing).unwrap_err(),
            "some chains in nat are used but were not created: [\"KUBE-SVC-X\"]"
        );
        let empty = "*filter\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-X - [0:0]\n-A KUBE-SERVICES -j KUBE-SVC-X\nCOMMIT\n";
        assert!(check_jumps(empty)
            .unwrap_err()
            .contains("jumped to but have no rules"));
        let unused = "*filter\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-X - [0:0]\nCOMMIT\n";
        assert!(check_jumps(unused)
            .unwrap_err()
            .contains("created but not used"));
    }

    #[test]
    fn sorting_keeps_junk_and_orders_services() {
        let input = "*filter\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]\n:KUBE-AAAAA - [0:0]\n:KUBE-ZZZZZ - [0:0]\n:WHY-IS-THIS-CHAIN-HERE - [0:0]\n-A KUBE-SERVICES -m comment --comment \"ns2/svc2:p80 cluster IP\" svc2 line 1\n-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80\n-A KUBE-ZZZZZ -m comment --comment \"mystery chain number 1\"\n-A KUBE-SERVICES -m comment --comment ns2/svc2 svc2 line 2\n-A WHY-IS-THIS-CHAIN-HERE -j ACCEPT\n-A KUBE-SERVICES -m comment --comment \"ns2/svc2 blah\" svc2 line 3\n-A KUBE-AAAAA -m comment --comment \"mystery chain number 2\"\nCOMMIT\n";
        let want = "*filter\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-AAAAA - [0:0]\n:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]\n:KUBE-ZZZZZ - [0:0]\n:WHY-IS-THIS-CHAIN-HERE - [0:0]\n-A KUBE-SERVICES -m comment --comment \"ns2/svc2:p80 cluster IP\" svc2 line 1\n-A KUBE-SERVICES -m comment --comment ns2/svc2 svc2 line 2\n-A KUBE-SERVICES -m comment --comment \"ns2/svc2 blah\" svc2 line 3\n-A KUBE-AAAAA -m comment --comment \"mystery chain number 2\"\n-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80\n-A KUBE-ZZZZZ -m comment --comment \"mystery chain number 1\"\n-A WHY-IS-THIS-CHAIN-HERE -j ACCEPT\nCOMMIT\n";
        assert_eq!(sort_like_upstream(input).unwrap(), want);
        let services = "*filter\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m comment --comment \"ns2/svc2:p80 cluster IP\" svc2 line 1\n-A KUBE-SERVICES -m comment --comment ns2/svc2 svc2 line 2\n-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 cluster IP\" svc1 line 1\n-A KUBE-SERVICES -m comment --comment ns1/svc1 svc1 line 2\nCOMMIT\n";
        let got = sort_like_upstream(services).unwrap();
        assert!(got.find("svc1 line 1").unwrap() < got.find("svc1 line 2").unwrap());
        assert!(got.find("svc1 line 2").unwrap() < got.find("svc2 line 1").unwrap());
    }
}
