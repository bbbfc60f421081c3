//! `kubectl get` tables: the columns and cell formatting of kube-apiserver's table printers
//! (`pkg/printers/internalversion/printers.go`), laid out with kubectl's tabwriter.

use std::collections::BTreeMap;

use netrules::labels::LabelSelector;
use serde_json::Value;
use time::OffsetDateTime;

use super::duration::age;
use super::tabwriter;
use crate::kube::client::Resource;

/// How a table is printed.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// `-o wide`.
    pub wide: bool,
    /// `--show-labels`.
    pub show_labels: bool,
    /// `--no-headers`.
    pub no_headers: bool,
    /// A leading NAMESPACE column (`-A` on namespaced resources).
    pub with_namespace: bool,
    /// Prefix names with `kind.group/` (several resource types printed together).
    pub with_kind: bool,
    /// The time AGE is measured from.
    pub now: OffsetDateTime,
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn i(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn or_none(x: &str) -> String {
    if x.is_empty() {
        "<none>".into()
    } else {
        x.to_string()
    }
}

/// `labels.FormatLabels`: sorted `k=v` joined by commas, `<none>` when empty.
pub fn format_labels(m: Option<&Value>) -> String {
    let map: BTreeMap<&str, &str> = m
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if map.is_empty() {
        return "<none>".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: requirements sorted by key; empty string
/// for an empty selector.
pub fn selector_string(sel: Option<&Value>) -> String {
    // Stored objects passed validation; anything malformed prints as no selector.
    LabelSelector::from_json(sel)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// `metav1.FormatLabelSelector`: like [`selector_string`], `<none>` when empty.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    let t = selector_string(sel);
    if t.is_empty() {
        "<none>".into()
    } else {
        t
    }
}

/// `kind.group/name` as `-o name` and multi-type tables print it.
pub fn kind_prefix(r: &Resource) -> String {
    if r.group.is_empty() {
        r.kind.to_ascii_lowercase()
    } else {
        format!("{}.{}", r.kind.to_ascii_lowercase(), r.group)
    }
}

/// The header cells for a kind.
pub fn headers(kind: &str, wide: bool) -> Vec<&'static str> {
    let (base, extra): (&[&str], &[&str]) = match kind {
        "Pod" => (
            &["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            &["IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
        ),
        "Service" => (
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ],
            &["SELECTOR"],
        ),
        "Endpoints" => (&["NAME", "ENDPOINTS", "AGE"], &[]),
        "EndpointSlice" => (&["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], &[]),
        "Node" => (
            &["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
            &[
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME",
            ],
        ),
        "Deployment" => (
            &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            &["CONTAINERS", "IMAGES", "SELECTOR"],
        ),
        "NetworkPolicy" => (&["NAME", "POD-SELECTOR", "AGE"], &[]),
        "Namespace" => (&["NAME", "STATUS", "AGE"], &[]),
        _ => (&["NAME", "AGE"], &[]),
    };
    let mut h = base.to_vec();
    if wide {
        h.extend_from_slice(extra);
    }
    h
}

/// The cells of one object's row (the NAME cell is the bare name).
pub fn row(kind: &str, o: &Value, wide: bool, now: OffsetDateTime) -> Vec<String> {
    let name = s(o, "/metadata/name").to_string();
    let created = o
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str);
    let age = age(created, now);
    match kind {
        "Pod" => pod_row(o, name, age, wide, now),
        "Service" => {
            let mut r = vec![
                name,
                s(o, "/spec/type").to_string(),
                or_none(s(o, "/spec/clusterIP")),
                service_external_ip(o),
                service_ports(o),
                age,
            ];
            if wide {
                r.push(format_labels(o.pointer("/spec/selector")));
            }
            r
        }
        "Endpoints" => vec![name, format_endpoints(o), age],
        "EndpointSlice" => vec![
            name,
            s(o, "/addressType").to_string(),
            slice_ports(o),
            slice_endpoints(o),
            age,
        ],
        "Node" => {
            let mut status: Vec<String> = Vec::new();
            for c in arr(o, "/status/conditions") {
                if s(c, "/type") == "Ready" {
                    status.push(if s(c, "/status") == "True" {
                        "Ready".into()
                    } else {
                        "NotReady".into()
                    });
                }
            }
            if status.is_empty() {
                status.push("Unknown".into());
            }
            if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                status.push("SchedulingDisabled".into());
            }
            let roles = node_roles(o);
            let mut r = vec![
                name,
                status.join(","),
                if roles.is_empty() {
                    "<none>".into()
                } else {
                    roles.join(",")
                },
                age,
                s(o, "/status/nodeInfo/kubeletVersion").to_string(),
            ];
            if wide {
                let addr = |t: &str| {
                    arr(o, "/status/addresses")
                        .iter()
                        .find(|a| s(a, "/type") == t)
                        .map(|a| s(a, "/address").to_string())
                        .unwrap_or_else(|| "<none>".into())
                };
                let unk = |x: &str| {
                    if x.is_empty() {
                        "<unknown>".to_string()
                    } else {
                        x.to_string()
                    }
                };
                r.push(addr("InternalIP"));
                r.push(addr("ExternalIP"));
                r.push(unk(s(o, "/status/nodeInfo/osImage")));
                r.push(unk(s(o, "/status/nodeInfo/kernelVersion")));
                r.push(unk(s(o, "/status/nodeInfo/containerRuntimeVersion")));
            }
            r
        }
        "Deployment" => {
            let desired = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let mut r = vec![
                name,
                format!("{}/{}", i(o, "/status/readyReplicas"), desired),
                i(o, "/status/updatedReplicas").to_string(),
                i(o, "/status/availableReplicas").to_string(),
                age,
            ];
            if wide {
                let cs = arr(o, "/spec/template/spec/containers");
                r.push(
                    cs.iter()
                        .map(|c| s(c, "/name"))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                r.push(
                    cs.iter()
                        .map(|c| s(c, "/image"))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                r.push(selector_string(o.pointer("/spec/selector")));
            }
            r
        }
        "NetworkPolicy" => vec![
            name,
            format_label_selector(o.pointer("/spec/podSelector")),
            age,
        ],
        "Namespace" => vec![name, s(o, "/status/phase").to_string(), age],
        _ => vec![name, age],
    }
}

fn pod_row(o: &Value, name: String, age: String, wide: bool, now: OffsetDateTime) -> Vec<String> {
    let statuses = arr(o, "/status/containerStatuses");
    let total = arr(o, "/spec/containers").len();
    let mut restarts = 0;
    let mut ready = 0;
    let mut last_restart: Option<OffsetDateTime> = None;
    let mut reason = s(o, "/status/phase").to_string();
    if !s(o, "/status/reason").is_empty() {
        reason = s(o, "/status/reason").to_string();
    }
    let mut has_running = false;
    for c in statuses.iter().rev() {
        restarts += i(c, "/restartCount");
        if let Some(t) = c
            .pointer("/lastState/terminated/finishedAt")
            .and_then(Value::as_str)
            .and_then(super::duration::parse_time)
        {
            if last_restart.is_none_or(|l| t > l) {
                last_restart = Some(t);
            }
        }
        let waiting = s(c, "/state/waiting/reason");
        let term_reason = s(c, "/state/terminated/reason");
        if !waiting.is_empty() {
            reason = waiting.to_string();
        } else if !term_reason.is_empty() {
            reason = term_reason.to_string();
        } else if c.pointer("/state/terminated").is_some() {
            let sig = i(c, "/state/terminated/signal");
            reason = if sig != 0 {
                format!("Signal:{sig}")
            } else {
                format!("ExitCode:{}", i(c, "/state/terminated/exitCode"))
            };
        } else if c.pointer("/ready").and_then(Value::as_bool) == Some(true)
            && c.pointer("/state/running").is_some()
        {
            has_running = true;
            ready += 1;
        }
    }
    if reason == "Completed" && has_running {
        let pod_ready = arr(o, "/status/conditions")
            .iter()
            .any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True");
        reason = if pod_ready { "Running" } else { "NotReady" }.into();
    }
    if o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        reason = if s(o, "/status/reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let restarts_text = match last_restart {
        Some(t) => format!(
            "{restarts} ({} ago)",
            super::duration::human_duration(now - t)
        ),
        None => restarts.to_string(),
    };
    let mut r = vec![name, format!("{ready}/{total}"), reason, restarts_text, age];
    if wide {
        r.push(or_none(s(o, "/status/podIP")));
        r.push(or_none(s(o, "/spec/nodeName")));
        r.push(or_none(s(o, "/status/nominatedNodeName")));
        let gates = arr(o, "/spec/readinessGates");
        if gates.is_empty() {
            r.push("<none>".into());
        } else {
            let conds = arr(o, "/status/conditions");
            let ok = gates
                .iter()
                .filter(|g| {
                    conds.iter().any(|c| {
                        s(c, "/type") == s(g, "/conditionType") && s(c, "/status") == "True"
                    })
                })
                .count();
            r.push(format!("{ok}/{}", gates.len()));
        }
    }
    r
}

/// Node roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels.
pub fn node_roles(o: &Value) -> Vec<String> {
    let mut roles = std::collections::BTreeSet::new();
    if let Some(m) = o.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in m {
            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                if !r.is_empty() {
                    roles.insert(r.to_string());
                }
            } else if k == "kubernetes.io/role" {
                if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                    roles.insert(v.to_string());
                }
            }
        }
    }
    roles.into_iter().collect()
}

fn service_external_ip(o: &Value) -> String {
    let ext: Vec<&str> = arr(o, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match s(o, "/spec/type") {
        "ClusterIP" | "NodePort" | "" => {
            if ext.is_empty() {
                "<none>".into()
            } else {
                ext.join(",")
            }
        }
        "LoadBalancer" => {
            let mut ips: Vec<String> = arr(o, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| {
                    let ip = s(i, "/ip");
                    if ip.is_empty() {
                        s(i, "/hostname").to_string()
                    } else {
                        ip.to_string()
                    }
                })
                .filter(|x| !x.is_empty())
                .collect();
            ips.extend(ext.iter().map(|x| x.to_string()));
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => s(o, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

fn service_ports(o: &Value) -> String {
    let ports: Vec<String> = arr(o, "/spec/ports")
        .iter()
        .map(|p| {
            let proto = match s(p, "/protocol") {
                "" => "TCP",
                x => x,
            };
            let node_port = i(p, "/nodePort");
            if node_port > 0 {
                format!("{}:{}/{}", i(p, "/port"), node_port, proto)
            } else {
                format!("{}/{}", i(p, "/port"), proto)
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

fn join_host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The ENDPOINTS cell of `kubectl get endpoints` (`formatEndpoints`): at most three
/// `ip:port`, then `+ N more...`.
pub fn format_endpoints(o: &Value) -> String {
    let subsets = arr(o, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let max = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ss in subsets {
        let addrs = arr(ss, "/addresses");
        let ports = arr(ss, "/ports");
        if ports.is_empty() {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                }
                if !more {
                    list.push(s(a, "/ip").to_string());
                }
            }
        } else {
            for p in ports {
                count += addrs.len();
                for a in addrs {
                    if list.len() == max {
                        more = true;
                    }
                    if !more {
                        list.push(join_host_port(s(a, "/ip"), i(p, "/port")));
                    }
                }
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - max)
    } else {
        ret
    }
}

fn list_with_more(list: Vec<String>, more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() {
        "<unset>".into()
    } else {
        ret
    }
}

fn slice_ports(o: &Value) -> String {
    let ports = arr(o, "/ports");
    if ports.is_empty() {
        return "<unset>".into();
    }
    let (max, mut list, mut more, mut count) = (3, Vec::new(), false, 0);
    for p in ports {
        if list.len() < max {
            let num = match p.get("port").and_then(Value::as_i64) {
                Some(n) => n.to_string(),
                None => match p.get("name").and_then(Value::as_str) {
                    Some(n) => n.to_string(),
                    None => "*".into(),
                },
            };
            list.push(num);
        } else if list.len() == max {
            more = true;
        }
        count += 1;
    }
    list_with_more(list, more, count, max)
}

fn slice_endpoints(o: &Value) -> String {
    let (max, mut list, mut more, mut count) = (3, Vec::new(), false, 0);
    for e in arr(o, "/endpoints") {
        for a in arr(e, "/addresses") {
            if list.len() < max {
                list.push(a.as_str().unwrap_or("").to_string());
            } else if list.len() == max {
                more = true;
            }
            count += 1;
        }
    }
    list_with_more(list, more, count, max)
}

/// Renders a table of objects of one resource type (not yet aligned: tab-separated).
pub fn table_text(resource: &Resource, items: &[Value], opts: &TableOptions) -> String {
    let mut out = String::new();
    let with_ns = opts.with_namespace && resource.namespaced;
    if !opts.no_headers {
        let mut h: Vec<&str> = Vec::new();
        if with_ns {
            h.push("NAMESPACE");
        }
        h.extend(headers(resource.kind, opts.wide));
        if opts.show_labels {
            h.push("LABELS");
        }
        out.push_str(&h.join("\t"));
        out.push('\n');
    }
    let prefix = kind_prefix(resource);
    for o in items {
        let mut cells = Vec::new();
        if with_ns {
            cells.push(s(o, "/metadata/namespace").to_string());
        }
        let mut r = row(resource.kind, o, opts.wide, opts.now);
        if opts.with_kind {
            r[0] = format!("{prefix}/{}", r[0]);
        }
        cells.extend(r);
        if opts.show_labels {
            cells.push(format_labels(o.pointer("/metadata/labels")));
        }
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out
}

/// Renders and aligns one table.
pub fn table(resource: &Resource, items: &[Value], opts: &TableOptions) -> String {
    tabwriter::TABLE.format(&table_text(resource, items, opts))
}
