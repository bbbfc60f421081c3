//! [`RulePlanner`] over `netrules::kubeproxy::Proxier`: converts the API's JSON objects into
//! netrules' types, builds the proxier configuration from the flags and this node's Node object
//! (node IP, topology labels, pod CIDRs), and passes the loop's stale-chain decision through.
//! The same conversion serves the nftables mode's `NftProxier` ([`ModeProxier`]).

use std::collections::BTreeMap;

use netrules::k8s::{EndpointSlice, Node, Service};
use netrules::kubeproxy::nft::NftProxier;
use netrules::kubeproxy::{Flags as RuleFlags, Proxier, ProxierConfig, SyncOptions};

use super::planner::{ObjectSet, Plan, RulePlanner, StaleChains};
use crate::kube::iptables::JumpRule;

/// What both modes' proxiers offer the conversion layer.
pub trait ModeProxier: std::fmt::Debug + Send {
    /// A proxier that has synced nothing.
    fn create(cfg: ProxierConfig) -> Self;
    /// The proxier re-created with another configuration, over the same kernel state.
    fn reconfigured(&self, cfg: ProxierConfig) -> Self
    where
        Self: Sized,
    {
        Self::create(cfg)
    }
    /// Its configuration.
    fn config(&self) -> &ProxierConfig;
    /// Replaces the node's topology labels (a change forces a full sync).
    fn set_topology_labels(&mut self, labels: BTreeMap<String, String>);
    /// Replaces the objects; returns warnings about malformed ones.
    fn set_objects(
        &mut self,
        services: &[&Service],
        slices: &[&EndpointSlice],
    ) -> Vec<netrules::Warning>;
}

impl ModeProxier for Proxier {
    fn create(cfg: ProxierConfig) -> Self {
        Proxier::new(cfg)
    }
    fn config(&self) -> &ProxierConfig {
        Proxier::config(self)
    }
    fn set_topology_labels(&mut self, labels: BTreeMap<String, String>) {
        Proxier::set_topology_labels(self, labels)
    }
    fn set_objects(
        &mut self,
        services: &[&Service],
        slices: &[&EndpointSlice],
    ) -> Vec<netrules::Warning> {
        Proxier::set_objects(self, services.iter().copied(), slices.iter().copied())
    }
}

impl ModeProxier for NftProxier {
    fn create(cfg: ProxierConfig) -> Self {
        NftProxier::new(cfg)
    }
    fn reconfigured(&self, cfg: ProxierConfig) -> Self {
        NftProxier::reconfigured(self, cfg)
    }
    fn config(&self) -> &ProxierConfig {
        NftProxier::config(self)
    }
    fn set_topology_labels(&mut self, labels: BTreeMap<String, String>) {
        NftProxier::set_topology_labels(self, labels)
    }
    fn set_objects(
        &mut self,
        services: &[&Service],
        slices: &[&EndpointSlice],
    ) -> Vec<netrules::Warning> {
        NftProxier::set_objects(self, services.iter().copied(), slices.iter().copied())
    }
}

/// The netrules planner plus what it needs to (re)configure itself when the Node changes.
#[derive(Debug)]
pub struct NetrulesPlanner<M: ModeProxier = Proxier> {
    flags: RuleFlags,
    hostname: String,
    proxier: M,
    services: Cache<Service>,
    slices: Cache<EndpointSlice>,
    nodes: Cache<Node>,
}

pub fn warning_text(w: &netrules::Warning) -> String {
    let mut s = String::new();
    if !w.kind.is_empty() && w.kind != "config" {
        s.push_str(&w.kind);
        s.push(' ');
    }
    if !w.object.is_empty() {
        s.push_str(&w.object);
        s.push_str(": ");
    }
    s.push_str(&w.message);
    if !w.value.is_empty() {
        s.push_str(&format!(" ({})", w.value));
    }
    s
}

/// Decoded objects by `namespace/name`, with the resourceVersion they were decoded at: an
/// unchanged object (same resourceVersion) is neither decoded nor copied again, which keeps a
/// sync with one changed EndpointSlice among thousands cheap. Ordered, so that the proxier sees
/// (and warns about) objects in the same order on every sync.
type Cache<T> = BTreeMap<String, (String, T)>;

/// Brings `cache` to exactly the objects in `items`, decoding only the new and changed ones.
fn decode<T: serde::de::DeserializeOwned>(
    kind: &str,
    items: &[serde_json::Value],
    cache: &mut Cache<T>,
    warnings: &mut Vec<String>,
) {
    use crate::kube::client::KubeObject;
    let mut next: Cache<T> = BTreeMap::new();
    for v in items {
        let key = format!("{}/{}", v.namespace().unwrap_or(""), v.name());
        let rv = v.resource_version().unwrap_or("");
        if let Some((old_rv, t)) = cache.remove(&key) {
            if !rv.is_empty() && old_rv == rv {
                next.insert(key, (old_rv, t));
                continue;
            }
        }
        match T::deserialize(v) {
            Ok(t) => {
                next.insert(key, (rv.to_string(), t));
            }
            Err(e) => warnings.push(format!("{kind} {key}: cannot read object: {e}")),
        }
    }
    *cache = next;
}

fn values<T>(cache: &Cache<T>) -> impl Iterator<Item = &T> {
    cache.values().map(|(_, t)| t)
}

