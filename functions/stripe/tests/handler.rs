//! The Stripe handler on its own samples and on requests signed here, with a
//! fixed clock.

use http::{HeaderValue, StatusCode};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{assert_refused, assert_unauthenticated, dev_settings_with, handle_with};
use serde_json::{Value, json};
use stripe::samples::{CONNECTED_ACCOUNT, ROLLED_OUT_SECRET, event_id, signed_request, thin_event, thin_event_id};
use stripe::{StripeFunction, parse_signature_header, signature, signature_header};

const NOW: i64 = 1_700_000_000;
const DEV_SECRET: &str = "whsec_dev-stripe-endpoint-secret-NOT-A-SECRET";

fn sample_at(name: &str, timestamp: i64, unique: &str) -> IncomingRequest {
    StripeFunction::sample(name, &dev_settings(), timestamp, unique).expect("a Stripe sample").to_incoming()
}

fn sample(name: &str, unique: &str) -> IncomingRequest {
    sample_at(name, NOW, unique)
}

fn with_header(mut request: IncomingRequest, value: &str) -> IncomingRequest {
    request.headers.insert("stripe-signature", HeaderValue::from_str(value).expect("header value"));
    request
}

fn body_text(request: &IncomingRequest) -> String {
    String::from_utf8(request.body.clone()).expect("UTF-8")
}

async fn handle(request: &IncomingRequest) -> (inlet_shared::ingress::Reply, inlet_shared::queue::MemoryPublisher) {
    handle_with::<StripeFunction>(&dev_settings(), request, NOW).await
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_testkit::conformance::check::<StripeFunction>(&[]).await;
}

#[test]
fn signature_matches_the_vector_computed_by_stripe_python() {
    // stripe 14.0.1: WebhookSignature._compute_signature("1700000000." + body, "whsec_test_secret").
    let body = br#"{"id":"evt_test_webhook","object":"event"}"#;
    assert_eq!(
        signature("whsec_test_secret", "1700000000", body),
        "d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"
    );
}

#[tokio::test]
async fn payment_succeeded_is_enqueued_under_its_event_id_and_acknowledged() {
    let request = sample("stripe-payment-succeeded", "pay-1");
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json(), Some(json!({"received": true})));
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.id, format!("stripe:{}", event_id("stripe-payment-succeeded", "pay-1")));
    assert!(envelope.id.starts_with("stripe:evt_"));
    assert_eq!(envelope.kind, "payment_intent.succeeded");
    assert_eq!(envelope.tenant, None, "an event of the platform's own account");
    assert_eq!(envelope.verification.scheme, "stripe-signature-v1");
    assert_eq!(envelope.verification.matched.as_deref(), Some("STRIPE_WEBHOOK_SECRET#1"));
    assert_eq!(envelope.payload, serde_json::from_slice::<Value>(&request.body).unwrap());
    assert_eq!(envelope.fetch, None, "a snapshot event carries its object");
}

#[tokio::test]
async fn a_thin_event_notification_is_enqueued_with_what_to_fetch() {
    let request = sample("stripe-thin-event", "thin-1");
    let sent: Value = serde_json::from_slice(&request.body).expect("JSON");
    assert_eq!(sent["object"], "v2.core.event");
    assert!(sent.get("data").is_none() && sent.get("account").is_none(), "a notification, not a snapshot");
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json(), Some(json!({"received": true})));
    let envelope = &publisher.sent()[0];
    let id = thin_event_id("stripe-thin-event", "thin-1");
    assert!(id.starts_with("evt_test_65"));
    assert_eq!(envelope.id, format!("stripe:{id}"), "the event's own id: Stripe's retries keep it");
    assert_eq!(envelope.kind, "v1.billing.meter.error_report_triggered");
    assert_eq!(envelope.tenant.as_deref(), Some(CONNECTED_ACCOUNT), "the account, read from context");
    let related = &sent["related_object"];
    assert_eq!(related["type"], "billing.meter");
    assert_eq!(
        envelope.fetch,
        Some(
            json!({"event": format!("/v2/core/events/{id}"), "related_object": related, "context": CONNECTED_ACCOUNT})
        )
    );
    assert_eq!(envelope.payload, sent, "the notification itself, unchanged");
    // A retry (re-signed later) is the same event.
    let (_, again) = handle(&sample_at("stripe-thin-event", NOW + 60, "thin-1")).await;
    assert_eq!(again.sent()[0].id, envelope.id);
}

