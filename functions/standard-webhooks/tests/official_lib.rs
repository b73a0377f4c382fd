//! inlet against the specification's reference library, the
//! `standardwebhooks` Python package 1.1 (installed in the project venv by
//! `make tools`), through `tests/standardwebhooks_check.py`. The library
//! implements `v1` only; for `v1a` the script carries the library's own
//! `verify` over to the specification's asymmetric row (a `whpk_` key,
//! Ed25519 from pyca/cryptography), so both versions are judged by the same
//! loop, headers and clock.
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
//! - `configured_secrets_mean_the_same_key_to_inlet_and_standardwebhooks`:
//!   secrets with and without their base64 padding (accepted by the library
//!   since 1.0.1), and the forms it refuses.
//! - `v1a_signatures_of_a_generated_key_pair_are_accepted_by_inlet`:
//!   Ed25519 signatures made in Python, with a key pair generated for the
//!   run and with RFC 8032's test key.
//!
//! Where inlet deliberately differs (asserted as `InletStricter`): a
//! `webhook-timestamp` with a fraction or an exponent, which the library
//! reads with `float()`; the specification says integer seconds, and
//! reading decimals would make inlet round the way Python's float does.

mod common;

use std::collections::HashMap;
use std::path::Path;

use inlet_shared::ingress::IncomingRequest;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::crosscheck::ExpectOutcome::{self, Both, BothRefuse, InletStricter};
use inlet_testkit::crosscheck::Outcome::{Event, NotAnEvent, Unauthenticated};
use inlet_testkit::crosscheck::{
    Runtime, Verdicts, base64_of, headers_json, run_library, with_body, with_header, without_header,
};
use inlet_testkit::samples::{dev_settings_with, handle_with};
use serde_json::{Value, json};
use standard_webhooks::StandardWebhooksFunction;
use standard_webhooks::samples::signed_request;
use standard_webhooks::scheme::{lenient_secret_key, public_key_of, secret_key, sign, sign_v1a};

use common::*;

fn standardwebhooks(input: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standardwebhooks_check.py");
    run_library(Runtime::VenvPython, &script, input, "library", "standardwebhooks 1.1.0")
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
    library_secrets: Vec<String>,
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
    let dev = vec![DEV_SECRET.to_string()];
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
        library_secrets: vec![OTHER_SECRET.into()],
        request: at_source(event.clone(), "other"),
        now: NOW,
        expect: Both(Unauthenticated),
    });
    cases.push(Case {
        name: "signed for other, sent to other",
        settings: two.clone(),
        library_secrets: vec![OTHER_SECRET.into()],
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
        library_secrets: vec![VECTOR_SECRET.into()],
        request: signed_request("v", "v", "vector", VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY.into(), VECTOR_SIGNATURE)
            .to_incoming(),
        now: VECTOR_TIMESTAMP,
        expect: Both(Event),
    });

    cases.extend(unpadded_secret_cases(&event));
    cases.extend(v1a_cases());

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

/// A secret configured without its base64 padding, on both sides: the
/// library decodes `secret + "=="` since 1.0.1 (1.0.0 raised "Incorrect
/// padding" before verifying anything).
fn unpadded_secret_cases(event: &IncomingRequest) -> Vec<Case> {
    let unpadded = DEV_SECRET.trim_end_matches('=');
    let one_pad = format!("{unpadded}=");
    let body = br#"{"type":"signed.with.the.unpadded.form"}"#;
    vec![
        Case {
            name: "secret without its padding, sample signed with the padded one",
            settings: format!("devsource={unpadded}"),
            library_secrets: vec![unpadded.into()],
            request: event.clone(),
            now: NOW,
            expect: Both(Event),
        },
        Case {
            name: "secret with one of its two pads",
            settings: format!("devsource={one_pad}"),
            library_secrets: vec![one_pad.clone()],
            request: event.clone(),
            now: NOW,
            expect: Both(Event),
        },
        Case {
            name: "secret without its padding or prefix, signed with that form",
            settings: format!("devsource={}", unpadded.trim_start_matches("whsec_")),
            library_secrets: vec![unpadded.trim_start_matches("whsec_").into()],
            request: signed("devsource", unpadded, "msg_unpadded", NOW, body),
            now: NOW,
            expect: Both(Event),
        },
        Case {
            name: "unpadded secret, request signed with another secret",
            settings: format!("devsource={unpadded}"),
            library_secrets: vec![unpadded.into()],
            request: signed("devsource", OTHER_SECRET, "msg_unpadded", NOW, body),
            now: NOW,
            expect: Both(Unauthenticated),
        },
    ]
}

/// A sender's Ed25519 seed, made here from a label.
fn seed(label: &str) -> [u8; 32] {
    inlet_shared::verify::sha256_bytes(label.as_bytes())
}

