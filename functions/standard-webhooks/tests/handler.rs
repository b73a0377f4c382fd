//! The Standard Webhooks handler on its own samples and on requests signed
//! here, with a fixed clock.

use std::collections::HashMap;

use http::{HeaderValue, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{
    CapturedLogs, Samples, assert_refused, assert_unauthenticated, dev_settings, dev_settings_with, handle_with,
};
use serde_json::{Value, json};
use standard_webhooks::StandardWebhooksFunction;
use standard_webhooks::samples::{message_id, signed_request};
use standard_webhooks::scheme::{lenient_secret_key, sign};

const NOW: i64 = 1_700_000_000;
const DEV_SECRET: &str = "whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLU5PVC1BLVNFQ1JFVA==";
const OTHER_SECRET: &str = "whsec_b3RoZXItc291cmNlLXNlY3JldC1OT1QtQS1TRUNSRVQ=";

// The specification's public vector.
const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const VECTOR_TIMESTAMP: i64 = 1_649_367_553;
const VECTOR_BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

fn sample_at(name: &str, timestamp: i64, unique: &str) -> IncomingRequest {
    StandardWebhooksFunction::sample(name, &dev_settings(), timestamp, unique).expect("a sample").to_incoming()
}

fn sample(name: &str, unique: &str) -> IncomingRequest {
    sample_at(name, NOW, unique)
}

/// A request for `source`, signed with `secret` (any of its forms).
fn signed(source: &str, secret: &str, id: &str, timestamp: i64, body: &str) -> IncomingRequest {
    let key = lenient_secret_key(secret).expect("base64 secret");
    let signature = sign(&key, id, timestamp, body.as_bytes());
    signed_request("t", "t", source, id, timestamp, body.to_string(), &signature).to_incoming()
}

fn set(mut request: IncomingRequest, name: &'static str, value: &str) -> IncomingRequest {
    request.headers.insert(name, HeaderValue::from_str(value).expect("header value"));
    request
}

async fn handle(request: &IncomingRequest) -> (Reply, MemoryPublisher) {
    handle_with::<StandardWebhooksFunction>(&dev_settings(), request, NOW).await
}

fn two_sources() -> HashMap<String, String> {
    dev_settings_with(&[("STANDARD_WEBHOOKS_SECRETS", &format!("devsource={DEV_SECRET},other={OTHER_SECRET}"))])
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_shared::conformance::check::<StandardWebhooksFunction>(&[]).await;
}

#[test]
fn signature_matches_the_specifications_public_vector() {
    let key = lenient_secret_key(VECTOR_SECRET).unwrap();
    assert_eq!(sign(&key, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY.as_bytes()), VECTOR_SIGNATURE);
}

#[tokio::test]
async fn the_public_vector_is_accepted_at_its_time_and_becomes_a_webhook_event() {
    let env = dev_settings_with(&[("STANDARD_WEBHOOKS_SECRETS", &format!("vector={VECTOR_SECRET}"))]);
    let request = signed_request("v", "v", "vector", VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY.into(), VECTOR_SIGNATURE)
        .to_incoming();
    let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, &request, VECTOR_TIMESTAMP).await;
    assert_eq!(reply.status, StatusCode::OK);
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.id, format!("standard-webhooks:vector:{VECTOR_ID}"));
    assert_eq!(envelope.kind, "webhook", "no type in the body");
    assert_eq!(envelope.tenant.as_deref(), Some("vector"));
    assert_eq!(envelope.verification.matched.as_deref(), Some("STANDARD_WEBHOOKS_SECRETS:vector"));
    // The same vector an hour later is stale.
    let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, &request, VECTOR_TIMESTAMP + 3600).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn event_is_enqueued_under_source_and_message_id_and_acknowledged() {
    let request = sample("standard-webhooks-event", "ev-1");
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.is_empty());
    let envelope = &publisher.sent()[0];
    let id = message_id("standard-webhooks-event", "ev-1");
    assert_eq!(envelope.id, format!("standard-webhooks:devsource:{id}"));
    assert_eq!(envelope.kind, "invoice.paid");
    assert_eq!(envelope.tenant.as_deref(), Some("devsource"));
    assert_eq!(envelope.verification.scheme, "standard-webhooks-v1");
    assert_eq!(envelope.verification.matched.as_deref(), Some("STANDARD_WEBHOOKS_SECRETS:devsource"));
    assert_eq!(envelope.payload, serde_json::from_slice::<Value>(&request.body).unwrap());
}

