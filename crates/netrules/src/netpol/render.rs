//! Renders NetworkPolicy as Calico's felix lays it out in the filter table, so that a
//! learner reading `iptables-save` sees the chains a real Calico node has, for the workloads of
//! one node:
//!
//! ```text
//! FORWARD ──(rule 1)──> cali-FORWARD ─ -i cali+ ─> cali-from-wl-dispatch ─ -i caliX -g ─> cali-fw-caliX (egress of X)
//!                                    └ -o cali+ ─> cali-to-wl-dispatch   ─ -o caliY -g ─> cali-tw-caliY (ingress of Y)
//! cali-fw/tw-<iface>: conntrack accept, clear the accept mark, then either
//!     isolated:     -j cali-po-/cali-pi-<policy> … "Return if policy accepted" … "Drop if no policies passed packet"
//!     not isolated: -j cali-pro-/cali-pri-kns.<ns> (allow) … "Drop if no profiles matched"
//! cali-pi-/cali-po-<policy>: one line per (peer address x port), each only SETS the accept mark
//! FORWARD (appended): "Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT
//! ```
//!
//! Names follow felix: interface `cali` + 11 hex, chains `cali-tw-<iface>`/`cali-fw-<iface>`,
//! policy chains `cali-pi-`/`cali-po-` + felix's length-limited id of
//! `default/<ns>/knp.default.<name>` (tier/policy), namespace profiles `cali-pri-kns.<ns>` /
//! `cali-pro-kns.<ns>`, every rule tagged with a `cali:<hash>` comment computed the way felix
//! does (SHA-224 chained over the chain's rules, URL-safe base64, 16 chars).
//!
//! Where kplab simplifies felix (said here and in `kubectl describe netpol`):
//! * no ipsets: selector peers are expanded into one rule per pod address, and named ports
//!   into one rule per destination pod (`-d <pod> --dport <its number>`);
//! * one mark bit only, felix's accept bit `0x10000`; no pass/scratch/endpoint marks, hence no
//!   tiers other than `default` and no "match blocks": an ipBlock `except` is compiled by
//!   subtracting the excepted networks from `cidr` (the remaining CIDRs are listed), so it
//!   removes addresses from that peer and is never a DROP;
//! * no host endpoints, no `cali-INPUT`/`cali-OUTPUT`: traffic between a node and its pods is
//!   not policed (NetworkPolicy says it is always allowed; felix would run a pod's egress
//!   policy on pod-to-host traffic), no service-account profiles, flat dispatch chains.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use sha2::{Digest, Sha224};

use super::objects::{Cidr, Cluster, NetworkPolicy, Peer, Pod, PortRef, Protocol};
use super::semantics::selecting;
use crate::model::{Origin, Table};
use crate::save::{SaveRule, SaveTable};

/// Felix's accept mark bit.
pub const ACCEPT_MARK: u32 = 0x10000;
/// The VXLAN device between nodes.
pub const VXLAN_IFACE: &str = "vxlan.calico";
/// The VXLAN UDP port (felix drops workload traffic to it).
pub const VXLAN_PORT: u16 = 4789;
/// Felix's maximum chain name length.
pub const MAX_CHAIN_NAME: usize = 28;
/// The `FORWARD` rule (inserted at the top) that sends traffic to `cali-FORWARD`; the id is
/// the one felix gives this rule.
pub const HOOK_JUMP: &str = "-m comment --comment \"cali:wUHhoiAYhphO9Mso\" -j cali-FORWARD";
/// The `FORWARD` rule (appended) that accepts what a workload chain accepted.
pub const HOOK_ACCEPT: &str = "-m comment --comment \"cali:S93hcgKJrXEqnTfs\" -m comment --comment \"Policy explicitly accepted packet.\" -m mark --mark 0x10000/0x10000 -j ACCEPT";

/// What the renderer needs to know about the node it renders for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// This node's name (`spec.nodeName` of its pods).
    pub node_name: String,
    /// Host-side interface of each local pod, by `namespace/name` (`cali` + 11 hex of
    /// sha1(`<ns>.<pod>`), computed by the caller).
    pub ifaces: BTreeMap<String, String>,
}

