//! "Why was this dropped?": builds the packet a new connection between two pods sends through
//! one node, traces it through the filter table actually loaded there, and names the chain
//! and rule that decided, plus the policy (or namespace profile) rules that set the accept
//! mark on the way. The specification's own verdict ([`super::semantics`]) is given beside it.

use std::fmt::Write as _;

use serde::Serialize;

use super::objects::{Cluster, Pod, Protocol};
use super::render::{ACCEPT_MARK, VXLAN_IFACE};
use super::semantics::{decide, DirectionVerdict, Endpoint};
use super::tracer::{trace, Packet, Trace, TraceError};
use crate::save::{SaveRule, SaveTable};

/// One rule as shown to the learner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShownRule {
    /// The chain.
    pub chain: String,
    /// 1-based position (`iptables -L CHAIN --line-numbers`).
    pub position: usize,
    /// `-A CHAIN …` as loaded.
    pub rule: String,
    /// Its comments (without the `cali:` id).
    pub comment: String,
}

/// The answer of `policy explain`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// `x/a`.
    pub from: String,
    /// `y/b`.
    pub to: String,
    /// `80/TCP`.
    pub port: String,
    /// `ALLOWED` or `DROPPED` / `REJECTED` (what this node's rules do).
    pub verdict: String,
    /// Which checks this node performs: `egress and ingress`, `egress only`, …
    pub scope: String,
    /// The packet as traced.
    pub packet: String,
    /// The rule that decided (absent when the chain policy decided or nothing was traced).
    pub decided_by: Option<ShownRule>,
    /// Rules that set the accept mark (policy rules or namespace profiles), in order.
    pub accepted_by: Vec<ShownRule>,
    /// What the NetworkPolicy semantics say, for comparison.
    pub expected: String,
    /// Remarks (the other half of a cross-node flow, rules not evaluated, …).
    pub notes: Vec<String>,
}

/// A rule's comments other than Calico's `cali:<hash>` id, joined with "; ".
fn description(rule: &SaveRule) -> String {
    let comments = rule.matches.comments.iter();
    let text: Vec<&str> = comments
        .filter(|c| !c.starts_with("cali:"))
        .map(String::as_str)
        .collect();
    text.join("; ")
}

fn shown(step: &super::tracer::Step) -> ShownRule {
    ShownRule {
        chain: step.chain.clone(),
        position: step.position,
        rule: step.rule.text.clone(),
        comment: description(&step.rule),
    }
}

