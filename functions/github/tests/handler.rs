//! The GitHub handler on its own samples and on requests signed here, with a
//! fixed clock (GitHub signs no timestamp, so the clock only stamps
//! `received_at`).

use github::samples::{HOOK_ID, delivery_id, signed_request};
use github::{GithubFunction, signature_header};
use hmac::{KeyInit, Mac};
use http::{HeaderValue, StatusCode};
use inlet_shared::form::{encode_form, parse_form};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::provider::Provider;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::CapturedLogs;
use inlet_testkit::samples::{assert_refused, assert_unauthenticated, dev_settings_with, handle_with};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000;
const DEV_SECRET: &str = "dev-github-webhook-secret-NOT-A-SECRET";

fn sample(name: &str, unique: &str) -> IncomingRequest {
    GithubFunction::sample(name, &dev_settings(), NOW, unique).expect("a GitHub sample").to_incoming()
}

fn set(request: &mut IncomingRequest, name: &'static str, value: &str) {
    request.headers.insert(name, HeaderValue::from_str(value).expect("header value"));
}

fn text(request: &IncomingRequest) -> String {
    String::from_utf8(request.body.clone()).expect("UTF-8 body")
}

#[tokio::test]
async fn keeps_the_provider_contract() {
    inlet_testkit::conformance::check::<GithubFunction>(&[]).await;
}

