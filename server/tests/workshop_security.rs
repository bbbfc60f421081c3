//! Workshop security and the instructor's help, against a real server and one real lab:
//! nothing is open without a token; a learner reaches no instructor page or endpoint; a
//! closed or ended workshop refuses joins; another learner's terminal stays closed; the
//! instructor's read-only terminal view cannot type into the learner's shell; wrong join
//! codes are rate-limited per address (429 + Retry-After). Also: raise hand, pinned message,
//! extend and reset a learner's step from the dashboard.
//! Run with `cargo test -p kplab --test workshop_security -- --include-ignored`.

use kplab_testkit::web as web_support;
use kplab_testkit::workshop as workshop_support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use web_support::{open_term, Client};
use workshop_support::{json_body, request, Instructor, Server, TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker and root"]
async fn without_a_token_workshops_are_off() {
    let server = Server::start_with("wso-", 2, None).await;
    for (method, path) in [
        ("GET", "/instructor"),
        ("GET", "/api/workshops"),
        ("POST", "/api/workshops"),
    ] {
        let r = request(
            server.addr,
            method,
            path,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            json_body("{}"),
        )
        .await;
        assert_eq!(r.status, 404, "{method} {path}: {r:?}");
        assert!(r.body.contains("--instructor-token"), "{}", r.body);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker and root"]
async fn learners_cannot_act_as_the_instructor_and_the_terminal_view_is_read_only() {
    // As behind a reverse proxy on this host (Caddy): its X-Forwarded-For names the client,
    // so the join-code limit below can be shown to be per client address.
    let server = Server::start_guarded(
        "wss-",
        3,
        Some(TOKEN),
        kplab::domain::config::guard::GuardArgs {
            trusted_proxy: vec!["127.0.0.1".into()],
            ..kplab::domain::config::guard::GuardArgs::default()
        },
    )
    .await;
    let teacher = Instructor::new(server.addr);
    let (id, code) = teacher.create("Secure", 10, 0).await;

    // Bad input to the API gets 400 with the reason.
    let bad = teacher
        .post(
            "/api/workshops",
            r#"{"name":"x","labs":["nope"],"capacity":5,"warm_pool":0}"#,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("nope"));
    let bad = teacher
        .post(
            "/api/workshops",
            r#"{"name":"x","labs":["00-hello"],"capacity":5,"warm_pool":9}"#,
        )
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(
        teacher.post("/api/workshops", "{not json").await.status,
        400
    );

    // Alice joins and gets a lab through the queue.
    let mut alice = Client::new(server.addr);
    let j = alice
        .post_json(
            "/api/workshops/join",
            &serde_json::json!({"code": code, "name": "Alice"}).to_string(),
        )
        .await;
    assert_eq!(j.status, 200, "{j:?}");
    let alice_id = j.json()["learner"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    let session = loop {
        let me = alice.get("/api/workshops/me").await.json();
        if let Some(s) = me["session"]["id"].as_str() {
            break s.to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{me}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    alice
        .wait_status(&session, "running", Duration::from_secs(180))
        .await;

    // Every instructor page and endpoint refuses Alice: with her cookie, with a wrong
    // token, with a made-up instructor cookie.
    let instructor_routes = [
        ("GET", "/api/workshops".to_string()),
        ("POST", "/api/workshops".to_string()),
        ("GET", format!("/api/workshops/{id}")),
        ("GET", format!("/api/workshops/{id}/dashboard")),
        ("GET", format!("/api/workshops/{id}/events")),
        ("POST", format!("/api/workshops/{id}/close")),
        ("POST", format!("/api/workshops/{id}/open")),
        ("POST", format!("/api/workshops/{id}/end")),
        ("POST", format!("/api/workshops/{id}/extend")),
        ("POST", format!("/api/workshops/{id}/broadcast")),
        ("GET", format!("/api/workshops/{id}/export?format=csv")),
        (
            "POST",
            format!("/api/workshops/{id}/learners/{alice_id}/reset"),
        ),
        (
            "POST",
            format!("/api/workshops/{id}/learners/{alice_id}/restart"),
        ),
        (
            "POST",
            format!("/api/workshops/{id}/learners/{alice_id}/extend"),
        ),
        (
            "GET",
            format!("/api/workshops/{id}/learners/{alice_id}/terminals/node-1"),
        ),
        ("GET", format!("/instructor/workshops/{id}")),
        (
            "GET",
            format!("/instructor/workshops/{id}/learners/{alice_id}"),
        ),
        ("POST", "/instructor/workshops".to_string()),
    ];
    // Each try comes from its own address (as the trusted proxy forwards it): wrong tokens
    // from one address are limited to 10 a minute (tests/attack_server.rs shows that).
    let cookie = alice.cookie.clone().unwrap();
    let mut tries = 0;
    for (method, path) in &instructor_routes {
        for mut headers in [
            vec![("Cookie", cookie.as_str())],
            vec![
                ("Cookie", cookie.as_str()),
                ("Authorization", "Bearer not-the-token-123"),
            ],
            vec![("Cookie", "kplab_instructor=forged")],
        ] {
            tries += 1;
            let from = format!("203.0.113.{}", tries % 250 + 1);
            headers.push(("X-Forwarded-For", &from));
            let r = request(server.addr, method, path, &headers, json_body("{}")).await;
            assert!(
                r.status == 401 || r.status == 403,
                "{method} {path} with {headers:?}: {} {}",
                r.status,
                r.body
            );
            assert!(
                !r.body.contains(&code),
                "no workshop data leaks: {}",
                r.body
            );
        }
    }
    // The login page itself is public, and a wrong token does not log in.
    let login = alice.get("/instructor").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("Instructor login"));
    let wrong = alice
        .post_form("/instructor/login", "token=guess-guess-guess")
        .await;
    assert_eq!(wrong.status, 403);
    assert!(wrong.header("set-cookie").is_none());
    assert_eq!(
        alice
            .get(&format!("/instructor/workshops/{id}"))
            .await
            .status,
        401
    );

    // Bob joins too; he cannot open Alice's terminal (learner route or instructor view).
    let mut bob = Client::new(server.addr);
    let jb = bob
        .post_json(
            "/api/workshops/join",
            &serde_json::json!({"code": code, "name": "Bob"}).to_string(),
        )
        .await;
    assert_eq!(jb.status, 200, "{jb:?}");
    assert_eq!(open_term(&bob, &session, "node-1").await.err(), Some(403));
    assert_eq!(
        bob.get(&format!("/api/sessions/{session}")).await.status,
        403
    );
    let url = format!(
        "ws://{}/api/workshops/{id}/learners/{alice_id}/terminals/node-1",
        server.addr
    );
    let mut req = url.clone().into_client_request().unwrap();
    req.headers_mut()
        .insert("Cookie", bob.cookie.clone().unwrap().parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 401)
        }
        other => panic!("Bob opened the instructor view: {:?}", other.map(|_| ())),
    }

    // The instructor's read-only view: sees Alice's shell, cannot type into it.
    let mut term = open_term(&alice, &session, "node-1").await.unwrap();
    term.type_text("echo alice-$((6*7))\r").await;
    term.wait_for("alice-42", Duration::from_secs(30)).await;
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut view, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut seen = String::new();
    let t0 = Instant::now();
    while !seen.contains("alice-42") {
        assert!(t0.elapsed() < Duration::from_secs(10), "view showed {seen}");
        if let Ok(Some(Ok(Message::Binary(b)))) =
            tokio::time::timeout(Duration::from_secs(10), view.next()).await
        {
            seen.push_str(&String::from_utf8_lossy(&b));
        }
    }
    view.send(Message::Binary(
        b"touch /tmp/injected; echo injected-$((40+2))\r"
            .to_vec()
            .into(),
    ))
    .await
    .unwrap();
    view.send(Message::Text(
        r#"{"type":"resize","cols":33,"rows":9}"#.into(),
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    term.type_text("ls /tmp/injected; tput cols; echo done-$((1+1))\r")
        .await;
    term.wait_for("done-2", Duration::from_secs(20)).await;
    assert!(term.seen.contains("No such file"), "{}", term.seen);
    assert!(!term.seen.contains("injected-42"), "{}", term.seen);
    assert!(
        !term.seen.contains("\r\n33\r\n"),
        "the view cannot resize: {}",
        term.seen
    );
    // The view still follows the shell.
    let t0 = Instant::now();
    while !seen.contains("done-2") {
        assert!(t0.elapsed() < Duration::from_secs(10), "view showed {seen}");
        if let Ok(Some(Ok(Message::Binary(b)))) =
            tokio::time::timeout(Duration::from_secs(10), view.next()).await
        {
            seen.push_str(&String::from_utf8_lossy(&b));
        }
    }
    let _ = view.close(None).await;

    // Helping: Alice raises her hand; the dashboard shows it. The instructor extends her
    // lab, resets her step, and pins a message she sees.
    let h = alice
        .post_json("/api/workshops/me/hand", r#"{"raised":true}"#)
        .await;
    assert_eq!(h.status, 200, "{h:?}");
    let dash = teacher
        .get(&format!("/api/workshops/{id}/dashboard"))
        .await
        .json();
    let row = dash["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["learner"] == alice_id.as_str())
        .unwrap()
        .clone();
    assert!(row["hand_ms"].as_i64().unwrap() > 0, "{row}");
    let ext = teacher
        .post(
            &format!("/api/workshops/{id}/learners/{alice_id}/extend"),
            "",
        )
        .await;
    assert_eq!(ext.status, 200, "{ext:?}");
    assert!(ext.json()["expires_in"].as_i64().unwrap() > 500);
    term.type_text("kubectl create deployment web --image=kplab/echo --replicas=2\r")
        .await;
    term.wait_for("deployment.apps/web created", Duration::from_secs(30))
        .await;
    let reset = teacher
        .post(
            &format!("/api/workshops/{id}/learners/{alice_id}/reset"),
            r#"{"scope":"step"}"#,
        )
        .await;
    assert_eq!(reset.status, 200, "{reset:?}");
    // The step's setup ran again: the deployment is gone.
    let check = alice
        .post_json(
            &format!("/api/sessions/{session}/tasks/create-web/check"),
            "{}",
        )
        .await
        .json();
    assert_eq!(check["passed"], false, "{check}");
    let bad_action = teacher
        .post(
            &format!("/api/workshops/{id}/learners/{alice_id}/reset"),
            r#"{"scope":"everything"}"#,
        )
        .await;
    assert_eq!(bad_action.status, 400, "{bad_action:?}");
    let pin = teacher
        .post(
            &format!("/api/workshops/{id}/broadcast"),
            r#"{"message":"Break until 11:00"}"#,
        )
        .await;
    assert_eq!(pin.status, 200);
    let me = alice.get("/api/workshops/me").await.json();
    assert_eq!(me["workshop"]["message"], "Break until 11:00");
    assert_eq!(me["hand"], true);
    term.close().await;

    // Closed: a new learner cannot join; members still can come back.
    let close = teacher
        .post(&format!("/api/workshops/{id}/close"), "")
        .await;
    assert_eq!(close.status, 200);
    let mut carol = Client::new(server.addr);
    let refused = carol
        .post_json(
            "/api/workshops/join",
            &serde_json::json!({"code": code, "name": "Carol"}).to_string(),
        )
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.json()["error"].as_str().unwrap().contains("closed"));
    let back = alice
        .post_json(
            "/api/workshops/join",
            &serde_json::json!({"code": code, "name": "Alice"}).to_string(),
        )
        .await;
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(back.json()["session"], session.as_str());
    // Ended: nobody joins.
    assert_eq!(
        teacher
            .post(&format!("/api/workshops/{id}/end"), "")
            .await
            .status,
        200
    );
    let ended = alice
        .post_json(
            "/api/workshops/join",
            &serde_json::json!({"code": code, "name": "Alice"}).to_string(),
        )
        .await;
    assert_eq!(ended.status, 409, "{ended:?}");

    // Join codes are rate-limited per address: 10 wrong codes, then 429 with Retry-After,
    // even for the right code; another client address (as the trusted proxy forwards it) is
    // not affected.
    let (_, open_code) = teacher.create("Open", 10, 0).await;
    let mut mallory = Client::new(server.addr);
    for i in 0..10 {
        let r = mallory
            .post_json(
                "/api/workshops/join",
                &serde_json::json!({"code": format!("ZZZZ{i:02}"), "name": "M"}).to_string(),
            )
            .await;
        assert_eq!(r.status, 404, "{r:?}");
    }
    let limited = mallory
        .post_json(
            "/api/workshops/join",
            &serde_json::json!({"code": open_code, "name": "M"}).to_string(),
        )
        .await;
    assert_eq!(limited.status, 429, "{limited:?}");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let form = mallory
        .post_form("/j", &format!("code={open_code}&name=M"))
        .await;
    assert_eq!(form.status, 429, "the join page is limited too");
    let elsewhere = request(
        server.addr,
        "POST",
        "/api/workshops/join",
        &[("X-Forwarded-For", "203.0.113.9")],
        json_body(&serde_json::json!({"code": open_code, "name": "Dan"}).to_string()),
    )
    .await;
    assert_eq!(elsewhere.status, 200, "{elsewhere:?}");
    server.shutdown().await;
}
