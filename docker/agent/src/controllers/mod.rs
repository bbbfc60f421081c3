//! Controllers (node-1): `kube-controller-manager` (deployments -> replicasets -> pods,
//! daemonsets -> pods, EndpointSlices and Endpoints, the cluster DNS objects) and `kube-scheduler` (binds pods to nodes).
//!
//! Both are blocking programs: one list+watch [`informer::Informer`] thread per resource keeps
//! a cache and wakes the reconcilers, which each run on their own thread, reconcile everything
//! on every wake-up (lab clusters are small), write only what changed, and record their own
//! writes in the caches so that a second wake-up before the watch event does not act twice.
//! A resync every few seconds repairs anything missed. ClusterIP and NodePort allocation is
//! done by the API server, as in Kubernetes.

pub mod daemonset;
pub mod deployment;
pub mod dns;
pub mod endpointslice;
pub mod informer;
pub mod replicaset;
pub mod scheduler;

use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::kube::cli::{flags_or_exit, init_tracing};
use crate::kube::client::{
    ApiClient, DAEMON_SETS, DEPLOYMENTS, ENDPOINTS, ENDPOINT_SLICES, NODES, PODS, REPLICA_SETS,
    SERVICES,
};
use crate::kube::contract;
use informer::Informer;

/// How often every object is reconciled even without events.
pub const RESYNC: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(
    name = "kube-controller-manager",
    about = "kplab controllers: deployments, EndpointSlices, Endpoints, cluster DNS objects"
)]
struct ManagerArgs {
    /// The lab API server (default: `KPLAB_APISERVER`, else http://127.0.0.1:6443).
    #[arg(long)]
    master: Option<String>,
    /// The pod network (accepted for kube-controller-manager compatibility; node pod CIDRs
    /// are set by the kubelets).
    #[arg(long, default_value = contract::CLUSTER_CIDR)]
    cluster_cidr: String,
    /// The Service range; ClusterIPs are allocated by the API server from 10.96.0.0/12, the
    /// only value accepted.
    #[arg(long, default_value = contract::SERVICE_CIDR)]
    service_cluster_ip_range: String,
    /// Do not create the cluster DNS objects.
    #[arg(long)]
    no_dns: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "kube-scheduler",
    about = "kplab scheduler: binds pods to Ready nodes, spreading each owner's pods"
)]
struct SchedulerArgs {
    /// The lab API server (default: `KPLAB_APISERVER`, else http://127.0.0.1:6443).
    #[arg(long)]
    master: Option<String>,
    /// Accepted for kube-scheduler compatibility; there is only one scheduler.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    leader_elect: bool,
}

fn parse_args<T: Parser>(args: &[String]) -> Result<T, ExitCode> {
    flags_or_exit(T::try_parse_from(args))
}

fn client_for(master: &Option<String>) -> ApiClient {
    match master {
        Some(m) => ApiClient::new(m),
        None => ApiClient::from_env(),
    }
}

/// Waits for a wake-up (or the resync period), then drains queued wake-ups. Returns false
/// when every sender is gone.
fn wait_wake(rx: &Receiver<()>) -> bool {
    match rx.recv_timeout(RESYNC) {
        Ok(()) | Err(RecvTimeoutError::Timeout) => {}
        Err(RecvTimeoutError::Disconnected) => return false,
    }
    while rx.try_recv().is_ok() {}
    true
}

/// Handles to the controller manager's threads (for tests: it runs until the process ends).
pub struct ControllerManager {
    /// The informer caches, by resource plural.
    pub informers: Vec<Arc<Informer>>,
}

