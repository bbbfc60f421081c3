//! kube-proxy: `kube-proxy render -f FILE [flags]` prints the rules for a file of objects;
//! plain `kube-proxy [flags]` runs the sync loop against the lab API.

pub mod common;
pub mod flags;
pub mod health;
pub mod mode;
pub mod netrules_planner;
pub mod nft_sync;
pub mod planner;
pub mod render;
pub mod sync;

use std::process::ExitCode;

/// Entry point for the `kube-proxy` component.
pub fn main(args: Vec<String>) -> ExitCode {
    if args.get(1).map(String::as_str) == Some("render") {
        render::main(args[1..].to_vec())
    } else {
        sync::main(args)
    }
}
