//! The kubelet's stream protocol for exec and attach (CONTRACTS.md, "Exec"): frames of a 1-byte
//! stream id, 3 zero bytes, a 4-byte big-endian length and the payload.
//!
//! Two ways to carry them. A plain `POST /exec/{ns}/{pod}` to the kubelet reads frames from a
//! chunked response (one direction). The API server's `pods/exec` and `pods/attach` open
//! `GET /exec|attach/{ns}/{pod}?command=…&stdin=1&tty=1` with `Upgrade: kplab-stream`; after
//! `101 Switching Protocols` the TCP connection carries frames both ways:
//!
//! * to the kubelet: [`STDIN`] (an empty payload is stdin's end), [`RESIZE`] (`{"Width","Height"}`);
//! * from the kubelet: [`STDOUT`], [`STDERR`], then one [`EXIT`] with the exit code in decimal.
//!
//! The ids are the channel numbers of Kubernetes' `channel.k8s.io` WebSocket protocols, so the
//! API server translates a frame to a WebSocket message by its id alone. A closed connection
//! toward the kubelet means the client left: the kubelet kills the command.

use std::io::Read;

/// stdin (toward the command).
pub const STDIN: u8 = 0;
/// stdout.
pub const STDOUT: u8 = 1;
/// stderr.
pub const STDERR: u8 = 2;
/// The final frame: the exit code in decimal ASCII.
pub const EXIT: u8 = 3;
/// A terminal resize, `{"Width":W,"Height":H}` (toward the command).
pub const RESIZE: u8 = 4;
/// The `Upgrade` token of the two-way stream.
pub const UPGRADE: &str = "kplab-stream";
/// Largest payload either side accepts.
pub const MAX_FRAME: usize = 1 << 20;

/// One frame: id, 3 zero bytes, big-endian length, payload.
pub fn frame(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.push(id);
    f.extend_from_slice(&[0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The payload length a frame header announces, or why the header is refused.
pub fn header_len(header: &[u8; 8]) -> std::io::Result<usize> {
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("stream frame of {len} bytes (limit {MAX_FRAME})"),
        ));
    }
    Ok(len)
}

/// Reads the next frame; `None` at a clean end of the stream (before a header).
pub fn read_frame(r: &mut dyn Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("truncated frame header ({got} bytes)"),
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = header_len(&header)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
}

/// Splits a whole framed body into `(id, payload)` pairs.
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

/// A terminal size from a resize payload (`{"Width":80,"Height":24}`, as kubectl sends it).
pub fn parse_resize(payload: &[u8]) -> Option<(u16, u16)> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let w = u16::try_from(v.get("Width")?.as_u64()?).ok()?;
    let h = u16::try_from(v.get("Height")?.as_u64()?).ok()?;
    Some((w, h))
}

/// What an exec or attach asks of the kubelet (the query of `pods/exec`, as kube-apiserver
/// passes it on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamRequest {
    /// The command and its arguments (exec only).
    pub command: Vec<String>,
    /// The container named in the request.
    pub container: String,
    /// Whether the client sends stdin.
    pub stdin: bool,
    /// Whether the client wants stdout.
    pub stdout: bool,
    /// Whether the client wants stderr (never with a TTY).
    pub stderr: bool,
    /// Whether the command runs on a terminal.
    pub tty: bool,
}

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "True" | "TRUE" | "t" | "T")
}

