//! The schema table: the messages of the kinds the lab serves, their fields, and the kinds.

use crate::generated;

/// A protobuf scalar type as the Kubernetes `generated.proto` files use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    String,
    Int32,
    Int64,
    Bool,
    Bytes,
    Double,
}

/// The type of a field (of a map: of its values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Scalar(Scalar),
    /// A message, by proto full name (`k8s.io.api.core.v1.ServiceSpec`).
    Message(&'static str),
}

/// How a field holds its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// One value (proto2 `optional`).
    Optional,
    /// A list.
    Repeated,
    /// A map from keys of this scalar type to values of the field's `ty`.
    Map(Scalar),
}

/// One field of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The JSON name (`clusterIP`).
    pub json: &'static str,
    /// The protobuf tag.
    pub tag: u32,
    pub ty: Ty,
    pub label: Label,
    /// `+patchMergeKey=`: the key strategic merge patch merges this list's items by.
    pub patch_merge_key: Option<&'static str>,
    /// `+patchStrategy=` (`merge`, `retainKeys`, `merge,retainKeys`).
    pub patch_strategy: Option<&'static str>,
    /// `+listType=` (`atomic`, `set`, `map`).
    pub list_type: Option<&'static str>,
    /// `+listMapKey=` (one per line in the source; in order).
    pub list_map_keys: &'static [&'static str],
    /// `+optional`.
    pub optional: bool,
    /// A Go struct embedded `json:",inline"`: in JSON its fields sit in the parent object.
    pub inline: bool,
}

/// One message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// The proto full name (`k8s.io.api.core.v1.Service`).
    pub name: &'static str,
    pub fields: &'static [Field],
}

/// A kind the lab serves (or a meta kind that travels in bodies: Status, DeleteOptions...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The API group, empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The resource's path segment (`services`); empty for meta kinds.
    pub plural: &'static str,
    pub namespaced: bool,
    /// The message of one object.
    pub message: &'static str,
}

impl Kind {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl Message {
    /// The field with this JSON name, looking through inline (embedded) fields as JSON does.
    pub fn field(&self, json: &str) -> Option<&'static Field> {
        self.fields.iter().find_map(|f| {
            if f.inline {
                f.message().and_then(|m| m.field(json))
            } else {
                (f.json == json).then_some(f)
            }
        })
    }

    /// The fields as JSON shows them: inline fields replaced by their message's fields.
    pub fn json_fields(&self) -> Vec<&'static Field> {
        let mut out = Vec::new();
        for f in self.fields {
            match f.message().filter(|_| f.inline) {
                Some(m) => out.extend(m.json_fields()),
                None => out.push(f),
            }
        }
        out
    }

    /// The field with this protobuf tag.
    pub fn field_by_tag(&self, tag: u32) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.tag == tag)
    }

    /// The upstream OpenAPI name (`io.k8s.api.core.v1.Service`).
    pub fn openapi_name(&self) -> String {
        openapi_name(self.name)
    }

    /// The short name (`Service`).
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }
}

/// `k8s.io.api.core.v1.Service` -> `io.k8s.api.core.v1.Service`.
pub fn openapi_name(proto: &str) -> String {
    match proto.strip_prefix("k8s.io.") {
        Some(rest) => format!("io.k8s.{rest}"),
        None => proto.to_string(),
    }
}

impl Field {
    /// The message of the field's values, if they are messages.
    pub fn message(&self) -> Option<&'static Message> {
        match self.ty {
            Ty::Message(m) => message(m),
            Ty::Scalar(_) => None,
        }
    }
}

/// Every message of the table, sorted by name.
pub fn messages() -> &'static [Message] {
    generated::MESSAGES
}

/// Every kind of the table.
pub fn kinds() -> &'static [Kind] {
    generated::KINDS
}

/// The message with this proto full name.
pub fn message(name: &str) -> Option<&'static Message> {
    let all = generated::MESSAGES;
    all.binary_search_by(|m| m.name.cmp(name))
        .ok()
        .map(|i| &all[i])
}

/// The kind with this apiVersion and kind. Meta kinds (Status, DeleteOptions, WatchEvent...)
/// are registered in every group version upstream: they are found under any apiVersion.
pub fn kind(api_version: &str, kind: &str) -> Option<&'static Kind> {
    let (group, version) = split_api_version(api_version);
    let all = generated::KINDS;
    all.iter()
        .find(|k| k.kind == kind && k.group == group && k.version == version)
        .or_else(|| {
            all.iter()
                .find(|k| k.kind == kind && k.plural.is_empty() && k.version == version)
        })
}

/// The kind served under this group, version and plural (`""`, `v1`, `services`).
pub fn kind_by_plural(group: &str, version: &str, plural: &str) -> Option<&'static Kind> {
    generated::KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)
}

