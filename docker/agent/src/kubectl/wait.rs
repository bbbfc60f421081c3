//! `kubectl wait`: blocks until every named object meets a condition, the way kubectl's
//! `pkg/cmd/wait` does it (CKA scripts lean on it: `kubectl wait --for=condition=Ready pod -l
//! app=web`).
//!
//! - `--for=condition=NAME[=VALUE]`: a `status.conditions` entry of that type with that status
//!   (default `True`), both compared ignoring case. A condition whose `observedGeneration` (or
//!   else `status.observedGeneration`) is older than `metadata.generation` does not count yet.
//! - `--for=jsonpath=EXPR[=VALUE]`: `EXPR` (relaxed: `{.a.b}`, `.a.b` or `a.b`) must find exactly
//!   one value, equal to `VALUE` after trimming, or any value when `VALUE` is left out.
//! - `--for=delete`: the object is gone; objects already gone are skipped silently.
//!
//! `--timeout` (default 30s) applies to each object in turn; `0` looks once, a negative one
//! waits a week. Each object met prints `KIND/NAME condition met`. kubectl watches; this polls
//! the lab API every 200 ms, which is the same to the learner.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::args::Args;
use super::ctx::{Ctx, Fail};
use super::jsonpath::{self, Template};
use super::output::go_sprint;
use super::printers::kind_prefix;
use super::target::{load_docs, named_objects, targets, Named};
use super::timeout::parse_go_duration;
use crate::kube::client::{KubeObject, Resource};

type R = Result<(), Fail>;

/// How often the object is read again.
const POLL: Duration = Duration::from_millis(200);
/// kubectl's default `--timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// What a negative `--timeout` means.
const A_WEEK: Duration = Duration::from_secs(168 * 3600);

/// What `--for` asks for.
#[derive(Debug)]
pub enum WaitFor {
    Delete,
    Condition {
        name: String,
        status: String,
    },
    JsonPath {
        template: Template,
        value: Option<String>,
    },
}

impl WaitFor {
    /// Parses the value of `--for`, with kubectl's errors.
    pub fn parse(s: &str) -> Result<WaitFor, Fail> {
        if s.eq_ignore_ascii_case("delete") {
            return Ok(WaitFor::Delete);
        }
        if let Some(c) = s.strip_prefix("condition=") {
            let (name, status) = c.split_once('=').unwrap_or((c, "true"));
            return Ok(WaitFor::Condition {
                name: name.to_string(),
                status: status.to_string(),
            });
        }
        if let Some(j) = s.strip_prefix("jsonpath=") {
            let parts = split_jsonpath_input(j);
            if parts.len() > 2 {
                return Err(Fail::Msg("jsonpath wait format must be --for=jsonpath='{.status.readyReplicas}'=3 or --for=jsonpath='{.status.readyReplicas}'".into()));
            }
            if parts[0].is_empty() {
                return Err(Fail::Msg("jsonpath expression cannot be empty".into()));
            }
            let expr = jsonpath::relaxed(&parts[0]).map_err(|e| Fail::Msg(e.0))?;
            let value = match parts.get(1) {
                None => None,
                Some(v) => {
                    let v = v.trim_matches(|c| c == '\'' || c == '"');
                    if v.is_empty() {
                        return Err(Fail::Msg("jsonpath wait has to have a value after equal sign, like --for=jsonpath='{.status.readyReplicas}'=3".into()));
                    }
                    Some(v.to_string())
                }
            };
            let template = Template::parse(&expr).map_err(|e| Fail::Msg(e.0))?;
            return Ok(WaitFor::JsonPath { template, value });
        }
        Err(Fail::Msg(format!("unrecognized condition: \"{s}\"")))
    }

    /// Whether `obj` meets the condition (never called for `Delete`).
    pub fn met(&self, obj: &Value) -> Result<bool, Fail> {
        match self {
            WaitFor::Delete => Ok(false),
            WaitFor::Condition { name, status } => Ok(condition_met(obj, name, status)),
            WaitFor::JsonPath { template, value } => {
                let results = template.results(obj).map_err(|e| Fail::Msg(e.0))?;
                let Some(first) = results.first().filter(|r| !r.is_empty()) else {
                    return Ok(false);
                };
                if results.len() > 1 {
                    return Err(Fail::Msg(
                        "given jsonpath expression matches more than one list".into(),
                    ));
                }
                if first.len() > 1 {
                    return Err(Fail::Msg(
                        "given jsonpath expression matches more than one value".into(),
                    ));
                }
                let Some(want) = value else {
                    return Ok(true);
                };
                if first[0].is_object() || first[0].is_array() {
                    return Err(Fail::Msg(
                        "jsonpath leads to a nested object or list which is not supported".into(),
                    ));
                }
                Ok(go_sprint(&first[0]).trim() == want.trim())
            }
        }
    }
}

