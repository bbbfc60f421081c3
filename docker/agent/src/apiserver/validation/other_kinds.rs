//! Namespaces, Nodes, Endpoints, EndpointSlices and NetworkPolicies: defaults and validation.

use serde_json::json;
use serde_json::Value;

use super::errors::FieldError;
use super::fields::check_port_range;
use super::fields::check_protocol;
use super::fields::obj_mut;
use super::fields::set_default;
use super::names::port_name;
use super::names::validate_labels;
use super::names::validate_metadata;

/// Namespace defaults: the `kubernetes.io/metadata.name` label, finalizer, phase Active.
pub fn default_namespace(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let meta = obj_mut(obj, "metadata");
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if labels.is_object() {
        labels["kubernetes.io/metadata.name"] = json!(name);
    }
    let spec = obj_mut(obj, "spec");
    set_default(spec, "finalizers", json!(["kubernetes"]));
    let status = obj_mut(obj, "status");
    set_default(status, "phase", json!("Active"));
}

/// Validates a Namespace, Node, Endpoints (metadata only).
pub fn validate_simple(kind: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata(kind, obj, &mut errs);
    errs
}

/// Validates an EndpointSlice.
pub fn validate_endpoint_slice(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("EndpointSlice", obj, &mut errs);
    let ok = ["FQDN", "IPv4", "IPv6"];
    match obj.get("addressType") {
        None => errs.push(FieldError::required("addressType", "")),
        Some(t) if !t.as_str().is_some_and(|s| ok.contains(&s)) => {
            errs.push(FieldError::unsupported("addressType", t.clone(), &ok))
        }
        _ => {}
    }
    if let Some(eps) = obj.get("endpoints").and_then(Value::as_array) {
        for (i, e) in eps.iter().enumerate() {
            match e.get("addresses").and_then(Value::as_array) {
                Some(a) if !a.is_empty() => {}
                _ => errs.push(FieldError::required(
                    format!("endpoints[{i}].addresses"),
                    "must contain at least 1 address",
                )),
            }
        }
    }
    errs
}

