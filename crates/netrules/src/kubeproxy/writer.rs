//! `syncProxyRules`: service ports + endpoints -> the filter and nat restore input, in
//! kube-proxy's emission order.

use super::config::{Effective, NodePortTargets};
use super::objects::{Ep, Nsn, PortKey, ServiceEndpoints, SvcPort};
use crate::ip::IpFamily;
use crate::model::{Args, Line, Origin, Ruleset, ServiceRef, Table};
use std::collections::{BTreeMap, BTreeSet};

/// Above this many endpoints (summed over service ports) comments are dropped.
pub const LARGE_CLUSTER_ENDPOINTS_THRESHOLD: usize = 1000;

/// `proxy.CategorizeEndpoints`.
pub(crate) struct Categorized<'a> {
    pub cluster: Vec<&'a Ep>,
    pub local: Vec<&'a Ep>,
    pub all_reachable: Vec<&'a Ep>,
    pub has_any: bool,
}

pub(crate) fn categorize<'a>(
    eps: &'a [Ep],
    svc: &SvcPort,
    node_name: &str,
    zone: &str,
    node_hints: bool,
) -> Categorized<'a> {
    let mut c = Categorized {
        cluster: Vec::new(),
        local: Vec::new(),
        all_reachable: Vec::new(),
        has_any: false,
    };
    if eps.is_empty() {
        return c;
    }
    let mut topology_mode = "";
    let mut use_serving_terminating = false;
    if svc.uses_cluster_endpoints() {
        topology_mode = topology_mode_from_hints(eps, node_name, zone, node_hints);
        c.cluster = eps
            .iter()
            .filter(|e| e.ready && available_for_topology(e, topology_mode, node_name, zone))
            .collect();
        if c.cluster.is_empty() {
            c.cluster = eps.iter().filter(|e| e.serving && e.terminating).collect();
        }
        if !c.cluster.is_empty() {
            c.has_any = true;
        }
    }
    if !svc.uses_local_endpoints() {
        c.all_reachable = c.cluster.clone();
        return c;
    }
    let (mut local_ready, mut local_st) = (false, false);
    for e in eps {
        if e.ready {
            c.has_any = true;
            local_ready |= e.local;
        } else if e.serving && e.terminating {
            c.has_any = true;
            local_st |= e.local;
        }
    }
    if local_ready {
        c.local = eps.iter().filter(|e| e.local && e.ready).collect();
    } else if local_st {
        use_serving_terminating = true;
        c.local = eps
            .iter()
            .filter(|e| e.local && e.serving && e.terminating)
            .collect();
    }
    if !svc.uses_cluster_endpoints() {
        c.all_reachable = c.local.clone();
        return c;
    }
    if topology_mode.is_empty() && !use_serving_terminating {
        c.all_reachable = c.cluster.clone();
        return c;
    }
    // Upstream builds this union from a Go map (random order); sort it by endpoint string.
    let mut union: BTreeMap<&str, &Ep> = BTreeMap::new();
    for e in c.cluster.iter().chain(c.local.iter()) {
        union.insert(&e.ep, e);
    }
    c.all_reachable = union.into_values().collect();
    c
}

fn topology_mode_from_hints(
    eps: &[Ep],
    node_name: &str,
    zone: &str,
    node_hints: bool,
) -> &'static str {
    let (mut has_ready, mut for_node, mut all_node, mut for_zone, mut all_zone) =
        (false, false, true, false, true);
    for e in eps.iter().filter(|e| e.ready) {
        has_ready = true;
        if e.node_hints.is_empty() {
            all_node = false;
        } else if e.node_hints.contains(node_name) {
            for_node = true;
        }
        if e.zone_hints.is_empty() {
            all_zone = false;
        } else if e.zone_hints.contains(zone) {
            for_zone = true;
        }
    }
    if !has_ready {
        return "";
    }
    if node_hints && all_node && for_node {
        return "PreferSameNode";
    }
    if all_zone && for_zone {
        return "PreferSameZone";
    }
    ""
}

