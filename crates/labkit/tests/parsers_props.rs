//! Property tests of what labkit parses (issue 13): lab content (front matter, checks, fenced
//! blocks), which is semi-trusted but must never panic, and the command check's judgement of a
//! lab's output, which the learner controls. Each property runs a fixed, small number of cases
//! so plain `cargo test` stays fast; inputs that ever failed are kept as regression tests.
//!
//! What every property asserts: no panic; a rejected lab gives diagnostics that each name a
//! file, a line inside it and a non-empty message; output bounded by the input.

use labkit::{Catalog, CommandCheck, Step};
use proptest::prelude::*;
use std::path::Path;

/// Cases per property that only computes ([`propgen::CASES`]); the ones that write a lab to
/// disk run fewer.
const CASES: u32 = propgen::CASES;

/// Failures are kept in the crate's proptest-regressions/ (committed) and replayed first.
fn config(cases: u32) -> ProptestConfig {
    propgen::config(cases, "proptest-regressions/parsers_props.txt")
}

const LAB_MD: &str = include_str!("../../../labs/00-hello/lab.md");
const STEP_1: &str = include_str!("../../../labs/00-hello/01-meet-the-cluster.md");
const STEP_2: &str = include_str!("../../../labs/00-hello/02-first-service.md");

/// Any text: raw bytes read lossily, or arbitrary unicode with NULs and control characters.
fn any_text() -> impl Strategy<Value = String> {
    propgen::any_text_sized(400, 300, 60, 10)
}

/// Text to splice into content: YAML and markdown that may trip a parser.
fn splice() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("---\n".to_string()),
        Just("\n---".to_string()),
        Just("```".to_string()),
        Just("~~~~ sh run=node-9\n".to_string()),
        Just("```sh run\n".to_string()),
        Just("    ```\n".to_string()),
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("\t".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!binary ".to_string()),
        Just("{".to_string()),
        Just("[".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("\0".to_string()),
        Just("\r\n".to_string()),
        Just("é😀".to_string()),
        Just("kind: rules\n".to_string()),
        Just("kind: command\n".to_string()),
        Just("nodes: 0\n".to_string()),
        Just("nodes: 300\n".to_string()),
        Just("minutes: -1\n".to_string()),
        Just("matches: \"(\"\n".to_string()),
        Just("matches: \"a{1000}{1000}\"\n".to_string()),
        Just("host: node-1/x/\n".to_string()),
        Just("table: nat\n".to_string()),
        (1usize..3000).prop_map(|n| "x".repeat(n)),
        "[ -~]{0,12}",
    ]
}

/// `text` with a few random edits: splices, deletions, truncation. Keeps most of a real file,
/// so the parser gets past the first line and into the checks.
fn mutated(text: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec((any::<prop::sample::Index>(), 0usize..40, splice()), 0..4).prop_map(
        move |edits| {
            let mut s = text.to_string();
            for (at, del, ins) in edits {
                let mut i = at.index(s.len() + 1);
                while !s.is_char_boundary(i) {
                    i -= 1;
                }
                let mut j = (i + del).min(s.len());
                while !s.is_char_boundary(j) {
                    j -= 1;
                }
                s.replace_range(i..j, &ins);
            }
            s
        },
    )
}

fn content(real: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![4 => mutated(real), 1 => any_text()]
}

/// Writes one lab (`lab.md` and two steps) under a fresh directory and loads the catalog.
fn check_lab(lab_md: &str, steps: &[(&str, &str)]) {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("lab-x");
    std::fs::create_dir(&dir).expect("lab dir");
    std::fs::write(dir.join("lab.md"), lab_md).expect("lab.md");
    for (name, text) in steps {
        std::fs::write(dir.join(name), text).expect("step");
    }
    match Catalog::load(root.path()) {
        Ok(cat) => {
            for lab in &cat.labs {
                for p in &lab.steps {
                    let blocks = p.runnable_blocks();
                    assert!(blocks.len() <= p.body.lines().count());
                    let _ = lab.hosts();
                    for t in &p.tasks {
                        for c in &t.checks {
                            let _ = c.describe();
                        }
                    }
                }
            }
        }
        Err(diags) => {
            assert!(!diags.is_empty());
            for d in &diags.0 {
                assert!(d.file.starts_with(root.path()), "{d}");
                assert!(!d.message.trim().is_empty(), "{d}");
                let lines = file_lines(&d.file);
                assert!(d.line <= lines + 1, "{d} (file has {lines} lines)");
            }
        }
    }
}

fn file_lines(p: &Path) -> usize {
    std::fs::read_to_string(p).map_or(0, |t| t.lines().count())
}

fn step(body: String) -> Step {
    Step {
        id: "01-x".into(),
        file: "01-x.md".into(),
        title: "x".into(),
        challenge: false,
        optional: false,
        proxy_mode: None,
        setup: Vec::new(),
        tasks: Vec::new(),
        solution: Vec::new(),
        answers: Default::default(),
        body,
        body_line: 5,
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn lab_front_matter_never_panics(lab_md in content(LAB_MD)) {
        check_lab(&lab_md, &[("01-meet-the-cluster.md", STEP_1)]);
    }

    #[test]
    fn step_files_never_panic(p1 in content(STEP_1), p2 in content(STEP_2)) {
        check_lab(LAB_MD, &[("01-meet-the-cluster.md", &p1), ("02-first-service.md", &p2)]);
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn runnable_blocks_of_any_body(body in prop_oneof![content(STEP_1), any_text()]) {
        let p = step(body);
        let blocks = p.runnable_blocks();
        prop_assert!(blocks.len() <= p.body.lines().count());
        for b in blocks {
            prop_assert!(b.code.len() <= p.body.len());
            prop_assert!(b.line >= p.body_line && b.line < p.body_line + p.body.lines().count());
        }
    }

    #[test]
    fn run_marker_of_any_info(info in any_text()) {
        if let Some(Some(host)) = labkit::content::run_marker(&info) {
            prop_assert!(info.contains(host));
        }
    }

    /// The learner controls what a checked command prints: the verdict's detail stays short.
    #[test]
    fn command_check_judges_any_output(
        code in -2i64..300,
        stdout in prop_oneof![any_text(), (1usize..20_000).prop_map(|n| "y ".repeat(n))],
        stderr in any_text(),
        contains in prop::option::of("[ -~]{0,10}"),
        matches in prop::option::of(prop_oneof![
            Just("^[0-9]+$".to_string()),
            Just("(".to_string()),
            Just("a{1000}{1000}".to_string()),
            "[ -~]{0,10}",
        ]),
    ) {
        let c = CommandCheck {
            title: None,
            host: "node-1".into(),
            run: "true".into(),
            exit: None,
            contains: contains.clone(),
            matches: matches.clone(),
            hint: None,
        };
        let (_, detail) = c.evaluate(code, &stdout, &stderr);
        let given = contains.map_or(0, |s| s.len()) + matches.map_or(0, |s| 4 * s.len());
        // 200 characters of output (4 bytes each at most, escaped by {:?}: 10 each), the
        // pattern or the wanted text, and the words around them.
        prop_assert!(detail.len() <= 2 * 200 * 10 + 2 * given + 400, "{}", detail.len());
    }

    #[test]
    fn wire_json_of_any_text(text in any_text()) {
        let _ = serde_json::from_str::<labkit::wire::ProbeReport>(&text);
        let _ = serde_json::from_str::<labkit::wire::TaskOutcome>(&text);
    }
}

// Regression tests: every input a property above ever failed on, by name.
