//! Prometheus Alertmanager: `POST /alerts/alertmanager`.
//!
//! Receives the `webhook_configs` notification (payload version 4), checks
//! the `Authorization` header that `http_config.basic_auth` or
//! `http_config.authorization` adds, and enqueues one Envelope per alert.
//! Protocol facts: docs/platforms/alertmanager.md.
//!
//! Alertmanager retries 5xx and connection errors and gives up on 4xx, so
//! only a queue outage answers 5xx (503); every mistake in the request is 4xx.

use inlet_shared::alerts::{NotificationSplit, check_version, raw_notification};
use inlet_shared::ingress::EnvelopeSource;
use inlet_shared::prelude::*;
use inlet_shared::verify::http_auth::{AUTHORIZATION, HttpCredentials};

pub const PROVIDER: &str = "alertmanager";
pub const PATH: &str = "/alerts/alertmanager";
/// The Envelope `kind` of every alert.
pub const KIND: &str = "alert";
/// The webhook payload version this parser was written for.
pub const PAYLOAD_VERSION: &str = "4";

inlet_shared::http_credential_settings!("ALERTMANAGER");

/// Settings, read once at start-up.
pub struct AlertmanagerFunction {
    pub credentials: HttpCredentials,
    pub ingress: IngressSettings,
}

impl Provider for AlertmanagerFunction {
    const NAME: &'static str = PROVIDER;
    const SETTINGS_PREFIX: &'static str = "ALERTMANAGER";
    const ROUTES: &'static [Route] = &[
        // Alertmanager's webhook client timeout (http_config); not in
        // docs/platforms/alertmanager.md: 10 s assumed, the order of its notification timeouts.
        Route::post(PATH).deadline_ms(10_000),
    ];
    const SECRET_SETTINGS: &'static [&'static str] = &[BASIC_AUTH_SETTING, BEARER_TOKENS_SETTING];

    const PLATFORM: &'static str = include_str!("../platform.toml");

    fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        // `authorization.type` defaults to Bearer but may be any scheme.
        let credentials = CREDENTIALS.read(env)?;
        if credentials.is_empty() {
            // Alertmanager has no signature: without credentials anyone could post alerts.
            return Err(ConfigError::new(
                &CREDENTIALS.names(),
                "at least one is required (http_config.basic_auth or http_config.authorization)",
            ));
        }
        Ok(AlertmanagerFunction { credentials, ingress: IngressSettings::from_env(env, Self::SETTINGS_PREFIX)? })
    }

    fn ingress(&self) -> &IngressSettings {
        &self.ingress
    }

    fn decide(&self, _route: &RouteMatch, request: &IncomingRequest, now: OffsetDateTime) -> Decided {
        let auth = self.credentials.verify(request.header(AUTHORIZATION))?;
        let verification = Verification { scheme: auth.scheme.to_string(), matched: Some(auth.matched.name.clone()) };
        // The split builds one payload per alert from the notification's
        // tree; a body kept whole is kept as its bytes.
        let notification = request.json_body()?;
        match standard_split(&notification, now, &verification) {
            Ok(split) => {
                let ack = Reply::ok_json(json!({ "accepted": split.len() }));
                Ok(Decision::enqueue_from(split, ack))
            }
            // A custom payload template (or a standard body that does not
            // parse): Alertmanager never retries a 4xx, so keep it whole.
            // It has no id and Alertmanager sends no request id of its own.
            Err(why) => {
                let id = request.request_scoped_id();
                let raw = raw_notification(PROVIDER, &id, body_payload(request)?, &why, now, verification);
                Ok(Decision::enqueue(vec![raw], Reply::ok_json(json!({ "accepted": 1 }))))
            }
        }
    }
}

/// The body, kept as its bytes (a JSON parse of it has succeeded, so it is
/// UTF-8).
fn body_payload(request: &IncomingRequest) -> Result<inlet_shared::envelope::Payload, IngressError> {
    let text = std::str::from_utf8(&request.body).map_err(|_| IngressError::malformed("body is not UTF-8"))?;
    inlet_shared::envelope::Payload::from_json(text)
        .map_err(|e| IngressError::malformed(format!("body is not valid JSON ({e})")))
}

/// The notification as payload version 4, every alert checked.
fn standard_split(
    notification: &Value,
    now: OffsetDateTime,
    verification: &Verification,
) -> Result<NotificationSplit, IngressError> {
    check_version(notification, PAYLOAD_VERSION)?;
    let split = NotificationSplit::new(PROVIDER, KIND, notification.clone(), now, verification)?;
    split.check_alerts()?;
    Ok(split)
}

pub mod samples;
