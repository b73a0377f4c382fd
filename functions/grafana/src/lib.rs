//! Grafana alerting: `POST /alerts/grafana` (or PUT, which the contact
//! point may be set to use).
//!
//! Accepts both payloads: unified alerting (Grafana ≥ 8, one notification
//! carrying `alerts[]`, split into one Envelope per alert) and legacy
//! dashboard alerting (≤ v8, one alert per request). Authenticated by HTTP
//! Basic, an `Authorization: <scheme> <credentials>` header, or the contact
//! point's HMAC signature. Protocol facts: docs/platforms/grafana.md.

use crate::crypto::{FALLBACK_SIGNATURE_HEADER, SIGNATURE_HEADER, grafana_signature_matches};
use http::HeaderName;
use inlet_shared::alerts::{NotificationSplit, check_version, raw_notification};
use inlet_shared::config;
use inlet_shared::envelope::Payload;
use inlet_shared::ingress::EnvelopeSource;
use inlet_shared::prelude::*;
use inlet_shared::verify::NamedSecret;
use inlet_shared::verify::http_auth::{AUTHORIZATION, HttpCredentials};
use serde_json::Map;

pub mod crypto;
pub mod samples;

pub const PROVIDER: &str = "grafana";
pub const PATH: &str = "/alerts/grafana";
/// The Envelope `kind` of a unified-alerting alert.
pub const KIND: &str = "alert";
/// The Envelope `kind` of a legacy (≤ v8) dashboard alert.
pub const LEGACY_KIND: &str = "legacy-alert";
/// The unified-alerting webhook payload version this parser was written for.
pub const PAYLOAD_VERSION: &str = "1";

inlet_shared::http_credential_settings!("GRAFANA");
pub const HMAC_SECRET_SETTING: &str = "GRAFANA_HMAC_SECRET";
pub const HMAC_TIMESTAMP_HEADER_SETTING: &str = "GRAFANA_HMAC_TIMESTAMP_HEADER";
pub const HMAC_SIGNATURE_HEADER_SETTING: &str = "GRAFANA_HMAC_SIGNATURE_HEADER";

/// Settings, read once at start-up.
pub struct GrafanaFunction {
    pub credentials: HttpCredentials,
    pub hmac_secrets: SecretList,
    /// Where the signature is: the contact point's "Header" setting; by
    /// default Grafana's documented name or the one its signer falls back to.
    pub hmac_signature_headers: Vec<HeaderName>,
    /// The contact point's "Timestamp Header" setting. When set, the
    /// signature covers `timestamp:body` and the timestamp must be recent.
    pub hmac_timestamp_header: Option<HeaderName>,
    pub ingress: IngressSettings,
}

