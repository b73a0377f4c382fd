//! Answering back: a reply to the conversation an event came from, sent
//! through the platform's own API by one client per platform.
//!
//! The team's code says only what to answer (a [`Reply`]: text, or the
//! platform's card or blocks as raw JSON, and whether it changes the
//! original message). The clients hold the platform credentials, the
//! tokens they exchange them for, and the platform's limits; the event's
//! reply handle (`Envelope.message.reply_handle`, [`ReplyTarget`]) says
//! where the conversation is.
//!
//! Three ways in, one way out (docs/reference/replies.md):
//! - an HTTP destination's answer `{"reply": {...}}` (the processor queues it);
//! - the reply queue: `{"event_id": "...", "reply": {...}}` from any code;
//! - `inlet reply <event-id> --text "..."`.
//!
//! Each arrives at the reply function as a [`ReplyRequest`], which claims
//! its id in the dedup table before sending, so a redelivered request is
//! not posted twice.
//!
//! A failed send is a [`ReplyError`] (the delivery error): transient ones
//! (a timeout, 5xx, the platform's throttling with its wait) are retried by
//! the queue, permanent ones (an expired handle, a refused token, a handle
//! the client cannot use) are recorded and never retried. A reason never
//! holds a token, a secret or a URL that carries one.

pub mod dingtalk;
pub mod discord;
pub mod hosts;
pub mod lark;
pub mod pace;
pub mod request;
pub mod slack;
pub mod telegram;
pub mod token;
pub mod wecom;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use aws_smithy_types::body::SdkBody;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::aws::outbound::{Answer, CallError, call};
use crate::config::EnvSource;
pub use crate::delivery::DeliveryError as ReplyError;
use crate::envelope::Envelope;
use crate::error::ConfigError;

/// How long one call to a platform's API may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a platform's answer is read (their answers are small JSON).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The longest text a reply may carry before any platform's own limit
/// (Telegram's 4096 characters is the smallest; each client checks its own).
pub const MAX_TEXT_CHARS: usize = 40_000;

/// What to answer. At least one of `text` and `card`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The platform's own rich message, as its API takes it: a Lark card,
    /// Slack blocks (an array), Discord message fields (`embeds`,
    /// `components`), a Telegram `reply_markup`, a DingTalk `actionCard`
    /// or `markdown`, a WeCom `markdown` or `template_card`. Each client's
    /// documentation says where it goes.
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "blocks")]
    pub card: Option<Value>,
    /// Change the message the event came from (the card whose button was
    /// pressed, the interaction's original answer) instead of posting a
    /// new one. Lark, Discord, Slack and Telegram support it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub update: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Reply { text: Some(text.into()), ..Reply::default() }
    }

    /// Reads a reply from JSON (a destination's answer, a queue message),
    /// refusing what no platform could send: the reason says which field.
    pub fn from_json(value: &Value) -> Result<Reply, String> {
        let reply: Reply = serde_json::from_value(value.clone()).map_err(|error| {
            format!("a reply is {{\"text\": \"...\"}} or {{\"card\": {{...}}}} (with \"update\": true to change the original): {error}")
        })?;
        reply.check()?;
        Ok(reply)
    }

    /// What every platform needs of a reply.
    pub fn check(&self) -> Result<(), String> {
        let text = self.text.as_deref().filter(|t| !t.trim().is_empty());
        match (text, &self.card) {
            (None, None) => return Err("a reply needs a non-empty text or a card".into()),
            (_, Some(card)) if card.is_null() => return Err("card is null".into()),
            _ => {}
        }
        if let Some(text) = text
            && text.chars().count() > MAX_TEXT_CHARS
        {
            return Err(format!("text is longer than {MAX_TEXT_CHARS} characters"));
        }
        Ok(())
    }

    /// The text, when the reply has a non-empty one.
    pub fn text_str(&self) -> Option<&str> {
        self.text.as_deref().filter(|t| !t.trim().is_empty())
    }
}

/// Where a reply goes: what the event said about its conversation.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyTarget {
    /// The Envelope id of the event being answered.
    pub event_id: String,
    pub provider: String,
    /// `Envelope.tenant`: the bot (Telegram), the app or team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// When inlet received the event: the start of a handle's lifetime
    /// (Discord's 15 minutes, Slack's 30, Lark's card token's 30).
    pub received_at: String,
    /// The conversation: `Envelope.message.chat_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// `Envelope.message.reply_handle`: the provider's own fields.
    pub handle: Value,
}

