//! `pods/exec` and `pods/attach` over WebSocket, as kube-apiserver serves them to kubectl 1.30+
//! (client-go's `remotecommand` WebSocket executor).
//!
//! Subprotocols `v5.channel.k8s.io` (what kubectl asks for) and `v4.channel.k8s.io`; every
//! binary message starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 error (one `v1
//! Status`, `Success` or `Failure`/`NonZeroExitCode` with the exit code as cause `ExitCode`,
//! then the server closes), 4 resize (`{"Width","Height"}`); v5 adds the close message
//! `[255, channel]` (stdin's end). The frames to and from the kubelet carry the same channel
//! numbers (`kube::stream`).
//!
//! A request that asks for `Upgrade: SPDY/3.1` instead (kubectl 1.29 and older, and 1.30+
//! falling back) gets the kubelet's SPDY protocol `v4.channel.k8s.io` (`exec_spdy`).

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::kubelet::{dial_error, exit_status, lost_status, read_frame, request, V4};
use super::pod::{locate, waiting_reason};
use super::spdy::{self, SpdyUpgrade};
use crate::apiserver::handlers::entry::method_not_allowed;
use crate::apiserver::handlers::errors::ApiError;
use crate::apiserver::state::AppState;
use crate::kube::client::Status;
use crate::kube::stream::{self as ks, StreamRequest};

/// kubectl 1.30+ (asks for this one only).
pub const V5: &str = "v5.channel.k8s.io";
/// The close message's channel byte (v5).
pub const CLOSE: u8 = 255;

type Ws = Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;

/// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/exec`.
pub async fn exec(
    State(app): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ws: Ws,
    spdy_upgrade: SpdyUpgrade,
) -> Response {
    stream(
        app,
        "exec",
        ns,
        name,
        method,
        uri,
        headers,
        (ws, spdy_upgrade),
    )
    .await
}

/// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/attach`.
pub async fn attach(
    State(app): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ws: Ws,
    spdy_upgrade: SpdyUpgrade,
) -> Response {
    stream(
        app,
        "attach",
        ns,
        name,
        method,
        uri,
        headers,
        (ws, spdy_upgrade),
    )
    .await
}

/// The protocols the client asked for, in its order.
fn requested_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The protocol the server picks: the client's first one that it speaks.
pub fn negotiate(requested: &[String]) -> Option<&'static str> {
    requested.iter().find_map(|p| match p.as_str() {
        V5 => Some(V5),
        V4 => Some(V4),
        _ => None,
    })
}

#[allow(clippy::too_many_arguments)]
async fn stream(
    app: AppState,
    kind: &'static str,
    ns: String,
    name: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    (ws, spdy_upgrade): (Ws, SpdyUpgrade),
) -> Response {
    if method != Method::GET && method != Method::POST {
        return method_not_allowed().into_response();
    }
    let pairs = ks::query_pairs(uri.query().unwrap_or(""));
    let mut req = StreamRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let located = match locate(&app, &ns, &name, Some(&req.container)) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    req.container = located.container.clone();
    let Some(addr) = located.kubelet.clone() else {
        return ApiError(Status::new(
            400,
            "BadRequest",
            format!("pod {name} does not have a host assigned"),
        ))
        .into_response();
    };
    if kind == "exec" && req.command.is_empty() {
        return ApiError(Status::new(
            400,
            "BadRequest",
            "you must specify at least one command for the container",
        ))
        .into_response();
    }
    let upgrade = match ws {
        Ok(ws) => {
            let requested = requested_protocols(&headers);
            let Some(protocol) = negotiate(&requested) else {
                return ApiError(Status::new(
                    400,
                    "BadRequest",
                    format!(
                        "requested protocol(s) are not supported: {requested:?}; supports [{V5} {V4}]"
                    ),
                ))
                .into_response();
            };
            Upgrade::WebSocket(ws, protocol)
        }
        Err(_) if spdy_upgrade.asked() => {
            // The kubelet's SPDY protocols: v4 (what kubectl asks for first), v3 and v2.
            match spdy::handshake(&spdy_upgrade.protocols, super::exec_spdy::PROTOCOLS) {
                Ok(protocol) => Upgrade::Spdy(spdy_upgrade, protocol),
                Err(refusal) => return *refusal,
            }
        }
        Err(_) => {
            return ApiError(Status::new(400, "BadRequest", "Upgrade request required"))
                .into_response()
        }
    };
    if waiting_reason(&located.pod).is_some() {
        // The kubelet has no such container yet; kube-apiserver passes its plain-text answer on.
        return (
            axum::http::StatusCode::NOT_FOUND,
            format!("container not found ({:?})", req.container),
        )
            .into_response();
    }
    let path = format!("/{kind}/{ns}/{name}?{}", req.to_query());
    let reply = match request(&addr, &path, true).await {
        Ok(r) => r,
        Err(e) => return dial_error(&addr, &e),
    };
    if reply.code != 101 {
        if reply.code == 404 {
            return (
                axum::http::StatusCode::NOT_FOUND,
                format!("container not found ({:?})", req.container),
            )
                .into_response();
        }
        return reply.into_error_response().await;
    }
    let command = req.command.clone();
    match upgrade {
        Upgrade::WebSocket(ws, protocol) => ws
            .protocols([protocol])
            .on_upgrade(move |socket| bridge(socket, reply, protocol == V5, command)),
        Upgrade::Spdy(up, protocol) => up.upgrade(protocol, move |session| {
            super::exec_spdy::bridge(session, reply, req, command, protocol)
        }),
    }
}

