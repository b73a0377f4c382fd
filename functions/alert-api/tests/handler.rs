//! The custom alert handler driven by its samples, the committed `events/`
//! files and hand-made requests, with a fixed clock.

use std::collections::HashMap;

use alert_api::AlertApiFunction;
use alert_api::samples::body;
use http::{HeaderValue, Method, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::Samples;
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{assert_refused, assert_unauthenticated};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000;
const API_KEY: &str = "test-key-Ak1";

fn settings(extra: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    let mut env: HashMap<&str, &str> = [("ALERT_API_KEYS", API_KEY), ("ALERT_BOT_IDS", "backup-bot, 4242")].into();
    env.extend(extra.iter().copied());
    env
}

async fn handle_with(env: &HashMap<&str, &str>, request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    inlet_testkit::samples::handle_with::<AlertApiFunction>(env, request, NOW).await
}

async fn handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_with(&settings(&[]), request).await
}

fn sample_request(name: &str, unique: &str) -> IncomingRequest {
    AlertApiFunction::sample(name, &settings(&[]), NOW, unique).expect("known sample").to_incoming()
}

/// An authenticated POST of `body`.
fn post(body: &str) -> IncomingRequest {
    let mut request = IncomingRequest::new(Method::POST, "/api/alert", body.as_bytes().to_vec());
    request.headers.insert("authorization", format!("Bearer {API_KEY}").parse().unwrap());
    request
}

fn with_header(mut request: IncomingRequest, name: &'static str, value: HeaderValue) -> IncomingRequest {
    request.headers.insert(name, value);
    request
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_testkit::conformance::check::<AlertApiFunction>(&[]).await;
}

// ---- accepted alerts ----

#[tokio::test]
async fn alert_with_idempotency_key_is_202_with_its_id() {
    let request = sample_request("alert-api", "u1");
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1);
    let envelope = &sent[0];
    assert!(envelope.id.starts_with("alert-api:key:"), "{}", envelope.id);
    assert_eq!(reply.body_json().unwrap(), json!({"id": envelope.id}));
    assert_eq!(envelope.original_id.as_deref(), Some("sample-u1"), "the client's key is kept");
    assert_eq!(envelope.provider, "alert-api");
    assert_eq!(envelope.kind, "custom-alert");
    assert_eq!(envelope.tenant.as_deref(), Some("backup-bot"));
    assert_eq!(envelope.verification.scheme, "bearer-token");
    assert_eq!(envelope.verification.matched.as_deref(), Some("ALERT_API_KEYS#1"));
    assert_eq!(envelope.payload, serde_json::from_slice::<Value>(&request.body).unwrap());
    let message = envelope.message.as_ref().expect("message view");
    assert_eq!(message.sender_id.as_deref(), Some("backup-bot"));
    assert_eq!(message.chat_id.as_deref(), Some("ops-alerts"));
    assert_eq!(message.text.as_deref(), Some("Nightly backup failed on db-1 (u1)"));
    assert_eq!(message.reply_handle, Some(json!({"chat_id": "ops-alerts"})));
    let alert = envelope.alert.as_ref().expect("alert view");
    assert_eq!(alert.name, "BackupFailed");
    assert_eq!(alert.status, "firing");
    assert_eq!(alert.severity.as_deref(), Some("critical"));
    assert_eq!(alert.summary.as_deref(), Some("Nightly backup failed on db-1 (u1)"));
    assert_eq!(alert.labels["host"], "db-1");
    assert_eq!(alert.starts_at.as_deref(), Some("2023-11-14T22:13:20Z"), "Unix seconds become RFC 3339");
}

#[tokio::test]
async fn alerts_without_a_key_are_each_a_new_alert() {
    // The same alert an hour later is a second page, not a retry.
    let request = sample_request("alert-api-no-key", "u1");
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let first = publisher.sent()[0].id.clone();
    assert!(first.starts_with("alert-api:request:"), "{first}");
    assert_eq!(reply.body_json().unwrap(), json!({"id": first}));
    let (_, again) = handle(&request).await;
    assert_ne!(again.sent()[0].id, first);
}

