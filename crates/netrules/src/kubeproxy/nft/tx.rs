//! nftables transactions as knftables writes them, and [`TableState`]: what a transaction leaves
//! in the kernel, dumped in knftables' `Fake.Dump()` format.
//!
//! Every object lives in the one table `kube-proxy` of the family `ip` or `ip6`. A transaction
//! is a list of `add`, `flush` and `delete` operations; its text is what kube-proxy pipes into
//! `nft -f -`, and applying it to a [`TableState`] is how the planner knows the kernel.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The table all of kube-proxy's objects live in.
pub const TABLE: &str = "kube-proxy";

/// A base chain's hook: type, hook and numeric priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BaseChain {
    pub type_: &'static str,
    pub hook: &'static str,
    pub priority: i32,
}

/// A set or a map (a map's type has ` : verdict`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SetDef {
    pub name: String,
    pub type_: String,
    pub flags: &'static [&'static str],
    pub timeout_s: Option<i64>,
    pub comment: Option<String>,
}

/// An element of a set (`value` empty) or a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Element {
    pub container: String,
    pub is_map: bool,
    pub key: Vec<String>,
    pub value: Vec<String>,
    pub comment: Option<String>,
}

/// One object of the table, as an operation names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Obj {
    Table {
        comment: Option<String>,
    },
    Chain {
        name: String,
        base: Option<BaseChain>,
        comment: Option<String>,
    },
    Set(SetDef),
    Map(SetDef),
    Rule {
        chain: String,
        rule: String,
        comment: Option<String>,
    },
    Element(Element),
    Counter {
        name: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    Add,
    Flush,
    Delete,
}

/// A transaction: operations in the order kube-proxy adds them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tx {
    pub ops: Vec<(Verb, Obj)>,
}

impl Tx {
    pub fn add(&mut self, o: Obj) {
        self.ops.push((Verb::Add, o));
    }
    pub fn flush(&mut self, o: Obj) {
        self.ops.push((Verb::Flush, o));
    }
    pub fn delete(&mut self, o: Obj) {
        self.ops.push((Verb::Delete, o));
    }

    /// The `nft -f` input, one operation per line.
    pub fn text(&self, family: &str) -> String {
        let mut out = String::new();
        for (verb, obj) in &self.ops {
            write_op(&mut out, *verb, obj, family);
        }
        out
    }
}

/// Go's `%q` for the ASCII text kube-proxy puts in comments (other bytes are escaped).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn verb_word(v: Verb) -> &'static str {
    match v {
        Verb::Add => "add",
        Verb::Flush => "flush",
        Verb::Delete => "delete",
    }
}

fn write_set(out: &mut String, kind: &str, verb: Verb, d: &SetDef, family: &str) {
    let _ = write!(
        out,
        "{} {kind} {family} {TABLE} {}",
        verb_word(verb),
        d.name
    );
    if verb == Verb::Add {
        let _ = write!(out, " {{ type {} ;", d.type_);
        if !d.flags.is_empty() {
            let _ = write!(out, " flags {} ;", d.flags.join(","));
        }
        if let Some(t) = d.timeout_s {
            let _ = write!(out, " timeout {t}s ;");
        }
        if let Some(c) = &d.comment {
            let _ = write!(out, " comment {} ;", quote(c));
        }
        out.push_str(" }");
    }
    out.push('\n');
}

