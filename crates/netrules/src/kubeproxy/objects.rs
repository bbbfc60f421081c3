//! Services and EndpointSlices -> kube-proxy's per-service-port view (`ServicePortMap`) and
//! endpoint lists (`EndpointsMap`), with the same normalisation and the same skipping rules.

use crate::hash::{endpoint_chain, port_proto_hash};
use crate::ip::{join_host_port, parse_cidr_sloppy, parse_ip_sloppy, Cidr, IpFamily};
use crate::k8s::{EndpointSlice, Service};
use crate::Warning;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// `namespace/name` of a Service.
pub type Nsn = (String, String);

/// Key of a service port: (namespace, service, port name, protocol as in the API, e.g. `TCP`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PortKey {
    pub nsn: Nsn,
    pub port: String,
    pub protocol: String,
}

/// One service port, as kube-proxy's `servicePortInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SvcPort {
    pub key: PortKey,
    /// `ns/name` or `ns/name:port`.
    pub spn: String,
    /// Lower-case protocol.
    pub proto: &'static str,
    pub hash: String,
    pub cluster_ip: IpAddr,
    pub port: u16,
    pub node_port: u16,
    pub external_ips: Vec<IpAddr>,
    pub lb_vips: Vec<IpAddr>,
    pub source_ranges: Vec<Cidr>,
    /// `Some(timeout)` with ClientIP affinity.
    pub affinity: Option<i64>,
    pub hc_node_port: u16,
    pub external_policy_local: bool,
    pub internal_policy_local: bool,
}

impl SvcPort {
    pub fn externally_accessible(&self) -> bool {
        self.node_port != 0 || !self.lb_vips.is_empty() || !self.external_ips.is_empty()
    }
    pub fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local || self.externally_accessible()
    }
    pub fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local || (self.external_policy_local && self.externally_accessible())
    }
}

/// One endpoint of a service port (`BaseEndpointInfo` + its chain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ep {
    pub ip: String,
    /// `ip:port` / `[ip]:port`
    pub ep: String,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    pub local: bool,
    pub zone_hints: BTreeSet<String>,
    pub node_hints: BTreeSet<String>,
    pub chain: String,
}

fn svc_ref(s: &Service) -> String {
    format!("{}/{}", s.metadata.namespace, s.metadata.name)
}

/// `proxyutil.GetClusterIPByFamily`.
fn cluster_ip_by_family(s: &Service, family: IpFamily) -> Option<String> {
    if s.spec.ip_families.is_empty() {
        let ip = &s.spec.cluster_ip;
        if ip.is_empty() || ip == "None" {
            return None;
        }
        let is_v6 = parse_ip_sloppy(ip).is_some_and(|a| a.is_ipv6());
        return if is_v6 == (family == IpFamily::V6) {
            Some(ip.clone())
        } else {
            None
        };
    }
    for (idx, f) in s.spec.ip_families.iter().enumerate() {
        if IpFamily::parse(f) == Some(family) {
            return s.spec.cluster_ips.get(idx).cloned();
        }
    }
    None
}

fn externally_accessible_by_type(s: &Service) -> bool {
    match s.spec.type_.as_deref() {
        Some("LoadBalancer") | Some("NodePort") => true,
        Some("ClusterIP") => !s.spec.external_ips.is_empty(),
        _ => false,
    }
}

fn port_u16(v: i64) -> Option<u16> {
    if (1..=65535).contains(&v) {
        Some(v as u16)
    } else {
        None
    }
}

