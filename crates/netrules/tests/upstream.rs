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
        failures.push(format!(
            "{name}: rules differ (- upstream, + ours, normalised):\n{}",
            common::diff(expected, &got_sorted)
        ));
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
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let cfg = common::config_from_flags_file(&dir.join("flags"), &[]);
        let mut steps: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        steps.sort();
        if steps.is_empty() {
            steps.push(dir.clone());
        }
        let mut p = Proxier::new(cfg.clone());
        for step in &steps {
            let label = format!("{name}/{}", step.file_name().unwrap().to_string_lossy());
            let input = std::fs::read_to_string(step.join("input.yaml"))
                .unwrap_or_else(|_| panic!("{label}: input.yaml"));
            let loaded = netrules::k8s::load(&input);
            assert!(loaded.errors.is_empty(), "{label}: {:?}", loaded.errors);
            p.set_objects(&loaded.objects.services, &loaded.objects.endpoint_slices);
            let r = p.sync();
            if let Ok(exp) = std::fs::read_to_string(step.join("expected.rules")) {
                compare(
                    &label,
                    &exp,
                    &r.restore_text,
                    steps.len() == 1,
                    &mut failures,
                );
                checked += 1;
            }
            if std::fs::read_to_string(step.join("after"))
                .is_ok_and(|a| a.contains("restore-failed"))
            {
                p.restore_failed();
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} upstream expectation(s) not reproduced:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 0);
    eprintln!("{checked} upstream full-dump expectations reproduced");
}

