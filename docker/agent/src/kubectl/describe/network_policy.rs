//! `describe networkpolicy`: the pod selector, the ingress and egress rules, and the policy types.

use serde_json::Value;

use super::writer::arr;
use super::writer::finish;
use super::writer::labels_and_annotations;
use super::writer::name_header;
use super::writer::num;
use super::writer::s;
use super::writer::W;
use crate::kubectl::duration::go_time_string;
use crate::kubectl::printers::format_label_selector;
use crate::kubectl::printers::selector_string;

/// kplab's honest note at the end of `describe networkpolicy`.
pub const NETPOL_NOTE: &str = "Note (kplab): policies are enforced by kplab's own enforcer, which lays out filter-table \
chains the way Calico does but simplifies it: no ipsets (one rule per peer address) and, of Felix's packet marks, only its accept bit (0x10000).";

pub(crate) fn policy_types(spec: &Value) -> (bool, bool, Vec<String>) {
    let mut types: Vec<String> = arr(spec, "/policyTypes")
        .iter()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    if types.is_empty() {
        // The API server's default: Ingress, plus Egress when egress rules exist.
        types.push("Ingress".into());
        if !arr(spec, "/egress").is_empty() {
            types.push("Egress".into());
        }
    }
    (
        types.iter().any(|t| t == "Ingress"),
        types.iter().any(|t| t == "Egress"),
        types,
    )
}

pub(crate) fn peers(w: &mut W, rules: &[Value], ingress: bool) {
    let ind = "    ";
    let (peer_key, peer_title, dir) = if ingress {
        ("from", "From", "ingress")
    } else {
        ("to", "To", "egress")
    };
    if rules.is_empty() {
        w.w(
            0,
            &format!("{ind}<none> (Selected pods are isolated for {dir} connectivity)\n"),
        );
        return;
    }
    for (i, rule) in rules.iter().enumerate() {
        let ports = arr(rule, "/ports");
        if ports.is_empty() {
            w.w(
                0,
                &format!("{ind}To Port: <any> (traffic allowed to all ports)\n"),
            );
        } else {
            for p in ports {
                let proto = match s(p, "/protocol") {
                    "" => "TCP",
                    x => x,
                };
                let port = match num(p, "/port") {
                    x if x.is_empty() => "<nil>".to_string(),
                    x => x,
                };
                let port = match p.get("endPort").and_then(Value::as_i64) {
                    Some(end) => format!("{port}-{end}"),
                    None => port,
                };
                w.w(0, &format!("{ind}To Port: {port}/{proto}\n"));
            }
        }
        let list = arr(rule, &format!("/{peer_key}"));
        if list.is_empty() {
            if ingress {
                w.w(
                    0,
                    &format!("{ind}From: <any> (traffic not restricted by source)\n"),
                );
            } else {
                w.w(
                    0,
                    &format!("{ind}To: <any> (traffic not restricted by destination)\n"),
                );
            }
        } else {
            for peer in list {
                w.w(0, &format!("{ind}{peer_title}:\n"));
                let ps = peer.get("podSelector");
                let ns = peer.get("namespaceSelector");
                if ps.is_some() && ns.is_some() {
                    w.w(
                        1,
                        &format!("{ind}NamespaceSelector: {}\n", format_label_selector(ns)),
                    );
                    w.w(
                        1,
                        &format!("{ind}PodSelector: {}\n", format_label_selector(ps)),
                    );
                } else if ps.is_some() {
                    w.w(
                        1,
                        &format!("{ind}PodSelector: {}\n", format_label_selector(ps)),
                    );
                } else if ns.is_some() {
                    w.w(
                        1,
                        &format!("{ind}NamespaceSelector: {}\n", format_label_selector(ns)),
                    );
                } else if let Some(b) = peer.get("ipBlock") {
                    let except: Vec<&str> =
                        arr(b, "/except").iter().filter_map(Value::as_str).collect();
                    w.w(1, &format!("{ind}IPBlock:\n"));
                    w.w(2, &format!("{ind}CIDR: {}\n", s(b, "/cidr")));
                    w.w(2, &format!("{ind}Except: {}\n", except.join(", ")));
                }
            }
        }
        if i != rules.len() - 1 {
            w.w(0, &format!("{ind}----------\n"));
        }
    }
}

/// `describe networkpolicy`, with kubectl's human summary and kplab's enforcer note.
pub fn network_policy(o: &Value) -> String {
    let mut w = W(String::new());
    name_header(&mut w, o, true);
    w.w(
        0,
        &format!(
            "Created on:\t{}\n",
            go_time_string(s(o, "/metadata/creationTimestamp"))
        ),
    );
    labels_and_annotations(&mut w, o);
    let spec = o.get("spec").cloned().unwrap_or(Value::Null);
    w.w(0, "Spec:\n");
    w.w(1, "PodSelector: ");
    let sel = selector_string(spec.get("podSelector"));
    if sel.is_empty() {
        w.w(
            2,
            "<none> (Allowing the specific traffic to all pods in this namespace)\n",
        );
    } else {
        w.w(2, &format!("{sel}\n"));
    }
    let (ing, eg, types) = policy_types(&spec);
    if ing {
        w.w(1, "Allowing ingress traffic:\n");
        peers(&mut w, arr(&spec, "/ingress"), true);
    } else {
        w.w(1, "Not affecting ingress traffic\n");
    }
    if eg {
        w.w(1, "Allowing egress traffic:\n");
        peers(&mut w, arr(&spec, "/egress"), false);
    } else {
        w.w(1, "Not affecting egress traffic\n");
    }
    w.w(1, &format!("Policy Types: {}\n", types.join(", ")));
    let mut out = finish(w);
    out.push('\n');
    out.push_str(NETPOL_NOTE);
    out.push('\n');
    out
}
