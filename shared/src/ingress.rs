//! The common ingress flow every provider function runs:
//! body cap → address allowlist → provider verification and normalization →
//! durable enqueue → acknowledgement.
//!
//! A provider supplies only the middle step, as a function from the request
//! to a [`Decision`]; everything else, including the one mapping from errors
//! to HTTP responses, lives here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::config::IngressSettings;
use crate::envelope::Envelope;
use crate::error::IngressError;
use crate::queue::{PrepareError, PublishError, Publisher, QueueMessage, SQS_BATCH_LIMIT};
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
    /// API Gateway's id of this request, unique per request.
    pub request_id: Option<String>,
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
            request_id: None,
            body: body.into(),
        }
    }

    /// An event id that is this request's alone (see [`Envelope::request_scoped_id`]).
    pub fn request_scoped_id(&self) -> String {
        Envelope::request_scoped_id(self.request_id.as_deref())
    }

    /// A header's value when present and valid UTF-8.
    /// Adds a header, skipping a name or value HTTP does not allow.
    pub fn append_header(&mut self, name: &[u8], value: &[u8]) {
        if let (Ok(name), Ok(value)) = (http::HeaderName::from_bytes(name), http::HeaderValue::from_bytes(value)) {
            self.headers.append(name, value);
        }
    }

    /// Sets the query parameters from a raw query string (`a=1&b=2`), the
    /// way API Gateway splits and decodes it (`%XX` decoded, `+` kept); a
    /// pair without `=` is ignored.
    pub fn set_raw_query(&mut self, query: &str) {
        self.query = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (crate::form::percent_decode(k, false), crate::form::percent_decode(v, false)))
            .collect();
    }

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
        Self::json(error.status(), &json!({ "error": error.public_reason() }))
    }
}

/// The Envelopes a request produces, built on demand. A notification with
/// tens of thousands of alerts is checked and published a batch at a time
/// from this, so memory does not grow with the number of alerts times the
/// size of what they share.
pub trait EnvelopeSource: Send + Sync {
    fn len(&self) -> usize;
    /// Envelope `index` (< `len()`), borrowed when it is already built;
    /// building it may refuse the whole request.
    fn envelope(&self, index: usize) -> Result<Cow<'_, Envelope>, IngressError>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl EnvelopeSource for Vec<Envelope> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn envelope(&self, index: usize) -> Result<Cow<'_, Envelope>, IngressError> {
        self.get(index).map(Cow::Borrowed).ok_or_else(|| IngressError::malformed("no such event"))
    }
}

/// What the provider logic decided about a verified request.
pub enum Decision {
    /// Answer now without enqueueing: URL checks, PINGs.
    Answer(Reply),
    /// Enqueue these Envelopes, then answer `ack`. If the queue is down,
    /// answer `on_queue_failure` when set (for platforms where an error
    /// would do more harm than a lost event), else the mapped error.
    Enqueue { envelopes: Box<dyn EnvelopeSource>, ack: Reply, on_queue_failure: Option<Reply> },
}

impl std::fmt::Debug for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Answer(reply) => f.debug_tuple("Answer").field(reply).finish(),
            Decision::Enqueue { envelopes, ack, .. } => {
                f.debug_struct("Enqueue").field("events", &envelopes.len()).field("ack", ack).finish()
            }
        }
    }
}

impl Decision {
    pub fn enqueue(envelopes: Vec<Envelope>, ack: Reply) -> Self {
        Decision::Enqueue { envelopes: Box::new(envelopes), ack, on_queue_failure: None }
    }

    pub fn enqueue_from(envelopes: impl EnvelopeSource + 'static, ack: Reply) -> Self {
        Decision::Enqueue { envelopes: Box::new(envelopes), ack, on_queue_failure: None }
    }
}

