//! kplab-node: the node's supervisor, started as the container command; starts and restarts the components.

use std::process::ExitCode;

/// Entry point (stub until implemented).
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(1)
}
