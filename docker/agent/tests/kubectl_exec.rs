//! The real kubectl's exec and logs end to end: the real lab API server and the real kubelet HTTP server
//! (in-process), the pod's "node" listening on its own loopback address (127.x.y.z:10250).
//! exec enters the test process' own network namespace with nsenter, so it needs root: ignored
//! in plain `cargo test`, run by the README's test command (as root), where it fails without root.

mod common;

use std::sync::Arc;

use common::Kubectl;
use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::Resource;
use kplab_agent::kubelet::http::Server;
use serde_json::json;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
#[ignore = "needs root"]
fn exec_and_logs_through_the_kubelet() {
    assert!(
        is_root(),
        "nsenter into a network namespace needs root: run as root"
    );
    let bin = real_kubectl_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(&dir.path().join("api"), Config::default()).unwrap();
    let k = Kubectl::new(bin, dir.path(), server.url());
    let kubectl = |args: &[&str], stdin: &str| {
        let o = k.run_with_stdin(args, stdin);
        (o.code, o.out, o.err)
    };
    let client = server.client();
    // A node address of its own on loopback, so port 10250 is free for this test.
    let octet = 2 + (std::process::id() % 250) as u8;
    let node_ip = format!("127.77.{octet}.1");
    let listener = std::net::TcpListener::bind((node_ip.as_str(), 10250)).unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("pods")).unwrap();
    std::fs::write(
        logs.join("pods/default_web.log"),
        "line 1\nline 2\nline 3\n",
    )
    .unwrap();
    std::fs::write(logs.join("kube-proxy.log"), "I1123 sync done\n").unwrap();
    let me = std::process::id();
    let kubelet = Server {
        lookup: Arc::new(move |ns: &str, pod: &str| {
            (ns == "default" && pod == "web").then_some(me)
        }),
        // The kubelet's pod standing for its kube-proxy: its log is the component's.
        components: Arc::new(|ns: &str, pod: &str| {
            (ns == "kube-system" && pod == "kube-proxy-node-9").then_some("kube-proxy")
        }),
        consoles: kplab_agent::kubelet::http::no_consoles(),
        pod_log_dir: logs.join("pods"),
        log_dir: logs.clone(),
    };
    std::thread::spawn(move || kubelet.serve(listener));

    let pods = Resource::resolve("pods").unwrap();
    let nodes = Resource::resolve("nodes").unwrap();
    client
        .create(
            nodes,
            None,
            &json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"node-9"},
            "status":{"addresses":[{"type":"InternalIP","address":node_ip}]}}),
        )
        .unwrap();
    let mut pod = client
        .create(
            pods,
            Some("default"),
            &json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},
            "spec":{"nodeName":"node-9","containers":[{"name":"web","image":"nginx"}]}}),
        )
        .unwrap();
    pod["status"] = json!({"phase":"Running","hostIP":node_ip,"podIP":"10.244.9.5"});
    client
        .update_status(pods, Some("default"), "web", &pod)
        .unwrap();
    // The pod object the kubelet keeps for its kube-proxy (kubectl reads it before the log).
    let mut proxy = client
        .create(
            pods,
            Some("kube-system"),
            &json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"kube-proxy-node-9"},
            "spec":{"nodeName":"node-9","containers":[{"name":"kube-proxy","image":"kplab/agent"}]}}),
        )
        .unwrap();
    proxy["status"] = json!({"phase":"Running","hostIP":node_ip,"podIP":node_ip});
    client
        .update_status(pods, Some("kube-system"), "kube-proxy-node-9", &proxy)
        .unwrap();

    let (code, out, err) = kubectl(
        &[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo hi; echo oops >&2; exit 3",
        ],
        "",
    );
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (3, "hi\n", "oops\ncommand terminated with exit code 3\n")
    );
    let (code, out, _) = kubectl(&["exec", "-i", "pod/web", "--", "cat"], "from stdin\n");
    assert_eq!((code, out.as_str()), (0, "from stdin\n"));

    let (code, out, err) = kubectl(&["logs", "web", "--tail=2"], "");
    assert_eq!((code, out.as_str()), (0, "line 2\nline 3\n"), "{err}");
    let (code, out, err) = kubectl(&["logs", "-n", "kube-system", "kube-proxy-node-9"], "");
    assert_eq!((code, out.as_str()), (0, "I1123 sync done\n"), "{err}");
    let (code, _, err) = kubectl(&["logs", "-n", "kube-system", "kube-proxy-node-404"], "");
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "error: error from server (NotFound): pods \"kube-proxy-node-404\" not found in namespace \"kube-system\"\n"
        )
    );
}

#[test]
fn the_kubelet_serves_a_node_component_pods_log_as_the_components() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().to_path_buf();
    std::fs::create_dir_all(logs.join("pods")).unwrap();
    std::fs::write(
        logs.join("kube-proxy.log"),
        "I1123 SyncProxyRules complete\n",
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let kubelet = Server {
        lookup: Arc::new(|_: &str, _: &str| None),
        components: Arc::new(|ns: &str, pod: &str| {
            (ns == "kube-system" && pod == "kube-proxy-x2x9z").then_some("kube-proxy")
        }),
        consoles: kplab_agent::kubelet::http::no_consoles(),
        pod_log_dir: logs.join("pods"),
        log_dir: logs.clone(),
    };
    std::thread::spawn(move || kubelet.serve(listener));
    let body = ureq::get(&format!("http://{addr}/logs/kube-system/kube-proxy-x2x9z"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(body, "I1123 SyncProxyRules complete\n");
    let e = ureq::get(&format!("http://{addr}/logs/kube-system/kube-proxy-other"))
        .call()
        .unwrap_err();
    assert!(matches!(e, ureq::Error::Status(404, _)), "{e}");
}
