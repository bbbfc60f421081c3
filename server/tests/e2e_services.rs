//! Services carry real packets in a real lab: ClusterIP, NodePort, pod-to-pod, DNS,
//! scaling, pod replacement, `externalTrafficPolicy: Local`, services without endpoints and
//! session affinity, and the UDP conntrack cleanup after a pod is replaced. The same scenarios
//! run twice: in a lab whose kube-proxy runs in iptables mode (`hs-svc`), and in one switched to
//! nftables mode at run time, then one node back (`hs-svc-nft`).

use kplab_testkit::lab as common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{answers, run_scenarios, wait_for, Scenario, TestLab};
use serde_json::Value;

/// A running pod as the tests see it.
#[derive(Debug, Clone)]
struct Pod {
    name: String,
    node: String,
    ip: String,
}

/// Running pods with an IP, selected by label.
fn running_pods(lab: &TestLab, selector: &str) -> Vec<Pod> {
    let list = lab.get_json(&["pods", "-l", selector]);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null()
        })
        .filter_map(|p| {
            Some(Pod {
                name: p["metadata"]["name"].as_str()?.to_string(),
                node: p["spec"]["nodeName"].as_str()?.to_string(),
                ip: p["status"]["podIP"]
                    .as_str()
                    .filter(|s| !s.is_empty())?
                    .to_string(),
            })
        })
        .collect()
}

/// Addresses of the ready endpoints of a Service, from its EndpointSlices.
fn ready_endpoints(lab: &TestLab, service: &str) -> BTreeSet<String> {
    let selector = format!("kubernetes.io/service-name={service}");
    let slices = lab.get_json(&["endpointslices", "-l", &selector]);
    slices["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["conditions"]["ready"] != Value::Bool(false))
        .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

/// Waits until `service` has exactly `n` ready endpoints, all of them Running pods.
fn wait_ready_endpoints(lab: &TestLab, service: &str, n: usize) -> BTreeSet<String> {
    wait_for(
        &format!("{n} ready endpoints for service {service}"),
        Duration::from_secs(60),
        || {
            let eps = ready_endpoints(lab, service);
            (eps.len() == n).then_some(eps)
        },
    )
}

/// `kubectl create deployment web --image=nginx --replicas=3` and
/// `kubectl expose deployment web --port=80`, once; then waits for `replicas` endpoints.
fn web_deployment_and_service(lab: &TestLab, replicas: usize) {
    if !lab.kubectl(&["get", "deployment", "web"]).success() {
        lab.kubectl_ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "--replicas=3",
        ]);
        lab.kubectl_ok(&["expose", "deployment", "web", "--port=80"]);
    }
    let want = replicas.to_string();
    let current = lab.get_json(&["deployment", "web"])["spec"]["replicas"].clone();
    if current.as_u64() != Some(replicas as u64) {
        lab.kubectl_ok(&["scale", "deployment", "web", &format!("--replicas={want}")]);
    }
    wait_ready_endpoints(lab, "web", replicas);
    wait_programmed(lab, "web", replicas);
}

/// Ready in the API is not yet written on the nodes: waits until kube-proxy's rules on both
/// nodes send `service` to each of its endpoints, and calico-node has the `cali-tw-` chain of
/// every web pod on the pod's node. Before that, a connection can meet a missing rule (one curl in
/// 100 went unanswered in a CI run).
fn wait_programmed(lab: &TestLab, service: &str, endpoints: usize) {
    for node in [1, 2] {
        wait_for(
            &format!("{endpoints} endpoints of default/{service} in node-{node}'s rules"),
            Duration::from_secs(10),
            || (programmed_endpoints(lab, node, service).len() == endpoints).then_some(()),
        );
    }
    for pod in running_pods(lab, "app=web") {
        let node: usize = pod.node.trim_start_matches("node-").parse().unwrap();
        let script = format!(
            "iptables -S cali-tw-$(ip route get {} | grep -o 'cali[0-9a-f]*') >/dev/null 2>&1",
            pod.ip
        );
        wait_for(
            &format!(
                "calico-node's cali-tw chain for {} on {}",
                pod.name, pod.node
            ),
            Duration::from_secs(10),
            || lab.sh(lab.node(node), &script).success().then_some(()),
        );
    }
}

