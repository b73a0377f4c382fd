//! The processor: consumes SQS batches of Envelopes and hands each new event
//! to the sinks exactly once.
//!
//! Per record, concurrently: take the dedup lock (one conditional write,
//! owned by this attempt until the invocation's deadline), run the sinks,
//! mark the record completed if this attempt still owns it. Duplicates of
//! completed events are acknowledged and skipped; records still held by a
//! live lease, lost locks and failures are returned in `batchItemFailures` so
//! that SQS redelivers just those, never failing the whole batch.

pub mod sinks;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use inlet_shared::dedup::{Claim, IdempotencyStore, Lease, LeasePolicy, NowMs, Ownership};
use inlet_shared::envelope::Envelope;
use inlet_shared::sink::Sink;
use tracing::{error, info, warn};

/// The invocation a batch runs in: who its attempts are and when it ends.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The Lambda request id; part of every lock's owner token.
    pub request_id: String,
    /// When the runtime ends this invocation; None when it gave no deadline.
    pub deadline: Option<NowMs>,
    pub lease: LeasePolicy,
}

impl Invocation {
    /// `deadline_ms` as Lambda gives it (milliseconds since the epoch; 0 for none).
    pub fn new(request_id: impl Into<String>, deadline_ms: u64, lease: LeasePolicy) -> Self {
        let deadline = i64::try_from(deadline_ms).ok().filter(|&ms| ms > 0).map(NowMs);
        Invocation { request_id: request_id.into(), deadline, lease }
    }

    pub fn from_context(context: &lambda_runtime::Context, lease: LeasePolicy) -> Self {
        Self::new(context.request_id.clone(), context.deadline, lease)
    }

    fn lease_for(&self, record: &SqsMessage, message_id: &str, now: NowMs) -> Lease {
        let receive_count = record.attributes.get("ApproximateReceiveCount").map(String::as_str);
        Lease {
            owner: Lease::owner_token(&self.request_id, message_id, receive_count),
            until: self.lease.until(now, self.deadline),
        }
    }
}

/// What happened to one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    Processed,
    /// Already completed inside the dedup window: skipped, acknowledged.
    Duplicate,
    /// Another attempt holds the lock: left for redelivery.
    InProgressElsewhere,
    /// The sinks ran, but another attempt took the event over before this one
    /// could mark it completed (this attempt outlived its lease). Left for
    /// redelivery, which finds the event completed (and acknowledges it) or
    /// still in progress (and waits): the event is never lost, and the
    /// record's `sink_runs` shows the extra run.
    LostLock,
    /// Unreadable record, store error or sink error: left for redelivery
    /// (and, after the queue's maxReceiveCount, the dead-letter queue).
    Failed(String),
}

impl RecordOutcome {
    fn acknowledged(&self) -> bool {
        matches!(self, RecordOutcome::Processed | RecordOutcome::Duplicate)
    }
}

/// Processes one batch and reports the records SQS must deliver again.
pub async fn process_batch(
    event: SqsEvent,
    invocation: &Invocation,
    store: &dyn IdempotencyStore,
    sinks: &[Box<dyn Sink>],
    clock: impl Fn() -> NowMs,
) -> SqsBatchResponse {
    if invocation.lease.cuts_short(clock(), invocation.deadline) {
        warn!(
            max_lease_secs = invocation.lease.max().as_secs(),
            "the invocation outlasts the longest lease: the function's timeout must be shorter than the queue's \
             visibility timeout; an attempt still running after its lease may be taken over and run the sinks again"
        );
    }
    let outcomes =
        join_all(event.records.iter().map(|record| process_record(record, invocation, store, sinks, &clock))).await;
    let mut response = SqsBatchResponse::default();
    let mut counts = [0usize; 5];
    for (record, outcome) in event.records.iter().zip(&outcomes) {
        counts[match outcome {
            RecordOutcome::Processed => 0,
            RecordOutcome::Duplicate => 1,
            RecordOutcome::InProgressElsewhere => 2,
            RecordOutcome::LostLock => 3,
            RecordOutcome::Failed(_) => 4,
        }] += 1;
        if !outcome.acknowledged() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    info!(
        records = event.records.len(),
        processed = counts[0],
        duplicates = counts[1],
        in_progress_elsewhere = counts[2],
        lost_lock = counts[3],
        failed = counts[4],
        "batch done"
    );
    response
}

/// Runs the lock → sinks → complete sequence for one record.
pub async fn process_record(
    record: &SqsMessage,
    invocation: &Invocation,
    store: &dyn IdempotencyStore,
    sinks: &[Box<dyn Sink>],
    clock: &impl Fn() -> NowMs,
) -> RecordOutcome {
    let message_id = record.message_id.as_deref().unwrap_or("?");
    let envelope: Envelope = match record.body.as_deref().map(Envelope::decode) {
        Some(Ok(envelope)) => envelope,
        Some(Err(e)) => {
            error!(message_id, reason = %e, "record is not an Envelope");
            return RecordOutcome::Failed(format!("not an Envelope: {e}"));
        }
        None => return RecordOutcome::Failed("record has no body".into()),
    };
    let id = envelope.id.as_str();
    let now = clock();
    let lease = invocation.lease_for(record, message_id, now);
    match store.claim(&envelope, &lease, now).await {
        Ok(Claim::Acquired) => {}
        Ok(Claim::Completed { same_payload }) => {
            if !same_payload {
                warn!(
                    id,
                    "DUPLICATE ID WITH A DIFFERENT PAYLOAD: the provider reused an event id; the first payload was kept"
                );
            }
            info!(id, "duplicate skipped");
            return RecordOutcome::Duplicate;
        }
        Ok(Claim::InProgress) => {
            info!(id, "in progress elsewhere; left for redelivery");
            return RecordOutcome::InProgressElsewhere;
        }
        Err(e) => {
            error!(id, reason = %e, "dedup lock failed");
            return RecordOutcome::Failed(e.to_string());
        }
    }
    for sink in sinks {
        if let Err(e) = sink.handle(&envelope).await {
            error!(id, sink = sink.name(), reason = %e.reason, "sink failed; releasing the lock for redelivery");
            match store.release(id, &lease.owner).await {
                Ok(Ownership::Held) => {}
                Ok(Ownership::Lost) => warn!(id, "lock already taken over; nothing to release"),
                // The lease ends on its own; the redelivery waits until then.
                Err(release_error) => error!(id, reason = %release_error, "lock release failed"),
            }
            return RecordOutcome::Failed(e.to_string());
        }
    }
    match store.complete(&envelope, &lease.owner, clock()).await {
        Ok(Ownership::Held) => {
            info!(id, provider = %envelope.provider, kind = %envelope.kind, "processed");
            RecordOutcome::Processed
        }
        Ok(Ownership::Lost) => {
            warn!(
                id,
                owner = %lease.owner,
                "lock taken over before completion (this attempt outlived its lease); left for redelivery"
            );
            RecordOutcome::LostLock
        }
        Err(e) => {
            // The sinks ran; reporting a failure means a redelivery may find
            // the lease over and run them again (`sink_runs` shows it).
            error!(id, reason = %e, "marking completed failed");
            RecordOutcome::Failed(e.to_string())
        }
    }
}
