//! `setupNFTables` and `syncProxyRules` of kube-proxy's nftables proxier: the objects of one
//! sync's transaction, in the order kube-proxy adds them.

use super::tx::{BaseChain, Element, Kernel, Obj, SetDef, TableState, Tx};
use crate::ip::IpFamily;
use crate::kubeproxy::config::Effective;
use crate::kubeproxy::config::NodePortTargets;
use crate::kubeproxy::objects::{Ep, SvcPort};
use crate::kubeproxy::tracker::Tracker;
use crate::kubeproxy::writer::categorize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

// Base chains.
const FILTER_PREROUTING_PRE_DNAT: &str = "filter-prerouting-pre-dnat";
const FILTER_OUTPUT_PRE_DNAT: &str = "filter-output-pre-dnat";
const FILTER_INPUT: &str = "filter-input";
const FILTER_FORWARD: &str = "filter-forward";
const FILTER_OUTPUT: &str = "filter-output";
const NAT_PREROUTING: &str = "nat-prerouting";
const NAT_OUTPUT: &str = "nat-output";
const NAT_POSTROUTING: &str = "nat-postrouting";
// Service dispatch.
const SERVICES: &str = "services";
const SERVICE_IPS: &str = "service-ips";
const SERVICE_NODEPORTS: &str = "service-nodeports";
const NODEPORT_IPS: &str = "nodeport-ips";
const CLUSTER_IPS: &str = "cluster-ips";
// No endpoints.
const SERVICE_ENDPOINTS_CHECK: &str = "service-endpoints-check";
const NODEPORT_ENDPOINTS_CHECK: &str = "nodeport-endpoints-check";
const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
const REJECT_CHAIN: &str = "reject-chain";
const CLUSTER_IPS_CHECK: &str = "cluster-ips-check";
// LoadBalancerSourceRanges.
const FIREWALL_IPS: &str = "firewall-ips";
const FIREWALL_CHECK: &str = "firewall-check";
// Masquerading.
const MASQUERADING: &str = "masquerading";
const HAIRPIN_CONNECTIONS: &str = "hairpin-connections";
// Localhost NodePorts (feature gate KubeProxyNFTablesLocalhostNodePorts, off).
const LOCALHOST_NODEPORT_REJECT: &str = "localhost-nodeport-reject";
const LOCALHOST_NODEPORT_REJECT_PORTS: &str = "localhost-nodeport-reject-ports";
const LOCALHOST_NODEPORT_REJECTED_COUNTER: &str = "localhost-nodeport-rejected";

/// knftables' priorities: `dstnat` -100, `filter` 0, `srcnat` 100.
const BASE_CHAINS: [(&str, &str, &str, i32); 8] = [
    (FILTER_PREROUTING_PRE_DNAT, "filter", "prerouting", -110),
    (FILTER_OUTPUT_PRE_DNAT, "filter", "output", -110),
    (FILTER_INPUT, "filter", "input", 0),
    (FILTER_FORWARD, "filter", "forward", 0),
    (FILTER_OUTPUT, "filter", "output", 0),
    (NAT_PREROUTING, "nat", "prerouting", -100),
    (NAT_OUTPUT, "nat", "output", -100),
    (NAT_POSTROUTING, "nat", "postrouting", 100),
];

