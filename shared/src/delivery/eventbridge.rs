//! The EventBridge destination: each Envelope as one event on a bus, so a
//! team routes it with ordinary EventBridge rules to any target.
//!
//! Every event is a PutEvents entry with `Source` = `inlet.<provider>`,
//! `DetailType` = the Envelope's `kind`, `Detail` = the Envelope (the exact
//! bytes the event queue carried, so the detail's `id` is the Envelope id on
//! every attempt) and `Time` = its `received_at`. Calls carry at most
//! [`MAX_CALL_ENTRIES`] entries and [`MAX_CALL_BYTES`] bytes as EventBridge
//! counts them ([`entry_size`]); each entry's result is reported on its own.

use async_trait::async_trait;
use aws_sdk_eventbridge::error::SdkError;
use aws_sdk_eventbridge::operation::put_events::PutEventsError;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::sqs::{describe, split_calls};
use super::{Delivery, DeliveryError, Destination, Outgoing, finish, screen_sizes};

/// PutEvents takes at most ten entries…
pub const MAX_CALL_ENTRIES: usize = 10;
/// …of at most 256 KB together, as [`entry_size`] counts them; so one entry
/// can be at most that too.
pub const MAX_CALL_BYTES: usize = 256 * 1024;
/// What a set `Time` counts towards an entry's size, whatever its value.
const TIME_BYTES: usize = 14;

/// A bus of the team's (or the deployment's `inlet` bus). `bus` is a name or
/// an ARN, passed as `EventBusName`.
pub struct EventBridgeDestination {
    pub name: String,
    pub bus: String,
    pub client: aws_sdk_eventbridge::Client,
}

/// An entry's size as EventBridge counts it against the PutEvents limit
/// ("Calculating PutEvents event entry size"): 14 bytes for `Time` when it is
/// set, plus the UTF-8 bytes of `Source`, `DetailType`, `Detail` and each of
/// `Resources` (inlet sends none).
pub fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    entry.time().map_or(0, |_| TIME_BYTES)
        + entry.source().map_or(0, str::len)
        + entry.detail_type().map_or(0, str::len)
        + entry.detail().map_or(0, str::len)
        + entry.resources().iter().map(String::len).sum::<usize>()
}

impl EventBridgeDestination {
    /// The PutEvents entry of one event.
    pub fn entry(&self, event: &Outgoing<'_>) -> PutEventsRequestEntry {
        let envelope = event.envelope;
        PutEventsRequestEntry::builder()
            .source(format!("inlet.{}", envelope.provider))
            .detail_type(&envelope.kind)
            .detail(event.body)
            .event_bus_name(&self.bus)
            // `received_at` is RFC 3339 as inlet writes it; should one not
            // parse, EventBridge stamps the event with the time it arrives.
            .set_time(DateTime::from_str(&envelope.received_at, Format::DateTime).ok())
            .build()
    }

    async fn put(&self, entries: Vec<PutEventsRequestEntry>) -> Vec<Result<(), DeliveryError>> {
        let count = entries.len();
        match self.client.put_events().set_entries(Some(entries)).send().await {
            Ok(output) => {
                let answers = output.entries();
                (0..count)
                    .map(|position| match answers.get(position) {
                        Some(answer) => entry_result(answer),
                        None => Err(DeliveryError::transient("EventBridge reported nothing on this entry")),
                    })
                    .collect()
            }
            Err(error) => vec![Err(call_error(&error, &self.bus)); count],
        }
    }
}

