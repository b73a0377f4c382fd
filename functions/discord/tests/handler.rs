//! The Discord handler on the committed `events/` files and on requests
//! signed here, with a fixed clock.

use std::collections::HashMap;

use discord::DiscordFunction;
use discord::crypto::{public_key_hex, sign_ed25519};
use http::{Method, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::dev_settings;
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{assert_refused, assert_unauthenticated, event_request};
use serde_json::json;
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;

async fn handle_with(env: &HashMap<String, String>, request: &IncomingRequest, now: i64) -> (Reply, MemoryPublisher) {
    let function = DiscordFunction::from_env(env).expect("valid settings");
    let publisher = MemoryPublisher::new();
    let reply = function.handle(&publisher, request, OffsetDateTime::from_unix_timestamp(now).unwrap()).await;
    (reply, publisher)
}

async fn handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_with(&dev_settings(), request, NOW).await
}

fn seed() -> [u8; 32] {
    hex::decode(&dev_settings()["DISCORD_DEV_SIGNING_SEED"]).unwrap().try_into().unwrap()
}

fn signed(path: &str, body: &str, seed: &[u8; 32], timestamp: i64) -> IncomingRequest {
    let mut request = IncomingRequest::new(Method::POST, path, body.as_bytes().to_vec());
    let ts = timestamp.to_string();
    request.headers.insert("x-signature-ed25519", sign_ed25519(seed, &ts, body.as_bytes()).parse().unwrap());
    request.headers.insert("x-signature-timestamp", ts.parse().unwrap());
    request
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_testkit::conformance::check::<DiscordFunction>(&[]).await;
}

#[tokio::test]
async fn ping_is_answered_with_pong_and_not_enqueued() {
    let (reply, publisher) = handle(&event_request("discord-ping")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type, Some("application/json"));
    assert_eq!(reply.body_json().unwrap(), json!({"type": 1}));
    assert!(publisher.sent().is_empty());
}

#[tokio::test]
async fn command_is_deferred_and_enqueued_with_what_a_follow_up_needs() {
    let (reply, publisher) = handle(&event_request("discord-command")).await;
    assert_eq!(reply.body_json().unwrap(), json!({"type": 5}));
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1);
    let envelope = &sent[0];
    assert!(envelope.id.starts_with("discord:"), "{}", envelope.id);
    assert_eq!(envelope.id, format!("discord:{}", envelope.payload.to_value().unwrap()["id"].as_str().unwrap()));
    assert_eq!(envelope.kind, "application_command");
    assert_eq!(envelope.verification.matched.as_deref(), Some("DISCORD_PUBLIC_KEY#1"));
    let message = envelope.message.as_ref().unwrap();
    assert_eq!(message.text.as_deref(), Some("/deploy"));
    assert_eq!(message.chat_id.as_deref(), Some("1300000000000000001"));
    assert_eq!(message.sender_id.as_deref(), Some("1400000000000000001"));
    let handle = message.reply_handle.as_ref().unwrap();
    assert_eq!(handle["application_id"], "1100000000000000001");
    assert_eq!(handle["interaction_token"], "dev-interaction-token-sample");
}

#[tokio::test]
async fn component_gets_a_deferred_update_and_modal_a_deferred_message() {
    let (reply, publisher) = handle(&event_request("discord-component")).await;
    assert_eq!(reply.body_json().unwrap(), json!({"type": 6}));
    assert_eq!(publisher.sent()[0].kind, "message_component");
    assert_eq!(publisher.sent()[0].message.as_ref().unwrap().text.as_deref(), Some("approve"));
    let (reply, publisher) = handle(&event_request("discord-modal")).await;
    assert_eq!(reply.body_json().unwrap(), json!({"type": 5}));
    assert_eq!(publisher.sent()[0].kind, "modal_submit");
}

#[tokio::test]
async fn autocomplete_is_answered_with_no_choices_and_not_enqueued() {
    let (reply, publisher) = handle(&event_request("discord-autocomplete")).await;
    assert_eq!(reply.body_json().unwrap(), json!({"type": 8, "data": {"choices": []}}));
    assert!(publisher.sent().is_empty());
}

#[tokio::test]
async fn webhook_events_ping_is_204_empty_and_events_are_204_after_enqueue() {
    let (reply, publisher) = handle(&event_request("discord-events-ping")).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.body.is_empty());
    assert!(publisher.sent().is_empty());
    let request = event_request("discord-event");
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.body.is_empty());
    let sent = publisher.sent();
    assert_eq!(sent[0].kind, "APPLICATION_AUTHORIZED");
    assert_eq!(sent[0].id, format!("discord:{}", inlet_shared::Envelope::body_hash_id(&request.body)));
}

