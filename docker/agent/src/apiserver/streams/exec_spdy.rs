//! `pods/exec` and `pods/attach` over plain SPDY/3.1, as kubectl 1.29 and older speak them (and
//! 1.30+ when the WebSocket upgrade fails): the `v4.channel.k8s.io` protocol of the kubelet's
//! remotecommand server (and its `v3` and `v2`, for clients that offer those first). kubectl
//! opens one SPDY stream per channel, naming it with the header `streamType`: `error` (always),
//! `stdin`, `stdout`, `stderr` (not with a TTY) and `resize` (with a TTY, not in v2:
//! `{"Width","Height"}` JSON objects one after another). Once every stream the request's flags
//! call for is open, the kubelet's output flows; at the end the server writes the command's `v1
//! Status` on the error stream (v4: the JSON the WebSocket's error channel carries, from
//! `kubelet::exit_status`; v2/v3: a failure's message as text) and closes every stream.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::kubelet::{exit_status, lost_status, read_frame, KubeletReply, V4};
use super::spdy::{self, Event, Session};
use crate::kube::stream::{self as ks, StreamRequest};

/// The kubelet's SPDY protocols for exec and attach, newest first.
pub const PROTOCOLS: &[&str] = &[V4, V3, V2];
/// The error stream carries plain text (a failure's message), resize as in v4.
pub const V3: &str = "v3.channel.k8s.io";
/// As v3, without a resize stream.
pub const V2: &str = "v2.channel.k8s.io";

/// How long the client has to open its streams (the kubelet's stream creation timeout).
const STREAM_CREATION: Duration = Duration::from_secs(30);

/// The stream types a request calls for (upstream's `expectedStreams`; v2 has no resize).
pub fn expected_streams(req: &StreamRequest, protocol: &str) -> Vec<&'static str> {
    let mut want = vec!["error"];
    if req.stdin {
        want.push("stdin");
    }
    if req.stdout {
        want.push("stdout");
    }
    if req.stderr && !req.tty {
        want.push("stderr");
    }
    if req.tty && protocol != V2 {
        want.push("resize");
    }
    want
}

