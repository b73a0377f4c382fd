//! Discord replies against its local server (inlet_tests::platforms::discord).

use std::collections::HashMap;
use std::time::Duration;

use inlet_shared::delivery::Retry;
use inlet_shared::reply::discord::{API_BASE, DiscordClient, VIA_EDIT_ORIGINAL, VIA_FOLLOW_UP};
use inlet_shared::reply::{Reply, ReplyError, ReplyTarget, Sent};

use crate::send_now;
use inlet_testkit::CapturedLogs;
use inlet_tests::platforms::Answer;
use inlet_tests::platforms::discord::{self, DiscordServer, Interaction};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const APP: &str = "1100000000000000001";
const CHANNEL: &str = "1300000000000000001";
/// In every token the server issues: a reason cut short could hold a part.
const TOKEN_MARK: &str = "SECRET-interaction";

fn client_at(base: &str) -> DiscordClient {
    let env: HashMap<&str, &str> = [(API_BASE, base)].into();
    let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
    DiscordClient::from_env(&env, connector).expect("a usable configuration")
}

fn client(server: &DiscordServer) -> DiscordClient {
    client_at(&server.api_base())
}

/// The target of an event inlet received `ago`.
fn target_received(handle: Value, ago: Duration) -> ReplyTarget {
    let received = OffsetDateTime::now_utc() - ago;
    ReplyTarget {
        event_id: "discord:1".into(),
        provider: "discord".into(),
        tenant: Some("guild1".into()),
        received_at: received.format(&Rfc3339).expect("formats"),
        chat_id: Some(CHANNEL.into()),
        handle,
    }
}

fn target(interaction: &Interaction) -> ReplyTarget {
    target_received(interaction.handle(), Duration::ZERO)
}

async fn send(client: &DiscordClient, target: &ReplyTarget, reply: Reply) -> Result<Sent, ReplyError> {
    send_now(client, target, &reply, "reply-1").await
}

fn webhook(interaction: &Interaction) -> String {
    format!("/api/v10/webhooks/{}/{}", interaction.application_id, interaction.token)
}

