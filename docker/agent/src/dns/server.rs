//! The DNS wire side: decode a query with `hickory-proto`, answer it from the [`Index`], encode
//! the reply, serve it over UDP and TCP, and log each query the way CoreDNS's `log` plugin does:
//!
//! `[INFO] 10.244.1.5:40012 - 1234 "A IN web.default.svc.cluster.local. udp 47 false 512" NOERROR qr,aa,rd 106 0.000123s`
//!
//! Plain threads (one for UDP, one per TCP connection): the server is tiny and long-running in
//! every lab, so it carries no async runtime.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::index::{Answer, Data, Index, Outcome, QType, TTL};

/// The shared, swappable index the handlers read.
pub type SharedIndex = Arc<RwLock<Arc<Index>>>;

/// What the handlers need: the index and the cluster domain.
#[derive(Debug, Clone)]
pub struct DnsState {
    /// Current data.
    pub index: SharedIndex,
    /// `cluster.local`.
    pub domain: String,
}

/// Transport a query came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP (answers above the client's buffer size are truncated).
    Udp,
    /// TCP (length-prefixed).
    Tcp,
}

fn rcode_name(r: ResponseCode) -> String {
    match r {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

fn flags(m: &Message) -> String {
    let mut f = Vec::new();
    if m.message_type() == MessageType::Response {
        f.push("qr");
    }
    if m.authoritative() {
        f.push("aa");
    }
    if m.truncated() {
        f.push("tc");
    }
    if m.recursion_desired() {
        f.push("rd");
    }
    if m.recursion_available() {
        f.push("ra");
    }
    if m.authentic_data() {
        f.push("ad");
    }
    if m.checking_disabled() {
        f.push("cd");
    }
    f.join(",")
}

fn name(s: &str) -> Option<Name> {
    Name::from_ascii(s).ok()
}

fn record(a: &Answer) -> Option<Record> {
    let rdata = match &a.data {
        Data::A(ip) => RData::A(A(*ip)),
        Data::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
        Data::Cname(t) => RData::CNAME(CNAME(name(t)?)),
        Data::Ptr(t) => RData::PTR(PTR(name(t)?)),
        Data::Srv(p, w, port, t) => RData::SRV(SRV::new(*p, *w, *port, name(t)?)),
    };
    Some(Record::from_rdata(name(&a.name)?, TTL, rdata))
}

fn soa(domain: &str) -> Option<Record> {
    // CoreDNS: ns.dns.<zone> hostmaster.<zone> <serial> 7200 1800 86400 <ttl>
    let serial = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % u64::from(u32::MAX)) as u32;
    let data = SOA::new(
        name(&format!("ns.dns.{domain}."))?,
        name(&format!("hostmaster.{domain}."))?,
        serial,
        7200,
        1800,
        86400,
        TTL,
    );
    Some(Record::from_rdata(
        name(&format!("{domain}."))?,
        TTL,
        RData::SOA(data),
    ))
}

/// One handled query: the reply bytes (`None`: drop, the input was not DNS) and the log line.
#[derive(Debug)]
pub struct Handled {
    /// The encoded reply.
    pub reply: Option<Vec<u8>>,
    /// The CoreDNS-style log line (without the `[INFO] ` prefix), when there was a question.
    pub log: Option<String>,
}

/// Answers one wire-format query.
pub fn handle(bytes: &[u8], state: &DnsState, transport: Transport, remote: SocketAddr) -> Handled {
    let start = Instant::now();
    let req = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(_) => {
            // Answer FORMERR when there is at least a header to echo the id from.
            let reply = (bytes.len() >= 12).then(|| {
                let id = u16::from_be_bytes([bytes[0], bytes[1]]);
                Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                    .to_vec()
                    .unwrap_or_default()
            });
            return Handled { reply, log: None };
        }
    };
    if req.message_type() != MessageType::Query {
        return Handled {
            reply: None,
            log: None,
        };
    }
    let mut resp = Message::new();
    resp.set_id(req.id())
        .set_message_type(MessageType::Response)
        .set_op_code(req.op_code())
        .set_recursion_desired(req.recursion_desired())
        // As a kubeadm cluster's CoreDNS (which forwards what is not its own): without RA,
        // nslookup prints "Got recursion not available" and tries the next server.
        .set_recursion_available(true)
        .set_checking_disabled(req.checking_disabled());
    let bufsize = req
        .extensions()
        .as_ref()
        .map(|e| e.max_payload().max(512))
        .unwrap_or(512);
    let dnssec_ok = req
        .extensions()
        .as_ref()
        .is_some_and(|e| e.flags().dnssec_ok);
    if let Some(e) = req.extensions() {
        let mut edns = Edns::new();
        edns.set_max_payload(e.max_payload().clamp(512, 1232));
        resp.set_edns(edns);
    }
    let query: Option<Query> = if req.queries().len() == 1 {
        req.queries().first().cloned()
    } else {
        None
    };
    let rcode = match (&query, req.op_code()) {
        (_, op) if op != OpCode::Query => ResponseCode::NotImp,
        (None, _) => ResponseCode::FormErr,
        (Some(q), _) => {
            resp.add_query(q.clone());
            answer(q, state, &mut resp)
        }
    };
    resp.set_response_code(rcode);
    let mut out = resp.to_vec().unwrap_or_default();
    if transport == Transport::Udp && out.len() > usize::from(bufsize) {
        let t = resp.truncate();
        resp = t;
        out = resp.to_vec().unwrap_or_default();
    }
    let log = query.map(|q| {
        format!(
            "{remote} - {} \"{} {} {} {} {} {} {}\" {} {} {} {}s",
            req.id(),
            q.query_type(),
            q.query_class(),
            q.name(),
            match transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            },
            bytes.len(),
            dnssec_ok,
            if transport == Transport::Tcp {
                65535
            } else {
                bufsize
            },
            rcode_name(rcode),
            flags(&resp),
            out.len(),
            start.elapsed().as_secs_f64()
        )
    });
    Handled {
        reply: Some(out),
        log,
    }
}

