//! Slack: `POST /slack/events` (Events API), `POST /slack/interactions`
//! (interactivity: block actions, view submissions, shortcuts…) and
//! `POST /slack/commands` (slash commands), one app per deployment.
//!
//! Every request, URL checks included, must carry a valid `X-Slack-Signature`
//! over `v0:{X-Slack-Request-Timestamp}:{raw body}` under one of the
//! `SLACK_SIGNING_SECRET` entries, with the timestamp inside
//! ±`INLET_TIMESTAMP_TOLERANCE_SECS`. Only then is the body parsed. The one
//! exception is Slack's certificate check, which Slack sends unsigned and
//! Bolt answers before verifying (see [`is_ssl_check`]).
//! Protocol facts: docs/platforms/slack.md, Slack.

use inlet_shared::config;
use inlet_shared::envelope::{Keep, Payload};
use inlet_shared::form::{form_field, parse_form, percent_decode};
use inlet_shared::json::{self, Every, Field, First, string_at};
use inlet_shared::prelude::*;
use serde_json::Map;

pub mod samples;
pub mod signature;

use crate::signature::find_signing_secret;

pub const PROVIDER: &str = "slack";
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Set by Slack on a redelivered event (1, 2, 3); the event keeps its id.
pub const RETRY_NUM_HEADER: &str = "x-slack-retry-num";
pub const RETRY_REASON_HEADER: &str = "x-slack-retry-reason";
pub const SIGNING_SECRET_SETTING: &str = "SLACK_SIGNING_SECRET";

pub const EVENTS_PATH: &str = "/slack/events";
pub const INTERACTIONS_PATH: &str = "/slack/interactions";
pub const COMMANDS_PATH: &str = "/slack/commands";

/// `kind` of a slash command's Envelope (Slack's command body has no type).
pub const COMMAND_KIND: &str = "slash_command";

pub struct SlackFunction {
    /// `SLACK_SIGNING_SECRET#1`, `#2`, …: several while the secret is rotated.
    pub secrets: SecretList,
    pub ingress: IngressSettings,
}

impl SlackFunction {
    /// Proves the request came from Slack: signature first, then the
    /// timestamp window, so a forgery is always logged as a bad signature.
    fn verify(&self, request: &IncomingRequest, now_unix: i64) -> Result<Verification, IngressError> {
        let signature = request.credential_header(SIGNATURE_HEADER)?;
        let timestamp = request.credential_header(TIMESTAMP_HEADER)?;
        let secret = find_signing_secret(&self.secrets, timestamp, &request.body, signature)
            .ok_or(IngressError::BadCredential("X-Slack-Signature"))?;
        self.ingress.timestamp_window.check(timestamp, now_unix)?;
        Ok(Verification { scheme: "slack-signature-v0".into(), matched: Some(secret.name.clone()) })
    }
}

impl Provider for SlackFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "SLACK";
    const ROUTES: &'static [Route] = &[
        // Events (the url_verification challenge included), interactivity and
        // slash commands: 200 within 3 s (docs/platforms/slack.md, "Beyond the seeds").
        Route::post(EVENTS_PATH).deadline_ms(3000),
        Route::post(INTERACTIONS_PATH).deadline_ms(3000),
        Route::post(COMMANDS_PATH).deadline_ms(3000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[SIGNING_SECRET_SETTING];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let secrets = config::required_secrets(
            env,
            SIGNING_SECRET_SETTING,
            "is required (api.slack.com/apps → your app → Basic Information → App Credentials → Signing Secret; \
             comma-separated while rotating)",
        )?;
        Ok(SlackFunction { secrets, ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)? })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        // Before verification, as in Bolt: Slack signs no certificate check.
        // The answer carries nothing and nothing is queued, so an unsigned
        // request gains nothing by it.
        if route.is(COMMANDS_PATH) && is_ssl_check(request) {
            return Ok(Decision::Answer(empty_ok()));
        }
        let verification = self.verify(request, now.unix_timestamp())?;
        if route.is(EVENTS_PATH) {
            events_api(request, verification, now)
        } else if route.is(INTERACTIONS_PATH) {
            interaction(request, verification, now)
        } else {
            slash_command(request, verification, now)
        }
    }
}