impl<M: ModeProxier> NetrulesPlanner<M> {
    /// A planner for these kube-proxy flags on node `hostname` (Node not known yet). Fails on
    /// invalid flag values, with kube-proxy's wording.
    pub fn new(flags: RuleFlags, hostname: &str) -> Result<Self, String> {
        let cfg = flags.to_config(&[], hostname)?;
        Ok(NetrulesPlanner {
            flags,
            hostname: hostname.to_string(),
            proxier: M::create(cfg),
            services: BTreeMap::new(),
            slices: BTreeMap::new(),
            nodes: BTreeMap::new(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProxierConfig {
        self.proxier.config()
    }

    /// Re-derives the configuration from the Node objects: a topology-label change forces a
    /// full sync (as upstream's `OnTopologyChange`); any other change (node IP, pod CIDRs
    /// appearing once the Node registers) replaces the proxier, whose next sync is full.
    fn reconfigure(&mut self, nodes: &[Node], warnings: &mut Vec<String>) {
        let cfg = match self.flags.to_config(nodes, &self.hostname) {
            Ok(c) => c,
            Err(e) => {
                warnings.push(e);
                return;
            }
        };
        let current = self.proxier.config();
        if *current == cfg {
            return;
        }
        let mut same_but_labels = cfg.clone();
        same_but_labels.topology_labels = current.topology_labels.clone();
        if same_but_labels == *current {
            self.proxier.set_topology_labels(cfg.topology_labels);
        } else {
            tracing::info!(src = "server.go:608", node = %cfg.node_name, nodeIP = ?cfg.node_ip, "Node configuration changed, re-creating the proxier");
            self.proxier = self.proxier.reconfigured(cfg);
        }
    }

    /// The proxier (the nftables engine drives it directly).
    pub fn proxier(&self) -> &M {
        &self.proxier
    }

    /// The proxier, to sync.
    pub fn proxier_mut(&mut self) -> &mut M {
        &mut self.proxier
    }

    /// Decodes the objects (only new and changed ones) and hands them to the proxier; returns
    /// one message per malformed object.
    pub fn update(&mut self, objects: &ObjectSet) -> Vec<String> {
        let mut warnings = Vec::new();
        decode("Node", &objects.nodes, &mut self.nodes, &mut warnings);
        let nodes: Vec<Node> = values(&self.nodes).cloned().collect();
        self.reconfigure(&nodes, &mut warnings);
        decode(
            "Service",
            &objects.services,
            &mut self.services,
            &mut warnings,
        );
        decode(
            "EndpointSlice",
            &objects.slices,
            &mut self.slices,
            &mut warnings,
        );
        let services: Vec<&Service> = values(&self.services).collect();
        let slices: Vec<&EndpointSlice> = values(&self.slices).collect();
        warnings.extend(
            self.proxier
                .set_objects(&services, &slices)
                .iter()
                .map(warning_text),
        );
        warnings
    }
}

impl RulePlanner for NetrulesPlanner<Proxier> {
    fn set_objects(&mut self, objects: &ObjectSet) -> Vec<String> {
        self.update(objects)
    }

    fn request_full_sync(&mut self) {
        self.proxier.request_full_sync();
    }

    fn plan(&mut self, stale: &StaleChains) -> Plan {
        let live: Vec<String>;
        let opts = match stale {
            StaleChains::Skip => SyncOptions {
                existing_nat_chains: None,
                cleanup_stale_chains: false,
            },
            StaleChains::Live(chains) => {
                live = chains.iter().cloned().collect();
                SyncOptions {
                    existing_nat_chains: Some(&live),
                    cleanup_stale_chains: true,
                }
            }
            StaleChains::Recorded => SyncOptions::default(),
        };
        let r = self.proxier.sync_with(opts);
        Plan {
            restore_text: r.restore_text,
            full: r.full,
            num_services: r.num_service_ports,
            num_endpoints: r.num_endpoints,
            deleted_chains: r.deleted_chains.len(),
            warnings: r.warnings.iter().map(warning_text).collect(),
        }
    }

    fn applied(&mut self, ok: bool) {
        if !ok {
            self.proxier.request_full_sync();
        }
    }

    fn health_checks(&self) -> Vec<netrules::kubeproxy::HealthCheck> {
        self.proxier.health_checks()
    }

    fn take_conntrack_cleanup(&mut self) -> bool {
        self.proxier.take_conntrack_cleanup()
    }

    fn udp_service_ports(&self) -> Vec<netrules::kubeproxy::conntrack::UdpServicePort> {
        self.proxier.udp_service_ports()
    }

    fn ipv6(&self) -> bool {
        self.proxier.config().ip_family == netrules::ip::IpFamily::V6
    }

    fn jump_rules(&self) -> Vec<JumpRule> {
        netrules::kubeproxy::jump_rules()
            .into_iter()
            .map(|r| {
                let mut args = r.args;
                // netrules' args end in `-j TARGET`; ours keep the target apart.
                if args.len() >= 2 && args[args.len() - 2] == "-j" {
                    args.truncate(args.len() - 2);
                }
                JumpRule {
                    table: r.table.to_string(),
                    chain: r.chain.to_string(),
                    args,
                    target: r.target.to_string(),
                }
            })
            .collect()
    }
}
