//! inlet against Stripe's official library, stripe-python 14 (installed in
//! the project venv by `make tools`), through `tests/stripe_check.py`.
//!
//! What the library accepts, inlet accepts; what it refuses, inlet refuses.
//! Each case is judged three ways on both sides: not authenticated
//! (library: `verify_header` raises; inlet: 401), authenticated but not an
//! event (library: `construct_event` raises after the signature passed;
//! inlet: 400), or an event (library: an `Event`; inlet: 2xx).
//!
//! - `inlet_and_stripe_python_agree_on_samples_and_forgeries`: inlet's
//!   samples, forgeries, timestamps at and past the tolerance both ways, and
//!   header forms the library's parser accepts or refuses.
//! - `requests_signed_by_stripe_python_are_accepted_by_inlet`: headers made
//!   the way stripe-python's own tests make them (`_compute_signature`),
//!   plain, with two `v1` entries (a secret roll) and with a `v0` entry.
//!
//! Timestamps: stripe-python refuses only a `t` older than its tolerance;
//! inlet follows it (future timestamps are accepted; why that is safe is in
//! `stripe::is_too_old`), and the cases below assert it both ways.
//!
//! The one deliberate difference: inlet needs the event's `id` (its dedup
//! key) and `type` (its kind); `construct_event` builds an Event from any
//! JSON. Asserted as `InletRefusesBody` below.
//!
//! v2 thin event notifications are judged against the library's reader of
//! them, `StripeClient.parse_event_notification`, both ways:
//! `inlet_and_stripe_python_agree_on_thin_event_notifications` and
//! `thin_notifications_signed_by_stripe_python_are_read_alike_by_inlet`
//! (the same id, type and account read by both). Where that reader needs a
//! field inlet does not use (`created`; `related_object` for the types it
//! knows), inlet keeps the notification: asserted there, with the reason.

use std::path::Path;

use inlet_shared::ingress::IncomingRequest;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::crosscheck::ExpectOutcome::{Both, BothRefuse, InletRefusesBody};
use inlet_testkit::crosscheck::Outcome::{self, Event, NotAnEvent, Unauthenticated};
use inlet_testkit::crosscheck::{
    CaseConfig, Runtime, Verdicts, base64_of, cross_check, run_library, with_body, with_header, without_header,
};
use inlet_testkit::samples::{dev_settings_with, handle_with};
use serde_json::{Value, json};
use stripe::samples::signed_request;
use stripe::{StripeFunction, signature, signature_header};

const NOW: i64 = 1_700_000_000;
const DEV_SECRET: &str = "whsec_dev-stripe-endpoint-secret-NOT-A-SECRET";

fn stripe_python(input: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stripe_check.py");
    run_library(Runtime::VenvPython, &script, input, "library", "stripe 14.0.1")
}

fn sample_at(name: &str, timestamp: i64) -> IncomingRequest {
    StripeFunction::sample(name, &dev_settings(), timestamp, "stripe-python").expect("a Stripe sample").to_incoming()
}

fn with_signature(request: IncomingRequest, value: &str) -> IncomingRequest {
    with_header(request, "stripe-signature", value)
}

/// A request for `body` whose header is `header` with `{sig}` replaced by
/// the dev secret's signature over `{signed_t}.{body}`.
fn signed(body: &str, header: &str, signed_t: &str) -> IncomingRequest {
    let header = header.replace("{sig}", &signature(DEV_SECRET, signed_t, body.as_bytes()));
    signed_request("case", "case", body.to_string(), &header).to_incoming()
}

