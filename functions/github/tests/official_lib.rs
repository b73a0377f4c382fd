//! inlet against GitHub's official verifier, @octokit/webhooks-methods
//! (installed by `make tools`), through `tests/octokit_check.mjs`.
//!
//! What the library accepts, inlet accepts; what it refuses, inlet refuses.
//! The library only verifies a signature, so inlet's verdict here is "did
//! the signature authenticate the request" (anything but 401); the samples
//! are also checked to be fully accepted (2xx).
//!
//! - `inlet_and_octokit_agree_on_samples_and_forgeries`: the requests
//!   inlet's samples produce, and forgeries made from them, judged by both.
//! - `requests_signed_by_octokit_are_accepted_by_inlet`: bodies signed with
//!   the library's `sign` are accepted by inlet, and the library's signature
//!   is byte for byte the one inlet computes.
//!
//! inlet does not differ from the library anywhere: it compares the whole
//! `sha256=<lower-case hex>` string in constant time, as `verify` does, so an
//! upper-case digest or prefix fails in both.

use std::path::Path;

use github::samples::signed_request;
use github::{GithubFunction, signature_header};
use http::StatusCode;
use inlet_shared::form::encode_form;
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::crosscheck::Expect::{self, BothAccept, BothRefuse};
use inlet_testkit::crosscheck::{Runtime, Verdicts, base64_of, run_library, with_body, with_header};
use inlet_testkit::samples::{dev_settings_with, handle_with};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000;
const DEV_SECRET: &str = "dev-github-webhook-secret-NOT-A-SECRET";

fn octokit(input: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/octokit_check.mjs");
    run_library(Runtime::Node, &script, input, "library", "@octokit/webhooks-methods 6.0.0")
}

fn sample(name: &str) -> IncomingRequest {
    GithubFunction::sample(name, &dev_settings(), NOW, "octokit").expect("a GitHub sample").to_incoming()
}

fn with_signature(request: IncomingRequest, signature: &str) -> IncomingRequest {
    with_header(request, "x-hub-signature-256", signature)
}

/// One case: the secrets both sides are configured with, and the request.
struct Case {
    name: &'static str,
    secrets: Vec<&'static str>,
    request: IncomingRequest,
    /// Both must authenticate it (`BothAccept`) or both refuse it (`BothRefuse`).
    expect: Expect,
}

impl Case {
    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "secrets": self.secrets,
            "body_b64": base64_of(&self.request.body),
            "signature": self.request.header("x-hub-signature-256").unwrap_or_default(),
        })
    }

    async fn inlet_status(&self) -> StatusCode {
        let env = dev_settings_with(&[("GITHUB_WEBHOOK_SECRET", &self.secrets.join(","))]);
        handle_with::<GithubFunction>(&env, &self.request, NOW).await.0.status
    }
}

