//! Property tests of how an answer check compares what the learner typed with the expected
//! answer (`AnswerCheck::judge`): a normalised answer equals itself, whitespace never changes
//! the verdict, a wrong number never passes (in any of the forms a number may be written), and
//! the detail of a rejected answer never gives the expected answer away. Small fixed budgets,
//! as in `parsers_props.rs`; inputs that ever failed are replayed first.

use labkit::check::{parse_number, AnswerCheck};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    propgen::config(propgen::CASES, "proptest-regressions/answers_props.txt")
}

fn check(tolerance: Option<f64>, ignore_case: bool, exact: bool) -> AnswerCheck {
    AnswerCheck {
        title: None,
        expected: None,
        command: None,
        host: "node-1".into(),
        tolerance,
        ignore_case,
        exact,
        hint: None,
    }
}

/// Every way the options combine (exact with a tolerance is refused by validation).
fn any_check() -> impl Strategy<Value = AnswerCheck> {
    (
        prop::option::of(prop_oneof![Just(0.0), Just(0.001), Just(0.5), Just(5.0)]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(t, i, e)| check(if e { None } else { t }, i, e))
}

/// Answers as learners type them, and hostile text.
fn answer() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,4}(\\.[0-9]{0,6})?",
        "\\.[0-9]{1,5}",
        "[0-9]{1,3} ?/ ?[1-9][0-9]{0,2}",
        "[0-9]{1,3}(\\.[0-9]{1,3})? ?%",
        "(10|192)\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}( ?: ?0?[0-9]{1,5})?",
        "\\[(fd00|::1|fe80::[0-9a-f]{1,4})\\](:[0-9]{1,5})?",
        "KUBE-(SVC|SEP|EXT)-[A-Za-z0-9]{4,16}",
        "[A-Za-z]{1,8}( [A-Za-z]{1,8}){0,3}",
        propgen::any_text_sized(80, 40, 30, 2),
    ]
}

/// Whitespace a learner (or a copy from a terminal) may add: ASCII and Unicode.
fn space() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just(' '),
            Just('\t'),
            Just('\n'),
            Just('\r'),
            Just('\u{a0}'),
            Just('\u{2003}'),
            Just('\u{3000}'),
        ],
        1..4,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// `s` with other whitespace at both ends and every inner whitespace run replaced by another.
fn respace(s: &str, runs: &[String], lead: &str, trail: &str) -> String {
    let mut out = String::from(lead);
    let words: Vec<&str> = s.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push_str(&runs[i % runs.len()]);
        }
        out.push_str(w);
    }
    out.push_str(trail);
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_normalised_answer_equals_itself(c in any_check(), a in answer()) {
        let n = c.normalize(&a);
        prop_assert_eq!(c.normalize(&n), n.clone(), "normalising twice changes nothing");
        let v = c.judge(&a, &a);
        // An expected answer that is no number cannot accept anything under a tolerance; every
        // other answer is accepted as itself, as is its normalised form.
        if c.tolerance.is_none() || parse_number(&n).is_some() {
            prop_assert!(v.accepted, "{:?} against itself: {}", a, v.detail);
            prop_assert!(c.judge(&n, &a).accepted, "{:?}", n);
        }
    }

    #[test]
    fn whitespace_never_changes_the_verdict(
        c in any_check(),
        given in answer(),
        expected in answer(),
        runs in prop::collection::vec(space(), 1..4),
        lead in prop_oneof![Just(String::new()), space()],
        trail in prop_oneof![Just(String::new()), space()],
    ) {
        let before = c.judge(&given, &expected).accepted;
        let spaced = respace(&given, &runs, &lead, &trail);
        prop_assert_eq!(c.judge(&spaced, &expected).accepted, before, "given {:?} as {:?}", given, spaced);
        let spaced = respace(&expected, &runs, &trail, &lead);
        prop_assert_eq!(c.judge(&given, &spaced).accepted, before, "expected {:?} as {:?}", expected, spaced);
    }

    #[test]
    fn a_wrong_number_never_passes(
        want_units in -100_000i64..100_000,
        decimals in 0u32..5,
        tolerance in prop::option::of(prop_oneof![Just(0.0), Just(0.001), Just(0.5)]),
        num in -2_000i64..2_000,
        den in 1i64..400,
        form in 0usize..4,
    ) {
        let scale = 10f64.powi(decimals as i32);
        let want = want_units as f64 / scale;
        let expected = format!("{:.*}", decimals as usize, want);
        let c = check(tolerance, false, false);
        let tol = tolerance.unwrap_or(parse_number(&expected).unwrap().half_unit);
        let value = num as f64 / den as f64;
        // Clearly outside the tolerance (the boundary itself is rounding's to decide).
        prop_assume!((value - want).abs() > tol + 1e-6 * want.abs().max(1.0));
        let given = match form {
            0 => format!("{num}/{den}"),
            1 => format!("{value:.9}"),
            2 => format!("{:.7}%", value * 100.0),
            _ => format!("{num} / {den}"),
        };
        let v = c.judge(&given, &expected);
        prop_assert!(!v.accepted, "{} accepted for {} (tolerance {})", given, expected, tol);
    }

    #[test]
    fn a_right_number_passes_in_every_form(num in 0i64..50, den in 1i64..50) {
        let value = num as f64 / den as f64;
        let c = check(Some(0.001), false, false);
        let expected = format!("{value:.10}");
        for given in [
            format!("{num}/{den}"),
            format!(" {num} / {den} "),
            format!("{value:.4}"),
            format!("{:.3}%", value * 100.0),
        ] {
            let v = c.judge(&given, &expected);
            prop_assert!(v.accepted, "{} for {}: {}", given, expected, v.detail);
        }
    }

    #[test]
    fn a_rejection_never_gives_the_answer_away(
        c in any_check(),
        given in answer(),
        expected in prop_oneof![
            "-?[0-9]{1,3}\\.[0-9]{1,4}",
            "[0-9]{3,5}",
            "[0-9]{1,2}(\\.[0-9])?%",
            "[1-9]/[1-9]",
            "(10|192|198)\\.(0|51|96|244)\\.(0|1|2|100)\\.(0|1|7|10)(:(80|8080))?",
            "KUBE-(SVC|SEP)-[A-Z0-9]{4,16}",
        ],
    ) {
        let v = c.judge(&given, &expected);
        let e = c.normalize(&expected);
        // Only when the learner's own text contains it (then they typed it) may it show; the
        // tolerance a rejection names is the check's, not the answer.
        let told = v.detail.split(" (answers within").next().unwrap_or_default();
        if !v.accepted && e.chars().count() >= 3 && !c.normalize(&given).contains(&e) {
            prop_assert!(!c.normalize(told).contains(&e), "{:?} in {:?}", e, v.detail);
        }
    }
}
