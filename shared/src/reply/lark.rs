//! Lark / Feishu: a reply is a message in the thread of the event's
//! message (`im/v1/messages/{message_id}/reply`), or, with `update`, the
//! card whose button was pressed changed in place
//! (`interactive/v1/card/update`, a card callback's delayed update).
//!
//! Both calls carry a tenant access token, which the app's credentials
//! (`LARK_APP_ID`, `LARK_APP_SECRET`) are exchanged for at
//! `auth/v3/tenant_access_token/internal`. It lives two hours; one is
//! shared by every reply of the function instance (`TokenCache`), renewed
//! shortly before it expires, and fetched again once when Lark calls it
//! invalid (Lark may revoke a token early, e.g. when the secret is reset).
//!
//! A [`Reply`]'s card is a Lark message card (the JSON object the card
//! builder exports); when a reply has both, the card is sent and the text
//! is not (a Lark message has one type). A text-only update replaces the
//! card with one that shows the text.
//!
//! Every reply carries a `uuid` derived from the reply id: Lark posts at
//! most one message per uuid within an hour, so a reply retried after a
//! timeout (when the first attempt may have arrived) is not posted twice.
//!
//! A card update needs the callback's own update token (`card_token` in
//! the handle, `card.action.trigger` callbacks only). Lark takes it for 30
//! minutes after the callback and for two updates; an older one is refused
//! here without a call.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use serde_json::{Map, Value, json};

use super::pace::Pacer;
use super::token::{Judged, TokenCache};
use super::{Http, Outgoing, Reply, ReplyClient, ReplyError, Sent, api_base, not_configured};
use crate::aws::outbound::{Answer, json_request, parse_retry_after};
use crate::config::{EnvSource, optional};
use crate::error::ConfigError;
use crate::verify::{Secret, sha256_hex};

/// The provider whose events the client answers.
pub const PROVIDER: &str = "lark";
pub const APP_ID: &str = "LARK_APP_ID";
pub const APP_SECRET: &str = "LARK_APP_SECRET";
pub const API_BASE: &str = "LARK_API_BASE";
/// The platform's own API host.
pub const DEFAULT_API_BASE: &str = "https://open.feishu.cn";

pub const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
pub const CARD_UPDATE_PATH: &str = "/open-apis/interactive/v1/card/update";

pub const VIA_REPLY: &str = "lark im.v1.message.reply";
pub const VIA_CARD_UPDATE: &str = "lark interactive.v1.card.update";
const TOKEN_API: &str = "lark tenant_access_token";

/// Lark takes five messages a second in one chat.
pub const PACE: Duration = Duration::from_millis(200);
/// How long Lark takes a card callback's update token.
pub const CARD_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// The longest `uuid` Lark takes.
pub const MAX_UUID_CHARS: usize = 50;
/// Lark's limits on a request's content: 150 KB for a text message, 30 KB
/// for a card. Checked here so an oversized reply fails with a reason
/// that says so rather than with Lark's generic parameter error.
pub const MAX_TEXT_CONTENT_BYTES: usize = 150 * 1024;
pub const MAX_CARD_CONTENT_BYTES: usize = 30 * 1024;
/// The longest message id taken into a URL path (Lark's are `om_` and 32
/// hex characters).
const MAX_MESSAGE_ID_LEN: usize = 128;

/// Codes that say the tenant token is invalid or expired: fetch a new one.
pub const TOKEN_REFUSED_CODES: &[i64] = &[99991663, 99991668];
/// Codes that say the call was throttled: the gateway's frequency limit
/// (with HTTP 429), the per-chat limit, the app's message-sending limit.
pub const THROTTLED_CODES: &[i64] = &[99991400, 230020, 11232];
/// Codes of the token endpoint that say the app's credentials are wrong:
/// only the operator can fix them.
pub const CREDENTIAL_CODES: &[i64] = &[10003, 10014];

/// How much of Lark's `msg` a reason quotes.
const MAX_MSG_CHARS: usize = 200;

/// The app's credentials.
struct Credentials {
    app_id: String,
    app_secret: Secret,
}

pub struct LarkClient {
    http: Http,
    credentials: Option<Credentials>,
    api_base: String,
    tokens: TokenCache,
    pacer: Pacer,
}