#[tokio::test]
async fn a_thin_event_of_the_platform_or_without_a_related_object_still_says_to_fetch_it() {
    let id = thin_event_id("thin", "platform");
    let cases = [
        (
            "the platform's own, with an object",
            thin_event(
                &id,
                "v1.billing.meter.error_report_triggered",
                NOW,
                None,
                Some(("billing.meter", "/v1/billing/meters", "mtr_test_1")),
            ),
        ),
        ("no related object", thin_event(&id, "v2.core.account.closed", NOW, Some(""), None)),
    ];
    for (what, event) in cases {
        let body = serde_json::to_string_pretty(&event).expect("JSON");
        let header = signature_header(&[DEV_SECRET], NOW, body.as_bytes());
        let (reply, publisher) = handle(&signed_request("thin", "thin", body, &header).to_incoming()).await;
        assert_eq!(reply.status, StatusCode::OK, "{what}");
        let envelope = &publisher.sent()[0];
        assert_eq!(envelope.tenant, None, "{what}: no account");
        let fetch = envelope.fetch.as_ref().unwrap_or_else(|| panic!("{what}: no fetch"));
        assert_eq!(fetch["event"], format!("/v2/core/events/{id}"), "{what}");
        assert_eq!(fetch.get("related_object"), event.get("related_object"), "{what}");
        assert!(fetch.get("context").is_none(), "{what}");
    }
}

#[tokio::test]
async fn a_thin_event_without_id_or_type_is_400() {
    for (field, reason) in [("id", "no id"), ("type", "no type")] {
        let mut event = thin_event("evt_test_65x", "v1.billing.meter.error_report_triggered", NOW, None, None);
        event.as_object_mut().expect("object").remove(field);
        let body = event.to_string();
        let header = signature_header(&[DEV_SECRET], NOW, body.as_bytes());
        let (reply, publisher) = handle(&signed_request("thin", "thin", body, &header).to_incoming()).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, reason);
    }
}

#[tokio::test]
async fn any_v1_entry_may_match_so_a_rolled_secret_still_verifies() {
    let request = sample("stripe-rotated-secret", "roll");
    let header = parse_signature_header(request.header("stripe-signature").unwrap()).unwrap();
    assert_eq!(header.v1.len(), 2);
    assert_eq!(header.v1[0], signature(ROLLED_OUT_SECRET, "1700000000", &request.body));
    assert_eq!(header.v1[1], signature(DEV_SECRET, "1700000000", &request.body));
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].kind, "invoice.paid");
    // Only the rolled-out secret's entry: refused.
    let only_old = with_header(request.clone(), &format!("t={NOW},v1={}", header.v1[0]));
    let (reply, publisher) = handle(&only_old).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn rotation_in_the_setting_accepts_either_secret_and_records_which_one() {
    let env = dev_settings_with(&[("STRIPE_WEBHOOK_SECRET", &format!("whsec_new-endpoint-secret,{DEV_SECRET}"))]);
    let (reply, publisher) = handle_with::<StripeFunction>(&env, &sample("stripe-payment-succeeded", "rot"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("STRIPE_WEBHOOK_SECRET#2"));
    let signed_new = StripeFunction::sample("stripe-payment-succeeded", &env, NOW, "rot").unwrap().to_incoming();
    let (_, publisher) = handle_with::<StripeFunction>(&env, &signed_new, NOW).await;
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("STRIPE_WEBHOOK_SECRET#1"));
}

