//! The SQS and DynamoDB adapters, the processor and the local pump against
//! moto's server: the same SDK calls and wire protocol as production.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use inlet_cli::local::{QueueShape, create_resources};
use inlet_cli::pump::{Invoker, pump_once, queue_arn};
use inlet_shared::config::DedupSettings;
use inlet_shared::dedup::{Claim, DynamoDbStore, IdempotencyStore, InboxSink, NowMs};
use inlet_shared::envelope::{Envelope, Verification};
use inlet_shared::queue::{PublishError, Publisher, SqsPublisher};
use inlet_shared::sink::{Sink, SinkError};
use inlet_tests::{clients, unique};
use serde_json::json;

fn envelope(id: &str, payload: serde_json::Value) -> Envelope {
    Envelope::new(
        "test",
        id,
        "test.kind",
        time::OffsetDateTime::now_utc(),
        Verification { scheme: "none".into(), matched: None },
        payload,
    )
}

struct Fixture {
    sqs: aws_sdk_sqs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    queue_url: String,
    dlq_url: String,
    settings: DedupSettings,
}

async fn fixture(shape: QueueShape) -> Fixture {
    let (sqs, dynamodb) = clients().await;
    let table = unique("table");
    let shape = QueueShape { queue_name: unique("queue"), ..shape };
    let resources = create_resources(&sqs, &dynamodb, &shape, &table).await.expect("create resources on moto");
    let settings =
        DedupSettings { table_name: table, window: Duration::from_secs(3600), lease: Duration::from_secs(60) };
    Fixture { sqs, dynamodb, queue_url: resources.queue_url, dlq_url: resources.dlq_url, settings }
}

async fn receive_all(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    for _ in 0..10 {
        let batch = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        all.extend(batch);
    }
    all
}

struct CountingSink {
    calls: Arc<AtomicUsize>,
    fail_id: Option<String>,
    delay: Duration,
}

#[async_trait]
impl Sink for CountingSink {
    fn name(&self) -> &str {
        "counting"
    }
    async fn handle(&self, envelope: &Envelope) -> Result<(), SinkError> {
        tokio::time::sleep(self.delay).await;
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_id.as_deref() == Some(envelope.id.as_str()) {
            return Err(SinkError::new("counting", "told to fail"));
        }
        Ok(())
    }
}

fn record(message_id: &str, envelope: &Envelope) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(message_id.into());
    record.body = Some(serde_json::to_string(envelope).unwrap());
    record
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

