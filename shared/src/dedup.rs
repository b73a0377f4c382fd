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
//!
//! **Per-destination progress.** With destinations (`crate::delivery`), the
//! record also holds what happened at each one ([`Progress`], attribute
//! `deliveries`). It rides on the writes the event makes anyway: the
//! takeover returns the old record (`ReturnValues = ALL_OLD`), so a retry
//! knows which destinations are done; the completion, or the release after a
//! failure, writes the new progress. Every destination succeeding at once
//! still costs the same two writes.
//!
//! The same table keeps what the operator CLI shows next to the events
//! ([`OperationsStore`]): refusal records in a capped ring per provider,
//! the last failure of each queue message, and a count of replays on the
//! replayed event's record. Each is one write, under keys an event id never
//! takes ([`crate::operations`]).

use std::collections::BTreeMap;
#[cfg(any(test, feature = "testkit"))]
use std::collections::HashMap;
#[cfg(any(test, feature = "testkit"))]
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::{EnvSource, number, optional, required};
use crate::envelope::Envelope;
use crate::error::ConfigError;
use crate::operations::{FAILURE_KEY_PREFIX, REFUSAL_KEY_PREFIX, RefusalRecord};
#[cfg(any(test, feature = "testkit"))]
use crate::operations::{failure_key, refusal_key};
use crate::verify::TimestampWindow;

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
/// [`DedupSettings`](crate::dedup::DedupSettings) keeps below the queue's visibility timeout, so the
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

/// What happened at each destination of one event, by destination name,
/// as its dedup record keeps it (`deliveries`). Empty without destinations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Progress(pub BTreeMap<String, DestinationState>);

/// One destination's state for one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationState {
    pub state: DeliveryState,
    /// Deliveries tried, this one included.
    pub attempts: u32,
    /// Why the last attempt failed (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last attempt ended, ms since the epoch.
    pub at_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// The destination took the event: never sent again (but by a replay).
    Delivered,
    /// The last attempt failed and a retry may succeed: owed.
    Failed,
    /// The destination refused the event for good: not retried.
    Permanent,
}

impl Progress {
    /// Longest `last_error` kept: the record must stay small.
    const MAX_ERROR_CHARS: usize = 300;

    /// True when nothing more is owed to `destination`: delivered, or
    /// refused for good.
    pub fn is_settled(&self, destination: &str) -> bool {
        self.0.get(destination).is_some_and(|d| d.state != DeliveryState::Failed)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Notes one attempt at `destination`: `Ok` delivered, `Err((permanent,
    /// reason))` failed.
    pub fn note(&mut self, destination: &str, result: Result<(), (bool, &str)>, now: NowMs) {
        let attempts = self.0.get(destination).map_or(0, |d| d.attempts).saturating_add(1);
        let (state, last_error) = match result {
            Ok(()) => (DeliveryState::Delivered, None),
            Err((permanent, reason)) => (
                if permanent { DeliveryState::Permanent } else { DeliveryState::Failed },
                Some(reason.chars().take(Self::MAX_ERROR_CHARS).collect()),
            ),
        };
        self.0.insert(destination.to_string(), DestinationState { state, attempts, last_error, at_ms: now.0 });
    }

    /// The JSON the record keeps, or None when there is nothing to keep.
    #[cfg(any(test, feature = "testkit", feature = "dynamodb"))]
    pub(crate) fn stored(&self) -> Option<String> {
        if self.is_empty() { None } else { serde_json::to_string(self).ok() }
    }

    /// Reads the record's attribute; an unreadable one counts as no progress
    /// (every destination is then owed again: a repeat, never a loss).
    #[cfg(any(test, feature = "testkit", feature = "dynamodb"))]
    pub(crate) fn from_stored(text: Option<&str>) -> Progress {
        text.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
    }
}

/// The result of trying to take an event's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This attempt owns the event: run the sinks, and deliver what the
    /// progress does not show settled.
    Acquired(Progress),
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

/// An event's completion, as [`IdempotencyStore::complete`] writes it: the
/// event (its record keeps it for the inbox), the lock's owner token
/// (nothing is written unless it still holds the lock), the destinations'
/// progress, and when.
pub struct Completion<'a> {
    envelope: &'a Envelope,
    owner: &'a str,
    progress: &'a Progress,
    now: NowMs,
}

impl<'a> Completion<'a> {
    /// `envelope` completed by `owner` at `now`, no destination owed.
    pub fn new(envelope: &'a Envelope, owner: &'a str, now: NowMs) -> Self {
        static NOTHING_OWED: Progress = Progress(BTreeMap::new());
        Completion { envelope, owner, progress: &NOTHING_OWED, now }
    }

