//! Publishing Envelopes: the `Publisher` trait, its SQS adapter, and an
//! in-memory adapter for handler tests.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use crate::envelope::Envelope;

/// Why a publish failed. Either way nothing may be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("event is {size} bytes, over the {limit}-byte message limit")]
    TooLarge { size: usize, limit: usize },
}

#[async_trait]
pub trait Publisher: Send + Sync {
    /// Returns only once the queue has durably accepted every Envelope.
    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), PublishError>;
}

/// SQS's per-message limit for queues created with default attributes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
const SQS_BATCH_LIMIT: usize = 10;

pub struct SqsPublisher {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    max_message_bytes: usize,
}

impl SqsPublisher {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsPublisher { client, queue_url: queue_url.into(), max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES }
    }

    /// Builds an SQS client that gives up within `timeout` (with at most one
    /// retry), so a queue outage turns into a 503 inside the platform's deadline.
    pub fn client_with_timeout(sdk: &aws_config::SdkConfig, timeout: std::time::Duration) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout)
                    .connect_timeout(timeout / 2)
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    fn encode(&self, envelope: &Envelope) -> Result<String, PublishError> {
        let body = serde_json::to_string(envelope).map_err(|e| PublishError::Unavailable(e.to_string()))?;
        if body.len() > self.max_message_bytes {
            return Err(PublishError::TooLarge { size: body.len(), limit: self.max_message_bytes });
        }
        Ok(body)
    }

    fn attribute(value: &str) -> MessageAttributeValue {
        MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("data_type is set")
    }
}

#[async_trait]
impl Publisher for SqsPublisher {
    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), PublishError> {
        // Encode everything first: an oversized event refuses the whole
        // request before any part of it is enqueued.
        let bodies = envelopes.iter().map(|e| self.encode(e)).collect::<Result<Vec<_>, _>>()?;
        if let ([envelope], [body]) = (envelopes, bodies.as_slice()) {
            self.client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .message_attributes("provider", Self::attribute(&envelope.provider))
                .message_attributes("kind", Self::attribute(&envelope.kind))
                .send()
                .await
                .map_err(|e| PublishError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
            return Ok(());
        }
        for (chunk_index, chunk) in envelopes.chunks(SQS_BATCH_LIMIT).enumerate() {
            let offset = chunk_index * SQS_BATCH_LIMIT;
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, envelope)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&bodies[offset + i])
                        .message_attributes("provider", Self::attribute(&envelope.provider))
                        .message_attributes("kind", Self::attribute(&envelope.kind))
                        .build()
                        .expect("id and body are set")
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
                return Err(PublishError::Unavailable(format!(
                    "{} of {} messages refused, first: {} {}",
                    output.failed().len(),
                    chunk.len(),
                    failed.code(),
                    failed.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}

/// Keeps published Envelopes in memory; can be switched "down" to test the
/// queue-outage path.
#[derive(Default)]
pub struct MemoryPublisher {
    sent: Mutex<Vec<Envelope>>,
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
    pub fn sent(&self) -> Vec<Envelope> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Publisher for MemoryPublisher {
    async fn publish(&self, envelopes: &[Envelope]) -> Result<(), PublishError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(PublishError::Unavailable("memory queue is down".into()));
        }
        let mut sent = self.sent.lock().map_err(|_| PublishError::Unavailable("poisoned".into()))?;
        sent.extend_from_slice(envelopes);
        Ok(())
    }
}
