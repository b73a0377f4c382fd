//! Delivery: each new event goes to the team's own code, to every
//! destination whose `match` it satisfies, once per destination.
//!
//! A deployment declares its destinations as data (`INLET_DESTINATIONS`,
//! [`config`]); each is an EventBridge bus, a signed HTTP endpoint or an SQS
//! queue behind the one [`Destination`] trait. Which destinations an event
//! still owes, and what happened at each, live in the event's dedup record,
//! so a retry calls only those that have not succeeded. Retries and backoff
//! are SQS's (the processor lengthens a failed message's visibility); fan-out
//! beyond the configured destinations is EventBridge's.

pub mod config;
#[cfg(feature = "delivery")]
pub mod eventbridge;
pub mod http;
pub mod pattern;
pub mod sqs;
pub mod targets;

use std::time::Duration;

use async_trait::async_trait;

use crate::envelope::Envelope;
use crate::verify::sha256_hex;

/// One event as it leaves: the Envelope and its encoded bytes (what every
/// destination sends: the same bytes the queue carried).
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    pub envelope: &'a Envelope,
    pub body: &'a str,
}

/// What a destination said when it took an event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivered {
    /// A reply the destination asked inlet to send to the event's
    /// conversation (an HTTP destination's answer `{"reply": {...}}`), as it
    /// came: checked when the processor queues it (`crate::reply`).
    pub reply: Option<serde_json::Value>,
}

/// One event's delivery to one destination.
pub type Delivery = Result<Delivered, DeliveryError>;

/// Whether a failed delivery is worth trying again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// A transient failure (timeout, 408, 429, 5xx, throttling, a failed
    /// entry): try again, no sooner than `after` when the destination said.
    Later { after: Option<Duration> },
    /// The destination refused the event for good (an HTTP 4xx other than
    /// 408 and 429, an entry EventBridge or SQS calls invalid): recorded and
    /// alarmed, never retried.
    Never,
}

/// Why one event was not delivered to one destination. `reason` goes to the
/// log and the dedup record: it never holds a secret or a signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    pub retry: Retry,
    pub reason: String,
}

impl DeliveryError {
    pub fn transient(reason: impl Into<String>) -> Self {
        DeliveryError { retry: Retry::Later { after: None }, reason: reason.into() }
    }

    pub fn transient_after(after: Option<Duration>, reason: impl Into<String>) -> Self {
        DeliveryError { retry: Retry::Later { after }, reason: reason.into() }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        DeliveryError { retry: Retry::Never, reason: reason.into() }
    }

    pub fn is_permanent(&self) -> bool {
        self.retry == Retry::Never
    }
}

/// One place events are delivered to.
#[async_trait]
pub trait Destination: Send + Sync {
    /// The destination's `name` in `INLET_DESTINATIONS`: the key of its
    /// state in the dedup record, so it must stay stable.
    fn name(&self) -> &str;

    /// Delivers each event; the answer has one result per event, in order.
    /// A destination that sends batches (EventBridge, SQS) splits them at its
    /// service's limits and reports each entry on its own, so that a retry
    /// repeats only the entries that failed. Each event is sent with an id
    /// derived from its Envelope id (`webhook-id`, the SQS deduplication id,
    /// the EventBridge detail's `id`), the same on every attempt.
    async fn deliver(&self, events: &[Outgoing<'_>]) -> Vec<Delivery>;
}

/// The longest id SQS FIFO takes as a `MessageGroupId` or a
/// `MessageDeduplicationId`.
pub const MAX_FIFO_ID_CHARS: usize = 128;

/// Whether SQS FIFO takes `id` as it is for a group or deduplication id:
/// 1 to 128 characters, each an ASCII letter or digit or one of
/// ``!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`` (exactly ASCII punctuation).
pub fn is_fifo_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_FIFO_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation())
}

/// The conversation an event belongs to: the unit whose events keep their
/// order (the `MessageGroupId` of a FIFO queue, ours or a destination's).
///
/// - a message: provider, tenant and chat (`lark:chat:<tenant>:<chat id>`);
/// - an alert: its group (`alertmanager:alert:<group key>`), so a group's
///   firing and resolved notifications stay in order;
/// - anything else: the event's own id, a conversation of one.
///
/// Always a valid FIFO id: a value that is too long or holds other
/// characters becomes `<provider>:sha256:<hex of the value>` (or the bare
/// hex when the provider name itself is unusual). The same Envelope always
/// gives the same answer, so a retry lands in the same group.
pub fn conversation_of(envelope: &Envelope) -> String {
    let provider = &envelope.provider;
    let chat = envelope.message.as_ref().and_then(|m| m.chat_id.as_deref()).filter(|c| !c.is_empty());
    let group = envelope.alert.as_ref().and_then(|a| a.group_key.as_deref()).filter(|g| !g.is_empty());
    let conversation = match (chat, group) {
        (Some(chat), _) => {
            // The tenant sits between two separators: escaping `:` keeps
            // tenant `a:b` + chat `c` apart from tenant `a` + chat `b:c`.
            let tenant = envelope.tenant.as_deref().unwrap_or_default().replace('%', "%25").replace(':', "%3A");
            format!("{provider}:chat:{tenant}:{chat}")
        }
        (None, Some(group)) => format!("{provider}:alert:{group}"),
        (None, None) => envelope.id.clone(),
    };
    if is_fifo_id(&conversation) {
        return conversation;
    }
    let hash = sha256_hex(conversation.as_bytes());
    // 64 hex characters, the separator and a provider name of at most 48
    // characters stay within the 128 allowed.
    if is_fifo_id(provider) && provider.len() <= 48 && !provider.contains(':') {
        format!("{provider}:sha256:{hash}")
    } else {
        hash
    }
}

