//! The SQS and DynamoDB adapters, the processor and the local pump against
//! moto's server: the same SDK calls and wire protocol as production.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use inlet_cli::local::{QueueShape, create_resources};
use inlet_cli::pump::{Invoker, pump_once, queue_arn};
use inlet_shared::aws::dynamodb::DynamoDbStore;
use inlet_shared::aws::sqs::SqsPublisher;
use inlet_shared::dedup::{Claim, Completion, IdempotencyStore, Lease, LeasePolicy, NowMs, Ownership, Progress};
use inlet_shared::dedup::{DedupSettings, DedupWindows};
use inlet_shared::envelope::Envelope;
use inlet_shared::queue::{PublishError, Publisher};
use inlet_shared::sink::{Sink, SinkError};
use inlet_testkit::moto::{Moto, number, receive};
use processor::Invocation;
use serde_json::json;

/// The test provider's event `id`, received now, carrying `payload`.
fn envelope(id: &str, payload: serde_json::Value) -> Envelope {
    Envelope { payload: payload.into(), ..inlet_testkit::events::envelope("test", id) }
}

/// The local stack's queue: 10 s visibility, so leases of at most 9 s.
const VISIBILITY: Duration = Duration::from_secs(10);
const MAX_LEASE: Duration = Duration::from_secs(9);

/// A queue of the local stack's shape (with its dead-letter queue) and a
/// dedup table, of this test's own.
struct Fixture {
    moto: Moto,
    queue_url: String,
    dlq_url: String,
}

async fn fixture(shape: QueueShape) -> Fixture {
    let moto = Moto::new(MAX_LEASE).await;
    let shape = QueueShape { queue_name: moto.queue_name.clone(), ..shape };
    let resources = create_resources(&moto.sqs, &moto.dynamodb, &shape, &moto.settings.table_name)
        .await
        .expect("create resources on moto");
    Fixture { moto, queue_url: resources.queue_url, dlq_url: resources.dlq_url }
}

struct CountingSink {
    calls: Arc<AtomicUsize>,
    fail_id: Option<String>,
    delay: Duration,
}

