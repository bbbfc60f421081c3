//! Shared harness of the Docker-driven end-to-end tests: builds the node image once per test
//! binary (through the same code path as `kplab image build`), starts labs through the same
//! code path as `kplab cluster up`, removes them even when a test panics, and runs a file's
//! scenarios one by one against a shared lab, reporting every failure.
//!
//! These tests need Docker and root. They are `#[ignore]`d so that plain `cargo test` stays
//! fast; the README's test command (`--include-ignored`) runs them, and then a missing Docker
//! daemon is a failure, never a skip.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kplab::sandbox::image::{self, BaseMethod, BuildOptions};
use kplab::sandbox::{Driver, ExecOutput, LabInfo, LabName, LabOptions};

/// One multi-threaded runtime per test binary.
pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// The Docker driver; panics (fails the test) with the reason when Docker is not there.
pub fn driver() -> Driver {
    rt().block_on(Driver::connect())
        .unwrap_or_else(|e| panic!("these tests need a running Docker daemon: {e}"))
}

/// Builds the node image if it is missing or older than the agent, once per test binary.
pub fn ensure_image() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let driver = driver();
        let options = BuildOptions {
            repo: image::find_repo().expect("repository"),
            base: BaseMethod::Auto,
            tag: kplab::sandbox::plan::DEFAULT_IMAGE.to_string(),
            force: false,
            kubectl: kplab::sandbox::kubectl::KubectlSpec::from_env()
                .unwrap_or_else(|e| panic!("KPLAB_KUBECTL: {e}")),
        };
        let report = rt()
            .block_on(image::build(&driver, &options))
            .unwrap_or_else(|e| panic!("building the node image: {e}"));
        eprintln!(
            "node image {} (rebuilt: {}, agent {}, kubectl {})",
            report.image,
            report.image_built,
            &report.agent_sha256[..12],
            report.kubectl
        );
    });
}

/// A lab for the duration of a test file; removed on drop, also after a panic.
pub struct TestLab {
    /// What `cluster up` printed.
    pub info: LabInfo,
    driver: Driver,
    name: LabName,
}

impl TestLab {
    /// Starts a lab named `name` (removing a leftover of the same name first).
    pub fn up(name: &str) -> TestLab {
        Self::up_with(name, LabOptions::default())
    }

    /// Starts a lab with options.
    pub fn up_with(name: &str, options: LabOptions) -> TestLab {
        assert!(name.starts_with("hs-"), "test labs are named hs-…");
        ensure_image();
        let driver = driver();
        let lab: LabName = name.parse().expect("lab name");
        let _ = rt().block_on(driver.down(&lab));
        let t = Instant::now();
        let info = rt()
            .block_on(kplab::cluster_up(&driver, &lab, &options))
            .unwrap_or_else(|e| panic!("kplab cluster up {name}: {e:#}"));
        eprintln!(
            "lab {name} up in {:.2} s: {}",
            t.elapsed().as_secs_f64(),
            info.subnet
        );
        TestLab {
            info,
            driver,
            name: lab,
        }
    }

    /// Container of `node-N` (1-based).
    pub fn node(&self, n: usize) -> &str {
        &self.info.nodes[n - 1].container
    }

    /// Lab address of `node-N`.
    pub fn node_ip(&self, n: usize) -> &str {
        &self.info.nodes[n - 1].ip
    }

    /// Container of the client.
    pub fn client(&self) -> &str {
        &self.info.client.container
    }

    /// Runs argv in a container.
    pub fn exec(&self, container: &str, argv: &[&str]) -> ExecOutput {
        rt().block_on(self.driver.exec(container, argv, None))
            .unwrap_or_else(|e| panic!("docker exec {container} {argv:?}: {e}"))
    }

    /// Runs a shell script in a container.
    pub fn sh(&self, container: &str, script: &str) -> ExecOutput {
        self.exec(container, &["sh", "-c", script])
    }

    /// Runs a shell script in a container and returns stdout; panics naming the script if it fails.
    pub fn sh_ok(&self, container: &str, script: &str) -> String {
        let out = self.sh(container, script);
        assert!(
            out.success(),
            "`{script}` in {container} exited {}:\nstdout: {}\nstderr: {}",
            out.code,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// `kubectl ARGS…` on node-1.
    pub fn kubectl(&self, args: &[&str]) -> ExecOutput {
        let mut argv = vec!["kubectl"];
        argv.extend_from_slice(args);
        self.exec(self.node(1), &argv)
    }

    /// `kubectl ARGS…` on node-1 that must succeed; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.success(),
            "kubectl {} exited {}:\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.code,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// `kubectl apply -f -` with `yaml` on stdin.
    pub fn kubectl_stdin(&self, args: &[&str], yaml: &str) -> ExecOutput {
        let mut argv = vec!["kubectl"];
        argv.extend_from_slice(args);
        rt().block_on(self.driver.exec(self.node(1), &argv, Some(yaml.as_bytes())))
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"))
    }

    /// `kubectl get KIND NAME -o json` as JSON.
    pub fn get_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl_ok(&a);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("kubectl {a:?} printed no JSON ({e}): {out}"))
    }

    /// The lab's driver.
    pub fn driver(&self) -> &Driver {
        &self.driver
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        match rt().block_on(self.driver.down(&self.name)) {
            Ok(_) => eprintln!("lab {} removed", self.name),
            Err(e) => eprintln!("removing lab {}: {e}", self.name),
        }
    }
}

/// Polls `f` until it returns `Some`, or panics after `timeout` naming what was awaited.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A scenario of a test file: a name that reads like the sentence it proves, and its body.
pub type Scenario = (&'static str, fn(&TestLab));

/// Runs every scenario against the lab, each isolated from the others' panics, prints one
/// line per scenario and fails at the end naming every scenario that failed.
pub fn run_scenarios(lab: &TestLab, scenarios: &[Scenario]) {
    let mut failed = Vec::new();
    for (name, body) in scenarios {
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| body(lab)));
        let secs = t.elapsed().as_secs_f64();
        match result {
            Ok(()) => eprintln!("scenario {name} ... ok ({secs:.1} s)"),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                eprintln!("scenario {name} ... FAILED ({secs:.1} s): {msg}");
                failed.push(*name);
            }
        }
    }
    assert!(failed.is_empty(), "failed scenarios: {failed:?}");
}

/// Runs a host command; returns (exit code, stdout, stderr).
pub fn host(cmd: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Parses the pod server's one-line JSON answers (`{"pod":…,"node":…,"podIP":…,"client":…}`).
pub fn answers(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter(|v| v.get("pod").is_some())
        .collect()
}

/// Removes every lab whose name starts with the prefix when dropped, also after a panic (the
/// server's own shutdown does it on success).
pub struct LabsGone(pub &'static str);

impl Drop for LabsGone {
    fn drop(&mut self) {
        let prefix = self.0;
        // A fresh thread: the test's own runtime may be the one unwinding.
        let _ = std::thread::spawn(move || {
            let d = driver();
            rt().block_on(async {
                for l in d.ls().await.unwrap_or_default() {
                    if l.name.starts_with(prefix) {
                        if let Ok(name) = l.name.parse::<kplab::sandbox::LabName>() {
                            let _ = d.down(&name).await;
                        }
                    }
                }
            });
        })
        .join();
    }
}
