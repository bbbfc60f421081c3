//! The real kubectl's `rollout status` against an embedded API server (no controller runs: the
//! test writes the status the deployment controller would), so what kubectl reports comes from
//! the generation and status the server keeps.

mod common;

use common::Kubectl;
use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::{ApiClient, Resource};
use serde_json::json;

#[test]
fn rollout_status_waits_for_available_replicas() {
    let bin = real_kubectl_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(&dir.path().join("api"), Config::default()).unwrap();
    let k = Kubectl::new(bin, dir.path(), server.url());
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=kplab/echo",
        "--replicas=2",
    ]);

    // No controller runs here: the spec change is not observed yet.
    let o = k.run(&["rollout", "status", "deployment/web", "--watch=false"]);
    assert_eq!(
        (o.code, o.out.as_str()),
        (0, "Waiting for deployment spec update to be observed...\n"),
        "{}",
        o.err
    );
    let o = k.run(&["rollout", "status", "deploy/web", "--timeout=500ms"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.err.contains("timed out waiting for the condition"),
        "{}",
        o.err
    );

    // Status as the deployment controller writes it: 1 of 2 available.
    let client = ApiClient::new(server.url());
    let deploy = Resource::resolve("deployments").unwrap();
    let generation =
        client.get(deploy, Some("default"), "web").unwrap()["metadata"]["generation"].clone();
    let status = |available: i64| json!({"status": {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2, "readyReplicas": available, "availableReplicas": available}});
    client
        .patch_status(deploy, Some("default"), "web", &status(1))
        .unwrap();
    let o = k.run(&["rollout", "status", "deployment", "web", "--watch=false"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        o.out,
        "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...\n"
    );

    // The second replica becomes available while kubectl watches.
    let url = server.url().to_string();
    let later = status(2);
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(400));
        let deploy = Resource::resolve("deployments").unwrap();
        ApiClient::new(&url)
            .patch_status(deploy, Some("default"), "web", &later)
            .unwrap();
    });
    let o = k.run(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    t.join().unwrap();
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        o.out,
        "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...\n\
         deployment \"web\" successfully rolled out\n"
    );

    let o = k.run(&["rollout", "status", "svc/kubernetes"]);
    assert_eq!(o.code, 1);
    assert!(
        o.err
            .contains("no status viewer has been implemented for Service"),
        "{}",
        o.err
    );
}
