//! WeCom (企业微信) application callbacks: `GET` and `POST /wecom/callback`.
//!
//! GET verifies the URL: `msg_signature` over the encrypted `echostr`, which
//! is answered decrypted, as bare text, and nothing is enqueued; only a
//! plaintext shaped like WeCom's echo is answered (see [`is_wecom_echo`]).
//! POST carries a message or event: an XML body whose `<Encrypt>` holds the
//! AES-encrypted message XML, `msg_signature` over that ciphertext. Before
//! the signature is checked only `<Encrypt>` is read from the body; the
//! message, once open, becomes the Envelope's payload as JSON (see [`xml`]).
//! Protocol facts: docs/platforms/wecom.md, WeCom section; scheme: [`crypto`].
//!
//! Every failure before the message is open (missing parameter, signature,
//! timestamp window, base64, padding, length, receive id), and a URL check
//! that opens to anything but WeCom's echo, is the one uniform 401: the
//! reasons stay in the log, so neither a prober nor a holder of captured
//! ciphertext learns which check failed.
//!
//! Ids: `MsgId` for messages; events have none, so theirs is the SHA-256
//! of the decrypted message (see [`event_id`]).

use inlet_shared::config;
use inlet_shared::prelude::*;
use inlet_shared::verify::{NamedSecret, sha256_hex};

pub mod crypto;
pub mod samples;
pub mod xml;

pub const PROVIDER: &str = "wecom";
pub const ROUTE: &str = "/wecom/callback";
pub const TOKEN: &str = "WECOM_TOKEN";
pub const ENCODING_AES_KEY: &str = "WECOM_ENCODING_AES_KEY";
pub const CORP_ID: &str = "WECOM_CORP_ID";
pub const SCHEME: &str = "wecom-msg-signature";

/// One configured EncodingAESKey, decoded once at start-up.
#[derive(Clone)]
pub struct AesKey {
    /// `WECOM_ENCODING_AES_KEY#n`.
    pub name: String,
    key: [u8; 32],
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AesKey({}, ***)", self.name)
    }
}

impl AesKey {
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }
}

/// Settings, read once at start-up.
pub struct WecomFunction {
    /// `WECOM_TOKEN#n`: the app's Token (several while rotating).
    pub tokens: SecretList,
    /// `WECOM_ENCODING_AES_KEY#n`, decoded.
    pub keys: Vec<AesKey>,
    /// The receive id every plaintext must end with (not a secret: it is in
    /// every message's `ToUserName`).
    pub corp_id: String,
    pub ingress: IngressSettings,
}

impl Provider for WecomFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "WECOM";
    const ROUTES: &'static [Route] = &[
        // POST callbacks within 5 s; the GET echostr check, answered without
        // enqueueing, within 1 s (docs/platforms/wecom.md, "WeCom app callbacks").
        Route::new(&["GET", "POST"], ROUTE).deadline_ms(5000).answer_deadline_ms(1000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[TOKEN, ENCODING_AES_KEY];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let tokens = config::secrets(env, TOKEN);
        if tokens.is_empty() {
            return Err(ConfigError::new(TOKEN, "is required (WeCom admin → the app → 接收消息 → API接收 → Token)"));
        }
        let mut keys = Vec::new();
        for entry in config::secrets(env, ENCODING_AES_KEY).iter() {
            // The message names the entry, never its value.
            let key = crypto::decode_encoding_aes_key(entry.value.expose()).ok_or_else(|| {
                ConfigError::new(ENCODING_AES_KEY, format!("{} must be the 43 characters WeCom shows", entry.name))
            })?;
            keys.push(AesKey { name: entry.name.clone(), key });
        }
        if keys.is_empty() {
            return Err(ConfigError::new(
                ENCODING_AES_KEY,
                "is required (WeCom admin → the app → 接收消息 → API接收 → EncodingAESKey)",
            ));
        }
        let corp_id = config::required(env, CORP_ID)?.trim().to_string();
        if corp_id.is_empty() {
            return Err(ConfigError::new(CORP_ID, "is required (WeCom admin → 我的企业 → 企业ID)"));
        }
        Ok(WecomFunction { tokens, keys, corp_id, ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)? })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, _route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        if request.method == http::Method::GET { self.verify_url(request, now) } else { self.receive(request, now) }
    }
}

/// What a verified, opened request proved.
struct Opened<'a> {
    message: Vec<u8>,
    token: &'a NamedSecret,
    key: &'a AesKey,
}

impl Opened<'_> {
    fn verification(&self) -> Verification {
        Verification { scheme: SCHEME.into(), matched: Some(format!("{},{}", self.token.name, self.key.name)) }
    }
}

