//! Check definitions, as written in a step's front matter under `tasks[].checks`.
//!
//! Five kinds, selected by `kind:`:
//! * `rules`: assertions over the parsed `iptables-save` of one node;
//! * `probe`: N connections from a pod, a node or `client` to a target;
//! * `state`: an object (or list) in the lab API, read through a kubectl jsonpath;
//! * `answer`: what the learner typed, compared with a literal or with a value read live;
//! * `command`: a shell command on a host, judged by its exit status and output.

use serde::{Deserialize, Serialize};

/// One check of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Check {
    /// Assertions over a node's ruleset.
    Rules(RulesCheck),
    /// Reachability / spread / source IP through probe connections.
    Probe(ProbeCheck),
    /// Objects in the lab API.
    State(StateCheck),
    /// The learner's typed answer.
    Answer(AnswerCheck),
    /// A shell command's exit status and output.
    Command(CommandCheck),
}

impl Check {
    /// `rules`, `probe`, `state`, `answer` or `command`.
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Rules(_) => "rules",
            Check::Probe(_) => "probe",
            Check::State(_) => "state",
            Check::Answer(_) => "answer",
            Check::Command(_) => "command",
        }
    }

    /// The check's own hint, shown when it is the first that fails.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Check::Rules(c) => c.hint.as_deref(),
            Check::Probe(c) => c.hint.as_deref(),
            Check::State(c) => c.hint.as_deref(),
            Check::Answer(c) => c.hint.as_deref(),
            Check::Command(c) => c.hint.as_deref(),
        }
    }

    /// A one-line description for result lists.
    pub fn describe(&self) -> String {
        match self {
            Check::Rules(c) => c
                .title
                .clone()
                .unwrap_or_else(|| format!("{} rule assertion(s) on {}", c.assert.len(), c.node)),
            Check::Probe(c) => c.title.clone().unwrap_or_else(|| {
                format!(
                    "{} connection(s) from {} to {}: {}",
                    c.count,
                    c.from,
                    c.target,
                    c.expect.as_str()
                )
            }),
            Check::State(c) => c.title.clone().unwrap_or_else(|| {
                format!(
                    "{} {} {}",
                    c.resource,
                    c.name.as_deref().unwrap_or(""),
                    c.jsonpath
                )
            }),
            Check::Answer(c) => c.title.clone().unwrap_or_else(|| "your answer".to_string()),
            Check::Command(c) => c
                .title
                .clone()
                .unwrap_or_else(|| format!("`{}` on {}", c.run, c.host)),
        }
    }
}

/// `kind: rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesCheck {
    /// What the learner sees in the result list.
    #[serde(default)]
    pub title: Option<String>,
    /// The node whose `iptables-save` is read (`node-1`, `node-2`).
    #[serde(default = "default_node")]
    pub node: String,
    /// All must hold.
    pub assert: Vec<RuleAssert>,
    /// Shown when this check is the first that fails.
    #[serde(default)]
    pub hint: Option<String>,
}

fn default_node() -> String {
    "node-1".to_string()
}

/// Selects chains: a name, or a glob with a trailing `*`, optionally narrowed to chains that
/// have a rule whose comment contains `comment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSel {
    /// `nat`, `filter`, `mangle`, `raw`.
    #[serde(default = "default_table")]
    pub table: String,
    /// Chain name or `PREFIX*`.
    pub chain: String,
    /// Only chains with a rule whose `--comment` contains this text.
    #[serde(default)]
    pub comment: Option<String>,
}

fn default_table() -> String {
    "nat".to_string()
}

/// Selects rules inside the selected chains.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSel {
    /// Every fragment must occur in the rule's text (as `iptables-save` prints it).
    #[serde(default)]
    pub has: Vec<String>,
    /// The target (`-j`/`-g`), a name or `PREFIX*`.
    #[serde(default)]
    pub target: Option<String>,
}

/// One assertion of a `rules` check (a single-key map in YAML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAssert {
    /// At least one chain matches.
    Chain(ChainSel),
    /// No chain matches.
    NoChain(ChainSel),
    /// A rule with these matches and target exists in a selected chain.
    Rule(RuleQuery),
    /// No such rule exists in the selected chains.
    NoRule(RuleQuery),
    /// The number of matching rules in the (first) selected chain.
    Count(CountQuery),
    /// The `-m statistic --probability` values of the selected chain's rules, in order.
    Probabilities(ProbabilityQuery),
    /// A rule matching `first` comes before a rule matching `then` in the selected chain.
    Order(OrderQuery),
}