#[tokio::test]
async fn an_idempotency_key_is_scoped_to_the_api_key_and_sender_that_presented_it() {
    let env = settings(&[("ALERT_API_KEYS", "test-key-Ak1, second-client-key")]);
    let keyed = |api_key: &str, sender: &str| {
        let mut request = IncomingRequest::new(
            Method::POST,
            "/api/alert",
            json!({"message": "m", "sender_id": sender}).to_string().into_bytes(),
        );
        request.headers.insert("authorization", format!("Bearer {api_key}").parse().unwrap());
        request.headers.insert("idempotency-key", "nightly-1".parse().unwrap());
        request
    };
    let mut ids = Vec::new();
    for (api_key, sender) in
        [("test-key-Ak1", "backup-bot"), ("second-client-key", "backup-bot"), ("test-key-Ak1", "4242")]
    {
        let (reply, publisher) = handle_with(&env, &keyed(api_key, sender)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
        ids.push(publisher.sent()[0].id.clone());
    }
    assert_ne!(ids[0], ids[1], "two clients using the same key value must not collide");
    assert_ne!(ids[0], ids[2], "two senders using the same key value must not collide");
    let (_, retry) = handle_with(&env, &keyed("test-key-Ak1", "backup-bot")).await;
    assert_eq!(retry.sent()[0].id, ids[0], "the same client's retry is the same event");
}

#[tokio::test]
async fn an_alert_too_deeply_nested_for_the_processor_is_refused_not_acknowledged() {
    // Metadata 126 levels deep parses here (the body is 127 deep), but
    // inside the Envelope it exceeds what the processor's decoder takes:
    // acknowledging it would send it to the DLQ.
    let metadata = (0..126).fold(json!(1), |inner, _| json!({ "n": inner }));
    let body = json!({"message": "m", "sender_id": "backup-bot", "metadata": metadata}).to_string();
    let (reply, publisher) = handle(&post(&body)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "cannot be processed");
}

#[tokio::test]
async fn the_idempotency_key_decides_the_id() {
    let first = sample_request("alert-api", "k");
    let mut retry = sample_request("alert-api", "k");
    retry.body = body("backup-bot", "the same alert, worded again").to_string().into_bytes();
    let (_, a) = handle(&first).await;
    let (_, b) = handle(&retry).await;
    assert_eq!(a.sent()[0].id, b.sent()[0].id);
    let (_, c) = handle(&sample_request("alert-api", "other")).await;
    assert_ne!(a.sent()[0].id, c.sent()[0].id);
}

#[tokio::test]
async fn minimal_alert_and_numeric_ids_are_accepted() {
    let (reply, publisher) =
        handle(&post(&json!({"message": "disk full", "sender_id": 4242, "chat_id": -100}).to_string())).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.tenant.as_deref(), Some("4242"));
    assert_eq!(envelope.message.as_ref().unwrap().chat_id.as_deref(), Some("-100"));
    let alert = envelope.alert.as_ref().unwrap();
    assert_eq!((alert.name.as_str(), alert.status.as_str()), ("custom", "firing"));
    assert_eq!(alert.starts_at, None);
}

#[tokio::test]
async fn rotated_keys_match_by_position() {
    let env = settings(&[("ALERT_API_KEYS", "retired-key, test-key-Ak1")]);
    let (reply, publisher) = handle_with(&env, &sample_request("alert-api", "r")).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("ALERT_API_KEYS#2"));
}

#[tokio::test]
async fn idempotency_key_of_255_printable_characters_is_accepted() {
    let key = "k".repeat(255);
    let request = with_header(sample_request("alert-api", "x"), "idempotency-key", key.parse().unwrap());
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(publisher.sent()[0].original_id.as_deref(), Some(key.as_str()));
}

// ---- refused requests ----

