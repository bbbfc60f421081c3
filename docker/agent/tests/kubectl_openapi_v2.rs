//! `/openapi/v2` in gnostic's protobuf, as client-go's `OpenAPISchema()` asks for it, and what
//! the real kubectl does with it: `apply` of a kind the lab does not serve gets upstream's
//! "no matches for kind" (kubectl's validator falls back to the v2 document for a kind absent
//! from v3; without it kubectl stopped at "failed to download openapi"), unknown fields are
//! still refused strictly, and kubectl 1.29's `explain --output=plaintext-openapiv2` reads it.

use std::io::Write;
use std::process::Stdio;

use kplab_agent::apiserver::embedded::EmbeddedServer;
use kplab_agent::apiserver::Config;

const PB: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
const PB_DOT: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

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

/// Runs the real kubectl `version` against the server with `stdin`: (success, stdout+stderr).
fn kubectl(
    version: &str,
    dir: &std::path::Path,
    url: &str,
    args: &[&str],
    stdin: &str,
) -> (bool, String) {
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {url}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: lab\n  context: {{cluster: lab, user: u}}\ncurrent-context: lab\n"),
    )
    .unwrap();
    let mut child =
        std::process::Command::new(format!("/usr/lib/google-cloud-sdk/bin/kubectl.{version}"))
            .arg("--kubeconfig")
            .arg(&kc)
            .arg("--cache-dir")
            .arg(dir.join(format!("cache-{version}")))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the versioned kubectl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn get(url: &str, accept: &str, if_none_match: Option<&str>) -> ureq::Response {
    let mut r = ureq::get(url);
    if !accept.is_empty() {
        r = r.set("Accept", accept);
    }
    if let Some(e) = if_none_match {
        r = r.set("If-None-Match", e);
    }
    match r.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    }
}

fn body(r: ureq::Response) -> Vec<u8> {
    let mut b = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut b).unwrap();
    b
}

#[test]
fn v2_is_served_as_gnostic_protobuf_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let url = format!("{}/openapi/v2", s.url());
    let want = kubeschema::gnostic::encode_v2(&kubeschema::openapi::v2()).unwrap();
    for accept in [PB, PB_DOT, &format!("application/json;q=0.5, {PB}")] {
        let r = get(&url, accept, None);
        assert_eq!(r.status(), 200, "{accept}");
        // kube-openapi answers both spellings with the `.v1.0` one.
        assert_eq!(r.header("Content-Type"), Some(PB_DOT), "{accept}");
        assert_eq!(r.header("Vary"), Some("Accept"));
        assert!(body(r) == want, "{accept}: the encoded document");
    }
    // JSON otherwise, with the same ETag (the response varies by Accept).
    let r = get(&url, "", None);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let etag = r.header("ETag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let doc: serde_json::Value = serde_json::from_slice(&body(r)).unwrap();
    assert_eq!(doc["swagger"], "2.0");
    for accept in ["application/json", "*/*", "application/*"] {
        assert_eq!(
            get(&url, accept, None).header("Content-Type"),
            Some("application/json")
        );
    }
    let r = get(&url, PB, None);
    assert_eq!(r.header("ETag"), Some(etag.as_str()));
    // A client holding the document revalidates it.
    let r = get(&url, PB, Some(&etag));
    assert_eq!(r.status(), 304);
    assert_eq!(get(&url, "", Some("\"other\"")).status(), 200);
    // Nothing acceptable.
    assert_eq!(get(&url, "text/html", None).status(), 406);
    s.stop().unwrap();
}

const SEVICE: &str =
    "apiVersion: v1\nkind: Sevice\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n";
const JOB: &str = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n";
const BOGUS: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  bogus: 1\n  ports:\n  - port: 80\n";

#[test]
fn kubectl_apply_of_an_unserved_kind_says_no_matches_for_kind() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    // Every version's every case, reported together.
    let mut bad = Vec::new();
    for v in ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"] {
        let k = |stdin: &str| kubectl(v, dir.path(), s.url(), &["apply", "-f", "-"], stdin);
        let cases: [(&str, &[&str]); 3] = [
            (SEVICE, &[
                "resource mapping not found for name: \"web\" namespace: \"\" from \"STDIN\": no matches for kind \"Sevice\" in version \"v1\"",
                "ensure CRDs are installed first",
            ]),
            (JOB, &["no matches for kind \"Job\" in version \"batch/v1\""]),
            // A served kind with an unknown field is still refused strictly, by the server.
            (BOGUS, &["Service in version \"v1\" cannot be handled as a Service: strict decoding error: unknown field \"spec.bogus\""]),
        ];
        for (manifest, want) in cases {
            let (ok, out) = k(manifest);
            if ok || !want.iter().all(|w| out.contains(w)) {
                bad.push(format!("kubectl {v} apply of\n{manifest}-> {ok}: {out}"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    s.stop().unwrap();
}

#[test]
fn kubectl_explain_reads_the_v2_document() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&dir);
    let (ok, out) = kubectl(
        "1.29",
        dir.path(),
        s.url(),
        &[
            "explain",
            "service.spec.ports",
            "--output=plaintext-openapiv2",
        ],
        "",
    );
    assert!(ok, "{out}");
    assert!(
        out.starts_with("KIND:     Service\nVERSION:  v1\n\nRESOURCE: ports <[]Object>\n"),
        "{out}"
    );
    assert!(
        out.contains("   port\t<integer> -required-\n     The port the Service listens on, at its ClusterIP.\n"),
        "{out}"
    );
    assert!(out.contains("   targetPort\t<string>\n"), "{out}");
    let (ok, out) = kubectl(
        "1.29",
        dir.path(),
        s.url(),
        &["explain", "svc.spec.nope", "--output=plaintext-openapiv2"],
        "",
    );
    assert!(
        !ok && out.contains("field \"nope\" does not exist"),
        "{out}"
    );
    s.stop().unwrap();
}
