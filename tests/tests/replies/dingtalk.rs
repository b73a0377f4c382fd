//! DingTalk replies through the robot's `sessionWebhook`, against the
//! local server (inlet_tests::platforms::dingtalk), which checks the
//! message shapes DingTalk documents, and inlet's requests next to those of
//! DingTalk's robot SDK, dingtalk-stream 0.24.3 (dingtalk_sdk_check.py),
//! for the same replies.

use std::time::{Duration, Instant, SystemTime};

use inlet_shared::delivery::Retry;
use inlet_shared::reply::dingtalk::{DingTalkClient, REPLY_HOSTS, THROTTLE_WAIT, VIA};
use inlet_shared::reply::{Reply, ReplyError, ReplyTarget, Sent};
use inlet_testkit::crosscheck::{Runtime, repository_root, run_library};

use crate::send_now;
use inlet_tests::platforms::Received;
use inlet_tests::platforms::dingtalk::{FakeDingTalk, SEND_PATH, Session};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn client(reply_hosts: Option<&str>) -> DingTalkClient {
    let env: std::collections::HashMap<&str, &str> =
        reply_hosts.map(|hosts| (REPLY_HOSTS, hosts)).into_iter().collect();
    let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
    DingTalkClient::from_env(&env, connector).expect("client")
}

fn client_of(fake: &FakeDingTalk) -> DingTalkClient {
    client(Some(&fake.reply_hosts()))
}

fn target(handle: Value) -> ReplyTarget {
    ReplyTarget {
        event_id: "dingtalk:msg1".into(),
        provider: "dingtalk".into(),
        tenant: None,
        received_at: "2024-01-01T00:00:00Z".into(),
        chat_id: Some("cid1".into()),
        handle,
    }
}

async fn send(client: &DingTalkClient, session: &Session, reply: &Reply) -> Result<Sent, ReplyError> {
    send_now(client, &target(session.handle()), reply, "r1").await
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test]
async fn a_text_reply_is_exactly_one_post_to_the_session_webhook() {
    let fake = FakeDingTalk::start().await;
    let session = fake.issue_session();
    let sent = send(&client_of(&fake), &session, &Reply::text("你好 \"inlet\"")).await.expect("sent");
    assert_eq!(sent, Sent::via(VIA));
    let received = fake.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let request = &received[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", SEND_PATH));
    assert_eq!(request.query.get("session"), Some(&session.token));
    assert!(request.header("content-type").is_some_and(|t| t.starts_with("application/json")), "{request:?}");
    assert_eq!(request.json(), json!({"msgtype": "text", "text": {"content": "你好 \"inlet\""}}));
    assert_eq!(fake.delivered().len(), 1);
}

#[tokio::test]
async fn cards_go_as_dingtalks_own_messages_and_bare_card_fields_as_an_action_card() {
    let fake = FakeDingTalk::start().await;
    let client = client_of(&fake);
    let markdown = json!({"msgtype": "markdown", "markdown": {"title": "Build", "text": "### passed"}});
    let reply = Reply { text: Some("left out".into()), card: Some(markdown.clone()), update: false };
    send(&client, &fake.issue_session(), &reply).await.expect("markdown sent");
    let fields = json!({"title": "Deploy?", "text": "v2 is ready", "btns": [
        {"title": "Yes", "actionURL": "https://example.com/yes"},
        {"title": "No", "actionURL": "https://example.com/no"},
    ]});
    let reply = Reply { card: Some(fields.clone()), ..Reply::default() };
    send(&client, &fake.issue_session(), &reply).await.expect("actionCard sent");
    let bodies: Vec<Value> = fake.delivered().into_iter().map(|d| d.body).collect();
    assert_eq!(bodies, [markdown, json!({"msgtype": "actionCard", "actionCard": fields})]);
}

#[tokio::test]
async fn an_expired_session_webhook_is_refused_without_a_request() {
    let fake = FakeDingTalk::start().await;
    let expired_at = now_ms() - 1_000;
    let session = fake.issue_session_until(expired_at);
    let refused = send(&client_of(&fake), &session, &Reply::text("late")).await.expect_err("expired");
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(expired_at) * 1_000_000).unwrap();
    assert!(refused.is_permanent(), "{refused}");
    assert_eq!(refused.reason, format!("the sessionWebhook expired at {}", at.format(&Rfc3339).unwrap()));
    assert!(fake.received().is_empty(), "no request for an expired session");
}

