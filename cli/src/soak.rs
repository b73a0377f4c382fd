//! `inlet soak`: load and faults against a local stack, then an audit of
//! the promises — every acknowledged event processed exactly once, nothing
//! left in progress, nothing in the dead-letter queue.
//!
//! The client behaves like the platforms: each event is one signed request;
//! 30 % are delivered again byte for byte after their acknowledgement (a
//! platform's retry); any 5xx or broken connection is retried with backoff.
//! Meanwhile the queue goes away (moto, which serves SQS and DynamoDB, is
//! paused with SIGSTOP and resumed with SIGCONT), and the processor is killed
//! with SIGKILL while it runs a batch.
//!
//! The ids each acknowledged event must produce are computed by running the
//! same signed request through the provider's handler in this process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inlet_shared::aws::dynamodb::DynamoDbStore;
use inlet_shared::dedup::DedupSettings;
use inlet_shared::dedup::{InboxEntry, STATUS_COMPLETED, STATUS_IN_PROGRESS};
use inlet_shared::envelope::Envelope;
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::SampleRequest;

use crate::dev::{PROCESSOR, StackStatus};
use crate::error::CliError;
use crate::progress::Progress;
use crate::soak_delivery::{DeliveryAudit, SentEvent, SoakDestinations};
use crate::stack::DevStack;

/// The samples a soak sends, round robin: every provider, and the
/// alerting ones with two alerts per notification.
pub const SOAK_SAMPLES: [&str; 8] = [
    "lark-message",
    "telegram-message",
    "discord-command",
    "alertmanager-firing",
    "grafana-unified",
    "alert-api",
    "openim-after-send-group",
    "lark-card",
];

#[derive(Clone, Debug)]
pub struct SoakConfig {
    pub events: usize,
    pub samples: Vec<String>,
    /// Share of acknowledged events delivered a second time.
    pub redelivery_percent: u64,
    /// Senders at once.
    pub clients: usize,
    /// Times the queue goes away, and for how long each time.
    pub outages: usize,
    pub outage: Duration,
    /// Times the processor is killed in the middle of a batch.
    pub processor_kills: usize,
    pub seed: u64,
    /// After the last send the queue drains; the audit gives up waiting when
    /// it has not shrunk for this long.
    pub settle_limit: Duration,
    /// How long a sender keeps retrying one delivery.
    pub give_up_after: Duration,
    /// When set, senders start no new event while the queue holds more
    /// messages than this (retries and redeliveries of an event already
    /// started are never held). The full soak runs without a cap: the local
    /// queue's cost per call does not grow with its depth
    /// (tests/moto_sqs_index.py), so a deep backlog is what a developer's
    /// load test meets and must drain. The short soak keeps a low cap to
    /// exercise the gate itself (`inlet soak --max-backlog N`).
    pub max_backlog: Option<u64>,
    /// Per-conversation ordering (FIFO queues, `INLET_ORDERING`): the audit
    /// then checks each conversation's order at the HTTP destination.
    pub ordering: bool,
}

impl SoakConfig {
    pub fn full(events: usize) -> SoakConfig {
        SoakConfig {
            events,
            samples: SOAK_SAMPLES.iter().map(|s| s.to_string()).collect(),
            redelivery_percent: 30,
            clients: 8,
            outages: 3,
            outage: Duration::from_secs(4),
            processor_kills: 3,
            seed: crate::random::random_u64(),
            settle_limit: Duration::from_secs(90),
            give_up_after: Duration::from_secs(120),
            max_backlog: None,
            ordering: false,
        }
    }

    /// A few hundred events, each fault once: the version `make test` runs.
    pub fn short() -> SoakConfig {
        // A low cap, so that the short run holds its senders back too.
        SoakConfig { outages: 1, processor_kills: 1, max_backlog: Some(60), ..SoakConfig::full(300) }
    }
}

/// Load and faults against a local stack of its own, then an audit
///
/// Starts a local stack of its own (SOAK_MOTO_PORT 5058, SOAK_API_PORT 9058),
/// sends N events with redeliveries, queue outages and processor kills,
/// audits, prints the figures (and writes them). A failed audit exits 1.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct SoakArgs {
    /// Events to send.
    #[arg(long, value_name = "N", default_value_t = 3000, conflicts_with = "short")]
    pub events: usize,
    /// 300 events, each fault once, senders held back over a backlog of 60:
    /// the size `make test` soaks at.
    #[arg(long)]
    pub short: bool,
    /// Senders start no new event while the queue holds more than N messages.
    #[arg(long, value_name = "N")]
    pub max_backlog: Option<u64>,
    /// Per-conversation ordering (FIFO queues): the audit also checks each
    /// conversation's order at the HTTP destination.
    #[arg(long, value_enum, value_name = "ORDERING", default_value_t = SoakOrdering::None)]
    pub ordering: SoakOrdering,
    /// Write the figures as Markdown to FILE (relative to the repository).
    #[arg(long, value_name = "FILE")]
    pub write: Option<String>,
    /// Redeliver the same events as an earlier soak: the hex seed it printed.
    #[arg(long, value_name = "HEX", value_parser = hex_seed)]
    pub seed: Option<u64>,
}

