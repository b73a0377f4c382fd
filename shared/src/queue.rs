//! Publishing Envelopes: the checked queue message, the `Publisher` trait,
//! its SQS adapter, and an in-memory adapter for handler tests.
//!
//! Every Envelope becomes a [`QueueMessage`] through [`QueueMessage::prepare`]
//! before anything is sent: that is where "acknowledged means processable"
//! is checked (the processor's decoder accepts it, it fits the queue's
//! message limit, it holds no character SQS refuses).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use crate::envelope::{Envelope, is_refused_by_sqs};
use crate::operations::{RECORD_ATTRIBUTE, REFUSAL_RECORD, RefusalRecord};

/// Why a publish failed. Either way nothing may be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The queue could not be reached or failed: a retry can help (503).
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("event is {size} bytes, over the {limit}-byte message limit")]
    TooLarge { size: usize, limit: usize },
    /// The queue refused the message's content (its fault code says the
    /// sender's): a retry of the same request cannot help.
    #[error("the queue refused the event: {0}")]
    Refused(String),
}

/// SQS's per-message limit for queues created with default attributes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The largest message size a queue can be configured for.
pub const LARGEST_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// SendMessageBatch takes at most ten entries…
pub const SQS_BATCH_LIMIT: usize = 10;
/// …and at most this many bytes in all (the sum of every entry's body and
/// attributes). 256 KiB is the limit that holds for every queue; a message
/// larger than that is sent on its own.
pub const SQS_BATCH_BYTES: usize = 256 * 1024;
/// Attribute values are routing hints (the body has the exact text): long
/// or odd ones are cut and cleaned so they can never make a message invalid.
const MAX_ATTRIBUTE_CHARS: usize = 256;
const ATTRIBUTE_TYPE: &str = "String";

/// One Envelope as the queue will carry it, already checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    pub body: String,
    /// `(name, value)` string attributes: `provider` and `kind` on an
    /// Envelope, [`RECORD_ATTRIBUTE`] on an operator record.
    pub attributes: Vec<(&'static str, String)>,
    /// The message group on a FIFO queue (per-conversation ordering): the
    /// Envelope's conversation ([`crate::delivery::conversation_of`]); all
    /// operator records share one group.
    pub group: String,
}

/// The group of operator records on a FIFO queue: they are never failed
/// (see the processor), so one group holds nothing up.
pub const RECORDS_GROUP: &str = "inlet-records";

impl QueueMessage {
    /// Encodes `envelope` and proves it will pass every later step:
    /// the processor's decoder accepts the exact bytes (JSON nesting depth
    /// included), and body plus attributes fit `max_message_bytes`.
    pub fn prepare(envelope: &Envelope, max_message_bytes: usize) -> Result<Self, PrepareError> {
        // Encoded, and checked as written against what the processor's
        // decoder accepts.
        let body = envelope.encode_checked().map_err(PrepareError::NotDecodable)?;
        let message = QueueMessage {
            id: envelope.id.clone(),
            body,
            attributes: vec![
                ("provider", attribute_value(&envelope.provider)),
                ("kind", attribute_value(&envelope.kind)),
            ],
            group: crate::delivery::conversation_of(envelope),
        };
        let size = message.size();
        if size > max_message_bytes {
            return Err(PrepareError::TooLarge { size, limit: max_message_bytes });
        }
        Ok(message)
    }

    /// A refusal record as the processor stores it: the record's JSON as the
    /// body, marked by [`RECORD_ATTRIBUTE`] so it never reaches the sinks.
    /// Text SQS would refuse is replaced, so a record can never make the
    /// send fail; it is a few hundred bytes, far below any queue's limit.
    pub fn refusal_record(record: &RefusalRecord) -> Result<Self, serde_json::Error> {
        let body = serde_json::to_string(record)?.chars().map(replace_refused).collect();
        Ok(QueueMessage {
            id: format!("{}{}:{}", crate::operations::REFUSAL_KEY_PREFIX, record.provider, record.at_ms),
            body,
            attributes: vec![(RECORD_ATTRIBUTE, REFUSAL_RECORD.to_string())],
            group: RECORDS_GROUP.to_string(),
        })
    }

