//! inlet against DingTalk's signature check as DingTalk documents it.
//!
//! DingTalk has no verifier library for outgoing robots, so
//! `tests/dingtalk_sign_check.py` writes the documented check with Python's
//! hmac, hashlib and base64, line by line as DingTalk's docs show it (`sign`
//! compared as sent in the header, not URL-decoded; `timestamp` in
//! milliseconds, at most one hour from now). Both directions:
//!
//! - `inlet_and_the_documented_check_agree_on_samples_and_forgeries`:
//!   inlet's samples and forgeries of them, judged by both;
//! - `requests_signed_by_the_documented_formula_are_accepted_by_inlet`:
//!   `sign` values computed in Python, with Python's JSON bodies.

use std::path::Path;

use dingtalk::DingtalkFunction;
use dingtalk::samples::message;
use http::{HeaderValue, Method, StatusCode};
use inlet_shared::ingress::IncomingRequest;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::crosscheck::Expect::{self, BothAccept, BothRefuse, InletLenient};
use inlet_testkit::crosscheck::{Runtime, Verdicts, headers_json, reply_text, run, with_header, without_header};
use inlet_testkit::samples::{dev_settings_with, handle_with};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000;
const NOW_MS: i64 = NOW * 1000;
const HOUR_MS: i64 = 3_600_000;
const SECRET: &str = "dev-dingtalk-app-secret-NOT-A-SECRET";

fn reference(input: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dingtalk_sign_check.py");
    let report = run(Runtime::VenvPython, &script, input);
    assert!(report["reference"].as_str().is_some_and(|r| r.starts_with("DingTalk")), "{report}");
    report
}

fn sample_at(timestamp_secs: i64, unique: &str) -> IncomingRequest {
    DingtalkFunction::sample("dingtalk-text-message", &dev_settings(), timestamp_secs, unique)
        .expect("sample")
        .to_incoming()
}

#[tokio::test]
async fn inlet_and_the_documented_check_agree_on_samples_and_forgeries() {
    let good = sample_at(NOW, "ref");
    let sign = good.header("sign").expect("sign").to_string();
    let mut other_body = good.clone();
    other_body.body = message(NOW_MS, "another message", false).to_string().into_bytes();
    let forged = DingtalkFunction::sample(
        "dingtalk-text-message",
        &inlet_testkit::conformance::forge(&dev_settings(), &["DINGTALK_APP_SECRET"]),
        NOW,
        "ref",
    )
    .expect("sample")
    .to_incoming();
    let cases: Vec<(&str, IncomingRequest, Expect)> = vec![
        ("sample dingtalk-text-message", good.clone(), BothAccept),
        (
            "sample dingtalk-single-chat",
            DingtalkFunction::sample("dingtalk-single-chat", &dev_settings(), NOW, "ref")
                .expect("sample")
                .to_incoming(),
            BothAccept,
        ),
        ("signed exactly an hour ago", sample_at(NOW - 3600, "ref"), BothAccept),
        ("signed exactly an hour ahead", sample_at(NOW + 3600, "ref"), BothAccept),
        // The body is not signed: both accept another body under a captured pair.
        ("captured headers, another body", other_body, BothAccept),
        // Forgeries.
        ("signed with another secret", forged, BothRefuse),
        (
            "timestamp changed after signing",
            with_header(good.clone(), "timestamp", &(NOW_MS + 1).to_string()),
            BothRefuse,
        ),
        ("sign lower-cased", with_header(good.clone(), "sign", &sign.to_lowercase()), BothRefuse),
        ("sign without its padding", with_header(good.clone(), "sign", sign.trim_end_matches('=')), BothRefuse),
        ("sign missing", without_header(good.clone(), "sign"), BothRefuse),
        ("timestamp missing", without_header(good.clone(), "timestamp"), BothRefuse),
        ("signed an hour and a second ago", sample_at(NOW - 3601, "ref"), BothRefuse),
        ("signed an hour and a second ahead", sample_at(NOW + 3601, "ref"), BothRefuse),
        (
            "signed over seconds, not milliseconds",
            {
                let ts = NOW.to_string();
                let request = with_header(good.clone(), "timestamp", &ts);
                with_header(request, "sign", &dingtalk::sign(SECRET, &ts))
            },
            BothRefuse,
        ),
        // Deliberate difference.
        (
            "sign percent-encoded",
            with_header(good.clone(), "sign", &inlet_shared::form::percent_encode(&sign)),
            InletLenient(
                "a %-encoded copy decodes to the same base64 (DingTalk's sending samples URL-encode it); decoding cannot forge a sign",
            ),
        ),
    ];
    let judge: Vec<Value> = cases
        .iter()
        .map(|(name, request, _)| {
            json!({"name": name, "app_secret": SECRET, "headers": headers_json(request, ""), "now_ms": NOW_MS})
        })
        .collect();
    let report = reference(&json!({ "judge": judge }));
    let mut verdicts = Verdicts::new("the documented check");
    for (name, request, expect) in &cases {
        let verdict = &report["verdicts"][*name];
        let documented = verdict["accepted"].as_bool().unwrap_or_else(|| panic!("{name}: no verdict in {report}"));
        let (reply, _) = handle_with::<DingtalkFunction>(&dev_settings(), request, NOW).await;
        let accepted = reply.status.is_success();
        if verdicts.judge(name, *expect, (documented, &verdict["reason"]), (accepted, reply_text(&reply))) && !accepted
        {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}: refused with the uniform 401");
        }
    }
    verdicts.assert_all_agree();
}

