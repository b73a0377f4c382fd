//! What the receivers, the processor and the operator CLI agree on to run
//! inlet in production: the refusal record, the queue attributes that mark a
//! message as something other than a new event, and the keys those records
//! are stored under in the dedup table.
//!
//! Refusals travel on the event queue (a receiver already holds an SQS
//! client, so no DynamoDB client is linked into it) as a message whose
//! [`RECORD_ATTRIBUTE`] is [`REFUSAL_RECORD`]; the processor stores each one
//! in a per-provider ring of [`refusal_key`] slots with a short TTL, so a
//! flood of forged requests overwrites old records instead of growing the
//! table. A replay is an Envelope sent again with [`REPLAY_ATTRIBUTE`] set.

use serde::{Deserialize, Serialize};

/// Queue message attribute naming what a message is when it is not a new
/// event. Absent on every Envelope a receiver enqueues for a request.
pub const RECORD_ATTRIBUTE: &str = "inlet-record";
/// [`RECORD_ATTRIBUTE`] value of a refusal record; the body is a [`RefusalRecord`].
pub const REFUSAL_RECORD: &str = "refusal";
/// Queue message attribute of a replayed Envelope: the replay's own id, so a
/// redelivered replay runs the sinks once and the original record counts it.
pub const REPLAY_ATTRIBUTE: &str = "inlet-replay";
/// With [`REPLAY_ATTRIBUTE`]: the one destination a replay goes to
/// (`inlet replay <id> --destination NAME`); without it, every matching one.
pub const REPLAY_DESTINATION_ATTRIBUTE: &str = "inlet-replay-destination";

/// Key prefixes in the dedup table: event records use the Envelope id
/// (`<provider>:...`), which never starts with these.
pub const REFUSAL_KEY_PREFIX: &str = "refusal#";
pub const FAILURE_KEY_PREFIX: &str = "failure#";

/// Marks the dedup key of a replay: `<event id>#replay#<replay id>`.
pub const REPLAY_KEY_MARKER: &str = "#replay#";

/// The dedup key a replay runs under: its own, so a redelivered replay
/// message runs the sinks once, while the event's record keeps saying when
/// the event itself was processed. Hashed, like long Envelope ids, when it
/// would pass [`Envelope::MAX_ID_BYTES`](crate::Envelope::MAX_ID_BYTES).
pub fn replay_key(event_id: &str, replay_id: &str) -> String {
    let key = format!("{event_id}{REPLAY_KEY_MARKER}{replay_id}");
    if key.len() <= crate::Envelope::MAX_ID_BYTES {
        return key;
    }
    let provider = event_id.split(':').next().unwrap_or_default();
    let provider: String = provider.chars().take(64).collect();
    format!("{provider}{REPLAY_KEY_MARKER}sha256:{}", crate::verify::sha256_hex(key.as_bytes()))
}

/// One refused request, as `inlet refused` shows it. Built from the typed
/// refusal and the request's shape only: never the body, a header value or a
/// presented secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalRecord {
    pub provider: String,
    /// The path as the logs show it (secret segments already `***`).
    pub route: String,
    pub status: u16,
    /// Which check failed, as a stable class (`IngressError::class`):
    /// `bad_credential`, `stale_timestamp`, `unauthenticated`, `malformed`, ...
    pub class: String,
    /// The precise reason, as logged (the typed error's text: never a secret).
    pub reason: String,
    /// Request timestamp minus receiver clock, in seconds, when the refusal
    /// was about a timestamp (clock skew or a replay of an old request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew_secs: Option<i64>,
    pub body_len: usize,
    /// Hex SHA-256 of the body: tells "a proxy re-encoded the body" apart
    /// from "wrong secret" when compared with what the sender hashed.
    pub body_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// When the receiver refused it, milliseconds since the epoch.
    pub at_ms: i64,
}

/// The dedup-table key of the ring slot a refusal at `at_ms` is stored in:
/// one slot per second per provider, `cap` slots, so at most `cap` records
/// per provider exist at any time and the newest overwrite the oldest.
pub fn refusal_key(provider: &str, at_ms: i64, cap: u32) -> String {
    let slot = at_ms.div_euclid(1000).rem_euclid(i64::from(cap.max(1)));
    format!("{REFUSAL_KEY_PREFIX}{provider}#{slot}")
}

/// Every slot key of a provider's ring, for reading them all back.
pub fn refusal_keys(provider: &str, cap: u32) -> impl Iterator<Item = String> + '_ {
    (0..cap.max(1)).map(move |slot| format!("{REFUSAL_KEY_PREFIX}{provider}#{slot}"))
}

/// The dedup-table key of the processor's last failure for one SQS message
/// (the message id survives the move to the dead-letter queue, so `inlet dlq`
/// can show why each message is there).
pub fn failure_key(message_id: &str) -> String {
    format!("{FAILURE_KEY_PREFIX}{message_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_ring_has_cap_slots_and_one_per_second() {
        let keys: std::collections::HashSet<String> =
            (0..10_000).map(|s| refusal_key("lark", 1_700_000_000_000 + s * 250, 100)).collect();
        assert_eq!(keys.len(), 100);
        assert_eq!(refusal_key("lark", 1_000, 100), refusal_key("lark", 1_999, 100));
        assert_ne!(refusal_key("lark", 1_000, 100), refusal_key("lark", 2_000, 100));
        assert_ne!(refusal_key("lark", 1_000, 100), refusal_key("slack", 1_000, 100));
        assert_eq!(refusal_keys("lark", 100).collect::<std::collections::HashSet<_>>(), keys);
        assert_eq!(refusal_key("x", -1, 0), "refusal#x#0", "no panic on a zero cap or a negative clock");
    }

    #[test]
    fn replay_keys_are_per_replay_and_fit_the_table() {
        assert_eq!(replay_key("lark:e1", "r1"), "lark:e1#replay#r1");
        assert_ne!(replay_key("lark:e1", "r1"), replay_key("lark:e1", "r2"));
        let long_event = format!("lark:{}", "x".repeat(500));
        let (a, b) = (replay_key(&long_event, "r1"), replay_key(&long_event, "r2"));
        assert!(a.len() <= crate::Envelope::MAX_ID_BYTES && a.starts_with("lark#replay#sha256:"));
        assert_ne!(a, b);
        assert!(replay_key(&"y".repeat(5000), &"z".repeat(5000)).len() <= crate::Envelope::MAX_ID_BYTES);
    }

    #[test]
    fn record_keys_never_look_like_event_ids() {
        // Envelope ids are `<provider>:...`: a `#` prefix cannot collide.
        assert!(!refusal_key("lark", 0, 1).contains(':'));
        assert!(failure_key("m-1").starts_with(FAILURE_KEY_PREFIX));
    }
}
