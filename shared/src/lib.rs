//! Everything two inlet functions would otherwise repeat: the Envelope, request
//! verification, the common ingress flow, the queue and dedup adapters, and
//! configuration read once from the environment.

pub mod alerts;
pub mod aws;
pub mod config;
pub mod dedup;
pub mod delivery;
pub mod envelope;
pub mod error;
pub mod form;
pub mod ingress;
pub mod json;
mod layers;
pub mod metrics;
pub mod operations;
pub mod platform;
pub mod prelude;
pub mod provider;
pub mod queue;
pub mod reply;
pub mod samples;
pub mod sink;
pub mod telemetry;
pub mod verify;

pub use envelope::Envelope;
pub use error::IngressError;
pub use provider::{Provider, Route, RouteMatch};
