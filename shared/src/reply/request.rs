//! A reply on its way: the reply queue's message, and the outbox that puts
//! one there.
//!
//! ```json
//! {"event_id": "telegram:bot1:7", "reply": {"text": "pong"}, "id": "optional key"}
//! ```
//!
//! `event_id` is the Envelope id of the event to answer; the reply function
//! reads where its conversation is from the event's dedup record. inlet's
//! own requests (a destination's answer) carry that `target` inline. `id`
//! makes two identical replies to one event two posts; without it, the
//! same reply to the same event is posted once however often it is sent.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Reply, ReplyTarget};
use crate::verify::sha256_hex;

/// The provider name of a reply's dedup record (`reply:<hex>`).
pub const RECORD_PROVIDER: &str = "reply";
/// The longest `id` a sender may give.
pub const MAX_ID_CHARS: usize = 256;
/// The largest reply request taken (SQS's message limit is far above).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// One reply to send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    pub event_id: String,
    pub reply: Reply,
    /// The sender's key for this reply (see the module's documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Where the event's conversation is, when the sender already knew it
    /// (inlet's processor does); otherwise read from the event's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ReplyTarget>,
}

impl ReplyRequest {
    pub fn new(event_id: impl Into<String>, reply: Reply) -> Self {
        ReplyRequest { event_id: event_id.into(), reply, id: None, target: None }
    }

    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    pub fn with_target(mut self, target: ReplyTarget) -> Self {
        self.target = Some(target);
        self
    }

