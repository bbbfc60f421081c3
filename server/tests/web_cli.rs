//! `kplab labs validate` and `kplab serve` refusing bad content or configuration, with the
//! file and line or the variable that is wrong. No Docker needed: both fail before it.

use std::process::Command;

fn kplab(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kplab"));
    cmd.args(args).env_remove("DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn broken_labs() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("01-broken");
    std::fs::create_dir(&lab).unwrap();
    std::fs::write(lab.join("lab.md"), "---\ntitle: Broken\n---\n").unwrap();
    std::fs::write(
        lab.join("01-a.md"),
        "---\ntitle: A\ntasks:\n  - id: t\n    title: T\n    checks:\n      - kind: rules\n        node: node-5\n        assert: []\n---\n",
    )
    .unwrap();
    tmp
}

#[test]
fn validate_reports_file_and_line() {
    let labs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs");
    let (ok, out) = kplab(&["labs", "validate", labs.to_str().unwrap()], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("no errors"), "{out}");

    let tmp = broken_labs();
    let (ok, out) = kplab(&["labs", "validate", tmp.path().to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(
        out.contains(
            "01-a.md:7: task \"t\": rules check: node \"node-5\" is not a node of this lab"
        ),
        "{out}"
    );
    assert!(
        out.contains("01-a.md:7: task \"t\": rules check: `assert` is empty"),
        "{out}"
    );
}

#[test]
fn serve_refuses_invalid_content_and_says_why() {
    let tmp = broken_labs();
    let data = tempfile::tempdir().unwrap();
    let (ok, out) = kplab(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--labs",
            tmp.path().to_str().unwrap(),
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok);
    assert!(out.contains("invalid lab content"), "{out}");
    assert!(out.contains("01-a.md:7"), "{out}");
}

#[test]
fn serve_names_the_bad_setting() {
    let (ok, out) = kplab(&["serve"], &[("KPLAB_MAX_LABS", "0")]);
    assert!(!ok);
    assert!(
        out.contains("--max-labs / KPLAB_MAX_LABS: must be at least 1"),
        "{out}"
    );
    let (ok, out) = kplab(
        &["serve"],
        &[("DATABASE_URL", "mysql://root:hunter2@db/kplab")],
    );
    assert!(!ok);
    assert!(
        out.contains("DATABASE_URL: must start with postgres:// or sqlite:"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");
    let (ok, out) = kplab(&["serve", "--listen", "nowhere"], &[]);
    assert!(!ok);
    assert!(out.contains("--listen"), "{out}");
}
