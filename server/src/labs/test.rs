//! `kplab labs test [DIR] [--lab ID] [--jobs N]`: every lab's reference solution on a fresh
//! lab cluster.
//!
//! Per lab: start a lab cluster (`crate::engine`'s runtime, as the web platform's), then for
//! each step in order:
//! 1. switch kube-proxy to the step's mode when the lab names one (`proxyMode`, as the web
//!    platform does: `crate::engine::proxy_mode`), then run `setup` (each command must exit
//!    0; a failed switch or a failing setup ends the lab's run);
//! 2. run every check of every task without an answer: the "before" results;
//! 3. run each runnable code block of the step's text (` ```sh run=HOST `, ` ```sh run ` on
//!    `node-1`) in order, as typed into the terminal's shell (an interactive login bash: every
//!    command line must exit 0, so `cmd; echo $?` passes); a block that fails is retried until
//!    `--settle` has passed, since the cluster converges asynchronously (a learner reads for a
//!    moment before the next block), then it is a failure;
//! 4. run `solution` (each command must exit 0, no retries);
//! 5. work out the reference `answers` (a literal, or a command's trimmed output);
//! 6. run every task with its answer until all pass or `--settle` has passed: every check
//!    must pass.
//!
//! Every task with a check other than an answer check must be earned: a task without an
//! answer check that passes in its "before" results fails the lab, unless it is
//! `observe: true` (it only asks the learner to look). A task that passes all but its answer
//! check is noted. Across the lab, at least one task must have had a failing check other than
//! an answer check in its "before" results: otherwise every check passes vacuously, before the
//! learner did anything. The lab is removed afterwards, also when something failed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use labkit::wire::TaskOutcome;
use labkit::{HostCommand, Lab, ReferenceAnswer, Step};
use serde::Serialize;

use crate::engine::grade::run_task;
use crate::engine::proxy_mode::{ensure_proxy_mode, Switch, SWITCH_TIMEOUT};
use crate::engine::runtime::{DockerRuntime, LabRuntime};

/// Prefix of the lab clusters this command starts (`lt-<lab>-<random>`).
pub const SANDBOX_PREFIX: &str = "lt-";
/// The learner label of those labs.
pub const LEARNER: &str = "kplab-labs-test";

/// How to run the tests.
#[derive(Debug, Clone)]
pub struct Options {
    /// Labs tested at once.
    pub jobs: usize,
    /// Node image.
    pub image: String,
    /// How long runnable blocks are retried and the final checks polled.
    pub settle: Duration,
    /// Longest a single command may run.
    pub command_timeout: Duration,
    /// The JSON report goes to stdout: print the human report to stderr.
    pub json: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 2,
            image: crate::sandbox::plan::DEFAULT_IMAGE.to_string(),
            settle: Duration::from_secs(60),
            command_timeout: Duration::from_secs(180),
            json: false,
        }
    }
}

/// One command run in the lab.
#[derive(Debug, Clone, Serialize)]
pub struct CommandRun {
    /// `proxy` (kube-proxy switched to the step's mode), `setup`, `block`, `solution`,
    /// `answer`, or `state` (gathered after a failure).
    pub what: String,
    /// Host it ran on.
    pub host: String,
    /// The command.
    pub run: String,
    /// Source file and line (runnable blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Exit code (-1 when it could not run or timed out).
    pub code: i64,
    /// Standard output (its last 2000 characters).
    pub stdout: String,
    /// Standard error, or why it could not run (its last 2000 characters).
    pub stderr: String,
    /// Exited 0?
    pub ok: bool,
    /// Runs (more than 1 when a runnable block was retried).
    pub attempts: u32,
    /// Milliseconds in all.
    pub ms: u64,
}

impl CommandRun {
    /// `exited N`, or `timed out after N s`.
    pub fn outcome(&self) -> String {
        if self.code == -1 && self.stderr.starts_with("timed out") {
            self.stderr.clone()
        } else {
            format!("exited {}", self.code)
        }
    }
}

/// One task of a step.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRun {
    /// Task id.
    pub task: String,
    /// Results after setup, without an answer.
    pub before: TaskOutcome,
    /// A check other than an answer check failed before the solution.
    pub failed_before: bool,
    /// The task is `observe: true`: it only asks the learner to look, so it may pass before
    /// the learner acts.
    pub observe_only: bool,
    /// The reference answer submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Results after the solution (the last poll).
    pub after: Option<TaskOutcome>,
}

