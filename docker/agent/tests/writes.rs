//! Writes as kubectl makes them, over HTTP against the in-process server: the four patch types,
//! server-side apply and its managedFields, dryRun, fieldValidation, optimistic concurrency,
//! generation and the scale / status subresources; then the real kubectl binaries (1.29 to
//! 1.33) through apply (client- and server-side), patch, label, scale, set image, edit, replace,
//! diff and a server-side dry run.

use std::path::Path;
use std::process::Command;

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use serde_json::{json, Value};

fn start(dir: &tempfile::TempDir) -> EmbeddedServer {
    EmbeddedServer::start(dir.path(), Config::default()).expect("server starts")
}

struct Answer {
    code: u16,
    body: Value,
    warnings: Vec<String>,
}

fn call(srv: &EmbeddedServer, method: &str, path: &str, ct: &str, body: &str) -> Answer {
    let url = format!("{}{path}", srv.url());
    let req = ureq::request(method, &url)
        .set("Content-Type", ct)
        .set("User-Agent", "kubectl/v1.31.0 (linux/amd64) kubernetes/abc");
    let resp = if body.is_empty() {
        req.call()
    } else {
        req.send_string(body)
    };
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let code = resp.status();
    let warnings = resp.all("Warning").iter().map(|s| s.to_string()).collect();
    let text = resp.into_string().expect("a body");
    Answer {
        code,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        warnings,
    }
}

const JSON: &str = "application/json";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";
const SVCS: &str = "/api/v1/namespaces/default/services";

fn deployment(replicas: i64, image: &str) -> Value {
    json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
        "spec":{"replicas":replicas,"selector":{"matchLabels":{"app":"web"}},
        "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
            {"name":"nginx","image":image,"ports":[{"containerPort":80}]}]}}}})
}

fn create_web(srv: &EmbeddedServer, manager: &str) -> Value {
    let a = call(
        srv,
        "POST",
        &format!("{DEPLOYS}?fieldManager={manager}"),
        JSON,
        &deployment(2, "nginx:1.25").to_string(),
    );
    assert_eq!(a.code, 201, "{}", a.body);
    a.body
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or("").to_string(),
                        e["operation"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn strategic_merge_patch_merges_containers_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir);
    create_web(&srv, "kubectl-create");
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web?fieldManager=kubectl-set"),
        "application/strategic-merge-patch+json",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}"#,
    );
    assert_eq!(a.code, 200, "{}", a.body);
    let c = &a.body["spec"]["template"]["spec"]["containers"];
    assert_eq!(c.as_array().unwrap().len(), 1);
    assert_eq!(c[0]["image"], "nginx:1.27");
    assert_eq!(c[0]["ports"][0]["containerPort"], 80, "the ports stay");
    assert_eq!(
        a.body["metadata"]["generation"], 2,
        "a spec change bumps it"
    );
    assert!(managers(&a.body).contains(&("kubectl-set".into(), "Update".into())));
    // A metadata-only change does not.
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web"),
        "application/strategic-merge-patch+json",
        r#"{"metadata":{"labels":{"tier":"front"}}}"#,
    );
    assert_eq!(a.body["metadata"]["generation"], 2);
    assert!(
        managers(&a.body).contains(&("kubectl".into(), "Update".into())),
        "the manager defaults to the User-Agent's program: {:?}",
        managers(&a.body)
    );
    // A malformed directive is a 400 with apimachinery's words.
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web"),
        "application/strategic-merge-patch+json",
        r#"{"metadata":{"$deleteFromPrimitiveList":["x"]}}"#,
    );
    assert_eq!(a.code, 400);
    assert_eq!(a.body["message"], "invalid patch format of primitive list");
}

#[test]
fn json_patch_and_its_failures() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir);
    create_web(&srv, "kubectl-create");
    let jp = "application/json-patch+json";
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web"),
        jp,
        r#"[{"op":"test","path":"/spec/replicas","value":2},{"op":"replace","path":"/spec/replicas","value":5}]"#,
    );
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.body["spec"]["replicas"], 5);
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web"),
        jp,
        r#"[{"op":"test","path":"/spec/replicas","value":2}]"#,
    );
    assert_eq!(a.code, 422);
    assert_eq!(a.body["reason"], "Invalid");
    assert_eq!(
        a.body["message"],
        "the server rejected our request due to an error in our request"
    );
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web"),
        jp,
        r#"{"op":"add"}"#,
    );
    assert_eq!(a.code, 400);
    assert_eq!(
        a.body["message"],
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
    );
    let a = call(&srv, "PATCH", &format!("{DEPLOYS}/web"), "text/plain", "{}");
    assert_eq!(a.code, 415);
}

