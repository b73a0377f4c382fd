//! The SQS destination: each Envelope, byte for byte the body the event queue
//! carried, as one message on the team's queue, standard or FIFO.
//!
//! Messages go out with SendMessageBatch, at most [`MAX_BATCH_ENTRIES`] and
//! [`MAX_BATCH_BYTES`] a call, and each is reported on its own. On a FIFO
//! queue (its URL ends in `.fifo`) the `MessageGroupId` is the event's
//! conversation ([`conversation_of`]) and the `MessageDeduplicationId` comes
//! from the Envelope id ([`deduplication_id`]), so a retry inside SQS's
//! five-minute window is not a second message.

use std::collections::HashSet;
use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::send_message_batch::{SendMessageBatchError, SendMessageBatchOutput};
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchRequestEntry};

use super::{Delivery, DeliveryError, Destination, Outgoing, finish, screen_sizes};
use crate::queue::{conversation_of, deduplication_id};

/// SendMessageBatch takes at most ten messages…
pub const MAX_BATCH_ENTRIES: usize = 10;
/// …whose sizes add up to at most 1 MiB: since 2025 the limit of a single
/// message (a queue's MaximumMessageSize can be set up to it) and of a
/// batch's total are both 1,048,576 bytes. A queue configured for less
/// refuses a larger message itself; see [`SqsDestination::deliver`].
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// No queue takes a message larger than this.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// A queue of the team's. `name` is the destination's name in
/// `INLET_DESTINATIONS`; `queue_url` says whether the queue is FIFO.
pub struct SqsDestination {
    pub name: String,
    pub queue_url: String,
    pub client: aws_sdk_sqs::Client,
}

impl SqsDestination {
    /// SQS requires a FIFO queue's name to end in `.fifo`, and the URL ends
    /// in the name.
    pub fn is_fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }

    /// One SendMessageBatch of `batch` (indices into `events`); on success,
    /// one result per entry of `batch`, in its order.
    async fn send(
        &self,
        events: &[Outgoing<'_>],
        batch: &[usize],
    ) -> Result<Vec<Result<(), DeliveryError>>, SdkError<SendMessageBatchError>> {
        let fifo = self.is_fifo();
        let entries = batch
            .iter()
            .enumerate()
            .map(|(position, &index)| {
                let event = &events[index];
                let entry = SendMessageBatchRequestEntry::builder().id(position.to_string()).message_body(event.body);
                let entry = if fifo {
                    entry
                        .message_group_id(conversation_of(event.envelope))
                        .message_deduplication_id(deduplication_id(&event.envelope.id))
                } else {
                    entry
                };
                entry.build().expect("id and body are set")
            })
            .collect::<Vec<_>>();
        let output =
            self.client.send_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await?;
        Ok(entry_results(&output, batch.len()))
    }
}

/// Cuts entries of the given sizes into consecutive calls of at most
/// `max_entries` entries and `max_bytes` bytes in all, keeping their order.
/// An entry larger than `max_bytes` goes alone (callers refuse those before).
pub fn split_calls(sizes: &[usize], max_entries: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let mut calls = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, &size) in sizes.iter().enumerate() {
        if index - start == max_entries || (index > start && bytes + size > max_bytes) {
            calls.push(start..index);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        calls.push(start..sizes.len());
    }
    calls
}

/// Each entry's answer. SQS names failed entries by the batch id we gave
/// (the position); an entry it reports neither way is retried.
fn entry_results(output: &SendMessageBatchOutput, len: usize) -> Vec<Result<(), DeliveryError>> {
    let mut results = vec![Err(DeliveryError::transient("SQS reported nothing on this message")); len];
    for done in output.successful() {
        if let Some(slot) = done.id().parse::<usize>().ok().and_then(|p| results.get_mut(p)) {
            *slot = Ok(());
        }
    }
    for failed in output.failed() {
        if let Some(slot) = failed.id().parse::<usize>().ok().and_then(|p| results.get_mut(p)) {
            *slot = Err(entry_error(failed));
        }
    }
    results
}

