//! WeCom (企业微信): a reply goes through the server API as the app the
//! event came to: `message/send` to the member who wrote, or
//! `appchat/send` to the group chat the message was in.
//!
//! The app's `Secret` (`WECOM_CORP_SECRET`, with `WECOM_CORP_ID`) is
//! exchanged at `gettoken` for an access token that lives two hours; one
//! token serves every reply of the function until shortly before it
//! expires, and a token WeCom calls invalid or expired is fetched anew once
//! per reply. The token travels in the query (`access_token=`), so no
//! reason, log or `Debug` shows a URL, a token or the secret.
//!
//! The card of a [`Reply`] is WeCom's own message: an object with
//! `msgtype` and its field (`markdown`, `textcard`, `template_card` …), put
//! in the body in place of the text. A card cannot name recipients: the
//! reply goes to the event's conversation. WeCom cannot change a sent
//! message.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use aws_smithy_types::body::SdkBody;
use serde_json::{Map, Value, json};

use super::pace::Pacer;
use super::token::{Judged, TokenCache};
use super::{
    Http, Outgoing, Reply, ReplyClient, ReplyError, ReplyTarget, Sent, api_base, check_msgtype_part, errcode_failure,
    errcode_of, not_configured,
};
use crate::aws::outbound::{Answer, CallError, USER_AGENT, json_request};
use crate::config::{EnvSource, optional};
use crate::error::ConfigError;
use crate::form::percent_encode;
use crate::verify::{Secret, truncate_for_log};

/// The provider whose events the client answers.
pub const PROVIDER: &str = "wecom";
pub const CORP_ID: &str = "WECOM_CORP_ID";
pub const CORP_SECRET: &str = "WECOM_CORP_SECRET";
pub const AGENT_ID: &str = "WECOM_AGENT_ID";
pub const API_BASE: &str = "WECOM_API_BASE";
/// The platform's own API host.
pub const DEFAULT_API_BASE: &str = "https://qyapi.weixin.qq.com";

pub const VIA_MESSAGE_SEND: &str = "wecom message/send";
pub const VIA_APPCHAT_SEND: &str = "wecom appchat/send";
const GETTOKEN: &str = "wecom gettoken";

/// WeCom takes 30 messages a minute from an app to one member.
pub const PACE: Duration = Duration::from_secs(2);
/// WeCom's frequency answers name no wait; its limits are per minute.
pub const THROTTLE_WAIT: Duration = Duration::from_secs(60);
/// The longest text WeCom takes in a text message.
pub const MAX_TEXT_BYTES: usize = 2048;
/// What a token lives when `gettoken` does not say (WeCom's documented 7200 s).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(7200);

/// `gettoken`'s answers to a wrong corp id or secret: only the operator can
/// fix them.
pub const CREDENTIAL_ERRORS: &[i64] = &[40001, 40013, 40091, 40056];
/// An access token WeCom no longer takes (40014 invalid, 42001 expired).
pub const TOKEN_ERRORS: &[i64] = &[40014, 42001];
/// Frequency limits (45009 the app's, 45033 concurrent calls).
pub const THROTTLE_ERRORS: &[i64] = &[45009, 45033];
/// The invalid agentid answer of `message/send`.
const INVALID_AGENT_ID: i64 = 40056;
/// The body fields that say who gets a message: the conversation decides.
const RECIPIENT_FIELDS: &[&str] = &["touser", "toparty", "totag", "chatid", "agentid"];

/// The app's credentials, when `WECOM_CORP_SECRET` is set.
struct Credentials {
    corp_id: String,
    secret: Secret,
    agent_id: i64,
}

pub struct WeComClient {
    http: Http,
    api_base: String,
    credentials: Option<Credentials>,
    tokens: TokenCache,
    pacer: Pacer,
}

