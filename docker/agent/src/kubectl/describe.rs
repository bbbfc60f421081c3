//! `kubectl describe` layouts (`k8s.io/kubectl/pkg/describe`), one function per kind. Each
//! builds kubectl's tab-separated text and aligns it with the describe tabwriter (padding 2).

use serde_json::Value;
use time::OffsetDateTime;

use super::duration::{age, go_time_string, rfc1123z};
use super::printers::{format_label_selector, format_labels, node_roles, selector_string};
use super::tabwriter;

/// kplab's honest note at the end of `describe pod`.
pub const POD_NOTE: &str = "Note (kplab): container images are not run in kplab. Each pod's process is kplab's echo \
server, answering on the pod's containerPorts (HTTP on TCP, echo on UDP; port 80 when none is declared) with \
the pod's name, node, IP and the client address it saw.";

/// kplab's note at the end of `describe pod` for cluster DNS pods (image `…/coredns`).
pub const DNS_POD_NOTE: &str = "Note (kplab): container images are not run in kplab. This pod's process is kplab's \
cluster DNS server (the coredns component), answering on 53/UDP and 53/TCP for cluster.local names.";

/// kplab's honest note at the end of `describe networkpolicy`.
pub const NETPOL_NOTE: &str = "Note (kplab): policies are enforced by kplab's own enforcer, which lays out filter-table \
chains the way Calico does but simplifies it: no ipsets (one rule per peer address) and, of Felix's packet marks, only its accept bit (0x10000).";

/// Everything a describer may need besides the object itself.
#[derive(Debug, Default)]
pub struct Related {
    /// EndpointSlices of a Service (`kubernetes.io/service-name`).
    pub endpoint_slices: Vec<Value>,
    /// Non-terminated pods on a Node.
    pub node_pods: Vec<Value>,
}

struct W(String);

