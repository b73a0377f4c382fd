//! OpenIM callback samples, at `/openim/<token>/<command>` when
//! `OPENIM_PATH_TOKEN` is set.

use inlet_shared::config;
use inlet_shared::prelude::*;

use crate::{OPERATION_ID_HEADER, OpenimFunction, PATH_TOKEN};

impl Samples for OpenimFunction {
    /// The path token alone: the decision hook's secret signs what inlet
    /// sends, not what OpenIM sends.
    const SIGNING_SETTINGS: &'static [&'static str] = &[PATH_TOKEN];
    const SAMPLE_NAMES: &'static [&'static str] =
        &["openim-before-send-single", "openim-after-send-group", "openim-user-online"];

    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let token = config::secrets(env, PATH_TOKEN).iter().next().map(|t| t.value.expose().to_string());
        let text = json!({"content": "hello from OpenIM"}).to_string();
        let (command, description, body) = match name {
            "openim-before-send-single" => (
                "callbackBeforeSendSingleMsgCommand",
                "before a one-to-one message (answered continue after enqueue)",
                json!({
                    "callbackCommand": "callbackBeforeSendSingleMsgCommand",
                    "sendID": "u-dev-alice", "recvID": "u-dev-bob", "senderNickname": "alice",
                    "senderPlatformID": 1, "clientMsgID": format!("client-{unique}"),
                    "sessionType": 1, "msgFrom": 100, "contentType": 101, "status": 1,
                    "createTime": timestamp * 1000, "content": text
                }),
            ),
            "openim-after-send-group" => (
                "callbackAfterSendGroupMsgCommand",
                "after a group message (enqueued)",
                json!({
                    "callbackCommand": "callbackAfterSendGroupMsgCommand",
                    "sendID": "u-dev-alice", "groupID": "g-dev-ops", "senderNickname": "alice",
                    "senderPlatformID": 1, "serverMsgID": format!("server-{unique}"), "clientMsgID": format!("client-{unique}"),
                    "sessionType": 3, "msgFrom": 100, "contentType": 101, "status": 2,
                    "createTime": timestamp * 1000, "sendTime": timestamp * 1000, "content": text
                }),
            ),
            "openim-user-online" => (
                "callbackAfterUserOnlineCommand",
                "a user came online (enqueued; no message id, keyed by body hash)",
                json!({
                    "callbackCommand": "callbackAfterUserOnlineCommand",
                    "userID": format!("u-dev-{unique}"), "platformID": 1, "platform": "IOS",
                    "seq": timestamp, "isAppBackgroundStatusChanged": false, "connID": format!("conn-{unique}")
                }),
            ),
            _ => return None,
        };
        let path = match &token {
            Some(token) => format!("/openim/{token}/{command}"),
            None => format!("/openim/{command}"),
        };
        // OpenIM's bodies end with a newline.
        let mut sample = SampleRequest::post_json(name, description, &path, format!("{body}\n"))
            .with_header(OPERATION_ID_HEADER, format!("op-{unique}"))
            .with_path_param("command", command);
        if let Some(token) = token {
            sample = sample.with_path_param("token", token);
        }
        Some(sample)
    }
}
