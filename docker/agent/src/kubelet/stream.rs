//! The two-way exec and attach stream the API server's `pods/exec` and `pods/attach` open
//! (`kube::stream` has the frames).
//!
//! exec runs `nsenter --net=/proc/PID/ns/net -- CMD…` in its own process group; with `tty=1`
//! on a new pseudo-terminal, through `setsid --ctty` so the terminal is the command's
//! controlling one (job control, ^C); the client's first resize frame (awaited up to a second)
//! sizes the new terminal before the command starts, later ones become `stty rows H cols W` on
//! it (the agent forbids `unsafe`, so no ioctl of our own). stdin frames go to the command (an empty one
//! closes its stdin; on a terminal it types ^D), output comes back as stdout/stderr frames (one
//! stream with a terminal, as on a real node), then the exit code. The client leaving (the
//! connection closes) kills the command's process group.
//!
//! attach to an interactive pod (first container `stdin: true`, see `super::console`) talks to
//! its process: stdin and resize frames go to it, its output comes back (on a terminal one
//! stream; what it wrote before the first attach first), and when it exits the stream ends with
//! exit code 0, as the upstream kubelet's attach ends with Success whatever the code (kubectl
//! reads the code from the pod's status). attach to any other pod streams what the pod writes
//! from now on (the pod server has no stdin), until the pod is gone or the client leaves.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::console::{Console, Output};
use super::server::{status, Server};
use crate::kube::stream::{self as ks, StreamRequest};

enum Event {
    /// Output on a stream; an empty payload says that stream ended.
    Out(u8, Vec<u8>),
    /// The command exited with this code.
    Exited(i32),
    /// The client closed its side.
    Gone,
}

/// Answers `GET /exec|attach/{ns}/{pod}` with `Upgrade: kplab-stream`.
pub(crate) fn serve(
    srv: &Server,
    reader: BufReader<TcpStream>,
    mut out: TcpStream,
    kind: &str,
    ns: &str,
    pod: &str,
    query: &str,
) -> std::io::Result<()> {
    let Some(pid) = (srv.lookup)(ns, pod) else {
        return status(
            &mut out,
            404,
            "NotFound",
            &format!("pods \"{pod}\" not found"),
        );
    };
    let pairs = ks::query_pairs(query);
    let req = StreamRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if kind == "exec" && req.command.is_empty() {
        return status(
            &mut out,
            400,
            "BadRequest",
            "you must specify at least one command for the container",
        );
    }
    if !req.stdin && !req.stdout && !req.stderr {
        return status(
            &mut out,
            400,
            "BadRequest",
            "you must specify at least 1 of stdin, stdout, stderr",
        );
    }
    out.set_read_timeout(None)?;
    out.write_all(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: {}\r\nConnection: Upgrade\r\n\r\n",
            ks::UPGRADE
        )
        .as_bytes(),
    )?;
    out.flush()?;
    let result = if kind == "exec" {
        exec(pid, ns, &req, reader, &mut out)
    } else if let Some(console) = (srv.consoles)(ns, pod) {
        attach_console(&console, &req, reader, &mut out)
    } else {
        let log = srv.pod_log_dir.join(format!("{ns}_{pod}.log"));
        let lookup = std::sync::Arc::clone(&srv.lookup);
        let (ns, pod) = (ns.to_string(), pod.to_string());
        attach(&log, move || lookup(&ns, &pod).is_some(), reader, &mut out)
    };
    let _ = out.shutdown(Shutdown::Both);
    result
}

/// A started command: what to write its stdin to and what to read its output from.
struct Started {
    child: Child,
    input: Option<Box<dyn Write + Send>>,
    outputs: Vec<(u8, Box<dyn Read + Send>)>,
    /// The terminal's path, for resizes.
    tty: Option<PathBuf>,
}

