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

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{EnvSource, number};
use crate::error::ConfigError;

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

/// How the processor keeps the records it writes next to the events:
/// refusals (a short, capped diagnosis ring per provider) and failures (as
/// long as the dead-letter queue keeps the message they explain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationsSettings {
    /// `INLET_REFUSAL_TTL_SECS`: how long a refusal record is shown.
    pub refusal_ttl: Duration,
    /// `INLET_REFUSAL_CAP`: ring slots per provider, so a flood of forged
    /// requests overwrites old records instead of growing the table.
    pub refusal_cap: u32,
    /// The dead-letter queue's retention: a failure record is there as long
    /// as the message it explains can be.
    pub failure_ttl: Duration,
}

impl OperationsSettings {
    pub const DEFAULT_REFUSAL_TTL_SECS: u64 = 24 * 3600;
    pub const DEFAULT_REFUSAL_CAP: u32 = 100;
    /// Above this a provider's ring costs `inlet refused` more than a few
    /// BatchGetItem calls (100 keys each) and stops being "brief".
    pub const MAX_REFUSAL_CAP: u32 = 1000;
    /// template.yaml's and the local stack's DLQ MessageRetentionPeriod.
    pub const FAILURE_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let ttl = number(env, "INLET_REFUSAL_TTL_SECS", Self::DEFAULT_REFUSAL_TTL_SECS)?;
        if ttl == 0 {
            return Err(ConfigError::new("INLET_REFUSAL_TTL_SECS", "must be greater than 0"));
        }
        let cap = number(env, "INLET_REFUSAL_CAP", Self::DEFAULT_REFUSAL_CAP)?;
        if !(1..=Self::MAX_REFUSAL_CAP).contains(&cap) {
            return Err(ConfigError::new("INLET_REFUSAL_CAP", format!("must be 1 to {}", Self::MAX_REFUSAL_CAP)));
        }
        Ok(OperationsSettings {
            refusal_ttl: Duration::from_secs(ttl),
            refusal_cap: cap,
            failure_ttl: Self::FAILURE_TTL,
        })
    }
}

impl Default for OperationsSettings {
    fn default() -> Self {
        OperationsSettings {
            refusal_ttl: Duration::from_secs(Self::DEFAULT_REFUSAL_TTL_SECS),
            refusal_cap: Self::DEFAULT_REFUSAL_CAP,
            failure_ttl: Self::FAILURE_TTL,
        }
    }
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

    use crate::config::test_env as env;

    #[test]
    fn operations_settings_default_and_refuse_an_unbounded_ring() {
        let settings = OperationsSettings::from_env(&env(&[])).unwrap();
        assert_eq!(settings, OperationsSettings::default());
        assert_eq!((settings.refusal_ttl.as_secs(), settings.refusal_cap), (86_400, 100));
        let set = OperationsSettings::from_env(&env(&[("INLET_REFUSAL_TTL_SECS", "60"), ("INLET_REFUSAL_CAP", "5")]));
        assert_eq!(set.map(|s| (s.refusal_ttl.as_secs(), s.refusal_cap)).unwrap(), (60, 5));
        for (name, value) in
            [("INLET_REFUSAL_CAP", "0"), ("INLET_REFUSAL_CAP", "100000"), ("INLET_REFUSAL_TTL_SECS", "0")]
        {
            assert_eq!(OperationsSettings::from_env(&env(&[(name, value)])).unwrap_err().name, name);
        }
    }
}
