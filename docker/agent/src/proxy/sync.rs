//! The kube-proxy sync loop: watch the lab API, render with netrules, apply with iptables-restore.

use std::process::ExitCode;

/// Entry point (stub until implemented).
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(1)
}
