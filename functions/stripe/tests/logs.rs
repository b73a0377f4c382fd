//! What the log says about a refusal (the answer says nothing: one uniform
//! 401).

use http::HeaderValue;
use inlet_shared::samples::{CapturedLogs, Samples, assert_unauthenticated, dev_settings, handle_with};
use stripe::StripeFunction;

const NOW: i64 = 1_700_000_000;

#[tokio::test]
async fn the_log_says_which_check_refused_and_never_the_secret() {
    let logs = CapturedLogs::start();
    let sample = |at: i64| {
        StripeFunction::sample("stripe-payment-succeeded", &dev_settings(), at, "logs").expect("sample").to_incoming()
    };
    let cases = [
        (sample(NOW - 301), "outside the allowed window"),
        (
            {
                let mut forged = sample(NOW);
                forged.headers.insert("stripe-signature", HeaderValue::from_static("t=1700000000,v1=00"));
                forged
            },
            "Stripe-Signature does not match",
        ),
        (
            {
                let mut unreadable = sample(NOW);
                unreadable.headers.insert("stripe-signature", HeaderValue::from_static("v1=00"));
                unreadable
            },
            "Stripe-Signature cannot be read: no t item",
        ),
        (
            {
                let mut unsigned = sample(NOW);
                unsigned.headers.remove("stripe-signature");
                unsigned
            },
            "missing stripe-signature",
        ),
    ];
    for (request, logged) in cases {
        let (reply, publisher) = handle_with::<StripeFunction>(&dev_settings(), &request, NOW).await;
        assert_unauthenticated(&reply, &publisher);
        assert!(logs.text().contains(logged), "{logged}: {}", logs.text());
    }
    assert!(!logs.text().contains("dev-stripe-endpoint-secret"), "{}", logs.text());
}
