//! Discord's interaction webhooks, as a local server under `/api/v10`:
//!
//! - interactions are registered with their application, token and
//!   creation time, as Discord issues them; a token it does not know, or
//!   one older than the lifetime (15 minutes, which a test may shorten or
//!   age an interaction past), answers 401 `Invalid Webhook Token` (50027),
//!   a token under another application 404 `Unknown Webhook` (10015);
//! - `POST /webhooks/{application_id}/{token}` posts a follow-up: with
//!   `?wait=true` the answer is the message, otherwise 204;
//! - `PATCH …/messages/@original` changes the original response, which
//!   must exist (the interaction was answered: 404 `Unknown Message`,
//!   10008, otherwise);
//! - a message needs content, embeds or components (50006 `Cannot send an
//!   empty message`); content over 2000 characters or more than 10 embeds
//!   is 400 `Invalid Form Body` (50035) with the field errors;
//! - a script for the next calls: rate limiting (429 with `retry_after`,
//!   `Retry-After` and the `X-RateLimit-*` headers) or any other answer.
//!
//! Every request is recorded (`FakeServer::received`), and every message
//! as Discord would show it now is kept.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use super::{Answer, FakeServer, Received};

pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
pub const MAX_CONTENT_CHARS: usize = 2000;
pub const MAX_EMBEDS: usize = 10;
const PREFIX: &str = "/api/v10/webhooks/";

/// One interaction Discord sent to the app.
#[derive(Clone, Debug, PartialEq)]
pub struct Interaction {
    pub application_id: String,
    pub id: String,
    pub token: String,
    pub channel_id: String,
    pub created: SystemTime,
    /// The message id of the original response, once the interaction was
    /// answered (a deferred "thinking…", or the message of a component).
    pub original: Option<String>,
}

impl Interaction {
    /// The reply handle the receiver writes for it.
    pub fn handle(&self) -> Value {
        json!({
            "application_id": self.application_id,
            "interaction_id": self.id,
            "interaction_token": self.token,
            "channel_id": self.channel_id,
        })
    }
}

/// A message as Discord shows it now.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: String,
    pub channel_id: String,
    /// The interaction whose webhook posted or changed it.
    pub interaction_id: String,
    /// The message's fields as last sent (`content`, `embeds`…).
    pub fields: Map<String, Value>,
    pub edits: u32,
}

#[derive(Debug)]
pub struct DiscordState {
    /// Interactions by token.
    pub interactions: BTreeMap<String, Interaction>,
    pub lifetime: Duration,
    /// Messages by id.
    pub messages: BTreeMap<String, Message>,
    /// Answers to the next webhook calls, before the token check.
    pub script: VecDeque<Answer>,
    next_id: u64,
}

impl DiscordState {
    fn next_id(&mut self) -> String {
        self.next_id += 1;
        // Discord's ids are snowflakes: large numbers, as strings.
        (1_200_000_000_000_000_000 + self.next_id).to_string()
    }
}

pub type DiscordServer = FakeServer<DiscordState>;

pub async fn start() -> DiscordServer {
    let state = DiscordState {
        interactions: BTreeMap::new(),
        lifetime: TOKEN_LIFETIME,
        messages: BTreeMap::new(),
        script: VecDeque::new(),
        next_id: 0,
    };
    FakeServer::start(state, Arc::new(respond)).await
}

impl FakeServer<DiscordState> {
    /// `DISCORD_API_BASE` for inlet.
    pub fn api_base(&self) -> String {
        format!("{}/api/v10", self.url)
    }

    /// An interaction of `application` in `channel` that the receiver
    /// answered (deferred), so it has an original response.
    pub fn interaction(&self, application: &str, channel: &str) -> Interaction {
        self.issue(application, channel, true)
    }

    /// An interaction nobody answered yet: it has no original response.
    pub fn unanswered_interaction(&self, application: &str, channel: &str) -> Interaction {
        self.issue(application, channel, false)
    }

    fn issue(&self, application: &str, channel: &str, answered: bool) -> Interaction {
        self.with_state(|state| {
            let id = state.next_id();
            // Recognisable, so a test can look for it where it must not be.
            let token = format!("aW50ZXJhY3Rpb24.SECRET-interaction-token_{id}");
            let original = answered.then(|| {
                let message_id = state.next_id();
                let message = Message {
                    id: message_id.clone(),
                    channel_id: channel.to_string(),
                    interaction_id: id.clone(),
                    fields: Map::new(),
                    edits: 0,
                };
                state.messages.insert(message_id.clone(), message);
                message_id
            });
            let interaction = Interaction {
                application_id: application.to_string(),
                id,
                token: token.clone(),
                channel_id: channel.to_string(),
                created: SystemTime::now(),
                original,
            };
            state.interactions.insert(token, interaction.clone());
            interaction
        })
    }

    /// Makes `interaction` older by `by`, as if Discord had issued it then.
    pub fn age(&self, interaction: &Interaction, by: Duration) {
        self.with_state(|state| {
            let issued = state.interactions.get_mut(&interaction.token).expect("an issued interaction");
            issued.created -= by;
        });
    }

