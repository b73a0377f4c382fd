//! The Alertmanager handler driven by its samples, the committed `events/`
//! files and hand-made requests, with a fixed clock.

use std::collections::HashMap;

use alertmanager::AlertmanagerFunction;
use alertmanager::samples::{STARTS_AT, fingerprint, notification};
use http::{Method, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_shared::verify::http_auth::basic_header;
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{assert_refused, assert_unauthenticated, event_request};
use serde_json::{Value, json};
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;
const PASSWORD: &str = "test-password-Xq7";
const TOKEN: &str = "test-token-Zr9";

fn settings(extra: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    let mut env: HashMap<&str, &str> =
        [("ALERTMANAGER_BASIC_AUTH", "alertmanager:test-password-Xq7"), ("ALERTMANAGER_BEARER_TOKENS", TOKEN)].into();
    env.extend(extra.iter().copied());
    env
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).expect("valid time")
}

async fn handle_with(env: &HashMap<&str, &str>, request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    inlet_testkit::samples::handle_with::<AlertmanagerFunction>(env, request, NOW).await
}

async fn handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_with(&settings(&[]), request).await
}

fn sample_request(name: &str, unique: &str) -> IncomingRequest {
    AlertmanagerFunction::sample(name, &settings(&[]), NOW, unique).expect("known sample").to_incoming()
}

/// Asserts that `request` is refused with the uniform 401 and that the log
/// gives `reason` as the precise cause.
async fn unauthenticated_because(env: &HashMap<&str, &str>, request: &IncomingRequest, reason: &str) {
    let logs = CapturedLogs::start();
    let (reply, publisher) = handle_with(env, request).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(logs.text().contains(reason), "the log should say {reason:?}: {}", logs.text());
}

/// A POST to the route with `body` and, when given, an Authorization header.
fn post(body: &str, authorization: Option<&str>) -> IncomingRequest {
    let mut request = IncomingRequest::new(Method::POST, "/alerts/alertmanager", body.as_bytes().to_vec());
    if let Some(value) = authorization {
        request.headers.insert("authorization", value.parse().expect("header value"));
    }
    request
}

fn with_authorization(mut request: IncomingRequest, value: &str) -> IncomingRequest {
    request.headers.insert("authorization", value.parse().expect("header value"));
    request
}

fn basic() -> String {
    basic_header(&format!("alertmanager:{PASSWORD}"))
}

fn ids(publisher: &MemoryPublisher) -> Vec<String> {
    publisher.sent().into_iter().map(|e| e.id).collect()
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_testkit::conformance::check::<AlertmanagerFunction>(&[]).await;
}

// ---- accepted notifications ----

#[tokio::test]
async fn two_alert_notification_with_basic_auth_becomes_two_envelopes() {
    let (reply, publisher) = handle(&sample_request("alertmanager-firing", "u1")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), json!({"accepted": 2}));
    let sent = publisher.sent();
    assert_eq!(
        ids(&publisher),
        [
            format!("alertmanager:{}:firing:{STARTS_AT}", fingerprint("u1", "disk-a")),
            format!("alertmanager:{}:firing:{STARTS_AT}", fingerprint("u1", "disk-b")),
        ]
    );
    for envelope in &sent {
        assert_eq!(envelope.provider, "alertmanager");
        assert_eq!(envelope.kind, "alert");
        assert_eq!(envelope.tenant.as_deref(), Some("inlet"), "tenant is the receiver");
        assert_eq!(envelope.received_at, "2023-11-14T22:13:20Z");
        assert_eq!(envelope.verification.scheme, "basic-auth");
        assert_eq!(envelope.verification.matched.as_deref(), Some("ALERTMANAGER_BASIC_AUTH#1"));
        assert_eq!(
            envelope.payload.to_value().unwrap()["alerts"].as_array().unwrap().len(),
            1,
            "each payload holds its own alert"
        );
        assert_eq!(envelope.payload.to_value().unwrap()["receiver"], "inlet");
    }
    let alert = sent[0].alert.as_ref().expect("alert view");
    assert_eq!(alert.name, "DiskFull");
    assert_eq!(alert.status, "firing");
    assert_eq!(alert.severity.as_deref(), Some("critical"));
    assert_eq!(alert.summary.as_deref(), Some("Disk almost full on disk-a"));
    assert_eq!(alert.labels["instance"], "disk-a");
    assert_eq!(alert.annotations["description"], "disk-a: less than 5% of / is free");
    assert_eq!(alert.fingerprint.as_deref(), Some(fingerprint("u1", "disk-a").as_str()));
    assert_eq!(alert.starts_at.as_deref(), Some(STARTS_AT));
    assert_eq!(alert.ends_at, None, "a firing alert has not ended");
    assert!(alert.generator_url.as_deref().unwrap().starts_with("http://prometheus.example:9090/"));
    assert_eq!(alert.group_key.as_deref(), Some("{}/{severity=~\"warning|critical\"}:{alertname=\"DiskFull\"}"));
    assert_eq!(sent[1].alert.as_ref().unwrap().severity.as_deref(), Some("warning"));
    assert_eq!(sent[0].payload.to_value().unwrap()["alerts"][0]["labels"]["instance"], "disk-a");
    assert_eq!(sent[1].payload.to_value().unwrap()["alerts"][0]["labels"]["instance"], "disk-b");
}

