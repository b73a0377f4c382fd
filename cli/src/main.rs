//! `inlet`: the local tool. Run `inlet help` for the commands.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use inlet_cli::{dev, samples};
use inlet_shared::config::{load_env_file, load_env_file_with_overrides};
use inlet_shared::dedup::DynamoDbStore;

const USAGE: &str = "\
inlet — local tool for the inlet webhook receivers

USAGE:
  inlet dev                          run the local stack (moto, functions, queue pump)
  inlet samples                      list the signed samples `send` knows
  inlet send <sample> [--unique ID] [--times N]
                                     sign a sample with the configured secrets and POST it
                                     to the local API (API_URL, default http://127.0.0.1:$API_PORT);
                                     with --times N > 1 also prints latency percentiles
  inlet inbox [--limit N] [--json]   list processed events from the local table
  inlet listen [--port P] [--forward URL] [--secret-setting NAME]
                                     a local HTTP destination on 127.0.0.1:P (9100): verifies each
                                     delivery's Standard Webhooks signature with the whsec_ secret of
                                     setting NAME (INLET_LISTEN_SECRET), prints it and answers 200 (401
                                     when the signature is bad); with --forward, passes each verified
                                     delivery unchanged to URL and answers with its status. Point a
                                     destination at it in INLET_DESTINATIONS:
                                     {\"name\":\"listen\",\"type\":\"http\",\"url\":\"http://127.0.0.1:P/\",
                                      \"secret_setting\":\"INLET_LISTEN_SECRET\"}

Operating (the local stack by default; a deployed stack with --aws or when
INLET_QUEUE_URL, INLET_DLQ_URL and INLET_TABLE_NAME are set (reply: when
INLET_REPLY_QUEUE_URL is), with the standard AWS environment or profile for
credentials and region):
  inlet dlq [--json]                 list dead letters with the processor's reason, without consuming them
  inlet redrive [--id MESSAGE_ID ...]
                                     move all (or the given) dead letters back to the event queue,
                                     body and attributes unchanged
  inlet replay <event-id> [--destination NAME] [--json]
                                     run the sinks again for a processed event and deliver it again to
                                     every matching destination, or to NAME alone (counted on its record)
  inlet deliveries <event-id> [--json]
                                     each destination's state for an event: delivered, failed (owed) or
                                     refused for good, attempts, last error
  inlet reply <event-id> --text TEXT [--card JSON] [--update] [--id KEY] [--json]
                                     answer a processed event in its conversation: queues the reply on the
                                     reply queue (deployed: INLET_REPLY_QUEUE_URL, the stack's ReplyQueueUrl
                                     output), and the reply function posts it once through the platform's
                                     API. --card is the platform's own message JSON, --update changes the
                                     original message; the same reply twice is posted once unless --id KEY
                                     tells them apart. Prints the reply's dedup key (`inlet inbox` shows it)
  inlet refused [--provider P] [--limit N] [--json]
                                     recent refused requests: time, provider, route, status, reason class,
                                     reason, clock skew, source address, body length and hash
                                     (never the body or a presented secret)
  inlet gen-events [--now] [--out DIR]
                                     write events/*.json (API Gateway v2 and SQS events)
  inlet soak [--events N | --short] [--max-backlog N] [--ordering per-conversation] [--write FILE]
                                     start a local stack of its own (SOAK_MOTO_PORT, SOAK_API_PORT),
                                     send N events (3000) with redeliveries, queue outages and
                                     processor kills, audit, print the figures (and write them)

  inlet coldstart [--runs N] [--target DIR] [--only NAME,...]
                                     start each release binary in DIR (target/release) cold under the
                                     Runtime API emulator N times (10): init, first and warm invoke,
                                     peak RSS, next to hello-lambda (`make coldstart` builds them)

Settings come from events/env.json (INLET_ENV_FILE), each overridable by an
environment variable of the same name. MOTO_PORT (5000) and API_PORT (9000)
choose the local ports.";

/// The fixed signing time of committed `events/` files; handler tests use
/// it as their clock.
pub const EVENTS_TIMESTAMP: i64 = 1_700_000_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => {
            runtime().and_then(|rt| rt.block_on(async { dev::run(dev::DevOptions::from_env(root())?).await }))
        }
        Some("samples") => list_samples(),
        Some("send") => send(&args[1..]),
        Some("inbox") => runtime().and_then(|rt| rt.block_on(inbox(&args[1..]))),
        Some("listen") => runtime().and_then(|rt| rt.block_on(listen(&args[1..]))),
        Some(command @ ("dlq" | "redrive" | "replay" | "deliveries" | "refused")) => runtime().and_then(|rt| {
            let settings = load_env_file_with_overrides(&env_file()).map_err(|e| e.to_string())?;
            rt.block_on(inlet_cli::ops::run(command, &args[1..], &settings))
        }),
        Some("reply") => runtime().and_then(|rt| {
            let settings = load_env_file_with_overrides(&env_file()).map_err(|e| e.to_string())?;
            rt.block_on(inlet_cli::reply::run(&args[1..], &settings))
        }),
        Some("gen-events") => runtime().and_then(|rt| rt.block_on(gen_events(&args[1..]))),
        Some("soak") => runtime().and_then(|rt| rt.block_on(soak(&args[1..]))),
        Some("coldstart") => runtime().and_then(|rt| rt.block_on(coldstart(&args[1..]))),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("inlet: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())
}

/// The repository root: INLET_ROOT, else the nearest ancestor of the
/// current directory with events/env.json.
fn root() -> PathBuf {
    if let Ok(root) = std::env::var("INLET_ROOT") {
        return PathBuf::from(root);
    }
    let mut dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    loop {
        if dir.join("events/env.json").is_file() {
            return dir;
        }
        if !dir.pop() {
            return PathBuf::from(".");
        }
    }
}

fn env_file() -> PathBuf {
    std::env::var("INLET_ENV_FILE").map(PathBuf::from).unwrap_or_else(|_| root().join("events/env.json"))
}

fn option<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn list_samples() -> Result<(), String> {
    let settings = load_env_file_with_overrides(&env_file()).map_err(|e| e.to_string())?;
    for name in samples::names() {
        let description = samples::build(name, &settings, now_unix(), "x")
            .map(|s| s.description)
            .unwrap_or_else(|| "(not available with the current settings)".into());
        println!("{name:28} {description}");
    }
    Ok(())
}

fn send(args: &[String]) -> Result<(), String> {
    let name = args.first().filter(|a| !a.starts_with("--")).ok_or("send needs a sample name (see `inlet samples`)")?;
    let settings = load_env_file_with_overrides(&env_file()).map_err(|e| e.to_string())?;
    let unique = option(args, "--unique")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}", time::OffsetDateTime::now_utc().unix_timestamp_nanos()));
    let times: usize = option(args, "--times").unwrap_or("1").parse().map_err(|_| "--times takes a number")?;
    let api = std::env::var("API_URL").unwrap_or_else(|_| {
        format!("http://127.0.0.1:{}", std::env::var("API_PORT").unwrap_or_else(|_| "9000".into()))
    });
    let sample = samples::build(name, &settings, now_unix(), &unique)
        .ok_or_else(|| format!("no sample {name:?} (or it needs a setting that is empty); see `inlet samples`"))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut latencies = Vec::with_capacity(times);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for attempt in 0..times {
        let url = format!("{api}{}", sample.path);
        let started = std::time::Instant::now();
        let (status, body) = samples::send(&agent, &api, &sample)
            .map_err(|e| format!("{} {url}: {e} (is `make dev` running?)", sample.method))?;
        latencies.push(started.elapsed());
        *statuses.entry(status).or_default() += 1;
        // Print every answer for a few sends, a summary for many.
        if times <= 10 || attempt == 0 {
            println!("{} {url} → {status} {body}", sample.name);
        }
    }
    if times > 1 {
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
        println!(
            "{times} requests, statuses {statuses:?}, latency ms: min {:.2} p50 {:.2} p95 {:.2} p99 {:.2} max {:.2}",
            at(0.0),
            at(0.5),
            at(0.95),
            at(0.99),
            at(1.0)
        );
    }
    Ok(())
}

async fn inbox(args: &[String]) -> Result<(), String> {
    let settings = load_env_file_with_overrides(&env_file()).map_err(|e| e.to_string())?;
    let limit: usize = option(args, "--limit").unwrap_or("20").parse().map_err(|_| "--limit takes a number")?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        format!("http://127.0.0.1:{}", std::env::var("MOTO_PORT").unwrap_or_else(|_| "5000".into()))
    });
    let sdk = inlet_shared::runtime::local_sdk_config(&endpoint);
    let dedup = inlet_shared::config::DedupSettings::from_env(&settings).map_err(|e| e.to_string())?;
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), &dedup);
    let entries = store.list(limit).await.map_err(|e| format!("{e} (is `make dev` running?)"))?;
    if args.iter().any(|a| a == "--json") {
        println!("{}", serde_json::to_string_pretty(&entries).map_err(|e| e.to_string())?);
        return Ok(());
    }
    if entries.is_empty() {
        println!("inbox is empty");
    }
    for entry in entries {
        let summary = entry
            .envelope
            .as_ref()
            .and_then(|e| {
                e.pointer("/message/text")
                    .or_else(|| e.pointer("/alert/name"))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        println!(
            "{:25} {:11} runs={:<3} {:28} {:48} {}",
            entry.received_at.unwrap_or_default(),
            entry.status,
            entry.sink_runs.unwrap_or_default(),
            entry.kind.unwrap_or_default(),
            entry.id,
            summary
        );
    }
    Ok(())
}

async fn listen(args: &[String]) -> Result<(), String> {
    use inlet_cli::listen::{DEFAULT_PORT, DEFAULT_SECRET_SETTING, ListenConfig, destination_entry, serve};
    let port: u16 = match option(args, "--port") {
        Some(port) => port.parse().map_err(|_| format!("--port {port:?} is not a port"))?,
        None => DEFAULT_PORT,
    };
    let forward = option(args, "--forward").map(str::to_string);
    let setting = option(args, "--secret-setting").unwrap_or(DEFAULT_SECRET_SETTING);
    // The setting as the functions see it: events/env.json's value, or the
    // environment's (which also overrides the file's).
    let settings = load_env_file_with_overrides(&env_file()).map_err(|e| e.to_string())?;
    let secrets = settings.get(setting).cloned().or_else(|| std::env::var(setting).ok()).ok_or_else(|| {
        format!("no setting {setting} in events/env.json or the environment (--secret-setting names it)")
    })?;
    let config = std::sync::Arc::new(ListenConfig::new(setting, &secrets, forward.clone())?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e} (--port chooses another)"))?;
    println!("inlet listen: verifying deliveries on http://127.0.0.1:{port}/ with the secret of {setting}");
    if let Some(url) = &forward {
        println!("inlet listen: forwarding verified deliveries to {url}");
    }
    println!(
        "inlet listen: point a destination at it (INLET_DESTINATIONS in events/env.json or the environment, then \
         restart `make dev`):\n  {}",
        destination_entry(port, setting)
    );
    let report: inlet_cli::listen::Report = std::sync::Arc::new(|delivery| println!("{}", delivery.line()));
    tokio::select! {
        _ = serve(listener, config, report) => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn gen_events(args: &[String]) -> Result<(), String> {
    // Committed files are signed with events/env.json as written (no
    // overrides) at a fixed time, so they are reproducible.
    let settings = load_env_file(&env_file()).map_err(|e| e.to_string())?;
    let timestamp = if args.iter().any(|a| a == "--now") { now_unix() } else { EVENTS_TIMESTAMP };
    let out = option(args, "--out").map(PathBuf::from).unwrap_or_else(|| root().join("events"));
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let written = inlet_cli::samples::write_events(&settings, timestamp, &out).await?;
    println!("wrote {written} events to {}", out.display());
    Ok(())
}

async fn coldstart(args: &[String]) -> Result<(), String> {
    use inlet_cli::coldstart::{Subject, measure, table};
    let runs: usize = option(args, "--runs").unwrap_or("10").parse().map_err(|_| "--runs takes a number")?;
    let target = option(args, "--target").map(PathBuf::from).unwrap_or_else(|| root().join("target/release"));
    let settings = load_env_file(&env_file()).map_err(|e| e.to_string())?;
    let mut env: std::collections::BTreeMap<String, String> = settings.clone().into_iter().collect();
    // Lambda gives every function its role's credentials; nothing is called
    // with these (the events need no queue), but init reads them.
    // No queue runs here: the init figure leaves out the connection warm-up
    // (one GetQueueAttributes round trip to SQS inside Lambda), and the
    // refused requests send no refusal record (every call stays on this
    // machine).
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", "coldstart"),
        ("AWS_SECRET_ACCESS_KEY", "coldstart"),
        ("INLET_QUEUE_WARM_UP", "false"),
        ("INLET_REFUSAL_RECORDS_PER_SEC", "0"),
    ] {
        env.insert(name.into(), value.into());
    }
    let event = |sample: &inlet_shared::samples::SampleRequest| {
        bytes::Bytes::from(sample.to_apigw_v2_event(now_unix() * 1000).to_string())
    };
    // A request every receiver answers without a network call: no route.
    let unknown =
        inlet_shared::samples::SampleRequest::post_json("coldstart", "no route", "/inlet-coldstart/none", "{}");
    let mut subjects = vec![Subject {
        name: "hello-lambda".into(),
        program: target.join("hello-lambda"),
        env: env.clone(),
        event: event(&unknown),
    }];
    for provider in inlet_cli::providers::PROVIDERS {
        let program = target.join(provider.name);
        subjects.push(Subject {
            name: format!("{} (404)", provider.name),
            program,
            env: env.clone(),
            event: event(&unknown),
        });
    }
    // Answered in full without enqueueing: decryption and all.
    for (function, sample) in [("lark", "lark-challenge-encrypted"), ("discord", "discord-ping")] {
        let request =
            samples::build(sample, &settings, now_unix(), "coldstart").ok_or(format!("no sample {sample}"))?;
        subjects.push(Subject {
            name: format!("{function} ({sample})"),
            program: target.join(function),
            env: env.clone(),
            event: event(&request),
        });
    }
    // `--only lark,hello-lambda`: the subjects of those binaries alone.
    if let Some(only) = option(args, "--only") {
        let wanted: Vec<&str> = only.split(',').map(str::trim).collect();
        subjects.retain(|s| s.program.file_name().and_then(|n| n.to_str()).is_some_and(|n| wanted.contains(&n)));
        if subjects.is_empty() {
            return Err(format!("--only {only}: no such binary (hello-lambda or a provider's name)"));
        }
    }
    let mut all = Vec::new();
    for subject in &subjects {
        all.push(measure(subject, runs).await?);
    }
    println!("{runs} cold starts each, binaries from {}:\n", target.display());
    print!("{}", table(&all));
    Ok(())
}

async fn soak(args: &[String]) -> Result<(), String> {
    let root = root();
    let settings = load_env_file_with_overrides(&env_file()).map_err(|e| e.to_string())?;
    let mut config = if args.iter().any(|a| a == "--short") {
        inlet_cli::soak::SoakConfig::short()
    } else {
        let events = option(args, "--events").unwrap_or("3000").parse().map_err(|_| "--events takes a number")?;
        inlet_cli::soak::SoakConfig::full(events)
    };
    if let Some(cap) = option(args, "--max-backlog") {
        config.max_backlog = Some(cap.parse().map_err(|_| "--max-backlog takes a number of messages")?);
    }
    if let Some(seed) = option(args, "--seed") {
        config.seed = u64::from_str_radix(seed, 16).map_err(|_| "--seed takes the hex seed a soak printed")?;
    }
    match option(args, "--ordering") {
        None | Some("none") => {}
        Some("per-conversation") => config.ordering = true,
        Some(other) => return Err(format!("--ordering takes none or per-conversation, not {other:?}")),
    }
    let port = |name: &str, default: u16| -> Result<u16, String> {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map_or(Ok(default), |v| v.parse().map_err(|_| format!("{name}={v:?} is not a port")))
    };
    // The stack delivers to an HTTP destination of the soak's and to its bus.
    let destinations = inlet_cli::soak_delivery::SoakDestinations::start().await?;
    let spec = inlet_cli::stack::StackSpec {
        inlet: std::env::current_exe().map_err(|e| e.to_string())?,
        root: root.clone(),
        moto_port: port("SOAK_MOTO_PORT", 5058)?,
        api_port: port("SOAK_API_PORT", 9058)?,
        env: destinations.stack_env(),
    };
    let mut spec = spec;
    if config.ordering {
        spec.env.push(("INLET_ORDERING".into(), "per-conversation".into()));
    }
    // The stack runs in a session of its own, out of reach of the terminal's
    // Ctrl-C: an interrupted soak stops it (and resumes a paused moto) itself.
    let mut shutdown = dev::Shutdown::listen()?;
    println!("soak: starting a local stack on API port {} (log: {})", spec.api_port, spec.state_dir().display());
    let mut stack = tokio::select! {
        stack = inlet_cli::stack::DevStack::start(spec) => stack?,
        _ = shutdown.requested() => return Err("interrupted".into()),
    };
    println!(
        "soak: {} events, {} % redelivered, {} queue outage(s), {} processor kill(s), seed {:016x}",
        config.events, config.redelivery_percent, config.outages, config.processor_kills, config.seed
    );
    let result = tokio::select! {
        result = inlet_cli::soak::run(&stack, &settings, &config, &destinations) => result,
        _ = shutdown.requested() => Err("interrupted".into()),
    };
    stack.stop().await?;
    let report = result?;
    print!("{}", report.summary());
    if let Some(path) = option(args, "--write") {
        let command = std::env::var("INLET_SOAK_COMMAND").unwrap_or_else(|_| format!("inlet soak {}", args.join(" ")));
        std::fs::write(root.join(path), report.markdown(&command)).map_err(|e| format!("{path}: {e}"))?;
        println!("soak: figures written to {path}");
    }
    if report.passed() { Ok(()) } else { Err("soak audit failed".into()) }
}