impl std::fmt::Debug for LarkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LarkClient")
            .field("app_id", &self.credentials.as_ref().map(|c| c.app_id.as_str()))
            .field("app_secret", &self.credentials.as_ref().map(|_| "***"))
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl LarkClient {
    /// Both credentials, or neither (then a reply to Lark fails and says
    /// which settings are missing); one without the other stops start-up.
    pub fn from_env(env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        let credentials = match (optional(env, APP_ID), optional(env, APP_SECRET)) {
            (Some(app_id), Some(secret)) => Some(Credentials { app_id, app_secret: Secret::new(secret) }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(APP_SECRET, format!("is required when {APP_ID} is set")));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(APP_ID, format!("is required when {APP_SECRET} is set")));
            }
        };
        Ok(LarkClient {
            http: Http::new(connector),
            credentials,
            api_base: api_base(env, API_BASE, DEFAULT_API_BASE)?,
            tokens: TokenCache::new(),
            pacer: Pacer::new(PACE),
        })
    }

    /// A tenant token from the app's credentials, and how long it lives.
    async fn fetch_token(&self, credentials: &Credentials, now: SystemTime) -> Result<(Secret, Duration), ReplyError> {
        let url = format!("{}{TOKEN_PATH}", self.api_base);
        let body = json!({"app_id": credentials.app_id, "app_secret": credentials.app_secret.expose()});
        let answer = self.http.call(TOKEN_API, json_request(http::Method::POST, &url, &[], &body), &[]).await?;
        judge_token(&answer, now, &[credentials.app_secret.expose()])
    }

    /// POSTs `body` to `url` with a tenant token, and once more with a new
    /// token when Lark refuses the first as invalid or expired.
    async fn call_with_token(
        &self,
        credentials: &Credentials,
        api: &str,
        url: &str,
        body: &Value,
        outgoing: Outgoing<'_>,
    ) -> Result<Value, ReplyError> {
        let now = outgoing.now;
        let fetch = || self.fetch_token(credentials, now);
        let attempt = |token: Secret| async move {
            let authorization = format!("Bearer {}", token.expose());
            let request = json_request(http::Method::POST, url, &[("authorization", &authorization)], body);
            let answer = self.http.call(api, request, &[]).await?;
            Ok(judge(api, &answer, now, &[credentials.app_secret.expose(), token.expose()]))
        };
        self.tokens.call(api, &outgoing.target.event_id, fetch, attempt).await
    }
}

#[async_trait]
impl ReplyClient for LarkClient {
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<Sent, ReplyError> {
        let Outgoing { target, reply, reply_id, now } = outgoing;
        let Some(credentials) = &self.credentials else {
            return Err(not_configured(PROVIDER, &format!("{APP_ID}/{APP_SECRET}")));
        };
        let chat = target.field("chat_id").or(target.chat_id.as_deref());
        if reply.update {
            let card_token = target.field("card_token").ok_or_else(|| {
                ReplyError::permanent(format!(
                    "update needs a card callback's token: the lark reply handle of event {} has no card_token",
                    target.event_id
                ))
            })?;
            target.within(CARD_TOKEN_LIFETIME, now, "the card's update token has expired (30 min)")?;
            let body = card_update_body(card_token, reply, target.field("open_id"))?;
            let message_id = target.field("message_id");
            if let Some(key) = chat.or(message_id) {
                self.pacer.wait_turn(key).await;
            }
            let url = format!("{}{CARD_UPDATE_PATH}", self.api_base);
            self.call_with_token(credentials, VIA_CARD_UPDATE, &url, &body, outgoing).await?;
            return Ok(Sent::via(VIA_CARD_UPDATE).with_message_id(message_id.map(str::to_string)));
        }
        let message_id = target.required("message_id")?;
        let url = format!("{}{}", self.api_base, reply_path(message_id)?);
        let body = reply_body(reply, &reply_uuid(reply_id))?;
        self.pacer.wait_turn(chat.unwrap_or(message_id)).await;
        let json = self.call_with_token(credentials, VIA_REPLY, &url, &body, outgoing).await?;
        let posted = json.pointer("/data/message_id").and_then(Value::as_str).map(str::to_string);
        Ok(Sent::via(VIA_REPLY).with_message_id(posted))
    }
}

/// The `uuid` of a reply: the same for every attempt of one reply id, at
/// most [`MAX_UUID_CHARS`] long whatever the id (128 bits of its SHA-256).
pub fn reply_uuid(reply_id: &str) -> String {
    sha256_hex(reply_id.as_bytes())[..32].to_string()
}

