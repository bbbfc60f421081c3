//! What every printer shares: the column type, the name and age columns, and the cell
//! helpers (labels, selectors, containers) of upstream's printers.

use std::collections::BTreeMap;

use netrules::labels::LabelSelector;
use serde_json::Value;

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// `Name`, `Cluster-IP` (kubectl prints it upper-cased).
    pub name: &'static str,
    /// `string`, `integer`, `date`.
    pub type_: &'static str,
    /// `name` for the name column, empty otherwise.
    pub format: &'static str,
    /// What the column shows.
    pub description: &'static str,
    /// 0: always shown; 1: only with `-o wide`.
    pub priority: u8,
}

pub(crate) const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
pub(crate) const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
pub(crate) const CONTAINERS_DESC: &str = "Names of each container in the template.";
pub(crate) const IMAGES_DESC: &str = "Images referenced by each container in the template.";

/// The `Name` column.
pub(crate) const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: NAME_DESC,
    priority: 0,
};
/// The `Age` column.
pub(crate) const AGE: Column = col("Age", "string", AGE_DESC);

/// A column shown by default.
pub(crate) const fn col(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

/// A column shown with `-o wide` only.
pub(crate) const fn wide(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

/// A cell as kubectl prints it (`fmt.Sprint` of the value).
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

pub(crate) fn text(x: &str) -> Value {
    Value::String(x.to_string())
}

pub(crate) fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn i(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

pub(crate) fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(crate) fn or_none(x: &str) -> String {
    if x.is_empty() {
        "<none>".into()
    } else {
        x.to_string()
    }
}

/// `labels.FormatLabels`: sorted `k=v` joined by commas, `<none>` when empty.
pub fn format_labels(m: Option<&Value>) -> String {
    let map: BTreeMap<&str, &str> = m
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if map.is_empty() {
        return "<none>".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: requirements sorted by key; empty string
/// for an empty selector.
pub fn selector_string(sel: Option<&Value>) -> String {
    // Stored objects passed validation; anything malformed prints as no selector.
    LabelSelector::from_json(sel)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// `metav1.FormatLabelSelector`: like [`selector_string`], `<none>` when empty.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    let t = selector_string(sel);
    if t.is_empty() {
        "<none>".into()
    } else {
        t
    }
}

/// `layoutContainerCells`: the containers' names and images, comma-separated.
pub(crate) fn container_cells(o: &Value, ptr: &str) -> (Value, Value) {
    let cs = arr(o, ptr);
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (text(&names.join(",")), text(&images.join(",")))
}
