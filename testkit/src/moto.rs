//! The moto fixture: where the emulator is, SDK clients for it, unique
//! names so tests can run in parallel on one emulator, a test's own queue
//! and dedup table, what reached a queue, and a log of the operations a
//! client sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::error::BoxError;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use inlet_shared::dedup::{DedupSettings, DedupWindows, LeasePolicy};

/// moto's endpoint, set by `make test`. Missing is a failure, not a skip:
/// a test run without the emulator proves nothing.
pub fn aws_endpoint() -> String {
    std::env::var("INLET_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!("INLET_TEST_AWS_ENDPOINT is not set: run `make test`, which starts moto's server for these tests")
    })
}

pub async fn clients() -> (aws_sdk_sqs::Client, aws_sdk_dynamodb::Client) {
    let sdk = inlet_shared::aws::access::local_sdk_config(&aws_endpoint());
    (aws_sdk_sqs::Client::new(&sdk), aws_sdk_dynamodb::Client::new(&sdk))
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// An item of a DynamoDB table, as the SDK answers it.
pub type Item = HashMap<String, AttributeValue>;

/// What a test of the event queue and the dedup table works with: the
/// clients, and an event queue name and a table no other test uses. The
/// test creates them as `inlet dev` does (`inlet_cli::local::create_resources`
/// with `queue_name` and `settings.table_name`); the processor reads the
/// table with `settings`: a window of an hour for every provider.
pub struct Moto {
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub queue_name: String,
    pub settings: DedupSettings,
}

impl Moto {
    /// Names of this test's own; leases of at most `max_lease`.
    pub async fn new(max_lease: Duration) -> Moto {
        let (sqs, dynamodb) = clients().await;
        let settings = DedupSettings {
            table_name: unique("table"),
            windows: DedupWindows::uniform(Duration::from_secs(3600)),
            lease: LeasePolicy::new(max_lease),
        };
        Moto { sqs, dynamodb, queue_name: unique("queue"), settings }
    }

    /// The table's item `id`, read consistently.
    pub async fn item(&self, id: &str) -> Option<Item> {
        let read = self.dynamodb.get_item().table_name(&self.settings.table_name).consistent_read(true);
        read.key("id", AttributeValue::S(id.into())).send().await.expect("get item").item
    }

    /// Every item of the table, as moto holds it.
    pub async fn scan(&self) -> Vec<Item> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let scan = self.dynamodb.scan().table_name(&self.settings.table_name).set_exclusive_start_key(start);
            let page = scan.send().await.expect("scan");
            items.extend(page.items().iter().cloned());
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return items;
            }
        }
    }
}

/// The number attribute `name` of `item`.
pub fn number(item: &Item, name: &str) -> i64 {
    item[name].as_n().unwrap_or_else(|_| panic!("{name} is a number: {item:?}")).parse().expect("an integer")
}

/// Creates a queue with `attributes` (`FifoQueue` …); its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str, attributes: &[(QueueAttributeName, &str)]) -> String {
    let mut request = sqs.create_queue().queue_name(name);
    for (attribute, value) in attributes {
        request = request.attributes(attribute.clone(), *value);
    }
    request.send().await.expect("create queue").queue_url.expect("queue url")
}

/// What reached `queue_url`, with the messages' attributes and system
/// attributes, received and deleted: long polls (of a second, ten at the
/// most) until `expected` messages came, then one more look for any other.
pub async fn receive(sqs: &aws_sdk_sqs::Client, queue_url: &str, expected: usize) -> Vec<Message> {
    let mut all = Vec::new();
    let mut waits = 10;
    loop {
        let wait = all.len() < expected && waits > 0;
        waits -= i32::from(wait);
        let batch = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(i32::from(wait))
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if batch.is_empty() && !wait {
            return all;
        }
        for message in &batch {
            let handle = message.receipt_handle().expect("a receipt handle");
            sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await.expect("delete");
        }
        all.extend(batch);
    }
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
