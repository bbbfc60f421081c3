//! The only place in the agent that runs `iptables`, `iptables-restore`, `iptables-save`,
//! `conntrack` and `nft`: kube-proxy (both modes), the NetworkPolicy enforcer, the kubelet's
//! outgoing NAT, `kplab-node`'s removal of Docker's DNS rules and `nftrace` all go through it.
//!
//! Everything here is a thin, synchronous wrapper around the real binaries (nft backend in the
//! lab image). Failures carry the command line and the tool's own stderr, so that a learner
//! reading the kube-proxy log sees what iptables said.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use super::process::spawn_piped;

/// A failure of one iptables command: what was run, its exit status and its stderr.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{command} failed ({status}): {stderr}")]
pub struct IptablesError {
    /// The command line, e.g. `iptables-restore -w 5 --noflush`.
    pub command: String,
    /// `exit status: 2`, or why the binary could not be started.
    pub status: String,
    /// The tool's stderr, trimmed (for restores: the line number of the offending rule).
    pub stderr: String,
}

/// One rule installed outside the restore: `-t TABLE -I CHAIN ARGS… -j TARGET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpRule {
    /// `filter`, `nat` or `mangle`.
    pub table: String,
    /// The built-in chain jumped from (`INPUT`, `PREROUTING`, …).
    pub chain: String,
    /// The match arguments before `-j` (may be empty).
    pub args: Vec<String>,
    /// The chain jumped to (created if missing).
    pub target: String,
}

/// Runs the iptables tools. Cheap to clone; the binary names are configurable so tests and
/// benchmarks can point at other builds.
#[derive(Debug, Clone)]
pub struct Iptables {
    /// `iptables`.
    pub iptables: String,
    /// `iptables-restore`.
    pub restore: String,
    /// `iptables-save`.
    pub save: String,
    /// `conntrack` (conntrack-tools).
    pub conntrack: String,
    /// `nft` (kube-proxy's nftables mode).
    pub nft: String,
}

impl Default for Iptables {
    fn default() -> Self {
        Iptables {
            iptables: "iptables".into(),
            restore: "iptables-restore".into(),
            save: "iptables-save".into(),
            conntrack: "conntrack".into(),
            nft: "nft".into(),
        }
    }
}

fn command_line(bin: &str, args: &[&str]) -> String {
    let mut s = bin.to_string();
    for a in args {
        s.push(' ');
        if a.contains(' ') || a.is_empty() {
            s.push('"');
            s.push_str(a);
            s.push('"');
        } else {
            s.push_str(a);
        }
    }
    s
}

impl Iptables {
    fn run(&self, bin: &str, args: &[&str], stdin: Option<&str>) -> Result<String, IptablesError> {
        self.run_full(bin, args, stdin).map(|(stdout, _)| stdout)
    }

