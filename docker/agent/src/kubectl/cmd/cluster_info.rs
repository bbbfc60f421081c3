//! `kubectl cluster-info`.

use serde_json::Value;

use crate::kube::client::Resource;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::R;

pub(crate) fn cluster_info(ctx: &mut Ctx, _a: &Args) -> R {
    let base = ctx.client.base_url().to_string();
    ctx.client.request("GET", "/version", &[], None)?;
    use std::io::IsTerminal;
    let color = std::io::stdout().is_terminal();
    let (g, y, off) = if color {
        ("\x1b[0;32m", "\x1b[0;33m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    let _ = writeln!(
        ctx.out,
        "{g}Kubernetes control plane{off} is running at {y}{base}{off}"
    );
    if let Some(svc) = Resource::resolve("services") {
        if let Ok(dns) = ctx.client.get(svc, Some("kube-system"), "kube-dns") {
            let port_name = dns
                .pointer("/spec/ports/0/name")
                .and_then(Value::as_str)
                .map(|n| format!(":{n}"))
                .unwrap_or_default();
            let _ = writeln!(
                ctx.out,
                "{g}CoreDNS{off} is running at {y}{base}/api/v1/namespaces/kube-system/services/kube-dns{port_name}/proxy{off}"
            );
        }
    }
    let _ = writeln!(
        ctx.out,
        "\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'."
    );
    Ok(())
}
