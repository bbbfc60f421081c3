//! The lab content model and its loader.
//!
//! A lab is a folder under `labs/`: `lab.md` (front matter `title`, `summary`, `nodes`,
//! `minutes` = the estimated learner time, 10..25; body = introduction) and step files
//! `NN-name.md` in name order. A step's front matter declares `title`, `setup` (commands run
//! when the step starts or is reset), `tasks` (each with `id`, `title`, `hint`, `checks`;
//! `hint` is one string, or a list of up to two levels the learner reveals one after the
//! other, e.g. `hint: ["where to look", "the command"]`),
//! `solution` (the reference solution, run by `kplab labs test`) and `answers` (the reference
//! answers of the step's tasks that have an `answer` check: task id -> a literal, or
//! `{host: node-1, run: "…"}` whose trimmed output is the answer). Commands are
//! `{host: node-1, run: "…"}` or a plain string (node-1).
//! `proxyMode: iptables|nftables` (optional) in `lab.md` sets the mode kube-proxy runs in on
//! every node of the lab; in a step it overrides that from this step on (see
//! [`Lab::proxy_mode_at`]). The platform switches the nodes before the step's setup runs.
//! In the body, a code block whose info string has `run` (current tab) or `run=HOST` gets a
//! "run in terminal" button; `kplab labs test` runs each of them ([`Step::runnable_blocks`]).
//!
//! Loading collects every problem with its file and line instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::{Check, RuleAssert};
use crate::validate::Diagnostics;

/// All labs of a content directory, in folder-name order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Catalog {
    /// The labs.
    pub labs: Vec<Lab>,
}

/// One lab.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lab {
    /// Folder name (`00-hello`): the id in URLs.
    pub id: String,
    /// Title.
    pub title: String,
    /// One-paragraph summary for the catalog.
    pub summary: String,
    /// Nodes in the cluster (besides `client`).
    pub nodes: u8,
    /// Estimated learner time in minutes.
    pub minutes: u8,
    /// `proxyMode` of `lab.md`: the kube-proxy mode of the whole lab (steps may override it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_mode: Option<ProxyMode>,
    /// Introduction (markdown).
    pub intro: String,
    /// Steps in order.
    pub steps: Vec<Step>,
}

/// A command run in the lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCommand {
    /// `node-N` or `client`.
    pub host: String,
    /// Shell command (`sh -c`).
    pub run: String,
}

/// One step of a lab.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// File stem (`01-first-service`).
    pub id: String,
    /// Source file.
    pub file: PathBuf,
    /// Title.
    pub title: String,
    /// `challenge: true`: an unguided step (a goal, a fault or a question, no commands shown),
    /// graded by packets, rules or state.
    pub challenge: bool,
    /// `optional: true`: the lab is complete without this step's tasks.
    pub optional: bool,
    /// `proxyMode` of the step: the kube-proxy mode from this step on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_mode: Option<ProxyMode>,
    /// Run when the step starts or is reset.
    pub setup: Vec<HostCommand>,
    /// Tasks.
    pub tasks: Vec<Task>,
    /// Reference solution.
    pub solution: Vec<HostCommand>,
    /// Reference answers of the tasks with an `answer` check, by task id.
    pub answers: BTreeMap<String, ReferenceAnswer>,
    /// Body (markdown).
    pub body: String,
    /// 1-based file line of the body's first line.
    pub body_line: usize,
}

/// The mode kube-proxy runs in on a lab's nodes (`proxyMode` in the front matter), as the
/// `mode` of the `kube-system/kube-proxy` ConfigMap's `config.conf` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// `iptables`, kube-proxy's default.
    Iptables,
    /// `nftables`.
    Nftables,
}

impl ProxyMode {
    /// Every mode, in the order error messages list them.
    pub const ALL: [ProxyMode; 2] = [ProxyMode::Iptables, ProxyMode::Nftables];

    /// The name in `proxyMode` and in kube-proxy's `mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::Iptables => "iptables",
            ProxyMode::Nftables => "nftables",
        }
    }

    /// The mode named `s` (exactly as kube-proxy spells it).
    pub fn parse(s: &str) -> Option<ProxyMode> {
        ProxyMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl std::fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task's reference answer (what `kplab labs test` submits).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ReferenceAnswer {
    /// The answer itself.
    Literal(String),
    /// A command whose trimmed standard output is the answer.
    Command(HostCommand),
}

/// A fenced code block of a step body marked `run` or `run=HOST`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunBlock {
    /// `run=HOST`'s host; `None` for `run` (the current tab).
    pub host: Option<String>,
    /// The block's text.
    pub code: String,
    /// 1-based file line of the opening fence.
    pub line: usize,
}

