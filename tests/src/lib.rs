//! Helpers shared by the integration tests: where moto and the local stack
//! are, and unique names so tests can run in parallel on one emulator.

use std::sync::atomic::{AtomicUsize, Ordering};

/// moto's endpoint, set by `make test`. Missing is a failure, not a skip:
/// a test run without the emulator proves nothing.
pub fn aws_endpoint() -> String {
    std::env::var("INLET_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!("INLET_TEST_AWS_ENDPOINT is not set: run `make test`, which starts moto's server for these tests")
    })
}

pub async fn clients() -> (aws_sdk_sqs::Client, aws_sdk_dynamodb::Client) {
    let sdk = inlet_shared::runtime::local_sdk_config(&aws_endpoint());
    (aws_sdk_sqs::Client::new(&sdk), aws_sdk_dynamodb::Client::new(&sdk))
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}
