//! Times rule generation for N services x E endpoints:
//! `cargo run --release -p netrules --example bench_render -- 1000 5 [10000 5 ...]`
//! (pairs of services and endpoints per service; default `1000 5 10000 5`).
//! Prints, per size: a full render, a first full sync through `Proxier`, and a partial sync
//! after one Service's endpoints changed; with rule counts and restore-text size.

use netrules::kubeproxy::{render, Proxier, ProxierConfig};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let pairs: Vec<(usize, usize)> = if args.len() >= 2 {
        args.chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (c[0], c[1]))
            .collect()
    } else {
        vec![(1000, 5), (10000, 5)]
    };
    let cfg = ProxierConfig {
        node_name: "node-1".into(),
        cluster_cidrs: vec!["10.244.0.0/16".into()],
        ..Default::default()
    };
    println!(
        "{:>8} {:>5} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
        "services", "eps", "render_ms", "full_ms", "partial_ms", "nat_rules", "bytes", "part_bytes"
    );
    for (n, e) in pairs {
        let (svcs, mut slices) = netrules::synth::services(n, e);
        let objs = netrules::k8s::Objects {
            services: svcs.clone(),
            endpoint_slices: slices.clone(),
            ..Default::default()
        };
        let t = Instant::now();
        let out = render(&cfg, &objs);
        let render_ms = t.elapsed().as_secs_f64() * 1e3;
        let nat_rules = out.ruleset.table("nat").map_or(0, |t| t.rules().count());

        let mut p = Proxier::new(cfg.clone());
        let t = Instant::now();
        p.set_objects(&svcs, &slices);
        let full = p.sync();
        let full_ms = t.elapsed().as_secs_f64() * 1e3;

        slices[0].endpoints[0].addresses[0] = "10.250.0.1".into();
        slices[0].metadata.resource_version = "2".into();
        let t = Instant::now();
        p.set_objects(&svcs, &slices);
        let partial = p.sync();
        let partial_ms = t.elapsed().as_secs_f64() * 1e3;
        assert!(!partial.full && partial.services_changed.len() == 1);
        println!(
            "{n:>8} {e:>5} {render_ms:>12.1} {full_ms:>12.1} {partial_ms:>12.1} {nat_rules:>10} {:>10} {:>10}",
            full.restore_text.len(),
            partial.restore_text.len()
        );
    }
}
