//! Telegram: a reply is a message of the bot the event came to, in the
//! event's chat, answering the event's message (Bot API `sendMessage` with
//! `reply_parameters`), or the event's message changed (`editMessageText`,
//! for the message whose inline button was pressed).
//!
//! - The bot is the event's tenant: the `{bot}` of `/telegram/{bot}`, the
//!   label of its `TELEGRAM_SECRET_TOKENS` entry. `TELEGRAM_BOT_TOKENS`
//!   holds each bot's token under the same label (`bot1=123:AA…,bot2=…`).
//! - The token is part of every URL (`/bot<token>/<method>`), so no URL is
//!   ever shown: reasons and log lines name the bot's label, and anything
//!   that could quote the URL has the token replaced.
//! - The card of a [`Reply`] is the message's `reply_markup` (an inline
//!   keyboard). Telegram sends no message without text, so a card needs one.
//! - A button press (`callback_query`) is answered (`answerCallbackQuery`)
//!   after the reply, so the user's button stops spinning; that answer is
//!   best effort, as Telegram takes it only for a short while.
//! - Telegram takes about one message a second per chat: replies to one
//!   chat are spaced by that inside one instance; its 429 names the wait
//!   for the rest.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use serde_json::{Map, Value, json};

use super::pace::Pacer;
use super::{Http, Outgoing, Reply, ReplyClient, ReplyError, ReplyTarget, Sent, api_base, by_status, not_configured};
use crate::aws::outbound::{Answer, json_request};
use crate::config::{EnvSource, optional};
use crate::error::ConfigError;
use crate::verify::{Secret, SecretList, truncate_for_log};

/// The provider whose events the client answers.
pub const PROVIDER: &str = "telegram";
pub const BOT_TOKENS: &str = "TELEGRAM_BOT_TOKENS";
pub const API_BASE: &str = "TELEGRAM_API_BASE";
/// The platform's own API host.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";

/// Telegram's limit on a message's text.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Telegram's limit per chat: about one message a second.
pub const PACE: Duration = Duration::from_secs(1);
/// The shortest secret part of a bot token BotFather issues (35 today):
/// shorter is a token cut when it was copied.
pub const MIN_TOKEN_SECRET_CHARS: usize = 30;

pub const VIA_SEND: &str = "telegram sendMessage";
pub const VIA_EDIT: &str = "telegram editMessageText";
pub const VIA_ANSWER_CALLBACK: &str = "telegram answerCallbackQuery";

/// What Telegram's `description` says when an edit changes nothing: the
/// message already is what the reply asks (a retry of an edit that went
/// through), so the reply is done.
const NOT_MODIFIED: &str = "message is not modified";
/// How much of Telegram's `description` a reason quotes.
const MAX_DESCRIPTION_CHARS: usize = 200;

pub struct TelegramClient {
    http: Http,
    /// Each bot's token by label; None when `TELEGRAM_BOT_TOKENS` is unset.
    tokens: Option<BTreeMap<String, Secret>>,
    api_base: String,
    pacer: Pacer,
}

impl std::fmt::Debug for TelegramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bots = self.tokens.as_ref().map(|tokens| tokens.keys().map(|bot| format!("{bot}=***")).collect::<Vec<_>>());
        f.debug_struct("TelegramClient").field("bots", &bots).field("api_base", &self.api_base).finish_non_exhaustive()
    }
}

impl TelegramClient {
    /// `TELEGRAM_BOT_TOKENS` may be unset (then every reply fails naming
    /// it), but one that is set must be well formed: a cut or mistyped
    /// token would otherwise surface only as refused replies.
    pub fn from_env(env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        let tokens = optional(env, BOT_TOKENS).map(|raw| parse_tokens(&raw)).transpose()?;
        Ok(TelegramClient {
            http: Http::new(connector),
            tokens,
            api_base: api_base(env, API_BASE, DEFAULT_API_BASE)?,
            pacer: Pacer::new(PACE),
        })
    }