/// `inlet soak --ordering`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoakOrdering {
    /// Standard queues.
    None,
    /// FIFO queues, one group per conversation (INLET_ORDERING).
    PerConversation,
}

fn hex_seed(text: &str) -> Result<u64, String> {
    u64::from_str_radix(text, 16).map_err(|_| "takes the hex seed a soak printed".to_string())
}

/// Runs `inlet soak`: the figures on stdout, a bar on a terminal's stderr;
/// a failed audit is a failure.
pub async fn run_command(args: SoakArgs) -> Result<(), CliError> {
    let root = crate::settings::root();
    let settings = crate::settings::with_overrides()?;
    let mut config = if args.short { SoakConfig::short() } else { SoakConfig::full(args.events) };
    if let Some(cap) = args.max_backlog {
        config.max_backlog = Some(cap);
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    config.ordering = args.ordering == SoakOrdering::PerConversation;
    let moto_port = crate::settings::port("SOAK_MOTO_PORT", 5058)?;
    let api_port = crate::settings::port("SOAK_API_PORT", 9058)?;
    // The stack delivers to an HTTP destination of the soak's and to its bus.
    let destinations = SoakDestinations::start().await?;
    let mut spec = crate::stack::StackSpec {
        inlet: std::env::current_exe().map_err(|e| e.to_string())?,
        root: root.clone(),
        moto_port,
        api_port,
        env: destinations.stack_env(),
    };
    if config.ordering {
        spec.env.push(("INLET_ORDERING".into(), "per-conversation".into()));
    }
    // The stack runs in a session of its own, out of reach of the terminal's
    // Ctrl-C: an interrupted soak stops it (and resumes a paused moto) itself.
    let mut shutdown = crate::dev::Shutdown::listen()?;
    let progress = Progress::on_stderr(
        config.events as u64,
        "{spinner} soak [{elapsed_precise}] {bar:30} {pos}/{len} events sent · {msg}",
    );
    progress.set_message("starting the stack");
    progress.println(format!(
        "soak: starting a local stack on API port {} (log: {})",
        spec.api_port,
        spec.state_dir().display()
    ));
    let mut stack = tokio::select! {
        stack = DevStack::start(spec) => stack?,
        _ = shutdown.requested() => return Err(CliError::Interrupted),
    };
    progress.println(format!(
        "soak: {} events, {} % redelivered, {} queue outage(s), {} processor kill(s), seed {:016x}",
        config.events, config.redelivery_percent, config.outages, config.processor_kills, config.seed
    ));
    progress.set_message("sending");
    let result = tokio::select! {
        result = run_with_progress(&stack, &settings, &config, &destinations, &progress) => result.map_err(CliError::Failed),
        _ = shutdown.requested() => Err(CliError::Interrupted),
    };
    progress.finish();
    stack.stop().await?;
    let report = result?;
    print!("{}", report.summary());
    if let Some(path) = &args.write {
        let command = std::env::var("INLET_SOAK_COMMAND").unwrap_or_else(|_| {
            let words: Vec<String> = std::env::args().skip(1).collect();
            format!("inlet {}", words.join(" "))
        });
        std::fs::write(root.join(path), report.markdown(&command)).map_err(|e| format!("{path}: {e}"))?;
        println!("soak: figures written to {path}");
    }
    if report.passed() { Ok(()) } else { Err(CliError::failed("soak audit failed")) }
}

/// The audit, and what happened on the way.
#[derive(Clone, Debug, Default)]
pub struct SoakReport {
    pub seed: u64,
    pub events: usize,
    pub requests: u64,
    pub redeliveries: u64,
    pub acknowledged: usize,
    pub not_acknowledged: usize,
    /// Event ids the acknowledged events stand for (an Alertmanager
    /// notification with two alerts is two).
    pub ids: usize,
    pub processed: usize,
    pub lost: usize,
    /// Ids whose sinks were started more than once (`sink_runs` > 1).
    pub processed_twice: usize,
    /// Of those, ids that were in a batch whose invocation failed (killed,
    /// timed out): the lock was taken, the process died, the redelivery took
    /// the event over.
    pub processed_twice_after_failed_invocation: usize,
    /// Of those, ids a destination failed first (the redelivery that
    /// retried it took the lock again).
    pub processed_twice_after_failed_delivery: usize,
    pub in_progress: usize,
    pub dlq: u64,
    pub status_503: u64,
    pub other_5xx: u64,
    pub transport_errors: u64,
    pub ack_latency_ms: Percentiles,
    /// From the first attempt to the acknowledgement, retries included.
    pub time_to_ack_ms: Percentiles,
    pub outages: Vec<String>,
    pub kills: Vec<String>,
    /// The senders' cap, the time they waited for the backlog to fall below
    /// it, and the deepest queue seen while sending.
    pub max_backlog: Option<u64>,
    pub held_back: Duration,
    pub deepest_backlog: u64,
    pub processor_starts: u64,
    pub processor_timeouts: u64,
    pub processor_crashes: u64,
    pub failed_invocations: u64,
    /// From the last acknowledgement to an empty queue.
    pub drain_time: Duration,
    /// Messages queued (visible or in flight) when the last event was
    /// acknowledged, and how fast the processor emptied them.
    pub backlog_at_last_send: u64,
    pub drain_rate: f64,
    pub duration: Duration,
    /// What the soak's destinations received (see [`crate::soak_delivery`]).
    pub delivery: DeliveryAudit,
    pub problems: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(mut values: Vec<f64>) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
        Percentiles { p50: at(0.5), p99: at(0.99), max: at(1.0) }
    }
}