/// The handle may hold a short-lived credential (an interaction token, a
/// response_url): `Debug` names its fields, never their values.
impl std::fmt::Debug for ReplyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields: Vec<&str> =
            self.handle.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        f.debug_struct("ReplyTarget")
            .field("event_id", &self.event_id)
            .field("provider", &self.provider)
            .field("tenant", &self.tenant)
            .field("received_at", &self.received_at)
            .field("chat_id", &self.chat_id)
            .field("handle", &fields)
            .finish()
    }
}

impl ReplyTarget {
    /// The target of `envelope`; an event without a reply handle cannot be
    /// answered (a permanent error that says so).
    pub fn of(envelope: &Envelope) -> Result<ReplyTarget, ReplyError> {
        let message = envelope.message.as_ref();
        let handle = message.and_then(|m| m.reply_handle.clone()).filter(|h| !h.is_null()).ok_or_else(|| {
            ReplyError::permanent(format!(
                "event {} ({} {}) has no reply handle: there is no conversation to answer",
                envelope.id, envelope.provider, envelope.kind
            ))
        })?;
        Ok(ReplyTarget {
            event_id: envelope.id.clone(),
            provider: envelope.provider.clone(),
            tenant: envelope.tenant.clone(),
            received_at: envelope.received_at.clone(),
            chat_id: message.and_then(|m| m.chat_id.clone()),
            handle,
        })
    }

    /// A string field of the handle.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.handle.get(name).and_then(Value::as_str).filter(|v| !v.is_empty())
    }

    /// A field of the handle that the client cannot do without.
    pub fn required(&self, name: &str) -> Result<&str, ReplyError> {
        self.field(name).ok_or_else(|| {
            ReplyError::permanent(format!(
                "the {} reply handle of event {} has no {name}",
                self.provider, self.event_id
            ))
        })
    }

    /// How long ago the event was received, at `now` (zero if in the
    /// future, or if `received_at` were unreadable: inlet writes it as RFC
    /// 3339, and no handle is taken for expired because of a bad date).
    pub fn age(&self, now: SystemTime) -> Duration {
        let Ok(received) = OffsetDateTime::parse(&self.received_at, &Rfc3339) else {
            return Duration::ZERO;
        };
        Duration::try_from(OffsetDateTime::from(now) - received).unwrap_or(Duration::ZERO)
    }

    /// Whether a part of the handle that the platform takes for `lifetime`
    /// after the event (an interaction token, a `response_url`) is past it
    /// at `now`.
    pub fn expired(&self, lifetime: Duration, now: SystemTime) -> bool {
        self.age(now) >= lifetime
    }

    /// Refuses, without a call, a handle past its `lifetime` at `now`: the
    /// reason says what `expired` (`the interaction token expired (15
    /// min)`) and when the event was received.
    pub fn within(&self, lifetime: Duration, now: SystemTime, expired: &str) -> Result<(), ReplyError> {
        if !self.expired(lifetime, now) {
            return Ok(());
        }
        Err(ReplyError::permanent(format!(
            "{expired}: {} event {} was received at {}",
            self.provider, self.event_id, self.received_at
        )))
    }
}

/// What a platform answered to a reply that it took.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// Which API took it (`lark im.v1.message.reply`, `slack response_url`).
    pub via: String,
    /// The platform's id of the message posted, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl Sent {
    pub fn via(via: impl Into<String>) -> Self {
        Sent { via: via.into(), message_id: None }
    }

    pub fn with_message_id(mut self, id: Option<String>) -> Self {
        self.message_id = id;
        self
    }
}

/// One reply to send: what, where, under which id, and when.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    pub target: &'a ReplyTarget,
    pub reply: &'a Reply,
    /// Identifies this reply on every attempt (platforms that take an
    /// idempotency key get it).
    pub reply_id: &'a str,
    /// Decides whether the handle has expired.
    pub now: SystemTime,
}

impl<'a> Outgoing<'a> {
    pub fn new(target: &'a ReplyTarget, reply: &'a Reply, reply_id: &'a str, now: SystemTime) -> Self {
        Outgoing { target, reply, reply_id, now }
    }
}

