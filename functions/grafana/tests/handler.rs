//! The Grafana protocol, driven by its samples and hand-made requests with a
//! fixed clock; what every provider promises is the conformance kit's.

use std::collections::HashMap;

use grafana::GrafanaFunction;
use grafana::crypto::grafana_signature;
use grafana::samples::{STARTS_AT, fingerprint, legacy, unified};
use http::{Method, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::Samples;
use inlet_shared::verify::http_auth::basic_header;
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{assert_refused, assert_unauthenticated};
use serde_json::json;
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;
const PASSWORD: &str = "test-password-Gf1";
const TOKEN: &str = "test-token-Gt2";
const HMAC_SECRET: &str = "test-hmac-Gh3";
const SIGNATURE: &str = "x-grafana-alerting-signature";
const TIMESTAMP: &str = "x-grafana-alerting-timestamp";

fn settings(extra: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    let mut env: HashMap<&str, &str> = [
        ("GRAFANA_BASIC_AUTH", "grafana:test-password-Gf1"),
        ("GRAFANA_BEARER_TOKENS", TOKEN),
        ("GRAFANA_HMAC_SECRET", HMAC_SECRET),
        ("GRAFANA_HMAC_TIMESTAMP_HEADER", "X-Grafana-Alerting-Timestamp"),
    ]
    .into();
    env.extend(extra.iter().copied());
    env
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).expect("valid time")
}

async fn handle_at(env: &HashMap<&str, &str>, request: &IncomingRequest, now: i64) -> (Reply, MemoryPublisher) {
    let function = GrafanaFunction::from_env(env).expect("valid settings");
    let publisher = MemoryPublisher::new();
    let reply = function.handle(&publisher, request, at(now)).await;
    (reply, publisher)
}

async fn handle_with(env: &HashMap<&str, &str>, request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_at(env, request, NOW).await
}

async fn handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_with(&settings(&[]), request).await
}

/// Asserts that `request`, handled at `now`, is refused with the uniform 401
/// and that the log gives `reason` as the precise cause.
async fn unauthenticated_at(env: &HashMap<&str, &str>, request: &IncomingRequest, now: i64, reason: &str) {
    let logs = CapturedLogs::start();
    let (reply, publisher) = handle_at(env, request, now).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(logs.text().contains(reason), "the log should say {reason:?}: {}", logs.text());
}

async fn unauthenticated_with(env: &HashMap<&str, &str>, request: &IncomingRequest, reason: &str) {
    unauthenticated_at(env, request, NOW, reason).await;
}

async fn unauthenticated(request: &IncomingRequest, reason: &str) {
    unauthenticated_with(&settings(&[]), request, reason).await;
}

fn sample_request(name: &str, unique: &str) -> IncomingRequest {
    GrafanaFunction::sample(name, &settings(&[]), NOW, unique).expect("known sample").to_incoming()
}

