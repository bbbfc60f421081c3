//! GET on a collection or an object, as kube-apiserver answers it: `resourceVersion` and
//! `resourceVersionMatch`, `limit`/`continue` pagination (410 for an expired token), label and
//! field selectors, watch (see [`super::watch`]), and the negotiated shape (JSON, Table,
//! PartialObjectMetadata).

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::errors::{bad_request, not_found, ApiError, ApiResult};
use super::watch::{start_watch, WatchParams, WatchStart};
use crate::apiserver::state::AppState;
use crate::apiserver::table;
use crate::kube::client::{Resource, Status};
use crate::kube::selectors::{FieldSelector, LabelSelector};

/// What a GET answers: a JSON body (object, list, Table…) or a watch stream.
pub(crate) enum Got {
    /// The status code and body.
    Json(StatusCode, Value),
    /// A watch to stream.
    Watch(WatchStart),
}

fn flag(q: &HashMap<String, String>, k: &str) -> Option<bool> {
    q.get(k).map(|v| v == "true" || v == "1")
}

fn invalid_list_options(msg: &str) -> ApiError {
    ApiError(Status::new(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: {msg}"),
    ))
}

/// `GET <collection>`: a list or, with `watch=true`, a watch.
pub(crate) fn get_collection(
    app: &AppState,
    res: &'static Resource,
    ns: Option<String>,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<Got> {
    let label = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))
        .map_err(bad_request)?;
    let field = FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str), res.kind)
        .map_err(bad_request)?;
    let watch = flag(q, "watch") == Some(true);
    let shape = table::negotiate(headers, q, !watch)?;
    let rv_match = q.get("resourceVersionMatch").filter(|m| !m.is_empty());
    if let Some(m) = rv_match {
        if m != "Exact" && m != "NotOlderThan" {
            return Err(invalid_list_options(&format!(
                "resourceVersionMatch: Unsupported value: \"{m}\": supported values: \"Exact\", \"NotOlderThan\", \"\""
            )));
        }
    }
    if watch {
        let timeout_secs = q
            .get("timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1800);
        let p = WatchParams {
            rv: q.get("resourceVersion").cloned(),
            rv_match: rv_match.cloned(),
            bookmarks: flag(q, "allowWatchBookmarks") == Some(true),
            send_initial: flag(q, "sendInitialEvents"),
            timeout_secs,
        };
        return start_watch(app, res, ns, label, field, p, shape).map(Got::Watch);
    }
    let mut st = app.store();
    if res.kind == "Event" && super::kinds::prune_events(&mut st, None) {
        app.changed();
    }
    let current = st.resource_version();
    let rv = q.get("resourceVersion").filter(|r| !r.is_empty());
    if rv_match.is_some() && rv.is_none() {
        return Err(invalid_list_options(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    if let Some(r) = rv {
        let n: u64 = r
            .parse()
            .map_err(|_| bad_request(format!("invalid resource version: {r:?}")))?;
        if rv_match.map(String::as_str) == Some("Exact") && n == 0 {
            return Err(invalid_list_options(
                "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
        if n > current {
            let mut s = Status::new(
                504,
                "Timeout",
                format!("Too large resource version: {n}, current: {current}"),
            );
            s.details = Some(Box::new(json!({
                "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                "retryAfterSeconds": 1,
            })));
            return Err(ApiError(s));
        }
        if rv_match.map(String::as_str) == Some("Exact") && n < current {
            return Err(ApiError(Status::new(
                410,
                "Expired",
                "The resourceVersion for the provided list is too old.",
            )));
        }
    }
    let limit = q
        .get("limit")
        .map(|l| {
            l.parse::<i64>()
                .map_err(|_| bad_request(format!("invalid limit {l:?}")))
        })
        .transpose()?
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let mut list_rv = current;
    let mut start: Option<(String, String)> = None;
    let mut expired = false;
    if let Some(token) = q.get("continue").filter(|c| !c.is_empty()) {
        if rv.is_some_and(|r| r != "0") {
            return Err(invalid_list_options(
                "resourceVersion: Forbidden: specifying resource version is not allowed when using continue",
            ));
        }
        let (trv, key) = decode_continue(token, res.namespaced)?;
        if trv < st.oldest_resource_version() {
            expired = true;
        } else {
            list_rv = trv;
        }
        start = Some(key);
    }
    let selected: Vec<&Value> = st
        .list(res, ns.as_deref())
        .into_iter()
        .filter(|o| {
            start.as_ref().is_none_or(|k| {
                let key = crate::apiserver::store::key_of(o);
                key > *k
            })
        })
        .filter(|o| label.matches_object(o) && field.matches(o))
        .collect();
    let mut meta = json!({"resourceVersion": list_rv.to_string()});
    let shown = match limit {
        Some(l) if selected.len() > l => {
            let last = crate::apiserver::store::key_of(selected[l - 1]);
            meta["continue"] = json!(encode_continue(list_rv, &last, res.namespaced));
            if label.is_empty() && field.requirements.is_empty() {
                meta["remainingItemCount"] = json!(selected.len() - l);
            }
            &selected[..l]
        }
        _ => &selected[..],
    };
    if expired {
        let s = Status::new(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        );
        let mut body = s.to_json();
        if let Some(k) = &start {
            body["metadata"] = json!({"continue": encode_continue(current, k, res.namespaced)});
        }
        return Ok(Got::Json(StatusCode::GONE, body));
    }
    let list = json!({
        "kind": format!("{}List", res.kind),
        "apiVersion": res.api_version(),
        "metadata": meta,
        "items": shown.iter().map(|o| (*o).clone()).collect::<Vec<_>>(),
    });
    Ok(Got::Json(StatusCode::OK, table::list_as(shape, res, list)))
}

/// `GET <object>` (and `…/status`), in the negotiated shape.
pub(crate) fn get_object(
    app: &AppState,
    res: &'static Resource,
    ns: Option<&str>,
    name: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<Got> {
    let shape = table::negotiate(headers, q, false)?;
    let st = app.store();
    let o = st
        .get(res, ns.unwrap_or(""), name)
        .cloned()
        .ok_or_else(|| not_found(res, name))?;
    Ok(Got::Json(StatusCode::OK, table::object_as(shape, res, o)))
}

fn key_text(key: &(String, String), namespaced: bool) -> String {
    if namespaced {
        format!("{}/{}\u{0}", key.0, key.1)
    } else {
        format!("{}\u{0}", key.1)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with the URL alphabet and no padding (Go's `base64.RawURLEncoding`).
fn b64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = match c {
            b'+' => 62,
            b'/' => 63,
            _ => B64.iter().position(|x| *x == c)? as u32,
        };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A continue token as kube-apiserver writes them: base64 of
/// `{"v":"meta.k8s.io/v1","rv":N,"start":"<ns>/<name>\u0000"}`.
pub(crate) fn encode_continue(rv: u64, last: &(String, String), namespaced: bool) -> String {
    let t = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": key_text(last, namespaced)});
    b64_encode(t.to_string().as_bytes())
}

fn decode_continue(token: &str, namespaced: bool) -> ApiResult<(u64, (String, String))> {
    let invalid = |why: &str| bad_request(format!("continue key is not valid: {why}"));
    let raw = b64_decode(token).ok_or_else(|| invalid("illegal base64 data"))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|e| invalid(&e.to_string()))?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(invalid(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    let rv = v
        .get("rv")
        .and_then(Value::as_u64)
        .filter(|rv| *rv > 0)
        .ok_or_else(|| {
            invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        })?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .map(|s| s.trim_end_matches('\u{0}'))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("encoded start key is empty"))?;
    let key = if namespaced {
        let (ns, name) = start
            .split_once('/')
            .ok_or_else(|| invalid("encoded start key is not a namespace/name"))?;
        (ns.to_string(), name.to_string())
    } else {
        (String::new(), start.to_string())
    };
    Ok((rv, key))
}
