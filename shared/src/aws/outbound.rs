//! One outbound HTTP call to somebody else's API: a team's endpoint (the
//! HTTP destination), a platform's reply API (`crate::reply`), a decision
//! hook. The request goes out on a shared connector (connections pooled),
//! within one time limit, and at most a bounded part of the answer is read,
//! so no answer can hold a function or fill its memory.
//!
//! Errors say what happened without the URL: a platform's URL may carry a
//! token (Telegram's `/bot<token>/`, WeCom's `access_token=`, Slack's
//! `response_url`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::HttpConnector;
/// The connector type, for the crates that keep one without depending on
/// the SDK's runtime crates themselves.
pub use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::aws::tls::TlsRoots;
use crate::verify::standard_webhooks::SigningKeys;

/// The connector to build once (in `main`) and share: the system's roots,
/// since teams' endpoints and the platforms' APIs carry certificates from
/// any public authority, not the Amazon roots the AWS clients use.
pub fn connector(roots: &TlsRoots) -> SharedHttpConnector {
    let connector: Connector = roots.connector();
    SharedHttpConnector::new(connector)
}

/// What came back: the status, the headers, and the first bytes of the body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// `Retry-After`, when the answer carries a readable one.
    pub fn retry_after(&self, now: SystemTime) -> Option<Duration> {
        self.headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| parse_retry_after(v, now))
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Why no answer came back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The request never got an answer (refused, reset, TLS): the cause
    /// chain, which names no URL.
    #[error("not sent: {0}")]
    NotSent(String),
    #[error("cannot build the request: {0}")]
    Build(String),
}

/// Sends `request` on `connector` and reads up to `max_body` bytes of the
/// answer, all within `timeout`. The rest of a longer body is left unread.
pub async fn call(
    connector: &SharedHttpConnector,
    request: http::Request<SdkBody>,
    timeout: Duration,
    max_body: usize,
) -> Result<Answer, CallError> {
    let request = HttpRequest::try_from(request).map_err(|error| CallError::Build(error.to_string()))?;
    let started = tokio::time::Instant::now();
    let response = match tokio::time::timeout(timeout, connector.call(request)).await {
        Err(_) => return Err(CallError::Timeout(timeout)),
        Ok(Err(error)) => return Err(CallError::NotSent(crate::aws::json_api::with_causes(&error))),
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    let mut headers = http::HeaderMap::new();
    for (name, value) in response.headers() {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value))
        {
            headers.append(name, value);
        }
    }
    // Read within what is left of the time limit, so the connection can go
    // back to the pool; a body that does not finish in time is cut short.
    let left = timeout.saturating_sub(started.elapsed());
    let body = tokio::time::timeout(left, read_at_most(response.into_body(), max_body)).await.unwrap_or_default();
    Ok(Answer { status, headers, body })
}

/// A JSON request with inlet's user agent and the given extra headers.
pub fn json_request(
    method: http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> Result<http::Request<SdkBody>, CallError> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(url)
        .header(http::header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(http::header::USER_AGENT, USER_AGENT);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = serde_json::to_vec(body).map_err(|error| CallError::Build(error.to_string()))?;
    // The URL may hold a token: the error names neither it nor the headers.
    builder.body(SdkBody::from(body)).map_err(|_| CallError::Build("the URL or a header is not valid HTTP".into()))
}

/// A Standard Webhooks request: `body`, a JSON document, POSTed to `url`
/// with `webhook-id` = `id`, `webhook-timestamp` = `at` in Unix seconds and
/// the `webhook-signature` of `keys`. What the HTTP destination sends for
/// an event and OpenIM's decision hook asks with. The error names neither
/// the URL nor the signature.
pub fn standard_webhook(
    url: &str,
    keys: &SigningKeys,
    id: &str,
    at: SystemTime,
    body: &[u8],
) -> Result<http::Request<SdkBody>, CallError> {
    let timestamp = at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let timestamp = i64::try_from(timestamp).unwrap_or(i64::MAX);
    http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, USER_AGENT)
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", keys.signature_header(id, timestamp, body))
        .body(SdkBody::from(body.to_vec()))
        .map_err(|_| CallError::Build("the URL or the webhook-id is not valid HTTP".into()))
}

/// What inlet calls itself on every outbound request.
pub const USER_AGENT: &str = concat!("inlet/", env!("CARGO_PKG_VERSION"));

/// `Retry-After` (RFC 9110 §10.2.3): a number of seconds, or an HTTP date
/// (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) turned into the time left
/// until then (zero when it has passed). None when unreadable.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than u64 holds is "a very long time".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    let now = OffsetDateTime::from(now);
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

/// Reads a body up to `limit` bytes; the rest is left unread.
pub async fn read_at_most(body: SdkBody, limit: usize) -> Vec<u8> {
    let mut stream = ByteStream::new(body);
    let mut read = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = limit - read.len();
        read.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if read.len() >= limit {
            break;
        }
    }
    read
}