/// `ServiceChangeTracker.serviceToServiceMap`: the service ports of one Service for `family`.
/// Returns an empty list for skipped Services (headless, ExternalName, no IP of this family).
pub(crate) fn service_ports(
    s: &Service,
    family: IpFamily,
    warnings: &mut Vec<Warning>,
) -> Vec<SvcPort> {
    let mut out = Vec::new();
    let spec = &s.spec;
    if spec.cluster_ip.is_empty()
        || spec.cluster_ip == "None"
        || spec.type_.as_deref() == Some("ExternalName")
    {
        return out;
    }
    let Some(cip_str) = cluster_ip_by_family(s, family) else {
        return out;
    };
    let Some(cluster_ip) = parse_ip_sloppy(&cip_str) else {
        warnings.push(Warning::object(
            "Service",
            &svc_ref(s),
            "Skipping service with an invalid cluster IP",
            &cip_str,
        ));
        return out;
    };
    if IpFamily::of(&cluster_ip) != family {
        return out;
    }
    let external_policy_local = externally_accessible_by_type(s)
        && spec.external_traffic_policy.as_deref() == Some("Local");
    let internal_policy_local = spec.internal_traffic_policy.as_deref() == Some("Local");
    let affinity = if spec.session_affinity.as_deref() == Some("ClientIP") {
        let t = spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .unwrap_or(10800);
        Some(t)
    } else {
        None
    };

    let mut external_ips = Vec::new();
    for e in &spec.external_ips {
        match parse_ip_sloppy(e) {
            Some(ip) if IpFamily::of(&ip) == family => external_ips.push(ip),
            Some(_) => {}
            None => warnings.push(Warning::object(
                "Service",
                &svc_ref(s),
                "Ignoring invalid externalIP",
                e,
            )),
        }
    }
    let mut source_ranges = Vec::new();
    for r in &spec.load_balancer_source_ranges {
        match parse_cidr_sloppy(r.trim()) {
            Some(c) if c.family() == family => source_ranges.push(c),
            Some(_) => {}
            None => warnings.push(Warning::object(
                "Service",
                &svc_ref(s),
                "Ignoring invalid loadBalancerSourceRanges entry",
                r,
            )),
        }
    }
    let mut lb_vips = Vec::new();
    for ing in &s.status.load_balancer.ingress {
        if ing.ip.is_empty() || !(ing.ip_mode.is_none() || ing.ip_mode.as_deref() == Some("VIP")) {
            continue;
        }
        match parse_ip_sloppy(&ing.ip) {
            Some(ip) if IpFamily::of(&ip) == family => lb_vips.push(ip),
            Some(_) => {}
            None => warnings.push(Warning::object(
                "Service",
                &svc_ref(s),
                "Ignoring invalid load balancer ingress IP",
                &ing.ip,
            )),
        }
    }
    let mut hc_node_port = 0u16;
    if spec.type_.as_deref() == Some("LoadBalancer") && external_policy_local {
        if spec.health_check_node_port == 0 {
            warnings.push(Warning::object(
                "Service",
                &svc_ref(s),
                "Service has no healthcheck nodeport",
                "",
            ));
        } else if let Some(p) = port_u16(spec.health_check_node_port) {
            hc_node_port = p;
        } else {
            warnings.push(Warning::object(
                "Service",
                &svc_ref(s),
                "Ignoring out-of-range healthCheckNodePort",
                &spec.health_check_node_port.to_string(),
            ));
        }
    }

    for p in &spec.ports {
        let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".to_string());
        let proto = match protocol.as_str() {
            "TCP" => "tcp",
            "UDP" => "udp",
            "SCTP" => "sctp",
            other => {
                warnings.push(Warning::object(
                    "Service",
                    &svc_ref(s),
                    "Skipping service port with unknown protocol",
                    other,
                ));
                continue;
            }
        };
        let spn = if p.name.is_empty() {
            format!("{}/{}", s.metadata.namespace, s.metadata.name)
        } else {
            format!("{}/{}:{}", s.metadata.namespace, s.metadata.name, p.name)
        };
        let Some(port) = port_u16(p.port) else {
            warnings.push(Warning::object(
                "Service",
                &spn,
                "Skipping service port with out-of-range port",
                &p.port.to_string(),
            ));
            continue;
        };
        let node_port = if p.node_port == 0 {
            0
        } else if let Some(np) = port_u16(p.node_port) {
            np
        } else {
            warnings.push(Warning::object(
                "Service",
                &spn,
                "Ignoring out-of-range nodePort",
                &p.node_port.to_string(),
            ));
            0
        };
        let hash = port_proto_hash(&spn, proto);
        out.push(SvcPort {
            key: PortKey {
                nsn: (s.metadata.namespace.clone(), s.metadata.name.clone()),
                port: p.name.clone(),
                protocol,
            },
            spn,
            proto,
            hash,
            cluster_ip,
            port,
            node_port,
            external_ips: external_ips.clone(),
            lb_vips: lb_vips.clone(),
            source_ranges: source_ranges.clone(),
            affinity,
            hc_node_port,
            external_policy_local,
            internal_policy_local,
        });
    }
    out
}

/// A Service's endpoint lists by service port, with the warnings found building them.
pub(crate) type ServiceEndpoints = (BTreeMap<PortKey, Vec<Ep>>, Vec<Warning>);

