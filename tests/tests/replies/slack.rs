//! Slack replies (inlet_shared::reply::slack) against the local Slack of
//! inlet_tests::platforms::slack, and next to what slack-sdk 3.39.0 sends
//! for the same replies (`slack_sdk_check.py`, the `inlet_sends_what_slack_sdk_sends…`
//! test): the webhook client on a `response_url` (a new message, a
//! replacement) and the Web API client (`chat.postMessage` in a thread,
//! `chat.update`), compared by method, path, content type, Authorization
//! and JSON body.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use inlet_shared::delivery::Retry;
use inlet_shared::reply::slack::{
    API_BASE, BOT_TOKEN, REPLY_HOSTS, SlackClient, VIA_POST_MESSAGE, VIA_RESPONSE_URL, VIA_UPDATE,
};
use inlet_shared::reply::{Reply, ReplyError, ReplyTarget, Sent};
use inlet_testkit::crosscheck::{Runtime, repository_root, run_library};

use crate::send_now;
use inlet_shared::aws::tls::TlsRoots;
use inlet_tests::platforms::slack::{self, Shown, SlackServer};
use inlet_tests::platforms::{Answer, Received};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const TOKEN: &str = "xoxb-1111-2222-t0k3nsecret";
const CHANNEL: &str = "C0001";
/// What appears in every response_url's path this server issues.
const URL_SECRET: &str = "s3cr3tpath";

async fn server() -> SlackServer {
    slack::start(TOKEN, &[CHANNEL, "C0002"]).await
}

/// A client of `server`'s API whose `response_url`s it may call.
fn client(server: &SlackServer, token: Option<&str>) -> SlackClient {
    let (base, hosts) = (server.api_base(), server.reply_hosts());
    client_with(&[(API_BASE, base.as_str()), (REPLY_HOSTS, hosts.as_str())], token)
}

fn client_with(settings: &[(&str, &str)], token: Option<&str>) -> SlackClient {
    let mut env: HashMap<&str, &str> = settings.iter().copied().collect();
    if let Some(token) = token {
        env.insert(BOT_TOKEN, token);
    }
    SlackClient::from_env(&env, inlet_shared::aws::outbound::connector(&TlsRoots::System)).expect("valid settings")
}

fn received_at(ago: Duration) -> String {
    (OffsetDateTime::now_utc() - ago).format(&Rfc3339).expect("RFC 3339")
}

/// A slash command's target, as functions/slack builds its reply handle.
fn command(response_url: &str, ago: Duration) -> ReplyTarget {
    ReplyTarget {
        event_id: "trigger:13345224609.738474920.8088930838d88f008e0".into(),
        provider: "slack".into(),
        tenant: Some("T1".into()),
        received_at: received_at(ago),
        chat_id: Some(CHANNEL.into()),
        handle: json!({
            "response_url": response_url,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "channel_id": CHANNEL,
            "team_id": "T1",
        }),
    }
}

/// An Events API message's target: `thread_ts` is the thread it is in.
fn message(channel: &str, ts: &str, thread_ts: Option<&str>) -> ReplyTarget {
    let mut handle = json!({"channel_id": channel, "ts": ts, "team_id": "T1"});
    if let Some(thread_ts) = thread_ts {
        handle["thread_ts"] = json!(thread_ts);
    }
    ReplyTarget {
        event_id: "T1:Ev0PV52K21".into(),
        provider: "slack".into(),
        tenant: Some("T1".into()),
        received_at: received_at(Duration::ZERO),
        chat_id: Some(channel.into()),
        handle,
    }
}

fn blocks() -> Value {
    json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*Deployed* v1.2"}}])
}

fn with_blocks(text: &str) -> Reply {
    Reply { text: Some(text.into()), card: Some(blocks()), update: false }
}

fn update(text: &str) -> Reply {
    Reply { update: true, ..Reply::text(text) }
}

async fn send(client: &SlackClient, target: &ReplyTarget, reply: &Reply) -> Result<Sent, ReplyError> {
    send_now(client, target, reply, "reply-1").await
}

/// Neither the token nor a response_url's path in `shown`.
fn shows_no_secret(shown: &str) {
    for secret in [TOKEN, "t0k3nsecret", URL_SECRET, "/hooks/"] {
        assert!(!shown.contains(secret), "shows {secret:?}: {shown}");
    }
}

