//! `kubectl exec` and `kubectl logs`, through the kubelet of the pod's node (CONTRACTS.md).
//!
//! exec: on the pod's own node, `nsenter --net=/proc/PID/ns/net -- CMD` with the terminal
//! inherited (so `-it` is interactive); elsewhere `POST http://<hostIP>:10250/exec/{ns}/{pod}`,
//! whose body is a stream of frames (1 byte stream id: 1 stdout, 2 stderr, 3 exit code; 3 zero
//! bytes; 4-byte big-endian length; payload). kubectl exits with the command's exit code.
//!
//! logs: `GET http://<hostIP>:10250/logs/{ns}/{pod}`. The control-plane and kube-proxy pods of
//! a kubeadm cluster (`kube-proxy-node-1`, `kube-apiserver-node-1`, …) are not API objects in
//! kplab; in `kube-system` such a name maps to `GET /logs/node/<component>` on that node.

use std::io::{Read, Write};

use serde_json::{json, Value};

use super::args::Args;
use super::ctx::{Ctx, Fail};
use super::target::resolve_type;
use crate::kube::client::{KubeObject, Resource};

/// The kubelet port on every node.
pub const KUBELET_PORT: u16 = crate::kube::contract::KUBELET_PORT;

/// Components whose kubeadm static-pod names (`<component>-<node>`) `logs` understands.
pub const NODE_COMPONENTS: &[&str] = &[
    "kube-proxy",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

type R = Result<(), Fail>;

fn pod_resource() -> Result<&'static Resource, Fail> {
    resolve_type("pods")
}

/// Finds the pod named by `POD`, `pod/NAME` or `deploy/NAME` (first pod of the deployment).
fn find_pod(ctx: &Ctx, target: &str) -> Result<Value, Fail> {
    let pods = pod_resource()?;
    let ns = Some(ctx.namespace.as_str());
    let (t, name) = match target.split_once('/') {
        Some((t, n)) => (Some(t), n),
        None => (None, target),
    };
    match t.map(resolve_type).transpose()? {
        None => Ok(ctx.client.get(pods, ns, name)?),
        Some(r) if r.kind == "Pod" => Ok(ctx.client.get(pods, ns, name)?),
        Some(r) if r.kind == "Deployment" || r.kind == "Service" => {
            let obj = ctx.client.get(r, ns, name)?;
            let sel_ptr = if r.kind == "Deployment" {
                "/spec/selector/matchLabels"
            } else {
                "/spec/selector"
            };
            let sel = obj
                .pointer(sel_ptr)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let mut items = ctx.client.list(pods, ns, Some(&sel), None)?.items;
            items.sort_by(|a, b| a.name().cmp(b.name()));
            items
                .into_iter()
                .find(|p| !p.is_terminating())
                .ok_or_else(|| Fail::Msg(format!("no pods found for {target}")))
        }
        Some(r) => Err(Fail::Msg(format!(
            "cannot attach to {}: not implemented",
            r.kind
        ))),
    }
}

fn pid_of(ns: &str, pod: &str) -> Option<u32> {
    let dir = std::env::var("KPLAB_POD_RUN_DIR").unwrap_or_else(|_| "/run/kplab/pods".into());
    let text =
        std::fs::read_to_string(std::path::Path::new(&dir).join(ns).join(pod).join("pid")).ok()?;
    text.trim().parse().ok()
}

