//! Lark / Feishu: `POST /lark/event` and `POST /lark/card/action`.
//!
//! Handles plain and encrypted bodies, the url_verification challenge, the v1
//! and v2 event schemas, new-style (`card.action.trigger`) and old-style card
//! callbacks. Protocol facts: docs/platforms/lark.md.

use crate::crypto::{decrypt_lark_body, lark_card_signature_v1, lark_signature, signature_matches};
use inlet_shared::config;
use inlet_shared::ingress::parse_json;
use inlet_shared::json::{string_at, value_at};
use inlet_shared::prelude::*;
use inlet_shared::verify::{NamedSecret, Secret};

pub mod crypto;
pub mod samples;

pub const PROVIDER: &str = "lark";
pub const SIGNATURE_HEADER: &str = "x-lark-signature";
pub const TIMESTAMP_HEADER: &str = "x-lark-request-timestamp";
pub const NONCE_HEADER: &str = "x-lark-request-nonce";
const VERIFICATION_TOKEN: &str = "LARK_VERIFICATION_TOKEN";
const ENCRYPT_KEY: &str = "LARK_ENCRYPT_KEY";

/// Settings, read once at start-up.
pub struct LarkFunction {
    pub verification_tokens: SecretList,
    pub encrypt_keys: SecretList,
    pub ingress: IngressSettings,
}

impl Provider for LarkFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "LARK";
    const ROUTES: &'static [Route] = &[
        // Events and card callbacks: 200 within 3 s; the url_verification
        // challenge, the only answer given without enqueueing, within 1 s
        // (docs/platforms/lark.md, "Lark / Feishu events", "Lark card callbacks").
        Route::post("/lark/event").deadline_ms(3000).answer_deadline_ms(1000),
        Route::post("/lark/card/action").deadline_ms(3000).answer_deadline_ms(1000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[VERIFICATION_TOKEN, ENCRYPT_KEY];

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let verification_tokens = config::secrets(env, VERIFICATION_TOKEN);
        if verification_tokens.is_empty() {
            // Every request is checked against it; without one nothing could pass.
            return Err(ConfigError::new(
                VERIFICATION_TOKEN,
                "is required (Lark console → Events & Callbacks → Verification Token)",
            ));
        }
        Ok(LarkFunction {
            verification_tokens,
            encrypt_keys: config::secrets(env, ENCRYPT_KEY),
            ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)?,
        })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let endpoint = if route.is("/lark/card/action") { Endpoint::CardAction } else { Endpoint::Event };
        let mut opened = self.authenticate(request, endpoint, now.unix_timestamp())?;
        if is_url_verification(&opened.json) {
            let challenge = opened
                .json
                .get("challenge")
                .and_then(Value::as_str)
                .ok_or_else(|| IngressError::malformed("url_verification without a challenge string"))?;
            return Ok(Decision::Answer(Reply::ok_json(json!({ "challenge": challenge }))));
        }
        redact_verification_token(&mut opened.json);
        let (envelope, ack) = match endpoint {
            Endpoint::Event => (event_envelope(opened, now)?, json!({"msg": "success"})),
            // `{}` leaves the card unchanged; a sink can update it later.
            Endpoint::CardAction => (card_envelope(opened, &request.body, now)?, json!({})),
        };
        Ok(Decision::enqueue(vec![envelope], Reply::ok_json(ack)))
    }
}

/// The two URLs a Lark app is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    /// Event subscriptions' Request URL.
    Event,
    /// The card callback URL.
    CardAction,
}

impl LarkFunction {
    /// Proves the request genuine and returns its (decrypted) JSON, by one
    /// of three paths, tried in this order:
    ///
    /// 1. Signed with the Encrypt Key (events, new-style card callbacks):
    ///    [`Self::open_signed_with_encrypt_key`].
    /// 2. Signed with the Verification Token (old-style card callbacks, SHA-1):
    ///    [`Self::open_old_style_card`].
    /// 3. Unsigned, proven by the Verification Token in the body alone (the URL
    ///    challenge; everything but old-style cards when no Encrypt Key is set):
    ///    [`Self::open_unsigned`].
    ///
    /// Both signatures are verified over the raw bytes before anything is
    /// parsed. A signature that no configured secret produced proves nothing:
    /// the request falls through to path 3 and is judged as if unsigned, so a
    /// forged signature is refused exactly like a missing one, and stray headers
    /// are ignored where Lark's SDKs ignore them.
    fn authenticate(
        &self,
        request: &IncomingRequest,
        endpoint: Endpoint,
        now_unix: i64,
    ) -> Result<Opened, IngressError> {
        if let Some(headers) = SignatureHeaders::of(request) {
            if let Some(key) = self.encrypt_keys.find(|key| headers.signed_with_encrypt_key(key, &request.body)) {
                return self.open_signed_with_encrypt_key(request, &headers, key, now_unix);
            }
            if endpoint == Endpoint::CardAction
                && let Some(token) =
                    self.verification_tokens.find(|token| headers.signed_with_verification_token(token, &request.body))
                && let Some(opened) = self.open_old_style_card(request, &headers, token, now_unix)?
            {
                return Ok(opened);
            }
        }
        self.open_unsigned(request, endpoint)
    }

