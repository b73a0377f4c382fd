//! Feeds SQS batches to the processor the way Lambda's event source mapping
//! does: up to 10 records a batch, delete only what succeeded, leave the
//! reported failures for redelivery after the visibility timeout, and let
//! the queue's redrive policy move a record to the DLQ after
//! maxReceiveCount receives.
//!
//! From a FIFO queue (a `.fifo` URL) as Lambda's FIFO event source mapping:
//! the batch holds each group's records in the group's order, and once a
//! record of a group fails, the later records of that group in the batch
//! are not deleted either, whatever the processor reported for them. They
//! come back after the failed one, in order: the group's first record left
//! keeps its visibility (the processor's backoff), the later ones are made
//! visible at once, and FIFO holds them back while the first is in flight
//! (SQS does so by the group; moto only when the later records are not
//! in flight themselves, or it hands them out before the first).

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
};

use crate::local::sdk_error;
use crate::runtime_api::Function;

/// Something that runs the processor on a batch.
#[async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(&self, event: &SqsEvent) -> Result<SqsBatchResponse, String>;

    /// How long an invoke may take before the pump counts it as failed: the
    /// function's timeout, plus its start.
    fn time_limit(&self) -> Duration {
        Duration::from_secs(15 * 60)
    }
}

/// Invokes the processor in the local Lambda emulator.
pub struct FunctionInvoker {
    pub function: Function,
}

#[async_trait]
impl Invoker for FunctionInvoker {
    async fn invoke(&self, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let payload = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let invoked = self.function.invoke(payload.into()).await.map_err(|e| e.to_string())?;
        serde_json::from_slice(&invoked.payload)
            .map_err(|e| format!("processor answered {:?}: {e}", String::from_utf8_lossy(&invoked.payload)))
    }

    fn time_limit(&self) -> Duration {
        let config = self.function.config();
        config.timeout + config.init_timeout + Duration::from_secs(1)
    }
}

/// What one pump cycle did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PumpStats {
    pub received: usize,
    pub deleted: usize,
    pub left_for_retry: usize,
    /// Why the invoke failed, when it did (the whole batch is left for retry).
    pub invoke_failed: Option<String>,
    /// The Envelope ids of a batch whose invoke failed.
    pub failed_batch_ids: Vec<String>,
}

/// Receives one batch (long-polling up to `wait`), invokes, deletes successes.
pub async fn pump_once(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    queue_arn: &str,
    invoker: &dyn Invoker,
    wait: Duration,
) -> Result<PumpStats, String> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait.as_secs() as i32)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(sdk_error)?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(PumpStats::default());
    }
    let mut event = SqsEvent::default();
    event.records = messages.iter().map(|m| to_lambda_record(m, queue_arn)).collect();
    // A failed, crashed or hung invoke fails the whole batch, as Lambda's
    // event source mapping does; the records come back after the visibility
    // timeout.
    let limit = invoker.time_limit();
    let outcome = match tokio::time::timeout(limit, invoker.invoke(&event)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {limit:?}")),
    };
    let mut invoke_failed = None;
    let failed: Vec<String> = match outcome {
        Ok(response) => response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
        Err(reason) => {
            eprintln!("pump: processor invocation failed, whole batch left for retry: {reason}");
            invoke_failed = Some(reason);
            messages.iter().filter_map(|m| m.message_id.clone()).collect()
        }
    };
    let failed = if is_fifo(queue_url) { fifo_held_back(&messages, failed) } else { failed };
    let failed_batch_ids = if invoke_failed.is_some() { envelope_ids(&messages) } else { Vec::new() };
    let to_delete: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.message_id.as_ref().is_some_and(|id| !failed.contains(id)))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle.clone()?)
                .build()
                .ok()
        })
        .collect();
    if is_fifo(queue_url) {
        release_behind(sqs, queue_url, &fifo_behind(&messages, &failed)).await;
    }
    let deleted = to_delete.len();
    if !to_delete.is_empty() {
        sqs.delete_message_batch().queue_url(queue_url).set_entries(Some(to_delete)).send().await.map_err(sdk_error)?;
    }
    Ok(PumpStats {
        received: messages.len(),
        deleted,
        left_for_retry: messages.len() - deleted,
        invoke_failed,
        failed_batch_ids,
    })
}

/// Whether a queue URL names a FIFO queue.
pub fn is_fifo(queue_url: &str) -> bool {
    queue_url.ends_with(".fifo")
}

