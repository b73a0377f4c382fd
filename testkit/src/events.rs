//! Envelopes and operator records for the tests of what comes after a
//! receiver (the queue, the processor, the destinations): an event, but no
//! platform.

use inlet_shared::envelope::{Envelope, Verification};
use inlet_shared::operations::RefusalRecord;
use serde_json::json;
use time::OffsetDateTime;

/// `provider`'s event `id` as a receiver queues it, received now: kind
/// `test.kind`, no verification scheme, the payload `{"id": id}`.
pub fn envelope(provider: &str, id: &str) -> Envelope {
    envelope_at(provider, id, OffsetDateTime::now_utc())
}

/// [`envelope`], received at `received` (the epoch, for a test that counts
/// an event's age from it).
pub fn envelope_at(provider: &str, id: &str, received: OffsetDateTime) -> Envelope {
    let verification = Verification { scheme: "none".into(), matched: None };
    Envelope::new(provider, id, "test.kind", received, verification, json!({"id": id}))
}

/// A receiver's record of a request it refused at `at_ms` (a bad signature
/// on `/lark/event`), as it sends it to the processor.
pub fn refusal(provider: &str, at_ms: i64) -> RefusalRecord {
    RefusalRecord {
        provider: provider.into(),
        route: "/lark/event".into(),
        status: 401,
        class: "bad_credential".into(),
        reason: "signature does not match".into(),
        skew_secs: Some(-2),
        body_len: 42,
        body_sha256: "cd".repeat(32),
        source_ip: Some("192.0.2.7".into()),
        at_ms,
    }
}