fn condition_met(obj: &Value, name: &str, status: &str) -> bool {
    let Some(conditions) = obj["status"]["conditions"].as_array() else {
        return false;
    };
    let Some(c) = conditions.iter().find(|c| {
        c["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case(name))
            && c["status"].is_string()
    }) else {
        return false;
    };
    if let Some(generation) = obj["metadata"]["generation"].as_i64() {
        let observed = c["observedGeneration"]
            .as_i64()
            .or_else(|| obj["status"]["observedGeneration"].as_i64());
        if observed.is_some_and(|o| o < generation) {
            return false;
        }
    }
    c["status"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case(status))
}

/// Splits on single `=`; `==` (a filter's comparison) stays in the part, as kubectl does.
fn split_jsonpath_input(input: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '=' {
            if chars.peek() == Some(&'=') {
                chars.next();
                parts.last_mut().unwrap().push_str("==");
            } else {
                parts.push(String::new());
            }
        } else {
            parts.last_mut().unwrap().push(c);
        }
    }
    parts
}

/// `--timeout`: Go's duration syntax; `0` is "look once", a negative duration "a week".
fn wait_timeout(a: &Args) -> Result<Duration, Fail> {
    let Some(t) = a.get("timeout") else {
        return Ok(DEFAULT_TIMEOUT);
    };
    Ok(match t.strip_prefix('-') {
        Some(m) if !parse_go_duration(m)?.is_zero() => A_WEEK,
        Some(_) => Duration::ZERO,
        None => parse_go_duration(t)?,
    })
}

/// `kubectl wait ([-f FILENAME] | TYPE/NAME | TYPE [NAME...|-l SELECTOR|--all]) --for=...`.
pub fn wait(ctx: &mut Ctx, a: &Args) -> R {
    let cond = WaitFor::parse(a.get("for").unwrap_or(""))?;
    let timeout = wait_timeout(a)?;
    let objects: Vec<Named> = if a.has("filename") {
        load_docs(ctx, a, "wait")?
            .into_iter()
            .map(|(doc, r, ns)| (r, ns, doc.object.name().to_string()))
            .collect()
    } else {
        let t = targets("wait", &a.pos[1..])?;
        named_objects(ctx, a, &t.groups)?
    };
    let deleting = matches!(cond, WaitFor::Delete);
    if objects.is_empty() && !deleting {
        return Err(Fail::Msg("no matching resources found".into()));
    }
    for (r, ns, name) in objects {
        if wait_one(ctx, &cond, r, ns.as_deref(), &name, timeout)? {
            let _ = writeln!(ctx.out, "{}/{name} condition met", kind_prefix(r));
            let _ = ctx.out.flush();
        }
    }
    Ok(())
}

