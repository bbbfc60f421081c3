//! The cluster DNS data: an index of Services (and the endpoints of headless ones) built from
//! API objects, and the lookup rules of CoreDNS's `kubernetes` plugin (schema v1.1.0) as a pure
//! function from a question to an answer.
//!
//! Names served, under the cluster domain (`cluster.local`):
//! * `<svc>.<ns>.svc` A → the ClusterIP; headless → one A per ready endpoint; ExternalName →
//!   CNAME;
//! * `<hostname-or-dashed-ip>.<svc>.<ns>.svc` A → that endpoint of a headless service;
//! * `_<port>._<proto>.<svc>.<ns>.svc` SRV → `<svc>.<ns>.svc` (headless: one per endpoint);
//! * `<a-b-c-d>.<ns>.pod` A → `a.b.c.d` (CoreDNS `pods insecure`, the kubeadm default: the
//!   name is answered from its own text, no pod lookup);
//! * PTR `d.c.b.a.in-addr.arpa` for ClusterIPs and headless endpoints.
//!
//! Existing names asked for another type get NOERROR with no answer (NODATA); unknown names
//! inside the domain get NXDOMAIN; both carry the zone's SOA, as CoreDNS does.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value;

use crate::kube::client::KubeObject;

/// TTL of every record (CoreDNS `kubernetes { ttl 30 }` in kubeadm's Corefile).
pub const TTL: u32 = 30;

/// A port of a service, for SRV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEntry {
    /// The port's name (SRV needs one).
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The port number (service port, or for headless the endpoint port).
    pub port: u16,
}

/// One endpoint of a headless service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointEntry {
    /// The address.
    pub ip: IpAddr,
    /// `hostname` from the EndpointSlice, else the dashed address (`10-244-1-5`).
    pub hostname: String,
}

/// What the index knows about one Service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceEntry {
    /// ClusterIP(s); empty for headless and ExternalName services.
    pub cluster_ips: Vec<IpAddr>,
    /// `spec.externalName` of an ExternalName service.
    pub external_name: Option<String>,
    /// Named ports (service ports; for headless, the endpoint ports).
    pub ports: Vec<PortEntry>,
    /// Ready endpoints (headless services only).
    pub endpoints: Vec<EndpointEntry>,
}

impl ServiceEntry {
    /// Whether this service is headless (`clusterIP: None`).
    pub fn headless(&self) -> bool {
        self.cluster_ips.is_empty() && self.external_name.is_none()
    }
}

