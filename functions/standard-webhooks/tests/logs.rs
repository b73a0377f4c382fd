//! What the log says about a refusal (the answer says nothing: one uniform
//! 401).

use http::HeaderValue;
use inlet_shared::samples::{CapturedLogs, Samples, assert_unauthenticated, dev_settings, handle_with};
use standard_webhooks::StandardWebhooksFunction;

const NOW: i64 = 1_700_000_000;

#[tokio::test]
async fn the_log_says_which_check_refused_and_never_the_secret() {
    let logs = CapturedLogs::start();
    let sample = |at: i64| {
        StandardWebhooksFunction::sample("standard-webhooks-event", &dev_settings(), at, "logs")
            .expect("sample")
            .to_incoming()
    };
    let mut unknown = sample(NOW);
    unknown.path = "/webhooks/nosuchsource".into();
    unknown.path_params.insert("source".into(), "nosuchsource".into());
    let mut forged = sample(NOW);
    forged.headers.insert("webhook-signature", HeaderValue::from_static("v1,AAAA"));
    let mut unreadable = sample(NOW);
    unreadable.headers.insert("webhook-signature", HeaderValue::from_static("v1,a,b"));
    let mut unsigned = sample(NOW);
    unsigned.headers.remove("webhook-signature");
    let cases = [
        (sample(NOW - 301), "outside the allowed window"),
        (unknown, "no secret for source \"nosuchsource\""),
        (forged, "webhook-signature: no v1 signature matches"),
        (unreadable, "an entry that is not version,signature"),
        (unsigned, "missing webhook-signature"),
    ];
    for (request, logged) in cases {
        let (reply, publisher) = handle_with::<StandardWebhooksFunction>(&dev_settings(), &request, NOW).await;
        assert_unauthenticated(&reply, &publisher);
        assert!(logs.text().contains(logged), "{logged}: {}", logs.text());
    }
    assert!(!logs.text().contains("ZGV2LXN0YW5kYXJk"), "{}", logs.text());
}
