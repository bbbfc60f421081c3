//! kplab-conntrack-forget: deletes exactly the conntrack entries of the given connections in
//! this network namespace, so that a grader's probe leaves nothing in the `conntrack -L` a
//! learner reads.
//!
//! ```text
//! kplab-conntrack-forget PROTO,SRC:SPORT,DST:DPORT ...
//! ```
//! Each flow is an entry's original direction; only an entry with that exact protocol,
//! addresses and ports is deleted (`conntrack -D -p -s --sport -d --dport`), never one that
//! merely shares an address. Output: one [`labkit::wire::Forgotten`] on stdout, with the reply
//! direction of every deleted entry: where the connection went after this node's DNAT and
//! SNAT, which is its original direction on the node it went on to.

use std::process::{Command, ExitCode};

use crate::kube::cli::report_json;
use labkit::wire::{Flow, Forgotten};

/// Entry point.
pub fn main(args: Vec<String>) -> ExitCode {
    let flows: Result<Vec<Flow>, String> = args[1..]
        .iter()
        .map(|a| {
            Flow::parse(a).ok_or_else(|| {
                format!("bad flow {a:?}: want PROTO,SRC:SPORT,DST:DPORT (IPv4, tcp or udp)")
            })
        })
        .collect();
    report_json("kplab-conntrack-forget", flows.and_then(|f| forget(&f)))
}

/// Deletes each flow's entry; the reply directions of the deleted entries.
pub fn forget(flows: &[Flow]) -> Result<Forgotten, String> {
    let mut out = Forgotten::default();
    for f in flows {
        let (src, sport) = split(&f.src)?;
        let (dst, dport) = split(&f.dst)?;
        let r = Command::new("conntrack")
            .args([
                "-D",
                "-p",
                &f.protocol,
                "-s",
                src,
                "--sport",
                sport,
                "-d",
                dst,
            ])
            .args(["--dport", dport])
            .output()
            .map_err(|e| format!("running conntrack: {e}"))?;
        // Exit 1 with "0 flow entries have been deleted" when there is none: not an error.
        for line in String::from_utf8_lossy(&r.stdout).lines() {
            if let Some((orig, reply)) = parse_entry(line) {
                if orig == *f {
                    out.deleted += 1;
                    out.replies.push(reply);
                }
            }
        }
    }
    Ok(out)
}

fn split(addr: &str) -> Result<(&str, &str), String> {
    addr.rsplit_once(':')
        .ok_or_else(|| format!("{addr:?} is not IP:PORT"))
}

/// The original and reply directions of one `conntrack -L`/`-D` line:
/// `tcp 6 118 TIME_WAIT src=A dst=B sport=a dport=b src=B' dst=A' sport=b' dport=a' [ASSURED] …`.
pub fn parse_entry(line: &str) -> Option<(Flow, Flow)> {
    let mut words = line.split_whitespace();
    let protocol = words.next()?.to_string();
    if protocol != "tcp" && protocol != "udp" {
        return None;
    }
    let mut v: Vec<(&str, &str)> = Vec::new();
    for w in words {
        if let Some((k, val)) = w.split_once('=') {
            if matches!(k, "src" | "dst" | "sport" | "dport") {
                v.push((k, val));
            }
        }
    }
    let get = |k: &str, n: usize| v.iter().filter(|(x, _)| *x == k).nth(n).map(|(_, y)| *y);
    let flow = |n: usize| -> Option<Flow> {
        Some(Flow {
            protocol: protocol.clone(),
            src: format!("{}:{}", get("src", n)?, get("sport", n)?),
            dst: format!("{}:{}", get("dst", n)?, get("dport", n)?),
        })
    };
    Some((flow(0)?, flow(1)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_give_both_directions() {
        let (o, r) = parse_entry("tcp      6 118 TIME_WAIT src=172.30.30.100 dst=172.30.30.10 sport=57180 dport=30986 src=10.244.2.1 dst=10.244.1.0 sport=80 dport=30179 [ASSURED] mark=0 use=1").unwrap();
        assert_eq!(o.arg(), "tcp,172.30.30.100:57180,172.30.30.10:30986");
        assert_eq!(r.arg(), "tcp,10.244.2.1:80,10.244.1.0:30179");
        let (o, r) = parse_entry("udp      17 29 src=10.244.1.3 dst=10.96.0.10 sport=40053 dport=53 [UNREPLIED] src=10.244.2.5 dst=10.244.1.3 sport=53 dport=40053 mark=0 use=1").unwrap();
        assert_eq!(o.arg(), "udp,10.244.1.3:40053,10.96.0.10:53");
        assert_eq!(r.reversed().arg(), "udp,10.244.1.3:40053,10.244.2.5:53");
        assert!(parse_entry(
            "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been deleted."
        )
        .is_none());
        assert!(parse_entry("icmp 1 29 src=1.1.1.1 dst=2.2.2.2 type=8 code=0 id=1 src=2.2.2.2 dst=1.1.1.1 type=0 code=0 id=1").is_none());
    }

    #[test]
    fn flows_parse_only_exact_tuples() {
        assert!(Flow::parse("tcp,10.0.0.1:1,10.0.0.2:80").is_some());
        assert!(Flow::parse("tcp,10.0.0.1,10.0.0.2:80").is_none());
        assert!(Flow::parse("sctp,10.0.0.1:1,10.0.0.2:80").is_none());
        assert!(Flow::parse("tcp,10.0.0.1:1,10.0.0.2:80,x").is_none());
        assert!(Flow::parse("tcp,10.0.0.1:1;reboot,10.0.0.2:80").is_none());
    }
}