impl std::fmt::Debug for WeComClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let credentials = self.credentials.as_ref();
        f.debug_struct("WeComClient")
            .field("api_base", &self.api_base)
            .field("corp_id", &credentials.map(|c| c.corp_id.as_str()))
            .field("agent_id", &credentials.map(|c| c.agent_id))
            .field("secret", &credentials.map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// Who a reply goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient<'a> {
    /// A member, through `message/send`.
    User(&'a str),
    /// A group chat, through `appchat/send`.
    Chat(&'a str),
}

impl Recipient<'_> {
    /// The recipient of `target`: its group chat when the message was in
    /// one, otherwise the member who wrote.
    pub fn of(target: &ReplyTarget) -> Result<Recipient<'_>, ReplyError> {
        match target.field("chat_id") {
            Some(chat) => Ok(Recipient::Chat(chat)),
            None => target.required("to_user").map(Recipient::User),
        }
    }

    fn api(self) -> (&'static str, &'static str) {
        match self {
            Recipient::User(_) => (VIA_MESSAGE_SEND, "message/send"),
            Recipient::Chat(_) => (VIA_APPCHAT_SEND, "appchat/send"),
        }
    }

    fn pace_key(self) -> String {
        match self {
            Recipient::User(user) => format!("user:{user}"),
            Recipient::Chat(chat) => format!("chat:{chat}"),
        }
    }
}

impl WeComClient {
    /// Without `WECOM_CORP_SECRET` the client exists and every reply fails
    /// naming it; with it, the corp id and the app's agent id are required.
    pub fn from_env(env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        let agent_id = optional(env, AGENT_ID)
            .map(|raw| {
                raw.parse::<i64>().map_err(|_| {
                    ConfigError::new(AGENT_ID, format!("{raw:?} is not an integer (WeCom admin → the app → AgentId)"))
                })
            })
            .transpose()?;
        let credentials = match optional(env, CORP_SECRET) {
            None => None,
            Some(secret) => Some(Credentials {
                corp_id: optional(env, CORP_ID).ok_or_else(|| {
                    ConfigError::new(
                        CORP_ID,
                        format!("is required with {CORP_SECRET} (WeCom admin → 我的企业 → 企业ID)"),
                    )
                })?,
                agent_id: agent_id.ok_or_else(|| {
                    ConfigError::new(
                        AGENT_ID,
                        format!("is required with {CORP_SECRET}: the AgentId of the app whose Secret it is"),
                    )
                })?,
                secret: Secret::new(secret),
            }),
        };
        Ok(WeComClient {
            http: Http::new(connector),
            api_base: api_base(env, API_BASE, DEFAULT_API_BASE)?,
            credentials,
            tokens: TokenCache::new(),
            pacer: Pacer::new(PACE),
        })
    }

    async fn fetch_token(&self, credentials: &Credentials, now: SystemTime) -> Result<(Secret, Duration), ReplyError> {
        let url = format!(
            "{}/cgi-bin/gettoken?corpid={}&corpsecret={}",
            self.api_base,
            percent_encode(&credentials.corp_id),
            percent_encode(credentials.secret.expose())
        );
        let request = http::Request::builder()
            .method(http::Method::GET)
            .uri(url)
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(SdkBody::empty())
            // The URL holds the secret: the error does not show it.
            .map_err(|_| CallError::Build("the URL is not valid HTTP".into()));
        let answer = self.http.call(GETTOKEN, request, &[credentials.secret.expose()]).await?;
        judge_token(&answer, credentials, now)
    }

    async fn post(&self, path: &str, token: &Secret, body: &Value) -> Result<Answer, ReplyError> {
        let url = format!("{}/cgi-bin/{path}?access_token={}", self.api_base, percent_encode(token.expose()));
        let request = json_request(http::Method::POST, &url, &[], body);
        self.http.call(&format!("wecom {path}"), request, &[token.expose()]).await
    }
}

