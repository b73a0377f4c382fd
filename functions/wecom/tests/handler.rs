//! The WeCom handler on its samples and on requests sealed here, with a
//! fixed clock: the public vector, URL verification (and that it decrypts
//! nothing but WeCom's echo), messages and events (documented shapes, ids
//! that never merge two events), rotation, the timestamp window, and one
//! uniform 401 for everything that fails before the message is open.

mod common;
mod documented;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{VECTOR_ECHOSTR, VECTOR_TIMESTAMP, vector_request};
use http::{Method, StatusCode};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_shared::verify::sha256_hex;
use inlet_testkit::samples::{
    assert_refused, assert_unauthenticated, assert_unauthenticated_and_logged, dev_settings_with, handle_with,
};
use serde_json::json;
use wecom::WecomFunction;
use wecom::crypto::{msg_signature, seal_padded};
use wecom::samples::{WecomApp, contact_event, echo, msg_id, outer_body, text_message};

const NOW: i64 = 1_700_000_000;
const CORP: &str = "wwdevcorp0000000001";
/// A second key and token, for rotation.
const OTHER_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OTHER_TOKEN: &str = "rotatedToken42";

fn app() -> WecomApp {
    WecomApp::from_env(&dev_settings()).expect("dev settings configure WeCom")
}

fn sample(name: &str, unique: &str) -> IncomingRequest {
    WecomFunction::sample(name, &dev_settings(), NOW, unique).expect("sample").to_incoming()
}

/// A POST of `message` sealed and signed with `app`, at `timestamp`.
fn callback(app: &WecomApp, message: &str, timestamp: i64, unique: &str) -> IncomingRequest {
    app.callback("test", "test", message, timestamp, unique).to_incoming()
}

/// A POST whose `<Encrypt>` is `ciphertext`, validly signed over it.
fn signed_ciphertext(app: &WecomApp, ciphertext: &str) -> IncomingRequest {
    let path = app.signed_path(NOW, "12345", ciphertext);
    let (path, query) = path.split_once('?').expect("query");
    let mut request = IncomingRequest::new(Method::POST, path, outer_body(CORP, ciphertext, "1000002"));
    request.set_raw_query(query);
    request
}

