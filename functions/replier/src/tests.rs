use std::collections::VecDeque;
use std::sync::Mutex;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use inlet_shared::dedup::{DeliveryState, STATUS_IN_PROGRESS};
use inlet_shared::envelope::MessageView;
use inlet_shared::metrics::CapturedMetrics;
use inlet_shared::queue::MemoryRedelivery;
use inlet_shared::reply::{Outgoing, Reply, ReplyClient, ReplyError, Sent};
use serde_json::Value;

use super::*;

const NOW: NowMs = NowMs(1_700_000_000_000);
const EVENT: &str = "telegram:devbot:7";
/// A handle field that stands for an interaction token: it must reach the
/// client and nothing else.
const HANDLE_SECRET: &str = "HANDLE-TOKEN-never-stored";

/// A platform that answers what it is told to, in order (then "sent"), and
/// keeps what it was asked to send.
struct FakePlatform {
    answers: Mutex<VecDeque<Result<Sent, ReplyError>>>,
    calls: Mutex<Vec<(ReplyTarget, Reply, String)>>,
}

impl FakePlatform {
    fn new(answers: Vec<Result<Sent, ReplyError>>) -> Arc<Self> {
        Arc::new(FakePlatform { answers: Mutex::new(answers.into()), calls: Mutex::default() })
    }

    fn calls(&self) -> Vec<(ReplyTarget, Reply, String)> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl ReplyClient for FakePlatform {
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<Sent, ReplyError> {
        let Outgoing { target, reply, reply_id, .. } = outgoing;
        self.calls.lock().unwrap().push((target.clone(), reply.clone(), reply_id.to_string()));
        // A platform answers later: other records of the batch run meanwhile.
        tokio::task::yield_now().await;
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Ok(Sent::via("fake sendMessage").with_message_id(Some("501".into()))))
    }
}

struct Harness {
    store: MemoryStore,
    platform: Arc<FakePlatform>,
    replies: Replies,
    redelivery: Arc<MemoryRedelivery>,
    metrics: Arc<CapturedMetrics>,
}

impl Harness {
    fn new(answers: Vec<Result<Sent, ReplyError>>) -> Self {
        let platform = FakePlatform::new(answers);
        Harness {
            store: MemoryStore::with_window(Duration::from_secs(3600)),
            replies: Replies::default().with("telegram", platform.clone()),
            platform,
            redelivery: Arc::new(MemoryRedelivery::default()),
            metrics: CapturedMetrics::new(),
        }
    }

    fn invocation(&self) -> Invocation {
        Invocation {
            metrics: Metrics::to(self.metrics.clone()),
            redelivery: Some(self.redelivery.clone()),
            ..Invocation::new("req-1", 0, LeasePolicy::new(Duration::from_secs(60)))
        }
    }

    async fn run(&self, records: Vec<SqsMessage>) -> Vec<String> {
        let mut event = SqsEvent::default();
        event.records = records;
        let response = process_batch(event, &self.invocation(), &self.store, &self.replies, || NOW).await;
        response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
    }

    /// The event, processed: its record completed with the Envelope.
    async fn processed(&self, envelope: &Envelope) {
        let lease = Lease { owner: "processor".into(), until: NowMs(NOW.0 + 60_000) };
        assert!(matches!(self.store.claim(envelope, &lease, NOW).await.unwrap(), Claim::Acquired(_)));
        assert_eq!(self.store.complete(Completion::new(envelope, "processor", NOW)).await.unwrap(), Ownership::Held);
    }

    /// The last metric line.
    fn metric(&self) -> Value {
        self.metrics.documents().pop().expect("a metric line")
    }
}

fn telegram_event() -> Envelope {
    let mut envelope = Envelope::new(
        "telegram",
        "devbot:7",
        "message",
        OffsetDateTime::from_unix_timestamp(1_699_999_990).unwrap(),
        Verification { scheme: "telegram-secret-token".into(), matched: None },
        json!({"update_id": 7}),
    );
    envelope.tenant = Some("devbot".into());
    envelope.message = Some(MessageView {
        chat_id: Some("-100123".into()),
        reply_handle: Some(json!({"chat_id": "-100123", "message_id": "77", "token": HANDLE_SECRET})),
        ..MessageView::default()
    });
    envelope
}

fn record(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(message_id.to_string());
    message.receipt_handle = Some(format!("handle-{message_id}-{receive_count}"));
    message.event_source_arn = Some("arn:aws:sqs:us-east-1:123456789012:inlet-replies".into());
    message.attributes.insert("ApproximateReceiveCount".into(), receive_count.to_string());
    message.body = Some(body.to_string());
    message
}

fn pong() -> ReplyRequest {
    ReplyRequest::new(EVENT, Reply::text("pong"))
}

fn state(harness: &Harness, request: &ReplyRequest) -> (String, Option<DeliveryState>, u32) {
    let entry = harness.store.entry(&request.dedup_key()).expect("the reply's record");
    let telegram = entry.deliveries.0.get("telegram");
    (entry.status, telegram.map(|d| d.state), telegram.map_or(0, |d| d.attempts))
}

