//! A parser for `iptables-save` output (with or without `-c` counters) and for
//! `iptables-restore` input (`:CHAIN - [0:0]`, `-A`, `-X`, `COMMIT`), into tables, chains with
//! policy and counters, and rules with their matches and target parsed.

use crate::ip::{parse_cidr_sloppy, parse_ip_sloppy, Cidr};
use std::collections::HashMap;
use std::fmt;

/// Packet and byte counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A possibly negated (`!`) value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neg<T> {
    /// Whether the match is negated.
    pub negated: bool,
    /// The value.
    pub value: T,
}

/// A port or port range (`80`, `1000:2000`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub from: u16,
    /// Last port (inclusive).
    pub to: u16,
}

impl PortRange {
    /// Whether `p` is in the range.
    pub fn contains(&self, p: u16) -> bool {
        self.from <= p && p <= self.to
    }
}

/// The ports of `--dport 80`, `--dport 1000:2000` or `-m multiport --dports 80,443,8000:8080`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ports(pub Vec<PortRange>);

impl Ports {
    /// Whether `p` is in one of the ranges.
    pub fn contains(&self, p: u16) -> bool {
        self.0.iter().any(|r| r.contains(p))
    }
}

/// `-m statistic`.
#[derive(Clone, Debug, PartialEq)]
pub struct Statistic {
    /// `random` or `nth`.
    pub mode: String,
    /// `--probability` (random mode).
    pub probability: Option<f64>,
    /// `--every` (nth mode).
    pub every: Option<u32>,
}

/// `-m recent`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Recent {
    /// `--name` (default `DEFAULT`).
    pub name: String,
    /// `--set`, `--rcheck`, `--update` or `--remove`.
    pub action: String,
    /// Whether the action is negated.
    pub negated: bool,
    /// `--seconds`.
    pub seconds: Option<u64>,
    /// `--reap`.
    pub reap: bool,
}

/// `-m mark --mark value[/mask]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkMatch {
    /// Value.
    pub value: u32,
    /// Mask (`0xffffffff` when absent).
    pub mask: u32,
}

/// What a rule matches on. Options the parser does not know are kept in `unknown`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matches {
    /// `-s`
    pub src: Option<Neg<Cidr>>,
    /// `-d`
    pub dst: Option<Neg<Cidr>>,
    /// `-i` (`+` is a wildcard suffix)
    pub in_iface: Option<Neg<String>>,
    /// `-o`
    pub out_iface: Option<Neg<String>>,
    /// `-p` (lower case)
    pub protocol: Option<Neg<String>>,
    /// `--sport` / `-m multiport --sports`
    pub sport: Option<Neg<Ports>>,
    /// `--dport` / `-m multiport --dports`
    pub dport: Option<Neg<Ports>>,
    /// Every `-m comment --comment`, in order (kube-proxy writes one; Calico writes its
    /// `cali:<hash>` id and then a description).
    pub comments: Vec<String>,
    /// `-m statistic`
    pub statistic: Option<Statistic>,
    /// `-m recent`
    pub recent: Option<Recent>,
    /// `-m mark --mark`
    pub mark: Option<Neg<MarkMatch>>,
    /// `-m addrtype --src-type`
    pub src_type: Option<Neg<String>>,
    /// `-m addrtype --dst-type`
    pub dst_type: Option<Neg<String>>,
    /// `-m conntrack --ctstate` / `-m state --state` (upper case states)
    pub ctstate: Option<Neg<Vec<String>>>,
    /// `-m nfacct --nfacct-name`
    pub nfacct: Option<String>,
    /// Every `-m MODULE`, in order.
    pub modules: Vec<String>,
    /// Options not understood, with their value if they had one.
    pub unknown: Vec<String>,
}

impl Matches {
    /// The last `--comment`: the rule's description (kube-proxy writes one comment; Calico
    /// writes its `cali:<hash>` id first and the description after it).
    pub fn comment(&self) -> Option<&str> {
        self.comments.last().map(String::as_str)
    }
}

