//! The Slack handler on its own signed samples and on requests signed here,
//! with a fixed clock.

use http::{HeaderValue, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{assert_refused, assert_unauthenticated, dev_settings_with, handle_with};
use serde_json::{Value, json};
use slack::samples::{CHANNEL_ID, LEGACY_TOKEN, MESSAGE_TS, TEAM_ID, USER_ID, event_id, trigger_id};
use slack::signature::slack_signature;
use slack::{SIGNATURE_HEADER, SlackFunction, TIMESTAMP_HEADER};

const NOW: i64 = 1_700_000_000;

fn dev_secret() -> String {
    dev_settings()["SLACK_SIGNING_SECRET"].clone()
}

fn sample_at(name: &str, timestamp: i64, unique: &str) -> IncomingRequest {
    SlackFunction::sample(name, &dev_settings(), timestamp, unique)
        .unwrap_or_else(|| panic!("sample {name}"))
        .to_incoming()
}

fn sample(name: &str) -> IncomingRequest {
    sample_at(name, NOW, "test")
}

async fn handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_with::<SlackFunction>(&dev_settings(), request, NOW).await
}

fn set(request: &mut IncomingRequest, name: &'static str, value: &str) {
    request.headers.insert(name, HeaderValue::from_str(value).expect("header value"));
}

/// `request` with `body`, signed with `secret` at `timestamp`.
fn signed(mut request: IncomingRequest, body: impl Into<Vec<u8>>, secret: &str, timestamp: i64) -> IncomingRequest {
    request.body = body.into();
    let timestamp = timestamp.to_string();
    let signature = slack_signature(secret, &timestamp, &request.body);
    set(&mut request, TIMESTAMP_HEADER, &timestamp);
    set(&mut request, SIGNATURE_HEADER, &signature);
    request
}

fn form(fields: &[(&str, &str)]) -> String {
    inlet_shared::form::encode_form(fields)
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_testkit::conformance::check::<SlackFunction>(&[]).await;
}

// ------------------------------------------------------------ public vector

/// The slash command of Slack's "Verifying requests from Slack" guide
/// (docs/contributing/testing.md, "Public test vectors"), byte for byte.
const GUIDE_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const GUIDE_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const GUIDE_TIMESTAMP: i64 = 1_531_420_618;
const GUIDE_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

fn guide_request() -> IncomingRequest {
    let mut request = IncomingRequest::new(http::Method::POST, "/slack/commands", GUIDE_BODY);
    set(&mut request, "content-type", "application/x-www-form-urlencoded");
    set(&mut request, TIMESTAMP_HEADER, &GUIDE_TIMESTAMP.to_string());
    set(&mut request, SIGNATURE_HEADER, GUIDE_SIGNATURE);
    request
}

#[tokio::test]
async fn the_guides_public_vector_is_accepted_at_its_time_and_normalized() {
    assert_eq!(slack_signature(GUIDE_SECRET, &GUIDE_TIMESTAMP.to_string(), GUIDE_BODY.as_bytes()), GUIDE_SIGNATURE);
    let env = dev_settings_with(&[("SLACK_SIGNING_SECRET", GUIDE_SECRET)]);
    let (reply, publisher) = handle_with::<SlackFunction>(&env, &guide_request(), GUIDE_TIMESTAMP).await;
    assert_eq!((reply.status, reply.body.as_slice()), (StatusCode::OK, &b""[..]));
    let sent = publisher.sent();
    let envelope = &sent[0];
    assert_eq!(envelope.id, "slack:trigger:398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c");
    assert_eq!(envelope.kind, "slash_command");
    assert_eq!(envelope.tenant.as_deref(), Some("T1DC2JH3J"));
    assert_eq!(envelope.verification.scheme, "slack-signature-v0");
    assert_eq!(envelope.verification.matched.as_deref(), Some("SLACK_SIGNING_SECRET#1"));
    assert_eq!(envelope.payload.to_value().unwrap()["command"], "/webhook-collect");
    assert_eq!(envelope.payload.to_value().unwrap()["text"], "");
    let message = envelope.message.as_ref().unwrap();
    assert_eq!(message.text.as_deref(), Some("/webhook-collect"), "no arguments: the command alone");
    assert_eq!(message.chat_id.as_deref(), Some("G8PSS9T3V"));
    assert_eq!(message.sender_id.as_deref(), Some("U2CERLKJA"));
    assert_eq!(
        message.reply_handle.as_ref().unwrap()["response_url"],
        "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN"
    );
    // Five minutes later it is a replay.
    let (reply, publisher) = handle_with::<SlackFunction>(&env, &guide_request(), GUIDE_TIMESTAMP + 301).await;
    assert_unauthenticated(&reply, &publisher);
}