#[test]
fn signature_matches_githubs_public_vector() {
    // docs.github.com, "Validating webhook deliveries": the example secret and payload.
    assert_eq!(
        signature_header("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

#[tokio::test]
async fn the_public_vector_authenticates_and_its_plain_text_body_is_then_refused_as_malformed() {
    let env = dev_settings_with(&[("GITHUB_WEBHOOK_SECRET", "It's a Secret to Everybody")]);
    let mut request = sample("github-push", "vector");
    request.body = b"Hello, World!".to_vec();
    set(&mut request, "x-hub-signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    let (reply, publisher) = handle_with::<GithubFunction>(&env, &request, NOW).await;
    // 400, not 401: the signature verified, then the body is not JSON.
    assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "not valid JSON");
}

#[tokio::test]
async fn push_is_enqueued_under_its_delivery_id_and_acknowledged() {
    let request = sample("github-push", "push-1");
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json(), Some(json!({"ok": true})));
    let sent = publisher.sent();
    assert_eq!(sent.len(), 1);
    let envelope = &sent[0];
    assert_eq!(envelope.id, format!("github:{HOOK_ID}:{}", delivery_id("github-push", "push-1")));
    assert_eq!(envelope.kind, "push");
    assert_eq!(envelope.tenant.as_deref(), Some("octo-org/inlet-dev"));
    assert_eq!(envelope.verification.scheme, "github-hmac-sha256");
    assert_eq!(envelope.verification.matched.as_deref(), Some("GITHUB_WEBHOOK_SECRET#1"));
    assert_eq!(envelope.payload, serde_json::from_slice::<Value>(&request.body).unwrap());
    assert!(envelope.message.is_none(), "a push is not a message");
}

#[tokio::test]
async fn ping_is_answered_after_verification_and_never_enqueued() {
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &sample("github-ping", "p"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body_json(), Some(json!({"ok": true, "ping": true})));
    assert!(publisher.sent().is_empty());

    let forged =
        GithubFunction::sample("github-ping", &dev_settings_with(&[("GITHUB_WEBHOOK_SECRET", "guess")]), NOW, "p")
            .unwrap()
            .to_incoming();
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &forged, NOW).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn form_encoded_comment_is_verified_over_the_raw_form_and_gets_a_message_view() {
    let request = sample("github-issue-comment-form", "c-1");
    assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert!(text(&request).starts_with("payload=%7B"));
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    let envelope = &publisher.sent()[0];
    assert_eq!(envelope.kind, "issue_comment");
    let payload = envelope.payload.to_value().unwrap();
    assert_eq!(payload["action"], "created");
    let comment = payload["comment"]["body"].as_str().unwrap();
    assert_eq!(comment, "/deploy prod & notify #ops: 100% done? ✓", "the form's escapes are decoded");
    let message = envelope.message.as_ref().expect("a message view");
    assert_eq!(message.chat_id.as_deref(), Some("octo-org/inlet-dev#42"));
    assert_eq!(message.chat_type.as_deref(), Some("issue"));
    assert_eq!(message.sender_id.as_deref(), Some("octocat"));
    assert_eq!(message.text.as_deref(), Some(comment));
    assert_eq!(message.message_id, Some(payload["comment"]["id"].to_string()));
    assert_eq!(message.reply_handle.as_ref().unwrap()["issue_number"], 42);
    assert_eq!(message.reply_handle.as_ref().unwrap()["repository"], "octo-org/inlet-dev");
}

#[tokio::test]
async fn the_same_form_encoded_differently_is_refused_since_the_signature_covers_the_raw_bytes() {
    let request = sample("github-issue-comment-form", "c-2");
    // `+` and `%20` decode to the same field: the bytes GitHub signed differ.
    let fields = parse_form(&request.body).unwrap();
    let reencoded = format!("payload={}", fields[0].1.replace(' ', "%20"));
    assert_ne!(reencoded.as_bytes(), request.body.as_slice());
    let mut changed = request.clone();
    changed.body = reencoded.into_bytes();
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &changed, NOW).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn a_redelivery_keeps_the_delivery_id_so_it_is_a_duplicate() {
    let first = sample("github-push", "redelivered");
    let again = sample("github-push", "redelivered");
    let other = sample("github-push", "another");
    let id = |request: IncomingRequest| async move {
        let (_, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
        publisher.sent()[0].id.clone()
    };
    let (first, again, other) = (id(first).await, id(again).await, id(other).await);
    assert_eq!(first, again);
    assert_ne!(first, other);
}

/// One event reaches every hook and App subscribed to it under one
/// `X-GitHub-Delivery` GUID, each with its own payload and secret
/// (github/docs#32822): with both hooks pointed at one deployment, each
/// delivery is its own event, and each hook's redelivery is a duplicate.
#[tokio::test]
async fn one_delivery_guid_sent_to_two_hooks_is_two_events() {
    const REPOSITORY_HOOK_SECRET: &str = "repository-hook-secret";
    const APP_SECRET: &str = "github-app-webhook-secret";
    let env = dev_settings_with(&[("GITHUB_WEBHOOK_SECRET", &format!("{REPOSITORY_HOOK_SECRET},{APP_SECRET}"))]);
    let guid = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let delivery = |hook: &str, secret: &str, body: Value| {
        let mut request =
            signed_request("push", "push", "push", guid, "application/json", body.to_string(), secret).to_incoming();
        set(&mut request, "x-github-hook-id", hook);
        request
    };
    let repository = json!({"ref": "refs/heads/main", "repository": {"full_name": "octo-org/inlet-dev"}});
    let mut for_app = repository.clone();
    for_app["installation"] = json!({"id": 5_550_001});
    let id = |request: IncomingRequest| {
        let env = env.clone();
        async move {
            let (reply, publisher) = handle_with::<GithubFunction>(&env, &request, NOW).await;
            assert_eq!(reply.status, StatusCode::OK);
            let sent = publisher.sent();
            (sent[0].id.clone(), sent[0].verification.matched.clone())
        }
    };
    let (hook, app) = (
        id(delivery("1001", REPOSITORY_HOOK_SECRET, repository.clone())).await,
        id(delivery("2002", APP_SECRET, for_app.clone())).await,
    );
    assert_ne!(hook.0, app.0, "two hooks' deliveries of one event are two events");
    assert_eq!(hook.0, format!("github:1001:{guid}"));
    assert_eq!(app.0, format!("github:2002:{guid}"));
    assert_eq!(hook.1.as_deref(), Some("GITHUB_WEBHOOK_SECRET#1"));
    assert_eq!(app.1.as_deref(), Some("GITHUB_WEBHOOK_SECRET#2"));
    // Each hook's redelivery: the same hook, the same GUID, the same id.
    assert_eq!(id(delivery("1001", REPOSITORY_HOOK_SECRET, repository)).await.0, hook.0);
    assert_eq!(id(delivery("2002", APP_SECRET, for_app)).await.0, app.0);
}

/// GitHub Enterprise Server releases whose documentation does not list
/// `X-GitHub-Hook-ID` are still accepted, under the GUID alone.
#[tokio::test]
async fn a_delivery_without_a_hook_id_is_accepted_under_its_guid() {
    for (what, value) in [("absent", None), ("empty", Some(" "))] {
        let mut request = sample("github-push", "no-hook");
        request.headers.remove("x-github-hook-id");
        if let Some(value) = value {
            set(&mut request, "x-github-hook-id", value);
        }
        let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{what}");
        assert_eq!(publisher.sent()[0].id, format!("github:{}", delivery_id("github-push", "no-hook")), "{what}");
    }
}

#[tokio::test]
async fn a_hook_id_that_is_not_a_number_is_400_once_signed_and_401_when_not() {
    for value in ["12:34", "hook-1", "-1", "1 2"] {
        let mut request = sample("github-push", "bad-hook");
        set(&mut request, "x-github-hook-id", value);
        let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "X-GitHub-Hook-ID is not a number");
        request.headers.remove("x-hub-signature-256");
        let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
        assert_unauthenticated(&reply, &publisher);
    }
    // A ping needs no id: it is answered whatever the header says.
    let mut ping = sample("github-ping", "bad-hook");
    set(&mut ping, "x-github-hook-id", "hook-1");
    let (reply, _) = handle_with::<GithubFunction>(&dev_settings(), &ping, NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn forgeries_are_401() {
    let genuine = sample("github-push", "forged");
    let signature = genuine.header("x-hub-signature-256").unwrap().to_string();
    let hex = signature.trim_start_matches("sha256=").to_string();
    let mut tampered = genuine.clone();
    tampered.body = text(&genuine).replace("Fix the retry loop", "Fix the retry loop!").into_bytes();
    let mut cases: Vec<(&str, IncomingRequest)> = vec![("body changed after signing", tampered)];
    for (what, value) in [
        ("upper-case hex", format!("sha256={}", hex.to_ascii_uppercase())),
        ("upper-case prefix", format!("SHA256={hex}")),
        ("no prefix", hex.clone()),
        ("sha1 prefix", format!("sha1={hex}")),
        ("trailing space", format!("{signature} ")),
        (
            "one digit off",
            format!("{}{}", &signature[..signature.len() - 1], if hex.ends_with('0') { '1' } else { '0' }),
        ),
        ("signed with another secret", signature_header("another secret", &genuine.body)),
    ] {
        let mut request = genuine.clone();
        set(&mut request, "x-hub-signature-256", &value);
        cases.push((what, request));
    }
    for (what, request) in &cases {
        let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), request, NOW).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_unauthenticated(&reply, &publisher);
    }
    let mut unsigned = genuine.clone();
    unsigned.headers.remove("x-hub-signature-256");
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &unsigned, NOW).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn the_legacy_sha1_signature_is_ignored() {
    let genuine = sample("github-push", "sha1");
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(DEV_SECRET.as_bytes()).unwrap();
    mac.update(&genuine.body);
    let sha1 = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));
    // Alone, a valid SHA-1 signature proves nothing to inlet.
    let mut only_sha1 = genuine.clone();
    only_sha1.headers.remove("x-hub-signature-256");
    set(&mut only_sha1, "x-hub-signature", &sha1);
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &only_sha1, NOW).await;
    assert_unauthenticated(&reply, &publisher);
    // Beside a valid SHA-256 one, a wrong SHA-1 signature changes nothing.
    let mut both = genuine.clone();
    set(&mut both, "x-hub-signature", "sha1=0000000000000000000000000000000000000000");
    let (reply, _) = handle_with::<GithubFunction>(&dev_settings(), &both, NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn rotation_accepts_either_secret_and_records_which_one() {
    let rotating = format!("new-github-secret,{DEV_SECRET}");
    let env = dev_settings_with(&[("GITHUB_WEBHOOK_SECRET", &rotating)]);
    let (reply, publisher) = handle_with::<GithubFunction>(&env, &sample("github-push", "rot"), NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("GITHUB_WEBHOOK_SECRET#2"));

    let signed_new = GithubFunction::sample("github-push", &env, NOW, "rot").unwrap().to_incoming();
    let (_, publisher) = handle_with::<GithubFunction>(&env, &signed_new, NOW).await;
    assert_eq!(publisher.sent()[0].verification.matched.as_deref(), Some("GITHUB_WEBHOOK_SECRET#1"));
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &signed_new, NOW).await;
    assert_unauthenticated(&reply, &publisher);
}

