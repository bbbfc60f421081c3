//! Pure rule generation for kplab: Kubernetes objects -> kube-proxy (iptables mode) rulesets and
//! `iptables-restore` text, an `iptables-save` parser and a packet tracer. No I/O.
//!
//! * [`k8s`]: the object shapes and a multi-document YAML/JSON loader;
//! * [`kubeproxy`]: [`kubeproxy::render`] (one full sync) and [`kubeproxy::Proxier`] (full and
//!   partial syncs, stale-chain deletion), plus the jump rules installed outside the restore;
//! * [`labels`]: label selectors (string form, `metav1.LabelSelector` objects, printing);
//! * [`model`]: the generated ruleset (every rule knows its service port and endpoint);
//! * [`save`]: an `iptables-save` / `iptables-restore` text parser;
//! * [`trace`]: walks a packet through a parsed ruleset and enumerates every random branch;
//! * [`normalize`]: upstream's test normalisation and a chain-consistency check;
//! * [`synth`]: synthetic objects for benchmarks.
//!
//! ```
//! use netrules::kubeproxy::{render, ProxierConfig};
//! let yaml = "\
//! kind: Service
//! metadata: {name: web, namespace: ns1}
//! spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80}]}
//! ---
//! kind: EndpointSlice
//! metadata: {name: web-1, namespace: ns1, labels: {kubernetes.io/service-name: web}}
//! addressType: IPv4
//! endpoints: [{addresses: [10.244.1.5]}]
//! ports: [{name: http, port: 8080}]
//! ";
//! let objs = netrules::k8s::load(yaml).objects;
//! let cfg = ProxierConfig { node_name: "node-1".into(), cluster_cidrs: vec!["10.244.0.0/16".into()], ..Default::default() };
//! let out = render(&cfg, &objs);
//! assert!(out.restore_text.contains("-A KUBE-SEP-OXQUDQKXE4KJEHIO"));
//! ```

pub mod hash;
pub mod ip;
pub mod k8s;
pub mod kubeproxy;
pub mod labels;
pub mod model;
pub mod netpol;
pub mod normalize;
pub mod save;
pub mod synth;
pub mod trace;

/// Something skipped or suspicious in the input, reported instead of printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// `Service`, `EndpointSlice` or `config`.
    pub kind: String,
    /// `namespace/name` (or the service port name), empty for configuration warnings.
    pub object: String,
    /// What happened, in kube-proxy's words where it logs the same thing.
    pub message: String,
    /// The offending value, if any.
    pub value: String,
}

impl Warning {
    pub(crate) fn object(kind: &str, object: &str, message: &str, value: &str) -> Warning {
        Warning {
            kind: kind.into(),
            object: object.into(),
            message: message.into(),
            value: value.into(),
        }
    }
    pub(crate) fn config(message: String, value: &str) -> Warning {
        Warning {
            kind: "config".into(),
            object: String::new(),
            message,
            value: value.into(),
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.message)?;
        if !self.object.is_empty() {
            write!(f, " {}={:?}", self.kind.to_ascii_lowercase(), self.object)?;
        }
        if !self.value.is_empty() {
            write!(f, " value={:?}", self.value)?;
        }
        Ok(())
    }
}