/// A `MARK` target operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkOp {
    /// `--set-xmark value/mask` (and `--set-mark`): `mark = (mark & !mask) ^ value`.
    SetXmark {
        /// Value.
        value: u32,
        /// Mask.
        mask: u32,
    },
    /// `--or-mark`
    Or(u32),
    /// `--xor-mark`
    Xor(u32),
    /// `--and-mark`
    And(u32),
}

impl MarkOp {
    /// Applies the operation to a mark.
    pub fn apply(&self, mark: u32) -> u32 {
        match *self {
            MarkOp::SetXmark { value, mask } => (mark & !mask) ^ value,
            MarkOp::Or(v) => mark | v,
            MarkOp::Xor(v) => mark ^ v,
            MarkOp::And(v) => mark & v,
        }
    }
}

/// A rule's `-j`/`-g` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The target (`ACCEPT`, `DNAT`, a chain name, …).
    pub name: String,
    /// `-g` (goto) rather than `-j`.
    pub goto: bool,
    /// The target's options, as tokens.
    pub args: Vec<String>,
}

impl Target {
    /// `--to-destination` of DNAT.
    pub fn to_destination(&self) -> Option<&str> {
        self.arg("--to-destination")
    }
    /// The value following option `name`.
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.args.get(i + 1))
            .map(String::as_str)
    }
    /// The MARK operation, if this is a MARK target.
    pub fn mark_op(&self) -> Option<MarkOp> {
        if self.name != "MARK" {
            return None;
        }
        if let Some(v) = self.arg("--set-xmark").or(self.arg("--set-mark")) {
            let (value, mask) = parse_mark(v)?;
            return Some(MarkOp::SetXmark { value, mask });
        }
        if let Some(v) = self.arg("--or-mark") {
            return parse_num(v).map(MarkOp::Or);
        }
        if let Some(v) = self.arg("--xor-mark") {
            return parse_num(v).map(MarkOp::Xor);
        }
        if let Some(v) = self.arg("--and-mark") {
            return parse_num(v).map(MarkOp::And);
        }
        None
    }
}

/// One parsed rule.
#[derive(Clone, Debug, PartialEq)]
pub struct SaveRule {
    /// The chain.
    pub chain: String,
    /// The rule as written, without leading counters.
    pub text: String,
    /// 1-based line number in the input.
    pub line: usize,
    /// Counters (`[p:b]` prefix or `-c p b`).
    pub counters: Option<Counters>,
    /// Matches.
    pub matches: Matches,
    /// Target, if any (a rule may have none, e.g. kube-proxy's comment-only KUBE-FW tail).
    pub target: Option<Target>,
}

impl SaveRule {
    /// Everything after `-A CHAIN `, as written.
    pub fn args(&self) -> &str {
        let after_a = self
            .text
            .split_once(char::is_whitespace)
            .map_or("", |(_, r)| r);
        after_a
            .trim_start()
            .strip_prefix(self.chain.as_str())
            .map_or("", str::trim_start)
    }
}

/// A chain with its declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct SaveChain {
    /// Name.
    pub name: String,
    /// Policy of a built-in chain (`ACCEPT`, `DROP`); `None` for user chains (`-`).
    pub policy: Option<String>,
    /// Counters from the declaration.
    pub counters: Counters,
    /// Rules in order.
    pub rules: Vec<SaveRule>,
    /// Deleted with `-X` (restore input only).
    pub deleted: bool,
}

/// A table.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SaveTable {
    /// `filter`, `nat`, `mangle`, `raw`, …
    pub name: String,
    /// Chains in declaration order (chains only referenced by `-A` are added when first seen).
    pub chains: Vec<SaveChain>,
}

