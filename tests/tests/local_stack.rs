//! The local stack survives what Lambda survives, checked against real
//! processes: each test starts `inlet dev` (the binary `make build` made) on
//! free ports of its own, kills, pauses or interrupts parts of it, and checks
//! what the queue, the table and the process table show afterwards.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;

use inlet_cli::dev::{ENV_FILE_NAME, PROCESSOR, StackStatus};
use inlet_cli::process::{port_in_use, session_processes, signal_process};
use inlet_cli::runtime_api::EnvironmentState;
use inlet_cli::stack::{DevStack, StackSpec};
use inlet_shared::aws::dynamodb::DynamoDbStore;
use inlet_shared::config::load_env_file_with_overrides;
use inlet_shared::dedup::DedupSettings;
use inlet_shared::dedup::InboxEntry;
use inlet_shared::samples::SampleRequest;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repository root")
}

fn settings() -> HashMap<String, String> {
    load_env_file_with_overrides(&root().join("events/env.json")).expect("events/env.json")
}

async fn start() -> DevStack {
    let spec = StackSpec::on_free_ports(&root()).expect("free ports");
    DevStack::start(spec).await.unwrap_or_else(|e| panic!("the local stack starts: {e}"))
}

async fn status(stack: &DevStack) -> StackStatus {
    stack.status().await.expect("GET /_inlet/status")
}

/// POSTs a fresh alert-api event and returns its id from the 202 answer.
async fn send_alert(api: &str, unique: String) -> String {
    let (status, body) = send(api, "alert-api", unique).await;
    assert_eq!(status, 202, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON answer");
    answer["id"].as_str().expect("id in the answer").to_string()
}

async fn send(api: &str, name: &str, unique: String) -> (u16, String) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sample = inlet_cli::samples::build(name, &settings(), now, &unique).expect("sample");
    inlet_tests::post_sample(api, sample).await
}

async fn store(stack: &DevStack) -> DynamoDbStore {
    let sdk = inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint());
    let mut dedup = DedupSettings::from_env(&settings()).expect("dedup settings");
    dedup.table_name = status(stack).await.table;
    DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), &dedup)
}

async fn records(store: &DynamoDbStore) -> BTreeMap<String, InboxEntry> {
    store.list(usize::MAX).await.expect("scan").into_iter().map(|e| (e.id.clone(), e)).collect()
}

/// Messages visible or in flight in a queue.
async fn depth(stack: &DevStack, queue_url: &str) -> u64 {
    let sdk = inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint());
    inlet_cli::soak::queue_depth(&aws_sdk_sqs::Client::new(&sdk), queue_url).await.expect("queue attributes")
}

