//! The DynamoDB adapter of the dedup store. Only the processor and the
//! tools that inspect its table need it, so it sits behind the `dynamodb`
//! feature and the receivers never link the DynamoDB client.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::dedup::DedupSettings;
use crate::dedup::*;
use crate::dedup::{RELEASED, classify, inbox_copy};
use crate::envelope::Envelope;
use crate::operations::{RefusalRecord, failure_key, refusal_key};

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
    /// crashed or released attempt inside the dedup window. Applied, it
    /// answers the destinations' progress the record held (the write returns
    /// the old item, so a retry costs no read); refused, the item that
    /// refused it.
    async fn take_over(&self, attempt: Attempt<'_>) -> Result<Result<Progress, Item>, StoreError> {
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
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let progress = match &result {
            Ok(output) => Progress::from_stored(
                output.attributes().and_then(|old| old.get("deliveries")?.as_s().ok()).map(String::as_str),
            ),
            Err(_) => Progress::default(),
        };
        Ok(match self.item_that_stopped(&envelope.id, result).await? {
            None => Ok(progress),
            Some(item) => Err(item),
        })
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
            // Refusal and failure records share the table; they are not events.
            entries.extend(page.items().iter().map(inbox_entry).filter(|entry| !is_operations_key(&entry.id)));
            start_key = page.last_evaluated_key().cloned();
            if start_key.is_none() {
                break;
            }
        }
        entries.sort_by(|a, b| b.received_at.cmp(&a.received_at).then_with(|| a.id.cmp(&b.id)));
        entries.truncate(limit);
        Ok(entries)
    }

    /// One event's record, read consistently (for `inlet replay`).
    pub async fn entry(&self, id: &str) -> Result<Option<InboxEntry>, StoreError> {
        Ok(self.read(id).await?.as_ref().map(inbox_entry))
    }

    /// Every unexpired refusal record of `providers` at `now`, newest first:
    /// each provider's `cap` ring slots, by BatchGetItem.
    pub async fn refusals(&self, providers: &[&str], cap: u32, now: NowMs) -> Result<Vec<RefusalRecord>, StoreError> {
        let keys: Vec<String> =
            providers.iter().flat_map(|provider| crate::operations::refusal_keys(provider, cap)).collect();
        let mut records: Vec<RefusalRecord> = self
            .batch_get(keys)
            .await?
            .iter()
            // The TTL sweep runs late (up to days): expired slots may still be there.
            .filter(|item| number_attr(item, "expiration").is_some_and(|expiration| expiration >= now.secs()))
            .filter_map(|item| serde_json::from_str(&string_attr(item, "record")?).ok())
            .collect();
        sort_refusals(&mut records);
        Ok(records)
    }

    /// The failure records of these queue messages, by message id.
    pub async fn failures(&self, message_ids: &[String]) -> Result<HashMap<String, FailureRecord>, StoreError> {
        let keys = message_ids.iter().map(|id| failure_key(id)).collect();
        Ok(self
            .batch_get(keys)
            .await?
            .iter()
            .map(failure_record)
            .filter(|failure| !failure.message_id.is_empty())
            .map(|failure| (failure.message_id.clone(), failure))
            .collect())
    }

    /// Reads items by key, 100 to a BatchGetItem (its limit), retrying the
    /// keys DynamoDB leaves unprocessed under load a few times.
    async fn batch_get(&self, keys: Vec<String>) -> Result<Vec<Item>, StoreError> {
        const BATCH_GET_LIMIT: usize = 100;
        let mut items = Vec::new();
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk
                        .iter()
                        .map(|key| HashMap::from([("id".to_string(), AttributeValue::S(key.clone()))]))
                        .collect(),
                ))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError(e.to_string()))?;
            let mut pending = Some(HashMap::from([(self.table.clone(), request)]));
            for attempt in 0u32.. {
                let Some(request_items) = pending.take().filter(|p| !p.is_empty()) else { break };
                if attempt == 5 {
                    return Err(StoreError("BatchGetItem left keys unprocessed five times".into()));
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let output = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request_items))
                    .send()
                    .await
                    .map_err(store_error)?;
                if let Some(found) = output.responses().and_then(|r| r.get(&self.table)) {
                    items.extend(found.iter().cloned());
                }
                pending = output.unprocessed_keys().cloned();
            }
        }
        Ok(items)
    }
}

