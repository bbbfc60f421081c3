//! The generator of `src/generated.rs`: reads k8s-pb's prost sources (the Rust that
//! prost-build wrote from Kubernetes' `generated.proto` files) with `syn` and writes the table
//! of the messages reachable from the kinds the lab serves.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use syn::punctuated::Punctuated;
use syn::Expr;
use syn::Lit;
use syn::Meta;
use syn::Token;

/// The modules of k8s-pb whose messages the table may reach.
const MODULES: &[&str] = &[
    "api/core/v1",
    "api/apps/v1",
    "api/discovery/v1",
    "api/networking/v1",
    "api/coordination/v1",
    "api/events/v1",
    "api/autoscaling/v1",
    "api/authorization/v1",
    "api/authentication/v1",
    "apimachinery/pkg/apis/meta/v1",
    "apimachinery/pkg/api/resource",
    "apimachinery/pkg/util/intstr",
    "apimachinery/pkg/runtime",
];

/// The kinds served (module, Rust struct name; meta/v1 Table has no protobuf form upstream: it
/// is served as JSON only); each one's `XList` comes along when it exists.
const ROOTS: &[(&str, &str)] = &[
    ("api/core/v1", "Namespace"),
    ("api/core/v1", "Node"),
    ("api/core/v1", "Pod"),
    ("api/core/v1", "Service"),
    ("api/core/v1", "Endpoints"),
    ("api/core/v1", "ConfigMap"),
    ("api/core/v1", "Secret"),
    ("api/core/v1", "ServiceAccount"),
    ("api/core/v1", "Event"),
    ("api/core/v1", "Binding"),
    ("api/apps/v1", "Deployment"),
    ("api/apps/v1", "ReplicaSet"),
    ("api/apps/v1", "DaemonSet"),
    ("api/discovery/v1", "EndpointSlice"),
    ("api/networking/v1", "NetworkPolicy"),
    ("api/networking/v1", "ServiceCIDR"),
    ("api/coordination/v1", "Lease"),
    ("api/events/v1", "Event"),
    ("api/autoscaling/v1", "Scale"),
    ("api/authorization/v1", "SelfSubjectAccessReview"),
    ("api/authorization/v1", "SelfSubjectRulesReview"),
    ("api/authentication/v1", "SelfSubjectReview"),
    ("apimachinery/pkg/apis/meta/v1", "Status"),
    ("apimachinery/pkg/apis/meta/v1", "DeleteOptions"),
    ("apimachinery/pkg/apis/meta/v1", "WatchEvent"),
    ("apimachinery/pkg/apis/meta/v1", "PartialObjectMetadata"),
    ("apimachinery/pkg/apis/meta/v1", "PartialObjectMetadataList"),
    ("apimachinery/pkg/runtime", "Unknown"),
];

/// Go structs embedded `json:",inline"` in the types: the proto has a field of that message
/// named after the type (`localObjectReference`), the JSON has its fields in the parent's.
const INLINE_TYPES: &[&str] = &[
    "LocalObjectReference",
    "VolumeSource",
    "EphemeralContainerCommon",
    "PersistentVolumeSource",
    "TypeMeta",
];

/// Embedded structs whose proto field has another name than the type: (type, proto field).
/// `Probe` embeds `ProbeHandler` as proto field `handler`; in JSON, `httpGet`, `exec`,
/// `tcpSocket` and `grpc` sit in the probe itself.
const INLINE_RENAMED: &[(&str, &str)] = &[("ProbeHandler", "handler")];

