//! The server side of SPDY/3.1 as kubectl speaks it: on an HTTP/1.1 connection upgraded with
//! `Upgrade: SPDY/3.1` (exec, attach and port-forward of kubectl 1.29 and older, port-forward
//! of 1.30) and inside the WebSocket tunnel of kubectl 1.31+'s port-forward (subprotocol
//! `SPDY/3.1+portforward.k8s.io`). Frame parsing and building, the zlib header blocks with
//! SPDY's preset dictionary (the peer's blocks are inflated against the dictionary; ours are sent
//! as stored deflate blocks, which any zlib reader accepts), and a [`Session`] over either
//! transport that answers SYN_STREAM and PING itself, does SPDY/3.1 flow control
//! ([`SendWindows`]: WINDOW_UPDATEs both ways) and hands the rest on as [`Event`]s. The server
//! never opens streams: kubectl opens them all, naming each with its headers.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Control frame types.
pub const SYN_STREAM: u16 = 1;
/// Reply to a SYN_STREAM.
pub const SYN_REPLY: u16 = 2;
/// Abort a stream.
pub const RST_STREAM: u16 = 3;
/// Connection settings (the one that matters here: the initial window of new streams).
pub const SETTINGS: u16 = 4;
/// Echoed back.
pub const PING: u16 = 6;
/// The session ends.
pub const GOAWAY: u16 = 7;
/// More room in a stream's (or, on stream 0, the session's) window.
pub const WINDOW_UPDATE: u16 = 9;
/// The SETTINGS id of the initial stream window.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;
/// Both windows (each stream's and the session's) start at 64 KiB in SPDY/3.1.
pub const INITIAL_WINDOW: i64 = 64 * 1024;
/// The last frame of a stream in this direction.
pub const FLAG_FIN: u8 = 1;
/// Largest frame accepted.
pub const MAX_FRAME: usize = 1 << 20;

/// The SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): length-prefixed
/// words, then a run of common values.
pub fn dictionary() -> Vec<u8> {
    const WORDS: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505\
        203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request\
        401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented\
        503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 \
        Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,\
        application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=\
        gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    let mut d = Vec::with_capacity(1423);
    for w in WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(TAIL.as_bytes());
    d
}