/// felix's `GetLengthLimitedID`: `prefix + id` when it fits in 28 characters, otherwise
/// `prefix + "_" +` URL-safe base64 of SHA-224(`id`), cut to fit.
pub fn length_limited(prefix: &str, id: &str) -> String {
    if prefix.len() + id.len() <= MAX_CHAIN_NAME && !id.starts_with('_') {
        return format!("{prefix}{id}");
    }
    let hash = data_encoding::BASE64URL_NOPAD.encode(&Sha224::digest(id.as_bytes()));
    let room = MAX_CHAIN_NAME - prefix.len() - 1;
    format!("{prefix}_{}", &hash[..room])
}

/// felix's policy name for a Kubernetes NetworkPolicy: `<ns>/knp.default.<name>`.
pub fn calico_policy_name(p: &NetworkPolicy) -> String {
    format!("{}/knp.default.{}", p.namespace, p.name)
}

/// `cali-pi-…` (ingress) or `cali-po-…` (egress) for a policy.
pub fn policy_chain(p: &NetworkPolicy, ingress: bool) -> String {
    let prefix = if ingress { "cali-pi-" } else { "cali-po-" };
    length_limited(prefix, &format!("default/{}", calico_policy_name(p)))
}

/// `cali-pri-kns.<ns>` (ingress) or `cali-pro-kns.<ns>` (egress).
pub fn profile_chain(namespace: &str, ingress: bool) -> String {
    let prefix = if ingress { "cali-pri-" } else { "cali-pro-" };
    length_limited(prefix, &format!("kns.{namespace}"))
}

/// A rule being built: the parts iptables-save prints before the matches (`-s -d -i -o -p`)
/// and the rest; the `cali:<hash>` comment goes between them.
#[derive(Clone, Debug, Default)]
struct R {
    pre: Vec<String>,
    post: Vec<String>,
}

impl R {
    fn new() -> R {
        R::default()
    }
    fn pre(mut self, a: &str, b: impl std::fmt::Display) -> R {
        self.pre.push(format!("{a} {b}"));
        self
    }
    fn post(mut self, s: impl Into<String>) -> R {
        self.post.push(s.into());
        self
    }
    fn comment(self, text: &str) -> R {
        let mut t: String = text.chars().filter(|c| *c != '"' && *c != '\\').collect();
        t.truncate(255);
        self.post(format!("-m comment --comment \"{t}\""))
    }
    fn body(&self) -> String {
        let mut v = self.pre.clone();
        v.extend(self.post.iter().cloned());
        v.join(" ")
    }
    fn with_id(&self, id: &str) -> String {
        let mut v = self.pre.clone();
        v.push(format!("-m comment --comment \"cali:{id}\""));
        v.extend(self.post.iter().cloned());
        v.join(" ")
    }
}

/// The `cali:<hash>` id felix tags a rule with, if any.
pub fn cali_id(rule: &SaveRule) -> Option<&str> {
    rule.matches
        .comments
        .iter()
        .find_map(|c| c.strip_prefix("cali:"))
}

fn set_accept() -> String {
    format!("-j MARK --set-xmark {ACCEPT_MARK:#x}/{ACCEPT_MARK:#x}")
}

fn if_accepted() -> String {
    format!("-m mark --mark {ACCEPT_MARK:#x}/{ACCEPT_MARK:#x}")
}

/// A local workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// `namespace/name`
    pub pod: String,
    /// Its namespace.
    pub namespace: String,
    /// Host-side interface.
    pub iface: String,
    /// Pod IP.
    pub ip: Ipv4Addr,
    /// Policies isolating it for ingress (`ns/name`), sorted by name.
    pub ingress_policies: Vec<String>,
    /// Policies isolating it for egress.
    pub egress_policies: Vec<String>,
}

/// A policy chain and what it was rendered for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyChain {
    /// `cali-pi-_…`
    pub chain: String,
    /// `ns/name`
    pub policy: String,
    /// `ingress` / `egress`
    pub direction: &'static str,
}

