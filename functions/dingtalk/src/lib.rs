//! DingTalk (钉钉) outgoing robot: `POST /dingtalk/robot`.
//!
//! When a user @mentions an app's robot (or writes to it in a single chat),
//! DingTalk posts the message as JSON with two headers:
//!
//! ```text
//! timestamp = milliseconds since the epoch, within ±1 h of now (DingTalk's rule)
//! sign      = base64 HMAC-SHA256( key = appSecret, timestamp ‖ "\n" ‖ appSecret )
//! ```
//!
//! The signature covers the timestamp only, **not the body**: whoever
//! captures one `timestamp`/`sign` pair can post any body with it until the
//! timestamp leaves the hour. `DINGTALK_ALLOWED_CIDRS` (DingTalk's egress
//! networks) is the remedy; dedup by `msgId` keeps a replayed message from
//! becoming a second event. Since the body is not proof of anything, its
//! `sessionWebhook` becomes a reply handle only on `DINGTALK_REPLY_HOSTS`
//! (`inlet_shared::reply::hosts`). Protocol facts: docs/platforms/dingtalk.md, DingTalk.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use inlet_shared::config;
use inlet_shared::envelope::Payload;
use inlet_shared::json::Field;
use inlet_shared::prelude::*;
use inlet_shared::verify::{constant_time_eq, hmac_sha256, truncate_for_log};

pub mod samples;

use inlet_shared::reply::dingtalk::{DEFAULT_REPLY_HOSTS, REPLY_HOSTS};
use inlet_shared::reply::hosts::ReplyHosts;

pub const PROVIDER: &str = "dingtalk";
pub const ROUTE: &str = "/dingtalk/robot";
pub const APP_SECRET: &str = "DINGTALK_APP_SECRET";
pub const TIMESTAMP_HEADER: &str = "timestamp";
pub const SIGN_HEADER: &str = "sign";
pub const SCHEME: &str = "dingtalk-sign";
/// DingTalk's own window: "timestamp 与系统当前时间戳如果相差1小时以上，则认为是非法的请求".
/// It is DingTalk's rule, not `INLET_TIMESTAMP_TOLERANCE_SECS`, and it is in
/// milliseconds.
pub const TOLERANCE_MS: i64 = 3_600_000;

/// Settings, read once at start-up.
pub struct DingtalkFunction {
    /// `DINGTALK_APP_SECRET#n`: the robot's app's AppSecret (several while rotating).
    pub secrets: SecretList,
    /// Where a `sessionWebhook` may point to become the reply handle.
    pub reply_hosts: ReplyHosts,
    pub ingress: IngressSettings,
}

/// `sign` for `timestamp` (the header's text, exactly as sent).
pub fn sign(app_secret: &str, timestamp: &str) -> String {
    let mac = hmac_sha256(app_secret.as_bytes(), &[timestamp.as_bytes(), b"\n", app_secret.as_bytes()]);
    BASE64.encode(mac)
}

/// Compares a presented `sign` with the expected base64 in constant time.
/// DingTalk's outgoing robot sends it as is (the URL-encoding in DingTalk's
/// samples is for the *sending* robot's query string); a `%`-encoded copy
/// (`%2B`, `%2F`, `%3D`) is decoded first, since decoding can only give back
/// the same base64 and never forges one.
pub fn sign_matches(expected: &str, presented: &str) -> bool {
    if constant_time_eq(expected.as_bytes(), presented.as_bytes()) {
        return true;
    }
    presented.contains('%')
        && constant_time_eq(expected.as_bytes(), inlet_shared::form::percent_decode(presented, false).as_bytes())
}

impl Provider for DingtalkFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "DINGTALK";
    const ROUTES: &'static [Route] = &[
        // Not in docs/platforms/dingtalk.md (retries "not documented"): DingTalk's outgoing
        // robot expects a quick answer; 3 s, the chat platforms' usual.
        Route::post(ROUTE).deadline_ms(3000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[APP_SECRET];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let secrets = config::secrets(env, APP_SECRET);
        if secrets.is_empty() {
            return Err(ConfigError::new(
                APP_SECRET,
                "is required (DingTalk developer console → the app → 凭证与基础信息 → AppSecret)",
            ));
        }
        Ok(DingtalkFunction {
            secrets,
            reply_hosts: ReplyHosts::from_env(env, REPLY_HOSTS, DEFAULT_REPLY_HOSTS)?,
            ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)?,
        })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, _route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let timestamp = request.credential_header(TIMESTAMP_HEADER)?;
        let presented = request.credential_header(SIGN_HEADER)?;
        let secret = self
            .secrets
            .find(|secret| sign_matches(&sign(secret.expose(), timestamp), presented))
            .ok_or(IngressError::BadCredential("sign"))?;
        check_window(timestamp, now)?;
        // Authenticated (as far as DingTalk's scheme goes): reasons may be precise.
        let (body, payload) = Payload::view::<Message>(&request.body)?;
        if !body.is_object {
            return Err(IngressError::malformed("body is not a JSON object"));
        }
        let msg_id = body.msg_id.text().ok_or_else(|| IngressError::malformed("message has no msgId"))?;
        let kind = body.msgtype.text().ok_or_else(|| IngressError::malformed("message has no msgtype"))?;
        let verification = Verification { scheme: SCHEME.into(), matched: Some(secret.name.clone()) };
        let tenant = body.chatbot_corp_id.text().map(str::to_string);
        let (view, dropped) = message_view(&body, &self.reply_hosts);
        if let Some(why) = dropped {
            // Still an event: the request is as genuine as DingTalk's scheme
            // can prove. Only the address is not trusted.
            tracing::warn!(
                provider = PROVIDER,
                msg_id = %truncate_for_log(msg_id),
                reason = %why,
                "sessionWebhook not kept as the reply handle"
            );
        }
        let mut envelope = Envelope::new(PROVIDER, msg_id, kind, now, verification, payload);
        envelope.tenant = tenant;
        envelope.message = Some(view);
        // An empty 200: no reply in the conversation (a body would be posted as one).
        Ok(Decision::enqueue(vec![envelope], Reply::empty(StatusCode::OK)))
    }
}

