//! Probe targets that name a Service resolve, over the fake lab runtime (no Docker), to the
//! address the check asks for: `svc:` the ClusterIP, `lb:` the first load balancer ingress IP of
//! the Service's status, `externalip:` its first externalIP; the port is the one given, else
//! the Service's first. A Service without that address fails the check with a reason, and the
//! probe never runs.

use kplab::engine::grade::run_task;
use kplab_testkit::fake::FakeRuntime;
use labkit::{Check, Task};

const SERVICE: &str = r#"{"kind":"Service","metadata":{"namespace":"shop","name":"web"},
 "spec":{"clusterIP":"10.96.7.7","externalIPs":["172.28.5.201"],"ports":[{"port":80}]},
 "status":{"loadBalancer":{"ingress":[{"hostname":"lb.example"},{"ip":"172.28.5.200"}]}}}"#;

const BARE: &str = r#"{"kind":"Service","metadata":{"namespace":"shop","name":"bare"},
 "spec":{"clusterIP":"10.96.8.8","ports":[{"port":80}]},"status":{"loadBalancer":{}}}"#;

fn probe_task(target: &str) -> Task {
    let check: Check = serde_json::from_value(serde_json::json!({
        "kind": "probe", "from": "client", "target": target, "count": 1, "expect": "reachable"
    }))
    .unwrap();
    Task {
        id: "t".into(),
        title: "t".into(),
        hints: vec![],
        checks: vec![check],
        observe: false,
    }
}

/// The `--target` of the probe command the grader ran for `target`, or the check's message
/// when it did not run one.
async fn probed(target: &str) -> Result<String, String> {
    let rt = FakeRuntime::new();
    rt.add_lab("gt", 2);
    rt.on_exec("get service 'web'", 0, SERVICE);
    rt.on_exec("get service web", 0, SERVICE);
    rt.on_exec("get service 'bare'", 0, BARE);
    rt.on_exec("get service bare", 0, BARE);
    rt.on_exec(
        "kplab-probe",
        0,
        r#"{"from":"client","target":"x","protocol":"tcp","attempts":[]}"#,
    );
    let outcome = run_task(rt.as_ref(), "gt", &probe_task(target), None).await;
    let ran = rt
        .commands("gt")
        .into_iter()
        .find(|c| c.contains("kplab-probe"));
    match ran {
        Some(c) => Ok(c
            .split("--target ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_default()
            .trim_matches('\'')
            .to_string()),
        None => Err(outcome.checks[0].detail.clone()),
    }
}

#[tokio::test]
async fn service_targets_resolve_to_the_address_they_name() {
    assert_eq!(probed("svc:shop/web").await.unwrap(), "10.96.7.7:80");
    assert_eq!(probed("lb:shop/web").await.unwrap(), "172.28.5.200:80");
    assert_eq!(
        probed("lb:shop/web:8080").await.unwrap(),
        "172.28.5.200:8080"
    );
    assert_eq!(
        probed("externalip:shop/web").await.unwrap(),
        "172.28.5.201:80"
    );
    let e = probed("lb:shop/bare").await.unwrap_err();
    assert!(
        e.contains("service shop/bare has no load balancer ingress IP in its status"),
        "{e}"
    );
    let e = probed("externalip:shop/bare").await.unwrap_err();
    assert!(e.contains("service shop/bare has no externalIP"), "{e}");
}
