//! A parser for `iptables-save` output (and `iptables-restore` input) that understands the
//! matches and targets pod-to-pod filtering uses: addresses, interfaces (with `+`), protocol,
//! ports (`--dport`, `-m multiport --dports`), conntrack state, marks, comments, `-j`/`-g`,
//! `MARK --set-xmark`. Anything else is kept as [`Match::Unsupported`] so that a tracer can say
//! it did not evaluate it instead of guessing.
//!
//! This parser is the one the policy enforcer and `policy explain` use. It was written while
//! the crate-level [`crate::save`] parser (used by the kube-proxy tracer) did not exist yet;
//! the two overlap and should become one (tracked in the NetworkPolicy issue's closing note).

use std::fmt;

use super::objects::Cidr;

/// A line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}: {text}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// The line.
    pub text: String,
}

/// One match of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// `[!] -s CIDR`
    Source(bool, Cidr),
    /// `[!] -d CIDR`
    Destination(bool, Cidr),
    /// `[!] -i NAME` (`+` at the end is a prefix wildcard)
    InInterface(bool, String),
    /// `[!] -o NAME`
    OutInterface(bool, String),
    /// `[!] -p PROTO` (lower case; numbers kept as written)
    Protocol(bool, String),
    /// `[!] --dport A[:B]` or `--dports A,B:C` as inclusive ranges.
    DestinationPorts(bool, Vec<(u16, u16)>),
    /// `[!] --sport …`
    SourcePorts(bool, Vec<(u16, u16)>),
    /// `-m conntrack [!] --ctstate A,B` / `-m state --state`
    CtState(bool, Vec<String>),
    /// `-m mark [!] --mark VALUE/MASK`
    Mark(bool, u32, u32),
    /// A module or option this parser does not evaluate (`-m addrtype --dst-type LOCAL`).
    Unsupported(String),
}

/// What a rule does when it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// No `-j`: counts and continues.
    None,
    /// `-j ACCEPT`
    Accept,
    /// `-j DROP`
    Drop,
    /// `-j REJECT …`
    Reject,
    /// `-j RETURN`
    Return,
    /// `-j MARK --set-xmark V/M` (`xor`) or `--set-mark V/M` (or).
    Mark {
        /// bits to set (xor'ed after clearing `mask`)
        value: u32,
        /// bits cleared first
        mask: u32,
    },
    /// `-j CHAIN`
    Jump(String),
    /// `-g CHAIN`
    Goto(String),
}

/// One `-A` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedRule {
    /// The chain.
    pub chain: String,
    /// Everything after `-A CHAIN `.
    pub args: String,
    /// Parsed matches, in order.
    pub matches: Vec<Match>,
    /// Parsed target.
    pub target: Target,
    /// Every `--comment` text, in order.
    pub comments: Vec<String>,
    /// 1-based line in the input.
    pub line: usize,
}

impl SavedRule {
    /// `-A CHAIN ARGS`.
    pub fn text(&self) -> String {
        if self.args.is_empty() {
            format!("-A {}", self.chain)
        } else {
            format!("-A {} {}", self.chain, self.args)
        }
    }

    /// The comments that are not Calico's `cali:<hash>` rule ids, joined with "; ".
    pub fn description(&self) -> String {
        self.comments
            .iter()
            .filter(|c| !c.starts_with("cali:"))
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The `cali:<hash>` id, if any.
    pub fn cali_id(&self) -> Option<&str> {
        self.comments.iter().find_map(|c| c.strip_prefix("cali:"))
    }
}

impl fmt::Display for SavedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// A chain with its rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedChain {
    /// Name.
    pub name: String,
    /// `ACCEPT`/`DROP` for built-in chains, `None` for user chains (`-`).
    pub policy: Option<String>,
    /// Rules in order.
    pub rules: Vec<SavedRule>,
}

/// One `*table` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedTable {
    /// `filter`, `nat`, …
    pub name: String,
    /// Chains in declaration order.
    pub chains: Vec<SavedChain>,
}

impl SavedTable {
    /// The chain called `name`.
    pub fn chain(&self, name: &str) -> Option<&SavedChain> {
        self.chains.iter().find(|c| c.name == name)
    }
    /// Total number of rules.
    pub fn rule_count(&self) -> usize {
        self.chains.iter().map(|c| c.rules.len()).sum()
    }
}

