//! The EventBridge and SQS destinations against moto's server: a bus with a
//! rule whose target is a queue, standard and FIFO queues, and the calls the
//! destinations make (counted on the wire).

use aws_sdk_eventbridge::types::{RuleState, Target};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use inlet_cli::pump::queue_arn;
use inlet_shared::delivery::eventbridge::EventBridgeDestination;
use inlet_shared::delivery::sqs::SqsDestination;
use inlet_shared::delivery::{DeliveryError, Destination, Outgoing};
use inlet_shared::envelope::{Envelope, MessageView, Verification};
use inlet_shared::queue::conversation_of;
use inlet_shared::queue::deduplication_id;
use inlet_testkit::moto::{RequestLog, aws_endpoint, create_queue as queue, receive, unique};
use serde_json::{Value, json};

struct Aws {
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    calls: RequestLog,
}

fn aws() -> Aws {
    let sdk = inlet_shared::aws::access::local_sdk_config(&aws_endpoint());
    let calls = RequestLog::default();
    let sqs =
        aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&sdk).interceptor(calls.clone()).build());
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&sdk).interceptor(calls.clone()).build(),
    );
    Aws { sqs, events, calls }
}

fn message(provider: &str, id: &str, chat: &str, payload: Value) -> Envelope {
    let mut envelope = Envelope::new(
        provider,
        id,
        "im.message.receive_v1",
        time::OffsetDateTime::now_utc(),
        Verification { scheme: "token".into(), matched: Some("LARK_VERIFICATION_TOKEN".into()) },
        payload,
    );
    envelope.tenant = Some("cli_a1".into());
    envelope.message =
        Some(MessageView { chat_id: Some(chat.into()), text: Some("hi".into()), ..MessageView::default() });
    envelope
}

/// Envelopes with their bodies, as the processor hands them over.
fn encoded(envelopes: &[Envelope]) -> Vec<(Envelope, String)> {
    envelopes.iter().map(|e| (e.clone(), e.encode().expect("encodes"))).collect()
}

fn outgoing(events: &[(Envelope, String)]) -> Vec<Outgoing<'_>> {
    events.iter().map(|(envelope, body)| Outgoing { envelope, body }).collect()
}

/// A bus with one rule, `{"source": ["inlet.lark"]}`, whose target is a
/// queue: what a team sets up to receive inlet's events.
async fn bus_with_lark_rule(aws: &Aws) -> (String, String) {
    let bus = unique("bus");
    aws.events.create_event_bus().name(&bus).send().await.expect("create bus");
    let queue_url = queue(&aws.sqs, &unique("lark-events"), &[]).await;
    let arn = queue_arn(&aws.sqs, &queue_url).await.expect("queue arn");
    aws.events
        .put_rule()
        .name("lark-to-queue")
        .event_bus_name(&bus)
        .event_pattern(json!({"source": ["inlet.lark"]}).to_string())
        .state(RuleState::Enabled)
        .send()
        .await
        .expect("put rule");
    aws.events
        .put_targets()
        .rule("lark-to-queue")
        .event_bus_name(&bus)
        .targets(Target::builder().id("queue").arn(arn).build().expect("target"))
        .send()
        .await
        .expect("put targets");
    (bus, queue_url)
}

