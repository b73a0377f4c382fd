//! The Standard Webhooks signature scheme, read the way the specification's
//! reference Python library (`standardwebhooks` 1.0, `Webhook.verify`)
//! reads it, so that what it accepts inlet accepts and the other way round:
//!
//! ```text
//! key       = base64 decode of the secret after "whsec_"
//! signature = base64 HMAC-SHA256( key, webhook-id ‖ "." ‖ timestamp ‖ "." ‖ raw body )
//! webhook-signature = "v1,<signature>" entries separated by single spaces
//! ```
//!
//! `timestamp` is the header's value read as an integer and written back
//! (the library signs `str(floor(timestamp))`), so `01649367553` is signed
//! as `1649367553`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use inlet_shared::verify::{constant_time_eq, hmac_sha256};

/// What the signing secret may start with; the library strips it.
pub const SECRET_PREFIX: &str = "whsec_";

/// Decodes base64 as Python's `base64.b64decode(text)` (non-validating
/// `binascii.a2b_base64`, CPython 3.11) does: characters outside the
/// standard alphabet are skipped; decoding stops at the first complete
/// padding; unused low bits of the last character are ignored; a dangling
/// single character or missing padding is an error (`None`), as is any
/// non-ASCII character (Python's `ValueError`).
pub fn python_b64decode(text: &str) -> Option<Vec<u8>> {
    if !text.is_ascii() {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let (mut quad_pos, mut left, mut pads) = (0u8, 0u8, 0u8);
    for byte in text.bytes() {
        if byte == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Some(out);
                }
            }
            continue;
        }
        let Some(value) = sextet(byte) else { continue };
        pads = 0;
        match quad_pos {
            0 => {
                left = value;
                quad_pos = 1;
            }
            1 => {
                out.push((left << 2) | (value >> 4));
                left = value & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push((left << 4) | (value >> 2));
                left = value & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push((left << 6) | value);
                quad_pos = 0;
            }
        }
    }
    (quad_pos == 0).then_some(out)
}

fn sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// The HMAC key of a configured secret: the base64 after `whsec_` (the
/// prefix is optional, as in the library). Stricter than the library at
/// start-up: a character outside the base64 alphabet (which the library
/// would silently skip) is a copying mistake, and an empty key signs
/// nothing worth trusting.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, &'static str> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    if !encoded.bytes().all(|b| b == b'=' || sextet(b).is_some()) {
        return Err("holds a character outside base64 after whsec_");
    }
    match python_b64decode(encoded) {
        Some(key) if !key.is_empty() => Ok(key),
        Some(_) => Err("is empty after whsec_"),
        None => Err("is not valid base64 after whsec_ (wrong length or padding)"),
    }
}

/// The key of a secret as a sender would use it, without the start-up
/// checks (the samples sign with whatever the settings hold).
pub fn lenient_secret_key(secret: &str) -> Option<Vec<u8>> {
    python_b64decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
}

/// Raw HMAC-SHA256 of `{id}.{timestamp}.{body}`.
pub fn signature_bytes(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    hmac_sha256(key, &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body])
}

/// One `v1,<base64>` entry, as the library's `sign` writes it.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", BASE64.encode(signature_bytes(key, id, &timestamp.to_string(), body)))
}

/// `webhook-timestamp` read as the library's `float()` reads an integer:
/// surrounding whitespace, a sign, `_` between digits, leading zeros; the
/// result is the integer as the library writes it back. A fraction or an
/// exponent (which the library also takes) is refused: the specification
/// says integer seconds, and no sender writes anything else.
pub fn timestamp_of(text: &str) -> Option<i64> {
    inlet_shared::verify::python_int(text)?.parse().ok()
}

/// One entry of `webhook-signature`, as the library's loop sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `v1,<base64>`: the decoded signature.
    V1(Vec<u8>),
    /// Another version (`v1a`, …): skipped.
    Other,
    /// Not exactly one comma (the library's unpacking `ValueError`), or a
    /// `v1` whose base64 does not decode (its `binascii.Error`): when the
    /// library reaches such an entry it stops and refuses.
    Unreadable(&'static str),
}

