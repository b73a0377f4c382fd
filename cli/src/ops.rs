//! The operator commands: `inlet dlq`, `redrive`, `replay`, `deliveries` and
//! `refused`, each with its arguments ([`DlqArgs`], ...) and entry (`run_dlq`, ...).
//!
//! They run against the local stack by default (moto, the queue, DLQ and
//! table `inlet dev` creates) and against a deployed stack with `--aws`, or
//! whenever `INLET_QUEUE_URL`, `INLET_DLQ_URL` or `INLET_TABLE_NAME` is set
//! in the environment: then the standard AWS environment and profile chain
//! (`AWS_PROFILE`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...) supplies the
//! credentials, and the three settings come from the stack's outputs
//! (`EventQueueUrl`, `DeadLetterQueueUrl`, `DedupTableName`).
//!
//! Every command is a function over a [`Target`], so the tests run the same
//! code against moto's server that the binary runs against AWS.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use inlet_shared::aws::dynamodb::DynamoDbStore;
use inlet_shared::config::{EnvSource, ProcessEnv, optional};
use inlet_shared::dedup::{FailureRecord, NowMs, STATUS_COMPLETED, is_operations_key};
use inlet_shared::envelope::{Envelope, rfc3339};
use inlet_shared::operations::OperationsSettings;
use inlet_shared::operations::{
    RECORD_ATTRIBUTE, REPLAY_ATTRIBUTE, REPLAY_DESTINATION_ATTRIBUTE, REPLAY_KEY_MARKER, RefusalRecord,
};
use inlet_shared::queue::{LARGEST_MAX_MESSAGE_BYTES, QueueMessage};
use serde::Serialize;

use crate::error::CliError;
use crate::local::{QueueShape, sdk_error};

/// Where the operator commands run: one queue, its DLQ and the table.
pub struct Target {
    pub sqs: aws_sdk_sqs::Client,
    pub store: DynamoDbStore,
    pub queue_url: String,
    pub dlq_url: String,
    /// Ring slots per provider, as the processor was configured
    /// (`INLET_REFUSAL_CAP`): `inlet refused` reads each one.
    pub refusal_cap: u32,
    /// "local stack at ..." or "AWS account (...)", for the output.
    pub description: String,
}

/// The settings that point the commands at a deployed stack.
const AWS_SETTINGS: [&str; 3] = ["INLET_QUEUE_URL", "INLET_DLQ_URL", "INLET_TABLE_NAME"];

impl Target {
    /// The deployed stack with `--aws` or any of [`AWS_SETTINGS`] set in the
    /// environment; otherwise the local stack, with `settings` (events/env.json
    /// and its overrides) naming the table.
    pub async fn resolve(aws: bool, settings: &HashMap<String, String>) -> Result<Target, CliError> {
        let aws = aws || AWS_SETTINGS.iter().any(|name| optional(&ProcessEnv, name).is_some());
        if aws { Self::aws(&ProcessEnv).await } else { Self::local(settings).await }
    }

    /// A deployed stack, with aws-config's default chain (environment, then
    /// the shared config and credentials files' profile).
    pub async fn aws(env: &dyn EnvSource) -> Result<Target, CliError> {
        let missing: Vec<&str> = AWS_SETTINGS.iter().copied().filter(|name| optional(env, name).is_none()).collect();
        if !missing.is_empty() {
            return Err(CliError::config(
                missing.join(", "),
                format!(
                    "against AWS, set {} from the stack's outputs (EventQueueUrl, DeadLetterQueueUrl, DedupTableName)",
                    missing.join(", ")
                ),
            ));
        }
        let setting = |name: &str| optional(env, name).unwrap_or_default();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(no_region)?;
        let operations = OperationsSettings::from_env(env)?;
        let table = setting("INLET_TABLE_NAME");
        Ok(Target {
            sqs: aws_sdk_sqs::Client::new(&sdk),
            store: store(aws_sdk_dynamodb::Client::new(&sdk), &table),
            queue_url: setting("INLET_QUEUE_URL"),
            dlq_url: setting("INLET_DLQ_URL"),
            refusal_cap: operations.refusal_cap,
            description: format!("AWS ({region}, table {table})"),
        })
    }

