//! Synthetic Services and EndpointSlices for benchmarks and load tests.

use crate::k8s::{
    Endpoint, EndpointConditions, EndpointPort, EndpointSlice, ObjectMeta, Service, ServicePort,
    ServiceSpec, LABEL_SERVICE_NAME,
};
use std::collections::BTreeMap;

/// `n` ClusterIP Services (`bench/svc-<i>`, cluster IP from 10.96.0.0/12, port 80 -> 8080)
/// with `eps` ready endpoints each (pod IPs from 10.244.0.0/16, spread over `node-1`..`node-3`,
/// one EndpointSlice per Service). Every 10th Service is a NodePort (30000 + i % 2768).
pub fn services(n: usize, eps: usize) -> (Vec<Service>, Vec<EndpointSlice>) {
    let mut svcs = Vec::with_capacity(n);
    let mut slices = Vec::with_capacity(n);
    let mut pod: u32 = 0;
    for i in 0..n {
        let name = format!("svc-{i}");
        let cip = 0x0A60_0000u32 + 1 + i as u32; // 10.96.0.1 + i
        let cip = std::net::Ipv4Addr::from(cip).to_string();
        let nodeport = i % 10 == 9;
        svcs.push(Service {
            api_version: "v1".into(),
            kind: "Service".into(),
            metadata: ObjectMeta {
                name: name.clone(),
                namespace: "bench".into(),
                ..Default::default()
            },
            spec: ServiceSpec {
                type_: Some(if nodeport { "NodePort" } else { "ClusterIP" }.into()),
                cluster_ip: cip.clone(),
                cluster_ips: vec![cip],
                ip_families: vec!["IPv4".into()],
                ports: vec![ServicePort {
                    name: "http".into(),
                    protocol: Some("TCP".into()),
                    port: 80,
                    target_port: Some(serde_json::json!(8080)),
                    node_port: if nodeport {
                        30000 + (i % 2768) as i64
                    } else {
                        0
                    },
                }],
                ..Default::default()
            },
            ..Default::default()
        });
        let endpoints = (0..eps)
            .map(|j| {
                pod += 1;
                let ip = std::net::Ipv4Addr::from(0x0AF4_0000u32 + pod % 65534 + 1).to_string();
                Endpoint {
                    addresses: vec![ip],
                    conditions: EndpointConditions {
                        ready: Some(true),
                        serving: Some(true),
                        terminating: Some(false),
                    },
                    node_name: Some(format!("node-{}", j % 3 + 1)),
                    ..Default::default()
                }
            })
            .collect();
        let mut labels = BTreeMap::new();
        labels.insert(LABEL_SERVICE_NAME.to_string(), name.clone());
        slices.push(EndpointSlice {
            api_version: "discovery.k8s.io/v1".into(),
            kind: "EndpointSlice".into(),
            metadata: ObjectMeta {
                name: format!("{name}-abcde"),
                namespace: "bench".into(),
                labels,
                resource_version: "1".into(),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints,
            ports: vec![EndpointPort {
                name: Some("http".into()),
                protocol: Some("TCP".into()),
                port: Some(8080),
            }],
        });
    }
    (svcs, slices)
}