fn direction_text(d: &DirectionVerdict, pod: &str, dir: &str) -> String {
    match d {
        DirectionVerdict::NotIsolated => format!("{pod} is not isolated for {dir}"),
        DirectionVerdict::AllowedBy(by) => format!(
            "{dir} of {pod} allowed by {}",
            by.iter()
                .map(|(p, i)| format!("{p} {dir}[{i}]"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DirectionVerdict::Denied(pols) => format!(
            "{dir} of {pod} isolated by {} and no rule allows it",
            pols.join(", ")
        ),
    }
}

/// The connection to explain: a new connection from `src` to `dst:port/proto`.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// The client pod.
    pub src: &'a Pod,
    /// The server pod.
    pub dst: &'a Pod,
    /// Destination port.
    pub port: u16,
    /// Protocol.
    pub proto: Protocol,
}

/// Explains `q` as seen by the node `node` whose filter table is `table`; `iface_of` gives a
/// local pod's host-side interface.
pub fn explain(
    cluster: &Cluster,
    table: &SaveTable,
    node: &str,
    q: Query,
    iface_of: &dyn Fn(&Pod) -> String,
) -> Result<Explanation, TraceError> {
    let Query {
        src,
        dst,
        port,
        proto,
    } = q;
    let d = decide(
        cluster,
        &Endpoint::Pod(src),
        &Endpoint::Pod(dst),
        port,
        proto,
    );
    let expected = format!(
        "{}: {}; {}",
        if d.allowed() { "ALLOWED" } else { "DROPPED" },
        d.exempt
            .map(str::to_string)
            .unwrap_or_else(|| direction_text(&d.egress, &src.key(), "egress")),
        direction_text(&d.ingress, &dst.key(), "ingress")
    );
    let mut ex = Explanation {
        from: src.key(),
        to: dst.key(),
        port: format!("{port}/{proto}"),
        verdict: String::new(),
        scope: String::new(),
        packet: String::new(),
        decided_by: None,
        accepted_by: Vec::new(),
        expected,
        notes: Vec::new(),
    };
    let (Some(sip), Some(dip)) = (src.ip, dst.ip) else {
        ex.verdict = "UNKNOWN".into();
        ex.notes
            .push("both pods need an IP address (status.podIP)".into());
        return Ok(ex);
    };
    if src.key() == dst.key() {
        ex.verdict = "ALLOWED".into();
        ex.scope = "none".into();
        ex.notes.push(
            "a pod's traffic to itself never leaves its network namespace: always allowed".into(),
        );
        return Ok(ex);
    }
    let src_local = src.node == node;
    let dst_local = dst.node == node;
    ex.scope = match (src_local, dst_local) {
        (true, true) => "egress and ingress (both pods run on this node)".into(),
        (true, false) => format!(
            "egress only ({} runs on {}, which checks ingress)",
            dst.key(),
            dst.node
        ),
        (false, true) => format!(
            "ingress only ({} runs on {}, which checks egress)",
            src.key(),
            src.node
        ),
        (false, false) => {
            ex.verdict = "NOT ON THIS NODE".into();
            ex.notes.push(format!(
                "neither pod runs on {node}: run this on {} (egress) and {} (ingress)",
                src.node, dst.node
            ));
            return Ok(ex);
        }
    };
    let in_iface = if src_local {
        iface_of(src)
    } else {
        VXLAN_IFACE.to_string()
    };
    let out_iface = if dst_local {
        iface_of(dst)
    } else {
        VXLAN_IFACE.to_string()
    };
    let pkt = Packet::new(sip, dip, &in_iface, &out_iface, proto, port);
    ex.packet = format!(
        "{sip} -> {dip} {}/{port} in {in_iface} out {out_iface}, ctstate NEW",
        proto.iptables()
    );
    let t: Trace = trace(table, "FORWARD", &pkt)?;
    ex.verdict = match t.verdict {
        super::tracer::Verdict::Accept => "ALLOWED",
        super::tracer::Verdict::Drop => "DROPPED",
        super::tracer::Verdict::Reject => "REJECTED",
    }
    .into();
    ex.decided_by = t.decided_by.as_ref().map(shown);
    if t.decided_by.is_none() {
        ex.notes
            .push("no rule decided: the FORWARD chain's policy applied".into());
    }
    for s in &t.steps {
        let sets_accept = s.rule.target.as_ref().and_then(|t| t.mark_op());
        if sets_accept.is_some_and(|op| op.apply(0) & ACCEPT_MARK != 0)
            && s.chain.starts_with("cali-p")
        {
            ex.accepted_by.push(shown(s));
        }
    }
    ex.notes.extend(t.notes);
    if !table.chains.iter().any(|c| c.name == "cali-FORWARD") {
        ex.notes
            .push("this node has no cali-FORWARD chain: is calico-node running?".into());
    }
    Ok(ex)
}

impl Explanation {
    /// The text `kplab-agent policy explain` prints.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} -> {} port {}: {}",
            self.from, self.to, self.port, self.verdict
        );
        if !self.scope.is_empty() {
            let _ = writeln!(s, "  checked here:  {}", self.scope);
        }
        if !self.packet.is_empty() {
            let _ = writeln!(s, "  packet:        {}", self.packet);
        }
        if let Some(d) = &self.decided_by {
            let _ = writeln!(
                s,
                "  decided by:    chain {} rule {}{}",
                d.chain,
                d.position,
                if d.comment.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", d.comment)
                }
            );
            let _ = writeln!(s, "                 {}", d.rule);
        }
        for a in &self.accepted_by {
            let _ = writeln!(
                s,
                "  accepted by:   chain {} rule {}: {}",
                a.chain, a.position, a.comment
            );
            let _ = writeln!(s, "                 {}", a.rule);
        }
        let _ = writeln!(s, "  semantics:     {}", self.expected);
        for n in &self.notes {
            let _ = writeln!(s, "  note:          {n}");
        }
        s
    }
}
