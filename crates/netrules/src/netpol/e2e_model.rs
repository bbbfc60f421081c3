//! The model of the upstream NetworkPolicy e2e suite, shared by kplab's semantics tests and
//! its Docker-driven conformance test: namespaces `x`, `y`, `z`; pods `a`, `b`, `c` in each,
//! labelled `pod=<name>`, serving TCP 80 and 81 with named ports `serve-80-tcp` /
//! `serve-81-tcp`; and a catalogue of policy scenarios (each a set of NetworkPolicies plus
//! optional label changes), whose expected reachability matrices come from
//! [`super::semantics`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::Value;

use super::objects::{Cluster, NamedPort, Namespace, NetworkPolicy, Pod, Protocol};
use super::semantics::{allowed, Endpoint};

/// The namespaces of the model.
pub const NAMESPACES: [&str; 3] = ["x", "y", "z"];
/// The pods of each namespace.
pub const PODS: [&str; 3] = ["a", "b", "c"];

/// A label change applied before the policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelChange {
    /// `kubectl label pod -n NS POD KEY=VALUE --overwrite`
    Pod {
        /// namespace
        namespace: &'static str,
        /// pod
        pod: &'static str,
        /// label key
        key: &'static str,
        /// label value
        value: &'static str,
    },
    /// `kubectl label namespace NS KEY=VALUE --overwrite`
    Namespace {
        /// namespace
        namespace: &'static str,
        /// label key
        key: &'static str,
        /// label value
        value: &'static str,
    },
}

/// One scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short name.
    pub name: &'static str,
    /// What it checks.
    pub about: &'static str,
    /// NetworkPolicies, multi-document YAML (each with its namespace).
    pub policies: &'static str,
    /// Label changes applied after the policies (so that the update path is exercised).
    pub labels: Vec<LabelChange>,
    /// TCP ports whose matrices are checked.
    pub ports: Vec<u16>,
}

/// Pod IP used by the pure model for `ns/pod` (the lab assigns its own).
pub fn model_ip(ns_index: usize, pod_index: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        10,
        244,
        1 + (3 * ns_index + pod_index) as u8 % 2,
        10 + (3 * ns_index + pod_index) as u8,
    )
}

/// The model pods with the given IPs and nodes (`ips[(ns, pod)]`); pods without an entry get
/// [`model_ip`] and alternate between `node-1` and `node-2`.
pub fn model_cluster(placement: &BTreeMap<(String, String), (Ipv4Addr, String)>) -> Cluster {
    let mut c = Cluster::default();
    for (ni, ns) in NAMESPACES.iter().enumerate() {
        c.namespaces.push(Namespace::new(ns, &[]));
        for (pi, pod) in PODS.iter().enumerate() {
            let (ip, node) = placement
                .get(&(ns.to_string(), pod.to_string()))
                .cloned()
                .unwrap_or_else(|| (model_ip(ni, pi), format!("node-{}", 1 + (3 * ni + pi) % 2)));
            c.pods.push(Pod {
                namespace: ns.to_string(),
                name: pod.to_string(),
                labels: [("pod".to_string(), pod.to_string())].into_iter().collect(),
                ip: Some(ip),
                node,
                host_network: false,
                ports: vec![
                    NamedPort {
                        name: "serve-80-tcp".into(),
                        port: 80,
                        protocol: Protocol::Tcp,
                    },
                    NamedPort {
                        name: "serve-81-tcp".into(),
                        port: 81,
                        protocol: Protocol::Tcp,
                    },
                ],
            });
        }
    }
    c
}

/// Applies label changes to a model cluster.
pub fn apply_labels(c: &mut Cluster, changes: &[LabelChange]) {
    for ch in changes {
        match ch {
            LabelChange::Pod {
                namespace,
                pod,
                key,
                value,
            } => {
                if let Some(p) = c
                    .pods
                    .iter_mut()
                    .find(|p| p.namespace == *namespace && p.name == *pod)
                {
                    p.labels.insert(key.to_string(), value.to_string());
                }
            }
            LabelChange::Namespace {
                namespace,
                key,
                value,
            } => {
                if let Some(n) = c.namespaces.iter_mut().find(|n| n.name == *namespace) {
                    n.labels.insert(key.to_string(), value.to_string());
                }
            }
        }
    }
}