/// Waits until every id is COMPLETED and the queue is empty.
async fn wait_processed(stack: &DevStack, ids: &BTreeSet<String>, limit: Duration) -> BTreeMap<String, InboxEntry> {
    let store = store(stack).await;
    let queue = status(stack).await.queue_url;
    let started = Instant::now();
    loop {
        let all = records(&store).await;
        let done = ids.iter().all(|id| all.get(id).is_some_and(|e| e.status == "COMPLETED"));
        if (done && depth(stack, &queue).await == 0) || started.elapsed() > limit {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the queue holds nothing, visible or in flight, and no
/// processor environment runs an invoke.
async fn wait_until_idle(stack: &DevStack) {
    let started = Instant::now();
    loop {
        let now = status(stack).await;
        let running = now.functions[PROCESSOR]
            .environments
            .iter()
            .any(|e| matches!(e.state, EnvironmentState::Initializing | EnvironmentState::Running));
        if !running && depth(stack, &now.queue_url).await == 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the queue never drained: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn processor_pid(status: &StackStatus) -> Option<u32> {
    status.functions[PROCESSOR].pids().first().copied()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// Ctrl-C; then nothing of the stack may run or listen.
async fn assert_stops_cleanly(mut stack: DevStack) {
    let status = stack.stop().await.expect("inlet dev exits after Ctrl-C");
    assert!(status.success(), "inlet dev exited with {status}; log:\n{}", stack.log_tail(30));
    assert_nothing_left(&stack).await;
}

async fn assert_nothing_left(stack: &DevStack) {
    let started = Instant::now();
    let mut left = stack.leftovers();
    while !left.is_empty() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = stack.leftovers();
    }
    assert!(left.is_empty(), "processes left running: {left:?}\nlog:\n{}", stack.log_tail(30));
    for port in [stack.spec.moto_port, stack.spec.api_port] {
        assert!(!port_in_use(port), "something still listens on port {port}");
    }
    stack.remove_state_dir();
}

#[tokio::test]
async fn killed_functions_are_started_again_and_a_batch_killed_midway_is_processed_once_redelivered() {
    let stack = start().await;
    let before = status(&stack).await;

    // A receiver killed while idle: the next request starts it again.
    let lark_pid = before.functions["lark"].pids()[0];
    signal_process(lark_pid, libc::SIGKILL).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (answer, body) = send(&stack.api(), "lark-message", inlet_testkit::moto::unique("lark")).await;
    assert_eq!(answer, 200, "the restarted receiver answers: {body}");
    let lark = &status(&stack).await.functions["lark"];
    assert_eq!((lark.starts, lark.crashes), (2, 1));
    assert_ne!(lark.pids(), vec![lark_pid]);
    wait_until_idle(&stack).await;

    // The processor killed while it runs a batch: of the events below, as
    // the queue is empty by now (the warm-up's refusal records and the Lark
    // event were processed).
    // Events keep coming until the kill, so that there is a batch to kill.
    let killed_flag = Arc::new(AtomicBool::new(false));
    let api = stack.api();
    let sender = {
        let killed_flag = killed_flag.clone();
        tokio::spawn(async move {
            let mut ids = BTreeSet::new();
            for i in 0..2000 {
                if i >= 40 && killed_flag.load(Ordering::SeqCst) {
                    break;
                }
                ids.insert(send_alert(&api, inlet_testkit::moto::unique(&format!("kill-{i}"))).await);
            }
            ids
        })
    };
    // Retried until a kill fails the batch it interrupted: one that meets the
    // process between batches fails nothing (and was this test's old flake).
    let killed = stack.kill_processor_mid_batch(Duration::from_secs(120), 10).await;
    killed_flag.store(true, Ordering::SeqCst);
    let killed = killed.unwrap_or_else(|e| panic!("{e}"));
    let ids = sender.await.unwrap();
    let all = wait_processed(&stack, &ids, Duration::from_secs(90)).await;

    let after = status(&stack).await;
    let processor = &after.functions[PROCESSOR];
    assert!(processor.crashes >= 1 && processor.starts >= 2, "{processor:?}");
    assert!(!processor.pids().contains(&killed.pid), "a new processor process serves");
    assert!(after.pump.failed_invocations >= 1, "the killed invoke failed its batch");
    assert!(stack.log_text().contains("Runtime exited with error: signal: killed"));
    let failed_batch: BTreeSet<&String> = after.pump.failed_batch_ids.iter().collect();
    assert!(ids.iter().any(|id| failed_batch.contains(id)), "the killed batch held events: {failed_batch:?}");
    for id in &ids {
        let entry = all.get(id).unwrap_or_else(|| panic!("{id} has no record: lost"));
        assert_eq!(entry.status, "COMPLETED", "{id}");
        let runs = entry.sink_runs.unwrap_or(0);
        assert!(runs >= 1, "{id}: sink_runs {runs}");
        // Only an event whose lock the killed attempt had taken is run again.
        assert!(runs == 1 || failed_batch.contains(id), "{id}: sink_runs {runs} outside the killed batch");
    }
    assert_eq!(depth(&stack, &after.dlq_url).await, 0, "nothing went to the dead-letter queue");
    assert_eq!(depth(&stack, &after.queue_url).await, 0);
    assert_stops_cleanly(stack).await;
}

#[tokio::test]
async fn a_hung_processor_fails_its_batch_at_the_function_timeout_and_the_event_is_processed_after() {
    let stack = start().await;
    // Warming the stack leaves refusal records on the queue; were one still
    // to be pumped, the hung invoke would be theirs and start before `sent`.
    wait_until_idle(&stack).await;
    let pid = processor_pid(&status(&stack).await).expect("warm processor");
    // A stopped process neither answers nor exits: a hang.
    signal_process(pid, libc::SIGSTOP).unwrap();
    let sent = Instant::now();
    let id = send_alert(&stack.api(), inlet_testkit::moto::unique("hung")).await;
    let failed_after = loop {
        let now = status(&stack).await;
        if now.functions[PROCESSOR].timeouts >= 1 {
            break sent.elapsed();
        }
        assert!(sent.elapsed() < Duration::from_secs(20), "the hung invoke was never given up; {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let timeout = inlet_cli::local::PROCESSOR_TIMEOUT;
    // The pump's long poll takes up to a second before the invoke starts.
    assert!(failed_after >= timeout && failed_after < timeout + Duration::from_secs(4), "{failed_after:?}");
    assert!(stack.log_text().contains("Task timed out after 6.00 seconds"));
    assert!(!alive(pid), "the hung process was killed");

    let all = wait_processed(&stack, &BTreeSet::from([id.clone()]), Duration::from_secs(60)).await;
    let entry = &all[&id];
    assert_eq!(entry.status, "COMPLETED");
    assert_eq!(entry.sink_runs, Some(1), "the hung attempt never took the lock");
    let after = status(&stack).await;
    assert_eq!(after.pump.failed_batch_ids, std::slice::from_ref(&id), "the one failed batch was the event's");
    assert_eq!(depth(&stack, &after.dlq_url).await, 0);

    pump_gives_up_on_an_invoke_past_its_time_limit(&stack).await;
    assert_stops_cleanly(stack).await;
}

/// Whatever the invoker: an invoke that never answers fails its batch at the
/// invoker's time limit, and nothing is deleted.
async fn pump_gives_up_on_an_invoke_past_its_time_limit(stack: &DevStack) {
    struct Hangs;
    #[async_trait::async_trait]
    impl inlet_cli::pump::Invoker for Hangs {
        async fn invoke(
            &self,
            _: &aws_lambda_events::sqs::SqsEvent,
        ) -> Result<aws_lambda_events::sqs::SqsBatchResponse, String> {
            std::future::pending().await
        }
        fn time_limit(&self) -> Duration {
            Duration::from_millis(500)
        }
    }
    let sdk = inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint());
    let (sqs, dynamodb) = (aws_sdk_sqs::Client::new(&sdk), aws_sdk_dynamodb::Client::new(&sdk));
    let shape = inlet_cli::local::QueueShape { queue_name: inlet_testkit::moto::unique("hang"), ..Default::default() };
    let resources = inlet_cli::local::create_resources(&sqs, &dynamodb, &shape, &inlet_testkit::moto::unique("t"))
        .await
        .expect("queue on the stack's moto");
    sqs.send_message().queue_url(&resources.queue_url).message_body(r#"{"id":"x:1"}"#).send().await.unwrap();
    let arn = inlet_cli::pump::queue_arn(&sqs, &resources.queue_url).await.unwrap();
    let started = Instant::now();
    let stats = inlet_cli::pump::pump_once(&sqs, &resources.queue_url, &arn, &Hangs, Duration::from_secs(1))
        .await
        .expect("pump cycle");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!((stats.received, stats.deleted, stats.left_for_retry), (1, 0, 1));
    assert!(stats.invoke_failed.is_some_and(|reason| reason.contains("no answer within")));
    assert_eq!(stats.failed_batch_ids, ["x:1"]);
}

/// Waits for a process the stack started whose command line satisfies
/// `wanted`; returns its pid.
async fn wait_for_process(stack: &mut DevStack, what: &str, wanted: impl Fn(&str) -> bool) -> u32 {
    let started = Instant::now();
    loop {
        let started_by_stack = session_processes(stack.pid).into_iter().filter(|(pid, _)| *pid != stack.pid);
        if let Some((pid, _)) = started_by_stack.into_iter().find(|(_, cmd)| wanted(cmd)) {
            return pid;
        }
        if let Some(exit) = stack.exited() {
            panic!("inlet dev exited ({exit}) before {what} ran; log:\n{}", stack.log_tail(30));
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no {what} process; log:\n{}", stack.log_tail(30));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn assert_interrupt_stops_everything(mut stack: DevStack, signal: libc::c_int, phase: &str) {
    assert!(!stack.log_text().contains("inlet ready"), "{phase}: the stack was ready already");
    stack.signal(signal).unwrap();
    let exit = stack.wait_exit(Duration::from_secs(30)).await.unwrap_or_else(|e| panic!("{phase}: {e}"));
    assert!(exit.success(), "{phase}: exit {exit}; log:\n{}", stack.log_tail(30));
    assert!(stack.log_text().contains("inlet: stopped"), "{phase}: {}", stack.log_tail(30));
    assert_nothing_left(&stack).await;
}

#[tokio::test]
async fn an_interrupt_at_any_moment_of_start_up_stops_everything_started() {
    // While moto starts: it is paused, so the stack is certainly waiting for it.
    let mut stack = DevStack::spawn(StackSpec::on_free_ports(&root()).unwrap()).unwrap();
    let moto = wait_for_process(&mut stack, "moto_server", |cmd| cmd.contains("moto_server")).await;
    signal_process(moto, libc::SIGSTOP).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_interrupt_stops_everything(stack, libc::SIGINT, "moto starting").await;

    // While cargo compiles: a fresh target directory makes it compile for
    // minutes; SIGTERM this time.
    let target = std::env::temp_dir().join(inlet_testkit::moto::unique("inlet-target"));
    let mut spec = StackSpec::on_free_ports(&root()).unwrap();
    spec.env.push(("CARGO_TARGET_DIR".into(), target.display().to_string()));
    let mut stack = DevStack::spawn(spec).unwrap();
    wait_for_process(&mut stack, "rustc", |cmd| cmd.contains("rustc")).await;
    assert_interrupt_stops_everything(stack, libc::SIGTERM, "compiling").await;
    let _ = std::fs::remove_dir_all(&target);

    // While warming: the first function started is paused, so warming waits.
    let mut stack = DevStack::spawn(StackSpec::on_free_ports(&root()).unwrap()).unwrap();
    let functions = inlet_cli::providers::router();
    let is_function = |cmd: &str| functions.values().any(|name| cmd.ends_with(&format!("/debug/{name}")));
    let function = wait_for_process(&mut stack, "a function", is_function).await;
    signal_process(function, libc::SIGSTOP).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(stack.log_text().contains("inlet: warming the functions"), "{}", stack.log_tail(20));
    assert_interrupt_stops_everything(stack, libc::SIGINT, "warming").await;
}

#[tokio::test]
async fn two_stacks_on_different_ports_share_no_state_and_keep_their_settings_private() {
    let (first, second) = tokio::join!(start(), start());
    let (dir_a, dir_b) = (first.spec.state_dir(), second.spec.state_dir());
    assert_ne!(dir_a, dir_b);
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for (stack, dir, other) in [(&first, &dir_a, &second), (&second, &dir_b, &first)] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
        let env_file = dir.join(ENV_FILE_NAME);
        assert_eq!(mode(&env_file), 0o600, "the settings, secrets included, are the user's only");
        assert_eq!(mode(&dir.join("moto.log")), 0o600);
        let text = std::fs::read_to_string(&env_file).unwrap();
        assert!(text.contains(&format!("AWS_ENDPOINT_URL=\"{}\"", stack.moto_endpoint())), "{text}");
        assert!(!text.contains(&other.moto_endpoint()), "a stack's env file names only its own moto");
    }

    // Each stack's events land in its own table, not the other's.
    let id_a = send_alert(&first.api(), inlet_testkit::moto::unique("stack-a")).await;
    let id_b = send_alert(&second.api(), inlet_testkit::moto::unique("stack-b")).await;
    let in_a = wait_processed(&first, &BTreeSet::from([id_a.clone()]), Duration::from_secs(30)).await;
    let in_b = wait_processed(&second, &BTreeSet::from([id_b.clone()]), Duration::from_secs(30)).await;
    assert!(in_a.contains_key(&id_a) && !in_a.contains_key(&id_b));
    assert!(in_b.contains_key(&id_b) && !in_b.contains_key(&id_a));

    // Stopping one leaves the other serving.
    assert_stops_cleanly(first).await;
    let (answer, _) = send(&second.api(), "telegram-message", inlet_testkit::moto::unique("after")).await;
    assert_eq!(answer, 200);
    assert_stops_cleanly(second).await;
}

/// The EMF lines in the stack's output: what CloudWatch Logs would turn
/// into metrics.
fn metric_lines(stack: &DevStack) -> Vec<serde_json::Value> {
    stack
        .log_text()
        .lines()
        .filter(|line| line.starts_with('{') && line.contains("\"CloudWatchMetrics\""))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[tokio::test]
async fn every_receiver_and_the_processor_write_metric_lines_to_the_stacks_output() {
    let stack = start().await;
    let api = stack.api();
    let providers: BTreeSet<&str> = inlet_cli::providers::PROVIDERS.iter().map(|p| p.name).collect();
    for provider in inlet_cli::providers::PROVIDERS {
        let name = provider.sample_names[0];
        let (answer, body) = send(&api, name, inlet_testkit::moto::unique(name)).await;
        assert!((200..300).contains(&answer), "{name}: {answer} {body}");
    }
    let started = Instant::now();
    let (accepted, processed) = loop {
        let lines = metric_lines(&stack);
        // The warm-up's refused requests write lines too: an accepted one is this test's.
        let accepted: BTreeSet<&str> = lines
            .iter()
            .filter(|line| line["Accepted"] == 1)
            .filter_map(|line| line["Provider"].as_str())
            .filter_map(|name| providers.get(name).copied())
            .collect();
        let processed =
            lines.iter().any(|line| line["Function"] == "processor" && line["Processed"].as_u64() > Some(0));
        if (accepted == providers && processed) || started.elapsed() > Duration::from_secs(60) {
            break (accepted, processed);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let missing: Vec<&&str> = providers.difference(&accepted).collect();
    assert!(missing.is_empty(), "no accepted metric line from {missing:?}; log:\n{}", stack.log_tail(40));
    assert!(processed, "no processor metric line; log:\n{}", stack.log_tail(40));
    for line in metric_lines(&stack) {
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "inlet", "{line}");
    }
    assert_stops_cleanly(stack).await;
}

/// `name` (a hooks sample) signed at `now` with events/env.json's secrets.
fn hooks_sample(name: &str, now: i64, unique: &str) -> SampleRequest {
    inlet_cli::samples::build(name, &settings(), now, unique).unwrap_or_else(|| panic!("sample {name}"))
}

/// The Envelope ids the hooks function makes of `sample`, decided in
/// process with the same settings.
fn hooks_envelope_ids(sample: &SampleRequest, now: i64) -> Vec<String> {
    use inlet_shared::ingress::Decision;
    use inlet_shared::provider::Provider;
    let function = hooks::HooksFunction::from_env(&settings()).expect("the dev settings");
    let request = sample.to_incoming();
    let route = inlet_shared::provider::match_route(hooks::HooksFunction::ROUTES, &request).expect("a hooks route");
    let at = time::OffsetDateTime::from_unix_timestamp(now).expect("a time");
    match function.decide(&route, &request, at) {
        Ok(Decision::Enqueue { envelopes, .. }) => {
            (0..envelopes.len()).map(|at| envelopes.envelope(at).expect("an Envelope").id.clone()).collect()
        }
        other => panic!("{}: {other:?}", sample.name),
    }
}

/// A Twilio status callback to the stack's own URL, query string included,
/// signed by hand as Twilio signs (base64 HMAC-SHA1 of the URL, then each
/// form parameter sorted by name, name and value concatenated) and sent
/// with the Host header the HTTP client writes: it verifies only if the
/// function rebuilds the URL from X-Forwarded-Proto, Host, the raw path and
/// the raw query string as the local gateway hands them over, as API
/// Gateway does when deployed.
fn twilio_to_the_stacks_url(api: &str, idempotency_token: &str) -> SampleRequest {
    let path = "/hooks/devtwilio?tenant=e2e&note=a%20b%2Bc&empty=";
    let message_sid = format!("SM{idempotency_token}");
    let params = [
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("To", "+15005550006"),
        ("MessageStatus", "delivered"),
        ("MessageSid", message_sid.as_str()),
    ];
    let mut sorted = params.to_vec();
    sorted.sort();
    let signed: String = format!("{api}{path}") + &sorted.iter().map(|(k, v)| format!("{k}{v}")).collect::<String>();
    let secrets = settings()["HOOK_SECRETS"].clone();
    let token = hooks::keys::labelled(&secrets, "devtwilio").next().expect("devtwilio's secret");
    let signature =
        base64::engine::general_purpose::STANDARD.encode(hooks::engine::hmac_sha1(token.as_bytes(), signed.as_bytes()));
    let mut sample = SampleRequest::post_json(
        "twilio-to-the-stacks-url",
        "a Twilio callback signed for the stack's own URL",
        path,
        inlet_shared::form::encode_form(&params),
    );
    sample.headers = vec![
        ("content-type".into(), "application/x-www-form-urlencoded".into()),
        ("x-twilio-signature".into(), signature),
        ("i-twilio-idempotency-token".into(), idempotency_token.into()),
    ];
    sample
}

#[tokio::test]
async fn hooks_presets_reach_the_table_once_through_the_local_stack_and_handshakes_enqueue_nothing() {
    let stack = start().await;
    let api = stack.api();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let unique = inlet_testkit::moto::unique("hooks");

    // Events: each sent twice (a sender's retry), each one record.
    let mut expected = BTreeSet::new();
    let mut events = Vec::new();
    // Twilio's sample signs http://127.0.0.1:9000/hooks/devtwilio with that
    // Host header; the second request signs this stack's own URL and query.
    for name in ["hooks-twilio", "hooks-shopify", "hooks-svix", "hooks-clerk", "hooks-zoom", "hooks-paddle"] {
        let sample = hooks_sample(name, now, &unique);
        expected.extend(hooks_envelope_ids(&sample, now));
        events.push(sample);
    }
    let token = format!("e2e-{unique}");
    events.push(twilio_to_the_stacks_url(&api, &token));
    expected.insert(format!("hooks:devtwilio:{token}"));
    assert_eq!(expected.len(), events.len(), "one Envelope per event: {expected:?}");
    for sample in &events {
        for attempt in 0..2 {
            let (answered, body) = inlet_tests::post_sample(&api, sample.clone()).await;
            assert_eq!(answered, 200, "{} attempt {attempt}: {body}", sample.name);
        }
    }

    // Handshakes: answered as the sender expects, never enqueued.
    let validation = hooks_sample("hooks-zoom-url-validation", now, &unique);
    let (answered, body) = inlet_tests::post_sample(&api, validation.clone()).await;
    assert_eq!(answered, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON answer");
    let plain = serde_json::from_slice::<serde_json::Value>(&validation.body).unwrap()["payload"]["plainToken"]
        .as_str()
        .expect("plainToken")
        .to_string();
    let secrets = settings()["HOOK_SECRETS"].clone();
    let zoom_secret = hooks::keys::labelled(&secrets, "devzoom").next().expect("devzoom's secret");
    let encrypted = hex::encode(inlet_shared::verify::hmac_sha256(zoom_secret.as_bytes(), &[plain.as_bytes()]));
    assert_eq!(answer, serde_json::json!({"plainToken": plain, "encryptedToken": encrypted}));
    let verification = hooks_sample("hooks-meta-verification", now, &unique);
    let challenge = verification.path.split("hub.challenge=").nth(1).expect("a challenge").to_string();
    let answered = inlet_tests::post_sample(&api, verification).await;
    assert_eq!(answered, (200, challenge), "Meta's GET is answered with its challenge");

    let all = wait_processed(&stack, &expected, Duration::from_secs(90)).await;
    for id in &expected {
        let entry = all.get(id).unwrap_or_else(|| panic!("{id} has no record; log:\n{}", stack.log_tail(40)));
        assert_eq!(entry.status, "COMPLETED", "{id}");
        assert_eq!(entry.sink_runs, Some(1), "{id}: the retry was run again");
        let envelope = entry.envelope.as_ref().expect("the Envelope is stored");
        let source = id.split(':').nth(1).expect("hooks:<source>:<id>");
        assert_eq!((envelope["provider"].as_str(), envelope["tenant"].as_str()), (Some("hooks"), Some(source)), "{id}");
    }
    // Nothing else of hooks' reached the table: not the retries, not the handshakes.
    let hooks: BTreeSet<&String> = all.keys().filter(|id| id.starts_with("hooks:")).collect();
    assert_eq!(hooks, expected.iter().collect(), "hooks records");
    let after = status(&stack).await;
    assert_eq!(depth(&stack, &after.dlq_url).await, 0, "nothing went to the dead-letter queue");
    assert_stops_cleanly(stack).await;
}