/// The adler-32 checksum (the zlib header's dictionary id).
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &c in data {
        a = (a + u32::from(c)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Inflates the peer's header blocks: one zlib stream across the session.
pub struct Inflater {
    state: Box<DecompressorOxide>,
    out: Vec<u8>,
    pos: usize,
    /// zlib header bytes still to skip (2, plus 4 for a dictionary id).
    header: Vec<u8>,
}

impl Default for Inflater {
    fn default() -> Self {
        let dict = dictionary();
        let pos = dict.len();
        let mut out = dict;
        out.resize(pos + 16 * 1024, 0);
        Inflater {
            state: Box::default(),
            out,
            pos,
            header: Vec::new(),
        }
    }
}

impl Inflater {
    /// The bytes one header block inflates to.
    pub fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, String> {
        // The zlib header: CMF, FLG, and the dictionary id when FLG.FDICT is set.
        loop {
            let want = match self.header.get(1) {
                Some(flg) if flg & 0x20 != 0 => 6,
                Some(_) => 2,
                None => 2,
            };
            if self.header.len() >= want || input.is_empty() {
                break;
            }
            self.header.push(input[0]);
            input = &input[1..];
        }
        let start = self.pos;
        let flags = inflate_flags::TINFL_FLAG_HAS_MORE_INPUT
            | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
        loop {
            let (status, read, wrote) =
                decompress(&mut self.state, input, &mut self.out, self.pos, flags);
            self.pos += wrote;
            input = &input[read..];
            match status {
                TINFLStatus::HasMoreOutput => {
                    let len = self.out.len();
                    self.out.resize(len + 16 * 1024, 0);
                }
                TINFLStatus::NeedsMoreInput | TINFLStatus::Done => break,
                other => return Err(format!("header block does not inflate: {other:?}")),
            }
            if input.is_empty() && self.pos < self.out.len() {
                break;
            }
        }
        let block = self.out[start..self.pos].to_vec();
        // Only the last 32 KiB (deflate's window) are needed from here on.
        if self.pos > 64 * 1024 {
            let cut = self.pos - 32 * 1024;
            self.out.drain(..cut);
            self.pos -= cut;
        }
        if self.out.len() < self.pos + 4096 {
            self.out.resize(self.pos + 16 * 1024, 0);
        }
        Ok(block)
    }
}

/// Our header blocks: one zlib stream of stored blocks, each block ending in a sync flush.
#[derive(Default)]
pub struct Deflater {
    started: bool,
}

impl Deflater {
    /// A header block carrying `data` (a continuation of the session's zlib stream).
    pub fn deflate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 8);
        if !self.started {
            // CMF 0x78 (deflate, 32 KiB window), FLG 0x01: no preset dictionary, check bits.
            out.extend_from_slice(&[0x78, 0x01]);
            self.started = true;
        }
        for chunk in data.chunks(0xffff) {
            let len = chunk.len() as u16;
            out.push(0); // BFINAL 0, BTYPE 00 (stored), padding to the byte
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        // The sync-flush marker (an empty stored block), as zlib's Z_SYNC_FLUSH ends a header
        // block: Go's inflater hands out a stored block's bytes only once it has read the next
        // block's header, and without one here it reads past the frame and fails for good.
        out.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
        out
    }
}

/// A name/value header block, uncompressed.
pub fn encode_headers(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut b = (headers.len() as u32).to_be_bytes().to_vec();
    for (k, v) in headers {
        b.extend_from_slice(&(k.len() as u32).to_be_bytes());
        b.extend_from_slice(k.as_bytes());
        b.extend_from_slice(&(v.len() as u32).to_be_bytes());
        b.extend_from_slice(v.as_bytes());
    }
    b
}

/// Reads an uncompressed header block (names lowercased, as SPDY sends them).
pub fn decode_headers(b: &[u8]) -> Result<Vec<(String, String)>, String> {
    let bad = || "malformed header block".to_string();
    let word = |b: &[u8], at: usize| -> Result<usize, String> {
        let s = b.get(at..at + 4).ok_or_else(bad)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let n = word(b, 0)?;
    let mut at = 4;
    let mut out = Vec::new();
    for _ in 0..n {
        let kl = word(b, at)?;
        let k = b.get(at + 4..at + 4 + kl).ok_or_else(bad)?;
        at += 4 + kl;
        let vl = word(b, at)?;
        let v = b.get(at + 4..at + 4 + vl).ok_or_else(bad)?;
        at += 4 + vl;
        out.push((
            String::from_utf8_lossy(k).to_ascii_lowercase(),
            String::from_utf8_lossy(v).into_owned(),
        ));
    }
    Ok(out)
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A control frame: its type, flags and payload.
    Control(u16, u8, Vec<u8>),
    /// A data frame: stream id, flags, payload.
    Data(u32, u8, Vec<u8>),
}

/// Takes the next whole frame off the front of `buf`.
pub fn next_frame(buf: &mut Vec<u8>) -> Result<Option<Frame>, String> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
    if len > MAX_FRAME {
        return Err(format!("SPDY frame of {len} bytes"));
    }
    if buf.len() < 8 + len {
        return Ok(None);
    }
    let payload = buf[8..8 + len].to_vec();
    let flags = buf[4];
    let frame = if buf[0] & 0x80 != 0 {
        let typ = u16::from_be_bytes([buf[2], buf[3]]);
        Frame::Control(typ, flags, payload)
    } else {
        let id = u32::from_be_bytes([buf[0] & 0x7f, buf[1], buf[2], buf[3]]);
        Frame::Data(id, flags, payload)
    };
    buf.drain(..8 + len);
    Ok(Some(frame))
}

fn header(first: [u8; 4], flags: u8, len: usize) -> Vec<u8> {
    let mut f = first.to_vec();
    f.push(flags);
    f.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    f
}

/// A control frame (version 3).
pub fn control(typ: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let t = typ.to_be_bytes();
    let mut f = header([0x80, 3, t[0], t[1]], flags, payload.len());
    f.extend_from_slice(payload);
    f
}

/// A data frame.
pub fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = header((stream & 0x7fff_ffff).to_be_bytes(), flags, payload.len());
    f.extend_from_slice(payload);
    f
}

