//! What inlet's tests share, kept out of the production crates.
//!
//! - [`conformance`]: the promises every provider keeps, run against its
//!   samples (`conformance::check::<P>`).
//! - [`crosscheck`]: runs a platform's official library on the same request
//!   (Python or Node, installed by `make tools`) and compares verdicts.
//! - [`samples`]: handler tests' requests, settings and assertions.
//! - [`events`]: Envelopes and operator records for tests past a receiver.
//! - [`moto`]: the emulator's endpoint, clients, unique names, a test's own
//!   queue and table, what reached a queue, a request log.
//! - [`doubles`]: the in-memory adapters of the core's traits, and log
//!   capture. They are defined beside their traits in inlet-shared (whose own
//!   unit tests use them) and compiled only for tests and this crate (the
//!   `testkit` feature), never into a function.

pub mod conformance;
pub mod crosscheck;
pub mod events;
pub mod moto;
pub mod samples;

pub use conformance::NOW;

pub mod doubles {
    pub use inlet_shared::aws::secrets::MemoryStore as MemorySecretStore;
    pub use inlet_shared::dedup::MemoryStore as MemoryDedupStore;
    pub use inlet_shared::queue::{MemoryPublisher, MemoryRedelivery};
    pub use inlet_shared::reply::request::MemoryReplyOutbox;
    pub use inlet_shared::telemetry::CapturedLogs;
}

pub use doubles::{CapturedLogs, MemoryPublisher};
