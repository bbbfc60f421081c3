//! OpenAPI v2 (`/openapi/v2`) and v3 (`/openapi/v3/<group-version>`) documents built from the
//! schema table, for `kubectl explain` and `kubectl apply`'s validation and patch metadata.
//!
//! The shape follows upstream (definition names `io.k8s.api.core.v1.Service`, `$ref`s, the
//! `x-kubernetes-*` extensions, `int-or-string`, quantities as strings); the descriptions are
//! ours (`descriptions.yaml`), and a field we do not describe has none.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use serde_json::json;
use serde_json::Map;
use serde_json::Value;

use crate::schema::kinds;
use crate::schema::message;
use crate::schema::messages;
use crate::schema::openapi_name;
use crate::schema::Field;
use crate::schema::Kind;
use crate::schema::Label;
use crate::schema::Message;
use crate::schema::Scalar;
use crate::schema::Ty;

const DESCRIPTIONS: &str = include_str!("descriptions.yaml");

/// The entry of descriptions.yaml for the fields every kind has.
const EVERY_KIND: &str = "every-kind";

/// The server version the documents name.
const INFO_VERSION: &str = "v1.33.0";

/// Fields upstream lists as `required` (the Go JSON tag has no omitempty). Only these: a
/// `required` too many would make kubectl refuse a good manifest.
const REQUIRED: &[(&str, &[&str])] = &[
    ("k8s.io.api.core.v1.ServicePort", &["port"]),
    ("k8s.io.api.core.v1.Container", &["name"]),
    ("k8s.io.api.core.v1.EphemeralContainer", &["name"]),
    ("k8s.io.api.core.v1.ContainerPort", &["containerPort"]),
    ("k8s.io.api.core.v1.PodSpec", &["containers"]),
    ("k8s.io.api.core.v1.EnvVar", &["name"]),
    ("k8s.io.api.core.v1.Volume", &["name"]),
    ("k8s.io.api.core.v1.VolumeMount", &["name", "mountPath"]),
    ("k8s.io.api.core.v1.KeyToPath", &["key", "path"]),
    ("k8s.io.api.core.v1.ConfigMapKeySelector", &["key"]),
    ("k8s.io.api.core.v1.SecretKeySelector", &["key"]),
    ("k8s.io.api.core.v1.HTTPGetAction", &["port"]),
    ("k8s.io.api.core.v1.TCPSocketAction", &["port"]),
    (
        "k8s.io.api.core.v1.NodeSelectorRequirement",
        &["key", "operator"],
    ),
    ("k8s.io.api.core.v1.Taint", &["key", "effect"]),
    ("k8s.io.api.core.v1.Binding", &["target"]),
    ("k8s.io.api.core.v1.PodCondition", &["type", "status"]),
    ("k8s.io.api.core.v1.NodeAddress", &["type", "address"]),
    (
        "k8s.io.api.apps.v1.DeploymentSpec",
        &["selector", "template"],
    ),
    ("k8s.io.api.apps.v1.ReplicaSetSpec", &["selector"]),
    (
        "k8s.io.api.apps.v1.DaemonSetSpec",
        &["selector", "template"],
    ),
    (
        "k8s.io.api.discovery.v1.EndpointSlice",
        &["addressType", "endpoints"],
    ),
    ("k8s.io.api.discovery.v1.Endpoint", &["addresses"]),
    ("k8s.io.api.networking.v1.IPBlock", &["cidr"]),
    ("k8s.io.api.events.v1.Event", &["eventTime"]),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
        &["key", "operator"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference",
        &["apiVersion", "kind", "name", "uid"],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.Condition",
        &["type", "status", "lastTransitionTime", "reason", "message"],
    ),
];

/// The schema of a message with a JSON form of its own (upstream's custom OpenAPI types).
fn special(name: &str, v3: bool) -> Option<Value> {
    Some(match name {
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time"
        | "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => {
            json!({"type": "string", "format": "date-time"})
        }
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => json!({"type": "string"}),
        // No `type` in v3 (a oneOf): kubectl explain then names the type `IntOrString`.
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" if v3 => json!({
            "oneOf": [{"type": "integer"}, {"type": "string"}],
            "format": "int-or-string",
            "x-kubernetes-int-or-string": true
        }),
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => {
            json!({"type": "string", "format": "int-or-string"})
        }
        "k8s.io.apimachinery.pkg.api.resource.Quantity" if v3 => {
            json!({"oneOf": [{"type": "string"}, {"type": "number"}]})
        }
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => json!({"type": "string"}),
        "k8s.io.apimachinery.pkg.runtime.RawExtension"
        | "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" => json!({"type": "object"}),
        _ => return None,
    })
}

