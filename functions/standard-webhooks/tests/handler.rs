//! The Standard Webhooks handler on its own samples and on requests signed
//! here, with a fixed clock.

mod common;

use std::collections::HashMap;

use http::{HeaderValue, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{assert_refused, assert_unauthenticated, dev_settings_with, handle_with};
use serde_json::{Value, json};
use standard_webhooks::StandardWebhooksFunction;
use standard_webhooks::samples::{message_id, signed_request};
use standard_webhooks::scheme::{lenient_secret_key, public_key_of, sign, sign_v1a};

use common::*;

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
    inlet_testkit::conformance::check::<StandardWebhooksFunction>(&[]).await;
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
        (unknown, "no key for source \"nosuchsource\""),
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

/// standardwebhooks 1.0.1 and later decode a secret as `b64decode(secret +
/// "==")`, so a secret copied without its trailing `=` verifies as the
/// padded one; 1.0.0 and inlet before this change refused it.
#[tokio::test]
async fn a_secret_without_its_base64_padding_verifies_like_the_padded_one() {
    let unpadded = DEV_SECRET.trim_end_matches('=');
    assert_ne!(unpadded, DEV_SECRET, "the dev secret has padding to leave out");
    for secret in [unpadded.to_string(), format!("{unpadded}="), unpadded.trim_start_matches("whsec_").to_string()] {
        let env = dev_settings_with(&[("STANDARD_WEBHOOKS_SECRETS", &format!("devsource={secret}"))]);
        let (reply, publisher) =
            handle_with::<StandardWebhooksFunction>(&env, &sample("standard-webhooks-event", "unpadded"), NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{secret}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("STANDARD_WEBHOOKS_SECRETS:devsource"));
    }
    // Signed by a sender that holds the unpadded form.
    let request = signed("devsource", unpadded, "msg_unpadded", NOW, "{}");
    let (reply, _) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    // What no padding can complete is still refused at start-up.
    let env: HashMap<&str, &str> = [("STANDARD_WEBHOOKS_SECRETS", "devsource=whsec_YWJjZ")].into();
    let refused = StandardWebhooksFunction::from_env(&env).err().expect("refused");
    assert!(refused.to_string().contains("STANDARD_WEBHOOKS_SECRETS"), "{refused}");
}

/// A sender's Ed25519 key pair, made here from a label.
fn seed(label: &str) -> [u8; 32] {
    inlet_shared::verify::sha256_bytes(label.as_bytes())
}

/// A request for `source` carrying `signature` as `webhook-signature`.
fn with_signature(source: &str, id: &str, timestamp: i64, body: &str, signature: &str) -> IncomingRequest {
    signed_request("t", "t", source, id, timestamp, body.to_string(), signature).to_incoming()
}

fn with_keys(keys: &str) -> HashMap<String, String> {
    dev_settings_with(&[("STANDARD_WEBHOOKS_SECRETS", keys)])
}

// RFC 8032's first test key, over the specification's v1 vector's message.
// The specification publishes no v1a vector; this signature was computed
// independently with pyca/cryptography (OpenSSL), and official_lib.rs
// checks the same computation both ways on every run.
const RFC8032_SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5,
    0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
const RFC8032_WHPK: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const VECTOR_V1A: &str = "v1a,jfp5j4J3Buv9EPOcc9Bqo8rJqAO1H6lrRl0WZQdzVZI6IttNPT8HSLyPvUvY54dJJt2BQGA01di1ePvigCwlCw==";

#[tokio::test]
async fn v1a_signatures_verify_with_a_whpk_public_key() {
    assert_eq!(public_key_of(&RFC8032_SEED), RFC8032_WHPK);
    assert_eq!(sign_v1a(&RFC8032_SEED, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY.as_bytes()), VECTOR_V1A);
    let env = with_keys(&format!("vector={RFC8032_WHPK}"));
    let request = with_signature("vector", VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY, VECTOR_V1A);
    let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, &request, VECTOR_TIMESTAMP).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.id, format!("standard-webhooks:vector:{VECTOR_ID}"));
    assert_eq!(envelope.verification.scheme, "standard-webhooks-v1a");
    assert_eq!(envelope.verification.matched.as_deref(), Some("STANDARD_WEBHOOKS_SECRETS:vector"));

    // A key pair made here, over a typical event, at the window's edges.
    let sender = seed("a v1a sender");
    let env = with_keys(&format!("devsource={}", public_key_of(&sender)));
    let body = json!({"type": "invoice.paid", "data": {"id": "inv_1"}}).to_string();
    for offset in [0, 300, -300] {
        let signature = sign_v1a(&sender, "msg_v1a", NOW + offset, body.as_bytes());
        let request = with_signature("devsource", "msg_v1a", NOW + offset, &body, &signature);
        let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, &request, NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "signed {offset} s from now");
        assert_eq!(publisher.sent()[0].kind, "invoice.paid");
    }
}