impl SaveTable {
    /// The chain called `name`.
    pub fn chain(&self, name: &str) -> Option<&SaveChain> {
        self.chains.iter().find(|c| c.name == name)
    }
    /// The number of rules in all chains.
    pub fn rule_count(&self) -> usize {
        self.chains.iter().map(|c| c.rules.len()).sum()
    }
    fn chain_mut(&mut self, name: &str) -> &mut SaveChain {
        if let Some(i) = self.chains.iter().position(|c| c.name == name) {
            return &mut self.chains[i];
        }
        self.chains.push(SaveChain {
            name: name.into(),
            policy: None,
            counters: Counters::default(),
            rules: Vec::new(),
            deleted: false,
        });
        self.chains.last_mut().expect("pushed")
    }
}

/// A parsed dump.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Dump {
    /// Tables in input order.
    pub tables: Vec<SaveTable>,
}

impl Dump {
    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&SaveTable> {
        self.tables.iter().find(|t| t.name == name)
    }
    /// The chain `chain` of table `table`.
    pub fn chain(&self, table: &str, chain: &str) -> Option<&SaveChain> {
        self.table(table).and_then(|t| t.chain(chain))
    }

    /// Whether `other` holds the same rules: the same tables, chains, policies and rules in
    /// the same order, counters aside.
    pub fn same_rules(&self, other: &Dump) -> bool {
        let shape = |d: &Dump| -> Vec<(String, String, Option<String>, Vec<String>)> {
            let chains = d
                .tables
                .iter()
                .flat_map(|t| t.chains.iter().map(move |c| (t, c)));
            chains
                .map(|(t, c)| {
                    let rules = c.rules.iter().map(|r| r.text.clone()).collect();
                    (t.name.clone(), c.name.clone(), c.policy.clone(), rules)
                })
                .collect()
        };
        shape(self) == shape(other)
    }

    /// Adds the rules kube-proxy installs in built-in chains outside its restore
    /// ([`crate::kubeproxy::jump_rules`], in the order a fresh node shows them) to every
    /// built-in chain that the dump does not have. Useful to trace restore text.
    pub fn with_kube_jumps(mut self) -> Dump {
        let jumps = crate::kubeproxy::jump_rules();
        for j in jumps.iter().rev() {
            let has_table_chain = self
                .chain(j.table, j.chain)
                .is_some_and(|c| !c.rules.is_empty() && !c.rules.iter().all(|r| r.line == 0));
            if has_table_chain {
                continue;
            }
            let text = format!("-A {} {}", j.chain, quote_args(&j.args));
            let Ok(rule) = parse_rule(&text, 0) else {
                continue;
            };
            let t = match self.tables.iter().position(|t| t.name == j.table) {
                Some(i) => &mut self.tables[i],
                None => {
                    self.tables.push(SaveTable {
                        name: j.table.to_string(),
                        chains: Vec::new(),
                    });
                    self.tables.last_mut().expect("pushed")
                }
            };
            let c = t.chain_mut(j.chain);
            if c.policy.is_none() {
                c.policy = Some("ACCEPT".into());
            }
            // Order as on a fresh node: the jump list is walked forwards with -I (prepend), so
            // walking it backwards and appending gives the same order.
            c.rules.push(rule);
        }
        self
    }
}

fn quote_args(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A parse error with its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Splits a rule line into tokens: whitespace-separated, `"…"` quoted (with `\"` and `\\`
/// escapes, as iptables-save writes them).
pub fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_tok = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_tok = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated quote".into()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => cur.push(e),
                            None => return Err("unterminated quote".into()),
                        },
                        Some(x) => cur.push(x),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_tok {
                    out.push(std::mem::take(&mut cur));
                    in_tok = false;
                }
            }
            c => {
                in_tok = true;
                cur.push(c);
            }
        }
    }
    if in_tok {
        out.push(cur);
    }
    Ok(out)
}

fn mk_neg<T>(negated: bool, value: T) -> Neg<T> {
    Neg { negated, value }
}

