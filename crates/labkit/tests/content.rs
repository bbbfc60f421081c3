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
        ("b", "title: B\nnodes: 2\nminutes: 75\n"),
    ] {
        let lab = tmp.path().join(name);
        std::fs::create_dir(&lab).unwrap();
        write(&lab, "lab.md", &format!("---\n{front}---\n"));
        write(&lab, "01-a.md", "---\ntitle: A\n---\n");
    }
    let text = Catalog::load(tmp.path()).unwrap_err().to_string();
    assert!(text.contains("a/lab.md:2: minutes is missing"), "{text}");
    assert!(
        text.contains("b/lab.md:4: minutes must be 10..60 (the estimated learner time), not 75"),
        "{text}"
    );
    let ok = tmp.path().join("b/lab.md");
    write(
        ok.parent().unwrap(),
        "lab.md",
        "---\ntitle: B\nminutes: 45\n---\n",
    );
    std::fs::remove_dir_all(tmp.path().join("a")).unwrap();
    let c = Catalog::load(tmp.path()).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(c.labs[0].minutes, 45);
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

/// A lab with `proxyMode` where `front` says, and steps with the `proxyMode`s given (`None`:
/// no field).
fn proxy_lab(root: &Path, id: &str, front: &str, steps: &[Option<&str>]) {
    let lab = root.join(id);
    std::fs::create_dir(&lab).unwrap();
    write(
        &lab,
        "lab.md",
        &format!("---\ntitle: P\nminutes: 10\n{front}---\n"),
    );
    for (i, mode) in steps.iter().enumerate() {
        let field = mode
            .map(|m| format!("proxyMode: {m}\n"))
            .unwrap_or_default();
        write(
            &lab,
            &format!("0{}-s.md", i + 1),
            &format!("---\ntitle: S{i}\n{field}---\n"),
        );
    }
}

#[test]
fn proxy_mode_applies_to_the_lab_and_from_a_step_on() {
    use labkit::ProxyMode::{Iptables, Nftables};
    let tmp = tempfile::tempdir().unwrap();
    // None anywhere: kube-proxy is left as it is.
    proxy_lab(tmp.path(), "a-none", "", &[None, None]);
    // The lab's mode, a step's override, kept by the next step, then overridden back.
    proxy_lab(
        tmp.path(),
        "b-lab",
        "proxyMode: nftables\n",
        &[None, Some("iptables"), None, Some("nftables")],
    );
    // Only a later step names one: the earlier steps run in the default, iptables.
    proxy_lab(
        tmp.path(),
        "c-step",
        "",
        &[None, Some("\"nftables\""), None],
    );
    let c = Catalog::load(tmp.path()).unwrap_or_else(|d| panic!("{d}"));
    let modes = |id: &str| -> Vec<Option<labkit::ProxyMode>> {
        let lab = c.lab(id).unwrap();
        (0..lab.steps.len()).map(|i| lab.proxy_mode_at(i)).collect()
    };
    assert_eq!(modes("a-none"), [None, None]);
    assert_eq!(c.lab("b-lab").unwrap().proxy_mode, Some(Nftables));
    assert_eq!(
        modes("b-lab"),
        [
            Some(Nftables),
            Some(Iptables),
            Some(Iptables),
            Some(Nftables)
        ]
    );
    assert_eq!(c.lab("c-step").unwrap().steps[1].proxy_mode, Some(Nftables));
    assert_eq!(
        modes("c-step"),
        [Some(Iptables), Some(Nftables), Some(Nftables)]
    );
    // The catalog's JSON names it only where the content does.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["labs"][1]["proxy_mode"], "nftables");
    assert!(json["labs"][0].get("proxy_mode").is_none(), "{json}");
    assert!(json["labs"][0]["steps"][0].get("proxy_mode").is_none());
}

#[test]
fn a_wrong_proxy_mode_names_file_line_field_and_the_allowed_values() {
    let tmp = tempfile::tempdir().unwrap();
    proxy_lab(tmp.path(), "a", "nodes: 2\nproxyMode: ipvs\n", &[None]);
    proxy_lab(
        tmp.path(),
        "b",
        "",
        &[
            None,
            Some("NFTables"),
            Some("3"),
            Some(""),
            Some("[nftables]"),
        ],
    );
    let text = Catalog::load(tmp.path()).unwrap_err().to_string();
    let want = [
        "a/lab.md:5: proxyMode must be iptables or nftables (the kube-proxy mode), not \"ipvs\"",
        "b/02-s.md:3: proxyMode must be iptables or nftables (the kube-proxy mode), not \"NFTables\"",
        "b/03-s.md:3: proxyMode must be iptables or nftables (the kube-proxy mode), not 3",
        "b/04-s.md:3: proxyMode must be iptables or nftables (the kube-proxy mode), not empty",
        "b/05-s.md:3: proxyMode must be iptables or nftables (the kube-proxy mode), not [\"nftables\"]",
    ];
    for w in want {
        assert!(text.contains(w), "{w}\nin:\n{text}");
    }
    assert_eq!(text.lines().count(), want.len(), "{text}");
}

