//! The DynamoDB adapter of the dedup store. Only the processor and the
//! tools that inspect its table need it, so it sits behind the `dynamodb`
//! feature and the receivers never link the DynamoDB client.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::*;
use crate::config::DedupSettings;

/// A stored record, attribute by attribute.
type Item = HashMap<String, AttributeValue>;

/// One claim of an event: what its conditional writes need.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    envelope: &'a Envelope,
    lease: &'a Lease,
    now: NowMs,
    payload_hash: &'a str,
}

pub struct DynamoDbStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    windows: DedupWindows,
}

const TAKEOVER_CONDITION: &str = "attribute_not_exists(#id) OR \
     (#status = :in_progress AND #in_progress_expiration < :now_ms AND #expiration >= :now)";
const OWNED_CONDITION: &str = "#status = :in_progress AND #owner = :owner";

impl DynamoDbStore {
    pub fn new(client: aws_sdk_dynamodb::Client, settings: &DedupSettings) -> Self {
        DynamoDbStore { client, table: settings.table_name.clone(), windows: settings.windows.clone() }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn expiration(&self, envelope: &Envelope, now: NowMs) -> i64 {
        now.secs().saturating_add(self.windows.for_provider(&envelope.provider).as_secs() as i64)
    }

    /// Reads the record a failed condition was checked against, for
    /// emulators that leave it out of the ConditionalCheckFailed answer
    /// (DynamoDB always includes it, so production never pays this read).
    async fn read(&self, id: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let old = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(old.item)
    }

    /// Adds 1 to `sink_runs` when the lock is free: no record yet, or a
    /// crashed or released attempt inside the dedup window.
    async fn take_over(&self, attempt: Attempt<'_>) -> Result<Option<Item>, StoreError> {
        let Attempt { envelope, lease, now, payload_hash } = attempt;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(envelope.id.clone()))
            .update_expression(
                "SET #status = :in_progress, #expiration = :expiration, #in_progress_expiration = :lease_until, \
                 #owner = :owner, #payload_hash = :payload_hash, #provider = :provider, #kind = :kind, \
                 #received_at = :received_at ADD #sink_runs :one",
            )
            .condition_expression(TAKEOVER_CONDITION)
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#expiration", "expiration")
            .expression_attribute_names("#in_progress_expiration", "in_progress_expiration")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#payload_hash", "payload_hash")
            .expression_attribute_names("#provider", "provider")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#received_at", "received_at")
            .expression_attribute_names("#sink_runs", "sink_runs")
            .expression_attribute_values(":in_progress", AttributeValue::S(STATUS_IN_PROGRESS.into()))
            .expression_attribute_values(":expiration", number(self.expiration(envelope, now)))
            .expression_attribute_values(":lease_until", number(lease.until.0))
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .expression_attribute_values(":payload_hash", AttributeValue::S(payload_hash.to_string()))
            .expression_attribute_values(":provider", AttributeValue::S(envelope.provider.clone()))
            .expression_attribute_values(":kind", AttributeValue::S(envelope.kind.clone()))
            .expression_attribute_values(":received_at", AttributeValue::S(envelope.received_at.clone()))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":now_ms", number(now.0))
            .expression_attribute_values(":now", number(now.secs()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        self.item_that_stopped(&envelope.id, result).await
    }

    /// Replaces a record whose dedup window is over: the same id now is a
    /// new event, so its counters start again.
    async fn start_fresh(&self, attempt: Attempt<'_>) -> Result<Option<Item>, StoreError> {
        let Attempt { envelope, lease, now, payload_hash } = attempt;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(envelope.id.clone()))
            .item("status", AttributeValue::S(STATUS_IN_PROGRESS.into()))
            .item("expiration", number(self.expiration(envelope, now)))
            .item("in_progress_expiration", number(lease.until.0))
            .item("owner", AttributeValue::S(lease.owner.clone()))
            .item("payload_hash", AttributeValue::S(payload_hash.to_string()))
            .item("provider", AttributeValue::S(envelope.provider.clone()))
            .item("kind", AttributeValue::S(envelope.kind.clone()))
            .item("received_at", AttributeValue::S(envelope.received_at.clone()))
            .item("sink_runs", number(1))
            .condition_expression("attribute_not_exists(#id) OR #expiration < :now")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#expiration", "expiration")
            .expression_attribute_values(":now", number(now.secs()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        self.item_that_stopped(&envelope.id, result).await
    }

    /// `None` when a conditional write applied; else the item whose state
    /// refused it, read again if the store left it out of the refusal.
    async fn item_that_stopped<O, E>(
        &self,
        id: &str,
        result: Result<O, aws_sdk_dynamodb::error::SdkError<E>>,
    ) -> Result<Option<Item>, StoreError>
    where
        E: ConditionFailure + std::error::Error + std::fmt::Debug + 'static,
    {
        let Err(error) = result else { return Ok(None) };
        match error.as_service_error().and_then(ConditionFailure::stopping_item) {
            Some(Some(old)) => Ok(Some(old.clone())),
            Some(None) => Ok(Some(self.read(id).await?.unwrap_or_default())),
            None => Err(store_error(error)),
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
                .map_err(store_error)?;
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

fn classify_item(item: &HashMap<String, AttributeValue>, payload_hash: &str) -> Claim {
    classify(
        string_attr(item, "status").as_deref().unwrap_or_default(),
        string_attr(item, "payload_hash").as_deref(),
        payload_hash,
    )
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
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
        expiration: number_attr(item, "expiration"),
        sink_runs: number_attr(item, "sink_runs"),
        envelope: string_attr(item, "envelope").and_then(|text| serde_json::from_str(&text).ok()),
    }
}

/// The condition-check failure of a conditional write, with the item that
/// stopped it when the store returned it (`ALL_OLD`).
trait ConditionFailure {
    fn stopping_item(&self) -> Option<Option<&Item>>;
}

impl ConditionFailure for UpdateItemError {
    fn stopping_item(&self) -> Option<Option<&Item>> {
        if let UpdateItemError::ConditionalCheckFailedException(failed) = self { Some(failed.item()) } else { None }
    }
}

impl ConditionFailure for PutItemError {
    fn stopping_item(&self) -> Option<Option<&Item>> {
        if let PutItemError::ConditionalCheckFailedException(failed) = self { Some(failed.item()) } else { None }
    }
}

fn store_error<E>(error: aws_sdk_dynamodb::error::SdkError<E>) -> StoreError
where
    E: std::error::Error + std::fmt::Debug + 'static,
{
    StoreError(aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string())
}

fn is_conditional_check_failed<E>(error: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

#[async_trait]
impl IdempotencyStore for DynamoDbStore {
    async fn claim(&self, envelope: &Envelope, lease: &Lease, now: NowMs) -> Result<Claim, StoreError> {
        let payload_hash = envelope.payload_hash();
        let attempt = Attempt { envelope, lease, now, payload_hash: &payload_hash };
        let Some(old) = self.take_over(attempt).await? else {
            return Ok(Claim::Acquired);
        };
        // Gone between the failed condition and the read: a release or TTL
        // raced us; the redelivery will find it free.
        if old.is_empty() {
            return Ok(Claim::InProgress);
        }
        let window_over = number_attr(&old, "expiration").is_none_or(|expiration| expiration < now.secs());
        if !window_over {
            return Ok(classify_item(&old, &payload_hash));
        }
        match self.start_fresh(attempt).await? {
            None => Ok(Claim::Acquired),
            Some(newer) if newer.is_empty() => Ok(Claim::InProgress),
            Some(newer) => Ok(classify_item(&newer, &payload_hash)),
        }
    }

    async fn complete(&self, envelope: &Envelope, owner: &str, now: NowMs) -> Result<Ownership, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(envelope.id.clone()))
            .condition_expression(OWNED_CONDITION)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#completed_at", "completed_at")
            .expression_attribute_values(":in_progress", AttributeValue::S(STATUS_IN_PROGRESS.into()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .expression_attribute_values(":completed", AttributeValue::S(STATUS_COMPLETED.into()))
            .expression_attribute_values(":now_ms", number(now.0));
        request = match inbox_copy(envelope) {
            Some(json) => request
                .update_expression("SET #status = :completed, #completed_at = :now_ms, #envelope = :envelope")
                .expression_attribute_names("#envelope", "envelope")
                .expression_attribute_values(":envelope", AttributeValue::S(json)),
            None => request.update_expression("SET #status = :completed, #completed_at = :now_ms"),
        };
        match request.send().await {
            Ok(_) => Ok(Ownership::Held),
            Err(error) if is_conditional_check_failed(&error) => Ok(Ownership::Lost),
            Err(error) => Err(store_error(error)),
        }
    }

    async fn release(&self, id: &str, owner: &str) -> Result<Ownership, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .update_expression("SET #in_progress_expiration = :released REMOVE #owner")
            .condition_expression(OWNED_CONDITION)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#in_progress_expiration", "in_progress_expiration")
            .expression_attribute_values(":in_progress", AttributeValue::S(STATUS_IN_PROGRESS.into()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .expression_attribute_values(":released", number(RELEASED))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ownership::Held),
            Err(error) if is_conditional_check_failed(&error) => Ok(Ownership::Lost),
            Err(error) => Err(store_error(error)),
        }
    }
}
