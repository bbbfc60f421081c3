//! What every component's entry point does first: parse its flags and start logging.

use std::process::ExitCode;

/// The parsed flags, or, once clap's message is printed, the exit code to return: 2 for a usage
/// error, success for `--help` and `--version`.
pub fn flags_or_exit<T>(parsed: Result<T, clap::Error>) -> Result<T, ExitCode> {
    parsed.map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// The arguments parsed by a hand-written parser, or, once reported, the exit code to return:
/// an empty error asks for help (`usage` on stdout, success); any other is printed on stderr as
/// `{program}: {error}` followed by `usage` (2).
pub fn args_or_usage<T>(
    parsed: Result<T, String>,
    program: &str,
    usage: &str,
) -> Result<T, ExitCode> {
    parsed.map_err(|e| {
        if e.is_empty() {
            println!("{usage}");
            ExitCode::SUCCESS
        } else {
            eprintln!("{program}: {e}\n\n{usage}");
            ExitCode::from(2)
        }
    })
}

/// The end of a one-shot tool: its report as one JSON line on stdout (success), or
/// `{program}: {error}` on stderr (1).
pub fn report_json<T: serde::Serialize, E: std::fmt::Display>(
    program: &str,
    result: Result<T, E>,
) -> ExitCode {
    match result {
        Ok(report) => {
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::from(1)
        }
    }
}

/// The tracing subscriber of the long-running components: `RUST_LOG` (default `info`) on
/// stderr, coloured only on a terminal, without targets.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
