//! Exactly-once handling: the idempotency record, its DynamoDB adapter and
//! an in-memory twin with the same semantics for unit tests.
//!
//! Modelled on AWS Lambda Powertools' idempotency record, with three
//! additions that keep the record honest:
//!
//! - **Owner token.** Every lock names the attempt that holds it (the
//!   invocation's request id and the SQS message's id and receive count).
//!   Completing and releasing are conditional on `status = IN_PROGRESS AND
//!   owner = :owner`, so an attempt whose lease ran out and was taken over
//!   can neither complete nor release the lock of the attempt that took over.
//! - **Lease from the deadline.** `in_progress_expiration` is the
//!   invocation's deadline, capped below the queue's visibility timeout
//!   ([`LeasePolicy`]): a live attempt is not taken over, a crashed one is
//!   taken over by the redelivery that follows it.
//! - **`sink_runs`.** The claim is one conditional UpdateItem that adds 1 to
//!   `sink_runs` whenever it acquires the lock, takeovers included, so the
//!   record shows how often the sinks were started for this event. A record
//!   whose dedup window is over is replaced by a fresh one (`sink_runs` = 1);
//!   only that case costs a second request.
//!
//! Requests per event: a new event costs two writes (claim, completion, which
//! also stores the Envelope for `inlet inbox`), a duplicate one (the failed
//! claim returns the old item: `ReturnValuesOnConditionCheckFailure =
//! ALL_OLD`), and there is no read-then-write race.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tracing::warn;

use crate::config::DedupWindows;
use crate::envelope::Envelope;

#[cfg(feature = "dynamodb")]
mod dynamodb;
#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoDbStore;

pub const STATUS_IN_PROGRESS: &str = "IN_PROGRESS";
pub const STATUS_COMPLETED: &str = "COMPLETED";

/// Envelopes larger than this are not copied into the record on completion:
/// a DynamoDB item holds at most 400 KB, and the inbox copy must never be the
/// reason an event cannot be completed.
pub const INBOX_ENVELOPE_MAX_BYTES: usize = 350 * 1024;

/// The processor's clock, in milliseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NowMs(pub i64);

impl NowMs {
    pub fn system() -> Self {
        NowMs(time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000)
    }
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

/// How long an attempt may hold an event's lock.
///
/// A Lambda invocation cannot outlive its deadline, so the lease ends there:
/// until then no other attempt takes the event over, after it a crashed
/// attempt's event is free. The lease never exceeds `max`, which
/// [`DedupSettings`](crate::config::DedupSettings) keeps below the queue's visibility timeout, so the
/// redelivery that follows a crash always finds the lease over (and a
/// processor whose timeout is too long is taken over rather than leaving its
/// events to go round until the dead-letter queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeasePolicy {
    max: Duration,
}

impl LeasePolicy {
    pub fn new(max: Duration) -> Self {
        LeasePolicy { max }
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// The `in_progress_expiration` of a lock taken at `now` by an invocation
    /// that ends at `deadline` (None when the runtime gave none).
    pub fn until(&self, now: NowMs, deadline: Option<NowMs>) -> NowMs {
        let cap = now.0.saturating_add(i64::try_from(self.max.as_millis()).unwrap_or(i64::MAX));
        match deadline {
            Some(deadline) => NowMs(deadline.0.max(now.0).min(cap)),
            None => NowMs(cap),
        }
    }

    /// True when the invocation would outlive its lease: the function's
    /// timeout is not below the queue's visibility timeout.
    pub fn cuts_short(&self, now: NowMs, deadline: Option<NowMs>) -> bool {
        deadline.is_some_and(|deadline| deadline > self.until(now, Some(deadline)))
    }
}

/// One attempt's hold on an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Unique per attempt; see [`Lease::owner_token`].
    pub owner: String,
    /// Written as `in_progress_expiration`: after it, another attempt may
    /// take the event over.
    pub until: NowMs,
}

