//! Exactly-once handling: the idempotency record, its DynamoDB adapter and
//! an in-memory twin with the same semantics for unit tests.
//!
//! Modelled on AWS Lambda Powertools' idempotency record. The lock is one
//! conditional PutItem:
//!
//! `attribute_not_exists(id) OR expiration < :now OR
//!  (status = IN_PROGRESS AND in_progress_expiration < :now_ms)`
//!
//! with `ReturnValuesOnConditionCheckFailure = ALL_OLD`, so a duplicate costs
//! exactly one request and no read-then-write race exists.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::Serialize;
use tracing::error;

use crate::config::DedupSettings;
use crate::envelope::Envelope;
use crate::sink::{Sink, SinkError};

pub const STATUS_IN_PROGRESS: &str = "IN_PROGRESS";
pub const STATUS_COMPLETED: &str = "COMPLETED";

/// The processor's clock, in milliseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NowMs(pub i64);

impl NowMs {
    pub fn system() -> Self {
        NowMs(time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000)
    }
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

/// The result of trying to take an event's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This attempt owns the event: run the sinks.
    Acquired,
    /// Already handled inside the dedup window: acknowledge and skip.
    /// `same_payload` is false when the same id came with another payload.
    Completed { same_payload: bool },
    /// Another attempt holds a live lease: retry later.
    InProgress,
}

#[derive(Debug, thiserror::Error)]
#[error("dedup store: {0}")]
pub struct StoreError(pub String);

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    async fn claim(&self, envelope: &Envelope, now: NowMs) -> Result<Claim, StoreError>;
    async fn complete(&self, id: &str, now: NowMs) -> Result<(), StoreError>;
    /// Gives the lock back after a failure so a redelivery can try at once.
    async fn release(&self, id: &str) -> Result<(), StoreError>;
}

/// One row of the table as the inbox shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InboxEntry {
    pub id: String,
    pub status: String,
    pub provider: Option<String>,
    pub kind: Option<String>,
    pub received_at: Option<String>,
    pub completed_at: Option<i64>,
    pub inbox_writes: Option<i64>,
    pub envelope: Option<serde_json::Value>,
}

pub struct DynamoDbStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    window_secs: i64,
    lease_ms: i64,
}

