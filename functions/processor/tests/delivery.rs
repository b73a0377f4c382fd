//! Delivery to destinations through the processor: each destination gets
//! each event once; a failing one is retried alone, after a backoff, and
//! never repeats or delays the others; a permanent refusal is recorded and
//! not retried. In-memory store, destinations and redelivery.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use inlet_shared::dedup::{DeliveryState, LeasePolicy, MemoryStore, NowMs, STATUS_COMPLETED, STATUS_IN_PROGRESS};
use inlet_shared::delivery::pattern::Pattern;
use inlet_shared::delivery::targets::{Target, Targets};
use inlet_shared::delivery::{Delivered, Delivery, DeliveryError, Destination, Outgoing};
use inlet_shared::envelope::{Envelope, MessageView};
use inlet_shared::operations::{REPLAY_ATTRIBUTE, REPLAY_DESTINATION_ATTRIBUTE};
use inlet_shared::queue::MemoryRedelivery;
use inlet_shared::reply::request::{MemoryReplyOutbox, ReplyOutbox, ReplyRequest};
use processor::{Invocation, process_batch, redelivery_delay};
use serde_json::json;

/// What a scripted destination answers for one event: the next scripted
/// answer for its id, or success when none is left.
type Answer = Delivery;

#[derive(Default)]
struct Scripted {
    name: String,
    script: Mutex<BTreeMap<String, VecDeque<Answer>>>,
    /// The ids of each call, in order.
    calls: Mutex<Vec<Vec<String>>>,
}

impl Scripted {
    fn new(name: &str) -> Arc<Scripted> {
        Arc::new(Scripted { name: name.into(), ..Default::default() })
    }

    fn answering(self: Arc<Self>, id: &str, answers: Vec<Answer>) -> Arc<Self> {
        self.script.lock().unwrap().insert(id.to_string(), answers.into());
        self
    }

    fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().unwrap().clone()
    }

    /// How often `id` was sent here.
    fn sent(&self, id: &str) -> usize {
        self.calls().iter().flatten().filter(|sent| *sent == id).count()
    }
}

#[async_trait]
impl Destination for Scripted {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, events: &[Outgoing<'_>]) -> Vec<Delivery> {
        self.calls.lock().unwrap().push(events.iter().map(|e| e.envelope.id.clone()).collect());
        let mut script = self.script.lock().unwrap();
        events
            .iter()
            .map(|event| {
                // Every destination is sent the bytes the queue carried.
                assert_eq!(Envelope::decode(event.body).unwrap(), *event.envelope);
                script.get_mut(&event.envelope.id).and_then(VecDeque::pop_front).unwrap_or(Ok(Delivered::default()))
            })
            .collect()
    }
}

fn target(destination: &Arc<Scripted>, pattern: Option<serde_json::Value>) -> Target {
    Target {
        pattern: pattern.map(|p| Pattern::parse(&p).expect("pattern")),
        destination: destination.clone() as Arc<dyn Destination>,
    }
}

/// `provider`'s event `id`, received at the epoch.
fn envelope(provider: &str, id: &str) -> Envelope {
    inlet_testkit::events::envelope_at(provider, id, time::OffsetDateTime::UNIX_EPOCH)
}

fn record(message_id: &str, envelope: &Envelope, receive_count: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(message_id.to_string());
    message.receipt_handle = Some(format!("handle-{message_id}-{receive_count}"));
    message.event_source_arn = Some("arn:aws:sqs:us-east-1:123456789012:inlet-events".into());
    message.attributes.insert("ApproximateReceiveCount".into(), receive_count.to_string());
    message.body = Some(envelope.encode().unwrap());
    message
}

/// The processor delivering to `targets`, with an in-memory store and
/// redelivery of its own.
struct Processor {
    targets: Targets,
    redelivery: Arc<MemoryRedelivery>,
    store: MemoryStore,
}