/// Parses a scenario's policies.
pub fn parse_policies(yaml: &str) -> Vec<NetworkPolicy> {
    yaml.split("\n---")
        .map(|d| d.trim_start_matches("---"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let v: Value =
                serde_yaml_ng::from_str(d).unwrap_or_else(|e| panic!("scenario YAML: {e}\n{d}"));
            NetworkPolicy::from_value(&v).unwrap_or_else(|e| panic!("scenario policy: {e}"))
        })
        .collect()
}

/// The 9 model pods in matrix order (`x/a, x/b, x/c, y/a, …`).
pub fn matrix_pods(c: &Cluster) -> Vec<&Pod> {
    NAMESPACES
        .iter()
        .flat_map(|ns| PODS.iter().map(move |p| (*ns, *p)))
        .filter_map(|(ns, p)| c.pod(ns, p))
        .collect()
}

/// The expected 9x9 matrix of new TCP connections to `port` (row = client, column = server).
pub fn expected_matrix(c: &Cluster, port: u16) -> Vec<Vec<bool>> {
    let pods = matrix_pods(c);
    pods.iter()
        .map(|s| {
            pods.iter()
                .map(|d| allowed(c, &Endpoint::Pod(s), &Endpoint::Pod(d), port, Protocol::Tcp))
                .collect()
        })
        .collect()
}

/// Prints a matrix the way the upstream suite does (`.` allowed, `X` blocked).
pub fn format_matrix(m: &[Vec<bool>]) -> String {
    let names: Vec<String> = NAMESPACES
        .iter()
        .flat_map(|ns| PODS.iter().map(move |p| format!("{ns}/{p}")))
        .collect();
    let mut s = format!(
        "{:5}{}\n",
        "",
        names.iter().map(|n| format!("{n:>4}")).collect::<String>()
    );
    for (i, row) in m.iter().enumerate() {
        s.push_str(&format!("{:5}", names[i]));
        for cell in row {
            s.push_str(if *cell { "   ." } else { "   X" });
        }
        s.push('\n');
    }
    s
}

fn pl(
    namespace: &'static str,
    pod: &'static str,
    key: &'static str,
    value: &'static str,
) -> LabelChange {
    LabelChange::Pod {
        namespace,
        pod,
        key,
        value,
    }
}

fn nl(namespace: &'static str, key: &'static str, value: &'static str) -> LabelChange {
    LabelChange::Namespace {
        namespace,
        key,
        value,
    }
}

/// The scenario catalogue (each independent: start from no policies and the model labels).
pub fn scenarios() -> Vec<Scenario> {
    let s = |name, about, policies, ports: &[u16]| Scenario {
        name,
        about,
        policies,
        labels: Vec::new(),
        ports: ports.to_vec(),
    };
    let mut v = vec![
        s("01-default-deny-ingress", "podSelector {} + policyTypes Ingress isolates every pod of x for ingress", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
"#, &[80]),
        s("02-default-deny-all", "Ingress and Egress with no rules: x talks to nobody but itself; replies still flow via conntrack", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"#, &[80]),
        s("03-pod-selector-same-namespace", "a podSelector-only peer means pods of the policy's namespace only", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-a-from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
"#, &[80]),
        s("04-namespace-by-name-label", "namespaceSelector on kubernetes.io/metadata.name (set by the API server)", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-a-from-ns-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}}]}]
"#, &[80]),
        s("05-and-one-peer", "namespaceSelector AND podSelector in one peer", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-a-from-y-b-only, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}
      podSelector: {matchLabels: {pod: b}}
"#, &[80]),
        s("06-or-two-peers", "the same selectors as two peers: OR", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-a-from-y-or-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}
    - podSelector: {matchLabels: {pod: b}}
"#, &[80]),
        s("07-match-expressions", "matchExpressions: NotIn on namespaces, In on pods", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-a-expr, namespace: x}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: In, values: [a]}]}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: ["y"]}]}
      podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}
"#, &[80]),
        s("08-port-number", "ingress to x/a only on TCP 80", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-a-port-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 80}]}]
"#, &[80, 81]),
        s("09-named-port-ingress", "named port serve-81-tcp resolved on the destination pods", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-named-81, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: serve-81-tcp, protocol: TCP}]}]
"#, &[80, 81]),
        s("10-end-port", "port 81 with endPort 85 (inclusive range) opens 81, not 80", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-a-81-85, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 81, endPort: 85, protocol: TCP}]}]