#[tokio::test]
async fn a_slash_command_is_answered_through_its_response_url_with_the_exact_body() {
    let server = server().await;
    let url = server.response_url("T1", CHANNEL);
    let sent = send(&client(&server, Some(TOKEN)), &command(&url, Duration::ZERO), &with_blocks("deployed")).await;
    assert_eq!(sent.unwrap(), Sent::via(VIA_RESPONSE_URL));
    let calls = server.calls_to_url(&url);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].json(), json!({"text": "deployed", "blocks": blocks(), "response_type": "in_channel"}));
    assert_eq!(calls[0].header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(calls[0].header("authorization"), None, "a response_url needs no token, and is given none");
    assert_eq!(server.received().len(), 1, "no Web API call");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn an_update_replaces_the_original_through_the_response_url() {
    let server = server().await;
    let url = server.response_url("T1", CHANNEL);
    let sent = send(&client(&server, None), &command(&url, Duration::from_secs(60)), &update("approved")).await;
    assert_eq!(sent.unwrap(), Sent::via(VIA_RESPONSE_URL));
    let calls = server.calls_to_url(&url);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].json(), json!({"text": "approved", "replace_original": true}));
}

#[tokio::test]
async fn an_expired_or_used_response_url_falls_back_to_chat_post_message_exactly_once() {
    let server = server().await;
    let aged_on_slack = server.response_url("T1", CHANNEL);
    server.age(&aged_on_slack, Duration::from_secs(31 * 60));
    let used = server.response_url("T1", CHANNEL);
    server.use_up(&used);
    let old_event = server.response_url("T1", CHANNEL);
    // (target, how often inlet calls the response_url): an event older than
    // 30 minutes is known expired without asking Slack.
    let cases = [
        ("expired on Slack", command(&aged_on_slack, Duration::ZERO), 1),
        ("used up", command(&used, Duration::ZERO), 1),
        ("expired by age", command(&old_event, Duration::from_secs(30 * 60 + 1)), 0),
    ];
    for (name, target, url_calls) in cases {
        let url = target.field("response_url").expect("a response_url").to_string();
        let posts = server.calls_to("chat.postMessage").len();
        let sent = send(&client(&server, Some(TOKEN)), &target, &Reply::text(name)).await;
        let sent = sent.unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(sent.via, VIA_POST_MESSAGE, "{name}");
        assert!(sent.message_id.is_some(), "{name}: the message's ts");
        assert_eq!(server.calls_to_url(&url).len(), url_calls, "{name}");
        let new_posts = &server.calls_to("chat.postMessage")[posts..];
        assert_eq!(new_posts.len(), 1, "{name}: exactly one chat.postMessage");
        assert_eq!(new_posts[0].json(), json!({"channel": CHANNEL, "text": name}), "{name}: not in a thread");
        assert_eq!(new_posts[0].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    }
    let shown: Vec<String> = server.messages().iter().map(|m| m.via.clone()).collect();
    assert_eq!(shown, ["chat.postMessage"; 3]);
}

#[tokio::test]
async fn without_a_token_an_unusable_response_url_is_a_permanent_error_naming_slack_bot_token() {
    let server = server().await;
    let used = server.response_url("T1", CHANNEL);
    server.use_up(&used);
    let no_token = client(&server, None);
    let refused = send(&no_token, &command(&used, Duration::ZERO), &Reply::text("hi")).await.unwrap_err();
    assert!(refused.is_permanent(), "{refused}");
    assert!(refused.reason.contains(BOT_TOKEN) && refused.reason.contains("used_url"), "{refused}");
    let old = command(&server.response_url("T1", CHANNEL), Duration::from_secs(45 * 60));
    let expired = send(&no_token, &old, &Reply::text("hi")).await.unwrap_err();
    assert!(expired.is_permanent() && expired.reason.contains("expired") && expired.reason.contains(BOT_TOKEN));
    let absent = send(&no_token, &message(CHANNEL, "1.5", None), &Reply::text("hi")).await.unwrap_err();
    assert!(absent.is_permanent() && absent.reason.contains("absent") && absent.reason.contains(BOT_TOKEN));
    assert!(server.calls_to("chat.postMessage").is_empty());
    for error in [refused, expired, absent] {
        shows_no_secret(&error.reason);
    }
}

#[tokio::test]
async fn a_response_url_on_a_foreign_host_is_never_called() {
    let server = server().await;
    let foreign = slack::start(TOKEN, &[CHANNEL]).await;
    let url = foreign.response_url("T1", CHANNEL);
    let target = command(&url, Duration::ZERO);
    // The default hosts (hooks.slack.com) do not name 127.0.0.1 either.
    let default_hosts = client_with(&[(API_BASE, server.api_base().as_str())], Some(TOKEN));
    for client in [client(&server, Some(TOKEN)), default_hosts] {
        let sent = send(&client, &target, &Reply::text("hi")).await.unwrap();
        assert_eq!(sent.via, VIA_POST_MESSAGE);
    }
    assert!(foreign.received().is_empty(), "the foreign host got {:?}", foreign.received());
    assert_eq!(server.calls_to("chat.postMessage").len(), 2);
    let refused = send(&client(&server, None), &target, &Reply::text("hi")).await.unwrap_err();
    assert!(refused.is_permanent(), "{refused}");
    assert!(refused.reason.contains("127.0.0.1") && refused.reason.contains(REPLY_HOSTS), "{refused}");
    shows_no_secret(&refused.reason);
    assert!(foreign.received().is_empty());
    // On an allowed host, but not a URL HTTP can carry: never retried.
    let unusable = command(&format!("{}/hooks/commands/T1/1/{URL_SECRET}<x>", server.url), Duration::ZERO);
    let refused = send(&client(&server, None), &unusable, &Reply::text("hi")).await.unwrap_err();
    assert!(refused.is_permanent() && refused.reason.contains("not a valid HTTP URL"), "{refused}");
    shows_no_secret(&refused.reason);
    assert!(server.received().iter().all(|r| r.path.starts_with("/api/")), "{:?}", server.received());
}

#[tokio::test]
async fn throttling_is_transient_with_slacks_wait_and_the_next_attempt_posts() {
    let server = server().await;
    let client = client(&server, Some(TOKEN));
    server.throttle(1, 30);
    let target = message(CHANNEL, "1700000000.000100", None);
    let throttled = send(&client, &target, &Reply::text("hi")).await.unwrap_err();
    assert_eq!(throttled.retry, Retry::Later { after: Some(Duration::from_secs(30)) }, "{throttled}");
    assert!(throttled.reason.contains("ratelimited"), "{throttled}");
    assert!(server.messages().is_empty());
    let sent = send(&client, &target, &Reply::text("hi")).await.unwrap();
    assert_eq!(sent.via, VIA_POST_MESSAGE);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn slack_failing_is_transient_and_a_refused_message_is_permanent() {
    let server = server().await;
    let client = client(&server, Some(TOKEN));
    let target = message(CHANNEL, "1700000000.000100", None);
    server.script(Answer::json(200, json!({"ok": false, "error": "service_unavailable"})));
    server.script(Answer::json(503, json!({"ok": false, "error": "fatal_error"})));
    for _ in 0..2 {
        let failed = send(&client, &target, &Reply::text("hi")).await.unwrap_err();
        assert_eq!(failed.retry, Retry::Later { after: None }, "{failed}");
    }
    let unknown = send(&client, &message("C404", "1.5", None), &Reply::text("hi")).await.unwrap_err();
    assert!(unknown.is_permanent() && unknown.reason.contains("channel_not_found"), "{unknown}");
    let object = Reply { card: Some(json!({"type": "section"})), ..Reply::text("hi") };
    let not_blocks = send(&client, &target, &object).await.unwrap_err();
    assert!(not_blocks.is_permanent() && not_blocks.reason.contains("array"), "{not_blocks}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_bad_token_is_permanent_and_names_the_setting() {
    let server = server().await;
    let wrong = "xoxb-1111-2222-wr0ngsecret";
    let refused = send(&client(&server, Some(wrong)), &message(CHANNEL, "1.5", None), &Reply::text("hi")).await;
    let refused = refused.unwrap_err();
    assert!(refused.is_permanent(), "{refused}");
    assert!(refused.reason.contains(BOT_TOKEN) && refused.reason.contains("invalid_auth"), "{refused}");
    assert!(!refused.reason.contains("wr0ngsecret"), "{refused}");
    assert_eq!(
        server.calls_to("chat.postMessage")[0].header("authorization"),
        Some(format!("Bearer {wrong}").as_str())
    );
}

#[tokio::test]
async fn the_token_and_the_response_url_path_never_appear_in_a_reason_or_debug() {
    let server = server().await;
    let with_token = client(&server, Some(TOKEN));
    shows_no_secret(&format!("{with_token:?}"));
    // A response_url whose server is gone: a transport error.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    // On `localhost`: SLACK_REPLY_HOSTS allows one port per host.
    let closed = format!("http://localhost:{port}/hooks/commands/T1/1/{URL_SECRET}");
    let hosts = format!("{},localhost:{port}", server.reply_hosts());
    let unreachable = client_with(&[(API_BASE, server.api_base().as_str()), (REPLY_HOSTS, hosts.as_str())], None);
    let used = server.response_url("T1", CHANNEL);
    server.use_up(&used);
    server.throttle(1, 5);
    let mut errors = vec![
        send(&unreachable, &command(&closed, Duration::ZERO), &Reply::text("hi")).await.unwrap_err(),
        send(&client(&server, None), &command(&used, Duration::ZERO), &Reply::text("hi")).await.unwrap_err(),
        send(&with_token, &command(&used, Duration::ZERO), &Reply::text("hi")).await.unwrap_err(),
        send(&client(&server, Some("xoxb-1111-2222-wr0ng")), &message(CHANNEL, "1.5", None), &Reply::text("hi"))
            .await
            .unwrap_err(),
    ];
    let foreign = command("https://evil.example/hooks/commands/T1/1/s3cr3tpath", Duration::ZERO);
    errors.push(send(&client(&server, None), &foreign, &Reply::text("hi")).await.unwrap_err());
    assert!(!errors[0].is_permanent(), "a transport error is transient: {}", errors[0]);
    assert_eq!(errors[2].retry, Retry::Later { after: Some(Duration::from_secs(5)) }, "{}", errors[2]);
    for error in &errors {
        shows_no_secret(&error.reason);
        shows_no_secret(&format!("{error:?}"));
    }
}

#[tokio::test]
async fn a_message_event_is_answered_in_its_thread() {
    let server = server().await;
    let client = client(&server, Some(TOKEN));
    let top_level = send(&client, &message(CHANNEL, "1700000000.000100", None), &Reply::text("a")).await.unwrap();
    let in_thread =
        send(&client, &message("C0002", "1700000000.000300", Some("1700000000.000200")), &Reply::text("b")).await;
    assert!(top_level.message_id.is_some() && in_thread.is_ok());
    let bodies: Vec<Value> = server.calls_to("chat.postMessage").iter().map(Received::json).collect();
    assert_eq!(
        bodies,
        [
            json!({"channel": CHANNEL, "text": "a", "thread_ts": "1700000000.000100"}),
            json!({"channel": "C0002", "text": "b", "thread_ts": "1700000000.000200"}),
        ]
    );
}

#[tokio::test]
async fn an_update_without_a_response_url_is_chat_update_of_the_original() {
    let server = server().await;
    let client = client(&server, Some(TOKEN));
    let posted = send(&client, &message(CHANNEL, "1.1", None), &Reply::text("working")).await.unwrap();
    let ts = posted.message_id.expect("ts");
    let sent = send(&client, &message(CHANNEL, &ts, None), &update("done")).await.unwrap();
    assert_eq!(sent, Sent::via(VIA_UPDATE).with_message_id(Some(ts.clone())));
    let updates = server.calls_to("chat.update");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].json(), json!({"channel": CHANNEL, "ts": ts, "text": "done"}));
    let without_ts = ReplyTarget { handle: json!({"channel_id": CHANNEL}), ..message(CHANNEL, "1", None) };
    let refused = send(&client, &without_ts, &update("done")).await.unwrap_err();
    assert!(refused.is_permanent() && refused.reason.contains("ts"), "{refused}");
    let without_channel = ReplyTarget { handle: json!({"ts": "1.1"}), chat_id: None, ..message(CHANNEL, "1", None) };
    let refused = send(&client, &without_channel, &Reply::text("hi")).await.unwrap_err();
    assert!(refused.is_permanent() && refused.reason.contains("channel"), "{refused}");
}

#[tokio::test]
async fn replies_to_one_channel_are_paced_a_second_apart() {
    let server = server().await;
    let client = client(&server, Some(TOKEN));
    let started = Instant::now();
    for text in ["1", "2"] {
        send(&client, &message(CHANNEL, "1.1", None), &Reply::text(text)).await.unwrap();
    }
    let one_channel = started.elapsed();
    assert!(one_channel >= Duration::from_millis(990), "the second post waited only {one_channel:?}");
    let other = Instant::now();
    send(&client, &message("C0002", "1.1", None), &Reply::text("other channel")).await.unwrap();
    // Its turn would be a second after the second post if channels shared one.
    assert!(other.elapsed() < Duration::from_millis(900), "another channel waited {:?}", other.elapsed());
}

/// The parts of a request both senders must agree on. Not compared: the
/// User-Agent (slack-sdk's `Python/3.11 slackclient/3.39.0 …`, inlet's
/// `inlet/…`) and urllib's own `Connection: close` and `Accept-Encoding:
/// identity`, which change nothing Slack reads.
fn essentials(request: &Received) -> Value {
    // slack-sdk writes `application/json;charset=utf-8`, inlet
    // `application/json; charset=utf-8`: the same media type and charset
    // (RFC 9110 §5.6.6 allows whitespace before a parameter).
    let content_type = request.header("content-type").map(|v| v.replace(' ', "").to_ascii_lowercase());
    json!({
        "method": request.method,
        "path": request.path,
        "content_type": content_type,
        "authorization": request.header("authorization"),
        "body": request.json(),
    })
}

#[tokio::test]
async fn inlet_sends_what_slack_sdk_sends_for_the_same_replies() {
    let server = server().await;
    let url = server.response_url("T1", CHANNEL);
    let original = "1699999999.000001";
    server.with_state(|state| {
        let body = json!({"text": "working"});
        state.messages.push(Shown { via: "seed".into(), channel: CHANNEL.into(), ts: original.into(), body });
    });
    let thread = "1699999999.000002";
    let blocks = blocks();
    // Each reply, inlet's target for it, and the SDK call that sends it.
    let cases = [
        (
            with_blocks("deployed"),
            command(&url, Duration::ZERO),
            json!({"kind": "webhook", "args": {"text": "deployed", "blocks": blocks, "response_type": "in_channel"}}),
        ),
        (
            update("approved"),
            command(&url, Duration::ZERO),
            json!({"kind": "webhook", "args": {"text": "approved", "replace_original": true}}),
        ),
        (
            with_blocks("in a thread"),
            message(CHANNEL, thread, None),
            json!({"kind": "chat_postMessage",
                   "args": {"channel": CHANNEL, "text": "in a thread", "thread_ts": thread, "blocks": blocks}}),
        ),
        (
            Reply { update: true, ..with_blocks("done") },
            message(CHANNEL, original, None),
            json!({"kind": "chat_update", "args": {"channel": CHANNEL, "ts": original, "text": "done", "blocks": blocks}}),
        ),
    ];
    let calls: Vec<Value> = cases.iter().map(|(_, _, call)| call.clone()).collect();
    let input =
        json!({"response_url": url, "base_url": format!("{}/", server.api_base()), "token": TOKEN, "calls": calls});
    let script = repository_root().join("tests/tests/replies/slack_sdk_check.py");
    // The script blocks; the server must keep serving it meanwhile.
    let report = tokio::task::spawn_blocking(move || {
        run_library(Runtime::VenvPython, &script, &input, "library", "slack-sdk 3.39.0")
    })
    .await
    .expect("the slack-sdk script ran");
    let by_sdk = server.received();
    assert_eq!(by_sdk.len(), cases.len(), "one request per SDK call: {report}");
    for result in report["results"].as_array().expect("results") {
        assert!(result["status"] == json!(200) || result["ok"] == json!(true), "Slack took the SDK's call: {result}");
    }

    let client = client(&server, Some(TOKEN));
    for (reply, target, _) in &cases {
        send(&client, target, reply).await.unwrap_or_else(|error| panic!("{reply:?}: {error}"));
    }
    let by_inlet = &server.received()[by_sdk.len()..];
    assert_eq!(by_inlet.len(), cases.len(), "one request per reply");
    for ((sdk, inlet), (reply, _, call)) in by_sdk.iter().zip(by_inlet).zip(&cases) {
        assert_eq!(essentials(inlet), essentials(sdk), "{reply:?} as slack-sdk sends it with {call}");
    }
    assert_eq!(server.with_state(|state| state.hooks[&by_sdk[0].path].uses), 4, "the SDK's two and inlet's two");
}
