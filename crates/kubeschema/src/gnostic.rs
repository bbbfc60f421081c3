//! The OpenAPI v2 document in gnostic's protobuf (`openapi.v2.Document` of
//! `openapiv2/OpenAPIv2.proto` in google/gnostic-models): what kube-apiserver serves at
//! `/openapi/v2` to a client asking for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`,
//! as client-go's `OpenAPISchema()` (so every kubectl) does.
//!
//! The JSON document is converted as gnostic's `NewDocument` converts it: `$ref` is `_ref`, `type`
//! a `TypeItem` (its repeated `value`), `items` an `ItemsItem` holding one schema,
//! `additionalProperties` an `AdditionalPropertiesItem` (a schema or a boolean), maps of names
//! (`definitions`, `properties`, `paths`) repeated `Named*` pairs in document order, and every
//! `x-` key a `NamedAny` whose `Any.yaml` is the YAML text of the value. Fields are written in
//! field-number order and zero scalars left out, as Go's `proto.Marshal` does.
//!
//! Only the parts of Swagger 2.0 our document uses are known (the schema object whole; no path
//! items, parameters or responses): any other key is an error, so a key added to
//! `openapi::v2()` fails the tests instead of silently missing from the protobuf.

use serde_json::Map;
use serde_json::Value;

use crate::codec::Error;
use crate::codec::Result;
use crate::wire::put_key;
use crate::wire::put_len;
use crate::wire::put_varint;
use crate::wire::FIXED64;
use crate::wire::VARINT;

/// The media type client-go asks for (kube-openapi calls this spelling deprecated and also
/// accepts [`PROTOBUF_V2_RESPONSE`]).
pub const PROTOBUF_V2: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The media type kube-apiserver names in the response, whichever spelling was asked for.
pub const PROTOBUF_V2_RESPONSE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// How a JSON value goes to a field.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Strs,
    Bool,
    Int,
    Double,
    /// `Any` (its `yaml`).
    Any,
    /// repeated `Any`.
    Anys,
    Info,
    Paths,
    /// `Definitions` / `Properties`: repeated `NamedSchema` at field 1.
    NamedSchemas,
    Schemas,
    TypeItem,
    ItemsItem,
    AdditionalProperties,
}

/// A message: its JSON keys with field numbers (in field-number order) and the field of its
/// vendor extensions.
struct Msg {
    name: &'static str,
    fields: &'static [(&'static str, u32, Kind)],
    extensions: u32,
}

const DOCUMENT: Msg = Msg {
    name: "Document",
    fields: &[
        ("swagger", 1, Kind::Str),
        ("info", 2, Kind::Info),
        ("host", 3, Kind::Str),
        ("basePath", 4, Kind::Str),
        ("schemes", 5, Kind::Strs),
        ("consumes", 6, Kind::Strs),
        ("produces", 7, Kind::Strs),
        ("paths", 8, Kind::Paths),
        ("definitions", 9, Kind::NamedSchemas),
    ],
    extensions: 16,
};

const INFO: Msg = Msg {
    name: "Info",
    fields: &[
        ("title", 1, Kind::Str),
        ("version", 2, Kind::Str),
        ("description", 3, Kind::Str),
        ("termsOfService", 4, Kind::Str),
    ],
    extensions: 7,
};

