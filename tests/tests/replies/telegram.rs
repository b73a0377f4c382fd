//! Telegram replies against its local server (inlet_tests::platforms::telegram).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use inlet_shared::delivery::Retry;
use inlet_shared::reply::telegram::{API_BASE, BOT_TOKENS, TelegramClient, VIA_EDIT, VIA_SEND};
use inlet_shared::reply::{Reply, ReplyError, ReplyTarget, Sent};

use crate::send_now;
use inlet_testkit::CapturedLogs;
use inlet_tests::platforms::Answer;
use inlet_tests::platforms::telegram::{self, TelegramServer};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Recognisable, to look for where it must never be.
const TOKEN: &str = "7000001:AAFsecretTOKENvalueNEVERshown_0123456789-ab";
/// A part of it: a reason cut short could hold the start of the token.
const SECRET_PART: &str = "secretTOKEN";
const OTHER_TOKEN: &str = "7000002:AAGanotherTOKENthatTELEGRAMknows_987654321";
const CHAT: &str = "4242";

async fn server() -> TelegramServer {
    telegram::start(&[("bot1", TOKEN)], &[CHAT, "-1001234567890"]).await
}

fn client_with(env: &[(&str, &str)]) -> TelegramClient {
    let env: HashMap<&str, &str> = env.iter().copied().collect();
    let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
    TelegramClient::from_env(&env, connector).expect("a usable configuration")
}

fn client(server: &TelegramServer) -> TelegramClient {
    client_with(&[(BOT_TOKENS, &format!("bot1={TOKEN}")), (API_BASE, &server.api_base())])
}

fn target(bot: &str, handle: Value) -> ReplyTarget {
    ReplyTarget {
        event_id: format!("telegram:{bot}:1"),
        provider: "telegram".into(),
        tenant: Some(bot.into()),
        received_at: OffsetDateTime::now_utc().format(&Rfc3339).expect("formats"),
        chat_id: handle.get("chat_id").and_then(Value::as_str).map(str::to_string),
        handle,
    }
}

/// The handle of a message event, as the receiver writes it.
fn message_handle(chat: &str, message_id: i64) -> Value {
    json!({"chat_id": chat, "message_id": message_id.to_string()})
}

async fn send(client: &TelegramClient, target: &ReplyTarget, reply: Reply) -> Result<Sent, ReplyError> {
    send_now(client, target, &reply, "reply-1").await
}

fn path(method: &str) -> String {
    format!("/bot{TOKEN}/{method}")
}

