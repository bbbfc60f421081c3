//! The checks every page of kplab should pass in a browser, at a phone's, a laptop's and a
//! desktop's viewport: nothing wider than the viewport (no sideways scrolling), no serious or
//! critical accessibility violation by axe-core (vendored under `testkit/vendor/axe-core/`,
//! injected into the page under test only), and a screenshot to look at.
//!
//! A page test opens the page in the state it wants checked, then calls [`check_page`]:
//!
//! ```text
//! let (_driver, b, port) = browser(profile.path(), (1440, 900)).await;
//! b.goto(&format!("{base}/")).await?;
//! let problems = check_page(&b, port, &out_dir, "catalog").await?;
//! assert!(problems.is_empty(), "{}", problems.join("\n"));
//! ```
//!
//! [`check_page`] goes through [`SIZES`] and collects every problem instead of stopping at the
//! first, so one run lists everything to fix; the lower-level [`set_size`], [`overflow`],
//! [`axe`], [`assert_no_overflow`], [`assert_axe_clean`] and [`save_screenshot`] are there for
//! a test that checks one state at one size.

use std::fmt;
use std::path::{Path, PathBuf};

use fantoccini::error::CmdError;
use fantoccini::Client as Browser;
use serde_json::Value;

use crate::browser::{cdp, js};

/// The viewports every page is checked at: name, width, height in CSS pixels.
pub const SIZES: [(&str, u32, u32); 3] = [
    ("phone", 390, 844),
    ("laptop", 1024, 768),
    ("desktop", 1440, 900),
];

/// axe-core 4.14.1, minified (see `vendor/axe-core/SOURCE.md`).
pub const AXE_JS: &str = include_str!("../vendor/axe-core/axe.min.js");

/// Sets the viewport to exactly `width`x`height` CSS pixels at device scale 1 (the window's
/// outer size is not the viewport), through chromedriver's CDP endpoint on `driver_port` (the
/// port [`crate::browser::browser`] returns), and waits for the page to lay itself out at it.
pub async fn set_size(b: &Browser, driver_port: u16, width: u32, height: u32) {
    cdp(
        b,
        driver_port,
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false,
        }),
    )
    .await;
    // Two animation frames: resize observers and media queries have run.
    let inner = b
        .execute_async(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => \
             done([window.innerWidth, window.innerHeight])));",
            vec![],
        )
        .await
        .expect("the page answers after a resize");
    assert_eq!(
        inner,
        serde_json::json!([width, height]),
        "the viewport after setting it to {width}x{height}"
    );
}

/// An element that reaches past the viewport's right edge (what is off to the left, like a
/// hidden measuring box, does not make a page scroll sideways).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Overflowing {
    /// `tag#id.class1.class2` of the element.
    pub element: String,
    /// Its rendered width, CSS pixels.
    pub width: f64,
    /// Its left edge.
    pub left: f64,
    /// Its right edge.
    pub right: f64,
    /// The parent it sticks out of (`tag#id.class (W px)`), when it does: where the overflow
    /// starts, usually the thing to fix (a grid track or a flex item that will not shrink, a
    /// fixed width, a long word); empty when it is only as wide as its too-wide parent.
    pub parent: String,
}

/// How much wider than its viewport a page is.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Overflow {
    /// `document.documentElement.scrollWidth`.
    pub scroll_width: f64,
    /// `document.documentElement.clientWidth` (the viewport less a vertical scrollbar).
    pub client_width: f64,
    /// Elements that reach past the viewport and are not inside a box that scrolls or clips
    /// them (those are not the page's overflow): first those that stick out of their parent,
    /// then the widest; at most 8.
    pub offenders: Vec<Overflowing>,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the page is {} px wide in a {} px viewport",
            self.scroll_width, self.client_width
        )?;
        for o in &self.offenders {
            write!(
                f,
                "\n    {} ({} px wide, {}..{})",
                o.element, o.width, o.left, o.right
            )?;
            if !o.parent.is_empty() {
                write!(f, " sticks out of {}", o.parent)?;
            }
        }
        Ok(())
    }
}

