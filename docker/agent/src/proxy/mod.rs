//! kube-proxy: the sync loop that applies netrules' kube-proxy rules, and `kube-proxy render`.

use std::process::ExitCode;

/// Entry point (stub until implemented).
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(1)
}