impl Step {
    /// The runnable code blocks of the body, in order.
    pub fn runnable_blocks(&self) -> Vec<RunBlock> {
        fenced_blocks(&self.body)
            .into_iter()
            .filter_map(|(info, code, i)| {
                run_marker(&info).map(|h| RunBlock {
                    host: h.map(str::to_string),
                    code,
                    line: self.body_line + i,
                })
            })
            .collect()
    }
}

/// Fenced code blocks of a markdown text: (info string, text, 0-based line of the fence).
fn fenced_blocks(body: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, usize, String, usize)> = None; // fence, indent, line, info, code start
    let mut code = String::new();
    for (i, line) in body.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let t = line.trim_start_matches(' ');
        match &open {
            None => {
                if indent > 3 {
                    continue;
                }
                let ch = match t.chars().next() {
                    Some(c @ ('`' | '~')) => c,
                    _ => continue,
                };
                let n = t.chars().take_while(|&c| c == ch).count();
                if n < 3 {
                    continue;
                }
                let info = t[n..].trim().to_string();
                if ch == '`' && info.contains('`') {
                    continue;
                }
                open = Some((t[..n].to_string(), indent, i, info, i + 1));
                code.clear();
            }
            Some((fence, fi, start, info, _)) => {
                let ch = fence.chars().next().unwrap_or('`');
                let n = t.chars().take_while(|&c| c == ch).count();
                if indent <= 3 && n >= fence.len() && t[n..].trim().is_empty() {
                    out.push((info.clone(), std::mem::take(&mut code), *start));
                    open = None;
                } else {
                    let strip = indent.min(*fi);
                    code.push_str(&line[strip..]);
                    code.push('\n');
                }
            }
        }
    }
    if let Some((_, _, start, info, _)) = open {
        out.push((info, code, start));
    }
    out
}

/// One task of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    /// Unique within the lab; used in URLs.
    pub id: String,
    /// Title.
    pub title: String,
    /// The hint's levels in order (none, one or two): the first says where to look, the
    /// second how (usually the command). The first is also shown when a check without its own
    /// hint fails. Front matter: `hint: "…"` or `hint: ["…", "…"]`.
    pub hints: Vec<String>,
    /// All must pass.
    pub checks: Vec<Check>,
    /// `observe: true`: the task only asks the learner to look; nothing the learner does can
    /// make it pass or fail, so it may pass before the learner acts (`kplab labs test`).
    pub observe: bool,
}

/// The most levels a task's `hint` may have.
pub const HINT_LEVELS: usize = 2;

impl Task {
    /// The hint's levels in order: empty, or one or two non-empty strings.
    pub fn hints(&self) -> &[String] {
        &self.hints
    }
    /// Graded by packets, rules or state: it has a probe, rules or state check.
    pub fn graded_by_cluster(&self) -> bool {
        self.checks
            .iter()
            .any(|c| matches!(c, Check::Probe(_) | Check::Rules(_) | Check::State(_)))
    }
    /// Whether the learner must type an answer.
    pub fn needs_answer(&self) -> bool {
        self.checks.iter().any(|c| matches!(c, Check::Answer(_)))
    }
    /// The question of the first answer check.
    pub fn question(&self) -> Option<&str> {
        self.checks.iter().find_map(|c| match c {
            Check::Answer(a) => Some(a.title.as_deref().unwrap_or("Your answer")),
            _ => None,
        })
    }
}

impl Lab {
    /// The kube-proxy mode step `index` runs in: the `proxyMode` of the last step at or before
    /// it that has one, else the lab's. A lab that names a mode nowhere has none (`None`: the
    /// platform leaves kube-proxy as it is); one that names it only from a later step on runs
    /// the earlier steps in kube-proxy's default, iptables, so that going back to them
    /// switches back.
    pub fn proxy_mode_at(&self, index: usize) -> Option<ProxyMode> {
        let declared =
            self.proxy_mode.is_some() || self.steps.iter().any(|s| s.proxy_mode.is_some());
        if !declared {
            return None;
        }
        self.steps
            .iter()
            .take(index.saturating_add(1))
            .rev()
            .find_map(|s| s.proxy_mode)
            .or(self.proxy_mode)
            .or(Some(ProxyMode::Iptables))
    }

    /// The tasks that complete the lab: those of every step that is not `optional`.
    pub fn required_tasks(&self) -> impl Iterator<Item = &Task> {
        self.steps
            .iter()
            .filter(|s| !s.optional)
            .flat_map(|s| &s.tasks)
    }