fn with_signature(source: &str, id: &str, timestamp: i64, body: &[u8], signature: &str) -> IncomingRequest {
    let mut request = signed_request("c", "c", source, id, timestamp, String::new(), signature).to_incoming();
    request.body = body.to_vec();
    request
}

/// `v1a` as the specification defines it, judged by the library's loop with
/// Ed25519 in place of HMAC, and `v1a` entries before the library itself
/// (a `whsec_` secret), which skips them.
fn v1a_cases() -> Vec<Case> {
    let sender = seed("official_lib v1a sender");
    let whpk = public_key_of(&sender);
    let body = json!({"type": "payout.sent", "data": {"amount": 4200, "note": "Zoë 🚀"}}).to_string();
    let body = body.as_bytes();
    let v1a = sign_v1a(&sender, "msg_v1a", NOW, body);
    let v1 = sign(&lenient_secret_key(DEV_SECRET).expect("key"), "msg_v1a", NOW, body);
    let public_bytes = lenient_secret_key(whpk.trim_start_matches("whpk_")).expect("base64");
    let hmac_with_public_key = sign(&public_bytes, "msg_v1a", NOW, body);
    let case = |name, keys: &[&str], signature: String, now, expect| Case {
        name,
        settings: keys.iter().map(|key| format!("devsource={key}")).collect::<Vec<_>>().join(","),
        library_secrets: keys.iter().map(|key| key.to_string()).collect(),
        request: with_signature("devsource", "msg_v1a", NOW, body, &signature),
        now,
        expect,
    };
    let public = [whpk.as_str()];
    let secret = [DEV_SECRET];
    let both = [DEV_SECRET, whpk.as_str()];
    let mut tampered = case("v1a, body changed", &public, v1a.clone(), NOW, Both(Unauthenticated));
    tampered.request.body = String::from_utf8(body.to_vec()).expect("UTF-8").replace("4200", "1").into_bytes();
    vec![
        case("v1a under the source's whpk_ key", &public, v1a.clone(), NOW, Both(Event)),
        case("v1a signed 300 s ago", &public, v1a.clone(), NOW + 300, Both(Event)),
        case("v1a signed 301 s ago", &public, v1a.clone(), NOW + 301, Both(Unauthenticated)),
        case("v1a signed 301 s ahead", &public, v1a.clone(), NOW - 301, Both(Unauthenticated)),
        tampered,
        case(
            "v1a by another key",
            &public,
            sign_v1a(&seed("someone else"), "msg_v1a", NOW, body),
            NOW,
            Both(Unauthenticated),
        ),
        case("the specification's mixed header, whpk_ key", &public, format!("{v1} {v1a}"), NOW, Both(Event)),
        case("the specification's mixed header, whsec_ secret", &secret, format!("{v1} {v1a}"), NOW, Both(Event)),
        case("mixed header, both keys listed", &both, format!("{v1a} {v1}"), NOW, Both(Event)),
        case("only v1a, at a whsec_ source", &secret, v1a.clone(), NOW, Both(Unauthenticated)),
        case("only v1, at a whpk_ source", &public, v1.clone(), NOW, Both(Unauthenticated)),
        case("v1 HMAC keyed with the public key", &public, hmac_with_public_key, NOW, Both(Unauthenticated)),
        case("Ed25519 signature labelled v1", &public, v1a.replace("v1a,", "v1,"), NOW, Both(Unauthenticated)),
        case("an unreadable entry before the v1a", &public, format!("v1a,a,b {v1a}"), NOW, Both(Unauthenticated)),
        case("an undecodable v1a before the match", &public, format!("v1a,YQ {v1a}"), NOW, Both(Unauthenticated)),
        case("an undecodable v1a before a v1 match", &secret, format!("v1a,YQ {v1}"), NOW, Both(Event)),
        case("a short v1a before the match", &public, format!("v1a,AAAA {v1a}"), NOW, Both(Event)),
        case("an unreadable entry after the v1a", &public, format!("{v1a} v1a,a,b"), NOW, Both(Event)),
    ]
}

