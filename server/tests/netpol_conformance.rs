//! NetworkPolicy conformance in a real lab, on the model of the upstream e2e suite: namespaces
//! `x`, `y`, `z`; pods `a`, `b`, `c` in each (labelled `pod=<name>`, spread over both nodes,
//! serving TCP 80 and 81 with named ports `serve-80-tcp` / `serve-81-tcp`). Every scenario of
//! the catalogue (`netrules::netpol::e2e_model`, plus the two ipBlock scenarios that need the
//! lab's addresses) is applied with `kubectl apply`, and the full 9 x 9 matrix of new TCP
//! connections (and port 81 where ports matter) is probed from inside the pods with `nc` and
//! compared with the matrix the NetworkPolicy semantics give. Timeouts and refusals both count
//! as blocked; the diagonal is always allowed. Also: policies take effect and stop applying
//! within a second of `kubectl apply` / `kubectl delete` (measured on real packets), invalid
//! policies are refused with the API server's message and change nothing, the chains follow
//! Calico's layout, and `policy explain` names the deciding rule.
//!
//! Needs Docker and root: `cargo test -p kplab --test netpol_conformance -- --include-ignored`.

use kplab_testkit::lab as common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{run_scenarios, wait_for, Scenario, TestLab};
use netrules::netpol::e2e_model::{
    apply_labels, expected_matrix, format_matrix, ipblock_scenario, model_cluster, parse_policies,
    scenarios, LabelChange, NAMESPACES, PODS,
};
use netrules::netpol::objects::Cluster;

/// A model pod in the lab.
#[derive(Clone, Debug)]
struct LabPod {
    ns: String,
    name: String,
    ip: Ipv4Addr,
    node: String,
}

fn pods_yaml() -> String {
    let mut y = String::new();
    for (ni, ns) in NAMESPACES.iter().enumerate() {
        y.push_str(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: \"{ns}\"}}\n---\n"
        ));
        for (pi, p) in PODS.iter().enumerate() {
            let node = 1 + (3 * ni + pi) % 2;
            y.push_str(&format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {p}, namespace: \"{ns}\", labels: {{pod: {p}}}}}\nspec:\n  nodeName: node-{node}\n  containers:\n  - name: cont-80-81\n    image: registry.k8s.io/e2e-test-images/agnhost:2.43\n    ports:\n    - {{name: serve-80-tcp, containerPort: 80, protocol: TCP}}\n    - {{name: serve-81-tcp, containerPort: 81, protocol: TCP}}\n---\n"
            ));
        }
    }
    y
}

fn lab_pods(lab: &TestLab) -> Vec<LabPod> {
    let mut out = Vec::new();
    for ns in NAMESPACES {
        // Before the model exists the namespace may not either: no pods then.
        let res = lab.kubectl(&["get", "pods", "-n", ns, "-o", "json"]);
        let list: serde_json::Value = if res.success() {
            serde_json::from_str(&res.stdout).unwrap_or_default()
        } else {
            serde_json::Value::Null
        };
        for p in list["items"].as_array().into_iter().flatten() {
            let ip = p["status"]["podIP"].as_str().and_then(|s| s.parse().ok());
            if p["status"]["phase"] != "Running" {
                continue;
            }
            if let Some(ip) = ip {
                out.push(LabPod {
                    ns: ns.to_string(),
                    name: p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                    ip,
                    node: p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                });
            }
        }
    }
    out.sort_by_key(|p| (p.ns.clone(), p.name.clone()));
    out
}

fn ensure_model(lab: &TestLab) -> Vec<LabPod> {
    let existing = lab_pods(lab);
    if existing.len() == 9 {
        return existing;
    }
    let out = lab.kubectl_stdin(&["apply", "-f", "-"], &pods_yaml());
    assert!(
        out.success(),
        "creating the model: {}{}",
        out.stdout,
        out.stderr
    );
    wait_for(
        "9 running model pods with IPs",
        Duration::from_secs(90),
        || {
            let p = lab_pods(lab);
            (p.len() == 9).then_some(p)
        },
    )
}

/// The pure model with the lab's addresses and placement.
fn model(pods: &[LabPod]) -> Cluster {
    let placement: BTreeMap<(String, String), (Ipv4Addr, String)> = pods
        .iter()
        .map(|p| ((p.ns.clone(), p.name.clone()), (p.ip, p.node.clone())))
        .collect();
    model_cluster(&placement)
}

