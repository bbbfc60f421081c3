//! The grading engine: runs a task's checks in the lab (through the runtime's exec of the
//! agent and node tools) and evaluates them. Evaluation is pure and unit-tested:
//! [`eval_rules`] over a parsed `iptables-save`, [`eval_probe`] over a probe report,
//! [`eval_state`] over kubectl jsonpath output.
//!
//! Every detail is a sentence for the learner, written from what was seen and what the task
//! wants ("readyReplicas is 2; the task wants 3", "KUBE-SVC-AAAA jumps to 2 endpoint chains
//! (KUBE-SEP-*); the task wants 3"), and keeps the facts: numbers, names, addresses, which
//! instructors and tests read.

use std::collections::BTreeMap;
use std::time::Instant;

use labkit::check::{glob, ChainSel, ProbeCheck, RuleAssert, RuleSel, SourceIp, StateCheck};
use labkit::wire::{CheckOutcome, Failure, Flow, Forgotten, ProbeReport, TaskOutcome};
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
                    match &s.name {
                        Some(_) => format!(
                            "{} was not found in namespace {}; the task wants it to exist",
                            object_text(s),
                            s.namespace.as_deref().unwrap_or("default")
                        ),
                        None => format!("{} were not found", object_text(s)),
                    },
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
            // A fixed source port is a flow the lab's own client may share: leave it be.
            if p.source_port.is_none() {
                let target_node = p
                    .target
                    .strip_prefix("nodeport:")
                    .and_then(|r| r.split('/').next());
                forget_probe_traffic(rt, sandbox, &host, target_node, &report).await;
            }
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

/// The connections a probe made, as the original direction of their conntrack entries on the
/// host it ran on (and, for a pod, on that pod's node, which routes its packets unchanged).
pub fn probe_flows(r: &ProbeReport) -> Vec<Flow> {
    let mut flows: Vec<Flow> = r
        .attempts
        .iter()
        .filter_map(|a| a.local.as_deref())
        .filter_map(|local| Flow::parse(&format!("{},{local},{}", r.protocol, r.target)))
        .collect();
    flows.sort();
    flows.dedup();
    flows
}

/// The node a pod address belongs to: the contract gives node-N the pod CIDR 10.244.N.0/24
/// (docker/agent CONTRACTS.md).
pub fn pod_node(addr: &str) -> Option<String> {
    let ip: std::net::Ipv4Addr = addr
        .rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .parse()
        .ok()?;
    let [a, b, n, _] = ip.octets();
    (a == 10 && b == 244 && n > 0).then(|| format!("node-{n}"))
}

/// Deletes the probe's own connections from conntrack on every host they crossed, so that a
/// learner's `conntrack -L` shows their traffic and not the grader's: on the host the probe
/// ran on (a node, the client, or a pod's node), on the node a NodePort target names, and on
/// each node the connections went on to after DNAT (found from the reply direction of the
/// entries deleted first: its pod address names the node, and the reversed reply is the
/// entry's original direction there, masquerade and all). Only entries with exactly these
/// tuples go. Left behind: the VXLAN overlay's own UDP entries between nodes (one per flow
/// hash, shared with the learner's traffic) and, if conntrack runs in a pod's own network
/// namespace, the entries there. A failure is logged, never a failed check.
async fn forget_probe_traffic(
    rt: &dyn LabRuntime,
    sandbox: &str,
    host: &str,
    target_node: Option<&str>,
    r: &ProbeReport,
) {
    let flows = probe_flows(r);
    if flows.is_empty() {
        return;
    }
    let mut first = vec![(host.to_string(), flows.clone())];
    if let Some(n) = target_node.filter(|n| *n != host) {
        first.push((n.to_string(), flows));
    }
    let mut next: BTreeMap<String, Vec<Flow>> = BTreeMap::new();
    for (h, fl) in first {
        for reply in forget_on(rt, sandbox, &h, &fl).await.replies {
            if let Some(n) = pod_node(&reply.src).filter(|n| *n != h) {
                next.entry(n).or_default().push(reply.reversed());
            }
        }
    }
    for (h, fl) in next {
        forget_on(rt, sandbox, &h, &fl).await;
    }
}