#[tokio::test]
async fn a_reply_is_one_send_message_answering_the_events_message() {
    let server = server().await;
    let asked = server.user_message(CHAT, "ping");
    let sent = send(&client(&server), &target("bot1", message_handle(CHAT, asked)), Reply::text("pong")).await;

    assert_eq!(sent.unwrap(), Sent::via(VIA_SEND).with_message_id(Some((asked + 1).to_string())));
    let received = server.received();
    assert_eq!(received.len(), 1, "exactly one request: {received:?}");
    let request = &received[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", path("sendMessage").as_str()));
    assert!(request.header("content-type").is_some_and(|v| v.starts_with("application/json")));
    assert_eq!(
        request.json(),
        json!({"chat_id": 4242, "text": "pong",
            "reply_parameters": {"message_id": asked, "allow_sending_without_reply": true}})
    );
    let shown = server.message(CHAT, asked + 1).expect("posted");
    assert_eq!((shown.text.as_str(), shown.reply_to, shown.from_bot.as_deref()), ("pong", Some(asked), Some("bot1")));
}

#[tokio::test]
async fn a_card_is_the_messages_reply_markup() {
    let server = server().await;
    let asked = server.user_message("-1001234567890", "menu?");
    let keyboard = json!({"inline_keyboard": [[{"text": "Approve", "callback_data": "approve"}]]});
    let reply = Reply { text: Some("Choose".into()), card: Some(keyboard.clone()), update: false };
    send(&client(&server), &target("bot1", message_handle("-1001234567890", asked)), reply).await.unwrap();

    let request = &server.calls_to("sendMessage")[0];
    assert_eq!(request.json()["chat_id"], json!(-1001234567890_i64), "a group's id is a JSON integer");
    assert_eq!(request.json()["reply_markup"], keyboard);
    assert_eq!(server.messages("-1001234567890")[1].reply_markup, Some(keyboard));
}

#[tokio::test]
async fn update_edits_the_message_whose_button_was_pressed_and_stops_the_spinner() {
    let server = server().await;
    let buttons = json!({"inline_keyboard": [[{"text": "Approve", "callback_data": "approve"}]]});
    let message = server.bot_message("bot1", CHAT, "Deploy?", Some(buttons));
    server.press("q-1");
    let handle = json!({"callback_query_id": "q-1", "chat_id": CHAT, "message_id": message.to_string()});
    let reply = Reply { update: true, ..Reply::text("Approved by Ada") };
    let sent = send(&client(&server), &target("bot1", handle), reply).await;

    assert_eq!(sent.unwrap(), Sent::via(VIA_EDIT).with_message_id(Some(message.to_string())));
    let received = server.received();
    let calls: Vec<_> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(calls, [path("editMessageText"), path("answerCallbackQuery")], "one edit, then the press answered");
    assert_eq!(received[0].json(), json!({"chat_id": 4242, "message_id": message, "text": "Approved by Ada"}));
    assert_eq!(received[1].json(), json!({"callback_query_id": "q-1"}));
    let edited = server.message(CHAT, message).unwrap();
    assert_eq!((edited.text.as_str(), edited.edits, edited.reply_markup), ("Approved by Ada", 1, None));
    assert!(server.was_answered("q-1"));
    assert_eq!(server.messages(CHAT).len(), 1, "no new message");
}

#[tokio::test]
async fn a_new_reply_to_a_button_press_is_a_message_and_the_press_is_answered() {
    let server = server().await;
    let message = server.bot_message("bot1", CHAT, "Deploy?", None);
    server.press("q-2");
    let handle = json!({"callback_query_id": "q-2", "chat_id": CHAT, "message_id": message.to_string()});
    send(&client(&server), &target("bot1", handle), Reply::text("Deploying")).await.unwrap();

    assert_eq!(server.calls_to("sendMessage").len(), 1);
    assert_eq!(server.calls_to("answerCallbackQuery").len(), 1);
    assert!(server.was_answered("q-2"));
}

#[tokio::test]
async fn a_press_telegram_no_longer_takes_is_logged_and_the_reply_still_stands() {
    let server = server().await;
    let message = server.bot_message("bot1", CHAT, "Deploy?", None);
    let logs = CapturedLogs::start();
    // Never pressed (or pressed too long ago): Telegram refuses the answer.
    let handle = json!({"callback_query_id": "q-old", "chat_id": CHAT, "message_id": message.to_string()});
    let sent = send(&client(&server), &target("bot1", handle), Reply::text("Deploying")).await;

    assert_eq!(sent.unwrap().via, VIA_SEND);
    assert_eq!(server.calls_to("answerCallbackQuery").len(), 1);
    let logged = logs.text();
    assert!(logged.contains("query is too old"), "{logged}");
    assert!(!logged.contains(SECRET_PART), "{logged}");
}

#[tokio::test]
async fn editing_a_message_the_bot_did_not_send_is_permanent_with_telegrams_reason() {
    let server = server().await;
    let asked = server.user_message(CHAT, "ping");
    let reply = Reply { update: true, ..Reply::text("pong") };
    let error = send(&client(&server), &target("bot1", message_handle(CHAT, asked)), reply).await.unwrap_err();

    assert!(error.is_permanent() && error.reason.contains("message can't be edited"), "{error}");
    assert_eq!(server.calls_to("editMessageText").len(), 1);
}

#[tokio::test]
async fn an_edit_repeated_after_it_went_through_is_done() {
    let server = server().await;
    let message = server.bot_message("bot1", CHAT, "Deploy?", None);
    let client = client(&server);
    let target = target("bot1", message_handle(CHAT, message));
    let reply = Reply { update: true, ..Reply::text("Deployed") };
    send(&client, &target, reply.clone()).await.unwrap();
    let again = send(&client, &target, reply).await;

    assert_eq!(again.unwrap().via, VIA_EDIT, "Telegram's 'message is not modified' means it already is");
    assert_eq!(server.message(CHAT, message).unwrap().edits, 1);
}

#[tokio::test]
async fn throttling_is_transient_with_telegrams_retry_after() {
    let server = server().await;
    let asked = server.user_message(CHAT, "ping");
    server.throttle(1, 5);
    let client = client(&server);
    let target = target("bot1", message_handle(CHAT, asked));
    let error = send(&client, &target, Reply::text("pong")).await.unwrap_err();

    assert_eq!(error.retry, Retry::Later { after: Some(Duration::from_secs(5)) }, "{error}");
    assert!(error.reason.contains("Too Many Requests"), "{error}");
    assert_eq!(server.received().len(), 1);
    assert!(server.messages(CHAT).iter().all(|m| m.from_bot.is_none()), "nothing posted");
    assert!(send(&client, &target, Reply::text("pong")).await.is_ok(), "the retry goes through");
}

#[tokio::test]
async fn a_token_telegram_refuses_is_permanent_and_names_the_bot_not_the_token() {
    let server = server().await;
    let asked = server.user_message(CHAT, "ping");
    let client = client_with(&[(BOT_TOKENS, &format!("bot1={OTHER_TOKEN}")), (API_BASE, &server.api_base())]);
    let error = send(&client, &target("bot1", message_handle(CHAT, asked)), Reply::text("pong")).await.unwrap_err();

    assert!(error.is_permanent(), "{error}");
    assert!(error.reason.starts_with("the bot token of bot1 was refused (401 Unauthorized)"), "{error}");
    assert!(!error.reason.contains("AAGanother"), "{error}");
}

#[tokio::test]
async fn a_bot_without_a_token_is_permanent_naming_the_setting_and_nothing_is_sent() {
    let server = server().await;
    let asked = server.user_message(CHAT, "ping");
    let error = send(&client(&server), &target("bot2", message_handle(CHAT, asked)), Reply::text("pong")).await;

    let error = error.unwrap_err();
    assert!(error.is_permanent(), "{error}");
    assert_eq!(error.reason, "TELEGRAM_BOT_TOKENS has no token for bot bot2");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn without_bot_tokens_every_reply_fails_naming_the_setting() {
    let server = server().await;
    let client = client_with(&[(API_BASE, &server.api_base())]);
    let error = send(&client, &target("bot1", message_handle(CHAT, 1)), Reply::text("pong")).await.unwrap_err();

    assert!(error.is_permanent() && error.reason.contains("TELEGRAM_BOT_TOKENS is not set"), "{error}");
    assert!(server.received().is_empty());
}

#[test]
fn a_malformed_bot_token_stops_start_up_naming_the_setting_and_the_bot_never_the_value() {
    let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
    let cut = format!("bot1={TOKEN},bot2=7000003:AAFsecretTOKENvalue");
    let env: HashMap<&str, &str> = [(BOT_TOKENS, cut.as_str())].into();
    let error = TelegramClient::from_env(&env, connector).unwrap_err();
    assert_eq!(error.name, BOT_TOKENS);
    assert!(error.reason.contains("bot2") && !error.to_string().contains("AAFsecret"), "{error}");
}

#[tokio::test]
async fn what_telegram_cannot_send_is_refused_without_a_request() {
    let server = server().await;
    let asked = server.user_message(CHAT, "ping");
    let client = client(&server);
    let target = target("bot1", message_handle(CHAT, asked));

    let long = send(&client, &target, Reply::text("x".repeat(4097))).await.unwrap_err();
    assert!(long.is_permanent() && long.reason.contains("4096"), "{long}");
    let card_only = Reply { card: Some(json!({"inline_keyboard": []})), ..Reply::default() };
    let error = send(&client, &target, card_only).await.unwrap_err();
    assert!(error.is_permanent() && error.reason.contains("needs a text"), "{error}");
    assert!(server.received().is_empty(), "{:?}", server.received());

    assert!(
        send(&client, &target, Reply::text("x".repeat(4096))).await.is_ok(),
        "4096 is Telegram's limit, not past it"
    );
}

#[tokio::test]
async fn a_chat_telegram_does_not_know_is_permanent_with_its_description() {
    let server = server().await;
    let error =
        send(&client(&server), &target("bot1", message_handle("99", 1)), Reply::text("pong")).await.unwrap_err();

    assert!(error.is_permanent(), "{error}");
    assert!(error.reason.contains("Bad Request: chat not found"), "{error}");
}

#[tokio::test]
async fn server_errors_and_unreachable_servers_are_transient() {
    let server = server().await;
    let asked = server.user_message(CHAT, "ping");
    server.script(Answer::json(502, json!({"ok": false, "error_code": 502, "description": "Bad Gateway"})));
    let target = target("bot1", message_handle(CHAT, asked));
    let error = send(&client(&server), &target, Reply::text("pong")).await.unwrap_err();
    assert!(!error.is_permanent(), "{error}");

    let closed = closed_port().await;
    let client = client_with(&[(BOT_TOKENS, &format!("bot1={TOKEN}")), (API_BASE, &closed)]);
    let error = send(&client, &target, Reply::text("pong")).await.unwrap_err();
    assert!(!error.is_permanent(), "{error}");
    assert!(!error.reason.contains(SECRET_PART), "{error}");
}

#[tokio::test]
async fn the_token_is_never_in_a_reason_a_log_line_or_debug_output() {
    let server = server().await;
    let asked = server.user_message(CHAT, "ping");
    let logs = CapturedLogs::start();
    let mut reasons = Vec::new();
    let handle = message_handle(CHAT, asked);
    let answers = [
        Answer::json(400, json!({"ok": false, "error_code": 400, "description": format!("Bad Request: /bot{TOKEN}/")})),
        Answer::json(
            403,
            json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
        ),
        Answer::text(500, &format!("upstream /bot{TOKEN}/sendMessage failed")),
        Answer::text(404, &format!("no route /bot{TOKEN}/sendMessage")),
        Answer::json(429, json!({"ok": false, "error_code": 429, "parameters": {"retry_after": 1}})),
    ];
    // A client each, so that pacing does not hold the test back.
    for answer in answers {
        server.script(answer);
        reasons.push(
            send(&client(&server), &target("bot1", handle.clone()), Reply::text("pong")).await.unwrap_err().reason,
        );
    }
    let press = json!({"callback_query_id": "q-unknown", "chat_id": CHAT, "message_id": asked.to_string()});
    server.script_for("answerCallbackQuery", Answer::text(500, &format!("/bot{TOKEN}/answerCallbackQuery")));
    send(&client(&server), &target("bot1", press), Reply::text("pong")).await.unwrap();
    let closed = client_with(&[(BOT_TOKENS, &format!("bot1={TOKEN}")), (API_BASE, &closed_port().await)]);
    reasons.push(send(&closed, &target("bot1", handle), Reply::text("pong")).await.unwrap_err().reason);

    for shown in reasons.iter().chain([&logs.text(), &format!("{:?}", client(&server)), &format!("{closed:?}")]) {
        assert!(!shown.contains(SECRET_PART), "the token shows in: {shown}");
    }
    assert!(reasons[0].contains("<token>"), "a quoted URL keeps its shape without the token: {}", reasons[0]);
    assert!(logs.text().contains("not answered"), "the press's failure was logged: {}", logs.text());
}

#[tokio::test]
async fn replies_to_one_chat_are_about_a_second_apart_and_other_chats_are_not_held_back() {
    let server = server().await;
    let asked = server.user_message(CHAT, "ping");
    let in_group = server.user_message("-1001234567890", "ping");
    let client = client(&server);
    let started = Instant::now();
    send(&client, &target("bot1", message_handle(CHAT, asked)), Reply::text("one")).await.unwrap();
    send(&client, &target("bot1", message_handle("-1001234567890", in_group)), Reply::text("other chat"))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(900), "another chat went at once: {:?}", started.elapsed());
    send(&client, &target("bot1", message_handle(CHAT, asked)), Reply::text("two")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950), "the same chat waited: {:?}", started.elapsed());
}

/// A base URL where nothing listens.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("bound").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