/// The content type of Slack's form posts, as Bolt for JavaScript compares it.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Whether `request` is Slack's check of a slash-command URL's certificate
/// (`ssl_check=1`, form-encoded, sent unsigned), which Bolt answers with an
/// empty 200 before verifying anything. Only what both Bolts treat so
/// counts; everything else is verified as usual:
///
/// - Bolt for Python (1.30, the `SslCheck` middleware, placed before
///   `RequestVerification`) asks `body["ssl_check"] == "1"` of the body as
///   `parse_body` reads it: JSON when the content type is `application/json`
///   or the body starts with `{`; the `payload` field's JSON when the body
///   contains the text `payload`; else the form, the last value of a
///   repeated field winning.
/// - Bolt for JavaScript (5.0, `parseAndVerifyHTTPRequest`) skips the
///   signature only when `Content-Type` is exactly
///   `application/x-www-form-urlencoded` and `qs.parse(body).ssl_check ===
///   '1'`; qs reads a repeated or bracketed name as a list or an object, and
///   reads only the first 1000 fields.
///
/// So: that exact content type, a UTF-8 form body that neither starts with
/// `{` nor contains `payload`, one field named `ssl_check` among the first
/// 1000, equal to `1`, and no other field whose name contains `ssl_check`.
pub fn is_ssl_check(request: &IncomingRequest) -> bool {
    const QS_PARAMETER_LIMIT: usize = 1000;
    let body = &request.body;
    if request.header("content-type") != Some(FORM_CONTENT_TYPE)
        || body.starts_with(b"{")
        || body.windows(b"payload".len()).any(|window| window == b"payload")
    {
        return false;
    }
    let Ok(text) = std::str::from_utf8(body) else { return false };
    let mut found = None;
    for (index, field) in text.split('&').enumerate() {
        let (name, value) = field.split_once('=').unwrap_or((field, ""));
        let name = percent_decode(name, true);
        if name == "ssl_check" && found.is_none() {
            found = Some((index, value));
        } else if name.contains("ssl_check") {
            return false;
        }
    }
    found.is_some_and(|(index, value)| index < QS_PARAMETER_LIMIT && percent_decode(value, true) == "1")
}

/// The workspace (or, for org-wide apps, the organisation) an event belongs to.
fn tenant_of(body: &Body) -> Option<String> {
    [&body.team_id, &body.team.id, &body.user.team_id, &body.enterprise_id, &body.enterprise.id]
        .into_iter()
        .find_map(Field::text)
        .map(str::to_string)
}

/// [`tenant_of`] for a slash command's fields.
fn tenant_of_command(fields: &Value) -> Option<String> {
    ["/team_id", "/enterprise_id"].iter().find_map(|pointer| string_at(fields, pointer)).map(str::to_string)
}

/// Reads Slack's JSON (an Events API body, an interaction's `payload`) as
/// its view and its payload: the JSON as Slack sent it, which must be an
/// object, less the deprecated verification `token` (every occurrence): a
/// credential of the app (anyone holding it can forge requests to apps
/// that still check it) that inlet does not use and consumers do not need.
fn read_without_token(text: &str) -> Result<(Body<'_>, Payload), IngressError> {
    let (body, payload) = Payload::view_keeping(text, |body: &Body| Keep::Without {
        path: &[],
        name: "token",
        found: body.token.string_spans(text),
    })?;
    match payload {
        Some(payload) if body.is_object => Ok((body, payload)),
        _ => Err(IngressError::malformed("body must be a JSON object")),
    }
}