#[async_trait]
impl ReplyClient for WeComClient {
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<Sent, ReplyError> {
        let Outgoing { target, reply, now, .. } = outgoing;
        if reply.update {
            return Err(ReplyError::permanent(
                "WeCom cannot change a sent message (update is not supported): answer with a new one",
            ));
        }
        let Some(credentials) = &self.credentials else {
            return Err(not_configured(PROVIDER, CORP_SECRET));
        };
        check_app(target, credentials.agent_id)?;
        let recipient = Recipient::of(target)?;
        let body = body_of(recipient, credentials.agent_id, reply).map_err(ReplyError::permanent)?;
        let (api, path) = recipient.api();
        self.pacer.wait_turn(&recipient.pace_key()).await;
        let fetch = || self.fetch_token(credentials, now);
        let body = &body;
        let attempt = |token: Secret| async move {
            let answer = self.post(path, &token, body).await?;
            Ok(judge_send(api, &answer, &token, now))
        };
        self.tokens.call(api, &target.event_id, fetch, attempt).await
    }
}

/// An event that came to another app of the corp cannot be answered as
/// this one: WeCom would refuse the token for it, or the member would hear
/// from an app they did not write to.
fn check_app(target: &ReplyTarget, agent_id: i64) -> Result<(), ReplyError> {
    let came_to = match target.handle.get("agent_id") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_string(),
        Some(Value::Number(id)) => id.to_string(),
        _ => return Ok(()),
    };
    if came_to == agent_id.to_string() {
        return Ok(());
    }
    Err(ReplyError::permanent(format!(
        "event {} came to WeCom app {}, but {AGENT_ID} is {agent_id}: inlet answers as that app only",
        target.event_id,
        truncate_for_log(&came_to)
    )))
}

/// The message's own fields: the card as WeCom takes it, or a text message.
fn content_of(reply: &Reply) -> Result<Map<String, Value>, String> {
    let Some(card) = &reply.card else {
        let text = reply.text_str().ok_or("a reply needs a non-empty text or a card")?;
        if text.len() > MAX_TEXT_BYTES {
            return Err(format!("text is {} bytes; WeCom takes at most {MAX_TEXT_BYTES} bytes of text", text.len()));
        }
        let mut fields = Map::new();
        fields.insert("msgtype".into(), json!("text"));
        fields.insert("text".into(), json!({"content": text}));
        return Ok(fields);
    };
    let fields = card
        .as_object()
        .ok_or("a wecom card is a JSON object with \"msgtype\" and its field (markdown, textcard, template_card …)")?;
    let msgtype = fields
        .get("msgtype")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("a wecom card needs \"msgtype\" (markdown, textcard, template_card …) and its field")?;
    check_msgtype_part(PROVIDER, fields, msgtype)?;
    if let Some(field) = RECIPIENT_FIELDS.iter().find(|field| fields.contains_key(**field)) {
        return Err(format!("a wecom card cannot name {field}: a reply goes to the event's conversation"));
    }
    Ok(fields.clone())
}

/// The body of `reply` to `recipient`, the app being `agent_id`.
pub fn body_of(recipient: Recipient<'_>, agent_id: i64, reply: &Reply) -> Result<Value, String> {
    let mut body = Map::new();
    match recipient {
        Recipient::User(user) => {
            body.insert("touser".into(), json!(user));
            body.insert("agentid".into(), json!(agent_id));
        }
        Recipient::Chat(chat) => {
            body.insert("chatid".into(), json!(chat));
        }
    }
    body.extend(content_of(reply)?);
    Ok(Value::Object(body))
}

/// The `errmsg` of a WeCom answer, cut short and without `secret`.
fn errmsg(json: &Value, secret: &Secret) -> String {
    let mut message = json.get("errmsg").and_then(Value::as_str).unwrap_or_default().to_string();
    if !secret.expose().is_empty() {
        message = message.replace(secret.expose(), "***");
    }
    truncate_for_log(&message)
}

