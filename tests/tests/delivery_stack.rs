//! Delivery through the local stack (`make stack`): each test starts
//! `inlet dev` on free ports of its own.
//!
//! - `an_event_reaches_the_bus_rule_and_the_listening_app_once_after_a_500`:
//!   a sample goes through a receiver, the queue and the processor to two
//!   destinations: the local `inlet` bus, where an EventBridge rule with an
//!   SQS target (made with aws-sdk-eventbridge on the stack's moto) receives
//!   it once, and an HTTP destination served by `inlet listen`'s server
//!   (`inlet_cli::listen`), which verifies the signature with a secret the
//!   stack only has from the environment and forwards to an app that answers
//!   500 the first time: the processor's backoff redelivers, the app gets
//!   the event twice under one webhook-id, `standardwebhooks` accepts both
//!   requests, and `inlet deliveries <id>` shows the states.
//! - `per_conversation_ordering_makes_fifo_queues_and_the_pump_keeps_a_failed_groups_order`:
//!   `INLET_ORDERING=per-conversation` creates FIFO queues (high-throughput
//!   attributes) and points the functions at them; the pump, on a FIFO queue
//!   of moto, leaves a failed record and every later record of its group for
//!   redelivery, in order, and deletes the other groups' records.
//! - `a_sample_through_a_fifo_stack_is_processed_and_delivered`: a sample
//!   sent to the FIFO stack is processed and reaches the bus.
//! - `inlet_reply_answers_a_telegram_event_once_per_reply_through_the_reply_function`:
//!   a Telegram sample is processed; `inlet reply` queues a reply on the
//!   stack's reply queue, the reply pump hands it to the reply function, and
//!   a local Telegram Bot API (`inlet_tests::platforms::telegram`, at
//!   `TELEGRAM_API_BASE`) gets exactly one `sendMessage` in the event's chat,
//!   also when the same reply is queued twice; a second reply (`--id`) is a
//!   second message.
//! - `a_destinations_reply_reaches_the_lark_chat_once_also_when_the_delivery_is_retried`:
//!   a Lark message goes to an HTTP destination that answers 500 first,
//!   then 200 with `{"reply": {"text": ...}}`; the processor queues the
//!   reply, the reply function sends it, and a local Lark Open Platform
//!   (`inlet_tests::platforms::lark`, at `LARK_API_BASE`) gets exactly one
//!   reply to the event's message with a tenant token it issued; a replay
//!   to the destination, answered with the reply again, posts nothing more.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::QueueAttributeName;
use inlet_cli::httpd::{read_body, respond, serve};
use inlet_cli::listen::{Delivery, ListenConfig};
use inlet_cli::local::{QueueShape, create_resources};
use inlet_cli::pump::{Invoker, pump_once, queue_arn};
use inlet_cli::stack::{DevStack, StackSpec};
use inlet_shared::config::load_env_file_with_overrides;
use inlet_testkit::crosscheck::{Runtime, base64_of, repository_root, run_library};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The secret the listening destination signs with, given to the stack only
/// through the environment (no events/env.json entry): `inlet dev` must pass
/// it on because the destinations document names it.
const SECRET_SETTING: &str = "INLET_TEST_LISTEN_SECRET";
const SECRET: &str = "whsec_dGVzdC1saXN0ZW4tc2VjcmV0LTMyLWJ5dGVzLU5PVC1B";

/// A request as the app saw it, and what it answered.
#[derive(Clone, Debug)]
struct Recorded {
    headers: http::HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repository root")
}

fn settings() -> HashMap<String, String> {
    load_env_file_with_overrides(&root().join("events/env.json")).expect("events/env.json")
}

/// POSTs a signed sample to the stack's API: the status and body of the answer.
async fn send_sample(stack: &DevStack, sample: inlet_shared::samples::SampleRequest) -> (u16, String) {
    inlet_tests::post_sample(&stack.api(), sample).await
}

