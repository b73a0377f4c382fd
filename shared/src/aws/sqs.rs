//! The SQS adapters every flow shares: the publisher that puts Envelopes
//! and records on the event queue, and the redelivery delay that lengthens
//! a failed message's visibility.

use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use crate::queue::*;

pub struct SqsPublisher {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    max_message_bytes: usize,
}

impl SqsPublisher {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsPublisher { client, queue_url: queue_url.into(), max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES }
    }

    /// For a queue whose MaximumMessageSize is not the default.
    pub fn with_max_message_bytes(mut self, max_message_bytes: usize) -> Self {
        self.max_message_bytes = max_message_bytes;
        self
    }

    /// Opens the connection to the queue during init, so the first request
    /// after a cold start does not pay for DNS, TCP and TLS on its way to
    /// the acknowledgement (Lambda runs init before any request, and with
    /// provisioned concurrency or proactive starts, long before). A cheap
    /// `GetQueueAttributes`, bounded by `limit`; a failure is only logged:
    /// the first request then connects itself, or answers 503.
    pub async fn warm_up(&self, limit: std::time::Duration) {
        let call = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send();
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(_)) => tracing::debug!("queue connection opened during init"),
            Ok(Err(error)) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), "queue warm-up failed")
            }
            Err(_) => tracing::warn!(limit_ms = limit.as_millis() as u64, "queue warm-up timed out"),
        }
    }

    /// Builds an SQS client that gives up within `timeout` (with at most one
    /// retry), so a queue outage turns into a 503 inside the platform's deadline.
    pub fn client_with_timeout(sdk: &aws_types::SdkConfig, timeout: std::time::Duration) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(
                aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout)
                    .connect_timeout(timeout / 2)
                    .build(),
            )
            .retry_config(aws_sdk_sqs::config::retry::RetryConfig::standard().with_max_attempts(2))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    fn attribute(value: &str) -> MessageAttributeValue {
        MessageAttributeValue::builder()
            .data_type(ATTRIBUTE_TYPE)
            .string_value(value)
            .build()
            .expect("data_type is set")
    }

    /// A FIFO queue (per-conversation ordering): SQS requires its name, the
    /// URL's last segment, to end in `.fifo`.
    fn is_fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }

    /// FIFO's group and deduplication id of `message`: its conversation, and
    /// its id (the same on a platform's retry, so SQS drops the copy within
    /// its 5-minute window; the processor's dedup covers the rest).
    fn fifo_ids(&self, message: &QueueMessage) -> Option<(String, String)> {
        self.is_fifo().then(|| (message.group.clone(), crate::queue::deduplication_id(&message.id)))
    }

    async fn send_one(&self, message: &QueueMessage) -> Result<(), PublishError> {
        let mut request = self.client.send_message().queue_url(&self.queue_url).message_body(&message.body);
        if let Some((group, deduplication)) = self.fifo_ids(message) {
            request = request.message_group_id(group).message_deduplication_id(deduplication);
        }
        for (name, value) in &message.attributes {
            request = request.message_attributes(*name, Self::attribute(value));
        }
        request.send().await.map_err(|error| {
            let refused = error
                .as_service_error()
                .is_some_and(|e| e.is_invalid_message_contents() || e.meta().code() == Some("InvalidParameterValue"));
            let reason = aws_sdk_sqs::error::DisplayErrorContext(error).to_string();
            if refused { PublishError::Refused(reason) } else { PublishError::Unavailable(reason) }
        })?;
        Ok(())
    }

    async fn send_batch(&self, batch: &[QueueMessage]) -> Result<(), PublishError> {
        let entries = batch
            .iter()
            .enumerate()
            .map(|(i, message)| {
                let mut entry = SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(&message.body);
                if let Some((group, deduplication)) = self.fifo_ids(message) {
                    entry = entry.message_group_id(group).message_deduplication_id(deduplication);
                }
                for (name, value) in &message.attributes {
                    entry = entry.message_attributes(*name, Self::attribute(value));
                }
                entry.build().expect("id and body are set")
            })
            .collect::<Vec<_>>();
        let output = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| PublishError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        if let Some(failed) = output.failed().first() {
            let reason = format!(
                "{} of {} messages refused, first: {} {}",
                output.failed().len(),
                batch.len(),
                failed.code(),
                failed.message().unwrap_or_default()
            );
            // Entries the queue refused for their content fail the same way
            // on every retry; anything else (throttling, internal) may pass.
            return Err(if output.failed().iter().all(|f| f.sender_fault()) {
                PublishError::Refused(reason)
            } else {
                PublishError::Unavailable(reason)
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Publisher for SqsPublisher {
    async fn publish(&self, messages: &[QueueMessage]) -> Result<(), PublishError> {
        for batch in batches(messages) {
            match batch {
                [one] => self.send_one(one).await?,
                many => self.send_batch(many).await?,
            }
        }
        Ok(())
    }

    fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }
}

/// Lengthens the visibility of each `(record, wait)`: the schedule's delay
/// for the record's receive count, or the wait the failure named (a
/// `Retry-After`, a platform's throttling) when that is later. A delay that
/// cannot be set leaves the queue's own visibility timeout in charge.
pub async fn delay_redeliveries<'r>(
    redelivery: &dyn Redelivery,
    schedule: &RedeliverySchedule,
    waits: impl Iterator<Item = (&'r aws_lambda_events::sqs::SqsMessage, Option<std::time::Duration>)>,
) {
    let delays = waits.map(|(record, wait)| {
        let receive_count = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok());
        let delay = schedule.delay(receive_count.unwrap_or(1)).max(wait.unwrap_or_default());
        async move {
            let (Some(arn), Some(handle)) = (record.event_source_arn.as_deref(), record.receipt_handle.as_deref())
            else {
                return;
            };
            match redelivery.delay(arn, handle, delay).await {
                Ok(()) => {
                    tracing::info!(message_id = ?record.message_id, delay_secs = delay.as_secs(), "redelivery delayed")
                }
                Err(e) => tracing::warn!(message_id = ?record.message_id, reason = %e, "redelivery delay not set"),
            }
        }
    });
    futures::future::join_all(delays).await;
}

/// [`Redelivery`] through SQS's ChangeMessageVisibility. The queue URL of an
/// event source ARN is asked of SQS once (GetQueueUrl with the owner's
/// account), so the same code serves AWS and the local emulator.
pub struct SqsRedelivery {
    client: aws_sdk_sqs::Client,
    urls: Mutex<std::collections::HashMap<String, String>>,
}

impl SqsRedelivery {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        SqsRedelivery { client, urls: Mutex::new(std::collections::HashMap::new()) }
    }

    async fn queue_url(&self, queue_arn: &str) -> Result<String, String> {
        if let Some(url) = self.urls.lock().ok().and_then(|urls| urls.get(queue_arn).cloned()) {
            return Ok(url);
        }
        // arn:<partition>:sqs:<region>:<account>:<name>
        let parts: Vec<&str> = queue_arn.splitn(6, ':').collect();
        let [_, _, "sqs", _, account, name] = parts.as_slice() else {
            return Err(format!("not an SQS queue ARN: {queue_arn}"));
        };
        let url = self
            .client
            .get_queue_url()
            .queue_name(*name)
            .queue_owner_aws_account_id(*account)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
            .queue_url
            .ok_or("GetQueueUrl answered no URL")?;
        if let Ok(mut urls) = self.urls.lock() {
            urls.insert(queue_arn.to_string(), url.clone());
        }
        Ok(url)
    }
}

#[async_trait]
impl Redelivery for SqsRedelivery {
    async fn delay(&self, queue_arn: &str, receipt_handle: &str, delay: std::time::Duration) -> Result<(), String> {
        let url = self.queue_url(queue_arn).await?;
        // SQS's limit for one visibility timeout.
        let seconds = delay.as_secs().min(43_200) as i32;
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    }
}

/// What the end of a batch needs to know of one record's outcome: the
/// processor's and the reply function's outcomes answer it.
pub trait BatchOutcome {
    /// Done with: SQS deletes the message. Anything else comes back.
    fn acknowledged(&self) -> bool;
    /// Comes back because its work is owed (a destination or a platform
    /// failed): `Some(wait)`, with the wait the failure named if any, so its
    /// visibility follows the redelivery schedule. None leaves the queue's
    /// own visibility timeout in charge.
    fn redelivery_wait(&self) -> Option<Option<std::time::Duration>>;
}

/// Ends a batch: lengthens the visibility of each record whose work is owed
/// (when a [`Redelivery`] is given), and answers SQS with the records that
/// must come back (partial batch failures, by message id).
pub async fn finish_batch<O: BatchOutcome>(
    records: &[aws_lambda_events::sqs::SqsMessage],
    outcomes: &[O],
    redelivery: Option<&dyn Redelivery>,
    schedule: &RedeliverySchedule,
) -> aws_lambda_events::sqs::SqsBatchResponse {
    let mut response = aws_lambda_events::sqs::SqsBatchResponse::default();
    for (record, _) in records.iter().zip(outcomes).filter(|(_, outcome)| !outcome.acknowledged()) {
        let mut failure = aws_lambda_events::sqs::BatchItemFailure::default();
        failure.item_identifier = record.message_id.clone().unwrap_or_default();
        response.batch_item_failures.push(failure);
    }
    if let Some(redelivery) = redelivery {
        let waits =
            records.iter().zip(outcomes).filter_map(|(record, outcome)| Some((record, outcome.redelivery_wait()?)));
        delay_redeliveries(redelivery, schedule, waits).await;
    }
    response
}