/// The path of the reply API for `message_id`, which must be a plain id: it
/// comes from an event, and must not change the path.
pub fn reply_path(message_id: &str) -> Result<String, ReplyError> {
    let plain = message_id.len() <= MAX_MESSAGE_ID_LEN
        && message_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if message_id.is_empty() || !plain {
        return Err(ReplyError::permanent(
            "the lark reply handle's message_id is not a Lark message id (letters, digits, _ and - only)",
        ));
    }
    Ok(format!("/open-apis/im/v1/messages/{message_id}/reply"))
}

/// The reply API's body: a card (`interactive`) when the reply has one,
/// else text; `content` is the message itself as a JSON string.
pub fn reply_body(reply: &Reply, uuid: &str) -> Result<Value, ReplyError> {
    let (msg_type, content, limit) = match (&reply.card, reply.text_str()) {
        (Some(card), _) => ("interactive", card_of(card).map(|_| card.to_string())?, MAX_CARD_CONTENT_BYTES),
        (None, Some(text)) => ("text", json!({ "text": text }).to_string(), MAX_TEXT_CONTENT_BYTES),
        (None, None) => return Err(ReplyError::permanent("a lark reply needs a non-empty text or a card")),
    };
    if content.len() > limit {
        return Err(ReplyError::permanent(format!(
            "a lark {msg_type} message takes at most {} KB; this one is {} bytes",
            limit / 1024,
            content.len()
        )));
    }
    Ok(json!({"msg_type": msg_type, "content": content, "uuid": uuid}))
}

/// The delayed update's body: the callback's token and the new card (the
/// reply's card, or one showing its text). A card of the first schema
/// (not `"schema": "2.0"`) must name who sees the update (`open_ids`), or
/// Lark refuses it: the user who pressed the button, when the handle says.
pub fn card_update_body(card_token: &str, reply: &Reply, operator: Option<&str>) -> Result<Value, ReplyError> {
    let mut card = match (&reply.card, reply.text_str()) {
        (Some(card), _) => card_of(card)?.clone(),
        (None, Some(text)) => Map::from_iter([(
            "elements".to_string(),
            json!([{"tag": "div", "text": {"tag": "plain_text", "content": text}}]),
        )]),
        (None, None) => return Err(ReplyError::permanent("a lark card update needs a non-empty text or a card")),
    };
    let schema_2 = card.get("schema").and_then(Value::as_str) == Some("2.0");
    if !schema_2
        && !card.contains_key("open_ids")
        && let Some(operator) = operator
    {
        card.insert("open_ids".into(), json!([operator]));
    }
    let card = Value::Object(card);
    let size = card.to_string().len();
    if size > MAX_CARD_CONTENT_BYTES {
        return Err(ReplyError::permanent(format!(
            "a lark card takes at most {} KB; this one is {size} bytes",
            MAX_CARD_CONTENT_BYTES / 1024
        )));
    }
    Ok(json!({"token": card_token, "card": card}))
}

/// A Lark card is a JSON object (Slack's blocks, an array, are not).
fn card_of(card: &Value) -> Result<&Map<String, Value>, ReplyError> {
    card.as_object().ok_or_else(|| {
        ReplyError::permanent("a lark card is a JSON object (the card builder's JSON), not an array or a value")
    })
}

/// Lark's answer: `{"code": 0, "msg": "success", "data": {...}}`, or an
/// error code (with HTTP 400 for most, 429 when throttled). `secrets` are
/// values no reason may show, should Lark's `msg` ever quote one.
fn judge(api: &str, answer: &Answer, now: SystemTime, secrets: &[&str]) -> Judged<Value> {
    let json = answer.json();
    let code = json.as_ref().and_then(|json| json.get("code")).and_then(Value::as_i64);
    let status = answer.status;
    if let Some(code) = code.filter(|code| TOKEN_REFUSED_CODES.contains(code)) {
        return Judged::TokenRefused(format!("code {code}"));
    }
    let reason = || describe(api, answer, code, json.as_ref(), secrets);
    if status == 429 || code.is_some_and(|code| THROTTLED_CODES.contains(&code)) {
        return Judged::Done(Err(ReplyError::transient_after(throttled_for(answer, now), reason())));
    }
    Judged::Done(match (status, code) {
        (200, Some(0)) => Ok(json.unwrap_or_default()),
        (408 | 500..=599, _) => Err(ReplyError::transient(reason())),
        (_, Some(_)) => Err(ReplyError::permanent(reason())),
        // Lark always answers with its JSON: anything else came from
        // something on the way, and another attempt may reach Lark (the
        // uuid keeps a reply that did arrive from being posted twice).
        (_, None) => Err(ReplyError::transient(reason())),
    })
}