/// POSTs a fresh alert-api event to the stack and returns its Envelope id.
async fn send_alert(stack: &DevStack) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sample = inlet_cli::samples::build("alert-api", &settings(), now, &inlet_testkit::moto::unique("delivery"))
        .expect("the alert-api sample");
    let (status, body) = send_sample(stack, sample).await;
    assert_eq!(status, 202, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("a JSON answer");
    answer["id"].as_str().expect("the id in the answer").to_string()
}

/// The team's app at `path`: answers 500 to the first request, then 200,
/// with a reply echoing the message's text when it `replies` (a bot).
async fn flaky_app(path: &str, replies: bool) -> (String, Arc<Mutex<Vec<Recorded>>>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let recorded = requests.clone();
    let server = tokio::spawn(serve(listener, move |request, _| {
        let recorded = recorded.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = read_body(body, 1 << 20).await.expect("a body").to_vec();
            let envelope: Value = serde_json::from_slice(&body).unwrap_or_default();
            let mut recorded = recorded.lock().unwrap();
            let answered = if recorded.is_empty() { 500 } else { 200 };
            recorded.push(Recorded { headers: parts.headers, body, answered });
            if answered == 200 && replies {
                let text = envelope["message"]["text"].as_str().unwrap_or_default();
                return inlet_cli::httpd::json(
                    http::StatusCode::OK,
                    &json!({"reply": {"text": format!("echo: {text}")}}),
                );
            }
            respond(http::StatusCode::from_u16(answered).unwrap(), "text/plain", format!("app says {answered}"))
        }
    }));
    (url, requests, server)
}

/// `inlet listen`'s server, forwarding to `forward`, on a free port.
async fn listener(forward: &str) -> (u16, Arc<Mutex<Vec<Delivery>>>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = Arc::new(ListenConfig::new(SECRET_SETTING, SECRET, Some(forward.to_string())).unwrap());
    let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let seen = deliveries.clone();
    let report: inlet_cli::listen::Report = Arc::new(move |delivery: &Delivery| {
        println!("listen: {}", delivery.line());
        seen.lock().unwrap().push(delivery.clone());
    });
    (port, deliveries, tokio::spawn(inlet_cli::listen::serve(listener, config, report)))
}

/// A queue on the stack's moto that an EventBridge rule on the `inlet` bus
/// targets, for events from `source`. Returns the queue's URL.
async fn rule_to_queue(stack: &DevStack, bus: &str, source: &str) -> String {
    let sdk = inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint());
    let (sqs, eventbridge) = (aws_sdk_sqs::Client::new(&sdk), aws_sdk_eventbridge::Client::new(&sdk));
    let name = inlet_testkit::moto::unique("bus-target");
    let url = sqs.create_queue().queue_name(&name).send().await.expect("target queue").queue_url.unwrap();
    let arn = queue_arn(&sqs, &url).await.unwrap();
    let rule = inlet_testkit::moto::unique("rule");
    eventbridge
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(json!({"source": [source]}).to_string())
        .send()
        .await
        .expect("PutRule on the stack's bus");
    let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(arn).build().unwrap();
    let put = eventbridge.put_targets().rule(&rule).event_bus_name(bus).targets(target).send().await.unwrap();
    assert_eq!(put.failed_entry_count, 0, "{put:?}");
    url
}

/// The EventBridge events in `queue_url` whose detail is the Envelope `id`,
/// received until `limit` passes with at least `at_least` of them.
async fn bus_events(stack: &DevStack, queue_url: &str, id: &str, at_least: usize, limit: Duration) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint()));
    let started = Instant::now();
    let mut events = Vec::new();
    while started.elapsed() < limit {
        let received =
            sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).wait_time_seconds(1).send().await;
        for message in received.unwrap().messages.unwrap_or_default() {
            let event: Value = serde_json::from_str(message.body().unwrap_or_default()).expect("an EventBridge event");
            if event["detail"]["id"] == id {
                events.push(event);
            }
        }
        if events.len() >= at_least {
            break;
        }
    }
    events
}