/// The prefix decides the scheme: a `whpk_` key never accepts `v1` (its
/// bytes are public, so an HMAC keyed with them is anyone's), and a
/// `whsec_` secret never accepts `v1a`.
#[tokio::test]
async fn a_public_key_verifies_only_v1a_and_a_secret_only_v1() {
    let sender = seed("the sender");
    let whpk = public_key_of(&sender);
    let body = r#"{"type":"x"}"#;
    let v1a = sign_v1a(&sender, "msg_k", NOW, body.as_bytes());
    let hmac = sign(&lenient_secret_key(DEV_SECRET).unwrap(), "msg_k", NOW, body.as_bytes());
    // An HMAC keyed with the public key's own bytes: what a forger would try.
    let public_bytes = lenient_secret_key(whpk.trim_start_matches("whpk_")).unwrap();
    let hmac_with_public_key = sign(&public_bytes, "msg_k", NOW, body.as_bytes());

    let public_only = with_keys(&format!("devsource={whpk}"));
    let secret_only = with_keys(&format!("devsource={DEV_SECRET}"));
    for (what, env, signature, accepted) in [
        ("v1a under the public key", &public_only, v1a.clone(), true),
        ("v1 under the secret", &secret_only, hmac.clone(), true),
        ("a v1 HMAC keyed with the public key", &public_only, hmac_with_public_key.clone(), false),
        ("the same, labelled v1a", &public_only, hmac_with_public_key.replace("v1,", "v1a,"), false),
        ("v1 at a source with only a public key", &public_only, hmac.clone(), false),
        ("v1a at a source with only a secret", &secret_only, v1a.clone(), false),
        ("the Ed25519 signature labelled v1", &public_only, v1a.replace("v1a,", "v1,"), false),
        ("the Ed25519 signature labelled V1A", &public_only, v1a.replace("v1a,", "V1A,"), false),
    ] {
        let request = with_signature("devsource", "msg_k", NOW, body, &signature);
        let (reply, publisher) = handle_with::<StandardWebhooksFunction>(env, &request, NOW).await;
        if accepted {
            assert_eq!(reply.status, StatusCode::OK, "{what}");
        } else {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
            assert_unauthenticated(&reply, &publisher);
        }
    }
}

/// The specification's example header carries both versions
/// (`v1,… v1a,…`): each source reads the entries of its own keys, in order,
/// and a source moving from a secret to a public key may list both.
#[tokio::test]
async fn a_header_mixing_v1_and_v1a_is_read_by_each_key_in_order() {
    let sender = seed("a sender signing both ways");
    let whpk = public_key_of(&sender);
    let body = r#"{"type":"mixed"}"#;
    let v1a = sign_v1a(&sender, "msg_m", NOW, body.as_bytes());
    let v1 = sign(&lenient_secret_key(DEV_SECRET).unwrap(), "msg_m", NOW, body.as_bytes());
    let both = with_keys(&format!("devsource={DEV_SECRET},devsource={whpk}"));
    for (env, header, scheme, matched) in [
        (with_keys(&format!("devsource={DEV_SECRET}")), format!("{v1} {v1a}"), "standard-webhooks-v1", ""),
        (with_keys(&format!("devsource={whpk}")), format!("{v1} {v1a}"), "standard-webhooks-v1a", ""),
        (both.clone(), format!("{v1} {v1a}"), "standard-webhooks-v1", "#1"),
        (both.clone(), v1a.clone(), "standard-webhooks-v1a", "#2"),
        (both.clone(), v1.clone(), "standard-webhooks-v1", "#1"),
    ] {
        let request = with_signature("devsource", "msg_m", NOW, body, &header);
        let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, &request, NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{header}");
        let verification = &publisher.sent()[0].verification;
        assert_eq!(verification.scheme, scheme, "{header}");
        assert_eq!(
            verification.matched.as_deref(),
            Some(format!("STANDARD_WEBHOOKS_SECRETS:devsource{matched}").as_str())
        );
    }
    // Entries are walked in order for v1a as for v1: an unreadable entry or
    // an undecodable v1a before the match refuses; after it, it is not read.
    let public_only = with_keys(&format!("devsource={whpk}"));
    for (header, accepted) in [
        (format!("{v1a} v1a,a,b"), true),
        (format!("v1a,AAAA {v1a}"), true),
        (format!("v1a,a,b {v1a}"), false),
        (format!("v1a,YQ {v1a}"), false),
        (format!("v1,YQ {v1a}"), true),
        (format!("  {v1a}"), false),
    ] {
        let request = with_signature("devsource", "msg_m", NOW, body, &header);
        let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&public_only, &request, NOW).await;
        if accepted {
            assert_eq!(reply.status, StatusCode::OK, "{header}");
        } else {
            assert_unauthenticated(&reply, &publisher);
        }
    }
}