/// Runs the whole flow for one request and always produces an answer. The
/// log shows the path `logged_path` gives for the outcome (the route
/// table's redaction: see `provider::logged_path`), never the request's.
pub async fn run_ingress<F>(
    provider: &str,
    logged_path: &(dyn Fn(Option<&IngressError>) -> String + Sync),
    settings: &IngressSettings,
    publisher: &dyn Publisher,
    request: &IncomingRequest,
    verify_and_normalize: F,
) -> Reply
where
    F: FnOnce(&IncomingRequest) -> Result<Decision, IngressError>,
{
    // Paths may hold secrets (OpenIM's path token): only the redacted form is logged.
    match run_steps(settings, publisher, request, verify_and_normalize).await {
        Ok(Outcome::Answered(reply)) => {
            info!(provider, path = %logged_path(None), status = reply.status.as_u16(), "answered without enqueue");
            reply
        }
        Ok(Outcome::Enqueued { reply, events, first_id, kind, enqueue_ms }) => {
            let enqueue_ms = (enqueue_ms * 100.0).round() / 100.0;
            info!(provider, kind, events, first_id, enqueue_ms, status = reply.status.as_u16(), "enqueued");
            reply
        }
        Ok(Outcome::QueueFailedFallback { reply, events, first_id, reason }) => {
            error!(provider, events, first_id, reason = %reason, status = reply.status.as_u16(), "EVENT NOT CAPTURED: the queue refused it; answered the provider's configured fallback");
            reply
        }
        Err(refusal) => {
            let status = refusal.status().as_u16();
            let path = logged_path(Some(&refusal));
            if status >= 500 {
                error!(provider, path = %path, status, reason = %refusal, "refused");
            } else {
                warn!(provider, path = %path, status, reason = %refusal,
                    source_ip = ?request.source_ip, "refused");
            }
            Reply::refusal(&refusal)
        }
    }
}

enum Outcome {
    Answered(Reply),
    Enqueued { reply: Reply, events: usize, first_id: String, kind: String, enqueue_ms: f64 },
    QueueFailedFallback { reply: Reply, events: usize, first_id: String, reason: String },
}

/// Above this many bytes of prepared messages, the flow stops keeping them
/// between checking and sending and builds them again instead.
const KEEP_PREPARED_BYTES: usize = 4 * 1024 * 1024;

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
    let (envelopes, ack, on_queue_failure) = match verify_and_normalize(request)? {
        Decision::Answer(reply) => return Ok(Outcome::Answered(reply)),
        Decision::Enqueue { envelopes, ack, on_queue_failure } => (envelopes, ack, on_queue_failure),
    };
    let events = envelopes.len();
    // Pass 1: every Envelope is built and proven processable before any is
    // sent, so a refusal changes nothing.
    let limit = publisher.max_message_bytes();
    let mut kept: Vec<QueueMessage> = Vec::new();
    let (mut kept_bytes, mut keep) = (0usize, true);
    let (mut first_id, mut kind) = (String::new(), String::new());
    for index in 0..events {
        let envelope = envelopes.envelope(index)?;
        let message = prepare(&envelope, limit)?;
        if index == 0 {
            (first_id, kind) = (envelope.id.clone(), envelope.kind.clone());
        }
        kept_bytes += message.size();
        keep = keep && kept_bytes <= KEEP_PREPARED_BYTES;
        if keep {
            kept.push(message);
        } else {
            kept = Vec::new();
        }
    }
    if events == 0 {
        return Ok(Outcome::Enqueued { reply: ack, events, first_id, kind, enqueue_ms: 0.0 });
    }
    // Pass 2: send, a batch at a time when the messages were not kept.
    let started = std::time::Instant::now();
    let sent = if keep {
        publisher.publish(&kept).await
    } else {
        publish_rebuilding(envelopes.as_ref(), publisher, limit).await
    };
    let enqueue_ms = started.elapsed().as_secs_f64() * 1e3;
    match sent {
        Ok(()) => Ok(Outcome::Enqueued { reply: ack, events, first_id, kind, enqueue_ms }),
        Err(PublishError::TooLarge { size, limit }) => Err(IngressError::EventTooLarge { size, limit }),
        Err(PublishError::Refused(reason)) => Err(IngressError::QueueRefused(reason)),
        Err(PublishError::Unavailable(reason)) => match on_queue_failure {
            Some(reply) => Ok(Outcome::QueueFailedFallback { reply, events, first_id, reason }),
            None => {
                error!(reason = %reason, first_id, events, "queue refused the event");
                Err(IngressError::QueueUnavailable)
            }
        },
    }
}

fn prepare(envelope: &Envelope, limit: usize) -> Result<QueueMessage, IngressError> {
    QueueMessage::prepare(envelope, limit).map_err(|error| match error {
        PrepareError::TooLarge { size, limit } => IngressError::EventTooLarge { size, limit },
        PrepareError::NotDecodable(reason) => IngressError::NotProcessable(reason),
    })
}