/// One platform's reply API.
#[async_trait]
pub trait ReplyClient: Send + Sync {
    /// Sends the reply to its target's conversation.
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<Sent, ReplyError>;
}

/// Every platform's client, by provider.
#[derive(Clone, Default)]
pub struct Replies {
    clients: BTreeMap<&'static str, Arc<dyn ReplyClient>>,
}

impl std::fmt::Debug for Replies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.clients.keys()).finish()
    }
}

/// The providers inlet can answer (one client each in [`Replies::from_env`]).
pub const PROVIDERS: &[&str] =
    &[dingtalk::PROVIDER, discord::PROVIDER, lark::PROVIDER, slack::PROVIDER, telegram::PROVIDER, wecom::PROVIDER];

/// The secret settings the reply clients read (resolved from the secret
/// store at init like the receivers' own).
pub const SECRET_SETTINGS: &[&str] = &[lark::APP_SECRET, telegram::BOT_TOKENS, slack::BOT_TOKEN, wecom::CORP_SECRET];

impl Replies {
    /// A client for each platform inlet can answer, with the credentials
    /// and API bases `env` holds. A platform whose credentials are not set
    /// still gets its client: a reply to it fails with the setting's name.
    /// A setting that is set but unusable stops start-up.
    pub fn from_env(env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Replies, ConfigError> {
        Ok(Replies::default()
            .with(lark::PROVIDER, Arc::new(lark::LarkClient::from_env(env, connector.clone())?))
            .with(telegram::PROVIDER, Arc::new(telegram::TelegramClient::from_env(env, connector.clone())?))
            .with(discord::PROVIDER, Arc::new(discord::DiscordClient::from_env(env, connector.clone())?))
            .with(slack::PROVIDER, Arc::new(slack::SlackClient::from_env(env, connector.clone())?))
            .with(dingtalk::PROVIDER, Arc::new(dingtalk::DingTalkClient::from_env(env, connector.clone())?))
            .with(wecom::PROVIDER, Arc::new(wecom::WeComClient::from_env(env, connector)?)))
    }

    /// Adds (or replaces) the client that answers `provider`'s events.
    pub fn with(mut self, provider: &'static str, client: Arc<dyn ReplyClient>) -> Self {
        self.clients.insert(provider, client);
        self
    }

    pub fn providers(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.clients.keys().copied()
    }

    /// Sends the reply with the client of its target's provider.
    pub async fn send(&self, outgoing: Outgoing<'_>) -> Result<Sent, ReplyError> {
        outgoing.reply.check().map_err(ReplyError::permanent)?;
        let provider = outgoing.target.provider.as_str();
        let client = self.clients.get(provider).ok_or_else(|| {
            ReplyError::permanent(format!(
                "inlet cannot answer {provider} events (replies go to {})",
                self.clients.keys().copied().collect::<Vec<_>>().join(", ")
            ))
        })?;
        client.send(outgoing).await
    }
}

/// A platform API's base URL from `setting`, or `default`: an absolute
/// `https://` URL (or `http://` for the local stack and the tests), kept
/// without a trailing slash.
pub fn api_base(env: &dyn EnvSource, setting: &str, default: &str) -> Result<String, ConfigError> {
    let base = crate::config::optional(env, setting).unwrap_or_else(|| default.to_string());
    let parsed: http::Uri = base.parse().map_err(|_| ConfigError::new(setting, format!("{base:?} is not a URL")))?;
    match parsed.scheme_str() {
        Some("https") | Some("http") if parsed.host().is_some() => {}
        _ => return Err(ConfigError::new(setting, format!("{base:?} is not an http(s):// URL with a host"))),
    }
    if parsed.query().is_some() {
        return Err(ConfigError::new(setting, "a base URL takes no query"));
    }
    Ok(base.trim_end_matches('/').to_string())
}

/// The error for a reply to a platform whose credential is not configured.
pub fn not_configured(provider: &str, setting: &str) -> ReplyError {
    ReplyError::permanent(format!("{setting} is not set: inlet cannot answer {provider} events without it"))
}

/// The error for a call that got no answer: always worth another attempt.
pub fn unanswered(api: &str, error: CallError) -> ReplyError {
    ReplyError::transient(format!("{api}: {error}"))
}

/// How a client calls its platform's API: one connector, the same limits
/// on every call, and no secret in what comes back.
#[derive(Clone)]
pub struct Http {
    connector: SharedHttpConnector,
}

/// A connector holds nothing worth showing.
impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

impl Http {
    pub fn new(connector: SharedHttpConnector) -> Self {
        Http { connector }
    }

