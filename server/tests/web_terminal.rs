//! The terminal pump without Docker: a shell made of channels, WebSockets made of channels.
//! Typing reaches the shell, output reaches the browser, resize is forwarded, a reconnect
//! replays recent output, the shell's exit is reported.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_channel::mpsc;
use futures_util::{SinkExt, StreamExt};
use kplab::engine::runtime::{Resize, RuntimeError, Terminal};
use kplab::engine::terminal::{pump, Frame, Shell, REPLAY_BYTES};
use tokio::io::AsyncReadExt;

#[derive(Default)]
struct Sizes(Mutex<Vec<(u16, u16)>>);

#[async_trait]
impl Resize for Sizes {
    async fn resize(&self, cols: u16, rows: u16) -> Result<(), RuntimeError> {
        self.0.lock().unwrap().push((cols, rows));
        Ok(())
    }
}

struct FakeShell {
    out: mpsc::UnboundedSender<Result<Vec<u8>, RuntimeError>>,
    typed: tokio::io::DuplexStream,
    sizes: Arc<Sizes>,
    shell: Arc<Shell>,
}

fn fake_shell() -> FakeShell {
    let (out_tx, out_rx) = mpsc::unbounded();
    let (input, typed) = tokio::io::duplex(64 * 1024);
    let sizes = Arc::new(Sizes::default());
    let shell = Shell::spawn(Terminal {
        output: Box::pin(out_rx),
        input: Box::pin(input),
        resizer: sizes.clone(),
    });
    FakeShell {
        out: out_tx,
        typed,
        sizes,
        shell,
    }
}

struct Browser {
    to_server: mpsc::UnboundedSender<Result<Frame, std::io::Error>>,
    from_server: mpsc::UnboundedReceiver<Frame>,
    task: tokio::task::JoinHandle<()>,
}

fn attach(shell: &Arc<Shell>, inputs: Arc<Mutex<usize>>) -> Browser {
    let (to_server, rx) = mpsc::unbounded::<Result<Frame, std::io::Error>>();
    let (tx, from_server) = mpsc::unbounded::<Frame>();
    let shell = shell.clone();
    let task = tokio::spawn(async move {
        pump(tx.sink_map_err(|_| ()), rx, shell, move || {
            *inputs.lock().unwrap() += 1
        })
        .await;
    });
    Browser {
        to_server,
        from_server,
        task,
    }
}

async fn next_binary(b: &mut Browser) -> Vec<u8> {
    match tokio::time::timeout(Duration::from_secs(5), b.from_server.next())
        .await
        .expect("a frame within 5 s")
    {
        Some(Frame::Binary(bytes)) => bytes,
        Some(other) => panic!("expected bytes, got {other:?}"),
        None => panic!("the pump closed"),
    }
}

#[tokio::test]
async fn bytes_flow_both_ways_and_resize_is_forwarded() {
    let mut f = fake_shell();
    let inputs = Arc::new(Mutex::new(0));
    let mut b = attach(&f.shell, inputs.clone());
    b.to_server
        .unbounded_send(Ok(Frame::Binary(b"ls -l\r".to_vec())))
        .unwrap();
    let mut typed = vec![0u8; 6];
    tokio::time::timeout(Duration::from_secs(5), f.typed.read_exact(&mut typed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&typed, b"ls -l\r");
    assert_eq!(*inputs.lock().unwrap(), 1, "typing counts as activity");

    f.out.unbounded_send(Ok(b"total 0\r\n$ ".to_vec())).unwrap();
    assert_eq!(next_binary(&mut b).await, b"total 0\r\n$ ");

    b.to_server
        .unbounded_send(Ok(Frame::Text(
            r#"{"type":"resize","cols":120,"rows":40}"#.into(),
        )))
        .unwrap();
    b.to_server
        .unbounded_send(Ok(Frame::Text("not json".into())))
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), b.from_server.next())
        .await
        .unwrap()
    {
        Some(Frame::Text(t)) => assert!(
            t.contains(r#""type":"error""#) && t.contains("bad control message"),
            "{t}"
        ),
        other => panic!("expected an error message, got {other:?}"),
    }
    assert_eq!(*f.sizes.0.lock().unwrap(), vec![(120, 40)]);

    // Oversized sizes are refused, not forwarded.
    b.to_server
        .unbounded_send(Ok(Frame::Text(
            r#"{"type":"resize","cols":0,"rows":40}"#.into(),
        )))
        .unwrap();
    assert!(matches!(b.from_server.next().await, Some(Frame::Text(_))));
    assert_eq!(f.sizes.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_reconnect_replays_recent_output_and_keeps_the_shell() {
    let mut f = fake_shell();
    let inputs = Arc::new(Mutex::new(0));
    let mut b1 = attach(&f.shell, inputs.clone());
    f.out.unbounded_send(Ok(b"first\r\n".to_vec())).unwrap();
    assert_eq!(next_binary(&mut b1).await, b"first\r\n");
    // The network blips: the browser's socket goes away.
    b1.to_server.unbounded_send(Ok(Frame::Close)).unwrap();
    tokio::time::timeout(Duration::from_secs(5), b1.task)
        .await
        .unwrap()
        .unwrap();
    // Output while nobody is attached is kept.
    f.out
        .unbounded_send(Ok(b"while away\r\n".to_vec()))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut b2 = attach(&f.shell, inputs.clone());
    assert_eq!(
        next_binary(&mut b2).await,
        b"first\r\nwhile away\r\n",
        "the replay buffer comes first"
    );
    f.out.unbounded_send(Ok(b"live\r\n".to_vec())).unwrap();
    assert_eq!(next_binary(&mut b2).await, b"live\r\n");
    // The same shell still takes input.
    b2.to_server
        .unbounded_send(Ok(Frame::Binary(b"x".to_vec())))
        .unwrap();
    let mut one = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(5), f.typed.read_exact(&mut one))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&one, b"x");
}

