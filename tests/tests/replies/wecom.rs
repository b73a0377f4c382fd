//! WeCom replies through the server API, against the local server
//! (inlet_tests::platforms::wecom), and inlet's requests next to those of
//! wechatpy 1.8.18 (wecom_sdk_check.py) for the same replies.

use std::collections::{BTreeSet, HashMap};

use inlet_shared::delivery::Retry;
use inlet_shared::reply::wecom::{
    AGENT_ID, CORP_ID, CORP_SECRET, MAX_TEXT_BYTES, THROTTLE_WAIT, VIA_APPCHAT_SEND, VIA_MESSAGE_SEND, WeComClient,
};
use inlet_shared::reply::{Reply, ReplyError, ReplyTarget, Sent};
use inlet_testkit::crosscheck::{Runtime, repository_root, run_library};

use crate::send_now;
use inlet_tests::platforms::Received;
use inlet_tests::platforms::wecom::{
    self as fake, APPCHAT_SEND_PATH, CHAT, FakeWeCom, GETTOKEN_PATH, MESSAGE_SEND_PATH, SECRET, USER,
};
use serde_json::{Value, json};

fn client_with(env: &[(&str, String)]) -> WeComClient {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
    WeComClient::from_env(&env, connector).expect("client")
}

fn client_of(server: &FakeWeCom) -> WeComClient {
    client_with(&server.env())
}

fn handle_of_member(user: &str) -> Value {
    json!({"agent_id": fake::AGENT_ID.to_string(), "to_user": user, "chat_id": null})
}

fn handle_of_chat() -> Value {
    json!({"agent_id": fake::AGENT_ID.to_string(), "to_user": USER, "chat_id": CHAT})
}

fn target(handle: Value) -> ReplyTarget {
    ReplyTarget {
        event_id: "wecom:ww0a1b2c3d4e5f6789:7".into(),
        provider: "wecom".into(),
        tenant: Some(fake::CORP_ID.into()),
        received_at: "2024-01-01T00:00:00Z".into(),
        chat_id: None,
        handle,
    }
}

async fn send(client: &WeComClient, handle: Value, reply: &Reply) -> Result<Sent, ReplyError> {
    send_now(client, &target(handle), reply, "r1").await
}

fn paths(received: &[Received]) -> Vec<(String, String)> {
    received.iter().map(|r| (r.method.clone(), r.path.clone())).collect()
}

fn get(path: &str) -> (String, String) {
    ("GET".into(), path.into())
}

fn post(path: &str) -> (String, String) {
    ("POST".into(), path.into())
}

#[tokio::test]
async fn a_text_reply_to_a_member_is_one_gettoken_and_one_message_send_with_the_agent_id_as_an_integer() {
    let server = FakeWeCom::start().await;
    let sent = send(&client_of(&server), handle_of_member(USER), &Reply::text("收到 \"ok\"")).await.expect("sent");
    assert_eq!(sent, Sent::via(VIA_MESSAGE_SEND).with_message_id(Some("msg0001".into())));
    let received = server.received();
    assert_eq!(paths(&received), [get(GETTOKEN_PATH), post(MESSAGE_SEND_PATH)]);
    let (gettoken, message) = (&received[0], &received[1]);
    assert_eq!(gettoken.query.get("corpid").map(String::as_str), Some(fake::CORP_ID));
    assert_eq!(gettoken.query.get("corpsecret").map(String::as_str), Some(SECRET));
    assert_eq!(message.query.get("access_token").map(String::as_str), Some("tok0001-5b0c9e1d7a"));
    assert_eq!(
        message.json(),
        json!({"touser": USER, "agentid": fake::AGENT_ID, "msgtype": "text", "text": {"content": "收到 \"ok\""}})
    );
    assert_eq!(server.delivered().len(), 1);
}

#[tokio::test]
async fn a_reply_in_a_group_chat_goes_through_appchat_send() {
    let server = FakeWeCom::start().await;
    let sent = send(&client_of(&server), handle_of_chat(), &Reply::text("hi all")).await.expect("sent");
    assert_eq!(sent, Sent::via(VIA_APPCHAT_SEND));
    let received = server.received();
    assert_eq!(paths(&received), [get(GETTOKEN_PATH), post(APPCHAT_SEND_PATH)]);
    assert_eq!(received[1].json(), json!({"chatid": CHAT, "msgtype": "text", "text": {"content": "hi all"}}));
}

