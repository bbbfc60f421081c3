//! The only place in the policy enforcer that runs `iptables-save` and `iptables-restore`.
//! Failures carry the command and the tool's stderr (for a restore, the offending line), so
//! that the log says what iptables said; a failed restore changes nothing (it is one
//! transaction), so the previous rules stay in force.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A failed iptables command.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{command} failed ({status}): {stderr}")]
pub struct IptablesError {
    /// The command line.
    pub command: String,
    /// Exit status, or why it could not start.
    pub status: String,
    /// The tool's stderr, trimmed.
    pub stderr: String,
}

/// The iptables tools (binary names configurable for tests).
#[derive(Debug, Clone)]
pub struct Iptables {
    /// `iptables-save`.
    pub save: String,
    /// `iptables-restore`.
    pub restore: String,
}

impl Default for Iptables {
    fn default() -> Self {
        Iptables {
            save: "iptables-save".into(),
            restore: "iptables-restore".into(),
        }
    }
}

fn run(bin: &str, args: &[&str], input: Option<&str>) -> Result<String, IptablesError> {
    let command = std::iter::once(bin)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let fail = |status: String, stderr: String| IptablesError {
        command: command.clone(),
        status,
        stderr,
    };
    let mut child = Command::new(bin)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail("not started".into(), e.to_string()))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| fail("stdin".into(), e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail("wait".into(), e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            out.status.to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Iptables {
    /// `iptables-save -t filter`.
    pub fn save_filter(&self) -> Result<String, IptablesError> {
        run(&self.save, &["-t", "filter"], None)
    }

    /// Feeds `text` to `iptables-restore -w 5 --noflush`; returns how long it took.
    pub fn restore_noflush(&self, text: &str) -> Result<Duration, IptablesError> {
        let t = Instant::now();
        run(&self.restore, &["-w", "5", "--noflush"], Some(text))?;
        Ok(t.elapsed())
    }
}