    /// One Bot API call; every error it returns has the token replaced.
    async fn call(&self, token: &Secret, method: &str, api: &str, body: &Value) -> Result<Answer, ReplyError> {
        let url = format!("{}/bot{}/{method}", self.api_base, token.expose());
        self.http.call(api, json_request(http::Method::POST, &url, &[], body), &[token.expose()]).await
    }

    /// Stops the pressed button's spinner. Telegram takes this only for a
    /// short while after the press, and the reply is already posted, so a
    /// failure is logged and not returned.
    async fn answer_callback(&self, token: &Secret, bot: &str, query: &str, target: &ReplyTarget, now: SystemTime) {
        let body = json!({ "callback_query_id": query });
        let outcome = match self.call(token, "answerCallbackQuery", VIA_ANSWER_CALLBACK, &body).await {
            Ok(answer) => {
                judge(VIA_ANSWER_CALLBACK, bot, &answer, now).map(|_| ()).map_err(|error| scrub(error, token))
            }
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            tracing::warn!(event_id = %target.event_id, bot, "the button press was not answered: {error}");
        }
    }
}

#[async_trait]
impl ReplyClient for TelegramClient {
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<Sent, ReplyError> {
        let Outgoing { target, reply, now, .. } = outgoing;
        let tokens = self.tokens.as_ref().ok_or_else(|| not_configured(PROVIDER, BOT_TOKENS))?;
        let bot = target.tenant.as_deref().filter(|bot| !bot.is_empty()).ok_or_else(|| {
            ReplyError::permanent(format!(
                "telegram event {} names no bot (no tenant): inlet cannot tell whose token answers it",
                target.event_id
            ))
        })?;
        let token = tokens.get(bot).ok_or_else(|| {
            ReplyError::permanent(format!("{BOT_TOKENS} has no token for bot {}", truncate_for_log(bot)))
        })?;
        let call = request_of(target, reply)?;
        self.pacer.wait_turn(&format!("{bot}\n{}", call.chat)).await;
        let answer = self.call(token, call.method, call.api, &call.body).await?;
        let sent = judge(call.api, bot, &answer, now).map_err(|error| scrub(error, token))?;
        if let Some(query) = handle_id(target, "callback_query_id") {
            self.answer_callback(token, bot, &query, target, now).await;
        }
        Ok(sent)
    }
}

/// `bot=token` pairs, each token in BotFather's shape. Errors name the
/// setting and the bot, never a value.
fn parse_tokens(raw: &str) -> Result<BTreeMap<String, Secret>, ConfigError> {
    let list = SecretList::parse_labelled(BOT_TOKENS, raw)?;
    let prefix = format!("{BOT_TOKENS}:");
    let mut tokens = BTreeMap::new();
    for (index, entry) in list.iter().enumerate() {
        let label = entry.name.strip_prefix(&prefix).unwrap_or(&entry.name);
        if !is_bot_label(label) {
            return Err(ConfigError::new(
                BOT_TOKENS,
                format!("entry {}: a bot label is 1 to 64 of A-Z a-z 0-9 _ - (as in /telegram/{{bot}})", index + 1),
            ));
        }
        if !is_bot_token(entry.value.expose()) {
            return Err(ConfigError::new(
                BOT_TOKENS,
                format!(
                    "the token of bot {label} is not a Telegram bot token (digits, a colon, then at least \
                     {MIN_TOKEN_SECRET_CHARS} of A-Z a-z 0-9 _ -)"
                ),
            ));
        }
        if tokens.insert(label.to_string(), entry.value.clone()).is_some() {
            return Err(ConfigError::new(BOT_TOKENS, format!("bot {label} is named twice")));
        }
    }
    if tokens.is_empty() {
        return Err(ConfigError::new(BOT_TOKENS, "is set but names no bot=token pair"));
    }
    Ok(tokens)
}