impl WecomFunction {
    /// GET: the URL check WeCom runs when the callback URL is saved. The
    /// answer is the decrypted `echostr`, bare (no quotes, no newline).
    ///
    /// `msg_signature` is the same SHA-1 over `echostr` as over a POST's
    /// `<Encrypt>`, so a captured POST's query and ciphertext make a valid
    /// GET: answering any plaintext would decrypt captured messages for
    /// whoever asks. Only a plaintext shaped like WeCom's echo is answered;
    /// anything else is the uniform 401, like every other failure here.
    fn verify_url(&self, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let echostr = query(request, "echostr")?;
        let opened = self.open(request, &base64_from_query(echostr), now)?;
        if !is_wecom_echo(&opened.message) {
            return Err(IngressError::unauthenticated("echostr opens, but not to a decimal echo as WeCom sends"));
        }
        Ok(Decision::Answer(Reply::new(StatusCode::OK, Some("text/plain"), opened.message)))
    }

    /// POST: a message or event. Verified and decrypted, then parsed.
    fn receive(&self, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let ciphertext = encrypt_element(&request.body)?;
        let opened = self.open(request, &ciphertext, now)?;
        // From here the sender has proven the Token and the EncodingAESKey:
        // refusals may say precisely what is wrong.
        let text = std::str::from_utf8(&opened.message)
            .map_err(|_| IngressError::malformed("decrypted message is not UTF-8"))?;
        let document =
            xml::parse(text).map_err(|reason| IngressError::malformed(format!("decrypted message: {reason}")))?;
        let envelope = envelope(document.value, &opened.message, opened.verification(), now)?;
        // An empty 200 is "no passive reply": any reply would have to be encrypted XML.
        Ok(Decision::enqueue(vec![envelope], Reply::empty(StatusCode::OK)))
    }

    /// Checks `msg_signature` over `ciphertext` against every Token, the
    /// signed timestamp against the window, then opens the ciphertext with
    /// whichever EncodingAESKey does. Every failure is a 401 (see the crate
    /// documentation); the precise reason goes to the log.
    fn open(
        &self,
        request: &IncomingRequest,
        ciphertext: &str,
        now: OffsetDateTime,
    ) -> Result<Opened<'_>, IngressError> {
        let signature = query(request, "msg_signature")?;
        let timestamp = query(request, "timestamp")?;
        let nonce = query(request, "nonce")?;
        let token = self
            .tokens
            .find(|token| {
                let expected = crypto::msg_signature(token.expose(), timestamp, nonce, ciphertext);
                crypto::signature_matches(&expected, signature)
            })
            .ok_or(IngressError::BadCredential("msg_signature"))?;
        // wechatpy checks no time; WeCom signs the timestamp, so inlet
        // refuses replays outside the window (WeCom's own retries come
        // within seconds, each answered in under 5 s).
        self.ingress.timestamp_window.check(timestamp, now.unix_timestamp())?;
        let mut failure = "no EncodingAESKey opens the message";
        for key in &self.keys {
            match crypto::open(key.key(), ciphertext, &self.corp_id) {
                Ok(message) => return Ok(Opened { message, token, key }),
                Err(reason) => failure = reason,
            }
        }
        Err(IngressError::unauthenticated(failure))
    }
}

/// A required query parameter; absent or empty is a missing credential.
fn query<'r>(request: &'r IncomingRequest, name: &'static str) -> Result<&'r str, IngressError> {
    request.query.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or(IngressError::MissingCredential(name))
}

/// A base64 value from the query as WeCom signed it. API Gateway decodes
/// `%2B` to `+` and keeps a bare `+`; a sender or proxy that form-decodes
/// turns a bare `+` into a space. Base64 holds no space, so a space can only
/// be a `+` that was mangled: restoring it gives back the signed bytes (the
/// signature is still checked over them), never a different value.
pub fn base64_from_query(value: &str) -> String {
    value.replace(' ', "+")
}

/// The longest `echostr` plaintext answered. WeCom's echo is a random
/// 64-bit number in decimal (the public vector's is `1616140317555161061`,
/// 19 digits); the largest such number has 20.
pub const MAX_ECHO_DIGITS: usize = 20;

/// Whether a decrypted `echostr` is shaped like WeCom's: 1 to
/// [`MAX_ECHO_DIGITS`] ASCII digits. Every message WeCom POSTs is XML
/// (it starts with `<`), so no captured message passes.
pub fn is_wecom_echo(plaintext: &[u8]) -> bool {
    (1..=MAX_ECHO_DIGITS).contains(&plaintext.len()) && plaintext.iter().all(u8::is_ascii_digit)
}