fn failure_record(item: &Item) -> FailureRecord {
    FailureRecord {
        message_id: string_attr(item, "message_id").unwrap_or_default(),
        reason: string_attr(item, "reason").unwrap_or_default(),
        event_id: string_attr(item, "event_id"),
        provider: string_attr(item, "provider"),
        receive_count: number_attr(item, "receive_count").and_then(|n| u32::try_from(n).ok()),
        at_ms: number_attr(item, "at_ms").unwrap_or_default(),
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
        replays: number_attr(item, "replays"),
        last_replay_at: number_attr(item, "last_replay_at"),
        last_replay_id: string_attr(item, "last_replay_id"),
        envelope: string_attr(item, "envelope").and_then(|text| serde_json::from_str(&text).ok()),
        deliveries: Progress::from_stored(string_attr(item, "deliveries").as_deref()),
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
        let old = match self.take_over(attempt).await? {
            Ok(progress) => return Ok(Claim::Acquired(progress)),
            Err(old) => old,
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
            // A new event under an old id: nothing of the old one is owed.
            None => Ok(Claim::Acquired(Progress::default())),
            Some(newer) if newer.is_empty() => Ok(Claim::InProgress),
            Some(newer) => Ok(classify_item(&newer, &payload_hash)),
        }
    }

    async fn complete(&self, completion: Completion<'_>) -> Result<Ownership, StoreError> {
        let (envelope, owner, progress, now) = completion.parts();
        let mut set = vec!["#status = :completed", "#completed_at = :now_ms"];
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
        if let Some(json) = inbox_copy(envelope) {
            set.push("#envelope = :envelope");
            request = request
                .expression_attribute_names("#envelope", "envelope")
                .expression_attribute_values(":envelope", AttributeValue::S(json));
        }
        if let Some(json) = progress.stored() {
            set.push("#deliveries = :deliveries");
            request = request
                .expression_attribute_names("#deliveries", "deliveries")
                .expression_attribute_values(":deliveries", AttributeValue::S(json));
        }
        match request.update_expression(format!("SET {}", set.join(", "))).send().await {
            Ok(_) => Ok(Ownership::Held),
            Err(error) if is_conditional_check_failed(&error) => Ok(Ownership::Lost),
            Err(error) => Err(store_error(error)),
        }
    }

    async fn release(&self, id: &str, owner: &str, progress: &Progress) -> Result<Ownership, StoreError> {
        let mut request = self.client.update_item();
        request = match progress.stored() {
            Some(json) => request
                .update_expression("SET #in_progress_expiration = :released, #deliveries = :deliveries REMOVE #owner")
                .expression_attribute_names("#deliveries", "deliveries")
                .expression_attribute_values(":deliveries", AttributeValue::S(json)),
            None => request.update_expression("SET #in_progress_expiration = :released REMOVE #owner"),
        };
        let result = request
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
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

#[async_trait]
impl OperationsStore for DynamoDbStore {
    async fn record_refusal(&self, record: &RefusalRecord, cap: u32, expiration: i64) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|e| StoreError(e.to_string()))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(refusal_key(&record.provider, record.at_ms, cap)))
            .item("expiration", number(expiration))
            .item("provider", AttributeValue::S(record.provider.clone()))
            .item("at_ms", number(record.at_ms))
            .item("record", AttributeValue::S(json))
            // Newest wins whatever order the queue delivers in (it keeps
            // none): an older refusal never overwrites a newer one.
            .condition_expression("attribute_not_exists(#id) OR #at_ms < :at_ms")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#at_ms", "at_ms")
            .expression_attribute_values(":at_ms", number(record.at_ms))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if is_conditional_check_failed(&error) => Ok(()),
            Err(error) => Err(store_error(error)),
        }
    }

    async fn record_failure(&self, failure: &FailureRecord, expiration: i64) -> Result<(), StoreError> {
        let mut item: Item = HashMap::from([
            ("id".to_string(), AttributeValue::S(failure_key(&failure.message_id))),
            ("expiration".to_string(), number(expiration)),
            ("message_id".to_string(), AttributeValue::S(failure.message_id.clone())),
            ("reason".to_string(), AttributeValue::S(failure.reason.clone())),
            ("at_ms".to_string(), number(failure.at_ms)),
        ]);
        let optional = [
            ("event_id", failure.event_id.clone().map(AttributeValue::S)),
            ("provider", failure.provider.clone().map(AttributeValue::S)),
            ("receive_count", failure.receive_count.map(|n| number(i64::from(n)))),
        ];
        item.extend(optional.into_iter().filter_map(|(name, value)| Some((name.to_string(), value?))));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(store_error)?;
        Ok(())
    }

    async fn count_replay(&self, event_id: &str, replay_id: &str, now: NowMs) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(event_id.to_string()))
            .update_expression("ADD #replays :one SET #last_replay_at = :now_ms, #last_replay_id = :replay_id")
            // Never creates a stub: a record whose window ended stays gone.
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#replays", "replays")
            .expression_attribute_names("#last_replay_at", "last_replay_at")
            .expression_attribute_names("#last_replay_id", "last_replay_id")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":now_ms", number(now.0))
            .expression_attribute_values(":replay_id", AttributeValue::S(replay_id.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_conditional_check_failed(&error) => Ok(false),
            Err(error) => Err(store_error(error)),
        }
    }
}
