//! What a provider crate imports: `use inlet_shared::prelude::*;`.

pub use http::StatusCode;
pub use serde_json::{Value, json};
pub use time::OffsetDateTime;

pub use crate::config::EnvSource;
pub use crate::envelope::{AlertView, Envelope, MessageView, Verification};
pub use crate::error::{ConfigError, IngressError};
pub use crate::ingress::{Decision, IncomingRequest, IngressSettings, Reply};
pub use crate::provider::{Decided, Provider, Route, RouteMatch};
pub use crate::samples::{SampleRequest, Samples};
pub use crate::verify::SecretList;