/// One entry's answer. EventBridge documents InternalFailure and
/// ThrottlingException as retryable and the rest as not; of the rest,
/// InvalidArgument, MalformedDetail and RedactionFailure are about the
/// entry itself and fail the same way on every retry (permanent), while
/// AccessDeniedException, NotAuthorizedFor{Source,DetailType}Exception and
/// InvalidAccountIdException are about the deployment (IAM, the bus's
/// policy, the ARN): every event would get them until a deploy fixes it, so
/// they stay transient and the DLQ keeps the events meanwhile. A code AWS
/// adds later is retried too: a wrong "transient" costs retries and ends in
/// the DLQ, a wrong "permanent" would drop the event.
fn entry_result(answer: &PutEventsResultEntry) -> Result<(), DeliveryError> {
    let Some(code) = answer.error_code() else { return Ok(()) };
    let reason = format!("EventBridge refused the event: {code} {}", answer.error_message().unwrap_or_default());
    Err(if entry_error_is_permanent(code) {
        DeliveryError::permanent(reason)
    } else {
        DeliveryError::transient(reason)
    })
}

fn entry_error_is_permanent(code: &str) -> bool {
    matches!(code, "InvalidArgument" | "MalformedDetail" | "RedactionFailure")
}

/// A whole call failed: throttling, a 5xx, a timeout or the transport, and
/// also a bus that does not exist (ResourceNotFoundException) or may not be
/// written (AccessDeniedException). Those last two are configuration errors
/// that a retry will not fix quickly, but a deploy will; treating them as
/// transient keeps every event owed, and after the queue's last receive the
/// DLQ keeps them for `inlet redrive`, where a permanent failure would drop
/// them. Entries are checked against the size limits before sending, so a
/// call is never refused for one entry's size.
fn call_error(error: &SdkError<PutEventsError>, bus: &str) -> DeliveryError {
    DeliveryError::transient(format!("PutEvents to {bus} failed: {}", describe(error)))
}

