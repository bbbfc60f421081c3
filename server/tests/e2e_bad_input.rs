//! Bad input in a real lab: malformed YAML, unknown kinds, missing fields, a Service selecting
//! nothing, a duplicate NodePort, a pod name that is too long. Each gets a clear error and the
//! lab keeps working afterwards. One lab (`hs-bad`) is shared by every scenario of this file.

use kplab_testkit::lab as common;

use std::time::Duration;

use common::{answers, run_scenarios, wait_for, Scenario, TestLab};

/// `kubectl apply -f -` of `yaml` must fail, with stderr mentioning every one of `expect`.
fn apply_fails_clearly(lab: &TestLab, yaml: &str, expect: &[&str]) -> String {
    let out = lab.kubectl_stdin(&["apply", "-f", "-"], yaml);
    assert!(
        !out.success(),
        "kubectl apply accepted bad input:\n{yaml}\nstdout: {}",
        out.stdout
    );
    let said = format!("{}{}", out.stderr, out.stdout);
    for e in expect {
        assert!(
            said.to_lowercase().contains(&e.to_lowercase()),
            "the error should mention {e:?}, it said: {said}"
        );
    }
    said
}

/// After bad input the lab still works: nodes are Ready and a Service answers.
fn the_lab_keeps_working(lab: &TestLab) {
    let nodes = lab.get_json(&["nodes"]);
    let ready = nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| {
            n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count();
    assert_eq!(ready, 2, "both nodes are still Ready");
    if !lab.kubectl(&["get", "deployment", "ok"]).success() {
        lab.kubectl_ok(&[
            "create",
            "deployment",
            "ok",
            "--image=nginx",
            "--replicas=1",
        ]);
        lab.kubectl_ok(&["expose", "deployment", "ok", "--port=80"]);
    }
    let vip = lab.get_json(&["service", "ok"])["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    wait_for("service ok to answer", Duration::from_secs(60), || {
        let out = lab.sh(lab.node(2), &format!("curl -s -m 2 http://{vip}/"));
        (!answers(&out.stdout).is_empty()).then_some(())
    });
}

fn malformed_yaml_is_refused_with_the_parse_error(lab: &TestLab) {
    apply_fails_clearly(
        lab,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: [broken\nspec: {\n",
        &["yaml"],
    );
    the_lab_keeps_working(lab);
}

fn an_unknown_kind_is_refused_naming_the_kind(lab: &TestLab) {
    apply_fails_clearly(
        lab,
        "apiVersion: v1\nkind: Sevice\nmetadata:\n  name: typo\nspec:\n  ports:\n  - port: 80\n",
        &["Sevice"],
    );
    the_lab_keeps_working(lab);
}

fn missing_fields_are_refused_naming_the_field(lab: &TestLab) {
    apply_fails_clearly(
        lab,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: noports\nspec:\n  selector:\n    app: x\n",
        &["spec.ports", "Required"],
    );
    apply_fails_clearly(
        lab,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nocontainers\nspec: {}\n",
        &["spec.containers", "Required"],
    );
    assert!(
        !lab.kubectl(&["get", "service", "noports"]).success(),
        "nothing was created"
    );
    the_lab_keeps_working(lab);
}

fn a_service_selecting_nothing_has_no_endpoints_and_rejects(lab: &TestLab) {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: empty\nspec:\n  selector:\n    app: no-such-app\n  ports:\n  - port: 80\n";
    let out = lab.kubectl_stdin(&["apply", "-f", "-"], yaml);
    assert!(
        out.success(),
        "a Service selecting nothing is valid: {}",
        out.stderr
    );
    let described = lab.kubectl_ok(&["get", "endpoints", "empty"]);
    assert!(
        described.contains("<none>"),
        "kubectl shows no endpoints: {described}"
    );
    let vip = lab.get_json(&["service", "empty"])["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    wait_for(
        "the REJECT rule for service empty",
        Duration::from_secs(5),
        || {
            let from_node = lab.sh(lab.node(1), &format!("curl -sS -m 3 http://{vip}/"));
            (from_node.code == 7).then_some(())
        },
    );
    // Rejected, not dropped: nc fails at once with "Connection refused".
    let t = std::time::Instant::now();
    let out = lab.sh(lab.node(2), &format!("nc -v -z -w 3 {vip} 80"));
    assert!(
        !out.success() && out.stderr.contains("refused"),
        "from node-2, nc says the connection was refused: {}",
        out.stderr
    );
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "refused at once, not timed out"
    );
    the_lab_keeps_working(lab);
}

fn a_duplicate_node_port_is_refused_as_already_allocated(lab: &TestLab) {
    let svc = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  type: NodePort\n  selector:\n    app: ok\n  ports:\n  - port: 80\n    nodePort: 30080\n"
        )
    };
    let first = lab.kubectl_stdin(&["apply", "-f", "-"], &svc("np-a"));
    assert!(
        first.success(),
        "the first NodePort 30080: {}",
        first.stderr
    );
    apply_fails_clearly(lab, &svc("np-b"), &["30080", "already allocated"]);
    assert!(
        !lab.kubectl(&["get", "service", "np-b"]).success(),
        "np-b was not created"
    );
    let port = lab.get_json(&["service", "np-a"])["spec"]["ports"][0]["nodePort"].clone();
    assert_eq!(port, 30080, "np-a keeps its port");
    the_lab_keeps_working(lab);
}

fn a_pod_name_that_is_too_long_is_refused(lab: &TestLab) {
    let name = "p".repeat(254);
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: nginx\n"
    );
    apply_fails_clearly(lab, &yaml, &["must be no more than 253 characters"]);
    let out = lab.kubectl(&["run", &"q".repeat(254), "--image=nginx"]);
    assert!(
        !out.success(),
        "kubectl run with a 254-character name fails"
    );
    assert!(
        out.stderr.contains("253"),
        "and says the limit: {}",
        out.stderr
    );
    the_lab_keeps_working(lab);
}

#[test]
#[ignore = "needs Docker and root"]
fn bad_input_gets_clear_errors_and_the_lab_keeps_working() {
    let lab = TestLab::up("hs-bad");
    let scenarios: &[Scenario] = &[
        (
            "malformed YAML is refused with the parse error",
            malformed_yaml_is_refused_with_the_parse_error,
        ),
        (
            "an unknown kind is refused naming the kind",
            an_unknown_kind_is_refused_naming_the_kind,
        ),
        (
            "missing fields are refused naming the field",
            missing_fields_are_refused_naming_the_field,
        ),
        (
            "a Service selecting nothing has no endpoints and rejects connections",
            a_service_selecting_nothing_has_no_endpoints_and_rejects,
        ),
        (
            "a duplicate NodePort is refused as already allocated",
            a_duplicate_node_port_is_refused_as_already_allocated,
        ),
        (
            "a pod name that is too long is refused",
            a_pod_name_that_is_too_long_is_refused,
        ),
    ];
    run_scenarios(&lab, scenarios);
}
