//! The sandbox driver: the only module that talks to Docker (through bollard).
//!
//! [`plan`] is pure: lab name + options + subnet -> network and containers. [`Driver`] executes
//! a plan, removes labs by label, lists them and runs commands in them. [`image`] builds the node
//! image.

pub mod driver;
pub mod error;
pub mod exec;
pub mod image;
pub mod kubectl;
pub mod plan;
pub mod seccomp;

pub use driver::{
    ClientInfo, DownReport, Driver, ExecOutput, LabInfo, LabSummary, MemoryUsage, NodeInfo,
};
pub use error::SandboxError;
pub use plan::{LabName, LabOptions};
