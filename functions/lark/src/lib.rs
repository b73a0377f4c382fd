//! Lark / Feishu: `POST /lark/event` and `POST /lark/card/action`.
//!
//! Handles plain and encrypted bodies, the url_verification challenge, the v1
//! and v2 event schemas, new-style (`card.action.trigger`) and old-style card
//! callbacks. Protocol facts: docs/platforms/lark.md.

use crate::crypto::{decrypt_lark_body, lark_card_signature_v1, lark_signature, signature_matches};
use http::HeaderName;
use inlet_shared::config;
use inlet_shared::envelope::{Keep, Payload};
use inlet_shared::json::{self, Every, Field};
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

    const PLATFORM: &'static str = include_str!("../platform.toml");

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
        let mut plaintext = String::new();
        let opened = self.authenticate(request, endpoint, now.unix_timestamp(), &mut plaintext)?;
        if is_url_verification(&opened.body) {
            let challenge = opened
                .body
                .challenge
                .as_str()
                .ok_or_else(|| IngressError::malformed("url_verification without a challenge string"))?;
            return Ok(Decision::Answer(Reply::ok_json(json!({ "challenge": challenge }))));
        }
        // The acknowledgements are fixed bytes, the JSON `json!` would write.
        let (envelope, ack): (_, &[u8]) = match endpoint {
            Endpoint::Event => (event_envelope(opened, now)?, br#"{"msg":"success"}"#),
            // `{}` leaves the card unchanged; a sink can update it later.
            Endpoint::CardAction => (card_envelope(opened, &request.body, now)?, b"{}"),
        };
        let ack = Reply::new(StatusCode::OK, Some("application/json"), ack.to_vec());
        Ok(Decision::enqueue(vec![envelope], ack))
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
    /// Proves the request genuine and returns its (decrypted) JSON, read, by
    /// one of three paths, tried in this order:
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
    ///
    /// A decrypted body is written to `plaintext`, which the result borrows.
    fn authenticate<'t>(
        &self,
        request: &'t IncomingRequest,
        endpoint: Endpoint,
        now_unix: i64,
        plaintext: &'t mut String,
    ) -> Result<Opened<'t>, IngressError> {
        let headers = SignatureHeaders::of(request);
        if let Some(headers) = &headers
            && let Some(key) = self.encrypt_keys.find(|key| headers.signed_with_encrypt_key(key, &request.body))
        {
            return self.open_signed_with_encrypt_key(request, headers, key, now_unix, plaintext);
        }
        // Paths 2 and 3 open the body alike.
        let (body, payload, key) = self.open_body_unauthenticated(&request.body, plaintext)?;
        if endpoint == Endpoint::CardAction
            && let Some(headers) = &headers
            && let Some(token) =
                self.verification_tokens.find(|token| headers.signed_with_verification_token(token, &request.body))
            && !is_schema_v2(&body)
            && !is_url_verification(&body)
        {
            return self.open_old_style_card(payload, body, headers, token, key, now_unix);
        }
        self.open_unsigned(payload, body, key, endpoint)
    }

    /// Path 1 — events and new-style card callbacks: SHA-256 keyed by the
    /// Encrypt Key. A match proves the sender holds the key, so later
    /// failures may say precisely what is wrong: nothing an oracle could
    /// reveal is hidden from someone who can already decrypt.
    fn open_signed_with_encrypt_key<'t>(
        &self,
        request: &'t IncomingRequest,
        headers: &SignatureHeaders,
        key: &NamedSecret,
        now_unix: i64,
        plaintext: &'t mut String,
    ) -> Result<Opened<'t>, IngressError> {
        self.ingress.timestamp_window.check(headers.timestamp, now_unix)?;
        let (outer, payload) = read(json::text_of(&request.body)?)?;
        let (body, payload) = match encrypted_field(&outer.encrypt)? {
            Some(ciphertext) => {
                *plaintext = json::into_text(decrypt_lark_body(key.value.expose(), ciphertext)?)?;
                read(plaintext)?
            }
            None => (outer, payload),
        };
        let token = self.check_token(&body)?;
        Ok(Opened::new(payload, body, "lark-signature", [Some(key), Some(token)]))
    }

    /// Path 2 — old-style card callbacks: SHA-1 keyed by the Verification
    /// Token over the body as received (the ciphertext, when the app has an
    /// Encrypt Key), for an opened body that is an old-style callback (not
    /// schema 2.0, not the URL challenge: the scheme does not cover those,
    /// and they must prove themselves on path 3's terms).
    ///
    /// The signature proves the Verification Token, not the Encrypt Key, so
    /// decryption failures stay [`IngressError::Unauthenticated`]: a holder
    /// of the token alone must not get a padding oracle on the key.
    fn open_old_style_card<'t>(
        &self,
        payload: Option<Payload>,
        body: Body<'t>,
        headers: &SignatureHeaders,
        token: &NamedSecret,
        key: Option<&NamedSecret>,
        now_unix: i64,
    ) -> Result<Opened<'t>, IngressError> {
        self.ingress.timestamp_window.check(headers.timestamp, now_unix)?;
        // Old-style bodies carry the card's update token, not the
        // Verification Token: the signature is the proof.
        Ok(Opened::new(payload, body, "lark-card-signature-v1", [Some(token), key]))
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
    fn open_unsigned<'t>(
        &self,
        payload: Option<Payload>,
        body: Body<'t>,
        key: Option<&NamedSecret>,
        endpoint: Endpoint,
    ) -> Result<Opened<'t>, IngressError> {
        let token_is_enough = is_url_verification(&body)
            || (self.encrypt_keys.is_empty() && (endpoint == Endpoint::Event || is_schema_v2(&body)));
        if !token_is_enough {
            return Err(IngressError::unauthenticated(if self.encrypt_keys.is_empty() {
                "old-style card callback without a valid X-Lark-Signature"
            } else {
                "no valid X-Lark-Signature, and an Encrypt Key is configured (only the URL challenge comes unsigned)"
            }));
        }
        let token = self.check_token(&body).map_err(|error| IngressError::unauthenticated(error.to_string()))?;
        Ok(Opened::new(payload, body, "lark-verification-token", [Some(token), key]))
    }

    /// Reads the body and, when it is encrypted, decrypts it into
    /// `plaintext` with whichever configured Encrypt Key opens it (nothing
    /// says which one sealed it). Every failure is
    /// [`IngressError::Unauthenticated`] with a fixed reason.
    fn open_body_unauthenticated<'t>(
        &self,
        body: &'t [u8],
        plaintext: &'t mut String,
    ) -> Result<(Body<'t>, Option<Payload>, Option<&NamedSecret>), IngressError> {
        let not_json = |_| IngressError::unauthenticated("body is not valid JSON");
        let (outer, payload) = read(json::text_of(body).map_err(not_json)?).map_err(not_json)?;
        let Some(ciphertext) =
            encrypted_field(&outer.encrypt).map_err(|error| IngressError::unauthenticated(error.to_string()))?
        else {
            return Ok((outer, payload, None));
        };
        if self.encrypt_keys.is_empty() {
            return Err(IngressError::unauthenticated("body is encrypted but LARK_ENCRYPT_KEY is not set"));
        }
        let mut last_failure = IngressError::unauthenticated("no Encrypt Key opens this body");
        for key in self.encrypt_keys.iter() {
            match decrypt_lark_body(key.value.expose(), ciphertext) {
                Ok(plain) => match String::from_utf8(plain) {
                    Ok(plain) if serde_json::from_str::<json::Checked>(&plain).is_ok() => {
                        *plaintext = plain;
                        let (body, payload) = read(plaintext)
                            .map_err(|_| IngressError::unauthenticated("decrypted body is not valid JSON"))?;
                        return Ok((body, payload, Some(key)));
                    }
                    _ => last_failure = IngressError::unauthenticated("decrypted body is not valid JSON"),
                },
                Err(error) => last_failure = IngressError::unauthenticated(error.to_string()),
            }
        }
        Err(last_failure)
    }

    /// Checks the Verification Token carried in the body: `header.token` in
    /// v2, top-level `token` in v1 and in the challenge. Missing is refused.
    fn check_token(&self, body: &Body) -> Result<&NamedSecret, IngressError> {
        let presented =
            if is_schema_v2(body) { body.header.last().and_then(|h| h.token.last()) } else { body.token.last() }
                .and_then(Field::as_str)
                .ok_or(IngressError::MissingCredential("verification token"))?;
        self.verification_tokens
            .find_equal(presented.as_bytes())
            .ok_or(IngressError::BadCredential("verification token"))
    }
}

