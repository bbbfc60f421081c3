//! `GET /api/v1/namespaces/{ns}/pods/{name}/log`: `PodLogOptions` checked as kube-apiserver
//! checks them, then the kubelet's `/logs/{ns}/{pod}` streamed back (`follow=true` streams until
//! the pod is gone or the client leaves).

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::io::AsyncReadExt;

use super::kubelet::{dial_error, request};
use super::pod::{locate, waiting_reason};
use crate::apiserver::handlers::entry::method_not_allowed;
use crate::apiserver::handlers::errors::ApiError;
use crate::apiserver::state::AppState;
use crate::apiserver::validation::{invalid_status, FieldError};
use crate::kube::client::Status;
use crate::kube::stream::{percent_encode, query_pairs};

/// The options of `pods/log` (`PodLogOptions`), as they came in the query.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PodLogOptions {
    /// `container`.
    pub container: String,
    /// `follow`.
    pub follow: bool,
    /// `previous`.
    pub previous: bool,
    /// `timestamps`.
    pub timestamps: bool,
    /// `sinceSeconds`.
    pub since_seconds: Option<i64>,
    /// `sinceTime` (RFC 3339).
    pub since_time: Option<String>,
    /// `tailLines`.
    pub tail_lines: Option<i64>,
    /// `limitBytes`.
    pub limit_bytes: Option<i64>,
}

fn flag(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
        "false" | "0" | "f" | "F" | "FALSE" | "False" | "" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {v:?}: invalid syntax")),
    }
}

fn int(v: &str) -> Result<i64, String> {
    v.parse()
        .map_err(|_| format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))
}

impl PodLogOptions {
    /// Reads the query; a value that does not parse is a 400 as the real decoder words it.
    pub fn parse(query: &str) -> Result<PodLogOptions, String> {
        let mut o = PodLogOptions::default();
        for (k, v) in query_pairs(query) {
            match k.as_str() {
                "container" => o.container = v,
                "follow" => o.follow = flag(&v)?,
                "previous" => o.previous = flag(&v)?,
                "timestamps" => o.timestamps = flag(&v)?,
                "sinceSeconds" => o.since_seconds = Some(int(&v)?),
                "sinceTime" => {
                    time::OffsetDateTime::parse(
                        &v,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|_| {
                        format!("parsing time {v:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {v:?} as \"2006\"")
                    })?;
                    o.since_time = Some(v);
                }
                "tailLines" => o.tail_lines = Some(int(&v)?),
                "limitBytes" => o.limit_bytes = Some(int(&v)?),
                _ => {}
            }
        }
        Ok(o)
    }

    /// kube-apiserver's `ValidatePodLogOptions`.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if let Some(t) = self.tail_lines.filter(|t| *t < 0) {
            errs.push(FieldError::invalid(
                "tailLines",
                json!(t),
                "must be greater than or equal to 0",
            ));
        }
        if let Some(l) = self.limit_bytes.filter(|l| *l < 1) {
            errs.push(FieldError::invalid(
                "limitBytes",
                json!(l),
                "must be greater than 0",
            ));
        }
        match (self.since_seconds, &self.since_time) {
            (Some(_), Some(_)) => errs.push(FieldError::forbidden(
                "",
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            )),
            (Some(s), None) if s < 1 => errs.push(FieldError::invalid(
                "sinceSeconds",
                json!(s),
                "must be greater than 0",
            )),
            _ => {}
        }
        errs
    }

    /// The kubelet's query (container included).
    pub fn kubelet_query(&self, container: &str) -> String {
        let mut q = vec![format!("container={}", percent_encode(container))];
        for (k, on) in [
            ("follow", self.follow),
            ("previous", self.previous),
            ("timestamps", self.timestamps),
        ] {
            if on {
                q.push(format!("{k}=true"));
            }
        }
        for (k, v) in [
            ("sinceSeconds", self.since_seconds),
            ("tailLines", self.tail_lines),
            ("limitBytes", self.limit_bytes),
        ] {
            if let Some(v) = v {
                q.push(format!("{k}={v}"));
            }
        }
        if let Some(t) = &self.since_time {
            q.push(format!("sinceTime={}", percent_encode(t)));
        }
        q.join("&")
    }
}

/// `GET …/pods/{name}/log`.
pub async fn log(
    State(app): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    method: Method,
    uri: Uri,
) -> Response {
    if method != Method::GET {
        return method_not_allowed().into_response();
    }
    let opts = match PodLogOptions::parse(uri.query().unwrap_or("")) {
        Ok(o) => o,
        Err(e) => return ApiError(Status::new(400, "BadRequest", e)).into_response(),
    };
    let errs = opts.validate();
    if !errs.is_empty() {
        return ApiError(invalid_status("PodLogOptions", &name, &errs)).into_response();
    }
    let located = match locate(&app, &ns, &name, Some(&opts.container)) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let Some(addr) = located.kubelet else {
        // No node yet: kube-apiserver answers an empty log.
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "").into_response();
    };
    if let Some(reason) = waiting_reason(&located.pod) {
        return ApiError(Status::new(
            400,
            "BadRequest",
            format!(
                "container {:?} in pod {name:?} is waiting to start: {reason}",
                located.container
            ),
        ))
        .into_response();
    }
    let path = format!(
        "/logs/{ns}/{name}?{}",
        opts.kubelet_query(&located.container)
    );
    let reply = match request(&addr, &path, false).await {
        Ok(r) => r,
        Err(e) => return dial_error(&addr, &e),
    };
    if reply.code != 200 {
        return reply.into_error_response().await;
    }
    let first = Bytes::from(reply.leftover);
    let body =
        futures_util::stream::unfold((Some(first), reply.stream), |(first, mut s)| async move {
            if let Some(b) = first.filter(|b| !b.is_empty()) {
                return Some((Ok::<Bytes, std::io::Error>(b), (None, s)));
            }
            let mut buf = vec![0u8; 16 * 1024];
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), (None, s)))
                }
            }
        });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_validate_as_upstream() {
        let o = PodLogOptions::parse(
            "container=web&follow=true&tailLines=5&limitBytes=10&timestamps=true&sinceSeconds=30",
        )
        .unwrap();
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!(
            (o.tail_lines, o.limit_bytes, o.since_seconds),
            (Some(5), Some(10), Some(30))
        );
        assert!(o.validate().is_empty());
        assert_eq!(
            o.kubelet_query("web"),
            "container=web&follow=true&timestamps=true&sinceSeconds=30&tailLines=5&limitBytes=10"
        );
        assert_eq!(
            PodLogOptions::parse("tailLines=x").unwrap_err(),
            "strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        let bad = PodLogOptions::parse("tailLines=-1&limitBytes=0&sinceSeconds=0").unwrap();
        let s = invalid_status("PodLogOptions", "web", &bad.validate());
        assert_eq!(s.code, 422);
        assert!(
            s.message.starts_with("PodLogOptions \"web\" is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, limitBytes: Invalid value: 0: must be greater than 0, sinceSeconds: Invalid value: 0: must be greater than 0"),
            "{}",
            s.message
        );
        let both = PodLogOptions::parse("sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z").unwrap();
        assert_eq!(both.validate().len(), 1);
    }
}
