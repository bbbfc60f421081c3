//! `kubectl api-resources`.

use crate::kube::client::Resource;
use crate::kube::client::RESOURCES;
use crate::kubectl::args::Args;
use crate::kubectl::ctx::Ctx;
use crate::kubectl::ctx::R;
use crate::kubectl::tabwriter;

pub(crate) fn api_resources(ctx: &mut Ctx, a: &Args) -> R {
    let mut rows: Vec<&Resource> = RESOURCES.iter().collect();
    rows.sort_by(|x, y| (x.group, x.plural).cmp(&(y.group, y.plural)));
    if let Some(g) = a.get("api-group") {
        rows.retain(|r| r.group == g);
    }
    if let Some(n) = a.get("namespaced") {
        let want = n != "false";
        rows.retain(|r| r.namespaced == want);
    }
    let mut text = String::new();
    if a.get("output") == Some("name") {
        for r in rows {
            let _ = writeln!(ctx.out, "{}", r.qualified_plural());
        }
        return Ok(());
    }
    if !a.bool("no-headers") {
        text.push_str("NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND\n");
    }
    for r in rows {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            r.plural,
            r.short_names.join(","),
            r.api_version(),
            r.namespaced,
            r.kind
        ));
    }
    let _ = write!(ctx.out, "{}", tabwriter::TABLE.format(&text));
    Ok(())
}
