//! The OpenAPI documents as the real kubectl uses them: `explain` (v3), `apply` with
//! validation (kubectl finds `fieldValidation` in the v3 paths and lets the server reject
//! unknown fields), and the documents' shape.

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use serde_json::Value;

fn start(dir: &tempfile::TempDir) -> EmbeddedServer {
    EmbeddedServer::start(
        dir.path(),
        Config {
            advertise_address: Some("127.0.0.1".into()),
            advertise_port: 6443,
        },
    )
    .expect("server starts")
}

fn kubectl(version: &str, dir: &std::path::Path, url: &str, args: &[&str]) -> (bool, String) {
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {url}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: lab\n  context: {{cluster: lab, user: u}}\ncurrent-context: lab\n"),
    )
    .unwrap();
    let out =
        std::process::Command::new(format!("/usr/lib/google-cloud-sdk/bin/kubectl.{version}"))
            .arg("--kubeconfig")
            .arg(&kc)
            .arg("--cache-dir")
            .arg(dir.join(format!("cache-{version}")))
            .args(args)
            .output()
            .expect("the versioned kubectl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_v3_index_and_documents_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let idx: Value = ureq::get(&format!("{}/openapi/v3", s.url()))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let url = idx["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
    let doc: Value = ureq::get(&format!("{}{url}", s.url()))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let svc = &doc["components"]["schemas"]["io.k8s.api.core.v1.Service"];
    assert_eq!(svc["x-kubernetes-group-version-kind"][0]["kind"], "Service");
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Service");
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    let v2: Value = ureq::get(&format!("{}/openapi/v2", s.url()))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(v2["swagger"], "2.0");
    assert!(v2["definitions"]["io.k8s.api.apps.v1.Deployment"].is_object());
    let e = ureq::get(&format!("{}/openapi/v3/apis/nope/v1", s.url()))
        .call()
        .unwrap_err();
    assert!(matches!(e, ureq::Error::Status(404, _)));
    s.stop().unwrap();
}

#[test]
fn explain_and_apply_with_the_real_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let good = dir.path().join("svc.yaml");
    std::fs::write(&good, "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8080\n").unwrap();
    let changed = dir.path().join("svc2.yaml");
    std::fs::write(&changed, "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 9090\n").unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  bogus: 1\n  ports:\n  - port: 80\n").unwrap();
    for v in ["1.29", "1.33"] {
        let k = |args: &[&str]| kubectl(v, dir.path(), s.url(), args);
        let (ok, out) = k(&["explain", "svc.spec.ports"]);
        assert!(ok, "{out}");
        assert!(
            out.starts_with("KIND:       Service\nVERSION:    v1\n\nFIELD: ports <[]ServicePort>"),
            "{out}"
        );
        assert!(out.contains("  port\t<integer> -required-\n    The port the Service listens on, at its ClusterIP."), "{out}");
        assert!(out.contains("  targetPort\t<IntOrString>\n"), "{out}");
        let (ok, out) = k(&["explain", "deploy.spec", "--recursive"]);
        assert!(ok, "{out}");
        assert!(
            out.contains("GROUP:      apps\nKIND:       Deployment"),
            "{out}"
        );
        assert!(out.contains("  selector\t<LabelSelector> -required-\n    matchExpressions\t<[]LabelSelectorRequirement>"), "{out}");
        let (ok, out) = k(&["explain", "svc.spec.nope"]);
        assert!(
            !ok && out.contains("field \"nope\" does not exist"),
            "{out}"
        );

        let (ok, out) = k(&["apply", "-f", bad.to_str().unwrap()]);
        assert!(!ok);
        assert!(out.contains("Service in version \"v1\" cannot be handled as a Service: strict decoding error: unknown field \"spec.bogus\""), "{out}");
        let (ok, out) = k(&["apply", "-f", good.to_str().unwrap()]);
        assert!(ok && out.trim() == "service/web created", "{out}");
        let (ok, out) = k(&["apply", "-f", good.to_str().unwrap()]);
        assert!(ok && out.trim() == "service/web unchanged", "{out}");
        let (ok, out) = k(&["apply", "-f", bad.to_str().unwrap()]);
        assert!(
            !ok && out.contains("strict decoding error: unknown field \"spec.bogus\""),
            "{out}"
        );
        let (ok, out) = k(&["delete", "-f", good.to_str().unwrap()]);
        assert!(ok, "{out}");
    }
    s.stop().unwrap();
}

/// kubectl replace, edit and apply send back what the server returned with
/// `fieldValidation=Strict`: every field the server writes must be in the schema.
#[test]
fn the_server_writes_no_field_the_schema_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    for args in [
        &["create", "deployment", "web", "--image=nginx", "--port=80"][..],
        &[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--type=NodePort",
        ],
        &["run", "p", "--image=nginx", "--labels=app=web"],
    ] {
        let (ok, out) = kubectl("1.33", dir.path(), s.url(), args);
        assert!(ok, "{out}");
    }
    let mut checked = 0;
    for k in kubeschema::kinds().iter().filter(|k| !k.plural.is_empty()) {
        let prefix = if k.group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{}/{}", k.group, k.version)
        };
        let Ok(resp) = ureq::get(&format!("{}{prefix}/{}", s.url(), k.plural)).call() else {
            continue;
        };
        let list: Value = resp.into_json().unwrap();
        for item in list["items"].as_array().into_iter().flatten() {
            let mut item = item.clone();
            item["apiVersion"] = k.api_version().into();
            item["kind"] = k.kind.into();
            let unknown = kubeschema::unknown_fields(&item).unwrap();
            assert!(
                unknown.is_empty(),
                "{} {}: {unknown:?}",
                k.kind,
                item["metadata"]["name"]
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "bootstrap objects and the ones created: {checked}"
    );
    s.stop().unwrap();
}
