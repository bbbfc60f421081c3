//! End-to-end: kubectl against the real lab API server, started in-process on 127.0.0.1:0
//! (no Docker, no root). Each test has its own server, data directory and kubeconfig.

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;

struct Lab {
    server: EmbeddedServer,
    dir: tempfile::TempDir,
}

struct Out {
    code: u8,
    out: String,
    err: String,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let server = EmbeddedServer::start(dir.path(), Config::default()).unwrap();
        Lab { server, dir }
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Out {
        let mut argv = vec!["kubectl".to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        argv.push(format!("--server={}", self.server.url()));
        argv.push(format!(
            "--kubeconfig={}",
            self.dir.path().join("kubeconfig").display()
        ));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = kplab_agent::kubectl::run(&argv, &mut stdin.as_bytes(), &mut out, &mut err);
        Out {
            code,
            out: String::from_utf8(out).unwrap(),
            err: String::from_utf8(err).unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with_stdin(args, "")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "kubectl {args:?} failed: {}", o.err);
        o.out
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
    let lab = Lab::new();
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
    let lab = Lab::new();
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
fn apply_is_atomic_on_invalid_documents() {
    let lab = Lab::new();
    let bad = format!("{WEB}---\napiVersion: v1\nkind: Foo\nmetadata:\n  name: x\n");
    let f = lab.file("bad.yaml", &bad);
    let o = lab.run(&["apply", "-f", &f]);
    assert_eq!(o.code, 1);
    assert_eq!(o.out, "");
    assert_eq!(
        o.err,
        format!("error: resource mapping not found for name: \"x\" namespace: \"\" from \"{f}\": no matches for kind \"Foo\" in version \"v1\"\nensure CRDs are installed first\n")
    );
    let o = lab.run(&["get", "deploy,svc", "web"]);
    assert_eq!(o.code, 1);
    assert!(
        o.err
            .contains("Error from server (NotFound): deployments.apps \"web\" not found"),
        "{}",
        o.err
    );
    assert!(
        o.err
            .ends_with("Error from server (NotFound): services \"web\" not found\n"),
        "{}",
        o.err
    );

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
    let lab = Lab::new();
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
fn client_side_dry_run_prints_the_object() {
    let lab = Lab::new();
    let y = lab.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    assert_eq!(
        y,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  creationTimestamp: null\n  labels:\n    app: web\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  strategy: {}\n  template:\n    metadata:\n      creationTimestamp: null\n      labels:\n        app: web\n    spec:\n      containers:\n      - image: nginx\n        name: nginx\n        resources: {}\nstatus: {}\n"
    );
    assert_eq!(lab.run(&["get", "deploy", "web"]).code, 1);
}

#[test]
fn errors_use_kubectl_wording() {
    let lab = Lab::new();
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
    let o = lab.run(&["get", "pods", "--bogus"]);
    assert_eq!(
        o.err,
        "Error: unknown flag: --bogus\nSee 'kubectl get --help' for usage.\n"
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

    let argv: Vec<String> = ["kubectl", "get", "pods", "--server=http://127.0.0.1:1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kplab_agent::kubectl::run(&argv, &mut std::io::empty(), &mut out, &mut err);
    assert_eq!(code, 1);
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?\n"
    );
}

#[test]
fn context_namespace_is_remembered() {
    let lab = Lab::new();
    lab.ok(&["create", "ns", "team-a"]);
    assert_eq!(
        lab.ok(&["config", "set-context", "--current", "--namespace=team-a"]),
        "Context \"kplab-admin@kplab\" modified.\n"
    );
    let o = lab.run(&["get", "svc"]);
    assert_eq!(o.err, "No resources found in team-a namespace.\n");
    assert!(lab
        .ok(&["config", "view"])
        .contains("    namespace: team-a\n"));
}

#[test]
fn sort_by_ignore_not_found_and_show_kind() {
    let lab = Lab::new();
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

/// A writer that forwards what kubectl prints to a channel (for `get -w`, which never returns).
struct ChanWriter(std::sync::mpsc::Sender<Vec<u8>>);

impl std::io::Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn watch_prints_a_row_per_change() {
    let lab = Lab::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let argv: Vec<String> = [
        "kubectl".to_string(),
        format!("--server={}", lab.server.url()),
        "get".into(),
        "ns".into(),
        "-w".into(),
    ]
    .to_vec();
    std::thread::spawn(move || {
        let mut out = ChanWriter(tx);
        let _ =
            kplab_agent::kubectl::run(&argv, &mut std::io::empty(), &mut out, &mut std::io::sink());
    });
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut created = false;
    while std::time::Instant::now() < deadline && !seen.contains("\nwatched ") {
        if let Ok(chunk) = rx.recv_timeout(std::time::Duration::from_millis(100)) {
            seen.push_str(&String::from_utf8(chunk).unwrap());
        }
        if !created && seen.contains("kube-system") {
            lab.ok(&["create", "ns", "watched"]);
            created = true;
        }
    }
    assert!(
        seen.starts_with("NAME              STATUS   AGE\n"),
        "{seen}"
    );
    assert!(seen.contains("\nwatched           Active   "), "{seen}");
    // The watching kubectl never returns and keeps its stream open, which would hold the
    // server's graceful shutdown: leave both to the end of the test process.
    std::mem::forget(lab);
}

#[test]
fn client_dry_runs_change_nothing() {
    let lab = Lab::new();
    lab.ok(&["create", "deployment", "web", "--image=nginx"]);
    assert_eq!(
        lab.ok(&["scale", "deploy", "web", "--replicas=5", "--dry-run=client"]),
        "deployment.apps/web scaled (dry run)\n"
    );
    assert_eq!(
        lab.ok(&["label", "deploy", "web", "x=y", "--dry-run=client"]),
        "deployment.apps/web labeled (dry run)\n"
    );
    assert_eq!(
        lab.ok(&[
            "patch",
            "deploy",
            "web",
            "-p",
            "{\"spec\":{\"replicas\":7}}",
            "--dry-run=client"
        ]),
        "deployment.apps/web patched (dry run)\n"
    );
    assert_eq!(
        lab.ok(&["delete", "deploy", "web", "--dry-run=client"]),
        "deployment.apps \"web\" deleted (dry run)\n"
    );
    assert_eq!(
        lab.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.labels}"
        ]),
        "1 {\"app\":\"web\"}"
    );
    let o = lab.run(&["delete", "deploy", "web", "--dry-run=server"]);
    assert_eq!(
        o.err,
        "error: kplab's API server does not implement server-side dry run: use --dry-run=client\n"
    );
    assert_eq!(lab.run(&["get", "deploy", "web"]).code, 0);
}

#[test]
fn edit_runs_the_editor_and_replaces() {
    let lab = Lab::new();
    lab.ok(&["create", "deployment", "web", "--image=nginx"]);
    // The "editor" is a sed script, given to kubectl as KUBE_EDITOR would be.
    let editor = lab.file(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/replicas: 1/replicas: 3/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // SAFETY of the environment: only this test reads KUBE_EDITOR.
    std::env::set_var("KUBE_EDITOR", &editor);
    assert_eq!(
        lab.ok(&["edit", "deploy", "web"]),
        "deployment.apps/web edited\n"
    );
    assert_eq!(
        lab.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    assert_eq!(
        lab.ok(&["edit", "deploy/web"]),
        "Edit cancelled, no changes made.\n"
    );
}

#[test]
fn the_multi_call_binary_reads_kplab_apiserver() {
    let lab = Lab::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kplab-agent"))
        .args(["kubectl", "get", "svc", "kubernetes", "-o", "name"])
        .env("KPLAB_APISERVER", lab.server.url())
        .env("KUBECONFIG", lab.dir.path().join("kubeconfig"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "service/kubernetes\n"
    );
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_kplab-agent"))
        .args(["kubectl", "get", "pod", "nope"])
        .env("KPLAB_APISERVER", lab.server.url())
        .env("KUBECONFIG", lab.dir.path().join("kubeconfig"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(missing.stderr).unwrap(),
        "Error from server (NotFound): pods \"nope\" not found\n"
    );
}

#[test]
fn wait_for_conditions_jsonpath_and_deletion() {
    use kplab_agent::kube::client::{ApiClient, PODS};
    let lab = Lab::new();
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
    assert_eq!(
        (o.code, o.err.as_str()),
        (1, "error: timed out waiting for the condition on pods/b\n")
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

#[test]
fn custom_columns() {
    let lab = Lab::new();
    lab.ok(&["run", "a", "--image=nginx", "--labels=app=w,tier=x"]);
    lab.ok(&["run", "bb", "--image=nginx"]);
    assert_eq!(
        lab.ok(&[
            "get",
            "pods",
            "-o",
            "custom-columns=NAME:.metadata.name,APP:metadata.labels.app,IMAGES:{.spec.containers[*].image},LABELS:.metadata.labels"
        ]),
        "NAME   APP      IMAGES   LABELS\n\
         a      w        nginx    map[app:w tier:x]\n\
         bb     <none>   nginx    map[run:bb]\n"
    );
    assert_eq!(
        lab.ok(&[
            "get",
            "pod",
            "a",
            "-o=custom-columns=N:.metadata.name",
            "--no-headers"
        ]),
        "a\n"
    );
    let file = lab.file(
        "cols.txt",
        "NAME    PHASE\n.metadata.name   {.status.phase}\n",
    );
    assert_eq!(
        lab.ok(&["get", "pods", &format!("-ocustom-columns-file={file}")]),
        "NAME   PHASE\na      Pending\nbb     Pending\n"
    );
    for (spec, want) in [
        ("custom-columns", "error: custom-columns format specified but no custom columns given\n"),
        ("custom-columns=NAME", "error: unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>\n"),
        ("custom-columns=N:{.a", "error: unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'\n"),
    ] {
        let o = lab.run(&["get", "pods", "-o", spec]);
        assert_eq!((o.code, o.err.as_str()), (1, want), "{spec}");
    }
}
