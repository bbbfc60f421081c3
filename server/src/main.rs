//! `kplab`: the host CLI (image build, bare lab clusters, benchmark). Parses arguments,
//! sets up tracing and hands over to [`kplab::run`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kplab::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KPLAB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("kplab=info,warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kplab: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kplab::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kplab: {e:#}");
            ExitCode::FAILURE
        }
    }
}