#[tokio::test]
async fn the_replay_buffer_is_bounded() {
    let f = fake_shell();
    let chunk = vec![b'a'; 16 * 1024];
    for _ in 0..8 {
        f.out.unbounded_send(Ok(chunk.clone())).unwrap();
    }
    f.out.unbounded_send(Ok(b"END".to_vec())).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut b = attach(&f.shell, Arc::new(Mutex::new(0)));
    let replay = next_binary(&mut b).await;
    assert_eq!(replay.len(), REPLAY_BYTES);
    assert!(replay.ends_with(b"END"));
}

#[tokio::test]
async fn the_shell_exiting_is_reported_and_closes_the_socket() {
    let f = fake_shell();
    let mut b = attach(&f.shell, Arc::new(Mutex::new(0)));
    f.out.unbounded_send(Ok(b"bye\r\n".to_vec())).unwrap();
    drop(f.out);
    assert_eq!(next_binary(&mut b).await, b"bye\r\n");
    assert_eq!(
        b.from_server.next().await,
        Some(Frame::Text(r#"{"type":"exit"}"#.into()))
    );
    assert_eq!(b.from_server.next().await, Some(Frame::Close));
    assert!(f.shell.is_closed());
}

async fn next_frame(rx: &mut mpsc::UnboundedReceiver<Frame>) -> Frame {
    tokio::time::timeout(Duration::from_secs(5), rx.next())
        .await
        .expect("a frame within 5 s")
        .expect("the stream is open")
}

/// The instructor's read-only view: it is told the learner's terminal size first and on every
/// resize (so it draws the output on the same grid), gets the output, and nothing it sends
/// reaches the shell.
#[tokio::test]
async fn a_viewer_gets_the_learners_size_and_output_and_types_nothing() {
    let mut f = fake_shell();
    assert_eq!(f.shell.size(), kplab::engine::terminal::OPEN_SIZE);
    let learner = attach(&f.shell, Arc::new(Mutex::new(0)));
    learner
        .to_server
        .unbounded_send(Ok(Frame::Text(
            r#"{"type":"resize","cols":78,"rows":24}"#.into(),
        )))
        .unwrap();
    let t0 = std::time::Instant::now();
    while f.shell.size() != (78, 24) {
        assert!(t0.elapsed() < Duration::from_secs(5), "resize not applied");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f.out.unbounded_send(Ok(b"before\r\n".to_vec())).unwrap();

    let (to_server, rx) = mpsc::unbounded::<Result<Frame, std::io::Error>>();
    let (tx, mut from_server) = mpsc::unbounded::<Frame>();
    let shell = f.shell.clone();
    let viewer = tokio::spawn(async move {
        kplab::engine::terminal::watch(tx.sink_map_err(|_| ()), rx, shell).await;
    });
    assert_eq!(
        next_frame(&mut from_server).await,
        Frame::Text(r#"{"type":"size","cols":78,"rows":24}"#.into())
    );
    assert_eq!(
        next_frame(&mut from_server).await,
        Frame::Binary(b"before\r\n".to_vec())
    );

    // What the viewer sends is dropped: keystrokes and resizes alike.
    to_server
        .unbounded_send(Ok(Frame::Binary(b"rm -rf /\r".to_vec())))
        .unwrap();
    to_server
        .unbounded_send(Ok(Frame::Text(
            r#"{"type":"resize","cols":170,"rows":50}"#.into(),
        )))
        .unwrap();
    // The learner resizes: the viewer is told.
    learner
        .to_server
        .unbounded_send(Ok(Frame::Text(
            r#"{"type":"resize","cols":80,"rows":30}"#.into(),
        )))
        .unwrap();
    assert_eq!(
        next_frame(&mut from_server).await,
        Frame::Text(r#"{"type":"size","cols":80,"rows":30}"#.into())
    );
    f.out.unbounded_send(Ok(b"after".to_vec())).unwrap();
    assert_eq!(
        next_frame(&mut from_server).await,
        Frame::Binary(b"after".to_vec())
    );
    assert_eq!(*f.sizes.0.lock().unwrap(), [(78, 24), (80, 30)]);
    let mut typed = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), f.typed.read(&mut typed))
            .await
            .is_err(),
        "nothing the viewer typed reached the shell"
    );

    to_server.unbounded_send(Ok(Frame::Close)).unwrap();
    tokio::time::timeout(Duration::from_secs(5), viewer)
        .await
        .unwrap()
        .unwrap();
    drop(learner);
}
