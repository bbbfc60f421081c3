//! The generated ruleset: tables -> chain declarations + lines (rules and chain deletions) in
//! exactly the order kube-proxy writes them, each rule knowing the service port and endpoint it
//! was written for. [`Ruleset::to_restore_text`] renders the `iptables-restore` input.

use std::fmt::Write as _;

/// Which generated object a rule belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A fixed kube-proxy rule (KUBE-POSTROUTING, KUBE-FORWARD, the final nodeports jump, …).
    Fixed,
    /// A rule for the service port `Ruleset::services[service]`.
    Service {
        /// Index into [`Ruleset::services`].
        service: usize,
    },
    /// A rule for one endpoint of a service port.
    Endpoint {
        /// Index into [`Ruleset::services`].
        service: usize,
        /// Index into that service's [`ServiceRef::endpoints`].
        endpoint: usize,
    },
}

/// One `-A CHAIN ARGS` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The chain appended to.
    pub chain: String,
    /// Everything after `-A CHAIN `, exactly as written (comments keep their quotes).
    pub args: String,
    /// What the rule was written for.
    pub origin: Origin,
}

impl Rule {
    /// The rule's text as written to `iptables-restore`.
    pub fn text(&self) -> String {
        if self.args.is_empty() {
            format!("-A {}", self.chain)
        } else {
            format!("-A {} {}", self.chain, self.args)
        }
    }

    /// The `-j` target, if any.
    pub fn target(&self) -> Option<&str> {
        let mut it = self.args.split(' ');
        while let Some(tok) = it.next() {
            if tok == "-j" {
                return it.next();
            }
        }
        None
    }
}

/// A line of a table's rule section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `-A CHAIN ...`
    Rule(Rule),
    /// `-X CHAIN` (a stale chain; it is also declared so that the restore flushes it first).
    DeleteChain(String),
}

/// One table of the restore input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// `filter` or `nat`.
    pub name: String,
    /// Declared chains (`:NAME - [0:0]`), in declaration order.
    pub chains: Vec<String>,
    /// Rules and deletions, in emission order.
    pub lines: Vec<Line>,
}

impl Table {
    /// A new empty table.
    pub fn new(name: &str) -> Table {
        Table {
            name: name.to_string(),
            chains: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// The rules of the table (deletions left out), in order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.lines.iter().filter_map(|l| match l {
            Line::Rule(r) => Some(r),
            Line::DeleteChain(_) => None,
        })
    }

    /// The rules appended to `chain`, in order.
    pub fn chain_rules<'a>(&'a self, chain: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules().filter(move |r| r.chain == chain)
    }

    /// Chains deleted with `-X`.
    pub fn deleted_chains(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match l {
            Line::DeleteChain(c) => Some(c.as_str()),
            Line::Rule(_) => None,
        })
    }

    pub(crate) fn declare(&mut self, chain: &str) {
        self.chains.push(chain.to_string());
    }

    pub(crate) fn push(&mut self, chain: &str, args: String, origin: Origin) {
        self.lines.push(Line::Rule(Rule {
            chain: chain.to_string(),
            args,
            origin,
        }));
    }
}

/// A service port the ruleset was written for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRef {
    /// The service port name, `ns/name` or `ns/name:port`.
    pub name: String,
    /// Lower-case protocol.
    pub protocol: String,
    /// The 16-character hash shared by its SVC/SVL/EXT/FW chains.
    pub chain_hash: String,
    /// Endpoint strings (`ip:port`) of the endpoints rules were written for.
    pub endpoints: Vec<String>,
}

/// The generated ruleset (filter first, then nat).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// `filter` and `nat`.
    pub tables: Vec<Table>,
    /// Service ports referenced by [`Origin`].
    pub services: Vec<ServiceRef>,
}

impl Ruleset {
    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Number of `-A` lines per table, as `(table, count)`.
    pub fn rule_counts(&self) -> Vec<(String, usize)> {
        self.tables
            .iter()
            .map(|t| (t.name.clone(), t.rules().count()))
            .collect()
    }

    /// The `iptables-restore` input (`*filter` … `COMMIT`, `*nat` … `COMMIT`), byte for byte as
    /// kube-proxy writes it.
    pub fn to_restore_text(&self) -> String {
        let mut cap = 0;
        for t in &self.tables {
            cap += 16 + t.chains.iter().map(|c| c.len() + 10).sum::<usize>();
            cap += t
                .lines
                .iter()
                .map(|l| match l {
                    Line::Rule(r) => r.chain.len() + r.args.len() + 5,
                    Line::DeleteChain(c) => c.len() + 4,
                })
                .sum::<usize>();
        }
        let mut s = String::with_capacity(cap);
        for t in &self.tables {
            let _ = writeln!(s, "*{}", t.name);
            for c in &t.chains {
                let _ = writeln!(s, ":{c} - [0:0]");
            }
            for l in &t.lines {
                match l {
                    Line::Rule(r) => {
                        s.push_str("-A ");
                        s.push_str(&r.chain);
                        if !r.args.is_empty() {
                            s.push(' ');
                            s.push_str(&r.args);
                        }
                        s.push('\n');
                    }
                    Line::DeleteChain(c) => {
                        s.push_str("-X ");
                        s.push_str(c);
                        s.push('\n');
                    }
                }
            }
            s.push_str("COMMIT\n");
        }
        s
    }
}

/// Builds a space-separated argument string.
#[derive(Default)]
pub(crate) struct Args(pub String);

impl Args {
    pub fn new() -> Args {
        Args(String::with_capacity(128))
    }
    pub fn a(mut self, tok: &str) -> Args {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(tok);
        self
    }
    /// `-m comment --comment "TEXT"` with quotes.
    pub fn qcomment(self, text: &str) -> Args {
        let mut s = self.a("-m comment --comment \"");
        s.0.push_str(text);
        s.0.push('"');
        s
    }
    /// `-m comment --comment TEXT` without quotes.
    pub fn comment(self, text: &str) -> Args {
        self.a("-m comment --comment").a(text)
    }
    pub fn done(self) -> String {
        self.0
    }
}
