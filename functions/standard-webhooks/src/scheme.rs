//! The Standard Webhooks signature schemes, read the way the specification
//! (spec/standard-webhooks.md) and its reference Python library
//! (`standardwebhooks` 1.1, `Webhook.verify`) read them, so that what the
//! library accepts inlet accepts and the other way round:
//!
//! ```text
//! content   = webhook-id ‖ "." ‖ timestamp ‖ "." ‖ raw body
//! v1        = base64 HMAC-SHA256( base64 decode of the secret after "whsec_", content )
//! v1a       = base64 Ed25519 signature (64 bytes) of content, checked with the
//!             32-byte public key whose base64 follows "whpk_"
//! webhook-signature = "<version>,<signature>" entries separated by single spaces
//! ```
//!
//! `timestamp` is the header's value read as an integer and written back
//! (the library signs `str(floor(timestamp))`), so `01649367553` is signed
//! as `1649367553`. The library implements `v1` only; `v1a` follows the
//! specification, walked through the same loop so that a header mixing both
//! reads the same way whichever kind of key a source has.
//!
//! The `v1` half (reading a `whsec_` secret, the HMAC and its encoding) is
//! shared with the HTTP destination, which signs what this crate verifies:
//! it lives in `inlet_shared::verify::standard_webhooks` and is re-exported
//! here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use inlet_shared::verify::constant_time_eq;
use inlet_shared::verify::standard_webhooks::only_base64;
pub use inlet_shared::verify::standard_webhooks::{
    SECRET_PREFIX, V1, lenient_secret_key, python_b64decode, secret_key, sign, signature_bytes, signed_content,
};

/// What an Ed25519 public key starts with (the specification's
/// "secret serialization" row).
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";
/// What an Ed25519 secret key starts with: the sender's, never a receiver's.
pub const SIGNING_KEY_PREFIX: &str = "whsk_";

/// The Ed25519 public key after `whpk_`: standard base64 (padding
/// optional, as for secrets) of exactly 32 bytes that are a point on the
/// curve. No library reads `whpk_` keys, so nothing asks for Python's
/// leniency here: anything after the padding or in unused bits is a
/// copying mistake. A weak (small-order) key is refused: signatures under
/// it can be forged without any secret.
pub fn public_key(text: &str) -> Result<VerifyingKey, String> {
    const STRICT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let encoded = text.strip_prefix(PUBLIC_KEY_PREFIX).unwrap_or(text);
    only_base64(encoded, PUBLIC_KEY_PREFIX)?;
    let bytes = STRICT.decode(encoded).map_err(|_| "is not valid base64 after whpk_")?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("decodes to {} bytes after whpk_; an Ed25519 public key has 32", b.len()))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| "is not an Ed25519 public key (not a curve point)")?;
    if key.is_weak() {
        return Err("is a weak (small-order) Ed25519 key, under which anyone can sign".into());
    }
    Ok(key)
}

/// A configured key: the prefix says which scheme it verifies, as the
/// specification intends ("allows implementations to correctly use the
/// correct scheme without additional configuration").
#[derive(Clone)]
pub enum Key {
    /// `whsec_…` (or no prefix, as in the library): verifies `v1` only.
    Hmac(Vec<u8>),
    /// `whpk_…`: verifies `v1a` only.
    Ed25519(VerifyingKey),
}

/// Never the secret: the scheme only (a public key may be shown).
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Hmac(_) => f.write_str("Hmac(…)"),
            Key::Ed25519(key) => f.debug_tuple("Ed25519").field(key).finish(),
        }
    }
}

impl Key {
    /// Reads one configured value. A `whsk_` secret key is refused: it
    /// belongs to the sender, and a receiver holding it could sign.
    pub fn parse(value: &str) -> Result<Key, String> {
        if value.starts_with(SIGNING_KEY_PREFIX) {
            Err("is a whsk_ secret key: configure the sender's whpk_ public key instead; the secret key only signs"
                .into())
        } else if value.starts_with(PUBLIC_KEY_PREFIX) {
            public_key(value).map(Key::Ed25519)
        } else {
            secret_key(value).map(Key::Hmac)
        }
    }