fn available_for_topology(e: &Ep, mode: &str, node_name: &str, zone: &str) -> bool {
    match mode {
        "" => true,
        "PreferSameNode" => e.node_hints.contains(node_name),
        "PreferSameZone" => e.zone_hints.contains(zone),
        _ => false,
    }
}

/// `proxier.probability(n)`: `%0.10f` of `1/n`.
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0f64 / n as f64)
}

/// What a sync writes and what it learned.
pub(crate) struct WriteOutput {
    pub ruleset: Ruleset,
    pub active_nat_chains: BTreeSet<String>,
    pub large_cluster_mode: bool,
    pub services_written: Vec<Nsn>,
    pub total_endpoints: usize,
}

pub(crate) struct WriteInput<'a> {
    pub eff: &'a Effective,
    pub ports: &'a [&'a SvcPort],
    pub endpoints: &'a BTreeMap<Nsn, ServiceEndpoints>,
    pub full: bool,
    pub changed: &'a BTreeSet<Nsn>,
    /// NAT chains believed to exist (for `-X` of stale ones); `None` skips stale cleanup.
    pub existing_nat_chains: Option<&'a BTreeSet<String>>,
}

const SERVICE_CHAIN_PREFIXES: [&str; 5] = [
    "KUBE-SVC-",
    "KUBE-SVL-",
    "KUBE-SEP-",
    "KUBE-FW-",
    "KUBE-EXT-",
];

/// Whether `name` is one of the per-service chains kube-proxy garbage-collects.
pub fn is_service_chain(name: &str) -> bool {
    SERVICE_CHAIN_PREFIXES.iter().any(|p| name.starts_with(p))
}