    /// With the destinations' progress to keep in the record.
    pub fn with_progress(self, progress: &'a Progress) -> Self {
        Completion { progress, ..self }
    }

    pub fn envelope(&self) -> &'a Envelope {
        self.envelope
    }

    /// What a store writes: the event, the owner, the progress and when.
    pub fn parts(&self) -> (&'a Envelope, &'a str, &'a Progress, NowMs) {
        (self.envelope, self.owner, self.progress, self.now)
    }
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Takes the event's lock for `lease.owner` until `lease.until`.
    async fn claim(&self, envelope: &Envelope, lease: &Lease, now: NowMs) -> Result<Claim, StoreError>;
    /// Marks the event completed (and keeps the Envelope for the inbox, and
    /// the destinations' progress), only if `completion.owner` still holds
    /// the lock.
    async fn complete(&self, completion: Completion<'_>) -> Result<Ownership, StoreError>;
    /// Ends the lease at once after a failure, so a redelivery can take the
    /// event over without waiting, only if `owner` still holds the lock. The
    /// record (and its `sink_runs`) stays, with the destinations' progress.
    async fn release(&self, id: &str, owner: &str, progress: &Progress) -> Result<Ownership, StoreError>;
}

/// Why the processor last left one queue message for redelivery, as
/// `inlet dlq` shows it next to the message (the SQS message id survives the
/// move to the dead-letter queue).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub message_id: String,
    pub reason: String,
    /// The Envelope's id and provider, when the body was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// SQS's ApproximateReceiveCount of the failed receive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_count: Option<u32>,
    /// When the processor gave up on this receive, ms since the epoch.
    pub at_ms: i64,
}

/// The records the processor keeps for the operator, next to the events.
/// Each call is one write; none of them decides an event's fate, so the
/// processor logs their failures and carries on.
#[async_trait]
pub trait OperationsStore: Send + Sync {
    /// Writes `record` into its provider's ring slot
    /// ([`refusal_key`]`(provider, at_ms, cap)`), replacing an older record
    /// there (never a newer one: the queue keeps no order), until
    /// `expiration` (epoch seconds, the table's TTL attribute).
    async fn record_refusal(&self, record: &RefusalRecord, cap: u32, expiration: i64) -> Result<(), StoreError>;
    /// Writes the latest failure of one queue message until `expiration`.
    async fn record_failure(&self, failure: &FailureRecord, expiration: i64) -> Result<(), StoreError>;
    /// Counts a completed replay on the replayed event's record: `replays`
    /// + 1, `last_replay_at` and `last_replay_id`. False, with nothing
    /// written, when that record no longer exists (its window ended).
    async fn count_replay(&self, event_id: &str, replay_id: &str, now: NowMs) -> Result<bool, StoreError>;
}

/// Everything the processor needs of its table.
pub trait ProcessorStore: IdempotencyStore + OperationsStore {}
impl<T: IdempotencyStore + OperationsStore + ?Sized> ProcessorStore for T {}

/// True for keys of operations records, which the inbox does not list.
pub fn is_operations_key(id: &str) -> bool {
    id.starts_with(REFUSAL_KEY_PREFIX) || id.starts_with(FAILURE_KEY_PREFIX)
}

/// Newest first, then by provider, so listings are stable.
pub fn sort_refusals(records: &mut [RefusalRecord]) {
    records.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then_with(|| a.provider.cmp(&b.provider)));
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
    /// How many replays (`inlet replay`) ran the sinks again, and the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replays: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_replay_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_replay_id: Option<String>,
    pub envelope: Option<serde_json::Value>,
    /// Each destination's state (`inlet deliveries`); empty without destinations.
    #[serde(default, skip_serializing_if = "Progress::is_empty")]
    pub deliveries: Progress,
}

/// `in_progress_expiration` of a released lock: any later attempt may take it.
#[cfg(any(test, feature = "testkit", feature = "dynamodb"))]
pub(crate) const RELEASED: i64 = 0;

/// What a record that refused the lock means for this attempt.
#[cfg(any(test, feature = "testkit", feature = "dynamodb"))]
pub(crate) fn classify(status: &str, stored_payload_hash: Option<&str>, payload_hash: &str) -> Claim {
    if status == STATUS_COMPLETED {
        Claim::Completed { same_payload: stored_payload_hash == Some(payload_hash) }
    } else {
        Claim::InProgress
    }
}

