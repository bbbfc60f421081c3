//! JSON exchanged between the in-lab agent and the server, and the grader's results.

use serde::{Deserialize, Serialize};

/// How one probe connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Failure {
    /// No answer within the timeout: the packet was dropped.
    Timeout,
    /// Connection refused (TCP RST / ICMP port unreachable): rejected.
    Refused,
    /// Unreachable host or network (ICMP host/net unreachable).
    Unreachable,
    /// Anything else (name resolution, bad answer).
    Error,
}

impl Failure {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Refused => "refused",
            Failure::Unreachable => "unreachable",
            Failure::Error => "error",
        }
    }
}

/// The pod server's answer line (`kplab-pod`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodAnswer {
    /// Pod name.
    pub pod: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Node the pod runs on.
    #[serde(default)]
    pub node: String,
    /// The pod's IP.
    #[serde(rename = "podIP", default)]
    pub pod_ip: String,
    /// The client address (`IP:PORT`) the pod saw.
    pub client: String,
}

/// One probe connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeAttempt {
    /// The local address the connection was made from (`IP:PORT`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// The answer, when answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<PodAnswer>,
    /// How it failed, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Error text for `failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds to answer or fail.
    pub ms: f64,
}

/// What `kplab-agent kplab-probe` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Where the connections came from (`node-1`, `client`, `pod:NS/NAME`).
    pub from: String,
    /// Resolved target `IP:PORT`.
    pub target: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// One entry per connection, in order.
    pub attempts: Vec<ProbeAttempt>,
}

/// One direction of a connection as conntrack shows it: protocol, `src` and `dst` as
/// `IP:PORT`. Written on a command line as `PROTO,SRC,DST` ([`Flow::arg`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Flow {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// `IP:PORT` the packets come from.
    pub src: String,
    /// `IP:PORT` they go to.
    pub dst: String,
}

impl Flow {
    /// `PROTO,SRC,DST`, as `kplab-conntrack-forget` takes it.
    pub fn arg(&self) -> String {
        format!("{},{},{}", self.protocol, self.src, self.dst)
    }

    /// Reads [`Flow::arg`]'s form: IPv4 addresses with ports, `tcp` or `udp`.
    pub fn parse(s: &str) -> Option<Flow> {
        let mut it = s.split(',');
        let (protocol, src, dst) = (it.next()?, it.next()?, it.next()?);
        let ok = |a: &str| a.parse::<std::net::SocketAddrV4>().is_ok();
        (it.next().is_none() && matches!(protocol, "tcp" | "udp") && ok(src) && ok(dst)).then(
            || Flow {
                protocol: protocol.into(),
                src: src.into(),
                dst: dst.into(),
            },
        )
    }

    /// The same connection seen from the other end: the reply direction of an entry is the
    /// original direction on the next node (after that node's NAT).
    pub fn reversed(&self) -> Flow {
        Flow {
            protocol: self.protocol.clone(),
            src: self.dst.clone(),
            dst: self.src.clone(),
        }
    }
}

/// What `kplab-conntrack-forget` prints: how many conntrack entries it deleted, and the reply
/// direction of each (where the connection went on after this node's NAT).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forgotten {
    /// Entries deleted.
    pub deleted: usize,
    /// Their reply directions.
    pub replies: Vec<Flow>,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// `rules`, `probe`, `state`, `answer` or `command`.
    pub kind: String,
    /// What was checked.
    pub title: String,
    /// Passed?
    pub passed: bool,
    /// What was found (shown to the learner on failure, and on success as confirmation).
    pub detail: String,
    /// Milliseconds the check took.
    pub ms: u64,
}

/// The outcome of checking a task: every check, and the hint of the first failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOutcome {
    /// Task id.
    pub task: String,
    /// All checks passed.
    pub passed: bool,
    /// Per check, in order.
    pub checks: Vec<CheckOutcome>,
    /// The hint for the first failed check (its own, else the task's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_answer_parses_the_pod_servers_line() {
        let line = r#"{"pod":"web-7d4b9c8f5-x2x9z","namespace":"default","node":"node-2","podIP":"10.244.2.3","port":80,"protocol":"TCP","client":"10.244.1.7:51234"}"#;
        let a: PodAnswer = serde_json::from_str(line).unwrap();
        assert_eq!(a.pod, "web-7d4b9c8f5-x2x9z");
        assert_eq!(a.pod_ip, "10.244.2.3");
        assert_eq!(a.client, "10.244.1.7:51234");
    }
}
