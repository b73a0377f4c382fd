//! Prometheus-style alert notifications, as Alertmanager's webhook and
//! Grafana's unified alerting send them: one notification carries a group
//! of alerts, and inlet splits it into one Envelope per alert.
//!
//! Each alert's event id is `fingerprint:status:startsAt`: the same alert
//! firing again after it resolved gets a new id (new `startsAt`), while the
//! duplicate that each member of an HA pair sends gets the same one.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use tracing::warn;

use crate::envelope::{AlertView, Envelope, Payload, Verification};
use crate::error::IngressError;
use crate::ingress::EnvelopeSource;
use crate::verify::{sha256_hex, truncate_for_log};

/// Alertmanager's and Grafana's way of writing "not ended yet".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Longest accepted id parts: real fingerprints are 16 hex digits and times
/// about 35 characters, and the whole id must stay a valid dedup-table key.
const MAX_FINGERPRINT_CHARS: usize = 128;
const MAX_STATUS_CHARS: usize = 32;
const MAX_TIME_CHARS: usize = 64;

/// The parts of a notification that every alert in it shares.
#[derive(Clone, Copy, Debug, Default)]
pub struct GroupContext<'a> {
    /// The notification's `status`, used when an alert has none.
    pub status: Option<&'a str>,
    pub group_key: Option<&'a str>,
}

impl<'a> GroupContext<'a> {
    pub fn of(notification: &'a Value) -> Self {
        GroupContext {
            status: non_empty_str(notification, "status"),
            group_key: non_empty_str(notification, "groupKey"),
        }
    }
}

/// The notification's `alerts`: the body must be an object whose `alerts`
/// is an array (possibly empty); anything else is refused with 400.
pub fn alerts_array(notification: &Value) -> Result<&Vec<Value>, IngressError> {
    let object = notification.as_object().ok_or_else(|| IngressError::malformed("body must be a JSON object"))?;
    match object.get("alerts") {
        Some(Value::Array(alerts)) => Ok(alerts),
        Some(_) => Err(IngressError::malformed("alerts must be an array")),
        None => Err(IngressError::malformed("missing alerts array")),
    }
}

/// Checks the payload `version` loosely: absent or any string is accepted
/// (a different one is logged, since the fields may have moved), anything
/// else is refused.
pub fn check_version(notification: &Value, expected: &str) -> Result<(), IngressError> {
    match notification.get("version") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(version)) => {
            if version != expected {
                warn!(version = %truncate_for_log(version), expected, "unexpected payload version; parsing anyway");
            }
            Ok(())
        }
        Some(_) => Err(IngressError::malformed("version must be a string")),
    }
}

/// The dedup part of an alert's id: `fingerprint:status:startsAt`.
pub fn alert_dedup_key(fingerprint: &str, status: &str, starts_at: &str) -> String {
    format!("{fingerprint}:{status}:{starts_at}")
}

/// A fingerprint for an alert that carries none: the first 16 hex digits of
/// SHA-256 over its labels as canonical JSON (keys sorted), so the same
/// label set always yields the same value.
pub fn labels_fingerprint(labels: &Map<String, Value>) -> String {
    let canonical = Value::Object(labels.clone()).to_string();
    sha256_hex(canonical.as_bytes())[..16].to_string()
}