/// Probes the 9 x 9 matrix of new TCP connections to `port`: one `kubectl exec` per client
/// pod (all in parallel), each running `nc -z -w 1` to the nine servers in parallel.
fn probe_matrix(lab: &TestLab, pods: &[LabPod], port: u16) -> Vec<Vec<bool>> {
    let targets: Vec<String> = pods.iter().map(|p| p.ip.to_string()).collect();
    let inner = format!(
        "for ip in {}; do (if nc -z -w 1 $ip {port} 2>/dev/null; then echo \"$ip ok\"; else echo \"$ip blocked\"; fi) & done; wait",
        targets.join(" ")
    );
    let mut script = String::new();
    for (i, p) in pods.iter().enumerate() {
        script.push_str(&format!(
            "(kubectl exec -n {} {} -- sh -c '{inner}' | sed 's/^/{i} /') & ",
            p.ns, p.name
        ));
    }
    script.push_str("wait");
    let out = lab.sh(lab.node(1), &script);
    let mut m = vec![vec![false; pods.len()]; pods.len()];
    let mut seen = 0;
    for line in out.stdout.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() != 3 {
            continue;
        }
        let (Ok(row), Some(col)) = (
            w[0].parse::<usize>(),
            targets.iter().position(|t| t == w[1]),
        ) else {
            continue;
        };
        m[row][col] = w[2] == "ok";
        seen += 1;
    }
    assert_eq!(
        seen,
        pods.len() * pods.len(),
        "incomplete probe output:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    m
}

fn reset(lab: &TestLab, labels: &[LabelChange]) {
    for ns in NAMESPACES {
        let list = lab.get_json(&["networkpolicies", "-n", ns]);
        for p in list["items"].as_array().into_iter().flatten() {
            let name = p["metadata"]["name"].as_str().unwrap_or("");
            lab.kubectl_ok(&["delete", "networkpolicy", "-n", ns, name]);
        }
    }
    for l in labels {
        match l {
            LabelChange::Pod {
                namespace,
                pod,
                key,
                ..
            } => {
                let restore = if *key == "pod" {
                    format!("pod={pod}")
                } else {
                    format!("{key}-")
                };
                lab.kubectl_ok(&[
                    "label",
                    "pod",
                    "-n",
                    namespace,
                    pod,
                    &restore,
                    "--overwrite",
                ]);
            }
            LabelChange::Namespace { namespace, key, .. } => {
                lab.kubectl_ok(&["label", "namespace", namespace, &format!("{key}-")]);
            }
        }
    }
}

fn apply_label(lab: &TestLab, l: &LabelChange) {
    match l {
        LabelChange::Pod {
            namespace,
            pod,
            key,
            value,
        } => {
            lab.kubectl_ok(&[
                "label",
                "pod",
                "-n",
                namespace,
                pod,
                &format!("{key}={value}"),
                "--overwrite",
            ]);
        }
        LabelChange::Namespace {
            namespace,
            key,
            value,
        } => {
            lab.kubectl_ok(&[
                "label",
                "namespace",
                namespace,
                &format!("{key}={value}"),
                "--overwrite",
            ]);
        }
    }
}

/// Applies one scenario and checks its matrices (retrying once for a rule still being
/// programmed, as the upstream suite does); returns how long until the matrices matched.
fn check_scenario(
    lab: &TestLab,
    pods: &[LabPod],
    name: &str,
    yaml: &str,
    labels: &[LabelChange],
    ports: &[u16],
) -> Duration {
    let mut c = model(pods);
    c.policies = parse_policies(yaml);
    apply_labels(&mut c, labels);
    let t = Instant::now();
    let out = lab.kubectl_stdin(&["apply", "-f", "-"], yaml);
    assert!(
        out.success(),
        "{name}: kubectl apply: {}{}",
        out.stdout,
        out.stderr
    );
    for l in labels {
        apply_label(lab, l);
    }
    let mut last = String::new();
    for attempt in 0..3 {
        let mut ok = true;
        last.clear();
        for &port in ports {
            let want = expected_matrix(&c, port);
            let got = probe_matrix(lab, pods, port);
            if want != got {
                ok = false;
                last.push_str(&format!(
                    "port {port}: expected\n{}got\n{}",
                    format_matrix(&want),
                    format_matrix(&got)
                ));
            }
        }
        if ok {
            let took = t.elapsed();
            eprintln!(
                "  {name}: matrices {:?} match after {} ms (attempt {attempt})",
                ports,
                took.as_millis()
            );
            reset(lab, labels);
            return took;
        }
    }
    reset(lab, labels);
    panic!("{name}: reachability differs from the semantics\n{last}");
}

