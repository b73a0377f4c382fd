//! The one error type of the ingress path and its single mapping to HTTP.
//!
//! Every variant says exactly why a request was refused, in words that are
//! safe to return to the caller and to log: no variant ever carries a secret.

use http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngressError {
    #[error("request body is {size} bytes, over the {limit}-byte limit")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("source address {0} is not allowed")]
    AddressNotAllowed(String),
    #[error("source address is unknown and an allowlist is configured")]
    AddressUnknown,
    #[error("sender {0} is not allowed")]
    SenderNotAllowed(String),
    #[error("missing {0}")]
    MissingCredential(&'static str),
    #[error("{0} does not match any configured secret")]
    BadCredential(&'static str),
    #[error("timestamp {timestamp} is outside the allowed window of {tolerance_secs} s")]
    StaleTimestamp { timestamp: String, tolerance_secs: u64 },
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("cannot decrypt body: {0}")]
    Undecryptable(&'static str),
    /// The path is not one of the function's routes. The path itself is not
    /// repeated: it may hold a secret segment (the flow logs it redacted).
    #[error("no route for this path")]
    NotFound(String),
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    #[error("event is {size} bytes, over the queue's {limit}-byte message limit")]
    EventTooLarge { size: usize, limit: usize },
    #[error("the event queue is unavailable")]
    QueueUnavailable,
    /// The event would fail a later step (the processor's decoder): refused
    /// now rather than acknowledged and lost in the dead-letter queue.
    #[error("event cannot be processed: {0}")]
    NotProcessable(String),
    /// The queue refused the event's content; retrying cannot help.
    #[error("{0}")]
    QueueRefused(String),
    /// A request on an unauthenticated path (before any secret has proven
    /// it genuine) that failed any check: undecodable, undecryptable, not
    /// JSON after decryption, wrong or missing token, unsigned where a
    /// signature is required. The reason is for the log only; the caller
    /// always gets [`IngressError::UNAUTHENTICATED_BODY`], so the answers
    /// cannot be told apart (no padding or parsing oracle).
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
}

impl IngressError {
    /// The one place where refusals become HTTP statuses.
    ///
    /// 5xx is reserved for failures a retry can cure (the queue), so platforms
    /// that retry on 5xx keep the event, and those that stop on 4xx stop.
    pub fn status(&self) -> StatusCode {
        match self {
            IngressError::BodyTooLarge { .. } | IngressError::EventTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngressError::AddressNotAllowed(_) | IngressError::AddressUnknown | IngressError::SenderNotAllowed(_) => {
                StatusCode::FORBIDDEN
            }
            IngressError::MissingCredential(_)
            | IngressError::BadCredential(_)
            | IngressError::StaleTimestamp { .. }
            | IngressError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            IngressError::Malformed(_)
            | IngressError::Undecryptable(_)
            | IngressError::NotProcessable(_)
            | IngressError::QueueRefused(_) => StatusCode::BAD_REQUEST,
            IngressError::NotFound(_) => StatusCode::NOT_FOUND,
            IngressError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            IngressError::QueueUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Which check refused the request, as a stable snake_case name: what
    /// refusal records and the `Class` metric dimension carry, so alarms and
    /// `inlet refused` can group refusals without parsing the reason.
    pub fn class(&self) -> &'static str {
        match self {
            IngressError::BodyTooLarge { .. } => "too_large",
            IngressError::AddressNotAllowed(_) => "address_not_allowed",
            IngressError::AddressUnknown => "address_unknown",
            IngressError::SenderNotAllowed(_) => "sender_not_allowed",
            IngressError::MissingCredential(_) => "missing_credential",
            IngressError::BadCredential(_) => "bad_credential",
            IngressError::StaleTimestamp { .. } => "stale_timestamp",
            IngressError::Malformed(_) => "malformed",
            IngressError::Undecryptable(_) => "undecryptable",
            IngressError::NotFound(_) => "not_found",
            IngressError::MethodNotAllowed(_) => "method_not_allowed",
            IngressError::EventTooLarge { .. } => "event_too_large",
            IngressError::QueueUnavailable => "queue_unavailable",
            IngressError::NotProcessable(_) => "not_processable",
            IngressError::QueueRefused(_) => "queue_refused",
            IngressError::Unauthenticated(_) => "unauthenticated",
        }
    }

    pub fn malformed(reason: impl Into<String>) -> Self {
        IngressError::Malformed(reason.into())
    }

    /// The one body every unauthenticated-path failure answers.
    pub const UNAUTHENTICATED_BODY: &'static str = "request could not be authenticated";

    /// What the caller is told: the precise reason, except for every 401.
    /// A request that has not proven itself learns nothing about why (which
    /// header, which check, which bot exists): all 401s answer
    /// [`IngressError::UNAUTHENTICATED_BODY`] and the reason stays in the log.
    pub fn public_reason(&self) -> String {
        if self.status() == StatusCode::UNAUTHORIZED {
            Self::UNAUTHENTICATED_BODY.to_string()
        } else {
            self.to_string()
        }
    }

    pub fn unauthenticated(reason: impl Into<String>) -> Self {
        IngressError::Unauthenticated(reason.into())
    }
}

/// A configuration value that cannot be used. Functions fail at start-up
/// with this rather than answering requests half-configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {name}: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(name: &str, reason: impl Into<String>) -> Self {
        ConfigError { name: name.to_string(), reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_mistakes_are_4xx_and_only_the_queue_is_5xx() {
        let cases = [
            (IngressError::BodyTooLarge { size: 2, limit: 1 }, 413),
            (IngressError::AddressNotAllowed("1.2.3.4".into()), 403),
            (IngressError::MissingCredential("X-Lark-Signature"), 401),
            (IngressError::BadCredential("X-Lark-Signature"), 401),
            (IngressError::StaleTimestamp { timestamp: "1".into(), tolerance_secs: 300 }, 401),
            (IngressError::malformed("not JSON"), 400),
            (IngressError::Undecryptable("bad padding"), 400),
            (IngressError::QueueUnavailable, 503),
            (IngressError::NotProcessable("too deep".into()), 400),
            (IngressError::QueueRefused("bad characters".into()), 400),
            (IngressError::unauthenticated("bad padding"), 401),
            (IngressError::NotFound("/x".into()), 404),
        ];
        for (error, status) in cases {
            assert_eq!(error.status().as_u16(), status, "{error}");
        }
    }

    #[test]
    fn unauthenticated_reasons_stay_out_of_the_answer() {
        let reasons = ["bad padding", "not JSON", "missing signature", "wrong token"];
        let mut answers: Vec<String> =
            reasons.iter().map(|r| IngressError::unauthenticated(*r).public_reason()).collect();
        answers.push(IngressError::MissingCredential("X-Signature-Ed25519").public_reason());
        answers.push(IngressError::BadCredential("X-Telegram-Bot-Api-Secret-Token").public_reason());
        answers.push(IngressError::StaleTimestamp { timestamp: "1".into(), tolerance_secs: 300 }.public_reason());
        assert!(answers.iter().all(|a| a == IngressError::UNAUTHENTICATED_BODY), "{answers:?}");
        assert!(IngressError::unauthenticated("bad padding").to_string().contains("bad padding"), "logged precisely");
    }

    #[test]
    fn every_variant_has_its_own_stable_snake_case_class() {
        let every = [
            IngressError::BodyTooLarge { size: 2, limit: 1 },
            IngressError::AddressNotAllowed("192.0.2.1".into()),
            IngressError::AddressUnknown,
            IngressError::SenderNotAllowed("bot".into()),
            IngressError::MissingCredential("X-Signature"),
            IngressError::BadCredential("X-Signature"),
            IngressError::StaleTimestamp { timestamp: "1".into(), tolerance_secs: 300 },
            IngressError::malformed("not JSON"),
            IngressError::Undecryptable("bad padding"),
            IngressError::NotFound("/x".into()),
            IngressError::MethodNotAllowed("GET".into()),
            IngressError::EventTooLarge { size: 2, limit: 1 },
            IngressError::QueueUnavailable,
            IngressError::NotProcessable("too deep".into()),
            IngressError::QueueRefused("bad characters".into()),
            IngressError::unauthenticated("wrong token"),
        ];
        let classes: std::collections::BTreeSet<&str> = every.iter().map(IngressError::class).collect();
        assert_eq!(classes.len(), every.len(), "one class per variant: {classes:?}");
        for class in classes {
            assert!(!class.is_empty() && class.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{class}");
        }
        // The class names the check, not the request: same variant, same class.
        assert_eq!(IngressError::malformed("a").class(), IngressError::malformed("b").class());
    }

    #[test]
    fn not_found_does_not_repeat_the_path() {
        assert!(!IngressError::NotFound("/openim/s3cret/x".into()).public_reason().contains("s3cret"));
    }
}
