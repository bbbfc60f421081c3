//! kube-proxy's command line, defined once: the flags that shape the rules come from netrules'
//! [`FLAG_SPECS`] (as the clap group [`RuleArgs`], flattened into both `kube-proxy` and
//! `kube-proxy render`), and each value reaches netrules' [`RuleFlags`] through
//! [`RuleFlags::set`], the one mapping. The sync loop's own flags are in [`Flags`].

use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, CommandFactory, FromArgMatches, Parser};
use netrules::kubeproxy::{FlagKind, FlagSpec, Flags as RuleFlags, FLAG_SPECS};

use crate::kube::contract;

/// The rule-shaping flags as a clap argument group: `#[command(flatten)]` it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleArgs(pub RuleFlags);

fn arg(s: &FlagSpec) -> Arg {
    let a = Arg::new(s.name).long(s.name).help(s.help);
    let a = match s.default {
        Some(d) => a.default_value(d),
        None => a,
    };
    match s.kind {
        FlagKind::Bool => a
            .num_args(0..=1)
            .default_missing_value("true")
            .value_parser(BoolishValueParser::new())
            .action(ArgAction::Set),
        FlagKind::Int => a
            .value_parser(clap::value_parser!(i64))
            .allow_negative_numbers(true),
        FlagKind::Text | FlagKind::OptionalText => a,
        FlagKind::List => a.action(ArgAction::Append).value_delimiter(','),
    }
}

impl Args for RuleArgs {
    fn augment_args(cmd: Command) -> Command {
        cmd.args(FLAG_SPECS.iter().map(arg))
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for RuleArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut f = RuleFlags::default();
        for s in FLAG_SPECS {
            let text = match s.kind {
                FlagKind::Bool => m.get_one::<bool>(s.name).map(bool::to_string),
                FlagKind::Int => m.get_one::<i64>(s.name).map(i64::to_string),
                FlagKind::Text | FlagKind::OptionalText => m.get_one::<String>(s.name).cloned(),
                FlagKind::List => m
                    .get_many::<String>(s.name)
                    .map(|v| v.cloned().collect::<Vec<_>>().join(",")),
            };
            if let Some(t) = text {
                f.set(s.name, &t)
                    .map_err(|e| clap::Error::raw(ErrorKind::ValueValidation, e))?;
            }
        }
        Ok(RuleArgs(f))
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// Parses a Go-style duration: `30s`, `1m`, `1m30s`, `250ms`, `1h`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    use crate::kube::time::DurationError;
    let s = s.trim();
    crate::kube::time::parse_go_duration(s).map_err(|e| match e {
        DurationError::Empty => "empty duration".to_string(),
        DurationError::MissingUnit => format!("invalid duration {s:?}: missing unit (e.g. 30s)"),
        DurationError::BadNumber(num) => format!("invalid duration {s:?}: bad number {num:?}"),
        DurationError::UnknownUnit(unit) => {
            format!("invalid duration {s:?}: unknown unit {unit:?}")
        }
        DurationError::OutOfRange => format!("invalid duration {s:?}: out of range"),
    })
}

/// kube-proxy's command line (the flags a lab uses keep upstream's names).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kube-proxy",
    about = "kplab kube-proxy (iptables or nftables mode): syncs Service rules to this node",
    long_about = "kplab kube-proxy: syncs Service rules to this node. The mode is --proxy-mode when given, else \
the `mode` of the kube-system/kube-proxy ConfigMap's config.conf (as on a kubeadm cluster: edit it, then delete this \
node's kube-proxy pod to restart kube-proxy), else iptables. At start it removes the other mode's rules."
)]
pub struct Flags {
    /// The flags that shape the rules (`--cluster-cidr` defaults to the lab's pod network here).
    #[command(flatten)]
    pub rules: RuleArgs,
    /// How often re-synchronising and clean-up work runs (`30s`, `1m`, `500ms`): in large
    /// clusters the stale-chain cleanup. It does not force full syncs (those come once an
    /// hour, as upstream's `FullSyncPeriod`).
    #[arg(long = "iptables-sync-period", default_value = "30s", value_parser = parse_duration)]
    pub sync_period: Duration,
    /// Minimum time between syncs after a burst of 2 (lab default 250ms; upstream 1s).
    #[arg(long = "iptables-min-sync-period", default_value = "250ms", value_parser = parse_duration)]
    pub min_sync_period: Duration,
    /// Log verbosity, klog style (2 shows every sync; lab default 2).
    #[arg(long = "v", short = 'v', default_value_t = 2)]
    pub v: u8,
    /// The lab API server (default: `KPLAB_APISERVER`).
    #[arg(long = "master", alias = "apiserver")]
    pub master: Option<String>,
    /// Sync once and exit.
    #[arg(long)]
    pub once: bool,
    /// Print the payload that would be applied instead of applying it (no iptables access).
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// How often to look for the canary chains (nftables mode: for the `kube-proxy` table).
    #[arg(long = "canary-check-period", default_value = "5s", value_parser = parse_duration)]
    pub canary_period: Duration,
    /// `--proxy-mode` was given: it wins over the `kube-system/kube-proxy` ConfigMap's `mode`.
    #[arg(skip)]
    pub proxy_mode_explicit: bool,
}