/// One step of a lab.
#[derive(Debug, Clone, Serialize)]
pub struct StepRun {
    /// File stem.
    pub step: String,
    /// Title.
    pub title: String,
    /// Source file.
    pub file: PathBuf,
    /// Setup, runnable blocks, solution and answer commands, in the order they ran.
    pub commands: Vec<CommandRun>,
    /// Tasks in order.
    pub tasks: Vec<TaskRun>,
    /// What failed in this step.
    pub problems: Vec<String>,
}

/// One lab's run.
#[derive(Debug, Clone, Serialize)]
pub struct LabRun {
    /// Lab id.
    pub lab: String,
    /// Title.
    pub title: String,
    /// The lab cluster's name.
    pub sandbox: String,
    /// Everything held.
    pub passed: bool,
    /// Wall time, start to removal.
    pub seconds: f64,
    /// Time to start the lab cluster.
    pub start_seconds: f64,
    /// Steps that ran.
    pub steps: Vec<StepRun>,
    /// Lab-wide problems (start, vacuous checks, removal).
    pub problems: Vec<String>,
    /// Not failures, worth a look: tasks whose checks (other than answer checks) all passed
    /// before the solution.
    pub notes: Vec<String>,
    /// When a step failed: the cluster's state and the components' recent logs, taken before
    /// the lab was removed (a failure that depends on timing is gone by the next run).
    pub diagnostics: Vec<CommandRun>,
}

/// What a failed lab leaves behind for whoever reads the report: objects from node-1, then
/// each node's recent kube-proxy, kubelet and NetworkPolicy (calico-node) logs.
fn diagnostic_commands(nodes: usize) -> Vec<(String, String)> {
    let mut out = vec![(
        "node-1".to_string(),
        "kubectl get nodes,pods,services,endpointslices,networkpolicies -A -o wide".to_string(),
    )];
    for n in 1..=nodes.max(1) {
        out.push((
            format!("node-{n}"),
            "for c in kube-proxy kubelet calico-node; do echo \"== $c\"; tail -n 25 /var/log/kplab/$c.log 2>&1; done"
                .to_string(),
        ));
    }
    out
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every lab passed.
    pub passed: bool,
    /// Wall time.
    pub seconds: f64,
    /// Labs in catalog order.
    pub labs: Vec<LabRun>,
}

fn tail(s: &str, n: usize) -> String {
    let s = s.trim_end();
    let count = s.chars().count();
    if count <= n {
        s.to_string()
    } else {
        format!("…{}", s.chars().skip(count - n).collect::<String>())
    }
}

/// A lab cluster name for `lab`: `lt-<id>-<4 hex>`, within the 40 characters a lab name has.
pub fn sandbox_name(lab: &str) -> String {
    let id: String = lab.chars().take(30).collect();
    let id = id.trim_end_matches('-');
    format!("{SANDBOX_PREFIX}{id}-{:04x}", rand::random::<u16>())
}