impl Processor {
    fn new(targets: Vec<Target>) -> Processor {
        let store = MemoryStore::with_window(Duration::from_secs(3600));
        Processor { targets: Targets::new(targets), redelivery: Arc::default(), store }
    }

    /// Request `request_id` at `now` (ms), 5 s before its deadline.
    fn invocation(&self, request_id: &str, now: i64) -> Invocation {
        Invocation {
            targets: self.targets.clone(),
            redelivery: Some(self.redelivery.clone()),
            ..Invocation::new(request_id, (now + 5000) as u64, LeasePolicy::new(Duration::from_secs(9)))
        }
    }

    /// `records` as one batch of `invocation` at `now`: the ids of the
    /// messages left for redelivery.
    async fn run_as(&self, invocation: &Invocation, now: i64, records: Vec<SqsMessage>) -> Vec<String> {
        let mut event = SqsEvent::default();
        event.records = records;
        let response = process_batch(event, invocation, &self.store, &[], || NowMs(now)).await;
        response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
    }

    /// `records` as one batch of request `request_id` at `now`.
    async fn run(&self, request_id: &str, now: i64, records: Vec<SqsMessage>) -> Vec<String> {
        self.run_as(&self.invocation(request_id, now), now, records).await
    }
}

#[tokio::test]
async fn every_destination_gets_a_new_event_once_and_its_record_says_so() {
    let (a, b) = (Scripted::new("a"), Scripted::new("b"));
    let processor = Processor::new(vec![target(&a, None), target(&b, None)]);
    let event = envelope("lark", "e1");
    assert!(processor.run("r1", 1000, vec![record("m1", &event, 1)]).await.is_empty());
    assert_eq!((a.sent("lark:e1"), b.sent("lark:e1")), (1, 1));
    let entry = processor.store.entry("lark:e1").unwrap();
    assert_eq!(entry.status, STATUS_COMPLETED);
    assert_eq!(entry.deliveries.0["a"].state, DeliveryState::Delivered);
    assert_eq!(entry.deliveries.0["b"].attempts, 1);
    // A redelivery of the completed event is a duplicate: nobody is called.
    processor.run("r2", 2000, vec![record("m1", &event, 2)]).await;
    assert_eq!((a.sent("lark:e1"), b.sent("lark:e1")), (1, 1));
    assert!(processor.redelivery.delays().is_empty());
}