    /// The local stack: moto at AWS_ENDPOINT_URL or on MOTO_PORT (5000), the
    /// queues `inlet dev` creates, the table events/env.json names.
    pub async fn local(settings: &HashMap<String, String>) -> Result<Target, CliError> {
        let endpoint = local_endpoint();
        let sdk = inlet_shared::aws::access::local_sdk_config(&endpoint);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        // INLET_ORDERING=per-conversation: the stack's queues are FIFO.
        let shape = queue_shape(settings)?;
        let dlq_url = find_queue(&sqs, &shape.dlq_name(), &endpoint).await.map_err(CliError::Unavailable)?;
        let queue_url = find_queue(&sqs, &shape.event_queue_name(), &endpoint).await.map_err(CliError::Unavailable)?;
        let table = settings.get("INLET_TABLE_NAME").cloned().unwrap_or_else(|| "inlet-events".into());
        let operations = OperationsSettings::from_env(settings)?;
        Ok(Target {
            sqs,
            store: store(aws_sdk_dynamodb::Client::new(&sdk), &table),
            queue_url,
            dlq_url,
            refusal_cap: operations.refusal_cap,
            description: format!("local stack at {endpoint}"),
        })
    }
}

/// The local stack's queues, as `INLET_ORDERING` shapes them.
pub fn queue_shape(settings: &HashMap<String, String>) -> Result<QueueShape, CliError> {
    QueueShape::from_settings(settings).map_err(|e| CliError::config(crate::local::ORDERING_SETTING, e))
}

/// No region for the AWS SDK.
pub fn no_region() -> CliError {
    CliError::config("AWS_REGION", "no AWS region: set AWS_REGION or a profile's region")
}

/// The local stack's moto: AWS_ENDPOINT_URL, else MOTO_PORT (5000) on loopback.
pub fn local_endpoint() -> String {
    optional(&ProcessEnv, "AWS_ENDPOINT_URL").unwrap_or_else(|| {
        format!("http://127.0.0.1:{}", optional(&ProcessEnv, "MOTO_PORT").unwrap_or_else(|| "5000".into()))
    })
}

/// The URL of the local stack's queue `name`.
pub async fn find_queue(sqs: &aws_sdk_sqs::Client, name: &str, endpoint: &str) -> Result<String, String> {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| format!("queue {name} at {endpoint}: {} (is `make dev` running?)", sdk_error(e)))?
        .queue_url
        .ok_or_else(|| format!("GetQueueUrl returned no URL for {name}"))
}

/// A table reader: only the table name matters to the commands (windows and
/// leases are the processor's).
pub fn store(client: aws_sdk_dynamodb::Client, table: &str) -> DynamoDbStore {
    let settings = inlet_shared::dedup::DedupSettings {
        table_name: table.to_string(),
        windows: inlet_shared::dedup::DedupWindows::uniform(Duration::from_secs(3600)),
        lease: inlet_shared::dedup::LeasePolicy::new(Duration::from_secs(1)),
    };
    DynamoDbStore::new(client, &settings)
}

// ---- dead letters ----

/// One message in the dead-letter queue, with the processor's reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub provider: Option<String>,
    pub kind: Option<String>,
    pub event_id: Option<String>,
    /// Receives on the event queue before the move, as the processor's last
    /// failure record saw them.
    pub receive_count: Option<u32>,
    /// Why the processor last left it for redelivery (its failure record),
    /// when one was written in the last 14 days.
    pub reason: Option<String>,
    pub failed_at: Option<String>,
    /// Set on a replay or an operator record that was dead-lettered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub body_bytes: usize,
}

/// How long a listing hides the DLQ's messages from other readers: long
/// enough to page through them, short enough that an interrupted listing
/// gives them back soon. Each is made visible again as soon as it is read.
const PEEK_VISIBILITY_SECS: i32 = 30;
/// A receive returns at most 10; this bounds a listing of a huge DLQ.
const MAX_RECEIVES: usize = 1000;