pub(crate) fn write(input: WriteInput<'_>) -> WriteOutput {
    let eff = input.eff;
    let mark = &eff.mark;
    let mut filter = Table::new("filter");
    let mut nat = Table::new("nat");
    let mut services = Vec::with_capacity(input.ports.len());
    let mut services_written = Vec::new();
    let mut written_nsn: BTreeSet<&Nsn> = BTreeSet::new();

    for c in [
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-FIREWALL",
    ] {
        filter.declare(c);
    }
    for c in [
        "KUBE-SERVICES",
        "KUBE-NODEPORTS",
        "KUBE-POSTROUTING",
        "KUBE-MARK-MASQ",
    ] {
        nat.declare(c);
    }
    nat.push(
        "KUBE-POSTROUTING",
        format!("-m mark ! --mark {mark}/{mark} -j RETURN"),
        Origin::Fixed,
    );
    nat.push(
        "KUBE-POSTROUTING",
        format!("-j MARK --xor-mark {mark}"),
        Origin::Fixed,
    );
    let mut masq = String::from(
        "-m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE",
    );
    if eff.random_fully {
        masq.push_str(" --random-fully");
    }
    nat.push("KUBE-POSTROUTING", masq, Origin::Fixed);
    nat.push(
        "KUBE-MARK-MASQ",
        format!("-j MARK --or-mark {mark}"),
        Origin::Fixed,
    );

    let is_v6 = eff.family == IpFamily::V6;
    if !is_v6 && eff.localhost_nodeports {
        filter.declare("KUBE-FIREWALL");
        filter.push(
            "KUBE-FIREWALL",
            "-m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP".into(),
            Origin::Fixed,
        );
    }

    let mut active: BTreeSet<String> = BTreeSet::new();
    let lookup = |k: &PortKey| input.endpoints.get(&k.nsn).and_then(|(m, _)| m.get(k));
    let total_endpoints: usize = input
        .ports
        .iter()
        .map(|p| lookup(&p.key).map_or(0, Vec::len))
        .sum();
    let large = total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
    let empty: Vec<Ep> = Vec::new();

    for svc in input.ports {
        let sidx = services.len();
        let so = Origin::Service { service: sidx };
        let all_eps = lookup(&svc.key).unwrap_or(&empty);
        let cat = categorize(all_eps, svc, &eff.node_name, &eff.zone, eff.node_hints);
        let spn = svc.spn.as_str();
        let proto = svc.proto;
        let cluster_chain = format!("KUBE-SVC-{}", svc.hash);
        let local_chain = format!("KUBE-SVL-{}", svc.hash);
        let ext_chain = format!("KUBE-EXT-{}", svc.hash);
        let fw_chain = format!("KUBE-FW-{}", svc.hash);
        let has_eps = cat.has_any;
        let uses_cluster_chain = !cat.cluster.is_empty() && svc.uses_cluster_endpoints();
        let uses_local_chain = !cat.local.is_empty() && svc.uses_local_endpoints();
        let (internal_chain, has_internal) = if svc.internal_policy_local {
            (&local_chain, has_eps && !cat.local.is_empty())
        } else {
            (&cluster_chain, has_eps)
        };
        let (external_policy_chain, has_external) = if svc.external_policy_local {
            (&local_chain, has_eps && !cat.local.is_empty())
        } else {
            (&cluster_chain, has_eps)
        };
        let uses_ext = has_eps && svc.externally_accessible();
        let uses_fw = has_eps && !svc.lb_vips.is_empty() && !svc.source_ranges.is_empty();
        let lb_target = if uses_fw { &fw_chain } else { &ext_chain };

        let (int_target, int_comment, ext_target, ext_comment);
        if !has_eps {
            int_target = "REJECT";
            int_comment = format!("{spn} has no endpoints");
            ext_target = "REJECT";
            ext_comment = int_comment.clone();
        } else {
            int_target = "DROP";
            int_comment = format!("{spn} has no local endpoints");
            ext_target = "DROP";
            ext_comment = int_comment.clone();
        }
        let port = svc.port.to_string();
        let cip = svc.cluster_ip.to_string();
        let pm = format!("-m {proto} -p {proto}");

        // Cluster IP.
        if has_internal {
            nat.push(
                "KUBE-SERVICES",
                Args::new()
                    .qcomment(&format!("{spn} cluster IP"))
                    .a(&pm)
                    .a("-d")
                    .a(&cip)
                    .a("--dport")
                    .a(&port)
                    .a("-j")
                    .a(internal_chain)
                    .done(),
                so,
            );
        } else {
            filter.push(
                "KUBE-SERVICES",
                Args::new()
                    .qcomment(&int_comment)
                    .a(&pm)
                    .a("-d")
                    .a(&cip)
                    .a("--dport")
                    .a(&port)
                    .a("-j")
                    .a(int_target)
                    .done(),
                so,
            );
        }
        // External IPs.
        for eip in &svc.external_ips {
            let eip = eip.to_string();
            if has_eps {
                nat.push(
                    "KUBE-SERVICES",
                    Args::new()
                        .qcomment(&format!("{spn} external IP"))
                        .a(&pm)
                        .a("-d")
                        .a(&eip)
                        .a("--dport")
                        .a(&port)
                        .a("-j")
                        .a(&ext_chain)
                        .done(),
                    so,
                );
            }
            if !has_external {
                filter.push(
                    "KUBE-EXTERNAL-SERVICES",
                    Args::new()
                        .qcomment(&ext_comment)
                        .a(&pm)
                        .a("-d")
                        .a(&eip)
                        .a("--dport")
                        .a(&port)
                        .a("-j")
                        .a(ext_target)
                        .done(),
                    so,
                );
            }
        }
        // Load-balancer IPs.
        for lb in &svc.lb_vips {
            let lb = lb.to_string();
            if has_eps {
                nat.push(
                    "KUBE-SERVICES",
                    Args::new()
                        .qcomment(&format!("{spn} loadbalancer IP"))
                        .a(&pm)
                        .a("-d")
                        .a(&lb)
                        .a("--dport")
                        .a(&port)
                        .a("-j")
                        .a(lb_target)
                        .done(),
                    so,
                );
            }
            if uses_fw {
                filter.push(
                    "KUBE-PROXY-FIREWALL",
                    Args::new()
                        .qcomment(&format!("{spn} traffic not accepted by {fw_chain}"))
                        .a(&pm)
                        .a("-d")
                        .a(&lb)
                        .a("--dport")
                        .a(&port)
                        .a("-j DROP")
                        .done(),
                    so,
                );
            }
        }
        if !has_external {
            for lb in &svc.lb_vips {
                filter.push(
                    "KUBE-EXTERNAL-SERVICES",
                    Args::new()
                        .qcomment(&ext_comment)
                        .a(&pm)
                        .a("-d")
                        .a(&lb.to_string())
                        .a("--dport")
                        .a(&port)
                        .a("-j")
                        .a(ext_target)
                        .done(),
                    so,
                );
            }
        }
        // Node ports.
        if svc.node_port != 0 {
            let np = svc.node_port.to_string();
            if has_eps {
                if eff.localhost_nodeports && !is_v6 && eff.nfacct {
                    nat.push(
                        "KUBE-NODEPORTS",
                        Args::new()
                            .comment(spn)
                            .a(&pm)
                            .a("-d 127.0.0.0/8 --dport")
                            .a(&np)
                            .a("-m nfacct --nfacct-name localhost_nps_accepted_pkts -j")
                            .a(&ext_chain)
                            .done(),
                        so,
                    );
                }
                nat.push(
                    "KUBE-NODEPORTS",
                    Args::new()
                        .comment(spn)
                        .a(&pm)
                        .a("--dport")
                        .a(&np)
                        .a("-j")
                        .a(&ext_chain)
                        .done(),
                    so,
                );
            }
            if !has_external {
                filter.push(
                    "KUBE-EXTERNAL-SERVICES",
                    Args::new()
                        .qcomment(&ext_comment)
                        .a("-m addrtype --dst-type LOCAL")
                        .a(&pm)
                        .a("--dport")
                        .a(&np)
                        .a("-j")
                        .a(ext_target)
                        .done(),
                    so,
                );
            }
        }
        // Health check node port.
        if svc.hc_node_port != 0 {
            filter.push(
                "KUBE-NODEPORTS",
                Args::new()
                    .qcomment(&format!("{spn} health check node port"))
                    .a("-m tcp -p tcp --dport")
                    .a(&svc.hc_node_port.to_string())
                    .a("-j ACCEPT")
                    .done(),
                so,
            );
        }

        // Per-service chains: record them as active, write them only when needed.
        let write_chains = input.full || input.changed.contains(&svc.key.nsn);
        if uses_ext {
            active.insert(ext_chain.clone());
        }
        if uses_fw {
            active.insert(fw_chain.clone());
        }
        if uses_cluster_chain {
            active.insert(cluster_chain.clone());
        }
        if uses_local_chain {
            active.insert(local_chain.clone());
        }
        for e in &cat.all_reachable {
            active.insert(e.chain.clone());
        }
        let ep_strings: Vec<String> = all_eps.iter().map(|e| e.ep.clone()).collect();
        let ep_index = |e: &Ep| all_eps.iter().position(|x| x.ep == e.ep).unwrap_or(0);
        services.push(ServiceRef {
            name: spn.to_string(),
            protocol: proto.to_string(),
            chain_hash: svc.hash.clone(),
            endpoints: ep_strings,
        });
        if !write_chains {
            continue;
        }
        if written_nsn.insert(&svc.key.nsn) {
            services_written.push(svc.key.nsn.clone());
        }

        if has_internal {
            let base = Args::new()
                .qcomment(&format!("{spn} cluster IP"))
                .a(&pm)
                .a("-d")
                .a(&cip)
                .a("--dport")
                .a(&port);
            if eff.masquerade_all {
                nat.push(internal_chain, base.a("-j KUBE-MARK-MASQ").done(), so);
            } else if let Some(d) = &eff.detector {
                nat.push(
                    internal_chain,
                    base.a(&d.if_not_local).a("-j KUBE-MARK-MASQ").done(),
                    so,
                );
            }
        }
        if uses_ext {
            nat.declare(&ext_chain);
            if !svc.external_policy_local {
                nat.push(
                    &ext_chain,
                    Args::new()
                        .qcomment(&format!(
                            "masquerade traffic for {spn} external destinations"
                        ))
                        .a("-j KUBE-MARK-MASQ")
                        .done(),
                    so,
                );
            } else {
                if let Some(d) = &eff.detector {
                    nat.push(
                        &ext_chain,
                        Args::new()
                            .qcomment(&format!("pod traffic for {spn} external destinations"))
                            .a(&d.if_local)
                            .a("-j")
                            .a(&cluster_chain)
                            .done(),
                        so,
                    );
                }
                nat.push(
                    &ext_chain,
                    Args::new()
                        .qcomment(&format!(
                            "masquerade LOCAL traffic for {spn} external destinations"
                        ))
                        .a("-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ")
                        .done(),
                    so,
                );
                nat.push(
                    &ext_chain,
                    Args::new()
                        .qcomment(&format!(
                            "route LOCAL traffic for {spn} external destinations"
                        ))
                        .a("-m addrtype --src-type LOCAL -j")
                        .a(&cluster_chain)
                        .done(),
                    so,
                );
            }
            if has_external {
                nat.push(&ext_chain, format!("-j {external_policy_chain}"), so);
            }
        }
        if uses_fw {
            nat.declare(&fw_chain);
            let lb_comment = format!("{spn} loadbalancer IP");
            let mut allow_from_node = false;
            for r in &svc.source_ranges {
                nat.push(
                    &fw_chain,
                    Args::new()
                        .qcomment(&lb_comment)
                        .a("-s")
                        .a(&r.to_string())
                        .a("-j")
                        .a(&ext_chain)
                        .done(),
                    so,
                );
                if let Some(nip) = &eff.node_ip {
                    if r.contains(nip) {
                        allow_from_node = true;
                    }
                }
            }
            if allow_from_node {
                for lb in &svc.lb_vips {
                    nat.push(
                        &fw_chain,
                        Args::new()
                            .qcomment(&lb_comment)
                            .a("-s")
                            .a(&lb.to_string())
                            .a("-j")
                            .a(&ext_chain)
                            .done(),
                        so,
                    );
                }
            }
            nat.push(
                &fw_chain,
                Args::new()
                    .qcomment(&format!(
                        "other traffic to {spn} will be dropped by KUBE-PROXY-FIREWALL"
                    ))
                    .done(),
                so,
            );
        }
        if uses_cluster_chain {
            nat.declare(&cluster_chain);
            write_service_to_endpoint_rules(
                &mut nat,
                spn,
                svc,
                &cluster_chain,
                &cat.cluster,
                large,
                sidx,
                &ep_index,
            );
        }
        if uses_local_chain {
            nat.declare(&local_chain);
            write_service_to_endpoint_rules(
                &mut nat,
                spn,
                svc,
                &local_chain,
                &cat.local,
                large,
                sidx,
                &ep_index,
            );
        }
        for e in &cat.all_reachable {
            let eo = Origin::Endpoint {
                service: sidx,
                endpoint: ep_index(e),
            };
            nat.declare(&e.chain);
            let mut a = Args::new();
            if !large {
                a = a.comment(spn);
            }
            nat.push(
                &e.chain,
                Args(a.0.clone())
                    .a("-s")
                    .a(&e.ip)
                    .a("-j KUBE-MARK-MASQ")
                    .done(),
                eo,
            );
            if svc.affinity.is_some() {
                a = a.a("-m recent --name").a(&e.chain).a("--set");
            }
            nat.push(
                &e.chain,
                a.a(&pm).a("-j DNAT --to-destination").a(&e.ep).done(),
                eo,
            );
        }
    }

    // Stale chains.
    if let Some(existing) = input.existing_nat_chains {
        for c in existing {
            if is_service_chain(c) && !active.contains(c) {
                nat.declare(c);
                nat.lines.push(Line::DeleteChain(c.clone()));
            }
        }
    }

    // The final KUBE-SERVICES -> KUBE-NODEPORTS jump(s).
    let np_comment = "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\"";
    match &eff.nodeports {
        NodePortTargets::All => {
            let mut a = format!("{np_comment} -m addrtype --dst-type LOCAL");
            if is_v6 {
                a.push_str(" ! -d ::1/128");
            } else if !eff.localhost_nodeports {
                a.push_str(" ! -d 127.0.0.0/8");
            }
            a.push_str(" -j KUBE-NODEPORTS");
            nat.push("KUBE-SERVICES", a, Origin::Fixed);
        }
        NodePortTargets::Ips(ips) => {
            for ip in ips {
                if ip.is_loopback() && (is_v6 || !eff.localhost_nodeports) {
                    continue;
                }
                nat.push(
                    "KUBE-SERVICES",
                    format!("{np_comment} -d {ip} -j KUBE-NODEPORTS"),
                    Origin::Fixed,
                );
            }
        }
    }

    if !eff.tcp_be_liberal {
        let mut r = String::from("-m conntrack --ctstate INVALID");
        if eff.nfacct {
            r.push_str(" -m nfacct --nfacct-name ct_state_invalid_dropped_pkts");
        }
        r.push_str(" -j DROP");
        filter.push("KUBE-FORWARD", r, Origin::Fixed);
    }
    filter.push(
        "KUBE-FORWARD",
        format!("-m comment --comment \"kubernetes forwarding rules\" -m mark --mark {mark}/{mark} -j ACCEPT"),
        Origin::Fixed,
    );
    filter.push(
        "KUBE-FORWARD",
        "-m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".into(),
        Origin::Fixed,
    );

    WriteOutput {
        ruleset: Ruleset {
            tables: vec![filter, nat],
            services,
        },
        active_nat_chains: active,
        large_cluster_mode: large,
        services_written,
        total_endpoints,
    }
}

