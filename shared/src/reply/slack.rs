//! Slack: a reply goes through the event's `response_url` while Slack
//! still takes it, otherwise through the Web API with the bot token.
//!
//! 1. `response_url` (slash commands, interactivity): Slack takes it for
//!    30 minutes after the event, 5 times, and needs no token. Its path is
//!    a credential (whoever holds it can post into the conversation), so
//!    neither a reason nor a log ever shows more of it than the host. It is
//!    called only when its host is one of `SLACK_REPLY_HOSTS` (default
//!    `hooks.slack.com`): the URL is data from a request.
//! 2. The Web API (`chat.postMessage`, or `chat.update` to change the
//!    original) with `SLACK_BOT_TOKEN`, for Events API messages (answered in
//!    their thread) and whenever the `response_url` is expired, used up,
//!    absent or on a host not allowed.
//!
//! The card of a [`Reply`] is Slack's `blocks`: a JSON array of Block Kit
//! blocks, sent as it is. `trigger_id` and `view_id` (modals) are not used:
//! a modal must be opened within 3 seconds of the event, before a queued
//! reply could be.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use serde_json::{Map, Value, json};

use super::hosts::ReplyHosts;
use super::pace::Pacer;
use super::{Http, Outgoing, Reply, ReplyClient, ReplyError, ReplyTarget, Sent, api_base, by_status, url_secrets};
use crate::aws::outbound::{Answer, json_request};
use crate::config::{EnvSource, optional};
use crate::error::ConfigError;
use crate::verify::{Secret, truncate_for_log};

/// The provider whose events the client answers.
pub const PROVIDER: &str = "slack";
pub const BOT_TOKEN: &str = "SLACK_BOT_TOKEN";
pub const API_BASE: &str = "SLACK_API_BASE";
pub const REPLY_HOSTS: &str = "SLACK_REPLY_HOSTS";
/// The platform's own API host.
pub const DEFAULT_API_BASE: &str = "https://slack.com/api";
pub const DEFAULT_REPLY_HOSTS: &[&str] = &["hooks.slack.com"];

/// How long Slack takes an event's `response_url`.
pub const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Slack's `chat.postMessage` limit: about one message a second per channel.
pub const PACE: Duration = Duration::from_secs(1);

pub const VIA_RESPONSE_URL: &str = "slack response_url";
pub const VIA_POST_MESSAGE: &str = "slack chat.postMessage";
pub const VIA_UPDATE: &str = "slack chat.update";

/// Web API errors that say the token is wrong: only the operator can fix it.
const TOKEN_ERRORS: &[&str] = &["invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"];
/// Web API errors that say Slack could not serve the call this time.
const TRANSIENT_ERRORS: &[&str] = &["fatal_error", "internal_error", "service_unavailable", "request_timeout"];
/// What a `response_url` answers once Slack no longer takes it.
const GONE_ERRORS: &[&str] = &["expired_url", "used_url"];

pub struct SlackClient {
    http: Http,
    token: Option<Secret>,
    api_base: String,
    hosts: ReplyHosts,
    pacer: Pacer,
}

