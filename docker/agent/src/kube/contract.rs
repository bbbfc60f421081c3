//! The names, ports, addresses and paths the components agree on, as code. `CONTRACTS.md`
//! (next to `Cargo.toml`) explains them; this module is where the code takes them from, so a
//! value changes in one place.

/// The Kubernetes release every component reports (`kubectl version`, the Node's kubelet
/// version, `/version`). One value, so a learner never sees two releases in one lab. The rules
/// kube-proxy writes have not changed in format since 1.28 (see netrules' kube-proxy docs).
pub const KUBERNETES_VERSION: &str = "v1.32.0";
/// The minor number of [`KUBERNETES_VERSION`], as `/version` and `kubectl version -o json` print it.
pub const KUBERNETES_MINOR: &str = "32";

/// The lab API server's port (plain HTTP, node-1).
pub const APISERVER_PORT: u16 = 6443;
/// The API server address used when `KPLAB_APISERVER` is not set.
pub const DEFAULT_APISERVER: &str = "http://127.0.0.1:6443";
/// The kubelet's port (exec, logs), on every node.
pub const KUBELET_PORT: u16 = 10250;

/// The cluster DNS Service address (`kube-system/kube-dns`), also the nodes' nameserver.
pub const DNS_SERVICE_IP: &str = "10.96.0.10";
/// The cluster's DNS domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The Service CIDR the API server allocates ClusterIPs from.
pub const SERVICE_CIDR: &str = "10.96.0.0/12";
/// Network address of [`SERVICE_CIDR`], as a number.
pub const SERVICE_CIDR_BASE: u32 = 0x0A60_0000;
/// Number of addresses in [`SERVICE_CIDR`].
pub const SERVICE_CIDR_SIZE: u32 = 1 << 20;
/// The NodePort range.
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;
/// The cluster's pod network (`--cluster-cidr`); node N has `10.244.N.0/24`.
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";

/// Where the kubelet keeps per-pod runtime files (`<ns>/<pod>/pid`, `unready`).
pub const POD_RUN_DIR: &str = "/run/kplab/pods";
/// Component logs (`<component>.log`).
pub const LOG_DIR: &str = "/var/log/kplab";

/// The image of the `kube-system/kube-proxy` DaemonSet's pods.
pub const KUBE_PROXY_IMAGE: &str = "registry.k8s.io/kube-proxy:v1.32.0";
/// The image of the `kube-system/calico-node` DaemonSet's pods.
pub const CALICO_NODE_IMAGE: &str = "docker.io/calico/node:v3.28.2";

/// The node component a `kube-system` DaemonSet pod stands for (`kube-proxy`, `calico-node`):
/// such pods are the node's own processes, which `kplab-node` runs; the kubelet starts no
/// sandbox for them, reports them Running on the node's IP and serves the component's log as
/// theirs. `None` for every other pod.
pub fn node_component(pod: &serde_json::Value) -> Option<&'static str> {
    if pod.pointer("/metadata/namespace").and_then(|v| v.as_str()) != Some("kube-system")
        || pod.pointer("/spec/hostNetwork").and_then(|v| v.as_bool()) != Some(true)
    {
        return None;
    }
    match pod
        .pointer("/metadata/labels/k8s-app")
        .and_then(|v| v.as_str())
    {
        Some("kube-proxy") => Some("kube-proxy"),
        Some("calico-node") => Some("calico-node"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_cidr_numbers_match_the_text() {
        let (addr, len) = SERVICE_CIDR.split_once('/').unwrap();
        let addr: std::net::Ipv4Addr = addr.parse().unwrap();
        assert_eq!(u32::from(addr), SERVICE_CIDR_BASE);
        assert_eq!(
            1u32 << (32 - len.parse::<u32>().unwrap()),
            SERVICE_CIDR_SIZE
        );
    }

    #[test]
    fn node_component_pods_are_the_kube_system_daemon_set_pods() {
        let pod = |ns: &str, app: &str, host: bool| {
            serde_json::json!({"metadata": {"namespace": ns, "labels": {"k8s-app": app}},
                               "spec": {"hostNetwork": host}})
        };
        assert_eq!(
            node_component(&pod("kube-system", "kube-proxy", true)),
            Some("kube-proxy")
        );
        assert_eq!(
            node_component(&pod("kube-system", "calico-node", true)),
            Some("calico-node")
        );
        assert_eq!(node_component(&pod("default", "kube-proxy", true)), None);
        assert_eq!(
            node_component(&pod("kube-system", "kube-proxy", false)),
            None
        );
        assert_eq!(node_component(&pod("kube-system", "kube-dns", true)), None);
        assert!(KUBE_PROXY_IMAGE.ends_with(KUBERNETES_VERSION));
    }
}