    /// The step at `index`.
    pub fn step(&self, index: usize) -> Option<&Step> {
        self.steps.get(index)
    }
    /// The task `id` and the index of its step.
    pub fn task(&self, id: &str) -> Option<(usize, &Task)> {
        self.steps
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.tasks.iter().find(|t| t.id == id).map(|t| (i, t)))
    }
    /// Hosts of this lab: `node-1..node-N`, `client`.
    pub fn hosts(&self) -> Vec<String> {
        let mut h: Vec<String> = (1..=self.nodes).map(|n| format!("node-{n}")).collect();
        h.push("client".into());
        h
    }
}

impl Catalog {
    /// Loads every lab folder under `dir` (folders without `lab.md` are skipped).
    pub fn load(dir: &Path) -> Result<Catalog, Diagnostics> {
        let mut diags = Diagnostics::default();
        let mut labs = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                diags.push(dir, 0, format!("cannot read the labs directory: {e}"));
                return Err(diags);
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && p.join("lab.md").is_file())
            .collect();
        dirs.sort();
        for d in dirs {
            if let Some(lab) = load_lab(&d, &mut diags) {
                labs.push(lab);
            }
        }
        if labs.is_empty() && diags.is_empty() {
            diags.push(dir, 0, "no labs found (a lab is a folder with a lab.md)");
        }
        if diags.is_empty() {
            Ok(Catalog { labs })
        } else {
            Err(diags)
        }
    }

    /// The lab with folder name `id`.
    pub fn lab(&self, id: &str) -> Option<&Lab> {
        self.labs.iter().find(|l| l.id == id)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabFront {
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default = "two")]
    nodes: u8,
    #[serde(default)]
    minutes: Option<u8>,
    #[serde(default, rename = "proxyMode", deserialize_with = "present")]
    proxy_mode: Option<serde_yaml_ng::Value>,
}

/// The allowed range of a lab's `minutes`: an honest estimate of a learner's time reading,
/// typing and thinking; a lab longer than an hour should be split.
pub const MINUTES: std::ops::RangeInclusive<u8> = 10..=60;