    /// Path 1 — events and new-style card callbacks: SHA-256 keyed by the
    /// Encrypt Key. A match proves the sender holds the key, so later
    /// failures may say precisely what is wrong: nothing an oracle could
    /// reveal is hidden from someone who can already decrypt.
    fn open_signed_with_encrypt_key(
        &self,
        request: &IncomingRequest,
        headers: &SignatureHeaders,
        key: &NamedSecret,
        now_unix: i64,
    ) -> Result<Opened, IngressError> {
        self.ingress.timestamp_window.check(headers.timestamp, now_unix)?;
        let outer = parse_json(&request.body)?;
        let json = match encrypted_field(&outer)? {
            Some(ciphertext) => parse_json(&decrypt_lark_body(key.value.expose(), ciphertext)?)?,
            None => outer,
        };
        let token = self.check_token(&json)?;
        Ok(Opened::new(json, "lark-signature", [Some(key), Some(token)]))
    }

    /// Path 2 — old-style card callbacks: SHA-1 keyed by the
    /// Verification Token over the body as received (the ciphertext, when
    /// the app has an Encrypt Key). `None` when the opened body is not an
    /// old-style callback (schema 2.0, or the URL challenge): the scheme does
    /// not cover it, and it must prove itself on path 3's terms.
    ///
    /// The signature proves the Verification Token, not the Encrypt Key, so
    /// decryption failures stay [`IngressError::Unauthenticated`]: a holder
    /// of the token alone must not get a padding oracle on the key.
    fn open_old_style_card(
        &self,
        request: &IncomingRequest,
        headers: &SignatureHeaders,
        token: &NamedSecret,
        now_unix: i64,
    ) -> Result<Option<Opened>, IngressError> {
        let (json, key) = self.open_body_unauthenticated(&request.body)?;
        if is_schema_v2(&json) || is_url_verification(&json) {
            return Ok(None);
        }
        self.ingress.timestamp_window.check(headers.timestamp, now_unix)?;
        // Old-style bodies carry the card's update token, not the
        // Verification Token: the signature is the proof.
        Ok(Some(Opened::new(json, "lark-card-signature-v1", [Some(token), key])))
    }

    /// Path 3, unsigned: what Lark sends with no usable signature, proven
    /// by the Verification Token in the body alone. That is the URL
    /// challenge (Lark never signs it), and, when no Encrypt Key is
    /// configured, events and new-style card callbacks (Lark's signature
    /// headers, if any, are then ignored, as the official SDK ignores them).
    ///
    /// Nothing has proven the request genuine here, so every refusal is the
    /// same [`IngressError::Unauthenticated`]: a caller cannot tell bad
    /// base64 from bad padding from a wrong token (no decryption oracle).
    fn open_unsigned(&self, request: &IncomingRequest, endpoint: Endpoint) -> Result<Opened, IngressError> {
        let (json, key) = self.open_body_unauthenticated(&request.body)?;
        let token_is_enough = is_url_verification(&json)
            || (self.encrypt_keys.is_empty() && (endpoint == Endpoint::Event || is_schema_v2(&json)));
        if !token_is_enough {
            return Err(IngressError::unauthenticated(if self.encrypt_keys.is_empty() {
                "old-style card callback without a valid X-Lark-Signature"
            } else {
                "no valid X-Lark-Signature, and an Encrypt Key is configured (only the URL challenge comes unsigned)"
            }));
        }
        let token = self.check_token(&json).map_err(|error| IngressError::unauthenticated(error.to_string()))?;
        Ok(Opened::new(json, "lark-verification-token", [Some(token), key]))
    }