/// Takes the whole JSON values off the front of `buf` (a resize stream carries them back to
/// back); an incomplete one stays for the next bytes.
pub fn take_json_values(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut used = 0;
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
    loop {
        match it.next() {
            Some(Ok(_)) => {
                let end = it.byte_offset();
                out.push(buf[used..end].trim_ascii().to_vec());
                used = end;
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => {
                // Not JSON: nothing sensible can follow on this stream.
                used = buf.len();
                break;
            }
            None => {
                used = buf.len();
                break;
            }
        }
    }
    buf.drain(..used);
    out
}

/// What the error stream carries at the end: v4 the `Status` as JSON (the WebSocket error
/// channel's), v2 and v3 a failure's message as text and nothing on success (the kubelet's
/// `v1WriteStatusFunc`).
pub fn error_stream_bytes(status: &Value, protocol: &str) -> Vec<u8> {
    if protocol == V4 {
        return status.to_string().into_bytes();
    }
    if status["status"] == "Success" {
        return Vec::new();
    }
    status["message"].as_str().unwrap_or("").as_bytes().to_vec()
}

/// Pumps between the client's SPDY streams and the kubelet's frame stream until the command
/// ends (its Status on the error stream, every stream closed) or the client leaves.
pub(super) async fn bridge(
    mut session: Session,
    reply: KubeletReply,
    req: StreamRequest,
    command: Vec<String>,
    protocol: &'static str,
) {
    let out = session.sender();
    let (kubelet_rd, mut kubelet_wr) = reply.stream.into_split();
    let mut kubelet_rd = std::io::Cursor::new(reply.leftover).chain(kubelet_rd);
    // The kubelet's frames wait here until the client's streams are all open.
    let (frames_tx, mut frames) = mpsc::channel::<(u8, Vec<u8>)>(64);
    let reader = tokio::spawn(async move {
        while let Ok(Some(f)) = read_frame(&mut kubelet_rd).await {
            if frames_tx.send(f).await.is_err() {
                break;
            }
        }
    });
    let expected = expected_streams(&req, protocol);
    let mut streams: HashMap<&'static str, u32> = HashMap::new();
    let mut resize = Vec::new();
    let deadline = tokio::time::Instant::now() + STREAM_CREATION;
    let status = loop {
        let ready = expected.iter().all(|t| streams.contains_key(t));
        let to_kubelet: Vec<Vec<u8>> = tokio::select! {
            event = session.next() => match event {
                // The client is gone: closing the kubelet connection ends the command.
                None => {
                    reader.abort();
                    let _ = kubelet_wr.shutdown().await;
                    return;
                }
                Some(Event::Open { id, headers, fin }) => {
                    let kind = spdy::header_value(&headers, "streamtype");
                    let Some(&kind) = expected.iter().find(|k| **k == kind) else {
                        tracing::debug!(stream = %kind, "exec over SPDY: an unexpected stream");
                        continue;
                    };
                    streams.insert(kind, id);
                    if kind == "stdin" && fin {
                        vec![ks::frame(ks::STDIN, &[])]
                    } else {
                        vec![]
                    }
                }
                Some(Event::Data { id, payload, fin }) => {
                    if streams.get("stdin") == Some(&id) {
                        let mut v = Vec::new();
                        // An empty stdin frame means its end to the kubelet.
                        if !payload.is_empty() {
                            v.push(ks::frame(ks::STDIN, &payload));
                        }
                        if fin {
                            v.push(ks::frame(ks::STDIN, &[]));
                        }
                        v
                    } else if streams.get("resize") == Some(&id) {
                        resize.extend_from_slice(&payload);
                        take_json_values(&mut resize)
                            .iter()
                            .map(|size| ks::frame(ks::RESIZE, size))
                            .collect()
                    } else {
                        vec![]
                    }
                }
                Some(Event::Reset(id)) if streams.get("stdin") == Some(&id) => {
                    vec![ks::frame(ks::STDIN, &[])]
                }
                Some(Event::Reset(_)) => vec![],
            },
            frame = frames.recv(), if ready => match frame {
                Some((ks::EXIT, code)) => {
                    let code: i32 = String::from_utf8_lossy(&code).trim().parse().unwrap_or(1);
                    break exit_status(code, &command);
                }
                Some((channel @ (ks::STDOUT | ks::STDERR), data)) => {
                    let kind = if channel == ks::STDOUT { "stdout" } else { "stderr" };
                    if let Some(&id) = streams.get(kind) {
                        let _ = out.send(spdy::data(id, 0, &data));
                    }
                    vec![]
                }
                Some(_) => vec![],
                None => break lost_status(),
            },
            _ = tokio::time::sleep_until(deadline), if !ready => {
                tracing::warn!("exec over SPDY: timed out waiting for client to create streams");
                reader.abort();
                let _ = kubelet_wr.shutdown().await;
                session.close(Duration::ZERO).await;
                return;
            }
        };
        for f in to_kubelet {
            if kubelet_wr.write_all(&f).await.is_err() {
                break;
            }
        }
    };
    for kind in ["stdout", "stderr"] {
        if let Some(&id) = streams.get(kind) {
            let _ = out.send(spdy::data(id, spdy::FLAG_FIN, &[]));
        }
    }
    if let Some(&id) = streams.get("error") {
        let bytes = error_stream_bytes(&status, protocol);
        if !bytes.is_empty() {
            let _ = out.send(spdy::data(id, 0, &bytes));
        }
        let _ = out.send(spdy::data(id, spdy::FLAG_FIN, &[]));
    }
    drop(out);
    reader.abort();
    let _ = kubelet_wr.shutdown().await;
    session.close(Duration::from_secs(5)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(stdin: bool, stdout: bool, stderr: bool, tty: bool) -> StreamRequest {
        StreamRequest {
            command: vec![],
            container: String::new(),
            stdin,
            stdout,
            stderr,
            tty,
        }
    }

    #[test]
    fn the_streams_a_request_calls_for() {
        assert_eq!(
            expected_streams(&req(false, true, true, false), V4),
            ["error", "stdout", "stderr"]
        );
        assert_eq!(
            expected_streams(&req(true, true, true, true), V4),
            ["error", "stdin", "stdout", "resize"]
        );
        assert_eq!(
            expected_streams(&req(true, true, true, true), V2),
            ["error", "stdin", "stdout"]
        );
        assert_eq!(
            expected_streams(&req(false, false, false, false), V3),
            ["error"]
        );
    }

    #[test]
    fn the_error_stream_as_each_protocol_writes_it() {
        let failed = exit_status(3, &["false".into()]);
        assert_eq!(
            error_stream_bytes(&failed, V4),
            failed.to_string().into_bytes()
        );
        assert_eq!(
            String::from_utf8(error_stream_bytes(&failed, V3)).unwrap(),
            "command terminated with non-zero exit code: error executing command [false], exit code 3"
        );
        assert!(error_stream_bytes(&exit_status(0, &[]), V2).is_empty());
    }

    #[test]
    fn resize_messages_split_where_each_json_object_ends() {
        let mut buf = br#"{"Width":80,"Height":24}
{"Width":100,"He"#
            .to_vec();
        assert_eq!(
            take_json_values(&mut buf),
            [br#"{"Width":80,"Height":24}"#.to_vec()]
        );
        assert_eq!(buf, b"\n{\"Width\":100,\"He");
        buf.extend_from_slice(b"ight\":30}\n");
        assert_eq!(
            take_json_values(&mut buf),
            [br#"{"Width":100,"Height":30}"#.to_vec()]
        );
        assert!(buf.is_empty() || buf == b"\n", "{buf:?}");
        let mut junk = b"nope".to_vec();
        assert!(take_json_values(&mut junk).is_empty());
        assert!(junk.is_empty());
    }
}