#[test]
fn server_side_apply_owns_conflicts_and_removes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir);
    create_web(&srv, "kubectl-client-side-apply");
    let ap = "application/apply-patch+yaml";
    // fieldManager is required.
    let a = call(&srv, "PATCH", &format!("{DEPLOYS}/web"), ap, "{}");
    assert_eq!(a.code, 422);
    assert_eq!(
        a.body["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    // force is for apply only.
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web?force=true"),
        "application/merge-patch+json",
        "{}",
    );
    assert_eq!(a.code, 422);
    // A different replicas value conflicts with the field's owner.
    let cfg = deployment(3, "nginx:1.25");
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web?fieldManager=kubectl"),
        ap,
        &cfg.to_string(),
    );
    assert_eq!(a.code, 409, "{}", a.body);
    assert_eq!(a.body["reason"], "Conflict");
    assert_eq!(
        a.body["message"],
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
    assert_eq!(a.body["details"]["causes"][0]["field"], ".spec.replicas");
    assert_eq!(
        a.body["details"]["causes"][0]["reason"],
        "FieldManagerConflict"
    );
    // Forced, it takes the field.
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web?fieldManager=kubectl&force=true"),
        ap,
        &cfg.to_string(),
    );
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.body["spec"]["replicas"], 3);
    assert!(managers(&a.body).contains(&("kubectl".into(), "Apply".into())));
    // A field the schema does not have fails the apply, whatever fieldValidation says.
    let mut bad = cfg.clone();
    bad["spec"]["template"]["spec"]["containers"][0]["imagex"] = json!("y");
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web?fieldManager=kubectl&fieldValidation=Ignore"),
        ap,
        &bad.to_string(),
    );
    assert_eq!(a.code, 400);
    assert_eq!(
        a.body["message"],
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers[name=\"nginx\"].imagex: field not declared in schema"
    );
    // Apply creates, in YAML; re-applying without a label removes it.
    let yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  labels: {app: api, tier: back}\nspec:\n  selector: {app: api}\n  ports:\n  - port: 80\n";
    let a = call(
        &srv,
        "PATCH",
        &format!("{SVCS}/api?fieldManager=kubectl"),
        ap,
        yaml,
    );
    assert_eq!(a.code, 201, "{}", a.body);
    let f = &a.body["metadata"]["managedFields"][0]["fieldsV1"];
    assert!(f["f:spec"]["f:ports"]
        .get("k:{\"port\":80,\"protocol\":\"TCP\"}")
        .is_some());
    let a = call(
        &srv,
        "PATCH",
        &format!("{SVCS}/api?fieldManager=kubectl"),
        ap,
        &yaml.replace(", tier: back", ""),
    );
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.body["metadata"]["labels"], json!({"app":"api"}));
    // The same apply again is no write at all.
    let rv = a.body["metadata"]["resourceVersion"].clone();
    let a = call(
        &srv,
        "PATCH",
        &format!("{SVCS}/api?fieldManager=kubectl"),
        ap,
        &yaml.replace(", tier: back", ""),
    );
    assert_eq!(a.code, 200);
    assert_eq!(a.body["metadata"]["resourceVersion"], rv);
}

