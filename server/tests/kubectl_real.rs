//! The real kubectl against a fresh lab: the steps of `kubectl_suite.yaml` (what a CKA learner
//! types around Services, with what a real cluster prints), run once per kubectl release on
//! this host from 1.29 up (`kubectl`, `kubectl.1.NN` on the PATH and beside the file `kubectl`
//! links to) and once inside node-1, whose `kubectl` must be the real binary. Each run has its
//! own namespace. Every failed step is reported, not only the first.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kplab_testkit::lab::TestLab;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    run: String,
    #[serde(default)]
    out: Vec<String>,
    #[serde(default)]
    err: Vec<String>,
    #[serde(default)]
    not: Vec<String>,
    #[serde(default)]
    code: i32,
    #[serde(default)]
    retry: u64,
}

fn suite() -> Vec<Step> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kubectl_suite.yaml");
    let text = std::fs::read_to_string(&path).expect("read kubectl_suite.yaml");
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn re(pattern: &str) -> Regex {
    RegexBuilder::new(pattern)
        .multi_line(true)
        .build()
        .unwrap_or_else(|e| panic!("bad regex {pattern:?}: {e}"))
}

/// What one run of a step printed.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Where a run's steps execute.
trait Shell {
    fn name(&self) -> String;
    fn run(&self, script: &str) -> Outcome;
}

/// A host kubectl, as `kubectl` first on the PATH, with its own kubeconfig and cache.
struct Host {
    kubectl: PathBuf,
    version: String,
    dir: tempfile::TempDir,
    ns: String,
}

