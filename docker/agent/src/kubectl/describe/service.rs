//! `describe service`, `describe endpoints` and `describe endpointslice`.

use serde_json::Value;

use super::writer::arr;
use super::writer::comma_or_none;
use super::writer::events_none;
use super::writer::finish;
use super::writer::meta_header;
use super::writer::num;
use super::writer::s;
use super::writer::strs;
use super::writer::W;
use crate::kubectl::printers::format_labels;

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
    let fams = comma_or_none(&strs(o, "/spec/ipFamilies"));
    w.w(0, &format!("IP Families:\t{fams}\n"));
    w.w(0, &format!("IP:\t{}\n", s(o, "/spec/clusterIP")));
    let ips = comma_or_none(&strs(o, "/spec/clusterIPs"));
    w.w(0, &format!("IPs:\t{ips}\n"));
    let ext = strs(o, "/spec/externalIPs");
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
    let ranges = strs(o, "/spec/loadBalancerSourceRanges");
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
pub(crate) fn format_endpoint_slices(slices: &[Value], port_name: &str) -> String {
    if slices.is_empty() {
        return "<none>".into();
    }
    let (max, mut list, mut more, mut count) = (3usize, Vec::<String>::new(), false, 0usize);
    for sl in slices {
        let ports = arr(sl, "/ports");
        let eps = arr(sl, "/endpoints");
        let ready =
            |e: &Value| e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false);
        // The ready endpoints of this slice, as `ip` (a slice without ports) or `ip:port`.
        let mut add_ready = |port: Option<String>| {
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
                    list.push(match &port {
                        None => ip.to_string(),
                        Some(port) if ip.contains(':') => format!("[{ip}]:{port}"),
                        Some(port) => format!("{ip}:{port}"),
                    });
                }
            }
        };
        if ports.is_empty() {
            add_ready(None);
        } else {
            for p in ports.iter().filter(|p| s(p, "/name") == port_name) {
                add_ready(Some(num(p, "/port")));
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
            ports_table(&mut w, 1, ports, "");
        }
        w.w(0, "\n");
    }
    events_none(&mut w);
    finish(w)
}

/// A `Ports:` table at `level`: an unnamed port shows as `<unset>`, a missing number as
/// `empty_port`.
fn ports_table(w: &mut W, level: usize, ports: &[Value], empty_port: &str) {
    w.w(level, "Ports:\n");
    w.w(level + 1, "Name\tPort\tProtocol\n");
    w.w(level + 1, "----\t----\t--------\n");
    for p in ports {
        let name = match s(p, "/name") {
            "" => "<unset>",
            n => n,
        };
        let port = match num(p, "/port") {
            x if x.is_empty() => empty_port.to_string(),
            x => x,
        };
        w.w(
            level + 1,
            &format!("{name}\t{port}\t{}\n", s(p, "/protocol")),
        );
    }
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
        ports_table(&mut w, 0, ports, "<unset>");
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
        let addresses = comma_or_none(&strs(e, "/addresses"));
        w.w(1, &format!("- Addresses:\t{addresses}\n"));
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
