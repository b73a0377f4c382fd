//! Where processed events go. A sink is the place for business logic:
//! reply to a chat, page someone, write to a database.

use async_trait::async_trait;

use crate::envelope::Envelope;

#[derive(Debug, thiserror::Error)]
#[error("sink {sink} failed: {reason}")]
pub struct SinkError {
    pub sink: String,
    pub reason: String,
}

impl SinkError {
    pub fn new(sink: &str, reason: impl Into<String>) -> Self {
        SinkError { sink: sink.to_string(), reason: reason.into() }
    }
}

/// One step of handling an event. Sinks run in order for each new event; if
/// one fails, the event's lock is released and the message is redelivered,
/// so a sink must tolerate seeing an event again after a failure of a later
/// one (or after a crash). The dedup record's `sink_runs` counts those runs.
#[async_trait]
pub trait Sink: Send + Sync {
    fn name(&self) -> &str;
    async fn handle(&self, envelope: &Envelope) -> Result<(), SinkError>;
}