fn post(body: &str, headers: &[(&str, &str)]) -> IncomingRequest {
    let mut request = IncomingRequest::new(Method::POST, "/alerts/grafana", body.as_bytes().to_vec());
    for (name, value) in headers {
        request.headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    request
}

/// `body` signed as Grafana signs it, with a timestamp header.
fn signed(body: &str, secret: &str, timestamp: i64) -> IncomingRequest {
    let ts = timestamp.to_string();
    let signature = grafana_signature(secret, Some(&ts), body.as_bytes());
    post(body, &[(TIMESTAMP, &ts), (SIGNATURE, &signature)])
}

fn with_header(mut request: IncomingRequest, name: &'static str, value: &str) -> IncomingRequest {
    request.headers.insert(name, value.parse().expect("header value"));
    request
}

fn basic() -> String {
    basic_header(&format!("grafana:{PASSWORD}"))
}

fn ids(publisher: &MemoryPublisher) -> Vec<String> {
    publisher.sent().into_iter().map(|e| e.id).collect()
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_testkit::conformance::check::<GrafanaFunction>(&[]).await;
    // HMAC over the body alone: the contact point names no timestamp header.
    inlet_testkit::conformance::check::<GrafanaFunction>(&[("GRAFANA_HMAC_TIMESTAMP_HEADER", "")]).await;
}

// ---- accepted notifications ----

#[tokio::test]
async fn unified_notification_signed_with_timestamp_becomes_one_envelope_per_alert() {
    let (reply, publisher) = handle(&sample_request("grafana-unified", "u1")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.body_json().unwrap(), json!({"accepted": 2}));
    assert_eq!(
        ids(&publisher),
        [
            format!("grafana:{}:firing:{STARTS_AT}", fingerprint("u1", "api-1")),
            format!("grafana:{}:resolved:{STARTS_AT}", fingerprint("u1", "api-2")),
        ]
    );
    let sent = publisher.sent();
    for envelope in &sent {
        assert_eq!(envelope.provider, "grafana");
        assert_eq!(envelope.kind, "alert");
        assert_eq!(envelope.tenant.as_deref(), Some("inlet"), "tenant is the receiver (contact point)");
        assert_eq!(envelope.verification.scheme, "hmac-sha256");
        assert_eq!(envelope.verification.matched.as_deref(), Some("GRAFANA_HMAC_SECRET#1"));
        assert_eq!(envelope.payload.to_value().unwrap()["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(envelope.payload.to_value().unwrap()["orgId"], 1);
    }
    let firing = sent[0].alert.as_ref().expect("alert view");
    assert_eq!(firing.name, "HighLatency");
    assert_eq!(firing.status, "firing");
    assert_eq!(firing.severity.as_deref(), Some("warning"));
    assert_eq!(firing.summary.as_deref(), Some("p99 latency above 500 ms on api-1"));
    assert_eq!(firing.labels["grafana_folder"], "Platform");
    assert_eq!(firing.ends_at, None);
    assert_eq!(
        firing.generator_url.as_deref(),
        Some("http://grafana.example:3000/alerting/grafana/latency/view?orgId=1")
    );
    assert_eq!(firing.group_key.as_deref(), Some("{}/{}:{alertname=\"HighLatency\", grafana_folder=\"Platform\"}"));
    let resolved = sent[1].alert.as_ref().unwrap();
    assert_eq!(resolved.status, "resolved");
    assert_eq!(resolved.ends_at.as_deref(), Some("2023-11-14T22:10:00Z"));
    assert_eq!(
        sent[1].payload.to_value().unwrap()["alerts"][0]["valueString"],
        "[ var='B' labels={instance=api-2} value=0.21 ]"
    );
}

#[tokio::test]
async fn unified_notification_with_authorization_header_any_scheme() {
    let (reply, publisher) = handle(&sample_request("grafana-unified-token", "u1")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent().len(), 2);
    assert_eq!(publisher.sent()[0].verification.scheme, "bearer-token");
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("GRAFANA_BEARER_TOKENS#1"));
    // Grafana's "Authentication Header Scheme" is free text.
    let custom = with_header(sample_request("grafana-unified-token", "u1"), "authorization", &format!("Token {TOKEN}"));
    let (reply, publisher) = handle(&custom).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.scheme, "authorization-token");
}

#[tokio::test]
async fn legacy_alert_with_basic_auth_is_one_envelope_of_its_own_request() {
    let request = sample_request("grafana-legacy", "u1");
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json().unwrap(), json!({"accepted": 1}));
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1);
    let envelope = &sent[0];
    assert!(envelope.id.starts_with("grafana:request:"), "{}", envelope.id);
    assert_eq!(envelope.kind, "legacy-alert");
    assert_eq!(envelope.tenant.as_deref(), Some("1"), "tenant is the orgId");
    assert_eq!(envelope.verification.scheme, "basic-auth");
    assert_eq!(envelope.verification.matched.as_deref(), Some("GRAFANA_BASIC_AUTH#1"));
    assert_eq!(envelope.payload, legacy("u1"));
    let alert = envelope.alert.as_ref().expect("alert view");
    assert_eq!(alert.name, "Error rate");
    assert_eq!(alert.status, "firing", "legacy alerting → firing");
    assert_eq!(alert.severity.as_deref(), Some("critical"));
    assert_eq!(alert.labels["team"], "payments", "labels are the rule's tags");
    assert_eq!(alert.summary.as_deref(), Some("Error rate above threshold (u1)"));
    assert_eq!(alert.fingerprint.as_deref(), Some("7"), "the rule id");
    assert!(alert.generator_url.as_deref().unwrap().contains("/d/errors"));
}