/// The stream id at the start of a control frame's payload.
pub fn stream_id(payload: &[u8]) -> Option<u32> {
    let s = payload.get(..4)?;
    Some(u32::from_be_bytes([s[0] & 0x7f, s[1], s[2], s[3]]))
}

/// A WINDOW_UPDATE frame: `delta` more bytes on `stream` (0: the session).
pub fn window_update(stream: u32, delta: u32) -> Vec<u8> {
    let mut p = (stream & 0x7fff_ffff).to_be_bytes().to_vec();
    p.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
    control(WINDOW_UPDATE, 0, &p)
}

/// What the peer said about the server's send windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// WINDOW_UPDATE: stream (0: the session) and delta.
    Update(u32, u32),
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    Initial(u32),
    /// The session ends: flush what is queued, then stop.
    Close,
}

/// SPDY/3.1 flow control of the server's DATA frames: each stream's window and the session's
/// start at 64 KiB, shrink by every byte sent and grow by the peer's WINDOW_UPDATEs; a frame
/// that does not fit waits (split at the window's edge), other streams' frames and control
/// frames pass. The windows are always counted, but only enforced once the peer shows it does
/// flow control (a WINDOW_UPDATE or an initial window in SETTINGS): kubectl's SPDY library
/// (moby/spdystream, on both ends in a real cluster) never sends either and ignores windows, so
/// holding back for it would stall every download at 64 KiB. A peer that starts granting later
/// grants for what it has read, so the counted windows match its own.
#[derive(Debug)]
pub struct SendWindows {
    enforced: bool,
    initial: i64,
    session: i64,
    streams: HashMap<u32, i64>,
    /// Frames waiting for room, per stream, in the order the streams first waited.
    held: Vec<(u32, VecDeque<Vec<u8>>)>,
}

impl Default for SendWindows {
    fn default() -> Self {
        SendWindows {
            enforced: false,
            initial: INITIAL_WINDOW,
            session: INITIAL_WINDOW,
            streams: HashMap::new(),
            held: Vec::new(),
        }
    }
}

impl SendWindows {
    /// Whether nothing waits for room.
    pub fn idle(&self) -> bool {
        self.held.is_empty()
    }

    /// Whether the peer does flow control (the windows are enforced).
    pub fn enforced(&self) -> bool {
        self.enforced
    }

    /// A frame to send: what can go out now (control frames always do).
    pub fn push(&mut self, frame: Vec<u8>) -> Vec<Vec<u8>> {
        if frame.first().is_none_or(|b| b & 0x80 != 0) || frame.len() < 8 {
            return vec![frame];
        }
        let id = u32::from_be_bytes([frame[0] & 0x7f, frame[1], frame[2], frame[3]]);
        if let Some((_, q)) = self.held.iter_mut().find(|(s, _)| *s == id) {
            q.push_back(frame);
            return vec![];
        }
        let mut out = Vec::new();
        if let Some(rest) = self.fit(id, frame, &mut out) {
            self.held.push((id, VecDeque::from([rest])));
        }
        out
    }

    /// The peer's word on the windows: what can go out now.
    pub fn update(&mut self, w: Window) -> Vec<Vec<u8>> {
        match w {
            Window::Update(0, d) => self.session += i64::from(d),
            Window::Update(id, d) => {
                if let Some(s) = self.streams.get_mut(&id) {
                    *s += i64::from(d);
                }
            }
            Window::Initial(size) => {
                let delta = i64::from(size) - self.initial;
                self.initial = i64::from(size);
                for s in self.streams.values_mut() {
                    *s += delta;
                }
            }
            Window::Close => return vec![],
        }
        self.enforced = true;
        let mut out = Vec::new();
        let mut held = std::mem::take(&mut self.held);
        for (id, q) in &mut held {
            while let Some(f) = q.pop_front() {
                if let Some(rest) = self.fit(*id, f, &mut out) {
                    q.push_front(rest);
                    break;
                }
            }
        }
        held.retain(|(_, q)| !q.is_empty());
        self.held = held;
        out
    }