/// Starts the controller manager's informers and reconcilers on background threads and
/// returns at once.
pub fn start_controller_manager(client: ApiClient, with_dns: bool) -> ControllerManager {
    let pods = Informer::new(&PODS);
    let deployments = Informer::new(&DEPLOYMENTS);
    let replicasets = Informer::new(&REPLICA_SETS);
    let daemonsets = Informer::new(&DAEMON_SETS);
    let nodes = Informer::new(&NODES);
    let services = Informer::new(&SERVICES);
    let slices = Informer::new(&ENDPOINT_SLICES);
    let endpoints = Informer::new(&ENDPOINTS);

    let (dtx, drx) = channel();
    for i in [&pods, &deployments, &replicasets, &daemonsets, &nodes] {
        i.notify(dtx.clone());
    }
    drop(dtx);
    let (etx, erx) = channel();
    pods.notify(etx.clone());
    services.notify(etx.clone());
    slices.notify(etx.clone());
    endpoints.notify(etx);

    for i in [
        &pods,
        &deployments,
        &replicasets,
        &daemonsets,
        &nodes,
        &services,
        &slices,
        &endpoints,
    ] {
        i.start(client.clone());
    }
    {
        // One thread for the workload controllers (deployments, replicasets, daemonsets):
        // each pass runs them in that order, so a ReplicaSet the deployment controller just
        // scaled gets its pods in the same pass.
        let (c, d, rs, ds, n, p, s) = (
            client.clone(),
            deployments.clone(),
            replicasets.clone(),
            daemonsets.clone(),
            nodes.clone(),
            pods.clone(),
            services.clone(),
        );
        std::thread::Builder::new()
            .name("workload-controllers".into())
            .spawn(move || {
                informer::wait_for_sync(&[&d, &rs, &ds, &n, &p, &s]);
                let dep = deployment::DeploymentController::new(
                    c.clone(),
                    d.clone(),
                    rs.clone(),
                    p.clone(),
                );
                let rsc = replicaset::ReplicaSetController::new(c.clone(), rs, p.clone());
                let dsc = daemonset::DaemonSetController::new(c.clone(), ds, n, p);
                loop {
                    if with_dns {
                        dns::ensure_dns_objects(&c, &s, &d);
                    }
                    dep.reconcile_all();
                    rsc.reconcile_all();
                    dsc.reconcile_all();
                    if !wait_wake(&drx) {
                        return;
                    }
                }
            })
            .expect("spawn workload controllers");
    }
    {
        let (c, s, p, sl, ep) = (
            client,
            services.clone(),
            pods.clone(),
            slices.clone(),
            endpoints.clone(),
        );
        std::thread::Builder::new()
            .name("endpointslice-controller".into())
            .spawn(move || {
                informer::wait_for_sync(&[&s, &p, &sl, &ep]);
                let ctl = endpointslice::EndpointController::new(c, s, p, sl, ep);
                loop {
                    ctl.reconcile_all();
                    if !wait_wake(&erx) {
                        return;
                    }
                }
            })
            .expect("spawn endpointslice controller");
    }
    ControllerManager {
        informers: vec![
            pods,
            deployments,
            replicasets,
            daemonsets,
            nodes,
            services,
            slices,
            endpoints,
        ],
    }
}

/// Starts the scheduler's informers and loop on background threads and returns at once.
pub fn start_scheduler(client: ApiClient) {
    let pods = Informer::new(&PODS);
    let nodes = Informer::new(&NODES);
    let (tx, rx) = channel();
    pods.notify(tx.clone());
    nodes.notify(tx);
    pods.start(client.clone());
    nodes.start(client.clone());
    std::thread::Builder::new()
        .name("scheduler".into())
        .spawn(move || {
            informer::wait_for_sync(&[&pods, &nodes]);
            let s = scheduler::Scheduler::new(client, pods, nodes);
            loop {
                s.schedule_all();
                if !wait_wake(&rx) {
                    return;
                }
            }
        })
        .expect("spawn scheduler");
}

/// Entry point of `kube-controller-manager [--master URL] [--cluster-cidr CIDR]
/// [--service-cluster-ip-range 10.96.0.0/12] [--no-dns]`.
pub fn main(args: Vec<String>) -> ExitCode {
    let args: ManagerArgs = match parse_args(&args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if args.service_cluster_ip_range != contract::SERVICE_CIDR {
        eprintln!(
            "kube-controller-manager: --service-cluster-ip-range={}: the lab API server allocates from 10.96.0.0/12 only",
            args.service_cluster_ip_range
        );
        return ExitCode::from(2);
    }
    init_tracing();
    let client = client_for(&args.master);
    tracing::info!(apiserver = client.base_url(), cluster_cidr = %args.cluster_cidr, "starting kube-controller-manager");
    start_controller_manager(client, !args.no_dns);
    loop {
        std::thread::park();
    }
}

/// Entry point of `kube-scheduler [--master URL] [--leader-elect=false]`.
pub fn scheduler_main(args: Vec<String>) -> ExitCode {
    let args: SchedulerArgs = match parse_args(&args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    init_tracing();
    let client = client_for(&args.master);
    tracing::info!(
        apiserver = client.base_url(),
        leader_elect = args.leader_elect,
        "starting kube-scheduler"
    );
    start_scheduler(client);
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn accepts_the_flags_kplab_node_passes() {
        let m: ManagerArgs = parse_args(&argv(&[
            "kube-controller-manager",
            "--cluster-cidr=10.244.0.0/16",
            "--service-cluster-ip-range=10.96.0.0/12",
        ]))
        .unwrap();
        assert_eq!(m.cluster_cidr, "10.244.0.0/16");
        let s: SchedulerArgs =
            parse_args(&argv(&["kube-scheduler", "--leader-elect=false"])).unwrap();
        assert!(!s.leader_elect);
        assert!(parse_args::<SchedulerArgs>(&argv(&["kube-scheduler", "--bogus"])).is_err());
    }
}
