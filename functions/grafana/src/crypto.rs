//! Grafana alerting webhook HMAC signatures.
//!
//! The contact point's "HMAC Signature" settings make Grafana send lowercase
//! hex HMAC-SHA256(secret, [timestamp ":"] ‖ body) in a header, where the
//! timestamp (Unix seconds) is present only when the user named a timestamp
//! header — Grafana has no default name for it.

use inlet_shared::verify::{constant_time_eq, hmac_sha256};

/// The signature header Grafana's UI and docs name, and the one its signer
/// (grafana/alerting `http/hmac.go`) uses when the contact point's Header
/// field is left blank.
pub const SIGNATURE_HEADER: &str = "x-grafana-alerting-signature";
/// A spelling found in Grafana's comments and in an earlier draft of that
/// signer; accepted too, since the MAC must verify either way.
pub const FALLBACK_SIGNATURE_HEADER: &str = "x-grafana-alert-signature";

/// The expected signature, lowercase hex.
pub fn grafana_signature(secret: &str, timestamp: Option<&str>, body: &[u8]) -> String {
    let mac = match timestamp {
        Some(timestamp) => hmac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b":", body]),
        None => hmac_sha256(secret.as_bytes(), &[body]),
    };
    hex::encode(mac)
}

/// Compares a presented hex signature with the expected one in constant
/// time, ignoring the case of the presented value.
pub fn grafana_signature_matches(secret: &str, timestamp: Option<&str>, body: &[u8], presented: &str) -> bool {
    let expected = grafana_signature(secret, timestamp, body);
    constant_time_eq(expected.as_bytes(), presented.trim().to_ascii_lowercase().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_timestamp_it_is_plain_hmac_of_the_body() {
        // The GitHub vector: the same construction, hex without a prefix.
        assert_eq!(
            grafana_signature("It's a Secret to Everybody", None, b"Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn with_timestamp_it_signs_timestamp_colon_body() {
        let signed = grafana_signature("s", Some("1700000000"), b"{}");
        assert_eq!(signed, hex::encode(hmac_sha256(b"s", &[b"1700000000:{}"])));
        assert_ne!(signed, grafana_signature("s", None, b"{}"));
        assert_ne!(signed, grafana_signature("s", Some("1700000001"), b"{}"));
    }

    #[test]
    fn matching_ignores_case_and_whitespace_but_not_content() {
        let signature = grafana_signature("s", None, b"body");
        assert!(grafana_signature_matches("s", None, b"body", &signature.to_ascii_uppercase()));
        assert!(grafana_signature_matches("s", None, b"body", &format!(" {signature} ")));
        assert!(!grafana_signature_matches("s", None, b"body2", &signature));
        assert!(!grafana_signature_matches("t", None, b"body", &signature));
        assert!(!grafana_signature_matches("s", None, b"body", &signature[..63]));
        assert!(!grafana_signature_matches("s", None, b"body", &format!("sha256={signature}")));
    }
}
