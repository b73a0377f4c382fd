//! The symmetric (`v1`) signature of Standard Webhooks 1.0, both ways: the
//! standard-webhooks receiver verifies it and the HTTP destination
//! (crate::delivery::http) signs with it, so both read a `whsec_` secret
//! and compute the signature with the same code.
//!
//! ```text
//! content = webhook-id ‖ "." ‖ timestamp ‖ "." ‖ raw body
//! v1      = base64 HMAC-SHA256( base64 decode of the secret after "whsec_", content )
//! webhook-signature = "v1,<signature>" entries separated by single spaces
//! ```
//!
//! Secrets are read the way the specification's reference Python library
//! (`standardwebhooks` 1.1) reads them, so a secret means the same key to
//! inlet and to the team's receiver: the `whsec_` prefix is optional and the
//! base64 padding too (the library decodes `secret + "=="`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{SecretList, hmac_sha256};
use crate::error::ConfigError;

/// What a signing secret may start with; the library strips it.
pub const SECRET_PREFIX: &str = "whsec_";
/// The symmetric version's identifier.
pub const V1: &str = "v1";

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

/// The value of one character of the standard base64 alphabet.
pub fn sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// The base64 of a key decoded as the library decodes a secret since 1.0.1:
/// `b64decode(text + "==")`. Two pads complete any quad that can be
/// completed and are skipped after a complete one, so padding is optional;
/// one character more than a multiple of four is still an error.
pub fn unpadded_b64decode(text: &str) -> Option<Vec<u8>> {
    python_b64decode(&format!("{text}=="))
}

/// Stricter than the library at start-up: a character outside the base64
/// alphabet (which the library would silently skip) is a copying mistake.
pub fn only_base64(encoded: &str, prefix: &str) -> Result<(), String> {
    if encoded.bytes().all(|b| b == b'=' || sextet(b).is_some()) {
        Ok(())
    } else {
        Err(format!("holds a character outside base64 after {prefix}"))
    }
}

/// The HMAC key of a configured secret: the base64 after `whsec_` (the
/// prefix is optional, as in the library), with or without its padding.
/// Stricter than the library at start-up where the library would use a key
/// nobody meant (see [`only_base64`]); an empty key signs nothing worth
/// trusting (the library refuses it too). The error never quotes the secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    only_base64(encoded, SECRET_PREFIX)?;
    match unpadded_b64decode(encoded) {
        Some(key) if !key.is_empty() => Ok(key),
        Some(_) => Err("is empty after whsec_".into()),
        None => Err("is not valid base64 after whsec_ (one character more than a multiple of 4)".into()),
    }
}

/// The key of a secret as a sender would use it, without the start-up
/// checks (samples and tests sign with whatever they are given).
pub fn lenient_secret_key(secret: &str) -> Option<Vec<u8>> {
    unpadded_b64decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
}

/// Raw HMAC-SHA256 of `{id}.{timestamp}.{body}`.
pub fn signature_bytes(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    hmac_sha256(key, &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body])
}

/// `{id}.{timestamp}.{body}`: what every version signs.
pub fn signed_content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    [id.as_bytes(), b".", timestamp.as_bytes(), b".", body].concat()
}

/// One `v1,<base64>` entry, as the library's `sign` writes it.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("{V1},{}", BASE64.encode(signature_bytes(key, id, &timestamp.to_string(), body)))
}

/// The key sizes the specification asks of a `whsec_` secret.
pub const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// The HMAC keys a sender signs with: one, or several while the receiver
/// rotates its secret. `Debug` shows how many, never a key.
#[derive(Clone)]
pub struct SigningKeys(Vec<Vec<u8>>);

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeys({} keys)", self.0.len())
    }
}

impl SigningKeys {
    /// The keys of `secrets`, the value of `setting`: `whsec_` secrets,
    /// comma-separated, each a key of [`KEY_BYTES`]. `owner` says in the
    /// errors what signs with them (`destination "app"`); an error names
    /// the setting and which of its secrets is unusable, never a value.
    pub fn parse(setting: &str, secrets: &str, owner: &str) -> Result<Self, ConfigError> {
        let list = SecretList::parse(setting, secrets);
        if list.is_empty() {
            return Err(ConfigError::new(setting, format!("is empty; {owner} needs a whsec_ secret to sign with")));
        }
        let mut keys = Vec::new();
        for (index, secret) in list.iter().enumerate() {
            let which = format!("secret {} of {owner}", index + 1);
            let key =
                secret_key(secret.value.expose()).map_err(|why| ConfigError::new(setting, format!("{which} {why}")))?;
            if !KEY_BYTES.contains(&key.len()) {
                return Err(ConfigError::new(
                    setting,
                    format!(
                        "{which} is a key of {} bytes; Standard Webhooks secrets are {} to {} bytes",
                        key.len(),
                        KEY_BYTES.start(),
                        KEY_BYTES.end()
                    ),
                ));
            }
            keys.push(key);
        }
        Ok(SigningKeys(keys))
    }

