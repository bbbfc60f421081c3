//! Writes as kubectl makes them: the options every write takes (`dryRun`, `fieldValidation`,
//! `fieldManager`, `force`), the four patch types (JSON patch, merge patch, strategic merge
//! patch, server-side apply) and the warnings a write answers with.

use std::cell::RefCell;

use axum::http::header;
use axum::http::HeaderMap;
use serde_json::json;
use serde_json::Value;

use super::binding::scale_update;
use super::body::parse_body;
use super::create::create;
use super::create::keeps_status_on_main_update;
use super::create::replace;
use super::create::Mode;
use super::errors::bad_request;
use super::errors::not_found;
use super::errors::unknown_path;
use super::errors::ApiError;
use super::errors::ApiResult;
use crate::apiserver::fieldmanager;
use crate::apiserver::fieldmanager::WriteCtx;
use crate::apiserver::state::AppState;
use crate::apiserver::store::Store;
use crate::apiserver::validation as v;
use crate::apiserver::validation::FieldError;
use crate::kube::client::Resource;
use crate::kube::client::Status;
use crate::kube::patch::merge_patch;
use crate::kube::patchmeta;
use crate::kube::strategic;

thread_local! {
    static WARNINGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Adds a warning to the answer of the request being served on this thread.
pub(crate) fn warn(text: String) {
    WARNINGS.with(|w| w.borrow_mut().push(text));
}

/// The warnings of the request just served (`Warning: 299 - "..."` headers), emptied.
pub(crate) fn take_warnings() -> Vec<String> {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// `fieldValidation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Not given: fields are kept as sent (what this server did before it knew schemas).
    Unset,
    /// Unknown fields are dropped.
    Ignore,
    /// Unknown fields are dropped with a warning.
    Warn,
    /// Unknown fields fail the request.
    Strict,
}

/// The options of one write.
#[derive(Debug, Clone)]
pub struct WriteOpts {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub validation: FieldValidation,
    /// `fieldManager`, or the User-Agent's program name.
    pub manager: String,
    /// Whether `fieldManager` was given.
    pub manager_given: bool,
    /// `force=true` (apply only).
    pub force: Option<bool>,
}

fn options_invalid(options: &str, errs: &[FieldError]) -> ApiError {
    ApiError(v::invalid_status(
        &format!("{options}.meta.k8s.io"),
        "",
        errs,
    ))
}

/// Reads the write options of a request; `options` names its kind (`CreateOptions`, …).
pub fn write_opts(
    q: &std::collections::HashMap<String, String>,
    headers: &HeaderMap,
    options: &str,
) -> ApiResult<WriteOpts> {
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(options_invalid(
                options,
                &[FieldError::unsupported("dryRun", json!(other), &["All"])],
            ))
        }
    };
    let validation = match q.get("fieldValidation").map(String::as_str) {
        None | Some("") => FieldValidation::Unset,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Warn") => FieldValidation::Warn,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return Err(options_invalid(
                options,
                &[FieldError::unsupported(
                    "fieldValidation",
                    json!(other),
                    &["", "Ignore", "Strict", "Warn"],
                )],
            ))
        }
    };
    let given = q.get("fieldManager").filter(|m| !m.is_empty()).cloned();
    let manager_given = given.is_some();
    let manager = match given {
        Some(m) => {
            let mut errs = Vec::new();
            if m.len() > 128 {
                errs.push(FieldError {
                    field: "fieldManager".into(),
                    kind: v::ErrorKind::TooLong(128),
                });
            }
            if let Some((i, c)) = m.char_indices().find(|(_, c)| c.is_control()) {
                errs.push(FieldError::invalid(
                    "fieldManager",
                    json!(m),
                    format!("invalid character U+{:04X} (at position {i})", c as u32),
                ));
            }
            if !errs.is_empty() {
                return Err(options_invalid(options, &errs));
            }
            m
        }
        // The User-Agent's program, printable characters only, at most 128 bytes.
        None => {
            let ua = headers
                .get(header::USER_AGENT)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let mut m: String = ua
                .split('/')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            while m.len() > 128 {
                m.pop();
            }
            m
        }
    };
    let force = q.get("force").map(|f| f == "true" || f == "1");
    Ok(WriteOpts {
        dry_run,
        validation,
        manager,
        manager_given,
        force,
    })
}

