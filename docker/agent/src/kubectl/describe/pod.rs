//! `describe pod`, with kplab's note about what a pod's process is.

use serde_json::Value;
use time::OffsetDateTime;

use super::container::describe_container;
use super::writer::arr;
use super::writer::events_none;
use super::writer::finish;
use super::writer::labels_and_annotations;
use super::writer::labels_multiline;
use super::writer::s;
use super::writer::tolerations_multiline;
use super::writer::W;
use crate::kubectl::duration::age;
use crate::kubectl::duration::rfc1123z;

/// kplab's honest note at the end of `describe pod`.
pub const POD_NOTE: &str = "Note (kplab): container images are not run in kplab. Each pod's process is kplab's echo \
server, answering on the pod's containerPorts (HTTP on TCP, echo on UDP; port 80 when none is declared) with \
the pod's name, node, IP and the client address it saw.";

/// kplab's note at the end of `describe pod` for cluster DNS pods (image `…/coredns`).
pub const DNS_POD_NOTE: &str = "Note (kplab): container images are not run in kplab. This pod's process is kplab's \
cluster DNS server (the coredns component), answering on 53/UDP and 53/TCP for cluster.local names.";

/// `describe pod`, followed by kplab's note on what a pod runs here.
pub fn pod(o: &Value, now: OffsetDateTime) -> String {
    let mut w = W(String::new());
    w.w(0, &format!("Name:\t{}\n", s(o, "/metadata/name")));
    w.w(0, &format!("Namespace:\t{}\n", s(o, "/metadata/namespace")));
    if let Some(p) = o.pointer("/spec/priority").and_then(Value::as_i64) {
        w.w(0, &format!("Priority:\t{p}\n"));
    }
    if !s(o, "/spec/priorityClassName").is_empty() {
        w.w(
            0,
            &format!(
                "Priority Class Name:\t{}\n",
                s(o, "/spec/priorityClassName")
            ),
        );
    }
    let sa = match s(o, "/spec/serviceAccountName") {
        "" => "default",
        x => x,
    };
    w.w(0, &format!("Service Account:\t{sa}\n"));
    if s(o, "/spec/nodeName").is_empty() {
        w.w(0, "Node:\t<none>\n");
    } else {
        w.w(
            0,
            &format!(
                "Node:\t{}/{}\n",
                s(o, "/spec/nodeName"),
                s(o, "/status/hostIP")
            ),
        );
    }
    if !s(o, "/status/startTime").is_empty() {
        w.w(
            0,
            &format!("Start Time:\t{}\n", rfc1123z(s(o, "/status/startTime"))),
        );
    }
    labels_and_annotations(&mut w, o);
    if !s(o, "/metadata/deletionTimestamp").is_empty() {
        let ts = s(o, "/metadata/deletionTimestamp");
        w.w(
            0,
            &format!("Status:\tTerminating (lasts {})\n", age(Some(ts), now)),
        );
        let grace = o
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        w.w(0, &format!("Termination Grace Period:\t{grace}s\n"));
    } else {
        w.w(0, &format!("Status:\t{}\n", s(o, "/status/phase")));
    }
    if !s(o, "/status/reason").is_empty() {
        w.w(0, &format!("Reason:\t{}\n", s(o, "/status/reason")));
    }
    if !s(o, "/status/message").is_empty() {
        w.w(0, &format!("Message:\t{}\n", s(o, "/status/message")));
    }
    w.w(0, &format!("IP:\t{}\n", s(o, "/status/podIP")));
    let ips = arr(o, "/status/podIPs");
    if ips.is_empty() {
        w.w(0, "IPs:\t<none>\n");
    } else {
        w.w(0, "IPs:\n");
        for ip in ips {
            w.w(1, &format!("IP:\t{}\n", s(ip, "/ip")));
        }
    }
    if let Some(c) = arr(o, "/metadata/ownerReferences")
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
    {
        w.w(
            0,
            &format!("Controlled By:\t{}/{}\n", s(c, "/kind"), s(c, "/name")),
        );
    }
    w.w(0, "Containers:\n");
    let statuses = arr(o, "/status/containerStatuses");
    for c in arr(o, "/spec/containers") {
        w.w(1, &format!("{}:\n", s(c, "/name")));
        let st = statuses.iter().find(|x| s(x, "/name") == s(c, "/name"));
        describe_container(&mut w, c, st);
    }
    let conds = arr(o, "/status/conditions");
    if !conds.is_empty() {
        w.w(0, "Conditions:\n  Type\tStatus\n");
        for c in conds {
            w.w(1, &format!("{} \t{} \n", s(c, "/type"), s(c, "/status")));
        }
    }
    w.w(0, "Volumes:\t<none>\n");
    let qos = match s(o, "/status/qosClass") {
        "" => {
            let has_resources = arr(o, "/spec/containers").iter().any(|c| {
                c.get("resources")
                    .and_then(Value::as_object)
                    .is_some_and(|m| !m.is_empty())
            });
            if has_resources {
                "Burstable"
            } else {
                "BestEffort"
            }
        }
        q => q,
    };
    w.w(0, &format!("QoS Class:\t{qos}\n"));
    labels_multiline(
        &mut w,
        "",
        "Node-Selectors",
        o.pointer("/spec/nodeSelector"),
    );
    tolerations_multiline(&mut w, "", "Tolerations", arr(o, "/spec/tolerations"));
    events_none(&mut w);
    let mut out = finish(w);
    out.push('\n');
    let dns = arr(o, "/spec/containers")
        .iter()
        .any(|c| container_image_is_coredns(s(c, "/image")));
    out.push_str(if dns { DNS_POD_NOTE } else { POD_NOTE });
    out.push('\n');
    out
}

pub(crate) fn container_image_is_coredns(image: &str) -> bool {
    image.rsplit('/').next().is_some_and(|base| {
        base == "coredns" || base.starts_with("coredns:") || base.starts_with("coredns@")
    })
}