/// Discord checks an endpoint by sending it requests with invalid
/// signatures, PINGs included, and removes it if any is accepted.
#[tokio::test]
async fn invalid_signature_is_401_for_pings_too() {
    let logs = CapturedLogs::start();
    for name in ["discord-ping", "discord-command", "discord-events-ping"] {
        let mut request = event_request(name);
        request.headers.insert("x-signature-ed25519", "ab".repeat(64).parse().unwrap());
        let (reply, publisher) = handle(&request).await;
        assert_unauthenticated(&reply, &publisher);
    }
    assert!(logs.text().contains("X-Signature-Ed25519 does not match"), "{}", logs.text());
}

#[tokio::test]
async fn the_signature_covers_both_timestamp_and_body() {
    let logs = CapturedLogs::start();
    let mut request = event_request("discord-command");
    request.body.push(b' ');
    let (reply, publisher) = handle(&request).await;
    assert_unauthenticated(&reply, &publisher);
    let mut request = event_request("discord-command");
    let timestamp: i64 = request.header("x-signature-timestamp").unwrap().parse().unwrap();
    request.headers.insert("x-signature-timestamp", (timestamp + 1).to_string().parse().unwrap());
    let (reply, publisher) = handle(&request).await;
    assert_unauthenticated(&reply, &publisher);
    assert_eq!(logs.text().matches("X-Signature-Ed25519 does not match").count(), 2, "{}", logs.text());
}

#[tokio::test]
async fn missing_signature_or_timestamp_is_401() {
    let logs = CapturedLogs::start();
    for header in ["x-signature-ed25519", "x-signature-timestamp"] {
        let mut request = event_request("discord-ping");
        request.headers.remove(header);
        let (reply, publisher) = handle(&request).await;
        assert_unauthenticated(&reply, &publisher);
        assert!(logs.text().contains(&format!("missing {header}")), "{}", logs.text());
    }
}

#[tokio::test]
async fn validly_signed_but_stale_request_is_401() {
    let logs = CapturedLogs::start();
    for now in [NOW + 301, NOW - 301] {
        let (reply, publisher) = handle_with(&dev_settings(), &event_request("discord-command"), now).await;
        assert_unauthenticated(&reply, &publisher);
    }
    assert_eq!(logs.text().matches("outside the allowed window").count(), 2, "{}", logs.text());
}

#[tokio::test]
async fn a_forged_request_is_told_bad_signature_even_when_stale() {
    let logs = CapturedLogs::start();
    let body = json!({"type": 1}).to_string();
    let (reply, publisher) = handle(&signed("/discord/interactions", &body, &[9; 32], NOW - 3600)).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(logs.text().contains("X-Signature-Ed25519 does not match"), "{}", logs.text());
    assert!(!logs.text().contains("outside the allowed window"), "{}", logs.text());
}

#[tokio::test]
async fn signed_garbage_is_400_and_unknown_type_is_400() {
    let (reply, publisher) = handle(&signed("/discord/interactions", "{nope", &seed(), NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "not valid JSON");
    let (reply, publisher) = handle(&signed("/discord/interactions", r#"{"type":42}"#, &seed(), NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "unknown interaction type");
    let (reply, publisher) = handle(&signed("/discord/interactions", r#"{"type":2,"token":"t"}"#, &seed(), NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "interaction id");
    let (reply, publisher) = handle(&signed("/discord/events", r#"{"type":7}"#, &seed(), NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "webhook event type");
}

#[tokio::test]
async fn rotated_key_list_names_the_matching_entry() {
    let mut env = dev_settings();
    let current = env["DISCORD_PUBLIC_KEY"].clone();
    env.insert("DISCORD_PUBLIC_KEY".into(), format!("{},{current}", public_key_hex(&[5; 32])));
    let (reply, publisher) = handle_with(&env, &event_request("discord-command"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("DISCORD_PUBLIC_KEY#2"));
}

#[test]
fn missing_or_malformed_public_key_fails_start_up() {
    let empty: HashMap<&str, &str> = HashMap::new();
    assert_eq!(DiscordFunction::from_env(&empty).err().unwrap().name, "DISCORD_PUBLIC_KEY");
    let bad: HashMap<&str, &str> = [("DISCORD_PUBLIC_KEY", "xyz")].into();
    assert!(DiscordFunction::from_env(&bad).is_err());
}