impl DynamoDbStore {
    pub fn new(client: aws_sdk_dynamodb::Client, settings: &DedupSettings) -> Self {
        DynamoDbStore {
            client,
            table: settings.table_name.clone(),
            window_secs: settings.window.as_secs() as i64,
            lease_ms: settings.lease.as_millis() as i64,
        }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn classify(item: &HashMap<String, AttributeValue>, payload_hash: &str) -> Claim {
        let status = string_attr(item, "status").unwrap_or_default();
        if status == STATUS_COMPLETED {
            let same_payload = string_attr(item, "payload_hash").as_deref() == Some(payload_hash);
            Claim::Completed { same_payload }
        } else {
            Claim::InProgress
        }
    }

    /// Lists the newest records, for the CLI's `inbox`.
    pub async fn list(&self, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut start_key = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| StoreError(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
            entries.extend(page.items().iter().map(inbox_entry));
            start_key = page.last_evaluated_key().cloned();
            if start_key.is_none() {
                break;
            }
        }
        entries.sort_by(|a, b| b.received_at.cmp(&a.received_at).then_with(|| a.id.cmp(&b.id)));
        entries.truncate(limit);
        Ok(entries)
    }
}

fn string_attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number_attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

fn inbox_entry(item: &HashMap<String, AttributeValue>) -> InboxEntry {
    InboxEntry {
        id: string_attr(item, "id").unwrap_or_default(),
        status: string_attr(item, "status").unwrap_or_default(),
        provider: string_attr(item, "provider"),
        kind: string_attr(item, "kind"),
        received_at: string_attr(item, "received_at"),
        completed_at: number_attr(item, "completed_at"),
        inbox_writes: number_attr(item, "inbox_writes"),
        envelope: string_attr(item, "envelope").and_then(|text| serde_json::from_str(&text).ok()),
    }
}

fn store_error<E>(error: aws_sdk_dynamodb::error::SdkError<E>) -> StoreError
where
    E: std::error::Error + std::fmt::Debug + 'static,
{
    StoreError(aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string())
}

#[async_trait]
impl IdempotencyStore for DynamoDbStore {
    async fn claim(&self, envelope: &Envelope, now: NowMs) -> Result<Claim, StoreError> {
        let payload_hash = envelope.payload_hash();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(envelope.id.clone()))
            .item("status", AttributeValue::S(STATUS_IN_PROGRESS.into()))
            .item("expiration", AttributeValue::N((now.secs() + self.window_secs).to_string()))
            .item("in_progress_expiration", AttributeValue::N((now.0 + self.lease_ms).to_string()))
            .item("payload_hash", AttributeValue::S(payload_hash.clone()))
            .item("provider", AttributeValue::S(envelope.provider.clone()))
            .item("kind", AttributeValue::S(envelope.kind.clone()))
            .item("received_at", AttributeValue::S(envelope.received_at.clone()))
            .condition_expression(
                "attribute_not_exists(#id) OR #expiration < :now OR \
                 (#status = :in_progress AND #in_progress_expiration < :now_ms)",
            )
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#expiration", "expiration")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#in_progress_expiration", "in_progress_expiration")
            .expression_attribute_values(":now", AttributeValue::N(now.secs().to_string()))
            .expression_attribute_values(":now_ms", AttributeValue::N(now.0.to_string()))
            .expression_attribute_values(":in_progress", AttributeValue::S(STATUS_IN_PROGRESS.into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => match failed.item() {
                    Some(old) => Ok(Self::classify(old, &payload_hash)),
                    // Every DynamoDB returns the old item here; an emulator
                    // that does not costs one consistent read instead.
                    None => {
                        let old = self
                            .client
                            .get_item()
                            .table_name(&self.table)
                            .key("id", AttributeValue::S(envelope.id.clone()))
                            .consistent_read(true)
                            .send()
                            .await
                            .map_err(store_error)?;
                        Ok(old.item().map(|item| Self::classify(item, &payload_hash)).unwrap_or(Claim::InProgress))
                    }
                },
                _ => Err(store_error(error)),
            },
        }
    }

    async fn complete(&self, id: &str, now: NowMs) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .update_expression("SET #status = :completed, completed_at = :now_ms")
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", AttributeValue::S(STATUS_COMPLETED.into()))
            .expression_attribute_values(":now_ms", AttributeValue::N(now.0.to_string()))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn release(&self, id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", AttributeValue::S(STATUS_IN_PROGRESS.into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already completed (or gone): nothing to release.
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(error) => Err(store_error(error)),
        }
    }
}

/// The built-in sink: stores the processed Envelope in the event's own
/// dedup record, so the table doubles as an inbox (`inlet inbox`).
pub struct InboxSink {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl InboxSink {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        InboxSink { client, table: table.into() }
    }
}

#[async_trait]
impl Sink for InboxSink {
    fn name(&self) -> &str {
        "inbox"
    }

    async fn handle(&self, envelope: &Envelope) -> Result<(), SinkError> {
        let json = serde_json::to_string(envelope).map_err(|e| SinkError::new("inbox", e.to_string()))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(envelope.id.clone()))
            // inbox_writes counts how often sinks ran for this id: more than
            // one means a redelivery re-ran them (a later sink failed, or a
            // lease expired mid-run).
            .update_expression("SET envelope = :envelope ADD inbox_writes :one")
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":envelope", AttributeValue::S(json))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(|e| {
                let reason = aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string();
                error!(id = %envelope.id, reason = %reason, "inbox write failed");
                SinkError::new("inbox", reason)
            })?;
        Ok(())
    }
}

/// In-memory store with the DynamoDB adapter's semantics, for unit tests.
pub struct MemoryStore {
    records: Mutex<HashMap<String, MemoryRecord>>,
    window_secs: i64,
    lease_ms: i64,
}

