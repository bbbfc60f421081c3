//! `kubectl rollout status` against an embedded API server (no controller runs: the test
//! writes the status the deployment controller would).

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::{ApiClient, Resource};
use serde_json::json;

fn kubectl(server: &EmbeddedServer, dir: &std::path::Path, args: &[&str]) -> (u8, String, String) {
    let mut argv = vec!["kubectl".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    argv.push(format!("--server={}", server.url()));
    argv.push(format!("--kubeconfig={}", dir.join("kubeconfig").display()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kplab_agent::kubectl::run(&argv, &mut "".as_bytes(), &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn rollout_status_waits_for_available_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedServer::start(dir.path(), Config::default()).unwrap();
    let d = dir.path();
    let (code, _, err) = kubectl(
        &server,
        d,
        &[
            "create",
            "deployment",
            "web",
            "--image=kplab/echo",
            "--replicas=2",
        ],
    );
    assert_eq!(code, 0, "{err}");

    // No controller runs here: the spec change is not observed yet.
    let (code, out, _) = kubectl(
        &server,
        d,
        &["rollout", "status", "deployment/web", "--watch=false"],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "Waiting for deployment spec update to be observed...\n")
    );
    let (code, _, err) = kubectl(
        &server,
        d,
        &["rollout", "status", "deploy/web", "--timeout=500ms"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("timed out waiting for the condition"), "{err}");

    // Status as the deployment controller writes it: 1 of 2 available.
    let client = ApiClient::new(server.url());
    let deploy = Resource::resolve("deployments").unwrap();
    let generation =
        client.get(deploy, Some("default"), "web").unwrap()["metadata"]["generation"].clone();
    let status = |available: i64| json!({"status": {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2, "readyReplicas": available, "availableReplicas": available}});
    client
        .patch_status(deploy, Some("default"), "web", &status(1))
        .unwrap();
    let (code, out, _) = kubectl(
        &server,
        d,
        &["rollout", "status", "deployment", "web", "--watch=false"],
    );
    assert_eq!(code, 0);
    assert_eq!(out, "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...\n");

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
    let (code, out, err) = kubectl(
        &server,
        d,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    t.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...\n\
         deployment \"web\" successfully rolled out\n"
    );

    let (code, _, err) = kubectl(&server, d, &["rollout", "status", "svc/kubernetes"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no status viewer has been implemented for Service"),
        "{err}"
    );
    let (code, _, err) = kubectl(&server, d, &["rollout", "undo", "deployment/web"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown command \"undo\" for \"kubectl rollout\""),
        "{err}"
    );
}
