//! inlet against Slack's official SDK (slack-sdk's `SignatureVerifier`,
//! installed in the venv by `make tools`), through
//! `inlet_testkit::crosscheck::run` and `tests/slack_sdk_check.py`.
//!
//! - `inlet_and_slack_sdk_agree_on_samples_and_forgeries`: the requests
//!   inlet's samples produce, and forgeries made from them, judged by both.
//!   Where inlet deliberately differs, the case says why and the test checks
//!   that the difference is exactly that.
//!   One such difference: Slack's certificate check (`ssl_check=1`) comes
//!   unsigned, and inlet answers it as Bolt does, before verification
//!   (`bolt_check.py` compares that with Bolt itself).
//! - `requests_signed_by_slack_sdk_are_accepted_by_inlet`: the other
//!   direction: inlet's sample bodies and bodies Python encodes itself
//!   (its JSON formatting, `urllib.parse.urlencode`), signed with
//!   `SignatureVerifier.generate_signature`, are accepted by the SDK and by
//!   inlet, and refused by inlet once the signature's last digit changes.

use std::path::Path;

use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::crosscheck::Expect::{self, BothAccept, BothRefuse, InletLenient, InletStricter};
use inlet_testkit::crosscheck::{
    Runtime, Verdicts, base64_of, headers_json, reply_text, run_library, with_body, with_header, without_header,
};
use inlet_testkit::samples::{dev_settings_with, handle_with};
use serde_json::{Value, json};
use slack::signature::slack_signature;
use slack::{SIGNATURE_HEADER, SlackFunction, TIMESTAMP_HEADER};

const NOW: i64 = 1_700_000_000;

fn secret() -> String {
    dev_settings()["SLACK_SIGNING_SECRET"].clone()
}

/// A request as the script describes it: path, headers and base64 body.
fn request_of(case: &Value) -> IncomingRequest {
    let mut request = inlet_testkit::crosscheck::request_of(case);
    request.source_ip = "127.0.0.1".parse().ok();
    request
}

fn sample(name: &str) -> IncomingRequest {
    sample_at(name, NOW, "sdk")
}

fn sample_at(name: &str, timestamp: i64, unique: &str) -> IncomingRequest {
    SlackFunction::sample(name, &dev_settings(), timestamp, unique).expect("sample").to_incoming()
}

/// `request` with `body`, signed by inlet's signer with `secret` at the
/// timestamp text `timestamp` (exactly as written).
fn resigned(request: IncomingRequest, body: impl Into<Vec<u8>>, secret: &str, timestamp: &str) -> IncomingRequest {
    let mut request = request;
    request.body = body.into();
    let signature = slack_signature(secret, timestamp, &request.body);
    with_header(with_header(request, TIMESTAMP_HEADER, timestamp), SIGNATURE_HEADER, &signature)
}

async fn inlet(request: &IncomingRequest, now: i64) -> (bool, Reply, MemoryPublisher) {
    let (reply, publisher) = handle_with::<SlackFunction>(&dev_settings(), request, now).await;
    (reply.status.is_success(), reply, publisher)
}

fn case_json(name: &str, request: &IncomingRequest, now: i64) -> Value {
    json!({"name": name, "secret": secret(), "now": now, "headers": headers_json(request, ""), "body_b64": base64_of(&request.body)})
}

const SSL_CHECK: &str = "unsigned ssl_check on the commands URL";

/// `like` (for its headers) on `path` with `body`, without signature headers.
fn unsigned(like: &IncomingRequest, path: &str, body: &str) -> IncomingRequest {
    let mut request = without_header(without_header(with_body(like.clone(), body), SIGNATURE_HEADER), TIMESTAMP_HEADER);
    request.path = path.to_string();
    request
}

fn slack_sdk(input: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slack_sdk_check.py");
    run_library(Runtime::VenvPython, &script, input, "sdk", "slack-sdk ")
}

