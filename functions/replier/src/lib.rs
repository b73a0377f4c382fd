//! The reply function: consumes SQS batches of reply requests
//! ([`ReplyRequest`], the reply queue) and posts each reply once, through
//! the platform's own API, in the conversation its event came from.
//!
//! Per record, concurrently: read the request (an unreadable one can never
//! succeed: logged, counted and acknowledged); take the reply's own dedup
//! lock (`reply:<hex>`, [`ReplyRequest::dedup_key`]) with the processor's
//! idempotency store, so that a redelivered request is not posted twice;
//! find the conversation, inline (the processor's requests carry it) or in
//! the event's dedup record; send; then complete the record with the
//! platform's state, as the processor does per destination. A reply the
//! platform refused for good, or an event without a conversation, is
//! recorded and never retried. A transient failure (a timeout, a 5xx, the
//! platform's throttling, an event the processor has not finished) releases
//! the lock and lengthens the message's visibility by the processor's
//! backoff, no sooner than the wait the platform named, and reports the
//! record in `batchItemFailures`.
//!
//! The reply record keeps the event id and the reply, never the target's
//! handle: a handle may hold an interaction token or a `response_url`.
//! Nothing here logs one either.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use inlet_shared::aws::dynamodb::DynamoDbStore;
use inlet_shared::aws::sqs::{BatchOutcome, finish_batch};
use inlet_shared::dedup::{
    Claim, Completion, IdempotencyStore, InboxEntry, Lease, LeasePolicy, MemoryStore, NowMs, Ownership, Progress,
    STATUS_COMPLETED, StoreError,
};
use inlet_shared::delivery::Retry;
use inlet_shared::envelope::{Envelope, Verification};
use inlet_shared::metrics::{Metrics, ReplyMetrics};
use inlet_shared::queue::Redelivery;
use inlet_shared::reply::request::{RECORD_PROVIDER, ReplyRequest};
use inlet_shared::reply::{Outgoing, Replies, ReplyTarget};
use serde_json::json;
use time::OffsetDateTime;
use tracing::{error, info, warn};

pub use inlet_shared::queue::RedeliverySchedule;

/// The `verification.scheme` of a reply's dedup record: it came from the
/// reply queue, which only the stack's own roles may write to.
pub const RECORD_SCHEME: &str = "reply-queue";

/// Reads an event's dedup record: where the conversation of a request
/// without an inline target is.
#[async_trait]
pub trait EventRecords: Send + Sync {
    async fn event_record(&self, id: &str) -> Result<Option<InboxEntry>, StoreError>;
}

#[async_trait]
impl EventRecords for DynamoDbStore {
    async fn event_record(&self, id: &str) -> Result<Option<InboxEntry>, StoreError> {
        self.entry(id).await
    }
}

#[async_trait]
impl EventRecords for MemoryStore {
    async fn event_record(&self, id: &str) -> Result<Option<InboxEntry>, StoreError> {
        Ok(self.entry(id))
    }
}

/// Everything the reply function needs of the dedup table.
pub trait ReplyStore: IdempotencyStore + EventRecords {}
impl<T: IdempotencyStore + EventRecords + ?Sized> ReplyStore for T {}

/// The invocation a batch runs in: who its attempts are, when it ends, and
/// how a failed reply waits for its next attempt.
#[derive(Clone)]
pub struct Invocation {
    /// The Lambda request id; part of every lock's owner token.
    pub request_id: String,
    /// When the runtime ends this invocation; None when it gave no deadline.
    pub deadline: Option<NowMs>,
    pub lease: LeasePolicy,
    /// Off unless set.
    pub metrics: Metrics,
    /// Lengthens the visibility of a message whose reply failed; without it
    /// the queue's own visibility timeout decides when it comes back.
    pub redelivery: Option<Arc<dyn Redelivery>>,
    pub redelivery_schedule: RedeliverySchedule,
}