impl StreamRequest {
    /// Reads the query pairs of a request (`command` repeated, `stdin=true`, …).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> StreamRequest {
        let mut r = StreamRequest::default();
        for (k, v) in pairs {
            match k {
                "command" => r.command.push(v.to_string()),
                "container" => r.container = v.to_string(),
                "stdin" => r.stdin = truthy(v),
                "stdout" => r.stdout = truthy(v),
                "stderr" => r.stderr = truthy(v),
                "tty" => r.tty = truthy(v),
                _ => {}
            }
        }
        r
    }

    /// The query string the API server sends to the kubelet.
    pub fn to_query(&self) -> String {
        let mut q: Vec<String> = self
            .command
            .iter()
            .map(|c| format!("command={}", percent_encode(c)))
            .collect();
        if !self.container.is_empty() {
            q.push(format!("container={}", percent_encode(&self.container)));
        }
        for (k, on) in [
            ("stdin", self.stdin),
            ("stdout", self.stdout),
            ("stderr", self.stderr),
            ("tty", self.tty),
        ] {
            q.push(format!("{k}={}", if on { "1" } else { "0" }));
        }
        q.join("&")
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and `+` in a query component.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a query string into decoded pairs.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The search path a pod in `namespace` resolves short names with, as the kubelet writes it
/// into a pod's `/etc/resolv.conf`.
pub fn dns_search(namespace: &str) -> String {
    let d = super::contract::CLUSTER_DOMAIN;
    format!("{namespace}.svc.{d} svc.{d} {d}")
}

/// A pod's `/etc/resolv.conf`, as the kubelet writes it for `dnsPolicy: ClusterFirst`.
pub fn pod_resolv_conf(namespace: &str) -> String {
    format!(
        "search {}\nnameserver {}\noptions ndots:5\n",
        dns_search(namespace),
        super::contract::DNS_SERVICE_IP
    )
}

/// Environment that gives a process the pod's resolver settings without its own
/// `/etc/resolv.conf` (glibc's `LOCALDOMAIN` and `RES_OPTIONS`); empty where the node's file
/// already says the same (namespace `default`).
pub fn resolver_env(namespace: &str) -> Vec<(&'static str, String)> {
    if namespace == "default" {
        return Vec::new();
    }
    vec![
        ("LOCALDOMAIN", dns_search(namespace)),
        ("RES_OPTIONS", "ndots:5".to_string()),
    ]
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
        let mut r = body.as_slice();
        assert_eq!(read_frame(&mut r).unwrap(), Some((1, b"hello\n".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), Some((2, vec![])));
        assert_eq!(read_frame(&mut r).unwrap(), Some((3, b"0".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), None);
        let mut cut = &body[..3];
        assert!(read_frame(&mut cut).is_err());
        let mut huge = &[1u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..];
        assert!(read_frame(&mut huge).is_err());
    }

    #[test]
    fn stream_requests_survive_the_query() {
        let r = StreamRequest {
            command: vec!["sh".into(), "-c".into(), "echo a&b=c %d é".into()],
            container: "web".into(),
            stdin: true,
            stdout: true,
            stderr: false,
            tty: true,
        };
        let q = r.to_query();
        let pairs = query_pairs(&q);
        let back = StreamRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(back, r);
        let kubectl =
            query_pairs("command=ls&command=-l&container=web&stdin=true&stdout=true&tty=false");
        let k = StreamRequest::from_pairs(kubectl.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(k.command, ["ls", "-l"]);
        assert!(k.stdin && k.stdout && !k.stderr && !k.tty);
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a+b%21"), "a b!");
    }

    #[test]
    fn resize_payloads() {
        assert_eq!(
            parse_resize(br#"{"Width":120,"Height":40}"#),
            Some((120, 40))
        );
        assert_eq!(parse_resize(br#"{"Width":-1,"Height":40}"#), None);
        assert_eq!(parse_resize(b"junk"), None);
    }

    #[test]
    fn pod_dns_settings() {
        assert_eq!(
            pod_resolv_conf("shop"),
            "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
        assert!(resolver_env("default").is_empty());
        assert_eq!(
            resolver_env("shop"),
            vec![
                (
                    "LOCALDOMAIN",
                    "shop.svc.cluster.local svc.cluster.local cluster.local".to_string()
                ),
                ("RES_OPTIONS", "ndots:5".to_string())
            ]
        );
    }
}