#[tokio::test]
async fn any_v1_entry_may_match_and_other_versions_are_skipped() {
    let request = sample("standard-webhooks-several-signatures", "several");
    let header = request.header("webhook-signature").unwrap();
    assert!(header.starts_with("v1a,") && header.matches(" v1,").count() == 2, "{header}");
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].kind, "user.created");
    // Without its last entry, nothing matches.
    let (without_own, _) = header.rsplit_once(' ').unwrap();
    let (reply, publisher) = handle(&set(request.clone(), "webhook-signature", without_own)).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn entries_are_read_in_order_as_the_reference_library_reads_them() {
    let request = sample("standard-webhooks-event", "order");
    let own = request.header("webhook-signature").unwrap().to_string();
    for (header, accepted) in [
        (format!("{own} v1,not,readable"), true),
        (format!("v1,not,readable {own}"), false),
        (format!("v1,YQ {own}"), false),
        (format!("v2,YQ {own}"), true),
        (format!("  {own}"), false),
        (own.replace("v1,", "v1a,"), false),
        (own.replace("v1,", "V1,"), false),
    ] {
        let (reply, publisher) = handle(&set(request.clone(), "webhook-signature", &header)).await;
        if accepted {
            assert_eq!(reply.status, StatusCode::OK, "{header}");
        } else {
            assert_unauthenticated(&reply, &publisher);
        }
    }
}

#[tokio::test]
async fn a_request_signed_for_one_source_is_refused_at_another() {
    let env = two_sources();
    let body = json!({"type": "ping"}).to_string();
    let for_dev = signed("devsource", DEV_SECRET, "msg_1", NOW, &body);
    let (reply, _) = handle_with::<StandardWebhooksFunction>(&env, &for_dev, NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    // The same bytes at the other source's path.
    let mut moved = for_dev.clone();
    moved.path = "/webhooks/other".into();
    moved.path_params.insert("source".into(), "other".into());
    let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, &moved, NOW).await;
    assert_unauthenticated(&reply, &publisher);
    // The other source's secret does not open this source.
    let wrong = signed("devsource", OTHER_SECRET, "msg_1", NOW, &body);
    let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, &wrong, NOW).await;
    assert_unauthenticated(&reply, &publisher);
    let right = signed("other", OTHER_SECRET, "msg_1", NOW, &body);
    let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, &right, NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("STANDARD_WEBHOOKS_SECRETS:other"));
}

#[tokio::test]
async fn an_unknown_source_is_answered_exactly_like_a_bad_signature() {
    let genuine = sample("standard-webhooks-event", "unknown");
    let mut forged = genuine.clone();
    forged.body.push(b' ');
    let (bad_signature, _) = handle(&forged).await;
    for source in ["nosuchsource", "bad.name", "x".repeat(65).as_str()] {
        let mut request = genuine.clone();
        request.path = format!("/webhooks/{source}");
        request.path_params.insert("source".into(), source.to_string());
        let (reply, publisher) = handle(&request).await;
        assert_unauthenticated(&reply, &publisher);
        assert_eq!(reply, bad_signature, "{source}: the answer must not reveal whether the source exists");
    }
}

#[tokio::test]
async fn the_source_comes_from_api_gateway_or_the_path() {
    let mut request = sample("standard-webhooks-event", "params");
    request.path_params.clear();
    let (reply, _) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK, "from the path when API Gateway gives no parameter");
    request.path = "/prod/webhooks/devsource".into();
    let (reply, _) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK, "behind a stage prefix");
}