/// The ciphertext of a POST body: the text of `<Encrypt>` under the root,
/// read as a stream before anything is authenticated, so nothing but that
/// text is kept (no tree of the other elements: memory stays that text
/// plus the reader's bookkeeping). The body must still be one well-formed
/// element, as a full parse would require. The rest of the outer XML
/// (`ToUserName`, `AgentID`) is not signed and is not used: the decrypted
/// message repeats what matters.
fn encrypt_element(body: &[u8]) -> Result<String, IngressError> {
    let text = std::str::from_utf8(body).map_err(|_| IngressError::unauthenticated("body is not UTF-8"))?;
    match xml::root_child_text(text, "Encrypt") {
        Ok(Some(ciphertext)) if !ciphertext.is_empty() => Ok(ciphertext),
        Ok(_) => Err(IngressError::MissingCredential("Encrypt")),
        Err(reason) => Err(IngressError::unauthenticated(format!("body: {reason}"))),
    }
}

fn field<'v>(message: &'v Value, name: &str) -> Option<&'v str> {
    message.get(name).and_then(Value::as_str).filter(|v| !v.is_empty())
}

fn required<'v>(message: &'v Value, name: &str) -> Result<&'v str, IngressError> {
    field(message, name).ok_or_else(|| IngressError::malformed(format!("message has no {name}")))
}

/// The id after `wecom:`. A message's own `MsgId`, which WeCom documents
/// as the key to dedup messages by. Events have no id: WeCom suggests
/// `FromUserName` + `CreateTime`, but customer-service events
/// (`kf_msg_or_event`) have no `FromUserName`, and events of one sender in
/// one second are told apart by fields that differ per event type
/// (`ExternalUserID`, `ChatId`, `ApprovalInfo/SpNo`, `BatchJob/JobId`,
/// `Token`, …); any list of them misses the next type WeCom adds. So an
/// event, or a message without `MsgId`, is identified by `sha256:` and the
/// hex SHA-256 of the whole decrypted message (`plaintext`, the XML as
/// WeCom sealed it): a retry is the same message sealed again (new random
/// prefix, nonce and timestamp, same XML), so it keeps its id, and two
/// events that differ in any field get two ids.
pub fn event_id(message: &Value, plaintext: &[u8]) -> Result<String, IngressError> {
    let msg_type = required(message, "MsgType")?;
    if msg_type != "event"
        && let Some(msg_id) = field(message, "MsgId")
    {
        return Ok(msg_id.to_string());
    }
    Ok(format!("sha256:{}", sha256_hex(plaintext)))
}

/// `MsgType`, or `event.<Event>` for events (`event.change_contact`).
pub fn kind(message: &Value) -> Result<String, IngressError> {
    let msg_type = required(message, "MsgType")?;
    if msg_type == "event" { Ok(format!("event.{}", required(message, "Event")?)) } else { Ok(msg_type.to_string()) }
}

fn envelope(
    message: Value,
    plaintext: &[u8],
    verification: Verification,
    now: OffsetDateTime,
) -> Result<Envelope, IngressError> {
    if !message.is_object() {
        return Err(IngressError::malformed("decrypted message is not an element with fields"));
    }
    let (id, kind) = (event_id(&message, plaintext)?, kind(&message)?);
    let tenant = field(&message, "ToUserName").map(str::to_string);
    let view = message_view(&message);
    let mut envelope = Envelope::new(PROVIDER, &id, &kind, now, verification, message);
    envelope.tenant = tenant;
    envelope.message = view;
    Ok(envelope)
}

/// The message view of a user's message (not of events): who wrote, where,
/// the text of text messages, and what a sink needs to answer through the
/// app (`message/send` with the agent id and the user, or the group chat).
pub fn message_view(message: &Value) -> Option<MessageView> {
    let msg_type = field(message, "MsgType")?;
    if msg_type == "event" {
        return None;
    }
    let sender = field(message, "FromUserName").map(str::to_string);
    let chat = field(message, "ChatId").map(str::to_string);
    Some(MessageView {
        chat_id: chat.clone().or_else(|| sender.clone()),
        chat_type: Some(if chat.is_some() { "group" } else { "single" }.to_string()),
        message_id: field(message, "MsgId").map(str::to_string),
        text: (msg_type == "text")
            .then(|| message.get("Content").and_then(Value::as_str))
            .flatten()
            .map(str::to_string),
        reply_handle: Some(json!({
            "agent_id": field(message, "AgentID"),
            "to_user": sender,
            "chat_id": chat,
        })),
        sender_id: sender,
    })
}
