//! OpenIM server callbacks: `POST /openim/{command}`, or
//! `POST /openim/{token}/{command}` when `OPENIM_PATH_TOKEN` is set.
//!
//! OpenIM signs nothing. The route is protected by the source-address
//! allowlist (`OPENIM_ALLOWED_CIDRS`, from API Gateway's view of the caller)
//! and/or a secret path segment; at least one must be configured.
//! OpenIM reads only the response body: a before-callback is refused only
//! by `actionCode == 0 && nextCode == 1`. With a decision hook configured
//! ([`decision`]), a before-callback's answer is the hook's verdict, asked
//! while the callback is enqueued.

use std::sync::Arc;

use inlet_shared::config;
use inlet_shared::envelope::Payload;
use inlet_shared::prelude::*;

pub mod decision;
pub mod samples;

use decision::DecisionHook;

pub const PROVIDER: &str = "openim";
pub const OPERATION_ID_HEADER: &str = "operationid";
pub(crate) const PATH_TOKEN: &str = "OPENIM_PATH_TOKEN";
/// "Timeout is 5 s per callback" (docs/platforms/openim.md, "OpenIM server callbacks").
pub const CALLBACK_TIMEOUT_MS: u32 = 5000;

pub struct OpenimFunction {
    pub path_tokens: SecretList,
    /// Refuse a before-callback (blocking the user's action) when the event
    /// cannot be enqueued, instead of letting it continue uncaptured.
    pub block_on_failure: bool,
    /// Decides before-callbacks when `OPENIM_DECISION_URL` is set.
    pub decision: Option<Arc<DecisionHook>>,
    pub ingress: IngressSettings,
}

/// The body that lets the user's action continue.
pub fn continue_body() -> Value {
    json!({"actionCode": 0, "errCode": 0, "errMsg": "", "errDlt": "", "nextCode": 0})
}

/// The body that stops a before-callback's action; OpenIM shows errMsg.
pub fn refuse_body() -> Value {
    json!({
        "actionCode": 0,
        "errCode": 5003,
        "errMsg": "temporarily unavailable, please retry",
        "errDlt": "inlet could not enqueue the callback",
        "nextCode": 1
    })
}

impl OpenimFunction {
    /// The callback command from the route, after the path token is checked.
    fn command<'a>(
        &self,
        route: &'a RouteMatch,
        request: &IncomingRequest,
    ) -> Result<(&'a str, Option<String>), IngressError> {
        let command = route.param("command").unwrap_or_default();
        let matched = match (self.path_tokens.is_empty(), route.param("token")) {
            (true, None) => None,
            (false, Some(token)) => Some(
                self.path_tokens
                    .find_equal(token.as_bytes())
                    .map(|t| t.name.clone())
                    .ok_or(IngressError::BadCredential("path token"))?,
            ),
            // With a token configured, the tokenless route is refused without
            // saying why: guessing must look like a wrong token.
            (false, None) => return Err(IngressError::MissingCredential("path token")),
            (true, Some(_)) => return Err(IngressError::NotFound(request.path.clone())),
        };
        if !is_command(command) {
            return Err(IngressError::NotFound(request.path.clone()));
        }
        Ok((command, matched))
    }
}

