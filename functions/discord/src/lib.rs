//! Discord: `POST /discord/interactions` and `POST /discord/events`.
//!
//! Every request, PINGs included, must carry a valid Ed25519 signature over
//! `X-Signature-Timestamp ‖ body`: Discord deliberately sends invalid ones and
//! removes endpoints that accept them. Protocol facts: docs/platforms/discord.md.

use inlet_shared::envelope::Payload;
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

    const PLATFORM: &'static str = include_str!("../platform.toml");

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
        let (body, payload) = Payload::view::<Body>(&request.body)?;
        if route.is("/discord/events") {
            webhook_event(payload, &body, &request.body, verification, now)
        } else {
            interaction(payload, &body, verification, now)
        }
    }
}

/// Interaction types (Discord's `InteractionType`).
const PING: u64 = 1;
const APPLICATION_COMMAND: u64 = 2;
const MESSAGE_COMPONENT: u64 = 3;
const AUTOCOMPLETE: u64 = 4;
const MODAL_SUBMIT: u64 = 5;

fn interaction(
    payload: Payload,
    body: &Body,
    verification: Verification,
    now: OffsetDateTime,
) -> Result<Decision, IngressError> {
    let kind_code = body.kind.as_u64().ok_or_else(|| IngressError::malformed("missing interaction type"))?;
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
    let id = body.id.text().ok_or_else(|| IngressError::malformed("missing interaction id"))?;
    let application_id = body.application_id.text().map(str::to_string);
    let token = body.token.text().ok_or_else(|| IngressError::malformed("missing interaction token"))?;
    let text_of_message = match kind_code {
        APPLICATION_COMMAND => body.data.name.text().map(|name| format!("/{name}")),
        _ => body.data.custom_id.text().map(str::to_string),
    };
    let channel_id = body.channel_id.text().or_else(|| body.channel.id.text()).map(str::to_string);
    let message = MessageView {
        chat_id: channel_id.clone(),
        chat_type: body.guild_id.text().map(|_| "guild".to_string()).or(Some("dm".into())),
        sender_id: body.member.user.id.text().or_else(|| body.user.id.text()).map(str::to_string),
        message_id: body.message.id.text().map(str::to_string),
        text: text_of_message,
        // Everything a sink needs to follow up: POST /webhooks/{application_id}/{token}.
        reply_handle: Some(json!({
            "application_id": application_id,
            "interaction_id": id,
            "interaction_token": token,
            "channel_id": channel_id,
        })),
    };
    let tenant = body.guild_id.text().map(str::to_string).or(application_id);
    let mut envelope = Envelope::new(PROVIDER, id, kind, now, verification, payload);
    envelope.tenant = tenant;
    envelope.message = Some(message);
    Ok(Decision::enqueue(vec![envelope], Reply::ok_json(ack)))
}

fn webhook_event(
    payload: Payload,
    body: &Body,
    raw_body: &[u8],
    verification: Verification,
    now: OffsetDateTime,
) -> Result<Decision, IngressError> {
    match body.kind.as_u64() {
        Some(0) => Ok(Decision::Answer(Reply::empty(StatusCode::NO_CONTENT))),
        Some(1) => {
            let kind = body.event.kind.text().ok_or_else(|| IngressError::malformed("missing event.type"))?;
            // Webhook events carry no id of their own; retries repeat the body.
            let mut envelope =
                Envelope::new(PROVIDER, &Envelope::body_hash_id(raw_body), kind, now, verification, payload);
            envelope.tenant = body.application_id.text().map(str::to_string);
            Ok(Decision::enqueue(vec![envelope], Reply::empty(StatusCode::NO_CONTENT)))
        }
        _ => Err(IngressError::malformed("webhook event type must be 0 (PING) or 1 (event)")),
    }
}

inlet_shared::json_object! {
    /// What inlet reads of an interaction or a webhook event.
    struct Body<'a> {
        kind = "type", id, application_id, token, guild_id, channel_id, channel: Named<'a>,
        member: Member<'a>, user: Named<'a>, message: Named<'a>, data: Data<'a>, event: Named<'a>,
    }
}

inlet_shared::json_object! {
    /// An object read for its `id` (a channel, a user, a message) or its
    /// `type` (a webhook event).
    struct Named<'a> { id, kind = "type" }
}

inlet_shared::json_object! {
    struct Member<'a> { user: Named<'a> }
}

inlet_shared::json_object! {
    struct Data<'a> { name, custom_id }
}