impl std::fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackClient")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("api_base", &self.api_base)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl SlackClient {
    /// `SLACK_BOT_TOKEN` is optional (replies through `response_url` need
    /// none), but one that is set must be a bot or user token.
    pub fn from_env(env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        let token =
            optional(env, BOT_TOKEN).map(|token| check_token(&token).map(|()| Secret::new(token))).transpose()?;
        Ok(SlackClient {
            http: Http::new(connector),
            token,
            api_base: api_base(env, API_BASE, DEFAULT_API_BASE)?,
            hosts: ReplyHosts::from_env(env, REPLY_HOSTS, DEFAULT_REPLY_HOSTS)?,
            pacer: Pacer::new(PACE),
        })
    }

    /// Path 1. `Ok(Err(why))` when Slack no longer takes the URL, so the
    /// Web API should answer instead.
    async fn via_response_url(
        &self,
        url: &str,
        reply: &Reply,
        blocks: Option<&Value>,
        now: SystemTime,
    ) -> Result<Result<Sent, String>, ReplyError> {
        // The host check takes visible ASCII that the URI parser does not
        // (`<`, `>`): such a URL will never be callable, so it is not retried.
        let Ok(request) = json_request(http::Method::POST, url, &[], &response_url_body(reply, blocks)) else {
            return Ok(Err("refused (not a valid HTTP URL)".into()));
        };
        // An error page may quote the URL, whose path is the credential.
        let answer = self.http.call(VIA_RESPONSE_URL, Ok(request), &url_secrets(url)).await?;
        judge_response_url(&answer, now)
    }

    /// Path 2, after the `response_url` could not be used for `why`.
    async fn via_web_api(
        &self,
        target: &ReplyTarget,
        reply: &Reply,
        blocks: Option<&Value>,
        why: &str,
        now: SystemTime,
    ) -> Result<Sent, ReplyError> {
        let Some(token) = &self.token else {
            return Err(ReplyError::permanent(format!(
                "the response_url is {why} and {BOT_TOKEN} is not set: inlet cannot answer this slack event (event {})",
                target.event_id
            )));
        };
        let channel = target.field("channel_id").or(target.chat_id.as_deref()).ok_or_else(|| {
            ReplyError::permanent(format!(
                "the response_url is {why} and the slack reply handle of event {} has no channel_id to post in",
                target.event_id
            ))
        })?;
        let (api, method, body) = if reply.update {
            let ts = target.field("ts").ok_or_else(|| {
                ReplyError::permanent(format!(
                    "the response_url is {why} and the slack reply handle of event {} has no ts of a message to update",
                    target.event_id
                ))
            })?;
            (VIA_UPDATE, "chat.update", update_body(channel, ts, reply, blocks))
        } else {
            let body = post_message_body(channel, thread_of(target), reply, blocks);
            let team = target.field("team_id").or(target.tenant.as_deref()).unwrap_or_default();
            self.pacer.wait_turn(&format!("{team}:{channel}")).await;
            (VIA_POST_MESSAGE, "chat.postMessage", body)
        };
        let authorization = format!("Bearer {}", token.expose());
        let url = format!("{}/{method}", self.api_base);
        let request = json_request(http::Method::POST, &url, &[("authorization", &authorization)], &body);
        let answer = self.http.call(api, request, &[]).await?;
        judge_web_api(api, &answer, now)
    }
}

#[async_trait]
impl ReplyClient for SlackClient {
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<Sent, ReplyError> {
        let Outgoing { target, reply, now, .. } = outgoing;
        let blocks = blocks_of(reply)?;
        let why = match target.field("response_url") {
            None => "absent".to_string(),
            Some(_) if target.expired(RESPONSE_URL_LIFETIME, now) => "expired (older than 30 minutes)".to_string(),
            Some(url) => match self.hosts.check(url) {
                Err(refused) => {
                    // The refusal names the host only: the path is a credential.
                    tracing::warn!(event_id = %target.event_id, "slack response_url not called: it {refused}");
                    format!("refused (it {refused})")
                }
                Ok(()) => match self.via_response_url(url, reply, blocks, now).await? {
                    Ok(sent) => return Ok(sent),
                    Err(gone) => {
                        tracing::info!(event_id = %target.event_id, "slack response_url {gone}: answering with the Web API");
                        gone
                    }
                },
            },
        };
        self.via_web_api(target, reply, blocks, &why, now).await
    }
}

/// A bot (`xoxb-`) or user (`xoxp-`) token of visible ASCII; the error
/// never quotes the value.
fn check_token(token: &str) -> Result<(), ConfigError> {
    let prefixed = token.starts_with("xoxb-") || token.starts_with("xoxp-");
    if !prefixed || token.len() <= 5 || !token.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ConfigError::new(
            BOT_TOKEN,
            "must be a Slack bot token (xoxb-…) or user token (xoxp-…) without spaces",
        ));
    }
    Ok(())
}

/// The reply's card as Slack's `blocks`, which only an array can be.
fn blocks_of(reply: &Reply) -> Result<Option<&Value>, ReplyError> {
    match &reply.card {
        Some(card) if !card.is_array() => {
            Err(ReplyError::permanent("a slack card is Block Kit blocks: a JSON array of blocks, not an object"))
        }
        card => Ok(card.as_ref()),
    }
}