impl SoakReport {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The figures, one per line.
    pub fn summary(&self) -> String {
        let rows = self.rows();
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        let mut text = String::new();
        for (name, value) in rows {
            text.push_str(&format!("{name:width$}  {value}\n"));
        }
        if self.problems.is_empty() {
            text.push_str("audit: PASSED\n");
        } else {
            text.push_str("audit: FAILED\n");
            for problem in &self.problems {
                text.push_str(&format!("  - {problem}\n"));
            }
        }
        text
    }

    fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            ("events", self.events.to_string()),
            ("requests (with redeliveries and retries)", self.requests.to_string()),
            ("redeliveries (identical request again)", self.redeliveries.to_string()),
            ("acknowledged", self.acknowledged.to_string()),
            ("not acknowledged", self.not_acknowledged.to_string()),
            ("event ids acknowledged", self.ids.to_string()),
            ("processed (COMPLETED)", self.processed.to_string()),
            ("lost", self.lost.to_string()),
            ("processed twice (sink_runs > 1)", self.processed_twice.to_string()),
            ("  of which in a batch whose invocation failed", self.processed_twice_after_failed_invocation.to_string()),
            (
                "  of which retried for a destination that failed first",
                self.processed_twice_after_failed_delivery.to_string(),
            ),
            ("left IN_PROGRESS", self.in_progress.to_string()),
            ("dead-letter queue", self.dlq.to_string()),
            ("503 answers", self.status_503.to_string()),
            ("other 5xx answers", self.other_5xx.to_string()),
            ("connection errors", self.transport_errors.to_string()),
            (
                "ack latency ms p50 / p99 / max",
                format!(
                    "{:.1} / {:.1} / {:.1}",
                    self.ack_latency_ms.p50, self.ack_latency_ms.p99, self.ack_latency_ms.max
                ),
            ),
            (
                "time to ack ms (with retries) p50 / p99 / max",
                format!(
                    "{:.1} / {:.1} / {:.1}",
                    self.time_to_ack_ms.p50, self.time_to_ack_ms.p99, self.time_to_ack_ms.max
                ),
            ),
            ("queue outages", format!("{}: {}", self.outages.len(), self.outages.join("; "))),
            ("processor kills mid-batch", format!("{}: {}", self.kills.len(), self.kills.join("; "))),
            (
                "senders' backlog cap / held back / deepest backlog",
                format!(
                    "{} / {:.1} s / {} messages",
                    self.max_backlog.map_or("none".to_string(), |cap| format!("{cap} messages")),
                    self.held_back.as_secs_f64(),
                    self.deepest_backlog
                ),
            ),
            (
                "processor: failed invocations / timeouts / crashes / starts",
                format!(
                    "{} / {} / {} / {}",
                    self.failed_invocations, self.processor_timeouts, self.processor_crashes, self.processor_starts
                ),
            ),
            (
                "queued at the last send / drained in / rate",
                format!(
                    "{} messages / {:.1} s / {:.1} messages/s",
                    self.backlog_at_last_send,
                    self.drain_time.as_secs_f64(),
                    self.drain_rate
                ),
            ),
            (
                "delivered over HTTP (verified, by webhook-id) / matching",
                format!("{} / {}", self.delivery.http_delivered, self.delivery.http_expected),
            ),
            (
                "delivered to the bus (through a rule to a queue) / matching",
                format!("{} / {}", self.delivery.bus_delivered, self.delivery.bus_expected),
            ),
            (
                "  first HTTP deliveries answered 503 on purpose (then retried)",
                self.delivery.http_failed_on_purpose.to_string(),
            ),
            (
                "  delivered twice, all in a batch whose invocation failed",
                self.delivery.repeated_after_failed_invocation.to_string(),
            ),
            (
                "per-conversation order at the HTTP destination: pairs checked / out of order",
                if self.delivery.order_pairs_checked > 0 {
                    format!("{} / {}", self.delivery.order_pairs_checked, self.delivery.order_violations)
                } else {
                    "not checked (ordering none)".to_string()
                },
            ),
            (
                "delivery latency ms (received to HTTP arrival) p50 / p99",
                format!("{:.1} / {:.1}", self.delivery.latency_ms_p50, self.delivery.latency_ms_p99),
            ),
            ("duration", format!("{:.1} s", self.duration.as_secs_f64())),
            ("seed", format!("{:016x}", self.seed)),
        ]
    }

    /// SOAK.md: the command, the figures and the verdict.
    pub fn markdown(&self, command: &str) -> String {
        let mut text = String::from("# Soak run\n\n");
        text.push_str(
            "A load and fault run against the local stack (`inlet dev`: moto, every function in the local \
             Lambda emulator, the queue pump), then an audit of the dedup table and the queues. The client \
             sends signed requests like the platforms do, redelivers 30 % of acknowledged events byte for \
             byte, and retries every 5xx or broken connection. Faults: moto (SQS and DynamoDB) paused with \
             SIGSTOP and resumed with SIGCONT; the processor killed with SIGKILL while it runs a batch. \
             Debug build, one machine.\n\n",
        );
        text.push_str(
            "Latencies and the drain time measure moto — one Python process serving SQS and DynamoDB to \
             every function and the pump — on a shared machine, not AWS; the audit is the point. The \
             project's moto launcher indexes standard queues (tests/moto_sqs_index.py), so a call's cost \
             does not grow with the queue's depth and the senders run without a backlog cap unless \
             `--max-backlog` sets one; retries and redeliveries are never held.\n\n",
        );
        text.push_str(&format!("Command: `{command}`\n\n"));
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "?".into());
        text.push_str(&format!(
            "Recorded {} (UTC) on {} CPU(s), load average {load} when it ended. Samples, round robin: {}.\n\n",
            time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]"))
                .unwrap_or_default(),
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            SOAK_SAMPLES.join(", ")
        ));
        text.push_str("| Figure | Value |\n|---|---|\n");
        for (name, value) in self.rows() {
            text.push_str(&format!("| {} | {} |\n", name.trim(), value.replace('|', "/")));
        }
        text.push('\n');
        if self.problems.is_empty() {
            text.push_str("Audit: **passed** — every acknowledged event id is COMPLETED, none is left IN_PROGRESS, the dead-letter queue is empty");
            if self.processed_twice == 0 {
                text.push_str(", and every id's sinks ran once.\n");
            } else {
                text.push_str(&format!(
                    ". {} id(s) had their lock taken twice: {} in a batch whose invocation was killed or timed \
                     out after taking it (`sink_runs` counts lock acquisitions, so a process that dies between the \
                     lock and the completion shows as a second run), and {} retried for a destination that failed \
                     first (the redelivery takes the lock again to deliver what was owed).\n",
                    self.processed_twice,
                    self.processed_twice_after_failed_invocation,
                    self.processed_twice_after_failed_delivery
                ));
            }
        } else {
            text.push_str("Audit: **failed**\n\n");
            for problem in &self.problems {
                text.push_str(&format!("- {problem}\n"));
            }
        }
        text
    }
}

