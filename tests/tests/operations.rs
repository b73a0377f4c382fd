//! Running inlet: refusal records, failure records, the dead-letter queue,
//! redrive and replay, against moto's server through the same SDK calls the
//! processor and `inlet dlq | redrive | replay | refused` make in production.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use inlet_cli::local::{QueueShape, create_resources};
use inlet_cli::ops::{self, Target};
use inlet_cli::pump::{Invoker, pump_once, queue_arn};
use inlet_shared::aws::dynamodb::DynamoDbStore;
use inlet_shared::aws::sqs::SqsPublisher;
use inlet_shared::dedup::{LeasePolicy, NowMs};
use inlet_shared::envelope::Envelope;
use inlet_shared::operations::OperationsSettings;
use inlet_shared::operations::{RECORD_ATTRIBUTE, REFUSAL_RECORD, REPLAY_ATTRIBUTE};
use inlet_shared::queue::Publisher;
use inlet_shared::sink::{Sink, SinkError};
use inlet_testkit::events::refusal;
use inlet_testkit::moto::{Moto, number, receive};
use processor::Invocation;
use serde_json::json;

const MAX_LEASE: Duration = Duration::from_secs(9);
/// A small ring, so a test can overfill it.
const CAP: u32 = 5;

/// The operator's view (`inlet_cli::ops`) of a queue of the local stack's
/// shape, its dead-letter queue and a dedup table, of this test's own.
struct Fixture {
    target: Target,
    moto: Moto,
}

async fn fixture(shape: QueueShape) -> Fixture {
    let moto = Moto::new(MAX_LEASE).await;
    let (shape, table) = (QueueShape { queue_name: moto.queue_name.clone(), ..shape }, &moto.settings.table_name);
    let resources = create_resources(&moto.sqs, &moto.dynamodb, &shape, table).await.expect("create resources on moto");
    let target = Target {
        sqs: moto.sqs.clone(),
        store: ops::store(moto.dynamodb.clone(), table),
        queue_url: resources.queue_url,
        dlq_url: resources.dlq_url,
        refusal_cap: CAP,
        description: "moto".into(),
    };
    Fixture { target, moto }
}

impl Fixture {
    fn store(&self) -> DynamoDbStore {
        DynamoDbStore::new(self.moto.dynamodb.clone(), &self.moto.settings)
    }

    /// Neither visible nor in-flight messages. Read from the queue's
    /// counters: receiving to look would hide the message it saw.
    async fn queue_is_empty(&self, url: &str) -> bool {
        inlet_cli::soak::queue_depth(&self.target.sqs, url).await.expect("queue attributes") == 0
    }
}

fn operations() -> OperationsSettings {
    OperationsSettings { refusal_cap: CAP, ..OperationsSettings::default() }
}

fn invocation(request_id: &str) -> Invocation {
    let deadline = NowMs::system().0 + 5000;
    Invocation { operations: operations(), ..Invocation::new(request_id, deadline as u64, LeasePolicy::new(MAX_LEASE)) }
}

fn envelope(id: &str) -> Envelope {
    inlet_testkit::events::envelope("test", id)
}

/// A sink that counts its calls and fails while told to.
struct Switchable {
    calls: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

#[async_trait]
impl Sink for Switchable {
    fn name(&self) -> &str {
        "switchable"
    }
    async fn handle(&self, _: &Envelope) -> Result<(), SinkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(SinkError::new("switchable", "the downstream API answered 500"));
        }
        Ok(())
    }
}

/// The real processor in-process, fed by the local pump.
struct InProcess {
    store: DynamoDbStore,
    sinks: Vec<Box<dyn Sink>>,
}

#[async_trait]
impl Invoker for InProcess {
    async fn invoke(&self, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        Ok(processor::process_batch(event.clone(), &invocation("pump"), &self.store, &self.sinks, NowMs::system).await)
    }
}

fn switchable(f: &Fixture) -> (InProcess, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let (calls, failing) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let sink = Switchable { calls: calls.clone(), failing: failing.clone() };
    (InProcess { store: f.store(), sinks: vec![Box::new(sink)] }, calls, failing)
}

fn string_attribute(value: &str) -> aws_sdk_sqs::types::MessageAttributeValue {
    aws_sdk_sqs::types::MessageAttributeValue::builder().data_type("String").string_value(value).build().unwrap()
}

