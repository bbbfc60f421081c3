//! The packets panel's JSON against one real lab (Docker): the chain graph of a 3-endpoint
//! Service with pod names, counters that move with traffic, kernel traces (TRACE +
//! xtables-monitor in the node) that agree with the model's tracer on ClusterIP, NodePort
//! same-node and cross-node, externalTrafficPolicy Local and a NetworkPolicy drop ("why was
//! this dropped?" names the policy), a spread with its chi-square p-value, snapshots and a
//! grouped diff after scaling; no TRACE rule or probe process left in a node after each trace
//! or spread; 4xx with a reason for bad input; 403 for another learner.
//! Run with `cargo test -p kplab --test panel_lab -- --include-ignored`.

use kplab_testkit::lab as common;
use kplab_testkit::web as web_support;

use std::time::{Duration, Instant};

use serde_json::Value;
use web_support::{Client, Server};

const SETUP: &str = r#"set -e
kubectl create deployment web --image=nginx --replicas=3 --port=80 >/dev/null
kubectl expose deployment web --port=80 --type=NodePort >/dev/null
cat <<'EOF' | kubectl apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: one}
spec:
  replicas: 1
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: one}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node-2}
      containers: [{name: one, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: one}
spec:
  type: NodePort
  selector: {app: one}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: one-local}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: one}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node-1}
      containers: [{name: db, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: src}
spec:
  replicas: 1
  selector: {matchLabels: {app: src}}
  template:
    metadata: {labels: {app: src}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node-1}
      containers: [{name: src, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-db}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
EOF
"#;

async fn sh(server: &Server, sandbox: &str, host: &str, script: &str) -> String {
    let out = server
        .state
        .runtime
        .exec(sandbox, host, &["sh", "-c", script])
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{script}: {}", out.stderr);
    out.stdout
}

/// No TRACE rule of ours and no tracer or probe process in any node.
async fn assert_clean(server: &Server, sandbox: &str) {
    for host in ["node-1", "node-2", "client"] {
        let raw = sh(server, sandbox, host, "iptables-save -t raw").await;
        assert!(
            !raw.contains("kplab-nftrace"),
            "{host} still has a TRACE rule:\n{raw}"
        );
        assert!(
            !raw.contains("-j TRACE"),
            "{host} still has a TRACE rule:\n{raw}"
        );
        let ps = sh(server, sandbox, host, "ps -eo args").await;
        for l in ps.lines() {
            assert!(
                !(l.contains("nftrace")
                    || l.contains("kplab-probe")
                    || l.starts_with("curl")
                    || l.starts_with("xtables-monitor")),
                "{host} still runs {l:?}"
            );
        }
    }
}

fn pod_of(inv: &str, prefix: &str) -> String {
    inv.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no pod {prefix}* in\n{inv}"))
        .to_string()
}

async fn trace(c: &mut Client, id: &str, body: &str) -> Value {
    let r = c
        .post_json(&format!("/api/sessions/{id}/trace"), body)
        .await;
    assert_eq!(r.status, 200, "{body}: {}", r.body);
    r.json()
}

fn assert_agree(t: &Value, what: &str) {
    let cmp = &t["comparison"];
    assert_eq!(
        cmp["agree"], true,
        "{what}: kernel and model disagree: {}\nkernel chains {}\nmodel chains {}",
        cmp["differences"], cmp["kernel_chains"], cmp["model_chains"]
    );
    assert!(
        cmp["kernel_chains"].as_array().unwrap().len() >= 2,
        "{what}: too short a trace: {t}"
    );
}

fn hop_rules(t: &Value) -> Vec<String> {
    t["kernel"]["hops"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["rule"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker and root"]
async fn the_panel_shows_what_packets_do_in_a_real_lab() {
    tokio::task::spawn_blocking(common::ensure_image)
        .await
        .unwrap();
    let _gone = common::LabsGone("pn-");
    let server = Server::start("pn-", 2).await;
    let mut alice = Client::new(server.addr);
    alice.get("/").await;
    let id = alice.start_lab("00-hello", Duration::from_secs(120)).await;
    let sandbox = server
        .state
        .store
        .session(&id)
        .await
        .unwrap()
        .unwrap()
        .sandbox;
    sh(&server, &sandbox, "node-1", SETUP).await;

    // The graph: wait until the 3-endpoint Service is in node-1's rules with pod names.
    let deadline = Instant::now() + Duration::from_secs(60);
    let graph = loop {
        let r = alice
            .get(&format!("/api/sessions/{id}/nodes/node-1/ruleset"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let g = r.json();
        let ready = g["services"].as_array().unwrap().iter().any(|s| {
            s["name"] == "default/web"
                && s["endpoints"].as_array().unwrap().len() == 3
                && s["endpoints"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|e| e[1].is_string())
        }) && g["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "default/one-local");
        if ready {
            break g;
        }
        assert!(
            Instant::now() < deadline,
            "the Services never showed up: {g}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let web = graph["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "default/web")
        .unwrap();
    for e in web["endpoints"].as_array().unwrap() {
        assert!(e[1].as_str().unwrap().starts_with("default/web-"), "{e}");
    }
    let chains = graph["chains"].as_array().unwrap();
    let svc = chains
        .iter()
        .find(|c| c["kind"] == "svc" && c["service"] == "default/web")
        .expect("the KUBE-SVC chain of web");
    assert_eq!(svc["label"], "SVC default/web");
    assert_eq!(
        chains
            .iter()
            .filter(|c| c["kind"] == "sep" && c["service"] == "default/web")
            .count(),
        3
    );
    assert!(chains.iter().any(|c| c["name"] == "KUBE-NODEPORTS"));
    assert!(chains.iter().any(|c| c["name"] == "KUBE-POSTROUTING"));
    assert!(graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["from"] == "nat:KUBE-SERVICES" && e["to"] == svc["id"]));
    let svc_packets = svc["packets"].as_u64().unwrap();

    // Pods and ports.
    let pods = sh(
        &server,
        &sandbox,
        "node-1",
        "kubectl get pods -o wide --no-headers",
    )
    .await;
    let src = pod_of(&pods, "src-");
    let db = pod_of(&pods, "db-");
    let svcs = server
        .state
        .runtime
        .exec(&sandbox, "node-1", &["kubectl", "get", "svc", "-o", "json"])
        .await
        .unwrap();
    let svcs: Value = serde_json::from_str(&svcs.stdout).unwrap();
    let node_port = |name: &str| -> u64 {
        svcs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["metadata"]["name"] == name)
            .unwrap()["spec"]["ports"][0]["nodePort"]
            .as_u64()
            .unwrap()
    };
    // Wait until the pods answer (the db drop needs db's policy chains in place).
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Spread: 60 connections from a pod to web; counters move; the p-value is there.
    let t0 = Instant::now();
    let r = alice
        .post_json(
            &format!("/api/sessions/{id}/spread"),
            &format!(r#"{{"from":"{src}","service":"web","port":80,"count":60}}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let spread = r.json();
    eprintln!("spread of 60: {:?}", t0.elapsed());
    assert_eq!(spread["answered"], 60, "{spread}");
    let rows = spread["endpoints"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{spread}");
    let total: u64 = rows.iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 60);
    for r in rows {
        let share = r["expected_share"].as_f64().unwrap();
        assert!((share - 1.0 / 3.0).abs() < 1e-6, "{r}");
        assert!(r["pod"].as_str().unwrap().starts_with("default/web-"));
    }
    let p = spread["p_value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert_clean(&server, &sandbox).await;
    let g2 = alice
        .get(&format!("/api/sessions/{id}/nodes/node-1/ruleset"))
        .await
        .json();
    let svc2 = g2["chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == svc["id"])
        .unwrap()
        .clone();
    assert!(
        svc2["packets"].as_u64().unwrap() >= svc_packets + 60,
        "counters did not move: {} -> {}",
        svc_packets,
        svc2["packets"]
    );

    // Benchmark figures (printed, not asserted): a 300-connection spread through the API vs the
    // bare probe run the same way, and (below) a kernel trace vs a bare `docker exec`.
    let t0 = Instant::now();
    let r = alice
        .post_json(
            &format!("/api/sessions/{id}/spread"),
            r#"{"from":"node-1","service":"web","port":80,"count":300}"#,
        )
        .await;
    let spread_300 = t0.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["answered"], 300);
    let vip = r.json()["target"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    sh(
        &server,
        &sandbox,
        "node-1",
        &format!("kplab-agent kplab-probe --target {vip} --count 300 --parallel 50 >/dev/null"),
    )
    .await;
    let bare_300 = t0.elapsed();
    let t0 = Instant::now();
    sh(&server, &sandbox, "node-1", "true").await;
    let bare_exec = t0.elapsed();
    println!(
        "bench: spread of 300 via the API {:.0} ms (target < 3000 ms); bare kplab-probe 300 {:.0} ms; ratio {:.2}x",
        spread_300.as_secs_f64() * 1000.0,
        bare_300.as_secs_f64() * 1000.0,
        spread_300.as_secs_f64() / bare_300.as_secs_f64()
    );
    assert_clean(&server, &sandbox).await;

    // Kernel traces vs the model.
    let t0 = Instant::now();
    let t = trace(&mut alice, &id, r#"{"from":"node-1","to":"web","port":80}"#).await;
    let trace_ms = t0.elapsed().as_secs_f64() * 1000.0;
    println!(
        "bench: kernel trace node-1 -> ClusterIP end to end {trace_ms:.0} ms (target < 1000 ms; agent {:.0} ms); bare docker exec {:.0} ms; ratio {:.1}x",
        t["kernel"]["ms"].as_f64().unwrap_or(0.0),
        bare_exec.as_secs_f64() * 1000.0,
        trace_ms / (bare_exec.as_secs_f64() * 1000.0)
    );
    assert_agree(&t, "node-1 -> ClusterIP");
    assert_eq!(t["kernel"]["verdict"], "accept");
    assert!(t["kernel"]["dnat"].as_str().unwrap().ends_with(":80"));
    assert!(
        t["kernel"]["conntrack"]["reply"].is_string(),
        "{}",
        t["kernel"]
    );
    assert_clean(&server, &sandbox).await;

    let t = trace(
        &mut alice,
        &id,
        &format!(r#"{{"from":"{src}","to":"web","port":80}}"#),
    )
    .await;
    assert_agree(&t, "pod -> ClusterIP");
    assert_clean(&server, &sandbox).await;

    // NodePort, cross-node (the only endpoint of `one` is on node-2) and same-node.
    let np = node_port("one");
    let t = trace(
        &mut alice,
        &id,
        &format!(r#"{{"from":"client","to":"node-1","port":{np}}}"#),
    )
    .await;
    assert_agree(&t, "client -> node-1 NodePort (cross-node)");
    let rules = hop_rules(&t);
    assert!(rules.iter().any(|r| r.contains("-j DNAT")), "{rules:?}");
    assert!(
        rules.iter().any(|r| r.contains("-j MASQUERADE")),
        "{rules:?}"
    );
    assert_eq!(t["kernel"]["masqueraded"], true);
    assert!(
        t["kernel"]["packets_seen"].as_u64().unwrap() >= 3,
        "the connection went through: {}",
        t["kernel"]
    );
    assert_clean(&server, &sandbox).await;
    let t = trace(
        &mut alice,
        &id,
        &format!(r#"{{"from":"client","to":"node-2","port":{np}}}"#),
    )
    .await;
    assert_agree(&t, "client -> node-2 NodePort (same node)");
    assert_eq!(t["kernel"]["verdict"], "accept");
    assert_clean(&server, &sandbox).await;

    // externalTrafficPolicy: Local: node-2 has the endpoint, node-1 has none (dropped).
    let npl = node_port("one-local");
    let t = trace(
        &mut alice,
        &id,
        &format!(r#"{{"from":"client","to":"node-2","port":{npl}}}"#),
    )
    .await;
    assert_agree(&t, "ETP Local, local endpoint");
    assert_eq!(t["kernel"]["verdict"], "accept");
    assert_eq!(
        t["kernel"]["masqueraded"], false,
        "Local keeps the client address"
    );
    let t = trace(
        &mut alice,
        &id,
        &format!(r#"{{"from":"client","to":"node-1","port":{npl}}}"#),
    )
    .await;
    assert_agree(&t, "ETP Local, no local endpoint");
    assert_eq!(t["kernel"]["verdict"], "drop", "{}", t["kernel"]);
    assert!(t["why"]["explanation"].is_string(), "{t}");
    assert_clean(&server, &sandbox).await;

    // A NetworkPolicy drop, explained.
    let t = trace(
        &mut alice,
        &id,
        &format!(r#"{{"from":"{src}","to":"{db}","port":80}}"#),
    )
    .await;
    assert_agree(&t, "pod -> isolated pod");
    assert_eq!(t["kernel"]["verdict"], "drop");
    assert_eq!(t["why"]["policy"], "default/deny-db", "{}", t["why"]);
    assert!(t["why"]["chain"]
        .as_str()
        .unwrap()
        .starts_with("filter:cali-tw-"));
    assert_clean(&server, &sandbox).await;

    // The model alone, without traffic.
    let t = trace(
        &mut alice,
        &id,
        &format!(r#"{{"from":"{src}","to":"web","port":80,"mode":"model"}}"#),
    )
    .await;
    assert!(t["kernel"].is_null());
    assert_eq!(t["model"]["endpoints"].as_array().unwrap().len(), 3);

    // Snapshots and a grouped diff after scaling.
    let snaps = alice
        .get(&format!("/api/sessions/{id}/snapshots"))
        .await
        .json();
    let before = snaps["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|s| s["node"] == "node-1")
        .cloned()
        .expect("a node-1 snapshot");
    sh(
        &server,
        &sandbox,
        "node-1",
        "kubectl scale deployment web --replicas=4 >/dev/null",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let snaps = alice
            .get(&format!("/api/sessions/{id}/snapshots"))
            .await
            .json();
        // Only snapshots taken after `before`: while the lab came up, web's pods may have
        // turned ready one at a time, which gave earlier "+1 endpoint" snapshots.
        let found = snaps["snapshots"].as_array().unwrap().iter().find(|s| {
            s["node"] == "node-1"
                && s["seq"].as_i64() > before["seq"].as_i64()
                && s["label"]
                    .as_str()
                    .unwrap()
                    .contains("default/web: +1 endpoint")
        });
        if let Some(s) = found {
            break s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot after scaling: {snaps}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let d = alice
        .get(&format!(
            "/api/sessions/{id}/diff?from={}&to={}",
            before["id"].as_str().unwrap(),
            after["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    let d = d.json();
    let web = d["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "default/web")
        .expect("web changed");
    assert_eq!(web["added"].as_array().unwrap().len(), 1, "{web}");
    assert!(
        web["summary"].as_str().unwrap().contains(
            "probabilities 0.3333333335/0.5000000000 -> 0.2500000000/0.3333333335/0.5000000000"
        ),
        "{web}"
    );
    assert!(d["raw"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().starts_with("+-A KUBE-SEP-")));

    // Bad input: 4xx with a reason.
    let bad = [
        (
            "trace",
            r#"{"from":"nosuch","to":"web","port":80}"#,
            400,
            "nosuch",
        ),
        (
            "trace",
            r#"{"from":"client","to":"node-1","port":0}"#,
            400,
            "port",
        ),
        (
            "trace",
            r#"{"from":"client","to":"web","port":80}"#,
            400,
            "NodePort",
        ),
        ("trace", r#"{"from":"client","to":"node-1"}"#, 400, "port"),
        (
            "spread",
            r#"{"from":"client","service":"web","port":80,"count":5000}"#,
            400,
            "count",
        ),
        (
            "spread",
            r#"{"from":"node-1","service":"nosuch","port":80,"count":5}"#,
            400,
            "nosuch",
        ),
        (
            "spread",
            r#"{"from":"node-1","service":"web","port":81,"count":5}"#,
            400,
            "no port 81",
        ),
    ];
    for (what, body, status, reason) in bad {
        let r = alice
            .post_json(&format!("/api/sessions/{id}/{what}"), body)
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains(reason),
            "{body}: {}",
            r.body
        );
    }
    let r = alice
        .get(&format!("/api/sessions/{id}/nodes/node-9/ruleset"))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("node-9"));
    let r = alice.get(&format!("/api/sessions/{id}/diff?from=x")).await;
    assert_eq!(r.status, 400);
    let r = alice
        .get(&format!("/api/sessions/{id}/diff?from=x&to=y"))
        .await;
    assert_eq!(r.status, 404);

    // Another learner: 403 everywhere.
    let mut bob = Client::new(server.addr);
    bob.get("/").await;
    assert_eq!(
        bob.get(&format!("/api/sessions/{id}/nodes/node-1/ruleset"))
            .await
            .status,
        403
    );
    assert_eq!(
        bob.get(&format!("/api/sessions/{id}/snapshots"))
            .await
            .status,
        403
    );
    assert_eq!(
        bob.get(&format!("/api/sessions/{id}/diff?from=a&to=b"))
            .await
            .status,
        403
    );
    assert_eq!(
        bob.post_json(
            &format!("/api/sessions/{id}/trace"),
            r#"{"from":"node-1","to":"web","port":80}"#
        )
        .await
        .status,
        403
    );
    assert_eq!(
        bob.post_json(
            &format!("/api/sessions/{id}/spread"),
            r#"{"from":"node-1","service":"web","port":80,"count":5}"#
        )
        .await
        .status,
        403
    );
    assert_clean(&server, &sandbox).await;
    server.shutdown().await;
}