/// What a configured secret means, asked of the library: the signature
/// `Webhook(secret)` makes over one fixed message, or the error its
/// constructor raises. Where the library makes a key, inlet makes the same
/// one (or refuses, only for the documented stricter reasons); where the
/// library refuses, inlet refuses at start-up.
#[test]
fn configured_secrets_mean_the_same_key_to_inlet_and_standardwebhooks() {
    let unpadded = DEV_SECRET.trim_end_matches('=');
    let forms: Vec<(String, Option<&str>)> = vec![
        (DEV_SECRET.into(), None),
        (unpadded.into(), None),
        (format!("{unpadded}="), None),
        (unpadded.trim_start_matches("whsec_").into(), None),
        (VECTOR_SECRET.into(), None),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS".into(), None),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr".into(), None),
        ("whsec_YQ".into(), None),
        ("whsec_YQ===".into(), None),
        ("whsec_YWJjZ".into(), None),
        ("whsec_YWJjZ==".into(), None),
        ("whsec_a".into(), None),
        ("whsec_".into(), None),
        ("whsec_YW!Jj".into(), Some("a character outside base64 is a copying mistake")),
        ("whsec_YWJj-_".into(), Some("a character outside base64 is a copying mistake")),
    ];
    let input: Vec<Value> =
        forms.iter().map(|(secret, _)| json!({"name": secret, "secret": secret})).collect::<Vec<_>>();
    let report = standardwebhooks(&json!({ "keys": input }));
    let (id, body) = ("msg_key", b"{}".as_slice());
    let mut disagreements = Vec::new();
    for (secret, stricter) in &forms {
        let library = &report["keys"][secret.as_str()];
        let inlet = secret_key(secret);
        let verdict = match (library["signature"].as_str(), &inlet, stricter) {
            (Some(signature), Ok(key), None) if signature == sign(key, id, NOW, body) => "same key",
            (Some(_), Err(_), Some(_)) => "inlet stricter, as documented",
            (None, Err(_), None) => "both refuse",
            _ => {
                disagreements.push(format!("{secret}: library {library}, inlet {inlet:?}"));
                "disagree"
            }
        };
        eprintln!("{secret:?}: {verdict}");
    }
    assert!(disagreements.is_empty(), "inlet and standardwebhooks disagree:\n{}", disagreements.join("\n"));
    // The padding-free forms are what this is about: the library must take them.
    assert!(report["keys"][unpadded]["signature"].is_string(), "{report}");
}

/// Ed25519 signatures made in Python (OpenSSL) over the specification's
/// signed content: with a key pair generated for this run, inlet accepts
/// them under the `whpk_` key Python publishes; with RFC 8032's test key,
/// both sides make the very same signature (Ed25519 is deterministic), the
/// vector handler.rs pins.
#[tokio::test]
async fn v1a_signatures_of_a_generated_key_pair_are_accepted_by_inlet() {
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let event = String::from_utf8(sample("standard-webhooks-event").body).expect("UTF-8");
    let unicode = json!({"type": "message.sent", "data": {"text": "Zoë — 企业 🚀"}}).to_string();
    let recipes = [
        ("sample body", None, "msg_v1a_1", NOW, event.as_str()),
        ("non-ASCII JSON", None, "msg_v1a_2", NOW, unicode.as_str()),
        ("signed 299 s ago", None, "msg_v1a_3", NOW - 299, event.as_str()),
        ("RFC 8032 key, the v1 vector's message", Some(RFC8032_SEED), VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY),
    ];
    let input: Vec<Value> = recipes
        .iter()
        .map(|(name, seed_hex, id, t, body)| {
            let mut recipe = json!({"name": name, "msg_id": id, "timestamp": t, "body_b64": base64_of(body)});
            if let Some(seed_hex) = seed_hex {
                recipe["seed_hex"] = json!(seed_hex);
            }
            recipe
        })
        .collect();
    let report = standardwebhooks(&json!({ "sign_v1a": input }));
    let generated = report["public_key"].as_str().expect("a generated whpk_ key").to_string();
    for (name, seed_hex, id, t, body) in recipes {
        let signed = &report["signed_v1a"][name];
        let signature = signed["signature"].as_str().unwrap_or_else(|| panic!("{name}: not signed: {report}"));
        let public_key = signed["public_key"].as_str().expect("whpk_");
        assert_eq!(signed["spec_accepts"], true, "{name}: the script must accept its own signature");
        if let Some(seed_hex) = seed_hex {
            let seed: [u8; 32] = (0..32)
                .map(|i| u8::from_str_radix(&seed_hex[2 * i..2 * i + 2], 16).expect("hex"))
                .collect::<Vec<_>>()
                .try_into()
                .expect("32 bytes");
            assert_eq!(public_key, public_key_of(&seed), "{name}: the same public key");
            assert_eq!(signature, sign_v1a(&seed, id, t, body.as_bytes()), "{name}: the same signature");
        } else {
            assert_eq!(public_key, generated, "{name}");
        }
        let (source, now) = if seed_hex.is_some() { ("vector", VECTOR_TIMESTAMP) } else { ("devsource", NOW) };
        let env = dev_settings_with(&[("STANDARD_WEBHOOKS_SECRETS", &format!("{source}={public_key}"))]);
        let request = signed_request(name, name, source, id, t, body.to_string(), signature).to_incoming();
        let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&env, &request, now).await;
        assert!(
            reply.status.is_success(),
            "{name}: inlet refused a v1a signature made in Python: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(publisher.sent()[0].verification.scheme, "standard-webhooks-v1a", "{name}");
    }
}
