//! The queues, dead-letter queues and table, created on the local emulator
//! with the same shape as template.yaml; the local stack's timings; and the
//! private files it writes.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// Names and URLs of what [`create_resources`] made.
#[derive(Clone, Debug)]
pub struct LocalResources {
    pub queue_url: String,
    pub dlq_url: String,
    /// The reply queue (template.yaml's ReplyQueue) and its DLQ.
    pub reply_queue_url: String,
    pub reply_dlq_url: String,
    pub table_name: String,
}

/// The local stack's clock, in one place.
///
/// Lambda ends an invocation at the function's timeout, and the processor's
/// locks last at most until then (its lease is the invocation's remaining
/// time, capped below `INLET_QUEUE_VISIBILITY_SECS`); SQS hands a message out
/// again only after the visibility timeout. So the processor's timeout must
/// end well before the visibility timeout: then a killed or hung attempt's
/// lock is always over when the redelivery comes, which takes the event over
/// at once instead of finding it "in progress" until maxReceiveCount sends an
/// acknowledged event to the DLQ. Deployed: 30 s and 180 s (template.yaml);
/// locally short, so that a retry can be watched.
pub const PROCESSOR_TIMEOUT: Duration = Duration::from_secs(6);
pub const QUEUE_VISIBILITY_TIMEOUT_SECS: u32 = 10;
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// template.yaml's Globals: receivers answer within the platforms' 3 s and
/// are cut off at 5 s.
pub const RECEIVER_TIMEOUT: Duration = Duration::from_secs(5);
pub const MEMORY_MB: u32 = 256;
/// Environments per receiver: enough for a platform's concurrent retries;
/// the pump invokes the processor one batch at a time.
pub const RECEIVER_CONCURRENCY: usize = 4;
pub const PROCESSOR_CONCURRENCY: usize = 1;
/// The reply function runs as the processor does: one batch at a time,
/// under the same timeout, from a queue with the same visibility timeout.
pub const REPLIER_TIMEOUT: Duration = PROCESSOR_TIMEOUT;
pub const REPLIER_CONCURRENCY: usize = 1;

/// The EventBridge bus `inlet dev` creates, as template.yaml does: the
/// default destination of every local event (events/env.json's
/// `INLET_DESTINATIONS`).
pub const LOCAL_BUS: &str = "inlet";

/// The setting that chooses the event queue's kind (template.yaml's
/// `Ordering` parameter).
pub const ORDERING_SETTING: &str = "INLET_ORDERING";

/// `INLET_ORDERING`: a standard queue, or a FIFO queue whose groups are
/// conversations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ordering {
    #[default]
    None,
    PerConversation,
}

