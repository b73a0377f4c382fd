//! Lark / Feishu: `POST /lark/event` and `POST /lark/card/action`.
//!
//! Handles plain and encrypted bodies, the url_verification challenge, the v1
//! and v2 event schemas, new-style (`card.action.trigger`) and old-style card
//! callbacks. Protocol facts: PROVIDERS.md, "Lark / Feishu".

use http::Method;
use inlet_shared::config::{self, EnvSource, IngressSettings};
use inlet_shared::envelope::{Envelope, MessageView, Verification};
use inlet_shared::error::{ConfigError, IngressError};
use inlet_shared::ingress::{Decision, IncomingRequest, Reply, parse_json, run_ingress};
use inlet_shared::queue::Publisher;
use inlet_shared::runtime::HttpFunction;
use inlet_shared::verify::lark::{decrypt_lark_body, lark_card_signature_v1, lark_signature, signature_matches};
use inlet_shared::verify::{NamedSecret, SecretList};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub const PROVIDER: &str = "lark";
pub const SIGNATURE_HEADER: &str = "x-lark-signature";
pub const TIMESTAMP_HEADER: &str = "x-lark-request-timestamp";
pub const NONCE_HEADER: &str = "x-lark-request-nonce";

/// Settings, read once at start-up.
pub struct LarkFunction {
    pub verification_tokens: SecretList,
    pub encrypt_keys: SecretList,
    pub ingress: IngressSettings,
}

impl LarkFunction {
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let verification_tokens = config::secrets(env, "LARK_VERIFICATION_TOKEN");
        if verification_tokens.is_empty() {
            // Every request is checked against it; without one nothing could pass.
            return Err(ConfigError::new(
                "LARK_VERIFICATION_TOKEN",
                "is required (Lark console → Events & Callbacks → Verification Token)",
            ));
        }
        Ok(LarkFunction {
            verification_tokens,
            encrypt_keys: config::secrets(env, "LARK_ENCRYPT_KEY"),
            ingress: IngressSettings::from_env(env, "LARK")?,
        })
    }

    fn route(&self, request: &IncomingRequest, now: OffsetDateTime) -> Result<Decision, IngressError> {
        let route = if request.path.ends_with("/lark/card/action") {
            Route::CardAction
        } else if request.path.ends_with("/lark/event") {
            Route::Event
        } else {
            return Err(IngressError::NotFound(request.path.clone()));
        };
        if request.method != Method::POST {
            return Err(IngressError::MethodNotAllowed(request.method.to_string()));
        }
        let opened = self.authenticate(request, route, now.unix_timestamp())?;
        if opened.json.get("type").and_then(Value::as_str) == Some("url_verification") {
            let challenge = opened
                .json
                .get("challenge")
                .and_then(Value::as_str)
                .ok_or_else(|| IngressError::malformed("url_verification without a challenge string"))?;
            return Ok(Decision::Answer(Reply::ok_json(json!({ "challenge": challenge }))));
        }
        let mut opened = opened;
        redact_verification_token(&mut opened.json);
        let envelope = match route {
            Route::Event => event_envelope(opened, now)?,
            Route::CardAction => card_envelope(opened, &request.body, now)?,
        };
        let ack = match route {
            Route::Event => json!({"msg": "success"}),
            // `{}` leaves the card unchanged; a sink can update it later.
            Route::CardAction => json!({}),
        };
        Ok(Decision::enqueue(vec![envelope], Reply::ok_json(ack)))
    }

    /// Proves the request genuine and returns its (decrypted) JSON.
    ///
    /// Signed requests are checked over the raw bytes before anything is
    /// parsed. Unsigned requests are accepted only where Lark sends them
    /// unsigned: the url_verification challenge, and events when no Encrypt
    /// Key is configured (then the Verification Token is the only proof).
    fn authenticate(&self, request: &IncomingRequest, route: Route, now_unix: i64) -> Result<Opened, IngressError> {
        if let Some(signature) = request.header(SIGNATURE_HEADER) {
            let timestamp = request.credential_header(TIMESTAMP_HEADER)?;
            let nonce = request.credential_header(NONCE_HEADER)?;
            self.ingress.timestamp_window.check(timestamp, now_unix)?;
            let body = &request.body;
            if let Some(key) = self
                .encrypt_keys
                .find(|key| signature_matches(&lark_signature(timestamp, nonce, key.expose(), body), signature))
            {
                let outer = parse_json(body)?;
                let json = match encrypted_field(&outer)? {
                    Some(ciphertext) => parse_json(&decrypt_lark_body(key.value.expose(), ciphertext)?)?,
                    None => outer,
                };
                let token = self.check_token(&json)?;
                return Ok(Opened::new(json, "lark-signature", [Some(key), token]));
            }
            let old_style_card_token = (route == Route::CardAction)
                .then(|| {
                    self.verification_tokens.find(|token| {
                        signature_matches(&lark_card_signature_v1(timestamp, nonce, token.expose(), body), signature)
                    })
                })
                .flatten();
            if let Some(token) = old_style_card_token {
                let json = parse_json(body)?;
                if encrypted_field(&json)?.is_some() {
                    return Err(IngressError::malformed("encrypted body signed with the old-style card scheme"));
                }
                // Old-style bodies carry the card's update token, not the
                // Verification Token: the signature is the proof.
                return Ok(Opened::new(json, "lark-card-signature-v1", [Some(token), None]));
            }
            return Err(IngressError::BadCredential("X-Lark-Signature"));
        }

        let outer = parse_json(&request.body)?;
        let json = match encrypted_field(&outer)? {
            Some(ciphertext) => {
                if self.encrypt_keys.is_empty() {
                    return Err(IngressError::malformed("body is encrypted but LARK_ENCRYPT_KEY is not set"));
                }
                let mut last_error = IngressError::Undecryptable("no Encrypt Key opens this body");
                let mut opened = None;
                for key in self.encrypt_keys.iter() {
                    match decrypt_lark_body(key.value.expose(), ciphertext).and_then(|plain| parse_json(&plain)) {
                        Ok(json) => {
                            opened = Some(json);
                            break;
                        }
                        Err(error) => last_error = error,
                    }
                }
                opened.ok_or(last_error)?
            }
            None => outer,
        };
        let is_challenge = json.get("type").and_then(Value::as_str) == Some("url_verification");
        let unsigned_allowed =
            is_challenge || (self.encrypt_keys.is_empty() && (route == Route::Event || is_schema_v2(&json)));
        if !unsigned_allowed {
            return Err(IngressError::MissingCredential("X-Lark-Signature"));
        }
        let token = self.check_token(&json)?;
        Ok(Opened::new(json, "lark-verification-token", [token, None]))
    }

    /// Checks the Verification Token carried in the body: `header.token` in
    /// v2, top-level `token` in v1 and in the challenge. Missing is refused.
    fn check_token(&self, json: &Value) -> Result<Option<&NamedSecret>, IngressError> {
        let presented = if is_schema_v2(json) { json.pointer("/header/token") } else { json.get("token") }
            .and_then(Value::as_str)
            .ok_or(IngressError::MissingCredential("verification token"))?;
        self.verification_tokens
            .find_equal(presented.as_bytes())
            .map(Some)
            .ok_or(IngressError::BadCredential("verification token"))
    }
}