impl Flags {
    /// Parses `kube-proxy [flags]` (`args[0]` is the program name). On a node, the pod network
    /// is the lab's, so `--cluster-cidr` defaults to it (`kube-proxy render` has no default).
    pub fn parse_from_args<S: AsRef<str>>(args: &[S]) -> Result<Flags, clap::Error> {
        let cmd =
            Flags::command().mut_arg("cluster-cidr", |a| a.default_value(contract::CLUSTER_CIDR));
        let m = cmd.try_get_matches_from(args.iter().map(AsRef::as_ref))?;
        let mut f = Flags::from_arg_matches(&m)?;
        f.proxy_mode_explicit =
            m.value_source("proxy-mode") == Some(clap::parser::ValueSource::CommandLine);
        Ok(f)
    }

    /// The node name: `--hostname-override`, else `KPLAB_NODE_NAME`, else the hostname.
    pub fn node_name(&self) -> String {
        self.rules
            .0
            .hostname_override
            .clone()
            .or_else(|| std::env::var("KPLAB_NODE_NAME").ok())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| "localhost".into())
    }

    /// netrules' flags for the planner; without `--node-ip`, `KPLAB_NODE_IP` is the node IP.
    pub fn rule_flags(&self) -> RuleFlags {
        let mut f = self.rules.0.clone();
        if f.node_ip.is_none() {
            f.node_ip = std::env::var("KPLAB_NODE_IP")
                .ok()
                .filter(|s| !s.is_empty());
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("10").unwrap_err().contains("missing unit"));
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn sync_defaults_are_a_lab_nodes() {
        let f = Flags::parse_from_args(&["kube-proxy"]).unwrap();
        let want = RuleFlags {
            cluster_cidr: contract::CLUSTER_CIDR.into(),
            ..RuleFlags::default()
        };
        assert_eq!(f.rules.0, want);
        assert_eq!(f.sync_period, Duration::from_secs(30));
        assert_eq!(f.min_sync_period, Duration::from_millis(250));
        let f = Flags::parse_from_args(&[
            "kube-proxy",
            "--nodeport-addresses=10.0.0.0/8",
            "--nodeport-addresses",
            "172.28.5.0/24,127.0.0.0/8",
            "--masquerade-all",
            "--random-fully=false",
        ])
        .unwrap();
        assert_eq!(
            f.rules.0.nodeport_addresses,
            "10.0.0.0/8,172.28.5.0/24,127.0.0.0/8"
        );
        assert!(f.rules.0.masquerade_all);
        assert!(!f.rules.0.random_fully);
    }
}

/// Property tests: kube-proxy's duration flags read Go durations. Any value gives a
/// duration or an error naming the value, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{config, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/proxy_sync.txt";

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_duration_parses_or_is_refused(
            t in crate::props::duration_text()
        ) {
            match parse_duration(&t) {
                Ok(_) => {}
                Err(e) => prop_assert!(
                    e == "empty duration" || e.starts_with(&format!("invalid duration {:?}", t.trim())),
                    "{}", e
                ),
            }
        }
    }

    // Regression tests: every value a property above ever failed on, by name.

    /// Found by `any_duration_parses_or_is_refused`: `Duration::from_secs_f64` panicked on a
    /// number of seconds a Duration cannot hold, and adding two huge parts overflowed.
    #[test]
    fn regression_duration_too_big_is_refused() {
        assert_eq!(
            parse_duration("99999999999999999999s").unwrap_err(),
            "invalid duration \"99999999999999999999s\": out of range"
        );
        assert_eq!(
            parse_duration("18446744073709551615s18446744073709551615s").unwrap_err(),
            "invalid duration \"18446744073709551615s18446744073709551615s\": out of range"
        );
    }
}
