//! `kubectl expose`: a Service for a deployment, pod or service.

use serde_json::json;
use serde_json::Value;

use super::common::dry_run_mode;
use super::common::dry_suffix;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::format::explicit_format;
use crate::kubectl::format::print_generic;
use crate::kubectl::target::ns_for;
use crate::kubectl::target::one_target;
use crate::kubectl::target::resolve_type;

pub(crate) fn parse_port_value(p: &str) -> Value {
    match p.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(p),
    }
}

pub(crate) fn expose(ctx: &mut Ctx, a: &Args) -> R {
    let (r, name, _) = one_target("expose", &a.pos[1..])?;
    let ns = ns_for(ctx, r, false).map(String::from);
    let obj = ctx.client.get(r, ns.as_deref(), &name)?;
    let (selector, ports): (Value, Vec<Value>) = match r.kind {
        "Deployment" => {
            if obj.pointer("/spec/selector/matchExpressions").and_then(Value::as_array).is_some_and(|x| !x.is_empty()) {
                return Err(Fail::Msg("couldn't retrieve selectors via --selector flag or introspection: the deployment uses matchExpressions, which a Service selector cannot express".into()));
            }
            (
                obj.pointer("/spec/selector/matchLabels").cloned().unwrap_or(json!({})),
                container_ports(obj.pointer("/spec/template/spec/containers")),
            )
        }
        "Pod" => (
            obj.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
            container_ports(obj.pointer("/spec/containers")),
        ),
        "Service" => (
            obj.pointer("/spec/selector").cloned().unwrap_or(json!({})),
            obj.pointer("/spec/ports").and_then(Value::as_array).map(|ps| {
                ps.iter().map(|p| json!({"port": p["port"], "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))})).collect()
            }).unwrap_or_default(),
        ),
        _ => {
            return Err(Fail::Msg(format!(
                "cannot expose a {}",
                r.kind
            )))
        }
    };
    if selector.as_object().is_none_or(|m| m.is_empty()) {
        return Err(Fail::Msg(format!("couldn't retrieve selectors via --selector flag or introspection: the {} has no labels to select", r.singular)));
    }
    let protocol = a.get("protocol");
    let mut svc_ports: Vec<Value> = Vec::new();
    if let Some(p) = a.get("port") {
        let port: i64 = p
            .parse()
            .map_err(|_| Fail::Msg(format!("invalid argument \"{p}\" for \"--port\" flag")))?;
        let proto = protocol
            .map(String::from)
            .or_else(|| {
                ports
                    .first()
                    .and_then(|x| x.get("protocol"))
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or_else(|| "TCP".into());
        let tp = a
            .get("target-port")
            .map(parse_port_value)
            .unwrap_or(json!(port));
        svc_ports.push(json!({"port": port, "protocol": proto, "targetPort": tp}));
    } else {
        if ports.is_empty() {
            return Err(Fail::Msg("couldn't find port via --port flag or introspection\nSee 'kubectl expose -h' for help and examples".into()));
        }
        let many = ports.len() > 1;
        for (i, p) in ports.iter().enumerate() {
            let port = p["port"].clone();
            let proto = protocol.map(String::from).unwrap_or_else(|| {
                p.get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP")
                    .to_string()
            });
            let tp = a
                .get("target-port")
                .map(parse_port_value)
                .unwrap_or(port.clone());
            let mut sp = json!({"port": port, "protocol": proto, "targetPort": tp});
            if many {
                sp["name"] = json!(format!("port-{}", i + 1));
            }
            svc_ports.push(sp);
        }
    }
    let svc_name = a.get("name").unwrap_or(&name).to_string();
    let mut metadata = json!({"creationTimestamp": null, "name": svc_name});
    if let Some(l) = obj
        .pointer("/metadata/labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
    {
        metadata["labels"] = l.clone();
    }
    let mut spec = json!({"ports": svc_ports, "selector": selector});
    if let Some(t) = a.get("type") {
        let ty = match t.to_ascii_lowercase().as_str() {
            "clusterip" => "ClusterIP",
            "nodeport" => "NodePort",
            "loadbalancer" => "LoadBalancer",
            "externalname" => "ExternalName",
            _ => return Err(Fail::Msg(format!("invalid service type \"{t}\": must be ClusterIP, NodePort, LoadBalancer or ExternalName"))),
        };
        spec["type"] = json!(ty);
    }
    if let Some(ip) = a.get("cluster-ip") {
        spec["clusterIP"] = json!(ip);
    }
    if let Some(ip) = a.get("external-ip") {
        spec["externalIPs"] = json!(ip.split(',').collect::<Vec<_>>());
    }
    if let Some(sa) = a.get("session-affinity") {
        spec["sessionAffinity"] = json!(sa);
    }
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec, "status": {"loadBalancer": {}}});
    let svc_res = resolve_type("services")?;
    let dry = dry_run_mode(a)?;
    let fmt = explicit_format(a)?;
    let v = if dry == Some("client") {
        svc
    } else {
        ctx.client.create(svc_res, ns.as_deref(), &svc)?
    };
    match fmt {
        Some(f) => print_generic(ctx, &f, vec![v], true),
        None => {
            let _ = writeln!(ctx.out, "service/{svc_name} exposed{}", dry_suffix(dry));
            Ok(())
        }
    }
}

pub(crate) fn container_ports(containers: Option<&Value>) -> Vec<Value> {
    containers
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .flat_map(|c| c.get("ports").and_then(Value::as_array).cloned().unwrap_or_default())
                .map(|p| json!({"port": p["containerPort"], "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))}))
                .collect()
        })
        .unwrap_or_default()
}