/// Waits for one object. `Ok(false)`: `--for=delete` on an object that was never there.
pub(super) fn wait_one(
    ctx: &Ctx,
    cond: &WaitFor,
    r: &Resource,
    ns: Option<&str>,
    name: &str,
    timeout: Duration,
) -> Result<bool, Fail> {
    let start = Instant::now();
    let mut first = true;
    loop {
        let met = match ctx.client.get(r, ns, name) {
            Err(e) if e.is_not_found() && matches!(cond, WaitFor::Delete) => return Ok(!first),
            Err(e) => return Err(e.into()),
            Ok(obj) => cond.met(&obj)?,
        };
        if met {
            return Ok(true);
        }
        first = false;
        if timeout.is_zero() {
            return Err(Fail::Msg(format!(
                "condition not met for {}/{name}",
                r.plural
            )));
        }
        if start.elapsed() >= timeout {
            return Err(Fail::Msg(format!(
                "timed out waiting for the condition on {}/{name}",
                r.plural
            )));
        }
        std::thread::sleep(POLL.min(timeout.saturating_sub(start.elapsed())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn met(for_: &str, obj: &Value) -> bool {
        WaitFor::parse(for_).unwrap().met(obj).unwrap()
    }

    #[test]
    fn conditions_ignore_case_and_default_to_true() {
        let pod = json!({"status": {"conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "False"}]}});
        assert!(!met("condition=Ready", &pod));
        assert!(met("condition=ready=false", &pod));
        assert!(met("condition=PodScheduled", &pod));
        assert!(!met("condition=Available", &pod));
        assert!(!met("condition=Ready", &json!({"status": {}})));
    }

    #[test]
    fn a_condition_older_than_the_spec_does_not_count() {
        let mut d = json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 1,
            "conditions": [{"type": "Available", "status": "True"}]}});
        assert!(!met("condition=Available", &d));
        d["status"]["observedGeneration"] = json!(2);
        assert!(met("condition=Available", &d));
        d["status"]["conditions"][0]["observedGeneration"] = json!(1);
        assert!(!met("condition=Available", &d));
    }

    #[test]
    fn jsonpath_values() {
        let d = json!({"status": {"readyReplicas": 3, "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}], "lb": {"ingress": [{"ip": "1.2.3.4"}]}}});
        assert!(met("jsonpath={.status.readyReplicas}=3", &d));
        assert!(!met("jsonpath={.status.readyReplicas}=2", &d));
        assert!(met("jsonpath=.status.phase=Running", &d));
        assert!(met("jsonpath=status.phase='Running'", &d));
        assert!(met(
            r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}=True"#,
            &d
        ));
        // No value: any value will do, a missing one will not.
        assert!(met("jsonpath={.status.lb.ingress}", &d));
        assert!(!met("jsonpath={.status.podIP}", &d));
        let e = WaitFor::parse("jsonpath={.status.lb}=x")
            .unwrap()
            .met(&d)
            .unwrap_err();
        assert!(format!("{e:?}").contains("nested object"), "{e:?}");
    }

    #[test]
    fn bad_for_values_are_named() {
        for (arg, want) in [
            ("", "unrecognized condition: \"\""),
            ("ready", "unrecognized condition: \"ready\""),
            ("jsonpath=", "jsonpath expression cannot be empty"),
            ("jsonpath={.a}=", "has to have a value after equal sign"),
            ("jsonpath={.a}=1=2", "jsonpath wait format must be"),
        ] {
            let Err(Fail::Msg(m)) = WaitFor::parse(arg) else {
                panic!("{arg}: not an error message");
            };
            assert!(m.contains(want), "{arg}: {m}");
        }
        assert!(matches!(WaitFor::parse("Delete"), Ok(WaitFor::Delete)));
    }

    #[test]
    fn timeouts() {
        let t = |v: &str| {
            let argv = ["wait".to_string(), format!("--timeout={v}")];
            wait_timeout(&Args::parse(&argv).unwrap())
        };
        assert_eq!(t("0").unwrap(), Duration::ZERO);
        assert_eq!(t("0s").unwrap(), Duration::ZERO);
        assert_eq!(t("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(t("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(t("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(t("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(t("-1s").unwrap(), A_WEEK);
        for bad in ["-1", "soon", "1x", "", "s"] {
            assert!(t(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn split_keeps_double_equals() {
        assert_eq!(
            split_jsonpath_input("a.b====d.e.f===g.h.i==="),
            ["a.b====d.e.f==", "g.h.i==", ""]
        );
    }
}

/// Property tests: `--for` is typed by the learner. Any value parses or is refused
/// with kubectl's message, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{any_text, config, nasty, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/kubectl_wait.txt";

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_wait_condition_parses_or_is_refused(s in prop_oneof![
            any_text(),
            (prop::sample::select(vec!["delete", "condition=", "jsonpath=", "jsonpath='", "create", "x="]), nasty(), prop::option::of(nasty()))
                .prop_map(|(p, a, b)| format!("{p}{a}{}", b.map(|b| format!("={b}")).unwrap_or_default())),
        ]) {
            match WaitFor::parse(&s) {
                Ok(_) => {}
                Err(Fail::Msg(m)) | Err(Fail::Raw(m)) | Err(Fail::Usage(m, _)) => prop_assert!(!m.is_empty()),
                Err(_) => {}
            }
        }
    }

    // Regression tests: every value a property above ever failed on, by name.
}
