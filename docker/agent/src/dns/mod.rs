//! Cluster DNS (the coredns pod): answers for Services and pods from the lab API.
//!
//! `coredns --pod-ip 10.244.1.3` listens on UDP and TCP port 53 of the pod IP, watches Services
//! and EndpointSlices through the lab API (`KPLAB_APISERVER`, or `--apiserver`) and answers as
//! CoreDNS's `kubernetes` plugin does with kubeadm's Corefile (`pods insecure`, `ttl 30`); see
//! [`index`] for the names. The lab has no internet, so the `forward . /etc/resolv.conf` part
//! of a real Corefile has nowhere to go: names outside the cluster zones are answered REFUSED,
//! and the server says so when it starts. `-conf FILE` (what the Deployment passes) is accepted
//! and ignored.

pub mod index;
pub mod server;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, RwLock};

use clap::Parser;

use crate::kube::cli::flags_or_exit;
use crate::kube::client::{ApiClient, ENDPOINT_SLICES, SERVICES};
use crate::kube::informer::{run_informer, Store};
use index::Index;
use server::DnsState;

/// The version string printed at start (the image the lab's Deployment names).
pub const COREDNS_VERSION: &str = "CoreDNS-1.11.3";

/// `coredns` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "coredns",
    about = "kplab cluster DNS (CoreDNS kubernetes plugin semantics)"
)]
pub struct Flags {
    /// The pod's IP: listen on `<pod-ip>:53`.
    #[arg(long = "pod-ip")]
    pub pod_ip: Option<std::net::IpAddr>,
    /// Listen address (overrides `--pod-ip`), e.g. `127.0.0.1:5353`; port 0 picks one.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The lab API server (default: `KPLAB_APISERVER`).
    #[arg(long)]
    pub apiserver: Option<String>,
    /// The cluster domain.
    #[arg(long, default_value = crate::kube::contract::CLUSTER_DOMAIN)]
    pub domain: String,
}

fn warn(msg: &str) {
    println!("[WARNING] plugin/kubernetes: {msg}");
}

/// Keeps `state.index` current from Services and EndpointSlices of the API at `client`:
/// starts the informers and a rebuild thread, and returns at once.
pub fn watch_api(client: ApiClient, state: &DnsState) {
    let store = Arc::new(Mutex::new(Store::default()));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    for res in [&SERVICES, &ENDPOINT_SLICES] {
        let (c, s, t) = (client.clone(), store.clone(), tx.clone());
        std::thread::Builder::new()
            .name(format!("dns-informer-{}", res.plural))
            .spawn(move || run_informer(c, res, s, || t.send(()).is_ok(), warn))
            .expect("spawn informer thread");
    }
    drop(tx);
    let (shared, domain) = (state.index.clone(), state.domain.clone());
    std::thread::Builder::new()
        .name("dns-index".into())
        .spawn(move || {
            let mut logged: Vec<String> = Vec::new();
            let mut ready = false;
            while rx.recv().is_ok() {
                // Coalesce bursts of events into one rebuild.
                while rx.try_recv().is_ok() {}
                let (idx, warnings) = {
                    let s = store.lock().expect("store lock");
                    if !s.synced(&["Service", "EndpointSlice"]) {
                        continue;
                    }
                    Index::build(s.iter("Service"), s.iter("EndpointSlice"), &domain)
                };
                for w in warnings.iter().filter(|w| !logged.contains(w)) {
                    warn(&format!("skipping malformed object: {w}"));
                }
                logged = warnings;
                if !ready {
                    println!(
                        "[INFO] plugin/kubernetes: synced {} services",
                        idx.services.len()
                    );
                    ready = true;
                }
                *shared.write().expect("index lock") = Arc::new(idx);
            }
        })
        .expect("spawn index thread");
}

/// Entry point (`args[0]` is `coredns`).
pub fn main(args: Vec<String>) -> ExitCode {
    // CoreDNS's own flags are single-dash (`-conf FILE`): drop them, we have no Corefile.
    let mut filtered = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "-conf" {
            it.next();
            continue;
        }
        if a.starts_with("-conf=") || a == "-dns.port" {
            continue;
        }
        filtered.push(a);
    }
    let flags = match flags_or_exit(Flags::try_parse_from(&filtered)) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let listen = flags.listen.unwrap_or_else(|| {
        SocketAddr::new(
            flags.pod_ip.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
            53,
        )
    });
    let apiserver = flags
        .apiserver
        .clone()
        .or_else(|| std::env::var("KPLAB_APISERVER").ok())
        .unwrap_or_else(|| crate::kube::contract::DEFAULT_APISERVER.to_string());
    let state = DnsState {
        index: Arc::new(RwLock::new(Arc::new(Index::default()))),
        domain: flags.domain.trim_matches('.').to_ascii_lowercase(),
    };
    watch_api(ApiClient::new(&apiserver), &state);
    // The pod's address can still be on its way when the process starts (the kubelet wires the
    // network while it starts the container): wait for it a little, as a bind to a missing
    // address fails at once.
    let mut started = server::start(listen, state.clone());
    for _ in 0..40 {
        match &started {
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                started = server::start(listen, state.clone());
            }
            _ => break,
        }
    }
    let bound = match started {
        Ok(a) => a,
        Err(e) => {
            eprintln!("[ERROR] coredns: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    println!(".:{}", bound.port());
    println!("{COREDNS_VERSION} (kplab)");
    println!(
        "linux/amd64, serving {}. and in-addr.arpa. on {bound} (udp+tcp), API {apiserver}",
        state.domain
    );
    println!(
        "[INFO] plugin/forward: this lab has no internet and no upstream resolver: names outside {}. are answered REFUSED",
        state.domain
    );
    loop {
        std::thread::park();
    }
}
