//! Strategic merge patch (`application/strategic-merge-patch+json`), applied as apimachinery's
//! `strategicpatch` package applies it on the server: maps merge key by key, `null` deletes,
//! lists with a merge strategy merge by their merge key (objects) or as a set (scalars), other
//! lists are replaced; the directives `$patch: replace|delete|merge`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` are honoured. What each
//! field's strategy is comes from [`super::patchmeta`].

use serde_json::{Map, Value};

use super::patchmeta::{self, Field};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList";
const SET_ORDER: &str = "$setElementOrder";

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmpError {
    /// The patch is malformed (the API server answers 400 Bad Request).
    BadPatch(String),
    /// The patch does not fit the object (422).
    Invalid(String),
}

impl SmpError {
    /// The message, as apimachinery words it.
    pub fn message(&self) -> &str {
        match self {
            SmpError::BadPatch(m) | SmpError::Invalid(m) => m,
        }
    }
}

type R<T> = Result<T, SmpError>;

fn bad(m: impl Into<String>) -> SmpError {
    SmpError::BadPatch(m.into())
}

fn inv(m: impl Into<String>) -> SmpError {
    SmpError::Invalid(m.into())
}

/// Applies `patch` to `original`, an object of `kind`.
pub fn apply(original: &Value, patch: &Value, kind: &str) -> R<Value> {
    let Value::Object(p) = patch else {
        return Err(bad("invalid JSON document"));
    };
    let o = match original {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    merge_map(o, p.clone(), patchmeta::root_type(kind)).map(Value::Object)
}

/// Go's `%v` of a decoded JSON value, for the messages that print one.
pub fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_fmt(&m[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> SmpError {
    inv(format!(
        "map: {} does not contain declared merge key: {key}",
        go_fmt(&Value::Object(m.clone()))
    ))
}

fn bad_patch_type(t: &Value, m: &Map<String, Value>) -> SmpError {
    inv(format!(
        "unknown patch type: {} in map: {}",
        go_fmt(t),
        go_fmt(&Value::Object(m.clone()))
    ))
}

/// JSON equality as Go compares decoded values (`1` and `1.0` are the same float64).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// A patch value put where the original has nothing: its directives and nulls are resolved
/// against an empty value (the typed decode upstream drops them the same way).
fn clean(v: Value, fl: &Field) -> R<Value> {
    match v {
        Value::Object(m) => merge_map(Map::new(), m, fl.ty).map(Value::Object),
        Value::Array(a) if fl.merge => merge_slice(Vec::new(), a, fl, false).map(Value::Array),
        Value::Array(a) => Ok(Value::Array(
            a.into_iter()
                .map(|x| match x {
                    Value::Object(m) => merge_map(Map::new(), m, fl.ty).map(Value::Object),
                    other => Ok(other),
                })
                .collect::<R<Vec<_>>>()?,
        )),
        other => Ok(other),
    }
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ty: &str,
) -> R<Map<String, Value>> {
    if let Some(d) = patch.get(DIRECTIVE).cloned() {
        return match d.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                merge_map(Map::new(), patch, ty)
            }
            Some("delete") => Ok(Map::new()),
            // `merge` is the default for maps: nothing to do but drop the directive.
            Some("merge") => {
                patch.remove(DIRECTIVE);
                merge_map(original, patch, ty)
            }
            _ => Err(bad_patch_type(&d, &patch)),
        };
    }
    if let Some(keep) = patch.remove(RETAIN_KEYS) {
        let Value::Array(keep) = keep else {
            return Err(bad("invalid patch format of retainKeys"));
        };
        for (k, v) in &patch {
            if v.is_null() || k.starts_with(DELETE_PRIMITIVE) || k.starts_with(SET_ORDER) {
                continue;
            }
            if !keep.iter().any(|x| x.as_str() == Some(k)) {
                return Err(bad("invalid patch format of retainKeys"));
            }
        }
        original.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
    }
    set_element_orders(&mut original, &mut patch, ty)?;
    for (key, pv) in patch {
        let (k, delete_list) = match key.strip_prefix(DELETE_PRIMITIVE) {
            Some(rest) => match rest.strip_prefix('/') {
                Some(k) if !k.is_empty() => (k.to_string(), true),
                _ => return Err(bad("invalid patch format of primitive list")),
            },
            None => (key, false),
        };
        if pv.is_null() {
            original.remove(&k);
            continue;
        }
        let fl = patchmeta::field(ty, &k);
        let Some(ov) = original.get_mut(&k) else {
            if !delete_list {
                original.insert(k, clean(pv, &fl)?);
            }
            continue;
        };
        if !same_type(ov, &pv) {
            *ov = clean(pv, &fl)?;
            continue;
        }
        match (ov.take(), pv) {
            (Value::Object(om), Value::Object(pm)) => {
                *ov = if fl.replace {
                    merge_map(Map::new(), pm, fl.ty)?
                } else {
                    merge_map(om, pm, fl.ty)?
                }
                .into();
            }
            (Value::Array(oa), Value::Array(pa)) => {
                *ov = if fl.merge {
                    Value::Array(merge_slice(oa, pa, &fl, delete_list)?)
                } else if delete_list {
                    // A deletion list for a list that does not merge: nothing to delete from.
                    Value::Array(oa)
                } else {
                    clean(Value::Array(pa), &fl)?
                };
            }
            (_, p) => *ov = p,
        }
    }
    Ok(original)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Elem {
    Map,
    Scalar,
}

fn element_kind(lists: &[&[Value]]) -> R<Option<Elem>> {
    let mut first: Option<&Value> = None;
    for l in lists {
        for v in l.iter() {
            if v.is_array() {
                return Err(inv("lists of lists are not supported"));
            }
            match first {
                None => first = Some(v),
                Some(f) if !same_type(f, v) => {
                    let all: Vec<String> = lists
                        .iter()
                        .map(|l| go_fmt(&Value::Array(l.to_vec())))
                        .collect();
                    return Err(inv(format!(
                        "list element types are not identical: [{}]",
                        all.join(" ")
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(first.map(|v| {
        if v.is_object() {
            Elem::Map
        } else {
            Elem::Scalar
        }
    }))
}

/// The merge key value of an item (the item itself for scalars).
fn key_of<'a>(v: &'a Value, mkey: &str, kind: Elem) -> Option<&'a Value> {
    match kind {
        Elem::Map => v.get(mkey),
        Elem::Scalar => Some(v),
    }
}

fn index_in(list: &[Value], item: &Value, mkey: &str, kind: Elem) -> Option<usize> {
    let k = key_of(item, mkey, kind)?;
    list.iter()
        .position(|x| key_of(x, mkey, kind).is_some_and(|xk| same(xk, k)))
}

fn merge_slice(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    fl: &Field,
    delete_list: bool,
) -> R<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let Some(kind) = element_kind(&[&original, &patch])? else {
        return Ok(original);
    };
    let mkey = fl.merge_key;
    let mut patch_rest = patch.clone();
    let merged = if kind == Elem::Scalar {
        if delete_list {
            return Ok(original
                .into_iter()
                .filter(|o| !patch.iter().any(|p| same(o, p)))
                .collect());
        }
        let mut all = original.clone();
        for p in &patch {
            if !all.iter().any(|o| same(o, p)) {
                all.push(p.clone());
            }
        }
        all
    } else {
        if mkey.is_empty() {
            return Err(inv("cannot merge lists without merge key for type struct"));
        }
        // Special elements first: deletions and a whole-list replace.
        let mut plain = Vec::new();
        let mut replace = false;
        for v in &patch {
            let m = v.as_object().expect("maps");
            match m.get(DIRECTIVE) {
                None => plain.push(v.clone()),
                Some(d) => match d.as_str() {
                    Some("delete") => {
                        let Some(kv) = m.get(mkey) else {
                            return Err(no_merge_key(m, mkey));
                        };
                        original.retain(|o| !o.get(mkey).is_some_and(|ok| same(ok, kv)));
                    }
                    Some("replace") => replace = true,
                    Some("merge") => {
                        return Err(inv("merging lists cannot yet be specified in the patch"))
                    }
                    _ => return Err(bad_patch_type(d, m)),
                },
            }
        }
        if replace {
            original = plain
                .into_iter()
                .map(|v| clean(v, fl))
                .collect::<R<Vec<_>>>()?;
            plain = Vec::new();
        }
        patch_rest = plain.clone();
        let mut out = original.clone();
        for v in plain {
            let Value::Object(pm) = v else { unreachable!() };
            let Some(kv) = pm.get(mkey).cloned() else {
                return Err(no_merge_key(&pm, mkey));
            };
            match out
                .iter()
                .position(|o| o.get(mkey).is_some_and(|ok| same(ok, &kv)))
            {
                Some(i) => {
                    let Value::Object(om) = out[i].take() else {
                        return Err(inv(format!("value for key {i} is not a map.")));
                    };
                    out[i] = Value::Object(merge_map(om, pm, fl.ty)?);
                }
                None => out.push(Value::Object(merge_map(Map::new(), pm, fl.ty)?)),
            }
        }
        out
    };
    let (in_patch, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| index_in(&patch_rest, v, mkey, kind).is_some());
    Ok(normalize_order(
        in_patch,
        server_only,
        &patch_rest,
        &original,
        mkey,
        kind,
    ))
}

/// Sorts the patch's items by `patch_order` and the server-only items by `server_order`, then
/// interleaves them keeping the live order where both are known (apimachinery's
/// `normalizeElementOrder`).
fn normalize_order(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    mkey: &str,
    kind: Elem,
) -> Vec<Value> {
    patch_items.sort_by_key(|v| index_in(patch_order, v, mkey, kind).unwrap_or(usize::MAX));
    server_only.sort_by_key(|v| index_in(server_order, v, mkey, kind).unwrap_or(usize::MAX));
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(patch_items.len() + server_only.len());
    while i < server_only.len() || j < patch_items.len() {
        if i >= server_only.len() {
            out.push(patch_items[j].clone());
            j += 1;
        } else if j >= patch_items.len() {
            out.push(server_only[i].clone());
            i += 1;
        } else {
            let li = index_in(server_order, &server_only[i], mkey, kind);
            let ri = index_in(server_order, &patch_items[j], mkey, kind);
            if matches!((li, ri), (Some(l), Some(r)) if l < r) {
                out.push(server_only[i].clone());
                i += 1;
            } else {
                out.push(patch_items[j].clone());
                j += 1;
            }
        }
    }
    out
}

/// `$setElementOrder/<field>`: merges that field's patch list now, then orders the result as
/// the directive says (the directive first, then the patch, then the live order).
fn set_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    ty: &str,
) -> R<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let order = patch.remove(&key).expect("listed");
        let Value::Array(order) = order else {
            return Err(bad("invalid patch format of setElementOrder list"));
        };
        let field_name = match key[SET_ORDER.len()..].strip_prefix('/') {
            Some(f) if !f.is_empty() => f.to_string(),
            _ => return Err(bad("invalid patch format of setElementOrder list")),
        };
        let fl = patchmeta::field(ty, &field_name);
        let orig_list = match original.get(&field_name) {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => {
                return Err(inv(format!(
                    "expected a list, but got {} for {field_name}",
                    go_fmt(other)
                )))
            }
            None => None,
        };
        let patch_list = match patch.get(&field_name) {
            Some(Value::Array(a)) => Some(a.clone()),
            Some(Value::Null) | None => None,
            Some(_) => return Err(bad("invalid patch format of setElementOrder list")),
        };
        if let Some(pl) = &patch_list {
            check_order(pl, &order, fl.merge_key)?;
        }
        let merged = match (&orig_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => match clean(Value::Array(p.clone()), &fl)? {
                Value::Array(a) => a,
                _ => unreachable!(),
            },
            (Some(o), Some(p)) if fl.merge => merge_slice(o.clone(), p.clone(), &fl, false)?,
            (Some(_), Some(p)) => p.clone(),
            (None, None) => continue,
        };
        let empty = Vec::new();
        let o = orig_list.as_deref().unwrap_or(&empty);
        let p = patch_list.as_deref().unwrap_or(&empty);
        let Some(kind) = element_kind(&[o, p])? else {
            original.insert(field_name.clone(), Value::Array(merged));
            patch.remove(&field_name);
            continue;
        };
        let mkey = fl.merge_key;
        let (in_order, server_only): (Vec<Value>, Vec<Value>) = merged
            .into_iter()
            .partition(|v| index_in(&order, v, mkey, kind).is_some());
        let both = normalize_order(in_order, server_only, &order, o, mkey, kind);
        original.insert(field_name.clone(), Value::Array(both));
        patch.remove(&field_name);
    }
    Ok(())
}

/// The relative order of the patch list's items must match the `$setElementOrder` list.
fn check_order(patch_list: &[Value], order: &[Value], mkey: &str) -> R<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let keep: Vec<&Value> = patch_list
        .iter()
        .filter(|v| v.get(DIRECTIVE).is_none())
        .collect();
    let key = |v: &Value| -> R<Value> {
        if mkey.is_empty() {
            return Ok(v.clone());
        }
        match v {
            Value::Object(m) => m.get(mkey).cloned().ok_or_else(|| no_merge_key(m, mkey)),
            _ => Err(bad("invalid patch format of setElementOrder list")),
        }
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < keep.len() && oi < order.len() {
        if same(&key(keep[pi])?, &key(&order[oi])?) {
            pi += 1;
        }
        oi += 1;
    }
    if pi < keep.len() {
        return Err(inv(format!(
            "The order in patch list:\n{}\n doesn't match $setElementOrder list:\n{}\n",
            go_fmt(&Value::Array(patch_list.to_vec())),
            go_fmt(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: Value) -> Value {
        json!({"kind":"Pod","metadata":{"name":"p"},"spec":{"containers": containers}})
    }

    #[test]
    fn containers_merge_by_name_and_keep_the_others() {
        let o = pod(json!([{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]));
        let p = json!({"spec":{"containers":[{"name":"b","image":"b:2"}]}});
        let out = apply(&o, &p, "Pod").unwrap();
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name":"a","image":"a:1"},{"name":"b","image":"b:2"}])
        );
    }

    #[test]
    fn set_image_on_a_deployment_template() {
        let o = json!({"spec":{"replicas":2,"template":{"spec":{"containers":[
            {"name":"nginx","image":"nginx:1.25","ports":[{"containerPort":80,"protocol":"TCP"}]}]}}}});
        let p = json!({"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}});
        let out = apply(&o, &p, "Deployment").unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0],
            json!({"name":"nginx","image":"nginx:1.27","ports":[{"containerPort":80,"protocol":"TCP"}]})
        );
        assert_eq!(out["spec"]["replicas"], 2);
    }

    #[test]
    fn new_items_without_an_order_go_first_as_upstream_merges_them() {
        // apimachinery's mergeSortedSlice takes a patch item first when the live order does
        // not know it.
        let o = json!({"spec":{"ports":[{"port":80,"name":"http"}]}});
        let p = json!({"spec":{"ports":[{"port":443,"name":"https"}]}});
        let out = apply(&o, &p, "Service").unwrap();
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port":443,"name":"https"},{"port":80,"name":"http"}])
        );
        // With the order kubectl sends, it is kept.
        let p = json!({"spec":{"$setElementOrder/ports":[{"port":80},{"port":443}],"ports":[{"port":443,"name":"https"}]}});
        let out = apply(&o, &p, "Service").unwrap();
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port":80,"name":"http"},{"port":443,"name":"https"}])
        );
    }

    #[test]
    fn delete_directive_removes_an_item_by_merge_key() {
        let o = json!({"spec":{"ports":[{"port":80},{"port":443}]}});
        let p = json!({"spec":{"ports":[{"port":80,"$patch":"delete"}]}});
        let out = apply(&o, &p, "Service").unwrap();
        assert_eq!(out["spec"]["ports"], json!([{"port":443}]));
    }

    #[test]
    fn replace_directive_in_a_list_replaces_it() {
        let o = pod(json!([{"name":"a","image":"x"},{"name":"b","image":"y"}]));
        let p = json!({"spec":{"containers":[{"name":"c","image":"z"},{"$patch":"replace"}]}});
        let out = apply(&o, &p, "Pod").unwrap();
        assert_eq!(out["spec"]["containers"], json!([{"name":"c","image":"z"}]));
    }

    #[test]
    fn replace_and_delete_directives_on_maps() {
        let o = json!({"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"selector":{"x":"y"}}});
        let p = json!({"metadata":{"labels":{"c":"3","$patch":"replace"}},"spec":{"selector":{"$patch":"delete"}}});
        let out = apply(&o, &p, "Service").unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"c":"3"}));
        assert_eq!(out["spec"]["selector"], json!({}));
        let err = apply(&o, &json!({"spec":{"$patch":"explode"}}), "Service").unwrap_err();
        assert_eq!(
            err.message(),
            "unknown patch type: explode in map: map[$patch:explode]"
        );
    }

    #[test]
    fn null_deletes_and_unlisted_lists_are_replaced() {
        let o = json!({"spec":{"tolerations":[{"key":"a"}],"nodeName":"n","containers":[{"name":"a","args":["1","2"]}]}});
        let p = json!({"spec":{"tolerations":[{"key":"b"}],"nodeName":null,"containers":[{"name":"a","args":["3"]}]}});
        let out = apply(&o, &p, "Pod").unwrap();
        assert_eq!(out["spec"]["tolerations"], json!([{"key":"b"}]));
        assert!(out["spec"].get("nodeName").is_none());
        assert_eq!(out["spec"]["containers"][0]["args"], json!(["3"]));
    }

    #[test]
    fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
        let o = json!({"metadata":{"finalizers":["a","b"]}});
        let out = apply(&o, &json!({"metadata":{"finalizers":["b","c"]}}), "Pod").unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
        let out = apply(
            &out,
            &json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}),
            "Pod",
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b", "c"]));
        let err = apply(
            &out,
            &json!({"metadata":{"$deleteFromPrimitiveList":["a"]}}),
            "Pod",
        )
        .unwrap_err();
        assert_eq!(
            err,
            SmpError::BadPatch("invalid patch format of primitive list".into())
        );
    }

    #[test]
    fn set_element_order_orders_the_merged_list() {
        let o = pod(json!([{"name":"a"},{"name":"b"}]));
        let p = json!({"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"b"},{"name":"a"}],
            "containers":[{"name":"c","image":"z"}]}});
        let out = apply(&o, &p, "Pod").unwrap();
        let names: Vec<&str> = out["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["c", "b", "a"]);
    }

    #[test]
    fn retain_keys_clears_the_other_keys() {
        let o =
            json!({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}});
        let p = json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}});
        let out = apply(&o, &p, "Deployment").unwrap();
        assert_eq!(out["spec"]["strategy"], json!({"type":"Recreate"}));
        let p = json!({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}});
        assert_eq!(
            apply(&o, &p, "Deployment").unwrap_err(),
            SmpError::BadPatch("invalid patch format of retainKeys".into())
        );
    }

    #[test]
    fn missing_merge_key_is_an_error() {
        let o = pod(json!([{"name":"a"}]));
        let err = apply(&o, &json!({"spec":{"containers":[{"image":"x"}]}}), "Pod").unwrap_err();
        assert_eq!(
            err.message(),
            "map: map[image:x] does not contain declared merge key: name"
        );
    }

    #[test]
    fn directives_in_new_values_are_resolved() {
        let o = json!({"spec":{}});
        let p = json!({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"},{"name":"Y","$patch":"delete"}]}]}});
        let out = apply(&o, &p, "Pod").unwrap();
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name":"a","env":[{"name":"X","value":"1"}]}])
        );
    }

    #[test]
    fn env_merges_by_name_and_numbers_compare_as_go_does() {
        let o = json!({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"name":"x"}],
            "env":[{"name":"A","value":"1"}]}]}});
        let p = json!({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80.0,"name":"y"}],
            "env":[{"name":"A","value":"2"},{"name":"B","value":"3"}]}]}});
        let out = apply(&o, &p, "Pod").unwrap();
        assert_eq!(
            out["spec"]["containers"][0]["ports"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(out["spec"]["containers"][0]["ports"][0]["name"], "y");
        assert_eq!(
            out["spec"]["containers"][0]["env"],
            json!([{"name":"A","value":"2"},{"name":"B","value":"3"}])
        );
    }
}

