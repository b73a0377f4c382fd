//! The common ingress flow every provider function runs:
//! body cap → address allowlist → provider verification and normalization →
//! durable enqueue → acknowledgement.
//!
//! A provider supplies only the middle step, as a function from the request
//! to a [`Decision`]; everything else, including the one mapping from errors
//! to HTTP responses, lives here.

use std::collections::HashMap;
use std::net::IpAddr;

use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::config::IngressSettings;
use crate::envelope::Envelope;
use crate::error::IngressError;
use crate::queue::{PublishError, Publisher};
use crate::verify::truncate_for_log;

/// An HTTP request as the provider logic sees it: no framework types.
#[derive(Clone, Debug)]
pub struct IncomingRequest {
    pub method: Method,
    /// Path without the API stage, e.g. `/lark/event`.
    pub path: String,
    pub headers: HeaderMap,
    pub query: HashMap<String, String>,
    pub path_params: HashMap<String, String>,
    /// The caller's address as API Gateway saw it (never from a header).
    pub source_ip: Option<IpAddr>,
    pub body: Vec<u8>,
}

impl IncomingRequest {
    pub fn new(method: Method, path: &str, body: impl Into<Vec<u8>>) -> Self {
        IncomingRequest {
            method,
            path: path.to_string(),
            headers: HeaderMap::new(),
            query: HashMap::new(),
            path_params: HashMap::new(),
            source_ip: None,
            body: body.into(),
        }
    }

    /// A header's value when present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A required header, or a 401 naming it.
    pub fn credential_header(&self, name: &'static str) -> Result<&str, IngressError> {
        self.header(name).filter(|v| !v.is_empty()).ok_or(IngressError::MissingCredential(name))
    }

    /// The body parsed as a JSON value, or a 400 that says why.
    pub fn json_body(&self) -> Result<Value, IngressError> {
        parse_json(&self.body)
    }
}

pub fn parse_json(bytes: &[u8]) -> Result<Value, IngressError> {
    serde_json::from_slice(bytes).map_err(|e| IngressError::malformed(format!("body is not valid JSON ({e})")))
}

/// An HTTP answer, independent of the Lambda types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: StatusCode, value: &Value) -> Self {
        Reply { status, content_type: Some("application/json"), body: value.to_string().into_bytes() }
    }

    pub fn ok_json(value: Value) -> Self {
        Self::json(StatusCode::OK, &value)
    }

    pub fn empty(status: StatusCode) -> Self {
        Reply { status, content_type: None, body: Vec::new() }
    }

    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The refusal every provider gets for a typed error: its status and a
    /// short reason in `{"error": ...}`.
    pub fn refusal(error: &IngressError) -> Self {
        Self::json(error.status(), &json!({ "error": error.to_string() }))
    }
}

/// What the provider logic decided about a verified request.
#[derive(Debug)]
pub enum Decision {
    /// Answer now without enqueueing: URL checks, PINGs.
    Answer(Reply),
    /// Enqueue these Envelopes, then answer `ack`. If the queue refuses,
    /// answer `on_queue_failure` when set (for platforms where an error
    /// would do more harm than a lost event), else the mapped error.
    Enqueue { envelopes: Vec<Envelope>, ack: Reply, on_queue_failure: Option<Reply> },
}

impl Decision {
    pub fn enqueue(envelopes: Vec<Envelope>, ack: Reply) -> Self {
        Decision::Enqueue { envelopes, ack, on_queue_failure: None }
    }
}

