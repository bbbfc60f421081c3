//! `kubectl create` (from files, `deployment`, `namespace`).

use crate::kube::client::KubeObject;
use serde_json::json;
use serde_json::Value;

use super::common::dry_run_mode;
use super::common::dry_suffix;
use super::common::finish_errors;
use super::common::obj_label;
use super::common::wrap_when;
use crate::kube::client::Resource;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::format::explicit_format;
use crate::kubectl::format::print_generic;
use crate::kubectl::format::Format;
use crate::kubectl::target::load_docs;
use crate::kubectl::target::resolve_type;

pub(crate) fn create(ctx: &mut Ctx, a: &Args) -> R {
    match a.pos.get(1).map(String::as_str) {
        Some("deployment") | Some("deploy") => return create_deployment(ctx, a),
        Some("namespace") | Some("ns") => return create_namespace(ctx, a),
        Some(other) if !a.has("filename") => {
            return Err(Fail::Raw(format!(
                "error: unknown command \"{other}\" for \"kubectl create\"\nkplab supports: kubectl create -f FILE | deployment NAME --image=IMAGE | namespace NAME"
            )))
        }
        _ => {}
    }
    let dry = dry_run_mode(a)?;
    let fmt = explicit_format(a)?;
    let docs = load_docs(ctx, a, "create")?;
    let mut errors = Vec::new();
    for (doc, r, ns) in docs {
        let label = obj_label(r, doc.object.name());
        let res = if dry == Some("client") {
            Ok(doc.object.clone())
        } else {
            ctx.client.create(r, ns.as_deref(), &doc.object)
        };
        match res {
            Ok(v) => emit_created(ctx, &fmt, v, &label, dry)?,
            Err(e) if e.is_connect() => return Err(e.into()),
            Err(e) => errors.push(Fail::Raw(wrap_when(&e, "creating", &doc.source))),
        }
    }
    finish_errors(ctx, errors)
}

pub(crate) fn emit_created(
    ctx: &mut Ctx,
    fmt: &Option<Format>,
    v: Value,
    label: &str,
    dry: Option<&str>,
) -> R {
    match fmt {
        Some(f) => print_generic(ctx, f, vec![v], true),
        None => {
            let _ = writeln!(ctx.out, "{label} created{}", dry_suffix(dry));
            Ok(())
        }
    }
}

/// The container name kubectl derives from an image (`registry/x/nginx:1.27` → `nginx`).
pub fn container_name_from_image(image: &str) -> String {
    let base = image.rsplit('/').next().unwrap_or(image);
    let base = base.split(':').next().unwrap_or(base);
    let base = base.split('@').next().unwrap_or(base);
    base.replace('_', "-")
}

pub(crate) fn send_new(ctx: &mut Ctx, a: &Args, r: &Resource, obj: Value) -> R {
    let dry = dry_run_mode(a)?;
    let fmt = explicit_format(a)?;
    let label = obj_label(r, obj.name());
    let v = if dry == Some("client") {
        obj
    } else {
        let ns = if r.namespaced {
            Some(ctx.namespace.clone())
        } else {
            None
        };
        ctx.client.create(r, ns.as_deref(), &obj)?
    };
    emit_created(ctx, &fmt, v, &label, dry)
}

pub(crate) fn create_deployment(ctx: &mut Ctx, a: &Args) -> R {
    let Some(name) = a.pos.get(2) else {
        return Err(Fail::Usage(
            "create deployment".into(),
            "exactly one NAME is required, got 0".into(),
        ));
    };
    let images = a.all("image");
    if images.is_empty() {
        return Err(Fail::Raw(
            "error: required flag(s) \"image\" not set".into(),
        ));
    }
    let replicas: i64 = match a.get("replicas") {
        Some(r) => r.parse().map_err(|_| Fail::Msg(format!("invalid argument \"{r}\" for \"--replicas\" flag: strconv.ParseInt: parsing \"{r}\": invalid syntax")))?,
        None => 1,
    };
    let mut containers = Vec::new();
    for img in &images {
        let mut c = json!({"image": img, "name": container_name_from_image(img)});
        if let Some(p) = a.get("port") {
            let port: i64 = p.parse().map_err(|_| Fail::Msg(format!("invalid argument \"{p}\" for \"--port\" flag: strconv.ParseInt: parsing \"{p}\": invalid syntax")))?;
            c["ports"] = json!([{"containerPort": port}]);
        }
        c["resources"] = json!({});
        containers.push(c);
    }
    let mut metadata = json!({"creationTimestamp": null, "labels": {"app": name}, "name": name});
    if ctx.namespace_explicit {
        metadata["namespace"] = json!(ctx.namespace);
    }
    let obj = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": name}},
                "spec": {"containers": containers}
            }
        },
        "status": {}
    });
    let r = resolve_type("deployments")?;
    send_new(ctx, a, r, obj)
}

pub(crate) fn create_namespace(ctx: &mut Ctx, a: &Args) -> R {
    let Some(name) = a.pos.get(2) else {
        return Err(Fail::Usage(
            "create namespace".into(),
            "exactly one NAME is required, got 0".into(),
        ));
    };
    let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"creationTimestamp": null, "name": name}, "spec": {}, "status": {}});
    let r = resolve_type("namespaces")?;
    send_new(ctx, a, r, obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_from_images() {
        assert_eq!(container_name_from_image("nginx"), "nginx");
        assert_eq!(
            container_name_from_image("registry.k8s.io/coredns/coredns:v1.11.3"),
            "coredns"
        );
        assert_eq!(container_name_from_image("my_app@sha256:abc"), "my-app");
        assert_eq!(container_name_from_image("localhost:5000/web:1"), "web");
    }
}
