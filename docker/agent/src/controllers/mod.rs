//! Controllers (node-1): deployments -> pods, scheduler, EndpointSlices, ClusterIP/NodePort allocation.

use std::process::ExitCode;

/// Entry point (stub until implemented).
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(1)
}

/// Entry point (stub until implemented).
pub fn scheduler_main(_args: Vec<String>) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(1)
}