/// Our descriptions: definition name -> (`_` or field name) -> text.
fn descriptions() -> BTreeMap<String, BTreeMap<String, String>> {
    serde_yaml_ng::from_str(DESCRIPTIONS).unwrap_or_default()
}

struct Builder {
    v3: bool,
    desc: BTreeMap<String, BTreeMap<String, String>>,
}

impl Builder {
    fn reference(&self, name: &str) -> String {
        if self.v3 {
            format!("#/components/schemas/{}", openapi_name(name))
        } else {
            format!("#/definitions/{}", openapi_name(name))
        }
    }

    fn type_schema(&self, ty: Ty) -> Value {
        match ty {
            Ty::Scalar(Scalar::String) => json!({"type": "string"}),
            Ty::Scalar(Scalar::Bytes) => json!({"type": "string", "format": "byte"}),
            Ty::Scalar(Scalar::Int32) => json!({"type": "integer", "format": "int32"}),
            Ty::Scalar(Scalar::Int64) => json!({"type": "integer", "format": "int64"}),
            Ty::Scalar(Scalar::Bool) => json!({"type": "boolean"}),
            Ty::Scalar(Scalar::Double) => json!({"type": "number", "format": "double"}),
            Ty::Message(m) => json!({"$ref": self.reference(m)}),
        }
    }

    fn property(&self, owner: &Message, f: &Field) -> Value {
        let item = self.type_schema(f.ty);
        let mut p = match f.label {
            Label::Optional => item,
            Label::Repeated => json!({"type": "array", "items": item}),
            Label::Map(_) => json!({"type": "object", "additionalProperties": item}),
        };
        let is_kind = kinds()
            .iter()
            .any(|k| k.message == owner.name || owner.name.strip_suffix("List") == Some(k.message));
        let desc = self
            .desc
            .get(&owner.openapi_name())
            .and_then(|d| d.get(f.json))
            .or_else(|| {
                is_kind
                    .then(|| self.desc.get(EVERY_KIND).and_then(|d| d.get(f.json)))
                    .flatten()
            })
            .cloned();
        if let Some(d) = desc {
            if self.v3 && p.get("$ref").is_some() {
                // OpenAPI 3.0 ignores siblings of $ref: upstream wraps it in allOf.
                p = json!({"allOf": [p]});
            }
            p["description"] = Value::String(d);
        }
        let o = p.as_object_mut().expect("a schema object");
        if let Some(t) = f.list_type {
            o.insert("x-kubernetes-list-type".into(), json!(t));
        }
        if !f.list_map_keys.is_empty() {
            o.insert("x-kubernetes-list-map-keys".into(), json!(f.list_map_keys));
        }
        if let Some(k) = f.patch_merge_key {
            o.insert("x-kubernetes-patch-merge-key".into(), json!(k));
        }
        if let Some(s) = f.patch_strategy {
            o.insert("x-kubernetes-patch-strategy".into(), json!(s));
        }
        p
    }

    fn definition(&self, m: &'static Message) -> Value {
        if let Some(s) = special(m.name, self.v3) {
            return s;
        }
        let mut props = Map::new();
        let gvks: Vec<Value> = kinds()
            .iter()
            .filter(|k| k.message == m.name)
            .map(|k| json!({"group": k.group, "kind": k.kind, "version": k.version}))
            .collect();
        // List kinds: `XList` of a served kind.
        let list_gvks: Vec<Value> = kinds()
            .iter()
            .filter(|k| format!("{}List", k.message) == m.name)
            .map(|k| json!({"group": k.group, "kind": format!("{}List", k.kind), "version": k.version}))
            .collect();
        let is_kind = !gvks.is_empty() || !list_gvks.is_empty();
        if is_kind {
            let api = self.desc.get(EVERY_KIND).and_then(|d| d.get("apiVersion"));
            let kind = self.desc.get(EVERY_KIND).and_then(|d| d.get("kind"));
            let with = |d: Option<&String>| match d {
                Some(t) => json!({"type": "string", "description": t}),
                None => json!({"type": "string"}),
            };
            props.insert("apiVersion".into(), with(api));
            props.insert("kind".into(), with(kind));
        }
        let mut owner_fields: Vec<(&Message, &Field)> = Vec::new();
        collect_fields(m, &mut owner_fields);
        for (owner, f) in &owner_fields {
            props.insert(f.json.to_string(), self.property(owner, f));
        }
        let mut d = Map::new();
        if let Some(text) = self.desc.get(&m.openapi_name()).and_then(|d| d.get("_")) {
            d.insert("description".into(), json!(text));
        }
        d.insert("type".into(), json!("object"));
        d.insert("properties".into(), Value::Object(props));
        let required: Vec<&str> = REQUIRED
            .iter()
            .filter(|(n, _)| *n == m.name)
            .flat_map(|(_, fs)| fs.iter().copied())
            .collect();
        if !required.is_empty() {
            d.insert("required".into(), json!(required));
        }
        let all: Vec<Value> = gvks.into_iter().chain(list_gvks).collect();
        if !all.is_empty() {
            d.insert("x-kubernetes-group-version-kind".into(), Value::Array(all));
        }
        Value::Object(d)
    }
}