impl Provider for GrafanaFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "GRAFANA";
    const ROUTES: &'static [Route] = &[
        // Grafana's webhook contact point HTTP client timeout; not in
        // docs/platforms/grafana.md: 10 s assumed.
        Route::new(&["POST", "PUT"], PATH).deadline_ms(10_000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[BASIC_AUTH_SETTING, BEARER_TOKENS_SETTING, HMAC_SECRET_SETTING];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        // Grafana's "Authentication Header Scheme" is free text (default Bearer).
        let credentials = CREDENTIALS.read(env)?;
        let hmac_secrets = config::secrets(env, HMAC_SECRET_SETTING);
        if credentials.is_empty() && hmac_secrets.is_empty() {
            return Err(ConfigError::new(
                &format!("{}/{HMAC_SECRET_SETTING}", CREDENTIALS.names()),
                "at least one is required (the contact point's Basic auth, Authorization header or HMAC signature)",
            ));
        }
        let header_setting = |setting: &str| -> Result<Option<HeaderName>, ConfigError> {
            match config::optional(env, setting) {
                None => Ok(None),
                Some(_) if hmac_secrets.is_empty() => {
                    Err(ConfigError::new(setting, format!("is only used with {HMAC_SECRET_SETTING}, which is not set")))
                }
                Some(name) => HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .map(Some)
                    .map_err(|_| ConfigError::new(setting, format!("{name:?} is not a valid header name"))),
            }
        };
        let hmac_signature_headers = match header_setting(HMAC_SIGNATURE_HEADER_SETTING)? {
            Some(name) => vec![name],
            None => vec![HeaderName::from_static(SIGNATURE_HEADER), HeaderName::from_static(FALLBACK_SIGNATURE_HEADER)],
        };
        Ok(GrafanaFunction {
            credentials,
            hmac_signature_headers,
            hmac_timestamp_header: header_setting(HMAC_TIMESTAMP_HEADER_SETTING)?,
            hmac_secrets,
            ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)?,
        })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, _route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let (verification, signed_timestamp) = self.authenticate(request, now.unix_timestamp())?;
        let json = request.json_body()?;
        // Grafana never retries: a request is its own event unless its
        // signature covers a timestamp, which makes a replay inside the
        // window the same bytes, and so the same id.
        let request_event_id = match signed_timestamp {
            Some(timestamp) => Envelope::body_hash_id(&[timestamp.as_bytes(), b":", request.body.as_slice()].concat()),
            None => request.request_scoped_id(),
        };
        let ack = |count: usize| Reply::ok_json(json!({ "accepted": count }));
        match self.standard_events(request, &json, &request_event_id, now, &verification) {
            Ok(Standard::Unified(split)) => {
                let count = split.len();
                Ok(Decision::enqueue_from(*split, ack(count)))
            }
            Ok(Standard::Legacy(envelope)) => Ok(Decision::enqueue(vec![*envelope], ack(1))),
            Err(why) => {
                let raw =
                    raw_notification(PROVIDER, &request_event_id, body_payload(request)?, &why, now, verification);
                Ok(Decision::enqueue(vec![raw], ack(1)))
            }
        }
    }
}

impl GrafanaFunction {
    /// The body as the standard unified or legacy payload, or why it is not.
    fn standard_events(
        &self,
        request: &IncomingRequest,
        json: &Value,
        request_event_id: &str,
        now: OffsetDateTime,
        verification: &Verification,
    ) -> Result<Standard, IngressError> {
        let object = json.as_object().ok_or_else(|| IngressError::malformed("body must be a JSON object"))?;
        if object.contains_key("alerts") {
            check_version(json, PAYLOAD_VERSION)?;
            let split = NotificationSplit::new(PROVIDER, KIND, json.clone(), now, verification)?;
            // Checked here so a bad alert makes the whole body a raw event.
            split.check_alerts()?;
            Ok(Standard::Unified(Box::new(split)))
        } else if ["state", "ruleName", "ruleId", "evalMatches"].iter().any(|key| object.contains_key(*key)) {
            let payload = body_payload(request)?;
            Ok(Standard::Legacy(Box::new(legacy_envelope(json, payload, request_event_id, now, verification.clone())?)))
        } else {
            Err(IngressError::malformed(
                "neither a unified alerting notification (alerts) nor a legacy alert (state, ruleName)",
            ))
        }
    }