/// The Envelope as the inbox keeps it, or None when it would not fit the item.
#[cfg(any(test, feature = "testkit", feature = "dynamodb"))]
pub(crate) fn inbox_copy(envelope: &Envelope) -> Option<String> {
    let json = serde_json::to_string(envelope).ok()?;
    if json.len() > INBOX_ENVELOPE_MAX_BYTES {
        tracing::warn!(id = %envelope.id, bytes = json.len(), "Envelope too large for the inbox copy; completing without it");
        return None;
    }
    Some(json)
}

/// In-memory store with the DynamoDB adapter's semantics, for unit tests:
/// the same conditions, attributes and counters, in the same order.
#[cfg(any(test, feature = "testkit"))]
pub struct MemoryStore {
    records: Mutex<HashMap<String, MemoryRecord>>,
    /// Refusal and failure records, by key, with their expiration.
    operations: Mutex<HashMap<String, (OperationsItem, i64)>>,
    windows: DedupWindows,
}

#[derive(Clone, Debug)]
#[cfg(any(test, feature = "testkit"))]
enum OperationsItem {
    Refusal(RefusalRecord),
    Failure(FailureRecord),
}

#[derive(Clone, Debug)]
#[cfg(any(test, feature = "testkit"))]
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
    replays: Option<i64>,
    last_replay: Option<(i64, String)>,
    /// As stored: JSON, like the adapter's attribute.
    deliveries: Option<String>,
}

#[cfg(any(test, feature = "testkit"))]
impl MemoryStore {
    pub fn new(windows: DedupWindows) -> Self {
        MemoryStore { records: Mutex::new(HashMap::new()), operations: Mutex::new(HashMap::new()), windows }
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
            replays: record.replays,
            last_replay_at: record.last_replay.as_ref().map(|(at, _)| *at),
            last_replay_id: record.last_replay.as_ref().map(|(_, id)| id.clone()),
            envelope: record.envelope.as_deref().and_then(|text| serde_json::from_str(text).ok()),
            deliveries: Progress::from_stored(record.deliveries.as_deref()),
        })
    }

    /// A provider's unexpired refusal records at `now`, newest first, as
    /// `DynamoDbStore::refusals` reads them.
    pub fn refusals(&self, provider: &str, now: NowMs) -> Vec<RefusalRecord> {
        let Ok(operations) = self.operations.lock() else { return Vec::new() };
        let mut records: Vec<RefusalRecord> = operations
            .values()
            .filter_map(|(item, expiration)| match item {
                OperationsItem::Refusal(record) if record.provider == provider && *expiration >= now.secs() => {
                    Some(record.clone())
                }
                _ => None,
            })
            .collect();
        sort_refusals(&mut records);
        records
    }

    /// How many keys of `prefix` the store holds, expired or not: what a
    /// flood could grow.
    pub fn keys_with_prefix(&self, prefix: &str) -> usize {
        self.operations.lock().map(|o| o.keys().filter(|k| k.starts_with(prefix)).count()).unwrap_or_default()
    }

    /// The failure record of one queue message, with its expiration.
    pub fn failure(&self, message_id: &str) -> Option<(FailureRecord, i64)> {
        match self.operations.lock().ok()?.get(&failure_key(message_id))? {
            (OperationsItem::Failure(record), expiration) => Some((record.clone(), *expiration)),
            _ => None,
        }
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

#[cfg(any(test, feature = "testkit"))]
#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim(&self, envelope: &Envelope, lease: &Lease, now: NowMs) -> Result<Claim, StoreError> {
        let payload_hash = envelope.payload_hash();
        let expiration = now.secs().saturating_add(self.windows.for_provider(&envelope.provider).as_secs() as i64);
        let mut records = self.lock()?;
        // The takeover UpdateItem keeps attributes it does not set (the
        // replay count); the fresh PutItem replaces the whole item.
        let (sink_runs, replays, last_replay, deliveries) = match records.get(&envelope.id) {
            None => (1, None, None, None),
            // The takeover UpdateItem's condition.
            Some(old)
                if old.status == STATUS_IN_PROGRESS
                    && old.in_progress_expiration < now.0
                    && old.expiration >= now.secs() =>
            {
                (old.sink_runs + 1, old.replays, old.last_replay.clone(), old.deliveries.clone())
            }
            // The fresh PutItem's condition.
            Some(old) if old.expiration < now.secs() => (1, None, None, None),
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
                replays,
                last_replay,
                deliveries: deliveries.clone(),
            },
        );
        Ok(Claim::Acquired(Progress::from_stored(deliveries.as_deref())))
    }

    async fn complete(&self, completion: Completion<'_>) -> Result<Ownership, StoreError> {
        let (envelope, owner, progress, now) = completion.parts();
        let mut records = self.lock()?;
        match records.get_mut(&envelope.id) {
            Some(record) if record.status == STATUS_IN_PROGRESS && record.owner.as_deref() == Some(owner) => {
                record.status = STATUS_COMPLETED;
                record.completed_at = Some(now.0);
                if let Some(json) = inbox_copy(envelope) {
                    record.envelope = Some(json);
                }
                if let Some(json) = progress.stored() {
                    record.deliveries = Some(json);
                }
                Ok(Ownership::Held)
            }
            _ => Ok(Ownership::Lost),
        }
    }

    async fn release(&self, id: &str, owner: &str, progress: &Progress) -> Result<Ownership, StoreError> {
        let mut records = self.lock()?;
        match records.get_mut(id) {
            Some(record) if record.status == STATUS_IN_PROGRESS && record.owner.as_deref() == Some(owner) => {
                record.in_progress_expiration = RELEASED;
                record.owner = None;
                if let Some(json) = progress.stored() {
                    record.deliveries = Some(json);
                }
                Ok(Ownership::Held)
            }
            _ => Ok(Ownership::Lost),
        }
    }
}

