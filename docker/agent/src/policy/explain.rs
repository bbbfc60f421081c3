//! `kplab-agent policy explain --from NS/POD --to NS/POD:PORT[/PROTO] [-o json]`: reads this
//! node's filter table (`iptables-save -t filter`), resolves the pods through the lab API, and
//! prints the verdict, the chain and rule that decided it, and the policy rules that set the
//! accept mark, next to what the NetworkPolicy semantics say.

use std::process::ExitCode;

use netrules::netpol::explain::{explain, Query};
use netrules::netpol::objects::{Pod, Protocol};
use netrules::netpol::parse_filter;

use super::sync::list_all;
use crate::kube::cli::args_or_usage;
use crate::kube::client::ApiClient;
use crate::kube::iptables::Iptables;
use crate::kube::net::{this_node_name, veth_name};

const USAGE: &str = "\
usage: kplab-agent policy explain --from NS/POD --to NS/POD:PORT[/PROTO] [-o json] [--node NAME]

Explains what this node's NetworkPolicy rules (the cali-* chains loaded here) do with a new
connection from one pod to another: ALLOWED or DROPPED, the chain and rule that decided, and
the policy rules that allowed each direction. PROTO is TCP (default), UDP or SCTP. A flow
between two nodes is checked in two halves: egress on the client's node, ingress on the
server's node; run explain on each.";

/// A parsed `explain` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Client `(namespace, pod)`.
    pub from: (String, String),
    /// Server `(namespace, pod)`.
    pub to: (String, String),
    /// Port.
    pub port: u16,
    /// Protocol.
    pub proto: Protocol,
    /// JSON output.
    pub json: bool,
    /// Node name override.
    pub node: Option<String>,
}

fn pod_ref(s: &str, what: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, p)) if !ns.is_empty() && !p.is_empty() && !p.contains('/') => {
            Ok((ns.into(), p.into()))
        }
        _ => Err(format!("{what} {s:?} is not NAMESPACE/POD")),
    }
}

/// Parses `policy explain …` (`args[0]` is `policy`).
pub fn parse_args(args: &[String]) -> Result<Request, String> {
    let mut it = args.iter().skip(1);
    if it.next().map(String::as_str) != Some("explain") {
        return Err("the only policy subcommand is `explain`".into());
    }
    let (mut from, mut to, mut json, mut node) = (None, None, false, None);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--from" => from = Some(value()?),
            "--to" => to = Some(value()?),
            "--node" => node = Some(value()?),
            "-o" | "--output" => match value()?.as_str() {
                "json" => json = true,
                "text" => json = false,
                other => return Err(format!("unknown output format {other:?} (json or text)")),
            },
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    let from = pod_ref(&from.ok_or("--from NS/POD is required")?, "--from")?;
    let to = to.ok_or("--to NS/POD:PORT[/PROTO] is required")?;
    let (target, port_proto) = to
        .rsplit_once(':')
        .ok_or_else(|| format!("--to {to:?} has no :PORT"))?;
    let (port_s, proto_s) = port_proto.split_once('/').unwrap_or((port_proto, "TCP"));
    let port: u16 = port_s
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("--to: {port_s:?} is not a port number (1-65535)"))?;
    let proto = Protocol::parse_any_case(proto_s)
        .ok_or_else(|| format!("--to: protocol {proto_s:?} is not TCP, UDP or SCTP"))?;
    Ok(Request {
        from,
        to: pod_ref(target, "--to")?,
        port,
        proto,
        json,
        node,
    })
}

/// Entry point of `kplab-agent policy`.
pub fn explain_main(args: Vec<String>) -> ExitCode {
    let req = match args_or_usage(parse_args(&args), "policy explain", USAGE) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match run(&req) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("policy explain: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(req: &Request) -> Result<String, String> {
    let cluster = list_all(&ApiClient::from_env())?;
    let find = |(ns, p): &(String, String)| -> Result<Pod, String> {
        cluster
            .pod(ns, p)
            .cloned()
            .ok_or_else(|| format!("pods \"{p}\" not found in namespace {ns:?}"))
    };
    let (src, dst) = (find(&req.from)?, find(&req.to)?);
    let node = req
        .node
        .clone()
        .or_else(this_node_name)
        .ok_or("cannot tell which node this is: set --node or KPLAB_NODE_NAME")?;
    let saved = Iptables::default()
        .save(Some("filter"))
        .map_err(|e| e.to_string())?;
    let table = parse_filter(&saved).map_err(|e| format!("reading iptables-save: {e}"))?;
    let iface = |p: &Pod| veth_name(&p.namespace, &p.name);
    let q = Query {
        src: &src,
        dst: &dst,
        port: req.port,
        proto: req.proto,
    };
    let ex = explain(&cluster, &table, &node, q, &iface).map_err(|e| e.to_string())?;
    if req.json {
        serde_json::to_string_pretty(&ex)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string())
    } else {
        Ok(ex.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let a = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let r = parse_args(&a("policy explain --from x/a --to y/b:81/udp -o json")).unwrap();
        assert_eq!(r.from, ("x".into(), "a".into()));
        assert_eq!(
            (r.to.1.as_str(), r.port, r.proto, r.json),
            ("b", 81, Protocol::Udp, true)
        );
        assert_eq!(
            parse_args(&a("policy explain --from x/a --to y/b:80"))
                .unwrap()
                .proto,
            Protocol::Tcp
        );
        assert!(parse_args(&a("policy explain --from x --to y/b:80"))
            .unwrap_err()
            .contains("NAMESPACE/POD"));
        assert!(parse_args(&a("policy explain --from x/a --to y/b"))
            .unwrap_err()
            .contains(":PORT"));
        assert!(parse_args(&a("policy explain --from x/a --to y/b:0"))
            .unwrap_err()
            .contains("port number"));
        assert!(parse_args(&a("policy explain --from x/a --to y/b:80/icmp"))
            .unwrap_err()
            .contains("TCP, UDP or SCTP"));
        assert!(parse_args(&a("policy trace")).is_err());
    }
}
