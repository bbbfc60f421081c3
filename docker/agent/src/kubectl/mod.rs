//! kubectl: the Kubernetes CLI against the lab API, with kubectl's syntax, layout and errors.
//!
//! `main` parses the command line (cobra's rules, see [`args`]), runs one command and prints
//! errors the way kubectl words them, exiting 1 (or the remote command's code for `exec`).
//! [`run`] does the same with explicit streams, for tests.

pub mod args;
mod commands;
pub mod describe;
pub mod duration;
mod exec;
pub mod jsonpath;
pub mod manifest;
pub mod output;
pub mod printers;
pub mod tabwriter;
mod wait;

use std::io::{Read, Write};
use std::process::ExitCode;

use crate::kube::client::{ApiClient, ClientError};

/// The version kubectl reports (the Kubernetes release whose output kplab reproduces).
pub const CLIENT_VERSION: &str = crate::kube::contract::KUBERNETES_VERSION;

/// Why a command failed, already in kubectl's words.
#[derive(Debug)]
pub enum Fail {
    /// Printed as `error: <msg>`.
    Msg(String),
    /// Printed exactly as given (kubectl's multi-line and `Error from server` forms).
    Raw(String),
    /// An API call failed.
    Client(ClientError),
    /// A command-line problem: `Error: <msg>` + `See 'kubectl <cmd> --help' for usage.`
    Usage(String, String),
    /// Exit with this code, nothing more to print (exec's remote exit code).
    Exit(u8),
}

impl From<ClientError> for Fail {
    fn from(e: ClientError) -> Self {
        Fail::Client(e)
    }
}

/// The text kubectl prints for a failed API call.
pub fn client_error_text(e: &ClientError) -> String {
    match e {
        ClientError::Api(st) => {
            if st.reason == "Invalid" {
                if let Some(d) = &st.details {
                    let kind = d.get("kind").and_then(|v| v.as_str()).unwrap_or("");
                    let name = d.get("name").and_then(|v| v.as_str()).unwrap_or("");
                    let causes: Vec<String> = d
                        .get("causes")
                        .and_then(|c| c.as_array())
                        .map(|a| {
                            a.iter()
                                .map(|c| {
                                    let f = c.get("field").and_then(|v| v.as_str()).unwrap_or("");
                                    let m = c.get("message").and_then(|v| v.as_str()).unwrap_or("");
                                    if f.is_empty() {
                                        m.to_string()
                                    } else {
                                        format!("{f}: {m}")
                                    }
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if !kind.is_empty() && !causes.is_empty() {
                        let joined = if causes.len() == 1 {
                            causes[0].clone()
                        } else {
                            format!("[{}]", causes.join(", "))
                        };
                        return format!("The {kind} \"{name}\" is invalid: {joined}");
                    }
                }
            }
            if st.reason.is_empty() {
                format!("Error from server: {}", st.message)
            } else {
                format!("Error from server ({}): {}", st.reason, st.message)
            }
        }
        ClientError::Connect { url, detail } => {
            let host = url
                .split("://")
                .nth(1)
                .unwrap_or(url)
                .split('/')
                .next()
                .unwrap_or(url);
            if detail.to_ascii_lowercase().contains("refused") {
                format!("The connection to the server {host} was refused - did you specify the right host or port?")
            } else {
                format!("Unable to connect to the server: dial tcp {host}: {detail}")
            }
        }
        ClientError::Decode { .. } => format!("error: {e}"),
    }
}

/// The streams and settings a command runs with.
pub struct Ctx<'a> {
    /// The lab API.
    pub client: ApiClient,
    /// The namespace from `-n`, the kubeconfig context, or `default`.
    pub namespace: String,
    /// Whether `-n` was given.
    pub namespace_explicit: bool,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// Standard input (`apply -f -`, `exec -i`).
    pub stdin: &'a mut dyn Read,
}

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
            commands::context_namespace(parsed.get("kubeconfig"))
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
    match commands::dispatch(&mut ctx, &parsed) {
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
