//! Authenticated custom-alert sample requests for the CLI's `send`,
//! `events/` and tests.

use inlet_shared::config;
use inlet_shared::prelude::*;
use inlet_shared::verify::http_auth::AUTHORIZATION;

use crate::{API_KEYS_SETTING, AlertApiFunction, BOT_IDS_SETTING, IDEMPOTENCY_KEY_HEADER, PATH};

impl Samples for AlertApiFunction {
    const SAMPLE_NAMES: &'static [&'static str] = &["alert-api", "alert-api-no-key"];

    /// Builds the named sample, sent by the first `ALERT_BOT_IDS` entry with
    /// the first `ALERT_API_KEYS` entry. `unique` goes into the
    /// Idempotency-Key (and the body, for the sample without one), so the
    /// same value is the same event; `timestamp` is unused, as nothing is
    /// signed.
    fn sample(name: &str, env: &dyn EnvSource, _timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let api_key = config::secrets(env, API_KEYS_SETTING).iter().next().map(|s| s.value.expose().to_string())?;
        let sender = env
            .get(BOT_IDS_SETTING)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .find(|id| !id.is_empty())?
            .to_string();
        let sample = match name {
            "alert-api" => SampleRequest::post_json(
                name,
                "custom alert with an Idempotency-Key",
                PATH,
                body(&sender, &format!("Nightly backup failed on db-1 ({unique})")).to_string(),
            )
            .with_header(IDEMPOTENCY_KEY_HEADER, format!("sample-{unique}")),
            "alert-api-no-key" => SampleRequest::post_json(
                name,
                "custom alert without an Idempotency-Key (each request is a new alert)",
                PATH,
                body(&sender, &format!("Certificate for example.com expires in 7 days ({unique})")).to_string(),
            ),
            _ => return None,
        };
        Some(sample.with_header(AUTHORIZATION, format!("Bearer {api_key}")))
    }
}

/// A custom alert from `sender`.
pub fn body(sender: &str, message: &str) -> Value {
    json!({
        "message": message,
        "sender_id": sender,
        "chat_id": "ops-alerts",
        "timestamp": 1_700_000_000,
        "metadata": {"alertname": "BackupFailed", "severity": "critical", "labels": {"host": "db-1"}}
    })
}