#[tokio::test]
async fn inlet_and_slack_sdk_agree_on_samples_and_forgeries() {
    let event = sample("slack-event");
    let command = sample("slack-command");
    let genuine = event.header(SIGNATURE_HEADER).expect("signed").to_string();
    let mut flipped_body = command.body.clone();
    flipped_body[0] ^= 0x20;
    let mut cases: Vec<(String, IncomingRequest, i64, Expect)> = SlackFunction::SAMPLE_NAMES
        .iter()
        .map(|name| (format!("sample {name}"), sample(name), NOW, BothAccept))
        .collect();
    let more: Vec<(&str, IncomingRequest, i64, Expect)> = vec![
        ("signed 300 s ago", sample_at("slack-event", NOW - 300, "old"), NOW, BothAccept),
        ("signed 300 s ahead", sample_at("slack-event", NOW + 300, "ahead"), NOW, BothAccept),
        ("signed 301 s ago", sample_at("slack-event", NOW - 301, "older"), NOW, BothRefuse),
        // slack-sdk takes the absolute difference: the future is refused too.
        ("signed 301 s ahead", sample_at("slack-event", NOW + 301, "further"), NOW, BothRefuse),
        ("signed a day ago", sample_at("slack-command", NOW - 86_400, "day"), NOW, BothRefuse),
        (
            "body changed after signing",
            with_body(event.clone(), b" ".iter().chain(&event.body).copied().collect::<Vec<u8>>()),
            NOW,
            BothRefuse,
        ),
        ("one bit of a form body flipped", with_body(command.clone(), flipped_body), NOW, BothRefuse),
        (
            "signed with another secret",
            resigned(event.clone(), event.body.clone(), "another-apps-secret", &NOW.to_string()),
            NOW,
            BothRefuse,
        ),
        (
            "digest in upper case",
            with_header(event.clone(), SIGNATURE_HEADER, &genuine.to_ascii_uppercase()),
            NOW,
            BothRefuse,
        ),
        (
            "version in upper case",
            with_header(event.clone(), SIGNATURE_HEADER, &genuine.replacen("v0=", "V0=", 1)),
            NOW,
            BothRefuse,
        ),
        (
            "digest without v0=",
            with_header(event.clone(), SIGNATURE_HEADER, &genuine.replacen("v0=", "", 1)),
            NOW,
            BothRefuse,
        ),
        (
            "signature of another timestamp",
            with_header(event.clone(), TIMESTAMP_HEADER, &(NOW + 1).to_string()),
            NOW,
            BothRefuse,
        ),
        ("signature removed", without_header(event.clone(), SIGNATURE_HEADER), NOW, BothRefuse),
        ("timestamp removed", without_header(event.clone(), TIMESTAMP_HEADER), NOW, BothRefuse),
        ("all zeros", with_header(event.clone(), SIGNATURE_HEADER, &format!("v0={}", "0".repeat(64))), NOW, BothRefuse),
        // Timestamp texts: the signature covers the header as written.
        (
            "timestamp with a plus sign",
            resigned(event.clone(), event.body.clone(), &secret(), &format!("+{NOW}")),
            NOW,
            BothAccept,
        ),
        (
            "timestamp with a fraction",
            resigned(event.clone(), event.body.clone(), &secret(), &format!("{NOW}.5")),
            NOW,
            BothRefuse,
        ),
        (
            "timestamp with digit-group underscores",
            resigned(event.clone(), event.body.clone(), &secret(), "1_700_000_000"),
            NOW,
            InletStricter(
                "Python's int() reads '1_700_000_000'; Slack sends plain decimal seconds and inlet reads only those",
            ),
        ),
        // slack-sdk decodes the body as UTF-8 before signing (and raises);
        // inlet signs the raw bytes, then refuses the body as malformed
        // (400): refused either way, nothing queued.
        (
            "signed body that is not UTF-8",
            resigned(command.clone(), b"command=%2Fx&text=\xff".to_vec(), &secret(), &NOW.to_string()),
            NOW,
            BothRefuse,
        ),
        // Slack's certificate check arrives unsigned: the SDK has nothing to
        // verify; Bolt answers it before verifying, and so does inlet. Its
        // lookalikes are verified as usual.
        (
            SSL_CHECK,
            unsigned(&command, "/slack/commands", "ssl_check=1&token=legacy-token"),
            NOW,
            InletLenient("Bolt answers Slack's unsigned ssl_check with an empty 200 before verification"),
        ),
        ("unsigned ssl_check on the events URL", unsigned(&command, "/slack/events", "ssl_check=1"), NOW, BothRefuse),
        ("unsigned ssl_check=0", unsigned(&command, "/slack/commands", "ssl_check=0"), NOW, BothRefuse),
        (
            "unsigned ssl_check with a command",
            unsigned(&command, "/slack/commands", "ssl_check=1&command=%2Fdeploy&payload=x"),
            NOW,
            BothRefuse,
        ),
    ];
    cases.extend(more.into_iter().map(|(name, request, now, expect)| (name.to_string(), request, now, expect)));

    let input = json!({ "verdicts": cases.iter().map(|(name, request, now, _)| case_json(name, request, *now)).collect::<Vec<_>>() });
    let report = slack_sdk(&input);
    let mut verdicts = Verdicts::new("slack-sdk");
    for (name, request, now, expect) in &cases {
        let sdk = &report["verdicts"][name.as_str()];
        let sdk_accepts = sdk["valid"].as_bool().unwrap_or_else(|| panic!("{name}: no SDK verdict in {report}"));
        let (inlet_accepts, reply, publisher) = inlet(request, *now).await;
        if !inlet_accepts {
            assert!(publisher.sent().is_empty(), "{name}: refused but enqueued");
        }
        verdicts.judge(name, *expect, (sdk_accepts, &sdk["error"]), (inlet_accepts, reply_text(&reply)));
    }
    // The one case where the SDK raises rather than answers: documented above.
    assert_eq!(report["verdicts"]["signed body that is not UTF-8"]["error"], "UnicodeDecodeError", "{report}");
    let (_, reply, _) =
        inlet(&cases.iter().find(|c| c.0 == "signed body that is not UTF-8").expect("case").1, NOW).await;
    assert_eq!(reply.status.as_u16(), 400, "inlet verifies the raw bytes, then refuses the body");
    verdicts.assert_all_agree();
    // The other: the certificate check's answer carries nothing and queues nothing.
    let (_, reply, publisher) = inlet(&cases.iter().find(|c| c.0 == SSL_CHECK).expect("case").1, NOW).await;
    assert!(reply.body.is_empty() && publisher.sent().is_empty(), "{SSL_CHECK}: {}", reply_text(&reply));
}

