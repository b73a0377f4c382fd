//! Discord: a reply answers the interaction the event was, through its
//! webhook: a follow-up message (`POST /webhooks/{application_id}/
//! {interaction_token}?wait=true`), or the interaction's original response
//! changed (`PATCH …/messages/@original`: the deferred "thinking…" of a
//! command, or the message whose component was used).
//!
//! - No credential: the interaction token in the handle is the auth, and it
//!   lives 15 minutes from the interaction. Past that inlet does not call
//!   (the reply can no longer be posted); within it, Discord's own refusal
//!   of the token says the same.
//! - The token is part of the URL, so no URL is ever shown, and anything
//!   that could quote one has the token replaced. Ids and tokens are used
//!   only when made of the characters Discord's are, so that data from the
//!   event cannot change the path.
//! - The card of a [`Reply`] is the message's other fields (`embeds`,
//!   `components`, `flags`, `allowed_mentions`), as an object merged with
//!   the text, which is the message's `content`.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use serde_json::{Map, Value, json};

use super::{Http, Outgoing, Reply, ReplyClient, ReplyError, ReplyTarget, Sent, api_base, by_status, scrub_reason};
use crate::aws::outbound::{Answer, json_request};
use crate::config::EnvSource;
use crate::error::ConfigError;
use crate::verify::truncate_for_log;

/// The provider whose events the client answers.
pub const PROVIDER: &str = "discord";
pub const API_BASE: &str = "DISCORD_API_BASE";
/// The platform's own API host.
pub const DEFAULT_API_BASE: &str = "https://discord.com/api/v10";

/// How long Discord takes an interaction token.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Discord's limit on a message's content.
pub const MAX_CONTENT_CHARS: usize = 2000;
/// Longer than any id or interaction token Discord issues (tokens are
/// about 200 characters).
pub const MAX_PATH_PART_CHARS: usize = 512;

pub const VIA_FOLLOW_UP: &str = "discord follow-up";
pub const VIA_EDIT_ORIGINAL: &str = "discord edit-original";

/// Discord's JSON error codes that say the webhook (the interaction token)
/// is no longer taken: Invalid Webhook Token, Unknown Webhook.
const TOKEN_ERROR_CODES: &[i64] = &[50027, 10015];
/// How many of a form error's field messages a reason quotes.
const MAX_FIELD_ERRORS: usize = 3;

/// Holds no credential: the interaction token comes with each event.
#[derive(Debug)]
pub struct DiscordClient {
    http: Http,
    api_base: String,
}

impl DiscordClient {
    pub fn from_env(env: &dyn EnvSource, connector: SharedHttpConnector) -> Result<Self, ConfigError> {
        Ok(DiscordClient { http: Http::new(connector), api_base: api_base(env, API_BASE, DEFAULT_API_BASE)? })
    }
}

#[async_trait]
impl ReplyClient for DiscordClient {
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<Sent, ReplyError> {
        let Outgoing { target, reply, now, .. } = outgoing;
        let application = path_part(target, "application_id")?;
        let token = path_part(target, "interaction_token")?;
        target.within(TOKEN_LIFETIME, now, "the interaction token expired (15 min)")?;
        let body = message_body(reply)?;
        let webhook = format!("{}/webhooks/{application}/{token}", self.api_base);
        let (method, url, api) = if reply.update {
            (http::Method::PATCH, format!("{webhook}/messages/@original"), VIA_EDIT_ORIGINAL)
        } else {
            // wait=true: Discord answers with the message (its id) once posted.
            (http::Method::POST, format!("{webhook}?wait=true"), VIA_FOLLOW_UP)
        };
        let answer = self.http.call(api, json_request(method, &url, &[], &body), &[token]).await?;
        judge(api, &answer, now).map_err(|error| scrub_reason(error, &[token]))
    }
}

