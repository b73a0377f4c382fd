//! The processor's batch semantics with the in-memory store; the same paths
//! against DynamoDB (moto) live in the workspace `tests/` crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use inlet_shared::dedup::{
    Claim, Completion, IdempotencyStore, Lease, LeasePolicy, MemoryStore, NowMs, Progress, STATUS_COMPLETED,
    STATUS_IN_PROGRESS,
};
use inlet_shared::envelope::Envelope;
use inlet_shared::operations::{RECORD_ATTRIBUTE, REFUSAL_RECORD, REPLAY_ATTRIBUTE};
use inlet_shared::sink::{Sink, SinkError};
use inlet_testkit::events::refusal;
use processor::{Invocation, Processing, process_batch};
use serde_json::json;

const WINDOW: Duration = Duration::from_secs(3600);
/// The local stack's numbers: 10 s visibility, so at most a 9 s lease.
const MAX_LEASE: Duration = Duration::from_secs(9);

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

/// The test provider's event `id`, received at the epoch.
fn envelope(id: &str) -> Envelope {
    inlet_testkit::events::envelope_at("test", id, time::OffsetDateTime::UNIX_EPOCH)
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

fn failures(response: &SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

/// An invocation with `remaining` ms before its deadline at `now`.
fn invocation(request_id: &str, now: i64, remaining: i64) -> Invocation {
    Invocation::new(request_id, (now + remaining) as u64, LeasePolicy::new(MAX_LEASE))
}

fn store() -> MemoryStore {
    MemoryStore::with_window(WINDOW)
}

#[tokio::test]
async fn duplicate_inside_one_batch_runs_the_sinks_once() {
    let store = store();
    let calls = Arc::new(AtomicUsize::new(0));
    let body = serde_json::to_string(&envelope("a")).unwrap();
    let response = process_batch(
        batch(vec![record("m1", body.clone()), record("m2", body)]),
        &invocation("r1", 1000, 5000),
        &store,
        &sinks(&calls, &[]),
        || NowMs(1000),
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The second copy either saw the first's live lease (and is retried) or
    // found it completed (and is acknowledged); it never runs the sinks.
    assert!(failures(&response).len() <= 1);
    assert_eq!(store.entry("test:a").unwrap().sink_runs, Some(1));
}

#[tokio::test]
async fn redelivery_of_a_completed_event_is_skipped_and_acknowledged() {
    let store = store();
    let calls = Arc::new(AtomicUsize::new(0));
    let body = serde_json::to_string(&envelope("a")).unwrap();
    process_batch(
        batch(vec![record("m1", body.clone())]),
        &invocation("r1", 1000, 5000),
        &store,
        &sinks(&calls, &[]),
        || NowMs(1000),
    )
    .await;
    let response = process_batch(
        batch(vec![record("m2", body)]),
        &invocation("r2", 2000, 5000),
        &store,
        &sinks(&calls, &[]),
        || NowMs(2000),
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(failures(&response).is_empty());
    let entry = store.entry("test:a").unwrap();
    assert_eq!((entry.status.as_str(), entry.sink_runs), (STATUS_COMPLETED, Some(1)), "processed once");
    assert_eq!(entry.envelope.unwrap()["id"], "test:a", "completion keeps the Envelope for the inbox");
}

#[tokio::test]
async fn sink_failure_reports_only_that_record_and_releases_its_lock() {
    let store = store();
    let calls = Arc::new(AtomicUsize::new(0));
    let records = vec![
        record("ok", serde_json::to_string(&envelope("a")).unwrap()),
        record("bad", serde_json::to_string(&envelope("b")).unwrap()),
    ];
    let response =
        process_batch(batch(records), &invocation("r1", 1000, 5000), &store, &sinks(&calls, &["test:b"]), || {
            NowMs(1000)
        })
        .await;
    assert_eq!(failures(&response), ["bad"]);
    assert_eq!(store.status_of("test:a"), Some(STATUS_COMPLETED));
    assert_eq!(store.lease_of("test:b"), Some((None, NowMs(0))), "lock released so the retry can run at once");
    // The retry, 1 ms later, takes it over and the count shows the second run.
    let retry = process_batch(
        batch(vec![record("bad", serde_json::to_string(&envelope("b")).unwrap())]),
        &invocation("r2", 1001, 5000),
        &store,
        &sinks(&calls, &[]),
        || NowMs(1001),
    )
    .await;
    assert!(failures(&retry).is_empty());
    assert_eq!(store.entry("test:b").unwrap().sink_runs, Some(2));
}

#[tokio::test]
async fn unreadable_record_fails_alone() {
    let store = store();
    let calls = Arc::new(AtomicUsize::new(0));
    let records = vec![record("junk", "not json".into()), record("ok", serde_json::to_string(&envelope("a")).unwrap())];
    let response =
        process_batch(batch(records), &invocation("r1", 1000, 5000), &store, &sinks(&calls, &[]), || NowMs(1000)).await;
    assert_eq!(failures(&response), ["junk"]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn crashed_attempt_is_taken_over_after_its_lease_and_counted() {
    let store = store();
    let calls = Arc::new(AtomicUsize::new(0));
    let body = serde_json::to_string(&envelope("a")).unwrap();
    // The first attempt (deadline 5 s away) takes the lock and crashes
    // before completing.
    let crashed: Vec<Box<dyn Sink>> = vec![Box::new(Hang)];
    let first_invocation = invocation("r1", 1000, 5000);
    let first =
        process_batch(batch(vec![record("m", body.clone())]), &first_invocation, &store, &crashed, || NowMs(1000));
    assert!(tokio::time::timeout(Duration::from_millis(50), first).await.is_err(), "the attempt never finishes");
    assert_eq!(store.lease_of("test:a").unwrap().1, NowMs(6000), "lease = the invocation's deadline");
    // Before the lease ends the event is left alone.
    let early = process_batch(
        batch(vec![record("m", body.clone())]),
        &invocation("r2", 5999, 5000),
        &store,
        &sinks(&calls, &[]),
        || NowMs(5999),
    )
    .await;
    assert_eq!(failures(&early), ["m"], "lease still live");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // The redelivery after the visibility timeout takes it over.
    let late = process_batch(
        batch(vec![record("m", body)]),
        &invocation("r3", 11_000, 5000),
        &store,
        &sinks(&calls, &[]),
        || NowMs(11_000),
    )
    .await;
    assert!(failures(&late).is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let entry = store.entry("test:a").unwrap();
    assert_eq!((entry.status.as_str(), entry.sink_runs), (STATUS_COMPLETED, Some(2)), "two runs, both counted");
}

/// Reads the event's lease while the sinks run.
struct LeaseProbe {
    store: Arc<MemoryStore>,
    seen: Arc<std::sync::Mutex<Vec<NowMs>>>,
}

#[async_trait]
impl Sink for LeaseProbe {
    fn name(&self) -> &str {
        "lease-probe"
    }
    async fn handle(&self, envelope: &Envelope) -> Result<(), SinkError> {
        let (_, until) = self.store.lease_of(&envelope.id).expect("record exists while the sinks run");
        self.seen.lock().unwrap().push(until);
        Ok(())
    }
}

#[tokio::test]
async fn lease_follows_the_deadline_and_stays_below_the_visibility_timeout() {
    let memory = Arc::new(store());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(LeaseProbe { store: memory.clone(), seen: seen.clone() })];
    let now = 1_000_000;
    let run = |id: &'static str, invocation: Invocation| {
        let body = serde_json::to_string(&envelope(id)).unwrap();
        let (memory, sinks) = (memory.clone(), &sinks);
        async move { process_batch(batch(vec![record(id, body)]), &invocation, memory.as_ref(), sinks, || NowMs(now)).await }
    };
    assert!(failures(&run("short", invocation("r1", now, 3000)).await).is_empty());
    assert!(failures(&run("long", invocation("r2", now, 900_000)).await).is_empty());
    assert!(failures(&run("none", Invocation::new("r3", 0, LeasePolicy::new(MAX_LEASE))).await).is_empty());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], NowMs(now + 3000), "the invocation's deadline");
    assert_eq!(seen[1], NowMs(now + 9000), "capped: the function outlasts the visibility timeout");
    assert_eq!(seen[2], NowMs(now + 9000), "no deadline given: the cap");
    assert!(seen.iter().all(|until| until.0 - now < 10_000), "always shorter than the 10 s visibility timeout");
}

/// A sink that, while the first attempt runs, lets a second attempt take
/// the event over (as a redelivery would after the first outlived its lease).
struct TakeoverDuringRun {
    store: Arc<MemoryStore>,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Sink for TakeoverDuringRun {
    fn name(&self) -> &str {
        "takeover"
    }
    async fn handle(&self, envelope: &Envelope) -> Result<(), SinkError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            let lease = Lease { owner: "later-attempt".into(), until: NowMs(100_000) };
            let claim = self.store.claim(envelope, &lease, NowMs(50_000)).await.unwrap();
            assert_eq!(claim, Claim::Acquired(Progress::default()), "the first attempt's lease is over");
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_late_attempt_cannot_complete_a_lock_it_lost_and_its_event_is_not_lost() {
    let memory = Arc::new(store());
    let calls = Arc::new(AtomicUsize::new(0));
    let sinks: Vec<Box<dyn Sink>> = vec![Box::new(TakeoverDuringRun { store: memory.clone(), calls: calls.clone() })];
    let body = serde_json::to_string(&envelope("a")).unwrap();
    let late = process_batch(
        batch(vec![record("m", body.clone())]),
        &invocation("r1", 1000, 5000),
        memory.as_ref(),
        &sinks,
        || NowMs(1000),
    )
    .await;
    assert_eq!(failures(&late), ["m"], "lost lock: left for redelivery, not acknowledged");
    assert_eq!(memory.status_of("test:a"), Some(STATUS_IN_PROGRESS), "the late attempt completed nothing");
    assert_eq!(memory.lease_of("test:a").unwrap().0.as_deref(), Some("later-attempt"), "nor released it");
    // The later attempt completes; the late attempt's redelivery is then a duplicate.
    memory.complete(Completion::new(&envelope("a"), "later-attempt", NowMs(50_001))).await.unwrap();
    let redelivery =
        process_batch(batch(vec![record("m", body)]), &invocation("r2", 60_000, 5000), memory.as_ref(), &sinks, || {
            NowMs(60_000)
        })
        .await;
    assert!(failures(&redelivery).is_empty());
    assert_eq!(memory.entry("test:a").unwrap().sink_runs, Some(2), "the extra run is visible");
}

/// A sink that never returns: the attempt crashes (or hangs) mid-run.
struct Hang;

#[async_trait]
impl Sink for Hang {
    fn name(&self) -> &str {
        "hang"
    }
    async fn handle(&self, _: &Envelope) -> Result<(), SinkError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn each_receive_of_a_message_is_a_different_owner() {
    let store = store();
    let mut first = record("m", serde_json::to_string(&envelope("a")).unwrap());
    first.attributes.insert("ApproximateReceiveCount".into(), "1".into());
    let mut again = first.clone();
    again.attributes.insert("ApproximateReceiveCount".into(), "2".into());
    // A runtime that gives no request id must still tell the receives apart.
    let no_id = Invocation::new("", 0, LeasePolicy::new(MAX_LEASE));
    let hang: Vec<Box<dyn Sink>> = vec![Box::new(Hang)];
    let (first_clock, again_clock) = (|| NowMs(1000), || NowMs(10_001));
    let attempt = Processing { invocation: &no_id, store: &store, sinks: &hang, clock: &first_clock };
    assert!(tokio::time::timeout(Duration::from_millis(20), attempt.process_record(&first)).await.is_err());
    let attempt = Processing { invocation: &no_id, store: &store, sinks: &hang, clock: &again_clock };
    assert!(tokio::time::timeout(Duration::from_millis(20), attempt.process_record(&again)).await.is_err());
    let owner_two = Lease::owner_token("", "m", Some("2"));
    assert_eq!(store.lease_of("test:a").unwrap().0.as_deref(), Some(owner_two.as_str()), "taken over");
    let owner_one = Lease::owner_token("", "m", Some("1"));
    assert_eq!(
        store.complete(Completion::new(&envelope("a"), &owner_one, NowMs(10_002))).await.unwrap(),
        inlet_shared::dedup::Ownership::Lost,
        "the first receive cannot complete the second's lock"
    );
    assert_eq!(store.status_of("test:a"), Some(STATUS_IN_PROGRESS));
}

// ---- operator records: refusals, failures, replays ----

fn with_attribute(mut message: SqsMessage, name: &str, value: &str) -> SqsMessage {
    let mut attribute = aws_lambda_events::sqs::SqsMessageAttribute::default();
    attribute.string_value = Some(value.to_string());
    attribute.data_type = Some("String".into());
    message.message_attributes.insert(name.to_string(), attribute);
    message
}

#[tokio::test]
async fn refusal_records_are_stored_in_a_capped_ring_and_never_run_the_sinks() {
    let store = store();
    let calls = Arc::new(AtomicUsize::new(0));
    let t0 = 1_700_000_000_000;
    let records: Vec<SqsMessage> = (0..8)
        .map(|n| {
            let body = serde_json::to_string(&refusal("lark", t0 + n * 1000)).unwrap();
            with_attribute(record(&format!("r{n}"), body), RECORD_ATTRIBUTE, REFUSAL_RECORD)
        })
        .collect();
    let settings = inlet_shared::operations::OperationsSettings { refusal_cap: 5, ..Default::default() };
    let invocation = Invocation { operations: settings, ..invocation("r1", t0, 5000) };
    let response = process_batch(batch(records), &invocation, &store, &sinks(&calls, &[]), || NowMs(t0)).await;
    assert!(failures(&response).is_empty(), "records are acknowledged");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a record is not an event");
    assert_eq!(store.keys_with_prefix("refusal#lark#"), 5, "at most cap slots per provider");
    let stored = store.refusals("lark", NowMs(t0));
    assert_eq!(stored.first(), Some(&refusal("lark", t0 + 7000)), "newest first");
    assert!(store.refusals("lark", NowMs(t0 + 86_401_000)).is_empty(), "gone after the default TTL of a day");
}

#[tokio::test]
async fn an_unreadable_record_is_dropped_and_acknowledged() {
    let store = store();
    let calls = Arc::new(AtomicUsize::new(0));
    let unreadable = with_attribute(record("bad", "not json".into()), RECORD_ATTRIBUTE, REFUSAL_RECORD);
    let unknown = with_attribute(record("new", "{}".into()), RECORD_ATTRIBUTE, "from-the-future");
    let response = process_batch(
        batch(vec![unreadable, unknown]),
        &invocation("r1", 1000, 5000),
        &store,
        &sinks(&calls, &[]),
        || NowMs(1000),
    )
    .await;
    assert!(failures(&response).is_empty(), "diagnosis is never worth a dead letter");
    assert_eq!(store.keys_with_prefix(""), 0, "nothing stored");
    assert!(store.failure("bad").is_none());
}

#[tokio::test]
async fn a_failed_record_writes_why_once_per_failure() {
    let store = store();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut failing = record("m-bad", serde_json::to_string(&envelope("b")).unwrap());
    failing.attributes.insert("ApproximateReceiveCount".into(), "3".into());
    let response = process_batch(
        batch(vec![
            failing,
            record("m-good", serde_json::to_string(&envelope("g")).unwrap()),
            record("m-junk", "{".into()),
        ]),
        &invocation("r1", 1000, 5000),
        &store,
        &sinks(&calls, &["test:b"]),
        || NowMs(1000),
    )
    .await;
    assert_eq!(failures(&response), ["m-bad", "m-junk"]);
    let (failure, expiration) = store.failure("m-bad").expect("failure record");
    assert!(failure.reason.contains("told to fail"), "{failure:?}");
    assert_eq!((failure.event_id.as_deref(), failure.provider.as_deref()), (Some("test:b"), Some("test")));
    assert_eq!((failure.receive_count, failure.at_ms), (Some(3), 1000));
    assert_eq!(expiration, 1 + 14 * 86_400, "kept as long as the dead-letter queue keeps the message");
    let (junk, _) = store.failure("m-junk").expect("an unreadable body fails with a reason too");
    assert!(junk.reason.starts_with("not an Envelope") && junk.event_id.is_none(), "{junk:?}");
    assert!(store.failure("m-good").is_none(), "a processed record writes nothing");
    assert_eq!(store.keys_with_prefix("failure#"), 2);
}

#[tokio::test]
async fn a_replay_runs_the_sinks_again_once_and_is_counted_on_the_event() {
    let store = store();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    struct Recording(Arc<std::sync::Mutex<Vec<String>>>);
    #[async_trait]
    impl Sink for Recording {
        fn name(&self) -> &str {
            "recording"
        }
        async fn handle(&self, envelope: &Envelope) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(envelope.id.clone());
            Ok(())
        }
    }
    let mut all = sinks(&calls, &[]);
    all.push(Box::new(Recording(seen.clone())));
    let body = serde_json::to_string(&envelope("a")).unwrap();
    let run = |message: SqsMessage, at: i64| {
        let (store, all) = (&store, &all);
        async move { process_batch(batch(vec![message]), &invocation("r", at, 5000), store, all, || NowMs(at)).await }
    };
    assert!(failures(&run(record("m1", body.clone()), 1000).await).is_empty());
    // The same event again is a duplicate; as a replay it runs the sinks.
    assert!(failures(&run(record("m2", body.clone()), 2000).await).is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let replay = with_attribute(record("m3", body.clone()), REPLAY_ATTRIBUTE, "r-1");
    assert!(failures(&run(replay.clone(), 3000).await).is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the replay ran the sinks");
    assert_eq!(seen.lock().unwrap().last().map(String::as_str), Some("test:a"), "with the Envelope unchanged");
    assert!(failures(&run(replay, 4000).await).is_empty(), "a redelivered replay is a duplicate");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let entry = store.entry("test:a").unwrap();
    assert_eq!(
        (entry.replays, entry.last_replay_id.as_deref(), entry.last_replay_at),
        (Some(1), Some("r-1"), Some(3000))
    );
    assert_eq!(entry.sink_runs, Some(1), "the event's own runs are unchanged");
    assert_eq!(store.status_of("test:a#replay#r-1"), Some(STATUS_COMPLETED), "the replay's own record");
    let bad = with_attribute(record("m4", body), REPLAY_ATTRIBUTE, "no spaces allowed");
    assert_eq!(failures(&run(bad, 5000).await), ["m4"]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_batch_writes_one_metric_line_with_its_outcomes_and_event_ages() {
    use inlet_shared::metrics::{CapturedMetrics, Metrics};
    let store = store();
    let calls = Arc::new(AtomicUsize::new(0));
    // Envelopes received at the epoch; the batch runs 1.5 s later.
    let now = 1500;
    let (ok, failing) =
        (serde_json::to_string(&envelope("ok")).unwrap(), serde_json::to_string(&envelope("fails")).unwrap());
    let refusal = with_attribute(
        record("r", serde_json::to_string(&refusal("lark", now)).unwrap()),
        RECORD_ATTRIBUTE,
        REFUSAL_RECORD,
    );
    let captured = CapturedMetrics::new();
    let invocation = Invocation { metrics: Metrics::to(captured.clone()), ..invocation("r1", now, 5000) };
    let records = vec![record("m1", ok.clone()), record("m2", failing), refusal];
    process_batch(batch(records), &invocation, &store, &sinks(&calls, &["test:fails"]), || NowMs(now)).await;
    process_batch(batch(vec![record("m3", ok)]), &invocation, &store, &sinks(&calls, &[]), || NowMs(now)).await;
    let lines = captured.documents();
    assert_eq!(lines.len(), 2, "one line per batch: {lines:?}");
    let first = &lines[0];
    assert_eq!(first["Function"], "processor");
    assert_eq!(first["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Function"]]));
    let counts =
        ["BatchSize", "Processed", "Duplicates", "Failed", "RefusalsRecorded"].map(|name| first[name].as_u64());
    assert_eq!(counts, [Some(3), Some(1), Some(0), Some(1), Some(1)]);
    assert_eq!(first["EventAge"], json!([1500.0]), "now minus the Envelope's received_at");
    assert_eq!((lines[1]["Duplicates"].as_u64(), lines[1].get("EventAge")), (Some(1), None));
}
