//! kube-proxy's chain-name hashes: the first 16 characters of base32(SHA-256(input)).

use sha2::{Digest, Sha256};

/// `h16(s)`: first 16 chars of standard base32 of SHA-256 of `s`.
pub fn h16(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut enc = data_encoding::BASE32.encode(&digest);
    enc.truncate(16);
    enc
}

/// The shared suffix of a service port's SVC/SVL/EXT/FW chains: `h16(SPN + proto)`.
pub fn port_proto_hash(spn: &str, proto: &str) -> String {
    let mut s = String::with_capacity(spn.len() + proto.len());
    s.push_str(spn);
    s.push_str(proto);
    h16(&s)
}

/// `KUBE-SEP-` + `h16(SPN + proto + EP)`.
pub fn endpoint_chain(spn: &str, proto: &str, ep: &str) -> String {
    let mut s = String::with_capacity(spn.len() + proto.len() + ep.len());
    s.push_str(spn);
    s.push_str(proto);
    s.push_str(ep);
    let mut out = String::with_capacity(25);
    out.push_str("KUBE-SEP-");
    out.push_str(&h16(&s));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hashes() {
        assert_eq!(port_proto_hash("ns1/svc1:p80", "tcp"), "XPGD46QRK7WJZT7O");
        assert_eq!(
            endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80"),
            "KUBE-SEP-SXIVWICOYRO3J4NJ"
        );
        assert_eq!(port_proto_hash("ns2/svc2:p80", "tcp"), "GNZBNJ2PO5MGZ6GT");
        assert_eq!(port_proto_hash("ns1/svc1", "tcp"), "AQI2S6QIMU7PVVRP");
        assert_eq!(port_proto_hash("ns5/svc5:p80", "tcp"), "NUKIZ6OKUXPJNT4C");
        assert_eq!(
            endpoint_chain("ns1/svc1:p80", "tcp", "[ff06::c1]:80"),
            "KUBE-SEP-LIGRYQQLSZN4UWQ5"
        );
        assert_eq!(port_proto_hash("ns1/web:http", "tcp"), "4LVCYZMTA5CQO6SX");
        assert_eq!(
            endpoint_chain("ns1/web:http", "tcp", "10.244.1.5:8080"),
            "KUBE-SEP-OXQUDQKXE4KJEHIO"
        );
        assert_eq!(
            endpoint_chain("ns1/web:http", "tcp", "10.244.2.6:8080"),
            "KUBE-SEP-KHKNMSBCGDSGLPEQ"
        );
    }
}
