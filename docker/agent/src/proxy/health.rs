//! kube-proxy's service health server (upstream `pkg/proxy/healthcheck/service_health.go`).
//!
//! For every `LoadBalancer` Service with `externalTrafficPolicy: Local`, kube-proxy listens on
//! the Service's `healthCheckNodePort` on every node and answers any HTTP request with `200`
//! when the node has ready endpoints of that Service and `503` when it has none, so that a cloud
//! load balancer only sends traffic to nodes that can serve it locally. The body is the same
//! JSON upstream prints (indented with tabs, shown here as spaces; no trailing newline):
//!
//! ```text
//! {
//!     "service": {
//!         "namespace": "default",
//!         "name": "web"
//!     },
//!     "localEndpoints": 1,
//!     "serviceProxyHealthy": true
//! }
//! ```
//!
//! As upstream, a port that cannot be opened is logged and retried on the next sync, and ports
//! of Services that are gone are closed. `serviceProxyHealthy` is whether the last sync applied
//! its rules (upstream also treats a sync older than twice the sync period as unhealthy; a lab's
//! syncs are seconds apart, so that case does not arise).
//!
//! A plain thread per port with a non-blocking accept loop: a lab has a handful of such Services.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use netrules::kubeproxy::HealthCheck;

/// How often an idle listener looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);
/// How long a client may take to send its request headers.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Header lines read (and ignored) per request at most.
const MAX_HEADER_LINES: usize = 100;

/// The health-check ports this node serves, kept in step with the rules by the sync loop.
#[derive(Debug)]
pub struct HealthServer {
    bind: IpAddr,
    proxy_healthy: Arc<AtomicBool>,
    services: HashMap<(String, String), Instance>,
}