/// The message of one object of this kind (or of its list, for `XList`).
pub fn message_for(api_version: &str, kind_name: &str) -> Option<&'static Message> {
    if let Some(k) = kind(api_version, kind_name) {
        return message(k.message);
    }
    let item = kind_name.strip_suffix("List")?;
    let k = kind(api_version, item)?;
    message(&format!("{}List", k.message))
}

/// `apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// One step of a JSON path walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// A field of an object.
    Field(&'a str),
    /// Into the items of a list or the values of a map.
    Item,
}

/// Where a walk ended: the field reached, and the message its values have (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    pub field: &'static Field,
    /// True after an `Item` step (the walk is at one item of a list or map).
    pub in_item: bool,
}

/// Walks a path of JSON field names from a message: `["spec", "ports"]` from Service
/// reaches `ServiceSpec.ports`. `Item` steps into a list's items or a map's values
/// (optional: a field name after a list field steps into its items implicitly).
/// None when a name is not a field of the message reached.
pub fn walk(root: &'static Message, path: &[Step<'_>]) -> Option<Reached> {
    let mut msg = root;
    let mut reached: Option<Reached> = None;
    for step in path {
        match step {
            Step::Field(name) => {
                if let Some(r) = reached {
                    msg = r.field.message()?;
                }
                let f = msg.field(name)?;
                reached = Some(Reached {
                    field: f,
                    in_item: false,
                });
            }
            Step::Item => {
                let r = reached?;
                if r.field.label == Label::Optional || r.in_item {
                    return None;
                }
                reached = Some(Reached {
                    field: r.field,
                    in_item: true,
                });
            }
        }
    }
    reached
}

/// Walks a dotted path (`spec.ports.port`) from a kind's message, stepping through lists.
pub fn walk_dotted(root: &'static Message, dotted: &str) -> Option<Reached> {
    let steps: Vec<Step<'_>> = dotted
        .split('.')
        .filter(|s| !s.is_empty())
        .map(Step::Field)
        .collect();
    walk(root, &steps)
}

/// Messages with a JSON form of their own (a string, a number or free JSON): their content is
/// not checked field by field.
/// Whether a message has its own JSON form (Time as text, IntOrString as a number or text,
/// Quantity, RawExtension...): its proto fields are not JSON fields.
pub fn is_opaque(name: &str) -> bool {
    OPAQUE.contains(&name)
}

const OPAQUE: &[&str] = &[
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
    "k8s.io.apimachinery.pkg.api.resource.Quantity",
    "k8s.io.apimachinery.pkg.runtime.RawExtension",
];

/// The fields of an object (with apiVersion and kind) that its kind's schema does not have,
/// as kube-apiserver's strict decoding names them (`spec.bogus`, `spec.ports[0].bogus`).
/// Keys starting with `$` (strategic merge patch directives) are not fields. None when the
/// kind is not in the table.
pub fn unknown_fields(obj: &serde_json::Value) -> Option<Vec<String>> {
    let api_version = obj.get("apiVersion")?.as_str()?;
    let kind_name = obj.get("kind")?.as_str()?;
    let msg = message_for(api_version, kind_name)?;
    let mut out = Vec::new();
    unknown_in(msg, obj, "", &mut out);
    Some(out)
}

/// The unknown fields of a JSON value checked against a message, with `prefix` before each.
pub fn unknown_in(
    msg: &'static Message,
    v: &serde_json::Value,
    prefix: &str,
    out: &mut Vec<String>,
) {
    if OPAQUE.contains(&msg.name) {
        return;
    }
    let Some(obj) = v.as_object() else {
        return;
    };
    let is_kind = kinds()
        .iter()
        .any(|k| k.message == msg.name || msg.name.strip_suffix("List") == Some(k.message));
    for (key, val) in obj {
        if key.starts_with('$') || (is_kind && (key == "apiVersion" || key == "kind")) {
            continue;
        }
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let Some(f) = msg.field(key) else {
            out.push(path);
            continue;
        };
        let Some(m) = f.message() else {
            continue;
        };
        match (f.label, val) {
            (Label::Repeated, serde_json::Value::Array(items)) => {
                for (i, it) in items.iter().enumerate() {
                    unknown_in(m, it, &format!("{path}[{i}]"), out);
                }
            }
            (Label::Map(_), serde_json::Value::Object(entries)) => {
                for (k, it) in entries {
                    unknown_in(m, it, &format!("{path}[{k}]"), out);
                }
            }
            (Label::Optional, _) => unknown_in(m, val, &path, out),
            _ => {}
        }
    }
}