/// Kinds that k8s-pb gives no `Resource` impl: (group, version, kind, Rust struct, module).
/// Meta kinds have no plural: they travel in bodies under any group version.
const EXTRA_KINDS: &[(&str, &str, &str, &str, &str)] = &[
    ("autoscaling", "v1", "Scale", "Scale", "api/autoscaling/v1"),
    (
        "",
        "v1",
        "Status",
        "Status",
        "apimachinery/pkg/apis/meta/v1",
    ),
    (
        "",
        "v1",
        "DeleteOptions",
        "DeleteOptions",
        "apimachinery/pkg/apis/meta/v1",
    ),
    (
        "",
        "v1",
        "WatchEvent",
        "WatchEvent",
        "apimachinery/pkg/apis/meta/v1",
    ),
    (
        "meta.k8s.io",
        "v1",
        "PartialObjectMetadata",
        "PartialObjectMetadata",
        "apimachinery/pkg/apis/meta/v1",
    ),
    (
        "meta.k8s.io",
        "v1",
        "PartialObjectMetadataList",
        "PartialObjectMetadataList",
        "apimachinery/pkg/apis/meta/v1",
    ),
];

#[derive(Debug, Clone)]
struct GenField {
    json: String,
    tag: u32,
    /// Scalar name (`String`...) or the target (module, Rust name) of a message.
    ty: GenTy,
    label: String,
    merge_key: Option<String>,
    strategy: Option<String>,
    list_type: Option<String>,
    map_keys: Vec<String>,
    optional: bool,
    inline: bool,
}

