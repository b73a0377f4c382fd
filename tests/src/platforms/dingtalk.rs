//! DingTalk's robot `sessionWebhook`, as a local server: the sessions it
//! issued (`/robot/sendBySession?session=…`, each with its expiry as
//! DingTalk puts it in `sessionWebhookExpiredTime`), the message shapes
//! DingTalk documents for robots (text, markdown, actionCard, feedCard,
//! link), its error codes, and a throttle script for its 20 messages a
//! minute. Every message it took is kept in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{Answer, FakeServer, Received};

pub const SEND_PATH: &str = "/robot/sendBySession";
/// DingTalk's codes, as the fake answers them.
pub const SEND_TOO_FAST: i64 = 130101;
pub const SESSION_INVALID: i64 = 300001;
pub const CONVERSATION_GONE: i64 = 400013;
pub const MISSING_PARAMETER: i64 = 40035;

/// How long DingTalk keeps a session open (about 90 minutes).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(90 * 60);

/// One session DingTalk issued.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub url: String,
    /// `sessionWebhookExpiredTime`: ms since the epoch.
    pub expires_at_ms: i64,
}

impl Session {
    /// The reply handle the receiver writes for a message of this session.
    pub fn handle(&self) -> Value {
        json!({
            "session_webhook": self.url,
            "session_webhook_expired_time": self.expires_at_ms,
            "robot_code": "dingrobot1",
        })
    }
}

/// A message the server took.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivered {
    pub session: String,
    pub body: Value,
}

#[derive(Debug, Default)]
pub struct DingTalk {
    /// Session token → expiry (ms) and whether its conversation still exists.
    sessions: BTreeMap<String, (i64, bool)>,
    /// How many of the next messages are refused as sent too fast.
    throttle: usize,
    issued: usize,
    pub delivered: Vec<Delivered>,
}

pub struct FakeDingTalk {
    pub server: FakeServer<DingTalk>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl FakeDingTalk {
    pub async fn start() -> Self {
        FakeDingTalk { server: FakeServer::start(DingTalk::default(), Arc::new(respond)).await }
    }

    /// `DINGTALK_REPLY_HOSTS` for this server: its loopback address and port.
    pub fn reply_hosts(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    /// A session open for DingTalk's usual lifetime.
    pub fn issue_session(&self) -> Session {
        self.issue_session_until(now_ms() + SESSION_LIFETIME.as_millis() as i64)
    }

    /// A session that closes at `expires_at_ms` (in the past for an expired one).
    pub fn issue_session_until(&self, expires_at_ms: i64) -> Session {
        let token = self.server.with_state(|state| {
            state.issued += 1;
            let token = format!("sess{:04}c5d4e2f1a0b9", state.issued);
            state.sessions.insert(token.clone(), (expires_at_ms, true));
            token
        });
        let url = format!("{}{SEND_PATH}?session={token}", self.server.url);
        Session { token, url, expires_at_ms }
    }

    /// The conversation of `session` is gone (the group dissolved, the robot removed).
    pub fn end_conversation(&self, session: &Session) {
        self.server.with_state(|state| {
            if let Some(entry) = state.sessions.get_mut(&session.token) {
                entry.1 = false;
            }
        });
    }

    /// The next `count` messages are refused as sent too fast.
    pub fn throttle_next(&self, count: usize) {
        self.server.with_state(|state| state.throttle = count);
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.server.with_state(|state| state.delivered.clone())
    }

    pub fn received(&self) -> Vec<Received> {
        self.server.received()
    }
}

fn error(code: i64, message: &str) -> Answer {
    Answer::json(200, json!({"errcode": code, "errmsg": message}))
}

fn respond(state: &mut DingTalk, request: &Received) -> Answer {
    if request.path != SEND_PATH {
        return Answer::json(404, json!({"errcode": 404, "errmsg": "请求的URI地址不存在"}));
    }
    if request.method != "POST" {
        return Answer::json(405, json!({"errcode": 405, "errmsg": "method not allowed"}));
    }
    let Some(token) = request.query.get("session") else {
        return error(MISSING_PARAMETER, "缺少参数 session");
    };
    let Some(&(expires_at_ms, open)) = state.sessions.get(token) else {
        return error(SESSION_INVALID, "session不存在");
    };
    if now_ms() >= expires_at_ms {
        return error(SESSION_INVALID, "session已过期");
    }
    if !open {
        return error(CONVERSATION_GONE, "群已被解散");
    }
    if !request.header("content-type").is_some_and(|t| t.starts_with("application/json")) {
        return error(MISSING_PARAMETER, "缺少参数 json");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(MISSING_PARAMETER, "缺少参数 json");
    };
    if let Err(why) = check_message(&body) {
        return error(MISSING_PARAMETER, &why);
    }
    if state.throttle > 0 {
        state.throttle -= 1;
        return error(SEND_TOO_FAST, "send too fast, exceed 20 times per minute");
    }
    state.delivered.push(Delivered { session: token.clone(), body });
    error(0, "ok")
}

fn text(value: &Value, field: &str) -> bool {
    value.get(field).and_then(Value::as_str).is_some_and(|t| !t.trim().is_empty())
}

/// The robot message shapes DingTalk documents: the fields each needs.
pub fn check_message(body: &Value) -> Result<(), String> {
    let msgtype = body.get("msgtype").and_then(Value::as_str).ok_or("缺少参数 msgtype")?;
    let part = body.get(msgtype).filter(|p| p.is_object()).ok_or_else(|| format!("缺少参数 {msgtype}"))?;
    let needs = |fields: &[&str]| match fields.iter().find(|f| !text(part, f)) {
        Some(missing) => Err(format!("缺少参数 {msgtype}.{missing}")),
        None => Ok(()),
    };
    match msgtype {
        "text" => needs(&["content"]),
        "markdown" => needs(&["title", "text"]),
        "link" => needs(&["title", "text", "messageUrl"]),
        "actionCard" => {
            needs(&["title", "text"])?;
            let single = text(part, "singleTitle") && text(part, "singleURL");
            let buttons = part
                .get("btns")
                .and_then(Value::as_array)
                .is_some_and(|btns| !btns.is_empty() && btns.iter().all(|b| text(b, "title") && text(b, "actionURL")));
            if single || buttons { Ok(()) } else { Err("缺少参数 actionCard.singleTitle/singleURL or btns".into()) }
        }
        "feedCard" => {
            let links = part.get("links").and_then(Value::as_array).is_some_and(|links| {
                !links.is_empty()
                    && links.iter().all(|l| text(l, "title") && text(l, "messageURL") && text(l, "picURL"))
            });
            if links { Ok(()) } else { Err("缺少参数 feedCard.links".into()) }
        }
        other => Err(format!("不支持的消息类型 {other}")),
    }
}
