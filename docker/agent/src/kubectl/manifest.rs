//! Reading manifests for `apply -f`, `create -f`, `delete -f`: files, directories or stdin,
//! split into YAML (`---`) or JSON documents, converted to JSON objects, `List`s expanded, and
//! checked the way kubectl checks them before anything is sent. Errors use kubectl's words.

use std::path::Path;

use serde_json::Value;

use crate::kube::client::Resource;

/// One object read from a manifest, with the file it came from (for messages).
#[derive(Debug, Clone)]
pub struct Doc {
    /// The file name as given (`-` for stdin: kubectl names it `STDIN`).
    pub source: String,
    /// The object.
    pub object: Value,
}

/// Reads every `-f` argument (files, directories of .yaml/.yml/.json, or `-`).
pub fn read_all(files: &[&str], stdin: &mut dyn std::io::Read) -> Result<Vec<Doc>, String> {
    let mut docs = Vec::new();
    for f in files {
        if *f == "-" {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|e| format!("error reading STDIN: {e}"))?;
            docs.extend(parse("STDIN", &text)?);
            continue;
        }
        let path = Path::new(f);
        if !path.exists() {
            return Err(format!("the path \"{f}\" does not exist"));
        }
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| format!("error reading {f}: {e}"))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|x| x.to_str()),
                        Some("yaml" | "yml" | "json")
                    )
                })
                .collect();
            entries.sort();
            for p in entries {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| format!("error reading {name}: {e}"))?;
                docs.extend(parse(&name, &text)?);
            }
            continue;
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("error reading {f}: {e}"))?;
        docs.extend(parse(f, &text)?);
    }
    Ok(docs)
}

/// Splits a manifest into documents and converts each to JSON; `List` items are expanded.
pub fn parse(source: &str, text: &str) -> Result<Vec<Doc>, String> {
    let mut out = Vec::new();
    let trimmed = text.trim_start();
    let chunks: Vec<String> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let mut objs = Vec::new();
        let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        for v in stream {
            let v = v.map_err(|e| format!("error parsing {source}: {e}"))?;
            objs.push(v);
        }
        for v in objs {
            push_object(source, v, &mut out)?;
        }
        return Ok(out);
    } else {
        split_yaml(source, text)?
    };
    for chunk in chunks {
        let yaml: serde_yaml_ng::Value = match serde_yaml_ng::from_str(&chunk) {
            Ok(v) => v,
            Err(e) => return Err(format!("error parsing {source}: {}", yaml_error(&e))),
        };
        if yaml.is_null() {
            continue;
        }
        let json = yaml_to_json(yaml)
            .map_err(|e| format!("error parsing {source}: error converting YAML to JSON: {e}"))?;
        push_object(source, json, &mut out)?;
    }
    Ok(out)
}

fn push_object(source: &str, v: Value, out: &mut Vec<Doc>) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    if !v.is_object() {
        return Err(format!(
            "error validating \"{source}\": error validating data: invalid object to validate; if you choose to ignore these errors, turn validation off with --validate=false"
        ));
    }
    if v.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
    {
        if let Some(items) = v.get("items").and_then(Value::as_array) {
            for it in items {
                push_object(source, it.clone(), out)?;
            }
            return Ok(());
        }
    }
    out.push(Doc {
        source: source.to_string(),
        object: v,
    });
    Ok(())
}

