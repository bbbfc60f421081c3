//! Shared pieces of the property tests of code that reads the learner's (untrusted) text: the
//! fixed budget and the input generators used by the `props` test modules beside each parser. Every property asserts
//! no panic, output bounded by the input, and errors that say what was wrong.

use proptest::prelude::*;
use serde_json::Value;

/// The fixed budget, its regressions file, and any text: shared with the other crates' properties.
pub use propgen::{any_text, config, CASES};

/// A token that may break a naive parser.
pub fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\"".to_string()),
        Just("\0".to_string()),
        Just("é∞😀".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("(".to_string()),
        Just(".".to_string()),
        Just("-".to_string()),
        Just("=".to_string()),
        Just("..".to_string()),
        Just("99999999999999999999".to_string()),
        Just("-1".to_string()),
        Just("1e309".to_string()),
        Just("NaN".to_string()),
        (1usize..3000).prop_map(|n| "a".repeat(n)),
        "[ -~]{0,16}",
        "(?s).{0,6}",
    ]
}

/// A JSON scalar likely to matter to a Kubernetes object.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-3i64..70000).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("web"),
            Just("default"),
            Just("kube-system"),
            Just("TCP"),
            Just("UDP"),
            Just("http"),
            Just("ClusterIP"),
            Just("NodePort"),
            Just("None"),
            Just("10.96.0.10"),
            Just("10.0.0.0/8"),
            Just("node-1"),
            Just("Cluster"),
            Just("In"),
            Just("Exists"),
            Just("Ingress"),
            Just("v1"),
            Just("apps/v1"),
            Just("25%"),
            Just("app"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
        nasty().prop_map(Value::String),
    ]
}

/// A key of a Kubernetes object at any level.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(vec![
            "apiVersion", "kind", "metadata", "name", "namespace", "generateName", "labels",
            "annotations", "resourceVersion", "ownerReferences", "controller", "uid",
            "deletionTimestamp", "spec", "status", "type", "clusterIP", "clusterIPs", "ports",
            "port", "targetPort", "nodePort", "protocol", "selector", "matchLabels",
            "matchExpressions", "key", "operator", "values", "replicas", "template",
            "containers", "image", "containerPort", "nodeName", "strategy", "rollingUpdate",
            "maxSurge", "maxUnavailable", "podSelector", "ingress", "egress", "from", "to",
            "ipBlock", "cidr", "except", "policyTypes", "endpoints", "addresses",
            "addressType", "conditions", "ready", "externalTrafficPolicy",
            "sessionAffinity", "sessionAffinityConfig", "clientIP", "timeoutSeconds",
            "ipFamilies", "ipFamilyPolicy", "readinessProbe", "httpGet", "tcpSocket",
            "command", "args", "env", "phase", "podIP", "hostNetwork", "restartPolicy",
            "terminationGracePeriodSeconds", "unschedulable", "items", "gracePeriodSeconds",
        ])
        .prop_map(str::to_string),
        1 => nasty(),
    ]
}

/// Any JSON value, a few levels deep, shaped like Kubernetes objects.
pub fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A valid object of `kind` with a few of its fields replaced by random values: gets past the
/// first checks and into the defaulting and validation of every field.
pub fn near_valid_object() -> impl Strategy<Value = Value> {
    let base = prop::sample::select(vec![
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":8080,"name":"http"}],"readinessProbe":{"httpGet":{"port":"http"}}}]}}"#,
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"type":"NodePort","selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":"http","nodePort":30080}],"sessionAffinity":"ClientIP"}}"#,
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#,
        r#"{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"np"},"spec":{"podSelector":{"matchExpressions":[{"key":"app","operator":"In","values":["web"]}]},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["10.1.0.0/16"]}}],"ports":[{"port":80}]}],"policyTypes":["Ingress"]}}"#,
        r#"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-1","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.5"],"conditions":{"ready":true}}],"ports":[{"name":"http","port":8080}]}"#,
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns1"}}"#,
        r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-3"},"spec":{"unschedulable":true}}"#,
    ]);
    let edit = (
        prop::collection::vec(key(), 1..4),
        prop_oneof![3 => leaf(), 1 => json_value()],
    );
    (base, prop::collection::vec(edit, 0..4)).prop_map(|(base, edits)| {
        let mut v: Value = serde_json::from_str(base).expect("valid base object");
        for (path, value) in edits {
            set_path(&mut v, &path, value);
        }
        v
    })
}

/// Sets `path` in `v` (creating objects where the path leads through non-objects).
fn set_path(v: &mut Value, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *v = value;
        return;
    };
    if let Value::Array(items) = v {
        if let Some(item) = items.first_mut() {
            return set_path(item, path, value);
        }
    }
    if !v.is_object() {
        *v = Value::Object(Default::default());
    }
    let Value::Object(m) = v else { return };
    set_path(m.entry(first.clone()).or_insert(Value::Null), rest, value);
}

/// Go-duration-shaped text: numbers (huge, fractional, dotted) and units.
pub fn duration_text() -> impl Strategy<Value = String> {
    let num = prop_oneof![
        Just("0".to_string()),
        Just("1.5".to_string()),
        Just(".".to_string()),
        Just("1.2.3".to_string()),
        Just("99999999999999999999".to_string()),
        Just("1".repeat(400)),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| format!("0.{n}")),
    ];
    let unit = prop::sample::select(vec![
        "ns", "us", "µs", "\u{3bc}s", "ms", "s", "m", "h", "", "d", "x",
    ]);
    prop_oneof![
        4 => prop::collection::vec((num, unit), 1..4).prop_map(|parts| parts
            .into_iter()
            .map(|(n, u)| format!("{n}{u}"))
            .collect::<String>()),
        1 => prop::sample::select(vec!["", "0", "-1s", "+1s", " 1s", "1s "]).prop_map(str::to_string),
        1 => any_text(),
    ]
}