#[test]
fn hints_are_one_string_or_two_levels() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("h");
    std::fs::create_dir(&lab).unwrap();
    write(&lab, "lab.md", "---\ntitle: H\nminutes: 10\n---\n");
    let task = |id: &str, hint: &str| {
        format!("  - id: {id}\n    title: T\n{hint}    checks:\n      - kind: state\n        resource: pods\n        jsonpath: \"{{.items}}\"\n")
    };
    write(
        &lab,
        "01-a.md",
        &format!(
            "---\ntitle: A\ntasks:\n{}{}{}---\n",
            task("none", ""),
            task("one", "    hint: Look at the pods.\n"),
            task(
                "two",
                "    hint: [\"Look at the pods.\", \"`kubectl get pods`\"]\n"
            ),
        ),
    );
    let c = Catalog::load(tmp.path()).unwrap_or_else(|d| panic!("{d}"));
    let hints = |id: &str| c.labs[0].task(id).unwrap().1.hints().to_vec();
    assert!(hints("none").is_empty());
    assert_eq!(hints("one"), ["Look at the pods."]);
    assert_eq!(hints("two"), ["Look at the pods.", "`kubectl get pods`"]);

    // Three levels, an empty level, an empty list and a number: each names its task and line.
    write(
        &lab,
        "01-a.md",
        &format!(
            "---\ntitle: A\ntasks:\n{}{}{}{}---\n",
            task("three", "    hint: [a, b, c]\n"),
            task("blank", "    hint: [a, \" \"]\n"),
            task("empty", "    hint: []\n"),
            task("number", "    hint: 5\n"),
        ),
    );
    let text = Catalog::load(tmp.path()).unwrap_err().to_string();
    for (line, msg) in [
        (6, "task \"three\": hint has 3 levels, at most 2"),
        (13, "task \"blank\": hint has an empty level"),
        (20, "task \"empty\": hint is an empty list"),
        (
            27,
            "task \"number\": hint must be text; give one string, or a list of one or two strings",
        ),
    ] {
        assert!(
            text.contains(&format!("01-a.md:{line}: {msg}")),
            "{msg}:\n{text}"
        );
    }
}

#[test]
fn challenge_optional_and_observe_load_and_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("k");
    std::fs::create_dir(&lab).unwrap();
    write(&lab, "lab.md", "---\ntitle: K\nminutes: 10\n---\n");
    let state = "      - kind: state\n        resource: pods\n        jsonpath: \"{.items}\"\n";
    let answer = "      - kind: answer\n        expected: \"3\"\n";
    write(
        &lab,
        "01-look.md",
        &format!(
            "---\ntitle: Look\noptional: true\ntasks:\n  - id: pods\n    title: T\n    observe: true\n    checks:\n{state}---\nText.\n\n```sh run=node-1\nkubectl get pods\n```\n"
        ),
    );
    write(
        &lab,
        "02-goal.md",
        &format!(
            "---\ntitle: Goal\nchallenge: true\ntasks:\n  - id: fixed\n    title: T\n    checks:\n{state}{answer}answers:\n  fixed: \"3\"\n---\nMake it work. Plain code is fine:\n\n```yaml\nkind: Service\n```\n"
        ),
    );
    let c = Catalog::load(tmp.path()).unwrap_or_else(|d| panic!("{d}"));
    let l = &c.labs[0];
    assert!(l.steps[0].optional && !l.steps[0].challenge);
    assert!(l.steps[1].challenge && !l.steps[1].optional);
    assert!(l.task("pods").unwrap().1.observe);
    assert!(l.task("fixed").unwrap().1.graded_by_cluster());
    // The optional step's task does not count towards completing the lab.
    let required: Vec<&str> = l.required_tasks().map(|t| t.id.as_str()).collect();
    assert_eq!(required, ["fixed"]);

    // A challenge shows no commands, and grades by packets, rules or state, never an observe
    // task; an observe task takes no answer. Each problem names file and line.
    write(
        &lab,
        "01-look.md",
        &format!(
            "---\ntitle: Look\ntasks:\n  - id: pods\n    title: T\n    observe: true\n    checks:\n{answer}answers:\n  pods: \"3\"\n---\n"
        ),
    );
    write(
        &lab,
        "02-goal.md",
        &format!(
            "---\ntitle: Goal\nchallenge: true\ntasks:\n  - id: typed\n    title: T\n    checks:\n{answer}  - id: look\n    title: T\n    observe: true\n    checks:\n{state}answers:\n  typed: \"3\"\n---\nMake it work.\n\n```sh run=node-2\niptables -F\n```\n"
        ),
    );
    let text = Catalog::load(tmp.path()).unwrap_err().to_string();
    for want in [
        "01-look.md:6: task \"pods\" is observe: true but takes an answer",
        "02-goal.md:3: task \"typed\" of a challenge step must be graded by packets, rules or state",
        "02-goal.md:10: task \"look\": a challenge step grades what the learner does; it cannot have an observe-only task",
        "02-goal.md:22: a challenge step shows no commands: remove the runnable block",
    ] {
        assert!(text.contains(want), "{want}\nin:\n{text}");
    }
}
