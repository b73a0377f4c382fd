//! DingTalk: a reply goes to the `sessionWebhook` of the robot message it
//! answers, the address DingTalk puts in every message it posts to an
//! outgoing robot (about 90 minutes valid, `sessionWebhookExpiredTime`).
//!
//! The URL needs no other credential: its `session` query is the credential,
//! so neither a reason, a log nor `Debug` ever shows more of it than the
//! host. It arrives inside a request whose signature does not cover the
//! body, so it is called only on `DINGTALK_REPLY_HOSTS` (the receiver checked
//! once; the client checks again, since a request on the reply queue can
//! carry its own target).
//!
//! The card of a [`Reply`] is DingTalk's own message: an object with
//! `msgtype` (`markdown`, `actionCard`, `feedCard`, `link`) is the whole
//! body; an object without one is an `actionCard`'s fields. With a card the
//! text is not sent (each of DingTalk's cards carries its own). DingTalk
//! cannot change a message sent through a `sessionWebhook`.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::hosts::ReplyHosts;
use super::pace::Pacer;
use super::{
    ERRCODE_BUSY, Http, Outgoing, Reply, ReplyClient, ReplyError, Sent, check_msgtype_part, errcode_failure,
    errcode_of, url_secrets,
};
use crate::aws::outbound::{Answer, json_request};
use crate::config::EnvSource;
use crate::error::ConfigError;
use crate::verify::{sha256_hex, truncate_for_log};

/// The provider whose events the client answers.
pub const PROVIDER: &str = "dingtalk";
pub const REPLY_HOSTS: &str = "DINGTALK_REPLY_HOSTS";
/// DingTalk's API hosts: `oapi.dingtalk.com` serves `/robot/sendBySession`,
/// the address DingTalk puts in `sessionWebhook`; `api.dingtalk.com` is its
/// newer OpenAPI host.
pub const DEFAULT_REPLY_HOSTS: &[&str] = &["oapi.dingtalk.com", "api.dingtalk.com"];

pub const VIA: &str = "dingtalk sessionWebhook";
/// The handle's fields, as the receiver writes them.
pub const SESSION_WEBHOOK: &str = "session_webhook";
pub const SESSION_WEBHOOK_EXPIRED_TIME: &str = "session_webhook_expired_time";

/// DingTalk takes 20 messages a minute from one robot.
pub const PACE: Duration = Duration::from_secs(3);
/// DingTalk's limit is per minute and its answer names no wait: a minute
/// is when the window has surely passed.
pub const THROTTLE_WAIT: Duration = Duration::from_secs(60);

/// "send too fast, exceed 20 times per minute".
pub const SEND_TOO_FAST: i64 = 130101;
/// The session is unknown or over, the conversation gone: no later
/// attempt can succeed.
pub const SESSION_GONE: &[i64] = &[300001, 400013];

/// Shows its hosts only: the URLs it calls are credentials.
#[derive(Debug)]
pub struct DingTalkClient {
    http: Http,
    hosts: ReplyHosts,
    pacer: Pacer,
}

impl DingTalkClient {
    pub fn from_env(env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        let hosts = ReplyHosts::from_env(env, REPLY_HOSTS, DEFAULT_REPLY_HOSTS)?;
        Ok(DingTalkClient { http: Http::new(connector), hosts, pacer: Pacer::new(PACE) })
    }
}

#[async_trait]
impl ReplyClient for DingTalkClient {
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<Sent, ReplyError> {
        let Outgoing { target, reply, now, .. } = outgoing;
        if reply.update {
            return Err(ReplyError::permanent("DingTalk cannot change a sent message through the sessionWebhook"));
        }
        let url = target.required(SESSION_WEBHOOK)?;
        if let Err(refused) = self.hosts.check(url) {
            // The refusal names the host at most: the query is the credential.
            tracing::warn!(event_id = %target.event_id, "dingtalk sessionWebhook not called: it {refused}");
            return Err(ReplyError::permanent(format!("the sessionWebhook {refused}")));
        }
        if let Some(expired_at) = expiry_ms(&target.handle)
            && unix_ms(now) >= expired_at
        {
            return Err(ReplyError::permanent(format!("the sessionWebhook expired at {}", rfc3339_of_ms(expired_at))));
        }
        let body = body_of(reply).map_err(ReplyError::permanent)?;
        // DingTalk's limit is per robot; without a robot code the session
        // stands for it. The URL is the credential: the pacer keeps its hash.
        let robot = target.field("robot_code").map(str::to_string);
        self.pacer.wait_turn(&robot.unwrap_or_else(|| sha256_hex(url.as_bytes()))).await;
        // An error page may quote the URL, whose query is the credential.
        let request = json_request(http::Method::POST, url, &[], &body);
        let answer = self.http.call(VIA, request, &url_secrets(url)).await?;
        judge(&answer, url, now)
    }
}

