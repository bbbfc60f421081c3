//! Walks one packet through a parsed filter table, as the kernel does: rules in order, `-j`
//! pushes a return address, `-g` does not, `RETURN` (or the end of a user chain) pops, the end
//! of a built-in chain applies its policy. Records every rule that matched, so that the rule
//! that decided the verdict and the rules that set the accept mark can be shown.

use std::net::Ipv4Addr;

use super::objects::Protocol;
use crate::save::{tokenize, SaveRule, SaveTable};

/// The packet: the first packet of a new connection unless `ctstate` says otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Interface it arrived on (`cali1234…`, `vxlan.calico`, `eth0`).
    pub in_iface: String,
    /// Interface it leaves by.
    pub out_iface: String,
    /// L4 protocol.
    pub proto: Protocol,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Conntrack state (`NEW`, `ESTABLISHED`, …).
    pub ctstate: String,
    /// The packet mark on entry.
    pub mark: u32,
}

impl Packet {
    /// A new connection's first packet.
    pub fn new(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        in_iface: &str,
        out_iface: &str,
        proto: Protocol,
        dport: u16,
    ) -> Packet {
        Packet {
            src,
            dst,
            in_iface: in_iface.into(),
            out_iface: out_iface.into(),
            proto,
            sport: 40000,
            dport,
            ctstate: "NEW".into(),
            mark: 0,
        }
    }
}

/// The fate of the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted (by a rule or by the chain policy).
    Accept,
    /// Dropped.
    Drop,
    /// Rejected (ICMP error / TCP reset).
    Reject,
}

impl Verdict {
    /// Whether the packet goes on.
    pub fn passes(&self) -> bool {
        *self == Verdict::Accept
    }
}

/// One rule that matched.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The chain.
    pub chain: String,
    /// 1-based position in the chain (as `iptables -L --line-numbers` counts).
    pub position: usize,
    /// The rule.
    pub rule: SaveRule,
    /// The mark after the rule.
    pub mark_after: u32,
}

/// The result of a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// What happened to the packet.
    pub verdict: Verdict,
    /// The rule that decided (`None`: the policy of the built-in chain decided).
    pub decided_by: Option<Step>,
    /// Every rule that matched, in order.
    pub steps: Vec<Step>,
    /// Rules the tracer could not evaluate (assumed not to match), and other remarks.
    pub notes: Vec<String>,
}

/// A trace that could not run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The start chain is not in the table.
    #[error("chain {0} is not in the table")]
    NoChain(String),
    /// A loop or an absurdly long walk.
    #[error("gave up after {0} rules (a loop?)")]
    TooLong(usize),
}

fn iface_matches(pattern: &str, iface: &str) -> bool {
    match pattern.strip_suffix('+') {
        Some(prefix) => iface.starts_with(prefix),
        None => pattern == iface,
    }
}

/// The matches this tracer evaluates; anything else makes a rule "not evaluated".
const EVALUATED_MODULES: &[&str] = &[
    "tcp",
    "udp",
    "sctp",
    "multiport",
    "conntrack",
    "state",
    "mark",
    "comment",
];

/// The first part of `rule` the tracer does not evaluate, as written (`-m addrtype
/// --dst-type LOCAL`), or `None` when it evaluates all of it.
fn unevaluated(rule: &SaveRule) -> Option<String> {
    let m = &rule.matches;
    if let Some(module) = m
        .modules
        .iter()
        .find(|x| !EVALUATED_MODULES.contains(&x.as_str()))
    {
        // The module and its options, up to the next match or the target.
        let toks = tokenize(rule.args()).unwrap_or_default();
        let at = toks
            .windows(2)
            .position(|w| (w[0] == "-m" || w[0] == "--match") && w[1] == *module)
            .map_or(toks.len(), |at| at + 2);
        let mut desc = format!("-m {module}");
        for t in toks[at..].iter().take_while(|t| {
            !matches!(
                t.as_str(),
                "-m" | "--match"
                    | "-j"
                    | "--jump"
                    | "-g"
                    | "--goto"
                    | "-s"
                    | "-d"
                    | "-i"
                    | "-o"
                    | "-p"
            )
        }) {
            desc.push(' ');
            desc.push_str(t);
        }
        return Some(desc);
    }
    (!m.unknown.is_empty()).then(|| m.unknown.join(" "))
}

