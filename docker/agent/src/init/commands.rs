//! The components a node runs for its role, with their command lines.

use super::env::NodeEnv;
use super::env::Role;
use super::env::CLUSTER_DNS;
use super::env::SERVICE_CIDR;
use crate::kube::net;

/// One component to run: arg0 and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentCommand {
    /// The component's name (arg0, log file name).
    pub name: &'static str,
    /// Its flags.
    pub args: Vec<String>,
}

/// The components of a role with the flags `ps` shows (each accepted by its component).
pub fn component_commands(env: &NodeEnv) -> Vec<ComponentCommand> {
    let ip = env.ip.map(|i| i.to_string()).unwrap_or_default();
    let kubelet = ComponentCommand {
        name: "kubelet",
        args: vec![
            format!("--hostname-override={}", env.name),
            format!("--node-ip={ip}"),
            format!("--pod-cidr={}", net::pod_cidr(env.index)),
            format!("--cluster-dns={CLUSTER_DNS}"),
            format!("--cluster-domain={}", crate::kube::contract::CLUSTER_DOMAIN),
            "--root-dir=/var/lib/kplab/kubelet".into(),
            "--container-runtime-endpoint=unix:///run/kplab/kplab.sock".into(),
        ],
    };
    let proxy = ComponentCommand {
        name: "kube-proxy",
        args: vec![
            format!("--hostname-override={}", env.name),
            format!("--cluster-cidr={}", net::CLUSTER_CIDR),
            format!("--node-ip={ip}"),
            "--detect-local-mode=ClusterCIDR".into(),
            // The lab serves no ServiceCIDR objects; the nftables mode drops traffic to the
            // unallocated IPs of this range.
            format!("--service-cidrs={SERVICE_CIDR}"),
        ],
    };
    // The NetworkPolicy enforcer, as on a Calico node (`calico-node -felix`).
    let felix = ComponentCommand {
        name: "calico-node",
        args: vec!["-felix".into(), format!("--node-name={}", env.name)],
    };
    match env.role {
        Role::Client => vec![],
        Role::Worker => vec![kubelet, felix, proxy],
        Role::ControlPlane => vec![
            ComponentCommand {
                name: "kube-apiserver",
                args: vec![
                    format!("--advertise-address={ip}"),
                    "--bind-address=0.0.0.0".into(),
                    format!("--secure-port={}", crate::kube::contract::APISERVER_PORT),
                    "--data-dir=/var/lib/kplab".into(),
                ],
            },
            ComponentCommand {
                name: "kube-controller-manager",
                args: vec![
                    format!("--cluster-cidr={}", net::CLUSTER_CIDR),
                    format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                ],
            },
            ComponentCommand {
                name: "kube-scheduler",
                args: vec!["--leader-elect=false".into()],
            },
            kubelet,
            felix,
            proxy,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::super::env::{test_env as env, Role};
    use super::*;

    #[test]
    fn roles_start_the_right_components() {
        let names = |r| {
            component_commands(&env(r))
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Role::ControlPlane),
            [
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "kubelet",
                "calico-node",
                "kube-proxy"
            ]
        );
        assert_eq!(
            names(Role::Worker),
            ["kubelet", "calico-node", "kube-proxy"]
        );
        assert!(names(Role::Client).is_empty());
        let proxy = component_commands(&env(Role::Worker)).pop().unwrap();
        assert_eq!(
            proxy.args.join(" "),
            "--hostname-override=node-2 --cluster-cidr=10.244.0.0/16 --node-ip=172.28.5.11 --detect-local-mode=ClusterCIDR --service-cidrs=10.96.0.0/12"
        );
    }
}