#[tokio::test]
async fn inlet_and_octokit_agree_on_samples_and_forgeries() {
    let push = sample("github-push");
    let signature = push.header("x-hub-signature-256").expect("signed").to_string();
    let hex = signature.trim_start_matches("sha256=").to_string();
    let tampered = String::from_utf8(push.body.clone()).expect("UTF-8").replace("refs/heads/main", "refs/heads/evil");
    let dev = vec![DEV_SECRET];
    let case =
        |name, secrets: &Vec<&'static str>, request, expect| Case { name, secrets: secrets.clone(), request, expect };
    let cases = vec![
        case("github-push", &dev, push.clone(), BothAccept),
        case("github-ping", &dev, sample("github-ping"), BothAccept),
        case("github-issue-comment-form", &dev, sample("github-issue-comment-form"), BothAccept),
        case("rotation: the second secret signed", &vec!["new-github-secret", DEV_SECRET], push.clone(), BothAccept),
        case(
            "public vector (authenticates; its body is no event)",
            &vec!["It's a Secret to Everybody"],
            with_signature(
                with_body(push.clone(), "Hello, World!"),
                &signature_header("It's a Secret to Everybody", b"Hello, World!"),
            ),
            BothAccept,
        ),
        case("body changed after signing", &dev, with_body(push.clone(), tampered), BothRefuse),
        case("another secret", &vec!["another-secret"], push.clone(), BothRefuse),
        case(
            "upper-case hex",
            &dev,
            with_signature(push.clone(), &format!("sha256={}", hex.to_ascii_uppercase())),
            BothRefuse,
        ),
        case("upper-case prefix", &dev, with_signature(push.clone(), &format!("SHA256={hex}")), BothRefuse),
        case("bare hex, no prefix", &dev, with_signature(push.clone(), &hex), BothRefuse),
        case(
            "sha1= prefix on the right digest",
            &dev,
            with_signature(push.clone(), &format!("sha1={hex}")),
            BothRefuse,
        ),
        case("trailing space", &dev, with_signature(push.clone(), &format!("{signature} ")), BothRefuse),
        case("truncated digest", &dev, with_signature(push.clone(), &signature[..signature.len() - 2]), BothRefuse),
        case("empty signature", &dev, with_signature(push.clone(), ""), BothRefuse),
    ];
    let input = json!({ "verdicts": cases.iter().map(Case::json).collect::<Vec<_>>() });
    let report = octokit(&input);
    let mut verdicts = Verdicts::new("octokit");
    for case in &cases {
        let library =
            report["verdicts"][case.name].as_bool().unwrap_or_else(|| panic!("{}: no verdict in {report}", case.name));
        let status = case.inlet_status().await;
        // Accepting here is authenticating: anything but 401.
        let inlet = status != StatusCode::UNAUTHORIZED;
        verdicts.judge(case.name, case.expect, (library, "verify"), (inlet, status));
        if case.name.starts_with("github-") || case.name.starts_with("rotation") {
            assert!(status.is_success(), "{}: a sample must be accepted, got {status}", case.name);
        }
    }
    verdicts.assert_all_agree();
}

#[tokio::test]
async fn requests_signed_by_octokit_are_accepted_by_inlet() {
    let push = sample("github-push");
    let unicode = json!({"zen": "Ünïcode — 企业 🚀 \"quoted\"", "repository": {"full_name": "octo-org/inlet-dev"}});
    let pretty = serde_json::to_string_pretty(&unicode).expect("JSON").replace('\n', "\r\n");
    let form = encode_form(&[("payload", &unicode.to_string())]);
    let bodies = [
        ("push sample body", "push", "application/json", String::from_utf8(push.body.clone()).expect("UTF-8")),
        ("non-ASCII JSON", "watch", "application/json", unicode.to_string()),
        ("pretty JSON with CRLF", "star", "application/json", pretty),
        ("form-encoded", "watch", "application/x-www-form-urlencoded", form),
        ("ping", "ping", "application/json", json!({"zen": "Keep it logically awesome.", "hook_id": 1}).to_string()),
    ];
    let sign: Vec<Value> = bodies
        .iter()
        .map(|(name, _, _, body)| json!({"name": name, "secret": DEV_SECRET, "body_b64": base64_of(body)}))
        .chain([json!({"name": "public vector", "secret": "It's a Secret to Everybody", "body_b64": base64_of("Hello, World!")})])
        .collect();
    let report = octokit(&json!({ "sign": sign }));
    assert_eq!(
        report["signed"]["public vector"],
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    for (name, event, content_type, body) in bodies {
        let signature = report["signed"][name].as_str().unwrap_or_else(|| panic!("{name}: not signed: {report}"));
        assert_eq!(signature, signature_header(DEV_SECRET, body.as_bytes()), "{name}: the same formula");
        let request = with_signature(
            signed_request(name, name, event, &format!("delivery-{event}"), content_type, body.clone(), "unused")
                .to_incoming(),
            signature,
        );
        let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
        assert!(
            reply.status.is_success(),
            "{name}: inlet refused what octokit signed: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(publisher.sent().len(), usize::from(event != "ping"), "{name}");
    }
}