impl Invocation {
    /// `deadline_ms` as Lambda gives it (milliseconds since the epoch; 0 for none).
    pub fn new(request_id: impl Into<String>, deadline_ms: u64, lease: LeasePolicy) -> Self {
        Invocation {
            request_id: request_id.into(),
            deadline: i64::try_from(deadline_ms).ok().filter(|&ms| ms > 0).map(NowMs),
            lease,
            metrics: Metrics::off(),
            redelivery: None,
            redelivery_schedule: RedeliverySchedule::default(),
        }
    }

    pub fn from_context(context: &lambda_runtime::Context, lease: LeasePolicy) -> Self {
        Self::new(context.request_id.clone(), context.deadline, lease)
    }
}

/// What happened to one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The platform took the reply (`provider`'s API).
    Sent { provider: String },
    /// Already sent inside the dedup window: acknowledged, not posted again.
    Duplicate,
    /// Another attempt holds the reply's lock: left for redelivery.
    InProgressElsewhere,
    /// Never sent and never retried: the platform refused it, the event has
    /// no conversation to answer, or the request is unreadable.
    Refused(String),
    /// A failure a later attempt may get past: left for redelivery after the
    /// backoff, no sooner than `retry_after` when the platform named a wait.
    NotSent { reason: String, retry_after: Option<Duration> },
    /// The store failed, or the lock was taken over: left for redelivery
    /// after the queue's visibility timeout.
    Failed(String),
}

impl BatchOutcome for Outcome {
    fn acknowledged(&self) -> bool {
        matches!(self, Outcome::Sent { .. } | Outcome::Duplicate | Outcome::Refused(_))
    }