inlet_shared::json_object! {
    /// What inlet reads of a Lark body, whichever it is: the encrypted
    /// envelope (`encrypt`), the URL challenge, a v1 or v2 event, a card
    /// callback of either schema. Strings are borrowed from the body.
    struct Body<'a> {
        encrypt, schema, kind = "type", challenge,
        /// The Verification Token (v1, the challenge) or a card's update
        /// token (old-style callbacks); every occurrence, to cut them all.
        token: Every<Field<'a>>,
        uuid, header: Every<Header<'a>>, event: Event<'a>, action, tenant_key, open_message_id,
        open_chat_id, open_id,
    }
}

inlet_shared::json_object! {
    /// A v2 body's `header`.
    struct Header<'a> { token: Every<Field<'a>>, event_id, event_type, tenant_key, app_id }
}

inlet_shared::json_object! {
    /// `event`: a v1 event's type and tenant, a message, a card action.
    struct Event<'a> {
        kind = "type", tenant_key, app_id, token, context: CardContext<'a>, operator: Operator<'a>,
        message: Message<'a>, sender: Sender<'a>,
    }
}

inlet_shared::json_object! {
    struct CardContext<'a> { open_message_id, open_chat_id }
}

inlet_shared::json_object! {
    struct Operator<'a> { open_id }
}