/// A handle field that goes into the URL's path: refused unless made of
/// the characters Discord's ids and tokens are, so that it can neither
/// leave its path segment nor be `.` or `..`. The reason never quotes it
/// (a token is a credential).
fn path_part<'a>(target: &'a ReplyTarget, name: &str) -> Result<&'a str, ReplyError> {
    let value = target.required(name)?;
    let allowed = value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !allowed || value.len() > MAX_PATH_PART_CHARS || value.bytes().all(|b| b == b'.') {
        return Err(ReplyError::permanent(format!(
            "the discord reply handle of event {} has an {name} that is not a Discord id or token \
             (1 to {MAX_PATH_PART_CHARS} of A-Z a-z 0-9 _ . -)",
            target.event_id
        )));
    }
    Ok(value)
}

/// The message Discord is sent: the card's fields with the text as
/// `content`.
pub fn message_body(reply: &Reply) -> Result<Value, ReplyError> {
    let mut body = match &reply.card {
        None => Map::new(),
        Some(Value::Object(fields)) => fields.clone(),
        Some(_) => {
            return Err(ReplyError::permanent(
                "a discord card is an object of message fields (embeds, components, flags, allowed_mentions)",
            ));
        }
    };
    if let Some(text) = reply.text_str() {
        // Two contents would leave one silently unsent.
        if body.contains_key("content") {
            return Err(ReplyError::permanent(
                "a discord reply has its content twice: in text and in the card's content",
            ));
        }
        body.insert("content".into(), json!(text));
    }
    // A reply often quotes what a user wrote: "@everyone" or a role in it
    // must not ping anybody unless the card asks for mentions itself.
    body.entry("allowed_mentions").or_insert_with(|| json!({"parse": []}));
    if let Some(content) = body.get("content").and_then(Value::as_str) {
        let length = content.chars().count();
        if length > MAX_CONTENT_CHARS {
            return Err(ReplyError::permanent(format!(
                "a discord message is at most {MAX_CONTENT_CHARS} characters; this content has {length}"
            )));
        }
    }
    Ok(Value::Object(body))
}

/// What an answer of the webhook means for a call of `api`.
pub fn judge(api: &str, answer: &Answer, now: SystemTime) -> Result<Sent, ReplyError> {
    let json = answer.json();
    let code = json.as_ref().and_then(|j| j.get("code")).and_then(Value::as_i64);
    let message = json.as_ref().and_then(|j| j.get("message")).and_then(Value::as_str).map(truncate_for_log);
    match answer.status {
        200..=299 => {
            let id = json.as_ref().and_then(|j| j.get("id")).and_then(Value::as_str).map(str::to_string);
            Ok(Sent::via(api).with_message_id(id))
        }
        429 => {
            let after = json
                .as_ref()
                .and_then(|j| j.get("retry_after"))
                .and_then(Value::as_f64)
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
                // A fraction of a second more is nothing; a retry too early is another 429.
                .map(|seconds| Duration::from_secs(seconds.ceil() as u64))
                .or_else(|| answer.retry_after(now));
            let global = json.as_ref().and_then(|j| j.get("global")).and_then(Value::as_bool).unwrap_or(false);
            let scope = if global { "globally" } else { "on this webhook" };
            Err(ReplyError::transient_after(after, format!("{api} is rate limited {scope}")))
        }
        401 => Err(token_refused(api, answer.status, code)),
        404 if code.is_some_and(|code| TOKEN_ERROR_CODES.contains(&code)) => {
            Err(token_refused(api, answer.status, code))
        }
        400..=499 if answer.status != 408 && message.is_some() => {
            let code = code.map(|code| format!(" (code {code})")).unwrap_or_default();
            let fields = field_errors(json.as_ref().and_then(|j| j.get("errors")));
            let fields = if fields.is_empty() { String::new() } else { format!(": {}", fields.join("; ")) };
            Err(ReplyError::permanent(format!(
                "{api} refused the reply ({}): {}{code}{fields}",
                answer.status,
                message.unwrap_or_default()
            )))
        }
        _ => Err(by_status(api, answer, now)),
    }
}

