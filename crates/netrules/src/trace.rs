//! A packet tracer over a parsed ruleset ([`crate::save::Dump`]): walks the first packet of a
//! connection through nat and filter the way netfilter would for the hook it enters at, and
//! enumerates every `-m statistic --mode random` branch with its probability.
//!
//! Model and simplifications: the packet is the first of a new connection (`--ctstate NEW`;
//! `DNAT` is added once it was DNATed); `-m recent --rcheck/--update` never match (no earlier
//! connection); addrtype `LOCAL` means loopback or one of [`TraceOptions::local_ips`]; an unknown
//! input interface matches no `-i` pattern; options the parser does not understand are assumed
//! to match and are reported in [`Trace::notes`]. Built-in chains missing from the dump get
//! kube-proxy's jump rules when [`TraceOptions::kube_jumps`] is on, so restore text can be traced.

use crate::save::{Dump, SaveChain, SaveRule};
use std::collections::HashMap;
use std::net::IpAddr;

/// Where the packet enters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Arrives on an interface (from a pod, another node, or an outside client).
    Prerouting,
    /// Sent by a process on the node itself.
    Output,
}

/// The first packet of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Entry hook.
    pub hook: Hook,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// `tcp`, `udp`, `sctp`, …
    pub protocol: String,
    /// Source port (matches `--sport`; `None` matches no port match).
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: u16,
    /// Input interface (PREROUTING only), e.g. `cali1234` or `eth0`.
    pub in_iface: Option<String>,
}

/// Tracer settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceOptions {
    /// The node's own addresses (loopback is always local).
    pub local_ips: Vec<IpAddr>,
    /// The masquerade mark bit(s) (kube-proxy's default 0x4000).
    pub masquerade_mark: u32,
    /// Emulate kube-proxy's jump rules in built-in chains the dump lacks.
    pub kube_jumps: bool,
    /// The node's routes, for `-o` matches after routing (longest prefix wins). Empty: an `-o`
    /// pattern is assumed not to match (and noted).
    pub routes: Vec<Route>,
}

/// A route: destinations in `dst/prefix` leave through `iface`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Network address.
    pub dst: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// Output interface (`cali1234…`, `vxlan.calico`, `eth0`).
    pub iface: String,
}

impl Route {
    fn contains(&self, ip: &IpAddr) -> bool {
        match (self.dst, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let p = u32::from(self.prefix.min(32));
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                u32::from(n) & mask == u32::from(*a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let p = u32::from(self.prefix.min(128));
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                u128::from(n) & mask == u128::from(*a) & mask
            }
            _ => false,
        }
    }
}

/// The output interface of `ip` by longest-prefix match over `routes`.
pub fn route_iface<'a>(routes: &'a [Route], ip: &IpAddr) -> Option<&'a str> {
    routes
        .iter()
        .filter(|r| r.contains(ip))
        .max_by_key(|r| r.prefix)
        .map(|r| r.iface.as_str())
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            local_ips: Vec::new(),
            masquerade_mark: 0x4000,
            kube_jumps: true,
            routes: Vec::new(),
        }
    }
}

/// One matched rule on a branch's path.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Table.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// 1-based position in the chain (`iptables -L --line-numbers`); 0 for emulated jumps.
    pub index: usize,
    /// The rule text.
    pub rule: String,
    /// For a `-m statistic` rule: the probability this branch took it.
    pub probability: Option<f64>,
}

/// How the packet ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Passed through every table (accepted by a rule or a chain policy).
    Accept,
    /// Dropped.
    Drop,
    /// Rejected (ICMP error / TCP reset).
    Reject,
}

/// One possible fate of the packet.
#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    /// Probability of this branch (branches sum to 1).
    pub probability: f64,
    /// Every matched rule, in order.
    pub path: Vec<Step>,
    /// `--to-destination` of the DNAT, if any (`10.244.1.5:8080`, `[fd00::5]:80`).
    pub dnat: Option<String>,
    /// The masquerade mark was set when the packet reached POSTROUTING.
    pub marked_for_masquerade: bool,
    /// A MASQUERADE/SNAT target was hit in nat POSTROUTING.
    pub masqueraded: bool,
    /// Verdict.
    pub verdict: Verdict,
    /// The rule that decided the verdict (None: a chain policy, or no filter chain matched).
    pub verdict_rule: Option<Step>,
    /// After routing, whether the packet is for this node (INPUT) rather than forwarded.
    pub local_delivery: bool,
}

