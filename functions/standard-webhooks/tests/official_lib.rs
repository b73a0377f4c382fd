//! inlet against the specification's reference library, the
//! `standardwebhooks` Python package 1.0 (installed in the project venv by
//! `make tools`), through `tests/standardwebhooks_check.py`.
//!
//! What the library accepts, inlet accepts; what it refuses, inlet refuses.
//! Each case is judged three ways on both sides: not authenticated
//! (library: `verify` raises before the signature passed; inlet: 401),
//! authenticated but not an event (library: `json.loads` raises after it;
//! inlet: 400), or an event (library: `verify` returns; inlet: 2xx). The
//! library verifies with the secrets of the source the path names.
//!
//! - `inlet_and_standardwebhooks_agree_on_samples_and_forgeries`: inlet's
//!   samples, the public vector, forgeries, timestamps at and past ±300 s,
//!   signature lists the library's loop accepts or refuses, base64 forms it
//!   decodes leniently, and requests for another or an unknown source.
//! - `requests_signed_by_standardwebhooks_are_accepted_by_inlet`: the
//!   library's own `sign` over several bodies and timestamps.
//!
//! Where inlet deliberately differs (asserted as `InletStricter`): a
//! `webhook-timestamp` with a fraction or an exponent, which the library
//! reads with `float()`; the specification says integer seconds, and
//! reading decimals would make inlet round the way Python's float does.

use std::collections::HashMap;
use std::path::Path;

use inlet_shared::crosscheck::ExpectOutcome::{self, Both, BothRefuse, InletStricter};
use inlet_shared::crosscheck::Outcome::{Event, NotAnEvent, Unauthenticated};
use inlet_shared::crosscheck::{
    Runtime, Verdicts, base64_of, headers_json, run_library, with_body, with_header, without_header,
};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::samples::{Samples, dev_settings, dev_settings_with, handle_with};
use serde_json::{Value, json};
use standard_webhooks::StandardWebhooksFunction;
use standard_webhooks::samples::signed_request;
use standard_webhooks::scheme::{lenient_secret_key, sign};

const NOW: i64 = 1_700_000_000;
const DEV_SECRET: &str = "whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLU5PVC1BLVNFQ1JFVA==";
const OTHER_SECRET: &str = "whsec_b3RoZXItc291cmNlLXNlY3JldC1OT1QtQS1TRUNSRVQ=";
const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const VECTOR_TIMESTAMP: i64 = 1_649_367_553;
const VECTOR_BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

fn standardwebhooks(input: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standardwebhooks_check.py");
    run_library(Runtime::VenvPython, &script, input, "library", "standardwebhooks 1.0.0")
}

fn sample(name: &str) -> IncomingRequest {
    StandardWebhooksFunction::sample(name, &dev_settings(), NOW, "standardwebhooks").expect("a sample").to_incoming()
}

fn at_source(mut request: IncomingRequest, source: &str) -> IncomingRequest {
    request.path = format!("/webhooks/{source}");
    request.path_params.insert("source".into(), source.into());
    request
}

fn signed(source: &str, secret: &str, id: &str, timestamp: i64, body: &[u8]) -> IncomingRequest {
    let key = lenient_secret_key(secret).expect("base64 secret");
    let signature = sign(&key, id, timestamp, body);
    let mut request = signed_request("c", "c", source, id, timestamp, String::new(), &signature).to_incoming();
    request.body = body.to_vec();
    request
}

struct Case {
    name: &'static str,
    /// inlet's `STANDARD_WEBHOOKS_SECRETS`.
    settings: String,
    /// The library's secrets: those of the source the path names.
    library_secrets: Vec<&'static str>,
    request: IncomingRequest,
    now: i64,
    expect: ExpectOutcome,
}

impl Case {
    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "secrets": self.library_secrets,
            "body_b64": base64_of(&self.request.body),
            "headers": headers_json(&self.request, "webhook-"),
            "now": self.now,
        })
    }

    async fn inlet_status(&self) -> http::StatusCode {
        let env: HashMap<String, String> = dev_settings_with(&[("STANDARD_WEBHOOKS_SECRETS", &self.settings)]);
        let (reply, _) = handle_with::<StandardWebhooksFunction>(&env, &self.request, self.now).await;
        reply.status
    }
}

/// The base64 of a `v1,<base64>` signature changed without changing the
/// bytes it decodes to, in the ways Python's lenient decoder allows.
fn lenient_forms(signature: &str) -> (String, String) {
    let b64 = signature.trim_start_matches("v1,");
    let junk = format!("v1,{}!{}", &b64[..10], &b64[10..]);
    // 32 bytes: the last character before "=" carries 4 bits and 2 unused ones.
    let last = b64.as_bytes()[b64.len() - 2];
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let index = alphabet.find(last as char).expect("base64");
    let flipped = alphabet.as_bytes()[index ^ 1] as char;
    let trailing = format!("v1,{}{flipped}=", &b64[..b64.len() - 2]);
    (junk, trailing)
}

