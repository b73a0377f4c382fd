//! Helpers shared by the integration tests: where moto and the local stack
//! are, and unique names so tests can run in parallel on one emulator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::error::BoxError;

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

/// The operation of every request an SDK client sends (`UpdateItem`,
/// `PutEvents`, `SendMessageBatch` …), read from `X-Amz-Target` as moto
/// receives it: what a test counts to know what something cost. One
/// interceptor serves every client (`config::Builder::interceptor`).
#[derive(Clone, Debug, Default)]
pub struct RequestLog(Arc<Mutex<Vec<String>>>);

impl RequestLog {
    /// The operations so far, in order, and an empty log after.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// How many requests of `operation` so far.
    pub fn count(&self, operation: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|o| *o == operation).count()
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "request-log"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("?");
        self.0.lock().unwrap().push(target.rsplit('.').next().unwrap_or(target).to_string());
        Ok(())
    }
}
pub mod platforms;
