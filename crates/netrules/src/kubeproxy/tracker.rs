//! [`Tracker`]: kube-proxy's `ServiceChangeTracker` and `EndpointsChangeTracker` as both modes
//! share them: the service ports and endpoint lists of the current objects, which Services
//! changed since the last sync, and whether a UDP Service's endpoints changed.

use super::config::Effective;
use super::conntrack::UdpServicePort;
use super::objects::{
    endpoints_for_service, service_ports, slice_relevant, Nsn, ServiceEndpoints, SvcPort,
};
use crate::k8s::{EndpointSlice, Service};
use crate::Warning;
use std::collections::{BTreeMap, BTreeSet};

/// A Service's health-check node port and what kube-proxy's service health server reports on it
/// (upstream `HealthCheckNodePorts` and `LocalReadyEndpoints`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// `spec.healthCheckNodePort`.
    pub port: u16,
    /// Ready endpoints on this node, counted by IP over all the Service's ports (a pod serving
    /// two ports counts once).
    pub local_endpoints: usize,
}

/// The objects as the proxiers see them, and what changed since the last sync.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub ports: BTreeMap<Nsn, Vec<SvcPort>>,
    pub slices: BTreeMap<Nsn, BTreeMap<String, EndpointSlice>>,
    /// Endpoint lists per Service, and the warnings found building them (recomputed only when
    /// the Service's slices change).
    pub endpoints: BTreeMap<Nsn, ServiceEndpoints>,
    /// Services whose Service or EndpointSlices changed since the last sync.
    pub changed: BTreeSet<Nsn>,
    /// The endpoints of a UDP Service changed since the last
    /// [`Tracker::take_conntrack_cleanup`] (upstream's `ConntrackCleanupRequired`).
    conntrack_cleanup: bool,
}

impl Tracker {
    /// Replaces the whole set of Services and EndpointSlices. Services and slices that differ
    /// from the previous call (for slices: any field, including `resourceVersion`, as the
    /// informer sees it) mark their Service as changed for the next partial sync. Returns
    /// warnings about malformed objects (they are skipped; other Services are unaffected).
    pub fn set_objects<'a>(
        &mut self,
        eff: &Effective,
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> Vec<Warning> {
        let mut warnings = Vec::new();
        let family = eff.family;
        let mut ports: BTreeMap<Nsn, Vec<SvcPort>> = BTreeMap::new();
        for s in services {
            let nsn = (s.metadata.namespace.clone(), s.metadata.name.clone());
            let sp = service_ports(s, family, &mut warnings);
            if !sp.is_empty() {
                ports.entry(nsn).or_default().extend(sp);
            }
        }
        let mut by_svc: BTreeMap<Nsn, BTreeMap<&str, &EndpointSlice>> = BTreeMap::new();
        for sl in slices {
            if !slice_relevant(sl, family) {
                if sl.address_type == family.as_k8s() && sl.service_name().is_none() {
                    warnings.push(Warning::object(
                        "EndpointSlice",
                        &format!("{}/{}", sl.metadata.namespace, sl.metadata.name),
                        "Error getting endpoint slice cache keys",
                        "no kubernetes.io/service-name label set on endpoint slice",
                    ));
                }
                continue;
            }
            let nsn = (
                sl.metadata.namespace.clone(),
                sl.service_name().unwrap_or_default().to_string(),
            );
            by_svc
                .entry(nsn)
                .or_default()
                .insert(sl.metadata.name.as_str(), sl);
        }
        // Changes, as the two change trackers would record them.
        for (nsn, p) in &ports {
            if self.ports.get(nsn) != Some(p) {
                self.changed.insert(nsn.clone());
            }
        }
        for nsn in self.ports.keys() {
            if !ports.contains_key(nsn) {
                self.changed.insert(nsn.clone());
            }
        }
        let mut new_slices: BTreeMap<Nsn, BTreeMap<String, EndpointSlice>> = BTreeMap::new();
        let mut new_endpoints = BTreeMap::new();
        let mut old_slices = std::mem::take(&mut self.slices);
        let mut old_endpoints = std::mem::take(&mut self.endpoints);
        let has_udp = |nsn: &Nsn| {
            [self.ports.get(nsn), ports.get(nsn)]
                .into_iter()
                .flatten()
                .flatten()
                .any(|p| p.proto == "udp")
        };
        for (nsn, sl) in by_svc {
            let same = old_slices.get(&nsn).is_some_and(|old| {
                old.len() == sl.len()
                    && old
                        .iter()
                        .zip(sl.iter())
                        .all(|((on, os), (nn, ns))| on == nn && os == *ns)
            });
            if same {
                let eps = old_endpoints.remove(&nsn).unwrap_or_default();
                warnings.extend(eps.1.iter().cloned());
                new_endpoints.insert(nsn.clone(), eps);
                new_slices.insert(nsn.clone(), old_slices.remove(&nsn).unwrap_or_default());
            } else {
                self.changed.insert(nsn.clone());
                self.conntrack_cleanup |= has_udp(&nsn);
                let owned: BTreeMap<String, EndpointSlice> = sl
                    .into_iter()
                    .map(|(n, s)| (n.to_string(), s.clone()))
                    .collect();
                let mut w = Vec::new();
                let eps = endpoints_for_service(
                    &nsn,
                    &owned,
                    family,
                    &eff.node_name,
                    eff.node_hints,
                    &mut w,
                );
                warnings.extend(w.iter().cloned());
                new_endpoints.insert(nsn.clone(), (eps, w));
                new_slices.insert(nsn, owned);
            }
        }
        for nsn in old_slices.keys() {
            if !new_slices.contains_key(nsn) {
                self.changed.insert(nsn.clone());
                self.conntrack_cleanup |= has_udp(nsn);
            }
        }
        self.ports = ports;
        self.slices = new_slices;
        self.endpoints = new_endpoints;
        warnings
    }