    /// The library's (and for `v1a` the same loop's) verdict on `entries`
    /// for this key.
    pub fn verify(&self, entries: &[Entry], id: &str, timestamp: &str, body: &[u8]) -> Result<(), &'static str> {
        match self {
            Key::Hmac(key) => verify_entries(entries, &signature_bytes(key, id, timestamp, body)),
            Key::Ed25519(key) => verify_v1a_entries(entries, key, &signed_content(id, timestamp, body)),
        }
    }
}

/// The asymmetric (Ed25519) version's identifier.
pub const V1A: &str = "v1a";

/// One `v1a,<base64>` entry, signed with a 32-byte Ed25519 seed. For
/// senders in tests and samples; a receiver never holds the seed.
pub fn sign_v1a(seed: &[u8; 32], id: &str, timestamp: i64, body: &[u8]) -> String {
    let signature = SigningKey::from_bytes(seed).sign(&signed_content(id, &timestamp.to_string(), body));
    format!("v1a,{}", BASE64.encode(signature.to_bytes()))
}

/// `whpk_` + base64 of the public key of a seed, as a sender publishes it.
pub fn public_key_of(seed: &[u8; 32]) -> String {
    format!("{PUBLIC_KEY_PREFIX}{}", BASE64.encode(SigningKey::from_bytes(seed).verifying_key().to_bytes()))
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
    /// `v1,<base64>`: the decoded signature, `None` when the base64 does
    /// not decode (the library's `binascii.Error`: when it reaches such an
    /// entry it stops and refuses).
    V1(Option<Vec<u8>>),
    /// `v1a,<base64>`: the same for the Ed25519 version. The library skips
    /// it without decoding; a `whpk_` key reads it as a `whsec_` secret
    /// reads `v1`.
    V1a(Option<Vec<u8>>),
    /// Another version (`v2`, `V1`, …): skipped by every key.
    Other,
    /// Not exactly one comma (the library's unpacking `ValueError`): when
    /// the loop reaches it, it stops and refuses, whatever the key.
    Unreadable,
}

/// Splits `webhook-signature` on single spaces (`"a  b"` holds an empty,
/// unreadable entry, as in the library).
pub fn entries(header: &str) -> Vec<Entry> {
    header
        .split(' ')
        .map(|entry| {
            let mut parts = entry.split(',');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(V1), Some(signature), None) => Entry::V1(python_b64decode(signature)),
                // Decoded like v1: the specification gives both the same version,base64 form.
                (Some(V1A), Some(signature), None) => Entry::V1a(python_b64decode(signature)),
                (Some(_), Some(_), None) => Entry::Other,
                _ => Entry::Unreadable,
            }
        })
        .collect()
}

const UNREADABLE: &str = "an entry that is not version,signature";

/// The library's verdict for one `whsec_` key: the entries in order, the
/// first `v1` equal to `expected` accepts, an unreadable entry or an
/// undecodable `v1` before it refuses; `v1a` and other versions are skipped.
pub fn verify_entries(entries: &[Entry], expected: &[u8; 32]) -> Result<(), &'static str> {
    for entry in entries {
        match entry {
            Entry::V1(Some(presented)) if constant_time_eq(presented, expected) => return Ok(()),
            Entry::V1(None) => return Err("a v1 signature that is not base64"),
            Entry::Unreadable => return Err(UNREADABLE),
            Entry::V1(Some(_)) | Entry::V1a(_) | Entry::Other => {}
        }
    }
    Err("no v1 signature matches")
}

