//! The lab API server as real clients read it: server-side Tables and metadata-only answers,
//! discovery, access reviews, list pagination and watch semantics, over HTTP and through the
//! real kubectl binaries (`/usr/lib/google-cloud-sdk/bin/kubectl.1.3x`).

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use kplab_agent::kube::client::{ApiClient, DEPLOYMENTS, PODS, SERVICES};
use serde_json::{json, Value};

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn start(dir: &tempfile::TempDir) -> EmbeddedServer {
    EmbeddedServer::start(dir.path(), Config::default()).expect("server starts")
}

fn pod(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}})
}

fn seed(c: &ApiClient) {
    c.create(&PODS, Some("default"), &pod("web-1", json!({"app": "web"})))
        .unwrap();
    c.create(
        &SERVICES,
        Some("default"),
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"tier": "front"}},
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80, "nodePort": 30080}]}}),
    )
    .unwrap();
    c.create(
        &DEPLOYMENTS,
        Some("default"),
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "nginx:1.27"}]}}}}),
    )
    .unwrap();
}

/// GET with an Accept header: (status, JSON body, Content-Type).
fn get(url: &str, accept: &str) -> (u16, Value, String) {
    let r = match ureq::get(url).set("Accept", accept).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let code = r.status();
    let ct = r.header("Content-Type").unwrap_or("").to_string();
    let text = r.into_string().unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ct,
    )
}

