//! Custom alerts: `POST /api/alert`.
//!
//! Any script or service can raise an alert with an API key:
//! `Authorization: Bearer <key>` and a body
//! `{"message", "sender_id", "chat_id"?, "timestamp"?, "metadata"?}` whose
//! `sender_id` is on the allowlist. An `Idempotency-Key` header makes
//! retries safe. Protocol facts: docs/platforms/alert-api.md.

use std::collections::HashSet;

use inlet_shared::config;
use inlet_shared::envelope::{Payload, rfc3339};
use inlet_shared::json::Field;
use inlet_shared::prelude::*;
use inlet_shared::verify::http_auth::{AUTHORIZATION, HttpCredentials, TokenSchemes};
use inlet_shared::verify::{sha256_hex, truncate_for_log};
use serde_json::Map;

pub const PROVIDER: &str = "alert-api";
pub const PATH: &str = "/api/alert";
/// The Envelope `kind` of every custom alert.
pub const KIND: &str = "custom-alert";
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

pub const API_KEYS_SETTING: &str = "ALERT_API_KEYS";
pub const BOT_IDS_SETTING: &str = "ALERT_BOT_IDS";

/// Settings, read once at start-up.
pub struct AlertApiFunction {
    /// `ALERT_API_KEYS`, accepted as `Authorization: Bearer <key>`.
    pub credentials: HttpCredentials,
    /// `ALERT_BOT_IDS`: the `sender_id` values allowed to post.
    pub bot_ids: HashSet<String>,
    pub ingress: IngressSettings,
}

impl Provider for AlertApiFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "ALERT_API";
    const ROUTES: &'static [Route] = &[
        // Our own API: its callers' HTTP client timeouts (docs/platforms/alert-api.md says
        // none); 10 s, as for the other alert sources.
        Route::post(PATH).deadline_ms(10_000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[API_KEYS_SETTING];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let api_keys = config::required_secrets(env, API_KEYS_SETTING, "is required (comma-separated API keys)")?;
        let bot_ids: HashSet<String> = env
            .get(BOT_IDS_SETTING)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .collect();
        if bot_ids.is_empty() {
            // An empty allowlist would refuse every request: say so at start-up instead.
            return Err(ConfigError::new(BOT_IDS_SETTING, "is required (comma-separated sender_id values)"));
        }
        Ok(AlertApiFunction {
            credentials: HttpCredentials {
                basic: SecretList::default(),
                tokens: api_keys,
                token_schemes: TokenSchemes::BearerOnly,
            },
            bot_ids,
            ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)?,
        })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, _: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let auth = self.credentials.verify(request.header(AUTHORIZATION))?;
        let verification = Verification { scheme: auth.scheme.to_string(), matched: Some(auth.matched.name.clone()) };
        let idempotency_key = idempotency_key(request)?;
        let (body, payload) = Payload::view::<Body>(&request.body)?;
        let alert = CustomAlert::parse(body)?;
        if !self.bot_ids.contains(&alert.sender_id) {
            return Err(IngressError::SenderNotAllowed(truncate_for_log(&alert.sender_id)));
        }
        let event_id = match idempotency_key {
            Some(key) => scoped_idempotency_id(&auth.matched.name, &alert.sender_id, key),
            // Without a key, every request is a new alert: two identical
            // alerts an hour apart are two pages, not a retry.
            None => request.request_scoped_id(),
        };
        let mut envelope = Envelope::new(PROVIDER, &event_id, KIND, now, verification, payload);
        envelope.original_id = idempotency_key.map(str::to_string);
        envelope.tenant = Some(alert.sender_id.clone());
        envelope.alert = Some(alert.alert_view());
        envelope.message = Some(alert.message_view());
        let ack = Reply::json(StatusCode::ACCEPTED, &json!({ "id": envelope.id }));
        Ok(Decision::enqueue(vec![envelope], ack))
    }
}

/// An Idempotency-Key means "the same request" only for the client that
/// chose it: the id is scoped to the API key entry that authenticated the
/// request and to its sender, hashed over an unambiguous encoding of the
/// three so no choice of values can make two scopes meet.
fn scoped_idempotency_id(api_key_name: &str, sender_id: &str, key: &str) -> String {
    let scope = serde_json::to_string(&[api_key_name, sender_id, key]).unwrap_or_default();
    format!("key:{}", &sha256_hex(scope.as_bytes())[..32])
}

