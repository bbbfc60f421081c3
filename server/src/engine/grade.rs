//! The grading engine: runs a task's checks in the lab (through the runtime's exec of the
//! agent and node tools) and evaluates them. Evaluation is pure and unit-tested:
//! [`eval_rules`] over a parsed `iptables-save`, [`eval_probe`] over a probe report,
//! [`eval_state`] over kubectl jsonpath output.

use std::collections::BTreeMap;
use std::time::Instant;

use labkit::check::{glob, ChainSel, ProbeCheck, RuleAssert, RuleSel, SourceIp, StateCheck};
use labkit::wire::{CheckOutcome, Failure, ProbeReport, TaskOutcome};
use labkit::{Check, Task};
use netrules::save::{Dump, SaveChain, SaveRule};

use super::runtime::LabRuntime;

/// Runs every check of `task` in `sandbox` and returns per-check outcomes with the hint of
/// the first failure. `answer` is what the learner typed (for `answer` checks).
pub async fn run_task(
    rt: &dyn LabRuntime,
    sandbox: &str,
    task: &Task,
    answer: Option<&str>,
) -> TaskOutcome {
    let mut checks = Vec::new();
    let mut hint = None;
    for c in &task.checks {
        let t0 = Instant::now();
        let (passed, detail) = match run_check(rt, sandbox, c, answer).await {
            Ok(r) => r,
            Err(e) => (false, e),
        };
        if !passed && hint.is_none() {
            hint = c
                .hint()
                .map(str::to_string)
                .or_else(|| task.hints().first().cloned());
        }
        checks.push(CheckOutcome {
            kind: c.kind().into(),
            title: c.describe(),
            passed,
            // What a lab printed is the learner's to choose: cut before it is stored or shown.
            detail: crate::store::cap_text(&detail, crate::store::MAX_STORED_TEXT).into_owned(),
            ms: t0.elapsed().as_millis() as u64,
        });
    }
    let passed = checks.iter().all(|c| c.passed);
    TaskOutcome {
        task: task.id.clone(),
        passed,
        checks,
        hint,
    }
}