"#, &[80, 81]),
        s("11-udp-only-does-not-open-tcp", "a rule for UDP 80 and 81 must not open TCP", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-a-udp, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 80, protocol: UDP}, {port: 81, protocol: UDP}]}]
"#, &[80, 81]),
        s("12-sctp-only-does-not-open-tcp", "SCTP is never TCP", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-y-sctp, namespace: "y"}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 80, protocol: SCTP}]}]
"#, &[80]),
        s("13-named-port-wrong-protocol", "protocol UDP with the name serve-80-tcp matches nothing", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-z-named-udp, namespace: z}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress: [{ports: [{port: serve-80-tcp, protocol: UDP}]}]
"#, &[80]),
        s("14-policy-types-defaulting", "egress rules without policyTypes: Ingress is implied too (deny-all ingress)", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-to-y-no-types, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress: [{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}}]}]
"#, &[80]),
        s("15-empty-egress-list", "egress: [] without policyTypes: ingress deny-all, egress untouched", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: empty-egress, namespace: "y"}
spec:
  podSelector: {matchLabels: {pod: b}}
  egress: []
"#, &[80]),
        s("16-default-deny-egress", "policyTypes Egress alone: y may not open connections, others may reach y", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-egress, namespace: "y"}
spec: {podSelector: {}, policyTypes: [Egress]}
"#, &[80]),
        s("17-egress-named-port", "egress named port resolved on each destination pod", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-named-80, namespace: z}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: serve-80-tcp}]}]
"#, &[80, 81]),
        s("18-union-of-policies", "two policies on x/a: the union applies, no precedence", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-a-from-x-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-a-from-z-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}, podSelector: {matchLabels: {pod: c}}}]
    ports: [{port: 80}]
"#, &[80, 81]),
        s("19-allow-all-beats-deny", "a default deny plus ingress: [{}] on the same pods: everything allowed", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all-ingress, namespace: x}
spec: {podSelector: {}, ingress: [{}]}
"#, &[80]),
        s("20-both-ends", "egress deny on x/b blocks even where the server's ingress allows", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress-x-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all-ingress-y, namespace: "y"}
spec: {podSelector: {}, ingress: [{}]}
"#, &[80]),
        s("21-all-namespaces-selector", "namespaceSelector {} alone: every pod of every namespace", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-z-from-all-pods-port-81, namespace: z}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 81}]}]
"#, &[80, 81]),
        s("22-not-in-missing-key", "NotIn matches pods without the key", r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-except-tiers, namespace: "y"}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [c]}]}
  ingress: [{from: [{podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}, namespaceSelector: {}}]}]
"#, &[80]),
    ];
    v.push(Scenario {
        name: "23-updated-pod-label",
        about: "relabelling a pod changes what a policy allows (y/c gains role=client)",
        policies: r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x-from-clients, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {role: client}}}]}]
"#,
        labels: vec![pl("y", "c", "role", "client")],
        ports: vec![80],
    });
    v.push(Scenario {
        name: "24-updated-namespace-label",
        about: "relabelling a namespace changes what a policy allows (z gains team=blue)",
        policies: r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-y-a-from-blue, namespace: "y"}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}]}]
"#,
        labels: vec![nl("z", "team", "blue")],
        ports: vec![80],
    });
    v.push(Scenario {
        name: "25-pod-leaves-selection",
        about: "relabelling the target pod ends its isolation (x/a gets pod=free)",
        policies: r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-x-a, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress, Egress]}
"#,
        labels: vec![pl("x", "a", "pod", "free")],
        ports: vec![80],
    });
    v
}

/// The ipBlock scenarios need the lab's pod addresses: `except` removes `except_pod` from a
/// block covering the whole cluster CIDR (egress of x/a); with `also_by_selector` a second
/// peer selects the same pod by labels, which must still allow it (except is not a deny).
pub fn ipblock_scenario(
    name: &'static str,
    except_ip: Ipv4Addr,
    also_by_selector: bool,
) -> (String, String) {
    let mut yaml = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: egress-ipblock, namespace: x}}\nspec:\n  podSelector: {{matchLabels: {{pod: a}}}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {{cidr: 10.244.0.0/16, except: [{except_ip}/32]}}\n"
    );
    if also_by_selector {
        yaml.push_str("    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: \"y\"}}\n      podSelector: {matchLabels: {pod: b}}\n");
    }
    (name.to_string(), yaml)
}