/// The same loop for one `whpk_` key: the first `v1a` that is a valid
/// signature of `content` under `key` accepts; an unreadable entry or an
/// undecodable `v1a` before it refuses; `v1` and other versions are skipped,
/// so a `whpk_` key never accepts an HMAC and a `whsec_` secret never an
/// Ed25519 signature. Verification is strict (no small-order points, no
/// non-canonical scalars), so a valid signature cannot be altered into
/// another one that also verifies.
pub fn verify_v1a_entries(entries: &[Entry], key: &VerifyingKey, content: &[u8]) -> Result<(), &'static str> {
    for entry in entries {
        match entry {
            Entry::V1a(Some(presented)) => {
                // A wrong length is a signature that does not match, as a v1 of the wrong length is.
                let Ok(bytes) = <[u8; 64]>::try_from(presented.as_slice()) else { continue };
                if key.verify_strict(content, &Signature::from_bytes(&bytes)).is_ok() {
                    return Ok(());
                }
            }
            Entry::V1a(None) => return Err("a v1a signature that is not base64"),
            Entry::Unreadable => return Err(UNREADABLE),
            Entry::V1(_) | Entry::Other => {}
        }
    }
    Err("no v1a signature matches the public key")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC8032_SEED: [u8; 32] = [
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49,
        0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
    ];

    #[test]
    fn public_keys_are_whpk_and_32_bytes_of_a_strong_point() {
        let whpk = public_key_of(&RFC8032_SEED);
        // RFC 8032, test 1: d75a9801…511a.
        assert_eq!(whpk, "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
        let key = public_key(&whpk).expect("valid");
        assert_eq!(public_key(whpk.trim_end_matches('=')).map(|k| k.to_bytes()), Ok(key.to_bytes()), "unpadded");
        assert!(matches!(Key::parse(&whpk), Ok(Key::Ed25519(_))));
        assert!(matches!(Key::parse("whsec_YWJj"), Ok(Key::Hmac(_))));
        assert!(Key::parse(&whpk.replace("whpk_", "whsk_")).unwrap_err().contains("whsk_"));
        assert!(public_key("whpk_YWJj").unwrap_err().contains("32"), "too short");
        assert!(public_key(&format!("whpk_{}", BASE64.encode([7u8; 33]))).is_err(), "too long");
        assert!(public_key("whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUR!=").is_err(), "not base64");
        assert!(public_key(&format!("{whpk}AAAA")).is_err(), "nothing after the padding");
        assert!(public_key("whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=").is_err(), "unused bits set");
        // The identity point (small order): anyone could sign under it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(public_key(&format!("whpk_{}", BASE64.encode(identity))).unwrap_err().contains("weak"));
    }

    #[test]
    fn v1a_is_ed25519_over_id_timestamp_body_and_read_only_by_public_keys() {
        let key = public_key(&public_key_of(&RFC8032_SEED)).unwrap();
        let (id, body) = ("msg_1", br#"{"type":"x"}"#.as_slice());
        let good = sign_v1a(&RFC8032_SEED, id, 1_700_000_000, body);
        assert_eq!(good.len(), "v1a,".len() + 88, "64 bytes in base64");
        let content = signed_content(id, "1700000000", body);
        assert_eq!(content, b"msg_1.1700000000.{\"type\":\"x\"}");
        let ok = |header: &str| verify_v1a_entries(&entries(header), &key, &content);
        assert!(ok(&good).is_ok());
        let hmac = sign(b"secret", id, 1_700_000_000, body);
        assert!(ok(&format!("{hmac} v2,x {good}")).is_ok(), "v1 and other versions are skipped");
        assert!(ok(&format!("{good} v1a,a,b")).is_ok(), "entries after a match are not read");
        assert!(ok(&format!("v1a,a,b {good}")).is_err(), "an unreadable entry before it stops the loop");
        assert!(ok(&format!("v1a,YQ {good}")).is_err(), "an undecodable v1a before it");
        assert!(ok(&format!("v1a,AAAA {good}")).is_ok(), "a short v1a does not match, and the loop goes on");
        assert!(ok(&good.replace("v1a,", "v1,")).is_err(), "an Ed25519 signature presented as v1");
        assert!(ok(&sign_v1a(&RFC8032_SEED, id, 1_700_000_001, body)).is_err(), "another timestamp");
        // A whsec_ secret never reads v1a, even an undecodable one.
        let expected = signature_bytes(b"secret", id, "1700000000", body);
        assert!(verify_entries(&entries(&format!("v1a,YQ {good} {hmac}")), &expected).is_ok());
        assert!(verify_entries(&entries(&good), &expected).is_err());
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