    /// How many keys sign (and so how many `v1` entries a header has).
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// The `webhook-signature` header of one message, one entry per key.
    pub fn signature_header(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        signature_header(&self.0, id, timestamp, body)
    }
}

/// The whole `webhook-signature` header for `keys`: one `v1` entry per key,
/// separated by single spaces, so that during a rotation a receiver holding
/// either secret verifies.
pub fn signature_header<K: AsRef<[u8]>>(keys: &[K], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter().map(|key| sign(key.as_ref(), id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example (spec/standard-webhooks.md), which
    /// the reference libraries test against.
    #[test]
    fn signing_gives_the_specifications_test_vector() {
        let key = secret_key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("the vector's secret");
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            sign(&key, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn two_keys_give_two_space_separated_signatures() {
        let (old, new) = (b"old-key".as_slice(), b"new-key".as_slice());
        let header = signature_header(&[old, new], "msg_1", 1_700_000_000, b"{}");
        assert_eq!(
            header,
            format!("{} {}", sign(old, "msg_1", 1_700_000_000, b"{}"), sign(new, "msg_1", 1_700_000_000, b"{}"))
        );
        assert_eq!(signature_header(&[old], "msg_1", 1_700_000_000, b"{}"), sign(old, "msg_1", 1_700_000_000, b"{}"));
        assert_eq!(signed_content("msg_1", "1700000000", b"{}"), b"msg_1.1700000000.{}");
    }

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
        assert!(secret_key("whsec_YWJjZ").is_err(), "one more than a multiple of 4, padded or not");
        assert!(secret_key("whsec_YWJjZ===").is_err());
        assert!(secret_key("whsec_YWJj-_").is_err());
    }

    #[test]
    fn signing_keys_name_their_owner_and_never_show_a_key() {
        let vector = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let keys = SigningKeys::parse("HOOK_SECRET", &format!("{vector}, {vector}"), "the hook").expect("valid");
        assert_eq!(keys.count(), 2);
        assert_eq!(format!("{keys:?}"), "SigningKeys(2 keys)");
        let one = secret_key(vector).unwrap();
        assert_eq!(keys.signature_header("msg_1", 1, b"{}"), signature_header(&[&one, &one], "msg_1", 1, b"{}"));
        let error = SigningKeys::parse("HOOK_SECRET", &format!("{vector},whsec_c2hvcnQ="), "the hook").unwrap_err();
        assert_eq!(error.name, "HOOK_SECRET");
        assert_eq!(
            error.reason,
            "secret 2 of the hook is a key of 5 bytes; Standard Webhooks secrets are 24 to 64 bytes"
        );
        assert_eq!(
            SigningKeys::parse("HOOK_SECRET", " ", "the hook").unwrap_err().reason,
            "is empty; the hook needs a whsec_ secret to sign with"
        );
    }

    /// standardwebhooks 1.0.1 and later decode `secret + "=="`; 1.0.0
    /// refused these.
    #[test]
    fn secrets_without_their_padding_decode_to_the_same_key() {
        for (unpadded, padded) in [("YQ", "YQ=="), ("YWI", "YWI="), ("YWJj", "YWJj")] {
            let expected = python_b64decode(padded).expect("padded base64");
            assert_eq!(secret_key(&format!("whsec_{unpadded}")), Ok(expected.clone()), "{unpadded}");
            assert_eq!(secret_key(&format!("whsec_{padded}")), Ok(expected.clone()), "{padded}");
            assert_eq!(lenient_secret_key(&format!("whsec_{unpadded}")), Some(expected), "{unpadded}");
        }
        // The library's own test secrets (tests/test_webhooks.py).
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr").expect("two pads missing");
        assert_eq!(key, python_b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr==").unwrap());
        assert_eq!(key.len(), 25);
    }
}