impl RuleAssert {
    /// The chain selector of any assertion.
    pub fn chain(&self) -> ChainSel {
        match self {
            RuleAssert::Chain(c) | RuleAssert::NoChain(c) => c.clone(),
            RuleAssert::Rule(q) | RuleAssert::NoRule(q) => q.chain_sel(),
            RuleAssert::Count(q) => ChainSel {
                table: q.table.clone(),
                chain: q.chain.clone(),
                comment: q.comment.clone(),
            },
            RuleAssert::Probabilities(q) => ChainSel {
                table: q.table.clone(),
                chain: q.chain.clone(),
                comment: q.comment.clone(),
            },
            RuleAssert::Order(q) => ChainSel {
                table: q.table.clone(),
                chain: q.chain.clone(),
                comment: q.comment.clone(),
            },
        }
    }
}

/// `rule:` / `no_rule:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleQuery {
    /// Table.
    #[serde(default = "default_table")]
    pub table: String,
    /// Chain name or `PREFIX*`.
    pub chain: String,
    /// Only chains with a rule whose comment contains this.
    #[serde(default)]
    pub comment: Option<String>,
    /// Every fragment must occur in the rule's text.
    #[serde(default)]
    pub has: Vec<String>,
    /// Target name or `PREFIX*`.
    #[serde(default)]
    pub target: Option<String>,
}

impl RuleQuery {
    /// The chain part.
    pub fn chain_sel(&self) -> ChainSel {
        ChainSel {
            table: self.table.clone(),
            chain: self.chain.clone(),
            comment: self.comment.clone(),
        }
    }
    /// The rule part.
    pub fn rule_sel(&self) -> RuleSel {
        RuleSel {
            has: self.has.clone(),
            target: self.target.clone(),
        }
    }
}

/// `count:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountQuery {
    /// Table.
    #[serde(default = "default_table")]
    pub table: String,
    /// Chain name or `PREFIX*`.
    pub chain: String,
    /// Only chains with a rule whose comment contains this.
    #[serde(default)]
    pub comment: Option<String>,
    /// Every fragment must occur in the rule's text.
    #[serde(default)]
    pub has: Vec<String>,
    /// Target name or `PREFIX*`.
    #[serde(default)]
    pub target: Option<String>,
    /// Expected number of matching rules.
    pub equals: usize,
}

/// `probabilities:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilityQuery {
    /// Table.
    #[serde(default = "default_table")]
    pub table: String,
    /// Chain name or `PREFIX*`.
    pub chain: String,
    /// Only chains with a rule whose comment contains this.
    #[serde(default)]
    pub comment: Option<String>,
    /// Expected probabilities in rule order.
    pub values: Vec<f64>,
    /// Allowed absolute difference (default 0.001).
    #[serde(default)]
    pub tolerance: Option<f64>,
}

/// `order:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    /// Table.
    #[serde(default = "default_table")]
    pub table: String,
    /// Chain name or `PREFIX*`.
    pub chain: String,
    /// Only chains with a rule whose comment contains this.
    #[serde(default)]
    pub comment: Option<String>,
    /// The earlier rule.
    pub first: RuleSel,
    /// The later rule.
    pub then: RuleSel,
}

/// `expect:` of a probe check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeExpect {
    /// Every connection is answered.
    Reachable,
    /// Every connection times out (a DROP).
    Dropped,
    /// Every connection is refused (a REJECT, or no listener).
    Rejected,
}

impl ProbeExpect {
    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeExpect::Reachable => "reachable",
            ProbeExpect::Dropped => "dropped",
            ProbeExpect::Rejected => "rejected",
        }
    }
}

/// Spread over endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spread {
    /// At least this many distinct pods answered.
    pub min_endpoints: usize,
    /// Each answering pod's share within this fraction of an even share (0.5 = ±50 %).
    #[serde(default)]
    pub tolerance: Option<f64>,
}

/// What the backend saw as the source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceIp {
    /// The backend saw the prober's own address.
    Preserved,
    /// The backend saw another address (SNAT/masquerade).
    Masqueraded,
}

