//! Test support of kplab, compiled once and shared by every test binary of the server (a
//! dev-dependency of `kplab`). One module per tier of tests:
//!
//! - [`tier`]: the reason strings of `#[ignore = "…"]`, one per tier, and the check that every
//!   test in the workspace uses one of them;
//! - [`fake`]: a fake [`LabRuntime`](kplab::engine::runtime::LabRuntime) that records calls, can
//!   be told to fail, and answers commands with scripted output: the fast web tests (no Docker);
//! - [`web`]: an in-process server (over Docker or the fake), an HTTP/1.1 client that keeps a
//!   learner's cookie, a terminal WebSocket client;
//! - [`workshop`]: the instructor's side and the dashboard's event stream;
//! - [`browser`]: headless Chromium through chromedriver;
//! - [`html`]: pages read with CSS selectors;
//! - [`page_check`]: what every page must pass at phone, laptop and desktop sizes: no
//!   sideways overflow, no serious axe-core violation; screenshots;
//! - [`lab`]: real labs on Docker for the end-to-end tests;
//! - [`store`]: the Postgres the store tests share.

pub mod browser;
pub mod fake;
pub mod html;
pub mod lab;
pub mod page_check;
pub mod store;
pub mod tier;
pub mod web;
pub mod workshop;