/// `kubectl exec`.
pub fn exec(ctx: &mut Ctx, a: &Args) -> R {
    let words = &a.pos[1..];
    let Some(target) = words.first() else {
        return Err(Fail::Raw("error: expected 'exec POD_NAME COMMAND [ARG1] [ARG2] ... [ARGN]'.\nPOD_NAME and COMMAND are required arguments for the exec command\nSee 'kubectl exec -h' for help and examples".into()));
    };
    if words.len() > 1 {
        return Err(Fail::Raw("error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead\nSee 'kubectl exec -h' for help and examples".into()));
    }
    let command: Vec<String> = a.rest.clone().unwrap_or_default();
    if command.is_empty() {
        return Err(Fail::Msg(
            "you must specify at least one command for the container".into(),
        ));
    }
    let pod = find_pod(ctx, target)?;
    let ns = pod.namespace().unwrap_or(&ctx.namespace).to_string();
    let name = pod.name().to_string();
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return Err(Fail::Msg(format!(
            "cannot exec into a container in a completed pod; current phase is {phase}"
        )));
    }
    if let Some(c) = a.get("container") {
        let known = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|x| x.get("name").and_then(Value::as_str) == Some(c))
            });
        if !known {
            return Err(Fail::Msg(format!("container {c} not found in pod {name}")));
        }
    }
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let host_ip = pod
        .pointer("/status/hostIP")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() || host_ip.is_empty() || phase == "Pending" {
        let cname = pod
            .pointer("/spec/containers/0/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(Fail::Msg(format!(
            "unable to upgrade connection: container not found (\"{cname}\")"
        )));
    }
    let interactive = a.bool("stdin");
    let local_node = std::env::var("KPLAB_NODE_NAME").unwrap_or_default();
    if node == local_node {
        if let Some(pid) = pid_of(&ns, &name) {
            let _ = ctx.out.flush();
            let status = std::process::Command::new("nsenter")
                .arg(format!("--net=/proc/{pid}/ns/net"))
                .arg("--")
                .args(&command)
                .envs(crate::kube::stream::resolver_env(&ns))
                .stdin(if interactive {
                    std::process::Stdio::inherit()
                } else {
                    std::process::Stdio::null()
                })
                .status()
                .map_err(|e| Fail::Msg(format!("cannot run nsenter: {e}")))?;
            return exit_with(ctx, status.code().unwrap_or(128 + 9));
        }
    }
    let mut body = json!({"command": command});
    if interactive {
        if a.bool("tty") {
            let _ = writeln!(ctx.err, "Note (kplab): pod {name} runs on {node}, not on this node: stdin is read to the end and sent at once (not interactive). Run kubectl exec -it on {node} for a terminal.");
        }
        let mut input = String::new();
        ctx.stdin
            .read_to_string(&mut input)
            .map_err(|e| Fail::Msg(format!("reading stdin: {e}")))?;
        body["stdin"] = json!(input);
    }
    let url = format!("http://{host_ip}:{KUBELET_PORT}/exec/{ns}/{name}");
    let resp = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(3))
        .build()
        .post(&url)
        .set("Content-Type", "application/json")
        .send_string(&body.to_string());
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => {
            let text = r.into_string().unwrap_or_default();
            return Err(kubelet_status_error(&text));
        }
        Err(ureq::Error::Transport(t)) => {
            return Err(Fail::Msg(format!(
                "unable to upgrade connection: dial tcp {host_ip}:{KUBELET_PORT}: {t}"
            )))
        }
    };
    let mut reader = resp.into_reader();
    let code = pump_frames(&mut reader, ctx.out, ctx.err).map_err(Fail::Msg)?;
    exit_with(ctx, code)
}

fn exit_with(ctx: &mut Ctx, code: i32) -> R {
    let _ = ctx.out.flush();
    if code == 0 {
        return Ok(());
    }
    let _ = writeln!(ctx.err, "command terminated with exit code {code}");
    Err(Fail::Exit(code.clamp(1, 255) as u8))
}

fn kubelet_status_error(text: &str) -> Fail {
    match serde_json::from_str::<crate::kube::client::Status>(text) {
        Ok(st) if !st.message.is_empty() => Fail::Client(crate::kube::client::ClientError::Api(st)),
        _ => Fail::Msg(format!("error from the kubelet: {}", text.trim())),
    }
}

/// Copies framed exec output to `out`/`err` as it arrives; returns the exit code frame's value.
pub fn pump_frames(
    r: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, String> {
    loop {
        let mut header = [0u8; 8];
        if let Err(e) = r.read_exact(&mut header) {
            return Err(format!("the exec stream ended without an exit code: {e}"));
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload)
            .map_err(|e| format!("truncated exec frame: {e}"))?;
        match header[0] {
            1 => {
                let _ = out.write_all(&payload);
                let _ = out.flush();
            }
            2 => {
                let _ = err.write_all(&payload);
                let _ = err.flush();
            }
            3 => {
                let text = String::from_utf8_lossy(&payload);
                return text
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid exit code frame {text:?}"));
            }
            other => return Err(format!("unknown exec stream id {other}")),
        }
    }
}

fn node_ip(ctx: &Ctx, node: &str) -> Result<String, Fail> {
    let nodes = resolve_type("nodes")?;
    let n = ctx.client.get(nodes, None, node)?;
    n.pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|x| x.get("type").and_then(Value::as_str) == Some("InternalIP"))
                .and_then(|x| x.get("address").and_then(Value::as_str))
        })
        .map(String::from)
        .ok_or_else(|| Fail::Msg(format!("node {node} has no InternalIP address")))
}

/// Maps `kube-proxy-node-2` to (`kube-proxy`, `node-2`).
pub fn component_pod(name: &str) -> Option<(&'static str, &str)> {
    NODE_COMPONENTS.iter().find_map(|c| {
        name.strip_prefix(c)
            .and_then(|r| r.strip_prefix('-'))
            .filter(|n| !n.is_empty())
            .map(|n| (*c, n))
    })
}

