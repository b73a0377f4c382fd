//! inlet against Lark's official SDK (lark-oapi, installed by `make tools`).
//!
//! What the official library accepts, inlet accepts; what it refuses, inlet
//! refuses. Each test writes requests to a temp dir and runs
//! `tests/lark_oapi_check.py` with the project's venv python, which feeds
//! them to lark-oapi's own HTTP handlers (EventDispatcherHandler,
//! CardActionHandler) and reports their verdicts.
//!
//! - `inlet_and_lark_oapi_agree_on_samples_and_forgeries`: the requests
//!   inlet's samples produce, and forgeries made from them, judged by both.
//!   Where inlet is deliberately stricter (docs/platforms/lark.md: be at least as
//!   strict as the docs), the case says why and the test checks that the
//!   difference is exactly that.
//! - `requests_sealed_by_lark_oapi_are_accepted_by_inlet`: the other
//!   direction, requests encrypted and signed in Python with the SDK's key
//!   derivation and signature formulas (random IV and nonce, Python's JSON
//!   formatting), accepted by the SDK itself and then by inlet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use http::Method;
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::provider::HttpFunction;
use inlet_shared::provider::Provider;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::crosscheck::Expect::{self, BothAccept, BothRefuse, InletStricter};
use inlet_testkit::crosscheck::{
    Verdicts, base64_of, headers_json, reply_text, request_of, with_body, with_header, without_header,
};
use inlet_testkit::samples::dev_settings_with;
use lark::LarkFunction;
use lark::crypto::{encrypt_lark_body, lark_card_signature_v1};
use lark::samples::{LarkSecrets, legacy_card, message_v2};
use serde_json::{Value, json};
use time::OffsetDateTime;

const NOW: i64 = 1_700_000_000;

/// One app configuration, as inlet reads it and as the SDK is built with.
struct App {
    env: HashMap<String, String>,
    encrypt_key: String,
    verification_token: String,
}

impl App {
    fn with_encrypt_key() -> Self {
        Self::from_env(dev_settings())
    }

    fn without_encrypt_key() -> Self {
        Self::from_env(dev_settings_with(&[("LARK_ENCRYPT_KEY", "")]))
    }

    fn from_env(env: HashMap<String, String>) -> Self {
        let secrets = LarkSecrets::from_env(&env);
        App {
            encrypt_key: secrets.encrypt_key.unwrap_or_default(),
            verification_token: secrets.verification_token,
            env,
        }
    }

    fn sample(&self, name: &str) -> IncomingRequest {
        LarkFunction::sample(name, &self.env, NOW, "sdk")
            .unwrap_or_else(|| panic!("{name} is built for this app"))
            .to_incoming()
    }

    async fn inlet_accepts(&self, request: &IncomingRequest) -> (bool, Reply) {
        let function = LarkFunction::from_env(&self.env).expect("valid settings");
        let at = OffsetDateTime::from_unix_timestamp(NOW).expect("valid time");
        let reply = function.handle(&MemoryPublisher::new(), request, at).await;
        (reply.status.is_success(), reply)
    }

    fn case_json(&self, name: &str, request: &IncomingRequest) -> Value {
        json!({
            "name": name,
            "encrypt_key": self.encrypt_key,
            "verification_token": self.verification_token,
            "path": request.path,
            "headers": headers_json(request, ""),
            "body_b64": base64_of(&request.body),
        })
    }
}

fn post(path: &str, body: impl Into<Vec<u8>>) -> IncomingRequest {
    IncomingRequest::new(Method::POST, path, body)
}

fn old_style_signed(app: &App, body: &str) -> IncomingRequest {
    let ts = NOW.to_string();
    let signature = lark_card_signature_v1(&ts, "nonce", &app.verification_token, body.as_bytes());
    let request = post("/lark/card/action", body);
    let request = with_header(request, "x-lark-request-timestamp", &ts);
    let request = with_header(request, "x-lark-request-nonce", "nonce");
    with_header(request, "x-lark-signature", &signature)
}

fn challenge(token: &str) -> String {
    json!({"challenge": "c-1", "token": token, "type": "url_verification"}).to_string()
}

fn encrypted(key: &str, plaintext: &str) -> String {
    json!({"encrypt": encrypt_lark_body(key, [9; 16], plaintext.as_bytes())}).to_string()
}

