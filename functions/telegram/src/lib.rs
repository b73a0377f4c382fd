//! Telegram bots: `POST /telegram/{bot}`, one deployment for several bots.
//!
//! Telegram signs nothing; `setWebhook(secret_token=…)` makes it send the
//! secret verbatim in `X-Telegram-Bot-Api-Secret-Token`, compared here in
//! constant time with that bot's configured secret(s).

use inlet_shared::json::value_at;
use inlet_shared::prelude::*;
use inlet_shared::verify::constant_time_eq;

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
        let update = request.json_body()?;
        let update_id = update
            .get("update_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| IngressError::malformed("update_id must be an integer"))?;
        let kind = update
            .as_object()
            .and_then(|o| o.keys().find(|k| k.as_str() != "update_id"))
            .cloned()
            .ok_or_else(|| IngressError::malformed("update carries nothing but update_id"))?;
        let verification = Verification { scheme: "telegram-secret-token".into(), matched: Some(matched) };
        let message = message_view(&update, &kind);
        // update_id restarts after weeks of idleness and is per bot: scope it.
        let mut envelope =
            Envelope::new(PROVIDER, &format!("{bot}:{update_id}"), &kind, now, verification, update.clone());
        envelope.tenant = Some(bot.to_string());
        envelope.message = message;
        Ok(Decision::enqueue(vec![envelope], Reply::empty(StatusCode::OK)))
    }
}

/// The bot name: API Gateway's `{bot}` path parameter, else the route's.
fn bot_of<'a>(route: &'a RouteMatch, request: &'a IncomingRequest) -> Option<&'a str> {
    request.path_params.get("bot").map(String::as_str).or(route.param("bot")).filter(|bot| valid_bot_name(bot))
}

fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn message_view(update: &Value, kind: &str) -> Option<MessageView> {
    match kind {
        "message" | "edited_message" | "channel_post" | "edited_channel_post" | "business_message" => {
            let message = update.get(kind)?;
            let chat_id = id_text(value_at(message, "/chat/id"));
            let message_id = id_text(message.get("message_id"));
            Some(MessageView {
                reply_handle: Some(json!({"chat_id": chat_id, "message_id": message_id})),
                chat_type: value_at(message, "/chat/type").and_then(Value::as_str).map(str::to_string),
                sender_id: id_text(value_at(message, "/from/id"))
                    .or_else(|| id_text(value_at(message, "/sender_chat/id"))),
                text: message
                    .get("text")
                    .or_else(|| message.get("caption"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                chat_id,
                message_id,
            })
        }
        "callback_query" => {
            let query = update.get(kind)?;
            let chat_id = id_text(value_at(query, "/message/chat/id"));
            let message_id = id_text(value_at(query, "/message/message_id"));
            Some(MessageView {
                reply_handle: Some(json!({
                    "callback_query_id": id_text(query.get("id")),
                    "chat_id": chat_id,
                    "message_id": message_id,
                })),
                chat_type: value_at(query, "/message/chat/type").and_then(Value::as_str).map(str::to_string),
                sender_id: id_text(value_at(query, "/from/id")),
                text: query.get("data").and_then(Value::as_str).map(str::to_string),
                chat_id,
                message_id,
            })
        }
        _ => None,
    }
}