/// The secrets both sides are configured with.
struct Secrets(Vec<&'static str>);

impl CaseConfig for Secrets {
    fn library_json(&self, request: &IncomingRequest) -> Value {
        json!({ "secrets": self.0, "header": request.header("stripe-signature") })
    }

    async fn inlet_status(&self, request: &IncomingRequest, now: i64) -> http::StatusCode {
        let env = dev_settings_with(&[("STRIPE_WEBHOOK_SECRET", &self.0.join(","))]);
        handle_with::<StripeFunction>(&env, request, now).await.0.status
    }
}

type Case = inlet_testkit::crosscheck::Case<Secrets>;

#[tokio::test]
async fn inlet_and_stripe_python_agree_on_samples_and_forgeries() {
    let payment = sample_at("stripe-payment-succeeded", NOW);
    let body = String::from_utf8(payment.body.clone()).expect("UTF-8");
    let sig = signature(DEV_SECRET, &NOW.to_string(), &payment.body);
    let dev = vec![DEV_SECRET];
    let huge_t = "9".repeat(25);
    let case = |name, request, now, expect| Case { name, config: Secrets(dev.clone()), request, now, expect };
    let mut cases = vec![
        case("stripe-payment-succeeded", payment.clone(), NOW, Both(Event)),
        case("stripe-rotated-secret", sample_at("stripe-rotated-secret", NOW), NOW, Both(Event)),
        case("stripe-connect-account", sample_at("stripe-connect-account", NOW), NOW, Both(Event)),
        // Timestamps: only too old is refused, by both.
        case("signed 300 s ago", payment.clone(), NOW + 300, Both(Event)),
        case("signed 301 s ago", payment.clone(), NOW + 301, Both(Unauthenticated)),
        case("signed an hour ago", payment.clone(), NOW + 3600, Both(Unauthenticated)),
        case("signed 301 s in the future", payment.clone(), NOW - 301, Both(Event)),
        case("signed a day in the future", payment.clone(), NOW - 86_400, Both(Event)),
        case(
            "t of 25 digits, signed as such",
            signed(&body, &format!("t={huge_t},v1={{sig}}"), &huge_t),
            NOW,
            Both(Event),
        ),
        case("t negative", signed(&body, "t=-1,v1={sig}", "-1"), NOW, Both(Unauthenticated)),
        // Forgeries.
        case("body changed", with_body(payment.clone(), body.replace("2000", "1")), NOW, Both(Unauthenticated)),
        case(
            "another secret",
            with_signature(payment.clone(), &signature_header(&["whsec_other"], NOW, &payment.body)),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "upper-case hex",
            with_signature(payment.clone(), &format!("t={NOW},v1={}", sig.to_ascii_uppercase())),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "t changed",
            with_signature(payment.clone(), &format!("t={},v1={sig}", NOW + 1)),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "v0 only, with the right secret",
            with_signature(payment.clone(), &format!("t={NOW},v0={sig}")),
            NOW,
            Both(Unauthenticated),
        ),
        case("V1 key", with_signature(payment.clone(), &format!("t={NOW},V1={sig}")), NOW, Both(Unauthenticated)),
        case(
            "space before the key",
            with_signature(payment.clone(), &format!("t={NOW}, v1={sig}")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "t with a fraction",
            with_signature(payment.clone(), &format!("t={NOW}.0,v1={sig}")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "a later t without =",
            with_signature(payment.clone(), &format!("t={NOW},v1={sig},t")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "a v1 without =",
            with_signature(payment.clone(), &format!("t={NOW},v1,v1={sig}")),
            NOW,
            Both(Unauthenticated),
        ),
        case("no t", with_signature(payment.clone(), &format!("v1={sig}")), NOW, Both(Unauthenticated)),
        case("empty header", with_signature(payment.clone(), ""), NOW, Both(Unauthenticated)),
        case("no header", without_header(payment.clone(), "stripe-signature"), NOW, Both(Unauthenticated)),
        // Header forms the library's parser takes.
        case("leading zeros in t", with_signature(payment.clone(), &format!("t=000{NOW},v1={sig}")), NOW, Both(Event)),
        case(
            "spaces around t's value",
            with_signature(payment.clone(), &format!("t= {NOW} ,v1={sig}")),
            NOW,
            Both(Event),
        ),
        case(
            "underscores in t",
            with_signature(payment.clone(), &format!("t=1_700_000_000,v1={sig}")),
            NOW,
            Both(Event),
        ),
        case("plus sign on t", with_signature(payment.clone(), &format!("t=+{NOW},v1={sig}")), NOW, Both(Event)),
        case(
            "text after a second =",
            with_signature(payment.clone(), &format!("t={NOW},v1={sig}=x")),
            NOW,
            Both(Event),
        ),
        case(
            "unknown items and order",
            with_signature(payment.clone(), &format!("v1=00,x=1,v1={sig},t={NOW},flag")),
            NOW,
            Both(Event),
        ),
        case(
            "a second t is not read",
            with_signature(payment.clone(), &format!("t={NOW},v1={sig},t=1")),
            NOW,
            Both(Event),
        ),
        // Authenticated, then the body.
        case("not JSON", signed("{oops", &format!("t={NOW},v1={{sig}}"), &NOW.to_string()), NOW, Both(NotAnEvent)),
        case(
            "not UTF-8",
            {
                let bytes = b"{\"id\":\"evt_\xff\"}";
                let h = format!("t={NOW},v1={}", signature(DEV_SECRET, &NOW.to_string(), bytes));
                with_body(with_signature(payment.clone(), &h), bytes.to_vec())
            },
            NOW,
            BothRefuse,
        ),
        case(
            "JSON without id or type",
            signed(r#"{"object": "event"}"#, &format!("t={NOW},v1={{sig}}"), &NOW.to_string()),
            NOW,
            InletRefusesBody("the event id is inlet's dedup key and the type its kind"),
        ),
    ];
    cases.push(Case {
        name: "rotation: the second configured secret signed",
        config: Secrets(vec!["whsec_new-endpoint-secret", DEV_SECRET]),
        request: payment.clone(),
        now: NOW,
        expect: Both(Event),
    });

    cross_check("stripe-python", stripe_python, &cases).await;
}

#[tokio::test]
async fn requests_signed_by_stripe_python_are_accepted_by_inlet() {
    let payment = String::from_utf8(sample_at("stripe-payment-succeeded", NOW).body).expect("UTF-8");
    // Python's json.dumps formatting (ASCII escapes, ", " and ": ").
    let python_json = r#"{"id": "evt_1PyFormatted", "object": "event", "type": "customer.created", "data": {"object": {"name": "Caf\u00e9 \u2615"}}}"#;
    let raw_utf8 = json!({"id": "evt_1RawUtf8", "object": "event", "type": "customer.updated", "data": {"object": {"name": "企业 🚀"}}}).to_string();
    let recipes = [
        ("sample body, plain", payment.as_str(), NOW, "plain"),
        ("sample body, secret roll", payment.as_str(), NOW, "rolled"),
        ("sample body, with v0", payment.as_str(), NOW, "with-v0"),
        ("Python JSON", python_json, NOW, "plain"),
        ("raw UTF-8", raw_utf8.as_str(), NOW, "rolled"),
        ("signed 299 s ago", payment.as_str(), NOW - 299, "plain"),
        ("signed 10 min ahead", payment.as_str(), NOW + 600, "plain"),
    ];
    let sign: Vec<Value> = recipes
        .iter()
        .map(|(name, body, t, variant)| {
            json!({"name": name, "secret": DEV_SECRET, "body_b64": base64_of(body), "timestamp": t, "variant": variant})
        })
        .collect();
    let report = stripe_python(&json!({ "sign": sign }));
    for (name, body, t, variant) in recipes {
        let signed = &report["signed"][name];
        let header = signed["header"].as_str().unwrap_or_else(|| panic!("{name}: not signed: {report}"));
        assert_eq!(signed["library_accepts"], true, "{name}: stripe-python must accept its own header");
        if variant == "plain" {
            assert_eq!(header, signature_header(&[DEV_SECRET], t, body.as_bytes()), "{name}: the same formula");
        }
        let request = signed_request(name, name, body.to_string(), header).to_incoming();
        let (reply, publisher) = handle_with::<StripeFunction>(&dev_settings(), &request, NOW).await;
        assert!(
            reply.status.is_success(),
            "{name}: inlet refused what stripe-python signed: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(publisher.sent().len(), 1, "{name}");
    }
}

/// v2 thin event notifications (`object: "v2.core.event"`), which event
/// destinations send. stripe-python reads them with
/// `StripeClient.parse_event_notification`; its `construct_event` is for
/// snapshot events (stripe 14 still returns an `Event` for a thin body;
/// stripe 15 refuses one), so here the library's outcome is the
/// notification's: unauthenticated, authenticated but not a notification
/// it can read, or a notification.
#[tokio::test]
async fn inlet_and_stripe_python_agree_on_thin_event_notifications() {
    let thin = sample_at("stripe-thin-event", NOW);
    let event: Value = serde_json::from_slice(&thin.body).expect("JSON");
    let body = |change: &dyn Fn(&mut Value)| {
        let mut changed = event.clone();
        change(&mut changed);
        serde_json::to_string_pretty(&changed).expect("JSON")
    };
    let sign = |text: String| signed(&text, &format!("t={NOW},v1={{sig}}"), &NOW.to_string());
    let without = |field: &'static str| sign(body(&|e| drop(e.as_object_mut().expect("object").remove(field))));
    let text = String::from_utf8(thin.body.clone()).expect("UTF-8");
    let unknown_type = body(&|e| {
        e["type"] = json!("v2.core.account.closed");
        e.as_object_mut().expect("object").remove("related_object");
    });
    let case = |name, request, now, expect| Case { name, config: Secrets(vec![DEV_SECRET]), request, now, expect };
    let cases = vec![
        case("stripe-thin-event", thin.clone(), NOW, Both(Event)),
        case("a type the library does not know, without a related object", sign(unknown_type), NOW, Both(Event)),
        case("no context (the platform's own)", without("context"), NOW, Both(Event)),
        case("signed 301 s ago", thin.clone(), NOW + 301, Both(Unauthenticated)),
        case(
            "body changed",
            with_body(thin.clone(), text.replace("billing.meter", "billing.metre")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "another secret",
            with_signature(thin.clone(), &signature_header(&["whsec_other"], NOW, &thin.body)),
            NOW,
            Both(Unauthenticated),
        ),
        case("no id", without("id"), NOW, Both(NotAnEvent)),
        case("no type", without("type"), NOW, Both(NotAnEvent)),
    ];
    // Where inlet keeps what the library cannot read: fields inlet does not
    // use. Refusing would have Stripe retry the notification for 3 days,
    // then disable the endpoint.
    let lenient = [
        ("no created", without("created")),
        ("a type the library knows, without its related object", without("related_object")),
    ];
    let mut all: Vec<Value> = cases.iter().map(Case::json).collect();
    all.extend(lenient.iter().map(|(name, request)| {
        json!({"name": name, "secrets": [DEV_SECRET], "body_b64": base64_of(&request.body),
               "header": request.header("stripe-signature"), "now": NOW})
    }));
    let report = stripe_python(&json!({ "verdicts": all }));
    let notification = |name: &str| {
        let verdict = &report["verdicts"][name];
        json!({"authenticated": verdict["authenticated"], "event": verdict["notification"], "error": verdict["error"]})
    };
    let mut verdicts = Verdicts::new("stripe-python parse_event_notification");
    for case in &cases {
        verdicts.judge_verdict(case.name, case.expect, &notification(case.name), case.inlet_status().await);
    }
    for (name, request) in &lenient {
        let library = Outcome::of_verdict(&notification(name));
        let status = handle_with::<StripeFunction>(&dev_settings(), request, NOW).await.0.status;
        let expected = "library NotAnEvent, inlet Event: a field inlet does not read";
        let agrees = library == NotAnEvent && Outcome::of_status(status) == Event;
        verdicts.record(name, &expected, agrees, format_args!("{library:?}"), status);
    }
    verdicts.assert_all_agree();
    // construct_event in the pinned stripe 14 has no opinion on thin events
    // (it returns an Event); from stripe 15 it refuses them. This notes the
    // version the text above describes.
    assert_eq!(report["verdicts"]["stripe-thin-event"]["event"], true, "{report}");
}

#[tokio::test]
async fn thin_notifications_signed_by_stripe_python_are_read_alike_by_inlet() {
    let sample = String::from_utf8(sample_at("stripe-thin-event", NOW).body).expect("UTF-8");
    // Python's json.dumps formatting, a type stripe-python does not know, and no related object.
    let python_json = r#"{"id": "evt_test_65PyFormatted00000000000000000000000001", "object": "v2.core.event", "type": "v2.core.account.closed", "livemode": false, "created": "2023-11-14T22:13:20.000Z", "context": "acct_1PyConnected00001"}"#;
    let platform = r#"{"id":"evt_test_65Platform0000000000000000000000000001","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered","livemode":false,"created":"2023-11-14T22:13:20.000Z","related_object":{"id":"mtr_test_61Platform","type":"billing.meter","url":"/v1/billing/meters/mtr_test_61Platform"}}"#;
    let recipes = [
        ("thin sample, plain", sample.as_str(), "plain"),
        ("thin sample, secret roll", sample.as_str(), "rolled"),
        ("Python JSON", python_json, "plain"),
        ("platform, compact", platform, "with-v0"),
    ];
    let sign: Vec<Value> = recipes
        .iter()
        .map(|(name, body, variant)| {
            json!({"name": name, "secret": DEV_SECRET, "body_b64": base64_of(body), "timestamp": NOW, "variant": variant})
        })
        .collect();
    let report = stripe_python(&json!({ "sign": sign }));
    for (name, body, _) in recipes {
        let signed = &report["signed"][name];
        let read = &signed["notification"];
        assert!(read.is_object(), "{name}: stripe-python must read the notification it signed: {report}");
        let header = signed["header"].as_str().unwrap_or_else(|| panic!("{name}: not signed: {report}"));
        let request = signed_request(name, name, body.to_string(), header).to_incoming();
        let (reply, publisher) = handle_with::<StripeFunction>(&dev_settings(), &request, NOW).await;
        assert!(reply.status.is_success(), "{name}: inlet refused what stripe-python signed: {}", reply.status);
        let envelope = &publisher.sent()[0];
        // inlet reads the notification as the library does.
        assert_eq!(
            Some(envelope.id.as_str()),
            read["id"].as_str().map(|id| format!("stripe:{id}")).as_deref(),
            "{name}"
        );
        assert_eq!(Some(envelope.kind.as_str()), read["type"].as_str(), "{name}");
        assert_eq!(envelope.tenant.as_deref(), read["context"].as_str().filter(|c| !c.is_empty()), "{name}");
        let fetch = envelope.fetch.as_ref().unwrap_or_else(|| panic!("{name}: no fetch"));
        assert_eq!(fetch.get("related_object").unwrap_or(&Value::Null), &read["related_object"], "{name}");
        assert_eq!(fetch["event"], format!("/v2/core/events/{}", read["id"].as_str().unwrap_or_default()), "{name}");
    }
}