/// The token endpoint's answer: `{"code": 0, "tenant_access_token": "t-…",
/// "expire": 7200}`. Wrong credentials are permanent; everything else may
/// pass.
fn judge_token(answer: &Answer, now: SystemTime, secrets: &[&str]) -> Result<(Secret, Duration), ReplyError> {
    let json = answer.json();
    let code = json.as_ref().and_then(|json| json.get("code")).and_then(Value::as_i64);
    if code.is_some_and(|code| CREDENTIAL_CODES.contains(&code)) {
        return Err(ReplyError::permanent(format!(
            "lark refused the app's credentials: check {APP_ID} and {APP_SECRET} ({})",
            describe(TOKEN_API, answer, code, json.as_ref(), secrets)
        )));
    }
    if answer.status == 429 || code.is_some_and(|code| THROTTLED_CODES.contains(&code)) {
        return Err(ReplyError::transient_after(
            throttled_for(answer, now),
            describe(TOKEN_API, answer, code, json.as_ref(), secrets),
        ));
    }
    let token = json.as_ref().and_then(|json| json.get("tenant_access_token")).and_then(Value::as_str);
    let expire = json.as_ref().and_then(|json| json.get("expire")).and_then(Value::as_u64);
    match (answer.status, code, token, expire) {
        (200, Some(0), Some(token), Some(expire)) if !token.is_empty() && expire > 0 => {
            Ok((Secret::new(token), Duration::from_secs(expire)))
        }
        (200, Some(0), ..) => Err(ReplyError::transient(format!(
            "{TOKEN_API} answered code 0 without a tenant_access_token and its expire"
        ))),
        _ => Err(ReplyError::transient(describe(TOKEN_API, answer, code, json.as_ref(), secrets))),
    }
}

/// How long Lark says to wait: `Retry-After`, or the gateway's
/// `x-ogw-ratelimit-reset` (seconds until the limit's window resets).
fn throttled_for(answer: &Answer, now: SystemTime) -> Option<Duration> {
    answer.retry_after(now).or_else(|| {
        let reset = answer.headers.get("x-ogw-ratelimit-reset")?.to_str().ok()?;
        parse_retry_after(reset, now)
    })
}

