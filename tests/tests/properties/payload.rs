//! Property: whatever JSON a Lark event holds and however it is written,
//! the Envelope queued for it carries the decrypted plaintext's own bytes
//! (less the Verification Token), and the processor hands its sinks a
//! payload equal to the plaintext as parsed (less the token).
//!
//! The random source is the parent module's (fixed unless
//! `PROPTEST_RNG_SEED` says otherwise).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use http::Method;
use inlet_shared::dedup::{LeasePolicy, MemoryStore, NowMs};
use inlet_shared::envelope::Envelope;
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::{HttpFunction, Provider};
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::dev_settings;
use inlet_shared::sink::{Sink, SinkError};
use lark::LarkFunction;
use lark::crypto::{encrypt_lark_body, lark_signature};
use processor::{Invocation, process_batch};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;
const TOKEN: &str = "dev-verification-token-NOT-A-SECRET";
const KEY: &str = "dev-encrypt-key-NOT-A-SECRET";

/// Any JSON value, a few levels deep: every kind of number, strings from
/// all of Unicode (the characters SQS refuses included).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        prop_oneof![Just("\u{fffe}"), Just("\u{ffff}"), Just("\"\\/"), Just("\u{1}")].prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// The event Lark would send with `data` as its `event`, written compact or
/// pretty.
fn plaintext(data: &Value, id: u32, pretty: bool) -> String {
    let event = json!({
        "schema": "2.0",
        "header": {"event_id": format!("ev-{id}"), "event_type": "custom.kind", "tenant_key": "t", "token": TOKEN},
        "event": data,
    });
    if pretty { serde_json::to_string_pretty(&event).unwrap() } else { event.to_string() }
}

fn sealed(plaintext: &str) -> IncomingRequest {
    let body = json!({"encrypt": encrypt_lark_body(KEY, [5; 16], plaintext.as_bytes())}).to_string();
    let mut request = IncomingRequest::new(Method::POST, "/lark/event", body.clone());
    let ts = NOW.to_string();
    request.headers.insert("x-lark-request-timestamp", ts.parse().unwrap());
    request.headers.insert("x-lark-request-nonce", "n".parse().unwrap());
    request.headers.insert("x-lark-signature", lark_signature(&ts, "n", KEY, body.as_bytes()).parse().unwrap());
    request
}

/// Keeps every Envelope the processor hands it.
struct Keeping(Arc<Mutex<Vec<Envelope>>>);

#[async_trait]
impl Sink for Keeping {
    fn name(&self) -> &str {
        "keeping"
    }
    async fn handle(&self, envelope: &Envelope) -> Result<(), SinkError> {
        self.0.lock().unwrap().push(envelope.clone());
        Ok(())
    }
}

/// The request through the Lark function, its queued bodies through the
/// processor: the bodies, and what the sink saw.
fn through_the_processor(request: &IncomingRequest) -> (Vec<String>, Vec<Envelope>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let function = LarkFunction::from_env(&dev_settings()).unwrap();
        let publisher = MemoryPublisher::new();
        let reply = function.handle(&publisher, request, OffsetDateTime::from_unix_timestamp(NOW).unwrap()).await;
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
        let bodies: Vec<String> = publisher.sent_messages().into_iter().map(|message| message.body).collect();
        let mut event = SqsEvent::default();
        event.records = bodies
            .iter()
            .enumerate()
            .map(|(index, body)| {
                let mut record = SqsMessage::default();
                record.message_id = Some(format!("m{index}"));
                record.body = Some(body.clone());
                record
            })
            .collect();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sinks: Vec<Box<dyn Sink>> = vec![Box::new(Keeping(seen.clone()))];
        let store = MemoryStore::with_window(Duration::from_secs(3600));
        let invocation = Invocation::new("r", 60_000, LeasePolicy::new(Duration::from_secs(9)));
        let response = process_batch(event, &invocation, &store, &sinks, || NowMs(1000)).await;
        assert!(response.batch_item_failures.is_empty());
        let seen = seen.lock().unwrap().clone();
        (bodies, seen)
    })
}

/// Fewer cases than the mutation properties: each runs the processor.
fn config() -> Config {
    Config { cases: 128, ..super::config() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_payload_reaches_the_sinks_as_the_plaintext_parsed_and_is_queued_as_its_bytes(
        data in any_json(),
        id in any::<u32>(),
        pretty in any::<bool>(),
    ) {
        let text = plaintext(&data, id, pretty);
        let (bodies, seen) = through_the_processor(&sealed(&text));
        prop_assert_eq!(bodies.len(), 1);
        prop_assert_eq!(seen.len(), 1);

        // What the sink sees: the plaintext parsed, less header.token.
        let mut expected: Value = serde_json::from_str(&text).unwrap();
        expected["header"].as_object_mut().unwrap().remove("token");
        prop_assert_eq!(seen[0].payload.to_value().unwrap(), expected);
        prop_assert_eq!(&seen[0].id, &format!("lark:ev-{id}"));

        // What the queue holds: the plaintext's bytes, less the token
        // member (the header's last, after its comma), the characters SQS
        // refuses written as escapes.
        let member = if pretty { format!(",\n    \"token\": \"{TOKEN}\"") } else { format!(",\"token\":\"{TOKEN}\"") };
        let bytes = text.replacen(&member, "", 1).replace('\u{fffe}', "\\ufffe").replace('\u{ffff}', "\\uffff");
        let members: std::collections::BTreeMap<String, Box<RawValue>> = serde_json::from_str(&bodies[0]).unwrap();
        prop_assert_eq!(members["payload"].get(), bytes.as_str());
        prop_assert!(!bodies[0].contains(TOKEN));
    }
}