/// How the client's connection switches.
enum Upgrade {
    WebSocket(WebSocketUpgrade, &'static str),
    Spdy(SpdyUpgrade, &'static str),
}

fn channel_message(channel: u8, data: &[u8]) -> Message {
    let mut m = Vec::with_capacity(data.len() + 1);
    m.push(channel);
    m.extend_from_slice(data);
    Message::Binary(m.into())
}

/// How long the WebSocket bridge waits after the upgrade before it forwards output.
const FIRST_OUTPUT_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// Pumps between the client's WebSocket and the kubelet's frame stream until the command ends
/// (the error channel, then a normal close) or the client leaves (the kubelet connection
/// closes, which kills the command).
async fn bridge(
    socket: WebSocket,
    reply: super::kubelet::KubeletReply,
    v5: bool,
    command: Vec<String>,
) {
    let (mut ws_tx, mut ws_rx) = socket.split();
    // client-go starts reading the socket before it registers its streams: output sent at once
    // after the 101 can arrive first and be dropped ("Unknown stream id 1, discarding
    // message"), which happens under load. A real API server has its own tens of milliseconds
    // (the translation to the kubelet, CRI exec) before a command's first byte; give the same.
    tokio::time::sleep(FIRST_OUTPUT_DELAY).await;
    let (kubelet_rd, mut kubelet_wr) = reply.stream.into_split();
    let mut kubelet_rd = std::io::Cursor::new(reply.leftover).chain(kubelet_rd);
    let to_kubelet = tokio::spawn(async move {
        while let Some(Ok(msg)) = ws_rx.next().await {
            let data = match msg {
                Message::Binary(b) => b,
                Message::Close(_) => break,
                _ => continue,
            };
            let Some((&channel, payload)) = data.split_first() else {
                continue;
            };
            let frame = match channel {
                CLOSE if v5 => match payload.first() {
                    Some(&ks::STDIN) => ks::frame(ks::STDIN, &[]),
                    _ => continue,
                },
                // An empty stdin frame means its end to the kubelet: never send one for data.
                ks::STDIN if payload.is_empty() => continue,
                ks::STDIN | ks::RESIZE => ks::frame(channel, payload),
                _ => continue,
            };
            if kubelet_wr.write_all(&frame).await.is_err() {
                break;
            }
        }
        // The client is gone (or closed): the kubelet stops the command.
        let _ = kubelet_wr.shutdown().await;
    });
    let status = loop {
        match read_frame(&mut kubelet_rd).await {
            Ok(Some((ks::EXIT, code))) => {
                let code: i32 = String::from_utf8_lossy(&code).trim().parse().unwrap_or(1);
                break exit_status(code, &command);
            }
            Ok(Some((id @ (ks::STDOUT | ks::STDERR), data))) => {
                if ws_tx.send(channel_message(id, &data)).await.is_err() {
                    to_kubelet.abort();
                    return;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break lost_status(),
        }
    };
    let _ = ws_tx
        .send(channel_message(ks::EXIT, status.to_string().as_bytes()))
        .await;
    let _ = ws_tx
        .send(Message::Close(Some(CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
    to_kubelet.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_supported_protocol_of_the_client_wins() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(negotiate(&p(&[V5])), Some(V5));
        assert_eq!(negotiate(&p(&[V4, V5])), Some(V4));
        assert_eq!(negotiate(&p(&["channel.k8s.io", V5])), Some(V5));
        assert_eq!(negotiate(&p(&["base64.channel.k8s.io"])), None);
        let mut h = HeaderMap::new();
        h.insert(
            "sec-websocket-protocol",
            "v5.channel.k8s.io, v4.channel.k8s.io".parse().unwrap(),
        );
        assert_eq!(requested_protocols(&h), p(&[V5, V4]));
    }
}