async fn publish_rebuilding(
    envelopes: &dyn EnvelopeSource,
    publisher: &dyn Publisher,
    limit: usize,
) -> Result<(), PublishError> {
    let mut chunk = Vec::with_capacity(SQS_BATCH_LIMIT);
    for index in 0..envelopes.len() {
        // Pass 1 built and checked each of these: the same input cannot fail now.
        let envelope = envelopes.envelope(index).map_err(|e| PublishError::Refused(e.to_string()))?;
        chunk.push(QueueMessage::prepare(&envelope, limit).map_err(|e| PublishError::Refused(e.to_string()))?);
        if chunk.len() == SQS_BATCH_LIMIT {
            publisher.publish(&chunk).await?;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        publisher.publish(&chunk).await?;
    }
    Ok(())
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
        let (source_ip, request_id) = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => (
                context.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
                context.request_id.clone().filter(|id| !id.is_empty()),
            ),
            _ => (None, None),
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
        IncomingRequest {
            method: parts.method,
            path,
            headers: parts.headers,
            query,
            path_params,
            source_ip,
            request_id,
            body,
        }
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

    /// Logs the path as it came: these tests are not about redaction.
    fn raw_path(_: Option<&IngressError>) -> String {
        "/x".to_string()
    }

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
        let reply = run_ingress("test", &raw_path, &IngressSettings::default(), &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(publisher.sent().len(), 1);
    }

    #[tokio::test]
    async fn oversized_body_is_413_before_the_provider_runs() {
        let publisher = MemoryPublisher::new();
        let settings = IngressSettings { max_body_bytes: 4, ..Default::default() };
        let request = IncomingRequest::new(Method::POST, "/x", "12345");
        let reply =
            run_ingress("test", &raw_path, &settings, &publisher, &request, |_| panic!("provider must not run")).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(publisher.sent().is_empty());
    }

    #[tokio::test]
    async fn allowlist_refuses_other_and_unknown_addresses() {
        let publisher = MemoryPublisher::new();
        let settings = IngressSettings { allowed_cidrs: vec!["10.0.0.0/8".parse().unwrap()], ..Default::default() };
        let mut request = IncomingRequest::new(Method::POST, "/x", "{}");
        let reply = run_ingress("test", &raw_path, &settings, &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "unknown address");
        request.source_ip = Some("192.0.2.1".parse().unwrap());
        let reply = run_ingress("test", &raw_path, &settings, &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(publisher.sent().is_empty());
        request.source_ip = Some("::ffff:10.1.2.3".parse().unwrap());
        let reply = run_ingress("test", &raw_path, &settings, &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::OK, "IPv4-mapped address inside the range");
    }

    #[tokio::test]
    async fn queue_down_is_503_with_a_reason() {
        let publisher = MemoryPublisher::down();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let reply = run_ingress("test", &raw_path, &IngressSettings::default(), &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.body_json().unwrap()["error"], "the event queue is unavailable");
    }

    #[tokio::test]
    async fn queue_down_uses_the_fallback_when_the_provider_sets_one() {
        let publisher = MemoryPublisher::down();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let reply = run_ingress("test", &raw_path, &IngressSettings::default(), &publisher, &request, |_| {
            Ok(Decision::Enqueue {
                envelopes: Box::new(vec![envelope()]),
                ack: Reply::ok_json(json!({"ok": true})),
                on_queue_failure: Some(Reply::ok_json(json!({"continue": true}))),
            })
        })
        .await;
        assert_eq!(reply.body_json().unwrap(), json!({"continue": true}));
    }

    fn with_payload(id: &str, payload: Value) -> Envelope {
        let mut envelope = envelope();
        envelope.id = format!("test:{id}");
        envelope.payload = payload;
        envelope
    }

    fn nested(depth: usize) -> Value {
        (0..depth).fold(json!("x"), |inner, _| json!({ "a": inner }))
    }

    #[tokio::test]
    async fn an_event_the_processor_could_not_decode_is_refused_and_nothing_is_enqueued() {
        let publisher = MemoryPublisher::new();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        // The second event nests too deep for the processor's decoder once
        // wrapped in the Envelope; the first, fine one must not be sent either.
        let reply = run_ingress("test", &raw_path, &IngressSettings::default(), &publisher, &request, |_| {
            Ok(Decision::enqueue(
                vec![with_payload("fine", json!({})), with_payload("deep", nested(128))],
                Reply::ok_json(json!({})),
            ))
        })
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.body_json().unwrap()["error"].as_str().unwrap().contains("cannot be processed"));
        assert!(publisher.sent().is_empty());
    }

    #[tokio::test]
    async fn an_event_over_the_queue_limit_is_413_and_nothing_is_enqueued() {
        let publisher = MemoryPublisher::new();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let big = json!("x".repeat(crate::queue::DEFAULT_MAX_MESSAGE_BYTES));
        let reply = run_ingress("test", &raw_path, &IngressSettings::default(), &publisher, &request, |_| {
            Ok(Decision::enqueue(vec![with_payload("a", json!({})), with_payload("b", big)], Reply::ok_json(json!({}))))
        })
        .await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(publisher.sent().is_empty());
    }

    /// Many events that share a large part: built and sent a batch at a time.
    struct Repeated {
        count: usize,
        shared: Value,
        built: std::sync::atomic::AtomicUsize,
    }

    impl EnvelopeSource for Repeated {
        fn len(&self) -> usize {
            self.count
        }
        fn envelope(&self, index: usize) -> Result<Cow<'_, Envelope>, IngressError> {
            self.built.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Cow::Owned(with_payload(&index.to_string(), self.shared.clone())))
        }
    }

    #[tokio::test]
    async fn many_large_events_are_checked_then_sent_a_batch_at_a_time() {
        let publisher = MemoryPublisher::new();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        // 200 events of 50 KB: 10 MB in all, more than the flow keeps at once.
        let source =
            std::sync::Arc::new(Repeated { count: 200, shared: json!("y".repeat(50_000)), built: Default::default() });
        struct Shared(std::sync::Arc<Repeated>);
        impl EnvelopeSource for Shared {
            fn len(&self) -> usize {
                self.0.len()
            }
            fn envelope(&self, index: usize) -> Result<Cow<'_, Envelope>, IngressError> {
                self.0.envelope(index)
            }
        }
        let handle = Shared(source.clone());
        let reply = run_ingress("test", &raw_path, &IngressSettings::default(), &publisher, &request, move |_| {
            Ok(Decision::enqueue_from(handle, Reply::ok_json(json!({}))))
        })
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(publisher.sent().len(), 200);
        assert!(publisher.publish_calls().iter().all(|&n| n <= crate::queue::SQS_BATCH_LIMIT));
        // Checked once, then built again for sending instead of being kept.
        assert_eq!(source.built.load(std::sync::atomic::Ordering::SeqCst), 400);
    }

    #[tokio::test]
    async fn a_few_small_events_are_sent_in_one_call() {
        let publisher = MemoryPublisher::new();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let events: Vec<Envelope> = (0..3).map(|i| with_payload(&i.to_string(), json!({}))).collect();
        let reply = run_ingress("test", &raw_path, &IngressSettings::default(), &publisher, &request, |_| {
            Ok(Decision::enqueue(events, Reply::ok_json(json!({}))))
        })
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(publisher.publish_calls(), [3]);
    }

    #[tokio::test]
    async fn only_the_path_the_route_table_redacted_reaches_the_log() {
        let logs = crate::samples::CapturedLogs::start();
        let request = IncomingRequest::new(Method::POST, "/openim/s3cret/x", "{}");
        let logged = |refusal: Option<&IngressError>| {
            assert!(matches!(refusal, Some(IngressError::NotFound(_))), "the outcome decides the redaction");
            "/openim/***/x".to_string()
        };
        let reply = run_ingress("test", &logged, &IngressSettings::default(), &MemoryPublisher::new(), &request, |r| {
            Err(IngressError::NotFound(r.path.clone()))
        })
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert!(!String::from_utf8_lossy(&reply.body).contains("s3cret"));
        assert!(logs.text().contains("/openim/***/x") && !logs.text().contains("s3cret"), "{}", logs.text());
    }

    #[tokio::test]
    async fn provider_refusal_maps_to_its_status_and_enqueues_nothing() {
        let publisher = MemoryPublisher::new();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let reply = run_ingress("test", &raw_path, &IngressSettings::default(), &publisher, &request, |_| {
            Err(IngressError::BadCredential("token"))
        })
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(publisher.sent().is_empty());
    }
}
