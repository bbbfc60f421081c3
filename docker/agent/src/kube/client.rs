//! Blocking client for the lab API, used by kubectl and every component except the API server.
//!
//! Objects and their vocabulary are in [`super::object`], the resources the API serves in
//! [`super::resource`]; both are re-exported here, as every caller of the client needs them.
//!
//! Errors: the server's `v1 Status` comes back as [`ClientError::Api`], so callers can print the
//! real message (`pods "x" not found`); an unreachable server is [`ClientError::Connect`], which
//! names the URL. A watch ([`ApiClient::watch`]) is an iterator of events that simply ends when
//! the server closes the stream; callers then re-list and re-watch from the list's
//! resourceVersion (a `410 Gone` means that version is too old: re-list).

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use serde_json::{json, Value};

pub use super::contract::DEFAULT_APISERVER;
pub use super::object::{EventType, KubeObject, ObjectList, Status, WatchEvent};
pub use super::resource::{
    Resource, CONFIG_MAPS, DAEMON_SETS, DEPLOYMENTS, ENDPOINTS, ENDPOINT_SLICES, EVENTS, LEASES,
    NAMESPACES, NETWORK_POLICIES, NODES, PODS, REPLICA_SETS, RESOURCES, SECRETS, SERVICES,
    SERVICE_ACCOUNTS,
};

/// A watch stream silent for this long is taken as dead and ends (the lab API server sends an
/// empty line every 20 s), so a watcher never hangs on a vanished server.
pub const WATCH_IDLE_TIMEOUT: Duration = Duration::from_secs(65);

/// Everything that can go wrong talking to the lab API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a failure Status; the message is the server's own.
    #[error("Error from server ({}): {}", .0.reason, .0.message)]
    Api(Status),
    /// The server could not be reached at all.
    #[error("unable to connect to the server at {url}: {detail}")]
    Connect {
        /// The URL that was tried.
        url: String,
        /// What failed (connection refused, DNS, timeout, …).
        detail: String,
    },
    /// The server answered something that is not the expected JSON.
    #[error("invalid response from {url}: {detail}")]
    Decode {
        /// The URL that was requested.
        url: String,
        /// What was wrong with the body.
        detail: String,
    },
}

/// Whether a controller's failed reconcile only lost a race to a newer write (409) or a
/// deletion (404): its cache is stale and the watch event that follows wakes it up again.
pub fn lost_race(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ClientError>()
        .is_some_and(|c| c.is_conflict() || c.is_not_found())
}

impl ClientError {
    /// The Status, when the server answered with one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            ClientError::Api(s) => Some(s),
            _ => None,
        }
    }
    /// The HTTP code of an API failure.
    pub fn code(&self) -> Option<u16> {
        self.status().map(|s| s.code)
    }
    /// 404 NotFound.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }
    /// 409 AlreadyExists.
    pub fn is_already_exists(&self) -> bool {
        self.status().is_some_and(|s| s.reason == "AlreadyExists")
    }
    /// 409 Conflict (stale resourceVersion on update) or AlreadyExists.
    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }
    /// 410 Gone: the watch's resourceVersion is too old; re-list.
    pub fn is_gone(&self) -> bool {
        self.code() == Some(410)
    }
    /// The server could not be reached.
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Connect { .. })
    }
}

/// Result alias for client calls.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A blocking client for the lab API server. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    agent: ureq::Agent,
    watch_agent: ureq::Agent,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish()
    }
}

/// The User-Agent of this process's requests, `<component>/v1.32.0 (linux/amd64) kplab`, as
/// client-go sends `<program>/<version> ...`: the API server names an update's field manager
/// after the program (`kubelet`, `kube-controller-manager`).
fn user_agent() -> String {
    let args: Vec<String> = std::env::args().take(2).collect();
    let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let program = match args.first().map(|a| base(a)) {
        Some(p) if p == "kplab-agent" => args.get(1).map(|a| base(a)).unwrap_or(p),
        Some(p) => p,
        None => "kplab-agent".to_string(),
    };
    format!("{program}/v1.32.0 (linux/amd64) kplab")
}