#[tokio::test]
async fn resolved_notification_with_bearer_token_gets_its_own_id() {
    let (reply, publisher) = handle(&sample_request("alertmanager-resolved", "u1")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), json!({"accepted": 1}));
    let sent = publisher.sent();
    assert_eq!(sent[0].id, format!("alertmanager:{}:resolved:{STARTS_AT}", fingerprint("u1", "disk-a")));
    assert_eq!(sent[0].verification.scheme, "bearer-token");
    assert_eq!(sent[0].verification.matched.as_deref(), Some("ALERTMANAGER_BEARER_TOKENS#1"));
    let alert = sent[0].alert.as_ref().unwrap();
    assert_eq!(alert.status, "resolved");
    assert_eq!(alert.ends_at.as_deref(), Some("2023-11-14T22:13:00.5Z"));
}

#[tokio::test]
async fn ha_pair_duplicates_get_the_same_ids() {
    // Each Alertmanager of an HA pair sends the group itself: same alerts,
    // its own externalURL.
    let mut second = notification("ha", "firing", &[("disk-a", "critical"), ("disk-b", "warning")]);
    second["externalURL"] = json!("http://alertmanager-2.example:9093");
    let (_, first_publisher) = handle(&sample_request("alertmanager-firing", "ha")).await;
    let (reply, second_publisher) = handle(&post(&second.to_string(), Some(&basic()))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(ids(&first_publisher).len(), 2);
    assert_eq!(ids(&first_publisher), ids(&second_publisher));
}

#[tokio::test]
async fn the_same_unique_is_the_same_event_and_another_is_not() {
    let (_, a) = handle(&sample_request("alertmanager-firing", "same")).await;
    let (_, b) = handle(&sample_request("alertmanager-firing", "same")).await;
    let (_, c) = handle(&sample_request("alertmanager-firing", "other")).await;
    assert_eq!(ids(&a), ids(&b));
    assert!(ids(&a).iter().all(|id| !ids(&c).contains(id)));
}

#[tokio::test]
async fn refiring_after_resolution_is_a_new_event() {
    let mut refired = notification("u1", "firing", &[("disk-a", "critical")]);
    refired["alerts"][0]["startsAt"] = json!("2023-11-14T23:00:00Z");
    let (_, first) = handle(&sample_request("alertmanager-firing", "u1")).await;
    let (_, again) = handle(&post(&refired.to_string(), Some(&basic()))).await;
    assert_eq!(ids(&again).len(), 1);
    assert!(!ids(&first).contains(&ids(&again)[0]));
}

#[tokio::test]
async fn authorization_type_other_than_bearer_is_accepted() {
    // http_config.authorization.type may be any scheme but Basic.
    let body = notification("t", "firing", &[("disk-a", "critical")]).to_string();
    let (reply, publisher) = handle(&post(&body, Some(&format!("Token {TOKEN}")))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.scheme, "authorization-token");
    let (reply, _) = handle(&post(&body, Some(&format!("bearer {TOKEN}")))).await;
    assert_eq!(reply.status, StatusCode::OK, "scheme is case-insensitive");
}

#[tokio::test]
async fn rotated_entries_match_by_position() {
    let env = settings(&[
        ("ALERTMANAGER_BASIC_AUTH", "alertmanager:retired-password, alertmanager:test-password-Xq7"),
        ("ALERTMANAGER_BEARER_TOKENS", "retired-token,test-token-Zr9"),
    ]);
    let (reply, publisher) = handle_with(&env, &sample_request("alertmanager-firing", "r")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("ALERTMANAGER_BASIC_AUTH#2"));
    let (reply, publisher) = handle_with(&env, &sample_request("alertmanager-resolved", "r")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("ALERTMANAGER_BEARER_TOKENS#2"));
}

#[tokio::test]
async fn basic_auth_alone_is_enough_configuration() {
    let env: HashMap<&str, &str> = [("ALERTMANAGER_BASIC_AUTH", "alertmanager:test-password-Xq7")].into();
    let (reply, _) = handle_with(&env, &sample_request("alertmanager-firing", "b")).await;
    assert_eq!(reply.status, StatusCode::OK);
    unauthenticated_because(&env, &sample_request("alertmanager-resolved", "b"), "Authorization header does not match")
        .await;
}

#[tokio::test]
async fn missing_version_is_accepted_and_empty_alerts_enqueue_nothing() {
    let mut body = notification("v", "firing", &[("disk-a", "critical")]);
    body.as_object_mut().unwrap().remove("version");
    let (reply, publisher) = handle(&post(&body.to_string(), Some(&basic()))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent().len(), 1);
    body["alerts"] = json!([]);
    let (reply, publisher) = handle(&post(&body.to_string(), Some(&basic()))).await;
    assert_eq!(reply.body_json().unwrap(), json!({"accepted": 0}));
    assert!(publisher.sent().is_empty());
}

// ---- the committed events/ files ----

#[tokio::test]
async fn committed_events_match_the_samples_and_are_accepted_with_the_dev_settings() {
    let env = dev_settings();
    let function = AlertmanagerFunction::from_env(&env).expect("dev settings are valid");
    for name in AlertmanagerFunction::SAMPLE_NAMES {
        let from_file = event_request(name);
        let sample = AlertmanagerFunction::sample(name, &env, NOW, "sample").expect("known sample");
        assert_eq!(from_file.body, sample.body, "{name}: run `make events`");
        let publisher = MemoryPublisher::new();
        let reply = function.handle(&publisher, &from_file, now()).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert!(!publisher.sent().is_empty(), "{name}");
    }
}

// ---- refused requests ----

#[tokio::test]
async fn wrong_password_is_401() {
    let env = settings(&[]);
    let forged = with_authorization(sample_request("alertmanager-firing", "w"), &basic_header("alertmanager:guess"));
    unauthenticated_because(&env, &forged, "Authorization header does not match").await;
    let other_user =
        with_authorization(sample_request("alertmanager-firing", "w"), &basic_header(&format!("admin:{PASSWORD}")));
    unauthenticated_because(&env, &other_user, "Authorization header does not match").await;
}

#[tokio::test]
async fn wrong_bearer_token_is_401() {
    let env = settings(&[]);
    let resolved = || sample_request("alertmanager-resolved", "w");
    let forged = with_authorization(resolved(), "Bearer test-token-Zr");
    unauthenticated_because(&env, &forged, "Authorization header does not match").await;
    // The password is not a token, nor the token a password.
    let password_as_token = with_authorization(resolved(), &format!("Bearer {PASSWORD}"));
    unauthenticated_because(&env, &password_as_token, "Authorization header does not match").await;
    let token_as_password = with_authorization(resolved(), &basic_header(&format!("alertmanager:{TOKEN}")));
    unauthenticated_because(&env, &token_as_password, "Authorization header does not match").await;
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_401() {
    let env = settings(&[]);
    let mut request = sample_request("alertmanager-firing", "n");
    request.headers.remove("authorization");
    unauthenticated_because(&env, &request, "missing Authorization header").await;
    for value in [TOKEN, "Basic", "Basic !!!notbase64"] {
        unauthenticated_because(&env, &with_authorization(request.clone(), value), "does not match").await;
    }
}

#[tokio::test]
async fn credentials_are_checked_before_the_body_is_parsed() {
    unauthenticated_because(&settings(&[]), &post("{not json", Some("Bearer nope")), "does not match").await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (reply, publisher) = handle(&post("{\"alerts\": [", Some(&basic()))).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "not valid JSON");
}

#[tokio::test]
async fn authenticated_json_outside_the_schema_is_kept_whole_as_a_raw_event() {
    // Custom payload templates, and standard bodies that do not parse:
    // Alertmanager never retries a 4xx, so refusing would lose the alert.
    let mut one_bad_alert = notification("bad", "firing", &[("disk-a", "critical"), ("disk-b", "warning")]);
    one_bad_alert["alerts"][1].as_object_mut().unwrap().remove("startsAt");
    for body in [
        json!({"version": "4", "alerts": {"status": "firing"}}),
        json!({"version": "4", "status": "firing"}),
        json!(["not", "an", "object"]),
        json!({"version": 4, "alerts": []}),
        json!({"text": "Disk full on db-1", "severity": "page"}),
        json!("just a string"),
        one_bad_alert,
    ] {
        let (reply, publisher) = handle(&post(&body.to_string(), Some(&basic()))).await;
        assert_eq!(reply.status, StatusCode::OK, "{body}");
        assert_eq!(reply.body_json().unwrap(), json!({"accepted": 1}));
        let sent = publisher.sent();
        assert_eq!(sent.len(), 1, "one event, never a partial split: {body}");
        assert_eq!(sent[0].kind, "raw");
        assert_eq!(sent[0].payload, body, "the whole body, unchanged");
        assert!(sent[0].alert.is_none());
    }
}

#[tokio::test]
async fn identical_raw_bodies_are_distinct_events() {
    let body = json!({"text": "Disk full on db-1"}).to_string();
    let (_, first) = handle(&post(&body, Some(&basic()))).await;
    let (_, second) = handle(&post(&body, Some(&basic()))).await;
    assert_ne!(first.sent()[0].id, second.sent()[0].id);
}

#[tokio::test]
async fn raw_events_still_need_credentials_and_json() {
    let body = json!({"text": "Disk full"}).to_string();
    let (reply, publisher) = handle(&post(&body, None)).await;
    assert_unauthenticated(&reply, &publisher);
    let (reply, publisher) = handle(&post("not json {", Some(&basic()))).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "not valid JSON");
}