#[derive(Debug)]
struct Instance {
    port: u16,
    endpoints: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Default for HealthServer {
    fn default() -> Self {
        HealthServer::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

impl HealthServer {
    /// A server that listens on `bind`. kube-proxy listens on all addresses unless
    /// `--nodeport-addresses` narrows them to the node IPs it matches; kplab always listens on
    /// all of them (a lab node has one address).
    pub fn new(bind: IpAddr) -> Self {
        HealthServer {
            bind,
            proxy_healthy: Arc::new(AtomicBool::new(true)),
            services: HashMap::new(),
        }
    }

    /// Records whether the last sync applied its rules (`serviceProxyHealthy`).
    pub fn set_proxy_healthy(&self, healthy: bool) {
        self.proxy_healthy.store(healthy, Ordering::SeqCst);
    }

    /// Opens, closes and updates listeners to match `checks` (upstream `SyncServices` followed
    /// by `SyncEndpoints`).
    pub fn sync(&mut self, checks: &[HealthCheck]) {
        let wanted: HashMap<(String, String), &HealthCheck> = checks
            .iter()
            .map(|c| ((c.namespace.clone(), c.name.clone()), c))
            .collect();
        self.services.retain(|nsn, inst| {
            let keep = wanted.get(nsn).is_some_and(|c| c.port == inst.port);
            if !keep {
                tracing::info!(src = "service_health.go:104", service = %format!("{}/{}", nsn.0, nsn.1), port = inst.port, "Closing healthcheck");
            }
            keep
        });
        for (nsn, check) in &wanted {
            if let Some(inst) = self.services.get(nsn) {
                inst.endpoints
                    .store(check.local_endpoints, Ordering::SeqCst);
                continue;
            }
            tracing::info!(src = "service_health.go:123", service = %format!("{}/{}", nsn.0, nsn.1), port = check.port, "Opening healthcheck");
            match self.open(check) {
                Ok(inst) => {
                    self.services.insert(nsn.clone(), inst);
                }
                Err(e) => {
                    tracing::error!(src = "service_health.go:140", err = %e, service = %format!("{}/{}", nsn.0, nsn.1), port = check.port, "Failed to start healthcheck");
                }
            }
        }
    }

    /// The ports currently served, by `namespace/name`.
    pub fn ports(&self) -> Vec<(String, u16)> {
        let mut v: Vec<(String, u16)> = self
            .services
            .iter()
            .map(|((ns, name), i)| (format!("{ns}/{name}"), i.port))
            .collect();
        v.sort();
        v
    }

    fn open(&self, check: &HealthCheck) -> std::io::Result<Instance> {
        let listener = TcpListener::bind(SocketAddr::new(self.bind, check.port))?;
        listener.set_nonblocking(true)?;
        let endpoints = Arc::new(AtomicUsize::new(check.local_endpoints));
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = Handler {
            namespace: check.namespace.clone(),
            name: check.name.clone(),
            endpoints: Arc::clone(&endpoints),
            proxy_healthy: Arc::clone(&self.proxy_healthy),
        };
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("healthcheck-{}", check.port))
            .stack_size(256 * 1024)
            .spawn(move || accept_loop(listener, &stop_flag, &ctx))?;
        Ok(Instance {
            port: check.port,
            endpoints,
            stop,
            thread: Some(thread),
        })
    }
}

struct Handler {
    namespace: String,
    name: String,
    endpoints: Arc<AtomicUsize>,
    proxy_healthy: Arc<AtomicBool>,
}

fn accept_loop(listener: TcpListener, stop: &AtomicBool, h: &Handler) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = serve(stream, h) {
                    tracing::debug!(err = %e, "healthcheck request");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::error!(err = %e, port = ?listener.local_addr().ok(), "healthcheck accept");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// The JSON body upstream writes, byte for byte.
pub fn body(namespace: &str, name: &str, local_endpoints: usize, healthy: bool) -> String {
    format!(
        "{{\n\t\"service\": {{\n\t\t\"namespace\": {},\n\t\t\"name\": {}\n\t}},\n\t\"localEndpoints\": {local_endpoints},\n\t\"serviceProxyHealthy\": {healthy}\n}}",
        serde_json::Value::from(namespace),
        serde_json::Value::from(name),
    )
}

fn serve(stream: TcpStream, h: &Handler) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    // Read the request line and headers (whatever the method and path: upstream answers all).
    let mut line = String::new();
    let mut head_only = false;
    for i in 0..MAX_HEADER_LINES {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if i == 0 {
            head_only = line.starts_with("HEAD ");
        } else if line.trim_end_matches(['\r', '\n']).is_empty() {
            break;
        }
    }
    let count = h.endpoints.load(Ordering::SeqCst);
    let healthy = h.proxy_healthy.load(Ordering::SeqCst);
    let status = if count != 0 && healthy {
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    let body = body(&h.namespace, &h.name, count, healthy);
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .map(|d| d.replace("+0000", "GMT"))
        .unwrap_or_default();
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nDate: {date}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        resp.push_str(&body);
    }
    writer.write_all(resp.as_bytes())?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(port: u16) -> (String, String) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head.to_string(), body.to_string())
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Syncs until the port is open: another test thread's fork may briefly hold a copy of the
    /// probe listener `free_port` released, and a failed open is retried on the next sync.
    fn sync_open(server: &mut HealthServer, checks: &[HealthCheck]) {
        for _ in 0..100 {
            server.sync(checks);
            if server.ports().len() == checks.len() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("health-check ports did not open: {:?}", server.ports());
    }

    fn hc(name: &str, port: u16, local: usize) -> HealthCheck {
        HealthCheck {
            namespace: "shop".into(),
            name: name.into(),
            port,
            local_endpoints: local,
        }
    }

    #[test]
    fn body_is_upstreams() {
        assert_eq!(
            body("default", "web", 2, true),
            "{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"web\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
        );
    }

    #[test]
    fn answers_follow_local_endpoints_and_ports_open_and_close_with_the_services() {
        let mut server = HealthServer::new(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let port = free_port();
        sync_open(&mut server, &[hc("web", port, 1)]);
        let (head, body) = get(port);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(head.contains("Content-Type: application/json"), "{head}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["localEndpoints"], 1);
        assert_eq!(v["service"]["name"], "web");

        server.sync(&[hc("web", port, 0)]);
        let (head, body) = get(port);
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable"),
            "{head}"
        );
        assert!(body.contains("\"localEndpoints\": 0"), "{body}");

        server.sync(&[hc("web", port, 3)]);
        server.set_proxy_healthy(false);
        let (head, body) = get(port);
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        assert!(body.contains("\"serviceProxyHealthy\": false"), "{body}");
        server.set_proxy_healthy(true);

        assert_eq!(server.ports(), vec![("shop/web".to_string(), port)]);
        server.sync(&[]);
        assert!(server.ports().is_empty());
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the port of a deleted Service is closed"
        );
    }

    #[test]
    fn a_port_in_use_is_retried_on_the_next_sync() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let mut server = HealthServer::new(IpAddr::V4(Ipv4Addr::LOCALHOST));
        server.sync(&[hc("web", port, 1)]);
        assert!(server.ports().is_empty());
        drop(busy);
        sync_open(&mut server, &[hc("web", port, 1)]);
        assert_eq!(server.ports(), vec![("shop/web".to_string(), port)]);
        assert!(get(port).0.starts_with("HTTP/1.1 200"));
    }
}
