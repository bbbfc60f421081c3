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
                .unwrap_or_else(|| format!("the rules on {}", c.node)),
            Check::Probe(c) => c.title.clone().unwrap_or_else(|| {
                let what = match c.expect {
                    ProbeExpect::Reachable => "answered",
                    ProbeExpect::Dropped => "dropped",
                    ProbeExpect::Rejected => "refused",
                };
                format!(
                    "{} connection{} from {} to {} {}",
                    c.count,
                    if c.count == 1 { "" } else { "s" },
                    c.from,
                    c.target,
                    what
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
    /// `IP:PORT`, `HOST:PORT`, `svc:NS/NAME[:PORT]` (the ClusterIP),
    /// `lb:NS/NAME[:PORT]` (the first load balancer ingress IP in the Service's status),
    /// `externalip:NS/NAME[:PORT]` (its first `spec.externalIPs`) or `nodeport:NODE/NS/NAME`
    /// (a node's address and the Service's first nodePort). The port defaults to the
    /// Service's first port.
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
///
/// How answers compare (both sides alike; see [`AnswerCheck::judge`]):
/// * always: leading and trailing whitespace is dropped and every run of whitespace inside
///   counts as one space (`  Foo   bar ` is `Foo bar`); `ignore_case` also ignores case;
/// * `exact: true`: nothing more: the characters must be the same (for a string the task
///   asks to be typed "exactly as written", e.g. kube-proxy's `0.3333333333`);
/// * a number (`expected` such as `3`, `0.5`, `.25`, `1/3` or `33.3%`): the answer may be
///   written in any of those forms and is compared as a number: within `tolerance` when the
///   check gives one, else within half a unit of the expected value's last written digit
///   (`0.333` accepts 0.3325..0.3335, so `1/3` and `.3334` pass, `0.33` does not); a whole
///   number (`3`, `50%`) must be equal (`3.0` passes, `3.4` does not), a fraction `1/3` to
///   3 decimals. A `tolerance` with an expected value that is no number accepts nothing;
/// * an IP address or `IP:port` (`10.96.0.10:80`, `[fd00::1]:80`): compared as an address
///   and a port number, so `10.96.0.10 : 80` and `10.96.0.10:080` pass, a port where none is
///   wanted does not;
/// * anything else: as text.
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
    /// Compare the characters only (after whitespace is trimmed and collapsed): no reading as
    /// a number or an address.
    #[serde(default)]
    pub exact: bool,
    /// Shown when this check is the first that fails.
    #[serde(default)]
    pub hint: Option<String>,
}

/// The verdict on an answer, and what to tell the learner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Accepted?
    pub accepted: bool,
    /// One sentence: that it is right, or what is wrong and which form is wanted. It never
    /// names the expected answer.
    pub detail: String,
}

/// A number as an answer may write it: decimal, fraction or percentage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    /// Its value (`33.3%` is 0.333).
    pub value: f64,
    /// Half a unit of its last written digit, on the scale of `value` (`0.333`: 0.0005;
    /// `33.3%`: 0.0005; `3`: 0, a whole number is exact; `1/3`: 0.0005, three decimals).
    pub half_unit: f64,
}

/// Leading and trailing whitespace dropped, every inner run of whitespace one space.
pub fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A plain decimal: `3`, `-0.5`, `.25`, `3.`; its value and its number of decimals.
fn decimal(s: &str) -> Option<(f64, usize)> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let value: f64 = s.parse().ok().or_else(|| {
        // `.5` and `-.5` parse; `3.` does too; `+.5`: add the zero.
        format!("0{}", s.trim_start_matches('+')).parse().ok()
    })?;
    value.is_finite().then_some((value, frac.len()))
}

/// Reads `s` (whitespace already collapsed) as a number: `0.333`, `.3333`, `1/3`, `33.3%`,
/// `1 / 3`, `33.3 %`. No exponents, no thousands separators.
pub fn parse_number(s: &str) -> Option<Number> {
    let s = s.trim();
    if let Some(pct) = s.strip_suffix('%') {
        let (v, decimals) = decimal(pct.trim_end())?;
        let half_unit = if decimals == 0 {
            0.0
        } else {
            0.5 * 10f64.powi(-(decimals as i32)) / 100.0
        };
        return Some(Number {
            value: v / 100.0,
            half_unit,
        });
    }
    if let Some((a, b)) = s.split_once('/') {
        let (n, _) = decimal(a.trim_end())?;
        let (d, _) = decimal(b.trim_start())?;
        let value = n / d;
        return (d != 0.0 && value.is_finite()).then_some(Number {
            value,
            half_unit: 0.0005,
        });
    }
    let (value, decimals) = decimal(s)?;
    let half_unit = if decimals == 0 {
        0.0
    } else {
        0.5 * 10f64.powi(-(decimals as i32))
    };
    Some(Number { value, half_unit })
}

