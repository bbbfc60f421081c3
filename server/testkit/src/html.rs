//! Server-rendered pages read with CSS selectors (`scraper`), so tests assert structure, not
//! substrings: the elements a selector finds, exactly one of them, none, and their text.

use scraper::{ElementRef, Html, Selector};

/// A parsed selector (a bad one fails the test, naming it).
pub fn sel(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("selector {css}: {e:?}"))
}

/// Every element `css` finds in `doc`.
pub fn all<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    doc.select(&sel(css)).collect()
}

/// The one element `css` finds (fails, showing the page, on none or several).
pub fn one<'a>(doc: &'a Html, css: &str) -> ElementRef<'a> {
    let found = all(doc, css);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {css}, found {}:\n{}",
        found.len(),
        doc.html()
    );
    found[0]
}

/// Fails, showing the page, when `css` finds anything.
pub fn none(doc: &Html, css: &str) {
    assert!(
        all(doc, css).is_empty(),
        "no {css} expected:\n{}",
        doc.html()
    );
}

/// An element's text with its whitespace runs made single spaces.
pub fn text(e: ElementRef<'_>) -> String {
    e.text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
