//! Lark's Open Platform, as a local server: the tenant token endpoint
//! checking the app's id and secret, tenant tokens with their lifetime (and
//! ways to expire or refuse them early), the message reply API checking the
//! `Authorization` header and the body as Lark documents them (`msg_type`,
//! `content` a JSON string holding the message, `uuid` at most 50
//! characters, deduplicated for an hour), and the card callback's delayed
//! update with its update tokens (30 minutes, two updates). Lark's codes,
//! HTTP statuses and throttling answer (`x-ogw-ratelimit-reset`) are
//! answered as documented; every message the bot posted is kept in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::{Answer, FakeServer, Received};

pub const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
pub const CARD_UPDATE_PATH: &str = "/open-apis/interactive/v1/card/update";
const MESSAGES_PREFIX: &str = "/open-apis/im/v1/messages/";

/// Lark's codes, as the fake answers them.
pub const INVALID_PARAM: i64 = 10003;
pub const APP_SECRET_INVALID: i64 = 10014;
pub const MISSING_ACCESS_TOKEN: i64 = 99991661;
pub const INVALID_TENANT_TOKEN: i64 = 99991663;
pub const INVALID_ACCESS_TOKEN: i64 = 99991668;
pub const FREQUENCY_LIMIT: i64 = 99991400;
pub const INVALID_REQUEST_PARAMETER: i64 = 230001;
pub const BOT_NOT_IN_CHAT: i64 = 230002;
pub const MESSAGE_RECALLED: i64 = 230011;
/// A first-schema card updated without `open_ids` ("openid empty").
pub const OPEN_IDS_EMPTY: i64 = 300090;
/// A spent, expired or unknown card update token. Lark's documentation
/// gives no code for it that this repository could confirm: the fake's
/// own, which a client must treat as any other refusal.
pub const CARD_TOKEN_REFUSED: i64 = 300001;

pub const APP_ID: &str = "cli_a5d8c3f1e2b4";
pub const APP_SECRET: &str = "Sx7kLmN2pQ9rT4vW8yZ1bC3dF5gH6jK0";
pub const CHAT: &str = "oc_5ad11d72b830411d72b836c20";
/// A user who pressed a card's button.
pub const OPERATOR: &str = "ou_7d8a6e6df7621556ce0d21922b676706";

pub const TOKEN_LIFETIME: Duration = Duration::from_secs(7200);
pub const CARD_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);
pub const CARD_TOKEN_USES: u32 = 2;
/// How long Lark remembers a reply's `uuid`.
pub const UUID_WINDOW: Duration = Duration::from_secs(3600);
pub const MAX_UUID_CHARS: usize = 50;
/// What the throttling answer's `x-ogw-ratelimit-reset` says, in seconds.
pub const THROTTLE_RESET_SECS: u64 = 2;

const MSG_TYPES: &[&str] = &[
    "text",
    "post",
    "image",
    "file",
    "audio",
    "media",
    "sticker",
    "interactive",
    "share_chat",
    "share_user",
    "system",
];

/// A message in a chat: one the test put there, or one the bot posted.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub message_id: String,
    pub chat_id: String,
    /// The message it answers, for a reply.
    pub parent_id: Option<String>,
    pub msg_type: String,
    /// The `content` string as posted.
    pub content: String,
    pub uuid: Option<String>,
    /// Posted by the bot (through the API), not put there by the test.
    pub by_bot: bool,
    pub recalled: bool,
}

impl Message {
    /// `content`, parsed.
    pub fn content_json(&self) -> Value {
        serde_json::from_str(&self.content).unwrap_or(Value::Null)
    }
}

/// A card callback's update token.
#[derive(Clone, Debug, PartialEq)]
pub struct CardToken {
    /// The card message the callback came from.
    pub message_id: String,
    pub issued: SystemTime,
    pub uses: u32,
    /// The cards it updated the message to, in order.
    pub updates: Vec<Value>,
}

#[derive(Debug)]
pub struct Lark {
    pub app_id: String,
    pub app_secret: String,
    /// What `expire` the token endpoint answers, and how long tokens live.
    pub token_lifetime: Duration,
    /// Tenant token → when it expires.
    tokens: BTreeMap<String, Instant>,
    issued: usize,
    /// Refuse every tenant token, those issued later included.
    refuse_tokens: bool,
    /// The code an unknown or expired tenant token is refused with.
    pub token_refusal_code: i64,
    pub messages: Vec<Message>,
    /// uuid → (message id, when it was first used).
    uuids: BTreeMap<String, (String, SystemTime)>,
    pub card_tokens: BTreeMap<String, CardToken>,
    /// Chats the bot was removed from.
    pub left_chats: Vec<String>,
    /// How many of the next replies and updates are throttled.
    throttle: usize,
}

