//! The common ingress flow every provider function runs:
//! body cap → address allowlist → provider verification and normalization →
//! durable enqueue → acknowledgement.
//!
//! A provider supplies only the middle step, as a function from the request
//! to a [`Decision`]; everything else, including the one mapping from errors
//! to HTTP responses, lives here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use futures::future::{Either, select};

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use ipnet::IpNet;
use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::config::{EnvSource, cidrs, number};
use crate::envelope::Envelope;
use crate::error::{ConfigError, IngressError};
use crate::metrics::{Metrics, RequestMetrics, now_ms, take_cold_start};
use crate::operations::RefusalRecord;
use crate::queue::{PrepareError, PublishError, Publisher, QueueMessage, SQS_BATCH_LIMIT};
use crate::verify::{TimestampWindow, truncate_for_log};

/// An HTTP request as the provider logic sees it: no framework types.
#[derive(Clone, Debug)]
pub struct IncomingRequest {
    pub method: Method,
    /// Path without the API stage, e.g. `/lark/event`.
    pub path: String,
    pub headers: HeaderMap,
    pub query: HashMap<String, String>,
    /// The query string exactly as the caller sent it (API Gateway's
    /// `rawQueryString`, without the `?`): senders that sign the URL
    /// (Twilio, Square, HubSpot) sign these bytes, not the parsed pairs.
    pub raw_query: String,
    pub path_params: HashMap<String, String>,
    /// The caller's address as API Gateway saw it (never from a header).
    pub source_ip: Option<IpAddr>,
    /// API Gateway's id of this request, unique per request.
    pub request_id: Option<String>,
    /// When API Gateway received the request (milliseconds since the epoch),
    /// so the measured acknowledgement latency includes a cold start.
    pub received_at_ms: Option<i64>,
    pub body: Vec<u8>,
}

impl IncomingRequest {
    pub fn new(method: Method, path: &str, body: impl Into<Vec<u8>>) -> Self {
        IncomingRequest {
            method,
            path: path.to_string(),
            headers: HeaderMap::new(),
            query: HashMap::new(),
            raw_query: String::new(),
            path_params: HashMap::new(),
            source_ip: None,
            request_id: None,
            received_at_ms: None,
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
    /// pair without `=` is ignored. The text itself is kept as `raw_query`.
    pub fn set_raw_query(&mut self, query: &str) {
        self.raw_query = query.to_string();
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
    /// Headers besides `Content-Type`: a handshake's echo (Asana's
    /// `X-Hook-Secret`) or `X-Content-Type-Options` on an echoed challenge.
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: StatusCode, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Self {
        Reply { status, content_type, headers: HeaderMap::new(), body: body.into() }
    }

    pub fn json(status: StatusCode, value: &Value) -> Self {
        Self::new(status, Some("application/json"), value.to_string())
    }

    /// The same answer with one more header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    pub fn ok_json(value: Value) -> Self {
        Self::json(StatusCode::OK, &value)
    }

    pub fn empty(status: StatusCode) -> Self {
        Self::new(status, None, Vec::new())
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

/// An answer still being worked out, such as a decision hook's verdict
/// on a callback (OpenIM's before-callbacks): it runs while the Envelopes
/// are enqueued and must end within the platform's deadline on its own
/// (its own timeout and fallback), since the flow holds no timer.
pub type PendingReply = Pin<Box<dyn Future<Output = Reply> + Send + 'static>>;

/// What the provider logic decided about a verified request.
pub enum Decision {
    /// Answer now without enqueueing: URL checks, PINGs.
    Answer(Reply),
    /// Enqueue these Envelopes, then answer `ack`. If the queue is down,
    /// answer `on_queue_failure` when set (for platforms where an error
    /// would do more harm than a lost event), else the mapped error.
    ///
    /// With a `consult`, its answer replaces `ack` once the Envelopes are
    /// enqueued; it runs alongside the enqueue, so the two waits overlap. A
    /// queue failure is answered as without it: only an enqueued event is
    /// ever acknowledged.
    Enqueue {
        envelopes: Box<dyn EnvelopeSource>,
        ack: Reply,
        on_queue_failure: Option<Reply>,
        consult: Option<PendingReply>,
    },
}

impl std::fmt::Debug for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Answer(reply) => f.debug_tuple("Answer").field(reply).finish(),
            Decision::Enqueue { envelopes, ack, consult, .. } => f
                .debug_struct("Enqueue")
                .field("events", &envelopes.len())
                .field("ack", ack)
                .field("consult", &consult.is_some())
                .finish(),
        }
    }
}

impl Decision {
    pub fn enqueue(envelopes: Vec<Envelope>, ack: Reply) -> Self {
        Decision::Enqueue { envelopes: Box::new(envelopes), ack, on_queue_failure: None, consult: None }
    }