/// The slash command's fields as an object, without the `token` field.
fn command_without_token(mut fields: Value) -> Value {
    if let Some(object) = fields.as_object_mut() {
        object.remove("token");
    }
    fields
}

inlet_shared::json_object! {
    /// What inlet reads of an Events API body or an interaction payload.
    struct Body<'a> {
        kind = "type", token: Every<Field<'a>>, challenge, event: Event<'a>, event_id,
        minute_rate_limited, team_id, team: Id<'a>, user: Id<'a>, enterprise_id, enterprise: Id<'a>,
        trigger_id, channel: Id<'a>, container: Container<'a>, message: MessageFields<'a>,
        response_url, response_urls: First<ResponseUrl<'a>>, actions: First<Action<'a>>,
        view: View<'a>, callback_id,
    }
}

inlet_shared::json_object! {
    /// A team, an enterprise, a channel, a user: its id (and a user's team).
    struct Id<'a> { id, team_id }
}

inlet_shared::json_object! {
    /// An Events API event.
    struct Event<'a> {
        kind = "type", subtype, channel, channel_type, ts, thread_ts, user, bot_id, text,
        message: MessageFields<'a>,
    }
}

inlet_shared::json_object! {
    /// A message's fields (an edited message's new version, an
    /// interaction's message).
    struct MessageFields<'a> { ts, thread_ts, user, bot_id, text }
}

inlet_shared::json_object! {
    struct Container<'a> { channel_id, message_ts }
}

inlet_shared::json_object! {
    struct ResponseUrl<'a> { response_url }
}

inlet_shared::json_object! {
    /// The first of an interaction's actions.
    struct Action<'a> { value, selected_option: SelectedOption<'a>, action_id, name }
}

inlet_shared::json_object! {
    struct SelectedOption<'a> { value }
}

inlet_shared::json_object! {
    struct View<'a> { id, callback_id }
}

/// A reply handle from the values Slack gave; absent ones are left out.
fn reply_handle(pairs: &[(&str, Option<&str>)]) -> Option<Value> {
    let handle: Map<String, Value> =
        pairs.iter().filter_map(|(key, value)| Some((key.to_string(), json!((*value)?)))).collect();
    (!handle.is_empty()).then_some(Value::Object(handle))
}

fn empty_ok() -> Reply {
    Reply::empty(StatusCode::OK)
}

// ---------------------------------------------------------------- Events API

/// `POST /slack/events`: the URL check is answered, everything else queued.
fn events_api(request: &IncomingRequest, verification: Verification, now: OffsetDateTime) -> Decided {
    let (body, payload) = read_without_token(json::text_of(&request.body)?)?;
    let kind = body.kind.text().ok_or_else(|| IngressError::malformed("missing type"))?.to_string();
    let tenant = tenant_of(&body);
    let scoped = |id: &str| match &tenant {
        Some(team) => format!("{team}:{id}"),
        None => id.to_string(),
    };
    let (id, envelope_kind, message) = match kind.as_str() {
        // Answered only now, after the signature: an unsigned challenge is a 401.
        "url_verification" => {
            let challenge =
                body.challenge.text().ok_or_else(|| IngressError::malformed("url_verification without challenge"))?;
            return Ok(Decision::Answer(Reply::ok_json(json!({ "challenge": challenge }))));
        }
        "event_callback" => {
            let event = Some(&body.event)
                .filter(|event| event.is_object)
                .ok_or_else(|| IngressError::malformed("event_callback without an event object"))?;
            let event_type =
                event.kind.text().ok_or_else(|| IngressError::malformed("event_callback without event.type"))?;
            let event_id =
                body.event_id.text().ok_or_else(|| IngressError::malformed("event_callback without event_id"))?;
            // A retry (X-Slack-Retry-Num) repeats event_id: the same id, processed once.
            (scoped(event_id), event_type.to_string(), event_message_view(event, tenant.as_deref()))
        }
        // Slack tells the app it dropped events over its rate limit (30 000
        // an hour per workspace); worth a consumer's attention, so queued.
        // One notice per workspace and minute.
        "app_rate_limited" => {
            let minute = body.minute_rate_limited.as_i64();
            let id = match minute {
                Some(minute) => scoped(&format!("app_rate_limited:{minute}")),
                None => Envelope::body_hash_id(&request.body),
            };
            (id, kind.clone(), None)
        }
        // A type Slack adds later is queued as it is, under its own name,
        // rather than refused (a refusal would make Slack retry, then
        // disable the subscription). Its event_id when it has one; else the
        // body's hash, since a retry repeats the body.
        _ => {
            let id = match body.event_id.text() {
                Some(event_id) => scoped(event_id),
                None => Envelope::body_hash_id(&request.body),
            };
            (id, kind.clone(), None)
        }
    };
    let mut envelope = Envelope::new(PROVIDER, &id, &envelope_kind, now, verification, payload);
    envelope.tenant = tenant;
    envelope.message = message;
    Ok(Decision::enqueue(vec![envelope], empty_ok()))
}

