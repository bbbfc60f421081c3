//! Benchmark of the web platform (prints figures; asserts only that everything worked):
//! click-to-terminal-prompt for a cold start vs `kplab cluster up` in the same run; check
//! latency of a `rules` check and a 100-connection `probe`; page render latency with 200
//! concurrent connections from ApacheBench (`ab`, Debian's apache2-utils); 20 labs started
//! at once. Run: `cargo test -p kplab --release --test web_bench -- --ignored --nocapture`.

mod web_support;

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use web_support::{open_term, Client, Server};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

async fn check_ms(c: &mut Client, id: &str, task: &str, kind: &str) -> (f64, bool) {
    let r = c
        .post_json(&format!("/api/sessions/{id}/tasks/{task}/check"), "{}")
        .await
        .json();
    let chk = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == kind)
        .cloned()
        .unwrap_or_default();
    (
        chk["ms"].as_f64().unwrap_or(f64::NAN),
        chk["passed"] == true,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: needs Docker, the node image and ab (apache2-utils)"]
async fn bench_web_platform() {
    let server = Server::start("wb-m-", 20).await;
    let rt = server.state.runtime.clone();

    // Baseline: a bare `kplab cluster up` (network, 3 containers, all nodes Ready).
    let mut baseline = Vec::new();
    for i in 0..3 {
        let name = format!("wb-m-base{i}");
        let t0 = Instant::now();
        rt.up(&name, "bench", 2).await.unwrap();
        baseline.push(t0.elapsed().as_secs_f64() * 1000.0);
        rt.down(&name).await.unwrap();
    }

    // Cold start: click (POST) to the first shell prompt in the terminal.
    let mut cold = Vec::new();
    let mut c = Client::new(server.addr);
    c.get("/").await;
    let mut id = String::new();
    for run in 0..3 {
        let t0 = Instant::now();
        id = c.start_lab("00-hello", Duration::from_secs(120)).await;
        let mut term = open_term(&c, &id, "node-1").await.unwrap();
        term.wait_for("# ", Duration::from_secs(30)).await;
        cold.push(t0.elapsed().as_secs_f64() * 1000.0);
        term.close().await;
        if run < 2 {
            c.req("DELETE", &format!("/api/sessions/{id}"), None).await;
        }
    }

    // Checks on a lab with a Service and two Ready pods (phase 2's setup runs first).
    assert_eq!(
        c.post_form("/labs/00-hello/phase", "phase=2").await.status,
        303
    );
    let mut term = open_term(&c, &id, "node-1").await.unwrap();
    term.type_text("kubectl expose deployment web --port=80\r")
        .await;
    term.wait_for("service/web exposed", Duration::from_secs(30))
        .await;
    term.close().await;
    let t0 = Instant::now();
    while !check_ms(&mut c, &id, "expose-web", "probe").await.1 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the Service never answered"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (mut rules, mut probe20, mut probe100) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..20 {
        let (ms, ok) = check_ms(&mut c, &id, "expose-web", "rules").await;
        assert!(ok);
        rules.push(ms);
        probe20.push(check_ms(&mut c, &id, "expose-web", "probe").await.0);
    }
    for _ in 0..10 {
        let (ms, ok) = check_ms(&mut c, &id, "balance", "probe").await;
        assert!(ok, "100-connection probe failed");
        probe100.push(ms);
    }

    // Page render under 200 concurrent connections.
    let cookie = c.cookie.clone().unwrap();
    let ab = std::process::Command::new("ab")
        .args([
            "-q",
            "-n",
            "4000",
            "-c",
            "200",
            "-C",
            &cookie,
            &format!("http://{}/labs/00-hello", server.addr),
        ])
        .output()
        .expect("ab (apache2-utils) must be installed");
    let ab_out = String::from_utf8_lossy(&ab.stdout).to_string();
    assert!(
        ab.status.success(),
        "{ab_out}{}",
        String::from_utf8_lossy(&ab.stderr)
    );
    let field = |prefix: &str| {
        ab_out
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.to_string())
            .unwrap_or_default()
    };
    let failed = field("Failed requests:");
    assert!(failed.trim().ends_with(" 0"), "{ab_out}");
    let p50 = field("50%");
    let p99 = field("99%");
    let rps = field("Requests per second:");
    c.req("DELETE", &format!("/api/sessions/{id}"), None).await;

    // 20 labs at once.
    let t0 = Instant::now();
    let starts = (0..20).map(|_| {
        let addr = server.addr;
        async move {
            let mut l = Client::new(addr);
            l.get("/").await;
            let r = l.post_json("/api/labs/00-hello/sessions", "").await;
            let id = r.json()["id"].as_str().unwrap().to_string();
            let deadline = Instant::now() + Duration::from_secs(300);
            loop {
                let s = l.get(&format!("/api/sessions/{id}")).await.json();
                match s["status"].as_str() {
                    Some("running") => return Ok((l, id, t0.elapsed())),
                    Some("starting") if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(500)).await
                    }
                    _ => return Err(format!("{id}: {} {}", s["status"], s["detail"])),
                }
            }
        }
    });
    let results = join_all(starts).await;
    let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let all_up = ok.iter().map(|(_, _, d)| *d).max().unwrap_or_default();
    for r in results.iter().flatten() {
        let (l, id, _) = r;
        let mut l = l.clone();
        l.req("DELETE", &format!("/api/sessions/{id}"), None).await;
    }

    let b50 = pct(&mut baseline.clone(), 0.5);
    let c50 = pct(&mut cold.clone(), 0.5);
    println!("\n== kplab web benchmark ==");
    println!("cluster up (baseline)          p50 {b50:.0} ms  runs {baseline:.0?}");
    println!("click -> terminal prompt (cold) p50 {c50:.0} ms  runs {cold:.0?}  ratio {:.2}x (target <= 1.5x)", c50 / b50);
    println!(
        "rules check                    p50 {:.0} ms  p90 {:.0} ms (target p50 < 300 ms)",
        pct(&mut rules, 0.5),
        pct(&mut rules, 0.9)
    );
    println!(
        "probe check, 20 connections    p50 {:.0} ms",
        pct(&mut probe20, 0.5)
    );
    println!(
        "probe check, 100 connections   p50 {:.0} ms  max {:.0} ms (target < 2000 ms)",
        pct(&mut probe100.clone(), 0.5),
        pct(&mut probe100, 1.0)
    );
    println!(
        "page render, ab -n 4000 -c 200: {} | {} | {} | {}",
        p50.trim(),
        p99.trim(),
        rps.trim(),
        failed.trim()
    );
    println!(
        "20 labs at once: {} running, {} failed, all up after {:.1} s",
        ok.len(),
        failures.len(),
        all_up.as_secs_f64()
    );
    for f in &failures {
        println!("  failed: {f}");
    }
    server.shutdown().await;
    assert!(failures.is_empty(), "{failures:?}");
}