/// (destination, source base chain, extra match) of the jumps from base chains.
const JUMP_CHAINS: [(&str, &str, &str); 11] = [
    (NODEPORT_ENDPOINTS_CHECK, FILTER_INPUT, "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, FILTER_INPUT, "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, FILTER_FORWARD, "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, FILTER_OUTPUT, "ct state new"),
    (FIREWALL_CHECK, FILTER_PREROUTING_PRE_DNAT, "ct state new"),
    (FIREWALL_CHECK, FILTER_OUTPUT_PRE_DNAT, "ct state new"),
    (SERVICES, NAT_OUTPUT, ""),
    (SERVICES, NAT_PREROUTING, ""),
    (MASQUERADING, NAT_POSTROUTING, ""),
    (CLUSTER_IPS_CHECK, FILTER_FORWARD, "ct state new"),
    (CLUSTER_IPS_CHECK, FILTER_OUTPUT, "ct state new"),
];

/// The sets and maps whose elements kube-proxy tracks (`nftElementStorage`), in its order.
const STORAGES: [(&str, bool); 7] = [
    (CLUSTER_IPS, false),
    (SERVICE_IPS, true),
    (FIREWALL_IPS, true),
    (NO_ENDPOINT_SERVICES, true),
    (NO_ENDPOINT_NODEPORTS, true),
    (SERVICE_NODEPORTS, true),
    (HAIRPIN_CONNECTIONS, false),
];

/// nftables' longest object name, and the room kube-proxy keeps for its name prefixes.
const NAME_LENGTH_MAX: usize = 256;
const CHAIN_NAME_BASE_LENGTH_MAX: usize = NAME_LENGTH_MAX - 16;
/// nftables' longest comment, in bytes.
const COMMENT_LENGTH_MAX: usize = 128;

/// `hashAndTruncate`: 8 characters of base32(SHA-256(name)), `-`, the name; cut to fit.
pub(crate) fn hash_and_truncate(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let enc = data_encoding::BASE32.encode(&digest);
    let mut out = format!("{}-{name}", &enc[..8]);
    if out.len() > CHAIN_NAME_BASE_LENGTH_MAX {
        let mut cut = CHAIN_NAME_BASE_LENGTH_MAX - 3;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

/// `truncateNFTablesComment`.
fn truncate_comment(s: &str) -> String {
    if s.len() <= COMMENT_LENGTH_MAX {
        return s.to_string();
    }
    let mut cut = COMMENT_LENGTH_MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s[..cut].to_string()
}

/// `servicePortChainNameBase`: `HASH-namespace/name/protocol/port`.
fn port_chain_base(svc: &SvcPort) -> String {
    let k = &svc.key;
    hash_and_truncate(&format!("{}/{}/{}/{}", k.nsn.0, k.nsn.1, svc.proto, k.port))
}

/// `servicePortEndpointChainNameBase`: `HASH-namespace/name/protocol/port__ip/port` (an IPv6
/// address with `.` for `:`).
fn endpoint_chain_base(svc: &SvcPort, ep: &Ep) -> String {
    let k = &svc.key;
    let (ip, port) = split_host_port(&ep.ep);
    hash_and_truncate(&format!(
        "{}/{}/{}/{}__{}/{}",
        k.nsn.0,
        k.nsn.1,
        svc.proto,
        k.port,
        ip.replace(':', "."),
        port
    ))
}

/// `net.SplitHostPort` for `ip:port` and `[ip]:port`.
fn split_host_port(ep: &str) -> (&str, &str) {
    let (host, port) = ep.rsplit_once(':').unwrap_or((ep, ""));
    (host.trim_start_matches('[').trim_end_matches(']'), port)
}

fn is_service_chain(name: &str) -> bool {
    name.contains('/')
}

fn chain(name: &str) -> Obj {
    Obj::Chain {
        name: name.to_string(),
        base: None,
        comment: None,
    }
}

fn rule(chain: &str, rule: String, comment: Option<&str>) -> Obj {
    Obj::Rule {
        chain: chain.to_string(),
        rule,
        comment: comment.map(str::to_string),
    }
}

fn set_def(name: &str, type_: String, comment: &str) -> SetDef {
    SetDef {
        name: name.to_string(),
        type_,
        flags: &[],
        timeout_s: None,
        comment: Some(comment.to_string()),
    }
}

/// `nftElementStorage`: the elements of one set or map as the kernel holds them (borrowed from
/// the planner's model), what this sync added or changed, and which it re-asserted.
struct Storage<'a> {
    name: &'static str,
    is_map: bool,
    old: Option<&'a BTreeMap<String, (String, Option<String>)>>,
    /// Added or changed by this sync: key -> value.
    new: HashMap<String, String>,
    /// Old keys re-asserted by this sync (the others are deleted at the end).
    seen: HashSet<String>,
}

impl Storage<'_> {
    fn ensure(
        &mut self,
        tx: &mut Tx,
        key: Vec<String>,
        value: Vec<String>,
        comment: Option<String>,
    ) {
        let k = key.join(" . ");
        let v = value.join(" . ");
        let current = self
            .new
            .get(&k)
            .or_else(|| self.old.and_then(|o| o.get(&k)).map(|(v, _)| v));
        let elem = |key, value, comment| {
            Obj::Element(Element {
                container: self.name.to_string(),
                is_map: self.is_map,
                key,
                value,
                comment,
            })
        };
        match current {
            Some(old) if *old == v => {}
            Some(_) => {
                tx.delete(elem(key.clone(), value.clone(), comment.clone()));
                tx.add(elem(key, value, comment));
                self.new.insert(k.clone(), v);
            }
            None => {
                tx.add(elem(key, value, comment));
                self.new.insert(k.clone(), v);
            }
        }
        if self.old.is_some_and(|o| o.contains_key(&k)) {
            self.seen.insert(k);
        }
    }

    /// `cleanupLeftoverKeys`: deletes the old elements this sync did not re-assert.
    fn cleanup(&mut self, tx: &mut Tx) {
        for k in self.old.into_iter().flat_map(|o| o.keys()) {
            if self.seen.contains(k) {
                continue;
            }
            tx.delete(Obj::Element(Element {
                container: self.name.to_string(),
                is_map: self.is_map,
                key: k.split(" . ").map(str::to_string).collect(),
                value: Vec::new(),
                comment: None,
            }));
        }
    }
}

/// `ensureChain`: add and flush `name` once per sync (only record it when `skip`).
fn ensure_chain(name: &str, tx: &mut Tx, created: &mut BTreeSet<String>, skip: bool) {
    if !created.insert(name.to_string()) || skip {
        return;
    }
    tx.add(chain(name));
    tx.flush(chain(name));
}

/// One sync's transaction and what it decided.
pub(super) struct Built {
    pub tx: Tx,
    /// The service chains this sync flushed as stale, with its time.
    pub stale: BTreeMap<String, u64>,
    /// Existing service chains in use again: no longer stale.
    pub revived: Vec<String>,
    pub services_written: Vec<(String, String)>,
    pub total_endpoints: usize,
}

struct Words {
    ip: &'static str,
    addr_type: &'static str,
    no_localhost: &'static str,
}

fn words(family: IpFamily) -> Words {
    match family {
        IpFamily::V4 => Words {
            ip: "ip",
            addr_type: "ipv4_addr",
            no_localhost: "ip daddr != 127.0.0.0/8",
        },
        IpFamily::V6 => Words {
            ip: "ip6",
            addr_type: "ipv6_addr",
            no_localhost: "ip6 daddr != ::1",
        },
    }
}

/// What one sync is built from: the proxier's state, read only.
pub(super) struct BuildInput<'a> {
    pub eff: &'a Effective,
    pub tracker: &'a Tracker,
    pub kernel: &'a Kernel,
    /// The "add+delete the base chains once" step is done.
    pub flushed: bool,
    /// `--service-cidrs` of this family, joined with `,`.
    pub service_cidrs: &'a str,
    pub full: bool,
    pub now_ms: u64,
}