/// Runs the whole flow for one request and always produces an answer.
pub async fn run_ingress<F>(
    provider: &str,
    settings: &IngressSettings,
    publisher: &dyn Publisher,
    request: &IncomingRequest,
    verify_and_normalize: F,
) -> Reply
where
    F: FnOnce(&IncomingRequest) -> Result<Decision, IngressError>,
{
    match run_steps(settings, publisher, request, verify_and_normalize).await {
        Ok(Outcome::Answered(reply)) => {
            info!(provider, path = %request.path, status = reply.status.as_u16(), "answered without enqueue");
            reply
        }
        Ok(Outcome::Enqueued { reply, ids, kind }) => {
            info!(provider, kind, events = ids.len(), ids = ?ids, status = reply.status.as_u16(), "enqueued");
            reply
        }
        Ok(Outcome::QueueFailedFallback { reply, ids, reason }) => {
            error!(provider, ids = ?ids, reason = %reason, status = reply.status.as_u16(), "EVENT NOT CAPTURED: the queue refused it; answered the provider's configured fallback");
            reply
        }
        Err(refusal) => {
            let status = refusal.status().as_u16();
            if status >= 500 {
                error!(provider, path = %request.path, status, reason = %refusal, "refused");
            } else {
                warn!(provider, path = %request.path, status, reason = %refusal,
                    source_ip = ?request.source_ip, "refused");
            }
            Reply::refusal(&refusal)
        }
    }
}

enum Outcome {
    Answered(Reply),
    Enqueued { reply: Reply, ids: Vec<String>, kind: String },
    QueueFailedFallback { reply: Reply, ids: Vec<String>, reason: String },
}

async fn run_steps<F>(
    settings: &IngressSettings,
    publisher: &dyn Publisher,
    request: &IncomingRequest,
    verify_and_normalize: F,
) -> Result<Outcome, IngressError>
where
    F: FnOnce(&IncomingRequest) -> Result<Decision, IngressError>,
{
    check_body_size(settings, request)?;
    check_source_address(settings, request.source_ip)?;
    match verify_and_normalize(request)? {
        Decision::Answer(reply) => Ok(Outcome::Answered(reply)),
        Decision::Enqueue { envelopes, ack, on_queue_failure } => {
            let ids: Vec<String> = envelopes.iter().map(|e| e.id.clone()).collect();
            let kind = envelopes.first().map(|e| e.kind.clone()).unwrap_or_default();
            if envelopes.is_empty() {
                return Ok(Outcome::Enqueued { reply: ack, ids, kind });
            }
            match publisher.publish(&envelopes).await {
                Ok(()) => Ok(Outcome::Enqueued { reply: ack, ids, kind }),
                Err(PublishError::TooLarge { size, limit }) => Err(IngressError::EventTooLarge { size, limit }),
                Err(PublishError::Unavailable(reason)) => match on_queue_failure {
                    Some(reply) => Ok(Outcome::QueueFailedFallback { reply, ids, reason }),
                    None => {
                        error!(reason = %reason, ids = ?ids, "queue refused the event");
                        Err(IngressError::QueueUnavailable)
                    }
                },
            }
        }
    }
}

fn check_body_size(settings: &IngressSettings, request: &IncomingRequest) -> Result<(), IngressError> {
    if request.body.len() > settings.max_body_bytes {
        return Err(IngressError::BodyTooLarge { size: request.body.len(), limit: settings.max_body_bytes });
    }
    Ok(())
}

fn check_source_address(settings: &IngressSettings, source_ip: Option<IpAddr>) -> Result<(), IngressError> {
    if settings.allowed_cidrs.is_empty() {
        return Ok(());
    }
    let ip = source_ip.ok_or(IngressError::AddressUnknown)?;
    // An IPv4 caller may appear as an IPv4-mapped IPv6 address.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    if settings.allowed_cidrs.iter().any(|net| net.contains(&ip)) {
        Ok(())
    } else {
        Err(IngressError::AddressNotAllowed(truncate_for_log(&ip.to_string())))
    }
}

/// Conversions between Lambda's HTTP types and the framework-free ones.
pub mod lambda {
    use super::*;
    use lambda_http::request::RequestContext;
    use lambda_http::{Body, RequestExt, Response};

