//! Command-line parsing with cobra/pflag's rules: flags anywhere (interspersed), `--flag=v`,
//! `--flag v`, `-n v`, `-nv`, `-owide`, combined booleans (`-it`), and `--` ending flags.

/// Whether a flag takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Takes the next argument (or `=value`).
    Value,
    /// Boolean; `--flag=false` is allowed.
    Bool,
    /// Takes a value only as `--flag=value`; bare means `default`.
    Optional(&'static str),
}

/// (long name, short letter, kind)
const FLAGS: &[(&str, Option<char>, Kind)] = &[
    ("namespace", Some('n'), Kind::Value),
    ("selector", Some('l'), Kind::Value),
    ("output", Some('o'), Kind::Value),
    ("filename", Some('f'), Kind::Value),
    ("all-namespaces", Some('A'), Kind::Bool),
    ("show-labels", None, Kind::Bool),
    ("no-headers", None, Kind::Bool),
    ("watch", Some('w'), Kind::Bool),
    ("image", None, Kind::Value),
    ("replicas", None, Kind::Value),
    ("port", None, Kind::Value),
    ("target-port", None, Kind::Value),
    ("type", None, Kind::Value),
    ("name", None, Kind::Value),
    ("protocol", None, Kind::Value),
    ("patch", Some('p'), Kind::Value),
    ("field-selector", None, Kind::Value),
    ("container", Some('c'), Kind::Value),
    ("grace-period", None, Kind::Value),
    ("timeout", None, Kind::Value),
    ("for", None, Kind::Value),
    ("dry-run", None, Kind::Optional("client")),
    ("wait", None, Kind::Optional("true")),
    ("overwrite", None, Kind::Optional("true")),
    ("validate", None, Kind::Optional("strict")),
    ("all", None, Kind::Optional("true")),
    ("force", None, Kind::Optional("true")),
    ("now", None, Kind::Optional("true")),
    ("stdin", Some('i'), Kind::Optional("true")),
    ("tty", Some('t'), Kind::Optional("true")),
    ("quiet", Some('q'), Kind::Optional("true")),
    ("client", None, Kind::Optional("true")),
    ("current", None, Kind::Optional("true")),
    ("restart", None, Kind::Value),
    ("labels", None, Kind::Value),
    ("env", None, Kind::Value),
    ("tail", None, Kind::Value),
    ("kubeconfig", None, Kind::Value),
    ("context", None, Kind::Value),
    ("server", Some('s'), Kind::Value),
    ("cluster", None, Kind::Value),
    ("user", None, Kind::Value),
    ("cascade", None, Kind::Optional("background")),
    ("recursive", Some('R'), Kind::Optional("true")),
    ("help", Some('h'), Kind::Bool),
    ("rm", None, Kind::Optional("true")),
    ("command", None, Kind::Optional("true")),
    ("external-ip", None, Kind::Value),
    ("cluster-ip", None, Kind::Value),
    ("session-affinity", None, Kind::Value),
    ("save-config", None, Kind::Optional("true")),
    ("record", None, Kind::Optional("true")),
    ("previous", None, Kind::Optional("true")),
    ("follow", None, Kind::Optional("true")),
    ("timestamps", None, Kind::Optional("true")),
    ("since", None, Kind::Value),
    ("minify", None, Kind::Optional("true")),
    ("show-kind", None, Kind::Optional("true")),
    ("sort-by", None, Kind::Value),
    ("api-group", None, Kind::Value),
    ("namespaced", None, Kind::Optional("true")),
    ("ignore-not-found", None, Kind::Optional("true")),
    ("v", Some('v'), Kind::Value),
];

/// The command word (`get`, `logs`…): the first positional argument, skipping the values of
/// flags given before it (`kubectl -n kube-system logs …`).
fn command_word(args: &[String]) -> Option<&str> {
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            return None;
        }
        if let Some(long) = a.strip_prefix("--") {
            let takes = FLAGS.iter().any(|f| f.0 == long && f.2 == Kind::Value);
            i += if takes { 2 } else { 1 };
            continue;
        }
        if a.len() == 2 && a.starts_with('-') {
            let c = a.chars().nth(1).unwrap_or(' ');
            let takes = FLAGS.iter().any(|f| f.1 == Some(c) && f.2 == Kind::Value);
            i += if takes { 2 } else { 1 };
            continue;
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        return Some(a);
    }
    None
}

/// Parsed arguments of one command.
#[derive(Debug, Default, Clone)]
pub struct Args {
    /// Positional arguments before `--` (the command words first).
    pub pos: Vec<String>,
    /// Flags by long name, in order; booleans carry `"true"`/`"false"`.
    pub flags: Vec<(String, String)>,
    /// The arguments after `--`, if `--` was given.
    pub rest: Option<Vec<String>>,
}