/// `kplab-conntrack-forget` on `host`; what it deleted (nothing when it failed, logged).
async fn forget_on(rt: &dyn LabRuntime, sandbox: &str, host: &str, flows: &[Flow]) -> Forgotten {
    let mut argv = vec![
        "kplab-agent".to_string(),
        "kplab-conntrack-forget".to_string(),
    ];
    argv.extend(flows.iter().map(Flow::arg));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = match rt.exec(sandbox, host, &argv).await {
        Ok(o) if o.code == 0 => o,
        Ok(o) => {
            tracing::warn!(lab.sandbox = %sandbox, host, code = o.code, stderr = %o.stderr.trim(), "forgetting the probe's conntrack entries failed");
            return Forgotten::default();
        }
        Err(e) => {
            tracing::warn!(lab.sandbox = %sandbox, host, error = %e, "forgetting the probe's conntrack entries failed");
            return Forgotten::default();
        }
    };
    serde_json::from_str(out.stdout.trim()).unwrap_or_default()
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

/// The object a `state` check reads, as a learner names it: `deployment web`, `the pods
/// labelled app=web`, `the services in kube-system`.
fn object_text(s: &StateCheck) -> String {
    let r = s.resource.as_str();
    match &s.name {
        Some(name) => {
            let one = match r.strip_suffix("ies") {
                Some(stem) => format!("{stem}y"),
                None => r.strip_suffix('s').unwrap_or(r).to_string(),
            };
            format!("{one} {name}")
        }
        None => {
            let mut t = format!("the {r}");
            if let Some(sel) = &s.selector {
                t.push_str(&format!(" labelled {sel}"));
            }
            if let Some(ns) = s.namespace.as_deref().filter(|ns| *ns != "default") {
                t.push_str(&format!(" in {ns}"));
            }
            t
        }
    }
}

/// The field a jsonpath reads, as a learner names it: `{.status.readyReplicas}` is
/// `readyReplicas`, `{.spec.ports[0].nodePort}` is `nodePort`; a jsonpath with ranges or
/// filters is shown as written.
fn field_text(jsonpath: &str) -> String {
    let inner = jsonpath
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}');
    let simple = !inner.contains(['{', '}', '?', ' ', '@', '\'', '"']) && inner.starts_with('.');
    match inner.rsplit('.').next() {
        Some(last) if simple && !last.is_empty() => {
            let last = last.split('[').next().unwrap_or(last);
            if last.is_empty() {
                jsonpath.to_string()
            } else {
                last.to_string()
            }
        }
        _ => jsonpath.to_string(),
    }
}

/// A value as the learner reads it: bare when it is one word, quoted otherwise.
fn value_text(v: &str) -> String {
    if v.is_empty()
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        format!("{v:?}")
    } else {
        v.to_string()
    }
}

