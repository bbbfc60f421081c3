//! Time as the API writes it (RFC 3339, seconds, UTC) and Go durations as the components'
//! flags read them (`30s`, `1m30s`, `1.5h`, `250ms`, `0`).

use std::time::Duration;

use time::OffsetDateTime;

/// Current time as RFC 3339 with seconds (`2026-11-23T04:50:01Z`), as in object metadata.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// `t` as RFC 3339 with seconds, in UTC (`2026-11-23T04:50:01Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// Current time with microseconds (`2026-11-23T04:50:01.123456Z`), as `MicroTime` fields
/// (a Lease's `renewTime`, an Event's `eventTime`) are written.
pub fn now_rfc3339_micro() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    OffsetDateTime::now_utc().format(&f).unwrap_or_default()
}

/// Why a text is not a Go duration. Each caller words the message its upstream tool prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// The text is empty.
    Empty,
    /// A number part does not parse (`.`, `1.2.3`).
    BadNumber(String),
    /// A number without a unit (`10`).
    MissingUnit,
    /// A unit Go does not know (`3d`).
    UnknownUnit(String),
    /// More than a `Duration` holds.
    OutOfRange,
}

/// Go's `time.ParseDuration` without signs: terms of a decimal number and a unit (`ns`, `us`,
/// `µs`, `ms`, `s`, `m`, `h`), summed; `0` alone needs no unit.
pub fn parse_go_duration(t: &str) -> Result<Duration, DurationError> {
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    let mut rest = t;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !is_number(c)).unwrap_or(rest.len());
        let num = &rest[..n_end];
        let n: f64 = num
            .parse()
            .map_err(|_| DurationError::BadNumber(num.to_string()))?;
        rest = &rest[n_end..];
        let u_end = rest.find(is_number).unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "" => return Err(DurationError::MissingUnit),
            "ns" => 1e-9,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(DurationError::UnknownUnit(u.to_string())),
        };
        // What a Duration cannot hold is an error, not a panic (from_secs_f64 and += panic).
        total = Duration::try_from_secs_f64(n * unit)
            .ok()
            .and_then(|d| total.checked_add(d))
            .ok_or(DurationError::OutOfRange)?;
        rest = &rest[u_end..];
    }
    Ok(total)
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`: `5s`, `3m12s`, `2d3h`, `3y45d`…
pub fn human_duration(d: time::Duration) -> String {
    let seconds = d.whole_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.whole_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.whole_hours();
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// Parses an RFC 3339 timestamp as the API writes it.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// `translateTimestampSince`: the AGE of a timestamp, `<unknown>` when absent.
pub fn age(ts: Option<&str>, now: OffsetDateTime) -> String {
    match ts.and_then(parse_time) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_go_duration("10"), Err(DurationError::MissingUnit));
        assert_eq!(
            parse_go_duration("3d"),
            Err(DurationError::UnknownUnit("d".into()))
        );
        assert_eq!(
            parse_go_duration("99999999999999999999s"),
            Err(DurationError::OutOfRange)
        );
    }

    #[test]
    fn rfc3339_has_seconds_and_z() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
    }
}
