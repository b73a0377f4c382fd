//! The custom alert handler driven by its samples, the committed `events/`
//! files and hand-made requests, with a fixed clock.

use std::collections::HashMap;

use alert_api::AlertApiFunction;
use alert_api::samples::{body, sample};
use http::{HeaderValue, Method, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::runtime::HttpFunction;
use inlet_shared::samples::{assert_refused, incoming_from_apigw_v2_event};
use serde_json::{Value, json};
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;
const API_KEY: &str = "test-key-Ak1";

fn settings(extra: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    let mut env: HashMap<&str, &str> = [("ALERT_API_KEYS", API_KEY), ("ALERT_BOT_IDS", "backup-bot, 4242")].into();
    env.extend(extra.iter().copied());
    env
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).expect("valid time")
}

async fn handle_with(env: &HashMap<&str, &str>, request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    let function = AlertApiFunction::from_env(env).expect("valid settings");
    let publisher = MemoryPublisher::new();
    let reply = function.handle(&publisher, request, now()).await;
    (reply, publisher)
}

async fn handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_with(&settings(&[]), request).await
}

fn sample_request(name: &str, unique: &str) -> IncomingRequest {
    sample(name, &settings(&[]), NOW, unique).expect("known sample").to_incoming()
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

// ---- the committed events/ files ----

fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

#[tokio::test]
async fn committed_events_match_the_samples_and_are_accepted_with_the_dev_settings() {
    let env = inlet_shared::config::load_env_file(&events_dir().join("env.json")).expect("events/env.json");
    let function = AlertApiFunction::from_env(&env).expect("dev settings are valid");
    for name in alert_api::samples::NAMES {
        let path = events_dir().join(format!("{name}.json"));
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("event file")).unwrap();
        let from_file = incoming_from_apigw_v2_event(&event).expect("API Gateway v2 event");
        assert_eq!(from_file.body, sample(name, &env, NOW, "sample").unwrap().body, "{name}: run `make events`");
        let publisher = MemoryPublisher::new();
        let reply = function.handle(&publisher, &from_file, now()).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{name}");
        assert_eq!(publisher.sent().len(), 1, "{name}");
    }
}

// ---- refused requests ----

#[tokio::test]
async fn wrong_missing_or_non_bearer_key_is_401() {
    for value in
        ["Bearer test-key-Ak", "Bearer test-key-Ak12", "Token test-key-Ak1", "Basic dGVzdC1rZXktQWsxOg==", API_KEY]
    {
        let request = with_header(sample_request("alert-api", "w"), "authorization", value.parse().unwrap());
        let (reply, publisher) = handle(&request).await;
        assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "Authorization header does not match");
    }
    let mut request = sample_request("alert-api", "w");
    request.headers.remove("authorization");
    let (reply, publisher) = handle(&request).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "missing Authorization header");
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
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "does not match");
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

#[tokio::test]
async fn oversized_body_is_413() {
    let env = settings(&[("INLET_MAX_BODY_BYTES", "64")]);
    let request = sample_request("alert-api", "big");
    assert!(request.body.len() > 64);
    let (reply, publisher) = handle_with(&env, &request).await;
    assert_refused(&reply, &publisher, StatusCode::PAYLOAD_TOO_LARGE, "over the 64-byte limit");
}

#[tokio::test]
async fn disallowed_source_address_is_403() {
    let env = settings(&[("ALERT_API_ALLOWED_CIDRS", "10.0.0.0/8, 192.0.2.1")]);
    let (reply, publisher) = handle_with(&env, &sample_request("alert-api", "ip")).await;
    assert_refused(&reply, &publisher, StatusCode::FORBIDDEN, "127.0.0.1");
    let mut inside = sample_request("alert-api", "ip");
    inside.source_ip = Some("192.0.2.1".parse().unwrap());
    let (reply, _) = handle_with(&env, &inside).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn queue_down_is_503_without_an_id() {
    let function = AlertApiFunction::from_env(&settings(&[])).unwrap();
    let publisher = MemoryPublisher::down();
    let reply = function.handle(&publisher, &sample_request("alert-api", "down"), now()).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body_json().unwrap(), json!({"error": "the event queue is unavailable"}));
}

#[tokio::test]
async fn unknown_path_is_404_and_get_is_405() {
    let mut request = sample_request("alert-api", "p");
    request.path = "/api/alerts".into();
    let (reply, _) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let mut request = sample_request("alert-api", "p");
    request.method = Method::GET;
    let (reply, _) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn start_up_requires_keys_and_bot_ids() {
    let no_keys: HashMap<&str, &str> = [("ALERT_BOT_IDS", "backup-bot")].into();
    assert_eq!(AlertApiFunction::from_env(&no_keys).err().expect("refused").name, "ALERT_API_KEYS");
    let no_bots: HashMap<&str, &str> = [("ALERT_API_KEYS", API_KEY), ("ALERT_BOT_IDS", " , ")].into();
    assert_eq!(AlertApiFunction::from_env(&no_bots).err().expect("refused").name, "ALERT_BOT_IDS");
    assert!(AlertApiFunction::from_env(&settings(&[])).is_ok());
}

#[tokio::test]
async fn secrets_never_appear_in_replies_or_envelopes() {
    let mut requests: Vec<IncomingRequest> =
        alert_api::samples::NAMES.iter().map(|name| sample_request(name, "secret-check")).collect();
    requests.push(with_header(
        sample_request("alert-api", "s"),
        "authorization",
        HeaderValue::from_static("Bearer test-key-Ak1x"),
    ));
    requests.push(post(&body("intruder", "m").to_string()));
    requests.push(post("{oops"));
    let mut outputs = Vec::new();
    for request in &requests {
        let (reply, publisher) = handle(request).await;
        outputs.push(String::from_utf8_lossy(&reply.body).to_string());
        outputs.extend(publisher.sent().iter().map(|e| serde_json::to_string(e).unwrap()));
    }
    assert!(outputs.iter().any(|o| o.contains("\"verification\"")), "envelopes were checked");
    for output in outputs {
        assert!(!output.contains(API_KEY), "API key leaked: {output}");
    }
}
