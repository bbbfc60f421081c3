//! `kplab labs test` and `kplab labs list` on small fixture labs in a temp dir: a good lab
//! passes, and each kind of broken lab is caught (a check that passes vacuously before the
//! solution, a failing runnable block, a failing solution command, a wrong reference answer),
//! every lab cluster removed afterwards. The labs run at once (`--jobs 7`), on one node each.
//! A two-node lab whose steps set `proxyMode` shows `labs test` switching kube-proxy between
//! iptables and nftables before each step's setup, as the web platform does.
//!
//! Needs Docker and root: `#[ignore]`d like the other Docker tests; the README's test command
//! (`--include-ignored`) runs it, and then a missing Docker daemon is a failure.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn kplab(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kplab"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run kplab");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

/// A one-node lab whose single step has: a `command` check on a marker file, a `state` check
/// on a Deployment, an `answer` check read live; one runnable block per host kind; and a
/// second step with a `run` block (current tab = node-1) and a `client` block. `edit` changes
/// each step's text before it is written.
fn fixture(root: &Path, id: &str, edit: impl Fn(String) -> String) {
    let dir = root.join(id);
    write(
        &dir,
        "lab.md",
        &format!(
            "---\ntitle: Fixture {id}\nsummary: A fixture.\nnodes: 1\nminutes: 10\n---\nIntro.\n"
        ),
    );
    let step1 = r#"---
title: Marker and deployment
setup:
  - rm -f /tmp/marker
  - kubectl delete deployment web >/dev/null 2>&1 || true
tasks:
  - id: marker
    title: Create the marker
    hint: touch it
    checks:
      - kind: command
        title: the marker exists and says done
        host: node-1
        run: "cat /tmp/marker"
        contains: "done"
  - id: deploy
    title: Create web
    checks:
      - kind: state
        title: web asks for 1 replica
        resource: deployments
        name: web
        jsonpath: "{.spec.replicas}"
        equals: "1"
  - id: count
    title: How many nodes?
    checks:
      - kind: answer
        command: kubectl get nodes -o name | wc -l
answers:
  count: {host: node-1, run: "kubectl get nodes -o name | wc -l"}
solution:
  - echo done > /tmp/marker
  - kubectl get deployment web >/dev/null 2>&1 || kubectl create deployment web --image=kplab/echo --replicas=1
---
# Marker

```sh run=node-1
echo done > /tmp/marker
cat /tmp/marker
```

As in the terminal, a line's status is its last command's, and the `k` alias works:

```sh run=node-1
false; echo "exit code: $?"
k get nodes -o name
```
"#;
    write(&dir, "01-marker.md", &edit(step1.to_string()));
    write(
        &dir,
        "02-client.md",
        &edit(
            r#"---
title: The client
setup:
  - {host: client, run: "rm -f /tmp/seen"}
tasks:
  - id: client-file
    title: Write a file on the client
    checks:
      - kind: command
        host: client
        run: "test -f /tmp/seen && echo yes"
        matches: "^yes$"
solution:
  - {host: client, run: "touch /tmp/seen"}
---
```sh run
hostname
```

```sh run=client
touch /tmp/seen
```
"#
            .to_string(),
        ),
    );
}

fn lab<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["labs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lab"] == id)
        .unwrap_or_else(|| panic!("no {id} in the report"))
}

fn problems(l: &Value) -> String {
    let mut p: Vec<String> = l["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    for s in l["steps"].as_array().unwrap() {
        for x in s["problems"].as_array().unwrap() {
            p.push(x.as_str().unwrap().to_string());
        }
    }
    p.join("\n")
}

