//! `kubectl describe` layouts (`k8s.io/kubectl/pkg/describe`), one function per kind. Each
//! builds kubectl's tab-separated text and aligns it with the describe tabwriter (padding 2).

mod container;
mod deployment;
mod generic;
mod network_policy;
mod node;
mod pod;
mod service;
mod writer;

use serde_json::Value;
use time::OffsetDateTime;

use deployment::deployment;
use generic::{generic, namespace};
use network_policy::network_policy;
use node::node;
use pod::pod;
use service::{endpoint_slice, endpoints, service};
use writer::s;

pub use network_policy::NETPOL_NOTE;
pub use pod::{DNS_POD_NOTE, POD_NOTE};

/// Everything a describer may need besides the object itself.
#[derive(Debug, Default)]
pub struct Related {
    /// EndpointSlices of a Service (`kubernetes.io/service-name`).
    pub endpoint_slices: Vec<Value>,
    /// Non-terminated pods on a Node.
    pub node_pods: Vec<Value>,
}

/// Describes any supported object by its `kind`.
pub fn describe(obj: &Value, related: &Related, now: OffsetDateTime) -> String {
    match s(obj, "/kind") {
        "Service" => service(obj, &related.endpoint_slices),
        "Pod" => pod(obj, now),
        "Endpoints" => endpoints(obj),
        "EndpointSlice" => endpoint_slice(obj),
        "Node" => node(obj, &related.node_pods, now),
        "NetworkPolicy" => network_policy(obj),
        "Deployment" => deployment(obj),
        "Namespace" => namespace(obj),
        _ => generic(obj),
    }
}

/// Property tests: describe prints objects a learner wrote (status and spec
/// fields of any shape reach it through the lab API). Any object prints, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{config, json_value, near_valid_object, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/kubectl_describe.txt";

    /// An object of `kind` whose fields are anything.
    fn object() -> impl Strategy<Value = Value> {
        let kind = prop::sample::select(vec![
            "Service",
            "Pod",
            "Endpoints",
            "EndpointSlice",
            "Node",
            "NetworkPolicy",
            "Deployment",
            "Namespace",
            "Other",
        ]);
        prop_oneof![
            near_valid_object(),
            (kind, json_value(), json_value(), json_value()).prop_map(|(k, m, spec, status)| {
                serde_json::json!({"kind": k, "metadata": m, "spec": spec, "status": status,
                    "subsets": spec, "endpoints": status, "ports": m})
            }),
        ]
    }

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_object_describes_and_prints(o in object(), other in object()) {
            let related = Related {
                endpoint_slices: vec![other.clone()],
                node_pods: vec![other],
            };
            let now = OffsetDateTime::now_utc();
            let _ = describe(&o, &related, now);
            let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
            for wide in [false, true] {
                let _ = super::super::printers::row(kind, &o, wide, now);
            }
            let _ = super::super::output::go_yaml(&o);
            let _ = super::super::output::go_json_indent(&o);
            let _ = super::super::output::go_sprint(&o);
        }
    }

    // Regression tests: every object a property above ever failed on, by name.
}
