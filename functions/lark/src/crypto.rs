//! Lark / Feishu: body decryption and the two request-signature schemes.
//! Only Lark speaks them, so they live with its receiver rather than in shared.

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use inlet_shared::error::IngressError;
use inlet_shared::verify::constant_time_eq;

/// Opens an encrypted Lark body. Failure reasons are fixed strings, so that
/// nothing derived from the key or the plaintext reaches a log; they are
/// precise, so a caller on an unauthenticated path must not show them to the
/// client (that would be a padding oracle): see `IngressError::Unauthenticated`.
pub fn decrypt_lark_body(encrypt_key: &str, ciphertext_b64: &str) -> Result<Vec<u8>, IngressError> {
    let raw =
        BASE64.decode(ciphertext_b64.trim()).map_err(|_| IngressError::Undecryptable("encrypt is not valid base64"))?;
    if raw.len() < 32 || raw.len() % 16 != 0 {
        return Err(IngressError::Undecryptable("ciphertext length is not a whole number of AES blocks"));
    }
    let (iv, body) = raw.split_at(16);
    let key = Sha256::digest(encrypt_key.as_bytes());
    let decryptor = cbc::Decryptor::<Aes256>::new_from_slices(&key, iv)
        .map_err(|_| IngressError::Undecryptable("bad key or IV length"))?;
    decryptor
        .decrypt_padded_vec::<Pkcs7>(body)
        .map_err(|_| IngressError::Undecryptable("bad padding (wrong Encrypt Key?)"))
}

/// Encrypts `plaintext` the way Lark does, with the given IV. Used by the
/// CLI and tests to produce requests that the receiver must accept.
pub fn encrypt_lark_body(encrypt_key: &str, iv: [u8; 16], plaintext: &[u8]) -> String {
    let key = Sha256::digest(encrypt_key.as_bytes());
    let encryptor = cbc::Encryptor::<Aes256>::new_from_slices(&key, &iv).expect("32-byte key, 16-byte IV");
    let mut raw = iv.to_vec();
    raw.extend(encryptor.encrypt_padded_vec::<Pkcs7>(plaintext));
    BASE64.encode(raw)
}

/// `X-Lark-Signature` of events and new-style card callbacks: lowercase hex
/// SHA-256 (a plain hash, not an HMAC) of timestamp ‖ nonce ‖ key ‖ body.
pub fn lark_signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(timestamp.as_bytes());
    hash.update(nonce.as_bytes());
    hash.update(encrypt_key.as_bytes());
    hash.update(body);
    hex::encode(hash.finalize())
}

/// `X-Lark-Signature` of old-style card callbacks: lowercase hex SHA-1 of
/// timestamp ‖ nonce ‖ Verification Token ‖ body.
pub fn lark_card_signature_v1(timestamp: &str, nonce: &str, verification_token: &str, body: &[u8]) -> String {
    let mut hash = Sha1::new();
    hash.update(timestamp.as_bytes());
    hash.update(nonce.as_bytes());
    hash.update(verification_token.as_bytes());
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Compares a presented signature with the expected lowercase hex, in
/// constant time and exactly: the official SDKs compare the strings as they
/// are, so an upper-case or padded value is refused there and here alike.
pub fn signature_matches(expected_hex: &str, presented: &str) -> bool {
    constant_time_eq(expected_hex.as_bytes(), presented.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_CIPHERTEXT: &str = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=";

    #[test]
    fn decrypts_public_vector() {
        assert_eq!(decrypt_lark_body("test key", VECTOR_CIPHERTEXT).unwrap(), b"hello world");
    }

    #[test]
    fn signature_matches_public_vector() {
        let body = format!(r#"{{"encrypt":"{VECTOR_CIPHERTEXT}"}}"#);
        assert_eq!(
            lark_signature("1700000000", "abc", "test key", body.as_bytes()),
            "0c09d96c2aef2ad08179b3967ea410bbc91dab24ce3aec05af962cf1935844af"
        );
    }

    #[test]
    fn encryption_round_trips() {
        let sealed = encrypt_lark_body("k", [7; 16], br#"{"a":1}"#);
        assert_eq!(decrypt_lark_body("k", &sealed).unwrap(), br#"{"a":1}"#);
    }

    #[test]
    fn wrong_key_bad_base64_and_bad_lengths_are_refused() {
        assert!(decrypt_lark_body("other key", VECTOR_CIPHERTEXT).is_err());
        assert!(decrypt_lark_body("test key", "%%%not base64").is_err());
        // 17 bytes: an IV and one stray byte.
        assert!(decrypt_lark_body("test key", &BASE64.encode([0u8; 17])).is_err());
        // 24 bytes: not a multiple of the block size.
        assert!(decrypt_lark_body("test key", &BASE64.encode([0u8; 40])).is_err());
        // Only an IV: nothing to decrypt.
        assert!(decrypt_lark_body("test key", &BASE64.encode([0u8; 16])).is_err());
    }

    #[test]
    fn card_signature_is_sha1_keyed_by_token() {
        let signature = lark_card_signature_v1("1", "n", "token", b"{}");
        assert_eq!(signature.len(), 40);
        assert_eq!(signature, hex::encode(Sha1::digest(b"1ntoken{}")));
        assert_ne!(signature, lark_card_signature_v1("1", "n", "other", b"{}"));
    }

    #[test]
    fn signature_comparison_is_exact() {
        assert!(signature_matches("abcd", "abcd"));
        assert!(!signature_matches("abcd", "ABCD"), "lark-oapi compares case-sensitively");
        assert!(!signature_matches("abcd", " abcd"));
        assert!(!signature_matches("abcd", "abce"));
        assert!(!signature_matches("abcd", "abc"));
    }
}
