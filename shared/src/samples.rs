//! Signed sample requests, built from the same code the receivers verify
//! against. The CLI's `send`, the committed `events/` files, handler tests
//! and benches all come from here, so they cannot drift apart.

use serde_json::{Value, json};

use crate::config::EnvSource;
use crate::error::ConfigError;
use crate::ingress::IncomingRequest;
use crate::provider::{Provider, Route};
use crate::runtime::DynFunction;

/// A provider's signed sample requests, built from the same settings its
/// function reads.
pub trait Samples: Provider {
    /// Every sample, by name; `events/<name>.json` is generated from each.
    const SAMPLE_NAMES: &'static [&'static str];
    /// The settings the samples sign with. Changing them forges a request:
    /// the conformance kit checks that the function refuses it. Usually the
    /// secrets themselves; Discord signs with a private seed the function
    /// never reads.
    const SIGNING_SETTINGS: &'static [&'static str] = Self::SECRET_SETTINGS;

    /// The sample `name` signed with `env`'s secrets at `timestamp`; the
    /// same `unique` gives the same event ids. `None` for an unknown name or
    /// settings that cannot sign it.
    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest>;
}

/// Builds a provider's named sample: `(name, settings, timestamp, unique)`.
pub type SampleFn = fn(&str, &dyn EnvSource, i64, &str) -> Option<SampleRequest>;
/// Builds a provider's function from settings.
pub type OpenFn = fn(&dyn EnvSource) -> Result<Box<dyn DynFunction>, ConfigError>;

/// One provider as the tools see it: its contract as data, its samples, and
/// a way to build its function, so one list can hold every provider.
pub struct Descriptor {
    /// `Envelope.provider`, the crate and binary name.
    pub name: &'static str,
    pub settings_prefix: &'static str,
    pub routes: &'static [Route],
    pub secret_settings: &'static [&'static str],
    pub signing_settings: &'static [&'static str],
    pub sample_names: &'static [&'static str],
    pub sample: SampleFn,
    pub open: OpenFn,
}

/// `P`'s [`Descriptor`].
pub const fn describe<P: Samples>() -> Descriptor {
    Descriptor {
        name: P::NAME,
        settings_prefix: P::SETTINGS_PREFIX,
        routes: P::ROUTES,
        secret_settings: P::SECRET_SETTINGS,
        signing_settings: P::SIGNING_SETTINGS,
        sample_names: P::SAMPLE_NAMES,
        sample: P::sample,
        open: open::<P>,
    }
}

fn open<P: Provider>(env: &dyn EnvSource) -> Result<Box<dyn DynFunction>, ConfigError> {
    Ok(Box::new(P::from_env(env)?))
}

/// An HTTP request ready to send to a local stack or wrap as a Lambda event.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRequest {
    pub name: String,
    pub description: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
    /// Values API Gateway extracts from the route template (`{bot}`, `{command}`).
    pub path_params: Vec<(String, String)>,
}

impl SampleRequest {
    pub fn post_json(name: &str, description: &str, path: &str, body: impl Into<Vec<u8>>) -> Self {
        SampleRequest {
            name: name.to_string(),
            description: description.to_string(),
            method: "POST".into(),
            path: path.to_string(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            source_ip: "127.0.0.1".into(),
            path_params: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn with_path_param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.path_params.push((name.to_string(), value.into()));
        self
    }

    /// The request as an API Gateway HTTP API (payload 2.0) event, valid for
    /// `sam local invoke -e` and `cargo lambda invoke --data-file`.
    pub fn to_apigw_v2_event(&self, time_epoch_ms: i64) -> Value {
        let headers: serde_json::Map<String, Value> =
            self.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let query_map: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (crate::form::percent_decode(k, false), Value::String(crate::form::percent_decode(v, false))))
            .collect();
        let path_params: serde_json::Map<String, Value> =
            self.path_params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let mut event = json!({
            "version": "2.0",
            "routeKey": format!("{} {}", self.method, path),
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "inletlocal",
                "domainName": "localhost",
                "domainPrefix": "localhost",
                "http": {
                    "method": self.method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": "inlet-sample"
                },
                "requestId": format!("sample-{}", self.name),
                "routeKey": format!("{} {}", self.method, path),
                "stage": "$default",
                "time": "14/Nov/2023:22:13:20 +0000",
                "timeEpoch": time_epoch_ms
            },
            "body": String::from_utf8_lossy(&self.body),
            "isBase64Encoded": false
        });
        if !query_map.is_empty() {
            event["queryStringParameters"] = Value::Object(query_map);
        }
        if !path_params.is_empty() {
            event["pathParameters"] = Value::Object(path_params);
        }
        event
    }