#[tokio::test]
async fn without_an_expiry_the_reply_is_sent_and_dingtalk_says_when_the_session_is_over() {
    let fake = FakeDingTalk::start().await;
    let client = client_of(&fake);
    let open = fake.issue_session();
    let handle = json!({"session_webhook": open.url, "session_webhook_expired_time": null});
    send_now(&client, &target(handle), &Reply::text("hi"), "r1").await.expect("sent");
    let over = fake.issue_session_until(now_ms() - 1_000);
    let handle = json!({"session_webhook": over.url});
    let refused = send_now(&client, &target(handle), &Reply::text("hi"), "r2").await.unwrap_err();
    assert!(refused.is_permanent() && refused.reason.contains("no longer valid"), "{refused}");
    assert_eq!(fake.received().len(), 2);
    assert_eq!(fake.delivered().len(), 1);
}

#[tokio::test]
async fn a_session_webhook_on_a_foreign_host_is_never_called() {
    let allowed = FakeDingTalk::start().await;
    let foreign = FakeDingTalk::start().await;
    let session = foreign.issue_session();
    let refused = send(&client_of(&allowed), &session, &Reply::text("hi")).await.expect_err("foreign port");
    assert!(refused.is_permanent() && refused.reason.contains(REPLY_HOSTS), "{refused}");
    let defaults = send(&client(None), &allowed.issue_session(), &Reply::text("hi")).await.expect_err("defaults");
    assert!(defaults.is_permanent(), "{defaults}");
    let elsewhere = json!({"session_webhook": "https://oapi.dingtalk.com.evil.example/robot/sendBySession?session=x"});
    let refused = send_now(&client_of(&allowed), &target(elsewhere), &Reply::text("hi"), "r1").await;
    assert!(refused.unwrap_err().reason.contains("not one of"));
    assert!(foreign.received().is_empty() && allowed.received().is_empty(), "nothing was called");
}

#[tokio::test]
async fn throttling_is_transient_with_a_wait_and_the_retry_is_sent_once() {
    let fake = FakeDingTalk::start().await;
    let session = fake.issue_session();
    fake.throttle_next(1);
    let throttled = send(&client_of(&fake), &session, &Reply::text("hi")).await.expect_err("throttled");
    assert_eq!(throttled.retry, Retry::Later { after: Some(THROTTLE_WAIT) }, "{throttled}");
    assert!(fake.delivered().is_empty());
    // The queue's retry comes a minute later, in any instance.
    send(&client_of(&fake), &session, &Reply::text("hi")).await.expect("sent on retry");
    assert_eq!(fake.delivered().len(), 1);
}

#[tokio::test]
async fn a_conversation_that_is_gone_is_permanent() {
    let fake = FakeDingTalk::start().await;
    let session = fake.issue_session();
    fake.end_conversation(&session);
    let refused = send(&client_of(&fake), &session, &Reply::text("hi")).await.expect_err("gone");
    assert!(refused.is_permanent() && refused.reason.contains("no longer valid"), "{refused}");
}

#[tokio::test]
async fn an_update_is_refused_without_a_request() {
    let fake = FakeDingTalk::start().await;
    let reply = Reply { update: true, ..Reply::text("done") };
    let refused = send(&client_of(&fake), &fake.issue_session(), &reply).await.expect_err("update");
    assert!(refused.is_permanent() && refused.reason.contains("cannot change"), "{refused}");
    assert!(fake.received().is_empty());
}

