//! The Node object this kubelet registers (labels, podCIDR, addresses, Ready, the VXLAN
//! annotations) and the overlay peer each Node stands for.

use serde_json::{json, Value};

use super::config::{Config, KUBELET_VERSION};
use crate::kube::client::KubeObject;
use crate::kube::net;

/// The Node object for `cfg` (labels, podCIDR, addresses, Ready, VXLAN annotations).
pub fn node_object(cfg: &Config) -> Value {
    let now = crate::kube::time::now_rfc3339();
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": cfg.node_name,
        "kubernetes.io/os": "linux",
    });
    if cfg.control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = json!("");
    }
    let cond = |t: &str, status: &str, reason: &str, message: &str| {
        json!({"type": t, "status": status, "lastHeartbeatTime": now,
               "lastTransitionTime": now, "reason": reason, "message": message})
    };
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": cfg.node_name,
            "labels": labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "projectcalico.org/IPv4Address": format!("{}/24", cfg.node_ip),
                "projectcalico.org/IPv4VXLANTunnelAddr": net::tunnel_addr(cfg.node_index).to_string(),
                "kplab.dev/vxlan-mac": net::vtep_mac(cfg.node_index),
            },
        },
        "spec": {
            "podCIDR": net::pod_cidr(cfg.node_index),
            "podCIDRs": [net::pod_cidr(cfg.node_index)],
        },
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": cfg.node_ip.to_string()},
                {"type": "Hostname", "address": cfg.node_name},
            ],
            "capacity": {"cpu": "2", "memory": "2Gi", "pods": "110", "ephemeral-storage": "10Gi"},
            "allocatable": {"cpu": "2", "memory": "2Gi", "pods": "110", "ephemeral-storage": "10Gi"},
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.port}},
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "kplab node (Debian GNU/Linux 12 (bookworm))",
                "kernelVersion": kernel_version(),
                "containerRuntimeVersion": "kplab://0.1.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
            },
        },
    })
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// An overlay peer described by a Node object (name `node-N`, InternalIP, VXLAN MAC annotation).
pub fn peer_from_node(n: &Value) -> Option<net::Peer> {
    let index = net::index_from_name(n.name())?;
    let ip = n
        .pointer("/status/addresses")?
        .as_array()?
        .iter()
        .find(|a| a["type"] == "InternalIP")?
        .get("address")?
        .as_str()?
        .parse()
        .ok()?;
    let mut p = net::Peer::new(n.name(), index, ip);
    if let Some(mac) = n.annotations().get("kplab.dev/vxlan-mac") {
        p.mac = mac.clone();
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            node_name: "node-1".into(),
            node_index: 1,
            node_ip: "172.28.5.10".parse().unwrap(),
            apiserver: "http://127.0.0.1:1".into(),
            nodes: net::parse_nodes("node-1=172.28.5.10,node-2=172.28.5.11").unwrap(),
            control_plane: true,
            state_dir: "/tmp/x".into(),
            run_dir: "/tmp/x".into(),
            pod_log_dir: "/tmp/x".into(),
            log_dir: "/tmp/x".into(),
            port: 10250,
            overlay: true,
            exe: "/proc/self/exe".into(),
        }
    }

    #[test]
    fn node_object_follows_the_contract() {
        let n = node_object(&cfg());
        assert_eq!(n["metadata"]["labels"]["kubernetes.io/hostname"], "node-1");
        assert_eq!(
            n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
            ""
        );
        assert_eq!(n["spec"]["podCIDR"], "10.244.1.0/24");
        assert_eq!(
            n["metadata"]["annotations"]["projectcalico.org/IPv4VXLANTunnelAddr"],
            "10.244.1.0"
        );
        assert_eq!(
            n["metadata"]["annotations"]["kplab.dev/vxlan-mac"],
            "66:6b:70:6c:00:01"
        );
        let ready = n["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True");
        // The object is also what a peer reads back.
        let p = peer_from_node(&n).unwrap();
        assert_eq!(
            p,
            net::Peer::new("node-1", 1, "172.28.5.10".parse().unwrap())
        );
    }
}