fn catalogue(lab: &TestLab) {
    let pods = ensure_model(lab);
    let mut failures = Vec::new();
    let mut list: Vec<(String, String, Vec<LabelChange>, Vec<u16>)> = scenarios()
        .into_iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.policies.to_string(),
                s.labels.clone(),
                s.ports.clone(),
            )
        })
        .collect();
    let yb = pods
        .iter()
        .find(|p| p.ns == "y" && p.name == "b")
        .unwrap()
        .ip;
    for (n, by_sel) in [
        ("26-ipblock-except", false),
        ("27-except-is-not-a-deny", true),
    ] {
        let (n, y) = ipblock_scenario(n, yb, by_sel);
        list.push((n, y, Vec::new(), vec![80]));
    }
    assert!(list.len() >= 20);
    for (name, yaml, labels, ports) in &list {
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_scenario(lab, &pods, name, yaml, labels, ports)
        })) {
            let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
            eprintln!("{msg}");
            failures.push(name.clone());
            reset(lab, labels);
        }
    }
    assert!(
        failures.is_empty(),
        "scenarios differing from the semantics: {failures:?}"
    );
}

/// Runs `nc` from inside `client` (a pod on node-1) to `server:80` in a loop, in one
/// `docker exec` on node-1, after `action`; returns the ms from the end of `action` to the
/// start of the first probe with the wanted outcome.
fn time_until(
    lab: &TestLab,
    client: &LabPod,
    server: &LabPod,
    action: &str,
    want_blocked: bool,
) -> u128 {
    assert_eq!(client.node, "node-1");
    let pidfile = format!("/run/kplab/pods/{}/{}/pid", client.ns, client.name);
    let cond = if want_blocked { "!" } else { "" };
    let script = format!(
        "set -e; PID=$(cat {pidfile}); {action} >/dev/null; t0=$(date +%s%N); \
         while true; do ts=$(date +%s%N); if {cond} nsenter --net=/proc/$PID/ns/net timeout 0.2 nc -z {} 80 2>/dev/null; then break; fi; \
         [ $(( (ts - t0) / 1000000 )) -gt 5000 ] && {{ echo timeout; exit 1; }}; done; echo $(( (ts - t0) / 1000000 ))",
        server.ip
    );
    let out = lab.sh_ok(lab.node(1), &script);
    out.trim()
        .lines()
        .last()
        .unwrap_or("")
        .parse()
        .unwrap_or_else(|_| panic!("timing output: {out}"))
}

fn timing(lab: &TestLab) {
    let pods = ensure_model(lab);
    reset(lab, &[]);
    let client = pods
        .iter()
        .find(|p| p.node == "node-1" && p.ns == "y")
        .unwrap()
        .clone();
    let server = pods
        .iter()
        .find(|p| p.node == "node-2" && p.ns == "x")
        .unwrap()
        .clone();
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: timing-deny, namespace: x}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n";
    let tmp = "/tmp/np-timing.yaml";
    lab.sh_ok(lab.node(1), &format!("cat > {tmp} <<'EOF'\n{policy}EOF"));
    let mut apply_ms = Vec::new();
    let mut delete_ms = Vec::new();
    for _ in 0..3 {
        apply_ms.push(time_until(
            lab,
            &client,
            &server,
            &format!("kubectl apply -f {tmp}"),
            true,
        ));
        delete_ms.push(time_until(
            lab,
            &client,
            &server,
            "kubectl delete networkpolicy -n x timing-deny",
            false,
        ));
    }
    eprintln!("  policy in force after kubectl apply: {apply_ms:?} ms; gone after kubectl delete: {delete_ms:?} ms ({}/{} -> {}/{} across nodes)", client.ns, client.name, server.ns, server.name);
    assert!(
        apply_ms.iter().all(|ms| *ms < 1000),
        "apply took {apply_ms:?} ms"
    );
    assert!(
        delete_ms.iter().all(|ms| *ms < 1000),
        "delete took {delete_ms:?} ms"
    );
}

fn cali_state(lab: &TestLab) -> String {
    let mut s = String::new();
    for n in 1..=2 {
        s.push_str(&lab.sh_ok(
            lab.node(n),
            "iptables-save -t filter | grep -E '^(:|-A )cali' | sort",
        ));
    }
    s
}

