//! The kubelet's HTTP server on :10250 (plain HTTP/1.1 on std threads):
//!
//! * `POST /exec/{ns}/{pod}`, body `{"command":[…],"stdin":"…"}`: runs the command with
//!   `nsenter --net=/proc/PID/ns/net` and streams framed output (chunked): 1 byte stream id
//!   (1 stdout, 2 stderr, 3 exit), 3 zero bytes, 4-byte big-endian length, payload; the last
//!   frame is id 3 with the exit code in decimal ASCII;
//! * `GET /exec/{ns}/{pod}?command=…&stdin=1&tty=1` and `GET /attach/{ns}/{pod}` with
//!   `Upgrade: kplab-stream` (the API server's `pods/exec` and `pods/attach`): after `101` the
//!   connection carries frames both ways (`kube::stream`, `super::stream`);
//! * `GET /portforward/{ns}/{pod}?port=N` with `Upgrade: kplab-stream`: after `101` the
//!   connection is a plain TCP tunnel to `localhost:N` inside the pod's network namespace;
//! * `GET /logs/{ns}/{pod}[?tailLines=N&follow=true&sinceSeconds=N&sinceTime=T&timestamps=true&limitBytes=N]`:
//!   the pod's log (`super::logs`);
//! * `GET /logs/node/{component}[?…]`: `/var/log/kplab/<component>.log`, same options;
//! * `GET /healthz`: `ok`.
//!
//! Failures are `v1 Status` JSON bodies, as the rest of the lab API.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::server::{respond, status};
use crate::kube::process::spawn_piped;

pub use super::server::{no_consoles, ComponentLookup, ConsoleLookup, PodLookup, Server};
pub use crate::kube::stream::{frame, parse_frames, EXIT, STDERR, STDOUT};

pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    /// The `Upgrade` header, lowercased (`kplab-stream` for the two-way exec stream).
    pub(crate) upgrade: String,
    pub(crate) body: Vec<u8>,
}

