//! The decision hook (`OPENIM_DECISION_URL`): a team's endpoint that decides
//! whether a before-callback's action goes ahead, asked while the callback
//! is enqueued and within a budget below OpenIM's callback timeout.
//!
//! The request is the Envelope exactly as the queue gets it, POSTed as
//! JSON and signed with Standard Webhooks like the HTTP destination's
//! (`webhook-id` is the Envelope id). The hook answers 2xx with
//! `{"allow": true}`, `{"allow": true, "replace": {...}}` (fields of
//! OpenIM's answer for that command, which replace the request's), or
//! `{"allow": false, "errCode": 5001, "errMsg": "..."}`. No answer within
//! the budget, a transport error, another status or an unreadable body is
//! answered by the configured fallback.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use inlet_shared::aws::outbound::{self, SharedHttpConnector};
use inlet_shared::aws::tls::TlsRoots;
use inlet_shared::config;
use inlet_shared::ingress::PendingReply;
use inlet_shared::prelude::*;
use inlet_shared::verify::standard_webhooks::SigningKeys;
use serde_json::Map;
use tracing::{info, warn};

use crate::{PROVIDER, continue_body};

pub const URL_SETTING: &str = "OPENIM_DECISION_URL";
pub const SECRET_SETTING: &str = "OPENIM_DECISION_SECRET";
pub const TIMEOUT_SETTING: &str = "OPENIM_DECISION_TIMEOUT_MS";
pub const FALLBACK_SETTING: &str = "OPENIM_DECISION_FALLBACK";

pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// Below this, even a hook next door would mostly time out.
pub const MIN_TIMEOUT_MS: u64 = 50;
/// What the budget leaves of OpenIM's callback timeout: a cold start
/// before the hook is asked, the enqueue when it is slower than the hook,
/// and the way back through API Gateway to OpenIM.
pub const ANSWER_MARGIN_MS: u64 = 1000;
/// A verdict is a few fields; replaced content may be a long message.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// A denial's `errCode` and `errMsg` when the hook gives none.
pub const DENY_ERR_CODE: i64 = 5001;
pub const DENY_ERR_MSG: &str = "refused";
/// The refusal of `OPENIM_DECISION_FALLBACK=deny` when the hook did not decide.
pub const UNAVAILABLE_ERR_CODE: i64 = 5002;
pub const UNAVAILABLE_ERR_MSG: &str = "decision unavailable";

/// The fields of OpenIM's common answer: they say whether the action goes
/// ahead, so `replace` never sets them.
const VERDICT_FIELDS: [&str; 5] = ["actionCode", "errCode", "errMsg", "errDlt", "nextCode"];

/// What OpenIM is told when the hook did not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Continue, as OpenIM's own `failedContinue: true` would.
    Allow,
    Deny,
}

impl Fallback {
    fn name(self) -> &'static str {
        match self {
            Fallback::Allow => "allow",
            Fallback::Deny => "deny",
        }
    }

    pub fn body(self) -> Value {
        match self {
            Fallback::Allow => continue_body(),
            Fallback::Deny => deny_body(UNAVAILABLE_ERR_CODE, UNAVAILABLE_ERR_MSG),
        }
    }
}

/// What the hook decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Allow { replace: Map<String, Value> },
    Deny { err_code: i64, err_msg: String },
}

impl Verdict {
    /// The body OpenIM gets for this verdict.
    pub fn body(&self) -> Value {
        match self {
            Verdict::Allow { replace } => {
                let mut body = continue_body();
                if let Some(fields) = body.as_object_mut() {
                    for (name, value) in replace {
                        if !VERDICT_FIELDS.contains(&name.as_str()) {
                            fields.insert(name.clone(), value.clone());
                        }
                    }
                }
                body
            }
            Verdict::Deny { err_code, err_msg } => deny_body(*err_code, err_msg),
        }
    }
}

/// The body that stops a before-callback's action with the client seeing
/// `err_code` and `err_msg`.
pub fn deny_body(err_code: i64, err_msg: &str) -> Value {
    json!({"actionCode": 0, "errCode": err_code, "errMsg": err_msg, "errDlt": "", "nextCode": 1})
}