#[tokio::test]
async fn rotation_accepts_either_secret_of_the_source_and_records_which_entry() {
    let new_secret = "whsec_bmV3LWRldnNvdXJjZS1zZWNyZXQ=";
    let env =
        dev_settings_with(&[("STANDARD_WEBHOOKS_SECRETS", &format!("devsource={new_secret},devsource={DEV_SECRET}"))]);
    let (reply, publisher) =
        handle_with::<StandardWebhooksFunction>(&env, &sample("standard-webhooks-event", "rot"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("STANDARD_WEBHOOKS_SECRETS:devsource#2"));
    let signed_new = signed("devsource", new_secret, "msg_new", NOW, "{}");
    let (_, publisher) = handle_with::<StandardWebhooksFunction>(&env, &signed_new, NOW).await;
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("STANDARD_WEBHOOKS_SECRETS:devsource#1"));
}

#[tokio::test]
async fn timestamps_are_checked_both_ways() {
    for (offset, accepted) in [(0, true), (300, true), (-300, true), (301, false), (-301, false), (86_400, false)] {
        let request = sample_at("standard-webhooks-event", NOW + offset, "ts");
        let (reply, publisher) = handle(&request).await;
        if accepted {
            assert_eq!(reply.status, StatusCode::OK, "signed {offset} s from now");
        } else {
            assert_unauthenticated(&reply, &publisher);
        }
    }
    // Written with leading zeros or spaces, the timestamp is signed as the integer.
    let request = sample("standard-webhooks-event", "ts-forms");
    for form in [format!("0{NOW}"), format!(" {NOW} "), "1_700_000_000".to_string()] {
        let (reply, _) = handle(&set(request.clone(), "webhook-timestamp", &form)).await;
        assert_eq!(reply.status, StatusCode::OK, "{form:?}");
    }
    for form in [format!("{NOW}.0"), "soon".to_string(), format!("{}", NOW + 1)] {
        let (reply, publisher) = handle(&set(request.clone(), "webhook-timestamp", &form)).await;
        assert_unauthenticated(&reply, &publisher);
    }
}

#[tokio::test]
async fn forgeries_and_missing_headers_are_401() {
    let genuine = sample("standard-webhooks-event", "forged");
    let mut tampered = genuine.clone();
    tampered.body = String::from_utf8(genuine.body.clone()).unwrap().replace("4200", "1").into_bytes();
    let mut cases = vec![
        ("body changed", tampered),
        ("id changed", set(genuine.clone(), "webhook-id", "msg_other")),
        ("another secret", signed("devsource", OTHER_SECRET, "msg_x", NOW, "{}")),
        ("signature truncated", {
            let s = genuine.header("webhook-signature").unwrap().to_string();
            set(genuine.clone(), "webhook-signature", &s[..s.len() - 4])
        }),
    ];
    for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut request = genuine.clone();
        request.headers.remove(header);
        cases.push(("a header missing", request));
        cases.push(("a header empty", set(genuine.clone(), header, "")));
    }
    for (what, request) in &cases {
        let (reply, publisher) = handle(request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_unauthenticated(&reply, &publisher);
    }
}

#[tokio::test]
async fn a_retry_is_a_duplicate_and_ids_are_scoped_by_source() {
    let first = sample_at("standard-webhooks-event", NOW, "retry");
    let retry = sample_at("standard-webhooks-event", NOW + 60, "retry");
    assert_eq!(first.header("webhook-id"), retry.header("webhook-id"));
    let (_, a) = handle(&first).await;
    let (_, b) = handle(&retry).await;
    assert_eq!(a.sent()[0].id, b.sent()[0].id);

    let env = two_sources();
    let (_, dev) =
        handle_with::<StandardWebhooksFunction>(&env, &signed("devsource", DEV_SECRET, "msg_same", NOW, "{}"), NOW)
            .await;
    let (_, other) =
        handle_with::<StandardWebhooksFunction>(&env, &signed("other", OTHER_SECRET, "msg_same", NOW, "{}"), NOW).await;
    assert_ne!(dev.sent()[0].id, other.sent()[0].id, "the same webhook-id from two senders is two events");
}

