//! The processor: consumes SQS batches of Envelopes and hands each new event
//! to the sinks exactly once.
//!
//! Per record, concurrently: take the dedup lock (one conditional PutItem),
//! run the sinks, mark the record completed. Duplicates of completed events
//! are acknowledged and skipped; records still held by a live lease, and
//! failures, are returned in `batchItemFailures` so that SQS redelivers just
//! those, never failing the whole batch.

pub mod sinks;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use inlet_shared::dedup::{Claim, IdempotencyStore, NowMs};
use inlet_shared::envelope::Envelope;
use inlet_shared::sink::Sink;
use tracing::{error, info, warn};

/// What happened to one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    Processed,
    /// Already completed inside the dedup window: skipped, acknowledged.
    Duplicate,
    /// Another attempt holds the lock: left for redelivery.
    InProgressElsewhere,
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
    store: &dyn IdempotencyStore,
    sinks: &[Box<dyn Sink>],
    clock: impl Fn() -> NowMs,
) -> SqsBatchResponse {
    let outcomes = join_all(event.records.iter().map(|record| process_record(record, store, sinks, &clock))).await;
    let mut response = SqsBatchResponse::default();
    let mut counts = [0usize; 4];
    for (record, outcome) in event.records.iter().zip(&outcomes) {
        counts[match outcome {
            RecordOutcome::Processed => 0,
            RecordOutcome::Duplicate => 1,
            RecordOutcome::InProgressElsewhere => 2,
            RecordOutcome::Failed(_) => 3,
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
        failed = counts[3],
        "batch done"
    );
    response
}

/// Runs the lock → sinks → complete sequence for one record.
pub async fn process_record(
    record: &SqsMessage,
    store: &dyn IdempotencyStore,
    sinks: &[Box<dyn Sink>],
    clock: &impl Fn() -> NowMs,
) -> RecordOutcome {
    let message_id = record.message_id.as_deref().unwrap_or("?");
    let envelope: Envelope = match record.body.as_deref().map(serde_json::from_str) {
        Some(Ok(envelope)) => envelope,
        Some(Err(e)) => {
            error!(message_id, reason = %e, "record is not an Envelope");
            return RecordOutcome::Failed(format!("not an Envelope: {e}"));
        }
        None => return RecordOutcome::Failed("record has no body".into()),
    };
    let id = envelope.id.as_str();
    match store.claim(&envelope, clock()).await {
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
            if let Err(release_error) = store.release(id).await {
                // The lease expires on its own; redelivery waits until then.
                error!(id, reason = %release_error, "lock release failed");
            }
            return RecordOutcome::Failed(e.to_string());
        }
    }
    match store.complete(id, clock()).await {
        Ok(()) => {
            info!(id, provider = %envelope.provider, kind = %envelope.kind, "processed");
            RecordOutcome::Processed
        }
        Err(e) => {
            // The sinks ran; reporting a failure means a redelivery may find
            // the lock taken over after the lease and run them again.
            error!(id, reason = %e, "marking completed failed");
            RecordOutcome::Failed(e.to_string())
        }
    }
}
