//! Telegram's Bot API, as a local server:
//!
//! - `POST /bot<token>/<method>` with a JSON body; a token it does not know
//!   answers 401 `Unauthorized`, an unknown method 404 `Not Found`;
//! - `sendMessage`: the chat must be one it knows (`chat not found`), the
//!   text present and at most 4096 characters (`message text is empty`,
//!   `message is too long`), `reply_parameters` must name a message of the
//!   chat unless `allow_sending_without_reply`, `reply_markup` must be an
//!   object. Message ids count up per chat, as Telegram's do;
//! - `editMessageText`: the message must exist (`message to edit not
//!   found`), be the bot's own (`message can't be edited`), and change
//!   (`message is not modified`);
//! - `answerCallbackQuery`: a button press it issued, answered once (after
//!   that, or for one it never issued, `query is too old…`);
//! - a script for the next calls, or the next calls of one method (after
//!   the token check): throttling (429 with `parameters.retry_after`) or
//!   any other answer.
//!
//! Answers are Telegram's: `{"ok": true, "result": …}` or
//! `{"ok": false, "error_code": …, "description": …}`. Every request is
//! recorded (`FakeServer::received`), and each chat's messages are kept.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};

use super::{Answer, FakeServer, Received};

pub const MAX_TEXT_CHARS: usize = 4096;

/// A message in a chat, as the chat shows it now.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: i64,
    /// The bot's label when the bot sent it; None for a user's message.
    pub from_bot: Option<String>,
    pub text: String,
    pub reply_to: Option<i64>,
    pub reply_markup: Option<Value>,
    /// How often it was edited.
    pub edits: u32,
}

#[derive(Clone, Debug, Default)]
pub struct Chat {
    pub messages: BTreeMap<i64, Message>,
    last_id: i64,
}

#[derive(Debug, Default)]
pub struct TelegramState {
    /// Bot label by token.
    pub bots: BTreeMap<String, String>,
    /// Chats by id (`42`, `-100123`, `@channel`).
    pub chats: BTreeMap<String, Chat>,
    /// Issued button presses: whether each was answered.
    pub callback_queries: BTreeMap<String, bool>,
    /// Answers to the next calls, after the token check.
    pub script: VecDeque<Answer>,
    /// Answers to the next calls of one method, after the token check.
    pub method_scripts: BTreeMap<String, VecDeque<Answer>>,
}

pub type TelegramServer = FakeServer<TelegramState>;

/// A Telegram with `bots` (`(label, token)`) and `chats`.
pub async fn start(bots: &[(&str, &str)], chats: &[&str]) -> TelegramServer {
    let state = TelegramState {
        bots: bots.iter().map(|(label, token)| (token.to_string(), label.to_string())).collect(),
        chats: chats.iter().map(|chat| (chat.to_string(), Chat::default())).collect(),
        ..TelegramState::default()
    };
    FakeServer::start(state, Arc::new(respond)).await
}

impl FakeServer<TelegramState> {
    /// `TELEGRAM_API_BASE` for inlet.
    pub fn api_base(&self) -> String {
        self.url.clone()
    }

    /// A user's message in `chat` (what an event would answer); its id.
    pub fn user_message(&self, chat: &str, text: &str) -> i64 {
        self.with_state(|state| add_message(state, chat, None, text, None, None))
    }

    /// A message `bot` sent in `chat` earlier, with `markup` (the buttons
    /// a user may press); its id.
    pub fn bot_message(&self, bot: &str, chat: &str, text: &str, markup: Option<Value>) -> i64 {
        self.with_state(|state| add_message(state, chat, Some(bot.to_string()), text, None, markup))
    }

    /// A button press Telegram would send as `callback_query` `id`.
    pub fn press(&self, id: &str) {
        self.with_state(|state| state.callback_queries.insert(id.to_string(), false));
    }

    pub fn was_answered(&self, query: &str) -> bool {
        self.with_state(|state| state.callback_queries.get(query).copied().unwrap_or(false))
    }

