//! End to end through the local stack (`inlet dev`, started by `make test`):
//! a signed HTTP request becomes a processed record in the table, and the
//! same event sent three times is processed once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use inlet_shared::aws::dynamodb::DynamoDbStore;
use inlet_shared::config::load_env_file_with_overrides;
use inlet_shared::dedup::DedupSettings;
use inlet_shared::dedup::InboxEntry;
use inlet_shared::samples::SampleRequest;
use inlet_testkit::moto::unique;

struct Stack {
    api: String,
    settings: HashMap<String, String>,
    store: DynamoDbStore,
}

async fn stack() -> Stack {
    let api = std::env::var("INLET_E2E_API")
        .unwrap_or_else(|_| panic!("INLET_E2E_API is not set: run `make test`, which starts the local stack"));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let settings = load_env_file_with_overrides(&root.join("events/env.json")).expect("events/env.json");
    let sdk = inlet_shared::aws::access::local_sdk_config(&inlet_testkit::moto::aws_endpoint());
    let dedup = DedupSettings::from_env(&settings).expect("dedup settings");
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), &dedup);
    Stack { api, settings, store }
}

/// Builds a sample signed now with the configured secrets.
fn build(stack: &Stack, name: &str, unique: &str) -> SampleRequest {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    inlet_cli::samples::build(name, &stack.settings, now, unique).unwrap_or_else(|| panic!("sample {name}"))
}

/// Sends a sample and returns (status, body).
fn send(stack: &Stack, sample: &SampleRequest) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    inlet_cli::samples::send(&agent, &stack.api, sample).expect("local API answers")
}

async fn records(stack: &Stack) -> HashMap<String, InboxEntry> {
    stack.store.list(usize::MAX).await.expect("scan").into_iter().map(|e| (e.id.clone(), e)).collect()
}