// ---------------------------------------------------------------- Events API

#[tokio::test]
async fn url_verification_echoes_the_challenge_and_enqueues_nothing() {
    let request = sample("slack-url-verification");
    let challenge = serde_json::from_slice::<Value>(&request.body).unwrap()["challenge"].clone();
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type, Some("application/json"));
    assert_eq!(reply.body_json().unwrap(), json!({ "challenge": challenge }));
    assert!(publisher.sent().is_empty());
}

#[tokio::test]
async fn url_verification_is_answered_only_when_signed() {
    let request = sample("slack-url-verification");
    let body = request.body.clone();
    let mut forged = signed(request.clone(), body.clone(), "not-the-signing-secret", NOW);
    let (reply, publisher) = handle(&forged).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(!String::from_utf8_lossy(&reply.body).contains("challenge"));
    forged.headers.remove(SIGNATURE_HEADER);
    let (reply, publisher) = handle(&forged).await;
    assert_unauthenticated(&reply, &publisher);
    let (reply, publisher) = handle(&signed(request, body, &dev_secret(), NOW - 3600)).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn message_event_is_enqueued_under_team_and_event_id_with_a_message_view() {
    let (reply, publisher) = handle(&sample("slack-event")).await;
    assert_eq!((reply.status, reply.content_type, reply.body.len()), (StatusCode::OK, None, 0));
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1);
    let envelope = &sent[0];
    assert_eq!(envelope.id, format!("slack:{TEAM_ID}:{}", event_id("test")));
    assert_eq!(envelope.kind, "message");
    assert_eq!(envelope.tenant.as_deref(), Some(TEAM_ID));
    assert_eq!(envelope.verification.matched.as_deref(), Some("SLACK_SIGNING_SECRET#1"));
    assert_eq!(envelope.payload.to_value().unwrap()["type"], "event_callback");
    let message = envelope.message.as_ref().unwrap();
    assert_eq!(message.chat_id.as_deref(), Some(CHANNEL_ID));
    assert_eq!(message.chat_type.as_deref(), Some("channel"));
    assert_eq!(message.sender_id.as_deref(), Some(USER_ID));
    assert_eq!(message.message_id.as_deref(), Some(MESSAGE_TS));
    assert_eq!(message.text.as_deref(), Some("deploy prod"));
    assert_eq!(
        message.reply_handle.as_ref().unwrap(),
        &json!({"channel_id": CHANNEL_ID, "ts": MESSAGE_TS, "thread_ts": MESSAGE_TS, "team_id": TEAM_ID})
    );
}

#[tokio::test]
async fn a_retry_is_the_same_event_and_another_event_is_not() {
    let (_, first) = handle(&sample_at("slack-event", NOW - 60, "dedup")).await;
    let retry = sample_at("slack-event-retry", NOW, "dedup");
    assert_eq!(retry.header("x-slack-retry-num"), Some("1"));
    let (reply, second) = handle(&retry).await;
    assert_eq!(reply.status, StatusCode::OK);
    let (first, second) = (first.sent().remove(0), second.sent().remove(0));
    assert_eq!(first.id, second.id, "a retry keeps the event's id: the processor runs it once");
    assert_eq!(first.payload, second.payload);
    let (_, other) = handle(&sample_at("slack-event", NOW, "another")).await;
    assert_ne!(other.sent()[0].id, first.id);
}