/// The message view of a `message` or `app_mention` event. An edited
/// message (`subtype` `message_changed`) is read from its new version.
fn event_message_view(event: &Event, team: Option<&str>) -> Option<MessageView> {
    let event_type = event.kind.text()?;
    if event_type != "message" && event_type != "app_mention" {
        return None;
    }
    let own = [&event.ts, &event.thread_ts, &event.user, &event.bot_id, &event.text];
    let edited = &event.message;
    let [ts, thread_ts, user, bot_id, text] = match event.subtype.text() {
        Some("message_changed") if edited.is_object => {
            [&edited.ts, &edited.thread_ts, &edited.user, &edited.bot_id, &edited.text]
        }
        _ => own,
    };
    let channel = event.channel.text();
    let ts = ts.text();
    // Where a reply goes: the thread the message is in, else a new thread under it.
    let thread_ts = thread_ts.text().or(ts);
    Some(MessageView {
        chat_id: channel.map(str::to_string),
        chat_type: event.channel_type.text().map(str::to_string),
        sender_id: user.text().or_else(|| bot_id.text()).map(str::to_string),
        message_id: ts.map(str::to_string),
        text: text.as_str().map(str::to_string),
        reply_handle: reply_handle(&[("channel_id", channel), ("ts", ts), ("thread_ts", thread_ts), ("team_id", team)]),
    })
}

// ------------------------------------------------------------- Interactivity

/// `POST /slack/interactions`: one form field, `payload`, holding JSON.
fn interaction(request: &IncomingRequest, verification: Verification, now: OffsetDateTime) -> Decided {
    let fields = parse_form(&request.body)?;
    let payload = form_field(&fields, "payload").ok_or_else(|| IngressError::malformed("missing payload field"))?;
    let (body, payload) = read_without_token(payload)?;
    let kind = body.kind.text().ok_or_else(|| IngressError::malformed("payload without type"))?.to_string();
    // Options for an external select must come back in this answer; with no
    // logic at the edge the honest answer is none (as Discord's autocomplete).
    if kind == "block_suggestion" || kind == "dialog_suggestion" {
        return Ok(Decision::Answer(Reply::ok_json(json!({ "options": [] }))));
    }
    let id = event_id_of_action(body.trigger_id.text(), request);
    let tenant = tenant_of(&body);
    let message = interaction_message_view(&body, &kind, tenant.as_deref());
    let mut envelope = Envelope::new(PROVIDER, &id, &kind, now, verification, payload);
    envelope.tenant = tenant;
    envelope.message = message;
    // An empty 200 acknowledges; for view_submission it closes the modal.
    Ok(Decision::enqueue(vec![envelope], empty_ok()))
}