inlet_shared::json_object! {
    struct Message<'a> { message_type, content, message_id, chat_id, chat_type }
}

inlet_shared::json_object! {
    struct Sender<'a> { sender_id: SenderId<'a> }
}

inlet_shared::json_object! {
    struct SenderId<'a> { open_id, user_id }
}

/// Reads Lark's JSON as its view, and keeps what the Envelope's payload
/// needs of it: nothing for an encrypted envelope (its plaintext is read
/// next) or the URL challenge (answered, not queued); else the JSON as Lark
/// sent it less the Verification Token.
///
/// Lark repeats the token inside every v1 and v2 body. It is a secret, and
/// the Envelope never carries secrets, so the payload loses exactly that
/// member (`header.token` in v2, `token` of a v1 `event_callback`), every
/// occurrence of it. (Card callbacks' own `token` fields are the card's
/// update token, which a sink needs, and stay.)
fn read(text: &str) -> Result<(Body<'_>, Option<Payload>), IngressError> {
    Payload::view_keeping(text, |body: &Body| {
        if !matches!(encrypted_field(&body.encrypt), Ok(None)) || is_url_verification(body) {
            Keep::Nothing
        } else if is_schema_v2(body) {
            // Placed by the reading when each is a plain string; else looked up.
            let found: Option<Vec<Vec<_>>> =
                body.header.0.iter().map(|header| header.token.string_spans(text)).collect();
            Keep::Without { path: &["header"], name: "token", found: found.map(|spans| spans.concat()) }
        } else if body.kind.as_str() == Some("event_callback") {
            Keep::Without { path: &[], name: "token", found: body.token.string_spans(text) }
        } else {
            Keep::Whole
        }
    })
}

/// A verified body: what inlet read of it, its payload, and how it was
/// verified.
struct Opened<'t> {
    body: Body<'t>,
    payload: Option<Payload>,
    verification: Verification,
}