    /// The next `times` calls answer 429, asking to wait `retry_after` seconds.
    pub fn throttle(&self, times: usize, retry_after: u64) {
        let answer = Answer::json(
            429,
            json!({"ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {retry_after}"),
                "parameters": {"retry_after": retry_after}}),
        )
        .with_header("Retry-After", &retry_after.to_string());
        self.with_state(|state| state.script.extend(std::iter::repeat_n(answer, times)));
    }

    /// The next call answers `answer`.
    pub fn script(&self, answer: Answer) {
        self.with_state(|state| state.script.push_back(answer));
    }

    /// The next call of `method` answers `answer`.
    pub fn script_for(&self, method: &str, answer: Answer) {
        self.with_state(|state| state.method_scripts.entry(method.to_string()).or_default().push_back(answer));
    }

    pub fn message(&self, chat: &str, id: i64) -> Option<Message> {
        self.with_state(|state| state.chats.get(chat).and_then(|c| c.messages.get(&id).cloned()))
    }

    pub fn messages(&self, chat: &str) -> Vec<Message> {
        self.with_state(|state| {
            state.chats.get(chat).map(|c| c.messages.values().cloned().collect()).unwrap_or_default()
        })
    }

    /// The requests for the Bot API method `method`, whatever the token.
    pub fn calls_to(&self, method: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| method_of(r).is_some_and(|(_, m)| m == method)).collect()
    }
}

fn add_message(
    state: &mut TelegramState,
    chat: &str,
    from_bot: Option<String>,
    text: &str,
    reply_to: Option<i64>,
    reply_markup: Option<Value>,
) -> i64 {
    let chat = state.chats.entry(chat.to_string()).or_default();
    chat.last_id += 1;
    let id = chat.last_id;
    let message = Message { id, from_bot, text: text.to_string(), reply_to, reply_markup, edits: 0 };
    chat.messages.insert(id, message);
    id
}

/// `(token, method)` of `/bot<token>/<method>`.
fn method_of(request: &Received) -> Option<(&str, &str)> {
    request.path.strip_prefix("/bot")?.split_once('/')
}

fn error(status: u16, description: &str) -> Answer {
    Answer::json(status, json!({"ok": false, "error_code": status, "description": description}))
}

fn bad_request(description: &str) -> Answer {
    error(400, &format!("Bad Request: {description}"))
}

fn respond(state: &mut TelegramState, request: &Received) -> Answer {
    let Some((token, method)) = method_of(request) else {
        return error(404, "Not Found");
    };
    let Some(bot) = state.bots.get(token).cloned() else {
        return error(401, "Unauthorized");
    };
    if let Some(answer) = state.script.pop_front() {
        return answer;
    }
    if let Some(answer) = state.method_scripts.get_mut(method).and_then(VecDeque::pop_front) {
        return answer;
    }
    // Telegram also takes GET and forms; inlet sends JSON by POST, and
    // only that is accepted here so that a change shows.
    let json = request.header("content-type").is_some_and(|v| v.starts_with("application/json"));
    if request.method != "POST" || !json {
        return bad_request("inlet's fake Telegram takes only POST with a JSON body");
    }
    let body = request.json();
    if !body.is_object() {
        return bad_request("can't parse JSON object");
    }
    match method {
        "sendMessage" => send_message(state, &bot, &body),
        "editMessageText" => edit_message_text(state, &body),
        "answerCallbackQuery" => answer_callback_query(state, &body),
        _ => error(404, "Not Found"),
    }
}

/// The chat a request names, as this server keys it: Telegram takes a
/// numeric id as a number or as its decimal text.
fn chat_of<'a>(state: &'a mut TelegramState, body: &Value) -> Result<(String, &'a mut Chat), Answer> {
    let key = match body.get("chat_id") {
        None | Some(Value::Null) => return Err(bad_request("chat_id is empty")),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if s.is_empty() => return Err(bad_request("chat_id is empty")),
        Some(Value::String(s)) => s.parse::<i64>().map(|n| n.to_string()).unwrap_or_else(|_| s.clone()),
        Some(_) => return Err(bad_request("chat not found")),
    };
    match state.chats.get_mut(&key) {
        Some(chat) => Ok((key, chat)),
        None => Err(bad_request("chat not found")),
    }
}