impl W {
    fn w(&mut self, level: usize, text: &str) {
        for _ in 0..level {
            self.0.push_str("  ");
        }
        self.0.push_str(text);
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// kubectl's `DescribeProbe`: the action, then its timing, with the API server's defaults for
/// fields the object leaves out (delay 0s, timeout 1s, period 10s, success 1, failure 3).
fn describe_probe(p: &Value) -> String {
    let num = |key: &str, default: i64| p.get(key).and_then(Value::as_i64).unwrap_or(default);
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        num("initialDelaySeconds", 0),
        num("timeoutSeconds", 1),
        num("periodSeconds", 10),
        num("successThreshold", 1),
        num("failureThreshold", 3)
    );
    let port = |v: Option<&Value>| match v {
        Some(Value::String(name)) => name.clone(),
        Some(n) => n.to_string(),
        None => String::new(),
    };
    if let Some(e) = p.get("exec") {
        let cmd: Vec<&str> = arr(e, "/command")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        format!("exec [{}] {attrs}", cmd.join(" "))
    } else if let Some(h) = p.get("httpGet") {
        let scheme = h.get("scheme").and_then(Value::as_str).unwrap_or("HTTP");
        let port = port(h.get("port"));
        let host = s(h, "/host");
        let authority = if port.is_empty() {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        format!(
            "http-get {}://{authority}{} {attrs}",
            scheme.to_ascii_lowercase(),
            s(h, "/path")
        )
    } else if let Some(t) = p.get("tcpSocket") {
        format!(
            "tcp-socket {}:{} {attrs}",
            s(t, "/host"),
            port(t.get("port"))
        )
    } else {
        format!("unknown {attrs}")
    }
}

fn num(v: &Value, ptr: &str) -> String {
    match v.pointer(ptr) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn sorted_map(v: Option<&Value>) -> Vec<(String, String)> {
    let mut m: Vec<(String, String)> = v
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    m.sort();
    m
}

fn labels_multiline(w: &mut W, initial: &str, title: &str, labels: Option<&Value>) {
    w.w(0, &format!("{initial}{title}:\t"));
    let m = sorted_map(labels);
    if m.is_empty() {
        w.w(0, "<none>\n");
        return;
    }
    for (i, (k, v)) in m.iter().enumerate() {
        if i != 0 {
            w.w(0, &format!("{initial}\t"));
        }
        w.w(0, &format!("{k}={v}\n"));
    }
}

fn annotations_multiline(w: &mut W, initial: &str, title: &str, ann: Option<&Value>) {
    w.w(0, &format!("{initial}{title}:\t"));
    let m: Vec<(String, String)> = sorted_map(ann)
        .into_iter()
        .filter(|(k, _)| k != "kubectl.kubernetes.io/last-applied-configuration")
        .collect();
    if m.is_empty() {
        w.w(0, "<none>\n");
        return;
    }
    for (i, (k, v)) in m.iter().enumerate() {
        if i != 0 {
            w.w(0, &format!("{initial}\t"));
        }
        if v.len() > 140 || v.contains('\n') {
            w.w(0, &format!("{k}:\n"));
            for line in v.lines() {
                w.w(0, &format!("{initial}\t  {line}\n"));
            }
        } else {
            w.w(0, &format!("{k}: {v}\n"));
        }
    }
}

fn tolerations_multiline(w: &mut W, initial: &str, title: &str, tols: &[Value]) {
    w.w(0, &format!("{initial}{title}:\t"));
    if tols.is_empty() {
        w.w(0, "<none>\n");
        return;
    }
    for (i, t) in tols.iter().enumerate() {
        if i != 0 {
            w.w(0, &format!("{initial}\t"));
        }
        let mut line = s(t, "/key").to_string();
        if !s(t, "/value").is_empty() {
            line.push_str(&format!("={}", s(t, "/value")));
        }
        if !s(t, "/effect").is_empty() {
            line.push_str(&format!(":{}", s(t, "/effect")));
        }
        if s(t, "/operator") == "Exists" && s(t, "/value").is_empty() {
            if !s(t, "/key").is_empty() || !s(t, "/effect").is_empty() {
                line.push_str(" op=Exists");
            } else {
                line.push_str("op=Exists");
            }
        }
        if let Some(secs) = t.get("tolerationSeconds").and_then(Value::as_i64) {
            line.push_str(&format!(" for {secs}s"));
        }
        w.w(0, &format!("{line}\n"));
    }
}

fn events_none(w: &mut W) {
    w.w(0, "Events:\t<none>\n");
}

fn finish(w: W) -> String {
    tabwriter::DESCRIBE.format(&w.0)
}

/// Describes any supported object by its `kind`.
pub fn describe(obj: &Value, related: &Related, now: OffsetDateTime) -> String {
    match s(obj, "/kind") {
        "Service" => service(obj, &related.endpoint_slices),
        "Pod" => pod(obj, now),
        "Endpoints" => endpoints(obj),
        "EndpointSlice" => endpoint_slice(obj),
        "Node" => node(obj, &related.node_pods, now),
        "NetworkPolicy" => network_policy(obj),
        "Deployment" => deployment(obj),
        "Namespace" => namespace(obj),
        _ => generic(obj),
    }
}

fn meta_header(w: &mut W, o: &Value, namespaced: bool) {
    w.w(0, &format!("Name:\t{}\n", s(o, "/metadata/name")));
    if namespaced {
        w.w(0, &format!("Namespace:\t{}\n", s(o, "/metadata/namespace")));
    }
    labels_multiline(w, "", "Labels", o.pointer("/metadata/labels"));
    annotations_multiline(w, "", "Annotations", o.pointer("/metadata/annotations"));
}

fn generic(o: &Value) -> String {
    let mut w = W(String::new());
    meta_header(&mut w, o, o.pointer("/metadata/namespace").is_some());
    events_none(&mut w);
    finish(w)
}

fn namespace(o: &Value) -> String {
    let mut w = W(String::new());
    meta_header(&mut w, o, false);
    w.w(0, &format!("Status:\t{}\n", s(o, "/status/phase")));
    w.w(0, "\nNo resource quota.\n\nNo LimitRange resource.\n");
    finish(w)
}

/// `describe service`.
pub fn service(o: &Value, slices: &[Value]) -> String {
    let mut w = W(String::new());
    meta_header(&mut w, o, true);
    w.w(
        0,
        &format!(
            "Selector:\t{}\n",
            format_labels(o.pointer("/spec/selector"))
        ),
    );
    w.w(0, &format!("Type:\t{}\n", s(o, "/spec/type")));
    if !s(o, "/spec/ipFamilyPolicy").is_empty() {
        w.w(
            0,
            &format!("IP Family Policy:\t{}\n", s(o, "/spec/ipFamilyPolicy")),
        );
    }
    let fams: Vec<&str> = arr(o, "/spec/ipFamilies")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    w.w(
        0,
        &format!(
            "IP Families:\t{}\n",
            if fams.is_empty() {
                "<none>".into()
            } else {
                fams.join(",")
            }
        ),
    );
    w.w(0, &format!("IP:\t{}\n", s(o, "/spec/clusterIP")));
    let ips: Vec<&str> = arr(o, "/spec/clusterIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    w.w(
        0,
        &format!(
            "IPs:\t{}\n",
            if ips.is_empty() {
                "<none>".into()
            } else {
                ips.join(",")
            }
        ),
    );
    let ext: Vec<&str> = arr(o, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !ext.is_empty() {
        w.w(0, &format!("External IPs:\t{}\n", ext.join(",")));
    }
    if !s(o, "/spec/loadBalancerIP").is_empty() {
        w.w(0, &format!("IP:\t{}\n", s(o, "/spec/loadBalancerIP")));
    }
    if !s(o, "/spec/externalName").is_empty() {
        w.w(
            0,
            &format!("External Name:\t{}\n", s(o, "/spec/externalName")),
        );
    }
    let ingress: Vec<&str> = arr(o, "/status/loadBalancer/ingress")
        .iter()
        .map(|i| {
            if s(i, "/ip").is_empty() {
                s(i, "/hostname")
            } else {
                s(i, "/ip")
            }
        })
        .collect();
    if !ingress.is_empty() {
        w.w(
            0,
            &format!("LoadBalancer Ingress:\t{}\n", ingress.join(", ")),
        );
    }
    for p in arr(o, "/spec/ports") {
        let name = match s(p, "/name") {
            "" => "<unset>",
            n => n,
        };
        let proto = match s(p, "/protocol") {
            "" => "TCP",
            x => x,
        };
        w.w(0, &format!("Port:\t{name}\t{}/{proto}\n", num(p, "/port")));
        let tp = match num(p, "/targetPort") {
            t if t.is_empty() => num(p, "/port"),
            t => t,
        };
        w.w(0, &format!("TargetPort:\t{tp}/{proto}\n"));
        if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
            w.w(
                0,
                &format!("NodePort:\t{name}\t{}/{proto}\n", num(p, "/nodePort")),
            );
        }
        w.w(
            0,
            &format!(
                "Endpoints:\t{}\n",
                format_endpoint_slices(slices, s(p, "/name"))
            ),
        );
    }
    w.w(
        0,
        &format!("Session Affinity:\t{}\n", s(o, "/spec/sessionAffinity")),
    );
    if !s(o, "/spec/externalTrafficPolicy").is_empty() {
        w.w(
            0,
            &format!(
                "External Traffic Policy:\t{}\n",
                s(o, "/spec/externalTrafficPolicy")
            ),
        );
    }
    if !s(o, "/spec/internalTrafficPolicy").is_empty() {
        w.w(
            0,
            &format!(
                "Internal Traffic Policy:\t{}\n",
                s(o, "/spec/internalTrafficPolicy")
            ),
        );
    }
    if o.pointer("/spec/healthCheckNodePort")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        != 0
    {
        w.w(
            0,
            &format!(
                "HealthCheck NodePort:\t{}\n",
                num(o, "/spec/healthCheckNodePort")
            ),
        );
    }
    let ranges: Vec<&str> = arr(o, "/spec/loadBalancerSourceRanges")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !ranges.is_empty() {
        w.w(
            0,
            &format!("LoadBalancer Source Ranges:\t{}\n", ranges.join(",")),
        );
    }
    events_none(&mut w);
    finish(w)
}

/// `formatEndpointSlices`: ready endpoints of the slices for one service port name.
fn format_endpoint_slices(slices: &[Value], port_name: &str) -> String {
    if slices.is_empty() {
        return "<none>".into();
    }
    let (max, mut list, mut more, mut count) = (3usize, Vec::<String>::new(), false, 0usize);
    for sl in slices {
        let ports = arr(sl, "/ports");
        let eps = arr(sl, "/endpoints");
        let ready =
            |e: &Value| e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false);
        if ports.is_empty() {
            for e in eps {
                if list.len() == max {
                    more = true;
                }
                if !ready(e) {
                    continue;
                }
                count += 1;
                if !more {
                    list.push(
                        arr(e, "/addresses")
                            .first()
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    );
                }
            }
        } else {
            for p in ports {
                if s(p, "/name") != port_name {
                    continue;
                }
                for e in eps {
                    if list.len() == max {
                        more = true;
                    }
                    if !ready(e) {
                        continue;
                    }
                    count += 1;
                    if !more {
                        let ip = arr(e, "/addresses")
                            .first()
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let port = num(p, "/port");
                        list.push(if ip.contains(':') {
                            format!("[{ip}]:{port}")
                        } else {
                            format!("{ip}:{port}")
                        });
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

/// `describe endpoints`.
pub fn endpoints(o: &Value) -> String {
    let mut w = W(String::new());
    meta_header(&mut w, o, true);
    w.w(0, "Subsets:\n");
    for ss in arr(o, "/subsets") {
        let join = |ptr: &str| {
            let v: Vec<&str> = arr(ss, ptr).iter().map(|a| s(a, "/ip")).collect();
            if v.is_empty() {
                "<none>".to_string()
            } else {
                v.join(",")
            }
        };
        w.w(1, &format!("Addresses:\t{}\n", join("/addresses")));
        w.w(
            1,
            &format!("NotReadyAddresses:\t{}\n", join("/notReadyAddresses")),
        );
        let ports = arr(ss, "/ports");
        if !ports.is_empty() {
            w.w(1, "Ports:\n");
            w.w(2, "Name\tPort\tProtocol\n");
            w.w(2, "----\t----\t--------\n");
            for p in ports {
                let name = match s(p, "/name") {
                    "" => "<unset>",
                    n => n,
                };
                w.w(
                    2,
                    &format!("{name}\t{}\t{}\n", num(p, "/port"), s(p, "/protocol")),
                );
            }
        }
        w.w(0, "\n");
    }
    events_none(&mut w);
    finish(w)
}

/// `describe endpointslice`.
pub fn endpoint_slice(o: &Value) -> String {
    let mut w = W(String::new());
    meta_header(&mut w, o, true);
    w.w(0, &format!("AddressType:\t{}\n", s(o, "/addressType")));
    let ports = arr(o, "/ports");
    if ports.is_empty() {
        w.w(0, "Ports: <unset>\n");
    } else {
        w.w(0, "Ports:\n");
        w.w(1, "Name\tPort\tProtocol\n");
        w.w(1, "----\t----\t--------\n");
        for p in ports {
            let name = match s(p, "/name") {
                "" => "<unset>",
                n => n,
            };
            let port = match num(p, "/port") {
                x if x.is_empty() => "<unset>".to_string(),
                x => x,
            };
            w.w(1, &format!("{name}\t{port}\t{}\n", s(p, "/protocol")));
        }
    }
    w.w(0, "Endpoints:\n");
    let eps = arr(o, "/endpoints");
    if eps.is_empty() {
        w.w(1, "<unset>\n");
    }
    let unset = |x: &str| {
        if x.is_empty() {
            "<unset>".to_string()
        } else {
            x.to_string()
        }
    };
    for e in eps {
        let a: Vec<&str> = arr(e, "/addresses")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        w.w(
            1,
            &format!(
                "- Addresses:\t{}\n",
                if a.is_empty() {
                    "<none>".into()
                } else {
                    a.join(",")
                }
            ),
        );
        w.w(2, "Conditions:\n");
        let ready = match e.pointer("/conditions/ready").and_then(Value::as_bool) {
            Some(b) => b.to_string(),
            None => "<unset>".into(),
        };
        w.w(3, &format!("Ready:\t{ready}\n"));
        w.w(2, &format!("Hostname:\t{}\n", unset(s(e, "/hostname"))));
        if e.get("targetRef").is_some() {
            w.w(
                2,
                &format!(
                    "TargetRef:\t{}/{}\n",
                    s(e, "/targetRef/kind"),
                    s(e, "/targetRef/name")
                ),
            );
        }
        w.w(2, &format!("NodeName:\t{}\n", unset(s(e, "/nodeName"))));
        w.w(2, &format!("Zone:\t{}\n", unset(s(e, "/zone"))));
    }
    events_none(&mut w);
    finish(w)
}

fn container_ports(ports: &[Value], host: bool) -> String {
    ports
        .iter()
        .map(|p| {
            let proto = match s(p, "/protocol") {
                "" => "TCP",
                x => x,
            };
            let n = if host {
                p.get("hostPort")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .to_string()
            } else {
                num(p, "/containerPort")
            };
            format!("{n}/{proto}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_container(w: &mut W, c: &Value, status: Option<&Value>) {
    if let Some(st) = status {
        w.w(2, &format!("Container ID:\t{}\n", s(st, "/containerID")));
    }
    w.w(2, &format!("Image:\t{}\n", s(c, "/image")));
    if let Some(st) = status {
        w.w(2, &format!("Image ID:\t{}\n", s(st, "/imageID")));
    }
    let ports = arr(c, "/ports");
    let p = container_ports(ports, false);
    if p.contains(',') {
        w.w(2, &format!("Ports:\t{p}\n"));
    } else {
        w.w(
            2,
            &format!("Port:\t{}\n", if p.is_empty() { "<none>" } else { &p }),
        );
    }
    let hp = container_ports(ports, true);
    if hp.contains(',') {
        w.w(2, &format!("Host Ports:\t{hp}\n"));
    } else {
        w.w(
            2,
            &format!(
                "Host Port:\t{}\n",
                if hp.is_empty() { "<none>" } else { &hp }
            ),
        );
    }
    for (title, key) in [("Command", "/command"), ("Args", "/args")] {
        let items = arr(c, key);
        if !items.is_empty() {
            w.w(2, &format!("{title}:\n"));
            for it in items {
                w.w(3, &format!("{}\n", it.as_str().unwrap_or("")));
            }
        }
    }
    if let Some(st) = status {
        state(w, "State", st.get("state"));
        if st
            .get("lastState")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            state(w, "Last State", st.get("lastState"));
        }
        let ready = st.get("ready").and_then(Value::as_bool).unwrap_or(false);
        w.w(
            2,
            &format!("Ready:\t{}\n", if ready { "True" } else { "False" }),
        );
        w.w(
            2,
            &format!(
                "Restart Count:\t{}\n",
                st.get("restartCount").and_then(Value::as_i64).unwrap_or(0)
            ),
        );
    }
    for (title, key) in [
        ("Liveness", "/livenessProbe"),
        ("Readiness", "/readinessProbe"),
    ] {
        if let Some(p) = c.pointer(key).filter(|p| p.is_object()) {
            w.w(2, &format!("{title}:\t{}\n", describe_probe(p)));
        }
    }
    let env = arr(c, "/env");
    if env.is_empty() {
        w.w(2, "Environment:\t<none>\n");
    } else {
        w.w(2, "Environment:\n");
        for e in env {
            w.w(3, &format!("{}:\t{}\n", s(e, "/name"), s(e, "/value")));
        }
    }
    w.w(2, "Mounts:\t<none>\n");
}

fn state(w: &mut W, title: &str, st: Option<&Value>) {
    let Some(st) = st else {
        w.w(2, &format!("{title}:\tWaiting\n"));
        return;
    };
    if let Some(r) = st.get("running") {
        w.w(2, &format!("{title}:\tRunning\n"));
        w.w(3, &format!("Started:\t{}\n", rfc1123z(s(r, "/startedAt"))));
    } else if let Some(wt) = st.get("waiting") {
        w.w(2, &format!("{title}:\tWaiting\n"));
        if !s(wt, "/reason").is_empty() {
            w.w(3, &format!("Reason:\t{}\n", s(wt, "/reason")));
        }
    } else if let Some(t) = st.get("terminated") {
        w.w(2, &format!("{title}:\tTerminated\n"));
        if !s(t, "/reason").is_empty() {
            w.w(3, &format!("Reason:\t{}\n", s(t, "/reason")));
        }
        w.w(
            3,
            &format!(
                "Exit Code:\t{}\n",
                t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
            ),
        );
        w.w(3, &format!("Started:\t{}\n", rfc1123z(s(t, "/startedAt"))));
        w.w(
            3,
            &format!("Finished:\t{}\n", rfc1123z(s(t, "/finishedAt"))),
        );
    } else {
        w.w(2, &format!("{title}:\tWaiting\n"));
    }
}

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
    labels_multiline(&mut w, "", "Labels", o.pointer("/metadata/labels"));
    annotations_multiline(
        &mut w,
        "",
        "Annotations",
        o.pointer("/metadata/annotations"),
    );
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

fn container_image_is_coredns(image: &str) -> bool {
    image.rsplit('/').next().is_some_and(|base| {
        base == "coredns" || base.starts_with("coredns:") || base.starts_with("coredns@")
    })
}

/// `describe node`.
pub fn node(o: &Value, pods: &[Value], now: OffsetDateTime) -> String {
    let mut w = W(String::new());
    w.w(0, &format!("Name:\t{}\n", s(o, "/metadata/name")));
    let roles = node_roles(o);
    w.w(
        0,
        &format!(
            "Roles:\t{}\n",
            if roles.is_empty() {
                "<none>".into()
            } else {
                roles.join(",")
            }
        ),
    );
    labels_multiline(&mut w, "", "Labels", o.pointer("/metadata/labels"));
    annotations_multiline(
        &mut w,
        "",
        "Annotations",
        o.pointer("/metadata/annotations"),
    );
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
    let cidrs: Vec<&str> = arr(o, "/spec/podCIDRs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
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

fn policy_types(spec: &Value) -> (bool, bool, Vec<String>) {
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

fn peers(w: &mut W, rules: &[Value], ingress: bool) {
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
    w.w(0, &format!("Name:\t{}\n", s(o, "/metadata/name")));
    w.w(0, &format!("Namespace:\t{}\n", s(o, "/metadata/namespace")));
    w.w(
        0,
        &format!(
            "Created on:\t{}\n",
            go_time_string(s(o, "/metadata/creationTimestamp"))
        ),
    );
    labels_multiline(&mut w, "", "Labels", o.pointer("/metadata/labels"));
    annotations_multiline(
        &mut w,
        "",
        "Annotations",
        o.pointer("/metadata/annotations"),
    );
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

/// `describe deployment`.
pub fn deployment(o: &Value) -> String {
    let mut w = W(String::new());
    w.w(0, &format!("Name:\t{}\n", s(o, "/metadata/name")));
    w.w(0, &format!("Namespace:\t{}\n", s(o, "/metadata/namespace")));
    w.w(
        0,
        &format!(
            "CreationTimestamp:\t{}\n",
            rfc1123z(s(o, "/metadata/creationTimestamp"))
        ),
    );
    labels_multiline(&mut w, "", "Labels", o.pointer("/metadata/labels"));
    annotations_multiline(
        &mut w,
        "",
        "Annotations",
        o.pointer("/metadata/annotations"),
    );
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

/// Property tests: describe prints objects a learner wrote (status and spec
/// fields of any shape reach it through the lab API). Any object prints, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{config, json_value, near_valid_object, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/kubectl_describe.txt";

    /// An object of `kind` whose fields are anything.
    fn object() -> impl Strategy<Value = Value> {
        let kind = prop::sample::select(vec![
            "Service",
            "Pod",
            "Endpoints",
            "EndpointSlice",
            "Node",
            "NetworkPolicy",
            "Deployment",
            "Namespace",
            "Other",
        ]);
        prop_oneof![
            near_valid_object(),
            (kind, json_value(), json_value(), json_value()).prop_map(|(k, m, spec, status)| {
                serde_json::json!({"kind": k, "metadata": m, "spec": spec, "status": status,
                    "subsets": spec, "endpoints": status, "ports": m})
            }),
        ]
    }

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_object_describes_and_prints(o in object(), other in object()) {
            let related = Related {
                endpoint_slices: vec![other.clone()],
                node_pods: vec![other],
            };
            let now = OffsetDateTime::now_utc();
            let _ = describe(&o, &related, now);
            let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
            for wide in [false, true] {
                let _ = super::super::printers::row(kind, &o, wide, now);
            }
            let _ = super::super::output::go_yaml(&o);
            let _ = super::super::output::go_json_indent(&o);
            let _ = super::super::output::go_sprint(&o);
        }
    }

    // Regression tests: every object a property above ever failed on, by name.
}