async fn sh(rt: &dyn LabRuntime, sandbox: &str, host: &str, cmd: &str) -> Result<String, String> {
    let out = rt
        .exec(sandbox, host, &["sh", "-c", cmd])
        .await
        .map_err(|e| format!("could not run in the lab: {e}"))?;
    if out.code != 0 {
        let err = if out.stderr.trim().is_empty() {
            out.stdout.trim()
        } else {
            out.stderr.trim()
        };
        return Err(format!("`{cmd}` on {host} exited {}: {err}", out.code));
    }
    Ok(out.stdout)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

async fn run_check(
    rt: &dyn LabRuntime,
    sandbox: &str,
    c: &Check,
    answer: Option<&str>,
) -> Result<(bool, String), String> {
    match c {
        Check::Rules(r) => {
            let text = sh(rt, sandbox, &r.node, "iptables-save").await?;
            let dump = netrules::save::parse(&text)
                .map_err(|e| format!("could not parse iptables-save of {}: {e}", r.node))?;
            Ok(eval_rules(&dump, &r.assert))
        }
        Check::State(s) => {
            let cmd = state_command(s);
            match sh(rt, sandbox, "node-1", &cmd).await {
                Ok(out) => Ok(eval_state(s, &out)),
                Err(e) if e.contains("NotFound") || e.contains("not found") => Ok((
                    false,
                    format!(
                        "{} {} not found",
                        s.resource,
                        s.name.as_deref().unwrap_or("")
                    ),
                )),
                Err(e) => Err(e),
            }
        }
        Check::Probe(p) => {
            let (host, from_arg) = resolve_from(rt, sandbox, &p.from).await?;
            let target = resolve_target(rt, sandbox, &p.target).await?;
            let mut cmd = format!(
                "kplab-agent kplab-probe --target {} --count {} --timeout-ms {} --protocol {} --from {}",
                quote(&target),
                p.count,
                p.timeout_ms.unwrap_or(1000),
                p.protocol.as_deref().unwrap_or("tcp"),
                quote(&p.from)
            );
            if let Some(pod) = from_arg {
                cmd.push_str(&format!(" --pod {}", quote(&pod)));
            }
            if let Some(port) = p.source_port {
                cmd.push_str(&format!(" --source-port {port}"));
            }
            let out = sh(rt, sandbox, &host, &cmd).await?;
            let report: ProbeReport =
                serde_json::from_str(out.trim()).map_err(|e| format!("bad probe report: {e}"))?;
            Ok(eval_probe(p, &report))
        }
        Check::Answer(a) => {
            let Some(given) = answer.filter(|s| !s.trim().is_empty()) else {
                return Ok((false, "type an answer first".into()));
            };
            let expected = match (&a.expected, &a.command) {
                (Some(e), _) => e.clone(),
                (None, Some(cmd)) => sh(rt, sandbox, &a.host, cmd)
                    .await
                    .map_err(|e| format!("could not work out the expected answer: {e}"))?
                    .trim()
                    .to_string(),
                (None, None) => return Err("the check has no expected answer".into()),
            };
            let v = a.judge(given, &expected);
            Ok((v.accepted, v.detail))
        }
        Check::Command(c) => {
            // The exit status is part of the verdict, so no `sh` (which fails on non-zero).
            let out = rt
                .exec(sandbox, &c.host, &["sh", "-c", &c.run])
                .await
                .map_err(|e| format!("could not run in the lab: {e}"))?;
            Ok(c.evaluate(out.code, &out.stdout, &out.stderr))
        }
    }
}

/// The kubectl command of a `state` check.
pub fn state_command(s: &StateCheck) -> String {
    let mut cmd = format!("kubectl get {}", quote(&s.resource));
    if let Some(n) = &s.name {
        cmd.push(' ');
        cmd.push_str(&quote(n));
    }
    if s.resource != "nodes" && s.resource != "namespaces" {
        cmd.push_str(&format!(
            " -n {}",
            quote(s.namespace.as_deref().unwrap_or("default"))
        ));
    }
    if let Some(sel) = &s.selector {
        cmd.push_str(&format!(" -l {}", quote(sel)));
    }
    cmd.push_str(&format!(" -o jsonpath={}", quote(&s.jsonpath)));
    cmd
}

/// Evaluates a `state` check on kubectl's output.
pub fn eval_state(s: &StateCheck, out: &str) -> (bool, String) {
    let got = out.trim();
    if let Some(want) = &s.equals {
        return if got == want.trim() {
            (true, format!("{} = {got}", s.jsonpath))
        } else {
            (
                false,
                format!("{} is {:?}, expected {:?}", s.jsonpath, got, want),
            )
        };
    }
    if let Some(want) = &s.contains {
        return if got.contains(want.as_str()) {
            (true, format!("{} contains {want:?}", s.jsonpath))
        } else {
            (
                false,
                format!(
                    "{} is {:?}, which does not contain {:?}",
                    s.jsonpath, got, want
                ),
            )
        };
    }
    if got.is_empty() {
        (false, format!("{} is empty", s.jsonpath))
    } else {
        (true, format!("{} = {got}", s.jsonpath))
    }
}

async fn json(rt: &dyn LabRuntime, sandbox: &str, cmd: &str) -> Result<serde_json::Value, String> {
    let out = sh(rt, sandbox, "node-1", cmd).await?;
    serde_json::from_str(&out).map_err(|e| format!("bad JSON from `{cmd}`: {e}"))
}

/// The service `ns/name` as JSON.
async fn service(
    rt: &dyn LabRuntime,
    sandbox: &str,
    ns: &str,
    name: &str,
) -> Result<serde_json::Value, String> {
    let cmd = format!(
        "kubectl get service {} -n {} -o json",
        quote(name),
        quote(ns)
    );
    json(rt, sandbox, &cmd).await
}

/// The host to run the probe on, and the `--pod NS/NAME` argument.
async fn resolve_from(
    rt: &dyn LabRuntime,
    sandbox: &str,
    from: &str,
) -> Result<(String, Option<String>), String> {
    let Some(rest) = from.strip_prefix("pod:") else {
        return Ok((from.to_string(), None));
    };
    let (ns, sel) = rest
        .split_once('/')
        .ok_or_else(|| format!("bad pod reference {from:?}"))?;
    let pod = if sel.contains('=') {
        let list = json(
            rt,
            sandbox,
            &format!(
                "kubectl get pods -n {} -l {} -o json",
                quote(ns),
                quote(sel)
            ),
        )
        .await?;
        list["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|p| p["status"]["phase"] == "Running")
                    .cloned()
            })
            .ok_or_else(|| format!("no running pod matches {sel} in {ns}"))?
    } else {
        json(
            rt,
            sandbox,
            &format!("kubectl get pod {} -n {} -o json", quote(sel), quote(ns)),
        )
        .await?
    };
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let node = pod["spec"]["nodeName"]
        .as_str()
        .ok_or_else(|| format!("pod {ns}/{name} is not scheduled"))?
        .to_string();
    Ok((node, Some(format!("{ns}/{name}"))))
}

