//! Lark replies (inlet_shared::reply::lark) against the local Lark of
//! inlet_tests::platforms::lark, the receiver's card callbacks answered
//! through it, and inlet's requests next to those lark-oapi 1.7.5 sends for
//! the same replies (`lark_sdk_check.py`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use inlet_shared::delivery::Retry;
use inlet_shared::reply::lark::{API_BASE, APP_ID, APP_SECRET, LarkClient, VIA_CARD_UPDATE, VIA_REPLY, reply_uuid};
use inlet_shared::reply::{Reply, ReplyError, ReplyTarget, Sent};
use inlet_testkit::crosscheck::{Runtime, repository_root, run_library};

use crate::send_now;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::samples::handle_with;
use inlet_tests::platforms::Received;
use inlet_tests::platforms::lark::{
    self as fake, CARD_UPDATE_PATH, CHAT, LarkServer, OPERATOR, THROTTLE_RESET_SECS, TOKEN_PATH,
};
use lark::LarkFunction;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

async fn server() -> LarkServer {
    LarkServer::start(fake::APP_ID, fake::APP_SECRET).await
}

fn client_with(env: &[(&str, String)]) -> LarkClient {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
    LarkClient::from_env(&env, connector).expect("client")
}

fn client_of(server: &LarkServer) -> LarkClient {
    client_with(&server.env())
}

/// An event received `ago`, answered through `handle`.
fn target_at(handle: Value, ago: Duration) -> ReplyTarget {
    let received = OffsetDateTime::from(SystemTime::now() - ago);
    ReplyTarget {
        event_id: "lark:ev-1".into(),
        provider: "lark".into(),
        tenant: Some("736588c9260f175d".into()),
        received_at: received.format(&Rfc3339).expect("RFC 3339"),
        chat_id: handle.get("chat_id").and_then(Value::as_str).map(str::to_string),
        handle,
    }
}

/// The handle of a message event (`lark::message_view`).
fn message_handle(message_id: &str) -> Value {
    json!({"message_id": message_id, "chat_id": CHAT})
}

/// The handle of a card callback (`lark::card_view`).
fn card_handle(message_id: &str, card_token: &str) -> Value {
    json!({"message_id": message_id, "chat_id": CHAT, "card_token": card_token, "open_id": OPERATOR})
}

async fn send(client: &LarkClient, handle: Value, reply: &Reply, reply_id: &str) -> Result<Sent, ReplyError> {
    send_now(client, &target_at(handle, Duration::from_secs(1)), reply, reply_id).await
}

fn update(text: &str) -> Reply {
    Reply { update: true, ..Reply::text(text) }
}

fn reply_path(message_id: &str) -> String {
    format!("/open-apis/im/v1/messages/{message_id}/reply")
}

fn paths(received: &[Received]) -> Vec<&str> {
    received.iter().map(|r| r.path.as_str()).collect()
}

fn bearer(request: &Received) -> &str {
    request.header("authorization").and_then(|value| value.strip_prefix("Bearer ")).expect("a Bearer token")
}