    /// The health-check node ports kube-proxy serves: one per `LoadBalancer` Service with
    /// `externalTrafficPolicy: Local` and a valid `healthCheckNodePort`, by namespace and name.
    pub fn health_checks(&self) -> Vec<HealthCheck> {
        self.ports
            .iter()
            .filter_map(|(nsn, ports)| {
                let port = ports.iter().map(|p| p.hc_node_port).find(|&p| p != 0)?;
                let local: BTreeSet<&str> = self
                    .endpoints
                    .get(nsn)
                    .map(|(by_port, _)| {
                        by_port
                            .values()
                            .flatten()
                            .filter(|e| e.ready && e.local)
                            .map(|e| e.ip.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                Some(HealthCheck {
                    namespace: nsn.0.clone(),
                    name: nsn.1.clone(),
                    port,
                    local_endpoints: local.len(),
                })
            })
            .collect()
    }

    /// Whether the endpoints of a UDP Service changed since the last call (which resets it):
    /// kube-proxy then reconciles the UDP conntrack table after its sync (see
    /// [`super::conntrack`]). Call it only after a sync was applied, so that a failed restore
    /// does not lose the cleanup.
    pub fn take_conntrack_cleanup(&mut self) -> bool {
        std::mem::take(&mut self.conntrack_cleanup)
    }

    /// The UDP service ports with their frontends and serving endpoint IPs, for
    /// [`super::conntrack::stale_filters`].
    pub fn udp_service_ports(&self) -> Vec<UdpServicePort> {
        self.ports
            .iter()
            .flat_map(|(nsn, ports)| ports.iter().map(move |p| (nsn, p)))
            .filter(|(_, p)| p.proto == "udp")
            .map(|(nsn, p)| {
                let serving = self
                    .endpoints
                    .get(nsn)
                    .and_then(|(by_port, _)| by_port.get(&p.key))
                    .into_iter()
                    .flatten()
                    .filter(|e| e.serving)
                    .filter_map(|e| e.ip.parse().ok())
                    .collect();
                let mut ips = vec![p.cluster_ip];
                ips.extend(&p.lb_vips);
                ips.extend(&p.external_ips);
                UdpServicePort {
                    ips,
                    port: p.port,
                    node_port: p.node_port,
                    serving,
                }
            })
            .collect()
    }

    /// Every service port, in service port name order (kube-proxy walks a Go map, in random
    /// order).
    pub fn sorted_ports(&self) -> Vec<&SvcPort> {
        let mut ports: Vec<&SvcPort> = self.ports.values().flatten().collect();
        ports.sort_by(|a, b| (&a.spn, a.proto).cmp(&(&b.spn, b.proto)));
        ports
    }
}