/// The processor with one [`CountingSink`] (failing `fail_id`, each call
/// taking `delay`), and its count of calls.
fn counting(f: &Fixture, fail_id: Option<&str>, delay: Duration) -> (InProcess, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let sink = CountingSink { calls: calls.clone(), fail_id: fail_id.map(Into::into), delay };
    (InProcess::new(f, vec![Box::new(sink)]), calls)
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

/// The real processor in-process, with `sinks` and the dedup table of
/// `store`: tests hand it batches, and so does the local pump (as `cargo
/// lambda watch` would).
struct InProcess {
    store: DynamoDbStore,
    sinks: Vec<Box<dyn Sink>>,
}

impl InProcess {
    /// On the fixture's table.
    fn new(f: &Fixture, sinks: Vec<Box<dyn Sink>>) -> InProcess {
        InProcess { store: DynamoDbStore::new(f.moto.dynamodb.clone(), &f.moto.settings), sinks }
    }

    /// One batch of (message id, Envelope) records of `invocation`, with the
    /// time from `clock`: the ids of the messages left for redelivery.
    async fn process(
        &self,
        records: &[(&str, &Envelope)],
        invocation: &Invocation,
        clock: impl Fn() -> NowMs,
    ) -> Vec<String> {
        let mut event = SqsEvent::default();
        for (message_id, envelope) in records {
            let mut record = SqsMessage::default();
            record.message_id = Some(message_id.to_string());
            record.body = Some(serde_json::to_string(envelope).unwrap());
            event.records.push(record);
        }
        let response = processor::process_batch(event, invocation, &self.store, &self.sinks, clock).await;
        response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
    }
}

#[async_trait]
impl Invoker for InProcess {
    async fn invoke(&self, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let invocation = invocation("pump", Duration::from_secs(5));
        Ok(processor::process_batch(event.clone(), &invocation, &self.store, &self.sinks, NowMs::system).await)
    }
}

// ---- SQS publisher ----

#[tokio::test]
async fn sqs_publisher_delivers_single_and_batched_envelopes_with_attributes() {
    let f = fixture(QueueShape::default()).await;
    let publisher = SqsPublisher::new(f.moto.sqs.clone(), f.queue_url.clone());
    publisher.publish_envelopes(&[envelope("one", json!({"n": 0}))]).await.expect("single publish");
    // 12 envelopes: two SendMessageBatch calls (10 + 2).
    let many: Vec<Envelope> = (1..=12).map(|n| envelope(&format!("m{n}"), json!({"n": n}))).collect();
    publisher.publish_envelopes(&many).await.expect("batch publish");
    let messages = receive(&f.moto.sqs, &f.queue_url, 13).await;
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

/// Per-conversation ordering: on a FIFO event queue each Envelope goes to
/// its conversation's message group, with its id as the deduplication id,
/// so a platform's retry inside FIFO's 5 minutes is dropped by SQS itself.
#[tokio::test]
async fn sqs_publisher_groups_a_fifo_queue_by_conversation_and_deduplicates_by_envelope_id() {
    let f = fixture(QueueShape { fifo: true, ..QueueShape::default() }).await;
    assert!(f.queue_url.ends_with(".fifo"), "{}", f.queue_url);
    let publisher = SqsPublisher::new(f.moto.sqs.clone(), f.queue_url.clone());
    let in_chat = |id: &str, chat: &str| {
        let mut envelope = envelope(id, json!({}));
        envelope.message =
            Some(inlet_shared::envelope::MessageView { chat_id: Some(chat.into()), ..Default::default() });
        envelope
    };
    let sent = [in_chat("a1", "chat-a"), in_chat("b1", "chat-b"), in_chat("a2", "chat-a"), in_chat("a1", "chat-a")];
    publisher.publish_envelopes(&sent[..3]).await.expect("batch publish");
    publisher.publish_envelopes(&sent[3..]).await.expect("the platform's retry");
    let messages = receive(&f.moto.sqs, &f.queue_url, 3).await;
    let received: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            let envelope: Envelope = serde_json::from_str(m.body().unwrap()).unwrap();
            let group =
                m.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId));
            (envelope.id, group.cloned().unwrap_or_default())
        })
        .collect();
    assert_eq!(received.len(), 3, "the retry of a1 was deduplicated: {received:?}");
    for (id, group) in &received {
        let envelope = sent.iter().find(|e| &e.id == id).unwrap();
        assert_eq!(group, &inlet_shared::queue::conversation_of(envelope));
    }
    let chat_a: Vec<&str> = received.iter().filter(|(id, _)| id.contains(":a")).map(|(id, _)| id.as_str()).collect();
    assert_eq!(chat_a, ["test:a1", "test:a2"], "in order within the conversation");
}

