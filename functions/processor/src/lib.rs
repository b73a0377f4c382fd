//! The processor: consumes SQS batches of Envelopes, hands each new event to
//! the sinks, and delivers it to each matching destination once.
//!
//! A batch goes in three steps. Per record, concurrently: take the dedup
//! lock (one conditional write, owned by this attempt until the invocation's
//! deadline; it answers which destinations a retry already served) and run
//! the sinks. Per destination, concurrently: deliver the events that owe it,
//! in one call where the destination batches. Per record again: mark the
//! record completed, with every destination's state, if this attempt still
//! owns it; or, when a destination failed and may succeed later, release the
//! lock with the progress so far and lengthen the message's visibility, so
//! that the redelivery comes after seconds, then minutes, and calls only
//! the destinations still owed. Duplicates of
//! completed events are acknowledged and skipped; records still held by a
//! live lease, lost locks and failures are returned in `batchItemFailures` so
//! that SQS redelivers just those, never failing the whole batch.
//!
//! Besides new events the queue carries what the operator tools need
//! (`inlet_shared::operations`): refusal records, stored in a capped ring
//! and acknowledged whatever happens (they are diagnosis, never worth a
//! dead letter), and replays, an Envelope run through the sinks again
//! under a dedup key of its own. Every record left for redelivery writes
//! why (one write), so `inlet dlq` can show the reason next to the message.

pub mod sinks;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use inlet_shared::aws::sqs::{BatchOutcome, finish_batch};
use inlet_shared::dedup::{
    Claim, Completion, FailureRecord, Lease, LeasePolicy, NowMs, Ownership, ProcessorStore, Progress,
};
use inlet_shared::delivery::targets::Targets;
use inlet_shared::delivery::{Delivery, DeliveryError, Outgoing, Retry};
use inlet_shared::envelope::Envelope;
use inlet_shared::metrics::{BatchMetrics, DestinationMetrics, Metrics};
use inlet_shared::operations::OperationsSettings;
use inlet_shared::operations::{
    RECORD_ATTRIBUTE, REFUSAL_RECORD, REPLAY_ATTRIBUTE, REPLAY_DESTINATION_ATTRIBUTE, RefusalRecord, replay_key,
};
use inlet_shared::queue::Redelivery;
pub use inlet_shared::queue::RedeliverySchedule;
use inlet_shared::reply::request::{MAX_REQUEST_BYTES, ReplyOutbox, ReplyRequest};
use inlet_shared::reply::{Reply, ReplyTarget};
use inlet_shared::sink::Sink;
use tracing::{error, info, warn};

/// The invocation a batch runs in: who its attempts are, when it ends, and
/// where its events go.
#[derive(Clone)]
pub struct Invocation {
    /// The Lambda request id; part of every lock's owner token.
    pub request_id: String,
    /// When the runtime ends this invocation; None when it gave no deadline.
    pub deadline: Option<NowMs>,
    pub lease: LeasePolicy,
    /// How refusal and failure records are kept (defaults unless set).
    pub operations: OperationsSettings,
    /// Where the batch's metric line goes (off unless set).
    pub metrics: Metrics,
    /// The destinations every new event is delivered to (none unless set).
    pub targets: Targets,
    /// Lengthens the visibility of a message whose delivery failed; without
    /// it the queue's own visibility timeout decides when it comes back.
    pub redelivery: Option<Arc<dyn Redelivery>>,
    pub redelivery_schedule: RedeliverySchedule,
    /// Where a destination's reply (its answer `{"reply": {...}}`) is
    /// queued for the reply function; without one such replies are refused
    /// with a log line.
    pub replies: Option<Arc<dyn ReplyOutbox>>,
}

