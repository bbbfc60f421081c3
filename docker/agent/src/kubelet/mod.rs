//! kubelet: runs this node's pods as network namespaces with a veth, /32 routes and a VXLAN overlay.

use std::process::ExitCode;

/// Entry point (stub until implemented).
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("not implemented yet");
    ExitCode::from(1)
}