/// `inlet <args>` against the stack (its moto), as an operator runs it.
fn inlet(stack: &DevStack, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(&stack.spec.inlet)
        .args(args)
        .env("INLET_ROOT", root())
        .env("MOTO_PORT", stack.spec.moto_port.to_string())
        .envs(env.iter().copied())
        .output()
        .expect("inlet runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "inlet {args:?}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// One verdict of `standardwebhooks` on a request the app received.
fn library_verdict(name: &str, request: &Recorded) -> Value {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let now: u64 = header("webhook-timestamp").parse().expect("a webhook-timestamp");
    json!({
        "name": name,
        "secrets": [SECRET],
        "body_b64": base64_of(&request.body),
        "headers": {
            "webhook-id": header("webhook-id"),
            "webhook-timestamp": header("webhook-timestamp"),
            "webhook-signature": header("webhook-signature"),
        },
        "now": now + 2,
    })
}

#[tokio::test]
async fn an_event_reaches_the_bus_rule_and_the_listening_app_once_after_a_500() {
    let (app_url, app_requests, app) = flaky_app("/hooks", false).await;
    let (listen_port, deliveries, listen) = listener(&app_url).await;
    let destinations = json!([
        {"name": "inlet-bus", "type": "eventbridge", "bus": "inlet"},
        {"name": "listen", "type": "http", "url": format!("http://127.0.0.1:{listen_port}/"),
         "secret_setting": SECRET_SETTING},
    ]);
    let mut spec = StackSpec::on_free_ports(&root()).expect("free ports");
    spec.env.push(("INLET_DESTINATIONS".into(), destinations.to_string()));
    spec.env.push((SECRET_SETTING.into(), SECRET.into()));
    let mut stack = DevStack::start(spec).await.unwrap_or_else(|e| panic!("the local stack starts: {e}"));
    let status = stack.status().await.expect("status");
    assert_eq!((status.event_bus.as_str(), status.ordering.as_str()), ("inlet", "none"));
    let target_queue = rule_to_queue(&stack, "inlet", "inlet.alert-api").await;

    let id = send_alert(&stack).await;

    // The app answers 500 first: the processor backs off (10 s) and tries
    // the HTTP destination again, alone.
    let started = Instant::now();
    while !app_requests.lock().unwrap().iter().any(|r| r.answered == 200) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the app never got a second attempt: {:?}; log:\n{}",
            app_requests.lock().unwrap(),
            stack.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let retried_after = started.elapsed();
    // Nothing more comes: the 200 settled the destination.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let requests = app_requests.lock().unwrap().clone();
    let ids: Vec<&str> =
        requests.iter().map(|r| r.headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("")).collect();
    assert_eq!(ids, [id.as_str(), id.as_str()], "one webhook-id, delivered once after one failure");
    assert_eq!(requests.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 200]);
    assert!(retried_after >= Duration::from_secs(5), "the retry waited for the backoff: {retried_after:?}");
    let envelope: Value = serde_json::from_slice(&requests[1].body).expect("the Envelope");
    assert_eq!(envelope["id"], id.as_str());
    assert_eq!(requests[0].body, requests[1].body, "the same bytes on the retry");

    let listened = deliveries.lock().unwrap().clone();
    assert_eq!(listened.len(), 2, "{listened:?}");
    assert!(listened.iter().all(|d| d.verified && d.webhook_id == id && d.provider == "alert-api"), "{listened:?}");
    assert_eq!(listened.iter().map(|d| d.status).collect::<Vec<_>>(), [500, 200], "the app's status is the answer");

    // The specification's reference library accepts both attempts as the
    // app received them (forwarded unchanged).
    let script = repository_root().join("functions/standard-webhooks/tests/standardwebhooks_check.py");
    let cases = json!({"verdicts": [library_verdict("first", &requests[0]), library_verdict("retry", &requests[1])]});
    let report = run_library(Runtime::VenvPython, &script, &cases, "library", "standardwebhooks 1.1.0");
    for name in ["first", "retry"] {
        assert_eq!(report["verdicts"][name]["event"], json!(true), "standardwebhooks on the {name}: {report}");
    }

    // The bus got the event once; the rule's queue holds it.
    let events = bus_events(&stack, &target_queue, &id, 2, Duration::from_secs(6)).await;
    assert_eq!(events.len(), 1, "the bus got the event once: {events:?}");
    assert_eq!(events[0]["source"], "inlet.alert-api");
    assert_eq!(events[0]["detail-type"], envelope["kind"]);
    assert_eq!(events[0]["detail"], envelope);

    // What an operator sees.
    let shown = inlet(&stack, &["deliveries", &id], &[]);
    assert!(shown.contains(&format!("{id}: COMPLETED")), "{shown}");
    assert!(shown.contains("inlet-bus: delivered, 1 attempt(s)"), "{shown}");
    assert!(shown.contains("listen: delivered, 2 attempt(s)"), "{shown}");
    let states: Value = serde_json::from_str(&inlet(&stack, &["deliveries", &id, "--json"], &[])).unwrap();
    assert_eq!(states["listen"]["attempts"], 2, "{states}");

    stack.stop().await.unwrap();
    assert!(stack.leftovers().is_empty(), "{:?}", stack.leftovers());
    stack.remove_state_dir();
    listen.abort();
    app.abort();
}

/// Reports a failure for the records whose body is in `fail`, and keeps
/// the bodies of each batch in order.
struct FailsSome {
    fail: Vec<&'static str>,
    batches: Mutex<Vec<Vec<String>>>,
}

#[async_trait]
impl Invoker for FailsSome {
    async fn invoke(&self, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let bodies: Vec<String> = event.records.iter().map(|r| r.body.clone().unwrap_or_default()).collect();
        self.batches.lock().unwrap().push(bodies);
        let mut response = SqsBatchResponse::default();
        for record in &event.records {
            if self.fail.contains(&record.body.as_deref().unwrap_or_default()) {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        Ok(response)
    }
}

async fn fifo_stack() -> DevStack {
    let mut spec = StackSpec::on_free_ports(&root()).expect("free ports");
    spec.env.push(("INLET_ORDERING".into(), "per-conversation".into()));
    DevStack::start(spec).await.unwrap_or_else(|e| panic!("the local stack starts: {e}"))
}

#[tokio::test]
async fn per_conversation_ordering_makes_fifo_queues_and_the_pump_keeps_a_failed_groups_order() {
    let mut stack = fifo_stack().await;
    let status = stack.status().await.expect("status");
    assert!(status.queue_url.ends_with("/inlet-events.fifo"), "{}", status.queue_url);
    assert!(status.dlq_url.ends_with("/inlet-events-dlq.fifo"), "{}", status.dlq_url);
    assert_eq!(status.ordering, "per-conversation");
    let sdk = inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint());
    let (sqs, dynamodb) = (aws_sdk_sqs::Client::new(&sdk), aws_sdk_dynamodb::Client::new(&sdk));
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&status.queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    for (name, value) in [
        (QueueAttributeName::FifoQueue, "true"),
        (QueueAttributeName::DeduplicationScope, "messageGroup"),
        (QueueAttributeName::FifoThroughputLimit, "perMessageGroupId"),
    ] {
        assert_eq!(attributes.get(&name).map(String::as_str), Some(value), "{name:?}: {attributes:?}");
    }
    let redrive: Value = serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert!(redrive["deadLetterTargetArn"].as_str().unwrap().ends_with(":inlet-events-dlq.fifo"), "{redrive}");
    // Receivers and processor are pointed at the FIFO queue.
    let env = std::fs::read_to_string(stack.spec.state_dir().join(inlet_cli::dev::ENV_FILE_NAME)).unwrap();
    assert!(env.contains(&format!("INLET_QUEUE_URL=\"{}\"", status.queue_url)), "{env}");

    // The pump on a FIFO queue of the stack's moto (not the stack's own, which its pump drains).
    let shape = QueueShape {
        queue_name: inlet_testkit::moto::unique("pf"),
        visibility_timeout_secs: 1,
        fifo: true,
        ..Default::default()
    };
    let resources =
        create_resources(&sqs, &dynamodb, &shape, &inlet_testkit::moto::unique("t")).await.expect("FIFO queues");
    assert!(resources.queue_url.ends_with(".fifo"));
    for (body, group) in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A"), ("b2", "B")] {
        sqs.send_message()
            .queue_url(&resources.queue_url)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(body)
            .send()
            .await
            .unwrap();
    }
    let arn = queue_arn(&sqs, &resources.queue_url).await.unwrap();
    let invoker = FailsSome { fail: vec!["a2"], batches: Mutex::default() };
    let stats = pump_once(&sqs, &resources.queue_url, &arn, &invoker, Duration::from_secs(1)).await.unwrap();
    assert_eq!(invoker.batches.lock().unwrap()[0], ["a1", "b1", "a2", "a3", "b2"], "one batch, each group in order");
    assert_eq!((stats.received, stats.deleted, stats.left_for_retry), (5, 3, 2), "a3 stays behind a2");

    // They come back after the visibility timeout, a2 before a3; nothing else.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let invoker = FailsSome { fail: vec![], batches: Mutex::default() };
    let started = Instant::now();
    let mut deleted = 0;
    while deleted < 2 && started.elapsed() < Duration::from_secs(10) {
        deleted += pump_once(&sqs, &resources.queue_url, &arn, &invoker, Duration::from_secs(1)).await.unwrap().deleted;
    }
    let again: Vec<String> = invoker.batches.lock().unwrap().concat();
    assert_eq!(again, ["a2", "a3"]);

    stack.stop().await.unwrap();
    assert!(stack.leftovers().is_empty(), "{:?}", stack.leftovers());
    stack.remove_state_dir();
}

#[tokio::test]
async fn a_sample_through_a_fifo_stack_is_processed_and_delivered() {
    let mut stack = fifo_stack().await;
    let target_queue = rule_to_queue(&stack, "inlet", "inlet.alert-api").await;
    let id = send_alert(&stack).await;
    let events = bus_events(&stack, &target_queue, &id, 1, Duration::from_secs(30)).await;
    assert_eq!(events.len(), 1, "log:\n{}", stack.log_tail(40));
    let shown = inlet(&stack, &["deliveries", &id], &[("INLET_ORDERING", "per-conversation")]);
    assert!(shown.contains("inlet-bus: delivered, 1 attempt(s)"), "{shown}");
    stack.stop().await.unwrap();
    stack.remove_state_dir();
}

/// The Envelope id of a Telegram sample: the bot and its update_id.
fn telegram_event_id(sample: &inlet_shared::samples::SampleRequest) -> String {
    let update: Value = serde_json::from_slice(&sample.body).expect("a JSON update");
    let bot = sample.path.rsplit('/').next().expect("/telegram/{bot}");
    format!("telegram:{bot}:{}", update["update_id"].as_u64().expect("an update_id"))
}

/// `inlet reply <args>` against the stack: its output.
async fn run_inlet_reply(stack: &DevStack, args: &[&str]) -> std::process::Output {
    let (inlet, moto_port) = (stack.spec.inlet.clone(), stack.spec.moto_port);
    let args: Vec<String> = std::iter::once("reply").chain(args.iter().copied()).map(str::to_string).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(inlet)
            .args(&args)
            .env("INLET_ROOT", root())
            .env("MOTO_PORT", moto_port.to_string())
            .output()
            .expect("inlet runs")
    })
    .await
    .unwrap()
}

