//! The Lark handler driven by the committed `events/` files and by signed
//! requests built here, with a fixed clock.

use std::collections::HashMap;

use http::{Method, StatusCode};
use inlet_shared::error::IngressError;
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{assert_refused, dev_settings_with, event_request};
use lark::LarkFunction;
use lark::crypto::{decrypt_lark_body, encrypt_lark_body, lark_card_signature_v1, lark_signature};
use lark::samples::{legacy_card, message_v2};
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

/// A request signed the way Lark signs old-style card callbacks: SHA-1
/// keyed by the Verification Token, over the body as sent.
fn signed_old_style(body: &str, token: &str, timestamp: i64) -> IncomingRequest {
    let mut request = IncomingRequest::new(Method::POST, "/lark/card/action", body.as_bytes().to_vec());
    let ts = timestamp.to_string();
    let signature = lark_card_signature_v1(&ts, "nonce", token, body.as_bytes());
    request.headers.insert("x-lark-request-timestamp", ts.parse().unwrap());
    request.headers.insert("x-lark-request-nonce", "nonce".parse().unwrap());
    request.headers.insert("x-lark-signature", signature.parse().unwrap());
    request
}

fn unsigned(path: &str, body: impl Into<Vec<u8>>) -> IncomingRequest {
    IncomingRequest::new(Method::POST, path, body)
}

fn encrypted(key: &str, plain: &Value) -> String {
    encrypted_bytes(key, plain.to_string().as_bytes())
}

fn encrypted_bytes(key: &str, plain: &[u8]) -> String {
    json!({"encrypt": encrypt_lark_body(key, [3; 16], plain)}).to_string()
}

fn challenge(token: &str) -> Value {
    json!({"challenge": "c-1", "token": token, "type": "url_verification"})
}

fn no_encrypt_key() -> HashMap<String, String> {
    dev_settings_with(&[("LARK_ENCRYPT_KEY", "")])
}

/// The shared 401 assertion (the one body every 401 answers, nothing
/// enqueued), naming the case that failed it.
fn assert_unauthenticated(reply: &Reply, publisher: &MemoryPublisher, case: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}: {}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.content_type, Some("application/json"), "{case}");
    inlet_testkit::samples::assert_unauthenticated(reply, publisher);
}

/// Asserts the uniform 401 and that the log gives `reason` for it.
async fn assert_unauthenticated_because(
    env: &HashMap<String, String>,
    request: &IncomingRequest,
    now: i64,
    reason: &str,
) {
    let logs = CapturedLogs::start();
    let (reply, publisher) = handle_with(env, request, now).await;
    assert_unauthenticated(&reply, &publisher, reason);
    assert!(logs.text().contains(reason), "the log should say {reason:?}: {}", logs.text());
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    // Both configurations a Lark app can have: some samples exist only in one.
    inlet_testkit::conformance::check::<LarkFunction>(&[]).await;
    inlet_testkit::conformance::check::<LarkFunction>(&[("LARK_ENCRYPT_KEY", "")]).await;
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
    assert_eq!(
        envelope.payload.to_value().unwrap()["header"]["event_id"],
        "ev-sample",
        "payload is the decrypted JSON"
    );
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
async fn link_preview_callbacks_on_the_card_url_are_enqueued_too() {
    // The callback URL also receives url.preview.get in the v2 envelope.
    let mut body = message_v2(TOKEN, "preview", NOW);
    body["header"]["event_type"] = json!("url.preview.get");
    body["event"] = json!({"context": {"url": "https://example.com/doc", "preview_token": "t"}});
    let request = signed("/lark/card/action", &encrypted(KEY, &body), KEY, NOW);
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.body_json().unwrap(), json!({}));
    assert_eq!(publisher.sent()[0].kind, "url.preview.get");
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
    for name in <LarkFunction as Samples>::SAMPLE_NAMES {
        // Samples for the other configuration (no Encrypt Key) have no file.
        let Some(built) = LarkFunction::sample(name, &env, NOW, "sample") else { continue };
        let from_file = event_request(name);
        assert_eq!(from_file.body, built.body, "{name}: run `make events`");
        assert_eq!(from_file.headers, built.to_incoming().headers, "{name}: run `make events`");
    }
}

// ---- forged, stale and malformed requests ----