pub struct LarkServer {
    pub server: FakeServer<Lark>,
}

impl std::ops::Deref for LarkServer {
    type Target = FakeServer<Lark>;
    fn deref(&self) -> &FakeServer<Lark> {
        &self.server
    }
}

impl LarkServer {
    /// An app that Lark knows by `app_id` and `app_secret`, with no messages yet.
    pub async fn start(app_id: &str, app_secret: &str) -> Self {
        let state = Lark {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            token_lifetime: TOKEN_LIFETIME,
            tokens: BTreeMap::new(),
            issued: 0,
            refuse_tokens: false,
            token_refusal_code: INVALID_TENANT_TOKEN,
            messages: Vec::new(),
            uuids: BTreeMap::new(),
            card_tokens: BTreeMap::new(),
            left_chats: Vec::new(),
            throttle: 0,
        };
        LarkServer { server: FakeServer::start(state, Arc::new(respond)).await }
    }

    /// The settings of a client of this server's app.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let (app_id, app_secret) = self.with_state(|state| (state.app_id.clone(), state.app_secret.clone()));
        vec![("LARK_API_BASE", self.url.clone()), ("LARK_APP_ID", app_id), ("LARK_APP_SECRET", app_secret)]
    }

    /// A message from a user in `chat_id`, which the bot can answer: its id.
    pub fn add_message(&self, chat_id: &str) -> String {
        let message_id = self.with_state(|state| format!("om_{:032x}", state.messages.len() + 1));
        self.put_message(&message_id, chat_id);
        message_id
    }

    /// A message from a user with the id `message_id` (one a sample names).
    pub fn put_message(&self, message_id: &str, chat_id: &str) {
        self.with_state(|state| {
            state.messages.push(Message {
                message_id: message_id.into(),
                chat_id: chat_id.into(),
                parent_id: None,
                msg_type: "text".into(),
                content: json!({"text": "hello bot"}).to_string(),
                uuid: None,
                by_bot: false,
                recalled: false,
            })
        });
    }

    /// A card message of the bot in `chat_id` whose button was pressed
    /// `ago`: the card message's id and the callback's update token.
    pub fn add_card_callback(&self, chat_id: &str, ago: Duration) -> (String, String) {
        let message_id = self.add_message(chat_id);
        let token = self.with_state(|state| format!("c-{:040x}", state.card_tokens.len() + 1));
        self.put_card_token(&token, &message_id, ago);
        (message_id, token)
    }

    /// The update token `token` of a callback `ago` on the card `message_id`.
    pub fn put_card_token(&self, token: &str, message_id: &str, ago: Duration) {
        let issued = SystemTime::now() - ago;
        let card_token = CardToken { message_id: message_id.into(), issued, uses: 0, updates: Vec::new() };
        self.with_state(|state| state.card_tokens.insert(token.into(), card_token));
    }

    pub fn recall(&self, message_id: &str) {
        self.with_state(|state| {
            state.messages.iter_mut().filter(|m| m.message_id == message_id).for_each(|m| m.recalled = true)
        });
    }

    /// The bot is removed from `chat_id`.
    pub fn remove_bot(&self, chat_id: &str) {
        self.with_state(|state| state.left_chats.push(chat_id.into()));
    }

    /// Every tenant token issued so far expires now.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        self.with_state(|state| state.tokens.values_mut().for_each(|at| *at = now));
    }

    /// Every tenant token, those issued later included, is refused.
    pub fn refuse_tokens(&self) {
        self.with_state(|state| state.refuse_tokens = true);
    }

    /// The next `count` replies or updates are throttled: HTTP 429, code
    /// 99991400, `x-ogw-ratelimit-reset: 2`.
    pub fn throttle_next(&self, count: usize) {
        self.with_state(|state| state.throttle = count);
    }

    pub fn tokens_issued(&self) -> usize {
        self.with_state(|state| state.issued)
    }

    /// The tenant tokens the server issued and still takes.
    pub fn is_live_token(&self, token: &str) -> bool {
        self.with_state(|state| state.tokens.get(token).is_some_and(|at| Instant::now() < *at))
    }

    /// The messages the bot posted, in order.
    pub fn messages_posted(&self) -> Vec<Message> {
        self.with_state(|state| state.messages.iter().filter(|m| m.by_bot).cloned().collect())
    }

    pub fn card_token(&self, token: &str) -> Option<CardToken> {
        self.with_state(|state| state.card_tokens.get(token).cloned())
    }

    /// The requests to the token endpoint so far.
    pub fn token_requests(&self) -> Vec<Received> {
        self.received_at(TOKEN_PATH)
    }

    /// The requests to the reply API so far, whichever message they answer.
    pub fn reply_requests(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| reply_target(&r.path).is_some()).collect()
    }
}

