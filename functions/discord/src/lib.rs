//! Discord: `POST /discord/interactions` and `POST /discord/events`.
//!
//! Every request, PINGs included, must carry a valid Ed25519 signature over
//! `X-Signature-Timestamp ‖ body`: Discord deliberately sends invalid ones and
//! removes endpoints that accept them. Protocol facts: docs/platforms/discord.md.

use inlet_shared::json::string_at;
use inlet_shared::prelude::*;

use crate::crypto::{NamedPublicKey, find_signing_key, parse_public_keys};

pub mod crypto;
pub mod samples;

pub const PROVIDER: &str = "discord";
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
const PUBLIC_KEY_SETTING: &str = "DISCORD_PUBLIC_KEY";

pub struct DiscordFunction {
    pub public_keys: Vec<NamedPublicKey>,
    pub ingress: IngressSettings,
}

impl DiscordFunction {
    fn verify(&self, request: &IncomingRequest, now_unix: i64) -> Result<Verification, IngressError> {
        let signature = request.credential_header(SIGNATURE_HEADER)?;
        let timestamp = request.credential_header(TIMESTAMP_HEADER)?;
        let key = find_signing_key(&self.public_keys, signature, timestamp, &request.body)
            .ok_or(IngressError::BadCredential("X-Signature-Ed25519"))?;
        // Checked after the signature so that a forged request is always
        // told "bad signature", never which part was wrong.
        self.ingress.timestamp_window.check(timestamp, now_unix)?;
        Ok(Verification { scheme: "ed25519".into(), matched: Some(key.name.clone()) })
    }
}

impl Provider for DiscordFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "DISCORD";
    const ROUTES: &'static [Route] = &[
        // Interactions (PING included): initial response within 3 s; webhook
        // events: 204 within 3 s (docs/platforms/discord.md, "Discord interactions").
        Route::post("/discord/interactions").deadline_ms(3000),
        Route::post("/discord/events").deadline_ms(3000),
    ];
    /// The public key is public: Discord has no secret setting.
    const SECRET_SETTINGS: &'static [&'static str] = &[];

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let public_keys = parse_public_keys(PUBLIC_KEY_SETTING, &env.get(PUBLIC_KEY_SETTING).unwrap_or_default())?;
        if public_keys.is_empty() {
            return Err(ConfigError::new(
                PUBLIC_KEY_SETTING,
                "is required (developer portal → your application → General Information → Public Key)",
            ));
        }
        Ok(DiscordFunction { public_keys, ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)? })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let verification = self.verify(request, now.unix_timestamp())?;
        let body = request.json_body()?;
        if route.is("/discord/events") {
            webhook_event(body, &request.body, verification, now)
        } else {
            interaction(body, verification, now)
        }
    }
}

/// Interaction types (Discord's `InteractionType`).
const PING: u64 = 1;
const APPLICATION_COMMAND: u64 = 2;
const MESSAGE_COMPONENT: u64 = 3;
const AUTOCOMPLETE: u64 = 4;
const MODAL_SUBMIT: u64 = 5;

fn interaction(body: Value, verification: Verification, now: OffsetDateTime) -> Result<Decision, IngressError> {
    let kind_code =
        body.get("type").and_then(Value::as_u64).ok_or_else(|| IngressError::malformed("missing interaction type"))?;
    let (kind, ack) = match kind_code {
        PING => return Ok(Decision::Answer(Reply::ok_json(json!({"type": 1})))),
        // Autocomplete must be answered with choices, synchronously; with no
        // business logic at the edge, the honest answer is none.
        AUTOCOMPLETE => return Ok(Decision::Answer(Reply::ok_json(json!({"type": 8, "data": {"choices": []}})))),
        // Deferred: Discord shows "thinking…"; a sink follows up within 15 min.
        APPLICATION_COMMAND => ("application_command", json!({"type": 5})),
        MODAL_SUBMIT => ("modal_submit", json!({"type": 5})),
        // Deferred update: the message with the component stays as it is.
        MESSAGE_COMPONENT => ("message_component", json!({"type": 6})),
        other => return Err(IngressError::malformed(format!("unknown interaction type {other}"))),
    };
    let id = string_at(&body, "/id").ok_or_else(|| IngressError::malformed("missing interaction id"))?;
    let application_id = string_at(&body, "/application_id").map(str::to_string);
    let token = string_at(&body, "/token").ok_or_else(|| IngressError::malformed("missing interaction token"))?;
    let text = match kind_code {
        APPLICATION_COMMAND => string_at(&body, "/data/name").map(|name| format!("/{name}")),
        _ => string_at(&body, "/data/custom_id").map(str::to_string),
    };
    let channel_id = string_at(&body, "/channel_id").or_else(|| string_at(&body, "/channel/id")).map(str::to_string);
    let message = MessageView {
        chat_id: channel_id.clone(),
        chat_type: string_at(&body, "/guild_id").map(|_| "guild".to_string()).or(Some("dm".into())),
        sender_id: string_at(&body, "/member/user/id").or_else(|| string_at(&body, "/user/id")).map(str::to_string),
        message_id: string_at(&body, "/message/id").map(str::to_string),
        text,
        // Everything a sink needs to follow up: POST /webhooks/{application_id}/{token}.
        reply_handle: Some(json!({
            "application_id": application_id,
            "interaction_id": id,
            "interaction_token": token,
            "channel_id": channel_id,
        })),
    };
    let tenant = string_at(&body, "/guild_id").map(str::to_string).or(application_id);
    let mut envelope = Envelope::new(PROVIDER, id, kind, now, verification, body.clone());
    envelope.tenant = tenant;
    envelope.message = Some(message);
    Ok(Decision::enqueue(vec![envelope], Reply::ok_json(ack)))
}

fn webhook_event(
    body: Value,
    raw_body: &[u8],
    verification: Verification,
    now: OffsetDateTime,
) -> Result<Decision, IngressError> {
    match body.get("type").and_then(Value::as_u64) {
        Some(0) => Ok(Decision::Answer(Reply::empty(StatusCode::NO_CONTENT))),
        Some(1) => {
            let kind = string_at(&body, "/event/type").ok_or_else(|| IngressError::malformed("missing event.type"))?;
            // Webhook events carry no id of their own; retries repeat the body.
            let mut envelope =
                Envelope::new(PROVIDER, &Envelope::body_hash_id(raw_body), kind, now, verification, body.clone());
            envelope.tenant = string_at(&body, "/application_id").map(str::to_string);
            Ok(Decision::enqueue(vec![envelope], Reply::empty(StatusCode::NO_CONTENT)))
        }
        _ => Err(IngressError::malformed("webhook event type must be 0 (PING) or 1 (event)")),
    }
}