#[tokio::test]
async fn forged_signature_is_401() {
    let mut request = event_request("lark-message");
    request.headers.insert("x-lark-signature", "0".repeat(64).parse().unwrap());
    let (reply, publisher) = handle(&request).await;
    assert_unauthenticated(&reply, &publisher, "forged signature");
}

#[tokio::test]
async fn tampered_body_is_401() {
    let mut request = event_request("lark-message");
    request.body.insert(1, b' ');
    let (reply, publisher) = handle(&request).await;
    assert_unauthenticated(&reply, &publisher, "tampered body");
}

#[tokio::test]
async fn stale_and_future_timestamps_are_401() {
    let request = event_request("lark-message");
    for now in [NOW + 301, NOW - 301] {
        assert_unauthenticated_because(&dev_settings(), &request, now, "outside the allowed window").await;
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
        assert_unauthenticated(&reply, &publisher, header);
    }
}

#[tokio::test]
async fn unsigned_event_is_401_when_an_encrypt_key_is_set() {
    let mut request = event_request("lark-message");
    request.headers.remove("x-lark-signature");
    let (reply, publisher) = handle(&request).await;
    assert_unauthenticated(&reply, &publisher, "encrypted, unsigned");
    // Nor may a plaintext body slip past the signature requirement.
    let plain = IncomingRequest::new(Method::POST, "/lark/event", message_v2(TOKEN, "p", NOW).to_string());
    let (reply, publisher) = handle(&plain).await;
    assert_unauthenticated(&reply, &publisher, "plaintext, unsigned");
}

#[tokio::test]
async fn wrong_verification_token_is_401_even_with_a_valid_signature() {
    let body = encrypted(KEY, &message_v2("not-the-token", "t", NOW));
    let request = signed("/lark/event", &body, KEY, NOW);
    assert_unauthenticated_because(&dev_settings(), &request, NOW, "verification token does not match").await;
}

#[tokio::test]
async fn missing_verification_token_is_401() {
    let mut event = message_v2(TOKEN, "t", NOW);
    event["header"].as_object_mut().unwrap().remove("token");
    let request = signed("/lark/event", &encrypted(KEY, &event), KEY, NOW);
    assert_unauthenticated_because(&dev_settings(), &request, NOW, "missing verification token").await;
}

#[tokio::test]
async fn challenge_with_wrong_token_is_401() {
    let body = json!({"challenge": "c", "token": "nope", "type": "url_verification"}).to_string();
    let (reply, publisher) = handle(&IncomingRequest::new(Method::POST, "/lark/event", body)).await;
    assert_unauthenticated(&reply, &publisher, "challenge, wrong token");
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
    assert_unauthenticated(&reply, &publisher, "old-style card, unsigned");
}

#[tokio::test]
async fn old_style_card_signed_with_another_token_is_401() {
    let env = dev_settings_with(&[("LARK_VERIFICATION_TOKEN", "a-different-token")]);
    let (reply, publisher) = handle_with(&env, &event_request("lark-card-legacy"), NOW).await;
    assert_unauthenticated(&reply, &publisher, "old-style card, another token");
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
    assert_unauthenticated(&reply, &publisher, "plain event, wrong token");
    // An encrypted body cannot be opened without a key.
    let (reply, publisher) = handle_with(&env, &event_request("lark-challenge-encrypted"), NOW).await;
    assert_unauthenticated(&reply, &publisher, "encrypted, no key configured");
}

#[test]
fn missing_verification_token_setting_fails_start_up() {
    let env: HashMap<&str, &str> = HashMap::new();
    let error = LarkFunction::from_env(&env).err().expect("must refuse to start");
    assert_eq!(error.name, "LARK_VERIFICATION_TOKEN");
}

// ---- what real senders send: old-style cards encrypted, stray signature headers ----

#[tokio::test]
async fn encrypted_old_style_card_is_accepted() {
    // With an Encrypt Key, Lark encrypts old-style card callbacks too and
    // signs the ciphertext with SHA-1 keyed by the Verification Token.
    let request = event_request("lark-card-legacy-encrypted");
    assert!(request.body.starts_with(br#"{"encrypt":"#), "the sample is encrypted");
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.body_json().unwrap(), json!({}));
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, "card.action.trigger_v1");
    assert_eq!(sent[0].verification.scheme, "lark-card-signature-v1");
    assert_eq!(sent[0].verification.matched.as_deref(), Some("LARK_VERIFICATION_TOKEN#1,LARK_ENCRYPT_KEY#1"));
    assert_eq!(sent[0].payload, legacy_card("sample"), "payload is the decrypted callback");
    assert_eq!(sent[0].tenant.as_deref(), Some("dev-tenant"));
}

