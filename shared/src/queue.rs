//! Publishing Envelopes: the checked queue message, the `Publisher` trait,
//! its SQS adapter, and an in-memory adapter for handler tests.
//!
//! Every Envelope becomes a [`QueueMessage`] through [`QueueMessage::prepare`]
//! before anything is sent: that is where "acknowledged means processable"
//! is checked (the processor's decoder accepts it, it fits the queue's
//! message limit, it holds no character SQS refuses).

#[cfg(any(test, feature = "testkit"))]
use std::sync::Mutex;
#[cfg(any(test, feature = "testkit"))]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{EnvSource, flag, number, required};
use crate::envelope::{Envelope, is_refused_by_sqs};
use crate::error::ConfigError;
use crate::operations::{RECORD_ATTRIBUTE, REFUSAL_RECORD, RefusalRecord};
use crate::verify::sha256_hex;

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
pub(crate) const ATTRIBUTE_TYPE: &str = "String";

/// One Envelope as the queue will carry it, already checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    pub body: String,
    /// `(name, value)` string attributes: `provider` and `kind` on an
    /// Envelope, [`RECORD_ATTRIBUTE`] on an operator record.
    pub attributes: Vec<(&'static str, String)>,
    /// The message group on a FIFO queue (per-conversation ordering): the
    /// Envelope's conversation (set by the caller: the ingress flow names it); all
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
            group: conversation_of(envelope),
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
    // Most values (a provider's name, an event kind) are short and clean.
    if !text.is_empty() && text.len() <= MAX_ATTRIBUTE_CHARS && !text.chars().any(|c| replace_refused(c) != c) {
        return text.to_string();
    }
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

/// Keeps published messages in memory; can be switched "down" to test the
/// queue-outage path. Operator records (refusals) are kept apart from the
/// events, so a test of what a request enqueued sees the events alone.
#[cfg(any(test, feature = "testkit"))]
#[derive(Default)]
pub struct MemoryPublisher {
    sent: Mutex<Vec<QueueMessage>>,
    records: Mutex<Vec<QueueMessage>>,
    calls: Mutex<Vec<usize>>,
    down: AtomicBool,
}

#[cfg(any(test, feature = "testkit"))]
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

#[cfg(any(test, feature = "testkit"))]
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

/// Where the queue is and how long an ingress function waits for it: the
/// wait must end well inside the platforms' 3 s deadline so a slow queue
/// becomes a 503 (and a platform retry), not a timeout.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub queue_url: String,
    pub timeout: Duration,
    /// The queue's MaximumMessageSize: every Envelope is checked against it
    /// before the request is acknowledged.
    pub max_message_bytes: usize,
    /// Open the queue connection during init (`INLET_QUEUE_WARM_UP`, on by
    /// default; off only to measure what it saves).
    pub warm_up: bool,
}

impl QueueSettings {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let max_message_bytes = number(env, "INLET_QUEUE_MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES)?;
        if !(1024..=LARGEST_MAX_MESSAGE_BYTES).contains(&max_message_bytes) {
            return Err(ConfigError::new(
                "INLET_QUEUE_MAX_MESSAGE_BYTES",
                "must be the queue's MaximumMessageSize, 1024 to 1048576 bytes",
            ));
        }
        Ok(QueueSettings {
            queue_url: required(env, "INLET_QUEUE_URL")?,
            timeout: Duration::from_millis(number(env, "INLET_QUEUE_TIMEOUT_MS", 2000u64)?),
            max_message_bytes,
            warm_up: flag(env, "INLET_QUEUE_WARM_UP", true)?,
        })
    }
}

/// The longest id SQS FIFO takes as a `MessageGroupId` or a
/// `MessageDeduplicationId`.
pub const MAX_FIFO_ID_CHARS: usize = 128;

/// Whether SQS FIFO takes `id` as it is for a group or deduplication id:
/// 1 to 128 characters, each an ASCII letter or digit or one of
/// ``!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`` (exactly ASCII punctuation).
pub fn is_fifo_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_FIFO_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation())
}

/// The `MessageDeduplicationId` of an Envelope: its id when FIFO takes it as
/// it is (at most 128 ASCII letters, digits and punctuation), else the
/// SHA-256 hex of the id. Either way the same Envelope always gets the same
/// id, so SQS drops a retry sent within its deduplication interval.
pub fn deduplication_id(envelope_id: &str) -> String {
    if is_fifo_id(envelope_id) { envelope_id.to_string() } else { sha256_hex(envelope_id.as_bytes()) }
}