const OVERFLOW_JS: &str = r#"
const de = document.documentElement;
const vw = de.clientWidth;
const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
  [...el.classList].map((c) => '.' + c).join('');
const clipped = (el) => {
  for (let a = el.parentElement; a && a !== document.body && a !== de; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== 'visible') return true;
  }
  return false;
};
const found = [];
if (de.scrollWidth > vw + 1) {
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > vw + 1 && r.width > 0 && !clipped(el)) {
      const p = el.parentElement.getBoundingClientRect();
      const out = r.right > p.right + 1;
      found.push({ element: name(el), width: Math.round(r.width), left: Math.round(r.left),
                   right: Math.round(r.right), out,
                   parent: out ? name(el.parentElement) + ' (' + Math.round(p.width) + ' px)' : '' });
    }
  }
  // Where the overflow starts first (an element sticking out of its parent), then the widest.
  found.sort((a, b) => (b.out - a.out) || (b.width - a.width));
}
return { scroll_width: de.scrollWidth, client_width: vw, offenders: found.slice(0, 8) };
"#;

/// `None` when the page fits its viewport's width (1 px of slack for rounding), else how it
/// does not.
pub async fn overflow(b: &Browser) -> Result<Option<Overflow>, CmdError> {
    let v = b.execute(OVERFLOW_JS, vec![]).await?;
    let o: Overflow = serde_json::from_value(v).expect("the overflow script's answer");
    Ok((o.scroll_width > o.client_width + 1.0).then_some(o))
}

/// Panics, naming the widest elements past the edge, when the page is wider than its viewport.
pub async fn assert_no_overflow(b: &Browser, label: &str) -> Result<(), CmdError> {
    if let Some(o) = overflow(b).await? {
        panic!("{label}: {o}");
    }
    Ok(())
}

/// One rule axe-core found broken, with where.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The rule, e.g. `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    /// What the rule asks for, in a sentence.
    pub help: String,
    /// Deque's page about the rule.
    pub help_url: String,
    /// CSS selectors of the offending elements (the first few), with axe's summary of the
    /// first one's failure.
    pub targets: Vec<String>,
    /// How many elements break it.
    pub nodes: usize,
    /// axe's "fix any of / all of" text for the first element.
    pub failure: String,
}

impl Violation {
    /// Serious and critical violations fail a page check; minor and moderate ones are reported.
    pub fn fails(&self) -> bool {
        matches!(self.impact.as_str(), "serious" | "critical")
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {}: {} ({} element(s): {}){}",
            self.impact,
            self.id,
            self.help,
            self.nodes,
            self.targets.join(", "),
            if self.failure.is_empty() {
                String::new()
            } else {
                format!("\n      {}", self.failure.replace('\n', "\n      "))
            }
        )
    }
}

/// Runs axe-core on the page as it is now (injecting it when the page does not have it yet);
/// returns every violation, worst first.
pub async fn axe(b: &Browser) -> Result<Vec<Violation>, CmdError> {
    if js(b, "return typeof window.axe;").await != "object" {
        b.execute(&format!("{AXE_JS}\n;return 1;"), vec![]).await?;
    }
    let v = b
        .execute_async(
            "const done = arguments[0];
             axe.run(document, { resultTypes: ['violations'] })
               .then((r) => done({ ok: r.violations }), (e) => done({ error: String(e) }));",
            vec![],
        )
        .await?;
    if let Some(e) = v.get("error") {
        panic!("axe.run failed: {e}");
    }
    let rank = |i: &str| match i {
        "critical" => 0,
        "serious" => 1,
        "moderate" => 2,
        _ => 3,
    };
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut out: Vec<Violation> = v["ok"]
        .as_array()
        .expect("axe's violations")
        .iter()
        .map(|r| {
            let nodes = r["nodes"].as_array().cloned().unwrap_or_default();
            Violation {
                id: s(r, "id"),
                impact: s(r, "impact"),
                help: s(r, "help"),
                help_url: s(r, "helpUrl"),
                targets: nodes
                    .iter()
                    .take(4)
                    .map(|n| {
                        n["target"]
                            .as_array()
                            .map(|t| {
                                t.iter()
                                    .map(|x| x.as_str().unwrap_or_default())
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            })
                            .unwrap_or_default()
                    })
                    .collect(),
                failure: nodes
                    .first()
                    .map(|n| s(n, "failureSummary"))
                    .unwrap_or_default(),
                nodes: nodes.len(),
            }
        })
        .collect();
    out.sort_by_key(|v| rank(&v.impact));
    Ok(out)
}