#[tokio::test]
async fn sqs_publisher_reports_a_missing_queue_as_unavailable() {
    let f = fixture(QueueShape::default()).await;
    let missing = f.queue_url.replace("queue-", "no-such-queue-");
    let publisher = SqsPublisher::new(f.moto.sqs.clone(), missing);
    let error = publisher.publish_envelopes(&[envelope("x", json!({}))]).await.unwrap_err();
    assert!(matches!(error, PublishError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn sqs_publisher_gives_up_quickly_when_the_queue_is_unreachable() {
    // Nothing listens on port 1: the client must fail within its timeout.
    let sdk = inlet_shared::aws::access::local_sdk_config("http://127.0.0.1:1");
    let client = SqsPublisher::client_with_timeout(&sdk, Duration::from_millis(500));
    let publisher = SqsPublisher::new(client, "http://127.0.0.1:1/123456789012/q");
    let started = std::time::Instant::now();
    let error = publisher.publish_envelopes(&[envelope("x", json!({}))]).await.unwrap_err();
    assert!(matches!(error, PublishError::Unavailable(_)));
    assert!(started.elapsed() < Duration::from_secs(3), "must fail inside the platforms' 3 s deadline");
}

#[tokio::test]
async fn sqs_publisher_refuses_an_event_over_the_message_limit_before_sending() {
    let f = fixture(QueueShape::default()).await;
    let publisher = SqsPublisher::new(f.moto.sqs.clone(), f.queue_url.clone());
    let big = envelope("big", json!({"blob": "x".repeat(300 * 1024)}));
    let error = publisher.publish_envelopes(&[envelope("small", json!({})), big]).await.unwrap_err();
    assert!(matches!(error, PublishError::TooLarge { .. }), "{error:?}");
    assert!(receive(&f.moto.sqs, &f.queue_url, 0).await.is_empty(), "nothing of the request was enqueued");
}

#[tokio::test]
async fn sqs_publisher_splits_batches_by_total_bytes() {
    let f = fixture(QueueShape::default()).await;
    let publisher = SqsPublisher::new(f.moto.sqs.clone(), f.queue_url.clone());
    // Six events of 100 KB: ten to a batch would be 600 KB, over the
    // 256 KiB SendMessageBatch limit that the queue enforces.
    let events: Vec<Envelope> =
        (0..6).map(|n| envelope(&format!("b{n}"), json!({"blob": "x".repeat(100 * 1024)}))).collect();
    publisher.publish_envelopes(&events).await.expect("batches split by bytes are accepted");
    assert_eq!(receive(&f.moto.sqs, &f.queue_url, 6).await.len(), 6);
}

#[tokio::test]
async fn characters_sqs_refuses_are_escaped_and_the_envelope_arrives_unchanged() {
    let f = fixture(QueueShape::default()).await;
    let publisher = SqsPublisher::new(f.moto.sqs.clone(), f.queue_url.clone());
    let mut event = envelope("nonchar", json!({"text": "a\u{fffe}b\u{ffff}c", "\u{ffff}": "\u{10ffff}"}));
    event.kind = "kind\u{ffff}".into();
    publisher.publish_envelopes(std::slice::from_ref(&event)).await.expect("accepted by the queue");
    let messages = receive(&f.moto.sqs, &f.queue_url, 1).await;
    assert_eq!(messages.len(), 1);
    // moto does not refuse these characters as SQS does, so check the bytes
    // the queue carried: none of them may be there raw.
    let body = messages[0].body().unwrap();
    assert!(!body.contains(inlet_shared::envelope::is_refused_by_sqs), "{body}");
    let attributes = messages[0].message_attributes().expect("attributes");
    assert!(!attributes["kind"].string_value().unwrap().contains(inlet_shared::envelope::is_refused_by_sqs));
    let decoded = Envelope::decode(body).expect("the processor's decoder accepts it");
    assert_eq!(decoded, event);
}

// ---- DynamoDB store and processor ----

/// The processor, without sinks, on a store whose every request is logged,
/// to count what an event costs.
async fn counted(settings: &DedupSettings) -> (InProcess, inlet_testkit::moto::RequestLog) {
    let log = inlet_testkit::moto::RequestLog::default();
    let sdk = inlet_shared::aws::access::local_sdk_config(&inlet_testkit::moto::aws_endpoint());
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(log.clone()).build();
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config), settings);
    (InProcess { store, sinks: Vec::new() }, log)
}

fn lease(owner: &str, until: NowMs) -> Lease {
    Lease { owner: owner.into(), until }
}

/// An invocation whose deadline is `remaining` after the system clock's now.
fn invocation(request_id: &str, remaining: Duration) -> Invocation {
    let deadline = NowMs::system().0 + remaining.as_millis() as i64;
    Invocation::new(request_id, deadline as u64, LeasePolicy::new(MAX_LEASE))
}

#[tokio::test]
async fn lock_is_one_conditional_update_and_duplicates_are_classified() {
    let f = fixture(QueueShape::default()).await;
    let store = DynamoDbStore::new(f.moto.dynamodb.clone(), &f.moto.settings);
    let event = envelope("lock", json!({"a": 1}));
    let now = NowMs::system();
    assert_eq!(
        store.claim(&event, &lease("a", NowMs(now.0 + 5000)), now).await.unwrap(),
        Claim::Acquired(Progress::default())
    );
    assert_eq!(
        store.claim(&event, &lease("b", NowMs(now.0 + 5000)), NowMs(now.0 + 1)).await.unwrap(),
        Claim::InProgress
    );
    assert_eq!(store.complete(Completion::new(&event, "a", now)).await.unwrap(), Ownership::Held);
    let later = NowMs(now.0 + 2);
    assert_eq!(store.claim(&event, &lease("c", later), later).await.unwrap(), Claim::Completed { same_payload: true });
    let changed = envelope("lock", json!({"a": 2}));
    assert_eq!(
        store.claim(&changed, &lease("d", later), later).await.unwrap(),
        Claim::Completed { same_payload: false }
    );
    let stored = f.moto.item("test:lock").await.expect("record");
    assert_eq!(stored["status"].as_s().unwrap(), "COMPLETED");
    assert_eq!(number(&stored, "expiration"), now.secs() + 3600, "TTL attribute is the end of the dedup window");
    assert_eq!(stored["owner"].as_s().unwrap(), "a");
    assert_eq!(number(&stored, "sink_runs"), 1, "duplicates do not count");
}

#[tokio::test]
async fn a_new_event_costs_two_writes_and_a_duplicate_one_request() {
    let f = fixture(QueueShape::default()).await;
    let (processor, log) = counted(&f.moto.settings).await;
    let event = envelope("counted", json!({}));
    let one = invocation("r", Duration::from_secs(5));
    let run = async || processor.process(&[("m", &event)], &one, NowMs::system).await;
    assert!(run().await.is_empty());
    assert_eq!(log.take(), ["UpdateItem", "UpdateItem"], "claim, then completion with the inbox copy");
    assert!(run().await.is_empty());
    assert_eq!(log.take(), ["UpdateItem"], "a duplicate is the failed claim alone");
    let entry = processor.store.list(10).await.unwrap().into_iter().find(|e| e.id == "test:counted").unwrap();
    assert_eq!(entry.sink_runs, Some(1));
    assert_eq!(entry.envelope.unwrap()["id"], "test:counted", "the completion stored the Envelope");
}

/// A destination that takes every event, or fails each the first time.
struct Taking {
    name: &'static str,
    fail_first: std::sync::Mutex<std::collections::HashSet<String>>,
}

#[async_trait::async_trait]
impl inlet_shared::delivery::Destination for Taking {
    fn name(&self) -> &str {
        self.name
    }
    async fn deliver(&self, events: &[inlet_shared::delivery::Outgoing<'_>]) -> Vec<inlet_shared::delivery::Delivery> {
        let mut fail_first = self.fail_first.lock().unwrap();
        events
            .iter()
            .map(|e| match fail_first.remove(&e.envelope.id) {
                true => Err(inlet_shared::delivery::DeliveryError::transient("HTTP 503")),
                false => Ok(inlet_shared::delivery::Delivered::default()),
            })
            .collect()
    }
}

/// Destinations add no write when they all succeed: their progress rides on
/// the completion. A failure's progress rides on the release, and the retry's
/// takeover reads it back: still no extra request.
#[tokio::test]
async fn destinations_cost_no_extra_request_and_a_retry_reads_its_progress_from_the_takeover() {
    use inlet_shared::delivery::targets::{Target, Targets};
    let f = fixture(QueueShape::default()).await;
    let (processor, log) = counted(&f.moto.settings).await;
    let taking = |name, fail: &[&str]| Target {
        pattern: None,
        destination: Arc::new(Taking {
            name,
            fail_first: std::sync::Mutex::new(fail.iter().map(|s| s.to_string()).collect()),
        }),
    };
    let targets = Targets::new(vec![taking("bus", &[]), taking("app", &["test:flaky"])]);
    let one = Invocation { targets, ..invocation("r", Duration::from_secs(5)) };
    let (event, flaky) = (envelope("delivered", json!({})), envelope("flaky", json!({})));
    assert!(processor.process(&[("m", &event)], &one, NowMs::system).await.is_empty());
    assert_eq!(log.take(), ["UpdateItem", "UpdateItem"], "claim, then completion with both destinations' state");
    let entry = processor.store.entry("test:delivered").await.unwrap().unwrap();
    assert_eq!(entry.deliveries.0.len(), 2);
    log.take();

    let run = async || processor.process(&[("f", &flaky)], &one, NowMs::system).await;
    assert_eq!(run().await.len(), 1);
    assert_eq!(
        log.take(),
        ["UpdateItem", "UpdateItem", "PutItem"],
        "claim, release with the progress, the failure record"
    );
    assert!(run().await.is_empty());
    assert_eq!(log.take(), ["UpdateItem", "UpdateItem"], "the takeover answered the progress: no read");
    let entry = processor.store.entry("test:flaky").await.unwrap().unwrap();
    assert_eq!((entry.deliveries.0["bus"].attempts, entry.deliveries.0["app"].attempts), (1, 2));
}

#[tokio::test]
async fn expired_record_is_replaced_by_a_fresh_one_even_before_ttl_deletes_it() {
    let f = fixture(QueueShape::default()).await;
    let (processor, log) = counted(&f.moto.settings).await;
    let (store, event) = (&processor.store, envelope("old", json!({})));
    let now = NowMs::system();
    store.claim(&event, &lease("a", NowMs(now.0 + 1000)), now).await.unwrap();
    // Crashed, taken over once, then completed: two runs.
    store.claim(&event, &lease("b", NowMs(now.0 + 3000)), NowMs(now.0 + 1001)).await.unwrap();
    store.complete(Completion::new(&event, "b", NowMs(now.0 + 1002))).await.unwrap();
    assert_eq!(number(&f.moto.item("test:old").await.unwrap(), "sink_runs"), 2);
    log.take();
    let after_window = NowMs(now.0 + 1001 + 3_601_000);
    assert_eq!(
        store.claim(&event, &lease("c", NowMs(after_window.0 + 1000)), after_window).await.unwrap(),
        Claim::Acquired(Progress::default())
    );
    assert_eq!(log.take(), ["UpdateItem", "PutItem"], "only a window that is over costs a second request");
    let fresh = f.moto.item("test:old").await.unwrap();
    assert_eq!(number(&fresh, "sink_runs"), 1, "a new window is a new event");
    assert_eq!(fresh["status"].as_s().unwrap(), "IN_PROGRESS");
    assert!(!fresh.contains_key("completed_at") && !fresh.contains_key("envelope"));
}

#[tokio::test]
async fn each_provider_record_expires_after_its_own_window() {
    let f = fixture(QueueShape::default()).await;
    let settings = DedupSettings {
        windows: DedupWindows::uniform(Duration::from_secs(7 * 86_400))
            .with("grafana", Duration::from_secs(600))
            .with("lark", Duration::from_secs(86_400)),
        ..f.moto.settings.clone()
    };
    let store = DynamoDbStore::new(f.moto.dynamodb.clone(), &settings);
    let of = |provider: &str| inlet_testkit::events::envelope(provider, "same-id");
    let now = NowMs::system();
    for provider in ["grafana", "lark", "other"] {
        let event = of(provider);
        store.claim(&event, &lease("a", NowMs(now.0 + 1000)), now).await.unwrap();
        store.complete(Completion::new(&event, "a", now)).await.unwrap();
    }
    assert_eq!(number(&f.moto.item("grafana:same-id").await.unwrap(), "expiration"), now.secs() + 600);
    assert_eq!(number(&f.moto.item("lark:same-id").await.unwrap(), "expiration"), now.secs() + 86_400);
    assert_eq!(number(&f.moto.item("other:same-id").await.unwrap(), "expiration"), now.secs() + 7 * 86_400);
    let after_grafana = NowMs(now.0 + 601_000);
    let again = |provider: &str| {
        let store = &store;
        let event = of(provider);
        async move { store.claim(&event, &lease("b", NowMs(after_grafana.0 + 1000)), after_grafana).await.unwrap() }
    };
    assert_eq!(again("grafana").await, Claim::Acquired(Progress::default()), "grafana's 10 min window is over");
    assert_eq!(again("lark").await, Claim::Completed { same_payload: true }, "lark's day is not");
}

#[tokio::test]
async fn late_attempt_cannot_complete_or_release_after_a_takeover() {
    let f = fixture(QueueShape::default()).await;
    let store = DynamoDbStore::new(f.moto.dynamodb.clone(), &f.moto.settings);
    let event = envelope("takeover", json!({}));
    let now = NowMs::system();
    store.claim(&event, &lease("late", NowMs(now.0 + 1000)), now).await.unwrap();
    let takeover = NowMs(now.0 + 1001);
    assert_eq!(
        store.claim(&event, &lease("new", NowMs(now.0 + 9000)), takeover).await.unwrap(),
        Claim::Acquired(Progress::default())
    );
    assert_eq!(store.release(&event.id, "late", &Progress::default()).await.unwrap(), Ownership::Lost);
    assert_eq!(store.complete(Completion::new(&event, "late", NowMs(now.0 + 1002))).await.unwrap(), Ownership::Lost);
    let stored = f.moto.item("test:takeover").await.unwrap();
    assert_eq!(stored["status"].as_s().unwrap(), "IN_PROGRESS", "the late attempt completed nothing");
    assert_eq!(stored["owner"].as_s().unwrap(), "new");
    assert_eq!(number(&stored, "in_progress_expiration"), now.0 + 9000, "nor shortened the new lease");
    assert_eq!(number(&stored, "sink_runs"), 2);
    assert_eq!(store.complete(Completion::new(&event, "new", NowMs(now.0 + 1003))).await.unwrap(), Ownership::Held);
    assert_eq!(f.moto.item("test:takeover").await.unwrap()["status"].as_s().unwrap(), "COMPLETED");
}

/// Per-destination progress rides on the writes an event makes anyway: the
/// release after a failed delivery writes it, and the takeover that follows
/// returns it (UpdateItem's ALL_OLD), so the retry knows what is done
/// without a read; the completion keeps the final state.
#[tokio::test]
async fn a_takeover_answers_the_destinations_progress_the_released_attempt_wrote() {
    let f = fixture(QueueShape::default()).await;
    let store = DynamoDbStore::new(f.moto.dynamodb.clone(), &f.moto.settings);
    let event = envelope("progress", json!({}));
    let now = NowMs::system();
    assert_eq!(
        store.claim(&event, &lease("first", NowMs(now.0 + 9000)), now).await.unwrap(),
        Claim::Acquired(Progress::default())
    );
    let mut progress = Progress::default();
    progress.note("bus", Ok(()), now);
    progress.note("app", Err((false, "HTTP 503")), now);
    assert_eq!(store.release(&event.id, "first", &progress).await.unwrap(), Ownership::Held);

    let retry = NowMs(now.0 + 1);
    let Claim::Acquired(found) = store.claim(&event, &lease("second", NowMs(now.0 + 9000)), retry).await.unwrap()
    else {
        panic!("the released lock is taken at once");
    };
    assert_eq!(found, progress, "the takeover answered what the first attempt wrote");
    assert!(found.is_settled("bus") && !found.is_settled("app"));

    let mut done = found;
    done.note("app", Ok(()), retry);
    assert_eq!(
        store.complete(Completion::new(&event, "second", retry).with_progress(&done)).await.unwrap(),
        Ownership::Held
    );
    let entry = store.entry(&event.id).await.unwrap().unwrap();
    assert_eq!(entry.status, "COMPLETED");
    assert_eq!(entry.deliveries, done);
    assert_eq!(entry.deliveries.0["app"].attempts, 2);
}

#[tokio::test]
async fn lease_follows_the_deadline_and_stays_below_the_visibility_timeout() {
    let f = fixture(QueueShape::default()).await;
    let processor = InProcess::new(&f, Vec::new());
    let short = invocation("r1", Duration::from_secs(3));
    let before = NowMs::system();
    processor.process(&[("a", &envelope("short", json!({})))], &short, NowMs::system).await;
    let stored = number(&f.moto.item("test:short").await.unwrap(), "in_progress_expiration");
    assert_eq!(Some(NowMs(stored)), short.deadline, "the invocation's deadline");
    // A function whose timeout outlasts the visibility timeout still gets a
    // lease that ends before the redelivery.
    let long = invocation("r2", Duration::from_secs(900));
    processor.process(&[("b", &envelope("long", json!({})))], &long, NowMs::system).await;
    let after = NowMs::system();
    let stored = number(&f.moto.item("test:long").await.unwrap(), "in_progress_expiration");
    assert!(stored >= before.0 + MAX_LEASE.as_millis() as i64 && stored <= after.0 + MAX_LEASE.as_millis() as i64);
    assert!(stored - before.0 < VISIBILITY.as_millis() as i64 + (after.0 - before.0));
}

/// DynamoDB applies each conditional write to its item atomically, and the
/// once-only claim relies on it; the emulator's launcher (tests/moto_server.py)
/// must keep that while it lets writes to different items run at once. Many
/// claims of one event at the same moment: exactly one takes the lock, both
/// for a new event (the conditional write creates the item) and once its lease
/// is over (the write takes an existing item over). Claims of other events run
/// among them, and each of those is taken once too.
#[tokio::test]
async fn racing_claims_of_one_event_take_its_lock_once() {
    const RACERS: usize = 24;
    let f = fixture(QueueShape::default()).await;
    let store = DynamoDbStore::new(f.moto.dynamodb.clone(), &f.moto.settings);
    for round in 0..12 {
        let contested = envelope(&format!("race-{round}"), json!({"round": round}));
        let others: Vec<Envelope> =
            (0..RACERS).map(|i| envelope(&format!("race-{round}-other-{i}"), json!({}))).collect();
        let now = NowMs::system();
        for (at, phase) in [(now, "new"), (NowMs(now.0 + 120_000), "taken over")] {
            let until = NowMs(at.0 + 60_000);
            let racing = (0..RACERS).map(|i| {
                let (store, contested, other) = (&store, &contested, &others[i]);
                async move {
                    let held = lease(&format!("{phase}-{i}"), until);
                    let (mine, theirs) = tokio::join!(store.claim(contested, &held, at), store.claim(other, &held, at));
                    (mine.expect("claim"), theirs.expect("claim"))
                }
            });
            let outcomes = futures::future::join_all(racing).await;
            let won = outcomes.iter().filter(|(mine, _)| *mine == Claim::Acquired(Progress::default())).count();
            assert_eq!(won, 1, "round {round}, {phase}: {outcomes:?}");
            assert!(outcomes.iter().all(|(mine, _)| matches!(mine, Claim::Acquired(_) | Claim::InProgress)));
            // Each other event had one claim in this phase (a new one, or a
            // take-over of its expired lease): it won.
            assert!(outcomes.iter().all(|(_, theirs)| *theirs == Claim::Acquired(Progress::default())), "{outcomes:?}");
        }
    }
}

#[tokio::test]
async fn two_concurrent_deliveries_of_one_event_run_the_sink_once() {
    let f = fixture(QueueShape::default()).await;
    let (processor, calls) = counting(&f, None, Duration::from_millis(200));
    let event = envelope("twice", json!({"x": 1}));
    let (one, two) = (invocation("r1", Duration::from_secs(5)), invocation("r2", Duration::from_secs(5)));
    let first = async { processor.process(&[("a", &event)], &one, NowMs::system).await };
    let second = async { processor.process(&[("b", &event)], &two, NowMs::system).await };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly one sink call");
    let retried = first.len() + second.len();
    assert_eq!(retried, 1, "the loser saw a live lease and is left for redelivery");
    // The redelivery finds the event completed and is acknowledged.
    let three = invocation("r3", Duration::from_secs(5));
    assert!(processor.process(&[("b", &event)], &three, NowMs::system).await.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(number(&f.moto.item("test:twice").await.unwrap(), "sink_runs"), 1);
}

#[tokio::test]
async fn crash_between_lock_and_completion_is_taken_over_after_the_lease_and_counted() {
    let f = fixture(QueueShape::default()).await;
    let (processor, calls) = counting(&f, None, Duration::ZERO);
    let event = envelope("crash", json!({}));
    let crashed_at = NowMs::system();
    let deadline = NowMs(crashed_at.0 + 5000);
    // The crashed attempt took the lock until its deadline and never completed.
    assert_eq!(
        processor.store.claim(&event, &lease("crashed", deadline), crashed_at).await.unwrap(),
        Claim::Acquired(Progress::default())
    );
    let redelivery = |at: i64| Invocation::new("r", (at + 5000) as u64, LeasePolicy::new(MAX_LEASE));
    let during = processor.process(&[("m", &event)], &redelivery(deadline.0 - 1), || NowMs(deadline.0 - 1)).await;
    assert_eq!(during, ["m"]);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let after = processor.process(&[("m", &event)], &redelivery(deadline.0 + 1), || NowMs(deadline.0 + 1)).await;
    assert!(after.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stored = f.moto.item("test:crash").await.unwrap();
    assert_eq!(stored["status"].as_s().unwrap(), "COMPLETED");
    assert_eq!(number(&stored, "sink_runs"), 2, "the crashed run and the takeover");
    // Later duplicates leave the count alone.
    let late = processor.process(&[("n", &event)], &redelivery(deadline.0 + 2), || NowMs(deadline.0 + 2)).await;
    assert!(late.is_empty());
    assert_eq!(number(&f.moto.item("test:crash").await.unwrap(), "sink_runs"), 2);
}

#[tokio::test]
async fn sink_failure_reports_that_record_alone_and_releases_its_lock() {
    let f = fixture(QueueShape::default()).await;
    let (processor, _) = counting(&f, Some("test:bad"), Duration::ZERO);
    let good = envelope("good", json!({}));
    let bad = envelope("bad", json!({}));
    let one = invocation("r1", Duration::from_secs(5));
    let response = processor.process(&[("g", &good), ("b", &bad)], &one, NowMs::system).await;
    assert_eq!(response, ["b"]);
    let released = f.moto.item("test:bad").await.expect("the record stays, with its count");
    assert_eq!(number(&released, "in_progress_expiration"), 0, "lease ended: the retry need not wait");
    assert!(!released.contains_key("owner"));
    let stored = f.moto.item("test:good").await.expect("good record");
    assert_eq!(stored["status"].as_s().unwrap(), "COMPLETED");
    // The completion stored the Envelope in the same item: the inbox.
    let inbox = processor.store.list(10).await.unwrap();
    let entry = inbox.iter().find(|e| e.id == "test:good").expect("listed");
    assert_eq!(entry.envelope.as_ref().unwrap()["id"], "test:good");
    assert_eq!(entry.sink_runs, Some(1));
    // The retry runs at once and the count shows the second run.
    let without_sinks = InProcess::new(&f, Vec::new());
    let retry = without_sinks.process(&[("b", &bad)], &invocation("r2", Duration::from_secs(5)), NowMs::system).await;
    assert!(retry.is_empty());
    assert_eq!(number(&f.moto.item("test:bad").await.unwrap(), "sink_runs"), 2);
}

// ---- the local pump ----

#[tokio::test]
async fn pump_deletes_successes_and_leaves_failures_until_the_dlq_takes_them() {
    let f = fixture(QueueShape { visibility_timeout_secs: 1, max_receive_count: 2, ..Default::default() }).await;
    let (invoker, calls) = counting(&f, Some("test:poison"), Duration::ZERO);
    let publisher = SqsPublisher::new(f.moto.sqs.clone(), f.queue_url.clone());
    publisher.publish_envelopes(&[envelope("fine", json!({})), envelope("poison", json!({}))]).await.unwrap();
    let arn = queue_arn(&f.moto.sqs, &f.queue_url).await.unwrap();

    let mut deleted = 0;
    let mut in_dlq = Vec::new();
    for _ in 0..20 {
        let stats = pump_once(&f.moto.sqs, &f.queue_url, &arn, &invoker, Duration::from_secs(1)).await.unwrap();
        deleted += stats.deleted;
        in_dlq = receive(&f.moto.sqs, &f.dlq_url, 0).await;
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