    pub fn enqueue_from(envelopes: impl EnvelopeSource + 'static, ack: Reply) -> Self {
        Decision::Enqueue { envelopes: Box::new(envelopes), ack, on_queue_failure: None, consult: None }
    }
}

/// What the flow logs and measures about a request's route.
pub trait RouteFacts: Sync {
    /// The path as the logs show it for this outcome (the route table's
    /// redaction: see `provider::logged_path`), never the request's.
    fn logged_path(&self, refusal: Option<&IngressError>) -> String;
    /// The platform's deadline for the answer; `answered` when nothing was
    /// enqueued (a challenge may have a tighter one).
    fn deadline_ms(&self, answered: bool) -> u32;
    /// Whether the path is one of the function's routes (whatever else was
    /// wrong with the request).
    fn is_known_path(&self) -> bool;
    /// The route template the path matched (`/telegram/{bot}`), whatever
    /// the method: the metrics' `Route` dimension, so the values a caller
    /// puts in a path parameter cannot multiply metrics (each one costs).
    /// None when the route is not known as a template.
    fn template(&self) -> Option<&'static str> {
        None
    }
}

/// The deadline of an answer whose platform documents none: the usual 3 s
/// of chat platforms, so `AckDeadlineUsed` errs on the alarming side.
pub const DEFAULT_DEADLINE_MS: u32 = 3000;

/// A bare function names the path, which counts as known, and knows no
/// deadline (the default).
impl<F: Fn(Option<&IngressError>) -> String + Sync> RouteFacts for F {
    fn logged_path(&self, refusal: Option<&IngressError>) -> String {
        self(refusal)
    }
    fn deadline_ms(&self, _answered: bool) -> u32 {
        DEFAULT_DEADLINE_MS
    }
    fn is_known_path(&self) -> bool {
        true
    }
}

/// Runs the whole flow for one request and always produces an answer. The
/// log shows the path `route.logged_path` gives for the outcome, never the
/// request's. A 4xx refusal also sends a refusal record (rate-limited), and
/// every request writes one metric line.
pub async fn run_ingress<F>(
    provider: &str,
    route: &dyn RouteFacts,
    settings: &IngressSettings,
    publisher: &dyn Publisher,
    request: &IncomingRequest,
    verify_and_normalize: F,
) -> Reply
where
    F: FnOnce(&IncomingRequest) -> Result<Decision, IngressError>,
{
    let arrived_ms = arrival_ms(request.received_at_ms, now_ms());
    let mut measured = Measured::default();
    // Paths may hold secrets (OpenIM's path token): only the redacted form is logged.
    let reply = match run_steps(settings, publisher, request, verify_and_normalize).await {
        Ok(Outcome::Answered(reply)) => {
            info!(provider, path = %route.logged_path(None), status = reply.status.as_u16(), "answered without enqueue");
            measured.answered = true;
            reply
        }
        Ok(Outcome::Enqueued { reply, events, first_id, kind, enqueue_ms }) => {
            let enqueue_ms = (enqueue_ms * 100.0).round() / 100.0;
            info!(provider, kind, events, first_id, enqueue_ms, status = reply.status.as_u16(), "enqueued");
            measured.events = events;
            measured.enqueue_ms = (events > 0).then_some(enqueue_ms);
            reply
        }
        Ok(Outcome::QueueFailedFallback { reply, events, first_id, reason, enqueue_ms }) => {
            error!(provider, events, first_id, reason = %reason, status = reply.status.as_u16(), "EVENT NOT CAPTURED: the queue refused it; answered the provider's configured fallback");
            (measured.events, measured.enqueue_ms, measured.queue_failure) = (events, Some(enqueue_ms), true);
            reply
        }
        Err(refusal) => {
            let status = refusal.status().as_u16();
            let path = route.logged_path(Some(&refusal));
            if status >= 500 {
                error!(provider, path = %path, status, reason = %refusal, "refused");
            } else {
                warn!(provider, path = %path, status, reason = %refusal,
                    source_ip = ?request.source_ip, "refused");
                // Before the answer: Lambda may freeze the instance once it is out.
                record_refusal(provider, &path, &refusal, settings, publisher, request).await;
            }
            measured.refused = Some(refusal.class());
            measured.queue_failure = matches!(refusal, IngressError::QueueUnavailable | IngressError::QueueRefused(_));
            // A path no route matched is whatever a scanner sent (refused
            // for its size or address before the route was even looked up,
            // or as not found): one metric per guess would be unbounded
            // cost, so they share one name.
            measured.unmatched = matches!(refusal, IngressError::NotFound(_)) || !route.is_known_path();
            Reply::refusal(&refusal)
        }
    };
    if settings.metrics.enabled() {
        let path = match route.template() {
            _ if measured.unmatched => UNMATCHED_ROUTE.to_string(),
            Some(template) => template.to_string(),
            None => route.logged_path(None),
        };
        let deadline_ms = route.deadline_ms(measured.answered);
        let ack_latency_ms = (now_ms() - arrived_ms).max(0) as f64;
        settings.metrics.emit(
            &RequestMetrics {
                provider,
                route: &path,
                status: reply.status.as_u16(),
                refused: measured.refused,
                accepted: reply.status.is_success() && measured.refused.is_none() && !measured.queue_failure,
                queue_failure: measured.queue_failure,
                ack_latency_ms,
                deadline_ms,
                enqueue_latency_ms: measured.enqueue_ms,
                events: measured.events,
                cold_start: take_cold_start(),
            }
            .line(),
        );
    }
    reply
}

