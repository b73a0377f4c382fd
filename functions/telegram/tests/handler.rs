//! The Telegram handler on the committed `events/` files, with a fixed clock.

use std::collections::HashMap;

use http::StatusCode;
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::dev_settings;
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{assert_refused, assert_unauthenticated, dev_settings_with, event_request};
use telegram::TelegramFunction;
use time::OffsetDateTime;

const SECRET: &str = "dev-telegram-secret-NOT-A-SECRET";

async fn handle_with(env: &HashMap<String, String>, request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    let function = TelegramFunction::from_env(env).expect("valid settings");
    let publisher = MemoryPublisher::new();
    let reply = function.handle(&publisher, request, OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()).await;
    (reply, publisher)
}

async fn handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_with(&dev_settings(), request).await
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_testkit::conformance::check::<TelegramFunction>(&[]).await;
}

#[tokio::test]
async fn message_is_enqueued_per_bot_and_answered_with_an_empty_200() {
    let (reply, publisher) = handle(&event_request("telegram-message")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.is_empty());
    let sent = publisher.sent();
    let envelope = &sent[0];
    let update_id = envelope.payload.to_value().unwrap()["update_id"].as_i64().unwrap();
    assert_eq!(envelope.id, format!("telegram:devbot:{update_id}"));
    assert_eq!(envelope.kind, "message");
    assert_eq!(envelope.tenant.as_deref(), Some("devbot"));
    assert_eq!(envelope.verification.matched.as_deref(), Some("TELEGRAM_SECRET_TOKENS:devbot"));
    let message = envelope.message.as_ref().unwrap();
    assert_eq!(message.chat_id.as_deref(), Some("-1001234567890"));
    assert_eq!(message.sender_id.as_deref(), Some("424242"));
    assert_eq!(message.message_id.as_deref(), Some("77"));
    assert_eq!(message.text.as_deref(), Some("/status prod"));
}

#[tokio::test]
async fn edited_message_and_callback_query_get_message_views() {
    let (_, publisher) = handle(&event_request("telegram-edited-message")).await;
    assert_eq!(publisher.sent()[0].kind, "edited_message");
    assert_eq!(publisher.sent()[0].message.as_ref().unwrap().text.as_deref(), Some("/status staging"));
    let (_, publisher) = handle(&event_request("telegram-callback-query")).await;
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.kind, "callback_query");
    let message = envelope.message.as_ref().unwrap();
    assert_eq!(message.text.as_deref(), Some("ack:incident-7"));
    assert_eq!(message.reply_handle.as_ref().unwrap()["callback_query_id"], "cb-sample");
}

#[tokio::test]
async fn wrong_or_missing_secret_is_401_and_the_log_says_which() {
    let logs = CapturedLogs::start();
    let mut request = event_request("telegram-message");
    request.headers.insert("x-telegram-bot-api-secret-token", "guess".parse().unwrap());
    let (reply, publisher) = handle(&request).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(logs.text().contains("X-Telegram-Bot-Api-Secret-Token does not match"), "{}", logs.text());
    request.headers.remove("x-telegram-bot-api-secret-token");
    let (reply, publisher) = handle(&request).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(logs.text().contains("missing x-telegram-bot-api-secret-token"), "{}", logs.text());
}

#[tokio::test]
async fn another_bots_secret_does_not_open_this_bot() {
    let env = dev_settings_with(&[("TELEGRAM_SECRET_TOKENS", &format!("devbot=devbot-own-secret,otherbot={SECRET}"))]);
    let (reply, publisher) = handle_with(&env, &event_request("telegram-message")).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn unknown_bot_is_refused_like_a_wrong_secret() {
    let mut request = event_request("telegram-message");
    request.path = "/telegram/nobot".into();
    request.path_params.insert("bot".into(), "nobot".into());
    let (reply, publisher) = handle(&request).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn rotation_accepts_either_secret_of_the_bot_and_names_it() {
    let env = dev_settings_with(&[("TELEGRAM_SECRET_TOKENS", &format!("devbot=new-secret,devbot={SECRET}"))]);
    let (reply, publisher) = handle_with(&env, &event_request("telegram-message")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("TELEGRAM_SECRET_TOKENS:devbot"));
}

#[tokio::test]
async fn malformed_updates_are_400() {
    for body in ["{oops", r#"{"message":{}}"#, r#"{"update_id":"7","message":{}}"#, r#"{"update_id":7}"#] {
        let mut request = event_request("telegram-message");
        request.body = body.as_bytes().to_vec();
        let (reply, publisher) = handle(&request).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "malformed");
    }
}

#[test]
fn secrets_breaking_telegrams_rule_fail_start_up() {
    for bad in ["", "devbot", "devbot=has space", "devbot=ünïcode", "bad/bot=secret"] {
        let env: HashMap<&str, &str> = [("TELEGRAM_SECRET_TOKENS", bad)].into();
        assert!(TelegramFunction::from_env(&env).is_err(), "{bad:?} must be refused");
    }
    let long = format!("devbot={}", "a".repeat(257));
    let env: HashMap<&str, &str> = [("TELEGRAM_SECRET_TOKENS", long.as_str())].into();
    assert!(TelegramFunction::from_env(&env).is_err());
}