/// Everything the server answers from.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// `(namespace, name)` → service.
    pub services: BTreeMap<(String, String), ServiceEntry>,
    /// Namespaces that have at least one service (their `<ns>.svc` name exists).
    pub namespaces: BTreeSet<String>,
    /// Reverse map for PTR.
    pub reverse: BTreeMap<IpAddr, String>,
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// `10-244-1-5` for `10.244.1.5` (IPv6: `:` → `-`).
pub fn dashed(ip: &IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

impl Index {
    /// Builds the index from Services and EndpointSlices as the API returns them. Returns
    /// the index and one message per object that was skipped (malformed).
    pub fn build<'a>(
        services: impl IntoIterator<Item = &'a Value>,
        slices: impl IntoIterator<Item = &'a Value>,
        domain: &str,
    ) -> (Index, Vec<String>) {
        let mut idx = Index::default();
        let mut warnings = Vec::new();
        for svc in services {
            let (ns, name) = (svc.namespace().unwrap_or("default"), svc.name());
            if name.is_empty() {
                warnings.push("Service without metadata.name".to_string());
                continue;
            }
            let mut entry = ServiceEntry::default();
            let typ = str_at(svc, "/spec/type").unwrap_or("ClusterIP");
            if typ == "ExternalName" {
                match str_at(svc, "/spec/externalName") {
                    Some(n) if !n.is_empty() => entry.external_name = Some(n.to_string()),
                    _ => {
                        warnings.push(format!(
                            "Service {ns}/{name}: ExternalName without spec.externalName"
                        ));
                        continue;
                    }
                }
            } else {
                let mut ips: Vec<&str> = svc
                    .pointer("/spec/clusterIPs")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if ips.is_empty() {
                    ips.extend(str_at(svc, "/spec/clusterIP"));
                }
                for ip in ips {
                    if ip.is_empty() || ip == "None" {
                        continue;
                    }
                    match ip.parse::<IpAddr>() {
                        Ok(a) => entry.cluster_ips.push(a),
                        Err(_) => {
                            warnings.push(format!("Service {ns}/{name}: bad clusterIP {ip:?}"))
                        }
                    }
                }
                if entry.cluster_ips.is_empty()
                    && !matches!(str_at(svc, "/spec/clusterIP"), Some("None"))
                {
                    // Not allocated yet: CoreDNS skips it until it has an IP.
                    continue;
                }
            }
            for p in svc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let port = p.get("port").and_then(Value::as_u64).unwrap_or(0);
                if let (Some(pname), Ok(port)) =
                    (p.get("name").and_then(Value::as_str), u16::try_from(port))
                {
                    if !pname.is_empty() && port != 0 {
                        entry.ports.push(PortEntry {
                            name: pname.to_string(),
                            protocol: p
                                .get("protocol")
                                .and_then(Value::as_str)
                                .unwrap_or("TCP")
                                .to_ascii_lowercase(),
                            port,
                        });
                    }
                }
            }
            for ip in &entry.cluster_ips {
                idx.reverse
                    .insert(*ip, format!("{name}.{ns}.svc.{domain}."));
            }
            idx.namespaces.insert(ns.to_string());
            idx.services
                .insert((ns.to_string(), name.to_string()), entry);
        }
        for slice in slices {
            let ns = slice.namespace().unwrap_or("default").to_string();
            let Some(svc_name) = slice.labels().get("kubernetes.io/service-name").cloned() else {
                continue;
            };
            let Some(entry) = idx.services.get_mut(&(ns.clone(), svc_name.clone())) else {
                continue;
            };
            if !entry.headless() {
                continue;
            }
            if entry.ports.is_empty() || entry.endpoints.is_empty() {
                // Headless SRV uses the endpoint ports.
                let mut ports = Vec::new();
                for p in slice
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let (Some(n), Some(port)) = (
                        p.get("name").and_then(Value::as_str),
                        p.get("port")
                            .and_then(Value::as_u64)
                            .and_then(|x| u16::try_from(x).ok()),
                    ) {
                        if !n.is_empty() {
                            ports.push(PortEntry {
                                name: n.to_string(),
                                protocol: p
                                    .get("protocol")
                                    .and_then(Value::as_str)
                                    .unwrap_or("TCP")
                                    .to_ascii_lowercase(),
                                port,
                            });
                        }
                    }
                }
                if !ports.is_empty() {
                    entry.ports = ports;
                }
            }
            for ep in slice
                .get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                // CoreDNS publishes ready endpoints (publishNotReadyAddresses aside).
                let ready = ep
                    .pointer("/conditions/ready")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if !ready {
                    continue;
                }
                let Some(addr) = ep
                    .get("addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                else {
                    continue;
                };
                let Ok(ip) = addr.parse::<IpAddr>() else {
                    warnings.push(format!(
                        "EndpointSlice {ns}/{}: bad address {addr:?}",
                        slice.name()
                    ));
                    continue;
                };
                let hostname = ep
                    .get("hostname")
                    .and_then(Value::as_str)
                    .filter(|h| !h.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| dashed(&ip));
                if entry.endpoints.iter().any(|e| e.ip == ip) {
                    continue;
                }
                idx.reverse
                    .entry(ip)
                    .or_insert_with(|| format!("{hostname}.{svc_name}.{ns}.svc.{domain}."));
                entry.endpoints.push(EndpointEntry { ip, hostname });
            }
        }
        for entry in idx.services.values_mut() {
            entry.endpoints.sort_by_key(|e| e.ip);
        }
        (idx, warnings)
    }
}

/// The record data of an answer, independent of the wire library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(std::net::Ipv6Addr),
    /// An alias (absolute name with trailing dot).
    Cname(String),
    /// A pointer (absolute name).
    Ptr(String),
    /// priority, weight, port, target (absolute).
    Srv(u16, u16, u16, String),
}

