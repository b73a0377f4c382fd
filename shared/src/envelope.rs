//! The normalized Envelope: one JSON document per event on the queue.
//!
//! Field names are a public contract read by consumers; they are documented
//! in the README and must stay stable.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::verify::sha256_hex;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Dedup key: `<provider>:<provider's own event id>`, or
    /// `<provider>:sha256:<hex>` of the body when the provider has no id.
    pub id: String,
    pub provider: String,
    /// The provider's own event type, e.g. `im.message.receive_v1`.
    pub kind: String,
    /// App, bot or organisation the event belongs to, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// When inlet received the request, RFC 3339 in UTC.
    pub received_at: String,
    pub verification: Verification,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertView>,
    /// The provider's (decrypted) JSON, unchanged.
    pub payload: Value,
}

/// How the request was proven genuine. `matched` names the configured
/// secret that matched (`LARK_ENCRYPT_KEY#2`), never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub scheme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

/// Normalized view of a chat message, for chat platforms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Plain text of the message, when it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// What a sink needs to answer in the same conversation (provider-specific:
    /// a message id to reply to, an interaction token, a chat id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_handle: Option<Value>,
}

/// Normalized view of one alert, for alerting sources.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    pub name: String,
    /// `firing` or `resolved`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default)]
    pub labels: serde_json::Map<String, Value>,
    #[serde(default)]
    pub annotations: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_key: Option<String>,
}

impl Envelope {
    /// Starts an Envelope with the fields every provider fills.
    pub fn new(
        provider: &str,
        event_id: &str,
        kind: &str,
        received_at: OffsetDateTime,
        verification: Verification,
        payload: Value,
    ) -> Self {
        Envelope {
            id: format!("{provider}:{event_id}"),
            provider: provider.to_string(),
            kind: kind.to_string(),
            tenant: None,
            received_at: rfc3339(received_at),
            verification,
            message: None,
            alert: None,
            payload,
        }
    }

    /// The event id used when a provider sends none: a hash of the exact body.
    pub fn body_hash_id(body: &[u8]) -> String {
        format!("sha256:{}", sha256_hex(body))
    }

    /// SHA-256 of the canonical payload, stored with the dedup record so the
    /// same id arriving with a different payload can be reported.
    pub fn payload_hash(&self) -> String {
        sha256_hex(self.payload.to_string().as_bytes())
    }
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Envelope {
        Envelope::new(
            "lark",
            "ev1",
            "im.message.receive_v1",
            OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            Verification { scheme: "lark-signature".into(), matched: Some("LARK_ENCRYPT_KEY#1".into()) },
            json!({"b": 1, "a": [1, 2]}),
        )
    }

    #[test]
    fn id_is_provider_scoped_and_time_is_rfc3339() {
        let envelope = sample();
        assert_eq!(envelope.id, "lark:ev1");
        assert_eq!(envelope.received_at, "2023-11-14T22:13:20Z");
    }

    #[test]
    fn absent_views_are_omitted_and_json_round_trips() {
        let envelope = sample();
        let text = serde_json::to_string(&envelope).unwrap();
        assert!(!text.contains("\"message\""));
        assert!(!text.contains("\"alert\""));
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn body_hash_id_depends_on_every_byte() {
        assert_ne!(Envelope::body_hash_id(b"{}"), Envelope::body_hash_id(b"{} "));
        assert!(Envelope::body_hash_id(b"{}").starts_with("sha256:"));
    }

    #[test]
    fn payload_hash_changes_with_payload() {
        let mut envelope = sample();
        let first = envelope.payload_hash();
        envelope.payload = json!({"b": 2});
        assert_ne!(first, envelope.payload_hash());
    }
}
