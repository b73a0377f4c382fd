//! Authenticated Grafana sample requests for the CLI's `send`, `events/`
//! and tests.

use crate::crypto::{SIGNATURE_HEADER, grafana_signature};
use inlet_shared::config;
use inlet_shared::prelude::*;
use inlet_shared::verify::http_auth::{self, AUTHORIZATION};
use inlet_shared::verify::sha256_hex;

use crate::{
    BASIC_AUTH_SETTING, BEARER_TOKENS_SETTING, GrafanaFunction, HMAC_SECRET_SETTING, HMAC_SIGNATURE_HEADER_SETTING,
    HMAC_TIMESTAMP_HEADER_SETTING, PATH,
};

/// When the sample alerts started: fixed, so that the same `unique` always
/// gives the same ids whatever the sending time.
pub const STARTS_AT: &str = "2023-11-14T22:03:20Z";

impl Samples for GrafanaFunction {
    const SAMPLE_NAMES: &'static [&'static str] = &["grafana-unified", "grafana-unified-token", "grafana-legacy"];

    /// Builds the named sample. `unique` makes the alerts' fingerprints (and
    /// the legacy body); `timestamp` goes into the HMAC timestamp header when
    /// one is configured.
    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let first = |setting| config::secrets(env, setting).iter().next().map(|s| s.value.expose().to_string());
        let sample = match name {
            "grafana-unified" => {
                let secret = first(HMAC_SECRET_SETTING)?;
                let body = unified(unique).to_string();
                let signature_header = config::optional(env, HMAC_SIGNATURE_HEADER_SETTING)
                    .unwrap_or_else(|| SIGNATURE_HEADER.to_string());
                let sample = SampleRequest::post_json(
                    name,
                    "unified alerting notification (one firing, one resolved alert), HMAC-signed",
                    PATH,
                    body.clone(),
                );
                match config::optional(env, HMAC_TIMESTAMP_HEADER_SETTING) {
                    Some(timestamp_header) => {
                        let ts = timestamp.to_string();
                        let signature = grafana_signature(&secret, Some(&ts), body.as_bytes());
                        sample.with_header(&timestamp_header, ts).with_header(&signature_header, signature)
                    }
                    None => sample.with_header(&signature_header, grafana_signature(&secret, None, body.as_bytes())),
                }
            }
            "grafana-unified-token" => SampleRequest::post_json(
                name,
                "unified alerting notification, Authorization header (Bearer)",
                PATH,
                unified(unique).to_string(),
            )
            .with_header(AUTHORIZATION, format!("Bearer {}", first(BEARER_TOKENS_SETTING)?)),
            "grafana-legacy" => SampleRequest::post_json(
                name,
                "legacy (Grafana ≤ 8) dashboard alert, HTTP Basic auth",
                PATH,
                legacy(unique).to_string(),
            )
            .with_header(AUTHORIZATION, http_auth::basic_header(&first(BASIC_AUTH_SETTING)?)),
            _ => return None,
        };
        Some(sample.with_header("user-agent", "Grafana"))
    }
}

/// The fingerprint of sample alert `instance` under `unique`.
pub fn fingerprint(unique: &str, instance: &str) -> String {
    sha256_hex(format!("grafana:{unique}:{instance}").as_bytes())[..16].to_string()
}

/// A unified alerting notification as Grafana's webhook contact point sends it.
pub fn unified(unique: &str) -> Value {
    let alert = |instance: &str, status: &str, ends_at: &str, value: f64| {
        json!({
            "status": status,
            "labels": {"alertname": "HighLatency", "grafana_folder": "Platform", "instance": instance, "severity": "warning"},
            "annotations": {"summary": format!("p99 latency above 500 ms on {instance}")},
            "startsAt": STARTS_AT,
            "endsAt": ends_at,
            "generatorURL": "http://grafana.example:3000/alerting/grafana/latency/view?orgId=1",
            "fingerprint": fingerprint(unique, instance),
            "silenceURL": "http://grafana.example:3000/alerting/silence/new?orgId=1",
            "dashboardURL": "http://grafana.example:3000/d/latency?orgId=1",
            "panelURL": "http://grafana.example:3000/d/latency?orgId=1&viewPanel=2",
            "values": {"B": value},
            "valueString": format!("[ var='B' labels={{instance={instance}}} value={value} ]")
        })
    };
    json!({
        "receiver": "inlet",
        "status": "firing",
        "orgId": 1,
        "alerts": [
            alert("api-1", "firing", "0001-01-01T00:00:00Z", 0.73),
            alert("api-2", "resolved", "2023-11-14T22:10:00Z", 0.21)
        ],
        "groupLabels": {"alertname": "HighLatency", "grafana_folder": "Platform"},
        "commonLabels": {"alertname": "HighLatency", "grafana_folder": "Platform", "severity": "warning"},
        "commonAnnotations": {},
        "externalURL": "http://grafana.example:3000/",
        "version": "1",
        "groupKey": "{}/{}:{alertname=\"HighLatency\", grafana_folder=\"Platform\"}",
        "truncatedAlerts": 0,
        "title": "[FIRING:1, RESOLVED:1] HighLatency Platform",
        "state": "alerting",
        "message": "**Firing**\n\nValue: B=0.73\nLabels:\n - alertname = HighLatency\n"
    })
}

/// A legacy dashboard alert, as Grafana ≤ 8 sends it.
pub fn legacy(unique: &str) -> Value {
    json!({
        "dashboardId": 1,
        "evalMatches": [{"value": 100, "metric": "High value", "tags": null}],
        "message": format!("Error rate above threshold ({unique})"),
        "orgId": 1,
        "panelId": 2,
        "ruleId": 7,
        "ruleName": "Error rate",
        "ruleUrl": "http://grafana.example:3000/d/errors?tab=alert&viewPanel=2&orgId=1",
        "state": "alerting",
        "tags": {"severity": "critical", "team": "payments"},
        "title": "[Alerting] Error rate"
    })
}