/// A received SQS message as Lambda's event source mapping hands it over.
fn lambda_record(message: &aws_sdk_sqs::types::Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id.clone();
    record.body = message.body.clone();
    for (name, value) in message.message_attributes.iter().flatten() {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = value.string_value.clone();
        attribute.data_type = Some(value.data_type.clone());
        record.message_attributes.insert(name.clone(), attribute);
    }
    record
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// Pumps the event queue until `done` or 20 cycles.
async fn pump_until(f: &Fixture, invoker: &InProcess, mut done: impl AsyncFnMut() -> bool) {
    let arn = queue_arn(&f.target.sqs, &f.target.queue_url).await.unwrap();
    for _ in 0..20 {
        pump_once(&f.target.sqs, &f.target.queue_url, &arn, invoker, Duration::from_secs(1)).await.unwrap();
        if done().await {
            return;
        }
    }
    panic!("the pump did not get there in 20 cycles");
}

// ---- refusals ----

#[tokio::test]
async fn refusal_records_sent_on_the_queue_are_stored_in_a_ring_that_caps_storage() {
    let f = fixture(QueueShape::default()).await;
    let (invoker, calls, _) = switchable(&f);
    let now = NowMs::system().0;
    // 12 refusals a second apart (more than CAP slots and CAP seconds), sent
    // the way a receiver sends them: the record attribute, the JSON body.
    for n in 0..12 {
        let body = serde_json::to_string(&refusal("lark", now - (11 - n) * 1000)).unwrap();
        f.target
            .sqs
            .send_message()
            .queue_url(&f.target.queue_url)
            .message_body(body)
            .message_attributes(RECORD_ATTRIBUTE, string_attribute(REFUSAL_RECORD))
            .send()
            .await
            .unwrap();
    }
    pump_until(&f, &invoker, async || f.queue_is_empty(&f.target.queue_url).await).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a refusal record never reaches the sinks");
    assert!(f.queue_is_empty(&f.target.dlq_url).await, "records are acknowledged");

    let items = f.moto.scan().await;
    let ring: Vec<_> = items.iter().filter(|i| i["id"].as_s().unwrap().starts_with("refusal#lark#")).collect();
    assert_eq!(ring.len(), CAP as usize, "a flood overwrites the ring instead of growing the table");
    let ttl = number(ring[0], "expiration") - NowMs::system().secs();
    assert!((86_390..=86_400).contains(&ttl), "TTL is INLET_REFUSAL_TTL_SECS (a day): {ttl}");

    let shown = ops::refusals(&f.target, None, 100).await.unwrap();
    let times: Vec<i64> = shown.iter().map(|r| r.at_ms).collect();
    assert_eq!(times, (0..CAP as i64).map(|n| now - n * 1000).collect::<Vec<_>>(), "the newest CAP, newest first");
    assert_eq!(shown[0], refusal("lark", now));
    assert_eq!(ops::refusals(&f.target, Some("lark"), 2).await.unwrap().len(), 2, "--limit");
    assert!(ops::refusals(&f.target, Some("slack"), 100).await.unwrap().is_empty());
    assert!(ops::refusals(&f.target, Some("nope"), 100).await.is_err(), "unknown providers are named");
    assert!(f.store().list(100).await.unwrap().is_empty(), "the inbox lists events only");
}

#[tokio::test]
async fn expired_refusals_are_not_shown_before_the_ttl_sweep_removes_them() {
    let f = fixture(QueueShape::default()).await;
    let store = f.store();
    let now = NowMs::system();
    use inlet_shared::dedup::OperationsStore;
    store.record_refusal(&refusal("slack", now.0), CAP, now.secs() - 1).await.unwrap();
    store.record_refusal(&refusal("github", now.0), CAP, now.secs() + 60).await.unwrap();
    let shown = ops::refusals(&f.target, None, 100).await.unwrap();
    assert_eq!(shown.iter().map(|r| r.provider.as_str()).collect::<Vec<_>>(), ["github"]);
}

/// Secrets and a body a refused request carried: none may reach the table
/// or `inlet refused`.
const BODY_MARKER: &str = "BODY-MARKER-7f3a";
const SECRET_MARKER: &str = "SECRET-MARKER-91c2";

#[tokio::test]
async fn a_refused_request_is_recorded_without_its_body_or_the_presented_secret() {
    let f = fixture(QueueShape::default()).await;
    let (invoker, _, _) = switchable(&f);
    // A receiver refuses a request with a wrong secret and a body holding
    // the marker; what it publishes goes through the queue and processor.
    let publisher = SqsPublisher::new(f.target.sqs.clone(), f.target.queue_url.clone());
    let refused = refused_request_through_a_receiver(&publisher).await;
    assert!(refused >= 400, "the receiver refused it: {refused}");
    pump_until(&f, &invoker, async || f.queue_is_empty(&f.target.queue_url).await).await;

    let shown = ops::refusals(&f.target, None, 100).await.unwrap();
    assert_eq!(shown.len(), 1, "one refusal recorded: {shown:?}");
    assert_eq!(shown[0].provider, "alert-api");
    assert_eq!(shown[0].status, refused);
    let printed = serde_json::to_string(&shown).unwrap();
    let stored = format!("{:?}", f.moto.scan().await);
    for text in [&printed, &stored] {
        assert!(!text.contains(BODY_MARKER), "the body leaked: {text}");
        assert!(!text.contains(SECRET_MARKER), "the presented secret leaked: {text}");
    }
}

/// POSTs to the alert API with a wrong key (the marker) and a body holding
/// the other marker, through the receiver's own handler; returns the status.
async fn refused_request_through_a_receiver(publisher: &SqsPublisher) -> u16 {
    use inlet_shared::ingress::IncomingRequest;
    use inlet_shared::provider::HttpFunction;
    let settings: HashMap<&str, &str> =
        [("ALERT_API_KEYS", "the-real-key-NOT-A-SECRET"), ("ALERT_BOT_IDS", "bot")].into_iter().collect();
    let function = <alert_api::AlertApiFunction as inlet_shared::Provider>::from_env(&settings).expect("settings");
    let body = format!(r#"{{"title":"{BODY_MARKER}","severity":"critical"}}"#);
    let mut request = IncomingRequest::new(http::Method::POST, "/api/alert", body.into_bytes());
    request.append_header(b"content-type", b"application/json");
    request.append_header(b"x-api-key", SECRET_MARKER.as_bytes());
    request.append_header(b"authorization", format!("Bearer {SECRET_MARKER}").as_bytes());
    request.source_ip = "192.0.2.9".parse().ok();
    let reply = function.handle(publisher, &request, time::OffsetDateTime::now_utc()).await;
    reply.status.as_u16()
}

// ---- failures, the dead-letter queue and redrive ----

#[tokio::test]
async fn a_failed_message_writes_its_reason_and_dlq_redrive_bring_it_back_to_be_processed() {
    let f = fixture(QueueShape { visibility_timeout_secs: 1, max_receive_count: 2, ..Default::default() }).await;
    let (invoker, calls, failing) = switchable(&f);
    failing.store(true, Ordering::SeqCst);
    let publisher = SqsPublisher::new(f.target.sqs.clone(), f.target.queue_url.clone());
    publisher.publish_envelopes(&[envelope("poison")]).await.unwrap();
    pump_until(&f, &invoker, async || !f.queue_is_empty(&f.target.dlq_url).await).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "maxReceiveCount attempts");

    // The processor wrote why, once per failure, for as long as the DLQ keeps it.
    let letters = ops::dead_letters(&f.target).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    let failure = f.moto.item(&format!("failure#{}", letter.message_id)).await.expect("failure record");
    let ttl = number(&failure, "expiration") - NowMs::system().secs();
    assert!((14 * 86_400 - 60..=14 * 86_400).contains(&ttl), "kept as long as the DLQ keeps the message: {ttl}");
    assert_eq!(letter.event_id.as_deref(), Some("test:poison"));
    assert_eq!((letter.provider.as_deref(), letter.kind.as_deref()), (Some("test"), Some("test.kind")));
    assert_eq!(letter.receive_count, Some(2), "the last receive before the move");
    let reason = letter.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("the downstream API answered 500"), "{reason}");
    // Listing consumed nothing: the same message is listed again at once.
    let again = ops::dead_letters(&f.target).await.unwrap();
    assert_eq!(again.iter().map(|l| &l.message_id).collect::<Vec<_>>(), [&letter.message_id]);

    // Redrive by an id the DLQ does not hold moves nothing.
    let report = ops::redrive(&f.target, &["no-such-message".into()]).await.unwrap();
    assert_eq!((report.moved.len(), report.not_found.as_slice()), (0, ["no-such-message".to_string()].as_slice()));
    assert_eq!(ops::dead_letters(&f.target).await.unwrap().len(), 1, "and gives the rest back at once");

    // The sink is fixed; redrive moves the message back and it is processed.
    failing.store(false, Ordering::SeqCst);
    let report = ops::redrive(&f.target, std::slice::from_ref(&letter.message_id)).await.unwrap();
    assert_eq!(report.moved, std::slice::from_ref(&letter.message_id));
    assert!(report.failed.is_empty() && report.not_found.is_empty());
    assert!(ops::dead_letters(&f.target).await.unwrap().is_empty(), "deleted from the DLQ after the send");
    let store = f.store();
    pump_until(&f, &invoker, async || {
        store.entry("test:poison").await.unwrap().is_some_and(|e| e.status == "COMPLETED")
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3, "processed once after the redrive");
    let entry = store.entry("test:poison").await.unwrap().unwrap();
    assert_eq!(entry.sink_runs, Some(3), "every run is counted on the record");
}

#[tokio::test]
async fn redrive_keeps_body_and_attributes_unchanged() {
    let f = fixture(QueueShape::default()).await;
    // Put a message straight into the DLQ, as the redrive policy would.
    let body = serde_json::to_string(&envelope("moved")).unwrap();
    f.target
        .sqs
        .send_message()
        .queue_url(&f.target.dlq_url)
        .message_body(&body)
        .message_attributes("provider", string_attribute("test"))
        .message_attributes("kind", string_attribute("test.kind"))
        .send()
        .await
        .unwrap();
    let report = ops::redrive(&f.target, &[]).await.unwrap();
    assert_eq!(report.moved.len(), 1);
    let received = receive(&f.target.sqs, &f.target.queue_url, 1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body(), Some(body.as_str()));
    let attributes = received[0].message_attributes().unwrap();
    assert_eq!(attributes["provider"].string_value(), Some("test"));
    assert_eq!(attributes["kind"].string_value(), Some("test.kind"));
    assert!(f.queue_is_empty(&f.target.dlq_url).await);
}

/// Per-conversation ordering: a redriven dead letter goes back into its
/// conversation's group, and a replay into the event's, deduplicated as the
/// replay (FIFO saw the event's own id when it came, and would drop a copy
/// within five minutes).
#[tokio::test]
async fn redrive_and_replay_on_fifo_queues_keep_the_conversation_group() {
    let f = fixture(QueueShape { fifo: true, ..QueueShape::default() }).await;
    assert!(f.target.queue_url.ends_with(".fifo"));
    let body = serde_json::to_string(&envelope("lost")).unwrap();
    f.target
        .sqs
        .send_message()
        .queue_url(&f.target.dlq_url)
        .message_body(&body)
        .message_group_id("chat-7")
        .message_deduplication_id("lost-1")
        .send()
        .await
        .unwrap();
    let report = ops::redrive(&f.target, &[]).await.unwrap();
    assert_eq!((report.moved.len(), report.failed.len()), (1, 0), "{report:?}");
    let received = receive(&f.target.sqs, &f.target.queue_url, 1).await;
    assert_eq!(received.len(), 1);
    let group = |m: &aws_sdk_sqs::types::Message| {
        m.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)).cloned()
    };
    assert_eq!(group(&received[0]).as_deref(), Some("chat-7"));

    // A processed event, replayed twice at once: two messages, in its group.
    let (invoker, _, _) = switchable(&f);
    let store = f.store();
    let event = envelope("again");
    SqsPublisher::new(f.target.sqs.clone(), f.target.queue_url.clone())
        .publish_envelopes(std::slice::from_ref(&event))
        .await
        .unwrap();
    pump_until(&f, &invoker, async || {
        store.entry("test:again").await.unwrap().is_some_and(|e| e.status == "COMPLETED")
    })
    .await;
    ops::replay(&f.target, "test:again", None).await.unwrap();
    ops::replay(&f.target, "test:again", None).await.unwrap();
    let replays = receive(&f.target.sqs, &f.target.queue_url, 2).await;
    assert_eq!(replays.len(), 2, "neither replay was taken for the event's copy");
    for replay in &replays {
        assert_eq!(group(replay), Some(inlet_shared::queue::conversation_of(&event)));
    }
}