#[tokio::test]
async fn one_text_reply_is_one_token_fetch_and_one_message_with_the_exact_body() {
    let server = server().await;
    let parent = server.add_message(CHAT);
    let sent = send(&client_of(&server), message_handle(&parent), &Reply::text("收到 \"ok\"\n<b>"), "r1").await;

    let posted = server.messages_posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(sent.expect("sent"), Sent::via(VIA_REPLY).with_message_id(Some(posted[0].message_id.clone())));
    assert_eq!(posted[0].parent_id.as_deref(), Some(parent.as_str()));
    assert_eq!((posted[0].chat_id.as_str(), posted[0].msg_type.as_str()), (CHAT, "text"));
    assert_eq!(posted[0].content_json(), json!({"text": "收到 \"ok\"\n<b>"}));

    let received = server.received();
    assert_eq!(paths(&received), [TOKEN_PATH, reply_path(&parent).as_str()]);
    let (token, reply) = (&received[0], &received[1]);
    assert_eq!(token.json(), json!({"app_id": fake::APP_ID, "app_secret": fake::APP_SECRET}));
    assert!(server.is_live_token(bearer(reply)), "the reply carries the token the server issued");
    assert_eq!(reply.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(
        reply.json(),
        json!({"msg_type": "text", "content": r#"{"text":"收到 \"ok\"\n<b>"}"#, "uuid": reply_uuid("r1")})
    );
}

#[tokio::test]
async fn two_replies_share_one_tenant_token() {
    let server = server().await;
    let client = client_of(&server);
    let parent = server.add_message(CHAT);
    send(&client, message_handle(&parent), &Reply::text("one"), "r1").await.expect("first");
    send(&client, message_handle(&parent), &Reply::text("two"), "r2").await.expect("second");
    assert_eq!(server.tokens_issued(), 1);
    let texts: Vec<Value> = server.messages_posted().iter().map(|m| m.content_json()["text"].clone()).collect();
    assert_eq!(texts, [json!("one"), json!("two")]);
    let requests = server.reply_requests();
    assert_eq!(bearer(&requests[0]), bearer(&requests[1]));
}

#[tokio::test]
async fn an_expired_token_is_fetched_again_once_and_the_reply_posted_once() {
    for code in [fake::INVALID_TENANT_TOKEN, fake::INVALID_ACCESS_TOKEN] {
        let server = server().await;
        server.with_state(|state| state.token_refusal_code = code);
        let client = client_of(&server);
        let parent = server.add_message(CHAT);
        send(&client, message_handle(&parent), &Reply::text("before"), "r1").await.expect("first");
        server.expire_tokens();

        let sent = send(&client, message_handle(&parent), &Reply::text("after"), "r2").await;
        assert!(sent.is_ok(), "code {code}: {sent:?}");
        assert_eq!(server.tokens_issued(), 2, "code {code}: one new token");
        let posted = server.messages_posted();
        assert_eq!(posted.len(), 2, "code {code}: exactly one message for the second reply");
        assert_eq!(posted[1].content_json()["text"], "after");
        let requests = server.reply_requests();
        assert_eq!(requests.len(), 3, "code {code}: the refused attempt and its one retry");
        assert_eq!(bearer(&requests[1]), bearer(&requests[0]), "code {code}: the cached token first");
        assert_ne!(bearer(&requests[2]), bearer(&requests[1]), "code {code}: then the new one");
        assert_eq!(requests[1].json(), requests[2].json(), "code {code}: the same reply, uuid included");
    }
}

#[tokio::test]
async fn a_token_refused_again_after_renewal_is_not_retried_a_third_time() {
    let server = server().await;
    server.refuse_tokens();
    let parent = server.add_message(CHAT);
    let error = send(&client_of(&server), message_handle(&parent), &Reply::text("hi"), "r1").await.unwrap_err();
    assert!(!error.is_permanent(), "the queue tries again later: {error}");
    assert!(error.reason.contains("99991663"), "{error}");
    assert_eq!(server.tokens_issued(), 2);
    assert_eq!(server.reply_requests().len(), 2);
    assert!(server.messages_posted().is_empty());
}

#[tokio::test]
async fn a_throttled_reply_is_transient_with_the_wait_lark_names_and_posts_once_later() {
    let server = server().await;
    let client = client_of(&server);
    let parent = server.add_message(CHAT);
    server.throttle_next(1);
    let error = send(&client, message_handle(&parent), &Reply::text("hi"), "r1").await.unwrap_err();
    assert_eq!(error.retry, Retry::Later { after: Some(Duration::from_secs(THROTTLE_RESET_SECS)) }, "{error}");
    assert!(error.reason.contains("99991400") && error.reason.contains("frequency limit"), "{error}");
    assert!(server.messages_posted().is_empty());
    send(&client, message_handle(&parent), &Reply::text("hi"), "r1").await.expect("the queue's next attempt");
    assert_eq!(server.messages_posted().len(), 1);
}

#[tokio::test]
async fn a_retried_reply_is_kept_once_by_lark_and_another_reply_is_not() {
    let server = server().await;
    let client = client_of(&server);
    let parent = server.add_message(CHAT);
    let first = send(&client, message_handle(&parent), &Reply::text("once"), "reply-7").await.expect("first");
    let again = send(&client, message_handle(&parent), &Reply::text("once"), "reply-7").await.expect("retry");
    assert_eq!(first, again, "Lark answers the retry with the message it already posted");
    assert_eq!(server.messages_posted().len(), 1);
    let requests = server.reply_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].json()["uuid"], requests[1].json()["uuid"]);

    send(&client, message_handle(&parent), &Reply::text("once"), "reply-8").await.expect("another reply");
    assert_eq!(server.messages_posted().len(), 2, "another reply id is another message");
}

#[tokio::test]
async fn a_card_reply_is_an_interactive_message_and_the_card_wins_over_text() {
    let server = server().await;
    let parent = server.add_message(CHAT);
    let card =
        json!({"config": {"wide_screen_mode": true}, "elements": [{"tag": "markdown", "content": "**deployed**"}]});
    let reply = Reply { text: Some("not sent".into()), card: Some(card.clone()), update: false };
    send(&client_of(&server), message_handle(&parent), &reply, "r1").await.expect("sent");
    let posted = server.messages_posted();
    assert_eq!((posted.len(), posted[0].msg_type.as_str()), (1, "interactive"));
    assert_eq!(posted[0].content_json(), card);
    let body = server.reply_requests()[0].json();
    assert!(body["content"].is_string(), "content is the card as a JSON string: {body}");
}

#[tokio::test]
async fn a_card_update_within_30_minutes_changes_the_card_for_the_operator() {
    let server = server().await;
    let (card_message, token) = server.add_card_callback(CHAT, Duration::from_secs(29 * 60));
    let target = target_at(card_handle(&card_message, &token), Duration::from_secs(29 * 60));
    let sent = send_now(&client_of(&server), &target, &update("approved"), "r1").await;
    assert_eq!(sent.expect("updated"), Sent::via(VIA_CARD_UPDATE).with_message_id(Some(card_message)));

    let card = json!({"elements": [{"tag": "div", "text": {"tag": "plain_text", "content": "approved"}}], "open_ids": [OPERATOR]});
    let used = server.card_token(&token).expect("the token");
    assert_eq!((used.uses, used.updates), (1, vec![card.clone()]));
    let received = server.received();
    assert_eq!(paths(&received), [TOKEN_PATH, CARD_UPDATE_PATH]);
    assert!(server.is_live_token(bearer(&received[1])));
    assert_eq!(received[1].json(), json!({"token": token, "card": card}));
    assert!(server.messages_posted().is_empty(), "an update posts no message");
}

#[tokio::test]
async fn a_card_update_after_30_minutes_fails_permanently_without_any_request() {
    let server = server().await;
    let (card_message, token) = server.add_card_callback(CHAT, Duration::from_secs(31 * 60));
    let target = target_at(card_handle(&card_message, &token), Duration::from_secs(31 * 60));
    let error = send_now(&client_of(&server), &target, &update("too late"), "r1").await.unwrap_err();
    assert!(error.is_permanent(), "{error}");
    assert!(error.reason.contains("the card's update token has expired (30 min)"), "{error}");
    assert!(server.received().is_empty(), "{:?}", server.received());
}

#[tokio::test]
async fn an_update_without_a_card_token_fails_permanently_without_any_request() {
    let server = server().await;
    let parent = server.add_message(CHAT);
    let error = send(&client_of(&server), message_handle(&parent), &update("x"), "r1").await.unwrap_err();
    assert!(error.is_permanent() && error.reason.contains("update needs a card callback's token"), "{error}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_card_token_lark_has_used_twice_is_refused_permanently() {
    let server = server().await;
    let client = client_of(&server);
    let (card_message, token) = server.add_card_callback(CHAT, Duration::from_secs(60));
    for (n, text) in ["one", "two"].into_iter().enumerate() {
        send(&client, card_handle(&card_message, &token), &update(text), &format!("r{n}")).await.expect(text);
    }
    let error = send(&client, card_handle(&card_message, &token), &update("three"), "r3").await.unwrap_err();
    assert!(error.is_permanent(), "{error}");
    assert!(error.reason.contains(&fake::CARD_TOKEN_REFUSED.to_string()), "{error}");
    assert_eq!(server.card_token(&token).expect("token").uses, 2);
    assert_eq!(server.received_at(CARD_UPDATE_PATH).len(), 3, "a refusal is not retried");
}

#[tokio::test]
async fn lark_refusals_are_permanent_with_their_code_and_msg_and_post_nothing() {
    let server = server().await;
    let client = client_of(&server);
    let recalled = server.add_message(CHAT);
    server.recall(&recalled);
    let elsewhere = server.add_message("oc_left");
    server.remove_bot("oc_left");
    let cases = [
        (recalled, fake::MESSAGE_RECALLED, "recalled"),
        (elsewhere, fake::BOT_NOT_IN_CHAT, "outside the group"),
        ("om_unknown".to_string(), fake::INVALID_REQUEST_PARAMETER, "message_id does not exist"),
    ];
    for (message_id, code, msg) in cases {
        let error = send(&client, message_handle(&message_id), &Reply::text("hi"), "r1").await.unwrap_err();
        assert!(error.is_permanent(), "{code}: {error}");
        assert!(error.reason.contains(&code.to_string()) && error.reason.contains(msg), "{code}: {error}");
    }
    assert!(server.messages_posted().is_empty());
    assert_eq!(server.tokens_issued(), 1, "a refusal keeps the token");
}

#[tokio::test]
async fn a_message_id_that_would_change_the_path_is_refused_without_any_request() {
    let server = server().await;
    for bad in ["om_1/../../../auth/v3/x", "om_1?uuid=x", "om%2F1", "om 1"] {
        let error = send(&client_of(&server), message_handle(bad), &Reply::text("hi"), "r1").await.unwrap_err();
        assert!(error.is_permanent(), "{bad}: {error}");
    }
    assert!(server.received().is_empty(), "{:?}", server.received());
}

#[tokio::test]
async fn missing_credentials_fail_permanently_naming_the_settings() {
    let server = server().await;
    let parent = server.add_message(CHAT);
    let client = client_with(&[(API_BASE, server.url.clone())]);
    let error = send(&client, message_handle(&parent), &Reply::text("hi"), "r1").await.unwrap_err();
    assert!(error.is_permanent(), "{error}");
    assert!(error.reason.contains(APP_ID) && error.reason.contains(APP_SECRET), "{error}");
    assert!(server.received().is_empty());

    let env: HashMap<&str, &str> = [(APP_ID, fake::APP_ID)].into();
    let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
    assert_eq!(LarkClient::from_env(&env, connector).unwrap_err().name, APP_SECRET, "one without the other");
}

#[tokio::test]
async fn wrong_credentials_fail_permanently_naming_the_settings_and_not_their_values() {
    let server = server().await;
    let parent = server.add_message(CHAT);
    let wrong_secret =
        [(API_BASE, server.url.clone()), (APP_ID, fake::APP_ID.into()), (APP_SECRET, "WrOnGsEcReT".into())];
    let wrong_app =
        [(API_BASE, server.url.clone()), (APP_ID, "cli_other".into()), (APP_SECRET, fake::APP_SECRET.into())];
    for (env, code) in [(&wrong_secret, fake::APP_SECRET_INVALID), (&wrong_app, fake::INVALID_PARAM)] {
        let error = send(&client_with(env), message_handle(&parent), &Reply::text("hi"), "r1").await.unwrap_err();
        assert!(error.is_permanent(), "{error}");
        assert!(error.reason.contains(APP_ID) && error.reason.contains(APP_SECRET), "{error}");
        assert!(error.reason.contains(&code.to_string()), "{error}");
        assert!(!error.reason.contains("WrOnGsEcReT") && !error.reason.contains(fake::APP_SECRET), "{error}");
    }
    assert!(server.reply_requests().is_empty());
}

#[tokio::test]
async fn no_reason_or_debug_output_shows_the_app_secret_or_a_tenant_token() {
    let server = server().await;
    let client = client_of(&server);
    let parent = server.add_message(CHAT);
    let recalled = server.add_message(CHAT);
    server.recall(&recalled);
    let mut reasons = Vec::new();
    send(&client, message_handle(&parent), &Reply::text("ok"), "r1").await.expect("sent");
    server.throttle_next(1);
    reasons.push(send(&client, message_handle(&parent), &Reply::text("x"), "r2").await.unwrap_err().reason);
    reasons.push(send(&client, message_handle(&recalled), &Reply::text("x"), "r3").await.unwrap_err().reason);
    let (card_message, token) = server.add_card_callback(CHAT, Duration::from_secs(60));
    let old = target_at(card_handle(&card_message, &token), Duration::from_secs(3600));
    reasons.push(send_now(&client, &old, &update("x"), "r4").await.unwrap_err().reason);
    server.refuse_tokens();
    reasons.push(send(&client, message_handle(&parent), &Reply::text("x"), "r5").await.unwrap_err().reason);
    let wrong = [(API_BASE, server.url.clone()), (APP_ID, fake::APP_ID.into()), (APP_SECRET, "WrOnGsEcReT".into())];
    reasons
        .push(send(&client_with(&wrong), message_handle(&parent), &Reply::text("x"), "r6").await.unwrap_err().reason);

    let tokens: Vec<String> = server.reply_requests().iter().map(|r| bearer(r).to_string()).collect();
    assert!(tokens.len() >= 3, "{tokens:?}");
    let shown = format!("{client:?} {:?} {reasons:?}", client_with(&wrong));
    for secret in tokens.iter().map(String::as_str).chain([fake::APP_SECRET, "WrOnGsEcReT"]) {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(shown.contains(fake::APP_ID) && shown.contains("***"), "{shown}");
}

#[tokio::test]
async fn the_receivers_card_callbacks_are_answered_through_their_reply_handles() {
    let env = dev_settings();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let envelope = |name: &str| {
        let request = LarkFunction::sample(name, &env, now, "reply").expect("sample").to_incoming();
        async move {
            let (answer, publisher) = handle_with::<LarkFunction>(&dev_settings(), &request, now).await;
            assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
            publisher.sent().pop().expect("one envelope")
        }
    };
    let server = server().await;
    let client = client_of(&server);

    // New style (card.action.trigger): the card is updated.
    let card = envelope("lark-card").await;
    let view = card.message.as_ref().expect("a chat view");
    assert_eq!(
        (view.chat_id.as_deref(), view.message_id.as_deref(), view.sender_id.as_deref()),
        (Some("oc_devchat"), Some("om_devmessage"), Some("ou_devuser"))
    );
    let target = ReplyTarget::of(&card).expect("a reply handle");
    assert_eq!(
        target.handle,
        json!({"message_id": "om_devmessage", "chat_id": "oc_devchat", "card_token": "c-card-update-token", "open_id": "ou_devuser"})
    );
    server.put_message("om_devmessage", "oc_devchat");
    server.put_card_token("c-card-update-token", "om_devmessage", Duration::from_secs(1));
    send_now(&client, &target, &update("approved"), "r1").await.expect("card updated");
    let updated = server.card_token("c-card-update-token").expect("token");
    assert_eq!(updated.updates[0]["open_ids"], json!(["ou_devuser"]));

    // Old style: the same handle from the top-level fields; answered in the card's thread.
    let legacy = envelope("lark-card-legacy").await;
    let target = ReplyTarget::of(&legacy).expect("a reply handle");
    assert_eq!(
        target.handle,
        json!({"message_id": "om_legacy_reply", "chat_id": "oc_devchat", "card_token": "c-card-update-token", "open_id": "ou_devuser"})
    );
    server.put_message("om_legacy_reply", "oc_devchat");
    send_now(&client, &target, &Reply::text("noted"), "r2").await.expect("replied");
    let posted = server.messages_posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].parent_id.as_deref(), Some("om_legacy_reply"));
}

/// The requests inlet and lark-oapi sent, compared where Lark reads them
/// (the Content-Type only where the SDK's own method sets one).
fn assert_same_request(api: &str, inlet: &Received, sdk: &Received, content_type: bool) {
    assert_eq!((&inlet.method, &inlet.path), (&sdk.method, &sdk.path), "{api}: method and path");
    let scheme = |r: &Received| r.header("authorization").and_then(|a| a.split_once(' ')).map(|(s, _)| s.to_string());
    assert_eq!(scheme(inlet), scheme(sdk), "{api}: Authorization scheme");
    if content_type {
        assert_eq!(inlet.header("content-type"), sdk.header("content-type"), "{api}: Content-Type");
    }
    assert_eq!(normalized(inlet.json()), normalized(sdk.json()), "{api}: body");
}

/// A body with `content`, a JSON string, parsed: Python's json.dumps and
/// serde_json space the same JSON differently, and Lark reads the JSON.
fn normalized(mut body: Value) -> Value {
    if let Some(content) = body.get("content").and_then(Value::as_str) {
        let parsed: Value = serde_json::from_str(content).expect("content is JSON");
        body["content"] = json!({"parsed": parsed});
    }
    body
}

#[tokio::test]
async fn inlet_sends_what_lark_oapi_sends_for_the_same_reply_and_card_update() {
    let server = server().await;
    let (inlet_parent, sdk_parent) = (server.add_message(CHAT), server.add_message(CHAT));
    let (card_message, token) = server.add_card_callback(CHAT, Duration::from_secs(60));
    let text = "部署完成 \"ok\" ✓";
    let card = json!({"elements": [{"tag": "markdown", "content": "**done**"}], "open_ids": [OPERATOR]});

    let client = client_of(&server);
    send(&client, message_handle(&inlet_parent), &Reply::text(text), "r1").await.expect("inlet reply");
    let card_reply = Reply { card: Some(card.clone()), update: true, ..Reply::default() };
    send(&client, card_handle(&card_message, &token), &card_reply, "r2").await.expect("inlet update");
    let inlet = server.received();
    assert_eq!(paths(&inlet), [TOKEN_PATH, reply_path(&inlet_parent).as_str(), CARD_UPDATE_PATH]);

    let script = repository_root().join("tests/tests/replies/lark_sdk_check.py");
    let input = json!({
        "domain": server.url, "app_id": fake::APP_ID, "app_secret": fake::APP_SECRET,
        "reply": {"message_id": sdk_parent, "text": text, "uuid": reply_uuid("r1-sdk")},
        "card_update": {"token": token, "card": card},
    });
    let report = tokio::task::spawn_blocking(move || {
        run_library(Runtime::VenvPython, &script, &input, "library", "lark-oapi 1.7.5")
    })
    .await
    .expect("the script ran");
    assert_eq!(report["reply"]["code"], 0, "{report}");
    assert_eq!(report["card_update"]["code"], 0, "{report}");
    let sdk = server.received()[inlet.len()..].to_vec();
    assert_eq!(paths(&sdk), [TOKEN_PATH, reply_path(&sdk_parent).as_str(), CARD_UPDATE_PATH]);

    assert_eq!(inlet[0].method, sdk[0].method, "token request");
    assert_eq!(inlet[0].json(), sdk[0].json(), "the token request's body");
    assert_eq!(inlet[0].header("authorization"), None);
    assert_eq!(sdk[0].header("authorization"), None);
    // The SDK's reply carries its own uuid (the same derivation for another
    // reply id): the bodies match with it in place of inlet's.
    let mut sdk_reply = sdk[1].clone();
    let mut body = sdk_reply.json();
    assert_eq!(body["uuid"], reply_uuid("r1-sdk"));
    body["uuid"] = json!(reply_uuid("r1"));
    sdk_reply.body = body.to_string().into_bytes();
    sdk_reply.path = reply_path(&inlet_parent);
    assert_same_request("im.v1.message.reply", &inlet[1], &sdk_reply, true);
    // lark-oapi has no method of its own for the card update: its generic
    // request carries our body, so what is compared is the path and token.
    assert_same_request("interactive.v1.card.update", &inlet[2], &sdk[2], false);

    let posted = server.messages_posted();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0].content_json(), posted[1].content_json(), "Lark shows the same message");
    assert_eq!(server.card_token(&token).expect("token").updates, vec![card.clone(), card]);
}
