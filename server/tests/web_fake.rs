//! The web platform over the fake lab runtime (`kplab_testkit::fake`): the real router, store
//! (SQLite in a temporary directory), lifecycle, grader and workshop code, with labs that exist
//! in memory. No Docker, no root: plain `cargo test -p kplab --test web_fake`. Each test
//! checks what the platform answers and what it asked the runtime to do.

use std::time::Duration;

use kplab::engine::runtime::{Health, Output};
use kplab_testkit::fake::{Call, FakeRuntime, Op};
use kplab_testkit::web::{json_body, open_term, request, Client, Server};
use kplab_testkit::workshop::{dashboard_stream, Instructor, TOKEN};

const WITHIN: Duration = Duration::from_secs(20);

/// The command 00-hello's first step runs on node-1 when it starts.
const SETUP: &str = "kubectl delete deployment web";

async fn server(prefix: &str) -> (Server, std::sync::Arc<FakeRuntime>) {
    let rt = FakeRuntime::new();
    let s = Server::start_fake(prefix, 4, Some(TOKEN), rt.clone()).await;
    (s, rt)
}

/// The sandbox (lab name) of a session, from the store.
async fn sandbox(s: &Server, id: &str) -> String {
    s.state.store.session(id).await.unwrap().unwrap().sandbox
}

