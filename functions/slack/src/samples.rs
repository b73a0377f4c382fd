//! Slack samples, signed with the first `SLACK_SIGNING_SECRET` entry.
//!
//! Bodies depend on `unique` only, never on the signing time: Slack's retry
//! repeats the body under a fresh signature, and so do `slack-event` and
//! `slack-event-retry` built with the same `unique`.

use inlet_shared::form::encode_form;
use inlet_shared::prelude::*;
use inlet_shared::verify::sha256_hex;

use crate::signature::slack_signature;
use crate::{
    COMMANDS_PATH, EVENTS_PATH, INTERACTIONS_PATH, RETRY_NUM_HEADER, RETRY_REASON_HEADER, SIGNATURE_HEADER,
    SIGNING_SECRET_SETTING, SlackFunction, TIMESTAMP_HEADER,
};

pub const TEAM_ID: &str = "T0DEVTEAM1";
pub const APP_ID: &str = "A0DEVAPP01";
pub const CHANNEL_ID: &str = "C0DEVCHAN1";
pub const USER_ID: &str = "U0DEVUSER1";
/// The deprecated verification token Slack still puts in bodies; inlet
/// drops it from payloads (not a setting: inlet never checks it).
pub const LEGACY_TOKEN: &str = "dev-legacy-verification-token";
/// The `ts` of the sample message (Slack's message id within a channel).
pub const MESSAGE_TS: &str = "1700000000.000100";
const FORM: &str = "application/x-www-form-urlencoded";

/// `Ev` and 10 characters, as Slack's event ids look, from `unique`.
pub fn event_id(unique: &str) -> String {
    format!("Ev{}", sha256_hex(format!("event:{unique}").as_bytes())[..10].to_ascii_uppercase())
}

/// A trigger id shaped like Slack's (`<digits>.<digits>.<32 hex>`), from `unique`.
pub fn trigger_id(unique: &str) -> String {
    let digest = sha256_hex(format!("trigger:{unique}").as_bytes());
    let number = |hex: &str| u64::from_str_radix(hex, 16).unwrap_or(1);
    format!("{}.{}.{}", number(&digest[..9]), number(&digest[9..17]), &digest[32..64])
}

/// A `response_url` as Slack gives one (the path carries a one-time token).
pub fn response_url(unique: &str) -> String {
    let digest = sha256_hex(format!("response:{unique}").as_bytes());
    format!(
        "https://hooks.slack.com/actions/{TEAM_ID}/{}/{}",
        u64::from_str_radix(&digest[..9], 16).unwrap_or(1),
        &digest[9..33]
    )
}

/// A channel message, as `message.channels` delivers it.
pub fn message_event(unique: &str) -> Value {
    json!({
        "token": LEGACY_TOKEN,
        "team_id": TEAM_ID,
        "context_team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": {
            "type": "message",
            "user": USER_ID,
            "text": "deploy prod",
            "ts": MESSAGE_TS,
            "team": TEAM_ID,
            "channel": CHANNEL_ID,
            "event_ts": MESSAGE_TS,
            "channel_type": "channel"
        },
        "type": "event_callback",
        "event_id": event_id(unique),
        "event_time": 1_700_000_000,
        "authorizations": [{"enterprise_id": null, "team_id": TEAM_ID, "user_id": "U0DEVBOT01", "is_bot": true, "is_enterprise_install": false}],
        "is_ext_shared_channel": false,
        "event_context": format!("4-{}", sha256_hex(unique.as_bytes())[..24].to_string())
    })
}

