//! The Lark handler driven by the committed `events/` files and by signed
//! requests built here, with a fixed clock.

use std::collections::HashMap;

use http::{Method, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::runtime::HttpFunction;
use inlet_shared::samples::{assert_refused, dev_settings, dev_settings_with, event_request};
use inlet_shared::verify::lark::{encrypt_lark_body, lark_signature};
use lark::LarkFunction;
use lark::samples::{message_v2, sample};
use serde_json::{Value, json};
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;
const TOKEN: &str = "dev-verification-token-NOT-A-SECRET";
const KEY: &str = "dev-encrypt-key-NOT-A-SECRET";

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).expect("valid time")
}

async fn handle_with(env: &HashMap<String, String>, request: &IncomingRequest, now: i64) -> (Reply, MemoryPublisher) {
    let function = LarkFunction::from_env(env).expect("valid settings");
    let publisher = MemoryPublisher::new();
    let reply = function.handle(&publisher, request, at(now)).await;
    (reply, publisher)
}

async fn handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_with(&dev_settings(), request, NOW).await
}

/// A request signed the way Lark signs, over an arbitrary body.
fn signed(path: &str, body: &str, key: &str, timestamp: i64) -> IncomingRequest {
    let mut request = IncomingRequest::new(Method::POST, path, body.as_bytes().to_vec());
    let ts = timestamp.to_string();
    let signature = lark_signature(&ts, "nonce", key, body.as_bytes());
    request.headers.insert("x-lark-request-timestamp", ts.parse().unwrap());
    request.headers.insert("x-lark-request-nonce", "nonce".parse().unwrap());
    request.headers.insert("x-lark-signature", signature.parse().unwrap());
    request
}

fn encrypted(key: &str, plain: &Value) -> String {
    json!({"encrypt": encrypt_lark_body(key, [3; 16], plain.to_string().as_bytes())}).to_string()
}

// ---- the committed events/ files ----

#[tokio::test]
async fn plaintext_challenge_is_answered_and_not_enqueued() {
    let (reply, publisher) = handle(&event_request("lark-challenge")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), json!({"challenge": "challenge-sample"}));
    assert!(publisher.sent().is_empty());
}

#[tokio::test]
async fn encrypted_challenge_is_answered_in_plaintext() {
    let (reply, publisher) = handle(&event_request("lark-challenge-encrypted")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), json!({"challenge": "challenge-sample"}));
    assert!(publisher.sent().is_empty());
}

#[tokio::test]
async fn signed_v2_message_is_enqueued_with_its_message_view() {
    let (reply, publisher) = handle(&event_request("lark-message")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), json!({"msg": "success"}));
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1);
    let envelope = &sent[0];
    assert_eq!(envelope.id, "lark:ev-sample");
    assert_eq!(envelope.kind, "im.message.receive_v1");
    assert_eq!(envelope.tenant.as_deref(), Some("dev-tenant"));
    assert_eq!(envelope.verification.scheme, "lark-signature");
    assert_eq!(envelope.verification.matched.as_deref(), Some("LARK_ENCRYPT_KEY#1,LARK_VERIFICATION_TOKEN#1"));
    let message = envelope.message.as_ref().expect("message view");
    assert_eq!(message.text.as_deref(), Some("@_user_1 deploy status?"));
    assert_eq!(message.chat_id.as_deref(), Some("oc_devchat"));
    assert_eq!(message.sender_id.as_deref(), Some("ou_devuser"));
    assert_eq!(message.message_id.as_deref(), Some("om_sample"));
    assert_eq!(envelope.payload["header"]["event_id"], "ev-sample", "payload is the decrypted JSON");
}

#[tokio::test]
async fn v1_event_is_enqueued_under_its_uuid() {
    let (reply, publisher) = handle(&event_request("lark-v1-event")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, "lark:v1-sample");
    assert_eq!(sent[0].kind, "message");
}

#[tokio::test]
async fn new_style_card_action_is_enqueued_and_answered_with_an_empty_object() {
    let (reply, publisher) = handle(&event_request("lark-card")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), json!({}));
    let sent = publisher.sent();
    assert_eq!(sent[0].id, "lark:card-sample");
    assert_eq!(sent[0].kind, "card.action.trigger");
}

#[tokio::test]
async fn old_style_card_action_is_verified_by_sha1_and_keyed_by_body_hash() {
    let request = event_request("lark-card-legacy");
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), json!({}));
    let sent = publisher.sent();
    assert_eq!(sent[0].verification.scheme, "lark-card-signature-v1");
    assert_eq!(sent[0].verification.matched.as_deref(), Some("LARK_VERIFICATION_TOKEN#1"));
    assert_eq!(sent[0].id, format!("lark:{}", inlet_shared::Envelope::body_hash_id(&request.body)));
}