/// A failed entry: the sender's fault (its content) is permanent; SQS's
/// own (internal errors, throttling) is transient. KMS and access errors
/// are the deployment's, fixed by a change of configuration, so they are
/// retried and the DLQ keeps the event meanwhile.
fn entry_error(failed: &BatchResultErrorEntry) -> DeliveryError {
    let reason = format!("SQS refused the message: {} {}", failed.code(), failed.message().unwrap_or_default());
    let configuration = failed.code().to_ascii_lowercase().starts_with("kms") || failed.code().contains("AccessDenied");
    if failed.sender_fault() && !configuration {
        DeliveryError::permanent(reason)
    } else {
        DeliveryError::transient(reason)
    }
}

/// Whether a whole-call error is about a message's content (too long for
/// the queue, characters SQS refuses, over the batch total): the same
/// message fails the same way on every retry. Everything else (throttling,
/// 5xx, transport, a queue that does not exist or may not be written) is
/// transient. A missing queue or a denied access is a configuration error
/// that a retry does not fix at once but a deploy does: the event stays
/// owed, and after the last receive the DLQ keeps it for `inlet redrive`.
fn refuses_content(error: &SdkError<SendMessageBatchError>) -> bool {
    error.as_service_error().is_some_and(|e| {
        e.is_batch_request_too_long()
            || matches!(
                e.code(),
                Some(
                    "InvalidParameterValue"
                        | "InvalidMessageContents"
                        | "AWS.SimpleQueueService.InvalidMessageContents"
                        | "MessageTooLong"
                )
            )
    })
}

fn call_error(error: &SdkError<SendMessageBatchError>, queue_url: &str) -> DeliveryError {
    let reason = format!("SendMessageBatch to {queue_url} failed: {}", describe(error));
    if refuses_content(error) { DeliveryError::permanent(reason) } else { DeliveryError::transient(reason) }
}

/// A short account of a failed call for the log and the dedup record: the
/// service's error code and message, or the chain of causes (a timeout, a
/// connection refused), never the raw response.
pub(crate) fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(service) = error.as_service_error() {
        let code = service.code().unwrap_or("unknown error");
        return match service.message() {
            Some(message) => format!("{code}: {message}"),
            None => code.to_string(),
        };
    }
    crate::aws::json_api::with_causes(error)
}

#[async_trait]
impl Destination for SqsDestination {
    fn name(&self) -> &str {
        &self.name
    }