impl Provider for OpenimFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "OPENIM";
    const ROUTES: &'static [Route] = &[
        Route::post("/openim/{command}").deadline_ms(CALLBACK_TIMEOUT_MS),
        Route::post("/openim/{token}/{command}").secret(&["token"]).deadline_ms(CALLBACK_TIMEOUT_MS),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[PATH_TOKEN, decision::SECRET_SETTING];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let ingress = IngressSettings::from_env(env, Self::SETTINGS_PREFIX)?;
        let path_tokens = config::secrets(env, PATH_TOKEN);
        if ingress.allowed_cidrs.is_empty() && path_tokens.is_empty() {
            return Err(ConfigError::new(
                "OPENIM_ALLOWED_CIDRS/OPENIM_PATH_TOKEN",
                "OpenIM callbacks are unsigned: set an address allowlist, a secret path token, or both",
            ));
        }
        for token in path_tokens.iter() {
            if !token.value.expose().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err(ConfigError::new(PATH_TOKEN, "entries must be A-Za-z0-9_- (a path segment)"));
            }
        }
        Ok(OpenimFunction {
            path_tokens,
            block_on_failure: config::flag(env, "OPENIM_BLOCK_ON_FAILURE", false)?,
            decision: DecisionHook::from_env(env, CALLBACK_TIMEOUT_MS)?.map(Arc::new),
            ingress,
        })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let (command, matched_token) = self.command(route, request)?;
        let (body, payload) = Payload::view::<Callback>(&request.body)?;
        match body.callback_command.as_str() {
            Some(in_body) if in_body == command => {}
            Some(in_body) => {
                return Err(IngressError::malformed(format!(
                    "callbackCommand {:?} does not match the path's {command}",
                    inlet_shared::verify::truncate_for_log(in_body)
                )));
            }
            None => return Err(IngressError::malformed("missing callbackCommand")),
        }
        let event_id = event_id(request, command, &body);
        let scheme = if matched_token.is_some() { "openim-path-token" } else { "openim-source-address" };
        let verification = Verification { scheme: scheme.into(), matched: matched_token };
        let mut envelope = Envelope::new(PROVIDER, &event_id, command, now, verification, payload);
        envelope.message = message_view(&body);
        let before = command.contains("Before");
        let ack = Reply::ok_json(continue_body());
        let on_queue_failure = if !before {
            // After-callbacks are not retried and their answer is ignored:
            // 503 at least makes the loss visible to monitoring.
            None
        } else if self.block_on_failure {
            Some(Reply::json(StatusCode::SERVICE_UNAVAILABLE, &refuse_body()))
        } else {
            // Blocking a user's message because inlet's queue blinked would do
            // more harm than an uncaptured event; the loss is logged loudly.
            Some(Reply::ok_json(continue_body()))
        };
        let consult = match &self.decision {
            // The hook gets the bytes the queue gets. An Envelope that cannot
            // be encoded is refused by the enqueue's own check, unasked.
            Some(hook) if before => envelope.encode().ok().map(|body| hook.consult(envelope.id.clone(), body)),
            _ => None,
        };
        Ok(Decision::Enqueue { envelopes: Box::new(vec![envelope]), ack, on_queue_failure, consult })
    }
}

/// The event id. OpenIM's `operationID` header is per request and its
/// message ids per message; many callbacks (quit group, kick, friend
/// changes) carry no message id and identical bodies for distinct real
/// events (quit, rejoin, quit), so the body alone never identifies one.
fn event_id(request: &IncomingRequest, command: &str, body: &Callback) -> String {
    let operation_id = request.header(OPERATION_ID_HEADER).filter(|id| !id.is_empty());
    let message_id = body.server_msg_id.text().or_else(|| body.client_msg_id.text());
    match (operation_id, message_id) {
        (Some(operation), Some(message)) => format!("{command}:{operation}:{message}"),
        (Some(operation), None) => format!("{command}:{operation}"),
        (None, Some(message)) => format!("{command}:{message}"),
        // No id at all: this request is its own event.
        (None, None) => format!("{command}:{}", request.request_scoped_id()),
    }
}

fn is_command(segment: &str) -> bool {
    segment.starts_with("callback") && segment.len() <= 128 && segment.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// OpenIM's text content type.
const TEXT: i64 = 101;

/// The chat view of message callbacks (those with a `sendID`).
fn message_view(body: &Callback) -> Option<MessageView> {
    let sender = body.send_id.text()?;
    let group = body.group_id.text();
    let chat_id = group.or_else(|| body.recv_id.text()).map(str::to_string);
    let content = body.content.text();
    let text = match body.content_type.as_i64() {
        // Text content is itself JSON: {"content": "hi"}.
        Some(TEXT) => content
            .and_then(|c| serde_json::from_str::<TextContent>(c).ok())
            .and_then(|c| if c.content.is_absent() { c.text.as_str() } else { c.content.as_str() }.map(str::to_string)),
        _ => None,
    };
    Some(MessageView {
        chat_type: Some(if group.is_some() { "group" } else { "single" }.to_string()),
        sender_id: Some(sender.to_string()),
        message_id: body.server_msg_id.text().or_else(|| body.client_msg_id.text()).map(str::to_string),
        text,
        reply_handle: Some(json!({
            "recvID": body.recv_id.text(),
            "groupID": group,
            "sessionType": body.session_type,
        })),
        chat_id,
    })
}

inlet_shared::json_object! {
    /// What inlet reads of a callback's body.
    struct Callback<'a> {
        callback_command = "callbackCommand", server_msg_id = "serverMsgID",
        client_msg_id = "clientMsgID", send_id = "sendID", recv_id = "recvID", group_id = "groupID",
        content, content_type = "contentType",
        /// Carried into the reply handle as it is.
        session_type: Option<Value> = "sessionType",
    }
}

inlet_shared::json_object! {
    /// A text message's `content`, itself JSON.
    struct TextContent<'a> { content, text }
}