    /// The request as the handlers see it, for tests and benches.
    pub fn to_incoming(&self) -> IncomingRequest {
        let method = self.method.parse().unwrap_or(http::Method::POST);
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let mut request = IncomingRequest::new(method, path, self.body.clone());
        for (name, value) in &self.headers {
            request.append_header(name.as_bytes(), value.as_bytes());
        }
        request.set_raw_query(query);
        request.path_params = self.path_params.iter().cloned().collect();
        request.source_ip = self.source_ip.parse().ok();
        request
    }
}

/// Reads an API Gateway v2 event file back into the framework-free request,
/// so handler tests run on exactly the files in `events/`.
pub fn incoming_from_apigw_v2_event(event: &Value) -> Option<IncomingRequest> {
    let method = event.pointer("/requestContext/http/method")?.as_str()?.parse().ok()?;
    let path = event.get("rawPath")?.as_str()?;
    let body = event.get("body").and_then(Value::as_str).unwrap_or_default();
    let mut request = IncomingRequest::new(method, path, body.as_bytes().to_vec());
    for (name, value) in event.get("headers")?.as_object()? {
        if let Some(value) = value.as_str() {
            request.append_header(name.as_bytes(), value.as_bytes());
        }
    }
    if let Some(params) = event.get("pathParameters").and_then(Value::as_object) {
        request.path_params = params.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect();
    }
    if let Some(query) = event.get("queryStringParameters").and_then(Value::as_object) {
        request.query = query.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect();
    }
    request.received_at_ms = event.pointer("/requestContext/timeEpoch").and_then(Value::as_i64);
    request.source_ip = event.pointer("/requestContext/http/sourceIp")?.as_str()?.parse().ok();
    Some(request)
}

/// Test support: the repository's `events/` folder.
pub fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// Test support: the dev settings of `events/env.json`, without overrides,
/// and with `INLET_METRICS=off`: handler tests check protocol, the metric
/// lines are the shared flow's (tested in `metrics` and `ingress`) and would
/// only fill the test output.
pub fn dev_settings() -> std::collections::HashMap<String, String> {
    let mut settings =
        crate::config::load_env_file(&events_dir().join("env.json")).unwrap_or_else(|e| panic!("events/env.json: {e}"));
    settings.entry("INLET_METRICS".into()).or_insert_with(|| "off".into());
    settings
}

/// Test support: `events/<name>.json` as the handlers see it.
pub fn event_request(name: &str) -> IncomingRequest {
    let path = events_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run `make events`)", path.display()));
    let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    incoming_from_apigw_v2_event(&event).unwrap_or_else(|| panic!("{} is not an API Gateway v2 event", path.display()))
}

/// Test support: `events/env.json`'s settings with some replaced.
pub fn dev_settings_with(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    let mut settings = dev_settings();
    for (name, value) in pairs {
        settings.insert(name.to_string(), value.to_string());
    }
    settings
}