#[tokio::test]
async fn threads_edits_and_mentions_get_message_views() {
    let request = sample("slack-event");
    let mut body: Value = serde_json::from_slice(&request.body).unwrap();
    body["event"]["thread_ts"] = json!("1699999999.000001");
    let (_, publisher) = handle(&signed(request.clone(), body.to_string(), &dev_secret(), NOW)).await;
    let handle_json = publisher.sent()[0].message.clone().unwrap().reply_handle.unwrap();
    assert_eq!(
        (handle_json["ts"].as_str(), handle_json["thread_ts"].as_str()),
        (Some(MESSAGE_TS), Some("1699999999.000001"))
    );

    body["event"] = json!({"type": "message", "subtype": "message_changed", "channel": CHANNEL_ID, "ts": "1700000001.000200",
        "message": {"type": "message", "user": USER_ID, "text": "deploy staging", "ts": MESSAGE_TS}});
    let (_, publisher) = handle(&signed(request.clone(), body.to_string(), &dev_secret(), NOW)).await;
    let message = publisher.sent()[0].message.clone().unwrap();
    assert_eq!((message.text.as_deref(), message.message_id.as_deref()), (Some("deploy staging"), Some(MESSAGE_TS)));

    body["event"] = json!({"type": "app_mention", "user": USER_ID, "text": "<@U0DEVBOT01> status", "ts": MESSAGE_TS, "channel": CHANNEL_ID});
    let (_, publisher) = handle(&signed(request.clone(), body.to_string(), &dev_secret(), NOW)).await;
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.kind, "app_mention");
    assert_eq!(envelope.message.as_ref().unwrap().text.as_deref(), Some("<@U0DEVBOT01> status"));

    body["event"] = json!({"type": "reaction_added", "user": USER_ID, "reaction": "eyes"});
    let (_, publisher) = handle(&signed(request, body.to_string(), &dev_secret(), NOW)).await;
    let envelope = &publisher.sent()[0];
    assert_eq!((envelope.kind.as_str(), envelope.message.is_none()), ("reaction_added", true));
}

#[tokio::test]
async fn app_rate_limited_and_unknown_types_are_enqueued_under_their_own_kind() {
    let request = sample("slack-event");
    let limited = json!({"token": LEGACY_TOKEN, "type": "app_rate_limited", "team_id": TEAM_ID,
        "minute_rate_limited": 1_699_999_980, "api_app_id": "A0DEVAPP01"});
    let (reply, publisher) = handle(&signed(request.clone(), limited.to_string(), &dev_secret(), NOW)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.kind, "app_rate_limited");
    assert_eq!(envelope.id, format!("slack:{TEAM_ID}:app_rate_limited:1699999980"));

    let future = json!({"type": "something_new", "team_id": TEAM_ID, "event_id": "Ev0NEW"});
    let (_, publisher) = handle(&signed(request.clone(), future.to_string(), &dev_secret(), NOW)).await;
    assert_eq!(
        (publisher.sent()[0].kind.as_str(), publisher.sent()[0].id.as_str()),
        ("something_new", "slack:T0DEVTEAM1:Ev0NEW")
    );

    let bare = json!({"type": "something_new", "data": 1}).to_string();
    let (_, publisher) = handle(&signed(request, bare.clone(), &dev_secret(), NOW)).await;
    assert_eq!(
        publisher.sent()[0].id,
        format!("slack:{}", inlet_shared::envelope::Envelope::body_hash_id(bare.as_bytes()))
    );
}

// ------------------------------------------------------------- interactions

#[tokio::test]
async fn block_actions_are_enqueued_under_their_trigger_id_with_the_response_url() {
    let request = sample("slack-interaction");
    assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
    let (reply, publisher) = handle(&request).await;
    assert_eq!((reply.status, reply.body.len()), (StatusCode::OK, 0));
    let sent = publisher.sent();
    let envelope = &sent[0];
    assert_eq!(envelope.id, format!("slack:trigger:{}", trigger_id("test")));
    assert_eq!(envelope.kind, "block_actions");
    assert_eq!(envelope.tenant.as_deref(), Some(TEAM_ID));
    assert_eq!(
        envelope.payload.to_value().unwrap()["actions"][0]["action_id"],
        "approve",
        "the payload is the decoded JSON"
    );
    let message = envelope.message.as_ref().unwrap();
    assert_eq!(message.text.as_deref(), Some("approve:deploy-42"));
    assert_eq!(message.chat_id.as_deref(), Some(CHANNEL_ID));
    assert_eq!(message.sender_id.as_deref(), Some(USER_ID));
    assert_eq!(message.message_id.as_deref(), Some(MESSAGE_TS));
    let reply_handle = message.reply_handle.as_ref().unwrap();
    assert!(reply_handle["response_url"].as_str().unwrap().starts_with("https://hooks.slack.com/actions/"));
    assert_eq!(reply_handle["trigger_id"], trigger_id("test"));
    // A second click is a second event; the same request again is not.
    let (_, again) = handle(&request).await;
    assert_eq!(again.sent()[0].id, envelope.id);
    let (_, other) = handle(&sample_at("slack-interaction", NOW, "second click")).await;
    assert_ne!(other.sent()[0].id, envelope.id);
}