/// Whether one rule's matches hold; `Err` names a match the tracer does not evaluate.
fn rule_matches(rule: &SaveRule, pkt: &Packet, mark: u32) -> Result<bool, String> {
    if let Some(what) = unevaluated(rule) {
        return Err(what);
    }
    let m = &rule.matches;
    let holds = |negated: bool, hit: bool| hit != negated;
    let all = [
        m.src
            .as_ref()
            .map(|c| holds(c.negated, c.value.contains(&pkt.src.into()))),
        m.dst
            .as_ref()
            .map(|c| holds(c.negated, c.value.contains(&pkt.dst.into()))),
        m.in_iface
            .as_ref()
            .map(|i| holds(i.negated, iface_matches(&i.value, &pkt.in_iface))),
        m.out_iface
            .as_ref()
            .map(|i| holds(i.negated, iface_matches(&i.value, &pkt.out_iface))),
        m.protocol.as_ref().map(|p| {
            let name = p.value.as_str();
            let hit =
                name == "all" || name == pkt.proto.iptables() || name == proto_number(pkt.proto);
            holds(p.negated, hit)
        }),
        m.dport
            .as_ref()
            .map(|r| holds(r.negated, r.value.contains(pkt.dport))),
        m.sport
            .as_ref()
            .map(|r| holds(r.negated, r.value.contains(pkt.sport))),
        m.ctstate
            .as_ref()
            .map(|s| holds(s.negated, s.value.contains(&pkt.ctstate))),
        m.mark
            .as_ref()
            .map(|k| holds(k.negated, mark & k.value.mask == k.value.value)),
    ];
    Ok(all.into_iter().all(|hit| hit.unwrap_or(true)))
}

fn proto_number(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "6",
        Protocol::Udp => "17",
        Protocol::Sctp => "132",
    }
}

/// Walks `pkt` through `table` from the built-in chain `start` (`FORWARD`).
/// The most rule text the steps of one trace keep (a few hundred bytes a rule on real nodes).
/// The table is what the node's iptables-save printed, and the learner is root there: a rule
/// with a long comment that jumps to its own chain would otherwise be copied at every one of
/// the 100 000 steps (2 KB of input, 500 MB held).
const MAX_STEP_TEXT: usize = 4 << 20;