/// Interactions and commands carry no event id and are never retried by
/// Slack, but each user action gets its own `trigger_id` (it opens a modal
/// within 3 s, once), so it names the action: the same request replayed
/// inside the timestamp window is one event, two clicks are two. Payloads
/// without one (`view_closed`) are their request's own event.
fn event_id_of_action(trigger_id: Option<&str>, request: &IncomingRequest) -> String {
    match trigger_id {
        Some(trigger) => format!("trigger:{trigger}"),
        None => request.request_scoped_id(),
    }
}

/// What a sink needs to answer an interaction: `response_url` (block
/// actions, message shortcuts; the first of a modal's `response_urls`),
/// `trigger_id` (to open a modal), and where the message is.
fn interaction_message_view(payload: &Body, kind: &str, team: Option<&str>) -> Option<MessageView> {
    let channel = payload.channel.id.text().or_else(|| payload.container.channel_id.text());
    let message_ts = payload.message.ts.text().or_else(|| payload.container.message_ts.text());
    let thread_ts = payload.message.thread_ts.text().or(message_ts);
    let response_url = payload.response_url.text().or_else(|| payload.response_urls.0.response_url.text());
    let first_action = &payload.actions.0;
    let text = match kind {
        "block_actions" | "interactive_message" => first_action
            .value
            .text()
            .or_else(|| first_action.selected_option.value.text())
            .or_else(|| first_action.action_id.text())
            .or_else(|| first_action.name.text()),
        "view_submission" | "view_closed" => payload.view.callback_id.text(),
        _ => payload.callback_id.text(),
    };
    Some(MessageView {
        chat_id: channel.map(str::to_string),
        chat_type: None,
        sender_id: payload.user.id.text().map(str::to_string),
        message_id: message_ts.map(str::to_string),
        text: text.map(str::to_string),
        reply_handle: reply_handle(&[
            ("response_url", response_url),
            ("trigger_id", payload.trigger_id.text()),
            ("channel_id", channel),
            ("ts", message_ts),
            ("thread_ts", thread_ts),
            ("view_id", payload.view.id.text()),
            ("team_id", team),
        ]),
    })
}

// ------------------------------------------------------------ Slash commands

/// `POST /slack/commands`: form fields, queued as a JSON object of them.
fn slash_command(request: &IncomingRequest, verification: Verification, now: OffsetDateTime) -> Decided {
    let fields = parse_form(&request.body)?;
    let command = form_field(&fields, "command")
        .filter(|command| !command.is_empty())
        .ok_or_else(|| IngressError::malformed("missing command"))?
        .to_string();
    let mut object = Map::new();
    for (name, value) in &fields {
        // The first value of a field wins, as `form_field` reads it.
        if !object.contains_key(name) {
            object.insert(name.clone(), Value::String(value.clone()));
        }
    }
    let payload = command_without_token(Value::Object(object));
    let id = event_id_of_action(string_at(&payload, "/trigger_id"), request);
    let tenant = tenant_of_command(&payload);
    let text = match string_at(&payload, "/text").map(str::trim).filter(|t| !t.is_empty()) {
        Some(arguments) => format!("{command} {arguments}"),
        None => command,
    };
    let channel = string_at(&payload, "/channel_id");
    let message = MessageView {
        chat_id: channel.map(str::to_string),
        chat_type: None,
        sender_id: string_at(&payload, "/user_id").map(str::to_string),
        message_id: None,
        text: Some(text),
        reply_handle: reply_handle(&[
            ("response_url", string_at(&payload, "/response_url")),
            ("trigger_id", string_at(&payload, "/trigger_id")),
            ("channel_id", channel),
            ("team_id", tenant.as_deref()),
        ]),
    };
    let mut envelope = Envelope::new(PROVIDER, &id, COMMAND_KIND, now, verification, payload);
    envelope.tenant = tenant;
    envelope.message = Some(message);
    // An empty 200: Slack shows nothing, and the sink answers through
    // response_url (valid 30 min, 5 times) or the Web API.
    Ok(Decision::enqueue(vec![envelope], empty_ok()))
}