/// Sends `name` three times as the same event and checks that it ends up as
/// `expected_records` completed records whose sinks ran exactly once.
async fn assert_processed_once(stack: &Stack, name: &str, expected_records: usize) {
    let before: HashSet<String> = records(stack).await.into_keys().collect();
    // A platform's retry is the identical request.
    let same_event = build(stack, name, &unique(name));
    for attempt in 0..3 {
        let (status, body) = send(stack, &same_event);
        assert!((200..300).contains(&status), "{name} attempt {attempt}: {status} {body}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let now: Vec<InboxEntry> = records(stack).await.into_values().filter(|e| !before.contains(&e.id)).collect();
        let done = now.len() >= expected_records && now.iter().all(|e| e.status == "COMPLETED");
        if done || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Give the duplicates time to pass through the pump too.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after: Vec<InboxEntry> = records(stack).await.into_values().filter(|e| !before.contains(&e.id)).collect();
    assert_eq!(new.len(), expected_records, "{name}: records {:?}", new.iter().map(|e| &e.id).collect::<Vec<_>>());
    assert_eq!(after.len(), expected_records, "{name}: duplicates made new records");
    for entry in &after {
        assert_eq!(entry.status, "COMPLETED", "{name}: {}", entry.id);
        // Counted at every claim, takeovers included: 1 means the sinks
        // started once for the three deliveries.
        assert_eq!(entry.sink_runs, Some(1), "{name}: sinks ran {:?} times for {}", entry.sink_runs, entry.id);
        assert!(entry.envelope.is_some(), "{name}: the Envelope is stored in the record");
    }
}

/// Sends a sample that must be answered without enqueueing anything.
async fn assert_answered_without_enqueue(stack: &Stack, name: &str, expected_status: u16, body_part: &str) {
    let before = records(stack).await.len();
    let (status, body) = send(stack, &build(stack, name, &unique(name)));
    assert_eq!(status, expected_status, "{name}: {body}");
    assert!(body.contains(body_part), "{name}: {body:?} should contain {body_part:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(records(stack).await.len(), before, "{name} must not enqueue");
}

#[tokio::test]
async fn lark_through_the_local_stack() {
    let stack = stack().await;
    assert_answered_without_enqueue(&stack, "lark-challenge", 200, "\"challenge\"").await;
    assert_answered_without_enqueue(&stack, "lark-challenge-encrypted", 200, "\"challenge\"").await;
    for name in ["lark-message", "lark-v1-event", "lark-card", "lark-card-legacy", "lark-card-legacy-encrypted"] {
        assert_processed_once(&stack, name, 1).await;
    }
}

#[tokio::test]
async fn alerting_sources_through_the_local_stack() {
    let stack = stack().await;
    // One notification becomes one event per alert.
    assert_processed_once(&stack, "alertmanager-firing", 2).await;
    assert_processed_once(&stack, "alertmanager-resolved", 1).await;
    assert_processed_once(&stack, "grafana-unified", 2).await;
    assert_processed_once(&stack, "grafana-unified-token", 2).await;
    // Senders that never retry, or whose repeats are real new alerts: each
    // of the three identical requests is its own event, processed once.
    assert_processed_once(&stack, "grafana-legacy", 3).await;
    assert_processed_once(&stack, "alert-api", 1).await;
    assert_processed_once(&stack, "alert-api-no-key", 3).await;
}

#[tokio::test]
async fn chat_platforms_through_the_local_stack() {
    let stack = stack().await;
    assert_answered_without_enqueue(&stack, "discord-ping", 200, r#"{"type":1}"#).await;
    assert_answered_without_enqueue(&stack, "discord-autocomplete", 200, r#""choices":[]"#).await;
    assert_answered_without_enqueue(&stack, "discord-events-ping", 204, "").await;
    for name in [
        "discord-command",
        "discord-component",
        "discord-modal",
        "discord-event",
        "telegram-message",
        "telegram-edited-message",
        "telegram-callback-query",
        "openim-before-send-single",
        "openim-after-send-group",
        "openim-user-online",
    ] {
        assert_processed_once(&stack, name, 1).await;
    }
}

#[tokio::test]
async fn github_stripe_and_standard_webhooks_through_the_local_stack() {
    let stack = stack().await;
    assert_answered_without_enqueue(&stack, "github-ping", 200, "ping").await;
    for name in [
        "github-push",
        "github-issue-comment-form",
        "stripe-payment-succeeded",
        "stripe-rotated-secret",
        "stripe-connect-account",
        "standard-webhooks-event",
        "standard-webhooks-several-signatures",
    ] {
        assert_processed_once(&stack, name, 1).await;
    }
}

#[tokio::test]
async fn slack_wecom_and_dingtalk_through_the_local_stack() {
    let stack = stack().await;
    assert_answered_without_enqueue(&stack, "slack-url-verification", 200, "\"challenge\"").await;
    // WeCom's URL check: the decrypted echostr as bare text, within its 1 s.
    let started = Instant::now();
    assert_answered_without_enqueue(&stack, "wecom-url-verification", 200, "").await;
    assert!(started.elapsed() < Duration::from_millis(1500 + 1000), "WeCom's URL check took {:?}", started.elapsed());
    for name in [
        "slack-event",
        "slack-interaction",
        "slack-command",
        "wecom-text-message",
        "wecom-event",
        "dingtalk-text-message",
        "dingtalk-single-chat",
    ] {
        assert_processed_once(&stack, name, 1).await;
    }
    // Slack's retry (X-Slack-Retry-Num) of an event is the same event.
    let before = records(&stack).await.len();
    let unique = unique("slack-retry");
    for name in ["slack-event", "slack-event-retry"] {
        let (status, body) = send(&stack, &build(&stack, name, &unique));
        assert_eq!(status, 200, "{name}: {body}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while records(&stack).await.len() < before + 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(records(&stack).await.len(), before + 1, "the retry made a second record");
}

#[tokio::test]
async fn forged_request_through_the_local_stack_is_refused_and_changes_nothing() {
    let stack = stack().await;
    let before = records(&stack).await.len();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sample = inlet_cli::samples::build("lark-message", &stack.settings, now, &unique("forged")).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.post(format!("{}{}", stack.api, sample.path));
    for (header, value) in &sample.headers {
        let value = if header == "x-lark-signature" { "0".repeat(64) } else { value.clone() };
        request = request.header(header, value);
    }
    let mut response = request.send(&sample.body[..]).unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // A forged signature gets the one answer every unauthenticated failure gets.
    assert_eq!(response.body_mut().read_to_string().unwrap(), r#"{"error":"request could not be authenticated"}"#);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(records(&stack).await.len(), before);
}
