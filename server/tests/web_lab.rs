//! The web platform against real labs (Docker): the API flow with a terminal, grading,
//! isolation between learners (403), bad requests (4xx with a reason), capacity (503 with
//! Retry-After), and a lab killed from outside reported with a "Restart lab" button.
//! Run with `cargo test -p kplab --test web_lab -- --include-ignored`.

use kplab_testkit::web as web_support;

use std::time::Duration;

use web_support::{open_term, Client, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker and root"]
async fn a_learner_works_through_a_lab_and_others_cannot_touch_it() {
    let server = Server::start("wb-t-", 1).await;
    let mut alice = Client::new(server.addr);
    let home = alice.get("/").await;
    assert_eq!(home.status, 200);
    assert!(
        alice.cookie.is_some(),
        "the first visit sets the learner cookie"
    );

    let labs = alice.get("/api/labs").await.json();
    assert_eq!(labs["labs"][0]["id"], "00-hello");

    let id = alice.start_lab("00-hello", Duration::from_secs(90)).await;
    let s = alice.get(&format!("/api/sessions/{id}")).await.json();
    assert_eq!(s["step"], 0);
    let hosts: Vec<&str> = s["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["node-1", "node-2", "client"]);
    assert!(s["terminals"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("ws://"));

    // Starting again returns the same live session (one per learner and lab).
    let again = alice.post_json("/api/labs/00-hello/sessions", "").await;
    assert_eq!(again.json()["id"], id.as_str());

    // The capacity is 1: another learner gets a clear "full" page with Retry-After.
    let mut bob = Client::new(server.addr);
    bob.get("/").await;
    let full = bob.post_form("/labs/00-hello/start", "").await;
    assert_eq!(full.status, 503, "{full:?}");
    let retry: u64 = full
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((5..=600).contains(&retry));
    assert!(
        full.body.contains(&format!("try again in {retry} s")),
        "{}",
        full.body
    );
    let full_api = bob.post_json("/api/labs/00-hello/sessions", "").await;
    assert_eq!(full_api.status, 503);
    assert_eq!(full_api.json()["retry_after"], retry);

    // Bob cannot see, check or open Alice's lab.
    assert_eq!(bob.get(&format!("/api/sessions/{id}")).await.status, 403);
    assert_eq!(
        bob.post_json(&format!("/api/sessions/{id}/tasks/create-web/check"), "{}")
            .await
            .status,
        403
    );
    assert_eq!(
        bob.req("DELETE", &format!("/api/sessions/{id}"), None)
            .await
            .status,
        403
    );
    assert_eq!(open_term(&bob, &id, "node-1").await.err(), Some(403));
    let mut nobody = Client::new(server.addr);
    assert_eq!(
        nobody.get(&format!("/api/sessions/{id}")).await.status,
        403,
        "no cookie is nobody's"
    );

    // Bad requests get a 4xx with a reason.
    let r = alice
        .post_json(
            &format!("/api/sessions/{id}/tasks/count-nodes/check"),
            "{bad json",
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("JSON"), "{}", r.body);
    let r = alice
        .post_json(
            &format!("/api/sessions/{id}/tasks/count-nodes/check"),
            r#"{"answr":"2"}"#,
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("unknown field"), "{}", r.body);
    let big = format!(r#"{{"answer":"{}"}}"#, "x".repeat(100 * 1024));
    let r = alice
        .post_json(&format!("/api/sessions/{id}/tasks/count-nodes/check"), &big)
        .await;
    assert_eq!(r.status, 413, "{r:?}");
    let r = alice
        .post_json(
            &format!("/api/sessions/{id}/tasks/count-nodes/check"),
            &format!(r#"{{"answer":"{}"}}"#, "9".repeat(2000)),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("longer than 1000"));
    let r = alice
        .post_json(
            &format!("/api/sessions/{id}/tasks/no-such-task/check"),
            "{}",
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "task no-such-task not found");
    let r = alice
        .post_json(
            &format!("/api/sessions/{id}/reset"),
            r#"{"scope":"everything"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("scope must be"));
    assert_eq!(alice.get("/api/sessions/not-hex!").await.status, 400);
    assert_eq!(alice.get("/labs/00-hello?step=9").await.status, 400);
    assert_eq!(alice.get("/labs/nope").await.status, 404);
    assert!(open_term(&alice, &id, "node-7").await.err() == Some(404));

    // The task fails before the learner does anything, with its hint.
    let r = alice
        .post_json(&format!("/api/sessions/{id}/tasks/create-web/check"), "{}")
        .await
        .json();
    assert_eq!(r["passed"], false);
    assert_eq!(r["checks"][0]["passed"], false);
    assert!(r["hint"].as_str().unwrap().contains("spec.replicas"));

    // A terminal on node-1: type, see output; resize; then do the task in it.
    let mut term = open_term(&alice, &id, "node-1").await.unwrap();
    term.control(r#"{"type":"resize","cols":120,"rows":40}"#)
        .await;
    term.type_text("echo hello-$((6*7)); tput cols\r").await;
    term.wait_for("hello-42", Duration::from_secs(20)).await;
    term.wait_for("120", Duration::from_secs(10)).await;
    term.type_text("kubectl create deployment web --image=kplab/echo --replicas=2\r")
        .await;
    term.wait_for("deployment.apps/web created", Duration::from_secs(20))
        .await;
    term.close().await;

    // Reconnect: the same shell, with its recent output replayed.
    let mut term = open_term(&alice, &id, "node-1").await.unwrap();
    term.wait_for("hello-42", Duration::from_secs(10)).await;
    term.close().await;

    // The task also wants both pods Ready: check until they are.
    let r = alice
        .check_until_passed(&id, "create-web", Duration::from_secs(60))
        .await;
    assert_eq!(r["passed"], true, "{r}");
    assert_eq!(r["recorded"], true);
    let r = alice
        .post_json(
            &format!("/api/sessions/{id}/tasks/count-nodes/check"),
            r#"{"answer":"3"}"#,
        )
        .await
        .json();
    assert_eq!(r["passed"], false);
    let r = alice
        .post_json(
            &format!("/api/sessions/{id}/tasks/count-nodes/check"),
            r#"{"answer":" 2 "}"#,
        )
        .await
        .json();
    assert_eq!(r["passed"], true, "{r}");

    // Results are in the session and on the page after a reload.
    let s = alice.get(&format!("/api/sessions/{id}")).await.json();
    let passed: Vec<&str> = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["passed"] == true)
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    // In the lab's order.
    assert_eq!(passed, ["count-nodes", "create-web"]);
    let page = alice.get("/labs/00-hello").await;
    assert!(
        page.body
            .contains(r#"<li class="task passed" id="task-create-web""#),
        "{}",
        page.body
    );

    // Reset the step: its setup runs again (the deployment is deleted); results stay.
    let r = alice
        .post_json(&format!("/api/sessions/{id}/reset"), r#"{"scope":"step"}"#)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = alice
        .post_json(&format!("/api/sessions/{id}/tasks/create-web/check"), "{}")
        .await
        .json();
    assert_eq!(
        r["passed"], false,
        "the step setup removed the deployment: {r}"
    );
    let s = alice.get(&format!("/api/sessions/{id}")).await.json();
    assert_eq!(
        s["tasks"][0]["passed"], true,
        "a task once passed stays passed"
    );

    // Metrics count what happened.
    let m = alice.get("/metrics").await.body;
    assert!(m.contains("kplab_labs_running 1"), "{m}");
    assert!(m.contains("kplab_lab_starts_total{result=\"ok\"} 1"), "{m}");
    // create-web's two state checks passed at least once each (more while the pods were
    // still starting: the check above polls).
    let state_passed: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("kplab_checks_total{kind=\"state\",result=\"passed\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(state_passed >= 2, "{m}");
    assert_eq!(alice.get("/healthz").await.body, "ok\n");

    // A container killed from outside: the sweep notices, the page offers a restart.
    let sandbox = server
        .state
        .store
        .session(&id)
        .await
        .unwrap()
        .unwrap()
        .sandbox;
    let killed = std::process::Command::new("docker")
        .args(["kill", &format!("kplab-{sandbox}-node-2")])
        .output()
        .unwrap();
    assert!(killed.status.success(), "{killed:?}");
    kplab::domain::lifecycle::sweep(&server.state)
        .await
        .unwrap();
    let s = alice.get(&format!("/api/sessions/{id}")).await.json();
    assert_eq!(s["status"], "lost", "{s}");
    assert!(s["detail"].as_str().unwrap().contains("node-2"), "{s}");
    let page = alice.get("/labs/00-hello").await.body;
    assert!(
        page.contains(r#"<p class="lost" id="lost">Your lab stopped working"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<button type="submit" id="restart" class="primary">Restart lab</button>"#),
        "{page}"
    );
    assert!(
        server.state.runtime.list("wb-t-").await.unwrap().is_empty(),
        "the broken lab was removed"
    );

    // Restart from the page: a new lab; progress is still there.
    let r = alice.post_form("/labs/00-hello/start", "").await;
    assert_eq!(r.status, 303, "{r:?}");
    let s = alice.get("/labs/00-hello").await.body;
    assert!(
        s.contains("data-status=\"starting\"") || s.contains("data-status=\"running\""),
        "{s}"
    );
    let new_id = s
        .split("data-session=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(new_id, id);
    alice
        .wait_status(&new_id, "running", Duration::from_secs(90))
        .await;
    let st = alice.get(&format!("/api/sessions/{new_id}")).await.json();
    assert_eq!(st["tasks"][0]["passed"], true);

    // Stop: the lab goes, progress stays.
    let r = alice
        .req("DELETE", &format!("/api/sessions/{new_id}"), None)
        .await;
    assert_eq!(r.json()["status"], "stopped");
    assert!(server.state.runtime.list("wb-t-").await.unwrap().is_empty());
    assert_eq!(
        alice
            .post_json(
                &format!("/api/sessions/{new_id}/tasks/create-web/check"),
                "{}"
            )
            .await
            .status,
        409
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker and root"]
async fn idle_labs_stop_with_progress_kept_extend_works_and_orphans_go() {
    let server = Server::start("wb-i-", 4).await;
    // An orphan: a lab of this server (its prefix and server id) that no session owns; and a
    // lab with the same prefix made by another server on this Docker host, not this one's.
    let me = server.state.server_id().await.unwrap();
    server
        .state
        .runtime
        .up("wb-i-orphan", &me, "nobody", 1)
        .await
        .unwrap();
    server
        .state
        .runtime
        .up("wb-i-foreign", "another-server", "nobody", 1)
        .await
        .unwrap();
    let mut alice = Client::new(server.addr);
    alice.get("/").await;
    // An optional display name.
    assert_eq!(alice.post_form("/name", "name=Alice+L.").await.status, 303);
    assert!(alice
        .get("/")
        .await
        .body
        .contains(r#"name="name" maxlength="64" autocomplete="nickname" value="Alice L.""#));
    assert_eq!(
        alice
            .post_form("/name", &format!("name={}", "x".repeat(65)))
            .await
            .status,
        400
    );
    let id = alice.start_lab("00-hello", Duration::from_secs(90)).await;
    let r = alice
        .post_json(
            &format!("/api/sessions/{id}/tasks/count-nodes/check"),
            r#"{"answer":"2"}"#,
        )
        .await
        .json();
    assert_eq!(r["passed"], true, "{r}");

    // The page shows the countdown and the extend button.
    let page = alice.get("/labs/00-hello").await.body;
    assert!(
        page.contains(r#"<button type="submit" id="extend">Extend</button>"#),
        "{page}"
    );
    assert!(page.contains(r#"data-expires-in="#), "{page}");

    // The sweep removes the orphan, leaves the owned lab and the other server's lab; the
    // Docker labels carry each lab's server id.
    kplab::domain::lifecycle::sweep(&server.state)
        .await
        .unwrap();
    let labs = server.state.runtime.list("wb-i-").await.unwrap();
    let names: Vec<&str> = labs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.contains(&"wb-i-orphan"));
    for sb in &labs {
        let want = if sb.name == "wb-i-foreign" {
            "another-server"
        } else {
            me.as_str()
        };
        assert_eq!(sb.server.as_deref(), Some(want), "{sb:?}");
    }
    server.state.runtime.down("wb-i-foreign").await.unwrap();

    // Almost idle: extend pushes the deadline back.
    let now = kplab::domain::platform::now_ms();
    server
        .state
        .store
        .set_expiry(&id, now + 5_000, now)
        .await
        .unwrap();
    let r = alice
        .post_json(&format!("/api/sessions/{id}/extend"), "")
        .await
        .json();
    assert!(r["expires_in"].as_i64().unwrap() > 590, "{r}");

    // Idle past the deadline: the sweep stops the lab; progress stays.
    server
        .state
        .store
        .set_expiry(&id, now - 1, now)
        .await
        .unwrap();
    kplab::domain::lifecycle::sweep(&server.state)
        .await
        .unwrap();
    let s = alice.get(&format!("/api/sessions/{id}")).await.json();
    assert_eq!(s["status"], "expired", "{s}");
    assert!(server.state.runtime.list("wb-i-").await.unwrap().is_empty());
    let count_nodes = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "count-nodes")
        .unwrap()
        .clone();
    assert_eq!(count_nodes["passed"], true);
    let page = alice.get("/labs/00-hello").await.body;
    assert!(
        page.contains("stopped after being idle; your progress is kept"),
        "{page}"
    );
    assert!(
        page.contains(r#"<button type="submit" id="start" class="primary">Start lab</button>"#),
        "{page}"
    );
    assert_eq!(
        alice
            .post_json(&format!("/api/sessions/{id}/extend"), "")
            .await
            .status,
        409
    );
    server.shutdown().await;
}

/// One GET with `Accept-Encoding: gzip` on a fresh connection: (content-encoding, body bytes
/// as sent, decoded).
async fn get_gzip(addr: std::net::SocketAddr, path: &str, cookie: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\nAccept-Encoding: gzip\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_string())
    };
    let mut body = raw[split + 4..].to_vec();
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 2 + size + 2..];
        }
        body = out;
    }
    let encoding = header("content-encoding").unwrap_or_default();
    if encoding == "gzip" {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
            .unwrap_or_else(|e| panic!("{path}: bad gzip body: {e}"));
        body = plain;
    }
    (encoding, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Docker and root"]
async fn large_responses_and_static_files_are_gzipped_pages_are_not() {
    let server = Server::start("wb-z-", 1).await;
    let mut c = Client::new(server.addr);
    c.get("/").await;
    let cookie = c.cookie.clone().unwrap();
    let from = usize::from(kplab::web::routes::COMPRESS_FROM);
    // Pages are a few KB: sent as they are (compressing each cost a quarter of the server's
    // time per page).
    for page in ["/", "/labs/00-hello"] {
        let (enc, body) = get_gzip(server.addr, page, &cookie).await;
        assert_eq!(enc, "", "{page} is sent uncompressed");
        assert!(body.len() < from, "{page} is {} bytes", body.len());
        assert!(String::from_utf8(body).unwrap().contains("</html>"));
    }
    // The lab list is larger than the threshold: gzipped, and intact.
    let (enc, body) = get_gzip(server.addr, "/api/labs", &cookie).await;
    assert!(body.len() >= from, "/api/labs is {} bytes", body.len());
    assert_eq!(enc, "gzip", "/api/labs ({} bytes) is gzipped", body.len());
    let labs: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(labs["labs"][0]["id"], "00-hello");
    // Static files come gzipped from memory, whatever their size.
    let (enc, body) = get_gzip(server.addr, "/static/app.css", &cookie).await;
    assert_eq!(enc, "gzip");
    let css = std::fs::read(web_support::repo().join("static/app.css")).unwrap();
    assert_eq!(body, css);
    server.shutdown().await;
}
