//! The kubeconfig kubectl reads and writes (`~/.kube/config`, or `--kubeconfig`): the current
//! context's namespace.

use serde_json::json;
use serde_json::Value;

use super::ctx::Ctx;

pub(crate) fn kubeconfig_path(flag: Option<&str>) -> Option<std::path::PathBuf> {
    if let Some(f) = flag {
        return Some(f.into());
    }
    if let Ok(k) = std::env::var("KUBECONFIG") {
        if let Some(first) = k.split(':').find(|p| !p.is_empty()) {
            return Some(first.into());
        }
    }
    std::env::var("HOME")
        .ok()
        .map(|h| std::path::Path::new(&h).join(".kube/config"))
}

/// The namespace of the current kubeconfig context (`config set-context --current --namespace`).
pub fn context_namespace(kubeconfig: Option<&str>) -> Option<String> {
    let text = std::fs::read_to_string(kubeconfig_path(kubeconfig)?).ok()?;
    let v: Value = serde_yaml_ng::from_str(&text).ok()?;
    let cur = v.get("current-context")?.as_str()?;
    v.get("contexts")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(cur))?
        .pointer("/context/namespace")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

pub(crate) fn kubeconfig(ctx: &Ctx, namespace: Option<&str>) -> Value {
    let mut context = json!({"cluster": "kplab", "user": "kplab-admin"});
    if let Some(ns) = namespace {
        context["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"server": ctx.client.base_url()}, "name": "kplab"}],
        "contexts": [{"context": context, "name": "kplab-admin@kplab"}],
        "current-context": "kplab-admin@kplab",
        "kind": "Config",
        "preferences": {},
        "users": [{"name": "kplab-admin", "user": {}}]
    })
}