#[test]
fn dry_run_validates_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir);
    let a = call(
        &srv,
        "POST",
        &format!("{DEPLOYS}?dryRun=All"),
        JSON,
        &deployment(2, "nginx").to_string(),
    );
    assert_eq!(a.code, 201, "{}", a.body);
    assert_eq!(a.body["metadata"]["name"], "web");
    assert!(a.body["metadata"].get("resourceVersion").is_none());
    assert_eq!(
        call(&srv, "GET", &format!("{DEPLOYS}/web"), JSON, "").code,
        404
    );
    // Invalid is still invalid.
    let a = call(
        &srv,
        "POST",
        &format!("{DEPLOYS}?dryRun=All"),
        JSON,
        &deployment(-1, "nginx").to_string(),
    );
    assert_eq!(a.code, 422);
    create_web(&srv, "kubectl-create");
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web?dryRun=All"),
        "application/merge-patch+json",
        r#"{"spec":{"replicas":9}}"#,
    );
    assert_eq!(a.body["spec"]["replicas"], 9);
    let a = call(
        &srv,
        "DELETE",
        &format!("{DEPLOYS}/web?dryRun=All"),
        JSON,
        "",
    );
    assert_eq!(a.code, 200);
    let live = call(&srv, "GET", &format!("{DEPLOYS}/web"), JSON, "");
    assert_eq!(live.code, 200);
    assert_eq!(live.body["spec"]["replicas"], 2);
}

#[test]
fn field_validation_strict_warn_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir);
    let mut d = deployment(1, "nginx");
    d["spec"]["foo"] = json!(1);
    let a = call(
        &srv,
        "POST",
        &format!("{DEPLOYS}?fieldValidation=Strict"),
        JSON,
        &d.to_string(),
    );
    assert_eq!(a.code, 400);
    assert_eq!(a.body["reason"], "BadRequest");
    assert_eq!(
        a.body["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.foo\""
    );
    // Duplicates too, in document order, and in a patch.
    let a = call(
        &srv,
        "POST",
        &format!("{DEPLOYS}?fieldValidation=Strict"),
        JSON,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","name":"d"},"spec":{"paused":true,"paused":false}}"#,
    );
    assert_eq!(a.code, 400);
    assert_eq!(
        a.body["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: duplicate field \"metadata.name\", duplicate field \"spec.paused\""
    );
    let a = call(
        &srv,
        "POST",
        &format!("{DEPLOYS}?fieldValidation=Warn"),
        JSON,
        &d.to_string(),
    );
    assert_eq!(a.code, 201);
    assert_eq!(a.warnings, ["299 - \"unknown field \\\"spec.foo\\\"\""]);
    assert!(
        a.body["spec"].get("foo").is_none(),
        "dropped as the typed decode does"
    );
    let a = call(
        &srv,
        "PUT",
        &format!("{DEPLOYS}/web?fieldValidation=Ignore"),
        JSON,
        &d.to_string(),
    );
    assert_eq!(a.code, 200, "{}", a.body);
    assert!(a.warnings.is_empty());
    assert!(a.body["spec"].get("foo").is_none());
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web?fieldValidation=Strict"),
        "application/merge-patch+json",
        r#"{"spec":{"paused":true,"paused":false,"bar":1}}"#,
    );
    assert_eq!(a.code, 400);
    assert_eq!(
        a.body["message"],
        "strict decoding error: duplicate field \"spec.paused\", unknown field \"spec.bar\""
    );
    let a = call(
        &srv,
        "POST",
        &format!("{DEPLOYS}?fieldValidation=Loose"),
        JSON,
        &d.to_string(),
    );
    assert_eq!(a.code, 422);
}

#[test]
fn optimistic_concurrency_and_already_exists() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir);
    let created = create_web(&srv, "kubectl-create");
    let a = call(
        &srv,
        "POST",
        DEPLOYS,
        JSON,
        &deployment(2, "nginx").to_string(),
    );
    assert_eq!(a.code, 409);
    assert_eq!(a.body["reason"], "AlreadyExists");
    assert_eq!(a.body["message"], "deployments.apps \"web\" already exists");
    let mut stale = created.clone();
    call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web"),
        "application/merge-patch+json",
        r#"{"spec":{"replicas":3}}"#,
    );
    stale["spec"]["replicas"] = json!(7);
    let a = call(
        &srv,
        "PUT",
        &format!("{DEPLOYS}/web"),
        JSON,
        &stale.to_string(),
    );
    assert_eq!(a.code, 409);
    assert_eq!(a.body["reason"], "Conflict");
    assert_eq!(
        a.body["message"],
        "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(a.body["details"]["name"], "web");
    // A PUT of the live object without its managedFields changes nothing.
    let mut live = call(&srv, "GET", &format!("{DEPLOYS}/web"), JSON, "").body;
    live["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    let a = call(
        &srv,
        "PUT",
        &format!("{DEPLOYS}/web"),
        JSON,
        &live.to_string(),
    );
    assert_eq!(a.code, 200);
    assert_eq!(
        a.body["metadata"]["resourceVersion"],
        live["metadata"]["resourceVersion"]
    );
    assert!(a.body["metadata"]["managedFields"].is_array());
    // A patch that names a stale version conflicts too.
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap();
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web"),
        "application/merge-patch+json",
        &json!({"metadata":{"resourceVersion":rv},"spec":{"replicas":4}}).to_string(),
    );
    assert_eq!(a.code, 409);
}