const SCHEMA: Msg = Msg {
    name: "Schema",
    fields: &[
        ("$ref", 1, Kind::Str),
        ("format", 2, Kind::Str),
        ("title", 3, Kind::Str),
        ("description", 4, Kind::Str),
        ("default", 5, Kind::Any),
        ("multipleOf", 6, Kind::Double),
        ("maximum", 7, Kind::Double),
        ("exclusiveMaximum", 8, Kind::Bool),
        ("minimum", 9, Kind::Double),
        ("exclusiveMinimum", 10, Kind::Bool),
        ("maxLength", 11, Kind::Int),
        ("minLength", 12, Kind::Int),
        ("pattern", 13, Kind::Str),
        ("maxItems", 14, Kind::Int),
        ("minItems", 15, Kind::Int),
        ("uniqueItems", 16, Kind::Bool),
        ("maxProperties", 17, Kind::Int),
        ("minProperties", 18, Kind::Int),
        ("required", 19, Kind::Strs),
        ("enum", 20, Kind::Anys),
        ("additionalProperties", 21, Kind::AdditionalProperties),
        ("type", 22, Kind::TypeItem),
        ("items", 23, Kind::ItemsItem),
        ("allOf", 24, Kind::Schemas),
        ("properties", 25, Kind::NamedSchemas),
        ("discriminator", 26, Kind::Str),
        ("readOnly", 27, Kind::Bool),
        ("example", 30, Kind::Any),
    ],
    extensions: 31,
};

/// Nesting deeper than this is refused (the document is ours, but a cycle would not end).
const MAX_DEPTH: usize = 64;

/// The v2 document (`openapi::v2()`) as gnostic's `openapi.v2.Document` protobuf.
pub fn encode_v2(doc: &Value) -> Result<Vec<u8>> {
    message(doc, &DOCUMENT, 0)
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| Error::new(format!("{what}: expected an object, got {v}")))
}

fn string<'a>(v: &'a Value, what: &str) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| Error::new(format!("{what}: expected a string, got {v}")))
}

fn message(v: &Value, msg: &Msg, depth: usize) -> Result<Vec<u8>> {
    if depth > MAX_DEPTH {
        return Err(Error::new("the OpenAPI document nests too deep"));
    }
    let o = object(v, msg.name)?;
    if let Some(k) = o
        .keys()
        .find(|k| !k.starts_with("x-") && !msg.fields.iter().any(|(n, _, _)| n == k))
    {
        return Err(Error::new(format!(
            "{}: no protobuf field for {k:?}",
            msg.name
        )));
    }
    let mut out = Vec::new();
    for &(name, tag, kind) in msg.fields {
        if let Some(fv) = o.get(name) {
            field(
                &mut out,
                tag,
                kind,
                fv,
                &format!("{}.{name}", msg.name),
                depth,
            )?;
        }
    }
    extensions(&mut out, msg.extensions, o);
    Ok(out)
}

/// The `x-` keys of an object as repeated `NamedAny` at `tag`, in document order.
fn extensions(out: &mut Vec<u8>, tag: u32, o: &Map<String, Value>) {
    for (k, v) in o.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut named = Vec::new();
        put_len(&mut named, 1, k.as_bytes());
        put_len(&mut named, 2, &any(v));
        put_len(out, tag, &named);
    }
}

/// `Any{yaml}`.
fn any(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    put_len(&mut out, 2, yaml(v).as_bytes());
    out
}

