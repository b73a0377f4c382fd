//! Signed Lark sample requests for the CLI's `send`, `events/` and tests.

use crate::crypto::{encrypt_lark_body, lark_card_signature_v1, lark_signature};
use inlet_shared::config;
use inlet_shared::prelude::*;
use inlet_shared::verify::sha256_hex;

use crate::{LarkFunction, NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// The secrets a sample is signed with: the first entry of each setting.
pub struct LarkSecrets {
    pub verification_token: String,
    pub encrypt_key: Option<String>,
}

impl LarkSecrets {
    pub fn from_env(env: &dyn EnvSource) -> Self {
        let first = |name| config::secrets(env, name).iter().next().map(|s| s.value.expose().to_string());
        LarkSecrets {
            verification_token: first("LARK_VERIFICATION_TOKEN").unwrap_or_default(),
            encrypt_key: first("LARK_ENCRYPT_KEY"),
        }
    }
}

impl Samples for LarkFunction {
    /// Samples that only make sense for one configuration build `None` for the
    /// other: `lark-challenge-encrypted` and `lark-card-legacy-encrypted` need an
    /// Encrypt Key, `lark-message-no-encrypt-key` needs its absence.
    const SAMPLE_NAMES: &'static [&'static str] = &[
        "lark-challenge",
        "lark-challenge-encrypted",
        "lark-message",
        "lark-message-no-encrypt-key",
        "lark-v1-event",
        "lark-card",
        "lark-card-legacy",
        "lark-card-legacy-encrypted",
    ];

    /// Builds the named sample. `unique` makes event ids (pass the same value
    /// to send the same event again); `timestamp` is the signing time.
    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let secrets = &LarkSecrets::from_env(env);
        let token = secrets.verification_token.as_str();
        let nonce = &sha256_hex(unique.as_bytes())[..16];
        let sample = match name {
            "lark-challenge" => SampleRequest::post_json(
                name,
                "url_verification challenge, plaintext (answered, never enqueued)",
                "/lark/event",
                json!({"challenge": format!("challenge-{unique}"), "token": token, "type": "url_verification"})
                    .to_string(),
            ),
            "lark-challenge-encrypted" => {
                let plain =
                    json!({"challenge": format!("challenge-{unique}"), "token": token, "type": "url_verification"});
                let key = secrets.encrypt_key.as_deref()?;
                // Lark does not sign the challenge, even when it encrypts it.
                SampleRequest::post_json(
                    name,
                    "url_verification challenge, encrypted with the Encrypt Key (answered, never enqueued)",
                    "/lark/event",
                    encrypted_body(key, &plain, unique),
                )
            }
            "lark-message" => seal(
                SampleRequest::post_json(name, "v2 im.message.receive_v1 (text message), signed", "/lark/event", ""),
                secrets,
                &message_v2(token, unique, timestamp),
                timestamp,
                nonce,
                unique,
            ),
            "lark-v1-event" => seal(
                SampleRequest::post_json(name, "v1 event_callback (message), signed", "/lark/event", ""),
                secrets,
                &json!({
                    "uuid": format!("v1-{unique}"),
                    "token": token,
                    "ts": format!("{timestamp}.000000"),
                    "type": "event_callback",
                    "event": {
                        "type": "message",
                        "app_id": "cli_devapp",
                        "tenant_key": "dev-tenant",
                        "open_chat_id": "oc_devchat",
                        "open_id": "ou_devuser",
                        "msg_type": "text",
                        "text": "hello from a v1 event"
                    }
                }),
                timestamp,
                nonce,
                unique,
            ),
            "lark-card" => seal(
                SampleRequest::post_json(name, "new-style card.action.trigger, signed", "/lark/card/action", ""),
                secrets,
                &schema_v2(
                    "card.action.trigger",
                    &format!("card-{unique}"),
                    token,
                    timestamp,
                    json!({
                        "operator": {"tenant_key": "dev-tenant", "open_id": "ou_devuser", "user_id": "devuser", "union_id": "on_devuser"},
                        "token": "c-card-update-token",
                        "action": {"value": {"choice": "approve"}, "tag": "button"},
                        "host": "im_message",
                        "context": {"open_message_id": "om_devmessage", "open_chat_id": "oc_devchat"}
                    }),
                ),
                timestamp,
                nonce,
                unique,
            ),
            "lark-message-no-encrypt-key" => {
                if secrets.encrypt_key.is_some() {
                    return None;
                }
                let body = message_v2(token, unique, timestamp).to_string();
                // Lark sends its signature headers even to an app without an
                // Encrypt Key; the official SDK then ignores them and relies on
                // the Verification Token. The value here is what an empty key
                // gives; the receiver must not care.
                let ts = timestamp.to_string();
                let signature = lark_signature(&ts, nonce, "", body.as_bytes());
                SampleRequest::post_json(
                    name,
                    "v2 message, plaintext, for an app without an Encrypt Key: token-checked, signature headers ignored",
                    "/lark/event",
                    body,
                )
                .with_header(TIMESTAMP_HEADER, ts)
                .with_header(NONCE_HEADER, nonce)
                .with_header(SIGNATURE_HEADER, signature)
            }
            "lark-card-legacy" => sign_old_style_card(
                SampleRequest::post_json(
                    name,
                    "old-style card callback, SHA-1 signed with the Verification Token",
                    "/lark/card/action",
                    legacy_card(unique).to_string(),
                ),
                token,
                timestamp,
                nonce,
            ),
            "lark-card-legacy-encrypted" => {
                let key = secrets.encrypt_key.as_deref()?;
                sign_old_style_card(
                    SampleRequest::post_json(
                        name,
                        "old-style card callback, encrypted, SHA-1 signed with the Verification Token over the ciphertext",
                        "/lark/card/action",
                        encrypted_body(key, &legacy_card(unique), unique),
                    ),
                    token,
                    timestamp,
                    nonce,
                )
            }
            _ => return None,
        };
        Some(sample)
    }
}