/// The message ids a FIFO batch leaves for redelivery: those reported as
/// failed and every later message of the same group in the batch.
pub fn fifo_held_back(messages: &[aws_sdk_sqs::types::Message], failed: Vec<String>) -> Vec<String> {
    let mut broken_groups = std::collections::HashSet::new();
    let mut held = Vec::new();
    for message in messages {
        let Some(id) = message.message_id.as_deref() else { continue };
        let group = message
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get(&MessageSystemAttributeName::MessageGroupId))
            .cloned();
        let after_a_failure = group.as_ref().is_some_and(|g| broken_groups.contains(g));
        if failed.iter().any(|f| f == id) || after_a_failure {
            held.push(id.to_string());
            if let Some(group) = group {
                broken_groups.insert(group);
            }
        }
    }
    // Reported ids that are not in the batch stay as they were reported.
    for id in failed {
        if !held.contains(&id) {
            held.push(id);
        }
    }
    held
}

/// The messages left for redelivery that follow an earlier one of their
/// group in the batch (their receipt handles).
pub fn fifo_behind(messages: &[aws_sdk_sqs::types::Message], held: &[String]) -> Vec<String> {
    let mut groups_seen = std::collections::HashSet::new();
    messages
        .iter()
        .filter(|m| m.message_id.as_ref().is_some_and(|id| held.contains(id)))
        .filter_map(|m| {
            let group = m.attributes.as_ref()?.get(&MessageSystemAttributeName::MessageGroupId)?;
            if groups_seen.insert(group.clone()) { None } else { m.receipt_handle.clone() }
        })
        .collect()
}

/// Makes the messages behind a held-back one visible again (best effort:
/// without it they come back after the queue's visibility timeout).
async fn release_behind(sqs: &aws_sdk_sqs::Client, queue_url: &str, receipt_handles: &[String]) {
    if receipt_handles.is_empty() {
        return;
    }
    let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = receipt_handles
        .iter()
        .enumerate()
        .filter_map(|(i, handle)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(handle)
                .visibility_timeout(0)
                .build()
                .ok()
        })
        .collect();
    let changed = sqs.change_message_visibility_batch().queue_url(queue_url).set_entries(Some(entries)).send().await;
    if let Err(error) = changed {
        eprintln!("pump: records behind a failed one of their group keep their visibility: {}", sdk_error(error));
    }
}

fn envelope_ids(messages: &[aws_sdk_sqs::types::Message]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(m.body.as_deref()?).ok())
        .filter_map(|body| body.get("id")?.as_str().map(str::to_string))
        .collect()
}

fn to_lambda_record(message: &aws_sdk_sqs::types::Message, queue_arn: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id.clone();
    record.receipt_handle = message.receipt_handle.clone();
    record.body = message.body.clone();
    record.md5_of_body = message.md5_of_body.clone();
    record.attributes = message
        .attributes
        .as_ref()
        .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect())
        .unwrap_or_default();
    // String attributes say what a message is (a refusal record, a replay):
    // the event source mapping passes them on, and so does the pump.
    record.message_attributes = message
        .message_attributes
        .as_ref()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| {
                    let mut attribute = aws_lambda_events::sqs::SqsMessageAttribute::default();
                    attribute.string_value = value.string_value.clone();
                    attribute.data_type = Some(value.data_type.clone());
                    (name.clone(), attribute)
                })
                .collect()
        })
        .unwrap_or_default();
    record.event_source = Some("aws:sqs".into());
    record.event_source_arn = Some(queue_arn.to_string());
    record.aws_region = Some("us-east-1".into());
    record
}

/// The ARN of a queue, for the records' `eventSourceARN`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<String, String> {
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sdk_error)?
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .ok_or_else(|| "queue has no ARN".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::Message;

    fn message(id: &str, group: &str) -> Message {
        Message::builder()
            .message_id(id)
            .receipt_handle(format!("handle-{id}"))
            .attributes(MessageSystemAttributeName::MessageGroupId, group)
            .build()
    }

    #[test]
    fn a_failure_holds_back_the_later_records_of_its_group_only() {
        let batch =
            [message("a1", "A"), message("b1", "B"), message("a2", "A"), message("a3", "A"), message("b2", "B")];
        assert_eq!(fifo_held_back(&batch, vec!["a2".into()]), vec!["a2".to_string(), "a3".into()]);
        assert_eq!(
            fifo_held_back(&batch, vec!["a1".into(), "b2".into()]),
            vec!["a1".to_string(), "a2".into(), "a3".into(), "b2".into()]
        );
        assert!(fifo_held_back(&batch, Vec::new()).is_empty());
        let held = fifo_held_back(&batch, vec!["a1".into(), "b2".into()]);
        assert_eq!(
            fifo_behind(&batch, &held),
            ["handle-a2", "handle-a3"],
            "the first of each group keeps its visibility"
        );
        assert!(is_fifo("http://127.0.0.1:5000/123456789012/inlet-events.fifo"));
        assert!(!is_fifo("http://127.0.0.1:5000/123456789012/inlet-events"));
    }
}
