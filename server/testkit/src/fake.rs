//! A fake container runtime for the fast web tests: labs exist in memory, so the real router,
//! store, lifecycle, grader and workshop code run without Docker or root.
//!
//! It behaves like the Docker runtime where the platform can tell: `up` creates a lab that
//! `list` and `health` then see, `down` removes it (missing is not an error), `exec` on a lab
//! that does not exist fails with [`RuntimeError::Missing`] and on an unknown host with
//! [`RuntimeError::NoHost`], terminals echo what they are sent. Every call is recorded
//! ([`FakeRuntime::calls`]); a test scripts what commands print ([`FakeRuntime::on_exec`], or
//! as a function of the host and command line, [`FakeRuntime::on_exec_with`]),
//! makes the next calls of one operation fail ([`FakeRuntime::fail_next`]), breaks a lab's
//! containers ([`FakeRuntime::set_health`]) or holds starts until it lets them go
//! ([`FakeRuntime::hold_starts`]).

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures_util::StreamExt;
use kplab::engine::runtime::{Health, LabRuntime, Output, Resize, RuntimeError, Sandbox, Terminal};
use tokio::io::AsyncReadExt;

/// One operation of [`LabRuntime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Up,
    Down,
    List,
    Health,
    Exec,
    Terminal,
}

/// A call the platform made, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Up {
        sandbox: String,
        learner: String,
        nodes: u8,
    },
    Down {
        sandbox: String,
    },
    List {
        prefix: String,
    },
    Health {
        sandbox: String,
    },
    Exec {
        sandbox: String,
        host: String,
        argv: Vec<String>,
    },
    Terminal {
        sandbox: String,
        host: String,
    },
}

impl Call {
    /// The operation this call was.
    pub fn op(&self) -> Op {
        match self {
            Call::Up { .. } => Op::Up,
            Call::Down { .. } => Op::Down,
            Call::List { .. } => Op::List,
            Call::Health { .. } => Op::Health,
            Call::Exec { .. } => Op::Exec,
            Call::Terminal { .. } => Op::Terminal,
        }
    }

    /// The lab the call was about (none for `list`).
    pub fn sandbox(&self) -> Option<&str> {
        match self {
            Call::Up { sandbox, .. }
            | Call::Down { sandbox }
            | Call::Health { sandbox }
            | Call::Exec { sandbox, .. }
            | Call::Terminal { sandbox, .. } => Some(sandbox),
            Call::List { .. } => None,
        }
    }

    /// For `exec`: the command line, its arguments joined by spaces.
    pub fn command(&self) -> Option<String> {
        match self {
            Call::Exec { argv, .. } => Some(argv.join(" ")),
            _ => None,
        }
    }
}

/// A lab that exists in the fake engine.
#[derive(Debug, Clone)]
struct Lab {
    nodes: u8,
    health: Health,
    /// The server id it was labelled with (`None`: no label).
    server: Option<String>,
}

/// Output computed from the host and the command line (see [`FakeRuntime::on_exec_with`]).
pub type ExecFn = Arc<dyn Fn(&str, &str) -> Output + Send + Sync>;

/// Scripted output: the first rule whose `needle` occurs in the command line answers.
struct Rule {
    needle: String,
    output: Answer,
}

enum Answer {
    Fixed(Output),
    With(ExecFn),
}

#[derive(Default)]
struct Inner {
    labs: BTreeMap<String, Lab>,
    calls: Vec<Call>,
    failures: BTreeMap<Op, VecDeque<String>>,
    rules: Vec<Rule>,
    default_output: Option<Output>,
}

/// The fake runtime; share it as `Arc<FakeRuntime>` between the server and the test.
#[derive(Default)]
pub struct FakeRuntime {
    inner: Mutex<Inner>,
    /// While `Some`, `up` waits until the sender side is dropped or sends.
    hold: Mutex<Option<tokio::sync::watch::Receiver<bool>>>,
}

/// Releases the starts held by [`FakeRuntime::hold_starts`] when dropped or
/// [`release`](StartGate::release)d.
pub struct StartGate {
    tx: tokio::sync::watch::Sender<bool>,
    rt: Arc<FakeRuntime>,
}

impl StartGate {
    /// Lets held and future starts finish.
    pub fn release(self) {}
}

impl Drop for StartGate {
    fn drop(&mut self) {
        *self.rt.hold.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let _ = self.tx.send(true);
    }
}