/// `TestSyncProxyRulesLargeClusterMode`: above 1000 endpoints SEP comments go, partial syncs
/// only rewrite changed services, a forced full sync rewrites all without comments, and with
/// stale-chain cleanup skipped (as kube-proxy does within `syncPeriod`) deleted chains linger
/// until a later cleanup.
#[test]
fn large_cluster_mode() {
    use netrules::kubeproxy::SyncOptions;
    fn svc(ns: &str, name: &str, ip: &str, pname: &str, port: u16) -> String {
        format!("kind: Service\nmetadata: {{namespace: {ns}, name: {name}}}\nspec: {{type: ClusterIP, clusterIP: {ip}, ports: [{{name: {pname}, port: {port}, protocol: TCP}}]}}\n---\n")
    }
    fn slice(ns: &str, name: &str, pname: &str, port: u16, ips: &[String]) -> String {
        let mut s = format!("kind: EndpointSlice\nmetadata: {{namespace: {ns}, name: {name}-1, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: {pname}, port: {port}, protocol: TCP}}]\nendpoints:\n");
        for ip in ips {
            s.push_str(&format!("- addresses: [{ip}]\n"));
        }
        s.push_str("---\n");
        s
    }
    fn count(text: &str, m: &str) -> (String, usize, usize) {
        let (mut matched, mut n, mut c) = (String::new(), 0, 0);
        for l in text
            .lines()
            .filter(|l| l.starts_with("-A KUBE-SEP-") && l.contains("-j DNAT"))
        {
            n += 1;
            if l.contains("--comment") {
                c += 1;
            }
            if l.contains(m) {
                matched = l.to_string();
            }
        }
        (matched, n, c)
    }
    let half = netrules::kubeproxy::LARGE_CLUSTER_ENDPOINTS_THRESHOLD / 2 - 1;
    let ips = |a: u32| {
        (0..half)
            .map(|i| format!("10.{a}.{}.{}", i % 256, i / 256))
            .collect::<Vec<_>>()
    };
    let mut cfg =
        netrules::kubeproxy::ProxierConfig::upstream_test_fake(netrules::ip::IpFamily::V4);
    cfg.masquerade_all = true;
    let base = svc("ns1", "svc1", "172.30.0.41", "p80", 80)
        + &svc("ns2", "svc2", "172.30.0.42", "p8080", 8080)
        + &svc("ns3", "svc3", "172.30.0.43", "p8081", 8081);
    let slices12 =
        slice("ns1", "svc1", "p80", 80, &ips(0)) + &slice("ns2", "svc2", "p8080", 8080, &ips(1));
    let mut p = Proxier::new(cfg);
    let load = |y: &str| netrules::k8s::load(y).objects;
    let o = load(&(base.clone() + &slices12));
    p.set_objects(&o.services, &o.endpoint_slices);
    let r = p.sync();
    let (first, n, c) = count(&r.restore_text, "10.0.0.0");
    assert_eq!(first, "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80");
    assert_eq!((n, c), (2 * half, 2 * half));

    let three: Vec<String> = ["203.0.113.4", "203.0.113.8", "203.0.113.12"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let slices123 = slices12.clone() + &slice("ns3", "svc3", "p8081", 8081, &three);
    let o = load(&(base.clone() + &slices123));
    p.set_objects(&o.services, &o.endpoint_slices);
    let r = p.sync();
    assert!(r.large_cluster_mode && !r.full);
    let (first, n, c) = count(&r.restore_text, "203.0.113.4");
    assert_eq!(
        first,
        "-A KUBE-SEP-RUVVH7YV3PHQBDOS -m tcp -p tcp -j DNAT --to-destination 203.0.113.4:8081"
    );
    assert_eq!((n, c), (3, 0));

    p.request_full_sync();
    let r = p.sync();
    let (first, n, c) = count(&r.restore_text, "10.0.0.0");
    assert_eq!(
        first,
        "-A KUBE-SEP-DKGQUZGBKLTPAR56 -m tcp -p tcp -j DNAT --to-destination 10.0.0.0:80"
    );
    assert_eq!((n, c), (2 * half + 3, 0));

    let with4 = base.clone()
        + &svc("ns4", "svc4", "172.30.0.44", "p8082", 8082)
        + &slices123
        + &slice("ns4", "svc4", "p8082", 8082, &["10.4.0.1".to_string()]);
    let o = load(&with4);
    p.set_objects(&o.services, &o.endpoint_slices);
    let r = p.sync();
    let (ep4, n, _) = count(&r.restore_text, "10.4.0.1");
    assert_eq!(
        ep4,
        "-A KUBE-SEP-SU5STNODRYEWJAUF -m tcp -p tcp -j DNAT --to-destination 10.4.0.1:8082"
    );
    assert_eq!(n, 1);

    // Delete svc4 within syncPeriod of the last cleanup: no -X yet.
    let without4 =
        base.clone() + &slices123 + &slice("ns4", "svc4", "p8082", 8082, &["10.4.0.1".to_string()]);
    let o = load(&without4);
    p.set_objects(&o.services, &o.endpoint_slices);
    let r = p.sync_with(SyncOptions {
        existing_nat_chains: None,
        cleanup_stale_chains: false,
    });
    assert_eq!(count(&r.restore_text, "10.4.0.1").1, 0);
    assert!(!r.restore_text.contains("-X "));
    // Later, cleanup runs and deletes them.
    let r = p.sync();
    assert!(r.restore_text.contains("-X KUBE-SVC-EBDQOQU5SJFXRIL3"));
    assert!(r.restore_text.contains("-X KUBE-SEP-SU5STNODRYEWJAUF"));
    p.request_full_sync();
    assert_eq!(count(&p.sync().restore_text, "10.0.0.0").1, 2 * half + 3);
}

/// Stale chains found by `iptables-save -t nat` (e.g. left by an earlier kube-proxy) are
/// deleted on the first sync when the caller passes them in.
#[test]
fn stale_chains_from_existing_list() {
    use netrules::kubeproxy::SyncOptions;
    let y = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream/TestBadIPs/input.yaml"),
    )
    .unwrap();
    let o = netrules::k8s::load(&y).objects;
    let mut p = Proxier::new(netrules::kubeproxy::ProxierConfig::upstream_test_fake(
        netrules::ip::IpFamily::V4,
    ));
    p.set_objects(&o.services, &o.endpoint_slices);
    let existing: Vec<String> = [
        "KUBE-SVC-XPGD46QRK7WJZT7O",
        "KUBE-SEP-OLDOLDOLDOLDOLD1",
        "KUBE-MARK-DROP",
        "DOCKER",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let r = p.sync_with(SyncOptions {
        existing_nat_chains: Some(&existing),
        cleanup_stale_chains: true,
    });
    assert_eq!(
        r.deleted_chains,
        vec!["KUBE-SEP-OLDOLDOLDOLDOLD1".to_string()]
    );
    assert!(r
        .restore_text
        .contains(":KUBE-SEP-OLDOLDOLDOLDOLD1 - [0:0]\n"));
    let x = r.restore_text.find("-X KUBE-SEP-OLDOLDOLDOLDOLD1").unwrap();
    assert!(x < r.restore_text.find("must be the last rule").unwrap());
}