fn text_of(body: &Value) -> Result<String, Answer> {
    let text = body.get("text").and_then(Value::as_str).unwrap_or_default();
    if text.trim().is_empty() {
        return Err(bad_request("message text is empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(bad_request("message is too long"));
    }
    Ok(text.to_string())
}

fn markup_of(body: &Value) -> Result<Option<Value>, Answer> {
    match body.get("reply_markup") {
        None => Ok(None),
        Some(markup @ Value::Object(fields)) => {
            if let Some(keyboard) = fields.get("inline_keyboard")
                && !keyboard.as_array().is_some_and(|rows| rows.iter().all(Value::is_array))
            {
                return Err(bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array"));
            }
            Ok(Some(markup.clone()))
        }
        Some(_) => Err(bad_request("can't parse reply keyboard markup JSON object")),
    }
}

fn sent(chat: &str, message: &Message) -> Answer {
    let chat_id = chat.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(chat));
    let mut result = json!({
        "message_id": message.id,
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private"},
        "text": message.text,
    });
    if let Some(markup) = &message.reply_markup {
        result["reply_markup"] = markup.clone();
    }
    Answer::json(200, json!({"ok": true, "result": result}))
}

fn send_message(state: &mut TelegramState, bot: &str, body: &Value) -> Answer {
    let (key, chat) = match chat_of(state, body) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let exists = |id: i64| chat.messages.contains_key(&id);
    let reply_to = match body.get("reply_parameters") {
        None => None,
        Some(parameters) => {
            let Some(id) = parameters.get("message_id").and_then(Value::as_i64) else {
                return bad_request("field \"message_id\" must be of type Integer");
            };
            let without = parameters.get("allow_sending_without_reply") == Some(&Value::Bool(true));
            match (exists(id), without) {
                (true, _) => Some(id),
                (false, true) => None,
                (false, false) => return bad_request("message to be replied not found"),
            }
        }
    };
    let (text, markup) = match (text_of(body), markup_of(body)) {
        (Ok(text), Ok(markup)) => (text, markup),
        (Err(answer), _) | (_, Err(answer)) => return answer,
    };
    let id = add_message(state, &key, Some(bot.to_string()), &text, reply_to, markup);
    let message = state.chats[&key].messages[&id].clone();
    sent(&key, &message)
}

fn edit_message_text(state: &mut TelegramState, body: &Value) -> Answer {
    let (key, chat) = match chat_of(state, body) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Some(id) = body.get("message_id").and_then(Value::as_i64) else {
        return bad_request("message identifier is not specified");
    };
    let (text, markup) = match (text_of(body), markup_of(body)) {
        (Ok(text), Ok(markup)) => (text, markup),
        (Err(answer), _) | (_, Err(answer)) => return answer,
    };
    let Some(message) = chat.messages.get_mut(&id) else {
        return bad_request("message to edit not found");
    };
    if message.from_bot.is_none() {
        return bad_request("message can't be edited");
    }
    if message.text == text && message.reply_markup == markup {
        return bad_request(
            "message is not modified: specified new message content and reply markup are exactly the same as a \
             current content and reply markup of the message",
        );
    }
    message.text = text;
    message.reply_markup = markup;
    message.edits += 1;
    let message = message.clone();
    sent(&key, &message)
}

fn answer_callback_query(state: &mut TelegramState, body: &Value) -> Answer {
    let id = body.get("callback_query_id").and_then(Value::as_str).unwrap_or_default();
    match state.callback_queries.get_mut(id) {
        Some(answered) if !*answered => {
            *answered = true;
            Answer::json(200, json!({"ok": true, "result": true}))
        }
        _ => bad_request("query is too old and response timeout expired or query ID is invalid"),
    }
}