#[tokio::test]
async fn view_submissions_shortcuts_and_view_closed_are_enqueued() {
    let request = sample("slack-interaction");
    let user = json!({"id": USER_ID, "team_id": TEAM_ID});
    let cases = [
        (
            json!({"type": "view_submission", "team": {"id": TEAM_ID}, "user": user, "trigger_id": "1.2.aa",
                "view": {"id": "V0DEV", "callback_id": "deploy_form", "state": {"values": {}}},
                "response_urls": [{"block_id": "b", "action_id": "a", "channel_id": CHANNEL_ID, "response_url": "https://hooks.slack.com/app/x"}]}),
            "slack:trigger:1.2.aa",
            Some("deploy_form"),
            Some("https://hooks.slack.com/app/x"),
        ),
        (
            json!({"type": "shortcut", "team": {"id": TEAM_ID}, "user": user, "trigger_id": "3.4.bb", "callback_id": "open_incident"}),
            "slack:trigger:3.4.bb",
            Some("open_incident"),
            None,
        ),
        (
            json!({"type": "message_action", "team": {"id": TEAM_ID}, "user": user, "trigger_id": "5.6.cc", "callback_id": "escalate",
                "channel": {"id": CHANNEL_ID}, "message": {"ts": MESSAGE_TS, "text": "disk full"}, "response_url": "https://hooks.slack.com/app/y"}),
            "slack:trigger:5.6.cc",
            Some("escalate"),
            Some("https://hooks.slack.com/app/y"),
        ),
    ];
    for (payload, id, text, response_url) in cases {
        let body = form(&[("payload", &payload.to_string())]);
        let (reply, publisher) = handle(&signed(request.clone(), body, &dev_secret(), NOW)).await;
        assert_eq!((reply.status, reply.body.len()), (StatusCode::OK, 0), "{payload}");
        let envelope = &publisher.sent()[0];
        assert_eq!((envelope.id.as_str(), envelope.kind.as_str()), (id, payload["type"].as_str().unwrap()));
        let message = envelope.message.as_ref().unwrap();
        assert_eq!(message.text.as_deref(), text);
        assert_eq!(message.reply_handle.as_ref().unwrap()["response_url"].as_str(), response_url);
    }
    // No trigger_id: the request's own event.
    let closed = json!({"type": "view_closed", "team": {"id": TEAM_ID}, "user": user, "view": {"id": "V0DEV", "callback_id": "f"}});
    let mut request = signed(request, form(&[("payload", &closed.to_string())]), &dev_secret(), NOW);
    request.request_id = Some("api-gateway-request-1".into());
    let (_, publisher) = handle(&request).await;
    assert_eq!(publisher.sent()[0].id, "slack:request:api-gateway-request-1");
}

#[tokio::test]
async fn options_requests_are_answered_with_no_options_and_not_enqueued() {
    let payload = json!({"type": "block_suggestion", "team": {"id": TEAM_ID}, "user": {"id": USER_ID}, "action_id": "pick", "value": "pr"});
    let request = signed(sample("slack-interaction"), form(&[("payload", &payload.to_string())]), &dev_secret(), NOW);
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.body_json(), Some(json!({"options": []})));
    assert!(publisher.sent().is_empty());
}

// ----------------------------------------------------------- slash commands

#[tokio::test]
async fn slash_command_is_enqueued_with_its_fields_and_a_response_url() {
    let (reply, publisher) = handle(&sample("slack-command")).await;
    assert_eq!((reply.status, reply.content_type, reply.body.len()), (StatusCode::OK, None, 0));
    let sent = publisher.sent();
    let envelope = &sent[0];
    assert_eq!(envelope.id, format!("slack:trigger:{}", trigger_id("test")));
    assert_eq!(envelope.kind, "slash_command");
    assert_eq!(envelope.tenant.as_deref(), Some(TEAM_ID));
    assert_eq!(
        (
            envelope.payload.to_value().unwrap()["command"].as_str(),
            envelope.payload.to_value().unwrap()["text"].as_str()
        ),
        (Some("/deploy"), Some("prod"))
    );
    let message = envelope.message.as_ref().unwrap();
    assert_eq!(message.text.as_deref(), Some("/deploy prod"));
    assert_eq!(message.chat_id.as_deref(), Some(CHANNEL_ID));
    assert_eq!(message.sender_id.as_deref(), Some(USER_ID));
    let reply_handle = message.reply_handle.as_ref().unwrap();
    assert!(reply_handle["response_url"].as_str().unwrap().starts_with("https://hooks.slack.com/commands/"));
    assert_eq!(reply_handle["trigger_id"], trigger_id("test"));
}

