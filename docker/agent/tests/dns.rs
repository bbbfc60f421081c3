//! Cluster DNS: the real server on 127.0.0.1 (UDP and TCP), queried with hickory-proto, fed
//! either from a fixed object set or from an in-process lab API server through its watch.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use kplab_agent::dns::index::Index;
use kplab_agent::dns::server::{start, DnsState};
use kplab_agent::kube::client::{ApiClient, ENDPOINT_SLICES, SERVICES};
use serde_json::{json, Value};

fn query_msg(name: &str, qtype: RecordType, id: u16) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m.to_vec().unwrap()
}

fn udp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock.send_to(&query_msg(name, qtype, 4242), server).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("a reply within 3s");
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(m.id(), 4242);
    assert_eq!(m.message_type(), MessageType::Response);
    m
}

fn tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let mut c = TcpStream::connect(server).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let q = query_msg(name, qtype, 7);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend(q);
    c.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    c.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut body).unwrap();
    Message::from_vec(&body).unwrap()
}

fn a_records(m: &Message) -> Vec<String> {
    let mut v: Vec<String> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

fn objects() -> (Vec<Value>, Vec<Value>) {
    let svcs = vec![
        json!({"metadata":{"name":"web","namespace":"default"},"spec":{"clusterIP":"10.96.0.20","ports":[{"name":"http","port":80,"protocol":"TCP"}]}}),
        json!({"metadata":{"name":"db","namespace":"shop"},"spec":{"clusterIP":"None","ports":[{"name":"pg","port":5432}]}}),
    ];
    let slices = vec![
        json!({"metadata":{"name":"db-x1","namespace":"shop","labels":{"kubernetes.io/service-name":"db"}},
        "addressType":"IPv4","ports":[{"name":"pg","port":5432,"protocol":"TCP"}],
        "endpoints":[{"addresses":["10.244.1.5"],"conditions":{"ready":true}},
                     {"addresses":["10.244.2.6"],"conditions":{"ready":true}}]}),
    ];
    (svcs, slices)
}

fn fixed_server() -> SocketAddr {
    let (svcs, slices) = objects();
    let (idx, warnings) = Index::build(&svcs, &slices, "cluster.local");
    assert!(warnings.is_empty());
    let state = DnsState {
        index: Arc::new(RwLock::new(Arc::new(idx))),
        domain: "cluster.local".into(),
    };
    start("127.0.0.1:0".parse().unwrap(), state).expect("bind 127.0.0.1")
}

#[test]
fn answers_services_pods_srv_and_errors_over_udp() {
    let s = fixed_server();
    let m = udp(s, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.authoritative());
    assert!(m.recursion_available(), "nslookup warns without RA");
    assert_eq!(a_records(&m), ["10.96.0.20"]);
    assert_eq!(m.answers()[0].ttl(), 30);

    let m = udp(s, "db.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(
        a_records(&m),
        ["10.244.1.5", "10.244.2.6"],
        "headless: pod IPs"
    );

    let m = udp(s, "10-244-1-7.default.pod.cluster.local.", RecordType::A);
    assert_eq!(a_records(&m), ["10.244.1.7"]);

    let m = udp(
        s,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    match m.answers()[0].data() {
        RData::SRV(srv) => {
            assert_eq!(srv.port(), 80);
            assert_eq!(srv.target().to_ascii(), "web.default.svc.cluster.local.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a_records_additional(&m), ["10.96.0.20"]);

    let m = udp(s, "nope.default.svc.cluster.local.", RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert!(
        matches!(m.name_servers()[0].data(), RData::SOA(_)),
        "NXDOMAIN carries the SOA"
    );

    let m = udp(s, "web.default.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty(), "NODATA for AAAA on an IPv4 service");

    let m = udp(s, "example.com.", RecordType::A);
    assert_eq!(
        m.response_code(),
        ResponseCode::Refused,
        "no upstream in the lab"
    );
}

fn a_records_additional(m: &Message) -> Vec<String> {
    m.additionals()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn short_names_resolve_through_the_search_path() {
    // What a pod's resolver does with `web` and resolv.conf's
    // `search default.svc.cluster.local svc.cluster.local cluster.local` / `ndots:5`.
    let s = fixed_server();
    let search = [
        "default.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
    ];
    let resolve = |short: &str| -> Option<Vec<String>> {
        for suffix in search {
            let m = udp(s, &format!("{short}.{suffix}."), RecordType::A);
            if m.response_code() == ResponseCode::NoError && !m.answers().is_empty() {
                return Some(a_records(&m));
            }
        }
        None
    };
    assert_eq!(resolve("web").unwrap(), ["10.96.0.20"]);
    assert_eq!(resolve("db.shop").unwrap(), ["10.244.1.5", "10.244.2.6"]);
    assert_eq!(resolve("web.default.svc").unwrap(), ["10.96.0.20"]);
    assert!(resolve("missing").is_none());
}

#[test]
fn tcp_and_truncation() {
    let s = fixed_server();
    let m = tcp(s, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(m.id(), 7);
    assert_eq!(a_records(&m), ["10.96.0.20"]);

    // A headless service with many endpoints does not fit in 512 bytes of UDP: TC is set and
    // the TCP answer has them all.
    let svcs =
        vec![json!({"metadata":{"name":"big","namespace":"default"},"spec":{"clusterIP":"None"}})];
    let eps: Vec<Value> = (1..=60)
        .map(|i| json!({"addresses":[format!("10.244.3.{i}")],"conditions":{"ready":true}}))
        .collect();
    let slices = vec![
        json!({"metadata":{"name":"big-1","namespace":"default","labels":{"kubernetes.io/service-name":"big"}},"addressType":"IPv4","endpoints":eps}),
    ];
    let (idx, _) = Index::build(&svcs, &slices, "cluster.local");
    let state = DnsState {
        index: Arc::new(RwLock::new(Arc::new(idx))),
        domain: "cluster.local".into(),
    };
    let s2 = start("127.0.0.1:0".parse().unwrap(), state).unwrap();
    let m = udp(s2, "big.default.svc.cluster.local.", RecordType::A);
    assert!(m.truncated());
    let m = tcp(s2, "big.default.svc.cluster.local.", RecordType::A);
    assert_eq!(m.answers().len(), 60);

    // EDNS with a big buffer lets UDP carry it.
    let mut q = Message::new();
    q.set_id(9)
        .set_message_type(MessageType::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(
            Name::from_ascii("big.default.svc.cluster.local.").unwrap(),
            RecordType::A,
        ));
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.set_edns(edns);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock.send_to(&q.to_vec().unwrap(), s2).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert!(!m.truncated(), "1232-byte EDNS answer fits");
    assert_eq!(m.answers().len(), 60);
}

/// The lab API server in-process on 127.0.0.1:0 (runs until the test process exits).
fn api_server() -> String {
    let dir = tempfile::tempdir().unwrap().keep();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            kplab_agent::apiserver::serve_with_shutdown(
                l,
                dir,
                kplab_agent::apiserver::Config::default(),
                std::future::pending(),
            )
            .await
            .unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

#[test]
fn follows_the_lab_api_through_watch() {
    let api = api_server();
    let client = ApiClient::new(&api);
    let state = DnsState {
        index: Arc::new(RwLock::new(Arc::new(Index::default()))),
        domain: "cluster.local".into(),
    };
    kplab_agent::dns::watch_api(client.clone(), &state);
    let s = start("127.0.0.1:0".parse().unwrap(), state).unwrap();
    let wait = |name: &str, want: &[&str]| {
        let start = Instant::now();
        loop {
            let got = a_records(&udp(s, name, RecordType::A));
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{name}: {got:?} != {want:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // The API server's own bootstrap Service.
    wait("kubernetes.default.svc.cluster.local.", &["10.96.0.1"]);
    client
        .create(
            &SERVICES,
            Some("default"),
            &json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},
                    "spec":{"clusterIP":"10.96.7.7","ports":[{"name":"http","port":80}]}}),
        )
        .unwrap();
    wait("web.default.svc.cluster.local.", &["10.96.7.7"]);
    client
        .create(
            &SERVICES,
            Some("default"),
            &json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"hl"},
                    "spec":{"clusterIP":"None","ports":[{"name":"http","port":80}]}}),
        )
        .unwrap();
    client
        .create(
            &ENDPOINT_SLICES,
            Some("default"),
            &json!({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
                    "metadata":{"name":"hl-abc","labels":{"kubernetes.io/service-name":"hl"}},
                    "addressType":"IPv4","ports":[{"name":"http","port":8080,"protocol":"TCP"}],
                    "endpoints":[{"addresses":["10.244.1.8"],"conditions":{"ready":true}}]}),
        )
        .unwrap();
    wait("hl.default.svc.cluster.local.", &["10.244.1.8"]);
    client
        .delete(&SERVICES, Some("default"), "web", None)
        .unwrap();
    let start = Instant::now();
    loop {
        let m = udp(s, "web.default.svc.cluster.local.", RecordType::A);
        if m.response_code() == ResponseCode::NXDomain {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "deleted service still answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