impl ApiClient {
    /// A client for the server at `base_url` (`http://host:port`, no trailing path).
    pub fn new(base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/').to_string();
        let ua = user_agent();
        let agent = ureq::AgentBuilder::new()
            .user_agent(&ua)
            .timeout_connect(Duration::from_secs(3))
            .timeout_read(Duration::from_secs(30))
            .timeout_write(Duration::from_secs(30))
            .build();
        let watch_agent = ureq::AgentBuilder::new()
            .user_agent(&ua)
            .timeout_connect(Duration::from_secs(3))
            .timeout_read(WATCH_IDLE_TIMEOUT)
            .timeout_write(Duration::from_secs(30))
            .build();
        ApiClient {
            base,
            agent,
            watch_agent,
        }
    }

    /// A client for `KPLAB_APISERVER`, or [`DEFAULT_APISERVER`] when it is unset or empty.
    pub fn from_env() -> Self {
        match std::env::var("KPLAB_APISERVER") {
            Ok(v) if !v.trim().is_empty() => Self::new(v.trim()),
            _ => Self::new(DEFAULT_APISERVER),
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends one request to `path` (with `query` pairs) and decodes the JSON answer.
    /// The building block of the typed calls; usable for subresources (`…/scale`) and
    /// discovery (`/version`).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<(&str, &Value)>,
    ) -> Result<Value> {
        let url = self.url(path);
        let mut req = self
            .agent
            .request(method, &url)
            .set("Accept", "application/json");
        for (k, v) in query {
            req = req.query(k, v);
        }
        let resp = match body {
            Some((content_type, b)) => req
                .set("Content-Type", content_type)
                .send_string(&b.to_string()),
            None => req.call(),
        };
        let resp = resp.map_err(|e| map_error(&url, e))?;
        let text = resp.into_string().map_err(|e| ClientError::Decode {
            url: url.clone(),
            detail: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| ClientError::Decode {
            url,
            detail: format!("not JSON ({e}): {}", truncate(&text, 200)),
        })
    }

    /// GET one object.
    pub fn get(&self, resource: &Resource, namespace: Option<&str>, name: &str) -> Result<Value> {
        check_name(name)?;
        self.request("GET", &resource.item_path(namespace, name), &[], None)
    }

    /// Lists objects, in one namespace or (`None`) all of them, filtered by a label selector
    /// (`app=web,tier!=db`) and a field selector (`spec.nodeName=node-2`).
    pub fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<ObjectList> {
        let mut q = Vec::new();
        if let Some(l) = label_selector.filter(|s| !s.is_empty()) {
            q.push(("labelSelector", l));
        }
        if let Some(f) = field_selector.filter(|s| !s.is_empty()) {
            q.push(("fieldSelector", f));
        }
        let v = self.request("GET", &resource.collection_path(namespace), &q, None)?;
        let resource_version = v
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut items = match v.get("items") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        for it in &mut items {
            if let Some(o) = it.as_object_mut() {
                if !o.contains_key("kind") {
                    o.insert("kind".into(), json!(resource.kind));
                }
                if !o.contains_key("apiVersion") {
                    o.insert("apiVersion".into(), json!(resource.api_version()));
                }
            }
        }
        Ok(ObjectList {
            items,
            resource_version,
        })
    }

    /// POSTs a new object. For namespaced resources `namespace` (or, when `None`, the object's
    /// `metadata.namespace`, else `default`) picks the collection.
    pub fn create(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        object: &Value,
    ) -> Result<Value> {
        let ns = if resource.namespaced {
            Some(namespace.or(object.namespace()).unwrap_or("default"))
        } else {
            None
        };
        self.request(
            "POST",
            &resource.collection_path(ns),
            &[],
            Some(("application/json", object)),
        )
    }

    /// PUTs a whole object (a `metadata.resourceVersion` in it makes the update conditional).
    pub fn replace(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        object: &Value,
    ) -> Result<Value> {
        self.send_item(
            "PUT",
            resource,
            namespace,
            name,
            "",
            ("application/json", object),
        )
    }

    /// PATCHes with a JSON merge patch (RFC 7386).
    pub fn merge_patch(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value> {
        let body = ("application/merge-patch+json", patch);
        self.send_item("PATCH", resource, namespace, name, "", body)
    }

    /// PUTs the `status` subresource (only `status` of `object` is taken by the server).
    pub fn update_status(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        object: &Value,
    ) -> Result<Value> {
        let body = ("application/json", object);
        self.send_item("PUT", resource, namespace, name, "/status", body)
    }

    /// PATCHes the `status` subresource with a merge patch.
    pub fn patch_status(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value> {
        let body = ("application/merge-patch+json", patch);
        self.send_item("PATCH", resource, namespace, name, "/status", body)
    }

    /// Sends `body` (content type, value) to one named object, or to its subresource `sub`
    /// (`/status`; empty for the object itself): the shared path of PUT and PATCH.
    fn send_item(
        &self,
        method: &str,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        sub: &str,
        body: (&str, &Value),
    ) -> Result<Value> {
        check_name(name)?;
        let path = format!("{}{sub}", resource.item_path(namespace, name));
        self.request(method, &path, &[], Some(body))
    }

    /// DELETEs an object. `grace_period_seconds` is sent as `?gracePeriodSeconds=N` (pods:
    /// `Some(0)` removes at once, otherwise the pod is marked terminating). Returns what the
    /// server returns: the object (still present while terminating, or its last state), or a
    /// success Status.
    pub fn delete(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        grace_period_seconds: Option<i64>,
    ) -> Result<Value> {
        check_name(name)?;
        let g = grace_period_seconds.map(|g| g.to_string());
        let q: Vec<(&str, &str)> = match &g {
            Some(g) => vec![("gracePeriodSeconds", g.as_str())],
            None => vec![],
        };
        self.request("DELETE", &resource.item_path(namespace, name), &q, None)
    }

    /// Watches a collection from `resource_version` (a list's RV; `None` starts with ADDED
    /// events for every existing object). The returned iterator ends when the server closes
    /// the stream or the connection drops; re-list and re-watch then. A stale version gives
    /// `Err` with [`ClientError::is_gone`].
    pub fn watch(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        resource_version: Option<&str>,
    ) -> Result<WatchStream> {
        self.watch_selected(resource, namespace, resource_version, None, None)
    }

    /// [`ApiClient::watch`] with label and field selectors (`spec.nodeName=node-2`).
    pub fn watch_selected(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        resource_version: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<WatchStream> {
        let url = self.url(&resource.collection_path(namespace));
        let mut req = self
            .watch_agent
            .get(&url)
            .set("Accept", "application/json")
            .query("watch", "true");
        if let Some(rv) = resource_version.filter(|s| !s.is_empty()) {
            req = req.query("resourceVersion", rv);
        }
        if let Some(l) = label_selector.filter(|s| !s.is_empty()) {
            req = req.query("labelSelector", l);
        }
        if let Some(f) = field_selector.filter(|s| !s.is_empty()) {
            req = req.query("fieldSelector", f);
        }
        let resp = req.call().map_err(|e| map_error(&url, e))?;
        Ok(WatchStream {
            url,
            reader: Some(BufReader::new(Box::new(resp.into_reader()))),
        })
    }
}

/// The events of one watch request, read line by line from the streaming response.
pub struct WatchStream {
    url: String,
    reader: Option<BufReader<Box<dyn Read + Send + Sync + 'static>>>,
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream")
            .field("url", &self.url)
            .finish()
    }
}

impl Iterator for WatchStream {
    type Item = Result<WatchEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let reader = self.reader.as_mut()?;
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    self.reader = None;
                    return None;
                }
                Ok(_) => {}
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let ev: WatchEvent = match serde_json::from_str(line) {
                Ok(ev) => ev,
                Err(e) => {
                    self.reader = None;
                    return Some(Err(ClientError::Decode {
                        url: self.url.clone(),
                        detail: format!("bad watch event ({e}): {}", truncate(line, 200)),
                    }));
                }
            };
            if ev.event_type == EventType::Error {
                self.reader = None;
                let status = serde_json::from_value::<Status>(ev.object.clone())
                    .unwrap_or_else(|_| Status::new(500, "InternalError", ev.object.to_string()));
                return Some(Err(ClientError::Api(status)));
            }
            return Some(Ok(ev));
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(ClientError::Api(Status::new(
            400,
            "BadRequest",
            "resource name may not be empty",
        )));
    }
    if name.contains('/') || name == "." || name == ".." {
        return Err(ClientError::Api(Status::new(
            400,
            "BadRequest",
            format!("resource name may not contain '/' or be '.' or '..': {name:?}"),
        )));
    }
    Ok(())
}

fn map_error(url: &str, e: ureq::Error) -> ClientError {
    match e {
        ureq::Error::Status(code, resp) => {
            let text = resp.into_string().unwrap_or_default();
            match serde_json::from_str::<Status>(&text) {
                Ok(mut s) if !s.message.is_empty() || !s.reason.is_empty() => {
                    if s.code == 0 {
                        s.code = code;
                    }
                    ClientError::Api(s)
                }
                _ => ClientError::Api(Status::new(
                    code,
                    reason_for(code),
                    if text.trim().is_empty() {
                        format!("the server responded with HTTP {code} for {url}")
                    } else {
                        truncate(text.trim(), 500).to_string()
                    },
                )),
            }
        }
        ureq::Error::Transport(t) => {
            let text = t.to_string();
            let detail = text
                .strip_prefix(&format!("{url}: "))
                .unwrap_or(&text)
                .to_string();
            ClientError::Connect {
                url: url.to_string(),
                detail,
            }
        }
    }
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_like_kubectl() {
        for n in ["po", "pod", "pods", "Pod", "PODS", "pods.v1"] {
            assert_eq!(Resource::resolve(n).map(|r| r.kind), Some("Pod"), "{n}");
        }
        for n in ["deploy", "deployment", "deployments.apps", "deploy.apps"] {
            assert_eq!(
                Resource::resolve(n).map(|r| r.kind),
                Some("Deployment"),
                "{n}"
            );
        }
        assert_eq!(Resource::resolve("ep").unwrap().plural, "endpoints");
        assert_eq!(Resource::resolve("svc").unwrap().plural, "services");
        assert_eq!(
            Resource::resolve("netpol").unwrap().group,
            "networking.k8s.io"
        );
        assert_eq!(Resource::resolve("ns").unwrap().plural, "namespaces");
        assert_eq!(Resource::resolve("no").unwrap().plural, "nodes");
        assert_eq!(
            Resource::resolve("endpointslices.discovery.k8s.io")
                .unwrap()
                .kind,
            "EndpointSlice"
        );
        assert!(Resource::resolve("widgets").is_none());
        assert!(Resource::resolve("pods.apps").is_none());
    }

    #[test]
    fn builds_paths() {
        assert_eq!(PODS.collection_path(Some("x")), "/api/v1/namespaces/x/pods");
        assert_eq!(PODS.collection_path(None), "/api/v1/pods");
        assert_eq!(NODES.item_path(Some("x"), "n1"), "/api/v1/nodes/n1");
        assert_eq!(
            DEPLOYMENTS.item_path(None, "web"),
            "/apis/apps/v1/namespaces/default/deployments/web"
        );
        assert_eq!(ENDPOINT_SLICES.api_version(), "discovery.k8s.io/v1");
    }

    #[test]
    fn accessors_read_metadata() {
        let v = json!({"metadata":{"name":"a","namespace":"b","labels":{"x":"y"},"resourceVersion":"7"}});
        assert_eq!(v.name(), "a");
        assert_eq!(v.namespace(), Some("b"));
        assert_eq!(v.labels().get("x").map(String::as_str), Some("y"));
        assert_eq!(v.resource_version(), Some("7"));
        assert!(!v.is_terminating());
    }

    #[test]
    fn unreachable_server_names_the_url() {
        let c = ApiClient::new("http://127.0.0.1:1");
        let e = c.get(&PODS, Some("default"), "x").unwrap_err();
        assert!(e.is_connect());
        assert!(e
            .to_string()
            .contains("http://127.0.0.1:1/api/v1/namespaces/default/pods/x"));
    }
}