impl Ordering {
    /// Reads `INLET_ORDERING` (absent or empty: `none`).
    pub fn from_settings(settings: &std::collections::HashMap<String, String>) -> Result<Ordering, String> {
        match settings.get(ORDERING_SETTING).map(|v| v.trim()) {
            None | Some("") | Some("none") => Ok(Ordering::None),
            Some("per-conversation") => Ok(Ordering::PerConversation),
            Some(other) => Err(format!("{ORDERING_SETTING}={other:?} is neither \"none\" nor \"per-conversation\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ordering::None => "none",
            Ordering::PerConversation => "per-conversation",
        }
    }
}

/// How the local queue redrives, mirroring template.yaml.
#[derive(Clone, Debug)]
pub struct QueueShape {
    /// The event queue's name without `.fifo`; the DLQ's is this and `-dlq`.
    pub queue_name: String,
    pub visibility_timeout_secs: u32,
    pub max_receive_count: u32,
    /// FIFO queues (`.fifo` names, high-throughput mode) for
    /// `INLET_ORDERING=per-conversation`.
    pub fifo: bool,
}

impl Default for QueueShape {
    fn default() -> Self {
        QueueShape {
            queue_name: "inlet-events".into(),
            visibility_timeout_secs: QUEUE_VISIBILITY_TIMEOUT_SECS,
            max_receive_count: MAX_RECEIVE_COUNT,
            fifo: false,
        }
    }
}

impl QueueShape {
    /// The local stack's queues for `ordering`.
    pub fn for_ordering(ordering: Ordering) -> Self {
        QueueShape { fifo: ordering == Ordering::PerConversation, ..QueueShape::default() }
    }

    /// The local stack's queues for the settings' `INLET_ORDERING`.
    pub fn from_settings(settings: &std::collections::HashMap<String, String>) -> Result<Self, String> {
        Ordering::from_settings(settings).map(QueueShape::for_ordering)
    }

    fn with_suffix(&self, name: String) -> String {
        if self.fifo { format!("{name}.fifo") } else { name }
    }

    /// The event queue's full name (`inlet-events`, `inlet-events.fifo`).
    pub fn event_queue_name(&self) -> String {
        self.with_suffix(self.queue_name.clone())
    }

    /// The DLQ's full name (`inlet-events-dlq`, `inlet-events-dlq.fifo`).
    pub fn dlq_name(&self) -> String {
        self.with_suffix(format!("{}-dlq", self.queue_name))
    }

    /// The reply queue's name: `inlet-replies` next to `inlet-events`, and
    /// `<name>-replies` next to any other event queue, so that queues made
    /// for a test never meet the stack's. Standard whatever the ordering,
    /// as template.yaml's ReplyQueue.
    pub fn reply_queue_name(&self) -> String {
        match self.queue_name.strip_suffix("-events") {
            Some(stem) => format!("{stem}-replies"),
            None => format!("{}-replies", self.queue_name),
        }
    }

    /// The reply DLQ's name (`inlet-replies-dlq`).
    pub fn reply_dlq_name(&self) -> String {
        format!("{}-dlq", self.reply_queue_name())
    }
}

/// Creates `dir` (and missing parents) readable by the user only, or narrows
/// an existing one to that before anything is written into it.
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mode = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Writes `contents` to a new file readable by the user only. An older file
/// is removed first, so its mode never carries over to the new contents.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(contents).map_err(|e| format!("{}: {e}", path.display()))
}

/// Opens a log for appending, created readable by the user only.
pub fn open_private_append(path: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub fn sdk_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    error: aws_sdk_sqs::error::SdkError<E, R>,
) -> String {
    aws_sdk_sqs::error::DisplayErrorContext(error).to_string()
}

/// Creates (or finds) a queue and its DLQ, redriven after
/// `shape.max_receive_count` receives; FIFO ones in high-throughput mode,
/// as the template's. Returns both URLs.
async fn create_queue_pair(
    sqs: &aws_sdk_sqs::Client,
    shape: &QueueShape,
    queue_name: &str,
    dlq_name: &str,
    fifo: bool,
) -> Result<(String, String), String> {
    // A FIFO queue's DLQ is FIFO too. High-throughput mode, as the
    // template's: deduplication and throughput per message group.
    let fifo = |create: aws_sdk_sqs::operation::create_queue::builders::CreateQueueFluentBuilder| {
        if fifo {
            create
                .attributes(QueueAttributeName::FifoQueue, "true")
                .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
                .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        } else {
            create
        }
    };
    let dlq_url =
        fifo(sqs.create_queue().queue_name(dlq_name).attributes(QueueAttributeName::MessageRetentionPeriod, "1209600"))
            .send()
            .await
            .map_err(sdk_error)?
            .queue_url
            .ok_or("CreateQueue returned no URL")?;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sdk_error)?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or("DLQ has no ARN")?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": shape.max_receive_count});
    let queue_url = fifo(
        sqs.create_queue()
            .queue_name(queue_name)
            .attributes(QueueAttributeName::VisibilityTimeout, shape.visibility_timeout_secs.to_string())
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string()),
    )
    .send()
    .await
    .map_err(sdk_error)?
    .queue_url
    .ok_or("CreateQueue returned no URL")?;
    Ok((queue_url, dlq_url))
}