#[cfg(any(test, feature = "testkit"))]
#[async_trait]
impl OperationsStore for MemoryStore {
    async fn record_refusal(&self, record: &RefusalRecord, cap: u32, expiration: i64) -> Result<(), StoreError> {
        let key = refusal_key(&record.provider, record.at_ms, cap);
        let mut operations = self.operations.lock().map_err(|_| StoreError("memory store poisoned".into()))?;
        // The adapter's condition: an older refusal never overwrites a newer one.
        if let Some((OperationsItem::Refusal(newer), _)) = operations.get(&key)
            && newer.at_ms >= record.at_ms
        {
            return Ok(());
        }
        operations.insert(key, (OperationsItem::Refusal(record.clone()), expiration));
        Ok(())
    }

    async fn record_failure(&self, failure: &FailureRecord, expiration: i64) -> Result<(), StoreError> {
        let key = failure_key(&failure.message_id);
        let mut operations = self.operations.lock().map_err(|_| StoreError("memory store poisoned".into()))?;
        operations.insert(key, (OperationsItem::Failure(failure.clone()), expiration));
        Ok(())
    }

    async fn count_replay(&self, event_id: &str, replay_id: &str, now: NowMs) -> Result<bool, StoreError> {
        let mut records = self.lock()?;
        let Some(record) = records.get_mut(event_id) else { return Ok(false) };
        record.replays = Some(record.replays.unwrap_or_default() + 1);
        record.last_replay = Some((now.0, replay_id.to_string()));
        Ok(true)
    }
}

/// Default dedup windows, one per platform: each declares its retry horizon
/// and window beside its code (`functions/<name>/platform.toml`), and `inlet gen` writes
/// the table into shared/src/platform.rs, which the processor reads without
/// depending on the platforms' crates.
pub use crate::platform::{DEDUP_WINDOWS, DedupWindowDefault};

/// How long a completed id is remembered, per `Envelope.provider`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DedupWindows {
    by_provider: std::collections::BTreeMap<String, Duration>,
    other: Duration,
}

impl DedupWindows {
    /// The same window for every provider.
    pub fn uniform(window: Duration) -> Self {
        DedupWindows { by_provider: Default::default(), other: window }
    }

    pub fn with(mut self, provider: &str, window: Duration) -> Self {
        self.by_provider.insert(provider.to_string(), window);
        self
    }

    pub fn for_provider(&self, provider: &str) -> Duration {
        self.by_provider.get(provider).copied().unwrap_or(self.other)
    }

    /// The setting that overrides `provider`'s window (`ALERT_API_DEDUP_WINDOW_SECS`).
    pub fn setting_for(provider: &str) -> String {
        format!("{}_DEDUP_WINDOW_SECS", provider.to_ascii_uppercase().replace('-', "_"))
    }
}

/// The dedup table, its windows and the processor's lease.
#[derive(Clone, Debug)]
pub struct DedupSettings {
    pub table_name: String,
    pub windows: DedupWindows,
    /// Leases end before the queue redelivers a message (see [`LeasePolicy`]).
    pub lease: LeasePolicy,
}

impl DedupSettings {
    /// Window of providers missing from [`DEDUP_WINDOWS`]: as long as the
    /// longest there, since their retries are unknown.
    pub const DEFAULT_WINDOW_SECS: u64 = 7 * 24 * 3600;
    /// SQS's own limit on the visibility timeout.
    pub const MAX_VISIBILITY_SECS: u64 = 12 * 3600;

