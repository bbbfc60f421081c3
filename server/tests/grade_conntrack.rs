//! The grader's own traffic stays out of what the learner inspects: after probe checks from a
//! pod to a ClusterIP, from the client to a NodePort and from a node to a ClusterIP, no
//! conntrack entry of theirs is left on any node or on the client, while the learner's own
//! connection made just before is still listed.

use std::collections::BTreeSet;
use std::time::Duration;

use kplab::engine::grade;
use kplab::engine::runtime::DockerRuntime;
use kplab_testkit::lab::{rt, wait_for, TestLab};
use labkit::{Check, Task};

const LAB: &str = "hs-wg-conntrack";

/// The TCP entries of `container` to port 80 or `node_port`, by original direction.
fn service_entries(lab: &TestLab, container: &str, node_port: &str) -> BTreeSet<String> {
    let out = lab.sh(container, "conntrack -L -p tcp 2>/dev/null").stdout;
    out.lines()
        .filter(|l| l.contains("dport=80 ") || l.contains(&format!("dport={node_port} ")))
        .map(|l| {
            // The original direction: the first src, dst, sport and dport.
            let words: Vec<&str> = l.split_whitespace().collect();
            let first = |k: &str| {
                words
                    .iter()
                    .find_map(|w| w.strip_prefix(&format!("{k}=")))
                    .unwrap_or("")
                    .to_string()
            };
            format!(
                "{}:{} -> {}:{}",
                first("src"),
                first("sport"),
                first("dst"),
                first("dport")
            )
        })
        .collect()
}

#[test]
#[ignore = "needs Docker and root"]
fn probe_checks_leave_no_conntrack_entries_behind() {
    let lab = TestLab::up(LAB);
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: echo\n        image: kplab/echo\n        ports: [{containerPort: 80}]\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80}]\n";
    let out = lab.kubectl_stdin(&["apply", "-f", "-"], yaml);
    assert!(out.success(), "apply: {}", out.stderr);
    let (cip, node_port) = wait_for("web's endpoints", Duration::from_secs(90), || {
        let svc = lab.get_json(&["service", "web"]);
        let slices = lab.get_json(&["endpointslices", "-l", "kubernetes.io/service-name=web"]);
        let ready = slices["items"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["conditions"]["ready"] == true)
            .count();
        let rules = lab.sh(lab.node(2), "iptables-save -t nat").stdout;
        (ready == 2 && rules.matches("default/web -> ").count() == 2).then(|| {
            (
                svc["spec"]["clusterIP"].as_str().unwrap().to_string(),
                svc["spec"]["ports"][0]["nodePort"].to_string(),
            )
        })
    });

    // The learner's own connection, made before the checks: it must stay.
    lab.sh_ok(
        lab.node(1),
        &format!("curl -s -m 2 http://{cip}/ >/dev/null"),
    );
    let hosts = [lab.node(1), lab.node(2), lab.client()];
    let before: Vec<BTreeSet<String>> = hosts
        .iter()
        .map(|h| service_entries(&lab, h, &node_port))
        .collect();
    let learners = before[0].iter().find(|e| e.contains(&format!("{cip}:80")));
    let learners = learners
        .expect("the learner's curl is in node-1's conntrack")
        .clone();

    let probe = |from: &str, target: &str| -> Check {
        serde_json::from_value(serde_json::json!({
            "kind": "probe", "from": from, "target": target, "count": 20, "expect": "reachable"
        }))
        .unwrap()
    };
    let task = Task {
        id: "probes".into(),
        title: "probes".into(),
        hints: vec![],
        checks: vec![
            probe("pod:default/app=web", "svc:default/web:80"),
            probe("client", "nodeport:node-1/default/web"),
            probe("node-2", "svc:default/web:80"),
        ],
        observe: false,
    };
    let runtime = rt()
        .block_on(DockerRuntime::connect(kplab::sandbox::plan::DEFAULT_IMAGE))
        .expect("docker");
    let outcome = rt().block_on(grade::run_task(&runtime, LAB, &task, None));
    assert!(outcome.passed, "{outcome:#?}");

    for (h, before) in hosts.iter().zip(&before) {
        let after = service_entries(&lab, h, &node_port);
        let left: Vec<&String> = after.difference(before).collect();
        eprintln!(
            "{h}: {} service entries before the checks, {} after",
            before.len(),
            after.len()
        );
        assert!(
            left.is_empty(),
            "the probes' entries left on {h}: {left:#?}"
        );
    }
    assert!(
        service_entries(&lab, lab.node(1), &node_port).contains(&learners),
        "the learner's own entry {learners} is still there"
    );

    // The same probe run by hand (as a learner may) is not the grader's: its entries stay, and
    // this is what the counts above would have shown without the grader's cleanup.
    let by_hand = service_entries(&lab, lab.node(1), &node_port).len();
    lab.sh_ok(
        lab.client(),
        &format!(
            "kplab-agent kplab-probe --target {}:{node_port} --count 5",
            lab.node_ip(1)
        ),
    );
    let after = service_entries(&lab, lab.node(1), &node_port).len();
    assert!(after >= by_hand + 5, "{by_hand} then {after}");
}
