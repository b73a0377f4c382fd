//! DingTalk samples, signed with the first `DINGTALK_APP_SECRET`. Ids and
//! the session token come from `unique`, so the same `unique` gives the same
//! request byte for byte.

use inlet_shared::prelude::*;
use inlet_shared::verify::sha256_hex;

use crate::{APP_SECRET, DingtalkFunction, ROUTE, SIGN_HEADER, TIMESTAMP_HEADER, sign};

impl Samples for DingtalkFunction {
    const SAMPLE_NAMES: &'static [&'static str] = &["dingtalk-text-message", "dingtalk-single-chat"];

    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let secret = SecretList::parse(APP_SECRET, &env.get(APP_SECRET)?).iter().next()?.value.expose().to_string();
        let millis = timestamp.saturating_mul(1000);
        let (description, body) = match name {
            "dingtalk-text-message" => ("group message that @mentions the robot", message(millis, unique, true)),
            "dingtalk-single-chat" => ("single-chat message to the robot", message(millis, unique, false)),
            _ => return None,
        };
        Some(signed(name, description, &secret, &millis.to_string(), body.to_string()))
    }
}

/// A POST as DingTalk sends it: `body` with `timestamp` and its `sign`.
pub fn signed(name: &str, description: &str, secret: &str, timestamp: &str, body: String) -> SampleRequest {
    SampleRequest::post_json(name, description, ROUTE, body)
        .with_header(TIMESTAMP_HEADER, timestamp)
        .with_header(SIGN_HEADER, sign(secret, timestamp))
}

/// An outgoing-robot message as DingTalk's documentation shows it, sent at
/// `millis`; `group` chooses a group chat (`conversationType` "2", with
/// `atUsers` and a title) or a single chat ("1").
pub fn message(millis: i64, unique: &str, group: bool) -> Value {
    let digest = sha256_hex(format!("dingtalk-sample:{unique}").as_bytes());
    let mut body = json!({
        "conversationId": format!("cid{}", &digest[..22]),
        "chatbotCorpId": "dingdevcorp0000000001",
        "chatbotUserId": "$:LWCP_v1:$devrobot0000000000000000",
        "msgId": format!("msg{}", &digest[22..44]),
        "senderNick": "Dev User",
        "isAdmin": true,
        "senderStaffId": "manager4220",
        "sessionWebhookExpiredTime": millis + 90 * 60 * 1000,
        "createAt": millis,
        "senderCorpId": "dingdevcorp0000000001",
        "conversationType": if group { "2" } else { "1" },
        "senderId": "$:LWCP_v1:$devsender00000000000000",
        "sessionWebhook": format!("https://oapi.dingtalk.com/robot/sendBySession?session={}", &digest[44..]),
        "text": {"content": " /status prod"},
        "robotCode": "dingdevrobotcode0001",
        "msgtype": "text",
    });
    if group {
        body["conversationTitle"] = json!("inlet dev");
        body["isInAtList"] = json!(true);
        body["atUsers"] = json!([{"dingtalkId": "$:LWCP_v1:$devrobot0000000000000000"}]);
    }
    body
}
