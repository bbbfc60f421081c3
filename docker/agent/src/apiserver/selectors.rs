//! Label and field selectors, parsed from the query string (`labelSelector=`, `fieldSelector=`)
//! or built from a `metav1.LabelSelector` object, and matched against objects.
//!
//! The syntax is Kubernetes': `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`,
//! joined by commas. Field selectors support `metadata.name`, `metadata.namespace`,
//! `spec.nodeName` and `status.phase` with `=`, `==` and `!=`.

use std::collections::BTreeMap;

use serde_json::Value;

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
    /// `matchExpressions`). `None`/`null` gives the empty selector (matches everything).
    pub fn from_json(v: Option<&Value>) -> Result<Self, String> {
        let mut requirements = Vec::new();
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(LabelSelector::default());
        };
        if let Some(m) = v.get("matchLabels").and_then(Value::as_object) {
            for (k, val) in m {
                requirements.push(Requirement::Equals(
                    k.clone(),
                    val.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        if let Some(exprs) = v.get("matchExpressions").and_then(Value::as_array) {
            for (i, e) in exprs.iter().enumerate() {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                requirements.push(match op {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::DoesNotExist(key),
                    other => {
                        return Err(format!(
                            "matchExpressions[{i}].operator: Invalid value: {other:?}: not a valid selector operator"
                        ))
                    }
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

/// One `field=value` / `field!=value` term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// `spec.nodeName`, `metadata.name`, …
    pub field: String,
    /// The value compared with.
    pub value: String,
    /// `!=` instead of `=`.
    pub negated: bool,
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// The terms, ANDed.
    pub requirements: Vec<FieldRequirement>,
}

/// Fields every resource supports in field selectors.
const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];
/// Extra fields for pods.
const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "status.phase",
    "status.podIP",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
];

impl FieldSelector {
    /// Parses `spec.nodeName=node-1,metadata.name!=x` for objects of `kind`.
    pub fn parse(s: &str, kind: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (field, value, negated) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            let known = COMMON_FIELDS.contains(&field)
                || (kind == "Pod" && POD_FIELDS.contains(&field))
                || (kind == "Namespace" && field == "status.phase")
                || (kind == "Node" && field == "spec.unschedulable")
                || (kind == "EndpointSlice" && field == "addressType")
                || (kind == "Service" && field == "spec.clusterIP");
            if !known {
                return Err(format!("field label not supported: {field}"));
            }
            requirements.push(FieldRequirement {
                field: field.to_string(),
                value: value.trim().to_string(),
                negated,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the object satisfies every term (absent fields compare as `""`).
    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let pointer = format!("/{}", r.field.replace('.', "/"));
            let actual = match obj.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == r.value) != r.negated
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn field_selectors() {
        let f = FieldSelector::parse("spec.nodeName=node-2,metadata.name!=x", "Pod").unwrap();
        assert!(f.matches(&json!({"metadata":{"name":"a"},"spec":{"nodeName":"node-2"}})));
        assert!(!f.matches(&json!({"metadata":{"name":"x"},"spec":{"nodeName":"node-2"}})));
        assert!(FieldSelector::parse("spec.nodeName=", "Pod")
            .unwrap()
            .matches(&json!({"spec":{}})));
        assert_eq!(
            FieldSelector::parse("spec.foo=1", "Pod").unwrap_err(),
            "field label not supported: spec.foo"
        );
    }
}
