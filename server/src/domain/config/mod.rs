//! `kplab serve` configuration: flags with environment fallbacks, validated once into
//! [`Config`]. The database URL is redacted in `Debug`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub mod error;
pub mod guard;

pub use error::ConfigError;
use guard::{Guard, GuardArgs};

/// `kplab serve` flags (each also read from the named environment variable).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KPLAB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory for the SQLite database and the cookie key.
    #[arg(long, env = "KPLAB_DATA_DIR", default_value = "kplab-data")]
    pub data_dir: PathBuf,
    /// Lab content.
    #[arg(long, env = "KPLAB_LABS", default_value = "labs")]
    pub labs: PathBuf,
    /// Static files (xterm.js, CSS, the page script).
    #[arg(long, env = "KPLAB_STATIC", default_value = "static")]
    pub static_dir: PathBuf,
    /// Most labs running at once.
    #[arg(long, env = "KPLAB_MAX_LABS", default_value_t = 20)]
    pub max_labs: usize,
    /// Idle seconds before a lab is stopped.
    #[arg(long, env = "KPLAB_IDLE_SECS", default_value_t = 1800)]
    pub idle_secs: u64,
    /// Seconds between lifecycle sweeps (expiry, lost labs, orphans).
    #[arg(long, env = "KPLAB_SWEEP_SECS", default_value_t = 15)]
    pub sweep_secs: u64,
    /// Request timeout in seconds (checks included).
    #[arg(long, env = "KPLAB_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,
    /// Prefix of the Docker lab names this server owns (orphans with it, labelled with this
    /// server's id or with no server id, are removed).
    #[arg(long, env = "KPLAB_LAB_PREFIX", default_value = "kpl-")]
    pub lab_prefix: String,
    /// Node image.
    #[arg(long, env = "KPLAB_IMAGE", default_value = crate::sandbox::plan::DEFAULT_IMAGE)]
    pub image: String,
}

/// Validated configuration.
#[derive(Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL (`sqlite:` file under `data_dir` unless `DATABASE_URL` is set).
    pub database_url: String,
    /// Lab content directory.
    pub labs: PathBuf,
    /// Static files.
    pub static_dir: PathBuf,
    /// Most live labs.
    pub max_labs: usize,
    /// Idle timeout.
    pub idle: Duration,
    /// Sweep interval.
    pub sweep: Duration,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Docker lab name prefix.
    pub lab_prefix: String,
    /// Node image.
    pub image: String,
    /// Instructor token (workshops are off without one); set by
    /// [`WorkshopArgs::apply`].
    pub instructor_token: Option<String>,
    /// The server's defences (origin check, limits, proxies, metrics); set by
    /// [`GuardArgs::apply`], the secure defaults otherwise.
    pub guard: Guard,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &crate::store::redact(&self.database_url))
            .field("labs", &self.labs)
            .field("static_dir", &self.static_dir)
            .field("max_labs", &self.max_labs)
            .field("idle", &self.idle)
            .field("sweep", &self.sweep)
            .field("request_timeout", &self.request_timeout)
            .field("lab_prefix", &self.lab_prefix)
            .field("image", &self.image)
            .field(
                "instructor_token",
                &self.instructor_token.as_ref().map(|_| "***"),
            )
            .field("trusted_proxies", &self.guard.trusted_proxies)
            .field("secure_cookies", &self.guard.secure_cookies)
            .field("header_timeout", &self.guard.header_timeout)
            .field("max_connections", &self.guard.max_connections)
            .field("metrics", &self.guard.metrics)
            .finish()
    }
}

impl Config {
    /// Validates flags plus `DATABASE_URL`.
    pub fn from_args(a: ServeArgs, database_url: Option<String>) -> Result<Config, ConfigError> {
        let err = |name, reason: &str| ConfigError {
            name,
            reason: reason.to_string(),
        };
        if a.max_labs == 0 {
            return Err(err("--max-labs / KPLAB_MAX_LABS", "must be at least 1"));
        }
        if a.idle_secs < 10 {
            return Err(err("--idle-secs / KPLAB_IDLE_SECS", "must be at least 10"));
        }
        if a.sweep_secs == 0 {
            return Err(err("--sweep-secs / KPLAB_SWEEP_SECS", "must be at least 1"));
        }
        if a.lab_prefix.is_empty()
            || a.lab_prefix.len() > 12
            || !a
                .lab_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(err(
                "--lab-prefix / KPLAB_LAB_PREFIX",
                "must be 1-12 of a-z, 0-9, '-'",
            ));
        }
        let database_url = match database_url.filter(|u| !u.is_empty()) {
            Some(u)
                if u.starts_with("postgres://")
                    || u.starts_with("postgresql://")
                    || u.starts_with("sqlite:") =>
            {
                u
            }
            Some(_) => {
                return Err(err(
                    "DATABASE_URL",
                    "must start with postgres:// or sqlite:",
                ))
            }
            None => format!("sqlite:{}?mode=rwc", a.data_dir.join("kplab.db").display()),
        };
        Ok(Config {
            listen: a.listen,
            data_dir: a.data_dir,
            database_url,
            labs: a.labs,
            static_dir: a.static_dir,
            max_labs: a.max_labs,
            idle: Duration::from_secs(a.idle_secs),
            sweep: Duration::from_secs(a.sweep_secs),
            request_timeout: Duration::from_secs(a.request_timeout_secs.max(1)),
            lab_prefix: a.lab_prefix,
            image: a.image,
            instructor_token: None,
            guard: Guard::default(),
        })
    }
}

/// `kplab serve` flags of workshops.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WorkshopArgs {
    /// Token that authenticates the instructor (pages and `Authorization: Bearer` API). Without
    /// it the instructor pages and API are off (404).
    #[arg(long, env = "KPLAB_INSTRUCTOR_TOKEN", hide_env_values = true)]
    pub instructor_token: Option<String>,
}

impl WorkshopArgs {
    /// Validates the token into the config (at least 12 printable ASCII characters).
    pub fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
        match self.instructor_token.filter(|t| !t.is_empty()) {
            None => config.instructor_token = None,
            Some(t) if t.len() >= 12 && t.bytes().all(|b| b.is_ascii_graphic()) => {
                config.instructor_token = Some(t)
            }
            Some(_) => {
                return Err(ConfigError {
                    name: "--instructor-token / KPLAB_INSTRUCTOR_TOKEN",
                    reason: "must be at least 12 printable characters without spaces".into(),
                })
            }
        }
        Ok(())
    }
}

// Here rather than in `guard`, so that the guard's settings do not import `Config` back.
impl GuardArgs {
    /// Validates into `config.guard`.
    pub fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
        config.guard = self.validate()?;
        Ok(())
    }
}