impl Host {
    fn new(kubectl: PathBuf, version: String, server: &str, ns: &str) -> Host {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::os::unix::fs::symlink(&kubectl, dir.path().join("bin/kubectl")).unwrap();
        std::fs::write(
            dir.path().join("config"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster: {{server: \"{server}\"}}\n\
                 contexts:\n- name: lab\n  context: {{cluster: lab, user: lab, namespace: {ns}}}\n\
                 current-context: lab\nusers:\n- name: lab\n  user: {{}}\n"
            ),
        )
        .unwrap();
        Host {
            kubectl,
            version,
            dir,
            ns: ns.to_string(),
        }
    }
}

impl Shell for Host {
    fn name(&self) -> String {
        format!("host {} ({})", self.version, self.kubectl.display())
    }

    fn run(&self, script: &str) -> Outcome {
        let d = self.dir.path();
        let path = format!(
            "{}:{}",
            d.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("timeout")
            .args(["120", "bash", "-c"])
            .arg(format!("set -o pipefail\n{script}"))
            .env("PATH", path)
            .env("KUBECONFIG", d.join("config"))
            .env("KUBECACHEDIR", d.join("cache"))
            .env("NS", &self.ns)
            .env("TMP", d.join("tmp"))
            .output()
            .expect("run bash");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// node-1's own kubectl, through `docker exec`.
struct Node<'a> {
    lab: &'a TestLab,
    ns: String,
}

impl Shell for Node<'_> {
    fn name(&self) -> String {
        "inside node-1".to_string()
    }

    fn run(&self, script: &str) -> Outcome {
        let tmp = format!("/tmp/suite-{}", self.ns);
        let full = format!(
            "export NS={ns} TMP={tmp} KUBECONFIG={tmp}/config\nset -o pipefail\n{script}",
            ns = self.ns
        );
        let out = self
            .lab
            .exec(self.lab.node(1), &["timeout", "120", "bash", "-c", &full]);
        Outcome {
            code: out.code as i32,
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }
}

/// Runs every step; returns the failures, each with what was expected and what came.
fn run_suite(shell: &dyn Shell, steps: &[Step]) -> Vec<String> {
    let mut failures = Vec::new();
    let t = Instant::now();
    for (i, step) in steps.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(step.retry);
        let problems = loop {
            let o = shell.run(&step.run);
            let mut problems = Vec::new();
            if o.code != step.code {
                problems.push(format!("exit code {} (expected {})", o.code, step.code));
            }
            for p in &step.out {
                if !re(p).is_match(&o.stdout) {
                    problems.push(format!("stdout does not match {p:?}"));
                }
            }
            for p in &step.err {
                if !re(p).is_match(&o.stderr) {
                    problems.push(format!("stderr does not match {p:?}"));
                }
            }
            for p in &step.not {
                if re(p).is_match(&o.stdout) {
                    problems.push(format!("stdout matches {p:?}"));
                }
            }
            if problems.is_empty() || Instant::now() >= deadline {
                break problems
                    .into_iter()
                    .map(|p| (p, o.stdout.clone(), o.stderr.clone()))
                    .collect::<Vec<_>>();
            }
            std::thread::sleep(Duration::from_secs(1));
        };
        if let Some((_, stdout, stderr)) = problems.first() {
            let what: Vec<&str> = problems.iter().map(|(p, _, _)| p.as_str()).collect();
            failures.push(format!(
                "[{}] step {}: {}\n  {}\n  --- stdout:\n{}\n  --- stderr:\n{}",
                shell.name(),
                i + 1,
                step.run.trim(),
                what.join("\n  "),
                indent(stdout),
                indent(stderr)
            ));
        }
    }
    eprintln!(
        "{}: {} steps, {} failed, {:.1} s",
        shell.name(),
        steps.len(),
        failures.len(),
        t.elapsed().as_secs_f64()
    );
    failures
}

fn indent(s: &str) -> String {
    s.lines()
        .take(40)
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `gitVersion` of a kubectl, if it is one.
fn client_version(path: &Path) -> Option<String> {
    let out = Command::new(path)
        .args(["version", "--client", "-o", "json"])
        .env("KUBECONFIG", "/dev/null")
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.pointer("/clientVersion/gitVersion")?
        .as_str()
        .map(String::from)
}

/// One kubectl per minor release from 1.29 on this host.
fn host_kubectls() -> Vec<(PathBuf, String)> {
    let path = std::env::var("PATH").unwrap_or_default();
    let mut found = Vec::new();
    for minor in kplab::sandbox::kubectl::MIN_MINOR..=40 {
        for c in kplab::sandbox::kubectl::host_candidates(minor, &path) {
            let Some(v) = client_version(&c) else {
                continue;
            };
            if kplab::sandbox::kubectl::parse_git_version(&v).map(|(m, _)| m) == Some(minor) {
                found.push((c, v));
                break;
            }
        }
    }
    found
}

#[test]
#[ignore = "needs Docker and root"]
fn the_real_kubectl_drives_a_lab_as_a_real_cluster() {
    let steps = suite();
    assert!(steps.len() >= 60, "the suite has {} steps", steps.len());
    let kubectls = host_kubectls();
    assert!(
        !kubectls.is_empty(),
        "no kubectl 1.{}+ on this host's PATH (nor beside the file `kubectl` links to)",
        kplab::sandbox::kubectl::MIN_MINOR
    );
    let lab = TestLab::up("hs-kubectl");
    let server = format!("http://{}:6443", lab.node_ip(1));

    let inside = lab.kubectl(&["version", "--client", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&inside.stdout)
        .unwrap_or_else(|e| panic!("node-1 kubectl version: {e}: {}", inside.stdout));
    let node_version = v["clientVersion"]["gitVersion"].as_str().unwrap_or("");
    assert!(
        kplab::sandbox::kubectl::parse_git_version(node_version).is_some(),
        "node-1's kubectl is not a real kubectl release: {node_version:?}"
    );

    let mut failures = Vec::new();
    for (path, version) in kubectls {
        let ns = format!(
            "suite-{}",
            version.trim_start_matches('v').replace('.', "-")
        );
        lab.kubectl_ok(&["create", "namespace", &ns]);
        let host = Host::new(path, version, &server, &ns);
        failures.extend(run_suite(&host, &steps));
    }
    let ns = "suite-node".to_string();
    lab.kubectl_ok(&["create", "namespace", &ns]);
    lab.sh_ok(
        lab.node(1),
        &format!(
            "mkdir -p /tmp/suite-{ns} && kubectl config view --raw > /tmp/suite-{ns}/config && \
             kubectl --kubeconfig /tmp/suite-{ns}/config config set-context --current --namespace={ns}"
        ),
    );
    failures.extend(run_suite(&Node { lab: &lab, ns }, &steps));
    assert!(
        failures.is_empty(),
        "{} failed steps:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_suite_parses_and_its_patterns_compile() {
    let steps = suite();
    assert!(steps.len() >= 60, "the suite has {} steps", steps.len());
    for s in &steps {
        assert!(
            s.run.contains("kubectl"),
            "a step without kubectl: {}",
            s.run
        );
        for p in s.out.iter().chain(&s.err).chain(&s.not) {
            re(p);
        }
    }
}

#[test]
#[ignore = "needs Docker and root"]
fn the_official_python_client_lists_creates_patches_and_watches() {
    let python = std::env::var("KPLAB_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let probe = Command::new(&python)
        .args(["-c", "import kubernetes"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        probe.status.success(),
        "{python} has no `kubernetes` package (./test installs it in a venv and sets \
         KPLAB_TEST_PYTHON): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let lab = TestLab::up("hs-pyclient");
    lab.kubectl_ok(&["create", "namespace", "py"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_client.py");
    let out = Command::new("timeout")
        .arg("180")
        .arg(&python)
        .arg(&script)
        .arg(format!("http://{}:6443", lab.node_ip(1)))
        .arg("py")
        .output()
        .expect("run the python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "the python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok   watch services from a resourceVersion"));
}