impl Lease {
    /// The Lambda request id alone repeats nothing, but the local stack or a
    /// test may pass none; the message id and its receive count tell two
    /// receives of the same message apart in any case.
    pub fn owner_token(request_id: &str, message_id: &str, receive_count: Option<&str>) -> String {
        format!("{request_id}/{message_id}/{}", receive_count.unwrap_or("-"))
    }
}

/// The result of trying to take an event's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This attempt owns the event: run the sinks.
    Acquired,
    /// Already handled inside the dedup window: acknowledge and skip.
    /// `same_payload` is false when the same id came with another payload.
    Completed { same_payload: bool },
    /// Another attempt holds a live lease: retry later.
    InProgress,
}

/// Whether a conditional write on a lock found the attempt still its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// The write happened.
    Held,
    /// Another attempt took the event over (or it is no longer in progress):
    /// nothing was written.
    Lost,
}

#[derive(Debug, thiserror::Error)]
#[error("dedup store: {0}")]
pub struct StoreError(pub String);

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Takes the event's lock for `lease.owner` until `lease.until`.
    async fn claim(&self, envelope: &Envelope, lease: &Lease, now: NowMs) -> Result<Claim, StoreError>;
    /// Marks the event completed (and keeps the Envelope for the inbox),
    /// only if `owner` still holds the lock.
    async fn complete(&self, envelope: &Envelope, owner: &str, now: NowMs) -> Result<Ownership, StoreError>;
    /// Ends the lease at once after a failure, so a redelivery can take the
    /// event over without waiting, only if `owner` still holds the lock. The
    /// record (and its `sink_runs`) stays.
    async fn release(&self, id: &str, owner: &str) -> Result<Ownership, StoreError>;
}

/// One row of the table as the inbox shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InboxEntry {
    pub id: String,
    pub status: String,
    pub provider: Option<String>,
    pub kind: Option<String>,
    pub received_at: Option<String>,
    pub completed_at: Option<i64>,
    /// Epoch seconds: end of the dedup window.
    pub expiration: Option<i64>,
    /// How many attempts acquired the lock and so started the sinks: 1 for an
    /// event processed once; more means a crash, a lost lease or a sink
    /// failure made the sinks run again.
    pub sink_runs: Option<i64>,
    pub envelope: Option<serde_json::Value>,
}

/// `in_progress_expiration` of a released lock: any later attempt may take it.
const RELEASED: i64 = 0;

/// What a record that refused the lock means for this attempt.
fn classify(status: &str, stored_payload_hash: Option<&str>, payload_hash: &str) -> Claim {
    if status == STATUS_COMPLETED {
        Claim::Completed { same_payload: stored_payload_hash == Some(payload_hash) }
    } else {
        Claim::InProgress
    }
}

/// The Envelope as the inbox keeps it, or None when it would not fit the item.
fn inbox_copy(envelope: &Envelope) -> Option<String> {
    let json = serde_json::to_string(envelope).ok()?;
    if json.len() > INBOX_ENVELOPE_MAX_BYTES {
        warn!(id = %envelope.id, bytes = json.len(), "Envelope too large for the inbox copy; completing without it");
        return None;
    }
    Some(json)
}

/// In-memory store with the DynamoDB adapter's semantics, for unit tests:
/// the same conditions, attributes and counters, in the same order.
pub struct MemoryStore {
    records: Mutex<HashMap<String, MemoryRecord>>,
    windows: DedupWindows,
}

#[derive(Clone, Debug)]
struct MemoryRecord {
    status: &'static str,
    expiration: i64,
    in_progress_expiration: i64,
    owner: Option<String>,
    payload_hash: String,
    provider: String,
    kind: String,
    received_at: String,
    sink_runs: i64,
    completed_at: Option<i64>,
    envelope: Option<String>,
}

impl MemoryStore {
    pub fn new(windows: DedupWindows) -> Self {
        MemoryStore { records: Mutex::new(HashMap::new()), windows }
    }

    /// Every provider with the same window, for tests that need only one.
    pub fn with_window(window: Duration) -> Self {
        Self::new(DedupWindows::uniform(window))
    }