#[tokio::test]
async fn connect_events_name_the_account_and_v0_entries_are_ignored() {
    let request = sample("stripe-connect-account", "connect");
    assert!(request.header("stripe-signature").unwrap().contains(",v0="));
    let (reply, publisher) = handle(&request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].tenant.as_deref(), Some("acct_1DevConnected0001"));
    // A v0 entry alone, even one made with the configured secret, is no proof.
    let v0 = signature(DEV_SECRET, "1700000000", &request.body);
    let (reply, publisher) = handle(&with_header(request, &format!("t={NOW},v0={v0}"))).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn only_timestamps_older_than_the_tolerance_are_refused_as_stripe_python_does() {
    for (age, accepted) in [(301, false), (3600, false), (300, true), (0, true), (-300, true), (-3600, true)] {
        let request = sample_at("stripe-payment-succeeded", NOW - age, "ts");
        let (reply, publisher) = handle(&request).await;
        if accepted {
            assert_eq!(reply.status, StatusCode::OK, "signed {age} s ago");
        } else {
            assert_unauthenticated(&reply, &publisher);
        }
    }
    // The tolerance is INLET_TIMESTAMP_TOLERANCE_SECS.
    let env = dev_settings_with(&[("INLET_TIMESTAMP_TOLERANCE_SECS", "3600")]);
    let (reply, _) =
        handle_with::<StripeFunction>(&env, &sample_at("stripe-payment-succeeded", NOW - 3600, "ts"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_replay_and_a_re_signed_retry_carry_the_same_event_id() {
    let first = sample("stripe-payment-succeeded", "retry");
    let retry = sample_at("stripe-payment-succeeded", NOW + 120, "retry");
    assert_ne!(first.header("stripe-signature"), retry.header("stripe-signature"));
    let mut ids = Vec::new();
    for request in [&first, &first, &retry] {
        let (reply, publisher) = handle(request).await;
        assert_eq!(reply.status, StatusCode::OK);
        ids.push(publisher.sent()[0].id.clone());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

#[tokio::test]
async fn forgeries_and_unreadable_headers_are_401() {
    let genuine = sample("stripe-payment-succeeded", "forged");
    let sig = signature(DEV_SECRET, "1700000000", &genuine.body);
    let mut tampered = genuine.clone();
    tampered.body = body_text(&genuine).replace("2000", "1").into_bytes();
    let mut unsigned = genuine.clone();
    unsigned.headers.remove("stripe-signature");
    let mut cases = vec![("body changed", tampered), ("no header", unsigned)];
    for (what, header) in [
        ("another secret", signature_header(&["whsec_another"], NOW, &genuine.body)),
        ("upper-case hex", format!("t={NOW},v1={}", sig.to_ascii_uppercase())),
        ("upper-case key", format!("t={NOW},V1={sig}")),
        ("space before the key", format!("t={NOW}, v1={sig}")),
        ("timestamp changed", format!("t={},v1={sig}", NOW + 1)),
        ("no t", format!("v1={sig}")),
        ("t not a number", format!("t=soon,v1={sig}")),
        ("t with a fraction", format!("t={NOW}.0,v1={sig}")),
        ("a t item without =", format!("t={NOW},v1={sig},t")),
        ("a v1 item without =", format!("t={NOW},v1,v1={sig}")),
        ("no v1", format!("t={NOW}")),
        ("empty", String::new()),
    ] {
        cases.push((what, with_header(genuine.clone(), &header)));
    }
    for (what, request) in &cases {
        let (reply, publisher) = handle(request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_unauthenticated(&reply, &publisher);
    }
}

#[tokio::test]
async fn header_forms_stripe_python_accepts_are_accepted() {
    let genuine = sample("stripe-payment-succeeded", "forms");
    let sig = signature(DEV_SECRET, "1700000000", &genuine.body);
    for (what, header) in [
        ("leading zeros in t (signed as the integer)", format!("t=0{NOW},v1={sig}")),
        ("spaces around t's value", format!("t= {NOW} ,v1={sig}")),
        ("underscores in t", "t=1_700_000_000,v1=SIG".replace("SIG", &sig)),
        ("a plus sign", format!("t=+{NOW},v1={sig}")),
        ("text after a second =", format!("t={NOW},v1={sig}=trailing")),
        ("v1 first, unknown items", format!("v1=00,v1={sig},x=1,t={NOW},scheme")),
        ("a second t is not read", format!("t={NOW},v1={sig},t=1")),
    ] {
        let (reply, _) = handle(&with_header(genuine.clone(), &header)).await;
        assert_eq!(reply.status, StatusCode::OK, "{what}: {header}");
    }
}

#[tokio::test]
async fn events_without_an_id_or_type_are_400_after_verification() {
    for (body, reason) in [
        ("{oops".to_string(), "not valid JSON"),
        (json!({"type": "charge.succeeded"}).to_string(), "no id"),
        (json!({"id": "evt_1", "type": ""}).to_string(), "no type"),
        (json!({"id": 7, "type": "x"}).to_string(), "no id"),
    ] {
        let header = signature_header(&[DEV_SECRET], NOW, body.as_bytes());
        let request = signed_request("bad", "bad", body, &header).to_incoming();
        let (reply, publisher) = handle(&request).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, reason);
    }
}

#[test]
fn the_header_is_read_as_stripe_python_reads_it() {
    let header = parse_signature_header("t=0017,v1=a,v0=b,v1=c=d,x").unwrap();
    assert_eq!((header.timestamp.as_str(), header.v1), ("17", vec!["a", "c"]));
    assert_eq!(parse_signature_header("t=-0,v1=a").unwrap().timestamp, "0");
    assert_eq!(parse_signature_header("t=-5,v1=a").unwrap().timestamp, "-5");
    assert_eq!(parse_signature_header("t=00,v1=a").unwrap().timestamp, "0");
    for refused in
        ["", "v1=a", "t=1", "t=,v1=a", "t=1__0,v1=a", "t=_1,v1=a", "t=1_,v1=a", "t=1,v1", "t,t=1,v1=a", "t=- 1,v1=a"]
    {
        assert!(parse_signature_header(refused).is_err(), "{refused:?}");
    }
    let huge = format!("t={},v1=a", "9".repeat(40));
    assert_eq!(parse_signature_header(&huge).unwrap().timestamp.len(), 40);
}

#[test]
fn start_up_requires_endpoint_signing_secrets() {
    for bad in ["", " , ", "sk_test_123", "whsec_", "whsec_ok,rk_live_x"] {
        let env: std::collections::HashMap<&str, &str> = [("STRIPE_WEBHOOK_SECRET", bad)].into();
        assert!(StripeFunction::from_env(&env).is_err(), "{bad:?} must be refused");
    }
    let env: std::collections::HashMap<&str, &str> = [("STRIPE_WEBHOOK_SECRET", "whsec_a, whsec_b")].into();
    assert!(StripeFunction::from_env(&env).is_ok());
}

/// What the log says about a refusal (the answer says nothing: one uniform
/// 401).
#[tokio::test]
async fn the_log_says_which_check_refused_and_never_the_secret() {
    let logs = CapturedLogs::start();
    let sample = |at: i64| {
        StripeFunction::sample("stripe-payment-succeeded", &dev_settings(), at, "logs").expect("sample").to_incoming()
    };
    let cases = [
        (sample(NOW - 301), "outside the allowed window"),
        (
            {
                let mut forged = sample(NOW);
                forged.headers.insert("stripe-signature", HeaderValue::from_static("t=1700000000,v1=00"));
                forged
            },
            "Stripe-Signature does not match",
        ),
        (
            {
                let mut unreadable = sample(NOW);
                unreadable.headers.insert("stripe-signature", HeaderValue::from_static("v1=00"));
                unreadable
            },
            "Stripe-Signature cannot be read: no t item",
        ),
        (
            {
                let mut unsigned = sample(NOW);
                unsigned.headers.remove("stripe-signature");
                unsigned
            },
            "missing stripe-signature",
        ),
    ];
    for (request, logged) in cases {
        let (reply, publisher) = handle_with::<StripeFunction>(&dev_settings(), &request, NOW).await;
        assert_unauthenticated(&reply, &publisher);
        assert!(logs.text().contains(logged), "{logged}: {}", logs.text());
    }
    assert!(!logs.text().contains("dev-stripe-endpoint-secret"), "{}", logs.text());
}