fn failures(response: &SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

async fn item(f: &Fixture, id: &str) -> Option<std::collections::HashMap<String, AttributeValue>> {
    f.dynamodb
        .get_item()
        .table_name(&f.settings.table_name)
        .key("id", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
}

// ---- SQS publisher ----

#[tokio::test]
async fn sqs_publisher_delivers_single_and_batched_envelopes_with_attributes() {
    let f = fixture(QueueShape::default()).await;
    let publisher = SqsPublisher::new(f.sqs.clone(), f.queue_url.clone());
    publisher.publish(&[envelope("one", json!({"n": 0}))]).await.expect("single publish");
    // 12 envelopes: two SendMessageBatch calls (10 + 2).
    let many: Vec<Envelope> = (1..=12).map(|n| envelope(&format!("m{n}"), json!({"n": n}))).collect();
    publisher.publish(&many).await.expect("batch publish");
    let messages = receive_all(&f.sqs, &f.queue_url).await;
    assert_eq!(messages.len(), 13);
    let mut ids: Vec<String> = messages
        .iter()
        .map(|m| serde_json::from_str::<Envelope>(m.body().unwrap()).expect("body is an Envelope").id)
        .collect();
    ids.sort();
    assert!(ids.contains(&"test:one".to_string()) && ids.contains(&"test:m12".to_string()));
    let attributes = messages[0].message_attributes().expect("attributes");
    assert_eq!(attributes["provider"].string_value(), Some("test"));
    assert_eq!(attributes["kind"].string_value(), Some("test.kind"));
}

#[tokio::test]
async fn sqs_publisher_reports_a_missing_queue_as_unavailable() {
    let f = fixture(QueueShape::default()).await;
    let missing = f.queue_url.replace("queue-", "no-such-queue-");
    let publisher = SqsPublisher::new(f.sqs.clone(), missing);
    let error = publisher.publish(&[envelope("x", json!({}))]).await.unwrap_err();
    assert!(matches!(error, PublishError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn sqs_publisher_gives_up_quickly_when_the_queue_is_unreachable() {
    // Nothing listens on port 1: the client must fail within its timeout.
    let sdk = inlet_shared::runtime::local_sdk_config("http://127.0.0.1:1").await;
    let client = SqsPublisher::client_with_timeout(&sdk, Duration::from_millis(500));
    let publisher = SqsPublisher::new(client, "http://127.0.0.1:1/123456789012/q");
    let started = std::time::Instant::now();
    let error = publisher.publish(&[envelope("x", json!({}))]).await.unwrap_err();
    assert!(matches!(error, PublishError::Unavailable(_)));
    assert!(started.elapsed() < Duration::from_secs(3), "must fail inside the platforms' 3 s deadline");
}

#[tokio::test]
async fn sqs_publisher_refuses_an_event_over_the_message_limit_before_sending() {
    let f = fixture(QueueShape::default()).await;
    let publisher = SqsPublisher::new(f.sqs.clone(), f.queue_url.clone());
    let big = envelope("big", json!({"blob": "x".repeat(300 * 1024)}));
    let error = publisher.publish(&[envelope("small", json!({})), big]).await.unwrap_err();
    assert!(matches!(error, PublishError::TooLarge { .. }), "{error:?}");
    assert!(receive_all(&f.sqs, &f.queue_url).await.is_empty(), "nothing of the request was enqueued");
}

// ---- DynamoDB store and processor ----

#[tokio::test]
async fn lock_is_one_conditional_put_and_duplicates_are_classified() {
    let f = fixture(QueueShape::default()).await;
    let store = DynamoDbStore::new(f.dynamodb.clone(), &f.settings);
    let event = envelope("lock", json!({"a": 1}));
    let now = NowMs::system();
    assert_eq!(store.claim(&event, now).await.unwrap(), Claim::Acquired);
    assert_eq!(store.claim(&event, NowMs(now.0 + 1)).await.unwrap(), Claim::InProgress);
    store.complete(&event.id, now).await.unwrap();
    assert_eq!(store.claim(&event, NowMs(now.0 + 2)).await.unwrap(), Claim::Completed { same_payload: true });
    let changed = envelope("lock", json!({"a": 2}));
    assert_eq!(store.claim(&changed, NowMs(now.0 + 3)).await.unwrap(), Claim::Completed { same_payload: false });
    let stored = item(&f, "test:lock").await.expect("record");
    assert_eq!(stored["status"].as_s().unwrap(), "COMPLETED");
    let expiration: i64 = stored["expiration"].as_n().unwrap().parse().unwrap();
    assert_eq!(expiration, now.secs() + 3600, "TTL attribute is the end of the dedup window");
}

#[tokio::test]
async fn expired_record_is_taken_over_even_before_ttl_deletes_it() {
    let f = fixture(QueueShape::default()).await;
    let store = DynamoDbStore::new(f.dynamodb.clone(), &f.settings);
    let event = envelope("old", json!({}));
    let now = NowMs::system();
    store.claim(&event, now).await.unwrap();
    store.complete(&event.id, now).await.unwrap();
    let after_window = NowMs(now.0 + 3_601_000);
    assert_eq!(store.claim(&event, after_window).await.unwrap(), Claim::Acquired);
}

#[tokio::test]
async fn two_concurrent_deliveries_of_one_event_run_the_sink_once() {
    let f = fixture(QueueShape::default()).await;
    let store = DynamoDbStore::new(f.dynamodb.clone(), &f.settings);
    let calls = Arc::new(AtomicUsize::new(0));
    let sinks: Vec<Box<dyn Sink>> =
        vec![Box::new(CountingSink { calls: calls.clone(), fail_id: None, delay: Duration::from_millis(200) })];
    let event = envelope("twice", json!({"x": 1}));
    let first = processor::process_batch(batch(vec![record("a", &event)]), &store, &sinks, NowMs::system);
    let second = processor::process_batch(batch(vec![record("b", &event)]), &store, &sinks, NowMs::system);
    let (first, second) = tokio::join!(first, second);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly one sink call");
    let retried = failures(&first).len() + failures(&second).len();
    assert_eq!(retried, 1, "the loser saw a live lease and is left for redelivery");
    // The redelivery finds the event completed and is acknowledged.
    let redelivery = processor::process_batch(batch(vec![record("b", &event)]), &store, &sinks, NowMs::system).await;
    assert!(failures(&redelivery).is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn crash_between_lock_and_completion_is_taken_over_after_the_lease() {
    let f = fixture(QueueShape::default()).await;
    let store = DynamoDbStore::new(f.dynamodb.clone(), &f.settings);
    let calls = Arc::new(AtomicUsize::new(0));
    let sinks: Vec<Box<dyn Sink>> =
        vec![Box::new(CountingSink { calls: calls.clone(), fail_id: None, delay: Duration::ZERO })];
    let event = envelope("crash", json!({}));
    let crashed_at = NowMs::system();
    // The crashed attempt took the lock and never completed.
    assert_eq!(store.claim(&event, crashed_at).await.unwrap(), Claim::Acquired);
    let during =
        processor::process_batch(batch(vec![record("m", &event)]), &store, &sinks, || NowMs(crashed_at.0 + 59_000))
            .await;
    assert_eq!(failures(&during), ["m"]);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let after =
        processor::process_batch(batch(vec![record("m", &event)]), &store, &sinks, || NowMs(crashed_at.0 + 60_001))
            .await;
    assert!(failures(&after).is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(item(&f, "test:crash").await.unwrap()["status"].as_s().unwrap(), "COMPLETED");
}

#[tokio::test]
async fn sink_failure_reports_that_record_alone_and_releases_its_lock() {
    let f = fixture(QueueShape::default()).await;
    let store = DynamoDbStore::new(f.dynamodb.clone(), &f.settings);
    let calls = Arc::new(AtomicUsize::new(0));
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(InboxSink::new(f.dynamodb.clone(), f.settings.table_name.clone())),
        Box::new(CountingSink { calls: calls.clone(), fail_id: Some("test:bad".into()), delay: Duration::ZERO }),
    ];
    let good = envelope("good", json!({}));
    let bad = envelope("bad", json!({}));
    let response =
        processor::process_batch(batch(vec![record("g", &good), record("b", &bad)]), &store, &sinks, NowMs::system)
            .await;
    assert_eq!(failures(&response), ["b"]);
    assert!(item(&f, "test:bad").await.is_none(), "lock released: the retry need not wait for the lease");
    let stored = item(&f, "test:good").await.expect("good record");
    assert_eq!(stored["status"].as_s().unwrap(), "COMPLETED");
    // The inbox sink stored the Envelope in the same item.
    let inbox = store.list(10).await.unwrap();
    let entry = inbox.iter().find(|e| e.id == "test:good").expect("listed");
    assert_eq!(entry.envelope.as_ref().unwrap()["id"], "test:good");
    assert_eq!(entry.inbox_writes, Some(1));
}

// ---- the local pump ----

/// Runs the real processor in-process, as `cargo lambda watch` would.
struct InProcess {
    store: DynamoDbStore,
    sinks: Vec<Box<dyn Sink>>,
}

#[async_trait]
impl Invoker for InProcess {
    async fn invoke(&self, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        Ok(processor::process_batch(event.clone(), &self.store, &self.sinks, NowMs::system).await)
    }
}

#[tokio::test]
async fn pump_deletes_successes_and_leaves_failures_until_the_dlq_takes_them() {
    let f = fixture(QueueShape { visibility_timeout_secs: 1, max_receive_count: 2, ..Default::default() }).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let invoker = InProcess {
        store: DynamoDbStore::new(f.dynamodb.clone(), &f.settings),
        sinks: vec![Box::new(CountingSink {
            calls: calls.clone(),
            fail_id: Some("test:poison".into()),
            delay: Duration::ZERO,
        })],
    };
    let publisher = SqsPublisher::new(f.sqs.clone(), f.queue_url.clone());
    publisher.publish(&[envelope("fine", json!({})), envelope("poison", json!({}))]).await.unwrap();
    let arn = queue_arn(&f.sqs, &f.queue_url).await.unwrap();

    let mut deleted = 0;
    let mut in_dlq = Vec::new();
    for _ in 0..20 {
        let stats = pump_once(&f.sqs, &f.queue_url, &arn, &invoker, Duration::from_secs(1)).await.unwrap();
        deleted += stats.deleted;
        in_dlq = receive_all(&f.sqs, &f.dlq_url).await;
        if !in_dlq.is_empty() {
            break;
        }
    }
    assert_eq!(deleted, 1, "only the successful record is deleted");
    assert_eq!(in_dlq.len(), 1, "the failing record reached the DLQ after maxReceiveCount receives");
    let dead: Envelope = serde_json::from_str(in_dlq[0].body().unwrap()).unwrap();
    assert_eq!(dead.id, "test:poison");
    assert_eq!(calls.load(Ordering::SeqCst), 3, "1 success + 2 attempts at the poison record");
}