    /// Sends what fits of a data frame into `out`; the rest (a frame) comes back.
    fn fit(&mut self, id: u32, frame: Vec<u8>, out: &mut Vec<Vec<u8>>) -> Option<Vec<u8>> {
        let flags = frame[4];
        let len = frame.len() - 8;
        let window = *self.streams.entry(id).or_insert(self.initial);
        let room = if self.enforced {
            window.min(self.session).max(0) as usize
        } else {
            len
        };
        let (now, rest) = if room >= len {
            (frame, None)
        } else if room == 0 {
            return Some(frame);
        } else {
            (
                data(id, 0, &frame[8..8 + room]),
                Some(data(id, flags, &frame[8 + room..])),
            )
        };
        let sent = (now.len() - 8) as i64;
        self.session -= sent;
        if let Some(s) = self.streams.get_mut(&id) {
            *s -= sent;
        }
        if rest.is_none() && flags & FLAG_FIN != 0 {
            self.streams.remove(&id);
        }
        out.push(now);
        rest
    }
}

/// Between the session's senders and the transport: frames wait here for window room.
async fn flow(
    mut out: mpsc::UnboundedReceiver<Vec<u8>>,
    mut windows: mpsc::UnboundedReceiver<Window>,
    wire: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut w = SendWindows::default();
    let mut open = true;
    loop {
        if !open && w.idle() {
            return;
        }
        let ready = tokio::select! {
            f = out.recv(), if open => match f {
                Some(f) => w.push(f),
                None => {
                    open = false;
                    vec![]
                }
            },
            m = windows.recv() => match m {
                Some(Window::Close) => {
                    out.close();
                    vec![]
                }
                Some(m) => w.update(m),
                None => return,
            },
        };
        for f in ready {
            if wire.send(f).is_err() {
                return;
            }
        }
    }
}

/// Half the window: the server grants room once a stream (or the session) has used this much.
const GRANT_AFTER: u32 = 32 * 1024;