#[derive(Clone, Debug)]
struct MemoryRecord {
    status: &'static str,
    expiration: i64,
    in_progress_expiration: i64,
    payload_hash: String,
}

impl MemoryStore {
    pub fn new(window_secs: i64, lease_ms: i64) -> Self {
        MemoryStore { records: Mutex::new(HashMap::new()), window_secs, lease_ms }
    }

    pub fn status_of(&self, id: &str) -> Option<&'static str> {
        self.records.lock().ok()?.get(id).map(|r| r.status)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, MemoryRecord>>, StoreError> {
        self.records.lock().map_err(|_| StoreError("memory store poisoned".into()))
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim(&self, envelope: &Envelope, now: NowMs) -> Result<Claim, StoreError> {
        let payload_hash = envelope.payload_hash();
        let mut records = self.lock()?;
        if let Some(old) = records.get(&envelope.id) {
            let takeable =
                old.expiration < now.secs() || (old.status == STATUS_IN_PROGRESS && old.in_progress_expiration < now.0);
            if !takeable {
                return Ok(if old.status == STATUS_COMPLETED {
                    Claim::Completed { same_payload: old.payload_hash == payload_hash }
                } else {
                    Claim::InProgress
                });
            }
        }
        records.insert(
            envelope.id.clone(),
            MemoryRecord {
                status: STATUS_IN_PROGRESS,
                expiration: now.secs() + self.window_secs,
                in_progress_expiration: now.0 + self.lease_ms,
                payload_hash,
            },
        );
        Ok(Claim::Acquired)
    }

    async fn complete(&self, id: &str, _now: NowMs) -> Result<(), StoreError> {
        let mut records = self.lock()?;
        let record = records.get_mut(id).ok_or_else(|| StoreError(format!("no record for {id}")))?;
        record.status = STATUS_COMPLETED;
        Ok(())
    }

    async fn release(&self, id: &str) -> Result<(), StoreError> {
        let mut records = self.lock()?;
        if records.get(id).is_some_and(|r| r.status == STATUS_IN_PROGRESS) {
            records.remove(id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Verification;
    use serde_json::json;

    fn envelope(payload: serde_json::Value) -> Envelope {
        Envelope::new(
            "t",
            "1",
            "k",
            time::OffsetDateTime::UNIX_EPOCH,
            Verification { scheme: "none".into(), matched: None },
            payload,
        )
    }

    #[tokio::test]
    async fn memory_store_follows_the_lock_rules() {
        let store = MemoryStore::new(100, 1000);
        let event = envelope(json!({"a": 1}));
        let t0 = NowMs(1_000_000);
        assert_eq!(store.claim(&event, t0).await.unwrap(), Claim::Acquired);
        assert_eq!(store.claim(&event, NowMs(t0.0 + 500)).await.unwrap(), Claim::InProgress, "live lease");
        assert_eq!(store.claim(&event, NowMs(t0.0 + 1001)).await.unwrap(), Claim::Acquired, "lease expired");
        store.complete(&event.id, t0).await.unwrap();
        assert_eq!(store.claim(&event, NowMs(t0.0 + 5000)).await.unwrap(), Claim::Completed { same_payload: true });
        assert_eq!(
            store.claim(&envelope(json!({"a": 2})), NowMs(t0.0 + 5000)).await.unwrap(),
            Claim::Completed { same_payload: false }
        );
        assert_eq!(store.claim(&event, NowMs(t0.0 + 102_000)).await.unwrap(), Claim::Acquired, "window over");
    }

    #[tokio::test]
    async fn release_frees_only_in_progress_records() {
        let store = MemoryStore::new(100, 1000);
        let event = envelope(json!({}));
        store.claim(&event, NowMs(0)).await.unwrap();
        store.release(&event.id).await.unwrap();
        assert_eq!(store.claim(&event, NowMs(1)).await.unwrap(), Claim::Acquired);
        store.complete(&event.id, NowMs(2)).await.unwrap();
        store.release(&event.id).await.unwrap();
        assert_eq!(store.status_of(&event.id), Some(STATUS_COMPLETED));
    }
}