#[tokio::test]
async fn missing_event_or_delivery_is_400_once_signed_and_401_when_not() {
    for header in ["x-github-event", "x-github-delivery"] {
        let mut request = sample("github-push", "headers");
        request.headers.remove(header);
        let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, "missing X-GitHub-");
        // Verification comes first: unsigned, the same request learns nothing.
        request.headers.remove("x-hub-signature-256");
        let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
        assert_unauthenticated(&reply, &publisher);
    }
}

#[tokio::test]
async fn bodies_that_are_not_an_event_are_400_after_a_valid_signature() {
    let cases = [
        ("application/json", "{oops".to_string(), "not valid JSON"),
        ("application/x-www-form-urlencoded", "other=1".to_string(), "no payload field"),
        ("application/x-www-form-urlencoded", encode_form(&[("payload", "{oops")]), "not valid JSON"),
        ("application/x-www-form-urlencoded", "payload=%ff%fe".to_string(), "not valid JSON"),
    ];
    for (content_type, body, reason) in cases {
        let request = signed_request("bad", "bad", "push", "d-1", content_type, body, DEV_SECRET).to_incoming();
        let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
        assert_refused(&reply, &publisher, StatusCode::BAD_REQUEST, reason);
    }
}

#[tokio::test]
async fn tenant_falls_back_to_the_organization_for_org_level_events() {
    let body = json!({"action": "member_added", "organization": {"login": "octo-org"}, "sender": {"login": "octocat"}});
    let request =
        signed_request("org", "org", "organization", "d-org", "application/json", body.to_string(), DEV_SECRET)
            .to_incoming();
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &request, NOW).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(publisher.sent()[0].tenant.as_deref(), Some("octo-org"));
    assert_eq!(publisher.sent()[0].kind, "organization");
}

