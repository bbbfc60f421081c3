//! What the platform does, apart from how it is reached: the lab lifecycle (start, stop,
//! reset, expiry, recovery), classroom workshops, the packets panel, on the shared
//! [`platform::Platform`] state, and `kplab serve`'s [`config`]. Below the web layer, above
//! `crate::engine` and `crate::store`; no routes, handlers or extractors.

pub mod config;
pub mod error;
pub mod lifecycle;
pub mod metrics;
pub mod panel;
pub mod platform;
pub mod workshop;