impl HttpFunction for LarkFunction {
    async fn handle(&self, publisher: &dyn Publisher, request: &IncomingRequest, now: OffsetDateTime) -> Reply {
        run_ingress(PROVIDER, &self.ingress, publisher, request, |request| self.route(request, now)).await
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Event,
    CardAction,
}

/// A verified body and how it was verified.
struct Opened {
    json: Value,
    verification: Verification,
}

impl Opened {
    fn new(json: Value, scheme: &str, matched: [Option<&NamedSecret>; 2]) -> Self {
        let names: Vec<&str> = matched.iter().flatten().map(|s| s.name.as_str()).collect();
        let matched = (!names.is_empty()).then(|| names.join(","));
        Opened { json, verification: Verification { scheme: scheme.to_string(), matched } }
    }
}

/// Lark repeats the Verification Token inside every v1 and v2 body. It is a
/// secret, and the Envelope never carries secrets, so the payload loses
/// exactly that field. (Card callbacks' own `token` fields are the card's
/// update token, which a sink needs, and stay.)
fn redact_verification_token(json: &mut Value) {
    if is_schema_v2(json) {
        if let Some(header) = json.get_mut("header").and_then(Value::as_object_mut) {
            header.remove("token");
        }
    } else if json.get("type").and_then(Value::as_str) == Some("event_callback")
        && let Some(body) = json.as_object_mut()
    {
        body.remove("token");
    }
}

fn is_schema_v2(json: &Value) -> bool {
    json.get("schema").and_then(Value::as_str) == Some("2.0")
}

/// The `encrypt` field, if the body is an encrypted envelope.
fn encrypted_field(json: &Value) -> Result<Option<&str>, IngressError> {
    match json.get("encrypt") {
        None => Ok(None),
        Some(Value::String(ciphertext)) => Ok(Some(ciphertext)),
        Some(_) => Err(IngressError::malformed("encrypt must be a string")),
    }
}

fn string_at<'a>(json: &'a Value, pointer: &str) -> Option<&'a str> {
    json.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn required_at<'a>(json: &'a Value, pointer: &str) -> Result<&'a str, IngressError> {
    string_at(json, pointer).ok_or_else(|| IngressError::malformed(format!("missing {pointer}")))
}