    /// Sends the events in calls within SQS's limits, one after the other so
    /// a FIFO queue gets them in order. A call refused for the content of a
    /// message (for instance one longer than the queue's MaximumMessageSize)
    /// is repeated one message at a time, so that message fails alone. On a
    /// FIFO queue, once an event of a conversation failed transiently, the
    /// later events of that conversation in this delivery are not sent (they
    /// would overtake it) and are reported transient too.
    async fn deliver(&self, events: &[Outgoing<'_>]) -> Vec<Delivery> {
        let (mut results, sendable, sizes) =
            screen_sizes(events.iter().map(|event| event.body.len()), MAX_MESSAGE_BYTES, |size| {
                format!("event is {size} bytes, over SQS's {MAX_MESSAGE_BYTES}-byte message limit")
            });
        let groups: Vec<Option<String>> = if self.is_fifo() {
            events.iter().map(|e| Some(conversation_of(e.envelope))).collect()
        } else {
            vec![None; events.len()]
        };
        let mut stalled: HashSet<&str> = HashSet::new();
        for call in split_calls(&sizes, MAX_BATCH_ENTRIES, MAX_BATCH_BYTES) {
            let mut batch = Vec::with_capacity(call.len());
            for &index in &sendable[call] {
                match groups[index].as_deref() {
                    Some(group) if stalled.contains(group) => results[index] = Some(Err(held_back())),
                    _ => batch.push(index),
                }
            }
            if batch.is_empty() {
                continue;
            }
            let answers = match self.send(events, &batch).await {
                Ok(answers) => answers,
                Err(error) if batch.len() > 1 && refuses_content(&error) => {
                    let mut answers = Vec::with_capacity(batch.len());
                    for &index in &batch {
                        let answer = match groups[index].as_deref() {
                            Some(group) if stalled.contains(group) => Err(held_back()),
                            _ => match self.send(events, &[index]).await {
                                Ok(mut one) => one.pop().unwrap_or_else(|| Err(DeliveryError::transient("no answer"))),
                                Err(error) => Err(call_error(&error, &self.queue_url)),
                            },
                        };
                        if let (Err(e), Some(group)) = (&answer, groups[index].as_deref())
                            && !e.is_permanent()
                        {
                            stalled.insert(group);
                        }
                        answers.push(answer);
                    }
                    answers
                }
                Err(error) => vec![Err(call_error(&error, &self.queue_url)); batch.len()],
            };
            for (&index, answer) in batch.iter().zip(answers) {
                if let (Err(e), Some(group)) = (&answer, groups[index].as_deref())
                    && !e.is_permanent()
                {
                    stalled.insert(group);
                }
                results[index] = Some(answer);
            }
        }
        finish(results)
    }
}

fn held_back() -> DeliveryError {
    DeliveryError::transient("held back: an earlier event of its conversation was not delivered")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_hold_at_most_ten_entries_and_the_byte_limit() {
        assert_eq!(split_calls(&[1; 25], 10, MAX_BATCH_BYTES), vec![0..10, 10..20, 20..25]);
        assert_eq!(split_calls(&[], 10, MAX_BATCH_BYTES), Vec::<Range<usize>>::new());
        let third = MAX_BATCH_BYTES / 3;
        // Three thirds fit exactly; a fourth byte does not.
        assert_eq!(split_calls(&[third, third, third, 1], 10, 3 * third), vec![0..3, 3..4]);
        assert_eq!(split_calls(&[third, third, third + 1], 10, 3 * third), vec![0..2, 2..3]);
        let big = 400 * 1024;
        assert_eq!(split_calls(&[big, big, big, 10, 10], 10, MAX_BATCH_BYTES), vec![0..2, 2..5]);
        // Every call respects both limits and the order is kept.
        let sizes: Vec<usize> = (0..100).map(|i| (i * 7919) % (MAX_BATCH_BYTES / 2)).collect();
        let calls = split_calls(&sizes, 10, MAX_BATCH_BYTES);
        assert_eq!(calls.first().map(|c| c.start), Some(0));
        assert_eq!(calls.last().map(|c| c.end), Some(100));
        for pair in calls.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        for call in calls {
            assert!(call.len() <= 10 && sizes[call].iter().sum::<usize>() <= MAX_BATCH_BYTES);
        }
    }

    #[test]
    fn a_failed_entry_is_permanent_only_when_it_is_the_senders_fault() {
        let entry = |code: &str, sender_fault: bool| {
            BatchResultErrorEntry::builder().id("0").code(code).sender_fault(sender_fault).build().expect("complete")
        };
        assert!(entry_error(&entry("InvalidMessageContents", true)).is_permanent());
        assert!(!entry_error(&entry("InternalError", false)).is_permanent());
        assert!(!entry_error(&entry("RequestThrottled", false)).is_permanent());
        assert!(!entry_error(&entry("KMS.AccessDeniedException", true)).is_permanent());
    }

    #[test]
    fn answers_are_matched_to_entries_by_batch_id() {
        let output = SendMessageBatchOutput::builder()
            .successful(
                aws_sdk_sqs::types::SendMessageBatchResultEntry::builder()
                    .id("2")
                    .message_id("m")
                    .md5_of_message_body("x")
                    .build()
                    .expect("complete"),
            )
            .failed(
                BatchResultErrorEntry::builder()
                    .id("0")
                    .code("InvalidMessageContents")
                    .sender_fault(true)
                    .build()
                    .expect("complete"),
            )
            .build()
            .expect("complete");
        let results = entry_results(&output, 3);
        assert!(results[0].as_ref().is_err_and(|e| e.is_permanent()));
        assert!(results[1].as_ref().is_err_and(|e| !e.is_permanent()), "an entry without an answer is retried");
        assert!(results[2].is_ok());
    }
}