fn cluster_ip(lab: &TestLab, service: &str) -> String {
    let svc = lab.get_json(&["service", service]);
    svc["spec"]["clusterIP"]
        .as_str()
        .filter(|ip| !ip.is_empty() && *ip != "None")
        .unwrap_or_else(|| panic!("service {service} has no clusterIP: {svc}"))
        .to_string()
}

fn node_port(lab: &TestLab, service: &str) -> u64 {
    let svc = lab.get_json(&["service", service]);
    svc["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .unwrap_or_else(|| panic!("service {service} has no nodePort: {svc}"))
}

/// Curls `url` `n` times from inside `pod` (through `kubectl exec`), one answer per line.
fn curl_from_pod(lab: &TestLab, pod: &str, url: &str, n: usize) -> Vec<Value> {
    let script = format!("for i in $(seq {n}); do curl -s -m 2 {url}; echo; done");
    let out = lab.kubectl_ok(&["exec", pod, "--", "sh", "-c", &script]);
    answers(&out)
}

/// Curls `url` `n` times from a lab container (a node or the client).
fn curl_from(lab: &TestLab, container: &str, url: &str, n: usize) -> Vec<Value> {
    let script = format!("for i in $(seq {n}); do curl -s -m 2 {url}; echo; done");
    answers(&lab.sh_ok(container, &script))
}

/// Exit code of one `curl` from a container: 0 answered, 7 refused (rejected), 28 timed out (dropped).
fn curl_exit(lab: &TestLab, container: &str, url: &str) -> i64 {
    lab.sh(container, &format!("curl -s -o /dev/null -m 3 {url}"))
        .code
}

fn answering_pods(answers: &[Value]) -> BTreeSet<String> {
    answers
        .iter()
        .filter_map(|a| a["pod"].as_str().map(str::to_string))
        .collect()
}

fn client_ip(answer: &Value) -> String {
    let client = answer["client"].as_str().unwrap_or_default();
    client
        .rsplit_once(':')
        .map(|(ip, _)| ip)
        .unwrap_or(client)
        .to_string()
}

fn clusterip_is_answered_by_all_three_pods_from_a_pod_on_each_node(lab: &TestLab) {
    web_deployment_and_service(lab, 3);
    let vip = cluster_ip(lab, "web");
    let pods = running_pods(lab, "app=web");
    let all: BTreeSet<String> = pods.iter().map(|p| p.name.clone()).collect();
    assert_eq!(all.len(), 3, "three web pods: {pods:?}");
    for node in ["node-1", "node-2"] {
        let from = pods
            .iter()
            .find(|p| p.node == node)
            .unwrap_or_else(|| panic!("the scheduler put no web pod on {node}: {pods:?}"));
        let got = curl_from_pod(lab, &from.name, &format!("http://{vip}/"), 100);
        assert_eq!(got.len(), 100, "100 answers from {} on {node}", from.name);
        assert_eq!(
            answering_pods(&got),
            all,
            "every pod answers {vip} from {node}"
        );
    }
}

fn a_pod_sees_another_pods_real_ip(lab: &TestLab) {
    web_deployment_and_service(lab, 3);
    let pods = running_pods(lab, "app=web");
    let a = pods
        .iter()
        .find(|p| p.node == "node-1")
        .expect("a web pod on node-1");
    let b = pods
        .iter()
        .find(|p| p.node == "node-2")
        .expect("a web pod on node-2");
    for (from, to) in [(a, b), (b, a)] {
        let got = curl_from_pod(lab, &from.name, &format!("http://{}/", to.ip), 3);
        assert_eq!(
            got.len(),
            3,
            "{} reaches {} at {}",
            from.name,
            to.name,
            to.ip
        );
        for answer in &got {
            assert_eq!(answer["pod"], to.name.as_str());
            assert_eq!(
                client_ip(answer),
                from.ip,
                "{} sees {}'s real IP",
                to.name,
                from.name
            );
        }
    }
}

fn service_names_resolve(lab: &TestLab) {
    web_deployment_and_service(lab, 3);
    let vip = cluster_ip(lab, "web");
    let pod = &running_pods(lab, "app=web")[0];
    for name in ["web", "web.default", "web.default.svc.cluster.local"] {
        let out = lab.kubectl_ok(&["exec", &pod.name, "--", "getent", "hosts", name]);
        assert!(
            out.split_whitespace().next() == Some(vip.as_str()),
            "{name} resolves to {vip} in pod {}: {out:?}",
            pod.name
        );
    }
    let got = curl_from_pod(lab, &pod.name, "http://web/", 3);
    assert_eq!(got.len(), 3, "curl http://web/ from a pod answers");
    let out = lab.sh_ok(
        lab.node(2),
        "getent hosts kubernetes.default.svc.cluster.local",
    );
    assert!(
        out.starts_with("10.96.0.1"),
        "the kubernetes service resolves on a node: {out:?}"
    );
}

fn nodeport_answers_from_client_on_both_node_ips(lab: &TestLab) {
    web_deployment_and_service(lab, 3);
    if !lab.kubectl(&["get", "service", "web-np"]).success() {
        lab.kubectl_ok(&[
            "expose",
            "deployment",
            "web",
            "--name=web-np",
            "--type=NodePort",
            "--port=80",
        ]);
    }
    let port = node_port(lab, "web-np");
    assert!(
        (30000..=32767).contains(&port),
        "nodePort {port} in the default range"
    );
    let client_addr = lab.info.client.ip.clone();
    let mut seen_nodes = BTreeSet::new();
    for n in [1, 2] {
        let got = curl_from(
            lab,
            lab.client(),
            &format!("http://{}:{port}/", lab.node_ip(n)),
            20,
        );
        assert_eq!(got.len(), 20, "node-{n}:{port} answers the client 20 times");
        for a in &got {
            seen_nodes.insert(a["node"].as_str().unwrap_or_default().to_string());
            assert_ne!(
                client_ip(a),
                client_addr,
                "with externalTrafficPolicy Cluster the client IP is masqueraded: {a}"
            );
        }
    }
    assert_eq!(
        seen_nodes,
        BTreeSet::from(["node-1".to_string(), "node-2".to_string()]),
        "answers come from pods on the same node and across nodes"
    );
}

fn external_traffic_policy_local_keeps_the_client_ip_and_drops_without_a_local_endpoint(
    lab: &TestLab,
) {
    if !lab.kubectl(&["get", "deployment", "solo"]).success() {
        lab.kubectl_ok(&[
            "create",
            "deployment",
            "solo",
            "--image=nginx",
            "--replicas=1",
        ]);
        let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: solo-local\nspec:\n  type: NodePort\n  externalTrafficPolicy: Local\n  selector:\n    app: solo\n  ports:\n  - port: 80\n    targetPort: 80\n";
        let out = lab.kubectl_stdin(&["apply", "-f", "-"], yaml);
        assert!(out.success(), "apply solo-local: {}", out.stderr);
    }
    wait_ready_endpoints(lab, "solo-local", 1);
    let pod = running_pods(lab, "app=solo").pop().expect("the solo pod");
    let port = node_port(lab, "solo-local");
    let (local, remote) = if pod.node == "node-1" { (1, 2) } else { (2, 1) };
    let got = curl_from(
        lab,
        lab.client(),
        &format!("http://{}:{port}/", lab.node_ip(local)),
        5,
    );
    assert_eq!(got.len(), 5, "the node with the endpoint answers");
    for a in &got {
        assert_eq!(
            client_ip(a),
            lab.info.client.ip,
            "the client IP is preserved: {a}"
        );
    }
    let code = curl_exit(
        lab,
        lab.client(),
        &format!("http://{}:{port}/", lab.node_ip(remote)),
    );
    assert_eq!(code, 28, "node-{remote} has no local endpoint: the connection is dropped (curl timeout), got exit {code}");
}

fn a_service_without_endpoints_rejects_connections(lab: &TestLab) {
    if !lab.kubectl(&["get", "service", "nobody"]).success() {
        let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: nobody\nspec:\n  selector:\n    app: nobody\n  ports:\n  - port: 80\n";
        let out = lab.kubectl_stdin(&["apply", "-f", "-"], yaml);
        assert!(out.success(), "apply nobody: {}", out.stderr);
    }
    let vip = cluster_ip(lab, "nobody");
    std::thread::sleep(Duration::from_secs(1));
    for n in [1, 2] {
        let t = Instant::now();
        let code = curl_exit(lab, lab.node(n), &format!("http://{vip}/"));
        assert_eq!(code, 7, "from node-{n}, {vip} without endpoints is rejected (connection refused), got exit {code}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "rejected at once, not timed out"
        );
    }
}

fn session_affinity_sticks(lab: &TestLab) {
    web_deployment_and_service(lab, 3);
    if !lab.kubectl(&["get", "service", "web-sticky"]).success() {
        let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web-sticky\nspec:\n  selector:\n    app: web\n  sessionAffinity: ClientIP\n  ports:\n  - port: 80\n";
        let out = lab.kubectl_stdin(&["apply", "-f", "-"], yaml);
        assert!(out.success(), "apply web-sticky: {}", out.stderr);
    }
    wait_ready_endpoints(lab, "web-sticky", 3);
    wait_programmed(lab, "web-sticky", 3);
    let vip = cluster_ip(lab, "web-sticky");
    for n in [1, 2] {
        let got = curl_from(lab, lab.node(n), &format!("http://{vip}/"), 30);
        assert_eq!(got.len(), 30);
        let pods = answering_pods(&got);
        assert_eq!(
            pods.len(),
            1,
            "from node-{n} every connection sticks to one pod: {pods:?}"
        );
    }
}

/// Which kube-proxy mode node-`node`'s kernel shows: `nftables` when the `kube-proxy` nftables
/// table exists.
fn node_mode(lab: &TestLab, node: usize) -> &'static str {
    if lab
        .sh(
            lab.node(node),
            "nft list table ip kube-proxy >/dev/null 2>&1",
        )
        .success()
    {
        "nftables"
    } else {
        "iptables"
    }
}

