//! Classroom workshops: an instructor, authenticated by the token given to
//! `kplab serve --instructor-token`, creates a workshop (labs, join code, capacity, warm
//! pool); learners join with the code and a display name; the instructor watches a live
//! dashboard and helps from it.
//!
//! - [`bus`]: the in-memory state: change bus, member index, start queue.
//! - [`ops`]: what the instructor and the learners do (create, open or close, join).
//! - [`pool`]: the warm pool (pre-started labs handed to joining learners) and the fair FIFO
//!   start queue used when the pool is empty; one background task runs both.
//! - [`view`]: dashboard rows and the CSV/JSON export.
//!
//! Persistence is `crate::store::WorkshopStore`; the HTTP side (instructor token, pages, API,
//! event streams) is in the web layer.
//!
//! Live updates: handlers and the lab lifecycle call [`bus::Workshops::changed`] with a
//! learner (or `Platform::session_changed` with a session); a broadcast channel carries the
//! learner id to every open dashboard stream, which re-reads only that learner's row and
//! pushes it (no polling).

pub mod bus;
pub mod ops;
pub mod pool;
pub mod view;

/// A random id of `bytes` random bytes, hex.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    data_encoding::HEXLOWER.encode(&b)
}

/// Join-code alphabet: no 0/O, 1/I/L.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A random 6-character join code (31^6, about 890 million codes).
pub fn new_join_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Normalises a join code typed by a person: trimmed, upper case; `None` if it cannot be one.
pub fn normalise_code(code: &str) -> Option<String> {
    let c = code.trim().to_ascii_uppercase();
    (c.len() >= 4 && c.len() <= 16 && c.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_unambiguous_characters() {
        for _ in 0..100 {
            let c = new_join_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{c}");
        }
        assert_eq!(normalise_code(" ab12cd ").as_deref(), Some("AB12CD"));
        assert_eq!(normalise_code("abc"), None);
        assert_eq!(normalise_code("ab-12cd"), None);
    }
}
