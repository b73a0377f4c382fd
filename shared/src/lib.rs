//! Everything two inlet functions would otherwise repeat: the Envelope, request
//! verification, the common ingress flow, the queue and dedup adapters, and
//! configuration read once from the environment.

pub mod alerts;
pub mod aws_json;
pub mod config;
pub mod conformance;
pub mod crosscheck;
pub mod dedup;
pub mod delivery;
pub mod envelope;
pub mod error;
pub mod form;
pub mod ingress;
pub mod json;
pub mod metrics;
pub mod operations;
pub mod outbound;
pub mod prelude;
pub mod provider;
pub mod queue;
pub mod reply;
pub mod runtime;
pub mod samples;
pub mod secrets;
pub mod sink;
pub mod telemetry;
pub mod tls;
pub mod verify;

pub use envelope::Envelope;
pub use error::IngressError;
pub use provider::{Provider, Route, RouteMatch};