/// Splits a rule into words: double-quoted strings are one word (quotes removed, `\"` and
/// `\\` unescaped), as iptables-save writes them.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                '"' => quoted = false,
                _ => cur.push(c),
            }
        } else if c == '"' {
            quoted = true;
            in_word = true;
        } else if c.is_whitespace() {
            if in_word {
                out.push(std::mem::take(&mut cur));
                in_word = false;
            }
        } else {
            cur.push(c);
            in_word = true;
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

fn parse_num(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn value_mask(s: &str) -> Option<(u32, u32)> {
    match s.split_once('/') {
        Some((v, m)) => Some((parse_num(v)?, parse_num(m)?)),
        None => Some((parse_num(s)?, u32::MAX)),
    }
}

fn port_ranges(s: &str) -> Option<Vec<(u16, u16)>> {
    s.split(',')
        .map(|p| match p.split_once(':') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => {
                let n = p.parse().ok()?;
                Some((n, n))
            }
        })
        .collect()
}

/// Parses the arguments of one rule (everything after `-A CHAIN`).
pub fn parse_rule(chain: &str, args: &str, line: usize) -> Result<SavedRule, String> {
    let w = words(args);
    let mut matches = Vec::new();
    let mut comments = Vec::new();
    let mut target = Target::None;
    let mut neg = false;
    let mut module = String::new();
    let mut i = 0;
    let next = |i: &mut usize| -> Result<String, String> {
        *i += 1;
        w.get(*i)
            .cloned()
            .ok_or_else(|| format!("{} needs a value", w[*i - 1]))
    };
    while i < w.len() {
        let tok = w[i].as_str();
        match tok {
            "!" => {
                neg = true;
                i += 1;
                continue;
            }
            "-s" | "--source" | "-d" | "--destination" => {
                let v = next(&mut i)?;
                match Cidr::parse(&v) {
                    Some(c) if tok.starts_with("-s") || tok == "--source" => {
                        matches.push(Match::Source(neg, c))
                    }
                    Some(c) => matches.push(Match::Destination(neg, c)),
                    None => matches.push(Match::Unsupported(format!("{tok} {v}"))),
                }
            }
            "-i" | "--in-interface" => matches.push(Match::InInterface(neg, next(&mut i)?)),
            "-o" | "--out-interface" => matches.push(Match::OutInterface(neg, next(&mut i)?)),
            "-p" | "--protocol" => {
                matches.push(Match::Protocol(neg, next(&mut i)?.to_ascii_lowercase()))
            }
            "-m" | "--match" => {
                module = next(&mut i)?;
                if !matches!(
                    module.as_str(),
                    "tcp"
                        | "udp"
                        | "sctp"
                        | "multiport"
                        | "conntrack"
                        | "state"
                        | "mark"
                        | "comment"
                ) {
                    // Collect the module's options for the message.
                    let mut desc = format!("-m {module}");
                    while i + 1 < w.len()
                        && !matches!(
                            w[i + 1].as_str(),
                            "-m" | "-j"
                                | "-g"
                                | "--match"
                                | "--jump"
                                | "--goto"
                                | "-s"
                                | "-d"
                                | "-i"
                                | "-o"
                                | "-p"
                        )
                    {
                        i += 1;
                        desc.push(' ');
                        desc.push_str(&w[i]);
                    }
                    matches.push(Match::Unsupported(desc));
                }
            }
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                let v = next(&mut i)?;
                let r = port_ranges(&v).ok_or_else(|| format!("bad port {v:?}"))?;
                matches.push(Match::DestinationPorts(neg, r));
            }
            "--sport" | "--source-port" | "--sports" | "--source-ports" => {
                let v = next(&mut i)?;
                let r = port_ranges(&v).ok_or_else(|| format!("bad port {v:?}"))?;
                matches.push(Match::SourcePorts(neg, r));
            }
            "--ctstate" | "--state" => {
                let v = next(&mut i)?;
                matches.push(Match::CtState(
                    neg,
                    v.split(',').map(str::to_string).collect(),
                ));
            }
            "--mark" if module == "mark" => {
                let v = next(&mut i)?;
                let (val, mask) = value_mask(&v).ok_or_else(|| format!("bad mark {v:?}"))?;
                matches.push(Match::Mark(neg, val, mask));
            }
            "--comment" => comments.push(next(&mut i)?),
            "-j" | "--jump" | "-g" | "--goto" => {
                let t = next(&mut i)?;
                let goto = tok == "-g" || tok == "--goto";
                target = match t.as_str() {
                    _ if goto => Target::Goto(t),
                    "ACCEPT" => Target::Accept,
                    "DROP" => Target::Drop,
                    "REJECT" => Target::Reject,
                    "RETURN" => Target::Return,
                    "MARK" => {
                        let mut value = 0;
                        let mut mask = 0;
                        let mut found = false;
                        while i + 1 < w.len() {
                            let o = w[i + 1].as_str();
                            if !o.starts_with("--") {
                                break;
                            }
                            i += 1;
                            let v = next(&mut i)?;
                            let (a, m) = value_mask(&v).ok_or_else(|| format!("bad mark {v:?}"))?;
                            match o {
                                "--set-xmark" => (value, mask, found) = (a, m, true),
                                "--set-mark" => {
                                    (value, mask, found) =
                                        (a, if m == u32::MAX { u32::MAX } else { m | a }, true)
                                }
                                "--or-mark" => (value, mask, found) = (a, a, true),
                                "--and-mark" => (value, mask, found) = (0, !a, true),
                                _ => {}
                            }
                        }
                        if !found {
                            return Err("MARK without --set-xmark/--set-mark".into());
                        }
                        Target::Mark { value, mask }
                    }
                    _ => {
                        // A user chain, or an extension target (LOG, NFLOG, DNAT, …) whose
                        // options follow; the tracer tells them apart by the declared chains.
                        while i + 1 < w.len() && w[i + 1].starts_with("--") {
                            i += 1;
                            if i + 1 < w.len() && !w[i + 1].starts_with('-') {
                                i += 1;
                            }
                        }
                        Target::Jump(t)
                    }
                };
            }
            other if other.starts_with("--") => {
                // An option of a module we do not evaluate: keep it, with its value.
                let mut desc = format!("-m {module} {other}");
                if i + 1 < w.len() && !w[i + 1].starts_with('-') {
                    i += 1;
                    desc.push(' ');
                    desc.push_str(&w[i]);
                }
                matches.push(Match::Unsupported(desc));
            }
            other => return Err(format!("unexpected {other:?}")),
        }
        neg = false;
        i += 1;
    }
    Ok(SavedRule {
        chain: chain.to_string(),
        args: args.to_string(),
        matches,
        target,
        comments,
        line,
    })
}