/// The public vector's app (docs/contributing/testing.md, "Public test vectors").
fn vector_settings() -> HashMap<String, String> {
    dev_settings_with(&[
        ("WECOM_TOKEN", "QDG6eK"),
        ("WECOM_ENCODING_AES_KEY", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
        ("WECOM_CORP_ID", "wx5823bf96d3bd56c7"),
    ])
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_testkit::conformance::check::<WecomFunction>(&[]).await;
}

#[tokio::test]
async fn public_vector_url_verification_answers_the_bare_plaintext_quickly() {
    let started = Instant::now();
    let (reply, publisher) =
        handle_with::<WecomFunction>(&vector_settings(), &vector_request(VECTOR_ECHOSTR), VECTOR_TIMESTAMP).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.content_type, Some("text/plain"));
    assert_eq!(reply.body, b"1616140317555161061", "bare: no quotes, no newline");
    assert!(publisher.sent().is_empty(), "a URL check enqueues nothing");
    // WeCom wants the answer within 1 s; the work is one SHA-1 and one AES block chain.
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[tokio::test]
async fn public_vector_through_the_raw_query_string_as_api_gateway_decodes_it() {
    // WeCom URL-encodes echostr; API Gateway decodes %2B, %2F and %3D.
    let raw = format!(
        "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr={}",
        inlet_shared::form::percent_encode(VECTOR_ECHOSTR)
    );
    let mut request = IncomingRequest::new(Method::GET, "/wecom/callback", "");
    request.set_raw_query(&raw);
    assert_eq!(request.query["echostr"], VECTOR_ECHOSTR);
    let (reply, _) = handle_with::<WecomFunction>(&vector_settings(), &request, VECTOR_TIMESTAMP).await;
    assert_eq!(reply.body, b"1616140317555161061");
    // And with `+` sent bare (not %2B): API Gateway keeps it.
    let mut bare_plus = IncomingRequest::new(Method::GET, "/wecom/callback", "");
    bare_plus.set_raw_query(&raw.replace("%2B", "+"));
    let (reply, _) = handle_with::<WecomFunction>(&vector_settings(), &bare_plus, VECTOR_TIMESTAMP).await;
    assert_eq!(reply.body, b"1616140317555161061");
}

#[tokio::test]
async fn an_echostr_whose_plus_became_a_space_is_restored_before_checking() {
    let mangled = VECTOR_ECHOSTR.replace('+', " ");
    assert_ne!(mangled, VECTOR_ECHOSTR);
    let (reply, publisher) =
        handle_with::<WecomFunction>(&vector_settings(), &vector_request(&mangled), VECTOR_TIMESTAMP).await;
    assert_eq!((reply.status, reply.body.as_slice()), (StatusCode::OK, &b"1616140317555161061"[..]));
    assert!(publisher.sent().is_empty());
    // The signature is still checked over the restored value: a space where
    // the signed value had another character is refused.
    let (reply, publisher) = handle_with::<WecomFunction>(
        &vector_settings(),
        &vector_request(&VECTOR_ECHOSTR.replacen('P', " ", 1)),
        VECTOR_TIMESTAMP,
    )
    .await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn public_vector_outside_the_window_or_signed_otherwise_is_refused() {
    let settings = vector_settings();
    let (reply, publisher) = handle_with::<WecomFunction>(&settings, &vector_request(VECTOR_ECHOSTR), NOW).await;
    assert_unauthenticated(&reply, &publisher);
    let mut forged = vector_request(VECTOR_ECHOSTR);
    forged.query.insert("nonce".into(), "263014781".into());
    let (reply, publisher) = handle_with::<WecomFunction>(&settings, &forged, VECTOR_TIMESTAMP).await;
    assert_unauthenticated(&reply, &publisher);
    let other_corp = dev_settings_with(&[
        ("WECOM_TOKEN", "QDG6eK"),
        ("WECOM_ENCODING_AES_KEY", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
        ("WECOM_CORP_ID", "wx5823bf96d3bd56c8"),
    ]);
    let (reply, publisher) =
        handle_with::<WecomFunction>(&other_corp, &vector_request(VECTOR_ECHOSTR), VECTOR_TIMESTAMP).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn url_verification_sample_answers_its_echo() {
    let (reply, publisher) =
        handle_with::<WecomFunction>(&dev_settings(), &sample("wecom-url-verification", "u1"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, echo("u1").into_bytes());
    assert!(publisher.sent().is_empty());
}

#[tokio::test]
async fn text_message_is_enqueued_as_json_with_a_message_view_and_an_empty_200() {
    let (reply, publisher) =
        handle_with::<WecomFunction>(&dev_settings(), &sample("wecom-text-message", "m1"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.body.is_empty(), "an empty body is \"no passive reply\"");
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1);
    let envelope = &sent[0];
    assert_eq!(envelope.id, format!("wecom:{}", msg_id("m1")));
    assert_eq!(envelope.kind, "text");
    assert_eq!(envelope.tenant.as_deref(), Some(CORP));
    assert_eq!(envelope.verification.scheme, "wecom-msg-signature");
    assert_eq!(envelope.verification.matched.as_deref(), Some("WECOM_TOKEN#1,WECOM_ENCODING_AES_KEY#1"));
    assert_eq!(
        envelope.payload,
        json!({
            "ToUserName": CORP, "FromUserName": "zhangsan", "CreateTime": NOW.to_string(), "MsgType": "text",
            "Content": "/status prod", "MsgId": msg_id("m1"), "AgentID": "1000002"
        })
    );
    let view = envelope.message.as_ref().expect("message view");
    assert_eq!(view.sender_id.as_deref(), Some("zhangsan"));
    assert_eq!(view.chat_id.as_deref(), Some("zhangsan"));
    assert_eq!(view.chat_type.as_deref(), Some("single"));
    assert_eq!(view.message_id.as_deref(), Some(msg_id("m1").as_str()));
    assert_eq!(view.text.as_deref(), Some("/status prod"));
    assert_eq!(view.reply_handle, Some(json!({"agent_id": "1000002", "to_user": "zhangsan", "chat_id": null})));
}

#[tokio::test]
async fn event_gets_a_scoped_id_a_kind_and_nested_json_but_no_message_view() {
    let (reply, publisher) = handle_with::<WecomFunction>(&dev_settings(), &sample("wecom-event", "e1"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.kind, "event.change_contact");
    // Events carry no id: the SHA-256 of the message as WeCom sealed it.
    assert_eq!(envelope.id, format!("wecom:sha256:{}", sha256_hex(contact_event(CORP, NOW, "e1").as_bytes())));
    assert!(envelope.message.is_none());
    assert_eq!(
        envelope.payload.to_value().unwrap()["ExtAttr"]["Item"][0],
        json!({"Name": "爱好", "Type": "0", "Text": {"Value": "旅游"}})
    );
    assert_eq!(envelope.payload.to_value().unwrap()["ExtAttr"]["Item"][1]["Web"]["Url"], "https://work.weixin.qq.com");
}

#[tokio::test]
async fn a_retry_resealed_by_wecom_is_the_same_event_and_distinct_events_are_not() {
    let app = app();
    let message = text_message(CORP, NOW, "same", "hello");
    // A retry: WeCom seals again (new prefix, nonce and timestamp), same message.
    let first = callback(&app, &message, NOW, "attempt-1");
    let retry = callback(&app, &message, NOW + 5, "attempt-2");
    assert_ne!(first.body, retry.body);
    let id = |request: IncomingRequest| async move {
        let (reply, publisher) = handle_with::<WecomFunction>(&dev_settings(), &request, NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
        publisher.sent()[0].id.clone()
    };
    assert_eq!(id(first).await, id(retry).await);

    // Two contact changes by `sys` in the same second, for two users: two events.
    let a = id(callback(&app, &contact_event(CORP, NOW, "user-a"), NOW, "a")).await;
    let b = id(callback(&app, &contact_event(CORP, NOW, "user-b"), NOW, "b")).await;
    assert_ne!(a, b);
    // The same user entering two apps in the same second: two events.
    let enter = |agent: &str| {
        format!(
            "<xml><ToUserName>{CORP}</ToUserName><FromUserName>lisi</FromUserName><CreateTime>{NOW}</CreateTime>\
             <MsgType>event</MsgType><Event>enter_agent</Event><EventKey></EventKey><AgentID>{agent}</AgentID></xml>"
        )
    };
    let one = id(callback(&app, &enter("1000002"), NOW, "x")).await;
    let two = id(callback(&app, &enter("1000003"), NOW, "y")).await;
    assert_eq!(one, format!("wecom:sha256:{}", sha256_hex(enter("1000002").as_bytes())));
    assert_ne!(one, two);
}

/// The id a request's Envelope gets (the request must be accepted).
async fn id_of(request: &IncomingRequest) -> String {
    let (reply, publisher) = handle_with::<WecomFunction>(&dev_settings(), request, NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    publisher.sent()[0].id.clone()
}

/// Customer-service events (`kf_msg_or_event`) come from no user: no
/// `FromUserName`. They are genuine and kept, as is any event or message
/// that has what inlet needs to name it (`MsgType`, `Event` for events).
#[tokio::test]
async fn events_without_a_sender_are_accepted() {
    let app = app();
    let kf = (documented::documented()[0].xml)(CORP, NOW, "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR");
    assert!(!kf.contains("FromUserName"));
    let (reply, publisher) = handle_with::<WecomFunction>(&dev_settings(), &callback(&app, &kf, NOW, "kf"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.body.is_empty());
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.kind, "event.kf_msg_or_event");
    assert_eq!(envelope.tenant.as_deref(), Some(CORP));
    assert_eq!(envelope.id, format!("wecom:sha256:{}", sha256_hex(kf.as_bytes())));
    assert_eq!(envelope.payload.to_value().unwrap()["Token"], "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR");
    assert_eq!(envelope.payload.to_value().unwrap()["OpenKfId"], "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q");
    assert!(envelope.message.is_none(), "an event has no message view");

    // Every documented shape, and the least a message can be: no sender, no
    // time, and a message without MsgId (named by its hash, like an event).
    let mut messages: Vec<(String, String)> =
        documented::documented().iter().map(|d| (d.name.to_string(), (d.xml)(CORP, NOW, "x"))).collect();
    messages
        .push(("only MsgType and Event".into(), "<xml><MsgType>event</MsgType><Event>new_kind</Event></xml>".into()));
    messages.push(("a message without MsgId".into(), "<xml><MsgType>text</MsgType><Content>hi</Content></xml>".into()));
    for (name, message) in messages {
        let (reply, publisher) =
            handle_with::<WecomFunction>(&dev_settings(), &callback(&app, &message, NOW, &name), NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(publisher.sent()[0].id, format!("wecom:sha256:{}", sha256_hex(message.as_bytes())), "{name}");
    }
}

/// Two events of one type in the same second that differ only in the field
/// that tells them apart are two events; WeCom's retry of either (sealed
/// again: new prefix, nonce and timestamp) is the same event.
#[tokio::test]
async fn distinct_events_in_one_second_never_share_an_id_and_retries_keep_theirs() {
    let app = app();
    // Every type is tried, so a failure lists all that merge.
    let mut merged = Vec::new();
    for event in documented::documented() {
        let (a, b) = ((event.xml)(CORP, NOW, "wmAJ2GCAAAaaaa"), (event.xml)(CORP, NOW, "wmAJ2GCAAAbbbb"));
        let first = id_of(&callback(&app, &a, NOW, &format!("{}-a", event.name))).await;
        let other = id_of(&callback(&app, &b, NOW, &format!("{}-b", event.name))).await;
        if first == other {
            merged.push(format!("{} (differ in {}): both {first}", event.name, event.distinct_by));
        }
        let retry = callback(&app, &a, NOW + 5, &format!("{}-retry", event.name));
        assert_ne!(retry.body, callback(&app, &a, NOW, &format!("{}-a", event.name)).body, "sealed again");
        assert_eq!(id_of(&retry).await, first, "{}: WeCom's retry is the same event", event.name);
    }
    assert!(merged.is_empty(), "distinct events got one id:\n{}", merged.join("\n"));
    // Messages keep their MsgId: a retry, and the same MsgId, are one message.
    let text = text_message(CORP, NOW, "m", "hi");
    assert_eq!(id_of(&callback(&app, &text, NOW, "m1")).await, format!("wecom:{}", msg_id("m")));
    assert_eq!(id_of(&callback(&app, &text, NOW + 3, "m2")).await, format!("wecom:{}", msg_id("m")));
}

/// A GET built from a captured POST: the same query (its signature is over
/// the same four strings) with the POST's `<Encrypt>` as `echostr`.
fn captured_as_url_check(post: &IncomingRequest) -> IncomingRequest {
    let outer = wecom::xml::parse(std::str::from_utf8(&post.body).expect("UTF-8")).expect("outer XML");
    let ciphertext = outer.value["Encrypt"].as_str().expect("Encrypt").to_string();
    let mut get = IncomingRequest::new(Method::GET, "/wecom/callback", "");
    get.query = post.query.clone();
    get.query.insert("echostr".into(), ciphertext);
    get
}

/// The URL check answers the decrypted `echostr`; its signature is the one
/// a POST's ciphertext carries. Only WeCom's decimal echo is answered, so a
/// captured message cannot be decrypted by sending it back as a URL check;
/// anything else is the uniform 401.
#[tokio::test]
async fn the_url_check_decrypts_nothing_but_wecom_echo() {
    let app = app();
    let post = sample("wecom-text-message", "captured");
    let (reply, _) = handle_with::<WecomFunction>(&dev_settings(), &post, NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "the captured message is genuine");
    let (reply, publisher) = handle_with::<WecomFunction>(&dev_settings(), &captured_as_url_check(&post), NOW).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(!String::from_utf8_lossy(&reply.body).contains("/status prod"), "the message must not come back");

    for (echo, answered) in [
        ("1616140317555161061", true),
        ("0", true),
        ("18446744073709551615", true),
        ("123456789012345678901", false),
        ("", false),
        ("-1616140317555161061", false),
        (" 1616140317555161061", false),
        ("1616140317555161061\n", false),
        ("1616140317555161061x", false),
        ("１２３", false),
        ("<xml><MsgType>text</MsgType></xml>", false),
    ] {
        let request = app.url_verification("t", "t", echo, NOW, echo).to_incoming();
        let (reply, publisher) = handle_with::<WecomFunction>(&dev_settings(), &request, NOW).await;
        if answered {
            assert_eq!((reply.status, reply.body.as_slice()), (StatusCode::OK, echo.as_bytes()), "{echo:?}");
        } else {
            assert_unauthenticated(&reply, &publisher);
        }
    }
}

#[tokio::test]
async fn group_chat_messages_and_other_types_get_views() {
    let app = app();
    let image = format!(
        "<xml><ToUserName>{CORP}</ToUserName><FromUserName>wangwu</FromUserName><CreateTime>{NOW}</CreateTime>\
         <MsgType>image</MsgType><PicUrl>https://example.invalid/p.png</PicUrl><MediaId>m</MediaId>\
         <MsgId>42</MsgId><AgentID>7</AgentID><ChatId>wrkSFfCgAA</ChatId></xml>"
    );
    let (reply, publisher) =
        handle_with::<WecomFunction>(&dev_settings(), &callback(&app, &image, NOW, "i"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    let envelope = &publisher.sent()[0];
    assert_eq!((envelope.id.as_str(), envelope.kind.as_str()), ("wecom:42", "image"));
    let view = envelope.message.as_ref().unwrap();
    assert_eq!((view.chat_id.as_deref(), view.chat_type.as_deref()), (Some("wrkSFfCgAA"), Some("group")));
    assert_eq!(view.text, None, "only text messages have text");
    assert_eq!(view.reply_handle, Some(json!({"agent_id": "7", "to_user": "wangwu", "chat_id": "wrkSFfCgAA"})));
}

#[tokio::test]
async fn rotation_records_which_token_and_key_matched() {
    let dev = dev_settings();
    let settings = dev_settings_with(&[
        ("WECOM_TOKEN", &format!("{OTHER_TOKEN},{}", dev["WECOM_TOKEN"])),
        ("WECOM_ENCODING_AES_KEY", &format!("{OTHER_KEY}, {}", dev["WECOM_ENCODING_AES_KEY"])),
    ]);
    let (reply, publisher) = handle_with::<WecomFunction>(&settings, &sample("wecom-text-message", "r"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("WECOM_TOKEN#2,WECOM_ENCODING_AES_KEY#2"));
    // Signed with the new token, sealed with the new key.
    let rotated = WecomApp {
        token: OTHER_TOKEN.into(),
        key: wecom::crypto::decode_encoding_aes_key(OTHER_KEY).unwrap(),
        corp_id: CORP.into(),
    };
    let request = callback(&rotated, &text_message(CORP, NOW, "r2", "hi"), NOW, "r2");
    let (reply, publisher) = handle_with::<WecomFunction>(&settings, &request, NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("WECOM_TOKEN#1,WECOM_ENCODING_AES_KEY#1"));
    // The old app's requests are refused once its entries are removed.
    let only_new = dev_settings_with(&[("WECOM_TOKEN", OTHER_TOKEN), ("WECOM_ENCODING_AES_KEY", OTHER_KEY)]);
    let (reply, publisher) = handle_with::<WecomFunction>(&only_new, &sample("wecom-text-message", "r"), NOW).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn the_signed_timestamp_must_be_inside_the_window_both_ways() {
    let tolerance = 300;
    for (offset, accepted) in
        [(-tolerance, true), (tolerance, true), (-tolerance - 1, false), (tolerance + 1, false), (-86_400, false)]
    {
        for name in ["wecom-text-message", "wecom-url-verification"] {
            let request = WecomFunction::sample(name, &dev_settings(), NOW + offset, "w").unwrap().to_incoming();
            let (reply, publisher) = handle_with::<WecomFunction>(&dev_settings(), &request, NOW).await;
            if accepted {
                assert_eq!(reply.status, StatusCode::OK, "{name} at {offset:+} s");
            } else {
                assert_unauthenticated(&reply, &publisher);
            }
        }
    }
    let mut not_a_number = sample("wecom-text-message", "w");
    not_a_number.query.insert("timestamp".into(), "soon".into());
    let (reply, publisher) = handle_with::<WecomFunction>(&dev_settings(), &not_a_number, NOW).await;
    assert_unauthenticated(&reply, &publisher);
}

/// Everything that fails before the message is open answers the same 401,
/// with the same body: a signature error, a padding error and a receive-id
/// error cannot be told apart (no padding oracle).
#[tokio::test]
async fn every_failure_before_the_message_is_open_is_the_one_uniform_401() {
    let app = app();
    let good = sample("wecom-text-message", "f");
    let ciphertext = app.seal(&text_message(CORP, NOW, "f", "x"), "f");
    let mut body_block = vec![0u8; 16];
    body_block.extend_from_slice(&3u32.to_be_bytes());
    body_block.extend_from_slice(b"<x>");
    body_block.extend_from_slice(CORP.as_bytes());
    let padded = |pad: &[u8]| {
        let mut plain = body_block.clone();
        plain.extend_from_slice(pad);
        seal_padded(&app.key, &plain)
    };
    let pad = 64 - body_block.len();
    let mut uneven = vec![pad as u8; pad];
    uneven[1] ^= 0x40;
    let mut overlong = body_block.clone();
    overlong[16..20].copy_from_slice(&4000u32.to_be_bytes());
    overlong.extend(vec![pad as u8; pad]);

    // (case, request, what the log says: the reason the answer hides)
    let mut cases: Vec<(&str, IncomingRequest, &str)> = Vec::new();
    let with_query = |name: &str, value: Option<&str>| {
        let mut request = good.clone();
        match value {
            Some(value) => request.query.insert(name.into(), value.into()),
            None => request.query.remove(name),
        };
        request
    };
    let signature = good.query["msg_signature"].clone();
    let other_token = msg_signature("nope", &NOW.to_string(), &good.query["nonce"], &ciphertext);
    const BAD_SIGNATURE: &str = "msg_signature does not match";
    cases.push(("signature of another token", with_query("msg_signature", Some(&other_token)), BAD_SIGNATURE));
    cases.push((
        "signature in upper case",
        with_query("msg_signature", Some(&signature.to_uppercase())),
        BAD_SIGNATURE,
    ));
    cases.push(("signature missing", with_query("msg_signature", None), "missing msg_signature"));
    cases.push(("signature empty", with_query("msg_signature", Some("")), "missing msg_signature"));
    cases.push(("timestamp missing", with_query("timestamp", None), "missing timestamp"));
    cases.push(("nonce changed", with_query("nonce", Some("1")), BAD_SIGNATURE));
    cases.push(("nonce missing", with_query("nonce", None), "missing nonce"));
    let mut tampered = good.clone();
    let text = String::from_utf8(tampered.body.clone()).unwrap();
    let encrypt = text.split("<Encrypt><![CDATA[").nth(1).unwrap().split("]]>").next().unwrap().to_string();
    let flipped = format!("{}{}", if encrypt.starts_with('A') { "B" } else { "A" }, &encrypt[1..]);
    tampered.body = text.replace(&encrypt, &flipped).into_bytes();
    cases.push(("ciphertext changed after signing", tampered, BAD_SIGNATURE));
    let with_body = |body: &[u8]| {
        let mut request = good.clone();
        request.body = body.to_vec();
        request
    };
    cases.push(("body is not XML", with_body(b"{\"encrypt\":1}"), "body: text outside the root"));
    cases.push(("body has no Encrypt", with_body(b"<xml><ToUserName>x</ToUserName></xml>"), "missing Encrypt"));
    cases.push(("body is empty", with_body(b""), "body: no root element"));
    cases.push(("signed, not base64", signed_ciphertext(&app, "!!!not base64!!!"), "not base64"));
    cases.push((
        "signed, not whole blocks",
        signed_ciphertext(&app, "AAAAAAAAAAAAAAAAAAAAAAA="),
        "whole number of AES blocks",
    ));
    let other_key = wecom::crypto::decode_encoding_aes_key(OTHER_KEY).unwrap();
    let sealed_other_key = wecom::crypto::seal(&other_key, [0; 16], b"<xml/>", CORP);
    // Another key's plaintext is noise: almost always bad padding.
    cases.push(("signed, sealed with another key", signed_ciphertext(&app, &sealed_other_key), "not authenticated"));
    let other_corp = wecom::crypto::seal(&app.key, [0; 16], b"<xml/>", "wwothercorp");
    cases.push(("signed, sealed for another CorpID", signed_ciphertext(&app, &other_corp), "receive id"));
    cases.push(("signed, uneven padding", signed_ciphertext(&app, &padded(&uneven)), "bad padding"));
    cases.push(("signed, zero padding", signed_ciphertext(&app, &padded(&vec![0u8; pad])), "bad padding"));
    cases.push((
        "signed, length past the end",
        signed_ciphertext(&app, &seal_padded(&app.key, &overlong)),
        "message length",
    ));
    let mut get = sample("wecom-url-verification", "f");
    get.query.insert("echostr".into(), format!("{}x", get.query["echostr"]));
    cases.push(("GET, echostr changed", get, BAD_SIGNATURE));
    let mut get = sample("wecom-url-verification", "f");
    get.query.remove("echostr");
    cases.push(("GET, echostr missing", get, "missing echostr"));
    cases.push(("GET, a captured message's ciphertext as echostr", captured_as_url_check(&good), "decimal echo"));
    cases.push((
        "GET, signed echostr that opens to text",
        app.url_verification("t", "t", "hello", NOW, "f").to_incoming(),
        "decimal echo",
    ));

    for (name, request, logged) in cases {
        assert_unauthenticated_and_logged::<WecomFunction>(&dev_settings(), &request, NOW, name, logged).await;
    }
    // The control: the good request itself passes.
    let (reply, _) = handle_with::<WecomFunction>(&dev_settings(), &good, NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_genuine_message_that_is_not_usable_xml_is_400() {
    let app = app();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not XML", b"{\"MsgType\":\"text\"}".to_vec(), "decrypted message"),
        ("unclosed", b"<xml><MsgType>text</MsgType>".to_vec(), "decrypted message"),
        ("two roots", b"<xml></xml><xml></xml>".to_vec(), "decrypted message"),
        ("not UTF-8", b"<xml>\xff\xfe</xml>".to_vec(), "not UTF-8"),
        ("no MsgType", b"<xml><MsgId>1</MsgId></xml>".to_vec(), "MsgType"),
        (
            "event without Event",
            b"<xml><MsgType>event</MsgType><FromUserName>a</FromUserName><CreateTime>1</CreateTime></xml>".to_vec(),
            "Event",
        ),
        ("event with an empty Event", b"<xml><MsgType>event</MsgType><Event></Event></xml>".to_vec(), "Event"),
        ("root is text", b"<xml>hello</xml>".to_vec(), "fields"),
    ];
    for (name, message, reason) in cases {
        let ciphertext = wecom::crypto::seal(&app.key, [5; 16], &message, CORP);
        let (reply, publisher) =
            handle_with::<WecomFunction>(&dev_settings(), &signed_ciphertext(&app, &ciphertext), NOW).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, reason);
        let _ = name;
    }
}

#[tokio::test]
async fn only_get_and_post_are_routes() {
    let mut request = sample("wecom-text-message", "m");
    request.method = Method::PUT;
    let (reply, _) = handle_with::<WecomFunction>(&dev_settings(), &request, NOW).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn settings_are_checked_at_start_up_without_naming_values() {
    use inlet_shared::provider::Provider;
    let refused =
        |pairs: &[(&str, &str)]| WecomFunction::from_env(&dev_settings_with(pairs)).err().map(|e| e.to_string());
    assert!(refused(&[("WECOM_TOKEN", "")]).unwrap().contains("WECOM_TOKEN"));
    assert!(refused(&[("WECOM_ENCODING_AES_KEY", " , ")]).unwrap().contains("WECOM_ENCODING_AES_KEY"));
    assert!(refused(&[("WECOM_CORP_ID", " ")]).unwrap().contains("WECOM_CORP_ID"));
    let short = refused(&[("WECOM_ENCODING_AES_KEY", &format!("{OTHER_KEY},tooShortKeyValue"))]).unwrap();
    assert!(short.contains("WECOM_ENCODING_AES_KEY#2") && !short.contains("tooShortKeyValue"), "{short}");
    assert!(refused(&[]).is_none());
}

/// `make events` writes the samples as API Gateway events; read back, they
/// are accepted exactly as built (the query string survives the round trip).
#[tokio::test]
async fn samples_survive_the_api_gateway_event_form() {
    for name in <WecomFunction as Samples>::SAMPLE_NAMES {
        let sample = WecomFunction::sample(name, &dev_settings(), NOW, "apigw").unwrap();
        let event = sample.to_apigw_v2_event(NOW * 1000);
        assert_eq!(event["routeKey"], format!("{} /wecom/callback", sample.method), "{name}");
        let request = inlet_shared::samples::incoming_from_apigw_v2_event(&event).expect("an API Gateway v2 event");
        let (reply, _) = handle_with::<WecomFunction>(&dev_settings(), &request, NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", String::from_utf8_lossy(&reply.body));
    }
}
