//! Label selectors, as the API server, the controllers, kubectl and NetworkPolicy use them:
//! parsed from the string form (`app=web,tier in (a,b),!canary`) or built from a
//! `metav1.LabelSelector` object, matched against labels, and printed the way
//! `metav1.LabelSelectorAsSelector(sel).String()` prints them.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value};

/// A malformed `metav1.LabelSelector` object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}Invalid value: {value}: {detail}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct SelectorError {
    /// The field, relative to the selector (`matchExpressions[0].operator`; empty for the
    /// selector itself).
    pub field: String,
    /// The value found there.
    pub value: Value,
    /// What is wrong with it.
    pub detail: String,
}

impl SelectorError {
    /// The message with the field given from `prefix`, the selector's own path
    /// (`spec.podSelector` -> `spec.podSelector.matchLabels.app: Invalid value: …`).
    pub fn at(&self, prefix: &str) -> String {
        let field = match self.field.as_str() {
            "" => prefix.to_string(),
            f => format!("{prefix}.{f}"),
        };
        format!("{field}: Invalid value: {}: {}", self.value, self.detail)
    }
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` / `key==value`.
    Equals(String, String),
    /// `key!=value` (also true when the label is absent).
    NotEquals(String, String),
    /// `key in (v1,v2)`.
    In(String, Vec<String>),
    /// `key notin (v1,v2)` (also true when the label is absent).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => !labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A parsed label selector: all requirements must hold. Empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// The requirements, ANDed.
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the string form (`app=web,tier in (a,b),!canary`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(LabelSelector { requirements })
    }

    /// Builds a selector from a `metav1.LabelSelector` JSON object (`matchLabels`,
    /// `matchExpressions`). `None`/`null` gives the empty selector (matches everything). A
    /// malformed object is an error naming the field, relative to the selector.
    pub fn from_json(v: Option<&Value>) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(LabelSelector::default());
        };
        let bad = |field: String, value: &Value, detail: &str| SelectorError {
            field,
            value: value.clone(),
            detail: detail.to_string(),
        };
        if !v.is_object() {
            return Err(bad(String::new(), v, "must be an object"));
        }
        if let Some(m) = v.get("matchLabels").filter(|m| !m.is_null()) {
            let m = m
                .as_object()
                .ok_or_else(|| bad("matchLabels".into(), m, "must be an object"))?;
            for (k, val) in m {
                let s = val
                    .as_str()
                    .ok_or_else(|| bad(format!("matchLabels.{k}"), val, "must be a string"))?;
                requirements.push(Requirement::Equals(k.clone(), s.to_string()));
            }
        }
        if let Some(exprs) = v.get("matchExpressions").filter(|m| !m.is_null()) {
            let exprs = exprs
                .as_array()
                .ok_or_else(|| bad("matchExpressions".into(), exprs, "must be a list"))?;
            for (i, e) in exprs.iter().enumerate() {
                let field = |f: &str| format!("matchExpressions[{i}].{f}");
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                if key.is_empty() {
                    return Err(bad(field("key"), &json!(key), "must be a non-empty string"));
                }
                let key = key.to_string();
                let op = e.get("operator").unwrap_or(&Value::Null);
                let values = crate::k8s::string_list(e.get("values"));
                requirements.push(match op.as_str().unwrap_or("") {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::DoesNotExist(key),
                    _ => return Err(bad(field("operator"), op, "not a valid selector operator")),
                });
            }
        }
        Ok(LabelSelector { requirements })
    }

    /// A selector requiring every `key=value` of `map` (a Service's `spec.selector`).
    pub fn from_map(map: &BTreeMap<String, String>) -> Self {
        LabelSelector {
            requirements: map
                .iter()
                .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Whether the selector has no requirement (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(&object_labels(obj))
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |vs: &[String]| {
            let mut vs: Vec<&str> = vs.iter().map(String::as_str).collect();
            vs.sort_unstable();
            vs.join(",")
        };
        match self {
            Requirement::Equals(k, v) => write!(f, "{k}={v}"),
            Requirement::NotEquals(k, v) => write!(f, "{k}!={v}"),
            Requirement::In(k, vs) => write!(f, "{k} in ({})", set(vs)),
            Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", set(vs)),
            Requirement::Exists(k) => write!(f, "{k}"),
            Requirement::DoesNotExist(k) => write!(f, "!{k}"),
        }
    }
}

impl Requirement {
    /// The label key.
    pub fn key(&self) -> &str {
        match self {
            Requirement::Equals(k, _)
            | Requirement::NotEquals(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k,
        }
    }
}

/// Kubernetes' spelling: requirements sorted by key, values sorted, joined by commas; empty
/// for the empty selector.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut reqs: Vec<&Requirement> = self.requirements.iter().collect();
        reqs.sort_by(|a, b| a.key().cmp(b.key()));
        let text: Vec<String> = reqs.iter().map(ToString::to_string).collect();
        f.write_str(&text.join(","))
    }
}

/// `metadata.labels` of an object as a map.
pub fn object_labels(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key, part)?;
        return Ok(Requirement::DoesNotExist(key.to_string()));
    }
    if let Some((k, v)) = part.split_once("!=") {
        check_key(k.trim(), part)?;
        return Ok(Requirement::NotEquals(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once("==") {
        check_key(k.trim(), part)?;
        return Ok(Requirement::Equals(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once('=') {
        check_key(k.trim(), part)?;
        return Ok(Requirement::Equals(k.trim().into(), v.trim().into()));
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if words.len() == 2 {
        let key = words[0].trim();
        let rest = words[1].trim();
        let (op, list) = if let Some(r) = rest.strip_prefix("notin") {
            ("notin", r.trim())
        } else if let Some(r) = rest.strip_prefix("in") {
            ("in", r.trim())
        } else {
            return Err(format!(
                "unable to parse requirement: found '{rest}', expected: in, notin, =, ==, !=, gt, lt"
            ));
        };
        let inner = list
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(|| format!("unable to parse requirement: found '{list}', expected: '('"))?;
        check_key(key, part)?;
        let values: Vec<String> = inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        return Ok(if op == "in" {
            Requirement::In(key.into(), values)
        } else {
            Requirement::NotIn(key.into(), values)
        });
    }
    check_key(part, part)?;
    Ok(Requirement::Exists(part.to_string()))
}

fn check_key(key: &str, part: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err(format!(
            "unable to parse requirement: found '{part}', expected: identifier"
        ));
    }
    if key
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
    {
        return Err(format!(
            "unable to parse requirement: invalid label key \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches_all_operators() {
        let s = LabelSelector::parse(
            "app=web, tier!=db,env in (prod, staging),zone notin (z1),canary,!legacy",
        )
        .unwrap();
        assert_eq!(s.requirements.len(), 6);
        assert!(s.matches(&labels(&[("app", "web"), ("env", "prod"), ("canary", "")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "dev"), ("canary", "")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("env", "prod"),
            ("canary", ""),
            ("legacy", "1")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("env", "prod"),
            ("canary", ""),
            ("zone", "z1")
        ])));
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("").unwrap().is_empty());
    }

    #[test]
    fn builds_from_label_selector_object() {
        let s = LabelSelector::from_json(Some(&json!({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"t","operator":"In","values":["a"]}]}))).unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("t", "a")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(LabelSelector::from_json(Some(
            &json!({"matchExpressions":[{"key":"t","operator":"Foo"}]})
        ))
        .is_err());
    }

    #[test]
    fn malformed_objects_name_the_field() {
        let e = |v: Value| LabelSelector::from_json(Some(&v)).unwrap_err().to_string();
        assert_eq!(
            e(json!({"matchExpressions":[{"key":"t","operator":"Foo"}]})),
            "matchExpressions[0].operator: Invalid value: \"Foo\": not a valid selector operator"
        );
        assert_eq!(
            e(json!({"matchLabels":{"app":1}})),
            "matchLabels.app: Invalid value: 1: must be a string"
        );
        assert_eq!(
            e(json!("app=web")),
            "Invalid value: \"app=web\": must be an object"
        );
        let err = LabelSelector::from_json(Some(&json!({"matchLabels": []}))).unwrap_err();
        assert_eq!(
            err.at("spec.podSelector"),
            "spec.podSelector.matchLabels: Invalid value: []: must be an object"
        );
        assert!(LabelSelector::from_json(Some(&Value::Null))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn prints_as_kubernetes_does() {
        let s = LabelSelector::from_json(Some(&json!({"matchLabels":{"z":"1","app":"web"},"matchExpressions":[{"key":"tier","operator":"NotIn","values":["b","a"]},{"key":"canary","operator":"DoesNotExist"}]}))).unwrap();
        assert_eq!(s.to_string(), "app=web,!canary,tier notin (a,b),z=1");
        assert_eq!(LabelSelector::default().to_string(), "");
        assert_eq!(
            LabelSelector::parse(&s.to_string()).unwrap().to_string(),
            s.to_string()
        );
    }
}
