//! The kubelet's `/logs` answers with the options of `pods/log` (`PodLogOptions`): `tailLines`,
//! `sinceSeconds`/`sinceTime`, `timestamps`, `limitBytes` and `follow`.
//!
//! Our log files carry no per-line time of their own (a container runtime's do), so a line is
//! dated by its klog header (`I1123 05:01:02.345678`, the components' lines) when it has one,
//! else by the previous dated line, else by the file's modification time; lines read while
//! following are dated when they are read.

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use super::server::respond;
use crate::kube::stream::query_pairs;

/// The options of one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LogOptions {
    /// Keep only the last N lines.
    pub tail_lines: Option<usize>,
    /// Keep only lines at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Prefix each line with its time (RFC 3339, nanoseconds).
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<usize>,
    /// Keep streaming what is appended.
    pub follow: bool,
}

impl LogOptions {
    /// Reads the query (`tailLines=5&follow=true&…`); `now` anchors `sinceSeconds`.
    pub fn parse(query: &str, now: OffsetDateTime) -> LogOptions {
        let mut o = LogOptions::default();
        for (k, v) in query_pairs(query) {
            match k.as_str() {
                "tailLines" => o.tail_lines = v.parse().ok(),
                "limitBytes" => o.limit_bytes = v.parse().ok(),
                "sinceSeconds" => {
                    o.since = v
                        .parse::<i64>()
                        .ok()
                        .map(|s| now - time::Duration::seconds(s))
                }
                "sinceTime" => {
                    o.since =
                        OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339)
                            .ok()
                }
                "timestamps" => o.timestamps = v == "true" || v == "1",
                "follow" => o.follow = v == "true" || v == "1",
                _ => {}
            }
        }
        o
    }
}

/// Go's `time.RFC3339Nano` of `t` in UTC (trailing zeros of the fraction dropped).
pub fn rfc3339_nano(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// The time of a klog line (`I1123 05:01:02.345678 …`), in the latest year that does not put
/// it after `now`.
fn klog_time(line: &[u8], now: OffsetDateTime) -> Option<OffsetDateTime> {
    let s = std::str::from_utf8(line.get(..21)?).ok()?;
    let b = s.as_bytes();
    if !matches!(b[0], b'I' | b'W' | b'E' | b'F') || b[5] != b' ' || b[14] != b'.' {
        return None;
    }
    let month: u8 = s[1..3].parse().ok()?;
    let day: u8 = s[3..5].parse().ok()?;
    let (h, m, sec) = (
        s[6..8].parse::<u8>().ok()?,
        s[9..11].parse::<u8>().ok()?,
        s[12..14].parse::<u8>().ok()?,
    );
    let micros: u32 = s[15..21].parse().ok()?;
    let month = time::Month::try_from(month).ok()?;
    for year in [now.year(), now.year() - 1] {
        let date = time::Date::from_calendar_date(year, month, day).ok()?;
        let t = date.with_hms_micro(h, m, sec, micros).ok()?.assume_utc();
        if t <= now + time::Duration::minutes(1) {
            return Some(t);
        }
    }
    None
}

/// Splits `text` into lines (each with its `\n`, the last one perhaps without) and dates them.
pub fn dated_lines(
    text: &[u8],
    fallback: OffsetDateTime,
    now: OffsetDateTime,
) -> Vec<(OffsetDateTime, &[u8])> {
    let mut out = Vec::new();
    let mut last = fallback;
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&c| c == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        if let Some(t) = klog_time(line, now) {
            last = t;
        }
        out.push((last, line));
        rest = tail;
    }
    out
}

/// The body for `opts` (without following) from a whole log.
pub fn render(
    text: &[u8],
    fallback: OffsetDateTime,
    now: OffsetDateTime,
    opts: &LogOptions,
) -> Vec<u8> {
    let mut lines = dated_lines(text, fallback, now);
    if let Some(since) = opts.since {
        lines.retain(|(t, _)| *t >= since);
    }
    if let Some(n) = opts.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut body = Vec::new();
    for (t, line) in lines {
        if opts.timestamps {
            body.extend_from_slice(rfc3339_nano(t).as_bytes());
            body.push(b' ');
        }
        body.extend_from_slice(line);
    }
    if let Some(limit) = opts.limit_bytes {
        body.truncate(limit);
    }
    body
}

fn modified(path: &Path) -> OffsetDateTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(OffsetDateTime::from)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
}

