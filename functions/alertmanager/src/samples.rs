//! Authenticated Alertmanager sample requests for the CLI's `send`,
//! `events/` and tests.

use inlet_shared::config;
use inlet_shared::prelude::*;
use inlet_shared::verify::http_auth::{self, AUTHORIZATION};
use inlet_shared::verify::sha256_hex;

use crate::{AlertmanagerFunction, BASIC_AUTH_SETTING, BEARER_TOKENS_SETTING, PATH};

/// When the sample alerts started: fixed, so that the same `unique` always
/// gives the same ids whatever the sending time.
pub const STARTS_AT: &str = "2023-11-14T22:03:20.123456789Z";

impl Samples for AlertmanagerFunction {
    const SAMPLE_NAMES: &'static [&'static str] = &["alertmanager-firing", "alertmanager-resolved"];

    /// Builds the named sample. `unique` makes the alerts' fingerprints (pass
    /// the same value to send the same alerts again); `timestamp` is unused,
    /// as Alertmanager signs nothing.
    fn sample(name: &str, env: &dyn EnvSource, _timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let first = |setting| config::secrets(env, setting).iter().next().map(|s| s.value.expose().to_string());
        let sample = match name {
            "alertmanager-firing" => SampleRequest::post_json(
                name,
                "two firing alerts in one notification, HTTP Basic auth",
                PATH,
                notification(unique, "firing", &[("disk-a", "critical"), ("disk-b", "warning")]).to_string(),
            )
            .with_header(AUTHORIZATION, http_auth::basic_header(&first(BASIC_AUTH_SETTING)?)),
            "alertmanager-resolved" => SampleRequest::post_json(
                name,
                "the first alert of alertmanager-firing resolved, Bearer token",
                PATH,
                notification(unique, "resolved", &[("disk-a", "critical")]).to_string(),
            )
            .with_header(AUTHORIZATION, format!("Bearer {}", first(BEARER_TOKENS_SETTING)?)),
            _ => return None,
        };
        Some(sample.with_header("user-agent", "Alertmanager/0.28.1"))
    }
}

/// The fingerprint of sample alert `instance` under `unique`.
pub fn fingerprint(unique: &str, instance: &str) -> String {
    sha256_hex(format!("{unique}:{instance}").as_bytes())[..16].to_string()
}

/// A version-4 webhook notification of `alerts` (instance, severity), all
/// with `status`, as Alertmanager sends it.
pub fn notification(unique: &str, status: &str, alerts: &[(&str, &str)]) -> Value {
    let ends_at = if status == "resolved" { "2023-11-14T22:13:00.5Z" } else { "0001-01-01T00:00:00Z" };
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|(instance, severity)| {
            json!({
                "status": status,
                "labels": {"alertname": "DiskFull", "instance": instance, "job": "node", "severity": severity},
                "annotations": {
                    "summary": format!("Disk almost full on {instance}"),
                    "description": format!("{instance}: less than 5% of / is free")
                },
                "startsAt": STARTS_AT,
                "endsAt": ends_at,
                "generatorURL": "http://prometheus.example:9090/graph?g0.expr=disk_free_ratio+%3C+0.05",
                "fingerprint": fingerprint(unique, instance)
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": "{}/{severity=~\"warning|critical\"}:{alertname=\"DiskFull\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "inlet",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "job": "node"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts
    })
}