/// Evaluates a `state` check on kubectl's output.
pub fn eval_state(s: &StateCheck, out: &str) -> (bool, String) {
    let got = out.trim();
    let subject = format!("{}: {}", object_text(s), field_text(&s.jsonpath));
    let seen = if got.is_empty() {
        format!("{subject} is not set")
    } else {
        format!("{subject} is {}", value_text(got))
    };
    if let Some(want) = &s.equals {
        let want = want.trim();
        return if got == want {
            (true, seen)
        } else {
            (
                false,
                format!("{seen}; the task wants {}", value_text(want)),
            )
        };
    }
    if let Some(want) = &s.contains {
        return if got.contains(want.as_str()) {
            (true, format!("{seen}, which includes {}", value_text(want)))
        } else {
            (
                false,
                format!("{seen}; the task wants it to include {}", value_text(want)),
            )
        };
    }
    if got.is_empty() {
        (false, format!("{seen}; the task wants a value"))
    } else {
        (true, seen)
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

/// `svc:`, `lb:` and `externalip:NS/NAME[:PORT]`, and `nodeport:NODE/NS/NAME`, to `IP:PORT`;
/// other targets unchanged.
async fn resolve_target(
    rt: &dyn LabRuntime,
    sandbox: &str,
    target: &str,
) -> Result<String, String> {
    type Address = fn(&serde_json::Value) -> Option<&str>;
    let kinds: [(&str, &str, Address); 3] = [
        ("svc:", "clusterIP", |s| s["spec"]["clusterIP"].as_str()),
        ("lb:", "load balancer ingress IP in its status", |s| {
            s["status"]["loadBalancer"]["ingress"]
                .as_array()?
                .iter()
                .find_map(|i| i["ip"].as_str())
        }),
        ("externalip:", "externalIP", |s| {
            s["spec"]["externalIPs"][0].as_str()
        }),
    ];
    for (prefix, what, address) in kinds {
        let Some(rest) = target.strip_prefix(prefix) else {
            continue;
        };
        let (path, port) = match rest.rsplit_once(':') {
            Some((p, port)) if port.parse::<u16>().is_ok() => (p, Some(port.to_string())),
            _ => (rest, None),
        };
        let (ns, name) = path
            .split_once('/')
            .ok_or_else(|| format!("bad service {target:?}"))?;
        let svc = service(rt, sandbox, ns, name).await?;
        let ip = address(&svc).ok_or_else(|| format!("service {ns}/{name} has no {what}"))?;
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

/// `1 connection`, `4 connections`.
fn connections(n: usize) -> String {
    if n == 1 {
        "1 connection".into()
    } else {
        format!("{n} connections")
    }
}

/// Evaluates a probe report against a probe check.
pub fn eval_probe(p: &ProbeCheck, r: &ProbeReport) -> (bool, String) {
    use labkit::check::ProbeExpect;
    let n = r.attempts.len();
    if n == 0 {
        return (false, "the probe made no connections".into());
    }
    let answered = r.attempts.iter().filter(|a| a.answer.is_some()).count();
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &r.attempts {
        if let Some(f) = a.failure {
            let word = match f {
                Failure::Timeout => "timed out",
                Failure::Refused => "refused",
                Failure::Unreachable => "unreachable",
                Failure::Error => "failed otherwise",
            };
            *failures.entry(word).or_default() += 1;
        }
    }
    let how = failures
        .iter()
        .map(|(word, k)| format!("{k} {word}"))
        .collect::<Vec<_>>()
        .join(", ");
    let route = format!("from {} to {}", r.from, r.target);
    let summary = if answered == n {
        format!(
            "{} {route} {} answered",
            if n == 1 {
                "the 1 connection".to_string()
            } else {
                format!("all {n} connections")
            },
            if n == 1 { "was" } else { "were" }
        )
    } else {
        format!(
            "{answered} of {} {route} were answered ({how})",
            connections(n)
        )
    };
    match p.expect {
        ProbeExpect::Dropped | ProbeExpect::Rejected => {
            let (want, word) = if p.expect == ProbeExpect::Dropped {
                (Failure::Timeout, "dropped (timing out)")
            } else {
                (Failure::Refused, "refused")
            };
            let ok = r.attempts.iter().all(|a| a.failure == Some(want));
            return if ok {
                (
                    true,
                    format!("{summary}: every connection {word}, as the task wants"),
                )
            } else {
                (
                    false,
                    format!("{summary}; the task wants every connection {word}"),
                )
            };
        }
        ProbeExpect::Reachable => {}
    }
    if answered != n {
        return (
            false,
            format!("{summary}; the task wants every connection answered"),
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
    let pods = |k: usize| {
        if k == 1 {
            "1 pod".to_string()
        } else {
            format!("{k} pods")
        }
    };
    if let Some(s) = &p.spread {
        if per_pod.len() < s.min_endpoints {
            return (
                false,
                format!(
                    "{summary}, but by only {} ({spread_text}); the task wants at least {} to answer",
                    pods(per_pod.len()),
                    pods(s.min_endpoints)
                ),
            );
        }
        if let Some(tol) = s.tolerance {
            let even = n as f64 / per_pod.len() as f64;
            if let Some((pod, c)) = per_pod
                .iter()
                .find(|(_, c)| ((**c as f64) - even).abs() > tol * even)
            {
                return (
                    false,
                    format!(
                        "{summary}, but unevenly ({spread_text}): {pod} answered {c}; the task wants each pod near an even share of {even:.1} (±{:.0}%)",
                        tol * 100.0
                    ),
                );
            }
        }
    }
    let mut source = String::new();
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
                let (was, wants) = if preserved {
                    ("kept (preserved)", "rewritten (masqueraded)")
                } else {
                    ("rewritten (masqueraded)", "kept (preserved)")
                };
                return (
                    false,
                    format!(
                        "{} saw the connection come from {seen}, and the probe sent it from {own}: the source IP was {was}; the task wants it {wants}",
                        ans.pod
                    ),
                );
            }
        }
        source = match want {
            SourceIp::Preserved => "; the pods saw the probe's own address (source IP preserved)",
            SourceIp::Masqueraded => {
                "; the pods saw another address than the probe's (source IP masqueraded)"
            }
        }
        .to_string();
    }
    (true, format!("{summary} ({spread_text}){source}"))
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

/// A chain selector as a learner reads it: `chain KUBE-SERVICES (nat table)`, `a KUBE-SVC-*
/// chain (nat table) with a rule commented "default/web"`.
fn sel_text(c: &ChainSel) -> String {
    let mut t = if c.chain.ends_with('*') {
        format!("a {} chain ({} table)", c.chain, c.table)
    } else {
        format!("chain {} ({} table)", c.chain, c.table)
    };
    if let Some(k) = &c.comment {
        t.push_str(&format!(" with a rule commented {k:?}"));
    }
    t
}

/// What a target selector names, `n` of them: `endpoint chains (KUBE-SEP-*)`, `KUBE-MARK-MASQ`.
fn target_noun(t: &str, n: usize) -> String {
    let plural = if n == 1 { "" } else { "s" };
    match t {
        "KUBE-SEP-*" => format!("endpoint chain{plural} (KUBE-SEP-*)"),
        "KUBE-SVC-*" => format!("service chain{plural} (KUBE-SVC-*)"),
        "KUBE-SVL-*" => format!("local service chain{plural} (KUBE-SVL-*)"),
        "KUBE-EXT-*" => format!("external chain{plural} (KUBE-EXT-*)"),
        _ if t.ends_with('*') => format!("{t} chain{plural}"),
        _ => t.to_string(),
    }
}

/// `1 rule`, `3 rules`.
fn rules_n(n: usize) -> String {
    if n == 1 {
        "1 rule".into()
    } else {
        format!("{n} rules")
    }
}

/// A rule selector's conditions: ` containing "--dport 80" and jumping to KUBE-SVC-*`.
fn rule_conditions(r: &RuleSel) -> String {
    let mut parts = Vec::new();
    if !r.has.is_empty() {
        let has: Vec<String> = r.has.iter().map(|h| format!("{h:?}")).collect();
        parts.push(format!("containing {}", has.join(" and ")));
    }
    if let Some(t) = &r.target {
        parts.push(format!("jumping to {t}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" {}", parts.join(" and "))
    }
}

/// `the rule jumping to KUBE-MARK-MASQ`, `any rule`.
fn rule_text(r: &RuleSel) -> String {
    let c = rule_conditions(r);
    if c.is_empty() {
        "any rule".into()
    } else {
        format!("the rule{c}")
    }
}

/// Probabilities as iptables prints them, shortened: `0.3333333333, 0.5`.
fn probabilities_text(ps: &[f64]) -> String {
    ps.iter()
        .map(|p| {
            let s = format!("{p:.10}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Evaluates `rules` assertions; the detail names the first that failed, as what was seen and
/// what the task wants.
pub fn eval_rules(dump: &Dump, asserts: &[RuleAssert]) -> (bool, String) {
    for a in asserts {
        let sel = a.chain();
        let cs = chains(dump, &sel);
        let missing = || format!("there is no {}", sel_text(&sel).trim_start_matches("a "));
        let fail = match a {
            RuleAssert::Chain(_) => cs
                .is_empty()
                .then(|| format!("{}; the task wants one", missing())),
            RuleAssert::NoChain(_) => (!cs.is_empty()).then(|| {
                format!(
                    "chain {} ({} table) exists; the task wants no {}",
                    cs[0].name,
                    sel.table,
                    sel_text(&sel).trim_start_matches("a ")
                )
            }),
            RuleAssert::Rule(q) => {
                let rs = q.rule_sel();
                if cs.is_empty() {
                    Some(format!(
                        "{}, so no rule{} either; the task wants one",
                        missing(),
                        rule_conditions(&rs)
                    ))
                } else {
                    (!cs.iter()
                        .any(|c| c.rules.iter().any(|r| rule_matches(r, &rs))))
                    .then(|| {
                        let names: Vec<&str> = cs.iter().map(|c| c.name.as_str()).collect();
                        format!(
                            "{} has no rule{}; the task wants one",
                            names.join(", "),
                            rule_conditions(&rs)
                        )
                    })
                }
            }
            RuleAssert::NoRule(q) => {
                let rs = q.rule_sel();
                cs.iter()
                    .flat_map(|c| c.rules.iter())
                    .find(|r| rule_matches(r, &rs))
                    .map(|r| {
                        format!(
                            "this rule is there: {}; the task wants no rule{}",
                            r.text,
                            rule_conditions(&rs)
                        )
                    })
            }
            RuleAssert::Count(q) => {
                let rs = RuleSel {
                    has: q.has.clone(),
                    target: q.target.clone(),
                };
                match cs.first() {
                    None => Some(format!(
                        "{}, so no rules to count; the task wants {}",
                        missing(),
                        q.equals
                    )),
                    Some(c) => {
                        let n = c.rules.iter().filter(|r| rule_matches(r, &rs)).count();
                        (n != q.equals).then(|| match (&rs.target, rs.has.is_empty()) {
                            (Some(t), true) if t.ends_with('*') => format!(
                                "{} jumps to {n} {}; the task wants {}",
                                c.name,
                                target_noun(t, n),
                                q.equals
                            ),
                            (Some(t), true) => format!(
                                "{} jumps to {t} in {}; the task wants {}",
                                c.name,
                                rules_n(n),
                                q.equals
                            ),
                            _ => format!(
                                "{} has {}{}; the task wants {}",
                                c.name,
                                rules_n(n),
                                rule_conditions(&rs),
                                q.equals
                            ),
                        })
                    }
                }
            }
            RuleAssert::Probabilities(q) => match cs.first() {
                None => Some(format!(
                    "{}; the task wants one whose rules carry the probabilities {}",
                    missing(),
                    probabilities_text(&q.values)
                )),
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
                        let seen = if got.is_empty() {
                            format!("{}'s rules carry no probability", c.name)
                        } else {
                            format!(
                                "{}'s rules carry the probabilities {}",
                                c.name,
                                probabilities_text(&got)
                            )
                        };
                        format!(
                            "{seen}; the task wants {} (±{})",
                            probabilities_text(&q.values),
                            probabilities_text(&[tol])
                        )
                    })
                }
            },
            RuleAssert::Order(q) => match cs.first() {
                None => Some(format!("{}; the task wants one", missing())),
                Some(c) => {
                    let first = c.rules.iter().position(|r| rule_matches(r, &q.first));
                    let then = c.rules.iter().rposition(|r| rule_matches(r, &q.then));
                    match (first, then) {
                        (Some(a), Some(b)) if a < b => None,
                        (Some(_), Some(_)) => Some(format!(
                            "in {}, {} comes after {}; the task wants it before",
                            c.name,
                            rule_text(&q.first),
                            rule_text(&q.then)
                        )),
                        (None, _) => Some(format!(
                            "{} has no rule{}; the task wants one before {}",
                            c.name,
                            rule_conditions(&q.first),
                            rule_text(&q.then)
                        )),
                        (_, None) => Some(format!(
                            "{} has no rule{}; the task wants one after {}",
                            c.name,
                            rule_conditions(&q.then),
                            rule_text(&q.first)
                        )),
                    }
                }
            },
        };
        if let Some(f) = fail {
            return (false, f);
        }
    }
    let negative = asserts
        .iter()
        .filter(|a| matches!(a, RuleAssert::NoChain(_) | RuleAssert::NoRule(_)))
        .count();
    let detail = match (asserts.len(), negative) {
        (1, 0) => "the rule is in place".to_string(),
        (1, _) => "the rule is absent, as the task wants".to_string(),
        (n, 0) => format!("all {n} rules are in place"),
        (n, k) if k == n => format!("all {n} rules are absent, as the task wants"),
        (n, k) => format!(
            "the rules are as the task wants: {} in place, {k} absent",
            n - k
        ),
    };
    (true, detail)
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
            (
                true,
                "the rules are as the task wants: 5 in place, 1 absent".to_string()
            )
        );

        let (p, d) = eval_rules(
            &dump,
            &[RuleAssert::Chain(ChainSel {
                comment: Some("default/db".into()),
                ..sel.clone()
            })],
        );
        assert!(!p);
        assert_eq!(
            d,
            "there is no KUBE-SVC-* chain (nat table) with a rule commented \"default/db\"; the task wants one"
        );
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
            "KUBE-SVC-AAAA jumps to 2 endpoint chains (KUBE-SEP-*); the task wants 3"
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
        assert_eq!(
            d,
            "KUBE-SVC-AAAA's rules carry the probabilities 0.5; the task wants 0.33 (±0.001)"
        );
        let (p, d) = eval_rules(
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
        assert_eq!(
            d,
            "in KUBE-SVC-AAAA, the rule jumping to KUBE-SEP-TWO comes after the rule jumping to KUBE-SEP-ONE; the task wants it before"
        );
        let (p, d) = eval_rules(
            &dump,
            &[RuleAssert::NoChain(ChainSel {
                table: "nat".into(),
                chain: "KUBE-SEP-*".into(),
                comment: None,
            })],
        );
        assert!(!p);
        assert_eq!(
            d,
            "chain KUBE-SEP-ONE (nat table) exists; the task wants no KUBE-SEP-* chain (nat table)"
        );
        let (p, d) = eval_rules(
            &dump,
            &[RuleAssert::Rule(q(
                "KUBE-SERVICES",
                None,
                &["--dport 443"],
                Some("KUBE-SVC-*"),
            ))],
        );
        assert!(!p);
        assert_eq!(
            d,
            "KUBE-SERVICES has no rule containing \"--dport 443\" and jumping to KUBE-SVC-*; the task wants one"
        );
        let (p, d) = eval_rules(
            &dump,
            &[RuleAssert::Rule(q(
                "KUBE-FOO",
                None,
                &[],
                Some("KUBE-SVC-*"),
            ))],
        );
        assert!(!p);
        assert_eq!(
            d,
            "there is no chain KUBE-FOO (nat table), so no rule jumping to KUBE-SVC-* either; the task wants one"
        );
        let (p, d) = eval_rules(
            &dump,
            &[RuleAssert::NoRule(q(
                "KUBE-SERVICES",
                None,
                &["--dport 80"],
                None,
            ))],
        );
        assert!(!p);
        assert!(
            d.starts_with("this rule is there: -A KUBE-SERVICES -d 10.96.0.50/32")
                && d.ends_with("; the task wants no rule containing \"--dport 80\""),
            "{d}"
        );
        assert_eq!(
            eval_rules(
                &dump,
                &[
                    RuleAssert::NoRule(q("KUBE-SERVICES", None, &["--dport 443"], None)),
                    RuleAssert::Chain(sel.clone()),
                ]
            ),
            (
                true,
                "the rules are as the task wants: 1 in place, 1 absent".to_string()
            )
        );
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
        assert_eq!(
            d,
            "all 4 connections from client to 10.96.0.50:80 were answered (a: 2, b: 2); the pods saw the probe's own address (source IP preserved)"
        );
        p.source_ip = Some(SourceIp::Masqueraded);
        let (ok, d) = eval_probe(&p, &r);
        assert!(!ok);
        assert_eq!(
            d,
            "a saw the connection come from 10.0.0.5, and the probe sent it from 10.0.0.5: the source IP was kept (preserved); the task wants it rewritten (masqueraded)"
        );
        p.source_ip = None;
        p.spread = Some(Spread {
            min_endpoints: 3,
            tolerance: None,
        });
        assert_eq!(
            eval_probe(&p, &r),
            (
                false,
                "all 4 connections from client to 10.96.0.50:80 were answered, but by only 2 pods (a: 2, b: 2); the task wants at least 3 pods to answer".to_string()
            )
        );
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
        assert_eq!(
            d,
            "all 4 connections from client to 10.96.0.50:80 were answered, but unevenly (a: 3, b: 1): a answered 3; the task wants each pod near an even share of 2.0 (±20%)"
        );
    }

    #[test]
    fn probe_failures_are_classified() {
        let dropped = report(vec![
            attempt(None, "", Some(Failure::Timeout)),
            attempt(None, "", Some(Failure::Timeout)),
        ]);
        assert_eq!(
            eval_probe(&probe(ProbeExpect::Dropped), &dropped),
            (
                true,
                "0 of 2 connections from client to 10.96.0.50:80 were answered (2 timed out): every connection dropped (timing out), as the task wants".to_string()
            )
        );
        let (ok, d) = eval_probe(&probe(ProbeExpect::Rejected), &dropped);
        assert!(!ok);
        assert_eq!(
            d,
            "0 of 2 connections from client to 10.96.0.50:80 were answered (2 timed out); the task wants every connection refused"
        );
        let mixed = report(vec![
            attempt(Some("a"), "10.0.0.5:1", None),
            attempt(None, "", Some(Failure::Refused)),
            attempt(None, "", Some(Failure::Timeout)),
        ]);
        let (ok, d) = eval_probe(&probe(ProbeExpect::Reachable), &mixed);
        assert!(!ok);
        assert_eq!(
            d,
            "1 of 3 connections from client to 10.96.0.50:80 were answered (1 refused, 1 timed out); the task wants every connection answered"
        );
    }

    #[test]
    fn probe_flows_and_the_nodes_they_go_on_to() {
        let mut r = report(vec![
            attempt(Some("a"), "10.0.0.5:1", None),
            attempt(None, "", Some(Failure::Timeout)),
        ]);
        r.attempts[1].local = Some("10.0.0.5:40001".into());
        let flows: Vec<String> = probe_flows(&r).iter().map(Flow::arg).collect();
        assert_eq!(
            flows,
            [
                "tcp,10.0.0.5:40000,10.96.0.50:80",
                "tcp,10.0.0.5:40001,10.96.0.50:80"
            ]
        );
        r.attempts[0].local = Some("10.0.0.5:40000; reboot".into());
        assert_eq!(probe_flows(&r).len(), 1, "only well-formed tuples");
        assert_eq!(pod_node("10.244.2.7:80").as_deref(), Some("node-2"));
        assert_eq!(pod_node("10.244.1.0:30179").as_deref(), Some("node-1"));
        assert_eq!(pod_node("172.30.30.10:30080"), None);
        assert_eq!(pod_node("10.96.0.50:80"), None);
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
        assert_eq!(
            eval_state(&s, "ClusterIP\n"),
            (true, "service web: type is ClusterIP".to_string())
        );
        assert_eq!(
            eval_state(&s, "NodePort").1,
            "service web: type is NodePort; the task wants ClusterIP"
        );
        assert_eq!(
            eval_state(&s, "").1,
            "service web: type is not set; the task wants ClusterIP"
        );
        let ready = StateCheck {
            resource: "deployments".into(),
            jsonpath: "{.status.readyReplicas}".into(),
            equals: Some("3".into()),
            ..s.clone()
        };
        assert_eq!(
            eval_state(&ready, "2").1,
            "deployment web: readyReplicas is 2; the task wants 3"
        );
        let names = StateCheck {
            resource: "pods".into(),
            name: None,
            selector: Some("app=web".into()),
            namespace: Some("shop".into()),
            jsonpath: "{.items[*].spec.nodeName}".into(),
            equals: None,
            contains: Some("node-2".into()),
            ..s.clone()
        };
        assert_eq!(
            eval_state(&names, "node-1 node-1").1,
            "the pods labelled app=web in shop: nodeName is \"node-1 node-1\"; the task wants it to include node-2"
        );
        let policies = StateCheck {
            resource: "networkpolicies".into(),
            name: Some("deny".into()),
            jsonpath: "{range .spec.ingress[*]}{.from}{end}".into(),
            equals: None,
            ..s.clone()
        };
        assert_eq!(
            eval_state(&policies, "").1,
            "networkpolicy deny: {range .spec.ingress[*]}{.from}{end} is not set; the task wants a value"
        );
    }
}