#[tokio::test]
async fn wrong_missing_or_non_bearer_key_is_401_and_the_log_says_which() {
    let logs = CapturedLogs::start();
    for value in
        ["Bearer test-key-Ak", "Bearer test-key-Ak12", "Token test-key-Ak1", "Basic dGVzdC1rZXktQWsxOg==", API_KEY]
    {
        let request = with_header(sample_request("alert-api", "w"), "authorization", value.parse().unwrap());
        let (reply, publisher) = handle(&request).await;
        assert_unauthenticated(&reply, &publisher);
    }
    assert!(logs.text().contains("Authorization header does not match"), "{}", logs.text());
    let mut request = sample_request("alert-api", "w");
    request.headers.remove("authorization");
    let (reply, publisher) = handle(&request).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(logs.text().contains("missing Authorization header"), "{}", logs.text());
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let request =
        with_header(sample_request("alert-api", "c"), "authorization", format!("bearer {API_KEY}").parse().unwrap());
    let (reply, _) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn sender_not_on_the_allowlist_is_403() {
    let (reply, publisher) = handle(&post(&body("intruder-bot", "hello").to_string())).await;
    assert_refused(&reply, &publisher, StatusCode::FORBIDDEN, "sender intruder-bot is not allowed");
    let (reply, publisher) = handle(&post(&json!({"message": "m", "sender_id": 4243}).to_string())).await;
    assert_refused(&reply, &publisher, StatusCode::FORBIDDEN, "sender 4243 is not allowed");
    let (reply, _) = handle(&post(&body("4242", "hello").to_string())).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "the second allowlist entry");
}

#[tokio::test]
async fn credentials_are_checked_before_the_body_is_parsed() {
    let mut request = IncomingRequest::new(Method::POST, "/api/alert", "{oops");
    request.headers.insert("authorization", "Bearer nope".parse().unwrap());
    let (reply, publisher) = handle(&request).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn bad_bodies_are_400() {
    for (body, reason) in [
        ("{\"message\": ".to_string(), "not valid JSON"),
        (json!(["message"]).to_string(), "JSON object"),
        (json!({"sender_id": "backup-bot"}).to_string(), "message is required"),
        (json!({"message": "", "sender_id": "backup-bot"}).to_string(), "message is required"),
        (json!({"message": "   ", "sender_id": "backup-bot"}).to_string(), "message is required"),
        (json!({"message": 42, "sender_id": "backup-bot"}).to_string(), "message must be a string"),
        (json!({"message": "m"}).to_string(), "sender_id is required"),
        (json!({"message": "m", "sender_id": ["backup-bot"]}).to_string(), "sender_id must be"),
        (json!({"message": "m", "sender_id": "backup-bot", "chat_id": {}}).to_string(), "chat_id must be"),
        (json!({"message": "m", "sender_id": "backup-bot", "timestamp": true}).to_string(), "timestamp must be"),
        (json!({"message": "m", "sender_id": "backup-bot", "timestamp": 1.5}).to_string(), "whole seconds"),
        (json!({"message": "m", "sender_id": "backup-bot", "metadata": "x"}).to_string(), "metadata must be an object"),
    ] {
        let (reply, publisher) = handle(&post(&body)).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, reason);
    }
}

#[tokio::test]
async fn unusable_idempotency_keys_are_400() {
    let values = [
        HeaderValue::from_str(&"k".repeat(256)).unwrap(),
        HeaderValue::from_static(""),
        HeaderValue::from_str("tab\there").unwrap(),
        HeaderValue::from_bytes("café".as_bytes()).unwrap(),
    ];
    for value in values {
        let request = with_header(sample_request("alert-api", "i"), "idempotency-key", value);
        let (reply, publisher) = handle(&request).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "Idempotency-Key must be 1 to 255 printable");
    }
}

#[test]
fn start_up_requires_keys_and_bot_ids() {
    let no_keys: HashMap<&str, &str> = [("ALERT_BOT_IDS", "backup-bot")].into();
    assert_eq!(AlertApiFunction::from_env(&no_keys).err().expect("refused").name, "ALERT_API_KEYS");
    let no_bots: HashMap<&str, &str> = [("ALERT_API_KEYS", API_KEY), ("ALERT_BOT_IDS", " , ")].into();
    assert_eq!(AlertApiFunction::from_env(&no_bots).err().expect("refused").name, "ALERT_BOT_IDS");
    assert!(AlertApiFunction::from_env(&settings(&[])).is_ok());
}