#[tokio::test]
async fn replies_of_one_robot_are_spaced_three_seconds_and_other_robots_are_not_held_back() {
    let fake = FakeDingTalk::start().await;
    let client = client_of(&fake);
    // Two conversations of one robot, and one of another robot.
    let (first, second_session, other) = (fake.issue_session(), fake.issue_session(), fake.issue_session());
    let mut other_robot = other.handle();
    other_robot["robot_code"] = json!("dingrobot2");
    let started = Instant::now();
    send(&client, &first, &Reply::text("1")).await.expect("first");
    send_now(&client, &target(other_robot), &Reply::text("other"), "r2").await.expect("other robot");
    assert!(started.elapsed() < Duration::from_secs(2), "another robot waits for nobody: {:?}", started.elapsed());
    send(&client, &second_session, &Reply::text("2")).await.expect("second");
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "the robot's limit spans its conversations: {:?}",
        started.elapsed()
    );
    assert_eq!(fake.delivered().len(), 3);
}

#[tokio::test]
async fn the_session_token_is_never_in_a_reason_or_a_debug() {
    let fake = FakeDingTalk::start().await;
    let allowed = client_of(&fake);
    let mut errors = Vec::new();
    let (expired, gone, throttled) =
        (fake.issue_session_until(now_ms() - 1), fake.issue_session(), fake.issue_session());
    errors.push(send(&allowed, &expired, &Reply::text("x")).await.unwrap_err());
    fake.end_conversation(&gone);
    errors.push(send(&allowed, &gone, &Reply::text("x")).await.unwrap_err());
    fake.throttle_next(1);
    errors.push(send(&allowed, &throttled, &Reply::text("x")).await.unwrap_err());
    let bad_card = Reply { card: Some(json!({"msgtype": "markdown"})), ..Reply::default() };
    errors.push(send(&allowed, &throttled, &bad_card).await.unwrap_err());
    // A session on an allowed host whose port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable =
        json!({"session_webhook": format!("http://127.0.0.1:{closed}{SEND_PATH}?session=sessUNREACHABLE0001")});
    let closed_client = client(Some(&format!("127.0.0.1:{closed}")));
    errors.push(send_now(&closed_client, &target(unreachable), &Reply::text("x"), "r").await.unwrap_err());
    let foreign = json!({"session_webhook": "https://evil.example/robot/sendBySession?session=sessFOREIGN0001"});
    errors.push(send_now(&allowed, &target(foreign), &Reply::text("x"), "r").await.unwrap_err());
    for session in [&expired, &gone, &throttled] {
        for error in &errors {
            assert!(
                !error.reason.contains(&session.token) && !format!("{error:?}").contains(&session.token),
                "{error:?}"
            );
        }
        let shown = format!("{allowed:?}");
        assert!(!shown.contains(&session.token) && !shown.contains("session="), "{shown}");
    }
    for error in &errors {
        for secret in ["sessUNREACHABLE0001", "sessFOREIGN0001", "session="] {
            assert!(!error.reason.contains(secret), "{error}");
        }
    }
    assert!(!errors[4].is_permanent(), "an unreachable session is worth another attempt: {}", errors[4]);
}

/// The SDK and the version the Makefile's `PY_TOOLS` pins.
const SDK: &str = "dingtalk-stream 0.24.3";