/// Selects the labs to test: all, or those named (every name must exist).
pub fn select<'a>(catalog: &'a labkit::Catalog, ids: &[String]) -> anyhow::Result<Vec<&'a Lab>> {
    if ids.is_empty() {
        return Ok(catalog.labs.iter().collect());
    }
    let mut out = Vec::new();
    for id in ids {
        match catalog.lab(id) {
            Some(l) => out.push(l),
            None => anyhow::bail!(
                "no lab {id:?} (labs: {})",
                catalog
                    .labs
                    .iter()
                    .map(|l| l.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    Ok(out)
}

/// Prepares Docker (host isolation rules, node image) and tests `labs`, `jobs` at a time.
/// Labs started are removed also on Ctrl-C.
pub async fn run(labs: Vec<Lab>, options: &Options) -> anyhow::Result<Report> {
    let rt = DockerRuntime::connect(&options.image)
        .await
        .map_err(|e| anyhow::anyhow!("kplab labs test needs Docker: {e}"))?;
    rt.prepare().await?;
    let rt: Arc<dyn LabRuntime> = Arc::new(rt);
    let active: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let work = test_all(rt.clone(), labs, options, active.clone());
    tokio::select! {
        report = work => Ok(report),
        _ = tokio::signal::ctrl_c() => {
            let names: Vec<String> = active.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
            for n in names {
                eprintln!("interrupted: removing lab {n}");
                let _ = rt.down(&n).await;
            }
            anyhow::bail!("interrupted")
        }
    }
}

/// Tests `labs` on `rt`, `jobs` at a time; results in the order of `labs`.
pub async fn test_all(
    rt: Arc<dyn LabRuntime>,
    labs: Vec<Lab>,
    options: &Options,
    active: Arc<Mutex<BTreeSet<String>>>,
) -> Report {
    let t0 = Instant::now();
    let jobs = options.jobs.max(1);
    let mut runs: Vec<(usize, LabRun)> = futures_util::stream::iter(labs.into_iter().enumerate())
        .map(|(i, lab)| {
            let rt = rt.clone();
            let active = active.clone();
            let options = options.clone();
            async move {
                let sandbox = sandbox_name(&lab.id);
                active
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(sandbox.clone());
                let run = test_lab(rt.as_ref(), &lab, &sandbox, &options).await;
                active
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&sandbox);
                if options.json {
                    eprintln!("{}", render_lab(&run));
                } else {
                    println!("{}", render_lab(&run));
                }
                (i, run)
            }
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    runs.sort_by_key(|(i, _)| *i);
    let labs: Vec<LabRun> = runs.into_iter().map(|(_, r)| r).collect();
    Report {
        passed: labs.iter().all(|l| l.passed),
        seconds: t0.elapsed().as_secs_f64(),
        labs,
    }
}

/// Tests one lab on a new lab cluster named `sandbox`, and removes it.
pub async fn test_lab(rt: &dyn LabRuntime, lab: &Lab, sandbox: &str, options: &Options) -> LabRun {
    let t0 = Instant::now();
    eprintln!("[{}] starting lab cluster {sandbox}", lab.id);
    let mut run = LabRun {
        lab: lab.id.clone(),
        title: lab.title.clone(),
        sandbox: sandbox.to_string(),
        passed: false,
        seconds: 0.0,
        start_seconds: 0.0,
        steps: Vec::new(),
        problems: Vec::new(),
        notes: Vec::new(),
        diagnostics: Vec::new(),
    };
    // No server id: `labs test` labs are not a server's, no sweep looks for them.
    let started = rt.up(sandbox, "", LEARNER, lab.nodes).await;
    run.start_seconds = t0.elapsed().as_secs_f64();
    match started {
        Err(e) => run
            .problems
            .push(format!("the lab cluster did not start: {e}")),
        Ok(()) => {
            let mut completed = true;
            for (index, step) in lab.steps.iter().enumerate() {
                eprintln!("[{}] step {}", lab.id, step.id);
                let (report, go_on) = test_step(rt, sandbox, lab, index, options).await;
                run.steps.push(report);
                if !go_on {
                    completed = false;
                    break;
                }
            }
            let any_failed_before = run
                .steps
                .iter()
                .flat_map(|s| &s.tasks)
                .any(|t| t.failed_before);
            for s in &run.steps {
                for t in &s.tasks {
                    let graded = t.before.checks.iter().any(|c| c.kind != "answer");
                    let answered = t.before.checks.iter().any(|c| c.kind == "answer");
                    if t.observe_only || t.failed_before || !graded {
                        continue;
                    }
                    if answered {
                        // The typed answer is what earns it; worth a look all the same.
                        run.notes.push(format!(
                            "{}: task {:?} passes all but its answer check before its solution",
                            s.step, t.task
                        ));
                    } else {
                        run.problems.push(format!(
                            "{}: task {:?} passes before the learner acts: its setup must leave the state its checks fail on, or, if nothing the learner does can change it, mark it `observe: true`",
                            s.step, t.task
                        ));
                    }
                }
            }
            if completed && !any_failed_before {
                run.problems.push(
                    "no task failed before its solution: every check passes vacuously (at least one task's checks must fail before the solution is applied)".into(),
                );
            }
        }
    }
    let step_failed = run.steps.iter().any(|s| !s.problems.is_empty());
    if step_failed {
        for (host, cmd) in diagnostic_commands(usize::from(lab.nodes)) {
            let t = Instant::now();
            let (code, stdout, stderr) = exec(
                rt,
                sandbox,
                &host,
                &["sh", "-c", &cmd],
                options.command_timeout,
            )
            .await;
            run.diagnostics.push(CommandRun {
                what: "state".into(),
                host,
                run: cmd,
                at: None,
                code,
                stdout: tail(&stdout, 6000),
                stderr: tail(&stderr, 2000),
                ok: code == 0,
                attempts: 1,
                ms: t.elapsed().as_millis() as u64,
            });
        }
    }
    if let Err(e) = rt.down(sandbox).await {
        run.problems
            .push(format!("removing the lab cluster {sandbox}: {e}"));
    }
    run.seconds = t0.elapsed().as_secs_f64();
    run.passed = run.problems.is_empty() && run.steps.iter().all(|s| s.problems.is_empty());
    eprintln!(
        "[{}] {} in {:.1} s",
        lab.id,
        if run.passed { "passed" } else { "FAILED" },
        run.seconds
    );
    run
}

async fn exec(
    rt: &dyn LabRuntime,
    sandbox: &str,
    host: &str,
    argv: &[&str],
    timeout: Duration,
) -> (i64, String, String) {
    match tokio::time::timeout(timeout, rt.exec(sandbox, host, argv)).await {
        Ok(Ok(o)) => (o.code, o.stdout, o.stderr),
        Ok(Err(e)) => (-1, String::new(), format!("could not run: {e}")),
        Err(_) => (
            -1,
            String::new(),
            format!("timed out after {} s", timeout.as_secs()),
        ),
    }
}

/// [`ensure_proxy_mode`] as a report's command (`proxy` on node-1): stdout says whether it
/// switched, stderr why it failed.
async fn switch_proxy_mode(
    rt: &dyn LabRuntime,
    sandbox: &str,
    nodes: u8,
    mode: labkit::ProxyMode,
    options: &Options,
) -> CommandRun {
    let t0 = Instant::now();
    let switch = ensure_proxy_mode(rt, sandbox, nodes, mode, SWITCH_TIMEOUT);
    let (code, stdout, stderr) = match tokio::time::timeout(options.command_timeout, switch).await {
        Ok(Ok(Switch::Switched)) => (0, "switched".to_string(), String::new()),
        Ok(Ok(Switch::Unchanged)) => (0, "already in this mode".to_string(), String::new()),
        Ok(Ok(Switch::Synced)) => (
            0,
            "already in this mode (waited for kube-proxy's first sync)".to_string(),
            String::new(),
        ),
        Ok(Err(e)) => (-1, String::new(), format!("{e:#}")),
        Err(_) => (
            -1,
            String::new(),
            format!("timed out after {} s", options.command_timeout.as_secs()),
        ),
    };
    CommandRun {
        what: "proxy".into(),
        host: "node-1".into(),
        run: format!("kube-proxy mode: {mode}"),
        at: None,
        code,
        stdout,
        stderr: tail(&stderr, 2000),
        ok: code == 0,
        attempts: 1,
        ms: t0.elapsed().as_millis() as u64,
    }
}

/// A step's `sh -c` command (setup, solution, reference answer) on its host, run once.
async fn host_command(
    rt: &dyn LabRuntime,
    sandbox: &str,
    what: &str,
    c: &HostCommand,
    options: &Options,
) -> CommandRun {
    command(
        rt,
        sandbox,
        what,
        &c.host,
        &c.run,
        None,
        Shell::Sh,
        None,
        options,
    )
    .await
}

/// Runs one command; with `retry_for`, again every 2 s until it succeeds or that time passed.
#[allow(clippy::too_many_arguments)]
async fn command(
    rt: &dyn LabRuntime,
    sandbox: &str,
    what: &str,
    host: &str,
    run: &str,
    at: Option<String>,
    shell: Shell,
    retry_for: Option<Duration>,
    options: &Options,
) -> CommandRun {
    let t0 = Instant::now();
    let script;
    let argv: Vec<&str> = match shell {
        Shell::Sh => vec!["sh", "-c", run],
        Shell::Terminal => {
            script = terminal_command(run);
            vec!["sh", "-c", &script]
        }
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (code, stdout, stderr) = exec(rt, sandbox, host, &argv, options.command_timeout).await;
        let (code, stderr) = match shell {
            Shell::Terminal if !stderr.starts_with("timed out") => terminal_result(code, &stderr),
            _ => (code, stderr),
        };
        let done = code == 0
            || retry_for.is_none_or(|d| t0.elapsed() + Duration::from_secs(2) > d)
            || stderr.starts_with("timed out");
        if done {
            return CommandRun {
                what: what.to_string(),
                host: host.to_string(),
                run: run.to_string(),
                at,
                code,
                stdout: tail(&stdout, 2000),
                stderr: tail(&stderr, 2000),
                ok: code == 0,
                attempts,
                ms: t0.elapsed().as_millis() as u64,
            };
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[derive(Clone, Copy)]
enum Shell {
    /// `sh -c`, as setup commands and the grader run.
    Sh,
    /// As typed into the terminal's shell, line by line: see [`terminal_command`].
    Terminal,
}

const BEGIN: &str = "__kplab_labs_test_begin";
const STATUS: &str = "__kplab_labs_test_status=";

/// A shell command that feeds `block` to an interactive login bash (the terminal's shell:
/// its profile, aliases such as `k`, a prompt between commands) on standard input. Before each
/// prompt, `PROMPT_COMMAND` reports a non-zero status of the command line just run, so that
/// `cmd; echo $?` passes as it does in the terminal while a failing line anywhere fails.
pub fn terminal_command(block: &str) -> String {
    let script = format!(
        "PS1= PS2= PROMPT_COMMAND='__s=$?; [ \"$__s\" = 0 ] || echo \"{STATUS}$__s\" >&2'\necho {BEGIN} >&2\n{block}\n"
    );
    let b64 = data_encoding::BASE64.encode(script.as_bytes());
    format!("echo {b64} | base64 -d | bash --noediting -l -i")
}

/// The block's exit code and its own standard error: the shell's exit code when it exited
/// non-zero (`exit 3`), else the first non-zero status of a command line; the shell's notes
/// (no job control, prompts before the block, `logout`) removed.
pub fn terminal_result(code: i64, stderr: &str) -> (i64, String) {
    let own = match stderr.find(BEGIN) {
        Some(i) => stderr[i + BEGIN.len()..].trim_start_matches('\n'),
        None => stderr,
    };
    let mut first_failure = None;
    let mut lines: Vec<&str> = Vec::new();
    for l in own.lines() {
        match l.strip_prefix(STATUS) {
            Some(st) => {
                if first_failure.is_none() {
                    first_failure = st.trim().parse::<i64>().ok();
                }
            }
            None => lines.push(l),
        }
    }
    if matches!(lines.last(), Some(&"logout") | Some(&"exit")) {
        lines.pop();
    }
    let code = if code != 0 {
        code
    } else {
        first_failure.unwrap_or(0)
    };
    (code, lines.join("\n"))
}

fn failed_checks(o: &TaskOutcome) -> String {
    o.checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{} check {:?}: {}", c.kind, c.title, flat(&c.detail)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Tests step `index` of `lab`; the flag says whether the lab's later steps can run (false
/// after a failed kube-proxy switch or a failing setup).
async fn test_step(
    rt: &dyn LabRuntime,
    sandbox: &str,
    lab: &Lab,
    index: usize,
    options: &Options,
) -> (StepRun, bool) {
    let step: &Step = &lab.steps[index];
    let file = step
        .file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut report = StepRun {
        step: step.id.clone(),
        title: step.title.clone(),
        file: step.file.clone(),
        commands: Vec::new(),
        tasks: Vec::new(),
        problems: Vec::new(),
    };
    // 1. kube-proxy's mode, then setup
    if let Some(mode) = lab.proxy_mode_at(index) {
        let c = switch_proxy_mode(rt, sandbox, lab.nodes, mode, options).await;
        let ok = c.ok;
        if !ok {
            report.problems.push(format!(
                "{file}: switching kube-proxy to {mode} mode failed: {}; the lab's later steps were not run",
                flat(&c.stderr)
            ));
        }
        report.commands.push(c);
        if !ok {
            return (report, false);
        }
    }
    for s in &step.setup {
        let c = host_command(rt, sandbox, "setup", s, options).await;
        let ok = c.ok;
        report.commands.push(c);
        if !ok {
            report.problems.push(format!(
                "{file}: setup `{}` on {} failed; the lab's later steps were not run",
                s.run, s.host
            ));
            return (report, false);
        }
    }
    // 2. before
    for t in &step.tasks {
        let before = run_task(rt, sandbox, t, None).await;
        let failed_before = before
            .checks
            .iter()
            .any(|c| !c.passed && c.kind != "answer");
        report.tasks.push(TaskRun {
            task: t.id.clone(),
            before,
            failed_before,
            observe_only: t.observe,
            answer: None,
            after: None,
        });
    }
    // 3. runnable blocks
    for b in step.runnable_blocks() {
        let host = b.host.clone().unwrap_or_else(|| "node-1".to_string());
        let at = format!("{file}:{}", b.line);
        let c = command(
            rt,
            sandbox,
            "block",
            &host,
            b.code.trim_end(),
            Some(at.clone()),
            Shell::Terminal,
            Some(options.settle),
            options,
        )
        .await;
        if !c.ok {
            report.problems.push(format!(
                "{at}: runnable block on {host} {} (after {} attempt(s))",
                c.outcome(),
                c.attempts
            ));
        }
        report.commands.push(c);
    }
    // 4. solution
    for s in &step.solution {
        let c = host_command(rt, sandbox, "solution", s, options).await;
        if !c.ok {
            report.problems.push(format!(
                "{file}: solution `{}` on {} {}",
                s.run,
                s.host,
                c.outcome()
            ));
        }
        report.commands.push(c);
    }
    // 5. answers
    for (i, t) in step.tasks.iter().enumerate() {
        if !t.needs_answer() {
            continue;
        }
        let answer = match step.answers.get(&t.id) {
            Some(ReferenceAnswer::Literal(a)) => Some(a.clone()),
            Some(ReferenceAnswer::Command(s)) => {
                let c = host_command(rt, sandbox, "answer", s, options).await;
                let a = c.ok.then(|| c.stdout.trim().to_string());
                if !c.ok {
                    report.problems.push(format!(
                        "{file}: the reference answer command of task {:?} {}",
                        t.id,
                        c.outcome()
                    ));
                }
                report.commands.push(c);
                a
            }
            None => {
                report.problems.push(format!(
                    "{file}: task {:?} has no reference answer under `answers:`",
                    t.id
                ));
                None
            }
        };
        report.tasks[i].answer = answer;
    }
    // 6. after: poll the failing tasks until all pass or the settle time is over.
    let deadline = Instant::now() + options.settle;
    loop {
        let mut all = true;
        for (i, t) in step.tasks.iter().enumerate() {
            if report.tasks[i].after.as_ref().is_some_and(|o| o.passed) {
                continue;
            }
            let answer = report.tasks[i].answer.clone();
            let o = run_task(rt, sandbox, t, answer.as_deref()).await;
            all &= o.passed;
            report.tasks[i].after = Some(o);
        }
        if all || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    for t in &report.tasks {
        if let Some(o) = t.after.as_ref().filter(|o| !o.passed) {
            report.problems.push(format!(
                "{file}: task {:?} fails after the solution: {}",
                t.task,
                failed_checks(o)
            ));
        }
    }
    (report, true)
}

/// A detail on one line (answers and command output may span lines).
fn flat(s: &str) -> String {
    s.trim().replace('\n', "⏎")
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn one_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("");
    if s.lines().count() > 1 {
        format!("{l} …")
    } else {
        l.to_string()
    }
}

/// The human report of one lab: per step, per task, before and after; failing commands with
/// their output.
pub fn render_lab(r: &LabRun) -> String {
    let mut out = format!(
        "== {} ({}): {} in {:.1} s (lab cluster {} started in {:.1} s)\n",
        r.lab,
        r.title,
        if r.passed { "PASS" } else { "FAIL" },
        r.seconds,
        r.sandbox,
        r.start_seconds
    );
    for s in &r.steps {
        out.push_str(&format!("  step {} ({})\n", s.step, s.title));
        let mut cmds = s.commands.iter().peekable();
        // The kube-proxy switch and the setup commands come first.
        while let Some(c) = cmds.next_if(|c| c.what == "proxy" || c.what == "setup") {
            out.push_str(&render_command(c));
        }
        for t in &s.tasks {
            let verdict = if t.before.passed && t.observe_only {
                "pass (observe only)"
            } else if t.before.passed {
                "pass"
            } else if t.failed_before {
                "fail"
            } else {
                "fail (no answer)"
            };
            out.push_str(&format!("    before    {:<28} {verdict}\n", t.task));
            for c in t.before.checks.iter().filter(|c| !c.passed) {
                out.push_str(&format!(
                    "                {}: {}\n",
                    c.title,
                    flat(&c.detail)
                ));
            }
        }
        for c in cmds {
            out.push_str(&render_command(c));
        }
        for t in &s.tasks {
            if let Some(a) = &t.answer {
                out.push_str(&format!("    answer    {:<28} {a:?}\n", t.task));
            }
        }
        for t in &s.tasks {
            match &t.after {
                Some(o) => {
                    out.push_str(&format!(
                        "    after     {:<28} {}\n",
                        t.task,
                        if o.passed { "PASS" } else { "FAIL" }
                    ));
                    for c in o.checks.iter().filter(|c| !c.passed) {
                        out.push_str(&format!(
                            "                {}: {}\n",
                            c.title,
                            flat(&c.detail)
                        ));
                    }
                }
                None => out.push_str(&format!("    after     {:<28} not run\n", t.task)),
            }
        }
        for p in &s.problems {
            out.push_str(&format!("    PROBLEM: {p}\n"));
        }
    }
    for n in &r.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    for p in &r.problems {
        out.push_str(&format!("  PROBLEM: {p}\n"));
    }
    if !r.diagnostics.is_empty() {
        out.push_str("  the lab when it failed:\n");
    }
    for d in &r.diagnostics {
        out.push_str(&format!("    {} $ {}\n", d.host, d.run));
        for text in [&d.stdout, &d.stderr] {
            if !text.trim().is_empty() {
                out.push_str(&format!("{}\n", indent(text, "      ")));
            }
        }
    }
    out
}

fn render_command(c: &CommandRun) -> String {
    let at =
        c.at.as_deref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
    let mut out = format!(
        "    {:<9} {} {}{at}: {}\n",
        c.what,
        if c.ok { "ok  " } else { "FAIL" },
        c.host,
        one_line(&c.run)
    );
    if !c.ok {
        out.push_str(&format!(
            "              {} after {} attempt(s)\n",
            c.outcome(),
            c.attempts
        ));
        if c.run.lines().count() > 1 {
            out.push_str(&format!("{}\n", indent(&c.run, "              | ")));
        }
        if !c.stderr.trim().is_empty() {
            out.push_str(&format!(
                "              stderr:\n{}\n",
                indent(&c.stderr, "                ")
            ));
        }
        if !c.stdout.trim().is_empty() {
            out.push_str(&format!(
                "              stdout:\n{}\n",
                indent(&c.stdout, "                ")
            ));
        }
    }
    out
}

/// The summary line of a report.
pub fn render_summary(r: &Report) -> String {
    let failed: Vec<&str> = r
        .labs
        .iter()
        .filter(|l| !l.passed)
        .map(|l| l.lab.as_str())
        .collect();
    if failed.is_empty() {
        format!(
            "labs test: all {} lab(s) passed in {:.1} s",
            r.labs.len(),
            r.seconds
        )
    } else {
        format!(
            "labs test: {} of {} lab(s) FAILED in {:.1} s: {}",
            failed.len(),
            r.labs.len(),
            r.seconds,
            failed.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_results() {
        let err = format!(
            "bash: no job control in this shell\nroot@node-1:/# {BEGIN}\nls: cannot access 'x'\n{STATUS}2\n{STATUS}1\nlogout\n"
        );
        assert_eq!(
            terminal_result(0, &err),
            (2, "ls: cannot access 'x'".to_string())
        );
        assert_eq!(
            terminal_result(3, &format!("{BEGIN}\noops\n")),
            (3, "oops".to_string())
        );
        assert_eq!(
            terminal_result(0, &format!("{BEGIN}\nlogout\n")),
            (0, String::new())
        );
        let mut run = CommandRun {
            what: "block".into(),
            host: "node-1".into(),
            run: "sleep 999".into(),
            at: None,
            code: -1,
            stdout: String::new(),
            stderr: "timed out after 180 s".into(),
            ok: false,
            attempts: 1,
            ms: 180_000,
        };
        assert_eq!(run.outcome(), "timed out after 180 s");
        run.code = 7;
        run.stderr = "curl: (7) refused".into();
        assert_eq!(run.outcome(), "exited 7");
        let cmd = terminal_command("echo hi");
        assert!(
            cmd.ends_with(" | base64 -d | bash --noediting -l -i"),
            "{cmd}"
        );
    }
}