/// `svc:NS/NAME[:PORT]` and `nodeport:NODE/NS/NAME` to `IP:PORT`; other targets unchanged.
async fn resolve_target(
    rt: &dyn LabRuntime,
    sandbox: &str,
    target: &str,
) -> Result<String, String> {
    if let Some(rest) = target.strip_prefix("svc:") {
        let (path, port) = match rest.rsplit_once(':') {
            Some((p, port)) if port.parse::<u16>().is_ok() => (p, Some(port.to_string())),
            _ => (rest, None),
        };
        let (ns, name) = path
            .split_once('/')
            .ok_or_else(|| format!("bad service {target:?}"))?;
        let svc = service(rt, sandbox, ns, name).await?;
        let ip = svc["spec"]["clusterIP"]
            .as_str()
            .ok_or_else(|| format!("service {ns}/{name} has no clusterIP"))?;
        let port = port
            .or_else(|| {
                svc["spec"]["ports"][0]["port"]
                    .as_u64()
                    .map(|p| p.to_string())
            })
            .ok_or_else(|| format!("service {ns}/{name} has no port"))?;
        return Ok(format!("{ip}:{port}"));
    }
    if let Some(rest) = target.strip_prefix("nodeport:") {
        let parts: Vec<&str> = rest.split('/').collect();
        let [node, ns, name] = parts[..] else {
            return Err(format!("bad nodeport target {target:?}"));
        };
        let svc = service(rt, sandbox, ns, name).await?;
        let port = svc["spec"]["ports"][0]["nodePort"]
            .as_u64()
            .ok_or_else(|| format!("service {ns}/{name} has no nodePort"))?;
        let n = json(
            rt,
            sandbox,
            &format!("kubectl get node {} -o json", quote(node)),
        )
        .await?;
        let ip = n["status"]["addresses"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
            .and_then(|a| a["address"].as_str())
            .ok_or_else(|| format!("node {node} has no InternalIP"))?;
        return Ok(format!("{ip}:{port}"));
    }
    Ok(target.to_string())
}

/// Evaluates a probe report against a probe check.
pub fn eval_probe(p: &ProbeCheck, r: &ProbeReport) -> (bool, String) {
    use labkit::check::ProbeExpect;
    let n = r.attempts.len();
    let answered = r.attempts.iter().filter(|a| a.answer.is_some()).count();
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &r.attempts {
        if let Some(f) = a.failure {
            *failures.entry(f.as_str()).or_default() += 1;
        }
    }
    let fail_text = failures
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let summary = if fail_text.is_empty() {
        format!("{answered}/{n} answered")
    } else {
        format!("{answered}/{n} answered; {fail_text}")
    };
    if n == 0 {
        return (false, "the probe made no connections".into());
    }
    match p.expect {
        ProbeExpect::Dropped | ProbeExpect::Rejected => {
            let want = if p.expect == ProbeExpect::Dropped {
                Failure::Timeout
            } else {
                Failure::Refused
            };
            let ok = r.attempts.iter().all(|a| a.failure == Some(want));
            return (
                ok,
                format!(
                    "to {}: {summary} (expected every connection {})",
                    r.target,
                    p.expect.as_str()
                ),
            );
        }
        ProbeExpect::Reachable => {}
    }
    if answered != n {
        return (
            false,
            format!("to {}: {summary} (expected all answered)", r.target),
        );
    }
    let mut per_pod: BTreeMap<&str, usize> = BTreeMap::new();
    for a in r.attempts.iter().filter_map(|a| a.answer.as_ref()) {
        *per_pod.entry(a.pod.as_str()).or_default() += 1;
    }
    let spread_text = per_pod
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(s) = &p.spread {
        if per_pod.len() < s.min_endpoints {
            return (
                false,
                format!(
                    "{summary}, by {} pod(s) ({spread_text}); expected at least {}",
                    per_pod.len(),
                    s.min_endpoints
                ),
            );
        }
        if let Some(tol) = s.tolerance {
            let even = n as f64 / per_pod.len() as f64;
            if let Some((pod, c)) = per_pod
                .iter()
                .find(|(_, c)| ((**c as f64) - even).abs() > tol * even)
            {
                return (false, format!("{summary}; uneven spread ({spread_text}): {pod} got {c}, an even share is {even:.1} ± {:.0}%", tol * 100.0));
            }
        }
    }
    if let Some(want) = p.source_ip {
        for a in &r.attempts {
            let (Some(ans), Some(local)) = (&a.answer, &a.local) else {
                continue;
            };
            let seen = host_of(&ans.client);
            let own = host_of(local);
            let preserved = seen == own;
            let ok = match want {
                SourceIp::Preserved => preserved,
                SourceIp::Masqueraded => !preserved,
            };
            if !ok {
                return (false, format!("{} saw the client as {seen}, the probe came from {own} (expected the source IP {})", ans.pod, if want == SourceIp::Preserved { "preserved" } else { "masqueraded" }));
            }
        }
    }
    (true, format!("to {}: {summary} ({spread_text})", r.target))
}

fn host_of(addr: &str) -> &str {
    match addr.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    }
}