    /// Sends `request`, a call of `api` (one that could not be built got no
    /// answer either), within [`CALL_TIMEOUT`], reading at most
    /// [`MAX_ANSWER_BYTES`] of the answer. Each of `secrets` (a token the
    /// URL carries, the credential a URL is) is replaced by `<token>` in the
    /// answer's body and in the reason of a call that got no answer.
    pub async fn call(
        &self,
        api: &str,
        request: Result<http::Request<SdkBody>, CallError>,
        secrets: &[&str],
    ) -> Result<Answer, ReplyError> {
        let failed = |error| scrub_reason(unanswered(api, error), secrets);
        let mut answer =
            call(&self.connector, request.map_err(failed)?, CALL_TIMEOUT, MAX_ANSWER_BYTES).await.map_err(failed)?;
        // A reason quotes the start of a body; cut short, a secret in it
        // would no longer be whole to be replaced afterwards.
        answer.body = without_secrets(answer.body, secrets);
        Ok(answer)
    }
}

/// `body` with every occurrence of each of `secrets` (a token a URL
/// carried, an app secret) replaced by `<token>`. Done to an answer before
/// anything quotes it: a reason quotes only the start of a body, and a
/// secret cut in half there could no longer be found to be replaced.
pub fn without_secrets(body: Vec<u8>, secrets: &[&str]) -> Vec<u8> {
    let mut body = body;
    for secret in secrets.iter().map(|s| s.as_bytes()).filter(|s| !s.is_empty()) {
        if !body.windows(secret.len()).any(|window| window == secret) {
            continue;
        }
        let mut scrubbed = Vec::with_capacity(body.len());
        let mut rest = body.as_slice();
        while !rest.is_empty() {
            if rest.starts_with(secret) {
                scrubbed.extend_from_slice(b"<token>");
                rest = &rest[secret.len()..];
            } else {
                scrubbed.push(rest[0]);
                rest = &rest[1..];
            }
        }
        body = scrubbed;
    }
    body
}

/// `error` with each of `secrets` replaced by `<token>` in its reason: a
/// transport error or a quoted answer may hold the URL a token travels in.
pub fn scrub_reason(mut error: ReplyError, secrets: &[&str]) -> ReplyError {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if error.reason.contains(secret) {
            error.reason = error.reason.replace(secret, "<token>");
        }
    }
    error
}

/// The parts of a URL that arrived in an event and carry its credential
/// (Slack's `response_url` path, DingTalk's `session=` value), for
/// [`without_secrets`]: the URL, everything after its host, and every path
/// segment and query value of 8 characters or more.
pub fn url_secrets(url: &str) -> Vec<&str> {
    let mut secrets = vec![url];
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    if let Some(at) = after_scheme.find(['/', '?']) {
        let rest = &after_scheme[at..];
        secrets.push(rest);
        for part in rest.split(['/', '?', '&', '#']) {
            let value = part.split_once('=').map_or(part, |(_, value)| value);
            if value.len() >= 8 {
                secrets.push(value);
            }
        }
    }
    // Longest first, so a part inside a longer secret is not replaced first
    // and leave the rest of the longer one visible.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    secrets
}

/// The default meaning of an HTTP status from a platform's API, for the
/// answers the client does not read more closely: 429 throttled (after
/// `Retry-After`), 408 and 5xx transient, other 4xx permanent. The reason
/// quotes at most the start of the body, never a header.
pub fn by_status(api: &str, answer: &Answer, now: SystemTime) -> ReplyError {
    let status = answer.status;
    let body = crate::verify::truncate_for_log(&String::from_utf8_lossy(&answer.body)).to_string();
    let reason = format!("{api} answered {status}: {body}");
    match status {
        429 | 408 | 500..=599 => ReplyError::transient_after(answer.retry_after(now), reason),
        _ => ReplyError::permanent(reason),
    }
}

/// DingTalk's and WeCom's "system busy".
pub const ERRCODE_BUSY: i64 = -1;

