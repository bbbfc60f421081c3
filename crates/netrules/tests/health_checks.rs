//! The health-check node ports kube-proxy serves and the local endpoint counts it reports on
//! them (upstream `HealthCheckNodePorts` / `LocalReadyEndpoints`).

use netrules::kubeproxy::{HealthCheck, Proxier, ProxierConfig};

const OBJECTS: &str = "\
kind: Service
metadata: {name: web-local, namespace: shop}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.20
  externalTrafficPolicy: Local
  healthCheckNodePort: 31999
  ports: [{name: http, port: 80, nodePort: 30080}, {name: https, port: 443, nodePort: 30443}]
---
kind: EndpointSlice
metadata: {name: web-local-1, namespace: shop, labels: {kubernetes.io/service-name: web-local}}
addressType: IPv4
endpoints:
- {addresses: [10.244.1.5], nodeName: node-1, conditions: {ready: true}}
- {addresses: [10.244.1.6], nodeName: node-1, conditions: {ready: false, serving: true, terminating: true}}
- {addresses: [10.244.2.5], nodeName: node-2, conditions: {ready: true}}
ports: [{name: http, port: 8080}, {name: https, port: 8443}]
---
kind: Service
metadata: {name: web-cluster, namespace: shop}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.21
  ports: [{name: http, port: 80, nodePort: 30081}]
---
kind: Service
metadata: {name: nodeport-local, namespace: shop}
spec:
  type: NodePort
  clusterIP: 10.96.0.22
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, nodePort: 30082}]
---
kind: Service
metadata: {name: empty-local, namespace: other}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.23
  externalTrafficPolicy: Local
  healthCheckNodePort: 31998
  ports: [{name: http, port: 80, nodePort: 30083}]
";

fn checks_on(node: &str) -> Vec<HealthCheck> {
    let objs = netrules::k8s::load(OBJECTS).objects;
    let cfg = ProxierConfig {
        node_name: node.into(),
        cluster_cidrs: vec!["10.244.0.0/16".into()],
        ..Default::default()
    };
    let mut p = Proxier::new(cfg);
    p.set_objects(&objs.services, &objs.endpoint_slices);
    p.health_checks()
}

fn check(ns: &str, name: &str, port: u16, local: usize) -> HealthCheck {
    HealthCheck {
        namespace: ns.into(),
        name: name.into(),
        port,
        local_endpoints: local,
    }
}

#[test]
fn only_local_load_balancers_get_a_health_check_with_ready_local_ips_counted_once() {
    // node-1: one ready local pod serving two ports counts once; the terminating one not at all.
    assert_eq!(
        checks_on("node-1"),
        vec![
            check("other", "empty-local", 31998, 0),
            check("shop", "web-local", 31999, 1),
        ]
    );
    assert_eq!(
        checks_on("node-3"),
        vec![
            check("other", "empty-local", 31998, 0),
            check("shop", "web-local", 31999, 0),
        ]
    );
}
