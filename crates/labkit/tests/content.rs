//! Loading and validating lab content: the shipped example lab, and broken labs whose every
//! error is reported with its file and line.

use std::path::{Path, PathBuf};

use labkit::{Catalog, Check};

fn repo_labs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../labs")
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn the_example_lab_loads() {
    let catalog = Catalog::load(&repo_labs()).unwrap_or_else(|d| panic!("{d}"));
    let lab = catalog.lab("00-hello").expect("00-hello");
    assert_eq!(lab.nodes, 2);
    assert_eq!(lab.phases.len(), 2);
    assert_eq!(lab.hosts(), ["node-1", "node-2", "client"]);
    let (phase, task) = lab.task("expose-web").unwrap();
    assert_eq!(phase, 1);
    let kinds: Vec<&str> = task.checks.iter().map(Check::kind).collect();
    assert_eq!(kinds, ["state", "rules", "probe"]);
    assert!(lab.task("balance").is_some());
    assert!(lab.task("count-nodes").unwrap().1.needs_answer());
    assert_eq!(lab.phases[0].solution[0].host, "node-1");
}

#[test]
fn every_error_has_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("01-broken");
    std::fs::create_dir(&lab).unwrap();
    write(&lab, "lab.md", "---\ntitle: Broken\nnodes: 2\n---\nIntro\n");
    // Line numbers: 1 ---, 2 title, 3 tasks:, 4 - id, 5 title, 6 checks:, 7 - kind: probe ...
    write(
        &lab,
        "01-a.md",
        "---\ntitle: A\ntasks:\n  - id: t1\n    title: T\n    checks:\n      - kind: probe\n        from: node-7\n        target: svc:default/web\n        expect: reachable\n      - kind: state\n        resource: pods\n        jsonpath: .status\n  - id: t1\n    title: again\n    checks: []\n---\n# A\n\n```sh run=node-3\nls\n```\n",
    );
    // A YAML type error: count must be a number; reported at its check (line 7).
    write(
        &lab,
        "02-b.md",
        "---\ntitle: B\ntasks:\n  - id: t2\n    title: T\n    checks:\n      - kind: probe\n        from: client\n        count: many\n        target: 10.0.0.1:80\n        expect: reachable\n---\n",
    );
    write(&lab, "03-c.md", "no front matter\n");
    let diags = Catalog::load(tmp.path()).unwrap_err();
    let text = diags.to_string();
    let lines: Vec<String> = diags
        .0
        .iter()
        .map(|d| {
            format!(
                "{}:{}",
                d.file.file_name().unwrap().to_string_lossy(),
                d.line
            )
        })
        .collect();
    assert!(lines.contains(&"01-a.md:7".to_string()), "{text}");
    assert!(text.contains("node-7"), "{text}");
    assert!(lines.contains(&"01-a.md:11".to_string()), "{text}");
    assert!(text.contains("jsonpath \".status\""), "{text}");
    assert!(text.contains("task id \"t1\" is used twice"), "{text}");
    assert!(lines.contains(&"01-a.md:14".to_string()), "{text}");
    assert!(text.contains("has no checks"), "{text}");
    assert!(
        lines.contains(&"01-a.md:20".to_string()),
        "run=node-3 on line 20: {text}"
    );
    assert!(lines.contains(&"02-b.md:7".to_string()), "{text}");
    assert!(lines.contains(&"03-c.md:1".to_string()), "{text}");
    assert!(text.contains("missing front matter"), "{text}");
}

#[test]
fn unknown_fields_and_kinds_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("x");
    std::fs::create_dir(&lab).unwrap();
    write(&lab, "lab.md", "---\ntitle: X\ncolour: blue\n---\n");
    write(
        &lab,
        "01-a.md",
        "---\ntitle: A\ntasks:\n  - id: a\n    title: T\n    checks:\n      - kind: magic\n---\n",
    );
    let diags = Catalog::load(tmp.path()).unwrap_err();
    let text = diags.to_string();
    assert!(
        text.contains("lab.md:3: front matter: unknown field `colour`"),
        "{text}"
    );
    assert!(text.contains("01-a.md:"), "{text}");
    assert!(text.contains("magic"), "{text}");
}

#[test]
fn an_empty_directory_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let diags = Catalog::load(tmp.path()).unwrap_err();
    assert!(diags.to_string().contains("no labs found"));
}