impl Args {
    /// Parses `args` (without argv[0]). `logs` gives `-f`/`-p` their `logs` meanings.
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let is_logs = command_word(args) == Some("logs");
        let mut out = Args::default();
        let mut i = 0;
        let lookup_short = |c: char| -> Option<(&'static str, Kind)> {
            if is_logs && c == 'f' {
                return Some(("follow", Kind::Optional("true")));
            }
            if is_logs && c == 'p' {
                return Some(("previous", Kind::Optional("true")));
            }
            FLAGS.iter().find(|f| f.1 == Some(c)).map(|f| (f.0, f.2))
        };
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if a == "--" {
                out.rest = Some(args[i..].to_vec());
                break;
            }
            if let Some(long) = a.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let Some(&(lname, _, kind)) = FLAGS.iter().find(|f| f.0 == name) else {
                    return Err(format!("unknown flag: --{name}"));
                };
                let value = match (kind, inline) {
                    (_, Some(v)) => v,
                    (Kind::Value, None) => {
                        let Some(v) = args.get(i) else {
                            return Err(format!("flag needs an argument: --{name}"));
                        };
                        i += 1;
                        v.clone()
                    }
                    (Kind::Bool, None) => "true".into(),
                    (Kind::Optional(d), None) => d.into(),
                };
                out.flags.push((lname.to_string(), value));
            } else if a.len() > 1
                && a.starts_with('-')
                && !a[1..].starts_with(|c: char| c.is_ascii_digit())
            {
                let chars: Vec<char> = a[1..].chars().collect();
                let mut j = 0;
                while j < chars.len() {
                    let c = chars[j];
                    let Some((lname, kind)) = lookup_short(c) else {
                        return Err(format!("unknown shorthand flag: '{c}' in {a}"));
                    };
                    j += 1;
                    match kind {
                        Kind::Value => {
                            let rest: String = chars[j..].iter().collect();
                            let v = if !rest.is_empty() {
                                rest.strip_prefix('=').unwrap_or(&rest).to_string()
                            } else if let Some(v) = args.get(i) {
                                i += 1;
                                v.clone()
                            } else {
                                return Err(format!("flag needs an argument: '{c}' in -{c}"));
                            };
                            out.flags.push((lname.to_string(), v));
                            break;
                        }
                        Kind::Bool | Kind::Optional(_) => {
                            let default = match kind {
                                Kind::Optional(d) => d,
                                _ => "true",
                            };
                            if chars.get(j) == Some(&'=') {
                                let v: String = chars[j + 1..].iter().collect();
                                out.flags.push((lname.to_string(), v));
                                break;
                            }
                            out.flags.push((lname.to_string(), default.to_string()));
                        }
                    }
                }
            } else {
                out.pos.push(a.clone());
            }
        }
        Ok(out)
    }

    /// The last value of a flag.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|f| f.0 == name)
            .map(|f| f.1.as_str())
    }

    /// Every value of a repeatable flag (`-f a -f b`, `--image x --image y`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|f| f.0 == name)
            .map(|f| f.1.as_str())
            .collect()
    }

    /// A boolean flag (absent = false).
    pub fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true") | Some("1"))
    }

    /// Whether the flag was given at all.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Args {
        Args::parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn interspersed_and_combined_flags() {
        let a = p("-n kube-system get pods -owide --show-labels -lapp=web");
        assert_eq!(a.pos, vec!["get", "pods"]);
        assert_eq!(a.get("namespace"), Some("kube-system"));
        assert_eq!(a.get("output"), Some("wide"));
        assert_eq!(a.get("selector"), Some("app=web"));
        assert!(a.bool("show-labels"));
        let e = p("exec -it web -n=dev -- sh -c ls");
        assert!(e.bool("stdin") && e.bool("tty"));
        assert_eq!(e.get("namespace"), Some("dev"));
        assert_eq!(e.rest.unwrap(), vec!["sh", "-c", "ls"]);
        let d = p("delete pod x --wait=false --dry-run");
        assert_eq!(d.get("wait"), Some("false"));
        assert_eq!(d.get("dry-run"), Some("client"));
        let l = p("logs -f web -p");
        assert!(l.bool("follow") && l.bool("previous"));
        let l = p("-n kube-system logs -f kube-proxy-node-1");
        assert!(l.bool("follow"));
        assert_eq!(l.pos, vec!["logs", "kube-proxy-node-1"]);
    }

    #[test]
    fn unknown_flags_are_errors() {
        let e = Args::parse(&["get".into(), "--bogus".into()]).unwrap_err();
        assert_eq!(e, "unknown flag: --bogus");
        let e = Args::parse(&["get".into(), "-x".into()]).unwrap_err();
        assert_eq!(e, "unknown shorthand flag: 'x' in -x");
    }
}

/// Property tests: a learner types kubectl's command lines. Any argv parses or is
/// refused with a message, never a panic.
#[cfg(test)]
mod props {
    use super::*;
    use crate::props::{config, nasty, CASES};
    use proptest::prelude::*;

    const FILE: &str = "proptest-regressions/kubectl_args.txt";

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec![
                "get", "logs", "exec", "wait", "apply", "delete", "pods", "svc", "-o", "-ojson",
                "-o=jsonpath={.items[*].metadata.name}", "-n", "-nkube-system", "--namespace",
                "--namespace=", "-l", "-lapp=web", "-f", "-fp", "-p", "-it", "-c", "--", "-",
                "--for=condition=Ready", "--for", "--timeout=1s", "--timeout", "--all", "-A",
                "--selector=app in (a,b)", "-=", "--=x", "---", "-\u{e9}", "--all=maybe",
            ])
            .prop_map(str::to_string),
            1 => nasty(),
        ]
    }

    proptest! {
        #![proptest_config(config(CASES, FILE))]

        #[test]
        fn any_command_line_parses_or_is_refused(argv in prop::collection::vec(word(), 0..8)) {
            match Args::parse(&argv) {
                Ok(a) => prop_assert!(a.pos.len() + a.flags.len() <= argv.len() * 2 + 1),
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }

    // Regression tests: every command line a property above ever failed on, by name.
}