/// Every message in the DLQ, each received once and hidden until the caller
/// makes it visible again or deletes it.
async fn receive_all(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<Vec<aws_sdk_sqs::types::Message>, String> {
    let mut messages: BTreeMap<String, aws_sdk_sqs::types::Message> = BTreeMap::new();
    for _ in 0..MAX_RECEIVES {
        let batch = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(PEEK_VISIBILITY_SECS)
            // Long polling asks every SQS server, so an empty answer means
            // the queue has no visible message left.
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sdk_error)?
            .messages
            .unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        for message in batch {
            if let Some(id) = message.message_id.clone() {
                messages.insert(id, message);
            }
        }
    }
    Ok(messages.into_values().collect())
}

/// Makes received messages visible again at once.
async fn give_back(sqs: &aws_sdk_sqs::Client, queue_url: &str, messages: &[&aws_sdk_sqs::types::Message]) {
    for chunk in messages.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone()?)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        // Not fatal: the messages come back by themselves after the peek's
        // visibility timeout.
        if let Err(e) =
            sqs.change_message_visibility_batch().queue_url(queue_url).set_entries(Some(entries)).send().await
        {
            eprintln!(
                "inlet: could not make messages visible again (they will be in {PEEK_VISIBILITY_SECS} s): {}",
                sdk_error(e)
            );
        }
    }
}

fn string_attribute(message: &aws_sdk_sqs::types::Message, name: &str) -> Option<String> {
    message.message_attributes.as_ref()?.get(name)?.string_value.clone()
}

/// Lists the DLQ without consuming it: every message is received once and
/// made visible again before this returns.
pub async fn dead_letters(target: &Target) -> Result<Vec<DeadLetter>, String> {
    let messages = receive_all(&target.sqs, &target.dlq_url).await?;
    give_back(&target.sqs, &target.dlq_url, &messages.iter().collect::<Vec<_>>()).await;
    let ids: Vec<String> = messages.iter().filter_map(|m| m.message_id.clone()).collect();
    let failures = target.store.failures(&ids).await.map_err(|e| e.to_string())?;
    Ok(messages.iter().map(|message| dead_letter(message, &failures)).collect())
}

fn dead_letter(message: &aws_sdk_sqs::types::Message, failures: &HashMap<String, FailureRecord>) -> DeadLetter {
    let message_id = message.message_id.clone().unwrap_or_default();
    let body = message.body.as_deref().unwrap_or_default();
    let envelope = Envelope::decode(body).ok();
    let failure = failures.get(&message_id);
    DeadLetter {
        provider: string_attribute(message, "provider").or_else(|| envelope.as_ref().map(|e| e.provider.clone())),
        kind: string_attribute(message, "kind").or_else(|| envelope.as_ref().map(|e| e.kind.clone())),
        event_id: envelope.map(|e| e.id).or_else(|| failure.and_then(|f| f.event_id.clone())),
        receive_count: failure.and_then(|f| f.receive_count),
        reason: failure.map(|f| f.reason.clone()),
        failed_at: failure.map(|f| time_of(f.at_ms)),
        replay_id: string_attribute(message, REPLAY_ATTRIBUTE),
        record: string_attribute(message, RECORD_ATTRIBUTE),
        body_bytes: body.len(),
        message_id,
    }
}

fn time_of(at_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .map(rfc3339)
        .unwrap_or_else(|_| at_ms.to_string())
}

pub fn print_dead_letters(target: &Target, letters: &[DeadLetter]) {
    if letters.is_empty() {
        println!("dead-letter queue is empty ({})", target.description);
        return;
    }
    println!("{} dead letter(s) in {} ({}):", letters.len(), target.dlq_url, target.description);
    println!("{:38} {:>8} {:16} {:28} {:40} REASON", "MESSAGE ID", "RECEIVES", "PROVIDER", "KIND", "EVENT ID");
    for letter in letters {
        let mut reason = letter.reason.clone().unwrap_or_else(|| "(no failure record)".into());
        if let Some(replay) = &letter.replay_id {
            reason = format!("[replay {replay}] {reason}");
        }
        println!(
            "{:38} {:>8} {:16} {:28} {:40} {}",
            letter.message_id,
            letter.receive_count.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            letter.provider.as_deref().unwrap_or("-"),
            letter.kind.as_deref().unwrap_or("-"),
            letter.event_id.as_deref().unwrap_or("-"),
            reason
        );
    }
}