/// The `Idempotency-Key` header, when sent: 1–255 printable ASCII
/// characters (it becomes part of the dedup-table key), else 400.
fn idempotency_key(request: &IncomingRequest) -> Result<Option<&str>, IngressError> {
    let Some(value) = request.headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let invalid = || {
        IngressError::malformed(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters"
        ))
    };
    let key = value.to_str().map_err(|_| invalid())?.trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(invalid());
    }
    Ok(Some(key))
}

/// The fields of a custom alert body, checked.
struct CustomAlert {
    message: String,
    sender_id: String,
    chat_id: Option<String>,
    starts_at: Option<String>,
    metadata: Map<String, Value>,
}

inlet_shared::json_object! {
    /// A custom alert's body as inlet reads it.
    struct Body<'a> {
        message, sender_id, chat_id, timestamp,
        /// Carried into the alert view (its labels) as it is.
        metadata: Option<Value>,
    }
}

impl CustomAlert {
    fn parse(body: Body) -> Result<Self, IngressError> {
        if !body.is_object {
            return Err(IngressError::malformed("body must be a JSON object"));
        }
        let message = match &body.message {
            Field::String(text) if !text.trim().is_empty() => text.to_string(),
            Field::String(_) | Field::Absent | Field::Null => {
                return Err(IngressError::malformed("message is required and must not be empty"));
            }
            _ => return Err(IngressError::malformed("message must be a string")),
        };
        let sender_id =
            id_field(&body.sender_id, "sender_id")?.ok_or_else(|| IngressError::malformed("sender_id is required"))?;
        let chat_id = id_field(&body.chat_id, "chat_id")?;
        let starts_at = match &body.timestamp {
            Field::Absent | Field::Null => None,
            Field::String(text) => Some(text.to_string()),
            Field::Number(n) => {
                let seconds = n.as_i64().ok_or_else(|| IngressError::malformed("timestamp must be whole seconds"))?;
                let at = OffsetDateTime::from_unix_timestamp(seconds)
                    .map_err(|_| IngressError::malformed("timestamp is out of range"))?;
                Some(rfc3339(at))
            }
            _ => return Err(IngressError::malformed("timestamp must be Unix seconds or a string")),
        };
        let metadata = match body.metadata {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(metadata)) => metadata,
            Some(_) => return Err(IngressError::malformed("metadata must be an object")),
        };
        Ok(CustomAlert { message, sender_id, chat_id, starts_at, metadata })
    }

    fn message_view(&self) -> MessageView {
        MessageView {
            chat_id: self.chat_id.clone(),
            sender_id: Some(self.sender_id.clone()),
            text: Some(self.message.clone()),
            reply_handle: self.chat_id.as_ref().map(|chat_id| json!({ "chat_id": chat_id })),
            ..MessageView::default()
        }
    }

    /// The alert view, from optional `metadata` conventions: `alertname`
    /// (default `custom`), `status` (default `firing`), `severity`, `labels`.
    fn alert_view(&self) -> AlertView {
        let text = |key: &str| self.metadata.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        AlertView {
            name: text("alertname").unwrap_or("custom").to_string(),
            status: text("status").unwrap_or("firing").to_string(),
            severity: text("severity").map(str::to_string),
            labels: self.metadata.get("labels").and_then(Value::as_object).cloned().unwrap_or_default(),
            summary: Some(self.message.clone()),
            starts_at: self.starts_at.clone(),
            ..AlertView::default()
        }
    }
}

/// An id that may arrive as a string or a number (chat platforms use both).
fn id_field(field: &Field, key: &str) -> Result<Option<String>, IngressError> {
    match field {
        Field::Absent | Field::Null => Ok(None),
        Field::String(id) if !id.trim().is_empty() => Ok(Some(id.trim().to_string())),
        Field::Number(id) => Ok(Some(id.to_string())),
        _ => Err(IngressError::malformed(format!("{key} must be a non-empty string or a number"))),
    }
}

pub mod samples;
