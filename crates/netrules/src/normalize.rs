//! Test helpers that mirror kube-proxy's own: `sortIPTablesRules` (the normal form its
//! full-dump expectations are written in) and `checkIPTablesRuleJumps` (every jump target
//! declared and filled, every declared chain used); for the nftables mode,
//! `sortNFTablesTransaction` ([`sort_nft_like_upstream`]) and a reference check over a
//! `Fake.Dump()` ([`check_nft_consistency`]).

use std::collections::{BTreeMap, BTreeSet};

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

/// The rank upstream's `objectOrder` gives an object type (higher sorts earlier).
fn nft_object_order(kind: &str) -> u8 {
    match kind {
        "table" => 10,
        "chain" => 9,
        "rule" => 8,
        "set" => 7,
        "map" => 6,
        "element" => 5,
        _ => 0,
    }
}

/// `sortNFTablesTransaction` (kube-proxy's `pkg/proxy/nftables/helpers_test.go`), the normal
/// form both sides of `assertNFTablesTransactionEqual` go through before being compared: blank
/// lines and lines starting with `#` are dropped (no other trimming: a line's own whitespace
/// counts), then the lines are stable-sorted by object type (table, chain, rule, set, map,
/// element, anything else), then by object name (the fifth space-separated word), then, except
/// for rules, which keep the order they were added in, by the whole line. The lines are joined
/// with `\n` and no final newline, as upstream's are.
///
/// Upstream's comparator calls two lines of different unknown types (e.g. `counter` and
/// `flowtable`) each less than the other; here they are ordered by type word instead, which
/// only matters for dumps upstream never compares. A line of fewer than five words (which
/// upstream assumes cannot occur) is an error.
pub fn sort_nft_like_upstream(dump: &str) -> Result<String, String> {
    let mut lines: Vec<&str> = dump
        .split('\n')
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for l in &lines {
        if l.split(' ').count() < 5 {
            return Err(format!("nftables line with fewer than 5 words: {l:?}"));
        }
    }
    let key = |l: &str| -> (u8, String, String) {
        let w: Vec<&str> = l.split(' ').collect();
        (nft_object_order(w[1]), w[1].to_string(), w[4].to_string())
    };
    lines.sort_by(|a, b| {
        let (oa, ta, na) = key(a);
        let (ob, tb, nb) = key(b);
        ob.cmp(&oa)
            .then_with(|| {
                if oa == 0 {
                    ta.cmp(&tb)
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then_with(|| na.cmp(&nb))
            .then_with(|| {
                if ta == "rule" && tb == "rule" {
                    std::cmp::Ordering::Equal
                } else {
                    a.cmp(b)
                }
            })
    });
    Ok(lines.join("\n"))
}

/// Removes a trailing ` comment "..."` (rules end with it).
fn strip_trailing_comment(rule: &str) -> &str {
    match rule.rfind(" comment \"") {
        Some(i) if rule.ends_with('"') => &rule[..i],
        _ => rule,
    }
}

/// Removes every `comment "..."` (an element's comment sits between key and value).
fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("comment \"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "comment \"".len()..];
        let mut end = None;
        let mut esc = false;
        for (j, c) in after.char_indices() {
            match c {
                '\\' if !esc => esc = true,
                '"' if !esc => {
                    end = Some(j);
                    break;
                }
                _ => esc = false,
            }
        }
        match end {
            Some(j) => rest = &after[j + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The chains a rule or element value jumps or goes to.
fn verdict_targets(text: &str) -> Vec<String> {
    let w: Vec<&str> = text.split_whitespace().collect();
    w.windows(2)
        .filter(|p| p[0] == "jump" || p[0] == "goto")
        .map(|p| p[1].trim_end_matches([',', '}', ';']).to_string())
        .collect()
}

/// Checks that a `Fake.Dump()` (or any list of `add` lines of one table) refers only to what
/// it defines: each rule's chain exists, every `jump`/`goto` target (in a rule, including an
/// anonymous verdict map, or in a map element's value) is a defined chain, every `@name` a
/// rule uses is a defined set or map, every element's container is a defined set or map, and
/// elements of maps have a value while elements of sets do not. Blank lines and `#` comments
/// are ignored; any other line that is not an `add` is an error. All problems are reported
/// together, sorted.
pub fn check_nft_consistency(dump: &str) -> Result<(), String> {
    let mut chains: BTreeSet<String> = BTreeSet::new();
    // name -> is a map
    let mut containers: BTreeMap<String, bool> = BTreeMap::new();
    let mut rules: Vec<(String, String)> = Vec::new();
    let mut elements: Vec<(String, String)> = Vec::new();
    let mut problems: BTreeSet<String> = BTreeSet::new();
    for line in dump.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = t.splitn(6, ' ').collect();
        if w.len() < 4 || w[0] != "add" {
            problems.insert(format!("not an add line: {t:?}"));
            continue;
        }
        let name = w.get(4).copied().unwrap_or("").to_string();
        let rest = w.get(5).copied().unwrap_or("").to_string();
        match w[1] {
            "table" | "counter" => {}
            "chain" => {
                chains.insert(name);
            }
            "set" => {
                containers.insert(name, false);
            }
            "map" => {
                containers.insert(name, true);
            }
            "rule" => rules.push((name, rest)),
            "element" => elements.push((name, rest)),
            other => {
                problems.insert(format!("unknown object type {other:?}: {t:?}"));
            }
        }
    }
    for (chain, rule) in &rules {
        if !chains.contains(chain) {
            problems.insert(format!("rule in undefined chain {chain}: {rule:?}"));
        }
        let body = strip_trailing_comment(rule);
        for target in verdict_targets(body) {
            if !chains.contains(&target) {
                problems.insert(format!("rule of {chain} jumps to undefined chain {target}"));
            }
        }
        for word in body.split_whitespace() {
            if let Some(set) = word.strip_prefix('@') {
                if !containers.contains_key(set) {
                    problems.insert(format!("rule of {chain} uses undefined set or map @{set}"));
                }
            }
        }
    }
    for (container, body) in &elements {
        let Some(&is_map) = containers.get(container) else {
            problems.insert(format!(
                "element of undefined set or map {container}: {body:?}"
            ));
            continue;
        };
        let inner = body
            .trim()
            .trim_start_matches('{')
            .trim_end_matches('}')
            .to_string();
        let inner = strip_comments(&inner);
        let value = inner.split_once(" : ").map(|(_, v)| v.trim().to_string());
        match (is_map, &value) {
            (true, None) => {
                problems.insert(format!(
                    "element of map {container} without a value: {body:?}"
                ));
            }
            (false, Some(_)) => {
                problems.insert(format!("element of set {container} with a value: {body:?}"));
            }
            _ => {}
        }
        for target in verdict_targets(value.as_deref().unwrap_or("")) {
            if !chains.contains(&target) {
                problems.insert(format!(
                    "element of {container} goes to undefined chain {target}"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into_iter().collect::<Vec<_>>().join("\n"))
    }
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

    #[test]
    fn nft_sorting_matches_upstream_helper() {
        // The shape of upstream's Test_sortNFTablesTransaction: comments and blank lines go,
        // types order table, chain, rule, set, map, element; rules keep their order within a
        // chain; other objects sort by line.
        let input = "\nadd table ip testing { comment \"rules for kube-proxy\" ; }\n\nadd chain ip testing masquerading\nadd rule ip testing masquerading mark and 0x4000 == 0 return\nadd rule ip testing masquerading mark set mark xor 0x4000\nadd map ip testing service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }\nadd set ip testing firewall { type ipv4_addr ; }\n# svc1\nadd chain ip testing firewall-check\nadd rule ip testing firewall-check drop\nadd element ip testing service-ips { 192.168.99.22 . tcp . 80 : drop }\nadd element ip testing service-ips { 1.2.3.4 . tcp . 80 : drop }\nadd element ip testing firewall { 1.2.3.4 }\n";
        let want = "add table ip testing { comment \"rules for kube-proxy\" ; }\nadd chain ip testing firewall-check\nadd chain ip testing masquerading\nadd rule ip testing firewall-check drop\nadd rule ip testing masquerading mark and 0x4000 == 0 return\nadd rule ip testing masquerading mark set mark xor 0x4000\nadd set ip testing firewall { type ipv4_addr ; }\nadd map ip testing service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }\nadd element ip testing firewall { 1.2.3.4 }\nadd element ip testing service-ips { 1.2.3.4 . tcp . 80 : drop }\nadd element ip testing service-ips { 192.168.99.22 . tcp . 80 : drop }";
        assert_eq!(sort_nft_like_upstream(input).unwrap(), want);
        // Idempotent, and insensitive to the input order of non-rule lines.
        assert_eq!(sort_nft_like_upstream(want).unwrap(), want);
        let mut shuffled: Vec<&str> = want.lines().collect();
        shuffled.reverse();
        let rev = shuffled.join("\n");
        let got = sort_nft_like_upstream(&rev).unwrap();
        // Reversing swaps the two masquerading rules, which upstream keeps in input order.
        assert!(got.find("xor").unwrap() < got.find("== 0 return").unwrap());
        assert!(sort_nft_like_upstream("add table ip x\n").is_err());
        // Whitespace is significant, as in upstream's cmp.Diff.
        assert_ne!(
            sort_nft_like_upstream("add chain ip t a ").unwrap(),
            sort_nft_like_upstream("add chain ip t a").unwrap()
        );
    }

    #[test]
    fn nft_consistency() {
        let ok = "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\nadd chain ip kube-proxy services\nadd chain ip kube-proxy reject-chain { comment \"helper for @no-endpoint-services\" ; }\nadd chain ip kube-proxy service-X-ns/svc/tcp/p80\nadd chain ip kube-proxy endpoint-Y-ns/svc/tcp/p80__10.0.0.1/80\nadd set ip kube-proxy affinity-Y-ns/svc/tcp/p80__10.0.0.1/80 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }\nadd map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }\nadd set ip kube-proxy cluster-ips { type ipv4_addr ; }\nadd rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips\nadd rule ip kube-proxy services ip daddr @cluster-ips reject comment \"see @nothing\"\nadd rule ip kube-proxy service-X-ns/svc/tcp/p80 ip saddr @affinity-Y-ns/svc/tcp/p80__10.0.0.1/80 goto endpoint-Y-ns/svc/tcp/p80__10.0.0.1/80\nadd rule ip kube-proxy service-X-ns/svc/tcp/p80 numgen random mod 1 vmap { 0 : goto endpoint-Y-ns/svc/tcp/p80__10.0.0.1/80 }\nadd rule ip kube-proxy reject-chain reject\nadd element ip kube-proxy cluster-ips { 172.30.0.1 }\nadd element ip kube-proxy service-ips { 172.30.0.1 . tcp . 80 : goto service-X-ns/svc/tcp/p80 }\nadd element ip kube-proxy service-ips { 172.30.0.2 . tcp . 80 comment \"a : b\" : goto reject-chain }\n";
        assert_eq!(check_nft_consistency(ok), Ok(()));
        let bad = "add chain ip kube-proxy services\nadd set ip kube-proxy cluster-ips { type ipv4_addr ; }\nadd rule ip kube-proxy services jump nowhere\nadd rule ip kube-proxy services ip daddr @missing-set drop\nadd rule ip kube-proxy ghost reject\nadd element ip kube-proxy gone { 1.2.3.4 }\nadd element ip kube-proxy cluster-ips { 1.2.3.4 : goto services }\nadd map ip kube-proxy m { type inet_proto . inet_service : verdict ; }\nadd element ip kube-proxy m { tcp . 80 : goto stale-chain }\nadd element ip kube-proxy m { tcp . 81 }\nflush chain ip kube-proxy services\n";
        let err = check_nft_consistency(bad).unwrap_err();
        for want in [
            "rule of services jumps to undefined chain nowhere",
            "rule of services uses undefined set or map @missing-set",
            "rule in undefined chain ghost",
            "element of undefined set or map gone",
            "element of set cluster-ips with a value",
            "element of m goes to undefined chain stale-chain",
            "element of map m without a value",
            "not an add line",
        ] {
            assert!(err.contains(want), "{want:?} missing from:\n{err}");
        }
    }
}
