//! The processor's batch semantics with the in-memory store; the same paths
//! against DynamoDB (moto) live in the workspace `tests/` crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use inlet_shared::dedup::{MemoryStore, NowMs, STATUS_COMPLETED};
use inlet_shared::envelope::{Envelope, Verification};
use inlet_shared::sink::{Sink, SinkError};
use processor::process_batch;
use serde_json::json;

struct CountingSink {
    calls: Arc<AtomicUsize>,
    fail_ids: Vec<String>,
}

#[async_trait]
impl Sink for CountingSink {
    fn name(&self) -> &str {
        "counting"
    }
    async fn handle(&self, envelope: &Envelope) -> Result<(), SinkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_ids.contains(&envelope.id) {
            return Err(SinkError::new("counting", "told to fail"));
        }
        Ok(())
    }
}

fn envelope(id: &str) -> Envelope {
    Envelope::new(
        "test",
        id,
        "k",
        time::OffsetDateTime::UNIX_EPOCH,
        Verification { scheme: "none".into(), matched: None },
        json!({"id": id}),
    )
}

fn record(message_id: &str, body: String) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(message_id.to_string());
    message.body = Some(body);
    message
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

fn sinks(calls: &Arc<AtomicUsize>, fail_ids: &[&str]) -> Vec<Box<dyn Sink>> {
    vec![Box::new(CountingSink { calls: calls.clone(), fail_ids: fail_ids.iter().map(|s| s.to_string()).collect() })]
}

fn failures(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

#[tokio::test]
async fn duplicate_inside_one_batch_runs_the_sinks_once() {
    let store = MemoryStore::new(3600, 60_000);
    let calls = Arc::new(AtomicUsize::new(0));
    let body = serde_json::to_string(&envelope("a")).unwrap();
    let response =
        process_batch(batch(vec![record("m1", body.clone()), record("m2", body)]), &store, &sinks(&calls, &[]), || {
            NowMs(1000)
        })
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The second copy either saw the first's live lease (and is retried) or
    // found it completed (and is acknowledged); it never runs the sinks.
    assert!(failures(&response).len() <= 1);
}

#[tokio::test]
async fn redelivery_of_a_completed_event_is_skipped_and_acknowledged() {
    let store = MemoryStore::new(3600, 60_000);
    let calls = Arc::new(AtomicUsize::new(0));
    let body = serde_json::to_string(&envelope("a")).unwrap();
    process_batch(batch(vec![record("m1", body.clone())]), &store, &sinks(&calls, &[]), || NowMs(1000)).await;
    let response = process_batch(batch(vec![record("m2", body)]), &store, &sinks(&calls, &[]), || NowMs(2000)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(failures(&response).is_empty());
    assert_eq!(store.status_of("test:a"), Some(STATUS_COMPLETED));
}

#[tokio::test]
async fn sink_failure_reports_only_that_record_and_releases_its_lock() {
    let store = MemoryStore::new(3600, 60_000);
    let calls = Arc::new(AtomicUsize::new(0));
    let records = vec![
        record("ok", serde_json::to_string(&envelope("a")).unwrap()),
        record("bad", serde_json::to_string(&envelope("b")).unwrap()),
    ];
    let response = process_batch(batch(records), &store, &sinks(&calls, &["test:b"]), || NowMs(1000)).await;
    assert_eq!(failures(&response), ["bad"]);
    assert_eq!(store.status_of("test:a"), Some(STATUS_COMPLETED));
    assert_eq!(store.status_of("test:b"), None, "lock released so the retry can run at once");
}

#[tokio::test]
async fn unreadable_record_fails_alone() {
    let store = MemoryStore::new(3600, 60_000);
    let calls = Arc::new(AtomicUsize::new(0));
    let records = vec![record("junk", "not json".into()), record("ok", serde_json::to_string(&envelope("a")).unwrap())];
    let response = process_batch(batch(records), &store, &sinks(&calls, &[]), || NowMs(1000)).await;
    assert_eq!(failures(&response), ["junk"]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn crashed_attempt_is_taken_over_after_its_lease() {
    let store = MemoryStore::new(3600, 60_000);
    let calls = Arc::new(AtomicUsize::new(0));
    let event = envelope("a");
    // A crash between lock and completion leaves an IN_PROGRESS record.
    inlet_shared::dedup::IdempotencyStore::claim(&store, &event, NowMs(1000)).await.unwrap();
    let body = serde_json::to_string(&event).unwrap();
    let early =
        process_batch(batch(vec![record("m", body.clone())]), &store, &sinks(&calls, &[]), || NowMs(30_000)).await;
    assert_eq!(failures(&early), ["m"], "lease still live");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let late = process_batch(batch(vec![record("m", body)]), &store, &sinks(&calls, &[]), || NowMs(61_001)).await;
    assert!(failures(&late).is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
