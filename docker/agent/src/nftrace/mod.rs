//! `kplab-agent nftrace`: one real connection traced by the kernel, hop by hop.
//!
//! ```text
//! kplab-agent nftrace --to IP:PORT [--protocol tcp|udp] [--sport PORT]
//!                     [--pod NS/NAME | --wait-from IP] [--timeout-ms 3000] [--ready-file PATH]
//! ```
//! It inserts into the raw table (PREROUTING and OUTPUT) a `-j TRACE` rule matching only this
//! flow (source port, destination, destination port and, when known, source address; commented
//! `kplab-nftrace:SPORT:DEADLINE`), starts `xtables-monitor --trace`, sends the one connection
//! (from this node, or from a pod's network namespace with `--pod`; with `--wait-from IP` the
//! connection comes from another host, e.g. `client`, and the command waits for it after creating
//! `--ready-file`), reads the hops of the flow's first packet (the one that crosses the nat
//! table) and the conntrack entry, and prints one JSON object ([`Report`]). The TRACE rules and
//! the monitor are removed on every path (success, error, timeout); rules left by a killed run
//! are swept by the next one once their deadline has passed.
//!
//! Rules go through [`crate::kube::iptables`] (`iptables-restore --noflush` with `-I`/`-D` lines);
//! `xtables-monitor` and `conntrack` only read.
//!
//! On a node whose kube-proxy runs in nftables mode (`table ip kube-proxy` exists) the trace is
//! nftables' own instead ([`nft`]): a table `ip kplab-trace-SPORT-DEADLINE` whose raw-priority
//! chains set `meta nftrace set 1` on the flow, read with `nft monitor trace`, deleted on every
//! path (stale ones swept by the next run), hops in the same [`Report`] (`mode: nftables`).

pub mod nft;
pub mod parse;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::kube::cli::report_json;
use crate::kube::iptables::Iptables;
use crate::kube::process::spawn_piped;
use parse::{ConntrackEntry, Hop};

/// The comment prefix of our TRACE rules.
pub const COMMENT_PREFIX: &str = "kplab-nftrace:";

/// Parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Destination address.
    pub dst: std::net::Ipv4Addr,
    /// Destination port (1..=65535).
    pub dport: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Source port of the traced connection.
    pub sport: u16,
    /// Send from this pod's network namespace.
    pub pod: Option<String>,
    /// Do not send: wait for a connection from this address (another host sends it).
    pub wait_from: Option<std::net::Ipv4Addr>,
    /// Whole-run deadline.
    pub timeout: Duration,
    /// Created once the rule and the monitor are in place (for `--wait-from`).
    pub ready_file: Option<String>,
    /// Where the kubelet keeps `<ns>/<pod>/pid`.
    pub run_dir: String,
}

const USAGE: &str = "usage: kplab-agent nftrace --to IP:PORT [--protocol tcp|udp] [--sport PORT] [--pod NS/NAME | --wait-from IP] [--timeout-ms MS] [--ready-file PATH]";

/// Parses the arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut to = None;
    let mut a = Args {
        dst: std::net::Ipv4Addr::UNSPECIFIED,
        dport: 0,
        protocol: "tcp".into(),
        sport: 0,
        pod: None,
        wait_from: None,
        timeout: Duration::from_millis(3000),
        ready_file: None,
        run_dir: crate::kube::contract::POD_RUN_DIR.into(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--to" => to = Some(value()?),
            "--protocol" => a.protocol = value()?.to_ascii_lowercase(),
            "--sport" => {
                a.sport = value()?
                    .parse()
                    .map_err(|_| "--sport must be a port number".to_string())?
            }
            "--pod" => a.pod = Some(value()?),
            "--wait-from" => {
                a.wait_from = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--wait-from must be an IPv4 address".to_string())?,
                )
            }
            "--timeout-ms" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|_| "--timeout-ms must be a number".to_string())?;
                a.timeout = Duration::from_millis(ms.clamp(200, 30_000));
            }
            "--ready-file" => a.ready_file = Some(value()?),
            "--run-dir" => a.run_dir = value()?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
        }
    }
    let to = to.ok_or_else(|| format!("--to is required\n{USAGE}"))?;
    let (ip, port) = to
        .rsplit_once(':')
        .ok_or_else(|| format!("--to {to:?} must be IP:PORT"))?;
    a.dst = ip
        .parse()
        .map_err(|_| format!("--to {to:?}: {ip:?} is not an IPv4 address"))?;
    a.dport = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("--to {to:?}: the port must be 1..65535"))?;
    if a.protocol != "tcp" && a.protocol != "udp" {
        return Err("--protocol must be tcp or udp".into());
    }
    if a.pod.is_some() && a.wait_from.is_some() {
        return Err("--pod and --wait-from exclude each other".into());
    }
    if a.sport == 0 {
        // Above Linux's ephemeral range (32768-60999), so no other socket of the node or a pod
        // picks it by chance; random, so concurrent traces use different ports.
        a.sport = 61000 + (rand::random::<u16>() % 4000);
    }
    Ok(a)
}