#[cfg(test)]
mod conversation_tests {
    use super::*;
    use crate::envelope::{AlertView, MessageView, Verification};
    use serde_json::json;

    fn envelope(provider: &str, event_id: &str) -> Envelope {
        Envelope::new(
            provider,
            event_id,
            "test.kind",
            time::OffsetDateTime::UNIX_EPOCH,
            Verification { scheme: "none".into(), matched: None },
            json!({}),
        )
    }

    fn message(provider: &str, event_id: &str, tenant: Option<&str>, chat: &str) -> Envelope {
        let mut e = envelope(provider, event_id);
        e.tenant = tenant.map(str::to_string);
        e.message = Some(MessageView { chat_id: Some(chat.into()), ..MessageView::default() });
        e
    }

    #[test]
    fn a_message_belongs_to_its_provider_tenant_and_chat() {
        let first = message("lark", "e1", Some("cli_a1"), "oc_42");
        let second = message("lark", "e2", Some("cli_a1"), "oc_42");
        assert_eq!(conversation_of(&first), "lark:chat:cli_a1:oc_42");
        assert_eq!(conversation_of(&first), conversation_of(&second), "two events of one chat, one group");
        assert_ne!(conversation_of(&first), conversation_of(&message("lark", "e1", Some("cli_b2"), "oc_42")));
        assert_ne!(conversation_of(&first), conversation_of(&message("slack", "e1", Some("cli_a1"), "oc_42")));
        assert_eq!(conversation_of(&message("telegram", "7", None, "-100123")), "telegram:chat::-100123");
        // A `:` inside the tenant cannot move the boundary to the chat id.
        assert_ne!(
            conversation_of(&message("p", "1", Some("a:b"), "c")),
            conversation_of(&message("p", "1", Some("a"), "b:c"))
        );
    }

    #[test]
    fn an_alert_belongs_to_its_group_and_anything_else_to_itself() {
        let mut alert = envelope("alertmanager", "fp:firing:1");
        alert.alert = Some(AlertView {
            name: "HighLatency".into(),
            status: "firing".into(),
            group_key: Some(r#"{}:{alertname="HighLatency"}"#.into()),
            ..AlertView::default()
        });
        assert_eq!(conversation_of(&alert), r#"alertmanager:alert:{}:{alertname="HighLatency"}"#);
        let lone = envelope("github", "delivery-1");
        assert_eq!(conversation_of(&lone), "github:delivery-1");
        let mut no_chat = envelope("lark", "e9");
        no_chat.message = Some(MessageView::default());
        assert_eq!(conversation_of(&no_chat), "lark:e9", "a message view without a chat is its own conversation");
    }

    #[test]
    fn long_or_unusual_values_are_hashed_stably_into_a_fifo_id() {
        for chat in ["x".repeat(200), "会话 1".to_string(), "tab\there".to_string(), "space in".to_string()] {
            let e = message("lark", "e1", Some("cli_a1"), &chat);
            let group = conversation_of(&e);
            assert!(is_fifo_id(&group), "{group}");
            assert!(group.starts_with("lark:sha256:") && group.len() == "lark:sha256:".len() + 64, "{group}");
            assert_eq!(group, conversation_of(&e.clone()), "the same event, the same group on every attempt");
        }
        let long_id = envelope("github", &"d".repeat(300));
        assert!(is_fifo_id(&conversation_of(&long_id)));
        let odd_provider = message(&"p".repeat(130), "e1", None, "c");
        let group = conversation_of(&odd_provider);
        assert_eq!(group.len(), 64, "{group}");
        assert!(is_fifo_id(&group));
    }

    #[test]
    fn fifo_ids_are_ascii_letters_digits_and_punctuation_up_to_128() {
        assert!(is_fifo_id(r##"aZ09!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##));
        assert!(is_fifo_id(&"a".repeat(128)));
        assert!(!is_fifo_id(&"a".repeat(129)));
        assert!(!is_fifo_id(""));
        for bad in ["a b", "é", "a\tb", "a\u{7f}"] {
            assert!(!is_fifo_id(bad), "{bad:?}");
        }
    }
}