/// Slack's certificate check as Slack sends it to a slash-command URL:
/// form-encoded, no signature headers.
fn ssl_check(body: &str) -> IncomingRequest {
    let mut request = IncomingRequest::new(http::Method::POST, "/slack/commands", body);
    set(&mut request, "content-type", "application/x-www-form-urlencoded");
    request.source_ip = "127.0.0.1".parse().ok();
    request
}

#[tokio::test]
async fn ssl_check_is_answered_before_verification_and_never_enqueued() {
    let body = form(&[("ssl_check", "1"), ("token", LEGACY_TOKEN)]);
    let mut wrongly_signed = ssl_check(&body);
    set(&mut wrongly_signed, TIMESTAMP_HEADER, &NOW.to_string());
    set(&mut wrongly_signed, SIGNATURE_HEADER, &format!("v0={}", "0".repeat(64)));
    let cases = [
        ("unsigned, as Slack sends it", ssl_check(&body)),
        ("Bolt for Python's test body", ssl_check("token=random&ssl_check=1")),
        ("Bolt for JavaScript's test body", ssl_check("ssl_check=1&token=legacy-fixed-verification-token")),
        ("signed with another secret", signed(ssl_check(&body), body.clone(), "not-the-signing-secret", NOW)),
        ("signed an hour ago", signed(ssl_check(&body), body.clone(), &dev_secret(), NOW - 3600)),
        ("signed correctly", signed(ssl_check(&body), body.clone(), &dev_secret(), NOW)),
        ("a wrong signature", wrongly_signed),
    ];
    for (what, request) in cases {
        let (reply, publisher) = handle(&request).await;
        assert_eq!((reply.status, reply.body.len(), reply.content_type), (StatusCode::OK, 0, None), "{what}");
        assert!(publisher.sent().is_empty() && publisher.records().is_empty(), "{what}: nothing is queued");
        // Nothing to enqueue, so a queue outage changes nothing.
        let function = SlackFunction::from_env(&dev_settings()).expect("settings");
        let now = time::OffsetDateTime::from_unix_timestamp(NOW).expect("time");
        let reply = function.handle(&MemoryPublisher::down(), &request, now).await;
        assert_eq!(reply.status, StatusCode::OK, "{what}, queue down");
    }
}