/// Splits on `---` lines as kubectl's YAML reader does (a separator may be followed by a
/// comment only).
fn split_yaml(source: &str, text: &str) -> Result<Vec<String>, String> {
    let mut chunks = Vec::new();
    let mut cur = String::new();
    for line in text.split_inclusive('\n') {
        if let Some(after) = line.strip_prefix("---") {
            let t = after.trim();
            if !t.is_empty() && !t.starts_with('#') {
                return Err(format!(
                    "error parsing {source}: error converting YAML to JSON: yaml: invalid document separator: {}",
                    line.trim_end()
                ));
            }
            chunks.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push_str(line);
    }
    chunks.push(cur);
    Ok(chunks
        .into_iter()
        .filter(|c| {
            c.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect())
}

/// libyaml problems that the parser (not the scanner) reports: Go's yaml numbers those lines
/// from 0, scanner problems from 1.
const PARSER_PROBLEMS: &[&str] = &[
    "did not find expected key",
    "did not find expected '-' indicator",
    "did not find expected <document start>",
    "did not find expected node content",
    "did not find expected ',' or ']'",
    "did not find expected ',' or '}'",
    "block sequence entries are not allowed in this context",
    "found duplicate anchor",
    "found undefined tag handle",
];

/// `yaml: line N: problem`, numbered as Go's yaml (sigs.k8s.io/yaml) numbers it.
fn yaml_error(e: &serde_yaml_ng::Error) -> String {
    let text = e.to_string();
    let problem = text
        .split(" at line ")
        .next()
        .unwrap_or(&text)
        .split(", while ")
        .next()
        .unwrap_or(&text)
        .trim()
        .to_string();
    match e.location() {
        Some(loc) => {
            let line = if PARSER_PROBLEMS.iter().any(|p| problem.starts_with(p)) {
                loc.line().saturating_sub(1)
            } else {
                loc.line()
            };
            if line == 0 {
                format!("error converting YAML to JSON: yaml: {problem}")
            } else {
                format!("error converting YAML to JSON: yaml: line {line}: {problem}")
            }
        }
        None => format!("error unmarshaling JSON: {problem}"),
    }
}

fn yaml_to_json(v: serde_yaml_ng::Value) -> Result<Value, String> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("cannot represent {f} in JSON"))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(
            seq.into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".into(),
                    other => return Err(format!("unsupported map key {other:?}")),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value)?,
    })
}

/// Checks that a document names a kind the lab serves, in the right apiVersion, with a name:
/// the checks kubectl makes before it talks to the server. Returns the resource.
pub fn resolve(doc: &Doc) -> Result<&'static Resource, String> {
    let o = &doc.object;
    let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespace = o
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if kind.is_empty() {
        return Err(format!(
            "unable to decode \"{}\": Object 'Kind' is missing in '{}'",
            doc.source,
            super::output::go_json_compact(o)
        ));
    }
    if api_version.is_empty() {
        return Err(format!(
            "unable to decode \"{}\": Object 'apiVersion' is missing in '{}'",
            doc.source,
            super::output::go_json_compact(o)
        ));
    }
    let resource = Resource::by_kind(kind)
        .filter(|r| r.api_version() == api_version)
        .ok_or_else(|| {
            format!(
                "resource mapping not found for name: \"{name}\" namespace: \"{namespace}\" from \"{}\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first",
                doc.source
            )
        })?;
    if name.is_empty() {
        let gv = if resource.group.is_empty() {
            format!("/{}", resource.version)
        } else {
            format!("{}/{}", resource.group, resource.version)
        };
        return Err(format!(
            "error when retrieving current configuration of:\nResource: \"{gv}, Resource={}\", GroupVersionKind: \"{gv}, Kind={kind}\"\nName: \"\", Namespace: \"{}\"\nfrom server for: \"{}\": resource name may not be empty",
            resource.plural,
            if resource.namespaced { if namespace.is_empty() { "default" } else { namespace } } else { "" },
            doc.source
        ));
    }
    Ok(resource)
}

