//! Shared pieces of the property tests (issue 13, untrusted text), a dev-dependency of every
//! crate with a `parsers_props` test: the fixed budget with committed regressions, and the text
//! generator they all start from. What each parser's near-valid inputs look like stays beside
//! its properties.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Cases per property: small and fixed, so plain `cargo test` stays fast.
pub const CASES: u32 = 256;

/// The budget of a property with `cases` cases; failures are kept in `file` (relative to the
/// crate, e.g. `proptest-regressions/parsers_props.txt`, committed) and replayed first.
pub fn config(cases: u32, file: &'static str) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..ProptestConfig::default()
    }
}

/// Any text: up to `bytes` raw bytes read lossily (as the server reads a lab's output), up to
/// `chars` characters of arbitrary unicode (NULs and controls included), or up to `lines` lines
/// of at most `line` printable ASCII characters, the alphabet these formats are written in.
pub fn any_text_sized(
    bytes: usize,
    chars: usize,
    line: usize,
    lines: usize,
) -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..bytes)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        regex(&format!("(?s).{{0,{chars}}}")),
        prop::collection::vec(regex(&format!("[ -~]{{0,{line}}}")), 0..lines)
            .prop_map(|l| l.join("\n")),
    ]
}

/// [`any_text_sized`] at the usual sizes: 500 bytes, 300 characters, 10 lines of 80.
pub fn any_text() -> impl Strategy<Value = String> {
    any_text_sized(500, 300, 80, 10)
}

fn regex(re: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(re).expect("a valid generator regex")
}