    /// Runs `bin ARGS…` (feeding `stdin`); returns its stdout and trimmed stderr.
    fn run_full(
        &self,
        bin: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<(String, String), IptablesError> {
        let cmdline = command_line(bin, args);
        let fail = |status: String, stderr: String| IptablesError {
            command: cmdline.clone(),
            status,
            stderr,
        };
        let mut child = spawn_piped(Command::new(bin).args(args), stdin.is_some())
            .map_err(|e| fail(format!("could not start {bin}"), e.to_string()))?;
        if let Some(text) = stdin {
            // Write from a thread so a tool that prints a lot while reading cannot deadlock us.
            let mut pipe = child.stdin.take().expect("stdin was piped");
            let text = text.to_string();
            let writer = std::thread::spawn(move || pipe.write_all(text.as_bytes()));
            let out = child
                .wait_with_output()
                .map_err(|e| fail("wait failed".into(), e.to_string()))?;
            let write_result = writer.join();
            return finish(out, fail, write_result.ok().and_then(|r| r.err()));
        }
        let out = child
            .wait_with_output()
            .map_err(|e| fail("wait failed".into(), e.to_string()))?;
        finish(out, fail, None)
    }

    /// Feeds `text` (`*filter … COMMIT *nat … COMMIT`) to `iptables-restore -w 5 --noflush`.
    /// Each table is committed atomically by the kernel: on failure nothing of that table
    /// changes, and the error carries iptables-restore's stderr. Returns the time it took.
    pub fn restore_noflush(&self, text: &str) -> Result<Duration, IptablesError> {
        let start = Instant::now();
        self.run(&self.restore, &["-w", "5", "--noflush"], Some(text))?;
        Ok(start.elapsed())
    }

    /// Feeds `text` to `iptables-restore -w --noflush`, waiting for the xtables lock as long as
    /// it takes (the kubelet's outgoing NAT, installed once at start).
    pub fn restore_noflush_wait(&self, text: &str) -> Result<(), IptablesError> {
        self.run(&self.restore, &["-w", "--noflush"], Some(text))
            .map(|_| ())
    }

    /// Feeds `text` to `iptables-restore -w 5` (flushing the tables it names): the baseline the
    /// benchmark compares with.
    pub fn restore_flush(&self, text: &str) -> Result<Duration, IptablesError> {
        let start = Instant::now();
        self.run(&self.restore, &["-w", "5"], Some(text))?;
        Ok(start.elapsed())
    }

    /// `iptables-save [-t TABLE]`.
    pub fn save(&self, table: Option<&str>) -> Result<String, IptablesError> {
        match table {
            Some(t) => self.run(&self.save, &["-t", t], None),
            None => self.run(&self.save, &[], None),
        }
    }

    /// The user-defined and built-in chain names of one table (from `iptables-save -t TABLE`).
    pub fn chains(&self, table: &str) -> Result<BTreeSet<String>, IptablesError> {
        Ok(chains_in_save(&self.save(Some(table))?))
    }

    /// Whether `chain` exists in `table` (`iptables -w -t TABLE -S CHAIN 1`).
    pub fn chain_exists(&self, table: &str, chain: &str) -> bool {
        // `-S CHAIN 1` prints at most one rule, so this stays cheap on big tables.
        self.run(&self.iptables, &["-w", "-t", table, "-S", chain, "1"], None)
            .is_ok()
    }

    /// Creates `chain` in `table` unless it exists (`iptables -w -t TABLE -N CHAIN`; "already
    /// exists" is success, as in upstream's `EnsureChain`).
    pub fn ensure_chain(&self, table: &str, chain: &str) -> Result<(), IptablesError> {
        match self.run(&self.iptables, &["-w", "-t", table, "-N", chain], None) {
            Ok(_) => Ok(()),
            Err(e) if e.stderr.contains("already exists") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Installs one jump rule the way kube-proxy does: `iptables -C` and, only if the rule is
    /// absent, `iptables -I CHAIN` (at the top). The target chain must exist
    /// ([`Iptables::ensure_chain`]). Returns whether the rule had to be inserted.
    pub fn ensure_jump(&self, rule: &JumpRule) -> Result<bool, IptablesError> {
        let mut spec: Vec<&str> = rule.args.iter().map(String::as_str).collect();
        spec.push("-j");
        spec.push(&rule.target);
        let mut check = vec!["-w", "-t", rule.table.as_str(), "-C", rule.chain.as_str()];
        check.extend(&spec);
        if self.run(&self.iptables, &check, None).is_ok() {
            return Ok(false);
        }
        let mut insert = vec!["-w", "-t", rule.table.as_str(), "-I", rule.chain.as_str()];
        insert.extend(&spec);
        self.run(&self.iptables, &insert, None)?;
        Ok(true)
    }

    /// `iptables ARGS…` (the configured binary, e.g. `iptables-nft`); returns its stdout.
    pub fn run_iptables(&self, args: &[&str]) -> Result<String, IptablesError> {
        self.run(&self.iptables, args, None)
    }

    /// `conntrack ARGS…`; returns its stdout.
    pub fn run_conntrack(&self, args: &[&str]) -> Result<String, IptablesError> {
        self.run(&self.conntrack, args, None)
    }

    /// `conntrack -L -f FAMILY -p udp`: the UDP entries of one family, as the tool prints them.
    pub fn conntrack_list_udp(&self, ipv6: bool) -> Result<String, IptablesError> {
        let family = if ipv6 { "ipv6" } else { "ipv4" };
        self.run(&self.conntrack, &["-L", "-f", family, "-p", "udp"], None)
    }

    /// `conntrack ARGS…` for a `-D` filter. Returns how many entries were deleted ("0 flow
    /// entries", which conntrack reports with exit status 1, is not an error).
    pub fn conntrack_delete(&self, args: &[String]) -> Result<usize, IptablesError> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let deleted = |text: &str| {
            text.split("conntrack-tools): ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        };
        match self.run_full(&self.conntrack, &args, None) {
            Ok((_, stderr)) => Ok(deleted(&stderr).unwrap_or(0)),
            Err(e) if deleted(&e.stderr) == Some(0) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// nftables, for kube-proxy's nftables mode.
impl Iptables {
    /// Feeds a transaction to `nft -f -`. The kernel applies it atomically: on failure nothing
    /// changes, and the error carries nft's stderr (with the offending line). Returns the time
    /// it took.
    pub fn nft_apply(&self, transaction: &str) -> Result<Duration, IptablesError> {
        let start = Instant::now();
        self.run(&self.nft, &["-f", "-"], Some(transaction))?;
        Ok(start.elapsed())
    }

    /// The names of the chains and of the sets and maps of `table` in `family` (`ip`, `ip6`),
    /// from `nft -j list table`; `None` when there is no such table.
    pub fn nft_table_objects(
        &self,
        family: &str,
        table: &str,
    ) -> Result<Option<NftObjectNames>, IptablesError> {
        match self.run_full(&self.nft, &["-j", "list", "table", family, table], None) {
            Ok((out, _)) => Ok(Some(nft_object_names(&out))),
            Err(e) if e.stderr.contains("No such file or directory") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `table` exists in `family`.
    pub fn nft_table_exists(&self, family: &str, table: &str) -> bool {
        self.run(&self.nft, &["list", "table", family, table], None)
            .is_ok()
    }

    /// Deletes `table` of `family` if it exists (`nft delete table`). Returns whether it existed.
    pub fn nft_delete_table(&self, family: &str, table: &str) -> Result<bool, IptablesError> {
        match self.run_full(&self.nft, &["delete", "table", family, table], None) {
            Ok(_) => Ok(true),
            Err(e) if e.stderr.contains("No such file or directory") => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The chain names, and the set and map names, of an nftables table.
pub type NftObjectNames = (Vec<String>, Vec<String>);

/// The chain names and the set and map names in `nft -j list table` output.
pub fn nft_object_names(json: &str) -> NftObjectNames {
    let mut chains = Vec::new();
    let mut sets = Vec::new();
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    for item in v
        .get("nftables")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
    {
        let name = |k: &str| item.pointer(&format!("/{k}/name")).and_then(|n| n.as_str());
        if let Some(n) = name("chain") {
            chains.push(n.to_string());
        } else if let Some(n) = name("set").or_else(|| name("map")) {
            sets.push(n.to_string());
        }
    }
    (chains, sets)
}

fn finish(
    out: std::process::Output,
    fail: impl Fn(String, String) -> IptablesError,
    write_error: Option<std::io::Error>,
) -> Result<(String, String), IptablesError> {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(fail(out.status.to_string(), stderr));
    }
    if let Some(e) = write_error {
        return Err(fail("stdin write failed".into(), e.to_string()));
    }
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), stderr))
}

/// The chain names declared in `iptables-save` text (`:NAME POLICY [p:b]` lines), over all
/// tables in it.
pub fn chains_in_save(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// `iptables-save` text without the `#` comment lines (which carry dates) and without
/// counters: the form tests and learners compare.
pub fn strip_save_comments(text: &str) -> String {
    let mut out = String::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chain_names_from_save_output() {
        let save = "# Generated\n*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SVC-AAA - [0:0]\n-A KUBE-SVC-AAA -j RETURN\nCOMMIT\n";
        let chains = chains_in_save(save);
        assert_eq!(
            chains.into_iter().collect::<Vec<_>>(),
            vec!["KUBE-SVC-AAA".to_string(), "PREROUTING".to_string()]
        );
        assert_eq!(
            strip_save_comments(save).lines().next(),
            Some("*nat"),
            "comment lines are dropped"
        );
    }

    #[test]
    fn missing_binary_is_a_clear_error() {
        let ipt = Iptables {
            restore: "/nonexistent/iptables-restore".into(),
            ..Iptables::default()
        };
        let e = ipt.restore_noflush("*nat\nCOMMIT\n").unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent/iptables-restore"),
            "{e}"
        );
        assert!(e.status.contains("could not start"), "{e:?}");
    }
}
