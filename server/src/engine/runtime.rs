//! The container runtime as the platform sees it: start, stop, list and health-check
//! labs, run commands in them, open terminals. [`LabRuntime`] is a trait object in the
//! state; [`DockerRuntime`] implements it over the sandbox driver (`crate::sandbox`).

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWrite;

use crate::sandbox::{plan, Driver, LabName, LabOptions};

/// Why the runtime failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The lab does not exist (any more).
    #[error("lab {0} does not exist")]
    Missing(String),
    /// The host is not one of the lab's.
    #[error("no host {0:?} in this lab")]
    NoHost(String),
    /// Anything the engine reported.
    #[error("{0}")]
    Engine(String),
}

/// The health of a lab's containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Every container runs.
    Running,
    /// No container exists.
    Missing,
    /// Some container is not running: which, and its state.
    Broken(String),
}

/// A lab that exists in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// Lab (sandbox) name.
    pub name: String,
    /// The id of the server that created it (its `kplab.server` label); `None` for labs made
    /// before servers had ids, or outside a server.
    pub server: Option<String>,
}

/// Output of a finished command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code.
    pub code: i64,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Terminal output stream.
pub type TermOutput = Pin<Box<dyn Stream<Item = Result<Vec<u8>, RuntimeError>> + Send>>;

/// Resizes a terminal.
#[async_trait]
pub trait Resize: Send + Sync {
    /// Sets the size.
    async fn resize(&self, cols: u16, rows: u16) -> Result<(), RuntimeError>;
}

/// An open terminal (a shell with a TTY).
pub struct Terminal {
    /// Bytes the shell writes.
    pub output: TermOutput,
    /// Bytes to the shell.
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
    /// Resize.
    pub resizer: Arc<dyn Resize>,
}

/// What the web platform needs from a container engine.
#[async_trait]
pub trait LabRuntime: Send + Sync {
    /// Starts a lab (returns once every node is Ready), labelled with the server's id
    /// (`server`, empty for none) and its learner.
    async fn up(
        &self,
        sandbox: &str,
        server: &str,
        learner: &str,
        nodes: u8,
    ) -> Result<(), RuntimeError>;
    /// Removes a lab (missing is not an error).
    async fn down(&self, sandbox: &str) -> Result<(), RuntimeError>;
    /// Every lab whose name starts with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<Sandbox>, RuntimeError>;
    /// Health of a lab's containers.
    async fn health(&self, sandbox: &str) -> Result<Health, RuntimeError>;
    /// Runs `argv` on `host` (`node-N`, `client`).
    async fn exec(&self, sandbox: &str, host: &str, argv: &[&str]) -> Result<Output, RuntimeError>;
    /// Opens a login shell with a TTY on `host`.
    async fn terminal(
        &self,
        sandbox: &str,
        host: &str,
        cols: u16,
        rows: u16,
    ) -> Result<Terminal, RuntimeError>;
}

/// [`LabRuntime`] over Docker.
pub struct DockerRuntime {
    driver: Driver,
    image: String,
}

impl DockerRuntime {
    /// Connects to Docker; `image` is the node image labs start from.
    pub async fn connect(image: &str) -> Result<DockerRuntime, RuntimeError> {
        let driver = Driver::connect().await.map_err(engine)?;
        Ok(DockerRuntime {
            driver,
            image: image.to_string(),
        })
    }

    /// Installs the host isolation rules and builds the node image if it is missing.
    pub async fn prepare(&self) -> anyhow::Result<()> {
        tokio::task::spawn_blocking(crate::isolation::install).await??;
        crate::sandbox::image::ensure(&self.driver, &self.image).await?;
        Ok(())
    }
}

fn engine(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Engine(e.to_string())
}

fn lab_name(s: &str) -> Result<LabName, RuntimeError> {
    s.parse::<LabName>().map_err(engine)
}

fn container(sandbox: &str, host: &str) -> Result<String, RuntimeError> {
    let ok = host == "client"
        || host.strip_prefix("node-").is_some_and(|n| {
            n.parse::<u8>()
                .is_ok_and(|n| (1..=plan::MAX_NODES).contains(&n))
        });
    if !ok {
        return Err(RuntimeError::NoHost(host.to_string()));
    }
    Ok(format!("kplab-{sandbox}-{host}"))
}

struct DockerResize(crate::sandbox::exec::TtyResizer);

#[async_trait]
impl Resize for DockerResize {
    async fn resize(&self, cols: u16, rows: u16) -> Result<(), RuntimeError> {
        self.0.resize(cols, rows).await.map_err(engine)
    }
}

#[async_trait]
impl LabRuntime for DockerRuntime {
    async fn up(
        &self,
        sandbox: &str,
        server: &str,
        learner: &str,
        nodes: u8,
    ) -> Result<(), RuntimeError> {
        let options = LabOptions {
            nodes,
            image: self.image.clone(),
            learner: Some(learner.to_string()),
            server: Some(server.to_string()).filter(|s| !s.is_empty()),
            ..LabOptions::default()
        };
        self.driver
            .up(&lab_name(sandbox)?, &options)
            .await
            .map_err(engine)?;
        Ok(())
    }

    async fn down(&self, sandbox: &str) -> Result<(), RuntimeError> {
        self.driver
            .down(&lab_name(sandbox)?)
            .await
            .map_err(engine)?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Sandbox>, RuntimeError> {
        let labs = self.driver.ls().await.map_err(engine)?;
        Ok(labs
            .into_iter()
            .filter(|l| l.name.starts_with(prefix))
            .map(|l| Sandbox {
                name: l.name,
                server: l.server,
            })
            .collect())
    }

    async fn health(&self, sandbox: &str) -> Result<Health, RuntimeError> {
        let labs = self.driver.ls().await.map_err(engine)?;
        let Some(lab) = labs.into_iter().find(|l| l.name == sandbox) else {
            return Ok(Health::Missing);
        };
        if lab.containers.is_empty() {
            return Ok(Health::Missing);
        }
        let mut broken: Vec<String> = lab
            .hosts
            .iter()
            .filter(|h| !lab.containers.contains_key(&format!("kplab-{sandbox}-{h}")))
            .map(|h| format!("{h} is gone"))
            .collect();
        broken.extend(
            lab.containers
                .iter()
                .filter(|(_, state)| state.as_str() != "running")
                .map(|(name, state)| {
                    format!(
                        "{} is {state}",
                        name.trim_start_matches(&format!("kplab-{sandbox}-"))
                    )
                }),
        );
        if broken.is_empty() {
            Ok(Health::Running)
        } else {
            Ok(Health::Broken(broken.join(", ")))
        }
    }

    async fn exec(&self, sandbox: &str, host: &str, argv: &[&str]) -> Result<Output, RuntimeError> {
        let c = container(sandbox, host)?;
        let out = self.driver.exec(&c, argv, None).await.map_err(engine)?;
        Ok(Output {
            code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    async fn terminal(
        &self,
        sandbox: &str,
        host: &str,
        cols: u16,
        rows: u16,
    ) -> Result<Terminal, RuntimeError> {
        let c = container(sandbox, host)?;
        let t = self
            .driver
            .exec_tty(&c, &["bash", "-l"], cols, rows)
            .await
            .map_err(engine)?;
        Ok(Terminal {
            output: Box::pin(t.output.map(|r| r.map_err(engine))),
            input: t.input,
            resizer: Arc::new(DockerResize(t.resizer)),
        })
    }
}