    /// What must pass between the end of a lease and the earliest redelivery:
    /// SQS's visibility clock starts when it hands the message out, a little
    /// before the claim. A tenth of the visibility timeout, at least 1 s.
    pub fn lease_margin(visibility: Duration) -> Duration {
        (visibility / 10).max(Duration::from_secs(1))
    }

    /// Reads and checks the processor's settings. Refuses to start when a
    /// lease could outlast the visibility timeout or a dedup window is shorter
    /// than the span in which a signed request is accepted (twice
    /// `INLET_TIMESTAMP_TOLERANCE_SECS`): a replay must always be a duplicate.
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let table_name = required(env, "INLET_TABLE_NAME")?;
        let tolerance = number(env, "INLET_TIMESTAMP_TOLERANCE_SECS", TimestampWindow::DEFAULT_SECS)?;
        let replay_span = tolerance.saturating_mul(2);

        const VISIBILITY: &str = "INLET_QUEUE_VISIBILITY_SECS";
        let visibility = required(env, VISIBILITY)?
            .parse::<u64>()
            .map_err(|_| ConfigError::new(VISIBILITY, "is not a whole number of seconds"))?;
        if !(2..=Self::MAX_VISIBILITY_SECS).contains(&visibility) {
            return Err(ConfigError::new(VISIBILITY, format!("must be 2 to {} seconds", Self::MAX_VISIBILITY_SECS)));
        }
        let visibility = Duration::from_secs(visibility);
        let longest_lease = visibility - Self::lease_margin(visibility);
        let lease = match optional(env, "INLET_LEASE_SECS") {
            None => longest_lease,
            Some(_) => {
                let cap = Duration::from_secs(number(env, "INLET_LEASE_SECS", 0u64)?);
                if cap.is_zero() || cap > longest_lease {
                    return Err(ConfigError::new(
                        "INLET_LEASE_SECS",
                        format!(
                            "must be 1 to {} s: a lease must end before the queue's visibility timeout \
                             ({VISIBILITY} = {} s) redelivers the message",
                            longest_lease.as_secs(),
                            visibility.as_secs()
                        ),
                    ));
                }
                cap
            }
        };