/// The endpoints kube-proxy's rules on node-`node` send `service`'s traffic to: the KUBE-SEP
/// targets of its KUBE-SVC chain (iptables mode), or the `IP . port` entries of its `service-…`
/// chain's dnat map and the `endpoint-…__IP/port` chains it jumps to (nftables mode).
fn programmed_endpoints(lab: &TestLab, node: usize, service: &str) -> BTreeSet<String> {
    if node_mode(lab, node) == "nftables" {
        let table = lab.sh_ok(lab.node(node), "nft list table ip kube-proxy");
        return nft_service_endpoints(&table, service);
    }
    let rules = lab.sh_ok(lab.node(node), "iptables-save -t nat");
    let marker = format!("\"default/{service} -> ");
    let marker_named = format!("\"default/{service}:");
    rules
        .lines()
        .filter(|l| l.starts_with("-A KUBE-SVC-") && l.contains("-j KUBE-SEP-"))
        .filter(|l| l.contains(&marker) || (l.contains(&marker_named) && l.contains(" -> ")))
        .filter_map(|l| l.rsplit("-j ").next().map(str::to_string))
        .collect()
}

/// `IP:port` of each endpoint in the `service-HASH-default/SERVICE/…` chain of an
/// `nft list table` listing.
fn nft_service_endpoints(table: &str, service: &str) -> BTreeSet<String> {
    let marker = format!("-default/{service}/");
    let mut out = BTreeSet::new();
    let mut in_chain = false;
    for line in table.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("chain ") {
            let name = rest.trim_end_matches(" {");
            in_chain = name.starts_with("service-") && name.contains(&marker);
            continue;
        }
        if !in_chain {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if words.get(i + 1) == Some(&".") && w.parse::<std::net::Ipv4Addr>().is_ok() {
                let port = words.get(i + 2).map(|p| p.trim_end_matches([',', '}']));
                out.insert(format!("{w}:{}", port.unwrap_or("")));
            }
            if let Some((_, ep)) = w.strip_prefix("endpoint-").and_then(|c| c.split_once("__")) {
                out.insert(ep.trim_end_matches(',').replacen('/', ":", 1));
            }
        }
    }
    out
}

