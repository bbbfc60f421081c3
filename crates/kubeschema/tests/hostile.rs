//! Hostile bodies: the decoder returns errors, never panics, whatever the bytes.

use proptest::prelude::*;

fn valid_body() -> Vec<u8> {
    let v = serde_json::json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "labels": {"a": "b"}, "creationTimestamp": "2024-05-01T10:00:00Z"},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}], "clusterIP": "10.96.0.1"}});
    kubeschema::encode(&v).unwrap()
}

proptest! {
    #![proptest_config(propgen::config(propgen::CASES, "proptest-regressions/hostile.txt"))]

    #[test]
    fn random_bytes_after_the_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut b = kubeschema::codec::MAGIC.to_vec();
        b.extend_from_slice(&tail);
        let _ = kubeschema::decode(&b);
        let _ = kubeschema::codec::decode_watch_frame(&b);
    }

    #[test]
    fn a_mutated_valid_body_never_panics(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut b = valid_body();
        for (i, x) in flips {
            let n = b.len();
            b[i % n] ^= x;
        }
        let n = b.len();
        b.truncate(cut % (n + 1));
        if let Ok(v) = kubeschema::decode(&b) {
            // Whatever decodes encodes again.
            let _ = kubeschema::encode(&v);
        }
    }

    #[test]
    fn hostile_text_in_special_fields_is_an_error_not_a_panic(s in propgen::any_text()) {
        for v in [
            serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"creationTimestamp": s}}),
            serde_json::json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": s}}),
            serde_json::json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"targetPort": s}]}}),
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"minReadySeconds": s}}),
        ] {
            let _ = kubeschema::encode(&v);
        }
        let _ = kubeschema::codec::parse_duration(&s);
        let _ = kubeschema::codec::parse_time(&s);
    }
}

#[test]
fn deep_nesting_is_refused() {
    // A RawExtension holding an envelope holding a RawExtension... (WatchEvent in WatchEvent).
    let mut inner =
        kubeschema::encode(&serde_json::json!({"apiVersion": "v1", "kind": "Status"})).unwrap();
    for _ in 0..200 {
        let mut raw = vec![0x0a];
        let mut len = Vec::new();
        let mut n = inner.len();
        while n >= 0x80 {
            len.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        len.push(n as u8);
        raw.extend(len);
        raw.extend(&inner);
        // WatchEvent field 2 (object) = RawExtension{raw}.
        let mut ev = vec![0x12];
        let mut n = raw.len();
        while n >= 0x80 {
            ev.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        ev.push(n as u8);
        ev.extend(&raw);
        inner = kubeschema::codec::seal_envelope("v1", "WatchEvent", &ev);
    }
    let e = kubeschema::decode(&inner).unwrap_err();
    assert!(e.0.contains("nests too deeply"), "{e}");
}