fn fetch_text(url: &str) -> Result<String, Fail> {
    match ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(3))
        .timeout_read(std::time::Duration::from_secs(30))
        .build()
        .get(url)
        .call()
    {
        Ok(r) => r
            .into_string()
            .map_err(|e| Fail::Msg(format!("reading logs: {e}"))),
        Err(ureq::Error::Status(_, r)) => {
            Err(kubelet_status_error(&r.into_string().unwrap_or_default()))
        }
        Err(ureq::Error::Transport(t)) => {
            let host = url.split('/').nth(2).unwrap_or(url);
            Err(Fail::Msg(format!("Get \"{url}\": dial tcp {host}: {t}")))
        }
    }
}

/// `kubectl logs`.
pub fn logs(ctx: &mut Ctx, a: &Args) -> R {
    let words = &a.pos[1..];
    let Some(target) = words.first() else {
        return Err(Fail::Raw("error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command\nSee 'kubectl logs -h' for help and examples".into()));
    };
    for f in ["since", "timestamps", "since-time"] {
        if a.has(f) {
            let _ = writeln!(ctx.err, "Warning (kplab): --{f} is not supported by kplab's kubelet; printing the whole log");
        }
    }
    let tail = a.get("tail").filter(|t| *t != "-1");
    let query = tail.map(|t| format!("?tailLines={t}")).unwrap_or_default();
    let url = match find_pod(ctx, target) {
        Ok(pod) if a.bool("previous") => {
            let cname = pod
                .pointer("/spec/containers/0/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(Fail::Client(crate::kube::client::ClientError::Api(
                crate::kube::client::Status::new(
                    400,
                    "BadRequest",
                    format!(
                        "previous terminated container \"{cname}\" in pod \"{}\" not found",
                        pod.name()
                    ),
                ),
            )));
        }
        Ok(pod) => {
            let host_ip = pod
                .pointer("/status/hostIP")
                .and_then(Value::as_str)
                .unwrap_or("");
            let cname = pod
                .pointer("/spec/containers/0/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if host_ip.is_empty() {
                return Err(Fail::Client(crate::kube::client::ClientError::Api(crate::kube::client::Status::new(
                    400,
                    "BadRequest",
                    format!("container \"{cname}\" in pod \"{}\" is waiting to start: ContainerCreating", pod.name()),
                ))));
            }
            format!(
                "http://{host_ip}:{KUBELET_PORT}/logs/{}/{}{query}",
                pod.namespace().unwrap_or(&ctx.namespace),
                pod.name()
            )
        }
        Err(Fail::Client(e)) if e.is_not_found() && ctx.namespace == "kube-system" => {
            let Some((component, node)) =
                component_pod(target.rsplit('/').next().unwrap_or(target))
            else {
                return Err(Fail::Client(e));
            };
            let ip = match node_ip(ctx, node) {
                Ok(ip) => ip,
                Err(_) => return Err(Fail::Client(e)),
            };
            format!("http://{ip}:{KUBELET_PORT}/logs/node/{component}{query}")
        }
        Err(f) => return Err(f),
    };
    let text = fetch_text(&url)?;
    let _ = write!(ctx.out, "{text}");
    if !a.bool("follow") {
        return Ok(());
    }
    // Follow: poll the log and print what was appended.
    let base = url.split('?').next().unwrap_or(&url).to_string();
    let mut seen = fetch_text(&base)?.len();
    loop {
        let _ = ctx.out.flush();
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = fetch_text(&base)?;
        if now.len() > seen {
            let _ = write!(ctx.out, "{}", &now[seen..]);
        }
        seen = now.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u8, p: &[u8]) -> Vec<u8> {
        let mut v = vec![id, 0, 0, 0];
        v.extend((p.len() as u32).to_be_bytes());
        v.extend(p);
        v
    }

    #[test]
    fn frames_are_demultiplexed_and_exit_code_returned() {
        let mut body = frame(1, b"hello\n");
        body.extend(frame(2, b"warn\n"));
        body.extend(frame(1, b"world\n"));
        body.extend(frame(3, b"7"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = pump_frames(&mut body.as_slice(), &mut out, &mut err).unwrap();
        assert_eq!(code, 7);
        assert_eq!(out, b"hello\nworld\n");
        assert_eq!(err, b"warn\n");
        let cut = frame(1, b"x");
        assert!(pump_frames(&mut cut.as_slice(), &mut Vec::new(), &mut Vec::new()).is_err());
    }

    #[test]
    fn component_pod_names() {
        assert_eq!(
            component_pod("kube-proxy-node-1"),
            Some(("kube-proxy", "node-1"))
        );
        assert_eq!(
            component_pod("kube-controller-manager-node-1"),
            Some(("kube-controller-manager", "node-1"))
        );
        assert_eq!(component_pod("kube-proxy-"), None);
        assert_eq!(component_pod("coredns-abc"), None);
    }
}