#[tokio::test]
async fn a_reply_is_sent_once_to_the_events_conversation_and_recorded_without_its_handle() {
    let harness = Harness::new(vec![]);
    harness.processed(&telegram_event()).await;
    let request = pong();
    assert!(harness.run(vec![record("m1", &request.to_json(), 1)]).await.is_empty(), "acknowledged");

    let calls = harness.platform.calls();
    assert_eq!(calls.len(), 1);
    let (target, reply, reply_id) = &calls[0];
    assert_eq!((target.event_id.as_str(), target.chat_id.as_deref()), (EVENT, Some("-100123")));
    assert_eq!((target.tenant.as_deref(), target.field("message_id")), (Some("devbot"), Some("77")));
    assert_eq!(reply.text_str(), Some("pong"));
    assert_eq!(reply_id, &request.dedup_key(), "the platform gets the reply's own id");

    assert_eq!(state(&harness, &request), ("COMPLETED".into(), Some(DeliveryState::Delivered), 1));
    let entry = harness.store.entry(&request.dedup_key()).unwrap();
    let stored = serde_json::to_string(&entry).unwrap();
    assert!(!stored.contains(HANDLE_SECRET) && !stored.contains("-100123"), "no handle in the record: {stored}");
    let envelope = entry.envelope.expect("the record keeps what was asked");
    assert_eq!((envelope["provider"].as_str(), envelope["kind"].as_str()), (Some("reply"), Some("reply")));
    assert_eq!(envelope["payload"], json!({"event_id": EVENT, "reply": {"text": "pong"}, "id": null}));
    assert_eq!(envelope["verification"]["scheme"], RECORD_SCHEME);

    let metric = harness.metric();
    assert_eq!((metric["Function"].as_str(), metric["RepliesSent"].as_u64()), (Some("replier"), Some(1)));
    assert_eq!((metric["ReplyFailed"].as_u64(), metric["ReplyRefused"].as_u64()), (Some(0), Some(0)));
    assert!(harness.redelivery.delays().is_empty());
}

#[tokio::test]
async fn a_redelivered_request_is_skipped_and_a_second_id_is_a_second_post() {
    let harness = Harness::new(vec![]);
    harness.processed(&telegram_event()).await;
    let request = pong();
    assert!(harness.run(vec![record("m1", &request.to_json(), 1)]).await.is_empty());
    // The same request again: a redelivery, or `inlet reply` run twice.
    assert!(
        harness.run(vec![record("m1", &request.to_json(), 2), record("m2", &request.to_json(), 1)]).await.is_empty()
    );
    assert_eq!(harness.platform.calls().len(), 1, "posted once");
    assert_eq!(harness.metric()["Duplicates"], 2);

    // Two copies in one batch: one is sent, the other waits for the lock
    // and is a duplicate when it comes back.
    let again = ReplyRequest::new(EVENT, Reply::text("pong")).with_id("second");
    let failures = harness.run(vec![record("m3", &again.to_json(), 1), record("m4", &again.to_json(), 1)]).await;
    assert_eq!(failures, ["m4"], "the copy found the reply in progress");
    assert_eq!(harness.platform.calls().len(), 2, "the id made a second post");
    assert!(harness.run(vec![record("m4", &again.to_json(), 2)]).await.is_empty());
    assert_eq!(harness.platform.calls().len(), 2);
}

#[tokio::test]
async fn a_transient_failure_is_retried_after_the_backoff_or_the_platforms_wait() {
    let throttled = ReplyError::transient_after(Some(Duration::from_secs(45)), "telegram answered 429: retry after 45");
    let down = ReplyError::transient("telegram answered 502");
    let harness = Harness::new(vec![Err(throttled), Err(down)]);
    harness.processed(&telegram_event()).await;
    let request = pong();

    assert_eq!(harness.run(vec![record("m1", &request.to_json(), 1)]).await, ["m1"]);
    assert_eq!(
        harness.redelivery.delays(),
        [("handle-m1-1".to_string(), Duration::from_secs(45))],
        "the platform's wait"
    );
    assert_eq!(state(&harness, &request), (STATUS_IN_PROGRESS.into(), Some(DeliveryState::Failed), 1));
    let (_, until) = harness.store.lease_of(&request.dedup_key()).unwrap();
    assert!(until < NOW, "the lock is released for the redelivery");
    assert_eq!(harness.metric()["ReplyFailed"], 1);

    // The third receive waits the schedule's third step.
    assert_eq!(harness.run(vec![record("m1", &request.to_json(), 3)]).await, ["m1"]);
    assert_eq!(harness.redelivery.delays()[1], ("handle-m1-3".to_string(), Duration::from_secs(120)));

    assert!(harness.run(vec![record("m1", &request.to_json(), 4)]).await.is_empty());
    assert_eq!(harness.platform.calls().len(), 3);
    assert_eq!(state(&harness, &request), ("COMPLETED".into(), Some(DeliveryState::Delivered), 3));
}