#[tokio::test]
async fn v1a_forgeries_are_the_uniform_401_and_the_log_says_why() {
    let sender = seed("the real sender");
    let env = with_keys(&format!("devsource={}", public_key_of(&sender)));
    let body = json!({"type": "payout.sent", "data": {"amount": 4200}}).to_string();
    let good = sign_v1a(&sender, "msg_f", NOW, body.as_bytes());
    let request = |id: &str, timestamp: i64, body: &str, signature: &str| {
        let mut request = with_signature("devsource", id, timestamp, body, signature);
        request.headers.insert("webhook-timestamp", HeaderValue::from_str(&timestamp.to_string()).unwrap());
        request
    };
    let (reply, _) = handle_with::<StandardWebhooksFunction>(&env, &request("msg_f", NOW, &body, &good), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    let mut flipped = good.clone().into_bytes();
    // A character in the middle: the last ones carry unused bits.
    flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let cases = [
        ("body changed", request("msg_f", NOW, &body.replace("4200", "1"), &good)),
        ("id changed", request("msg_other", NOW, &body, &good)),
        ("timestamp changed", request("msg_f", NOW + 1, &body, &good)),
        ("another key", request("msg_f", NOW, &body, &sign_v1a(&seed("someone else"), "msg_f", NOW, body.as_bytes()))),
        ("a bit flipped", request("msg_f", NOW, &body, &flipped)),
        ("truncated", request("msg_f", NOW, &body, &good[..good.len() - 4])),
        ("stale", request("msg_f", NOW - 301, &body, &sign_v1a(&sender, "msg_f", NOW - 301, body.as_bytes()))),
    ];
    let logs = CapturedLogs::start();
    for (what, request) in &cases {
        let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, request, NOW).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_unauthenticated(&reply, &publisher);
    }
    assert!(logs.text().contains("no v1a signature matches the public key"), "{}", logs.text());
}

#[test]
fn public_keys_that_cannot_verify_and_secret_keys_stop_the_function_at_start_up() {
    let whpk = public_key_of(&seed("start-up"));
    let whsk = format!("whsk_{}", whpk.trim_start_matches("whpk_"));
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = format!("whpk_{}", base64_of(&identity));
    for (bad, says) in [
        (format!("devsource={whsk}"), "whsk_"),
        ("devsource=whpk_".to_string(), "32"),
        ("devsource=whpk_YWJj".to_string(), "32"),
        (format!("devsource={}", &whpk[..whpk.len() - 4]), "30 bytes"),
        (format!("devsource={whpk}AAAA"), "base64"),
        (format!("devsource={}-{}", &whpk[..10], &whpk[11..]), "base64"),
        (format!("devsource={weak}"), "weak"),
        (format!("devsource={whpk},other={whsk}"), "whsk_"),
    ] {
        let env: HashMap<&str, &str> = [("STANDARD_WEBHOOKS_SECRETS", bad.as_str())].into();
        let refused = StandardWebhooksFunction::from_env(&env).err().unwrap_or_else(|| panic!("{bad} accepted"));
        let text = refused.to_string();
        assert!(text.contains("STANDARD_WEBHOOKS_SECRETS") && text.contains(says), "{bad}: {text}");
        assert!(!text.contains(whpk.trim_start_matches("whpk_")), "the key itself is not repeated: {text}");
    }
    let keys = format!("a={whpk},b={}", whpk.trim_end_matches('='));
    let env: HashMap<&str, &str> = [("STANDARD_WEBHOOKS_SECRETS", keys.as_str())].into();
    let function = StandardWebhooksFunction::from_env(&env).expect("padded and unpadded whpk_ keys");
    assert!(function.keys.iter().all(|k| k.is_public_key()));
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