// ---- replay ----

#[tokio::test]
async fn replay_runs_the_sinks_again_once_and_is_counted_on_the_event() {
    let f = fixture(QueueShape::default()).await;
    let (invoker, calls, _) = switchable(&f);
    let store = f.store();
    let publisher = SqsPublisher::new(f.target.sqs.clone(), f.target.queue_url.clone());
    publisher.publish_envelopes(&[envelope("again")]).await.unwrap();
    pump_until(&f, &invoker, async || {
        store.entry("test:again").await.unwrap().is_some_and(|e| e.status == "COMPLETED")
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let replayed = ops::replay(&f.target, "test:again", None).await.unwrap();
    // Receive the replay and deliver it twice, as SQS may.
    let received = receive(&f.target.sqs, &f.target.queue_url, 1).await;
    assert_eq!(received.len(), 1);
    let record = lambda_record(&received[0]);
    assert_eq!(record.message_id.as_deref(), Some(replayed.message_id.as_str()));
    assert_eq!(record.message_attributes[REPLAY_ATTRIBUTE].string_value.as_deref(), Some(replayed.replay_id.as_str()));
    for attempt in ["r1", "r2"] {
        let response = processor::process_batch(
            batch(vec![record.clone()]),
            &invocation(attempt),
            &invoker.store,
            &invoker.sinks,
            NowMs::system,
        )
        .await;
        assert!(response.batch_item_failures.is_empty(), "{attempt}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the replay ran the sinks once, its redelivery not at all");
    let event = f.moto.item("test:again").await.unwrap();
    assert_eq!(number(&event, "replays"), 1);
    assert_eq!(event["last_replay_id"].as_s().unwrap(), &replayed.replay_id);
    assert_eq!(number(&event, "sink_runs"), 1, "the event's own record is otherwise unchanged");
    let own = f.moto.item(&format!("test:again#replay#{}", replayed.replay_id)).await.expect("the replay's own record");
    assert_eq!(own["status"].as_s().unwrap(), "COMPLETED");

    // A second replay is a new one.
    ops::replay(&f.target, "test:again", None).await.unwrap();
    pump_until(&f, &invoker, async || f.moto.item("test:again").await.is_some_and(|e| number(&e, "replays") == 2))
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // `--destination NAME`: the replay says which destination it is for.
    let to_one = ops::replay(&f.target, "test:again", Some("app")).await.unwrap();
    let received = receive(&f.target.sqs, &f.target.queue_url, 1).await;
    let record = lambda_record(&received[0]);
    assert_eq!(record.message_id.as_deref(), Some(to_one.message_id.as_str()));
    let only = &record.message_attributes[inlet_shared::operations::REPLAY_DESTINATION_ATTRIBUTE];
    assert_eq!(only.string_value.as_deref(), Some("app"));
}

#[tokio::test]
async fn replay_refuses_unknown_unfinished_and_unstored_events() {
    use inlet_shared::dedup::{Completion, IdempotencyStore, Lease};
    let f = fixture(QueueShape::default()).await;
    let store = f.store();
    let unknown = ops::replay(&f.target, "test:never", None).await.unwrap_err();
    assert!(unknown.contains("no event"), "{unknown}");
    let now = NowMs::system();
    let lease = Lease { owner: "a".into(), until: NowMs(now.0 + 5000) };
    store.claim(&envelope("running"), &lease, now).await.unwrap();
    let running = ops::replay(&f.target, "test:running", None).await.unwrap_err();
    assert!(running.contains("IN_PROGRESS, not completed"), "{running}");
    // Completed, but over the inbox copy's limit: nothing to replay.
    let mut big = envelope("big");
    big.payload = json!({"blob": "x".repeat(inlet_shared::dedup::INBOX_ENVELOPE_MAX_BYTES)}).into();
    store.claim(&big, &lease, now).await.unwrap();
    store.complete(Completion::new(&big, "a", now)).await.unwrap();
    let unstored = ops::replay(&f.target, "test:big", None).await.unwrap_err();
    assert!(unstored.contains("no stored Envelope"), "{unstored}");
    let own = ops::replay(&f.target, "test:big#replay#1-abc", None).await.unwrap_err();
    assert!(own.contains("inlet replay test:big"), "{own}");
    assert!(f.queue_is_empty(&f.target.queue_url).await, "nothing was sent");
}