fn parse_num(s: &str) -> Option<u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn parse_mark(s: &str) -> Option<(u32, u32)> {
    match s.split_once('/') {
        Some((v, m)) => Some((parse_num(v)?, parse_num(m)?)),
        None => Some((parse_num(s)?, u32::MAX)),
    }
}

fn parse_addr(s: &str) -> Option<Cidr> {
    if s.contains('/') {
        // iptables-save writes a host as a.b.c.d/32; masks as dotted quads are also possible.
        let (a, m) = s.split_once('/')?;
        if m.contains('.') {
            let mask: std::net::Ipv4Addr = m.parse().ok()?;
            let prefix = u32::from(mask).count_ones() as u8;
            return Cidr::new(parse_ip_sloppy(a)?, prefix);
        }
        parse_cidr_sloppy(s)
    } else {
        parse_ip_sloppy(s).map(Cidr::host)
    }
}

fn parse_ports(s: &str) -> Option<Ports> {
    let range = |s: &str| match s.split_once(':') {
        Some((a, b)) => Some(PortRange {
            from: if a.is_empty() { 0 } else { a.parse().ok()? },
            to: if b.is_empty() { 65535 } else { b.parse().ok()? },
        }),
        None => {
            let p = s.parse().ok()?;
            Some(PortRange { from: p, to: p })
        }
    };
    s.split(',')
        .map(range)
        .collect::<Option<Vec<_>>>()
        .map(Ports)
}

