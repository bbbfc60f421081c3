//! kube-proxy's UDP conntrack reconciliation as the proxier drives it: when it is due
//! (`ConntrackCleanupRequired`: the endpoints of a UDP Service changed) and which entries it
//! deletes (`CleanStaleEntries`).

use netrules::kubeproxy::conntrack::{parse_conntrack_list, stale_filters, ConntrackFilter};
use netrules::kubeproxy::{Proxier, ProxierConfig};

fn objects(dns_endpoints: &str) -> String {
    format!(
        "\
kind: Service
metadata: {{name: dns, namespace: kube-system}}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  externalIPs: [192.0.2.10]
  ports: [{{name: dns, port: 53, protocol: UDP, nodePort: 30053}}, {{name: dns-tcp, port: 53, protocol: TCP, nodePort: 30054}}]
---
kind: EndpointSlice
metadata: {{name: dns-1, namespace: kube-system, labels: {{kubernetes.io/service-name: dns}}}}
addressType: IPv4
endpoints: {dns_endpoints}
ports: [{{name: dns, port: 53, protocol: UDP}}, {{name: dns-tcp, port: 53, protocol: TCP}}]
---
kind: Service
metadata: {{name: web, namespace: shop}}
spec:
  clusterIP: 10.96.0.20
  ports: [{{port: 80}}]
---
kind: EndpointSlice
metadata: {{name: web-1, namespace: shop, labels: {{kubernetes.io/service-name: web}}}}
addressType: IPv4
endpoints: [{{addresses: [10.244.1.9], conditions: {{ready: true}}}}]
ports: [{{name: '', port: 80}}]
"
    )
}

fn proxier() -> Proxier {
    Proxier::new(ProxierConfig {
        node_name: "node-1".into(),
        cluster_cidrs: vec!["10.244.0.0/16".into()],
        ..Default::default()
    })
}

fn set(p: &mut Proxier, yaml: &str) {
    let objs = netrules::k8s::load(yaml).objects;
    let w = p.set_objects(&objs.services, &objs.endpoint_slices);
    assert!(w.is_empty(), "{w:?}");
}

const OLD_POD: &str = "[{addresses: [10.244.2.3], conditions: {ready: true}}]";
const NEW_POD: &str = "[{addresses: [10.244.2.8], conditions: {ready: true}}, {addresses: [10.244.2.3], conditions: {ready: false, serving: false, terminating: true}}]";

#[test]
fn cleanup_is_due_only_when_a_udp_service_changes_endpoints() {
    let mut p = proxier();
    set(&mut p, &objects(OLD_POD));
    assert!(
        p.take_conntrack_cleanup(),
        "the first sync sees every endpoint as new"
    );
    assert!(!p.take_conntrack_cleanup(), "taking it resets it");
    set(&mut p, &objects(OLD_POD));
    assert!(!p.take_conntrack_cleanup(), "nothing changed");
    // A TCP-only Service changing its endpoints does not make it due.
    let tcp_changed = objects(OLD_POD).replace("10.244.1.9", "10.244.1.10");
    set(&mut p, &tcp_changed);
    assert!(!p.take_conntrack_cleanup());
    set(
        &mut p,
        &objects(NEW_POD).replace("10.244.1.9", "10.244.1.10"),
    );
    assert!(
        p.take_conntrack_cleanup(),
        "the UDP Service's pod was replaced"
    );
}

#[test]
fn entries_still_pointing_at_the_replaced_pod_are_deleted() {
    let mut p = proxier();
    set(&mut p, &objects(NEW_POD));
    let ports = p.udp_service_ports();
    assert_eq!(ports.len(), 1, "only the UDP port: {ports:?}");
    let list = "\
udp      17 29 src=10.244.1.2 dst=10.96.0.10 sport=5353 dport=53 src=10.244.2.3 dst=10.244.1.2 sport=53 dport=5353 [ASSURED] mark=0 use=1
udp      17 29 src=10.244.1.2 dst=10.96.0.10 sport=5354 dport=53 src=10.244.2.8 dst=10.244.1.2 sport=53 dport=5354 mark=0 use=1
udp      17 29 src=198.51.100.7 dst=192.0.2.10 sport=1000 dport=53 src=10.244.2.3 dst=198.51.100.7 sport=53 dport=1000 mark=0 use=1
udp      17 29 src=172.18.0.9 dst=172.18.0.2 sport=1001 dport=30053 src=10.244.2.3 dst=10.244.1.1 sport=53 dport=1001 mark=0 use=1
udp      17 29 src=10.244.1.2 dst=10.96.0.20 sport=1002 dport=80 src=10.244.7.7 dst=10.244.1.2 sport=80 dport=1002 mark=0 use=1
";
    let filters = stale_filters(&ports, &parse_conntrack_list(list));
    let old = "10.244.2.3".parse().unwrap();
    assert_eq!(
        filters,
        vec![
            ConntrackFilter::IpPortNat {
                orig_dst: "10.96.0.10".parse().unwrap(),
                orig_dport: 53,
                reply_src: old,
            },
            ConntrackFilter::IpPortNat {
                orig_dst: "192.0.2.10".parse().unwrap(),
                orig_dport: 53,
                reply_src: old,
            },
            ConntrackFilter::PortNat {
                orig_dport: 30053,
                reply_src: old,
            },
        ],
        "the new pod's entry and the TCP-only Service's entry stay"
    );
}
