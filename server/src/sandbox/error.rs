//! Errors of the sandbox driver.
//!
//! Policy: one variant per failure a caller can act on (Docker down, lab exists, lab missing,
//! image missing, lab not ready, image build failed); every message names the object and the
//! step that failed, and Docker's own message is kept as the source.

use super::plan::{NameError, PlanError};

/// A sandbox failure.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The Docker daemon could not be reached.
    #[error("Docker is not running: cannot connect to {socket}: {cause}")]
    DockerUnavailable {
        /// The socket or host tried.
        socket: String,
        /// Bollard's error (in the message, so not also a `source`).
        cause: bollard::errors::Error,
    },
    /// `up` of a lab whose objects already exist.
    #[error("lab {0} already exists (remove it with `kplab cluster down {0}`)")]
    LabExists(String),
    /// `down` or exec on a lab that has no objects.
    #[error("lab {0} does not exist")]
    LabNotFound(String),
    /// The node image is not there.
    #[error("image {0} is missing: build it with `kplab image build`")]
    ImageMissing(String),
    /// No free /24 in the pool.
    #[error("no free /24 left in the lab subnet pool {0}")]
    SubnetsExhausted(String),
    /// The lab's nodes did not become Ready.
    #[error("lab {lab} did not become ready: {detail}")]
    NotReady {
        /// Lab name.
        lab: String,
        /// What the readiness command said.
        detail: String,
    },
    /// A Docker API call failed.
    #[error("{what}: {cause}")]
    Docker {
        /// What was being done, naming the object.
        what: String,
        /// Bollard's error (in the message, so not also a `source`).
        cause: bollard::errors::Error,
    },
    /// Building an image failed.
    #[error("image build failed: {0}")]
    Build(String),
    /// A bad lab name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Bad lab options.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Local I/O (temp files, tar, spawning processes).
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error (in the message, so not also a `source`).
        cause: std::io::Error,
    },
}

impl SandboxError {
    /// Wraps a bollard error with what was being done.
    pub(crate) fn docker(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Self {
        let what = what.into();
        move |cause| SandboxError::Docker { what, cause }
    }

    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |cause| SandboxError::Io { what, cause }
    }
}

/// Docker's HTTP status code of a failed call, if it was a server response.
pub(crate) fn status_code(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}