/// The result of [`trace`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Trace {
    /// All branches.
    pub branches: Vec<Branch>,
    /// Things the tracer could not model exactly.
    pub notes: Vec<String>,
}

impl Trace {
    /// DNAT destinations with their total probability, sorted by destination string.
    pub fn endpoints(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = Vec::new();
        for b in &self.branches {
            if let Some(d) = &b.dnat {
                match out.iter_mut().find(|(e, _)| e == d) {
                    Some(e) => e.1 += b.probability,
                    None => out.push((d.clone(), b.probability)),
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The one-line result kube-proxy's own `tracePacket` test helper reports: the DNAT
    /// destinations joined by `, `; or the target of an explicit ACCEPT/DROP/REJECT filter rule;
    /// or empty.
    pub fn summary(&self) -> String {
        let eps = self.endpoints();
        if !eps.is_empty() {
            return eps.into_iter().map(|e| e.0).collect::<Vec<_>>().join(", ");
        }
        match self
            .branches
            .iter()
            .find(|b| b.verdict_rule.is_some())
            .map(|b| &b.verdict)
        {
            Some(Verdict::Accept) => "ACCEPT".into(),
            Some(Verdict::Drop) => "DROP".into(),
            Some(Verdict::Reject) => "REJECT".into(),
            None => String::new(),
        }
    }

    /// Whether any branch is masqueraded.
    pub fn masqueraded(&self) -> bool {
        self.branches
            .iter()
            .any(|b| b.masqueraded || b.marked_for_masquerade)
    }
}

#[derive(Clone)]
struct State {
    prob: f64,
    path: Vec<Step>,
    dst: IpAddr,
    dport: u16,
    mark: u32,
    dnat: Option<String>,
    masqueraded: bool,
    marked_at_post: bool,
    verdict_rule: Option<Step>,
}

enum Flow {
    Return,
    Accept,
    Drop,
    Reject,
}

/// A walk left to do in the chain [`Tracer::run`] is in.
enum Todo {
    /// Walk from rule `i`; `taken`: rule `i` is a random rule whose branch was taken with
    /// this probability (already applied), so go on with its target.
    Walk {
        i: usize,
        st: State,
        taken: Option<f64>,
    },
    /// A result of a jump that ends the walk in this chain.
    Emit(State, Flow),
}

struct Tracer<'a> {
    /// The dump's chains by (table, name), the first of each name as [`Dump::chain`] finds it:
    /// a dump may hold tens of thousands of chains, and a lookup per jump must not scan them.
    chains: HashMap<(&'a str, &'a str), &'a SaveChain>,
    pkt: &'a Packet,
    opts: &'a TraceOptions,
    notes: Vec<String>,
    /// Rules visited and path steps copied so far (see [`MAX_WORK`]).
    work: usize,
    /// Random branches split off so far (see [`MAX_BRANCHES`]).
    splits: usize,
}

const MAX_DEPTH: usize = 64;

/// The most rule visits and copied path steps (weighed by their text, see [`step_cost`]) one
/// trace may cost. The dump comes from a node whose `iptables-save` the learner controls: a
/// chain that jumps to itself twice, or rules that each split the walk at random without ending
/// it, would otherwise take 2^n steps, and long rules would be copied at each. Real kube-proxy
/// and Calico rulesets stay far below this.
const MAX_WORK: usize = 200_000;

/// What copying a step costs, in [`MAX_WORK`] units: one, plus one per 64 bytes of rule text
/// (the learner may write rules of any length).
fn step_cost(s: &Step) -> usize {
    1 + s.rule.len() / 64
}

/// What copying a path costs.
fn path_cost(path: &[Step]) -> usize {
    path.iter().map(step_cost).sum()
}

/// The most notes one trace keeps (one per rule a learner's dump can make unique).
const MAX_NOTES: usize = 64;

/// The most branches one trace enumerates (a Service with more endpoints than this is traced
/// through its first ones only, with a note).
const MAX_BRANCHES: usize = 1024;

fn iface_matches(pattern: &str, iface: &str) -> bool {
    match pattern.strip_suffix('+') {
        Some(prefix) => iface.starts_with(prefix),
        None => pattern == iface,
    }
}

fn proto_matches(rule: &str, pkt: &str) -> bool {
    let norm = |p: &str| match p {
        "6" => "tcp".to_string(),
        "17" => "udp".to_string(),
        "132" => "sctp".to_string(),
        "1" => "icmp".to_string(),
        other => other.to_ascii_lowercase(),
    };
    rule == "all" || rule == "0" || norm(rule) == norm(pkt)
}

fn parse_dest(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest.split_once(']')?;
        let port = port
            .strip_prefix(':')
            .and_then(|p| p.split('-').next()?.parse().ok());
        return Some((crate::ip::parse_ip_sloppy(ip)?, port));
    }
    match s.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') => Some((
            crate::ip::parse_ip_sloppy(ip)?,
            port.split('-').next()?.parse().ok(),
        )),
        _ => Some((crate::ip::parse_ip_sloppy(s)?, None)),
    }
}

