//! Time helpers: kubectl's `HumanDuration` for AGE columns and the timestamp layouts of describe.

pub use crate::kube::time::{age, human_duration, parse_time};

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Go's `time.RFC1123Z` (`Mon, 02 Jan 2006 15:04:05 -0700`), used by describe, in UTC.
pub fn rfc1123z(s: &str) -> String {
    // In UTC a valid timestamp may fall outside the years `time` holds (9999-12-31T23:59:59-23:59
    // is in year 10000): `to_offset` would panic on it.
    let Some(t) = parse_time(s).and_then(|t| t.checked_to_offset(time::UtcOffset::UTC)) else {
        return "<unknown>".into();
    };
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[t.weekday().number_days_from_monday() as usize],
        t.day(),
        MONTHS[t.month() as usize - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Go's `time.Time.String()` in UTC without fractional seconds: `2006-01-02 15:04:05 +0000 UTC`.
pub fn go_time_string(s: &str) -> String {
    let Some(t) = parse_time(s).and_then(|t| t.checked_to_offset(time::UtcOffset::UTC)) else {
        return "0001-01-01 00:00:00 +0000 UTC".into();
    };
    format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn human_duration_matches_apimachinery() {
        let cases = [
            (0, "0s"),
            (-1, "0s"),
            (-2, "<invalid>"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (192, "3m12s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60 * 25, "3h25m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (51 * 3600, "2d3h"),
            (8 * 86400, "8d"),
            (730 * 86400, "2y"),
            (775 * 86400, "2y45d"),
            (8 * 365 * 86400, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::seconds(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn describe_timestamps() {
        assert_eq!(
            rfc1123z("2026-11-23T04:00:00Z"),
            "Mon, 23 Nov 2026 04:00:00 +0000"
        );
        assert_eq!(
            go_time_string("2026-11-23T04:00:00Z"),
            "2026-11-23 04:00:00 +0000 UTC"
        );
    }
}

/// Property tests: timestamps come from objects the learner may have written
/// (conditions, status). Any string prints as a time or `<unknown>`, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{any_text, config, CASES};
    use proptest::prelude::*;
    use time::{Duration, OffsetDateTime};

    const FILE: &str = "proptest-regressions/kubectl_duration.txt";

    fn timestamp() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => (
                prop_oneof![Just(0u32), Just(1), Just(9999), 0u32..10000],
                1u32..13, 1u32..32, 0u32..24, 0u32..60, 0u32..61,
                prop::sample::select(vec!["Z", "+23:59", "-23:59", "+00:00", "+24:00", ".999999999Z"]),
            )
                .prop_map(|(y, mo, d, h, mi, s, off)| format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{off}")),
            1 => any_text(),
        ]
    }

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_timestamp_prints(ts in timestamp()) {
            let now = OffsetDateTime::now_utc();
            let _ = age(Some(&ts), now);
            let _ = rfc1123z(&ts);
            let _ = go_time_string(&ts);
        }

        #[test]
        fn any_duration_prints(secs in any::<i64>(), nanos in any::<i32>()) {
            let d = Duration::new(secs, nanos);
            prop_assert!(!human_duration(d).is_empty());
        }
    }

    // Regression tests: every timestamp a property above ever failed on, by name.

    /// `to_offset(UTC)` panicked ("local datetime out of valid range") on timestamps whose UTC
    /// time falls outside years 0..=9999; `kubectl describe` prints them.
    #[test]
    fn regression_timestamp_out_of_range_in_utc() {
        let ts = "9999-12-31T23:59:59-23:59";
        assert_eq!(rfc1123z(ts), "<unknown>");
        assert_eq!(go_time_string(ts), "0001-01-01 00:00:00 +0000 UTC");
        let _ = age(Some(ts), OffsetDateTime::now_utc());
        // Year -1 in UTC is in range.
        assert_eq!(
            rfc1123z("0000-01-01T00:00:00+23:59"),
            "Fri, 31 Dec -1 00:01:00 +0000"
        );
    }
}