/// The conversation an event belongs to: the unit whose events keep their
/// order (the `MessageGroupId` of a FIFO queue, ours or a destination's).
///
/// - a message: provider, tenant and chat (`lark:chat:<tenant>:<chat id>`);
/// - an alert: its group (`alertmanager:alert:<group key>`), so a group's
///   firing and resolved notifications stay in order;
/// - anything else: the event's own id, a conversation of one.
///
/// Always a valid FIFO id: a value that is too long or holds other
/// characters becomes `<provider>:sha256:<hex of the value>` (or the bare
/// hex when the provider name itself is unusual). The same Envelope always
/// gives the same answer, so a retry lands in the same group.
pub fn conversation_of(envelope: &Envelope) -> String {
    let provider = &envelope.provider;
    let chat = envelope.message.as_ref().and_then(|m| m.chat_id.as_deref()).filter(|c| !c.is_empty());
    let group = envelope.alert.as_ref().and_then(|a| a.group_key.as_deref()).filter(|g| !g.is_empty());
    let conversation = match (chat, group) {
        (Some(chat), _) => {
            // The tenant sits between two separators: escaping `:` keeps
            // tenant `a:b` + chat `c` apart from tenant `a` + chat `b:c`.
            let tenant = envelope.tenant.as_deref().unwrap_or_default().replace('%', "%25").replace(':', "%3A");
            format!("{provider}:chat:{tenant}:{chat}")
        }
        (None, Some(group)) => format!("{provider}:alert:{group}"),
        (None, None) => envelope.id.clone(),
    };
    if is_fifo_id(&conversation) {
        return conversation;
    }
    let hash = sha256_hex(conversation.as_bytes());
    // 64 hex characters, the separator and a provider name of at most 48
    // characters stay within the 128 allowed.
    if is_fifo_id(provider) && provider.len() <= 48 && !provider.contains(':') {
        format!("{provider}:sha256:{hash}")
    } else {
        hash
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

    use crate::config::test_env as env;

    #[test]
    fn queue_url_is_required() {
        assert_eq!(QueueSettings::from_env(&env(&[])).unwrap_err().name, "INLET_QUEUE_URL");
    }

    #[test]
    fn queue_message_limit_defaults_to_sqs_default_and_must_be_a_size_sqs_allows() {
        let settings = QueueSettings::from_env(&env(&[("INLET_QUEUE_URL", "q")])).unwrap();
        assert_eq!(settings.max_message_bytes, 262_144);
        for bad in ["0", "1048577"] {
            let error =
                QueueSettings::from_env(&env(&[("INLET_QUEUE_URL", "q"), ("INLET_QUEUE_MAX_MESSAGE_BYTES", bad)]));
            assert_eq!(error.unwrap_err().name, "INLET_QUEUE_MAX_MESSAGE_BYTES");
        }
    }

    #[test]
    fn an_envelope_id_fifo_takes_is_its_own_deduplication_id() {
        assert_eq!(deduplication_id("lark:5e3702a84e847582be8db7fb73283c02"), "lark:5e3702a84e847582be8db7fb73283c02");
        let alertmanager = r#"alertmanager:{}:{alertname="x"}/firing@2024-01-01T00:00:00Z"#;
        assert_eq!(deduplication_id(alertmanager), alertmanager);
        let longest = format!("p:{}", "a".repeat(126));
        assert_eq!(deduplication_id(&longest), longest);
    }

    #[test]
    fn other_ids_become_their_sha256_the_same_on_every_attempt() {
        for id in [format!("p:{}", "a".repeat(127)), "slack:Ev 1".to_string(), "lark:事件".to_string()] {
            let dedup = deduplication_id(&id);
            assert_eq!(dedup, sha256_hex(id.as_bytes()), "{id}");
            assert_eq!(dedup.len(), 64);
            assert!(is_fifo_id(&dedup));
            assert_eq!(dedup, deduplication_id(&id.clone()));
        }
        assert_ne!(deduplication_id("slack:Ev 1"), deduplication_id("slack:Ev 2"));
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

/// Records the delays asked for, for tests.
#[cfg(any(test, feature = "testkit"))]
#[derive(Default)]
pub struct MemoryRedelivery {
    delays: Mutex<Vec<(String, std::time::Duration)>>,
}

#[cfg(any(test, feature = "testkit"))]
impl MemoryRedelivery {
    /// (receipt handle, delay) in the order asked.
    pub fn delays(&self) -> Vec<(String, std::time::Duration)> {
        self.delays.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

#[cfg(any(test, feature = "testkit"))]
#[async_trait]
impl Redelivery for MemoryRedelivery {
    async fn delay(&self, _queue_arn: &str, receipt_handle: &str, delay: std::time::Duration) -> Result<(), String> {
        if let Ok(mut delays) = self.delays.lock() {
            delays.push((receipt_handle.to_string(), delay));
        }
        Ok(())
    }
}

#[cfg(test)]
mod conversation_tests {
    use super::*;
    use crate::envelope::{AlertView, MessageView, Verification};
    use serde_json::json;

    fn envelope(provider: &str, event_id: &str) -> Envelope {
        Envelope::new(
            provider,
            event_id,
            "test.kind",
            time::OffsetDateTime::UNIX_EPOCH,
            Verification { scheme: "none".into(), matched: None },
            json!({}),
        )
    }

    fn message(provider: &str, event_id: &str, tenant: Option<&str>, chat: &str) -> Envelope {
        let mut e = envelope(provider, event_id);
        e.tenant = tenant.map(str::to_string);
        e.message = Some(MessageView { chat_id: Some(chat.into()), ..MessageView::default() });
        e
    }

    #[test]
    fn a_message_belongs_to_its_provider_tenant_and_chat() {
        let first = message("lark", "e1", Some("cli_a1"), "oc_42");
        let second = message("lark", "e2", Some("cli_a1"), "oc_42");
        assert_eq!(conversation_of(&first), "lark:chat:cli_a1:oc_42");
        assert_eq!(conversation_of(&first), conversation_of(&second), "two events of one chat, one group");
        assert_ne!(conversation_of(&first), conversation_of(&message("lark", "e1", Some("cli_b2"), "oc_42")));
        assert_ne!(conversation_of(&first), conversation_of(&message("slack", "e1", Some("cli_a1"), "oc_42")));
        assert_eq!(conversation_of(&message("telegram", "7", None, "-100123")), "telegram:chat::-100123");
        // A `:` inside the tenant cannot move the boundary to the chat id.
        assert_ne!(
            conversation_of(&message("p", "1", Some("a:b"), "c")),
            conversation_of(&message("p", "1", Some("a"), "b:c"))
        );
    }

    #[test]
    fn an_alert_belongs_to_its_group_and_anything_else_to_itself() {
        let mut alert = envelope("alertmanager", "fp:firing:1");
        alert.alert = Some(AlertView {
            name: "HighLatency".into(),
            status: "firing".into(),
            group_key: Some(r#"{}:{alertname="HighLatency"}"#.into()),
            ..AlertView::default()
        });
        assert_eq!(conversation_of(&alert), r#"alertmanager:alert:{}:{alertname="HighLatency"}"#);
        let lone = envelope("github", "delivery-1");
        assert_eq!(conversation_of(&lone), "github:delivery-1");
        let mut no_chat = envelope("lark", "e9");
        no_chat.message = Some(MessageView::default());
        assert_eq!(conversation_of(&no_chat), "lark:e9", "a message view without a chat is its own conversation");
    }

    #[test]
    fn long_or_unusual_values_are_hashed_stably_into_a_fifo_id() {
        for chat in ["x".repeat(200), "会话 1".to_string(), "tab\there".to_string(), "space in".to_string()] {
            let e = message("lark", "e1", Some("cli_a1"), &chat);
            let group = conversation_of(&e);
            assert!(is_fifo_id(&group), "{group}");
            assert!(group.starts_with("lark:sha256:") && group.len() == "lark:sha256:".len() + 64, "{group}");
            assert_eq!(group, conversation_of(&e.clone()), "the same event, the same group on every attempt");
        }
        let long_id = envelope("github", &"d".repeat(300));
        assert!(is_fifo_id(&conversation_of(&long_id)));
        let odd_provider = message(&"p".repeat(130), "e1", None, "c");
        let group = conversation_of(&odd_provider);
        assert_eq!(group.len(), 64, "{group}");
        assert!(is_fifo_id(&group));
    }

    #[test]
    fn fifo_ids_are_ascii_letters_digits_and_punctuation_up_to_128() {
        assert!(is_fifo_id(r##"aZ09!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##));
        assert!(is_fifo_id(&"a".repeat(128)));
        assert!(!is_fifo_id(&"a".repeat(129)));
        assert!(!is_fifo_id(""));
        for bad in ["a b", "é", "a\tb", "a\u{7f}"] {
            assert!(!is_fifo_id(bad), "{bad:?}");
        }
    }
}