fn scaling_to_5_and_back_to_2_changes_the_rules_within_a_second(lab: &TestLab) {
    web_deployment_and_service(lab, 3);
    for replicas in [5usize, 2] {
        lab.kubectl_ok(&[
            "scale",
            "deployment",
            "web",
            &format!("--replicas={replicas}"),
        ]);
        wait_ready_endpoints(lab, "web", replicas);
        let endpoints_at = Instant::now();
        let mut lag = BTreeMap::new();
        for node in [1, 2] {
            let seps = wait_for(
                &format!("{replicas} endpoints of default/web in node-{node}'s rules"),
                Duration::from_secs(10),
                || {
                    let s = programmed_endpoints(lab, node, "web");
                    (s.len() == replicas).then_some(s)
                },
            );
            lag.insert(node, endpoints_at.elapsed());
            assert_eq!(seps.len(), replicas);
        }
        for (node, d) in lag {
            assert!(
                d <= Duration::from_secs(1),
                "node-{node} rules followed the endpoints to {replicas} only after {d:?}"
            );
        }
    }
}

fn deleting_a_pod_replaces_the_pod_and_its_endpoint(lab: &TestLab) {
    web_deployment_and_service(lab, 2);
    let before = running_pods(lab, "app=web");
    let victim = before[0].clone();
    lab.kubectl_ok(&["delete", "pod", &victim.name]);
    let after = wait_for(
        "a replacement web pod with a ready endpoint",
        Duration::from_secs(60),
        || {
            let pods = running_pods(lab, "app=web");
            let names: BTreeSet<_> = pods.iter().map(|p| p.name.clone()).collect();
            let eps = ready_endpoints(lab, "web");
            let ips: BTreeSet<_> = pods.iter().map(|p| p.ip.clone()).collect();
            (pods.len() == 2 && !names.contains(&victim.name) && eps == ips).then_some(pods)
        },
    );
    let new = after
        .iter()
        .find(|p| !before.iter().any(|b| b.name == p.name))
        .expect("a new pod");
    assert_ne!(new.name, victim.name);
    let eps = ready_endpoints(lab, "web");
    assert!(
        eps.contains(&new.ip),
        "the new pod {} ({}) is an endpoint: {eps:?}",
        new.name,
        new.ip
    );
    let vip = cluster_ip(lab, "web");
    let got = curl_from(lab, lab.node(1), &format!("http://{vip}/"), 30);
    assert!(
        answering_pods(&got).contains(&new.name),
        "the new pod answers the ClusterIP"
    );
    assert!(
        !answering_pods(&got).contains(&victim.name),
        "the deleted pod no longer answers"
    );
}