/// One answer record: owner name (absolute, lower-case) and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The owner name.
    pub name: String,
    /// The data.
    pub data: Data,
}

/// The outcome of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The name exists: these answers (empty = NODATA), plus additional records (SRV targets).
    Found {
        /// Answer section.
        answers: Vec<Answer>,
        /// Additional section.
        additional: Vec<Answer>,
    },
    /// The name is inside the zone but does not exist.
    NxDomain,
    /// The name is outside the zones this server is authoritative for.
    NotAuthoritative,
}

/// The query types the index answers (others give NODATA for existing names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QType {
    /// A
    A,
    /// AAAA
    Aaaa,
    /// SRV
    Srv,
    /// PTR
    Ptr,
    /// CNAME
    Cname,
    /// ANY other type.
    Other,
}

fn found(answers: Vec<Answer>) -> Outcome {
    Outcome::Found {
        answers,
        additional: Vec::new(),
    }
}

fn addr_data(ip: &IpAddr) -> Data {
    match ip {
        IpAddr::V4(a) => Data::A(*a),
        IpAddr::V6(a) => Data::Aaaa(*a),
    }
}

fn wants(q: QType, ip: &IpAddr) -> bool {
    matches!(
        (q, ip),
        (QType::A, IpAddr::V4(_)) | (QType::Aaaa, IpAddr::V6(_))
    )
}

impl Index {
    /// Looks up `qname` (any case, with or without trailing dot) for `qtype` under `domain`.
    pub fn lookup(&self, qname: &str, qtype: QType, domain: &str) -> Outcome {
        let name = qname.trim_end_matches('.').to_ascii_lowercase();
        let fqdn = format!("{name}.");
        if let Some(rev) = name.strip_suffix(".in-addr.arpa") {
            return self.lookup_ptr(rev, qtype, &fqdn);
        }
        if name == "in-addr.arpa" {
            return found(vec![]);
        }
        let rest = if name == domain {
            ""
        } else if let Some(r) = name.strip_suffix(&format!(".{domain}")) {
            r
        } else {
            return Outcome::NotAuthoritative;
        };
        // Labels from the domain outwards: [..., svc-or-pod]
        let labels: Vec<&str> = if rest.is_empty() {
            vec![]
        } else {
            rest.rsplit('.').collect()
        };
        match labels.as_slice() {
            [] => found(vec![]),
            ["svc"] | ["pod"] => found(vec![]),
            ["svc", ns] => {
                if self.namespaces.contains(*ns) {
                    found(vec![])
                } else {
                    Outcome::NxDomain
                }
            }
            ["svc", ns, svc] => self.lookup_service(ns, svc, qtype, &fqdn),
            ["svc", ns, svc, host] => self.lookup_endpoint(ns, svc, host, qtype, &fqdn),
            ["svc", ns, svc, proto, port] => {
                self.lookup_srv(ns, svc, port, proto, qtype, &fqdn, domain)
            }
            ["pod", _ns] => found(vec![]),
            ["pod", _ns, ip] => {
                let ip = if ip.contains("--") || ip.matches('-').count() > 3 {
                    ip.replace('-', ":").parse::<IpAddr>()
                } else {
                    ip.replace('-', ".").parse::<IpAddr>()
                };
                match ip {
                    Ok(ip) if wants(qtype, &ip) => found(vec![Answer {
                        name: fqdn,
                        data: addr_data(&ip),
                    }]),
                    Ok(_) => found(vec![]),
                    Err(_) => Outcome::NxDomain,
                }
            }
            _ => Outcome::NxDomain,
        }
    }