pub fn trace(table: &SaveTable, start: &str, pkt: &Packet) -> Result<Trace, TraceError> {
    let chain_of = |name: &str| table.chains.iter().find(|c| c.name == name);
    let start_chain = chain_of(start).ok_or_else(|| TraceError::NoChain(start.to_string()))?;
    let policy = match start_chain.policy.as_deref() {
        Some("DROP") => Verdict::Drop,
        _ => Verdict::Accept,
    };
    let mut mark = pkt.mark;
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    // (chain, next rule index)
    let mut stack: Vec<(&str, usize)> = Vec::new();
    let mut cur: (&str, usize) = (start_chain.name.as_str(), 0);
    let mut budget = 100_000usize;
    // Every step keeps a copy of its rule: bound what they hold as well as how many there are.
    let mut held = 0usize;
    loop {
        budget -= 1;
        if budget == 0 {
            return Err(TraceError::TooLong(100_000));
        }
        let chain = chain_of(cur.0).ok_or_else(|| TraceError::NoChain(cur.0.to_string()))?;
        let Some(rule) = chain.rules.get(cur.1) else {
            // End of chain: back to the caller, or the built-in chain's policy.
            match stack.pop() {
                Some(ret) => {
                    cur = ret;
                    continue;
                }
                None => break,
            }
        };
        let position = cur.1 + 1;
        cur.1 += 1;
        match rule_matches(rule, pkt, mark) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(what) => {
                notes.push(format!("{} rule {position} uses {what}, which the tracer does not evaluate: assumed not to match", chain.name));
                continue;
            }
        }
        let target = rule.target.as_ref();
        if let Some(t) = target.filter(|t| t.name == "MARK") {
            match t.mark_op() {
                Some(op) => mark = op.apply(mark),
                None => notes.push(format!(
                    "{} rule {position} has a MARK operation the tracer does not read: mark left as it was",
                    chain.name
                )),
            }
        }
        held += rule.text.len();
        if held > MAX_STEP_TEXT {
            return Err(TraceError::TooLong(100_000 - budget));
        }
        let step = Step {
            chain: chain.name.clone(),
            position,
            rule: rule.clone(),
            mark_after: mark,
        };
        steps.push(step.clone());
        let Some(t) = target else { continue };
        let verdict = match t.name.as_str() {
            "ACCEPT" => Some(Verdict::Accept),
            "DROP" => Some(Verdict::Drop),
            "REJECT" => Some(Verdict::Reject),
            _ => None,
        };
        if let Some(verdict) = verdict {
            return Ok(Trace {
                verdict,
                decided_by: Some(step),
                steps,
                notes,
            });
        }
        match t.name.as_str() {
            _ if t.goto => match chain_of(&t.name) {
                Some(c) => cur = (c.name.as_str(), 0),
                None => return Err(TraceError::NoChain(t.name.clone())),
            },
            "MARK" => {}
            "RETURN" => match stack.pop() {
                Some(ret) => cur = ret,
                None => break,
            },
            name => match chain_of(name) {
                Some(c) => {
                    stack.push(cur);
                    cur = (c.name.as_str(), 0);
                }
                None => notes.push(format!("{} rule {position} targets {name}, an extension the tracer treats as non-terminating", chain.name)),
            },
        }
    }
    Ok(Trace {
        verdict: policy,
        decided_by: None,
        steps,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::save::parse_table;

    const TABLE: &str = "*filter\n:FORWARD DROP [0:0]\n:cali-a - [0:0]\n:cali-b - [0:0]\n\
        -A FORWARD -j cali-a\n\
        -A cali-a -m addrtype --dst-type LOCAL -j ACCEPT\n\
        -A cali-a -j MARK --set-xmark 0x0/0x10000\n\
        -A cali-a -s 10.244.1.0/24 -p tcp -m multiport --dports 80,8000:8080 -j MARK --set-xmark 0x10000/0x10000\n\
        -A cali-a -j cali-b\n\
        -A cali-a -m mark --mark 0x10000/0x10000 -j ACCEPT\n\
        -A cali-a -j LOG --log-prefix \"dropped \"\n\
        -A cali-b -i cali+ ! -p udp -m conntrack --ctstate NEW -j RETURN\n\
        -A cali-b -j REJECT --reject-with icmp-port-unreachable\n\
        COMMIT\n";

    fn pkt(src: [u8; 4], in_iface: &str, dport: u16) -> Packet {
        Packet::new(
            src.into(),
            [10, 244, 2, 7].into(),
            in_iface,
            "eth0",
            Protocol::Tcp,
            dport,
        )
    }

    #[test]
    fn marks_jumps_returns_and_what_it_does_not_evaluate() {
        let t = parse_table(TABLE, "filter").unwrap();
        // A port in the multiport range: the accept mark is set, cali-b returns, the mark rule
        // accepts.
        let r = trace(&t, "FORWARD", &pkt([10, 244, 1, 5], "cali123", 8080)).unwrap();
        assert_eq!(r.verdict, Verdict::Accept);
        let d = r.decided_by.unwrap();
        assert_eq!(
            (d.chain.as_str(), d.position, d.mark_after),
            ("cali-a", 5, 0x10000)
        );
        assert_eq!(
            r.notes,
            ["cali-a rule 1 uses -m addrtype --dst-type LOCAL, which the tracer does not evaluate: assumed not to match"]
        );
        // Outside the ranges: no mark; the LOG target does not end the walk; the policy drops.
        let r = trace(&t, "FORWARD", &pkt([10, 244, 1, 5], "cali123", 443)).unwrap();
        assert_eq!((r.verdict, r.decided_by), (Verdict::Drop, None));
        assert!(
            r.notes[1].contains("targets LOG, an extension"),
            "{:?}",
            r.notes
        );
        // Not from a cali interface: cali-b rejects.
        let r = trace(&t, "FORWARD", &pkt([10, 244, 1, 5], "eth0", 80)).unwrap();
        assert_eq!(r.verdict, Verdict::Reject);
        assert_eq!(r.decided_by.unwrap().chain, "cali-b");
        assert_eq!(
            trace(&t, "INPUT", &pkt([1, 1, 1, 1], "eth0", 80)),
            Err(TraceError::NoChain("INPUT".into()))
        );
    }
}
