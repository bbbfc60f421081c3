//! `kplab-agent`: one static binary for everything that runs inside a lab container.
//!
//! It is multi-call, like busybox: the node image links `kubectl`, `kube-apiserver`,
//! `kube-controller-manager`, `kube-scheduler`, `kubelet`, `kube-proxy`, `coredns`, … to it, so
//! `ps` and the shell show the real component names. `kplab-agent NAME ARGS…` does the same
//! as invoking the link `NAME ARGS…`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    if argv0 == "kplab-agent" {
        if args.len() < 2 || args[1] == "--help" || args[1] == "-h" {
            eprintln!("{}", kplab_agent::USAGE);
            return if args.len() < 2 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
        args.remove(0);
    }
    kplab_agent::dispatch(args)
}