#[test]
fn start_up_requires_a_secret() {
    for blank in ["", " , "] {
        let env: std::collections::HashMap<&str, &str> = [("GITHUB_WEBHOOK_SECRET", blank)].into();
        assert!(GithubFunction::from_env(&env).is_err(), "{blank:?} must be refused");
    }
}

/// What the log says about a refusal (the answer says nothing: one uniform
/// 401).
#[tokio::test]
async fn the_log_says_which_check_refused_and_never_the_secret() {
    let logs = CapturedLogs::start();
    let genuine = GithubFunction::sample("github-push", &dev_settings(), NOW, "logs").expect("sample").to_incoming();
    let mut forged = genuine.clone();
    forged.headers.insert("x-hub-signature-256", "sha256=00".parse().expect("header"));
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &forged, NOW).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(logs.text().contains("X-Hub-Signature-256 does not match"), "{}", logs.text());

    let mut unsigned = genuine.clone();
    unsigned.headers.remove("x-hub-signature-256");
    let (reply, publisher) = handle_with::<GithubFunction>(&dev_settings(), &unsigned, NOW).await;
    assert_unauthenticated(&reply, &publisher);
    assert!(logs.text().contains("missing x-hub-signature-256"), "{}", logs.text());

    let mut no_delivery = genuine.clone();
    no_delivery.headers.remove("x-github-delivery");
    let (reply, _) = handle_with::<GithubFunction>(&dev_settings(), &no_delivery, NOW).await;
    assert_eq!(reply.status, http::StatusCode::BAD_REQUEST);
    assert!(logs.text().contains("missing X-GitHub-Delivery"), "{}", logs.text());
    assert!(!logs.text().contains("dev-github-webhook-secret"), "{}", logs.text());
}
