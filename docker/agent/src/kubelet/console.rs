//! The console of an interactive pod (first container with `stdin: true`, as `kubectl run -i`
//! and `kubectl debug node/…` make): the pod's process runs the container's command on a
//! pseudo-terminal (`tty: true`) or on pipes, its output is appended to the pod's log and handed
//! to whoever is attached (`pods/attach`), and attached clients write its stdin.
//!
//! What the process wrote before the first attach is replayed to that first attach (kubectl
//! attaches only once the pod is Running, and a quick command would otherwise lose its output
//! to the race). With `stdinOnce`, stdin is closed when the first attach session ends.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

/// What an attached client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Output on stream 1 (stdout) or 2 (stderr).
    Data(u8, Vec<u8>),
    /// The process exited with this code.
    Exited(i32),
    /// The client left (sent by the attach session's own input reader).
    ClientGone,
}

/// Most bytes kept for the first attach.
const BACKLOG_MAX: usize = 256 * 1024;

struct State {
    input: Option<Box<dyn Write + Send>>,
    subscribers: Vec<mpsc::Sender<Output>>,
    /// Output not yet seen by any attach (`None` once one attached).
    backlog: Option<Vec<(u8, Vec<u8>)>>,
    backlog_bytes: usize,
    exit: Option<i32>,
}

/// One interactive pod's console.
pub struct Console {
    tty: Option<PathBuf>,
    stdin_once: bool,
    state: Mutex<State>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("tty", &self.tty)
            .field("stdin_once", &self.stdin_once)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// A console writing stdin to `input`; `tty` is the terminal's path (for resizes).
    pub fn new(
        tty: Option<PathBuf>,
        stdin_once: bool,
        input: Option<Box<dyn Write + Send>>,
    ) -> Arc<Console> {
        Arc::new(Console {
            tty,
            stdin_once,
            state: Mutex::new(State {
                input,
                subscribers: Vec::new(),
                backlog: Some(Vec::new()),
                backlog_bytes: 0,
                exit: None,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The terminal's path, when the process has one.
    pub fn tty(&self) -> Option<&Path> {
        self.tty.as_deref()
    }

    /// Reads `from` on a thread of its own until it ends: appended to `log`, handed to the
    /// attached clients (or kept for the first one) as stream `id`.
    pub fn pump(self: &Arc<Self>, id: u8, mut from: Box<dyn Read + Send>, mut log: File) {
        let me = Arc::clone(self);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                // A terminal's master end reads EIO once no process holds the other end.
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let data = &buf[..n];
                let _ = log.write_all(data);
                let mut st = me.state();
                if let Some(b) = st.backlog.as_mut() {
                    b.push((id, data.to_vec()));
                    st.backlog_bytes += n;
                    while st.backlog_bytes > BACKLOG_MAX {
                        let Some(first) = st.backlog.as_mut().filter(|b| !b.is_empty()) else {
                            break;
                        };
                        let gone = first.remove(0);
                        st.backlog_bytes -= gone.1.len();
                    }
                }
                st.subscribers
                    .retain(|s| s.send(Output::Data(id, data.to_vec())).is_ok());
            }
        });
    }

    /// Attaches `to`: the backlog first (first attach only), then what comes; `Exited` at once
    /// when the process has exited.
    pub fn subscribe(&self, to: mpsc::Sender<Output>) {
        let mut st = self.state();
        for (id, data) in st.backlog.take().unwrap_or_default() {
            let _ = to.send(Output::Data(id, data));
        }
        st.backlog_bytes = 0;
        if let Some(code) = st.exit {
            let _ = to.send(Output::Exited(code));
        }
        st.subscribers.push(to);
    }

    /// Client input: bytes for stdin; an empty one is the end of input (^D on a terminal).
    pub fn input(&self, data: &[u8]) {
        let mut st = self.state();
        let tty = self.tty.is_some();
        let Some(w) = st.input.as_mut() else {
            return;
        };
        let ok = if data.is_empty() {
            if tty {
                w.write_all(&[4]).and_then(|_| w.flush()).is_ok()
            } else {
                false
            }
        } else {
            w.write_all(data).and_then(|_| w.flush()).is_ok()
        };
        if !ok {
            st.input = None;
        }
    }

    /// An attach session ended: with `stdinOnce`, stdin is closed.
    pub fn detached(&self) {
        if !self.stdin_once {
            return;
        }
        let mut st = self.state();
        if let Some(mut w) = st.input.take() {
            if self.tty.is_some() {
                let _ = w.write_all(&[4]);
                let _ = w.flush();
            }
        }
    }

    /// The process exited: every attached client is told.
    pub fn exited(&self, code: i32) {
        let mut st = self.state();
        if st.exit.is_some() {
            return;
        }
        st.exit = Some(code);
        st.input = None;
        st.subscribers
            .retain(|s| s.send(Output::Exited(code)).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_attach_gets_the_backlog_and_later_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let (r, mut w) = std::io::pipe().unwrap();
        let c = Console::new(None, true, None);
        c.pump(1, Box::new(r), File::create(&log).unwrap());
        w.write_all(b"hi\n").unwrap();
        drop(w);
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (tx, rx) = mpsc::channel();
        c.subscribe(tx);
        assert_eq!(rx.try_recv(), Ok(Output::Data(1, b"hi\n".to_vec())));
        c.exited(3);
        assert_eq!(rx.try_recv(), Ok(Output::Exited(3)));
        let (tx, rx) = mpsc::channel();
        c.subscribe(tx);
        assert_eq!(rx.try_recv(), Ok(Output::Exited(3)));
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "hi\n");
    }

    #[test]
    fn stdin_once_closes_stdin_when_the_first_session_ends() {
        for (once, open_after) in [(true, false), (false, true)] {
            let (mut r, w) = std::io::pipe().unwrap();
            let c = Console::new(None, once, Some(Box::new(w)));
            c.input(b"a");
            c.detached();
            c.input(b"b");
            drop(c);
            let mut got = String::new();
            r.read_to_string(&mut got).unwrap();
            assert_eq!(got, if open_after { "ab" } else { "a" });
        }
    }
}
