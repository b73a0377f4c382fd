//! WeCom's server API, as a local server: `gettoken` checking the corp id
//! and the app's secret, access tokens with their two hours (and a way to
//! expire or revoke them early), `message/send` and `appchat/send` checking
//! the token and the body as WeCom documents it (`agentid` an integer, the
//! recipient, `msgtype` and its field, text within 2048 bytes), WeCom's
//! error codes, and a throttle script for its frequency limits. Every
//! message it took is kept in order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Answer, FakeServer, Received};

pub const GETTOKEN_PATH: &str = "/cgi-bin/gettoken";
pub const MESSAGE_SEND_PATH: &str = "/cgi-bin/message/send";
pub const APPCHAT_SEND_PATH: &str = "/cgi-bin/appchat/send";

/// WeCom's codes, as the fake answers them.
pub const INVALID_SECRET: i64 = 40001;
pub const INVALID_CORP_ID: i64 = 40013;
pub const INVALID_ACCESS_TOKEN: i64 = 40014;
pub const EXPIRED_ACCESS_TOKEN: i64 = 42001;
pub const MISSING_ACCESS_TOKEN: i64 = 41001;
pub const INVALID_MSGTYPE: i64 = 40008;
pub const INVALID_AGENT_ID: i64 = 40056;
pub const CHAT_NOT_FOUND: i64 = 40050;
pub const EMPTY_CONTENT: i64 = 44004;
pub const CONTENT_TOO_LONG: i64 = 45002;
pub const FREQUENCY_LIMIT: i64 = 45009;
pub const DATA_FORMAT_ERROR: i64 = 47001;
pub const ALL_RECIPIENTS_INVALID: i64 = 81013;

pub const TOKEN_LIFETIME: Duration = Duration::from_secs(7200);
pub const MAX_TEXT_BYTES: usize = 2048;
const MSGTYPES: &[&str] = &[
    "text",
    "image",
    "voice",
    "video",
    "file",
    "textcard",
    "news",
    "mpnews",
    "markdown",
    "miniprogram_notice",
    "template_card",
];

/// A message the server took.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivered {
    /// `message/send` or `appchat/send`.
    pub api: String,
    pub body: Value,
    pub msgid: Option<String>,
}

#[derive(Debug)]
pub struct WeCom {
    pub corp_id: String,
    pub secret: String,
    pub agent_id: i64,
    /// Members the app can reach.
    pub users: BTreeSet<String>,
    /// Group chats the app created.
    pub chats: BTreeSet<String>,
    /// Token → when it expires.
    tokens: BTreeMap<String, Instant>,
    issued: usize,
    /// Refuse every token as invalid, new ones included.
    refuse_tokens: bool,
    /// How many of the next sends are refused for frequency.
    throttle: usize,
    pub delivered: Vec<Delivered>,
}

pub struct FakeWeCom {
    pub server: FakeServer<WeCom>,
}

pub const CORP_ID: &str = "ww0a1b2c3d4e5f6789";
pub const SECRET: &str = "sEcReT-9f8e7d6c5b4a-app-secret";
pub const AGENT_ID: i64 = 1000002;
pub const USER: &str = "zhangsan";
pub const CHAT: &str = "wrkSFfCgAAtMQKg4xqDatLhsc";

impl FakeWeCom {
    /// A corp with one app ([`CORP_ID`], [`SECRET`], [`AGENT_ID`]), one
    /// member ([`USER`]) and one group chat ([`CHAT`]).
    pub async fn start() -> Self {
        let state = WeCom {
            corp_id: CORP_ID.into(),
            secret: SECRET.into(),
            agent_id: AGENT_ID,
            users: [USER.to_string()].into(),
            chats: [CHAT.to_string()].into(),
            tokens: BTreeMap::new(),
            issued: 0,
            refuse_tokens: false,
            throttle: 0,
            delivered: Vec::new(),
        };
        FakeWeCom { server: FakeServer::start(state, Arc::new(respond)).await }
    }

    /// The settings of a client of this server's app.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("WECOM_API_BASE", self.server.url.clone()),
            ("WECOM_CORP_ID", CORP_ID.into()),
            ("WECOM_CORP_SECRET", SECRET.into()),
            ("WECOM_AGENT_ID", AGENT_ID.to_string()),
        ]
    }

    /// Every token issued so far expires now (WeCom answers 42001).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        self.server.with_state(|state| state.tokens.values_mut().for_each(|at| *at = now));
    }

    /// Every token, those issued later included, is refused as invalid (40014).
    pub fn refuse_tokens(&self) {
        self.server.with_state(|state| state.refuse_tokens = true);
    }

    /// The next `count` sends are refused for frequency (45009).
    pub fn throttle_next(&self, count: usize) {
        self.server.with_state(|state| state.throttle = count);
    }

    pub fn tokens_issued(&self) -> usize {
        self.server.with_state(|state| state.issued)
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.server.with_state(|state| state.delivered.clone())
    }

    pub fn received(&self) -> Vec<Received> {
        self.server.received()
    }

    pub fn received_at(&self, path: &str) -> Vec<Received> {
        self.server.received_at(path)
    }

    /// The API base (`WECOM_API_BASE`).
    pub fn url(&self) -> String {
        self.server.url.clone()
    }
}

