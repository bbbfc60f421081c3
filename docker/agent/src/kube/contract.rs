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
}