fn answer(q: &Query, state: &DnsState, resp: &mut Message) -> ResponseCode {
    if q.query_class() != DNSClass::IN {
        return ResponseCode::Refused;
    }
    let qtype = match q.query_type() {
        RecordType::A => QType::A,
        RecordType::AAAA => QType::Aaaa,
        RecordType::SRV => QType::Srv,
        RecordType::PTR => QType::Ptr,
        RecordType::CNAME => QType::Cname,
        _ => QType::Other,
    };
    let index = state.index.read().expect("index lock").clone();
    let qname = q.name().to_ascii();
    match index.lookup(&qname, qtype, &state.domain) {
        Outcome::Found {
            answers,
            additional,
        } => {
            resp.set_authoritative(true);
            if answers.is_empty() {
                resp.add_name_servers(soa(&state.domain));
            }
            resp.add_answers(answers.iter().filter_map(record));
            resp.add_additionals(additional.iter().filter_map(record));
            ResponseCode::NoError
        }
        Outcome::NxDomain => {
            resp.set_authoritative(true);
            resp.add_name_servers(soa(&state.domain));
            ResponseCode::NXDomain
        }
        Outcome::NotAuthoritative => ResponseCode::Refused,
    }
}

fn log_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "[INFO] {line}");
}

/// Serves UDP queries on `socket` forever (one thread).
pub fn serve_udp(socket: UdpSocket, state: DnsState) {
    let mut buf = [0u8; 4096];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("[ERROR] udp receive: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let h = handle(&buf[..n], &state, Transport::Udp, peer);
        if let Some(reply) = h.reply {
            let _ = socket.send_to(&reply, peer);
        }
        if let Some(l) = h.log {
            log_line(&l);
        }
    }
}

fn serve_tcp_conn(mut conn: TcpStream, peer: SocketAddr, state: DnsState) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    loop {
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).is_err() {
            return;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if conn.read_exact(&mut msg).is_err() {
            return;
        }
        let h = handle(&msg, &state, Transport::Tcp, peer);
        if let Some(l) = h.log {
            log_line(&l);
        }
        let Some(reply) = h.reply else { return };
        let Ok(rlen) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = rlen.to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if conn.write_all(&framed).is_err() {
            return;
        }
    }
}

/// Serves TCP connections on `listener` forever (a thread per connection).
pub fn serve_tcp(listener: TcpListener, state: DnsState) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let peer = conn
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0));
        let st = state.clone();
        let _ = std::thread::Builder::new()
            .name("dns-tcp".into())
            .spawn(move || serve_tcp_conn(conn, peer, st));
    }
}

/// Binds UDP and TCP on `addr` (port 0: the same free port for both) and serves them on
/// background threads. Returns the bound address.
pub fn start(addr: SocketAddr, state: DnsState) -> std::io::Result<SocketAddr> {
    let mut tries = 0;
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind(addr)?;
        let bound = udp.local_addr()?;
        match TcpListener::bind(bound) {
            Ok(tcp) => break (udp, tcp),
            Err(e) if addr.port() == 0 && tries < 10 => {
                tries += 1;
                let _ = e;
            }
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on tcp {bound}: {e}"),
                ))
            }
        }
    };
    let bound = udp.local_addr()?;
    let st = state.clone();
    std::thread::Builder::new()
        .name("dns-udp".into())
        .spawn(move || serve_udp(udp, st))?;
    std::thread::Builder::new()
        .name("dns-tcp-accept".into())
        .spawn(move || serve_tcp(tcp, state))?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_gets_formerr_or_nothing() {
        let state = DnsState {
            index: Arc::new(RwLock::new(Arc::new(Index::default()))),
            domain: "cluster.local".into(),
        };
        let peer: SocketAddr = "127.0.0.1:5353".parse().unwrap();
        assert!(handle(b"xx", &state, Transport::Udp, peer).reply.is_none());
        let h = handle(
            &[0x12, 0x34, 0x01, 0, 0, 9, 0, 0, 0, 0, 0, 0, 1],
            &state,
            Transport::Udp,
            peer,
        );
        let m = Message::from_vec(&h.reply.unwrap()).unwrap();
        assert_eq!(m.id(), 0x1234);
        assert_eq!(m.response_code(), ResponseCode::FormErr);
    }
}