/// `kind: probe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeCheck {
    /// What the learner sees in the result list.
    #[serde(default)]
    pub title: Option<String>,
    /// `client`, `node-N`, or `pod:NS/NAME` or `pod:NS/LABEL=VALUE` (first running pod).
    pub from: String,
    /// `IP:PORT`, `HOST:PORT`, `svc:NS/NAME[:PORT]` (the ClusterIP) or
    /// `nodeport:NODE/NS/NAME` (a node's address and the Service's first nodePort).
    pub target: String,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// UDP only: send every datagram from this source port (one after another), as a client
    /// that keeps its socket does; such a flow keeps one conntrack entry alive.
    #[serde(default)]
    pub source_port: Option<u16>,
    /// Connections.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Per-connection timeout in milliseconds (default 1000).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// Expected outcome of every connection.
    pub expect: ProbeExpect,
    /// Spread over endpoints (only with `reachable`).
    #[serde(default)]
    pub spread: Option<Spread>,
    /// Source address the backend saw (only with `reachable`).
    #[serde(default)]
    pub source_ip: Option<SourceIp>,
    /// Shown when this check is the first that fails.
    #[serde(default)]
    pub hint: Option<String>,
}

fn default_count() -> u32 {
    10
}

/// `kind: state`: `kubectl get RESOURCE [NAME] -n NS [-l SELECTOR] -o jsonpath=JSONPATH`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateCheck {
    /// What the learner sees in the result list.
    #[serde(default)]
    pub title: Option<String>,
    /// `pods`, `services`, `deployments`, `endpointslices`, `networkpolicies`, `nodes`, …
    pub resource: String,
    /// Namespace (default `default`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Object name; without it the list is read.
    #[serde(default)]
    pub name: Option<String>,
    /// Label selector for lists.
    #[serde(default)]
    pub selector: Option<String>,
    /// kubectl jsonpath, e.g. `{.spec.type}`.
    pub jsonpath: String,
    /// The output must equal this (trimmed).
    #[serde(default)]
    pub equals: Option<String>,
    /// The output must contain this.
    #[serde(default)]
    pub contains: Option<String>,
    /// Shown when this check is the first that fails.
    #[serde(default)]
    pub hint: Option<String>,
}

/// `kind: answer`: the learner's answer against `expected` or against the trimmed output
/// of `command` run live on `host`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerCheck {
    /// The question, shown beside the answer box.
    #[serde(default)]
    pub title: Option<String>,
    /// A literal expected answer.
    #[serde(default)]
    pub expected: Option<String>,
    /// A shell command whose output (trimmed) is the expected answer.
    #[serde(default)]
    pub command: Option<String>,
    /// Where `command` runs (default `node-1`).
    #[serde(default = "default_node")]
    pub host: String,
    /// Compare as numbers, within this absolute tolerance.
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// Compare case-insensitively.
    #[serde(default)]
    pub ignore_case: bool,
    /// Shown when this check is the first that fails.
    #[serde(default)]
    pub hint: Option<String>,
}

impl AnswerCheck {
    /// Whether `given` matches `expected` under this check's comparison.
    pub fn accepts(&self, given: &str, expected: &str) -> bool {
        let (g, e) = (given.trim(), expected.trim());
        if let Some(tol) = self.tolerance {
            return match (g.parse::<f64>(), e.parse::<f64>()) {
                (Ok(a), Ok(b)) => (a - b).abs() <= tol,
                _ => false,
            };
        }
        if self.ignore_case {
            g.eq_ignore_ascii_case(e)
        } else {
            g == e
        }
    }
}

/// `kind: command`: `sh -c RUN` on `host`; passes when it exits with `exit` (default 0), its
/// output contains `contains` and its trimmed output matches the regex `matches` (each when
/// given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandCheck {
    /// What the learner sees in the result list.
    #[serde(default)]
    pub title: Option<String>,
    /// `node-N` or `client` (default `node-1`).
    #[serde(default = "default_node")]
    pub host: String,
    /// Shell command (`sh -c`).
    pub run: String,
    /// Required exit status (default 0).
    #[serde(default)]
    pub exit: Option<i64>,
    /// Standard output must contain this.
    #[serde(default)]
    pub contains: Option<String>,
    /// Regex the trimmed standard output must match.
    #[serde(default)]
    pub matches: Option<String>,
    /// Shown when this check is the first that fails.
    #[serde(default)]
    pub hint: Option<String>,
}

