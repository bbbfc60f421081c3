//! Field selectors parsed from the query string (`fieldSelector=`): `metadata.name`,
//! `metadata.namespace` and a few fields per kind, with `=`, `==` and `!=`. Label selectors
//! are [`netrules::labels`], shared with NetworkPolicy.

pub use netrules::labels::{object_labels, LabelSelector};
use serde_json::Value;

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