/// An IP address with or without a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The address.
    pub ip: std::net::IpAddr,
    /// The port, when one was written.
    pub port: Option<u16>,
}

/// Reads `s` (whitespace already collapsed) as an address: `10.96.0.10`, `10.96.0.10:80`,
/// `10.96.0.10 : 080`, `fd00::1`, `[fd00::1]:80`, `[fd00::1]`.
pub fn parse_address(s: &str) -> Option<Address> {
    use std::net::IpAddr;
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(Address { ip, port: None });
    }
    let (host, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']')?;
            let after = after.trim_start();
            if after.is_empty() {
                (host.trim(), None)
            } else {
                (host.trim(), Some(after.strip_prefix(':')?))
            }
        }
        None => {
            let (h, p) = s.rsplit_once(':')?;
            (h.trim_end(), Some(p))
        }
    };
    let ip: IpAddr = host.parse().ok()?;
    // A bare IPv6 address with a port needs brackets (`fd00::1:80` is an address).
    if ip.is_ipv6() && !s.starts_with('[') {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => {
            let p = p.trim_start();
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(p.parse::<u16>().ok()?)
        }
    };
    Some(Address { ip, port })
}

/// `a` within `tol` of `b`, allowing for the rounding of decimal text into binary.
fn within(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol + 1e-12 * b.abs().max(1.0)
}

impl AnswerCheck {
    /// Whether `given` matches `expected` under this check's comparison.
    pub fn accepts(&self, given: &str, expected: &str) -> bool {
        self.judge(given, expected).accepted
    }

    /// The text form both sides are compared in: whitespace collapsed, case folded when
    /// `ignore_case`. Idempotent.
    pub fn normalize(&self, s: &str) -> String {
        let s = collapse_whitespace(s);
        if self.ignore_case {
            s.to_lowercase()
        } else {
            s
        }
    }

    /// Judges `given` against `expected` (see the type's documentation for the rules) and
    /// says, when it is not accepted, which form is wanted when that helps.
    pub fn judge(&self, given: &str, expected: &str) -> Verdict {
        let (g, e) = (self.normalize(given), self.normalize(expected));
        let shown = excerpt(&collapse_whitespace(given));
        let right = || Verdict {
            accepted: true,
            detail: format!("{shown} is right"),
        };
        let wrong = |why: String| Verdict {
            accepted: false,
            detail: why,
        };
        if self.exact {
            return if g == e {
                right()
            } else {
                wrong(format!(
                    "{shown} is not the answer; type it exactly, every character as written"
                ))
            };
        }
        let expected_number = parse_number(&e);
        if self.tolerance.is_some() || expected_number.is_some() {
            let Some(want) = expected_number else {
                return wrong(format!(
                    "{shown} cannot be checked: the expected answer is not a number (a problem in the lab, not in your answer)"
                ));
            };
            let Some(got) = parse_number(&g) else {
                return wrong(format!(
                    "{shown} is not a number; give {}",
                    number_form(want, |x| self.accepts_number(x, want))
                ));
            };
            let tol = self.tolerance.unwrap_or(want.half_unit);
            return if within(got.value, want.value, tol) {
                right()
            } else if tol > 0.0 {
                wrong(format!(
                    "{shown} is not the answer (answers within ±{} of it count)",
                    trim_float(tol)
                ))
            } else {
                wrong(format!("{shown} is not the answer"))
            };
        }
        if let Some(want) = parse_address(&e) {
            // Documentation addresses (RFC 5737) as examples, never the answer itself.
            let ip = ["192.0.2.7", "198.51.100.7"]
                .into_iter()
                .find(|x| x.parse::<std::net::IpAddr>().ok() != Some(want.ip))
                .unwrap_or("192.0.2.7");
            return match parse_address(&g) {
                Some(got) if got == want => right(),
                Some(got) if got.port.is_some() && want.port.is_none() => wrong(format!(
                    "{shown} is not the answer; give the address alone, without a port (e.g. {ip})"
                )),
                Some(got) if got.port.is_none() && want.port.is_some() => wrong(format!(
                    "{shown} is not the answer; give the address and the port, IP:port (e.g. {ip}:8080)"
                )),
                Some(_) => wrong(format!("{shown} is not the answer")),
                None if want.port.is_some() => wrong(format!(
                    "{shown} is not an address and port; give IP:port (e.g. {ip}:8080)"
                )),
                None => wrong(format!(
                    "{shown} is not an IP address; give one such as {ip} (no prefix length, no port)"
                )),
            };
        }
        if g == e {
            right()
        } else {
            wrong(format!("{shown} is not the answer"))
        }
    }

