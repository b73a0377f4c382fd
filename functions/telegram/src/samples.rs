//! Telegram samples for the first bot in `TELEGRAM_SECRET_TOKENS`.

use inlet_shared::prelude::*;

use crate::{SECRET_HEADER, TelegramFunction};

impl Samples for TelegramFunction {
    const SAMPLE_NAMES: &'static [&'static str] =
        &["telegram-message", "telegram-edited-message", "telegram-callback-query"];

    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let secrets = SecretList::parse_labelled("TELEGRAM_SECRET_TOKENS", &env.get("TELEGRAM_SECRET_TOKENS")?).ok()?;
        let entry = secrets.iter().next()?;
        let bot = entry.name.split_once(':')?.1.to_string();
        let chat = json!({"id": -1001234567890i64, "title": "dev chat", "type": "supergroup"});
        let user = json!({"id": 424242, "is_bot": false, "first_name": "Dev", "username": "devuser"});
        let message = json!({"message_id": 77, "from": user, "chat": chat, "date": timestamp, "text": "/status prod"});
        let (description, update) = match name {
            "telegram-message" => ("text message", json!({"update_id": update_id(unique), "message": message})),
            "telegram-edited-message" => (
                "edited message",
                json!({"update_id": update_id(unique), "edited_message": {
                    "message_id": 77, "from": user, "chat": chat, "date": timestamp, "edit_date": timestamp, "text": "/status staging"
                }}),
            ),
            "telegram-callback-query" => (
                "inline button press (callback_query)",
                json!({"update_id": update_id(unique), "callback_query": {
                    "id": format!("cb-{unique}"), "from": user, "message": message, "chat_instance": "-1", "data": "ack:incident-7"
                }}),
            ),
            _ => return None,
        };
        Some(
            SampleRequest::post_json(name, description, &format!("/telegram/{bot}"), update.to_string())
                .with_path_param("bot", bot.clone())
                .with_header(SECRET_HEADER, entry.value.expose()),
        )
    }
}

/// An update_id derived from `unique`: the same unique is the same update.
fn update_id(unique: &str) -> u64 {
    let digest = inlet_shared::verify::sha256_hex(unique.as_bytes());
    u64::from_str_radix(&digest[..8], 16).unwrap_or(1)
}
