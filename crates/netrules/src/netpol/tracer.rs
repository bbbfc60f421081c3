//! Walks one packet through a parsed filter table, as the kernel does: rules in order, `-j`
//! pushes a return address, `-g` does not, `RETURN` (or the end of a user chain) pops, the end
//! of a built-in chain applies its policy. Records every rule that matched, so that the rule
//! that decided the verdict and the rules that set the accept mark can be shown.

use std::net::Ipv4Addr;

use super::iptsave::{Match, SavedRule, SavedTable, Target};
use super::objects::Protocol;

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The chain.
    pub chain: String,
    /// 1-based position in the chain (as `iptables -L --line-numbers` counts).
    pub position: usize,
    /// The rule.
    pub rule: SavedRule,
    /// The mark after the rule.
    pub mark_after: u32,
}

/// The result of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
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

fn in_ranges(ranges: &[(u16, u16)], p: u16) -> bool {
    ranges.iter().any(|(a, b)| (*a..=*b).contains(&p))
}

/// Whether one rule's matches hold; `Err` names a match the tracer does not evaluate.
fn rule_matches(rule: &SavedRule, pkt: &Packet, mark: u32) -> Result<bool, String> {
    for m in &rule.matches {
        let (neg, hit) = match m {
            Match::Source(n, c) => (*n, c.contains(pkt.src)),
            Match::Destination(n, c) => (*n, c.contains(pkt.dst)),
            Match::InInterface(n, i) => (*n, iface_matches(i, &pkt.in_iface)),
            Match::OutInterface(n, i) => (*n, iface_matches(i, &pkt.out_iface)),
            Match::Protocol(n, p) => (
                *n,
                p == "all" || p == pkt.proto.iptables() || p == proto_number(pkt.proto),
            ),
            Match::DestinationPorts(n, r) => (*n, in_ranges(r, pkt.dport)),
            Match::SourcePorts(n, r) => (*n, in_ranges(r, pkt.sport)),
            Match::CtState(n, states) => (*n, states.contains(&pkt.ctstate)),
            Match::Mark(n, v, m) => (*n, mark & m == *v),
            Match::Unsupported(what) => return Err(what.clone()),
        };
        if hit == neg {
            return Ok(false);
        }
    }
    Ok(true)
}

fn proto_number(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "6",
        Protocol::Udp => "17",
        Protocol::Sctp => "132",
    }
}

/// Walks `pkt` through `table` from the built-in chain `start` (`FORWARD`).
pub fn trace(table: &SavedTable, start: &str, pkt: &Packet) -> Result<Trace, TraceError> {
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
    loop {
        budget -= 1;
        if budget == 0 {
            return Err(TraceError::TooLong(100_000));
        }
        let chain = chain_of(cur.0).ok_or_else(|| TraceError::NoChain(cur.0.to_string()))?;
        let Some(rule) = chain.rules.get(cur.1) else {
            // End of chain: pop, or the built-in chain's policy.
            match stack.pop() {
                Some(ret) => {
                    cur = ret;
                    continue;
                }
                None => {
                    return Ok(Trace {
                        verdict: policy,
                        decided_by: None,
                        steps,
                        notes,
                    })
                }
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
        if let Target::Mark { value, mask } = rule.target {
            mark = (mark & !mask) ^ value;
        }
        let step = Step {
            chain: chain.name.clone(),
            position,
            rule: rule.clone(),
            mark_after: mark,
        };
        steps.push(step.clone());
        match &rule.target {
            Target::None | Target::Mark { .. } => {}
            Target::Accept => return Ok(Trace { verdict: Verdict::Accept, decided_by: Some(step), steps, notes }),
            Target::Drop => return Ok(Trace { verdict: Verdict::Drop, decided_by: Some(step), steps, notes }),
            Target::Reject => return Ok(Trace { verdict: Verdict::Reject, decided_by: Some(step), steps, notes }),
            Target::Return => match stack.pop() {
                Some(ret) => cur = ret,
                None => return Ok(Trace { verdict: policy, decided_by: None, steps, notes }),
            },
            Target::Jump(t) => match chain_of(t) {
                Some(c) => {
                    stack.push(cur);
                    cur = (c.name.as_str(), 0);
                }
                None => notes.push(format!("{} rule {position} targets {t}, an extension the tracer treats as non-terminating", chain.name)),
            },
            Target::Goto(t) => match chain_of(t) {
                Some(c) => cur = (c.name.as_str(), 0),
                None => return Err(TraceError::NoChain(t.clone())),
            },
        }
    }
}