/// The rendered ruleset of one node.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// The `cali-*` chains (declarations and rules) of the filter table.
    pub table: Table,
    /// Local workloads, sorted by interface.
    pub workloads: Vec<Workload>,
    /// Policy chains rendered (only policies that select a local workload).
    pub policy_chains: Vec<PolicyChain>,
    /// Things left out (pods without interface, …).
    pub warnings: Vec<String>,
}

struct Builder {
    chains: Vec<(String, Vec<R>)>,
}

impl Builder {
    fn chain(&mut self, name: &str) -> &mut Vec<R> {
        self.chains.push((name.to_string(), Vec::new()));
        &mut self.chains.last_mut().expect("just pushed").1
    }

    fn finish(self) -> Table {
        let mut t = Table::new("filter");
        for (name, _) in &self.chains {
            t.declare(name);
        }
        for (name, rules) in &self.chains {
            let mut prev = Sha224::digest(name.as_bytes()).to_vec();
            for r in rules {
                let mut h = Sha224::new();
                h.update(&prev);
                h.update(format!("-A {name} {}", r.body()).as_bytes());
                prev = h.finalize().to_vec();
                let id = data_encoding::BASE64URL_NOPAD.encode(&prev);
                t.push(name, r.with_id(&id[..16]), Origin::Fixed);
            }
        }
        t
    }
}

/// One address alternative of a rule (`None`: any address) and its description.
type Addr = (Option<Cidr>, String);

fn peer_addrs(cluster: &Cluster, policy: &NetworkPolicy, peers: &[Peer], key: &str) -> Vec<Addr> {
    if peers.is_empty() {
        return vec![(None, format!("any {key}"))];
    }
    let mut out = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        match peer {
            Peer::IpBlock { cidr, except, text } => {
                let Some(c) = cidr else { continue };
                for part in c.subtract(except) {
                    out.push((Some(part), format!("{key}[{i}] ipBlock {text}")));
                }
            }
            Peer::Selectors { pods, namespaces } => {
                for q in &cluster.pods {
                    let Some(ip) = q.ip.filter(|_| q.has_workload_ip()) else {
                        continue;
                    };
                    let ns_ok = match namespaces {
                        None => q.namespace == policy.namespace,
                        Some(sel) => sel.matches(&cluster.namespace_labels(&q.namespace)),
                    };
                    if ns_ok && pods.as_ref().is_none_or(|s| s.matches(&q.labels)) {
                        out.push((Some(Cidr::host(ip)), format!("{key}[{i}] pod {}", q.key())));
                    }
                }
            }
        }
    }
    out
}

/// One port alternative: protocol (None: all), port range, and, for named ports, the
/// destination pod it was resolved on.
struct PortAlt {
    proto: Option<Protocol>,
    range: Option<(u16, u16)>,
    dst: Option<Ipv4Addr>,
    desc: String,
}

fn port_alts(rule_ports: &[super::objects::PolicyPort], named_on: &[&Pod]) -> Vec<PortAlt> {
    if rule_ports.is_empty() {
        return vec![PortAlt {
            proto: None,
            range: None,
            dst: None,
            desc: "all ports".into(),
        }];
    }
    let mut out = Vec::new();
    for (k, p) in rule_ports.iter().enumerate() {
        match &p.port {
            None => out.push(PortAlt {
                proto: Some(p.protocol),
                range: None,
                dst: None,
                desc: format!("ports[{k}] {p}"),
            }),
            Some(PortRef::Number(n)) => out.push(PortAlt {
                proto: Some(p.protocol),
                range: Some((*n, p.end_port.unwrap_or(*n))),
                dst: None,
                desc: format!("ports[{k}] {p}"),
            }),
            Some(PortRef::Name(name)) => {
                for pod in named_on {
                    if let (Some(num), Some(ip)) = (pod.named_port(name, p.protocol), pod.ip) {
                        out.push(PortAlt {
                            proto: Some(p.protocol),
                            range: Some((num, num)),
                            dst: Some(ip),
                            desc: format!(
                                "ports[{k}] {name}/{} = {num} on {}",
                                p.protocol,
                                pod.key()
                            ),
                        });
                    }
                }
            }
        }
    }
    out
}