#[tokio::test]
async fn requests_signed_by_slack_sdk_are_accepted_by_inlet() {
    const FORM: &str = "application/x-www-form-urlencoded";
    let recipe_of = |name: &str, request: &IncomingRequest, timestamp: i64| {
        json!({
            "name": name,
            "secret": secret(),
            "timestamp": timestamp,
            "path": request.path,
            "content_type": request.header("content-type").unwrap_or(FORM),
            "body_b64": base64_of(&request.body),
        })
    };
    let mut recipes: Vec<Value> = SlackFunction::SAMPLE_NAMES
        .iter()
        .map(|name| recipe_of(&format!("sample body {name}"), &sample(name), NOW))
        .collect();
    recipes.push(recipe_of("signed 299 s before inlet's clock", &sample("slack-event"), NOW - 299));
    recipes.push(recipe_of("signed 299 s after inlet's clock", &sample("slack-interaction"), NOW + 299));
    for (build, path, content_type) in [
        ("event", "/slack/events", "application/json"),
        ("interaction", "/slack/interactions", FORM),
        ("command", "/slack/commands", FORM),
    ] {
        recipes.push(json!({"name": format!("python-built {build}"), "secret": secret(), "timestamp": NOW,
            "path": path, "content_type": content_type, "build": build}));
    }
    let report = slack_sdk(&json!({ "sign": recipes }));
    let signed = report["signed"].as_array().expect("signed requests");
    assert_eq!(signed.len(), recipes.len());
    for case in signed {
        let name = case["name"].as_str().expect("name");
        assert_eq!(case["sdk_valid"], true, "{name}: slack-sdk must accept what it signed");
        let request = request_of(case);
        let (accepted, reply, publisher) = inlet(&request, NOW).await;
        assert!(
            accepted,
            "{name}: inlet refused a request slack-sdk signed: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        if name == "python-built command" {
            let message = publisher.sent()[0].message.clone().expect("message view");
            assert_eq!(
                message.text.as_deref(),
                Some("/deploy prod & staging +1 ünïcode"),
                "Python's urlencode, read back"
            );
        }
        if name == "python-built event" {
            let message = publisher.sent()[0].message.clone().expect("message view");
            assert_eq!(message.text.as_deref(), Some("部署 prod ✅ — \"quoted\" & <escaped>"));
            assert_eq!(publisher.sent()[0].id, "slack:T0PYTEAM01:Ev0PYTHON01");
        }
        // The SDK's signature with its last digit changed is refused.
        let signature = request.header(SIGNATURE_HEADER).expect("signed").to_string();
        let last = if signature.ends_with('0') { "1" } else { "0" };
        let forged =
            with_header(request.clone(), SIGNATURE_HEADER, &format!("{}{last}", &signature[..signature.len() - 1]));
        let (accepted, reply, _) = inlet(&forged, NOW).await;
        assert!(!accepted && reply.status.as_u16() == 401, "{name}: a forged signature was accepted");
    }
    // And a deployment rotating to a new secret accepts the SDK's requests under the old one, recorded as #2.
    let env = dev_settings_with(&[("SLACK_SIGNING_SECRET", &format!("rotated-in-secret,{}", secret()))]);
    let case = signed.iter().find(|c| c["name"] == "sample body slack-event").expect("the event case");
    let (reply, publisher) = handle_with::<SlackFunction>(&env, &request_of(case), NOW).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("SLACK_SIGNING_SECRET#2"));
}

fn bolt(input: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bolt_check.py");
    run_library(Runtime::VenvPython, &script, input, "library", "slack_bolt ")
}