impl CommandCheck {
    /// The required exit status.
    pub fn exit_status(&self) -> i64 {
        self.exit.unwrap_or(0)
    }

    /// Judges a finished run: `(passed, detail)`. The detail names what differed.
    pub fn evaluate(&self, code: i64, stdout: &str, stderr: &str) -> (bool, String) {
        let out = stdout.trim();
        let shown = excerpt(out);
        if code != self.exit_status() {
            let err = excerpt(stderr.trim());
            let tail = if !err.is_empty() {
                format!(": {err}")
            } else if !shown.is_empty() {
                format!(": {shown}")
            } else {
                String::new()
            };
            return (
                false,
                format!("exited {code}, expected {}{tail}", self.exit_status()),
            );
        }
        if let Some(want) = &self.contains {
            if !stdout.contains(want.as_str()) {
                return (false, format!("output {shown:?} does not contain {want:?}"));
            }
        }
        if let Some(pattern) = &self.matches {
            match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(out) => {}
                Ok(_) => {
                    return (
                        false,
                        format!("output {shown:?} does not match /{pattern}/"),
                    )
                }
                Err(e) => return (false, format!("bad regex {pattern:?}: {e}")),
            }
        }
        if shown.is_empty() {
            (true, format!("exit {code}"))
        } else {
            (true, format!("exit {code}: {shown}"))
        }
    }
}

/// At most 200 characters of `s`, on one line.
fn excerpt(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 200 {
        format!("{}…", one.chars().take(200).collect::<String>())
    } else {
        one
    }
}

/// Matches a name against a pattern: exact, or `PREFIX*`.
pub fn glob(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("KUBE-SVC-*", "KUBE-SVC-ABC"));
        assert!(!glob("KUBE-SVC-*", "KUBE-SEP-ABC"));
        assert!(glob("KUBE-SERVICES", "KUBE-SERVICES"));
        assert!(!glob("KUBE-SERVICES", "KUBE-SERVICES2"));
    }

    #[test]
    fn command_checks() {
        let yaml = "kind: command\ntitle: conntrack holds the connection\nhost: node-2\nrun: \"conntrack -L | grep -c dport=80\"\nmatches: \"^[1-9][0-9]*$\"\n";
        let c: Check = serde_yaml_ng::from_str(yaml).unwrap();
        let Check::Command(c) = c else {
            panic!("not a command check")
        };
        assert_eq!(c.host, "node-2");
        assert_eq!(c.exit_status(), 0);
        assert_eq!(c.evaluate(0, "3\n", ""), (true, "exit 0: 3".to_string()));
        assert_eq!(
            c.evaluate(0, "0\n", ""),
            (
                false,
                "output \"0\" does not match /^[1-9][0-9]*$/".to_string()
            )
        );
        assert_eq!(
            c.evaluate(1, "", "grep: no match\n"),
            (false, "exited 1, expected 0: grep: no match".to_string())
        );
        let d: Check = serde_yaml_ng::from_str(
            "kind: command\nrun: curl -s x\nexit: 7\ncontains: ESTABLISHED\n",
        )
        .unwrap();
        let Check::Command(d) = d else {
            panic!("not a command check")
        };
        assert_eq!(d.host, "node-1");
        assert!(!d.evaluate(0, "ESTABLISHED", "").0);
        assert!(d.evaluate(7, "tcp ESTABLISHED src=1", "").0);
        assert_eq!(
            d.evaluate(7, "TIME_WAIT", "").1,
            "output \"TIME_WAIT\" does not contain \"ESTABLISHED\""
        );
        assert_eq!(
            Check::Command(d.clone()).describe(),
            "`curl -s x` on node-1"
        );
        assert!(serde_yaml_ng::from_str::<Check>("kind: command\nrun: x\nexpect: 1\n").is_err());
    }

    #[test]
    fn answers_compare_by_kind() {
        let mut a = AnswerCheck {
            title: None,
            expected: None,
            command: None,
            host: "node-1".into(),
            tolerance: Some(0.01),
            ignore_case: false,
            hint: None,
        };
        assert!(a.accepts("0.333", "0.33333"));
        assert!(!a.accepts("0.5", "0.33333"));
        assert!(!a.accepts("half", "0.5"));
        a.tolerance = None;
        a.ignore_case = true;
        assert!(a.accepts(" kube-svc-x ", "KUBE-SVC-X"));
    }
}