/// The message id of a reply API path: `/open-apis/im/v1/messages/{id}/reply`.
pub fn reply_target(path: &str) -> Option<&str> {
    path.strip_prefix(MESSAGES_PREFIX)?.strip_suffix("/reply").filter(|id| !id.is_empty() && !id.contains('/'))
}

fn respond(state: &mut Lark, request: &Received) -> Answer {
    if request.method != "POST" {
        return Answer::json(404, json!({"code": 404, "msg": "404 page not found"}));
    }
    if request.path == TOKEN_PATH {
        return tenant_token(state, request);
    }
    let api: fn(&mut Lark, &Received, Value) -> Answer = if request.path == CARD_UPDATE_PATH {
        card_update
    } else if reply_target(&request.path).is_some() {
        reply
    } else {
        return Answer::json(404, json!({"code": 404, "msg": "404 page not found"}));
    };
    if let Some(refused) = authorize(state, request) {
        return refused;
    }
    if state.throttle > 0 {
        state.throttle -= 1;
        return Answer::json(429, json!({"code": FREQUENCY_LIMIT, "msg": "request trigger frequency limit"}))
            .with_header("x-ogw-ratelimit-limit", "5")
            .with_header("x-ogw-ratelimit-reset", &THROTTLE_RESET_SECS.to_string());
    }
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(body) if body.is_object() => api(state, request, body),
        _ => invalid("the body is not a JSON object"),
    }
}

fn invalid(ext: &str) -> Answer {
    lark_error(INVALID_REQUEST_PARAMETER, &format!("Your request contains an invalid request parameter, ext={ext}"))
}

fn lark_error(code: i64, msg: &str) -> Answer {
    Answer::json(400, json!({"code": code, "msg": msg, "error": {"log_id": "20240101000000FAKE"}}))
}

