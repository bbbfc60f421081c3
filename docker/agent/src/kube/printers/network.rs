//! Services, Endpoints, EndpointSlices and NetworkPolicies.

use serde_json::Value;

use super::common::{arr, col, format_labels, i, s, text, wide, Column, AGE, NAME};

pub(crate) const SERVICE: &[Column] = &[
    NAME,
    col("Type", "string", "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types"),
    col("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"),
    col("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    col("Port(s)", "string", "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"),
    AGE,
    wide("Selector", "string", "Route service traffic to pods with label keys and values matching this selector. More info: https://kubernetes.io/docs/concepts/services-networking/service/"),
];

pub(crate) const ENDPOINTS: &[Column] = &[
    NAME,
    col("Endpoints", "string", "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share."),
    AGE,
];

pub(crate) const ENDPOINT_SLICE: &[Column] = &[
    NAME,
    col("AddressType", "string", "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type."),
    col("Ports", "string", "ports specifies the list of network ports exposed by each endpoint in this slice."),
    col("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."),
    AGE,
];

pub(crate) const NETWORK_POLICY: &[Column] = &[
    NAME,
    col(
        "Pod-Selector",
        "string",
        "podSelector selects the pods to which this NetworkPolicy object applies.",
    ),
    AGE,
];

/// `printService` (as the server computes it: wide, so LoadBalancer addresses are not clipped).
pub(crate) fn service(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let cluster_ip = arr(o, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .or_else(|| o.pointer("/spec/clusterIP").and_then(Value::as_str))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    let ports = service_ports(o);
    vec![
        name,
        text(s(o, "/spec/type")),
        text(cluster_ip),
        Value::String(service_external_ip(o)),
        Value::String(if ports.is_empty() {
            "<none>".into()
        } else {
            ports
        }),
        age,
        Value::String(format_labels(o.pointer("/spec/selector"))),
    ]
}

/// `getServiceExternalIP`.
fn service_external_ip(o: &Value) -> String {
    let ext: Vec<&str> = arr(o, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match s(o, "/spec/type") {
        "ClusterIP" | "NodePort" => {
            if ext.is_empty() {
                "<none>".into()
            } else {
                ext.join(",")
            }
        }
        "LoadBalancer" => {
            let lb: std::collections::BTreeSet<&str> = arr(o, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| match s(i, "/ip") {
                    "" => s(i, "/hostname"),
                    ip => ip,
                })
                .filter(|x| !x.is_empty())
                .collect();
            let mut all: Vec<&str> = lb.into_iter().collect();
            all.extend(ext);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => s(o, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

/// `makePortString`: `80/TCP`, `80:30080/TCP`.
fn service_ports(o: &Value) -> String {
    arr(o, "/spec/ports")
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
        .collect::<Vec<_>>()
        .join(",")
}

fn join_host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The ENDPOINTS cell of `kubectl get endpoints` (`formatEndpoints`): at most three
/// `ip:port`, then `+ N more...`; `<none>` without subsets.
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
                    break;
                }
                list.push(s(a, "/ip").to_string());
            }
            continue;
        }
        for p in ports {
            count += addrs.len();
            for a in addrs {
                if list.len() == max {
                    more = true;
                    break;
                }
                list.push(join_host_port(s(a, "/ip"), i(p, "/port")));
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

/// `printEndpointSlice`.
pub(crate) fn endpoint_slice(o: &Value, name: Value, age: Value) -> Vec<Value> {
    let max = 3;
    let (mut ports, mut more, mut count) = (Vec::new(), false, 0);
    for p in arr(o, "/ports") {
        if ports.len() < max {
            ports.push(match p.get("port").and_then(Value::as_i64) {
                Some(n) => n.to_string(),
                None => match p.get("name").and_then(Value::as_str) {
                    Some(n) => n.to_string(),
                    None => "*".into(),
                },
            });
        } else if ports.len() == max {
            more = true;
        }
        count += 1;
    }
    let ports = list_with_more(ports, more, count, max);
    let (mut eps, mut more, mut count) = (Vec::new(), false, 0);
    for e in arr(o, "/endpoints") {
        for a in arr(e, "/addresses") {
            if eps.len() < max {
                eps.push(a.as_str().unwrap_or("").to_string());
            } else if eps.len() == max {
                more = true;
            }
            count += 1;
        }
    }
    let eps = list_with_more(eps, more, count, max);
    vec![
        name,
        text(s(o, "/addressType")),
        Value::String(ports),
        Value::String(eps),
        age,
    ]
}