/// `kplab-probe` over UDP from node-1 with a fixed source port: the pods that answered.
fn udp_answers_from_fixed_port(lab: &TestLab, target: &str, count: u32) -> Vec<String> {
    let out = lab.sh_ok(
        lab.node(1),
        &format!("kplab-agent kplab-probe --target {target} --protocol udp --source-port 40053 --count {count} --timeout-ms 700"),
    );
    let report: Value = serde_json::from_str(out.trim()).expect("probe report");
    report["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["answer"]["pod"].as_str().unwrap_or("-").to_string())
        .collect()
}

/// kube-proxy's UDP conntrack cleanup: a client that keeps sending from one source port keeps
/// its conntrack entry (and its DNAT to the old pod) alive; when the pod is replaced, kube-proxy
/// deletes that entry after the sync, so the next datagram reaches the new pod.
fn a_udp_flow_moves_to_the_replacement_pod(lab: &TestLab) {
    if !lab.kubectl(&["get", "deployment", "echo-udp"]).success() {
        let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: echo-udp\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: echo-udp}\n  template:\n    metadata:\n      labels: {app: echo-udp}\n    spec:\n      containers:\n      - name: echo\n        image: kplab/echo\n        ports: [{containerPort: 5300, protocol: UDP}]\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: echo-udp\nspec:\n  selector: {app: echo-udp}\n  ports: [{port: 53, targetPort: 5300, protocol: UDP}]\n";
        let out = lab.kubectl_stdin(&["apply", "-f", "-"], yaml);
        assert!(out.success(), "apply echo-udp: {}", out.stderr);
    }
    wait_ready_endpoints(lab, "echo-udp", 1);
    let target = format!("{}:53", cluster_ip(lab, "echo-udp"));
    let old = wait_for("the UDP service answers", Duration::from_secs(10), || {
        let got = udp_answers_from_fixed_port(lab, &target, 1);
        (got[0] != "-").then(|| got[0].clone())
    });
    let old_ip = running_pods(lab, "app=echo-udp")[0].ip.clone();
    lab.kubectl_ok(&["delete", "pod", &old]);
    let new_ip = wait_for(
        "a replacement echo-udp endpoint",
        Duration::from_secs(60),
        || {
            let eps = ready_endpoints(lab, "echo-udp");
            (eps.len() == 1 && !eps.contains(&old_ip)).then(|| eps.into_iter().next().unwrap())
        },
    );
    let got = wait_for(
        "the fixed-port UDP flow answered by the new pod",
        Duration::from_secs(10),
        || {
            let got = udp_answers_from_fixed_port(lab, &target, 3);
            got.iter().all(|p| p != "-" && *p != old).then_some(got)
        },
    );
    assert_eq!(got.len(), 3);
    let entries = lab.sh_ok(
        lab.node(1),
        "conntrack -L -p udp --orig-port-src 40053 2>/dev/null",
    );
    assert!(
        !entries.contains(&format!("src={old_ip} ")),
        "no entry of the flow still points at the old pod {old_ip}:\n{entries}"
    );
    assert!(
        entries.contains(&format!("src={new_ip} ")),
        "the flow's entry points at the new pod {new_ip}:\n{entries}"
    );
}

