//! Service allocation: ClusterIPs from the Service range, NodePorts from the NodePort range,
//! and the fields a type change drops.

use rand::Rng;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::json;
use serde_json::Value;

use crate::apiserver::store::Store;
use crate::apiserver::validation::FieldError;
use crate::kube::client::SERVICES;
use crate::kube::contract::{NODE_PORT_RANGE, SERVICE_CIDR_BASE, SERVICE_CIDR_SIZE};

pub(crate) fn ip_offset(ip: Ipv4Addr) -> Option<u32> {
    let n = u32::from(ip);
    (n & !(SERVICE_CIDR_SIZE - 1) == SERVICE_CIDR_BASE).then(|| n - SERVICE_CIDR_BASE)
}

pub(crate) fn services_except<'a>(
    st: &'a Store,
    key: &(String, String),
) -> impl Iterator<Item = &'a Value> + 'a {
    let key = key.clone();
    st.list(&SERVICES, None)
        .into_iter()
        .filter(move |s| crate::apiserver::store::key_of(s) != key)
}

pub(crate) fn used_cluster_ips(st: &Store, key: &(String, String)) -> BTreeSet<u32> {
    services_except(st, key)
        .filter_map(|s| s.pointer("/spec/clusterIP").and_then(Value::as_str))
        .filter_map(|ip| ip.parse::<Ipv4Addr>().ok())
        .map(u32::from)
        .collect()
}

pub(crate) fn used_node_ports(st: &Store, key: &(String, String)) -> BTreeSet<i64> {
    let mut set = BTreeSet::new();
    for s in services_except(st, key) {
        if let Some(ports) = s.pointer("/spec/ports").and_then(Value::as_array) {
            set.extend(
                ports
                    .iter()
                    .filter_map(|p| p.get("nodePort").and_then(Value::as_i64)),
            );
        }
        if let Some(h) = s
            .pointer("/spec/healthCheckNodePort")
            .and_then(Value::as_i64)
        {
            set.insert(h);
        }
    }
    set
}

pub(crate) fn pick_node_port(used: &BTreeSet<i64>) -> Option<i64> {
    // Like the real allocator: dynamic allocations prefer the range above the static band.
    let lo = *NODE_PORT_RANGE.start() as i64;
    let hi = *NODE_PORT_RANGE.end() as i64;
    let band = ((hi - lo + 1) / 16).clamp(16, 128);
    let mut rng = rand::thread_rng();
    for _ in 0..64 {
        let p = rng.gen_range(lo + band..=hi);
        if !used.contains(&p) {
            return Some(p);
        }
    }
    (lo + band..=hi)
        .chain(lo..lo + band)
        .find(|p| !used.contains(p))
}

pub(crate) fn drop_type_dependent_fields(old: &Value, new: &mut Value) {
    let ty = new
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    let external = ty == "NodePort" || ty == "LoadBalancer";
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if !external {
        if spec.get("externalTrafficPolicy") == old.pointer("/spec/externalTrafficPolicy") {
            spec.remove("externalTrafficPolicy");
        }
        let old_ports: BTreeSet<i64> = old
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                if p.get("nodePort")
                    .and_then(Value::as_i64)
                    .is_some_and(|n| old_ports.contains(&n))
                {
                    p.remove("nodePort");
                }
            }
        }
    }
    let local_lb = ty == "LoadBalancer"
        && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
    if !local_lb && spec.get("healthCheckNodePort") == old.pointer("/spec/healthCheckNodePort") {
        spec.remove("healthCheckNodePort");
    }
    if ty != "LoadBalancer" {
        spec.remove("allocateLoadBalancerNodePorts");
    }
    if ty == "ExternalName" {
        for k in [
            "clusterIP",
            "clusterIPs",
            "ipFamilies",
            "ipFamilyPolicy",
            "internalTrafficPolicy",
            "sessionAffinity",
        ] {
            spec.remove(k);
        }
    }
}

