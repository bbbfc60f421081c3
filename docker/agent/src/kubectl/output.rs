//! Object serializers with kubectl's byte layout: JSON as Go's `encoding/json` writes it
//! (sorted keys, `<>&` escaped, 4-space indent for `-o json`) and YAML as `sigs.k8s.io/yaml`
//! (go-yaml v2) writes it (sorted keys, unindented sequences, quoting of ambiguous scalars).

use serde_json::Value;

fn sorted_keys(m: &serde_json::Map<String, Value>) -> Vec<&String> {
    let mut k: Vec<&String> = m.keys().collect();
    k.sort();
    k
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.Marshal`: compact, sorted keys.
pub fn go_json_compact(v: &Value) -> String {
    let mut out = String::new();
    json_rec(v, None, 0, &mut out);
    out
}

/// `fmt.Sprint` of a decoded JSON value, as kubectl's custom columns print one: strings raw,
/// `<nil>`, `[a b]` for lists and `map[k:v]` (keys sorted) for objects.
pub fn go_sprint(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_sprint).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => format!(
            "map[{}]",
            sorted_keys(m)
                .into_iter()
                .map(|k| format!("{k}:{}", go_sprint(&m[k])))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// `json.MarshalIndent(v, "", "    ")` plus a newline, as `kubectl get -o json` prints.
pub fn go_json_indent(v: &Value) -> String {
    let mut out = String::new();
    json_rec(v, Some("    "), 0, &mut out);
    out.push('\n');
    out
}

fn json_rec(v: &Value, indent: Option<&str>, depth: usize, out: &mut String) {
    let nl = |out: &mut String, d: usize| {
        if let Some(ind) = indent {
            out.push('\n');
            for _ in 0..d {
                out.push_str(ind);
            }
        }
    };
    match v {
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(m) => {
            out.push('{');
            for (i, k) in sorted_keys(m).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, depth + 1);
                go_string(k, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                json_rec(&m[k], indent, depth + 1, out);
            }
            nl(out, depth);
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, depth + 1);
                json_rec(x, indent, depth + 1, out);
            }
            nl(out, depth);
            out.push(']');
        }
        Value::String(s) => go_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

/// YAML as `kubectl get -o yaml` prints it.
pub fn go_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => yaml_seq(a, 0, &mut out),
        other => {
            out.push_str(&yaml_scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn pad(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn yaml_map(m: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (i, k) in sorted_keys(m).into_iter().enumerate() {
        if i > 0 {
            pad(indent, out);
        }
        out.push_str(&yaml_str(k, indent));
        out.push(':');
        yaml_value_after_key(&m[k], indent, out);
    }
}

fn yaml_value_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            pad(indent + 2, out);
            yaml_map(m, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            pad(indent, out);
            yaml_seq(a, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&yaml_scalar(other, indent + 2));
            out.push('\n');
        }
    }
}

fn yaml_seq(a: &[Value], indent: usize, out: &mut String) {
    for (i, x) in a.iter().enumerate() {
        if i > 0 {
            pad(indent, out);
        }
        out.push_str("- ");
        match x {
            Value::Object(m) if !m.is_empty() => yaml_map(m, indent + 2, out),
            Value::Array(s) if !s.is_empty() => yaml_seq(s, indent + 2, out),
            other => {
                out.push_str(&yaml_scalar(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn yaml_scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_str(s, indent),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// Whether go-yaml v2 would read the plain scalar back as something other than a string.
fn resolves_to_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let t = s.replace('_', "");
    let digits = t.strip_prefix(['-', '+']).unwrap_or(&t);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    if let Some(h) = digits.strip_prefix("0x") {
        if !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()) {
            return true;
        }
    }
    if let Some(b) = digits.strip_prefix("0b") {
        if !b.is_empty() && b.chars().all(|c| c == '0' || c == '1') {
            return true;
        }
    }
    if is_yaml_float(s) {
        return true;
    }
    looks_like_timestamp(s)
}

fn is_yaml_float(s: &str) -> bool {
    // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b.len() == 10 || matches!(b[10], b'T' | b't' | b' '))
}

/// Whether the emitter may write `s` as a plain scalar (libyaml's analysis, simplified).
fn plain_allowed(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    if s.starts_with(' ') || s.ends_with(' ') || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if matches!(
        first,
        '#' | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
    ) {
        return false;
    }
    if matches!(first, '-' | '?' | ':') {
        let second = s.chars().nth(1);
        if second.is_none() || second == Some(' ') {
            return false;
        }
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if s.contains(['\t', '\r']) || s.chars().any(|c| (c as u32) < 0x20 || c == '\u{feff}') {
        return false;
    }
    true
}

fn yaml_str(s: &str, indent: usize) -> String {
    if s.contains('\n') && !s.chars().any(|c| (c as u32) < 0x20 && c != '\n') {
        let mut out = String::from(if s.ends_with('\n') { "|" } else { "|-" });
        if s.starts_with(' ') {
            out.push('2');
        }
        for line in s.trim_end_matches('\n').split('\n') {
            out.push('\n');
            if !line.is_empty() {
                pad(indent, &mut out);
                out.push_str(line);
            }
        }
        return out;
    }
    if resolves_to_non_string(s) {
        let mut out = String::new();
        go_string(s, &mut out);
        return out
            .replace("\\u003c", "<")
            .replace("\\u003e", ">")
            .replace("\\u0026", "&");
    }
    if plain_allowed(s) {
        return s.to_string();
    }
    if s.chars().any(|c| (c as u32) < 0x20) {
        let mut out = String::new();
        go_string(s, &mut out);
        return out;
    }
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sprint_like_go() {
        let v = json!({"b": [1, "x", null], "a": {"k": true}, "c": 0.5});
        assert_eq!(go_sprint(&v), "map[a:map[k:true] b:[1 x <nil>] c:0.5]");
    }

    #[test]
    fn yaml_layout_like_kubectl() {
        let v = json!({"kind":"Namespace","apiVersion":"v1","metadata":{"name":"default","creationTimestamp":"2026-11-23T04:00:00Z","labels":{"kubernetes.io/metadata.name":"default"}},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}});
        assert_eq!(
            go_yaml(&v),
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  creationTimestamp: \"2026-11-23T04:00:00Z\"\n  labels:\n    kubernetes.io/metadata.name: default\n  name: default\nspec:\n  finalizers:\n  - kubernetes\nstatus:\n  phase: Active\n"
        );
    }

    #[test]
    fn yaml_quotes_ambiguous_scalars() {
        let v = json!({"a":"","b":"80","c":"true","d":"*","e":"a: b","f":{},"g":[],"h":[{"x":1,"y":[1,2]}],"i":"1.0","j":"10.96.0.1","k":"line1\nline2\n"});
        assert_eq!(
            go_yaml(&v),
            "a: \"\"\nb: \"80\"\nc: \"true\"\nd: '*'\ne: 'a: b'\nf: {}\ng: []\nh:\n- x: 1\n  \"y\":\n  - 1\n  - 2\ni: \"1.0\"\nj: 10.96.0.1\nk: |\n  line1\n  line2\n"
        );
    }

    #[test]
    fn json_layout_like_kubectl() {
        let v = json!({"b":[1,{"z":"<x>","a":[]}],"a":{}});
        assert_eq!(
            go_json_indent(&v),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        {\n            \"a\": [],\n            \"z\": \"\\u003cx\\u003e\"\n        }\n    ]\n}\n"
        );
        assert_eq!(
            go_json_compact(&v),
            "{\"a\":{},\"b\":[1,{\"a\":[],\"z\":\"\\u003cx\\u003e\"}]}"
        );
    }
}