enum Match {
    No,
    Yes,
    Random(f64),
}

impl<'a> Tracer<'a> {
    fn is_local(&self, ip: &IpAddr) -> bool {
        ip.is_loopback() || self.opts.local_ips.contains(ip)
    }

    /// The chain `name` of `table`.
    fn chain(&self, table: &str, name: &str) -> Option<&'a SaveChain> {
        self.chains.get(&(table, name)).copied()
    }

    /// Adds a note once; past [`MAX_NOTES`] says that the rest were left out.
    fn note(&mut self, n: String) {
        if self.notes.len() > MAX_NOTES || self.notes.contains(&n) {
            return;
        }
        if self.notes.len() == MAX_NOTES {
            self.notes.push(format!(
                "more than {MAX_NOTES} notes: the rest are left out"
            ));
            return;
        }
        self.notes.push(n);
    }

    fn matches(&mut self, r: &SaveRule, st: &State, chain: &str) -> Match {
        let m = &r.matches;
        let pkt = self.pkt;
        let check = |neg: bool, ok: bool| ok != neg;
        if let Some(s) = &m.src {
            if !check(s.negated, s.value.contains(&pkt.src)) {
                return Match::No;
            }
        }
        if let Some(d) = &m.dst {
            if !check(d.negated, d.value.contains(&st.dst)) {
                return Match::No;
            }
        }
        if let Some(i) = &m.in_iface {
            let ok = pkt.hook == Hook::Prerouting
                && pkt
                    .in_iface
                    .as_deref()
                    .is_some_and(|x| iface_matches(&i.value, x));
            if !check(i.negated, ok) {
                return Match::No;
            }
        }
        if let Some(o) = &m.out_iface {
            if let Some(iface) = route_iface(&self.opts.routes, &st.dst) {
                if !check(o.negated, iface_matches(&o.value, iface)) {
                    return Match::No;
                }
            } else if !o.negated {
                self.note(format!(
                    "output interface of {chain} rule {:?} unknown: assumed not to match",
                    r.text
                ));
                return Match::No;
            }
        }
        if let Some(p) = &m.protocol {
            if !check(p.negated, proto_matches(&p.value, &pkt.protocol)) {
                return Match::No;
            }
        }
        if let Some(p) = &m.dport {
            if !check(p.negated, p.value.contains(st.dport)) {
                return Match::No;
            }
        }
        if let Some(p) = &m.sport {
            if !check(p.negated, pkt.sport.is_some_and(|s| p.value.contains(s))) {
                return Match::No;
            }
        }
        for (t, ip) in [(&m.src_type, pkt.src), (&m.dst_type, st.dst)] {
            if let Some(t) = t {
                let ok = match t.value.as_str() {
                    "LOCAL" => self.is_local(&ip),
                    "UNICAST" => !ip.is_multicast(),
                    other => {
                        self.note(format!(
                            "addrtype {other} not modelled: assumed not to match"
                        ));
                        false
                    }
                };
                if !check(t.negated, ok) {
                    return Match::No;
                }
            }
        }
        if let Some(c) = &m.ctstate {
            let mut states = vec!["NEW"];
            if st.dnat.is_some() {
                states.push("DNAT");
            }
            if st.masqueraded {
                states.push("SNAT");
            }
            let ok = c.value.iter().any(|s| states.contains(&s.as_str()));
            if !check(c.negated, ok) {
                return Match::No;
            }
        }
        if let Some(mk) = &m.mark {
            if !check(mk.negated, st.mark & mk.value.mask == mk.value.value) {
                return Match::No;
            }
        }
        if let Some(rc) = &m.recent {
            if rc.action == "rcheck" || rc.action == "update" {
                self.note("-m recent --rcheck: no earlier connection, assumed not to match".into());
                if !rc.negated {
                    return Match::No;
                }
            }
        }
        for u in &m.unknown {
            self.note(format!("option {u:?} not modelled: assumed to match"));
        }
        if let Some(s) = &m.statistic {
            let p = match (s.mode.as_str(), s.probability, s.every) {
                ("random", Some(p), _) => p,
                ("nth", _, Some(n)) if n > 0 => 1.0 / f64::from(n),
                _ => 1.0,
            };
            return Match::Random(p);
        }
        Match::Yes
    }

    /// Charges `n` units of work; false once the trace is over budget (noted once).
    fn spend(&mut self, n: usize) -> bool {
        self.work = self.work.saturating_add(n);
        if self.work <= MAX_WORK {
            return true;
        }
        self.note(format!(
            "trace stopped after {MAX_WORK} steps: the ruleset loops or branches too much, \
             so the branches shown are incomplete"
        ));
        false
    }

    /// Whether the walk may split off one more random branch whose path is `path_len` long.
    fn split(&mut self, path_len: usize) -> bool {
        if self.splits + 1 >= MAX_BRANCHES {
            self.note(format!(
                "more than {MAX_BRANCHES} random branches: the rest are not traced"
            ));
            return false;
        }
        self.splits += 1;
        self.spend(path_len)
    }

    fn run(
        &mut self,
        table: &str,
        chain: &str,
        start: usize,
        st: State,
        depth: usize,
    ) -> Vec<(State, Flow)> {
        let mut out = Vec::new();
        let Some(c) = self.chain(table, chain) else {
            out.push((st, Flow::Return));
            return out;
        };
        if depth > MAX_DEPTH {
            self.note(format!(
                "chain nesting deeper than {MAX_DEPTH} at {table}/{chain}: stopped"
            ));
            out.push((st, Flow::Return));
            return out;
        }
        // The walks left in this chain, the next one last: a random branch not taken is walked
        // before the branch taken, and what follows a jump in the order the jump's results
        // came, so branches are listed as a depth-first walk would list them. Only jumps nest
        // calls (at most MAX_DEPTH deep): a long run of random rules must not grow the stack.
        let mut todo = vec![Todo::Walk {
            i: start,
            st,
            taken: None,
        }];
        while let Some(item) = todo.pop() {
            let (mut i, mut st, mut taken) = match item {
                Todo::Emit(st, flow) => {
                    out.push((st, flow));
                    continue;
                }
                Todo::Walk { i, st, taken } => (i, st, taken),
            };
            let ended = loop {
                let Some(r) = c.rules.get(i) else {
                    break Some((st, Flow::Return));
                };
                let prob = match taken.take() {
                    Some(p) => Some(p),
                    None => {
                        if !self.spend(1) {
                            break Some((st, Flow::Return));
                        }
                        match self.matches(r, &st, chain) {
                            Match::No => {
                                i += 1;
                                continue;
                            }
                            Match::Random(p) => {
                                let miss =
                                    (p < 1.0 && self.split(path_cost(&st.path))).then(|| {
                                        let mut miss = st.clone();
                                        miss.prob *= 1.0 - p;
                                        Todo::Walk {
                                            i: i + 1,
                                            st: miss,
                                            taken: None,
                                        }
                                    });
                                if p <= 0.0 {
                                    todo.extend(miss);
                                    break None;
                                }
                                st.prob *= p;
                                if let Some(miss) = miss {
                                    todo.push(Todo::Walk {
                                        i,
                                        st,
                                        taken: Some(p),
                                    });
                                    todo.push(miss);
                                    break None;
                                }
                                Some(p)
                            }
                            Match::Yes => None,
                        }
                    }
                };
                let step = Step {
                    table: table.into(),
                    chain: chain.into(),
                    index: if r.line == 0 { 0 } else { i + 1 },
                    rule: r.text.clone(),
                    probability: prob,
                };
                // The step copies the rule's text (twice, with the verdict rule).
                if !self.spend(2 * step_cost(&step)) {
                    break Some((st, Flow::Return));
                }
                st.path.push(step.clone());
                let Some(t) = &r.target else {
                    i += 1;
                    continue;
                };
                match t.name.as_str() {
                    "ACCEPT" => {
                        st.verdict_rule = Some(step);
                        break Some((st, Flow::Accept));
                    }
                    "DROP" => {
                        st.verdict_rule = Some(step);
                        break Some((st, Flow::Drop));
                    }
                    "REJECT" => {
                        st.verdict_rule = Some(step);
                        break Some((st, Flow::Reject));
                    }
                    "RETURN" => break Some((st, Flow::Return)),
                    "MARK" => {
                        match t.mark_op() {
                            Some(op) => st.mark = op.apply(st.mark),
                            None => self.note(format!("MARK options {:?} not understood", t.args)),
                        }
                        i += 1;
                    }
                    "DNAT" => {
                        match t.to_destination().and_then(parse_dest) {
                            Some((ip, port)) => {
                                st.dst = ip;
                                if let Some(p) = port {
                                    st.dport = p;
                                }
                                st.dnat = t.to_destination().map(str::to_string);
                            }
                            None => self
                                .note(format!("DNAT destination of {:?} not understood", r.text)),
                        }
                        break Some((st, Flow::Accept));
                    }
                    "MASQUERADE" | "SNAT" => {
                        st.masqueraded = true;
                        break Some((st, Flow::Accept));
                    }
                    "LOG" | "NFLOG" | "TRACE" | "CONNMARK" | "NOTRACK" | "CT" => {
                        i += 1;
                    }
                    name if self.chain(table, name).is_some() => {
                        if !self.spend(path_cost(&st.path)) {
                            break Some((st, Flow::Return));
                        }
                        let goto = t.goto;
                        let results = self.run(table, name, 0, st.clone(), depth + 1);
                        todo.extend(results.into_iter().rev().map(|(s2, flow)| match flow {
                            Flow::Return if goto => Todo::Emit(s2, Flow::Return),
                            Flow::Return => Todo::Walk {
                                i: i + 1,
                                st: s2,
                                taken: None,
                            },
                            f => Todo::Emit(s2, f),
                        }));
                        break None;
                    }
                    other => {
                        self.note(format!(
                            "target {other} not modelled (or chain missing): treated as a no-op"
                        ));
                        i += 1;
                    }
                }
            };
            out.extend(ended);
        }
        out
    }

    /// Runs a built-in chain and resolves its policy; returns the states that continue.
    fn builtin(
        &mut self,
        table: &str,
        chain: &str,
        states: Vec<State>,
        done: &mut Vec<(State, Verdict)>,
    ) -> Vec<State> {
        let policy_drop =
            self.chain(table, chain).and_then(|c| c.policy.as_deref()) == Some("DROP");
        let mut cont = Vec::new();
        for st in states {
            for (s2, flow) in self.run(table, chain, 0, st, 0) {
                match flow {
                    Flow::Accept => cont.push(s2),
                    Flow::Return if !policy_drop => cont.push(s2),
                    Flow::Return => done.push((s2, Verdict::Drop)),
                    Flow::Drop => done.push((s2, Verdict::Drop)),
                    Flow::Reject => done.push((s2, Verdict::Reject)),
                }
            }
        }
        cont
    }
}

