//! `kubectl run`, attached (`-i --rm`) or not.

use serde_json::json;
use serde_json::Value;

use super::common::dry_run_mode;
use super::create::send_new;
use crate::kube::client::Resource;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::target::resolve_type;

pub(crate) fn run_pod(ctx: &mut Ctx, a: &Args) -> R {
    let Some(name) = a.pos.get(1) else {
        return Err(Fail::Usage("run".into(), "NAME is required for run".into()));
    };
    let Some(image) = a.get("image") else {
        return Err(Fail::Raw(
            "error: required flag(s) \"image\" not set".into(),
        ));
    };
    let mut labels = serde_json::Map::new();
    match a.get("labels") {
        Some(l) => {
            for kv in l.split(',') {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| Fail::Msg(format!("invalid label spec: {kv}")))?;
                labels.insert(k.into(), json!(v));
            }
        }
        None => {
            labels.insert("run".into(), json!(name));
        }
    }
    let mut c = json!({"image": image, "name": name});
    let env: Vec<Value> = a
        .all("env")
        .iter()
        .filter_map(|e| {
            e.split_once('=')
                .map(|(k, v)| json!({"name": k, "value": v}))
        })
        .collect();
    if !env.is_empty() {
        c["env"] = json!(env);
    }
    if let Some(p) = a.get("port") {
        let port: i64 = p
            .parse()
            .map_err(|_| Fail::Msg(format!("invalid argument \"{p}\" for \"--port\" flag")))?;
        c["ports"] = json!([{"containerPort": port}]);
    }
    c["resources"] = json!({});
    let restart = a.get("restart").unwrap_or("Always");
    let mut metadata = json!({"creationTimestamp": null, "labels": labels, "name": name});
    if ctx.namespace_explicit {
        metadata["namespace"] = json!(ctx.namespace);
    }
    let obj = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [c], "dnsPolicy": "ClusterFirst", "restartPolicy": restart},
        "status": {}
    });
    let r = resolve_type("pods")?;
    let attach = a.bool("stdin") || a.bool("tty") || a.bool("rm");
    if !attach {
        if let Some(rest) = &a.rest {
            let key = if a.bool("command") { "command" } else { "args" };
            let mut obj = obj;
            obj["spec"]["containers"][0][key] = json!(rest);
            return send_new(ctx, a, r, obj);
        }
        return send_new(ctx, a, r, obj);
    }
    if dry_run_mode(a)?.is_some() {
        return Err(Fail::Msg("--dry-run can't be used with attached containers options (--attach, --stdin, or --tty)".into()));
    }
    run_attached(ctx, a, r, obj, name)
}

/// `kubectl run NAME --image=X [--rm] -it -- CMD`: creates the pod, waits until it runs, runs
/// CMD (default `sh`) in it like `kubectl exec`, and deletes the pod afterwards with `--rm`.
pub(crate) fn run_attached(
    ctx: &mut Ctx,
    a: &Args,
    r: &'static Resource,
    obj: Value,
    name: &str,
) -> R {
    let ns = ctx.namespace.clone();
    ctx.client.create(r, Some(&ns), &obj)?;
    let start = std::time::Instant::now();
    loop {
        let p = ctx.client.get(r, Some(&ns), name)?;
        let phase = p
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        let host = p
            .pointer("/status/hostIP")
            .and_then(Value::as_str)
            .unwrap_or("");
        if phase == "Running" && !host.is_empty() {
            break;
        }
        if start.elapsed() > std::time::Duration::from_secs(120) {
            return Err(Fail::Msg(format!(
                "timed out waiting for the condition on pods/{name}"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let _ = writeln!(ctx.err, "Note (kplab): the image is not run; the command runs in pod {name}'s network namespace on its node, with the node's tools.");
    let _ = writeln!(
        ctx.err,
        "If you don't see a command prompt, try pressing enter."
    );
    let mut exec_args = a.clone();
    exec_args.pos = vec!["exec".into(), name.to_string()];
    exec_args.rest = Some(
        a.rest
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| vec!["sh".into()]),
    );
    let res = crate::kubectl::exec::exec(ctx, &exec_args);
    if a.bool("rm") {
        match ctx.client.delete(r, Some(&ns), name, None) {
            Ok(_) => {
                let _ = writeln!(ctx.out, "pod \"{name}\" deleted");
            }
            Err(e) => {
                let _ = writeln!(ctx.err, "{}", crate::kubectl::ctx::client_error_text(&e));
            }
        }
    }
    res
}
