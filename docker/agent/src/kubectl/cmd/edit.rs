//! `kubectl edit`: the object in `$EDITOR`, sent back as a replace.

use super::common::obj_label;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::ctx::R;
use crate::kubectl::manifest;
use crate::kubectl::output;
use crate::kubectl::target::ns_for;
use crate::kubectl::target::one_target;

pub(crate) const EDIT_HEADER: &str = "\
# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. If an error occurs while saving this file will be
# reopened with the relevant failures.
#
";

/// `kubectl edit TYPE NAME`: the object as YAML in `$KUBE_EDITOR`/`$EDITOR` (default `vi`),
/// then a PUT of the edited object. On a server error the file is kept and its path printed.
pub(crate) fn edit(ctx: &mut Ctx, a: &Args) -> R {
    let (r, name, _) = one_target("edit", &a.pos[1..])?;
    let ns = ns_for(ctx, r, false).map(String::from);
    let mut original = ctx.client.get(r, ns.as_deref(), &name)?;
    // Hidden as kubectl hides them; a PUT without them keeps the server's.
    if let Some(m) = original
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    {
        m.remove("managedFields");
    }
    let path =
        std::env::temp_dir().join(format!("kubectl-edit-{}-{}.yaml", std::process::id(), name));
    std::fs::write(
        &path,
        format!("{EDIT_HEADER}{}", output::go_yaml(&original)),
    )
    .map_err(|e| Fail::Msg(format!("writing {}: {e}", path.display())))?;
    let editor = std::env::var("KUBE_EDITOR")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .map_err(|e| Fail::Msg(format!("unable to launch the editor \"{editor}\": {e}")))?;
    if !status.success() {
        return Err(Fail::Msg(format!(
            "there was a problem with the editor \"{editor}\""
        )));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Fail::Msg(format!("reading {}: {e}", path.display())))?;
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let label = obj_label(r, &name);
    if body.trim().is_empty() {
        let _ = std::fs::remove_file(&path);
        let _ = writeln!(ctx.out, "Edit cancelled, no changes made.");
        return Ok(());
    }
    let docs = manifest::parse(&path.display().to_string(), &body).map_err(Fail::Msg)?;
    let Some(doc) = docs.into_iter().next() else {
        let _ = writeln!(ctx.out, "Edit cancelled, no changes made.");
        return Ok(());
    };
    if doc.object == original {
        let _ = std::fs::remove_file(&path);
        let _ = writeln!(ctx.out, "Edit cancelled, no changes made.");
        return Ok(());
    }
    match ctx.client.replace(r, ns.as_deref(), &name, &doc.object) {
        Ok(_) => {
            let _ = std::fs::remove_file(&path);
            let _ = writeln!(ctx.out, "{label} edited");
            Ok(())
        }
        Err(e) if e.status().is_some() => Err(Fail::Raw(format!(
            "error: {label} could not be saved: {}\nA copy of your changes has been stored to \"{}\"",
            crate::kubectl::ctx::client_error_text(&e),
            path.display()
        ))),
        Err(e) => Err(e.into()),
    }
}