fn chains<'a>(dump: &'a Dump, sel: &ChainSel) -> Vec<&'a SaveChain> {
    let Some(t) = dump.table(&sel.table) else {
        return Vec::new();
    };
    t.chains
        .iter()
        .filter(|c| glob(&sel.chain, &c.name))
        .filter(|c| match &sel.comment {
            Some(text) => c.rules.iter().any(|r| {
                r.matches
                    .comment()
                    .is_some_and(|k| k.contains(text.as_str()))
            }),
            None => true,
        })
        .collect()
}

fn rule_matches(r: &SaveRule, sel: &RuleSel) -> bool {
    sel.has.iter().all(|h| r.text.contains(h.as_str()))
        && match &sel.target {
            Some(t) => r.target.as_ref().is_some_and(|x| glob(t, &x.name)),
            None => true,
        }
}

fn sel_text(c: &ChainSel) -> String {
    match &c.comment {
        Some(k) => format!("{} chain {} (comment {k:?})", c.table, c.chain),
        None => format!("{} chain {}", c.table, c.chain),
    }
}

fn rule_text(r: &RuleSel) -> String {
    let mut parts: Vec<String> = r.has.iter().map(|h| format!("{h:?}")).collect();
    if let Some(t) = &r.target {
        parts.push(format!("-j {t}"));
    }
    if parts.is_empty() {
        "any rule".into()
    } else {
        format!("a rule with {}", parts.join(" "))
    }
}