/// A v2 text message event.
pub fn message_v2(token: &str, unique: &str, timestamp: i64) -> Value {
    let event = json!({
        "sender": {
            "sender_id": {"union_id": "on_devuser", "user_id": "devuser", "open_id": "ou_devuser"},
            "sender_type": "user",
            "tenant_key": "dev-tenant"
        },
        "message": {
            "message_id": format!("om_{unique}"),
            "create_time": format!("{}", timestamp * 1000),
            "chat_id": "oc_devchat",
            "chat_type": "group",
            "message_type": "text",
            "content": json!({"text": "@_user_1 deploy status?"}).to_string(),
            "mentions": [{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "inlet-bot", "tenant_key": "dev-tenant"}]
        }
    });
    schema_v2("im.message.receive_v1", &format!("ev-{unique}"), token, timestamp, event)
}

/// A schema 2.0 body: the header Lark puts on every v2 event and callback.
fn schema_v2(event_type: &str, event_id: &str, token: &str, timestamp: i64, event: Value) -> Value {
    json!({
        "schema": "2.0",
        "header": {
            "event_id": event_id,
            "token": token,
            "create_time": format!("{}", timestamp * 1000),
            "event_type": event_type,
            "tenant_key": "dev-tenant",
            "app_id": "cli_devapp"
        },
        "event": event
    })
}

/// An old-style (pre-schema-2.0) card callback body.
pub fn legacy_card(unique: &str) -> Value {
    json!({
        "open_id": "ou_devuser",
        "user_id": "devuser",
        "open_message_id": format!("om_legacy_{unique}"),
        "open_chat_id": "oc_devchat",
        "tenant_key": "dev-tenant",
        "token": "c-card-update-token",
        "action": {"value": {"choice": "approve"}, "tag": "button"}
    })
}

/// Old-style card callbacks are signed with SHA-1 keyed by the
/// Verification Token, over the body exactly as sent (ciphertext included).
fn sign_old_style_card(sample: SampleRequest, token: &str, timestamp: i64, nonce: &str) -> SampleRequest {
    let ts = timestamp.to_string();
    let signature = lark_card_signature_v1(&ts, nonce, token, &sample.body);
    sample.with_header(TIMESTAMP_HEADER, ts).with_header(NONCE_HEADER, nonce).with_header(SIGNATURE_HEADER, signature)
}

fn encrypted_body(key: &str, plain: &Value, unique: &str) -> String {
    // A fixed IV per sample keeps committed fixtures reproducible; Lark uses
    // a random one, which the receiver treats no differently.
    let digest = hex::decode(sha256_hex(format!("iv:{unique}").as_bytes())).unwrap_or_default();
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&digest[..16]);
    json!({"encrypt": encrypt_lark_body(key, iv, plain.to_string().as_bytes())}).to_string()
}

/// Encrypts and signs the body when an Encrypt Key is configured (as Lark
/// does); otherwise sends it plain, with the Verification Token as proof.
fn seal(
    mut sample: SampleRequest,
    secrets: &LarkSecrets,
    plain: &Value,
    timestamp: i64,
    nonce: &str,
    unique: &str,
) -> SampleRequest {
    match secrets.encrypt_key.as_deref() {
        Some(key) => {
            let body = encrypted_body(key, plain, unique);
            let ts = timestamp.to_string();
            let signature = lark_signature(&ts, nonce, key, body.as_bytes());
            sample.body = body.into_bytes();
            sample
                .with_header(TIMESTAMP_HEADER, ts)
                .with_header(NONCE_HEADER, nonce)
                .with_header(SIGNATURE_HEADER, signature)
        }
        None => {
            sample.body = plain.to_string().into_bytes();
            sample
        }
    }
}