#[tokio::test]
async fn a_reply_is_one_follow_up_on_the_interactions_webhook() {
    let server = discord::start().await;
    let interaction = server.interaction(APP, CHANNEL);
    let sent = send(&client(&server), &target(&interaction), Reply::text("pong")).await.unwrap();

    let received = server.received();
    assert_eq!(received.len(), 1, "exactly one request: {received:?}");
    let request = &received[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", webhook(&interaction).as_str()));
    assert_eq!(request.query.get("wait").map(String::as_str), Some("true"));
    assert_eq!(request.json(), json!({"content": "pong", "allowed_mentions": {"parse": []}}));
    assert!(request.header("content-type").is_some_and(|v| v.starts_with("application/json")));
    assert_eq!(request.header("authorization"), None, "the interaction token is the only auth");

    let posted = server.messages_of(&interaction).into_iter().find(|m| m.fields.contains_key("content")).unwrap();
    assert_eq!(sent, Sent::via(VIA_FOLLOW_UP).with_message_id(Some(posted.id.clone())));
    assert_eq!((posted.fields["content"].as_str(), posted.channel_id.as_str()), (Some("pong"), CHANNEL));
}

#[tokio::test]
async fn a_cards_fields_are_merged_into_the_message() {
    let server = discord::start().await;
    let interaction = server.interaction(APP, CHANNEL);
    let card = json!({
        "embeds": [{"title": "Deploy", "description": "v2 is out", "color": 5763719}],
        "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "Roll back", "custom_id": "rollback"}]}],
        "flags": 64,
        "allowed_mentions": {"parse": []},
    });
    let reply = Reply { text: Some("Done".into()), card: Some(card.clone()), update: false };
    send(&client(&server), &target(&interaction), reply).await.unwrap();

    let mut expected = card;
    expected["content"] = json!("Done");
    assert_eq!(server.received()[0].json(), expected);
}

#[tokio::test]
async fn update_edits_the_original_response() {
    let server = discord::start().await;
    let interaction = server.interaction(APP, CHANNEL);
    let original = interaction.original.clone().expect("deferred");
    let reply = Reply { update: true, ..Reply::text("Approved") };
    let sent = send(&client(&server), &target(&interaction), reply).await.unwrap();

    assert_eq!(sent, Sent::via(VIA_EDIT_ORIGINAL).with_message_id(Some(original.clone())));
    let received = server.received();
    assert_eq!(received.len(), 1);
    let expected_path = format!("{}/messages/@original", webhook(&interaction));
    assert_eq!((received[0].method.as_str(), received[0].path.as_str()), ("PATCH", expected_path.as_str()));
    assert_eq!(received[0].json(), json!({"content": "Approved", "allowed_mentions": {"parse": []}}));
    let edited = server.message(&original).unwrap();
    assert_eq!((edited.fields["content"].as_str(), edited.edits), (Some("Approved"), 1));
    assert_eq!(server.messages_of(&interaction).len(), 1, "no new message");
}

#[tokio::test]
async fn editing_an_original_response_that_does_not_exist_is_permanent_with_discords_message() {
    let server = discord::start().await;
    let interaction = server.unanswered_interaction(APP, CHANNEL);
    let reply = Reply { update: true, ..Reply::text("Approved") };
    let error = send(&client(&server), &target(&interaction), reply).await.unwrap_err();

    assert!(error.is_permanent(), "{error}");
    assert!(error.reason.contains("Unknown Message") && error.reason.contains("10008"), "{error}");
}

#[tokio::test]
async fn an_interaction_older_than_15_minutes_is_permanent_without_a_request() {
    let server = discord::start().await;
    let interaction = server.interaction(APP, CHANNEL);
    let late = target_received(interaction.handle(), Duration::from_secs(15 * 60 + 1));
    let error = send(&client(&server), &late, Reply::text("pong")).await.unwrap_err();

    assert!(error.is_permanent(), "{error}");
    assert!(error.reason.starts_with("the interaction token expired (15 min)"), "{error}");
    assert!(server.received().is_empty());
    let in_time = target_received(interaction.handle(), Duration::from_secs(14 * 60));
    assert!(send(&client(&server), &in_time, Reply::text("pong")).await.is_ok(), "14 minutes is still in time");
}

#[tokio::test]
async fn a_token_discord_no_longer_takes_is_permanent_with_its_code() {
    let server = discord::start().await;
    // inlet received the event just now, but Discord issued the token
    // earlier than inlet can know (a slow receiver, a clock apart).
    let aged = server.interaction(APP, CHANNEL);
    server.age(&aged, Duration::from_secs(16 * 60));
    let error = send(&client(&server), &target(&aged), Reply::text("pong")).await.unwrap_err();
    assert!(error.is_permanent(), "{error}");
    assert!(error.reason.starts_with("the interaction token is expired or unknown"), "{error}");
    assert!(error.reason.contains("50027"), "{error}");

    let mut other_app = server.interaction(APP, CHANNEL);
    other_app.application_id = "1100000000000000009".into();
    let error = send(&client(&server), &target(&other_app), Reply::text("pong")).await.unwrap_err();
    assert!(error.is_permanent() && error.reason.contains("10015"), "{error}");

    let short_lived = server.interaction(APP, CHANNEL);
    server.set_lifetime(Duration::ZERO);
    let error = send(&client(&server), &target(&short_lived), Reply::text("pong")).await.unwrap_err();
    assert!(error.reason.starts_with("the interaction token is expired or unknown"), "{error}");
    assert_eq!(server.received().len(), 3, "one request each");
}

#[tokio::test]
async fn rate_limiting_is_transient_with_discords_retry_after_rounded_up() {
    let server = discord::start().await;
    let interaction = server.interaction(APP, CHANNEL);
    server.rate_limit(1, 1.5, false);
    let client = client(&server);
    let error = send(&client, &target(&interaction), Reply::text("pong")).await.unwrap_err();

    assert_eq!(error.retry, Retry::Later { after: Some(Duration::from_secs(2)) }, "{error}");
    assert_eq!(server.received().len(), 1);
    assert!(send(&client, &target(&interaction), Reply::text("pong")).await.is_ok(), "the retry goes through");
}

#[tokio::test]
async fn content_over_2000_characters_is_permanent_without_a_request() {
    let server = discord::start().await;
    let interaction = server.interaction(APP, CHANNEL);
    let error = send(&client(&server), &target(&interaction), Reply::text("x".repeat(2001))).await.unwrap_err();

    assert!(error.is_permanent() && error.reason.contains("2000"), "{error}");
    assert!(server.received().is_empty());
    assert!(send(&client(&server), &target(&interaction), Reply::text("x".repeat(2000))).await.is_ok());
}

#[tokio::test]
async fn a_form_discord_refuses_is_permanent_with_its_message_and_fields() {
    let server = discord::start().await;
    let interaction = server.interaction(APP, CHANNEL);
    let embeds: Vec<Value> = (0..11).map(|n| json!({"title": n.to_string()})).collect();
    let reply = Reply { text: Some("many".into()), card: Some(json!({ "embeds": embeds })), update: false };
    let error = send(&client(&server), &target(&interaction), reply).await.unwrap_err();

    assert!(error.is_permanent(), "{error}");
    assert!(error.reason.contains("Invalid Form Body (code 50035)"), "{error}");
    assert!(error.reason.contains("embeds: Must be 10 or fewer in length."), "{error}");
}

#[tokio::test]
async fn what_discord_cannot_take_is_refused_without_a_request() {
    let server = discord::start().await;
    let interaction = server.interaction(APP, CHANNEL);
    let array = Reply { card: Some(json!([{"title": "t"}])), ..Reply::default() };
    let error = send(&client(&server), &target(&interaction), array).await.unwrap_err();
    assert!(error.is_permanent() && error.reason.contains("object of message fields"), "{error}");

    for (name, value) in [
        ("interaction_token", "../../../channels/1/messages"),
        ("interaction_token", "tok?wait=false"),
        ("interaction_token", "tok/messages/@original"),
        ("interaction_token", ".."),
        ("application_id", "1%2F2"),
        ("application_id", ""),
    ] {
        let mut handle = interaction.handle();
        handle[name] = json!(value);
        let error = send(&client(&server), &target_received(handle, Duration::ZERO), Reply::text("pong")).await;
        let error = error.unwrap_err();
        assert!(error.is_permanent() && error.reason.contains(name), "{value}: {error}");
    }
    assert!(server.received().is_empty(), "{:?}", server.received());
}

#[tokio::test]
async fn server_errors_and_unreachable_servers_are_transient() {
    let server = discord::start().await;
    let interaction = server.interaction(APP, CHANNEL);
    server.script(Answer::json(502, json!({"message": "502: Bad Gateway", "code": 0})));
    let error = send(&client(&server), &target(&interaction), Reply::text("pong")).await.unwrap_err();
    assert!(!error.is_permanent(), "{error}");

    let error = send(&client_at(&closed_port().await), &target(&interaction), Reply::text("pong")).await;
    assert!(!error.unwrap_err().is_permanent());
}

#[tokio::test]
async fn the_token_is_never_in_a_reason_a_log_line_or_debug_output() {
    let server = discord::start().await;
    let interaction = server.interaction(APP, CHANNEL);
    let token = interaction.token.clone();
    let logs = CapturedLogs::start();
    let client = client(&server);
    let answers = [
        Answer::json(400, json!({"message": format!("bad {token}"), "code": 50035})),
        Answer::json(401, json!({"message": "Invalid Webhook Token", "code": 50027})),
        Answer::text(500, &format!("upstream /webhooks/{APP}/{token} failed")),
        Answer::text(404, &format!("no route /webhooks/{APP}/{token}")),
        Answer::text(418, &token),
        Answer::json(429, json!({"message": "You are being rate limited.", "retry_after": 0.2, "global": true})),
    ];
    let mut reasons = Vec::new();
    for answer in answers {
        server.script(answer);
        reasons.push(send(&client, &target(&interaction), Reply::text("pong")).await.unwrap_err().reason);
    }
    let unreachable = client_at(&closed_port().await);
    reasons.push(send(&unreachable, &target(&interaction), Reply::text("pong")).await.unwrap_err().reason);
    let late = target_received(interaction.handle(), Duration::from_secs(3600));
    reasons.push(send(&client, &late, Reply::text("pong")).await.unwrap_err().reason);

    for shown in reasons.iter().chain([&logs.text(), &format!("{client:?}")]) {
        assert!(!shown.contains(TOKEN_MARK), "the token shows in: {shown}");
    }
    assert!(reasons[0].contains("<token>"), "a quoted URL keeps its shape without the token: {}", reasons[0]);
}

/// A base URL where nothing listens.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("bound").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/api/v10")
}
