//! klog-style log lines for the in-lab Kubernetes components, as a `tracing` formatter.
//!
//! `I1123 05:01:02.345678      42 proxier.go:805] "SyncProxyRules complete" elapsed="12.3ms"`:
//! severity letter and month/day, UTC time with microseconds, the process id right-aligned in
//! 7 columns, the source location, then the quoted message and `key=value` pairs (strings and
//! durations quoted, numbers and booleans bare), the way klog's structured `InfoS` prints them.
//! An event may carry a field `src = "proxier.go:805"` to name the upstream location a learner
//! would find in a real kube-proxy log; otherwise the Rust file and line are used.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The klog line formatter (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct KlogFormat;

#[derive(Default)]
struct Fields {
    message: String,
    src: Option<String>,
    pairs: String,
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Fields {
    fn pair(&mut self, name: &str, value: &str) {
        let _ = write!(self.pairs, " {name}={value}");
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "src" => self.src = Some(value.to_string()),
            name => self.pair(name, &quote(value)),
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.pair(field.name(), &value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.pair(field.name(), &value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pair(field.name(), &value.to_string());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.pair(field.name(), &value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = text,
            "src" => self.src = Some(text.trim_matches('"').to_string()),
            name => {
                // Debug of a &str is already quoted; Display values (`%x`) arrive unquoted.
                if text.starts_with('"') && text.ends_with('"') && text.len() >= 2 {
                    self.pair(name, &text)
                } else {
                    self.pair(name, &quote(&text))
                }
            }
        }
    }
}

/// The klog timestamp with its severity letter: `I1123 05:01:02.345678` (UTC, microseconds).
pub fn stamp(severity: char) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{severity}{:02}{:02} {:02}:{:02}:{:02}.{:06}",
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond(),
    )
}

/// The klog header for `level` at the current time: `I1123 05:01:02.345678      42 `.
pub fn header(level: &Level) -> String {
    let letter = match *level {
        Level::ERROR => 'E',
        Level::WARN => 'W',
        _ => 'I',
    };
    header_of(letter)
}

fn header_of(severity: char) -> String {
    format!("{} {:>7} ", stamp(severity), std::process::id())
}

/// A whole klog line: `W1123 04:35:00.123456    4242 render.go:0] message`.
pub fn line(severity: char, src: &str, msg: &str) -> String {
    format!("{}{src}] {msg}", header_of(severity))
}

impl<S, N> FormatEvent<S, N> for KlogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let src = fields.src.take().unwrap_or_else(|| {
            let file = meta.file().unwrap_or("unknown");
            let base = file.rsplit('/').next().unwrap_or(file);
            format!("{base}:{}", meta.line().unwrap_or(0))
        });
        writeln!(
            writer,
            "{}{src}] {}{}",
            header(meta.level()),
            quote(&fields.message),
            fields.pairs
        )
    }
}

/// Installs the klog formatter on stderr for this process. klog verbosity `v` maps to levels
/// of this crate's events: 0–1 → info, 2–3 → debug (kube-proxy's `V(2)` lines), 4+ → trace;
/// other crates log warnings only (everything from 6 on). `RUST_LOG`, when set, overrides it.
/// Safe to call more than once (later calls do nothing).
pub fn init(v: u8) {
    // Only this crate's events follow `--v`; libraries (ureq, …) stay at warn so that their
    // debug chatter never reaches a learner's log.
    let level = match v {
        0 | 1 => "warn,kplab_agent=info",
        2 | 3 => "warn,kplab_agent=debug",
        4..=5 => "warn,kplab_agent=trace",
        _ => "debug,kplab_agent=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(KlogFormat)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_has_klog_shape() {
        let h = header(&Level::WARN);
        // W1123 05:01:02.345678      42
        assert!(h.starts_with('W'), "{h}");
        assert_eq!(&h[5..6], " ", "{h}");
        assert_eq!(&h[8..9], ":", "{h}");
        assert_eq!(&h[14..15], ".", "{h}");
        assert_eq!(h.len(), 1 + 4 + 1 + 15 + 1 + 7 + 1, "{h:?}");
    }

    #[test]
    fn quotes_like_klog() {
        assert_eq!(quote("a \"b\""), "\"a \\\"b\\\"\"");
        let mut f = Fields::default();
        f.pair("numServices", "3");
        assert_eq!(f.pairs, " numServices=3");
    }
}
