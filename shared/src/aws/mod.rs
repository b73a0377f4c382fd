//! The AWS adapters: everything in inlet-shared that names an AWS service,
//! the Lambda runtime or the SDK's HTTP stack. The core modules beside this
//! folder (the Envelope, verification, the Provider contract, the ingress
//! flow, dedup, the queue's messages) know none of it and never import from
//! here; these adapters implement the core's traits (`Publisher`,
//! `Redelivery`, `IdempotencyStore`) for production.

pub mod access;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod json_api;
pub mod lambda;
pub mod outbound;
pub mod partition;
pub mod secrets;
pub mod sqs;
pub mod tls;