/// Where a new message goes: the thread the event's message is in, or a
/// new thread under an Events API message (a handle with neither a
/// `response_url` nor a `trigger_id`, which only interactions carry).
fn thread_of(target: &ReplyTarget) -> Option<&str> {
    let message_event = target.field("response_url").is_none() && target.field("trigger_id").is_none();
    target.field("thread_ts").or_else(|| if message_event { target.field("ts") } else { None })
}

fn message_fields(reply: &Reply, blocks: Option<&Value>) -> Map<String, Value> {
    let mut body = Map::new();
    if let Some(text) = reply.text_str() {
        body.insert("text".into(), json!(text));
    }
    if let Some(blocks) = blocks {
        body.insert("blocks".into(), blocks.clone());
    }
    body
}

/// What a `response_url` takes: a new message for the whole channel (a
/// slash command's default is one only its user sees), or the original
/// message replaced.
pub fn response_url_body(reply: &Reply, blocks: Option<&Value>) -> Value {
    let mut body = message_fields(reply, blocks);
    if reply.update {
        body.insert("replace_original".into(), json!(true));
    } else {
        body.insert("response_type".into(), json!("in_channel"));
    }
    Value::Object(body)
}

pub fn post_message_body(channel: &str, thread_ts: Option<&str>, reply: &Reply, blocks: Option<&Value>) -> Value {
    let mut body = message_fields(reply, blocks);
    body.insert("channel".into(), json!(channel));
    if let Some(thread_ts) = thread_ts {
        body.insert("thread_ts".into(), json!(thread_ts));
    }
    Value::Object(body)
}

pub fn update_body(channel: &str, ts: &str, reply: &Reply, blocks: Option<&Value>) -> Value {
    let mut body = message_fields(reply, blocks);
    body.insert("channel".into(), json!(channel));
    body.insert("ts".into(), json!(ts));
    Value::Object(body)
}

/// Slack's error code in an answer: `{"ok": false, "error": "..."}`, or a
/// `response_url`'s plain-text body (`expired_url`).
fn error_code(answer: &Answer) -> Option<String> {
    match answer.json() {
        Some(json) => json.get("error").and_then(Value::as_str).map(truncate_for_log),
        None => {
            let text = String::from_utf8_lossy(&answer.body).trim().to_string();
            let code = !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            code.then(|| truncate_for_log(&text))
        }
    }
}

/// A `response_url`'s answer: the reply was taken, Slack no longer takes
/// the URL (`Ok(Err(why))`: the Web API answers instead), or an error.
fn judge_response_url(answer: &Answer, now: SystemTime) -> Result<Result<Sent, String>, ReplyError> {
    let code = error_code(answer);
    if let Some(gone) = code.as_deref().filter(|code| GONE_ERRORS.contains(code)) {
        return Ok(Err(format!("no longer taken by Slack ({gone}, HTTP {})", answer.status)));
    }
    let refused = answer.json().is_some_and(|json| json.get("ok") == Some(&Value::Bool(false)));
    match answer.status {
        404 | 410 => Ok(Err(format!("no longer taken by Slack (HTTP {})", answer.status))),
        200..=299 if !refused => Ok(Ok(Sent::via(VIA_RESPONSE_URL))),
        200..=299 => Err(ReplyError::permanent(format!(
            "{VIA_RESPONSE_URL} refused the reply: {}",
            code.as_deref().unwrap_or("no error code")
        ))),
        _ => Err(by_status(VIA_RESPONSE_URL, answer, now)),
    }
}