#[derive(Debug, Clone)]
enum GenTy {
    Scalar(&'static str),
    Message(String, String),
}

#[derive(Debug, Clone)]
struct GenMessage {
    proto: String,
    fields: Vec<GenField>,
}

struct GenKind {
    group: String,
    version: String,
    kind: String,
    plural: String,
    namespaced: bool,
    module: String,
    rust: String,
}

/// Reads the k8s-pb sources under `src` (the crate's `src/` folder) and returns the text of
/// `generated.rs`.
pub fn generate(src: &Path) -> Result<String, String> {
    let mut messages: BTreeMap<(String, String), GenMessage> = BTreeMap::new();
    let mut kinds: Vec<GenKind> = Vec::new();
    for module in MODULES {
        let file = src.join(module).join("mod.rs");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        let ast = syn::parse_file(&text).map_err(|e| format!("parsing {}: {e}", file.display()))?;
        read_module(module, &ast, &mut messages, &mut kinds)?;
    }
    for (group, version, kind, rust, module) in EXTRA_KINDS {
        kinds.push(GenKind {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: String::new(),
            namespaced: false,
            module: module.to_string(),
            rust: rust.to_string(),
        });
    }
    // Reachability from the roots and their lists.
    let mut todo: Vec<(String, String)> = Vec::new();
    for (module, rust) in ROOTS {
        todo.push((module.to_string(), rust.to_string()));
        let list = (module.to_string(), format!("{rust}List"));
        if messages.contains_key(&list) {
            todo.push(list);
        }
    }
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    while let Some(key) = todo.pop() {
        if !seen.insert(key.clone()) {
            continue;
        }
        let m = messages
            .get(&key)
            .ok_or_else(|| format!("message {}::{} not found", key.0, key.1))?;
        for f in &m.fields {
            if let GenTy::Message(module, rust) = &f.ty {
                todo.push((module.clone(), rust.clone()));
            }
        }
    }
    let proto_of = |module: &str, rust: &str| -> Result<String, String> {
        messages
            .get(&(module.to_string(), rust.to_string()))
            .map(|m| m.proto.clone())
            .ok_or_else(|| format!("message {module}::{rust} not found"))
    };
    let mut out_msgs: Vec<(String, Vec<GenField>)> = Vec::new();
    for key in &seen {
        let m = &messages[key];
        out_msgs.push((m.proto.clone(), m.fields.clone()));
    }
    out_msgs.sort_by(|a, b| a.0.cmp(&b.0));

    let mut out = String::new();
    out.push_str(
        "// @generated by `cargo run -p kubeschema --features gen --bin kubeschema-gen` from the\n\
         // k8s-pb 0.9.0 sources. Do not edit: the test `generated_is_current` fails when this\n\
         // file differs from what the generator writes.\n\n\
         use crate::schema::Field;\nuse crate::schema::Kind;\nuse crate::schema::Label;\n\
         use crate::schema::Message;\nuse crate::schema::Scalar;\nuse crate::schema::Ty;\n\n\
         const fn f(\n    json: &'static str,\n    tag: u32,\n    ty: Ty,\n    label: Label,\n    optional: bool,\n) -> Field {\n    Field {\n        json,\n        tag,\n        ty,\n        label,\n        patch_merge_key: None,\n        patch_strategy: None,\n        list_type: None,\n        list_map_keys: &[],\n        optional,\n        inline: false,\n    }\n}\n\n",
    );
    out.push_str("pub(crate) static MESSAGES: &[Message] = &[\n");
    for (name, fields) in &out_msgs {
        let _ = writeln!(
            out,
            "    Message {{\n        name: {name:?},\n        fields: &["
        );
        for g in fields {
            let ty = match &g.ty {
                GenTy::Scalar(s) => format!("Ty::Scalar(Scalar::{s})"),
                GenTy::Message(module, rust) => {
                    format!("Ty::Message({:?})", proto_of(module, rust)?)
                }
            };
            let label = g.label.clone();
            let base = format!("f({:?}, {}, {ty}, {label}, {})", g.json, g.tag, g.optional);
            let plain = g.merge_key.is_none()
                && g.strategy.is_none()
                && g.list_type.is_none()
                && g.map_keys.is_empty()
                && !g.inline;
            if plain {
                let _ = writeln!(out, "            {base},");
            } else {
                let opt = |o: &Option<String>| match o {
                    Some(s) => format!("Some({s:?})"),
                    None => "None".to_string(),
                };
                let keys: Vec<String> = g.map_keys.iter().map(|k| format!("{k:?}")).collect();
                let _ = writeln!(
                    out,
                    "            Field {{\n                patch_merge_key: {},\n                patch_strategy: {},\n                list_type: {},\n                list_map_keys: &[{}],\n                inline: {},\n                ..{base}\n            }},",
                    opt(&g.merge_key),
                    opt(&g.strategy),
                    opt(&g.list_type),
                    keys.join(", "),
                    g.inline
                );
            }
        }
        out.push_str("        ],\n    },\n");
    }
    out.push_str("];\n\npub(crate) static KINDS: &[Kind] = &[\n");
    for k in &kinds {
        if !seen.contains(&(k.module.clone(), k.rust.clone())) {
            continue;
        }
        let _ = writeln!(
            out,
            "    Kind {{\n        group: {:?},\n        version: {:?},\n        kind: {:?},\n        plural: {:?},\n        namespaced: {},\n        message: {:?},\n    }},",
            k.group,
            k.version,
            k.kind,
            k.plural,
            k.namespaced,
            proto_of(&k.module, &k.rust)?
        );
    }
    out.push_str("];\n");
    Ok(out)
}

fn read_module(
    module: &str,
    ast: &syn::File,
    messages: &mut BTreeMap<(String, String), GenMessage>,
    kinds: &mut Vec<GenKind>,
) -> Result<(), String> {
    let package = format!("k8s.io.{}", module.replace('/', "."));
    for item in &ast.items {
        match item {
            syn::Item::Struct(s) => {
                if !s.attrs.iter().any(|a| a.path().is_ident("derive")) {
                    continue;
                }
                let rust = s.ident.to_string();
                let docs = doc_lines(&s.attrs);
                let proto_short = name_from_doc(&docs, &rust).unwrap_or_else(|| rust.clone());
                let mut fields = Vec::new();
                for f in &s.fields {
                    if let Some(g) = read_field(module, f)? {
                        fields.push(g);
                    }
                }
                messages.insert(
                    (module.to_string(), rust),
                    GenMessage {
                        proto: format!("{package}.{proto_short}"),
                        fields,
                    },
                );
            }
            syn::Item::Impl(i) => {
                let Some((_, trait_path, _)) = &i.trait_ else {
                    continue;
                };
                if trait_path.segments.last().map(|s| s.ident.to_string())
                    != Some("Resource".into())
                {
                    continue;
                }
                let syn::Type::Path(tp) = &*i.self_ty else {
                    continue;
                };
                let rust = tp.path.segments.last().map(|s| s.ident.to_string());
                let mut consts: BTreeMap<String, String> = BTreeMap::new();
                let mut namespaced = false;
                for it in &i.items {
                    match it {
                        syn::ImplItem::Const(c) => {
                            if let Expr::Lit(l) = &c.expr {
                                if let Lit::Str(s) = &l.lit {
                                    consts.insert(c.ident.to_string(), s.value());
                                }
                            }
                        }
                        syn::ImplItem::Type(t) => {
                            let ty = &t.ty;
                            let text = quote_type(ty);
                            namespaced = text.ends_with("NamespaceResourceScope");
                        }
                        _ => {}
                    }
                }
                let get = |k: &str| consts.get(k).cloned().unwrap_or_default();
                kinds.push(GenKind {
                    group: get("GROUP"),
                    version: get("VERSION"),
                    kind: get("KIND"),
                    plural: get("URL_PATH_SEGMENT"),
                    namespaced,
                    module: module.to_string(),
                    rust: rust.unwrap_or_default(),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

fn quote_type(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect::<Vec<_>>()
            .join("::"),
        _ => String::new(),
    }
}

fn doc_lines(attrs: &[syn::Attribute]) -> Vec<String> {
    let mut out = Vec::new();
    for a in attrs {
        if !a.path().is_ident("doc") {
            continue;
        }
        if let Meta::NameValue(nv) = &a.meta {
            if let Expr::Lit(l) = &nv.value {
                if let Lit::Str(s) = &l.lit {
                    for line in s.value().lines() {
                        out.push(line.trim().to_string());
                    }
                }
            }
        }
    }
    out
}

/// The first word of the doc when it names the item (compared without case and underscores).
fn name_from_doc(docs: &[String], rust: &str) -> Option<String> {
    let first = docs.iter().find(|l| !l.is_empty())?;
    let word: String = first
        .split_whitespace()
        .next()?
        .trim_end_matches([',', '.', ':'])
        .to_string();
    let norm = |s: &str| s.replace('_', "").to_ascii_lowercase();
    (norm(&word) == norm(rust.trim_start_matches("r#"))).then_some(word)
}

/// `IPFamilies` -> `ipFamilies`, `ClusterIPs` -> `clusterIPs`, `UID` -> `uid`: Kubernetes' JSON
/// names lower the leading run of capitals, all but the one that starts the next word.
fn go_json_of_field(go: &str) -> String {
    let chars: Vec<char> = go.chars().collect();
    let run = chars.iter().take_while(|c| c.is_ascii_uppercase()).count();
    let keep = if run > 1 && run < chars.len() && chars[run].is_ascii_lowercase() {
        run - 1
    } else {
        run
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep { c.to_ascii_lowercase() } else { *c })
        .collect()
}

/// Segments of a Rust field name that Kubernetes spells in capitals past the first word
/// (`host_pid` -> `hostPID`, `load_balancer_ip` -> `loadBalancerIP`).
const ACRONYMS: &[&str] = &[
    "ip", "id", "pid", "ipc", "uid", "url", "cidr", "uuid", "uri", "fqdn",
];

/// prost's snake case of a proto field name, as k8s-pb's sources show it: a boundary before a
/// capital that follows a small letter or digit (`hostPID` -> `host_pid`, `fieldsV1` ->
/// `fields_v1`), and before the capital that starts a small word after two or more capitals
/// (`podCIDRs` -> `pod_cid_rs`, `IPFamilies` -> `ip_families`, but `clusterIPs` -> `cluster_ips`).
fn snake_case(name: &str) -> String {
    let c: Vec<char> = name.chars().collect();
    let mut out = String::new();
    let mut run = 0;
    for i in 0..c.len() {
        let up = c[i].is_ascii_uppercase();
        if i > 0 && up {
            let prev = c[i - 1];
            let next_lower = c.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || prev.is_ascii_digit() || (run >= 2 && next_lower) {
                out.push('_');
                run = 0;
            }
        }
        run = if up { run + 1 } else { 0 };
        out.push(c[i].to_ascii_lowercase());
    }
    out
}

/// lowerCamelCase of a Rust field name (prost splits `IPs` as `i_ps`: rejoined as `IPs`).
fn lower_camel(rust: &str) -> String {
    let segs: Vec<&str> = rust.trim_start_matches("r#").split('_').collect();
    let mut out = String::new();
    let mut i = 0;
    while i < segs.len() {
        let seg = segs[i];
        if i == 0 {
            out.push_str(seg);
        } else if seg == "i" && segs.get(i + 1) == Some(&"ps") {
            out.push_str("IPs");
            i += 1;
        } else if ACRONYMS.contains(&seg) {
            out.push_str(&seg.to_ascii_uppercase());
        } else {
            let mut c = seg.chars();
            if let Some(first) = c.next() {
                out.push(first.to_ascii_uppercase());
                out.push_str(c.as_str());
            }
        }
        i += 1;
    }
    out
}

fn scalar(name: &str) -> Option<&'static str> {
    Some(match name {
        "string" => "String",
        "int32" => "Int32",
        "int64" => "Int64",
        "bool" => "Bool",
        "bytes" => "Bytes",
        "double" => "Double",
        _ => return None,
    })
}

fn read_field(module: &str, f: &syn::Field) -> Result<Option<GenField>, String> {
    let Some(attr) = f.attrs.iter().find(|a| a.path().is_ident("prost")) else {
        return Ok(None);
    };
    let rust = f
        .ident
        .as_ref()
        .map(|i| i.to_string())
        .ok_or("a tuple field")?;
    let metas = attr
        .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        .map_err(|e| format!("field {rust}: {e}"))?;
    let mut kind: Option<String> = None;
    let mut label = "Label::Optional".to_string();
    let mut tag = 0u32;
    for m in &metas {
        match m {
            Meta::Path(p) => {
                let id = p.get_ident().map(|i| i.to_string()).unwrap_or_default();
                match id.as_str() {
                    "optional" | "required" => {}
                    "repeated" => label = "Label::Repeated".into(),
                    other => kind = Some(other.to_string()),
                }
            }
            Meta::NameValue(nv) => {
                let id = nv
                    .path
                    .get_ident()
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                let val = match &nv.value {
                    Expr::Lit(l) => match &l.lit {
                        Lit::Str(s) => s.value(),
                        _ => String::new(),
                    },
                    _ => String::new(),
                };
                match id.as_str() {
                    // Kubernetes' repeated scalars are written unpacked (proto2); the codec
                    // reads both forms.
                    "packed" => {}
                    "tag" => {
                        tag = val
                            .parse()
                            .map_err(|_| format!("field {rust}: tag {val}"))?
                    }
                    "bytes" => kind = Some("bytes".into()),
                    "map" | "btree_map" | "hash_map" => {
                        let (k, v) = val.split_once(',').ok_or("map without value type")?;
                        let key = scalar(k.trim()).ok_or(format!("map key {k}"))?;
                        kind = Some(v.trim().to_string());
                        label = format!("Label::Map(Scalar::{key})");
                    }
                    other => return Err(format!("field {rust}: unknown prost attribute {other}")),
                }
            }
            Meta::List(_) => return Err(format!("field {rust}: unexpected list attribute")),
        }
    }
    let kind = kind.ok_or(format!("field {rust}: no type"))?;
    let ty = if kind == "message" {
        let (m, r) = message_target(module, &f.ty).ok_or(format!("field {rust}: message type"))?;
        GenTy::Message(m, r)
    } else {
        GenTy::Scalar(scalar(&kind).ok_or(format!("field {rust}: type {kind}"))?)
    };
    let docs = doc_lines(&f.attrs);
    // The proto field name is the JSON name and prost snake-cased it into the Rust name: a
    // candidate is right only if it snake-cases back to the Rust name. Candidates: the doc's
    // first word (`clusterIP is the IP address...`), the JSON form of a Go field name that
    // starts the doc (`ClusterIPs is a list...`), lowerCamelCase of the Rust name.
    let bare = rust.trim_start_matches("r#");
    let mut candidates = Vec::new();
    if let Some(w) = name_from_doc(&docs, &rust) {
        if w.starts_with(|c: char| c.is_ascii_lowercase()) {
            candidates.push(w);
        } else {
            candidates.push(go_json_of_field(&w));
        }
    }
    candidates.push(lower_camel(&rust));
    let json = candidates
        .iter()
        .find(|c| snake_case(c) == bare)
        .cloned()
        .unwrap_or_else(|| lower_camel(&rust));
    let inline = match &ty {
        GenTy::Message(_, r) => {
            (INLINE_TYPES.contains(&r.as_str()) && snake_case(&json) == snake_case(r))
                || INLINE_RENAMED.contains(&(r.as_str(), json.as_str()))
        }
        GenTy::Scalar(_) => false,
    };
    let marker = |name: &str| -> Vec<String> {
        docs.iter()
            .filter_map(|l| l.strip_prefix(&format!("+{name}=")))
            .map(|v| v.trim().to_string())
            .collect()
    };
    Ok(Some(GenField {
        json,
        tag,
        ty,
        label,
        merge_key: marker("patchMergeKey").into_iter().next(),
        strategy: marker("patchStrategy").into_iter().next(),
        list_type: marker("listType").into_iter().next(),
        map_keys: marker("listMapKey"),
        optional: docs.iter().any(|l| l == "+optional"),
        inline,
    }))
}

/// The (module, Rust name) of the message a field's type names, through Option/Vec/maps.
fn message_target(module: &str, ty: &syn::Type) -> Option<(String, String)> {
    let syn::Type::Path(tp) = ty else {
        return None;
    };
    let last = tp.path.segments.last()?;
    let ident = last.ident.to_string();
    if matches!(
        ident.as_str(),
        "Option" | "Vec" | "BTreeMap" | "HashMap" | "Box"
    ) {
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        let inner = args.args.iter().rev().find_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        })?;
        return message_target(module, inner);
    }
    let segs: Vec<String> = tp
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let mut path: Vec<String> = module.split('/').map(String::from).collect();
    let mut rest: &[String] = &segs;
    if rest.first().map(String::as_str) == Some("crate") {
        path.clear();
        rest = &rest[1..];
    }
    while rest.first().map(String::as_str) == Some("super") {
        path.pop();
        rest = &rest[1..];
    }
    let (name, dirs) = rest.split_last()?;
    path.extend(dirs.iter().cloned());
    Some((path.join("/"), name.clone()))
}

#[cfg(test)]
mod tests {
    use super::generate;
    use serde_json::Value;

    /// The k8s-pb sources, found with `cargo metadata`.
    fn k8s_pb_src() -> std::path::PathBuf {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo metadata");
        let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
        let pkg = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "k8s-pb")
            .expect("k8s-pb in the metadata");
        let manifest = std::path::PathBuf::from(pkg["manifest_path"].as_str().unwrap());
        manifest.parent().unwrap().join("src")
    }

    #[test]
    fn generated_is_current() {
        let text = generate(&k8s_pb_src()).expect("generate");
        let committed = include_str!("generated.rs");
        assert!(
            text == committed,
            "src/generated.rs is stale: run `cargo run -p kubeschema --features gen --bin kubeschema-gen -- <k8s-pb src>`"
        );
    }

    #[test]
    fn json_names_follow_the_proto_names() {
        assert_eq!(super::snake_case("clusterIPs"), "cluster_ips");
        assert_eq!(super::snake_case("podCIDRs"), "pod_cid_rs");
        assert_eq!(super::snake_case("hostPID"), "host_pid");
        assert_eq!(super::snake_case("fieldsV1"), "fields_v1");
        assert_eq!(super::go_json_of_field("IPFamilies"), "ipFamilies");
        assert_eq!(
            super::lower_camel("set_hostname_as_fqdn"),
            "setHostnameAsFQDN"
        );
    }
}