#[test]
fn tables_and_partial_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    seed(&s.client());
    let (code, t, _) = get(
        &format!("{}/api/v1/namespaces/default/services", s.url()),
        TABLE,
    );
    assert_eq!(code, 200);
    assert_eq!(t["kind"], "Table");
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    let web = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"][0] == "web")
        .expect("the web row");
    assert_eq!(web["cells"][1], "NodePort");
    assert_eq!(web["cells"][3], "<none>");
    assert_eq!(web["cells"][4], "80:30080/TCP");
    assert_eq!(web["cells"][6], "app=web");
    assert_eq!(web["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(web["object"]["metadata"]["labels"]["tier"], "front");
    assert!(t["metadata"]["resourceVersion"].is_string());

    let (_, one, _) = get(
        &format!(
            "{}/apis/apps/v1/namespaces/default/deployments/api?includeObject=Object",
            s.url()
        ),
        TABLE,
    );
    assert_eq!(one["rows"][0]["cells"][1], "0/2");
    assert_eq!(one["rows"][0]["object"]["spec"]["replicas"], 2);

    let (_, p, _) = get(
        &format!("{}/api/v1/pods", s.url()),
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
    );
    assert_eq!(p["kind"], "PartialObjectMetadataList");
    assert_eq!(p["items"][0]["metadata"]["name"], "web-1");
    assert!(p["items"][0].get("spec").is_none());
    let (_, p, _) = get(
        &format!("{}/api/v1/namespaces/default/pods/web-1", s.url()),
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
    );
    assert_eq!(p["kind"], "PartialObjectMetadata");
    let (code, e, _) = get(
        &format!("{}/api/v1/pods", s.url()),
        "application/json;as=Table;g=meta.k8s.io;v=v9",
    );
    assert_eq!((code, e["reason"].as_str()), (406, Some("NotAcceptable")));
}

#[test]
fn pagination_and_list_resource_versions() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    for i in 0..5 {
        c.create(&PODS, Some("default"), &pod(&format!("p{i}"), json!({})))
            .unwrap();
    }
    let mut names = Vec::new();
    let mut cont = String::new();
    let mut pages = 0;
    loop {
        let (code, l, _) = get(
            &format!(
                "{}/api/v1/namespaces/default/pods?limit=2&continue={cont}",
                s.url()
            ),
            "application/json",
        );
        assert_eq!(code, 200, "{l}");
        pages += 1;
        for i in l["items"].as_array().unwrap() {
            names.push(i["metadata"]["name"].as_str().unwrap().to_string());
        }
        match l["metadata"]["continue"].as_str() {
            Some(t) => {
                assert_eq!(
                    l["metadata"]["remainingItemCount"].as_u64().unwrap() as usize,
                    5 - names.len()
                );
                cont = t.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4"]);
    let (code, e, _) = get(
        &format!("{}/api/v1/pods?continue=%21%21", s.url()),
        "application/json",
    );
    assert_eq!(code, 400, "{e}");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .starts_with("continue key is not valid"));
    let (code, e, _) = get(
        &format!("{}/api/v1/pods?resourceVersion=999999", s.url()),
        "application/json",
    );
    assert_eq!(code, 504, "{e}");
    assert_eq!(
        e["message"],
        format!(
            "Too large resource version: 999999, current: {}",
            current_rv(&s)
        )
    );
    let (code, e, _) = get(
        &format!("{}/api/v1/pods?resourceVersionMatch=Exact", s.url()),
        "application/json",
    );
    assert_eq!(code, 422, "{e}");
    let (code, e, _) = get(
        &format!("{}/api/v1/pods?fieldSelector=spec.foo%3Dx", s.url()),
        "application/json",
    );
    assert_eq!(
        (code, e["message"].as_str()),
        (400, Some("field label not supported: spec.foo"))
    );
}

fn current_rv(s: &EmbeddedServer) -> String {
    let (_, l, _) = get(
        &format!("{}/api/v1/namespaces", s.url()),
        "application/json",
    );
    l["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Reads watch events until `n` arrived or `timeout` passed.
fn watch_events(url: &str, accept: &str, n: usize, act: impl FnOnce()) -> Vec<Value> {
    let r = ureq::get(url)
        .set("Accept", accept)
        .call()
        .expect("watch starts");
    let mut lines = BufReader::new(r.into_reader()).lines();
    let mut out = Vec::new();
    let mut act = Some(act);
    let deadline = Instant::now() + Duration::from_secs(10);
    while out.len() < n && Instant::now() < deadline {
        if out.len() == 1 {
            if let Some(a) = act.take() {
                a();
            }
        }
        match lines.next() {
            Some(Ok(l)) if l.trim().is_empty() => {}
            Some(Ok(l)) => out.push(serde_json::from_str(&l).unwrap()),
            _ => break,
        }
    }
    out
}

#[test]
fn watch_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    c.create(&PODS, Some("default"), &pod("a", json!({"app": "web"})))
        .unwrap();
    // sendInitialEvents: ADDED for the state, then a bookmark marking the end; a pod leaving
    // the selection is DELETED, one entering it ADDED.
    let url = format!(
        "{}/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dweb&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=10",
        s.url()
    );
    let c2 = s.client();
    let evs = watch_events(&url, "application/json", 4, move || {
        c2.merge_patch(
            &PODS,
            Some("default"),
            "a",
            &json!({"metadata": {"labels": {"app": "other"}}}),
        )
        .unwrap();
        c2.merge_patch(
            &PODS,
            Some("default"),
            "a",
            &json!({"metadata": {"labels": {"app": "web"}}}),
        )
        .unwrap();
    });
    let types: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ADDED", "BOOKMARK", "DELETED", "ADDED"], "{evs:?}");
    assert_eq!(
        evs[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(evs[2]["object"]["metadata"]["labels"]["app"], "other");
    // A field selector too: the pod leaving `status.phase=Pending` is DELETED for the watcher.
    let url = format!(
        "{}/api/v1/pods?watch=true&fieldSelector=status.phase%3DPending&timeoutSeconds=10",
        s.url()
    );
    let c4 = s.client();
    let evs = watch_events(&url, "application/json", 2, move || {
        c4.patch_status(
            &PODS,
            Some("default"),
            "a",
            &json!({"status": {"phase": "Running"}}),
        )
        .unwrap();
    });
    let types: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ADDED", "DELETED"], "{evs:?}");
    assert_eq!(evs[1]["object"]["status"]["phase"], "Running");
    // sendInitialEvents needs allowWatchBookmarks, as upstream validates.
    let (code, e, _) = get(
        &format!(
            "{}/api/v1/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
            s.url()
        ),
        "application/json",
    );
    assert_eq!(code, 422, "{e}");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("sendInitialEvents requires setting allowWatchBookmarks to true"));
    // A Table watch: one-row Tables, the column definitions on the first event only.
    let c3 = s.client();
    let url = format!(
        "{}/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=10",
        s.url()
    );
    let evs = watch_events(&url, TABLE, 2, move || {
        c3.create(&PODS, Some("default"), &pod("b", json!({})))
            .unwrap();
    });
    assert_eq!(evs[0]["object"]["kind"], "Table");
    assert!(evs[0]["object"]["columnDefinitions"].is_array());
    assert!(evs[1]["object"]["columnDefinitions"].is_null());
    assert_eq!(evs[1]["object"]["rows"][0]["cells"][0], "b");
    // After a restart the history starts over: an older version is 410 Gone.
    let url = s.url().trim_start_matches("http://").to_string();
    s.stop().unwrap();
    let s = EmbeddedServer::start_at(dir.path(), Config::default(), &url).unwrap();
    let evs = watch_events(
        &format!("{}/api/v1/pods?watch=true&resourceVersion=1", s.url()),
        "application/json",
        1,
        || {},
    );
    assert_eq!(evs[0]["type"], "ERROR");
    assert_eq!(evs[0]["object"]["code"], 410);
    assert_eq!(evs[0]["object"]["reason"], "Expired");
    assert!(evs[0]["object"]["message"]
        .as_str()
        .unwrap()
        .starts_with("too old resource version: 1 ("));
}

#[test]
fn discovery_reviews_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let (_, d, ct) = get(
        &format!("{}/apis", s.url()),
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    );
    assert_eq!(
        ct,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let apps = d["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .unwrap();
    let deploy = &apps["versions"][0]["resources"][0];
    assert_eq!(deploy["resource"], "deployments");
    assert_eq!(deploy["categories"], json!(["all"]));
    assert!(deploy["subresources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["subresource"] == "scale" && s["responseKind"]["group"] == "autoscaling"));
    let (_, core, ct) = get(
        &format!("{}/api", s.url()),
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
    );
    assert!(ct.contains("v=v2beta1"));
    assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2beta1");
    let (_, legacy, _) = get(&format!("{}/api/v1", s.url()), "application/json");
    let names: Vec<&str> = legacy["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for n in [
        "pods/log",
        "pods/exec",
        "pods/attach",
        "pods/portforward",
        "pods/binding",
        "pods/status",
        "pods/eviction",
    ] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    let (_, authz, _) = get(
        &format!("{}/apis/authorization.k8s.io/v1", s.url()),
        "application/json",
    );
    assert_eq!(authz["resources"][0]["verbs"], json!(["create"]));
    let r: Value = ureq::post(&format!(
        "{}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        s.url()
    ))
    .send_json(
        json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}}),
    )
    .unwrap()
    .into_json()
    .unwrap();
    assert_eq!(r["status"]["allowed"], true);
    let text = ureq::get(&format!("{}/livez?verbose", s.url()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(text.ends_with("livez check passed\n"), "{text}");
}

// ---- the real kubectl ----

fn kubectl_bin(minor: u32) -> String {
    format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}")
}

struct Kubectl {
    bin: String,
    kubeconfig: std::path::PathBuf,
    cache: tempfile::TempDir,
}

impl Kubectl {
    fn new(minor: u32, s: &EmbeddedServer, dir: &std::path::Path) -> Kubectl {
        let kubeconfig = dir.join(format!("kubeconfig-{minor}"));
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: {}\n  name: lab\ncontexts:\n- context:\n    cluster: lab\n    user: admin\n  name: lab\ncurrent-context: lab\nusers:\n- name: admin\n  user: {{}}\n",
                s.url()
            ),
        )
        .unwrap();
        Kubectl {
            bin: kubectl_bin(minor),
            kubeconfig,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args);
        c
    }

    /// (exit ok, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let o = self.cmd(args).output().expect("kubectl runs");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "{} {args:?}: {err}", self.bin);
        out
    }
}

/// The header line and the first cells of each line, whitespace-collapsed.
fn lines(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn real_kubectl_reads_tables_discovery_and_reviews() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    seed(&s.client());
    for minor in [29, 31, 33] {
        let k = Kubectl::new(minor, &s, dir.path());
        let out = k.ok(&["get", "pods,svc", "-o", "wide"]);
        let l = lines(&out);
        assert_eq!(
            l[0],
            [
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED",
                "NODE",
                "READINESS",
                "GATES"
            ],
            "1.{minor}: {out}"
        );
        assert_eq!(
            l[1][..4],
            ["pod/web-1", "0/1", "Pending", "0"],
            "1.{minor}: {out}"
        );
        assert_eq!(
            l[1][5..],
            ["<none>", "<none>", "<none>", "<none>"],
            "1.{minor}: {out}"
        );
        assert_eq!(
            l[2],
            [
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
                "SELECTOR"
            ]
        );
        let web = l
            .iter()
            .find(|r| r[0] == "service/web")
            .expect("service/web");
        assert_eq!(web[1], "NodePort");
        assert_eq!(web[3..5], ["<none>", "80:30080/TCP"]);
        assert_eq!(web[6], "app=web");

        let all = k.ok(&["get", "all", "-A"]);
        assert!(all.contains("deployment.apps/api"), "1.{minor}: {all}");
        assert!(all.contains("service/kubernetes"), "1.{minor}: {all}");
        assert!(lines(&all)[0].starts_with(&["NAMESPACE".to_string(), "NAME".to_string()]));
        let labels = k.ok(&["get", "svc", "web", "--show-labels"]);
        assert!(
            lines(&labels)[1].last().unwrap() == "tier=front",
            "{labels}"
        );
        let sel = k.ok(&["get", "svc", "--field-selector", "metadata.name=web"]);
        assert_eq!(lines(&sel).len(), 2, "{sel}");
        let (ok, _, err) = k.run(&["get", "pods", "--field-selector", "spec.foo=x"]);
        assert!(!ok);
        assert!(err.contains("field label not supported: spec.foo"), "{err}");
        let ar = k.ok(&["api-resources", "-o", "wide"]);
        let pods = lines(&ar).into_iter().find(|r| r[0] == "pods").unwrap();
        assert_eq!(pods.last().unwrap(), "all", "{ar}");
        let deploy = k.ok(&["get", "deploy", "-o", "wide"]);
        assert_eq!(
            lines(&deploy)[0],
            [
                "NAME",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "AGE",
                "CONTAINERS",
                "IMAGES",
                "SELECTOR"
            ]
        );
        assert!(k.ok(&["api-versions"]).contains("authorization.k8s.io/v1"));
        {
            // 1.32+ post reviews as protobuf, answered without decoding.
            assert_eq!(k.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
            let list = k.ok(&["auth", "can-i", "--list"]);
            assert!(list.contains("*.*"), "{list}");
            let who = k.ok(&["auth", "whoami"]);
            assert!(who.contains("kubernetes-admin"), "{who}");
            assert!(who.contains("system:masters"), "{who}");
        }
    }
}

#[test]
fn real_kubectl_watches_and_waits() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let c = s.client();
    c.create(&PODS, Some("default"), &pod("w", json!({})))
        .unwrap();
    let k = Kubectl::new(31, &s, dir.path());
    let mut child = k
        .cmd(&["get", "pods", "-w", "--request-timeout=8s"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let header = out.next().unwrap().unwrap();
    assert!(header.starts_with("NAME"), "{header}");
    assert!(out.next().unwrap().unwrap().starts_with("w "));
    c.create(&PODS, Some("default"), &pod("x", json!({})))
        .unwrap();
    let line = out.next().unwrap().unwrap();
    assert!(line.starts_with("x "), "{line}");
    assert!(line.contains("Pending"), "{line}");
    let _ = child.kill();
    let _ = child.wait();

    // wait --for=delete returns once the pod is gone.
    let c2 = s.client();
    let deleter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        c2.delete(&PODS, Some("default"), "x", Some(0)).unwrap();
    });
    let w = k
        .cmd(&["wait", "--for=delete", "pod/x", "--timeout=20s"])
        .output()
        .unwrap();
    deleter.join().unwrap();
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    assert!(String::from_utf8_lossy(&w.stdout).contains("pod/x condition met"));
}
