//! `kubectl describe`: gathers the related objects the layouts in `kubectl/describe/` show.

use crate::kube::client::KubeObject;
use serde_json::json;
use serde_json::Value;

use super::common::finish_errors;
use super::common::no_resources_found;
use super::common::now;
use crate::kube::client::Resource;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::describe;
use crate::kubectl::format::sort_items;
use crate::kubectl::target::ns_for;
use crate::kubectl::target::targets;

pub(crate) fn related_for(ctx: &Ctx, o: &Value) -> Result<describe::Related, Fail> {
    let mut rel = describe::Related::default();
    match o.get("kind").and_then(Value::as_str) {
        Some("Service") => {
            if let Some(r) = Resource::by_kind("EndpointSlice") {
                let sel = format!("kubernetes.io/service-name={}", o.name());
                rel.endpoint_slices = ctx.client.list(r, o.namespace(), Some(&sel), None)?.items;
            }
        }
        Some("Node") => {
            if let Some(r) = Resource::by_kind("Pod") {
                let fs = format!("spec.nodeName={}", o.name());
                let mut pods: Vec<Value> = ctx
                    .client
                    .list(r, None, None, Some(&fs))?
                    .items
                    .into_iter()
                    .filter(|p| {
                        let ph = p
                            .pointer("/status/phase")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        ph != "Succeeded"
                            && ph != "Failed"
                            && p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(o.name())
                    })
                    .collect();
                sort_items(&mut pods);
                rel.node_pods = pods;
            }
        }
        _ => {}
    }
    Ok(rel)
}

pub(crate) fn describe_cmd(ctx: &mut Ctx, a: &Args) -> R {
    let t = targets("describe", &a.pos[1..]).map_err(|f| match f {
        Fail::Raw(_) => Fail::Msg("You must specify the type of resource to describe. Use \"kubectl api-resources\" for a complete list of supported resources.".into()),
        other => other,
    })?;
    let all_ns = a.bool("all-namespaces");
    let mut objects: Vec<Value> = Vec::new();
    let mut errors = Vec::new();
    for (r, names) in &t.groups {
        let ns = ns_for(ctx, r, all_ns);
        if names.is_empty() {
            let mut items = ctx.client.list(r, ns, a.get("selector"), None)?.items;
            sort_items(&mut items);
            objects.extend(items);
            continue;
        }
        for n in names {
            match ctx.client.get(r, ns, n) {
                Ok(mut o) => {
                    if let Some(m) = o.as_object_mut() {
                        m.entry("kind").or_insert(json!(r.kind));
                    }
                    objects.push(o)
                }
                Err(e) if e.is_not_found() => {
                    // kubectl describe falls back to a name-prefix match.
                    let mut items: Vec<Value> = ctx
                        .client
                        .list(r, ns, None, None)?
                        .items
                        .into_iter()
                        .filter(|o| o.name().starts_with(n.as_str()))
                        .collect();
                    if items.is_empty() {
                        errors.push(Fail::Client(e));
                    } else {
                        sort_items(&mut items);
                        objects.extend(items);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    if objects.is_empty() && errors.is_empty() {
        let in_namespace = t.groups.iter().any(|g| g.0.namespaced) && !all_ns;
        no_resources_found(ctx, in_namespace);
    }
    let n = now();
    for (i, o) in objects.iter().enumerate() {
        let rel = related_for(ctx, o)?;
        let text = describe::describe(o, &rel, n);
        if i > 0 {
            let _ = write!(ctx.out, "\n\n");
        }
        let _ = write!(ctx.out, "{text}");
    }
    finish_errors(ctx, errors)
}