fn judge_token(answer: &Answer, credentials: &Credentials, now: SystemTime) -> Result<(Secret, Duration), ReplyError> {
    let (json, code) = errcode_of(GETTOKEN, "WeCom", answer, now)?;
    let mut message = errmsg(&json, &credentials.secret);
    if !credentials.corp_id.is_empty() {
        message = message.replace(&credentials.corp_id, "***");
    }
    match code {
        Some(0) | None => {}
        Some(code) if CREDENTIAL_ERRORS.contains(&code) => {
            return Err(ReplyError::permanent(format!(
                "{GETTOKEN} refused {CORP_ID} / {CORP_SECRET} ({code} {message}): set the corp id and the Secret of the app {AGENT_ID} names"
            )));
        }
        Some(code) => return Err(ReplyError::transient(format!("{GETTOKEN} failed: {code} {message}"))),
    }
    let token = json.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or_else(|| {
        ReplyError::transient(format!("{GETTOKEN} answered {} without an access_token", answer.status))
    })?;
    let lifetime = json.get("expires_in").and_then(Value::as_u64).map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
    Ok((Secret::new(token), lifetime))
}

/// What a send's answer means.
fn judge_send(api: &str, answer: &Answer, token: &Secret, now: SystemTime) -> Judged<Sent> {
    let (json, code) = match errcode_of(api, "WeCom", answer, now) {
        Ok(read) => read,
        Err(error) => return Judged::Done(Err(error)),
    };
    let message = errmsg(&json, token);
    Judged::Done(Err(match code {
        Some(0) => return Judged::Done(sent(api, &json)),
        Some(code) if TOKEN_ERRORS.contains(&code) => return Judged::TokenRefused(format!("{code} {message}")),
        Some(code) if THROTTLE_ERRORS.contains(&code) => ReplyError::transient_after(
            Some(THROTTLE_WAIT),
            format!("{api} is throttled ({code} {message}: WeCom takes 30 messages a minute per member)"),
        ),
        Some(INVALID_AGENT_ID) => {
            ReplyError::permanent(format!("{api} refused {AGENT_ID} ({INVALID_AGENT_ID} {message})"))
        }
        code => errcode_failure(api, answer.status, code, &message),
    }))
}