#[test]
fn scale_and_status_change_only_their_part() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir);
    create_web(&srv, "kubectl-create");
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web/scale"),
        "application/merge-patch+json",
        r#"{"spec":{"replicas":3}}"#,
    );
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.body["kind"], "Scale");
    assert_eq!(a.body["spec"]["replicas"], 3);
    let a = call(
        &srv,
        "PATCH",
        &format!("{DEPLOYS}/web/scale"),
        "application/json-patch+json",
        r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
    );
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.body["spec"]["replicas"], 4);
    let live = call(&srv, "GET", &format!("{DEPLOYS}/web"), JSON, "").body;
    assert_eq!(live["spec"]["replicas"], 4);
    assert!(live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["subresource"] == "scale"));
    // A status write does not touch the spec.
    let mut s = live.clone();
    s["spec"]["replicas"] = json!(9);
    s["status"] = json!({"replicas": 4, "readyReplicas": 4});
    let a = call(
        &srv,
        "PUT",
        &format!("{DEPLOYS}/web/status"),
        JSON,
        &s.to_string(),
    );
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.body["spec"]["replicas"], 4);
    assert_eq!(a.body["status"]["readyReplicas"], 4);
    assert_eq!(a.body["metadata"]["generation"], 3);
}

/// The real kubectl binaries on this machine, 1.29 and up.
fn kubectls() -> Vec<(String, std::path::PathBuf)> {
    (29..=33)
        .map(|m| {
            (
                format!("1.{m}"),
                Path::new("/usr/lib/google-cloud-sdk/bin").join(format!("kubectl.1.{m}")),
            )
        })
        .filter(|(_, p)| p.exists())
        .collect()
}

struct Kubectl<'a> {
    bin: &'a Path,
    dir: &'a Path,
}

impl Kubectl<'_> {
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let mut c = Command::new(self.bin);
        c.arg("--kubeconfig")
            .arg(self.dir.join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(args)
            .current_dir(self.dir);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.run_env(args, &[]);
        assert!(ok, "kubectl {args:?} failed: {text}");
        text
    }

    fn fails(&self, args: &[&str]) -> String {
        let (ok, text) = self.run_env(args, &[]);
        assert!(!ok, "kubectl {args:?} should fail: {text}");
        text
    }
}

const DEPLOY_YAML: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: IMAGE
        ports:
        - containerPort: 80
";