#[tokio::test]
async fn a_failing_destination_is_retried_alone_after_a_backoff_and_the_others_are_not_repeated() {
    let ok = Scripted::new("ok");
    let flaky = Scripted::new("flaky").answering("lark:e1", vec![Err(DeliveryError::transient("HTTP 500"))]);
    let processor = Processor::new(vec![target(&ok, None), target(&flaky, None)]);
    let event = envelope("lark", "e1");

    let first = processor.run("r1", 1000, vec![record("m1", &event, 1)]).await;
    assert_eq!(first, ["m1"], "left for redelivery");
    let entry = processor.store.entry("lark:e1").unwrap();
    assert_eq!(entry.status, STATUS_IN_PROGRESS, "released, not completed");
    assert_eq!(entry.deliveries.0["ok"].state, DeliveryState::Delivered);
    assert_eq!(entry.deliveries.0["flaky"].state, DeliveryState::Failed);
    assert_eq!(entry.deliveries.0["flaky"].last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(processor.redelivery.delays(), [("handle-m1-1".to_string(), redelivery_delay(1))]);

    assert!(processor.run("r2", 2000, vec![record("m1", &event, 2)]).await.is_empty());
    assert_eq!(ok.sent("lark:e1"), 1, "the destination that succeeded is not called again");
    assert_eq!(flaky.sent("lark:e1"), 2);
    let entry = processor.store.entry("lark:e1").unwrap();
    assert_eq!(entry.status, STATUS_COMPLETED);
    assert_eq!(entry.deliveries.0["flaky"].attempts, 2);
    assert_eq!(entry.deliveries.0["flaky"].state, DeliveryState::Delivered);
    assert_eq!(entry.deliveries.0["ok"].attempts, 1);
}

#[tokio::test]
async fn backoff_grows_with_the_receive_count_and_waits_for_retry_after() {
    assert!(redelivery_delay(1) < redelivery_delay(2) && redelivery_delay(2) < redelivery_delay(4));
    assert!(redelivery_delay(1) >= Duration::from_secs(5), "not hammering a destination that is down");
    assert!(redelivery_delay(6) >= Duration::from_secs(30 * 60), "minutes, then an hour");
    assert_eq!(redelivery_delay(50), redelivery_delay(6), "capped");

    let slow = Scripted::new("slow")
        .answering("lark:e1", vec![Err(DeliveryError::transient_after(Some(Duration::from_secs(900)), "HTTP 429"))]);
    let processor = Processor::new(vec![target(&slow, None)]);
    processor.run("r1", 1000, vec![record("m1", &envelope("lark", "e1"), 3)]).await;
    assert_eq!(processor.redelivery.delays(), [("handle-m1-3".to_string(), Duration::from_secs(900))]);
}

#[tokio::test]
async fn a_permanent_refusal_is_recorded_and_never_retried() {
    let gone = Scripted::new("gone").answering("lark:e1", vec![Err(DeliveryError::permanent("HTTP 410"))]);
    let ok = Scripted::new("ok");
    let processor = Processor::new(vec![target(&gone, None), target(&ok, None)]);
    let response = processor.run("r1", 1000, vec![record("m1", &envelope("lark", "e1"), 1)]).await;
    assert!(response.is_empty(), "nothing a retry could fix is retried");
    let entry = processor.store.entry("lark:e1").unwrap();
    assert_eq!(entry.status, STATUS_COMPLETED);
    assert_eq!(entry.deliveries.0["gone"].state, DeliveryState::Permanent);
    assert_eq!(entry.deliveries.0["gone"].last_error.as_deref(), Some("HTTP 410"));
    assert!(processor.redelivery.delays().is_empty());
}

#[tokio::test]
async fn a_batch_makes_one_call_per_destination_with_only_the_events_it_matches() {
    let lark_only = Scripted::new("lark-only");
    let all = Scripted::new("all");
    let processor = Processor::new(vec![target(&lark_only, Some(json!({"provider": ["lark"]}))), target(&all, None)]);
    let events = [envelope("lark", "1"), envelope("telegram", "2"), envelope("lark", "3")];
    let records = events.iter().enumerate().map(|(i, e)| record(&format!("m{i}"), e, 1)).collect();
    processor.run("r1", 1000, records).await;
    assert_eq!(lark_only.calls(), [vec!["lark:1".to_string(), "lark:3".to_string()]]);
    assert_eq!(all.calls().len(), 1);
    assert_eq!(all.calls()[0].len(), 3);
    assert!(
        !processor.store.entry("telegram:2").unwrap().deliveries.0.contains_key("lark-only"),
        "nothing owed to a non-match"
    );
}

#[tokio::test]
async fn a_replay_to_one_destination_calls_only_that_one() {
    let (a, b) = (Scripted::new("a"), Scripted::new("b"));
    let processor = Processor::new(vec![target(&a, None), target(&b, None)]);
    let event = envelope("lark", "e1");
    processor.run("r1", 1000, vec![record("m1", &event, 1)]).await;
    let mut replay = record("m2", &event, 1);
    for (name, value) in [(REPLAY_ATTRIBUTE, "rp1"), (REPLAY_DESTINATION_ATTRIBUTE, "b")] {
        let mut attribute = aws_lambda_events::sqs::SqsMessageAttribute::default();
        attribute.string_value = Some(value.into());
        attribute.data_type = Some("String".into());
        replay.message_attributes.insert(name.into(), attribute);
    }
    assert!(processor.run("r2", 2000, vec![replay.clone()]).await.is_empty());
    assert_eq!((a.sent("lark:e1"), b.sent("lark:e1")), (1, 2), "the replay went to b alone");
    // The replay's own redelivery is a duplicate of the replay.
    processor.run("r3", 3000, vec![replay]).await;
    assert_eq!(b.sent("lark:e1"), 2);
}

#[tokio::test]
async fn each_called_destination_writes_a_metric_line_with_its_outcomes_and_latencies() {
    use inlet_shared::metrics::{CapturedMetrics, Metrics};
    let ok = Scripted::new("ok");
    let mixed = Scripted::new("mixed")
        .answering("lark:1", vec![Err(DeliveryError::transient("HTTP 503"))])
        .answering("lark:2", vec![Err(DeliveryError::permanent("HTTP 404"))]);
    let idle = Scripted::new("idle");
    let processor = Processor::new(vec![
        target(&ok, None),
        target(&mixed, None),
        target(&idle, Some(json!({"provider": ["nobody"]}))),
    ]);
    let captured = CapturedMetrics::new();
    let invocation = Invocation { metrics: Metrics::to(captured.clone()), ..processor.invocation("r1", 1500) };
    let records = ["1", "2", "3"].iter().map(|id| record(&format!("m{id}"), &envelope("lark", id), 1)).collect();
    // Envelopes received at the epoch; the batch runs 1.5 s later.
    processor.run_as(&invocation, 1500, records).await;
    let lines: Vec<serde_json::Value> =
        captured.documents().into_iter().filter(|line| line.get("Destination").is_some()).collect();
    assert_eq!(lines.len(), 2, "one line per destination called, none for one nothing matched: {lines:?}");
    let line = |name: &str| lines.iter().find(|l| l["Destination"] == name).unwrap().clone();
    let counts = |l: serde_json::Value| ["Delivered", "DeliveryFailed", "DeliveryRefused"].map(|m| l[m].as_u64());
    assert_eq!(counts(line("ok")), [Some(3), Some(0), Some(0)]);
    assert_eq!(counts(line("mixed")), [Some(1), Some(1), Some(1)]);
    assert_eq!(line("ok")["DeliveryLatency"], json!([1500.0, 1500.0, 1500.0]));
    assert_eq!(line("ok")["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Destination"], []]));
}