/// A message's fields as JSON shows them (inline fields flattened), with the message that
/// declares each one (for its description).
fn collect_fields(m: &'static Message, out: &mut Vec<(&'static Message, &'static Field)>) {
    for f in m.fields {
        match f.message().filter(|_| f.inline) {
            Some(inner) => collect_fields(inner, out),
            None => out.push((m, f)),
        }
    }
}

/// The messages reachable from these roots.
fn reachable(roots: &[&'static str]) -> BTreeSet<&'static str> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&'static str> = roots.to_vec();
    while let Some(n) = todo.pop() {
        if !seen.insert(n) {
            continue;
        }
        if let Some(m) = message(n) {
            for f in m.fields {
                if let Ty::Message(t) = f.ty {
                    todo.push(t);
                }
            }
        }
    }
    seen
}

fn info() -> Value {
    json!({"title": "Kubernetes", "version": INFO_VERSION})
}

/// The OpenAPI v2 document: every message of the table as a definition.
pub fn v2() -> Value {
    let b = Builder {
        v3: false,
        desc: descriptions(),
    };
    let mut defs = Map::new();
    for m in messages() {
        defs.insert(m.openapi_name(), b.definition(m));
    }
    json!({"swagger": "2.0", "info": info(), "paths": {}, "definitions": defs})
}

/// The group versions with a v3 document, as the index names them (`api/v1`, `apis/apps/v1`).
pub fn v3_paths() -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    for k in kinds().iter().filter(|k| !k.plural.is_empty()) {
        out.insert(gv_path(k.group, k.version));
    }
    out.into_iter().collect()
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The v3 document of one group version (`api/v1`, `apis/apps/v1`); None for one we lack.
pub fn v3(path: &str) -> Option<Value> {
    let served: Vec<_> = kinds()
        .iter()
        .filter(|k| !k.plural.is_empty() && gv_path(k.group, k.version) == path)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut roots: Vec<&'static str> = vec![
        "k8s.io.apimachinery.pkg.apis.meta.v1.Status",
        "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        "k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent",
    ];
    for k in &served {
        roots.push(k.message);
        let list = format!("{}List", k.message);
        if let Some(m) = message(&list) {
            roots.push(m.name);
        }
    }
    let b = Builder {
        v3: true,
        desc: descriptions(),
    };
    let mut schemas = Map::new();
    for n in reachable(&roots) {
        if let Some(m) = message(n) {
            schemas.insert(m.openapi_name(), b.definition(m));
        }
    }
    let mut paths = Map::new();
    for k in &served {
        resource_paths(k, &mut paths);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": info(),
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// A query parameter of the write operations: `fieldValidation` is there because the server
/// honours it (kubectl then leaves unknown-field validation to the server, as with a real one).
fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

/// The patch types a patch operation takes, as upstream lists them: kubectl checks for the
/// strategic merge patch here before it reads patch merge keys from the v3 schemas.
const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

fn operation(k: &Kind, action: &str, schema: &str, writes: bool) -> Value {
    let mut params = vec![query_param("pretty")];
    if writes {
        params.push(query_param("dryRun"));
        params.push(query_param("fieldManager"));
        params.push(query_param("fieldValidation"));
    }
    let content = json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", openapi_name(schema))}}});
    let mut op = json!({
        "operationId": format!("{action}{}", k.kind),
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": content}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": k.group, "version": k.version, "kind": k.kind},
    });
    if action == "patch" {
        let body: Map<String, Value> = PATCH_TYPES
            .iter()
            .map(|t| (t.to_string(), json!({"schema": {"type": "object"}})))
            .collect();
        op["requestBody"] = json!({"content": body, "required": true});
    } else if writes {
        op["requestBody"] = json!({"content": {"*/*": {"schema": {"$ref": format!("#/components/schemas/{}", openapi_name(schema))}}}, "required": true});
    }
    op
}

/// The collection and object paths of a served kind, with the operations kubectl looks for
/// (explain finds a resource's kind through them; apply checks `fieldValidation` on patch).
fn resource_paths(k: &Kind, paths: &mut Map<String, Value>) {
    let prefix = if k.group.is_empty() {
        format!("/api/{}", k.version)
    } else {
        format!("/apis/{}/{}", k.group, k.version)
    };
    let base = if k.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", k.plural)
    } else {
        format!("{prefix}/{}", k.plural)
    };
    let list = format!("{}List", k.message);
    let list_schema = if message(&list).is_some() {
        list.as_str()
    } else {
        k.message
    };
    paths.insert(
        base.clone(),
        json!({
            "get": operation(k, "list", list_schema, false),
            "post": operation(k, "post", k.message, true),
        }),
    );
    paths.insert(
        format!("{base}/{{name}}"),
        json!({
            "get": operation(k, "get", k.message, false),
            "put": operation(k, "put", k.message, true),
            "patch": operation(k, "patch", k.message, true),
            "delete": operation(k, "delete", "k8s.io.apimachinery.pkg.apis.meta.v1.Status", false),
        }),
    );
}