/// Parses `iptables-save` output (one or more tables).
pub fn parse(text: &str) -> Result<Vec<SavedTable>, ParseError> {
    let mut tables: Vec<SavedTable> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let lineno = n + 1;
        let e = |m: &str| ParseError {
            line: lineno,
            message: m.to_string(),
            text: line.to_string(),
        };
        if line.is_empty() || line.starts_with('#') || line == "COMMIT" {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            tables.push(SavedTable {
                name: name.to_string(),
                chains: Vec::new(),
            });
            continue;
        }
        let table = tables
            .last_mut()
            .ok_or_else(|| e("rule before any *table line"))?;
        if let Some(decl) = line.strip_prefix(':') {
            let mut parts = decl.split_whitespace();
            let name = parts
                .next()
                .ok_or_else(|| e("chain declaration without a name"))?;
            let policy = parts.next().filter(|p| *p != "-").map(str::to_string);
            match table.chains.iter_mut().find(|c| c.name == name) {
                Some(c) => c.policy = policy,
                None => table.chains.push(SavedChain {
                    name: name.to_string(),
                    policy,
                    rules: Vec::new(),
                }),
            }
            continue;
        }
        let rest = line
            .strip_prefix("-A ")
            .ok_or_else(|| e("expected -A, :CHAIN, *TABLE or COMMIT"))?;
        let (chain, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let rule = parse_rule(chain, args, lineno).map_err(|m| e(&m))?;
        match table.chains.iter_mut().find(|c| c.name == chain) {
            Some(c) => c.rules.push(rule),
            None => return Err(e(&format!("rule for undeclared chain {chain}"))),
        }
    }
    Ok(tables)
}

/// Parses and returns the `filter` table (empty when absent).
pub fn parse_filter(text: &str) -> Result<SavedTable, ParseError> {
    Ok(parse(text)?
        .into_iter()
        .find(|t| t.name == "filter")
        .unwrap_or_else(|| SavedTable {
            name: "filter".into(),
            chains: Vec::new(),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_calico_style_rules() {
        let text = "*filter\n:FORWARD ACCEPT [0:0]\n:cali-x - [0:0]\n-A FORWARD -m comment --comment \"cali:abc\" -j cali-x\n-A cali-x -s 10.244.1.5/32 -p tcp -m comment --comment \"cali:def\" -m comment --comment \"Policy x/knp.default.a ingress[0]\" -m tcp --dport 80:81 -j MARK --set-xmark 0x10000/0x10000\n-A cali-x -i cali+ -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A cali-x -m mark --mark 0x10000/0x10000 -m addrtype --dst-type LOCAL -j RETURN\nCOMMIT\n";
        let t = parse_filter(text).unwrap();
        let c = t.chain("cali-x").unwrap();
        assert_eq!(c.rules.len(), 3);
        assert_eq!(
            c.rules[0].target,
            Target::Mark {
                value: 0x10000,
                mask: 0x10000
            }
        );
        assert_eq!(
            c.rules[0].matches[2],
            Match::DestinationPorts(false, vec![(80, 81)])
        );
        assert_eq!(c.rules[0].cali_id(), Some("def"));
        assert_eq!(
            c.rules[0].description(),
            "Policy x/knp.default.a ingress[0]"
        );
        assert_eq!(
            c.rules[2].matches[1],
            Match::Unsupported("-m addrtype --dst-type LOCAL".into())
        );
        assert_eq!(
            t.chain("FORWARD").unwrap().policy.as_deref(),
            Some("ACCEPT")
        );
        assert_eq!(words(r#"a "b \"c\" d" e"#), vec!["a", "b \"c\" d", "e"]);
    }
}