/// `<api> answered <status>, code <code>: <msg>`, or, without Lark's
/// JSON, the start of the body. What Lark wrote is quoted briefly, with
/// any of `secrets` masked before it is cut (a cut must not leave half a
/// secret).
fn describe(api: &str, answer: &Answer, code: Option<i64>, json: Option<&Value>, secrets: &[&str]) -> String {
    let status = answer.status;
    let quote = |text: &str| {
        let masked = secrets
            .iter()
            .filter(|secret| !secret.is_empty())
            .fold(text.to_string(), |text, secret| text.replace(secret, "***"));
        match masked.char_indices().nth(MAX_MSG_CHARS) {
            Some((at, _)) => format!("{}…", &masked[..at]),
            None => masked,
        }
    };
    match (code, json) {
        (Some(code), Some(json)) => {
            let msg = json.get("msg").and_then(Value::as_str).unwrap_or("no msg");
            format!("{api} answered {status}, code {code}: {}", quote(msg))
        }
        _ => match String::from_utf8_lossy(&answer.body).trim() {
            "" => format!("{api} answered {status} without Lark's JSON"),
            body => format!("{api} answered {status} without Lark's JSON: {}", quote(body)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Retry;
    use crate::reply::testing::{NOW, answer_with as answer};

    fn failed(judged: Judged<Value>) -> ReplyError {
        match judged {
            Judged::Done(Err(error)) => error,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    fn client(env: &[(&str, &str)]) -> Result<LarkClient, ConfigError> {
        crate::reply::testing::client(env, LarkClient::from_env)
    }

    #[test]
    fn credentials_come_in_pairs_and_the_secret_is_never_shown() {
        assert!(client(&[]).is_ok_and(|c| c.credentials.is_none()));
        assert_eq!(client(&[(APP_ID, "cli_a")]).unwrap_err().name, APP_SECRET);
        let error = client(&[(APP_SECRET, "hunter2-secret")]).unwrap_err();
        assert_eq!(error.name, APP_ID);
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let shown = format!("{:?}", client(&[(APP_ID, "cli_a"), (APP_SECRET, "hunter2-secret")]).unwrap());
        assert!(shown.contains("cli_a") && shown.contains("***") && !shown.contains("hunter2"), "{shown}");
        assert_eq!(client(&[(API_BASE, "ftp://x")]).unwrap_err().name, API_BASE);
    }

    #[test]
    fn the_uuid_is_the_same_for_every_attempt_of_a_reply_and_fits_lark() {
        let uuid = reply_uuid("reply-1");
        assert_eq!(uuid, reply_uuid("reply-1"));
        assert_ne!(uuid, reply_uuid("reply-2"));
        assert_eq!(uuid, sha256_hex(b"reply-1")[..32]);
        assert!(reply_uuid(&"x".repeat(10_000)).len() <= MAX_UUID_CHARS);
    }

    #[test]
    fn only_a_plain_message_id_goes_into_the_path() {
        assert_eq!(
            reply_path("om_dc13264520392913993dd051dba21dcf").unwrap(),
            "/open-apis/im/v1/messages/om_dc13264520392913993dd051dba21dcf/reply"
        );
        for bad in ["", "om_1/../../auth", "om_1?x=1", "om 1", "om_1%2F", "om_1#", &"a".repeat(129)] {
            assert!(reply_path(bad).unwrap_err().is_permanent(), "{bad}");
        }
    }

    #[test]
    fn a_reply_body_is_text_or_a_card_as_a_json_string_and_the_card_wins() {
        let body = reply_body(&Reply::text("hi \"there\"\n"), "u1").unwrap();
        assert_eq!(body, json!({"msg_type": "text", "content": r#"{"text":"hi \"there\"\n"}"#, "uuid": "u1"}));
        let card = json!({"elements": [{"tag": "markdown", "content": "**hi**"}]});
        let both = Reply { text: Some("ignored".into()), card: Some(card.clone()), update: false };
        let body = reply_body(&both, "u2").unwrap();
        assert_eq!(body["msg_type"], "interactive");
        assert_eq!(serde_json::from_str::<Value>(body["content"].as_str().unwrap()).unwrap(), card);
        let blocks = Reply { card: Some(json!([{"type": "divider"}])), ..Reply::default() };
        assert!(reply_body(&blocks, "u").unwrap_err().is_permanent());
        let long = Reply::text("字".repeat(60_000));
        assert!(reply_body(&long, "u").unwrap_err().reason.contains("150 KB"));
    }

    #[test]
    fn a_card_update_replaces_the_card_and_names_who_sees_a_first_schema_card() {
        let update = Reply { update: true, ..Reply::text("done") };
        assert_eq!(
            card_update_body("c-1", &update, Some("ou_1")).unwrap(),
            json!({"token": "c-1", "card": {
                "elements": [{"tag": "div", "text": {"tag": "plain_text", "content": "done"}}],
                "open_ids": ["ou_1"]
            }})
        );
        let v2 = json!({"schema": "2.0", "body": {"elements": []}});
        let reply = Reply { card: Some(v2.clone()), update: true, ..Reply::default() };
        assert_eq!(card_update_body("c-1", &reply, Some("ou_1")).unwrap(), json!({"token": "c-1", "card": v2}));
        let named = json!({"elements": [], "open_ids": ["ou_2"]});
        let reply = Reply { card: Some(named.clone()), update: true, ..Reply::default() };
        assert_eq!(card_update_body("c-1", &reply, Some("ou_1")).unwrap()["card"], named);
        let no_operator = card_update_body("c-1", &update, None).unwrap();
        assert!(no_operator["card"].get("open_ids").is_none());
    }

    #[test]
    fn answers_are_taken_retried_with_a_new_token_throttled_or_refused() {
        let ok = json!({"code": 0, "msg": "success", "data": {"message_id": "om_2"}});
        assert_eq!(judge(VIA_REPLY, &answer(200, ok.clone(), &[]), NOW, &[]), Judged::Done(Ok(ok)));
        for code in TOKEN_REFUSED_CODES {
            let body = json!({"code": code, "msg": "Invalid access token for authorization."});
            assert_eq!(
                judge(VIA_REPLY, &answer(400, body, &[]), NOW, &[]),
                Judged::TokenRefused(format!("code {code}"))
            );
        }
        let limited = json!({"code": 99991400, "msg": "request trigger frequency limit"});
        let throttled =
            failed(judge(VIA_REPLY, &answer(429, limited.clone(), &[("x-ogw-ratelimit-reset", "2")]), NOW, &[]));
        assert_eq!(throttled.retry, Retry::Later { after: Some(Duration::from_secs(2)) });
        let both = answer(429, limited, &[("x-ogw-ratelimit-reset", "2"), ("retry-after", "5")]);
        assert_eq!(
            failed(judge(VIA_REPLY, &both, NOW, &[])).retry,
            Retry::Later { after: Some(Duration::from_secs(5)) }
        );
        let per_chat = failed(judge(VIA_REPLY, &answer(400, json!({"code": 230020, "msg": "limit"}), &[]), NOW, &[]));
        assert_eq!(per_chat.retry, Retry::Later { after: None });
        for (code, msg) in [
            (230002, "The bot can not be outside the group."),
            (230011, "The message was recalled."),
            (230001, "Your request contains an invalid request parameter."),
            (99991672, "Access denied. One of the following scopes is required: [im:message]"),
        ] {
            let refused = failed(judge(VIA_REPLY, &answer(400, json!({"code": code, "msg": msg}), &[]), NOW, &[]));
            assert!(refused.is_permanent(), "{code}");
            assert!(refused.reason.contains(&code.to_string()) && refused.reason.contains(&msg[..10]), "{refused}");
        }
        for status in [500, 502, 503, 504] {
            let body = json!({"code": 1, "msg": "internal error"});
            assert!(!failed(judge(VIA_REPLY, &answer(status, body, &[]), NOW, &[])).is_permanent());
        }
        let html = Answer { status: 200, headers: http::HeaderMap::new(), body: b"<html>".to_vec() };
        assert!(!failed(judge(VIA_REPLY, &html, NOW, &[])).is_permanent());
    }

    #[test]
    fn token_answers_give_the_token_or_say_whose_fault() {
        let ok = json!({"code": 0, "msg": "ok", "tenant_access_token": "t-abc", "expire": 7200});
        let (token, lifetime) = judge_token(&answer(200, ok, &[]), NOW, &[]).unwrap();
        assert_eq!((token.expose(), lifetime), ("t-abc", Duration::from_secs(7200)));
        for code in CREDENTIAL_CODES {
            let body = json!({"code": code, "msg": "app secret invalid: s3cr3t"});
            let error = judge_token(&answer(400, body, &[]), NOW, &["s3cr3t"]).unwrap_err();
            assert!(error.is_permanent(), "{code}");
            assert!(error.reason.contains(APP_ID) && error.reason.contains(APP_SECRET), "{error}");
            assert!(!error.reason.contains("s3cr3t"), "{error}");
        }
        for transient in [
            answer(500, json!({"code": 1, "msg": "internal"}), &[]),
            answer(200, json!({"code": 0, "msg": "ok"}), &[]),
            answer(400, json!({"code": 10001, "msg": "system busy"}), &[]),
        ] {
            assert!(!judge_token(&transient, NOW, &[]).unwrap_err().is_permanent(), "{transient:?}");
        }
        let throttled = answer(429, json!({"code": 99991400, "msg": "limit"}), &[("x-ogw-ratelimit-reset", "3")]);
        assert_eq!(
            judge_token(&throttled, NOW, &[]).unwrap_err().retry,
            Retry::Later { after: Some(Duration::from_secs(3)) }
        );
    }

    #[test]
    fn reasons_quote_lark_briefly_and_never_a_secret() {
        let body = json!({"code": 230001, "msg": format!("bad t-tok {}", "x".repeat(1000))});
        let error = failed(judge(VIA_REPLY, &answer(400, body, &[]), NOW, &["t-tok"]));
        assert!(!error.reason.contains("t-tok") && error.reason.contains("***"), "{error}");
        assert!(error.reason.chars().count() < 300, "{}", error.reason.len());
        // A secret across the cut is masked whole, not cut in half.
        let msg = format!("{}t-secret-token", "x".repeat(MAX_MSG_CHARS - 4));
        let error =
            failed(judge(VIA_REPLY, &answer(400, json!({"code": 1, "msg": msg}), &[]), NOW, &["t-secret-token"]));
        assert!(!error.reason.contains("t-se"), "{error}");
    }
}