fn policy_rules(cluster: &Cluster, p: &NetworkPolicy, ingress: bool, targets: &[&Pod]) -> Vec<R> {
    let cname = calico_policy_name(p);
    let dir = if ingress { "ingress" } else { "egress" };
    let rules = if ingress { &p.ingress } else { &p.egress };
    let mut out = vec![R::new().comment(&format!(
        "Policy {cname} {dir}: NetworkPolicy {}, {} {dir} rule(s), only sets the accept mark",
        p.key(),
        rules.len()
    ))];
    let all_pods: Vec<&Pod> = cluster
        .pods
        .iter()
        .filter(|q| q.has_workload_ip())
        .collect();
    for (ri, rule) in rules.iter().enumerate() {
        let addrs = peer_addrs(cluster, p, &rule.peers, if ingress { "from" } else { "to" });
        let named_on: &[&Pod] = if ingress { targets } else { &all_pods };
        let ports = port_alts(&rule.ports, named_on);
        let mut emitted = false;
        for (addr, adesc) in &addrs {
            for pa in &ports {
                let mut r = R::new();
                let dst_addr = if ingress {
                    if let Some(c) = addr {
                        r = r.pre("-s", c);
                    }
                    pa.dst.map(Cidr::host)
                } else {
                    match (addr, pa.dst) {
                        (a, None) => *a,
                        (None, Some(d)) => Some(Cidr::host(d)),
                        (Some(c), Some(d)) if c.contains(d) => Some(Cidr::host(d)),
                        (Some(_), Some(_)) => continue,
                    }
                };
                if let Some(d) = dst_addr {
                    r = r.pre("-d", d);
                }
                if let Some(proto) = pa.proto {
                    r = r.pre("-p", proto.iptables());
                }
                r = r.comment(&format!("Policy {cname} {dir}[{ri}]: {adesc}, {}", pa.desc));
                if let (Some(proto), Some((a, b))) = (pa.proto, pa.range) {
                    let ports = if a == b {
                        a.to_string()
                    } else {
                        format!("{a}:{b}")
                    };
                    r = r.post(format!("-m {} --dport {ports}", proto.iptables()));
                }
                out.push(r.post(set_accept()));
                emitted = true;
            }
        }
        if emitted {
            out.push(R::new().post(if_accepted()).post("-j RETURN"));
        }
    }
    out
}

