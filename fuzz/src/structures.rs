//! Targets for what every accepted request passes through: the processor's
//! Envelope decoder and the splitter that turns one alert notification
//! into one Envelope per alert.

use std::collections::HashMap;

use inlet_shared::alerts::{NotificationSplit, raw_notification, split_notification};
use inlet_shared::envelope::{Envelope, Verification, is_refused_by_sqs};
use inlet_shared::ingress::EnvelopeSource;
use inlet_shared::queue::{DEFAULT_MAX_MESSAGE_BYTES, PrepareError, QueueMessage};
use serde_json::Value;

use crate::now;
use crate::promises::{DYNAMODB_MAX_KEY_BYTES, round_trips};

/// Any text the queue could deliver: when the processor's decoder accepts
/// it, the Envelope round-trips, and the queue encoding of it decodes to
/// the same Envelope, fits the limit and holds nothing SQS refuses.
pub fn envelope_decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(envelope) = Envelope::decode(text) else { return };
    if let Err(broken) = round_trips(&envelope) {
        panic!("envelope_decode: PROMISE BROKEN: {broken}\ninput: {text}");
    }
    match QueueMessage::prepare(&envelope, DEFAULT_MAX_MESSAGE_BYTES) {
        Ok(message) => {
            let back = Envelope::decode(&message.body).ok();
            assert!(
                back.as_ref() == Some(&envelope),
                "the queue message decodes to another Envelope: {}",
                message.body
            );
            assert!(!message.body.contains(is_refused_by_sqs), "the queue message holds a character SQS refuses");
            assert!(message.size() <= DEFAULT_MAX_MESSAGE_BYTES, "prepared message is over the limit");
        }
        Err(PrepareError::TooLarge { .. }) => {}
        Err(PrepareError::NotDecodable(reason)) => {
            panic!("an Envelope the decoder accepted is refused as not decodable: {reason}\ninput: {text}")
        }
    }
    let _ = envelope.payload_hash();
}

/// Any JSON as an Alertmanager notification: the split is all or nothing,
/// one Envelope per alert carrying exactly that alert, every Envelope is
/// processable (or refused before acknowledgement), the same notification
/// always gives the same ids, and two alerts with different
/// (fingerprint, status, startsAt) never share an id.
pub fn alert_split(data: &[u8]) {
    let Ok(notification) = serde_json::from_slice::<Value>(data) else { return };
    let verification = Verification { scheme: "fuzz".into(), matched: None };
    let split = match NotificationSplit::new("alertmanager", "alert", notification.clone(), now(), &verification) {
        Ok(split) => split,
        Err(error) => {
            assert_eq!(error.status().as_u16(), 400, "a notification without alerts must be a 400: {error}");
            let raw = raw_notification("alertmanager", "request:fuzz", notification, &error, now(), verification);
            check_envelope(&raw, data);
            return;
        }
    };
    let alerts = notification.get("alerts").and_then(Value::as_array).cloned().unwrap_or_default();
    let (checked, collected) = (split.check_alerts(), split.collect());
    assert_eq!(checked.is_ok(), collected.is_ok(), "check_alerts and building disagree: {checked:?}");
    let Ok(envelopes) = collected else {
        let error = checked.err().map(|e| e.status().as_u16());
        assert_eq!(error, Some(400), "a bad alert must refuse the notification with 400");
        return;
    };
    assert_eq!(envelopes.len(), alerts.len(), "one Envelope per alert");
    assert_eq!(split.len(), alerts.len());
    let again = split_notification("alertmanager", "alert", &notification, now(), &verification);
    assert!(again.as_ref().is_ok_and(|again| *again == envelopes), "the same notification split differently");

    let mut keys: HashMap<&str, (&str, &str, &str)> = HashMap::new();
    for (index, envelope) in envelopes.iter().enumerate() {
        check_envelope(envelope, data);
        let payload = envelope.payload.to_value().expect("a payload reads back as JSON");
        let carried = payload.get("alerts").and_then(Value::as_array);
        assert!(carried.is_some_and(|a| a.len() == 1 && a[0] == alerts[index]), "Envelope {index} lost its alert");
        let view = envelope.alert.as_ref().expect("every alert Envelope has an alert view");
        let key = (
            view.fingerprint.as_deref().unwrap_or_default(),
            view.status.as_str(),
            view.starts_at.as_deref().unwrap_or_default(),
        );
        // Alertmanager's statuses are these two and its fingerprints hex;
        // for such alerts the id must tell every distinct alert apart.
        let real = matches!(key.1, "firing" | "resolved") && !key.0.contains(':');
        if let Some(previous) = keys.insert(envelope.id.as_str(), key)
            && real
            && previous != key
        {
            panic!("alert_split: two different alerts {previous:?} and {key:?} share the id {}", envelope.id);
        }
    }
}

