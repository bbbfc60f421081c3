//! The real kubectl as the agent's tests run it: a subprocess against an in-process lab API
//! server. `kubectl` on PATH is a dispatcher; beside the file it resolves to are the versioned
//! binaries `kubectl.1.27` … `kubectl.1.33`. The tests use the newest.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The kubectl release the ported tests run.
pub const VERSION: &str = "1.33";
/// Where the versioned binaries are when `kubectl` is not on PATH.
const FALLBACK_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

/// The real `kubectl.1.33`, or None (the caller skips, saying why).
pub fn real_kubectl() -> Option<PathBuf> {
    let name = format!("kubectl.{VERSION}");
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("kubectl"))
            .find(|k| k.is_file())
    });
    let beside = on_path
        .and_then(|k| std::fs::canonicalize(k).ok())
        .and_then(|k| k.parent().map(|d| d.join(&name)));
    beside
        .into_iter()
        .chain([Path::new(FALLBACK_DIR).join(&name)])
        .find(|k| k.is_file())
}

/// Returns the real kubectl or, with a message, returns from the test.
#[macro_export]
macro_rules! real_kubectl_or_skip {
    () => {
        match common::real_kubectl() {
            Some(k) => k,
            None => {
                eprintln!(
                    "SKIPPED: no real kubectl.{} (none beside `kubectl` on PATH, none in /usr/lib/google-cloud-sdk/bin)",
                    common::VERSION
                );
                return;
            }
        }
    };
}

/// What one kubectl run left.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// The real kubectl pointed at one server through a kubeconfig of its own.
pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub cache_dir: PathBuf,
}

impl Kubectl {
    /// Writes `dir/kubeconfig` (context `lab`, namespace default) for the server at `url`.
    pub fn new(bin: PathBuf, dir: &Path, url: &str) -> Kubectl {
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {url}\n\
                 contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: learner\n\
                 current-context: lab\nusers:\n- name: learner\n  user: {{}}\n"
            ),
        )
        .unwrap();
        Kubectl {
            bin,
            kubeconfig,
            cache_dir: dir.join("kubectl-cache"),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!("--cache-dir={}", self.cache_dir.display()))
            .args(args)
            .env_remove("KUBECONFIG")
            .env_remove("KUBECTL_REMOTE_COMMAND_WEBSOCKETS")
            .env_remove("KUBE_EDITOR")
            .env_remove("EDITOR");
        c
    }

    /// Runs kubectl with `stdin` piped in and `env` set.
    pub fn run_env(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Out {
        let mut c = self.command(args);
        c.envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("the real kubectl runs");
        let mut input = child.stdin.take().unwrap();
        let text = stdin.to_string();
        std::thread::spawn(move || {
            let _ = input.write_all(text.as_bytes());
        });
        let out = wait_with_timeout(child, Duration::from_secs(60));
        Out {
            code: out.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Out {
        self.run_env(args, stdin, &[])
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.run_env(args, "", &[])
    }

    /// Runs kubectl, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "kubectl {args:?} failed: {}{}", o.out, o.err);
        o.out
    }
}

fn wait_with_timeout(child: Child, limit: Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("kubectl (pid {pid}) did not finish within {limit:?}");
        }
    }
}

/// Polls `f` every 50ms for up to 20s.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