/// Reads a hook's 2xx answer, or says why it is no verdict.
pub fn verdict_of(body: &[u8]) -> Result<Verdict, String> {
    let answer: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| "the answer is not a JSON object".to_string())?;
    let present = |name: &str| answer.get(name).filter(|value| !value.is_null());
    match answer.get("allow") {
        Some(Value::Bool(true)) => {
            let replace = match present("replace") {
                None => Map::new(),
                Some(Value::Object(fields)) => fields.clone(),
                Some(_) => return Err("replace is not an object".into()),
            };
            Ok(Verdict::Allow { replace })
        }
        Some(Value::Bool(false)) => {
            let err_code = match present("errCode") {
                None => DENY_ERR_CODE,
                // OpenIM's errCode is an int32, and 0 reads as success.
                Some(code) => code
                    .as_i64()
                    .filter(|code| *code != 0 && i32::try_from(*code).is_ok())
                    .ok_or("errCode is not a non-zero 32-bit integer")?,
            };
            let err_msg = match present("errMsg") {
                None => DENY_ERR_MSG.to_string(),
                Some(Value::String(message)) => message.clone(),
                Some(_) => return Err("errMsg is not a string".into()),
            };
            Ok(Verdict::Deny { err_code, err_msg })
        }
        _ => Err("allow is missing or not true or false".into()),
    }
}

/// The hook as configured.
pub struct DecisionHook {
    url: String,
    keys: SigningKeys,
    budget: Duration,
    fallback: Fallback,
    connector: SharedHttpConnector,
}

