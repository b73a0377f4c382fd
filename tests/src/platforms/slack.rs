//! Slack's reply APIs, as a local server:
//!
//! - `response_url`s under `/hooks/` (`/hooks/commands/T1/1/abc`), each
//!   issued with its creation time and a use counter: Slack takes one for
//!   30 minutes and 5 times, then answers 404 `expired_url` or `used_url`
//!   (a test ages a URL or uses it up instead of waiting). A request it
//!   takes answers 200 `ok`;
//! - the Web API under `/api/` (`chat.postMessage`, `chat.update`): the
//!   `Authorization: Bearer` token checked first (`not_authed`,
//!   `invalid_auth`, as HTTP 200 with `{"ok": false}` as Slack does), then
//!   the channels it knows (`channel_not_found`), the message
//!   (`no_text`, `invalid_blocks`, `message_not_found`);
//! - scripted answers for the Web API's next calls: throttling (429,
//!   `Retry-After`, `ratelimited`) or any other.
//!
//! Every request is recorded (`FakeServer::received`), and every message
//! Slack would show is kept in [`SlackState::messages`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{Answer, FakeServer, Received};

/// How long Slack takes a `response_url`, and how often.
pub const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);
pub const RESPONSE_URL_USES: u32 = 5;

/// One issued `response_url`.
#[derive(Clone, Debug)]
pub struct Hook {
    pub created: SystemTime,
    pub uses: u32,
    pub channel: String,
}

/// A message as Slack would show it: where, and what the request said.
#[derive(Clone, Debug, PartialEq)]
pub struct Shown {
    /// `response_url`, `chat.postMessage` or `chat.update`.
    pub via: String,
    pub channel: String,
    pub ts: String,
    pub body: Value,
}

#[derive(Debug)]
pub struct SlackState {
    /// The bot token the Web API takes.
    pub token: String,
    pub channels: BTreeSet<String>,
    /// Issued `response_url`s by path.
    pub hooks: BTreeMap<String, Hook>,
    /// Answers to the Web API's next calls, before any check.
    pub script: VecDeque<Answer>,
    pub messages: Vec<Shown>,
    next_ts: u64,
}

impl SlackState {
    fn next_ts(&mut self) -> String {
        self.next_ts += 1;
        format!("1700000000.{:06}", self.next_ts)
    }
}

pub type SlackServer = FakeServer<SlackState>;

/// A Slack that takes `token` and knows `channels`.
pub async fn start(token: &str, channels: &[&str]) -> SlackServer {
    let state = SlackState {
        token: token.to_string(),
        channels: channels.iter().map(|c| c.to_string()).collect(),
        hooks: BTreeMap::new(),
        script: VecDeque::new(),
        messages: Vec::new(),
        next_ts: 0,
    };
    FakeServer::start(state, Arc::new(respond)).await
}

impl FakeServer<SlackState> {
    /// `SLACK_API_BASE` for inlet.
    pub fn api_base(&self) -> String {
        format!("{}/api", self.url)
    }

