//! Delivery: each new event goes to the team's own code, to every
//! destination whose `match` it satisfies, once per destination.
//!
//! A deployment declares its destinations as data (`INLET_DESTINATIONS`,
//! [`config`]); each is an EventBridge bus, a signed HTTP endpoint or an SQS
//! queue behind the one [`Destination`] trait. Which destinations an event
//! still owes, and what happened at each, live in the event's dedup record,
//! so a retry calls only those that have not succeeded. Retries and backoff
//! are SQS's (the processor lengthens a failed message's visibility); fan-out
//! beyond the configured destinations is EventBridge's.

pub mod config;
#[cfg(feature = "delivery")]
pub mod eventbridge;
pub mod http;
pub mod pattern;
pub mod sqs;
pub mod targets;

use std::time::Duration;

use async_trait::async_trait;

use crate::envelope::Envelope;

/// One event as it leaves: the Envelope and its encoded bytes (what every
/// destination sends: the same bytes the queue carried).
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    pub envelope: &'a Envelope,
    pub body: &'a str,
}

/// What a destination said when it took an event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivered {
    /// A reply the destination asked inlet to send to the event's
    /// conversation (an HTTP destination's answer `{"reply": {...}}`), as it
    /// came: checked when the processor queues it (`crate::reply`).
    pub reply: Option<serde_json::Value>,
}

/// One event's delivery to one destination.
pub type Delivery = Result<Delivered, DeliveryError>;

/// Whether a failed delivery is worth trying again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// A transient failure (timeout, 408, 429, 5xx, throttling, a failed
    /// entry): try again, no sooner than `after` when the destination said.
    Later { after: Option<Duration> },
    /// The destination refused the event for good (an HTTP 4xx other than
    /// 408 and 429, an entry EventBridge or SQS calls invalid): recorded and
    /// alarmed, never retried.
    Never,
}

/// Why one event was not delivered to one destination. `reason` goes to the
/// log and the dedup record: it never holds a secret or a signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    pub retry: Retry,
    pub reason: String,
}

impl DeliveryError {
    pub fn transient(reason: impl Into<String>) -> Self {
        DeliveryError { retry: Retry::Later { after: None }, reason: reason.into() }
    }

    pub fn transient_after(after: Option<Duration>, reason: impl Into<String>) -> Self {
        DeliveryError { retry: Retry::Later { after }, reason: reason.into() }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        DeliveryError { retry: Retry::Never, reason: reason.into() }
    }

    pub fn is_permanent(&self) -> bool {
        self.retry == Retry::Never
    }
}

/// Each event's answer while a batched delivery (EventBridge, SQS) collects
/// them: None until its call answers.
pub(crate) type Answers = Vec<Option<Result<(), DeliveryError>>>;

/// The start of a batched delivery, given each event's size as the service
/// counts it: an answer for each event, a permanent failure (`too_big(size)`)
/// for those over `limit`, which the service would refuse on every attempt,
/// and None for the rest; and the rest to send, as their indices and sizes.
pub(crate) fn screen_sizes(
    sizes: impl IntoIterator<Item = usize>,
    limit: usize,
    too_big: impl Fn(usize) -> String,
) -> (Answers, Vec<usize>, Vec<usize>) {
    let (mut answers, mut sendable, mut sendable_sizes) = (Vec::new(), Vec::new(), Vec::new());
    for (index, size) in sizes.into_iter().enumerate() {
        if size > limit {
            answers.push(Some(Err(DeliveryError::permanent(too_big(size)))));
        } else {
            answers.push(None);
            sendable.push(index);
            sendable_sizes.push(size);
        }
    }
    (answers, sendable, sendable_sizes)
}

/// The end of a batched delivery: each event's answer, transient for one
/// that never got one.
pub(crate) fn finish(answers: Answers) -> Vec<Delivery> {
    answers
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(DeliveryError::transient("not sent"))).map(|()| Delivered::default()))
        .collect()
}

/// One place events are delivered to.
#[async_trait]
pub trait Destination: Send + Sync {
    /// The destination's `name` in `INLET_DESTINATIONS`: the key of its
    /// state in the dedup record, so it must stay stable.
    fn name(&self) -> &str;

    /// Delivers each event; the answer has one result per event, in order.
    /// A destination that sends batches (EventBridge, SQS) splits them at its
    /// service's limits and reports each entry on its own, so that a retry
    /// repeats only the entries that failed. Each event is sent with an id
    /// derived from its Envelope id (`webhook-id`, the SQS deduplication id,
    /// the EventBridge detail's `id`), the same on every attempt.
    async fn deliver(&self, events: &[Outgoing<'_>]) -> Vec<Delivery>;
}