/// The `Route` dimension of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "(unmatched)";

/// What the metric line needs of the outcome.
#[derive(Default)]
struct Measured {
    answered: bool,
    events: usize,
    enqueue_ms: Option<f64>,
    queue_failure: bool,
    refused: Option<&'static str>,
    /// Refused on a path of no route: the `Route` dimension is [`UNMATCHED_ROUTE`].
    unmatched: bool,
}

/// When the request arrived: API Gateway's time when it is plausible, else
/// the handler's start. API Gateway gives up on an integration after 30 s, so
/// an older time is not this request's arrival (a sample event replayed
/// locally, or clocks apart), and a time ahead of ours is clock skew.
fn arrival_ms(received_at_ms: Option<i64>, started_ms: i64) -> i64 {
    const LONGEST_INTEGRATION_MS: i64 = 30_000;
    received_at_ms.filter(|at| (started_ms - LONGEST_INTEGRATION_MS..=started_ms).contains(at)).unwrap_or(started_ms)
}

/// Longest refusal reason a record keeps; the typed errors' texts are short,
/// but a few repeat what the client sent (a sender id, a parser's message).
const MAX_RECORD_REASON_CHARS: usize = 300;
/// Longest route a record keeps.
const MAX_RECORD_ROUTE_CHARS: usize = 512;
/// Sends a refusal record on the queue, best effort: within the per-second
/// budget, a failure only logged. The wait is the publisher's own bound (the
/// SQS client gives up after `INLET_QUEUE_TIMEOUT_MS`, as for events): the
/// flow itself stays free of any runtime's timer. Built from the typed
/// refusal and the request's shape; never the body, a header value or a
/// presented secret.
async fn record_refusal(
    provider: &str,
    route: &str,
    refusal: &IngressError,
    settings: &IngressSettings,
    publisher: &dyn Publisher,
    request: &IncomingRequest,
) {
    let at_ms = now_ms();
    if !refusal_budget_allows(provider, at_ms, settings.refusal_records_per_sec) {
        return;
    }
    let record = RefusalRecord {
        provider: provider.to_string(),
        route: route.chars().take(MAX_RECORD_ROUTE_CHARS).collect(),
        status: refusal.status().as_u16(),
        class: refusal.class().to_string(),
        reason: refusal.to_string().chars().take(MAX_RECORD_REASON_CHARS).collect(),
        skew_secs: timestamp_skew_secs(refusal, at_ms),
        body_len: request.body.len(),
        body_sha256: crate::verify::sha256_hex(&request.body),
        source_ip: request.source_ip.map(|ip| ip.to_string()),
        at_ms,
    };
    let message = match QueueMessage::refusal_record(&record) {
        Ok(message) => message,
        Err(error) => return warn!(provider, reason = %error, "refusal record not encoded"),
    };
    if let Err(error) = publisher.publish(std::slice::from_ref(&message)).await {
        warn!(provider, reason = %error, "refusal record not sent");
    }
}

