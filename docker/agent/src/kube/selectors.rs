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

/// The fields kube-apiserver lets Events be selected by.
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
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
                || (kind == "Service" && field == "spec.clusterIP")
                || (kind == "Event" && EVENT_FIELDS.contains(&field))
                || (kind == "Secret" && field == "type");
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
            let pointer = match r.field.as_str() {
                // An Event's `source` field is its `source.component`.
                "source" => "/source/component".to_string(),
                f => format!("/{}", f.replace('.', "/")),
            };
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

/// Property tests: `fieldSelector=` and `labelSelector=` come from the learner's
/// requests. Any text parses or gets kubernetes' message, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{any_text, config, json_value, nasty, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/apiserver_selectors.txt";

    fn selector() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            Just("metadata.name=p".to_string()),
            Just("spec.nodeName!=node-1".to_string()),
            Just("status.phase==Running".to_string()),
            Just("spec.unknown=1".to_string()),
            Just("=".to_string()),
            Just("!=".to_string()),
            nasty(),
        ];
        prop_oneof![
            3 => prop::collection::vec(part, 0..5).prop_map(|p| p.join(",")),
            1 => any_text(),
        ]
    }

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_field_selector_parses_or_is_refused(
            s in selector(),
            kind in prop::sample::select(vec!["Pod", "Service", "Node", "Namespace", "EndpointSlice", "x"]),
            obj in json_value(),
        ) {
            match FieldSelector::parse(&s, kind) {
                Ok(f) => {
                    prop_assert!(f.requirements.len() <= s.len());
                    let _ = f.matches(&obj);
                }
                Err(e) => prop_assert!(
                    e.starts_with("invalid selector: ") || e.starts_with("field label not supported: "),
                    "{}", e
                ),
            }
            if let Ok(l) = LabelSelector::parse(&s) {
                let _ = l.matches_object(&obj);
            }
        }
    }

    // Regression tests: every selector a property above ever failed on, by name.
}
