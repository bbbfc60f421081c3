//! The real kubectl with the lab's control plane in-process: the lab API server, the controller manager
//! (deployments, EndpointSlices, Endpoints, DNS objects) and the scheduler. The kubelet's part
//! (pod status) is written through the API as the kubelet writes it.

mod common;

use common::{wait_for, Kubectl};
use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::{KubeObject, Resource};
use serde_json::json;

#[test]
fn deployment_pods_endpoints_and_describe() {
    let bin = real_kubectl_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(&dir.path().join("api"), Config::default()).unwrap();
    let k = Kubectl::new(bin, dir.path(), server.url());
    let kubectl = |args: &[&str]| {
        let o = k.run(args);
        (o.code, o.out, o.err)
    };
    let client = server.client();
    let nodes = Resource::resolve("nodes").unwrap();
    let pods = Resource::resolve("pods").unwrap();
    let mut node = client
        .create(nodes, None, &json!({"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1",
            "labels":{"kubernetes.io/hostname":"node-1","node-role.kubernetes.io/control-plane":""}},
            "spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]}}))
        .unwrap();
    node["status"] = json!({"conditions":[{"type":"Ready","status":"True"}],
        "addresses":[{"type":"InternalIP","address":"172.28.5.10"}],"nodeInfo":{"kubeletVersion":"v1.32.0"}});
    client.update_status(nodes, None, "node-1", &node).unwrap();
    let _cm = kplab_agent::controllers::start_controller_manager(server.client(), false);
    kplab_agent::controllers::start_scheduler(server.client());

    let (code, out, err) = kubectl(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
        "--port=80",
    ]);
    assert_eq!(
        (code, out.as_str()),
        (0, "deployment.apps/web created\n"),
        "{err}"
    );
    let (code, out, err) = kubectl(&["expose", "deploy", "web", "--port=80"]);
    assert_eq!((code, out.as_str()), (0, "service/web exposed\n"), "{err}");

    let mut names: Vec<String> = Vec::new();
    wait_for("two scheduled pods", || {
        let (_, out, _) = kubectl(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={range .items[?(@.spec.nodeName==\"node-1\")]}{.metadata.name}{\"\\n\"}{end}",
        ]);
        names = out.lines().map(String::from).collect();
        names.len() == 2
    });
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("web-") && n.split('-').count() == 3),
        "{names:?}"
    );

    // What the kubelet reports once the pods run.
    for (i, n) in names.iter().enumerate() {
        let mut p = client.get(pods, Some("default"), n).unwrap();
        p["status"] = json!({"phase":"Running","hostIP":"172.28.5.10","podIP":format!("10.244.1.{}", 5 + i),
            "podIPs":[{"ip":format!("10.244.1.{}", 5 + i)}],"startTime":"2026-11-23T04:00:00Z",
            "conditions":[{"type":"Ready","status":"True"},{"type":"ContainersReady","status":"True"}],
            "containerStatuses":[{"name":"nginx","ready":true,"restartCount":0,"image":"nginx","imageID":"","started":true,"state":{"running":{"startedAt":"2026-11-23T04:00:00Z"}}}]});
        client.update_status(pods, Some("default"), n, &p).unwrap();
    }
    wait_for("endpoints", || {
        kubectl(&["get", "ep", "web"])
            .1
            .contains("10.244.1.5:80,10.244.1.6:80")
    });
    let (_, t, _) = kubectl(&["get", "pods", "-o", "wide"]);
    let first: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(first[1..4], ["1/1", "Running", "0"], "{t}");
    assert_eq!(
        first[5..],
        ["10.244.1.5", "node-1", "<none>", "<none>"],
        "{t}"
    );
    let (_, d, _) = kubectl(&["describe", "svc", "web"]);
    assert!(
        d.contains("\nEndpoints:                10.244.1.5:80,10.244.1.6:80\n"),
        "{d}"
    );
    let (_, s, _) = kubectl(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
        "--no-headers",
    ]);
    let cells: Vec<&str> = s.split_whitespace().collect();
    assert_eq!(cells[1..4], ["IPv4", "80", "10.244.1.5,10.244.1.6"], "{s}");
    let (_, d, _) = kubectl(&["describe", "deploy", "web"]);
    assert!(d.contains("\nReplicas:               2 desired | "), "{d}");
    let (_, n, _) = kubectl(&["describe", "node", "node-1"]);
    assert!(
        n.contains("Non-terminated Pods:          (2 in total)\n"),
        "{n}"
    );

    // Deleting a pod: graceful (terminating), then force.
    let (code, out, err) = kubectl(&["delete", "pod", &names[0], "--wait=false"]);
    assert_eq!(
        (code, out.clone()),
        (0, format!("pod \"{}\" deleted\n", names[0])),
        "{err}"
    );
    let p = client.get(pods, Some("default"), &names[0]).unwrap();
    assert!(p.is_terminating());
    let (_, t, _) = kubectl(&["get", "pod", &names[0], "--no-headers"]);
    assert!(t.split_whitespace().nth(2) == Some("Terminating"), "{t}");
    let (code, out, err) = kubectl(&["delete", "pod", &names[0], "--grace-period=0", "--force"]);
    assert_eq!(
        (code, out),
        (0, format!("pod \"{}\" force deleted\n", names[0]))
    );
    assert!(
        err.starts_with("Warning: Immediate deletion does not wait"),
        "{err}"
    );
}
