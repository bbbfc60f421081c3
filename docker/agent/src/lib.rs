//! The components of a lab node, one module each, and the dispatcher that picks one by name.

pub mod apiserver;
pub mod controllers;
pub mod dns;
pub mod init;
pub mod kube;
pub mod kubelet;
pub mod nftrace;
pub mod podserver;
pub mod policy;
pub mod probe;
#[cfg(test)]
mod props;
pub mod proxy;

use std::process::ExitCode;

pub use kube::contract::{KUBERNETES_MINOR, KUBERNETES_VERSION};

/// Printed by `kplab-agent` with no arguments.
pub const USAGE: &str = "\
usage: kplab-agent COMPONENT [ARGS...]   (or invoke through a link named COMPONENT)

components:
  kube-apiserver            the lab API server (node-1)
  kube-controller-manager   deployment and EndpointSlice controllers, IP/port allocation (node-1)
  kube-scheduler            spreads pods over the nodes (node-1)
  kubelet                   runs pods as network namespaces on this node
  kube-proxy                the iptables rule generator (`kube-proxy render -f FILE` prints rules)
  coredns                   cluster DNS (runs as a pod in kube-system)
  kplab-node                the node's supervisor: starts and restarts the components above
  kplab-pod                 a pod's process: answers on its containerPorts
  kplab-probe               N connections to a target from here or a pod; JSON per connection
  kplab-conntrack-forget    deletes the conntrack entries of exactly these connections (a probe's)
  calico-node               `calico-node -felix`: the NetworkPolicy enforcer (cali-* chains)
  policy                    `policy explain --from NS/POD --to NS/POD:PORT[/PROTO]`: why allowed/dropped
  nftrace                   `nftrace --to IP:PORT [--pod NS/NAME | --wait-from IP]`: one connection traced by the kernel";

/// Runs the component named by `args[0]` with the whole argument vector.
pub fn dispatch(args: Vec<String>) -> ExitCode {
    let name = args.first().cloned().unwrap_or_default();
    match name.as_str() {
        "kube-apiserver" => apiserver::main(args),
        "kube-controller-manager" => controllers::main(args),
        "kube-scheduler" => controllers::scheduler_main(args),
        "kubelet" => kubelet::main(args),
        "kube-proxy" => proxy::main(args),
        "coredns" => dns::main(args),
        "kplab-node" => init::main(args),
        "kplab-pod" => podserver::main(args),
        "kplab-probe" => probe::main(args),
        "kplab-conntrack-forget" => probe::forget::main(args),
        "calico-node" => policy::main(args),
        "policy" => policy::explain_main(args),
        "nftrace" => nftrace::main(args),
        other => {
            eprintln!("kplab-agent: unknown component {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
