//! Loading and validating lab content: the shipped example lab, and broken labs whose every
//! error is reported with its file and line.

use std::path::{Path, PathBuf};

use labkit::content::ReferenceAnswer;
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
    assert_eq!(lab.steps.len(), 2);
    assert_eq!(lab.hosts(), ["node-1", "node-2", "client"]);
    let (step, task) = lab.task("expose-web").unwrap();
    assert_eq!(step, 1);
    let kinds: Vec<&str> = task.checks.iter().map(Check::kind).collect();
    assert_eq!(kinds, ["state", "rules", "probe"]);
    assert!(lab.task("balance").is_some());
    assert!(lab.task("count-nodes").unwrap().1.needs_answer());
    assert_eq!(lab.steps[0].solution[0].host, "node-1");
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

#[test]
fn minutes_are_required_and_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, front) in [
        ("a", "title: A\nnodes: 2\n"),
        ("b", "title: B\nnodes: 2\nminutes: 40\n"),
    ] {
        let lab = tmp.path().join(name);
        std::fs::create_dir(&lab).unwrap();
        write(&lab, "lab.md", &format!("---\n{front}---\n"));
        write(&lab, "01-a.md", "---\ntitle: A\n---\n");
    }
    let text = Catalog::load(tmp.path()).unwrap_err().to_string();
    assert!(text.contains("a/lab.md:2: minutes is missing"), "{text}");
    assert!(
        text.contains("b/lab.md:4: minutes must be 10..25 (the estimated learner time), not 40"),
        "{text}"
    );
    let ok = tmp.path().join("b/lab.md");
    write(
        ok.parent().unwrap(),
        "lab.md",
        "---\ntitle: B\nminutes: 25\n---\n",
    );
    std::fs::remove_dir_all(tmp.path().join("a")).unwrap();
    let c = Catalog::load(tmp.path()).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(c.labs[0].minutes, 25);
}

#[test]
fn command_checks_and_reference_answers_load() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("x");
    std::fs::create_dir(&lab).unwrap();
    write(&lab, "lab.md", "---\ntitle: X\nminutes: 12\n---\n");
    write(
        &lab,
        "01-a.md",
        r#"---
title: A
tasks:
  - id: conn
    title: A connection
    checks:
      - kind: command
        title: conntrack holds the connection
        host: node-2
        run: "conntrack -L | grep -c dport=80"
        matches: "^[1-9][0-9]*$"
  - id: prob
    title: Probability
    checks:
      - kind: answer
        expected: "0.5"
        tolerance: 0.001
  - id: nodes
    title: Nodes
    checks:
      - kind: answer
        command: kubectl get nodes -o name | wc -l
answers:
  prob: 0.5
  nodes: {host: client, run: "echo 2"}
---
Body

```sh run=node-2
echo one
  echo two
```

~~~sh
not runnable
~~~

````sh run
cat <<X
```
X
````
"#,
    );
    let c = Catalog::load(tmp.path()).unwrap_or_else(|d| panic!("{d}"));
    let step = &c.labs[0].steps[0];
    let Check::Command(cmd) = &step.tasks[0].checks[0] else {
        panic!("not a command check")
    };
    assert_eq!(cmd.host, "node-2");
    assert_eq!(step.answers["prob"], ReferenceAnswer::Literal("0.5".into()));
    assert_eq!(
        step.answers["nodes"],
        ReferenceAnswer::Command(labkit::HostCommand {
            host: "client".into(),
            run: "echo 2".into()
        })
    );
    let blocks = step.runnable_blocks();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert_eq!(blocks[0].host.as_deref(), Some("node-2"));
    assert_eq!(blocks[0].code, "echo one\n  echo two\n");
    assert_eq!(blocks[0].line, 29);
    assert_eq!(blocks[1].host, None);
    assert_eq!(blocks[1].code, "cat <<X\n```\nX\n");
}

#[test]
fn bad_command_checks_and_answers_name_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("x");
    std::fs::create_dir(&lab).unwrap();
    write(&lab, "lab.md", "---\ntitle: X\nminutes: 12\n---\n");
    write(
        &lab,
        "01-a.md",
        r#"---
title: A
tasks:
  - id: conn
    title: A connection
    checks:
      - kind: command
        host: node-5
        run: " "
        matches: "([0-9]"
  - id: prob
    title: Probability
    checks:
      - kind: answer
        expected: "0.5"
        tolerance: 0.001
  - id: unanswered
    title: Nodes
    checks:
      - kind: answer
        command: kubectl get nodes -o name | wc -l
answers:
  prob: "0.33"
  conn: "1"
  ghost: "x"
---
"#,
    );
    let diags = Catalog::load(tmp.path()).unwrap_err();
    let text = diags.to_string();
    for want in [
        "01-a.md:7: task \"conn\": command check: host \"node-5\" is not a host of this lab",
        "01-a.md:7: task \"conn\": command check: `run` is empty",
        "01-a.md:7: task \"conn\": command check: `matches` is not a valid regex",
        "01-a.md:23: answers: \"0.33\" for task \"prob\" is not accepted by its answer check",
        "01-a.md:24: answers: task \"conn\" has no answer check to answer",
        "01-a.md:25: answers: \"ghost\" is not a task of this step",
        "01-a.md:17: task \"unanswered\" has an answer check but no reference answer",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}
