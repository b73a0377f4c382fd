//! Sinks: **where your business logic goes.**
//!
//! Every new event (never a duplicate) is passed to each sink in
//! [`configured`], in order. To act on events — answer a Lark message, page
//! someone for a firing alert, write to your database — implement
//! [`Sink`] and add it to the list below. Return an error to have the event
//! redelivered (after the queue's visibility timeout); after five failed
//! receives it goes to the dead-letter queue.
//!
//! The inbox needs no sink: completing an event stores its Envelope in the
//! event's dedup record (the same write that marks it completed), which is
//! what `inlet inbox` lists.
//!
//! To answer the conversation an event came from, a sink queues a reply
//! on the reply queue, as [`EchoSink`] does: the reply function sends it
//! with the platform's client, once (docs/reference/replies.md). A sink that
//! must see the platform's answer can instead build
//! `inlet_shared::reply::Replies::from_env` once and call `send` itself;
//! it then owns the retries and the once-only.

use std::sync::Arc;

use async_trait::async_trait;
use inlet_shared::envelope::Envelope;
use inlet_shared::reply::request::{ReplyOutbox, ReplyRequest};
use inlet_shared::reply::{Reply, ReplyTarget};
use inlet_shared::sink::{Sink, SinkError};
use tracing::info;

/// The sinks every event goes through. `replies` is the reply queue, when
/// the stack has one (`INLET_REPLY_QUEUE_URL`).
pub fn configured(replies: Option<Arc<dyn ReplyOutbox>>) -> Vec<Box<dyn Sink>> {
    let _ = replies;
    vec![
        Box::new(LogSink),
        // Box::new(EchoSink { replies: replies.expect("a reply queue") }),
        // Box::new(YourSink::new(...)),
    ]
}

/// Logs one line per event: a starting point to copy.
pub struct LogSink;

#[async_trait]
impl Sink for LogSink {
    fn name(&self) -> &str {
        "log"
    }

    async fn handle(&self, envelope: &Envelope) -> Result<(), SinkError> {
        let text = envelope.message.as_ref().and_then(|m| m.text.as_deref());
        let alert = envelope.alert.as_ref().map(|a| format!("{} {}", a.name, a.status));
        info!(id = %envelope.id, provider = %envelope.provider, kind = %envelope.kind, text, alert, "event");
        Ok(())
    }
}

/// Answers every chat message with its own text: a starting point for a
/// bot written as a sink.
pub struct EchoSink {
    pub replies: Arc<dyn ReplyOutbox>,
}

#[async_trait]
impl Sink for EchoSink {
    fn name(&self) -> &str {
        "echo"
    }

    async fn handle(&self, envelope: &Envelope) -> Result<(), SinkError> {
        let Some(text) = envelope.message.as_ref().and_then(|m| m.text.as_deref()) else { return Ok(()) };
        // An event without a conversation (a callback with no handle) has
        // nobody to answer.
        let Ok(target) = ReplyTarget::of(envelope) else { return Ok(()) };
        // The id makes the reply's key this event's and this sink's: a
        // sink run again after a crash queues the same reply, posted once.
        let request = ReplyRequest::new(&envelope.id, Reply::text(format!("echo: {text}")))
            .with_id("sink:echo")
            .with_target(target);
        self.replies.send(&request).await.map_err(|reason| SinkError::new(self.name(), reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_shared::envelope::{MessageView, Verification};
    use inlet_shared::reply::request::MemoryReplyOutbox;

    #[tokio::test]
    async fn the_echo_sink_queues_one_reply_per_message_and_the_same_one_when_run_again() {
        let outbox = Arc::new(MemoryReplyOutbox::default());
        let sink = EchoSink { replies: outbox.clone() };
        let mut event = Envelope::new(
            "telegram",
            "bot1:7",
            "message",
            time::OffsetDateTime::UNIX_EPOCH,
            Verification { scheme: "none".into(), matched: None },
            serde_json::json!({}),
        );
        sink.handle(&event).await.expect("no message: nothing to answer");
        event.message = Some(MessageView {
            chat_id: Some("42".into()),
            text: Some("hi".into()),
            reply_handle: Some(serde_json::json!({"chat_id": "42", "message_id": "7"})),
            ..MessageView::default()
        });
        sink.handle(&event).await.expect("queued");
        sink.handle(&event).await.expect("queued again");
        let sent = outbox.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].reply.text_str(), Some("echo: hi"));
        assert_eq!(sent[0].dedup_key(), sent[1].dedup_key(), "a rerun is the same reply, posted once");
    }
}