/// A button press in a message (`block_actions`).
pub fn block_actions(unique: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": USER_ID, "username": "devuser", "name": "devuser", "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": LEGACY_TOKEN,
        "container": {"type": "message", "message_ts": MESSAGE_TS, "channel_id": CHANNEL_ID, "is_ephemeral": false},
        "trigger_id": trigger_id(unique),
        "team": {"id": TEAM_ID, "domain": "devteam"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": CHANNEL_ID, "name": "ops"},
        "message": {"type": "message", "user": "U0DEVBOT01", "ts": MESSAGE_TS, "text": "Deploy prod?"},
        "state": {"values": {}},
        "response_url": response_url(unique),
        "actions": [{
            "action_id": "approve",
            "block_id": "deploy",
            "text": {"type": "plain_text", "text": "Approve", "emoji": true},
            "value": "approve:deploy-42",
            "style": "primary",
            "type": "button",
            "action_ts": "1700000000.123456"
        }]
    })
}

/// The slash command `/deploy prod`, as Slack posts it.
pub fn command_fields(unique: &str) -> Vec<(&'static str, String)> {
    vec![
        ("token", LEGACY_TOKEN.to_string()),
        ("team_id", TEAM_ID.to_string()),
        ("team_domain", "devteam".to_string()),
        ("channel_id", CHANNEL_ID.to_string()),
        ("channel_name", "ops".to_string()),
        ("user_id", USER_ID.to_string()),
        ("user_name", "devuser".to_string()),
        ("command", "/deploy".to_string()),
        ("text", "prod".to_string()),
        ("api_app_id", APP_ID.to_string()),
        ("is_enterprise_install", "false".to_string()),
        ("response_url", response_url(unique).replace("/actions/", "/commands/")),
        ("trigger_id", trigger_id(unique)),
    ]
}

/// A request on `path` carrying `body`, signed with `secret` at `timestamp`.
pub fn signed(
    name: &str,
    description: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    secret: &str,
    timestamp: i64,
) -> SampleRequest {
    let timestamp = timestamp.to_string();
    let signature = slack_signature(secret, &timestamp, &body);
    let mut sample = SampleRequest::post_json(name, description, path, body);
    sample.headers.retain(|(header, _)| header != "content-type");
    sample
        .with_header("content-type", content_type)
        .with_header(TIMESTAMP_HEADER, timestamp)
        .with_header(SIGNATURE_HEADER, signature)
}

impl Samples for SlackFunction {
    const SAMPLE_NAMES: &'static [&'static str] =
        &["slack-url-verification", "slack-event", "slack-event-retry", "slack-interaction", "slack-command"];

    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let secrets = SecretList::parse(SIGNING_SECRET_SETTING, &env.get(SIGNING_SECRET_SETTING)?);
        let secret = secrets.iter().next()?.value.expose().to_string();
        let json = "application/json";
        let sign = |description: &str, path: &str, content_type: &str, body: String| {
            signed(name, description, path, content_type, body.into_bytes(), &secret, timestamp)
        };
        let sample = match name {
            "slack-url-verification" => sign(
                "Events API URL check (answered {\"challenge\": …}, never enqueued)",
                EVENTS_PATH,
                json,
                json!({
                    "token": LEGACY_TOKEN,
                    "challenge": format!("challenge-{}", &sha256_hex(unique.as_bytes())[..24]),
                    "type": "url_verification"
                })
                .to_string(),
            ),
            "slack-event" => {
                sign("channel message (event_callback, enqueued)", EVENTS_PATH, json, message_event(unique).to_string())
            }
            "slack-event-retry" => sign(
                "the same channel message retried (X-Slack-Retry-Num: 1): same id, processed once",
                EVENTS_PATH,
                json,
                message_event(unique).to_string(),
            )
            .with_header(RETRY_NUM_HEADER, "1")
            .with_header(RETRY_REASON_HEADER, "http_timeout"),
            "slack-interaction" => sign(
                "button press (block_actions, enqueued)",
                INTERACTIONS_PATH,
                FORM,
                encode_form(&[("payload", &block_actions(unique).to_string())]),
            ),
            "slack-command" => {
                let fields = command_fields(unique);
                let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                sign("slash command /deploy prod (enqueued)", COMMANDS_PATH, FORM, encode_form(&pairs))
            }
            _ => return None,
        };
        Some(sample)
    }
}