/// The parts of a request DingTalk reads. Not compared: the User-Agent
/// (requests' `python-requests/…`, inlet's `inlet/…`) and the SDK's
/// `Accept: */*` and requests' `Accept-Encoding` and `Connection`, none of
/// which changes what DingTalk does with the message. Of the Content-Type,
/// the media type: the SDK writes `application/json` and json.dumps'
/// ASCII (every other character as a `\u` escape), inlet
/// `application/json; charset=utf-8` and UTF-8; both are the same JSON
/// (RFC 8259 JSON is UTF-8), so the bodies are compared parsed.
fn essentials(request: &Received) -> Value {
    let media_type = request
        .header("content-type")
        .map(|value| value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    json!({
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "content_type": media_type,
        "body": request.json(),
    })
}

#[tokio::test]
async fn inlet_sends_what_dingtalk_stream_sends_for_the_same_replies() {
    let fake = FakeDingTalk::start().await;
    let session = fake.issue_session();
    let text = "部署完成 ✓ \"v2\" <b>&amp;</b>\nnext line";
    let (title, markdown) = ("构建 #42", "### 通过 ✓\n- **v2** is `ready`\n> 引用 & <tag>");
    let staff_id = "manager4220";
    // A group message as DingTalk posts it to the robot (the SDK reads the
    // same fields from its Stream frames).
    let message = json!({
        "conversationId": "cidFgLk3Ezw0Qx+Ql1yM8bd9A==",
        "chatbotCorpId": "dingc4a1b2c3d4e5f6",
        "chatbotUserId": "$:LWCP_v1:$robot",
        "msgId": "msgQF2kq8Ybd0tGVwD+Yd0mAg==",
        "senderNick": "张三",
        "isAdmin": false,
        "senderStaffId": staff_id,
        "sessionWebhookExpiredTime": session.expires_at_ms,
        "createAt": now_ms(),
        "senderCorpId": "dingc4a1b2c3d4e5f6",
        "conversationType": "2",
        "senderId": "$:LWCP_v1:$sender",
        "sessionWebhook": session.url,
        "robotCode": "dingrobot1",
        "msgtype": "text",
        "text": {"content": " deploy v2"},
    });
    let input = json!({"message": message, "text": text, "markdown": {"title": title, "text": markdown}});
    let script = repository_root().join("tests/tests/replies/dingtalk_sdk_check.py");
    // The script blocks on the local server, which runs on this runtime.
    let report = tokio::task::spawn_blocking(move || run_library(Runtime::VenvPython, &script, &input, "library", SDK))
        .await
        .expect("the dingtalk-stream script ran");
    for result in report["results"].as_array().expect("results") {
        assert_eq!(result["errcode"], 0, "DingTalk took the SDK's reply: {report}");
    }
    let by_sdk = fake.received();
    assert_eq!(by_sdk.len(), 2, "one request per SDK reply: {by_sdk:?}");

    let card = json!({"msgtype": "markdown", "markdown": {"title": title, "text": markdown}});
    // A client per reply: one client spaces a robot's replies 3 s apart.
    send(&client_of(&fake), &session, &Reply::text(text)).await.expect("text sent");
    send(&client_of(&fake), &session, &Reply { card: Some(card), ..Reply::default() }).await.expect("markdown sent");
    let by_inlet = fake.received()[by_sdk.len()..].to_vec();
    assert_eq!(by_inlet.len(), 2, "one request per reply: {by_inlet:?}");

    // The SDK adds `at.atUserIds` with the sender's staff id to every reply
    // (a mention of the person answered); inlet's Reply has no mention and
    // sends none (a card can carry one: below). The rest of the body is
    // compared as sent.
    let mention = json!({"atUserIds": [staff_id]});
    for (kind, sdk, inlet) in [("text", &by_sdk[0], &by_inlet[0]), ("markdown", &by_sdk[1], &by_inlet[1])] {
        assert!(sdk.body.is_ascii(), "{kind}: json.dumps escapes every other character");
        let mut sdk_view = essentials(sdk);
        let body = sdk_view["body"].as_object_mut().expect("the SDK sent a JSON object");
        assert_eq!(body.remove("at"), Some(mention.clone()), "{kind}: the SDK mentions the sender");
        assert_eq!(essentials(inlet), sdk_view, "{kind}: inlet and {SDK} differ");
        assert_eq!(essentials(inlet)["body"]["msgtype"], kind);
        assert_eq!(inlet.query.get("session"), Some(&session.token), "{kind}");
    }

    // With the SDK's whole message as the card, mention included, inlet
    // sends exactly what the SDK sent.
    let start = fake.received().len();
    for sdk in &by_sdk {
        let reply = Reply { card: Some(sdk.json()), ..Reply::default() };
        send(&client_of(&fake), &session, &reply).await.expect("the SDK's message sent as a card");
    }
    let as_cards = fake.received()[start..].to_vec();
    assert_eq!(as_cards.iter().map(essentials).collect::<Vec<_>>(), by_sdk.iter().map(essentials).collect::<Vec<_>>());
    assert_eq!(fake.delivered().len(), 6, "every reply delivered once");
}