/// Property tests: a patch is the learner's text. Any patch on any object gives a result or an
/// error, never a panic; a patch without directives or nulls, applied twice, changes nothing more.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{config, json_value, near_valid_object, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/kube_strategic.txt";

    fn plain(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::Array(a) => a.iter().all(plain),
            Value::Object(m) => m.iter().all(|(k, v)| !k.starts_with('$') && plain(v)),
            _ => true,
        }
    }

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_patch_on_any_object(o in near_valid_object(), p in json_value()) {
            let kind = o["kind"].as_str().unwrap_or("Pod").to_string();
            let _ = apply(&o, &p, &kind);
            let _ = apply(&p, &o, &kind);
        }

        #[test]
        fn without_lists_or_directives_it_is_a_merge_patch(o in json_value(), p in json_value()) {
            fn listless(v: Value) -> Value {
                match v {
                    Value::Array(_) => Value::Null,
                    Value::Object(m) => Value::Object(
                        m.into_iter()
                            .map(|(k, v)| (k.replace('$', "_"), listless(v)))
                            .collect(),
                    ),
                    other => other,
                }
            }
            let o = serde_json::json!({"spec": listless(o)});
            let p = serde_json::json!({"spec": listless(p)});
            let mut merged = o.clone();
            crate::kube::patch::merge_patch(&mut merged, &p);
            prop_assert_eq!(apply(&o, &p, "Pod").expect("a plain patch applies"), merged);
        }

        #[test]
        fn a_plain_patch_is_idempotent(o in near_valid_object(), p in near_valid_object()) {
            prop_assume!(plain(&p));
            let kind = o["kind"].as_str().unwrap_or("Pod").to_string();
            if let Ok(once) = apply(&o, &p, &kind) {
                let twice = apply(&once, &p, &kind).expect("the second application");
                prop_assert_eq!(once, twice);
            }
        }
    }
}