fn field(
    out: &mut Vec<u8>,
    tag: u32,
    kind: Kind,
    v: &Value,
    what: &str,
    depth: usize,
) -> Result<()> {
    match kind {
        Kind::Str => {
            let s = string(v, what)?;
            if !s.is_empty() {
                put_len(out, tag, s.as_bytes());
            }
        }
        Kind::Strs => {
            let a = v
                .as_array()
                .ok_or_else(|| Error::new(format!("{what}: expected an array, got {v}")))?;
            for s in a {
                put_len(out, tag, string(s, what)?.as_bytes());
            }
        }
        Kind::Bool => {
            let b = v
                .as_bool()
                .ok_or_else(|| Error::new(format!("{what}: expected a boolean, got {v}")))?;
            if b {
                put_key(out, tag, VARINT);
                put_varint(out, 1);
            }
        }
        Kind::Int => {
            let n = v
                .as_i64()
                .ok_or_else(|| Error::new(format!("{what}: expected an integer, got {v}")))?;
            if n != 0 {
                put_key(out, tag, VARINT);
                put_varint(out, n as u64);
            }
        }
        Kind::Double => {
            let n = v
                .as_f64()
                .ok_or_else(|| Error::new(format!("{what}: expected a number, got {v}")))?;
            if n.to_bits() != 0 {
                put_key(out, tag, FIXED64);
                out.extend_from_slice(&n.to_bits().to_le_bytes());
            }
        }
        Kind::Any => put_len(out, tag, &any(v)),
        Kind::Anys => {
            let a = v
                .as_array()
                .ok_or_else(|| Error::new(format!("{what}: expected an array, got {v}")))?;
            for x in a {
                put_len(out, tag, &any(x));
            }
        }
        Kind::Info => put_len(out, tag, &message(v, &INFO, depth + 1)?),
        Kind::Schemas => {
            let a = v
                .as_array()
                .ok_or_else(|| Error::new(format!("{what}: expected an array, got {v}")))?;
            for s in a {
                put_len(out, tag, &message(s, &SCHEMA, depth + 1)?);
            }
        }
        Kind::NamedSchemas => {
            // `Definitions` / `Properties`: repeated NamedSchema additional_properties = 1.
            let mut inner = Vec::new();
            for (name, s) in object(v, what)? {
                let mut named = Vec::new();
                put_len(&mut named, 1, name.as_bytes());
                put_len(&mut named, 2, &message(s, &SCHEMA, depth + 1)?);
                put_len(&mut inner, 1, &named);
            }
            put_len(out, tag, &inner);
        }
        Kind::Paths => {
            // `Paths`: vendor_extension = 1, path = 2 (`/...` keys, PathItem: not known here).
            let o = object(v, what)?;
            if let Some(p) = o.keys().find(|k| !k.starts_with("x-")) {
                return Err(Error::new(format!(
                    "{what}: path items are not encoded (found {p:?})"
                )));
            }
            let mut inner = Vec::new();
            extensions(&mut inner, 1, o);
            put_len(out, tag, &inner);
        }
        Kind::TypeItem => {
            // `TypeItem`: repeated string value = 1, from a string or an array of strings.
            let mut inner = Vec::new();
            match v {
                Value::Array(a) => {
                    for s in a {
                        put_len(&mut inner, 1, string(s, what)?.as_bytes());
                    }
                }
                _ => put_len(&mut inner, 1, string(v, what)?.as_bytes()),
            }
            put_len(out, tag, &inner);
        }
        Kind::ItemsItem => {
            // `ItemsItem`: repeated Schema schema = 1; gnostic takes one schema object.
            let mut inner = Vec::new();
            put_len(&mut inner, 1, &message(v, &SCHEMA, depth + 1)?);
            put_len(out, tag, &inner);
        }
        Kind::AdditionalProperties => {
            // oneof { Schema schema = 1; bool boolean = 2; } (a set oneof is written even false).
            let mut inner = Vec::new();
            match v {
                Value::Bool(b) => {
                    put_key(&mut inner, 2, VARINT);
                    put_varint(&mut inner, u64::from(*b));
                }
                _ => put_len(&mut inner, 1, &message(v, &SCHEMA, depth + 1)?),
            }
            put_len(out, tag, &inner);
        }
    }
    Ok(())
}

/// Words YAML 1.1 readers (Go's yaml.v2, which kube-openapi reads extensions with) take for
/// something other than a string when plain.
const YAML11_WORDS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
];

/// Whether a string can be written plain and still read back as the same string.
fn plain(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !YAML11_WORDS.contains(&s)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if plain(s) => s.clone(),
        // A JSON string literal is a YAML double-quoted scalar.
        Value::String(s) => Value::String(s.clone()).to_string(),
        other => other.to_string(),
    }
}

/// The block-style YAML text of a JSON value, as gnostic's `Any.yaml` holds it (yaml.v3's
/// layout: `- ` items, nested mappings indented by two), ending in a newline.
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    yaml_into(&mut out, v, 0);
    out
}

