//! Killing `kplab serve` with SIGKILL in the middle of a session loses no recorded result,
//! and the restarted server re-attaches the running lab. Also exercises the `probe` and
//! `rules` checks on a real lab. Needs Docker and the node image.

use kplab_testkit::web as web_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kplab::store::{SqlStore, Store};
use web_support::{open_term, repo, Client};

fn spawn_server(port: u16, data: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kplab"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--lab-prefix",
            "wb-k-",
            "--sweep-secs",
            "2",
        ])
        .arg("--data-dir")
        .arg(data)
        .arg("--labs")
        .arg(repo().join("labs"))
        .arg("--static-dir")
        .arg(repo().join("static"))
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(data.join(format!("server-{}.log", std::process::id())))
                .map(Stdio::from)
                .unwrap_or(Stdio::null()),
        )
        .spawn()
        .expect("spawn kplab serve")
}

async fn wait_healthy(c: &mut Client) {
    let t0 = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(c.addr).await.is_ok()
            && c.get("/healthz").await.status == 200
        {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "server not healthy within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Docker and root"]
async fn sigkill_loses_no_result_and_the_lab_is_reattached() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = spawn_server(port, data.path());
    let mut c = Client::new(format!("127.0.0.1:{port}").parse().unwrap());
    wait_healthy(&mut c).await;
    c.get("/").await;
    let id = c.start_lab("00-hello", Duration::from_secs(90)).await;

    let mut term = open_term(&c, &id, "node-1").await.unwrap();
    term.type_text("kubectl create deployment web --image=kplab/echo --replicas=2\r")
        .await;
    term.wait_for("deployment.apps/web created", Duration::from_secs(20))
        .await;
    // The task also wants both pods Ready: check until they are.
    let r = c
        .check_until_passed(&id, "create-web", Duration::from_secs(60))
        .await;
    assert_eq!(r["passed"], true, "{r}");

    // Step 2: expose the deployment; wait for both pods; the rules and probe checks pass.
    assert_eq!(
        c.post_form("/labs/00-hello/step", "step=2").await.status,
        303
    );
    term.type_text("kubectl expose deployment web --port=80\r")
        .await;
    term.wait_for("service/web exposed", Duration::from_secs(20))
        .await;
    let t0 = Instant::now();
    let r = loop {
        let r = c
            .post_json(&format!("/api/sessions/{id}/tasks/expose-web/check"), "{}")
            .await
            .json();
        if r["passed"] == true || t0.elapsed() > Duration::from_secs(60) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(r["passed"], true, "{r}");
    let kinds: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["state", "rules", "probe"]);
    assert!(
        r["checks"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("all 20 connections from"),
        "{r}"
    );
    term.close().await;

    // SIGKILL, right after a result was recorded.
    server.kill().unwrap();
    server.wait().unwrap();
    let mut server = spawn_server(port, data.path());
    wait_healthy(&mut c).await;

    let s = c.get(&format!("/api/sessions/{id}")).await.json();
    assert_eq!(s["status"], "running", "re-attached: {s}");
    assert_eq!(s["step"], 1);
    let passed: Vec<&str> = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["passed"] == true)
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        passed,
        ["create-web", "expose-web"],
        "no recorded result lost"
    );
    let store = SqlStore::connect(&format!(
        "sqlite:{}?mode=rwc",
        data.path().join("kplab.db").display()
    ))
    .await
    .unwrap();
    let events: Vec<String> = store
        .events(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(events.contains(&"reattached".to_string()), "{events:?}");

    // The re-attached lab works: a new terminal, and the cluster state is still there.
    let mut term = open_term(&c, &id, "node-1").await.unwrap();
    term.type_text("kubectl get svc web -o name\r").await;
    term.wait_for("service/web", Duration::from_secs(20)).await;
    term.close().await;

    assert_eq!(
        c.req("DELETE", &format!("/api/sessions/{id}"), None)
            .await
            .status,
        200
    );
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status();
    let t0 = Instant::now();
    while server.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = server.kill();
    let docker =
        kplab::engine::runtime::DockerRuntime::connect(kplab::sandbox::plan::DEFAULT_IMAGE)
            .await
            .unwrap();
    let left = kplab::engine::runtime::LabRuntime::list(&docker, "wb-k-")
        .await
        .unwrap();
    for l in &left {
        let _ = kplab::engine::runtime::LabRuntime::down(&docker, &l.name).await;
    }
    assert!(left.is_empty(), "labs left behind: {left:?}");
}
