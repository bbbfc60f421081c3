//! The pod a stream request names: found, its container checked, and where its kubelet is.

use serde_json::Value;

use crate::apiserver::handlers::errors::{bad_request, not_found, ApiError, ApiResult};
use crate::apiserver::state::AppState;
use crate::kube::client::Resource;
use crate::kube::contract::KUBELET_PORT;

/// Where a pod's stream goes: its container and its node's kubelet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    /// The pod object.
    pub pod: Value,
    /// The container (defaulted when the pod has one).
    pub container: String,
    /// `host:port` of the kubelet, `None` when the pod has no node yet.
    pub kubelet: Option<String>,
}

fn pods() -> &'static Resource {
    Resource::resolve("pods").expect("pods is a served resource")
}

/// The container names of a pod, as Go prints a `[]string` (`[a b]`).
fn container_names(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// kube-apiserver's `validateContainer`: an empty name means the only container; a given one
/// must exist.
pub(crate) fn validate_container(pod: &Value, name: &str, container: &str) -> ApiResult<String> {
    let names = container_names(pod);
    if container.is_empty() {
        return match names.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            many => Err(bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                many.join(" ")
            ))),
        };
    }
    if names.iter().any(|n| n == container) {
        Ok(container.to_string())
    } else {
        Err(bad_request(format!(
            "container {container} is not valid for pod {name}"
        )))
    }
}

/// Finds the pod, checks the container (`None`: port-forward, which names none) and resolves
/// the kubelet of its node.
pub(crate) fn locate(
    app: &AppState,
    namespace: &str,
    name: &str,
    container: Option<&str>,
) -> ApiResult<Located> {
    let st = app.store();
    let pods = pods();
    let pod = st
        .get(pods, namespace, name)
        .cloned()
        .ok_or_else(|| not_found(pods, name))?;
    let container = match container {
        Some(c) => validate_container(&pod, name, c)?,
        None => String::new(),
    };
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        return Ok(Located {
            pod,
            container,
            kubelet: None,
        });
    }
    let nodes = Resource::resolve("nodes").expect("nodes is a served resource");
    let node_ip = st
        .get(nodes, "", node)
        .and_then(|n| n.pointer("/status/addresses").and_then(Value::as_array))
        .and_then(|a| {
            a.iter()
                .find(|x| x.get("type").and_then(Value::as_str) == Some("InternalIP"))
                .and_then(|x| x.get("address").and_then(Value::as_str))
                .map(String::from)
        })
        .or_else(|| {
            pod.pointer("/status/hostIP")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from)
        });
    let Some(ip) = node_ip else {
        return Err(ApiError(crate::kube::client::Status::new(
            500,
            "InternalError",
            format!("Internal error occurred: node {node:?} has no InternalIP address"),
        )));
    };
    Ok(Located {
        pod,
        container,
        kubelet: Some(format!("{ip}:{KUBELET_PORT}")),
    })
}

/// Why a pod's container is not running yet (`ContainerCreating` when the kubelet says nothing).
pub(crate) fn waiting_reason(pod: &Value) -> Option<String> {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    if phase != "Pending" {
        return None;
    }
    Some(
        pod.pointer("/status/containerStatuses/0/state/waiting/reason")
            .and_then(Value::as_str)
            .unwrap_or("ContainerCreating")
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_defaulted_and_checked_as_upstream() {
        let one = json!({"spec":{"containers":[{"name":"web"}]}});
        assert_eq!(validate_container(&one, "p", "").unwrap(), "web");
        assert_eq!(validate_container(&one, "p", "web").unwrap(), "web");
        let e = validate_container(&one, "p", "db").unwrap_err().0;
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "container db is not valid for pod p")
        );
        let two = json!({"spec":{"containers":[{"name":"a"},{"name":"b"}]}});
        let e = validate_container(&two, "p", "").unwrap_err().0;
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        let none = json!({"spec":{}});
        assert_eq!(
            validate_container(&none, "p", "").unwrap_err().0.message,
            "a container name must be specified for pod p"
        );
    }

    #[test]
    fn waiting_reasons() {
        assert_eq!(
            waiting_reason(&json!({"status":{"phase":"Pending"}})).as_deref(),
            Some("ContainerCreating")
        );
        assert_eq!(
            waiting_reason(&json!({"status":{"phase":"Pending","containerStatuses":[{"state":{"waiting":{"reason":"ErrImagePull"}}}]}})).as_deref(),
            Some("ErrImagePull")
        );
        assert_eq!(waiting_reason(&json!({"status":{"phase":"Running"}})), None);
    }
}