    /// Reads and checks a queue message; the error says what is wrong in
    /// terms a sender can fix.
    pub fn parse(body: &str) -> Result<ReplyRequest, String> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(format!("a reply request is at most {MAX_REQUEST_BYTES} bytes; this one is {}", body.len()));
        }
        let value: Value = serde_json::from_str(body).map_err(|error| format!("not JSON: {error}"))?;
        let reply = value.get("reply").ok_or("a reply request is {\"event_id\": \"...\", \"reply\": {...}}")?;
        Reply::from_json(reply)?;
        let request: ReplyRequest = serde_json::from_value(value)
            .map_err(|error| format!("a reply request is {{\"event_id\", \"reply\", \"id\"?}}: {error}"))?;
        request.check()?;
        Ok(request)
    }

    fn check(&self) -> Result<(), String> {
        if self.event_id.trim().is_empty() {
            return Err("event_id is empty".into());
        }
        if let Some(id) = &self.id
            && (id.is_empty() || id.chars().count() > MAX_ID_CHARS)
        {
            return Err(format!("id must be 1 to {MAX_ID_CHARS} characters"));
        }
        if let Some(target) = &self.target
            && (target.event_id != self.event_id || !self.event_id.starts_with(&format!("{}:", target.provider)))
        {
            return Err("target is for another event".into());
        }
        self.reply.check()
    }

    /// The key of this reply in the dedup table: the same on every
    /// delivery of the request, different for another reply or another
    /// event (`reply:<hex>`, a fixed length whatever the ids).
    pub fn dedup_key(&self) -> String {
        format!("{RECORD_PROVIDER}:{}", self.reply_hash())
    }

    /// The hex of the key: the event and the sender's id, or the reply's
    /// content when the sender gave none.
    pub fn reply_hash(&self) -> String {
        let which = match &self.id {
            Some(id) => format!("id\n{id}"),
            // serde_json writes a struct's fields in declaration order and a
            // card's object keys sorted (no `preserve_order`), so equal
            // replies give equal text.
            None => format!("reply\n{}", serde_json::to_string(&self.reply).unwrap_or_default()),
        };
        sha256_hex(format!("{}\n{which}", self.event_id).as_bytes())
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and JSON values always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where replies are queued for the reply function.
#[async_trait]
pub trait ReplyOutbox: Send + Sync {
    /// Queues `request`; an error means it was not queued (the reason
    /// names no secret).
    async fn send(&self, request: &ReplyRequest) -> Result<(), String>;
}

/// The setting that names the reply queue.
pub const QUEUE_URL_SETTING: &str = "INLET_REPLY_QUEUE_URL";

/// The reply queue on SQS.
#[derive(Clone, Debug)]
pub struct SqsReplyOutbox {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsReplyOutbox {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsReplyOutbox { client, queue_url: queue_url.into() }
    }

    /// The outbox `INLET_REPLY_QUEUE_URL` names, or None when it is unset.
    pub fn from_env(env: &dyn crate::config::EnvSource, client: aws_sdk_sqs::Client) -> Option<Self> {
        crate::config::optional(env, QUEUE_URL_SETTING).map(|url| SqsReplyOutbox::new(client, url))
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

#[async_trait]
impl ReplyOutbox for SqsReplyOutbox {
    async fn send(&self, request: &ReplyRequest) -> Result<(), String> {
        let mut send = self.client.send_message().queue_url(&self.queue_url).message_body(request.to_json());
        if self.queue_url.ends_with(".fifo") {
            // A FIFO reply queue keeps one conversation's replies in order.
            let group = request
                .target
                .as_ref()
                .and_then(|t| t.chat_id.as_deref().map(|chat| format!("{}:{chat}", t.provider)))
                .filter(|g| crate::queue::is_fifo_id(g))
                .unwrap_or_else(|| request.reply_hash());
            send = send.message_group_id(group).message_deduplication_id(request.reply_hash());
        }
        send.send()
            .await
            .map(|_| ())
            .map_err(|error| format!("reply queue: {}", crate::aws::json_api::with_causes(&error)))
    }
}

/// Replies kept in memory, for tests.
#[cfg(any(test, feature = "testkit"))]
#[derive(Debug, Default)]
pub struct MemoryReplyOutbox {
    pub sent: std::sync::Mutex<Vec<ReplyRequest>>,
}

#[cfg(any(test, feature = "testkit"))]
#[async_trait]
impl ReplyOutbox for MemoryReplyOutbox {
    async fn send(&self, request: &ReplyRequest) -> Result<(), String> {
        self.sent.lock().map_err(|_| "poisoned".to_string())?.push(request.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_is_an_event_id_and_a_reply_and_what_is_wrong_is_named() {
        let request = ReplyRequest::parse(r#"{"event_id": "lark:e1", "reply": {"text": "hi"}}"#).unwrap();
        assert_eq!((request.event_id.as_str(), request.reply.text_str()), ("lark:e1", Some("hi")));
        for (body, says) in [
            ("nope", "not JSON"),
            (r#"{"event_id": "lark:e1"}"#, "reply"),
            (r#"{"event_id": "lark:e1", "reply": {}}"#, "non-empty text or a card"),
            (r#"{"event_id": "", "reply": {"text": "hi"}}"#, "event_id"),
            (r#"{"event_id": "e", "reply": {"text": "hi"}, "extra": 1}"#, "unknown field"),
            (r#"{"event_id": "e", "reply": {"text": "hi"}, "id": ""}"#, "id must be"),
        ] {
            let error = ReplyRequest::parse(body).unwrap_err();
            assert!(error.contains(says), "{body}: {error}");
        }
        let big = json!({"event_id": "e", "reply": {"text": "x".repeat(MAX_REQUEST_BYTES)}}).to_string();
        assert!(ReplyRequest::parse(&big).unwrap_err().contains("at most"));
    }

    #[test]
    fn the_same_reply_to_the_same_event_has_one_key_and_anything_else_another() {
        let request = |event: &str, text: &str| ReplyRequest::new(event, Reply::text(text));
        let key = request("lark:e1", "hi").dedup_key();
        assert_eq!(key, request("lark:e1", "hi").dedup_key(), "a redelivery is the same reply");
        assert!(key.starts_with("reply:") && key.len() == "reply:".len() + 64);
        assert_ne!(key, request("lark:e2", "hi").dedup_key());
        assert_ne!(key, request("lark:e1", "ho").dedup_key());
        assert_ne!(key, request("lark:e1", "hi").with_id("second").dedup_key(), "an id makes a second post");
        assert_eq!(
            request("lark:e1", "hi").with_id("k").dedup_key(),
            request("lark:e1", "other text").with_id("k").dedup_key(),
            "with an id the id decides"
        );
        // Cards with the same content written in another key order are one reply.
        let a = ReplyRequest::parse(r#"{"event_id":"e","reply":{"card":{"a":1,"b":2}}}"#).unwrap();
        let b = ReplyRequest::parse(r#"{"event_id":"e","reply":{"card":{"b":2,"a":1}}}"#).unwrap();
        assert_eq!(a.dedup_key(), b.dedup_key());
        assert_eq!(ReplyRequest::parse(&a.to_json()).unwrap(), a, "what the outbox writes, the function reads");
    }
}
