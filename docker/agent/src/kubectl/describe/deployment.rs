//! `describe deployment`: replicas, strategy, the pod template, conditions.

use serde_json::Value;

use super::container::describe_container;
use super::writer::annotations_multiline;
use super::writer::arr;
use super::writer::events_none;
use super::writer::finish;
use super::writer::labels_and_annotations;
use super::writer::labels_multiline;
use super::writer::name_header;
use super::writer::num;
use super::writer::s;
use super::writer::tolerations_multiline;
use super::writer::W;
use crate::kubectl::duration::rfc1123z;
use crate::kubectl::printers::selector_string;

/// `describe deployment`.
pub fn deployment(o: &Value) -> String {
    let mut w = W(String::new());
    name_header(&mut w, o, true);
    w.w(
        0,
        &format!(
            "CreationTimestamp:\t{}\n",
            rfc1123z(s(o, "/metadata/creationTimestamp"))
        ),
    );
    labels_and_annotations(&mut w, o);
    w.w(
        0,
        &format!(
            "Selector:\t{}\n",
            selector_string(o.pointer("/spec/selector"))
        ),
    );
    let n = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let desired = o
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    w.w(
        0,
        &format!(
        "Replicas:\t{desired} desired | {} updated | {} total | {} available | {} unavailable\n",
        n("/status/updatedReplicas"),
        n("/status/replicas"),
        n("/status/availableReplicas"),
        n("/status/unavailableReplicas")
    ),
    );
    let strategy = match s(o, "/spec/strategy/type") {
        "" => "RollingUpdate",
        x => x,
    };
    w.w(0, &format!("StrategyType:\t{strategy}\n"));
    w.w(
        0,
        &format!("MinReadySeconds:\t{}\n", n("/spec/minReadySeconds")),
    );
    if strategy == "RollingUpdate" {
        let mu = match num(o, "/spec/strategy/rollingUpdate/maxUnavailable") {
            x if x.is_empty() => "25%".to_string(),
            x => x,
        };
        let ms = match num(o, "/spec/strategy/rollingUpdate/maxSurge") {
            x if x.is_empty() => "25%".to_string(),
            x => x,
        };
        w.w(
            0,
            &format!("RollingUpdateStrategy:\t{mu} max unavailable, {ms} max surge\n"),
        );
    }
    w.w(0, "Pod Template:\n");
    let t = o.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    labels_multiline(&mut w, "  ", "Labels", t.pointer("/metadata/labels"));
    if t.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
    {
        annotations_multiline(
            &mut w,
            "  ",
            "Annotations",
            t.pointer("/metadata/annotations"),
        );
    }
    if !s(&t, "/spec/serviceAccountName").is_empty() {
        w.w(
            1,
            &format!("Service Account:\t{}\n", s(&t, "/spec/serviceAccountName")),
        );
    }
    w.w(1, "Containers:\n");
    for c in arr(&t, "/spec/containers") {
        w.w(0, &format!("   {}:\n", s(c, "/name")));
        describe_container(&mut w, c, None);
    }
    w.w(1, "Volumes:\t<none>\n");
    labels_multiline(
        &mut w,
        "  ",
        "Node-Selectors",
        t.pointer("/spec/nodeSelector"),
    );
    tolerations_multiline(&mut w, "  ", "Tolerations", arr(&t, "/spec/tolerations"));
    let conds = arr(o, "/status/conditions");
    if !conds.is_empty() {
        w.w(0, "Conditions:\n  Type\tStatus\tReason\n");
        w.w(1, "----\t------\t------\n");
        for c in conds {
            w.w(
                1,
                &format!(
                    "{} \t{}\t{}\n",
                    s(c, "/type"),
                    s(c, "/status"),
                    s(c, "/reason")
                ),
            );
        }
    }
    events_none(&mut w);
    finish(w)
}