fn start(
    pid: u32,
    ns: &str,
    req: &StreamRequest,
    size: Option<(u16, u16)>,
) -> std::io::Result<Started> {
    let mut cmd = if req.tty {
        let mut c = Command::new("setsid");
        c.args(["-w", "-c", "nsenter"]);
        c
    } else {
        let mut c = Command::new("nsenter");
        c.process_group(0);
        c
    };
    cmd.arg(format!("--net=/proc/{pid}/ns/net"))
        .arg("--")
        .args(&req.command);
    for (k, v) in ks::resolver_env(ns) {
        cmd.env(k, v);
    }
    if req.tty {
        cmd.env("TERM", "xterm");
        let size = size.map(|(w, h)| nix::pty::Winsize {
            ws_row: h,
            ws_col: w,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        let pty = nix::pty::openpty(size.as_ref(), None).map_err(std::io::Error::from)?;
        let path = nix::unistd::ttyname(&pty.slave).map_err(std::io::Error::from)?;
        cmd.stdin(Stdio::from(pty.slave.try_clone()?))
            .stdout(Stdio::from(pty.slave.try_clone()?))
            .stderr(Stdio::from(pty.slave));
        let child = cmd.spawn()?;
        // `cmd` holds the last copies of the terminal's other end: dropping it lets a read of
        // the master end with EIO once the command (and whatever it left behind) closes it.
        drop(cmd);
        let master = File::from(pty.master);
        let input = master.try_clone()?;
        Ok(Started {
            child,
            input: Some(Box::new(input)),
            outputs: vec![(ks::STDOUT, Box::new(master))],
            tty: Some(path),
        })
    } else {
        let mut child = crate::kube::process::spawn_piped(&mut cmd, req.stdin)?;
        let mut outputs: Vec<(u8, Box<dyn Read + Send>)> = Vec::new();
        if let Some(o) = child.stdout.take() {
            outputs.push((ks::STDOUT, Box::new(o)));
        }
        if let Some(e) = child.stderr.take() {
            outputs.push((ks::STDERR, Box::new(e)));
        }
        let input = child
            .stdin
            .take()
            .map(|i| Box::new(i) as Box<dyn Write + Send>);
        Ok(Started {
            child,
            input,
            outputs,
            tty: None,
        })
    }
}

fn exec(
    pid: u32,
    ns: &str,
    req: &StreamRequest,
    reader: BufReader<TcpStream>,
    out: &mut TcpStream,
) -> std::io::Result<()> {
    let frames = read_frames(reader);
    // A terminal starts at the client's size: its first resize comes right after the streams
    // open (kubectl over SPDY opens several first), and a command that looks at its terminal
    // at once must not see 0x0. What comes before it is kept for the command.
    let mut early = Vec::new();
    let mut size = None;
    if req.tty {
        let until = std::time::Instant::now() + FIRST_RESIZE;
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            match frames.recv_timeout(left) {
                Ok(Some((ks::RESIZE, data))) if ks::parse_resize(&data).is_some() => {
                    size = ks::parse_resize(&data);
                    break;
                }
                Ok(Some(f)) => early.push(Some(f)),
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    early.push(None);
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
            }
        }
    }
    let started = match start(pid, ns, req, size) {
        Ok(s) => s,
        Err(e) => {
            out.write_all(&ks::frame(
                ks::STDERR,
                format!("cannot start the command: {e}\n").as_bytes(),
            ))?;
            return out.write_all(&ks::frame(ks::EXIT, b"126"));
        }
    };
    let Started {
        mut child,
        input,
        outputs,
        tty,
    } = started;
    let group = child.id();
    let (tx, rx) = mpsc::channel::<Event>();
    let readers = outputs.len();
    for (id, mut pipe) in outputs {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match pipe.read(&mut buf) {
                    // A terminal's master end reads EIO once no process holds the other end.
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Event::Out(id, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = tx.send(Event::Out(id, Vec::new()));
        });
    }
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let code = match child.wait() {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
                }
                Err(_) => 1,
            };
            let _ = tx.send(Event::Exited(code));
        });
    }
    spawn_input(early, frames, input, tty, tx);
    let mut open = readers;
    let mut code = None;
    loop {
        let ev = match code {
            // After the exit, what the command wrote last is read for a moment; output held
            // open by something it left running does not keep the stream alive.
            Some(_) => match rx.recv_timeout(Duration::from_millis(300)) {
                Ok(e) => e,
                Err(_) => break,
            },
            None => match rx.recv() {
                Ok(e) => e,
                Err(_) => break,
            },
        };
        match ev {
            Event::Out(_, data) if data.is_empty() => {
                open -= 1;
                if open == 0 && code.is_some() {
                    break;
                }
            }
            Event::Out(id, data) => {
                if out.write_all(&ks::frame(id, &data)).is_err() {
                    kill_group(group);
                    return Ok(());
                }
            }
            Event::Exited(c) => {
                code = Some(c);
                if open == 0 {
                    break;
                }
            }
            Event::Gone => {
                kill_group(group);
                return Ok(());
            }
        }
    }
    let code = code.unwrap_or(1);
    out.write_all(&ks::frame(ks::EXIT, code.to_string().as_bytes()))?;
    out.flush()
}