/// Required fields the real API server insists on, checked client-side (the lab API server
/// is the final word; this catches the common omissions before anything is written).
/// Messages follow the server's `The Kind "name" is invalid: field: Required value` form.
pub fn validate(doc: &Doc) -> Result<(), String> {
    let o = &doc.object;
    let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut errs: Vec<String> = Vec::new();
    let req = |errs: &mut Vec<String>, ptr: &str, field: &str| {
        let missing = match o.pointer(ptr) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if missing {
            errs.push(format!("{field}: Required value"));
        }
    };
    let containers = |errs: &mut Vec<String>, base: &str, prefix: &str| {
        req(
            errs,
            &format!("{base}/containers"),
            &format!("{prefix}.containers"),
        );
        if let Some(cs) = o
            .pointer(&format!("{base}/containers"))
            .and_then(Value::as_array)
        {
            for (i, c) in cs.iter().enumerate() {
                if c.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    errs.push(format!("{prefix}.containers[{i}].name: Required value"));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    errs.push(format!("{prefix}.containers[{i}].image: Required value"));
                }
            }
        }
    };
    match kind {
        "Pod" => containers(&mut errs, "/spec", "spec"),
        "Deployment" => {
            req(&mut errs, "/spec/selector", "spec.selector");
            req(
                &mut errs,
                "/spec/template/metadata/labels",
                "spec.template.metadata.labels",
            );
            containers(&mut errs, "/spec/template/spec", "spec.template.spec");
            if let (Some(sel), Some(labels)) = (
                o.pointer("/spec/selector/matchLabels")
                    .and_then(Value::as_object),
                o.pointer("/spec/template/metadata/labels")
                    .and_then(Value::as_object),
            ) {
                if sel.iter().any(|(k, v)| labels.get(k) != Some(v)) {
                    errs.push(format!(
                        "spec.template.metadata.labels: Invalid value: {}: `selector` does not match template `labels`",
                        go_map(labels)
                    ));
                }
            }
        }
        "Service" => {
            let ty = o
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            if ty != "ExternalName" {
                req(&mut errs, "/spec/ports", "spec.ports");
            }
            if let Some(ports) = o.pointer("/spec/ports").and_then(Value::as_array) {
                for (i, p) in ports.iter().enumerate() {
                    match p.get("port").and_then(Value::as_i64) {
                        None => errs.push(format!("spec.ports[{i}].port: Required value")),
                        Some(n) if !(1..=65535).contains(&n) => errs.push(format!(
                            "spec.ports[{i}].port: Invalid value: {n}: must be between 1 and 65535, inclusive"
                        )),
                        _ => {}
                    }
                    if ports.len() > 1
                        && p.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .is_empty()
                    {
                        errs.push(format!("spec.ports[{i}].name: Required value"));
                    }
                }
            }
        }
        // NetworkPolicy: an absent podSelector is defaulted to {} (all pods) by the server.
        _ => {}
    }
    if errs.is_empty() {
        return Ok(());
    }
    let causes = if errs.len() == 1 {
        errs.remove(0)
    } else {
        format!("[{}]", errs.join(", "))
    };
    Err(format!("The {kind} \"{name}\" is invalid: {causes}"))
}

