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
/// The cluster's pod network (`--cluster-cidr`); node N has `10.244.N.0/24`.
pub const CLUSTER_CIDR: &str = "10.244.0.0/16";

/// Where the kubelet keeps per-pod runtime files (`<ns>/<pod>/pid`, `unready`).
pub const POD_RUN_DIR: &str = "/run/kplab/pods";
/// Component logs (`<component>.log`).
pub const LOG_DIR: &str = "/var/log/kplab";
