//! kubectl: the Kubernetes CLI against the lab API, with kubectl's syntax, layout and errors.

use std::process::ExitCode;

/// Entry point (stub until implemented).
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(1)
}