fn two() -> u8 {
    2
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CommandSpec {
    Plain(String),
    Full { host: String, run: String },
}

impl CommandSpec {
    fn into_command(self) -> HostCommand {
        match self {
            CommandSpec::Plain(run) => HostCommand {
                host: "node-1".into(),
                run,
            },
            CommandSpec::Full { host, run } => HostCommand { host, run },
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AnswerSpec {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Full(AnswerCommand),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerCommand {
    #[serde(default = "node_1")]
    host: String,
    run: String,
}

fn node_1() -> String {
    "node-1".into()
}

impl AnswerSpec {
    fn into_answer(self) -> ReferenceAnswer {
        match self {
            AnswerSpec::Text(s) => ReferenceAnswer::Literal(s),
            AnswerSpec::Int(n) => ReferenceAnswer::Literal(n.to_string()),
            AnswerSpec::Float(f) => ReferenceAnswer::Literal(f.to_string()),
            AnswerSpec::Bool(b) => ReferenceAnswer::Literal(b.to_string()),
            AnswerSpec::Full(c) => ReferenceAnswer::Command(HostCommand {
                host: c.host,
                run: c.run,
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFront {
    id: String,
    title: String,
    #[serde(default)]
    hint: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    checks: Vec<Check>,
    #[serde(default)]
    observe: bool,
}

/// A task's `hint:` (any YAML value, so that a wrong one gets a message naming the task rather
/// than serde's): one string, or a list of one or two strings, the levels in order.
fn hint_levels(value: Option<serde_yaml_ng::Value>) -> Result<Vec<String>, String> {
    use serde_yaml_ng::Value;
    const FORM: &str =
        "give one string, or a list of one or two strings: [\"where to look\", \"the command\"]";
    let levels = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s],
        Some(Value::Sequence(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(format!("every level of hint must be a string; {FORM}")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(format!("hint must be text; {FORM}")),
    };
    if levels.is_empty() {
        return Err(format!("hint is an empty list; remove it or {FORM}"));
    }
    if levels.len() > HINT_LEVELS {
        return Err(format!(
            "hint has {} levels, at most {HINT_LEVELS} are shown (where to look, then the command)",
            levels.len()
        ));
    }
    if levels.iter().any(|h| h.trim().is_empty()) {
        return Err("hint has an empty level; every level needs text".into());
    }
    Ok(levels)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFront {
    title: String,
    #[serde(default)]
    challenge: bool,
    #[serde(default)]
    optional: bool,
    #[serde(default, rename = "proxyMode", deserialize_with = "present")]
    proxy_mode: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    setup: Vec<CommandSpec>,
    #[serde(default)]
    tasks: Vec<TaskFront>,
    #[serde(default)]
    solution: Vec<CommandSpec>,
    #[serde(default)]
    answers: BTreeMap<String, AnswerSpec>,
}

/// A file split into front matter and body, with the line where each starts.
struct Split<'a> {
    front: &'a str,
    /// 1-based file line of the front matter's first line.
    front_line: usize,
    body: &'a str,
    /// 1-based file line of the body's first line.
    body_line: usize,
}

fn split_front(text: &str) -> Option<Split<'_>> {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            let front = &rest[..offset];
            let body = &rest[offset + line.len()..];
            let front_lines = front.lines().count();
            return Some(Split {
                front,
                front_line: 2,
                body,
                body_line: 3 + front_lines,
            });
        }
        offset += line.len();
    }
    None
}

fn read_split(path: &Path, diags: &mut Diagnostics) -> Option<(String, usize, String, usize)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diags.push(path, 0, format!("cannot read: {e}"));
            return None;
        }
    };
    match split_front(&text) {
        Some(s) => Some((
            s.front.to_string(),
            s.front_line,
            s.body.to_string(),
            s.body_line,
        )),
        None => {
            diags.push(path, 1, "missing front matter: the file must start with a line `---` and the front matter must end with another `---`");
            None
        }
    }
}

fn yaml_error(path: &Path, front_line: usize, e: &serde_yaml_ng::Error, diags: &mut Diagnostics) {
    let line = e
        .location()
        .map(|l| l.line() + front_line - 1)
        .unwrap_or(front_line);
    let msg = e.to_string();
    // serde_yaml_ng appends " at line L column C": the line is already in the diagnostic.
    let msg = match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    diags.push(path, line, format!("front matter: {msg}"));
}

/// First file line at or after `from` (1-based, file lines) whose text contains `needle`.
fn find_line(front: &str, front_line: usize, from: usize, needle: &str) -> Option<usize> {
    front
        .lines()
        .enumerate()
        .map(|(i, l)| (i + front_line, l))
        .find(|(n, l)| *n >= from && l.contains(needle))
        .map(|(n, _)| n)
}

/// A field that is there, even empty (`proxyMode:` is `Some(Null)`, not a missing field).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_yaml_ng::Value>, D::Error> {
    serde_yaml_ng::Value::deserialize(d).map(Some)
}

/// Validates a front matter's `proxyMode` (any YAML value, so that a wrong one gets this
/// message rather than serde's): `iptables` or `nftables`.
fn proxy_mode(
    path: &Path,
    front: &str,
    front_line: usize,
    value: Option<&serde_yaml_ng::Value>,
    diags: &mut Diagnostics,
) -> Option<ProxyMode> {
    let value = value?;
    let mode = value.as_str().and_then(ProxyMode::parse);
    if mode.is_none() {
        let given = match value {
            serde_yaml_ng::Value::String(s) => format!("{s:?}"),
            serde_yaml_ng::Value::Null => "empty".to_string(),
            other => serde_json::to_string(other).unwrap_or_else(|_| "that value".to_string()),
        };
        let allowed = ProxyMode::ALL.map(ProxyMode::as_str).join(" or ");
        diags.push(
            path,
            find_line(front, front_line, 0, "proxyMode").unwrap_or(front_line),
            format!("proxyMode must be {allowed} (the kube-proxy mode), not {given}"),
        );
    }
    mode
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

fn load_lab(dir: &Path, diags: &mut Diagnostics) -> Option<Lab> {
    let before = diags.len();
    let id = dir.file_name()?.to_string_lossy().into_owned();
    let lab_md = dir.join("lab.md");
    if !is_slug(&id) {
        diags.push(
            dir,
            0,
            format!("lab folder name {id:?} must be lowercase letters, digits and '-'"),
        );
    }
    let (front, front_line, intro, _) = read_split(&lab_md, diags)?;
    // On a front matter error, go on with defaults so that the steps are checked too.
    let lf: LabFront = match serde_yaml_ng::from_str(&front) {
        Ok(f) => f,
        Err(e) => {
            yaml_error(&lab_md, front_line, &e, diags);
            LabFront {
                title: id.clone(),
                summary: String::new(),
                nodes: 2,
                minutes: Some(*MINUTES.start()),
                proxy_mode: None,
            }
        }
    };
    match lf.minutes {
        None => diags.push(
            &lab_md,
            front_line,
            format!(
                "minutes is missing: the estimated learner time, {}..{} (e.g. `minutes: 15`)",
                MINUTES.start(),
                MINUTES.end()
            ),
        ),
        Some(m) if !MINUTES.contains(&m) => diags.push(
            &lab_md,
            find_line(&front, front_line, 0, "minutes").unwrap_or(front_line),
            format!(
                "minutes must be {}..{} (the estimated learner time), not {m}",
                MINUTES.start(),
                MINUTES.end()
            ),
        ),
        Some(_) => {}
    }
    if lf.title.trim().is_empty() {
        diags.push(
            &lab_md,
            find_line(&front, front_line, 0, "title").unwrap_or(1),
            "title is empty",
        );
    }
    if !(1..=9).contains(&lf.nodes) {
        diags.push(
            &lab_md,
            find_line(&front, front_line, 0, "nodes").unwrap_or(1),
            format!("nodes must be 1..9, not {}", lf.nodes),
        );
    }
    let proxy_mode = proxy_mode(&lab_md, &front, front_line, lf.proxy_mode.as_ref(), diags);
    let mut hosts: BTreeSet<String> = (1..=lf.nodes).map(|n| format!("node-{n}")).collect();
    hosts.insert("client".into());

    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(e) => e
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "md")
                    && p.file_name().is_some_and(|n| {
                        n != "lab.md" && n.to_string_lossy().as_bytes()[0].is_ascii_digit()
                    })
            })
            .collect(),
        Err(e) => {
            diags.push(dir, 0, format!("cannot read: {e}"));
            return None;
        }
    };
    files.sort();
    if files.is_empty() {
        diags.push(dir, 0, "a lab needs at least one step file (NN-name.md)");
    }
    let mut steps = Vec::new();
    let mut task_ids: BTreeSet<String> = BTreeSet::new();
    for f in files {
        if let Some(p) = load_step(&f, &hosts, &mut task_ids, diags) {
            steps.push(p);
        }
    }
    if diags.len() != before {
        return None;
    }
    Some(Lab {
        id,
        title: lf.title,
        summary: lf.summary,
        nodes: lf.nodes,
        minutes: lf.minutes.unwrap_or(*MINUTES.start()),
        proxy_mode,
        intro,
        steps,
    })
}

fn load_step(
    path: &Path,
    hosts: &BTreeSet<String>,
    task_ids: &mut BTreeSet<String>,
    diags: &mut Diagnostics,
) -> Option<Step> {
    let id = path.file_stem()?.to_string_lossy().into_owned();
    let (front, fl, body, body_line) = read_split(path, diags)?;
    let pf: StepFront = match serde_yaml_ng::from_str(&front) {
        Ok(f) => f,
        Err(e) => {
            yaml_error(path, fl, &e, diags);
            return None;
        }
    };
    let host_list = hosts.iter().cloned().collect::<Vec<_>>().join(", ");
    let proxy_mode = proxy_mode(path, &front, fl, pf.proxy_mode.as_ref(), diags);
    if pf.title.trim().is_empty() {
        diags.push(
            path,
            find_line(&front, fl, 0, "title").unwrap_or(fl),
            "title is empty",
        );
    }
    let setup: Vec<HostCommand> = pf
        .setup
        .into_iter()
        .map(CommandSpec::into_command)
        .collect();
    let solution: Vec<HostCommand> = pf
        .solution
        .into_iter()
        .map(CommandSpec::into_command)
        .collect();
    for (what, steps) in [("setup", &setup), ("solution", &solution)] {
        let start = find_line(&front, fl, 0, &format!("{what}:")).unwrap_or(fl);
        for s in steps {
            if !hosts.contains(&s.host) {
                let line = find_line(&front, fl, start, &s.host).unwrap_or(start);
                diags.push(
                    path,
                    line,
                    format!(
                        "{what}: unknown host {:?} (this lab has {host_list})",
                        s.host
                    ),
                );
            }
            if s.run.trim().is_empty() {
                diags.push(path, start, format!("{what}: empty command"));
            }
        }
    }
    let tasks_line = find_line(&front, fl, 0, "tasks:").unwrap_or(fl);
    let mut tasks = Vec::new();
    let mut next_task = tasks_line;
    for t in pf.tasks {
        let tline = find_line(&front, fl, next_task, &format!("id: {}", t.id))
            .or_else(|| find_line(&front, fl, next_task, &t.id))
            .unwrap_or(next_task);
        next_task = tline + 1;
        if !is_slug(&t.id) {
            diags.push(
                path,
                tline,
                format!(
                    "task id {:?} must be lowercase letters, digits and '-'",
                    t.id
                ),
            );
        }
        if !task_ids.insert(t.id.clone()) {
            diags.push(
                path,
                tline,
                format!("task id {:?} is used twice in this lab", t.id),
            );
        }
        if t.checks.is_empty() {
            diags.push(path, tline, format!("task {:?} has no checks", t.id));
        }
        let hints = hint_levels(t.hint).unwrap_or_else(|msg| {
            let hline = find_line(&front, fl, tline, "hint").unwrap_or(tline);
            diags.push(path, hline, format!("task {:?}: {msg}", t.id));
            Vec::new()
        });
        let mut from = tline;
        let mut answers = 0;
        for c in &t.checks {
            let cline = find_line(&front, fl, from, "kind:").unwrap_or(tline);
            from = cline + 1;
            for msg in check_problems(c, hosts) {
                diags.push(
                    path,
                    cline,
                    format!("task {:?}: {} check: {msg}", t.id, c.kind()),
                );
            }
            if matches!(c, Check::Answer(_)) {
                answers += 1;
            }
        }
        if answers > 1 {
            diags.push(
                path,
                tline,
                format!(
                    "task {:?} has {answers} answer checks; a task takes one answer",
                    t.id
                ),
            );
        }
        if t.observe && answers > 0 {
            let oline = find_line(&front, fl, tline, "observe").unwrap_or(tline);
            diags.push(
                path,
                oline,
                format!(
                    "task {:?} is observe: true but takes an answer; observe is for a task that only asks to look (its checks pass whatever the learner does), an answer task is already graded by what is typed",
                    t.id
                ),
            );
        }
        if pf.challenge && t.observe {
            diags.push(
                path,
                tline,
                format!(
                    "task {:?}: a challenge step grades what the learner does; it cannot have an observe-only task",
                    t.id
                ),
            );
        }
        tasks.push(Task {
            id: t.id,
            title: t.title,
            hints,
            checks: t.checks,
            observe: t.observe,
        });
    }
    for (info, _, i) in fenced_blocks(&body) {
        if let Some(Some(h)) = run_marker(&info) {
            if !hosts.contains(h) {
                diags.push(
                    path,
                    body_line + i,
                    format!("code block marked run={h}: unknown host (this lab has {host_list})"),
                );
            }
        }
    }
    if pf.challenge {
        challenge_problems(path, &front, fl, &body, body_line, &tasks, diags);
    }
    let answers = check_answers(path, &front, fl, pf.answers, &tasks, hosts, diags);
    Some(Step {
        id,
        file: path.to_path_buf(),
        title: pf.title,
        challenge: pf.challenge,
        optional: pf.optional,
        proxy_mode,
        setup,
        tasks,
        solution,
        answers,
        body,
        body_line,
    })
}

/// A challenge step states a goal and shows no commands: no runnable blocks, and at least one
/// task, each graded by packets, rules or state.
fn challenge_problems(
    path: &Path,
    front: &str,
    fl: usize,
    body: &str,
    body_line: usize,
    tasks: &[Task],
    diags: &mut Diagnostics,
) {
    for (info, _, i) in fenced_blocks(body) {
        if run_marker(&info).is_some() {
            diags.push(
                path,
                body_line + i,
                "a challenge step shows no commands: remove the runnable block (the commands belong in `solution`)",
            );
        }
    }
    let line = find_line(front, fl, 0, "challenge").unwrap_or(fl);
    if tasks.is_empty() {
        diags.push(path, line, "a challenge step needs at least one task");
    }
    for t in tasks.iter().filter(|t| !t.graded_by_cluster()) {
        diags.push(
            path,
            line,
            format!(
                "task {:?} of a challenge step must be graded by packets, rules or state (a probe, rules or state check), not only by what is typed",
                t.id
            ),
        );
    }
}

/// Validates a step's `answers:` against its tasks: every key a task of this step with an
/// answer check, every such task answered, commands on hosts of the lab, literals accepted by
/// a literal `expected`.
fn check_answers(
    path: &Path,
    front: &str,
    fl: usize,
    specs: BTreeMap<String, AnswerSpec>,
    tasks: &[Task],
    hosts: &BTreeSet<String>,
    diags: &mut Diagnostics,
) -> BTreeMap<String, ReferenceAnswer> {
    let answers_line = find_line(front, fl, 0, "answers:");
    let line_of = |key: &str| {
        answers_line
            .and_then(|a| find_line(front, fl, a, &format!("{key}:")))
            .or(answers_line)
            .unwrap_or(fl)
    };
    let mut answers = BTreeMap::new();
    for (key, spec) in specs {
        let line = line_of(&key);
        let answer = spec.into_answer();
        match tasks.iter().find(|t| t.id == key) {
            None => diags.push(
                path,
                line,
                format!("answers: {key:?} is not a task of this step"),
            ),
            Some(t) => {
                let check = t.checks.iter().find_map(|c| match c {
                    Check::Answer(a) => Some(a),
                    _ => None,
                });
                match (check, &answer) {
                    (None, _) => diags.push(
                        path,
                        line,
                        format!("answers: task {key:?} has no answer check to answer"),
                    ),
                    (Some(a), ReferenceAnswer::Literal(given)) => {
                        if let Some(expected) = &a.expected {
                            if !a.accepts(given, expected) {
                                diags.push(
                                    path,
                                    line,
                                    format!(
                                        "answers: {given:?} for task {key:?} is not accepted by its answer check (expected {expected:?})"
                                    ),
                                );
                            }
                        }
                    }
                    (Some(_), ReferenceAnswer::Command(s)) => {
                        if !hosts.contains(&s.host) {
                            let list = hosts.iter().cloned().collect::<Vec<_>>().join(", ");
                            diags.push(
                                path,
                                line,
                                format!(
                                    "answers: task {key:?}: unknown host {:?} (this lab has {list})",
                                    s.host
                                ),
                            );
                        }
                        if s.run.trim().is_empty() {
                            diags.push(path, line, format!("answers: task {key:?}: empty command"));
                        }
                    }
                }
            }
        }
        answers.insert(key, answer);
    }
    for t in tasks.iter().filter(|t| t.needs_answer()) {
        if !answers.contains_key(&t.id) {
            let line = find_line(front, fl, 0, &format!("id: {}", t.id)).unwrap_or(fl);
            diags.push(
                path,
                line,
                format!(
                    "task {:?} has an answer check but no reference answer: add `{}: <answer>` (or `{{host: node-1, run: \"…\"}}`) under `answers:`",
                    t.id, t.id
                ),
            );
        }
    }
    answers
}

/// If a fence info string marks the block runnable: `Some(None)` for `run` (current tab),
/// `Some(Some(host))` for `run=HOST`.
pub fn run_marker(info: &str) -> Option<Option<&str>> {
    info.split_whitespace().find_map(|w| {
        if w == "run" {
            Some(None)
        } else {
            w.strip_prefix("run=").map(Some)
        }
    })
}

fn check_problems(c: &Check, hosts: &BTreeSet<String>) -> Vec<String> {
    let mut p = Vec::new();
    let nodes = |h: &str| h.starts_with("node-") && hosts.contains(h);
    match c {
        Check::Rules(r) => {
            if !nodes(&r.node) {
                p.push(format!("node {:?} is not a node of this lab", r.node));
            }
            if r.assert.is_empty() {
                p.push("`assert` is empty".into());
            }
            for a in &r.assert {
                let sel = a.chain();
                if !["nat", "filter", "mangle", "raw", "security"].contains(&sel.table.as_str()) {
                    p.push(format!("unknown table {:?}", sel.table));
                }
                if sel.chain.is_empty() {
                    p.push("empty chain name".into());
                }
                if let RuleAssert::Probabilities(q) = a {
                    if q.values.iter().any(|v| !(0.0..=1.0).contains(v)) {
                        p.push("probabilities must be between 0 and 1".into());
                    }
                }
            }
        }
        Check::Probe(pr) => {
            let from_ok = hosts.contains(&pr.from)
                || pr.from.strip_prefix("pod:").is_some_and(|r| {
                    r.split_once('/')
                        .is_some_and(|(ns, n)| !ns.is_empty() && !n.is_empty())
                });
            if !from_ok {
                p.push(format!("from {:?} must be a host of this lab or pod:NAMESPACE/NAME or pod:NAMESPACE/LABEL=VALUE", pr.from));
            }
            if !(1..=1000).contains(&pr.count) {
                p.push(format!("count must be 1..1000, not {}", pr.count));
            }
            if let Some(proto) = &pr.protocol {
                if proto != "tcp" && proto != "udp" {
                    p.push(format!("protocol must be tcp or udp, not {proto:?}"));
                }
            }
            if pr.source_port.is_some() && pr.protocol.as_deref() != Some("udp") {
                p.push("source_port needs protocol: udp".into());
            }
            if pr.source_port == Some(0) {
                p.push("source_port must be 1..65535".into());
            }
            if !target_ok(&pr.target, hosts) {
                p.push(format!("target {:?} must be IP:PORT, HOST:PORT, svc:NS/NAME[:PORT], lb:NS/NAME[:PORT], externalip:NS/NAME[:PORT] or nodeport:NODE/NS/NAME", pr.target));
            }
            if pr.expect != crate::check::ProbeExpect::Reachable
                && (pr.spread.is_some() || pr.source_ip.is_some())
            {
                p.push("spread and source_ip need expect: reachable".into());
            }
            if let Some(s) = &pr.spread {
                if s.min_endpoints == 0 {
                    p.push("spread.min_endpoints must be at least 1".into());
                }
                if s.tolerance.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
                    p.push("spread.tolerance must be between 0 and 1".into());
                }
            }
        }
        Check::State(s) => {
            if s.resource.trim().is_empty() {
                p.push("resource is empty".into());
            }
            if !(s.jsonpath.starts_with('{') && s.jsonpath.ends_with('}')) {
                p.push(format!(
                    "jsonpath {:?} must be a kubectl jsonpath like {{.spec.type}}",
                    s.jsonpath
                ));
            }
        }
        Check::Answer(a) => {
            match (&a.expected, &a.command) {
                (None, None) => p.push("needs `expected` or `command`".into()),
                (Some(_), Some(_)) => {
                    p.push("has both `expected` and `command`; choose one".into())
                }
                _ => {}
            }
            if a.command.is_some() && !hosts.contains(&a.host) {
                p.push(format!("host {:?} is not a host of this lab", a.host));
            }
            if a.exact && a.tolerance.is_some() {
                p.push("has both `exact` and `tolerance`; an exact answer is compared as text, choose one".into());
            }
            if a.tolerance.is_some_and(|t| !(t >= 0.0 && t.is_finite())) {
                p.push("tolerance must be a number of 0 or more".into());
            }
        }
        Check::Command(c) => {
            if !hosts.contains(&c.host) {
                p.push(format!("host {:?} is not a host of this lab", c.host));
            }
            if c.run.trim().is_empty() {
                p.push("`run` is empty".into());
            }
            if let Some(pattern) = &c.matches {
                if let Err(e) = regex::Regex::new(pattern) {
                    p.push(format!("`matches` is not a valid regex: {e}"));
                }
            }
            if !(0..=255).contains(&c.exit_status()) {
                p.push(format!("exit must be 0..255, not {}", c.exit_status()));
            }
        }
    }
    p
}