/// How long a terminal's command waits for the client's first resize.
const FIRST_RESIZE: Duration = Duration::from_secs(1);

/// The client's frames, read on a thread of their own; `None` (last) is the connection's end.
fn read_frames(mut reader: BufReader<TcpStream>) -> mpsc::Receiver<Option<(u8, Vec<u8>)>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        match ks::read_frame(&mut reader) {
            Ok(Some(f)) => {
                if tx.send(Some(f)).is_err() {
                    return;
                }
            }
            Ok(None) | Err(_) => {
                let _ = tx.send(None);
                return;
            }
        }
    });
    rx
}

/// Applies the client's frames (`early` ones first): stdin to the command, resizes to the terminal; the end of the
/// connection is [`Event::Gone`].
fn spawn_input(
    early: Vec<Option<(u8, Vec<u8>)>>,
    frames: mpsc::Receiver<Option<(u8, Vec<u8>)>>,
    mut input: Option<Box<dyn Write + Send>>,
    tty: Option<PathBuf>,
    tx: mpsc::Sender<Event>,
) {
    let mut early = early.into_iter();
    std::thread::spawn(move || loop {
        let next = early.next().or_else(|| frames.recv().ok()).flatten();
        match next {
            Some((ks::STDIN, data)) if data.is_empty() => {
                if tty.is_some() {
                    // The end of a terminal's input is the EOF character.
                    if let Some(w) = input.as_mut() {
                        let _ = w.write_all(&[4]);
                        let _ = w.flush();
                    }
                } else {
                    input = None;
                }
            }
            Some((ks::STDIN, data)) => {
                if let Some(w) = input.as_mut() {
                    if w.write_all(&data).and_then(|_| w.flush()).is_err() {
                        input = None;
                    }
                }
            }
            Some((ks::RESIZE, data)) => {
                if let (Some(path), Some((w, h))) = (tty.as_deref(), ks::parse_resize(&data)) {
                    resize(path, w, h);
                }
            }
            Some(_) => {}
            None => {
                let _ = tx.send(Event::Gone);
                return;
            }
        }
    });
}