/// An answer of DingTalk's or WeCom's API, which share a shape: HTTP 200
/// with `{"errcode": 0, "errmsg": "ok", ...}`, or an error's code (a
/// number, or its digits) and message. Its JSON and its code; an error for
/// a status outside 2xx ([`by_status`]) or an answer without `platform`'s
/// JSON.
pub fn errcode_of(
    api: &str,
    platform: &str,
    answer: &Answer,
    now: SystemTime,
) -> Result<(Value, Option<i64>), ReplyError> {
    if !(200..300).contains(&answer.status) {
        return Err(by_status(api, answer, now));
    }
    let Some(json) = answer.json() else {
        // The platform always answers JSON: anything else came from
        // something on the way, and the next attempt may reach it.
        return Err(ReplyError::transient(format!("{api} answered {} without {platform}'s JSON", answer.status)));
    };
    let code = json.get("errcode").and_then(|c| c.as_i64().or_else(|| c.as_str().and_then(|s| s.parse().ok())));
    Ok((json, code))
}

/// What an error code of [`errcode_of`] means when the client knows no more
/// of it: none at all, or the platform busy, is worth another attempt; any
/// other refuses the reply. `message` is the `errmsg` as a reason may quote
/// it.
pub fn errcode_failure(api: &str, status: u16, code: Option<i64>, message: &str) -> ReplyError {
    match code {
        None => ReplyError::transient(format!("{api} answered {status} without an errcode")),
        Some(ERRCODE_BUSY) => ReplyError::transient(format!("{api} failed: {ERRCODE_BUSY} {message}")),
        Some(code) => ReplyError::permanent(format!("{api} refused the reply: {code} {message}")),
    }
}

/// Checks that a DingTalk or WeCom card of `msgtype` holds that type's own
/// object (`"markdown": {...}`): the platforms answer a message without it
/// with a code that names no field; this says which one.
pub fn check_msgtype_part(platform: &str, card: &Map<String, Value>, msgtype: &str) -> Result<(), String> {
    if card.get(msgtype).is_some_and(Value::is_object) {
        return Ok(());
    }
    Err(format!("a {platform} {msgtype} card needs its \"{msgtype}\" object"))
}