// ---- redrive ----

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RedriveReport {
    /// Message ids moved: sent to the event queue, then deleted from the DLQ.
    pub moved: Vec<String>,
    /// Message ids whose send (or delete) failed, with why; a failed send
    /// leaves the message in the DLQ.
    pub failed: Vec<(String, String)>,
    /// Requested ids the DLQ does not hold.
    pub not_found: Vec<String>,
}

/// Moves every DLQ message (or those in `ids`) back to the event queue with
/// its body and attributes unchanged. Each is deleted from the DLQ only
/// after the queue accepted the copy, so a failure never loses one (a crash
/// between the two leaves it in both: the processor's dedup makes the copy
/// harmless).
pub async fn redrive(target: &Target, ids: &[String]) -> Result<RedriveReport, String> {
    let messages = receive_all(&target.sqs, &target.dlq_url).await?;
    let selected =
        |m: &aws_sdk_sqs::types::Message| ids.is_empty() || m.message_id.as_ref().is_some_and(|id| ids.contains(id));
    let (chosen, others): (Vec<_>, Vec<_>) = messages.iter().partition(|m| selected(m));
    give_back(&target.sqs, &target.dlq_url, &others).await;
    let mut report = RedriveReport {
        not_found: ids.iter().filter(|id| !chosen.iter().any(|m| m.message_id.as_ref() == Some(id))).cloned().collect(),
        ..RedriveReport::default()
    };
    let mut unmoved = Vec::new();
    for message in chosen {
        let id = message.message_id.clone().unwrap_or_default();
        match move_one(target, message).await {
            Ok(()) => report.moved.push(id),
            Err(reason) => {
                report.failed.push((id, reason));
                unmoved.push(message);
            }
        }
    }
    give_back(&target.sqs, &target.dlq_url, &unmoved).await;
    Ok(report)
}

async fn move_one(target: &Target, message: &aws_sdk_sqs::types::Message) -> Result<(), String> {
    let mut send =
        target.sqs.send_message().queue_url(&target.queue_url).message_body(message.body.clone().unwrap_or_default());
    for (name, value) in message.message_attributes.iter().flatten() {
        send = send.message_attributes(name, value.clone());
    }
    if target.queue_url.ends_with(".fifo") {
        // Back into its conversation's group; the deduplication id is the
        // dead letter's own, so a redrive retried after a failed delete
        // within FIFO's 5 minutes sends one copy.
        let group = message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
            .cloned()
            .unwrap_or_else(|| inlet_shared::queue::RECORDS_GROUP.to_string());
        let deduplication = inlet_shared::queue::deduplication_id(&format!(
            "redrive#{}",
            message.message_id.as_deref().unwrap_or_default()
        ));
        send = send.message_group_id(group).message_deduplication_id(deduplication);
    }
    send.send().await.map_err(|e| format!("send: {}", sdk_error(e)))?;
    let receipt = message.receipt_handle.clone().ok_or("no receipt handle")?;
    target.sqs.delete_message().queue_url(&target.dlq_url).receipt_handle(receipt).send().await.map_err(|e| {
        format!("sent, but not deleted from the DLQ (the copy is a duplicate the processor skips): {}", sdk_error(e))
    })?;
    Ok(())
}

pub fn print_redrive(target: &Target, report: &RedriveReport) {
    println!(
        "redrove {} message(s) to {} ({}); {} failed; {} not found",
        report.moved.len(),
        target.queue_url,
        target.description,
        report.failed.len(),
        report.not_found.len()
    );
    for id in &report.moved {
        println!("  moved      {id}");
    }
    for (id, reason) in &report.failed {
        println!("  failed     {id}: {reason}");
    }
    for id in &report.not_found {
        println!("  not found  {id}");
    }
}