/// The first value of `v` whose JSON type the field's Go type cannot take, in the words of
/// Go's JSON decoder as kube-apiserver reports it: `json: cannot unmarshal bool into Go struct
/// field LabelSelectorRequirement.spec.selector.matchExpressions.values of type string`. The
/// field path holds the JSON names from the object's root (list items add nothing); the struct
/// is the one that declares the field. `null` fits every type (Go leaves the zero value), and
/// the types with their own JSON form (Time, IntOrString, Quantity...) are not checked here.
pub fn type_error(msg: &'static Message, v: &serde_json::Value) -> Option<String> {
    type_error_in(msg, v, "")
}

fn type_error_in(msg: &'static Message, v: &serde_json::Value, prefix: &str) -> Option<String> {
    if OPAQUE.contains(&msg.name) {
        return None;
    }
    let obj = v.as_object()?;
    for (key, val) in obj {
        let Some(f) = msg.field(key) else { continue };
        if val.is_null() {
            continue;
        }
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let owner = owner_of(msg, key);
        let fail = |value: String, ty: String| {
            Some(format!(
                "json: cannot unmarshal {value} into Go struct field {owner}.{path} of type {ty}"
            ))
        };
        let elem = go_type_name(f.ty);
        match (f.label, val) {
            (Label::Repeated, serde_json::Value::Array(items)) => {
                for it in items {
                    if let Some(e) = elem_error(f.ty, it, &path, owner) {
                        return Some(e);
                    }
                }
            }
            (Label::Repeated, other) if f.ty != Ty::Scalar(Scalar::Bytes) => {
                return fail(json_kind(other).to_string(), format!("[]{elem}"));
            }
            (Label::Map(_), serde_json::Value::Object(entries)) => {
                for it in entries.values() {
                    if let Some(e) = elem_error(f.ty, it, &path, owner) {
                        return Some(e);
                    }
                }
            }
            (Label::Map(k), other) => {
                return fail(
                    json_kind(other).to_string(),
                    format!("map[{}]{elem}", scalar_go(k)),
                );
            }
            _ => {
                if let Some(e) = elem_error(f.ty, val, &path, owner) {
                    return Some(e);
                }
            }
        }
    }
    None
}

/// One value (not a list or map) against its type.
fn elem_error(ty: Ty, v: &serde_json::Value, path: &str, owner: &str) -> Option<String> {
    use serde_json::Value as V;
    let ok = match (ty, v) {
        (_, V::Null) => true,
        (Ty::Message(m), _) => match message(m) {
            Some(m) if OPAQUE.contains(&m.name) => true,
            Some(m) => {
                if v.is_object() {
                    return type_error_in(m, v, path);
                }
                false
            }
            None => true,
        },
        (Ty::Scalar(Scalar::String | Scalar::Bytes), V::String(_)) => true,
        (Ty::Scalar(Scalar::Bool), V::Bool(_)) => true,
        (Ty::Scalar(Scalar::Double), V::Number(_)) => true,
        (Ty::Scalar(Scalar::Int32 | Scalar::Int64), V::Number(n)) => {
            if n.is_i64() || n.is_u64() {
                true
            } else {
                return Some(format!(
                    "json: cannot unmarshal number {n} into Go struct field {owner}.{path} of type {}",
                    go_type_name(ty)
                ));
            }
        }
        _ => false,
    };
    if ok {
        return None;
    }
    Some(format!(
        "json: cannot unmarshal {} into Go struct field {owner}.{path} of type {}",
        json_kind(v),
        go_type_name(ty)
    ))
}

/// The Go struct that declares `key` (through inline members, as `json_fields` sees them).
fn owner_of(msg: &'static Message, key: &str) -> &'static str {
    for f in msg.fields {
        if f.inline {
            if let Some(m) = f.message() {
                if m.field(key).is_some() {
                    return owner_of(m, key);
                }
            }
        } else if f.json == key {
            return msg.short_name();
        }
    }
    msg.short_name()
}

/// How Go's decoder names a JSON value's type in its errors (`bool`, `object`...).
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn scalar_go(s: Scalar) -> &'static str {
    match s {
        Scalar::String => "string",
        Scalar::Int32 => "int32",
        Scalar::Int64 => "int64",
        Scalar::Bool => "bool",
        Scalar::Bytes => "[]uint8",
        Scalar::Double => "float64",
    }
}

/// The Go type of a field's value: `string`, `int32`, `v1.ServiceSpec`.
fn go_type_name(ty: Ty) -> String {
    match ty {
        Ty::Scalar(s) => scalar_go(s).to_string(),
        Ty::Message(m) => {
            // k8s.io.api.core.v1.ServiceSpec -> v1.ServiceSpec (the Go package's last element).
            let mut parts = m.rsplit('.');
            let short = parts.next().unwrap_or(m);
            let pkg = parts.next().unwrap_or("");
            format!("{pkg}.{short}")
        }
    }
}