fn token_refused(api: &str, status: u16, code: Option<i64>) -> ReplyError {
    let code = code.map(|code| format!(", code {code}")).unwrap_or_default();
    ReplyError::permanent(format!("the interaction token is expired or unknown ({api} answered {status}{code})"))
}

/// The first field messages of Discord's form errors
/// (`{"content": {"_errors": [{"code": "...", "message": "..."}]}}`),
/// as `content: Must be 2000 or fewer in length.`.
fn field_errors(errors: Option<&Value>) -> Vec<String> {
    fn walk(path: &str, value: &Value, found: &mut Vec<String>) {
        let Some(fields) = value.as_object() else {
            return;
        };
        for (name, inner) in fields {
            if found.len() >= MAX_FIELD_ERRORS {
                return;
            }
            if name == "_errors" {
                let first = inner.get(0).and_then(|e| e.get("message")).and_then(Value::as_str);
                if let Some(message) = first {
                    found.push(format!("{}: {}", truncate_for_log(path), truncate_for_log(message)));
                }
            } else {
                let path = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                walk(&path, inner, found);
            }
        }
    }
    let mut found = Vec::new();
    if let Some(errors) = errors {
        walk("", errors, &mut found);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Retry;
    use crate::reply::testing::{NOW, answer};

    fn target(handle: Value) -> ReplyTarget {
        crate::reply::testing::target(PROVIDER, "discord:1", Some("g1"), Some("c1"), handle)
    }

    #[test]
    fn the_text_is_the_content_and_a_cards_fields_are_merged_in() {
        assert_eq!(
            message_body(&Reply::text("pong")).unwrap(),
            json!({"content": "pong", "allowed_mentions": {"parse": []}}),
            "quoted mentions ping nobody"
        );
        let card =
            json!({"embeds": [{"title": "t"}], "components": [], "flags": 64, "allowed_mentions": {"parse": []}});
        let reply = Reply { text: Some("hi".into()), card: Some(card), update: false };
        assert_eq!(
            message_body(&reply).unwrap(),
            json!({"content": "hi", "embeds": [{"title": "t"}], "components": [], "flags": 64, "allowed_mentions": {"parse": []}})
        );
        let card_only = Reply { card: Some(json!({"content": "from the card"})), ..Reply::default() };
        assert_eq!(
            message_body(&card_only).unwrap(),
            json!({"content": "from the card", "allowed_mentions": {"parse": []}})
        );
    }

    #[test]
    fn what_discord_cannot_take_is_refused_before_any_request() {
        let array = Reply { card: Some(json!([{"title": "t"}])), ..Reply::default() };
        assert!(message_body(&array).unwrap_err().reason.contains("object of message fields"));
        let twice = Reply { text: Some("a".into()), card: Some(json!({"content": "b"})), update: false };
        assert!(message_body(&twice).unwrap_err().reason.contains("twice"));
        let long = message_body(&Reply::text("é".repeat(MAX_CONTENT_CHARS + 1))).unwrap_err();
        assert!(long.is_permanent() && long.reason.contains("2000"), "{long}");
        assert!(message_body(&Reply::text("é".repeat(MAX_CONTENT_CHARS))).is_ok());
        let long_card = Reply { card: Some(json!({"content": "x".repeat(MAX_CONTENT_CHARS + 1)})), ..Reply::default() };
        assert!(message_body(&long_card).is_err());
    }

    #[test]
    fn ids_and_tokens_that_could_change_the_path_are_refused_without_quoting_them() {
        let handle = |token: &str| target(json!({"application_id": "123", "interaction_token": token}));
        assert_eq!(
            path_part(&handle("aW50ZXJhY3Rpb24.abc-_9"), "interaction_token").unwrap(),
            "aW50ZXJhY3Rpb24.abc-_9"
        );
        for bad in ["..", ".", "hidden/../x", "hidden?x=1", "hidden#x", "hidden%2F", "hidden x", "hidden\u{e9}"] {
            let error = path_part(&handle(bad), "interaction_token").unwrap_err();
            assert!(error.is_permanent() && !error.reason.contains("hidden"), "{bad}: {error}");
        }
        let long = "a".repeat(MAX_PATH_PART_CHARS + 1);
        assert!(path_part(&handle(&long), "interaction_token").is_err());
        assert!(path_part(&target(json!({})), "application_id").unwrap_err().reason.contains("application_id"));
    }

    #[test]
    fn answers_are_sent_throttled_or_refused_as_discord_documents() {
        let sent = judge(VIA_FOLLOW_UP, &answer(200, json!({"id": "99", "content": "hi"})), NOW).unwrap();
        assert_eq!(sent, Sent::via(VIA_FOLLOW_UP).with_message_id(Some("99".into())));
        let empty = Answer { status: 204, headers: http::HeaderMap::new(), body: Vec::new() };
        assert_eq!(judge(VIA_EDIT_ORIGINAL, &empty, NOW).unwrap(), Sent::via(VIA_EDIT_ORIGINAL));

        let limited = json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": false});
        let error = judge(VIA_FOLLOW_UP, &answer(429, limited), NOW).unwrap_err();
        assert_eq!(error.retry, Retry::Later { after: Some(Duration::from_secs(2)) }, "rounded up");
        let mut header_only = answer(429, json!({"message": "You are being rate limited."}));
        header_only.headers.insert("retry-after", http::HeaderValue::from_static("4"));
        let error = judge(VIA_FOLLOW_UP, &header_only, NOW).unwrap_err();
        assert_eq!(error.retry, Retry::Later { after: Some(Duration::from_secs(4)) });
        let nonsense = json!({"retry_after": -3.0, "global": true});
        assert_eq!(judge(VIA_FOLLOW_UP, &answer(429, nonsense), NOW).unwrap_err().retry, Retry::Later { after: None });

        for (status, code) in [(401, 50027), (404, 10015), (404, 50027)] {
            let body = json!({"message": "Invalid Webhook Token", "code": code});
            let error = judge(VIA_FOLLOW_UP, &answer(status, body), NOW).unwrap_err();
            assert!(
                error.is_permanent() && error.reason.contains("the interaction token is expired or unknown"),
                "{error}"
            );
        }
        let unknown_message = json!({"message": "Unknown Message", "code": 10008});
        let error = judge(VIA_EDIT_ORIGINAL, &answer(404, unknown_message), NOW).unwrap_err();
        assert!(error.is_permanent() && error.reason.contains("Unknown Message") && !error.reason.contains("token"));

        let form = json!({"message": "Invalid Form Body", "code": 50035,
            "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]},
                       "embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}}}}});
        let error = judge(VIA_FOLLOW_UP, &answer(400, form), NOW).unwrap_err();
        assert!(error.is_permanent(), "{error}");
        assert!(error.reason.contains("Invalid Form Body (code 50035)"), "{error}");
        assert!(error.reason.contains("content: Must be 2000 or fewer in length."), "{error}");
        assert!(error.reason.contains("embeds.0.title: This field is required"), "{error}");

        for status in [500, 502, 503, 408] {
            assert!(!judge(VIA_FOLLOW_UP, &answer(status, json!({})), NOW).unwrap_err().is_permanent(), "{status}");
        }
        assert!(judge(VIA_FOLLOW_UP, &answer(403, json!({})), NOW).unwrap_err().is_permanent());
    }

    #[test]
    fn the_edit_url_keeps_at_original_in_its_path() {
        let uri: http::Uri = "https://discord.com/api/v10/webhooks/1/tok/messages/@original".parse().unwrap();
        assert_eq!(uri.path(), "/api/v10/webhooks/1/tok/messages/@original");
    }
}