/// Splits `webhook-signature` on single spaces (`"a  b"` holds an empty,
/// unreadable entry, as in the library).
pub fn entries(header: &str) -> Vec<Entry> {
    header
        .split(' ')
        .map(|entry| {
            let mut parts = entry.split(',');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("v1"), Some(signature), None) => match python_b64decode(signature) {
                    Some(bytes) => Entry::V1(bytes),
                    None => Entry::Unreadable("a v1 signature that is not base64"),
                },
                (Some(_), Some(_), None) => Entry::Other,
                _ => Entry::Unreadable("an entry that is not version,signature"),
            }
        })
        .collect()
}

/// The library's verdict for one key: the entries in order, the first `v1`
/// equal to `expected` accepts, an unreadable entry before it refuses.
pub fn verify_entries(entries: &[Entry], expected: &[u8; 32]) -> Result<(), &'static str> {
    for entry in entries {
        match entry {
            Entry::V1(presented) if constant_time_eq(presented, expected) => return Ok(()),
            Entry::V1(_) | Entry::Other => {}
            Entry::Unreadable(why) => return Err(why),
        }
    }
    Err("no v1 signature matches")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_as_python_does() {
        assert_eq!(python_b64decode("YWJj"), Some(b"abc".to_vec()));
        assert_eq!(python_b64decode("YQ=="), Some(b"a".to_vec()));
        assert_eq!(python_b64decode("YR=="), Some(b"a".to_vec()), "unused bits ignored");
        assert_eq!(python_b64decode("Y!Q=*="), Some(b"a".to_vec()), "junk skipped");
        assert_eq!(python_b64decode("YQ==YWJj"), Some(b"a".to_vec()), "stops at the padding");
        assert_eq!(python_b64decode("=YQ=="), Some(b"a".to_vec()), "a leading pad is skipped");
        assert_eq!(python_b64decode(""), Some(Vec::new()));
        assert_eq!(python_b64decode("YQ"), None, "incorrect padding");
        assert_eq!(python_b64decode("YQ="), None, "incorrect padding");
        assert_eq!(python_b64decode("YWJjZ"), None, "one more than a multiple of 4");
        assert_eq!(python_b64decode("YQ==é"), None, "not ASCII");
    }

    #[test]
    fn secrets_are_checked_at_start_up() {
        assert_eq!(secret_key("whsec_YWJj"), Ok(b"abc".to_vec()));
        assert_eq!(secret_key("YWJj"), Ok(b"abc".to_vec()), "the prefix is optional");
        assert!(secret_key("whsec_").is_err());
        assert!(secret_key("whsec_YW Jj").is_err());
        assert!(secret_key("whsec_YWJjZ").is_err());
        assert!(secret_key("whsec_YWJj-_").is_err());
    }

    #[test]
    fn timestamps_read_as_integers() {
        assert_eq!(timestamp_of("1649367553"), Some(1649367553));
        assert_eq!(timestamp_of(" 01649367553 "), Some(1649367553));
        assert_eq!(timestamp_of("+1_649_367_553"), Some(1649367553));
        assert_eq!(timestamp_of("-5"), Some(-5));
        for bad in ["", "1649367553.0", "1e9", "1__0", "_1", "1_", "- 1", "x", "99999999999999999999"] {
            assert_eq!(timestamp_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn entries_follow_the_librarys_loop() {
        let expected = [7u8; 32];
        let good = format!("v1,{}", BASE64.encode(expected));
        let ok = |header: &str| verify_entries(&entries(header), &expected);
        assert!(ok(&good).is_ok());
        assert!(ok(&format!("v1a,xyz v1,AAAA {good}")).is_ok());
        assert!(ok(&format!("{good} v1,a,b")).is_ok(), "entries after a match are not read");
        assert!(ok(&format!("v1,a,b {good}")).is_err(), "an unreadable entry before it stops the loop");
        assert!(ok(&format!("v1,YQ {good}")).is_err(), "undecodable v1 before it");
        assert!(ok(&format!("v2,YQ {good}")).is_ok(), "other versions are not decoded");
        assert!(ok(&format!(" {good}")).is_err(), "a leading space makes an empty entry");
        assert!(ok("v1,AAAA").is_err());
    }
}
