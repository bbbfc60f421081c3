//! kube-proxy's own full-dump expectations (`pkg/proxy/iptables/proxier_test.go`, and the
//! older split `rules_test.go`), reproduced with equivalent YAML inputs and the fake proxier's
//! settings, compared after upstream's `sortIPTablesRules` normalisation.
//!
//! `tests/upstream/<Test>/` holds `flags`, and either `input.yaml` + `expected.rules`, or
//! `step-NN/` directories run in order against one [`Proxier`]: each has the complete
//! `input.yaml` for that step, an optional `expected.rules`, and an optional `after` file whose
//! word `restore-failed` tells the planner the restore failed. As upstream does with
//! `checkConsistency`, single-shot expectations are also checked for chain consistency.

mod common;

use netrules::kubeproxy::Proxier;
use netrules::normalize::{check_jumps, sort_like_upstream};
use std::path::Path;

fn compare(name: &str, expected: &str, got: &str, consistency: bool, failures: &mut Vec<String>) {
    let got_sorted = sort_like_upstream(got).unwrap_or_else(|e| panic!("{name}: {e}"));
    let expected = expected.trim_start_matches([' ', '\t', '\n']);
    if expected != got_sorted {
        failures.push(format!("{name}: rules differ (- upstream, + ours, normalised):\n{}", common::diff(expected, &got_sorted)));
    }
    if consistency {
        if let Err(e) = check_jumps(expected) {
            failures.push(format!("{name}: upstream expectation inconsistent?! {e}"));
        }
    }
}

#[test]
fn upstream_full_dumps() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream");
    let mut dirs: Vec<_> = std::fs::read_dir(&root).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let cfg = common::config_from_flags_file(&dir.join("flags"), &[]);
        let mut steps: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        steps.sort();
        if steps.is_empty() {
            steps.push(dir.clone());
        }
        let mut p = Proxier::new(cfg.clone());
        for step in &steps {
            let label = format!("{name}/{}", step.file_name().unwrap().to_string_lossy());
            let input = std::fs::read_to_string(step.join("input.yaml")).unwrap_or_else(|_| panic!("{label}: input.yaml"));
            let loaded = netrules::k8s::load(&input);
            assert!(loaded.errors.is_empty(), "{label}: {:?}", loaded.errors);
            p.set_objects(&loaded.objects.services, &loaded.objects.endpoint_slices);
            let r = p.sync();
            if let Ok(exp) = std::fs::read_to_string(step.join("expected.rules")) {
                compare(&label, &exp, &r.restore_text, steps.len() == 1, &mut failures);
                checked += 1;
            }
            if std::fs::read_to_string(step.join("after")).is_ok_and(|a| a.contains("restore-failed")) {
                p.restore_failed();
            }
        }
    }
    assert!(failures.is_empty(), "{} upstream expectation(s) not reproduced:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 0);
    eprintln!("{checked} upstream full-dump expectations reproduced");
}