    /// The size SQS counts against its limits: the body and, per attribute,
    /// its name, data type and value.
    pub fn size(&self) -> usize {
        self.body.len()
            + self.attributes.iter().map(|(name, value)| name.len() + ATTRIBUTE_TYPE.len() + value.len()).sum::<usize>()
    }
}

/// Why an Envelope cannot be queued; each is the request's fault (4xx).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    #[error("the event would not decode in the processor: {0}")]
    NotDecodable(String),
    #[error("event is {size} bytes, over the queue's {limit}-byte message limit")]
    TooLarge { size: usize, limit: usize },
}

fn attribute_value(text: &str) -> String {
    let cleaned: String = text.chars().take(MAX_ATTRIBUTE_CHARS).map(replace_refused).collect();
    if cleaned.is_empty() { "-".to_string() } else { cleaned }
}

fn replace_refused(c: char) -> char {
    if is_refused_by_sqs(c) || (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) { '\u{fffd}' } else { c }
}

/// Groups messages into SendMessageBatch calls: at most
/// [`SQS_BATCH_LIMIT`] entries and [`SQS_BATCH_BYTES`] bytes each (a message
/// over the byte limit goes alone), keeping their order.
pub fn batches(messages: &[QueueMessage]) -> Vec<&[QueueMessage]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, message) in messages.iter().enumerate() {
        let size = message.size();
        let full = index - start == SQS_BATCH_LIMIT || (index > start && bytes + size > SQS_BATCH_BYTES);
        if full {
            batches.push(&messages[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < messages.len() {
        batches.push(&messages[start..]);
    }
    batches
}

#[async_trait]
pub trait Publisher: Send + Sync {
    /// Returns only once the queue has durably accepted every message.
    async fn publish(&self, messages: &[QueueMessage]) -> Result<(), PublishError>;

    /// The largest message the queue accepts, body and attributes together.
    fn max_message_bytes(&self) -> usize {
        DEFAULT_MAX_MESSAGE_BYTES
    }

    /// Prepares and publishes Envelopes (for tools and tests; the ingress
    /// flow prepares them itself so it can refuse before sending anything).
    async fn publish_envelopes(&self, envelopes: &[Envelope]) -> Result<(), PublishError> {
        let messages = envelopes
            .iter()
            .map(|e| {
                QueueMessage::prepare(e, self.max_message_bytes()).map_err(|error| match error {
                    PrepareError::TooLarge { size, limit } => PublishError::TooLarge { size, limit },
                    PrepareError::NotDecodable(reason) => PublishError::Refused(reason),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.publish(&messages).await
    }
}

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
        self.is_fifo().then(|| (message.group.clone(), crate::delivery::sqs::deduplication_id(&message.id)))
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

/// Keeps published messages in memory; can be switched "down" to test the
/// queue-outage path. Operator records (refusals) are kept apart from the
/// events, so a test of what a request enqueued sees the events alone.
#[derive(Default)]
pub struct MemoryPublisher {
    sent: Mutex<Vec<QueueMessage>>,
    records: Mutex<Vec<QueueMessage>>,
    calls: Mutex<Vec<usize>>,
    down: AtomicBool,
}

impl MemoryPublisher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn down() -> Self {
        let publisher = Self::default();
        publisher.down.store(true, Ordering::SeqCst);
        publisher
    }
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    /// The Envelopes sent, decoded from their messages with the processor's decoder.
    pub fn sent(&self) -> Vec<Envelope> {
        self.sent_messages().iter().filter_map(|m| Envelope::decode(&m.body).ok()).collect()
    }
    /// The event messages sent (operator records apart: see [`Self::records`]).
    pub fn sent_messages(&self) -> Vec<QueueMessage> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
    /// The operator records sent: messages carrying [`RECORD_ATTRIBUTE`].
    pub fn records(&self) -> Vec<QueueMessage> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
    /// How many event messages each `publish` call carried, in order.
    pub fn publish_calls(&self) -> Vec<usize> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Publisher for MemoryPublisher {
    async fn publish(&self, messages: &[QueueMessage]) -> Result<(), PublishError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(PublishError::Unavailable("memory queue is down".into()));
        }
        let is_record = |m: &&QueueMessage| m.attributes.iter().any(|(name, _)| *name == RECORD_ATTRIBUTE);
        let (records, events): (Vec<&QueueMessage>, Vec<&QueueMessage>) = messages.iter().partition(is_record);
        if !records.is_empty() {
            let mut kept = self.records.lock().map_err(|_| PublishError::Unavailable("poisoned".into()))?;
            kept.extend(records.into_iter().cloned());
        }
        if !events.is_empty() {
            let mut sent = self.sent.lock().map_err(|_| PublishError::Unavailable("poisoned".into()))?;
            sent.extend(events.iter().copied().cloned());
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(events.len());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Verification;
    use serde_json::{Value, json};

    fn envelope(id: &str, payload: Value) -> Envelope {
        Envelope::new(
            "test",
            id,
            "kind",
            time::OffsetDateTime::UNIX_EPOCH,
            Verification { scheme: "none".into(), matched: None },
            payload,
        )
    }

    fn nested(depth: usize) -> Value {
        (0..depth).fold(json!(1), |inner, _| json!([inner]))
    }

    #[test]
    fn an_envelope_the_processor_cannot_decode_is_refused_before_sending() {
        // serde_json stops at 128 levels: a payload that parsed at the edge
        // of that limit is too deep once it sits inside the Envelope.
        let error = QueueMessage::prepare(&envelope("deep", nested(128)), DEFAULT_MAX_MESSAGE_BYTES).unwrap_err();
        assert!(matches!(error, PrepareError::NotDecodable(_)), "{error}");
        assert!(QueueMessage::prepare(&envelope("shallow", nested(100)), DEFAULT_MAX_MESSAGE_BYTES).is_ok());
    }

    #[test]
    fn size_counts_body_and_attributes_against_the_limit() {
        let message = QueueMessage::prepare(&envelope("a", json!({})), DEFAULT_MAX_MESSAGE_BYTES).unwrap();
        let attributes = "provider".len() + "String".len() + "test".len() + "kind".len() + "String".len() + 4;
        assert_eq!(message.size(), message.body.len() + attributes);
        let error = QueueMessage::prepare(&envelope("a", json!({})), message.size() - 1).unwrap_err();
        assert_eq!(error, PrepareError::TooLarge { size: message.size(), limit: message.size() - 1 });
    }

    #[test]
    fn attributes_are_cleaned_of_what_sqs_refuses() {
        let mut event = envelope("a", json!({}));
        event.kind = format!("k\u{ffff}\u{0}{}", "x".repeat(1000));
        let message = QueueMessage::prepare(&event, DEFAULT_MAX_MESSAGE_BYTES).unwrap();
        let kind = &message.attributes[1].1;
        assert!(kind.starts_with("k\u{fffd}\u{fffd}"));
        assert_eq!(kind.chars().count(), MAX_ATTRIBUTE_CHARS);
        event.kind = String::new();
        assert_eq!(QueueMessage::prepare(&event, DEFAULT_MAX_MESSAGE_BYTES).unwrap().attributes[1].1, "-");
    }

    #[test]
    fn a_refusal_record_travels_as_json_marked_by_the_record_attribute() {
        let record = RefusalRecord {
            provider: "lark".into(),
            route: "/lark/event".into(),
            status: 401,
            class: "bad_credential".into(),
            reason: "X-Lark-Signature does not match\u{ffff}".into(),
            skew_secs: None,
            body_len: 2,
            body_sha256: crate::verify::sha256_hex(b"{}"),
            source_ip: None,
            at_ms: 1_700_000_000_000,
        };
        let message = QueueMessage::refusal_record(&record).unwrap();
        assert_eq!(message.attributes, [(RECORD_ATTRIBUTE, REFUSAL_RECORD.to_string())]);
        let decoded: RefusalRecord = serde_json::from_str(&message.body).unwrap();
        assert_eq!(decoded.reason, "X-Lark-Signature does not match\u{fffd}", "nothing SQS refuses");
        let attribute = RECORD_ATTRIBUTE.len() + "String".len() + REFUSAL_RECORD.len();
        assert_eq!(message.size(), message.body.len() + attribute);
    }

    #[test]
    fn batches_respect_count_and_total_bytes() {
        let small = |i: usize| QueueMessage::prepare(&envelope(&i.to_string(), json!({})), DEFAULT_MAX_MESSAGE_BYTES);
        let messages: Vec<_> = (0..25).map(|i| small(i).unwrap()).collect();
        let sizes: Vec<usize> = batches(&messages).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [10, 10, 5]);
        // Five messages of 100 KiB: two fit in 256 KiB, so 2 + 2 + 1.
        let big = |i: usize| {
            QueueMessage::prepare(&envelope(&i.to_string(), json!("x".repeat(100 * 1024))), LARGEST_MAX_MESSAGE_BYTES)
                .unwrap()
        };
        let messages: Vec<_> = (0..5).map(big).collect();
        let grouped = batches(&messages);
        assert_eq!(grouped.iter().map(|b| b.len()).collect::<Vec<_>>(), [2, 2, 1]);
        for batch in &grouped {
            assert!(batch.iter().map(QueueMessage::size).sum::<usize>() <= SQS_BATCH_BYTES);
        }
        // One message over the batch limit travels alone.
        let huge =
            QueueMessage::prepare(&envelope("h", json!("x".repeat(300 * 1024))), LARGEST_MAX_MESSAGE_BYTES).unwrap();
        let mixed = vec![small(1).unwrap(), huge, small(2).unwrap()];
        assert_eq!(batches(&mixed).iter().map(|b| b.len()).collect::<Vec<_>>(), [1, 1, 1]);
        assert!(batches(&[]).is_empty());
    }
}

/// When a message left for redelivery is next received: its visibility.
/// SQS retries a failed record once its visibility timeout ends; the
/// processor lengthens it after a failed delivery so that a destination that
/// is down is tried again after seconds, then minutes, not hammered.
#[async_trait]
pub trait Redelivery: Send + Sync {
    /// Makes the message (by its receipt handle, from the queue of
    /// `queue_arn`) visible again only after `delay`.
    async fn delay(&self, queue_arn: &str, receipt_handle: &str, delay: std::time::Duration) -> Result<(), String>;
}

/// The backoff between a failed attempt (a delivery, a reply) and the
/// message's next receive, one step per receive (the last repeats):
/// `INLET_REDELIVERY_DELAYS`, seconds separated by commas. The local soak shortens it, so that its audit need
/// not wait minutes for an event that failed three times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedeliverySchedule(Vec<std::time::Duration>);

impl Default for RedeliverySchedule {
    fn default() -> Self {
        RedeliverySchedule([10, 30, 120, 600, 1800, 3600].map(std::time::Duration::from_secs).to_vec())
    }
}

impl RedeliverySchedule {
    pub const SETTING: &str = "INLET_REDELIVERY_DELAYS";
    /// SQS's longest visibility timeout.
    const MAX_SECS: u64 = 43_200;

    /// The setting, or the default when it is unset or empty; a value that
    /// is not whole seconds from 0 to 43200 stops start-up naming it.
    pub fn from_env(env: &dyn crate::config::EnvSource) -> Result<Self, crate::error::ConfigError> {
        let Some(text) = env.get(Self::SETTING).filter(|text| !text.trim().is_empty()) else {
            return Ok(Self::default());
        };
        let steps = text
            .split(',')
            .map(|step| step.trim().parse::<u64>().ok().filter(|secs| *secs <= Self::MAX_SECS))
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| {
                crate::error::ConfigError::new(
                    Self::SETTING,
                    format!("{text:?} is not whole seconds (0 to 43200) separated by commas"),
                )
            })?;
        Ok(RedeliverySchedule(steps.into_iter().map(std::time::Duration::from_secs).collect()))
    }

    pub fn delay(&self, receive_count: u32) -> std::time::Duration {
        let step = (receive_count.max(1) - 1) as usize;
        self.0.get(step.min(self.0.len().saturating_sub(1))).copied().unwrap_or_default()
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

/// Records the delays asked for, for tests.
#[derive(Default)]
pub struct MemoryRedelivery {
    delays: Mutex<Vec<(String, std::time::Duration)>>,
}

impl MemoryRedelivery {
    /// (receipt handle, delay) in the order asked.
    pub fn delays(&self) -> Vec<(String, std::time::Duration)> {
        self.delays.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Redelivery for MemoryRedelivery {
    async fn delay(&self, _queue_arn: &str, receipt_handle: &str, delay: std::time::Duration) -> Result<(), String> {
        if let Ok(mut delays) = self.delays.lock() {
            delays.push((receipt_handle.to_string(), delay));
        }
        Ok(())
    }
}
