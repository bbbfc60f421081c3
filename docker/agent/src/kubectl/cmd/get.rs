//! `kubectl get`, with `--watch`.

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
use crate::kubectl::format::parse_format;
use crate::kubectl::format::print_generic;
use crate::kubectl::format::sort_by_template;
use crate::kubectl::format::sort_items;
use crate::kubectl::format::Format;
use crate::kubectl::jsonpath;
use crate::kubectl::printers;
use crate::kubectl::printers::TableOptions;
use crate::kubectl::tabwriter;
use crate::kubectl::target::ns_for;
use crate::kubectl::target::targets;
use crate::kubectl::target::Targets;

pub(crate) fn get(ctx: &mut Ctx, a: &Args) -> R {
    let fmt = parse_format(a)?;
    let t = targets("get", &a.pos[1..])?;
    let all_ns = a.bool("all-namespaces");
    let has_names = t.groups.iter().any(|g| !g.1.is_empty());
    if all_ns && has_names {
        return Err(Fail::Msg(
            "a resource cannot be retrieved by name across all namespaces".into(),
        ));
    }
    let selector = a.get("selector");
    let field = a.get("field-selector");
    let sort_by = a
        .get("sort-by")
        .map(|e| {
            let t = if e.starts_with('{') {
                e.to_string()
            } else {
                format!("{{{e}}}")
            };
            jsonpath::Template::parse(&t)
                .map_err(|err| Fail::Msg(format!("couldn't parse --sort-by {e}: {err}")))
        })
        .transpose()?;
    let ignore_not_found = a.bool("ignore-not-found");
    let mut results: Vec<(&'static Resource, Vec<Value>)> = Vec::new();
    let mut errors: Vec<Fail> = Vec::new();
    let mut list_versions: Vec<String> = Vec::new();
    for (r, names) in &t.groups {
        let ns = ns_for(ctx, r, all_ns);
        let mut items = Vec::new();
        if names.is_empty() {
            let list = ctx.client.list(r, ns, selector, field)?;
            items = list.items;
            list_versions.push(list.resource_version);
            sort_items(&mut items);
        } else {
            for n in names {
                match ctx.client.get(r, ns, n) {
                    Ok(mut o) => {
                        if let Some(m) = o.as_object_mut() {
                            m.entry("kind").or_insert(json!(r.kind));
                            m.entry("apiVersion").or_insert(json!(r.api_version()));
                        }
                        items.push(o)
                    }
                    Err(e) if e.is_not_found() && ignore_not_found => {}
                    Err(e) if e.is_not_found() || e.status().is_some() => {
                        errors.push(Fail::Client(e))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if let Some(tpl) = &sort_by {
            sort_by_template(&mut items, tpl)?;
        }
        results.push((r, items));
    }
    let total: usize = results.iter().map(|r| r.1.len()).sum();
    let watching = a.bool("watch");
    match &fmt {
        Format::Table { wide } => {
            let opts = TableOptions {
                wide: *wide,
                show_labels: a.bool("show-labels"),
                no_headers: a.bool("no-headers"),
                with_namespace: all_ns,
                with_kind: t.multi_type || a.bool("show-kind"),
                now: now(),
            };
            let mut text = String::new();
            for (r, items) in results.iter().filter(|r| !r.1.is_empty()) {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&printers::table_text(r, items, &opts));
            }
            let _ = write!(ctx.out, "{}", tabwriter::TABLE.format(&text));
            if watching {
                return watch_table(ctx, &t, &results, &list_versions, all_ns, selector, &opts);
            }
            if total == 0 && errors.is_empty() && !ignore_not_found {
                let namespaced = t.groups.iter().any(|g| g.0.namespaced);
                no_resources_found(ctx, namespaced && !all_ns);
            }
        }
        _ => {
            let items: Vec<Value> = results.into_iter().flat_map(|r| r.1).collect();
            if !items.is_empty() || errors.is_empty() {
                print_generic(ctx, &fmt, items, t.single)?;
            }
        }
    }
    finish_errors(ctx, errors)
}

/// `get -w`: after the table, one row per change, aligned with the table's columns (kubectl's
/// tabwriter remembers column widths). Runs until interrupted.
pub(crate) fn watch_table(
    ctx: &mut Ctx,
    t: &Targets,
    results: &[(&'static Resource, Vec<Value>)],
    versions: &[String],
    all_ns: bool,
    selector: Option<&str>,
    opts: &TableOptions,
) -> R {
    if t.groups.len() != 1 || !t.groups[0].1.is_empty() {
        return Err(Fail::Msg(
            "kplab supports --watch for one resource type listed without names (e.g. kubectl get pods -w)".into(),
        ));
    }
    let r = results[0].0;
    let ns = ns_for(ctx, r, all_ns).map(String::from);
    let mut shown: Vec<Value> = results[0].1.clone();
    let mut rv = versions.first().cloned().unwrap_or_default();
    let _ = ctx.out.flush();
    loop {
        let stream = ctx
            .client
            .watch_selected(r, ns.as_deref(), Some(&rv), selector, None)?;
        for ev in stream {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) if e.is_gone() => {
                    rv = String::new();
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(v) = ev.object.resource_version() {
                rv = v.to_string();
            }
            if !matches!(
                ev.event_type,
                crate::kube::client::EventType::Added
                    | crate::kube::client::EventType::Modified
                    | crate::kube::client::EventType::Deleted
            ) {
                continue;
            }
            let mut o = ev.object;
            if let Some(m) = o.as_object_mut() {
                m.entry("kind").or_insert(json!(r.kind));
            }
            shown.push(o);
            let mut row_opts = *opts;
            row_opts.now = now();
            let text = tabwriter::TABLE.format(&printers::table_text(r, &shown, &row_opts));
            if let Some(last) = text.lines().last() {
                let _ = writeln!(ctx.out, "{last}");
                let _ = ctx.out.flush();
            }
        }
    }
}