#[tokio::test]
async fn inlet_and_standardwebhooks_agree_on_samples_and_forgeries() {
    let event = sample("standard-webhooks-event");
    let own = event.header("webhook-signature").expect("signed").to_string();
    let (junk, trailing_bits) = lenient_forms(&own);
    let dev_settings = format!("devsource={DEV_SECRET}");
    let dev = vec![DEV_SECRET];
    let case = |name, request, now, expect| Case {
        name,
        settings: dev_settings.clone(),
        library_secrets: dev.clone(),
        request,
        now,
        expect,
    };
    let body = String::from_utf8(event.body.clone()).expect("UTF-8");
    let mut cases = vec![
        case("standard-webhooks-event", event.clone(), NOW, Both(Event)),
        case("standard-webhooks-several-signatures", sample("standard-webhooks-several-signatures"), NOW, Both(Event)),
        // Timestamps: ±300 s both ways, in both.
        case("signed 300 s ago", event.clone(), NOW + 300, Both(Event)),
        case("signed 301 s ago", event.clone(), NOW + 301, Both(Unauthenticated)),
        case("signed 300 s ahead", event.clone(), NOW - 300, Both(Event)),
        case("signed 301 s ahead", event.clone(), NOW - 301, Both(Unauthenticated)),
        case(
            "timestamp with leading zeros",
            with_header(event.clone(), "webhook-timestamp", &format!("00{NOW}")),
            NOW,
            Both(Event),
        ),
        case(
            "timestamp with spaces",
            with_header(event.clone(), "webhook-timestamp", &format!(" {NOW} ")),
            NOW,
            Both(Event),
        ),
        case(
            "timestamp with underscores",
            with_header(event.clone(), "webhook-timestamp", "1_700_000_000"),
            NOW,
            Both(Event),
        ),
        case(
            "timestamp not a number",
            with_header(event.clone(), "webhook-timestamp", "soon"),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "timestamp changed",
            with_header(event.clone(), "webhook-timestamp", &(NOW + 1).to_string()),
            NOW,
            Both(Unauthenticated),
        ),
        // Signature lists, read in order.
        case(
            "a v1a entry first",
            with_header(event.clone(), "webhook-signature", &format!("v1a,AAAA {own}")),
            NOW,
            Both(Event),
        ),
        case(
            "an unreadable entry after the match",
            with_header(event.clone(), "webhook-signature", &format!("{own} v1,a,b")),
            NOW,
            Both(Event),
        ),
        case(
            "an unreadable entry before the match",
            with_header(event.clone(), "webhook-signature", &format!("v1,a,b {own}")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "an undecodable v1 before the match",
            with_header(event.clone(), "webhook-signature", &format!("v1,YQ {own}")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "a v2 entry that is not base64 before the match",
            with_header(event.clone(), "webhook-signature", &format!("v2,%% {own}")),
            NOW,
            Both(Event),
        ),
        case(
            "two spaces",
            with_header(event.clone(), "webhook-signature", &own.replace("v1,", "v1a,x  v1,")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "only v1a",
            with_header(event.clone(), "webhook-signature", &own.replace("v1,", "v1a,")),
            NOW,
            Both(Unauthenticated),
        ),
        case(
            "V1 in capitals",
            with_header(event.clone(), "webhook-signature", &own.replace("v1,", "V1,")),
            NOW,
            Both(Unauthenticated),
        ),
        case("base64 with a stray character", with_header(event.clone(), "webhook-signature", &junk), NOW, Both(Event)),
        case(
            "base64 with unused bits set",
            with_header(event.clone(), "webhook-signature", &trailing_bits),
            NOW,
            Both(Event),
        ),
        case(
            "base64 without its padding",
            with_header(event.clone(), "webhook-signature", own.trim_end_matches('=')),
            NOW,
            Both(Unauthenticated),
        ),
        // Forgeries and missing headers.
        case("body changed", with_body(event.clone(), body.replace("4200", "1")), NOW, Both(Unauthenticated)),
        case("id changed", with_header(event.clone(), "webhook-id", "msg_other"), NOW, Both(Unauthenticated)),
        case("another secret", signed("devsource", OTHER_SECRET, "msg_o", NOW, b"{}"), NOW, Both(Unauthenticated)),
        case("no webhook-id", without_header(event.clone(), "webhook-id"), NOW, Both(Unauthenticated)),
        case("no webhook-timestamp", without_header(event.clone(), "webhook-timestamp"), NOW, Both(Unauthenticated)),
        case("no webhook-signature", without_header(event.clone(), "webhook-signature"), NOW, Both(Unauthenticated)),
        case("empty webhook-id", with_header(event.clone(), "webhook-id", ""), NOW, Both(Unauthenticated)),
        // Authenticated, then the body.
        case("not JSON", signed("devsource", DEV_SECRET, "msg_j", NOW, b"not json"), NOW, Both(NotAnEvent)),
        case("not UTF-8", signed("devsource", DEV_SECRET, "msg_u", NOW, b"{\"a\":\"\xff\"}"), NOW, BothRefuse),
        // Deliberately stricter.
        case(
            "timestamp with a fraction",
            with_header(event.clone(), "webhook-timestamp", &format!("{NOW}.0")),
            NOW,
            InletStricter("integer seconds, as the specification says"),
        ),
        case(
            "timestamp as an exponent",
            with_header(event.clone(), "webhook-timestamp", "1.7e9"),
            NOW,
            InletStricter("integer seconds, as the specification says"),
        ),
    ];
    // Sources.
    let two = format!("devsource={DEV_SECRET},other={OTHER_SECRET}");
    cases.push(Case {
        name: "signed for devsource, sent to other",
        settings: two.clone(),
        library_secrets: vec![OTHER_SECRET],
        request: at_source(event.clone(), "other"),
        now: NOW,
        expect: Both(Unauthenticated),
    });
    cases.push(Case {
        name: "signed for other, sent to other",
        settings: two.clone(),
        library_secrets: vec![OTHER_SECRET],
        request: signed("other", OTHER_SECRET, "msg_other", NOW, b"{\"type\":\"x\"}"),
        now: NOW,
        expect: Both(Event),
    });
    cases.push(Case {
        name: "unknown source",
        settings: two,
        library_secrets: vec![],
        request: at_source(event.clone(), "nosuchsource"),
        now: NOW,
        expect: Both(Unauthenticated),
    });
    cases.push(Case {
        name: "public vector, secret configured without whsec_",
        settings: format!("vector={}", VECTOR_SECRET.trim_start_matches("whsec_")),
        library_secrets: vec![VECTOR_SECRET],
        request: signed_request("v", "v", "vector", VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY.into(), VECTOR_SIGNATURE)
            .to_incoming(),
        now: VECTOR_TIMESTAMP,
        expect: Both(Event),
    });

    let report = standardwebhooks(&json!({ "verdicts": cases.iter().map(Case::json).collect::<Vec<_>>() }));
    let mut verdicts = Verdicts::new("standardwebhooks");
    for case in &cases {
        verdicts.judge_verdict(case.name, case.expect, &report["verdicts"][case.name], case.inlet_status().await);
    }
    verdicts.assert_all_agree();
}

#[tokio::test]
async fn requests_signed_by_standardwebhooks_are_accepted_by_inlet() {
    let event = String::from_utf8(sample("standard-webhooks-event").body).expect("UTF-8");
    let unicode = json!({"type": "message.sent", "data": {"text": "Zoë — 企业 🚀 \"quoted\""}}).to_string();
    let python = r#"{"type": "user.deleted", "data": {"name": "Caf\u00e9"}}"#;
    let recipes = [
        ("sample body", DEV_SECRET, "msg_2Lib1", NOW, event.as_str()),
        ("non-ASCII JSON", DEV_SECRET, "msg_2Lib2", NOW, unicode.as_str()),
        ("Python JSON", DEV_SECRET, "msg_2Lib3", NOW, python),
        ("signed 299 s ago", DEV_SECRET, "msg_2Lib4", NOW - 299, event.as_str()),
        ("signed 299 s ahead", DEV_SECRET, "msg_2Lib5", NOW + 299, event.as_str()),
        ("public vector", VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY),
    ];
    let sign_input: Vec<Value> = recipes
        .iter()
        .map(|(name, secret, id, t, body)| {
            json!({"name": name, "secret": secret, "msg_id": id, "timestamp": t, "body_b64": base64_of(body)})
        })
        .collect();
    let report = standardwebhooks(&json!({ "sign": sign_input }));
    assert_eq!(report["signed"]["public vector"]["signature"], VECTOR_SIGNATURE);
    for (name, secret, id, t, body) in recipes {
        let signed = &report["signed"][name];
        let signature = signed["signature"].as_str().unwrap_or_else(|| panic!("{name}: not signed: {report}"));
        assert_eq!(signed["library_accepts"], true, "{name}: the library must accept its own signature");
        let key = lenient_secret_key(secret).expect("key");
        assert_eq!(signature, sign(&key, id, t, body.as_bytes()), "{name}: the same formula");
        let (source, now) = if secret == VECTOR_SECRET { ("vector", VECTOR_TIMESTAMP) } else { ("devsource", NOW) };
        let env = dev_settings_with(&[("STANDARD_WEBHOOKS_SECRETS", &format!("{source}={secret}"))]);
        let request = signed_request(name, name, source, id, t, body.to_string(), signature).to_incoming();
        let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, &request, now).await;
        assert!(
            reply.status.is_success(),
            "{name}: inlet refused what the library signed: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(publisher.sent().len(), 1, "{name}");
    }
}