fn assert_all_ok(results: &[inlet_shared::delivery::Delivery]) {
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

#[tokio::test]
async fn eventbridge_puts_source_detail_type_and_the_envelope_and_rules_route_by_provider() {
    let aws = aws();
    let (bus, queue_url) = bus_with_lark_rule(&aws).await;
    let destination = EventBridgeDestination { name: "bus".into(), bus: bus.clone(), client: aws.events.clone() };
    let events = encoded(&[
        message("lark", "ev-1", "oc_1", json!({"n": 1, "text": "héllo"})),
        message("slack", "ev-2", "C1", json!({"n": 2})),
        message("lark", "ev-3", "oc_1", json!({"n": 3})),
    ]);
    let results = destination.deliver(&outgoing(&events)).await;
    assert_all_ok(&results);
    assert_eq!(aws.calls.count("PutEvents"), 1);

    let received = receive(&aws.sqs, &queue_url, 2).await;
    assert_eq!(received.len(), 2, "only the two lark events match the rule");
    let mut bodies: Vec<Value> =
        received.iter().map(|m| serde_json::from_str(m.body().expect("body")).expect("JSON")).collect();
    bodies.sort_by_key(|b| b["detail"]["id"].as_str().map(str::to_string));
    for (body, (envelope, _)) in bodies.iter().zip([&events[0], &events[2]]) {
        assert_eq!(body["source"], "inlet.lark");
        assert_eq!(body["detail-type"], "im.message.receive_v1");
        let detail: Envelope = serde_json::from_value(body["detail"].clone()).expect("the detail is an Envelope");
        assert_eq!(&detail, envelope);
        // `Time` is the Envelope's `received_at` (moto writes it in whole
        // seconds, as EventBridge does).
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        let received_at = time::OffsetDateTime::parse(&envelope.received_at, rfc3339).expect("RFC 3339");
        let sent = time::OffsetDateTime::parse(body["time"].as_str().expect("time is set"), rfc3339).expect("time");
        assert_eq!(sent.unix_timestamp(), received_at.unix_timestamp(), "{} vs {}", body["time"], envelope.received_at);
    }

    // The bus can be named by its ARN as well.
    let arn = aws.events.describe_event_bus().name(&bus).send().await.expect("describe").arn.expect("arn");
    let by_arn = EventBridgeDestination { name: "bus".into(), bus: arn, client: aws.events.clone() };
    let one = encoded(&[message("lark", "ev-4", "oc_1", json!({}))]);
    assert_all_ok(&by_arn.deliver(&outgoing(&one)).await);
    assert_eq!(receive(&aws.sqs, &queue_url, 1).await.len(), 1);
}

#[tokio::test]
async fn twenty_five_events_go_out_in_three_puts_and_all_arrive() {
    let aws = aws();
    let (bus, queue_url) = bus_with_lark_rule(&aws).await;
    let destination = EventBridgeDestination { name: "bus".into(), bus, client: aws.events.clone() };
    let envelopes: Vec<Envelope> =
        (0..25).map(|i| message("lark", &format!("ev-{i}"), "oc_1", json!({ "n": i }))).collect();
    let events = encoded(&envelopes);
    let results = destination.deliver(&outgoing(&events)).await;
    assert_all_ok(&results);
    assert_eq!(results.len(), 25);
    assert_eq!(aws.calls.count("PutEvents"), 3, "10 + 10 + 5 entries");
    let received = receive(&aws.sqs, &queue_url, 25).await;
    let mut ids: Vec<String> = received
        .iter()
        .map(|m| serde_json::from_str::<Value>(m.body().expect("body")).expect("JSON")["detail"]["id"].to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25, "every event arrived once");
}

#[tokio::test]
async fn an_entry_over_256_kb_fails_for_good_and_the_others_are_delivered() {
    let aws = aws();
    let (bus, queue_url) = bus_with_lark_rule(&aws).await;
    let destination = EventBridgeDestination { name: "bus".into(), bus, client: aws.events.clone() };
    // Three entries of ~100 KB share calls by size: two fit in 256 KB, three
    // do not.
    let hundred_kb = "x".repeat(100 * 1024);
    let events = encoded(&[
        message("lark", "small-1", "oc_1", json!({})),
        message("lark", "huge", "oc_1", json!({ "blob": "y".repeat(256 * 1024) })),
        message("lark", "big-1", "oc_1", json!({ "blob": hundred_kb })),
        message("lark", "big-2", "oc_1", json!({ "blob": hundred_kb })),
        message("lark", "big-3", "oc_1", json!({ "blob": hundred_kb })),
    ]);
    let results = destination.deliver(&outgoing(&events)).await;
    assert!(results[1].as_ref().is_err_and(DeliveryError::is_permanent), "{:?}", results[1]);
    assert!(results[1].as_ref().unwrap_err().reason.contains("262144-byte"), "{:?}", results[1]);
    for index in [0, 2, 3, 4] {
        assert!(results[index].is_ok(), "{index}: {:?}", results[index]);
    }
    assert_eq!(aws.calls.count("PutEvents"), 2, "small + big-1 + big-2, then big-3");
    let received = receive(&aws.sqs, &queue_url, 4).await;
    assert_eq!(received.len(), 4);
    assert!(received.iter().all(|m| !m.body().unwrap_or_default().contains("lark:huge")));
}

#[tokio::test]
async fn a_missing_bus_fails_every_event_transiently() {
    let aws = aws();
    let destination =
        EventBridgeDestination { name: "bus".into(), bus: unique("no-such-bus"), client: aws.events.clone() };
    let envelopes: Vec<Envelope> =
        (0..12).map(|i| message("lark", &format!("ev-{i}"), "oc_1", json!({ "n": i }))).collect();
    let events = encoded(&envelopes);
    let results = destination.deliver(&outgoing(&events)).await;
    assert_eq!(results.len(), 12);
    for result in &results {
        let error = result.as_ref().expect_err("not delivered");
        assert!(!error.is_permanent(), "a missing bus is fixed by a deploy, not dropped: {error}");
        assert!(error.reason.contains("ResourceNotFoundException"), "{error}");
        assert!(error.reason.len() < 300, "the code and message, not the raw response: {error}");
    }
}

#[tokio::test]
async fn a_standard_queue_receives_each_envelope_body_unchanged() {
    let aws = aws();
    let queue_url = queue(&aws.sqs, &unique("team"), &[]).await;
    let destination = SqsDestination { name: "team".into(), queue_url: queue_url.clone(), client: aws.sqs.clone() };
    let events = encoded(&[
        message("lark", "ev-1", "oc_1", json!({"text": "héllo \u{fffe}"})),
        message("slack", "ev-2", "C1", json!({"n": 2})),
        message("telegram", "ev-3", "-100", json!({"n": 3})),
    ]);
    assert_all_ok(&destination.deliver(&outgoing(&events)).await);
    assert_eq!(aws.calls.count("SendMessageBatch"), 1);
    let mut bodies: Vec<String> =
        receive(&aws.sqs, &queue_url, 3).await.iter().map(|m| m.body().expect("body").to_string()).collect();
    bodies.sort();
    let mut sent: Vec<String> = events.iter().map(|(_, body)| body.clone()).collect();
    sent.sort();
    assert_eq!(bodies, sent);
}

fn fifo_attributes() -> [(QueueAttributeName, &'static str); 2] {
    [(QueueAttributeName::FifoQueue, "true"), (QueueAttributeName::ContentBasedDeduplication, "false")]
}

#[tokio::test]
async fn a_fifo_queue_gets_the_conversation_as_group_and_the_envelope_id_as_deduplication_id() {
    let aws = aws();
    let queue_url = queue(&aws.sqs, &format!("{}.fifo", unique("team")), &fifo_attributes()).await;
    let destination = SqsDestination { name: "team".into(), queue_url: queue_url.clone(), client: aws.sqs.clone() };
    let long_id = "z".repeat(200);
    let events = encoded(&[
        message("lark", "ev-1", "oc_1", json!({})),
        message("lark", "ev-2", "oc_2", json!({})),
        message("lark", &long_id, "oc_1", json!({})),
    ]);
    assert_all_ok(&destination.deliver(&outgoing(&events)).await);
    let received = receive(&aws.sqs, &queue_url, 3).await;
    assert_eq!(received.len(), 3);
    for (envelope, body) in &events {
        let message = received.iter().find(|m| m.body() == Some(body.as_str())).expect("arrived unchanged");
        let attributes = message.attributes().expect("system attributes");
        assert_eq!(
            attributes.get(&MessageSystemAttributeName::MessageGroupId).map(String::as_str),
            Some(conversation_of(envelope).as_str())
        );
        assert_eq!(
            attributes.get(&MessageSystemAttributeName::MessageDeduplicationId).map(String::as_str),
            Some(deduplication_id(&envelope.id).as_str())
        );
    }
    assert_eq!(conversation_of(&events[0].0), "lark:chat:cli_a1:oc_1");
    assert_eq!(deduplication_id(&events[0].0.id), "lark:ev-1");
    assert_eq!(deduplication_id(&events[2].0.id).len(), 64, "a 205-character id is hashed");
}

#[tokio::test]
async fn the_same_envelope_sent_twice_is_one_message_on_a_fifo_queue() {
    let aws = aws();
    let queue_url = queue(&aws.sqs, &format!("{}.fifo", unique("team")), &fifo_attributes()).await;
    let destination = SqsDestination { name: "team".into(), queue_url: queue_url.clone(), client: aws.sqs.clone() };
    let first =
        encoded(&[message("lark", "ev-1", "oc_1", json!({})), message("lark", &"q".repeat(300), "oc_1", json!({}))]);
    assert_all_ok(&destination.deliver(&outgoing(&first)).await);
    // A retry after a lost answer: the same Envelopes (a later attempt
    // re-encodes them; the deduplication id does not depend on the bytes).
    let again = encoded(&[first[0].0.clone(), first[1].0.clone()]);
    assert_all_ok(&destination.deliver(&outgoing(&again)).await);
    assert_eq!(aws.calls.count("SendMessageBatch"), 2);
    let received = receive(&aws.sqs, &queue_url, 2).await;
    assert_eq!(received.len(), 2, "each Envelope once: {:?}", received.iter().map(|m| m.body()).collect::<Vec<_>>());
}

#[tokio::test]
async fn batches_over_ten_messages_or_one_mib_are_split() {
    let aws = aws();
    let queue_url = queue(&aws.sqs, &unique("team"), &[]).await;
    let destination = SqsDestination { name: "team".into(), queue_url: queue_url.clone(), client: aws.sqs.clone() };
    let small: Vec<Envelope> = (0..25).map(|i| message("lark", &format!("s-{i}"), "oc_1", json!({ "n": i }))).collect();
    assert_all_ok(&destination.deliver(&outgoing(&encoded(&small))).await);
    assert_eq!(aws.calls.count("SendMessageBatch"), 3, "10 + 10 + 5");
    assert_eq!(receive(&aws.sqs, &queue_url, 25).await.len(), 25);

    // Three messages of 400 KB: two fit in 1 MiB, the third goes next.
    let blob = "b".repeat(400 * 1024);
    let big: Vec<Envelope> =
        (0..3).map(|i| message("lark", &format!("b-{i}"), "oc_1", json!({ "blob": blob }))).collect();
    assert_all_ok(&destination.deliver(&outgoing(&encoded(&big))).await);
    assert_eq!(aws.calls.count("SendMessageBatch"), 3 + 2);
    assert_eq!(receive(&aws.sqs, &queue_url, 3).await.len(), 3);
}

#[tokio::test]
async fn a_message_the_queue_refuses_fails_alone_and_for_good() {
    let aws = aws();
    // A queue configured for 1 KiB messages refuses the 2 KiB one; SQS
    // fails the whole batch for it, so the destination sends one at a time.
    let queue_url = queue(&aws.sqs, &unique("small"), &[(QueueAttributeName::MaximumMessageSize, "1024")]).await;
    let destination = SqsDestination { name: "team".into(), queue_url: queue_url.clone(), client: aws.sqs.clone() };
    let events = encoded(&[
        message("lark", "ok-1", "oc_1", json!({})),
        message("lark", "too-long", "oc_1", json!({ "blob": "l".repeat(2048) })),
        message("lark", "ok-2", "oc_1", json!({})),
    ]);
    let results = destination.deliver(&outgoing(&events)).await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(results[1].as_ref().is_err_and(DeliveryError::is_permanent), "{:?}", results[1]);
    assert_eq!(receive(&aws.sqs, &queue_url, 2).await.len(), 2);

    // Over the 1 MiB any queue takes: refused before any call.
    let before = aws.calls.count("SendMessageBatch");
    let huge = encoded(&[message("lark", "huge", "oc_1", json!({ "blob": "h".repeat(1024 * 1024) }))]);
    let results = destination.deliver(&outgoing(&huge)).await;
    assert!(results[0].as_ref().is_err_and(DeliveryError::is_permanent), "{results:?}");
    assert_eq!(aws.calls.count("SendMessageBatch"), before);
}

#[tokio::test]
async fn a_missing_queue_fails_every_event_transiently() {
    let aws = aws();
    let queue_url = queue(&aws.sqs, &unique("gone"), &[]).await;
    aws.sqs.delete_queue().queue_url(&queue_url).send().await.expect("delete queue");
    let destination = SqsDestination { name: "team".into(), queue_url, client: aws.sqs.clone() };
    let events = encoded(&[message("lark", "ev-1", "oc_1", json!({})), message("lark", "ev-2", "oc_1", json!({}))]);
    let results = destination.deliver(&outgoing(&events)).await;
    assert!(results.iter().all(|r| r.as_ref().is_err_and(|e| !e.is_permanent())), "{results:?}");
    let reason = &results[0].as_ref().unwrap_err().reason;
    assert!(reason.contains("QueueDoesNotExist") || reason.contains("NonExistentQueue"), "{reason}");
}
