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

use async_trait::async_trait;
use inlet_shared::envelope::Envelope;
use inlet_shared::sink::{Sink, SinkError};
use tracing::info;

/// The sinks every event goes through.
pub fn configured() -> Vec<Box<dyn Sink>> {
    vec![
        Box::new(LogSink),
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