/// `inlet reply <args>` against the stack; its dedup key.
async fn inlet_reply(stack: &DevStack, args: &[&str]) -> String {
    let output = run_inlet_reply(stack, args).await;
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "inlet reply: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    let key = stdout.split_whitespace().find(|word| word.starts_with("reply:")).expect("the dedup key is printed");
    key.trim_end_matches(':').to_string()
}

/// Waits until `done` holds, checking every 200 ms for up to `limit`.
async fn wait_until(stack: &DevStack, what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "{what} within {limit:?}; log:\n{}", stack.log_tail(40));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inlet_reply_answers_a_telegram_event_once_per_reply_through_the_reply_function() {
    let settings = settings();
    let (bot, token) = settings["TELEGRAM_BOT_TOKENS"].split_once('=').expect("bot=token in events/env.json");
    let chat = "-1001234567890";
    let telegram = inlet_tests::platforms::telegram::start(&[(bot, token)], &[chat]).await;
    let mut spec = StackSpec::on_free_ports(&root()).expect("free ports");
    spec.env.push(("TELEGRAM_API_BASE".into(), telegram.api_base()));
    let mut stack = DevStack::start(spec).await.unwrap_or_else(|e| panic!("the local stack starts: {e}"));
    let status = stack.status().await.expect("status");
    assert!(status.reply_queue_url.ends_with("/inlet-replies"), "{}", status.reply_queue_url);
    assert!(status.reply_dlq_url.ends_with("/inlet-replies-dlq"), "{}", status.reply_dlq_url);
    assert!(status.functions.contains_key(inlet_cli::dev::REPLIER), "{:?}", status.functions.keys());
    let env = std::fs::read_to_string(stack.spec.state_dir().join(inlet_cli::dev::ENV_FILE_NAME)).unwrap();
    assert!(env.contains(&format!("INLET_REPLY_QUEUE_URL=\"{}\"", status.reply_queue_url)), "{env}");

    // A Telegram message, processed.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sample = inlet_cli::samples::build("telegram-message", &settings, now, &inlet_testkit::moto::unique("reply"))
        .expect("the telegram-message sample");
    let id = telegram_event_id(&sample);
    let (answer, body) = send_sample(&stack, sample).await;
    assert_eq!(answer, 200, "{body}");
    let sdk = inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint());
    let store = inlet_cli::ops::store(aws_sdk_dynamodb::Client::new(&sdk), &status.table);
    let completed = async || store.entry(&id).await.unwrap().is_some_and(|e| e.status == "COMPLETED");
    wait_until(&stack, "the event is processed", Duration::from_secs(30), completed).await;

    // The reply, then the same reply again: one message.
    let key = inlet_reply(&stack, &[&id, "--text", "pong from inlet"]).await;
    let sent_once = async || telegram.calls_to("sendMessage").len() == 1;
    wait_until(&stack, "a sendMessage", Duration::from_secs(30), sent_once).await;
    assert_eq!(inlet_reply(&stack, &[&id, "--text", "pong from inlet"]).await, key, "the same reply, the same key");
    let handled = async || stack.status().await.unwrap().reply_pump.deleted >= 2;
    wait_until(&stack, "the second request acknowledged", Duration::from_secs(30), handled).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = telegram.calls_to("sendMessage");
    assert_eq!(calls.len(), 1, "the same reply is posted once: {calls:?}");
    let call = &calls[0];
    assert_eq!(call.path, format!("/bot{token}/sendMessage"), "the bot's own token");
    let sent = call.json();
    assert_eq!(sent["chat_id"].to_string().trim_matches('"'), chat, "{sent}");
    assert_eq!(sent["text"], "pong from inlet");
    assert_eq!(sent["reply_parameters"]["message_id"], 77, "an answer to the event's message: {sent}");
    let record = store.entry(&key).await.unwrap().expect("the reply's record");
    assert_eq!(record.status, "COMPLETED");
    assert_eq!(record.deliveries.0["telegram"].state, inlet_shared::dedup::DeliveryState::Delivered);
    assert!(!serde_json::to_string(&record).unwrap().contains(token), "no token in the record");

    // A second reply with the same text but an id of its own: a second message.
    let second = inlet_reply(&stack, &[&id, "--text", "pong from inlet", "--id", "second"]).await;
    assert_ne!(second, key);
    let sent_twice = async || telegram.calls_to("sendMessage").len() == 2;
    wait_until(&stack, "a second sendMessage", Duration::from_secs(30), sent_twice).await;
    let messages: Vec<String> = telegram.messages(chat).into_iter().map(|m| m.text).collect();
    assert_eq!(messages, ["pong from inlet", "pong from inlet"]);
    // An event no reply client answers is refused before anything is queued.
    let alert = send_alert(&stack).await;
    let processed = async || store.entry(&alert).await.unwrap().is_some_and(|e| e.status == "COMPLETED");
    wait_until(&stack, "the alert is processed", Duration::from_secs(30), processed).await;
    let refused = run_inlet_reply(&stack, &[&alert, "--text", "ack"]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("cannot answer alert-api events"), "{stderr}");
    assert_eq!(stack.status().await.unwrap().reply_pump.records, 3, "nothing more was queued");

    let log = stack.log_text();
    assert!(log.contains("reply pump: 1 received, 1 done"), "the reply pump names itself");
    assert!(!log.contains(token), "no token in the stack's log");

    stack.stop().await.unwrap();
    assert!(stack.leftovers().is_empty(), "{:?}", stack.leftovers());
    stack.remove_state_dir();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destinations_reply_reaches_the_lark_chat_once_also_when_the_delivery_is_retried() {
    let settings = settings();
    let lark =
        inlet_tests::platforms::lark::LarkServer::start(&settings["LARK_APP_ID"], &settings["LARK_APP_SECRET"]).await;
    let (app_url, app_requests, app) = flaky_app("/bot", true).await;
    let destinations = json!([{"name": "bot", "type": "http", "url": app_url, "secret_setting": SECRET_SETTING}]);
    let mut spec = StackSpec::on_free_ports(&root()).expect("free ports");
    spec.env.push(("INLET_DESTINATIONS".into(), destinations.to_string()));
    spec.env.push((SECRET_SETTING.into(), SECRET.into()));
    spec.env.extend(lark.env().into_iter().map(|(name, value)| (name.to_string(), value)));
    let mut stack = DevStack::start(spec).await.unwrap_or_else(|e| panic!("the local stack starts: {e}"));

    // A Lark message in a chat the local Lark knows.
    let unique = inlet_testkit::moto::unique("answer").replace('-', "_");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sample = inlet_cli::samples::build("lark-message", &settings, now, &unique).expect("the lark-message sample");
    let update: Value = serde_json::from_slice(&sample.body).unwrap_or_default();
    let message_id = format!("om_{unique}");
    lark.put_message(&message_id, "oc_devchat");
    let (status, body) = send_sample(&stack, sample).await;
    assert_eq!(status, 200, "{body} {update}");

    // 500, then the processor's backoff, then 200 with the reply: one reply
    // reaches the chat, answering the event's message.
    let replied = async || !lark.messages_posted().is_empty();
    wait_until(&stack, "Lark gets the reply", Duration::from_secs(60), replied).await;
    let requests = app_requests.lock().unwrap().clone();
    assert_eq!(requests.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 200], "retried once");
    let envelope: Value = serde_json::from_slice(&requests[1].body).expect("the Envelope");
    let id = envelope["id"].as_str().expect("an id").to_string();
    let text = envelope["message"]["text"].as_str().expect("the message's text");
    let posted = lark.messages_posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].parent_id.as_deref(), Some(message_id.as_str()), "a reply to the event's message");
    assert_eq!(posted[0].chat_id, "oc_devchat");
    assert_eq!(posted[0].content_json(), json!({"text": format!("echo: {text}")}));
    assert_eq!(lark.token_requests().len(), 1, "one tenant token");

    // A replay to the destination: it answers with the reply again, and
    // the reply's key (the event and the destination) posts nothing more.
    let document = destinations.to_string();
    let replayed = inlet(&stack, &["replay", &id, "--destination", "bot"], &[("INLET_DESTINATIONS", &document)]);
    assert!(replayed.contains(&id), "{replayed}");
    let asked_again = async || app_requests.lock().unwrap().len() == 3;
    wait_until(&stack, "the replay reaches the destination", Duration::from_secs(30), asked_again).await;
    let skipped = async || stack.status().await.unwrap().reply_pump.deleted >= 2;
    wait_until(&stack, "the second reply request is handled", Duration::from_secs(30), skipped).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(lark.reply_requests().len(), 1, "the repeated reply never reached Lark");
    assert_eq!(lark.messages_posted().len(), 1);
    let log = stack.log_text();
    assert!(!log.contains(&settings["LARK_APP_SECRET"]), "no app secret in the stack's log");

    stack.stop().await.unwrap();
    assert!(stack.leftovers().is_empty(), "{:?}", stack.leftovers());
    stack.remove_state_dir();
    app.abort();
}
