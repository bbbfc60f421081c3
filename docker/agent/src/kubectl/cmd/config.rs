//! `kubectl config` (view, current-context, set-context --current --namespace).

use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::kubeconfig::context_namespace;
use crate::kubectl::kubeconfig::kubeconfig;
use crate::kubectl::kubeconfig::kubeconfig_path;
use crate::kubectl::output;
use crate::kubectl::tabwriter;

pub(crate) fn config(ctx: &mut Ctx, a: &Args) -> R {
    let ns = context_namespace(a.get("kubeconfig"));
    match a.pos.get(1).map(String::as_str) {
        Some("view") => {
            let v = kubeconfig(ctx, ns.as_deref());
            let text = match a.get("output") {
                Some("json") => output::go_json_indent(&v),
                _ => output::go_yaml(&v),
            };
            let _ = write!(ctx.out, "{text}");
            Ok(())
        }
        Some("current-context") => {
            let _ = writeln!(ctx.out, "kplab-admin@kplab");
            Ok(())
        }
        Some("get-contexts") => {
            let text = format!(
                "CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE\n*\tkplab-admin@kplab\tkplab\tkplab-admin\t{}\n",
                ns.unwrap_or_default()
            );
            let _ = write!(ctx.out, "{}", tabwriter::TABLE.format(&text));
            Ok(())
        }
        Some("set-context") => {
            let current = a.bool("current") || a.pos.get(2).map(String::as_str) == Some("kplab-admin@kplab");
            if !current {
                return Err(Fail::Msg("kplab has one context: use kubectl config set-context --current --namespace=NS".into()));
            }
            let ns = a.get("namespace").map(String::from).or(ns);
            let path = kubeconfig_path(a.get("kubeconfig")).ok_or_else(|| Fail::Msg("cannot find a kubeconfig path: HOME is not set".into()))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Fail::Msg(format!("creating {}: {e}", dir.display())))?;
            }
            let v = kubeconfig(ctx, ns.as_deref());
            std::fs::write(&path, output::go_yaml(&v)).map_err(|e| Fail::Msg(format!("writing {}: {e}", path.display())))?;
            let _ = writeln!(ctx.out, "Context \"kplab-admin@kplab\" modified.");
            Ok(())
        }
        Some(other) => Err(Fail::Raw(format!("error: unknown command \"{other}\" for \"kubectl config\"\nkplab supports: view, current-context, get-contexts, set-context --current --namespace=NS"))),
        None => {
            let _ = writeln!(ctx.out, "Modify kubeconfig files.\n\nAvailable Commands:\n  current-context   Display the current-context\n  get-contexts      Describe one or many contexts\n  set-context       Set a context entry in kubeconfig (--current --namespace=NS)\n  view              Display merged kubeconfig settings");
            Ok(())
        }
    }
}