/// Sets a terminal's size (the kernel signals SIGWINCH to its foreground process group).
fn resize(tty: &Path, width: u16, height: u16) {
    let _ = Command::new("stty")
        .arg("-F")
        .arg(tty)
        .args(["rows", &height.to_string(), "cols", &width.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn kill_group(pgid: u32) {
    if let Ok(p) = i32::try_from(pgid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// attach to an interactive pod's console, until its process exits or the client leaves.
fn attach_console(
    console: &std::sync::Arc<Console>,
    req: &StreamRequest,
    reader: BufReader<TcpStream>,
    out: &mut TcpStream,
) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel::<Output>();
    {
        let frames = read_frames(reader);
        let console = std::sync::Arc::clone(console);
        let tx = tx.clone();
        let stdin = req.stdin;
        std::thread::spawn(move || loop {
            match frames.recv().ok().flatten() {
                Some((ks::STDIN, data)) if stdin => console.input(&data),
                Some((ks::RESIZE, data)) => {
                    if let (Some(path), Some((w, h))) = (console.tty(), ks::parse_resize(&data)) {
                        resize(path, w, h);
                    }
                }
                Some(_) => {}
                None => {
                    let _ = tx.send(Output::ClientGone);
                    return;
                }
            }
        });
    }
    console.subscribe(tx);
    let wanted = |id: u8| (id == ks::STDOUT && req.stdout) || (id == ks::STDERR && req.stderr);
    let mut exited = false;
    loop {
        let ev = if exited {
            // What the process wrote last is still on its way for a moment.
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(e) => e,
                Err(_) => break,
            }
        } else {
            match rx.recv() {
                Ok(e) => e,
                Err(_) => break,
            }
        };
        match ev {
            Output::Data(id, data) if wanted(id) => {
                if out.write_all(&ks::frame(id, &data)).is_err() {
                    console.detached();
                    return Ok(());
                }
            }
            Output::Data(..) => {}
            Output::Exited(_) => exited = true,
            Output::ClientGone => {
                console.detached();
                return Ok(());
            }
        }
    }
    console.detached();
    out.write_all(&ks::frame(ks::EXIT, b"0"))?;
    out.flush()
}

/// attach: what the pod writes to its log from now on, as stdout frames.
fn attach(
    log: &Path,
    alive: impl Fn() -> bool,
    reader: BufReader<TcpStream>,
    out: &mut TcpStream,
) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel::<Event>();
    spawn_input(Vec::new(), read_frames(reader), None, None, tx);
    let mut file = File::open(log).ok();
    if let Some(f) = file.as_mut() {
        f.seek(SeekFrom::End(0))?;
    }
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if let Some(f) = file.as_mut() {
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                out.write_all(&ks::frame(ks::STDOUT, &buf[..n]))?;
            }
        } else {
            file = File::open(log).ok();
        }
        if !alive() {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(Event::Gone) => return Ok(()),
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
    out.write_all(&ks::frame(ks::EXIT, b"0"))?;
    out.flush()
}

/// Connects to `127.0.0.1:port` inside the network namespace of process `pid`: a thread of
/// its own enters the namespace (setns is per thread) and the socket stays there.
fn connect_in_netns(pid: u32, port: u16) -> std::io::Result<TcpStream> {
    let ns = File::open(format!("/proc/{pid}/ns/net"))?;
    std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(5),
        )
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("the connecting thread panicked")))
}

/// Answers `GET /portforward/{ns}/{pod}?port=N` with `Upgrade: kplab-stream`: a byte tunnel to
/// the pod's port.
pub(crate) fn portforward(
    srv: &Server,
    reader: BufReader<TcpStream>,
    mut out: TcpStream,
    ns: &str,
    pod: &str,
    query: &str,
) -> std::io::Result<()> {
    let Some(pid) = (srv.lookup)(ns, pod) else {
        return status(
            &mut out,
            404,
            "NotFound",
            &format!("pods \"{pod}\" not found"),
        );
    };
    let port = ks::query_pairs(query)
        .into_iter()
        .find(|(k, _)| k == "port")
        .and_then(|(_, v)| v.parse::<u16>().ok())
        .filter(|p| *p > 0);
    let Some(port) = port else {
        return status(&mut out, 400, "BadRequest", "invalid port in the request");
    };
    let target = match connect_in_netns(pid, port) {
        Ok(t) => t,
        Err(e) => {
            // The upstream kubelet's words, as the client prints them.
            let why = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
                _ => e.to_string(),
            };
            let msg = format!(
                "failed to connect to localhost:{port} inside namespace of pod {ns}/{pod}, IPv4: dial tcp4 127.0.0.1:{port}: {why}"
            );
            return status(&mut out, 500, "InternalError", &msg);
        }
    };
    out.set_read_timeout(None)?;
    out.write_all(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: {}\r\nConnection: Upgrade\r\n\r\n",
            ks::UPGRADE
        )
        .as_bytes(),
    )?;
    out.flush()?;
    let mut to_pod = target.try_clone()?;
    let mut from_client = reader;
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_pod);
        let _ = to_pod.shutdown(Shutdown::Write);
    });
    let mut from_pod = target;
    let _ = std::io::copy(&mut from_pod, &mut out);
    let _ = out.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}
