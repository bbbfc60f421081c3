//! Interactive exec with a TTY (the web terminal): `docker exec -it` as a byte stream in and
//! out, plus resize. Added for the web platform; the only bollard use outside `driver.rs`.

use std::pin::Pin;

use bollard::container::LogOutput;
use bollard::exec::{ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWrite;

use super::driver::Driver;
use super::error::SandboxError;

/// Output of a TTY exec: raw terminal bytes.
pub type TtyOutput = Pin<Box<dyn Stream<Item = Result<Vec<u8>, SandboxError>> + Send>>;

/// Input of a TTY exec: what the user types.
pub type TtyInput = Pin<Box<dyn AsyncWrite + Send>>;

/// A running TTY exec.
pub struct TtyExec {
    /// The exec id (for [`TtyResizer`]).
    pub id: String,
    /// Terminal output.
    pub output: TtyOutput,
    /// Terminal input.
    pub input: TtyInput,
    /// Resizes this exec's TTY.
    pub resizer: TtyResizer,
}

/// Resizes one exec's TTY.
#[derive(Clone)]
pub struct TtyResizer {
    docker: Docker,
    id: String,
}

impl TtyResizer {
    /// Sets the TTY size.
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), SandboxError> {
        self.docker
            .resize_exec(
                &self.id,
                ResizeExecOptions {
                    height: rows,
                    width: cols,
                },
            )
            .await
            .map_err(SandboxError::docker(format!("resizing exec {}", self.id)))
    }
}

impl Driver {
    /// Starts `argv` in `container` with a TTY (environment `TERM=xterm-256color`) and
    /// returns its byte streams; the TTY starts at `cols`×`rows`. What runs there is the
    /// learner's, so it starts first in line for the OOM killer
    /// ([`super::driver::oom_first_argv`]).
    pub async fn exec_tty(
        &self,
        container: &str,
        argv: &[&str],
        cols: u16,
        rows: u16,
    ) -> Result<TtyExec, SandboxError> {
        let docker = self.docker().clone();
        let what = format!("starting a terminal in {container}");
        let config = ExecConfig {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(true),
            env: Some(vec!["TERM=xterm-256color".to_string()]),
            cmd: Some(super::driver::oom_first_argv(argv)),
            ..Default::default()
        };
        let created = docker
            .create_exec(container, config)
            .await
            .map_err(SandboxError::docker(what.clone()))?;
        let started = docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: true,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(SandboxError::docker(what.clone()))?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(SandboxError::Io {
                what,
                cause: std::io::Error::other("Docker started the exec detached"),
            });
        };
        let resizer = TtyResizer {
            docker,
            id: created.id.clone(),
        };
        if let Err(e) = resizer.resize(cols, rows).await {
            tracing::debug!(error = %e, "initial terminal resize failed");
        }
        let output = output.map(|chunk| match chunk {
            Ok(LogOutput::StdOut { message })
            | Ok(LogOutput::StdErr { message })
            | Ok(LogOutput::Console { message }) => Ok(message.to_vec()),
            Ok(LogOutput::StdIn { .. }) => Ok(Vec::new()),
            Err(e) => Err(SandboxError::docker("reading terminal output")(e)),
        });
        Ok(TtyExec {
            id: created.id,
            output: Box::pin(output),
            input,
            resizer,
        })
    }
}
