//! Containers as `describe pod` and `describe deployment` print them: ports, probes, states.

use serde_json::Value;

use super::writer::arr;
use super::writer::num;
use super::writer::s;
use super::writer::strs;
use super::writer::W;
use crate::kubectl::duration::rfc1123z;

/// kubectl's `DescribeProbe`: the action, then its timing, with the API server's defaults for
/// fields the object leaves out (delay 0s, timeout 1s, period 10s, success 1, failure 3).
pub(crate) fn describe_probe(p: &Value) -> String {
    let num = |key: &str, default: i64| p.get(key).and_then(Value::as_i64).unwrap_or(default);
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        num("initialDelaySeconds", 0),
        num("timeoutSeconds", 1),
        num("periodSeconds", 10),
        num("successThreshold", 1),
        num("failureThreshold", 3)
    );
    let port = |v: Option<&Value>| match v {
        Some(Value::String(name)) => name.clone(),
        Some(n) => n.to_string(),
        None => String::new(),
    };
    if let Some(e) = p.get("exec") {
        let cmd = strs(e, "/command");
        format!("exec [{}] {attrs}", cmd.join(" "))
    } else if let Some(h) = p.get("httpGet") {
        let scheme = h.get("scheme").and_then(Value::as_str).unwrap_or("HTTP");
        let port = port(h.get("port"));
        let host = s(h, "/host");
        let authority = if port.is_empty() {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        format!(
            "http-get {}://{authority}{} {attrs}",
            scheme.to_ascii_lowercase(),
            s(h, "/path")
        )
    } else if let Some(t) = p.get("tcpSocket") {
        format!(
            "tcp-socket {}:{} {attrs}",
            s(t, "/host"),
            port(t.get("port"))
        )
    } else {
        format!("unknown {attrs}")
    }
}

pub(crate) fn container_ports(ports: &[Value], host: bool) -> String {
    ports
        .iter()
        .map(|p| {
            let proto = match s(p, "/protocol") {
                "" => "TCP",
                x => x,
            };
            let n = if host {
                p.get("hostPort")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .to_string()
            } else {
                num(p, "/containerPort")
            };
            format!("{n}/{proto}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn describe_container(w: &mut W, c: &Value, status: Option<&Value>) {
    if let Some(st) = status {
        w.w(2, &format!("Container ID:\t{}\n", s(st, "/containerID")));
    }
    w.w(2, &format!("Image:\t{}\n", s(c, "/image")));
    if let Some(st) = status {
        w.w(2, &format!("Image ID:\t{}\n", s(st, "/imageID")));
    }
    let ports = arr(c, "/ports");
    let p = container_ports(ports, false);
    if p.contains(',') {
        w.w(2, &format!("Ports:\t{p}\n"));
    } else {
        w.w(
            2,
            &format!("Port:\t{}\n", if p.is_empty() { "<none>" } else { &p }),
        );
    }
    let hp = container_ports(ports, true);
    if hp.contains(',') {
        w.w(2, &format!("Host Ports:\t{hp}\n"));
    } else {
        w.w(
            2,
            &format!(
                "Host Port:\t{}\n",
                if hp.is_empty() { "<none>" } else { &hp }
            ),
        );
    }
    for (title, key) in [("Command", "/command"), ("Args", "/args")] {
        let items = arr(c, key);
        if !items.is_empty() {
            w.w(2, &format!("{title}:\n"));
            for it in items {
                w.w(3, &format!("{}\n", it.as_str().unwrap_or("")));
            }
        }
    }
    if let Some(st) = status {
        state(w, "State", st.get("state"));
        if st
            .get("lastState")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            state(w, "Last State", st.get("lastState"));
        }
        let ready = st.get("ready").and_then(Value::as_bool).unwrap_or(false);
        w.w(
            2,
            &format!("Ready:\t{}\n", if ready { "True" } else { "False" }),
        );
        w.w(
            2,
            &format!(
                "Restart Count:\t{}\n",
                st.get("restartCount").and_then(Value::as_i64).unwrap_or(0)
            ),
        );
    }
    for (title, key) in [
        ("Liveness", "/livenessProbe"),
        ("Readiness", "/readinessProbe"),
    ] {
        if let Some(p) = c.pointer(key).filter(|p| p.is_object()) {
            w.w(2, &format!("{title}:\t{}\n", describe_probe(p)));
        }
    }
    let env = arr(c, "/env");
    if env.is_empty() {
        w.w(2, "Environment:\t<none>\n");
    } else {
        w.w(2, "Environment:\n");
        for e in env {
            w.w(3, &format!("{}:\t{}\n", s(e, "/name"), s(e, "/value")));
        }
    }
    w.w(2, "Mounts:\t<none>\n");
}

pub(crate) fn state(w: &mut W, title: &str, st: Option<&Value>) {
    let Some(st) = st else {
        w.w(2, &format!("{title}:\tWaiting\n"));
        return;
    };
    if let Some(r) = st.get("running") {
        w.w(2, &format!("{title}:\tRunning\n"));
        w.w(3, &format!("Started:\t{}\n", rfc1123z(s(r, "/startedAt"))));
    } else if let Some(wt) = st.get("waiting") {
        w.w(2, &format!("{title}:\tWaiting\n"));
        if !s(wt, "/reason").is_empty() {
            w.w(3, &format!("Reason:\t{}\n", s(wt, "/reason")));
        }
    } else if let Some(t) = st.get("terminated") {
        w.w(2, &format!("{title}:\tTerminated\n"));
        if !s(t, "/reason").is_empty() {
            w.w(3, &format!("Reason:\t{}\n", s(t, "/reason")));
        }
        w.w(
            3,
            &format!(
                "Exit Code:\t{}\n",
                t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
            ),
        );
        w.w(3, &format!("Started:\t{}\n", rfc1123z(s(t, "/startedAt"))));
        w.w(
            3,
            &format!("Finished:\t{}\n", rfc1123z(s(t, "/finishedAt"))),
        );
    } else {
        w.w(2, &format!("{title}:\tWaiting\n"));
    }
}