impl Server {
    /// Accepts connections forever, one small thread each.
    pub fn serve(self, listener: TcpListener) {
        let me = Arc::new(self);
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            let s = Arc::clone(&me);
            let _ = std::thread::Builder::new()
                .name("kubelet-conn".into())
                .stack_size(256 * 1024)
                .spawn(move || {
                    let _ = s.handle(stream);
                });
        }
    }

    fn handle(&self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut out = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let Some(req) = read_request(&mut reader)? else {
            return Ok(());
        };
        let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        let upgraded = req.upgrade == crate::kube::stream::UPGRADE;
        match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["healthz"]) => respond(&mut out, 200, "text/plain", b"ok"),
            ("GET", [kind @ ("exec" | "attach"), ns, pod]) if upgraded => {
                super::stream::serve(self, reader, out, kind, ns, pod, &req.query)
            }
            ("GET", ["portforward", ns, pod]) if upgraded => {
                super::stream::portforward(self, reader, out, ns, pod, &req.query)
            }
            ("POST", ["exec", ns, pod]) => self.exec(&mut out, ns, pod, &req.body),
            ("GET", ["logs", "node", component]) => {
                let path = self.log_dir.join(format!("{component}.log"));
                if component.contains("..") || !path.exists() {
                    return status(
                        &mut out,
                        404,
                        "NotFound",
                        &format!("no log for component {component:?} on this node"),
                    );
                }
                super::logs::send_log(&mut out, &path, &req.query, None)
            }
            ("GET", ["logs", ns, pod]) => {
                if let Some(component) = (self.components)(ns, pod) {
                    return super::logs::send_log(
                        &mut out,
                        &self.log_dir.join(format!("{component}.log")),
                        &req.query,
                        None,
                    );
                }
                if (self.lookup)(ns, pod).is_none() {
                    return status(
                        &mut out,
                        404,
                        "NotFound",
                        &format!("pods \"{pod}\" not found"),
                    );
                }
                if let Some(container) = previous_asked(&req.query) {
                    // No container of ours restarts in place: there is never a previous one.
                    return status(
                        &mut out,
                        400,
                        "BadRequest",
                        &format!(
                            "previous terminated container \"{container}\" in pod \"{pod}\" not found"
                        ),
                    );
                }
                let (lookup, ns2, pod2) =
                    (Arc::clone(&self.lookup), ns.to_string(), pod.to_string());
                let alive = move || lookup(&ns2, &pod2).is_some();
                super::logs::send_log(
                    &mut out,
                    &self.pod_log_dir.join(format!("{ns}_{pod}.log")),
                    &req.query,
                    Some(&alive),
                )
            }
            _ => status(
                &mut out,
                404,
                "NotFound",
                &format!(
                    "the server could not find the requested resource ({} {})",
                    req.method, req.path
                ),
            ),
        }
    }

    fn exec(&self, out: &mut TcpStream, ns: &str, pod: &str, body: &[u8]) -> std::io::Result<()> {
        let Some(pid) = (self.lookup)(ns, pod) else {
            return status(out, 404, "NotFound", &format!("pods \"{pod}\" not found"));
        };
        let req: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return status(
                    out,
                    400,
                    "BadRequest",
                    &format!("exec body is not JSON: {e}"),
                )
            }
        };
        let command = netrules::k8s::string_list(req.get("command"));
        if command.is_empty() {
            return status(
                out,
                400,
                "BadRequest",
                "you must specify at least one command for the container",
            );
        }
        let stdin = req.get("stdin").and_then(Value::as_str).map(String::from);
        let mut nsenter = Command::new("nsenter");
        nsenter
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .arg("--")
            .args(&command)
            .envs(crate::kube::stream::resolver_env(ns));
        let mut child = match spawn_piped(&mut nsenter, stdin.is_some()) {
            Ok(c) => c,
            Err(e) => {
                return status(
                    out,
                    500,
                    "InternalError",
                    &format!("cannot run nsenter: {e}"),
                )
            }
        };
        if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = w.write_all(text.as_bytes());
            });
        }
        out.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.kplab.exec-frames\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )?;
        let (tx, rx) = mpsc::channel::<(u8, Vec<u8>)>();
        let mut readers = Vec::new();
        for (id, pipe) in [
            (
                STDOUT,
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ),
            (
                STDERR,
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ),
        ] {
            let Some(mut pipe) = pipe else { continue };
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tx.send((id, buf[..n].to_vec())).is_err() {
                                break;
                            }
                        }
                    }
                }
            }));
        }
        drop(tx);
        let mut client_gone = false;
        for (id, data) in rx {
            if !client_gone && write_chunk(out, &frame(id, &data)).is_err() {
                // The client went away: stop the command.
                client_gone = true;
                let _ = child.kill();
            }
        }
        for r in readers {
            let _ = r.join();
        }
        let code = match child.wait() {
            Ok(s) => {
                use std::os::unix::process::ExitStatusExt;
                s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
            }
            Err(_) => 1,
        };
        if client_gone {
            return Ok(());
        }
        write_chunk(out, &frame(EXIT, code.to_string().as_bytes()))?;
        out.write_all(b"0\r\n\r\n")?;
        out.flush()
    }
}

/// `Some(container)` when the query asks for the previous container's log.
fn previous_asked(query: &str) -> Option<String> {
    let pairs = crate::kube::stream::query_pairs(query);
    let previous = pairs
        .iter()
        .any(|(k, v)| k == "previous" && (v == "true" || v == "1"));
    previous.then(|| {
        pairs
            .into_iter()
            .find(|(k, _)| k == "container")
            .map(|(_, v)| v)
            .unwrap_or_default()
    })
}

fn write_chunk(out: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    out.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
    out.write_all(data)?;
    out.write_all(b"\r\n")?;
    out.flush()
}

pub(crate) fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut it = line.split_whitespace();
    let method = it.next().unwrap_or("").to_string();
    let target = it.next().unwrap_or("/").to_string();
    let mut len = 0usize;
    let mut upgrade = String::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            } else if k.trim().eq_ignore_ascii_case("upgrade") {
                upgrade = v.trim().to_ascii_lowercase();
            }
        }
    }
    let mut body = vec![0u8; len.min(1 << 20)];
    r.read_exact(&mut body)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Ok(Some(Request {
        method,
        path,
        query,
        upgrade,
        body,
    }))
}