/// `setupNFTables`.
fn setup(p: &BuildInput, tx: &mut Tx) {
    let w = words(p.eff.family);
    let ip = w.ip;
    let addr = w.addr_type;
    let mark = &p.eff.mark;
    let masquerade_rule = format!("mark set mark or {mark}");
    let match_all = matches!(p.eff.nodeports, NodePortTargets::All);

    tx.add(Obj::Table {
        comment: Some("rules for kube-proxy".into()),
    });
    if !p.flushed {
        for (name, ..) in BASE_CHAINS {
            tx.add(chain(name));
            tx.delete(chain(name));
        }
    }
    for (name, type_, hook, priority) in BASE_CHAINS {
        let c = Obj::Chain {
            name: name.to_string(),
            base: Some(BaseChain {
                type_,
                hook,
                priority,
            }),
            comment: None,
        };
        tx.add(c.clone());
        tx.flush(c);
    }
    let mut created = BTreeSet::new();
    for (dst, src, extra) in JUMP_CHAINS {
        ensure_chain(dst, tx, &mut created, false);
        let r = if extra.is_empty() {
            format!("jump {dst}")
        } else {
            format!("{extra} jump {dst}")
        };
        tx.add(rule(src, r, None));
    }
    for c in [SERVICES, CLUSTER_IPS_CHECK, MASQUERADING] {
        ensure_chain(c, tx, &mut created, false);
    }

    tx.add(Obj::Set(set_def(
        HAIRPIN_CONNECTIONS,
        format!("{addr} . {addr} . inet_proto . inet_service"),
        "service hairpin connections",
    )));
    tx.add(rule(
        MASQUERADING,
        format!("mark and {mark} != 0 mark set mark xor {mark} masquerade fully-random"),
        None,
    ));
    tx.add(rule(
        MASQUERADING,
        format!(
            "ct status dnat {ip} saddr . {ip} daddr . meta l4proto . th dport @{HAIRPIN_CONNECTIONS} masquerade fully-random"
        ),
        None,
    ));

    tx.add(Obj::Set(set_def(
        CLUSTER_IPS,
        addr.into(),
        "Active ClusterIPs",
    )));
    tx.add(rule(
        CLUSTER_IPS_CHECK,
        format!("{ip} daddr @{CLUSTER_IPS} reject"),
        Some("Reject traffic to invalid ports of ClusterIPs"),
    ));
    if !p.service_cidrs.is_empty() {
        tx.add(rule(
            CLUSTER_IPS_CHECK,
            format!("{ip} daddr {{ {} }} drop", p.service_cidrs),
            Some("Drop traffic to unallocated ClusterIPs"),
        ));
    }

    let nodeport_ips = set_def(
        NODEPORT_IPS,
        addr.into(),
        "IPs that accept NodePort traffic",
    );
    tx.add(Obj::Set(nodeport_ips.clone()));
    match &p.eff.nodeports {
        NodePortTargets::All => tx.delete(Obj::Set(nodeport_ips)),
        NodePortTargets::Ips(ips) => {
            tx.flush(Obj::Set(nodeport_ips));
            for a in ips.iter().filter(|a| !a.is_loopback()) {
                tx.add(Obj::Element(Element {
                    container: NODEPORT_IPS.into(),
                    is_map: false,
                    key: vec![a.to_string()],
                    value: Vec::new(),
                    comment: None,
                }));
            }
        }
    }

    tx.add(Obj::Map(set_def(
        NO_ENDPOINT_SERVICES,
        format!("{addr} . inet_proto . inet_service : verdict"),
        "vmap to drop or reject packets to services with no endpoints",
    )));
    tx.add(Obj::Map(set_def(
        NO_ENDPOINT_NODEPORTS,
        "inet_proto . inet_service : verdict".into(),
        "vmap to drop or reject packets to service nodeports with no endpoints",
    )));
    let reject = Obj::Chain {
        name: REJECT_CHAIN.into(),
        base: None,
        comment: Some("helper for @no-endpoint-services / @no-endpoint-nodeports".into()),
    };
    tx.add(reject.clone());
    tx.flush(reject);
    tx.add(rule(REJECT_CHAIN, "reject".into(), None));
    tx.add(rule(
        SERVICE_ENDPOINTS_CHECK,
        format!("{ip} daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}"),
        None,
    ));
    tx.add(rule(
        NODEPORT_ENDPOINTS_CHECK,
        if match_all {
            format!(
                "{} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}",
                w.no_localhost
            )
        } else {
            format!(
                "{ip} daddr @{NODEPORT_IPS} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}"
            )
        },
        None,
    ));

    // The localhost-NodePort reject objects: their feature gate is off, so they are made sure
    // not to exist (chain first: its rule names the counter).
    tx.add(Obj::Counter {
        name: LOCALHOST_NODEPORT_REJECTED_COUNTER.into(),
    });
    let lnp_map = set_def(
        LOCALHOST_NODEPORT_REJECT_PORTS,
        "inet_proto . inet_service : verdict".into(),
        "localhost NodePorts rejected because their protocol is unsupported",
    );
    tx.add(Obj::Map(lnp_map.clone()));
    tx.add(chain(LOCALHOST_NODEPORT_REJECT));
    tx.delete(chain(LOCALHOST_NODEPORT_REJECT));
    tx.delete(Obj::Map(lnp_map));
    tx.delete(Obj::Counter {
        name: LOCALHOST_NODEPORT_REJECTED_COUNTER.into(),
    });

    tx.add(Obj::Map(set_def(
        FIREWALL_IPS,
        format!("{addr} . inet_proto . inet_service : verdict"),
        "destinations that are subject to LoadBalancerSourceRanges",
    )));
    ensure_chain(FIREWALL_CHECK, tx, &mut created, false);
    tx.add(rule(
        FIREWALL_CHECK,
        format!("{ip} daddr . meta l4proto . th dport vmap @{FIREWALL_IPS}"),
        None,
    ));

    tx.add(Obj::Map(set_def(
        SERVICE_IPS,
        format!("{addr} . inet_proto . inet_service : verdict"),
        "ClusterIP, ExternalIP and LoadBalancer IP traffic",
    )));
    tx.add(Obj::Map(set_def(
        SERVICE_NODEPORTS,
        "inet_proto . inet_service : verdict".into(),
        "NodePort traffic",
    )));
    if p.eff.masquerade_all {
        tx.add(rule(
            SERVICES,
            format!("{ip} daddr @{CLUSTER_IPS} {masquerade_rule}"),
            Some("masquerade all clusterIP traffic"),
        ));
    } else if let Some(d) = &p.eff.detector {
        tx.add(rule(
            SERVICES,
            format!(
                "{ip} daddr @{CLUSTER_IPS} {} {masquerade_rule}",
                d.if_not_local_nft
            ),
            Some("masquerade clusterIP traffic from outside cluster"),
        ));
    }
    tx.add(rule(
        SERVICES,
        format!("{ip} daddr . meta l4proto . th dport vmap @{SERVICE_IPS}"),
        None,
    ));
    tx.add(rule(
        SERVICES,
        if match_all {
            format!(
                "fib daddr type local {} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}",
                w.no_localhost
            )
        } else {
            format!("{ip} daddr @{NODEPORT_IPS} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}")
        },
        None,
    ));
}