/// The normalized view of alert number `index` of a notification.
///
/// `name` is `labels.alertname`; `summary` is `annotations.summary`, else
/// `annotations.description`; `ends_at` is omitted while the alert has not
/// ended (Alertmanager's zero time). Refuses with 400 an alert that is not an
/// object, has non-object labels or annotations, has no status (its own or
/// the notification's) or `startsAt`, or has neither fingerprint nor labels.
pub fn alert_view_from_prometheus_style(
    alert: &Value,
    index: usize,
    group: &GroupContext<'_>,
) -> Result<AlertView, IngressError> {
    let field = |name: &str| format!("alerts[{index}].{name}");
    let alert =
        alert.as_object().ok_or_else(|| IngressError::malformed(format!("alerts[{index}] must be an object")))?;
    let labels =
        object_field(alert, "labels").map_err(|()| IngressError::malformed(field("labels must be an object")))?;
    let annotations = object_field(alert, "annotations")
        .map_err(|()| IngressError::malformed(field("annotations must be an object")))?;
    let status = alert
        .get("status")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or(group.status)
        .ok_or_else(|| IngressError::malformed(format!("missing {}", field("status"))))?;
    let starts_at = alert
        .get("startsAt")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| IngressError::malformed(format!("missing {}", field("startsAt"))))?;
    let fingerprint = match alert.get("fingerprint").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(fingerprint) => fingerprint.to_string(),
        None if !labels.is_empty() => labels_fingerprint(&labels),
        None => return Err(IngressError::malformed(format!("alerts[{index}] has neither fingerprint nor labels"))),
    };
    // The id joins fingerprint, status and startsAt with ':'; only the last
    // part may hold one (times do), so no two alerts can spell the same id.
    check_id_part(&field("fingerprint"), &fingerprint, MAX_FINGERPRINT_CHARS)?;
    check_no_separator(&field("fingerprint"), &fingerprint)?;
    check_id_part(&field("status"), status, MAX_STATUS_CHARS)?;
    check_no_separator(&field("status"), status)?;
    check_id_part(&field("startsAt"), starts_at, MAX_TIME_CHARS)?;

    let label = |name: &str| labels.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let annotation = |name: &str| annotations.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    Ok(AlertView {
        name: label("alertname").unwrap_or_else(|| "unnamed".to_string()),
        status: status.to_string(),
        severity: label("severity"),
        summary: annotation("summary").or_else(|| annotation("description")).map(str::to_string),
        fingerprint: Some(fingerprint),
        starts_at: Some(starts_at.to_string()),
        ends_at: alert
            .get("endsAt")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && *s != ZERO_TIME)
            .map(str::to_string),
        generator_url: alert.get("generatorURL").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string),
        group_key: group.group_key.map(str::to_string),
        labels,
        annotations,
    })
}

/// A verified notification, split into one Envelope per alert on demand
/// (see [`EnvelopeSource`]): all or nothing, since the flow builds every
/// Envelope before it sends any, so one bad alert refuses the whole request
/// with 400 and a retry cannot enqueue half of it twice.
///
/// Each Envelope's id is `<provider>:<fingerprint>:<status>:<startsAt>`, its
/// tenant the notification's `receiver`, and its payload the notification
/// with `alerts` cut down to that one alert (the group fields stay; the other
/// alerts would multiply the queue's bytes by the group's size).
pub struct NotificationSplit {
    provider: String,
    kind: String,
    alerts: Vec<Value>,
    shared_fields: Map<String, Value>,
    group_status: Option<String>,
    group_key: Option<String>,
    tenant: Option<String>,
    received_at: OffsetDateTime,
    verification: Verification,
}

impl NotificationSplit {
    /// Takes the notification apart; refuses one without an `alerts` array.
    pub fn new(
        provider: &str,
        kind: &str,
        notification: Value,
        received_at: OffsetDateTime,
        verification: &Verification,
    ) -> Result<Self, IngressError> {
        alerts_array(&notification)?;
        let Value::Object(mut shared_fields) = notification else {
            return Err(IngressError::malformed("body must be a JSON object"));
        };
        let alerts = match shared_fields.remove("alerts") {
            Some(Value::Array(alerts)) => alerts,
            _ => return Err(IngressError::malformed("missing alerts array")),
        };
        let text =
            |key: &str| shared_fields.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        Ok(NotificationSplit {
            provider: provider.to_string(),
            kind: kind.to_string(),
            group_status: text("status"),
            group_key: text("groupKey"),
            tenant: text("receiver"),
            alerts,
            shared_fields,
            received_at,
            verification: verification.clone(),
        })
    }