#[tokio::test]
async fn legacy_ok_state_is_resolved_and_other_states_pass_through() {
    for (state, status) in [("ok", "resolved"), ("no_data", "no_data")] {
        let mut body = legacy("s");
        body["state"] = json!(state);
        let (reply, publisher) = handle(&post(&body.to_string(), &[("authorization", &basic())])).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(publisher.sent()[0].alert.as_ref().unwrap().status, status);
    }
}

#[tokio::test]
async fn ha_duplicates_and_resent_samples_get_the_same_ids() {
    // Grafana HA peers each send the same alert group.
    let mut second = unified("ha");
    second["externalURL"] = json!("http://grafana-2.example:3000/");
    let (_, first) = handle(&sample_request("grafana-unified", "ha")).await;
    let (reply, again) = handle(&signed(&second.to_string(), HMAC_SECRET, NOW)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(ids(&first).len(), 2);
    assert_eq!(ids(&first), ids(&again));
    let (_, other) = handle(&sample_request("grafana-unified", "other")).await;
    assert!(ids(&first).iter().all(|id| !ids(&other).contains(id)));
}

#[tokio::test]
async fn hmac_without_a_timestamp_header_signs_the_body_alone() {
    let env = settings(&[("GRAFANA_HMAC_TIMESTAMP_HEADER", "")]);
    let request = GrafanaFunction::sample("grafana-unified", &env, NOW, "nt").unwrap().to_incoming();
    assert!(request.header(TIMESTAMP).is_none());
    let (reply, publisher) = handle_with(&env, &request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent().len(), 2);
    // The timestamp-bearing signature does not verify as a body-only one.
    unauthenticated_with(&env, &sample_request("grafana-unified", "nt"), "X-Grafana-Alerting-Signature does not match")
        .await;
}

#[tokio::test]
async fn signature_header_falls_back_to_grafanas_signer_default_or_follows_the_setting() {
    let mut request = sample_request("grafana-unified", "h");
    let signature = request.headers.remove(SIGNATURE).unwrap();
    request.headers.insert("x-grafana-alert-signature", signature.clone());
    let (reply, _) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK, "Grafana's signer default header");

    let env = settings(&[("GRAFANA_HMAC_SIGNATURE_HEADER", "X-Signature")]);
    unauthenticated_with(&env, &sample_request("grafana-unified", "h"), "missing").await;
    let mut custom = sample_request("grafana-unified", "h");
    custom.headers.remove(SIGNATURE);
    custom.headers.insert("x-signature", signature);
    let (reply, _) = handle_with(&env, &custom).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn every_presented_credential_must_verify() {
    let both = with_header(sample_request("grafana-unified", "b"), "authorization", &basic());
    let (reply, publisher) = handle(&both).await;
    assert_eq!(reply.status, StatusCode::OK);
    let verification = &publisher.sent()[0].verification;
    assert_eq!(verification.scheme, "hmac-sha256+basic-auth");
    assert_eq!(verification.matched.as_deref(), Some("GRAFANA_HMAC_SECRET#1,GRAFANA_BASIC_AUTH#1"));
    // A valid signature does not excuse a wrong password, nor the reverse.
    let wrong_password =
        with_header(sample_request("grafana-unified", "b"), "authorization", &basic_header("grafana:guess"));
    unauthenticated(&wrong_password, "Authorization header does not match").await;
    let forged = with_header(both, SIGNATURE, &"0".repeat(64));
    unauthenticated(&forged, "X-Grafana-Alerting-Signature does not match").await;
}

#[tokio::test]
async fn credentials_for_unconfigured_methods_are_ignored() {
    let hmac_only: HashMap<&str, &str> =
        [("GRAFANA_HMAC_SECRET", HMAC_SECRET), ("GRAFANA_HMAC_TIMESTAMP_HEADER", "X-Grafana-Alerting-Timestamp")]
            .into();
    let request = with_header(sample_request("grafana-unified", "o"), "authorization", "Bearer whatever");
    let (reply, publisher) = handle_with(&hmac_only, &request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.scheme, "hmac-sha256");
    unauthenticated_with(&hmac_only, &sample_request("grafana-legacy", "o"), "missing X-Grafana-Alerting-Signature")
        .await;
}

#[tokio::test]
async fn rotated_entries_match_by_position() {
    let env = settings(&[
        ("GRAFANA_HMAC_SECRET", "retired-hmac,test-hmac-Gh3"),
        ("GRAFANA_BASIC_AUTH", "grafana:retired, grafana:test-password-Gf1"),
        ("GRAFANA_BEARER_TOKENS", "retired-token,test-token-Gt2"),
    ]);
    for (name, matched) in [
        ("grafana-unified", "GRAFANA_HMAC_SECRET#2"),
        ("grafana-legacy", "GRAFANA_BASIC_AUTH#2"),
        ("grafana-unified-token", "GRAFANA_BEARER_TOKENS#2"),
    ] {
        let (reply, publisher) = handle_with(&env, &sample_request(name, "r")).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some(matched), "{name}");
    }
}