fn yaml_into(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Array(a) if !a.is_empty() => {
            for x in a {
                out.push_str(&pad);
                out.push_str("- ");
                let mut inner = String::new();
                yaml_into(&mut inner, x, indent + 2);
                // The item's first line goes after the dash.
                out.push_str(inner.trim_start());
            }
        }
        Value::Object(o) if !o.is_empty() => {
            for (k, x) in o {
                out.push_str(&pad);
                out.push_str(&scalar(&Value::String(k.clone())));
                out.push(':');
                match x {
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        yaml_into(out, x, indent);
                    }
                    Value::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        yaml_into(out, x, indent + 2);
                    }
                    _ => {
                        out.push(' ');
                        yaml_into(out, x, 0);
                    }
                }
            }
        }
        Value::Array(_) => out.push_str("[]\n"),
        Value::Object(_) => out.push_str("{}\n"),
        _ => {
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use serde_json::json;

    // The messages of gnostic-models' openapiv2/OpenAPIv2.proto the document uses, field numbers
    // as there, decoded by prost: an independent reader of what `encode_v2` writes.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Document {
        #[prost(string, tag = "1")]
        swagger: String,
        #[prost(message, optional, tag = "2")]
        info: Option<Info>,
        #[prost(message, optional, tag = "8")]
        paths: Option<Paths>,
        #[prost(message, optional, tag = "9")]
        definitions: Option<Definitions>,
        #[prost(message, repeated, tag = "16")]
        vendor_extension: Vec<NamedAny>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Info {
        #[prost(string, tag = "1")]
        title: String,
        #[prost(string, tag = "2")]
        version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Paths {
        #[prost(message, repeated, tag = "1")]
        vendor_extension: Vec<NamedAny>,
        #[prost(bytes = "vec", repeated, tag = "2")]
        path: Vec<Vec<u8>>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Definitions {
        #[prost(message, repeated, tag = "1")]
        additional_properties: Vec<NamedSchema>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct NamedSchema {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(message, optional, tag = "2")]
        value: Option<Schema>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct NamedAny {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(message, optional, tag = "2")]
        value: Option<Any>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Any {
        #[prost(bytes = "vec", optional, tag = "1")]
        value: Option<Vec<u8>>,
        #[prost(string, tag = "2")]
        yaml: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Schema {
        #[prost(string, tag = "1")]
        xref: String,
        #[prost(string, tag = "2")]
        format: String,
        #[prost(string, tag = "4")]
        description: String,
        #[prost(message, optional, tag = "5")]
        default: Option<Any>,
        #[prost(double, tag = "7")]
        maximum: f64,
        #[prost(int64, tag = "12")]
        min_length: i64,
        #[prost(bool, tag = "16")]
        unique_items: bool,
        #[prost(string, repeated, tag = "19")]
        required: Vec<String>,
        #[prost(message, repeated, tag = "20")]
        r#enum: Vec<Any>,
        #[prost(message, optional, boxed, tag = "21")]
        additional_properties: Option<Box<AdditionalPropertiesItem>>,
        #[prost(message, optional, tag = "22")]
        r#type: Option<TypeItem>,
        #[prost(message, optional, tag = "23")]
        items: Option<ItemsItem>,
        #[prost(message, repeated, tag = "24")]
        all_of: Vec<Schema>,
        #[prost(message, optional, tag = "25")]
        properties: Option<Definitions>,
        #[prost(message, repeated, tag = "31")]
        vendor_extension: Vec<NamedAny>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct AdditionalPropertiesItem {
        #[prost(oneof = "Oneof", tags = "1, 2")]
        oneof: Option<Oneof>,
    }
    #[derive(Clone, PartialEq, prost::Oneof)]
    enum Oneof {
        #[prost(message, boxed, tag = "1")]
        Schema(Box<Schema>),
        #[prost(bool, tag = "2")]
        Boolean(bool),
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct TypeItem {
        #[prost(string, repeated, tag = "1")]
        value: Vec<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct ItemsItem {
        #[prost(message, repeated, tag = "1")]
        schema: Vec<Schema>,
    }

    fn from_yaml(a: &Any) -> Value {
        serde_yaml_ng::from_str(&a.yaml).unwrap_or_else(|e| panic!("{:?}: {e}", a.yaml))
    }

    fn ext(o: &mut Map<String, Value>, e: &[NamedAny]) {
        for n in e {
            o.insert(n.name.clone(), from_yaml(n.value.as_ref().unwrap()));
        }
    }

    /// The JSON gnostic's `ToRawInfo` would give back, for the fields decoded here.
    fn schema_json(s: &Schema) -> Value {
        let mut o = Map::new();
        let mut put = |k: &str, v: Value| {
            o.insert(k.to_string(), v);
        };
        if !s.xref.is_empty() {
            put("$ref", json!(s.xref));
        }
        if !s.format.is_empty() {
            put("format", json!(s.format));
        }
        if !s.description.is_empty() {
            put("description", json!(s.description));
        }
        if let Some(d) = &s.default {
            put("default", from_yaml(d));
        }
        if s.maximum != 0.0 {
            put("maximum", json!(s.maximum));
        }
        if s.min_length != 0 {
            put("minLength", json!(s.min_length));
        }
        if s.unique_items {
            put("uniqueItems", json!(true));
        }
        if !s.required.is_empty() {
            put("required", json!(s.required));
        }
        if !s.r#enum.is_empty() {
            put("enum", s.r#enum.iter().map(from_yaml).collect());
        }
        match s
            .additional_properties
            .as_deref()
            .and_then(|a| a.oneof.as_ref())
        {
            Some(Oneof::Schema(x)) => put("additionalProperties", schema_json(x)),
            Some(Oneof::Boolean(b)) => put("additionalProperties", json!(b)),
            None => {}
        }
        if let Some(t) = &s.r#type {
            match t.value.as_slice() {
                [one] => put("type", json!(one)),
                many => put("type", json!(many)),
            }
        }
        if let Some(i) = &s.items {
            assert_eq!(i.schema.len(), 1);
            put("items", schema_json(&i.schema[0]));
        }
        if !s.all_of.is_empty() {
            put("allOf", s.all_of.iter().map(schema_json).collect());
        }
        if let Some(p) = &s.properties {
            put("properties", named(&p.additional_properties));
        }
        ext(&mut o, &s.vendor_extension);
        Value::Object(o)
    }

    fn named(n: &[NamedSchema]) -> Value {
        Value::Object(
            n.iter()
                .map(|n| (n.name.clone(), schema_json(n.value.as_ref().unwrap())))
                .collect(),
        )
    }

    fn document_json(bytes: &[u8]) -> Value {
        let d = Document::decode(bytes).expect("a gnostic Document");
        let info = d.info.unwrap();
        let paths = d.paths.expect("paths present");
        assert!(paths.path.is_empty());
        let mut o = Map::new();
        o.insert("swagger".into(), json!(d.swagger));
        o.insert(
            "info".into(),
            json!({"title": info.title, "version": info.version}),
        );
        let mut p = Map::new();
        ext(&mut p, &paths.vendor_extension);
        o.insert("paths".into(), Value::Object(p));
        o.insert(
            "definitions".into(),
            named(&d.definitions.unwrap().additional_properties),
        );
        ext(&mut o, &d.vendor_extension);
        Value::Object(o)
    }

    #[test]
    fn the_v2_document_decodes_back_to_its_json() {
        let doc = crate::openapi::v2();
        let bytes = encode_v2(&doc).expect("every key of the v2 document has a field");
        assert_eq!(document_json(&bytes), doc);
        // What kubectl reads from it: a kind's group-version-kind, a list's merge key.
        let d = Document::decode(bytes.as_slice()).unwrap();
        let defs = d.definitions.unwrap().additional_properties;
        let svc = defs
            .iter()
            .find(|n| n.name == "io.k8s.api.core.v1.Service")
            .and_then(|n| n.value.as_ref())
            .unwrap();
        assert_eq!(
            svc.vendor_extension[0].name,
            "x-kubernetes-group-version-kind"
        );
        assert_eq!(
            svc.vendor_extension[0].value.as_ref().unwrap().yaml,
            "- group: \"\"\n  kind: Service\n  version: v1\n"
        );
        let spec = svc.properties.as_ref().unwrap().additional_properties[..]
            .iter()
            .find(|n| n.name == "spec")
            .unwrap();
        assert_eq!(
            spec.value.as_ref().unwrap().xref,
            "#/definitions/io.k8s.api.core.v1.ServiceSpec"
        );
    }

    #[test]
    fn the_bytes_follow_field_numbers_and_proto3_presence() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "T", "version": ""},
            "paths": {},
            "definitions": {"a": {
                "type": "object",
                "additionalProperties": false,
                "uniqueItems": false,
                "x-k": "on"
            }}
        });
        let b = encode_v2(&doc).unwrap();
        let schema = [
            0xaa, 0x01, 0x02, 0x10, 0x00, // additionalProperties (21): {boolean (2): false}
            0xb2, 0x01, 0x08, 0x0a, 0x06, b'o', b'b', b'j', b'e', b'c', b't', // type (22)
            0xfa, 0x01, 0x0e, 0x0a, 0x03, b'x', b'-', b'k', // vendor_extension (31): name
            0x12, 0x07, 0x12, 0x05, b'"', b'o', b'n', b'"', b'\n', // value: Any{yaml}
        ];
        let mut want = vec![0x0a, 0x03, b'2', b'.', b'0']; // swagger (1)
        want.extend([0x12, 0x03, 0x0a, 0x01, b'T']); // info (2), empty version left out
        want.extend([0x42, 0x00]); // paths (8), present and empty
        let mut named = vec![0x0a, 0x01, b'a', 0x12, schema.len() as u8];
        named.extend(schema);
        want.extend([0x4a, named.len() as u8 + 2, 0x0a, named.len() as u8]);
        want.extend(named);
        assert_eq!(b, want);
        let back = document_json(&b);
        assert_eq!(back["definitions"]["a"]["additionalProperties"], false);
        assert_eq!(back["definitions"]["a"]["x-k"], "on");
    }

    #[test]
    fn keys_without_a_field_are_refused() {
        let e = encode_v2(&json!({"swagger": "2.0", "bogus": 1})).unwrap_err();
        assert!(e.0.contains("\"bogus\""), "{e}");
        let e = encode_v2(&json!({"definitions": {"a": {"nullable": true}}})).unwrap_err();
        assert!(e.0.contains("\"nullable\""), "{e}");
        let e = encode_v2(&json!({"paths": {"/api": {}}})).unwrap_err();
        assert!(e.0.contains("path items"), "{e}");
    }

    #[test]
    fn extension_yaml_reads_back_as_the_same_value() {
        for v in [
            json!("merge,retainKeys"),
            json!(["port", "protocol"]),
            json!([{"group": "", "kind": "Service", "version": "v1"}]),
            json!({"a": {"b": [1, 2.5, true, null]}, "c": [], "d": {}}),
            json!(["yes", "on", "No", "~", "1", "-x", "a: b", "#c", "x\ny", "é"]),
            json!(true),
            json!([[1, 2], [3]]),
        ] {
            let y = yaml(&v);
            let back: Value = serde_yaml_ng::from_str(&y).unwrap_or_else(|e| panic!("{y}: {e}"));
            assert_eq!(back, v, "{y}");
        }
        assert_eq!(
            yaml(&json!("yes")),
            "\"yes\"\n",
            "YAML 1.1 booleans are quoted"
        );
        assert_eq!(yaml(&json!("atomic")), "atomic\n");
    }
}