/// Parses one `-A CHAIN …` line (optionally prefixed by `[p:b]`).
pub fn parse_rule(line: &str, lineno: usize) -> Result<SaveRule, ParseError> {
    let err = |m: String| ParseError {
        line: lineno,
        message: m,
    };
    let mut text = line.trim();
    let mut counters = None;
    if text.starts_with('[') {
        let end = text.find(']').ok_or_else(|| err("bad counters".into()))?;
        let (p, b) = text[1..end]
            .split_once(':')
            .ok_or_else(|| err("bad counters".into()))?;
        counters = Some(Counters {
            packets: p.parse().map_err(|_| err("bad counters".into()))?,
            bytes: b.parse().map_err(|_| err("bad counters".into()))?,
        });
        text = text[end + 1..].trim_start();
    }
    let toks = tokenize(text).map_err(err)?;
    if toks.len() < 2 || (toks[0] != "-A" && toks[0] != "--append") {
        return Err(err(format!("expected \"-A CHAIN\": {text:?}")));
    }
    let chain = toks[1].clone();
    let mut m = Matches::default();
    let mut target: Option<Target> = None;
    let mut neg = false;
    let mut i = 2;
    let mut module = String::new();
    let mut recent: Option<Recent> = None;
    let mut statistic: Option<Statistic> = None;
    let val = |i: usize| -> Result<String, ParseError> {
        toks.get(i + 1)
            .cloned()
            .ok_or_else(|| err(format!("option {} needs a value", toks[i])))
    };
    while i < toks.len() {
        let t = toks[i].as_str();
        let negated = std::mem::take(&mut neg);
        match t {
            "!" => {
                neg = true;
                i += 1;
                continue;
            }
            "-c" | "--set-counters" => {
                let p = val(i)?;
                let b = toks
                    .get(i + 2)
                    .cloned()
                    .ok_or_else(|| err("-c needs two values".into()))?;
                counters = Some(Counters {
                    packets: p.parse().map_err(|_| err("bad -c".into()))?,
                    bytes: b.parse().map_err(|_| err("bad -c".into()))?,
                });
                i += 3;
                continue;
            }
            "-s" | "--source" | "--src" => {
                m.src = Some(mk_neg(
                    negated,
                    parse_addr(&val(i)?)
                        .ok_or_else(|| err(format!("bad address {:?}", toks[i + 1])))?,
                ))
            }
            "-d" | "--destination" | "--dst" => {
                m.dst = Some(mk_neg(
                    negated,
                    parse_addr(&val(i)?)
                        .ok_or_else(|| err(format!("bad address {:?}", toks[i + 1])))?,
                ))
            }
            "-i" | "--in-interface" => m.in_iface = Some(mk_neg(negated, val(i)?)),
            "-o" | "--out-interface" => m.out_iface = Some(mk_neg(negated, val(i)?)),
            "-p" | "--protocol" => m.protocol = Some(mk_neg(negated, val(i)?.to_ascii_lowercase())),
            "-m" | "--match" => {
                module = val(i)?;
                m.modules.push(module.clone());
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                let name = val(i)?;
                let args = toks[i + 2..].to_vec();
                target = Some(Target {
                    name,
                    goto: t == "-g" || t == "--goto",
                    args,
                });
                break;
            }
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                m.dport = Some(mk_neg(
                    negated,
                    parse_ports(&val(i)?).ok_or_else(|| err("bad port".into()))?,
                ))
            }
            "--sport" | "--source-port" | "--sports" | "--source-ports" => {
                m.sport = Some(mk_neg(
                    negated,
                    parse_ports(&val(i)?).ok_or_else(|| err("bad port".into()))?,
                ))
            }
            "--comment" => m.comments.push(val(i)?),
            "--mode" => {
                statistic
                    .get_or_insert(Statistic {
                        mode: String::new(),
                        probability: None,
                        every: None,
                    })
                    .mode = val(i)?
            }
            "--probability" => {
                statistic
                    .get_or_insert(Statistic {
                        mode: "random".into(),
                        probability: None,
                        every: None,
                    })
                    .probability = Some(val(i)?.parse().map_err(|_| err("bad probability".into()))?)
            }
            "--every" => {
                statistic
                    .get_or_insert(Statistic {
                        mode: "nth".into(),
                        probability: None,
                        every: None,
                    })
                    .every = val(i)?.parse().ok()
            }
            "--packet" => {}
            "--name" if module == "recent" => {
                recent.get_or_insert_with(Recent::default).name = val(i)?
            }
            "--set" | "--rcheck" | "--update" | "--remove" if module == "recent" => {
                let r = recent.get_or_insert_with(Recent::default);
                r.action = t.trim_start_matches('-').to_string();
                r.negated = negated;
                i += 1;
                continue;
            }
            "--seconds" if module == "recent" => {
                recent.get_or_insert_with(Recent::default).seconds = val(i)?.parse().ok()
            }
            "--reap" if module == "recent" => {
                recent.get_or_insert_with(Recent::default).reap = true;
                i += 1;
                continue;
            }
            "--rsource" | "--rdest" => {
                i += 1;
                continue;
            }
            "--mask" | "--hitcount" if module == "recent" => {}
            "--mark" if module == "mark" => {
                m.mark = Some(mk_neg(
                    negated,
                    parse_mark(&val(i)?)
                        .map(|(value, mask)| MarkMatch { value, mask })
                        .ok_or_else(|| err("bad mark".into()))?,
                ))
            }
            "--src-type" => m.src_type = Some(mk_neg(negated, val(i)?)),
            "--dst-type" => m.dst_type = Some(mk_neg(negated, val(i)?)),
            "--ctstate" | "--state" => {
                m.ctstate = Some(mk_neg(
                    negated,
                    val(i)?.split(',').map(|s| s.to_ascii_uppercase()).collect(),
                ))
            }
            "--nfacct-name" => m.nfacct = Some(val(i)?),
            other => {
                if toks
                    .get(i + 1)
                    .is_some_and(|v| !v.starts_with('-') && v != "!")
                {
                    m.unknown.push(format!("{other} {}", toks[i + 1]));
                    i += 2;
                } else {
                    m.unknown.push(other.to_string());
                    i += 1;
                }
                continue;
            }
        }
        i += 2;
    }
    m.statistic = statistic;
    if let Some(r) = &mut recent {
        if r.name.is_empty() {
            r.name = "DEFAULT".into();
        }
    }
    m.recent = recent;
    Ok(SaveRule {
        chain,
        text: text.to_string(),
        line: lineno,
        counters,
        matches: m,
        target,
    })
}