/// A FIFO record of conversation `group`, as Lambda passes it.
fn ordered(message_id: &str, envelope: &Envelope, group: &str) -> SqsMessage {
    let mut message = record(message_id, envelope, 1);
    message.attributes.insert("MessageGroupId".into(), group.into());
    message
}

#[tokio::test]
async fn in_order_per_conversation_nothing_overtakes_an_event_that_failed() {
    let app = Scripted::new("app").answering("lark:a1", vec![Err(DeliveryError::transient("HTTP 503"))]);
    let processor = Processor::new(vec![target(&app, None)]);
    let (a1, a2, a3) = (envelope("lark", "a1"), envelope("lark", "a2"), envelope("lark", "a3"));
    let (b1, b2) = (envelope("lark", "b1"), envelope("lark", "b2"));
    let records = vec![
        ordered("ma1", &a1, "chat-a"),
        ordered("mb1", &b1, "chat-b"),
        ordered("ma2", &a2, "chat-a"),
        ordered("mb2", &b2, "chat-b"),
        ordered("ma3", &a3, "chat-a"),
    ];
    let response = processor.run("r1", 1000, records).await;
    assert_eq!(response, ["ma1", "ma2", "ma3"], "the failed event and every later one of its conversation");
    let sent: Vec<String> = app.calls().concat();
    assert_eq!(sent, ["lark:a1", "lark:b1", "lark:b2"], "nothing of chat-a after a1; chat-b in its order");
    assert!(app.calls().iter().all(|call| call.len() <= 2), "one record of each conversation per call");
    assert!(processor.store.entry("lark:a2").is_none(), "a held-back event is not even claimed");

    // The redelivery, in order, delivers the rest once.
    let again = vec![ordered("ma1", &a1, "chat-a"), ordered("ma2", &a2, "chat-a"), ordered("ma3", &a3, "chat-a")];
    assert!(processor.run("r2", 2000, again).await.is_empty());
    assert_eq!(app.calls().concat(), ["lark:a1", "lark:b1", "lark:b2", "lark:a1", "lark:a2", "lark:a3"]);
}