/// Test support: `P` built from `env` handles `request` at `now` (Unix
/// seconds) with an in-memory queue; returns the answer and the queue.
pub async fn handle_with<P: Provider>(
    env: &dyn EnvSource,
    request: &IncomingRequest,
    now: i64,
) -> (crate::ingress::Reply, crate::queue::MemoryPublisher) {
    use crate::runtime::HttpFunction;
    let function = P::from_env(env).unwrap_or_else(|e| panic!("{}: settings refused: {e}", P::NAME));
    let publisher = crate::queue::MemoryPublisher::new();
    let now = time::OffsetDateTime::from_unix_timestamp(now).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let reply = function.handle(&publisher, request, now).await;
    (reply, publisher)
}

/// Test support: asserts that `reply` refused with `status`, that its
/// reason mentions `reason_part`, and that nothing reached the queue.
pub fn assert_refused(
    reply: &crate::ingress::Reply,
    publisher: &crate::queue::MemoryPublisher,
    status: http::StatusCode,
    reason_part: &str,
) {
    assert_eq!(reply.status, status, "body: {}", String::from_utf8_lossy(&reply.body));
    let reason = reply.body_json().and_then(|b| b["error"].as_str().map(str::to_string)).unwrap_or_default();
    assert!(reason.contains(reason_part), "reason {reason:?} should mention {reason_part:?}");
    assert!(publisher.sent().is_empty(), "nothing may be enqueued");
}

/// Test support: asserts a 401 with the one body every 401 answers, and
/// that nothing reached the queue.
pub fn assert_unauthenticated(reply: &crate::ingress::Reply, publisher: &crate::queue::MemoryPublisher) {
    let reason = reply.body_json().and_then(|b| b["error"].as_str().map(str::to_string)).unwrap_or_default();
    assert_eq!(
        (reply.status, reason.as_str()),
        (http::StatusCode::UNAUTHORIZED, crate::IngressError::UNAUTHENTICATED_BODY)
    );
    assert!(publisher.sent().is_empty(), "nothing may be enqueued");
}

/// Test support: every log line written on this thread while the guard
/// lives, as text, so tests can prove what logs never contain.
///
/// One global subscriber, installed once, writes each line to the buffer of
/// the thread that logged it. (A per-test `set_default` subscriber looked
/// simpler but lost lines under load: tracing caches each call site's
/// interest process-wide, and a call site first reached on a thread with no
/// subscriber could be cached as "never".)
pub struct CapturedLogs {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<std::sync::Arc<std::sync::Mutex<Vec<u8>>>>> =
        const { std::cell::RefCell::new(None) };
}

impl CapturedLogs {
    pub fn start() -> Self {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(|| ThreadBuffer)
                .finish();
            // A test binary that installed its own global subscriber keeps it.
            let _ = tracing::subscriber::set_global_default(subscriber);
        });
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(buffer.clone()));
        CapturedLogs { buffer }
    }

    pub fn text(&self) -> String {
        self.buffer.lock().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }
}

impl Drop for CapturedLogs {
    fn drop(&mut self) {
        CAPTURE.with(|capture| *capture.borrow_mut() = None);
    }
}

/// Writes to the calling thread's capture buffer, if it has one.
struct ThreadBuffer;

impl std::io::Write for ThreadBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(buffer) = capture.borrow().as_ref()
                && let Ok(mut buffer) = buffer.lock()
            {
                buffer.extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apigw_event_round_trips_to_the_same_request() {
        let sample = SampleRequest::post_json("s", "d", "/x/y?key=1", r#"{"a":1}"#).with_header("X-Thing", "v");
        let request = incoming_from_apigw_v2_event(&sample.to_apigw_v2_event(0)).unwrap();
        assert_eq!(request.path, "/x/y");
        assert_eq!(request.body, br#"{"a":1}"#);
        assert_eq!(request.header("x-thing"), Some("v"));
        assert_eq!(request.source_ip, Some("127.0.0.1".parse().unwrap()));
        let direct = sample.to_incoming();
        assert_eq!(direct.query.get("key").map(String::as_str), Some("1"));
    }
}