/// Panics, listing them, when axe-core finds a serious or critical violation; prints the minor
/// and moderate ones.
pub async fn assert_axe_clean(b: &Browser, label: &str) -> Result<(), CmdError> {
    let (bad, minor): (Vec<_>, Vec<_>) = axe(b).await?.into_iter().partition(Violation::fails);
    for v in &minor {
        println!("{label}: axe (not failing): {v}");
    }
    if !bad.is_empty() {
        let list: Vec<String> = bad.iter().map(|v| format!("  {v}")).collect();
        panic!("{label}: axe-core violations:\n{}", list.join("\n"));
    }
    Ok(())
}

/// Saves a screenshot of the viewport as `dir/name.png`, checks it is a PNG; returns its path.
pub async fn save_screenshot(b: &Browser, dir: &Path, name: &str) -> Result<PathBuf, CmdError> {
    let png = b.screenshot().await?;
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{name}: a PNG screenshot"
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    Ok(path)
}

/// The directory screenshots go to by default: `$CARGO_TARGET_TMPDIR/screens/` of the calling
/// test crate (pass `env!("CARGO_TARGET_TMPDIR")`).
pub fn screens_dir(cargo_target_tmpdir: &str) -> PathBuf {
    Path::new(cargo_target_tmpdir).join("screens")
}

/// Checks the page as it is now at every size in [`SIZES`]: resizes the viewport, checks
/// overflow and axe-core, saves `dir/{name}-{size}.png`. Returns every problem found, each
/// line starting `{name}-{size}:` (empty: the page passes); the viewport is left at the
/// desktop size.
pub async fn check_page(
    b: &Browser,
    driver_port: u16,
    dir: &Path,
    name: &str,
) -> Result<Vec<String>, CmdError> {
    check_page_showing(b, driver_port, dir, name, None).await
}

/// [`check_page`], with the element `show` (a CSS selector) scrolled into view at each size
/// before the screenshot: a panel far down a phone's page is what its screenshot shows.
pub async fn check_page_showing(
    b: &Browser,
    driver_port: u16,
    dir: &Path,
    name: &str,
    show: Option<&str>,
) -> Result<Vec<String>, CmdError> {
    let mut problems = Vec::new();
    for (size, w, h) in SIZES {
        let label = format!("{name}-{size}");
        set_size(b, driver_port, w, h).await;
        if let Some(css) = show {
            b.execute(
                "const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'start'});",
                vec![serde_json::json!(css)],
            )
            .await?;
        }
        if let Some(o) = overflow(b).await? {
            problems.push(format!("{label}: {o}"));
        }
        for v in axe(b).await? {
            if v.fails() {
                problems.push(format!("{label}: axe {v}"));
            } else {
                println!("{label}: axe (not failing): {v}");
            }
        }
        save_screenshot(b, dir, &label).await?;
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// The vendored file is the one `vendor/axe-core/SOURCE.md` names.
    #[test]
    fn vendored_axe_matches_its_note() {
        let note = include_str!("../vendor/axe-core/SOURCE.md");
        let sum = sha2::Sha256::digest(AXE_JS.as_bytes());
        let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            note.contains(&format!("sha256 of `axe.min.js`: `{hex}`")),
            "axe.min.js has sha256 {hex}, not the one in SOURCE.md"
        );
        assert!(AXE_JS.starts_with("/*! axe v4.14.1"));
    }
}