/// Allocates (or checks) the ClusterIP, NodePorts and healthCheckNodePort of a Service being
/// created (`old` = None) or updated.
pub fn allocate_service(
    st: &Store,
    svc: &mut Value,
    old: Option<&Value>,
) -> Result<(), Vec<FieldError>> {
    let key = crate::apiserver::store::key_of(svc);
    let mut errs = Vec::new();
    let ty = svc
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    let spec = svc["spec"].as_object_mut().expect("defaulted spec");
    if ty == "ExternalName" {
        for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            spec.remove(k);
        }
    } else {
        let old_ip = old
            .and_then(|o| o.pointer("/spec/clusterIP"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let requested = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ip = if requested.is_empty() {
            match old_ip {
                Some(o) => o.to_string(),
                None => {
                    let used = used_cluster_ips(st, &key);
                    let mut rng = rand::thread_rng();
                    let mut pick = None;
                    for _ in 0..64 {
                        let off = rng.gen_range(256..SERVICE_CIDR_SIZE - 1);
                        if !used.contains(&(SERVICE_CIDR_BASE + off)) {
                            pick = Some(off);
                            break;
                        }
                    }
                    let pick = pick.or_else(|| {
                        (1..SERVICE_CIDR_SIZE - 1)
                            .find(|o| !used.contains(&(SERVICE_CIDR_BASE + o)))
                    });
                    match pick {
                        Some(off) => Ipv4Addr::from(SERVICE_CIDR_BASE + off).to_string(),
                        None => {
                            errs.push(FieldError::invalid(
                                "spec.clusterIPs",
                                json!([]),
                                "failed to allocate IP: range is full",
                            ));
                            String::new()
                        }
                    }
                }
            }
        } else {
            if let Some(o) = old_ip {
                if o != requested {
                    errs.push(FieldError::invalid(
                        "spec.clusterIPs[0]",
                        json!(format!("[]string{{{requested:?}}}")),
                        "may not change once set",
                    ));
                }
            } else if requested != "None" {
                match requested.parse::<Ipv4Addr>() {
                    Err(_) => errs.push(FieldError::invalid(
                        "spec.clusterIPs[0]",
                        json!(requested),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    )),
                    Ok(a) => match ip_offset(a) {
                        Some(off) if off != 0 && off != SERVICE_CIDR_SIZE - 1 => {
                            if used_cluster_ips(st, &key).contains(&u32::from(a)) {
                                errs.push(FieldError::invalid(
                                    "spec.clusterIPs[0]",
                                    json!(requested),
                                    format!("failed to allocate IP {requested}: provided IP is already allocated"),
                                ));
                            }
                        }
                        _ => errs.push(FieldError::invalid(
                            "spec.clusterIPs[0]",
                            json!(requested),
                            format!("failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is 10.96.0.0/12"),
                        )),
                    },
                }
            }
            requested
        };
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
    }
    let needs_node_ports = ty == "NodePort"
        || (ty == "LoadBalancer"
            && spec
                .get("allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false));
    let mut used = used_node_ports(st, &key);
    let old_ports: Vec<Value> = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let old_node_ports: BTreeSet<i64> = old_ports
        .iter()
        .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
        .collect();
    let mut mine: BTreeSet<(i64, String)> = BTreeSet::new();
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for (i, p) in ports.iter_mut().enumerate() {
            let Some(pm) = p.as_object_mut() else {
                continue;
            };
            if !needs_node_ports {
                if ty == "ClusterIP" || ty == "ExternalName" {
                    pm.remove("nodePort");
                }
                continue;
            }
            let proto = pm
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_string();
            let requested = pm.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
            let np = if requested == 0 {
                let port = pm.get("port").cloned();
                let inherited = old_ports
                    .iter()
                    .find(|op| {
                        op.get("port") == port.as_ref()
                            && op.get("protocol").and_then(Value::as_str).unwrap_or("TCP") == proto
                    })
                    .and_then(|op| op.get("nodePort").and_then(Value::as_i64))
                    .filter(|n| !mine.iter().any(|(m, pr)| m == n && *pr == proto));
                match inherited.or_else(|| pick_node_port(&used)) {
                    Some(n) => n,
                    None => {
                        errs.push(FieldError::invalid(
                            format!("spec.ports[{i}].nodePort"),
                            json!(0),
                            "range is full",
                        ));
                        continue;
                    }
                }
            } else {
                let in_range = u16::try_from(requested).is_ok_and(|p| NODE_PORT_RANGE.contains(&p));
                if !in_range {
                    errs.push(FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        json!(requested),
                        "provided port is not in the valid range. The range of valid ports is 30000-32767",
                    ));
                    continue;
                }
                if mine.contains(&(requested, proto.clone())) {
                    errs.push(FieldError::duplicate(
                        format!("spec.ports[{i}].nodePort"),
                        json!(requested),
                    ));
                    continue;
                }
                if used.contains(&requested) && !old_node_ports.contains(&requested) {
                    errs.push(FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        json!(requested),
                        "provided port is already allocated",
                    ));
                    continue;
                }
                requested
            };
            mine.insert((np, proto));
            used.insert(np);
            pm.insert("nodePort".into(), json!(np));
        }
    }
    let local_lb = ty == "LoadBalancer"
        && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
    if local_lb {
        let requested = spec
            .get("healthCheckNodePort")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let old_h = old
            .and_then(|o| o.pointer("/spec/healthCheckNodePort"))
            .and_then(Value::as_i64);
        let h = if requested != 0 {
            if used.contains(&requested) && old_h != Some(requested) {
                errs.push(FieldError::invalid(
                    "spec.healthCheckNodePort",
                    json!(requested),
                    "provided port is already allocated",
                ));
            }
            Some(requested)
        } else {
            old_h.or_else(|| pick_node_port(&used))
        };
        if let Some(h) = h {
            spec.insert("healthCheckNodePort".into(), json!(h));
        }
    } else {
        spec.remove("healthCheckNodePort");
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}