    /// Checks every alert as [`EnvelopeSource::envelope`] would, without
    /// building the Envelopes.
    pub fn check_alerts(&self) -> Result<(), IngressError> {
        let group = GroupContext { status: self.group_status.as_deref(), group_key: self.group_key.as_deref() };
        for (index, alert) in self.alerts.iter().enumerate() {
            alert_view_from_prometheus_style(alert, index, &group)?;
        }
        Ok(())
    }

    /// Builds every Envelope now (for tests and tools; the ingress flow
    /// builds them one batch at a time).
    pub fn collect(&self) -> Result<Vec<Envelope>, IngressError> {
        (0..self.len()).map(|index| self.envelope(index).map(std::borrow::Cow::into_owned)).collect()
    }
}

impl EnvelopeSource for NotificationSplit {
    fn len(&self) -> usize {
        self.alerts.len()
    }

    fn envelope(&self, index: usize) -> Result<std::borrow::Cow<'_, Envelope>, IngressError> {
        let alert = self.alerts.get(index).ok_or_else(|| IngressError::malformed("no such alert"))?;
        let group = GroupContext { status: self.group_status.as_deref(), group_key: self.group_key.as_deref() };
        let view = alert_view_from_prometheus_style(alert, index, &group)?;
        let key = alert_dedup_key(
            view.fingerprint.as_deref().unwrap_or_default(),
            &view.status,
            view.starts_at.as_deref().unwrap_or_default(),
        );
        let mut payload = self.shared_fields.clone();
        payload.insert("alerts".to_string(), Value::Array(vec![alert.clone()]));
        let mut envelope = Envelope::new(
            &self.provider,
            &key,
            &self.kind,
            self.received_at,
            self.verification.clone(),
            Value::Object(payload),
        );
        envelope.tenant = self.tenant.clone();
        envelope.alert = Some(view);
        Ok(std::borrow::Cow::Owned(envelope))
    }
}

/// Splits a verified notification into one Envelope per alert, all at once.
pub fn split_notification(
    provider: &str,
    kind: &str,
    notification: &Value,
    received_at: OffsetDateTime,
    verification: &Verification,
) -> Result<Vec<Envelope>, IngressError> {
    NotificationSplit::new(provider, kind, notification.clone(), received_at, verification)?.collect()
}

/// The Envelope `kind` of an authenticated notification that is valid JSON
/// but not the sender's standard schema (a custom payload template, or a
/// standard one that fails to parse).
pub const RAW_KIND: &str = "raw";

/// Alert senders with custom payload templates send any JSON they were
/// told to, and never retry a 4xx: refusing it would lose the alert
/// silently. So an authenticated body that is not the standard schema is
/// kept whole as one `raw` event, with `id_part` as its event id, and the
/// reason it did not parse is logged.
pub fn raw_notification(
    provider: &str,
    id_part: &str,
    payload: impl Into<Payload>,
    why: &IngressError,
    received_at: OffsetDateTime,
    verification: Verification,
) -> Envelope {
    warn!(provider, reason = %why, "not the standard notification schema; kept as a raw event");
    Envelope::new(provider, id_part, RAW_KIND, received_at, verification, payload)
}

fn non_empty_str<'a>(json: &'a Value, key: &str) -> Option<&'a str> {
    json.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// An optional object field: absent or null is empty, anything but an object is an error.
fn object_field(object: &Map<String, Value>, key: &str) -> Result<Map<String, Value>, ()> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(()),
    }
}

/// Id parts come from the request: they must be short, visible text.
fn check_no_separator(field: &str, value: &str) -> Result<(), IngressError> {
    if value.contains(':') {
        return Err(IngressError::malformed(format!("{field} contains ':'")));
    }
    Ok(())
}