/// What the clients' unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub const NOW: SystemTime = SystemTime::UNIX_EPOCH;

    /// An answer with `body`: JSON, or text as it came.
    pub fn answer(status: u16, body: impl std::fmt::Display) -> Answer {
        answer_with(status, body, &[])
    }

    pub fn answer_with(status: u16, body: impl std::fmt::Display, headers: &[(&'static str, &str)]) -> Answer {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, http::HeaderValue::from_str(value).unwrap());
        }
        Answer { status, headers: map, body: body.to_string().into_bytes() }
    }

    /// The target of `provider`'s event `event_id`, received at [`NOW`].
    pub fn target(
        provider: &str,
        event_id: &str,
        tenant: Option<&str>,
        chat_id: Option<&str>,
        handle: Value,
    ) -> ReplyTarget {
        ReplyTarget {
            event_id: event_id.into(),
            provider: provider.into(),
            tenant: tenant.map(str::to_string),
            received_at: "1970-01-01T00:00:00Z".into(),
            chat_id: chat_id.map(str::to_string),
            handle,
        }
    }

    /// What `from_env` builds from `env`, with the system's TLS roots.
    pub fn client<C>(
        env: &[(&str, &str)],
        from_env: fn(&dyn EnvSource, SharedHttpConnector) -> Result<C, ConfigError>,
    ) -> Result<C, ConfigError> {
        let env: std::collections::HashMap<&str, &str> = env.iter().copied().collect();
        from_env(&env, crate::aws::outbound::connector(&crate::aws::tls::TlsRoots::System))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{MessageView, Verification};
    use serde_json::json;

    #[test]
    fn a_reply_needs_text_or_a_card_and_refuses_unknown_fields() {
        assert_eq!(Reply::from_json(&json!({"text": "hi"})).unwrap(), Reply::text("hi"));
        let card = Reply::from_json(&json!({"card": {"elements": []}, "update": true})).unwrap();
        assert!(card.update && card.card.is_some() && card.text.is_none());
        let blocks = Reply::from_json(&json!({"blocks": [{"type": "divider"}]})).unwrap();
        assert_eq!(blocks.card, Some(json!([{"type": "divider"}])), "blocks is the card field's other name");
        for bad in [json!({}), json!({"text": "  "}), json!({"card": null}), json!({"txt": "hi"}), json!("hi")] {
            assert!(Reply::from_json(&bad).is_err(), "{bad}");
        }
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(Reply::from_json(&json!({ "text": long })).unwrap_err().contains("longer"));
    }

    #[test]
    fn a_target_is_the_events_reply_handle_and_an_event_without_one_cannot_be_answered() {
        let mut envelope = Envelope::new(
            "telegram",
            "bot1:7",
            "message",
            OffsetDateTime::UNIX_EPOCH,
            Verification { scheme: "none".into(), matched: None },
            json!({}),
        );
        let error = ReplyTarget::of(&envelope).unwrap_err();
        assert!(error.is_permanent() && error.reason.contains("no reply handle"), "{error}");
        envelope.tenant = Some("bot1".into());
        envelope.message = Some(MessageView {
            chat_id: Some("42".into()),
            reply_handle: Some(json!({"chat_id": "42", "message_id": "7"})),
            ..MessageView::default()
        });
        let target = ReplyTarget::of(&envelope).unwrap();
        assert_eq!((target.field("chat_id"), target.tenant.as_deref()), (Some("42"), Some("bot1")));
        assert!(target.required("callback_query_id").unwrap_err().is_permanent());
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(90);
        assert_eq!(target.age(later), Duration::from_secs(90));
        assert!(target.within(Duration::from_secs(91), later, "the handle expired").is_ok());
        let expired = target.within(Duration::from_secs(90), later, "the handle expired (1.5 min)").unwrap_err();
        assert!(expired.is_permanent(), "{expired}");
        assert_eq!(
            expired.reason,
            "the handle expired (1.5 min): telegram event telegram:bot1:7 was received at 1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn secrets_are_replaced_wherever_an_answer_holds_them() {
        let body = b"GET /bot123:SECRET/sendMessage failed; token 123:SECRET again".to_vec();
        let scrubbed = String::from_utf8(without_secrets(body, &["123:SECRET", ""])).unwrap();
        assert_eq!(scrubbed, "GET /bot<token>/sendMessage failed; token <token> again");
        assert_eq!(without_secrets(b"clean".to_vec(), &["x1"]), b"clean");
    }

    #[test]
    fn every_provider_inlet_answers_has_a_client() {
        let replies = testing::client(&[], Replies::from_env).unwrap();
        assert_eq!(replies.providers().collect::<Vec<_>>(), PROVIDERS);
        let target = testing::target("discord", "discord:1", None, None, json!({"interaction_token": "SECRET-TOKEN"}));
        let shown = format!("{target:?}");
        assert!(shown.contains("interaction_token") && !shown.contains("SECRET-TOKEN"), "{shown}");
    }

    #[test]
    fn a_urls_credential_parts_are_found_for_scrubbing() {
        let url = "https://hooks.slack.com/commands/T1/123/abcdefSECRET?x=1";
        let body = format!("error for {url} and /commands/T1/123/abcdefSECRET and abcdefSECRET alone").into_bytes();
        let scrubbed = String::from_utf8(without_secrets(body, &url_secrets(url))).unwrap();
        assert!(!scrubbed.contains("abcdefSECRET"), "{scrubbed}");
        let session = "https://oapi.dingtalk.com/robot/sendBySession?session=c5d4e2f1a0b9";
        assert!(url_secrets(session).contains(&"c5d4e2f1a0b9"));
    }

    #[test]
    fn api_bases_are_absolute_http_urls_without_a_trailing_slash() {
        let env: std::collections::HashMap<&str, &str> = [("X_API_BASE", "http://127.0.0.1:9/api/")].into();
        assert_eq!(api_base(&env, "X_API_BASE", "https://x.example").unwrap(), "http://127.0.0.1:9/api");
        assert_eq!(api_base(&env, "Y_API_BASE", "https://y.example").unwrap(), "https://y.example");
        for bad in ["ftp://x", "not a url", "/relative", "https://x.example/?q=1"] {
            let env: std::collections::HashMap<&str, &str> = [("X_API_BASE", bad)].into();
            let error = api_base(&env, "X_API_BASE", "https://x.example").unwrap_err();
            assert_eq!(error.name, "X_API_BASE", "{bad}");
        }
    }
}