#[test]
#[ignore = "needs Docker and root"]
fn labs_test_passes_a_good_lab_and_catches_each_broken_one() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fixture(root, "90-good", |s| s);
    // Every check passes before the solution: setup leaves the marker and the client's file in
    // place, and the deployment check is dropped, so no task fails before (the answer task
    // fails only for want of an answer, which does not count).
    fixture(root, "91-vacuous", |s| {
        s.replace("  - rm -f /tmp/marker\n", "  - echo done > /tmp/marker\n")
            .replace("run: \"rm -f /tmp/seen\"", "run: \"touch /tmp/seen\"")
            .replace(
                "  - id: deploy\n    title: Create web\n    checks:\n      - kind: state\n        title: web asks for 1 replica\n        resource: deployments\n        name: web\n        jsonpath: \"{.spec.replicas}\"\n        equals: \"1\"\n",
                "",
            )
    });
    fixture(root, "92-bad-block", |s| {
        s.replace(
            "cat /tmp/marker\n```",
            "cat /tmp/marker\nls /no-such-thing\necho still running\n```",
        )
    });
    fixture(root, "93-bad-solution", |s| {
        s.replace(
            "  - echo done > /tmp/marker\n  - kubectl get",
            "  - echo done > /tmp/no-such-dir/marker\n  - kubectl get",
        )
        // The runnable block would make the marker check pass anyway: keep it out of the way.
        .replace("echo done > /tmp/marker\ncat /tmp/marker\n", "true\n")
    });
    // The deployment check passes before the learner acts (setup creates web), while the
    // marker still fails: not vacuous as a lab, but one task is not earned.
    let unearned = |s: String| {
        s.replace(
            "  - kubectl delete deployment web >/dev/null 2>&1 || true\n",
            "  - kubectl get deployment web >/dev/null 2>&1 || kubectl create deployment web --image=kplab/echo --replicas=1\n",
        )
    };
    fixture(root, "97-unearned", unearned);
    // The same task marked as one that only asks to look: allowed, and reported as such.
    fixture(root, "98-observe", |s| {
        unearned(s).replace(
            "  - id: deploy\n    title: Create web\n",
            "  - id: deploy\n    title: Look at web\n    observe: true\n",
        )
    });
    fixture(root, "94-wrong-answer", |s| {
        s.replace(
            "  count: {host: node-1, run: \"kubectl get nodes -o name | wc -l\"}",
            "  count: \"7\"",
        )
    });

    // The listing first: no Docker needed.
    let (ok, out, err) = kplab(&["labs", "list", root.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let good = &list[0];
    assert_eq!(good["id"], "90-good");
    assert_eq!(good["minutes"], 10);
    assert_eq!(good["nodes"], 1);
    assert_eq!(good["tasks"], 4);
    assert_eq!(
        good["steps"][0]["task_ids"],
        serde_json::json!(["marker", "deploy", "count"])
    );
    assert_eq!(good["steps"][1]["runnable_blocks"], 2);
    let (ok, table, _) = kplab(&["labs", "list", root.to_str().unwrap()]);
    assert!(ok);
    assert!(
        table.contains("7 lab(s), 27 task(s), 6 graded by packets, rules or state"),
        "{table}"
    );
    assert_eq!(list[6]["id"], "98-observe");
    assert_eq!(
        list[6]["steps"][0]["observe"],
        serde_json::json!(["deploy"])
    );
    assert_eq!(good["graded"], 1);

    let t0 = std::time::Instant::now();
    let (ok, out, err) = kplab(&[
        "labs",
        "test",
        root.to_str().unwrap(),
        "--jobs",
        "7",
        "--settle",
        "6",
        "--json",
    ]);
    eprintln!("{err}");
    eprintln!(
        "labs test on 7 fixture labs: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(!ok, "broken labs must make the command fail");
    let report: Value = serde_json::from_str(&out).expect("JSON report on stdout");
    assert_eq!(report["passed"], false);
    assert!(
        err.contains("labs test: 5 of 7 lab(s) FAILED"),
        "summary: {err}"
    );

    let good = lab(&report, "90-good");
    assert_eq!(good["passed"], true, "{}", problems(good));
    let step = &good["steps"][0];
    // Before the solution the command and state checks failed, for real reasons.
    let marker = &step["tasks"][0];
    assert_eq!(marker["failed_before"], true);
    assert!(
        marker["before"]["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("exited 1"),
        "{marker}"
    );
    assert_eq!(step["tasks"][1]["failed_before"], true);
    // The answer task fails before only for want of an answer, which does not count.
    assert_eq!(step["tasks"][2]["failed_before"], false);
    assert_eq!(step["tasks"][2]["answer"], "1");
    for s in good["steps"].as_array().unwrap() {
        for t in s["tasks"].as_array().unwrap() {
            assert_eq!(t["after"]["passed"], true, "{t}");
        }
    }
    let hosts: Vec<&str> = good["steps"][1]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["what"] == "block")
        .map(|c| c["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["node-1", "client"]);

    let vacuous = lab(&report, "91-vacuous");
    assert_eq!(vacuous["passed"], false);
    assert!(
        problems(vacuous).contains("every check passes vacuously"),
        "{}",
        problems(vacuous)
    );

    // A task that passes before the learner acts fails the lab, naming the task and the way
    // out; marked `observe: true`, the same task is allowed and reported as observe-only.
    let unearned = lab(&report, "97-unearned");
    assert_eq!(unearned["passed"], false);
    let p = problems(unearned);
    assert!(
        p.contains("01-marker: task \"deploy\" passes before the learner acts")
            && p.contains("observe: true"),
        "{p}"
    );
    assert!(!p.contains("vacuously"), "{p}");
    assert_eq!(unearned["steps"][0]["tasks"][1]["observe_only"], false);
    let observe = lab(&report, "98-observe");
    assert_eq!(observe["passed"], true, "{}", problems(observe));
    let deploy = &observe["steps"][0]["tasks"][1];
    assert_eq!(deploy["observe_only"], true);
    assert_eq!(deploy["before"]["passed"], true, "{deploy}");
    assert!(
        err.contains("deploy                       pass (observe only)"),
        "{err}"
    );

    let bad_block = lab(&report, "92-bad-block");
    assert_eq!(bad_block["passed"], false);
    let p = problems(bad_block);
    assert!(
        p.contains("01-marker.md:38: runnable block on node-1 exited 2"),
        "{p}"
    );
    let block = bad_block["steps"][0]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["what"] == "block")
        .unwrap();
    // A failing line fails the block although the terminal goes on to the next line.
    assert_eq!(
        block["stderr"],
        "ls: cannot access '/no-such-thing': No such file or directory"
    );
    assert_eq!(block["stdout"], "done\nstill running");
    assert!(block["attempts"].as_u64().unwrap() >= 2, "retried: {block}");
    // The rest of the lab still ran and passed.
    assert_eq!(bad_block["steps"].as_array().unwrap().len(), 2);

    let bad_solution = lab(&report, "93-bad-solution");
    assert_eq!(bad_solution["passed"], false);
    let p = problems(bad_solution);
    assert!(
        p.contains("solution `echo done > /tmp/no-such-dir/marker` on node-1 exited"),
        "{p}"
    );
    assert!(
        p.contains("task \"marker\" fails after the solution"),
        "{p}"
    );
    let sol = bad_solution["steps"][0]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["what"] == "solution")
        .unwrap();
    assert!(
        sol["stderr"].as_str().unwrap().contains("no-such-dir"),
        "{sol}"
    );

    let wrong = lab(&report, "94-wrong-answer");
    assert_eq!(wrong["passed"], false);
    let p = problems(wrong);
    assert!(
        p.contains(
            "task \"count\" fails after the solution: answer check \"your answer\": 7 is not the answer"
        ),
        "{p}"
    );

    // The human report names the failing block with its stderr.
    assert!(
        err.contains("== 92-bad-block (Fixture 92-bad-block): FAIL"),
        "{err}"
    );
    assert!(err.contains("cannot access '/no-such-thing'"), "{err}");

    // A lab whose step failed carries the cluster as it was then; a passing one does not.
    assert_eq!(good["diagnostics"].as_array().unwrap().len(), 0);
    let state = bad_block["diagnostics"].as_array().unwrap();
    assert_eq!(state.len(), 2, "objects, then node-1's logs: {state:?}");
    assert!(
        state[0]["stdout"]
            .as_str()
            .unwrap()
            .contains("service/kubernetes"),
        "{}",
        state[0]
    );
    let logs = state[1]["stdout"].as_str().unwrap();
    assert!(
        logs.contains("== kube-proxy") && logs.contains("== calico-node"),
        "{logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "the logs are plain text: {logs:?}"
    );
    assert!(err.contains("the lab when it failed:"), "{err}");

    // Every lab cluster was removed, the failed ones too. Only this test's labs (90-94, 97, 98): the
    // other tests of this file run at the same time with labs 95 and 96.
    let (ok, out, err) = kplab(&["cluster", "ls", "--json"]);
    assert!(ok, "{err}");
    let labs: Value = serde_json::from_str(&out).unwrap();
    let left: Vec<&str> = labs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .filter(|n| {
            [90, 91, 92, 93, 94, 97, 98]
                .iter()
                .any(|i| n.starts_with(&format!("lt-{i}-")))
        })
        .collect();
    assert!(left.is_empty(), "labs left behind: {left:?}");
}

#[test]
fn labs_test_refuses_invalid_content_and_unknown_labs_before_docker() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path(), "90-good", |s| {
        s.replace(
            "answers:\n  count: {host: node-1, run: \"kubectl get nodes -o name | wc -l\"}\n",
            "",
        )
    });
    let (ok, _, err) = kplab(&["labs", "test", tmp.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("01-marker.md:25: task \"count\" has an answer check but no reference answer"),
        "{err}"
    );
    let (ok, _, err) = kplab(&["labs", "list", tmp.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("1 error(s)"), "{err}");

    // A proxyMode the lab does not run.
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path(), "90-good", |s| {
        s.replacen(
            "---
title: ",
            "---
proxyMode: ipvs
title: ",
            1,
        )
    });
    let (ok, _, err) = kplab(&["labs", "test", tmp.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("01-marker.md:2: proxyMode must be iptables or nftables (the kube-proxy mode), not \"ipvs\""),
        "{err}"
    );
    // The proxyMode fixture is valid content (its run needs Docker).
    let tmp = tempfile::tempdir().unwrap();
    proxy_mode_fixture(tmp.path());
    let (ok, out, err) = kplab(&["labs", "list", tmp.path().to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("1 lab(s), 7 task(s)"), "{out}");

    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path(), "90-good", |s| s);
    let (ok, _, err) = kplab(&[
        "labs",
        "test",
        tmp.path().to_str().unwrap(),
        "--lab",
        "nope",
    ]);
    assert!(!ok);
    assert!(err.contains("no lab \"nope\" (labs: 90-good)"), "{err}");
}

#[test]
#[ignore = "needs Docker and root"]
fn labs_test_removes_its_lab_when_interrupted() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path(), "95-interrupted", |s| s);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kplab"))
        .args(["labs", "test", tmp.path().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the lab cluster runs its first step.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("kplab labs test ended before its first step:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains("step 01-marker") {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{seen}{rest}");
    assert!(
        rest.contains("interrupted: removing lab lt-95-interrupted-"),
        "{seen}{rest}"
    );
    let (ok, out, err) = kplab(&["cluster", "ls", "--json"]);
    assert!(ok, "{err}");
    assert!(
        !out.contains("lt-95-interrupted-"),
        "lab left behind: {out}"
    );
}

/// A two-node lab: step 1 runs in iptables (the default: a later step names a mode), step 2
/// sets `proxyMode: nftables`, step 3 inherits it, step 4 sets iptables again. Each step
/// checks on both nodes which mode's rules are there, and steps 2 and 3 that a Service
/// answers in nftables mode. Those tasks check what the platform did, not the learner:
/// `observe: true`.
fn proxy_mode_fixture(root: &Path) {
    let dir = root.join("96-proxy-mode");
    write(
        &dir,
        "lab.md",
        "---\ntitle: Fixture 96-proxy-mode\nsummary: kube-proxy's modes.\nnodes: 2\nminutes: 10\n---\nIntro.\n",
    );
    let shows = |mode: &str, task: &str| {
        let cmd = match mode {
            "nftables" => "nft list table ip kube-proxy >/dev/null && ! iptables -t nat -S KUBE-SERVICES >/dev/null 2>&1 && echo nftables",
            _ => "iptables -t nat -S KUBE-SERVICES >/dev/null && ! nft list table ip kube-proxy >/dev/null 2>&1 && echo iptables",
        };
        let mut t = format!(
            "  - id: {task}\n    title: Every node runs kube-proxy in {mode} mode\n    observe: true\n    checks:\n"
        );
        for node in ["node-1", "node-2"] {
            t.push_str(&format!(
                "      - kind: command\n        title: {node} shows {mode} rules only\n        host: {node}\n        run: \"{cmd}\"\n        matches: \"^{mode}$\"\n"
            ));
        }
        t.push_str(&format!(
            "      - kind: command\n        title: the ConfigMap says {mode}\n        host: node-1\n        run: \"kubectl -n kube-system get configmap kube-proxy -o jsonpath='{{.data.config\\\\.conf}}' | grep -x 'mode: {mode}'\"\n"
        ));
        t
    };
    let service = "  - id: SVC\n    title: web answers through its Service\n    observe: true\n    checks:\n      - kind: probe\n        title: 10 connections from node-2 reach web\n        from: node-2\n        target: svc:default/web:80\n        count: 10\n        expect: reachable\n";
    // Step 1: a marker task fails before its solution (the lab's checks are not vacuous).
    write(
        &dir,
        "01-iptables.md",
        &format!(
            "---\ntitle: iptables\nsetup:\n  - rm -f /tmp/m1\n  - kubectl get deployment web >/dev/null 2>&1 || kubectl create deployment web --image=kplab/echo --replicas=2\n  - kubectl get service web >/dev/null 2>&1 || kubectl expose deployment web --port=80\ntasks:\n{}  - id: m1\n    title: Marker\n    checks:\n      - kind: command\n        host: node-1\n        run: test -f /tmp/m1\nsolution:\n  - touch /tmp/m1\n---\nStep 1.\n",
            shows("iptables", "ipt-1")
        ),
    );
    write(
        &dir,
        "02-nftables.md",
        &format!(
            "---\ntitle: nftables\nproxyMode: nftables\ntasks:\n{}{}---\nStep 2.\n",
            shows("nftables", "nft-2"),
            service.replace("SVC", "svc-2")
        ),
    );
    write(
        &dir,
        "03-still-nftables.md",
        &format!(
            "---\ntitle: still nftables\ntasks:\n{}{}---\nStep 3.\n",
            shows("nftables", "nft-3"),
            service.replace("SVC", "svc-3")
        ),
    );
    write(
        &dir,
        "04-back.md",
        &format!(
            "---\ntitle: back to iptables\nproxyMode: iptables\ntasks:\n{}---\nStep 4.\n",
            shows("iptables", "ipt-4")
        ),
    );
}

#[test]
#[ignore = "needs Docker and root"]
fn labs_test_switches_kube_proxy_between_modes() {
    let tmp = tempfile::tempdir().unwrap();
    proxy_mode_fixture(tmp.path());
    let (ok, out, err) = kplab(&[
        "labs",
        "test",
        tmp.path().to_str().unwrap(),
        "--settle",
        "20",
        "--json",
    ]);
    eprintln!("{err}");
    let report: Value = serde_json::from_str(&out).expect("JSON report on stdout");
    let l = lab(&report, "96-proxy-mode");
    assert!(ok, "{}", problems(l));
    assert_eq!(l["passed"], true, "{}", problems(l));
    // Per step: the kube-proxy switch comes before the setup, and happens only on a change.
    let switch: Vec<(String, String)> = l["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let c = &s["commands"][0];
            assert_eq!(c["what"], "proxy", "{s}");
            (
                c["run"].as_str().unwrap().to_string(),
                c["stdout"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Step 1 may wait for kube-proxy's first sync after the lab started: "already in this
    // mode (waited …)".
    let want = [
        ("iptables", "already in this mode"),
        ("nftables", "switched"),
        ("nftables", "already in this mode"),
        ("iptables", "switched"),
    ];
    for ((run, out), (mode, said)) in switch.iter().zip(want) {
        assert_eq!(run, &format!("kube-proxy mode: {mode}"), "{switch:?}");
        assert!(out.starts_with(said), "{switch:?}");
    }
    assert_eq!(switch.len(), 4);
    // The mode checks passed before anything else ran: the switch was complete.
    for (i, task) in [(1, "nft-2"), (3, "ipt-4")] {
        let t = &l["steps"][i]["tasks"][0];
        assert_eq!(t["task"], task);
        assert_eq!(t["before"]["passed"], true, "{t}");
    }
}