    /// Parses the body and, when it is encrypted, decrypts it with whichever
    /// configured Encrypt Key opens it (nothing says which one sealed it).
    /// Every failure is [`IngressError::Unauthenticated`] with a fixed reason.
    fn open_body_unauthenticated(&self, body: &[u8]) -> Result<(Value, Option<&NamedSecret>), IngressError> {
        let outer: Value =
            serde_json::from_slice(body).map_err(|_| IngressError::unauthenticated("body is not valid JSON"))?;
        let Some(ciphertext) =
            encrypted_field(&outer).map_err(|error| IngressError::unauthenticated(error.to_string()))?
        else {
            return Ok((outer, None));
        };
        if self.encrypt_keys.is_empty() {
            return Err(IngressError::unauthenticated("body is encrypted but LARK_ENCRYPT_KEY is not set"));
        }
        let mut last_failure = IngressError::unauthenticated("no Encrypt Key opens this body");
        for key in self.encrypt_keys.iter() {
            match decrypt_lark_body(key.value.expose(), ciphertext) {
                Ok(plain) => match serde_json::from_slice(&plain) {
                    Ok(json) => return Ok((json, Some(key))),
                    Err(_) => last_failure = IngressError::unauthenticated("decrypted body is not valid JSON"),
                },
                Err(error) => last_failure = IngressError::unauthenticated(error.to_string()),
            }
        }
        Err(last_failure)
    }

    /// Checks the Verification Token carried in the body: `header.token` in
    /// v2, top-level `token` in v1 and in the challenge. Missing is refused.
    fn check_token(&self, json: &Value) -> Result<&NamedSecret, IngressError> {
        let presented = if is_schema_v2(json) { value_at(json, "/header/token") } else { json.get("token") }
            .and_then(Value::as_str)
            .ok_or(IngressError::MissingCredential("verification token"))?;
        self.verification_tokens
            .find_equal(presented.as_bytes())
            .ok_or(IngressError::BadCredential("verification token"))
    }
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

/// The three headers of a signed request. All must be present for a
/// signature to be checked; without them the request is judged unsigned.
struct SignatureHeaders<'a> {
    timestamp: &'a str,
    nonce: &'a str,
    signature: &'a str,
}

impl<'a> SignatureHeaders<'a> {
    fn of(request: &'a IncomingRequest) -> Option<Self> {
        Some(SignatureHeaders {
            timestamp: request.header(TIMESTAMP_HEADER)?,
            nonce: request.header(NONCE_HEADER)?,
            signature: request.header(SIGNATURE_HEADER)?,
        })
    }

    fn signed_with_encrypt_key(&self, key: &Secret, body: &[u8]) -> bool {
        signature_matches(&lark_signature(self.timestamp, self.nonce, key.expose(), body), self.signature)
    }

    fn signed_with_verification_token(&self, token: &Secret, body: &[u8]) -> bool {
        signature_matches(&lark_card_signature_v1(self.timestamp, self.nonce, token.expose(), body), self.signature)
    }
}

fn is_schema_v2(json: &Value) -> bool {
    json.get("schema").and_then(Value::as_str) == Some("2.0")
}

fn is_url_verification(json: &Value) -> bool {
    json.get("type").and_then(Value::as_str) == Some("url_verification")
}

/// The `encrypt` field, if the body is an encrypted envelope. An empty
/// string counts as absent, as in the official SDKs.
fn encrypted_field(json: &Value) -> Result<Option<&str>, IngressError> {
    match json.get("encrypt") {
        None => Ok(None),
        Some(Value::String(ciphertext)) if ciphertext.is_empty() => Ok(None),
        Some(Value::String(ciphertext)) => Ok(Some(ciphertext)),
        Some(_) => Err(IngressError::malformed("encrypt must be a string")),
    }
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
    // Owned copies of the few fields, so the payload moves into the Envelope
    // instead of being cloned.
    let (event_id, kind, tenant) = (event_id.to_string(), kind.to_string(), tenant.map(str::to_string));
    let mut envelope = Envelope::new(PROVIDER, &event_id, &kind, now, opened.verification, opened.json);
    envelope.tenant = tenant;
    envelope.message = message;
    Ok(envelope)
}

fn card_envelope(opened: Opened, raw_body: &[u8], now: OffsetDateTime) -> Result<Envelope, IngressError> {
    let json = &opened.json;
    if is_schema_v2(json) {
        // `card.action.trigger`, and whatever else Lark sends to the callback
        // URL in the v2 envelope (`url.preview.get` link previews): each is
        // authenticated, has an event id, and is answered `{}` after enqueue.
        let kind = required_at(json, "/header/event_type")?.to_string();
        let event_id = required_at(json, "/header/event_id")?.to_string();
        let tenant = string_at(json, "/header/tenant_key").map(str::to_string);
        const V2: [&str; 4] = [
            "/event/token",
            "/event/context/open_message_id",
            "/event/context/open_chat_id",
            "/event/operator/open_id",
        ];
        let message = if kind == "card.action.trigger" { card_view(json, V2) } else { None };
        let mut envelope = Envelope::new(PROVIDER, &event_id, &kind, now, opened.verification, opened.json);
        envelope.tenant = tenant;
        envelope.message = message;
        return Ok(envelope);
    }
    if !json.get("action").is_some_and(Value::is_object) {
        return Err(IngressError::malformed("old-style card callback without an action object"));
    }
    // Old-style callbacks carry no event id: the exact body identifies a retry.
    let tenant = string_at(json, "/tenant_key").map(str::to_string);
    let message = card_view(json, ["/token", "/open_message_id", "/open_chat_id", "/open_id"]);
    let mut envelope = Envelope::new(
        PROVIDER,
        &Envelope::body_hash_id(raw_body),
        "card.action.trigger_v1",
        now,
        opened.verification,
        opened.json,
    );
    envelope.tenant = tenant;
    envelope.message = message;
    Ok(envelope)
}