    pub fn incoming(request: lambda_http::Request) -> IncomingRequest {
        let source_ip = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => {
                context.http.source_ip.as_deref().and_then(|ip| ip.parse().ok())
            }
            _ => None,
        };
        let path = match request.raw_http_path() {
            "" => request.uri().path().to_string(),
            raw => raw.to_string(),
        };
        let query = request
            .query_string_parameters_ref()
            .map(|q| q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
            .unwrap_or_default();
        let path_params = request
            .path_parameters_ref()
            .map(|q| q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
            .unwrap_or_default();
        let (parts, body) = request.into_parts();
        let body = match body {
            Body::Empty => Vec::new(),
            Body::Text(text) => text.into_bytes(),
            Body::Binary(bytes) => bytes,
            _ => Vec::new(),
        };
        IncomingRequest { method: parts.method, path, headers: parts.headers, query, path_params, source_ip, body }
    }

    pub fn response(reply: Reply) -> Response<Body> {
        let mut builder = Response::builder().status(reply.status);
        if let Some(content_type) = reply.content_type {
            builder = builder.header(http::header::CONTENT_TYPE, content_type);
        }
        let body = if reply.body.is_empty() {
            Body::Empty
        } else {
            match String::from_utf8(reply.body) {
                Ok(text) => Body::Text(text),
                Err(bytes) => Body::Binary(bytes.into_bytes()),
            }
        };
        builder.body(body).unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Verification;
    use crate::queue::MemoryPublisher;
    use time::OffsetDateTime;

    fn envelope() -> Envelope {
        Envelope::new(
            "test",
            "1",
            "k",
            OffsetDateTime::UNIX_EPOCH,
            Verification { scheme: "none".into(), matched: None },
            json!({}),
        )
    }

    fn accept(_: &IncomingRequest) -> Result<Decision, IngressError> {
        Ok(Decision::enqueue(vec![envelope()], Reply::ok_json(json!({"ok": true}))))
    }

    #[tokio::test]
    async fn accepted_event_is_enqueued_before_ack() {
        let publisher = MemoryPublisher::new();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let reply = run_ingress("test", &IngressSettings::default(), &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(publisher.sent().len(), 1);
    }

    #[tokio::test]
    async fn oversized_body_is_413_before_the_provider_runs() {
        let publisher = MemoryPublisher::new();
        let settings = IngressSettings { max_body_bytes: 4, ..Default::default() };
        let request = IncomingRequest::new(Method::POST, "/x", "12345");
        let reply = run_ingress("test", &settings, &publisher, &request, |_| panic!("provider must not run")).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(publisher.sent().is_empty());
    }

    #[tokio::test]
    async fn allowlist_refuses_other_and_unknown_addresses() {
        let publisher = MemoryPublisher::new();
        let settings = IngressSettings { allowed_cidrs: vec!["10.0.0.0/8".parse().unwrap()], ..Default::default() };
        let mut request = IncomingRequest::new(Method::POST, "/x", "{}");
        let reply = run_ingress("test", &settings, &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "unknown address");
        request.source_ip = Some("192.0.2.1".parse().unwrap());
        let reply = run_ingress("test", &settings, &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(publisher.sent().is_empty());
        request.source_ip = Some("::ffff:10.1.2.3".parse().unwrap());
        let reply = run_ingress("test", &settings, &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::OK, "IPv4-mapped address inside the range");
    }

    #[tokio::test]
    async fn queue_down_is_503_with_a_reason() {
        let publisher = MemoryPublisher::down();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let reply = run_ingress("test", &IngressSettings::default(), &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.body_json().unwrap()["error"], "the event queue is unavailable");
    }

    #[tokio::test]
    async fn queue_down_uses_the_fallback_when_the_provider_sets_one() {
        let publisher = MemoryPublisher::down();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let reply = run_ingress("test", &IngressSettings::default(), &publisher, &request, |_| {
            Ok(Decision::Enqueue {
                envelopes: vec![envelope()],
                ack: Reply::ok_json(json!({"ok": true})),
                on_queue_failure: Some(Reply::ok_json(json!({"continue": true}))),
            })
        })
        .await;
        assert_eq!(reply.body_json().unwrap(), json!({"continue": true}));
    }

    #[tokio::test]
    async fn provider_refusal_maps_to_its_status_and_enqueues_nothing() {
        let publisher = MemoryPublisher::new();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let reply = run_ingress("test", &IngressSettings::default(), &publisher, &request, |_| {
            Err(IngressError::BadCredential("token"))
        })
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(publisher.sent().is_empty());
    }
}