impl std::fmt::Debug for DecisionHook {
    /// The URL may carry a token: neither it nor a key is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionHook")
            .field("keys", &self.keys.count())
            .field("budget", &self.budget)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl DecisionHook {
    /// The hook `env` configures, None without `OPENIM_DECISION_URL`.
    /// `callback_timeout_ms` is the before-callback route's deadline, which
    /// the budget must stay well below.
    pub fn from_env(env: &dyn EnvSource, callback_timeout_ms: u32) -> Result<Option<Self>, ConfigError> {
        let budget_ms = config::number(env, TIMEOUT_SETTING, DEFAULT_TIMEOUT_MS)?;
        let most = u64::from(callback_timeout_ms).saturating_sub(ANSWER_MARGIN_MS);
        if !(MIN_TIMEOUT_MS..=most).contains(&budget_ms) {
            return Err(ConfigError::new(
                TIMEOUT_SETTING,
                format!(
                    "{budget_ms} ms is outside {MIN_TIMEOUT_MS}..={most} ms: the answer must reach OpenIM \
                     within its {callback_timeout_ms} ms callback timeout, {ANSWER_MARGIN_MS} ms left for \
                     the enqueue and the way back"
                ),
            ));
        }
        let fallback = match config::optional(env, FALLBACK_SETTING).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("allow") => Fallback::Allow,
            Some("deny") => Fallback::Deny,
            Some(other) => {
                return Err(ConfigError::new(FALLBACK_SETTING, format!("{other:?} is not allow or deny")));
            }
        };
        let Some(url) = config::optional(env, URL_SETTING) else { return Ok(None) };
        let uri: http::Uri =
            url.parse().map_err(|_| ConfigError::new(URL_SETTING, "is not a URL an HTTP client accepts"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(ConfigError::new(URL_SETTING, "must be an http:// or https:// URL with a host"));
        }
        let secrets = config::optional(env, SECRET_SETTING).ok_or_else(|| {
            ConfigError::new(
                SECRET_SETTING,
                format!("is required when {URL_SETTING} is set: the hook's requests are signed with it"),
            )
        })?;
        let keys = SigningKeys::parse(SECRET_SETTING, &secrets, "the decision hook")?;
        Ok(Some(DecisionHook {
            url,
            keys,
            budget: Duration::from_millis(budget_ms),
            fallback,
            // Teams' endpoints carry certificates from any public authority.
            connector: outbound::connector(&TlsRoots::System),
        }))
    }

    pub fn budget(&self) -> Duration {
        self.budget
    }

    pub fn fallback(&self) -> Fallback {
        self.fallback
    }

    /// The answer to OpenIM for the Envelope `id` encoded as `body`, worked
    /// out when the flow polls it, within the budget.
    pub fn consult(self: &Arc<Self>, id: String, body: String) -> PendingReply {
        let hook = Arc::clone(self);
        Box::pin(async move { Reply::ok_json(hook.decide(&id, body.as_bytes()).await) })
    }

    async fn decide(&self, id: &str, body: &[u8]) -> Value {
        let started = Instant::now();
        let verdict = self.ask(id, body).await;
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match verdict {
            Ok(verdict) => {
                match &verdict {
                    Verdict::Allow { replace } => {
                        let ignored: Vec<&str> =
                            VERDICT_FIELDS.iter().copied().filter(|name| replace.contains_key(*name)).collect();
                        if !ignored.is_empty() {
                            warn!(
                                provider = PROVIDER,
                                id,
                                ?ignored,
                                "the decision hook's replace may not set these; ignored"
                            );
                        }
                        info!(provider = PROVIDER, id, decision = "allow", replaced = replace.len(), ms, "decided");
                    }
                    Verdict::Deny { err_code, .. } => {
                        info!(provider = PROVIDER, id, decision = "deny", err_code, ms, "decided");
                    }
                }
                verdict.body()
            }
            Err(reason) => {
                // The reason names neither the URL, the secret nor the signature.
                warn!(provider = PROVIDER, id, decision = "fallback", fallback = self.fallback.name(), reason = %reason,
                    ms, "the decision hook did not decide; answered the fallback");
                self.fallback.body()
            }
        }
    }

    async fn ask(&self, id: &str, body: &[u8]) -> Result<Verdict, String> {
        let request = outbound::standard_webhook(&self.url, &self.keys, id, SystemTime::now(), body)
            .map_err(|error| error.to_string())?;
        let answer = outbound::call(&self.connector, request, self.budget, MAX_ANSWER_BYTES)
            .await
            .map_err(|error| error.to_string())?;
        if !(200..300).contains(&answer.status) {
            return Err(format!("answered {}", answer.status));
        }
        verdict_of(&answer.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_strictly_and_defaults_fill_a_bare_denial() {
        assert_eq!(verdict_of(br#"{"allow": true}"#), Ok(Verdict::Allow { replace: Map::new() }));
        assert_eq!(verdict_of(br#"{"allow": true, "replace": null}"#), Ok(Verdict::Allow { replace: Map::new() }));
        assert_eq!(
            verdict_of(br#"{"allow": false}"#),
            Ok(Verdict::Deny { err_code: DENY_ERR_CODE, err_msg: DENY_ERR_MSG.into() })
        );
        assert_eq!(
            verdict_of(br#"{"allow": false, "errCode": 7, "errMsg": "no"}"#),
            Ok(Verdict::Deny { err_code: 7, err_msg: "no".into() })
        );
        for unreadable in [
            &b""[..],
            b"ok",
            b"[]",
            br#"{"allow": "yes"}"#,
            br#"{"deny": true}"#,
            br#"{"allow": true, "replace": []}"#,
            br#"{"allow": false, "errCode": 0}"#,
            br#"{"allow": false, "errCode": 4294967296}"#,
            br#"{"allow": false, "errCode": "5001"}"#,
            br#"{"allow": false, "errMsg": 5}"#,
        ] {
            assert!(verdict_of(unreadable).is_err(), "{}", String::from_utf8_lossy(unreadable));
        }
    }

    #[test]
    fn replaced_fields_never_change_the_verdict() {
        let replace =
            json!({"content": "edited", "actionCode": 1, "errCode": 9, "errMsg": "x", "errDlt": "y", "nextCode": 1});
        let Value::Object(replace) = replace else { unreachable!() };
        let mut expected = continue_body();
        expected["content"] = json!("edited");
        assert_eq!(Verdict::Allow { replace }.body(), expected);
    }
}
