//! Live checks against the real `iptables-restore`/`iptables-save` in throw-away network
//! namespaces (`nr-…`). Needs root, `ip` and iptables: `cargo test -p netrules --test
//! live_iptables -- --ignored`.
//!
//! * every golden case's restore text loads (with kube-proxy's jump rules and canary chains
//!   installed first, as the sync loop does), and what `iptables-save` prints back parses and
//!   traces to the same endpoints as the restore text itself;
//! * a sequence of partial syncs leaves the kernel in the same state as one full sync of the
//!   final objects (KEP-3453's invariant).

use netrules::kubeproxy::{jump_rules, render, Proxier, ProxierConfig, CANARY_CHAINS};
use netrules::trace::{trace, Hook, Packet, TraceOptions};
use std::io::Write;
use std::process::{Command, Stdio};

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("nr-{}-{tag}", std::process::id());
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add");
        assert!(st.success(), "ip netns add {name}");
        Netns(name)
    }
    fn run(&self, cmd: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, cmd])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| e.to_string())?;
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
    fn install_jumps(&self, ipt: &str) {
        for (table, chain) in CANARY_CHAINS {
            let _ = self.run(ipt, &["-w", "-t", table, "-N", chain], None);
        }
        for j in jump_rules() {
            let _ = self.run(ipt, &["-w", "-t", j.table, "-N", j.target], None);
            let args: Vec<&str> = j.args.iter().map(String::as_str).collect();
            let mut check = vec!["-w", "-t", j.table, "-C", j.chain];
            check.extend(&args);
            if self.run(ipt, &check, None).is_err() {
                let mut ins = vec!["-w", "-t", j.table, "-I", j.chain];
                ins.extend(&args);
                self.run(ipt, &ins, None).expect("insert jump");
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
#[ignore = "needs root"]
fn golden_outputs_load_and_round_trip() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for (n, dir) in dirs.iter().enumerate() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let expected = std::fs::read_to_string(dir.join("expected.rules")).unwrap();
        if expected.contains("-m nfacct") && Command::new("nfacct").arg("list").output().is_err() {
            // kube-proxy creates the nfacct objects first; without the nfacct tool we cannot.
            eprintln!("{name}: skipped (needs the nfacct tool to create the counters)");
            continue;
        }
        let ipt = if expected.contains("::1/128") {
            ("ip6tables", "ip6tables-restore", "ip6tables-save")
        } else {
            ("iptables", "iptables-restore", "iptables-save")
        };
        let ns = Netns::new(&n.to_string());
        ns.install_jumps(ipt.0);
        if expected.contains("-m nfacct") {
            for c in [
                "ct_state_invalid_dropped_pkts",
                "localhost_nps_accepted_pkts",
            ] {
                let _ = ns.run("nfacct", &["add", c], None);
            }
        }
        ns.run(ipt.1, &["-w", "--noflush", "--counters"], Some(&expected))
            .unwrap_or_else(|e| panic!("{name}: restore failed: {e}"));
        let saved = ns.run(ipt.2, &[], None).unwrap();
        let dump = netrules::save::parse(&saved)
            .unwrap_or_else(|e| panic!("{name}: cannot parse iptables-save: {e}\n{saved}"));
        // Same chains and rule counts in nat and filter for every KUBE chain we wrote.
        let ours = netrules::save::parse(&expected).unwrap();
        for t in &ours.tables {
            for c in &t.chains {
                let live = dump.chain(&t.name, &c.name).unwrap_or_else(|| {
                    panic!("{name}: {}/{} missing after restore", t.name, c.name)
                });
                assert_eq!(
                    live.rules.len(),
                    c.rules.len(),
                    "{name}: {}/{}",
                    t.name,
                    c.name
                );
            }
        }
        // Trace every cluster IP from a pod and from the node in both forms.
        for r in ours
            .table("nat")
            .unwrap()
            .chain("KUBE-SERVICES")
            .unwrap()
            .rules
            .iter()
            .filter(|r| {
                r.matches
                    .comment()
                    .is_some_and(|c| c.ends_with("cluster IP"))
            })
        {
            let dst = r.matches.dst.as_ref().unwrap().value.addr;
            let port = r.matches.dport.as_ref().unwrap().value.0[0].from;
            let proto = r.matches.protocol.as_ref().unwrap().value.clone();
            for (hook, src) in [
                (
                    Hook::Prerouting,
                    if dst.is_ipv4() {
                        "10.244.1.77"
                    } else {
                        "fd00:10:244:1::77"
                    },
                ),
                (
                    Hook::Output,
                    if dst.is_ipv4() {
                        "172.28.5.10"
                    } else {
                        "fd00:28::10"
                    },
                ),
            ] {
                let pkt = Packet {
                    hook,
                    src: src.parse().unwrap(),
                    dst,
                    protocol: proto.clone(),
                    sport: None,
                    dport: port,
                    in_iface: None,
                };
                let opts = TraceOptions {
                    local_ips: vec![
                        "172.28.5.10".parse().unwrap(),
                        "fd00:28::10".parse().unwrap(),
                    ],
                    ..Default::default()
                };
                let a = trace(&ours, &pkt, &opts);
                let b = trace(
                    &dump,
                    &pkt,
                    &TraceOptions {
                        kube_jumps: false,
                        ..opts
                    },
                );
                assert_eq!(a.summary(), b.summary(), "{name}: {src} -> {dst}:{port}");
                assert_eq!(
                    a.masqueraded(),
                    b.masqueraded(),
                    "{name}: {src} -> {dst}:{port}"
                );
                let (pa, pb): (Vec<_>, Vec<_>) = (a.endpoints(), b.endpoints());
                for ((ea, xa), (eb, xb)) in pa.iter().zip(pb.iter()) {
                    assert_eq!(ea, eb);
                    assert!(
                        (xa - xb).abs() < 1e-6,
                        "{name}: probability {xa} vs kernel's {xb}"
                    );
                }
            }
        }
    }
}

fn kube_state(saved: &str) -> Vec<(String, Vec<String>)> {
    let dump = netrules::save::parse(saved).unwrap();
    let mut out = Vec::new();
    for t in &dump.tables {
        for c in &t.chains {
            if !c.name.starts_with("KUBE-") {
                continue;
            }
            let mut rules: Vec<String> = c.rules.iter().map(|r| r.text.clone()).collect();
            if c.name == "KUBE-SERVICES"
                || c.name == "KUBE-NODEPORTS"
                || c.name == "KUBE-EXTERNAL-SERVICES"
                || c.name == "KUBE-PROXY-FIREWALL"
            {
                rules.sort();
            }
            out.push((format!("{}/{}", t.name, c.name), rules));
        }
    }
    out.sort();
    out
}

#[test]
#[ignore = "needs root"]
fn partial_syncs_converge_to_full_sync_state() {
    let cfg = ProxierConfig {
        node_name: "node-1".into(),
        cluster_cidrs: vec!["10.244.0.0/16".into()],
        ..Default::default()
    };
    let (mut svcs, mut slices) = netrules::synth::services(40, 3);
    let ns = Netns::new("partial");
    ns.install_jumps("iptables");
    let mut p = Proxier::new(cfg.clone());
    for step in 0..12 {
        match step % 4 {
            1 => {
                // change an endpoint
                let i = step * 3 % slices.len();
                slices[i].endpoints[0].addresses[0] = format!("10.250.{step}.1");
                slices[i].metadata.resource_version = format!("{step}");
            }
            2 => {
                // delete a service (its slice stays), add another
                let s = svcs.remove(step % svcs.len());
                let _ = s;
                let (extra, extra_slices) = netrules::synth::services(41 + step, 2);
                let mut e = extra.last().unwrap().clone();
                e.metadata.name = format!("new-{step}");
                let mut es = extra_slices.last().unwrap().clone();
                es.metadata.name = format!("new-{step}-x");
                es.metadata
                    .labels
                    .insert("kubernetes.io/service-name".into(), e.metadata.name.clone());
                svcs.push(e);
                slices.push(es);
            }
            3 => {
                // drop all endpoints of one service
                let i = step % slices.len();
                slices[i].endpoints.clear();
                slices[i].metadata.resource_version = format!("{step}");
            }
            _ => {}
        }
        p.set_objects(&svcs, &slices);
        let r = p.sync();
        assert_eq!(r.full, step == 0);
        ns.run(
            "iptables-restore",
            &["-w", "--noflush", "--counters"],
            Some(&r.restore_text),
        )
        .unwrap_or_else(|e| panic!("step {step}: {e}\n{}", r.restore_text));
    }
    let incremental = kube_state(&ns.run("iptables-save", &[], None).unwrap());
    let fresh = Netns::new("full");
    fresh.install_jumps("iptables");
    let objs = netrules::k8s::Objects {
        services: svcs,
        endpoint_slices: slices,
        ..Default::default()
    };
    fresh
        .run(
            "iptables-restore",
            &["-w", "--noflush", "--counters"],
            Some(&render(&cfg, &objs).restore_text),
        )
        .unwrap();
    let full = kube_state(&fresh.run("iptables-save", &[], None).unwrap());
    assert_eq!(incremental, full);
}