/// The v3 index: each group version's document URL, with `hash` (the hash of its text)
/// so that clients cache it.
pub fn v3_index(hashes: &[(String, String)]) -> Value {
    let mut paths = Map::new();
    for (p, h) in hashes {
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={h}")}),
        );
    }
    json!({ "paths": paths })
}

/// A stable hash of a document's text (FNV-1a, 128 bits as two 64-bit halves, upper-case hex).
pub fn hash(text: &str) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for &x in text.as_bytes() {
        a = (a ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
        b = (b ^ u64::from(x.rotate_left(3))).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{a:016X}{b:016X}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_descriptions_name_real_definitions_and_fields() {
        let d = descriptions();
        assert!(d.len() > 10, "the YAML parses");
        for (def, fields) in d.iter().filter(|(k, _)| *k != EVERY_KIND) {
            let m = messages()
                .iter()
                .find(|m| &m.openapi_name() == def)
                .unwrap_or_else(|| panic!("{def} is not a definition"));
            for f in fields.keys().filter(|k| *k != "_") {
                assert!(m.field(f).is_some(), "{def} has no field {f}");
            }
        }
    }

    #[test]
    fn the_v2_service_definitions_follow_upstream() {
        let doc = v2();
        let defs = &doc["definitions"];
        let svc = &defs["io.k8s.api.core.v1.Service"];
        assert_eq!(
            svc["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "Service", "version": "v1"}])
        );
        assert_eq!(
            svc["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.ServiceSpec"
        );
        assert!(svc["description"].as_str().unwrap().contains("ClusterIP"));
        let ports = &defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"];
        assert_eq!(ports["type"], "array");
        assert_eq!(ports["x-kubernetes-patch-merge-key"], "port");
        assert_eq!(ports["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(ports["x-kubernetes-list-type"], "map");
        assert_eq!(
            ports["x-kubernetes-list-map-keys"],
            json!(["port", "protocol"])
        );
        let port = &defs["io.k8s.api.core.v1.ServicePort"];
        assert_eq!(port["required"], json!(["port"]));
        assert_eq!(
            port["properties"]["port"],
            json!({"type": "integer", "format": "int32",
            "description": "The port the Service listens on, at its ClusterIP."})
        );
        assert_eq!(
            defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"],
            json!({"type": "string", "format": "int-or-string"})
        );
        // A field we do not describe has no description.
        assert!(
            defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["loadBalancerClass"]
                .get("description")
                .is_none()
        );
        // Inline structs are flattened: a volume has configMap directly.
        assert!(defs["io.k8s.api.core.v1.Volume"]["properties"]["configMap"].is_object());
        assert!(defs["io.k8s.api.core.v1.Volume"]["properties"]["volumeSource"].is_null());
    }

    #[test]
    fn v3_documents_per_group_version_and_their_index() {
        let paths = v3_paths();
        assert!(paths.contains(&"api/v1".to_string()));
        assert!(paths.contains(&"apis/apps/v1".to_string()));
        assert!(paths.contains(&"apis/discovery.k8s.io/v1".to_string()));
        let apps = v3("apis/apps/v1").unwrap();
        let schemas = &apps["components"]["schemas"];
        let spec = &schemas["io.k8s.api.apps.v1.DeploymentSpec"];
        assert_eq!(spec["required"], json!(["selector", "template"]));
        assert_eq!(
            spec["properties"]["template"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec"
        );
        assert!(
            schemas["io.k8s.api.core.v1.Container"].is_object(),
            "reachable schemas come along"
        );
        assert!(
            schemas["io.k8s.api.core.v1.Service"].is_null(),
            "other group versions do not"
        );
        assert_eq!(
            schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
                ["x-kubernetes-int-or-string"],
            true
        );
        assert!(v3("apis/nope/v1").is_none());
        let idx = v3_index(&[("api/v1".into(), hash("x"))]);
        assert_eq!(
            idx["paths"]["api/v1"]["serverRelativeURL"],
            format!("/openapi/v3/api/v1?hash={}", hash("x"))
        );
        assert_ne!(hash("a"), hash("b"));
    }
}