// ---- replay ----

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Replayed {
    pub event_id: String,
    pub replay_id: String,
    pub message_id: String,
}

/// Sends a processed event's stored Envelope to the event queue again as a
/// replay: the processor runs the sinks once more under the replay's own
/// dedup key, delivers it to every matching destination (or to
/// `destination` alone), and counts it on the event's record.
pub async fn replay(target: &Target, event_id: &str, destination: Option<&str>) -> Result<Replayed, String> {
    replay_event(target, event_id, destination).await.map_err(|e| e.to_string())
}

/// [`replay`], with the kind of each refusal: an id that is no event's is a
/// usage error, an unknown event not found.
pub async fn replay_event(target: &Target, event_id: &str, destination: Option<&str>) -> Result<Replayed, CliError> {
    if is_operations_key(event_id) {
        return Err(CliError::usage(format!("{event_id:?} is an operations record, not an event")));
    }
    if let Some((original, _)) = event_id.split_once(REPLAY_KEY_MARKER) {
        return Err(CliError::usage(format!(
            "{event_id:?} is a replay's own record; replay the event itself: inlet replay {original}"
        )));
    }
    let entry = target.store.entry(event_id).await.map_err(|e| e.to_string())?.ok_or_else(|| {
        CliError::not_found(format!(
            "no event {event_id:?} in {} (unknown, or its dedup window has ended)",
            target.description
        ))
    })?;
    if entry.status != STATUS_COMPLETED {
        return Err(CliError::failed(format!(
            "event {event_id:?} is {}, not completed: it is still being processed or retried (see `inlet dlq`); \
             replay runs the sinks again only for an event they finished",
            entry.status
        )));
    }
    let stored = entry.envelope.ok_or_else(|| {
        format!(
            "event {event_id:?} has no stored Envelope (it was over the inbox's size limit), so it cannot be replayed"
        )
    })?;
    let envelope: Envelope = serde_json::from_value(stored)
        .map_err(|e| format!("event {event_id:?}: the stored Envelope does not decode: {e}"))?;
    let message = QueueMessage::prepare(&envelope, LARGEST_MAX_MESSAGE_BYTES).map_err(|e| e.to_string())?;
    let replay_id = new_replay_id();
    let mut send = target.sqs.send_message().queue_url(&target.queue_url).message_body(&message.body);
    for (name, value) in message.attributes.iter() {
        send = send.message_attributes(name.to_string(), string_value(value)?);
    }
    send = send.message_attributes(REPLAY_ATTRIBUTE, string_value(&replay_id)?);
    if let Some(destination) = destination {
        send = send.message_attributes(REPLAY_DESTINATION_ATTRIBUTE, string_value(destination)?);
    }
    if target.queue_url.ends_with(".fifo") {
        // In its conversation, after what is queued there; deduplicated as
        // the replay, never as the event (whose id FIFO saw when it came).
        let key = inlet_shared::operations::replay_key(&envelope.id, &replay_id);
        send = send
            .message_group_id(message.group.clone())
            .message_deduplication_id(inlet_shared::queue::deduplication_id(&key));
    }
    let sent = send.send().await.map_err(sdk_error)?;
    Ok(Replayed { event_id: event_id.to_string(), replay_id, message_id: sent.message_id.unwrap_or_default() })
}

fn string_value(value: &str) -> Result<aws_sdk_sqs::types::MessageAttributeValue, String> {
    aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| e.to_string())
}

/// A replay id no other replay has: the time, for reading, and 48 random
/// bits from the generator request-scoped event ids use.
fn new_replay_id() -> String {
    let random = Envelope::request_scoped_id(None);
    let random = random.rsplit(':').next().unwrap_or_default();
    format!("{}-{}", NowMs::system().0, &random[..random.len().min(12)])
}

// ---- refusals ----