#[tokio::test]
async fn put_is_accepted_as_grafana_may_use_it() {
    let mut request = sample_request("grafana-unified", "put");
    request.method = Method::PUT;
    let (reply, _) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
}

// ---- refused requests ----

#[tokio::test]
async fn forged_or_tampered_hmac_is_401() {
    let forged = with_header(sample_request("grafana-unified", "f"), SIGNATURE, &"a".repeat(64));
    unauthenticated(&forged, "X-Grafana-Alerting-Signature does not match").await;
    let mut tampered = sample_request("grafana-unified", "f");
    tampered.body = String::from_utf8(tampered.body).unwrap().replace("api-1", "api-9").into_bytes();
    unauthenticated(&tampered, "does not match").await;
    let other_secret = signed(&unified("f").to_string(), "not-the-secret", NOW);
    unauthenticated(&other_secret, "does not match").await;
}

#[tokio::test]
async fn stale_or_future_timestamp_is_401() {
    let request = sample_request("grafana-unified", "t");
    for now in [NOW + 301, NOW - 301] {
        unauthenticated_at(&settings(&[]), &request, now, "outside the allowed window").await;
    }
    let (reply, _) = handle_at(&settings(&[]), &request, NOW + 299).await;
    assert_eq!(reply.status, StatusCode::OK, "inside the window");
    // Moving the timestamp without re-signing breaks the signature.
    let moved = with_header(request, TIMESTAMP, &(NOW + 1).to_string());
    unauthenticated(&moved, "does not match").await;
    let garbage = with_header(sample_request("grafana-unified", "t"), TIMESTAMP, "yesterday");
    unauthenticated(&garbage, "outside the allowed window").await;
}

#[tokio::test]
async fn missing_timestamp_header_is_401_when_one_is_configured() {
    let mut request = sample_request("grafana-unified", "m");
    request.headers.remove(TIMESTAMP);
    unauthenticated(&request, "missing HMAC timestamp header").await;
}

#[tokio::test]
async fn wrong_password_or_token_is_401() {
    for value in [
        basic_header("grafana:test-password-Gf"),
        basic_header(&format!("admin:{PASSWORD}")),
        format!("Bearer {PASSWORD}"),
        "Bearer test-token-Gt".to_string(),
        basic_header(&format!("grafana:{TOKEN}")),
        TOKEN.to_string(),
    ] {
        let request = with_header(sample_request("grafana-legacy", "w"), "authorization", &value);
        unauthenticated(&request, "Authorization header does not match").await;
    }
}

#[tokio::test]
async fn no_credentials_is_401() {
    unauthenticated(
        &post(&unified("n").to_string(), &[]),
        "missing X-Grafana-Alerting-Signature or Authorization header",
    )
    .await;
    // A timestamp alone proves nothing.
    unauthenticated(&post(&unified("n").to_string(), &[(TIMESTAMP, "1700000000")]), "missing").await;
}

