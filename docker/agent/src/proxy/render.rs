//! `kube-proxy render -f FILE [flags]`: prints the iptables-restore text kube-proxy would write.

use std::process::ExitCode;

/// Entry point (stub until implemented). `args[0]` is "render".
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(1)
}