impl<'t> Opened<'t> {
    fn new(payload: Option<Payload>, body: Body<'t>, scheme: &str, matched: [Option<&NamedSecret>; 2]) -> Self {
        let names: Vec<&str> = matched.iter().flatten().map(|s| s.name.as_str()).collect();
        let matched = (!names.is_empty()).then(|| names.join(","));
        Opened { body, payload, verification: Verification { scheme: scheme.to_string(), matched } }
    }
}

/// The payload of a body that is queued (only the challenge has none).
fn payload_of(payload: Option<Payload>) -> Result<Payload, IngressError> {
    payload.ok_or_else(|| IngressError::malformed("nothing to queue"))
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
        // Looked up by name constants: no parsing of the names per request.
        const TIMESTAMP: HeaderName = HeaderName::from_static(TIMESTAMP_HEADER);
        const NONCE: HeaderName = HeaderName::from_static(NONCE_HEADER);
        const SIGNATURE: HeaderName = HeaderName::from_static(SIGNATURE_HEADER);
        let header = |name: &HeaderName| request.headers.get(name).and_then(|value| value.to_str().ok());
        Some(SignatureHeaders {
            timestamp: header(&TIMESTAMP)?,
            nonce: header(&NONCE)?,
            signature: header(&SIGNATURE)?,
        })
    }

    fn signed_with_encrypt_key(&self, key: &Secret, body: &[u8]) -> bool {
        signature_matches(&lark_signature(self.timestamp, self.nonce, key.expose(), body), self.signature)
    }

    fn signed_with_verification_token(&self, token: &Secret, body: &[u8]) -> bool {
        signature_matches(&lark_card_signature_v1(self.timestamp, self.nonce, token.expose(), body), self.signature)
    }
}

fn is_schema_v2(body: &Body) -> bool {
    body.schema.as_str() == Some("2.0")
}

fn is_url_verification(body: &Body) -> bool {
    body.kind.as_str() == Some("url_verification")
}

/// The `encrypt` field, if the body is an encrypted envelope. An empty
/// string counts as absent, as in the official SDKs.
fn encrypted_field<'f>(encrypt: &'f Field<'_>) -> Result<Option<&'f str>, IngressError> {
    match encrypt {
        Field::Absent => Ok(None),
        Field::String(ciphertext) if ciphertext.is_empty() => Ok(None),
        Field::String(ciphertext) => Ok(Some(ciphertext)),
        _ => Err(IngressError::malformed("encrypt must be a string")),
    }
}

/// A required non-empty string, or a 400 naming where it was expected.
fn required<'f>(field: Option<&'f Field<'_>>, pointer: &str) -> Result<&'f str, IngressError> {
    field.and_then(Field::text).ok_or_else(|| IngressError::malformed(format!("missing {pointer}")))
}

fn text(field: Option<&Field>) -> Option<String> {
    field.and_then(Field::text).map(str::to_string)
}

fn event_envelope(opened: Opened, now: OffsetDateTime) -> Result<Envelope, IngressError> {
    let Opened { body, payload, verification } = opened;
    let body = &body;
    let header = body.header.last();
    let (event_id, kind, tenant) = if is_schema_v2(body) {
        (
            required(header.map(|h| &h.event_id), "/header/event_id")?,
            required(header.map(|h| &h.event_type), "/header/event_type")?,
            text(header.map(|h| &h.tenant_key)).or_else(|| text(header.map(|h| &h.app_id))),
        )
    } else if body.kind.as_str() == Some("event_callback") {
        (
            required(Some(&body.uuid), "/uuid")?,
            required(Some(&body.event.kind), "/event/type")?,
            text(Some(&body.event.tenant_key)).or_else(|| text(Some(&body.event.app_id))),
        )
    } else {
        return Err(IngressError::malformed("neither a v2 event (schema 2.0) nor a v1 event_callback"));
    };
    let message = (kind == "im.message.receive_v1").then(|| message_view(&body.event));
    let mut envelope = Envelope::new(PROVIDER, event_id, kind, now, verification, payload_of(payload)?);
    envelope.tenant = tenant;
    envelope.message = message;
    Ok(envelope)
}

