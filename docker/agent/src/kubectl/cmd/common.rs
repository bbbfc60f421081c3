//! What several commands share: the result type, the namespace a command acts in, dry-run
//! flags, error wording and the singular labels of deleted objects.

use crate::kubectl::ctx::R;
use time::OffsetDateTime;

use crate::kube::client::ClientError;
use crate::kube::client::Resource;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::Fail;
use crate::kubectl::printers::kind_prefix;

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub(crate) fn finish_errors(ctx: &mut Ctx, errors: Vec<Fail>) -> R {
    let n = errors.len();
    for (i, e) in errors.into_iter().enumerate() {
        if i + 1 == n {
            return Err(e);
        }
        let text = match e {
            Fail::Client(c) => crate::kubectl::ctx::client_error_text(&c),
            Fail::Msg(m) => format!("error: {m}"),
            Fail::Raw(m) | Fail::Usage(_, m) => m,
            Fail::Exit(_) => continue,
        };
        let _ = writeln!(ctx.err, "{text}");
    }
    Ok(())
}

/// The `kind.group/name` label kubectl prints in apply/create/delete messages.
/// What `get` and `describe` print when nothing matched: the namespace is named when the
/// listing was of namespaced kinds in one namespace.
pub(crate) fn no_resources_found(ctx: &mut Ctx, in_namespace: bool) {
    if in_namespace {
        let _ = writeln!(
            ctx.err,
            "No resources found in {} namespace.",
            ctx.namespace
        );
    } else {
        let _ = writeln!(ctx.err, "No resources found");
    }
}

pub(crate) fn obj_label(r: &Resource, name: &str) -> String {
    format!("{}/{}", kind_prefix(r), name)
}

pub(crate) fn dry_run_mode(a: &Args) -> Result<Option<&str>, Fail> {
    match a.get("dry-run") {
        None | Some("none") => Ok(None),
        Some("client") => Ok(Some("client")),
        Some("server") => Err(Fail::Msg(
            "kplab's API server does not implement server-side dry run: use --dry-run=client"
                .into(),
        )),
        Some(o) => Err(Fail::Msg(format!(
            "Invalid dry-run value ({o}). Must be \"none\", \"server\", or \"client\"."
        ))),
    }
}

pub(crate) fn dry_suffix(mode: Option<&str>) -> &'static str {
    match mode {
        Some("client") => " (dry run)",
        Some("server") => " (server dry run)",
        _ => "",
    }
}

/// kubectl's `error when creating "FILE": …` wrapping of a server error.
pub(crate) fn wrap_when(e: &ClientError, verb: &str, source: &str) -> String {
    let text = crate::kubectl::ctx::client_error_text(e);
    if text.starts_with("The ") {
        return text;
    }
    match e.status() {
        Some(st) if !st.reason.is_empty() => format!(
            "Error from server ({}): error when {verb} \"{source}\": {}",
            st.reason, st.message
        ),
        _ => text,
    }
}

pub(crate) trait SingularLabel {
    fn singular_label(&self) -> String;
}

impl SingularLabel for Resource {
    /// `pod`, `service`, `deployment.apps`: the word kubectl uses in `… "x" deleted`.
    fn singular_label(&self) -> String {
        kind_prefix(self)
    }
}