#[async_trait]
impl Destination for EventBridgeDestination {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, events: &[Outgoing<'_>]) -> Vec<Delivery> {
        let entries: Vec<PutEventsRequestEntry> = events.iter().map(|event| self.entry(event)).collect();
        // EventBridge would refuse an entry over its limit, and the call
        // with it, on every attempt.
        let (mut results, sendable, sizes) = screen_sizes(entries.iter().map(entry_size), MAX_CALL_BYTES, |size| {
            format!("event is {size} bytes as EventBridge counts it, over its {MAX_CALL_BYTES}-byte entry limit")
        });
        for call in split_calls(&sizes, MAX_CALL_ENTRIES, MAX_CALL_BYTES) {
            let batch = &sendable[call];
            let answers = self.put(batch.iter().map(|&index| entries[index].clone()).collect()).await;
            for (&index, answer) in batch.iter().zip(answers) {
                results[index] = Some(answer);
            }
        }
        finish(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Envelope, Verification};
    use serde_json::json;

    fn destination() -> EventBridgeDestination {
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
            .build();
        EventBridgeDestination {
            name: "bus".into(),
            bus: "inlet".into(),
            client: aws_sdk_eventbridge::Client::from_conf(config),
        }
    }

    fn envelope(provider: &str, kind: &str, payload: serde_json::Value) -> Envelope {
        Envelope::new(
            provider,
            "e1",
            kind,
            time::macros::datetime!(2024-05-01 12:00:00.5 UTC),
            Verification { scheme: "none".into(), matched: None },
            payload,
        )
    }

    #[test]
    fn an_entry_is_source_detail_type_detail_time_and_bus() {
        let envelope = envelope("lark", "im.message.receive_v1", json!({"text": "héllo"}));
        let body = envelope.encode().expect("encodes");
        let entry = destination().entry(&Outgoing { envelope: &envelope, body: &body });
        assert_eq!(entry.source(), Some("inlet.lark"));
        assert_eq!(entry.detail_type(), Some("im.message.receive_v1"));
        assert_eq!(entry.detail(), Some(body.as_str()));
        assert_eq!(entry.event_bus_name(), Some("inlet"));
        assert_eq!(entry.time().map(|t| t.secs()), Some(1_714_564_800));
        // 14 for Time, then the UTF-8 bytes ("é" is two) of the three strings.
        assert_eq!(entry_size(&entry), 14 + "inlet.lark".len() + "im.message.receive_v1".len() + body.len());
        assert!(body.len() > body.chars().count(), "the detail holds a multi-byte character");
    }

    #[test]
    fn size_counts_time_only_when_set_and_every_resource() {
        let bare = PutEventsRequestEntry::builder().source("s").detail_type("dt").detail("{}").build();
        assert_eq!(entry_size(&bare), 1 + 2 + 2);
        let full = PutEventsRequestEntry::builder()
            .source("s")
            .detail_type("dt")
            .detail("{}")
            .time(DateTime::from_secs(0))
            .resources("arn:a")
            .resources("ü")
            .build();
        assert_eq!(entry_size(&full), 14 + 1 + 2 + 2 + 5 + 2);
    }

    #[test]
    fn calls_hold_ten_entries_and_256_kb() {
        assert_eq!(split_calls(&[100; 25], MAX_CALL_ENTRIES, MAX_CALL_BYTES), vec![0..10, 10..20, 20..25]);
        let near = 100 * 1024;
        assert_eq!(split_calls(&[near, near, near, 1], MAX_CALL_ENTRIES, MAX_CALL_BYTES), vec![0..2, 2..4]);
        assert_eq!(split_calls(&[MAX_CALL_BYTES, 1], MAX_CALL_ENTRIES, MAX_CALL_BYTES), vec![0..1, 1..2]);
    }

    #[test]
    fn only_errors_about_the_entry_itself_are_permanent() {
        let failed = |code: &str| PutEventsResultEntry::builder().error_code(code).error_message("m").build();
        for code in ["InvalidArgument", "MalformedDetail", "RedactionFailure"] {
            assert!(entry_result(&failed(code)).is_err_and(|e| e.is_permanent()), "{code}");
        }
        for code in [
            "InternalFailure",
            "ThrottlingException",
            "AccessDeniedException",
            "NotAuthorizedForSourceException",
            "NotAuthorizedForDetailTypeException",
            "InvalidAccountIdException",
            "SomethingNew",
        ] {
            assert!(entry_result(&failed(code)).is_err_and(|e| !e.is_permanent()), "{code}");
        }
        assert!(entry_result(&PutEventsResultEntry::builder().event_id("1").build()).is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_service_fails_every_event_transiently_with_a_short_reason() {
        let sdk = crate::aws::access::local_sdk_config("http://127.0.0.1:1");
        let destination = EventBridgeDestination {
            name: "bus".into(),
            bus: "inlet".into(),
            client: aws_sdk_eventbridge::Client::new(&sdk),
        };
        let envelopes: Vec<Envelope> = (0..3).map(|i| envelope("lark", "k", json!({ "n": i }))).collect();
        let bodies: Vec<String> = envelopes.iter().map(|e| e.encode().expect("encodes")).collect();
        let events: Vec<Outgoing<'_>> =
            envelopes.iter().zip(&bodies).map(|(envelope, body)| Outgoing { envelope, body }).collect();
        let results = destination.deliver(&events).await;
        assert_eq!(results.len(), 3);
        for result in results {
            let error = result.expect_err("nothing listens there");
            assert!(!error.is_permanent(), "{error}");
            assert!(error.reason.starts_with("PutEvents to inlet failed: dispatch failure"), "{error}");
            assert!(error.reason.len() < 400, "no raw response or debug dump: {error}");
        }
    }

    #[tokio::test]
    async fn an_oversized_entry_fails_for_good_without_a_call() {
        let big = envelope("lark", "k", json!({"blob": "x".repeat(MAX_CALL_BYTES)}));
        let body = big.encode().expect("encodes");
        // No endpoint answers here: the entry is refused before any call.
        let results = destination().deliver(&[Outgoing { envelope: &big, body: &body }]).await;
        assert!(matches!(results.as_slice(), [Err(e)] if e.is_permanent()), "{results:?}");
    }
}