    fn lookup_service(&self, ns: &str, svc: &str, qtype: QType, fqdn: &str) -> Outcome {
        let Some(entry) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return Outcome::NxDomain;
        };
        if let Some(target) = &entry.external_name {
            let target = format!("{}.", target.trim_end_matches('.'));
            return found(vec![Answer {
                name: fqdn.to_string(),
                data: Data::Cname(target),
            }]);
        }
        let ips: Vec<IpAddr> = if entry.headless() {
            entry.endpoints.iter().map(|e| e.ip).collect()
        } else {
            entry.cluster_ips.clone()
        };
        found(
            ips.iter()
                .filter(|ip| wants(qtype, ip))
                .map(|ip| Answer {
                    name: fqdn.to_string(),
                    data: addr_data(ip),
                })
                .collect(),
        )
    }

    fn lookup_endpoint(
        &self,
        ns: &str,
        svc: &str,
        host: &str,
        qtype: QType,
        fqdn: &str,
    ) -> Outcome {
        let Some(entry) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return Outcome::NxDomain;
        };
        let eps: Vec<&EndpointEntry> = entry
            .endpoints
            .iter()
            .filter(|e| e.hostname == host)
            .collect();
        if eps.is_empty() {
            return Outcome::NxDomain;
        }
        found(
            eps.iter()
                .filter(|e| wants(qtype, &e.ip))
                .map(|e| Answer {
                    name: fqdn.to_string(),
                    data: addr_data(&e.ip),
                })
                .collect(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn lookup_srv(
        &self,
        ns: &str,
        svc: &str,
        port: &str,
        proto: &str,
        qtype: QType,
        fqdn: &str,
        domain: &str,
    ) -> Outcome {
        let (Some(port), Some(proto)) = (port.strip_prefix('_'), proto.strip_prefix('_')) else {
            return Outcome::NxDomain;
        };
        let Some(entry) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return Outcome::NxDomain;
        };
        let ports: Vec<&PortEntry> = entry
            .ports
            .iter()
            .filter(|p| p.name == port && p.protocol == proto)
            .collect();
        if ports.is_empty() {
            return Outcome::NxDomain;
        }
        if qtype != QType::Srv {
            return found(vec![]);
        }
        let svc_name = format!("{svc}.{ns}.svc.{domain}.");
        let mut answers = Vec::new();
        let mut additional = Vec::new();
        for p in ports {
            if entry.headless() {
                let weight = (100 / entry.endpoints.len().max(1)) as u16;
                for e in &entry.endpoints {
                    let target = format!("{}.{svc_name}", e.hostname);
                    answers.push(Answer {
                        name: fqdn.to_string(),
                        data: Data::Srv(0, weight, p.port, target.clone()),
                    });
                    additional.push(Answer {
                        name: target,
                        data: addr_data(&e.ip),
                    });
                }
            } else {
                answers.push(Answer {
                    name: fqdn.to_string(),
                    data: Data::Srv(0, 100, p.port, svc_name.clone()),
                });
                for ip in &entry.cluster_ips {
                    additional.push(Answer {
                        name: svc_name.clone(),
                        data: addr_data(ip),
                    });
                }
            }
        }
        Outcome::Found {
            answers,
            additional,
        }
    }

    fn lookup_ptr(&self, rev: &str, qtype: QType, fqdn: &str) -> Outcome {
        let octets: Vec<&str> = rev.split('.').collect();
        if octets.len() != 4 {
            return if self.reverse.is_empty() {
                Outcome::NotAuthoritative
            } else {
                found(vec![])
            };
        }
        let text: Vec<&str> = octets.iter().rev().copied().collect();
        let Ok(ip) = text.join(".").parse::<IpAddr>() else {
            return Outcome::NxDomain;
        };
        match self.reverse.get(&ip) {
            Some(target) if qtype == QType::Ptr => found(vec![Answer {
                name: fqdn.to_string(),
                data: Data::Ptr(target.clone()),
            }]),
            Some(_) => found(vec![]),
            // Not a cluster address: a real cluster would forward; the lab has no upstream.
            None => Outcome::NotAuthoritative,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D: &str = "cluster.local";

    fn index() -> Index {
        let svcs = [
            json!({"metadata":{"name":"web","namespace":"default"},"spec":{"clusterIP":"10.96.0.20","ports":[{"name":"http","port":80,"protocol":"TCP"}]}}),
            json!({"metadata":{"name":"db","namespace":"default"},"spec":{"clusterIP":"None","ports":[{"name":"pg","port":5432}]}}),
            json!({"metadata":{"name":"ext","namespace":"default"},"spec":{"type":"ExternalName","externalName":"example.com"}}),
        ];
        let slices = [
            json!({"metadata":{"name":"db-abc","namespace":"default","labels":{"kubernetes.io/service-name":"db"}},
            "ports":[{"name":"pg","port":5432,"protocol":"TCP"}],
            "endpoints":[{"addresses":["10.244.2.7"],"conditions":{"ready":true}},
                         {"addresses":["10.244.1.5"],"conditions":{"ready":true},"hostname":"db-0"},
                         {"addresses":["10.244.1.9"],"conditions":{"ready":false}}]}),
        ];
        let (idx, w) = Index::build(&svcs, &slices, D);
        assert!(w.is_empty(), "{w:?}");
        idx
    }

    fn ips(o: Outcome) -> Vec<String> {
        match o {
            Outcome::Found { answers, .. } => answers
                .into_iter()
                .map(|a| match a.data {
                    Data::A(ip) => ip.to_string(),
                    other => format!("{other:?}"),
                })
                .collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn services_resolve_to_cluster_ip_or_ready_endpoints() {
        let i = index();
        assert_eq!(
            ips(i.lookup("web.default.svc.cluster.local.", QType::A, D)),
            ["10.96.0.20"]
        );
        assert_eq!(
            ips(i.lookup("WEB.default.svc.cluster.local", QType::A, D)),
            ["10.96.0.20"]
        );
        assert_eq!(
            ips(i.lookup("db.default.svc.cluster.local.", QType::A, D)),
            ["10.244.1.5", "10.244.2.7"]
        );
        assert_eq!(
            ips(i.lookup("db-0.db.default.svc.cluster.local.", QType::A, D)),
            ["10.244.1.5"]
        );
        assert_eq!(
            ips(i.lookup("10-244-2-7.db.default.svc.cluster.local.", QType::A, D)),
            ["10.244.2.7"]
        );
        assert_eq!(
            ips(i.lookup("ext.default.svc.cluster.local.", QType::A, D)),
            ["Cname(\"example.com.\")"]
        );
        assert_eq!(
            ips(i.lookup("web.default.svc.cluster.local.", QType::Aaaa, D)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn unknown_names_and_other_zones() {
        let i = index();
        assert_eq!(
            i.lookup("nope.default.svc.cluster.local.", QType::A, D),
            Outcome::NxDomain
        );
        assert_eq!(
            i.lookup("web.other.svc.cluster.local.", QType::A, D),
            Outcome::NxDomain
        );
        assert_eq!(
            i.lookup("example.com.", QType::A, D),
            Outcome::NotAuthoritative
        );
        assert_eq!(
            ips(i.lookup("default.svc.cluster.local.", QType::A, D)),
            Vec::<String>::new()
        );
        assert_eq!(
            i.lookup("other.svc.cluster.local.", QType::A, D),
            Outcome::NxDomain
        );
    }

    #[test]
    fn pods_and_srv_and_ptr() {
        let i = index();
        assert_eq!(
            ips(i.lookup("10-244-1-5.default.pod.cluster.local.", QType::A, D)),
            ["10.244.1.5"]
        );
        assert_eq!(
            i.lookup("x-y.default.pod.cluster.local.", QType::A, D),
            Outcome::NxDomain
        );
        match i.lookup("_http._tcp.web.default.svc.cluster.local.", QType::Srv, D) {
            Outcome::Found {
                answers,
                additional,
            } => {
                assert_eq!(
                    answers[0].data,
                    Data::Srv(0, 100, 80, "web.default.svc.cluster.local.".into())
                );
                assert_eq!(additional[0].data, Data::A("10.96.0.20".parse().unwrap()));
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            i.lookup("_http._udp.web.default.svc.cluster.local.", QType::Srv, D),
            Outcome::NxDomain
        );
        assert_eq!(
            ips(i.lookup("20.0.96.10.in-addr.arpa.", QType::Ptr, D)),
            ["Ptr(\"web.default.svc.cluster.local.\")"]
        );
    }
}