/// Renders the `cali-*` chains of `node` for `cluster`.
pub fn render(cluster: &Cluster, node: &NodeFacts) -> Rendered {
    let mut out = Rendered::default();
    // Local workloads, sorted by interface.
    let mut local: Vec<(&Pod, String, Ipv4Addr)> = Vec::new();
    for p in &cluster.pods {
        if p.node != node.node_name || !p.has_workload_ip() {
            continue;
        }
        match (node.ifaces.get(&p.key()), p.ip) {
            (Some(i), Some(ip)) => local.push((p, i.clone(), ip)),
            _ => out.warnings.push(format!(
                "pod {} has no known interface on {}: not programmed",
                p.key(),
                node.node_name
            )),
        }
    }
    local.sort_by(|a, b| a.1.cmp(&b.1));

    let mut b = Builder { chains: Vec::new() };
    let fwd = b.chain("cali-FORWARD");
    fwd.push(
        R::new()
            .comment("Start with the accept mark clear")
            .post(format!("-j MARK --set-xmark 0x0/{ACCEPT_MARK:#x}")),
    );
    fwd.push(R::new().pre("-i", "cali+").post("-j cali-from-wl-dispatch"));
    fwd.push(R::new().pre("-o", "cali+").post("-j cali-to-wl-dispatch"));
    let from = b.chain("cali-from-wl-dispatch");
    for (_, iface, _) in &local {
        from.push(
            R::new()
                .pre("-i", iface)
                .post(format!("-g cali-fw-{iface}")),
        );
    }
    from.push(R::new().comment("Unknown interface").post("-j DROP"));
    let to = b.chain("cali-to-wl-dispatch");
    for (_, iface, _) in &local {
        to.push(
            R::new()
                .pre("-o", iface)
                .post(format!("-g cali-tw-{iface}")),
        );
    }
    to.push(R::new().comment("Unknown interface").post("-j DROP"));

    // Which policies isolate which local pods, per direction.
    let mut pol_targets: [BTreeMap<String, (&NetworkPolicy, Vec<&Pod>)>; 2] =
        [BTreeMap::new(), BTreeMap::new()];
    let mut profiles: [BTreeSet<String>; 2] = [BTreeSet::new(), BTreeSet::new()];
    for (pod, iface, ip) in &local {
        let mut w = Workload {
            pod: pod.key(),
            namespace: pod.namespace.clone(),
            iface: iface.clone(),
            ip: *ip,
            ingress_policies: Vec::new(),
            egress_policies: Vec::new(),
        };
        for (di, ingress) in [(0usize, true), (1usize, false)] {
            let mut pols = selecting(cluster, pod, ingress);
            pols.sort_by(|a, b| a.name.cmp(&b.name));
            let chain = if ingress {
                format!("cali-tw-{iface}")
            } else {
                format!("cali-fw-{iface}")
            };
            let rules = b.chain(&chain);
            rules.push(
                R::new()
                    .post("-m conntrack --ctstate RELATED,ESTABLISHED")
                    .post("-j ACCEPT"),
            );
            rules.push(
                R::new()
                    .post("-m conntrack --ctstate INVALID")
                    .post("-j DROP"),
            );
            rules.push(R::new().post(format!("-j MARK --set-xmark 0x0/{ACCEPT_MARK:#x}")));
            if !ingress {
                rules.push(
                    R::new()
                        .pre("-p", "udp")
                        .comment("Drop VXLAN encapped packets originating in workloads")
                        .post(format!("-m udp --dport {VXLAN_PORT}"))
                        .post("-j DROP"),
                );
            }
            if pols.is_empty() {
                let prof = profile_chain(&pod.namespace, ingress);
                rules.push(R::new().post(format!("-j {prof}")));
                rules.push(
                    R::new()
                        .comment("Return if profile accepted")
                        .post(if_accepted())
                        .post("-j RETURN"),
                );
                rules.push(
                    R::new()
                        .comment("Drop if no profiles matched")
                        .post("-j DROP"),
                );
                profiles[di].insert(pod.namespace.clone());
            } else {
                rules.push(R::new().comment("Start of policies"));
                for p in &pols {
                    rules.push(
                        R::new()
                            .comment(&format!("Policy {}", calico_policy_name(p)))
                            .post(format!("-j {}", policy_chain(p, ingress))),
                    );
                    rules.push(
                        R::new()
                            .comment("Return if policy accepted")
                            .post(if_accepted())
                            .post("-j RETURN"),
                    );
                    pol_targets[di]
                        .entry(p.key())
                        .or_insert_with(|| (*p, Vec::new()))
                        .1
                        .push(*pod);
                }
                rules.push(
                    R::new()
                        .comment("Drop if no policies passed packet")
                        .post("-j DROP"),
                );
                let keys = pols.iter().map(|p| p.key()).collect();
                if ingress {
                    w.ingress_policies = keys;
                } else {
                    w.egress_policies = keys;
                }
            }
        }
        out.workloads.push(w);
    }
    // Policy chains, sorted by chain name.
    let mut pchains: Vec<(String, &NetworkPolicy, bool, Vec<&Pod>)> = Vec::new();
    for (di, ingress) in [(0usize, true), (1usize, false)] {
        for (p, targets) in pol_targets[di].values() {
            pchains.push((policy_chain(p, ingress), *p, ingress, targets.clone()));
        }
    }
    pchains.sort_by(|a, b| a.0.cmp(&b.0));
    for (chain, p, ingress, targets) in &pchains {
        let rules = policy_rules(cluster, p, *ingress, targets);
        *b.chain(chain) = rules;
        out.policy_chains.push(PolicyChain {
            chain: chain.clone(),
            policy: p.key(),
            direction: if *ingress { "ingress" } else { "egress" },
        });
    }
    // Namespace profiles.
    for (di, ingress) in [(0usize, true), (1usize, false)] {
        for ns in &profiles[di] {
            let dir = if ingress { "ingress" } else { "egress" };
            let rules = b.chain(&profile_chain(ns, ingress));
            rules.push(
                R::new()
                    .comment(&format!(
                        "Profile kns.{ns} {dir}: no policy isolates this pod, allow"
                    ))
                    .post(set_accept()),
            );
            rules.push(R::new().post(if_accepted()).post("-j RETURN"));
        }
    }
    out.table = b.finish();
    out
}

