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

/// The fields kube-apiserver can select objects of `kind` by, beyond the common ones (each
/// kind's `GetAttrs`/field label conversion upstream).
pub fn kind_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Event" => &[
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
        ],
        "Namespace" => &["status.phase"],
        "Node" => &["spec.unschedulable"],
        "Secret" => &["type"],
        "ReplicaSet" | "ReplicationController" => &["status.replicas"],
        "Job" => &["status.successful"],
        "Service" => &["spec.clusterIP", "spec.type"],
        "EndpointSlice" => &["addressType"],
        _ => &[],
    }
}

/// The value a field selector compares for `field`, as upstream's selectable fields render it
/// (booleans and counts as text, unset booleans `false`, `source` is the source component).
pub fn field_value(obj: &Value, field: &str) -> String {
    match (obj.pointer(&field_pointer(field)), field) {
        (Some(Value::String(s)), _) => s.clone(),
        (Some(Value::Bool(b)), _) => b.to_string(),
        (Some(Value::Number(n)), _) => n.to_string(),
        (None | Some(Value::Null), "spec.unschedulable" | "spec.hostNetwork") => "false".into(),
        (None | Some(Value::Null), "status.replicas" | "status.successful") => "0".into(),
        (Some(Value::Null) | None, _) => String::new(),
        (Some(other), _) => other.to_string(),
    }
}

fn field_pointer(field: &str) -> String {
    match field {
        "source" => "/source/component".to_string(),
        f => format!("/{}", f.replace('.', "/")),
    }
}

/// The part of `obj` label and field selectors of its kind can read (labels, name, namespace
/// and the kind's selectable fields): what the store keeps of an object's previous state so
/// that a watch can tell that the object left its selection, at a fraction of the memory.
pub fn selectable_view(kind: &str, obj: &Value) -> Value {
    let mut out = serde_json::json!({});
    for field in COMMON_FIELDS.iter().chain(kind_fields(kind)) {
        let ptr = field_pointer(field);
        if let Some(v) = obj.pointer(&ptr) {
            set_pointer(&mut out, &ptr, v.clone());
        }
    }
    if let Some(l) = obj.pointer("/metadata/labels") {
        set_pointer(&mut out, "/metadata/labels", l.clone());
    }
    out
}

fn set_pointer(root: &mut Value, ptr: &str, v: Value) {
    let mut cur = root;
    let parts: Vec<&str> = ptr.trim_start_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = serde_json::json!({});
        }
        let m = cur.as_object_mut().expect("made an object above");
        if i + 1 == parts.len() {
            m.insert(p.to_string(), v);
            return;
        }
        cur = m
            .entry(p.to_string())
            .or_insert_with(|| serde_json::json!({}));
    }
}

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
            let known = COMMON_FIELDS.contains(&field) || kind_fields(kind).contains(&field);
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
        self.requirements
            .iter()
            .all(|r| (field_value(obj, &r.field) == r.value) != r.negated)
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

    #[test]
    fn field_selectors_per_kind_as_upstream() {
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "web"}, "source": {"component": "kubelet"},
            "reason": "Started", "type": "Normal"});
        let f = FieldSelector::parse(
            "involvedObject.kind=Pod,involvedObject.name=web,source=kubelet,type!=Warning",
            "Event",
        )
        .unwrap();
        assert!(f.matches(&ev));
        assert!(!FieldSelector::parse("reason=Killing", "Event")
            .unwrap()
            .matches(&ev));
        let node = json!({"metadata": {"name": "node-1"}, "spec": {}});
        assert!(FieldSelector::parse("spec.unschedulable=false", "Node")
            .unwrap()
            .matches(&node));
        assert!(!FieldSelector::parse("spec.unschedulable=true", "Node")
            .unwrap()
            .matches(&node));
        let rs = json!({"status": {"replicas": 3}});
        assert!(FieldSelector::parse("status.replicas=3", "ReplicaSet")
            .unwrap()
            .matches(&rs));
        assert!(FieldSelector::parse("status.replicas=0", "ReplicaSet")
            .unwrap()
            .matches(&json!({})));
        assert!(FieldSelector::parse("type=kubernetes.io/tls", "Secret")
            .unwrap()
            .matches(&json!({"type": "kubernetes.io/tls"})));
        let pod = json!({"status": {"nominatedNodeName": "node-2"}});
        assert!(
            FieldSelector::parse("status.nominatedNodeName=node-2", "Pod")
                .unwrap()
                .matches(&pod)
        );
        for (kind, field) in [
            ("Service", "spec.nodeName"),
            ("Secret", "status.phase"),
            ("ConfigMap", "type"),
        ] {
            assert_eq!(
                FieldSelector::parse(&format!("{field}=x"), kind).unwrap_err(),
                format!("field label not supported: {field}")
            );
        }
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