#[tokio::test]
async fn thirty_thousand_alerts_are_split_and_sent_in_batches() {
    let alerts: Vec<Value> = (0..30_000)
        .map(|i| json!({"status": "firing", "startsAt": STARTS_AT, "fingerprint": format!("{i:016x}")}))
        .collect();
    let body = json!({"version": "4", "status": "firing", "receiver": "r", "alerts": alerts}).to_string();
    let env = settings(&[("INLET_MAX_BODY_BYTES", "4194304")]);
    let (reply, publisher) = handle_with(&env, &post(&body, Some(&basic()))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), json!({"accepted": 30_000}));
    let calls = publisher.publish_calls();
    assert_eq!(calls.iter().sum::<usize>(), 30_000);
    assert!(calls.iter().all(|&n| n <= 10), "sent a batch at a time, never all at once");
}

#[test]
fn start_up_requires_credentials_and_well_formed_entries() {
    let none: HashMap<&str, &str> = HashMap::new();
    let error = AlertmanagerFunction::from_env(&none).err().expect("refused");
    assert!(error.name.contains("ALERTMANAGER_BASIC_AUTH") && error.name.contains("ALERTMANAGER_BEARER_TOKENS"));
    let blank: HashMap<&str, &str> = [("ALERTMANAGER_BASIC_AUTH", " , "), ("ALERTMANAGER_BEARER_TOKENS", "")].into();
    assert!(AlertmanagerFunction::from_env(&blank).is_err());
    let no_colon: HashMap<&str, &str> = [("ALERTMANAGER_BASIC_AUTH", "just-a-password")].into();
    let error = AlertmanagerFunction::from_env(&no_colon).err().expect("refused");
    assert_eq!(error.name, "ALERTMANAGER_BASIC_AUTH");
    assert!(!error.to_string().contains("just-a-password"), "the value never appears in errors");
    let bad_cidr = settings(&[("ALERTMANAGER_ALLOWED_CIDRS", "nope")]);
    assert_eq!(AlertmanagerFunction::from_env(&bad_cidr).err().expect("refused").name, "ALERTMANAGER_ALLOWED_CIDRS");
}