/// Answers a `/logs` request for the file at `path`; `alive` says whether its pod still runs
/// (a follow ends when it does not; `None`: the log of a node component, followed until the
/// client leaves).
pub(crate) fn send_log(
    out: &mut TcpStream,
    path: &Path,
    query: &str,
    alive: Option<&dyn Fn() -> bool>,
) -> std::io::Result<()> {
    let now = OffsetDateTime::now_utc();
    let opts = LogOptions::parse(query, now);
    let mut file = std::fs::File::open(path).ok();
    let mut text = Vec::new();
    if let Some(f) = file.as_mut() {
        f.read_to_end(&mut text)?;
    }
    let body = render(&text, modified(path), now, &opts);
    if !opts.follow {
        return respond(out, 200, "text/plain; charset=utf-8", &body);
    }
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n",
    )?;
    out.write_all(&body)?;
    out.flush()?;
    let mut budget = opts.limit_bytes.map(|l| l.saturating_sub(body.len()));
    let mut pos = text.len() as u64;
    let mut line_start = text.is_empty() || text.ends_with(b"\n");
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if budget == Some(0) || client_gone(out) {
            return Ok(());
        }
        if file.is_none() {
            file = std::fs::File::open(path).ok();
        }
        if let Some(f) = file.as_mut() {
            let len = f.metadata()?.len();
            if len < pos {
                // Truncated: start over from its beginning.
                pos = 0;
            }
            f.seek(SeekFrom::Start(pos))?;
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                pos += n as u64;
                let mut chunk = Vec::with_capacity(n + 32);
                let stamp = rfc3339_nano(OffsetDateTime::now_utc());
                for &c in &buf[..n] {
                    if opts.timestamps && line_start {
                        chunk.extend_from_slice(stamp.as_bytes());
                        chunk.push(b' ');
                    }
                    chunk.push(c);
                    line_start = c == b'\n';
                }
                if let Some(b) = budget.as_mut() {
                    chunk.truncate(*b);
                    *b -= chunk.len();
                }
                out.write_all(&chunk)?;
                out.flush()?;
            }
        }
        if alive.is_some_and(|a| !a()) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Whether the peer closed the connection (a read would return its end).
fn client_gone(s: &TcpStream) -> bool {
    let _ = s.set_read_timeout(Some(Duration::from_millis(1)));
    let mut b = [0u8; 1];
    matches!(s.peek(&mut b), Ok(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn options_from_the_query() {
        let now = at("2026-12-07T06:00:00Z");
        let o = LogOptions::parse(
            "tailLines=5&sinceSeconds=60&timestamps=true&limitBytes=100&follow=true",
            now,
        );
        assert_eq!(
            o,
            LogOptions {
                tail_lines: Some(5),
                since: Some(at("2026-12-07T05:59:00Z")),
                timestamps: true,
                limit_bytes: Some(100),
                follow: true
            }
        );
        let o = LogOptions::parse("sinceTime=2026-12-07T05%3A00%3A00Z", now);
        assert_eq!(o.since, Some(at("2026-12-07T05:00:00Z")));
    }

    #[test]
    fn klog_lines_are_dated_and_filtered() {
        let now = at("2026-01-02T00:00:00Z");
        let mtime = at("2026-01-01T12:00:00Z");
        let text = b"plain start\nI1231 23:00:00.000001 1 a.go:1] old\ncontinued\nI0101 23:30:00.500000 1 b.go:2] new\nno newline";
        let lines = dated_lines(text, mtime, now);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0].0, mtime);
        // December is last year's (this year's would be in the future).
        assert_eq!(lines[1].0, at("2025-12-31T23:00:00.000001Z"));
        assert_eq!(lines[2].0, lines[1].0);
        assert_eq!(lines[4].1, b"no newline");
        let opts = LogOptions {
            since: Some(at("2026-01-01T00:00:00Z")),
            timestamps: true,
            ..LogOptions::default()
        };
        let body = String::from_utf8(render(text, mtime, now, &opts)).unwrap();
        assert_eq!(
            body,
            "2026-01-01T12:00:00Z plain start\n2026-01-01T23:30:00.5Z I0101 23:30:00.500000 1 b.go:2] new\n2026-01-01T23:30:00.5Z no newline"
        );
        let opts = LogOptions {
            tail_lines: Some(2),
            limit_bytes: Some(10),
            ..LogOptions::default()
        };
        assert_eq!(render(text, mtime, now, &opts), b"I0101 23:3");
        let all = LogOptions {
            tail_lines: Some(0),
            ..LogOptions::default()
        };
        assert!(render(text, mtime, now, &all).is_empty());
    }
}