/// The chat view of a card callback, from the pointers to its update
/// token, card message, chat and operator (they differ between the two
/// callback schemas). Its reply handle answers in the card's thread, or,
/// with the update token, changes the card (`inlet_shared::reply::lark`);
/// the operator's `open_id` names who sees a first-schema card's update.
/// None when the callback has neither a card message nor an update token.
fn card_view(json: &Value, [token, message_id, chat_id, operator]: [&str; 4]) -> Option<MessageView> {
    let field = |pointer| string_at(json, pointer).map(str::to_string);
    let (card_token, message_id, chat_id, operator) =
        (field(token), field(message_id), field(chat_id), field(operator));
    if card_token.is_none() && message_id.is_none() {
        return None;
    }
    let handle: serde_json::Map<String, Value> =
        [("message_id", &message_id), ("chat_id", &chat_id), ("card_token", &card_token), ("open_id", &operator)]
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_string(), Value::from(value.clone()?))))
            .collect();
    Some(MessageView {
        chat_id,
        sender_id: operator,
        message_id,
        reply_handle: Some(Value::Object(handle)),
        ..MessageView::default()
    })
}

/// The chat view of `im.message.receive_v1`.
fn message_view(json: &Value) -> MessageView {
    let null = Value::Null;
    let message = value_at(json, "/event/message").unwrap_or(&null);
    let text = message_text(
        message.get("message_type").and_then(Value::as_str).unwrap_or_default(),
        message.get("content").and_then(Value::as_str).unwrap_or_default(),
    );
    let message_id = string_at(message, "/message_id").map(str::to_string);
    let chat_id = string_at(message, "/chat_id").map(str::to_string);
    MessageView {
        reply_handle: message_id.as_ref().map(|id| json!({ "message_id": id, "chat_id": chat_id })),
        chat_id,
        chat_type: string_at(message, "/chat_type").map(str::to_string),
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
    use crate::crypto::encrypt_lark_body;
    use http::Method;
    use std::collections::HashMap;

    const TOKEN: &str = "unit-token-value";
    const KEY: &str = "unit-encrypt-key-value";

    #[test]
    fn unauthenticated_reasons_are_precise_for_the_log_and_carry_no_secret() {
        let env: HashMap<&str, &str> = [("LARK_VERIFICATION_TOKEN", TOKEN), ("LARK_ENCRYPT_KEY", KEY)].into();
        let function = LarkFunction::from_env(&env).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let sealed = |key: &str, plain: &[u8]| json!({"encrypt": encrypt_lark_body(key, [1; 16], plain)}).to_string();
        let challenge = |token: &str| json!({"challenge": "c", "token": token, "type": "url_verification"});
        let cases = [
            ("{oops".to_string(), "body is not valid JSON"),
            (r#"{"encrypt":"%%%"}"#.to_string(), "base64"),
            (sealed("another key", challenge(TOKEN).to_string().as_bytes()), "padding"),
            (sealed(KEY, b"not json"), "decrypted body is not valid JSON"),
            (sealed(KEY, challenge("guess").to_string().as_bytes()), "verification token"),
            (json!({"schema": "2.0", "header": {"token": TOKEN}}).to_string(), "X-Lark-Signature"),
        ];
        for (body, expected) in cases {
            let request = IncomingRequest::new(Method::POST, "/lark/event", body);
            let route = inlet_shared::provider::match_route(LarkFunction::ROUTES, &request).unwrap();
            match function.decide(&route, &request, now) {
                Err(IngressError::Unauthenticated(reason)) => {
                    assert!(reason.contains(expected), "{reason:?} should mention {expected:?}");
                    assert!(!reason.contains(TOKEN) && !reason.contains(KEY), "secret in {reason:?}");
                }
                other => panic!("expected Unauthenticated({expected}), got {other:?}"),
            }
        }
    }

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