/// Recent refusals, newest first: every provider's ring (or one provider's),
/// expired slots left out, at most `limit`.
pub async fn refusals(target: &Target, provider: Option<&str>, limit: usize) -> Result<Vec<RefusalRecord>, String> {
    let known: Vec<&str> = crate::providers::PROVIDERS.iter().map(|p| p.name).collect();
    let providers: Vec<&str> = match provider {
        Some(name) if known.contains(&name) => vec![name],
        Some(name) => return Err(format!("unknown provider {name:?}; one of: {}", known.join(", "))),
        None => known,
    };
    let mut records =
        target.store.refusals(&providers, target.refusal_cap, NowMs::system()).await.map_err(|e| e.to_string())?;
    records.truncate(limit);
    Ok(records)
}

pub fn print_refusals(target: &Target, records: &[RefusalRecord]) {
    if records.is_empty() {
        println!("no refusals recorded ({})", target.description);
        return;
    }
    println!(
        "{:24} {:16} {:26} {:>6} {:18} {:>6} {:39} BODY",
        "TIME (UTC)", "PROVIDER", "ROUTE", "STATUS", "CLASS", "SKEW", "SOURCE"
    );
    for record in records {
        println!(
            "{:24} {:16} {:26} {:>6} {:18} {:>6} {:39} {} B sha256:{}",
            time_of(record.at_ms),
            record.provider,
            record.route,
            record.status,
            record.class,
            record.skew_secs.map(|s| format!("{s:+}s")).unwrap_or_else(|| "-".into()),
            record.source_ip.as_deref().unwrap_or("-"),
            record.body_len,
            record.body_sha256.get(..16).unwrap_or(&record.body_sha256),
        );
        println!("    {}", record.reason);
    }
}

// ---- the commands ----

/// Where the operator commands run: the local stack unless told otherwise.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetArgs {
    /// Against a deployed stack: INLET_QUEUE_URL, INLET_DLQ_URL and
    /// INLET_TABLE_NAME (reply: INLET_REPLY_QUEUE_URL) from the stack's
    /// outputs, credentials and region from the standard AWS environment or
    /// profile. Implied when those settings are in the environment.
    #[arg(long)]
    pub aws: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// List dead letters with the processor's reason, without consuming them.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqArgs {
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Move all (or the given) dead letters back to the event queue
///
/// Body and attributes unchanged; each is deleted from the DLQ only after
/// the event queue accepted the copy.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveArgs {
    /// Only this dead letter (`inlet dlq` lists their ids); repeat for more.
    #[arg(long = "id", value_name = "MESSAGE_ID")]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Run the sinks again for a processed event, and deliver it again
///
/// To every matching destination, or to --destination NAME alone; the
/// replay is counted on the event's record.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayArgs {
    /// The event's id (`inlet inbox` lists them).
    #[arg(value_name = "EVENT_ID")]
    pub event_id: String,
    /// Deliver to this destination (of INLET_DESTINATIONS) alone.
    #[arg(long, value_name = "NAME")]
    pub destination: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Each destination's state for an event
///
/// Delivered, failed (owed: retried on redelivery) or refused for good, with
/// the attempts and the last error.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveriesArgs {
    /// The event's id (`inlet inbox` lists them).
    #[arg(value_name = "EVENT_ID")]
    pub event_id: String,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Recent refused requests, and why
///
/// Time, provider, route, status, reason class, reason, clock skew, source
/// address, body length and hash (never the body or a presented secret).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusedArgs {
    /// Only this provider's refusals.
    #[arg(long, value_name = "PROVIDER", value_parser = provider_names())]
    pub provider: Option<String>,
    /// At most N, newest first.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// The registered providers' names, for `--provider`.
fn provider_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(crate::providers::PROVIDERS.iter().map(|p| p.name))
}

/// The commands' target: events/env.json's settings with their environment
/// overrides name the local stack's table.
async fn target(args: &TargetArgs) -> Result<(Target, HashMap<String, String>), CliError> {
    let settings = crate::settings::with_overrides()?;
    Ok((Target::resolve(args.aws, &settings).await?, settings))
}

