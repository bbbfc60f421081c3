//! Prometheus metrics in text format: labs running, starts, start latency, checks, check
//! latency. Hand-rolled counters and histograms (a handful of series, no registry needed).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// A fixed-bucket histogram.
pub struct Histogram {
    bounds: &'static [f64],
    inner: Mutex<(Vec<u64>, f64, u64)>,
}

impl Histogram {
    /// A histogram with these upper bounds (seconds).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            inner: Mutex::new((vec![0; bounds.len()], 0.0, 0)),
        }
    }
    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                g.0[i] += 1;
            }
        }
        g.1 += v;
        g.2 += 1;
    }
    fn render(&self, name: &str, help: &str, out: &mut String) {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in self.bounds.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", g.0[i]);
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}",
            g.2, g.1, g.2
        );
    }
}

/// The server's metrics.
pub struct Metrics {
    starts: Mutex<BTreeMap<&'static str, u64>>,
    checks: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Seconds from start request to lab ready.
    pub start_seconds: Histogram,
    /// Seconds per task check.
    pub check_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            starts: Mutex::default(),
            checks: Mutex::default(),
            start_seconds: Histogram::new(&[0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0]),
            check_seconds: Histogram::new(&[0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0]),
        }
    }
}

impl Metrics {
    /// Counts a lab start (`ok` or `failed`).
    pub fn lab_started(&self, result: &'static str) {
        *self
            .starts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(result)
            .or_default() += 1;
    }
    /// Counts a check of `kind` (`passed` or `failed`).
    pub fn check_run(&self, kind: &str, result: &'static str) {
        *self
            .checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((kind.to_string(), result))
            .or_default() += 1;
    }
    /// The text exposition, with the current number of running labs.
    pub fn render(&self, labs_running: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP kplab_labs_running Labs starting or running.\n# TYPE kplab_labs_running gauge\nkplab_labs_running {labs_running}");
        let _ = writeln!(out, "# HELP kplab_lab_starts_total Lab starts by result.\n# TYPE kplab_lab_starts_total counter");
        for (r, n) in self.starts.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "kplab_lab_starts_total{{result=\"{r}\"}} {n}");
        }
        self.start_seconds.render(
            "kplab_lab_start_seconds",
            "Seconds from start request to a ready lab.",
            &mut out,
        );
        let _ = writeln!(out, "# HELP kplab_checks_total Checks run by kind and result.\n# TYPE kplab_checks_total counter");
        for ((k, r), n) in self.checks.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "kplab_checks_total{{kind=\"{k}\",result=\"{r}\"}} {n}");
        }
        self.check_seconds
            .render("kplab_check_seconds", "Seconds per task check.", &mut out);
        out
    }
}
