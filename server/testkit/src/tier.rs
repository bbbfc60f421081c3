//! The tiers of kplab's tests. Plain `cargo test` runs the fast tier (no Docker, no root, no
//! browser, no database); every other test carries `#[ignore = "<reason>"]` with exactly one
//! of the reasons below, and the README's test command (`./test`, which sets all of them up)
//! runs them with `--include-ignored`.
//!
//! `#[ignore = CONST]` does not compile (an attribute value must be a literal) and a macro
//! there drops the reason from the test output, so the tests spell the literal; the test
//! `every_ignore_names_a_tier` (in this crate) keeps them to this list.

/// Creates network namespaces, veths, iptables rules: root (CAP_NET_ADMIN, CAP_SYS_ADMIN).
pub const ROOT: &str = "needs root";
/// Starts real labs: a Docker engine and root (host isolation rules); the tests build the
/// node image when it is missing or stale.
pub const DOCKER: &str = "needs Docker and root";
/// Real labs driven from a headless browser: also Chromium and chromedriver.
pub const DOCKER_BROWSER: &str = "needs Docker, root and Chromium";
/// A headless browser (Chromium and chromedriver) against the fake runtime.
pub const BROWSER: &str = "needs Chromium";
/// A Postgres database named by `KPLAB_TEST_DATABASE_URL`.
pub const POSTGRES: &str = "needs Postgres";
/// Measurements rather than checks (they need root, and Docker for the web ones).
pub const BENCHMARK: &str = "benchmark";

/// Every tier's reason.
pub const ALL: &[&str] = &[ROOT, DOCKER, DOCKER_BROWSER, BROWSER, POSTGRES, BENCHMARK];
