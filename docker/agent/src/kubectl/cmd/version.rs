//! `kubectl version`.

use serde_json::json;
use serde_json::Value;

use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::R;
use crate::kubectl::output;

pub(crate) fn version(ctx: &mut Ctx, a: &Args) -> R {
    let client_only = a.bool("client");
    let server = if client_only {
        None
    } else {
        Some(ctx.client.request("GET", "/version", &[], None))
    };
    match a.get("output") {
        Some(fmt @ ("json" | "yaml")) => {
            let mut v = json!({"clientVersion": {"major": "1", "minor": crate::kube::contract::KUBERNETES_MINOR, "gitVersion": crate::kubectl::ctx::CLIENT_VERSION, "platform": "linux/amd64"}, "kustomizeVersion": "v5.5.0"});
            if let Some(Ok(s)) = &server {
                v["serverVersion"] = s.clone();
            }
            let text = if fmt == "json" {
                output::go_json_indent(&v)
            } else {
                output::go_yaml(&v)
            };
            let _ = write!(ctx.out, "{text}");
        }
        _ => {
            let _ = writeln!(
                ctx.out,
                "Client Version: {}\nKustomize Version: v5.5.0",
                crate::kubectl::ctx::CLIENT_VERSION
            );
            if let Some(Ok(s)) = &server {
                let _ = writeln!(
                    ctx.out,
                    "Server Version: {}",
                    s.get("gitVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                );
            }
        }
    }
    match server {
        Some(Err(e)) => Err(e.into()),
        _ => Ok(()),
    }
}
