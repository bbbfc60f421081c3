//! `pods/portforward`: a SPDY/3.1 session, either on the HTTP/1.1 connection itself (`Upgrade:
//! SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io`: kubectl 1.30 and older, and newer
//! ones falling back) or, as kubectl 1.31+ asks for it, in a WebSocket with subprotocol
//! `SPDY/3.1+portforward.k8s.io` whose binary messages carry it (client-go's `tools/portforward`
//! tunneling dialer). Every forwarded connection is a pair of SPDY streams
//! sharing a `requestID` header: `streamType: error` (the server writes a failure's text, then
//! closes it) and `streamType: data` (the bytes), both naming the pod's `port`. Each data
//! stream becomes one kubelet tunnel (`GET /portforward/{ns}/{pod}?port=N`, `kube::stream`).

use std::collections::HashMap;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::kubelet::request;
use super::pod::locate;
use super::spdy::{self, Event, SpdyUpgrade};
use crate::apiserver::handlers::entry::method_not_allowed;
use crate::apiserver::handlers::errors::ApiError;
use crate::apiserver::state::AppState;
use crate::kube::client::Status;

/// The WebSocket subprotocol of the SPDY tunnel.
pub const TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";

type Ws = Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>;

/// The protocol of plain SPDY port-forward (kubectl 1.30 and older), in `X-Stream-Protocol-Version`.
pub const PORT_FORWARD_V1: &str = "portforward.k8s.io";

/// `GET|POST /api/v1/namespaces/{ns}/pods/{name}/portforward`.
pub async fn portforward(
    State(app): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    ws: Ws,
    spdy_upgrade: SpdyUpgrade,
) -> Response {
    if method != Method::GET && method != Method::POST {
        return method_not_allowed().into_response();
    }
    let located = match locate(&app, &ns, &name, None) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let Some(addr) = located.kubelet else {
        return ApiError(Status::new(
            400,
            "BadRequest",
            format!("pod {name} does not have a host assigned"),
        ))
        .into_response();
    };
    let Ok(ws) = ws else {
        // Plain SPDY/3.1 (kubectl 1.30 and older), as the kubelet's port-forward server takes it.
        if !spdy_upgrade.asked() {
            return ApiError(Status::new(400, "BadRequest", "Upgrade request required"))
                .into_response();
        }
        let protocol = match spdy::handshake(&spdy_upgrade.protocols, &[PORT_FORWARD_V1]) {
            Ok(p) => p,
            Err(refusal) => return *refusal,
        };
        return spdy_upgrade.upgrade(protocol, move |s| session(s, addr, ns, name));
    };
    let asked = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .any(|p| p.trim() == TUNNEL);
    if !asked {
        return ApiError(Status::new(
            400,
            "BadRequest",
            format!("requested protocol(s) are not supported; supports [{TUNNEL}]"),
        ))
        .into_response();
    }
    ws.protocols([TUNNEL])
        .on_upgrade(move |socket| session(spdy::Session::over_websocket(socket), addr, ns, name))
}

/// What the session knows of one requestID.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: String,
}

/// Runs the SPDY session until the client leaves.
async fn session(mut session: spdy::Session, kubelet: String, ns: String, pod: String) {
    let out_tx = session.sender();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // Data stream id -> the sender feeding its kubelet tunnel (None: the client finished).
    let mut uplinks: HashMap<u32, mpsc::UnboundedSender<Option<Vec<u8>>>> = HashMap::new();
    let mut tunnels = Vec::new();
    while let Some(event) = session.next().await {
        match event {
            Event::Open { id, headers, fin } => {
                let get = |k: &str| spdy::header_value(&headers, k);
                let pair = pairs.entry(get("requestid")).or_default();
                pair.port = get("port");
                if get("streamtype") == "error" {
                    pair.error = Some(id);
                    continue;
                }
                pair.data = Some(id);
                let error_stream = pair.error;
                let port = pair.port.clone();
                let (up_tx, up_rx) = mpsc::unbounded_channel();
                if !fin {
                    uplinks.insert(id, up_tx);
                }
                tunnels.push(tokio::spawn(forward(
                    kubelet.clone(),
                    format!("/portforward/{ns}/{pod}?port={port}"),
                    id,
                    error_stream,
                    port,
                    up_rx,
                    out_tx.clone(),
                )));
            }
            Event::Reset(id) => {
                uplinks.remove(&id);
            }
            Event::Data { id, payload, fin } => {
                if let Some(up) = uplinks.get(&id) {
                    if !payload.is_empty() {
                        let _ = up.send(Some(payload));
                    }
                    if fin {
                        let _ = up.send(None);
                        uplinks.remove(&id);
                    }
                }
            }
        }
    }
    // The client is gone: its tunnels go too (an idle one would otherwise wait on the pod).
    for t in tunnels {
        t.abort();
    }
}

/// One forwarded connection: the kubelet tunnel to the pod's port, pumped both ways; a failure
/// is written on the pair's error stream; both streams end with FIN.
async fn forward(
    kubelet: String,
    path: String,
    data_stream: u32,
    error_stream: Option<u32>,
    port: String,
    mut up: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    out: mpsc::UnboundedSender<Vec<u8>>,
) {
    let finish = |out: &mpsc::UnboundedSender<Vec<u8>>, message: Option<String>| {
        let _ = out.send(spdy::data(data_stream, spdy::FLAG_FIN, &[]));
        if let Some(e) = error_stream {
            if let Some(m) = message {
                let _ = out.send(spdy::data(e, 0, m.as_bytes()));
            }
            let _ = out.send(spdy::data(e, spdy::FLAG_FIN, &[]));
        }
    };
    let pod = path
        .split('/')
        .nth(3)
        .and_then(|p| p.split('?').next())
        .unwrap_or("")
        .to_string();
    let reply = match request(&kubelet, &path, true).await {
        Ok(r) => r,
        Err(e) => {
            return finish(
                &out,
                Some(format!("error dialing backend: dial tcp {kubelet}: {e}")),
            )
        }
    };
    if reply.code != 101 {
        let mut text = reply.leftover.clone();
        let mut stream = reply.stream;
        let _ = stream.read_to_end(&mut text).await;
        let message = serde_json::from_slice::<Status>(&text)
            .map(|s| s.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&text).trim().to_string());
        return finish(
            &out,
            Some(format!(
                "error forwarding port {port} to pod {pod}: {message}"
            )),
        );
    }
    if !reply.leftover.is_empty() {
        let _ = out.send(spdy::data(data_stream, 0, &reply.leftover));
    }
    let (mut rd, mut wr) = reply.stream.into_split();
    let uplink = tokio::spawn(async move {
        while let Some(Some(bytes)) = up.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut b = vec![0u8; 32 * 1024];
    loop {
        match rd.read(&mut b).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if out.send(spdy::data(data_stream, 0, &b[..n])).is_err() {
                    break;
                }
            }
        }
    }
    finish(&out, None);
    let _ = uplink.await;
}
