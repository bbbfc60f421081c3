//! A configuration value that is wrong.

/// A configuration value that is wrong, naming its variable.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    /// Flag / environment variable.
    pub name: &'static str,
    /// Why.
    pub reason: String,
}