/// `session_webhook_expired_time` in ms since the epoch: a number, as
/// DingTalk sends it, or digits. None when absent or unreadable: DingTalk's
/// own answer then says whether the session is still open.
pub fn expiry_ms(handle: &Value) -> Option<i64> {
    match handle.get(SESSION_WEBHOOK_EXPIRED_TIME)? {
        Value::Number(number) => number.as_i64().or_else(|| number.as_f64().map(|ms| ms as i64)),
        Value::String(digits) => digits.trim().parse().ok(),
        _ => None,
    }
}

fn unix_ms(now: SystemTime) -> i64 {
    now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

fn rfc3339_of_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms after the epoch"))
}

/// What the `sessionWebhook` takes for `reply`; the error says what is
/// wrong with the card.
pub fn body_of(reply: &Reply) -> Result<Value, String> {
    let Some(card) = &reply.card else {
        let text = reply.text_str().ok_or("a reply needs a non-empty text or a card")?;
        return Ok(json!({"msgtype": "text", "text": {"content": text}}));
    };
    let fields = card.as_object().ok_or(
        "a dingtalk card is a JSON object: a whole message with \"msgtype\" (markdown, actionCard, feedCard, link) \
         or an actionCard's fields",
    )?;
    match fields.get("msgtype") {
        None => Ok(json!({"msgtype": "actionCard", "actionCard": card})),
        Some(Value::String(msgtype)) if !msgtype.is_empty() => {
            check_msgtype_part(PROVIDER, fields, msgtype)?;
            Ok(card.clone())
        }
        Some(_) => Err("a dingtalk card's msgtype is a non-empty string (markdown, actionCard, feedCard, link)".into()),
    }
}

/// DingTalk's answer: `{"errcode": 0, "errmsg": "ok"}`, or its error code.
fn judge(answer: &Answer, url: &str, now: SystemTime) -> Result<Sent, ReplyError> {
    let (json, code) = errcode_of(VIA, "DingTalk", answer, now)?;
    let message = scrub(json.get("errmsg").and_then(Value::as_str).unwrap_or_default(), url);
    match code {
        Some(0) => Ok(Sent::via(VIA)),
        Some(SEND_TOO_FAST) => Err(ReplyError::transient_after(
            Some(THROTTLE_WAIT),
            format!("{VIA} is throttled ({SEND_TOO_FAST} {message}: DingTalk takes 20 messages a minute per robot)"),
        )),
        Some(code) if code != ERRCODE_BUSY && (SESSION_GONE.contains(&code) || names_a_gone_session(&message)) => {
            Err(ReplyError::permanent(format!("the sessionWebhook is no longer valid ({code} {message})")))
        }
        code => Err(errcode_failure(VIA, answer.status, code, &message)),
    }
}

/// Whether an error message says the session is over, whatever its code.
fn names_a_gone_session(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("session")
        && ["invalid", "expire", "not exist", "不存在", "过期", "失效", "无效"].iter().any(|w| message.contains(w))
}

