//! The entry point of every `/api` and `/apis` request: parses the path and runs the verb
//! (list, get, create, replace, patch, delete, watch, subresources).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::response::Response;
use serde_json::json;
use serde_json::Value;

use super::binding::bind;
use super::binding::scale_of;
use super::binding::scale_update;
use super::body::parse_body;
use super::create::create;
use super::create::replace;
use super::create::Mode;
use super::delete::delete;
use super::errors::bad_request;
use super::errors::not_found;
use super::errors::unknown_path;
use super::errors::ApiError;
use super::errors::ApiResult;
use super::path::parse_path;
use super::path::Parsed;
use super::watch::watch_response;
use super::watch::WatchStart;
use crate::apiserver::negotiate;
use crate::apiserver::state::AppState;
use crate::kube::client::Status;
use crate::kube::selectors::FieldSelector;
use crate::kube::selectors::LabelSelector;

/// Handles every request under `/api` and `/apis`.
pub async fn handle_api(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = crate::apiserver::discovery::aggregated::respond(&method, uri.path(), &headers)
    {
        return r;
    }
    // Bodies and answers in the media types the client negotiates (JSON, YAML, protobuf).
    let body = match negotiate::request_body(&headers, body) {
        Ok(b) => b,
        Err(s) => return ApiError(s).into_response_for(&headers),
    };
    super::write::take_warnings();
    let mut resp = match dispatch(&app, &method, &uri, &headers, &body) {
        Ok(Reply::Json(code, v)) => negotiate::respond(&headers, code, &v),
        Ok(Reply::Watch(w)) => match negotiate::response_media(&headers) {
            Some(media) => watch_response(w, media),
            None => ApiError(negotiate::not_acceptable()).into_response(),
        },
        Err(e) => e.into_response_for(&headers),
    };
    for w in super::write::take_warnings() {
        if let Some(h) = negotiate::warning_header(&w) {
            resp.headers_mut().append("warning", h);
        }
    }
    resp
}

pub(crate) enum Reply {
    Json(StatusCode, Value),
    Watch(WatchStart),
}

impl From<super::list::Got> for Reply {
    fn from(g: super::list::Got) -> Self {
        match g {
            super::list::Got::Json(code, v) => Reply::Json(code, v),
            super::list::Got::Watch(w) => Reply::Watch(w),
        }
    }
}