#[allow(clippy::too_many_arguments)]
fn write_service_to_endpoint_rules(
    nat: &mut Table,
    spn: &str,
    svc: &SvcPort,
    chain: &str,
    eps: &[&Ep],
    large: bool,
    sidx: usize,
    ep_index: &dyn Fn(&Ep) -> usize,
) {
    if let Some(timeout) = svc.affinity {
        let t = timeout.to_string();
        for e in eps {
            let mut a = Args::new();
            if !large {
                a = a.qcomment(&format!("{spn} -> {}", e.ep));
            }
            let a = a
                .a("-m recent --name")
                .a(&e.chain)
                .a("--rcheck --seconds")
                .a(&t)
                .a("--reap -j")
                .a(&e.chain);
            nat.push(
                chain,
                a.done(),
                Origin::Endpoint {
                    service: sidx,
                    endpoint: ep_index(e),
                },
            );
        }
    }
    let n = eps.len();
    for (i, e) in eps.iter().enumerate() {
        let mut a = Args::new();
        if !large {
            a = a.qcomment(&format!("{spn} -> {}", e.ep));
        }
        if i < n - 1 {
            a = a
                .a("-m statistic --mode random --probability")
                .a(&probability(n - i));
        }
        nat.push(
            chain,
            a.a("-j").a(&e.chain).done(),
            Origin::Endpoint {
                service: sidx,
                endpoint: ep_index(e),
            },
        );
    }
}