#[tokio::test]
async fn a_card_goes_in_place_of_the_text_and_one_token_serves_every_reply() {
    let server = FakeWeCom::start().await;
    let client = client_of(&server);
    let markdown =
        json!({"msgtype": "markdown", "markdown": {"content": "**build** <font color=\"info\">passed</font>"}});
    let reply = Reply { text: Some("left out".into()), card: Some(markdown), update: false };
    send(&client, handle_of_member(USER), &reply).await.expect("markdown sent");
    let textcard = json!({"msgtype": "textcard", "textcard": {"title": "Deploy", "description": "v2", "url": "https://example.com"}});
    send(&client, handle_of_chat(), &Reply { card: Some(textcard), ..Reply::default() }).await.expect("textcard sent");
    let delivered = server.delivered();
    assert_eq!(delivered[0].body["msgtype"], "markdown");
    assert!(delivered[0].body.get("text").is_none() && delivered[0].body["agentid"] == fake::AGENT_ID);
    assert_eq!(delivered[1].body["textcard"]["title"], "Deploy");
    assert_eq!(server.tokens_issued(), 1, "the token is cached");
}

#[tokio::test]
async fn an_expired_access_token_means_one_new_gettoken_and_exactly_one_message() {
    let server = FakeWeCom::start().await;
    let client = client_of(&server);
    send(&client, handle_of_member(USER), &Reply::text("first")).await.expect("first");
    server.expire_tokens();
    let before = server.received().len();
    send(&client, handle_of_chat(), &Reply::text("second")).await.expect("sent after a new token");
    let after = server.received()[before..].to_vec();
    assert_eq!(paths(&after), [post(APPCHAT_SEND_PATH), get(GETTOKEN_PATH), post(APPCHAT_SEND_PATH)]);
    assert_eq!(after[2].query.get("access_token").map(String::as_str), Some("tok0002-5b0c9e1d7a"));
    assert_eq!(server.tokens_issued(), 2);
    let delivered: Vec<Value> = server.delivered().into_iter().map(|d| d.body["text"]["content"].clone()).collect();
    assert_eq!(delivered, ["first", "second"], "each reply delivered once");
}

#[tokio::test]
async fn a_token_refused_again_after_renewal_is_transient_and_not_retried_further() {
    let server = FakeWeCom::start().await;
    server.refuse_tokens();
    let refused = send(&client_of(&server), handle_of_member(USER), &Reply::text("hi")).await.expect_err("refused");
    assert!(!refused.is_permanent(), "{refused}");
    assert_eq!(
        paths(&server.received()),
        [get(GETTOKEN_PATH), post(MESSAGE_SEND_PATH), get(GETTOKEN_PATH), post(MESSAGE_SEND_PATH)]
    );
    assert!(server.delivered().is_empty());
}

#[tokio::test]
async fn throttling_is_transient_with_a_wait() {
    let server = FakeWeCom::start().await;
    server.throttle_next(1);
    let throttled = send(&client_of(&server), handle_of_member(USER), &Reply::text("hi")).await.expect_err("45009");
    assert_eq!(throttled.retry, Retry::Later { after: Some(THROTTLE_WAIT) }, "{throttled}");
    assert!(throttled.reason.contains("45009"), "{throttled}");
    assert!(server.delivered().is_empty());
}

#[tokio::test]
async fn missing_credentials_fail_permanently_naming_the_setting_without_a_request() {
    let server = FakeWeCom::start().await;
    let client = client_with(&[("WECOM_API_BASE", server.url())]);
    let refused = send(&client, handle_of_member(USER), &Reply::text("hi")).await.expect_err("no secret");
    assert!(refused.is_permanent() && refused.reason.contains(CORP_SECRET), "{refused}");
    assert!(server.received().is_empty());
    let env: HashMap<&str, &str> = [(CORP_SECRET, SECRET), (AGENT_ID, "1000002")].into();
    let connector = inlet_shared::aws::outbound::connector(&inlet_shared::aws::tls::TlsRoots::System);
    assert_eq!(WeComClient::from_env(&env, connector.clone()).unwrap_err().name, CORP_ID);
    let env: HashMap<&str, &str> = [(CORP_SECRET, SECRET), (CORP_ID, fake::CORP_ID), (AGENT_ID, "app")].into();
    assert_eq!(WeComClient::from_env(&env, connector).unwrap_err().name, AGENT_ID);
}