    /// How long tokens are taken from now on.
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.with_state(|state| state.lifetime = lifetime);
    }

    /// The next `times` calls answer 429, asking to wait `retry_after`
    /// seconds (Discord's answer has a fraction; its header is whole).
    pub fn rate_limit(&self, times: usize, retry_after: f64, global: bool) {
        let body = json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global});
        let mut answer = Answer::json(429, body)
            .with_header("Retry-After", &(retry_after.ceil() as u64).to_string())
            .with_header("X-RateLimit-Limit", "5")
            .with_header("X-RateLimit-Remaining", "0")
            .with_header("X-RateLimit-Reset-After", &retry_after.to_string())
            .with_header("X-RateLimit-Bucket", "d1c0ffee")
            .with_header("X-RateLimit-Scope", if global { "global" } else { "shared" });
        if global {
            answer = answer.with_header("X-RateLimit-Global", "true");
        }
        self.with_state(|state| state.script.extend(std::iter::repeat_n(answer, times)));
    }

    /// The next call answers `answer`.
    pub fn script(&self, answer: Answer) {
        self.with_state(|state| state.script.push_back(answer));
    }

    pub fn message(&self, id: &str) -> Option<Message> {
        self.with_state(|state| state.messages.get(id).cloned())
    }

    /// The messages `interaction`'s webhook posted or changed.
    pub fn messages_of(&self, interaction: &Interaction) -> Vec<Message> {
        self.with_state(|state| {
            state.messages.values().filter(|m| m.interaction_id == interaction.id).cloned().collect()
        })
    }
}

fn error(status: u16, message: &str, code: u32) -> Answer {
    Answer::json(status, json!({"message": message, "code": code}))
}

fn form_error(field: &str, code: &str, message: &str) -> Answer {
    Answer::json(
        400,
        json!({"message": "Invalid Form Body", "code": 50035,
            "errors": {field: {"_errors": [{"code": code, "message": message}]}}}),
    )
}

fn respond(state: &mut DiscordState, request: &Received) -> Answer {
    let Some(rest) = request.path.strip_prefix(PREFIX) else {
        return error(404, "404: Not Found", 0);
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (application, token, message) = match parts.as_slice() {
        [application, token] => (*application, *token, None),
        [application, token, "messages", message] => (*application, *token, Some(*message)),
        _ => return error(404, "404: Not Found", 0),
    };
    let allowed = if message.is_some() { "PATCH" } else { "POST" };
    if request.method != allowed {
        return error(405, "405: Method Not Allowed", 0);
    }
    if let Some(answer) = state.script.pop_front() {
        return answer;
    }
    let lifetime = state.lifetime;
    let Some(interaction) = state.interactions.get(token).cloned() else {
        return error(401, "Invalid Webhook Token", 50027);
    };
    if interaction.application_id != application {
        return error(404, "Unknown Webhook", 10015);
    }
    if SystemTime::now().duration_since(interaction.created).unwrap_or_default() > lifetime {
        return error(401, "Invalid Webhook Token", 50027);
    }
    let json = request.header("content-type").is_some_and(|v| v.starts_with("application/json"));
    let Some(fields) = request.json().as_object().cloned().filter(|_| json) else {
        return error(400, "Cannot send an empty message", 50006);
    };
    if let Err(answer) = check_message(&fields) {
        return answer;
    }
    match message {
        None => {
            let id = state.next_id();
            let message = Message {
                id: id.clone(),
                channel_id: interaction.channel_id.clone(),
                interaction_id: interaction.id.clone(),
                fields,
                edits: 0,
            };
            state.messages.insert(id, message.clone());
            if request.query.get("wait").map(String::as_str) == Some("true") {
                Answer::json(200, message_json(&message, &interaction))
            } else {
                Answer::text(204, "")
            }
        }
        Some(which) => {
            let id = if which == "@original" { interaction.original.clone() } else { Some(which.to_string()) };
            let found = id.and_then(|id| state.messages.get_mut(&id)).filter(|m| m.interaction_id == interaction.id);
            let Some(message) = found else {
                return error(404, "Unknown Message", 10008);
            };
            for (name, value) in fields {
                message.fields.insert(name, value);
            }
            message.edits += 1;
            Answer::json(200, message_json(message, &interaction))
        }
    }
}

fn check_message(fields: &Map<String, Value>) -> Result<(), Answer> {
    let content = match fields.get("content") {
        None | Some(Value::Null) => "",
        Some(Value::String(content)) => content.as_str(),
        Some(_) => return Err(form_error("content", "STRING_TYPE_CONVERT", "Could not interpret value as string.")),
    };
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."));
    }
    let embeds = match fields.get("embeds") {
        None | Some(Value::Null) => 0,
        Some(Value::Array(embeds)) => embeds.len(),
        Some(_) => return Err(form_error("embeds", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")),
    };
    if embeds > MAX_EMBEDS {
        return Err(form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."));
    }
    let components = fields.get("components").and_then(Value::as_array).is_some_and(|c| !c.is_empty());
    if content.is_empty() && embeds == 0 && !components {
        return Err(error(400, "Cannot send an empty message", 50006));
    }
    Ok(())
}

fn message_json(message: &Message, interaction: &Interaction) -> Value {
    let mut body = Value::Object(message.fields.clone());
    body["id"] = json!(message.id);
    body["channel_id"] = json!(message.channel_id);
    body["type"] = json!(0);
    body["webhook_id"] = json!(interaction.application_id);
    body["application_id"] = json!(interaction.application_id);
    if message.edits > 0 {
        body["edited_timestamp"] = json!("2024-01-01T00:00:00.000000+00:00");
    }
    body
}
