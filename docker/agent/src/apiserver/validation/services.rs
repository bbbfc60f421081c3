//! Services: defaults and validation (ports, types, selectors, ClusterIPs, NodePorts).

use std::collections::BTreeSet;

use serde_json::json;
use serde_json::Value;

use super::errors::FieldError;
use super::fields::check_port_range;
use super::fields::check_protocol;
use super::fields::obj_mut;
use super::fields::port_number;
use super::fields::set_default;
use super::names::dns1123_label;
use super::names::dns1123_subdomain;
use super::names::port_name;
use super::names::validate_labels;
use super::names::validate_metadata;

/// Service types.
pub const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

/// Fills Service defaults that need no allocation: type, sessionAffinity, port protocol and
/// targetPort, traffic policies, ipFamilies. ClusterIPs and NodePorts are allocated by the
/// handler afterwards.
pub fn default_service(obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    set_default(spec, "type", json!("ClusterIP"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if ty != "ExternalName" {
        set_default(spec, "sessionAffinity", json!("None"));
        if spec.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP") {
            let cfg = spec
                .entry("sessionAffinityConfig")
                .or_insert_with(|| json!({}));
            if !cfg.get("clientIP").is_some_and(Value::is_object) {
                cfg["clientIP"] = json!({});
            }
            if let Some(c) = cfg["clientIP"].as_object_mut() {
                set_default(c, "timeoutSeconds", json!(10800));
            }
        }
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
            if p.get("targetPort")
                .is_none_or(|t| t.is_null() || t.as_i64() == Some(0) || t.as_str() == Some(""))
            {
                if let Some(port) = p.get("port").cloned() {
                    p.insert("targetPort".into(), port);
                }
            }
        }
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if ty != "ExternalName" {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
        if let Some(ip) = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            let ip = ip.to_string();
            set_default(spec, "clusterIPs", json!([ip]));
        }
    }
    let status = obj_mut(obj, "status");
    set_default(status, "loadBalancer", json!({}));
}