    /// `SLACK_REPLY_HOSTS` that lets inlet call this server's `response_url`s.
    pub fn reply_hosts(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A new `response_url` of a slash command in `channel`, as Slack
    /// sends one (`https://hooks.slack.com/commands/T1/1/abc`).
    pub fn response_url(&self, team: &str, channel: &str) -> String {
        let path = self.with_state(|state| {
            let path = format!("/hooks/commands/{team}/{}/s3cr3tpath{}", state.hooks.len() + 1, state.hooks.len() + 1);
            let hook = Hook { created: SystemTime::now(), uses: 0, channel: channel.to_string() };
            state.hooks.insert(path.clone(), hook);
            path
        });
        format!("{}{path}", self.url)
    }

    /// Makes `url` older by `by`, as if it had been issued that long ago.
    pub fn age(&self, url: &str, by: Duration) {
        let path = self.path_of(url);
        self.with_state(|state| {
            let hook = state.hooks.get_mut(&path).expect("an issued response_url");
            hook.created -= by;
        });
    }

    /// Uses `url` up, as if it had been used `RESPONSE_URL_USES` times.
    pub fn use_up(&self, url: &str) {
        let path = self.path_of(url);
        self.with_state(|state| state.hooks.get_mut(&path).expect("an issued response_url").uses = RESPONSE_URL_USES);
    }

    /// The next `times` Web API calls answer 429 `ratelimited` with
    /// `Retry-After: retry_after` seconds.
    pub fn throttle(&self, times: usize, retry_after: u64) {
        let answer = Answer::json(429, json!({"ok": false, "error": "ratelimited"}))
            .with_header("Retry-After", &retry_after.to_string());
        self.with_state(|state| state.script.extend(std::iter::repeat_n(answer, times)));
    }

    /// The next Web API call answers `answer`.
    pub fn script(&self, answer: Answer) {
        self.with_state(|state| state.script.push_back(answer));
    }

    pub fn messages(&self) -> Vec<Shown> {
        self.with_state(|state| state.messages.clone())
    }

    /// The requests to the Web API method `method` (`chat.postMessage`).
    pub fn calls_to(&self, method: &str) -> Vec<Received> {
        self.received_at(&format!("/api/{method}"))
    }

    /// The requests to `url`, a `response_url`.
    pub fn calls_to_url(&self, url: &str) -> Vec<Received> {
        self.received_at(&self.path_of(url))
    }

    fn path_of(&self, url: &str) -> String {
        url.strip_prefix(&self.url).expect("a URL of this server").to_string()
    }
}

fn respond(state: &mut SlackState, request: &Received) -> Answer {
    if request.method != "POST" {
        return Answer::text(405, "method_not_allowed");
    }
    if request.path.starts_with("/hooks/") {
        return response_url(state, request);
    }
    match request.path.strip_prefix("/api/") {
        Some(method) => web_api(state, method, request),
        None => Answer::text(404, "no_service"),
    }
}

fn response_url(state: &mut SlackState, request: &Received) -> Answer {
    let Some(hook) = state.hooks.get_mut(&request.path) else {
        return Answer::text(404, "no_service");
    };
    let age = SystemTime::now().duration_since(hook.created).unwrap_or_default();
    if age >= RESPONSE_URL_LIFETIME {
        return Answer::text(404, "expired_url");
    }
    hook.uses += 1;
    if hook.uses > RESPONSE_URL_USES {
        return Answer::text(404, "used_url");
    }
    let channel = hook.channel.clone();
    if !is_json(request) {
        return Answer::text(400, "invalid_payload");
    }
    let body = request.json();
    if let Err(error) = check_message(&body) {
        return Answer::text(400, error);
    }
    if let Some(kind) = body.get("response_type").and_then(Value::as_str)
        && kind != "in_channel"
        && kind != "ephemeral"
    {
        return Answer::text(400, "invalid_payload");
    }
    let ts = state.next_ts();
    state.messages.push(Shown { via: "response_url".into(), channel, ts, body });
    Answer::text(200, "ok")
}

fn web_api(state: &mut SlackState, method: &str, request: &Received) -> Answer {
    if let Some(answer) = state.script.pop_front() {
        return answer;
    }
    let refused = |error: &str| Answer::json(200, json!({"ok": false, "error": error}));
    match request.header("authorization").and_then(|value| value.strip_prefix("Bearer ")) {
        None => return refused("not_authed"),
        Some(token) if token != state.token => return refused("invalid_auth"),
        Some(_) => {}
    }
    if !is_json(request) {
        return refused("invalid_arguments");
    }
    let body = request.json();
    let channel = body.get("channel").and_then(Value::as_str).unwrap_or_default().to_string();
    if !state.channels.contains(&channel) {
        return refused("channel_not_found");
    }
    if let Err(error) = check_message(&body) {
        return refused(error);
    }
    match method {
        "chat.postMessage" => {
            let ts = state.next_ts();
            state.messages.push(Shown { via: method.into(), channel: channel.clone(), ts: ts.clone(), body });
            Answer::json(200, json!({"ok": true, "channel": channel, "ts": ts}))
        }
        "chat.update" => {
            let ts = body.get("ts").and_then(Value::as_str).unwrap_or_default().to_string();
            if !state.messages.iter().any(|m| m.channel == channel && m.ts == ts) {
                return refused("message_not_found");
            }
            state.messages.push(Shown { via: method.into(), channel: channel.clone(), ts: ts.clone(), body });
            Answer::json(200, json!({"ok": true, "channel": channel, "ts": ts}))
        }
        _ => Answer::json(404, json!({"ok": false, "error": "unknown_method"})),
    }
}

fn is_json(request: &Received) -> bool {
    request.header("content-type").is_some_and(|value| value.starts_with("application/json"))
}

/// What Slack needs of any message: a text or blocks, blocks an array.
fn check_message(body: &Value) -> Result<(), &'static str> {
    let text = body.get("text").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    match body.get("blocks") {
        Some(blocks) if !blocks.is_array() => Err("invalid_blocks"),
        Some(_) => Ok(()),
        None if text => Ok(()),
        None => Err("no_text"),
    }
}
