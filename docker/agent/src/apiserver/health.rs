//! `/healthz`, `/livez` and `/readyz` as kube-apiserver answers them: `ok`, or with `?verbose`
//! one `[+]<check> ok` line per check and `<endpoint> check passed`; `?exclude=<check>` leaves a
//! check out (listed as excluded); `/<endpoint>/<check>` answers one check; an unknown check is
//! 404. The lab server has no etcd or hooks that can fail: every check passes once it serves.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

const LIVE: &[&str] = &[
    "ping",
    "log",
    "etcd",
    "poststarthook/start-apiserver-admission-initializer",
    "poststarthook/generic-apiserver-start-informers",
    "poststarthook/start-system-namespaces-controller",
    "poststarthook/bootstrap-controller",
    "poststarthook/start-kube-apiserver-admission-initializer",
];

fn checks(endpoint: &str) -> Vec<&'static str> {
    let mut c = LIVE.to_vec();
    if endpoint == "readyz" {
        c.insert(3, "etcd-readiness");
        c.insert(4, "informer-sync");
        c.push("shutdown");
    }
    c
}

fn query(raw: Option<String>) -> (bool, Vec<String>) {
    let mut verbose = false;
    let mut exclude = Vec::new();
    for pair in raw.unwrap_or_default().split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "verbose" => verbose = true,
            "exclude" => exclude.push(v.replace("%2F", "/").replace("%2f", "/")),
            _ => {}
        }
    }
    (verbose, exclude)
}

fn report(endpoint: &str, raw: Option<String>) -> Response {
    let (verbose, exclude) = query(raw);
    if !verbose {
        return (StatusCode::OK, "ok").into_response();
    }
    let mut out = String::new();
    for c in checks(endpoint) {
        if exclude.iter().any(|e| e == c) {
            out.push_str(&format!("[+]{c} excluded: ok\n"));
        } else {
            out.push_str(&format!("[+]{c} ok\n"));
        }
    }
    out.push_str(&format!("{endpoint} check passed\n"));
    (StatusCode::OK, out).into_response()
}

fn one(endpoint: &str, check: &str) -> Response {
    if checks(endpoint).contains(&check) {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
    }
}

/// `GET /healthz`.
pub async fn healthz(RawQuery(q): RawQuery) -> Response {
    report("healthz", q)
}

/// `GET /livez`.
pub async fn livez(RawQuery(q): RawQuery) -> Response {
    report("livez", q)
}

/// `GET /readyz`.
pub async fn readyz(RawQuery(q): RawQuery) -> Response {
    report("readyz", q)
}

/// `GET /healthz/<check>`.
pub async fn healthz_check(Path(p): Path<HashMap<String, String>>) -> Response {
    one("healthz", p.get("check").map_or("", String::as_str))
}

/// `GET /livez/<check>`.
pub async fn livez_check(Path(p): Path<HashMap<String, String>>) -> Response {
    one("livez", p.get("check").map_or("", String::as_str))
}

/// `GET /readyz/<check>`.
pub async fn readyz_check(Path(p): Path<HashMap<String, String>>) -> Response {
    one("readyz", p.get("check").map_or("", String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> (StatusCode, String) {
        let code = r.status();
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (code, String::from_utf8(b.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn verbose_lists_every_check() {
        let (code, text) = body(readyz(RawQuery(Some("verbose".into()))).await).await;
        assert_eq!(code, StatusCode::OK);
        assert!(
            text.starts_with("[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]etcd-readiness ok\n"),
            "{text}"
        );
        assert!(
            text.ends_with("[+]shutdown ok\nreadyz check passed\n"),
            "{text}"
        );
        let (_, text) = body(livez(RawQuery(Some("verbose&exclude=etcd".into()))).await).await;
        assert!(text.contains("[+]etcd excluded: ok\n"), "{text}");
        assert!(!text.contains("shutdown"));
        assert_eq!(body(healthz(RawQuery(None)).await).await.1, "ok");
        assert_eq!(one("livez", "ping").status(), StatusCode::OK);
        assert_eq!(one("livez", "nope").status(), StatusCode::NOT_FOUND);
    }
}
