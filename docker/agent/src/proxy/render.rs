//! `kube-proxy render -f FILE [flags]`: prints the `iptables-restore` text kube-proxy (iptables
//! mode) would write on its first sync, for the Services, EndpointSlices and Nodes in FILE; with
//! `--proxy-mode=nftables`, the nftables table that sync leaves (knftables' dump format).

use clap::Parser;
use netrules::kubeproxy::{nft::render_nft, render, Flags, ProxyMode};

use super::flags::RuleArgs;
use crate::kube::cli::flags_or_exit;
use std::io::Read;
use std::process::ExitCode;

/// The flags, with kube-proxy's names. Defaults are those of a kplab node.
#[derive(Parser, Debug)]
#[command(
    name = "kube-proxy render",
    about = "Print the rules kube-proxy (iptables mode ~v1.34, or nftables mode v1.36) writes for the objects in FILE",
    long_about = "Print the iptables-restore input kube-proxy (iptables mode, ~v1.34) writes on its first, full sync \
on a clean node, for the Services, EndpointSlices and Nodes in FILE (multi-document YAML, JSON, or a List).\n\n\
With --proxy-mode=nftables, print the `kube-proxy` nftables table (nftables mode, v1.36) after that sync instead, \
one object per line as knftables dumps it (`nft -f` accepts it); --service-cidrs, else the ServiceCIDR objects \
in FILE, add the rule that drops traffic to unallocated ClusterIPs. iptables-only flags are accepted and ignored.\n\n\
Host facts a real kube-proxy detects are flags here. Defaults are those of a kplab node: --random-fully=true \
(iptables >= 1.6.2 supports it), --nfacct=false (kplab nodes are containers without nfacct objects), \
--conntrack-tcp-be-liberal=false. The masquerade mark is printed as the binary does (0x00004000).\n\n\
Services are written in service-port-name order (kube-proxy's order is random per sync). \
Warnings about skipped objects go to stderr in klog style."
)]
struct Args {
    /// File of objects ("-" reads stdin).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    file: String,
    /// The flags that shape the rules, as kube-proxy spells them.
    #[command(flatten)]
    rules: RuleArgs,
}

impl Args {
    fn flags(&self) -> Flags {
        self.rules.0.clone()
    }
}

/// A klog-style line: `W1123 04:35:00.123456    4242 render.go:0] "message" key="value"`.
fn klog(severity: char, msg: &str) -> String {
    crate::kube::klog::line(severity, "render.go:0", msg)
}

/// Entry point. `args[0]` is "render".
pub fn main(args: Vec<String>) -> ExitCode {
    let args = match flags_or_exit(Args::try_parse_from(&args)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let text = if args.file == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("kube-proxy render: cannot read standard input: {e}");
            return ExitCode::from(1);
        }
        s
    } else {
        match std::fs::read_to_string(&args.file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kube-proxy render: cannot read {}: {e}", args.file);
                return ExitCode::from(1);
            }
        }
    };
    let loaded = netrules::k8s::load(&text);
    for e in &loaded.errors {
        eprintln!(
            "{}",
            klog(
                'E',
                &format!(
                    "\"Skipping unreadable object\" file={:?} document={} line={} err={:?}",
                    args.file, e.index, e.line, e.message
                )
            )
        );
    }
    let hostname = std::env::var("KPLAB_NODE_NAME").unwrap_or_default();
    let cfg = match args.flags().to_config(
        &loaded.objects.nodes,
        if args.rules.0.hostname_override.is_some() {
            ""
        } else {
            &hostname
        },
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kube-proxy render: invalid configuration: {e}");
            return ExitCode::from(1);
        }
    };
    if loaded.objects.services.is_empty()
        && loaded.objects.endpoint_slices.is_empty()
        && !loaded.errors.is_empty()
    {
        eprintln!(
            "kube-proxy render: no object could be read from {}",
            args.file
        );
        return ExitCode::from(1);
    }
    let (text, warnings) = match args.flags().mode() {
        ProxyMode::Iptables => {
            let out = render(&cfg, &loaded.objects);
            (out.restore_text, out.warnings)
        }
        ProxyMode::Nftables => {
            let out = render_nft(&cfg, &loaded.objects);
            (out.dump, out.warnings)
        }
    };
    for w in &warnings {
        let sev = if w.kind == "config" { 'I' } else { 'E' };
        eprintln!("{}", klog(sev, &w.to_string()));
    }
    print!("{text}");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_and_netrules_flags_agree() {
        let argv = [
            "--hostname-override=node-1",
            "--cluster-cidr=10.244.0.0/16",
            "--masquerade-all",
            "--iptables-masquerade-bit=15",
            "--iptables-localhost-nodeports=false",
            "--nodeport-addresses=172.28.5.0/24",
            "--node-ip=172.28.5.10",
            "--nfacct",
            "--random-fully=false",
            "--conntrack-tcp-be-liberal=true",
            "--proxy-mode=nftables",
            "--service-cidrs=10.96.0.0/12",
        ];
        let mut full = vec!["render".to_string(), "-f".into(), "x".into()];
        full.extend(argv.iter().map(|s| s.to_string()));
        let via_clap = Args::try_parse_from(&full).unwrap().flags();
        let via_netrules = Flags::parse_args(&argv).unwrap();
        assert_eq!(via_clap, via_netrules);
        let defaults = Args::try_parse_from(["render", "-f", "-"]).unwrap().flags();
        assert_eq!(defaults, Flags::default());
    }
}