/// What `nftrace` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `tcp`/`udp`.
    pub protocol: String,
    /// Source address of the flow as the node first saw it (empty when unknown).
    pub src: String,
    /// Source port.
    pub sport: u16,
    /// Destination as sent.
    pub dst: String,
    /// Destination port as sent.
    pub dport: u16,
    /// Hops of the first packet, in order.
    pub hops: Vec<Hop>,
    /// `accept`, `drop`, `reject` or `unknown` (no packet seen).
    pub verdict: String,
    /// The destination after DNAT (`ip:port`), if it changed.
    pub dnat: Option<String>,
    /// Whether a MASQUERADE/SNAT rule matched.
    pub masqueraded: bool,
    /// The conntrack entry of the flow, if any.
    pub conntrack: Option<ConntrackEntry>,
    /// Packets of the flow seen in the original direction.
    pub packets_seen: usize,
    /// How the sender ended (`ok`, `timeout`, `refused`, `exit N`, or `not sent here`).
    pub sender: String,
    /// What the sender printed (the pod's answer on success).
    pub answer: String,
    /// Milliseconds from start to report.
    pub ms: f64,
    /// `iptables` (TRACE rules, `xtables-monitor`) or `nftables` (`meta nftrace`, `nft monitor`).
    pub mode: String,
}

/// How a run traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-j TRACE` in the raw table, `xtables-monitor --trace`.
    Iptables,
    /// `meta nftrace set 1` in a table of our own, `nft monitor trace`.
    Nftables,
}

