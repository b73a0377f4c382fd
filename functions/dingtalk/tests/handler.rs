//! The DingTalk handler on its samples and on requests signed here, with a
//! fixed clock: the message view, rotation, DingTalk's ±1 h millisecond
//! window, one uniform 401, and what the signature does not cover.

use dingtalk::samples::{message, signed};
use dingtalk::{DingtalkFunction, sign};
use http::StatusCode;
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{
    assert_refused, assert_unauthenticated, assert_unauthenticated_and_logged, dev_settings_with, handle_with,
};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000;
const NOW_MS: i64 = NOW * 1000;
const SECRET: &str = "dev-dingtalk-app-secret-NOT-A-SECRET";

fn sample(name: &str, unique: &str) -> IncomingRequest {
    DingtalkFunction::sample(name, &dev_settings(), NOW, unique).expect("sample").to_incoming()
}

/// `body` signed with `secret` at `timestamp` (the header's exact text).
fn request(secret: &str, timestamp: &str, body: &Value) -> IncomingRequest {
    signed("test", "test", secret, timestamp, body.to_string()).to_incoming()
}

fn with_header(mut request: IncomingRequest, name: &'static str, value: &str) -> IncomingRequest {
    request.headers.insert(name, value.parse().expect("header value"));
    request
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_testkit::conformance::check::<DingtalkFunction>(&[]).await;
}

#[tokio::test]
async fn group_message_is_enqueued_with_a_message_view_and_an_empty_200() {
    let (reply, publisher) =
        handle_with::<DingtalkFunction>(&dev_settings(), &sample("dingtalk-text-message", "g"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.body.is_empty(), "an empty 200 posts no reply");
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1);
    let envelope = &sent[0];
    let payload = envelope.payload.to_value().unwrap();
    let msg_id = payload["msgId"].as_str().unwrap();
    assert_eq!(envelope.id, format!("dingtalk:{msg_id}"));
    assert_eq!(envelope.kind, "text");
    assert_eq!(envelope.tenant.as_deref(), Some("dingdevcorp0000000001"));
    assert_eq!(envelope.verification.scheme, "dingtalk-sign");
    assert_eq!(envelope.verification.matched.as_deref(), Some("DINGTALK_APP_SECRET#1"));
    assert_eq!(envelope.payload, message(NOW_MS, "g", true), "the payload is DingTalk's JSON, unchanged");
    let view = envelope.message.as_ref().expect("message view");
    assert_eq!(view.chat_id, payload["conversationId"].as_str().map(str::to_string));
    assert_eq!(view.chat_type.as_deref(), Some("group"));
    assert_eq!(view.sender_id.as_deref(), Some("manager4220"));
    assert_eq!(view.message_id.as_deref(), Some(msg_id));
    assert_eq!(view.text.as_deref(), Some("/status prod"), "trimmed: DingTalk keeps the space after the @mention");
    assert_eq!(
        view.reply_handle,
        Some(json!({
            "session_webhook": payload["sessionWebhook"],
            "session_webhook_expired_time": NOW_MS + 90 * 60 * 1000,
            "robot_code": "dingdevrobotcode0001",
        }))
    );
}