#[tokio::test]
async fn a_permanent_failure_is_acknowledged_recorded_and_never_retried() {
    let refused = ReplyError::permanent("telegram answered 400: Bad Request: chat not found");
    let harness = Harness::new(vec![Err(refused)]);
    harness.processed(&telegram_event()).await;
    let request = pong();
    assert!(harness.run(vec![record("m1", &request.to_json(), 1)]).await.is_empty(), "acknowledged");
    assert!(harness.redelivery.delays().is_empty());
    assert_eq!(state(&harness, &request), ("COMPLETED".into(), Some(DeliveryState::Permanent), 1));
    let entry = harness.store.entry(&request.dedup_key()).unwrap();
    assert!(entry.deliveries.0["telegram"].last_error.as_deref().unwrap().contains("chat not found"));
    assert_eq!(harness.metric()["ReplyRefused"], 1);
    // A redelivery of it is not tried again.
    assert!(harness.run(vec![record("m1", &request.to_json(), 2)]).await.is_empty());
    assert_eq!(harness.platform.calls().len(), 1);
}

#[tokio::test]
async fn a_reply_to_an_event_not_processed_yet_is_retried_until_it_is() {
    let harness = Harness::new(vec![]);
    let request = pong();
    // No record at all.
    assert_eq!(harness.run(vec![record("m1", &request.to_json(), 1)]).await, ["m1"]);
    assert_eq!(harness.redelivery.delays(), [("handle-m1-1".to_string(), Duration::from_secs(10))]);
    // The processor has the event's lock, still delivering.
    let event = telegram_event();
    let lease = Lease { owner: "processor".into(), until: NowMs(NOW.0 + 60_000) };
    harness.store.claim(&event, &lease, NOW).await.unwrap();
    assert_eq!(harness.run(vec![record("m1", &request.to_json(), 2)]).await, ["m1"]);
    assert!(harness.platform.calls().is_empty(), "nothing was sent");
    assert_eq!(harness.metric()["ReplyFailed"], 1);

    harness.store.complete(Completion::new(&event, "processor", NOW)).await.unwrap();
    assert!(harness.run(vec![record("m1", &request.to_json(), 3)]).await.is_empty());
    assert_eq!(harness.platform.calls().len(), 1);
}

#[tokio::test]
async fn an_event_without_a_conversation_is_refused_for_good() {
    let harness = Harness::new(vec![]);
    let mut event = telegram_event();
    event.message = None;
    harness.processed(&event).await;
    let request = pong();
    assert!(harness.run(vec![record("m1", &request.to_json(), 1)]).await.is_empty());
    assert!(harness.platform.calls().is_empty());
    assert_eq!(state(&harness, &request), ("COMPLETED".into(), Some(DeliveryState::Permanent), 1));
    assert_eq!(harness.metric()["ReplyRefused"], 1);
}

#[tokio::test]
async fn an_unreadable_request_is_acknowledged_and_counted_and_nothing_is_stored() {
    let harness = Harness::new(vec![]);
    let mut no_body = record("m0", "", 1);
    no_body.body = None;
    let bodies = ["{not json", r#"{"event_id": "telegram:devbot:7"}"#, r#"{"event_id": "", "reply": {"text": "x"}}"#];
    let mut records: Vec<SqsMessage> =
        bodies.iter().enumerate().map(|(i, body)| record(&format!("m{}", i + 1), body, 1)).collect();
    records.push(no_body);
    assert!(harness.run(records).await.is_empty(), "none can ever succeed");
    assert!(harness.platform.calls().is_empty());
    assert!(harness.redelivery.delays().is_empty());
    let metric = harness.metric();
    assert_eq!((metric["ReplyRefused"].as_u64(), metric["BatchSize"].as_u64()), (Some(4), Some(4)));
}

#[tokio::test]
async fn a_target_given_inline_needs_no_record_of_the_event() {
    let harness = Harness::new(vec![]);
    let target = ReplyTarget::of(&telegram_event()).unwrap();
    let request = pong().with_target(target.clone());
    assert!(harness.store.entry(EVENT).is_none(), "the event has no record here");
    assert!(harness.run(vec![record("m1", &request.to_json(), 1)]).await.is_empty());
    let calls = harness.platform.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, target);
    let stored = serde_json::to_string(&harness.store.entry(&request.dedup_key()).unwrap()).unwrap();
    assert!(!stored.contains(HANDLE_SECRET), "an inline handle is not stored either: {stored}");
}

#[tokio::test]
async fn a_reply_to_a_platform_without_a_client_is_refused() {
    let harness = Harness::new(vec![]);
    let target = ReplyTarget {
        event_id: "github:1".into(),
        provider: "github".into(),
        ..ReplyTarget::of(&telegram_event()).unwrap()
    };
    let request = ReplyRequest::new("github:1", Reply::text("pong")).with_target(target);
    assert!(harness.run(vec![record("m1", &request.to_json(), 1)]).await.is_empty());
    let entry = harness.store.entry(&request.dedup_key()).unwrap();
    assert_eq!(entry.deliveries.0["github"].state, DeliveryState::Permanent);
}