/// Slack's certificate check against Bolt for Python, which answers it
/// before verifying anything: each request is judged "answered as the
/// certificate check" (Bolt: 200 with an empty body; inlet: the same, and
/// nothing queued) or not. inlet takes only what Bolt for JavaScript takes
/// too (`slack::is_ssl_check`); where Bolt for Python alone answers, the
/// case names the JavaScript rule that refuses it.
#[tokio::test]
async fn inlet_answers_ssl_checks_as_bolt_does() {
    const FORM: &str = "application/x-www-form-urlencoded";
    let command = sample("slack-command");
    let form = |body: &str| unsigned(&command, "/slack/commands", body);
    let with_content_type = |request: IncomingRequest, content_type: Option<&str>| match content_type {
        Some(content_type) => with_header(request, "content-type", content_type),
        None => without_header(request, "content-type"),
    };
    let slacks = "ssl_check=1&token=legacy-token";
    let mut wrong_signature = with_header(form(slacks), TIMESTAMP_HEADER, &NOW.to_string());
    wrong_signature = with_header(wrong_signature, SIGNATURE_HEADER, &format!("v0={}", "0".repeat(64)));
    let many_fields = format!("{}&ssl_check=1", vec!["x=1"; 1000].join("&"));
    let cases: Vec<(&str, IncomingRequest, Expect)> = vec![
        ("as Slack sends it", form(slacks), BothAccept),
        ("Bolt for Python's test body", form("token=random&ssl_check=1"), BothAccept),
        ("Bolt for JavaScript's test body", form("ssl_check=1&token=legacy-fixed-verification-token"), BothAccept),
        ("with a wrong signature", wrong_signature, BothAccept),
        ("signed", resigned(form(slacks), slacks, &secret(), &NOW.to_string()), BothAccept),
        ("ssl_check=0", form("ssl_check=0&token=t"), BothRefuse),
        ("ssl_check=true", form("ssl_check=true"), BothRefuse),
        ("ssl_check empty", form("ssl_check=&token=t"), BothRefuse),
        ("no ssl_check", form("token=t"), BothRefuse),
        ("bracketed name", form("ssl_check[]=1"), BothRefuse),
        ("with a payload field", form("ssl_check=1&payload=%7B%7D"), BothRefuse),
        ("payload text in a value", form("ssl_check=1&token=payload"), BothRefuse),
        ("body starting with {", form("{=1&ssl_check=1"), BothRefuse),
        ("not UTF-8", with_body(form(""), b"ssl_check=1&token=\xff".to_vec()), BothRefuse),
        (
            "repeated, last is 1",
            form("ssl_check=0&ssl_check=1"),
            InletStricter("Bolt for JavaScript's qs reads a repeated field as a list, not '1', and verifies"),
        ),
        (
            "repeated, both 1",
            form("ssl_check=1&ssl_check=1"),
            InletStricter("Bolt for JavaScript's qs reads a repeated field as a list, not '1', and verifies"),
        ),
        (
            "and a bracketed lookalike",
            form("ssl_check=1&[ssl_check]=1"),
            InletStricter("Bolt for JavaScript's qs reads both into one list, and verifies"),
        ),
        (
            "beyond qs's 1000 fields",
            form(&many_fields),
            InletStricter("Bolt for JavaScript's qs reads only the first 1000 fields, and verifies"),
        ),
        (
            "JSON",
            with_content_type(form(r#"{"ssl_check":"1"}"#), Some("application/json")),
            InletStricter("Bolt for JavaScript looks for ssl_check in forms only, and verifies"),
        ),
        (
            "form with a charset",
            with_content_type(form("ssl_check=1"), Some(&format!("{FORM}; charset=utf-8"))),
            InletStricter("Bolt for JavaScript compares the content type exactly, and verifies"),
        ),
        (
            "no content type",
            with_content_type(form("ssl_check=1"), None),
            InletStricter("Bolt for JavaScript compares the content type exactly, and verifies"),
        ),
        (
            "on the events URL",
            unsigned(&command, "/slack/events", slacks),
            InletStricter("Slack sends ssl_check to slash-command URLs only; Bolt serves every kind on one URL"),
        ),
    ];
    let input =
        json!({ "verdicts": cases.iter().map(|(name, request, _)| case_json(name, request, NOW)).collect::<Vec<_>>() });
    let report = bolt(&input);
    let mut verdicts = Verdicts::new(report["library"].as_str().unwrap_or("slack_bolt"));
    for (name, request, expect) in &cases {
        let verdict = &report["verdicts"][*name];
        let bolt_answers = verdict["ssl_check"].as_bool().unwrap_or_else(|| panic!("{name}: no verdict in {report}"));
        let (_, reply, publisher) = inlet(request, NOW).await;
        let inlet_answers = reply.status.as_u16() == 200 && reply.body.is_empty() && publisher.sent().is_empty();
        verdicts.judge(name, *expect, (bolt_answers, verdict), (inlet_answers, reply_text(&reply)));
    }
    verdicts.assert_all_agree();
}