fn text(request: &IncomingRequest) -> String {
    String::from_utf8(request.body.clone()).expect("UTF-8 body")
}

/// The venv's python, which `make tools` creates with lark-oapi in it.
fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make tools` (it installs lark-oapi, the official SDK this test checks inlet against)",
        python.display()
    );
    python
}

/// Runs the SDK over `input` and returns its report.
fn lark_oapi(test: &str, input: &Value) -> Value {
    let python = venv_python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lark_oapi_check.py");
    let dir = std::env::temp_dir().join(format!("inlet-lark-oapi-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (input_path, output_path) = (dir.join("input.json"), dir.join("verdicts.json"));
    std::fs::write(&input_path, serde_json::to_vec_pretty(input).expect("JSON")).expect("write input");
    let run = Command::new(&python).arg(&script).arg(&input_path).arg(&output_path).output().expect("run python");
    assert!(
        run.status.success(),
        "{} {} failed ({}): {}\n{}\n(`make tools` installs lark-oapi into the venv)",
        python.display(),
        script.display(),
        run.status,
        String::from_utf8_lossy(&run.stderr),
        String::from_utf8_lossy(&run.stdout)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(&output_path).expect("verdicts written")).expect("verdicts are JSON");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(report["sdk"].as_str().is_some_and(|v| v.starts_with("lark-oapi ")), "{report}");
    report
}

#[tokio::test]
async fn inlet_and_lark_oapi_agree_on_samples_and_forgeries() {
    let keyed = App::with_encrypt_key();
    let plain = App::without_encrypt_key();
    let token = keyed.verification_token.clone();
    let key = keyed.encrypt_key.clone();
    assert!(!key.is_empty() && plain.encrypt_key.is_empty());

    let message = keyed.sample("lark-message");
    let legacy_encrypted = keyed.sample("lark-card-legacy-encrypted");
    let stray = plain.sample("lark-message-no-encrypt-key");
    let upper_case = message.header("x-lark-signature").expect("signed").to_ascii_uppercase();
    let mut message_without_token = message_v2(&token, "no-token", NOW);
    message_without_token["header"].as_object_mut().expect("header").remove("token");
    let stale = LarkFunction::sample("lark-message", &keyed.env, NOW - 3600, "stale").expect("sample").to_incoming();
    let mut schema_v2_card = serde_json::from_slice::<Value>(&plain.sample("lark-card").body).expect("JSON");
    schema_v2_card["header"]["token"] = json!(token);

    let cases: Vec<(&str, &App, IncomingRequest, Expect)> = vec![
        // Every sample, as inlet's samples build it, for both app configurations.
        ("with key: lark-challenge", &keyed, keyed.sample("lark-challenge"), BothAccept),
        ("with key: lark-challenge-encrypted", &keyed, keyed.sample("lark-challenge-encrypted"), BothAccept),
        ("with key: lark-message", &keyed, message.clone(), BothAccept),
        ("with key: lark-v1-event", &keyed, keyed.sample("lark-v1-event"), BothAccept),
        ("with key: lark-card", &keyed, keyed.sample("lark-card"), BothAccept),
        ("with key: lark-card-legacy", &keyed, keyed.sample("lark-card-legacy"), BothAccept),
        ("with key: lark-card-legacy-encrypted", &keyed, legacy_encrypted.clone(), BothAccept),
        ("no key: lark-challenge", &plain, plain.sample("lark-challenge"), BothAccept),
        ("no key: lark-message", &plain, plain.sample("lark-message"), BothAccept),
        ("no key: lark-message-no-encrypt-key", &plain, stray.clone(), BothAccept),
        ("no key: lark-v1-event", &plain, plain.sample("lark-v1-event"), BothAccept),
        ("no key: lark-card", &plain, plain.sample("lark-card"), BothAccept),
        ("no key: lark-card-legacy", &plain, plain.sample("lark-card-legacy"), BothAccept),
        // Stray signature headers without a key are ignored, whatever they hold.
        (
            "no key: stray signature of random hex",
            &plain,
            with_header(stray.clone(), "x-lark-signature", &"ab".repeat(32)),
            BothAccept,
        ),
        (
            "no key: new-style card with a stray SHA-1 signature",
            &plain,
            old_style_signed(&plain, &schema_v2_card.to_string()),
            BothAccept,
        ),
        // Forgeries and mistakes.
        (
            "with key: forged signature",
            &keyed,
            with_header(message.clone(), "x-lark-signature", &"0".repeat(64)),
            BothRefuse,
        ),
        (
            "with key: signature in upper case",
            &keyed,
            with_header(message.clone(), "x-lark-signature", &upper_case),
            BothRefuse,
        ),
        (
            "with key: body changed after signing",
            &keyed,
            with_body(message.clone(), format!(" {}", text(&message))),
            BothRefuse,
        ),
        ("with key: signature removed", &keyed, without_header(message.clone(), "x-lark-signature"), BothRefuse),
        (
            "with key: timestamp header removed",
            &keyed,
            without_header(message.clone(), "x-lark-request-timestamp"),
            BothRefuse,
        ),
        (
            "with key: plaintext event, unsigned",
            &keyed,
            post("/lark/event", message_v2(&token, "u", NOW).to_string()),
            BothRefuse,
        ),
        ("with key: challenge, wrong token", &keyed, post("/lark/event", challenge("guess")), BothRefuse),
        (
            "with key: challenge, wrong token, encrypted",
            &keyed,
            post("/lark/event", encrypted(&key, &challenge("guess"))),
            BothRefuse,
        ),
        (
            "with key: challenge under another key",
            &keyed,
            post("/lark/event", encrypted("another key", &challenge(&token))),
            BothRefuse,
        ),
        ("with key: encrypt is not base64", &keyed, post("/lark/event", r#"{"encrypt":"%%%"}"#), BothRefuse),
        ("with key: body is not JSON", &keyed, post("/lark/event", "{oops"), BothRefuse),
        (
            "with key: old-style card, forged signature",
            &keyed,
            with_header(legacy_encrypted.clone(), "x-lark-signature", &"0".repeat(40)),
            BothRefuse,
        ),
        (
            "with key: old-style card, signature removed",
            &keyed,
            without_header(legacy_encrypted.clone(), "x-lark-signature"),
            BothRefuse,
        ),
        (
            "with key: old-style card, ciphertext replaced (signature kept)",
            &keyed,
            with_body(legacy_encrypted.clone(), encrypted(&key, &legacy_card("other").to_string())),
            BothRefuse,
        ),
        (
            "with key: old-style card, signed over garbage ciphertext",
            &keyed,
            old_style_signed(&keyed, &encrypted(&key, "garbage")),
            BothRefuse,
        ),
        (
            "with key: old-style card, sealed under another key",
            &keyed,
            old_style_signed(&keyed, &encrypted("another key", &legacy_card("x").to_string())),
            BothRefuse,
        ),
        ("no key: encrypted challenge", &plain, keyed.sample("lark-challenge-encrypted"), BothRefuse),
        ("no key: encrypted old-style card", &plain, legacy_encrypted.clone(), BothRefuse),
        (
            "no key: stray headers, wrong token",
            &plain,
            with_body(stray.clone(), text(&stray).replace(&token, "guess")),
            BothRefuse,
        ),
        (
            "no key: old-style card, unsigned",
            &plain,
            without_header(plain.sample("lark-card-legacy"), "x-lark-signature"),
            BothRefuse,
        ),
        (
            "no key: old-style card, forged signature",
            &plain,
            with_header(plain.sample("lark-card-legacy"), "x-lark-signature", &"1".repeat(40)),
            BothRefuse,
        ),
        // Deliberately stricter than the SDK.
        (
            "with key: signed event without a Verification Token",
            &keyed,
            {
                let body = encrypted(&key, &message_without_token.to_string());
                let ts = NOW.to_string();
                let signature = lark::crypto::lark_signature(&ts, "n", &key, body.as_bytes());
                let request = with_header(post("/lark/event", body), "x-lark-request-timestamp", &ts);
                with_header(with_header(request, "x-lark-request-nonce", "n"), "x-lark-signature", &signature)
            },
            InletStricter("the docs say to check the token on every request; the Python SDK skips it when absent"),
        ),
        (
            "with key: signed an hour ago",
            &keyed,
            stale,
            InletStricter("the SDKs set no timestamp window; inlet refuses replays outside ±300 s"),
        ),
    ];

    let input = json!({
        "verdicts": cases.iter().map(|(name, app, request, _)| app.case_json(name, request)).collect::<Vec<_>>()
    });
    let report = lark_oapi("verdicts", &input);
    let mut verdicts = Verdicts::new("lark-oapi");
    for (name, app, request, expect) in &cases {
        let sdk = &report["verdicts"][*name];
        let sdk_accepts = sdk["accepted"].as_bool().unwrap_or_else(|| panic!("{name}: no SDK verdict in {report}"));
        // A refusal for want of a registered processor would say nothing
        // about authentication: the script must register every event type.
        assert!(!sdk["body"].as_str().unwrap_or_default().contains("processor not found"), "{name}: {sdk}");
        let (inlet_accepts, reply) = app.inlet_accepts(request).await;
        let sdk_detail = format!("{} {} {}", sdk["handler"], sdk["status"], sdk["body"]);
        verdicts.judge(name, *expect, (sdk_accepts, sdk_detail), (inlet_accepts, reply_text(&reply)));
    }
    verdicts.assert_all_agree();
}

#[tokio::test]
async fn requests_sealed_by_lark_oapi_are_accepted_by_inlet() {
    let keyed = App::with_encrypt_key();
    let plain = App::without_encrypt_key();
    let token = keyed.verification_token.clone();
    // Plaintext bodies: the samples as an app without an Encrypt Key gets them.
    let v1_event = text(&plain.sample("lark-v1-event"));
    let new_card = text(&plain.sample("lark-card"));
    let old_card = legacy_card("sealed").to_string();
    let message = message_v2(&token, "sealed", NOW).to_string();
    let recipe = |app: &App, name: &str, path: &str, plaintext: &str, scheme: &str| {
        json!({
            "name": name,
            "encrypt_key": app.encrypt_key,
            "verification_token": app.verification_token,
            "path": path,
            "plaintext": plaintext,
            "scheme": scheme,
            "timestamp": NOW,
        })
    };
    let recipes = vec![
        recipe(&keyed, "with key: v2 message", "/lark/event", &message, "event-signature"),
        recipe(&keyed, "with key: v1 event", "/lark/event", &v1_event, "event-signature"),
        recipe(&keyed, "with key: challenge", "/lark/event", &challenge(&token), "unsigned"),
        recipe(&keyed, "with key: challenge on the card URL", "/lark/card/action", &challenge(&token), "unsigned"),
        recipe(&keyed, "with key: new-style card", "/lark/card/action", &new_card, "event-signature"),
        recipe(&keyed, "with key: old-style card", "/lark/card/action", &old_card, "card-signature-v1"),
        recipe(&plain, "no key: v2 message, stray headers", "/lark/event", &message, "stray-signature"),
        recipe(&plain, "no key: new-style card, stray headers", "/lark/card/action", &new_card, "stray-signature"),
        recipe(&plain, "no key: old-style card", "/lark/card/action", &old_card, "card-signature-v1"),
        recipe(&plain, "no key: challenge", "/lark/event", &challenge(&token), "unsigned"),
    ];
    let report = lark_oapi("sealed", &json!({ "seal": recipes }));
    let sealed = report["sealed"].as_array().expect("sealed requests");
    assert_eq!(sealed.len(), recipes.len());
    for case in sealed {
        let name = case["name"].as_str().expect("name");
        let app = if case["encrypt_key"] == "" { &plain } else { &keyed };
        assert_eq!(case["sdk"]["accepted"], true, "{name}: lark-oapi must accept its own request: {}", case["sdk"]);
        let request = request_of(case);
        if app.encrypt_key.is_empty() {
            assert!(!text(&request).contains("\"encrypt\""), "{name}: plaintext expected");
        } else {
            assert!(text(&request).starts_with("{\"encrypt\": \""), "{name}: sealed with Python's JSON formatting");
        }
        let (accepted, reply) = app.inlet_accepts(&request).await;
        assert!(
            accepted,
            "{name}: inlet refused a request lark-oapi accepts: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        // And the same request with its signature's last digit changed is
        // refused wherever a signature is what proves it.
        if let Some(signature) = request.header("x-lark-signature").map(str::to_string)
            && !name.contains("stray")
        {
            let last = if signature.ends_with('0') { "1" } else { "0" };
            let forged = with_header(
                request.clone(),
                "x-lark-signature",
                &format!("{}{last}", &signature[..signature.len() - 1]),
            );
            let (accepted, _) = app.inlet_accepts(&forged).await;
            assert!(!accepted, "{name}: a forged signature was accepted");
        }
    }
}
