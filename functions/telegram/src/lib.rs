//! Telegram bots: `POST /telegram/{bot}`, one deployment for several bots.
//!
//! Telegram signs nothing; `setWebhook(secret_token=…)` makes it send the
//! secret verbatim in `X-Telegram-Bot-Api-Secret-Token`, compared here in
//! constant time with that bot's configured secret(s).

use std::borrow::Cow;

use inlet_shared::envelope::Payload;
use inlet_shared::json::{Checked, Field, Key};
use inlet_shared::prelude::*;
use inlet_shared::verify::constant_time_eq;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

pub mod samples;

pub const PROVIDER: &str = "telegram";
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
const SETTING: &str = "TELEGRAM_SECRET_TOKENS";

pub struct TelegramFunction {
    /// `TELEGRAM_SECRET_TOKENS:<bot>` entries; a bot may appear twice while
    /// its secret is rotated.
    pub secrets: SecretList,
    pub ingress: IngressSettings,
}

/// Telegram's rule for `secret_token`: 1–256 characters of `A-Za-z0-9_-`.
fn valid_secret(secret: &str) -> bool {
    (1..=256).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_bot_name(bot: &str) -> bool {
    (1..=64).contains(&bot.len()) && bot.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Provider for TelegramFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "TELEGRAM";
    const ROUTES: &'static [Route] = &[
        // Telegram documents no deadline ("retried a reasonable number of
        // times", docs/platforms/telegram.md); 60 s, its Bot API's long-poll scale.
        Route::post("/telegram/{bot}").deadline_ms(60_000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[SETTING];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let secrets = SecretList::parse_labelled(SETTING, &env.get(SETTING).unwrap_or_default())?;
        if secrets.is_empty() {
            return Err(ConfigError::new(SETTING, "is required: bot=secret pairs, comma-separated"));
        }
        for entry in secrets.iter() {
            let bot = entry.name.trim_start_matches(SETTING).trim_start_matches(':');
            if !valid_bot_name(bot) {
                return Err(ConfigError::new(SETTING, format!("bot name {bot:?} must be 1-64 of A-Za-z0-9_-")));
            }
            if !valid_secret(entry.value.expose()) {
                return Err(ConfigError::new(
                    SETTING,
                    format!("the secret of bot {bot} must be 1-256 of A-Za-z0-9_- (Telegram's rule)"),
                ));
            }
        }
        Ok(TelegramFunction { secrets, ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)? })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let bot = bot_of(route, request).ok_or_else(|| IngressError::NotFound(request.path.clone()))?;
        let presented = request.credential_header(SECRET_HEADER)?;
        let label = format!("{SETTING}:{bot}");
        // Only this bot's entries count: another bot's secret must not open it.
        let mut matched = None;
        for entry in self.secrets.iter().filter(|e| e.name == label) {
            if constant_time_eq(entry.value.expose().as_bytes(), presented.as_bytes()) && matched.is_none() {
                matched = Some(entry.name.clone());
            }
        }
        // An unknown bot is refused like a wrong secret, so the answer does
        // not reveal which bots exist.
        let matched = matched.ok_or(IngressError::BadCredential("X-Telegram-Bot-Api-Secret-Token"))?;
        let (update, payload) = Payload::view::<Update>(&request.body)?;
        let update_id =
            update.update_id.as_i64().ok_or_else(|| IngressError::malformed("update_id must be an integer"))?;
        let (kind, content) =
            update.content.as_ref().ok_or_else(|| IngressError::malformed("update carries nothing but update_id"))?;
        let verification = Verification { scheme: "telegram-secret-token".into(), matched: Some(matched) };
        let message = message_view(content, kind);
        // update_id restarts after weeks of idleness and is per bot: scope it.
        let mut envelope = Envelope::new(PROVIDER, &format!("{bot}:{update_id}"), kind, now, verification, payload);
        envelope.tenant = Some(bot.to_string());
        envelope.message = message;
        Ok(Decision::enqueue(vec![envelope], Reply::empty(StatusCode::OK)))
    }
}