/// Waits until the start of session `id` has finished its bookkeeping: the status turns
/// `running` before the idle deadline is set and the `running` event recorded.
async fn start_settled(s: &Server, id: &str) {
    let t0 = std::time::Instant::now();
    while !s
        .state
        .store
        .events(id)
        .await
        .unwrap()
        .iter()
        .any(|(kind, _)| kind == "running")
    {
        assert!(t0.elapsed() < WITHIN, "session {id} never recorded running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the session until its status is `want` (any status on the way).
async fn wait_for_status(c: &mut Client, id: &str, want: &str) -> serde_json::Value {
    let t0 = std::time::Instant::now();
    loop {
        let s = c.get(&format!("/api/sessions/{id}")).await.json();
        if s["status"] == want {
            return s;
        }
        assert!(t0.elapsed() < WITHIN, "not {want}: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `done` until it holds.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let t0 = std::time::Instant::now();
    while !done() {
        assert!(t0.elapsed() < WITHIN, "not within {WITHIN:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- pages

#[tokio::test]
async fn the_pages_render_without_docker() {
    let (s, rt) = server("fk-p-").await;
    let catalog = labkit::Catalog::load(&kplab_testkit::web::repo().join("labs")).unwrap();
    let mut c = Client::new(s.addr);

    let r = c.get("/").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(c.cookie.is_some(), "the catalog sets the learner cookie");
    for lab in &catalog.labs {
        assert!(
            r.body.contains(&format!("/labs/{}", lab.id)),
            "catalog links {}",
            lab.id
        );
    }
    let hello = catalog.lab("00-hello").unwrap();
    let r = c.get("/labs/00-hello").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains(&hello.title), "{}", hello.title);
    assert_eq!(c.get("/labs/no-such-lab").await.status, 404);

    let r = c.get("/api/labs").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["labs"].as_array().unwrap().len(),
        catalog.labs.len()
    );

    // Workshop pages: the join form, the instructor's login; the learner's page sends someone
    // in no workshop to the join form.
    for path in ["/j", "/instructor"] {
        let r = c.get(path).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert!(r.body.contains("<html"), "{path} is a page");
    }
    let r = c.get("/w").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/j")), "{r:?}");
    assert_eq!(c.get("/healthz").await.status, 200);
    // Viewing pages starts nothing.
    assert!(rt.calls_of(Op::Up).is_empty(), "{:?}", rt.calls());
}

// ---------------------------------------------------------------- lab lifecycle

#[tokio::test]
async fn a_lab_starts_with_its_setup_and_stops() {
    let (s, rt) = server("fk-l-").await;
    let mut c = Client::new(s.addr);
    let id = c.start_lab("00-hello", WITHIN).await;
    let sb = sandbox(&s, &id).await;
    assert!(sb.starts_with("fk-l-"), "{sb}");

    // One lab of 00-hello's size, for this learner, then the first step's setup on node-1.
    let ups = rt.calls_of(Op::Up);
    assert_eq!(ups.len(), 1, "{ups:?}");
    let Call::Up {
        sandbox: up_sb,
        learner,
        nodes,
    } = &ups[0]
    else {
        unreachable!()
    };
    assert_eq!(up_sb, &sb);
    assert_eq!(*nodes, 2);
    let cookie = c.cookie.clone().unwrap();
    assert!(cookie.ends_with(learner.as_str()), "{cookie} vs {learner}");
    assert!(
        rt.calls().iter().any(|call| matches!(call,
            Call::Exec { sandbox, host, argv } if sandbox == &sb && host == "node-1"
                && argv.join(" ").contains(SETUP))),
        "{:?}",
        rt.calls()
    );

    let v = c.get(&format!("/api/sessions/{id}")).await.json();
    assert_eq!(v["status"], "running");
    assert_eq!(v["lab"], "00-hello");
    let hosts: Vec<&str> = v["terminals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["node-1", "node-2", "client"]);
    assert!(v["expires_in"].as_i64().unwrap() > 500, "{v}");
    let tasks = v["tasks"].as_array().unwrap();
    assert!(tasks.iter().any(|t| t["id"] == "create-web"), "{v}");
    assert!(tasks.iter().all(|t| t["checked"] == false), "{v}");

    // Starting the same lab again returns the running session, no second lab.
    let r = c.post_json("/api/labs/00-hello/sessions", "").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["id"], id.as_str());
    assert_eq!(rt.calls_of(Op::Up).len(), 1);

    // Another learner may not see or stop it.
    let mut mallory = Client::new(s.addr);
    mallory.get("/").await;
    assert_eq!(
        mallory
            .req("DELETE", &format!("/api/sessions/{id}"), None)
            .await
            .status,
        403
    );
    assert_eq!(rt.labs(), std::slice::from_ref(&sb));

    // The owner stops it: the lab is removed, progress and the session stay.
    let r = c.req("DELETE", &format!("/api/sessions/{id}"), None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["status"], "stopped");
    assert!(rt.calls_of(Op::Down).contains(&Call::Down {
        sandbox: sb.clone()
    }));
    assert!(rt.labs().is_empty(), "{:?}", rt.labs());
    let v = c.get(&format!("/api/sessions/{id}")).await.json();
    assert_eq!(v["status"], "stopped");
    assert_eq!(v["terminals"].as_array().unwrap().len(), 0);
    // A stopped lab cannot be checked.
    let r = c
        .post_json(&format!("/api/sessions/{id}/tasks/create-web/check"), "{}")
        .await;
    assert_eq!(r.status, 409, "{r:?}");
}

#[tokio::test]
async fn a_start_the_engine_refuses_fails_visibly_and_cleans_up() {
    let (s, rt) = server("fk-f-").await;
    rt.fail_next(Op::Up, 1, "no space left on device");
    let mut c = Client::new(s.addr);
    c.get("/").await;
    let r = c.post_json("/api/labs/00-hello/sessions", "").await;
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let v = wait_for_status(&mut c, &id, "failed").await;
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("no space left on device"),
        "{v}"
    );
    // The failed lab is removed just after its status is stored.
    let down = Call::Down {
        sandbox: sandbox(&s, &id).await,
    };
    wait_until("the failed lab is removed", || {
        rt.calls_of(Op::Down).contains(&down)
    })
    .await;

    // A failing setup command fails the start too, naming the command.
    rt.on_exec_output(
        SETUP,
        Output {
            code: 1,
            stdout: String::new(),
            stderr: "the connection to the server was refused".into(),
        },
    );
    let r = c.post_json("/api/labs/00-hello/sessions", "").await;
    let id2 = r.json()["id"].as_str().unwrap().to_string();
    assert_ne!(id2, id, "a failed session is not reused");
    let v = wait_for_status(&mut c, &id2, "failed").await;
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains(SETUP) && detail.contains("refused"), "{v}");
    wait_until("the failed lab is removed", || rt.labs().is_empty()).await;

    // Once the engine works again, so does a start.
    rt.on_exec(SETUP, 0, "");
    let id3 = c.start_lab("00-hello", WITHIN).await;
    assert_eq!(rt.labs(), [sandbox(&s, &id3).await]);
}

#[tokio::test]
async fn a_lab_stopped_while_starting_is_removed_when_its_start_ends() {
    let (s, rt) = server("fk-h2-").await;
    let gate = rt.hold_starts();
    let mut c = Client::new(s.addr);
    c.get("/").await;
    let r = c.post_json("/api/labs/00-hello/sessions", "").await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.json()["status"], "starting");
    let id = r.json()["id"].as_str().unwrap().to_string();
    wait_until("the start reaches the engine", || {
        !rt.calls_of(Op::Up).is_empty()
    })
    .await;
    let v = c.get(&format!("/api/sessions/{id}")).await.json();
    assert_eq!(v["status"], "starting", "{v}");
    assert_eq!(v["terminals"].as_array().unwrap().len(), 0, "{v}");

    let r = c.req("DELETE", &format!("/api/sessions/{id}"), None).await;
    assert_eq!(r.status, 200, "{r:?}");
    gate.release();
    // The start finishes, finds its session stopped, and removes the lab it made.
    wait_until("the late lab is removed", || {
        rt.calls_of(Op::Down).len() == 2 && rt.labs().is_empty()
    })
    .await;
    let v = c.get(&format!("/api/sessions/{id}")).await.json();
    assert_eq!(v["status"], "stopped", "{v}");
}

#[tokio::test]
async fn a_full_host_answers_503_and_starts_nothing() {
    let rt = FakeRuntime::new();
    let s = Server::start_fake("fk-c-", 1, None, rt.clone()).await;
    let mut alice = Client::new(s.addr);
    alice.start_lab("00-hello", WITHIN).await;
    let mut bob = Client::new(s.addr);
    bob.get("/").await;
    let r = bob.post_json("/api/labs/00-hello/sessions", "").await;
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert_eq!(rt.calls_of(Op::Up).len(), 1);
}

#[tokio::test]
async fn reset_reruns_the_setup_or_starts_a_fresh_lab() {
    let (s, rt) = server("fk-r-").await;
    let mut c = Client::new(s.addr);
    let id = c.start_lab("00-hello", WITHIN).await;
    let sb = sandbox(&s, &id).await;
    let setups = |rt: &FakeRuntime| {
        rt.commands(&sb)
            .iter()
            .filter(|cmd| cmd.contains(SETUP))
            .count()
    };
    assert_eq!(setups(&rt), 1);

    // Step reset: the same lab, the setup once more.
    let r = c
        .post_json(&format!("/api/sessions/{id}/reset"), r#"{"scope":"step"}"#)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["id"], id.as_str());
    assert_eq!(setups(&rt), 2);
    assert_eq!(rt.calls_of(Op::Up).len(), 1);

    // A bad scope is a 400 that names it; nothing runs.
    let calls = rt.calls().len();
    let r = c
        .post_json(&format!("/api/sessions/{id}/reset"), r#"{"scope":"world"}"#)
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("world"), "{r:?}");
    assert_eq!(rt.calls().len(), calls);

    // Lab reset: the old lab goes, a new one (another name) starts.
    let r = c
        .post_json(&format!("/api/sessions/{id}/reset"), r#"{"scope":"lab"}"#)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let new_id = r.json()["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    wait_for_status(&mut c, &new_id, "running").await;
    let new_sb = sandbox(&s, &new_id).await;
    assert!(rt.calls_of(Op::Down).contains(&Call::Down {
        sandbox: sb.clone()
    }));
    assert_eq!(rt.labs(), [new_sb]);
    assert_eq!(
        c.get(&format!("/api/sessions/{id}")).await.json()["status"],
        "stopped"
    );
}

#[tokio::test]
async fn the_sweep_expires_idle_labs_marks_broken_ones_lost_and_removes_orphans() {
    let (s, rt) = server("fk-s-").await;
    let mut alice = Client::new(s.addr);
    let idle = alice.start_lab("00-hello", WITHIN).await;
    let mut bob = Client::new(s.addr);
    let broken = bob.start_lab("00-hello", WITHIN).await;
    let (idle_sb, broken_sb) = (sandbox(&s, &idle).await, sandbox(&s, &broken).await);
    rt.add_lab("fk-s-orphan", 2);
    rt.add_lab("other-prefix", 2);

    // Alice's deadline passes (after the start has set its own); Bob's node-2 dies from outside.
    start_settled(&s, &idle).await;
    let now = kplab::domain::platform::now_ms();
    s.state.store.set_expiry(&idle, now - 1, now).await.unwrap();
    rt.set_health(&broken_sb, Health::Broken("node-2 exited (137)".into()));
    kplab::domain::lifecycle::sweep(&s.state).await.unwrap();

    let v = alice.get(&format!("/api/sessions/{idle}")).await.json();
    assert_eq!(v["status"], "expired", "{v}");
    let v = bob.get(&format!("/api/sessions/{broken}")).await.json();
    assert_eq!(v["status"], "lost", "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("node-2 exited"),
        "{v}"
    );
    let downs = rt.calls_of(Op::Down);
    for sb in [&idle_sb, &broken_sb, "fk-s-orphan"] {
        assert!(
            downs.contains(&Call::Down {
                sandbox: sb.to_string()
            }),
            "{sb} removed: {downs:?}"
        );
    }
    // Only this server's labs are its to remove.
    assert_eq!(rt.labs(), ["other-prefix"]);

    // Extending pushes the deadline of a live lab only.
    let fresh = alice.start_lab("01-network-planes", WITHIN).await;
    let r = alice
        .post_json(&format!("/api/sessions/{fresh}/extend"), "")
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["expires_in"].as_i64().unwrap() > 500);
    let r = alice
        .post_json(&format!("/api/sessions/{idle}/extend"), "")
        .await;
    assert_eq!(r.status, 409, "{r:?}");
}

#[tokio::test]
async fn a_restart_reattaches_healthy_labs_and_marks_vanished_ones_lost() {
    let (s, rt) = server("fk-x-").await;
    let mut alice = Client::new(s.addr);
    let kept = alice.start_lab("00-hello", WITHIN).await;
    let mut bob = Client::new(s.addr);
    let gone = bob.start_lab("00-hello", WITHIN).await;
    rt.set_health(&sandbox(&s, &gone).await, Health::Missing);

    // A second server on the same data directory and engine, as after a restart.
    let config = kplab_testkit::web::config(&s.data, "fk-x-", 4, Some(TOKEN), Default::default());
    let state = kplab::web::build_state(config, rt.clone()).await.unwrap();
    kplab::domain::lifecycle::recover(&state).await.unwrap();

    let kept = state.store.session(&kept).await.unwrap().unwrap();
    assert_eq!(kept.status.as_str(), "running");
    assert_eq!(rt.labs(), std::slice::from_ref(&kept.sandbox));
    let gone = state.store.session(&gone).await.unwrap().unwrap();
    assert_eq!(gone.status.as_str(), "lost");
    assert!(gone.detail.contains("gone"), "{}", gone.detail);
}

#[tokio::test]
async fn a_terminal_reaches_the_labs_shell_for_its_owner_only() {
    let (s, rt) = server("fk-t-").await;
    let mut c = Client::new(s.addr);
    let id = c.start_lab("00-hello", WITHIN).await;
    let sb = sandbox(&s, &id).await;

    // The fake shell echoes: what the learner types comes back through the WebSocket.
    let mut t = open_term(&c, &id, "node-2").await.expect("terminal");
    t.type_text("echo fake-shell-42\r").await;
    t.wait_for("fake-shell-42", WITHIN).await;
    t.close().await;
    assert_eq!(
        rt.calls_of(Op::Terminal),
        [Call::Terminal {
            sandbox: sb.clone(),
            host: "node-2".into()
        }]
    );
    // A second connection reuses the shell, its output included.
    let mut t = open_term(&c, &id, "node-2").await.expect("terminal again");
    t.type_text("echo again\r").await;
    t.wait_for("again", WITHIN).await;
    t.close().await;
    assert_eq!(rt.calls_of(Op::Terminal).len(), 1);

    // A host the lab does not have, another learner, a stopped lab: refused, nothing opened.
    assert_eq!(open_term(&c, &id, "node-7").await.err(), Some(404));
    let mut mallory = Client::new(s.addr);
    mallory.get("/").await;
    assert_eq!(open_term(&mallory, &id, "node-1").await.err(), Some(403));
    c.req("DELETE", &format!("/api/sessions/{id}"), None).await;
    assert_eq!(open_term(&c, &id, "node-1").await.err(), Some(409));
    assert_eq!(rt.calls_of(Op::Terminal).len(), 1);
}

#[tokio::test]
async fn the_page_forms_drive_the_same_lifecycle() {
    let (s, rt) = server("fk-h-").await;
    let mut c = Client::new(s.addr);
    c.get("/").await;
    let see_other = |r: &kplab_testkit::web::Resp, to: &str| {
        assert_eq!((r.status, r.header("location")), (303, Some(to)), "{r:?}");
    };
    see_other(&c.post_form("/name", "name=Ada").await, "/");
    let r = c
        .post_form("/name", &format!("name={}", "a".repeat(65)))
        .await;
    assert_eq!(r.status, 400, "{r:?}");

    see_other(
        &c.post_form("/labs/00-hello/start", "").await,
        "/labs/00-hello",
    );
    wait_until("the lab runs", || rt.labs().len() == 1).await;
    let sb = rt.labs().remove(0);
    let learner = c.cookie.clone().unwrap();
    let learner = &learner[learner.len() - 32..];
    let t0 = std::time::Instant::now();
    while s
        .state
        .store
        .live_session(learner, "00-hello")
        .await
        .unwrap()
        .is_none_or(|x| x.status.as_str() != "running")
    {
        assert!(t0.elapsed() < WITHIN, "not running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let page = c.get("/labs/00-hello").await;
    assert_eq!(page.status, 200);

    // Step 2 runs its setup in the running lab; a step the lab does not have is a 400.
    const STEP_2_SETUP: &str = "kubectl create deployment web";
    let step2 = |rt: &FakeRuntime| {
        rt.commands(&sb)
            .iter()
            .filter(|c| c.contains(STEP_2_SETUP))
            .count()
    };
    see_other(
        &c.post_form("/labs/00-hello/step", "step=2").await,
        "/labs/00-hello",
    );
    assert_eq!(step2(&rt), 1, "{:?}", rt.commands(&sb));
    let r = c.post_form("/labs/00-hello/step", "step=9").await;
    assert_eq!(r.status, 400, "{r:?}");
    see_other(
        &c.post_form("/labs/00-hello/reset", "scope=step").await,
        "/labs/00-hello?done=reset-step",
    );
    assert_eq!(step2(&rt), 2);
    see_other(
        &c.post_form("/labs/00-hello/extend", "").await,
        "/labs/00-hello?done=extend",
    );

    see_other(
        &c.post_form("/labs/00-hello/stop", "").await,
        "/labs/00-hello?done=stop",
    );
    assert!(rt.labs().is_empty(), "{:?}", rt.labs());
    let r = c.post_form("/labs/00-hello/stop", "").await;
    assert_eq!(r.status, 409, "{r:?}");
}

#[tokio::test]
async fn the_instructor_pages_need_the_token() {
    let (s, _rt) = server("fk-i-").await;
    let bearer = format!("Bearer {TOKEN}");
    let form = "name=Form+workshop&labs=00-hello&capacity=4&warm_pool=0&minutes=60";
    let r = request(
        s.addr,
        "POST",
        "/instructor/workshops",
        &[("Authorization", &bearer)],
        Some(("application/x-www-form-urlencoded", form.as_bytes())),
    )
    .await;
    assert_eq!(r.status, 303, "{r:?}");
    let page = r.header("location").unwrap().to_string();
    assert!(page.starts_with("/instructor/workshops/"), "{page}");
    let w = page.rsplit('/').next().unwrap();
    let api = Instructor::new(s.addr)
        .get(&format!("/api/workshops/{w}"))
        .await
        .json();
    assert_eq!(api["name"], "Form workshop", "{api}");
    let code = api["join_code"].as_str().unwrap();

    let r = request(s.addr, "GET", &page, &[("Authorization", &bearer)], None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains(&format!("/j/{code}")), "the join link");
    // Without the token: no dashboard, no join code, no workshop created.
    let r = request(s.addr, "GET", &page, &[], None).await;
    assert!(r.status >= 400 || r.status == 303, "{r:?}");
    assert!(!r.body.contains(code));
    let r = request(
        s.addr,
        "POST",
        "/instructor/workshops",
        &[],
        Some(("application/x-www-form-urlencoded", form.as_bytes())),
    )
    .await;
    assert!(r.status >= 400, "{r:?}");
    let list = Instructor::new(s.addr).get("/api/workshops").await.json();
    assert_eq!(
        list["workshops"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
}

// ---------------------------------------------------------------- checks

#[tokio::test]
async fn checks_are_graded_on_what_the_lab_prints() {
    let (s, rt) = server("fk-g-").await;
    let mut c = Client::new(s.addr);
    let id = c.start_lab("00-hello", WITHIN).await;
    let sb = sandbox(&s, &id).await;
    let check = format!("/api/sessions/{id}/tasks/create-web/check");

    // The state check reads `.spec.replicas` with kubectl on node-1: 1 is not 2.
    rt.on_exec("{.spec.replicas}", 0, "1");
    let r = c.post_json(&check, "{}").await;
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert_eq!(v["passed"], false, "{v}");
    assert_eq!(v["checks"][0]["passed"], false);
    assert!(v["hint"].as_str().unwrap().contains("replicas"), "{v}");
    let cmd = rt
        .commands(&sb)
        .into_iter()
        .rfind(|c| c.contains("{.spec.replicas}"))
        .expect("the check ran kubectl in the lab");
    assert!(cmd.contains("deployments") && cmd.contains("web"), "{cmd}");

    // kubectl failing with NotFound is a failed check, not an error.
    rt.on_exec_output(
        "{.spec.replicas}",
        Output {
            code: 1,
            stdout: String::new(),
            stderr: "Error from server (NotFound): deployments.apps \"web\" not found".into(),
        },
    );
    let v = c.post_json(&check, "{}").await.json();
    assert_eq!(v["passed"], false, "{v}");
    assert!(
        v["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{v}"
    );

    // 2 replicas: passed, and the session shows it.
    rt.on_exec("{.spec.replicas}", 0, "2\n");
    rt.on_exec("{.status.readyReplicas}", 0, "2\n");
    let v = c.post_json(&check, "{}").await.json();
    assert_eq!(v["passed"], true, "{v}");
    assert_eq!(v["recorded"], true);
    assert!(v["hint"].is_null(), "{v}");
    let tasks = c.get(&format!("/api/sessions/{id}")).await.json()["tasks"].clone();
    let t = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "create-web")
        .unwrap()
        .clone();
    assert_eq!(t["passed"], true, "{t}");

    // An answer check compares with what its command prints in the lab.
    rt.on_exec("kubectl get nodes -o name | wc -l", 0, "2\n");
    let answer = format!("/api/sessions/{id}/tasks/count-nodes/check");
    let v = c.post_json(&answer, r#"{"answer":"7"}"#).await.json();
    assert_eq!(v["passed"], false, "{v}");
    let v = c.post_json(&answer, r#"{"answer":" 2 "}"#).await.json();
    assert_eq!(v["passed"], true, "{v}");
    let v = c.post_json(&answer, "{}").await.json();
    assert_eq!(v["passed"], false, "no answer: {v}");

    // Unknown task, bad body: 404 and 400, nothing run.
    let calls = rt.calls().len();
    let r = c
        .post_json(&format!("/api/sessions/{id}/tasks/nope/check"), "{}")
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = c.post_json(&answer, r#"{"answer":"2","extra":1}"#).await;
    assert!(r.status == 400 || r.status == 422, "{r:?}");
    assert_eq!(rt.calls().len(), calls);
}

#[tokio::test]
async fn a_lab_that_cannot_run_the_check_fails_it_with_the_reason() {
    let (s, rt) = server("fk-e-").await;
    let mut c = Client::new(s.addr);
    let id = c.start_lab("00-hello", WITHIN).await;
    rt.fail_next(Op::Exec, 1, "container kplab-x-node-1 is restarting");
    let v = c
        .post_json(&format!("/api/sessions/{id}/tasks/create-web/check"), "{}")
        .await
        .json();
    assert_eq!(v["passed"], false, "{v}");
    assert!(
        v["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("is restarting"),
        "{v}"
    );
}

// ---------------------------------------------------------------- panel

#[tokio::test]
async fn the_panel_reports_bad_input_and_a_missing_lab() {
    let (s, rt) = server("fk-k-").await;
    let mut c = Client::new(s.addr);
    let id = c.start_lab("00-hello", WITHIN).await;
    let sb = sandbox(&s, &id).await;
    let ruleset = format!("/api/sessions/{id}/nodes/node-1/ruleset");

    // Rules as iptables-save prints them: a graph, and a first snapshot; the same rules again
    // take no second snapshot.
    rt.on_exec(
        "iptables-save",
        0,
        "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n[3:180] -A PREROUTING -j KUBE-SERVICES\nCOMMIT\n",
    );
    let r = c.get(&ruleset).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!r.json()["snapshot"].is_null(), "{r:?}");
    assert!(rt
        .calls_of(Op::Exec)
        .iter()
        .any(|call| matches!(call, Call::Exec { host, argv, .. }
            if host == "node-1" && argv[0] == "iptables-save")));
    let r = c.get(&ruleset).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["snapshot"].is_null(), "{r:?}");

    // Bad input: a node the lab does not have, a bad port, an unknown session.
    let r = c
        .get(&format!("/api/sessions/{id}/nodes/node-9/ruleset"))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("node-9"), "{r:?}");
    let r = c
        .post_json(
            &format!("/api/sessions/{id}/trace"),
            r#"{"from":"client","to":"web","port":0}"#,
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = c
        .get("/api/sessions/nosuchsession/nodes/node-1/ruleset")
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    let mut mallory = Client::new(s.addr);
    mallory.get("/").await;
    assert_eq!(mallory.get(&ruleset).await.status, 403);

    // The lab's containers vanish: the panel finds out at once and says the lab is lost
    // (409), never stale rules and never an internal error.
    rt.set_health(&sb, Health::Missing);
    let r = c.get(&ruleset).await;
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.body.contains("stopped working"), "{r:?}");
    let r = c
        .post_json(
            &format!("/api/sessions/{id}/trace"),
            r#"{"from":"client","to":"node-1","port":30080,"mode":"model"}"#,
        )
        .await;
    assert!(r.status >= 400, "{r:?}");

    // Once the sweep has marked the lab lost, the panel says the lab is not running.
    kplab::domain::lifecycle::sweep(&s.state).await.unwrap();
    let r = c.get(&ruleset).await;
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.body.contains("lost"), "{r:?}");
    let r = c.get(&format!("/api/sessions/{id}/snapshots")).await;
    assert!(r.status == 200 || r.status == 409, "{r:?}");
}

/// `nft -j list table ip kube-proxy` as the node image's nft 1.0.6 prints it for a NodePort
/// Service with three endpoints and a Service without endpoints (recorded in a container).
const NFT_TABLE: &str = include_str!("../src/domain/panel/testdata/nft_kube_proxy.json");

#[tokio::test]
async fn the_panel_draws_the_nftables_table_beside_iptables_and_says_the_model_cannot_trace_it() {
    let (s, rt) = server("fk-n-").await;
    let mut c = Client::new(s.addr);
    let id = c.start_lab("00-hello", WITHIN).await;
    let ruleset = format!("/api/sessions/{id}/nodes/node-1/ruleset");
    let nftables = format!("/api/sessions/{id}/nodes/node-1/nftables");
    rt.on_exec(
        "iptables-save",
        0,
        "*filter\n:FORWARD ACCEPT [0:0]\n:cali-FORWARD - [0:0]\n[0:0] -A FORWARD -j cali-FORWARD\nCOMMIT\n",
    );
    rt.on_exec(
        "kubectl get",
        0,
        r#"{"items":[{"kind":"Service","metadata":{"namespace":"default","name":"web"},"spec":{"clusterIP":"10.96.5.5","ports":[{"port":80,"protocol":"TCP"}]}},
            {"kind":"Node","metadata":{"name":"node-1"},"status":{"addresses":[{"type":"InternalIP","address":"172.28.9.10"}]}}]}"#,
    );

    // A node in iptables mode: no nft table, no error.
    let r = c.get(&ruleset).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["nft"], serde_json::json!([]), "{r:?}");
    assert!(r.json()["nft_error"].is_null(), "{r:?}");

    // nftables mode: the table beside the iptables chains, read with `nft -j`.
    rt.on_exec("kube-proxy", 0, &format!("{NFT_TABLE}\n#kplab-ip6\n"));
    let r = c.get(&ruleset).await;
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert!(
        v["chains"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "cali-FORWARD"),
        "{v}"
    );
    let t = &v["nft"][0];
    assert_eq!(t["prefix"], "kube-proxy");
    assert!(t["chains"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "kube-proxy:@service-ips" && c["kind"] == "map"));
    assert!(t["sets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "cluster-ips"));
    assert!(rt
        .calls_of(Op::Exec)
        .iter()
        .any(|call| matches!(call, Call::Exec { argv, .. }
        if argv.join(" ").contains("nft -j list table ip kube-proxy"))));
    let r = c.get(&nftables).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["tables"][0]["name"], "kube-proxy");

    // The model tracer does not guess on an nftables node.
    let r = c
        .post_json(
            &format!("/api/sessions/{id}/trace"),
            r#"{"from":"node-1","to":"web","port":80,"mode":"model"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert_eq!(v["proxy_mode"], "nftables", "{v}");
    assert_eq!(v["model"]["hops"], serde_json::json!([]), "{v}");
    assert!(
        v["model"]["unsupported"]
            .as_str()
            .unwrap()
            .contains("does not follow nftables verdict maps yet"),
        "{v}"
    );
    assert!(v["comparison"].is_null(), "{v}");

    // Garbage where the table should be (the learner is root in the node): the iptables view
    // stands with a sentence about the table; the nftables endpoint answers 422.
    for garbage in ["not json at all", "{\"nftables\": 3}", &"[".repeat(5000)] {
        rt.on_exec("kube-proxy", 0, garbage);
        let r = c.get(&ruleset).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.json()["nft_error"].as_str().unwrap().contains("nft"),
            "{r:?}"
        );
        let r = c.get(&nftables).await;
        assert_eq!(r.status, 422, "{r:?}");
        assert!(r.body.contains("nft"), "{r:?}");
    }
    let r = c
        .get(&format!("/api/sessions/{id}/nodes/node-9/nftables"))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    let mut mallory = Client::new(s.addr);
    mallory.get("/").await;
    assert_eq!(mallory.get(&nftables).await.status, 403);
}

// ---------------------------------------------------------------- workshops

#[tokio::test]
async fn an_instructor_runs_a_workshop_and_sees_learners_progress() {
    let (s, rt) = server("fk-w-").await;
    let teacher = Instructor::new(s.addr);

    // Without the token: refused, nothing created.
    let r = request(
        s.addr,
        "POST",
        "/api/workshops",
        &[("Authorization", "Bearer wrong-token-0000000000")],
        json_body(r#"{"name":"x","labs":["00-hello"],"capacity":2,"warm_pool":0}"#),
    )
    .await;
    assert!(r.status == 401 || r.status == 403, "{r:?}");

    let (w, code) = teacher.create("Services 101", 3, 0).await;
    let mut events = dashboard_stream(s.addr, &w).await;
    let first = tokio::time::timeout(WITHIN, events.recv())
        .await
        .expect("a snapshot")
        .unwrap();
    assert_eq!(first.event, "snapshot");
    assert_eq!(first.data["rows"].as_array().unwrap().len(), 0);
    let list = teacher.get("/api/workshops").await;
    assert_eq!(list.status, 200, "{list:?}");
    assert!(list.body.contains("Services 101"), "{list:?}");

    // A learner joins with the code (any case) and gets a lab of the workshop's lab.
    let mut alice = Client::new(s.addr);
    assert_eq!(alice.get(&format!("/j/{code}")).await.status, 200);
    let r = alice
        .post_json(
            "/api/workshops/join",
            &serde_json::json!({"code": code.to_lowercase(), "name": "Alice"}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    assert_eq!(j["workshop"], w.as_str());
    assert_eq!(j["lab"], "00-hello");
    // No warm pool: she waits in line until the pool's loop starts her lab.
    assert_eq!(j["status"], "queued", "{j}");
    let learner = j["learner"].as_str().unwrap().to_string();
    let t0 = std::time::Instant::now();
    let session = loop {
        let me = alice.get("/api/workshops/me").await.json();
        assert_eq!(me["name"], "Alice", "{me}");
        if me["session"]["status"] == "running" {
            break me["session"]["id"].as_str().unwrap().to_string();
        }
        assert!(t0.elapsed() < WITHIN, "{me}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        rt.calls_of(Op::Up)[0],
        Call::Up {
            sandbox: sandbox(&s, &session).await,
            learner: learner.clone(),
            nodes: 2
        }
    );
    assert_eq!(rt.calls_of(Op::Up).len(), 1);
    // Her workshop page leads to her lab.
    let r = alice.get("/w").await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/labs/00-hello")),
        "{r:?}"
    );

    // A wrong code joins nothing.
    let mut eve = Client::new(s.addr);
    let r = eve
        .post_json("/api/workshops/join", r#"{"code":"ZZZZZZ","name":"Eve"}"#)
        .await;
    assert!(r.status >= 400 && r.status < 500, "{r:?}");

    // The dashboard has Alice's row; her raised hand and a passed task show there.
    let rows = |v: serde_json::Value| v["rows"].as_array().unwrap().clone();
    let d = teacher.get(&format!("/api/workshops/{w}/dashboard")).await;
    assert_eq!(d.status, 200, "{d:?}");
    let row = rows(d.json())[0].clone();
    assert_eq!(row["learner"], learner.as_str());
    assert_eq!(row["name"], "Alice");
    assert_eq!(row["status"], "running");
    assert_eq!(row["tasks_passed"], 0);

    let r = alice
        .post_json("/api/workshops/me/hand", r#"{"raised":true}"#)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(alice.get("/api/workshops/me").await.json()["hand"], true);
    rt.on_exec("kubectl get nodes -o name | wc -l", 0, "2\n");
    let v = alice
        .post_json(
            &format!("/api/sessions/{session}/tasks/count-nodes/check"),
            r#"{"answer":"2"}"#,
        )
        .await
        .json();
    assert_eq!(v["passed"], true, "{v}");
    let row = rows(
        teacher
            .get(&format!("/api/workshops/{w}/dashboard"))
            .await
            .json(),
    )[0]
    .clone();
    assert!(row["hand_ms"].as_i64().unwrap() > 0, "{row}");
    assert_eq!(row["tasks_passed"], 1, "{row}");
    // The open dashboard was pushed the same row.
    loop {
        let ev = tokio::time::timeout(WITHIN, events.recv())
            .await
            .expect("a row event with the passed task")
            .unwrap();
        if ev.event == "row" && ev.data["tasks_passed"] == 1 {
            assert_eq!(ev.data["learner"], learner.as_str());
            break;
        }
    }

    // Learners cannot use the instructor's API.
    let r = alice.get(&format!("/api/workshops/{w}/dashboard")).await;
    assert!(r.status == 401 || r.status == 403, "{r:?}");

    // Ending the workshop stops its labs.
    let r = teacher.post(&format!("/api/workshops/{w}/end"), "{}").await;
    assert_eq!(r.status, 200, "{r:?}");
    wait_until("the workshop's labs are removed", || rt.labs().is_empty()).await;
}

#[tokio::test]
async fn a_warm_pool_starts_ahead_and_a_joining_learner_gets_a_running_lab() {
    let (s, rt) = server("fk-q-").await;
    let teacher = Instructor::new(s.addr);
    let (w, code) = teacher.create("Warm", 3, 2).await;
    s.wait_pool(&w, 2, WITHIN).await;
    let pooled = rt.labs();
    assert_eq!(pooled.len(), 2, "{pooled:?}");

    let mut bob = Client::new(s.addr);
    let j = bob
        .post_json(
            "/api/workshops/join",
            &serde_json::json!({"code": code, "name": "Bob"}).to_string(),
        )
        .await
        .json();
    assert_eq!(j["status"], "running", "a warm lab: {j}");
    let sb = sandbox(&s, j["session"].as_str().unwrap()).await;
    assert!(pooled.contains(&sb), "{sb} from the pool {pooled:?}");
}

/// Two `kplab serve` on one Docker host with the same lab prefix: each labels its labs with
/// its own persistent server id, and each one's orphan sweep removes only its own labs (and
/// labs with the prefix but no id, made before servers had ids).
#[tokio::test]
async fn two_servers_on_one_host_remove_only_their_own_orphans() {
    let rt = FakeRuntime::new();
    let a = Server::start_fake("fk-two-", 4, Some(TOKEN), rt.clone()).await;
    let b = Server::start_fake("fk-two-", 4, Some(TOKEN), rt.clone()).await;
    let (id_a, id_b) = (
        a.state.server_id().await.unwrap(),
        b.state.server_id().await.unwrap(),
    );
    assert_ne!(id_a, id_b);
    // The id is kept in the server's database: asked again (a restart), it is the same.
    assert_eq!(
        a.state.store.server_id("something-else").await.unwrap(),
        id_a
    );

    // A learner's lab on server A carries A's id.
    let mut alice = Client::new(a.addr);
    let live = alice.start_lab("00-hello", WITHIN).await;
    let live_sb = sandbox(&a, &live).await;
    assert_eq!(rt.server_of(&live_sb).as_deref(), Some(id_a.as_str()));

    rt.add_lab_of("fk-two-orphan-a", 2, &id_a);
    rt.add_lab_of("fk-two-orphan-b", 2, &id_b);
    rt.add_lab("fk-two-legacy", 2);

    // B's sweep: A's running lab and A's orphan are not B's to remove.
    kplab::domain::lifecycle::sweep(&b.state).await.unwrap();
    let labs = rt.labs();
    assert!(labs.contains(&live_sb), "{labs:?}");
    assert!(labs.contains(&"fk-two-orphan-a".to_string()), "{labs:?}");
    assert!(!labs.contains(&"fk-two-orphan-b".to_string()), "{labs:?}");
    assert!(!labs.contains(&"fk-two-legacy".to_string()), "{labs:?}");

    // A's sweep removes its own orphan and keeps its live lab.
    kplab::domain::lifecycle::sweep(&a.state).await.unwrap();
    assert_eq!(rt.labs(), std::slice::from_ref(&live_sb));
    assert_eq!(
        alice.get(&format!("/api/sessions/{live}")).await.json()["status"],
        "running"
    );
    b.shutdown().await;
    assert_eq!(rt.labs(), [live_sb], "B's shutdown leaves A's lab alone");
    a.shutdown().await;
}