/// Traces `pkt` through `dump`.
pub fn trace(dump: &Dump, pkt: &Packet, opts: &TraceOptions) -> Trace {
    let owned;
    let dump = if opts.kube_jumps {
        owned = dump.clone().with_kube_jumps();
        &owned
    } else {
        dump
    };
    // As Dump::chain finds them: the first table of a name, the first chain of a name in it.
    let mut chains = HashMap::new();
    let mut seen_tables = std::collections::HashSet::new();
    for table in dump
        .tables
        .iter()
        .filter(|t| seen_tables.insert(t.name.as_str()))
    {
        for c in &table.chains {
            chains
                .entry((table.name.as_str(), c.name.as_str()))
                .or_insert(c);
        }
    }
    let mut t = Tracer {
        chains,
        pkt,
        opts,
        notes: Vec::new(),
        work: 0,
        splits: 0,
    };
    let start = State {
        prob: 1.0,
        path: Vec::new(),
        dst: pkt.dst,
        dport: pkt.dport,
        mark: 0,
        dnat: None,
        masqueraded: false,
        marked_at_post: false,
        verdict_rule: None,
    };
    let mut done: Vec<(State, Verdict)> = Vec::new();
    let nat_first = match pkt.hook {
        Hook::Prerouting => "PREROUTING",
        Hook::Output => "OUTPUT",
    };
    let after_nat = t.builtin("nat", nat_first, vec![start], &mut done);
    let mut results: Vec<(State, Verdict, bool)> =
        done.drain(..).map(|(s, v)| (s, v, false)).collect();
    for st in after_nat {
        let local = pkt.hook == Hook::Prerouting && t.is_local(&st.dst);
        let filter_chain = match (pkt.hook, local) {
            (Hook::Output, _) => "OUTPUT",
            (Hook::Prerouting, true) => "INPUT",
            (Hook::Prerouting, false) => "FORWARD",
        };
        let passed = t.builtin("filter", filter_chain, vec![st], &mut done);
        results.extend(done.drain(..).map(|(s, v)| (s, v, local)));
        for mut st in passed {
            if local {
                results.push((st, Verdict::Accept, true));
                continue;
            }
            st.marked_at_post = st.mark & opts.masquerade_mark != 0;
            let after_post = t.builtin("nat", "POSTROUTING", vec![st], &mut done);
            results.extend(done.drain(..).map(|(s, v)| (s, v, false)));
            results.extend(after_post.into_iter().map(|s| (s, Verdict::Accept, false)));
        }
    }
    let branches = results
        .into_iter()
        .map(|(s, verdict, local_delivery)| Branch {
            probability: s.prob,
            path: s.path,
            dnat: s.dnat,
            marked_for_masquerade: s.marked_at_post,
            masqueraded: s.masqueraded,
            verdict,
            verdict_rule: s.verdict_rule.filter(|r| r.table == "filter"),
            local_delivery,
        })
        .collect();
    Trace {
        branches,
        notes: t.notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_interface_matches_use_the_routes() {
        let dump = crate::save::parse(
            "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -o cali+ -j DROP\nCOMMIT\n",
        )
        .unwrap();
        let pkt = Packet {
            hook: Hook::Prerouting,
            src: "10.244.2.5".parse().unwrap(),
            dst: "10.244.1.3".parse().unwrap(),
            protocol: "tcp".into(),
            sport: None,
            dport: 80,
            in_iface: Some("vxlan.calico".into()),
        };
        let no_routes = TraceOptions {
            kube_jumps: false,
            ..TraceOptions::default()
        };
        let t = trace(&dump, &pkt, &no_routes);
        assert_eq!(t.branches[0].verdict, Verdict::Accept);
        assert!(t.notes.iter().any(|n| n.contains("output interface")));
        let routes = vec![
            Route {
                dst: "0.0.0.0".parse().unwrap(),
                prefix: 0,
                iface: "eth0".into(),
            },
            Route {
                dst: "10.244.1.3".parse().unwrap(),
                prefix: 32,
                iface: "cali4ef16dcf0ac".into(),
            },
        ];
        assert_eq!(route_iface(&routes, &pkt.dst), Some("cali4ef16dcf0ac"));
        assert_eq!(
            route_iface(&routes, &"8.8.8.8".parse().unwrap()),
            Some("eth0")
        );
        let with = TraceOptions {
            routes,
            ..no_routes
        };
        let t = trace(&dump, &pkt, &with);
        assert_eq!(t.branches[0].verdict, Verdict::Drop);
        let other = Packet {
            dst: "172.28.1.100".parse().unwrap(),
            ..pkt
        };
        assert_eq!(
            trace(&dump, &other, &with).branches[0].verdict,
            Verdict::Accept
        );
    }
}