fn card_envelope(opened: Opened, raw_body: &[u8], now: OffsetDateTime) -> Result<Envelope, IngressError> {
    let Opened { body, payload, verification } = opened;
    let body = &body;
    if is_schema_v2(body) {
        // `card.action.trigger`, and whatever else Lark sends to the callback
        // URL in the v2 envelope (`url.preview.get` link previews): each is
        // authenticated, has an event id, and is answered `{}` after enqueue.
        let header = body.header.last();
        let kind = required(header.map(|h| &h.event_type), "/header/event_type")?;
        let event_id = required(header.map(|h| &h.event_id), "/header/event_id")?;
        let tenant = text(header.map(|h| &h.tenant_key));
        let event = &body.event;
        let message = if kind == "card.action.trigger" {
            card_view(
                Some(&event.token),
                &event.context.open_message_id,
                &event.context.open_chat_id,
                &event.operator.open_id,
            )
        } else {
            None
        };
        let mut envelope = Envelope::new(PROVIDER, event_id, kind, now, verification, payload_of(payload)?);
        envelope.tenant = tenant;
        envelope.message = message;
        return Ok(envelope);
    }
    if !body.action.is_object() {
        return Err(IngressError::malformed("old-style card callback without an action object"));
    }
    // Old-style callbacks carry no event id: the exact body identifies a retry.
    let tenant = text(Some(&body.tenant_key));
    let message = card_view(body.token.last(), &body.open_message_id, &body.open_chat_id, &body.open_id);
    let mut envelope = Envelope::new(
        PROVIDER,
        &Envelope::body_hash_id(raw_body),
        "card.action.trigger_v1",
        now,
        verification,
        payload_of(payload)?,
    );
    envelope.tenant = tenant;
    envelope.message = message;
    Ok(envelope)
}

/// The chat view of a card callback, from its update token, card message,
/// chat and operator (they sit in different places in the two callback
/// schemas). Its reply handle answers in the card's thread, or, with the
/// update token, changes the card (`inlet_shared::reply::lark`); the
/// operator's `open_id` names who sees a first-schema card's update. None
/// when the callback has neither a card message nor an update token.
fn card_view(token: Option<&Field>, message_id: &Field, chat_id: &Field, operator: &Field) -> Option<MessageView> {
    let (card_token, message_id, chat_id, operator) =
        (text(token), text(Some(message_id)), text(Some(chat_id)), text(Some(operator)));
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
fn message_view(event: &Event) -> MessageView {
    let message = &event.message;
    let text =
        message_text(message.message_type.as_str().unwrap_or_default(), message.content.as_str().unwrap_or_default());
    let message_id = message.message_id.text().map(str::to_string);
    let chat_id = message.chat_id.text().map(str::to_string);
    let sender = &event.sender.sender_id;
    MessageView {
        reply_handle: message_id.as_ref().map(|id| json!({ "message_id": id, "chat_id": chat_id })),
        chat_id,
        chat_type: message.chat_type.text().map(str::to_string),
        sender_id: sender.open_id.text().or_else(|| sender.user_id.text()).map(str::to_string),
        message_id,
        text,
    }
}

inlet_shared::json_object! {
    /// A text message's `content`.
    struct TextContent<'a> { text }
}

/// Extracts plain text from Lark's message `content`, itself a JSON string:
/// `{"text": "..."}` for text messages; for rich-text posts, the text of
/// every element, lines joined by newlines.
pub fn message_text(message_type: &str, content: &str) -> Option<String> {
    match message_type {
        "text" => serde_json::from_str::<TextContent>(content).ok()?.text.as_str().map(str::to_string),
        "post" => post_text(&serde_json::from_str(content).ok()?),
        _ => None,
    }
}

/// A rich-text post's lines.
fn post_text(content: &Value) -> Option<String> {
    // Posts arrive either bare or keyed by language (zh_cn, en_us…).
    let post = if content.get("content").is_some() { content } else { content.as_object()?.values().next()? };
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