#[tokio::test]
async fn a_wrong_corp_id_or_secret_is_permanent_naming_the_settings_and_never_their_values() {
    let server = FakeWeCom::start().await;
    for (setting, wrong) in [(CORP_SECRET, "wrong-secret-value-123"), (CORP_ID, "wwWRONGCORP")] {
        let mut env = server.env();
        env.retain(|(name, _)| *name != setting);
        env.push((setting, wrong.to_string()));
        let refused = send(&client_with(&env), handle_of_member(USER), &Reply::text("hi")).await.expect_err(setting);
        assert!(refused.is_permanent(), "{refused}");
        assert!(refused.reason.contains(CORP_ID) && refused.reason.contains(CORP_SECRET), "{refused}");
        for value in [wrong, SECRET, fake::CORP_ID] {
            assert!(!refused.reason.contains(value), "{refused}");
        }
    }
    assert!(server.received_at(MESSAGE_SEND_PATH).is_empty(), "no send without a token");
}

#[tokio::test]
async fn a_member_wecom_does_not_know_is_permanent_with_wecoms_errmsg() {
    let server = FakeWeCom::start().await;
    let refused = send(&client_of(&server), handle_of_member("lisi"), &Reply::text("hi")).await.expect_err("81013");
    assert!(refused.is_permanent(), "{refused}");
    assert!(refused.reason.contains("81013") && refused.reason.contains("user & party & tag all invalid"), "{refused}");
}