#[tokio::test]
async fn credentials_are_checked_before_the_body_is_parsed() {
    unauthenticated(&post("{not json", &[("authorization", "Bearer nope")]), "does not match").await;
}

#[tokio::test]
async fn malformed_bodies_are_400_only_when_not_json() {
    let (reply, publisher) = handle(&signed("{\"alerts\": [", HMAC_SECRET, NOW)).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "not valid JSON");
}

#[tokio::test]
async fn authenticated_json_outside_the_schema_is_kept_whole_as_a_raw_event() {
    // Grafana's custom payload templates send any JSON, and Grafana never
    // retries: a refusal would lose the notification.
    for body in [
        json!({"alerts": "none", "version": "1"}),
        json!([1, 2]),
        json!({"receiver": "x", "status": "firing"}),
        json!({"ruleName": "r", "ruleId": 1}),
        json!({"state": "alerting", "tags": ["a"]}),
        json!({"alerts": [{"status": "firing", "fingerprint": "f"}]}),
        json!({"title": "custom template", "text": "db-1 down"}),
    ] {
        let (reply, publisher) = handle(&signed(&body.to_string(), HMAC_SECRET, NOW)).await;
        assert_eq!(reply.status, StatusCode::OK, "{body}");
        let sent = publisher.sent();
        assert_eq!(sent.len(), 1, "{body}");
        assert_eq!(sent[0].kind, "raw");
        assert_eq!(sent[0].payload, body);
    }
}

#[tokio::test]
async fn identical_legacy_bodies_are_distinct_notifications_but_a_signed_replay_is_not() {
    // alerting → ok → alerting: the same body twice is two real notifications.
    let request = sample_request("grafana-legacy", "same");
    let (_, first) = handle(&request).await;
    let (_, second) = handle(&request).await;
    assert_ne!(first.sent()[0].id, second.sent()[0].id);
    // A request whose signature covers a timestamp, replayed inside the
    // window, is the same event: it must deduplicate.
    let body = json!({"state": "alerting", "ruleName": "r"}).to_string();
    let replayed = signed(&body, HMAC_SECRET, NOW);
    let (_, a) = handle(&replayed).await;
    let (_, b) = handle(&replayed).await;
    assert_eq!(a.sent()[0].id, b.sent()[0].id);
    let (_, later) = handle(&signed(&body, HMAC_SECRET, NOW + 1)).await;
    assert_ne!(a.sent()[0].id, later.sent()[0].id, "a new timestamp is a new notification");
}

#[test]
fn start_up_requires_a_method_and_valid_header_names() {
    let none: HashMap<&str, &str> = HashMap::new();
    let error = GrafanaFunction::from_env(&none).err().expect("refused");
    assert!(error.name.contains("GRAFANA_HMAC_SECRET"));
    let timestamp_without_secret: HashMap<&str, &str> =
        [("GRAFANA_BEARER_TOKENS", TOKEN), ("GRAFANA_HMAC_TIMESTAMP_HEADER", "X-Ts")].into();
    assert_eq!(
        GrafanaFunction::from_env(&timestamp_without_secret).err().expect("refused").name,
        "GRAFANA_HMAC_TIMESTAMP_HEADER"
    );
    let bad_name = settings(&[("GRAFANA_HMAC_TIMESTAMP_HEADER", "X Bad Header")]);
    assert_eq!(GrafanaFunction::from_env(&bad_name).err().expect("refused").name, "GRAFANA_HMAC_TIMESTAMP_HEADER");
    let bad_basic = settings(&[("GRAFANA_BASIC_AUTH", "nocolon")]);
    assert_eq!(GrafanaFunction::from_env(&bad_basic).err().expect("refused").name, "GRAFANA_BASIC_AUTH");
    let hmac_only: HashMap<&str, &str> = [("GRAFANA_HMAC_SECRET", HMAC_SECRET)].into();
    assert!(GrafanaFunction::from_env(&hmac_only).is_ok());
}