/// Only what both Bolts answer as a certificate check skips verification:
/// the lookalikes are verified like any request, so unsigned they get the
/// one uniform 401, and nothing is queued.
#[tokio::test]
async fn only_what_both_bolts_call_an_ssl_check_skips_verification() {
    let with_content_type = |body: &str, content_type: Option<&str>| {
        let mut request = ssl_check(body);
        request.headers.remove("content-type");
        if let Some(content_type) = content_type {
            set(&mut request, "content-type", content_type);
        }
        request
    };
    let on_route = |path: &str| {
        let mut request = ssl_check("ssl_check=1");
        request.path = path.to_string();
        request
    };
    let many_fields = format!("{}&ssl_check=1", vec!["x=1"; 1000].join("&"));
    let cases = [
        ("ssl_check=0", ssl_check("ssl_check=0&token=t")),
        ("ssl_check=true", ssl_check("ssl_check=true")),
        ("ssl_check empty", ssl_check("ssl_check=&token=t")),
        ("ssl_check without =", ssl_check("ssl_check&token=t")),
        ("ssl_check= 1", ssl_check("ssl_check=+1")),
        ("no ssl_check", ssl_check("token=t")),
        ("empty body", ssl_check("")),
        ("repeated, same value (Bolt JS reads a list)", ssl_check("ssl_check=1&ssl_check=1")),
        ("repeated, last is 1 (Bolt JS reads a list)", ssl_check("ssl_check=0&ssl_check=1")),
        ("bracketed (qs reads a list)", ssl_check("ssl_check[]=1")),
        ("leading bracket (qs reads ssl_check)", ssl_check("ssl_check=1&[ssl_check]=1")),
        ("with a payload field (Bolt Python reads the payload)", ssl_check("ssl_check=1&payload=%7B%7D")),
        ("payload text in a value (Bolt Python)", ssl_check("ssl_check=1&token=payload")),
        ("body starting with { (Bolt Python reads JSON)", ssl_check("{=1&ssl_check=1")),
        ("beyond qs's 1000 fields", ssl_check(&many_fields)),
        ("not UTF-8", with_content_type_bytes(b"ssl_check=1&token=\xff")),
        ("JSON", with_content_type(r#"{"ssl_check":"1"}"#, Some("application/json"))),
        (
            "form with a charset (Bolt JS compares exactly)",
            with_content_type("ssl_check=1", Some("application/x-www-form-urlencoded; charset=utf-8")),
        ),
        ("no content type", with_content_type("ssl_check=1", None)),
        ("on the events URL", on_route("/slack/events")),
        ("on the interactions URL", on_route("/slack/interactions")),
    ];
    for (what, request) in cases {
        let (reply, publisher) = handle(&request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_unauthenticated(&reply, &publisher);
    }
    // Signed, a lookalike is an ordinary command request: here one without a command.
    let body = "ssl_check=0&token=t";
    let (reply, publisher) = handle(&signed(ssl_check(body), body, &dev_secret(), NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "missing command");
}

fn with_content_type_bytes(body: &[u8]) -> IncomingRequest {
    let mut request = ssl_check("");
    request.body = body.to_vec();
    request
}

#[tokio::test]
async fn the_legacy_verification_token_never_reaches_the_queue() {
    for name in ["slack-event", "slack-interaction", "slack-command"] {
        let (_, publisher) = handle(&sample(name)).await;
        let messages = publisher.sent_messages();
        assert_eq!(messages.len(), 1, "{name}");
        assert!(!messages[0].body.contains(LEGACY_TOKEN), "{name}: {}", messages[0].body);
        assert!(publisher.sent()[0].payload.to_value().unwrap().get("token").is_none(), "{name}");
    }
}

// ----------------------------------------------------------- authentication

#[tokio::test]
async fn tampered_bodies_are_refused_on_every_route() {
    for name in SlackFunction::SAMPLE_NAMES {
        let mut request = sample(name);
        let last = request.body.len() - 1;
        request.body[last] ^= 1;
        let (reply, publisher) = handle(&request).await;
        assert_unauthenticated(&reply, &publisher);
        let mut request = sample(name);
        request.body.push(b' ');
        let (reply, publisher) = handle(&request).await;
        assert_unauthenticated(&reply, &publisher);
    }
}

#[tokio::test]
async fn a_wrong_secret_or_a_mangled_signature_is_401_and_the_log_says_why() {
    let logs = CapturedLogs::start();
    let request = sample("slack-event");
    let body = request.body.clone();
    let (reply, publisher) = handle(&signed(request.clone(), body.clone(), "another-apps-secret", NOW)).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(logs.text().contains("X-Slack-Signature does not match"), "{}", logs.text());
    let genuine = request.header(SIGNATURE_HEADER).unwrap().to_string();
    // Compared as slack-sdk compares: the whole `v0=` string, exactly.
    for mangled in [
        genuine.to_ascii_uppercase(),
        genuine.replacen("v0=", "V0=", 1),
        genuine.replacen("v0=", "", 1),
        genuine.replacen("v0=", "v1=", 1),
        format!("{genuine},{genuine}"),
        "v0=".to_string(),
    ] {
        let mut forged = request.clone();
        set(&mut forged, SIGNATURE_HEADER, &mangled);
        let (reply, publisher) = handle(&forged).await;
        assert_unauthenticated(&reply, &publisher);
    }
    for header in [SIGNATURE_HEADER, TIMESTAMP_HEADER] {
        let mut bare = request.clone();
        bare.headers.remove(header);
        let (reply, publisher) = handle(&bare).await;
        assert_unauthenticated(&reply, &publisher);
        assert!(logs.text().contains(&format!("missing {header}")), "{}", logs.text());
    }
}

#[tokio::test]
async fn timestamps_are_accepted_within_300_seconds_either_way_and_refused_beyond() {
    let logs = CapturedLogs::start();
    for (offset, accepted) in
        [(-300, true), (300, true), (-301, false), (301, false), (-86_400, false), (86_400, false)]
    {
        let request = sample_at("slack-event", NOW + offset, &format!("at {offset}"));
        let (reply, publisher) = handle(&request).await;
        if accepted {
            assert_eq!(reply.status, StatusCode::OK, "signed {offset} s from now");
        } else {
            assert_unauthenticated(&reply, &publisher);
        }
    }
    assert!(logs.text().contains("outside the allowed window"), "{}", logs.text());
    // A timestamp that is not a number of seconds, even when signed, is refused.
    for timestamp in ["1700000000.5", "1_700_000_000", "soon"] {
        let mut request = sample("slack-event");
        let signature = slack_signature(&dev_secret(), timestamp, &request.body);
        set(&mut request, TIMESTAMP_HEADER, timestamp);
        set(&mut request, SIGNATURE_HEADER, &signature);
        let (reply, publisher) = handle(&request).await;
        assert_unauthenticated(&reply, &publisher);
    }
    // The window follows INLET_TIMESTAMP_TOLERANCE_SECS.
    let env = dev_settings_with(&[("INLET_TIMESTAMP_TOLERANCE_SECS", "60")]);
    let (reply, publisher) =
        handle_with::<SlackFunction>(&env, &sample_at("slack-event", NOW - 61, "tight"), NOW).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn rotation_accepts_the_second_secret_and_records_it() {
    let env = dev_settings_with(&[("SLACK_SIGNING_SECRET", &format!("the-new-secret, {}", dev_secret()))]);
    for name in ["slack-event", "slack-interaction", "slack-command"] {
        let (reply, publisher) = handle_with::<SlackFunction>(&env, &sample(name), NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("SLACK_SIGNING_SECRET#2"), "{name}");
    }
    let request = signed(sample("slack-event"), sample("slack-event").body, "the-new-secret", NOW);
    let (_, publisher) = handle_with::<SlackFunction>(&env, &request, NOW).await;
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("SLACK_SIGNING_SECRET#1"));
}

// ------------------------------------------------------------ after proof

#[tokio::test]
async fn malformed_bodies_under_a_valid_signature_are_400() {
    let events = sample("slack-event");
    let interactions = sample("slack-interaction");
    let commands = sample("slack-command");
    let cases: Vec<(&IncomingRequest, Vec<u8>)> = vec![
        (&events, b"{oops".to_vec()),
        (&events, b"[1]".to_vec()),
        (&events, br#"{"event_id":"Ev1"}"#.to_vec()),
        (&events, br#"{"type":"url_verification"}"#.to_vec()),
        (&events, br#"{"type":"event_callback","event_id":"Ev1","team_id":"T1"}"#.to_vec()),
        (&events, br#"{"type":"event_callback","event":{"type":"message"},"team_id":"T1"}"#.to_vec()),
        (&events, br#"{"type":"event_callback","event":{"text":"x"},"event_id":"Ev1"}"#.to_vec()),
        (&interactions, b"".to_vec()),
        (&interactions, form(&[("other", "1")]).into_bytes()),
        (&interactions, form(&[("payload", "{oops")]).into_bytes()),
        (&interactions, form(&[("payload", r#"{"user":{"id":"U1"}}"#)]).into_bytes()),
        (&interactions, form(&[("payload", "[]")]).into_bytes()),
        (&interactions, b"payload=%7B%22type%22%3A%22block_actions%22\xff%7D".to_vec()),
        (&commands, form(&[("text", "prod"), ("user_id", "U1")]).into_bytes()),
        (&commands, form(&[("command", "")]).into_bytes()),
        (&commands, b"command=%2Fdeploy&text=\xff".to_vec()),
    ];
    for (request, body) in cases {
        let (reply, publisher) = handle(&signed(request.clone(), body, &dev_secret(), NOW)).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "malformed");
    }
}

#[test]
fn an_empty_signing_secret_fails_start_up() {
    use inlet_shared::provider::Provider;
    for value in ["", " , "] {
        let env = dev_settings_with(&[("SLACK_SIGNING_SECRET", value)]);
        let error = SlackFunction::from_env(&env).err().expect("refused");
        assert!(error.to_string().contains("SLACK_SIGNING_SECRET"), "{error}");
    }
}