/// The id/value pairs of a SETTINGS frame's payload.
pub fn settings(payload: &[u8]) -> Vec<(u32, u32)> {
    let word = |at: usize| {
        payload
            .get(at..at + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    let n = word(0).unwrap_or(0) as usize;
    (0..n)
        .map_while(|i| Some((word(4 + 8 * i)? & 0x00ff_ffff, word(8 + 8 * i)?)))
        .collect()
}

/// The `Upgrade` token of a SPDY request.
pub const UPGRADE: &str = "SPDY/3.1";
/// The header carrying the protocols the client speaks over SPDY (and the one picked).
pub const PROTOCOL_HEADER: &str = "X-Stream-Protocol-Version";
/// The header listing the server's protocols when none of the client's matches.
pub const ACCEPTED_HEADER: &str = "X-Accepted-Stream-Protocol-Versions";

/// What a stream's peer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client opened a stream (already answered with SYN_REPLY); `fin`: it sends nothing.
    Open {
        /// Stream id.
        id: u32,
        /// The stream's headers, names lowercased.
        headers: Vec<(String, String)>,
        /// The client's half is closed already.
        fin: bool,
    },
    /// Bytes on a stream; `fin`: the client's last.
    Data {
        /// Stream id.
        id: u32,
        /// The bytes (maybe none, with `fin`).
        payload: Vec<u8>,
        /// The client's half ends here.
        fin: bool,
    },
    /// The client aborted a stream.
    Reset(u32),
}

/// A header's value (the first one; empty when absent).
pub fn header_value(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A server SPDY session over a byte transport: incoming bytes become [`Event`]s, and frames
/// queued on [`Session::sender`] go out in order.
pub struct Session {
    incoming: mpsc::UnboundedReceiver<Vec<u8>>,
    out: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// The peer's window updates, to the flow stage.
    windows: mpsc::UnboundedSender<Window>,
    reader: JoinHandle<()>,
    flow: JoinHandle<()>,
    writer: Option<JoinHandle<()>>,
    inflater: Inflater,
    deflater: Deflater,
    buf: Vec<u8>,
    pending: VecDeque<Event>,
    /// Bytes received and not yet granted back, per stream (0: the session).
    unacked: HashMap<u32, u32>,
    ended: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
        self.flow.abort();
        if let Some(w) = &self.writer {
            w.abort();
        }
    }
}

impl Session {
    /// `wire` goes to the transport's writer: frames reach it through the flow stage.
    fn new(
        incoming: mpsc::UnboundedReceiver<Vec<u8>>,
        wire: mpsc::UnboundedSender<Vec<u8>>,
        reader: JoinHandle<()>,
        writer: JoinHandle<()>,
    ) -> Session {
        let (out, out_rx) = mpsc::unbounded_channel();
        let (windows, windows_rx) = mpsc::unbounded_channel();
        Session {
            incoming,
            out: Some(out),
            windows,
            reader,
            flow: tokio::spawn(flow(out_rx, windows_rx, wire)),
            writer: Some(writer),
            inflater: Inflater::default(),
            deflater: Deflater::default(),
            buf: Vec::new(),
            pending: VecDeque::new(),
            unacked: HashMap::new(),
            ended: false,
        }
    }

    /// Counts `n` bytes received on `stream` and grants the room back (stream and session)
    /// once half a window is used; `done`: the stream sends no more.
    fn received(&mut self, stream: u32, n: usize, done: bool) {
        for id in [stream, 0] {
            let used = self.unacked.entry(id).or_insert(0);
            *used = used.saturating_add(n as u32);
            let used = *used;
            if id != 0 && done {
                self.unacked.remove(&id);
            } else if used >= GRANT_AFTER {
                self.unacked.insert(id, 0);
                self.send(window_update(id, used));
            }
        }
    }

    /// A session carried in a WebSocket's binary messages (kubectl 1.31+'s port-forward).
    pub fn over_websocket(socket: WebSocket) -> Session {
        let (mut ws_tx, mut ws_rx) = socket.split();
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = ws_rx.next().await {
                let bytes = match msg {
                    Message::Binary(b) => b,
                    Message::Close(_) => break,
                    _ => continue,
                };
                if in_tx.send(bytes.to_vec()).is_err() {
                    break;
                }
            }
        });
        let writer = tokio::spawn(async move {
            while let Some(frame) = out_rx.recv().await {
                if ws_tx.send(Message::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
            let _ = ws_tx.close().await;
        });
        Session::new(in_rx, out_tx, reader, writer)
    }

    /// A session on an upgraded HTTP/1.1 connection (`Upgrade: SPDY/3.1`).
    pub fn over_connection<T>(io: T) -> Session
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(io);
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let reader = tokio::spawn(async move {
            let mut b = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut b).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if in_tx.send(b[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let writer = tokio::spawn(async move {
            while let Some(frame) = out_rx.recv().await {
                if wr.write_all(&frame).await.is_err() {
                    return;
                }
            }
            let _ = wr.flush().await;
            let _ = wr.shutdown().await;
        });
        Session::new(in_rx, out_tx, reader, writer)
    }

    /// Where frames to the client go (data frames built with [`data`]).
    pub fn sender(&self) -> mpsc::UnboundedSender<Vec<u8>> {
        self.out.clone().expect("the session is open")
    }

    /// The next event, or `None` once the client has left (GOAWAY, the transport's end, or a
    /// frame that does not parse). Cancel-safe.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.ended {
                return None;
            }
            let bytes = self.incoming.recv().await?;
            self.buf.extend_from_slice(&bytes);
            if let Err(e) = self.parse() {
                tracing::warn!(error = %e, "SPDY session: the client's frames do not parse");
                self.ended = true;
            }
        }
    }

    fn send(&self, frame: Vec<u8>) {
        if let Some(out) = &self.out {
            let _ = out.send(frame);
        }
    }

    fn parse(&mut self) -> Result<(), String> {
        while let Some(frame) = next_frame(&mut self.buf)? {
            match frame {
                Frame::Control(SYN_STREAM, flags, p) => {
                    let id = stream_id(&p).ok_or("short SYN_STREAM")?;
                    let block = p.get(10..).ok_or("short SYN_STREAM")?;
                    let headers = decode_headers(&self.inflater.inflate(block)?)?;
                    let mut reply = id.to_be_bytes().to_vec();
                    reply.extend(self.deflater.deflate(&encode_headers(&[])));
                    self.send(control(SYN_REPLY, 0, &reply));
                    self.pending.push_back(Event::Open {
                        id,
                        headers,
                        fin: flags & FLAG_FIN != 0,
                    });
                }
                Frame::Control(PING, _, p) => self.send(control(PING, 0, &p)),
                Frame::Control(RST_STREAM, _, p) => {
                    if let Some(id) = stream_id(&p) {
                        self.unacked.remove(&id);
                        self.pending.push_back(Event::Reset(id));
                    }
                }
                Frame::Control(GOAWAY, _, _) => {
                    self.ended = true;
                    return Ok(());
                }
                Frame::Control(WINDOW_UPDATE, _, p) => {
                    if let (Some(id), Some(d)) = (stream_id(&p), p.get(4..8)) {
                        let delta = u32::from_be_bytes([d[0] & 0x7f, d[1], d[2], d[3]]);
                        let _ = self.windows.send(Window::Update(id, delta));
                    }
                }
                Frame::Control(SETTINGS, _, p) => {
                    for (id, value) in settings(&p) {
                        if id == SETTINGS_INITIAL_WINDOW_SIZE {
                            let _ = self.windows.send(Window::Initial(value));
                        }
                    }
                }
                // HEADERS and the rest: nothing to do.
                Frame::Control(..) => {}
                Frame::Data(id, flags, payload) => {
                    let fin = flags & FLAG_FIN != 0;
                    self.received(id, payload.len(), fin);
                    self.pending.push_back(Event::Data { id, payload, fin });
                }
            }
        }
        Ok(())
    }

    /// Ends the session after the queued frames are out: the server's side closes, and the
    /// client gets a moment to read everything and leave (closing a connection it still writes
    /// to could cost it the last frames).
    pub async fn close(mut self, linger: Duration) {
        // What is queued still goes out, window permitting: the peer's updates keep coming in.
        self.out = None;
        let _ = self.windows.send(Window::Close);
        if let Some(mut w) = self.writer.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    tokio::select! {
                        _ = &mut w => return,
                        bytes = self.incoming.recv(), if !self.ended => match bytes {
                            Some(b) => {
                                self.buf.extend_from_slice(&b);
                                if self.parse().is_err() {
                                    self.ended = true;
                                }
                            }
                            None => self.ended = true,
                        },
                    }
                }
            })
            .await;
        }
        let _ = tokio::time::timeout(linger, async {
            while self.incoming.recv().await.is_some() {}
        })
        .await;
    }
}

