//! The cluster DNS objects of `CONTRACTS.md`: Service `kube-system/kube-dns` (10.96.0.10) and
//! Deployment `kube-system/coredns` (1 replica pinned to the control-plane node), created when
//! missing (as kubeadm's addon phase does); existing ones are never overwritten, so a learner's
//! edits stay.

use serde_json::{json, Value};

use super::informer::Informer;
use crate::kube::client::{ApiClient, DEPLOYMENTS, SERVICES};

/// The cluster DNS Service address.
pub use crate::kube::contract::DNS_SERVICE_IP;
/// The image the kubelet runs as the `coredns` component.
pub const COREDNS_IMAGE: &str = "registry.k8s.io/coredns/coredns:v1.11.3";

/// The `kube-dns` Service.
pub fn kube_dns_service() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
        },
        "spec": {
            "clusterIP": DNS_SERVICE_IP,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
            "selector": {"k8s-app": "kube-dns"},
            "type": "ClusterIP",
        },
    })
}

/// The `coredns` Deployment.
pub fn coredns_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": {
                    "containers": [{
                        "name": "coredns",
                        "image": COREDNS_IMAGE,
                        "args": ["-conf", "/etc/coredns/Corefile"],
                        "ports": [
                            {"containerPort": 53, "name": "dns", "protocol": "UDP"},
                            {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                            {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
                        ],
                    }],
                    "dnsPolicy": "Default",
                    "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
                    "priorityClassName": "system-cluster-critical",
                    "serviceAccountName": "coredns",
                    "tolerations": [
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"},
                    ],
                },
            },
        },
    })
}

/// Creates the DNS Service and Deployment if the caches (synced) do not hold them.
pub fn ensure_dns_objects(client: &ApiClient, services: &Informer, deployments: &Informer) {
    if services.get("kube-system", "kube-dns").is_none() {
        match client.create(&SERVICES, Some("kube-system"), &kube_dns_service()) {
            Ok(s) => {
                tracing::info!("created Service kube-system/kube-dns");
                services.apply(&s);
            }
            Err(e) if e.is_already_exists() => {}
            Err(e) => tracing::warn!(error = %e, "cannot create Service kube-system/kube-dns"),
        }
    }
    if deployments.get("kube-system", "coredns").is_none() {
        match client.create(&DEPLOYMENTS, Some("kube-system"), &coredns_deployment()) {
            Ok(d) => {
                tracing::info!("created Deployment kube-system/coredns");
                deployments.apply(&d);
            }
            Err(e) if e.is_already_exists() => {}
            Err(e) => tracing::warn!(error = %e, "cannot create Deployment kube-system/coredns"),
        }
    }
}
