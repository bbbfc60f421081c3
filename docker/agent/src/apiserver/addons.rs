//! The `kube-system` objects kubeadm leaves in a fresh cluster around the node components:
//! DaemonSets `kube-proxy` and `calico-node` (their pods stand for the processes `kplab-node`
//! runs on every node), the `kube-proxy` ConfigMap with the configuration those processes
//! really run (`mode: iptables`), their ServiceAccounts and CoreDNS's, and ServiceAccount
//! `default` in every namespace. Created when missing; existing objects (a learner's edits)
//! are left alone.
//!
//! No `kube-root-ca.crt` ConfigMap: the lab API is plain HTTP and has no cluster CA to publish.

use serde_json::{json, Value};

use super::handlers::create::create;
use super::handlers::kinds::ensure_default_service_account;
use super::state::AppState;
use super::store::Store;
use crate::kube::client::{Resource, CONFIG_MAPS, DAEMON_SETS, NAMESPACES, SERVICE_ACCOUNTS};
use crate::kube::contract;

/// `config.conf` of the `kube-proxy` ConfigMap: a `KubeProxyConfiguration` as kubeadm writes
/// it, with the values the nodes' kube-proxy runs with (`kplab-node` passes
/// `--cluster-cidr=10.244.0.0/16 --detect-local-mode=ClusterCIDR`, and the per-node
/// `--hostname-override`, which kubeadm also leaves to the command line).
pub fn kube_proxy_config() -> String {
    format!(
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: \"\"
  burst: 0
  contentType: \"\"
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: {cidr}
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: \"\"
  interfaceNamePrefix: \"\"
detectLocalMode: ClusterCIDR
enableProfiling: false
healthzBindAddress: \"\"
hostnameOverride: \"\"
iptables:
  localhostNodePorts: true
  masqueradeAll: false
  masqueradeBit: 14
  minSyncPeriod: 250ms
  syncPeriod: 30s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: \"\"
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: \"0\"
    text:
      infoBufferSize: \"0\"
  verbosity: 0
metricsBindAddress: \"\"
mode: iptables
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: \"\"
showHiddenMetricsForLinuxOnly: \"\"
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: \"\"
  rootHnsEndpointName: \"\"
  sourceVip: \"\"
",
        cidr = contract::CLUSTER_CIDR
    )
}

/// `kubeconfig.conf` of the `kube-proxy` ConfigMap, pointing at the lab API server.
pub fn kube_proxy_kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user: {{}}
"
    )
}

fn node_env() -> Value {
    json!([{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}])
}

/// The `kube-system/kube-proxy` DaemonSet, as kubeadm's addon phase creates it.
pub fn kube_proxy_daemon_set() -> Value {
    json!({
        "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": {"k8s-app": "kube-proxy"}},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-proxy"}},
                "spec": {
                    "containers": [{
                        "name": "kube-proxy",
                        "image": contract::KUBE_PROXY_IMAGE,
                        "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"],
                        "env": node_env(),
                        "securityContext": {"privileged": true},
                    }],
                    "hostNetwork": true,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": "kube-proxy",
                    "tolerations": [{"operator": "Exists"}],
                },
            },
        },
    })
}

/// The `kube-system/calico-node` DaemonSet (the NetworkPolicy enforcer, `calico-node -felix`).
pub fn calico_node_daemon_set() -> Value {
    json!({
        "metadata": {"name": "calico-node", "namespace": "kube-system", "labels": {"k8s-app": "calico-node"}},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "calico-node"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "calico-node"}},
                "spec": {
                    "containers": [{
                        "name": "calico-node",
                        "image": contract::CALICO_NODE_IMAGE,
                        "command": ["calico-node", "-felix"],
                        "env": [
                            {"name": "NODENAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
                            {"name": "CALICO_NETWORKING_BACKEND", "value": "vxlan"},
                            {"name": "CALICO_IPV4POOL_CIDR", "value": contract::CLUSTER_CIDR},
                        ],
                        "securityContext": {"privileged": true},
                    }],
                    "hostNetwork": true,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": "calico-node",
                    "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}, {"operator": "Exists", "effect": "NoExecute"}],
                },
            },
        },
    })
}

fn create_missing(app: &AppState, st: &mut Store, res: &'static Resource, obj: Value) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if st.get(res, "kube-system", &name).is_some() {
        return;
    }
    if let Err(e) = create(app, st, res, Some("kube-system"), obj) {
        tracing::error!(error = %e.0.message, name, resource = res.plural, "cannot create bootstrap object");
    }
}

/// Creates the objects above that are missing.
pub fn bootstrap_addons(app: &AppState, st: &mut Store) {
    let namespaces: Vec<String> = st
        .list(&NAMESPACES, None)
        .iter()
        .filter(|n| n.pointer("/metadata/deletionTimestamp").is_none())
        .filter_map(|n| n.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    for ns in namespaces {
        ensure_default_service_account(app, st, &ns);
    }
    for sa in ["kube-proxy", "calico-node", "coredns"] {
        create_missing(
            app,
            st,
            &SERVICE_ACCOUNTS,
            json!({"metadata": {"name": sa, "namespace": "kube-system"}}),
        );
    }
    let server = match &app.config().advertise_address {
        Some(ip) => format!("http://{ip}:{}", app.config().advertise_port),
        None => contract::DEFAULT_APISERVER.to_string(),
    };
    create_missing(
        app,
        st,
        &CONFIG_MAPS,
        json!({
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": {"app": "kube-proxy"}},
            "data": {"config.conf": kube_proxy_config(), "kubeconfig.conf": kube_proxy_kubeconfig(&server)},
        }),
    );
    create_missing(app, st, &DAEMON_SETS, kube_proxy_daemon_set());
    create_missing(app, st, &DAEMON_SETS, calico_node_daemon_set());
}
