//! The lab API server (node-1): Kubernetes-shaped objects over REST, with watch and persistence.

use std::process::ExitCode;

/// Entry point (stub until implemented).
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(1)
}