    fn redelivery_wait(&self) -> Option<Option<Duration>> {
        match self {
            Outcome::NotSent { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Processes one batch and reports the records SQS must deliver again.
pub async fn process_batch(
    event: SqsEvent,
    invocation: &Invocation,
    store: &dyn ReplyStore,
    replies: &Replies,
    clock: impl Fn() -> NowMs,
) -> SqsBatchResponse {
    if invocation.lease.cuts_short(clock(), invocation.deadline) {
        warn!(
            max_lease_secs = invocation.lease.max().as_secs(),
            "the invocation outlasts the longest lease: the function's timeout must be shorter than the reply \
             queue's visibility timeout; an attempt still running after its lease may be taken over and post again"
        );
    }
    let outcomes =
        join_all(event.records.iter().map(|record| handle_record(record, invocation, store, replies, &clock))).await;
    let mut counts = ReplyMetrics { batch_size: event.records.len(), ..ReplyMetrics::default() };
    for outcome in &outcomes {
        match outcome {
            Outcome::Sent { .. } => counts.sent += 1,
            Outcome::Duplicate => counts.duplicates += 1,
            Outcome::Refused(_) => counts.refused += 1,
            Outcome::InProgressElsewhere | Outcome::NotSent { .. } | Outcome::Failed(_) => counts.failed += 1,
        }
    }
    let response =
        finish_batch(&event.records, &outcomes, invocation.redelivery.as_deref(), &invocation.redelivery_schedule)
            .await;
    info!(
        records = counts.batch_size,
        sent = counts.sent,
        duplicates = counts.duplicates,
        refused = counts.refused,
        failed = counts.failed,
        "batch done"
    );
    if !event.records.is_empty() {
        invocation.metrics.emit(&counts.line());
    }
    response
}

/// The dedup record of `request`: its id is the request's dedup key, and it
/// keeps what was asked, never where it went (the handle).
pub fn record_of(request: &ReplyRequest, now: NowMs) -> Envelope {
    let received_at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(now.0) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Envelope::new(
        RECORD_PROVIDER,
        &request.reply_hash(),
        "reply",
        received_at,
        Verification { scheme: RECORD_SCHEME.into(), matched: None },
        json!({"event_id": request.event_id, "reply": request.reply, "id": request.id}),
    )
}

fn system_time(now: NowMs) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(now.0).unwrap_or(0))
}

/// Handles one SQS record.
pub async fn handle_record(
    record: &SqsMessage,
    invocation: &Invocation,
    store: &dyn ReplyStore,
    replies: &Replies,
    clock: &impl Fn() -> NowMs,
) -> Outcome {
    let message_id = record.message_id.as_deref().unwrap_or("?");
    let Some(body) = record.body.as_deref() else {
        error!(message_id, "REPLY REQUEST REFUSED: the record has no body; acknowledged, never sent");
        return Outcome::Refused("the record has no body".into());
    };
    let request = match ReplyRequest::parse(body) {
        Ok(request) => request,
        Err(reason) => {
            // It would fail the same way on every receive.
            error!(message_id, reason = %reason, "REPLY REQUEST REFUSED: unreadable; acknowledged, never sent");
            return Outcome::Refused(format!("unreadable reply request: {reason}"));
        }
    };
    let key = request.dedup_key();
    let event_id = request.event_id.as_str();
    let now = clock();
    let receive_count = record.attributes.get("ApproximateReceiveCount").map(String::as_str);
    let lease = Lease {
        owner: Lease::owner_token(&invocation.request_id, message_id, receive_count),
        until: invocation.lease.until(now, invocation.deadline),
    };
    let claimed = record_of(&request, now);
    let mut progress = match store.claim(&claimed, &lease, now).await {
        Ok(Claim::Acquired(progress)) => progress,
        Ok(Claim::Completed { same_payload }) => {
            if !same_payload {
                warn!(
                    reply = %key,
                    event_id,
                    "REPLY ID REUSED WITH ANOTHER REPLY: the first reply under this id was sent; this one is not"
                );
            }
            info!(reply = %key, event_id, "reply already sent; skipped");
            return Outcome::Duplicate;
        }
        Ok(Claim::InProgress) => {
            info!(reply = %key, event_id, "reply in progress elsewhere; left for redelivery");
            return Outcome::InProgressElsewhere;
        }
        Err(e) => {
            error!(reply = %key, event_id, reason = %e, "reply lock failed");
            return Outcome::Failed(e.to_string());
        }
    };
    let owner = lease.owner.as_str();

    let target = match target_of(&request, store).await {
        Ok(target) => target,
        Err(Unresolved::Later(reason)) => {
            warn!(reply = %key, event_id, reason = %reason, "reply waits for its event; left for redelivery");
            release(store, &key, owner, &progress).await;
            return Outcome::NotSent { reason, retry_after: None };
        }
        Err(Unresolved::Store(reason)) => {
            error!(reply = %key, event_id, reason = %reason, "the event's record could not be read");
            release(store, &key, owner, &progress).await;
            return Outcome::Failed(reason);
        }
        Err(Unresolved::Never { provider, reason }) => {
            error!(reply = %key, event_id, reason = %reason, "REPLY REFUSED: there is nowhere to send it; not retried");
            progress.note(provider.as_deref().unwrap_or(RECORD_PROVIDER), Err((true, &reason)), clock());
            complete(store, Completion::new(&claimed, owner, clock()).with_progress(&progress)).await;
            return Outcome::Refused(reason);
        }
    };
    let provider = target.provider.as_str();

    match replies.send(Outgoing::new(&target, &request.reply, &key, system_time(clock()))).await {
        Ok(sent) => {
            progress.note(provider, Ok(()), clock());
            match store.complete(Completion::new(&claimed, owner, clock()).with_progress(&progress)).await {
                Ok(Ownership::Held) => {
                    info!(
                        reply = %key,
                        event_id,
                        provider,
                        via = %sent.via,
                        message_id = sent.message_id.as_deref().unwrap_or("-"),
                        "reply sent"
                    );
                    Outcome::Sent { provider: provider.to_string() }
                }
                Ok(Ownership::Lost) => {
                    warn!(
                        reply = %key,
                        event_id,
                        provider,
                        "reply sent, but its lock was taken over before completion (this attempt outlived its \
                         lease); left for redelivery"
                    );
                    Outcome::Failed("lock taken over before completion; the reply was sent".into())
                }
                Err(e) => {
                    // Reporting a failure lets a redelivery find the lease
                    // over and post again: better twice than never.
                    error!(reply = %key, event_id, provider, reason = %e, "reply sent, but marking it sent failed");
                    Outcome::Failed(e.to_string())
                }
            }
        }
        Err(e) if e.is_permanent() => {
            error!(
                reply = %key,
                event_id,
                provider,
                reason = %e.reason,
                "PERMANENT REPLY FAILURE: the platform refused the reply; not retried"
            );
            progress.note(provider, Err((true, &e.reason)), clock());
            complete(store, Completion::new(&claimed, owner, clock()).with_progress(&progress)).await;
            Outcome::Refused(e.reason)
        }
        Err(e) => {
            warn!(reply = %key, event_id, provider, reason = %e.reason, "reply not sent; left for redelivery");
            progress.note(provider, Err((false, &e.reason)), clock());
            release(store, &key, owner, &progress).await;
            let retry_after = match e.retry {
                Retry::Later { after } => after,
                Retry::Never => None,
            };
            Outcome::NotSent { reason: e.reason, retry_after }
        }
    }
}

/// Why a request's conversation is not known (yet).
enum Unresolved {
    /// The event is not (yet) processed: the processor may still be
    /// delivering it, so a later attempt may find it.
    Later(String),
    /// The table could not be read.
    Store(String),
    /// The event cannot be answered, on any attempt.
    Never { provider: Option<String>, reason: String },
}

/// The request's conversation: inline, or from the event's record.
async fn target_of(request: &ReplyRequest, store: &dyn ReplyStore) -> Result<ReplyTarget, Unresolved> {
    if let Some(target) = &request.target {
        return Ok(target.clone());
    }
    let id = &request.event_id;
    let entry = store.event_record(id).await.map_err(|e| Unresolved::Store(e.to_string()))?.ok_or_else(|| {
        Unresolved::Later(format!(
            "event {id} has no record: not processed yet (or unknown, or its dedup window has ended)"
        ))
    })?;
    if entry.status != STATUS_COMPLETED {
        return Err(Unresolved::Later(format!("event {id} is {}: the processor has not finished it", entry.status)));
    }
    let provider = entry.provider.clone();
    let stored = entry.envelope.ok_or_else(|| Unresolved::Never {
        provider: provider.clone(),
        reason: format!(
            "event {id} has no stored Envelope (it was over the inbox's size limit): its conversation is unknown"
        ),
    })?;
    let envelope: Envelope = serde_json::from_value(stored).map_err(|e| Unresolved::Never {
        provider: provider.clone(),
        reason: format!("event {id}: the stored Envelope does not decode: {e}"),
    })?;
    ReplyTarget::of(&envelope).map_err(|e| Unresolved::Never { provider: Some(envelope.provider), reason: e.reason })
}

/// Releases a lock after a failure; a failure to release only means the
/// redelivery waits for the lease to end.
async fn release(store: &dyn ReplyStore, id: &str, owner: &str, progress: &Progress) {
    match store.release(id, owner, progress).await {
        Ok(Ownership::Held) => {}
        Ok(Ownership::Lost) => warn!(reply = id, "lock already taken over; nothing to release"),
        Err(e) => error!(reply = id, reason = %e, "lock release failed"),
    }
}

/// Completes a reply that will never be sent. The message is acknowledged
/// whatever this answers: a retry could only be refused again.
async fn complete(store: &dyn ReplyStore, completion: Completion<'_>) {
    let record = completion.envelope();
    match store.complete(completion).await {
        Ok(Ownership::Held) => {}
        Ok(Ownership::Lost) => warn!(reply = %record.id, "lock taken over before the refusal was recorded"),
        Err(e) => error!(reply = %record.id, reason = %e, "the refusal could not be recorded"),
    }
}