#[tokio::test]
async fn committed_events_match_what_the_samples_produce() {
    // events/ is generated by `inlet gen-events`; a change to the signing
    // code or the dev settings without regenerating is caught here.
    let env = dev_settings();
    for name in lark::samples::NAMES {
        let built = sample(name, &env, NOW, "sample").expect("sample");
        let from_file = event_request(name);
        assert_eq!(from_file.body, built.body, "{name}: run `make events`");
    }
}

// ---- forged, stale and malformed requests ----

#[tokio::test]
async fn forged_signature_is_401() {
    let mut request = event_request("lark-message");
    request.headers.insert("x-lark-signature", "0".repeat(64).parse().unwrap());
    let (reply, publisher) = handle(&request).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "X-Lark-Signature");
}

#[tokio::test]
async fn tampered_body_is_401() {
    let mut request = event_request("lark-message");
    request.body.insert(1, b' ');
    let (reply, publisher) = handle(&request).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "X-Lark-Signature");
}

#[tokio::test]
async fn stale_and_future_timestamps_are_401() {
    let request = event_request("lark-message");
    for now in [NOW + 301, NOW - 301] {
        let (reply, publisher) = handle_with(&dev_settings(), &request, now).await;
        assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "outside the allowed window");
    }
    let (reply, _) = handle_with(&dev_settings(), &request, NOW + 299).await;
    assert_eq!(reply.status, StatusCode::OK, "inside the window");
}

#[tokio::test]
async fn missing_timestamp_or_nonce_is_401() {
    for header in ["x-lark-request-timestamp", "x-lark-request-nonce"] {
        let mut request = event_request("lark-message");
        request.headers.remove(header);
        let (reply, publisher) = handle(&request).await;
        assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "missing");
    }
}

#[tokio::test]
async fn unsigned_event_is_401_when_an_encrypt_key_is_set() {
    let mut request = event_request("lark-message");
    request.headers.remove("x-lark-signature");
    let (reply, publisher) = handle(&request).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "missing X-Lark-Signature");
    // Nor may a plaintext body slip past the signature requirement.
    let plain = IncomingRequest::new(Method::POST, "/lark/event", message_v2(TOKEN, "p", NOW).to_string());
    let (reply, publisher) = handle(&plain).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "missing X-Lark-Signature");
}