#[tokio::test]
async fn single_chat_and_a_sender_without_staff_id() {
    let (_, publisher) =
        handle_with::<DingtalkFunction>(&dev_settings(), &sample("dingtalk-single-chat", "s"), NOW).await;
    assert_eq!(publisher.sent()[0].message.as_ref().unwrap().chat_type.as_deref(), Some("single"));

    let mut body = message(NOW_MS, "external", true);
    let object = body.as_object_mut().unwrap();
    object.remove("senderStaffId");
    object.remove("chatbotCorpId");
    object.insert("msgtype".into(), json!("picture"));
    object.remove("text");
    let (reply, publisher) =
        handle_with::<DingtalkFunction>(&dev_settings(), &request(SECRET, &NOW_MS.to_string(), &body), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    let envelope = &publisher.sent()[0];
    assert_eq!((envelope.kind.as_str(), envelope.tenant.as_deref()), ("picture", None));
    let view = envelope.message.as_ref().unwrap();
    assert_eq!(view.sender_id.as_deref(), Some("$:LWCP_v1:$devsender00000000000000"));
    assert_eq!(view.text, None);
}

#[tokio::test]
async fn rotation_records_which_secret_matched() {
    let settings = dev_settings_with(&[("DINGTALK_APP_SECRET", &format!("new-app-secret-after-rotation,{SECRET}"))]);
    let (reply, publisher) =
        handle_with::<DingtalkFunction>(&settings, &sample("dingtalk-text-message", "r"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("DINGTALK_APP_SECRET#2"));
    let body = message(NOW_MS, "r2", true);
    let (_, publisher) = handle_with::<DingtalkFunction>(
        &settings,
        &request("new-app-secret-after-rotation", &NOW_MS.to_string(), &body),
        NOW,
    )
    .await;
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("DINGTALK_APP_SECRET#1"));
}

#[tokio::test]
async fn the_window_is_dingtalks_hour_in_milliseconds_not_inlets_tolerance() {
    // INLET_TIMESTAMP_TOLERANCE_SECS does not apply: DingTalk documents ±1 h.
    let settings = dev_settings_with(&[("INLET_TIMESTAMP_TOLERANCE_SECS", "300")]);
    let hour = 3_600_000;
    let body = message(NOW_MS, "w", true);
    for (timestamp, accepted) in [
        (NOW_MS, true),
        (NOW_MS - hour, true),
        (NOW_MS + hour, true),
        (NOW_MS - 30 * 60 * 1000, true),
        (NOW_MS - hour - 1, false),
        (NOW_MS + hour + 1, false),
        (NOW, false),
    ] {
        let (reply, publisher) =
            handle_with::<DingtalkFunction>(&settings, &request(SECRET, &timestamp.to_string(), &body), NOW).await;
        if accepted {
            assert_eq!(reply.status, StatusCode::OK, "{timestamp}: {}", String::from_utf8_lossy(&reply.body));
        } else {
            assert_unauthenticated(&reply, &publisher);
        }
    }
}

/// Every authentication failure answers the same 401 and body; the log
/// says which check failed.
#[tokio::test]
async fn forged_missing_or_stale_credentials_are_the_one_uniform_401() {
    let good = sample("dingtalk-text-message", "f");
    let signature = good.header("sign").unwrap().to_string();
    let body = message(NOW_MS, "f", true);
    const BAD: &str = "sign does not match";
    let cases: Vec<(&str, IncomingRequest, &str)> = vec![
        ("another secret", request("guessed-secret", &NOW_MS.to_string(), &body), BAD),
        ("timestamp changed after signing", with_header(good.clone(), "timestamp", &(NOW_MS + 1).to_string()), BAD),
        ("sign of another timestamp", with_header(good.clone(), "sign", &sign(SECRET, "1")), BAD),
        ("sign lower-cased", with_header(good.clone(), "sign", &signature.to_lowercase()), BAD),
        ("sign truncated", with_header(good.clone(), "sign", &signature[..43]), BAD),
        ("sign as hex", with_header(good.clone(), "sign", &"ab".repeat(32)), BAD),
        (
            "sign missing",
            {
                let mut r = good.clone();
                r.headers.remove("sign");
                r
            },
            "missing sign",
        ),
        (
            "timestamp missing",
            {
                let mut r = good.clone();
                r.headers.remove("timestamp");
                r
            },
            "missing timestamp",
        ),
        (
            "signed two hours ago",
            request(SECRET, &(NOW_MS - 7_200_000).to_string(), &body),
            "outside the allowed window",
        ),
        ("signed timestamp not a number", request(SECRET, "yesterday", &body), "outside the allowed window"),
    ];
    for (name, request, logged) in cases {
        assert_unauthenticated_and_logged::<DingtalkFunction>(&dev_settings(), &request, NOW, name, logged).await;
    }
}

#[tokio::test]
async fn a_percent_encoded_sign_is_decoded_before_comparing() {
    let good = sample("dingtalk-text-message", "p");
    let encoded = inlet_shared::form::percent_encode(good.header("sign").unwrap());
    assert!(encoded.contains("%3D"), "a 32-byte MAC in base64 always ends with =");
    let (reply, _) = handle_with::<DingtalkFunction>(&dev_settings(), &with_header(good, "sign", &encoded), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// DingTalk's scheme signs the timestamp, not the body: a captured pair
/// authorises any body for the rest of its hour. This test pins that
/// documented weakness down (docs/platforms/dingtalk.md: use
/// DINGTALK_ALLOWED_CIDRS), and that a replay of the same message is the
/// same event.
#[tokio::test]
async fn a_captured_timestamp_and_sign_authorise_any_body_within_the_hour() {
    let captured = sample("dingtalk-text-message", "captured");
    let mut other = captured.clone();
    let mut body = message(NOW_MS, "injected", true);
    body["text"]["content"] = json!("rm -rf /");
    other.body = body.to_string().into_bytes();
    let (reply, publisher) = handle_with::<DingtalkFunction>(&dev_settings(), &other, NOW + 1800).await;
    assert_eq!(reply.status, StatusCode::OK, "the signature does not cover the body");
    assert_eq!(publisher.sent()[0].message.as_ref().unwrap().text.as_deref(), Some("rm -rf /"));
    // A replay of the captured request is the same msgId: one event after dedup.
    let (_, first) = handle_with::<DingtalkFunction>(&dev_settings(), &captured, NOW).await;
    let (_, replay) = handle_with::<DingtalkFunction>(&dev_settings(), &captured, NOW + 3000).await;
    assert_eq!(first.sent()[0].id, replay.sent()[0].id);
    // An address allowlist refuses the replayer's network before anything else.
    let fenced = dev_settings_with(&[("DINGTALK_ALLOWED_CIDRS", "192.0.2.0/24")]);
    let (reply, publisher) = handle_with::<DingtalkFunction>(&fenced, &other, NOW).await;
    assert_refused(&reply, &publisher, StatusCode::FORBIDDEN, "not allowed");
}

#[tokio::test]
async fn an_authenticated_body_that_is_not_a_message_is_400() {
    let at = NOW_MS.to_string();
    let signed_body = |body: &str| signed("t", "t", SECRET, &at, body.to_string()).to_incoming();
    let mut no_id = message(NOW_MS, "x", true);
    no_id.as_object_mut().unwrap().remove("msgId");
    let mut empty_id = message(NOW_MS, "x", true);
    empty_id["msgId"] = json!("");
    let mut no_type = message(NOW_MS, "x", true);
    no_type.as_object_mut().unwrap().remove("msgtype");
    for (body, reason) in [
        ("{not json".to_string(), "not valid JSON"),
        ("[1,2]".to_string(), "not a JSON object"),
        (no_id.to_string(), "msgId"),
        (empty_id.to_string(), "msgId"),
        (no_type.to_string(), "msgtype"),
    ] {
        let (reply, publisher) = handle_with::<DingtalkFunction>(&dev_settings(), &signed_body(&body), NOW).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, reason);
    }
}

#[test]
fn the_app_secret_is_required() {
    use inlet_shared::provider::Provider;
    let refused = DingtalkFunction::from_env(&dev_settings_with(&[("DINGTALK_APP_SECRET", " , ")])).err().unwrap();
    assert!(refused.to_string().contains("DINGTALK_APP_SECRET"));
}

/// `make events` writes the samples as API Gateway events; read back, they
/// are accepted exactly as built.
#[tokio::test]
async fn samples_survive_the_api_gateway_event_form() {
    for name in <DingtalkFunction as Samples>::SAMPLE_NAMES {
        let sample = DingtalkFunction::sample(name, &dev_settings(), NOW, "apigw").unwrap();
        let request = inlet_shared::samples::incoming_from_apigw_v2_event(&sample.to_apigw_v2_event(NOW_MS))
            .expect("an API Gateway v2 event");
        let (reply, _) = handle_with::<DingtalkFunction>(&dev_settings(), &request, NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", String::from_utf8_lossy(&reply.body));
    }
}

/// `body` signed with the dev secret now, with `sessionWebhook` replaced.
fn with_session_webhook(unique: &str, session_webhook: Value) -> IncomingRequest {
    let mut body = message(NOW_MS, unique, true);
    body["sessionWebhook"] = session_webhook;
    request(SECRET, &NOW_MS.to_string(), &body)
}

/// The body is not signed, so its `sessionWebhook` is not proof of
/// anything: one outside DingTalk's hosts must not become the address
/// inlet's replies go to. The event itself is kept (the request is as
/// genuine as DingTalk's scheme can tell), without a reply handle, and the
/// log says why (naming the host, never the session token).
#[tokio::test]
async fn a_session_webhook_off_dingtalks_hosts_is_no_reply_handle_and_the_event_is_kept() {
    for (url, reason) in [
        ("https://evil.example/robot/sendBySession?session=stolen-token", r#"on host "evil.example""#),
        (
            "https://oapi.dingtalk.com.evil.example/robot/sendBySession?session=stolen-token",
            "not one of DINGTALK_REPLY_HOSTS",
        ),
        ("https://oapi.dingtalk.com@evil.example/robot/sendBySession?session=stolen-token", "userinfo"),
        ("http://oapi.dingtalk.com/robot/sendBySession?session=stolen-token", "only for a loopback host"),
        ("https://oapi.dingtalk.com:8443/robot/sendBySession?session=stolen-token", "port 8443"),
        ("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next?session=stolen-token", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/?session=stolen-token", "169.254.169.254"),
    ] {
        let mut log = String::new();
        // As in the 401 test above: the answer is checked every time, the
        // log (which a concurrent test's capture can hide) on up to three tries.
        for _ in 0..3 {
            let logs = CapturedLogs::start();
            let request = with_session_webhook("hostile", json!(url));
            let (reply, publisher) = handle_with::<DingtalkFunction>(&dev_settings(), &request, NOW).await;
            assert_eq!(reply.status, StatusCode::OK, "{url}: {}", String::from_utf8_lossy(&reply.body));
            let envelope = &publisher.sent()[0];
            let view = envelope.message.as_ref().expect("message view");
            assert_eq!(view.reply_handle, None, "{url}");
            assert_eq!(view.text.as_deref(), Some("/status prod"), "the rest of the view stays");
            assert_eq!(
                envelope.payload.to_value().unwrap()["sessionWebhook"],
                json!(url),
                "the payload is DingTalk's JSON, unchanged"
            );
            log = logs.text();
            if log.contains("sessionWebhook not kept as the reply handle") {
                break;
            }
        }
        assert!(log.contains("sessionWebhook not kept as the reply handle"), "{url}: {log}");
        assert!(log.contains(reason), "{url}: the log should say {reason:?}: {log}");
        assert!(!log.contains("stolen-token"), "{url}: the session token is not logged: {log}");
    }
    // Not a string, empty or absent: no handle either.
    for value in [json!(42), json!(""), Value::Null] {
        let (reply, publisher) =
            handle_with::<DingtalkFunction>(&dev_settings(), &with_session_webhook("odd", value.clone()), NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{value}");
        assert_eq!(publisher.sent()[0].message.as_ref().unwrap().reply_handle, None, "{value}");
    }
}

/// What the issue was about: a captured `timestamp`/`sign` pair lets anyone
/// post any body within the hour. It still authenticates, but the body's
/// `sessionWebhook` cannot redirect the replies.
#[tokio::test]
async fn a_replayed_pair_cannot_point_the_replies_elsewhere() {
    let captured = sample("dingtalk-text-message", "captured-for-replies");
    let mut injected = captured.clone();
    let mut body = message(NOW_MS, "injected-for-replies", true);
    body["sessionWebhook"] = json!("https://attacker.example/collect");
    injected.body = body.to_string().into_bytes();
    let (reply, publisher) = handle_with::<DingtalkFunction>(&dev_settings(), &injected, NOW + 1800).await;
    assert_eq!(reply.status, StatusCode::OK, "the signature does not cover the body");
    assert_eq!(publisher.sent()[0].message.as_ref().unwrap().reply_handle, None);
    // The genuine request keeps its handle on DingTalk's host.
    let (_, publisher) = handle_with::<DingtalkFunction>(&dev_settings(), &captured, NOW).await;
    let handle = publisher.sent()[0].message.as_ref().unwrap().reply_handle.clone().expect("a reply handle");
    assert!(handle["session_webhook"].as_str().unwrap().starts_with("https://oapi.dingtalk.com/"), "{handle}");
}

/// `DINGTALK_REPLY_HOSTS` replaces DingTalk's hosts, so the local stack and
/// the tests can name a local server; `http://` is kept only for a loopback
/// host named, and only on the port named.
#[tokio::test]
async fn dingtalk_reply_hosts_names_the_hosts_a_handle_may_point_to() {
    let local = dev_settings_with(&[("DINGTALK_REPLY_HOSTS", "127.0.0.1:8099, oapi.dingtalk.com")]);
    for (url, kept) in [
        ("http://127.0.0.1:8099/robot/sendBySession?session=local", true),
        ("https://oapi.dingtalk.com/robot/sendBySession?session=s", true),
        ("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next", false),
        ("http://127.0.0.1/robot/sendBySession", false),
        ("https://api.dingtalk.com/robot/sendBySession", false),
    ] {
        let (reply, publisher) =
            handle_with::<DingtalkFunction>(&local, &with_session_webhook("local", json!(url)), NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}");
        let handle = publisher.sent()[0].message.as_ref().unwrap().reply_handle.clone();
        assert_eq!(handle.is_some(), kept, "{url}: {handle:?}");
        if kept {
            assert_eq!(handle.unwrap()["session_webhook"], json!(url));
        }
    }
    // Unset or empty: DingTalk's API hosts.
    for settings in [dev_settings(), dev_settings_with(&[("DINGTALK_REPLY_HOSTS", "")])] {
        let https_api = with_session_webhook("default", json!("https://api.dingtalk.com/robot/sendBySession?s=1"));
        let (_, publisher) = handle_with::<DingtalkFunction>(&settings, &https_api, NOW).await;
        assert!(publisher.sent()[0].message.as_ref().unwrap().reply_handle.is_some());
        let local_url = with_session_webhook("default", json!("http://127.0.0.1:8099/robot/sendBySession"));
        let (_, publisher) = handle_with::<DingtalkFunction>(&settings, &local_url, NOW).await;
        assert!(publisher.sent()[0].message.as_ref().unwrap().reply_handle.is_none());
    }
}

#[test]
fn a_reply_hosts_setting_that_is_not_host_names_stops_start_up() {
    use inlet_shared::provider::Provider;
    for bad in ["https://oapi.dingtalk.com", "*.dingtalk.com", "oapi.dingtalk.com/robot", "::1", "host:99999"] {
        let refused =
            DingtalkFunction::from_env(&dev_settings_with(&[("DINGTALK_REPLY_HOSTS", bad)])).err().expect(bad);
        assert!(refused.to_string().contains("DINGTALK_REPLY_HOSTS"), "{bad}: {refused}");
    }
}