#[tokio::test]
async fn the_backoff_schedule_is_a_setting_and_a_bad_one_stops_start_up() {
    use processor::RedeliverySchedule;
    let env =
        |value: &str| std::collections::HashMap::from([(RedeliverySchedule::SETTING.to_string(), value.to_string())]);
    assert_eq!(RedeliverySchedule::from_env(&env("")).unwrap(), RedeliverySchedule::default());
    let short = RedeliverySchedule::from_env(&env("2, 4,8")).unwrap();
    assert_eq!([1, 2, 3, 9].map(|n| short.delay(n).as_secs()), [2, 4, 8, 8], "the last step repeats");
    for bad in ["2,x", "-1", "43201", ","] {
        let error = RedeliverySchedule::from_env(&env(bad)).unwrap_err().to_string();
        assert!(error.contains(RedeliverySchedule::SETTING), "{bad}: {error}");
    }

    // The processor backs off by the schedule it was given.
    let flaky = Scripted::new("flaky").answering("lark:e1", vec![Err(DeliveryError::transient("HTTP 500"))]);
    let processor = Processor::new(vec![target(&flaky, None)]);
    let invocation = Invocation { redelivery_schedule: short, ..processor.invocation("r1", 1000) };
    processor.run_as(&invocation, 1000, vec![record("m1", &envelope("lark", "e1"), 3)]).await;
    assert_eq!(processor.redelivery.delays(), [("handle-m1-3".to_string(), Duration::from_secs(8))]);
}

// ------------------------------------------------------------------ replies