/// One operation in knftables' syntax.
pub(crate) fn write_op(out: &mut String, verb: Verb, obj: &Obj, family: &str) {
    let v = verb_word(verb);
    match obj {
        Obj::Table { comment } => {
            let _ = write!(out, "{v} table {family} {TABLE}");
            if verb == Verb::Add {
                if let Some(c) = comment {
                    let _ = write!(out, " {{ comment {} ; }}", quote(c));
                }
            }
            out.push('\n');
        }
        Obj::Chain {
            name,
            base,
            comment,
        } => {
            let _ = write!(out, "{v} chain {family} {TABLE} {name}");
            if verb == Verb::Add && (base.is_some() || comment.is_some()) {
                out.push_str(" {");
                if let Some(b) = base {
                    let _ = write!(
                        out,
                        " type {} hook {} priority {} ;",
                        b.type_, b.hook, b.priority
                    );
                }
                if let Some(c) = comment {
                    let _ = write!(out, " comment {} ;", quote(c));
                }
                out.push_str(" }");
            }
            out.push('\n');
        }
        Obj::Set(d) => write_set(out, "set", verb, d, family),
        Obj::Map(d) => write_set(out, "map", verb, d, family),
        Obj::Rule {
            chain,
            rule,
            comment,
        } => {
            let _ = write!(out, "{v} rule {family} {TABLE} {chain}");
            if verb == Verb::Add {
                let _ = write!(out, " {rule}");
                if let Some(c) = comment {
                    let _ = write!(out, " comment {}", quote(c));
                }
            }
            out.push('\n');
        }
        Obj::Element(e) => {
            let _ = write!(
                out,
                "{v} element {family} {TABLE} {} {{ {}",
                e.container,
                e.key.join(" . ")
            );
            if verb == Verb::Add {
                if let Some(c) = &e.comment {
                    let _ = write!(out, " comment {}", quote(c));
                }
                if !e.value.is_empty() {
                    let _ = write!(out, " : {}", e.value.join(" . "));
                }
            }
            out.push_str(" }\n");
        }
        Obj::Counter { name } => {
            let _ = writeln!(out, "{v} counter {family} {TABLE} {name}");
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChainState {
    pub base: Option<BaseChain>,
    pub comment: Option<String>,
    /// Rule text and comment, in order.
    pub rules: Vec<(String, Option<String>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ContainerState {
    pub def: SetDef,
    pub is_map: bool,
    /// Key (joined with ` . `) -> (value joined with ` . `, comment).
    pub elements: BTreeMap<String, (String, Option<String>)>,
}

/// The kube-proxy table as a series of transactions leaves it. `None` table: it does not exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TableState {
    pub exists: bool,
    pub comment: Option<String>,
    pub chains: BTreeMap<String, ChainState>,
    /// Sets and maps by name.
    pub containers: BTreeMap<String, ContainerState>,
    pub counters: BTreeMap<String, ()>,
    /// The table existed before we knew it (listed after a restart): its comment is unknown
    /// until an `add table` names it. That comment is kube-proxy's own, written by the
    /// kube-proxy that created the table (the kernel keeps a table's first comment).
    pub comment_unknown: bool,
}

impl TableState {
    /// A table that holds these service chains (empty) and affinity sets (of unknown type)
    /// besides whatever a full sync re-asserts.
    pub fn with_leftovers(chains: &[String], sets: &[String]) -> TableState {
        let mut t = TableState {
            exists: true,
            comment_unknown: true,
            ..TableState::default()
        };
        for c in chains.iter().filter(|c| c.contains('/')) {
            t.chains.insert(
                c.clone(),
                ChainState {
                    base: None,
                    comment: None,
                    rules: Vec::new(),
                },
            );
        }
        for s in sets.iter().filter(|s| s.starts_with("affinity-")) {
            t.containers.insert(
                s.clone(),
                ContainerState {
                    def: SetDef {
                        name: s.clone(),
                        type_: String::new(),
                        flags: &[],
                        timeout_s: None,
                        comment: None,
                    },
                    is_map: false,
                    elements: BTreeMap::new(),
                },
            );
        }
        t
    }

    /// Applies `tx` in place, as nft did. An error means the planner's model and the kernel
    /// disagree (the kernel took the transaction): the state is then part-applied, and the
    /// caller must stop trusting it.
    pub fn apply(&mut self, tx: &Tx) -> Result<(), String> {
        for (verb, obj) in &tx.ops {
            self.apply_op(*verb, obj)?;
        }
        Ok(())
    }

    fn need_table(&self) -> Result<(), String> {
        if self.exists {
            Ok(())
        } else {
            Err(format!("table {TABLE} does not exist"))
        }
    }

    fn apply_op(&mut self, verb: Verb, obj: &Obj) -> Result<(), String> {
        match (verb, obj) {
            (Verb::Add, Obj::Table { comment }) => {
                if !self.exists || self.comment_unknown {
                    self.exists = true;
                    self.comment = comment.clone();
                    self.comment_unknown = false;
                }
            }
            (Verb::Flush, Obj::Table { .. }) => {
                self.need_table()?;
                for c in self.chains.values_mut() {
                    c.rules.clear();
                }
                for c in self.containers.values_mut() {
                    c.elements.clear();
                }
            }
            (Verb::Delete, Obj::Table { .. }) => {
                self.need_table()?;
                *self = TableState::default();
            }
            (
                Verb::Add,
                Obj::Chain {
                    name,
                    base,
                    comment,
                },
            ) => {
                self.need_table()?;
                self.chains
                    .entry(name.clone())
                    .or_insert_with(|| ChainState {
                        base: base.clone(),
                        comment: comment.clone(),
                        rules: Vec::new(),
                    });
            }
            (Verb::Flush, Obj::Chain { name, .. }) => {
                self.chains
                    .get_mut(name)
                    .ok_or_else(|| format!("no chain {name}"))?
                    .rules
                    .clear();
            }
            (Verb::Delete, Obj::Chain { name, .. }) => {
                let referenced = self.references(name);
                if let Some(by) = referenced {
                    return Err(format!("chain {name} is still referenced by {by}"));
                }
                self.chains
                    .remove(name)
                    .ok_or_else(|| format!("no chain {name}"))?;
            }
            (Verb::Add, Obj::Set(d)) | (Verb::Add, Obj::Map(d)) => {
                self.need_table()?;
                let is_map = matches!(obj, Obj::Map(_));
                match self.containers.get_mut(&d.name) {
                    // A leftover listed by name only: now we know what it is.
                    Some(c) if c.def.type_.is_empty() => c.def = d.clone(),
                    Some(c) if c.def.type_ != d.type_ || c.def.flags != d.flags => {
                        return Err(format!("{} exists with another type or flags", d.name))
                    }
                    Some(_) => {}
                    None => {
                        self.containers.insert(
                            d.name.clone(),
                            ContainerState {
                                def: d.clone(),
                                is_map,
                                elements: BTreeMap::new(),
                            },
                        );
                    }
                }
            }
            (Verb::Flush, Obj::Set(d)) | (Verb::Flush, Obj::Map(d)) => {
                self.containers
                    .get_mut(&d.name)
                    .ok_or_else(|| format!("no set or map {}", d.name))?
                    .elements
                    .clear();
            }
            (Verb::Delete, Obj::Set(d)) | (Verb::Delete, Obj::Map(d)) => {
                self.containers
                    .remove(&d.name)
                    .ok_or_else(|| format!("no set or map {}", d.name))?;
            }
            (
                Verb::Add,
                Obj::Rule {
                    chain,
                    rule,
                    comment,
                },
            ) => {
                self.chains
                    .get_mut(chain)
                    .ok_or_else(|| format!("no chain {chain} for rule {rule:?}"))?
                    .rules
                    .push((rule.clone(), comment.clone()));
            }
            (_, Obj::Rule { .. }) => return Err("rules are only added".into()),
            (Verb::Add, Obj::Element(e)) => {
                let c = self
                    .containers
                    .get_mut(&e.container)
                    .ok_or_else(|| format!("no set or map {}", e.container))?;
                let key = e.key.join(" . ");
                let value = e.value.join(" . ");
                match c.elements.get(&key) {
                    Some((v, _)) if *v != value => {
                        return Err(format!("element {key} of {} exists", e.container))
                    }
                    Some(_) => {}
                    None => {
                        c.elements.insert(key, (value, e.comment.clone()));
                    }
                }
            }
            (Verb::Delete, Obj::Element(e)) => {
                let c = self
                    .containers
                    .get_mut(&e.container)
                    .ok_or_else(|| format!("no set or map {}", e.container))?;
                c.elements.remove(&e.key.join(" . ")).ok_or_else(|| {
                    format!("no element {} in {}", e.key.join(" . "), e.container)
                })?;
            }
            (Verb::Flush, Obj::Element(_)) => return Err("elements are not flushed".into()),
            (Verb::Add, Obj::Counter { name }) => {
                self.need_table()?;
                self.counters.insert(name.clone(), ());
            }
            (Verb::Delete, Obj::Counter { name }) => {
                self.counters
                    .remove(name)
                    .ok_or_else(|| format!("no counter {name}"))?;
            }
            (Verb::Flush, Obj::Counter { .. }) => {}
        }
        Ok(())
    }

    /// A rule or map element that jumps or goes to `chain`, if any.
    fn references(&self, chain: &str) -> Option<String> {
        for (name, c) in &self.chains {
            for (r, _) in &c.rules {
                if r.split(' ').any(|w| w == chain) {
                    return Some(format!("a rule of {name}"));
                }
            }
        }
        for (name, c) in &self.containers {
            if c.elements
                .values()
                .any(|(v, _)| v.split(' ').any(|w| w == chain))
            {
                return Some(format!("an element of {name}"));
            }
        }
        None
    }

    /// knftables' `Fake.Dump()`: objects, then rules, then elements, each sorted by name.
    pub fn dump(&self, family: &str) -> String {
        let mut out = String::new();
        if !self.exists {
            return out;
        }
        write_op(
            &mut out,
            Verb::Add,
            &Obj::Table {
                comment: self.comment.clone(),
            },
            family,
        );
        for (name, c) in &self.chains {
            write_op(
                &mut out,
                Verb::Add,
                &Obj::Chain {
                    name: name.clone(),
                    base: c.base.clone(),
                    comment: c.comment.clone(),
                },
                family,
            );
        }
        for map_pass in [false, true] {
            for c in self.containers.values().filter(|c| c.is_map == map_pass) {
                let kind = if c.is_map { "map" } else { "set" };
                write_set(&mut out, kind, Verb::Add, &c.def, family);
            }
        }
        for name in self.counters.keys() {
            write_op(
                &mut out,
                Verb::Add,
                &Obj::Counter { name: name.clone() },
                family,
            );
        }
        for (name, c) in &self.chains {
            for (rule, comment) in &c.rules {
                write_op(
                    &mut out,
                    Verb::Add,
                    &Obj::Rule {
                        chain: name.clone(),
                        rule: rule.clone(),
                        comment: comment.clone(),
                    },
                    family,
                );
            }
        }
        for map_pass in [false, true] {
            for (name, c) in self.containers.iter().filter(|(_, c)| c.is_map == map_pass) {
                for (key, (value, comment)) in &c.elements {
                    let e = Element {
                        container: name.clone(),
                        is_map: c.is_map,
                        key: vec![key.clone()],
                        value: if value.is_empty() {
                            Vec::new()
                        } else {
                            vec![value.clone()]
                        },
                        comment: comment.clone(),
                    };
                    write_op(&mut out, Verb::Add, &Obj::Element(e), family);
                }
            }
        }
        out
    }

    /// The elements of a set or map (key -> (value, comment), joined with ` . `), if it exists.
    pub fn elements(&self, name: &str) -> Option<&BTreeMap<String, (String, Option<String>)>> {
        self.containers.get(name).map(|c| &c.elements)
    }
}

/// What the kernel holds, as far as the planner knows.
#[derive(Clone, Debug)]
pub(crate) enum Kernel {
    /// Exactly this (what our applied transactions left; a clean node has no table).
    Known(TableState),
    /// A table we did not write (kube-proxy restarted): these chains and sets exist, their
    /// contents are unknown, so the next full sync flushes every set and map it fills.
    Listed {
        chains: Vec<String>,
        sets: Vec<String>,
    },
}
