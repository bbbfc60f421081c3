//! The API server's side of a kubelet connection: one HTTP/1.1 request on a fresh TCP
//! connection, whose answer is either a stream (`101` for exec/attach, `200` for logs) or an
//! error to pass on.

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::kube::client::Status;

/// A kubelet's answer once its header is read.
pub(crate) struct KubeletReply {
    /// HTTP status.
    pub code: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// Body bytes read along with the header.
    pub leftover: Vec<u8>,
    /// The connection, positioned after `leftover`.
    pub stream: TcpStream,
}

impl KubeletReply {
    /// Reads the rest of a non-streaming answer (bounded) and turns it into our response: a
    /// `v1 Status` as it is, other text as kube-apiserver's proxy passes it on.
    pub async fn into_error_response(mut self) -> Response {
        let mut body = self.leftover;
        let mut buf = [0u8; 8192];
        while body.len() < 64 * 1024 {
            match tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => body.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_GATEWAY);
        let ctype = if self.content_type.is_empty() {
            "text/plain; charset=utf-8".to_string()
        } else {
            self.content_type
        };
        (code, [(header::CONTENT_TYPE, ctype)], body).into_response()
    }
}

/// kube-apiserver's answer when it cannot reach a kubelet.
pub(crate) fn dial_error(addr: &str, e: &std::io::Error) -> Response {
    let detail = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => e.to_string(),
    };
    crate::apiserver::handlers::errors::ApiError(Status::new(
        500,
        "InternalError",
        format!("error dialing backend: dial tcp {addr}: {detail}"),
    ))
    .into_response()
}

/// Sends `GET path` to the kubelet at `addr` (with `Upgrade: kplab-stream` when `upgrade`) and
/// reads the answer's header.
pub(crate) async fn request(
    addr: &str,
    path: &str,
    upgrade: bool,
) -> std::io::Result<KubeletReply> {
    let mut stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "i/o timeout"))??;
    stream.set_nodelay(true)?;
    let extra = if upgrade {
        format!(
            "Connection: Upgrade\r\nUpgrade: {}\r\n",
            crate::kube::stream::UPGRADE
        )
    } else {
        "Connection: close\r\n".to_string()
    };
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n").as_bytes())
        .await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > 64 * 1024 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the kubelet's answer header is too long",
            ));
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "i/o timeout"))??;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the kubelet closed the connection",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(502);
    let content_type = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Ok(KubeletReply {
        code,
        content_type,
        leftover: head[end..].to_vec(),
        stream,
    })
}

/// The kubelet's remote-command protocol (and the WebSocket one before v5: no close message).
pub const V4: &str = "v4.channel.k8s.io";

/// The error channel's message when the kubelet's stream ends without an exit code.
pub fn lost_status() -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": "error: the kubelet's stream ended before the command's exit code",
        "reason": "InternalError",
    })
}

/// The error channel's message for an exit code, as the kubelet words it.
pub fn exit_status(code: i32, command: &[String]) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// One kubelet frame, or `None` at the end of the connection.
pub(super) async fn read_frame(
    r: &mut (impl AsyncReadExt + Unpin),
) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 8];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = crate::kube::stream::header_len(&header)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some((header[0], payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_on_the_error_channel_as_the_kubelet_sends_them() {
        assert_eq!(
            exit_status(0, &[]),
            json!({"metadata":{},"status":"Success"})
        );
        let s = exit_status(3, &["sh".into(), "-c".into(), "exit 3".into()]);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(
            s["details"]["causes"][0],
            json!({"reason":"ExitCode","message":"3"})
        );
        assert_eq!(
            s["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
    }
}