/// An Envelope the ingress flow would queue: a valid dedup key, and either
/// refused as not decodable by the processor (which the flow answers 400)
/// or round-tripping exactly.
fn check_envelope(envelope: &Envelope, input: &[u8]) {
    assert!(
        !envelope.id.is_empty() && envelope.id.len() <= DYNAMODB_MAX_KEY_BYTES,
        "id of {} bytes is not a valid dedup key",
        envelope.id.len()
    );
    if let Err(PrepareError::NotDecodable(_)) = QueueMessage::prepare(envelope, DEFAULT_MAX_MESSAGE_BYTES) {
        return;
    }
    if let Err(broken) = round_trips(envelope) {
        panic!("alert_split: PROMISE BROKEN: {broken}\ninput: {}", String::from_utf8_lossy(input));
    }
}

/// Any text as `INLET_DESTINATIONS`, and any JSON as a `match` and as an
/// event: parsing refuses with an error or accepts, never panics; an
/// accepted document's names are unique and its patterns match without
/// panicking; a pattern's answer is the same twice (matching keeps no
/// state); and a pattern that matches everything listed under `$or`'s
/// branches matches what one branch matches.
pub fn destinations(data: &[u8]) {
    use inlet_shared::delivery::config::parse;
    use inlet_shared::delivery::pattern::Pattern;

    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(specs) = parse(text) {
        let mut names: Vec<String> = specs.iter().map(|s| s.name.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), specs.len(), "an accepted document has two destinations of one name: {text}");
        for spec in &specs {
            if let Some(pattern) = &spec.pattern {
                let _ = pattern.matches(&Value::Null);
            }
        }
    }
    // The input split in two JSON values: a pattern and an event.
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let (Some(Ok(pattern)), Some(Ok(event))) = (values.next(), values.next()) else { return };
    let Ok(parsed) = Pattern::parse(&pattern) else { return };
    let first = parsed.matches(&event);
    assert_eq!(first, parsed.matches(&event), "a pattern answered twice differently: {pattern} on {event}");
    if let Ok(either) = Pattern::parse(&serde_json::json!({"$or": [pattern.clone(), pattern.clone()]})) {
        assert_eq!(either.matches(&event), first, "{{$or: [p, p]}} differs from p: {pattern} on {event}");
    }
}

/// A reply as the reply queue, a destination's answer and the hosts check
/// meet it: any text is refused or accepted without a panic; an accepted
/// request keeps its dedup key through the outbox's encoding (so a
/// redelivered reply is recognised), and a URL the hosts check accepts is
/// on a named host.
pub fn replies(data: &[u8]) {
    use inlet_shared::delivery::http::reply_of;
    use inlet_shared::reply::hosts::ReplyHosts;
    use inlet_shared::reply::request::ReplyRequest;
    use inlet_shared::reply::{Reply, slack};

    if let Some(reply) = reply_of(data) {
        let _ = Reply::from_json(&reply);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(request) = ReplyRequest::parse(text) {
        let again = ReplyRequest::parse(&request.to_json())
            .unwrap_or_else(|e| panic!("the outbox's encoding of an accepted request is refused ({e}): {text}"));
        assert_eq!(again.dedup_key(), request.dedup_key(), "a re-encoded request changed its key: {text}");
    }
    let hosts = ReplyHosts::defaults(slack::REPLY_HOSTS, slack::DEFAULT_REPLY_HOSTS);
    if hosts.check(text).is_ok() {
        let lower = text.to_ascii_lowercase();
        assert!(lower.starts_with("https://hooks.slack.com"), "a URL off Slack's host was accepted: {text}");
    }
}
