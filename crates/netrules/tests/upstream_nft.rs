//! kube-proxy's own full-dump expectations for its nftables mode
//! (`pkg/proxy/nftables/proxier_test.go`), reproduced with equivalent YAML inputs and the fake
//! proxier's settings, both sides compared after upstream's `sortNFTablesTransaction`
//! normalisation ([`sort_nft_like_upstream`]).
//!
//! `tests/upstream-nft/<Test>/` holds `flags` and either `input.yaml` + `expected.nft` (one
//! full sync on a clean node, through [`render_nft`]), or `step-NN-*/` directories run in
//! order against one [`NftProxier`]: each has the complete `input.yaml` for that step, an
//! optional `expected.nft` (the whole table after the step), and an optional `before` file
//! whose word `age-stale-chains` advances the clock by two seconds first, as upstream's
//! `ageStaleChains()` backdates the stale chains (otherwise the clock stands still, as it
//! nearly does between upstream's syncs, and stale chains are kept). Each step runs what
//! `syncProxyRules` does: the stale-chain cleanup, then the sync, both applied. A fixture
//! with an `existing.nft` (the table an earlier kube-proxy left) starts from it: the planner
//! is told its chain and set names, as a restarted kube-proxy lists them.
//!
//! Our table is also checked with [`check_nft_consistency`] after every step, and upstream's
//! expectations are checked with it too (a check of the check).

mod common;

use netrules::kubeproxy::nft::{render_nft, NftProxier};
use netrules::normalize::{check_nft_consistency, sort_nft_like_upstream};
use std::path::{Path, PathBuf};

fn compare(label: &str, expected: &str, got: &str, failures: &mut Vec<String>) {
    let want = sort_nft_like_upstream(expected)
        .unwrap_or_else(|e| panic!("{label}: upstream expectation: {e}"));
    match sort_nft_like_upstream(got) {
        Err(e) => failures.push(format!("{label}: our dump does not normalise: {e}")),
        Ok(got_sorted) if got_sorted != want => failures.push(format!(
            "{label}: tables differ (- upstream, + ours, normalised):\n{}",
            common::diff(&want, &got_sorted)
        )),
        Ok(_) => {}
    }
    if let Err(e) = check_nft_consistency(expected) {
        failures.push(format!("{label}: upstream expectation inconsistent?! {e}"));
    }
}

fn consistency(label: &str, dump: &str, failures: &mut Vec<String>) {
    if let Err(e) = check_nft_consistency(dump) {
        failures.push(format!("{label}: our table is inconsistent:\n{e}"));
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn load(label: &str, dir: &Path) -> netrules::k8s::Objects {
    let input = std::fs::read_to_string(dir.join("input.yaml"))
        .unwrap_or_else(|_| panic!("{label}: input.yaml"));
    let loaded = netrules::k8s::load(&input);
    assert!(loaded.errors.is_empty(), "{label}: {:?}", loaded.errors);
    loaded.objects
}

/// The chain and set/map names of an `nft` dump (what `nft list` would name).
fn listed_names(dump: &str) -> (Vec<String>, Vec<String>) {
    let (mut chains, mut sets) = (Vec::new(), Vec::new());
    for l in dump.lines() {
        let w: Vec<&str> = l.split(' ').collect();
        if w.len() >= 5 && w[0] == "add" {
            match w[1] {
                "chain" => chains.push(w[4].to_string()),
                "set" | "map" => sets.push(w[4].to_string()),
                _ => {}
            }
        }
    }
    (chains, sets)
}

#[test]
fn upstream_nft_full_dumps() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream-nft");
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in subdirs(&root) {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let cfg = common::config_from_flags_file(&dir.join("flags"), &[]);
        let existing = std::fs::read_to_string(dir.join("existing.nft")).ok();
        let steps = subdirs(&dir);
        if steps.is_empty() && existing.is_none() {
            let objects = load(&name, &dir);
            let r = render_nft(&cfg, &objects);
            for w in &r.warnings {
                if w.to_string().contains("does not apply") {
                    failures.push(format!("{name}: {w}"));
                }
            }
            let exp = std::fs::read_to_string(dir.join("expected.nft"))
                .unwrap_or_else(|_| panic!("{name}: expected.nft"));
            compare(&name, &exp, &r.dump, &mut failures);
            consistency(&name, &r.dump, &mut failures);
            checked += 1;
            continue;
        }
        let steps = if steps.is_empty() {
            vec![dir.clone()]
        } else {
            steps
        };
        let mut p = NftProxier::new(cfg);
        if let Some(text) = &existing {
            p.kernel_listed(Some(listed_names(text)));
        }
        let mut now_ms: u64 = 0;
        for step in &steps {
            let label = if *step == dir {
                name.clone()
            } else {
                format!("{name}/{}", step.file_name().unwrap().to_string_lossy())
            };
            if std::fs::read_to_string(step.join("before"))
                .is_ok_and(|b| b.contains("age-stale-chains"))
            {
                now_ms += 2000;
            }
            let objects = load(&label, step);
            p.set_objects(&objects.services, &objects.endpoint_slices);
            if p.stale_cleanup(now_ms).is_some() {
                if let Err(e) = p.applied(true) {
                    failures.push(format!("{label}: stale-chain cleanup does not apply: {e}"));
                }
            }
            let r = p.sync(now_ms);
            if let Err(e) = p.applied(true) {
                failures.push(format!(
                    "{label}: transaction does not apply: {e}\n{}",
                    r.transaction
                ));
            }
            let dump = p.dump();
            if let Ok(exp) = std::fs::read_to_string(step.join("expected.nft")) {
                compare(&label, &exp, &dump, &mut failures);
                checked += 1;
            }
            consistency(&label, &dump, &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} upstream nftables expectation(s) not reproduced:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 0);
    eprintln!("{checked} upstream nftables full-dump expectations reproduced");
}