/// A taken send; a message WeCom took but gave to nobody (the member is
/// outside the app's visible range) is not sent.
fn sent(api: &str, json: &Value) -> Result<Sent, ReplyError> {
    if let Some(invalid) = json.get("invaliduser").and_then(Value::as_str).filter(|u| !u.is_empty()) {
        return Err(ReplyError::permanent(format!(
            "{api} did not deliver the reply to {}: not a member the app can reach",
            truncate_for_log(invalid)
        )));
    }
    let message_id = json.get("msgid").and_then(Value::as_str).filter(|id| !id.is_empty()).map(str::to_string);
    Ok(Sent::via(api).with_message_id(message_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Retry;
    use crate::reply::testing::{NOW, answer};

    fn client(env: &[(&str, &str)]) -> Result<WeComClient, ConfigError> {
        crate::reply::testing::client(env, WeComClient::from_env)
    }

    fn target(handle: Value) -> ReplyTarget {
        crate::reply::testing::target(PROVIDER, "wecom:ww1:1", Some("ww1"), None, handle)
    }

    fn credentials() -> Credentials {
        Credentials { corp_id: "ww1corp".into(), secret: Secret::new("s3cr3t-value"), agent_id: 1000002 }
    }

    #[test]
    fn settings_need_the_corp_id_and_an_integer_agent_id_once_the_secret_is_set() {
        let unset = client(&[]).unwrap();
        assert!(unset.credentials.is_none(), "no secret: the client exists, replies fail naming it");
        let full = [(CORP_ID, "ww1corp"), (CORP_SECRET, "s3cr3t-value"), (AGENT_ID, "1000002")];
        let set = client(&full).unwrap();
        assert_eq!(set.credentials.as_ref().map(|c| c.agent_id), Some(1000002));
        assert_eq!(set.api_base, DEFAULT_API_BASE);
        assert_eq!(client(&[(CORP_SECRET, "s3cr3t-value"), (AGENT_ID, "1")]).unwrap_err().name, CORP_ID);
        assert_eq!(client(&[(CORP_SECRET, "s3cr3t-value"), (CORP_ID, "ww1")]).unwrap_err().name, AGENT_ID);
        for bad in ["abc", "1.5", "10 00", "0x10"] {
            let error = client(&[(CORP_SECRET, "s3cr3t-value"), (CORP_ID, "ww1"), (AGENT_ID, bad)]).unwrap_err();
            assert_eq!(error.name, AGENT_ID, "{bad}");
            assert!(!error.reason.contains("s3cr3t-value"));
        }
        assert_eq!(client(&[(API_BASE, "ftp://x")]).unwrap_err().name, API_BASE);
    }

    #[test]
    fn debug_shows_the_app_but_never_the_secret() {
        let full = [(CORP_ID, "ww1corp"), (CORP_SECRET, "s3cr3t-value"), (AGENT_ID, "1000002")];
        let shown = format!("{:?}", client(&full).unwrap());
        assert!(!shown.contains("s3cr3t-value") && shown.contains("***") && shown.contains("1000002"), "{shown}");
    }

    #[test]
    fn a_member_gets_message_send_with_the_agent_id_and_a_group_chat_gets_appchat_send() {
        let member = body_of(Recipient::User("zhangsan"), 1000002, &Reply::text("hi")).unwrap();
        assert_eq!(
            member,
            json!({"touser": "zhangsan", "agentid": 1000002, "msgtype": "text", "text": {"content": "hi"}})
        );
        let chat = body_of(Recipient::Chat("wrk1"), 1000002, &Reply::text("hi")).unwrap();
        assert_eq!(chat, json!({"chatid": "wrk1", "msgtype": "text", "text": {"content": "hi"}}));
        let handle = target(json!({"agent_id": "1000002", "to_user": "zhangsan", "chat_id": null}));
        assert_eq!(Recipient::of(&handle).unwrap(), Recipient::User("zhangsan"));
        let handle = target(json!({"agent_id": "1000002", "to_user": "zhangsan", "chat_id": "wrk1"}));
        assert_eq!(Recipient::of(&handle).unwrap(), Recipient::Chat("wrk1"));
        assert!(Recipient::of(&target(json!({"agent_id": "1"}))).unwrap_err().is_permanent());
    }

    #[test]
    fn a_card_replaces_the_text_and_cannot_name_recipients() {
        let markdown = json!({"msgtype": "markdown", "markdown": {"content": "**hi**"}});
        let reply = Reply { text: Some("ignored".into()), card: Some(markdown), update: false };
        let body = body_of(Recipient::User("u"), 7, &reply).unwrap();
        assert_eq!(body["msgtype"], "markdown");
        assert_eq!(body["markdown"], json!({"content": "**hi**"}));
        assert!(body.get("text").is_none() && body["agentid"] == 7);
        for (card, why) in [
            (json!("text"), "JSON object"),
            (json!({"markdown": {"content": "x"}}), "needs \"msgtype\""),
            (json!({"msgtype": "textcard"}), "\"textcard\" object"),
            (json!({"msgtype": "markdown", "markdown": {"content": "x"}, "touser": "@all"}), "touser"),
            (json!({"msgtype": "markdown", "markdown": {"content": "x"}, "agentid": 1}), "agentid"),
        ] {
            let reply = Reply { card: Some(card.clone()), ..Reply::default() };
            let refused = body_of(Recipient::User("u"), 7, &reply).unwrap_err();
            assert!(refused.contains(why), "{card}: {refused}");
        }
    }

    #[test]
    fn text_over_wecoms_limit_is_refused_counting_bytes() {
        let fits = "字".repeat(MAX_TEXT_BYTES / 3);
        assert!(body_of(Recipient::User("u"), 7, &Reply::text(fits)).is_ok());
        let refused = body_of(Recipient::User("u"), 7, &Reply::text("字".repeat(MAX_TEXT_BYTES / 3 + 1))).unwrap_err();
        assert!(refused.contains("2048 bytes"), "{refused}");
    }

    #[test]
    fn an_event_of_another_app_is_not_answered_as_this_one() {
        assert!(check_app(&target(json!({"agent_id": "1000002"})), 1000002).is_ok());
        assert!(check_app(&target(json!({"agent_id": 1000002})), 1000002).is_ok());
        assert!(check_app(&target(json!({"agent_id": null})), 1000002).is_ok());
        let other = check_app(&target(json!({"agent_id": "1000003"})), 1000002).unwrap_err();
        assert!(other.is_permanent() && other.reason.contains("1000003") && other.reason.contains(AGENT_ID), "{other}");
    }

    #[test]
    fn gettoken_answers_a_token_a_credential_refusal_or_a_transient_failure() {
        let ok = json!({"errcode": 0, "errmsg": "ok", "access_token": "tok", "expires_in": 7200});
        let (token, lifetime) = judge_token(&answer(200, ok), &credentials(), NOW).unwrap();
        assert_eq!((token.expose(), lifetime), ("tok", Duration::from_secs(7200)));
        for code in CREDENTIAL_ERRORS {
            let body = json!({"errcode": code, "errmsg": "invalid credential s3cr3t-value ww1corp"});
            let refused = judge_token(&answer(200, body), &credentials(), NOW).unwrap_err();
            assert!(refused.is_permanent(), "{refused}");
            assert!(refused.reason.contains(CORP_ID) && refused.reason.contains(CORP_SECRET), "{refused}");
            assert!(!refused.reason.contains("s3cr3t-value") && !refused.reason.contains("ww1corp"), "{refused}");
        }
        for transient in [
            answer(200, json!({"errcode": -1, "errmsg": "system busy"})),
            answer(200, json!({"errcode": 0, "errmsg": "ok"})),
            answer(502, json!({})),
        ] {
            assert!(!judge_token(&transient, &credentials(), NOW).unwrap_err().is_permanent());
        }
    }

    #[test]
    fn send_answers_are_sent_token_refused_throttled_or_refused_as_wecom_documents() {
        let token = Secret::new("tok-secret");
        let judged = |status, body: Value| judge_send(VIA_MESSAGE_SEND, &answer(status, body), &token, NOW);
        let Judged::Done(Ok(sent)) = judged(200, json!({"errcode": 0, "errmsg": "ok", "msgid": "m1"})) else {
            panic!("sent");
        };
        assert_eq!(sent, Sent::via(VIA_MESSAGE_SEND).with_message_id(Some("m1".into())));
        for code in TOKEN_ERRORS {
            assert!(matches!(judged(200, json!({"errcode": code, "errmsg": "x"})), Judged::TokenRefused(_)));
        }
        for code in THROTTLE_ERRORS {
            let Judged::Done(Err(throttled)) = judged(200, json!({"errcode": code, "errmsg": "freq"})) else {
                panic!("throttled");
            };
            assert_eq!(throttled.retry, Retry::Later { after: Some(THROTTLE_WAIT) });
        }
        let refused = |status, body: Value| match judged(status, body) {
            Judged::Done(Err(error)) => error,
            _ => panic!("refused"),
        };
        let unknown = refused(200, json!({"errcode": 81013, "errmsg": "user & party & tag all invalid tok-secret"}));
        assert!(unknown.is_permanent() && unknown.reason.contains("81013 user & party"), "{unknown}");
        assert!(!unknown.reason.contains("tok-secret"), "{unknown}");
        let agent = refused(200, json!({"errcode": 40056, "errmsg": "invalid agentid"}));
        assert!(agent.is_permanent() && agent.reason.contains(AGENT_ID), "{agent}");
        let outside = refused(200, json!({"errcode": 0, "errmsg": "ok", "invaliduser": "lisi"}));
        assert!(outside.is_permanent() && outside.reason.contains("lisi"), "{outside}");
        assert!(!refused(200, json!({"errcode": -1, "errmsg": "busy"})).is_permanent());
        assert!(!refused(503, json!({})).is_permanent());
        assert!(!refused(200, json!({"ok": true})).is_permanent());
        assert!(refused(404, json!({})).is_permanent());
    }
}
