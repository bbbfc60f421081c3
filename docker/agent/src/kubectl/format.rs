//! `-o` output for get, create and apply: the format flag, custom columns, and printing a list
//! or a single object in any format.

use crate::kube::client::KubeObject;
use serde_json::json;
use serde_json::Value;

use super::args::Args;
use super::ctx::Ctx;
use super::ctx::Fail;
use super::ctx::R;
use super::jsonpath;
use super::output;
use super::printers::kind_prefix;
use super::tabwriter;
use crate::kube::client::Resource;

pub(crate) fn sort_items(items: &mut [Value]) {
    items.sort_by(|a, b| {
        (a.namespace().unwrap_or(""), a.name()).cmp(&(b.namespace().unwrap_or(""), b.name()))
    });
}

pub(crate) enum Format {
    Table {
        wide: bool,
    },
    Yaml,
    Json,
    Name,
    JsonPath(jsonpath::Template),
    /// `-o custom-columns=HEADER:PATH,...` (or `custom-columns-file=FILE`).
    CustomColumns {
        columns: Vec<(String, jsonpath::Template)>,
        headers: bool,
    },
}

/// The format `-o` asks for, when it is given (apply, create, run: otherwise a status line).
pub(crate) fn explicit_format(a: &Args) -> Result<Option<Format>, Fail> {
    a.get("output").map(|_| parse_format(a)).transpose()
}

/// The format `-o` asks for (a table when it is not given).
pub(crate) fn parse_format(a: &Args) -> Result<Format, Fail> {
    let o = a.get("output").unwrap_or("");
    let no_headers = a.bool("no-headers");
    Ok(match o {
        "" => Format::Table { wide: false },
        "wide" => Format::Table { wide: true },
        "yaml" => Format::Yaml,
        "json" => Format::Json,
        "name" => Format::Name,
        // A bare `custom-columns` is an empty spec (kubectl's "no custom columns given").
        _ if o == "custom-columns" || o.starts_with("custom-columns=") => Format::CustomColumns {
            columns: custom_columns_from_spec(o.strip_prefix("custom-columns=").unwrap_or(""))?,
            headers: !no_headers,
        },
        _ => {
            if let Some(file) = o.strip_prefix("custom-columns-file=") {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| Fail::Msg(format!("error reading template {file}, {e}")))?;
                Format::CustomColumns {
                    columns: custom_columns_from_template(&text)?,
                    headers: true,
                }
            } else if let Some(t) = o
                .strip_prefix("jsonpath=")
                .or_else(|| o.strip_prefix("jsonpath-as-json="))
            {
                let t = t.trim();
                let t = t
                    .strip_prefix('\'')
                    .and_then(|x| x.strip_suffix('\''))
                    .unwrap_or(t);
                let tpl = jsonpath::Template::parse(t)
                    .map_err(|e| Fail::Msg(format!("error parsing jsonpath {t}, {e}")))?;
                Format::JsonPath(tpl)
            } else if o == "jsonpath" {
                return Err(Fail::Msg(
                    "template format specified but no template given".into(),
                ));
            } else {
                return Err(Fail::Msg(format!(
                    "unable to match a printer suitable for the output format \"{o}\", allowed formats are: custom-columns,custom-columns-file,json,jsonpath,jsonpath-as-json,name,wide,yaml"
                )));
            }
        }
    })
}

/// `NAME:.metadata.name,IP:status.podIP`: comma-separated `HEADER:PATH` pairs, paths relaxed.
pub(crate) fn custom_columns_from_spec(
    spec: &str,
) -> Result<Vec<(String, jsonpath::Template)>, Fail> {
    if spec.is_empty() {
        return Err(Fail::Msg(
            "custom-columns format specified but no custom columns given".into(),
        ));
    }
    spec.split(',')
        .map(|part| {
            let (header, path) = part.split_once(':').ok_or_else(|| {
                Fail::Msg(format!(
                    "unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"
                ))
            })?;
            Ok((header.to_string(), column_template(path)?))
        })
        .collect()
}