        // Table defaults rise to the replay span by themselves; a window set
        // explicitly below it is refused rather than silently changed.
        let explicit = |name: &str| -> Result<Option<Duration>, ConfigError> {
            let Some(raw) = optional(env, name) else { return Ok(None) };
            let secs: u64 =
                raw.parse().map_err(|_| ConfigError::new(name, format!("{raw:?} is not a whole number of seconds")))?;
            if secs == 0 || secs < replay_span {
                return Err(ConfigError::new(
                    name,
                    format!(
                        "{secs} s is shorter than twice INLET_TIMESTAMP_TOLERANCE_SECS ({replay_span} s): \
                         a replayed request would be processed as a second event"
                    ),
                ));
            }
            Ok(Some(Duration::from_secs(secs)))
        };
        let global = explicit("INLET_DEDUP_WINDOW_SECS")?;
        let at_least_replay_span = |secs: u64| Duration::from_secs(secs.max(replay_span));
        let mut windows = DedupWindows::uniform(global.unwrap_or(at_least_replay_span(Self::DEFAULT_WINDOW_SECS)));
        for row in DEDUP_WINDOWS {
            let window = match explicit(&DedupWindows::setting_for(row.provider))? {
                Some(window) => window,
                None => global.unwrap_or(at_least_replay_span(row.window_secs)),
            };
            windows = windows.with(row.provider, window);
        }
        Ok(DedupSettings { table_name, windows, lease: LeasePolicy::new(lease) })
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
        assert_eq!(
            store.claim(&event, &lease("a", t0 + 1000), NowMs(t0)).await.unwrap(),
            Claim::Acquired(Progress::default())
        );
        assert_eq!(
            store.claim(&event, &lease("b", t0 + 1500), NowMs(t0 + 500)).await.unwrap(),
            Claim::InProgress,
            "live lease"
        );
        assert_eq!(
            store.claim(&event, &lease("c", t0 + 2001), NowMs(t0 + 1001)).await.unwrap(),
            Claim::Acquired(Progress::default()),
            "lease over"
        );
        assert_eq!(store.complete(Completion::new(&event, "c", NowMs(t0 + 1002))).await.unwrap(), Ownership::Held);
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
            Claim::Acquired(Progress::default())
        );
    }

    #[tokio::test]
    async fn late_attempt_cannot_complete_or_release_after_a_takeover() {
        let store = MemoryStore::with_window(WINDOW);
        let event = envelope(json!({}));
        store.claim(&event, &lease("late", 1000), NowMs(0)).await.unwrap();
        assert_eq!(
            store.claim(&event, &lease("new", 3000), NowMs(1001)).await.unwrap(),
            Claim::Acquired(Progress::default())
        );
        assert_eq!(store.release(&event.id, "late", &Progress::default()).await.unwrap(), Ownership::Lost);
        assert_eq!(store.lease_of(&event.id), Some((Some("new".into()), NowMs(3000))), "the new lease is intact");
        assert_eq!(store.complete(Completion::new(&event, "late", NowMs(1500))).await.unwrap(), Ownership::Lost);
        assert_eq!(store.status_of(&event.id), Some(STATUS_IN_PROGRESS), "the late attempt completed nothing");
        assert_eq!(store.complete(Completion::new(&event, "new", NowMs(1600))).await.unwrap(), Ownership::Held);
        assert_eq!(store.status_of(&event.id), Some(STATUS_COMPLETED));
        assert_eq!(
            store.release(&event.id, "new", &Progress::default()).await.unwrap(),
            Ownership::Lost,
            "a completed record stays"
        );
    }

    #[tokio::test]
    async fn release_ends_the_lease_but_keeps_the_record_and_its_count() {
        let store = MemoryStore::with_window(WINDOW);
        let event = envelope(json!({}));
        store.claim(&event, &lease("a", 60_000), NowMs(0)).await.unwrap();
        assert_eq!(store.release(&event.id, "a", &Progress::default()).await.unwrap(), Ownership::Held);
        assert_eq!(store.lease_of(&event.id), Some((None, NowMs(RELEASED))));
        assert_eq!(
            store.complete(Completion::new(&event, "a", NowMs(2))).await.unwrap(),
            Ownership::Lost,
            "released is released"
        );
        assert_eq!(
            store.claim(&event, &lease("b", 60_001), NowMs(1)).await.unwrap(),
            Claim::Acquired(Progress::default()),
            "at once"
        );
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
        store.complete(Completion::new(&event, "b", NowMs(1002))).await.unwrap();
        let entry = store.entry(&event.id).unwrap();
        assert_eq!((entry.status.as_str(), entry.sink_runs), (STATUS_COMPLETED, Some(2)));
        assert_eq!(entry.envelope.unwrap()["id"], "t:1", "completion keeps the Envelope for the inbox");
        // A duplicate changes nothing.
        store.claim(&event, &lease("c", 5000), NowMs(2000)).await.unwrap();
        assert_eq!(store.entry(&event.id).unwrap().sink_runs, Some(2));
        // After the window, the same id is a new event with a fresh record.
        let later = NowMs(1001 + 100_000 + 1000);
        assert_eq!(
            store.claim(&event, &lease("d", later.0 + 1000), later).await.unwrap(),
            Claim::Acquired(Progress::default())
        );
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
            store.complete(Completion::new(event, "a", NowMs(10))).await.unwrap();
        }
        assert_eq!(store.entry("short:1").unwrap().expiration, Some(600));
        assert_eq!(store.entry("long:1").unwrap().expiration, Some(7200));
        let after_short = NowMs(601_000);
        assert_eq!(
            store.claim(&short, &lease("b", 602_000), after_short).await.unwrap(),
            Claim::Acquired(Progress::default())
        );
        assert_eq!(
            store.claim(&long, &lease("b", 602_000), after_short).await.unwrap(),
            Claim::Completed { same_payload: true }
        );
    }

    fn refusal(provider: &str, at_ms: i64) -> RefusalRecord {
        RefusalRecord {
            provider: provider.into(),
            route: "/x".into(),
            status: 401,
            class: "bad_credential".into(),
            reason: "signature mismatch".into(),
            skew_secs: None,
            body_len: 2,
            body_sha256: "00".into(),
            source_ip: None,
            at_ms,
        }
    }

    #[tokio::test]
    async fn refusals_fill_a_ring_of_cap_slots_newest_first_and_expire() {
        let store = MemoryStore::with_window(WINDOW);
        let t0 = 1_700_000_000_000;
        // 25 refusals, one a second, into a ring of 10.
        for n in 0..25 {
            store.record_refusal(&refusal("lark", t0 + n * 1000), 10, t0 / 1000 + 100).await.unwrap();
        }
        store.record_refusal(&refusal("slack", t0), 10, t0 / 1000 + 100).await.unwrap();
        // Delivered late: an older refusal does not replace the newer one in its slot.
        store.record_refusal(&refusal("lark", t0 + 5000), 10, t0 / 1000 + 100).await.unwrap();
        assert_eq!(store.keys_with_prefix("refusal#lark#"), 10, "the ring never grows past its cap");
        let lark = store.refusals("lark", NowMs(t0));
        assert_eq!(
            lark.iter().map(|r| r.at_ms).collect::<Vec<_>>(),
            (15..25).rev().map(|n| t0 + n * 1000).collect::<Vec<_>>()
        );
        assert_eq!(store.refusals("slack", NowMs(t0)).len(), 1, "each provider has its own ring");
        assert!(store.refusals("lark", NowMs(t0 + 101_000)).is_empty(), "expired records are not shown");
        assert!(store.entry("refusal#lark#0").is_none(), "operations records are not events");
    }

    #[tokio::test]
    async fn a_failure_record_keeps_the_latest_reason_per_message() {
        let store = MemoryStore::with_window(WINDOW);
        let failure = |reason: &str, count| FailureRecord {
            message_id: "m-1".into(),
            reason: reason.into(),
            event_id: Some("t:1".into()),
            provider: Some("t".into()),
            receive_count: Some(count),
            at_ms: 5,
        };
        store.record_failure(&failure("first", 1), 99).await.unwrap();
        store.record_failure(&failure("second", 2), 100).await.unwrap();
        assert_eq!(store.failure("m-1"), Some((failure("second", 2), 100)));
        assert_eq!(store.keys_with_prefix(FAILURE_KEY_PREFIX), 1);
        assert!(store.failure("m-2").is_none());
    }

    #[tokio::test]
    async fn replays_are_counted_on_an_existing_record_only_and_survive_a_takeover() {
        let store = MemoryStore::with_window(WINDOW);
        let event = envelope(json!({}));
        assert!(!store.count_replay(&event.id, "r-0", NowMs(1)).await.unwrap(), "no record, nothing written");
        assert!(store.entry(&event.id).is_none());
        store.claim(&event, &lease("a", 1000), NowMs(0)).await.unwrap();
        assert!(store.count_replay(&event.id, "r-1", NowMs(10)).await.unwrap());
        assert!(store.count_replay(&event.id, "r-2", NowMs(20)).await.unwrap());
        store.claim(&event, &lease("b", 3000), NowMs(1001)).await.unwrap();
        let entry = store.entry(&event.id).unwrap();
        assert_eq!(
            (entry.replays, entry.last_replay_at, entry.last_replay_id.as_deref()),
            (Some(2), Some(20), Some("r-2"))
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

    use crate::config::test_env as env;

    const PROCESSOR: [(&str, &str); 2] = [("INLET_TABLE_NAME", "t"), ("INLET_QUEUE_VISIBILITY_SECS", "180")];

    /// The setting the processor's dedup settings name when they refuse `env`.
    fn refused_setting(env: &HashMap<&'static str, &'static str>) -> String {
        DedupSettings::from_env(env).expect_err("refused").name.to_string()
    }

    fn processor_env(extra: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        PROCESSOR.iter().chain(extra).copied().collect()
    }

    #[test]
    fn dedup_windows_default_per_provider_from_one_table() {
        let settings = DedupSettings::from_env(&processor_env(&[])).unwrap();
        for row in DEDUP_WINDOWS {
            assert_eq!(settings.windows.for_provider(row.provider), Duration::from_secs(row.window_secs), "{row:?}");
        }
        assert_eq!(settings.windows.for_provider("lark"), Duration::from_secs(24 * 3600));
        assert_eq!(settings.windows.for_provider("grafana"), Duration::from_secs(3600));
        assert_eq!(settings.windows.for_provider("someone-new"), Duration::from_secs(7 * 24 * 3600));
    }

    #[test]
    fn every_default_window_covers_the_default_replay_span() {
        let span = 2 * TimestampWindow::DEFAULT_SECS;
        assert!(DedupSettings::DEFAULT_WINDOW_SECS >= span);
        for row in DEDUP_WINDOWS {
            assert!(row.window_secs >= span, "{row:?}");
        }
    }

    #[test]
    fn dedup_windows_are_overridden_per_provider_then_globally() {
        let settings = DedupSettings::from_env(&processor_env(&[
            ("INLET_DEDUP_WINDOW_SECS", "7200"),
            ("ALERT_API_DEDUP_WINDOW_SECS", "900"),
            ("LARK_DEDUP_WINDOW_SECS", "90000"),
        ]))
        .unwrap();
        assert_eq!(settings.windows.for_provider("alert-api"), Duration::from_secs(900));
        assert_eq!(settings.windows.for_provider("lark"), Duration::from_secs(90_000));
        assert_eq!(settings.windows.for_provider("telegram"), Duration::from_secs(7200), "global beats the table");
        assert_eq!(settings.windows.for_provider("someone-new"), Duration::from_secs(7200));
        assert_eq!(DedupWindows::setting_for("alert-api"), "ALERT_API_DEDUP_WINDOW_SECS");
    }

    #[test]
    fn dedup_windows_shorter_than_twice_the_timestamp_tolerance_are_refused() {
        let refused = |extra: &[(&'static str, &'static str)]| refused_setting(&processor_env(extra));
        assert_eq!(refused(&[("GRAFANA_DEDUP_WINDOW_SECS", "599")]), "GRAFANA_DEDUP_WINDOW_SECS");
        let short = [("INLET_TIMESTAMP_TOLERANCE_SECS", "1000"), ("INLET_DEDUP_WINDOW_SECS", "1999")];
        assert_eq!(refused(&short), "INLET_DEDUP_WINDOW_SECS");
        for bad in ["0", "a day"] {
            assert_eq!(refused(&[("LARK_DEDUP_WINDOW_SECS", bad)]), "LARK_DEDUP_WINDOW_SECS");
        }
        // Exactly the replay span is enough.
        let settings = DedupSettings::from_env(&processor_env(&[("GRAFANA_DEDUP_WINDOW_SECS", "600")])).unwrap();
        assert_eq!(settings.windows.for_provider("grafana"), Duration::from_secs(600));
    }

    #[test]
    fn default_windows_rise_to_a_longer_replay_span() {
        let settings = DedupSettings::from_env(&processor_env(&[("INLET_TIMESTAMP_TOLERANCE_SECS", "2400")])).unwrap();
        assert_eq!(settings.windows.for_provider("grafana"), Duration::from_secs(4800));
        assert_eq!(settings.windows.for_provider("lark"), Duration::from_secs(24 * 3600), "already longer");
    }

    #[test]
    fn queue_visibility_is_required_and_caps_the_lease() {
        let error = DedupSettings::from_env(&env(&[("INLET_TABLE_NAME", "t")])).unwrap_err();
        assert_eq!(error.name, "INLET_QUEUE_VISIBILITY_SECS");
        for bad in ["0", "1", "43201", "ten"] {
            let error =
                DedupSettings::from_env(&env(&[("INLET_TABLE_NAME", "t"), ("INLET_QUEUE_VISIBILITY_SECS", bad)]))
                    .unwrap_err();
            assert_eq!(error.name, "INLET_QUEUE_VISIBILITY_SECS", "{bad}");
        }
        // Production: 180 s visibility, 30 s timeout.
        let production = DedupSettings::from_env(&processor_env(&[])).unwrap();
        assert_eq!(production.lease.max(), Duration::from_secs(162));
        // The local stack: 10 s visibility.
        let local =
            DedupSettings::from_env(&env(&[("INLET_TABLE_NAME", "t"), ("INLET_QUEUE_VISIBILITY_SECS", "10")])).unwrap();
        assert_eq!(local.lease.max(), Duration::from_secs(9));
        for visibility in [2u64, 3, 10, 11, 180, 43_200] {
            let margin = DedupSettings::lease_margin(Duration::from_secs(visibility));
            assert!(margin >= Duration::from_secs(1) && margin < Duration::from_secs(visibility));
        }
    }

    #[test]
    fn a_lease_cap_at_or_over_the_visibility_timeout_is_refused() {
        // The local stack once had a 60 s lease and a 10 s visibility timeout:
        // a crash sent acknowledged events to the dead-letter queue.
        let lease_over_visibility =
            [("INLET_TABLE_NAME", "t"), ("INLET_QUEUE_VISIBILITY_SECS", "10"), ("INLET_LEASE_SECS", "60")];
        assert_eq!(refused_setting(&env(&lease_over_visibility)), "INLET_LEASE_SECS");
        for bad in ["180", "0"] {
            assert_eq!(refused_setting(&processor_env(&[("INLET_LEASE_SECS", bad)])), "INLET_LEASE_SECS");
        }
        let capped = DedupSettings::from_env(&processor_env(&[("INLET_LEASE_SECS", "45")])).unwrap();
        assert_eq!(capped.lease.max(), Duration::from_secs(45));
    }
}