pub(crate) fn query_map(uri: &Uri) -> std::collections::HashMap<String, String> {
    axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

pub(crate) fn dispatch(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<Reply> {
    let q = query_map(uri);
    let t = match parse_path(uri.path())? {
        Parsed::Discovery(v) if method == Method::GET => return Ok(Reply::Json(StatusCode::OK, v)),
        Parsed::Discovery(_) => return Err(method_not_allowed()),
        Parsed::Target(t) => t,
    };
    let ns = t.namespace.clone();
    let res = t.res;
    let reply_ok = |v: Value| Ok(Reply::Json(StatusCode::OK, v));
    match (method.clone(), t.name.as_deref(), t.sub.as_deref()) {
        (Method::GET, None, None) => {
            super::list::get_collection(app, res, ns, &q, headers).map(Reply::from)
        }
        (Method::GET, Some(name), None) | (Method::GET, Some(name), Some("status")) => {
            super::list::get_object(app, res, ns.as_deref(), name, &q, headers).map(Reply::from)
        }
        (Method::GET, Some(name), Some("scale")) if super::write::scalable(res) => {
            let st = app.store();
            let d = st
                .get(res, ns.as_deref().unwrap_or(""), name)
                .ok_or_else(|| not_found(res, name))?;
            reply_ok(scale_of(d))
        }
        (Method::POST, None, None) => {
            let mut obj = parse_body(body)?;
            let opts = super::write::write_opts(&q, headers, "CreateOptions")?;
            super::write::check_fields(res, &mut obj, &opts, body)?;
            let mut st = app.store();
            let c = super::write::ctx(res, &opts, "");
            let created = super::write::with_writer(&mut st, &opts, Some(c), |st| {
                create(app, st, res, ns.as_deref(), obj)
            })?;
            app.changed();
            Ok(Reply::Json(StatusCode::CREATED, created))
        }
        (Method::POST, Some(name), Some("binding")) if res.kind == "Pod" => {
            let b = parse_body(body)?;
            let mut st = app.store();
            let out = bind(&mut st, ns.as_deref().unwrap_or("default"), name, &b)?;
            app.changed();
            Ok(Reply::Json(StatusCode::CREATED, out))
        }
        (Method::PUT, Some(name), sub) => {
            let mut obj = parse_body(body)?;
            let opts = super::write::write_opts(&q, headers, "UpdateOptions")?;
            if sub.is_none() {
                super::write::check_fields(res, &mut obj, &opts, body)?;
            }
            let mut st = app.store();
            let c = super::write::ctx(res, &opts, sub.unwrap_or(""));
            let out = super::write::with_writer(&mut st, &opts, Some(c), |st| match sub {
                None => replace(app, st, res, ns.as_deref(), name, obj, Mode::Main),
                Some("status") => replace(app, st, res, ns.as_deref(), name, obj, Mode::Status),
                Some("scale") if super::write::scalable(res) => {
                    scale_update(app, st, res, ns.as_deref(), name, &obj, false)
                }
                _ => Err(unknown_path()),
            })?;
            app.changed();
            reply_ok(out)
        }
        (Method::PATCH, Some(name), sub) => {
            let mut st = app.store();
            let (code, out) = super::write::patch(
                app,
                &mut st,
                res,
                ns.as_deref(),
                name,
                sub,
                headers,
                &q,
                body,
            )?;
            app.changed();
            Ok(Reply::Json(
                StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
                out,
            ))
        }
        (Method::DELETE, Some(name), None) => {
            let mut grace = q
                .get("gracePeriodSeconds")
                .map(|g| {
                    g.parse::<i64>()
                        .map_err(|_| bad_request(format!("invalid gracePeriodSeconds {g:?}")))
                })
                .transpose()?;
            if grace.is_none() && !body.is_empty() {
                if let Ok(opts) = serde_json::from_slice::<Value>(body) {
                    grace = opts.get("gracePeriodSeconds").and_then(Value::as_i64);
                }
            }
            let mut opts = super::write::write_opts(&q, headers, "DeleteOptions")?;
            // DeleteOptions may come in the body too (kubectl sends them there).
            if let Ok(o) = serde_json::from_slice::<Value>(body) {
                if o.get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|d| d.iter().any(|x| x == "All"))
                {
                    opts.dry_run = true;
                }
            }
            let mut st = app.store();
            let orphan = super::kinds::propagation_policy(&q, body).as_deref() == Some("Orphan");
            let out = super::write::with_writer(&mut st, &opts, None, |st| {
                if orphan {
                    super::kinds::delete_orphaning(st, res, ns.as_deref().unwrap_or(""), name)
                } else {
                    delete(st, res, ns.as_deref().unwrap_or(""), name, grace)
                }
            })?;
            app.changed();
            reply_ok(out)
        }
        (Method::DELETE, None, None) => {
            let label = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))
                .map_err(bad_request)?;
            let field =
                FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str), res.kind)
                    .map_err(bad_request)?;
            let grace = q
                .get("gracePeriodSeconds")
                .and_then(|g| g.parse::<i64>().ok());
            let mut st = app.store();
            let keys: Vec<(String, String)> = st
                .list(res, ns.as_deref())
                .into_iter()
                .filter(|o| label.matches_object(o) && field.matches(o))
                .map(crate::apiserver::store::key_of)
                .collect();
            let mut items = Vec::new();
            for (kns, kname) in keys {
                if let Ok(v) = delete(&mut st, res, &kns, &kname, grace) {
                    items.push(v);
                }
            }
            app.changed();
            reply_ok(json!({
                "kind": format!("{}List", res.kind),
                "apiVersion": res.api_version(),
                "metadata": {"resourceVersion": st.resource_version().to_string()},
                "items": items,
            }))
        }
        (Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE, _, _) => {
            Err(unknown_path())
        }
        _ => Err(method_not_allowed()),
    }
}

/// Kinds with a `scale` subresource.
pub(crate) fn method_not_allowed() -> ApiError {
    ApiError(Status::new(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    ))
}
