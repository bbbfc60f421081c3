//! The lab engine, below the web platform and the `labs test` CLI alike: the container
//! runtime ([`runtime::LabRuntime`], over the Docker driver in `crate::sandbox`), the grader
//! ([`grade`]), bringing a cluster up from nothing ([`cluster`]), a step's setup ([`setup`]:
//! the kube-proxy mode lab content asks for, [`proxy_mode`], then its commands) and the lab
//! terminals ([`terminal`]).
//! Nothing here knows about HTTP, sessions or the store's learners.

pub mod cluster;
pub mod grade;
pub mod proxy_mode;
pub mod runtime;
pub mod setup;
pub mod terminal;
