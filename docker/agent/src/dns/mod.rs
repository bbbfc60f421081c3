//! Cluster DNS (the coredns pod): answers for Services and pods from the lab API.

use std::process::ExitCode;

/// Entry point (stub until implemented).
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(1)
}
