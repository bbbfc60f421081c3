//! Golden files: `tests/golden/<case>/{input.yaml, flags, expected.rules}` and, optionally,
//! `expected.warnings`. Each output is also checked for chain consistency (every jump target
//! declared and filled, every declared chain used). `NETRULES_BLESS=1 cargo test -p netrules
//! --test golden` rewrites the expectations; review the diff before committing.

mod common;

use netrules::kubeproxy::render;
use std::path::Path;

/// Whether expectations should be rewritten instead of checked.
fn bless() -> bool {
    std::env::var("NETRULES_BLESS").is_ok_and(|v| v == "1")
}

#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("tests/golden")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read_to_string(dir.join("input.yaml"))
            .unwrap_or_else(|_| panic!("{name}: input.yaml"));
        let loaded = netrules::k8s::load(&input);
        assert!(
            loaded.errors.is_empty(),
            "{name}: input errors {:?}",
            loaded.errors
        );
        let cfg = common::config_from_flags_file(&dir.join("flags"), &loaded.objects.nodes);
        let out = render(&cfg, &loaded.objects);
        if let Err(e) = netrules::normalize::check_jumps(&out.restore_text) {
            failures.push(format!("{name}: inconsistent chains: {e}"));
        }
        let warnings: String = out.warnings.iter().map(|w| format!("{w}\n")).collect();
        let exp_path = dir.join("expected.rules");
        let warn_path = dir.join("expected.warnings");
        if bless() {
            std::fs::write(&exp_path, &out.restore_text).unwrap();
            if !warnings.is_empty() || warn_path.exists() {
                std::fs::write(&warn_path, &warnings).unwrap();
            }
            continue;
        }
        let expected = std::fs::read_to_string(&exp_path).unwrap_or_default();
        if expected != out.restore_text {
            failures.push(format!(
                "{name}: rules differ (- expected, + got):\n{}",
                common::diff(&expected, &out.restore_text)
            ));
        }
        let exp_warn = std::fs::read_to_string(&warn_path).unwrap_or_default();
        if exp_warn != warnings {
            failures.push(format!(
                "{name}: warnings differ:\n{}",
                common::diff(&exp_warn, &warnings)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