/// An HTTP/1.1 request to switch to SPDY/3.1: the `Upgrade` header names it, and the connection
/// can be taken over (extracted after axum's WebSocket extractor, which leaves it alone).
pub struct SpdyUpgrade {
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    /// The protocols the client offers in `X-Stream-Protocol-Version`, in its order.
    pub protocols: Vec<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for SpdyUpgrade {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let wants = |name: header::HeaderName, token: &str| {
            parts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|h| h.to_str().ok())
                .any(|h| h.to_ascii_lowercase().contains(token))
        };
        let asked = wants(header::CONNECTION, "upgrade") && wants(header::UPGRADE, "spdy/3.1");
        let on_upgrade = if asked {
            parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
        } else {
            None
        };
        Ok(SpdyUpgrade {
            on_upgrade,
            protocols: offered_protocols(&parts.headers),
        })
    }
}

/// The comma-separated values of every `X-Stream-Protocol-Version` header, in order.
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(PROTOCOL_HEADER)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Upstream's `httpstream.Handshake`: the client's first protocol that the server speaks, or the
/// plain-text refusal (400 without the header, 403 with the server's list when none matches).
pub fn handshake(
    offered: &[String],
    server: &[&'static str],
) -> Result<&'static str, Box<Response>> {
    if offered.is_empty() {
        return Err(Box::new(
            (
                StatusCode::BAD_REQUEST,
                format!("unable to upgrade: {PROTOCOL_HEADER} is required\n"),
            )
                .into_response(),
        ));
    }
    if let Some(p) = offered
        .iter()
        .find_map(|o| server.iter().copied().find(|s| s == o))
    {
        return Ok(p);
    }
    let mut r = (
        StatusCode::FORBIDDEN,
        format!(
            "unable to upgrade: unable to negotiate protocol: client supports [{}], server accepts [{}]\n",
            offered.join(" "),
            server.join(" ")
        ),
    )
        .into_response();
    for s in server {
        r.headers_mut()
            .append(ACCEPTED_HEADER, axum::http::HeaderValue::from_static(s));
    }
    Err(Box::new(r))
}

