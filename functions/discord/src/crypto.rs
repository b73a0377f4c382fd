//! Ed25519 request signatures, as Discord uses them: a signature over
//! `timestamp ‖ body`, verified strictly against a list of public keys.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use inlet_shared::error::ConfigError;

/// A configured public key and the name the Envelope records when it matches.
#[derive(Clone, Debug)]
pub struct NamedPublicKey {
    pub name: String,
    pub key: VerifyingKey,
}

/// Parses a comma-separated list of hex public keys (64 hex characters each),
/// naming them `SETTING#1`, `SETTING#2`, …
pub fn parse_public_keys(setting: &str, raw: &str) -> Result<Vec<NamedPublicKey>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
        .map(|(index, hex_key)| {
            let bytes: [u8; 32] = hex::decode(hex_key)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| ConfigError::new(setting, format!("entry {} is not 64 hex characters", index + 1)))?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| ConfigError::new(setting, format!("entry {} is not a valid Ed25519 key", index + 1)))?;
            Ok(NamedPublicKey { name: format!("{setting}#{}", index + 1), key })
        })
        .collect()
}

/// Finds the key under which `signature_hex` signs `timestamp ‖ body`.
/// Uses strict verification (no malleable or small-order signatures).
pub fn find_signing_key<'a>(
    keys: &'a [NamedPublicKey],
    signature_hex: &str,
    timestamp: &str,
    body: &[u8],
) -> Option<&'a NamedPublicKey> {
    let bytes: [u8; 64] = hex::decode(signature_hex.trim()).ok()?.try_into().ok()?;
    let signature = Signature::from_bytes(&bytes);
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    keys.iter().find(|k| k.key.verify_strict(&message, &signature).is_ok())
}

/// Signs `timestamp ‖ body` with a 32-byte seed, as Discord does. For the
/// CLI's samples and tests.
pub fn sign_ed25519(seed: &[u8; 32], timestamp: &str, body: &[u8]) -> String {
    let key = SigningKey::from_bytes(seed);
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    hex::encode(key.sign(&message).to_bytes())
}

/// The hex public key of a seed.
pub fn public_key_hex(seed: &[u8; 32]) -> String {
    hex::encode(SigningKey::from_bytes(seed).verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const SIGNATURE: &str = "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f";

    fn seed() -> [u8; 32] {
        hex::decode(SEED).unwrap().try_into().unwrap()
    }

    #[test]
    fn rfc8032_key_and_public_vector() {
        assert_eq!(public_key_hex(&seed()), PUBLIC);
        assert_eq!(sign_ed25519(&seed(), "1700000000", br#"{"type":1}"#), SIGNATURE);
        let keys = parse_public_keys("K", PUBLIC).unwrap();
        assert_eq!(find_signing_key(&keys, SIGNATURE, "1700000000", br#"{"type":1}"#).unwrap().name, "K#1");
    }

    #[test]
    fn tampering_with_timestamp_body_or_signature_fails() {
        let keys = parse_public_keys("K", PUBLIC).unwrap();
        assert!(find_signing_key(&keys, SIGNATURE, "1700000001", br#"{"type":1}"#).is_none());
        assert!(find_signing_key(&keys, SIGNATURE, "1700000000", br#"{"type":2}"#).is_none());
        let mut forged = SIGNATURE.to_string();
        forged.replace_range(0..2, "00");
        assert!(find_signing_key(&keys, &forged, "1700000000", br#"{"type":1}"#).is_none());
        assert!(find_signing_key(&keys, "not hex", "1700000000", br#"{"type":1}"#).is_none());
        assert!(find_signing_key(&keys, "abcd", "1700000000", br#"{"type":1}"#).is_none());
    }

    #[test]
    fn second_key_of_a_rotation_list_matches_by_name() {
        let other = public_key_hex(&[7; 32]);
        let keys = parse_public_keys("K", &format!("{other},{PUBLIC}")).unwrap();
        assert_eq!(find_signing_key(&keys, SIGNATURE, "1700000000", br#"{"type":1}"#).unwrap().name, "K#2");
    }

    #[test]
    fn malformed_keys_fail_start_up() {
        assert!(parse_public_keys("K", "abc").is_err());
        assert!(parse_public_keys("K", &"zz".repeat(32)).is_err());
        assert!(parse_public_keys("K", "").unwrap().is_empty());
    }
}