    fn accepts_number(&self, x: f64, want: Number) -> bool {
        within(x, want.value, self.tolerance.unwrap_or(want.half_unit))
    }
}

/// How to write a number like `want`, with examples that are not themselves accepted.
fn number_form(want: Number, accepted: impl Fn(f64) -> bool) -> String {
    let whole = want.half_unit == 0.0 && want.value.fract() == 0.0;
    if whole {
        let ex = [12.0, 7.0]
            .into_iter()
            .find(|x| !accepted(*x))
            .unwrap_or(12.0);
        format!("a whole number, e.g. {ex}")
    } else {
        let ex = [(0.25, "0.25, 1/4 or 25%"), (0.75, "0.75, 3/4 or 75%")]
            .into_iter()
            .find(|(x, _)| !accepted(*x))
            .map_or("0.25, 1/4 or 25%", |(_, t)| t);
        format!("a number such as {ex}")
    }
}

/// A tolerance as people write it: `0.001`, `5`, `0.0005`.
fn trim_float(x: f64) -> String {
    let s = format!("{x:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
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

    /// Judges a finished run: `(passed, detail)`. The detail says what the command did and,
    /// when that is not what the check asks, what it asks.
    pub fn evaluate(&self, code: i64, stdout: &str, stderr: &str) -> (bool, String) {
        let out = stdout.trim();
        let shown = excerpt(out);
        let printed = if shown.is_empty() {
            "the output is empty".to_string()
        } else {
            format!("the output is {shown:?}")
        };
        if code != self.exit_status() {
            let err = excerpt(stderr.trim());
            let said = if !err.is_empty() {
                format!(" (it said: {err})")
            } else if !shown.is_empty() {
                format!(" (it printed: {shown})")
            } else {
                String::new()
            };
            let wants = if self.exit_status() == 0 {
                "the task wants it to succeed (exit 0)".to_string()
            } else {
                format!("the task wants exit {}", self.exit_status())
            };
            return (false, format!("the command exited {code}{said}; {wants}"));
        }
        if let Some(want) = &self.contains {
            if !stdout.contains(want.as_str()) {
                return (
                    false,
                    format!("{printed}; the task wants it to include {want:?}"),
                );
            }
        }
        if let Some(pattern) = &self.matches {
            match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(out) => {}
                Ok(_) => {
                    return (
                        false,
                        format!("{printed}; the task wants it to match /{pattern}/"),
                    )
                }
                Err(e) => {
                    return (
                        false,
                        format!("the check's pattern {pattern:?} is not a valid regex: {e}"),
                    )
                }
            }
        }
        let did = if code == 0 {
            "the command succeeded".to_string()
        } else {
            format!("the command exited {code}, as the task wants")
        };
        match (shown.is_empty(), code == 0) {
            (true, _) => (true, did),
            (false, true) => (true, format!("{did} and printed: {shown}")),
            (false, false) => (true, format!("{did}, and printed: {shown}")),
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
        assert_eq!(
            c.evaluate(0, "3\n", ""),
            (true, "the command succeeded and printed: 3".to_string())
        );
        assert_eq!(
            c.evaluate(0, "0\n", ""),
            (
                false,
                "the output is \"0\"; the task wants it to match /^[1-9][0-9]*$/".to_string()
            )
        );
        assert_eq!(
            c.evaluate(1, "", "grep: no match\n"),
            (
                false,
                "the command exited 1 (it said: grep: no match); the task wants it to succeed (exit 0)"
                    .to_string()
            )
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
            "the output is \"TIME_WAIT\"; the task wants it to include \"ESTABLISHED\""
        );
        assert_eq!(
            d.evaluate(7, "tcp ESTABLISHED", "").1,
            "the command exited 7, as the task wants, and printed: tcp ESTABLISHED"
        );
        assert_eq!(
            d.evaluate(0, "", "").1,
            "the command exited 0; the task wants exit 7"
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
            exact: false,
            hint: None,
        };
        assert!(a.accepts("0.333", "0.33333"));
        assert!(!a.accepts("0.5", "0.33333"));
        assert!(!a.accepts("half", "0.5"));
        a.tolerance = None;
        a.ignore_case = true;
        assert!(a.accepts(" kube-svc-x ", "KUBE-SVC-X"));
        assert!(a.accepts("  Foo \t bar ", "foo bar"));
        a.ignore_case = false;
        assert!(
            !a.accepts("foo bar", "Foo bar"),
            "case counts unless ignore_case"
        );
        assert!(a.accepts("  Foo \t bar ", "Foo bar"));
    }

    fn answer(tolerance: Option<f64>, exact: bool) -> AnswerCheck {
        AnswerCheck {
            title: None,
            expected: None,
            command: None,
            host: "node-1".into(),
            tolerance,
            ignore_case: false,
            exact,
            hint: None,
        }
    }

    #[test]
    fn numbers_in_any_form() {
        let third = answer(Some(0.001), false);
        for given in [
            "1/3",
            "0.333",
            ".3333",
            "33.3%",
            " 33.33 % ",
            "1 / 3",
            "0.3333333333",
        ] {
            assert!(third.accepts(given, "0.3333333333"), "{given}");
        }
        for given in ["0.33", "1/2", "33%", "0,333", "one third", "3.33e-1"] {
            assert!(!third.accepts(given, "0.3333333333"), "{given}");
        }
        // Without a tolerance, the expected value's own precision: half its last digit.
        let own = answer(None, false);
        assert!(own.accepts("1/3", "0.333"));
        assert!(own.accepts("0.3334", "0.333"));
        assert!(!own.accepts("0.334", "0.333"));
        assert!(!own.accepts("0.33", "0.333"));
        assert!(own.accepts("3.0", "3") && own.accepts("03", "3") && own.accepts("+3", "3"));
        assert!(!own.accepts("3.4", "3") && !own.accepts("4", "3"));
        assert!(own.accepts("0.5", "50%") && own.accepts("1/2", "50%"));
        assert!(!own.accepts("0.504", "50%"));
        assert!(own.accepts("0.333", "1/3") && !own.accepts("0.33", "1/3"));
        // exact: every character, as kube-proxy writes it.
        let exact = answer(None, true);
        assert!(exact.accepts(" 0.3333333333 ", "0.3333333333"));
        assert!(!exact.accepts("1/3", "0.3333333333"));
        assert!(!exact.accepts("0.33333333330", "0.3333333333"));
    }

    #[test]
    fn addresses_with_and_without_ports() {
        let a = answer(None, false);
        for given in [
            "10.96.0.10:80",
            "10.96.0.10 : 80",
            "10.96.0.10:080",
            " 10.96.0.10:80\n",
        ] {
            assert!(a.accepts(given, "10.96.0.10:80"), "{given}");
        }
        for given in [
            "10.96.0.10",
            "10.96.0.10:81",
            "10.96.0.1:80",
            "10.96.0.10:",
            "10.96.0.10:80/tcp",
        ] {
            assert!(!a.accepts(given, "10.96.0.10:80"), "{given}");
        }
        assert!(a.accepts("[::1]:80", "[0:0::1]:80"));
        assert!(a.accepts("[fd00::1]", "fd00::1"));
        assert!(!a.accepts("fd00::1:80", "[fd00::1]:80"));
        assert!(a.accepts("10.244.2.0", "10.244.2.0"));
        assert!(!a.accepts("10.244.2.0/32", "10.244.2.0"));
    }

    #[test]
    fn a_rejection_says_which_form_is_wanted() {
        let a = answer(Some(0.001), false);
        assert_eq!(
            a.judge("half", "0.3333333333").detail,
            "half is not a number; give a number such as 0.25, 1/4 or 25%"
        );
        assert_eq!(
            a.judge("0.33", "0.3333333333").detail,
            "0.33 is not the answer (answers within ±0.001 of it count)"
        );
        assert_eq!(a.judge("1/3", "0.3333333333").detail, "1/3 is right");
        let count = answer(Some(0.0), false);
        assert_eq!(
            count.judge("three", "3").detail,
            "three is not a number; give a whole number, e.g. 12"
        );
        assert_eq!(count.judge("4", "3").detail, "4 is not the answer");
        let plain = answer(None, false);
        assert_eq!(
            plain.judge("10.244.1.2/32", "10.244.1.2").detail,
            "10.244.1.2/32 is not an IP address; give one such as 192.0.2.7 (no prefix length, no port)"
        );
        assert_eq!(
            plain.judge("10.244.1.2", "10.244.1.2:80").detail,
            "10.244.1.2 is not the answer; give the address and the port, IP:port (e.g. 192.0.2.7:8080)"
        );
        assert_eq!(
            plain.judge("web:80", "10.244.1.2:80").detail,
            "web:80 is not an address and port; give IP:port (e.g. 192.0.2.7:8080)"
        );
        assert_eq!(
            answer(None, true).judge("1/3", "0.3333333333").detail,
            "1/3 is not the answer; type it exactly, every character as written"
        );
        assert_eq!(
            plain.judge("KUBE-SVC-X", "KUBE-SVC-Y").detail,
            "KUBE-SVC-X is not the answer"
        );
    }
}
