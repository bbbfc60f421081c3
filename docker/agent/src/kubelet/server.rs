//! What the kubelet's HTTP server knows (`super::http` serves it, `super::stream` streams
//! through it) and how it answers: a leaf, so that the server and its stream handlers do not
//! import each other.

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use crate::kube::client::Status;

/// Finds the PID of a local pod by namespace and name.
pub type PodLookup = Arc<dyn Fn(&str, &str) -> Option<u32> + Send + Sync>;

/// Which node component (`kube-proxy`, `calico-node`) a local pod stands for.
pub type ComponentLookup = Arc<dyn Fn(&str, &str) -> Option<&'static str> + Send + Sync>;

/// Finds the console of a local interactive pod (see `super::console`).
pub type ConsoleLookup =
    Arc<dyn Fn(&str, &str) -> Option<Arc<super::console::Console>> + Send + Sync>;

/// No interactive pods (a server without a kubelet behind it).
pub fn no_consoles() -> ConsoleLookup {
    Arc::new(|_: &str, _: &str| None)
}

/// The server's configuration.
pub struct Server {
    /// Local pods.
    pub lookup: PodLookup,
    /// Local pods standing for node components: their log is the component's.
    pub components: ComponentLookup,
    /// Local interactive pods: attach talks to their process.
    pub consoles: ConsoleLookup,
    /// `/var/log/kplab/pods`.
    pub pod_log_dir: PathBuf,
    /// `/var/log/kplab`.
    pub log_dir: PathBuf,
}

pub(crate) fn respond(
    out: &mut TcpStream,
    code: u16,
    ctype: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        101 => "Switching Protocols",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    out.write_all(
        format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )?;
    out.write_all(body)?;
    out.flush()
}

pub(crate) fn status(
    out: &mut TcpStream,
    code: u16,
    reason: &str,
    message: &str,
) -> std::io::Result<()> {
    let body = Status::new(code, reason, message).to_json().to_string();
    respond(out, code, "application/json", body.as_bytes())
}