impl SpdyUpgrade {
    /// Whether the request asks for SPDY/3.1 (and its connection can be taken over).
    pub fn asked(&self) -> bool {
        self.on_upgrade.is_some()
    }

    /// The `101 Switching Protocols` answer naming `protocol`; `run` gets the session once the
    /// connection is switched.
    pub fn upgrade<F, Fut>(self, protocol: &'static str, run: F) -> Response
    where
        F: FnOnce(Session) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let Some(on_upgrade) = self.on_upgrade else {
            return (StatusCode::BAD_REQUEST, "Upgrade request required").into_response();
        };
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    run(Session::over_connection(hyper_util::rt::TokioIo::new(
                        upgraded,
                    )))
                    .await
                }
                Err(e) => tracing::warn!(error = %e, "SPDY upgrade failed"),
            }
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, UPGRADE)
            .header(PROTOCOL_HEADER, protocol)
            .body(axum::body::Body::empty())
            .expect("a valid response")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_the_specs() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b"utf-,*,enq=0."));
    }

    #[test]
    fn stored_blocks_inflate_back_across_one_stream() {
        let mut def = Deflater::default();
        let mut inf = Inflater::default();
        let a = encode_headers(&[("streamtype", "data"), ("port", "80")]);
        let b = encode_headers(&[("requestid", "0")]);
        let first = def.deflate(&a);
        assert_eq!(&first[..2], &[0x78, 0x01]);
        assert_eq!((0x78u32 * 256 + 1) % 31, 0, "a valid zlib header");
        assert_eq!(inf.inflate(&first).unwrap(), a);
        assert_eq!(inf.inflate(&def.deflate(&b)).unwrap(), b);
        assert_eq!(
            decode_headers(&a).unwrap(),
            vec![
                ("streamtype".to_string(), "data".to_string()),
                ("port".to_string(), "80".to_string())
            ]
        );
        assert!(decode_headers(&a[..9]).is_err());
    }

    #[test]
    fn windows_are_counted_always_and_enforced_once_the_peer_grants() {
        let mut w = SendWindows::default();
        // spdystream never grants: everything goes out, however much.
        let big = data(1, 0, &vec![7u8; 100 * 1024]);
        assert_eq!(w.push(big.clone()), vec![big]);
        assert!(!w.enforced() && w.idle());
        // A peer that grants is held to its windows: stream 1 is 36 KiB in debt.
        assert!(w.update(Window::Update(1, 10 * 1024)).is_empty());
        assert!(w.enforced());
        assert!(w.push(data(1, 0, b"abc")).is_empty());
        assert!(w.push(data(1, FLAG_FIN, b"")).is_empty());
        // Other streams and control frames pass meanwhile, up to the session's window.
        assert!(
            w.push(data(3, 0, b"x")).is_empty(),
            "the session is in debt too"
        );
        let ping = control(PING, 0, &1u32.to_be_bytes());
        assert_eq!(w.push(ping.clone()), vec![ping]);
        assert_eq!(
            w.update(Window::Update(0, 200 * 1024)),
            vec![data(3, 0, b"x")]
        );
        let out = w.update(Window::Update(1, 26 * 1024 + 2));
        // Stream 1 has room for 2 bytes: the frame splits, its rest waits with the FIN behind it.
        assert_eq!(out, vec![data(1, 0, b"ab")]);
        assert_eq!(
            w.update(Window::Update(1, 10)),
            vec![data(1, 0, b"c"), data(1, FLAG_FIN, b"")]
        );
        assert!(w.idle());
        // A new initial window applies to the open streams by its difference.
        let mut w = SendWindows::default();
        assert_eq!(w.push(data(5, 0, b"hi")).len(), 1);
        assert!(w.update(Window::Initial(2)).is_empty());
        assert!(w.push(data(5, 0, b"more")).is_empty());
        assert_eq!(w.update(Window::Update(5, 3)), vec![data(5, 0, b"mor")]);
    }

    #[test]
    fn window_updates_and_settings_frames() {
        let f = window_update(3, 40_000);
        let mut buf = f.clone();
        let Some(Frame::Control(WINDOW_UPDATE, 0, p)) = next_frame(&mut buf).unwrap() else {
            panic!("{f:?}")
        };
        assert_eq!(p, [0, 0, 0, 3, 0, 0, 0x9c, 0x40]);
        let mut p = 2u32.to_be_bytes().to_vec();
        for (id, v) in [(0x0100_0004u32, 100u32), (7, 1 << 20)] {
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(settings(&p), vec![(4, 100), (7, 1 << 20)]);
        assert_eq!(settings(&p[..10]), vec![]);
    }

    #[tokio::test]
    async fn a_session_grants_room_for_what_it_receives_and_waits_for_grants_once_asked() {
        let (server, mut client) = tokio::io::duplex(1 << 20);
        let mut session = Session::over_connection(server);
        let mut syn = 1u32.to_be_bytes().to_vec();
        syn.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        syn.extend(Deflater::default().deflate(&encode_headers(&[("streamtype", "data")])));
        client
            .write_all(&control(SYN_STREAM, 0, &syn))
            .await
            .unwrap();
        client.write_all(&data(1, 0, &[1u8; 40_000])).await.unwrap();
        let Some(Event::Open { id: 1, .. }) = session.next().await else {
            panic!("no stream")
        };
        let Some(Event::Data { id: 1, payload, .. }) = session.next().await else {
            panic!("no data")
        };
        assert_eq!(payload.len(), 40_000);
        // The peer grants 1 byte: from now on its windows hold.
        client.write_all(&window_update(1, 1)).await.unwrap();
        // The session reads on (and takes the client's WINDOW_UPDATE in).
        let next = tokio::time::timeout(Duration::from_millis(300), session.next()).await;
        assert!(next.is_err(), "no event: {next:?}");
        let out = session.sender();
        out.send(data(1, 0, &[2u8; 70_000])).unwrap();
        let mut got = Vec::new();
        let mut b = vec![0u8; 1 << 17];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(300), client.read(&mut b)).await
        {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&b[..n]);
        }
        let mut frames = Vec::new();
        while let Some(f) = next_frame(&mut got).unwrap() {
            frames.push(f);
        }
        assert!(
            matches!(frames[0], Frame::Control(SYN_REPLY, ..)),
            "{frames:?}"
        );
        assert!(frames.contains(&Frame::Control(
            WINDOW_UPDATE,
            0,
            [1u32.to_be_bytes(), 40_000u32.to_be_bytes()].concat()
        )));
        assert!(frames.contains(&Frame::Control(
            WINDOW_UPDATE,
            0,
            [0u32.to_be_bytes(), 40_000u32.to_be_bytes()].concat()
        )));
        // Stream 1's window is 64 KiB + 1, the session's 64 KiB: the rest waits for a grant.
        let sent: usize = frames
            .iter()
            .map(|f| match f {
                Frame::Data(1, _, p) => p.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(sent, 65_536);
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = control(PING, 0, &7u32.to_be_bytes());
        buf.extend(data(3, FLAG_FIN, b"hello"));
        buf.extend(&data(5, 0, b"x")[..6]);
        assert_eq!(
            next_frame(&mut buf).unwrap(),
            Some(Frame::Control(PING, 0, 7u32.to_be_bytes().to_vec()))
        );
        assert_eq!(
            next_frame(&mut buf).unwrap(),
            Some(Frame::Data(3, FLAG_FIN, b"hello".to_vec()))
        );
        assert_eq!(next_frame(&mut buf).unwrap(), None);
        assert_eq!(stream_id(&[0x80, 0, 0, 9]), Some(9));
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }
}
