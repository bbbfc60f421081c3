//! `kplab-node --wait-ready`: every node of `KPLAB_NODES` registered and Ready.

use std::process::ExitCode;
use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use super::env::var;
use crate::kube::client::ApiClient;
use crate::kube::client::KubeObject;
use crate::kube::client::NODES;
use crate::kube::net;

/// Which of `wanted` are not yet Ready in `nodes` (a Node list), with the reason.
pub fn not_ready(wanted: &[String], nodes: &[Value]) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|w| {
            let Some(n) = nodes.iter().find(|n| n.name() == w) else {
                return Some(format!("{w}: not registered"));
            };
            let ready = n
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .and_then(|c| c["status"].as_str())
                .unwrap_or("Unknown");
            (ready != "True").then(|| format!("{w}: Ready={ready}"))
        })
        .collect()
}

pub(crate) fn wait_ready_main(args: &[String]) -> ExitCode {
    let mut timeout = Duration::from_secs(60);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match a.as_str() {
            "--wait-ready" => continue,
            "--timeout" => it.next().cloned(),
            s if s.starts_with("--timeout=") => Some(s["--timeout=".len()..].to_string()),
            other => {
                eprintln!("kplab-node: unexpected argument {other:?}");
                return ExitCode::from(2);
            }
        };
        match value
            .as_deref()
            .map(|v| v.trim_end_matches('s').parse::<f64>())
        {
            Some(Ok(s)) if s >= 0.0 => timeout = Duration::from_secs_f64(s),
            _ => {
                eprintln!("kplab-node: --timeout needs a number of seconds");
                return ExitCode::from(2);
            }
        }
    }
    let wanted: Vec<String> = match var("KPLAB_NODES").map(|v| net::parse_nodes(&v)) {
        Some(Ok(n)) => n.into_iter().map(|p| p.name).collect(),
        Some(Err(e)) => {
            eprintln!("kplab-node: {e}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("kplab-node: KPLAB_NODES is not set: which nodes should be Ready?");
            return ExitCode::from(2);
        }
    };
    let client = ApiClient::from_env();
    let began = Instant::now();
    loop {
        let last = match client.list(&NODES, None, None, None) {
            Ok(list) => {
                let missing = not_ready(&wanted, &list.items);
                if missing.is_empty() {
                    println!(
                        "all {} nodes Ready after {:.2} s",
                        wanted.len(),
                        began.elapsed().as_secs_f64()
                    );
                    return ExitCode::SUCCESS;
                }
                missing.join(", ")
            }
            Err(e) => e.to_string(),
        };
        if began.elapsed() >= timeout {
            eprintln!("kplab-node: nodes not Ready after {timeout:?}: {last}");
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readiness_names_what_is_missing() {
        let wanted = vec!["node-1".to_string(), "node-2".to_string()];
        let ready = json!({"metadata": {"name": "node-1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let unready = json!({"metadata": {"name": "node-2"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(
            not_ready(&wanted, std::slice::from_ref(&ready)),
            ["node-2: not registered"]
        );
        assert_eq!(
            not_ready(&wanted, &[ready.clone(), unready]),
            ["node-2: Ready=False"]
        );
        let ready2 = json!({"metadata": {"name": "node-2"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(not_ready(&wanted, &[ready, ready2]).is_empty());
    }
}