/// The receiver's rule for `{bot}` in `/telegram/{bot}`.
fn is_bot_label(label: &str) -> bool {
    (1..=64).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `<bot id>:<secret>`, as BotFather issues it. Being this shape also
/// keeps the token from changing the URL it is put in.
fn is_bot_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && id.len() <= 20
        && id.bytes().all(|b| b.is_ascii_digit())
        && secret.len() >= MIN_TOKEN_SECRET_CHARS
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Replaces the token wherever a reason could hold it (a transport error or
/// an answer quoting the URL).
fn scrub(error: ReplyError, token: &Secret) -> ReplyError {
    super::scrub_reason(error, &[token.expose()])
}

/// One Bot API call to make.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub method: &'static str,
    pub api: &'static str,
    /// The chat, as the handle names it (the key of its pace).
    pub chat: String,
    pub body: Value,
}

/// A field of the handle as text: the receiver writes ids as strings, and
/// a handle written by hand may hold numbers.
fn handle_id(target: &ReplyTarget, name: &str) -> Option<String> {
    match target.handle.get(name)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A chat id as Telegram takes it: a number for a chat's id, a string for
/// a public chat's `@username`.
pub fn chat_id_json(chat: &str) -> Value {
    match chat.parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(chat),
    }
}

/// The call that sends `reply` to `target`: `sendMessage` answering the
/// handle's message, or `editMessageText` of it when the reply updates.
pub fn request_of(target: &ReplyTarget, reply: &Reply) -> Result<Call, ReplyError> {
    let text = reply.text_str().ok_or_else(|| {
        ReplyError::permanent(
            "a telegram reply needs a text: Telegram sends no message without one (a card is only its reply_markup)",
        )
    })?;
    let length = text.chars().count();
    if length > MAX_TEXT_CHARS {
        return Err(ReplyError::permanent(format!(
            "a telegram message is at most {MAX_TEXT_CHARS} characters; this text has {length}"
        )));
    }
    let markup = match &reply.card {
        None => None,
        Some(card @ Value::Object(_)) => Some(card.clone()),
        Some(_) => {
            return Err(ReplyError::permanent(
                "a telegram card is the message's reply_markup: a JSON object such as {\"inline_keyboard\": [[...]]}",
            ));
        }
    };
    let chat = handle_id(target, "chat_id").or_else(|| target.chat_id.clone()).ok_or_else(|| {
        ReplyError::permanent(format!(
            "the telegram reply handle of event {} has no chat_id (an inline-mode button press has no chat to answer in)",
            target.event_id
        ))
    })?;
    let message_id = match handle_id(target, "message_id") {
        None => None,
        Some(id) => Some(id.parse::<i64>().map_err(|_| {
            ReplyError::permanent(format!(
                "the telegram reply handle of event {} has a message_id that is not a number",
                target.event_id
            ))
        })?),
    };
    let mut body = Map::new();
    body.insert("chat_id".into(), chat_id_json(&chat));
    let (method, api) = if reply.update {
        let message_id = message_id.ok_or_else(|| {
            ReplyError::permanent(format!(
                "the telegram reply handle of event {} has no message_id of a message to edit",
                target.event_id
            ))
        })?;
        body.insert("message_id".into(), json!(message_id));
        body.insert("text".into(), json!(text));
        ("editMessageText", VIA_EDIT)
    } else {
        body.insert("text".into(), json!(text));
        if let Some(message_id) = message_id {
            // The reply still goes if the user deleted their message.
            body.insert(
                "reply_parameters".into(),
                json!({"message_id": message_id, "allow_sending_without_reply": true}),
            );
        }
        ("sendMessage", VIA_SEND)
    };
    if let Some(markup) = markup {
        body.insert("reply_markup".into(), markup);
    }
    Ok(Call { method, api, chat, body: Value::Object(body) })
}

/// Telegram's `description`, cut short.
fn description(json: Option<&Value>) -> String {
    let text = json.and_then(|j| j.get("description")).and_then(Value::as_str).unwrap_or("no description");
    match text.char_indices().nth(MAX_DESCRIPTION_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// What a Bot API answer means for a call of `api` by `bot`.
pub fn judge(api: &str, bot: &str, answer: &Answer, now: SystemTime) -> Result<Sent, ReplyError> {
    let json = answer.json();
    let parameters = json.as_ref().and_then(|j| j.get("parameters"));
    let described = description(json.as_ref());
    match answer.status {
        200..=299 => match json.as_ref().and_then(|j| j.get("ok")) {
            Some(Value::Bool(true)) => {
                let result = json.as_ref().and_then(|j| j.get("result"));
                let id = result.and_then(|r| r.get("message_id")).and_then(|id| match id {
                    Value::Number(n) => Some(n.to_string()),
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                });
                Ok(Sent::via(api).with_message_id(id))
            }
            Some(_) => Err(ReplyError::permanent(format!("{api} refused the reply: {described}"))),
            // Telegram always answers JSON: anything else came from
            // something on the way, and the next attempt may reach Telegram.
            None => Err(ReplyError::transient(format!("{api} answered {} without Telegram's JSON", answer.status))),
        },
        429 => {
            let after = parameters
                .and_then(|p| p.get("retry_after"))
                .and_then(Value::as_u64)
                .map(Duration::from_secs)
                .or_else(|| answer.retry_after(now));
            Err(ReplyError::transient_after(after, format!("{api} is throttled: {described}")))
        }
        401 => Err(ReplyError::permanent(format!(
            "the bot token of {} was refused (401 Unauthorized): set its current token in {BOT_TOKENS}",
            truncate_for_log(bot)
        ))),
        400 if api == VIA_EDIT && described.contains(NOT_MODIFIED) => Ok(Sent::via(api)),
        400 | 403 => {
            let migrated = parameters.and_then(|p| p.get("migrate_to_chat_id")).and_then(Value::as_i64);
            let note = migrated.map(|id| format!(" (the group is now the supergroup {id})")).unwrap_or_default();
            Err(ReplyError::permanent(format!("{api} refused the reply: {described}{note}")))
        }
        _ => Err(by_status(api, answer, now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Retry;
    use crate::reply::testing::{NOW, answer};
    use crate::reply::without_secrets;

    const TOKEN: &str = "123456789:AAHhiddenHIDDENhiddenHIDDEN_hidden-xyz";

    fn target(handle: Value) -> ReplyTarget {
        crate::reply::testing::target(PROVIDER, "telegram:bot1:7", Some("bot1"), Some("42"), handle)
    }

    fn client(env: &[(&str, &str)]) -> Result<TelegramClient, ConfigError> {
        crate::reply::testing::client(env, TelegramClient::from_env)
    }

    #[test]
    fn bot_tokens_are_labelled_pairs_in_botfathers_shape_and_errors_name_the_bot_not_the_token() {
        let tokens = parse_tokens(&format!("bot1={TOKEN}, bot-2 = 42:{}", "x".repeat(30))).unwrap();
        assert_eq!(tokens.keys().collect::<Vec<_>>(), ["bot-2", "bot1"]);
        assert_eq!(tokens["bot1"].expose(), TOKEN);
        assert!(client(&[]).unwrap().tokens.is_none(), "unset: replies fail naming the setting");
        for (raw, names) in [
            (format!("bot1={TOKEN},bot2"), ""),
            (format!("bot1=123:hiddenhidden{}", "x".repeat(10)), "bot1"),
            ("bot1=hiddenhiddenhiddenhiddenhiddenhidden".to_string(), "bot1"),
            (format!("bot1=abc:{}", "hidden".repeat(6)), "bot1"),
            (format!("bot1=1:{}/x", "hidden".repeat(6)), "bot1"),
            (format!("bot1=1:{} x", "hidden".repeat(6)), "bot1"),
            (format!("bot1={TOKEN},bot1={TOKEN}"), "bot1"),
            (format!("a/b={TOKEN}"), "entry 1"),
            (" , ".to_string(), ""),
        ] {
            let error = client(&[(BOT_TOKENS, &raw)]).expect_err(&raw);
            assert_eq!(error.name, BOT_TOKENS, "{raw}");
            assert!(error.reason.contains(names), "{raw}: {}", error.reason);
            assert!(
                !error.to_string().to_lowercase().contains("hidden") && !error.to_string().contains(TOKEN),
                "{error}"
            );
        }
        assert_eq!(client(&[(API_BASE, "ftp://x")]).unwrap_err().name, API_BASE);
    }

    #[test]
    fn debug_output_names_the_bots_and_hides_their_tokens() {
        let shown = format!("{:?}", client(&[(BOT_TOKENS, &format!("bot1={TOKEN}"))]).unwrap());
        assert!(
            shown.contains("bot1=***") && !shown.to_lowercase().contains("hidden") && !shown.contains("123456789"),
            "{shown}"
        );
    }

    #[test]
    fn a_new_reply_answers_the_events_message_and_an_update_edits_it() {
        let handle = json!({"chat_id": "42", "message_id": "7"});
        let call = request_of(&target(handle.clone()), &Reply::text("pong")).unwrap();
        assert_eq!((call.method, call.api, call.chat.as_str()), ("sendMessage", VIA_SEND, "42"));
        assert_eq!(
            call.body,
            json!({"chat_id": 42, "text": "pong", "reply_parameters": {"message_id": 7, "allow_sending_without_reply": true}})
        );
        let keyboard = json!({"inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]});
        let update = Reply { text: Some("done".into()), card: Some(keyboard.clone()), update: true };
        let call = request_of(&target(handle), &update).unwrap();
        assert_eq!((call.method, call.api), ("editMessageText", VIA_EDIT));
        assert_eq!(call.body, json!({"chat_id": 42, "message_id": 7, "text": "done", "reply_markup": keyboard}));
    }

    #[test]
    fn chat_ids_are_numbers_unless_they_are_usernames_and_handles_may_hold_numbers() {
        assert_eq!(chat_id_json("-1001234567890"), json!(-1001234567890_i64));
        assert_eq!(chat_id_json("@channel"), json!("@channel"));
        let call = request_of(&target(json!({"chat_id": -5, "message_id": 9})), &Reply::text("hi")).unwrap();
        assert_eq!(call.body["chat_id"], json!(-5));
        assert_eq!(call.body["reply_parameters"]["message_id"], json!(9));
        let no_message = request_of(&target(json!({"chat_id": "42"})), &Reply::text("hi")).unwrap();
        assert_eq!(
            no_message.body,
            json!({"chat_id": 42, "text": "hi"}),
            "without a message to answer, a plain message"
        );
    }

    #[test]
    fn what_telegram_cannot_send_is_refused_before_any_request() {
        let handle = json!({"chat_id": "42", "message_id": "7"});
        let refused = |handle: Value, reply: Reply| request_of(&target(handle), &reply).unwrap_err();
        let card_only = Reply { card: Some(json!({"inline_keyboard": []})), ..Reply::default() };
        let error = refused(handle.clone(), card_only);
        assert!(error.is_permanent() && error.reason.contains("needs a text"), "{error}");
        let long = refused(handle.clone(), Reply::text("é".repeat(MAX_TEXT_CHARS + 1)));
        assert!(long.is_permanent() && long.reason.contains("4096"), "{long}");
        assert!(request_of(&target(handle.clone()), &Reply::text("é".repeat(MAX_TEXT_CHARS))).is_ok());
        let array = Reply { text: Some("hi".into()), card: Some(json!([1])), update: false };
        assert!(refused(handle.clone(), array).reason.contains("reply_markup"));
        let update = Reply { update: true, ..Reply::text("hi") };
        assert!(refused(json!({"chat_id": "42"}), update).reason.contains("message_id"));
        let mut inline = target(json!({"callback_query_id": "q"}));
        inline.chat_id = None;
        assert!(request_of(&inline, &Reply::text("hi")).unwrap_err().reason.contains("chat_id"));
        assert!(refused(json!({"chat_id": "42", "message_id": "x"}), Reply::text("hi")).is_permanent());
    }

    #[test]
    fn answers_are_sent_throttled_or_refused_as_telegram_documents() {
        let ok = judge(VIA_SEND, "bot1", &answer(200, json!({"ok": true, "result": {"message_id": 8}})), NOW);
        assert_eq!(ok.unwrap(), Sent::via(VIA_SEND).with_message_id(Some("8".into())));
        let throttled = json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 5",
            "parameters": {"retry_after": 5}});
        let error = judge(VIA_SEND, "bot1", &answer(429, throttled), NOW).unwrap_err();
        assert_eq!(error.retry, Retry::Later { after: Some(Duration::from_secs(5)) });
        let mut header_only = answer(429, json!({"ok": false}));
        header_only.headers.insert("retry-after", http::HeaderValue::from_static("3"));
        let error = judge(VIA_SEND, "bot1", &header_only, NOW).unwrap_err();
        assert_eq!(error.retry, Retry::Later { after: Some(Duration::from_secs(3)) });
        let unauthorized = json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
        let error = judge(VIA_SEND, "bot1", &answer(401, unauthorized), NOW).unwrap_err();
        assert!(error.is_permanent(), "{error}");
        assert!(error.reason.starts_with("the bot token of bot1 was refused (401 Unauthorized)"), "{error}");
        for (status, description) in
            [(400, "Bad Request: chat not found"), (403, "Forbidden: bot was blocked by the user")]
        {
            let body = json!({"ok": false, "error_code": status, "description": description});
            let error = judge(VIA_SEND, "bot1", &answer(status, body), NOW).unwrap_err();
            assert!(error.is_permanent() && error.reason.contains(description), "{error}");
        }
        let migrated = json!({"ok": false, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat", "parameters": {"migrate_to_chat_id": -1001}});
        assert!(judge(VIA_SEND, "bot1", &answer(400, migrated), NOW).unwrap_err().reason.contains("-1001"));
        for status in [500, 502, 503] {
            assert!(!judge(VIA_SEND, "bot1", &answer(status, json!({"ok": false})), NOW).unwrap_err().is_permanent());
        }
        let html = Answer { status: 200, headers: http::HeaderMap::new(), body: b"<html>".to_vec() };
        assert!(!judge(VIA_SEND, "bot1", &html, NOW).unwrap_err().is_permanent());
    }

    #[test]
    fn an_edit_that_changes_nothing_is_done_and_the_same_answer_to_a_send_is_not() {
        let body = json!({"ok": false, "error_code": 400,
            "description": "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"});
        assert_eq!(judge(VIA_EDIT, "bot1", &answer(400, body.clone()), NOW).unwrap(), Sent::via(VIA_EDIT));
        assert!(judge(VIA_SEND, "bot1", &answer(400, body), NOW).unwrap_err().is_permanent());
    }

    #[test]
    fn a_reason_that_would_quote_the_token_has_it_replaced() {
        let token = Secret::new(TOKEN);
        let error = scrub(ReplyError::transient(format!("not sent: error for /bot{TOKEN}/sendMessage")), &token);
        assert_eq!(error.reason, "not sent: error for /bot<token>/sendMessage");
        let body = format!("{{\"description\": \"/bot{TOKEN}/x and {TOKEN}\"}}").into_bytes();
        assert_eq!(without_secrets(body, &[TOKEN]), br#"{"description": "/bot<token>/x and <token>"}"#);
        assert_eq!(without_secrets(b"\xff plain".to_vec(), &[TOKEN]), b"\xff plain", "bytes kept as they came");
    }
}