#[tokio::test]
async fn encrypted_old_style_card_under_a_rotated_key_is_opened() {
    let env = dev_settings_with(&[("LARK_ENCRYPT_KEY", &format!("retired-key,{KEY}"))]);
    let (reply, publisher) = handle_with(&env, &event_request("lark-card-legacy-encrypted"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(
        publisher.sent()[0].verification.matched.as_deref(),
        Some("LARK_VERIFICATION_TOKEN#1,LARK_ENCRYPT_KEY#2")
    );
}

#[tokio::test]
async fn tampered_or_forged_encrypted_old_style_cards_are_refused() {
    let genuine = event_request("lark-card-legacy-encrypted");
    let ciphertext = serde_json::from_slice::<Value>(&genuine.body).unwrap()["encrypt"].as_str().unwrap().to_string();
    // One base64 character of the ciphertext changed, signature kept.
    let mut flipped = ciphertext.clone().into_bytes();
    flipped[30] = if flipped[30] == b'A' { b'B' } else { b'A' };
    let tampered_body = json!({"encrypt": String::from_utf8(flipped).unwrap()}).to_string();
    let mut tampered = genuine.clone();
    tampered.body = tampered_body.clone().into_bytes();
    let mut forged = genuine.clone();
    forged.headers.insert("x-lark-signature", "0".repeat(40).parse().unwrap());
    // SHA-1 over the decrypted plaintext instead of the bytes as sent.
    let mut over_plaintext = genuine.clone();
    let plaintext = decrypt_lark_body(KEY, &ciphertext).unwrap();
    let (ts, nonce) =
        (genuine.header("x-lark-request-timestamp").unwrap(), genuine.header("x-lark-request-nonce").unwrap());
    over_plaintext
        .headers
        .insert("x-lark-signature", lark_card_signature_v1(ts, nonce, TOKEN, &plaintext).parse().unwrap());
    // Signed with the Encrypt Key's SHA-256 scheme: old-style bodies carry
    // no Verification Token, so that scheme's token check refuses it.
    let signed_with_sha256 = signed("/lark/card/action", &String::from_utf8(genuine.body.clone()).unwrap(), KEY, NOW);
    for (case, request) in [
        ("ciphertext changed", &tampered),
        ("forged signature", &forged),
        ("signature over the plaintext", &over_plaintext),
    ] {
        let (reply, publisher) = handle(request).await;
        assert_unauthenticated(&reply, &publisher, case);
    }
    assert_unauthenticated_because(&dev_settings(), &signed_with_sha256, NOW, "verification token does not match")
        .await;
    // Re-signed by someone who holds the Verification Token but not the
    // Encrypt Key: still the uniform answer, so no padding oracle on the key.
    let (reply, publisher) = handle(&signed_old_style(&tampered_body, TOKEN, NOW)).await;
    assert_unauthenticated(&reply, &publisher, "ciphertext changed and re-signed with the token");
}

#[tokio::test]
async fn old_style_cards_are_held_to_the_timestamp_window() {
    let request = event_request("lark-card-legacy-encrypted");
    for now in [NOW + 301, NOW - 301] {
        assert_unauthenticated_because(&dev_settings(), &request, now, "outside the allowed window").await;
    }
}

#[tokio::test]
async fn old_style_scheme_does_not_cover_schema_2_bodies() {
    let mut card = serde_json::from_slice::<Value>(&event_request("lark-card").body).unwrap();
    if card.get("encrypt").is_some() {
        let plain = decrypt_lark_body(KEY, card["encrypt"].as_str().unwrap()).unwrap();
        card = serde_json::from_slice(&plain).unwrap();
    }
    assert_eq!(card["schema"], "2.0");
    // With an Encrypt Key, a new-style card must carry the SHA-256 signature.
    let (reply, publisher) = handle(&signed_old_style(&encrypted(KEY, &card), TOKEN, NOW)).await;
    assert_unauthenticated(&reply, &publisher, "schema 2.0 under the SHA-1 scheme, key configured");
    // Without one, the token decides, as for any new-style callback.
    let (reply, publisher) =
        handle_with(&no_encrypt_key(), &signed_old_style(&card.to_string(), TOKEN, NOW), NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(publisher.sent()[0].verification.scheme, "lark-verification-token");
    let wrong_token = card.to_string().replace(TOKEN, "guess");
    let (reply, publisher) = handle_with(&no_encrypt_key(), &signed_old_style(&wrong_token, TOKEN, NOW), NOW).await;
    assert_unauthenticated(&reply, &publisher, "schema 2.0 under the SHA-1 scheme, wrong token in the body");
}

#[tokio::test]
async fn plain_event_with_stray_signature_headers_and_no_encrypt_key_is_checked_by_token() {
    let env = no_encrypt_key();
    let request =
        LarkFunction::sample("lark-message-no-encrypt-key", &env, NOW, "stray").expect("sample").to_incoming();
    assert!(request.header("x-lark-signature").is_some(), "the sample carries signature headers");
    let (reply, publisher) = handle_with(&env, &request, NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.body_json().unwrap(), json!({"msg": "success"}));
    assert_eq!(publisher.sent()[0].id, "lark:ev-stray");
    assert_eq!(publisher.sent()[0].verification.scheme, "lark-verification-token");
    // Whatever the headers say: they are not a credential without a key.
    let mut garbage = request.clone();
    garbage.headers.insert("x-lark-signature", "not-a-signature".parse().unwrap());
    garbage.headers.insert("x-lark-request-timestamp", "1".parse().unwrap());
    let (reply, _) = handle_with(&env, &garbage, NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    // The token still decides.
    let mut wrong_token = request.clone();
    wrong_token.body = String::from_utf8(request.body.clone()).unwrap().replace(TOKEN, "guess").into_bytes();
    let (reply, publisher) = handle_with(&env, &wrong_token, NOW).await;
    assert_unauthenticated(&reply, &publisher, "stray headers, wrong token");
    let mut no_token = message_v2(TOKEN, "stray", NOW);
    no_token["header"].as_object_mut().unwrap().remove("token");
    let mut missing = request.clone();
    missing.body = no_token.to_string().into_bytes();
    let (reply, publisher) = handle_with(&env, &missing, NOW).await;
    assert_unauthenticated(&reply, &publisher, "stray headers, no token");
    // The sample exists only for an app without an Encrypt Key.
    assert!(LarkFunction::sample("lark-message-no-encrypt-key", &dev_settings(), NOW, "x").is_none());
}

#[tokio::test]
async fn new_style_card_with_stray_signature_headers_and_no_encrypt_key_is_checked_by_token() {
    let env = no_encrypt_key();
    let request = LarkFunction::sample("lark-card", &env, NOW, "stray").expect("sample").to_incoming();
    let body = String::from_utf8(request.body.clone()).unwrap();
    let (reply, publisher) = handle_with(&env, &signed("/lark/card/action", &body, "whatever", NOW), NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(publisher.sent()[0].id, "lark:card-stray");
}

#[tokio::test]
async fn without_an_encrypt_key_old_style_cards_still_need_their_sha1_signature() {
    let env = no_encrypt_key();
    let (reply, publisher) = handle_with(&env, &event_request("lark-card-legacy"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(publisher.sent()[0].verification.scheme, "lark-card-signature-v1");
    let mut unsigned = event_request("lark-card-legacy");
    unsigned.headers.remove("x-lark-signature");
    let (reply, publisher) = handle_with(&env, &unsigned, NOW).await;
    assert_unauthenticated(&reply, &publisher, "old-style card, unsigned, no key");
    // An encrypted old-style card cannot be opened without the key.
    let (reply, publisher) = handle_with(&env, &event_request("lark-card-legacy-encrypted"), NOW).await;
    assert_unauthenticated(&reply, &publisher, "old-style card, encrypted, no key");
}

// ---- url_verification, on both URLs ----

#[tokio::test]
async fn url_verification_is_answered_plain_and_encrypted_on_both_urls() {
    for path in ["/lark/event", "/lark/card/action"] {
        for (case, body) in [("plain", challenge(TOKEN).to_string()), ("encrypted", encrypted(KEY, &challenge(TOKEN)))]
        {
            let (reply, publisher) = handle(&unsigned(path, body.clone())).await;
            assert_eq!(reply.status, StatusCode::OK, "{path} {case}: {}", String::from_utf8_lossy(&reply.body));
            assert_eq!(reply.body_json().unwrap(), json!({"challenge": "c-1"}), "{path} {case}");
            assert!(publisher.sent().is_empty());
            // Lark does not sign the challenge; signature headers, forged or
            // not, change nothing (the official SDK never checks them there).
            let mut with_headers = signed(path, &body, "not the key", NOW);
            with_headers.headers.insert("x-lark-signature", "f".repeat(64).parse().unwrap());
            let (reply, _) = handle(&with_headers).await;
            assert_eq!(reply.status, StatusCode::OK, "{path} {case} with stray headers");
        }
        let (reply, _) = handle_with(&no_encrypt_key(), &unsigned(path, challenge(TOKEN).to_string()), NOW).await;
        assert_eq!(reply.body_json().unwrap(), json!({"challenge": "c-1"}), "{path} without an Encrypt Key");
    }
}

// ---- no decryption oracle ----

#[tokio::test]
async fn every_unauthenticated_failure_answers_identically() {
    let dev = dev_settings();
    let no_key = no_encrypt_key();
    let message = message_v2(TOKEN, "t", NOW);
    let blocks = |n: usize| {
        use base64::Engine;
        json!({"encrypt": base64::engine::general_purpose::STANDARD.encode(vec![0u8; n])}).to_string()
    };
    let mut missing_token = challenge(TOKEN);
    missing_token.as_object_mut().unwrap().remove("token");
    let mut upper_case = event_request("lark-message");
    let signature = upper_case.header("x-lark-signature").unwrap().to_ascii_uppercase();
    upper_case.headers.insert("x-lark-signature", signature.parse().unwrap());
    let mut no_timestamp = event_request("lark-message");
    no_timestamp.headers.remove("x-lark-request-timestamp");
    let mut no_nonce = event_request("lark-message");
    no_nonce.headers.remove("x-lark-request-nonce");
    let mut forged = event_request("lark-message");
    forged.headers.insert("x-lark-signature", "0".repeat(64).parse().unwrap());
    let mut unsigned_encrypted = event_request("lark-message");
    unsigned_encrypted.headers.remove("x-lark-signature");
    let mut old_style_unsigned = event_request("lark-card-legacy-encrypted");
    old_style_unsigned.headers.remove("x-lark-signature");
    let cases: Vec<(&str, &HashMap<String, String>, IncomingRequest)> = vec![
        ("body is not JSON", &dev, unsigned("/lark/event", "{oops")),
        ("body is empty", &dev, unsigned("/lark/event", "")),
        ("encrypt is not a string", &dev, unsigned("/lark/event", r#"{"encrypt":5}"#)),
        ("encrypt is not base64", &dev, unsigned("/lark/event", r#"{"encrypt":"%%%"}"#)),
        ("ciphertext is an IV and one byte", &dev, unsigned("/lark/event", blocks(17))),
        ("ciphertext is not whole blocks", &dev, unsigned("/lark/event", blocks(40))),
        ("ciphertext is only an IV", &dev, unsigned("/lark/event", blocks(16))),
        ("bad padding (another key)", &dev, unsigned("/lark/event", encrypted("another key", &challenge(TOKEN)))),
        ("decrypts to something not JSON", &dev, unsigned("/lark/event", encrypted_bytes(KEY, b"not json"))),
        ("decrypts to something not UTF-8", &dev, unsigned("/lark/event", encrypted_bytes(KEY, b"\xff\xfe{}"))),
        ("challenge, wrong token", &dev, unsigned("/lark/event", challenge("guess").to_string())),
        ("challenge, wrong token, encrypted", &dev, unsigned("/lark/event", encrypted(KEY, &challenge("guess")))),
        ("challenge, no token", &dev, unsigned("/lark/event", missing_token.to_string())),
        ("challenge on the card URL, wrong token", &dev, unsigned("/lark/card/action", challenge("guess").to_string())),
        ("event, unsigned, plaintext", &dev, unsigned("/lark/event", message.to_string())),
        ("event, unsigned, encrypted", &dev, unsigned_encrypted),
        ("event, forged signature", &dev, forged),
        ("event, signature in upper case", &dev, upper_case),
        ("event, no timestamp header", &dev, no_timestamp),
        ("event, no nonce header", &dev, no_nonce),
        ("event, signed with the old-style scheme", &dev, {
            let mut r = signed_old_style(&encrypted(KEY, &message), TOKEN, NOW);
            r.path = "/lark/event".into();
            r
        }),
        ("old-style card, unsigned", &dev, old_style_unsigned),
        (
            "old-style card, signed with another token",
            &dev,
            signed_old_style(&legacy_card("x").to_string(), "guess", NOW),
        ),
        ("old-style card, re-signed ciphertext that decrypts to garbage", &dev, {
            signed_old_style(&encrypted_bytes(KEY, b"garbage"), TOKEN, NOW)
        }),
        ("old-style card, re-signed ciphertext under another key", &dev, {
            signed_old_style(&encrypted("another key", &legacy_card("x")), TOKEN, NOW)
        }),
        ("no key: encrypted body", &no_key, unsigned("/lark/event", encrypted(KEY, &challenge(TOKEN)))),
        ("no key: event, wrong token", &no_key, unsigned("/lark/event", message_v2("guess", "t", NOW).to_string())),
        ("no key: event, wrong token, stray headers", &no_key, {
            signed("/lark/event", &message_v2("guess", "t", NOW).to_string(), "", NOW)
        }),
        ("no key: old-style card, unsigned", &no_key, unsigned("/lark/card/action", legacy_card("x").to_string())),
    ];
    let mut answers = std::collections::BTreeSet::new();
    for (case, env, request) in &cases {
        let (reply, publisher) = handle_with(env, request, NOW).await;
        assert_unauthenticated(&reply, &publisher, case);
        answers.insert((reply.status, reply.content_type, reply.body.clone()));
    }
    assert_eq!(answers.len(), 1, "{} cases, one answer", cases.len());
}

#[tokio::test]
async fn padding_oracle_probe_gets_one_answer() {
    // The classic attack: vary the last byte of the block before the last
    // and watch whether the padding was valid. Every variant must look the
    // same to the caller, unsigned and re-signed by a token holder alike.
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    for (case, genuine) in [
        ("unsigned challenge", encrypted(KEY, &challenge(TOKEN))),
        ("old-style card", encrypted(KEY, &legacy_card("probe"))),
    ] {
        let ciphertext = serde_json::from_str::<Value>(&genuine).unwrap()["encrypt"].as_str().unwrap().to_string();
        let raw = engine.decode(&ciphertext).unwrap();
        let target = raw.len() - 17;
        let (mut padding_ok, mut padding_bad) = (0, 0);
        let mut answers = std::collections::BTreeSet::new();
        for guess in 0..=255u8 {
            if guess == raw[target] {
                continue;
            }
            let mut probe = raw.clone();
            probe[target] = guess;
            let probe = engine.encode(&probe);
            match decrypt_lark_body(KEY, &probe) {
                Ok(_) => padding_ok += 1,
                Err(_) => padding_bad += 1,
            }
            let body = json!({"encrypt": probe}).to_string();
            let request = if case == "old-style card" {
                signed_old_style(&body, TOKEN, NOW)
            } else {
                unsigned("/lark/event", body)
            };
            let (reply, publisher) = handle(&request).await;
            assert_unauthenticated(&reply, &publisher, case);
            answers.insert(reply.body);
        }
        assert!(padding_ok >= 1 && padding_bad >= 200, "{case}: the probe covers both padding outcomes");
        assert_eq!(answers.len(), 1, "{case}");
    }
}

#[tokio::test]
async fn after_the_encrypt_key_signature_failures_stay_precise() {
    // A valid SHA-256 signature proves the sender holds the Encrypt Key; it
    // could decrypt anyway, so precise reasons reveal nothing and help.
    let (reply, _) = handle(&signed("/lark/event", r#"{"encrypt":"%%%"}"#, KEY, NOW)).await;
    assert_refused(&reply, &MemoryPublisher::new(), StatusCode::BAD_REQUEST, "base64");
    assert_ne!(reply.body_json().unwrap()["error"], IngressError::UNAUTHENTICATED_BODY);
}