/// Parses `iptables-save` output and returns the table called `name` (empty when the dump
/// has none).
pub fn parse_table(text: &str, name: &str) -> Result<SaveTable, ParseError> {
    let dump = parse(text)?;
    Ok(dump
        .tables
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| SaveTable {
            name: name.to_string(),
            chains: Vec::new(),
        }))
}

/// The chain `name` of `t` (added when new), found through `index`, which holds every chain
/// of `t` by name.
fn chain_at<'t>(
    t: &'t mut SaveTable,
    index: &mut HashMap<String, usize>,
    name: &str,
) -> &'t mut SaveChain {
    let i = match index.get(name) {
        Some(&i) => i,
        None => {
            t.chains.push(SaveChain {
                name: name.into(),
                policy: None,
                counters: Counters::default(),
                rules: Vec::new(),
                deleted: false,
            });
            index.insert(name.to_string(), t.chains.len() - 1);
            t.chains.len() - 1
        }
    };
    &mut t.chains[i]
}

/// Parses `iptables-save` output or `iptables-restore` input.
pub fn parse(text: &str) -> Result<Dump, ParseError> {
    let mut dump = Dump::default();
    let mut cur: Option<SaveTable> = None;
    // The current table's chains by name: a dump may declare tens of thousands of chains, and
    // finding one per line by a scan made parsing quadratic (40 000 chains: 19 s).
    let mut index: HashMap<String, usize> = HashMap::new();
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |m: String| ParseError {
            line: lineno,
            message: m,
        };
        if let Some(name) = line.strip_prefix('*') {
            if let Some(t) = cur.take() {
                return Err(err(format!(
                    "table {:?} has no COMMIT before *{name}",
                    t.name
                )));
            }
            cur = Some(SaveTable {
                name: name.to_string(),
                chains: Vec::new(),
            });
            index.clear();
            continue;
        }
        let Some(t) = cur.as_mut() else {
            return Err(err(format!("{line:?} outside a table")));
        };
        if line == "COMMIT" {
            dump.tables.push(cur.take().expect("table"));
        } else if let Some(decl) = line.strip_prefix(':') {
            let parts: Vec<&str> = decl.split_whitespace().collect();
            let name = parts
                .first()
                .ok_or_else(|| err("empty chain declaration".into()))?;
            let policy = parts.get(1).filter(|p| **p != "-").map(|p| p.to_string());
            let counters = match parts.get(2) {
                Some(c) => {
                    let c = c.trim_start_matches('[').trim_end_matches(']');
                    let (p, b) = c
                        .split_once(':')
                        .ok_or_else(|| err("bad chain counters".into()))?;
                    Counters {
                        packets: p.parse().map_err(|_| err("bad chain counters".into()))?,
                        bytes: b.parse().map_err(|_| err("bad chain counters".into()))?,
                    }
                }
                None => Counters::default(),
            };
            let c = chain_at(t, &mut index, name);
            c.policy = policy;
            c.counters = counters;
            c.rules.clear();
            c.deleted = false;
        } else if let Some(name) = line.strip_prefix("-X ") {
            chain_at(t, &mut index, name.trim()).deleted = true;
        } else if line.starts_with("-A ") || line.starts_with('[') || line.starts_with("--append ")
        {
            let r = parse_rule(line, lineno)?;
            chain_at(t, &mut index, &r.chain.clone()).rules.push(r);
        } else if line.starts_with("-N ") || line.starts_with("-F") {
            // restore also accepts these; -N declares, -F flushes
            if let Some(name) = line.strip_prefix("-N ") {
                chain_at(t, &mut index, name.trim());
            }
        } else {
            return Err(err(format!("unexpected line {line:?}")));
        }
    }
    if let Some(t) = cur {
        return Err(ParseError {
            line: text.lines().count(),
            message: format!("table {:?} has no COMMIT", t.name),
        });
    }
    Ok(dump)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = r#"# Generated by iptables-save v1.8.9 (nf_tables) on Sun Nov 23 04:34:00 2025