#[tokio::test]
async fn bodies_are_json_and_kind_is_their_type_when_it_is_text() {
    for (body, kind) in [
        (r#"{"type":"order.created","data":{}}"#, "order.created"),
        (r#"{"type":7}"#, "webhook"),
        (r#"{"type":""}"#, "webhook"),
        ("[1,2]", "webhook"),
    ] {
        let (reply, publisher) = handle(&signed("devsource", DEV_SECRET, "msg_k", NOW, body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{body}");
        assert_eq!(publisher.sent()[0].kind, kind, "{body}");
    }
    let (reply, publisher) = handle(&signed("devsource", DEV_SECRET, "msg_k", NOW, "not json")).await;
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "not valid JSON");
}

#[test]
fn settings_that_cannot_verify_stop_the_function_at_start_up() {
    for bad in [
        "",
        "devsource",
        "devsource=",
        "=whsec_YWJj",
        "bad.source=whsec_YWJj",
        "devsource=whsec_",
        "devsource=whsec_YWJjZ",
        "devsource=whsec_YW!J",
        "devsource=whsec_YWJj-_",
        "devsource=whsec_YWJj,other=whsec_%%%%",
    ] {
        let env: HashMap<&str, &str> = [("STANDARD_WEBHOOKS_SECRETS", bad)].into();
        assert!(StandardWebhooksFunction::from_env(&env).is_err(), "{bad:?} must be refused");
    }
    let env: HashMap<&str, &str> = [("STANDARD_WEBHOOKS_SECRETS", "a=whsec_YWJj, b=YWJj,a=whsec_YWJjZA==")].into();
    let function = StandardWebhooksFunction::from_env(&env).expect("valid");
    let names: Vec<&str> = function.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        ["STANDARD_WEBHOOKS_SECRETS:a#1", "STANDARD_WEBHOOKS_SECRETS:b", "STANDARD_WEBHOOKS_SECRETS:a#2"]
    );
    assert!(!format!("{:?}", function.keys).contains("YWJj"));
}

/// What the log says about a refusal (the answer says nothing: one uniform
/// 401).
#[tokio::test]
async fn the_log_says_which_check_refused_and_never_the_secret() {
    let logs = CapturedLogs::start();
    let sample = |at: i64| {
        StandardWebhooksFunction::sample("standard-webhooks-event", &dev_settings(), at, "logs")
            .expect("sample")
            .to_incoming()
    };
    let mut unknown = sample(NOW);
    unknown.path = "/webhooks/nosuchsource".into();
    unknown.path_params.insert("source".into(), "nosuchsource".into());
    let mut forged = sample(NOW);
    forged.headers.insert("webhook-signature", HeaderValue::from_static("v1,AAAA"));
    let mut unreadable = sample(NOW);
    unreadable.headers.insert("webhook-signature", HeaderValue::from_static("v1,a,b"));
    let mut unsigned = sample(NOW);
    unsigned.headers.remove("webhook-signature");
    let cases = [
        (sample(NOW - 301), "outside the allowed window"),
        (unknown, "no secret for source \"nosuchsource\""),
        (forged, "webhook-signature: no v1 signature matches"),
        (unreadable, "an entry that is not version,signature"),
        (unsigned, "missing webhook-signature"),
    ];
    for (request, logged) in cases {
        let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&dev_settings(), &request, NOW).await;
        assert_unauthenticated(&reply, &publisher);
        assert!(logs.text().contains(logged), "{logged}: {}", logs.text());
    }
    assert!(!logs.text().contains("ZGV2LXN0YW5kYXJk"), "{}", logs.text());
}