/// `syncProxyRules`' transaction.
pub(super) fn build(p: &BuildInput) -> Built {
    let (full, now_ms) = (p.full, p.now_ms);
    let mut tx = Tx::default();
    if full {
        setup(p, &mut tx);
    }
    let w = words(p.eff.family);
    let ip = w.ip;
    let masquerade_rule = format!("mark set mark or {}", p.eff.mark);

    // The element storages: read from the kernel on a full sync, kept between partial ones
    // (both are our model of the kernel); reset (flushed) where the kernel's are unknown.
    let mut storages: Vec<Storage> = STORAGES
        .iter()
        .map(|&(name, is_map)| {
            let old = match &p.kernel {
                Kernel::Known(state) => state.elements(name),
                Kernel::Listed { .. } => {
                    if full {
                        let def = set_def(name, String::new(), "");
                        tx.flush(if is_map { Obj::Map(def) } else { Obj::Set(def) });
                    }
                    None
                }
            };
            Storage {
                name,
                is_map,
                old,
                new: HashMap::new(),
                seen: HashSet::new(),
            }
        })
        .collect();
    let [cluster_ips, service_ips, firewall_ips, no_ep_services, no_ep_nodeports, service_nodeports, hairpin] =
        storages.as_mut_slice()
    else {
        unreachable!("STORAGES has seven entries")
    };

    let (existing_chains, existing_sets): (Vec<String>, Vec<String>) = match &p.kernel {
        Kernel::Known(TableState {
            chains, containers, ..
        }) => (
            chains.keys().cloned().collect(),
            containers.keys().cloned().collect(),
        ),
        Kernel::Listed { chains, sets } => (chains.clone(), sets.clone()),
    };
    let existing_affinity: Vec<&String> = existing_sets
        .iter()
        .filter(|s| s.starts_with("affinity-"))
        .collect();

    let mut active_chains: BTreeSet<String> = BTreeSet::new();
    let mut active_affinity: BTreeSet<String> = BTreeSet::new();
    let ports = p.tracker.sorted_ports();
    let empty = Vec::new();
    let total_endpoints: usize = ports
        .iter()
        .map(|s| {
            p.tracker
                .endpoints
                .get(&s.key.nsn)
                .and_then(|(m, _)| m.get(&s.key))
                .map_or(0, Vec::len)
        })
        .sum();
    let mut services_written: BTreeSet<(String, String)> = BTreeSet::new();

    for svc in &ports {
        let proto = svc.proto;
        let port = svc.port.to_string();
        let comment = truncate_comment(&svc.spn);
        let eps: &Vec<Ep> = p
            .tracker
            .endpoints
            .get(&svc.key.nsn)
            .and_then(|(m, _)| m.get(&svc.key))
            .unwrap_or(&empty);
        let c = categorize(eps, svc, &p.eff.node_name, &p.eff.zone, p.eff.node_hints);
        let skip = !full && !p.tracker.changed.contains(&svc.key.nsn);
        let affinity = svc.affinity.is_some();
        let base = port_chain_base(svc);
        let cluster_chain = format!("service-{base}");
        let local_chain = format!("local-{base}");
        let external_chain = format!("external-{base}");
        let fw_chain = format!("firewall-{base}");
        let ep_chain = |e: &Ep| format!("endpoint-{}", endpoint_chain_base(svc, e));
        let affinity_set = |e: &Ep| format!("affinity-{}", endpoint_chain_base(svc, e));

        for e in &c.all_reachable {
            if affinity {
                ensure_chain(&ep_chain(e), &mut tx, &mut active_chains, skip);
                active_affinity.insert(affinity_set(e));
            }
            if e.local {
                let (eip, eport) = split_host_port(&e.ep);
                hairpin.ensure(
                    &mut tx,
                    vec![eip.into(), eip.into(), proto.into(), eport.into()],
                    Vec::new(),
                    None,
                );
            }
        }

        let uses_cluster_chain = !c.cluster.is_empty() && svc.uses_cluster_endpoints();
        if uses_cluster_chain {
            ensure_chain(&cluster_chain, &mut tx, &mut active_chains, skip);
        }
        let uses_local_chain = !c.local.is_empty() && svc.uses_local_endpoints();
        if uses_local_chain {
            ensure_chain(&local_chain, &mut tx, &mut active_chains, skip);
        }
        let has_endpoints = c.has_any;
        let (internal_chain, has_internal) = if svc.internal_policy_local {
            (&local_chain, has_endpoints && !c.local.is_empty())
        } else {
            (&cluster_chain, has_endpoints)
        };
        let (external_policy_chain, has_external) = if svc.external_policy_local {
            (&local_chain, has_endpoints && !c.local.is_empty())
        } else {
            (&cluster_chain, has_endpoints)
        };
        let uses_external_chain = has_endpoints && svc.externally_accessible();
        if uses_external_chain {
            ensure_chain(&external_chain, &mut tx, &mut active_chains, skip);
        }
        let (internal_verdict, external_verdict) = if !has_endpoints {
            (
                format!("goto {REJECT_CHAIN}"),
                format!("goto {REJECT_CHAIN}"),
            )
        } else {
            (
                if has_internal { "" } else { "drop" }.to_string(),
                if has_external { "" } else { "drop" }.to_string(),
            )
        };
        let triple = |a: &std::net::IpAddr| vec![a.to_string(), proto.to_string(), port.clone()];

        cluster_ips.ensure(&mut tx, vec![svc.cluster_ip.to_string()], Vec::new(), None);
        if has_internal {
            service_ips.ensure(
                &mut tx,
                triple(&svc.cluster_ip),
                vec![format!("goto {internal_chain}")],
                None,
            );
        } else {
            no_ep_services.ensure(
                &mut tx,
                triple(&svc.cluster_ip),
                vec![internal_verdict.clone()],
                Some(comment.clone()),
            );
        }
        for eip in &svc.external_ips {
            if has_endpoints {
                service_ips.ensure(
                    &mut tx,
                    triple(eip),
                    vec![format!("goto {external_chain}")],
                    None,
                );
            }
            if !has_external {
                no_ep_services.ensure(
                    &mut tx,
                    triple(eip),
                    vec![external_verdict.clone()],
                    Some(comment.clone()),
                );
            }
        }
        let uses_fw_chain = !svc.lb_vips.is_empty() && !svc.source_ranges.is_empty();
        if uses_fw_chain {
            ensure_chain(&fw_chain, &mut tx, &mut active_chains, skip);
        }
        for lb in &svc.lb_vips {
            if has_endpoints {
                service_ips.ensure(
                    &mut tx,
                    triple(lb),
                    vec![format!("goto {external_chain}")],
                    None,
                );
            }
            if uses_fw_chain {
                firewall_ips.ensure(&mut tx, triple(lb), vec![format!("goto {fw_chain}")], None);
            }
        }
        if !has_external {
            for lb in &svc.lb_vips {
                no_ep_services.ensure(
                    &mut tx,
                    triple(lb),
                    vec![external_verdict.clone()],
                    Some(comment.clone()),
                );
            }
        }
        if svc.node_port != 0 {
            let key = vec![proto.to_string(), svc.node_port.to_string()];
            if has_endpoints {
                service_nodeports.ensure(
                    &mut tx,
                    key.clone(),
                    vec![format!("goto {external_chain}")],
                    None,
                );
            }
            if !has_external {
                no_ep_nodeports.ensure(
                    &mut tx,
                    key,
                    vec![external_verdict.clone()],
                    Some(comment.clone()),
                );
            }
        }

        if skip {
            continue;
        }
        services_written.insert(svc.key.nsn.clone());

        if uses_external_chain {
            if !svc.external_policy_local {
                tx.add(rule(
                    &external_chain,
                    masquerade_rule.clone(),
                    Some("masquerade"),
                ));
            } else {
                if let Some(d) = &p.eff.detector {
                    tx.add(rule(
                        &external_chain,
                        format!("{} goto {cluster_chain}", d.if_local_nft),
                        Some("short-circuit pod traffic"),
                    ));
                }
                tx.add(rule(
                    &external_chain,
                    format!("fib saddr type local {masquerade_rule}"),
                    Some("masquerade local traffic"),
                ));
                tx.add(rule(
                    &external_chain,
                    format!("fib saddr type local goto {cluster_chain}"),
                    Some("short-circuit local traffic"),
                ));
            }
            if has_external {
                tx.add(rule(
                    &external_chain,
                    format!("goto {external_policy_chain}"),
                    None,
                ));
            }
        }

        if uses_fw_chain {
            let mut sources: Vec<String> = Vec::new();
            let mut allow_from_node = false;
            for cidr in &svc.source_ranges {
                sources.push(cidr.to_string());
                if p.eff.node_ip.is_some_and(|n| cidr.contains(&n)) {
                    allow_from_node = true;
                }
            }
            if allow_from_node {
                sources.extend(svc.lb_vips.iter().map(|v| v.to_string()));
            }
            tx.add(rule(
                &fw_chain,
                format!("{ip} saddr != {{ {} }} drop", sources.join(" , ")),
                None,
            ));
        }

        if let Some(timeout) = svc.affinity {
            for e in &c.all_reachable {
                tx.add(Obj::Set(SetDef {
                    name: affinity_set(e),
                    type_: w.addr_type.into(),
                    flags: &["dynamic", "timeout"],
                    timeout_s: Some(timeout),
                    comment: None,
                }));
            }
        }

        let policy_chains = [
            (uses_cluster_chain, &cluster_chain, &c.cluster),
            (uses_local_chain, &local_chain, &c.local),
        ];
        for (uses, chain_name, list) in policy_chains {
            if !uses {
                continue;
            }
            if !affinity {
                let elements: Vec<String> = list
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let (eip, eport) = split_host_port(&e.ep);
                        format!("{i} : {eip} . {eport}")
                    })
                    .collect();
                tx.add(rule(
                    chain_name,
                    format!(
                        "meta l4proto {proto} dnat {ip} addr . port to numgen random mod {} map {{ {} }}",
                        list.len(),
                        elements.join(" , ")
                    ),
                    None,
                ));
            } else {
                let mut elements = Vec::new();
                for (i, e) in list.iter().enumerate() {
                    tx.add(rule(
                        chain_name,
                        format!("{ip} saddr @{} goto {}", affinity_set(e), ep_chain(e)),
                        None,
                    ));
                    elements.push(format!("{i} : goto {}", ep_chain(e)));
                }
                tx.add(rule(
                    chain_name,
                    format!(
                        "numgen random mod {} vmap {{ {} }}",
                        list.len(),
                        elements.join(" , ")
                    ),
                    None,
                ));
            }
        }
        if affinity {
            for e in &c.all_reachable {
                let ch = ep_chain(e);
                tx.add(rule(
                    &ch,
                    format!("update @{} {{ {ip} saddr }}", affinity_set(e)),
                    None,
                ));
                tx.add(rule(
                    &ch,
                    format!("meta l4proto {proto} dnat to {}", e.ep),
                    None,
                ));
            }
        }
    }

    // Stale service chains: flushed now, deleted a second later.
    let mut stale = BTreeMap::new();
    let mut revived = Vec::new();
    for c in existing_chains.iter().filter(|c| is_service_chain(c)) {
        if !active_chains.contains(c) {
            tx.flush(chain(c));
            stale.insert(c.clone(), now_ms);
        } else {
            revived.push(c.clone());
        }
    }
    for s in existing_affinity {
        if !active_affinity.contains(s) {
            tx.delete(Obj::Set(SetDef {
                name: s.clone(),
                type_: String::new(),
                flags: &[],
                timeout_s: None,
                comment: None,
            }));
        }
    }
    for s in storages.iter_mut() {
        s.cleanup(&mut tx);
    }
    Built {
        tx,
        stale,
        revived,
        services_written: services_written.into_iter().collect(),
        total_endpoints,
    }
}