/// `-o custom-columns-file`: a line of headers and a line of paths, both split on whitespace.
pub(crate) fn custom_columns_from_template(
    text: &str,
) -> Result<Vec<(String, jsonpath::Template)>, Fail> {
    let mut lines = text.lines();
    let expected = "Expected format is one line of space separated headers, one line of space separated column specs.";
    let headers: Vec<&str> = lines
        .next()
        .ok_or_else(|| Fail::Msg(format!("invalid template, missing header line. {expected}")))?
        .split_whitespace()
        .collect();
    let specs: Vec<&str> = lines
        .next()
        .ok_or_else(|| Fail::Msg(format!("invalid template, missing spec line. {expected}")))?
        .split_whitespace()
        .collect();
    if headers.len() != specs.len() {
        return Err(Fail::Msg(format!(
            "number of headers ({}) and field specifications ({}) don't match",
            headers.len(),
            specs.len()
        )));
    }
    headers
        .iter()
        .zip(&specs)
        .map(|(h, p)| Ok((h.to_string(), column_template(p)?)))
        .collect()
}

pub(crate) fn column_template(path: &str) -> Result<jsonpath::Template, Fail> {
    let relaxed = jsonpath::relaxed(path).map_err(|e| Fail::Msg(e.0))?;
    jsonpath::Template::parse(&relaxed).map_err(|e| Fail::Msg(e.0))
}

/// One row of custom columns: every value a path finds, joined by `,`; `<none>` for none.
pub(crate) fn custom_columns_row(
    columns: &[(String, jsonpath::Template)],
    obj: &Value,
) -> Result<String, Fail> {
    let mut cells = Vec::with_capacity(columns.len());
    for (_, t) in columns {
        let results = t.results(obj).map_err(|e| Fail::Msg(e.0))?;
        let values: Vec<String> = results.iter().flatten().map(output::go_sprint).collect();
        cells.push(if results.first().is_none_or(Vec::is_empty) {
            "<none>".to_string()
        } else {
            values.join(",")
        });
    }
    Ok(cells.join("\t"))
}

pub(crate) fn as_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// Prints objects in a non-table format (`-o yaml|json|name|jsonpath`).
pub(crate) fn print_generic(ctx: &mut Ctx, fmt: &Format, items: Vec<Value>, single: bool) -> R {
    match fmt {
        Format::CustomColumns { columns, headers } => {
            let mut text = String::new();
            if *headers {
                let names: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
                text.push_str(&names.join("\t"));
                text.push('\n');
            }
            for o in &items {
                text.push_str(&custom_columns_row(columns, o)?);
                text.push('\n');
            }
            let _ = write!(ctx.out, "{}", tabwriter::TABLE.format(&text));
        }
        Format::Name => {
            for o in &items {
                let r = o
                    .get("kind")
                    .and_then(Value::as_str)
                    .and_then(Resource::by_kind);
                let prefix = r.map(kind_prefix).unwrap_or_default();
                let _ = writeln!(ctx.out, "{prefix}/{}", o.name());
            }
        }
        _ => {
            // As kubectl without --show-managed-fields: the server's bookkeeping is hidden.
            let mut items = items;
            for o in items.iter_mut() {
                if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("managedFields");
                }
            }
            let data = if single && items.len() == 1 {
                items.into_iter().next().unwrap_or(Value::Null)
            } else {
                as_list(items)
            };
            match fmt {
                Format::Yaml => {
                    let _ = write!(ctx.out, "{}", output::go_yaml(&data));
                }
                Format::Json => {
                    let _ = write!(ctx.out, "{}", output::go_json_indent(&data));
                }
                Format::JsonPath(t) => {
                    let text = t.execute(&data).map_err(|e| {
                        Fail::Msg(format!(
                            "error executing jsonpath {:?}: Error executing template: {e}. Printing more information for debugging the template:\n\ttemplate was:\n\t\t{}\n\tobject given to jsonpath engine was:\n\t\t{}\n",
                            t.source(),
                            t.source(),
                            output::go_json_compact(&data)
                        ))
                    })?;
                    let _ = write!(ctx.out, "{text}");
                }
                _ => {}
            }
        }
    }
    Ok(())
}

pub(crate) fn sort_by_template(items: &mut [Value], tpl: &jsonpath::Template) -> R {
    let mut keyed: Vec<(String, Value)> = Vec::new();
    for it in items.iter() {
        let k = tpl.execute(it).map_err(|e| {
            Fail::Msg(format!(
                "couldn't find any field with path in the list of objects: {e}"
            ))
        })?;
        keyed.push((k, it.clone()));
    }
    keyed.sort_by(|a, b| match (a.0.parse::<f64>(), b.0.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.0.cmp(&b.0),
    });
    for (slot, (_, v)) in items.iter_mut().zip(keyed) {
        *slot = v;
    }
    Ok(())
}