/// Creates (or finds) the event queue, the reply queue, their DLQs and the
/// dedup table. Idempotent.
pub async fn create_resources(
    sqs: &aws_sdk_sqs::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    shape: &QueueShape,
    table_name: &str,
) -> Result<LocalResources, String> {
    let (queue_url, dlq_url) =
        create_queue_pair(sqs, shape, &shape.event_queue_name(), &shape.dlq_name(), shape.fifo).await?;
    let (reply_queue_url, reply_dlq_url) =
        create_queue_pair(sqs, shape, &shape.reply_queue_name(), &shape.reply_dlq_name(), false).await?;

    let created = dynamodb
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await;
    match created {
        Ok(_) => {
            dynamodb
                .update_time_to_live()
                .table_name(table_name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name("expiration")
                        .enabled(true)
                        .build()
                        .map_err(|e| e.to_string())?,
                )
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()),
    }
    Ok(LocalResources { queue_url, dlq_url, reply_queue_url, reply_dlq_url, table_name: table_name.to_string() })
}

/// Creates (or finds) an EventBridge bus. Idempotent.
pub async fn create_bus(eventbridge: &aws_sdk_eventbridge::Client, name: &str) -> Result<(), String> {
    match eventbridge.create_event_bus().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception()) => Ok(()),
        Err(e) => Err(format!("CreateEventBus {name}: {}", aws_sdk_eventbridge::error::DisplayErrorContext(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("inlet-local-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn private_files_are_created_for_the_user_only_even_over_a_world_readable_one() {
        let dir = scratch("files");
        create_private_dir(&dir.join("stack")).unwrap();
        assert_eq!(mode(&dir.join("stack")), 0o700);
        let file = dir.join("stack/functions.env");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private_file(&file, b"SECRET=\"x\"\n").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "SECRET=\"x\"\n");
        let log = dir.join("stack/moto.log");
        drop(open_private_append(&log).unwrap());
        assert_eq!(mode(&log), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_existing_open_state_dir_is_narrowed_before_use() {
        let dir = scratch("dir");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_processor_is_stopped_before_its_messages_come_back() {
        // A lock taken at the start of an invocation lasts until its
        // deadline; SQS's clock starts a little earlier, when it hands the
        // message out. A second of slack covers the pump's receive and the
        // invoke.
        let visibility = Duration::from_secs(u64::from(QUEUE_VISIBILITY_TIMEOUT_SECS));
        assert!(PROCESSOR_TIMEOUT + Duration::from_secs(1) < visibility);
        assert_eq!(QueueShape::default().visibility_timeout_secs, QUEUE_VISIBILITY_TIMEOUT_SECS);
    }

    #[test]
    fn ordering_per_conversation_names_fifo_queues() {
        let settings =
            |value: &str| std::collections::HashMap::from([(ORDERING_SETTING.to_string(), value.to_string())]);
        let standard = QueueShape::from_settings(&settings("none")).unwrap();
        assert_eq!(
            (standard.event_queue_name(), standard.dlq_name()),
            ("inlet-events".into(), "inlet-events-dlq".into())
        );
        assert!(!QueueShape::from_settings(&Default::default()).unwrap().fifo);
        let fifo = QueueShape::from_settings(&settings("per-conversation")).unwrap();
        assert_eq!(
            (fifo.event_queue_name(), fifo.dlq_name()),
            ("inlet-events.fifo".into(), "inlet-events-dlq.fifo".into())
        );
        assert!(QueueShape::from_settings(&settings("fifo")).unwrap_err().contains("INLET_ORDERING"));
        // The reply queue is standard next to either, and a test's queues
        // have replies of their own.
        assert_eq!(
            (fifo.reply_queue_name(), fifo.reply_dlq_name()),
            ("inlet-replies".into(), "inlet-replies-dlq".into())
        );
        let other = QueueShape { queue_name: "t-123".into(), ..QueueShape::default() };
        assert_eq!(other.reply_queue_name(), "t-123-replies");
    }
}