    /// Every configured method whose credential the request presents must
    /// verify, and at least one must be presented. Credentials for methods
    /// that are not configured are ignored (a contact point may send more
    /// than this deployment checks).
    ///
    /// Returns the verification and, when an HMAC signature covered a
    /// timestamp, that timestamp.
    fn authenticate<'r>(
        &self,
        request: &'r IncomingRequest,
        now_unix: i64,
    ) -> Result<(Verification, Option<&'r str>), IngressError> {
        let mut passed: Vec<(&str, &NamedSecret)> = Vec::new();
        let mut signed_timestamp = None;
        if !self.hmac_secrets.is_empty()
            && let Some(signature) = self.hmac_signature_headers.iter().find_map(|name| request.header(name.as_str()))
        {
            let (secret, timestamp) = self.verify_signature(request, signature, now_unix)?;
            passed.push(("hmac-sha256", secret));
            signed_timestamp = timestamp;
        }
        if !self.credentials.is_empty() && request.header(AUTHORIZATION).is_some() {
            let auth = self.credentials.verify(request.header(AUTHORIZATION))?;
            passed.push((auth.scheme, auth.matched));
        }
        if passed.is_empty() {
            return Err(IngressError::MissingCredential(
                match (self.hmac_secrets.is_empty(), self.credentials.is_empty()) {
                    (false, true) => "X-Grafana-Alerting-Signature",
                    (true, false) => "Authorization header",
                    _ => "X-Grafana-Alerting-Signature or Authorization header",
                },
            ));
        }
        let schemes: Vec<&str> = passed.iter().map(|(scheme, _)| *scheme).collect();
        let names: Vec<&str> = passed.iter().map(|(_, secret)| secret.name.as_str()).collect();
        Ok((Verification { scheme: schemes.join("+"), matched: Some(names.join(",")) }, signed_timestamp))
    }

    fn verify_signature<'r>(
        &self,
        request: &'r IncomingRequest,
        signature: &str,
        now_unix: i64,
    ) -> Result<(&NamedSecret, Option<&'r str>), IngressError> {
        let timestamp = match &self.hmac_timestamp_header {
            Some(name) => {
                let timestamp = request
                    .header(name.as_str())
                    .filter(|t| !t.is_empty())
                    .ok_or(IngressError::MissingCredential("HMAC timestamp header"))?;
                self.ingress.timestamp_window.check(timestamp, now_unix)?;
                Some(timestamp)
            }
            None => None,
        };
        let secret = self
            .hmac_secrets
            .find(|secret| grafana_signature_matches(secret.expose(), timestamp, &request.body, signature))
            .ok_or(IngressError::BadCredential("X-Grafana-Alerting-Signature"))?;
        Ok((secret, timestamp))
    }
}

enum Standard {
    Unified(Box<NotificationSplit>),
    Legacy(Box<Envelope>),
}

/// One legacy dashboard alert. Its body has no event id and no time, and
/// the same rule may fire, resolve and fire again with identical fields:
/// identical bodies are distinct notifications, so the id is the request's
/// own (`event_id`), never the body's hash alone.
fn legacy_envelope(
    json: &Value,
    payload: Payload,
    event_id: &str,
    now: OffsetDateTime,
    verification: Verification,
) -> Result<Envelope, IngressError> {
    let state = json
        .get("state")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| IngressError::malformed("legacy alert without a state string"))?;
    let tags = match json.get("tags") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(tags)) => tags.clone(),
        Some(_) => return Err(IngressError::malformed("tags must be an object")),
    };
    if json.get("evalMatches").is_some_and(|m| !m.is_array() && !m.is_null()) {
        return Err(IngressError::malformed("evalMatches must be an array"));
    }
    let text = |key: &str| json.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let view = AlertView {
        name: text("ruleName").or_else(|| text("title")).unwrap_or_else(|| "unnamed".to_string()),
        status: legacy_status(state).to_string(),
        severity: tags.get("severity").and_then(Value::as_str).map(str::to_string),
        summary: text("message").or_else(|| text("title")),
        fingerprint: json.get("ruleId").filter(|id| id.is_number() || id.is_string()).map(|id| match id {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        }),
        generator_url: text("ruleUrl"),
        labels: tags,
        ..AlertView::default()
    };
    let mut envelope = Envelope::new(PROVIDER, event_id, LEGACY_KIND, now, verification, payload);
    envelope.tenant = json.get("orgId").filter(|id| id.is_number()).map(Value::to_string);
    envelope.alert = Some(view);
    Ok(envelope)
}

/// The body, kept as its bytes (a JSON parse of it has succeeded, so it is
/// UTF-8): the payload of a legacy alert and of a raw event.
fn body_payload(request: &IncomingRequest) -> Result<Payload, IngressError> {
    let text = std::str::from_utf8(&request.body).map_err(|_| IngressError::malformed("body is not UTF-8"))?;
    Payload::from_json(text).map_err(|e| IngressError::malformed(format!("body is not valid JSON ({e})")))
}

/// Legacy states in the alert view's terms: `alerting` → `firing`, `ok` →
/// `resolved`; the others (`no_data`, `pending`, `paused`) pass unchanged.
pub fn legacy_status(state: &str) -> &str {
    match state {
        "alerting" => "firing",
        "ok" => "resolved",
        other => other,
    }
}
