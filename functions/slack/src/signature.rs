//! Slack's request signature (docs/platforms/slack.md, Slack):
//!
//! ```text
//! X-Slack-Signature = "v0=" ‖ lowercase hex HMAC-SHA256( key = signing secret,
//!                                                        "v0:" ‖ X-Slack-Request-Timestamp ‖ ":" ‖ raw body )
//! ```
//!
//! Verified the way slack-sdk's `SignatureVerifier` does: the timestamp is
//! signed exactly as the header carries it, and the whole `v0=…` string is
//! compared (so an upper-case digest or another version prefix fails).

use inlet_shared::verify::{NamedSecret, SecretList, hmac_sha256};

/// The only signature version Slack has defined.
pub const VERSION: &str = "v0";

/// The `X-Slack-Signature` value `secret` gives `body` sent at `timestamp`.
pub fn slack_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mac = hmac_sha256(secret.as_bytes(), &[VERSION.as_bytes(), b":", timestamp.as_bytes(), b":", body]);
    format!("{VERSION}={}", hex::encode(mac))
}

/// The configured secret under which `presented` signs `body` at
/// `timestamp`, every entry computed and compared ([`SecretList::find_signer`]).
pub fn find_signing_secret<'a>(
    secrets: &'a SecretList,
    timestamp: &str,
    body: &[u8],
    presented: &str,
) -> Option<&'a NamedSecret> {
    secrets.find_signer(&[presented], |secret| slack_signature(secret, timestamp, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slash command of Slack's "Verifying requests from Slack" guide.
    pub const GUIDE_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const GUIDE_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const GUIDE_TIMESTAMP: &str = "1531420618";
    const GUIDE_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn signature_matches_public_vector() {
        assert_eq!(slack_signature(GUIDE_SECRET, GUIDE_TIMESTAMP, GUIDE_BODY.as_bytes()), GUIDE_SIGNATURE);
    }

    #[test]
    fn the_matching_entry_is_named_and_the_comparison_is_exact() {
        let secrets = SecretList::parse("SLACK_SIGNING_SECRET", &format!("old-secret,{GUIDE_SECRET}"));
        let body = GUIDE_BODY.as_bytes();
        let found = find_signing_secret(&secrets, GUIDE_TIMESTAMP, body, GUIDE_SIGNATURE);
        assert_eq!(found.map(|e| e.name.as_str()), Some("SLACK_SIGNING_SECRET#2"));
        for wrong in [
            GUIDE_SIGNATURE.to_ascii_uppercase(),
            GUIDE_SIGNATURE.replacen("v0=", "V0=", 1),
            GUIDE_SIGNATURE.trim_start_matches("v0=").to_string(),
            format!("{GUIDE_SIGNATURE} "),
            GUIDE_SIGNATURE.replacen("v0=", "v1=", 1),
            String::new(),
        ] {
            assert!(find_signing_secret(&secrets, GUIDE_TIMESTAMP, body, &wrong).is_none(), "{wrong:?}");
        }
        assert!(find_signing_secret(&secrets, "1531420619", body, GUIDE_SIGNATURE).is_none());
        assert!(find_signing_secret(&secrets, GUIDE_TIMESTAMP, &body[1..], GUIDE_SIGNATURE).is_none());
    }
}