/// NetworkPolicy defaults: `policyTypes` (Ingress, plus Egress when egress rules exist) and
/// port protocol TCP.
pub fn default_network_policy(obj: &mut Value) {
    let spec = obj_mut(obj, "spec");
    set_default(spec, "podSelector", json!({}));
    for dir in ["ingress", "egress"] {
        if let Some(rules) = spec.get_mut(dir).and_then(Value::as_array_mut) {
            for r in rules.iter_mut() {
                if let Some(ports) = r.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
    if spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        let mut types = vec![json!("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

pub(crate) fn parse_cidr(s: &str) -> Option<(u32, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((u32::from(ip), len))
}

pub(crate) fn validate_selector_at(v: Option<&Value>, field: &str, errs: &mut Vec<FieldError>) {
    let Some(v) = v else { return };
    validate_labels(v.get("matchLabels"), &format!("{field}.matchLabels"), errs);
    if let Some(exprs) = v.get("matchExpressions").and_then(Value::as_array) {
        for (i, e) in exprs.iter().enumerate() {
            let op = e.get("operator").cloned().unwrap_or(Value::Null);
            let values = e
                .get("values")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let f = format!("{field}.matchExpressions[{i}]");
            match op.as_str() {
                Some("In") | Some("NotIn") if values == 0 => errs.push(FieldError::required(
                    format!("{f}.values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                )),
                Some("Exists") | Some("DoesNotExist") if values > 0 => {
                    errs.push(FieldError::forbidden(
                        format!("{f}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ))
                }
                Some("In") | Some("NotIn") | Some("Exists") | Some("DoesNotExist") => {}
                _ => errs.push(FieldError::invalid(
                    format!("{f}.operator"),
                    op.clone(),
                    "not a valid selector operator",
                )),
            }
        }
    }
}

/// Validates a NetworkPolicy's shape: selectors, ports, ipBlocks, policyTypes.
pub fn validate_network_policy(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata("NetworkPolicy", obj, &mut errs);
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    validate_selector_at(spec.get("podSelector"), "spec.podSelector", &mut errs);
    for (dir, peers_key) in [("ingress", "from"), ("egress", "to")] {
        let Some(rules) = spec.get(dir).and_then(Value::as_array) else {
            continue;
        };
        for (i, r) in rules.iter().enumerate() {
            let rp = format!("spec.{dir}[{i}]");
            if let Some(ports) = r.get("ports").and_then(Value::as_array) {
                for (j, p) in ports.iter().enumerate() {
                    let pp = format!("{rp}.ports[{j}]");
                    check_protocol(&format!("{pp}.protocol"), p.get("protocol"), &mut errs);
                    match p.get("port") {
                        Some(Value::Number(_)) => {
                            check_port_range(&format!("{pp}.port"), &p["port"], &mut errs)
                        }
                        Some(Value::String(s)) => {
                            for e in port_name(s) {
                                errs.push(FieldError::invalid(format!("{pp}.port"), json!(s), e));
                            }
                        }
                        _ => {}
                    }
                    if let Some(end) = p.get("endPort") {
                        match (p.get("port").and_then(Value::as_i64), end.as_i64()) {
                            (None, _) => errs.push(FieldError::required(
                                format!("{pp}.port"),
                                "must be specified when endPort is specified",
                            )),
                            (Some(s), Some(e)) if e < s => errs.push(FieldError::invalid(
                                format!("{pp}.endPort"),
                                end.clone(),
                                "must be greater than or equal to `port`",
                            )),
                            _ => check_port_range(&format!("{pp}.endPort"), end, &mut errs),
                        }
                    }
                }
            }
            if let Some(peers) = r.get(peers_key).and_then(Value::as_array) {
                for (j, peer) in peers.iter().enumerate() {
                    let pp = format!("{rp}.{peers_key}[{j}]");
                    let has_ip = peer.get("ipBlock").is_some();
                    let has_sel = peer.get("podSelector").is_some()
                        || peer.get("namespaceSelector").is_some();
                    if !has_ip && !has_sel {
                        errs.push(FieldError::required(pp.clone(), "must specify a peer"));
                    }
                    if has_ip && has_sel {
                        errs.push(FieldError::forbidden(
                            pp.clone(),
                            "may not specify more than 1 peer type",
                        ));
                    }
                    validate_selector_at(
                        peer.get("podSelector"),
                        &format!("{pp}.podSelector"),
                        &mut errs,
                    );
                    validate_selector_at(
                        peer.get("namespaceSelector"),
                        &format!("{pp}.namespaceSelector"),
                        &mut errs,
                    );
                    if let Some(b) = peer.get("ipBlock") {
                        let cidr = b.get("cidr").and_then(Value::as_str).unwrap_or("");
                        let bf = format!("{pp}.ipBlock");
                        match parse_cidr(cidr) {
                            None if cidr.is_empty() => {
                                errs.push(FieldError::required(format!("{bf}.cidr"), ""))
                            }
                            None => errs.push(FieldError::invalid(
                                format!("{bf}.cidr"),
                                json!(cidr),
                                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                            )),
                            Some((net, len)) => {
                                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                                for (k, ex) in b
                                    .get("except")
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .unwrap_or_default()
                                    .iter()
                                    .enumerate()
                                {
                                    let s = ex.as_str().unwrap_or("");
                                    match parse_cidr(s) {
                                        None => errs.push(FieldError::invalid(
                                            format!("{bf}.except[{k}]"),
                                            ex.clone(),
                                            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                                        )),
                                        Some((en, el)) => {
                                            if el <= len || (en & mask) != (net & mask) {
                                                errs.push(FieldError::invalid(
                                                    format!("{bf}.except[{k}]"),
                                                    ex.clone(),
                                                    "must be a strict subset of `cidr`",
                                                ));
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(types) = spec.get("policyTypes").and_then(Value::as_array) {
        let ok = ["Egress", "Ingress"];
        for (i, t) in types.iter().enumerate() {
            if !t.as_str().is_some_and(|s| ok.contains(&s)) {
                errs.push(FieldError::unsupported(
                    format!("spec.policyTypes[{i}]"),
                    t.clone(),
                    &ok,
                ));
            }
        }
        if types.len() > 2 {
            errs.push(FieldError::invalid(
                "spec.policyTypes",
                Value::Array(types.clone()),
                "may not specify more than two policyTypes",
            ));
        }
    }
    errs
}