/// DingTalk's window: the millisecond timestamp at most an hour from now,
/// either way. Not a number is treated as out of the window.
pub fn check_window(timestamp: &str, now: OffsetDateTime) -> Result<i64, IngressError> {
    let stale = || IngressError::StaleTimestamp {
        timestamp: truncate_for_log(timestamp),
        tolerance_secs: (TOLERANCE_MS / 1000) as u64,
    };
    let millis: i64 = timestamp.trim().parse().map_err(|_| stale())?;
    let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    if millis.abs_diff(now_ms) > TOLERANCE_MS.unsigned_abs() {
        return Err(stale());
    }
    Ok(millis)
}

inlet_shared::json_object! {
    /// What inlet reads of a robot message.
    pub struct Message<'a> {
        pub msg_id = "msgId", pub msgtype, pub chatbot_corp_id = "chatbotCorpId",
        pub conversation_type = "conversationType", pub conversation_id = "conversationId",
        pub sender_staff_id = "senderStaffId", pub sender_id = "senderId", pub text: Content<'a>,
        pub session_webhook = "sessionWebhook",
        pub session_webhook_expired_time = "sessionWebhookExpiredTime",
        pub robot_code = "robotCode",
    }
}

inlet_shared::json_object! {
    /// A text message's `text`.
    pub struct Content<'a> { pub content }
}

/// The conversation, the sender (the staff id when DingTalk gives it, as its
/// docs advise, else the encrypted sender id), the text trimmed (DingTalk
/// keeps the space after the @mention), and the reply handle: the session
/// webhook and its expiry (ms), the way to answer in the same conversation.
///
/// The body is not signed, so the session webhook is a handle only when
/// `reply_hosts` allows its address; otherwise the view has no handle and
/// comes with the reason it was dropped. No session webhook: no handle.
pub fn message_view(body: &Message, reply_hosts: &ReplyHosts) -> (MessageView, Option<String>) {
    let chat_type = body.conversation_type.text().map(|t| match t {
        "1" => "single".to_string(),
        "2" => "group".to_string(),
        other => other.to_string(),
    });
    let mut view = MessageView {
        chat_id: body.conversation_id.text().map(str::to_string),
        chat_type,
        sender_id: body.sender_staff_id.text().or_else(|| body.sender_id.text()).map(str::to_string),
        message_id: body.msg_id.text().map(str::to_string),
        text: body.text.content.as_str().map(|t| t.trim().to_string()),
        reply_handle: None,
    };
    let session_webhook = match &body.session_webhook {
        Field::Absent | Field::Null => return (view, None),
        Field::String(url) if url.is_empty() => return (view, None),
        Field::String(url) => url,
        _ => return (view, Some("sessionWebhook is not a string".into())),
    };
    if let Err(why) = reply_hosts.check(session_webhook) {
        return (view, Some(format!("sessionWebhook {why}")));
    }
    view.reply_handle = Some(json!({
        "session_webhook": session_webhook,
        "session_webhook_expired_time": body.session_webhook_expired_time.to_value(),
        "robot_code": body.robot_code.text(),
    }));
    (view, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_is_base64_hmac_of_timestamp_newline_secret() {
        // Recomputed independently: HMAC-SHA256(key="secret", "1700000000000\nsecret").
        let expected = BASE64.encode(hmac_sha256(b"secret", &[b"1700000000000\nsecret"]));
        assert_eq!(sign("secret", "1700000000000"), expected);
        assert_eq!(expected.len(), 44);
        assert_ne!(sign("secret", "1700000000001"), expected);
    }

    #[test]
    fn sign_comparison_is_exact_or_percent_decoded() {
        let expected = sign("s", "1");
        assert!(sign_matches(&expected, &expected));
        let encoded = inlet_shared::form::percent_encode(&expected);
        assert!(encoded.contains('%'));
        assert!(sign_matches(&expected, &encoded));
        assert!(!sign_matches(&expected, &expected.to_lowercase()));
        assert!(!sign_matches(&expected, &expected[1..]));
        assert!(!sign_matches(&expected, "%"));
    }

    #[test]
    fn window_is_one_hour_in_milliseconds_both_ways() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert!(check_window("1700000000000", now).is_ok());
        assert!(check_window("1700003600000", now).is_ok());
        assert!(check_window("1699996400000", now).is_ok());
        assert!(check_window("1700003600001", now).is_err());
        assert!(check_window("1699996399999", now).is_err());
        // Seconds are not milliseconds: 1970, refused.
        assert!(check_window("1700000000", now).is_err());
        assert!(check_window("soon", now).is_err());
        assert!(check_window("99999999999999999999999", now).is_err());
        assert!(check_window("-9223372036854775808", now).is_err());
    }
}