impl Rendered {
    /// The number of rules in the `cali-*` chains.
    pub fn rule_count(&self) -> usize {
        self.table.rules().count()
    }

    /// The filter table as `iptables-save` would print it on a node with nothing but these
    /// rules (built-in chains ACCEPT, the two `FORWARD` hooks), for tests and dry runs.
    pub fn save_text(&self) -> String {
        let mut s = String::from(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n",
        );
        for c in &self.table.chains {
            let _ = writeln!(s, ":{c} - [0:0]");
        }
        let _ = writeln!(s, "-A FORWARD {HOOK_JUMP}");
        let _ = writeln!(s, "-A FORWARD {HOOK_ACCEPT}");
        for r in self.table.rules() {
            let _ = writeln!(s, "{}", r.text());
        }
        s.push_str("COMMIT\n");
        s
    }

    /// The `iptables-restore --noflush` input that turns `current` (the node's filter table,
    /// as saved) into this ruleset: chains whose rules differ are declared (which flushes
    /// them) and refilled, unchanged chains are left alone, stale `cali-*` chains are flushed
    /// and deleted, and the `FORWARD` hooks are (re)placed when they are not exactly one jump
    /// at the top and one accept. Nothing outside `cali-*` and those two rules is touched.
    /// Returns `None` when the node already has exactly this ruleset.
    pub fn restore_noflush(&self, current: &SaveTable) -> Option<String> {
        let mut by_chain: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for c in &self.table.chains {
            by_chain.insert(c.as_str(), Vec::new());
        }
        for r in self.table.rules() {
            by_chain
                .entry(r.chain.as_str())
                .or_default()
                .push(r.args.as_str());
        }
        let mut changed: Vec<&str> = Vec::new();
        for c in &self.table.chains {
            let want = &by_chain[c.as_str()];
            let same = current.chain(c).is_some_and(|have| {
                have.rules.len() == want.len()
                    && have.rules.iter().zip(want).all(|(h, w)| h.args() == *w)
            });
            if !same {
                changed.push(c);
            }
        }
        let stale: Vec<&str> = current
            .chains
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| n.starts_with("cali-") && !by_chain.contains_key(n))
            .collect();
        let forward: Vec<&str> = current
            .chain("FORWARD")
            .map(|c| {
                c.rules
                    .iter()
                    .filter(|r| cali_id(r).is_some())
                    .map(SaveRule::args)
                    .collect()
            })
            .unwrap_or_default();
        let first_is_jump = current
            .chain("FORWARD")
            .and_then(|c| c.rules.first())
            .is_some_and(|r| r.args() == HOOK_JUMP);
        let hooks_ok = first_is_jump && forward.len() == 2 && forward.contains(&HOOK_ACCEPT);
        if changed.is_empty() && stale.is_empty() && hooks_ok {
            return None;
        }
        let mut s = String::from("*filter\n");
        for c in changed.iter().chain(stale.iter()) {
            let _ = writeln!(s, ":{c} - [0:0]");
        }
        if !hooks_ok {
            for args in &forward {
                let _ = writeln!(s, "-D FORWARD {args}");
            }
            let _ = writeln!(s, "-I FORWARD 1 {HOOK_JUMP}");
            let _ = writeln!(s, "-A FORWARD {HOOK_ACCEPT}");
        }
        for c in &changed {
            for args in &by_chain[c] {
                let _ = writeln!(s, "-A {c} {args}");
            }
        }
        for c in &stale {
            let _ = writeln!(s, "-X {c}");
        }
        s.push_str("COMMIT\n");
        Some(s)
    }
}
