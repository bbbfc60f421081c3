//! The repository's own labs (`labs/`): valid, listed as the issue 6 contract asks (minutes,
//! steps, tasks), and every lab's reference solution run by `kplab labs test` on a fresh lab
//! cluster, so CI runs every lab's solution, runnable blocks and checks.
//!
//! The full run needs Docker and root: `#[ignore]`d like the other Docker tests; the README's
//! test command (`--include-ignored`) runs it, and then a missing Docker daemon is a failure.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn labs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../labs")
}

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

#[test]
fn repository_labs_validate() {
    let dir = labs_dir();
    let (ok, out, err) = kplab(&["labs", "validate", dir.to_str().unwrap()]);
    assert!(ok, "kplab labs validate labs:\n{err}");
    assert!(out.contains("no errors"), "{out}");
}

#[test]
fn repository_labs_list_as_the_contract_asks() {
    let dir = labs_dir();
    let (ok, out, err) = kplab(&["labs", "list", dir.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    let labs: Value = serde_json::from_str(&out).expect("JSON");
    let labs = labs.as_array().unwrap();
    assert_eq!(labs[0]["id"], "00-hello");
    let mut problems = Vec::new();
    for l in labs {
        let id = l["id"].as_str().unwrap();
        let minutes = l["minutes"].as_u64().unwrap();
        if !(10..=60).contains(&minutes) {
            problems.push(format!("{id}: minutes {minutes} is not 10..60"));
        }
        let steps = l["steps"].as_array().unwrap();
        let tasks: u64 = steps.iter().map(|s| s["tasks"].as_u64().unwrap()).sum();
        assert_eq!(l["tasks"].as_u64().unwrap(), tasks, "{id}: task total");
        if id != "00-hello" {
            if !(3..=8).contains(&steps.len()) {
                problems.push(format!(
                    "{id}: {} steps, the contract says 3-8",
                    steps.len()
                ));
            }
            if tasks < 5 {
                problems.push(format!("{id}: {tasks} tasks, the contract says at least 5"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The human table lists the same labs.
    let (ok, table, _) = kplab(&["labs", "list", dir.to_str().unwrap()]);
    assert!(ok);
    for l in labs {
        assert!(table.contains(l["id"].as_str().unwrap()), "{table}");
    }
}

/// The second edition's bar (issue 16): at least 12 labs and 130 tasks, at least 60 of them
/// graded by packets, rules or state; every lab from 03 on ends with one challenge step; every
/// task outside a challenge has a hint of two levels (where to look, then the command).
#[test]
fn repository_labs_meet_the_second_edition() {
    let catalog = labkit::Catalog::load(&labs_dir()).unwrap_or_else(|d| panic!("{d}"));
    let tasks: Vec<&labkit::Task> = catalog
        .labs
        .iter()
        .flat_map(|l| &l.steps)
        .flat_map(|s| &s.tasks)
        .collect();
    let graded = tasks.iter().filter(|t| t.graded_by_cluster()).count();
    let mut problems = Vec::new();
    if catalog.labs.len() < 12 {
        problems.push(format!("{} labs, at least 12 wanted", catalog.labs.len()));
    }
    if tasks.len() < 130 {
        problems.push(format!("{} tasks, at least 130 wanted", tasks.len()));
    }
    if graded < 60 {
        problems.push(format!(
            "{graded} tasks graded by packets, rules or state, at least 60 wanted"
        ));
    }
    for lab in &catalog.labs {
        let number: u32 = lab.id[..2].parse().unwrap_or(0);
        let challenges: Vec<usize> = (0..lab.steps.len())
            .filter(|&i| lab.steps[i].challenge)
            .collect();
        if number >= 3 && challenges != [lab.steps.len() - 1] {
            problems.push(format!(
                "{}: one challenge step, the last, wanted; challenge steps at {challenges:?} of {}",
                lab.id,
                lab.steps.len()
            ));
        }
        // A challenge's hints are the learner's choice to take; they may have fewer levels.
        for step in lab.steps.iter().filter(|s| !s.challenge) {
            for t in step.tasks.iter().filter(|t| t.hints().len() != 2) {
                problems.push(format!(
                    "{}/{}: task {:?} has {} hint level(s), 2 wanted (where to look, then the command)",
                    lab.id,
                    step.id,
                    t.id,
                    t.hints().len()
                ));
            }
        }
    }
    eprintln!(
        "{} labs, {} tasks, {graded} graded by packets, rules or state",
        catalog.labs.len(),
        tasks.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
#[ignore = "needs Docker and root"]
fn every_repository_lab_passes_labs_test() {
    let dir = labs_dir();
    let t0 = std::time::Instant::now();
    let (ok, out, err) = kplab(&[
        "labs",
        "test",
        dir.to_str().unwrap(),
        "--jobs",
        "2",
        "--json",
    ]);
    // The human report (per lab, per step, per task; failing commands with their stderr), in
    // full for the labs that failed and as its one summary line for those that passed, so that
    // a CI log cut to its beginning and end still shows why a lab failed.
    eprintln!("{}", failing_sections(&err));
    eprintln!(
        "kplab labs test labs --jobs 2: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let report: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr:\n{err}"));
    let failed: Vec<&str> = report["labs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["passed"] != true)
        .map(|l| l["lab"].as_str().unwrap())
        .collect();
    assert!(
        ok && failed.is_empty(),
        "labs failing `kplab labs test`: {failed:?} (report above)"
    );
    // Every lab of the listing ran.
    let (_, list, _) = kplab(&["labs", "list", dir.to_str().unwrap(), "--json"]);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        report["labs"].as_array().unwrap().len(),
        list.as_array().unwrap().len()
    );
}

/// The human report of `kplab labs test` with each passing lab's section cut to its `== lab:
/// PASS` line; progress lines (`[lab] …`) are dropped.
fn failing_sections(report: &str) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in report.lines() {
        if line.starts_with("== ") {
            keep = !line.contains(": PASS in ");
            out.push_str(line);
            out.push('\n');
        } else if line.starts_with('[') {
            keep = false;
        } else if keep || !line.starts_with(' ') {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn failing_sections_keep_only_what_failed() {
    let report = "[a] starting\n== a (A): PASS in 1.0 s\n  step 1\n    ok\n== b (B): FAIL in 2.0 s\n  step 1\n    FAIL x\nlabs test: 1 of 2 lab(s) FAILED\n";
    assert_eq!(
        failing_sections(report),
        "== a (A): PASS in 1.0 s\n== b (B): FAIL in 2.0 s\n  step 1\n    FAIL x\nlabs test: 1 of 2 lab(s) FAILED\n"
    );
}