/// Static Service validation (everything but allocation).
pub fn validate_service(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("Service", obj, &mut errs);
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !SERVICE_TYPES.contains(&ty) {
        errs.push(FieldError::unsupported(
            "spec.type",
            json!(ty),
            SERVICE_TYPES,
        ));
    }
    let cluster_ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
    let headless = cluster_ip == "None";
    let ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ty == "ExternalName" {
        match spec.get("externalName").and_then(Value::as_str) {
            None | Some("") => errs.push(FieldError::required("spec.externalName", "")),
            Some(n) => {
                for e in dns1123_subdomain(n.trim_end_matches('.')) {
                    errs.push(FieldError::invalid("spec.externalName", json!(n), e));
                }
            }
        }
    } else if ports.is_empty() && !headless {
        errs.push(FieldError::required("spec.ports", ""));
    }
    if headless && (ty == "NodePort" || ty == "LoadBalancer") {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            json!("None"),
            format!("may not be set to 'None' for {ty} services"),
        ));
    }
    let mut names = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            if ports.len() > 1 {
                errs.push(FieldError::required(format!("{pp}.name"), ""));
            }
        } else {
            for e in dns1123_label(name) {
                errs.push(FieldError::invalid(format!("{pp}.name"), json!(name), e));
            }
            if !names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), json!(name)));
            }
        }
        match p.get("port") {
            None => errs.push(FieldError::required(format!("{pp}.port"), "")),
            Some(v) => check_port_range(&format!("{pp}.port"), v, &mut errs),
        }
        check_protocol(&format!("{pp}.protocol"), p.get("protocol"), &mut errs);
        match p.get("targetPort") {
            Some(Value::Number(_)) => {
                check_port_range(&format!("{pp}.targetPort"), &p["targetPort"], &mut errs)
            }
            Some(Value::String(s)) => {
                for e in port_name(s) {
                    errs.push(FieldError::invalid(format!("{pp}.targetPort"), json!(s), e));
                }
            }
            _ => {}
        }
        if let Some(np) = p.get("nodePort").filter(|n| n.as_i64() != Some(0)) {
            if ty == "ClusterIP" || ty == "ExternalName" {
                errs.push(FieldError::forbidden(
                    format!("{pp}.nodePort"),
                    format!("may not be used when `type` is '{ty}'"),
                ));
            } else if np.as_i64().is_none() {
                errs.push(FieldError::invalid(
                    format!("{pp}.nodePort"),
                    np.clone(),
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        let key = (
            p.get("port").and_then(port_number),
            p.get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_string(),
        );
        if key.0.is_some() && !seen.insert(key.clone()) {
            errs.push(FieldError::duplicate(
                pp.clone(),
                json!(format!(
                    "core.ServicePort{{Name:{:?}, Protocol:{:?}, Port:{}}}",
                    name,
                    key.1,
                    key.0.unwrap_or(0)
                )),
            ));
        }
    }
    if let Some(sel) = spec.get("selector") {
        validate_labels(Some(sel), "spec.selector", &mut errs);
    }
    if let Some(sa) = spec.get("sessionAffinity") {
        let ok = ["ClientIP", "None"];
        if !sa.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                "spec.sessionAffinity",
                sa.clone(),
                &ok,
            ));
        }
    }
    if let Some(t) = spec.pointer("/sessionAffinityConfig/clientIP/timeoutSeconds") {
        if t.as_i64().is_none_or(|t| t <= 0 || t > 86400) {
            errs.push(FieldError::invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                t.clone(),
                "must be greater than 0 and less than 86400",
            ));
        }
    }
    let external = ty == "NodePort" || ty == "LoadBalancer";
    if let Some(etp) = spec.get("externalTrafficPolicy") {
        let ok = ["Cluster", "Local"];
        if !external {
            if !etp.is_null() && etp.as_str() != Some("") {
                errs.push(FieldError::invalid(
                    "spec.externalTrafficPolicy",
                    etp.clone(),
                    "may only be set for externally-accessible services",
                ));
            }
        } else if !etp.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                "spec.externalTrafficPolicy",
                etp.clone(),
                &ok,
            ));
        }
    }
    if let Some(itp) = spec.get("internalTrafficPolicy") {
        let ok = ["Cluster", "Local"];
        if !itp.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                "spec.internalTrafficPolicy",
                itp.clone(),
                &ok,
            ));
        }
    }
    if let Some(h) = spec
        .get("healthCheckNodePort")
        .filter(|h| h.as_i64() != Some(0))
    {
        let local = ty == "LoadBalancer"
            && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
        if !local {
            errs.push(FieldError::invalid(
                "spec.healthCheckNodePort",
                h.clone(),
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    }
    if let Some(fams) = spec.get("ipFamilies").and_then(Value::as_array) {
        for (i, f) in fams.iter().enumerate() {
            if f.as_str() != Some("IPv4") {
                errs.push(FieldError::unsupported(
                    format!("spec.ipFamilies[{i}]"),
                    f.clone(),
                    &["IPv4"],
                ));
            }
        }
    }
    if let Some(p) = spec.get("ipFamilyPolicy") {
        let ok = ["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !p.as_str().is_some_and(|s| ok.contains(&s)) {
            errs.push(FieldError::unsupported(
                "spec.ipFamilyPolicy",
                p.clone(),
                &ok,
            ));
        } else if p.as_str() == Some("RequireDualStack") {
            errs.push(FieldError::invalid(
                "spec.ipFamilyPolicy",
                p.clone(),
                "this cluster is not configured for dual-stack services",
            ));
        }
    }
    if let Some(ips) = spec.get("externalIPs").and_then(Value::as_array) {
        for (i, ip) in ips.iter().enumerate() {
            if ip
                .as_str()
                .and_then(|s| s.parse::<std::net::Ipv4Addr>().ok())
                .is_none()
            {
                errs.push(FieldError::invalid(
                    format!("spec.externalIPs[{i}]"),
                    ip.clone(),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                ));
            }
        }
    }
    errs
}
