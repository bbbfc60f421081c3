//! kubectl: the Kubernetes CLI against the lab API, with kubectl's syntax, layout and errors.
//!
//! `main` parses the command line (cobra's rules, see [`args`]), runs one command and prints
//! errors the way kubectl words them, exiting 1 (or the remote command's code for `exec`).
//! [`run`] does the same with explicit streams, for tests.

pub mod args;
mod cmd;
pub mod ctx;
pub mod describe;
pub mod duration;
mod exec;
mod format;
pub mod jsonpath;
mod kubeconfig;
pub mod manifest;
pub mod output;
pub mod printers;
pub mod tabwriter;
mod target;
mod timeout;
mod wait;

use std::io::{Read, Write};
use std::process::ExitCode;

use crate::kube::client::ApiClient;
use ctx::{client_error_text, Ctx, Fail};

pub use ctx::CLIENT_VERSION;

/// Runs kubectl with the process' streams; `args[0]` is `kubectl`.
pub fn main(args: Vec<String>) -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let stdin = std::io::stdin();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let mut inp = stdin.lock();
    let code = run(&args, &mut inp, &mut out, &mut err);
    let _ = out.flush();
    ExitCode::from(code)
}

/// Runs kubectl with explicit streams and returns the exit code.
pub fn run(args: &[String], stdin: &mut dyn Read, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let rest = if args.is_empty() { &[][..] } else { &args[1..] };
    let parsed = match args::Args::parse(rest) {
        Ok(a) => a,
        Err(e) => {
            let cmd = rest
                .iter()
                .find(|a| !a.starts_with('-'))
                .cloned()
                .unwrap_or_default();
            let see = if cmd.is_empty() {
                "kubectl".to_string()
            } else {
                format!("kubectl {cmd}")
            };
            let _ = writeln!(err, "Error: {e}\nSee '{see} --help' for usage.");
            return 1;
        }
    };
    let client = match parsed.get("server") {
        Some(s) => ApiClient::new(s),
        None => ApiClient::from_env(),
    };
    let (namespace, explicit) = match parsed.get("namespace") {
        Some(n) => (n.to_string(), true),
        None => (
            kubeconfig::context_namespace(parsed.get("kubeconfig"))
                .unwrap_or_else(|| "default".into()),
            false,
        ),
    };
    let mut ctx = Ctx {
        client,
        namespace,
        namespace_explicit: explicit,
        out,
        err,
        stdin,
    };
    match cmd::dispatch(&mut ctx, &parsed) {
        Ok(()) => 0,
        Err(f) => report(&mut ctx, f),
    }
}

fn report(ctx: &mut Ctx, f: Fail) -> u8 {
    let _ = ctx.out.flush();
    match f {
        Fail::Msg(m) => {
            let _ = writeln!(ctx.err, "error: {m}");
            1
        }
        Fail::Raw(m) => {
            let _ = writeln!(ctx.err, "{m}");
            1
        }
        Fail::Client(e) => {
            let _ = writeln!(ctx.err, "{}", client_error_text(&e));
            1
        }
        Fail::Usage(cmd, m) => {
            let _ = writeln!(
                ctx.err,
                "error: {m}\nSee 'kubectl {cmd} -h' for help and examples"
            );
            1
        }
        Fail::Exit(code) => code,
    }
}
