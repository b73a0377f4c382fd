//! What the log says about a refusal (the answer says nothing: one uniform
//! 401).

use github::GithubFunction;
use inlet_shared::samples::{CapturedLogs, Samples, assert_unauthenticated, dev_settings, handle_with};

const NOW: i64 = 1_700_000_000;

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