/// One event as sent.
struct Sent {
    sample: SampleRequest,
    timestamp: i64,
    acknowledged: bool,
    /// The first attempt's start, and the acknowledgement's arrival: an
    /// event acknowledged before another of its conversation was first sent
    /// is ahead of it in that conversation's order.
    started: Instant,
    acked: Option<Instant>,
}

#[derive(Default)]
struct ClientCounts {
    requests: u64,
    redeliveries: u64,
    status_503: u64,
    other_5xx: u64,
    transport_errors: u64,
    ack_latency_ms: Vec<f64>,
    time_to_ack_ms: Vec<f64>,
    refusals: Vec<String>,
}

/// Runs the soak against a started stack.
pub async fn run(
    stack: &DevStack,
    settings: &HashMap<String, String>,
    config: &SoakConfig,
    destinations: &SoakDestinations,
) -> Result<SoakReport, String> {
    run_with_progress(stack, settings, config, destinations, &Progress::hidden()).await
}

/// [`run`], showing on `progress` the events sent and what the stack has
/// processed.
pub async fn run_with_progress(
    stack: &DevStack,
    settings: &HashMap<String, String>,
    config: &SoakConfig,
    destinations: &SoakDestinations,
    progress: &Progress,
) -> Result<SoakReport, String> {
    let started = Instant::now();
    let status = stack.status().await?;
    let bus_queue_url = destinations.route_bus(stack).await?;
    let moto_pid = status.moto_pid.ok_or("the stack reports no moto pid")?;
    for name in &config.samples {
        crate::samples::build(name, settings, now_unix(), "probe")
            .ok_or_else(|| format!("sample {name} is not available with the current settings"))?;
    }

    let senders_state = Arc::new(Senders {
        next: AtomicUsize::new(0),
        progress: AtomicUsize::new(0),
        hold: AtomicBool::new(false),
        counts: Mutex::new(ClientCounts::default()),
        sent: Mutex::new(Vec::with_capacity(config.events)),
    });
    let sending_done = AtomicBool::new(false);
    let mut senders = Vec::new();
    for _ in 0..config.clients.max(1) {
        let (api, settings, config, state) = (stack.api(), settings.clone(), config.clone(), senders_state.clone());
        senders.push(tokio::task::spawn_blocking(move || send_events(&api, &settings, &config, &state)));
    }
    progress.set_length(config.events as u64);
    let faults = inject_faults(stack, moto_pid, config, &senders_state.progress, &sending_done);
    let backlog = watch_backlog(stack, &status.queue_url, config.max_backlog, &senders_state.hold, &sending_done);
    let sending = async {
        let mut result = Ok(());
        for sender in senders {
            if let Err(e) = sender.await.map_err(|e| e.to_string()).and_then(|r| r) {
                result = Err(e);
            }
        }
        sending_done.store(true, Ordering::SeqCst);
        result
    };
    let (fault_log, backlog, sending) = tokio::select! {
        done = async { tokio::join!(faults, backlog, sending) } => done,
        never = show_progress(stack, &status.queue_url, progress, &senders_state.progress) => match never {},
    };
    sending?;

    let sent = std::mem::take(&mut *senders_state.sent.lock().map_err(|e| e.to_string())?);
    let counts = std::mem::take(&mut *senders_state.counts.lock().map_err(|e| e.to_string())?);
    let (expected, sent_events) = expected_ids(settings, &sent).await?;
    progress.set_position(config.events as u64);
    let audit = tokio::select! {
        audit = settle_and_audit(stack, settings, &status, &expected, config.settle_limit) => audit?,
        never = show_progress(stack, &status.queue_url, progress, &senders_state.progress) => match never {},
    };
    progress.finish();
    let failed_batches: BTreeSet<String> = stack.status().await?.pump.failed_batch_ids.into_iter().collect();
    let mut delivery = destinations.audit(stack, &bus_queue_url, &expected, &failed_batches).await?;
    if config.ordering {
        destinations.audit_order(&sent_events, &mut delivery)?;
    }

    let final_status = stack.status().await?;
    let processor = final_status.functions.get(PROCESSOR).cloned().unwrap_or_default();
    let mut report = SoakReport {
        seed: config.seed,
        events: sent.len(),
        requests: counts.requests,
        redeliveries: counts.redeliveries,
        acknowledged: sent.iter().filter(|s| s.acknowledged).count(),
        not_acknowledged: sent.iter().filter(|s| !s.acknowledged).count(),
        ids: expected.len(),
        status_503: counts.status_503,
        other_5xx: counts.other_5xx,
        transport_errors: counts.transport_errors,
        ack_latency_ms: Percentiles::of(counts.ack_latency_ms),
        time_to_ack_ms: Percentiles::of(counts.time_to_ack_ms),
        outages: fault_log.outages,
        kills: fault_log.kills,
        max_backlog: config.max_backlog,
        held_back: backlog.held_back,
        deepest_backlog: backlog.deepest,
        processor_starts: processor.starts,
        processor_timeouts: processor.timeouts,
        processor_crashes: processor.crashes,
        failed_invocations: final_status.pump.failed_invocations,
        duration: started.elapsed(),
        ..audit
    };
    report.problems.extend(delivery.problems.iter().cloned());
    report.delivery = delivery;
    report.problems.extend(counts.refusals.iter().take(10).cloned());
    report.problems.extend(fault_log.problems);
    if report.not_acknowledged > 0 {
        report.problems.push(format!("{} event(s) were never acknowledged", report.not_acknowledged));
    }
    if config.outages > 0 && report.status_503 == 0 {
        report.problems.push("the queue outages produced no 503: the receivers never saw them".into());
    }
    Ok(report)
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Until dropped: the events sent on `progress`, with the messages the
/// stack's pump has processed and those still on its queue.
async fn show_progress(
    stack: &DevStack,
    queue_url: &str,
    progress: &Progress,
    sent: &AtomicUsize,
) -> std::convert::Infallible {
    // Only for a bar someone sees: each figure is a request to the stack.
    let sqs = progress
        .is_visible()
        .then(|| aws_sdk_sqs::Client::new(&inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint())));
    loop {
        progress.set_position(sent.load(Ordering::SeqCst) as u64);
        if let Some(sqs) = &sqs {
            // While moto is paused neither answers: the last figures stay.
            let limit = Duration::from_secs(2);
            if let (Ok(Ok(status)), Ok(Ok(depth))) = tokio::join!(
                tokio::time::timeout(limit, stack.status()),
                tokio::time::timeout(limit, queue_depth(sqs, queue_url))
            ) {
                progress.set_message(format!("{} messages processed, {depth} queued", status.pump.deleted));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether event `index` is delivered a second time.
fn redelivered(seed: u64, index: usize, percent: u64) -> bool {
    let mut x = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) % 100 < percent
}

/// What the sending threads share.
struct Senders {
    /// The next event index to send.
    next: AtomicUsize,
    /// Events finished (acknowledged or given up), for the fault plan.
    progress: AtomicUsize,
    /// Set while the backlog is over the cap: start no new event.
    hold: AtomicBool,
    counts: Mutex<ClientCounts>,
    sent: Mutex<Vec<Sent>>,
}

fn send_events(
    api: &str,
    settings: &HashMap<String, String>,
    config: &SoakConfig,
    state: &Senders,
) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut local = ClientCounts::default();
    let mut mine = Vec::new();
    loop {
        // Bounded, so that a processor that never drains cannot hang the run:
        // the audit reports what is left.
        let waiting = Instant::now();
        while state.hold.load(Ordering::SeqCst) && waiting.elapsed() < config.give_up_after {
            std::thread::sleep(Duration::from_millis(50));
        }
        let index = state.next.fetch_add(1, Ordering::SeqCst);
        if index >= config.events {
            break;
        }
        let name = &config.samples[index % config.samples.len()];
        let unique = format!("soak-{:016x}-{index}", config.seed);
        let timestamp = now_unix();
        let sample = crate::samples::build(name, settings, timestamp, &unique)
            .ok_or_else(|| format!("sample {name} is not available"))?;
        let first_attempt = Instant::now();
        let mut acked = None;
        let acknowledged = match deliver(&agent, api, &sample, config.give_up_after, &mut local) {
            Ok(latency) => {
                local.ack_latency_ms.push(latency.as_secs_f64() * 1000.0);
                local.time_to_ack_ms.push(first_attempt.elapsed().as_secs_f64() * 1000.0);
                acked = Some(Instant::now());
                true
            }
            Err(reason) => {
                local.refusals.push(format!("{name} #{index}: {reason}"));
                false
            }
        };
        state.progress.fetch_add(1, Ordering::SeqCst);
        if acknowledged && redelivered(config.seed, index, config.redelivery_percent) {
            // A platform that missed the answer sends the same request again.
            std::thread::sleep(Duration::from_millis((index % 7) as u64 * 25));
            local.redeliveries += 1;
            if let Err(reason) = deliver(&agent, api, &sample, config.give_up_after, &mut local) {
                local.refusals.push(format!("{name} #{index} redelivery: {reason}"));
            }
        }
        mine.push(Sent { sample, timestamp, acknowledged, started: first_attempt, acked });
    }
    let mut counts = state.counts.lock().map_err(|e| e.to_string())?;
    counts.requests += local.requests;
    counts.redeliveries += local.redeliveries;
    counts.status_503 += local.status_503;
    counts.other_5xx += local.other_5xx;
    counts.transport_errors += local.transport_errors;
    counts.ack_latency_ms.extend(local.ack_latency_ms);
    counts.time_to_ack_ms.extend(local.time_to_ack_ms);
    counts.refusals.extend(local.refusals);
    state.sent.lock().map_err(|e| e.to_string())?.extend(mine);
    Ok(())
}

/// Sends until a 2xx, retrying 5xx and broken connections with backoff as
/// the platforms do; a 4xx is final. Returns the acknowledging request's
/// latency.
fn deliver(
    agent: &ureq::Agent,
    api: &str,
    sample: &SampleRequest,
    give_up_after: Duration,
    counts: &mut ClientCounts,
) -> Result<Duration, String> {
    let started = Instant::now();
    for attempt in 0u32.. {
        counts.requests += 1;
        let sent_at = Instant::now();
        match crate::samples::send(agent, api, sample) {
            Ok((status, body)) => {
                let latency = sent_at.elapsed();
                if (200..300).contains(&status) {
                    return Ok(latency);
                }
                match status {
                    503 => counts.status_503 += 1,
                    500..=599 => counts.other_5xx += 1,
                    _ => return Err(format!("refused with {status} {body}")),
                }
            }
            Err(_) => counts.transport_errors += 1,
        }
        if started.elapsed() > give_up_after {
            return Err(format!("gave up after {attempt} retries"));
        }
        std::thread::sleep(Duration::from_millis(200 << attempt.min(3)));
    }
    Err("unreachable".into())
}

#[derive(Default)]
struct BacklogLog {
    held_back: Duration,
    deepest: u64,
}

/// Until sending is done: reads the queue's depth four times a second and
/// holds the senders while it is over `cap` (see [`SoakConfig::max_backlog`]).
/// While moto is paused the depth cannot be read and the last decision stands.
async fn watch_backlog(
    stack: &DevStack,
    queue_url: &str,
    cap: Option<u64>,
    hold: &AtomicBool,
    sending_done: &AtomicBool,
) -> BacklogLog {
    let sqs = aws_sdk_sqs::Client::new(&inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint()));
    let mut log = BacklogLog::default();
    let mut held_since: Option<Instant> = None;
    while !sending_done.load(Ordering::SeqCst) {
        if let Ok(Ok(depth)) = tokio::time::timeout(Duration::from_secs(1), queue_depth(&sqs, queue_url)).await {
            log.deepest = log.deepest.max(depth);
            let over = cap.is_some_and(|cap| depth > cap);
            hold.store(over, Ordering::SeqCst);
            match (over, held_since) {
                (true, None) => held_since = Some(Instant::now()),
                (false, Some(since)) => {
                    log.held_back += since.elapsed();
                    held_since = None;
                }
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    hold.store(false, Ordering::SeqCst);
    if let Some(since) = held_since {
        log.held_back += since.elapsed();
    }
    log
}

#[derive(Default)]
struct FaultLog {
    outages: Vec<String>,
    kills: Vec<String>,
    problems: Vec<String>,
}

/// SIGCONT on drop, so a soak that fails half-way never leaves moto paused.
struct Paused(u32);

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = crate::process::signal_process(self.0, libc::SIGCONT);
    }
}

/// Spreads the faults over the run, each when a share of the events has
/// been sent, so that each hits traffic.
async fn inject_faults(
    stack: &DevStack,
    moto_pid: u32,
    config: &SoakConfig,
    progress: &AtomicUsize,
    sending_done: &AtomicBool,
) -> FaultLog {
    let mut plan: Vec<(usize, bool)> = Vec::new();
    let total = config.outages + config.processor_kills;
    let mut outages_left = config.outages;
    for slot in 0..total {
        // Alternate kills and outages, between 15 % and 85 % of the events.
        let is_outage = outages_left > 0 && (slot % 2 == 1 || outages_left == total - slot);
        if is_outage {
            outages_left -= 1;
        }
        let share = 0.15 + 0.7 * (slot as f64 + 0.5) / total.max(1) as f64;
        plan.push(((config.events as f64 * share) as usize, is_outage));
    }
    let mut log = FaultLog::default();
    for (threshold, is_outage) in plan {
        while progress.load(Ordering::SeqCst) < threshold && !sending_done.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if is_outage {
            let at = progress.load(Ordering::SeqCst);
            match crate::process::signal_process(moto_pid, libc::SIGSTOP) {
                Ok(()) => {
                    let paused = Paused(moto_pid);
                    tokio::time::sleep(config.outage).await;
                    drop(paused);
                    log.outages.push(format!("{:.0} s at event {at}", config.outage.as_secs_f64()));
                }
                Err(e) => log.problems.push(format!("could not pause moto: {e}")),
            }
        } else {
            match kill_processor_mid_batch(stack).await {
                Ok(description) => log.kills.push(description),
                Err(e) => log.problems.push(e),
            }
        }
    }
    log
}

/// Kills the processor inside a batch (retrying a kill that met it between
/// batches), so that every planned kill fails an invocation.
async fn kill_processor_mid_batch(stack: &DevStack) -> Result<String, String> {
    stack.kill_processor_mid_batch(Duration::from_secs(60), 10).await.map(|killed| killed.describe())
}

/// The event ids each acknowledged request stands for, from the provider's
/// own handler.
async fn expected_ids(
    settings: &HashMap<String, String>,
    sent: &[Sent],
) -> Result<(BTreeSet<String>, Vec<SentEvent>), String> {
    let handlers = Handlers::from_env(settings)?;
    let mut ids = BTreeSet::new();
    let mut events = Vec::new();
    for event in sent.iter().filter(|s| s.acknowledged) {
        let produced = handlers.envelopes(&event.sample, event.timestamp).await?;
        if produced.is_empty() {
            return Err(format!("{} produced no event in-process", event.sample.name));
        }
        for envelope in produced {
            events.push(SentEvent {
                id: envelope.id.clone(),
                conversation: inlet_shared::queue::conversation_of(&envelope),
                started: event.started,
                acked: event.acked,
            });
            ids.insert(envelope.id);
        }
    }
    Ok((ids, events))
}

/// Every registered provider's function, built from the stack's settings.
struct Handlers {
    functions: Vec<(&'static str, Box<dyn inlet_shared::provider::DynFunction>)>,
}

impl Handlers {
    fn from_env(settings: &HashMap<String, String>) -> Result<Handlers, String> {
        // These handlers only compute ids: the functions on the stack write
        // the metric lines; here they would flood the soak's own output.
        let mut settings = settings.clone();
        settings.insert("INLET_METRICS".into(), "off".into());
        let functions = crate::providers::PROVIDERS
            .iter()
            .map(|provider| Ok((provider.name, (provider.open)(&settings).map_err(|e| e.to_string())?)))
            .collect::<Result<_, String>>()?;
        Ok(Handlers { functions })
    }

    async fn envelopes(&self, sample: &SampleRequest, timestamp: i64) -> Result<Vec<Envelope>, String> {
        let provider = crate::samples::provider_of(&sample.name).ok_or(format!("no provider for {}", sample.name))?;
        let (_, function) = self
            .functions
            .iter()
            .find(|(name, _)| *name == provider)
            .ok_or_else(|| format!("no handler for provider {provider:?}"))?;
        let publisher = MemoryPublisher::new();
        let request = sample.to_incoming();
        let now = time::OffsetDateTime::from_unix_timestamp(timestamp).map_err(|e| e.to_string())?;
        function.handle_boxed(&publisher, &request, now).await;
        Ok(publisher.sent())
    }
}

/// Waits until the queue is empty — it drains at the processor's pace, and
/// a backlog is as legitimate as on AWS — giving up only when it stops
/// draining for `stall_limit`; then audits the table and the DLQ. The table
/// is scanned once, at the end: scans of a growing table would slow the
/// emulator that the processor needs.
async fn settle_and_audit(
    stack: &DevStack,
    settings: &HashMap<String, String>,
    status: &StackStatus,
    expected: &BTreeSet<String>,
    stall_limit: Duration,
) -> Result<SoakReport, String> {
    let sdk = inlet_shared::aws::access::local_sdk_config(&stack.moto_endpoint());
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut dedup = DedupSettings::from_env(settings).map_err(|e| e.to_string())?;
    dedup.table_name = status.table.clone();
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), &dedup);
    let draining = Instant::now();
    let (mut lowest, mut last_progress, mut empty_checks) = (u64::MAX, Instant::now(), 0);
    let mut stalled = None;
    let mut at_start = None;
    loop {
        let depth = queue_depth(&sqs, &status.queue_url).await?;
        at_start.get_or_insert(depth);
        empty_checks = if depth == 0 { empty_checks + 1 } else { 0 };
        if empty_checks >= 2 {
            break;
        }
        if depth < lowest {
            (lowest, last_progress) = (depth, Instant::now());
        }
        if last_progress.elapsed() > stall_limit {
            stalled = Some(depth);
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let drain_time = draining.elapsed();
    let entries: BTreeMap<String, InboxEntry> =
        store.list(usize::MAX).await.map_err(|e| e.to_string())?.into_iter().map(|e| (e.id.clone(), e)).collect();
    let failed_batches: BTreeSet<String> = stack.status().await?.pump.failed_batch_ids.into_iter().collect();

    let backlog_at_last_send = at_start.unwrap_or(0);
    let drain_rate = backlog_at_last_send as f64 / drain_time.as_secs_f64().max(1e-3);
    let mut report = SoakReport { drain_time, backlog_at_last_send, drain_rate, ..SoakReport::default() };
    if let Some(depth) = stalled {
        report.problems.push(format!("the queue stopped draining with {depth} message(s) in it"));
    }
    let mut lost = Vec::new();
    let mut unexplained_twice = Vec::new();
    for id in expected {
        match entries.get(id) {
            Some(entry) if entry.status == STATUS_COMPLETED => {
                report.processed += 1;
                let runs = entry.sink_runs.unwrap_or(0);
                if runs > 1 {
                    report.processed_twice += 1;
                    if failed_batches.contains(id) {
                        report.processed_twice_after_failed_invocation += 1;
                    } else if entry.deliveries.0.values().any(|destination| destination.attempts > 1) {
                        // A destination failed: the lock was released for a
                        // retry of what was owed, which takes it again.
                        report.processed_twice_after_failed_delivery += 1;
                    } else {
                        unexplained_twice.push(format!("{id} (sink_runs {runs})"));
                    }
                } else if runs < 1 {
                    report.problems.push(format!("{id} is COMPLETED with sink_runs {:?}", entry.sink_runs));
                }
            }
            Some(entry) => {
                if entry.status == STATUS_IN_PROGRESS {
                    report.in_progress += 1;
                }
                lost.push(format!("{id} ({})", entry.status));
            }
            None => lost.push(format!("{id} (no record)")),
        }
    }
    report.lost = lost.len();
    report.dlq = queue_depth(&sqs, &status.dlq_url).await?;
    if !lost.is_empty() {
        report.problems.push(format!(
            "{} acknowledged id(s) not processed, e.g. {}",
            lost.len(),
            lost[..lost.len().min(5)].join(", ")
        ));
    }
    if !unexplained_twice.is_empty() {
        report.problems.push(format!(
            "{} id(s) processed twice outside any failed invocation, e.g. {}",
            unexplained_twice.len(),
            unexplained_twice[..unexplained_twice.len().min(5)].join(", ")
        ));
    }
    if report.in_progress > 0 {
        report.problems.push(format!("{} id(s) left IN_PROGRESS", report.in_progress));
    }
    if report.dlq > 0 {
        report.problems.push(format!("{} message(s) in the dead-letter queue", report.dlq));
    }
    Ok(report)
}

/// Messages in a queue, visible or in flight.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64, String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(crate::local::sdk_error)?
        .attributes
        .unwrap_or_default();
    Ok(attributes.values().filter_map(|v| v.parse::<u64>().ok()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_the_requested_share_is_redelivered() {
        let count = (0..10_000).filter(|i| redelivered(42, *i, 30)).count();
        assert!((2_700..3_300).contains(&count), "{count}");
        assert_eq!((0..1000).filter(|i| redelivered(7, *i, 0)).count(), 0);
    }

    #[test]
    fn percentiles_pick_the_ranked_values() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p99, p.max), (51.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(Vec::new()).max, 0.0);
    }

    #[test]
    fn every_soak_sample_yields_events_in_process() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let settings = inlet_shared::config::load_env_file(&root.join("events/env.json")).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let handlers = Handlers::from_env(&settings).unwrap();
        let now = now_unix();
        for name in SOAK_SAMPLES {
            let sample = crate::samples::build(name, &settings, now, "unit").unwrap();
            let ids = |envelopes: Vec<Envelope>| envelopes.into_iter().map(|e| e.id).collect::<Vec<_>>();
            let first = ids(runtime.block_on(handlers.envelopes(&sample, now)).unwrap());
            assert!(!first.is_empty(), "{name}");
            let again = ids(runtime.block_on(handlers.envelopes(&sample, now)).unwrap());
            assert_eq!(first, again, "{name}: the same request is the same ids");
        }
    }

    #[test]
    fn a_report_with_a_lost_event_fails() {
        let mut report = SoakReport::default();
        assert!(report.passed());
        report.problems.push("1 acknowledged id(s) not processed".into());
        assert!(!report.passed());
        assert!(report.summary().contains("FAILED"));
        assert!(report.markdown("make soak").contains("**failed**"));
    }
}