/// A replay to one destination must name one the deployment has, when the
/// settings say which (a deployed stack's may not be known here).
fn known_destination(settings: &HashMap<String, String>, name: &str) -> Result<(), CliError> {
    let setting = inlet_shared::delivery::config::SETTING;
    let specs = inlet_shared::delivery::config::from_env(settings)?;
    if specs.is_empty() || specs.iter().any(|spec| spec.name == name) {
        return Ok(());
    }
    let names: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
    Err(CliError::not_found(format!("no destination named {name:?} in {setting} (it has {names:?})")))
}

fn print_deliveries(entry: &inlet_shared::dedup::InboxEntry) {
    println!("{}: {}", entry.id, entry.status);
    if entry.deliveries.is_empty() {
        println!("  no destination has been tried (none configured, or none matched)");
    }
    for (name, state) in &entry.deliveries.0 {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(state.at_ms) * 1_000_000)
            .map(inlet_shared::envelope::rfc3339)
            .unwrap_or_default();
        let state_name = match state.state {
            inlet_shared::dedup::DeliveryState::Delivered => "delivered",
            inlet_shared::dedup::DeliveryState::Failed => "failed (owed: retried on redelivery)",
            inlet_shared::dedup::DeliveryState::Permanent => "refused for good (not retried)",
        };
        println!("  {name}: {state_name}, {} attempt(s), last at {at}", state.attempts);
        if let Some(error) = &state.last_error {
            println!("    last error: {error}");
        }
    }
}

fn json<T: Serialize>(value: &T) -> Result<(), CliError> {
    println!("{}", serde_json::to_string_pretty(value).map_err(|e| e.to_string())?);
    Ok(())
}

/// Runs `inlet dlq`.
pub async fn run_dlq(args: DlqArgs) -> Result<(), CliError> {
    let (target, _) = target(&args.target).await?;
    let letters = dead_letters(&target).await?;
    if args.target.json {
        return json(&letters);
    }
    print_dead_letters(&target, &letters);
    Ok(())
}

/// Runs `inlet redrive`.
pub async fn run_redrive(args: RedriveArgs) -> Result<(), CliError> {
    let (target, _) = target(&args.target).await?;
    let report = redrive(&target, &args.ids).await?;
    if args.target.json {
        json(&report)?
    } else {
        print_redrive(&target, &report)
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::failed(format!("{} message(s) not moved", report.failed.len())))
    }
}

/// Runs `inlet replay`.
pub async fn run_replay(args: ReplayArgs) -> Result<(), CliError> {
    let (target, settings) = target(&args.target).await?;
    if let Some(name) = &args.destination {
        known_destination(&settings, name)?;
    }
    let replayed = replay_event(&target, &args.event_id, args.destination.as_deref()).await?;
    if args.target.json {
        return json(&replayed);
    }
    println!(
        "replay {} of {} sent as message {} to {} ({}); the processor runs the sinks again once \
         and counts it on the event's record (`inlet inbox --json`: replays, last_replay_id)",
        replayed.replay_id, replayed.event_id, replayed.message_id, target.queue_url, target.description
    );
    Ok(())
}

/// Runs `inlet deliveries`.
pub async fn run_deliveries(args: DeliveriesArgs) -> Result<(), CliError> {
    let (target, _) = target(&args.target).await?;
    let id = args.event_id.as_str();
    let entry = target.store.entry(id).await.map_err(|e| e.to_string())?.ok_or_else(|| {
        CliError::not_found(format!(
            "no event {id:?} in {} (unknown, or its dedup window has ended)",
            target.description
        ))
    })?;
    if args.target.json {
        return json(&entry.deliveries);
    }
    print_deliveries(&entry);
    Ok(())
}

/// Runs `inlet refused`.
pub async fn run_refused(args: RefusedArgs) -> Result<(), CliError> {
    let (target, _) = target(&args.target).await?;
    let records = refusals(&target, args.provider.as_deref(), args.limit).await?;
    if args.target.json {
        return json(&records);
    }
    print_refusals(&target, &records);
    Ok(())
}