/// Request timestamp minus our clock, in seconds, for a refusal about a
/// timestamp. Values over 1e11 are milliseconds (DingTalk's): as seconds
/// they would be thousands of years away.
fn timestamp_skew_secs(refusal: &IngressError, now_ms: i64) -> Option<i64> {
    let IngressError::StaleTimestamp { timestamp, .. } = refusal else { return None };
    let value: i64 = timestamp.trim().parse().ok()?;
    let secs = if value > 100_000_000_000 { value / 1000 } else { value };
    Some(secs.saturating_sub(now_ms.div_euclid(1000)))
}

/// Whether one more refusal record fits this second's budget for
/// `provider`, counted per process (one Lambda instance): a flood of forged
/// requests costs at most `per_sec` sends a second.
fn refusal_budget_allows(provider: &str, now_ms: i64, per_sec: u32) -> bool {
    static SPENT: std::sync::Mutex<Vec<(String, i64, u32)>> = std::sync::Mutex::new(Vec::new());
    if per_sec == 0 {
        return false;
    }
    let second = now_ms.div_euclid(1000);
    let Ok(mut spent) = SPENT.lock() else { return false };
    match spent.iter_mut().find(|(name, ..)| name == provider) {
        Some((_, at, used)) => {
            if *at != second {
                (*at, *used) = (second, 0);
            }
            let allowed = *used < per_sec;
            *used += u32::from(allowed);
            allowed
        }
        None => {
            spent.push((provider.to_string(), second, 1));
            true
        }
    }
}