/// Go's `%#v`-ish rendering of a string map as the API server prints it in messages.
fn go_map(m: &serde_json::Map<String, Value>) -> String {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let inner: Vec<String> = keys
        .iter()
        .map(|k| format!("{:?}:{:?}", k, m[*k].as_str().unwrap_or("")))
        .collect();
    format!("map[string]string{{{}}}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_syntax_errors_name_the_line_like_kubectl() {
        let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: a\n    image: b\n   bad: x\n";
        let e = parse("b2.yaml", text).unwrap_err();
        assert_eq!(
            e,
            "error parsing b2.yaml: error converting YAML to JSON: yaml: line 8: did not find expected key"
        );
    }

    #[test]
    fn scanner_errors_count_from_one() {
        let e = parse("t.yaml", "a: b\nc: d: e\n").unwrap_err();
        assert_eq!(
            e,
            "error parsing t.yaml: error converting YAML to JSON: yaml: line 2: mapping values are not allowed in this context"
        );
    }

    #[test]
    fn documents_and_lists_expand() {
        let text = "# c\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: c}\n";
        let docs = parse("x.yaml", text).unwrap();
        let names: Vec<&str> = docs
            .iter()
            .map(|d| d.object["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        let json = parse(
            "x.json",
            "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"j\"}}",
        )
        .unwrap();
        assert_eq!(json.len(), 1);
    }

    #[test]
    fn unknown_kinds_and_missing_fields() {
        let d = &parse(
            "foo.yaml",
            "apiVersion: v1\nkind: Foo\nmetadata:\n  name: x\n",
        )
        .unwrap()[0];
        assert_eq!(
            resolve(d).unwrap_err(),
            "resource mapping not found for name: \"x\" namespace: \"\" from \"foo.yaml\": no matches for kind \"Foo\" in version \"v1\"\nensure CRDs are installed first"
        );
        let d = &parse(
            "d.yaml",
            "apiVersion: v1\nkind: Deployment\nmetadata:\n  name: x\n",
        )
        .unwrap()[0];
        assert!(resolve(d)
            .unwrap_err()
            .contains("no matches for kind \"Deployment\" in version \"v1\""));
        let d = &parse("n.yaml", "apiVersion: v1\nmetadata:\n  name: x\n").unwrap()[0];
        assert_eq!(
            resolve(d).unwrap_err(),
            "unable to decode \"n.yaml\": Object 'Kind' is missing in '{\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\"}}'"
        );
        let d = &parse("s.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n").unwrap()[0];
        assert_eq!(
            validate(d).unwrap_err(),
            "The Service \"web\" is invalid: spec.ports: Required value"
        );
        let d = &parse("d.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: x}}\n    spec:\n      containers: [{name: c, image: nginx}]\n").unwrap()[0];
        assert_eq!(
            validate(d).unwrap_err(),
            "The Deployment \"web\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"
        );
    }
}

/// Property tests: a learner writes manifests for `kubectl apply -f`. Whatever the
/// file holds, reading it does not panic, keeps no more than the file holds (YAML aliases aside,
/// which the YAML library bounds), and a refusal names the source and what was wrong.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{any_text, config, json_value, nasty, near_valid_object, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/kubectl_manifest.txt";

    /// A YAML document: an object printed as YAML with a splice, or YAML features.
    fn yaml_doc() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => (near_valid_object(), any::<prop::sample::Index>(), nasty()).prop_map(
                |(v, at, ins)| {
                    let mut s = serde_yaml_ng::to_string(&v).unwrap_or_default();
                    let mut i = at.index(s.len() + 1);
                    while !s.is_char_boundary(i) {
                        i -= 1;
                    }
                    s.insert_str(i, &ins);
                    s
                }
            ),
            1 => prop::sample::select(vec![
                "a: &a [1, 2]\nb: [*a, *a, *a]\nkind: List\nitems: *a\n",
                "kind: List\nitems:\n- kind: List\n  items: [{kind: Pod}]\n",
                "? [complex, key]\n: value\n",
                "!!binary aGk=\n",
                "x: 1e999\n",
                "--- # comment\n",
                "--- not a separator\n",
                "{\"kind\": \"Pod\"}{\"kind\": 5}",
                "[1, 2]",
                "- a\n- b\n",
                "x: !!float .nan\n",
                "null\n",
            ])
            .prop_map(str::to_string),
            1 => json_value().prop_map(|v| v.to_string()),
            1 => any_text(),
        ]
    }

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_manifest_reads_or_is_refused(docs in prop::collection::vec(yaml_doc(), 1..4)) {
            let text = docs.join("\n---\n");
            match parse("m.yaml", &text) {
                Ok(docs) => {
                    // serde_yaml_ng stops alias repetition at 100 times a document's events.
                    prop_assert!(docs.len() <= 100 * (text.len() + 1));
                    for d in &docs {
                        prop_assert!(d.object.is_object());
                        match resolve(d) {
                            Ok(_) => {
                                if let Err(e) = validate(d) {
                                    prop_assert!(!e.is_empty());
                                }
                            }
                            Err(e) => prop_assert!(e.contains("m.yaml") || !e.is_empty()),
                        }
                    }
                }
                Err(e) => prop_assert!(e.contains("m.yaml") || e.starts_with("error "), "{}", e),
            }
        }
    }

    // Regression tests: every manifest a property above ever failed on, by name.
}
