//! `describe node`: conditions, addresses, capacity, the pods on it.

use serde_json::Value;
use time::OffsetDateTime;

use super::writer::arr;
use super::writer::comma_or_none;
use super::writer::events_none;
use super::writer::finish;
use super::writer::labels_and_annotations;
use super::writer::s;
use super::writer::sorted_map;
use super::writer::strs;
use super::writer::W;
use crate::kubectl::duration::age;
use crate::kubectl::duration::rfc1123z;
use crate::kubectl::printers::node_roles;

/// `describe node`.
pub fn node(o: &Value, pods: &[Value], now: OffsetDateTime) -> String {
    let mut w = W(String::new());
    w.w(0, &format!("Name:\t{}\n", s(o, "/metadata/name")));
    let roles = comma_or_none(&node_roles(o));
    w.w(0, &format!("Roles:\t{roles}\n"));
    labels_and_annotations(&mut w, o);
    w.w(
        0,
        &format!(
            "CreationTimestamp:\t{}\n",
            rfc1123z(s(o, "/metadata/creationTimestamp"))
        ),
    );
    let taints = arr(o, "/spec/taints");
    if taints.is_empty() {
        w.w(0, "Taints:\t<none>\n");
    } else {
        for (i, t) in taints.iter().enumerate() {
            let text = if s(t, "/value").is_empty() {
                format!("{}:{}", s(t, "/key"), s(t, "/effect"))
            } else {
                format!("{}={}:{}", s(t, "/key"), s(t, "/value"), s(t, "/effect"))
            };
            if i == 0 {
                w.w(0, &format!("Taints:\t{text}\n"));
            } else {
                w.w(0, &format!("\t{text}\n"));
            }
        }
    }
    let unsched = o
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    w.w(0, &format!("Unschedulable:\t{unsched}\n"));
    let conds = arr(o, "/status/conditions");
    let renew = conds
        .iter()
        .find(|c| s(c, "/type") == "Ready")
        .map(|c| rfc1123z(s(c, "/lastHeartbeatTime")))
        .unwrap_or_else(|| "<unset>".into());
    w.w(0, "Lease:\n");
    w.w(1, &format!("HolderIdentity:\t{}\n", s(o, "/metadata/name")));
    w.w(1, "AcquireTime:\t<unset>\n");
    w.w(1, &format!("RenewTime:\t{renew}\n"));
    if !conds.is_empty() {
        w.w(
            0,
            "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n",
        );
        w.w(
            1,
            "----\t------\t-----------------\t------------------\t------\t-------\n",
        );
        for c in conds {
            w.w(
                1,
                &format!(
                    "{} \t{} \t{} \t{} \t{} \t{}\n",
                    s(c, "/type"),
                    s(c, "/status"),
                    rfc1123z(s(c, "/lastHeartbeatTime")),
                    rfc1123z(s(c, "/lastTransitionTime")),
                    s(c, "/reason"),
                    s(c, "/message")
                ),
            );
        }
    }
    w.w(0, "Addresses:\n");
    for a in arr(o, "/status/addresses") {
        w.w(1, &format!("{}:\t{}\n", s(a, "/type"), s(a, "/address")));
    }
    for (title, key) in [
        ("Capacity", "/status/capacity"),
        ("Allocatable", "/status/allocatable"),
    ] {
        let m = sorted_map(o.pointer(key));
        if !m.is_empty() {
            w.w(0, &format!("{title}:\n"));
            for (k, v) in m {
                w.w(1, &format!("{k}:\t{v}\n"));
            }
        }
    }
    w.w(0, "System Info:\n");
    for (title, key) in [
        ("Machine ID", "machineID"),
        ("System UUID", "systemUUID"),
        ("Boot ID", "bootID"),
        ("Kernel Version", "kernelVersion"),
        ("OS Image", "osImage"),
        ("Operating System", "operatingSystem"),
        ("Architecture", "architecture"),
        ("Container Runtime Version", "containerRuntimeVersion"),
        ("Kubelet Version", "kubeletVersion"),
        ("Kube-Proxy Version", "kubeProxyVersion"),
    ] {
        w.w(
            1,
            &format!("{title}:\t{}\n", s(o, &format!("/status/nodeInfo/{key}"))),
        );
    }
    if !s(o, "/spec/podCIDR").is_empty() {
        w.w(0, &format!("PodCIDR:\t{}\n", s(o, "/spec/podCIDR")));
    }
    let cidrs = strs(o, "/spec/podCIDRs");
    if !cidrs.is_empty() {
        w.w(0, &format!("PodCIDRs:\t{}\n", cidrs.join(",")));
    }
    w.w(
        0,
        &format!("Non-terminated Pods:\t({} in total)\n", pods.len()),
    );
    w.w(
        1,
        "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n",
    );
    w.w(
        1,
        "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n",
    );
    for p in pods {
        w.w(
            1,
            &format!(
                "{}\t{}\t\t0 (0%)\t0 (0%)\t0 (0%)\t0 (0%)\t{}\n",
                s(p, "/metadata/namespace"),
                s(p, "/metadata/name"),
                age(
                    p.pointer("/metadata/creationTimestamp")
                        .and_then(Value::as_str),
                    now
                )
            ),
        );
    }
    w.w(
        0,
        "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n",
    );
    w.w(1, "Resource\tRequests\tLimits\n");
    w.w(1, "--------\t--------\t------\n");
    for r in ["cpu", "memory", "ephemeral-storage"] {
        w.w(1, &format!("{r}\t0 (0%)\t0 (0%)\n"));
    }
    events_none(&mut w);
    finish(w)
}