/// The paths of the fields of `obj` that `kind`'s schema does not have, removed from `obj`.
pub fn strip_unknown(kind: &str, obj: &mut Value) -> Vec<String> {
    fn walk(v: &mut Value, ty: &str, path: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                let unknown: Vec<String> = m
                    .keys()
                    .filter(|k| patchmeta::has_field(ty, k) == Some(false))
                    .cloned()
                    .collect();
                for k in unknown {
                    m.remove(&k);
                    out.push(if path.is_empty() {
                        k
                    } else {
                        format!("{path}.{k}")
                    });
                }
                for (k, cv) in m.iter_mut() {
                    let child = patchmeta::field(ty, k).ty;
                    if !child.is_empty() {
                        let p = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        walk(cv, child, &p, out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, it) in items.iter_mut().enumerate() {
                    walk(it, ty, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(obj, patchmeta::root_type(kind), "", &mut out);
    out
}

/// What strict decoding of `body` as a `kind` finds, in document order: `unknown field "p"`
/// (a field the schema does not have; reported once, not also as a duplicate) and
/// `duplicate field "p"`. With `kind` empty only duplicates are looked for.
pub fn strict_errors(kind: &str, body: &[u8]) -> Vec<String> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::collections::HashSet;

    struct Walk<'a> {
        ty: &'static str,
        path: String,
        out: &'a RefCell<Vec<String>>,
    }

    fn join(path: &str, k: &str) -> String {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    }

    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(k) = m.next_key::<String>()? {
                let p = join(&self.path, &k);
                let first = seen.insert(k.clone());
                if patchmeta::has_field(self.ty, &k) == Some(false) {
                    if first {
                        self.out.borrow_mut().push(format!("unknown field \"{p}\""));
                    }
                    m.next_value::<IgnoredAny>()?;
                    continue;
                }
                if !first {
                    self.out
                        .borrow_mut()
                        .push(format!("duplicate field \"{p}\""));
                }
                m.next_value_seed(Walk {
                    ty: patchmeta::field(self.ty, &k).ty,
                    path: p,
                    out: self.out,
                })?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
            let mut i = 0;
            while s
                .next_element_seed(Walk {
                    ty: self.ty,
                    path: format!("{}[{i}]", self.path),
                    out: self.out,
                })?
                .is_some()
            {
                i += 1;
            }
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }

    let out = RefCell::new(Vec::new());
    let root = if kind.is_empty() {
        ""
    } else {
        patchmeta::root_type(kind)
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = Walk {
        ty: root,
        path: String::new(),
        out: &out,
    }
    .deserialize(&mut de);
    out.into_inner()
}

/// Applies `fieldValidation` to a create or update: `body` is the request's JSON, `obj` the
/// object it decoded to (unknown fields are dropped from it unless the request fails).
pub fn check_fields(
    res: &Resource,
    obj: &mut Value,
    opts: &WriteOpts,
    body: &[u8],
) -> ApiResult<()> {
    if opts.validation == FieldValidation::Unset {
        return Ok(());
    }
    let errs = strict_errors(res.kind, body);
    report(opts, errs, |m| {
        format!(
            "{} in version {:?} cannot be handled as a {}: {m}",
            res.kind, res.version, res.kind
        )
    })?;
    strip_unknown(res.kind, obj);
    Ok(())
}

/// Applies `fieldValidation` to a patch: duplicates in the patch, then the unknown fields of
/// the patched object (sorted), which are dropped from it.
pub fn check_patched_fields(
    res: &Resource,
    patched: &mut Value,
    opts: &WriteOpts,
    patch_body: &[u8],
) -> ApiResult<()> {
    if opts.validation == FieldValidation::Unset {
        return Ok(());
    }
    let mut errs = strict_errors("", patch_body);
    let mut unknown = strip_unknown(res.kind, patched);
    unknown.sort();
    errs.extend(unknown.iter().map(|p| format!("unknown field \"{p}\"")));
    report(opts, errs, |m| m.to_string())
}

fn report(opts: &WriteOpts, errs: Vec<String>, wrap: impl Fn(&str) -> String) -> ApiResult<()> {
    if errs.is_empty() {
        return Ok(());
    }
    match opts.validation {
        FieldValidation::Strict => Err(bad_request(wrap(&format!(
            "strict decoding error: {}",
            errs.join(", ")
        )))),
        FieldValidation::Warn => {
            for e in errs {
                warn(e);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Runs `f` on the store with the request's dry-run mode and writer set, and resets them.
pub fn with_writer<T>(
    st: &mut Store,
    opts: &WriteOpts,
    ctx: Option<WriteCtx>,
    f: impl FnOnce(&mut Store) -> ApiResult<T>,
) -> ApiResult<T> {
    st.set_dry_run(opts.dry_run);
    st.writer = ctx;
    let out = f(st);
    st.set_dry_run(false);
    st.writer = None;
    out
}

/// The writer context of a request on `res`.
pub fn ctx(res: &'static Resource, opts: &WriteOpts, subresource: &str) -> WriteCtx {
    WriteCtx {
        manager: opts.manager.clone(),
        api_version: res.api_version(),
        subresource: subresource.to_string(),
        kind: res.kind,
        with_status: !keeps_status_on_main_update(res),
        apply_fields: None,
    }
}

/// Whether a kind has `spec.replicas` and so a `scale` subresource.
pub fn scalable(res: &Resource) -> bool {
    matches!(res.kind, "Deployment" | "ReplicaSet" | "StatefulSet")
}

const PATCH_TYPES: &str = "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

/// A PATCH on an object or its `status` / `scale` subresource. Returns the HTTP code (201
/// when an apply creates) and the answer.
#[allow(clippy::too_many_arguments)]
pub fn patch(
    app: &AppState,
    st: &mut Store,
    res: &'static Resource,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    headers: &HeaderMap,
    q: &std::collections::HashMap<String, String>,
    body: &[u8],
) -> ApiResult<(u16, Value)> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    let pt = match media {
        "application/json-patch+json" => PatchType::Json,
        "application/merge-patch+json" => PatchType::Merge,
        "application/strategic-merge-patch+json" => PatchType::Strategic,
        "application/apply-patch+yaml" => PatchType::Apply,
        _ => {
            return Err(ApiError(Status::new(
                415,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format - accepted media types include: {PATCH_TYPES}"),
            )))
        }
    };
    let opts = write_opts(q, headers, "PatchOptions")?;
    if pt == PatchType::Apply {
        if !opts.manager_given {
            return Err(options_invalid(
                "PatchOptions",
                &[FieldError::required(
                    "fieldManager",
                    "is required for apply patch",
                )],
            ));
        }
    } else if opts.force.is_some() {
        return Err(options_invalid(
            "PatchOptions",
            &[FieldError::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )],
        ));
    }
    let key_ns = if res.namespaced {
        ns.unwrap_or("default")
    } else {
        ""
    };
    match sub {
        None | Some("status") => {}
        Some("scale") if scalable(res) => {
            // A Scale has no lists: every patch type but JSON patch merges into it.
            let (p, is_patch) = if pt == PatchType::Json {
                let current = st
                    .get(res, key_ns, name)
                    .map(super::binding::scale_of)
                    .ok_or_else(|| not_found(res, name))?;
                (json_patch(&current, body)?, false)
            } else if pt == PatchType::Apply {
                let cfg: Value = serde_yaml_ng::from_slice(body)
                    .map_err(|e| bad_request(format!("error decoding YAML: {e}")))?;
                (cfg, true)
            } else {
                (parse_body(body)?, true)
            };
            let c = ctx(res, &opts, "scale");
            return with_writer(st, &opts, Some(c), |st| {
                scale_update(app, st, res, Some(key_ns), name, &p, is_patch)
            })
            .map(|v| (200, v));
        }
        Some(_) => return Err(unknown_path()),
    }
    let subresource = sub.unwrap_or("");
    let mode = if sub == Some("status") {
        Mode::Status
    } else {
        Mode::Main
    };
    let old = st.get(res, key_ns, name).cloned();
    if pt == PatchType::Apply {
        return apply(app, st, res, ns, name, subresource, mode, old, &opts, body);
    }
    let old = old.ok_or_else(|| not_found(res, name))?;
    let mut merged = match pt {
        PatchType::Json => json_patch(&old, body)?,
        PatchType::Merge => {
            let p = parse_body(body)?;
            let mut m = old.clone();
            merge_patch(&mut m, &p);
            m
        }
        PatchType::Strategic => {
            let p = parse_body(body)?;
            strategic::apply(&old, &p, res.kind).map_err(|e| match e {
                strategic::SmpError::BadPatch(m) => bad_request(m),
                strategic::SmpError::Invalid(m) => unprocessable(&m),
            })?
        }
        PatchType::Apply => unreachable!(),
    };
    // The real server decodes the result into its type: a metadata that is not an object
    // fails there (and indexing it below would panic).
    if let Some(m) = merged.get("metadata").filter(|m| !m.is_object()) {
        return Err(bad_request(format!(
            "json: cannot unmarshal {} into Go struct field {}.metadata of type v1.ObjectMeta",
            kubeschema::json_kind(m),
            res.kind
        )));
    }
    if !merged.is_object() {
        return Err(bad_request(format!(
            "json: cannot unmarshal {} into Go value of type {}",
            kubeschema::json_kind(&merged),
            res.kind
        )));
    }
    if !merged.get("metadata").is_some_and(Value::is_object) {
        merged["metadata"] = json!({});
    }
    // A patch only checks the resourceVersion when it sets one.
    let rv_patched =
        merged.pointer("/metadata/resourceVersion") != old.pointer("/metadata/resourceVersion");
    if !rv_patched {
        merged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    }
    if pt == PatchType::Json {
        check_patched_fields(res, &mut merged, &opts, b"{}")?;
    } else {
        check_patched_fields(res, &mut merged, &opts, body)?;
    }
    let c = ctx(res, &opts, subresource);
    with_writer(st, &opts, Some(c), |st| {
        replace(app, st, res, ns, name, merged, mode)
    })
    .map(|v| (200, v))
}

/// A 422 as `NewGenericServerResponse` makes it: the generic message, empty details; what
/// went wrong (`detail`) only reaches the server's log, as upstream.
fn unprocessable(detail: &str) -> ApiError {
    tracing::info!(%detail, "patch rejected");
    let mut s = Status::new(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    );
    s.details = Some(Box::new(json!({})));
    ApiError(s)
}

enum JsonPatchError {
    /// The patch is not a list of operations (400).
    Decode(ApiError),
    /// An operation does not apply (422); the Go library's words.
    Apply(String),
}

fn run_json_patch(old: &Value, body: &[u8]) -> Result<Value, JsonPatchError> {
    let ops: Value = serde_json::from_slice(body)
        .map_err(|e| JsonPatchError::Decode(bad_request(e.to_string())))?;
    let Value::Array(ops) = ops else {
        return Err(JsonPatchError::Decode(bad_request(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            kubeschema::json_kind(&ops)
        ))));
    };
    let mut doc = old.clone();
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !matches!(
            kind.as_str(),
            "add" | "remove" | "replace" | "move" | "copy" | "test"
        ) {
            return Err(JsonPatchError::Apply(format!("Unexpected kind: {kind}")));
        }
        let parsed: json_patch::PatchOperation = serde_json::from_value(op.clone())
            .map_err(|e| JsonPatchError::Decode(bad_request(format!("{kind} operation: {e}"))))?;
        if let Err(e) = json_patch::patch(&mut doc, &[parsed]) {
            return Err(JsonPatchError::Apply(json_patch_message(
                &doc, &op, &kind, &path, &e,
            )));
        }
    }
    Ok(doc)
}

/// RFC 6902 JSON patch as the API server applies it (a failing operation is a bare 422).
pub fn json_patch(old: &Value, body: &[u8]) -> ApiResult<Value> {
    run_json_patch(old, body).map_err(|e| match e {
        JsonPatchError::Decode(a) => a,
        JsonPatchError::Apply(m) => unprocessable(&m),
    })
}

/// Why a JSON patch does not apply, as the Go library words it (None when it applies or does
/// not decode).
pub fn json_patch_failure(old: &Value, body: &[u8]) -> Option<String> {
    match run_json_patch(old, body) {
        Err(JsonPatchError::Apply(m)) => Some(m),
        _ => None,
    }
}

fn json_patch_message(
    doc: &Value,
    op: &Value,
    kind: &str,
    path: &str,
    e: &json_patch::PatchError,
) -> String {
    let parent_exists = match path.rfind('/') {
        Some(i) => doc.pointer(&path[..i]).is_some(),
        None => false,
    };
    let leaf = path.rsplit('/').next().unwrap_or("");
    match (kind, &e.kind) {
        ("test", json_patch::PatchErrorKind::TestFailed) | ("test", _) => {
            format!("testing value {path} failed: test failed")
        }
        ("add", _) => {
            format!("add operation does not apply: doc is missing path: \"{path}\": missing value")
        }
        ("remove", _) if parent_exists => format!(
            "error in remove for path: '{path}': Unable to remove nonexistent key: {leaf}: missing value"
        ),
        ("remove", _) => format!(
            "remove operation does not apply: doc is missing path: \"{path}\": missing value"
        ),
        ("replace", _) if parent_exists => {
            format!("replace operation does not apply: doc is missing key: {path}: missing value")
        }
        ("replace", _) => {
            format!("replace operation does not apply: doc is missing path: {path}: missing value")
        }
        (k @ ("move" | "copy"), json_patch::PatchErrorKind::InvalidFromPointer) => {
            let from = op.get("from").and_then(Value::as_str).unwrap_or("");
            format!("{k} operation does not apply: doc is missing from path: {from}: missing value")
        }
        (k, _) => format!("{k} operation does not apply: doc is missing destination path: {path}: missing value"),
    }
}

/// Server-side apply.
#[allow(clippy::too_many_arguments)]
fn apply(
    app: &AppState,
    st: &mut Store,
    res: &'static Resource,
    ns: Option<&str>,
    name: &str,
    subresource: &str,
    mode: Mode,
    old: Option<Value>,
    opts: &WriteOpts,
    body: &[u8],
) -> ApiResult<(u16, Value)> {
    let cfg: Value = serde_yaml_ng::from_slice(body)
        .map_err(|e| bad_request(format!("error decoding YAML: {e}")))?;
    let Value::Object(_) = &cfg else {
        return Err(bad_request(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            kubeschema::json_kind(&cfg)
        )));
    };
    if cfg
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(bad_request(format!("Object 'Kind' is missing in '{cfg}'")));
    }
    if cfg
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(bad_request(format!(
            "Object 'apiVersion' is missing in '{cfg}'"
        )));
    }
    if let Some(m) = cfg.get("metadata").filter(|m| !m.is_object()) {
        return Err(bad_request(format!(
            "json: cannot unmarshal {} into Go struct field {}.metadata of type v1.ObjectMeta",
            kubeschema::json_kind(m),
            res.kind
        )));
    }
    if cfg
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(bad_request("metadata.managedFields must be nil"));
    }
    if let Some(n) = cfg.pointer("/metadata/name").and_then(Value::as_str) {
        if n != name {
            return Err(bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    // An applied configuration must fit the schema, whatever fieldValidation says.
    let undeclared = fieldmanager::undeclared(&cfg, res.kind);
    if !undeclared.is_empty() {
        let errs: Vec<String> = undeclared
            .iter()
            .map(|p| {
                format!(
                    "{}: field not declared in schema",
                    fieldmanager::path_string(p)
                )
            })
            .collect();
        let errs = if errs.len() == 1 {
            errs[0].clone()
        } else {
            format!("errors:\n  {}", errs.join("\n  "))
        };
        let ns_name = format!(
            "{}/{name}",
            if res.namespaced {
                ns.unwrap_or("default")
            } else {
                ""
            }
        );
        return Err(bad_request(format!(
            "failed to create typed patch object ({ns_name}; {}/{}, Kind={}): {errs}",
            res.group, res.version, res.kind
        )));
    }
    let api_version = res.api_version();
    let writer = fieldmanager::Writer {
        manager: &opts.manager,
        api_version: &api_version,
        subresource,
        kind: res.kind,
        with_status: !keeps_status_on_main_update(res) || subresource == "status",
    };
    let force = opts.force.unwrap_or(false);
    let mut out = fieldmanager::apply(old.as_ref(), &cfg, &writer, force).map_err(|c| {
        let mut s = Status::new(409, "Conflict", c.message());
        s.details = Some(Box::new(json!({"causes": c.causes()})));
        ApiError(s)
    })?;
    let mut c = ctx(res, opts, subresource);
    c.apply_fields = out.pointer("/metadata/managedFields").cloned();
    let Some(old) = old else {
        if mode == Mode::Status {
            return Err(not_found(res, name));
        }
        out["metadata"]["name"] = json!(name);
        return with_writer(st, opts, Some(c), |st| create(app, st, res, ns, out))
            .map(|v| (201, v));
    };
    if cfg.pointer("/metadata/resourceVersion").is_none() {
        out["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    }
    with_writer(st, opts, Some(c), |st| {
        replace(app, st, res, ns, name, out, mode)
    })
    .map(|v| (200, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_options_are_checked_and_the_manager_defaulted() {
        let mut q = std::collections::HashMap::new();
        let mut h = HeaderMap::new();
        h.insert(
            header::USER_AGENT,
            "kubectl/v1.31.0 (linux/amd64)".parse().unwrap(),
        );
        let o = write_opts(&q, &h, "PatchOptions").unwrap();
        assert_eq!((o.manager.as_str(), o.manager_given), ("kubectl", false));
        q.insert("fieldManager".to_string(), "m".repeat(129));
        let e = write_opts(&q, &h, "PatchOptions").unwrap_err();
        assert_eq!(e.0.code, 422);
        assert_eq!(
            e.0.message,
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Too long: may not be more than 128 bytes"
        );
        q.insert("fieldManager".to_string(), "kubectl-edit".to_string());
        q.insert("dryRun".to_string(), "All".to_string());
        q.insert("fieldValidation".to_string(), "Strict".to_string());
        let o = write_opts(&q, &h, "PatchOptions").unwrap();
        assert!(o.dry_run && o.manager_given);
        assert_eq!(o.validation, FieldValidation::Strict);
        q.insert("fieldValidation".to_string(), "strict".to_string());
        let e = write_opts(&q, &h, "CreateOptions").unwrap_err();
        assert_eq!(
            e.0.message,
            "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"strict\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
        );
    }

    #[test]
    fn unknown_fields_are_found_at_every_level() {
        let mut d = json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"any":"x"},"colour":"red"},
            "spec":{"replicas":1,"foo":1,"template":{"spec":{"containers":[{"name":"a","image":"x","imagex":"y"}]}}},
            "status":{"whatever":1}});
        let got = strip_unknown("Deployment", &mut d);
        assert_eq!(
            got,
            [
                "metadata.colour",
                "spec.foo",
                "spec.template.spec.containers[0].imagex",
                // The whole schema is known, status included.
                "status.whatever"
            ]
        );
        assert!(d["spec"].get("foo").is_none());
        assert!(d["status"].get("whatever").is_none());
    }

    #[test]
    fn strict_validation_is_worded_as_upstream() {
        let opts = WriteOpts {
            dry_run: false,
            validation: FieldValidation::Strict,
            manager: "kubectl".into(),
            manager_given: true,
            force: None,
        };
        let body = br#"{"kind":"Service","metadata":{"name":"web","name":"x"},"spec":{"foo":1,"foo":2,"type":"A","type":"B"}}"#;
        let mut s: Value = serde_json::from_slice(body).unwrap();
        let err = check_fields(&crate::kube::client::SERVICES, &mut s, &opts, body).unwrap_err();
        assert_eq!(err.0.code, 400);
        assert_eq!(err.0.reason, "BadRequest");
        assert_eq!(
            err.0.message,
            "Service in version \"v1\" cannot be handled as a Service: strict decoding error: duplicate field \"metadata.name\", unknown field \"spec.foo\", duplicate field \"spec.type\""
        );
        let warn_opts = WriteOpts {
            validation: FieldValidation::Warn,
            ..opts.clone()
        };
        take_warnings();
        check_fields(&crate::kube::client::SERVICES, &mut s, &warn_opts, body).unwrap();
        assert_eq!(
            take_warnings(),
            [
                "duplicate field \"metadata.name\"",
                "unknown field \"spec.foo\"",
                "duplicate field \"spec.type\""
            ]
        );
        assert!(s["spec"].get("foo").is_none());
        assert_eq!(
            crate::apiserver::negotiate::warning_header("unknown field \"spec.foo\"").unwrap(),
            "299 - \"unknown field \\\"spec.foo\\\"\""
        );
        // A patch: its duplicates, then the result's unknown fields, sorted.
        let patch = br#"{"spec":{"zz":1,"type":"A","type":"B","aa":2}}"#;
        let mut patched = serde_json::json!({"spec":{"zz":1,"type":"B","aa":2}});
        let err = check_patched_fields(&crate::kube::client::SERVICES, &mut patched, &opts, patch)
            .unwrap_err();
        assert_eq!(
            err.0.message,
            "strict decoding error: duplicate field \"spec.type\", unknown field \"spec.aa\", unknown field \"spec.zz\""
        );
    }

    #[test]
    fn json_patch_errors_are_worded_as_the_go_library() {
        let old = json!({"metadata":{"name":"web","labels":{"a":"1"}},"spec":{"replicas":1}});
        let ok = json_patch(&old, br#"[{"op":"replace","path":"/spec/replicas","value":3},{"op":"add","path":"/metadata/labels/b","value":"2"}]"#).unwrap();
        assert_eq!(ok["spec"]["replicas"], 3);
        assert_eq!(ok["metadata"]["labels"]["b"], "2");
        let cause = |b: &[u8]| {
            let e = json_patch(&old, b).unwrap_err();
            assert_eq!(e.0.code, 422);
            assert_eq!(e.0.reason, "Invalid");
            assert_eq!(
                e.0.message,
                "the server rejected our request due to an error in our request"
            );
            json_patch_failure(&old, b).unwrap()
        };
        assert_eq!(
            cause(br#"[{"op":"test","path":"/spec/replicas","value":2}]"#),
            "testing value /spec/replicas failed: test failed"
        );
        assert_eq!(
            cause(br#"[{"op":"remove","path":"/metadata/labels/x"}]"#),
            "error in remove for path: '/metadata/labels/x': Unable to remove nonexistent key: x: missing value"
        );
        assert_eq!(
            cause(br#"[{"op":"add","path":"/spec/a/b","value":1}]"#),
            "add operation does not apply: doc is missing path: \"/spec/a/b\": missing value"
        );
        assert_eq!(
            cause(br#"[{"op":"replace","path":"/spec/x","value":1}]"#),
            "replace operation does not apply: doc is missing key: /spec/x: missing value"
        );
        assert_eq!(
            cause(br#"[{"op":"frob","path":"/spec"}]"#),
            "Unexpected kind: frob"
        );
        let e = json_patch(&old, br#"{"op":"add"}"#).unwrap_err();
        assert_eq!(e.0.code, 400);
        assert_eq!(
            e.0.message,
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        );
    }
}