/// Every scenario, in order, on one lab.
const SCENARIOS: &[Scenario] = &[
    (
        "a ClusterIP is answered by all three pods, curled 100 times from a pod on each node",
        clusterip_is_answered_by_all_three_pods_from_a_pod_on_each_node,
    ),
    (
        "a pod sees another pod's real IP",
        a_pod_sees_another_pods_real_ip,
    ),
    ("service names resolve", service_names_resolve),
    (
        "a NodePort answers from client on both node IPs, client IP masqueraded",
        nodeport_answers_from_client_on_both_node_ips,
    ),
    (
        "externalTrafficPolicy Local keeps the client IP and drops without a local endpoint",
        external_traffic_policy_local_keeps_the_client_ip_and_drops_without_a_local_endpoint,
    ),
    (
        "a service without endpoints rejects connections",
        a_service_without_endpoints_rejects_connections,
    ),
    ("session affinity sticks", session_affinity_sticks),
    (
        "scaling to 5 and back to 2 changes the Service's rules within a second",
        scaling_to_5_and_back_to_2_changes_the_rules_within_a_second,
    ),
    (
        "kubectl delete pod replaces the pod and its endpoint",
        deleting_a_pod_replaces_the_pod_and_its_endpoint,
    ),
    (
        "a fixed-port UDP flow moves to the replacement pod (kube-proxy's conntrack cleanup)",
        a_udp_flow_moves_to_the_replacement_pod,
    ),
];

#[test]
#[ignore = "needs Docker and root"]
fn services_carry_real_packets() {
    let lab = TestLab::up("hs-svc");
    run_scenarios(&lab, SCENARIOS);
}

/// kube-proxy's iptables chains (the kubelet's KUBE-FIREWALL and Calico's cali-* are not).
const KUBE_PROXY_CHAINS: &[&str] = &[
    "KUBE-SERVICES",
    "KUBE-NODEPORTS",
    "KUBE-POSTROUTING",
    "KUBE-MARK-MASQ",
    "KUBE-PROXY-CANARY",
    "KUBE-EXTERNAL-SERVICES",
    "KUBE-FORWARD",
    "KUBE-PROXY-FIREWALL",
    "KUBE-SVC-",
    "KUBE-SVL-",
    "KUBE-EXT-",
    "KUBE-FW-",
    "KUBE-SEP-",
];

