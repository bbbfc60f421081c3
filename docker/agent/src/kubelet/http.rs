//! The kubelet's HTTP server on :10250 (plain HTTP/1.1 on std threads):
//!
//! * `POST /exec/{ns}/{pod}`, body `{"command":[…],"stdin":"…"}`: runs the command with
//!   `nsenter --net=/proc/PID/ns/net` and streams framed output (chunked): 1 byte stream id
//!   (1 stdout, 2 stderr, 3 exit), 3 zero bytes, 4-byte big-endian length, payload; the last
//!   frame is id 3 with the exit code in decimal ASCII;
//! * `GET /logs/{ns}/{pod}[?tailLines=N]`: the pod's log;
//! * `GET /logs/node/{component}[?tailLines=N]`: `/var/log/kplab/<component>.log`;
//! * `GET /healthz`: `ok`.
//!
//! Failures are `v1 Status` JSON bodies, as the rest of the lab API.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::kube::client::Status;
use crate::kube::process::spawn_piped;

/// Finds the PID of a local pod by namespace and name.
pub type PodLookup = Arc<dyn Fn(&str, &str) -> Option<u32> + Send + Sync>;

/// Stream ids of exec frames.
pub const STDOUT: u8 = 1;
/// Stream id of stderr frames.
pub const STDERR: u8 = 2;
/// Stream id of the final exit-code frame.
pub const EXIT: u8 = 3;

/// One frame: id, 3 zero bytes, big-endian length, payload.
pub fn frame(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.push(id);
    f.extend_from_slice(&[0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Splits a framed body into `(id, payload)` pairs (the reader side, used by tests and kubectl).
pub fn parse_frames(mut body: &[u8]) -> Result<Vec<(u8, Vec<u8>)>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.len() < 8 {
            return Err(format!("truncated frame header ({} bytes)", body.len()));
        }
        let len = u32::from_be_bytes([body[4], body[5], body[6], body[7]]) as usize;
        if body.len() < 8 + len {
            return Err(format!(
                "truncated frame: {len} bytes announced, {} left",
                body.len() - 8
            ));
        }
        out.push((body[0], body[8..8 + len].to_vec()));
        body = &body[8 + len..];
    }
    Ok(out)
}

/// Which node component (`kube-proxy`, `calico-node`) a local pod stands for.
pub type ComponentLookup = Arc<dyn Fn(&str, &str) -> Option<&'static str> + Send + Sync>;

/// The server's configuration.
pub struct Server {
    /// Local pods.
    pub lookup: PodLookup,
    /// Local pods standing for node components: their log is the component's.
    pub components: ComponentLookup,
    /// `/var/log/kplab/pods`.
    pub pod_log_dir: PathBuf,
    /// `/var/log/kplab`.
    pub log_dir: PathBuf,
}

struct Request {
    method: String,
    path: String,
    query: String,
    body: Vec<u8>,
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
        let Some(req) = read_request(stream)? else {
            return Ok(());
        };
        let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["healthz"]) => respond(&mut out, 200, "text/plain", b"ok"),
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
                send_log(&mut out, &path, &req.query)
            }
            ("GET", ["logs", ns, pod]) => {
                if let Some(component) = (self.components)(ns, pod) {
                    return send_log(
                        &mut out,
                        &self.log_dir.join(format!("{component}.log")),
                        &req.query,
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
                send_log(
                    &mut out,
                    &self.pod_log_dir.join(format!("{ns}_{pod}.log")),
                    &req.query,
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
            .args(&command);
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

fn write_chunk(out: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    out.write_all(format!("{:x}\r\n", data.len()).as_bytes())?;
    out.write_all(data)?;
    out.write_all(b"\r\n")?;
    out.flush()
}

fn read_request(stream: TcpStream) -> std::io::Result<Option<Request>> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut it = line.split_whitespace();
    let method = it.next().unwrap_or("").to_string();
    let target = it.next().unwrap_or("/").to_string();
    let mut len = 0usize;
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
        body,
    }))
}

fn respond(out: &mut TcpStream, code: u16, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
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

fn status(out: &mut TcpStream, code: u16, reason: &str, message: &str) -> std::io::Result<()> {
    let body = Status::new(code, reason, message).to_json().to_string();
    respond(out, code, "application/json", body.as_bytes())
}

fn send_log(out: &mut TcpStream, path: &std::path::Path, query: &str) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("tailLines="))
        .and_then(|v| v.parse::<usize>().ok());
    let body = match tail {
        Some(n) => {
            let lines: Vec<&str> = text.lines().collect();
            let mut s = lines[lines.len().saturating_sub(n)..].join("\n");
            if !s.is_empty() {
                s.push('\n');
            }
            s
        }
        None => text,
    };
    respond(out, 200, "text/plain; charset=utf-8", body.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut body = frame(STDOUT, b"hello\n");
        body.extend(frame(STDERR, b""));
        body.extend(frame(EXIT, b"0"));
        assert_eq!(&body[..8], &[1, 0, 0, 0, 0, 0, 0, 6]);
        let f = parse_frames(&body).unwrap();
        assert_eq!(
            f,
            vec![(1, b"hello\n".to_vec()), (2, vec![]), (3, b"0".to_vec())]
        );
        assert!(parse_frames(&body[..5]).unwrap_err().contains("truncated"));
    }
}
