//! The describe text writer and the pieces every layout shares: field access, labels,
//! annotations and tolerations blocks, the metadata header and the closing `Events:` line.

use serde_json::Value;

use crate::kubectl::tabwriter;

pub(crate) struct W(pub(crate) String);

impl W {
    pub(crate) fn w(&mut self, level: usize, text: &str) {
        for _ in 0..level {
            self.0.push_str("  ");
        }
        self.0.push_str(text);
    }
}

pub(crate) fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(crate) fn num(v: &Value, ptr: &str) -> String {
    match v.pointer(ptr) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

pub(crate) fn sorted_map(v: Option<&Value>) -> Vec<(String, String)> {
    let mut m: Vec<(String, String)> = v
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    m.sort();
    m
}

/// `{initial}{title}:\t` and one `entry` per pair, the later ones after `{initial}\t`; `<none>`
/// when there are no pairs.
fn pairs_multiline(
    w: &mut W,
    initial: &str,
    title: &str,
    m: &[(String, String)],
    mut entry: impl FnMut(&mut W, &str, &str),
) {
    w.w(0, &format!("{initial}{title}:\t"));
    if m.is_empty() {
        w.w(0, "<none>\n");
        return;
    }
    for (i, (k, v)) in m.iter().enumerate() {
        if i != 0 {
            w.w(0, &format!("{initial}\t"));
        }
        entry(w, k, v);
    }
}

pub(crate) fn labels_multiline(w: &mut W, initial: &str, title: &str, labels: Option<&Value>) {
    pairs_multiline(w, initial, title, &sorted_map(labels), |w, k, v| {
        w.w(0, &format!("{k}={v}\n"));
    });
}

pub(crate) fn annotations_multiline(w: &mut W, initial: &str, title: &str, ann: Option<&Value>) {
    let m: Vec<(String, String)> = sorted_map(ann)
        .into_iter()
        .filter(|(k, _)| k != "kubectl.kubernetes.io/last-applied-configuration")
        .collect();
    pairs_multiline(w, initial, title, &m, |w, k, v| {
        if v.len() > 140 || v.contains('\n') {
            w.w(0, &format!("{k}:\n"));
            for line in v.lines() {
                w.w(0, &format!("{initial}\t  {line}\n"));
            }
        } else {
            w.w(0, &format!("{k}: {v}\n"));
        }
    });
}

pub(crate) fn tolerations_multiline(w: &mut W, initial: &str, title: &str, tols: &[Value]) {
    w.w(0, &format!("{initial}{title}:\t"));
    if tols.is_empty() {
        w.w(0, "<none>\n");
        return;
    }
    for (i, t) in tols.iter().enumerate() {
        if i != 0 {
            w.w(0, &format!("{initial}\t"));
        }
        let mut line = s(t, "/key").to_string();
        if !s(t, "/value").is_empty() {
            line.push_str(&format!("={}", s(t, "/value")));
        }
        if !s(t, "/effect").is_empty() {
            line.push_str(&format!(":{}", s(t, "/effect")));
        }
        if s(t, "/operator") == "Exists" && s(t, "/value").is_empty() {
            if !s(t, "/key").is_empty() || !s(t, "/effect").is_empty() {
                line.push_str(" op=Exists");
            } else {
                line.push_str("op=Exists");
            }
        }
        if let Some(secs) = t.get("tolerationSeconds").and_then(Value::as_i64) {
            line.push_str(&format!(" for {secs}s"));
        }
        w.w(0, &format!("{line}\n"));
    }
}

pub(crate) fn events_none(w: &mut W) {
    w.w(0, "Events:\t<none>\n");
}

pub(crate) fn finish(w: W) -> String {
    tabwriter::DESCRIBE.format(&w.0)
}

pub(crate) fn meta_header(w: &mut W, o: &Value, namespaced: bool) {
    name_header(w, o, namespaced);
    labels_and_annotations(w, o);
}

/// The `Name:` line and, when `namespaced`, the `Namespace:` line.
pub(crate) fn name_header(w: &mut W, o: &Value, namespaced: bool) {
    w.w(0, &format!("Name:\t{}\n", s(o, "/metadata/name")));
    if namespaced {
        w.w(0, &format!("Namespace:\t{}\n", s(o, "/metadata/namespace")));
    }
}

/// The object's `Labels:` and `Annotations:` blocks.
pub(crate) fn labels_and_annotations(w: &mut W, o: &Value) {
    labels_multiline(w, "", "Labels", o.pointer("/metadata/labels"));
    annotations_multiline(w, "", "Annotations", o.pointer("/metadata/annotations"));
}

/// The strings of the array at `ptr` (other items skipped).
pub(crate) fn strs<'a>(v: &'a Value, ptr: &str) -> Vec<&'a str> {
    arr(v, ptr).iter().filter_map(Value::as_str).collect()
}

/// `items` joined with commas, or `<none>` when there are none.
pub(crate) fn comma_or_none<S: std::borrow::Borrow<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "<none>".into()
    } else {
        items.join(",")
    }
}