#[test]
fn real_kubectl_writes() {
    let bins = kubectls();
    assert!(!bins.is_empty(), "no kubectl.1.29..1.33 on this machine");
    for (version, bin) in &bins {
        let dir = tempfile::tempdir().unwrap();
        let srv = start(&dir);
        let work = tempfile::tempdir().unwrap();
        std::fs::write(
            work.path().join("kubeconfig"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: {}\n  name: lab\ncontexts:\n- context:\n    cluster: lab\n    user: lab\n  name: lab\ncurrent-context: lab\nusers:\n- name: lab\n  user: {{}}\n",
                srv.url()
            ),
        )
        .unwrap();
        let write = |name: &str, replicas: &str, image: &str| {
            std::fs::write(
                work.path().join(name),
                DEPLOY_YAML
                    .replace("REPLICAS", replicas)
                    .replace("IMAGE", image),
            )
            .unwrap();
        };
        write("d1.yaml", "2", "nginx:1.25");
        write("d2.yaml", "3", "nginx:1.26");
        let k = Kubectl {
            bin,
            dir: work.path(),
        };
        let get = |path: &str| k.ok(&["get", "deploy", "web", "-o", &format!("jsonpath={path}")]);
        let nv = ["--validate=false"];
        let with = |args: &[&str]| -> Vec<String> {
            args.iter()
                .chain(nv.iter())
                .map(|s| s.to_string())
                .collect()
        };
        let run = |args: Vec<String>| -> String {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            k.ok(&a)
        };
        assert_eq!(
            run(with(&["apply", "-f", "d1.yaml"])),
            "deployment.apps/web created\n",
            "{version}"
        );
        assert_eq!(
            run(with(&["apply", "-f", "d2.yaml"])),
            "deployment.apps/web configured\n"
        );
        assert_eq!(
            get("{.spec.replicas} {.spec.template.spec.containers[0].image}"),
            "3 nginx:1.26"
        );
        assert_eq!(
            run(with(&["apply", "-f", "d2.yaml"])),
            "deployment.apps/web unchanged\n"
        );
        // Server-side apply over a client-side applied field.
        write("ssa.yaml", "5", "nginx:1.26");
        let a: Vec<String> = with(&["apply", "--server-side", "-f", "ssa.yaml"]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = k.fails(&a);
        assert!(
            out.starts_with("error: Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas\n"),
            "{version}: {out}"
        );
        assert_eq!(
            run(with(&[
                "apply",
                "--server-side",
                "--force-conflicts",
                "-f",
                "ssa.yaml"
            ])),
            "deployment.apps/web serverside-applied\n"
        );
        assert_eq!(get("{.spec.replicas}"), "5");
        // Patches of every type, label, annotate, scale, set image.
        k.ok(&[
            "patch",
            "deploy",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"A","value":"1"}]}]}}}}"#,
        ]);
        k.ok(&[
            "patch",
            "deploy",
            "web",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"paused":true}}"#,
        ]);
        k.ok(&[
            "patch",
            "deploy",
            "web",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/spec/paused","value":false}]"#,
        ]);
        let out = k.fails(&[
            "patch",
            "deploy",
            "web",
            "--type",
            "json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":99}]"#,
        ]);
        assert_eq!(
            out,
            "The request is invalid: the server rejected our request due to an error in our request\n"
        );
        assert_eq!(
            k.ok(&["label", "deploy", "web", "tier=front"]),
            "deployment.apps/web labeled\n"
        );
        let out = k.fails(&["label", "deploy", "web", "tier=back"]);
        assert!(
            out.contains("'tier' already has a value (front), and --overwrite is false"),
            "{out}"
        );
        k.ok(&["label", "deploy", "web", "tier=back", "--overwrite"]);
        k.ok(&["annotate", "deploy", "web", "note=hello"]);
        assert_eq!(
            k.ok(&["scale", "deploy", "web", "--replicas=4"]),
            "deployment.apps/web scaled\n"
        );
        assert_eq!(
            k.ok(&["set", "image", "deploy/web", "nginx=nginx:1.27"]),
            "deployment.apps/web image updated\n"
        );
        assert_eq!(
            get("{.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].name} {.metadata.labels.tier} {.metadata.annotations.note}"),
            "4 nginx:1.27 A back hello"
        );
        // edit with a scripted editor.
        let ed = work.path().join("ed.sh");
        std::fs::write(
            &ed,
            "#!/bin/sh\nsed -i 's/image: nginx:1.27/image: nginx:1.28/' \"$1\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&ed, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let (ok, out) = k.run_env(
            &["edit", "deploy", "web", "--validate=false"],
            &[("EDITOR", ed.to_str().unwrap())],
        );
        assert!(ok, "{out}");
        assert_eq!(out, "deployment.apps/web edited\n");
        assert_eq!(
            get("{.spec.template.spec.containers[0].image}"),
            "nginx:1.28"
        );
        // replace, then replace again with the now stale resourceVersion.
        let live = k.ok(&["get", "deploy", "web", "-o", "yaml"]);
        std::fs::write(
            work.path().join("live.yaml"),
            live.replace("paused: false", "paused: true"),
        )
        .unwrap();
        assert_eq!(
            run(with(&["replace", "-f", "live.yaml"])),
            "deployment.apps/web replaced\n"
        );
        let a = with(&["replace", "-f", "live.yaml"]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        assert_eq!(
            k.fails(&a),
            "Error from server (Conflict): error when replacing \"live.yaml\": Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again\n"
        );
        // diff (a server-side dry run) shows the change and changes nothing.
        let (ok, out) = k.run_env(&["diff", "-f", "d1.yaml"], &[]);
        assert!(!ok, "diff exits 1 when there are differences");
        assert!(out.contains("-  replicas: 4\n+  replicas: 2\n"), "{out}");
        assert_eq!(get("{.spec.replicas}"), "4");
        // create --dry-run=server answers the would-be object.
        std::fs::write(
            work.path().join("pod.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: dry\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
        )
        .unwrap();
        let out = run(with(&[
            "create",
            "-f",
            "pod.yaml",
            "--dry-run=server",
            "-o",
            "yaml",
        ]));
        assert!(
            out.contains("  name: dry\n") && out.contains("  uid: "),
            "{out}"
        );
        let out = k.fails(&["get", "pod", "dry"]);
        assert_eq!(
            out,
            "Error from server (NotFound): pods \"dry\" not found\n"
        );
        drop(srv);
    }
}