fn check_id_part(field: &str, value: &str, max_chars: usize) -> Result<(), IngressError> {
    if value.chars().count() > max_chars {
        return Err(IngressError::malformed(format!("{field} is longer than {max_chars} characters")));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(IngressError::malformed(format!("{field} contains spaces or control characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn verification() -> Verification {
        Verification { scheme: "basic-auth".into(), matched: Some("X#1".into()) }
    }

    fn notification() -> Value {
        json!({
            "version": "4",
            "groupKey": "{}:{alertname=\"DiskFull\"}",
            "status": "firing",
            "receiver": "team-ops",
            "commonLabels": {"alertname": "DiskFull"},
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "a"},
                    "annotations": {"summary": "disk a full", "description": "long text"},
                    "startsAt": "2023-11-14T22:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus/graph",
                    "fingerprint": "aaaa000000000001"
                },
                {
                    "status": "resolved",
                    "labels": {"alertname": "DiskFull", "instance": "b"},
                    "annotations": {"description": "disk b was full"},
                    "startsAt": "2023-11-14T21:00:00Z",
                    "endsAt": "2023-11-14T22:10:00Z",
                    "fingerprint": "bbbb000000000002"
                }
            ]
        })
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    #[test]
    fn each_alert_becomes_one_envelope_with_its_view() {
        let envelopes = split_notification("am", "alert", &notification(), now(), &verification()).unwrap();
        let ids: Vec<_> = envelopes.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            ["am:aaaa000000000001:firing:2023-11-14T22:00:00Z", "am:bbbb000000000002:resolved:2023-11-14T21:00:00Z"]
        );
        let first = envelopes[0].alert.as_ref().unwrap();
        assert_eq!(first.name, "DiskFull");
        assert_eq!(first.severity.as_deref(), Some("critical"));
        assert_eq!(first.summary.as_deref(), Some("disk a full"));
        assert_eq!(first.ends_at, None, "zero time means not ended");
        assert_eq!(first.generator_url.as_deref(), Some("http://prometheus/graph"));
        assert_eq!(first.group_key.as_deref(), Some("{}:{alertname=\"DiskFull\"}"));
        assert_eq!(first.labels["instance"], "a");
        let second = envelopes[1].alert.as_ref().unwrap();
        assert_eq!(second.status, "resolved");
        assert_eq!(second.severity, None);
        assert_eq!(second.summary.as_deref(), Some("disk b was full"), "description when no summary");
        assert_eq!(second.ends_at.as_deref(), Some("2023-11-14T22:10:00Z"));
        assert_eq!(envelopes[1].tenant.as_deref(), Some("team-ops"));
        assert_eq!(envelopes[1].verification, verification());
    }

    #[test]
    fn each_payload_keeps_the_group_fields_and_only_its_own_alert() {
        let envelopes = split_notification("am", "alert", &notification(), now(), &verification()).unwrap();
        for (envelope, original) in envelopes.iter().zip(notification()["alerts"].as_array().unwrap()) {
            let payload = envelope.payload.to_value().unwrap();
            assert_eq!(payload["alerts"], json!([original]));
            assert_eq!(payload["receiver"], "team-ops");
            assert_eq!(payload["groupKey"], notification()["groupKey"]);
        }
    }

    #[test]
    fn alert_without_status_takes_the_notifications() {
        let mut body = notification();
        body["alerts"][0].as_object_mut().unwrap().remove("status");
        let envelopes = split_notification("am", "alert", &body, now(), &verification()).unwrap();
        assert_eq!(envelopes[0].alert.as_ref().unwrap().status, "firing");
        body.as_object_mut().unwrap().remove("status");
        let error = split_notification("am", "alert", &body, now(), &verification()).unwrap_err();
        assert_eq!(error, IngressError::malformed("missing alerts[0].status"));
    }

    #[test]
    fn missing_fingerprint_is_derived_from_labels_in_any_key_order() {
        let a = json!({"status": "firing", "startsAt": "t", "labels": {"b": "2", "a": "1"}});
        let b: Value =
            serde_json::from_str(r#"{"status":"firing","startsAt":"t","labels":{"a":"1","b":"2"}}"#).unwrap();
        let group = GroupContext::default();
        let fa = alert_view_from_prometheus_style(&a, 0, &group).unwrap().fingerprint.unwrap();
        let fb = alert_view_from_prometheus_style(&b, 0, &group).unwrap().fingerprint.unwrap();
        assert_eq!(fa, fb);
        assert_eq!(fa.len(), 16);
        let no_identity = json!({"status": "firing", "startsAt": "t"});
        assert!(
            alert_view_from_prometheus_style(&no_identity, 3, &group).unwrap_err().to_string().contains("alerts[3]")
        );
    }

    #[test]
    fn malformed_alerts_are_refused_as_a_whole() {
        let cases: [(Value, &str); 7] = [
            (json!([]), "JSON object"),
            (json!({"alerts": {}}), "alerts must be an array"),
            (json!({"status": "firing"}), "missing alerts array"),
            (json!({"alerts": [1]}), "alerts[0] must be an object"),
            (json!({"alerts": [{"status": "firing", "startsAt": "t", "labels": []}]}), "labels must be an object"),
            (json!({"alerts": [{"status": "firing", "fingerprint": "f"}]}), "missing alerts[0].startsAt"),
            (json!({"alerts": [{"status": "firing", "startsAt": "t", "fingerprint": "a b"}]}), "spaces"),
        ];
        for (body, reason) in cases {
            let error = split_notification("am", "alert", &body, now(), &verification()).unwrap_err();
            assert_eq!(error.status(), 400);
            assert!(error.to_string().contains(reason), "{error} should say {reason}");
        }
        let long = json!({"alerts": [{"status": "firing", "startsAt": "t", "fingerprint": "f".repeat(129)}]});
        assert!(split_notification("am", "alert", &long, now(), &verification()).is_err());
    }

    #[test]
    fn split_builds_each_envelope_on_demand_and_the_same_as_all_at_once() {
        let split = NotificationSplit::new("am", "alert", notification(), now(), &verification()).unwrap();
        assert_eq!(split.len(), 2);
        let one_by_one: Vec<Envelope> = (0..2).map(|i| split.envelope(i).unwrap().into_owned()).collect();
        assert_eq!(one_by_one, split_notification("am", "alert", &notification(), now(), &verification()).unwrap());
        assert!(split.envelope(2).is_err());
    }

    #[test]
    fn id_parts_cannot_be_spelled_two_ways() {
        // "a:b" + "c" and "a" + "b:c" would both be "a:b:c:<startsAt>".
        let group = GroupContext::default();
        let colon_fingerprint = json!({"status": "c", "startsAt": "t", "fingerprint": "a:b"});
        let colon_status = json!({"status": "b:c", "startsAt": "t", "fingerprint": "a"});
        assert!(alert_view_from_prometheus_style(&colon_fingerprint, 0, &group).is_err());
        assert!(alert_view_from_prometheus_style(&colon_status, 0, &group).is_err());
        let time_with_colons = json!({"status": "firing", "startsAt": "2023-11-14T22:00:00Z", "fingerprint": "a"});
        assert!(alert_view_from_prometheus_style(&time_with_colons, 0, &group).is_ok());
    }

    #[test]
    fn empty_alerts_array_is_no_events() {
        let envelopes = split_notification("am", "alert", &json!({"alerts": []}), now(), &verification()).unwrap();
        assert!(envelopes.is_empty());
    }

    #[test]
    fn version_is_checked_loosely() {
        assert!(check_version(&json!({}), "4").is_ok());
        assert!(check_version(&json!({"version": "4"}), "4").is_ok());
        assert!(check_version(&json!({"version": "5"}), "4").is_ok());
        assert!(check_version(&json!({"version": 4}), "4").is_err());
    }
}