fn target_ok(t: &str, hosts: &BTreeSet<String>) -> bool {
    let service = ["svc:", "lb:", "externalip:"]
        .iter()
        .find_map(|p| t.strip_prefix(p));
    if let Some(rest) = service {
        let (path, _) = rest
            .rsplit_once(':')
            .filter(|(_, port)| port.parse::<u16>().is_ok())
            .unwrap_or((rest, ""));
        return path.split('/').filter(|s| !s.is_empty()).count() == 2;
    }
    if let Some(rest) = t.strip_prefix("nodeport:") {
        let parts: Vec<&str> = rest.split('/').collect();
        return parts.len() == 3 && hosts.contains(parts[0]) && parts.iter().all(|s| !s.is_empty());
    }
    match t.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_split_keeps_lines() {
        let s = split_front("---\ntitle: x\nnodes: 2\n---\n# Body\n").unwrap();
        assert_eq!(s.front, "title: x\nnodes: 2\n");
        assert_eq!(s.body, "# Body\n");
        assert_eq!(s.body_line, 5);
        assert!(split_front("# no front matter\n").is_none());
    }

    #[test]
    fn run_markers() {
        assert_eq!(run_marker("sh run"), Some(None));
        assert_eq!(run_marker("sh run=client"), Some(Some("client")));
        assert_eq!(run_marker("sh"), None);
    }

    #[test]
    fn targets() {
        let hosts: BTreeSet<String> = ["node-1", "node-2", "client"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(target_ok("10.96.0.1:443", &hosts));
        assert!(target_ok("svc:default/web", &hosts));
        assert!(target_ok("svc:default/web:80", &hosts));
        assert!(target_ok("lb:default/web", &hosts));
        assert!(target_ok("externalip:default/web:8080", &hosts));
        assert!(!target_ok("lb:web", &hosts));
        assert!(target_ok("nodeport:node-2/default/web", &hosts));
        assert!(!target_ok("nodeport:node-9/default/web", &hosts));
        assert!(!target_ok("10.96.0.1", &hosts));
        assert!(!target_ok("svc:web", &hosts));
    }
}
