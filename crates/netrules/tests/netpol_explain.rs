//! `policy explain` on rendered rules: the verdict, the deciding chain and rule, and the policy
//! rule that set the accept mark, for same-node and cross-node flows.

use std::collections::BTreeMap;

use netrules::netpol::e2e_model::{model_cluster, parse_policies, scenarios};
use netrules::netpol::explain::{explain, Query};
use netrules::netpol::objects::{Pod, Protocol};
use netrules::netpol::parse_filter;
use netrules::netpol::render::{render, NodeFacts};

fn iface(p: &Pod) -> String {
    format!("cali{:0>11}", format!("{}{}", p.namespace, p.name))
}

#[test]
fn explains_allowed_and_dropped_connections() {
    let mut c = model_cluster(&BTreeMap::new());
    let s = scenarios()
        .into_iter()
        .find(|s| s.name == "05-and-one-peer")
        .unwrap();
    c.policies = parse_policies(s.policies);
    let node = "node-1";
    let facts = NodeFacts {
        node_name: node.into(),
        ifaces: c
            .pods
            .iter()
            .filter(|p| p.node == node)
            .map(|p| (p.key(), iface(p)))
            .collect(),
    };
    let table = parse_filter(&render(&c, &facts).save_text()).unwrap();
    let (xa, yb, ya) = (
        c.pod("x", "a").unwrap(),
        c.pod("y", "b").unwrap(),
        c.pod("y", "a").unwrap(),
    );
    assert_eq!(
        (xa.node.as_str(), yb.node.as_str(), ya.node.as_str()),
        ("node-1", "node-1", "node-2")
    );

    // y/b -> x/a: both on node-1, allowed by the policy's rule naming y/b.
    let q = Query {
        src: yb,
        dst: xa,
        port: 80,
        proto: Protocol::Tcp,
    };
    let e = explain(&c, &table, node, q, &iface).unwrap();
    assert_eq!(e.verdict, "ALLOWED", "{}", e.to_text());
    assert!(e.scope.starts_with("egress and ingress"));
    let d = e.decided_by.as_ref().unwrap();
    assert_eq!((d.chain.as_str(), d.position), ("FORWARD", 2));
    assert!(
        e.accepted_by
            .iter()
            .any(|a| a.chain.starts_with("cali-pi-_")
                && a.comment
                    .contains("x/knp.default.allow-x-a-from-y-b-only ingress[0]: from[0] pod y/b")),
        "{}",
        e.to_text()
    );
    assert!(
        e.accepted_by.iter().any(|a| a.chain == "cali-pro-kns.y"),
        "egress of y/b passes its namespace profile: {}",
        e.to_text()
    );
    assert!(e.expected.starts_with("ALLOWED"));

    // y/a (node-2) -> x/a: ingress checked here, dropped at the end of x/a's policies.
    let q = Query {
        src: ya,
        dst: xa,
        port: 80,
        proto: Protocol::Tcp,
    };
    let e = explain(&c, &table, node, q, &iface).unwrap();
    assert_eq!(e.verdict, "DROPPED", "{}", e.to_text());
    assert!(e.scope.starts_with("ingress only"));
    let d = e.decided_by.as_ref().unwrap();
    assert_eq!(d.chain, format!("cali-tw-{}", iface(xa)));
    assert_eq!(d.comment, "Drop if no policies passed packet");
    assert!(e.packet.contains("in vxlan.calico"));
    assert!(e.expected.starts_with("DROPPED"));
    assert!(e.to_text().contains("decided by:    chain cali-tw-"));

    // A pod to itself, and a flow this node never sees.
    let e = explain(
        &c,
        &table,
        node,
        Query {
            src: xa,
            dst: xa,
            port: 80,
            proto: Protocol::Tcp,
        },
        &iface,
    )
    .unwrap();
    assert_eq!(e.verdict, "ALLOWED");
    let (xb, yc) = (c.pod("x", "b").unwrap(), c.pod("y", "c").unwrap());
    let e = explain(
        &c,
        &table,
        node,
        Query {
            src: xb,
            dst: yc,
            port: 80,
            proto: Protocol::Tcp,
        },
        &iface,
    )
    .unwrap();
    assert_eq!(e.verdict, "NOT ON THIS NODE");
}