#[tokio::test]
async fn requests_signed_by_the_documented_formula_are_accepted_by_inlet() {
    let rotated = format!("{SECRET},SECthe-new-app-secret-0123456789abcdef");
    let settings = dev_settings_with(&[("DINGTALK_APP_SECRET", &rotated)]);
    let mut chinese = message(NOW_MS, "py-zh", true);
    chinese["text"]["content"] = json!(" 你好，机器人 ");
    let recipe = |name: &str, secret: &str, timestamp: i64, body: &Value| json!({"name": name, "app_secret": secret, "timestamp": timestamp.to_string(), "message": body});
    let recipes = vec![
        recipe("now", SECRET, NOW_MS, &message(NOW_MS, "py-1", true)),
        recipe("59 minutes ago", SECRET, NOW_MS - HOUR_MS + 60_000, &message(NOW_MS, "py-2", false)),
        recipe("59 minutes ahead", SECRET, NOW_MS + HOUR_MS - 60_000, &message(NOW_MS, "py-3", true)),
        recipe("odd milliseconds", SECRET, NOW_MS + 123, &message(NOW_MS, "py-4", true)),
        recipe("Python's JSON with \\u escapes", SECRET, NOW_MS, &chinese),
        recipe("the second secret", "SECthe-new-app-secret-0123456789abcdef", NOW_MS, &message(NOW_MS, "py-5", true)),
    ];
    let report = reference(&json!({ "sign": recipes }));
    let signed = report["signed"].as_array().expect("signed");
    assert_eq!(signed.len(), recipes.len());
    for case in signed {
        let name = case["name"].as_str().expect("name");
        let field = |key: &str| case[key].as_str().unwrap_or_else(|| panic!("{name}: {key}")).to_string();
        let mut request = IncomingRequest::new(Method::POST, "/dingtalk/robot", field("body"));
        request.headers.insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
        request = with_header(request, "timestamp", &field("timestamp"));
        request = with_header(request, "sign", &field("sign"));
        let (reply, publisher) = handle_with::<DingtalkFunction>(&settings, &request, NOW).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", String::from_utf8_lossy(&reply.body));
        let envelope = &publisher.sent()[0];
        let expected_secret =
            if field("app_secret") == SECRET { "DINGTALK_APP_SECRET#1" } else { "DINGTALK_APP_SECRET#2" };
        assert_eq!(envelope.verification.matched.as_deref(), Some(expected_secret), "{name}");
        assert_eq!(envelope.payload, case["message"], "{name}: the payload is the JSON DingTalk sent");
        // The same request with one character of the sign changed is refused.
        let sign = field("sign");
        let changed = if sign.starts_with('A') { "B" } else { "A" };
        let forged = with_header(request.clone(), "sign", &format!("{changed}{}", &sign[1..]));
        let (reply, publisher) = handle_with::<DingtalkFunction>(&settings, &forged, NOW).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}, forged");
        assert!(publisher.sent().is_empty());
    }
    let (_, publisher) = handle_with::<DingtalkFunction>(
        &settings,
        &{
            let case = &signed[4];
            let mut request =
                IncomingRequest::new(Method::POST, "/dingtalk/robot", case["body"].as_str().expect("body"));
            request = with_header(request, "timestamp", case["timestamp"].as_str().expect("timestamp"));
            with_header(request, "sign", case["sign"].as_str().expect("sign"))
        },
        NOW,
    )
    .await;
    assert_eq!(publisher.sent()[0].message.as_ref().and_then(|m| m.text.as_deref()), Some("你好，机器人"));
}