fn invalid_policies_are_refused(lab: &TestLab) {
    ensure_model(lab);
    reset(lab, &[]);
    let before = cali_state(lab);
    let head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: x}\nspec:\n  podSelector: {}\n  ingress:\n";
    let cases = [
        (
            "  - from: [{ipBlock: {cidr: 10.0.0.0/33}}]\n",
            "must be a valid CIDR value",
        ),
        (
            "  - from: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.1.0.0/25]}}]\n",
            "must be a strict subset of `cidr`",
        ),
        (
            "  - ports: [{port: 0}]\n",
            "must be between 1 and 65535, inclusive",
        ),
        (
            "  - ports: [{port: 90, endPort: 80}]\n",
            "must be greater than or equal to `port`",
        ),
        (
            "  - ports: [{port: 80, protocol: ICMP}]\n",
            "Unsupported value: \"ICMP\"",
        ),
    ];
    for (rule, message) in cases {
        let out = lab.kubectl_stdin(&["apply", "-f", "-"], &format!("{head}{rule}"));
        assert!(!out.success(), "an invalid policy was accepted: {rule}");
        assert!(
            out.stderr.contains("\"bad\" is invalid") && out.stderr.contains(message),
            "{rule}: stderr {:?} lacks {message:?}",
            out.stderr
        );
    }
    let list = lab.get_json(&["networkpolicies", "-n", "x"]);
    assert!(
        list["items"].as_array().is_none_or(Vec::is_empty),
        "nothing may be stored: {list}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        before,
        cali_state(lab),
        "refused policies must not change the rules"
    );
}

fn calico_layout_and_explain(lab: &TestLab) {
    let pods = ensure_model(lab);
    reset(lab, &[]);
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-a-from-b, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]\n";
    let out = lab.kubectl_stdin(&["apply", "-f", "-"], policy);
    assert!(out.success(), "{}", out.stderr);
    let xa = pods.iter().find(|p| p.ns == "x" && p.name == "a").unwrap();
    let n = xa
        .node
        .trim_start_matches("node-")
        .parse::<usize>()
        .unwrap();
    wait_for(
        "the policy chain on x/a's node",
        Duration::from_secs(5),
        || {
            lab.sh(
                lab.node(n),
                "iptables-save -t filter | grep -q 'Policy x/knp.default.allow-a-from-b'",
            )
            .success()
            .then_some(())
        },
    );
    let chains = lab.sh_ok(lab.node(n), "iptables-save -t filter | grep '^:cali'");
    for want in [
        ":cali-FORWARD",
        ":cali-from-wl-dispatch",
        ":cali-to-wl-dispatch",
        ":cali-tw-cali",
        ":cali-fw-cali",
        ":cali-pi-_",
        ":cali-pri-kns.",
    ] {
        assert!(chains.contains(want), "{want} missing:\n{chains}");
    }
    // kube-proxy prepends its own FORWARD jumps when it starts; like felix's periodic refresh,
    // calico-node's resync (every 10 s) puts its jump back on top.
    let fwd = wait_for(
        "cali-FORWARD as FORWARD's first rule",
        Duration::from_secs(25),
        || {
            let fwd = lab.sh_ok(lab.node(n), "iptables -S FORWARD");
            fwd.lines()
                .nth(1)
                .is_some_and(|l| l.contains("-j cali-FORWARD"))
                .then_some(fwd)
        },
    );
    assert!(fwd.contains("Policy explicitly accepted packet."), "{fwd}");
    // explain: x/c -> x/a dropped (ingress decided on x/a's node), x/b -> x/a allowed.
    let ex = lab.sh_ok(
        lab.node(n),
        "kplab-agent policy explain --from x/c --to x/a:80",
    );
    assert!(ex.starts_with("x/c -> x/a port 80/TCP: DROPPED"), "{ex}");
    assert!(ex.contains("Drop if no policies passed packet"), "{ex}");
    let ex = lab.sh_ok(
        lab.node(n),
        "kplab-agent policy explain --from x/b --to x/a:80 -o json",
    );
    let v: serde_json::Value = serde_json::from_str(&ex).unwrap_or_else(|e| panic!("{e}: {ex}"));
    assert_eq!(v["verdict"], "ALLOWED", "{ex}");
    assert!(
        v["accepted_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["comment"]
                .as_str()
                .unwrap_or("")
                .contains("allow-a-from-b ingress[0]: from[0] pod x/b")),
        "{ex}"
    );
    reset(lab, &[]);
}

#[test]
#[ignore = "needs Docker and root"]
fn networkpolicy_conformance() {
    let lab = TestLab::up("hs-netpol");
    let scenarios: &[Scenario] = &[
        (
            "invalid policies are refused with the API server's messages and change nothing",
            invalid_policies_are_refused,
        ),
        (
            "the rules follow Calico's layout and policy explain names the deciding rule",
            calico_layout_and_explain,
        ),
        (
            "policies take effect and stop applying within a second",
            timing,
        ),
        (
            "every catalogue scenario gives the semantic 9x9 matrices on real packets",
            catalogue,
        ),
    ];
    run_scenarios(&lab, scenarios);
}