enum Outcome {
    Answered(Reply),
    Enqueued { reply: Reply, events: usize, first_id: String, kind: String, enqueue_ms: f64 },
    QueueFailedFallback { reply: Reply, events: usize, first_id: String, reason: String, enqueue_ms: f64 },
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
    let (envelopes, ack, on_queue_failure, consult) = match verify_and_normalize(request)? {
        Decision::Answer(reply) => return Ok(Outcome::Answered(reply)),
        Decision::Enqueue { envelopes, ack, on_queue_failure, consult } => (envelopes, ack, on_queue_failure, consult),
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
        let reply = match consult {
            Some(consult) => consult.await,
            None => ack,
        };
        return Ok(Outcome::Enqueued { reply, events, first_id, kind, enqueue_ms: 0.0 });
    }
    // Pass 2: send, a batch at a time when the messages were not kept.
    let started = std::time::Instant::now();
    let publish = std::pin::pin!(async {
        let sent = if keep {
            publisher.publish(&kept).await
        } else {
            publish_rebuilding(envelopes.as_ref(), publisher, limit).await
        };
        (sent, started.elapsed().as_secs_f64() * 1e3)
    });
    let ((sent, enqueue_ms), reply) = match consult {
        None => (publish.await, ack),
        Some(consult) => match select(publish, consult).await {
            // A failed enqueue is answered without the consult's verdict,
            // so it is not waited for.
            Either::Left(((Err(error), enqueue_ms), _)) => ((Err(error), enqueue_ms), ack),
            Either::Left(((Ok(()), enqueue_ms), consult)) => ((Ok(()), enqueue_ms), consult.await),
            Either::Right((reply, publish)) => (publish.await, reply),
        },
    };
    match sent {
        Ok(()) => Ok(Outcome::Enqueued { reply, events, first_id, kind, enqueue_ms }),
        Err(PublishError::TooLarge { size, limit }) => Err(IngressError::EventTooLarge { size, limit }),
        Err(PublishError::Refused(reason)) => Err(IngressError::QueueRefused(reason)),
        Err(PublishError::Unavailable(reason)) => match on_queue_failure {
            Some(reply) => Ok(Outcome::QueueFailedFallback { reply, events, first_id, reason, enqueue_ms }),
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

/// Settings every ingress function shares.
#[derive(Clone, Debug)]
pub struct IngressSettings {
    /// Requests with larger bodies are refused with 413 before any crypto.
    pub max_body_bytes: usize,
    pub timestamp_window: TimestampWindow,
    /// Source networks allowed to call the route; empty allows all.
    pub allowed_cidrs: Vec<IpNet>,
    /// `INLET_REFUSAL_RECORDS_PER_SEC`: refusal records one function
    /// instance sends per provider and second (0: none). The processor keeps
    /// one per second and provider anyway, and a flood of forged requests
    /// must not become a flood of queue sends.
    pub refusal_records_per_sec: u32,
    /// `INLET_METRICS`, `INLET_METRICS_NAMESPACE`: one EMF line per request.
    pub metrics: Metrics,
}

impl IngressSettings {
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    pub const DEFAULT_REFUSAL_RECORDS_PER_SEC: u32 = 1;

    /// Reads the shared settings, with `<PROVIDER>_ALLOWED_CIDRS` for the
    /// allowlist of `provider_prefix` (e.g. `LARK`).
    pub fn from_env(env: &dyn EnvSource, provider_prefix: &str) -> Result<Self, ConfigError> {
        let max_body_bytes = number(env, "INLET_MAX_BODY_BYTES", Self::DEFAULT_MAX_BODY_BYTES)?;
        if max_body_bytes == 0 {
            return Err(ConfigError::new("INLET_MAX_BODY_BYTES", "must be greater than 0"));
        }
        Ok(IngressSettings {
            max_body_bytes,
            timestamp_window: TimestampWindow {
                tolerance_secs: number(env, "INLET_TIMESTAMP_TOLERANCE_SECS", TimestampWindow::DEFAULT_SECS)?,
            },
            allowed_cidrs: cidrs(env, &format!("{provider_prefix}_ALLOWED_CIDRS"))?,
            refusal_records_per_sec: number(
                env,
                "INLET_REFUSAL_RECORDS_PER_SEC",
                Self::DEFAULT_REFUSAL_RECORDS_PER_SEC,
            )?,
            metrics: Metrics::from_env(env)?,
        })
    }
}

/// Handler tests build settings this way: metrics off, so they print nothing.
impl Default for IngressSettings {
    fn default() -> Self {
        IngressSettings {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            timestamp_window: TimestampWindow::default(),
            allowed_cidrs: Vec::new(),
            refusal_records_per_sec: Self::DEFAULT_REFUSAL_RECORDS_PER_SEC,
            metrics: Metrics::off(),
        }
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
                consult: None,
            })
        })
        .await;
        assert_eq!(reply.body_json().unwrap(), json!({"continue": true}));
    }

    /// An event whose answer `consult` works out, with `on_queue_failure`.
    fn consulted(consult: PendingReply, on_queue_failure: Option<Reply>) -> Decision {
        Decision::Enqueue {
            envelopes: Box::new(vec![envelope()]),
            ack: Reply::ok_json(json!({"ack": true})),
            on_queue_failure,
            consult: Some(consult),
        }
    }

    #[tokio::test]
    async fn a_consults_answer_replaces_the_ack_once_the_event_is_enqueued() {
        let publisher = MemoryPublisher::new();
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let verdict = Reply::ok_json(json!({"verdict": "deny"}));
        let consult: PendingReply = Box::pin(std::future::ready(verdict.clone()));
        let reply = run_ingress("test", &raw_path, &IngressSettings::default(), &publisher, &request, |_| {
            Ok(consulted(consult, None))
        })
        .await;
        assert_eq!(reply, verdict);
        assert_eq!(publisher.sent().len(), 1, "the event is enqueued whatever the verdict");
    }

    #[tokio::test]
    async fn a_queue_failure_is_answered_as_without_a_consult_and_never_waits_for_it() {
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let fallback = Reply::ok_json(json!({"continue": true}));
        let verdict = || -> PendingReply { Box::pin(std::future::ready(Reply::ok_json(json!({"verdict": "allow"})))) };
        // A consult that never ends: the flow must not wait for it.
        let never = || -> PendingReply { Box::pin(std::future::pending()) };
        let settings = IngressSettings::default();
        for (consult, on_queue_failure, expected) in [
            (verdict(), Some(fallback.clone()), fallback.clone()),
            (verdict(), None, Reply::refusal(&IngressError::QueueUnavailable)),
            (never(), Some(fallback.clone()), fallback.clone()),
            (never(), None, Reply::refusal(&IngressError::QueueUnavailable)),
        ] {
            let down = MemoryPublisher::down();
            let flow = run_ingress("test", &raw_path, &settings, &down, &request, |_| {
                Ok(consulted(consult, on_queue_failure))
            });
            let reply = tokio::time::timeout(std::time::Duration::from_secs(10), flow).await.expect("answered");
            assert_eq!(reply, expected);
        }
    }

    fn with_payload(id: &str, payload: Value) -> Envelope {
        let mut envelope = envelope();
        envelope.id = format!("test:{id}");
        envelope.payload = payload.into();
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
        let logs = crate::telemetry::CapturedLogs::start();
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

    // ---- refusal records ----

    use crate::metrics::{CapturedMetrics, Metrics};
    use crate::operations::{RECORD_ATTRIBUTE, REFUSAL_RECORD};

    /// The refusal budget is per process and provider: each test its own name.
    fn refusal_records(publisher: &MemoryPublisher) -> Vec<RefusalRecord> {
        let records = publisher.records();
        assert!(records.iter().all(|m| m.attributes == [(RECORD_ATTRIBUTE, REFUSAL_RECORD.to_string())]));
        records.iter().map(|m| serde_json::from_str(&m.body).expect("a refusal record")).collect()
    }

    const BODY_MARKER: &str = "BODY-MARKER-3e1d";
    const SECRET_MARKER: &str = "SECRET-MARKER-b7a0";

    fn secret_bearing_request() -> IncomingRequest {
        let mut request =
            IncomingRequest::new(Method::POST, "/x", format!(r#"{{"text":"{BODY_MARKER}"}}"#).into_bytes());
        request.append_header(b"authorization", format!("Bearer {SECRET_MARKER}").as_bytes());
        request.source_ip = Some("192.0.2.7".parse().unwrap());
        request
    }

    #[tokio::test]
    async fn a_refusal_sends_one_record_with_the_requests_shape_only() {
        let publisher = MemoryPublisher::new();
        let request = secret_bearing_request();
        let refuse = |_: &IncomingRequest| Err(IngressError::BadCredential("Authorization"));
        let reply =
            run_ingress("record-once", &raw_path, &IngressSettings::default(), &publisher, &request, refuse).await;
        assert_eq!(reply, Reply::refusal(&IngressError::BadCredential("Authorization")), "the answer is unchanged");
        let records = refusal_records(&publisher);
        assert_eq!(records.len(), 1, "{records:?}");
        let record = &records[0];
        assert_eq!((record.provider.as_str(), record.route.as_str(), record.status), ("record-once", "/x", 401));
        assert_eq!(
            (record.class.as_str(), record.reason.as_str()),
            ("bad_credential", "Authorization does not match any configured secret")
        );
        assert_eq!(
            (record.body_len, record.body_sha256.clone()),
            (request.body.len(), crate::verify::sha256_hex(&request.body))
        );
        assert_eq!(record.source_ip.as_deref(), Some("192.0.2.7"));
        assert!((now_ms() - record.at_ms).abs() < 60_000);
        assert_eq!(record.skew_secs, None);
        let sent = format!("{:?}", publisher.records());
        assert!(!sent.contains(BODY_MARKER) && !sent.contains(SECRET_MARKER), "{sent}");
        assert!(publisher.sent_messages().is_empty(), "a record is no event");

        // A second refusal in the same second is answered the same, unrecorded.
        let reply =
            run_ingress("record-once", &raw_path, &IngressSettings::default(), &publisher, &request, refuse).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        let recorded = refusal_records(&publisher).len();
        let second = record.at_ms.div_euclid(1000) == now_ms().div_euclid(1000);
        assert!(if second { recorded == 1 } else { recorded <= 2 }, "{recorded} records");
    }

    #[test]
    fn the_refusal_budget_is_per_provider_and_second() {
        let at = 1_700_000_000_000;
        assert!(refusal_budget_allows("budget-a", at, 2));
        assert!(refusal_budget_allows("budget-a", at + 10, 2));
        assert!(!refusal_budget_allows("budget-a", at + 999, 2), "the third in one second");
        assert!(refusal_budget_allows("budget-b", at + 999, 2), "another provider has its own");
        assert!(refusal_budget_allows("budget-a", at + 1000, 2), "a new second");
        assert!(!refusal_budget_allows("budget-c", at, 0), "0 disables records");
    }

    #[tokio::test]
    async fn no_record_for_a_queue_failure_an_accepted_event_or_a_disabled_budget() {
        let down = MemoryPublisher::down();
        let request = secret_bearing_request();
        let reply = run_ingress("record-503", &raw_path, &IngressSettings::default(), &down, &request, accept).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        down.set_down(false);
        assert!(refusal_records(&down).is_empty(), "the queue is what failed");

        let publisher = MemoryPublisher::new();
        let reply =
            run_ingress("record-none", &raw_path, &IngressSettings::default(), &publisher, &request, accept).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(refusal_records(&publisher).is_empty());
        assert_eq!(publisher.sent_messages().len(), 1, "the event alone");

        let off = IngressSettings { refusal_records_per_sec: 0, ..Default::default() };
        let reply = run_ingress("record-off", &raw_path, &off, &publisher, &request, |_| {
            Err(IngressError::malformed("not JSON"))
        })
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(refusal_records(&publisher).is_empty());
    }

    #[tokio::test]
    async fn a_record_that_cannot_be_sent_leaves_the_refusal_as_it_was() {
        let publisher = MemoryPublisher::down();
        let request = secret_bearing_request();
        let reply = run_ingress("record-down", &raw_path, &IngressSettings::default(), &publisher, &request, |_| {
            Err(IngressError::unauthenticated("wrong token"))
        })
        .await;
        assert_eq!(reply, Reply::refusal(&IngressError::unauthenticated("other")), "no oracle");
    }

    #[test]
    fn timestamp_skew_is_in_seconds_whether_the_timestamp_was_seconds_or_milliseconds() {
        let now = 1_700_000_000_000;
        let stale = |timestamp: &str| IngressError::StaleTimestamp { timestamp: timestamp.into(), tolerance_secs: 300 };
        assert_eq!(timestamp_skew_secs(&stale("1699999000"), now), Some(-1000));
        assert_eq!(timestamp_skew_secs(&stale("1700000600000"), now), Some(600), "DingTalk's milliseconds");
        assert_eq!(timestamp_skew_secs(&stale("yesterday"), now), None);
        assert_eq!(timestamp_skew_secs(&IngressError::malformed("x"), now), None);
    }

    #[test]
    fn arrival_is_api_gateways_time_when_plausible() {
        let started = 1_700_000_010_000;
        assert_eq!(arrival_ms(Some(started - 2500), started), started - 2500, "a cold start included");
        assert_eq!(arrival_ms(None, started), started);
        assert_eq!(arrival_ms(Some(1_600_000_000_000), started), started, "a replayed sample event");
        assert_eq!(arrival_ms(Some(started + 5), started), started, "clock skew");
    }

    // ---- metrics ----

    fn measured() -> (IngressSettings, std::sync::Arc<CapturedMetrics>) {
        let captured = CapturedMetrics::new();
        (IngressSettings { metrics: Metrics::to(captured.clone()), ..Default::default() }, captured)
    }

    #[tokio::test]
    async fn every_outcome_writes_exactly_one_metric_line() {
        let request = IncomingRequest::new(Method::POST, "/x", "{}");
        let fallback = |_: &IncomingRequest| {
            Ok(Decision::Enqueue {
                envelopes: Box::new(vec![envelope()]),
                ack: Reply::ok_json(json!({})),
                on_queue_failure: Some(Reply::ok_json(json!({"continue": true}))),
                consult: None,
            })
        };
        type Decide = fn(&IncomingRequest) -> Result<Decision, IngressError>;
        let answer: Decide = |_| Ok(Decision::Answer(Reply::ok_json(json!({"challenge": "c"}))));
        let refuse: Decide = |_| Err(IngressError::BadCredential("token"));
        /// Accepted, Refused, QueueFailures.
        type Counts = (u64, u64, u64);
        let cases: [(bool, Decide, u16, Counts); 5] = [
            (true, accept, 200, (1, 0, 0)),
            (true, answer, 200, (1, 0, 0)),
            (true, refuse, 401, (0, 1, 0)),
            (false, accept, 503, (0, 1, 1)),
            (false, fallback, 200, (0, 0, 1)),
        ];
        for (up, decide, status, (accepted, refused, queue_failures)) in cases {
            let (settings, captured) = measured();
            let publisher = if up { MemoryPublisher::new() } else { MemoryPublisher::down() };
            let reply = run_ingress("metered", &raw_path, &settings, &publisher, &request, decide).await;
            assert_eq!(reply.status.as_u16(), status);
            let documents = captured.documents();
            assert_eq!((captured.lines().len(), documents.len()), (1, 1), "one line per request: {documents:?}");
            let line = &documents[0];
            assert_eq!((line["Provider"].as_str(), line["Route"].as_str()), (Some("metered"), Some("/x")));
            assert_eq!(line["Status"], status);
            let counts = (line["Accepted"].as_u64(), line["Refused"].as_u64(), line["QueueFailures"].as_u64());
            assert_eq!(counts, (Some(accepted), Some(refused), Some(queue_failures)), "{line}");
            assert_eq!(line["DeadlineMs"], DEFAULT_DEADLINE_MS);
            assert!(line["AckLatency"].as_f64().is_some_and(|ms| ms >= 0.0));
            assert_eq!(line.get("Class").is_some(), refused == 1, "{line}");
        }
    }

    #[tokio::test]
    async fn the_latency_counts_from_api_gateways_arrival_and_the_challenge_deadline_applies() {
        struct Challenge;
        impl RouteFacts for Challenge {
            fn logged_path(&self, _: Option<&IngressError>) -> String {
                "/lark/event".into()
            }
            fn deadline_ms(&self, answered: bool) -> u32 {
                if answered { 1000 } else { 3000 }
            }
            fn is_known_path(&self) -> bool {
                true
            }
        }
        let (settings, captured) = measured();
        let mut request = IncomingRequest::new(Method::POST, "/lark/event", "{}");
        request.received_at_ms = Some(now_ms() - 400);
        run_ingress("lark", &Challenge, &settings, &MemoryPublisher::new(), &request, |_| {
            Ok(Decision::Answer(Reply::ok_json(json!({"challenge": "c"}))))
        })
        .await;
        run_ingress("lark", &Challenge, &settings, &MemoryPublisher::new(), &request, accept).await;
        let lines = captured.documents();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0]["DeadlineMs"].as_u64(), lines[1]["DeadlineMs"].as_u64()), (Some(1000), Some(3000)));
        let latency = lines[0]["AckLatency"].as_f64().unwrap();
        assert!((400.0..10_000.0).contains(&latency), "{latency}");
        assert!(lines[0]["AckDeadlineUsed"].as_f64().unwrap() >= 40.0);
        assert!(lines[0].get("EnqueueLatency").is_none() && lines[1]["EnqueueLatency"].is_number());
    }

    #[tokio::test]
    async fn unmatched_paths_share_one_route_name_and_never_show_a_secret() {
        let (settings, captured) = measured();
        let request = IncomingRequest::new(Method::POST, "/openim/s3cret/x/y", "{}");
        let logged = |_: Option<&IngressError>| "/openim/***/***/***".to_string();
        run_ingress("openim", &logged, &settings, &MemoryPublisher::new(), &request, |r| {
            Err(IngressError::NotFound(r.path.clone()))
        })
        .await;
        let line = &captured.lines()[0];
        assert!(line.contains(&format!(r#""Route":"{UNMATCHED_ROUTE}""#)) && !line.contains("s3cret"), "{line}");
        assert!(line.contains(r#""Class":"not_found""#), "{line}");
    }

    use crate::config::test_env as env;

    #[test]
    fn ingress_defaults_apply_when_unset() {
        let settings = IngressSettings::from_env(&env(&[]), "LARK").unwrap();
        assert_eq!(settings.max_body_bytes, 1024 * 1024);
        assert_eq!(settings.timestamp_window.tolerance_secs, 300);
        assert!(settings.allowed_cidrs.is_empty());
    }

    #[test]
    fn refusal_records_default_to_one_a_second_and_zero_turns_them_off() {
        let settings = IngressSettings::from_env(&env(&[]), "LARK").unwrap();
        assert_eq!(settings.refusal_records_per_sec, 1);
        assert!(settings.metrics.enabled(), "metrics are on unless INLET_METRICS=off");
        let off = IngressSettings::from_env(
            &env(&[("INLET_REFUSAL_RECORDS_PER_SEC", "0"), ("INLET_METRICS", "off")]),
            "LARK",
        );
        let off = off.unwrap();
        assert_eq!(off.refusal_records_per_sec, 0);
        assert!(!off.metrics.enabled());
        let error = IngressSettings::from_env(&env(&[("INLET_REFUSAL_RECORDS_PER_SEC", "-1")]), "LARK").unwrap_err();
        assert_eq!(error.name, "INLET_REFUSAL_RECORDS_PER_SEC");
    }

    #[test]
    fn bad_numbers_and_cidrs_name_the_setting() {
        let error = IngressSettings::from_env(&env(&[("INLET_MAX_BODY_BYTES", "lots")]), "LARK").unwrap_err();
        assert_eq!(error.name, "INLET_MAX_BODY_BYTES");
        let error = IngressSettings::from_env(&env(&[("LARK_ALLOWED_CIDRS", "10.0.0.0/8,nope")]), "LARK").unwrap_err();
        assert_eq!(error.name, "LARK_ALLOWED_CIDRS");
        assert!(IngressSettings::from_env(&env(&[("INLET_MAX_BODY_BYTES", "0")]), "LARK").is_err());
    }
}