impl Invocation {
    /// `deadline_ms` as Lambda gives it (milliseconds since the epoch; 0 for none).
    pub fn new(request_id: impl Into<String>, deadline_ms: u64, lease: LeasePolicy) -> Self {
        let deadline = i64::try_from(deadline_ms).ok().filter(|&ms| ms > 0).map(NowMs);
        Invocation {
            request_id: request_id.into(),
            deadline,
            lease,
            operations: OperationsSettings::default(),
            metrics: Metrics::off(),
            targets: Targets::default(),
            redelivery: None,
            redelivery_schedule: RedeliverySchedule::default(),
            replies: None,
        }
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
    /// A destination failed and may succeed later: the progress is kept in
    /// the record, the lock released, and the message comes back after a
    /// backoff (no sooner than a destination's `Retry-After`) to try the
    /// destinations still owed.
    NotDelivered {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Not an event but a record for the operator (a refusal): stored, or
    /// dropped with a log line when unreadable; acknowledged either way.
    Recorded,
}

impl BatchOutcome for RecordOutcome {
    fn acknowledged(&self) -> bool {
        matches!(self, RecordOutcome::Processed | RecordOutcome::Duplicate | RecordOutcome::Recorded)
    }

    fn redelivery_wait(&self) -> Option<Option<Duration>> {
        match self {
            RecordOutcome::NotDelivered { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl RecordOutcome {
    /// Why a record is left for redelivery, as its failure record says.
    fn failure_reason(&self) -> Option<String> {
        match self {
            RecordOutcome::Failed(reason) | RecordOutcome::NotDelivered { reason, .. } => Some(reason.clone()),
            RecordOutcome::LostLock => {
                Some("lock taken over before completion: the attempt outlived its lease; the sinks ran".into())
            }
            RecordOutcome::InProgressElsewhere => Some("another attempt held the event's lease".into()),
            RecordOutcome::Processed | RecordOutcome::Duplicate | RecordOutcome::Recorded => None,
        }
    }
}

/// Processes one batch and reports the records SQS must deliver again.
pub async fn process_batch(
    event: SqsEvent,
    invocation: &Invocation,
    store: &dyn ProcessorStore,
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
    let processing = Processing { invocation, store, sinks, clock: &clock };
    let outcomes = processing.handle_messages(&event.records).await;
    let mut counts = [0usize; 6];
    for outcome in &outcomes {
        counts[match outcome {
            RecordOutcome::Processed => 0,
            RecordOutcome::Duplicate => 1,
            RecordOutcome::InProgressElsewhere => 2,
            RecordOutcome::LostLock => 3,
            RecordOutcome::Failed(_) | RecordOutcome::NotDelivered { .. } => 4,
            RecordOutcome::Recorded => 5,
        }] += 1;
    }
    let response =
        finish_batch(&event.records, &outcomes, invocation.redelivery.as_deref(), &invocation.redelivery_schedule)
            .await;
    info!(
        records = event.records.len(),
        processed = counts[0],
        duplicates = counts[1],
        in_progress_elsewhere = counts[2],
        lost_lock = counts[3],
        failed = counts[4],
        records_stored = counts[5],
        "batch done"
    );
    if invocation.metrics.enabled() {
        let now = clock();
        let event_ages_ms = event
            .records
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| **outcome == RecordOutcome::Processed)
            .filter_map(|(record, _)| event_age_ms(record, now))
            .collect();
        let metrics = BatchMetrics {
            batch_size: event.records.len(),
            processed: counts[0],
            duplicates: counts[1],
            failed: counts[2] + counts[3] + counts[4],
            refusals_recorded: counts[5],
            event_ages_ms,
        };
        invocation.metrics.emit(&metrics.line());
    }
    response
}

/// How long a message whose delivery failed stays invisible before its
/// `receive_count`-th redelivery, by the default schedule: seconds at first,
/// then minutes, so a destination that is down is not hammered, and the
/// queue's last receive (its redrive policy's maxReceiveCount) comes long
/// after the first.
pub fn redelivery_delay(receive_count: u32) -> Duration {
    RedeliverySchedule::default().delay(receive_count)
}

/// How long ago the receiver accepted the event of `record`: its Envelope's
/// `received_at`. None for a replay (its age is the original's, not the
/// queue's delay) and for a time that does not parse.
fn event_age_ms(record: &SqsMessage, now: NowMs) -> Option<f64> {
    if attribute(record, REPLAY_ATTRIBUTE).is_some() {
        return None;
    }
    let at_ms = inlet_shared::envelope::received_at_ms(record.body.as_deref()?)?;
    Some(now.0.saturating_sub(at_ms).max(0) as f64)
}

/// A string message attribute of the record.
fn attribute<'a>(record: &'a SqsMessage, name: &str) -> Option<&'a str> {
    record.message_attributes.get(name).and_then(|value| value.string_value.as_deref())
}

/// What the records of a batch are processed with: the invocation they
/// run in, the dedup store, the sinks and the clock.
pub struct Processing<'a, C> {
    pub invocation: &'a Invocation,
    pub store: &'a dyn ProcessorStore,
    pub sinks: &'a [Box<dyn Sink>],
    pub clock: &'a C,
}

/// The outcome of a batch of one record.
fn only(mut outcomes: Vec<RecordOutcome>) -> RecordOutcome {
    outcomes.pop().unwrap_or_else(|| RecordOutcome::Failed("no outcome".into()))
}

impl<C: Fn() -> NowMs> Processing<'_, C> {
    /// Handles one SQS record, whatever it carries: an operator record is
    /// stored, an Envelope (new or replayed) processed, and a record left for
    /// redelivery says why in its failure record.
    pub async fn handle_message(&self, record: &SqsMessage) -> RecordOutcome {
        only(self.handle_messages(std::slice::from_ref(record)).await)
    }

    /// [`Processing::handle_message`] for every record of a batch, with one delivery call
    /// per destination for all of them.
    async fn handle_messages(&self, records: &[SqsMessage]) -> Vec<RecordOutcome> {
        let outcomes = self.process_records(records).await;
        join_all(records.iter().zip(outcomes).map(|(record, outcome)| async move {
            if let Some(reason) = outcome.failure_reason() {
                self.record_failure(record, reason).await;
            }
            outcome
        }))
        .await
    }

    /// Stores an operator record. Never fails the message: a refusal record is
    /// diagnosis, and retrying one would only carry it to the dead-letter queue,
    /// whose alarm is about events.
    async fn store_record(&self, kind: &str, record: &SqsMessage) {
        let now = (self.clock)();
        let message_id = record.message_id.as_deref().unwrap_or("?");
        if kind != REFUSAL_RECORD {
            warn!(message_id, kind, "unknown record kind dropped");
            return;
        }
        let refusal: RefusalRecord = match record.body.as_deref().map(serde_json::from_str) {
            Some(Ok(refusal)) => refusal,
            Some(Err(e)) => {
                warn!(message_id, reason = %e, "unreadable refusal record dropped");
                return;
            }
            None => {
                warn!(message_id, "refusal record without a body dropped");
                return;
            }
        };
        let settings = &self.invocation.operations;
        let expiration = now.secs().saturating_add(i64::try_from(settings.refusal_ttl.as_secs()).unwrap_or(i64::MAX));
        match self.store.record_refusal(&refusal, settings.refusal_cap, expiration).await {
            Ok(()) => {
                info!(provider = %refusal.provider, class = %refusal.class, status = refusal.status, "refusal recorded")
            }
            Err(e) => {
                error!(message_id, provider = %refusal.provider, reason = %e, "refusal record not stored; dropped")
            }
        }
    }

    /// Writes why a record was left for redelivery (one write); a failure to
    /// write it is logged and changes nothing about the record's outcome.
    async fn record_failure(&self, record: &SqsMessage, reason: String) {
        let now = (self.clock)();
        let Some(message_id) = record.message_id.clone() else { return };
        let envelope = record.body.as_deref().and_then(|body| Envelope::decode(body).ok());
        let failure = FailureRecord {
            message_id,
            reason,
            event_id: envelope.as_ref().map(|e| e.id.clone()),
            provider: envelope.map(|e| e.provider),
            receive_count: record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()),
            at_ms: now.0,
        };
        let ttl = i64::try_from(self.invocation.operations.failure_ttl.as_secs()).unwrap_or(i64::MAX);
        if let Err(e) = self.store.record_failure(&failure, now.secs().saturating_add(ttl)).await {
            error!(message_id = %failure.message_id, reason = %e, "failure record not written");
        }
    }

