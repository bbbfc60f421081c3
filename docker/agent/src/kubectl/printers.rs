//! `kubectl get` tables: the columns and cell formatting of kube-apiserver's table printers
//! (`pkg/printers/internalversion/printers.go`), laid out with kubectl's tabwriter.

use serde_json::Value;
use time::OffsetDateTime;

use super::tabwriter;
use crate::kube::client::Resource;
use crate::kube::printers;

/// How a table is printed.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// `-o wide`.
    pub wide: bool,
    /// `--show-labels`.
    pub show_labels: bool,
    /// `--no-headers`.
    pub no_headers: bool,
    /// A leading NAMESPACE column (`-A` on namespaced resources).
    pub with_namespace: bool,
    /// Prefix names with `kind.group/` (several resource types printed together).
    pub with_kind: bool,
    /// The time AGE is measured from.
    pub now: OffsetDateTime,
}

pub use crate::kube::printers::{
    format_endpoints, format_label_selector, format_labels, node_roles, selector_string,
};

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// `kind.group/name` as `-o name` and multi-type tables print it.
pub fn kind_prefix(r: &Resource) -> String {
    if r.group.is_empty() {
        r.kind.to_ascii_lowercase()
    } else {
        format!("{}.{}", r.kind.to_ascii_lowercase(), r.group)
    }
}

/// The header cells for a kind: its columns' names upper-cased, as kubectl prints a server-side
/// Table (wide columns only with `-o wide`).
pub fn headers(kind: &str, wide: bool) -> Vec<String> {
    printers::columns(kind)
        .iter()
        .filter(|c| wide || c.priority == 0)
        .map(|c| c.name.to_ascii_uppercase())
        .collect()
}

/// The cells of one object's row (the NAME cell is the bare name).
pub fn row(kind: &str, o: &Value, wide: bool, now: OffsetDateTime) -> Vec<String> {
    let cols = printers::columns(kind);
    printers::cells(kind, o, now)
        .iter()
        .zip(cols)
        .filter(|(_, c)| wide || c.priority == 0)
        .map(|(v, _)| printers::cell_text(v))
        .collect()
}

/// Renders a table of objects of one resource type (not yet aligned: tab-separated).
pub fn table_text(resource: &Resource, items: &[Value], opts: &TableOptions) -> String {
    let mut out = String::new();
    let with_ns = opts.with_namespace && resource.namespaced;
    if !opts.no_headers {
        let mut h: Vec<String> = Vec::new();
        if with_ns {
            h.push("NAMESPACE".into());
        }
        h.extend(headers(resource.kind, opts.wide));
        if opts.show_labels {
            h.push("LABELS".into());
        }
        out.push_str(&h.join("\t"));
        out.push('\n');
    }
    let prefix = kind_prefix(resource);
    for o in items {
        let mut cells = Vec::new();
        if with_ns {
            cells.push(s(o, "/metadata/namespace").to_string());
        }
        let mut r = row(resource.kind, o, opts.wide, opts.now);
        if opts.with_kind {
            r[0] = format!("{prefix}/{}", r[0]);
        }
        cells.extend(r);
        if opts.show_labels {
            cells.push(format_labels(o.pointer("/metadata/labels")));
        }
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out
}

/// Renders and aligns one table.
pub fn table(resource: &Resource, items: &[Value], opts: &TableOptions) -> String {
    tabwriter::TABLE.format(&table_text(resource, items, opts))
}
