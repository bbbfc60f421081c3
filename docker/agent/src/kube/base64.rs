//! Standard base64 (RFC 4648, padded), as Go's `encoding/base64.StdEncoding` reads and writes
//! the `data` of Secrets and the `binaryData` of ConfigMaps, with Go's error wording.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `data` with padding.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn value_of(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Decodes padded standard base64; `\r` and `\n` are skipped as Go does. The error is Go's:
/// `illegal base64 data at input byte N`.
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes: Vec<(usize, u8)> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b != b'\r' && *b != b'\n')
        .collect();
    let illegal = |i: usize| format!("illegal base64 data at input byte {i}");
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (q, quad) in bytes.chunks(4).enumerate() {
        let last = (q + 1) * 4 >= bytes.len();
        let mut n: u32 = 0;
        let mut got = 0;
        for (k, &(pos, c)) in quad.iter().enumerate() {
            if c == b'=' {
                // Padding: only in the last quad, at position 2 or 3, and to its end.
                if !last || k < 2 || quad[k..].iter().any(|&(_, x)| x != b'=') || quad.len() != 4 {
                    return Err(illegal(pos));
                }
                break;
            }
            let Some(v) = value_of(c) else {
                return Err(illegal(pos));
            };
            n |= v << (18 - 6 * k);
            got += 1;
        }
        if got < 4 && quad.len() < 4 && got == quad.len() {
            // Missing padding: Go reports the start of the short quantum.
            return Err(illegal(quad[0].0));
        }
        match got {
            4 => out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]),
            3 => out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8]),
            2 => out.push((n >> 16) as u8),
            _ => return Err(illegal(quad[got.min(quad.len() - 1)].0)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_like_go() {
        for s in ["", "a", "ab", "abc", "abcd", "secret-password\n"] {
            assert_eq!(decode(&encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(encode(b"admin"), "YWRtaW4=");
        assert_eq!(decode("YWRtaW4=").unwrap(), b"admin");
        assert_eq!(decode("YWRt\naW4=").unwrap(), b"admin");
        assert_eq!(
            decode("not base64!").unwrap_err(),
            "illegal base64 data at input byte 3"
        );
        assert_eq!(
            decode("YWRtaW4").unwrap_err(),
            "illegal base64 data at input byte 4"
        );
        assert!(decode("YW=t").is_err());
    }
}