/// `text` cut for a reason, without the URL or any of its query's values.
fn scrub(text: &str, url: &str) -> String {
    let mut text = text.replace(url, "***");
    if let Some((_, query)) = url.split_once('?') {
        for value in query.split('&').filter_map(|pair| pair.split_once('=').map(|(_, v)| v)) {
            if value.len() >= 4 {
                text = text.replace(value, "***");
            }
        }
    }
    truncate_for_log(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Retry;
    use crate::reply::testing::{NOW, answer, client};

    const URL: &str = "https://oapi.dingtalk.com/robot/sendBySession?session=c5d4e2f1a0b9secret";

    fn card(card: Value) -> Reply {
        Reply { card: Some(card), ..Reply::default() }
    }

    #[test]
    fn text_is_a_text_message_and_a_card_is_dingtalks_own_message_or_an_action_cards_fields() {
        assert_eq!(body_of(&Reply::text("hi")).unwrap(), json!({"msgtype": "text", "text": {"content": "hi"}}));
        let markdown = json!({"msgtype": "markdown", "markdown": {"title": "t", "text": "# hi"}});
        let with_text = Reply { text: Some("ignored".into()), ..card(markdown.clone()) };
        assert_eq!(body_of(&with_text).unwrap(), markdown, "the whole body, the text left out");
        let fields = json!({"title": "t", "text": "x", "singleTitle": "open", "singleURL": "https://x.example"});
        assert_eq!(body_of(&card(fields.clone())).unwrap(), json!({"msgtype": "actionCard", "actionCard": fields}));
        for (bad, why) in [
            (json!([1]), "JSON object"),
            (json!({"msgtype": "markdown"}), "\"markdown\" object"),
            (json!({"msgtype": "markdown", "markdown": "# hi"}), "\"markdown\" object"),
            (json!({"msgtype": 1}), "non-empty string"),
            (json!({"msgtype": ""}), "non-empty string"),
        ] {
            let refused = body_of(&card(bad.clone())).expect_err("refused");
            assert!(refused.contains(why), "{bad}: {refused}");
        }
    }

    #[test]
    fn the_expiry_is_read_as_dingtalk_sends_it_and_shown_as_rfc_3339() {
        assert_eq!(expiry_ms(&json!({SESSION_WEBHOOK_EXPIRED_TIME: 1_700_000_000_000_i64})), Some(1_700_000_000_000));
        assert_eq!(expiry_ms(&json!({SESSION_WEBHOOK_EXPIRED_TIME: "1700000000000"})), Some(1_700_000_000_000));
        assert_eq!(expiry_ms(&json!({SESSION_WEBHOOK_EXPIRED_TIME: 1.7e12})), Some(1_700_000_000_000));
        for none in
            [json!({}), json!({SESSION_WEBHOOK_EXPIRED_TIME: null}), json!({SESSION_WEBHOOK_EXPIRED_TIME: "soon"})]
        {
            assert_eq!(expiry_ms(&none), None, "{none}");
        }
        assert_eq!(rfc3339_of_ms(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(unix_ms(NOW + Duration::from_millis(1500)), 1500);
    }

    #[test]
    fn answers_are_sent_throttled_gone_or_refused_as_dingtalk_documents() {
        assert_eq!(judge(&answer(200, r#"{"errcode":0,"errmsg":"ok"}"#), URL, NOW).unwrap(), Sent::via(VIA));
        let throttled = judge(&answer(200, r#"{"errcode":130101,"errmsg":"send too fast"}"#), URL, NOW).unwrap_err();
        assert_eq!(throttled.retry, Retry::Later { after: Some(THROTTLE_WAIT) });
        for gone in [
            r#"{"errcode":300001,"errmsg":"token is not exist"}"#,
            r#"{"errcode":400013,"errmsg":"群已被解散"}"#,
            r#"{"errcode":88,"errmsg":"session invalid"}"#,
            r#"{"errcode":"300001","errmsg":"x"}"#,
        ] {
            let refused = judge(&answer(200, gone), URL, NOW).unwrap_err();
            assert!(refused.is_permanent() && refused.reason.contains("no longer valid"), "{gone}: {refused}");
        }
        let keywords = judge(&answer(200, r#"{"errcode":310000,"errmsg":"keywords not in content"}"#), URL, NOW);
        let keywords = keywords.unwrap_err();
        assert!(keywords.is_permanent() && keywords.reason.contains("keywords not in content"), "{keywords}");
        assert!(!judge(&answer(200, r#"{"errcode":-1,"errmsg":"busy"}"#), URL, NOW).unwrap_err().is_permanent());
        for transient in [answer(502, ""), answer(503, "busy"), answer(200, "<html>"), answer(200, "{}")] {
            assert!(!judge(&transient, URL, NOW).unwrap_err().is_permanent(), "{transient:?}");
        }
        assert!(judge(&answer(404, ""), URL, NOW).unwrap_err().is_permanent());
    }

    #[test]
    fn an_answer_that_echoes_the_session_does_not_put_it_in_the_reason() {
        let echo = json!({"errcode": 310000, "errmsg": format!("bad {URL}")}).to_string();
        let refused = judge(&answer(200, &echo), URL, NOW).unwrap_err();
        assert!(!refused.reason.contains("c5d4e2f1a0b9secret"), "{refused}");
        let echo = json!({"errcode": 310000, "errmsg": "session=c5d4e2f1a0b9secret"}).to_string();
        let refused = judge(&answer(200, &echo), URL, NOW).unwrap_err();
        assert!(!refused.reason.contains("c5d4e2f1a0b9secret"), "{refused}");
    }

    #[test]
    fn the_client_shows_its_hosts_only() {
        let shown = format!("{:?}", client(&[(REPLY_HOSTS, "127.0.0.1:8099")], DingTalkClient::from_env).unwrap());
        assert!(shown.contains("127.0.0.1"), "{shown}");
        assert_eq!(client(&[(REPLY_HOSTS, "https://x")], DingTalkClient::from_env).unwrap_err().name, REPLY_HOSTS);
    }
}