fn error(code: i64, message: &str) -> Answer {
    Answer::json(200, json!({"errcode": code, "errmsg": format!("{message}, hint: [fake]")}))
}

fn respond(state: &mut WeCom, request: &Received) -> Answer {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", GETTOKEN_PATH) => gettoken(state, request),
        ("POST", MESSAGE_SEND_PATH) | ("POST", APPCHAT_SEND_PATH) => send(state, request),
        _ => Answer::json(404, json!({"errcode": 404, "errmsg": "not found"})),
    }
}

fn gettoken(state: &mut WeCom, request: &Received) -> Answer {
    if request.query.get("corpid") != Some(&state.corp_id) {
        return error(INVALID_CORP_ID, "invalid corpid");
    }
    if request.query.get("corpsecret") != Some(&state.secret) {
        return error(INVALID_SECRET, "invalid credential");
    }
    state.issued += 1;
    let token = format!("tok{:04}-5b0c9e1d7a", state.issued);
    state.tokens.insert(token.clone(), Instant::now() + TOKEN_LIFETIME);
    Answer::json(
        200,
        json!({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": TOKEN_LIFETIME.as_secs()}),
    )
}

fn send(state: &mut WeCom, request: &Received) -> Answer {
    let Some(token) = request.query.get("access_token").filter(|t| !t.is_empty()) else {
        return error(MISSING_ACCESS_TOKEN, "access_token missing");
    };
    match state.tokens.get(token) {
        _ if state.refuse_tokens => return error(INVALID_ACCESS_TOKEN, "invalid access_token"),
        None => return error(INVALID_ACCESS_TOKEN, "invalid access_token"),
        Some(at) if Instant::now() >= *at => return error(EXPIRED_ACCESS_TOKEN, "access_token expired"),
        Some(_) => {}
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(DATA_FORMAT_ERROR, "data format error");
    };
    let appchat = request.path == APPCHAT_SEND_PATH;
    let mut invalid_users = String::new();
    if appchat {
        let chat = body.get("chatid").and_then(Value::as_str).unwrap_or_default();
        if !state.chats.contains(chat) {
            return error(CHAT_NOT_FOUND, "chatid not found");
        }
    } else {
        match body.get("agentid") {
            Some(id) if id.is_i64() => {
                if id.as_i64() != Some(state.agent_id) {
                    return error(INVALID_AGENT_ID, "invalid agentid: not the app of this access_token");
                }
            }
            _ => return error(INVALID_AGENT_ID, "invalid agentid"),
        }
        let users = body.get("touser").and_then(Value::as_str).unwrap_or_default();
        let (known, unknown): (Vec<&str>, Vec<&str>) =
            users.split('|').filter(|u| !u.is_empty()).partition(|u| state.users.contains(*u) || *u == "@all");
        if known.is_empty() {
            return Answer::json(
                200,
                json!({"errcode": ALL_RECIPIENTS_INVALID, "errmsg": "user & party & tag all invalid, hint: [fake]",
                       "invaliduser": unknown.join("|")}),
            );
        }
        invalid_users = unknown.join("|");
    }
    if let Err((code, why)) = check_message(&body) {
        return error(code, &why);
    }
    if state.throttle > 0 {
        state.throttle -= 1;
        return error(FREQUENCY_LIMIT, "api freq out of limit");
    }
    let msgid = (!appchat).then(|| format!("msg{:04}", state.delivered.len() + 1));
    let api = if appchat { "appchat/send" } else { "message/send" };
    state.delivered.push(Delivered { api: api.into(), body, msgid: msgid.clone() });
    let mut answer = json!({"errcode": 0, "errmsg": "ok"});
    if let Some(msgid) = msgid {
        answer["msgid"] = json!(msgid);
        answer["invaliduser"] = json!(invalid_users);
    }
    Answer::json(200, answer)
}

/// `msgtype` and its field, as WeCom documents them.
pub fn check_message(body: &Value) -> Result<(), (i64, String)> {
    let msgtype = body.get("msgtype").and_then(Value::as_str).unwrap_or_default();
    if !MSGTYPES.contains(&msgtype) {
        return Err((INVALID_MSGTYPE, "invalid message type".into()));
    }
    let Some(part) = body.get(msgtype).filter(|p| p.is_object()) else {
        return Err((INVALID_MSGTYPE, format!("invalid message type: missing {msgtype}")));
    };
    if matches!(msgtype, "text" | "markdown") {
        let content = part.get("content").and_then(Value::as_str).unwrap_or_default();
        if content.is_empty() {
            return Err((EMPTY_CONTENT, "empty content".into()));
        }
        if msgtype == "text" && content.len() > MAX_TEXT_BYTES {
            return Err((CONTENT_TOO_LONG, "content size out of limit".into()));
        }
    }
    Ok(())
}