const ENV_V1: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: env
spec:
  selector:
    matchLabels: {app: env}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 2}
  template:
    metadata:
      labels: {app: env}
    spec:
      volumes:
      - name: v
        emptyDir: {}
      containers:
      - name: a
        image: nginx
        args: ['x', 'y']
        env:
        - {name: A, value: '1'}
        - {name: B, value: '2'}
        ports:
        - {containerPort: 80}
        - {containerPort: 81}
      - name: b
        image: busybox
";

const ENV_V2: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: env
spec:
  selector:
    matchLabels: {app: env}
  strategy:
    type: Recreate
  template:
    metadata:
      labels: {app: env}
    spec:
      volumes:
      - name: v
        configMap: {name: cm}
      containers:
      - name: a
        image: nginx
        args: ['y']
        env:
        - {name: C, value: '3'}
        - {name: A, value: '1'}
        ports:
        - {containerPort: 81}
";

/// kubectl's three-way patch (deletions, `$setElementOrder`, `$retainKeys`) applied by the
/// server: what the manifest drops goes, in the manifest's order.
#[test]
fn real_kubectl_client_side_apply_removes_what_the_manifest_drops() {
    let bins = kubectls();
    let (_, bin) = bins.last().expect("a kubectl 1.29..1.33");
    let dir = tempfile::tempdir().unwrap();
    let srv = start(&dir);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("kubeconfig"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: {}\n  name: lab\ncontexts:\n- context:\n    cluster: lab\n    user: lab\n  name: lab\ncurrent-context: lab\nusers:\n- name: lab\n  user: {{}}\n",
            srv.url()
        ),
    )
    .unwrap();
    std::fs::write(work.path().join("v1.yaml"), ENV_V1).unwrap();
    std::fs::write(work.path().join("v2.yaml"), ENV_V2).unwrap();
    let k = Kubectl {
        bin,
        dir: work.path(),
    };
    k.ok(&["apply", "-f", "v1.yaml", "--validate=false"]);
    assert_eq!(
        k.ok(&["apply", "-f", "v2.yaml", "--validate=false"]),
        "deployment.apps/env configured\n"
    );
    let d: Value = serde_json::from_str(&k.ok(&["get", "deploy", "env", "-o", "json"])).unwrap();
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    let t = &d["spec"]["template"]["spec"];
    assert_eq!(
        t["volumes"],
        json!([{"name": "v", "configMap": {"name": "cm"}}])
    );
    assert_eq!(t["containers"].as_array().unwrap().len(), 1);
    let c = &t["containers"][0];
    assert_eq!(c["args"], json!(["y"]));
    assert_eq!(
        c["env"],
        json!([{"name": "C", "value": "3"}, {"name": "A", "value": "1"}])
    );
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 81, "protocol": "TCP"}])
    );
    assert_eq!(
        k.ok(&["apply", "-f", "v2.yaml", "--validate=false"]),
        "deployment.apps/env unchanged\n"
    );
}