/// `POST auth/v3/tenant_access_token/internal` with `{"app_id", "app_secret"}`.
fn tenant_token(state: &mut Lark, request: &Received) -> Answer {
    let body = request.json();
    let (Some(app_id), Some(app_secret)) =
        (body.get("app_id").and_then(Value::as_str), body.get("app_secret").and_then(Value::as_str))
    else {
        return lark_error(INVALID_PARAM, "invalid param");
    };
    if app_id != state.app_id {
        return lark_error(INVALID_PARAM, "invalid param");
    }
    if app_secret != state.app_secret {
        return lark_error(APP_SECRET_INVALID, "app secret invalid");
    }
    state.issued += 1;
    let token = format!("t-g1044{:04}{}", state.issued, "FAKE5TENANT7TOKEN9");
    state.tokens.insert(token.clone(), Instant::now() + state.token_lifetime);
    Answer::json(
        200,
        json!({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": state.token_lifetime.as_secs()}),
    )
}

/// Lark's gateway: `Authorization: Bearer <tenant token>`, the token one
/// it issued and not expired. `None` when the call may go on.
fn authorize(state: &Lark, request: &Received) -> Option<Answer> {
    let Some(token) = request.header("authorization").and_then(|value| value.strip_prefix("Bearer ")) else {
        return Some(lark_error(
            MISSING_ACCESS_TOKEN,
            "Missing access token for authorization. Please make a request with token attached.",
        ));
    };
    let live = state.tokens.get(token).is_some_and(|at| Instant::now() < *at);
    if state.refuse_tokens || !live {
        return Some(lark_error(
            state.token_refusal_code,
            "Invalid access token for authorization. Please make a request with token attached.",
        ));
    }
    None
}

/// `POST im/v1/messages/{message_id}/reply`.
fn reply(state: &mut Lark, request: &Received, body: Value) -> Answer {
    let Some(parent_id) = reply_target(&request.path) else {
        return invalid("message_id");
    };
    let msg_type = body.get("msg_type").and_then(Value::as_str).unwrap_or_default();
    if !MSG_TYPES.contains(&msg_type) {
        return invalid("msg_type is required and must be a message type");
    }
    let Some(content) = body.get("content").and_then(Value::as_str) else {
        return invalid("content is required and must be a string");
    };
    let Ok(message) = serde_json::from_str::<Value>(content) else {
        return invalid("content is not a JSON string");
    };
    let shaped = match msg_type {
        "text" => message.get("text").and_then(Value::as_str).is_some_and(|text| !text.is_empty()),
        _ => message.is_object(),
    };
    if !shaped {
        return invalid(&format!("content does not hold a {msg_type} message"));
    }
    let uuid = match body.get("uuid") {
        None => None,
        Some(Value::String(uuid)) if uuid.chars().count() <= MAX_UUID_CHARS => Some(uuid.clone()),
        Some(_) => return invalid("uuid must be a string of at most 50 characters"),
    };
    let Some(parent) = state.messages.iter().find(|m| m.message_id == parent_id).cloned() else {
        return invalid("message_id does not exist");
    };
    if parent.recalled {
        return lark_error(MESSAGE_RECALLED, "The message was recalled.");
    }
    if state.left_chats.contains(&parent.chat_id) {
        return lark_error(BOT_NOT_IN_CHAT, "The bot can not be outside the group.");
    }
    let now = SystemTime::now();
    if let Some(uuid) = &uuid
        && let Some((message_id, first)) = state.uuids.get(uuid)
        && now.duration_since(*first).unwrap_or_default() < UUID_WINDOW
    {
        let message_id = message_id.clone();
        return posted(state, &message_id);
    }
    let message_id = format!("om_{:032x}", state.messages.len() + 1);
    state.messages.push(Message {
        message_id: message_id.clone(),
        chat_id: parent.chat_id.clone(),
        parent_id: Some(parent.message_id.clone()),
        msg_type: msg_type.into(),
        content: content.into(),
        uuid: uuid.clone(),
        by_bot: true,
        recalled: false,
    });
    if let Some(uuid) = uuid {
        state.uuids.insert(uuid, (message_id.clone(), now));
    }
    posted(state, &message_id)
}

/// The reply API's answer for a message the bot posted.
fn posted(state: &Lark, message_id: &str) -> Answer {
    let Some(message) = state.messages.iter().find(|m| m.message_id == message_id) else {
        return Answer::json(500, json!({"code": 1, "msg": "internal error"}));
    };
    Answer::json(
        200,
        json!({"code": 0, "msg": "success", "data": {
            "message_id": message.message_id,
            "root_id": message.parent_id,
            "parent_id": message.parent_id,
            "msg_type": message.msg_type,
            "create_time": "1700000000000",
            "update_time": "1700000000000",
            "deleted": false,
            "updated": false,
            "chat_id": message.chat_id,
            "sender": {"id": state.app_id, "id_type": "app_id", "sender_type": "app", "tenant_key": "736588c9260f175d"},
            "body": {"content": message.content},
        }}),
    )
}

/// `POST interactive/v1/card/update` with `{"token", "card"}`: the token
/// of a callback at most 30 minutes old, used at most twice.
fn card_update(state: &mut Lark, _request: &Received, body: Value) -> Answer {
    let (Some(token), Some(card)) = (body.get("token").and_then(Value::as_str), body.get("card")) else {
        return invalid("token and card are required");
    };
    let Some(card) = card.as_object() else {
        return invalid("card must be an object");
    };
    let schema_2 = card.get("schema").and_then(Value::as_str) == Some("2.0");
    let open_ids = card.get("open_ids").and_then(Value::as_array).is_some_and(|ids| !ids.is_empty());
    if !schema_2 && !open_ids {
        return lark_error(OPEN_IDS_EMPTY, "openid empty");
    }
    let Some(entry) = state.card_tokens.get_mut(token) else {
        return lark_error(CARD_TOKEN_REFUSED, "card token invalid");
    };
    let age = SystemTime::now().duration_since(entry.issued).unwrap_or_default();
    if age >= CARD_TOKEN_LIFETIME || entry.uses >= CARD_TOKEN_USES {
        return lark_error(CARD_TOKEN_REFUSED, "card token expired or used up");
    }
    entry.uses += 1;
    entry.updates.push(Value::Object(card.clone()));
    let message_id = entry.message_id.clone();
    if let Some(message) = state.messages.iter_mut().find(|m| m.message_id == message_id) {
        message.msg_type = "interactive".into();
        message.content = Value::Object(card.clone()).to_string();
    }
    Answer::json(200, json!({"code": 0, "msg": "success", "data": {}}))
}
