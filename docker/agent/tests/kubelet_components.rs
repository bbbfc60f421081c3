//! The kubelet against an in-process API server, for the pods that stand for the node's own
//! components (the `kube-proxy` / `calico-node` DaemonSet pods): no sandbox, Running on the
//! node's IP, container events, deletion finished at once; and the node's Lease. Needs no
//! root: no pod sandbox is started.

use std::time::{Duration, Instant};

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::{EVENTS, LEASES, NODES, PODS};
use serde_json::{json, Value};

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn node_component_pods_run_on_the_node_ip_without_a_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(&dir.path().join("api"), Config::default()).unwrap();
    let c = server.client();
    let root = dir.path().join("node");
    for d in ["logs/pods", "run", "state"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let cfg = kplab_agent::kubelet::Config {
        node_name: "node-7".into(),
        node_index: 7,
        node_ip: "127.0.0.7".parse().unwrap(),
        apiserver: server.url().to_string(),
        nodes: vec![],
        control_plane: false,
        state_dir: root.join("state"),
        run_dir: root.join("run"),
        pod_log_dir: root.join("logs/pods"),
        log_dir: root.join("logs"),
        port: 0,
        overlay: false,
        exe: std::env::current_exe().unwrap(),
    };
    let kubelet = kplab_agent::kubelet::Kubelet::new(cfg);
    std::thread::spawn(move || kubelet.run());
    let node = wait_for("node-7 registered", || c.get(&NODES, None, "node-7").ok());
    let lease = wait_for("the node lease", || {
        c.get(&LEASES, Some("kube-node-lease"), "node-7").ok()
    });
    assert_eq!(lease["spec"]["holderIdentity"], "node-7");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    assert_eq!(
        lease["metadata"]["ownerReferences"][0]["uid"],
        node["metadata"]["uid"]
    );

    c.create(
        &PODS,
        Some("kube-system"),
        &json!({"metadata":{"name":"kube-proxy-x2x9z","labels":{"k8s-app":"kube-proxy"}},
            "spec":{"nodeName":"node-7","hostNetwork":true,
                    "containers":[{"name":"kube-proxy","image":"registry.k8s.io/kube-proxy:v1.32.0"}]}}),
    )
    .unwrap();
    let pod = wait_for("the kube-proxy pod Running", || {
        c.get(&PODS, Some("kube-system"), "kube-proxy-x2x9z")
            .ok()
            .filter(|p| p["status"]["phase"] == "Running")
    });
    assert_eq!(pod["status"]["podIP"], "127.0.0.7");
    assert_eq!(pod["status"]["hostIP"], "127.0.0.7");
    assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
    // No sandbox: no pid file, no pod log.
    assert!(!root.join("run/kube-system/kube-proxy-x2x9z").exists());
    let events: Vec<Value> = wait_for("3 kubelet events", || {
        let l = c
            .list(
                &EVENTS,
                Some("kube-system"),
                None,
                Some("involvedObject.name=kube-proxy-x2x9z"),
            )
            .ok()?
            .items;
        (l.len() == 3).then_some(l)
    });
    let reasons: Vec<&str> = events
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 3);
    for r in ["Pulled", "Created", "Started"] {
        assert!(reasons.contains(&r), "{reasons:?}");
    }
    let pulled = events.iter().find(|e| e["reason"] == "Pulled").unwrap();
    assert_eq!(
        pulled["message"],
        "Container image \"registry.k8s.io/kube-proxy:v1.32.0\" already present on machine"
    );
    assert_eq!(
        pulled["source"],
        json!({"component":"kubelet","host":"node-7"})
    );
    assert_eq!(
        pulled["involvedObject"]["fieldPath"],
        "spec.containers{kube-proxy}"
    );

    // Deleting it finishes at once: there is no process to stop.
    c.delete(&PODS, Some("kube-system"), "kube-proxy-x2x9z", None)
        .unwrap();
    wait_for("the pod gone", || {
        c.get(&PODS, Some("kube-system"), "kube-proxy-x2x9z")
            .err()
            .filter(|e| e.is_not_found())
    });
}