*nat
:PREROUTING ACCEPT [12:720]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [3:180]
:POSTROUTING ACCEPT [3:180]
:KUBE-SEP-X - [0:0]
:KUBE-SVC-Y - [0:0]
[5:300] -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SEP-X -s 10.244.1.5/32 -m comment --comment "ns1/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-X -p tcp -m comment --comment "ns1/web:http" -m recent --set --name KUBE-SEP-X --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SVC-Y ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "ns1/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-Y -m comment --comment "ns1/web:http -> 10.244.1.5:8080" -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask 255.255.255.255 --rsource -j KUBE-SEP-X
-A KUBE-SVC-Y -m comment --comment "ns1/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-X
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-NODEPORTS -d 127.0.0.0/8 -p tcp -m comment --comment "ns1/web:http" -m tcp --dport 30080 -m nfacct --nfacct-name  localhost_nps_accepted_pkts -j KUBE-EXT-Y
-A KUBE-FW-Y -m comment --comment "other traffic to ns1/web:http will be dropped by KUBE-PROXY-FIREWALL"
COMMIT
"#;

    #[test]
    fn parses_save_output() {
        let d = parse(SAVE).unwrap();
        let nat = d.table("nat").unwrap();
        let pre = nat.chain("PREROUTING").unwrap();
        assert_eq!(pre.policy.as_deref(), Some("ACCEPT"));
        assert_eq!(
            pre.counters,
            Counters {
                packets: 12,
                bytes: 720
            }
        );
        assert_eq!(
            pre.rules[0].counters,
            Some(Counters {
                packets: 5,
                bytes: 300
            })
        );
        assert_eq!(
            pre.rules[0].matches.comment(),
            Some("kubernetes service portals")
        );
        let svc = nat.chain("KUBE-SVC-Y").unwrap();
        let masq = &svc.rules[0].matches;
        assert!(masq.src.as_ref().unwrap().negated);
        assert_eq!(
            masq.src.as_ref().unwrap().value.to_string(),
            "10.244.0.0/16"
        );
        assert_eq!(
            masq.dst.as_ref().unwrap().value.to_string(),
            "10.96.0.10/32"
        );
        assert_eq!(
            masq.dport.as_ref().unwrap().value,
            Ports(vec![PortRange { from: 80, to: 80 }])
        );
        let rc = svc.rules[1].matches.recent.as_ref().unwrap();
        assert_eq!(
            (rc.action.as_str(), rc.name.as_str(), rc.seconds, rc.reap),
            ("rcheck", "KUBE-SEP-X", Some(10800), true)
        );
        assert_eq!(
            svc.rules[2].matches.statistic.as_ref().unwrap().probability,
            Some(0.33333333349)
        );
        let sep = nat.chain("KUBE-SEP-X").unwrap();
        assert_eq!(
            sep.rules[1].target.as_ref().unwrap().to_destination(),
            Some("10.244.1.5:8080")
        );
        assert_eq!(sep.rules[1].matches.recent.as_ref().unwrap().action, "set");
        let mm = nat.chain("KUBE-MARK-MASQ").unwrap().rules[0]
            .target
            .as_ref()
            .unwrap()
            .mark_op()
            .unwrap();
        assert_eq!(mm.apply(0), 0x4000);
        let pr = &nat.chain("KUBE-POSTROUTING").unwrap().rules[0].matches.mark;
        assert_eq!(
            pr.as_ref().unwrap().value,
            MarkMatch {
                value: 0x4000,
                mask: 0x4000
            }
        );
        assert!(pr.as_ref().unwrap().negated);
        let np = &nat.chain("KUBE-NODEPORTS").unwrap().rules[0].matches;
        assert_eq!(np.nfacct.as_deref(), Some("localhost_nps_accepted_pkts"));
        assert!(nat.chain("KUBE-FW-Y").unwrap().rules[0].target.is_none());
    }

    #[test]
    fn same_rules_ignores_counters_only() {
        let a = parse(SAVE).unwrap();
        let counted = SAVE.replace("[5:300] -A PREROUTING", "[9:540] -A PREROUTING");
        assert!(a.same_rules(&parse(&counted).unwrap()));
        let moved = SAVE.replace(":OUTPUT ACCEPT [3:180]", ":OUTPUT DROP [3:180]");
        assert!(!a.same_rules(&parse(&moved).unwrap()));
        let fewer = SAVE.replace("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n", "");
        assert!(!a.same_rules(&parse(&fewer).unwrap()));
    }

    #[test]
    fn parses_restore_input_and_errors() {
        let d = parse("*nat\n:KUBE-SVC-A - [0:0]\n-A KUBE-SVC-A -m comment --comment ns1/a -j KUBE-SEP-B\n-X KUBE-SVC-B\nCOMMIT\n").unwrap();
        assert!(d.chain("nat", "KUBE-SVC-B").unwrap().deleted);
        assert_eq!(
            d.chain("nat", "KUBE-SVC-A").unwrap().rules[0]
                .matches
                .comment(),
            Some("ns1/a")
        );
        let e = parse("*nat\n-A X -s not-an-ip -j ACCEPT\nCOMMIT\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("*nat\n:X - [0:0]\n").is_err());
        assert_eq!(
            tokenize(r#"-m comment --comment "a \"b\" c" -j X"#).unwrap()[3],
            "a \"b\" c"
        );
    }

    #[test]
    fn reads_calico_style_rules() {
        let text = "*filter\n:FORWARD ACCEPT [0:0]\n:cali-x - [0:0]\n-A FORWARD -m comment --comment \"cali:abc\" -j cali-x\n-A cali-x -s 10.244.1.5/32 -p tcp -m comment --comment \"cali:def\" -m comment --comment \"Policy x/knp.default.a ingress[0]\" -m multiport --dports 80:81,443 -j MARK --set-xmark 0x10000/0x10000\n-A cali-x -i cali+ -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A cali-x -m mark --mark 0x10000/0x10000 -m connmark --mark 0x1 -j RETURN\nCOMMIT\n";
        let t = parse_table(text, "filter").unwrap();
        assert_eq!(t.rule_count(), 4);
        let c = t.chain("cali-x").unwrap();
        let r = &c.rules[0];
        assert_eq!(
            r.matches.comments,
            vec!["cali:def", "Policy x/knp.default.a ingress[0]"]
        );
        assert_eq!(
            r.matches.comment(),
            Some("Policy x/knp.default.a ingress[0]")
        );
        let ports = &r.matches.dport.as_ref().unwrap().value;
        assert!(ports.contains(81) && ports.contains(443) && !ports.contains(82));
        assert_eq!(
            r.target.as_ref().unwrap().mark_op(),
            Some(MarkOp::SetXmark {
                value: 0x10000,
                mask: 0x10000
            })
        );
        assert!(
            r.args().starts_with("-s 10.244.1.5/32 -p tcp"),
            "{}",
            r.args()
        );
        assert_eq!(
            c.rules[1].matches.ctstate.as_ref().unwrap().value,
            ["RELATED", "ESTABLISHED"]
        );
        // `--mark` belongs to the module before it: connmark's is not a packet mark match.
        let r = &c.rules[2].matches;
        assert_eq!(r.mark.as_ref().unwrap().value.value, 0x10000);
        assert_eq!(r.unknown, ["--mark 0x1"]);
        assert_eq!(r.modules, ["mark", "connmark"]);
        assert!(parse_table(text, "nat").unwrap().chains.is_empty());
    }
}