#[tokio::test]
async fn text_over_2048_bytes_and_updates_are_refused_before_any_request() {
    let server = FakeWeCom::start().await;
    let client = client_of(&server);
    let long = Reply::text("长".repeat(MAX_TEXT_BYTES / 3 + 1));
    let refused = send(&client, handle_of_member(USER), &long).await.expect_err("too long");
    assert!(refused.is_permanent() && refused.reason.contains("2048"), "{refused}");
    let update = Reply { update: true, ..Reply::text("done") };
    let refused = send(&client, handle_of_member(USER), &update).await.expect_err("update");
    assert!(refused.is_permanent() && refused.reason.contains("not supported"), "{refused}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn tokens_and_the_secret_are_never_in_a_reason_or_a_debug() {
    let server = FakeWeCom::start().await;
    let client = client_of(&server);
    let mut errors = Vec::new();
    send(&client, handle_of_member(USER), &Reply::text("ok")).await.expect("token cached");
    server.throttle_next(1);
    errors.push(send(&client, handle_of_chat(), &Reply::text("x")).await.unwrap_err());
    errors.push(send(&client, handle_of_member("lisi"), &Reply::text("x")).await.unwrap_err());
    server.refuse_tokens();
    errors.push(send(&client, handle_of_member("wangwu"), &Reply::text("x")).await.unwrap_err());
    let mut wrong = server.env();
    wrong.retain(|(name, _)| *name != CORP_SECRET);
    wrong.push((CORP_SECRET, "wrong-secret-value-123".into()));
    errors.push(send(&client_with(&wrong), handle_of_member(USER), &Reply::text("x")).await.unwrap_err());
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut unreachable = server.env();
    unreachable.retain(|(name, _)| *name != "WECOM_API_BASE");
    unreachable.push(("WECOM_API_BASE", format!("http://127.0.0.1:{closed}")));
    let down = send(&client_with(&unreachable), handle_of_member(USER), &Reply::text("x")).await.unwrap_err();
    assert!(!down.is_permanent(), "{down}");
    errors.push(down);
    let issued: Vec<String> = (1..=server.tokens_issued()).map(|n| format!("tok{n:04}-5b0c9e1d7a")).collect();
    let shown = format!("{client:?}");
    for secret in issued.iter().map(String::as_str).chain([SECRET, "wrong-secret-value-123", "access_token="]) {
        assert!(!shown.contains(secret), "{shown}");
        for error in &errors {
            assert!(!error.reason.contains(secret) && !format!("{error:?}").contains(secret), "{error:?}");
        }
    }
}

/// A message body without what the two senders add and WeCom treats as
/// absent: wechatpy's `toparty: ""`, `totag: ""` (no department, no tag)
/// and `safe: 0` (not confidential, the default). inlet sends no
/// `enable_duplicate_check`: WeCom's check drops any identical text to the
/// same member within the interval (two real "ok" answers), and inlet's
/// own reply key already keeps a redelivered reply from a second post.
fn without_defaults(mut body: Value, sender: &str) -> Value {
    let object = body.as_object_mut().expect("a JSON object");
    let added: &[(&str, Value)] = match sender {
        "wechatpy" => &[("toparty", json!("")), ("totag", json!("")), ("safe", json!(0))],
        _ => &[],
    };
    for (field, value) in added {
        if let Some(found) = object.remove(*field) {
            assert_eq!(&found, value, "{sender}'s {field}");
        }
    }
    body
}

fn query_keys(request: &Received) -> BTreeSet<&str> {
    request.query.keys().map(String::as_str).collect()
}

/// The same request in the ways that matter to WeCom: method, path, query
/// keys, and the JSON body. The token's value differs (each sender has its
/// own); wechatpy sends no Content-Type (WeCom reads the body as JSON
/// regardless), inlet sends `application/json`.
fn assert_same_request(wechatpy: &Received, inlet: &Received) {
    assert_eq!((&wechatpy.method, &wechatpy.path), (&inlet.method, &inlet.path));
    assert_eq!(query_keys(wechatpy), query_keys(inlet), "{} query", inlet.path);
    if inlet.path == GETTOKEN_PATH {
        assert_eq!(wechatpy.query, inlet.query, "gettoken carries the same corpid and corpsecret");
    } else {
        assert_eq!(without_defaults(wechatpy.json(), "wechatpy"), without_defaults(inlet.json(), "inlet"));
    }
}

async fn run_wechatpy(input: Value) -> Value {
    let script = repository_root().join("tests/tests/replies/wecom_sdk_check.py");
    // The script blocks on the local server, which runs on this runtime.
    tokio::task::spawn_blocking(move || run_library(Runtime::VenvPython, &script, &input, "library", "wechatpy 1.8.18"))
        .await
        .expect("wechatpy ran")
}

#[tokio::test]
async fn inlet_sends_what_wechatpy_sends_and_renews_an_expired_token_as_it_does() {
    let server = FakeWeCom::start().await;
    let content = "部署完成 ✓ \"v2\" <b>&amp;</b>\nnext line";
    let sends = json!([
        {"api": "message", "agent_id": fake::AGENT_ID, "user": USER, "content": content},
        {"api": "appchat", "chat": CHAT, "content": content},
    ]);
    let input = json!({"api_base": server.url(), "corp_id": fake::CORP_ID, "secret": SECRET, "sends": sends});
    let report = run_wechatpy(input).await;
    assert_eq!(report["results"][0]["errcode"], 0, "{report}");
    let by_wechatpy = server.received();

    let client = client_of(&server);
    send(&client, handle_of_member(USER), &Reply::text(content)).await.expect("message");
    send(&client, handle_of_chat(), &Reply::text(content)).await.expect("appchat");
    let by_inlet = server.received()[by_wechatpy.len()..].to_vec();
    assert_eq!(paths(&by_wechatpy), [get(GETTOKEN_PATH), post(MESSAGE_SEND_PATH), post(APPCHAT_SEND_PATH)]);
    assert_eq!(paths(&by_inlet), paths(&by_wechatpy));
    for (wechatpy, inlet) in by_wechatpy.iter().zip(&by_inlet) {
        assert_same_request(wechatpy, inlet);
    }
    assert!(by_inlet[1].json()["agentid"].is_i64() && by_wechatpy[1].json()["agentid"].is_i64());

    // Both hold a token that has expired: each sends, is refused (42001),
    // fetches one new token and sends again, once.
    server.expire_tokens();
    let stale = by_wechatpy[1].query["access_token"].clone();
    let input = json!({"api_base": server.url(), "corp_id": fake::CORP_ID, "secret": SECRET, "access_token": stale,
                       "sends": [{"api": "appchat", "chat": CHAT, "content": content}]});
    let start = server.received().len();
    let report = run_wechatpy(input).await;
    assert_eq!(report["results"][0]["errcode"], 0, "{report}");
    let renewed_by_wechatpy = server.received()[start..].to_vec();
    let start = server.received().len();
    send(&client, handle_of_chat(), &Reply::text(content)).await.expect("appchat after renewal");
    let renewed_by_inlet = server.received()[start..].to_vec();
    assert_eq!(paths(&renewed_by_wechatpy), [post(APPCHAT_SEND_PATH), get(GETTOKEN_PATH), post(APPCHAT_SEND_PATH)]);
    assert_eq!(paths(&renewed_by_inlet), paths(&renewed_by_wechatpy));
    for (wechatpy, inlet) in renewed_by_wechatpy.iter().zip(&renewed_by_inlet) {
        assert_same_request(wechatpy, inlet);
    }
    assert_eq!(server.delivered().len(), 6, "each of the six sends delivered once");
}