/// A Web API answer: `{"ok": true, "ts": ...}`, or Slack's error code.
fn judge_web_api(api: &str, answer: &Answer, now: SystemTime) -> Result<Sent, ReplyError> {
    let code = error_code(answer);
    if answer.status == 429 || code.as_deref() == Some("ratelimited") {
        return Err(ReplyError::transient_after(
            answer.retry_after(now),
            format!("{api} is throttled (ratelimited; Slack takes about one message a second per channel)"),
        ));
    }
    if answer.status >= 500 {
        return Err(by_status(api, answer, now));
    }
    let json = answer.json();
    if answer.status < 300 && json.as_ref().is_some_and(|json| json.get("ok") == Some(&Value::Bool(true))) {
        let ts = json.as_ref().and_then(|json| json.get("ts")).and_then(Value::as_str).map(str::to_string);
        return Ok(Sent::via(api).with_message_id(ts));
    }
    match code {
        Some(code) if TOKEN_ERRORS.contains(&code.as_str()) => {
            Err(ReplyError::permanent(format!("{api} refused {BOT_TOKEN} ({code}): set a valid token for the app")))
        }
        Some(code) if TRANSIENT_ERRORS.contains(&code.as_str()) => {
            Err(ReplyError::transient(format!("{api} failed: {code}")))
        }
        Some(code) if json.is_some() => Err(ReplyError::permanent(format!("{api} refused the reply: {code}"))),
        _ if answer.status >= 300 => Err(by_status(api, answer, now)),
        // Slack always answers JSON with `ok`: anything else came from
        // something on the way, and the next attempt may reach Slack.
        _ => Err(ReplyError::transient(format!("{api} answered {} without Slack's JSON", answer.status))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Retry;
    use crate::reply::testing::{NOW, answer_with as answer};

    fn target(handle: Value) -> ReplyTarget {
        crate::reply::testing::target(PROVIDER, "T1:Ev1", Some("T1"), None, handle)
    }

    fn client(env: &[(&str, &str)]) -> Result<SlackClient, ConfigError> {
        crate::reply::testing::client(env, SlackClient::from_env)
    }

    #[test]
    fn a_set_token_must_be_a_bot_or_user_token_and_the_error_never_shows_it() {
        assert!(client(&[]).is_ok_and(|c| c.token.is_none()), "no token: replies use response_url only");
        assert!(client(&[(BOT_TOKEN, "xoxb-1-2-abc")]).is_ok());
        assert!(client(&[(BOT_TOKEN, "xoxp-1-2-abc")]).is_ok());
        for bad in ["xoxa-2-secretvalue", "secretvalue", "xoxb-", "xoxb-has space", "Bearer xoxb-secretvalue"] {
            let error = client(&[(BOT_TOKEN, bad)]).expect_err(bad);
            assert_eq!(error.name, BOT_TOKEN);
            assert!(!error.reason.contains("secretvalue") && !error.reason.contains("has space"), "{}", error.reason);
        }
        let shown = format!("{:?}", client(&[(BOT_TOKEN, "xoxb-1-2-secretvalue")]).unwrap());
        assert!(!shown.contains("secretvalue") && shown.contains("***"), "{shown}");
        assert_eq!(client(&[(REPLY_HOSTS, "https://x")]).unwrap_err().name, REPLY_HOSTS);
        assert_eq!(client(&[(API_BASE, "ftp://x")]).unwrap_err().name, API_BASE);
    }

    #[test]
    fn bodies_carry_text_and_blocks_and_say_new_message_or_replacement() {
        let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]);
        let reply = Reply { text: Some("hi".into()), card: Some(blocks.clone()), update: false };
        assert_eq!(
            response_url_body(&reply, Some(&blocks)),
            json!({"text": "hi", "blocks": blocks, "response_type": "in_channel"})
        );
        let update = Reply { update: true, ..Reply::text("done") };
        assert_eq!(response_url_body(&update, None), json!({"text": "done", "replace_original": true}));
        assert_eq!(
            post_message_body("C1", Some("1.2"), &Reply::text("hi"), None),
            json!({"channel": "C1", "text": "hi", "thread_ts": "1.2"})
        );
        assert_eq!(
            update_body("C1", "1.2", &reply, Some(&blocks)),
            json!({"channel": "C1", "ts": "1.2", "text": "hi", "blocks": blocks})
        );
        let object = Reply { card: Some(json!({"blocks": []})), ..Reply::default() };
        assert!(blocks_of(&object).unwrap_err().is_permanent());
    }

    #[test]
    fn a_message_is_answered_in_its_thread_and_an_interaction_in_the_thread_its_handle_names() {
        let message = target(json!({"channel_id": "C1", "ts": "1.5", "team_id": "T1"}));
        assert_eq!(thread_of(&message), Some("1.5"));
        let threaded = target(json!({"channel_id": "C1", "ts": "1.5", "thread_ts": "1.1"}));
        assert_eq!(thread_of(&threaded), Some("1.1"));
        let command =
            target(json!({"channel_id": "C1", "trigger_id": "t", "response_url": "https://hooks.slack.com/x"}));
        assert_eq!(thread_of(&command), None);
        let action = target(json!({"channel_id": "C1", "trigger_id": "t", "ts": "1.5"}));
        assert_eq!(
            thread_of(&action),
            None,
            "only the receiver's thread_ts makes an interaction's answer a thread reply"
        );
    }

    #[test]
    fn a_response_url_that_slack_no_longer_takes_means_the_web_api() {
        for gone in [
            answer(404, "expired_url", &[]),
            answer(404, "used_url", &[]),
            answer(200, r#"{"ok":false,"error":"used_url"}"#, &[]),
            answer(410, "", &[]),
            answer(404, "no_service", &[]),
        ] {
            assert!(matches!(judge_response_url(&gone, NOW), Ok(Err(_))), "{gone:?}");
        }
        assert_eq!(judge_response_url(&answer(200, "ok", &[]), NOW).unwrap(), Ok(Sent::via(VIA_RESPONSE_URL)));
        assert_eq!(
            judge_response_url(&answer(200, r#"{"ok":true}"#, &[]), NOW).unwrap(),
            Ok(Sent::via(VIA_RESPONSE_URL))
        );
        let invalid = judge_response_url(&answer(400, "invalid_blocks", &[]), NOW).unwrap_err();
        assert!(invalid.is_permanent() && invalid.reason.contains("invalid_blocks"), "{invalid}");
        let refused = judge_response_url(&answer(200, r#"{"ok":false,"error":"invalid_blocks"}"#, &[]), NOW);
        assert!(refused.unwrap_err().is_permanent());
        let throttled = judge_response_url(&answer(429, "", &[("retry-after", "7")]), NOW).unwrap_err();
        assert_eq!(throttled.retry, Retry::Later { after: Some(Duration::from_secs(7)) });
        assert!(!judge_response_url(&answer(503, "", &[]), NOW).unwrap_err().is_permanent());
    }

    #[test]
    fn web_api_errors_are_permanent_transient_or_throttled_as_slack_documents() {
        let ok = judge_web_api(VIA_POST_MESSAGE, &answer(200, r#"{"ok":true,"ts":"1.9"}"#, &[]), NOW);
        assert_eq!(ok.unwrap(), Sent::via(VIA_POST_MESSAGE).with_message_id(Some("1.9".into())));
        let error = |code: &str| {
            let body = json!({"ok": false, "error": code}).to_string();
            judge_web_api(VIA_POST_MESSAGE, &answer(200, &body, &[]), NOW).unwrap_err()
        };
        for code in TOKEN_ERRORS {
            let refused = error(code);
            assert!(refused.is_permanent() && refused.reason.contains(BOT_TOKEN), "{refused}");
        }
        for code in ["channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "no_text", "invalid_blocks"]
        {
            let refused = error(code);
            assert!(refused.is_permanent() && refused.reason.contains(code), "{refused}");
        }
        for code in TRANSIENT_ERRORS {
            assert!(!error(code).is_permanent(), "{code}");
        }
        let body = r#"{"ok":false,"error":"ratelimited"}"#;
        let throttled = judge_web_api(VIA_POST_MESSAGE, &answer(429, body, &[("retry-after", "30")]), NOW);
        assert_eq!(throttled.unwrap_err().retry, Retry::Later { after: Some(Duration::from_secs(30)) });
        for status in [500, 502, 503] {
            assert!(!judge_web_api(VIA_POST_MESSAGE, &answer(status, "", &[]), NOW).unwrap_err().is_permanent());
        }
        assert!(judge_web_api(VIA_POST_MESSAGE, &answer(403, "", &[]), NOW).unwrap_err().is_permanent());
        let unauthorized = answer(401, r#"{"ok":false,"error":"not_authed"}"#, &[]);
        assert!(judge_web_api(VIA_POST_MESSAGE, &unauthorized, NOW).unwrap_err().reason.contains(BOT_TOKEN));
        assert!(!judge_web_api(VIA_POST_MESSAGE, &answer(200, "<html>", &[]), NOW).unwrap_err().is_permanent());
    }
}