#[tokio::test]
async fn wrong_verification_token_is_401_even_with_a_valid_signature() {
    let body = encrypted(KEY, &message_v2("not-the-token", "t", NOW));
    let (reply, publisher) = handle(&signed("/lark/event", &body, KEY, NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "verification token");
}

#[tokio::test]
async fn missing_verification_token_is_401() {
    let mut event = message_v2(TOKEN, "t", NOW);
    event["header"].as_object_mut().unwrap().remove("token");
    let (reply, publisher) = handle(&signed("/lark/event", &encrypted(KEY, &event), KEY, NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "missing verification token");
}

#[tokio::test]
async fn challenge_with_wrong_token_is_401() {
    let body = json!({"challenge": "c", "token": "nope", "type": "url_verification"}).to_string();
    let (reply, publisher) = handle(&IncomingRequest::new(Method::POST, "/lark/event", body)).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "verification token");
}

#[tokio::test]
async fn signed_body_that_is_not_json_is_400() {
    let (reply, publisher) = handle(&signed("/lark/event", "not json", KEY, NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "not valid JSON");
}

#[tokio::test]
async fn signed_body_with_bad_base64_or_padding_is_400() {
    let bad_base64 = json!({"encrypt": "%%%"}).to_string();
    let (reply, publisher) = handle(&signed("/lark/event", &bad_base64, KEY, NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "base64");
    // Encrypted under another key: the padding check fails.
    let other_key = encrypted("some other key", &message_v2(TOKEN, "x", NOW));
    let (reply, publisher) = handle(&signed("/lark/event", &other_key, KEY, NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "cannot decrypt");
    let short = json!({"encrypt": "AAAAAAAAAAAAAAAAAAAAAA=="}).to_string();
    let (reply, publisher) = handle(&signed("/lark/event", &short, KEY, NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "AES blocks");
}

#[tokio::test]
async fn unsigned_garbage_is_400() {
    let (reply, publisher) = handle(&IncomingRequest::new(Method::POST, "/lark/event", "{oops")).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "not valid JSON");
}

#[tokio::test]
async fn oversized_body_is_413_before_any_crypto() {
    let env = dev_settings_with(&[("INLET_MAX_BODY_BYTES", "1024")]);
    let mut request = event_request("lark-message");
    request.body = vec![b' '; 1025];
    let (reply, publisher) = handle_with(&env, &request, NOW).await;
    assert_refused(&reply, &publisher, StatusCode::PAYLOAD_TOO_LARGE, "over the 1024-byte limit");
}

#[tokio::test]
async fn queue_down_is_503_and_nothing_is_acknowledged() {
    let function = LarkFunction::from_env(&dev_settings()).unwrap();
    let publisher = MemoryPublisher::down();
    let reply = function.handle(&publisher, &event_request("lark-message"), at(NOW)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_ne!(reply.body_json().unwrap(), json!({"msg": "success"}));
}

#[tokio::test]
async fn challenge_is_answered_even_when_the_queue_is_down() {
    let function = LarkFunction::from_env(&dev_settings()).unwrap();
    let reply = function.handle(&MemoryPublisher::down(), &event_request("lark-challenge-encrypted"), at(NOW)).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn disallowed_source_address_is_403() {
    let env = dev_settings_with(&[("LARK_ALLOWED_CIDRS", "10.0.0.0/8")]);
    let (reply, publisher) = handle_with(&env, &event_request("lark-message"), NOW).await;
    assert_refused(&reply, &publisher, StatusCode::FORBIDDEN, "127.0.0.1");
}

#[tokio::test]
async fn unknown_path_is_404_and_get_is_405() {
    let (reply, _) = handle(&IncomingRequest::new(Method::POST, "/lark/nope", "{}")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let (reply, _) = handle(&IncomingRequest::new(Method::GET, "/lark/event", "")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn v2_event_without_event_id_is_400() {
    let mut event = message_v2(TOKEN, "t", NOW);
    event["header"].as_object_mut().unwrap().remove("event_id");
    let (reply, publisher) = handle(&signed("/lark/event", &encrypted(KEY, &event), KEY, NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "event_id");
}

#[tokio::test]
async fn old_style_card_without_signature_is_401() {
    let mut request = event_request("lark-card-legacy");
    request.headers.remove("x-lark-signature");
    let (reply, publisher) = handle(&request).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "X-Lark-Signature");
}

#[tokio::test]
async fn old_style_card_signed_with_another_token_is_401() {
    let env = dev_settings_with(&[("LARK_VERIFICATION_TOKEN", "a-different-token")]);
    let (reply, publisher) = handle_with(&env, &event_request("lark-card-legacy"), NOW).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "X-Lark-Signature");
}

// ---- rotation and plaintext mode ----

#[tokio::test]
async fn rotated_secrets_match_by_position() {
    let env = dev_settings_with(&[
        ("LARK_ENCRYPT_KEY", &format!("retired-key,{KEY}")),
        ("LARK_VERIFICATION_TOKEN", &format!("retired-token,{TOKEN}")),
    ]);
    let (reply, publisher) = handle_with(&env, &event_request("lark-message"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        publisher.sent()[0].verification.matched.as_deref(),
        Some("LARK_ENCRYPT_KEY#2,LARK_VERIFICATION_TOKEN#2")
    );
}

#[tokio::test]
async fn without_an_encrypt_key_plain_events_are_checked_by_token() {
    let env = dev_settings_with(&[("LARK_ENCRYPT_KEY", "")]);
    let body = message_v2(TOKEN, "plain", NOW).to_string();
    let (reply, publisher) =
        handle_with(&env, &IncomingRequest::new(Method::POST, "/lark/event", body.clone()), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.scheme, "lark-verification-token");
    let forged = body.replace(TOKEN, "guess");
    let (reply, publisher) = handle_with(&env, &IncomingRequest::new(Method::POST, "/lark/event", forged), NOW).await;
    assert_refused(&reply, &publisher, StatusCode::UNAUTHORIZED, "verification token");
    // An encrypted body cannot be opened without a key.
    let (reply, publisher) = handle_with(&env, &event_request("lark-challenge-encrypted"), NOW).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "LARK_ENCRYPT_KEY is not set");
}

#[tokio::test]
async fn secrets_never_appear_in_replies_or_envelopes() {
    let mut outputs = Vec::new();
    for name in lark::samples::NAMES {
        let (reply, publisher) = handle(&event_request(name)).await;
        outputs.push(String::from_utf8_lossy(&reply.body).to_string());
        outputs.extend(publisher.sent().iter().map(|e| serde_json::to_string(e).unwrap()));
    }
    let mut forged = event_request("lark-message");
    forged.headers.insert("x-lark-signature", "f".repeat(64).parse().unwrap());
    outputs.push(String::from_utf8_lossy(&handle(&forged).await.0.body).to_string());
    for output in outputs {
        assert!(!output.contains(KEY), "Encrypt Key leaked: {output}");
        assert!(!output.contains(TOKEN), "Verification Token leaked: {output}");
    }
}

#[test]
fn missing_verification_token_setting_fails_start_up() {
    let env: HashMap<&str, &str> = HashMap::new();
    let error = LarkFunction::from_env(&env).err().expect("must refuse to start");
    assert_eq!(error.name, "LARK_VERIFICATION_TOKEN");
}