/// Evaluates `rules` assertions; the detail names the first that failed.
pub fn eval_rules(dump: &Dump, asserts: &[RuleAssert]) -> (bool, String) {
    for a in asserts {
        let sel = a.chain();
        let cs = chains(dump, &sel);
        let fail = match a {
            RuleAssert::Chain(_) => cs.is_empty().then(|| format!("no {}", sel_text(&sel))),
            RuleAssert::NoChain(_) => {
                (!cs.is_empty()).then(|| format!("{} exists ({})", sel_text(&sel), cs[0].name))
            }
            RuleAssert::Rule(q) => {
                let rs = q.rule_sel();
                (!cs.iter()
                    .any(|c| c.rules.iter().any(|r| rule_matches(r, &rs))))
                .then(|| format!("no {} in {}", rule_text(&rs), sel_text(&sel)))
            }
            RuleAssert::NoRule(q) => {
                let rs = q.rule_sel();
                cs.iter()
                    .flat_map(|c| c.rules.iter())
                    .find(|r| rule_matches(r, &rs))
                    .map(|r| format!("unexpected rule: {}", r.text))
            }
            RuleAssert::Count(q) => {
                let rs = RuleSel {
                    has: q.has.clone(),
                    target: q.target.clone(),
                };
                match cs.first() {
                    None => Some(format!("no {}", sel_text(&sel))),
                    Some(c) => {
                        let n = c.rules.iter().filter(|r| rule_matches(r, &rs)).count();
                        (n != q.equals).then(|| {
                            format!(
                                "{} has {n} of {}, expected {}",
                                c.name,
                                rule_text(&rs),
                                q.equals
                            )
                        })
                    }
                }
            }
            RuleAssert::Probabilities(q) => match cs.first() {
                None => Some(format!("no {}", sel_text(&sel))),
                Some(c) => {
                    let got: Vec<f64> = c
                        .rules
                        .iter()
                        .filter_map(|r| r.matches.statistic.as_ref().and_then(|s| s.probability))
                        .collect();
                    let tol = q.tolerance.unwrap_or(0.001);
                    let ok = got.len() == q.values.len()
                        && got.iter().zip(&q.values).all(|(a, b)| (a - b).abs() <= tol);
                    (!ok).then(|| {
                        format!(
                            "{} has probabilities {got:?}, expected {:?}",
                            c.name, q.values
                        )
                    })
                }
            },
            RuleAssert::Order(q) => match cs.first() {
                None => Some(format!("no {}", sel_text(&sel))),
                Some(c) => {
                    let first = c.rules.iter().position(|r| rule_matches(r, &q.first));
                    let then = c.rules.iter().rposition(|r| rule_matches(r, &q.then));
                    match (first, then) {
                        (Some(a), Some(b)) if a < b => None,
                        (Some(_), Some(_)) => Some(format!(
                            "in {}, {} comes after {}",
                            c.name,
                            rule_text(&q.first),
                            rule_text(&q.then)
                        )),
                        (None, _) => Some(format!("no {} in {}", rule_text(&q.first), c.name)),
                        (_, None) => Some(format!("no {} in {}", rule_text(&q.then), c.name)),
                    }
                }
            },
        };
        if let Some(f) = fail {
            return (false, f);
        }
    }
    (true, format!("{} assertion(s) hold", asserts.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use labkit::check::{CountQuery, OrderQuery, ProbabilityQuery, ProbeExpect, RuleQuery, Spread};
    use labkit::wire::{PodAnswer, ProbeAttempt};

    const SAVE: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAAA - [0:0]\n:KUBE-SEP-ONE - [0:0]\n:KUBE-SEP-TWO - [0:0]\n\
-A KUBE-SERVICES -d 10.96.0.50/32 -p tcp -m comment --comment \"default/web cluster IP\" -m tcp --dport 80 -j KUBE-SVC-AAAA\n\
-A KUBE-SVC-AAAA ! -s 10.244.0.0/16 -d 10.96.0.50/32 -p tcp -m comment --comment \"default/web cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n\
-A KUBE-SVC-AAAA -m comment --comment \"default/web -> 10.244.1.2:80\" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-ONE\n\
-A KUBE-SVC-AAAA -m comment --comment \"default/web -> 10.244.2.2:80\" -j KUBE-SEP-TWO\nCOMMIT\n";

    fn q(chain: &str, comment: Option<&str>, has: &[&str], target: Option<&str>) -> RuleQuery {
        RuleQuery {
            table: "nat".into(),
            chain: chain.into(),
            comment: comment.map(Into::into),
            has: has.iter().map(|s| s.to_string()).collect(),
            target: target.map(Into::into),
        }
    }

    #[test]
    fn rules_assertions() {
        let dump = netrules::save::parse(SAVE).unwrap();
        let sel = ChainSel {
            table: "nat".into(),
            chain: "KUBE-SVC-*".into(),
            comment: Some("default/web".into()),
        };
        let ok = [
            RuleAssert::Chain(sel.clone()),
            RuleAssert::Rule(q(
                "KUBE-SERVICES",
                None,
                &["default/web", "--dport 80"],
                Some("KUBE-SVC-*"),
            )),
            RuleAssert::NoRule(q("KUBE-SERVICES", None, &["--dport 443"], None)),
            RuleAssert::Count(CountQuery {
                table: "nat".into(),
                chain: "KUBE-SVC-*".into(),
                comment: Some("default/web".into()),
                has: vec![],
                target: Some("KUBE-SEP-*".into()),
                equals: 2,
            }),
            RuleAssert::Probabilities(ProbabilityQuery {
                table: "nat".into(),
                chain: "KUBE-SVC-*".into(),
                comment: None,
                values: vec![0.5],
                tolerance: None,
            }),
            RuleAssert::Order(OrderQuery {
                table: "nat".into(),
                chain: "KUBE-SVC-AAAA".into(),
                comment: None,
                first: RuleSel {
                    has: vec![],
                    target: Some("KUBE-MARK-MASQ".into()),
                },
                then: RuleSel {
                    has: vec![],
                    target: Some("KUBE-SEP-*".into()),
                },
            }),
        ];
        assert_eq!(
            eval_rules(&dump, &ok),
            (true, "6 assertion(s) hold".to_string())
        );

        let (p, d) = eval_rules(
            &dump,
            &[RuleAssert::Chain(ChainSel {
                comment: Some("default/db".into()),
                ..sel.clone()
            })],
        );
        assert!(!p);
        assert_eq!(d, "no nat chain KUBE-SVC-* (comment \"default/db\")");
        let (p, d) = eval_rules(
            &dump,
            &[RuleAssert::Count(CountQuery {
                table: "nat".into(),
                chain: "KUBE-SVC-AAAA".into(),
                comment: None,
                has: vec![],
                target: Some("KUBE-SEP-*".into()),
                equals: 3,
            })],
        );
        assert!(!p);
        assert_eq!(
            d,
            "KUBE-SVC-AAAA has 2 of a rule with -j KUBE-SEP-*, expected 3"
        );
        let (p, d) = eval_rules(
            &dump,
            &[RuleAssert::Probabilities(ProbabilityQuery {
                table: "nat".into(),
                chain: "KUBE-SVC-AAAA".into(),
                comment: None,
                values: vec![0.33],
                tolerance: None,
            })],
        );
        assert!(!p);
        assert!(d.contains("[0.5]"), "{d}");
        let (p, _) = eval_rules(
            &dump,
            &[RuleAssert::Order(OrderQuery {
                table: "nat".into(),
                chain: "KUBE-SVC-AAAA".into(),
                comment: None,
                first: RuleSel {
                    has: vec![],
                    target: Some("KUBE-SEP-TWO".into()),
                },
                then: RuleSel {
                    has: vec![],
                    target: Some("KUBE-SEP-ONE".into()),
                },
            })],
        );
        assert!(!p);
        let (p, d) = eval_rules(
            &dump,
            &[RuleAssert::NoChain(ChainSel {
                table: "nat".into(),
                chain: "KUBE-SEP-*".into(),
                comment: None,
            })],
        );
        assert!(!p);
        assert!(d.contains("KUBE-SEP-ONE"), "{d}");
    }

    fn attempt(pod: Option<&str>, client: &str, failure: Option<Failure>) -> ProbeAttempt {
        ProbeAttempt {
            local: Some("10.0.0.5:40000".into()),
            answer: pod.map(|p| PodAnswer {
                pod: p.into(),
                namespace: "default".into(),
                node: "node-1".into(),
                pod_ip: "10.244.1.2".into(),
                client: client.into(),
            }),
            failure,
            error: None,
            ms: 1.0,
        }
    }

    fn probe(expect: ProbeExpect) -> ProbeCheck {
        ProbeCheck {
            title: None,
            from: "client".into(),
            target: "10.96.0.50:80".into(),
            protocol: None,
            source_port: None,
            count: 4,
            timeout_ms: None,
            expect,
            spread: None,
            source_ip: None,
            hint: None,
        }
    }

    fn report(attempts: Vec<ProbeAttempt>) -> ProbeReport {
        ProbeReport {
            from: "client".into(),
            target: "10.96.0.50:80".into(),
            protocol: "tcp".into(),
            attempts,
        }
    }

    #[test]
    fn probe_reachability_spread_and_source() {
        let r = report(vec![
            attempt(Some("a"), "10.0.0.5:1", None),
            attempt(Some("b"), "10.0.0.5:2", None),
            attempt(Some("a"), "10.0.0.5:3", None),
            attempt(Some("b"), "10.0.0.5:4", None),
        ]);
        let mut p = probe(ProbeExpect::Reachable);
        p.spread = Some(Spread {
            min_endpoints: 2,
            tolerance: Some(0.2),
        });
        p.source_ip = Some(SourceIp::Preserved);
        let (ok, d) = eval_probe(&p, &r);
        assert!(ok, "{d}");
        assert_eq!(d, "to 10.96.0.50:80: 4/4 answered (a: 2, b: 2)");
        p.source_ip = Some(SourceIp::Masqueraded);
        let (ok, d) = eval_probe(&p, &r);
        assert!(!ok);
        assert!(d.contains("saw the client as 10.0.0.5"), "{d}");
        p.source_ip = None;
        p.spread = Some(Spread {
            min_endpoints: 3,
            tolerance: None,
        });
        assert!(!eval_probe(&p, &r).0);
        let uneven = report(vec![
            attempt(Some("a"), "x:1", None),
            attempt(Some("a"), "x:1", None),
            attempt(Some("a"), "x:1", None),
            attempt(Some("b"), "x:1", None),
        ]);
        p.spread = Some(Spread {
            min_endpoints: 2,
            tolerance: Some(0.2),
        });
        let (ok, d) = eval_probe(&p, &uneven);
        assert!(!ok);
        assert!(d.contains("uneven spread"), "{d}");
    }

    #[test]
    fn probe_failures_are_classified() {
        let dropped = report(vec![
            attempt(None, "", Some(Failure::Timeout)),
            attempt(None, "", Some(Failure::Timeout)),
        ]);
        assert!(eval_probe(&probe(ProbeExpect::Dropped), &dropped).0);
        let (ok, d) = eval_probe(&probe(ProbeExpect::Rejected), &dropped);
        assert!(!ok);
        assert_eq!(
            d,
            "to 10.96.0.50:80: 0/2 answered; 2 timeout (expected every connection rejected)"
        );
        let (ok, d) = eval_probe(&probe(ProbeExpect::Reachable), &dropped);
        assert!(!ok);
        assert!(d.contains("expected all answered"));
    }

    #[test]
    fn state_checks() {
        let s = StateCheck {
            title: None,
            resource: "services".into(),
            namespace: None,
            name: Some("web".into()),
            selector: None,
            jsonpath: "{.spec.type}".into(),
            equals: Some("ClusterIP".into()),
            contains: None,
            hint: None,
        };
        assert_eq!(
            state_command(&s),
            "kubectl get 'services' 'web' -n 'default' -o jsonpath='{.spec.type}'"
        );
        assert!(eval_state(&s, "ClusterIP\n").0);
        assert_eq!(
            eval_state(&s, "NodePort").1,
            "{.spec.type} is \"NodePort\", expected \"ClusterIP\""
        );
    }
}