    /// Runs the lock → sinks → destinations → complete sequence for one record.
    ///
    /// A replay (`inlet-replay` attribute: only holders of the queue's
    /// SendMessage permission can set it; receivers never do) runs the same
    /// sequence under its own key, [`replay_key`], so a redelivered replay runs
    /// the sinks once and delivers once; the sinks and destinations get the
    /// Envelope unchanged, `inlet-replay-destination` limits it to one
    /// destination, and on completion the event's own record counts the replay.
    pub async fn process_record(&self, record: &SqsMessage) -> RecordOutcome {
        only(self.process_records(std::slice::from_ref(record)).await)
    }

    /// The three steps of the module's text for the records of one batch. On a
    /// FIFO queue (per-conversation ordering; its records carry a
    /// `MessageGroupId`) they run in rounds, one record of each conversation a
    /// round in queue order, so no event is delivered before the one ahead of
    /// it settled; once a record of a conversation is not acknowledged, every
    /// later record of it in the batch is failed too, and SQS redelivers them
    /// in order after it.
    async fn process_records(&self, records: &[SqsMessage]) -> Vec<RecordOutcome> {
        let all: Vec<&SqsMessage> = records.iter().collect();
        if !records.iter().any(|record| group_of(record).is_some()) {
            return self.process_round(&all).await;
        }
        // Each record's place in its conversation; a record without a group
        // (not sent by inlet) is a conversation of its own.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let ranks: Vec<usize> = records
            .iter()
            .map(|record| match group_of(record) {
                Some(group) => {
                    let rank = seen.entry(group).or_insert(0);
                    *rank += 1;
                    *rank - 1
                }
                None => 0,
            })
            .collect();
        let mut outcomes: Vec<Option<RecordOutcome>> = records.iter().map(|_| None).collect();
        let mut stopped: HashSet<&str> = HashSet::new();
        for round in 0..=ranks.iter().copied().max().unwrap_or(0) {
            let mut members = Vec::new();
            for (index, record) in records.iter().enumerate().filter(|(index, _)| ranks[*index] == round) {
                match group_of(record) {
                    Some(group) if stopped.contains(group) => {
                        outcomes[index] = Some(RecordOutcome::Failed(format!(
                            "held back: an earlier event of conversation {group} in this batch was not acknowledged, \
                             and its conversation is kept in order"
                        )));
                    }
                    _ => members.push(index),
                }
            }
            let round_records: Vec<&SqsMessage> = members.iter().map(|&index| &records[index]).collect();
            let round_outcomes = self.process_round(&round_records).await;
            for (index, outcome) in members.into_iter().zip(round_outcomes) {
                if !outcome.acknowledged()
                    && let Some(group) = group_of(&records[index])
                {
                    stopped.insert(group);
                }
                outcomes[index] = Some(outcome);
            }
        }
        outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or_else(|| RecordOutcome::Failed("not processed".into())))
            .collect()
    }

    /// Claim and sinks per record, delivery per destination, settle per record.
    async fn process_round(&self, records: &[&SqsMessage]) -> Vec<RecordOutcome> {
        let invocation = self.invocation;
        let steps = join_all(records.iter().map(|record| self.claim_and_run_sinks(record))).await;
        let results = deliver(&steps, invocation).await;
        if invocation.metrics.enabled() {
            for line in destination_metrics(&steps, &results, &invocation.targets, (self.clock)()) {
                invocation.metrics.emit(&line.line());
            }
        }
        join_all(steps.into_iter().zip(results).map(|(step, results)| async move {
            match step {
                Step::Done(outcome) => outcome,
                Step::Claimed(claimed) => self.settle(*claimed, results).await,
            }
        }))
        .await
    }

    async fn claim_and_run_sinks<'r>(&self, record: &'r SqsMessage) -> Step<'r> {
        let Processing { invocation, store, sinks, clock } = *self;
        if let Some(kind) = attribute(record, RECORD_ATTRIBUTE) {
            self.store_record(kind, record).await;
            return Step::Done(RecordOutcome::Recorded);
        }
        let message_id = record.message_id.as_deref().unwrap_or("?");
        let Some(body) = record.body.as_deref() else {
            return Step::Done(RecordOutcome::Failed("record has no body".into()));
        };
        let envelope = match Envelope::decode(body) {
            Ok(envelope) => envelope,
            Err(e) => {
                error!(message_id, reason = %e, "record is not an Envelope");
                return Step::Done(RecordOutcome::Failed(format!("not an Envelope: {e}")));
            }
        };
        let replay_id = attribute(record, REPLAY_ATTRIBUTE);
        let claimed = match replay_id {
            None => envelope.clone(),
            Some(replay_id) if valid_replay_id(replay_id) => {
                Envelope { id: replay_key(&envelope.id, replay_id), ..envelope.clone() }
            }
            Some(_) => {
                error!(message_id, "replay id is not 1 to 128 letters, digits, '-', '_' or '.'");
                return Step::Done(RecordOutcome::Failed("invalid replay id".into()));
            }
        };
        let id = claimed.id.as_str();
        let now = clock();
        let lease = invocation.lease_for(record, message_id, now);
        let progress = match store.claim(&claimed, &lease, now).await {
            Ok(Claim::Acquired(progress)) => progress,
            Ok(Claim::Completed { same_payload }) => {
                if !same_payload {
                    warn!(
                        id,
                        "DUPLICATE ID WITH A DIFFERENT PAYLOAD: the provider reused an event id; the first payload was kept"
                    );
                }
                info!(id, "duplicate skipped");
                return Step::Done(RecordOutcome::Duplicate);
            }
            Ok(Claim::InProgress) => {
                info!(id, "in progress elsewhere; left for redelivery");
                return Step::Done(RecordOutcome::InProgressElsewhere);
            }
            Err(e) => {
                error!(id, reason = %e, "dedup lock failed");
                return Step::Done(RecordOutcome::Failed(e.to_string()));
            }
        };
        for sink in sinks {
            if let Err(e) = sink.handle(&envelope).await {
                error!(id, sink = sink.name(), reason = %e.reason, "sink failed; releasing the lock for redelivery");
                release(store, id, &lease.owner, &progress).await;
                return Step::Done(RecordOutcome::Failed(e.to_string()));
            }
        }
        let owed = if invocation.targets.is_empty() {
            Vec::new()
        } else {
            // Patterns read the Envelope as JSON: the bytes the queue carried.
            match serde_json::from_str::<serde_json::Value>(body) {
                Ok(json) => invocation.targets.owed(&json, &progress, attribute(record, REPLAY_DESTINATION_ATTRIBUTE)),
                Err(e) => {
                    release(store, id, &lease.owner, &progress).await;
                    return Step::Done(RecordOutcome::Failed(format!("Envelope not readable as JSON: {e}")));
                }
            }
        };
        Step::Claimed(Box::new(Claimed { body, envelope, claimed, replay_id, lease, progress, owed }))
    }

    /// Notes each delivery in the event's progress; completes the event when
    /// every destination it owed is settled, or releases it for a backed-off
    /// redelivery that calls only what is still owed.
    async fn settle(
        &self,
        mut claimed: Claimed<'_>,
        results: Vec<(usize, Result<(), DeliveryError>)>,
    ) -> RecordOutcome {
        let Processing { invocation, store, clock, .. } = *self;
        let id = claimed.claimed.id.clone();
        let now = clock();
        let mut retry_after = None;
        let mut not_delivered = Vec::new();
        for (index, result) in &results {
            let Some(target) = invocation.targets.get(*index) else { continue };
            let name = target.name();
            match result {
                Ok(()) => {
                    info!(id = %id, destination = name, "delivered");
                    claimed.progress.note(name, Ok(()), now);
                }
                Err(e) => {
                    if e.is_permanent() {
                        error!(id = %id, destination = name, reason = %e.reason, "PERMANENT DELIVERY FAILURE: the destination refused the event; not retried");
                    } else {
                        warn!(id = %id, destination = name, reason = %e.reason, "delivery failed; owed to a redelivery");
                        not_delivered.push(format!("{name}: {}", e.reason));
                        if let Retry::Later { after: Some(after) } = e.retry {
                            retry_after = retry_after.max(Some(after));
                        }
                    }
                    claimed.progress.note(name, Err((e.is_permanent(), &e.reason)), now);
                }
            }
        }
        if !not_delivered.is_empty() {
            release(store, &id, &claimed.lease.owner, &claimed.progress).await;
            return RecordOutcome::NotDelivered {
                reason: format!("not delivered: {}", not_delivered.join("; ")),
                retry_after,
            };
        }
        let envelope = &claimed.envelope;
        let completion = Completion::new(&claimed.claimed, &claimed.lease.owner, clock());
        match store.complete(completion.with_progress(&claimed.progress)).await {
            Ok(Ownership::Held) => {
                info!(id = %id, provider = %envelope.provider, kind = %envelope.kind, "processed");
                if let Some(replay_id) = claimed.replay_id {
                    // After the completion: a replay is counted at most once; a
                    // crash in between leaves it run but uncounted.
                    match store.count_replay(&envelope.id, replay_id, clock()).await {
                        Ok(true) => info!(id = %envelope.id, replay_id, "replay counted on the event's record"),
                        Ok(false) => {
                            warn!(id = %envelope.id, replay_id, "the event's record is gone; replay not counted")
                        }
                        Err(e) => error!(id = %envelope.id, replay_id, reason = %e, "replay not counted"),
                    }
                }
                RecordOutcome::Processed
            }
            Ok(Ownership::Lost) => {
                warn!(
                    id = %id,
                    owner = %claimed.lease.owner,
                    "lock taken over before completion (this attempt outlived its lease); left for redelivery"
                );
                RecordOutcome::LostLock
            }
            Err(e) => {
                // The sinks ran; reporting a failure means a redelivery may find
                // the lease over and run them again (`sink_runs` shows it).
                error!(id = %id, reason = %e, "marking completed failed");
                RecordOutcome::Failed(e.to_string())
            }
        }
    }
}