/// Lines of node-`node`'s iptables ruleset that belong to kube-proxy's iptables mode.
fn iptables_mode_leftovers(lab: &TestLab, node: usize) -> Vec<String> {
    lab.sh_ok(lab.node(node), "iptables-save")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| KUBE_PROXY_CHAINS.iter().any(|c| l.contains(c)))
        .map(str::to_string)
        .collect()
}

/// Switches the nodes to `mode` as a learner on a kubeadm cluster would: the `mode` of the
/// kube-proxy ConfigMap, then `kubectl delete pod` of each node's kube-proxy pod. Waits until
/// each node's kernel shows the new mode and nothing of the old one.
fn switch_mode(lab: &TestLab, mode: &str, nodes: &[usize]) {
    let cm = lab.get_json(&["-n", "kube-system", "configmap", "kube-proxy"]);
    let conf = cm["data"]["config.conf"].as_str().expect("config.conf");
    let conf: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("mode:") {
                format!("mode: {mode}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let patch = serde_json::json!({"data": {"config.conf": conf}}).to_string();
    lab.kubectl_ok(&[
        "-n",
        "kube-system",
        "patch",
        "configmap",
        "kube-proxy",
        "-p",
        &patch,
    ]);
    for &n in nodes {
        lab.kubectl_ok(&[
            "-n",
            "kube-system",
            "delete",
            "pod",
            "-l",
            "k8s-app=kube-proxy",
            "--field-selector",
            &format!("spec.nodeName=node-{n}"),
        ]);
    }
    for &n in nodes {
        wait_for(
            &format!("node-{n}'s kube-proxy in {mode} mode, nothing of the other mode left"),
            Duration::from_secs(30),
            || {
                let leftovers = iptables_mode_leftovers(lab, n);
                let done = match mode {
                    "nftables" => node_mode(lab, n) == "nftables" && leftovers.is_empty(),
                    _ => {
                        node_mode(lab, n) == "iptables"
                            && leftovers.iter().any(|l| l.starts_with("-A KUBE-SVC-"))
                    }
                };
                done.then_some(())
            },
        );
    }
}

/// Traffic before, across and after the switch: a ClusterIP from both nodes and a NodePort
/// from the client on both node IPs keep answering.
fn a_live_switch_to_nftables_keeps_traffic_and_leaves_no_iptables_rule(lab: &TestLab) {
    web_deployment_and_service(lab, 3);
    let vip = cluster_ip(lab, "web");
    for n in [1, 2] {
        assert_eq!(
            node_mode(lab, n),
            "iptables",
            "a lab starts in iptables mode"
        );
    }
    switch_mode(lab, "nftables", &[1, 2]);
    wait_programmed(lab, "web", 3);
    for n in [1, 2] {
        let got = curl_from(lab, lab.node(n), &format!("http://{vip}/"), 20);
        assert_eq!(got.len(), 20, "node-{n} reaches {vip} in nftables mode");
        assert_eq!(
            answering_pods(&got).len(),
            3,
            "from node-{n}: all three pods answer"
        );
        let left = iptables_mode_leftovers(lab, n);
        assert!(
            left.is_empty(),
            "no iptables rule of kube-proxy left on node-{n}: {left:?}"
        );
    }
}

/// node-2 back to iptables while node-1 stays in nftables: traffic crosses nodes both ways,
/// and node-2 has no nftables table left.
fn one_node_back_to_iptables_carries_traffic_across_modes(lab: &TestLab) {
    switch_mode(lab, "iptables", &[2]);
    assert!(
        !lab.sh(lab.node(2), "nft list table ip kube-proxy >/dev/null 2>&1")
            .success(),
        "node-2 has no kube-proxy nftables table in iptables mode"
    );
    assert_eq!(node_mode(lab, 1), "nftables");
    // Earlier scenarios leave web at 2 replicas.
    let endpoints = ready_endpoints(lab, "web").len();
    wait_programmed(lab, "web", endpoints);
    let vip = cluster_ip(lab, "web");
    for n in [1, 2] {
        let got = curl_from(lab, lab.node(n), &format!("http://{vip}/"), 20);
        assert_eq!(
            answering_pods(&got).len(),
            endpoints,
            "from node-{n} ({}) every web pod answers",
            node_mode(lab, n)
        );
    }
    nodeport_answers_from_client_on_both_node_ips(lab);
}

/// Calico's `cali-*` iptables chains filter the packets the nftables mode DNATs: a policy that
/// admits only `role=client` pods to web drops a ClusterIP connection from another pod, lets the
/// client pod in, and deleting it opens the Service again.
fn network_policy_still_filters_behind_nftables_dnat(lab: &TestLab) {
    web_deployment_and_service(lab, 3);
    let vip = cluster_ip(lab, "web");
    for (name, role) in [("np-client", "client"), ("np-other", "other")] {
        if !lab.kubectl(&["get", "pod", name]).success() {
            lab.kubectl_ok(&[
                "run",
                name,
                "--image=busybox",
                &format!("--labels=role={role}"),
                "--",
                "sleep",
                "3600",
            ]);
        }
    }
    for name in ["np-client", "np-other"] {
        wait_for(
            &format!("pod {name} running"),
            Duration::from_secs(60),
            || (lab.get_json(&["pod", name])["status"]["phase"] == "Running").then_some(()),
        );
    }
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web-from-client\nspec:\n  podSelector:\n    matchLabels: {app: web}\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels: {role: client}\n";
    let out = lab.kubectl_stdin(&["apply", "-f", "-"], policy);
    assert!(out.success(), "apply policy: {}", out.stderr);
    let curl = |pod: &str| {
        lab.kubectl(&[
            "exec",
            pod,
            "--",
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-m",
            "2",
            &format!("http://{vip}/"),
        ])
        .code
    };
    wait_for(
        "the policy drops np-other's connection",
        Duration::from_secs(10),
        || (curl("np-other") == 28).then_some(()),
    );
    assert_eq!(curl("np-client"), 0, "the policy admits role=client");
    lab.kubectl_ok(&["delete", "networkpolicy", "web-from-client"]);
    wait_for(
        "without the policy np-other gets in",
        Duration::from_secs(10),
        || (curl("np-other") == 0).then_some(()),
    );
}

#[test]
#[ignore = "needs Docker and root"]
fn services_carry_real_packets_in_nftables_mode() {
    let lab = TestLab::up("hs-svc-nft");
    run_scenarios(
        &lab,
        &[(
            "a live switch to nftables keeps traffic and leaves no iptables rule of kube-proxy",
            a_live_switch_to_nftables_keeps_traffic_and_leaves_no_iptables_rule,
        )],
    );
    run_scenarios(&lab, SCENARIOS);
    run_scenarios(
        &lab,
        &[
            (
                "NetworkPolicy still filters behind the nftables DNAT (cali-* chains)",
                network_policy_still_filters_behind_nftables_dnat,
            ),
            (
                "node-2 back to iptables carries traffic across modes",
                one_node_back_to_iptables_carries_traffic_across_modes,
            ),
        ],
    );
}

#[test]
fn nft_listing_gives_the_service_endpoints() {
    let table = "table ip kube-proxy {
\tchain service-ULMVA6XW-default/web/tcp/ {
\t\tmeta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.2 . 80, 1 : 10.244.2.3 . 80 }
\t}
\tchain service-AAAAAAAA-default/web-sticky/tcp/ {
\t\tip saddr @affinity-X-default/web-sticky/tcp/__10.244.1.2/80 goto endpoint-X-default/web-sticky/tcp/__10.244.1.2/80
\t\tnumgen random mod 1 vmap { 0 : goto endpoint-X-default/web-sticky/tcp/__10.244.1.2/80 }
\t}
}
";
    assert_eq!(
        nft_service_endpoints(table, "web"),
        BTreeSet::from(["10.244.1.2:80".to_string(), "10.244.2.3:80".to_string()])
    );
    assert_eq!(
        nft_service_endpoints(table, "web-sticky"),
        BTreeSet::from(["10.244.1.2:80".to_string()])
    );
}