/// The bot name: API Gateway's `{bot}` path parameter, else the route's.
fn bot_of<'a>(route: &'a RouteMatch, request: &'a IncomingRequest) -> Option<&'a str> {
    request.path_params.get("bot").map(String::as_str).or(route.param("bot")).filter(|bot| valid_bot_name(bot))
}

fn id_text(value: &Field) -> Option<String> {
    match value {
        Field::Number(n) => Some(n.to_string()),
        Field::String(s) if !s.is_empty() => Some(s.to_string()),
        _ => None,
    }
}

fn message_view(content: &Content, kind: &str) -> Option<MessageView> {
    match kind {
        "message" | "edited_message" | "channel_post" | "edited_channel_post" | "business_message" => {
            let message = content;
            let chat_id = id_text(&message.chat.id);
            let message_id = id_text(&message.message_id);
            // `text`, else `caption`: a `text` that is there but no string
            // is no text.
            let text = if message.text.is_absent() { &message.caption } else { &message.text };
            Some(MessageView {
                reply_handle: Some(json!({"chat_id": chat_id, "message_id": message_id})),
                chat_type: message.chat.kind.as_str().map(str::to_string),
                sender_id: id_text(&message.from.id).or_else(|| id_text(&message.sender_chat.id)),
                text: text.as_str().map(str::to_string),
                chat_id,
                message_id,
            })
        }
        "callback_query" => {
            let query = content;
            let chat_id = id_text(&query.message.chat.id);
            let message_id = id_text(&query.message.message_id);
            Some(MessageView {
                reply_handle: Some(json!({
                    "callback_query_id": id_text(&query.id),
                    "chat_id": chat_id,
                    "message_id": message_id,
                })),
                chat_type: query.message.chat.kind.as_str().map(str::to_string),
                sender_id: id_text(&query.from.id),
                text: query.data.as_str().map(str::to_string),
                chat_id,
                message_id,
            })
        }
        _ => None,
    }
}

/// What inlet reads of an update: its id, and its one other field (the
/// update's kind), as a `Value` of it would give them: the first other key
/// in `Value`'s key order (sorted), the last value of a repeated key.
#[derive(Debug, Default)]
struct Update<'a> {
    update_id: Field<'a>,
    content: Option<(Cow<'a, str>, Content<'a>)>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Update<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UpdateVisitor<'a>(std::marker::PhantomData<&'a str>);
        impl<'de: 'a, 'a> Visitor<'de> for UpdateVisitor<'a> {
            type Value = Update<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a Telegram update")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Update<'a>, A::Error> {
                let mut update = Update::default();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    if key == "update_id" {
                        update.update_id = map.next_value()?;
                    } else if update.content.as_ref().is_none_or(|(first, _)| key <= *first) {
                        update.content = Some((key, map.next_value()?));
                    } else {
                        map.next_value::<Checked>()?;
                    }
                }
                Ok(update)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Update<'a>, A::Error> {
                while seq.next_element::<Checked>()?.is_some() {}
                Ok(Update::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Update<'a>, E> {
                Ok(Update::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Update<'a>, E> {
                Ok(Update::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Update<'a>, E> {
                Ok(Update::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Update<'a>, E> {
                Ok(Update::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Update<'a>, E> {
                Ok(Update::default())
            }
            fn visit_unit<E>(self) -> Result<Update<'a>, E> {
                Ok(Update::default())
            }
        }
        deserializer.deserialize_any(UpdateVisitor(std::marker::PhantomData))
    }
}

inlet_shared::json_object! {
    /// A message (or channel post) and a callback query, in one view.
    struct Content<'a> {
        id, message_id, chat: Chat<'a>, from: Chat<'a>, sender_chat: Chat<'a>, text, caption, data,
        message: QueryMessage<'a>,
    }
}

inlet_shared::json_object! {
    /// A chat, a user: its id and type.
    struct Chat<'a> { id, kind = "type" }
}

inlet_shared::json_object! {
    /// A callback query's message.
    struct QueryMessage<'a> { message_id, chat: Chat<'a> }
}