/// Whether kube-proxy's endpoints tracker for `family` looks at this slice at all.
pub(crate) fn slice_relevant(slice: &EndpointSlice, family: IpFamily) -> bool {
    slice.address_type == family.as_k8s()
        && slice.service_name().is_some()
        && !slice.metadata.name.is_empty()
}

/// `EndpointSliceCache.endpointInfoByServicePort` + `endpointsMapFromEndpointInfo` for one
/// Service: merges its slices (visited in slice-name order), dedups by endpoint string
/// (a later copy wins unless it is terminating) and sorts each list by endpoint string.
pub(crate) fn endpoints_for_service(
    nsn: &Nsn,
    slices: &BTreeMap<String, EndpointSlice>,
    family: IpFamily,
    node_name: &str,
    node_hints_enabled: bool,
    warnings: &mut Vec<Warning>,
) -> BTreeMap<PortKey, Vec<Ep>> {
    let mut by_port: BTreeMap<PortKey, BTreeMap<String, Ep>> = BTreeMap::new();
    for (slice_name, slice) in slices {
        let slice_ref = format!("{}/{}", nsn.0, slice_name);
        for port in &slice.ports {
            let Some(name) = &port.name else {
                warnings.push(Warning::object(
                    "EndpointSlice",
                    &slice_ref,
                    "Ignoring port with nil name",
                    "",
                ));
                continue;
            };
            let pnum = match port.port {
                None | Some(0) => {
                    warnings.push(Warning::object(
                        "EndpointSlice",
                        &slice_ref,
                        "Ignoring invalid endpoint port",
                        name,
                    ));
                    continue;
                }
                Some(p) => match port_u16(p) {
                    Some(p) => p,
                    None => {
                        warnings.push(Warning::object(
                            "EndpointSlice",
                            &slice_ref,
                            "Ignoring out-of-range endpoint port",
                            &p.to_string(),
                        ));
                        continue;
                    }
                },
            };
            let key = PortKey {
                nsn: nsn.clone(),
                port: name.clone(),
                protocol: port.protocol.clone().unwrap_or_else(|| "TCP".into()),
            };
            let spn = if name.is_empty() {
                format!("{}/{}", nsn.0, nsn.1)
            } else {
                format!("{}/{}:{}", nsn.0, nsn.1, name)
            };
            let proto = key.protocol.to_ascii_lowercase();
            let set = by_port.entry(key).or_default();
            for e in &slice.endpoints {
                let Some(addr) = e.addresses.first() else {
                    warnings.push(Warning::object(
                        "EndpointSlice",
                        &slice_ref,
                        "Ignoring invalid endpoint port with empty address",
                        "",
                    ));
                    continue;
                };
                let Some(ip) = parse_ip_sloppy(addr) else {
                    warnings.push(Warning::object(
                        "EndpointSlice",
                        &slice_ref,
                        "Ignoring endpoint with invalid address",
                        addr,
                    ));
                    continue;
                };
                if IpFamily::of(&ip) != family {
                    warnings.push(Warning::object(
                        "EndpointSlice",
                        &slice_ref,
                        "Ignoring endpoint whose address does not match the slice's addressType",
                        addr,
                    ));
                    continue;
                }
                let terminating = e.conditions.terminating == Some(true);
                let ep = join_host_port(&ip, pnum);
                if set.contains_key(&ep) && terminating {
                    continue;
                }
                let mut zone_hints = BTreeSet::new();
                let mut node_hints = BTreeSet::new();
                if let Some(h) = &e.hints {
                    zone_hints.extend(h.for_zones.iter().map(|z| z.name.clone()));
                    if node_hints_enabled {
                        node_hints.extend(h.for_nodes.iter().map(|n| n.name.clone()));
                    }
                }
                let chain = endpoint_chain(&spn, &proto, &ep);
                set.insert(
                    ep.clone(),
                    Ep {
                        ip: ip.to_string(),
                        ep,
                        ready: e.conditions.ready != Some(false),
                        serving: e.conditions.serving != Some(false),
                        terminating,
                        local: !node_name.is_empty() && e.node_name.as_deref() == Some(node_name),
                        zone_hints,
                        node_hints,
                        chain,
                    },
                );
            }
        }
    }
    by_port
        .into_iter()
        .filter(|(_, set)| !set.is_empty())
        .map(|(k, set)| (k, set.into_values().collect()))
        .collect()
}