fn event_envelope(opened: Opened, now: OffsetDateTime) -> Result<Envelope, IngressError> {
    let json = &opened.json;
    let (event_id, kind, tenant) = if is_schema_v2(json) {
        (
            required_at(json, "/header/event_id")?,
            required_at(json, "/header/event_type")?,
            string_at(json, "/header/tenant_key").or_else(|| string_at(json, "/header/app_id")),
        )
    } else if json.get("type").and_then(Value::as_str) == Some("event_callback") {
        (
            required_at(json, "/uuid")?,
            required_at(json, "/event/type")?,
            string_at(json, "/event/tenant_key").or_else(|| string_at(json, "/event/app_id")),
        )
    } else {
        return Err(IngressError::malformed("neither a v2 event (schema 2.0) nor a v1 event_callback"));
    };
    let message = (kind == "im.message.receive_v1").then(|| message_view(json));
    let tenant = tenant.map(str::to_string);
    let mut envelope = Envelope::new(PROVIDER, event_id, kind, now, opened.verification, opened.json.clone());
    envelope.tenant = tenant;
    envelope.message = message;
    Ok(envelope)
}

fn card_envelope(opened: Opened, raw_body: &[u8], now: OffsetDateTime) -> Result<Envelope, IngressError> {
    let json = &opened.json;
    if is_schema_v2(json) {
        let kind = required_at(json, "/header/event_type")?;
        if kind != "card.action.trigger" {
            return Err(IngressError::malformed(format!("unexpected event type {kind} on the card URL")));
        }
        let event_id = required_at(json, "/header/event_id")?;
        let tenant = string_at(json, "/header/tenant_key").map(str::to_string);
        let mut envelope = Envelope::new(PROVIDER, event_id, kind, now, opened.verification, opened.json.clone());
        envelope.tenant = tenant;
        return Ok(envelope);
    }
    if !json.get("action").is_some_and(Value::is_object) {
        return Err(IngressError::malformed("old-style card callback without an action object"));
    }
    // Old-style callbacks carry no event id: the exact body identifies a retry.
    let tenant = string_at(json, "/tenant_key").map(str::to_string);
    let mut envelope = Envelope::new(
        PROVIDER,
        &Envelope::body_hash_id(raw_body),
        "card.action.trigger_v1",
        now,
        opened.verification,
        opened.json.clone(),
    );
    envelope.tenant = tenant;
    Ok(envelope)
}

/// The chat view of `im.message.receive_v1`.
fn message_view(json: &Value) -> MessageView {
    let message = json.pointer("/event/message").cloned().unwrap_or(Value::Null);
    let text = message_text(
        message.get("message_type").and_then(Value::as_str).unwrap_or_default(),
        message.get("content").and_then(Value::as_str).unwrap_or_default(),
    );
    let message_id = string_at(&message, "/message_id").map(str::to_string);
    let chat_id = string_at(&message, "/chat_id").map(str::to_string);
    MessageView {
        reply_handle: message_id.as_ref().map(|id| json!({ "message_id": id, "chat_id": chat_id })),
        chat_id,
        chat_type: string_at(&message, "/chat_type").map(str::to_string),
        sender_id: string_at(json, "/event/sender/sender_id/open_id")
            .or_else(|| string_at(json, "/event/sender/sender_id/user_id"))
            .map(str::to_string),
        message_id,
        text,
    }
}

/// Extracts plain text from Lark's message `content`, itself a JSON string:
/// `{"text": "..."}` for text messages; for rich-text posts, the text of
/// every element, lines joined by newlines.
pub fn message_text(message_type: &str, content: &str) -> Option<String> {
    let content: Value = serde_json::from_str(content).ok()?;
    match message_type {
        "text" => content.get("text").and_then(Value::as_str).map(str::to_string),
        "post" => {
            // Posts arrive either bare or keyed by language (zh_cn, en_us…).
            let post =
                if content.get("content").is_some() { &content } else { content.as_object()?.values().next()? };
            let mut lines: Vec<String> = Vec::new();
            if let Some(title) = post.get("title").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                lines.push(title.to_string());
            }
            for paragraph in post.get("content")?.as_array()? {
                let line: String = paragraph
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|element| element.get("text").and_then(Value::as_str))
                    .collect();
                lines.push(line);
            }
            Some(lines.join("\n"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_content_is_unwrapped() {
        assert_eq!(message_text("text", r#"{"text":"hi @bot"}"#).as_deref(), Some("hi @bot"));
        assert_eq!(message_text("text", "not json"), None);
        assert_eq!(message_text("image", r#"{"image_key":"x"}"#), None);
    }

    #[test]
    fn post_content_joins_paragraphs_in_either_shape() {
        let bare = r#"{"title":"T","content":[[{"tag":"text","text":"a"},{"tag":"a","text":"b","href":"u"}],[{"tag":"text","text":"c"}]]}"#;
        assert_eq!(message_text("post", bare).as_deref(), Some("T\nab\nc"));
        let by_language = r#"{"zh_cn":{"title":"","content":[[{"tag":"text","text":"x"}]]}}"#;
        assert_eq!(message_text("post", by_language).as_deref(), Some("x"));
    }
}

pub mod samples;