/// nftables mode when kube-proxy's table is there (kube-proxy in nftables mode).
fn detect_mode() -> Mode {
    let nft = Command::new("nft")
        .args(["list", "table", "ip", "kube-proxy"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if nft.is_ok_and(|s| s.success()) {
        Mode::Nftables
    } else {
        Mode::Iptables
    }
}

/// Runs `nft -f -` with `text`.
fn nft_apply(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("writing to nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for nft: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "nft -f: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Deletes our tables whose deadline has passed (left by a killed run).
fn sweep_nft(now: u64) {
    let Ok(out) = Command::new("nft").args(["list", "tables"]).output() else {
        return;
    };
    for t in nft::stale_tables(&String::from_utf8_lossy(&out.stdout), now) {
        let _ = nft_apply(&format!("delete table ip {t}\n"));
    }
}

/// Entry point.
pub fn main(args: Vec<String>) -> ExitCode {
    let a = match parse_args(&args[1..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nftrace: {e}");
            return ExitCode::from(2);
        }
    };
    report_json("nftrace", run(&a))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The rule spec (after `-I CHAIN`) of this flow's TRACE rule.
pub fn rule_spec(a: &Args, deadline: u64) -> String {
    let mut s = format!("-p {}", a.protocol);
    if let Some(src) = a.wait_from {
        s.push_str(&format!(" -s {src}/32"));
    }
    s.push_str(&format!(
        " -d {}/32 -m {p} --sport {} --dport {} -m comment --comment {COMMENT_PREFIX}{}:{deadline} -j TRACE",
        a.dst,
        a.sport,
        a.dport,
        a.sport,
        p = a.protocol
    ));
    s
}

/// Restore text inserting (`-I`) or deleting (`-D`) the rule in raw PREROUTING and OUTPUT.
pub fn restore_text(op: &str, spec: &str) -> String {
    format!("*raw\n{op} PREROUTING {spec}\n{op} OUTPUT {spec}\nCOMMIT\n")
}

/// Our stale rules in `iptables-save -t raw` output (deadline before `now`), as `-D` restore text.
pub fn stale_rules(save: &str, now: u64) -> Option<String> {
    let mut out = String::new();
    for l in save.lines() {
        let Some(rest) = l.strip_prefix("-A ") else {
            continue;
        };
        let Some(i) = l.find(COMMENT_PREFIX) else {
            continue;
        };
        let deadline: Option<u64> = l[i + COMMENT_PREFIX.len()..]
            .split(|c: char| c.is_whitespace() || c == '"')
            .next()
            .and_then(|t| t.rsplit(':').next())
            .and_then(|t| t.parse().ok());
        if deadline.is_some_and(|d| d < now) {
            out.push_str("-D ");
            out.push_str(rest);
            out.push('\n');
        }
    }
    (!out.is_empty()).then(|| format!("*raw\n{out}COMMIT\n"))
}

/// Removes what a run installed, whatever happens.
struct Cleanup {
    ipt: Iptables,
    mode: Mode,
    /// iptables: the TRACE rule's spec; nftables: our table's name.
    spec: String,
    monitor: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut m) = self.monitor.take() {
            let _ = m.kill();
            let _ = m.wait();
        }
        let removed = match self.mode {
            Mode::Iptables => self
                .ipt
                .restore_noflush(&restore_text("-D", &self.spec))
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Mode::Nftables => nft_apply(&format!("delete table ip {}\n", self.spec)),
        };
        if let Err(e) = removed {
            eprintln!("nftrace: removing the trace rule: {e}");
        }
    }
}

fn sender_command(a: &Args) -> Result<Command, String> {
    let secs = format!("{:.2}", (a.timeout.as_secs_f64() * 0.6).max(0.3));
    let mut argv: Vec<String> = Vec::new();
    if let Some(pod) = &a.pod {
        let (ns, name) = pod
            .split_once('/')
            .ok_or_else(|| format!("--pod {pod:?} must be NS/NAME"))?;
        let pid_file = format!("{}/{ns}/{name}/pid", a.run_dir);
        let pid = std::fs::read_to_string(&pid_file)
            .map_err(|e| format!("pod {pod} is not on this node ({pid_file}: {e})"))?;
        argv.extend([
            "nsenter".into(),
            format!("--net=/proc/{}/ns/net", pid.trim()),
            "--".into(),
        ]);
    }
    if a.protocol == "tcp" {
        argv.extend([
            "curl".into(),
            "-sS".into(),
            "-m".into(),
            secs,
            "--local-port".into(),
            a.sport.to_string(),
            format!("http://{}:{}/", a.dst, a.dport),
        ]);
    } else {
        argv.extend([
            "nc".into(),
            "-u".into(),
            "-w".into(),
            "1".into(),
            "-p".into(),
            a.sport.to_string(),
            a.dst.to_string(),
            a.dport.to_string(),
        ]);
    }
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    Ok(c)
}

/// Runs one trace.
pub fn run(a: &Args) -> Result<Report, String> {
    let start = Instant::now();
    let mode = detect_mode();
    let ipt = Iptables::default();
    let deadline = unix_now() + a.timeout.as_secs() + 5;
    let spec = match mode {
        Mode::Iptables => {
            if let Ok(save) = ipt.save(Some("raw")) {
                if let Some(text) = stale_rules(&save, unix_now()) {
                    let _ = ipt.restore_noflush(&text);
                }
            }
            rule_spec(a, deadline)
        }
        Mode::Nftables => {
            sweep_nft(unix_now());
            nft::table_name(a.sport, deadline)
        }
    };
    let packets_of = |text: &str, src: Option<&str>| match mode {
        Mode::Iptables => parse::packets_of_flow(text, src, a.sport),
        Mode::Nftables => nft::packets_of_flow(text, src, a.sport),
    };
    // The monitor first, so it is listening before the rule can trace anything.
    let (bin, margs): (&str, &[&str]) = match mode {
        Mode::Iptables => ("xtables-monitor", &["--trace"]),
        Mode::Nftables => ("nft", &["monitor", "trace"]),
    };
    let mut monitor = Command::new(bin)
        .args(margs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {bin}: {e}"))?;
    let stdout = monitor.stdout.take().ok_or("the monitor has no stdout")?;
    let text = Arc::new(Mutex::new(String::new()));
    let reader = {
        let text = text.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut t = text.lock().unwrap_or_else(|p| p.into_inner());
                t.push_str(&line);
                t.push('\n');
            }
        })
    };
    // From here on the rule or table is removed on every path (removing one that never went
    // in fails harmlessly).
    let guard = Cleanup {
        ipt: ipt.clone(),
        mode,
        spec: spec.clone(),
        monitor: Some(monitor),
    };
    match mode {
        Mode::Iptables => ipt
            .restore_noflush(&restore_text("-I", &spec))
            .map(|_| ())
            .map_err(|e| format!("inserting the TRACE rule: {e}"))?,
        Mode::Nftables => nft_apply(&nft::table_text(
            &spec,
            &a.protocol,
            a.wait_from,
            a.dst,
            a.sport,
            a.dport,
        ))
        .map_err(|e| format!("adding the trace table: {e}"))?,
    }
    // The monitor subscribes to the trace group right after it starts; give it a moment.
    std::thread::sleep(Duration::from_millis(80));
    let src_filter = a.wait_from.map(|s| s.to_string());
    let (sender, answer) = if a.wait_from.is_some() {
        if let Some(f) = &a.ready_file {
            std::fs::write(f, b"ready").map_err(|e| format!("writing {f}: {e}"))?;
        }
        // Wait for the flow's first packet, then for its trace to settle.
        let until = start + a.timeout;
        let mut first_seen: Option<Instant> = None;
        while Instant::now() < until {
            let seen = {
                let t = text.lock().unwrap_or_else(|p| p.into_inner());
                !packets_of(&t, src_filter.as_deref()).is_empty()
            };
            match (seen, first_seen) {
                (true, None) => first_seen = Some(Instant::now()),
                (true, Some(t0)) if t0.elapsed() > Duration::from_millis(300) => break,
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        ("not sent here".to_string(), String::new())
    } else {
        let out = spawn_piped(&mut sender_command(a)?, a.protocol == "udp")
            .map_err(|e| format!("starting the sender: {e}"))
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    use std::io::Write;
                    let _ = stdin.write_all(b"kplab-nftrace\n");
                }
                // A dropped SYN would keep the sender waiting for its timeout: stop it as soon
                // as the trace shows the first packet's drop or reject.
                let until = start + a.timeout;
                loop {
                    if child.try_wait().ok().flatten().is_some() || Instant::now() > until {
                        break;
                    }
                    let decided = {
                        let t = text.lock().unwrap_or_else(|p| p.into_inner());
                        packets_of(&t, None).first().is_some_and(|p| {
                            matches!(parse::verdict_of(&p.hops), "drop" | "reject")
                        })
                    };
                    if decided {
                        std::thread::sleep(Duration::from_millis(30));
                        let _ = child.kill();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(15));
                }
                child
                    .wait_with_output()
                    .map_err(|e| format!("waiting for the sender: {e}"))
            })?;
        let code = out.status.code().unwrap_or(-1);
        let sender = match (a.protocol.as_str(), code) {
            (_, 0) => "ok".to_string(),
            ("tcp", 28) => "timeout".to_string(),
            ("tcp", 7) => "refused".to_string(),
            (_, -1) => "stopped after the drop".to_string(),
            (_, c) => format!("exit {c}"),
        };
        // Let the monitor print the last lines of the first packet.
        std::thread::sleep(Duration::from_millis(80));
        (
            sender,
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    let conntrack = read_conntrack(a);
    drop(guard); // removes the rules, stops the monitor (its pipe closes, the reader ends)
    let _ = reader.join();
    let text = text.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let packets = packets_of(&text, src_filter.as_deref());
    let hops = packets.first().map(|p| p.hops.clone()).unwrap_or_default();
    let first = hops.first().map(|h| h.packet.clone()).unwrap_or_default();
    let dnat = hops
        .iter()
        .map(|h| &h.packet)
        .find(|p| p.dst != first.dst || p.dport != first.dport)
        .map(|p| format!("{}:{}", p.dst, p.dport));
    let masqueraded = hops.iter().any(|h| {
        h.rule.as_deref().is_some_and(|r| match mode {
            Mode::Iptables => r.contains("-j MASQUERADE") || r.contains("-j SNAT"),
            Mode::Nftables => r
                .split_whitespace()
                .any(|w| w == "masquerade" || w == "snat"),
        })
    });
    Ok(Report {
        protocol: a.protocol.clone(),
        src: first.src.clone(),
        sport: a.sport,
        dst: a.dst.to_string(),
        dport: a.dport,
        verdict: parse::verdict_of(&hops).to_string(),
        hops,
        dnat,
        masqueraded,
        conntrack,
        packets_seen: packets.len(),
        sender,
        answer,
        ms: start.elapsed().as_secs_f64() * 1000.0,
        mode: match mode {
            Mode::Iptables => "iptables",
            Mode::Nftables => "nftables",
        }
        .into(),
    })
}

fn read_conntrack(a: &Args) -> Option<ConntrackEntry> {
    let text = Iptables::default()
        .run_conntrack(&[
            "-L",
            "-p",
            &a.protocol,
            "--orig-port-src",
            &a.sport.to_string(),
            "--orig-port-dst",
            &a.dport.to_string(),
        ])
        .ok()?;
    text.lines()
        .filter_map(parse::parse_conntrack)
        .find(|e| e.original.contains(&format!("{}:{}", a.dst, a.dport)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse_args(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_are_checked() {
        let a = args("--to 10.96.0.5:80 --sport 61234 --wait-from 172.28.1.100").unwrap();
        assert_eq!(a.dport, 80);
        assert_eq!(a.sport, 61234);
        assert!(args("--to 10.96.0.5:0").unwrap_err().contains("1..65535"));
        assert!(args("--to web:80").unwrap_err().contains("IPv4"));
        assert!(args("--sport 5").unwrap_err().contains("--to is required"));
        assert!(args("--to 10.0.0.1:80 --protocol icmp").is_err());
        assert!(args("--to 10.0.0.1:80 --pod a/b --wait-from 10.0.0.2").is_err());
        let r = args("--to 10.0.0.1:80").unwrap();
        assert!((61000..65000).contains(&r.sport), "{}", r.sport);
    }

    #[test]
    fn the_rule_matches_only_the_flow_and_stale_ones_are_swept() {
        let a = args("--to 10.96.0.5:80 --sport 61234 --wait-from 172.28.1.100").unwrap();
        let spec = rule_spec(&a, 1000);
        assert_eq!(
            spec,
            "-p tcp -s 172.28.1.100/32 -d 10.96.0.5/32 -m tcp --sport 61234 --dport 80 -m comment --comment kplab-nftrace:61234:1000 -j TRACE"
        );
        let text = restore_text("-D", &spec);
        assert!(text.starts_with("*raw\n-D PREROUTING -p tcp"));
        assert!(text.contains("\n-D OUTPUT -p tcp"));
        // iptables-save prints the rule back with its own option order.
        let save = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -s 172.28.1.100/32 -d 10.96.0.5/32 -p tcp -m tcp --sport 61234 --dport 80 -m comment --comment \"kplab-nftrace:61234:1000\" -j TRACE\n-A OUTPUT -d 10.96.0.5/32 -p tcp -m tcp --sport 61000 --dport 80 -m comment --comment \"kplab-nftrace:61000:5000\" -j TRACE\nCOMMIT\n";
        let stale = stale_rules(save, 2000).unwrap();
        assert!(stale.contains("-D PREROUTING -s 172.28.1.100/32"));
        assert!(!stale.contains("61000"), "not yet stale: {stale}");
        assert!(stale_rules(save, 10).is_none());
    }
}

/// Property test: the learner is root in the node and can write anything into the raw
/// table; whatever `iptables-save` prints, the stale-rule scan does not panic and stays
/// within a constant per line.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{any_text, config, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/nftrace_parse.txt";

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn stale_rules_of_any_save(text in any_text(), now in any::<u64>()) {
            if let Some(out) = stale_rules(&text, now) {
                prop_assert!(out.len() <= text.len() + 3 * text.lines().count() + 16);
            }
        }
    }
}
