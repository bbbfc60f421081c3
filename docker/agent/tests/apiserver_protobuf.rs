//! Content negotiation of the lab API server: protobuf bodies in and out (objects, lists,
//! Status errors, DeleteOptions, watch frames), 406, and the real kubectl's typed creates.

use std::io::Read;

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;
use serde_json::json;
use serde_json::Value;

const PB: &str = "application/vnd.kubernetes.protobuf";

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

/// (status, content type, body) of a request, 4xx/5xx included.
fn call(
    method: &str,
    url: &str,
    ct: Option<&str>,
    accept: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut req = ureq::request(method, url).set("Accept", accept);
    if let Some(ct) = ct {
        req = req.set("Content-Type", ct);
    }
    let resp = match if body.is_empty() {
        req.call()
    } else {
        req.send_bytes(body)
    } {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let code = resp.status();
    let ct = resp.content_type().to_string();
    let mut out = Vec::new();
    resp.into_reader().read_to_end(&mut out).unwrap();
    (code, ct, out)
}

#[test]
fn protobuf_bodies_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let base = s.url().to_string();
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}});
    let body = kubeschema::encode(&svc).unwrap();
    let url = format!("{base}/api/v1/namespaces/default/services");
    let (code, ct, out) = call(
        "POST",
        &url,
        Some(PB),
        &format!("{PB}, application/json"),
        &body,
    );
    assert_eq!((code, ct.as_str()), (201, PB));
    let created = kubeschema::decode(&out).unwrap();
    assert_eq!(created["kind"], "Service");
    assert!(created["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .starts_with("10."));
    assert_eq!(created["spec"]["ports"][0]["targetPort"], 8080);

    // JSON when the client asks for it; a list in protobuf.
    let (code, ct, out) = call("GET", &format!("{url}/web"), None, "application/json", b"");
    assert_eq!((code, ct.as_str()), (200, "application/json"));
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap()["metadata"]["name"],
        "web"
    );
    let (_, ct, out) = call("GET", &url, None, PB, b"");
    assert_eq!(ct, PB);
    let list = kubeschema::decode(&out).unwrap();
    assert_eq!(list["kind"], "ServiceList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kubernetes", "web"]);

    // Errors are protobuf Status objects for a protobuf client.
    let (code, ct, out) = call("GET", &format!("{url}/nope"), None, PB, b"");
    assert_eq!((code, ct.as_str()), (404, PB));
    let st = kubeschema::decode(&out).unwrap();
    assert_eq!(st["message"], "services \"nope\" not found");
    assert_eq!(st["reason"], "NotFound");

    // A body that is not protobuf says why.
    let (code, _, out) = call(
        "POST",
        &url,
        Some(PB),
        "application/json",
        b"{\"kind\":\"Service\"}",
    );
    assert_eq!(code, 400);
    let st: Value = serde_json::from_slice(&out).unwrap();
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("expected prefix [107 56 115 0]"),
        "{st}"
    );

    // Nothing acceptable: 406 with kube-apiserver's message.
    let (code, _, out) = call("GET", &format!("{url}/web"), None, "text/html", b"");
    assert_eq!(code, 406);
    let st: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        st["message"],
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );

    // DeleteOptions in protobuf: a zero grace period deletes a pod at once.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "nginx"}]}});
    let pods = format!("{base}/api/v1/namespaces/default/pods");
    let (code, _, _) = call(
        "POST",
        &pods,
        Some(PB),
        PB,
        &kubeschema::encode(&pod).unwrap(),
    );
    assert_eq!(code, 201);
    let opts = kubeschema::encode(
        &json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}),
    )
    .unwrap();
    let (code, _, _) = call("DELETE", &format!("{pods}/p"), Some(PB), PB, &opts);
    assert_eq!(code, 200);
    let (code, _, _) = call("GET", &format!("{pods}/p"), None, PB, b"");
    assert_eq!(code, 404, "a zero grace period removes the pod at once");

    // Watch: length-prefixed WatchEvent frames.
    let (code, ct, out) = call(
        "GET",
        &format!("{url}?watch=1&timeoutSeconds=1"),
        None,
        PB,
        b"",
    );
    assert_eq!((code, ct.as_str()), (200, PB));
    let (ev, used) = kubeschema::codec::decode_watch_frame(&out)
        .unwrap()
        .expect("a whole frame");
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["kind"], "Service");
    assert!(used <= out.len());
    s.stop().unwrap();
}

fn kubeconfig(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let p = dir.join("kubeconfig");
    std::fs::write(
        &p,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {url}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: lab\n  context: {{cluster: lab, user: u}}\ncurrent-context: lab\n"),
    )
    .unwrap();
    p
}

fn kubectl(
    version: &str,
    kc: &std::path::Path,
    cache: &std::path::Path,
    args: &[&str],
) -> (bool, String) {
    let out =
        std::process::Command::new(format!("/usr/lib/google-cloud-sdk/bin/kubectl.{version}"))
            .arg("--kubeconfig")
            .arg(kc)
            .arg("--cache-dir")
            .arg(cache)
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
fn the_real_kubectl_creates_reads_and_deletes_in_protobuf() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let kc = kubeconfig(dir.path(), s.url());
    for v in ["1.29", "1.33"] {
        let cache = dir.path().join(format!("cache-{v}"));
        let k = |args: &[&str]| kubectl(v, &kc, &cache, args);
        let name = format!("web{}", v.replace('.', ""));
        let (ok, out) = k(&[
            "create",
            "deployment",
            &name,
            "--image=nginx",
            "--replicas=0",
        ]);
        assert!(ok, "{out}");
        assert_eq!(out.trim(), format!("deployment.apps/{name} created"));
        let (ok, out) = k(&["get", "deploy", &name, "-o", "jsonpath={.spec.replicas}"]);
        assert!(ok && out == "0", "replicas 0 survives protobuf: {out}");
        let (ok, out) = k(&[
            "expose",
            "deployment",
            &name,
            "--port=80",
            "--target-port=8080",
        ]);
        assert!(ok, "{out}");
        assert_eq!(out.trim(), format!("service/{name} exposed"));
        let (ok, out) = k(&[
            "create",
            "service",
            "clusterip",
            &format!("x{name}"),
            "--tcp=80",
        ]);
        assert!(ok, "{out}");
        let (ok, out) = k(&["get", "svc", &name, "-o", "yaml"]);
        assert!(ok, "{out}");
        assert!(
            out.contains("targetPort: 8080") && out.contains("clusterIP: 10."),
            "{out}"
        );
        let (ok, out) = k(&["get", "svc", "nope"]);
        assert!(!ok);
        assert!(out.contains("services \"nope\" not found"), "{out}");
        let (ok, out) = k(&["delete", "svc", &name, &format!("x{name}")]);
        assert!(ok, "{out}");
        let (ok, out) = k(&["delete", "deployment", &name]);
        assert!(ok && out.contains("deleted"), "{out}");
    }
    s.stop().unwrap();
}
