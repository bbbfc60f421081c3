//! `--timeout` values: Go durations with kubectl's error wording.

use super::args::Args;
use super::ctx::Fail;

/// Go's `time.ParseDuration` for a `--timeout` flag: `30s`, `1m30s`, `1.5h`, `300ms`, `0`.
/// What zero means is the command's business (delete and rollout: no limit; wait: look once).
pub(crate) fn parse_go_duration(t: &str) -> Result<std::time::Duration, Fail> {
    use crate::kube::time::DurationError;
    crate::kube::time::parse_go_duration(t).map_err(|e| {
        let why = match e {
            DurationError::MissingUnit => format!("missing unit in duration \"{t}\""),
            DurationError::UnknownUnit(u) => format!("unknown unit \"{u}\" in duration \"{t}\""),
            DurationError::Empty | DurationError::BadNumber(_) | DurationError::OutOfRange => {
                format!("invalid duration \"{t}\"")
            }
        };
        Fail::Msg(format!(
            "invalid argument \"{t}\" for \"--timeout\" flag: time: {why}"
        ))
    })
}

/// A `--timeout` where zero means no limit (a day is as good as none in a lab).
pub(crate) fn timeout_or_none(
    a: &Args,
    default: std::time::Duration,
) -> Result<std::time::Duration, Fail> {
    Ok(match a.get("timeout") {
        Some(t) => Some(parse_go_duration(t)?)
            .filter(|d| !d.is_zero())
            .unwrap_or(std::time::Duration::from_secs(86400)),
        None => default,
    })
}

/// Property tests: `--timeout` is typed by the learner. Any value gives a duration
/// or Go's error, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{config, duration_text, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/kubectl_commands.txt";

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_timeout_parses_or_is_refused(t in duration_text()) {
            match parse_go_duration(&t) {
                Ok(_) => {}
                Err(Fail::Msg(m)) => {
                    prop_assert!(m.starts_with(&format!("invalid argument \"{t}\" for \"--timeout\" flag: time: ")), "{}", m);
                }
                Err(_) => prop_assert!(false, "not a message"),
            }
        }
    }

    // Regression tests: every value a property above ever failed on, by name.

    /// Found by `any_timeout_parses_or_is_refused`: `Duration::from_secs_f64` panicked on a
    /// number of seconds a Duration cannot hold.
    #[test]
    fn regression_timeout_too_big_is_refused() {
        for t in [
            "99999999999999999999s",
            "18446744073709551616s",
            "9999999999999999h",
        ] {
            match parse_go_duration(t) {
                Err(Fail::Msg(m)) => assert_eq!(
                    m,
                    format!("invalid argument \"{t}\" for \"--timeout\" flag: time: invalid duration \"{t}\"")
                ),
                Err(_) => panic!("not a message"),
                Ok(d) => panic!("{t} gave {d:?}"),
            }
        }
    }
}