impl FakeRuntime {
    /// An engine with no labs; every command exits 0 and prints nothing.
    pub fn new() -> Arc<FakeRuntime> {
        Arc::new(FakeRuntime::default())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commands whose line contains `needle` exit `code` printing `stdout` (later rules are
    /// consulted only when earlier ones do not match).
    pub fn on_exec(&self, needle: &str, code: i64, stdout: &str) {
        self.on_exec_output(
            needle,
            Output {
                code,
                stdout: stdout.to_string(),
                stderr: String::new(),
            },
        );
    }

    /// [`on_exec`](Self::on_exec) with a full [`Output`] (standard error too). A rule for the
    /// same `needle` replaces the earlier one.
    pub fn on_exec_output(&self, needle: &str, output: Output) {
        let mut g = self.lock();
        g.rules.retain(|r| r.needle != needle);
        g.rules.insert(
            0,
            Rule {
                needle: needle.to_string(),
                output: Answer::Fixed(output),
            },
        );
    }

    /// Commands whose line contains `needle` print what `f(host, command line)` returns: a
    /// test models state the commands change (called without the runtime's lock held). Like
    /// [`on_exec_output`](Self::on_exec_output), it replaces an earlier rule for `needle`.
    pub fn on_exec_with(
        &self,
        needle: &str,
        f: impl Fn(&str, &str) -> Output + Send + Sync + 'static,
    ) {
        let mut g = self.lock();
        g.rules.retain(|r| r.needle != needle);
        g.rules.insert(
            0,
            Rule {
                needle: needle.to_string(),
                output: Answer::With(Arc::new(f)),
            },
        );
    }

    /// What commands no rule matches print (by default: exit 0, nothing).
    pub fn default_output(&self, output: Output) {
        self.lock().default_output = Some(output);
    }

    /// The next `times` calls of `op` fail with [`RuntimeError::Engine`]`(message)`.
    pub fn fail_next(&self, op: Op, times: usize, message: &str) {
        let mut g = self.lock();
        let q = g.failures.entry(op).or_default();
        q.extend(std::iter::repeat_n(message.to_string(), times));
    }

    /// Makes an existing lab report `health` (as if its containers broke from outside); with
    /// [`Health::Missing`] the lab is gone.
    pub fn set_health(&self, sandbox: &str, health: Health) {
        let mut g = self.lock();
        if health == Health::Missing {
            g.labs.remove(sandbox);
        } else if let Some(l) = g.labs.get_mut(sandbox) {
            l.health = health;
        }
    }

    /// Creates a lab behind the platform's back (an orphan, or one left from a previous run).
    pub fn add_lab(&self, sandbox: &str, nodes: u8) {
        self.lock().labs.insert(
            sandbox.to_string(),
            Lab {
                nodes,
                health: Health::Running,
                server: None,
            },
        );
    }

    /// Creates a lab behind the platform's back, labelled as made by the server `server`
    /// (another `kplab serve` on the same Docker host, or this one before a restart).
    pub fn add_lab_of(&self, sandbox: &str, nodes: u8, server: &str) {
        self.lock().labs.insert(
            sandbox.to_string(),
            Lab {
                nodes,
                health: Health::Running,
                server: Some(server.to_string()),
            },
        );
    }

    /// The server id a lab is labelled with.
    pub fn server_of(&self, sandbox: &str) -> Option<String> {
        self.lock().labs.get(sandbox).and_then(|l| l.server.clone())
    }

    /// Starts wait (in `up`) until the returned gate is released or dropped.
    pub fn hold_starts(self: &Arc<Self>) -> StartGate {
        let (tx, rx) = tokio::sync::watch::channel(false);
        *self.hold.lock().unwrap_or_else(|p| p.into_inner()) = Some(rx);
        StartGate {
            tx,
            rt: self.clone(),
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The calls of one operation.
    pub fn calls_of(&self, op: Op) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.op() == op).collect()
    }

    /// The command lines run in `sandbox`, in order.
    pub fn commands(&self, sandbox: &str) -> Vec<String> {
        self.calls()
            .iter()
            .filter(|c| c.sandbox() == Some(sandbox))
            .filter_map(Call::command)
            .collect()
    }

    /// The labs that exist now, by name.
    pub fn labs(&self) -> Vec<String> {
        self.lock().labs.keys().cloned().collect()
    }

    /// How many nodes a lab was started with.
    pub fn nodes(&self, sandbox: &str) -> Option<u8> {
        self.lock().labs.get(sandbox).map(|l| l.nodes)
    }

    /// Records `call`, then fails it if a failure is queued for its operation.
    fn enter(&self, call: Call) -> Result<(), RuntimeError> {
        let mut g = self.lock();
        let op = call.op();
        g.calls.push(call);
        match g.failures.get_mut(&op).and_then(VecDeque::pop_front) {
            Some(msg) => Err(RuntimeError::Engine(msg)),
            None => Ok(()),
        }
    }

    fn host_of(&self, sandbox: &str, host: &str) -> Result<(), RuntimeError> {
        let g = self.lock();
        let lab = g
            .labs
            .get(sandbox)
            .ok_or_else(|| RuntimeError::Missing(sandbox.to_string()))?;
        let ok = host == "client"
            || host
                .strip_prefix("node-")
                .and_then(|n| n.parse::<u8>().ok())
                .is_some_and(|n| (1..=lab.nodes).contains(&n));
        if !ok {
            return Err(RuntimeError::NoHost(host.to_string()));
        }
        if lab.health != Health::Running {
            return Err(RuntimeError::Engine(format!(
                "lab {sandbox} is not running"
            )));
        }
        Ok(())
    }
}

struct NoResize;

#[async_trait]
impl Resize for NoResize {
    async fn resize(&self, _cols: u16, _rows: u16) -> Result<(), RuntimeError> {
        Ok(())
    }
}

#[async_trait]
impl LabRuntime for FakeRuntime {
    async fn up(
        &self,
        sandbox: &str,
        server: &str,
        learner: &str,
        nodes: u8,
    ) -> Result<(), RuntimeError> {
        self.enter(Call::Up {
            sandbox: sandbox.to_string(),
            learner: learner.to_string(),
            nodes,
        })?;
        let hold = self.hold.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(mut rx) = hold {
            // Released when the gate sends or is dropped.
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
        let mut g = self.lock();
        if g.labs.contains_key(sandbox) {
            return Err(RuntimeError::Engine(format!(
                "lab {sandbox} already exists"
            )));
        }
        g.labs.insert(
            sandbox.to_string(),
            Lab {
                nodes,
                health: Health::Running,
                server: Some(server.to_string()).filter(|s| !s.is_empty()),
            },
        );
        Ok(())
    }

    async fn down(&self, sandbox: &str) -> Result<(), RuntimeError> {
        self.enter(Call::Down {
            sandbox: sandbox.to_string(),
        })?;
        self.lock().labs.remove(sandbox);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Sandbox>, RuntimeError> {
        self.enter(Call::List {
            prefix: prefix.to_string(),
        })?;
        Ok(self
            .lock()
            .labs
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(n, l)| Sandbox {
                name: n.clone(),
                server: l.server.clone(),
            })
            .collect())
    }

    async fn health(&self, sandbox: &str) -> Result<Health, RuntimeError> {
        self.enter(Call::Health {
            sandbox: sandbox.to_string(),
        })?;
        Ok(self
            .lock()
            .labs
            .get(sandbox)
            .map_or(Health::Missing, |l| l.health.clone()))
    }

    async fn exec(&self, sandbox: &str, host: &str, argv: &[&str]) -> Result<Output, RuntimeError> {
        self.enter(Call::Exec {
            sandbox: sandbox.to_string(),
            host: host.to_string(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
        })?;
        self.host_of(sandbox, host)?;
        let line = argv.join(" ");
        let answer = {
            let g = self.lock();
            match g.rules.iter().find(|r| line.contains(&r.needle)) {
                Some(Rule {
                    output: Answer::Fixed(o),
                    ..
                }) => Ok(o.clone()),
                Some(Rule {
                    output: Answer::With(f),
                    ..
                }) => Err(f.clone()),
                None => Ok(g.default_output.clone().unwrap_or(Output {
                    code: 0,
                    stdout: String::new(),
                    stderr: String::new(),
                })),
            }
        };
        Ok(answer.unwrap_or_else(|f| f(host, &line)))
    }

    async fn terminal(
        &self,
        sandbox: &str,
        host: &str,
        _cols: u16,
        _rows: u16,
    ) -> Result<Terminal, RuntimeError> {
        self.enter(Call::Terminal {
            sandbox: sandbox.to_string(),
            host: host.to_string(),
        })?;
        self.host_of(sandbox, host)?;
        // The shell echoes what it is sent, as a TTY does.
        let (input, output) = tokio::io::duplex(64 * 1024);
        let output = futures_util::stream::unfold(output, |mut r| async move {
            let mut buf = vec![0u8; 4096];
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(buf), r))
                }
            }
        })
        .boxed();
        Ok(Terminal {
            output: output as Pin<Box<_>>,
            input: Box::pin(input),
            resizer: Arc::new(NoResize),
        })
    }
}
