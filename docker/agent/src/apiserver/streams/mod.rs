//! The pod subresources that stream: `pods/exec` and `pods/attach` (WebSocket, the
//! `v5.channel.k8s.io` and `v4.channel.k8s.io` protocols of kube-apiserver, or plain SPDY/3.1
//! with `v4.channel.k8s.io`, `v3` or `v2`: `exec_spdy`), `pods/portforward` (`portforward.k8s.io`
//! over SPDY/3.1, plain or tunnelled in a WebSocket) and `pods/log`. Both SPDY transports share
//! one session layer (`spdy`: framing, the zlib header blocks with SPDY/3's dictionary,
//! SYN_REPLY/PING answers and SPDY/3.1 flow control). The exit `Status` is built once
//! (`kubelet::exit_status`) for the WebSocket error channel and the SPDY error stream.
//! As kube-apiserver, the server finds the pod's node (`spec.nodeName`, then the Node's
//! InternalIP) and proxies to that node's kubelet on :10250 (`kube::stream` has the kubelet's
//! two-way frame stream; `/logs` is plain HTTP).

mod exec;
mod exec_spdy;
mod kubelet;
mod logs;
mod pod;
mod portforward;
pub mod spdy;

use axum::routing::any;
use axum::Router;

use super::state::AppState;

/// The routes of the streaming subresources (merged before the generic `/api` routes).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/namespaces/{namespace}/pods/{name}/exec",
            any(exec::exec),
        )
        .route(
            "/api/v1/namespaces/{namespace}/pods/{name}/attach",
            any(exec::attach),
        )
        .route(
            "/api/v1/namespaces/{namespace}/pods/{name}/log",
            any(logs::log),
        )
        .route(
            "/api/v1/namespaces/{namespace}/pods/{name}/portforward",
            any(portforward::portforward),
        )
}
