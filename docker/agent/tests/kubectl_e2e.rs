//! End-to-end: the real kubectl against the real lab API server, started in-process on
//! 127.0.0.1:0 (no Docker, no root). Each test has its own server, data directory and
//! kubeconfig. What is checked is what the server stores and answers (objects, tables,
//! errors, watches), as the real kubectl shows it.

mod common;

use common::{Kubectl, Out};
use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;

struct Lab {
    server: EmbeddedServer,
    dir: tempfile::TempDir,
    k: Kubectl,
}

impl Lab {
    /// None (the test skips) without a real kubectl.
    fn new() -> Option<Lab> {
        let Some(bin) = common::real_kubectl() else {
            eprintln!(
                "SKIPPED: no real kubectl.{} (none beside `kubectl` on PATH, none in /usr/lib/google-cloud-sdk/bin)",
                common::VERSION
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let server = EmbeddedServer::start(&dir.path().join("api"), Config::default()).unwrap();
        let k = Kubectl::new(bin, dir.path(), server.url());
        Some(Lab { server, dir, k })
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Out {
        self.k.run_with_stdin(args, stdin)
    }

    fn run(&self, args: &[&str]) -> Out {
        self.k.run(args)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.k.ok(args)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

/// Replaces the AGE cell (the last column) so tables can be compared exactly.
fn no_age(table: &str) -> String {
    table
        .lines()
        .map(|l| match l.rfind("   ") {
            Some(i) if !l.ends_with("AGE") => format!("{}   <age>", &l[..i].trim_end()),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const WEB: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
    nodePort: 30080
";

#[test]
fn namespaces_and_builtin_services() {
    let Some(lab) = Lab::new() else { return };
    assert_eq!(
        no_age(&lab.ok(&["get", "ns"])),
        "NAME              STATUS   AGE\ndefault           Active   <age>\nkube-node-lease   Active   <age>\nkube-public       Active   <age>\nkube-system       Active   <age>"
    );
    let svc = lab.ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}:{.spec.ports[0].port}",
    ]);
    assert_eq!(svc, "10.96.0.1:443");
    let names = lab.ok(&["get", "ns", "-o", "name"]);
    assert!(names.starts_with("namespace/default\n"), "{names}");
}

#[test]
fn apply_creates_then_is_unchanged_then_configured() {
    let Some(lab) = Lab::new() else { return };
    let f = lab.file("web.yaml", WEB);
    assert_eq!(
        lab.ok(&["apply", "-f", &f]),
        "deployment.apps/web created\nservice/web created\n"
    );
    assert_eq!(
        lab.ok(&["apply", "-f", &f]),
        "deployment.apps/web unchanged\nservice/web unchanged\n"
    );
    let f2 = lab.file("web2.yaml", &WEB.replace("replicas: 2", "replicas: 3"));
    assert_eq!(
        lab.ok(&["apply", "-f", &f2]),
        "deployment.apps/web configured\nservice/web unchanged\n"
    );
    assert_eq!(
        lab.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    let t = lab.ok(&["get", "svc", "web"]);
    let cells: Vec<&str> = t.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(cells[..2], ["web", "NodePort"], "{t}");
    assert!(cells[2].starts_with("10."), "{t}");
    assert_eq!(cells[3..5], ["<none>", "80:30080/TCP"], "{t}");
    assert!(t.starts_with("NAME   TYPE       CLUSTER-IP "), "{t}");
    // describe service shows kubectl's layout
    let d = lab.ok(&["describe", "svc", "web"]);
    assert!(
        d.starts_with("Name:                     web\nNamespace:                default\n"),
        "{d}"
    );
    assert!(d.contains("\nPort:                     <unset>  80/TCP\nTargetPort:               80/TCP\nNodePort:                 <unset>  30080/TCP\n"), "{d}");
    assert!(d.contains("\nExternal Traffic Policy:  Cluster\n"), "{d}");
    // the same manifest from stdin
    let o = lab.run_with_stdin(
        &["apply", "-f", "-"],
        &std::fs::read_to_string(&f2).unwrap(),
    );
    assert_eq!(
        o.out, "deployment.apps/web unchanged\nservice/web unchanged\n",
        "{}",
        o.err
    );
}

#[test]
fn apply_reports_unknown_kinds_and_invalid_documents() {
    let Some(lab) = Lab::new() else { return };
    // A kind the server does not serve: kubectl applies the documents it can map and names
    // the one it cannot (the discovery the server publishes decides which).
    let bad = format!("{WEB}---\napiVersion: v1\nkind: Foo\nmetadata:\n  name: x\n");
    let f = lab.file("bad.yaml", &bad);
    let o = lab.run(&["apply", "-f", &f]);
    assert_eq!(o.code, 1);
    assert_eq!(o.out, "deployment.apps/web created\nservice/web created\n");
    assert_eq!(
        o.err,
        format!("error: resource mapping not found for name: \"x\" namespace: \"\" from \"{f}\": no matches for kind \"Foo\" in version \"v1\"\nensure CRDs are installed first\n")
    );
    assert_eq!(lab.run(&["get", "deploy,svc", "web"]).code, 0);

    let syntax = lab.file(
        "syntax.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n   bad: x\n",
    );
    let o = lab.run(&["apply", "-f", &syntax]);
    assert_eq!(o.code, 1);
    assert!(
        o.err.starts_with(&format!(
            "error: error parsing {syntax}: error converting YAML to JSON: yaml: line "
        )),
        "{}",
        o.err
    );

    let missing = lab.file(
        "missing.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: nope\nspec:\n  selector: {app: x}\n",
    );
    let o = lab.run(&["apply", "-f", &missing]);
    assert_eq!(
        o.err,
        "The Service \"nope\" is invalid: spec.ports: Required value\n"
    );
    assert_eq!(lab.run(&["get", "svc", "nope"]).code, 1);
}

#[test]
fn imperative_commands() {
    let Some(lab) = Lab::new() else { return };
    assert_eq!(
        lab.ok(&["create", "namespace", "dev"]),
        "namespace/dev created\n"
    );
    assert_eq!(
        lab.ok(&[
            "create",
            "deployment",
            "web",
            "--image=registry.k8s.io/nginx:1.27",
            "--replicas=2",
            "--port=8080",
            "-n",
            "dev"
        ]),
        "deployment.apps/web created\n"
    );
    assert_eq!(
        lab.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "dev",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].name} {.spec.selector.matchLabels.app}"
        ]),
        "nginx web"
    );
    assert_eq!(
        lab.ok(&[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
            "--type=NodePort",
            "-n",
            "dev"
        ]),
        "service/web exposed\n"
    );
    let ports = lab.ok(&[
        "get",
        "svc",
        "web",
        "-n",
        "dev",
        "-o",
        "jsonpath={.spec.ports[0].port}/{.spec.ports[0].targetPort} {.spec.selector}",
    ]);
    assert_eq!(ports, "80/8080 {\"app\":\"web\"}");
    // Without --port, the container port is used for both ends.
    assert_eq!(
        lab.ok(&["expose", "deploy", "web", "--name=web2", "-n", "dev"]),
        "service/web2 exposed\n"
    );
    let ports = lab.ok(&[
        "get",
        "svc",
        "web2",
        "-n",
        "dev",
        "-o",
        "jsonpath={.spec.ports[0].port}/{.spec.ports[0].targetPort}",
    ]);
    assert_eq!(ports, "8080/8080");
    assert_eq!(
        lab.ok(&["scale", "deploy/web", "--replicas=4", "-n", "dev"]),
        "deployment.apps/web scaled\n"
    );
    assert_eq!(
        lab.ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "dev",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "4"
    );
    assert_eq!(
        lab.ok(&["label", "svc", "web", "tier=fe", "-n", "dev"]),
        "service/web labeled\n"
    );
    let o = lab.run(&["label", "svc", "web", "tier=be", "-n", "dev"]);
    assert_eq!(
        o.err,
        "error: 'tier' already has a value (fe), and --overwrite is false\n"
    );
    assert_eq!(
        lab.ok(&["label", "svc", "web", "tier=be", "--overwrite", "-n", "dev"]),
        "service/web labeled\n"
    );
    assert_eq!(
        lab.ok(&["label", "svc", "web", "tier-", "-n", "dev"]),
        "service/web unlabeled\n"
    );
    assert_eq!(
        lab.ok(&[
            "patch",
            "svc",
            "web",
            "-n",
            "dev",
            "-p",
            "{\"spec\":{\"sessionAffinity\":\"ClientIP\"}}"
        ]),
        "service/web patched\n"
    );
    assert_eq!(
        lab.ok(&[
            "patch",
            "svc",
            "web",
            "-n",
            "dev",
            "--type",
            "merge",
            "-p",
            "{\"spec\":{\"sessionAffinity\":\"ClientIP\"}}"
        ]),
        "service/web patched (no change)\n"
    );
    let t = lab.ok(&["get", "all", "-n", "dev"]);
    assert!(
        t.starts_with("NAME           TYPE        CLUSTER-IP "),
        "{t}"
    );
    assert!(t.contains("\nservice/web    NodePort    10."), "{t}");
    assert!(t.contains("\nservice/web2   ClusterIP   10."), "{t}");
    assert!(
        t.contains("\n\nNAME                  READY   UP-TO-DATE   AVAILABLE   AGE\n"),
        "{t}"
    );
    assert!(
        t.contains("deployment.apps/web   0/4     0            0           "),
        "{t}"
    );
    assert_eq!(
        lab.ok(&["delete", "svc", "web", "web2", "-n", "dev"]),
        "service \"web\" deleted\nservice \"web2\" deleted\n"
    );
    assert_eq!(
        lab.ok(&["delete", "deployment", "web", "-n", "dev"]),
        "deployment.apps \"web\" deleted\n"
    );
    let o = lab.run(&["get", "deploy", "-n", "dev"]);
    assert_eq!(
        (o.code, o.out.as_str(), o.err.as_str()),
        (0, "", "No resources found in dev namespace.\n")
    );
}

#[test]
fn errors_use_kubectl_wording() {
    let Some(lab) = Lab::new() else { return };
    let o = lab.run(&["get", "pods", "nope"]);
    assert_eq!(
        (o.code, o.err.as_str()),
        (1, "Error from server (NotFound): pods \"nope\" not found\n")
    );
    let o = lab.run(&["get", "foo"]);
    assert_eq!(
        o.err,
        "error: the server doesn't have a resource type \"foo\"\n"
    );
    let o = lab.run(&["create", "namespace", "kube-system"]);
    assert_eq!(
        o.err,
        "Error from server (AlreadyExists): namespaces \"kube-system\" already exists\n"
    );
    let o = lab.run(&["get", "pods"]);
    assert_eq!(
        (o.code, o.err.as_str()),
        (0, "No resources found in default namespace.\n")
    );
}

#[test]
fn sort_by_ignore_not_found_and_show_kind() {
    let Some(lab) = Lab::new() else { return };
    for n in ["b-ns", "a-ns"] {
        lab.ok(&["create", "ns", n]);
    }
    let names = lab.ok(&["get", "ns", "--sort-by=.metadata.name", "-o", "name"]);
    assert!(
        names.starts_with("namespace/a-ns\nnamespace/b-ns\nnamespace/default\n"),
        "{names}"
    );
    let o = lab.run(&["get", "svc", "nope", "--ignore-not-found"]);
    assert_eq!((o.code, o.out.as_str(), o.err.as_str()), (0, "", ""));
    let t = lab.ok(&["get", "svc", "kubernetes", "--show-kind"]);
    assert!(
        t.lines()
            .nth(1)
            .unwrap()
            .starts_with("service/kubernetes   ClusterIP   10.96.0.1"),
        "{t}"
    );
}

#[test]
fn watch_prints_a_row_per_change() {
    let Some(lab) = Lab::new() else { return };
    let mut child = lab
        .k
        .command(&["get", "ns", "-w"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut created = false;
    while std::time::Instant::now() < deadline && !seen.contains("\nwatched ") {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(100)) {
            seen.push_str(&line);
            seen.push('\n');
        }
        if !created && seen.contains("kube-system") {
            lab.ok(&["create", "ns", "watched"]);
            created = true;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.starts_with("NAME              STATUS   AGE\n"),
        "{seen}"
    );
    assert!(seen.contains("\nwatched           Active   "), "{seen}");
}

#[test]
fn server_dry_runs_change_nothing() {
    let Some(lab) = Lab::new() else { return };
    lab.ok(&["create", "deployment", "web", "--image=nginx"]);
    // The server answers `dryRun=All` requests with what it would store, and stores nothing.
    for (args, want) in [
        (
            &["scale", "deploy", "web", "--replicas=5", "--dry-run=server"][..],
            "deployment.apps/web scaled (server dry run)\n",
        ),
        (
            &["label", "deploy", "web", "x=y", "--dry-run=server"],
            "deployment.apps/web labeled (server dry run)\n",
        ),
        (
            &[
                "patch",
                "deploy",
                "web",
                "-p",
                "{\"spec\":{\"replicas\":7}}",
                "--dry-run=server",
            ],
            "deployment.apps/web patched\n",
        ),
        (
            &[
                "create",
                "deployment",
                "other",
                "--image=nginx",
                "--dry-run=server",
            ],
            "deployment.apps/other created (server dry run)\n",
        ),
        (
            &["delete", "deploy", "web", "--dry-run=server"],
            "deployment.apps \"web\" deleted (server dry run)\n",
        ),
    ] {
        let o = lab.run(args);
        assert_eq!((o.code, o.out.as_str()), (0, want), "{args:?}: {}", o.err);
    }
    assert_eq!(
        lab.ok(&[
            "get",
            "deploy",
            "-o",
            "jsonpath={.items[*].metadata.name} {.items[*].spec.replicas} {.items[*].metadata.labels}"
        ]),
        "web 1 {\"app\":\"web\"}"
    );
}

#[test]
fn edit_runs_the_editor_and_replaces() {
    let Some(lab) = Lab::new() else { return };
    lab.ok(&["create", "deployment", "web", "--image=nginx"]);
    // The "editor" is a sed script, given to kubectl as KUBE_EDITOR.
    let editor = lab.file(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/replicas: 1/replicas: 3/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let edit = |args: &[&str]| {
        let o = lab.k.run_env(args, "", &[("KUBE_EDITOR", editor.as_str())]);
        assert_eq!(o.code, 0, "{o:?}");
        o.out
    };
    assert_eq!(
        edit(&["edit", "deploy", "web"]),
        "deployment.apps/web edited\n"
    );
    assert_eq!(
        lab.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    assert_eq!(
        lab.k
            .run_env(&["edit", "deploy/web"], "", &[("KUBE_EDITOR", "true")])
            .err,
        "Edit cancelled, no changes made.\n"
    );
}

#[test]
fn wait_for_conditions_jsonpath_and_deletion() {
    use kplab_agent::kube::client::{ApiClient, PODS};
    let Some(lab) = Lab::new() else { return };
    lab.ok(&["run", "a", "--image=nginx", "--labels=app=w"]);
    lab.ok(&["run", "b", "--image=nginx", "--labels=app=w"]);

    // Not ready yet: `--timeout=0` looks once, a short timeout gives up with kubectl's words.
    let o = lab.run(&["wait", "--for=condition=Ready", "pod/a", "--timeout=0"]);
    assert_eq!(
        (o.code, o.err.as_str()),
        (1, "error: condition not met for pods/a\n")
    );
    let o = lab.run(&["wait", "--for=condition=Ready", "pod/a", "--timeout=300ms"]);
    assert_eq!(
        (o.code, o.err.as_str()),
        (1, "error: timed out waiting for the condition on pods/a\n")
    );

    // The pods become ready while kubectl waits for them by selector.
    let url = lab.server.url().to_string();
    let kubelet = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(400));
        let c = ApiClient::new(&url);
        for p in ["a", "b"] {
            let ready = serde_json::json!({"status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}]}});
            c.patch_status(&PODS, Some("default"), p, &ready).unwrap();
        }
    });
    let o = lab.run(&["wait", "--for=condition=ready", "pods", "-l", "app=w"]);
    kubelet.join().unwrap();
    assert_eq!(
        (o.code, o.out.as_str()),
        (0, "pod/a condition met\npod/b condition met\n"),
        "{}",
        o.err
    );
    assert_eq!(
        lab.ok(&["wait", "--for=jsonpath={.status.phase}=Running", "pod", "a"]),
        "pod/a condition met\n"
    );
    assert_eq!(
        lab.ok(&[
            "wait",
            r#"--for=jsonpath={.status.conditions[?(@.type=="Ready")].status}=True"#,
            "pod/b"
        ]),
        "pod/b condition met\n"
    );

    // Deletion: an object that goes away is "met", one that never existed is skipped.
    lab.ok(&["delete", "pod", "a", "--wait=false"]);
    let o = lab.run(&["wait", "--for=delete", "pod/a", "pod/b", "--timeout=500ms"]);
    // (client-go may warn first that its watch, cut by the timeout, lasted under a second.)
    assert_eq!(o.code, 1, "{}", o.err);
    assert!(
        o.err
            .ends_with("error: timed out waiting for the condition on pods/b\n"),
        "{}",
        o.err
    );
    lab.ok(&["delete", "pod", "b", "--grace-period=0", "--force"]);
    assert_eq!(lab.ok(&["wait", "--for=delete", "pod/b", "pod/never"]), "");

    // What kubectl says about bad requests.
    for (args, want) in [
        (
            &["wait", "pods", "-l", "app=none", "--for=condition=Ready"][..],
            "error: no matching resources found\n",
        ),
        (
            &["wait", "pod/x", "--for=ready"][..],
            "error: unrecognized condition: \"ready\"\n",
        ),
        (
            &["wait", "pods", "--for=delete"][..],
            "error: resource(s) were provided, but no name was specified\n",
        ),
        (
            &["wait", "pod/x", "--for=condition=Ready"][..],
            "Error from server (NotFound): pods \"x\" not found\n",
        ),
    ] {
        let o = lab.run(args);
        assert_eq!((o.code, o.err.as_str()), (1, want), "{args:?}");
    }
}