trait Tap: Sized {
    fn tap(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

impl Tap for Envelope {}

/// A Telegram message event: it has a conversation to answer.
fn chat_event(id: &str) -> Envelope {
    let mut event = envelope("telegram", id);
    event.tenant = Some("bot1".into());
    event.message = Some(MessageView {
        chat_id: Some("42".into()),
        message_id: Some("7".into()),
        reply_handle: Some(json!({"chat_id": "42", "message_id": "7"})),
        ..MessageView::default()
    });
    event
}

fn answering_with(reply: serde_json::Value) -> Answer {
    Ok(Delivered { reply: Some(reply) })
}

/// An outbox that refuses the first `fail` requests, then keeps them.
#[derive(Default)]
struct FlakyOutbox {
    fail: Mutex<usize>,
    kept: MemoryReplyOutbox,
}

#[async_trait]
impl ReplyOutbox for FlakyOutbox {
    async fn send(&self, request: &ReplyRequest) -> Result<(), String> {
        let refuse = {
            let mut fail = self.fail.lock().unwrap();
            let refuse = *fail > 0;
            *fail = fail.saturating_sub(1);
            refuse
        };
        if refuse {
            return Err("reply queue: connection refused".into());
        }
        self.kept.send(request).await
    }
}

impl FlakyOutbox {
    fn failing(times: usize) -> Arc<FlakyOutbox> {
        Arc::new(FlakyOutbox { fail: Mutex::new(times), ..FlakyOutbox::default() })
    }

    fn sent(&self) -> Vec<ReplyRequest> {
        self.kept.sent.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_destinations_reply_is_queued_once_with_the_events_conversation() {
    let bot = Scripted::new("bot").answering("telegram:t1", vec![answering_with(json!({"text": "pong"}))]);
    let (processor, outbox) = (Processor::new(vec![target(&bot, None)]), FlakyOutbox::failing(0));
    let event = chat_event("t1");
    for (request_id, now) in [("r1", 1000), ("r2", 2000)] {
        let invocation = Invocation { replies: Some(outbox.clone()), ..processor.invocation(request_id, now) };
        assert!(processor.run_as(&invocation, now, vec![record("m1", &event, 1)]).await.is_empty());
    }
    let sent = outbox.sent();
    assert_eq!(sent.len(), 1, "the redelivered event is a duplicate: no second reply");
    let request = &sent[0];
    assert_eq!((request.event_id.as_str(), request.reply.text_str()), ("telegram:t1", Some("pong")));
    assert_eq!(request.id.as_deref(), Some("destination:bot"), "one reply per event and destination");
    let target = request.target.as_ref().expect("the conversation travels with the reply");
    assert_eq!((target.provider.as_str(), target.field("chat_id")), ("telegram", Some("42")));
    assert_eq!(target.tenant.as_deref(), Some("bot1"));
}

#[tokio::test]
async fn a_reply_the_queue_refused_owes_the_destination_again_and_is_queued_under_the_same_key() {
    let pong = || answering_with(json!({"text": "pong"}));
    let bot = Scripted::new("bot").answering("telegram:t1", vec![pong(), pong()]);
    let (processor, outbox) = (Processor::new(vec![target(&bot, None)]), FlakyOutbox::failing(1));
    let event = chat_event("t1");
    let first = Invocation { replies: Some(outbox.clone()), ..processor.invocation("r1", 1000) };
    let first = processor.run_as(&first, 1000, vec![record("m1", &event, 1)]).await;
    assert_eq!(first, ["m1"], "not acknowledged while its reply is not queued");
    assert_eq!(processor.store.entry("telegram:t1").unwrap().status, STATUS_IN_PROGRESS);
    let second = Invocation { replies: Some(outbox.clone()), ..processor.invocation("r2", 60_000) };
    assert!(processor.run_as(&second, 60_000, vec![record("m1", &event, 2)]).await.is_empty());
    assert_eq!(bot.sent("telegram:t1"), 2, "the destination is asked again");
    assert_eq!(outbox.sent().len(), 1);
    assert_eq!(processor.store.entry("telegram:t1").unwrap().status, STATUS_COMPLETED);
}

#[tokio::test]
async fn a_reply_that_can_never_be_sent_is_refused_and_the_delivery_stands() {
    let outbox = FlakyOutbox::failing(0);
    let cases = [
        ("bad-shape", chat_event("c1"), json!({"txt": "typo"})),
        ("empty", chat_event("c2"), json!({"text": " "})),
        ("no-conversation", chat_event("c3").tap(|e| e.message = None), json!({"text": "hi"})),
        ("no-client", envelope("alert-api", "c5").tap(|e| e.message = chat_event("x").message), json!({"text": "hi"})),
        ("too-large", chat_event("c6"), json!({"text": "界".repeat(30_000)})),
    ];
    for (name, event, reply) in cases {
        let bot = Scripted::new("bot").answering(&event.id, vec![answering_with(reply)]);
        let processor = Processor::new(vec![target(&bot, None)]);
        let invocation = Invocation { replies: Some(outbox.clone()), ..processor.invocation(name, 1000) };
        let response = processor.run_as(&invocation, 1000, vec![record(name, &event, 1)]).await;
        assert!(response.is_empty(), "{name}: delivered; the reply is refused, not retried");
        assert_eq!(processor.store.entry(&event.id).unwrap().status, STATUS_COMPLETED, "{name}");
    }
    assert!(outbox.sent().is_empty());
    // Without a reply queue the reply is refused the same way.
    let bot = Scripted::new("bot").answering("telegram:c4", vec![answering_with(json!({"text": "hi"}))]);
    let processor = Processor::new(vec![target(&bot, None)]);
    assert!(processor.run("r4", 1000, vec![record("m4", &chat_event("c4"), 1)]).await.is_empty());
}