/// Longest replay id accepted: the CLI's are about 30 characters.
const MAX_REPLAY_ID_CHARS: usize = 128;

fn valid_replay_id(replay_id: &str) -> bool {
    !replay_id.is_empty()
        && replay_id.len() <= MAX_REPLAY_ID_CHARS
        && replay_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// An event whose lock this attempt holds, between the claim and the end.
struct Claimed<'r> {
    body: &'r str,
    envelope: Envelope,
    /// The key the lock is on: the Envelope's id, or a replay's key.
    claimed: Envelope,
    replay_id: Option<&'r str>,
    lease: Lease,
    progress: Progress,
    /// Indexes into the invocation's targets of the destinations owed.
    owed: Vec<usize>,
}

enum Step<'r> {
    Done(RecordOutcome),
    Claimed(Box<Claimed<'r>>),
}

/// The FIFO message group of a record (Lambda passes it among the record's
/// attributes).
fn group_of(record: &SqsMessage) -> Option<&str> {
    record.attributes.get("MessageGroupId").map(String::as_str)
}

/// Each destination's deliveries in this batch, for its metric line: only
/// destinations that were called.
fn destination_metrics(
    steps: &[Step<'_>],
    results: &[Vec<(usize, Result<(), DeliveryError>)>],
    targets: &Targets,
    now: NowMs,
) -> Vec<DestinationMetrics> {
    let mut by_target: Vec<Option<DestinationMetrics>> = targets.iter().map(|_| None).collect();
    for (step, results) in steps.iter().zip(results) {
        let Step::Claimed(claimed) = step else { continue };
        for (index, result) in results {
            let (Some(slot), Some(target)) = (by_target.get_mut(*index), targets.get(*index)) else { continue };
            let metrics = slot.get_or_insert_with(|| DestinationMetrics {
                destination: target.name().to_string(),
                ..DestinationMetrics::default()
            });
            match result {
                Ok(()) => {
                    metrics.delivered += 1;
                    if let Some(at_ms) = inlet_shared::envelope::received_at_ms(claimed.body) {
                        metrics.latencies_ms.push(now.0.saturating_sub(at_ms) as f64);
                    }
                }
                Err(e) if e.is_permanent() => metrics.refused += 1,
                Err(_) => metrics.failed += 1,
            }
        }
    }
    by_target.into_iter().flatten().collect()
}

/// Releases a lock after a failure; a failure to release only means the
/// redelivery waits for the lease to end.
async fn release(store: &dyn ProcessorStore, id: &str, owner: &str, progress: &Progress) {
    match store.release(id, owner, progress).await {
        Ok(Ownership::Held) => {}
        Ok(Ownership::Lost) => warn!(id, "lock already taken over; nothing to release"),
        Err(release_error) => error!(id, reason = %release_error, "lock release failed"),
    }
}

/// Each claimed step's delivery results: (target index, result), one call
/// per destination for every event of the batch that owes it.
async fn deliver(steps: &[Step<'_>], invocation: &Invocation) -> Vec<Vec<(usize, Result<(), DeliveryError>)>> {
    let targets = &invocation.targets;
    let mut results: Vec<Vec<(usize, Result<(), DeliveryError>)>> = steps.iter().map(|_| Vec::new()).collect();
    let calls = targets.iter().enumerate().map(|(index, target)| async move {
        let members: Vec<(usize, &Claimed)> = steps
            .iter()
            .enumerate()
            .filter_map(|(at, step)| match step {
                Step::Claimed(claimed) if claimed.owed.contains(&index) => Some((at, claimed.as_ref())),
                _ => None,
            })
            .collect();
        if members.is_empty() {
            return (index, Vec::new());
        }
        let outgoing: Vec<Outgoing> =
            members.iter().map(|(_, claimed)| Outgoing { envelope: &claimed.envelope, body: claimed.body }).collect();
        let mut answers = target.destination.deliver(&outgoing).await.into_iter();
        let delivered = members.iter().map(|(at, claimed)| {
            // A destination that answers fewer results than events is
            // broken; what it left out is owed again.
            let result = answers.next().unwrap_or_else(|| {
                Err(DeliveryError::transient(format!("destination {} gave no result", target.name())))
            });
            async move { (*at, queue_reply(result, &claimed.envelope, target.name(), invocation).await) }
        });
        (index, join_all(delivered).await)
    });
    for (index, delivered) in join_all(calls).await {
        for (at, result) in delivered {
            results[at].push((index, result));
        }
    }
    results
}

/// Queues the reply a destination answered with, if any. The delivery
/// counts as done only once its reply is on the reply queue: if the queue
/// refuses it, the destination is owed again (its endpoint sees the same
/// `webhook-id` and answers again), and the reply's id (the event and the
/// destination) keeps a reply queued twice from being posted twice. A reply
/// that can never be sent (malformed, an event without a conversation, no
/// reply queue configured) is logged and the delivery stands.
async fn queue_reply(
    result: Delivery,
    envelope: &Envelope,
    destination: &str,
    invocation: &Invocation,
) -> Result<(), DeliveryError> {
    let Some(reply) = result?.reply else { return Ok(()) };
    let id = envelope.id.as_str();
    let refused = |reason: String| {
        error!(id, destination, reason = %reason, "REPLY REFUSED: the destination's reply cannot be sent; the delivery stands");
        Ok(())
    };
    let reply = match Reply::from_json(&reply) {
        Ok(reply) => reply,
        Err(reason) => return refused(reason),
    };
    if !inlet_shared::reply::PROVIDERS.contains(&envelope.provider.as_str()) {
        return refused(format!("inlet cannot answer {} events", envelope.provider));
    }
    let target = match ReplyTarget::of(envelope) {
        Ok(target) => target,
        Err(error) => return refused(error.reason),
    };
    let Some(outbox) = invocation.replies.as_deref() else {
        return refused(format!("{} is not set", inlet_shared::reply::request::QUEUE_URL_SETTING));
    };
    let request = ReplyRequest::new(id, reply).with_id(format!("destination:{destination}")).with_target(target);
    let size = request.to_json().len();
    if size > MAX_REQUEST_BYTES {
        return refused(format!(
            "the reply request is {size} bytes; the reply function takes at most {MAX_REQUEST_BYTES}"
        ));
    }
    match outbox.send(&request).await {
        Ok(()) => {
            info!(id, destination, reply = %request.dedup_key(), "reply queued");
            Ok(())
        }
        Err(reason) => Err(DeliveryError::transient(format!("answered with a reply that was not queued: {reason}"))),
    }
}