    pub fn status_of(&self, id: &str) -> Option<&'static str> {
        self.records.lock().ok()?.get(id).map(|r| r.status)
    }

    /// The record as `DynamoDbStore::list` would show it.
    pub fn entry(&self, id: &str) -> Option<InboxEntry> {
        let records = self.records.lock().ok()?;
        let record = records.get(id)?;
        Some(InboxEntry {
            id: id.to_string(),
            status: record.status.to_string(),
            provider: Some(record.provider.clone()),
            kind: Some(record.kind.clone()),
            received_at: Some(record.received_at.clone()),
            completed_at: record.completed_at,
            expiration: Some(record.expiration),
            sink_runs: Some(record.sink_runs),
            envelope: record.envelope.as_deref().and_then(|text| serde_json::from_str(text).ok()),
        })
    }

    /// The lease currently written on the record: (owner, in_progress_expiration).
    pub fn lease_of(&self, id: &str) -> Option<(Option<String>, NowMs)> {
        let records = self.records.lock().ok()?;
        records.get(id).map(|r| (r.owner.clone(), NowMs(r.in_progress_expiration)))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, MemoryRecord>>, StoreError> {
        self.records.lock().map_err(|_| StoreError("memory store poisoned".into()))
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim(&self, envelope: &Envelope, lease: &Lease, now: NowMs) -> Result<Claim, StoreError> {
        let payload_hash = envelope.payload_hash();
        let expiration = now.secs().saturating_add(self.windows.for_provider(&envelope.provider).as_secs() as i64);
        let mut records = self.lock()?;
        let sink_runs = match records.get(&envelope.id) {
            None => 1,
            // The takeover UpdateItem's condition.
            Some(old)
                if old.status == STATUS_IN_PROGRESS
                    && old.in_progress_expiration < now.0
                    && old.expiration >= now.secs() =>
            {
                old.sink_runs + 1
            }
            // The fresh PutItem's condition.
            Some(old) if old.expiration < now.secs() => 1,
            Some(old) => return Ok(classify(old.status, Some(&old.payload_hash), &payload_hash)),
        };
        records.insert(
            envelope.id.clone(),
            MemoryRecord {
                status: STATUS_IN_PROGRESS,
                expiration,
                in_progress_expiration: lease.until.0,
                owner: Some(lease.owner.clone()),
                payload_hash,
                provider: envelope.provider.clone(),
                kind: envelope.kind.clone(),
                received_at: envelope.received_at.clone(),
                sink_runs,
                completed_at: None,
                envelope: None,
            },
        );
        Ok(Claim::Acquired)
    }

    async fn complete(&self, envelope: &Envelope, owner: &str, now: NowMs) -> Result<Ownership, StoreError> {
        let mut records = self.lock()?;
        match records.get_mut(&envelope.id) {
            Some(record) if record.status == STATUS_IN_PROGRESS && record.owner.as_deref() == Some(owner) => {
                record.status = STATUS_COMPLETED;
                record.completed_at = Some(now.0);
                if let Some(json) = inbox_copy(envelope) {
                    record.envelope = Some(json);
                }
                Ok(Ownership::Held)
            }
            _ => Ok(Ownership::Lost),
        }
    }

    async fn release(&self, id: &str, owner: &str) -> Result<Ownership, StoreError> {
        let mut records = self.lock()?;
        match records.get_mut(id) {
            Some(record) if record.status == STATUS_IN_PROGRESS && record.owner.as_deref() == Some(owner) => {
                record.in_progress_expiration = RELEASED;
                record.owner = None;
                Ok(Ownership::Held)
            }
            _ => Ok(Ownership::Lost),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Verification;
    use serde_json::json;

    fn envelope_of(provider: &str, payload: serde_json::Value) -> Envelope {
        Envelope::new(
            provider,
            "1",
            "k",
            time::OffsetDateTime::UNIX_EPOCH,
            Verification { scheme: "none".into(), matched: None },
            payload,
        )
    }

    fn envelope(payload: serde_json::Value) -> Envelope {
        envelope_of("t", payload)
    }

    fn lease(owner: &str, until: i64) -> Lease {
        Lease { owner: owner.into(), until: NowMs(until) }
    }

    const WINDOW: Duration = Duration::from_secs(100);

    #[tokio::test]
    async fn memory_store_follows_the_lock_rules() {
        let store = MemoryStore::with_window(WINDOW);
        let event = envelope(json!({"a": 1}));
        let t0 = 1_000_000;
        assert_eq!(store.claim(&event, &lease("a", t0 + 1000), NowMs(t0)).await.unwrap(), Claim::Acquired);
        assert_eq!(
            store.claim(&event, &lease("b", t0 + 1500), NowMs(t0 + 500)).await.unwrap(),
            Claim::InProgress,
            "live lease"
        );
        assert_eq!(
            store.claim(&event, &lease("c", t0 + 2001), NowMs(t0 + 1001)).await.unwrap(),
            Claim::Acquired,
            "lease over"
        );
        assert_eq!(store.complete(&event, "c", NowMs(t0 + 1002)).await.unwrap(), Ownership::Held);
        let later = NowMs(t0 + 5000);
        assert_eq!(
            store.claim(&event, &lease("d", later.0 + 1000), later).await.unwrap(),
            Claim::Completed { same_payload: true }
        );
        assert_eq!(
            store.claim(&envelope(json!({"a": 2})), &lease("e", later.0 + 1000), later).await.unwrap(),
            Claim::Completed { same_payload: false }
        );
        let after_window = NowMs(t0 + 1001 + 101_000);
        assert_eq!(
            store.claim(&event, &lease("f", after_window.0 + 1000), after_window).await.unwrap(),
            Claim::Acquired
        );
    }

    #[tokio::test]
    async fn late_attempt_cannot_complete_or_release_after_a_takeover() {
        let store = MemoryStore::with_window(WINDOW);
        let event = envelope(json!({}));
        store.claim(&event, &lease("late", 1000), NowMs(0)).await.unwrap();
        assert_eq!(store.claim(&event, &lease("new", 3000), NowMs(1001)).await.unwrap(), Claim::Acquired);
        assert_eq!(store.release(&event.id, "late").await.unwrap(), Ownership::Lost);
        assert_eq!(store.lease_of(&event.id), Some((Some("new".into()), NowMs(3000))), "the new lease is intact");
        assert_eq!(store.complete(&event, "late", NowMs(1500)).await.unwrap(), Ownership::Lost);
        assert_eq!(store.status_of(&event.id), Some(STATUS_IN_PROGRESS), "the late attempt completed nothing");
        assert_eq!(store.complete(&event, "new", NowMs(1600)).await.unwrap(), Ownership::Held);
        assert_eq!(store.status_of(&event.id), Some(STATUS_COMPLETED));
        assert_eq!(store.release(&event.id, "new").await.unwrap(), Ownership::Lost, "a completed record stays");
    }

    #[tokio::test]
    async fn release_ends_the_lease_but_keeps_the_record_and_its_count() {
        let store = MemoryStore::with_window(WINDOW);
        let event = envelope(json!({}));
        store.claim(&event, &lease("a", 60_000), NowMs(0)).await.unwrap();
        assert_eq!(store.release(&event.id, "a").await.unwrap(), Ownership::Held);
        assert_eq!(store.lease_of(&event.id), Some((None, NowMs(RELEASED))));
        assert_eq!(store.complete(&event, "a", NowMs(2)).await.unwrap(), Ownership::Lost, "released is released");
        assert_eq!(store.claim(&event, &lease("b", 60_001), NowMs(1)).await.unwrap(), Claim::Acquired, "at once");
        assert_eq!(store.entry(&event.id).unwrap().sink_runs, Some(2));
    }

    #[tokio::test]
    async fn sink_runs_counts_takeovers_and_restarts_with_a_new_window() {
        let store = MemoryStore::with_window(WINDOW);
        let event = envelope(json!({}));
        store.claim(&event, &lease("a", 1000), NowMs(0)).await.unwrap();
        assert_eq!(store.entry(&event.id).unwrap().sink_runs, Some(1));
        // "a" crashed; "b" takes over after the lease.
        store.claim(&event, &lease("b", 3000), NowMs(1001)).await.unwrap();
        store.complete(&event, "b", NowMs(1002)).await.unwrap();
        let entry = store.entry(&event.id).unwrap();
        assert_eq!((entry.status.as_str(), entry.sink_runs), (STATUS_COMPLETED, Some(2)));
        assert_eq!(entry.envelope.unwrap()["id"], "t:1", "completion keeps the Envelope for the inbox");
        // A duplicate changes nothing.
        store.claim(&event, &lease("c", 5000), NowMs(2000)).await.unwrap();
        assert_eq!(store.entry(&event.id).unwrap().sink_runs, Some(2));
        // After the window, the same id is a new event with a fresh record.
        let later = NowMs(1001 + 100_000 + 1000);
        assert_eq!(store.claim(&event, &lease("d", later.0 + 1000), later).await.unwrap(), Claim::Acquired);
        let fresh = store.entry(&event.id).unwrap();
        assert_eq!((fresh.sink_runs, fresh.completed_at, fresh.envelope), (Some(1), None, None));
    }

    #[tokio::test]
    async fn each_provider_keeps_its_own_window() {
        let windows = DedupWindows::uniform(Duration::from_secs(10_000))
            .with("short", Duration::from_secs(600))
            .with("long", Duration::from_secs(7200));
        let store = MemoryStore::new(windows);
        let short = envelope_of("short", json!({}));
        let long = envelope_of("long", json!({}));
        for event in [&short, &long] {
            store.claim(event, &lease("a", 1000), NowMs(0)).await.unwrap();
            store.complete(event, "a", NowMs(10)).await.unwrap();
        }
        assert_eq!(store.entry("short:1").unwrap().expiration, Some(600));
        assert_eq!(store.entry("long:1").unwrap().expiration, Some(7200));
        let after_short = NowMs(601_000);
        assert_eq!(store.claim(&short, &lease("b", 602_000), after_short).await.unwrap(), Claim::Acquired);
        assert_eq!(
            store.claim(&long, &lease("b", 602_000), after_short).await.unwrap(),
            Claim::Completed { same_payload: true }
        );
    }

    #[test]
    fn lease_follows_the_deadline_and_never_passes_its_cap() {
        let policy = LeasePolicy::new(Duration::from_secs(9));
        let now = NowMs(100_000);
        assert_eq!(policy.until(now, Some(NowMs(104_000))), NowMs(104_000), "the deadline, when it comes first");
        assert_eq!(policy.until(now, Some(NowMs(500_000))), NowMs(109_000), "capped");
        assert_eq!(policy.until(now, None), NowMs(109_000), "no deadline: the cap");
        assert_eq!(policy.until(now, Some(NowMs(90_000))), now, "a deadline already past frees the lock at once");
        assert!(policy.cuts_short(now, Some(NowMs(500_000))));
        assert!(!policy.cuts_short(now, Some(NowMs(104_000))));
        assert!(!policy.cuts_short(now, None));
    }

    #[test]
    fn owner_tokens_differ_per_attempt() {
        let first = Lease::owner_token("req-1", "msg-1", Some("1"));
        assert_ne!(first, Lease::owner_token("req-2", "msg-1", Some("2")));
        assert_ne!(first, Lease::owner_token("req-1", "msg-2", Some("1")));
        assert_ne!(Lease::owner_token("", "msg-1", Some("1")), Lease::owner_token("", "msg-1", Some("2")));
    }

    #[test]
    fn oversized_envelopes_are_not_copied_into_the_record() {
        assert!(inbox_copy(&envelope(json!({"small": true}))).is_some());
        assert!(inbox_copy(&envelope(json!({"blob": "x".repeat(INBOX_ENVELOPE_MAX_BYTES)}))).is_none());
    }
}
